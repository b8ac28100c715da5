//! Sync operations: requested by writing `operation` on the Application (by the api-server, by
//! tooling, or by automated sync below), executed here one step at a time, and recorded in
//! `status.operationState` after every step — so an operation interrupted by a restart resumes
//! from what it recorded, and nothing is applied twice to harmful effect (applies are
//! server-side applies, idempotent by nature; hooks already run are never re-created).
//!
//! A step is one (phase, wave) of the plan `capstan-sync` computes: its tasks are applied or
//! pruned, then the operation waits — woken by the live watches — until the step's resources
//! are healthy and its hooks complete, before the next step starts. Failures run the
//! `SyncFail` hooks, then retry per the retry strategy or fail with the reason.

use std::collections::BTreeSet;
use std::time::Duration;

use capstan_health::HealthStatusCode;
use capstan_sync::{Action, HookDeletePolicy, Plan, PlanOptions, PlanResource, ResourceKey, Task};
use capstan_types::application::{
    ApplicationSource, OperationPhase, OperationState, ResourceResult, ResultCode, RevisionHistory,
    SyncOperationResult,
};
use capstan_types::settings::parse_go_duration;
use capstan_types::{AppProject, Application, Operation};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy,
    ValidationDirective,
};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::live::{KindInfo, LiveCache, ObjectKey};
use crate::reconcile::SyncTarget;
use crate::settings::Settings;

/// The field manager of everything a sync applies (Argo CD's server-side apply manager).
pub const SYNC_FIELD_MANAGER: &str = "argocd-controller";
/// How long a step may wait for health or hooks before the operation fails.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// How soon a running operation is looked at again when no watch event arrives.
const POLL: Duration = Duration::from_secs(2);
/// Appended to the failure message while the SyncFail hooks run.
const SYNC_FAIL_RUNNING: &str = " (running SyncFail hooks)";
/// Argo CD's default `revisionHistoryLimit`.
const DEFAULT_HISTORY_LIMIT: usize = 10;

/// What processing the operation decided.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Look again after this long (a running operation).
    pub requeue: Option<Duration>,
    /// The operation finished: remove `operation` from the Application.
    pub clear_operation: bool,
}

/// Everything a step needs.
pub struct Executor<'a> {
    /// Client of the destination cluster.
    pub client: Client,
    /// The destination's live state.
    pub live: &'a LiveCache,
    /// Settings in force.
    pub settings: &'a Settings,
    /// How long a step may wait.
    pub timeout: Duration,
    /// The app's instance name, for the tracking metadata set on every applied object.
    pub instance: String,
    /// The app's ignoreDifferences (and argocd-cm's), for `RespectIgnoreDifferences=true`.
    pub ignore_differences: Option<capstan_diff::Normalizer>,
    /// The destination namespace `CreateNamespace=true` creates: never marked as the app's
    /// (as in Argo CD), so it is never pruned with the app's objects.
    pub managed_namespace: Option<String>,
}

impl std::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("live", &self.live)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn to_sync_key(key: &ObjectKey) -> ResourceKey {
    ResourceKey::new(&key.group, &key.kind, &key.namespace, &key.name)
}

fn phase_of(phase: capstan_sync::SyncPhase) -> capstan_types::application::SyncPhase {
    capstan_types::application::SyncPhase::from(phase.as_str())
}

/// The source and revision an operation syncs: its override (rollback), or the spec's.
pub fn operation_source<'a>(
    app: &'a Application,
    operation: &'a Operation,
) -> Option<(&'a ApplicationSource, String)> {
    let sync = operation.sync.as_ref()?;
    let source = sync.source.as_ref().or(app.spec.source.as_ref())?;
    let revision = if sync.revision.is_empty() {
        source.target_revision.clone()
    } else {
        sync.revision.clone()
    };
    Some((source, revision))
}

/// The set of tasks completed so far, from the recorded results.
fn done_tasks(state: &OperationState) -> BTreeSet<(ResourceKey, capstan_sync::SyncPhase)> {
    state
        .sync_result
        .iter()
        .flat_map(|r| &r.resources)
        .filter(|r| {
            let applied = matches!(
                r.status,
                Some(ResultCode::Synced | ResultCode::Pruned | ResultCode::PruneSkipped)
            );
            // A hook is done once created (any recorded phase): its completion is awaited by
            // the wait on its step (`waiting_on`) before the next step starts. Counting only
            // completed hooks re-ran (re-applied, or with BeforeHookCreation deleted and
            // re-created) a running hook on every look, and never waited for it.
            let hook_done = r.hook_type.is_some() && r.hook_phase.is_some();
            applied || hook_done
        })
        .map(|r| {
            let phase = match r.sync_phase.as_ref().map(|p| p.as_str()) {
                Some("PreSync") => capstan_sync::SyncPhase::PreSync,
                Some("PostSync") => capstan_sync::SyncPhase::PostSync,
                Some("SyncFail") => capstan_sync::SyncPhase::SyncFail,
                _ => capstan_sync::SyncPhase::Sync,
            };
            (
                ResourceKey::new(&r.group, &r.kind, &r.namespace, &r.name),
                phase,
            )
        })
        .collect()
}

