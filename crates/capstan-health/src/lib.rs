//! Health assessment of Kubernetes objects, with Argo CD's statuses and rules.
//!
//! Given a live object as JSON, this crate says whether it is `Healthy`, `Progressing`,
//! `Degraded`, `Suspended`, `Missing` or `Unknown`, in the order Argo CD uses:
//!
//! 1. an object with `metadata.deletionTimestamp` (and no Argo CD hook finalizer) is
//!    `Progressing` / "Pending deletion" (gitops-engine `pkg/health/health.go`);
//! 2. a Lua health script from `argocd-cm` (`resource.customizations.health.<group>_<kind>`)
//!    whose group/kind pattern matches the object — exact key first, then wildcard keys
//!    (Argo CD `util/lua/lua.go`), see [`HealthChecker`];
//! 3. the built-in checks of gitops-engine `pkg/health/*.go`, ported to Rust, see [`builtin`];
//! 4. for every other kind, kstatus-style conditions (`Ready`, `Reconciling`, `Stalled`,
//!    `status.observedGeneration`), see [`kstatus`]. Argo CD has no such fallback; Capstan adds
//!    it so that well-behaved custom resources get a health without a Lua script.
//!
//! `None` means "no opinion": as in Argo CD, such a resource does not count towards the
//! application's health. [`aggregate`] folds child healths into the application's with
//! gitops-engine's `IsWorse` ordering; deciding *which* children count (hooks, the
//! `argocd.argoproj.io/ignore-healthcheck` annotation, missing resources, child applications
//! that are `Missing`/`Unknown`) is the controller's job, as in Argo CD's `controller/health.go`.
//!
//! **Guarantee:** every non-`Healthy` [`Health`] this crate produces carries a non-empty message
//! saying why; where Argo CD leaves the message empty, Capstan writes one.
//!
//! **Architecture Invariant:** pure. No tokio, no kube client IO, no tonic, no Redis, no HTTP:
//! objects come in as [`serde_json::Value`], settings as `capstan-types` values. Lua runs
//! in-process (mlua, Lua 5.1 like Argo CD's gopher-lua) in a fresh sandboxed state per call,
//! bounded by an instruction budget, a wall-clock limit and a memory limit ([`Limits`]).

use std::collections::BTreeMap;

use capstan_types::settings::{GroupKindPattern, ResourceCustomization};
use serde_json::Value;

mod builtin;
mod lua;

pub use builtin::{builtin, has_builtin_check, kstatus};
pub use capstan_types::application::HealthStatusCode;
pub use lua::Limits;

/// The health of one object: a status and, unless healthy, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The status.
    pub status: HealthStatusCode,
    /// Human-readable detail; never empty when `status` is not `Healthy`.
    pub message: String,
}

impl Health {
    /// A health with a status and a message.
    pub fn new(status: HealthStatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// `Healthy` with a message (which may be empty).
    pub fn healthy(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Healthy, message)
    }

    /// `Progressing` because of `message`.
    pub fn progressing(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Progressing, message)
    }

    /// `Degraded` because of `message`.
    pub fn degraded(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Degraded, message)
    }

    /// `Suspended` because of `message`.
    pub fn suspended(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Suspended, message)
    }

    /// `Unknown` because of `message`.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Unknown, message)
    }

    /// Replaces an empty message of a non-healthy status with `fallback`.
    fn or_message(mut self, fallback: impl FnOnce() -> String) -> Self {
        if self.message.is_empty() && self.status != HealthStatusCode::Healthy {
            self.message = fallback();
        }
        self
    }
}

/// Why a health could not be assessed or a health script could not be loaded.
///
/// The controller marks the resource `Unknown` with the error's `Display` text, as Argo CD does.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// A `health.lua` script from `argocd-cm` does not compile.
    #[error("health script for {group_kind} does not compile: {message}")]
    Compile {
        /// The customization key (`group/Kind`, or `Kind` for the core group).
        group_kind: String,
        /// The Lua compiler's message.
        message: String,
    },
    /// A health script failed at run time or returned something that is not a health.
    #[error("health script for {group_kind} failed: {message}")]
    Script {
        /// The object's `group/Kind` (`Kind` for the core group).
        group_kind: String,
        /// What went wrong.
        message: String,
    },
    /// A health script ran longer than its instruction or wall-clock budget.
    #[error("health script for {group_kind} exceeded its time limit")]
    TimeLimit {
        /// The object's `group/Kind` (`Kind` for the core group).
        group_kind: String,
    },
    /// A health script allocated more than its memory limit.
    #[error("health script for {group_kind} exceeded its memory limit")]
    MemoryLimit {
        /// The object's `group/Kind` (`Kind` for the core group).
        group_kind: String,
    },
    /// The Lua sandbox could not be set up (an mlua error outside any script).
    #[error("could not set up the Lua sandbox")]
    Sandbox(#[source] mlua::Error),
}

/// Health assessment with the Lua health overrides of `argocd-cm`.
///
/// Holds the scripts (checked to compile at construction) and the limits they run under. Each
/// [`assess`](Self::assess) runs a script in a fresh Lua state, so no state leaks between objects
/// and the checker is `Send + Sync`.
#[derive(Debug, Clone, Default)]
pub struct HealthChecker {
    scripts: lua::Scripts,
}

