//! Argo CD's default template rendering (fasttemplate): every `{{ param }}` in every string of
//! the template — map keys included — is replaced by the parameter's value; a tag naming no
//! parameter is left exactly as written (so a template that uses `{{name}}` without a `name`
//! parameter produces the text `{{name}}`, as Argo CD does).

use serde_json::{Map, Value};

/// Renders `text` with flattened `params`.
pub fn render_fasttemplate(text: &str, params: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let tag = &after[..end];
        match params.get(tag.trim()).filter(|_| !tag.trim().is_empty()) {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Renders every string (and map key) of `value`.
pub fn render_value(value: &Value, params: &Map<String, Value>) -> Value {
    match value {
        Value::String(s) => Value::String(render_fasttemplate(s, params)),
        Value::Array(list) => Value::Array(list.iter().map(|v| render_value(v, params)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (render_fasttemplate(k, params), render_value(v, params)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_are_replaced_or_kept() {
        let params = json!({"env": "dev", "url": "https://kubernetes.default.svc", "n": "3"});
        let params = params.as_object().unwrap();
        let cases = [
            ("{{name}}-{{env}}", "{{name}}-dev"),
            ("overlays/{{ env }}/x", "overlays/dev/x"),
            ("{{url}}", "https://kubernetes.default.svc"),
            ("no tags", "no tags"),
            ("{{}}", "{{}}"),
            ("{{env", "{{env"),
            ("{{env}}{{n}}", "dev3"),
        ];
        for (text, want) in cases {
            assert_eq!(render_fasttemplate(text, params), want, "{text}");
        }
    }

    #[test]
    fn keys_and_nested_values_render() {
        let params = json!({"env": "prod"});
        let value = json!({"labels": {"env-{{env}}": "{{env}}"}, "list": ["{{env}}", 1]});
        assert_eq!(
            render_value(&value, params.as_object().unwrap()),
            json!({"labels": {"env-prod": "prod"}, "list": ["prod", 1]})
        );
    }
}
