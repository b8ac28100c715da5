//! Every path the renderer reads goes through here: lexical `..` checks, symlink resolution that
//! never leaves the repository, and Argo CD's out-of-bounds symlink scan.
//!
//! These are the checks behind Argo CD's path-traversal CVEs (app paths with `..`, value files
//! outside the repository, symlinks to `/etc/passwd` read by a directory app or a chart). The
//! rules follow Argo CD's `util/io/path`: an absolute source path is refused, `..` is resolved
//! lexically first (like Go's `filepath.Join`), then every symlink on the way must stay inside the
//! repository, and absolute symlinks are refused outright.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::RenderError;

/// Why a path could not be resolved inside the repository (mapped to [`RenderError`] variants by
/// each caller, so that a value file outside the repository reads differently from an app path
/// outside it).
#[derive(Debug)]
pub(crate) enum Resolve {
    /// A symlink on the way points outside (or is absolute); the repository-relative symlink.
    Symlink(String),
    /// Nothing there.
    NotFound,
    /// Some other IO error.
    Io(PathBuf, io::Error),
}

/// The repository root, canonicalised (all checks compare canonical paths).
pub(crate) fn canonical_root(repo_root: &Path) -> Result<PathBuf, RenderError> {
    repo_root
        .canonicalize()
        .map_err(|e| RenderError::io(repo_root.display().to_string(), e))
}

/// `path` relative to `root` with `/` separators, `.` for the root itself.
pub(crate) fn rel_display(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => path.display().to_string(),
    }
}

/// Lexically normalises a relative path: drops `.`, applies `..`. `None` when `..` climbs above
/// the start. Absolute paths are the caller's business (their root component is dropped).
pub(crate) fn normalize(path: &Path) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c.to_os_string()),
            Component::ParentDir => {
                out.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn join_components(parts: &[OsString]) -> PathBuf {
    parts.iter().collect()
}

/// Resolves already-normalised `parts` below the canonical `root`, following symlinks one
/// component at a time; every symlink must be relative and stay inside `root`.
pub(crate) fn resolve_components(root: &Path, parts: &[OsString]) -> Result<PathBuf, Resolve> {
    let mut current = root.to_path_buf();
    for (index, part) in parts.iter().enumerate() {
        let shown = || {
            join_components(&parts[..=index])
                .to_string_lossy()
                .into_owned()
        };
        let next = current.join(part);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Resolve::NotFound),
            Err(e) => return Err(Resolve::Io(next, e)),
        };
        if !meta.file_type().is_symlink() {
            current = next;
            continue;
        }
        let target = std::fs::read_link(&next).map_err(|e| Resolve::Io(next.clone(), e))?;
        if target.is_absolute() {
            // Argo CD denies every absolute symlink, even one that happens to point inside.
            return Err(Resolve::Symlink(shown()));
        }
        match next.canonicalize() {
            Ok(real) if real.starts_with(root) => current = real,
            Ok(_) => return Err(Resolve::Symlink(shown())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Dangling: still an escape if its target climbs out lexically.
                let parent = current.strip_prefix(root).unwrap_or(Path::new(""));
                return Err(if normalize(&parent.join(&target)).is_none() {
                    Resolve::Symlink(shown())
                } else {
                    Resolve::NotFound
                });
            }
            Err(e) => return Err(Resolve::Io(next, e)),
        }
    }
    Ok(current)
}

/// Resolves the source `path` (relative to the repository root) to a canonical path inside the
/// repository, or fails with [`RenderError::AbsolutePath`], [`RenderError::PathEscape`],
/// [`RenderError::SymlinkEscape`] or [`RenderError::PathNotFound`] naming the offending path.
///
/// `..` is applied lexically first (as Go's `filepath.Join` in Argo CD's `util/io/path.Path`),
/// then every symlink on the way is followed and must stay inside the repository; absolute
/// symlinks are refused even when they point inside (Argo CD's `CheckOutOfBoundsSymlinks`).
/// In-repository relative symlinks are fine. An empty path or `.` is the repository root.
pub fn resolve_in_repo(repo_root: &Path, path: &str) -> Result<PathBuf, RenderError> {
    if Path::new(path).is_absolute() {
        return Err(RenderError::AbsolutePath {
            path: path.to_string(),
        });
    }
    let root = canonical_root(repo_root)?;
    let parts = normalize(Path::new(path)).ok_or_else(|| RenderError::PathEscape {
        path: path.to_string(),
    })?;
    resolve_components(&root, &parts).map_err(|e| match e {
        Resolve::Symlink(link) => RenderError::SymlinkEscape { path: link },
        Resolve::NotFound => RenderError::PathNotFound {
            path: path.to_string(),
        },
        Resolve::Io(p, source) => RenderError::io(rel_display(&root, &p), source),
    })
}

