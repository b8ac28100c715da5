//! Parameter sets: a JSON object per generated Application. Generators build them nested;
//! Argo CD's default templating sees them flattened (`metadata.labels.env`).

use serde_json::{Map, Value};

/// One parameter set.
pub type Params = Map<String, Value>;

/// Flattens nested objects (and lists, by index) into dotted keys with string values, as
/// Argo CD's `flatten.Flatten(..., flatten.DotStyle)` does for fasttemplate: numbers and
/// booleans become their JSON text, `null` the empty string.
pub fn flatten(params: &Params) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in params {
        flatten_into(k, v, &mut out);
    }
    out
}

fn flatten_into(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten_into(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::Array(list) if !list.is_empty() => {
            for (i, v) in list.iter().enumerate() {
                flatten_into(&format!("{prefix}.{i}"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), Value::String(s.clone()));
        }
        Value::Null => {
            out.insert(prefix.to_owned(), Value::String(String::new()));
        }
        other => {
            out.insert(prefix.to_owned(), Value::String(other.to_string()));
        }
    }
}

/// A string value as Kubernetes names need it: lower case, with every character that is not
/// a letter, digit, `-` or `.` replaced by `-` (Argo CD's `nameNormalized`).
pub fn normalize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattening_follows_dot_style() {
        let params = json!({
            "name": "users-api",
            "metadata": {"labels": {"env": "prod"}},
            "replicas": 3,
            "enabled": true,
            "zones": ["a", "b"],
            "nothing": null,
            "empty": {},
        });
        let flat = flatten(params.as_object().unwrap());
        assert_eq!(
            Value::Object(flat),
            json!({
                "name": "users-api",
                "metadata.labels.env": "prod",
                "replicas": "3",
                "enabled": "true",
                "zones.0": "a",
                "zones.1": "b",
                "nothing": "",
                "empty": "{}",
            })
        );
    }

    #[test]
    fn names_are_normalized() {
        let cases = [
            ("in-cluster", "in-cluster"),
            ("AKS_Prod West", "aks-prod-west"),
            ("a.b/c", "a.b-c"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want);
        }
    }
}
