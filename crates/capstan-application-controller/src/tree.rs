//! Resource trees: each Application's managed objects and their descendants (by
//! ownerReferences: ReplicaSets, Pods, Jobs, Endpoints...), published to Redis for the
//! api-server, with a pub/sub notification per change.
//!
//! Redis is a cache: when it is down the status is still written and the tree is published
//! again once Redis is back (a tree is only skipped when Redis accepted the same tree before).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use capstan_cache::Cache;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::live::{LiveCache, ObjectKey};

/// Cache kind of resource trees (the key is hashed from the app's namespace and name).
pub const TREE_KIND: &str = capstan_cache::kinds::RESOURCE_TREE;
/// Pub/sub channel announcing a changed tree; the payload is `<namespace>/<name>` of the app.
pub const TREE_CHANNEL: &str = capstan_cache::kinds::RESOURCE_TREE_CHANNEL;
/// Kinds watched only to find managed objects' descendants.
pub const CHILD_KINDS: &[(&str, &str, &str)] = &[
    ("apps", "v1", "ReplicaSet"),
    ("", "v1", "Pod"),
    ("batch", "v1", "Job"),
    ("", "v1", "Endpoints"),
];

/// One node of a resource tree (Argo CD's `ResourceNode`, trimmed to what the UI shows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceNode {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// Resource version seen.
    pub resource_version: String,
    /// UIDs of the owners within the tree (empty for managed objects).
    pub parent_uids: Vec<String>,
    /// Health status, when assessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Health message.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub health_message: String,
    /// Container images (Pods and workloads).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub images: Vec<String>,
    /// Argo CD's `info` entries (Pods: status reason, node, ready containers, restarts).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub info: Vec<InfoItem>,
    /// `metadata.creationTimestamp`.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub created_at: String,
}

/// One `info` entry of a node (Argo CD's `InfoItem`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoItem {
    /// Label, e.g. `Status Reason`.
    pub name: String,
    /// Value, e.g. `Running`.
    pub value: String,
}

/// An Application's resource tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTree {
    /// Managed objects first, then descendants breadth-first.
    pub nodes: Vec<ResourceNode>,
    /// Orphaned resources of the destination namespace, when the project monitors them.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub orphaned_nodes: Vec<ResourceNode>,
}

/// Publishes trees, skipping ones written recently and unchanged since.
///
/// "Recently": a value written more than [`TreePublisher::DEFAULT_REWRITE_AFTER`] ago is
/// written again even when unchanged, because Redis may have lost it meanwhile — its 24 h TTL
/// ran out (a stable app is never re-rendered), or Redis restarted or was flushed without the
/// cache ever seeing it down. Without that, the dashboard showed no tree and no diffs for a
/// stable app a day after its last change.
#[derive(Debug)]
pub struct TreePublisher {
    cache: Cache,
    rewrite_after: std::time::Duration,
    published: Written<ResourceTree>,
    managed: Written<capstan_types::managed::ManagedResources>,
}

/// What a publisher last wrote per app (namespace, name), and when.
type Written<T> = Mutex<HashMap<(String, String), (T, std::time::Instant)>>;

impl TreePublisher {
    /// How long an unchanged value is trusted to still be in Redis (well inside the 24 h TTL).
    pub const DEFAULT_REWRITE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

    /// A publisher writing through `cache`.
    pub fn new(cache: Cache) -> Self {
        Self::with_rewrite_after(cache, Self::DEFAULT_REWRITE_AFTER)
    }

