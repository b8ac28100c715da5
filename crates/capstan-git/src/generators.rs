//! What the ApplicationSet Git generators ask of a checkout: files by glob (`GetGitFiles`)
//! and all directories (`GetGitDirectories`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use globset::GlobBuilder;

use crate::error::GitError;

/// How `*` treats `/` in [`files_matching_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GlobStyle {
    /// `*` and `?` stay within one path segment, `**` spans segments: Argo CD with
    /// `applicationsetcontroller.enable.new.git.file.globbing: "true"`.
    #[default]
    Doublestar,
    /// `*` also matches `/`, like a `git ls-files` pathspec: Argo CD's default
    /// (`apps/*/config.json` also matches `apps/a/b/config.json`).
    GitPathspec,
}

/// The files of the checkout at `root` whose path (relative, `/`-separated) matches
/// `pattern`, with their contents (like Argo CD's `GetGitFiles`). `*` stays within one
/// directory, `**` spans directories. `.git` is never looked at (other dot-directories are), symlinks to files are read through (checkouts only hold
/// symlinks that stay inside), symlinked directories are not descended. A pattern with a `..`
/// component or an absolute one is refused.
pub fn files_matching(root: &Path, pattern: &str) -> Result<BTreeMap<String, Vec<u8>>, GitError> {
    files_matching_with(root, pattern, GlobStyle::Doublestar)
}

