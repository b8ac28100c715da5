//! Turning desired and live objects into an ordered sync plan (gitops-engine
//! `syncContext.getSyncTasks`, `syncTasks.Sort` and the step selection of `syncContext.Sync`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hook::{
    Hook, HookDeletePolicy, HookType, SyncPhase, hook_of, is_hook, is_skipped, wave_of,
};
use crate::key::ResourceKey;
use crate::kinds::kind_order;
use crate::object::{self, ANNOTATION_SYNC_OPTIONS, HOOK_FINALIZER};
use crate::options::{
    ConfirmOption, EffectiveSyncOptions, PropagationPolicy, SyncOptionError, SyncOptions,
};

/// One resource of the Application as the controller sees it: the desired object (rendered
/// from Git), the live object (from the cluster), or both.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanResource {
    /// The resource's identity. For hooks created with `metadata.generateName` the name is not
    /// known in advance: the planner names the hook and its task's key carries that name.
    pub key: ResourceKey,
    /// The desired object; `None` when the object is only live (a candidate for pruning).
    pub desired: Option<Value>,
    /// The live object; `None` when it does not exist in the cluster yet.
    pub live: Option<Value>,
    /// Whether the comparison found the resource out of sync (used by `ApplyOutOfSyncOnly`).
    pub out_of_sync: bool,
    /// Whether the resource's kind is namespaced (from API discovery). Namespaced objects
    /// without `metadata.namespace` get the key's namespace, or the destination namespace.
    pub namespaced: bool,
}

/// The destination namespace to create or update in `PreSync` (`CreateNamespace=true`).
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedNamespace {
    /// The `Namespace` object to apply (see [`namespace_to_create`]; the controller adds
    /// `managedNamespaceMetadata` labels and annotations).
    pub object: Value,
    /// Whether the namespace already exists.
    pub exists: bool,
}

/// The parameters of one sync operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanOptions {
    /// `operation.sync.prune`: delete live resources that are no longer desired. When false,
    /// such resources get a [`Action::PruneSkipped`] task.
    pub prune: bool,
    /// `operation.sync.dryRun`: the executor applies and prunes in dry-run mode; server-side
    /// apply is never used in a dry run.
    pub dry_run: bool,
    /// `operation.sync.syncStrategy.{hook,apply}.force`: delete and re-create resources that
    /// cannot be patched.
    pub force: bool,
    /// Do not run hooks: true for `syncStrategy.apply`. Hooks are also skipped in a selective
    /// sync (Argo CD runs no hooks when `operation.sync.resources` is not empty).
    pub skip_hooks: bool,
    /// `operation.sync.resources`: sync only these resources. A selector with an empty
    /// namespace matches every namespace. `None` or an empty set syncs everything.
    pub selected: Option<BTreeSet<ResourceKey>>,
    /// The operation's sync options.
    pub app_options: SyncOptions,
    /// `spec.destination.namespace`.
    pub namespace: String,
    /// The revision being synced; its first 7 characters name `generateName` hooks.
    pub revision: String,
    /// The operation's start (`status.operationState.startedAt`) in Unix seconds; it names
    /// `generateName` hooks, so the same operation always gets the same hook names.
    pub started_at_unix: i64,
    /// The namespace to create in `PreSync` when `CreateNamespace=true` and the controller
    /// decided it must be created or updated; ignored when a desired `Namespace` has that name.
    pub managed_namespace: Option<ManagedNamespace>,
}

/// How to apply one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplySpec {
    /// The object to apply: the desired object, with the namespace filled in for namespaced
    /// objects that have none (and, for hooks, the generated name and [`HOOK_FINALIZER`]).
    pub object: Value,
    /// Server-side apply (`ServerSideApply`); never in a dry run.
    pub server_side: bool,
    /// `replace` (or `create` when the object does not exist) instead of `apply`. Argo CD
    /// never replaces CRDs and Namespaces: it updates them.
    pub replace: bool,
    /// Force: delete and re-create when the object cannot be patched.
    pub force: bool,
    /// Validate against the schema.
    pub validate: bool,
    /// Skip the dry run when the cluster does not know the resource type: set by
    /// `SkipDryRunOnMissingResource=true` or when a CRD of this sync defines the type.
    pub skip_dry_run_on_missing_resource: bool,
    /// Keep live values of `ignoreDifferences` fields when applying (`RespectIgnoreDifferences`).
    pub respect_ignore_differences: bool,
}

