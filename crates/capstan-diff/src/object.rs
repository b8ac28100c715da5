//! Identity of an object and the normalisation every object gets before comparison.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// Group, kind, name and namespace of an object, borrowed from its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ObjectRef<'a> {
    /// API group; `""` for the core group.
    pub(crate) group: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
}

impl<'a> ObjectRef<'a> {
    /// Reads the identity; missing fields are empty.
    pub(crate) fn of(value: &'a Value) -> Self {
        let text = |v: Option<&'a Value>| v.and_then(Value::as_str).unwrap_or_default();
        let api_version = text(value.get("apiVersion"));
        let group = api_version
            .split_once('/')
            .map_or("", |(group, _version)| group);
        let metadata = value.get("metadata");
        Self {
            group,
            kind: text(value.get("kind")),
            name: text(metadata.and_then(|m| m.get("name"))),
            namespace: text(metadata.and_then(|m| m.get("namespace"))),
        }
    }

    /// A core `v1` Secret, whose data is masked.
    pub(crate) fn is_secret(&self) -> bool {
        self.group.is_empty() && self.kind == "Secret"
    }
}

/// Server-populated metadata fields that never count as differences.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// `kubectl apply`'s copy of the last applied manifest.
pub(crate) const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what Argo CD never compares: `status`, server-populated metadata and the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation (an empty `annotations` map
/// left behind is removed too). A Secret's `stringData` is folded into `data`, base64-encoded,
/// as the API server does (gitops-engine's `NormalizeSecret`).
pub(crate) fn strip_server_fields(value: &mut Value) {
    let is_secret = ObjectRef::of(value).is_secret();
    let Some(object) = value.as_object_mut() else {
        return;
    };
    object.remove("status");
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        for field in SERVER_METADATA {
            metadata.remove(*field);
        }
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.remove(LAST_APPLIED_ANNOTATION);
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
    }
    if is_secret {
        fold_string_data(object);
    }
}

/// Moves `stringData` entries into `data` (base64-encoded; `stringData` wins on conflicts).
fn fold_string_data(secret: &mut Map<String, Value>) {
    let Some(Value::Object(string_data)) = secret.remove("stringData") else {
        return;
    };
    if string_data.is_empty() {
        return;
    }
    let data = secret
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(data) = data {
        for (key, value) in string_data {
            let encoded = match value {
                Value::String(text) => Value::String(STANDARD.encode(text)),
                other => other,
            };
            data.insert(key, encoded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_of_core_and_grouped_objects() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"}});
        assert_eq!(
            ObjectRef::of(&deployment),
            ObjectRef {
                group: "apps",
                kind: "Deployment",
                name: "web",
                namespace: "prod"
            }
        );
        let secret = json!({"apiVersion": "v1", "kind": "Secret"});
        assert!(ObjectRef::of(&secret).is_secret());
    }

    #[test]
    fn strips_server_fields_and_folds_string_data() {
        let mut secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "uid": "u", "resourceVersion": "1",
                "annotations": {LAST_APPLIED_ANNOTATION: "{}"}},
            "data": {"a": "eA=="},
            "stringData": {"b": "hello"},
            "status": {}
        });
        strip_server_fields(&mut secret);
        assert_eq!(
            secret,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "data": {"a": "eA==", "b": "aGVsbG8="}})
        );
    }
}
