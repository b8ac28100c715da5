//! Unified diffs of YAML documents, as `argocd app diff` prints them (argocd runs `diff -u`),
//! optionally coloured: removed lines red, added lines green, hunk headers cyan.

use similar::{ChangeTag, TextDiff};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The `===== group/kind namespace/name ======` line argocd prints before each resource's
/// diff, preceded by an empty line.
pub(crate) fn resource_header(group: &str, kind: &str, namespace: &str, name: &str) -> String {
    format!("\n===== {group}/{kind} {namespace}/{name} ======\n")
}

/// The unified diff (3 lines of context) from `old` to `new`, with `--- old_label` and
/// `+++ new_label` headers; empty when the texts are equal.
pub(crate) fn unified(
    old: &str,
    new: &str,
    old_label: &str,
    new_label: &str,
    color: bool,
) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut text = String::new();
    let paint = |text: &mut String, colour: &str, line: &str| {
        if color {
            text.push_str(colour);
            text.push_str(line);
            text.push_str(RESET);
        } else {
            text.push_str(line);
        }
        text.push('\n');
    };
    let unified = diff.unified_diff();
    for (index, hunk) in unified.iter_hunks().enumerate() {
        if index == 0 {
            paint(&mut text, BOLD, &format!("--- {old_label}"));
            paint(&mut text, BOLD, &format!("+++ {new_label}"));
        }
        paint(&mut text, CYAN, &hunk.header().to_string());
        for change in hunk.iter_changes() {
            let value = change.value();
            let line = value.strip_suffix('\n').unwrap_or(value);
            let (colour, sign) = match change.tag() {
                ChangeTag::Delete => (RED, '-'),
                ChangeTag::Insert => (GREEN, '+'),
                ChangeTag::Equal => ("", ' '),
            };
            let line = format!("{sign}{line}");
            if colour.is_empty() {
                text.push_str(&line);
                text.push('\n');
            } else {
                paint(&mut text, colour, &line);
            }
            if !value.ends_with('\n') {
                text.push_str("\\ No newline at end of file\n");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::{resource_header, unified};

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a: 1\n", "a: 1\n", "live", "desired", false), "");
        assert_eq!(unified("", "", "live", "desired", true), "");
    }

    #[test]
    fn plain_diffs() {
        let live = "spec:\n  replicas: 1\n  template: {}\n";
        let desired = "spec:\n  replicas: 3\n  template: {}\n";
        assert_eq!(
            unified(live, desired, "web (live)", "web (desired)", false),
            "--- web (live)\n\
             +++ web (desired)\n\
             @@ -1,3 +1,3 @@\n \
             spec:\n\
             -  replicas: 1\n\
             +  replicas: 3\n   \
             template: {}\n"
        );
        // A resource that exists only on one side.
        assert_eq!(
            unified("", "a: 1\n", "live", "desired", false),
            "--- live\n+++ desired\n@@ -0,0 +1 @@\n+a: 1\n"
        );
        assert_eq!(
            unified("a: 1", "b: 2", "live", "desired", false),
            "--- live\n+++ desired\n@@ -1 +1 @@\n-a: 1\n\\ No newline at end of file\n\
             +b: 2\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn coloured_diffs() {
        assert_eq!(
            unified("a: 1\n", "a: 2\n", "l", "d", true),
            "\x1b[1m--- l\x1b[0m\n\x1b[1m+++ d\x1b[0m\n\x1b[36m@@ -1 +1 @@\x1b[0m\n\
             \x1b[31m-a: 1\x1b[0m\n\x1b[32m+a: 2\x1b[0m\n"
        );
    }

    #[test]
    fn headers_name_the_resource() {
        assert_eq!(
            resource_header("apps", "Deployment", "default", "web"),
            "\n===== apps/Deployment default/web ======\n"
        );
        assert_eq!(
            resource_header("", "Service", "default", "web"),
            "\n===== /Service default/web ======\n"
        );
    }
}
