//! "Desired is a subset of live": the comparison and the predicted live object.
//!
//! [`merge`] walks the desired value and the live value together. Every field the desired
//! object sets must be present in live with an equivalent value; fields only live has are
//! defaults, other managers' fields or server state and never count. Alongside the verdict it
//! builds the *predicted live* object — live with the desired fields laid over it, which is
//! what applying the desired object would produce — so a text diff of predicted against live
//! shows exactly the differences and none of the defaulted fields.

use serde_json::{Map, Value};

use crate::normalizer::escape_token;
use crate::quantity::Quantity;

/// Fields whose list elements are matched by a key rather than by position, as strategic merge
/// patch does for the Kubernetes types these names belong to.
const MERGE_KEYS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("ephemeralContainers", "name"),
    ("env", "name"),
    ("volumes", "name"),
    ("imagePullSecrets", "name"),
    ("volumeMounts", "mountPath"),
    ("volumeDevices", "devicePath"),
    ("hostAliases", "ip"),
];

/// Map keys whose values are quantities, compared by amount even when both sides are strings.
const QUANTITY_PARENTS: &[&str] = &["requests", "limits", "capacity", "allocatable", "hard"];
/// Fields that are quantities themselves.
const QUANTITY_FIELDS: &[&str] = &["sizeLimit", "storage"];

/// Walks desired and live; see the module documentation.
pub(crate) struct Comparison {
    /// JSON pointers of the differences, in desired-walk order.
    pub(crate) changed: Vec<String>,
    path: Vec<String>,
}

impl Comparison {
    pub(crate) fn new() -> Self {
        Self {
            changed: Vec::new(),
            path: Vec::new(),
        }
    }

    fn record(&mut self) {
        let pointer: String = self
            .path
            .iter()
            .map(|token| format!("/{}", escape_token(token)))
            .collect();
        if !self.changed.contains(&pointer) {
            self.changed.push(pointer);
        }
    }

    fn at<T>(&mut self, token: String, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(token);
        let result = f(self);
        self.path.pop();
        result
    }

    /// Compares `desired` with `live` (absent: `None`) and returns the predicted live value
    /// (absent: `None`).
    pub(crate) fn merge(&mut self, desired: &Value, live: Option<&Value>) -> Option<Value> {
        match desired {
            // An explicit null asks for the field to be absent (apply deletes it).
            Value::Null => {
                if live.is_none_or(is_empty) {
                    live.cloned()
                } else {
                    self.record();
                    None
                }
            }
            Value::Object(desired_map) => match live {
                Some(Value::Object(live_map)) => Some(Value::Object(self.merge_maps(
                    desired_map,
                    live_map.clone(),
                    live_map,
                ))),
                None | Some(Value::Null) => {
                    let before = self.changed.len();
                    let merged = self.merge_maps(desired_map, Map::new(), &Map::new());
                    if self.changed.len() == before {
                        // Only empty values were asked for: absent is the same.
                        live.cloned()
                    } else {
                        Some(Value::Object(merged))
                    }
                }
                Some(_) => {
                    self.record();
                    Some(without_nulls(desired))
                }
            },
            Value::Array(desired_items) => match live {
                Some(Value::Array(live_items)) => {
                    Some(Value::Array(self.merge_lists(desired_items, live_items)))
                }
                None | Some(Value::Null) if desired_items.is_empty() => live.cloned(),
                _ => {
                    self.record();
                    Some(without_nulls(desired))
                }
            },
            scalar => match live {
                Some(live_scalar) if self.scalars_equal(scalar, live_scalar) => {
                    Some(live_scalar.clone())
                }
                // Go's `omitempty`: a zero value and an absent field are the same.
                None | Some(Value::Null) if is_zero(scalar) => live.cloned(),
                _ => {
                    self.record();
                    Some(scalar.clone())
                }
            },
        }
    }

    fn merge_maps(
        &mut self,
        desired: &Map<String, Value>,
        mut result: Map<String, Value>,
        live: &Map<String, Value>,
    ) -> Map<String, Value> {
        for (key, desired_value) in desired {
            let merged = self.at(key.clone(), |this| this.merge(desired_value, live.get(key)));
            match merged {
                Some(value) => result.insert(key.clone(), value),
                None => result.remove(key),
            };
        }
        result
    }

