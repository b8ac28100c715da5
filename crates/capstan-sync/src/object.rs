//! Reading the few fields of a Kubernetes object (as JSON) that planning needs, the way
//! gitops-engine's `unstructured` accessors and `pkg/sync/resource/annotations.go` read them.

use serde_json::Value;

/// `argocd.argoproj.io/sync-options`: comma-separated per-resource sync options.
pub const ANNOTATION_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// `argocd.argoproj.io/sync-wave`: the wave of a resource or hook (an integer).
pub const ANNOTATION_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// `argocd.argoproj.io/hook`: comma-separated hook types.
pub const ANNOTATION_HOOK: &str = "argocd.argoproj.io/hook";
/// `argocd.argoproj.io/hook-delete-policy`: comma-separated hook delete policies.
pub const ANNOTATION_HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// `helm.sh/hook`: comma-separated Helm hook types.
pub const ANNOTATION_HELM_HOOK: &str = "helm.sh/hook";
/// `helm.sh/hook-weight`: Helm's hook weight, Argo CD's wave when no sync-wave is set.
pub const ANNOTATION_HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// `helm.sh/hook-delete-policy`: comma-separated Helm hook delete policies.
pub const ANNOTATION_HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";
/// The finalizer Argo CD puts on every hook it creates (gitops-engine `hook.HookFinalizer`),
/// so that a hook is not garbage-collected before its result is read. The executor removes it
/// once the hook has completed (or when the operation is terminated).
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// The value of annotation `key`, if present and a string. (A non-string annotation value is
/// not valid Kubernetes; it is treated as absent.)
pub(crate) fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// The comma-separated values of annotation `key`: trimmed, empty items dropped, duplicates
/// dropped (first occurrence kept), as gitops-engine's `GetAnnotationCSVs`.
pub(crate) fn annotation_csv(obj: &Value, key: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for item in annotation(obj, key).unwrap_or_default().split(',') {
        let item = item.trim();
        if !item.is_empty() && !values.iter().any(|seen| seen == item) {
            values.push(item.to_owned());
        }
    }
    values
}

/// Whether the comma-separated annotation `key` contains exactly `value` (gitops-engine
/// `HasAnnotationOption`).
pub(crate) fn has_annotation_option(obj: &Value, key: &str, value: &str) -> bool {
    annotation_csv(obj, key).iter().any(|item| item == value)
}

/// A string field at a JSON pointer, `""` when absent.
pub(crate) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `metadata.name`, `""` when absent.
pub(crate) fn name(obj: &Value) -> &str {
    str_at(obj, "/metadata/name")
}

/// `metadata.namespace`, `""` when absent.
pub(crate) fn namespace(obj: &Value) -> &str {
    str_at(obj, "/metadata/namespace")
}

/// `kind`, `""` when absent.
pub(crate) fn kind(obj: &Value) -> &str {
    str_at(obj, "/kind")
}

/// The API group of `apiVersion` (`apps/v1` → `apps`, `v1` → `""`).
pub(crate) fn group(obj: &Value) -> &str {
    let api_version = str_at(obj, "/apiVersion");
    api_version
        .split_once('/')
        .map_or("", |(group, _version)| group)
}

/// Go's `strconv.Atoi` on a 64-bit platform: optional sign, ASCII digits, no spaces.
pub(crate) fn atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Sets `metadata.<field>` on a JSON object, creating `metadata` when needed.
pub(crate) fn set_metadata(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        let metadata = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(serde_json::Map::new());
        }
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.insert(field.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_is_trimmed_deduplicated_and_skips_empty_items() {
        let obj = json!({"metadata": {"annotations": {"a": " PreSync, ,Sync,PreSync ,"}}});
        assert_eq!(annotation_csv(&obj, "a"), vec!["PreSync", "Sync"]);
        assert!(annotation_csv(&obj, "missing").is_empty());
        assert!(has_annotation_option(&obj, "a", "Sync"));
        assert!(!has_annotation_option(&obj, "a", "PostSync"));
    }

    #[test]
    fn atoi_matches_go() {
        for (text, want) in [
            ("5", Some(5)),
            ("-3", Some(-3)),
            ("+7", Some(7)),
            ("007", Some(7)),
            ("", None),
            (" 1", None),
            ("1 ", None),
            ("1.0", None),
            ("0x10", None),
            ("-", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(atoi(text), want, "{text:?}");
        }
    }

    #[test]
    fn group_of_api_version() {
        assert_eq!(group(&json!({"apiVersion": "apps/v1"})), "apps");
        assert_eq!(group(&json!({"apiVersion": "v1"})), "");
        assert_eq!(group(&json!({})), "");
    }
}
