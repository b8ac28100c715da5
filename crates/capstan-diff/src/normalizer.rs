//! Compiled ignore rules: `spec.ignoreDifferences` and `resource.customizations`.

use std::collections::BTreeMap;
use std::fmt;

use capstan_types::application::ResourceIgnoreDifferences;
use capstan_types::settings::{GroupKindPattern, OverrideIgnoreDiff, ResourceCustomization};
use globset::{Glob, GlobMatcher};
use jaq_core::compile::Undefined;
use jaq_core::data::JustLut;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars};
use jaq_json::Val;
use serde_json::Value;

use crate::DiffError;
use crate::object::ObjectRef;

/// Compiled ignore rules, built once per Application and reused for every resource.
///
/// Rules come from the Application's `spec.ignoreDifferences` and from `argocd-cm`'s
/// `resource.customizations` (`ignoreDifferences` of each group/kind, including the `all` /
/// `*/*` entry), as Argo CD's `NewIgnoreNormalizer` (`util/argo/normalizers/diff_normalizer.go`)
/// merges them. A rule applies to an object when its group and kind globs match and its name
/// and namespace are empty or equal.
///
/// Like Argo CD, a pointer or jq expression that does not apply to a particular object (the
/// path does not exist, the expression fails at run time) is skipped for that object instead
/// of failing the comparison. Invalid rules fail [`Normalizer::new`].
///
/// Caveat: jq expressions run to completion. Argo CD stops them after
/// `ignore.normalizer.jq.timeout` (1s); jaq offers no interruption, so an expression that never
/// terminates (`repeat(.)`) blocks the calling thread. Callers comparing untrusted
/// Applications should run [`diff`](crate::diff) off the async executor.
#[derive(Default)]
pub struct Normalizer {
    rules: Vec<Rule>,
}

impl fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Normalizer")
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|rule| &rule.label)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One compiled rule.
struct Rule {
    /// Where the rule came from, for errors and debugging.
    label: String,
    group: GlobMatcher,
    kind: GlobMatcher,
    name: String,
    namespace: String,
    pointers: Vec<Vec<String>>,
    jq: Vec<JqFilter>,
    managers: Vec<String>,
}

/// A rule as written, before compiling.
struct RuleSpec<'a> {
    label: String,
    group: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: &'a str,
    pointers: &'a [String],
    jq: &'a [String],
    managers: &'a [String],
}

/// A compiled `del(<expression>)` program.
struct JqFilter {
    filter: jaq_core::Filter<JustLut<Val>>,
}

impl Normalizer {
    /// Rules from the Application's `spec.ignoreDifferences` and `argocd-cm`'s
    /// `resource.customizations` (including the `*`/`all` patterns).
    ///
    /// # Errors
    ///
    /// An invalid JSON pointer, jq expression or group/kind glob, naming the rule.
    pub fn new(
        app_rules: &[ResourceIgnoreDifferences],
        customizations: &BTreeMap<GroupKindPattern, ResourceCustomization>,
    ) -> Result<Self, DiffError> {
        let mut rules = Vec::new();
        for (index, rule) in app_rules.iter().enumerate() {
            rules.push(Rule::compile(RuleSpec {
                label: format!("spec.ignoreDifferences[{index}]"),
                group: rule.api_group(),
                kind: &rule.kind,
                name: &rule.name,
                namespace: &rule.namespace,
                pointers: &rule.json_pointers,
                jq: &rule.jq_path_expressions,
                managers: &rule.managed_fields_managers,
            })?);
        }
        for (pattern, customization) in customizations {
            let Some(OverrideIgnoreDiff {
                json_pointers,
                jq_path_expressions,
                managed_fields_managers,
                ..
            }) = &customization.ignore_differences
            else {
                continue;
            };
            rules.push(Rule::compile(RuleSpec {
                label: format!("resource.customizations {pattern}"),
                group: &pattern.group,
                kind: &pattern.kind,
                name: "",
                namespace: "",
                pointers: json_pointers,
                jq: jq_path_expressions,
                managers: managed_fields_managers,
            })?);
        }
        Ok(Self { rules })
    }

