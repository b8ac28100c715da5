//! What an update of a generated Application leaves as it is live: the fields
//! `ignoreApplicationDifferences` names (JSON pointers into the Application, for every app or
//! one by `name`) and the label and annotation keys `preservedFields` lists.

use capstan_types::application_set::{
    ApplicationPreservedFields, ApplicationSetResourceIgnoreDifferences,
};
use serde_json::Value;

use crate::generate::GenerateError;

/// Copies into `desired` (an Application as JSON) what `live` has at the ignored pointers and
/// preserved keys of app `name`; a pointer `live` lacks is removed from `desired`.
pub fn keep_live_fields(
    desired: &mut Value,
    live: &Value,
    name: &str,
    ignore: &[ApplicationSetResourceIgnoreDifferences],
    preserved: Option<&ApplicationPreservedFields>,
) -> Result<(), GenerateError> {
    for rule in ignore
        .iter()
        .filter(|r| r.name.is_empty() || r.name == name)
    {
        if !rule.jq_path_expressions.is_empty() {
            return Err(GenerateError::Invalid(
                "ignoreApplicationDifferences: jqPathExpressions are not supported yet; use \
                 jsonPointers"
                    .to_owned(),
            ));
        }
        for pointer in &rule.json_pointers {
            if !pointer.starts_with('/') {
                return Err(GenerateError::Invalid(format!(
                    "ignoreApplicationDifferences: {pointer:?} is not a JSON pointer"
                )));
            }
            match live.pointer(pointer) {
                Some(value) => set(desired, pointer, value.clone()),
                None => remove(desired, pointer),
            }
        }
    }
    if let Some(p) = preserved {
        for (field, keys) in [("annotations", &p.annotations), ("labels", &p.labels)] {
            for key in keys {
                if let Some(v) = live["metadata"][field].get(key) {
                    desired["metadata"][field][key] = v.clone();
                }
            }
        }
    }
    Ok(())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Sets `value` at `pointer`, creating objects on the way.
fn set(target: &mut Value, pointer: &str, value: Value) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let mut current = target;
    for (i, token) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        if !current.is_object() && !current.is_array() {
            *current = Value::Object(Default::default());
        }
        current = match current {
            Value::Array(list) => match token.parse::<usize>().ok().filter(|n| *n < list.len()) {
                Some(n) => &mut list[n],
                None => return,
            },
            Value::Object(map) => map.entry(token.clone()).or_insert(Value::Null),
            _ => return,
        };
        if last {
            *current = value;
            return;
        }
    }
}

fn remove(target: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = unescape(last);
    let parent = if parent.is_empty() {
        Some(target)
    } else {
        target.pointer_mut(parent)
    };
    match parent {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(list)) => {
            if let Some(n) = last.parse::<usize>().ok().filter(|n| *n < list.len()) {
                list.remove(n);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, pointers: &[&str]) -> ApplicationSetResourceIgnoreDifferences {
        ApplicationSetResourceIgnoreDifferences {
            name: name.to_owned(),
            json_pointers: pointers.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ignored_and_preserved_fields_keep_their_live_values() {
        let live = json!({
            "metadata": {"name": "a", "labels": {"team": "x"}, "annotations": {"owner": "bob"}},
            "spec": {"source": {"targetRevision": "hotfix"}, "syncPolicy": null},
        });
        let desired = json!({
            "metadata": {"name": "a", "labels": {"env": "dev"}},
            "spec": {"source": {"targetRevision": "main", "path": "p"}, "syncPolicy": {"automated": {}}},
        });
        let preserved = ApplicationPreservedFields {
            annotations: vec!["owner".into()],
            labels: vec!["team".into(), "absent".into()],
            ..Default::default()
        };
        let cases: Vec<(Vec<ApplicationSetResourceIgnoreDifferences>, Value)> = vec![
            (vec![], json!("main")),
            (
                vec![rule("", &["/spec/source/targetRevision"])],
                json!("hotfix"),
            ),
            (
                vec![rule("a", &["/spec/source/targetRevision"])],
                json!("hotfix"),
            ),
            (
                vec![rule("b", &["/spec/source/targetRevision"])],
                json!("main"),
            ),
        ];
        for (rules, want) in cases {
            let mut d = desired.clone();
            keep_live_fields(&mut d, &live, "a", &rules, Some(&preserved)).unwrap();
            assert_eq!(d["spec"]["source"]["targetRevision"], want, "{rules:?}");
            assert_eq!(d["metadata"]["annotations"]["owner"], "bob");
            assert_eq!(d["metadata"]["labels"], json!({"env": "dev", "team": "x"}));
        }
        // A pointer live lacks is dropped from what is applied.
        let mut d = desired.clone();
        keep_live_fields(
            &mut d,
            &live,
            "a",
            &[rule("", &["/spec/source/path"])],
            None,
        )
        .unwrap();
        assert!(d["spec"]["source"].get("path").is_none(), "{d}");
        let jq = ApplicationSetResourceIgnoreDifferences {
            jq_path_expressions: vec![".spec".into()],
            ..Default::default()
        };
        assert!(keep_live_fields(&mut d, &live, "a", &[jq], None).is_err());
        assert!(keep_live_fields(&mut d, &live, "a", &[rule("", &["spec"])], None).is_err());
    }
}