/// Why a prune was skipped; [`PruneSkipReason::message`] is Argo CD's result message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PruneSkipReason {
    /// The sync was started without prune.
    PruneNotEnabled,
    /// `Prune=false` on the resource (or as the Application's default).
    NoPruneOption,
}

impl PruneSkipReason {
    /// Argo CD's message for the `PruneSkipped` result.
    pub fn message(self) -> &'static str {
        match self {
            Self::PruneNotEnabled => "ignored (requires pruning)",
            Self::NoPruneOption => "ignored (no prune)",
        }
    }
}

/// What a task does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Apply a desired resource.
    Apply(ApplySpec),
    /// Create a hook and wait for it to complete. If the hook has
    /// [`HookDeletePolicy::BeforeHookCreation`] and [`Task::live_exists`], delete the live object
    /// first and wait until it is gone.
    Hook {
        /// How to apply the hook object.
        apply: ApplySpec,
        /// The hook type of this task (the phase it runs in).
        hook_type: HookType,
        /// When to delete the hook object.
        delete_policies: Vec<HookDeletePolicy>,
    },
    /// Delete a live resource that is no longer desired.
    Prune {
        /// `propagationPolicy` of the delete.
        propagation: PropagationPolicy,
        /// `Prune=confirm`: wait until the user confirms pruning before deleting.
        requires_confirmation: bool,
    },
    /// A live resource that is no longer desired but is not pruned; the executor records a
    /// `PruneSkipped` result with [`PruneSkipReason::message`].
    PruneSkipped {
        /// Why.
        reason: PruneSkipReason,
    },
}

/// One unit of work of a sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The resource.
    pub key: ResourceKey,
    /// The phase the task runs in.
    pub phase: SyncPhase,
    /// The wave within the phase (after Argo CD's adjustments: reversed for prunes, the final
    /// wave for `PruneLast`, moved up for Namespaces and CRDs others depend on).
    pub wave: i64,
    /// Whether the resource exists in the cluster (for hooks: an object with the hook's name).
    pub live_exists: bool,
    /// What to do.
    pub action: Action,
}

impl Task {
    /// The task's identity within a plan, as Argo CD keys sync results: resource and phase.
    pub fn id(&self) -> (ResourceKey, SyncPhase) {
        (self.key.clone(), self.phase)
    }

    /// Whether the task deletes (or skips deleting) a live resource.
    pub fn is_prune(&self) -> bool {
        matches!(
            self.action,
            Action::Prune { .. } | Action::PruneSkipped { .. }
        )
    }

    /// Whether the task runs a hook.
    pub fn is_hook(&self) -> bool {
        matches!(self.action, Action::Hook { .. })
    }
}

/// One phase and wave of a plan: the tasks that run together before the executor waits for
/// them to become healthy (or, for hooks, to complete).
///
/// `tasks` is in execution order, as gitops-engine's `runTasks`: first all prunes (run together),
/// then the hooks that must be deleted before creation, then applies and hooks in kind order
/// (Namespaces first, custom resources last), one kind group at a time ([`Step::kind_groups`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The phase.
    pub phase: SyncPhase,
    /// The wave.
    pub wave: i64,
    /// The tasks, prunes first, then the rest by kind order and name.
    pub tasks: Vec<Task>,
}

impl Step {
    /// The prune (and prune-skipped) tasks.
    pub fn prunes(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.is_prune())
    }

    /// The apply and hook tasks, in kind order.
    pub fn applies(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| !t.is_prune())
    }

    /// The apply and hook tasks grouped by consecutive kind: gitops-engine applies one group,
    /// waits for its API calls, then the next.
    pub fn kind_groups(&self) -> Vec<Vec<&Task>> {
        let mut groups: Vec<Vec<&Task>> = Vec::new();
        for task in self.applies() {
            match groups.last_mut() {
                Some(group) if group[0].key.kind == task.key.kind => group.push(task),
                _ => groups.push(vec![task]),
            }
        }
        groups
    }
}

