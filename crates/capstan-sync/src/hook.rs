//! Hooks and waves: which objects are hooks, of which types, with which delete policies, and in
//! which wave (gitops-engine `pkg/sync/hook`, `pkg/sync/hook/helm`, `pkg/sync/syncwaves`, and
//! Argo CD `controller/hook.go` for `PreDelete`/`PostDelete`).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::{
    self, ANNOTATION_HELM_HOOK, ANNOTATION_HELM_HOOK_DELETE_POLICY, ANNOTATION_HELM_HOOK_WEIGHT,
    ANNOTATION_HOOK, ANNOTATION_HOOK_DELETE_POLICY, ANNOTATION_SYNC_WAVE,
};

/// A phase of a sync operation, in execution order (gitops-engine `syncPhaseOrder`):
/// `PreSync` < `Sync` < `PostSync` < `SyncFail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SyncPhase {
    /// Hooks that run before anything is applied.
    PreSync,
    /// Resources (and `Sync` hooks).
    Sync,
    /// Hooks that run after every resource is applied and healthy.
    PostSync,
    /// Hooks that run only when the sync fails.
    SyncFail,
}

impl SyncPhase {
    /// Argo CD's name of the phase (`PreSync`, `Sync`, `PostSync`, `SyncFail`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreSync => "PreSync",
            Self::Sync => "Sync",
            Self::PostSync => "PostSync",
            Self::SyncFail => "SyncFail",
        }
    }
}

impl fmt::Display for SyncPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook type (`argocd.argoproj.io/hook`, or mapped from `helm.sh/hook`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HookType {
    /// Runs before the manifests are applied.
    PreSync,
    /// Runs with the manifests, after `PreSync` hooks succeeded.
    Sync,
    /// Runs after a successful apply once every resource is healthy.
    PostSync,
    /// Runs when the sync operation fails.
    SyncFail,
    /// The object is never applied (when `Skip` is its only sync hook type).
    Skip,
    /// Runs before the Application's resources are deleted; never during a sync.
    PreDelete,
    /// Runs after the Application's resources are deleted; never during a sync.
    PostDelete,
}

impl HookType {
    /// Argo CD's name of the hook type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreSync => "PreSync",
            Self::Sync => "Sync",
            Self::PostSync => "PostSync",
            Self::SyncFail => "SyncFail",
            Self::Skip => "Skip",
            Self::PreDelete => "PreDelete",
            Self::PostDelete => "PostDelete",
        }
    }

    /// The sync phase a hook of this type runs in; `None` for `Skip`, `PreDelete` and
    /// `PostDelete`, which never run during a sync.
    pub fn sync_phase(self) -> Option<SyncPhase> {
        match self {
            Self::PreSync => Some(SyncPhase::PreSync),
            Self::Sync => Some(SyncPhase::Sync),
            Self::PostSync => Some(SyncPhase::PostSync),
            Self::SyncFail => Some(SyncPhase::SyncFail),
            Self::Skip | Self::PreDelete | Self::PostDelete => None,
        }
    }

    /// The gitops-engine hook types (`common.NewHookType`); `PreDelete`/`PostDelete` are Argo
    /// CD's and parsed separately.
    fn gitops_engine(text: &str) -> Option<Self> {
        match text {
            "PreSync" => Some(Self::PreSync),
            "Sync" => Some(Self::Sync),
            "PostSync" => Some(Self::PostSync),
            "SyncFail" => Some(Self::SyncFail),
            "Skip" => Some(Self::Skip),
            _ => None,
        }
    }

    /// Helm's hook types that Argo CD maps (gitops-engine `helm.NewType`): `pre-install` and
    /// `pre-upgrade` are `PreSync`, `post-install` and `post-upgrade` are `PostSync`.
    fn from_helm(text: &str) -> Option<Self> {
        match text {
            "pre-install" | "pre-upgrade" => Some(Self::PreSync),
            "post-install" | "post-upgrade" => Some(Self::PostSync),
            _ => None,
        }
    }
}

