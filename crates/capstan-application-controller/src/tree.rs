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

/// Publishes trees, skipping ones Redis already has.
#[derive(Debug)]
pub struct TreePublisher {
    cache: Cache,
    published: Mutex<HashMap<(String, String), ResourceTree>>,
    managed: Mutex<HashMap<(String, String), capstan_types::managed::ManagedResources>>,
}

impl TreePublisher {
    /// A publisher writing through `cache`.
    pub fn new(cache: Cache) -> Self {
        Self {
            cache,
            published: Mutex::new(HashMap::new()),
            managed: Mutex::new(HashMap::new()),
        }
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
        if self.published.lock().expect("tree lock").get(&id) == Some(&tree) {
            return true;
        }
        let key = Self::key(&self.cache, app_namespace, app_name);
        self.cache
            .set(&key, &tree, std::time::Duration::from_secs(24 * 3600))
            .await;
        if !self.cache.is_available() {
            return false;
        }
        let _ = self
            .cache
            .publish(
                TREE_CHANNEL,
                format!("{app_namespace}/{app_name}").as_bytes(),
            )
            .await;
        self.published.lock().expect("tree lock").insert(id, tree);
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
        if self.managed.lock().expect("managed lock").get(&id) == Some(&managed) {
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
            .insert(id, managed);
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
    }
}