/// A planned sync operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The steps, in order: `PreSync` waves, `Sync` waves (including prunes and the final
    /// `PruneLast` wave), `PostSync` waves. Each step starts only when the previous one
    /// succeeded and its resources are healthy.
    pub steps: Vec<Step>,
    /// `SyncFail` hooks, sorted by wave, kind order and name: run together only when the sync
    /// fails, then the operation fails.
    pub sync_fail_hooks: Vec<Task>,
    /// Whether this is a dry run.
    pub dry_run: bool,
}

impl Plan {
    /// Plans a sync of `resources` with `options`; see [`plan`].
    pub fn build(resources: &[PlanResource], options: &PlanOptions) -> Result<Self, PlanError> {
        plan(resources, options)
    }

    /// Every task of [`Plan::steps`] in order (not the `SyncFail` hooks).
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.steps.iter().flat_map(|step| step.tasks.iter())
    }

    /// The steps still to run given the tasks already `done` (by [`Task::id`]), each reduced to
    /// its pending tasks. An executor that persists `done` resumes where it stopped, as
    /// gitops-engine resumes from the operation's recorded results.
    pub fn pending_steps(&self, done: &BTreeSet<(ResourceKey, SyncPhase)>) -> Vec<Step> {
        self.steps
            .iter()
            .filter_map(|step| {
                let tasks: Vec<Task> = step
                    .tasks
                    .iter()
                    .filter(|task| !done.contains(&task.id()))
                    .cloned()
                    .collect();
                (!tasks.is_empty()).then_some(Step {
                    phase: step.phase,
                    wave: step.wave,
                    tasks,
                })
            })
            .collect()
    }

    /// The next step to run given the tasks already `done`: the first step with a pending task,
    /// reduced to its pending tasks. `None` when every task is done (the sync succeeded).
    pub fn next_step(&self, done: &BTreeSet<(ResourceKey, SyncPhase)>) -> Option<Step> {
        self.pending_steps(done).into_iter().next()
    }

    /// Whether every task of [`Plan::steps`] is done.
    pub fn is_complete(&self, done: &BTreeSet<(ResourceKey, SyncPhase)>) -> bool {
        self.tasks().all(|task| done.contains(&task.id()))
    }
}

/// Why a plan could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A resource has neither a desired nor a live object.
    #[error("resource {key} has neither a desired nor a live object")]
    EmptyResource {
        /// The resource.
        key: ResourceKey,
    },
    /// A desired or live object is not a JSON object.
    #[error("resource {key}: the {which} object is not a JSON object")]
    NotAnObject {
        /// The resource.
        key: ResourceKey,
        /// `desired` or `live`.
        which: &'static str,
    },
    /// A hook has neither `metadata.name` nor `metadata.generateName`.
    #[error("hook {key} has neither metadata.name nor metadata.generateName")]
    HookWithoutName {
        /// The hook's key as given (its name is empty).
        key: ResourceKey,
    },
    /// Two tasks would have the same resource and phase (duplicate resources in the input).
    #[error("resource {key} appears twice in phase {phase}")]
    DuplicateTask {
        /// The resource.
        key: ResourceKey,
        /// The phase.
        phase: SyncPhase,
    },
    /// An invalid sync option.
    #[error(transparent)]
    SyncOption(#[from] SyncOptionError),
}

/// The `Namespace` object to create for `CreateNamespace=true`, or `None` when the option is off,
/// the destination namespace is empty, or a desired (non-hook) resource already is that
/// `Namespace` (then it is synced as any resource). Argo CD creates it only when it does not
/// exist or its managed metadata must change; that decision, and the
/// `managedNamespaceMetadata` labels and annotations, are the controller's. Pass the result in
/// [`PlanOptions::managed_namespace`].
pub fn namespace_to_create(
    namespace: &str,
    app_options: &SyncOptions,
    resources: &[PlanResource],
) -> Option<Value> {
    if !app_options.create_namespace
        || namespace.is_empty()
        || declares_namespace(namespace, resources)
    {
        return None;
    }
    Some(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace},
    }))
}

/// Whether a desired non-hook object is the core `Namespace` named `namespace`.
fn declares_namespace(namespace: &str, resources: &[PlanResource]) -> bool {
    resources.iter().any(|r| {
        r.desired.as_ref().is_some_and(|d| {
            object::kind(d) == "Namespace"
                && object::group(d).is_empty()
                && object::name(d) == namespace
                && !is_hook(d)
        })
    })
}