impl fmt::Display for HookType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When Argo CD deletes a hook object (`argocd.argoproj.io/hook-delete-policy`, or mapped from
/// `helm.sh/hook-delete-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HookDeletePolicy {
    /// Delete the hook after it succeeded (`hook-succeeded`).
    HookSucceeded,
    /// Delete the hook after it failed (`hook-failed`).
    HookFailed,
    /// Delete an existing hook object of the same name before creating it
    /// (`before-hook-creation`); the default when no policy is given.
    BeforeHookCreation,
    /// Never delete the hook object (recent Argo CD; no Helm equivalent).
    Never,
}

impl HookDeletePolicy {
    /// Argo CD's name of the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HookSucceeded => "HookSucceeded",
            Self::HookFailed => "HookFailed",
            Self::BeforeHookCreation => "BeforeHookCreation",
            Self::Never => "Never",
        }
    }

    fn from_argo(text: &str) -> Option<Self> {
        match text {
            "HookSucceeded" => Some(Self::HookSucceeded),
            "HookFailed" => Some(Self::HookFailed),
            "BeforeHookCreation" => Some(Self::BeforeHookCreation),
            "Never" => Some(Self::Never),
            _ => None,
        }
    }

    fn from_helm(text: &str) -> Option<Self> {
        match text {
            "hook-succeeded" => Some(Self::HookSucceeded),
            "hook-failed" => Some(Self::HookFailed),
            "before-hook-creation" => Some(Self::BeforeHookCreation),
            _ => None,
        }
    }
}

impl fmt::Display for HookDeletePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an object's hook types came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookSource {
    /// `argocd.argoproj.io/hook` named at least one hook type gitops-engine knows.
    ArgoCd,
    /// Types mapped from `helm.sh/hook` (only when the Argo CD annotation names none).
    Helm,
    /// No recognised sync hook type (for example only `PostDelete`, or only an unknown value).
    None,
}

/// What an object's hook annotations say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// The hook types, deduplicated, in annotation order: first the sync hook types
    /// (`PreSync`, `Sync`, `PostSync`, `SyncFail`, `Skip`) from `argocd.argoproj.io/hook`, or,
    /// when that names none, from `helm.sh/hook`; then `PreDelete`/`PostDelete` found in
    /// either annotation.
    pub types: Vec<HookType>,
    /// Delete policies: those of `argocd.argoproj.io/hook-delete-policy` followed by those of
    /// `helm.sh/hook-delete-policy` (gitops-engine reads both), deduplicated;
    /// `[BeforeHookCreation]` when neither names a known policy.
    pub delete_policies: Vec<HookDeletePolicy>,
    /// Which annotation the sync hook types came from.
    pub source: HookSource,
}

impl Hook {
    /// Whether the object is skipped: `Skip` is its only sync hook type (gitops-engine
    /// `hook.Skip`). A skipped object is never applied and never pruned; it is not a hook.
    pub fn is_skip(&self) -> bool {
        let mut sync_types = self.sync_types();
        sync_types.next() == Some(HookType::Skip) && sync_types.next().is_none()
    }

    /// Whether gitops-engine treats the object as a hook (`hook.IsHook`) — or Argo CD does,
    /// for `PreDelete`/`PostDelete`. Skipped objects are not hooks.
    pub fn is_hook(&self) -> bool {
        !self.is_skip()
    }

    /// The sync phases the hook runs in, in phase order, each once. Empty for `Skip`,
    /// `PreDelete`/`PostDelete`-only hooks and hooks with unknown types: those never run
    /// during a sync.
    pub fn sync_phases(&self) -> Vec<SyncPhase> {
        if self.is_skip() {
            return Vec::new();
        }
        let mut phases: Vec<SyncPhase> = self.types.iter().filter_map(|t| t.sync_phase()).collect();
        phases.sort();
        phases.dedup();
        phases
    }

    /// Whether the hook has `policy`.
    pub fn has_delete_policy(&self, policy: HookDeletePolicy) -> bool {
        self.delete_policies.contains(&policy)
    }

