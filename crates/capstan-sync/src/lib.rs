//! Planning of Argo CD sync operations: which resources are applied, which hooks run, what is
//! pruned, and in which order — phases, waves, kind order — exactly as gitops-engine
//! (`pkg/sync`) and Argo CD's controller (`controller/sync.go`, `controller/hook.go`) decide it.
//!
//! The controller compares desired and live state, then calls [`plan`] with one
//! [`PlanResource`] per resource and the operation's [`PlanOptions`]. The resulting [`Plan`] is
//! an ordered list of [`Step`]s, one per (phase, wave); the controller executes one step at a
//! time, waits for its resources to become healthy and its hooks to complete, records which
//! tasks are done, and asks [`Plan::next_step`] what comes next — so an operation resumes after
//! a restart from the results it persisted. `SyncFail` hooks are kept apart
//! ([`Plan::sync_fail_hooks`]) and run only when the sync fails.
//!
//! Around the planner:
//! - [`hook_of`], [`is_hook`], [`is_skipped`]: Argo CD and Helm hook annotations
//!   (`argocd.argoproj.io/hook`, `helm.sh/hook`, delete policies), Argo CD's winning;
//! - [`wave_of`]: `argocd.argoproj.io/sync-wave`, falling back to `helm.sh/hook-weight`;
//! - [`kind_order`]: gitops-engine's kind order within a wave;
//! - [`SyncOptions`], [`ResourceSyncOptions`], [`EffectiveSyncOptions`]: Application-level and
//!   per-resource (`argocd.argoproj.io/sync-options`) sync options and how they combine;
//! - [`namespace_to_create`]: the `Namespace` object for `CreateNamespace=true`.
//!
//! **Architecture Invariant:** this crate is pure: values in, values out. It never depends on
//! tokio, a Kubernetes client or any IO, tonic or Redis, and reads no clock: the operation's
//! start time is an input. The controller owns every API call; this crate only decides.
//!
//! # Design decision: a static plan plus a done-set
//!
//! gitops-engine recomputes its task list on every reconciliation and finds the next wave from
//! the results recorded so far. Capstan computes the plan once per operation (it depends only
//! on the desired and live objects and the operation) and lets the executor keep the set of
//! completed `(resource, phase)` pairs, which is what Argo CD persists in
//! `status.operationState.syncResult.resources`. Re-planning with the same inputs gives the
//! same plan, so an executor may also re-plan on resume.

mod hook;
mod key;
mod kinds;
mod object;
mod options;
mod plan;

pub use hook::{
    Hook, HookDeletePolicy, HookSource, HookType, SyncPhase, hook_of, is_hook, is_skipped, wave_of,
};
pub use key::ResourceKey;
pub use kinds::{KIND_ORDER, kind_order};
pub use object::{
    ANNOTATION_HELM_HOOK, ANNOTATION_HELM_HOOK_DELETE_POLICY, ANNOTATION_HELM_HOOK_WEIGHT,
    ANNOTATION_HOOK, ANNOTATION_HOOK_DELETE_POLICY, ANNOTATION_SYNC_OPTIONS, ANNOTATION_SYNC_WAVE,
    HOOK_FINALIZER,
};
pub use options::{
    ConfirmOption, EffectiveSyncOptions, KNOWN_APP_OPTIONS, PropagationPolicy, ResourceSyncOptions,
    SyncOptionError, SyncOptions,
};
pub use plan::{
    Action, ApplySpec, ManagedNamespace, Plan, PlanError, PlanOptions, PlanResource,
    PruneSkipReason, Step, Task, namespace_to_create, plan,
};

#[cfg(test)]
mod tests;