/// A task being planned.
#[derive(Debug)]
struct Draft<'a> {
    key: ResourceKey,
    phase: SyncPhase,
    base_wave: i64,
    wave_override: Option<i64>,
    /// The object to apply; `None` for prunes.
    target: Option<Value>,
    /// The live object, when it exists.
    live: Option<&'a Value>,
    /// The namespace the target lives in for dependency ordering: gitops-engine fills in the
    /// destination namespace on every target without one, cluster-scoped or not.
    ref_namespace: String,
    /// For hooks: the parsed hook.
    hook: Option<Hook>,
    out_of_sync: bool,
}

impl Draft<'_> {
    fn wave(&self) -> i64 {
        self.wave_override.unwrap_or(self.base_wave)
    }

    /// gitops-engine `syncTasks.Less`: phase, wave, kind order, name; then, where Go's unstable
    /// sort leaves the order undefined, kind, namespace and group, so plans are deterministic.
    fn cmp_order(&self, other: &Self) -> Ordering {
        self.phase
            .cmp(&other.phase)
            .then_with(|| self.wave().cmp(&other.wave()))
            .then_with(|| kind_order(&self.key.kind).cmp(&kind_order(&other.key.kind)))
            .then_with(|| self.key.name.cmp(&other.key.name))
            .then_with(|| self.key.kind.cmp(&other.key.kind))
            .then_with(|| self.key.namespace.cmp(&other.key.namespace))
            .then_with(|| self.key.group.cmp(&other.key.group))
    }
}

