//! The `argocd.argoproj.io/manifest-generate-paths` annotation: Argo CD's
//! `util/app/path.GetSourceRefreshPaths` and `AppFilesHaveChanged`.

use capstan_types::glob::path_match;

/// The annotation restricting which changed files refresh an application.
pub const MANIFEST_GENERATE_PATHS_ANNOTATION: &str = "argocd.argoproj.io/manifest-generate-paths";

/// Whether a push that changed `changed_files` concerns the source at `source_path` of an
/// application annotated with `manifest_generate_paths`.
///
/// `true` when the file list is unknown (`None`, as for Bitbucket and Azure DevOps) or empty
/// (Argo CD cannot tell an empty list from a missing one), and when the annotation is absent
/// or lists no path. Otherwise see [`source_refresh_paths`] and [`files_under_refresh_paths`].
pub fn app_files_changed(
    manifest_generate_paths: Option<&str>,
    source_path: &str,
    changed_files: Option<&[String]>,
) -> bool {
    let Some(changed_files) = changed_files else {
        return true;
    };
    let refresh_paths = source_refresh_paths(manifest_generate_paths, source_path);
    files_under_refresh_paths(&refresh_paths, changed_files)
}

/// Argo CD's `GetSourceRefreshPaths`: the annotation split at `;`, each item trimmed, empty
/// items skipped; an item starting with `/` is relative to the repository root (the `/` is
/// dropped, nothing else changes), any other is joined to `source_path` and cleaned (so `.`
/// is the source path itself and `../shared` its sibling).
///
/// Argo CD uses the source path alone, ignoring the annotation, for the sync source of a
/// source hydrator; that is the caller's business.
pub fn source_refresh_paths(
    manifest_generate_paths: Option<&str>,
    source_path: &str,
) -> Vec<String> {
    let Some(annotation) = manifest_generate_paths else {
        return Vec::new();
    };
    annotation
        .split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.strip_prefix('/') {
            Some(relative_to_root) => relative_to_root.to_owned(),
            None => clean(&join(source_path, item)),
        })
        .collect()
}

/// Argo CD's `AppFilesHaveChanged`: `true` when `changed_files` or `refresh_paths` is
/// empty; otherwise whether some changed file (made absolute with a leading `/`, as is each
/// refresh path)
///
/// * equals a refresh path,
/// * lies in a refresh path's directory tree: its parent directory is the refresh path or
///   below it (`apps/foo` covers `apps/foo/x.yaml` and `apps/foo/a/b.yaml` but not
///   `apps/foobar/x.yaml`; `/` covers everything), or
/// * matches a refresh path as a Go `filepath.Match` pattern (`*`, `?` and `[...]` do not
///   cross `/`, and `**` is just two `*`: `apps/*/values.yaml` matches
///   `apps/foo/values.yaml` only).
pub fn files_under_refresh_paths(refresh_paths: &[String], changed_files: &[String]) -> bool {
    if changed_files.is_empty() || refresh_paths.is_empty() {
        return true;
    }
    changed_files.iter().any(|file| {
        let file = ensure_abs(file);
        refresh_paths.iter().any(|item| {
            let item = ensure_abs(item);
            file == item || is_under(&item, &file) || path_match(&item, &file).unwrap_or(false)
        })
    })
}

fn ensure_abs(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// The `err == nil` of Argo CD's `security.EnforceToCurrentRoot(root, file)`: the directory of
/// `file` is `root` or below it.
fn is_under(root: &str, file: &str) -> bool {
    let root = clean(root);
    let dir = dir(file);
    root == "/" || root == dir || dir.starts_with(&format!("{root}/"))
}

/// Go's `filepath.Join(a, b)` for a non-empty `b`.
fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a}/{b}")
    }
}

/// Go's `filepath.Dir` (Unix).
fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_owned(),
    }
}

