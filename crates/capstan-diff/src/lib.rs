//! Pure desired-vs-live comparison of Kubernetes objects, as Argo CD's diff
//! (gitops-engine `pkg/diff`, argo-cd `util/argo/diff`) decides whether a resource is
//! `OutOfSync`.
//!
//! [`diff`] normalises both objects, applies the Application's and `argocd-cm`'s ignore rules
//! (a [`Normalizer`]), compares them and renders a readable unified diff with Secret values
//! masked ([`mask_secret`]).
//!
//! **Architecture Invariant:** this crate is pure: values in, values out. It never depends on
//! tokio, a Kubernetes client or any IO, tonic or Redis. The controller fetches live objects and
//! renders desired ones; this crate only compares them.
//!
//! # Design decision: desired is a subset of live
//!
//! Only what the desired manifest sets is compared. Every field of the desired object must be
//! present in the live object with an equivalent value; fields only the live object has —
//! defaults the API server filled in (`progressDeadlineSeconds`, `dnsPolicy`,
//! `imagePullPolicy`, `protocol: TCP`, ...), fields other controllers own, server metadata —
//! never count as differences. This is a three-way merge without the last-applied
//! configuration: it needs no schema, no annotation and no round trip to the API server, and
//! it never reports defaulting noise. The price is that a field *removed* from Git but still
//! set in the cluster is not seen (except in lists, whose length must match). The exact
//! alternative — a server-side apply dry run whose result is compared with live — needs the
//! API server and so belongs to the controller, later.
//!
//! Equivalences (scalars are equal when): equal JSON; equal Kubernetes quantities when either
//! side is a number (`0.5` and `500m`, `1073741824` and `1Gi`) or both are strings in a
//! quantity field (under `requests`, `limits`, `capacity`, `allocatable`, `hard`, or a
//! `sizeLimit`/`storage` field), so an environment variable `"1000m"` is not equal to `"1"`;
//! int-or-string (`"8080"` and `8080`); a desired `null`, empty map, empty list or Go zero
//! value (`""`, `0`, `false`) and an absent live field (`omitempty`). Lists must have the same
//! members: elements are paired by strategic-merge key for well-known fields (`containers`,
//! `initContainers`, `env`, `volumes` by `name`; `volumeMounts` by `mountPath`; `ports` by
//! `containerPort` or `port`) and by a unique `name` in any other list of objects, otherwise by
//! position; a reordered keyed list is not a difference.
//!
//! # Normalisation
//!
//! Before comparing, both objects lose what Argo CD never compares: `status`,
//! `metadata.managedFields`, `uid`, `resourceVersion`, `creationTimestamp`, `generation`,
//! `selfLink`, `deletionTimestamp`, `deletionGracePeriodSeconds` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation. A Secret's `stringData` is
//! folded into `data`. The application-instance tracking annotation and label are kept: whether
//! they count is the controller's decision. Then ignore rules remove fields from both sides:
//! `managedFieldsManagers` (fields the live object's trusted managers own), `jsonPointers` and
//! `jqPathExpressions`.

mod compare;
mod error;
mod managed_fields;
mod normalizer;
mod object;
mod quantity;
mod secret;

use serde_json::Value;

pub use error::DiffError;
pub use normalizer::Normalizer;
pub use secret::mask_secret;

use crate::compare::{Comparison, without_nulls};
use crate::object::{ObjectRef, strip_server_fields};

/// The result of comparing one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDiff {
    /// The resource is out of sync: a difference, a missing live object or an object to prune.
    pub modified: bool,
    /// The desired object after normalisation and ignore rules, Secret values masked;
    /// `null` when there is no desired object.
    pub normalized_desired: Value,
    /// The live object after normalisation and ignore rules, Secret values masked; `null` when
    /// there is no live object.
    pub normalized_live: Value,
    /// The live object with the desired fields applied — what syncing would produce (Argo CD's
    /// `predictedLiveState`), Secret values masked; `null` when the object would be pruned.
    pub predicted_live: Value,
    /// Unified diff of the YAML of `normalized_live` (`--- live`) against `predicted_live`
    /// (`+++ desired`), keys sorted, Secret values masked; empty when nothing differs.
    pub unified_diff: String,
    /// JSON pointers of the differences. Indices are the desired list's, except for a live
    /// element that no desired element matches. `""` (the whole object) when one side is
    /// missing.
    pub changed_paths: Vec<String>,
}