/// Builds the plan of the operation from the comparison of its revision.
pub fn build_plan(
    app: &Application,
    operation: &Operation,
    state: &OperationState,
    targets: &[SyncTarget],
    revision: &str,
) -> Result<Plan, String> {
    let sync = operation.sync.clone().unwrap_or_default();
    let mut options: Vec<String> = app
        .spec
        .sync_policy
        .as_ref()
        .map(|p| p.sync_options.clone())
        .unwrap_or_default();
    options.extend(sync.sync_options.iter().cloned());
    let app_options = capstan_sync::SyncOptions::parse_lenient(&options);
    let resources: Vec<PlanResource> = targets
        .iter()
        .map(|t| PlanResource {
            key: to_sync_key(&t.key),
            desired: t.desired.clone(),
            live: t.live.clone(),
            out_of_sync: t.out_of_sync,
            namespaced: t.info.as_ref().is_none_or(|i| i.namespaced),
        })
        .collect();
    let namespace = app.spec.destination.namespace.clone();
    let managed_namespace = capstan_sync::namespace_to_create(&namespace, &app_options, &resources)
        .map(|mut object| {
            if let Some(meta) = app
                .spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.managed_namespace_metadata.as_ref())
            {
                object["metadata"]["labels"] = json!(meta.labels);
                object["metadata"]["annotations"] = json!(meta.annotations);
            }
            capstan_sync::ManagedNamespace {
                object,
                exists: false,
            }
        });
    let selected: BTreeSet<ResourceKey> = sync
        .resources
        .iter()
        .map(|r| ResourceKey::new(r.api_group(), &r.kind, &r.namespace, &r.name))
        .collect();
    let strategy = sync.sync_strategy.as_ref();
    let plan_options = PlanOptions {
        prune: sync.prune.unwrap_or(false),
        dry_run: sync.dry_run.unwrap_or(false),
        force: strategy
            .and_then(|s| {
                s.hook
                    .as_ref()
                    .and_then(|h| h.force)
                    .or(s.apply.as_ref().and_then(|a| a.force))
            })
            .unwrap_or(false),
        skip_hooks: strategy.is_some_and(|s| s.apply.is_some()),
        selected: (!selected.is_empty()).then_some(selected),
        app_options,
        namespace,
        revision: revision.to_owned(),
        started_at_unix: state
            .started_at
            .as_ref()
            .map(|t| t.0.as_second())
            .unwrap_or_default(),
        managed_namespace,
    };
    Plan::build(&resources, &plan_options).map_err(|e| e.to_string())
}

/// Checks the project's rules for this operation; `Err` names the rule broken.
pub fn check_project(
    app: &Application,
    project: Option<&AppProject>,
    source: &ApplicationSource,
    cluster: &capstan_types::settings::Cluster,
    targets: &[SyncTarget],
) -> Result<(), String> {
    let Some(project) = project else {
        return Ok(()); // the implicit default project permits everything
    };
    let name = project.name_any();
    if !project.is_source_permitted(&source.repo_url) {
        return Err(format!(
            "application repo {} is not permitted in project '{name}'",
            source.repo_url
        ));
    }
    let namespace = &app.spec.destination.namespace;
    if !project.is_destination_permitted(&cluster.server, &cluster.name, namespace) {
        return Err(format!(
            "application destination server '{}' and namespace '{namespace}' do not match any of the allowed destinations in project '{name}'",
            cluster.server
        ));
    }
    for target in targets.iter().filter(|t| t.desired.is_some()) {
        let namespaced = target.info.as_ref().is_none_or(|i| i.namespaced);
        let k = &target.key;
        if !project.is_group_kind_name_permitted(&k.group, &k.kind, &k.name, namespaced) {
            let scope = if namespaced {
                "namespaced"
            } else {
                "cluster-scoped"
            };
            let group = if k.group.is_empty() { "core" } else { &k.group };
            return Err(format!(
                "resource {group}:{kind} {name} is not permitted in project '{project}': {scope} resource {kind} is not in the project's {list}",
                kind = k.kind,
                name = k.name,
                project = name,
                list = if namespaced {
                    "namespace resource allow list (or is in its deny list)"
                } else {
                    "cluster resource allow list (or is in its deny list)"
                },
            ));
        }
    }
    Ok(())
}

