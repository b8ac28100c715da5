//! Rendering: argocd-style tables ([`table`]), coloured unified diffs ([`diff`]), and objects
//! printed as JSON or YAML exactly as the server returned them.
//!
//! Everything here is pure: functions from values to text, unit tested. Commands write the
//! text to their output.

use std::io::Write;

use clap::ValueEnum;
use serde::Serialize;

pub(crate) mod diff;
pub(crate) mod table;

pub(crate) use table::{Table, field};

/// `-o` of list commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ListOutput {
    /// An aligned table.
    #[default]
    Table,
    /// The table with more columns, where the command has more.
    Wide,
    /// The objects as a JSON array, as the server returned them.
    Json,
    /// The objects as a YAML list, as the server returned them.
    Yaml,
    /// The names only, one a line.
    Name,
}

/// `-o` of commands that show one object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ObjectOutput {
    /// A human-readable summary.
    #[default]
    Table,
    /// The summary with more detail, where the command has more.
    Wide,
    /// The object as JSON, as the server returned it.
    Json,
    /// The object as YAML, as the server returned it.
    Yaml,
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorMode {
    /// Colour when stdout is a terminal.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorMode {
    /// Whether to colour, given whether stdout is a terminal.
    pub(crate) fn enabled(self, stdout_is_terminal: bool) -> bool {
        match self {
            Self::Auto => stdout_is_terminal,
            Self::Always => true,
            Self::Never => false,
        }
    }
}

/// `value` as pretty-printed JSON, with a final newline.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// `value` as YAML (ends with a newline).
pub(crate) fn to_yaml<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(serde_yaml_ng::to_string(value)?)
}

/// Prints `value` as JSON or YAML; `false` (nothing printed) for the other formats.
pub(crate) fn print_object<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    format: ObjectOutput,
    value: &T,
) -> anyhow::Result<bool> {
    let text = match format {
        ObjectOutput::Json => to_json(value)?,
        ObjectOutput::Yaml => to_yaml(value)?,
        ObjectOutput::Table | ObjectOutput::Wide => return Ok(false),
    };
    out.write_all(text.as_bytes())?;
    Ok(true)
}

/// Prints `values` as a JSON array or YAML list, or `names` one per line; `false` (nothing
/// printed) for the table formats, which the caller renders.
pub(crate) fn print_list<T: Serialize, N: std::fmt::Display>(
    out: &mut dyn Write,
    format: ListOutput,
    values: &[T],
    names: impl IntoIterator<Item = N>,
) -> anyhow::Result<bool> {
    let text = match format {
        ListOutput::Json => to_json(values)?,
        ListOutput::Yaml => to_yaml(values)?,
        ListOutput::Name => {
            for name in names {
                writeln!(out, "{name}")?;
            }
            return Ok(true);
        }
        ListOutput::Table | ListOutput::Wide => return Ok(false),
    };
    out.write_all(text.as_bytes())?;
    Ok(true)
}

/// `value`, or `<none>` when it is empty (argocd's placeholder).
pub(crate) fn or_none(value: &str) -> &str {
    if value.is_empty() { "<none>" } else { value }
}

/// The first 7 characters of a commit SHA (argocd's short revision).
pub(crate) fn short_revision(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{ColorMode, ObjectOutput, print_object, short_revision, to_json, to_yaml};

    #[test]
    fn objects_print_as_json_and_yaml() {
        let value = json!({"metadata": {"name": "guestbook"}, "spec": {"project": "default"}});
        assert_eq!(
            to_json(&value).expect("json"),
            "{\n  \"metadata\": {\n    \"name\": \"guestbook\"\n  },\n  \"spec\": {\n    \
             \"project\": \"default\"\n  }\n}\n"
        );
        assert_eq!(
            to_yaml(&value).expect("yaml"),
            "metadata:\n  name: guestbook\nspec:\n  project: default\n"
        );
        let mut out = Vec::new();
        assert!(!print_object(&mut out, ObjectOutput::Table, &value).expect("table"));
        assert!(out.is_empty());
    }

    #[test]
    fn colour_follows_the_terminal_unless_forced() {
        assert!(ColorMode::Auto.enabled(true));
        assert!(!ColorMode::Auto.enabled(false));
        assert!(ColorMode::Always.enabled(false));
        assert!(!ColorMode::Never.enabled(true));
    }

    #[test]
    fn short_revisions() {
        assert_eq!(short_revision("5c4c5ce2a1b0"), "5c4c5ce");
        assert_eq!(short_revision("1.2.3"), "1.2.3");
    }
}