    /// The rules that apply to an object.
    fn matching(&self, object: &ObjectRef<'_>) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|rule| rule.matches(object))
            .collect()
    }

    /// Field managers whose fields are ignored for this object.
    pub(crate) fn trusted_managers(&self, object: &ObjectRef<'_>) -> Vec<&str> {
        let mut managers: Vec<&str> = self
            .matching(object)
            .into_iter()
            .flat_map(|rule| rule.managers.iter().map(String::as_str))
            .collect();
        managers.sort_unstable();
        managers.dedup();
        managers
    }

    /// Removes the fields named by matching JSON pointers and jq expressions.
    /// `RespectIgnoreDifferences=true`: in the object about to be applied, the fields the
    /// matching rules name by JSON pointer take their live values (or are left out when the
    /// live object lacks them), so a sync does not undo what the comparison is told to
    /// ignore. jq expressions are not applied here (a jq path cannot be written back).
    pub fn keep_live_values(&self, desired: &mut Value, live: &Value) {
        let reference = ObjectRef::of(live);
        let (group, kind, name, namespace) = (
            reference.group.to_owned(),
            reference.kind.to_owned(),
            reference.name.to_owned(),
            reference.namespace.to_owned(),
        );
        let object = ObjectRef {
            group: &group,
            kind: &kind,
            name: &name,
            namespace: &namespace,
        };
        for rule in self.matching(&object) {
            for tokens in &rule.pointers {
                match lookup(live, tokens) {
                    Some(value) => set_pointer(desired, tokens, value.clone()),
                    None => remove_pointer(desired, tokens),
                }
            }
        }
    }

    pub(crate) fn apply_ignores(&self, value: &mut Value) {
        let rules = self.matching(&ObjectRef::of(value));
        for rule in rules {
            for pointer in &rule.pointers {
                remove_pointer(value, pointer);
            }
            for jq in &rule.jq {
                if let Some(result) = jq.run(value) {
                    *value = result;
                }
            }
        }
    }
}

impl Rule {
    fn compile(spec: RuleSpec<'_>) -> Result<Self, DiffError> {
        let RuleSpec {
            label,
            group,
            kind,
            name,
            namespace,
            pointers,
            jq,
            managers,
        } = spec;
        let glob = |pattern: &str| {
            Glob::new(pattern)
                .map(|glob| glob.compile_matcher())
                .map_err(|source| DiffError::InvalidGlob {
                    rule: label.clone(),
                    pattern: pattern.to_owned(),
                    source,
                })
        };
        Ok(Self {
            group: glob(group)?,
            kind: glob(kind)?,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            pointers: pointers
                .iter()
                .map(|pointer| {
                    parse_pointer(pointer).map_err(|reason| DiffError::InvalidJsonPointer {
                        rule: label.clone(),
                        pointer: pointer.clone(),
                        reason,
                    })
                })
                .collect::<Result<_, _>>()?,
            jq: jq
                .iter()
                .map(|expression| {
                    JqFilter::compile(expression).map_err(|message| DiffError::InvalidJq {
                        rule: label.clone(),
                        expression: expression.clone(),
                        message,
                    })
                })
                .collect::<Result<_, _>>()?,
            managers: managers.to_vec(),
            label,
        })
    }

    fn matches(&self, object: &ObjectRef<'_>) -> bool {
        self.group.is_match(object.group)
            && self.kind.is_match(object.kind)
            && (self.name.is_empty() || self.name == object.name)
            && (self.namespace.is_empty() || self.namespace == object.namespace)
    }
}