/// Plans a sync operation the way gitops-engine orders one.
///
/// 1. Tasks. Each desired hook (see [`crate::is_hook`]) gives one task per sync phase it runs
///    in — none when hooks are skipped (`skip_hooks`, or a selective sync). Each other resource
///    gives one `Sync` task: apply when desired, prune (or prune-skipped) when only live.
///    Skipped objects (`argocd.argoproj.io/hook: Skip`) get no task, and neither do live-only
///    hooks: neither is ever applied or pruned. A selective sync keeps only selected resources.
///    A desired hook whose live object is not a hook also prunes that live object.
/// 2. Waves. Each task's wave is [`wave_of`] its object (desired, else live). Prune tasks'
///    waves are reversed (the lowest prune wave swaps with the highest, and so on) so that
///    deletion runs in reverse creation order. Prune tasks with `PruneLast` (the Application's,
///    or `PruneLast=true` on the live object) move to a final wave: one past the highest `Sync`
///    wave (at least 1).
/// 3. Order. Tasks sort by phase, wave, [`kind_order`], name. Then a `Namespace` that a task
///    placed earlier lives in moves right before the first such task, taking its phase and
///    wave; likewise a CRD before the first custom resource of its group and kind.
/// 4. Filter. With `ApplyOutOfSyncOnly`, applies of resources that exist and are in sync are
///    dropped (hooks and prunes stay).
/// 5. Steps. Tasks group by (phase, wave) into [`Step`]s; `SyncFail` hooks go to
///    [`Plan::sync_fail_hooks`].
pub fn plan(resources: &[PlanResource], options: &PlanOptions) -> Result<Plan, PlanError> {
    let app = &options.app_options;
    let selected = options.selected.as_ref().filter(|set| !set.is_empty());
    let skip_hooks = options.skip_hooks || selected.is_some();
    let is_selected =
        |key: &ResourceKey| selected.is_none_or(|set| set.iter().any(|s| s.selects(key)));

    let mut drafts: Vec<Draft<'_>> = Vec::new();
    for resource in resources {
        let key = &resource.key;
        if resource.desired.is_none() && resource.live.is_none() {
            return Err(PlanError::EmptyResource { key: key.clone() });
        }
        for (which, obj) in [("desired", &resource.desired), ("live", &resource.live)] {
            if obj.as_ref().is_some_and(|o| !o.is_object()) {
                return Err(PlanError::NotAnObject {
                    key: key.clone(),
                    which,
                });
            }
        }

        let desired_hook = resource
            .desired
            .as_ref()
            .and_then(|d| hook_of(d).filter(Hook::is_hook).map(|h| (d, h)));
        if let Some((desired, hook)) = desired_hook {
            if !skip_hooks {
                for phase in hook.sync_phases() {
                    drafts.push(hook_draft(resource, desired, &hook, phase, options)?);
                }
            }
            // The live object is matched to no desired resource: gitops-engine prunes it unless
            // it is itself a hook.
            if let Some(live) = resource.live.as_ref().filter(|l| !is_hook(l))
                && is_selected(key)
                && !is_skipped(live)
            {
                drafts.push(resource_draft(resource, None, Some(live), options));
            }
            continue;
        }

        if !is_selected(key) {
            continue;
        }
        let obj = resource.desired.as_ref().or(resource.live.as_ref());
        if obj.is_some_and(|o| is_hook(o) || is_skipped(o)) {
            continue;
        }
        drafts.push(resource_draft(
            resource,
            resource.desired.as_ref(),
            resource.live.as_ref(),
            options,
        ));
    }

    if let Some(managed) = &options.managed_namespace
        && !options.namespace.is_empty()
        && !declares_namespace(&options.namespace, resources)
    {
        let name = object::name(&managed.object);
        let name = if name.is_empty() {
            options.namespace.as_str()
        } else {
            name
        };
        drafts.push(Draft {
            key: ResourceKey::new("", "Namespace", "", name),
            phase: SyncPhase::PreSync,
            base_wave: wave_of(&managed.object),
            wave_override: None,
            target: Some(managed.object.clone()),
            live: None,
            ref_namespace: String::new(),
            hook: None,
            out_of_sync: true,
        });
    }

    let mut seen = BTreeSet::new();
    for draft in &drafts {
        if !seen.insert((draft.key.clone(), draft.phase)) {
            return Err(PlanError::DuplicateTask {
                key: draft.key.clone(),
                phase: draft.phase,
            });
        }
    }

    reverse_prune_waves(&mut drafts);
    move_prune_last(&mut drafts, app);

    drafts.sort_by(Draft::cmp_order);
    // Namespaces before the resources that live in them.
    adjust_deps(
        &mut drafts,
        |d| (d.key.kind == "Namespace" && d.key.group.is_empty()).then(|| d.key.name.clone()),
        |d| (!d.ref_namespace.is_empty()).then(|| d.ref_namespace.clone()),
    );
    // CRDs before the custom resources they define.
    adjust_deps(
        &mut drafts,
        |d| d.target.as_ref().and_then(crd_group_kind),
        |d| Some(format!("{}/{}", d.key.group, d.key.kind)),
    );

    if app.apply_out_of_sync_only {
        drafts.retain(|d| {
            d.hook.is_some() || d.target.is_none() || d.live.is_none() || d.out_of_sync
        });
    }

    let crd_kinds: BTreeSet<String> = resources
        .iter()
        .filter_map(|r| r.desired.as_ref().and_then(crd_group_kind))
        .collect();
    let mut steps: BTreeMap<(SyncPhase, i64), Vec<Task>> = BTreeMap::new();
    let mut sync_fail_hooks = Vec::new();
    for draft in drafts {
        let phase = draft.phase;
        let wave = draft.wave();
        let task = build_task(draft, options, &crd_kinds);
        if phase == SyncPhase::SyncFail {
            sync_fail_hooks.push(task);
        } else {
            steps.entry((phase, wave)).or_default().push(task);
        }
    }
    let steps = steps
        .into_iter()
        .map(|((phase, wave), tasks)| {
            let (mut ordered, rest): (Vec<Task>, Vec<Task>) =
                tasks.into_iter().partition(Task::is_prune);
            ordered.extend(rest);
            Step {
                phase,
                wave,
                tasks: ordered,
            }
        })
        .collect();

    Ok(Plan {
        steps,
        sync_fail_hooks,
        dry_run: options.dry_run,
    })
}

/// The draft of an apply or prune task in phase `Sync`.
fn resource_draft<'a>(
    resource: &'a PlanResource,
    desired: Option<&Value>,
    live: Option<&'a Value>,
    options: &PlanOptions,
) -> Draft<'a> {
    let key = resource.key.clone();
    let fallback_namespace = if key.namespace.is_empty() {
        options.namespace.as_str()
    } else {
        key.namespace.as_str()
    };
    let target = desired.map(|d| {
        let mut target = d.clone();
        if resource.namespaced
            && object::namespace(&target).is_empty()
            && !fallback_namespace.is_empty()
        {
            object::set_metadata(
                &mut target,
                "namespace",
                Value::String(fallback_namespace.to_owned()),
            );
        }
        target
    });
    let ref_namespace = target.as_ref().map_or_else(String::new, |t| {
        let namespace = object::namespace(t);
        if namespace.is_empty() {
            options.namespace.clone()
        } else {
            namespace.to_owned()
        }
    });
    let obj = desired.or(live).unwrap_or(&Value::Null);
    Draft {
        key,
        phase: SyncPhase::Sync,
        base_wave: wave_of(obj),
        wave_override: None,
        target,
        live,
        ref_namespace,
        hook: None,
        out_of_sync: resource.out_of_sync,
    }
}

