//! Argo CD-compatible RBAC: decides whether a user may perform an action on an object, with the
//! semantics of Argo CD's Casbin-based enforcer (`util/rbac/rbac.go`,
//! `server/rbacpolicy/rbacpolicy.go`, `assets/model.conf`, `assets/builtin-policy.csv`).
//!
//! This crate is pure and must never depend on IO, tokio, kube, tonic or Redis: it takes
//! already-parsed settings ([`RbacSettings`]), project roles and token claims (as JSON values)
//! and answers yes or no. Callers load `argocd-rbac-cm` and AppProjects and build an
//! [`Enforcer`] (and [`ProjectPolicy`]s) once per change.
//!
//! # Semantics
//!
//! A request is `(subject, resource, action, object)`. Objects of applications,
//! applicationsets, logs and exec are `<project>/<name>` or `<project>/<namespace>/<name>` (see
//! [`rbac_name`]); other resources use a name (`*` patterns allowed in policies).
//!
//! One *enforcement call* (Casbin's `Enforce`) for one subject: the subject and every role it
//! inherits through `g` lines (at most [`MAX_ROLE_DEPTH`] links away) collect the matching `p`
//! lines; the request is allowed when one allows and none denies. Deny wins only *within* one
//! call. [`Enforcer::enforce`] is Argo CD's `EnforceClaims`, a sequence of calls where any
//! allowing call allows the request:
//!
//! 1. the `policy.default` role, if set (so a deny for the user or a group never takes away
//!    what the default role grants);
//! 2. the user's subject;
//! 3. each of the user's groups that is the subject of some `g` line (Argo CD pre-filters
//!    groups this way: a group named only in `p` lines grants nothing).
//!
//! The policy of every call is the [built-in policy](BUILTIN_POLICY), then the user policy
//! (`policy.csv` and `policy.*.csv`), then, when the request names a project
//! ([`project_of_request`]), that project's [`ProjectPolicy`]. A project role subject
//! (`proj:<project>:<role>`, a project token) asking about a project gets only steps 1 and 2,
//! and nothing at all in another project.
//!
//! Patterns are globs (`*` matches any run of characters, `/` included) or, with
//! `policy.matchMode: regex`, unanchored regular expressions. In regex mode a pattern that does
//! not compile (such as the built-in policy's `*`) refuses every call that reaches it, as in
//! Argo CD (argoproj/argo-cd#13127: the built-in roles do not work in regex mode).
//!
//! Everything is compiled when the [`Enforcer`] or [`ProjectPolicy`] is built; an enforcement
//! is a few hash lookups and pattern matches.

#![warn(missing_docs)]

use std::sync::Arc;

use capstan_types::settings::{MatchMode, RbacSettings, parse_policy_csv};

mod claims;
mod pattern;
mod policy;
mod project;
#[cfg(test)]
mod tests;

pub use claims::{groups_from_claims, user_identifier};
pub use project::{
    PROJECT_SCOPED_RESOURCES, ProjectPolicy, ProjectPolicyError, ProjectPolicyProblem,
    is_project_subject, project_subject, project_token_listed,
};

use policy::{PolicySet, View};

/// Argo CD's built-in policy, always loaded before the user policy: `role:readonly`,
/// `role:admin` (which inherits `role:readonly`) and `g, admin, role:admin` for the local
/// `admin` user.
///
/// Copied verbatim from argoproj/argo-cd `assets/builtin-policy.csv` (commit
/// 0791057437d388c90fa13e30713f1ede07af494c).
pub const BUILTIN_POLICY: &str = include_str!("builtin-policy.csv");

/// How many `g` links a subject's roles are followed (Casbin's default role manager is created
/// with a maximum hierarchy level of 10): `user -> r1 -> ... -> r10` grants `r10`'s
/// permissions, `r11` is out of reach.
pub const MAX_ROLE_DEPTH: usize = 10;

/// One authorization question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The user's subject ([`user_identifier`]), a local account name, or a project role
    /// subject `proj:<project>:<role>` for project tokens.
    pub subject: &'a str,
    /// The user's groups ([`groups_from_claims`] with [`Enforcer::scopes`]).
    pub groups: &'a [String],
    /// `applications`, `clusters`, ... (see `capstan_types::settings::RBAC_RESOURCES`).
    pub resource: &'a str,
    /// `get`, `create`, `update`, `delete`, `sync`, `override`, `action/<group>/<kind>/<name>`,
    /// ...
    pub action: &'a str,
    /// `<project>/<name>` (or `<project>/<namespace>/<name>`) for applications, applicationsets,
    /// logs and exec; a name otherwise.
    pub object: &'a str,
}

/// A policy pattern that does not compile as a regular expression (regex mode only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// The policy line.
    pub rule: String,
    /// The pattern.
    pub pattern: String,
    /// The compiler's message.
    pub message: String,
}

/// The compiled built-in and user policy with `argocd-rbac-cm`'s default role, match mode and
/// scopes. Cheap to clone; rebuild it when `argocd-rbac-cm` changes.
#[derive(Clone, Debug)]
pub struct Enforcer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    base: PolicySet,
    default_role: Option<String>,
    match_mode: MatchMode,
    scopes: Vec<String>,
    pattern_errors: Vec<PatternError>,
}