/// Splits an RFC 6901 pointer into unescaped tokens.
pub(crate) fn parse_pointer(pointer: &str) -> Result<Vec<String>, &'static str> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("a pointer to a field must start with '/'");
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err("'~' must be followed by '0' or '1'"),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// Escapes one token for a JSON pointer.
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Removes the value a pointer names; a path that does not exist is left alone (Argo CD
/// ignores the JSON patch `remove` error). An array index removes the whole element.
fn remove_pointer(value: &mut Value, tokens: &[String]) {
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut current = value;
    for token in parents {
        current = match current {
            Value::Object(map) => match map.get_mut(token) {
                Some(child) => child,
                None => return,
            },
            Value::Array(items) => match array_index(token).and_then(|i| items.get_mut(i)) {
                Some(child) => child,
                None => return,
            },
            _ => return,
        };
    }
    match current {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) => {
            if let Some(index) = array_index(last).filter(|i| *i < items.len()) {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// The value a pointer names, if any.
fn lookup<'a>(value: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens
        .iter()
        .try_fold(value, |current, token| match current {
            Value::Object(map) => map.get(token),
            Value::Array(items) => array_index(token).and_then(|i| items.get(i)),
            _ => None,
        })
}

/// Sets the value a pointer names, creating missing object members on the way; a path through
/// a missing array element or a scalar is left alone.
fn set_pointer(value: &mut Value, tokens: &[String], new: Value) {
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut current = value;
    for token in parents {
        current = match current {
            Value::Object(map) => map
                .entry(token.clone())
                .or_insert_with(|| Value::Object(Default::default())),
            Value::Array(items) => match array_index(token).and_then(|i| items.get_mut(i)) {
                Some(child) => child,
                None => return,
            },
            _ => return,
        };
    }
    match current {
        Value::Object(map) => {
            map.insert(last.clone(), new);
        }
        Value::Array(items) => {
            if let Some(slot) = array_index(last).and_then(|i| items.get_mut(i)) {
                *slot = new;
            }
        }
        _ => {}
    }
}

/// An RFC 6901 array index: `0` or digits without a leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || !token.bytes().all(|b| b.is_ascii_digit())
        || (token.len() > 1 && token.starts_with('0'))
    {
        return None;
    }
    token.parse().ok()
}

impl JqFilter {
    /// Compiles `del(<expression>)`, as Argo CD's `jqNormalizerPatch` does.
    fn compile(expression: &str) -> Result<Self, String> {
        let code = format!("del({expression})");
        let program = File {
            code: code.as_str(),
            path: (),
        };
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs).load(&arena, program).map_err(|errors| {
            let messages: Vec<String> = errors.iter().map(|(_, e)| load_message(e)).collect();
            messages.join("; ")
        })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let messages: Vec<String> = errors
                    .iter()
                    .flat_map(|(_, undefined)| undefined)
                    .map(|(name, undefined)| match undefined {
                        Undefined::Filter(arity) => format!("undefined filter {name}/{arity}"),
                        other => format!("undefined {} {name}", other.as_str()),
                    })
                    .collect();
                messages.join("; ")
            })?;
        Ok(Self { filter })
    }

    /// The first output of the program, or `None` when it fails, yields nothing or yields
    /// something other than an object (an expression such as `.a) | (.b` escapes the `del`).
    fn run(&self, value: &Value) -> Option<Value> {
        let input = jaq_json::read::parse_single(value.to_string().as_bytes()).ok()?;
        let ctx = Ctx::<JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let first = self
            .filter
            .id
            .run((ctx, input))
            .map(jaq_core::unwrap_valr)
            .next()?
            .ok()?;
        serde_json::from_str::<Value>(&first.to_string())
            .ok()
            .filter(Value::is_object)
    }
}

