//! The live-state cache of one cluster: one watch per group/version/kind in use, shared by
//! every Application on that cluster.
//!
//! A kind is watched from the first time an Application's desired manifests name it, and stays
//! watched. Objects are kept without `metadata.managedFields` and the last-applied annotation
//! (the bulk of a typical object, and never compared).
//!
//! A cluster Secret with `namespaces` (Argo CD's namespace-scoped cluster) confines the cache:
//! namespaced kinds are listed and watched in each of those namespaces only, cluster-scoped
//! kinds not at all unless `clusterResources` is true — so a controller whose RBAC covers just
//! those namespaces works — and an Application naming an object outside them gets Argo CD's
//! comparison error instead of a forbidden watch. Every change of a watched object that an
//! Application tracks — by tracking annotation/label, or because it is in the Application's
//! last desired set — wakes that Application up, so a `kubectl edit` is noticed in seconds,
//! not at the next periodic reconcile.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Discovery, Scope};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;

use capstan_types::settings::Cluster;

use crate::tracking;

/// What a cache may watch: Argo CD's cluster Secret `namespaces` and `clusterResources`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchScope {
    /// The only namespaces watched, sorted; empty: the whole cluster.
    namespaces: Vec<String>,
    /// With `namespaces`: whether cluster-scoped kinds are watched (and may be managed).
    cluster_resources: bool,
}

impl WatchScope {
    /// The whole cluster.
    pub fn cluster() -> Self {
        Self::default()
    }

    /// `namespaces` only (empty: the whole cluster), plus cluster-scoped kinds when
    /// `cluster_resources`.
    pub fn namespaces(
        namespaces: impl IntoIterator<Item = impl Into<String>>,
        cluster_resources: bool,
    ) -> Self {
        let set: BTreeSet<String> = namespaces.into_iter().map(Into::into).collect();
        Self {
            // Without a namespace list every kind is watched: the flag means nothing then.
            cluster_resources: cluster_resources && !set.is_empty(),
            namespaces: set.into_iter().collect(),
        }
    }

    /// The scope a cluster Secret declares.
    pub fn of(cluster: &Cluster) -> Self {
        Self::namespaces(
            cluster.namespaces.iter().cloned(),
            cluster.cluster_resources,
        )
    }

    /// Why `kind` `name` in `namespace` ("" for cluster-scoped) cannot be managed on this
    /// cluster, in Argo CD's words; `None` when it can.
    pub fn refusal(&self, kind: &str, namespace: &str, name: &str) -> Option<String> {
        if self.namespaces.is_empty() {
            None
        } else if namespace.is_empty() {
            (!self.cluster_resources).then(|| {
                format!("Cluster level {kind} {name:?} can not be managed when in namespaced mode")
            })
        } else if self
            .namespaces
            .binary_search_by(|n| n.as_str().cmp(namespace))
            .is_err()
        {
            Some(format!(
                "Namespace {namespace:?} for {kind} {name:?} is not managed"
            ))
        } else {
            None
        }
    }

    /// Where a kind is listed and watched: `None` for the whole cluster, else one namespace
    /// each; empty when the kind is out of scope.
    fn targets(&self, namespaced: bool) -> Vec<Option<String>> {
        match (self.namespaces.is_empty(), namespaced) {
            (true, _) => vec![None],
            (false, true) => self.namespaces.iter().cloned().map(Some).collect(),
            (false, false) if self.cluster_resources => vec![None],
            (false, false) => Vec::new(),
        }
    }
}

/// Identity of one object: group, kind, namespace ("" for cluster-scoped), name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// API group ("" for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, "" for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// A resolved kind: how to reach it and whether it is namespaced.
#[derive(Clone, Debug)]
pub struct KindInfo {
    /// The API resource (preferred version as served).
    pub resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

/// Wakes an Application (by instance name) when something it tracks changed.
pub type Trigger = mpsc::UnboundedSender<String>;

/// The cache of one cluster.
pub struct LiveCache {
    client: Client,
    scope: WatchScope,
    discovery: RwLock<Option<(Instant, Discovery)>>,
    watches: Mutex<HashMap<(String, String), Watch>>,
    /// Serialises discovery runs, so concurrent first reconciles share one.
    discovery_run: tokio::sync::Mutex<()>,
    child_kinds: Mutex<Vec<KindInfo>>,
    shared: Arc<Shared>,
    /// The watch tasks, stopped when the cache is dropped (a cluster Secret changed or went).
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for LiveCache {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for task in tasks.iter() {
                task.abort();
            }
        }
    }
}