/// The draft of a hook task in `phase`: named, namespaced and with Argo CD's hook finalizer.
fn hook_draft<'a>(
    resource: &'a PlanResource,
    desired: &Value,
    hook: &Hook,
    phase: SyncPhase,
    options: &PlanOptions,
) -> Result<Draft<'a>, PlanError> {
    let mut target = desired.clone();
    let mut name = object::name(desired).to_owned();
    if name.is_empty() {
        let generate_name = object::str_at(desired, "/metadata/generateName");
        if generate_name.is_empty() {
            return Err(PlanError::HookWithoutName {
                key: resource.key.clone(),
            });
        }
        name = format!("{generate_name}{}", hook_name_postfix(options, phase));
        object::set_metadata(&mut target, "name", Value::String(name.clone()));
    }

    let finalizers = target
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !finalizers
        .iter()
        .any(|f| f.as_str() == Some(HOOK_FINALIZER))
    {
        let mut finalizers = finalizers;
        finalizers.push(Value::String(HOOK_FINALIZER.to_owned()));
        object::set_metadata(&mut target, "finalizers", Value::Array(finalizers));
    }

    let own_namespace = object::namespace(desired);
    let namespace = if !own_namespace.is_empty() {
        own_namespace.to_owned()
    } else if !resource.key.namespace.is_empty() {
        resource.key.namespace.clone()
    } else {
        options.namespace.clone()
    };
    if resource.namespaced && own_namespace.is_empty() && !namespace.is_empty() {
        object::set_metadata(&mut target, "namespace", Value::String(namespace.clone()));
    }

    let group = if resource.key.kind.is_empty() {
        object::group(desired).to_owned()
    } else {
        resource.key.group.clone()
    };
    let kind = if resource.key.kind.is_empty() {
        object::kind(desired).to_owned()
    } else {
        resource.key.kind.clone()
    };
    let key_namespace = if resource.namespaced {
        namespace.clone()
    } else {
        String::new()
    };
    let live = resource.live.as_ref().filter(|l| object::name(l) == name);
    Ok(Draft {
        key: ResourceKey::new(group, kind, key_namespace, name),
        phase,
        base_wave: wave_of(desired),
        wave_override: None,
        target: Some(target),
        live,
        ref_namespace: namespace,
        hook: Some(hook.clone()),
        out_of_sync: resource.out_of_sync,
    })
}

/// The postfix gitops-engine appends to a hook's `generateName`:
/// `<first 7 characters of the revision (all of it when shorter than 8)>-<phase>-<start in Unix
/// seconds>`, lower-cased.
fn hook_name_postfix(options: &PlanOptions, phase: SyncPhase) -> String {
    let revision: String = if options.revision.chars().count() >= 8 {
        options.revision.chars().take(7).collect()
    } else {
        options.revision.clone()
    };
    format!("{revision}-{phase}-{}", options.started_at_unix).to_lowercase()
}