/// [`files_matching`] with a choice of how `*` treats `/`.
pub fn files_matching_with(
    root: &Path,
    pattern: &str,
    style: GlobStyle,
) -> Result<BTreeMap<String, Vec<u8>>, GitError> {
    let invalid = |message: &str| GitError::InvalidPattern {
        pattern: pattern.to_string(),
        message: message.to_string(),
    };
    let trimmed = pattern.trim();
    if trimmed.is_empty() {
        return Err(invalid("the pattern is empty"));
    }
    if trimmed.starts_with('/') {
        return Err(invalid(
            "the pattern must be relative to the repository root",
        ));
    }
    let relative = trimmed.trim_start_matches("./");
    if relative.split('/').any(|part| part == "..") {
        return Err(invalid("the pattern must not leave the repository ('..')"));
    }
    let matcher = GlobBuilder::new(relative)
        .literal_separator(style == GlobStyle::Doublestar)
        .backslash_escape(true)
        .build()
        .map_err(|e| invalid(&e.kind().to_string()))?
        .compile_matcher();
    let mut out = BTreeMap::new();
    walk(root, "", false, &mut |rel, path, kind| {
        if kind == Kind::File && matcher.is_match(rel) {
            let contents = fs::read(path).map_err(|e| GitError::io("reading", path, e))?;
            out.insert(rel.to_string(), contents);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Every directory of the checkout at `root` as a relative path, sorted, without the root
/// itself. As in Argo CD's `GetGitDirectories`, directories whose name starts with `.`
/// (`.git`, `.github`, ...) are skipped with everything below them, and symlinks to
/// directories are not followed.
pub fn directories(root: &Path) -> Result<Vec<String>, GitError> {
    let mut out = vec![];
    walk(root, "", true, &mut |rel, _, kind| {
        if kind == Kind::Dir {
            out.push(rel.to_string());
        }
        Ok(())
    })?;
    out.sort();
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// Visits files (regular, or symlinks to regular files) and directories below `dir`,
/// skipping `.git` and, with `skip_hidden`, every dot-directory; `rel` is the `/`-separated
/// path from the root.
fn walk(
    dir: &Path,
    prefix: &str,
    skip_hidden: bool,
    visit: &mut dyn FnMut(&str, &Path, Kind) -> Result<(), GitError>,
) -> Result<(), GitError> {
    let entries = fs::read_dir(dir).map_err(|e| GitError::io("listing", dir, e))?;
    let mut entries: Vec<_> = entries
        .collect::<Result<_, _>>()
        .map_err(|e| GitError::io("listing", dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = entry
            .file_type()
            .map_err(|e| GitError::io("inspecting", &path, e))?;
        if file_type.is_dir() {
            if name == ".git" || (skip_hidden && name.starts_with('.')) {
                continue;
            }
            visit(&rel, &path, Kind::Dir)?;
            walk(&path, &rel, skip_hidden, visit)?;
        } else if file_type.is_file() {
            visit(&rel, &path, Kind::File)?;
        } else if file_type.is_symlink() {
            // Only symlinks to files count; dangling ones and ones to directories do not.
            if fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                visit(&rel, &path, Kind::File)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "apps/a/config.json",
            "apps/b/config.json",
            "apps/b/deep/config.json",
            "apps/readme.md",
            "cluster-config/engineering/dev/config.json",
            "top.json",
            ".git/config",
            ".github/workflows/ci.json",
            "dir with space/x.json",
        ];
        for f in files {
            let p = dir.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, format!("content of {f}")).unwrap();
        }
        fs::create_dir_all(dir.path().join("empty")).unwrap();
        std::os::unix::fs::symlink("a/config.json", dir.path().join("apps/link.json")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("apps/linkdir")).unwrap();
        dir
    }

    #[test]
    fn glob_table() {
        let dir = tree();
        let cases: &[(&str, GlobStyle, &[&str])] = &[
            (
                "apps/*/config.json",
                GlobStyle::Doublestar,
                &["apps/a/config.json", "apps/b/config.json"],
            ),
            (
                "apps/**/config.json",
                GlobStyle::Doublestar,
                &[
                    "apps/a/config.json",
                    "apps/b/config.json",
                    "apps/b/deep/config.json",
                ],
            ),
            (
                "apps/*/config.json",
                GlobStyle::GitPathspec,
                &[
                    "apps/a/config.json",
                    "apps/b/config.json",
                    "apps/b/deep/config.json",
                ],
            ),
            (
                "**/config.json",
                GlobStyle::Doublestar,
                &[
                    "apps/a/config.json",
                    "apps/b/config.json",
                    "apps/b/deep/config.json",
                    "cluster-config/engineering/dev/config.json",
                ],
            ),
            ("*.json", GlobStyle::Doublestar, &["top.json"]),
            ("./top.json", GlobStyle::Doublestar, &["top.json"]),
            ("apps/*.json", GlobStyle::Doublestar, &["apps/link.json"]),
            (
                "**/ci.json",
                GlobStyle::Doublestar,
                &[".github/workflows/ci.json"],
            ),
            ("**/config", GlobStyle::Doublestar, &[]),
            (
                "dir with space/*.json",
                GlobStyle::Doublestar,
                &["dir with space/x.json"],
            ),
            ("nothing/*", GlobStyle::Doublestar, &[]),
        ];
        for (pattern, style, want) in cases {
            let got = files_matching_with(dir.path(), pattern, *style).unwrap();
            let keys: Vec<&str> = got.keys().map(String::as_str).collect();
            assert_eq!(keys, *want, "{pattern} ({style:?})");
        }
        let got = files_matching(dir.path(), "apps/link.json").unwrap();
        assert_eq!(got["apps/link.json"], b"content of apps/a/config.json");
    }

    #[test]
    fn escaping_patterns_are_refused() {
        let dir = tree();
        for bad in [
            "../x",
            "apps/../../x",
            "/etc/passwd",
            "",
            "apps/[",
            "**/../x",
        ] {
            assert!(
                matches!(
                    files_matching(dir.path(), bad),
                    Err(GitError::InvalidPattern { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn directory_listing() {
        let dir = tree();
        assert_eq!(
            directories(dir.path()).unwrap(),
            [
                "apps",
                "apps/a",
                "apps/b",
                "apps/b/deep",
                "cluster-config",
                "cluster-config/engineering",
                "cluster-config/engineering/dev",
                "dir with space",
                "empty",
            ]
        );
    }
}