impl Executor<'_> {
    /// Runs the operation as far as it can go now; updates `state` in place.
    pub async fn advance(
        &self,
        app: &Application,
        state: &mut OperationState,
        plan: &Plan,
    ) -> Outcome {
        let dry_run = plan.dry_run;
        // A failure whose SyncFail hooks are running: wait for them, then conclude.
        let sync_fail_started = state
            .sync_result
            .iter()
            .flat_map(|r| &r.resources)
            .any(|r| r.sync_phase.as_ref().map(|p| p.as_str()) == Some("SyncFail"));
        if sync_fail_started {
            let hooks = capstan_sync::Step {
                phase: capstan_sync::SyncPhase::SyncFail,
                wave: 0,
                tasks: plan.sync_fail_hooks.clone(),
            };
            let message = state
                .message
                .strip_suffix(SYNC_FAIL_RUNNING)
                .unwrap_or(&state.message)
                .to_owned();
            if let Some(waiting) = self.waiting_on(state, Some(&hooks)).await
                && !self.timed_out(state)
            {
                tracing::debug!(app = %app.name_any(), "waiting for {waiting}");
                state.message = format!("{message}{SYNC_FAIL_RUNNING}");
                return Outcome {
                    requeue: Some(POLL),
                    clear_operation: false,
                };
            }
            return self.conclude_failure(app, state, plan, message).await;
        }
        loop {
            let done = done_tasks(state);
            let Some(step) = plan.next_step(&done) else {
                // Every task ran. As gitops-engine does, the operation waits for the last step
                // only when it holds hooks; resources' health is the app's health from now on.
                let last = plan
                    .steps
                    .last()
                    .filter(|s| s.tasks.iter().any(Task::is_hook));
                // (A dry run created nothing to wait for.)
                if !dry_run && let Some(waiting) = self.waiting_on(state, last).await {
                    return self.wait_or_time_out(app, state, plan, waiting).await;
                }
                self.finish_hooks(state, plan, true).await;
                state.phase = Some(OperationPhase::Succeeded);
                state.message = if dry_run {
                    "successfully synced (dry run)".into()
                } else {
                    "successfully synced (all tasks run)".into()
                };
                state.finished_at = Some(now());
                return Outcome {
                    requeue: None,
                    clear_operation: true,
                };
            };
            // The previous step must be healthy and its hooks complete before this one starts.
            let previous = plan
                .steps
                .iter()
                .take_while(|s| (s.phase, s.wave) != (step.phase, step.wave))
                .last();
            // (A dry run created nothing: waiting for its objects to appear never ended.)
            if !dry_run && let Some(waiting) = self.waiting_on(state, previous).await {
                return self.wait_or_time_out(app, state, plan, waiting).await;
            }
            // Apply and prune the step's pending tasks: prunes first, then applies in order.
            let mut failed = None;
            for task in step.prunes().chain(step.applies()) {
                let result = self.run_task(task, dry_run).await;
                if result.status == Some(ResultCode::SyncFailed)
                    || result.hook_phase == Some(OperationPhase::Failed)
                {
                    failed.get_or_insert_with(|| result.message.clone());
                }
                record(state, result);
            }
            if let Some(message) = failed {
                return self
                    .fail(
                        app,
                        state,
                        plan,
                        format!("one or more objects failed to apply, reason: {message}"),
                    )
                    .await;
            }
            if dry_run {
                continue; // nothing to wait for in a dry run
            }
            // Give the watches a moment; the next look decides whether the step is healthy.
            return Outcome {
                requeue: Some(POLL),
                clear_operation: false,
            };
        }
    }

    /// What the given step is still waiting for, if anything: the first resource that is not
    /// yet healthy (or not yet observed), or a hook still running. Updates hook results.
    async fn waiting_on(
        &self,
        state: &mut OperationState,
        step: Option<&capstan_sync::Step>,
    ) -> Option<String> {
        let step = step?;
        let mut waiting = None;
        for task in &step.tasks {
            let (Action::Apply(apply) | Action::Hook { apply, .. }) = &task.action else {
                continue;
            };
            let Some(info) = self.kind_info(&apply.object).await else {
                continue;
            };
            let live = match self
                .live
                .get(&info, &task.key.namespace, &task.key.name)
                .await
            {
                Ok(live) => live.and_then(|o| serde_json::to_value(o.as_ref()).ok()),
                Err(e) => {
                    waiting
                        .get_or_insert_with(|| format!("{}/{}: {e}", task.key.kind, task.key.name));
                    continue;
                }
            };
            let applied_generation = result_of(state, task).and_then(|r| {
                r.message
                    .strip_prefix("generation ")
                    .and_then(|g| g.split_whitespace().next())
                    .and_then(|g| g.parse::<i64>().ok())
            });
            let Some(live) = live else {
                waiting.get_or_insert_with(|| {
                    format!("{}/{} to appear", task.key.kind, task.key.name)
                });
                continue;
            };
            // Not yet observed: the cache still shows an older generation than we applied.
            if let Some(generation) = applied_generation
                && live["metadata"]["generation"].as_i64().unwrap_or(0) < generation
            {
                waiting.get_or_insert_with(|| {
                    format!("{}/{} to be observed", task.key.kind, task.key.name)
                });
                continue;
            }
            let health = self.settings.health.assess(&live).ok().flatten();
            if task.is_hook() {
                let phase = match health.as_ref().map(|h| &h.status) {
                    Some(HealthStatusCode::Degraded) => OperationPhase::Failed,
                    Some(HealthStatusCode::Progressing | HealthStatusCode::Missing) => {
                        OperationPhase::Running
                    }
                    _ => OperationPhase::Succeeded,
                };
                if let Some(r) = result_mut(state, task) {
                    r.hook_phase = Some(phase.clone());
                    if let Some(h) = &health {
                        r.message = h.message.clone();
                    }
                }
                // A failed hook holds the step too, so that `wait_or_time_out` fails the
                // operation (without this the next step started after a failed hook).
                if matches!(phase, OperationPhase::Running | OperationPhase::Failed) {
                    waiting.get_or_insert_with(|| {
                        format!(
                            "{} hook {}/{} to complete",
                            task.phase.as_str(),
                            task.key.kind,
                            task.key.name
                        )
                    });
                }
                continue;
            }
            if let Some(h) = health
                && matches!(
                    h.status,
                    HealthStatusCode::Progressing | HealthStatusCode::Missing
                )
            {
                waiting.get_or_insert_with(|| {
                    format!(
                        "{}/{} to become healthy ({}: {})",
                        task.key.kind,
                        task.key.name,
                        h.status.as_str(),
                        h.message
                    )
                });
            }
        }
        waiting
    }

    async fn wait_or_time_out(
        &self,
        app: &Application,
        state: &mut OperationState,
        plan: &Plan,
        waiting: String,
    ) -> Outcome {
        // A failed hook fails the operation.
        if let Some(failed) = state
            .sync_result
            .iter()
            .flat_map(|r| &r.resources)
            .find(|r| r.hook_type.is_some() && r.hook_phase == Some(OperationPhase::Failed))
        {
            let message = format!(
                "{} hook {}/{} failed: {}",
                failed
                    .sync_phase
                    .as_ref()
                    .map(|p| p.as_str())
                    .unwrap_or("Sync"),
                failed.kind,
                failed.name,
                failed.message
            );
            return self.fail(app, state, plan, message).await;
        }
        let started = state.started_at.as_ref().map(|t| t.0);
        let elapsed = started
            .map(|t| k8s_openapi::jiff::Timestamp::now().duration_since(t))
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or_default();
        if elapsed > self.timeout {
            return self
                .fail(
                    app,
                    state,
                    plan,
                    format!(
                        "operation timed out after {}s waiting for {waiting}",
                        self.timeout.as_secs()
                    ),
                )
                .await;
        }
        state.message = format!("waiting for {waiting}");
        Outcome {
            requeue: Some(POLL),
            clear_operation: false,
        }
    }

    /// Fails the operation: runs the SyncFail hooks, then retries or gives up.
    async fn fail(
        &self,
        app: &Application,
        state: &mut OperationState,
        plan: &Plan,
        message: String,
    ) -> Outcome {
        if !plan.sync_fail_hooks.is_empty() && !plan.dry_run {
            // Run the SyncFail hooks; the failure concludes once they complete (or time out).
            for hook in &plan.sync_fail_hooks {
                let result = self.run_task(hook, plan.dry_run).await;
                record(state, result);
            }
            state.message = format!("{message}{SYNC_FAIL_RUNNING}");
            return Outcome {
                requeue: Some(POLL),
                clear_operation: false,
            };
        }
        self.conclude_failure(app, state, plan, message).await
    }

    fn timed_out(&self, state: &OperationState) -> bool {
        state
            .started_at
            .as_ref()
            .map(|t| k8s_openapi::jiff::Timestamp::now().duration_since(t.0))
            .and_then(|d| Duration::try_from(d).ok())
            .is_some_and(|elapsed| elapsed > self.timeout)
    }

    /// Ends a failed operation (its SyncFail hooks done): retries per the strategy, or fails.
    async fn conclude_failure(
        &self,
        app: &Application,
        state: &mut OperationState,
        plan: &Plan,
        message: String,
    ) -> Outcome {
        self.finish_hooks(state, plan, false).await;
        let retry = state
            .operation
            .retry
            .clone()
            .or_else(|| app.spec.sync_policy.as_ref().and_then(|p| p.retry.clone()));
        let limit = retry.as_ref().and_then(|r| r.limit).unwrap_or(0);
        if limit < 0 || state.retry_count < limit {
            let backoff = retry.as_ref().and_then(|r| r.backoff.as_ref());
            let base = backoff
                .map(|b| parse_backoff(&b.duration))
                .unwrap_or(Duration::from_secs(5));
            let factor = backoff.and_then(|b| b.factor).unwrap_or(2).max(1);
            let max = backoff
                .filter(|b| !b.max_duration.is_empty())
                .map(|b| parse_backoff(&b.max_duration))
                .unwrap_or(Duration::from_secs(180));
            let exponent = u32::try_from(state.retry_count).unwrap_or(u32::MAX).min(20);
            let delay = base
                .saturating_mul(u32::try_from(factor).unwrap_or(2).saturating_pow(exponent))
                .min(max);
            state.retry_count += 1;
            state.message = format!(
                "{message}. Retrying attempt #{} in {}s",
                state.retry_count,
                delay.as_secs()
            );
            // Start over: a retry re-plans and re-applies (idempotent server-side applies).
            if let Some(result) = state.sync_result.as_mut() {
                result.resources.clear();
            }
            state.started_at = Some(now());
            return Outcome {
                requeue: Some(delay),
                clear_operation: false,
            };
        }
        state.phase = Some(OperationPhase::Failed);
        state.message = message;
        state.finished_at = Some(now());
        Outcome {
            requeue: None,
            clear_operation: true,
        }
    }

    /// Deletes hooks per their delete policy once the operation ended.
    async fn finish_hooks(&self, state: &OperationState, plan: &Plan, succeeded: bool) {
        if plan.dry_run {
            return;
        }
        for task in plan.tasks().chain(plan.sync_fail_hooks.iter()) {
            let Action::Hook {
                apply,
                delete_policies,
                ..
            } = &task.action
            else {
                continue;
            };
            let ran = result_of(state, task).is_some_and(|r| r.hook_phase.is_some());
            let delete = ran
                && ((succeeded && delete_policies.contains(&HookDeletePolicy::HookSucceeded))
                    || (!succeeded && delete_policies.contains(&HookDeletePolicy::HookFailed)));
            if let Some(info) = self.kind_info(&apply.object).await {
                let api = self.api(&info, &task.key.namespace);
                // The hook finalizer only keeps the object until its result is recorded.
                let _ = remove_hook_finalizer(&api, &task.key.name).await;
                if delete {
                    let _ = api
                        .delete(&task.key.name, &DeleteParams::background())
                        .await;
                }
            }
        }
    }

    async fn kind_info(&self, object: &Value) -> Option<KindInfo> {
        let api_version = object["apiVersion"].as_str()?;
        let kind = object["kind"].as_str()?;
        self.live.resolve(api_version, kind).await.ok()
    }

    fn api(&self, info: &KindInfo, namespace: &str) -> Api<DynamicObject> {
        if info.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &info.resource)
        } else {
            Api::all_with(self.client.clone(), &info.resource)
        }
    }

    /// Runs one task; the result to record.
    async fn run_task(&self, task: &Task, dry_run: bool) -> ResourceResult {
        let mut result = ResourceResult {
            group: task.key.group.clone(),
            kind: task.key.kind.clone(),
            namespace: task.key.namespace.clone(),
            name: task.key.name.clone(),
            sync_phase: Some(phase_of(task.phase)),
            ..ResourceResult::default()
        };
        match &task.action {
            Action::PruneSkipped { reason } => {
                result.status = Some(ResultCode::PruneSkipped);
                result.message = reason.message().to_owned();
            }
            Action::Prune { propagation, .. } => {
                let Some(info) = self.resolve_key(&task.key).await else {
                    result.status = Some(ResultCode::Pruned);
                    result.message = "pruned (kind no longer served)".into();
                    return result;
                };
                result.version = version_of(&info);
                let api = self.api(&info, &task.key.namespace);
                let params = DeleteParams {
                    dry_run,
                    propagation_policy: Some(match propagation {
                        capstan_sync::PropagationPolicy::Foreground => {
                            PropagationPolicy::Foreground
                        }
                        capstan_sync::PropagationPolicy::Background => {
                            PropagationPolicy::Background
                        }
                        capstan_sync::PropagationPolicy::Orphan => PropagationPolicy::Orphan,
                    }),
                    ..DeleteParams::default()
                };
                let failure = match api.delete(&task.key.name, &params).await {
                    Ok(_) => None,
                    // Already gone counts as pruned.
                    Err(kube::Error::Api(status)) if status.code == 404 => None,
                    Err(kube::Error::Api(status)) => Some(status.message),
                    Err(e) => Some(e.to_string()),
                };
                match failure {
                    None => {
                        result.status = Some(ResultCode::Pruned);
                        result.message = if dry_run {
                            "pruned (dry run)"
                        } else {
                            "pruned"
                        }
                        .into();
                    }
                    Some(message) => {
                        result.status = Some(ResultCode::SyncFailed);
                        result.message = message;
                    }
                }
            }
            Action::Apply(apply) => {
                self.apply(apply, task, dry_run, &mut result).await;
            }
            Action::Hook {
                apply,
                hook_type,
                delete_policies,
            } => {
                result.hook_type = Some(capstan_types::application::HookType::from(
                    hook_type.as_str(),
                ));
                if delete_policies.contains(&HookDeletePolicy::BeforeHookCreation)
                    && task.live_exists
                    && !dry_run
                    && let Some(info) = self.kind_info(&apply.object).await
                {
                    let api = self.api(&info, &task.key.namespace);
                    let _ = remove_hook_finalizer(&api, &task.key.name).await;
                    let _ = api
                        .delete(&task.key.name, &DeleteParams::foreground())
                        .await;
                    // Wait (briefly) for it to go, so the new hook is a new object.
                    for _ in 0..50 {
                        match api.get_opt(&task.key.name).await {
                            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                            _ => break,
                        }
                    }
                }
                self.apply(apply, task, dry_run, &mut result).await;
                if result.status == Some(ResultCode::Synced) {
                    result.hook_phase = Some(if dry_run {
                        OperationPhase::Succeeded
                    } else {
                        OperationPhase::Running
                    });
                } else {
                    result.hook_phase = Some(OperationPhase::Failed);
                }
                // Argo CD leaves `status` empty for hooks; the phase says it all.
                result.status = None;
                if result.hook_phase == Some(OperationPhase::Failed) {
                    result.status = Some(ResultCode::SyncFailed);
                }
            }
        }
        result
    }

    async fn resolve_key(&self, key: &ResourceKey) -> Option<KindInfo> {
        // The live cache knows the kinds it watches; fall back to discovery by group/kind.
        for version in ["v1", "v1beta1", "v2", "v1alpha1"] {
            let api_version = if key.group.is_empty() {
                version.to_owned()
            } else {
                format!("{}/{version}", key.group)
            };
            if let Ok(info) = self.live.resolve(&api_version, &key.kind).await {
                return Some(info);
            }
        }
        None
    }

    async fn apply(
        &self,
        apply: &capstan_sync::ApplySpec,
        task: &Task,
        dry_run: bool,
        result: &mut ResourceResult,
    ) {
        let Some(info) = self.kind_info(&apply.object).await else {
            result.status = Some(ResultCode::SyncFailed);
            result.message = format!(
                "the server could not find the requested resource: {} {}",
                apply.object["apiVersion"].as_str().unwrap_or_default(),
                task.key.kind
            );
            return;
        };
        result.version = version_of(&info);
        let api = self.api(&info, &task.key.namespace);
        let mut object = apply.object.clone();
        default_port_protocols(&mut object);
        if apply.respect_ignore_differences
            && task.live_exists
            && let Some(normalizer) = &self.ignore_differences
            && let Ok(Some(live)) = self
                .live
                .get(&info, &task.key.namespace, &task.key.name)
                .await
            && let Ok(live) = serde_json::to_value(live.as_ref())
        {
            normalizer.keep_live_values(&mut object, &live);
        }
        let created_namespace = task.key.kind == "Namespace"
            && task.key.group.is_empty()
            && self.managed_namespace.as_deref() == Some(task.key.name.as_str());
        if !created_namespace {
            self.settings.tracking.mark(&mut object, &self.instance);
        }
        if let Some(meta) = object["metadata"].as_object_mut() {
            for field in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "managedFields",
            ] {
                meta.remove(field);
            }
        }
        if !apply.server_side && !dry_run {
            // Argo CD's default is a client-side apply: leave kubectl's last-applied
            // configuration as it would, so a later `kubectl apply` diffs against what was
            // synced. (The apply itself is server-side; see ARCHITECTURE.md.)
            set_last_applied(&mut object);
        }
        let mut params = PatchParams::apply(SYNC_FIELD_MANAGER).force();
        params.dry_run = dry_run;
        params.field_validation = Some(if apply.validate {
            ValidationDirective::Strict
        } else {
            ValidationDirective::Ignore
        });
        let outcome = if apply.replace
            && task.live_exists
            && !matches!(
                task.key.kind.as_str(),
                "Namespace" | "CustomResourceDefinition"
            ) {
            match api.get(&task.key.name).await {
                Ok(live) => {
                    object["metadata"]["resourceVersion"] = json!(live.resource_version());
                    match serde_json::from_value::<DynamicObject>(object) {
                        Ok(obj) => {
                            let post = PostParams {
                                dry_run,
                                field_manager: Some(SYNC_FIELD_MANAGER.into()),
                            };
                            api.replace(&task.key.name, &post, &obj).await
                        }
                        Err(e) => {
                            result.status = Some(ResultCode::SyncFailed);
                            result.message = e.to_string();
                            return;
                        }
                    }
                }
                Err(e) => Err(e),
            }
        } else {
            api.patch(&task.key.name, &params, &Patch::Apply(&object))
                .await
        };
        match outcome {
            Ok(applied) => {
                result.status = Some(ResultCode::Synced);
                let verb = if task.live_exists {
                    "configured"
                } else {
                    "created"
                };
                let dry = if dry_run { " (dry run)" } else { "" };
                // The generation applied: health is judged only once the cache has seen it.
                result.message = match applied.metadata.generation {
                    Some(g) if !dry_run => format!("generation {g} {verb}"),
                    _ => format!(
                        "{}/{} {verb}{dry}",
                        task.key.kind.to_lowercase(),
                        task.key.name
                    ),
                };
            }
            Err(e) => {
                result.status = Some(ResultCode::SyncFailed);
                result.message = match e {
                    kube::Error::Api(status) => status.message,
                    other => other.to_string(),
                };
            }
        }
    }
}

