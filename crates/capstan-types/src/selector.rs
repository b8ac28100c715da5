//! Kubernetes label selectors, evaluated in memory: the text syntax of list filters
//! (`app=web,tier!=db,env in (dev,prod),!legacy,team`) and the structured `LabelSelector`
//! (`matchLabels`, `matchExpressions`) of ApplicationSet generators.

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    /// Parses the Kubernetes selector syntax.
    ///
    /// # Errors
    ///
    /// A message naming the requirement that does not parse.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(input) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let bad = || format!("invalid label selector requirement {part:?}");
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(label_key(key.trim()).ok_or_else(bad)?)
            } else if let Some((key, values)) = split_set(part, " notin ") {
                Requirement::NotIn(
                    label_key(key).ok_or_else(bad)?,
                    set(values).ok_or_else(bad)?,
                )
            } else if let Some((key, values)) = split_set(part, " in ") {
                Requirement::In(
                    label_key(key).ok_or_else(bad)?,
                    set(values).ok_or_else(bad)?,
                )
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotIn(
                    label_key(key).ok_or_else(bad)?,
                    vec![value.trim().to_owned()],
                )
            } else if let Some((key, value)) =
                part.split_once("==").or_else(|| part.split_once('='))
            {
                Requirement::In(
                    label_key(key).ok_or_else(bad)?,
                    vec![value.trim().to_owned()],
                )
            } else {
                Requirement::Exists(label_key(part).ok_or_else(bad)?)
            };
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    /// The structured form: `matchLabels` and `matchExpressions` (`In`, `NotIn`, `Exists`,
    /// `DoesNotExist`).
    ///
    /// # Errors
    ///
    /// A message naming an unknown operator or a set operator without values.
    pub fn from_label_selector(
        selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Result<Self, String> {
        let mut requirements: Vec<Requirement> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::In(k.clone(), vec![v.clone()]))
            .collect();
        for e in selector.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let needs_values = || {
                if values.is_empty() {
                    Err(format!(
                        "label selector: operator {} on {:?} needs values",
                        e.operator, e.key
                    ))
                } else {
                    Ok(())
                }
            };
            requirements.push(match e.operator.as_str() {
                "In" => {
                    needs_values()?;
                    Requirement::In(e.key.clone(), values.clone())
                }
                "NotIn" => {
                    needs_values()?;
                    Requirement::NotIn(e.key.clone(), values.clone())
                }
                "Exists" => Requirement::Exists(e.key.clone()),
                "DoesNotExist" => Requirement::NotExists(e.key.clone()),
                other => {
                    return Err(format!(
                        "label selector: unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)"
                    ));
                }
            });
        }
        Ok(Self(requirements))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn split_set<'a>(part: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let (key, values) = part.split_once(op)?;
    Some((key, values.trim()))
}

fn set(values: &str) -> Option<Vec<String>> {
    let inner = values.strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

fn label_key(key: &str) -> Option<String> {
    let key = key.trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    valid.then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::Selector;
    use std::collections::BTreeMap;

    #[test]
    fn selectors_match_like_kubernetes() {
        let labels: BTreeMap<String, String> = [("app", "web"), ("env", "prod"), ("team", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for (selector, expected) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("env in (dev,prod)", true),
            ("env in (dev, staging)", false),
            ("env notin (dev,staging)", true),
            ("env notin (prod)", false),
            ("team", true),
            ("legacy", false),
            ("!legacy", true),
            ("!team", false),
            ("app=web,env in (prod),!legacy", true),
            ("app=web,env=dev", false),
        ] {
            let parsed = Selector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&labels), expected, "{selector}");
        }
    }

    #[test]
    fn structured_selectors() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
            LabelSelector, LabelSelectorRequirement,
        };
        let labels: BTreeMap<String, String> = [("env", "prod"), ("region", "westeurope")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let expr = |key: &str, operator: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
        };
        let cases = [
            (LabelSelector::default(), Ok(true)),
            (
                LabelSelector {
                    match_labels: Some([("env".to_owned(), "prod".to_owned())].into()),
                    match_expressions: Some(vec![expr(
                        "region",
                        "In",
                        &["westeurope", "northeurope"],
                    )]),
                },
                Ok(true),
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "NotIn", &["prod"])]),
                    ..Default::default()
                },
                Ok(false),
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![
                        expr("region", "Exists", &[]),
                        expr("legacy", "DoesNotExist", &[]),
                    ]),
                    ..Default::default()
                },
                Ok(true),
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "Gt", &["1"])]),
                    ..Default::default()
                },
                Err("unknown operator \"Gt\""),
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "In", &[])]),
                    ..Default::default()
                },
                Err("needs values"),
            ),
        ];
        for (selector, want) in cases {
            match (Selector::from_label_selector(&selector), want) {
                (Ok(s), Ok(w)) => assert_eq!(s.matches(&labels), w, "{selector:?}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
                (got, _) => panic!("{selector:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn malformed_selectors_are_named() {
        for bad in ["a b", "env in dev", "=x", "!"] {
            let err = Selector::parse(bad).unwrap_err();
            assert!(err.contains("invalid label selector"), "{bad}: {err}");
        }
    }
}
