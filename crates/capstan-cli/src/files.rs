//! Reading the local YAML files offline commands take.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

/// Reads `path` as UTF-8 text; the error names the path.
pub(crate) fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Reads `path` as UTF-8 text, or stdin for `-`; the error names the path.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading standard input")?;
        return Ok(text);
    }
    read(path)
}

/// Parses `text` (read from `path`) as a stream of YAML (or JSON) documents, each a
/// Kubernetes object; empty documents are skipped.
///
/// Errors name the path and, for syntax errors, the line and column.
pub(crate) fn parse_objects(path: &Path, text: &str) -> anyhow::Result<Vec<Value>> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .with_context(|| format!("parsing {} as YAML", path.display()))?;
        match value {
            Value::Null => {}
            Value::Object(_) => objects.push(value),
            other => bail!(
                "{}: document {} is {}, not a Kubernetes object (a YAML mapping)",
                path.display(),
                index + 1,
                json_type(&other)
            ),
        }
    }
    if objects.is_empty() {
        bail!("{}: no YAML document in the file", path.display());
    }
    Ok(objects)
}

/// Parses `text` (read from `path`) as exactly one YAML document holding a Kubernetes object.
///
/// Errors name the path and, for syntax errors, the line and column.
pub(crate) fn parse_object(path: &Path, text: &str) -> anyhow::Result<Value> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document)
            .with_context(|| format!("parsing {} as YAML", path.display()))?;
        // Empty documents (an empty file, a trailing `---`) are not objects; skip them as
        // kubectl does.
        if !value.is_null() {
            documents.push(value);
        }
    }
    let count = documents.len();
    let Some(object) = documents.pop() else {
        bail!("{}: no YAML document in the file", path.display());
    };
    if count > 1 {
        bail!(
            "{}: {count} YAML documents in the file; expected exactly one object",
            path.display()
        );
    }
    if !object.is_object() {
        bail!(
            "{}: expected a Kubernetes object (a YAML mapping), found {}",
            path.display(),
            json_type(&object)
        );
    }
    Ok(object)
}

/// The parts of a ConfigMap document an offline command needs.
#[derive(Debug, Deserialize)]
struct ConfigMapDocument {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    data: Option<BTreeMap<String, String>>,
}

/// Parses `text` (read from `path`) as one `kind: ConfigMap` document and returns its `data`
/// (empty when absent, as for an empty ConfigMap).
pub(crate) fn parse_config_map_data(
    path: &Path,
    text: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let document: ConfigMapDocument = serde_yaml_ng::from_str(text)
        .with_context(|| format!("parsing {} as a ConfigMap", path.display()))?;
    match document.kind.as_deref() {
        Some("ConfigMap") => {}
        Some(other) => bail!(
            "{}: expected kind ConfigMap, found kind {other:?}",
            path.display()
        ),
        None => bail!(
            "{}: expected a ConfigMap document, found no kind",
            path.display()
        ),
    }
    Ok(document.data.unwrap_or_default())
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{parse_config_map_data, parse_object, parse_objects};

    #[test]
    fn object_streams() {
        let path = Path::new("apps.yaml");
        let objects = parse_objects(path, "kind: A\n---\n---\nkind: B\n").expect("two objects");
        assert_eq!(objects.len(), 2);
        let err = parse_objects(path, "").expect_err("empty");
        assert_eq!(err.to_string(), "apps.yaml: no YAML document in the file");
        let err = parse_objects(path, "kind: A\n---\n- x\n").expect_err("a list");
        assert_eq!(
            err.to_string(),
            "apps.yaml: document 2 is a list, not a Kubernetes object (a YAML mapping)"
        );
    }

    #[test]
    fn objects_must_be_one_mapping() {
        let path = Path::new("obj.yaml");
        let cases = [
            ("kind: Pod\n", None),
            ("---\nkind: Pod\n---\n", None),
            ("", Some("obj.yaml: no YAML document in the file")),
            (
                "kind: Pod\n---\nkind: Pod\n",
                Some("obj.yaml: 2 YAML documents in the file; expected exactly one object"),
            ),
            (
                "- a\n",
                Some("obj.yaml: expected a Kubernetes object (a YAML mapping), found a list"),
            ),
            (
                "kind: Pod\nmetadata: [\n",
                Some("parsing obj.yaml as YAML: "),
            ),
        ];
        for (text, want) in cases {
            let got = parse_object(path, text).map_err(|err| format!("{err:#}"));
            match (got, want) {
                (Ok(_), None) => {}
                (Err(err), Some(want)) => assert!(err.starts_with(want), "{text:?}: {err}"),
                (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse_object(Path::new("obj.yaml"), "kind: Pod\nmetadata:\n  name: [\n")
            .expect_err("unterminated flow sequence");
        assert!(format!("{err:#}").contains("line "), "{err:#}");
    }

    #[test]
    fn config_maps_give_their_data() {
        let path = Path::new("cm.yaml");
        let data = parse_config_map_data(
            path,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\ndata:\n  url: https://cd\n",
        )
        .expect("valid ConfigMap");
        assert_eq!(data.get("url").map(String::as_str), Some("https://cd"));

        let empty = parse_config_map_data(path, "kind: ConfigMap\n").expect("no data");
        assert!(empty.is_empty());

        let err = parse_config_map_data(path, "kind: Secret\n").expect_err("not a ConfigMap");
        assert_eq!(
            format!("{err:#}"),
            "cm.yaml: expected kind ConfigMap, found kind \"Secret\""
        );

        let err = parse_config_map_data(path, "kind: ConfigMap\ndata:\n  a:\n    b: c\n")
            .expect_err("non-string value");
        assert!(format!("{err:#}").contains("line 4"), "{err:#}");
    }
}
