//! An Application's managed resources as the controller last compared them: what the API's
//! `ManagedResources` returns (Argo CD's `ResourceDiff`), shared through the cache.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One managed resource and its diff. Every state has Secret values masked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResource {
    /// API group (`""` for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (`""` for cluster-scoped resources).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Desired state after normalisation; `null` when the resource is to be pruned.
    pub target_state: Value,
    /// Live state after normalisation; `null` when missing from the cluster.
    pub normalized_live_state: Value,
    /// The live state with the desired fields applied; `null` when to be pruned.
    pub predicted_live_state: Value,
    /// Whether live differs from desired (including missing or to be pruned).
    pub modified: bool,
    /// Whether the resource is a hook.
    #[serde(default)]
    pub hook: bool,
    /// The live object's resourceVersion.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
}

/// The entry the controller writes per Application.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResources {
    /// The resources in the controller's order.
    pub items: Vec<ManagedResource>,
}