    /// A publisher that writes an unchanged value again once `rewrite_after` has passed.
    pub fn with_rewrite_after(cache: Cache, rewrite_after: std::time::Duration) -> Self {
        Self {
            cache,
            rewrite_after,
            published: Mutex::new(HashMap::new()),
            managed: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `value` for `id` was written recently, unchanged.
    fn fresh<T: PartialEq>(&self, map: &Written<T>, id: &(String, String), value: &T) -> bool {
        map.lock()
            .expect("publisher lock")
            .get(id)
            .is_some_and(|(v, at)| v == value && at.elapsed() < self.rewrite_after)
    }

    /// The cache key of an app's tree.
    pub fn key(cache: &Cache, app_namespace: &str, app_name: &str) -> capstan_cache::CacheKey {
        cache.key(TREE_KIND, &(app_namespace, app_name))
    }

    /// Writes `tree` for the app and notifies subscribers, unless Redis already holds it.
    /// Returns `false` when the tree could not be stored (Redis down): the caller tries again
    /// soon, so the tree comes back by itself with Redis.
    pub async fn publish(&self, app_namespace: &str, app_name: &str, tree: ResourceTree) -> bool {
        let id = (app_namespace.to_owned(), app_name.to_owned());
        if self.fresh(&self.published, &id, &tree) {
            return true;
        }
        // subscribers hear only of a change, not of a rewrite of the same tree
        let changed = self
            .published
            .lock()
            .expect("tree lock")
            .get(&id)
            .is_none_or(|(old, _)| *old != tree);
        let key = Self::key(&self.cache, app_namespace, app_name);
        self.cache
            .set(&key, &tree, std::time::Duration::from_secs(24 * 3600))
            .await;
        if !self.cache.is_available() {
            return false;
        }
        if changed {
            let _ = self
                .cache
                .publish(
                    TREE_CHANNEL,
                    format!("{app_namespace}/{app_name}").as_bytes(),
                )
                .await;
        }
        self.published
            .lock()
            .expect("tree lock")
            .insert(id, (tree, std::time::Instant::now()));
        true
    }
}

impl TreePublisher {
    /// Writes the app's managed resources with their diffs, unless unchanged since the last
    /// write. Returns `false` when Redis is down (the caller tries again soon).
    pub async fn publish_managed(
        &self,
        app_namespace: &str,
        app_name: &str,
        managed: capstan_types::managed::ManagedResources,
    ) -> bool {
        let id = (app_namespace.to_owned(), app_name.to_owned());
        if self.fresh(&self.managed, &id, &managed) {
            return true;
        }
        let key = self.cache.key(
            capstan_cache::kinds::MANAGED_RESOURCES,
            &(app_namespace, app_name),
        );
        self.cache
            .set(&key, &managed, std::time::Duration::from_secs(24 * 3600))
            .await;
        if !self.cache.is_available() {
            return false;
        }
        self.managed
            .lock()
            .expect("managed lock")
            .insert(id, (managed, std::time::Instant::now()));
        true
    }
}

/// The tree of the managed objects `managed` (with their healths): descendants are found among
/// the watched child kinds by ownerReferences.
pub fn build(
    managed: Vec<crate::reconcile::ManagedObject>,
    orphans: Vec<(ObjectKey, std::sync::Arc<kube::api::DynamicObject>)>,
    live: &LiveCache,
) -> ResourceTree {
    let mut nodes: Vec<ResourceNode> = managed
        .into_iter()
        .map(|(key, obj, health)| node(&key, &obj, Vec::new(), health))
        .collect();
    let mut frontier: BTreeSet<String> = nodes
        .iter()
        .map(|n| n.uid.clone())
        .filter(|u| !u.is_empty())
        .collect();
    let candidates = live.children_candidates();
    let mut seen = frontier.clone();
    while !frontier.is_empty() {
        let mut next = BTreeSet::new();
        for (key, obj) in &candidates {
            let uid = obj.uid().unwrap_or_default();
            if seen.contains(&uid) {
                continue;
            }
            let parents: Vec<String> = obj
                .owner_references()
                .iter()
                .filter(|o| frontier.contains(&o.uid))
                .map(|o| o.uid.clone())
                .collect();
            if !parents.is_empty() {
                let value = serde_json::to_value(obj.as_ref()).unwrap_or_default();
                nodes.push(node(key, &value, parents, None));
                seen.insert(uid.clone());
                next.insert(uid);
            }
        }
        frontier = next;
    }
    let orphaned_nodes = orphans
        .iter()
        .map(|(key, obj)| {
            let value = serde_json::to_value(obj.as_ref()).unwrap_or_default();
            node(key, &value, Vec::new(), None)
        })
        .collect();
    ResourceTree {
        nodes,
        orphaned_nodes,
    }
}

fn node(
    key: &ObjectKey,
    obj: &Value,
    parent_uids: Vec<String>,
    health: Option<(String, String)>,
) -> ResourceNode {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let version = obj["apiVersion"]
        .as_str()
        .map(|v| v.rsplit('/').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let health = health.or_else(|| {
        capstan_health::builtin(obj).map(|h| (h.status.as_str().to_owned(), h.message))
    });
    let pod_spec = if key.kind == "Pod" {
        &obj["spec"]
    } else {
        &obj["spec"]["template"]["spec"]
    };
    let images = pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str().map(str::to_owned))
        .collect();
    ResourceNode {
        group: key.group.clone(),
        version,
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        uid: text(&obj["metadata"]["uid"]),
        resource_version: text(&obj["metadata"]["resourceVersion"]),
        parent_uids,
        health: health.as_ref().map(|(s, _)| s.clone()),
        health_message: health.map(|(_, m)| m).unwrap_or_default(),
        images,
        info: if key.kind == "Pod" && key.group.is_empty() {
            pod_info(obj)
        } else {
            Vec::new()
        },
        created_at: text(&obj["metadata"]["creationTimestamp"]),
    }
}

/// Argo CD's Pod `info` (its `populatePodInfo`): the status reason kubectl shows (the phase,
/// refined by the containers' waiting/terminated reasons), the node, ready/total containers and
/// restarts — all read from the Pod the live cache already holds.
pub fn pod_info(pod: &Value) -> Vec<InfoItem> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let status = &pod["status"];
    let mut reason = text(&status["phase"]);
    if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_owned();
    }
    let total = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    let mut ready = 0;
    let mut restarts = 0;
    let mut initializing = false;
    let init_statuses = status["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init_total = pod["spec"]["initContainers"]
        .as_array()
        .map_or(init_statuses.len(), Vec::len);
    for (i, container) in init_statuses.iter().enumerate() {
        restarts += container["restartCount"].as_i64().unwrap_or(0);
        let state = &container["state"];
        let terminated = &state["terminated"];
        if terminated.is_object() && terminated["exitCode"].as_i64() == Some(0) {
            continue;
        }
        if terminated.is_object() {
            reason = match terminated["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => match terminated["signal"].as_i64().filter(|s| *s != 0) {
                    Some(signal) => format!("Init:Signal:{signal}"),
                    None => format!(
                        "Init:ExitCode:{}",
                        terminated["exitCode"].as_i64().unwrap_or(0)
                    ),
                },
            };
        } else if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        let mut running = false;
        let statuses = status["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for container in statuses.iter().rev() {
            restarts += container["restartCount"].as_i64().unwrap_or(0);
            let state = &container["state"];
            let terminated = &state["terminated"];
            if let Some(r) = state["waiting"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_owned();
            } else if let Some(r) = terminated["reason"].as_str().filter(|r| !r.is_empty()) {
                reason = r.to_owned();
            } else if terminated.is_object() {
                reason = match terminated["signal"].as_i64().filter(|s| *s != 0) {
                    Some(signal) => format!("Signal:{signal}"),
                    None => format!("ExitCode:{}", terminated["exitCode"].as_i64().unwrap_or(0)),
                };
            } else if container["ready"] == true && state["running"].is_object() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = "Running".into();
        }
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        reason = if status["reason"] == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let item = |name: &str, value: String| InfoItem {
        name: name.to_owned(),
        value,
    };
    let mut info = Vec::new();
    if !reason.is_empty() {
        info.push(item("Status Reason", reason));
    }
    if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        info.push(item("Node", node.to_owned()));
    }
    info.push(item("Containers", format!("{ready}/{total}")));
    if restarts > 0 {
        info.push(item("Restart Count", restarts.to_string()));
    }
    info
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::pod_info;