/// Reverses the waves of prune tasks: the lowest distinct prune wave swaps with the highest,
/// the second lowest with the second highest, and so on (gitops-engine "symmetric swap").
fn reverse_prune_waves(drafts: &mut [Draft<'_>]) {
    let waves: Vec<i64> = drafts
        .iter()
        .filter(|d| d.target.is_none())
        .map(Draft::wave)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let n = waves.len();
    for draft in drafts.iter_mut().filter(|d| d.target.is_none()) {
        if let Ok(position) = waves.binary_search(&draft.wave())
            && position != n - 1 - position
        {
            draft.wave_override = Some(waves[n - 1 - position]);
        }
    }
}

/// Moves `PruneLast` prune tasks to one past the highest `Sync` wave (at least 1).
fn move_prune_last(drafts: &mut [Draft<'_>], app: &SyncOptions) {
    let last_wave = drafts
        .iter()
        .filter(|d| d.phase == SyncPhase::Sync)
        .map(Draft::wave)
        .fold(0, i64::max)
        + 1;
    for draft in drafts.iter_mut().filter(|d| d.target.is_none()) {
        let annotated = draft.live.is_some_and(|live| {
            object::has_annotation_option(live, ANNOTATION_SYNC_OPTIONS, "PruneLast=true")
        });
        if app.prune_last || annotated {
            draft.wave_override = Some(last_wave);
        }
    }
}

/// gitops-engine `syncTasks.adjustDeps`: walking the sorted tasks, remember the first task that
/// refers to each dependency; when a dependency comes later, move it right before that task and
/// give it that task's phase and wave. Prune tasks take no part.
fn adjust_deps<'a>(
    drafts: &mut Vec<Draft<'a>>,
    is_dep: impl Fn(&Draft<'a>) -> Option<String>,
    refers_to_dep: impl Fn(&Draft<'a>) -> Option<String>,
) {
    let mut first_index: HashMap<String, usize> = HashMap::new();
    for i in 0..drafts.len() {
        if drafts[i].target.is_none() {
            continue;
        }
        if let Some(dep_key) = is_dep(&drafts[i]) {
            if let Some(&index) = first_index.get(&dep_key) {
                let wave = drafts[index].wave();
                let phase = drafts[index].phase;
                let mut dep = drafts.remove(i);
                dep.wave_override = Some(wave);
                dep.phase = phase;
                drafts.insert(index, dep);
                for position in first_index.values_mut() {
                    if *position >= index {
                        *position += 1;
                    }
                }
            }
        } else if let Some(dep_key) = refers_to_dep(&drafts[i]) {
            first_index.entry(dep_key).or_insert(i);
        }
    }
}

/// `group/kind` defined by a CRD object (`spec.group`, `spec.names.kind`), if `obj` is one.
fn crd_group_kind(obj: &Value) -> Option<String> {
    if object::kind(obj) != "CustomResourceDefinition"
        || object::group(obj) != "apiextensions.k8s.io"
    {
        return None;
    }
    let group = obj.pointer("/spec/group")?.as_str()?;
    let kind = obj.pointer("/spec/names/kind")?.as_str()?;
    Some(format!("{group}/{kind}"))
}

fn build_task(draft: Draft<'_>, options: &PlanOptions, crd_kinds: &BTreeSet<String>) -> Task {
    let app = &options.app_options;
    let phase = draft.phase;
    let wave = draft.wave();
    let live_exists = draft.live.is_some();
    let action = match draft.target {
        Some(target) => {
            let effective = EffectiveSyncOptions::resolve(app, Some(&target), draft.live);
            let apply = ApplySpec {
                server_side: effective.server_side_apply && !options.dry_run,
                replace: effective.replace,
                force: options.force || effective.force,
                validate: effective.validate,
                skip_dry_run_on_missing_resource: effective.skip_dry_run_on_missing_resource
                    || crd_kinds.contains(&format!("{}/{}", draft.key.group, draft.key.kind)),
                respect_ignore_differences: effective.respect_ignore_differences,
                object: target,
            };
            match draft.hook {
                Some(hook) => Action::Hook {
                    apply,
                    hook_type: phase_hook_type(phase),
                    delete_policies: hook.delete_policies,
                },
                None => Action::Apply(apply),
            }
        }
        None => {
            let effective = EffectiveSyncOptions::resolve(app, None, draft.live);
            if !options.prune {
                Action::PruneSkipped {
                    reason: PruneSkipReason::PruneNotEnabled,
                }
            } else if effective.prune == ConfirmOption::Disabled {
                Action::PruneSkipped {
                    reason: PruneSkipReason::NoPruneOption,
                }
            } else {
                Action::Prune {
                    propagation: app.prune_propagation_policy,
                    requires_confirmation: effective.prune == ConfirmOption::Confirm,
                }
            }
        }
    };
    Task {
        key: draft.key,
        phase,
        wave,
        live_exists,
        action,
    }
}

fn phase_hook_type(phase: SyncPhase) -> HookType {
    match phase {
        SyncPhase::PreSync => HookType::PreSync,
        SyncPhase::Sync => HookType::Sync,
        SyncPhase::PostSync => HookType::PostSync,
        SyncPhase::SyncFail => HookType::SyncFail,
    }
}
