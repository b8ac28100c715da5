//! `managedFieldsManagers`: ignore the fields that trusted field managers own.
//!
//! Argo CD (`util/argo/managedfields/managed_fields.go`) reads the live object's
//! `metadata.managedFields`, takes the `fieldsV1` sets of the trusted managers and removes
//! those fields from both the live and the desired object. It converts paths with a deduced
//! schema, so it can only remove map fields; this module also follows `k:` (associative-list
//! key), `v:` (set value) and `i:` (index) path elements into lists.
//!
//! A `fieldsV1` node whose only child is `.` (or that is empty) is a leaf: the field or list
//! element it names is owned as a whole and removed. A node with other children only owns
//! those children, so the list element itself stays (and stays compared).

use serde_json::{Map, Value};

/// The merged `fieldsV1` sets of the live object's entries written by `managers`.
pub(crate) fn owned_fields(live: &Value, managers: &[&str]) -> Vec<Map<String, Value>> {
    if managers.is_empty() {
        return Vec::new();
    }
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| {
            entry
                .get("manager")
                .and_then(Value::as_str)
                .is_some_and(|manager| managers.contains(&manager))
        })
        .filter_map(|entry| entry.get("fieldsV1").and_then(Value::as_object).cloned())
        .collect()
}

/// Removes every field in `set` from `value`.
pub(crate) fn remove_owned(value: &mut Value, set: &Map<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, child) in set {
                let Some(field) = key.strip_prefix("f:") else {
                    continue;
                };
                if is_leaf(child) {
                    map.remove(field);
                } else if let (Some(target), Some(child)) = (map.get_mut(field), child.as_object())
                {
                    remove_owned(target, child);
                }
            }
        }
        Value::Array(items) => {
            let mut remove = Vec::new();
            for (key, child) in set {
                let matched: Vec<usize> = if let Some(json) = key.strip_prefix("k:") {
                    let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(json) else {
                        continue;
                    };
                    indices(items, |item| {
                        keys.iter()
                            .all(|(name, wanted)| item.get(name) == Some(wanted))
                    })
                } else if let Some(json) = key.strip_prefix("v:") {
                    let Ok(wanted) = serde_json::from_str::<Value>(json) else {
                        continue;
                    };
                    indices(items, |item| *item == wanted)
                } else if let Some(index) = key.strip_prefix("i:") {
                    index
                        .parse::<usize>()
                        .ok()
                        .filter(|i| *i < items.len())
                        .into_iter()
                        .collect()
                } else {
                    continue;
                };
                if is_leaf(child) {
                    remove.extend(matched);
                } else if let Some(child) = child.as_object() {
                    for index in matched {
                        remove_owned(&mut items[index], child);
                    }
                }
            }
            remove.sort_unstable();
            remove.dedup();
            for index in remove.into_iter().rev() {
                items.remove(index);
            }
        }
        _ => {}
    }
}

fn indices(items: &[Value], predicate: impl Fn(&Value) -> bool) -> Vec<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| predicate(item))
        .map(|(index, _)| index)
        .collect()
}

/// A node that owns its field or element as a whole.
fn is_leaf(node: &Value) -> bool {
    node.as_object()
        .is_none_or(|children| children.keys().all(|key| key == "."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removes_fields_keyed_elements_and_set_values() {
        let set = json!({
            "f:metadata": {"f:annotations": {"f:hpa": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:resources": {"f:limits": {}}},
                    "k:{\"name\":\"injected\"}": {".": {}}
                }}},
                "f:finalizers": {"v:\"keep-me\"": {}}
            }
        });
        let mut value = json!({
            "metadata": {"annotations": {"hpa": "x", "other": "y"}},
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [
                    {"name": "app", "image": "a", "resources": {"limits": {"cpu": "1"}}},
                    {"name": "injected", "image": "i"}
                ]}},
                "finalizers": ["keep-me", "other"]
            }
        });
        remove_owned(&mut value, set.as_object().unwrap());
        assert_eq!(
            value,
            json!({
                "metadata": {"annotations": {"other": "y"}},
                "spec": {
                    "template": {"spec": {"containers": [
                        {"name": "app", "image": "a", "resources": {}}
                    ]}},
                    "finalizers": ["other"]
                }
            })
        );
    }

    #[test]
    fn only_trusted_managers_count() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl", "fieldsV1": {"f:spec": {"f:paused": {}}}}
        ]}});
        let sets = owned_fields(&live, &["kube-controller-manager"]);
        assert_eq!(sets.len(), 1);
        assert!(sets[0]["f:spec"].get("f:replicas").is_some());
        assert!(owned_fields(&live, &[]).is_empty());
    }
}
