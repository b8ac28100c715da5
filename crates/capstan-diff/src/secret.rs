//! Masking Secret values, as gitops-engine's `HideSecretData` (`pkg/diff/diff.go`) does.
//!
//! Every value under `data` and `stringData` is replaced by a run of `+`. For each key, the
//! first distinct value seen gets `++++++++` (8), the next distinct value 12, then 16, and so
//! on — across all objects masked together. Equal values therefore get equal masks and a
//! changed value a different mask, so a diff shows *which* keys differ without revealing them.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::object::ObjectRef;

/// The first mask; each further distinct value of a key gets [`MASK_STEP`] more characters.
const FIRST_MASK_LEN: usize = 8;
const MASK_STEP: usize = 4;
const SECRET_FIELDS: [&str; 2] = ["data", "stringData"];

/// A copy of `obj` with its `data` and `stringData` values masked when it is a core `Secret`;
/// any other object is returned unchanged. A key holding different values in `data` and
/// `stringData` gets masks of different lengths; [`diff`](crate::diff) masks the desired, predicted
/// and live versions together so that changed keys show.
pub fn mask_secret(obj: &Value) -> Value {
    let mut masked = obj.clone();
    mask_together(&mut [&mut masked]);
    masked
}

/// Masks several versions of one Secret together (desired, predicted, live), so that a key whose
/// value is equal across them gets the same mask in each. Non-Secrets are left alone.
pub(crate) fn mask_together(objects: &mut [&mut Value]) {
    let mut keys = BTreeSet::new();
    for object in objects.iter() {
        if !ObjectRef::of(object).is_secret() {
            continue;
        }
        for field in SECRET_FIELDS {
            if let Some(Value::Object(data)) = object.get(field) {
                keys.extend(data.keys().cloned());
            }
        }
    }
    for key in keys {
        let mut seen: Vec<Value> = Vec::new();
        for object in objects.iter_mut() {
            if !ObjectRef::of(object).is_secret() {
                continue;
            }
            for field in SECRET_FIELDS {
                let Some(Value::Object(data)) = object.get_mut(field) else {
                    continue;
                };
                let Some(value) = data.get_mut(&key) else {
                    continue;
                };
                let position = match seen.iter().position(|other| other == value) {
                    Some(position) => position,
                    None => {
                        seen.push(value.clone());
                        seen.len() - 1
                    }
                };
                *value = Value::String("+".repeat(FIRST_MASK_LEN + MASK_STEP * position));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_values_by_distinct_value() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": "c2VjcmV0", "b": "c2VjcmV0", "c": "b3RoZXI="},
            "stringData": {"d": "plain"}});
        assert_eq!(
            mask_secret(&secret),
            json!({"apiVersion": "v1", "kind": "Secret",
                "data": {"a": "++++++++", "b": "++++++++", "c": "++++++++"},
                "stringData": {"d": "++++++++"}})
        );
    }

    #[test]
    fn masks_together_show_changes() {
        let mut desired = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "eA==", "changed": "bmV3"}});
        let mut live = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "eA==", "changed": "b2xk", "extra": "eg=="}});
        mask_together(&mut [&mut desired, &mut live]);
        assert_eq!(desired["data"]["same"], live["data"]["same"]);
        assert_eq!(desired["data"]["changed"], "++++++++");
        assert_eq!(live["data"]["changed"], "++++++++++++");
        assert_eq!(live["data"]["extra"], "++++++++");
    }

    #[test]
    fn other_kinds_are_untouched() {
        let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        assert_eq!(mask_secret(&config_map), config_map);
        let custom = json!({"apiVersion": "example.com/v1", "kind": "Secret", "data": {"a": "b"}});
        assert_eq!(mask_secret(&custom), custom);
    }
}
