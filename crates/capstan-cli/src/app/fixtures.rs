//! Test fixtures: the `testdata/app-guestbook.json` Application, changed by JSON merge
//! patches (RFC 7386: objects merge, `null` removes).

use capstan_types::Application;
use serde_json::Value;

/// The fixture as JSON.
pub(crate) fn guestbook_json() -> Value {
    serde_json::from_str(include_str!("../../testdata/app-guestbook.json")).expect("valid fixture")
}

/// The fixture with `patch` merged in.
pub(crate) fn guestbook_with(patch: &Value) -> Application {
    let mut value = guestbook_json();
    merge(&mut value, patch);
    serde_json::from_value(value).expect("valid Application")
}

/// The fixture.
pub(crate) fn guestbook() -> Application {
    guestbook_with(&Value::Null)
}

fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Null => {}
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            let object = target.as_object_mut().expect("an object");
            for (key, value) in fields {
                if value.is_null() {
                    object.remove(key);
                } else {
                    merge(object.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}