/// The watch of one kind — one reflector for the whole cluster, or one per namespace of a
/// namespace-scoped cluster, or none for a kind out of scope — and its first-list readiness,
/// shared by all callers.
#[derive(Clone)]
struct Watch {
    parts: Vec<WatchPart>,
    ready: Arc<tokio::sync::OnceCell<()>>,
}

/// One reflector of a [`Watch`].
#[derive(Clone)]
struct WatchPart {
    /// `None`: every namespace.
    namespace: Option<String>,
    store: Store<DynamicObject>,
    /// The reflector's latest error, cleared by its next event: a watch that cannot list (no
    /// rights, bad credentials) fails its callers at once instead of after the start timeout.
    error: Arc<Mutex<Option<String>>>,
}

impl Watch {
    /// Every object held, across the parts.
    fn state(&self) -> impl Iterator<Item = Arc<DynamicObject>> + '_ {
        self.parts.iter().flat_map(|p| p.store.state())
    }

    /// The object `reference` names, from the part that holds its namespace.
    fn get(&self, reference: &ObjectRef<DynamicObject>) -> Option<Arc<DynamicObject>> {
        self.parts
            .iter()
            .filter(|p| p.namespace.is_none() || p.namespace == reference.namespace)
            .find_map(|p| p.store.get(reference))
    }

    fn len(&self) -> usize {
        self.parts.iter().map(|p| p.store.state().len()).sum()
    }

    /// The first error any part reports.
    fn error(&self) -> Option<String> {
        self.parts.iter().find_map(|p| {
            let error = p.error.lock().expect("watch error lock").clone()?;
            Some(match &p.namespace {
                Some(namespace) => format!("in namespace {namespace}: {error}"),
                None => error,
            })
        })
    }
}

/// What the watch tasks need to decide whom to wake.
struct Shared {
    /// Desired objects of each app from its last reconcile, for waking apps whose objects were
    /// applied without tracking metadata.
    desired_index: Mutex<HashMap<ObjectKey, BTreeSet<String>>>,
    /// Apps monitoring orphaned resources, by destination namespace: any top-level object
    /// appearing or going there wakes them.
    orphan_watchers: Mutex<HashMap<String, BTreeSet<String>>>,
    tracking: RwLock<tracking::Tracking>,
    trigger: Trigger,
}

impl std::fmt::Debug for LiveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let watches = self.watches.lock().map(|w| w.len()).unwrap_or(0);
        write!(f, "LiveCache({watches} kinds watched)")
    }
}

/// Errors of the live cache.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The cluster does not serve this kind.
    #[error("the cluster does not serve {api_version} {kind}")]
    UnknownKind {
        /// apiVersion as written.
        api_version: String,
        /// Kind as written.
        kind: String,
    },
    /// The object lies outside the namespaces a namespace-scoped cluster allows.
    #[error("{0}")]
    NotManaged(String),
    /// API discovery failed.
    #[error("API discovery failed: {0}")]
    Discovery(#[source] kube::Error),
    /// The first list of a newly watched kind failed.
    #[error("watching {0} did not start: {1}")]
    WatchStart(String, String),
}

impl LiveCache {
    /// A cache for the cluster behind `client`, watching within `scope`; changes go to
    /// `trigger`.
    pub fn new(client: Client, scope: WatchScope, trigger: Trigger) -> Arc<Self> {
        Arc::new(Self {
            client,
            scope,
            discovery: RwLock::new(None),
            watches: Mutex::new(HashMap::new()),
            discovery_run: tokio::sync::Mutex::new(()),
            child_kinds: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
            shared: Arc::new(Shared {
                desired_index: Mutex::new(HashMap::new()),
                orphan_watchers: Mutex::new(HashMap::new()),
                tracking: RwLock::new(tracking::Tracking::default()),
                trigger,
            }),
        })
    }

    /// The client of this cache's cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// What this cache watches.
    pub fn scope(&self) -> &WatchScope {
        &self.scope
    }

