//! One reconcile of one Application: desired manifests from the repo-server, live objects from
//! the live cache, diff, health, and the status written back — only when it changed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use capstan_diff::Normalizer;
use capstan_health::{Health, HealthStatusCode};
use capstan_proto::common::v1::KubeObject;
use capstan_proto::repo::v1 as pb;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_types::application::{
    ApplicationCondition, ApplicationSource, ApplicationSourceType, ApplicationStatus, ComparedTo,
    HealthStatus, ResourceStatus, SyncStatus, SyncStatusCode,
};
use capstan_types::{AppProject, Application};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::clusters::Clusters;
use crate::live::{KindInfo, LiveCache, ObjectKey};
use crate::metrics::ControllerMetrics;
use crate::orphans;
use crate::settings::Settings;
use crate::tracking;
use crate::tree::{self, TreePublisher};

/// How soon an app whose resource tree could not be stored is reconciled again.
const TREE_RETRY: Duration = Duration::from_secs(5);
/// The field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "argocd-application-controller";
/// The refresh annotation (`normal` or `hard`).
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// Everything a reconcile needs.
pub struct Context {
    /// Client of the control-plane cluster (Applications, AppProjects, settings).
    pub client: Client,
    /// Destination clusters and their live state.
    pub clusters: Arc<Clusters>,
    /// AppProjects of the control-plane namespace, kept by a watch.
    pub projects: kube::runtime::reflector::Store<AppProject>,
    /// The repo-server.
    pub repo_server: RepoServerServiceClient<capstan_proto::endpoints::Balanced>,
    /// Settings in force.
    pub settings: watch::Receiver<Arc<Settings>>,
    /// The control-plane namespace.
    pub namespace: String,
    /// Metrics.
    pub metrics: ControllerMetrics,
    /// Resource-tree publishing to Redis, when a cache is configured.
    pub trees: Option<TreePublisher>,
    /// When each app last had its caches bypassed (`timeout.hard.reconciliation`).
    pub last_hard_refresh: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// How long a sync step may wait for health or hooks.
    pub sync_timeout: Duration,
    /// Kubernetes Events on the Applications (Argo CD's operation and status events).
    pub events: crate::events::AppEvents,
}