    fn sync_types(&self) -> impl Iterator<Item = HookType> + '_ {
        self.types
            .iter()
            .copied()
            .filter(|t| !matches!(t, HookType::PreDelete | HookType::PostDelete))
    }
}

/// What the hook annotations of `obj` say, or `None` when it has none that make it a hook or
/// a skipped object.
///
/// `Some` exactly when:
/// - `argocd.argoproj.io/hook` is present (any value: an unknown value makes a hook that never
///   runs, as in gitops-engine, where such an object is left out of the sync), or
/// - `helm.sh/hook` is present and is not exactly `crd-install` (Helm calls CRDs hooks; Argo CD
///   applies them as normal resources).
///
/// Argo CD's annotation wins: Helm types are used only when `argocd.argoproj.io/hook` names no
/// gitops-engine type. Use [`Hook::is_hook`] / [`Hook::is_skip`] to tell hooks from skipped
/// objects.
pub fn hook_of(obj: &Value) -> Option<Hook> {
    let argo_present = object::annotation(obj, ANNOTATION_HOOK).is_some();
    let helm_value = object::annotation(obj, ANNOTATION_HELM_HOOK);
    let helm_hook = helm_value.is_some_and(|value| value != "crd-install");
    if !argo_present && !helm_hook {
        return None;
    }

    let argo_items = object::annotation_csv(obj, ANNOTATION_HOOK);
    let helm_items = object::annotation_csv(obj, ANNOTATION_HELM_HOOK);

    let mut types: Vec<HookType> = Vec::new();
    fn push(t: HookType, types: &mut Vec<HookType>) {
        if !types.contains(&t) {
            types.push(t);
        }
    }
    for item in &argo_items {
        if let Some(t) = HookType::gitops_engine(item) {
            push(t, &mut types);
        }
    }
    let source = if !types.is_empty() {
        HookSource::ArgoCd
    } else {
        for item in &helm_items {
            if let Some(t) = HookType::from_helm(item) {
                push(t, &mut types);
            }
        }
        if types.is_empty() {
            HookSource::None
        } else {
            HookSource::Helm
        }
    };
    for item in &argo_items {
        match item.as_str() {
            "PreDelete" => push(HookType::PreDelete, &mut types),
            "PostDelete" => push(HookType::PostDelete, &mut types),
            _ => {}
        }
    }
    for item in &helm_items {
        match item.as_str() {
            "pre-delete" => push(HookType::PreDelete, &mut types),
            "post-delete" => push(HookType::PostDelete, &mut types),
            _ => {}
        }
    }

    let mut delete_policies: Vec<HookDeletePolicy> = Vec::new();
    let argo_policies = object::annotation_csv(obj, ANNOTATION_HOOK_DELETE_POLICY)
        .into_iter()
        .filter_map(|p| HookDeletePolicy::from_argo(&p));
    let helm_policies = object::annotation_csv(obj, ANNOTATION_HELM_HOOK_DELETE_POLICY)
        .into_iter()
        .filter_map(|p| HookDeletePolicy::from_helm(&p));
    for policy in argo_policies.chain(helm_policies) {
        if !delete_policies.contains(&policy) {
            delete_policies.push(policy);
        }
    }
    if delete_policies.is_empty() {
        delete_policies.push(HookDeletePolicy::BeforeHookCreation);
    }

    Some(Hook {
        types,
        delete_policies,
        source,
    })
}

/// Whether `obj` is a hook (gitops-engine `hook.IsHook`, plus Argo CD's `PreDelete` and
/// `PostDelete` hooks): hooks are never applied or pruned as resources; they run in their
/// phases (if any) and are created anew.
pub fn is_hook(obj: &Value) -> bool {
    hook_of(obj).is_some_and(|hook| hook.is_hook())
}

/// Whether `obj` is skipped (`argocd.argoproj.io/hook: Skip`): never applied, never pruned.
pub fn is_skipped(obj: &Value) -> bool {
    hook_of(obj).is_some_and(|hook| hook.is_skip())
}