impl HealthChecker {
    /// Compiles the `health.lua` scripts of `customizations` with the default [`Limits`].
    ///
    /// # Errors
    ///
    /// [`HealthError::Compile`], naming the group/kind, when a script has a syntax error.
    pub fn new(
        customizations: &BTreeMap<GroupKindPattern, ResourceCustomization>,
    ) -> Result<Self, HealthError> {
        Self::with_limits(customizations, Limits::default())
    }

    /// Compiles the `health.lua` scripts of `customizations`, to run under `limits`.
    ///
    /// # Errors
    ///
    /// [`HealthError::Compile`], naming the group/kind, when a script has a syntax error.
    pub fn with_limits(
        customizations: &BTreeMap<GroupKindPattern, ResourceCustomization>,
        limits: Limits,
    ) -> Result<Self, HealthError> {
        Ok(Self {
            scripts: lua::Scripts::compile(customizations, limits)?,
        })
    }

    /// The health of `obj`: pending deletion → Lua override (if one matches the object's
    /// group/kind, exact key before wildcard keys) → [`builtin`] (which falls back to
    /// [`kstatus`]). `Ok(None)` means no opinion: the resource does not count.
    ///
    /// A script that returns `nil` or an empty table gives `Ok(None)` without consulting the
    /// built-in check (Argo CD returns an empty status there); one that returns a status Argo CD
    /// does not know gives `Unknown` / "Lua returned an invalid health status".
    ///
    /// # Errors
    ///
    /// A [`HealthError`] when the matching script fails, returns a non-table, or exceeds its
    /// limits; the caller marks the resource `Unknown` with the error's message.
    pub fn assess(&self, obj: &Value) -> Result<Option<Health>, HealthError> {
        self.explain(obj).map(|(health, _)| health)
    }

    /// Like [`assess`](Self::assess), and also says what decided (for tools that explain a
    /// status, such as `capstan admin settings resource-overrides health`).
    pub fn explain(&self, obj: &Value) -> Result<(Option<Health>, HealthSource), HealthError> {
        if is_pending_deletion(obj) {
            return Ok((
                Some(Health::progressing("Pending deletion")),
                HealthSource::PendingDeletion,
            ));
        }
        let (group, kind) = group_kind(obj);
        if let Some((key, script)) = self.scripts.find(group, kind) {
            let health = self.scripts.run(script, obj, group, kind)?;
            return Ok((
                health,
                HealthSource::Script {
                    key: key.to_owned(),
                },
            ));
        }
        let source = if builtin::has_builtin_check(group, kind) {
            HealthSource::BuiltIn
        } else {
            HealthSource::Kstatus
        };
        let health = builtin(obj);
        Ok(match health {
            None => (None, HealthSource::None),
            some => (some, source),
        })
    }
}

/// What decided an object's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthSource {
    /// The object is being deleted (checked before anything else).
    PendingDeletion,
    /// The `argocd-cm` Lua script under this key (`group/Kind`, `Kind`, or a wildcard).
    Script {
        /// The customization key that matched.
        key: String,
    },
    /// Capstan's built-in check for the kind.
    BuiltIn,
    /// The kstatus conditions fallback (kinds without a built-in check).
    Kstatus,
    /// Nothing applies: health is not assessed.
    None,
}

/// Whether `new` is a worse status than `current`, in gitops-engine's order
/// `Healthy < Suspended < Progressing < Missing < Degraded < Unknown`. A status outside that
/// list ranks as `Healthy`, as in gitops-engine's `IsWorse`.
pub fn is_worse(current: &HealthStatusCode, new: &HealthStatusCode) -> bool {
    rank(new) > rank(current)
}

fn rank(code: &HealthStatusCode) -> u8 {
    match code {
        HealthStatusCode::Healthy | HealthStatusCode::Other(_) => 0,
        HealthStatusCode::Suspended => 1,
        HealthStatusCode::Progressing => 2,
        HealthStatusCode::Missing => 3,
        HealthStatusCode::Degraded => 4,
        HealthStatusCode::Unknown => 5,
    }
}

/// The application's health from the healths of the children that count: the worst of them
/// (the first one seen among equals), `Healthy` when there are none. The message is the worst
/// child's.
pub fn aggregate<'a>(children: impl IntoIterator<Item = &'a Health>) -> Health {
    let mut worst: Option<&Health> = None;
    for child in children {
        let is_new_worst = match worst {
            None => true,
            Some(current) => is_worse(&current.status, &child.status),
        };
        if is_new_worst {
            worst = Some(child);
        }
    }
    match worst {
        Some(child) if rank(&child.status) > 0 => child
            .clone()
            .or_message(|| format!("a resource of the application is {}", child.status.as_str())),
        _ => Health::healthy(""),
    }
}

/// `metadata.deletionTimestamp` is set and no Argo CD hook finalizer holds the object.
fn is_pending_deletion(obj: &Value) -> bool {
    const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";
    let metadata = &obj["metadata"];
    if metadata["deletionTimestamp"].is_null() {
        return false;
    }
    let held_by_hook = metadata["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f.as_str() == Some(HOOK_FINALIZER)));
    !held_by_hook
}

/// The API group (empty for the core group) and kind of `obj`.
pub(crate) fn group_kind(obj: &Value) -> (&str, &str) {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let group = match api_version.split_once('/') {
        Some((group, _version)) => group,
        None => "",
    };
    (group, obj["kind"].as_str().unwrap_or_default())
}

#[cfg(test)]
mod tests;
