//! Turning YAML/JSON text into Kubernetes objects: multi-document YAML, `List` flattening, and
//! the checks Argo CD's repo-server applies (`GenerateManifests`, `kube.SplitYAML`).

use serde_json::{Map, Number, Value};
use serde_yaml_ng::Value as Yaml;

use crate::RenderError;

/// A YAML stream that failed to parse.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

/// One document of a stream: its 1-based index and value (`Null` for an empty document).
pub(crate) type Doc = (usize, Value);

/// Parses every document of a YAML stream into JSON values, YAML 1.1 merge keys applied and
/// non-string keys stringified (as `sigs.k8s.io/yaml` does). Stops at the first broken document,
/// returning the documents before it with the error.
pub(crate) fn parse_yaml_stream(text: &str) -> (Vec<Doc>, Option<YamlError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let mut yaml = match <Yaml as serde::Deserialize>::deserialize(document) {
            Ok(yaml) => yaml,
            Err(e) => return (docs, Some(yaml_error(&e))),
        };
        if let Err(e) = yaml.apply_merge() {
            return (docs, Some(yaml_error(&e)));
        }
        match yaml_to_json(yaml) {
            Ok(value) => docs.push((index + 1, value)),
            Err(message) => {
                return (
                    docs,
                    Some(YamlError {
                        line: None,
                        message: format!("document {}: {message}", index + 1),
                    }),
                );
            }
        }
    }
    (docs, None)
}

fn yaml_error(e: &serde_yaml_ng::Error) -> YamlError {
    YamlError {
        line: e.location().map(|l| l.line()),
        message: e.to_string(),
    }
}

/// Converts a YAML value to JSON the way `sigs.k8s.io/yaml` (`YAMLToJSON`) does.
pub(crate) fn yaml_to_json(yaml: Yaml) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(
                    Number::from_f64(f).ok_or_else(|| format!("{f} is not a JSON number"))?,
                )
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Null => "null".to_string(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                map.insert(key, yaml_to_json(value)?);
            }
            Value::Object(map)
        }
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// What is wrong with a document that should be a Kubernetes object, if anything.
pub(crate) fn object_problem(value: &Value) -> Option<&'static str> {
    let Some(object) = value.as_object() else {
        return Some("not a mapping");
    };
    let present = |k: &str| {
        object
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !present("kind") {
        Some("missing kind")
    } else if !present("apiVersion") {
        Some("missing apiVersion")
    } else {
        None
    }
}

/// Splits the output of `kustomize build` / `helm template` into objects (Argo CD's
/// `kube.SplitYAML`): every non-empty document must be a Kubernetes object.
pub(crate) fn split_tool_output(tool: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let (docs, error) = parse_yaml_stream(text);
    if let Some(error) = error {
        return Err(RenderError::InvalidToolOutput {
            tool: tool.to_string(),
            message: match error.line {
                Some(line) => format!("line {line}: {}", error.message),
                None => error.message,
            },
        });
    }
    let mut objects = Vec::with_capacity(docs.len());
    for (index, value) in docs {
        if value.is_null() {
            continue;
        }
        if let Some(problem) = object_problem(&value) {
            return Err(RenderError::NotAnObject {
                file: format!("output of {tool}"),
                document: index,
                problem: problem.to_string(),
            });
        }
        objects.push(value);
    }
    Ok(objects)
}