impl Enforcer {
    /// Compiles [`BUILTIN_POLICY`] followed by `settings.rules`.
    pub fn new(settings: &RbacSettings) -> Self {
        let match_mode = settings.match_mode;
        let builtin = parse_policy_csv("builtin-policy.csv", BUILTIN_POLICY, match_mode)
            .expect("the built-in policy parses");
        let mut base = PolicySet::default();
        let mut pattern_errors = Vec::new();
        for rule in builtin.iter().chain(&settings.rules) {
            base.add(rule, match_mode, &mut pattern_errors);
        }
        Self {
            inner: Arc::new(Inner {
                base,
                default_role: settings.policy_default.clone(),
                match_mode,
                scopes: settings.scopes.clone(),
                pattern_errors,
            }),
        }
    }

    /// Argo CD's `EnforceClaims`: whether the user may perform the request (see the crate
    /// documentation for the order of checks).
    ///
    /// `project` is the AppProject named by [`project_of_request`] for this request, if it
    /// exists (build it with [`Enforcer::project_policy`]); a project with another name is
    /// ignored, so a project's policy never applies to objects outside it. For a project token
    /// the caller must first check that the token is still listed ([`project_token_listed`]).
    ///
    /// With no groups and no project this is Argo CD's `Enforcer.Enforce(subject, ...)`:
    /// the default role, then the subject.
    pub fn enforce(&self, request: &Request<'_>, project: Option<&ProjectPolicy>) -> bool {
        let project = project
            .filter(|p| project_of_request(request.resource, request.object) == Some(p.name()));
        let recompiled;
        let project = match project {
            Some(p) if p.match_mode() != self.inner.match_mode => {
                recompiled = p.recompiled(self.inner.match_mode);
                Some(&recompiled)
            }
            other => other,
        };
        let view = View {
            base: &self.inner.base,
            project: project.map(ProjectPolicy::set),
        };
        let Request {
            subject,
            groups,
            resource,
            action,
            object,
        } = *request;
        let default_role_allows = || {
            self.default_role()
                .is_some_and(|role| view.enforce(role, resource, action, object))
        };
        if let (Some(project), Some((token_project, _))) = (project, is_project_subject(subject)) {
            // enforceProjectToken: a token of another project gets nothing, not even the
            // default role; otherwise the default role and the token's subject, no groups.
            return token_project == project.name()
                && (default_role_allows() || view.enforce(subject, resource, action, object));
        }
        // Argo CD checks the default role again before the subject and before every group;
        // the answer is the same each time, so once is enough.
        default_role_allows()
            || view.enforce(subject, resource, action, object)
            || groups.iter().any(|group| {
                view.is_grouping_subject(group) && view.enforce(group, resource, action, object)
            })
    }

    /// One Casbin `Enforce` for a single subject against the built-in and user policy, without
    /// the default role, groups or project policies.
    pub fn enforce_subject(
        &self,
        subject: &str,
        resource: &str,
        action: &str,
        object: &str,
    ) -> bool {
        View {
            base: &self.inner.base,
            project: None,
        }
        .enforce(subject, resource, action, object)
    }

    /// [`ProjectPolicy::new`] compiled for this enforcer's match mode.
    pub fn project_policy(
        &self,
        name: &str,
        roles: &[capstan_types::app_project::ProjectRole],
    ) -> (ProjectPolicy, Vec<ProjectPolicyError>) {
        ProjectPolicy::new(name, roles, self.inner.match_mode)
    }

    /// `policy.default`: the role every request is first checked against.
    pub fn default_role(&self) -> Option<&str> {
        self.inner.default_role.as_deref()
    }

    /// `policy.matchMode`.
    pub fn match_mode(&self) -> MatchMode {
        self.inner.match_mode
    }

    /// `scopes`: the claims that hold a user's groups.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// Patterns of the built-in and user policy that do not compile (regex mode only; in regex
    /// mode the built-in policy's `*` patterns are always listed).
    pub fn pattern_errors(&self) -> &[PatternError] {
        &self.inner.pattern_errors
    }
}

/// The project a request concerns, whose policy Argo CD adds (`getProjectFromRequest`): the
/// first `/`-separated part of the object for applications, applicationsets, repositories,
/// clusters, logs and exec when the object has a `/`; the object itself for projects; none
/// otherwise.
pub fn project_of_request<'a>(resource: &str, object: &'a str) -> Option<&'a str> {
    match resource {
        "applications" | "applicationsets" | "repositories" | "clusters" | "logs" | "exec" => {
            object.split_once('/').map(|(project, _)| project)
        }
        "projects" => Some(object),
        _ => None,
    }
}

/// The RBAC object of an application or applicationset (Argo CD's `security.RBACName`):
/// `<project>/<namespace>/<name>` when it lives outside the control plane's namespace
/// `default_namespace`, `<project>/<name>` otherwise.
pub fn rbac_name(default_namespace: &str, project: &str, namespace: &str, name: &str) -> String {
    if !default_namespace.is_empty() && !namespace.is_empty() && namespace != default_namespace {
        format!("{project}/{namespace}/{name}")
    } else {
        format!("{project}/{name}")
    }
}