impl Context {
    /// Whether `timeout.hard.reconciliation` (0 = never) calls for bypassing the caches now;
    /// records the refresh when it does. The first reconcile after a start only records.
    fn hard_refresh_due(&self, app: &Application, every: Duration) -> bool {
        if every.is_zero() {
            return false;
        }
        let key = format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
        let mut last = self.last_hard_refresh.lock().expect("hard refresh lock");
        match last.get(&key) {
            Some(at) if at.elapsed() < every => false,
            Some(_) => {
                last.insert(key, std::time::Instant::now());
                true
            }
            None => {
                last.insert(key, std::time::Instant::now());
                false
            }
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Failures that stop a reconcile before a status can be written (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Writing the status failed.
    #[error("writing the status of {0}: {1}")]
    WriteStatus(String, #[source] kube::Error),
}

/// A managed live object, its key and its health (status, message), for the resource tree.
pub type ManagedObject = (ObjectKey, Value, Option<(String, String)>);

/// One resource as a sync sees it: desired (from Git) and/or live, with its comparison result.
#[derive(Clone, Debug)]
pub struct SyncTarget {
    /// Identity.
    pub key: ObjectKey,
    /// How to reach its kind; `None` when the cluster does not serve it.
    pub info: Option<KindInfo>,
    /// The desired object (hooks included); `None` for objects only live (to prune).
    pub desired: Option<Value>,
    /// The live object.
    pub live: Option<Value>,
    /// Whether the comparison found it out of sync.
    pub out_of_sync: bool,
}

/// What a comparison found.
pub(crate) struct Comparison {
    resources: Vec<ResourceStatus>,
    sync: SyncStatusCode,
    revision: String,
    health: Health,
    conditions: Vec<(String, String)>,
    source_type: Option<ApplicationSourceType>,
    images: Vec<String>,
    external_urls: Vec<String>,
    /// Managed live objects with their health, for the resource tree.
    managed: Vec<ManagedObject>,
    /// Every compared resource with its diff, for the API's ManagedResources.
    diffs: Vec<capstan_types::managed::ManagedResource>,
    /// The destination's live state.
    live: Arc<LiveCache>,
    /// Orphaned resources in the destination namespace, when the project monitors them.
    orphans: Vec<(ObjectKey, Arc<kube::api::DynamicObject>)>,
    /// Every desired and prunable resource, for a sync.
    pub(crate) targets: Vec<SyncTarget>,
    /// The app's project (`None`: the implicit `default` project).
    pub(crate) project: Option<Arc<AppProject>>,
    /// The destination cluster.
    pub(crate) cluster: Arc<crate::clusters::ClusterEntry>,
}

/// What the comparison hands to a sync.
pub(crate) struct SyncInput {
    targets: Vec<SyncTarget>,
    project: Option<Arc<AppProject>>,
    cluster: Arc<crate::clusters::ClusterEntry>,
    revision: String,
}

/// What the operation step asks the reconcile to do.
#[derive(Debug, Default)]
struct OperationActions {
    requeue: Option<Duration>,
    clear_operation: bool,
    new_operation: Option<capstan_types::Operation>,
}

/// The `resources-finalizer.argocd.argoproj.io` finalizers (foreground is the plain one).
const RESOURCES_FINALIZERS: &[&str] = &[
    "resources-finalizer.argocd.argoproj.io",
    "resources-finalizer.argocd.argoproj.io/foreground",
    "resources-finalizer.argocd.argoproj.io/background",
];

/// Cascading deletion: with a resources finalizer, deletes every object the app tracks and
/// removes the finalizer once they are gone; without one the app simply goes.
async fn delete_resources(app: &Application, ctx: &Context) -> Result<Action, ReconcileError> {
    let finalizers = app.finalizers();
    let Some(finalizer) = finalizers
        .iter()
        .find(|f| RESOURCES_FINALIZERS.contains(&f.as_str()))
    else {
        return Ok(Action::await_change());
    };
    let name = app.name_any();
    let namespace = app.namespace().unwrap_or_default();
    let instance = tracking::instance_name(&namespace, &name, &ctx.namespace);
    // Deletion must not depend on a comparison (its project may be gone already, deleted by
    // the same cascade): only the destination and the tracked objects matter.
    let cluster = match ctx.clusters.resolve(&app.spec.destination) {
        Ok(cluster) => Some(cluster),
        Err(why) => {
            tracing::warn!(app = %name, "deleting without cascade: {why}");
            None
        }
    };
    let Some(cluster) = cluster else {
        return remove_finalizer(app, ctx, finalizer).await;
    };
    let live = &cluster.live;
    // Watch the kinds the app last listed, so objects of every kind it managed are found.
    for r in app.status.iter().flat_map(|s| &s.resources) {
        let api_version = if r.group.is_empty() {
            r.version.clone()
        } else {
            format!("{}/{}", r.group, r.version)
        };
        if let Ok(info) = live.resolve(&api_version, &r.kind).await {
            let _ = live.watch(&info).await;
        }
    }
    let propagation = if finalizer.ends_with("/background") {
        kube::api::PropagationPolicy::Background
    } else {
        kube::api::PropagationPolicy::Foreground
    };
    let remaining = live.tracked_by(&instance);
    for (key, obj) in &remaining {
        let api_version = obj
            .types
            .as_ref()
            .map(|t| t.api_version.clone())
            .unwrap_or_default();
        let Ok(info) = live.resolve(&api_version, &key.kind).await else {
            continue;
        };
        let api: Api<kube::api::DynamicObject> = if info.namespaced {
            Api::namespaced_with(live.client(), &key.namespace, &info.resource)
        } else {
            Api::all_with(live.client(), &info.resource)
        };
        if obj.metadata.deletion_timestamp.is_none() {
            let params = kube::api::DeleteParams {
                propagation_policy: Some(propagation.clone()),
                ..Default::default()
            };
            if let Err(e) = api.delete(&key.name, &params).await {
                tracing::warn!(app = %name, "deleting {}/{}: {e}", key.kind, key.name);
            }
        }
    }
    if !remaining.is_empty() {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    remove_finalizer(app, ctx, finalizer).await
}

/// Removes one finalizer from the app (it may then go).
async fn remove_finalizer(
    app: &Application,
    ctx: &Context,
    finalizer: &str,
) -> Result<Action, ReconcileError> {
    let name = app.name_any();
    let namespace = app.namespace().unwrap_or_default();
    let kept: Vec<&String> = app
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .collect();
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    let patched = apps
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": kept, "resourceVersion": app.resource_version()}})),
        )
        .await;
    ctx.metrics.k8s_request("patch", "Application", &patched);
    patched.map_err(|e| ReconcileError::WriteStatus(name, e))?;
    Ok(Action::await_change())
}

/// Runs the requested operation one step further, or requests one (automated sync).
async fn process_operation(
    app: &Application,
    status: &mut ApplicationStatus,
    // The generation the last status described: writing `operation` bumps the generation, so
    // an unchanged one means this request is the one the recorded state finished.
    described_generation: Option<i64>,
    ctx: &Context,
    settings: &Settings,
    input: Option<&SyncInput>,
) -> OperationActions {
    use capstan_types::application::OperationPhase;
    let mut actions = OperationActions::default();
    let Some(operation) = app.operation.clone() else {
        if let Some(state) = status.operation_state.as_mut()
            && state.phase == Some(OperationPhase::Running)
        {
            // The request was withdrawn mid-operation: stop, and say so.
            state.phase = Some(OperationPhase::Failed);
            state.message = "operation terminated: the operation request was removed".into();
            state.finished_at = Some(now());
            return actions;
        }
        // Automated sync.
        if let Some(input) = input {
            let allowed = sync_window_allows(app, input, false).is_ok();
            match crate::operation::auto_sync(app, status, &input.targets, allowed) {
                Ok(Some(op)) => actions.new_operation = Some(op),
                Ok(None) => {}
                Err(why) => {
                    tracing::info!(app = %app.name_any(), "skipping auto-sync: {why}");
                    if why.starts_with("self-heal backoff") {
                        actions.requeue = Some(Duration::from_secs(5));
                    }
                }
            }
        }
        return actions;
    };
    let same = |s: &capstan_types::application::OperationState| s.operation == operation;
    match status.operation_state.as_ref() {
        // Finished, but the request was not cleared (a restart in between): clear it now. An
        // identical request written since has bumped the generation and runs anew.
        Some(s)
            if same(s)
                && s.phase.as_ref().is_some_and(OperationPhase::is_completed)
                && described_generation == app.metadata.generation =>
        {
            actions.clear_operation = true;
            return actions;
        }
        Some(s) if same(s) && s.phase == Some(OperationPhase::Terminating) => {
            let state = status.operation_state.as_mut().expect("state");
            state.phase = Some(OperationPhase::Failed);
            state.message = "operation terminated".into();
            state.finished_at = Some(now());
            actions.clear_operation = true;
            return actions;
        }
        Some(s) if same(s) && s.phase == Some(OperationPhase::Running) => {}
        _ => {
            // A new operation: record it as Running before anything is applied (as Argo CD
            // does), so it is visible — and resumable — from its first moment.
            status.operation_state = Some(crate::operation::start(&operation, 0));
            status
                .conditions
                .retain(|c| c.condition_type != "SyncError");
            actions.requeue = Some(Duration::from_millis(10));
            return actions;
        }
    }
    let state = status.operation_state.as_mut().expect("operation state");
    let finish = |state: &mut capstan_types::application::OperationState,
                  phase: OperationPhase,
                  message: String| {
        state.phase = Some(phase);
        state.message = message;
        state.finished_at = Some(now());
    };
    let Some(input) = input else {
        // The comparison failed (its condition says why): wait for it, up to the deadline.
        let why = status
            .conditions
            .iter()
            .find(|c| c.condition_type.ends_with("Error"))
            .map(|c| format!("{}: {}", c.condition_type, c.message))
            .unwrap_or_else(|| "the comparison failed".into());
        let state = status.operation_state.as_mut().expect("operation state");
        let elapsed = state
            .started_at
            .as_ref()
            .map(|t| k8s_openapi::jiff::Timestamp::now().duration_since(t.0))
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or_default();
        if elapsed > ctx.sync_timeout {
            finish(state, OperationPhase::Failed, why);
            actions.clear_operation = true;
        } else {
            state.message = format!("waiting for a successful comparison ({why})");
            actions.requeue = Some(Duration::from_secs(5));
        }
        return actions;
    };
    let Some((source, requested)) = crate::operation::operation_source(app, &operation) else {
        finish(
            state,
            OperationPhase::Error,
            "only sync operations of applications with spec.source are supported".into(),
        );
        actions.clear_operation = true;
        return actions;
    };
    // Pin the revision at the first step, so every step syncs the same commit.
    let pinned = state
        .sync_result
        .as_ref()
        .map(|r| r.revision.clone())
        .filter(|r| !r.is_empty());
    let spec_source = app.spec.source.as_ref();
    let same_source = Some(source) == spec_source;
    let wants_current = pinned.as_deref().map_or(
        requested == source.target_revision || requested == input.revision,
        |p| p == input.revision,
    );
    let (targets, revision) = if same_source && wants_current {
        (input.targets.clone(), input.revision.clone())
    } else {
        let revision = pinned.clone().unwrap_or(requested);
        match Box::pin(compare(
            app,
            ctx,
            settings,
            false,
            Some((source, &revision)),
        ))
        .await
        {
            Ok(c) => (c.targets, c.revision),
            Err((_, message)) => {
                finish(
                    state,
                    OperationPhase::Error,
                    format!("comparing revision {revision}: {message}"),
                );
                actions.clear_operation = true;
                return actions;
            }
        }
    };
    let result = state.sync_result.get_or_insert_with(Default::default);
    if result.revision.is_empty() {
        result.revision = revision.clone();
        result.source = Some(source.clone());
    }
    if let Err(message) = crate::operation::check_project(
        app,
        input.project.as_deref(),
        source,
        &input.cluster.cluster,
        &targets,
    ) {
        status.conditions.push(ApplicationCondition {
            condition_type: "SyncError".into(),
            message: message.clone(),
            last_transition_time: Some(now()),
            ..ApplicationCondition::default()
        });
        let state = status.operation_state.as_mut().expect("operation state");
        finish(state, OperationPhase::Failed, message);
        actions.clear_operation = true;
        return actions;
    }
    let manual = operation.initiated_by.as_ref().and_then(|i| i.automated) != Some(true);
    if let Err(why) = sync_window_allows(app, input, manual) {
        state.message = why;
        actions.requeue = Some(Duration::from_secs(30));
        return actions;
    }
    // FailOnSharedResource=true: a desired object another app already tracks fails the sync.
    let options: Vec<String> = app
        .spec
        .sync_policy
        .iter()
        .flat_map(|p| p.sync_options.iter())
        .chain(operation.sync.iter().flat_map(|s| s.sync_options.iter()))
        .cloned()
        .collect();
    if capstan_sync::SyncOptions::parse_lenient(&options).fail_on_shared_resource {
        let instance = tracking::instance_name(
            &app.namespace().unwrap_or_default(),
            &app.name_any(),
            &ctx.namespace,
        );
        let shared = targets.iter().find_map(|t| {
            let live = t.live.as_ref().filter(|_| t.desired.is_some())?;
            let other = tracked_by(&t.key, live, settings).filter(|o| *o != instance)?;
            Some(format!(
                "Shared resource found: {}/{} is part of applications {instance} and {other}",
                t.key.kind, t.key.name
            ))
        });
        if let Some(message) = shared {
            finish(state, OperationPhase::Failed, message);
            actions.clear_operation = true;
            return actions;
        }
    }
    let plan = match crate::operation::build_plan(app, &operation, state, &targets, &revision) {
        Ok(plan) => plan,
        Err(message) => {
            finish(state, OperationPhase::Error, message);
            actions.clear_operation = true;
            return actions;
        }
    };
    let executor = crate::operation::Executor {
        client: input.cluster.live.client(),
        live: &input.cluster.live,
        settings,
        timeout: ctx.sync_timeout,
        instance: tracking::instance_name(
            &app.namespace().unwrap_or_default(),
            &app.name_any(),
            &ctx.namespace,
        ),
        managed_namespace: creates_namespace(app, &targets),
        ignore_differences: capstan_diff::Normalizer::new(
            &app.spec.ignore_differences,
            &settings.cm.resource_customizations,
        )
        .ok(),
    };
    let outcome = executor.advance(app, state, &plan).await;
    ctx.metrics.sync_progress(app, state);
    if state.phase == Some(OperationPhase::Succeeded) && !plan.dry_run {
        let state = state.clone();
        crate::operation::append_history(app, &mut status.history, &state);
    }
    actions.requeue = outcome.requeue;
    actions.clear_operation = outcome.clear_operation;
    actions
}

/// The destination namespace `CreateNamespace=true` manages, unless Git declares it itself.
fn creates_namespace(app: &Application, targets: &[SyncTarget]) -> Option<String> {
    let policy = app.spec.sync_policy.as_ref()?;
    let namespace = &app.spec.destination.namespace;
    let declared = targets.iter().any(|t| {
        t.desired.is_some()
            && t.key.kind == "Namespace"
            && t.key.group.is_empty()
            && &t.key.name == namespace
    });
    (policy.has_sync_option("CreateNamespace", "true") && !namespace.is_empty() && !declared)
        .then(|| namespace.clone())
}

/// Whether the project's sync windows allow a sync now (`Err` says which window blocks).
fn sync_window_allows(app: &Application, input: &SyncInput, manual: bool) -> Result<(), String> {
    let Some(project) = input.project.as_deref() else {
        return Ok(());
    };
    let decision = project
        .sync_allowed(
            &app.name_any(),
            &app.spec.destination.namespace,
            &input.cluster.cluster.server,
            &input.cluster.cluster.name,
            manual,
            k8s_openapi::jiff::Timestamp::now(),
        )
        .map_err(|e| format!("Sync operation blocked: invalid sync window: {e}"))?;
    if decision.is_allowed() {
        Ok(())
    } else {
        Err(format!("Sync operation blocked by sync window: {decision}"))
    }
}

/// Reconciles one Application.
#[tracing::instrument(skip_all, fields(app = %app.name_any()))]
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = std::time::Instant::now();
    let queue_key = format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
    ctx.metrics.queue.started(&queue_key);
    // An operation step must start from the status the previous step wrote. The cached app can
    // lag behind that write (a live object's change wakes the app before the app's own watch
    // event arrives), and a stale `operationState` re-runs finished tasks — re-applying
    // resources, or deleting and re-creating BeforeHookCreation hooks. Argo CD reads the app
    // fresh before processing an operation for the same reason.
    let app = if app.operation.is_some() {
        let apps: Api<Application> =
            Api::namespaced(ctx.client.clone(), &app.namespace().unwrap_or_default());
        let fresh = apps.get(&app.name_any()).await;
        ctx.metrics.k8s_request("get", "Application", &fresh);
        match fresh {
            Ok(fresh) => Arc::new(fresh),
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Action::await_change()),
            Err(e) => {
                tracing::warn!("reading the app before its operation: {e}");
                return Ok(Action::requeue(Duration::from_secs(2)));
            }
        }
    } else {
        app
    };
    let settings = ctx.settings.borrow().clone();
    let refresh = app.annotations().get(REFRESH_ANNOTATION).cloned();
    let hard = refresh.as_deref() == Some("hard")
        || ctx.hard_refresh_due(&app, settings.cm.hard_reconciliation_timeout);
    let old = app.status.clone().unwrap_or_default();

    // Boxed: the comparison future is large, and debug builds run reconciles on small stacks.
    let mut comparison = Box::pin(compare(&app, &ctx, &settings, hard, None)).await;
    let diffs = comparison
        .as_mut()
        .map(|c| std::mem::take(&mut c.diffs))
        .ok();
    let managed = comparison
        .as_mut()
        .map(|c| {
            (
                std::mem::take(&mut c.managed),
                std::mem::take(&mut c.orphans),
                c.live.clone(),
            )
        })
        .ok();
    let sync_input = comparison.as_mut().ok().map(|c| SyncInput {
        targets: std::mem::take(&mut c.targets),
        project: c.project.clone(),
        cluster: c.cluster.clone(),
        revision: c.revision.clone(),
    });
    let mut status = old.clone();
    apply_comparison(
        &mut status,
        &old,
        comparison,
        &app,
        settings.error.as_deref(),
    );
    status.observed_generation = app.metadata.generation;

    let name_for_ops = app.name_any();
    let ops = if app.metadata.deletion_timestamp.is_some() {
        // Being deleted: cascade per the resources finalizer, then let it go.
        ctx.events.forget(&app);
        return delete_resources(&app, &ctx).await;
    } else {
        Box::pin(process_operation(
            &app,
            &mut status,
            old.observed_generation,
            &ctx,
            &settings,
            sync_input.as_ref(),
        ))
        .await
    };
    let _ = name_for_ops;

    let name = app.name_any();
    let namespace = app.namespace().unwrap_or_default();
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    if !same_ignoring_time(&status, &old) {
        status.reconciled_at = Some(now());
        status.observed_at = status.reconciled_at.clone();
        // Server-side apply of the whole status under the controller's field manager: a field
        // the new status leaves out (a resolved condition, a cleared message) is removed, which a
        // merge patch would keep.
        let written = apps
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(json!({
                    "apiVersion": capstan_types::application::API_VERSION,
                    "kind": "Application",
                    "status": status,
                })),
            )
            .await;
        ctx.metrics.k8s_request("patch", "Application", &written);
        written.map_err(|e| ReconcileError::WriteStatus(name.clone(), e))?;
        ctx.metrics.status_write();
        // Only once the change is stored: a failed write is retried, and reports then.
        ctx.events
            .record(&app, crate::events::status_events(&old, &status));
    }
    let mut tree_pending = false;
    if let (Some(trees), Some((managed, orphans, live))) = (&ctx.trees, managed) {
        let tree = tree::build(managed, orphans, &live);
        tree_pending = !trees.publish(&namespace, &name, tree).await;
        if let Some(items) = diffs {
            tree_pending |= !trees
                .publish_managed(
                    &namespace,
                    &name,
                    capstan_types::managed::ManagedResources { items },
                )
                .await;
        }
    }
    // The operation field lives beside the spec: requested (automated sync) or cleared (done).
    let operation_patch = if ops.clear_operation {
        Some(json!({ "operation": null }))
    } else {
        ops.new_operation
            .as_ref()
            .map(|op| json!({ "operation": op }))
    };
    if let Some(patch) = operation_patch {
        let patched = apps
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await;
        ctx.metrics.k8s_request("patch", "Application", &patched);
        if let Err(e) = patched {
            tracing::warn!("updating the operation: {e}");
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
    }
    if refresh.is_some() {
        let patch = json!({ "metadata": { "annotations": { REFRESH_ANNOTATION: null } } });
        let removed = apps
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await;
        ctx.metrics.k8s_request("patch", "Application", &removed);
        if let Err(e) = removed {
            tracing::warn!("removing the refresh annotation: {e}");
        }
    }
    ctx.metrics.reconciled(&app, &status, started.elapsed());

    let timeout = settings.cm.reconciliation_timeout;
    let next = if let Some(after) = ops.requeue {
        Some(after) // a running operation (or a self-heal backoff)
    } else if tree_pending {
        // Redis is down: come back soon to publish the tree once it is up again.
        Some(TREE_RETRY)
    } else if timeout.is_zero() {
        None
    } else {
        Some(timeout + jitter(&name, settings.cm.reconciliation_jitter))
    };
    Ok(match next {
        Some(after) => {
            ctx.metrics
                .queue
                .requeued(queue_key, after, std::time::Instant::now());
            Action::requeue(after)
        }
        None => Action::await_change(),
    })
}

/// What to do after a failed reconcile: try again soon.
pub fn error_policy(app: Arc<Application>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    tracing::warn!(app = %app.name_any(), "reconcile failed: {error}");
    let retry = Duration::from_secs(5);
    ctx.metrics.queue.requeued(
        format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()),
        retry,
        std::time::Instant::now(),
    );
    Action::requeue(retry)
}

/// A stable per-app share of the jitter, so periodic reconciles of many apps spread out.
fn jitter(name: &str, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let hash = name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    Duration::from_millis(hash % (max.as_millis() as u64).max(1))
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Equal except for the reconcile timestamps: an unchanged status is not rewritten.
fn same_ignoring_time(a: &ApplicationStatus, b: &ApplicationStatus) -> bool {
    let strip = |s: &ApplicationStatus| {
        let mut s = s.clone();
        s.reconciled_at = None;
        s.observed_at = None;
        serde_json::to_value(s).unwrap_or(Value::Null)
    };
    strip(a) == strip(b)
}

fn apply_comparison(
    status: &mut ApplicationStatus,
    old: &ApplicationStatus,
    comparison: Result<Comparison, (String, String)>,
    app: &Application,
    settings_error: Option<&str>,
) {
    let mut conditions: Vec<(String, String)> = Vec::new();
    if let Some(error) = settings_error {
        conditions.push(("ComparisonError".into(), error.to_owned()));
    }
    match comparison {
        Ok(c) => {
            status.resources = c.resources;
            status.sync = SyncStatus {
                status: Some(c.sync),
                revision: c.revision,
                compared_to: compared_to(app),
                ..SyncStatus::default()
            };
            status.health = HealthStatus {
                status: Some(c.health.status),
                message: c.health.message,
                ..HealthStatus::default()
            };
            status.source_type = c.source_type;
            status.summary.images = c.images;
            status.summary.external_urls = c.external_urls;
            conditions.extend(c.conditions);
        }
        Err((kind, message)) => {
            // The comparison failed: say why, keep what was known about the resources.
            status.sync.status = Some(SyncStatusCode::Unknown);
            status.sync.compared_to = compared_to(app);
            conditions.push((kind, message));
        }
    }
    // A failed sync's SyncError stays until the next operation (conditions are otherwise
    // recomputed by every comparison).
    let failed_sync = old.operation_state.as_ref().is_some_and(|s| {
        matches!(
            s.phase,
            Some(
                capstan_types::application::OperationPhase::Failed
                    | capstan_types::application::OperationPhase::Error
            )
        )
    });
    if failed_sync {
        conditions.extend(
            old.conditions
                .iter()
                .filter(|c| c.condition_type == "SyncError")
                .map(|c| (c.condition_type.clone(), c.message.clone())),
        );
    }
    status.conditions = conditions
        .into_iter()
        .map(|(condition_type, message)| {
            let last_transition_time = old
                .conditions
                .iter()
                .find(|c| c.condition_type == condition_type && c.message == message)
                .and_then(|c| c.last_transition_time.clone())
                .or_else(|| Some(now()));
            ApplicationCondition {
                condition_type,
                message,
                last_transition_time,
                ..ApplicationCondition::default()
            }
        })
        .collect();
}

fn compared_to(app: &Application) -> ComparedTo {
    ComparedTo {
        source: app.spec.source.clone(),
        sources: app.spec.sources.clone(),
        destination: app.spec.destination.clone(),
        ignore_differences: app.spec.ignore_differences.clone(),
        ..ComparedTo::default()
    }
}

/// The source compared: `spec.source`, or the first of `spec.sources`.
fn source_of(app: &Application) -> Result<&ApplicationSource, (String, String)> {
    match (&app.spec.source, app.spec.sources.as_slice()) {
        (Some(source), _) => Ok(source),
        (None, [source]) => Ok(source),
        (None, []) => Err(invalid_spec("spec.source is required")),
        (None, _) => Err(invalid_spec(
            "applications with several sources are not supported yet; use spec.source",
        )),
    }
}

fn invalid_spec(message: impl Into<String>) -> (String, String) {
    ("InvalidSpecError".to_owned(), message.into())
}

pub(crate) async fn compare(
    app: &Application,
    ctx: &Context,
    settings: &Settings,
    hard_refresh: bool,
    // A sync of another source or revision than the spec's (rollback, sync to a revision).
    source_override: Option<(&ApplicationSource, &str)>,
) -> Result<Comparison, (String, String)> {
    let spec_source = source_of(app)?;
    let source = source_override.map_or(spec_source, |(s, _)| s);
    let revision = source_override.map_or(source.target_revision.as_str(), |(_, r)| r);
    let destination = &app.spec.destination;
    let cluster = ctx.clusters.resolve(destination).map_err(invalid_spec)?;
    let cache = &cluster.live;
    let server = cluster.cluster.server.as_str();
    let project_name = if app.spec.project.is_empty() {
        "default"
    } else {
        &app.spec.project
    };
    let project = ctx
        .projects
        .get(&kube::runtime::reflector::ObjectRef::new(project_name).within(&ctx.namespace));
    if project.is_none() && project_name != "default" {
        return Err(invalid_spec(format!(
            "application references project {project_name} which does not exist"
        )));
    }

    let app_namespace = app.namespace().unwrap_or_default();
    let instance = tracking::instance_name(&app_namespace, &app.name_any(), &ctx.namespace);
    let request = pb::ManifestRequest {
        repo: Some(pb::RepoRef {
            url: source.repo_url.clone(),
            project: project_name.to_owned(),
            ..Default::default()
        }),
        revision: revision.to_owned(),
        no_cache: hard_refresh,
        // Any explicit refresh resolves the revision afresh (Argo CD's
        // CompareWithLatestForceResolve): a refresh after a push must see the push.
        no_revision_cache: hard_refresh || app.annotations().contains_key(REFRESH_ANNOTATION),
        app_label_key: settings.cm.instance_label_key.clone(),
        app_name: instance.clone(),
        namespace: destination.namespace.clone(),
        application_source: Some(KubeObject {
            json: serde_json::to_string(source).unwrap_or_default(),
        }),
        app_namespace: app_namespace.clone(),
        project_name: project_name.to_owned(),
        ..Default::default()
    };
    let response = ctx
        .repo_server
        .clone()
        .generate_manifest(request)
        .await
        .map_err(|status| {
            (
                "ComparisonError".to_owned(),
                format!(
                    "rpc error: code = {:?} desc = {}",
                    status.code(),
                    status.message()
                ),
            )
        })?
        .into_inner();

    let normalizer = Normalizer::new(
        &app.spec.ignore_differences,
        &settings.cm.resource_customizations,
    )
    .map_err(|e| invalid_spec(e.to_string()))?;

    let mut conditions = Vec::new();
    let mut resources = Vec::new();
    let mut healths = Vec::new();
    let mut seen = BTreeSet::new();
    let mut images = BTreeSet::new();
    let mut urls = BTreeSet::new();
    let mut managed = Vec::new();
    let mut diffs = Vec::new();
    let mut targets = Vec::new();
    for manifest in &response.manifests {
        let desired: Value = serde_json::from_str(manifest).map_err(|e| {
            (
                "ComparisonError".to_owned(),
                format!("repo-server returned an invalid manifest: {e}"),
            )
        })?;
        let api_version = desired["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let kind = desired["kind"].as_str().unwrap_or_default().to_owned();
        let name = desired["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.clone()),
        };
        if settings.cm.is_excluded(&group, &kind, server) {
            continue; // resource.exclusions/inclusions: Capstan leaves this kind alone
        }
        let info = match cache.resolve(&api_version, &kind).await {
            Ok(info) => Some(info),
            Err(e) => {
                conditions.push(("ComparisonError".to_owned(), e.to_string()));
                None
            }
        };
        let namespaced = info.as_ref().is_none_or(|i| i.namespaced);
        let namespace = if namespaced {
            desired["metadata"]["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(&destination.namespace)
                .to_owned()
        } else {
            String::new()
        };
        let key = ObjectKey {
            group: group.clone(),
            kind: kind.clone(),
            namespace: namespace.clone(),
            name: name.clone(),
        };
        // A namespace-scoped cluster (its Secret's `namespaces`): nothing, not even a hook, is
        // applied outside them — Argo CD's comparison error, before anything is compared.
        if info.is_some()
            && let Some(why) = cache.scope().refusal(&kind, &namespace, &name)
        {
            return Err((
                "ComparisonError".to_owned(),
                format!("Failed to load live state: {why}"),
            ));
        }
        if !seen.insert(key.clone()) {
            conditions.push((
                "RepeatedResourceWarning".to_owned(),
                format!("Resource {group}/{kind}/{namespace}/{name} appeared 2 times among application resources."),
            ));
            continue;
        }
        let mut desired = desired;
        if namespaced && desired["metadata"].get("namespace").is_none() {
            desired["metadata"]["namespace"] = json!(namespace);
        }
        if capstan_sync::is_skipped(&desired) {
            continue; // argocd.argoproj.io/hook: Skip — never applied, never compared
        }
        if capstan_sync::is_hook(&desired) {
            // Hooks run during syncs; they are not part of the app's compared resources.
            seen.remove(&key);
            targets.push(SyncTarget {
                key,
                info,
                desired: Some(desired),
                live: None,
                out_of_sync: true,
            });
            continue;
        }
        let live = match &info {
            Some(info) => live_object(cache, info, &namespace, &name)
                .await
                .map_err(|e| ("ComparisonError".to_owned(), e))?,
            None => None,
        };
        collect_summary(live.as_ref().unwrap_or(&desired), &mut images, &mut urls);
        if let Some(other) = live.as_ref().and_then(|l| tracked_by(&key, l, settings))
            && other != instance
        {
            conditions.push((
                "SharedResourceWarning".to_owned(),
                format!("{kind}/{name} is part of applications {instance} and {other}"),
            ));
        }
        let (sync, health) = match &info {
            None => (
                SyncStatusCode::Unknown,
                Some(Health {
                    status: HealthStatusCode::Unknown,
                    message: "the cluster does not serve this kind".into(),
                }),
            ),
            Some(_) => {
                let diff = capstan_diff::diff(Some(&desired), live.as_ref(), &normalizer)
                    .map_err(|e| ("ComparisonError".to_owned(), format!("{kind}/{name}: {e}")))?;
                diffs.push(managed_resource(&key, &diff, live.as_ref()));
                let sync = if diff.modified {
                    SyncStatusCode::OutOfSync
                } else {
                    SyncStatusCode::Synced
                };
                let health = match &live {
                    None => Some(Health {
                        status: HealthStatusCode::Missing,
                        message: format!("{kind} {name} does not exist in the cluster"),
                    }),
                    Some(live) => match settings.health.assess(live) {
                        Ok(health) => health,
                        Err(e) => Some(Health {
                            status: HealthStatusCode::Unknown,
                            message: e.to_string(),
                        }),
                    },
                };
                (sync, health)
            }
        };
        if let Some(h) = &health
            && counts_for_app_health(&group, &kind, &h.status)
        {
            healths.push(h.clone());
        }
        targets.push(SyncTarget {
            key: key.clone(),
            info: info.clone(),
            desired: Some(desired.clone()),
            live: live.clone(),
            out_of_sync: sync != SyncStatusCode::Synced,
        });
        if let Some(live) = live {
            managed.push((
                key.clone(),
                live,
                health
                    .as_ref()
                    .map(|h| (h.status.as_str().to_owned(), h.message.clone())),
            ));
        }
        resources.push(ResourceStatus {
            group,
            version,
            kind,
            namespace,
            name,
            status: Some(sync),
            health: health.map(|h| HealthStatus {
                status: Some(h.status),
                message: h.message,
                ..HealthStatus::default()
            }),
            sync_wave: desired["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0),
            ..ResourceStatus::default()
        });
    }
    for other in ctx.clusters.all() {
        if !Arc::ptr_eq(&other.live, cache) {
            other.live.set_desired(&instance, []); // the app may have moved clusters
        }
    }
    cache.set_desired(&instance, seen.iter().cloned());

    // Kinds the app managed before (its last status) stay watched even when Git no longer has
    // any object of them — after a restart nothing else would start their watch — so their
    // objects are still found below, for pruning.
    let desired_kinds: BTreeSet<(&str, &str)> = seen
        .iter()
        .map(|k| (k.group.as_str(), k.kind.as_str()))
        .collect();
    let previous_kinds: BTreeSet<(String, String, String)> = app
        .status
        .iter()
        .flat_map(|s| &s.resources)
        .filter(|r| !desired_kinds.contains(&(r.group.as_str(), r.kind.as_str())))
        .filter(|r| !settings.cm.is_excluded(&r.group, &r.kind, server))
        .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
        .collect();
    for (group, version, kind) in previous_kinds {
        let api_version = if group.is_empty() {
            version
        } else {
            format!("{group}/{version}")
        };
        // A kind the cluster no longer serves has no objects left to prune.
        if let Ok(info) = cache.resolve(&api_version, &kind).await
            && let Err(e) = cache.watch(&info).await
        {
            conditions.push(("ComparisonError".to_owned(), e.to_string()));
        }
    }

    // Orphaned resources, when the project monitors them.
    let monitor = project
        .as_ref()
        .and_then(|p| p.spec.orphaned_resources.as_ref())
        .filter(|_| !destination.namespace.is_empty());
    cache.set_orphan_watch(&instance, monitor.map(|_| destination.namespace.as_str()));
    let mut orphans = Vec::new();
    if let (Some(monitor), Some(project)) = (monitor, project.as_ref()) {
        match cache
            .watch_all_namespaced(|group, kind| settings.cm.is_excluded(group, kind, server))
            .await
        {
            Ok(()) => {
                let candidates = cache.objects_in_namespace(&destination.namespace);
                let tracked = |key: &ObjectKey, obj: &kube::api::DynamicObject| {
                    settings
                        .tracking
                        .tracked_app(
                            key,
                            obj.metadata.annotations.as_ref(),
                            obj.metadata.labels.as_ref(),
                        )
                        .is_some()
                };
                let permitted =
                    |group: &str, kind: &str| project.is_group_kind_permitted(group, kind, true);
                let rules = orphans::OrphanRules {
                    settings: monitor,
                    permitted: &permitted,
                    tracked: &tracked,
                    own: &seen,
                };
                let found = orphans::orphaned(&candidates, &rules);
                if monitor.warn == Some(true) && !found.is_empty() {
                    conditions.push((
                        "OrphanedResourceWarning".to_owned(),
                        orphans::warning(found.len()),
                    ));
                }
                let found: BTreeSet<ObjectKey> = found.into_iter().collect();
                orphans = candidates
                    .into_iter()
                    .filter(|(key, _)| found.contains(key))
                    .collect();
            }
            Err(e) => conditions.push(("ComparisonError".to_owned(), e.to_string())),
        }
    }

    // Objects the app tracks that Git no longer has: to be pruned.
    for (key, obj) in cache.tracked_by(&instance) {
        if seen.contains(&key) {
            continue;
        }
        let live = serde_json::to_value(obj.as_ref()).unwrap_or_default();
        if capstan_sync::is_hook(&live) {
            continue; // a hook of an earlier sync: its delete policy decides, not pruning
        }
        let created_namespace = key.kind == "Namespace"
            && key.group.is_empty()
            && key.name == destination.namespace
            && app
                .spec
                .sync_policy
                .as_ref()
                .is_some_and(|p| p.has_sync_option("CreateNamespace", "true"));
        if created_namespace {
            continue; // CreateNamespace's namespace is never pruned with the app's objects
        }
        let api_version = obj
            .types
            .as_ref()
            .map(|t| t.api_version.clone())
            .unwrap_or_default();
        if let Ok(diff) = capstan_diff::diff(None, Some(&live), &normalizer) {
            diffs.push(managed_resource(&key, &diff, Some(&live)));
        }
        targets.push(SyncTarget {
            key: key.clone(),
            info: cache.resolve(&api_version, &key.kind).await.ok(),
            desired: None,
            live: Some(live),
            out_of_sync: true,
        });
        let version = obj
            .types
            .as_ref()
            .map(|t| {
                t.api_version
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default();
        resources.push(ResourceStatus {
            group: key.group,
            version,
            kind: key.kind,
            namespace: key.namespace,
            name: key.name,
            status: Some(SyncStatusCode::OutOfSync),
            requires_pruning: true,
            ..ResourceStatus::default()
        });
    }

    let sync = if resources
        .iter()
        .all(|r| r.status == Some(SyncStatusCode::Synced))
    {
        SyncStatusCode::Synced
    } else {
        SyncStatusCode::OutOfSync
    };
    let health = capstan_health::aggregate(healths.iter());
    Ok(Comparison {
        resources,
        sync,
        revision: response.revision,
        health,
        conditions,
        source_type: source_type(response.source_type),
        images: images.into_iter().collect(),
        external_urls: urls.into_iter().collect(),
        managed,
        diffs,
        live: cache.clone(),
        orphans,
        targets,
        project,
        cluster: cluster.clone(),
    })
}

/// The app a live object's tracking metadata names.
/// Whether a resource's health counts towards its application's: not a child Application
/// (App of Apps) that is `Missing` or `Unknown` — Argo CD's rule, so a parent stays Healthy
/// while a child waits for its first (manual) sync.
fn counts_for_app_health(group: &str, kind: &str, health: &HealthStatusCode) -> bool {
    !(group == capstan_types::application::GROUP
        && kind == "Application"
        && matches!(
            health,
            HealthStatusCode::Missing | HealthStatusCode::Unknown
        ))
}

fn tracked_by(key: &ObjectKey, live: &Value, settings: &Settings) -> Option<String> {
    let map = |v: &Value| {
        serde_json::from_value::<std::collections::BTreeMap<String, String>>(v.clone()).ok()
    };
    settings.tracking.tracked_app(
        key,
        map(&live["metadata"]["annotations"]).as_ref(),
        map(&live["metadata"]["labels"]).as_ref(),
    )
}

async fn live_object(
    live: &LiveCache,
    info: &KindInfo,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, String> {
    let obj = live
        .get(info, namespace, name)
        .await
        .map_err(|e| e.to_string())?;
    obj.map(|o| serde_json::to_value(o.as_ref()).map_err(|e| e.to_string()))
        .transpose()
}

fn source_type(code: i32) -> Option<ApplicationSourceType> {
    match pb::SourceType::try_from(code).ok()? {
        pb::SourceType::Directory => Some(ApplicationSourceType::from("Directory")),
        pb::SourceType::Kustomize => Some(ApplicationSourceType::from("Kustomize")),
        pb::SourceType::Helm => Some(ApplicationSourceType::from("Helm")),
        pb::SourceType::Plugin => Some(ApplicationSourceType::from("Plugin")),
        pb::SourceType::Unspecified => None,
    }
}

/// Container images and external URLs (Ingress hosts, LoadBalancer addresses), as Argo CD's
/// summary shows them.
fn collect_summary(obj: &Value, images: &mut BTreeSet<String>, urls: &mut BTreeSet<String>) {
    let pod_spec = match obj["kind"].as_str() {
        Some("Pod") => &obj["spec"],
        Some("CronJob") => &obj["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &obj["spec"]["template"]["spec"],
    };
    for list in ["initContainers", "containers"] {
        for c in pod_spec[list].as_array().into_iter().flatten() {
            if let Some(image) = c["image"].as_str() {
                images.insert(image.to_owned());
            }
        }
    }
    if obj["kind"] == "Ingress" {
        let tls_hosts: BTreeSet<&str> = obj["spec"]["tls"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| {
                t["hosts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
            })
            .collect();
        for rule in obj["spec"]["rules"].as_array().into_iter().flatten() {
            if let Some(host) = rule["host"].as_str() {
                let scheme = if tls_hosts.contains(host) {
                    "https"
                } else {
                    "http"
                };
                urls.insert(format!("{scheme}://{host}"));
            }
        }
    }
}

/// The API's view of one compared resource (every state already has Secret values masked).
fn managed_resource(
    key: &ObjectKey,
    diff: &capstan_diff::ResourceDiff,
    live: Option<&Value>,
) -> capstan_types::managed::ManagedResource {
    capstan_types::managed::ManagedResource {
        group: key.group.clone(),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        target_state: diff.normalized_desired.clone(),
        normalized_live_state: diff.normalized_live.clone(),
        predicted_live_state: diff.predicted_live.clone(),
        modified: diff.modified,
        hook: false,
        resource_version: live
            .and_then(|l| l["metadata"]["resourceVersion"].as_str())
            .unwrap_or_default()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_finds_images_and_urls() {
        let mut images = BTreeSet::new();
        let mut urls = BTreeSet::new();
        collect_summary(
            &json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"image": "a:1"}], "initContainers": [{"image": "b:2"}]}}}}),
            &mut images,
            &mut urls,
        );
        collect_summary(
            &json!({"kind": "Ingress", "spec": {"tls": [{"hosts": ["s.example"]}], "rules": [{"host": "s.example"}, {"host": "p.example"}]}}),
            &mut images,
            &mut urls,
        );
        assert_eq!(images.into_iter().collect::<Vec<_>>(), ["a:1", "b:2"]);
        assert_eq!(
            urls.into_iter().collect::<Vec<_>>(),
            ["http://p.example", "https://s.example"]
        );
    }

    #[test]
    fn child_applications_missing_or_unknown_do_not_count() {
        use HealthStatusCode as H;
        let cases = [
            ("argoproj.io", "Application", H::Missing, false),
            ("argoproj.io", "Application", H::Unknown, false),
            ("argoproj.io", "Application", H::Degraded, true),
            ("argoproj.io", "Application", H::Progressing, true),
            ("argoproj.io", "Application", H::Healthy, true),
            ("apps", "Deployment", H::Missing, true),
            ("", "ConfigMap", H::Unknown, true),
            ("argoproj.io", "AppProject", H::Missing, true),
        ];
        for (group, kind, health, counts) in cases {
            assert_eq!(
                counts_for_app_health(group, kind, &health),
                counts,
                "{group}/{kind} {health:?}"
            );
        }
    }

    #[test]
    fn jitter_is_stable_and_bounded() {
        let max = Duration::from_secs(60);
        assert_eq!(jitter("a", max), jitter("a", max));
        assert!(jitter("a", max) < max);
        assert_eq!(jitter("a", Duration::ZERO), Duration::ZERO);
    }
}