/// A readable jq lex/parse error: what was expected, and where.
fn load_message(error: &jaq_core::load::Error<&str>) -> String {
    use jaq_core::load::Error;
    let near = |rest: &str| {
        let excerpt: String = rest.chars().take(20).collect();
        if excerpt.is_empty() {
            "at the end".to_owned()
        } else {
            format!("at {excerpt:?}")
        }
    };
    let messages: Vec<String> = match error {
        Error::Io(errors) => errors
            .iter()
            .map(|(path, message)| format!("{path}: {message}"))
            .collect(),
        Error::Lex(errors) => errors
            .iter()
            .map(|(expect, rest)| format!("expected {} {}", expect.as_str(), near(rest)))
            .collect(),
        Error::Parse(errors) => errors
            .iter()
            .map(|(expect, rest)| format!("expected {} {}", expect.as_str(), near(rest)))
            .collect(),
    };
    messages.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_live_values_takes_the_named_fields_from_live() {
        let rules: Vec<ResourceIgnoreDifferences> = serde_json::from_value(json!([
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas", "/metadata/annotations/owner"]},
            {"kind": "ConfigMap", "jsonPointers": ["/data/a"]},
        ]))
        .unwrap();
        let normalizer = Normalizer::new(&rules, &BTreeMap::new()).unwrap();
        let deployment = |replicas: i64| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": replicas, "template": {}}})
        };
        let cases = [
            // The HPA scaled to 7: the apply keeps 7; an annotation only Git has is left out.
            (
                {
                    let mut d = deployment(2);
                    d["metadata"]["annotations"] = json!({"owner": "git"});
                    d
                },
                deployment(7),
                {
                    let mut d = deployment(7);
                    d["metadata"]["annotations"] = json!({});
                    d
                },
            ),
            // A live value the desired object lacks is added.
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "live"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "live"}}),
            ),
            // Objects no rule names are untouched.
            (
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "x"}}),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "y"}}),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "x"}}),
            ),
        ];
        for (mut desired, live, expected) in cases {
            normalizer.keep_live_values(&mut desired, &live);
            assert_eq!(desired, expected);
        }
    }

    #[test]
    fn pointers_parse_and_escape() {
        assert_eq!(parse_pointer("/a~1b/c~0d/0").unwrap(), ["a/b", "c~d", "0"]);
        assert!(parse_pointer("a/b").is_err());
        assert!(parse_pointer("").is_err());
        assert!(parse_pointer("/a~2").is_err());
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
    }

    #[test]
    fn remove_pointer_handles_fields_elements_and_missing_paths() {
        let mut value = json!({"a": {"b": 1, "c": 2}, "l": [1, 2, 3]});
        remove_pointer(&mut value, &parse_pointer("/a/b").unwrap());
        remove_pointer(&mut value, &parse_pointer("/l/1").unwrap());
        remove_pointer(&mut value, &parse_pointer("/missing/x").unwrap());
        remove_pointer(&mut value, &parse_pointer("/l/9").unwrap());
        remove_pointer(&mut value, &parse_pointer("/l/01").unwrap());
        assert_eq!(value, json!({"a": {"c": 2}, "l": [1, 3]}));
    }

    #[test]
    fn jq_deletes_selected_paths_and_failures_are_skipped() {
        let filter =
            JqFilter::compile(r#".spec.containers[] | select(.name == "sidecar") | .image"#)
                .unwrap();
        let value = json!({"spec": {"containers": [
            {"name": "app", "image": "a"}, {"name": "sidecar", "image": "s"}
        ]}});
        assert_eq!(
            filter.run(&value).unwrap(),
            json!({"spec": {"containers": [{"name": "app", "image": "a"}, {"name": "sidecar"}]}})
        );
        // Iterating a missing list fails at run time: the object is left as it was.
        assert_eq!(filter.run(&json!({"spec": {}})), None);
        // An expression that escapes `del(...)` and replaces the object is not applied.
        let escape = JqFilter::compile(".spec) | (.spec.containers").unwrap();
        assert_eq!(escape.run(&value), None);
        let message = |expression| JqFilter::compile(expression).err().unwrap_or_default();
        assert!(
            message(".spec[").starts_with("expected "),
            "{}",
            message(".spec[")
        );
        assert_eq!(message("nosuch(1)"), "undefined filter nosuch/1");
    }
}