/// kubectl's `last-applied-configuration` annotation: the object as applied, without it.
fn set_last_applied(object: &mut Value) {
    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
    let mut applied = object.clone();
    if let Some(annotations) = applied["metadata"]["annotations"].as_object_mut() {
        annotations.remove(LAST_APPLIED);
    }
    let text = serde_json::to_string(&applied).unwrap_or_default();
    object["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
}

/// Sets `protocol: TCP` on Service and container ports that leave it out. It is the API
/// server's default, but also part of those lists' merge keys: API servers before 1.26 reject a
/// server-side apply whose port has no protocol, which a client-side apply (Argo CD's default)
/// accepts.
fn default_port_protocols(object: &mut Value) {
    let default = |ports: &mut Value| {
        for port in ports.as_array_mut().into_iter().flatten() {
            if port.is_object() && port.get("protocol").is_none() {
                port["protocol"] = json!("TCP");
            }
        }
    };
    if object["kind"] == "Service" && object["apiVersion"] == "v1" {
        default(&mut object["spec"]["ports"]);
    }
    let pod_spec = match object["kind"].as_str() {
        Some("Pod") => object.get_mut("spec"),
        Some("CronJob") => object.pointer_mut("/spec/jobTemplate/spec/template/spec"),
        _ => object.pointer_mut("/spec/template/spec"),
    };
    if let Some(spec) = pod_spec {
        for list in ["containers", "initContainers"] {
            for container in spec[list].as_array_mut().into_iter().flatten() {
                if let Some(ports) = container.get_mut("ports") {
                    default(ports);
                }
            }
        }
    }
}

fn version_of(info: &KindInfo) -> String {
    info.resource.version.clone()
}

async fn remove_hook_finalizer(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    let Some(obj) = api.get_opt(name).await? else {
        return Ok(());
    };
    let finalizers = obj.finalizers();
    if !finalizers.iter().any(|f| f == capstan_sync::HOOK_FINALIZER) {
        return Ok(());
    }
    let kept: Vec<&String> = finalizers
        .iter()
        .filter(|f| *f != capstan_sync::HOOK_FINALIZER)
        .collect();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"finalizers": kept, "resourceVersion": obj.resource_version()}}),
        ),
    )
    .await
    .map(|_| ())
}