/// The wave of `obj` (gitops-engine `syncwaves.Wave`): `argocd.argoproj.io/sync-wave` when it
/// parses as an integer, otherwise `helm.sh/hook-weight` when that parses, otherwise 0.
///
/// Like Argo CD, an unparsable value is not an error: it is ignored (a bad sync-wave falls back
/// to the Helm weight, a bad weight to 0), and the Helm weight counts on any object, hook or
/// not. Values parse as Go's `strconv.Atoi`: an optional sign and digits, no spaces.
pub fn wave_of(obj: &Value) -> i64 {
    object::annotation(obj, ANNOTATION_SYNC_WAVE)
        .and_then(object::atoi)
        .or_else(|| object::annotation(obj, ANNOTATION_HELM_HOOK_WEIGHT).and_then(object::atoi))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn annotated(annotations: &[(&str, &str)]) -> Value {
        let map: serde_json::Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": map}})
    }

    use HookDeletePolicy::{BeforeHookCreation, HookFailed, HookSucceeded, Never};
    use HookType::{PostDelete, PostSync, PreDelete, PreSync, Skip, Sync, SyncFail};

    #[test]
    fn hook_parsing_table() {
        struct Case {
            name: &'static str,
            annotations: &'static [(&'static str, &'static str)],
            want: Option<(Vec<HookType>, Vec<HookDeletePolicy>, HookSource)>,
            is_hook: bool,
            phases: Vec<SyncPhase>,
        }
        let cases = vec![
            Case {
                name: "no annotations",
                annotations: &[],
                want: None,
                is_hook: false,
                phases: vec![],
            },
            Case {
                name: "argo PreSync, default policy",
                annotations: &[(ANNOTATION_HOOK, "PreSync")],
                want: Some((vec![PreSync], vec![BeforeHookCreation], HookSource::ArgoCd)),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "argo several types, spaces, duplicates",
                annotations: &[(ANNOTATION_HOOK, "PostSync, PreSync,PostSync")],
                want: Some((
                    vec![PostSync, PreSync],
                    vec![BeforeHookCreation],
                    HookSource::ArgoCd,
                )),
                is_hook: true,
                phases: vec![SyncPhase::PreSync, SyncPhase::PostSync],
            },
            Case {
                name: "argo Sync and SyncFail with policies",
                annotations: &[
                    (ANNOTATION_HOOK, "Sync,SyncFail"),
                    (ANNOTATION_HOOK_DELETE_POLICY, "HookSucceeded,HookFailed"),
                ],
                want: Some((
                    vec![Sync, SyncFail],
                    vec![HookSucceeded, HookFailed],
                    HookSource::ArgoCd,
                )),
                is_hook: true,
                phases: vec![SyncPhase::Sync, SyncPhase::SyncFail],
            },
            Case {
                name: "Skip alone is not a hook",
                annotations: &[(ANNOTATION_HOOK, "Skip")],
                want: Some((vec![Skip], vec![BeforeHookCreation], HookSource::ArgoCd)),
                is_hook: false,
                phases: vec![],
            },
            Case {
                name: "Skip with another type is a hook of that type",
                annotations: &[(ANNOTATION_HOOK, "Skip,PreSync")],
                want: Some((
                    vec![Skip, PreSync],
                    vec![BeforeHookCreation],
                    HookSource::ArgoCd,
                )),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "unknown argo value: a hook that never runs",
                annotations: &[(ANNOTATION_HOOK, "Whenever")],
                want: Some((vec![], vec![BeforeHookCreation], HookSource::None)),
                is_hook: true,
                phases: vec![],
            },
            Case {
                name: "PostDelete never runs during a sync",
                annotations: &[(ANNOTATION_HOOK, "PostDelete")],
                want: Some((vec![PostDelete], vec![BeforeHookCreation], HookSource::None)),
                is_hook: true,
                phases: vec![],
            },
            Case {
                name: "PreSync with PreDelete runs in PreSync",
                annotations: &[(ANNOTATION_HOOK, "PreDelete,PreSync")],
                want: Some((
                    vec![PreSync, PreDelete],
                    vec![BeforeHookCreation],
                    HookSource::ArgoCd,
                )),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "Never policy",
                annotations: &[
                    (ANNOTATION_HOOK, "PreSync"),
                    (ANNOTATION_HOOK_DELETE_POLICY, "Never"),
                ],
                want: Some((vec![PreSync], vec![Never], HookSource::ArgoCd)),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "unknown policy falls back to the default",
                annotations: &[
                    (ANNOTATION_HOOK, "PreSync"),
                    (ANNOTATION_HOOK_DELETE_POLICY, "Sometimes"),
                ],
                want: Some((vec![PreSync], vec![BeforeHookCreation], HookSource::ArgoCd)),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "helm pre-install and pre-upgrade map to PreSync",
                annotations: &[(ANNOTATION_HELM_HOOK, "pre-install,pre-upgrade")],
                want: Some((vec![PreSync], vec![BeforeHookCreation], HookSource::Helm)),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "helm post-install and post-upgrade map to PostSync",
                annotations: &[
                    (ANNOTATION_HELM_HOOK, "post-install,post-upgrade"),
                    (
                        ANNOTATION_HELM_HOOK_DELETE_POLICY,
                        "hook-succeeded,before-hook-creation",
                    ),
                ],
                want: Some((
                    vec![PostSync],
                    vec![HookSucceeded, BeforeHookCreation],
                    HookSource::Helm,
                )),
                is_hook: true,
                phases: vec![SyncPhase::PostSync],
            },
            Case {
                name: "helm hook-failed policy",
                annotations: &[
                    (ANNOTATION_HELM_HOOK, "post-install"),
                    (ANNOTATION_HELM_HOOK_DELETE_POLICY, "hook-failed"),
                ],
                want: Some((vec![PostSync], vec![HookFailed], HookSource::Helm)),
                is_hook: true,
                phases: vec![SyncPhase::PostSync],
            },
            Case {
                name: "helm crd-install is a normal resource",
                annotations: &[(ANNOTATION_HELM_HOOK, "crd-install")],
                want: None,
                is_hook: false,
                phases: vec![],
            },
            Case {
                name: "helm crd-install with pre-install is a PreSync hook",
                annotations: &[(ANNOTATION_HELM_HOOK, "crd-install,pre-install")],
                want: Some((vec![PreSync], vec![BeforeHookCreation], HookSource::Helm)),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "helm test hook is a hook that never runs",
                annotations: &[(ANNOTATION_HELM_HOOK, "test")],
                want: Some((vec![], vec![BeforeHookCreation], HookSource::None)),
                is_hook: true,
                phases: vec![],
            },
            Case {
                name: "helm post-delete maps to PostDelete",
                annotations: &[(ANNOTATION_HELM_HOOK, "post-delete")],
                want: Some((vec![PostDelete], vec![BeforeHookCreation], HookSource::None)),
                is_hook: true,
                phases: vec![],
            },
            Case {
                name: "argo types win over helm types",
                annotations: &[
                    (ANNOTATION_HOOK, "Sync"),
                    (ANNOTATION_HELM_HOOK, "pre-install"),
                ],
                want: Some((vec![Sync], vec![BeforeHookCreation], HookSource::ArgoCd)),
                is_hook: true,
                phases: vec![SyncPhase::Sync],
            },
            Case {
                name: "argo Skip wins over helm",
                annotations: &[
                    (ANNOTATION_HOOK, "Skip"),
                    (ANNOTATION_HELM_HOOK, "post-install"),
                ],
                want: Some((vec![Skip], vec![BeforeHookCreation], HookSource::ArgoCd)),
                is_hook: false,
                phases: vec![],
            },
            Case {
                name: "helm types used when the argo annotation names no sync type",
                annotations: &[
                    (ANNOTATION_HOOK, "PostDelete"),
                    (ANNOTATION_HELM_HOOK, "pre-install"),
                ],
                want: Some((
                    vec![PreSync, PostDelete],
                    vec![BeforeHookCreation],
                    HookSource::Helm,
                )),
                is_hook: true,
                phases: vec![SyncPhase::PreSync],
            },
            Case {
                name: "both delete policy annotations count, argo first",
                annotations: &[
                    (ANNOTATION_HOOK, "PostSync"),
                    (ANNOTATION_HOOK_DELETE_POLICY, "HookFailed"),
                    (
                        ANNOTATION_HELM_HOOK_DELETE_POLICY,
                        "hook-succeeded,hook-failed",
                    ),
                ],
                want: Some((
                    vec![PostSync],
                    vec![HookFailed, HookSucceeded],
                    HookSource::ArgoCd,
                )),
                is_hook: true,
                phases: vec![SyncPhase::PostSync],
            },
            Case {
                name: "delete policy alone does not make a hook",
                annotations: &[(ANNOTATION_HOOK_DELETE_POLICY, "HookSucceeded")],
                want: None,
                is_hook: false,
                phases: vec![],
            },
        ];
        for case in cases {
            let obj = annotated(case.annotations);
            let hook = hook_of(&obj);
            let got = hook.clone().map(|h| (h.types, h.delete_policies, h.source));
            assert_eq!(got, case.want, "{}", case.name);
            assert_eq!(is_hook(&obj), case.is_hook, "{}: is_hook", case.name);
            assert_eq!(
                hook.map(|h| h.sync_phases()).unwrap_or_default(),
                case.phases,
                "{}: phases",
                case.name
            );
        }
    }

    #[test]
    fn skip_detection() {
        assert!(is_skipped(&annotated(&[(ANNOTATION_HOOK, "Skip")])));
        assert!(is_skipped(&annotated(&[(ANNOTATION_HOOK, "Skip, Skip")])));
        assert!(is_skipped(&annotated(&[(
            ANNOTATION_HOOK,
            "Skip,PostDelete"
        )])));
        assert!(!is_skipped(&annotated(&[(ANNOTATION_HOOK, "Skip,Sync")])));
        assert!(!is_skipped(&annotated(&[(ANNOTATION_HOOK, "Sync")])));
        assert!(!is_skipped(&annotated(&[])));
    }

    #[test]
    fn wave_table() {
        type Annotations = Vec<(&'static str, &'static str)>;
        let cases: Vec<(&str, Annotations, i64)> = vec![
            ("default", vec![], 0),
            ("sync-wave", vec![(ANNOTATION_SYNC_WAVE, "5")], 5),
            ("negative", vec![(ANNOTATION_SYNC_WAVE, "-2")], -2),
            ("plus sign", vec![(ANNOTATION_SYNC_WAVE, "+3")], 3),
            ("invalid is 0", vec![(ANNOTATION_SYNC_WAVE, "five")], 0),
            ("spaces are invalid", vec![(ANNOTATION_SYNC_WAVE, " 1")], 0),
            ("helm weight", vec![(ANNOTATION_HELM_HOOK_WEIGHT, "-5")], -5),
            (
                "sync-wave wins over weight",
                vec![
                    (ANNOTATION_SYNC_WAVE, "2"),
                    (ANNOTATION_HELM_HOOK_WEIGHT, "9"),
                ],
                2,
            ),
            (
                "invalid sync-wave falls back to weight",
                vec![
                    (ANNOTATION_SYNC_WAVE, "x"),
                    (ANNOTATION_HELM_HOOK_WEIGHT, "9"),
                ],
                9,
            ),
            (
                "weight counts without a helm hook",
                vec![(ANNOTATION_HELM_HOOK_WEIGHT, "4")],
                4,
            ),
            (
                "invalid weight is 0",
                vec![(ANNOTATION_HELM_HOOK_WEIGHT, "1.5")],
                0,
            ),
        ];
        for (name, annotations, want) in cases {
            assert_eq!(wave_of(&annotated(&annotations)), want, "{name}");
        }
        // A non-string annotation value is ignored.
        let obj = json!({"metadata": {"annotations": {ANNOTATION_SYNC_WAVE: 3}}});
        assert_eq!(wave_of(&obj), 0);
    }
}