/// Go's `filepath.Clean` (Unix): the shortest equivalent path, resolving `.` and `..`
/// lexically.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_clean() {
        let cases = [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("a/./b/", "a/b"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("//a//b", "/a/b"),
            ("my-app/../shared", "shared"),
            ("source/path/.", "source/path"),
            ("../../x", "../../x"),
        ];
        for (input, expected) in cases {
            assert_eq!(clean(input), expected, "{input}");
        }
        assert_eq!(dir("/a/b/c.yaml"), "/a/b");
        assert_eq!(dir("/c.yaml"), "/");
        assert_eq!(dir("c.yaml"), ".");
    }

    #[test]
    fn refresh_paths_like_argo_cd() {
        // Argo CD's Test_GetAppRefreshPaths.
        let cases: &[(Option<&str>, &str, &[&str])] = &[
            (None, "source/path", &[]),
            (Some(""), "source/path", &[]),
            (Some("."), "source/path", &["source/path"]),
            (Some("/source/path"), "other/path", &["source/path"]),
            (Some(".;../shared"), "my-app", &["my-app", "shared"]),
            (
                Some("./my-deployment.yaml"),
                "source/path",
                &["source/path/my-deployment.yaml"],
            ),
            (
                Some("/source/path/my-deployment.yaml"),
                "source/path",
                &["source/path/my-deployment.yaml"],
            ),
            (
                Some("./README.md;../shared/my-deployment.yaml"),
                "my-app",
                &["my-app/README.md", "shared/my-deployment.yaml"],
            ),
            (
                Some("/source/*/my-deployment.yaml"),
                "source/path",
                &["source/*/my-deployment.yaml"],
            ),
            (Some(".;"), "source/path", &["source/path"]),
            (Some(" . ; /abs "), "source/path", &["source/path", "abs"]),
            (Some("."), "", &["."]),
            (Some("/"), "source/path", &[""]),
        ];
        for (annotation, source_path, expected) in cases {
            assert_eq!(
                source_refresh_paths(*annotation, source_path),
                expected.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                "{annotation:?} at {source_path:?}"
            );
        }
    }

    /// (annotation, source path, changed files, expected).
    type Case<'a> = (Option<&'a str>, &'a str, Option<&'a [&'a str]>, bool);

    #[test]
    fn manifest_generate_paths_table() {
        // (annotation, source path, changed files, expected); mostly Argo CD's
        // Test_AppFilesHaveChanged.
        let cases: &[Case<'_>] = &[
            // No annotation, or unknown / empty file lists: refresh.
            (None, "source/path", Some(&["README.md"]), true),
            (Some(""), "source/path", Some(&["README.md"]), true),
            (Some(";"), "source/path", Some(&["README.md"]), true),
            (Some("."), "source/path", None, true),
            (Some("."), "source/path", Some(&[]), true),
            // Relative `.`: the source path.
            (
                Some("."),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                true,
            ),
            (
                Some("."),
                "source/path",
                Some(&["source/path/deep/nested/file.yaml"]),
                true,
            ),
            (Some("."), "source/path", Some(&["README.md"]), false),
            // Absolute.
            (
                Some("/source/path"),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                true,
            ),
            (
                Some("/source/path1"),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                false,
            ),
            (
                Some("/shared"),
                "apps/foo",
                Some(&["shared/values.yaml"]),
                true,
            ),
            // Multiple paths.
            (
                Some(".;../shared"),
                "my-app",
                Some(&["shared/my-deployment.yaml"]),
                true,
            ),
            (Some(".;../shared"), "my-app", Some(&["README.md"]), false),
            (
                Some("./README.md;../shared/my-deployment.yaml"),
                "my-app",
                Some(&["shared/my-deployment.yaml"]),
                true,
            ),
            (
                Some(".README.md;../shared/my-deployment.yaml"),
                "my-app",
                Some(&["kustomization.yaml"]),
                false,
            ),
            // Files.
            (
                Some("./my-deployment.yaml"),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                true,
            ),
            (
                Some("/source/path1/README.md"),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                false,
            ),
            // A file in a sibling directory does not match.
            (
                Some("."),
                "app/testargo1",
                Some(&["app/testargo2/values.yaml"]),
                false,
            ),
            (
                Some("."),
                "app/testargo2",
                Some(&["app/testargo2/values.yaml"]),
                true,
            ),
            // A path that merely shares a prefix does not match.
            (
                Some("."),
                "apps/foo",
                Some(&["apps/foobar/values.yaml"]),
                false,
            ),
            (Some("/apps/foo"), "x", Some(&["apps/foobar"]), false),
            (Some("/apps/foo"), "x", Some(&["apps/foo"]), true),
            // The parent is not covered by a child.
            (Some("."), "apps/foo", Some(&["apps/values.yaml"]), false),
            // Globs (Go filepath.Match: `*` does not cross `/`, `**` is `*`).
            (
                Some("/source/**/my-deployment.yaml"),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                true,
            ),
            (
                Some("/source/**/my-service.yaml"),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                false,
            ),
            (
                Some("/source/**/my-deployment.yaml"),
                "source/path",
                Some(&["source/a/b/my-deployment.yaml"]),
                false,
            ),
            (
                Some("/source/path/my-deployment-?.yaml"),
                "source/path",
                Some(&["source/path/my-deployment-0.yaml"]),
                true,
            ),
            (
                Some("/source/path/my-deployment-?.yaml"),
                "source/path",
                Some(&["source/path/my-deployment.yaml"]),
                false,
            ),
            (
                Some("/source/path[0-9]/my-deployment.yaml"),
                "source/path",
                Some(&["source/path1/my-deployment.yaml"]),
                true,
            ),
            (
                Some("/source/path[0-9]/my-*.yaml"),
                "source/path",
                Some(&["source/path1/my-deployment.yaml"]),
                true,
            ),
            (
                Some("/source/path[0-9]/my-*.yaml"),
                "source/path",
                Some(&["README.md"]),
                false,
            ),
            (Some("*.yaml"), "", Some(&["values.yaml"]), true),
            (Some("*.yaml"), "", Some(&["apps/values.yaml"]), false),
            // A malformed pattern matches nothing (but the prefix rules still apply).
            (Some("/apps/[x"), "", Some(&["apps/[x"]), true),
            (Some("/apps/[x"), "", Some(&["apps/x"]), false),
            // Changed files given with a leading slash.
            (
                Some("."),
                "source/path",
                Some(&["/source/path/my-deployment.yaml"]),
                true,
            ),
            // `/` and paths escaping the root cover the whole repository.
            (Some("/"), "source/path", Some(&["README.md"]), true),
            (Some("../../.."), "source/path", Some(&["README.md"]), true),
            // `.` of a source at the repository root.
            (Some("."), "", Some(&["README.md"]), true),
            // Several files: one match is enough.
            (
                Some("."),
                "apps/foo",
                Some(&["README.md", "apps/foo/values.yaml"]),
                true,
            ),
        ];
        for (annotation, source_path, files, expected) in cases {
            let files: Option<Vec<String>> =
                files.map(|files| files.iter().map(|f| (*f).to_owned()).collect());
            assert_eq!(
                app_files_changed(*annotation, source_path, files.as_deref()),
                *expected,
                "annotation {annotation:?}, source path {source_path:?}, files {files:?}"
            );
        }
    }
}