/// Whether a recorded result is the task's (same resource, same phase).
fn is_result_of(result: &ResourceResult, task: &Task) -> bool {
    result.kind == task.key.kind
        && result.group == task.key.group
        && result.namespace == task.key.namespace
        && result.name == task.key.name
        && result.sync_phase.as_ref() == Some(&phase_of(task.phase))
}

fn result_of<'a>(state: &'a OperationState, task: &Task) -> Option<&'a ResourceResult> {
    let results = &state.sync_result.as_ref()?.resources;
    results.iter().find(|r| is_result_of(r, task))
}

fn result_mut<'a>(state: &'a mut OperationState, task: &Task) -> Option<&'a mut ResourceResult> {
    let results = &mut state.sync_result.as_mut()?.resources;
    results.iter_mut().find(|r| is_result_of(r, task))
}

/// Records (or replaces) a task's result.
fn record(state: &mut OperationState, result: ResourceResult) {
    let results = &mut state
        .sync_result
        .get_or_insert_with(SyncOperationResult::default)
        .resources;
    match results.iter_mut().find(|r| {
        r.kind == result.kind
            && r.group == result.group
            && r.namespace == result.namespace
            && r.name == result.name
            && r.sync_phase == result.sync_phase
    }) {
        Some(existing) => *existing = result,
        None => results.push(result),
    }
}