/// Walks `root` (not following symlinks, skipping `.git`) and fails with
/// [`RenderError::SymlinkEscape`] on the first symlink that is absolute or whose target climbs
/// out of `root` — Argo CD's `CheckOutOfBoundsSymlinks`, which the repo-server runs on every
/// checkout because Kustomize and Helm read files anywhere in the repository.
///
/// Like Argo CD, a relative target is checked lexically part by part from the link's directory,
/// so a chain of in-repository links is fine and nothing outside is ever touched.
pub fn check_out_of_bounds_symlinks(repo_root: &Path) -> Result<(), RenderError> {
    let root = canonical_root(repo_root)?;
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| RenderError::io(rel_display(&root, &dir), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| RenderError::io(rel_display(&root, &dir), e))?;
            let path = entry.path();
            let file_type = entry
                .file_type()
                .map_err(|e| RenderError::io(rel_display(&root, &path), e))?;
            if file_type.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(path);
                }
            } else if file_type.is_symlink() && symlink_escapes(&root, &path)? {
                return Err(RenderError::SymlinkEscape {
                    path: rel_display(&root, &path),
                });
            }
        }
    }
    Ok(())
}

/// Whether the symlink at `link` (inside `root`) is absolute or climbs out of `root`.
pub(crate) fn symlink_escapes(root: &Path, link: &Path) -> Result<bool, RenderError> {
    let target =
        std::fs::read_link(link).map_err(|e| RenderError::io(rel_display(root, link), e))?;
    if target.is_absolute() {
        return Ok(true);
    }
    let parent = link
        .parent()
        .and_then(|p| p.strip_prefix(root).ok())
        .unwrap_or(Path::new(""));
    let mut depth: Vec<OsString> = parent
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    for component in target.components() {
        match component {
            Component::ParentDir if depth.pop().is_none() => return Ok(true),
            Component::Normal(c) => depth.push(c.to_os_string()),
            _ => {}
        }
    }
    Ok(false)
}