/// Argo CD's post-processing of every rendered object (`GenerateManifests`): an object with an
/// `items` array is a list and is replaced by its items (`Unstructured.IsList`, whatever its
/// kind); a `*List` with `items: null` and no `spec`/`status` disappears (`isNullList`).
pub(crate) fn flatten_lists(objects: Vec<Value>, origin: &str) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::with_capacity(objects.len());
    for (index, object) in objects.into_iter().enumerate() {
        match object.get("items") {
            Some(Value::Array(_)) => {
                let Value::Object(mut map) = object else {
                    unreachable!("an object with items is a map")
                };
                let Some(Value::Array(items)) = map.remove("items") else {
                    unreachable!("checked above")
                };
                for item in items {
                    if !item.is_object() {
                        return Err(RenderError::NotAnObject {
                            file: origin.to_string(),
                            document: index + 1,
                            problem: "a list item is not an object".to_string(),
                        });
                    }
                    out.push(item);
                }
            }
            Some(Value::Null) if object.get("spec").is_none() && object.get("status").is_none() => {
            }
            _ => out.push(object),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn multi_document_yaml() {
        let text = "---\napiVersion: v1\nkind: A\n---\n# only a comment\n---\n\n---\napiVersion: v1\nkind: B\n...\n";
        let (docs, error) = parse_yaml_stream(text);
        assert!(error.is_none(), "{error:?}");
        let kinds: Vec<_> = docs
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(_, v)| v["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(kinds, ["A", "B"]);
    }

    #[test]
    fn yaml_errors_carry_the_line() {
        let text =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: [1, 2\n  b: c\n";
        let (docs, error) = parse_yaml_stream(text);
        assert!(docs.is_empty());
        let error = error.expect("broken YAML");
        assert!(matches!(error.line, Some(6..=7)), "{error:?}");

        let text =
            "apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\nmetadata:\n\tname: tab\n";
        let (docs, error) = parse_yaml_stream(text);
        assert_eq!(docs.len(), 1);
        let error = error.expect("tab indentation");
        assert_eq!(error.line, Some(7), "{error:?}");
    }

    #[test]
    fn yaml_to_json_like_sigs_yaml() {
        let (docs, error) = parse_yaml_stream(
            "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n1: one\ntrue: yes\nf: 1.5\nbig: 18446744073709551615\n",
        );
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            docs[0].1,
            json!({"base": {"x": 1}, "derived": {"x": 1, "y": 2}, "1": "one", "true": "yes", "f": 1.5, "big": 18446744073709551615u64})
        );
    }

    #[test]
    fn object_problems() {
        assert_eq!(
            object_problem(&json!({"apiVersion": "v1", "kind": "A"})),
            None
        );
        assert_eq!(
            object_problem(&json!({"apiVersion": "v1"})),
            Some("missing kind")
        );
        assert_eq!(
            object_problem(&json!({"kind": "A"})),
            Some("missing apiVersion")
        );
        assert_eq!(
            object_problem(&json!({"kind": "", "apiVersion": "v1"})),
            Some("missing kind")
        );
        assert_eq!(object_problem(&json!(["a"])), Some("not a mapping"));
        assert_eq!(object_problem(&json!("s")), Some("not a mapping"));
    }

    #[test]
    fn list_flattening_table() {
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let b = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}});
        let cases: Vec<(&str, Vec<Value>, Vec<Value>)> = vec![
            (
                "plain objects pass",
                vec![a.clone(), b.clone()],
                vec![a.clone(), b.clone()],
            ),
            (
                "kind: List is flattened in place",
                vec![
                    b.clone(),
                    json!({"apiVersion": "v1", "kind": "List", "items": [a.clone(), b.clone()]}),
                    a.clone(),
                ],
                vec![b.clone(), a.clone(), b.clone(), a.clone()],
            ),
            (
                "*List kinds are flattened",
                vec![json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": [a.clone()]})],
                vec![a.clone()],
            ),
            (
                "an empty list yields nothing",
                vec![json!({"apiVersion": "v1", "kind": "List", "items": []})],
                vec![],
            ),
            (
                "a null list yields nothing",
                vec![json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": null})],
                vec![],
            ),
            (
                "items: null with a spec is an object",
                vec![json!({"apiVersion": "x/v1", "kind": "Thing", "spec": {}, "items": null})],
                vec![json!({"apiVersion": "x/v1", "kind": "Thing", "spec": {}, "items": null})],
            ),
            (
                "any object with an items array is a list (Unstructured.IsList)",
                vec![json!({"apiVersion": "x/v1", "kind": "Bag", "items": [a.clone()]})],
                vec![a.clone()],
            ),
            (
                "items that is not an array is an ordinary field",
                vec![json!({"apiVersion": "x/v1", "kind": "Bag", "items": "x"})],
                vec![json!({"apiVersion": "x/v1", "kind": "Bag", "items": "x"})],
            ),
        ];
        for (name, input, want) in cases {
            let got = flatten_lists(input, "f.yaml").unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, want, "{name}");
        }
        let err = flatten_lists(vec![json!({"kind": "List", "items": ["x"]})], "f.yaml")
            .expect_err("scalar item");
        assert!(matches!(err, RenderError::NotAnObject { .. }), "{err}");
    }

    #[test]
    fn tool_output_is_strict() {
        let objects = split_tool_output(
            "kustomize build",
            "apiVersion: v1\nkind: A\n---\n---\napiVersion: v1\nkind: B\n",
        )
        .expect("valid");
        assert_eq!(objects.len(), 2);
        let err = split_tool_output("helm template", "apiVersion: v1\n---\nfoo: bar\n")
            .expect_err("no kind");
        assert!(
            matches!(err, RenderError::NotAnObject { document: 1, .. }),
            "{err}"
        );
    }
}