/// A backoff duration: seconds (`"5"`) or a Go duration (`"5s"`, `"2m"`).
fn parse_backoff(text: &str) -> Duration {
    text.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .ok()
        .or_else(|| parse_go_duration(text).ok())
        .unwrap_or(Duration::from_secs(5))
}

/// Appends a history entry for a completed sync, keeping at most `revisionHistoryLimit`.
pub fn append_history(
    app: &Application,
    history: &mut Vec<RevisionHistory>,
    state: &OperationState,
) {
    let Some(result) = &state.sync_result else {
        return;
    };
    let id = history.last().map(|h| h.id + 1).unwrap_or(0);
    history.push(RevisionHistory {
        revision: result.revision.clone(),
        deployed_at: state.finished_at.clone(),
        id,
        source: result.source.clone(),
        deploy_started_at: state.started_at.clone(),
        initiated_by: state.operation.initiated_by.clone(),
        ..RevisionHistory::default()
    });
    let limit = app
        .spec
        .revision_history_limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(DEFAULT_HISTORY_LIMIT);
    if history.len() > limit {
        let excess = history.len() - limit;
        history.drain(..excess);
    }
}

/// The operation automated sync asks for now, if any (Argo CD's `autoSync`): once per new
/// (revision, source); again for the same one only to self-heal, with backoff; never to prune
/// alone without `prune`, never to zero resources without `allowEmpty`, never in a deny window.
pub fn auto_sync(
    app: &Application,
    status: &capstan_types::ApplicationStatus,
    comparison_targets: &[SyncTarget],
    sync_allowed: bool,
) -> Result<Option<Operation>, String> {
    let Some(policy) = app.spec.sync_policy.as_ref().filter(|p| p.is_automated()) else {
        return Ok(None);
    };
    let automated = policy.automated.clone().unwrap_or_default();
    if status.sync.status != Some(capstan_types::application::SyncStatusCode::OutOfSync) {
        return Ok(None);
    }
    let revision = &status.sync.revision;
    let source = app.spec.source.clone();
    let mut heal_attempts = 0;
    if let Some(last) = &status.operation_state
        && let Some(result) = &last.sync_result
        && &result.revision == revision
        && result.source == source
    {
        // Already synced this revision: only self-heal may sync it again.
        if automated.self_heal != Some(true) {
            return Ok(None);
        }
        if last.phase != Some(OperationPhase::Succeeded) {
            return Ok(None); // a failed sync of this revision is retried by its retry strategy only
        }
        let attempts = last
            .operation
            .sync
            .as_ref()
            .and_then(|s| s.auto_heal_attempts_count)
            .unwrap_or(0);
        let backoff = Duration::from_secs(5)
            .saturating_mul(2u32.saturating_pow(u32::try_from(attempts).unwrap_or(10).min(10)))
            .min(Duration::from_secs(180));
        let since = last
            .finished_at
            .as_ref()
            .map(|t| k8s_openapi::jiff::Timestamp::now().duration_since(t.0))
            .and_then(|d| Duration::try_from(d).ok())
            .unwrap_or(Duration::MAX);
        if since < backoff {
            return Err(format!(
                "self-heal backoff: next attempt in {}s",
                (backoff - since).as_secs()
            ));
        }
        heal_attempts = attempts + 1;
    }
    let prune = automated.prune == Some(true);
    let only_prune = status
        .resources
        .iter()
        .filter(|r| r.status != Some(capstan_types::application::SyncStatusCode::Synced))
        .all(|r| r.requires_pruning);
    if only_prune && !prune {
        return Ok(None); // Argo CD: need to prune extra resources only but automated prune is disabled
    }
    let desired_count = comparison_targets
        .iter()
        .filter(|t| t.desired.is_some())
        .count();
    if desired_count == 0 && prune && automated.allow_empty != Some(true) {
        return Err("auto-sync will wipe out all resources; set allowEmpty to allow it".into());
    }
    if !sync_allowed {
        return Err("auto-sync is blocked by a sync window".into());
    }
    Ok(Some(Operation {
        sync: Some(capstan_types::application::SyncOperation {
            revision: revision.clone(),
            prune: Some(prune),
            sync_options: policy.sync_options.clone(),
            auto_heal_attempts_count: (heal_attempts > 0).then_some(heal_attempts),
            ..Default::default()
        }),
        initiated_by: Some(capstan_types::application::OperationInitiator {
            automated: Some(true),
            ..Default::default()
        }),
        retry: policy.retry.clone(),
        ..Operation::default()
    }))
}