/// Compares a desired object with the live one.
///
/// `desired: None` means the resource is no longer in Git and requires pruning; `live: None`
/// means it does not exist in the cluster yet. Either makes the result `modified`.
///
/// # Errors
///
/// Both objects absent, a value that is not a JSON object, or YAML rendering failing.
pub fn diff(
    desired: Option<&Value>,
    live: Option<&Value>,
    normalizer: &Normalizer,
) -> Result<ResourceDiff, DiffError> {
    if desired.is_none() && live.is_none() {
        return Err(DiffError::NothingToCompare);
    }
    for (side, value) in [("desired", desired), ("live", live)] {
        if value.is_some_and(|value| !value.is_object()) {
            return Err(DiffError::NotAnObject { side });
        }
    }

    // Fields owned by trusted managers, read before `managedFields` is stripped.
    let owned = live.map_or_else(Vec::new, |live| {
        let object = ObjectRef::of(desired.unwrap_or(live));
        managed_fields::owned_fields(live, &normalizer.trusted_managers(&object))
    });
    let normalize = |value: &Value| {
        let mut value = value.clone();
        strip_server_fields(&mut value);
        for set in &owned {
            managed_fields::remove_owned(&mut value, set);
        }
        normalizer.apply_ignores(&mut value);
        value
    };
    let mut normalized_desired = desired.map_or(Value::Null, normalize);
    let mut normalized_live = live.map_or(Value::Null, normalize);

    let (mut predicted_live, changed_paths) = match (desired, live) {
        (Some(_), Some(_)) => {
            let mut comparison = Comparison::new();
            let predicted = comparison
                .merge(&normalized_desired, Some(&normalized_live))
                .unwrap_or(Value::Null);
            (predicted, comparison.changed)
        }
        (Some(_), None) => (without_nulls(&normalized_desired), vec![String::new()]),
        (None, _) => (Value::Null, vec![String::new()]),
    };

    secret::mask_together(&mut [
        &mut normalized_desired,
        &mut predicted_live,
        &mut normalized_live,
    ]);
    let unified_diff = render_diff(&normalized_live, &predicted_live)?;
    Ok(ResourceDiff {
        modified: !changed_paths.is_empty(),
        normalized_desired,
        normalized_live,
        predicted_live,
        unified_diff,
        changed_paths,
    })
}

/// A unified diff of the two objects' YAML; empty when the texts are equal.
fn render_diff(live: &Value, predicted: &Value) -> Result<String, DiffError> {
    let live_text = to_yaml(live, "live")?;
    let predicted_text = to_yaml(predicted, "desired")?;
    if live_text == predicted_text {
        return Ok(String::new());
    }
    Ok(similar::TextDiff::from_lines(&live_text, &predicted_text)
        .unified_diff()
        .context_radius(3)
        .header("live", "desired")
        .to_string())
}

/// Deterministic YAML: keys sorted at every level, `null` (absent) as the empty text.
fn to_yaml(value: &Value, side: &'static str) -> Result<String, DiffError> {
    if value.is_null() {
        return Ok(String::new());
    }
    serde_yaml_ng::to_string(&sorted(value)).map_err(|source| DiffError::Render { side, source })
}

/// A YAML value with the map keys in sorted order (whatever `serde_json`'s map order is).
fn sorted(value: &Value) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value as Yaml;
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(flag) => Yaml::Bool(*flag),
        Value::Number(number) => serde_yaml_ng::to_value(number).unwrap_or(Yaml::Null),
        Value::String(text) => Yaml::String(text.clone()),
        Value::Array(items) => Yaml::Sequence(items.iter().map(sorted).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by_key(|(key, _)| *key);
            Yaml::Mapping(
                entries
                    .into_iter()
                    .map(|(key, value)| (Yaml::String(key.clone()), sorted(value)))
                    .collect(),
            )
        }
    }
}