/// The URL scheme of `value`, if it parses as `scheme:...` the way Go's `url.Parse` would (a
/// letter, then letters, digits, `+`, `-`, `.`, then `:`).
pub(crate) fn url_scheme(value: &str) -> Option<&str> {
    let (scheme, _) = value.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// A Helm value file or `--set-file` path resolved as Argo CD's `ResolveValueFilePathOrUrl`
/// does: relative paths from the source path, absolute paths from the repository root, and the
/// result (symlinks followed) inside the repository.
///
/// `Ok(None)` means the file does not exist (the caller decides about
/// `ignoreMissingValueFiles`).
pub(crate) fn resolve_value_file(
    root: &Path,
    source_path: &Path,
    file: &str,
) -> Result<Option<PathBuf>, RenderError> {
    if let Some(scheme) = url_scheme(file) {
        return Err(RenderError::RemoteValueFile {
            file: file.to_string(),
            scheme: scheme.to_string(),
        });
    }
    let joined = if Path::new(file).is_absolute() {
        PathBuf::from(file.trim_start_matches('/'))
    } else {
        source_path.join(file)
    };
    let outside = || RenderError::ValueFileOutsideRepo {
        file: file.to_string(),
    };
    let parts = normalize(&joined).ok_or_else(outside)?;
    if parts.is_empty() {
        // Argo CD refuses a value file that is the repository root itself.
        return Err(outside());
    }
    match resolve_components(root, &parts) {
        Ok(path) => Ok(Some(path)),
        Err(Resolve::NotFound) => Ok(None),
        Err(Resolve::Symlink(_)) => Err(outside()),
        Err(Resolve::Io(p, source)) => Err(RenderError::io(rel_display(root, &p), source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        let n = |p: &str| {
            normalize(Path::new(p)).map(|v| join_components(&v).to_string_lossy().into_owned())
        };
        assert_eq!(n("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(n("").as_deref(), Some(""));
        assert_eq!(n(".").as_deref(), Some(""));
        assert_eq!(n("a/.."), Some(String::new()));
        assert_eq!(n(".."), None);
        assert_eq!(n("a/../../b"), None);
    }

    /// `<tmp>/repo` with in-repository and escaping symlinks, `<tmp>/outside/secret.yaml`.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = tmp.path().join("repo");
        for dir in ["repo/app/sub", "outside"] {
            std::fs::create_dir_all(tmp.path().join(dir)).expect("mkdir");
        }
        for file in [
            "repo/app/values.yaml",
            "repo/shared.yaml",
            "outside/secret.yaml",
        ] {
            std::fs::write(tmp.path().join(file), "a: 1\n").expect("write");
        }
        symlink("app", repo.join("alias")).expect("symlink");
        symlink("../shared.yaml", repo.join("app/shared-link.yaml")).expect("symlink");
        symlink("../outside", repo.join("out")).expect("symlink");
        symlink(tmp.path().join("outside"), repo.join("abs")).expect("symlink");
        symlink(repo.join("app"), repo.join("abs-in")).expect("symlink");
        symlink("../../../nowhere", repo.join("app/sub/dangling-out")).expect("symlink");
        symlink("missing.yaml", repo.join("app/dangling-in.yaml")).expect("symlink");
        symlink("../../outside/secret.yaml", repo.join("app/evil.yaml")).expect("symlink");
        (tmp, repo.canonicalize().expect("canonical"))
    }

    #[test]
    fn resolve_in_repo_table() {
        let (_tmp, repo) = tree();
        let ok = |p: &str| resolve_in_repo(&repo, p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(ok(""), repo);
        assert_eq!(ok("."), repo);
        assert_eq!(ok("app/../app/./sub"), repo.join("app/sub"));
        assert_eq!(ok("alias/values.yaml"), repo.join("app/values.yaml"));
        assert_eq!(ok("app/shared-link.yaml"), repo.join("shared.yaml"));
        let err = |p: &str| resolve_in_repo(&repo, p).expect_err(p).to_string();
        let outside = |p: &str| format!("{p:?} is a symlink that points outside the repository");
        let missing = |p: &str| format!("path {p:?} does not exist in the repository");
        let escape = |p: &str| format!("path {p:?} escapes the repository root");
        for (path, want) in [
            (
                "/etc",
                "path \"/etc\" is absolute: it must be relative to the repository root".to_string(),
            ),
            ("..", escape("..")),
            ("app/../../outside", escape("app/../../outside")),
            ("out", outside("out")),
            ("out/secret.yaml", outside("out")),
            ("abs/secret.yaml", outside("abs")),
            ("abs-in", outside("abs-in")),
            ("app/evil.yaml", outside("app/evil.yaml")),
            ("app/sub/dangling-out", outside("app/sub/dangling-out")),
            ("app/dangling-in.yaml", missing("app/dangling-in.yaml")),
            ("app/nope", missing("app/nope")),
        ] {
            assert_eq!(err(path), want, "{path}");
        }
    }

    #[test]
    fn value_files_table() {
        let (_tmp, repo) = tree();
        let resolve = |f: &str| resolve_value_file(&repo, Path::new("app"), f);
        assert_eq!(
            resolve("values.yaml").unwrap(),
            Some(repo.join("app/values.yaml"))
        );
        assert_eq!(
            resolve("../shared.yaml").unwrap(),
            Some(repo.join("shared.yaml"))
        );
        // Absolute value files are relative to the repository root, as in Argo CD.
        assert_eq!(
            resolve("/shared.yaml").unwrap(),
            Some(repo.join("shared.yaml"))
        );
        assert_eq!(resolve("/etc/passwd").unwrap(), None);
        assert_eq!(resolve("missing.yaml").unwrap(), None);
        for file in [
            "../../outside/secret.yaml",
            "/../outside/secret.yaml",
            "evil.yaml",
            "../out/secret.yaml",
            "..",
        ] {
            assert!(
                matches!(resolve(file), Err(RenderError::ValueFileOutsideRepo { file: f }) if f == file),
                "{file}"
            );
        }
        assert!(matches!(
            resolve("https://example.com/values.yaml"),
            Err(RenderError::RemoteValueFile { .. })
        ));
    }

    #[test]
    fn out_of_bounds_symlinks() {
        let (_tmp, repo) = tree();
        let escapes = |p: &str| symlink_escapes(&repo, &repo.join(p)).expect(p);
        assert!(!escapes("alias"));
        assert!(!escapes("app/shared-link.yaml"));
        assert!(!escapes("app/dangling-in.yaml"));
        assert!(escapes("out"));
        assert!(escapes("abs"));
        assert!(
            escapes("abs-in"),
            "absolute symlinks are refused even inside"
        );
        assert!(escapes("app/evil.yaml"));
        assert!(escapes("app/sub/dangling-out"));
        assert!(matches!(
            check_out_of_bounds_symlinks(&repo),
            Err(RenderError::SymlinkEscape { .. })
        ));
        let clean = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(clean.path().join("d")).expect("mkdir");
        std::os::unix::fs::symlink("d", clean.path().join("in")).expect("symlink");
        check_out_of_bounds_symlinks(clean.path()).expect("in-repository links are fine");
    }

    #[test]
    fn url_schemes() {
        assert_eq!(url_scheme("https://example.com/v.yaml"), Some("https"));
        assert_eq!(url_scheme("s3+x://b/v.yaml"), Some("s3+x"));
        assert_eq!(url_scheme("values.yaml"), None);
        assert_eq!(url_scheme("./a:b.yaml"), None);
        assert_eq!(url_scheme("1x:y"), None);
        assert_eq!(url_scheme(":y"), None);
    }
}