    /// Sets how objects are tracked (from argocd-cm).
    pub fn set_tracking(&self, tracking: tracking::Tracking) {
        if let Ok(mut current) = self.shared.tracking.write() {
            *current = tracking;
        }
    }

    /// Resolves `apiVersion`/`kind` to the served resource, re-running discovery (at most every
    /// 10 s) when the kind is unknown, e.g. a CRD installed since.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<KindInfo, LiveError> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        for attempt in 0..2 {
            let stale = {
                let guard = self.discovery.read().expect("discovery lock");
                match guard.as_ref() {
                    Some((_, discovery)) => {
                        if let Some((resource, caps)) = discovery.resolve_gvk(&gvk) {
                            return Ok(info(resource, &caps));
                        }
                        guard
                            .as_ref()
                            .is_some_and(|(at, _)| at.elapsed() > Duration::from_secs(10))
                    }
                    None => true,
                }
            };
            if attempt == 0 && stale {
                let _running = self.discovery_run.lock().await;
                let refreshed_meanwhile = self
                    .discovery
                    .read()
                    .expect("discovery lock")
                    .as_ref()
                    .is_some_and(|(at, d)| {
                        at.elapsed() < Duration::from_secs(1) || d.resolve_gvk(&gvk).is_some()
                    });
                if refreshed_meanwhile {
                    continue;
                }
                let discovery = Discovery::new(self.client.clone())
                    .run()
                    .await
                    .map_err(LiveError::Discovery)?;
                *self.discovery.write().expect("discovery lock") =
                    Some((Instant::now(), discovery));
            } else {
                break;
            }
        }
        Err(LiveError::UnknownKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        })
    }

    /// The watch of a kind, starting it on first use and waiting for the first list.
    async fn store(&self, kind: &KindInfo) -> Result<Watch, LiveError> {
        let key = (kind.resource.group.clone(), kind.resource.kind.clone());
        // Look up or start the watch under the lock, so a kind is never watched twice.
        let watch = self
            .watches
            .lock()
            .expect("watches lock")
            .entry(key)
            .or_insert_with(|| Watch {
                parts: self
                    .scope
                    .targets(kind.namespaced)
                    .into_iter()
                    .map(|namespace| self.start_watch(kind, namespace))
                    .collect(),
                ready: Arc::new(tokio::sync::OnceCell::new()),
            })
            .clone();
        // Every caller waits on the same readiness: a Store's own wait wakes only one waiter.
        watch
            .ready
            .get_or_try_init(|| async {
                let failed = async {
                    loop {
                        // Give a watch that is about to succeed its chance first.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if let Some(error) = watch.error() {
                            return error;
                        }
                    }
                };
                let all_ready = futures::future::try_join_all(
                    watch.parts.iter().map(|p| p.store.wait_until_ready()),
                );
                let start_failure =
                    |e: String| LiveError::WatchStart(kind.resource.kind.clone(), e);
                tokio::select! {
                    biased;
                    ready = tokio::time::timeout(Duration::from_secs(30), all_ready) => ready
                        .map_err(|_| start_failure("timed out".into()))?
                        .map(|_| ())
                        .map_err(|e| start_failure(e.to_string())),
                    error = failed => Err(start_failure(error)),
                }
            })
            .await?;
        Ok(watch)
    }

    /// Starts one reflector of `kind`, in `namespace` or (`None`) cluster-wide.
    fn start_watch(&self, kind: &KindInfo, namespace: Option<String>) -> WatchPart {
        let api: Api<DynamicObject> = match &namespace {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, &kind.resource),
            None => Api::all_with(self.client.clone(), &kind.resource),
        };
        let error = Arc::new(Mutex::new(None));
        let task_error = error.clone();
        let writer = reflector::store::Writer::new(kind.resource.clone());
        let (type_api_version, type_kind) = (
            kind.resource.api_version.clone(),
            kind.resource.kind.clone(),
        );
        let reader = writer.as_reader();
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default())
                .modify(move |obj: &mut DynamicObject| {
                    // List items of built-in kinds come without apiVersion/kind: restore them,
                    // or diff, health and trees would see typeless objects after a restart.
                    obj.types.get_or_insert_with(|| kube::api::TypeMeta {
                        api_version: type_api_version.clone(),
                        kind: type_kind.clone(),
                    });
                    obj.metadata.managed_fields = None;
                    if let Some(a) = obj.metadata.annotations.as_mut() {
                        a.remove("kubectl.kubernetes.io/last-applied-configuration");
                    }
                })
                .default_backoff(),
        )
        .touched_objects();
        let group = kind.resource.group.clone();
        let kind_name = kind.resource.kind.clone();
        let namespaced = kind.namespaced;
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Ok(mut last) = task_error.lock() {
                    *last = event.as_ref().err().map(ToString::to_string);
                }
                match event {
                    Ok(obj) => {
                        let key = ObjectKey {
                            group: group.clone(),
                            kind: kind_name.clone(),
                            namespace: if namespaced {
                                obj.namespace().unwrap_or_default()
                            } else {
                                String::new()
                            },
                            name: obj.name_any(),
                        };
                        for app in shared.apps_for(&obj, &key) {
                            let _ = shared.trigger.send(app);
                        }
                    }
                    Err(e) => tracing::warn!(kind = %kind_name, "watch error: {e}"),
                }
            }
        });
        self.tasks
            .lock()
            .expect("tasks lock")
            .push(task.abort_handle());
        WatchPart {
            namespace,
            store: reader,
            error,
        }
    }

    /// Watches every namespaced kind the cluster lists and watches, except those `excluded`
    /// (group, kind) — what orphaned-resource monitoring needs, since an orphan can be of any
    /// kind. Done once per cache; kinds served later are picked up by the next call.
    pub async fn watch_all_namespaced(
        &self,
        excluded: impl Fn(&str, &str) -> bool,
    ) -> Result<(), LiveError> {
        {
            let fresh = self
                .discovery
                .read()
                .expect("discovery lock")
                .as_ref()
                .is_some_and(|(at, _)| at.elapsed() < Duration::from_secs(60));
            if !fresh {
                let _running = self.discovery_run.lock().await;
                let discovery = Discovery::new(self.client.clone())
                    .run()
                    .await
                    .map_err(LiveError::Discovery)?;
                *self.discovery.write().expect("discovery lock") =
                    Some((Instant::now(), discovery));
            }
        }
        let kinds: Vec<KindInfo> = {
            let guard = self.discovery.read().expect("discovery lock");
            let Some((_, discovery)) = guard.as_ref() else {
                return Ok(());
            };
            discovery
                .groups()
                .flat_map(|g| g.recommended_resources())
                .filter(|(r, caps)| {
                    caps.scope == Scope::Namespaced
                        && caps.supports_operation(kube::discovery::verbs::WATCH)
                        && caps.supports_operation(kube::discovery::verbs::LIST)
                        && !excluded(&r.group, &r.kind)
                })
                .map(|(r, caps)| info(r, &caps))
                .collect()
        };
        let watched: BTreeSet<(String, String)> = self
            .watches
            .lock()
            .expect("watches lock")
            .keys()
            .cloned()
            .collect();
        for kind in kinds {
            if !watched.contains(&(kind.resource.group.clone(), kind.resource.kind.clone())) {
                self.watch(&kind).await?;
            }
        }
        Ok(())
    }

    /// Every watched object in `namespace`.
    pub fn objects_in_namespace(&self, namespace: &str) -> Vec<(ObjectKey, Arc<DynamicObject>)> {
        let watches: Vec<_> = self
            .watches
            .lock()
            .expect("watches lock")
            .iter()
            .map(|((g, k), w)| (g.clone(), k.clone(), w.clone()))
            .collect();
        let mut out = Vec::new();
        for (group, kind, watch) in watches {
            for obj in watch.state() {
                if obj.metadata.namespace.as_deref() == Some(namespace) {
                    out.push((
                        ObjectKey {
                            group: group.clone(),
                            kind: kind.clone(),
                            namespace: namespace.to_owned(),
                            name: obj.name_any(),
                        },
                        obj,
                    ));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Makes sure `kind` is watched (waiting for its first list).
    pub async fn watch(&self, kind: &KindInfo) -> Result<(), LiveError> {
        self.store(kind).await.map(|_| ())
    }

    /// The live object, if the cluster has it; an error when the cache's scope excludes it.
    pub async fn get(
        &self,
        kind: &KindInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<DynamicObject>>, LiveError> {
        let namespace = if kind.namespaced { namespace } else { "" };
        if let Some(why) = self.scope.refusal(&kind.resource.kind, namespace, name) {
            return Err(LiveError::NotManaged(why));
        }
        let watch = self.store(kind).await?;
        let mut reference = ObjectRef::new_with(name, kind.resource.clone());
        if kind.namespaced {
            reference = reference.within(namespace);
        }
        Ok(watch.get(&reference))
    }

    /// Every live object of the watched kinds that `app` tracks (by annotation or label).
    pub fn tracked_by(&self, app: &str) -> Vec<(ObjectKey, Arc<DynamicObject>)> {
        let tracking = self.shared.tracking.read().expect("tracking lock").clone();
        let watches: Vec<_> = self
            .watches
            .lock()
            .expect("watches lock")
            .iter()
            .map(|((g, k), w)| (g.clone(), k.clone(), w.clone()))
            .collect();
        let mut out = Vec::new();
        for (group, kind, watch) in watches {
            for obj in watch.state() {
                let key = ObjectKey {
                    group: group.clone(),
                    kind: kind.clone(),
                    namespace: obj.namespace().unwrap_or_default(),
                    name: obj.name_any(),
                };
                let owner = tracking.tracked_app(
                    &key,
                    obj.metadata.annotations.as_ref(),
                    obj.metadata.labels.as_ref(),
                );
                if owner.as_deref() == Some(app) {
                    out.push((key, obj));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Records the desired objects of `app` from this reconcile, so that changes to them wake it.
    pub fn set_desired(&self, app: &str, keys: impl IntoIterator<Item = ObjectKey>) {
        let mut index = self.shared.desired_index.lock().expect("index lock");
        for apps in index.values_mut() {
            apps.remove(app);
        }
        index.retain(|_, apps| !apps.is_empty());
        for key in keys {
            index.entry(key).or_default().insert(app.to_owned());
        }
    }

    /// Records whether `app` monitors orphaned resources in `namespace` (`None`: it does not).
    pub fn set_orphan_watch(&self, app: &str, namespace: Option<&str>) {
        let mut watchers = self.shared.orphan_watchers.lock().expect("orphan lock");
        for apps in watchers.values_mut() {
            apps.remove(app);
        }
        watchers.retain(|_, apps| !apps.is_empty());
        if let Some(namespace) = namespace {
            watchers
                .entry(namespace.to_owned())
                .or_default()
                .insert(app.to_owned());
        }
    }

    /// Starts watching the kinds that hold managed objects' descendants (ReplicaSets, Pods, ...),
    /// skipping those the cluster does not serve.
    pub async fn watch_children(&self) {
        for (group, version, kind) in crate::tree::CHILD_KINDS {
            let api_version = if group.is_empty() {
                (*version).to_owned()
            } else {
                format!("{group}/{version}")
            };
            match self.resolve(&api_version, kind).await {
                Ok(info) => {
                    if let Err(e) = self.store(&info).await {
                        tracing::warn!("watching {kind} for resource trees: {e}");
                    }
                    self.child_kinds
                        .lock()
                        .expect("child kinds lock")
                        .push(info);
                }
                Err(e) => tracing::info!("resource trees without {kind}: {e}"),
            }
        }
    }

    /// Every object of the descendant kinds (see [`watch_children`](Self::watch_children)).
    pub fn children_candidates(&self) -> Vec<(ObjectKey, Arc<DynamicObject>)> {
        let kinds = self.child_kinds.lock().expect("child kinds lock").clone();
        let watches = self.watches.lock().expect("watches lock");
        let mut out = Vec::new();
        for info in kinds {
            let Some(watch) =
                watches.get(&(info.resource.group.clone(), info.resource.kind.clone()))
            else {
                continue;
            };
            for obj in watch.state() {
                out.push((
                    ObjectKey {
                        group: info.resource.group.clone(),
                        kind: info.resource.kind.clone(),
                        namespace: obj.namespace().unwrap_or_default(),
                        name: obj.name_any(),
                    },
                    obj,
                ));
            }
        }
        out
    }

    /// Number of objects held, per kind (for metrics and benchmarks).
    pub fn object_counts(&self) -> BTreeMap<String, usize> {
        self.watches
            .lock()
            .expect("watches lock")
            .iter()
            .map(|((g, k), s)| {
                (
                    if g.is_empty() {
                        k.clone()
                    } else {
                        format!("{k}.{g}")
                    },
                    s.len(),
                )
            })
            .collect()
    }
}

impl Shared {
    /// Apps to wake for a change of `obj`.
    fn apps_for(&self, obj: &DynamicObject, key: &ObjectKey) -> BTreeSet<String> {
        let mut apps: BTreeSet<String> = self
            .desired_index
            .lock()
            .expect("index lock")
            .get(key)
            .cloned()
            .unwrap_or_default();
        let tracked = self.tracking.read().expect("tracking lock").tracked_app(
            key,
            obj.metadata.annotations.as_ref(),
            obj.metadata.labels.as_ref(),
        );
        match tracked {
            Some(app) => {
                apps.insert(app);
            }
            None if !key.namespace.is_empty()
                && obj
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_none_or(|o| o.is_empty()) =>
            {
                // A possible orphan: wake the apps watching its namespace for orphans.
                if let Some(watchers) = self
                    .orphan_watchers
                    .lock()
                    .expect("orphan lock")
                    .get(&key.namespace)
                {
                    apps.extend(watchers.iter().cloned());
                }
            }
            None => {}
        }
        apps
    }
}

fn info(resource: ApiResource, caps: &ApiCapabilities) -> KindInfo {
    KindInfo {
        resource,
        namespaced: caps.scope == Scope::Namespaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_refusals_are_argo_cds() {
        let whole = WatchScope::cluster();
        let teams = WatchScope::namespaces(["team-b", "team-a", "team-a"], false);
        let teams_and_cluster = WatchScope::namespaces(["team-a"], true);
        let cases: &[(&WatchScope, &str, &str, &str, Option<&str>)] = &[
            (&whole, "Deployment", "anywhere", "api", None),
            (&whole, "ClusterRole", "", "reader", None),
            (&teams, "Deployment", "team-a", "api", None),
            (&teams, "Deployment", "team-b", "api", None),
            (
                &teams,
                "Deployment",
                "team-c",
                "api",
                Some(r#"Namespace "team-c" for Deployment "api" is not managed"#),
            ),
            (
                &teams,
                "ClusterRole",
                "",
                "reader",
                Some(
                    r#"Cluster level ClusterRole "reader" can not be managed when in namespaced mode"#,
                ),
            ),
            (&teams_and_cluster, "ClusterRole", "", "reader", None),
            (
                &teams_and_cluster,
                "Service",
                "team-b",
                "web",
                Some(r#"Namespace "team-b" for Service "web" is not managed"#),
            ),
        ];
        for (scope, kind, namespace, name, expected) in cases {
            assert_eq!(
                scope.refusal(kind, namespace, name).as_deref(),
                *expected,
                "{scope:?} {kind} {namespace}/{name}"
            );
        }
    }

    #[test]
    fn scope_targets_one_watch_per_namespace_or_none() {
        let ns = |n: &str| Some(n.to_owned());
        let cases: &[(WatchScope, bool, Vec<Option<String>>)] = &[
            (WatchScope::cluster(), true, vec![None]),
            (WatchScope::cluster(), false, vec![None]),
            (
                WatchScope::namespaces(["b", "a"], false),
                true,
                vec![ns("a"), ns("b")],
            ),
            (WatchScope::namespaces(["a"], false), false, vec![]),
            (WatchScope::namespaces(["a"], true), false, vec![None]),
            // An empty list is Argo CD's "every namespace".
            (
                WatchScope::namespaces(Vec::<String>::new(), false),
                false,
                vec![None],
            ),
        ];
        for (scope, namespaced, expected) in cases {
            assert_eq!(
                &scope.targets(*namespaced),
                expected,
                "{scope:?} {namespaced}"
            );
        }
    }

    #[test]
    fn scope_of_a_cluster_secret() {
        let data = BTreeMap::from([
            (
                "server".to_owned(),
                "https://kubernetes.default.svc".to_owned(),
            ),
            ("namespaces".to_owned(), "team-b, team-a".to_owned()),
        ]);
        let cluster = Cluster::from_secret_data("in-cluster", &data).expect("valid");
        assert_eq!(
            WatchScope::of(&cluster),
            WatchScope::namespaces(["team-a", "team-b"], false)
        );
        assert_eq!(
            WatchScope::of(&Cluster::in_cluster()),
            WatchScope::cluster()
        );
    }
}