    fn rendered(pod: &serde_json::Value) -> Vec<(String, String)> {
        pod_info(pod)
            .into_iter()
            .map(|i| (i.name, i.value))
            .collect()
    }

    #[test]
    fn pod_info_reads_like_kubectl() {
        let running = json!({"ready": true, "restartCount": 0, "state": {"running": {}}});
        let cases = [
            (
                "running and ready",
                json!({"spec": {"nodeName": "n1", "containers": [{}, {}]},
                       "status": {"phase": "Running", "containerStatuses": [
                           running,
                           {"ready": true, "restartCount": 2, "state": {"running": {}}}]}}),
                vec![
                    ("Status Reason", "Running"),
                    ("Node", "n1"),
                    ("Containers", "2/2"),
                    ("Restart Count", "2"),
                ],
            ),
            (
                "pending, not scheduled",
                json!({"spec": {"containers": [{}]}, "status": {"phase": "Pending"}}),
                vec![("Status Reason", "Pending"), ("Containers", "0/1")],
            ),
            (
                "a waiting container names the reason",
                json!({"spec": {"containers": [{}]}, "status": {"phase": "Running",
                       "containerStatuses": [{"ready": false, "restartCount": 3,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
                vec![
                    ("Status Reason", "CrashLoopBackOff"),
                    ("Containers", "0/1"),
                    ("Restart Count", "3"),
                ],
            ),
            (
                "terminated without a reason",
                json!({"spec": {"containers": [{}]}, "status": {"phase": "Failed",
                       "containerStatuses": [{"state": {"terminated": {"exitCode": 2}}}]}}),
                vec![("Status Reason", "ExitCode:2"), ("Containers", "0/1")],
            ),
            (
                "initializing",
                json!({"spec": {"initContainers": [{}, {}], "containers": [{}]},
                       "status": {"phase": "Pending", "initContainerStatuses": [
                           {"state": {"terminated": {"exitCode": 0}}},
                           {"state": {"running": {}}}]}}),
                vec![("Status Reason", "Init:1/2"), ("Containers", "0/1")],
            ),
            (
                "being deleted",
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
                       "spec": {"containers": [{}]},
                       "status": {"phase": "Running", "containerStatuses": [running]}}),
                vec![("Status Reason", "Terminating"), ("Containers", "1/1")],
            ),
        ];
        for (name, pod, want) in cases {
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(rendered(&pod), want, "{name}");
        }
    }
}