/// A new operation's initial state.
pub fn start(operation: &Operation, retry_count: i64) -> OperationState {
    OperationState {
        operation: operation.clone(),
        phase: Some(OperationPhase::Running),
        message: String::new(),
        started_at: Some(now()),
        retry_count,
        ..OperationState::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_applied_is_the_object_without_itself() {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {"a": "b"}}, "data": {"k": "v"}});
        set_last_applied(&mut object);
        set_last_applied(&mut object); // idempotent: never nests
        let text =
            object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .unwrap();
        let applied: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            applied,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "annotations": {"a": "b"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn port_protocols_default_to_tcp() {
        let cases = [
            (
                json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}}),
                "/spec/ports",
                vec!["TCP", "UDP"],
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8080}]}]}}}}),
                "/spec/template/spec/containers/0/ports",
                vec!["TCP"],
            ),
            (
                json!({"apiVersion": "v1", "kind": "Pod", "spec": {"initContainers": [{"name": "a", "ports": [{"containerPort": 1, "protocol": "SCTP"}]}]}}),
                "/spec/initContainers/0/ports",
                vec!["SCTP"],
            ),
        ];
        for (mut object, pointer, expected) in cases {
            default_port_protocols(&mut object);
            let protocols: Vec<&str> = object
                .pointer(pointer)
                .and_then(Value::as_array)
                .unwrap()
                .iter()
                .map(|p| p["protocol"].as_str().unwrap())
                .collect();
            assert_eq!(protocols, expected, "{pointer}");
        }
        // Objects without ports are left alone.
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        default_port_protocols(&mut cm);
        assert_eq!(
            cm,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}})
        );
    }
}