    fn merge_lists(&mut self, desired: &[Value], live: &[Value]) -> Vec<Value> {
        let field = self.path.last().map(String::as_str).unwrap_or_default();
        let pairing = match merge_key(field, desired, live) {
            Some(key) => pair_by_key(key, desired, live),
            None => (0..desired.len())
                .map(|index| (index < live.len()).then_some(index))
                .collect(),
        };
        let mut merged: Vec<Value> = Vec::with_capacity(desired.len());
        for (index, (desired_item, live_index)) in desired.iter().zip(&pairing).enumerate() {
            let item = self.at(index.to_string(), |this| match live_index {
                Some(live_index) => this.merge(desired_item, Some(&live[*live_index])),
                None => {
                    this.record();
                    Some(without_nulls(desired_item))
                }
            });
            merged.push(item.unwrap_or(Value::Null));
        }
        let mut unmatched_live = false;
        for live_index in 0..live.len() {
            if !pairing.contains(&Some(live_index)) {
                unmatched_live = true;
                self.at(live_index.to_string(), Self::record);
            }
        }
        // Same members, possibly reordered: keep live's order so the text diff shows no move.
        if !unmatched_live && pairing.iter().all(Option::is_some) {
            let mut in_live_order: Vec<(usize, Value)> =
                pairing.iter().flatten().copied().zip(merged).collect();
            in_live_order.sort_by_key(|(live_index, _)| *live_index);
            return in_live_order.into_iter().map(|(_, item)| item).collect();
        }
        merged
    }

    /// Scalar equivalence: equal JSON; equal quantities when one side is a number, or both
    /// sides are strings in a quantity field; int-or-string (`"8080"` and `8080`).
    fn scalars_equal(&self, desired: &Value, live: &Value) -> bool {
        if desired == live {
            return true;
        }
        let quantity = |value: &Value| match value {
            Value::String(text) => Quantity::parse(text),
            Value::Number(number) => Quantity::parse(&number.to_string()),
            _ => None,
        };
        let comparable = match (desired, live) {
            (Value::Number(_), Value::Number(_) | Value::String(_))
            | (Value::String(_), Value::Number(_)) => true,
            (Value::String(_), Value::String(_)) => self.in_quantity_field(),
            _ => false,
        };
        comparable
            && match (quantity(desired), quantity(live)) {
                (Some(left), Some(right)) => left == right,
                _ => false,
            }
    }

    fn in_quantity_field(&self) -> bool {
        let mut tokens = self.path.iter().rev();
        let field = tokens.next().map(String::as_str).unwrap_or_default();
        let parent = tokens.next().map(String::as_str).unwrap_or_default();
        QUANTITY_FIELDS.contains(&field) || QUANTITY_PARENTS.contains(&parent)
    }
}

/// The key that identifies elements of this list, when every element on both sides is an
/// object with a distinct value for it: the strategic-merge key of well-known fields, the
/// container or service port for `ports`, otherwise `name`.
fn merge_key(field: &str, desired: &[Value], live: &[Value]) -> Option<&'static str> {
    let candidates: &[&'static str] = match field {
        "ports" => &["containerPort", "port"],
        _ => match MERGE_KEYS.iter().find(|(name, _)| *name == field) {
            Some((_, key)) => std::slice::from_ref(key),
            None => &["name"],
        },
    };
    candidates
        .iter()
        .copied()
        .find(|key| unique_keys(key, desired) && unique_keys(key, live))
}

fn unique_keys(key: &str, items: &[Value]) -> bool {
    let mut seen: Vec<&Value> = Vec::with_capacity(items.len());
    for item in items {
        match item.get(key) {
            Some(value @ (Value::String(_) | Value::Number(_)))
                if !seen.iter().any(|other| key_equal(other, value)) =>
            {
                seen.push(value);
            }
            _ => return false,
        }
    }
    true
}

/// Key values compare as int-or-string (`8080` and `"8080"` are one port).
fn key_equal(left: &Value, right: &Value) -> bool {
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    text(left) == text(right)
}

/// For each desired element, the index of the live element with the same key.
fn pair_by_key(key: &str, desired: &[Value], live: &[Value]) -> Vec<Option<usize>> {
    desired
        .iter()
        .map(|item| {
            let wanted = &item[key];
            live.iter()
                .position(|candidate| key_equal(&candidate[key], wanted))
        })
        .collect()
}

/// Null, an empty map or an empty list: the same as absent.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// A Go zero value that `omitempty` leaves out of the live object.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => !flag,
        Value::String(text) => text.is_empty(),
        Value::Number(number) => number.as_f64() == Some(0.0),
        _ => false,
    }
}

/// The desired value as it would be stored: explicit nulls (deletions) dropped.
pub(crate) fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}
