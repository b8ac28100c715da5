//! AppProject roles as Argo CD turns them into a run-time policy (`ProjectPoliciesString`) and
//! validates them (`ValidateProject`, `validatePolicy`, `validateRoleName`,
//! `validateGroupName`).

use std::collections::HashSet;
use std::sync::Arc;

use capstan_types::app_project::{AppProject, ProjectRole};
use capstan_types::settings::{MatchMode, PolicyEffect, PolicyRule};

use crate::PatternError;
use crate::policy::PolicySet;

/// The resources a project role may grant (Argo CD's `rbac.ProjectScoped`).
pub const PROJECT_SCOPED_RESOURCES: &[&str] = &[
    "applications",
    "applicationsets",
    "logs",
    "exec",
    "clusters",
    "repositories",
];

/// A project's run-time policy, compiled for one match mode.
///
/// Built from the project's roles exactly as Argo CD's `AppProject.ProjectPoliciesString`, for
/// each role `R` of project `P`:
///
/// * `p, proj:P:R, projects, get, P, allow` (every role may read its project);
/// * the role's `policies` lines;
/// * `g, <group>, proj:P:R` for each of the role's OIDC `groups`.
///
/// Lines Argo CD's project validation rejects are reported as [`ProjectPolicyError`]s and left
/// out (see [`ProjectPolicy::new`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ProjectPolicy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    match_mode: MatchMode,
    roles: Vec<String>,
    lines: Vec<PolicyRule>,
    set: PolicySet,
    pattern_errors: Vec<PatternError>,
}

impl ProjectPolicy {
    /// Builds the run-time policy of project `name` from its `roles`, compiling patterns for
    /// `match_mode` (use the [`Enforcer`](crate::Enforcer)'s, or
    /// [`Enforcer::project_policy`](crate::Enforcer::project_policy)).
    ///
    /// Every problem Argo CD's `AppProject.ValidateProject` reports for roles is returned, in
    /// order. What is left out of the policy:
    ///
    /// * roles with an invalid name (the subject `proj:P:R` would be ambiguous);
    /// * policy lines that are not `p, proj:P:R, <resource>, <action>, <object>, <effect>` with
    ///   this project and role as subject, a [project-scoped](PROJECT_SCOPED_RESOURCES) resource,
    ///   a valid action, an object inside the project (`P/<name>`, `P/<namespace>/<name>`,
    ///   `*` allowed) and an effect of `allow` or `deny`;
    /// * invalid group names (empty, unquoted commas, quotes, tabs or newlines).
    ///
    /// Duplicate roles, lines and groups are reported but harmless, so they stay in.
    pub fn new(
        name: &str,
        roles: &[ProjectRole],
        match_mode: MatchMode,
    ) -> (Self, Vec<ProjectPolicyError>) {
        let mut errors = Vec::new();
        let mut lines = Vec::new();
        let mut role_names: Vec<String> = Vec::new();
        for role in roles {
            let error = |problem| ProjectPolicyError {
                project: name.to_owned(),
                role: role.name.clone(),
                problem,
            };
            if !is_valid_role_name(&role.name) {
                errors.push(error(ProjectPolicyProblem::InvalidRoleName));
                continue;
            }
            if role_names.contains(&role.name) {
                errors.push(error(ProjectPolicyProblem::DuplicateRole));
            } else {
                role_names.push(role.name.clone());
            }
            let subject = project_subject(name, &role.name);
            lines.push(PolicyRule::Permission {
                subject: subject.clone(),
                resource: "projects".to_owned(),
                action: "get".to_owned(),
                object: name.to_owned(),
                effect: PolicyEffect::Allow,
            });
            let mut seen = HashSet::new();
            for policy in &role.policies {
                if !seen.insert(policy.as_str()) {
                    errors.push(error(ProjectPolicyProblem::DuplicatePolicy {
                        policy: policy.clone(),
                    }));
                }
                match validate_policy(name, &subject, policy) {
                    Ok(rule) => lines.push(rule),
                    Err(problem) => errors.push(error(problem)),
                }
            }
            let mut seen = HashSet::new();
            for group in &role.groups {
                match validate_group_name(group) {
                    Ok(group) => {
                        if !seen.insert(group) {
                            errors.push(error(ProjectPolicyProblem::DuplicateGroup {
                                group: group.to_owned(),
                            }));
                        }
                        lines.push(PolicyRule::Grouping {
                            subject: group.to_owned(),
                            role: subject.clone(),
                        });
                    }
                    Err(reason) => errors.push(error(ProjectPolicyProblem::InvalidGroup {
                        group: group.clone(),
                        reason,
                    })),
                }
            }
        }
        let policy = Self::compile(name.to_owned(), role_names, lines, match_mode);
        (policy, errors)
    }

    /// [`new`](Self::new) with the project's name and `spec.roles`.
    pub fn from_app_project(
        project: &AppProject,
        match_mode: MatchMode,
    ) -> (Self, Vec<ProjectPolicyError>) {
        let name = project.metadata.name.as_deref().unwrap_or_default();
        Self::new(name, &project.spec.roles, match_mode)
    }

    fn compile(
        name: String,
        roles: Vec<String>,
        lines: Vec<PolicyRule>,
        match_mode: MatchMode,
    ) -> Self {
        let mut set = PolicySet::default();
        let mut pattern_errors = Vec::new();
        for line in &lines {
            set.add(line, match_mode, &mut pattern_errors);
        }
        Self {
            inner: Arc::new(Inner {
                name,
                match_mode,
                roles,
                lines,
                set,
                pattern_errors,
            }),
        }
    }

    /// The same policy compiled for another match mode.
    pub(crate) fn recompiled(&self, match_mode: MatchMode) -> Self {
        let inner = &self.inner;
        Self::compile(
            inner.name.clone(),
            inner.roles.clone(),
            inner.lines.clone(),
            match_mode,
        )
    }

    /// The project's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The match mode the patterns were compiled for.
    pub fn match_mode(&self) -> MatchMode {
        self.inner.match_mode
    }

    /// Whether the project has a (validly named) role `role`. A project token whose role is
    /// gone must be refused by the caller, along with tokens no longer listed (see
    /// [`project_token_listed`]).
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|name| name == role)
    }

    /// The run-time policy lines, in Argo CD's order (what `ProjectPoliciesString` produces,
    /// without the lines left out).
    pub fn lines(&self) -> &[PolicyRule] {
        &self.inner.lines
    }

    /// Patterns of the lines that do not compile in regex mode (such lines refuse every
    /// request that reaches them, as in Argo CD).
    pub fn pattern_errors(&self) -> &[PatternError] {
        &self.inner.pattern_errors
    }

    pub(crate) fn set(&self) -> &PolicySet {
        &self.inner.set
    }
}

/// A problem with a project role, as Argo CD's project validation reports it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("project {project:?} role {role:?}: {problem}")]
pub struct ProjectPolicyError {
    /// Project name.
    pub project: String,
    /// Role name as written.
    pub role: String,
    /// What is wrong.
    pub problem: ProjectPolicyProblem,
}

/// What is wrong with a project role, one of its policy lines or one of its groups.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProjectPolicyProblem {
    /// The role name is not alphanumeric with inner `-` and `_`; the role is left out.
    #[error(
        "invalid role name: must consist of alphanumeric characters, '-' or '_', and must start \
         and end with an alphanumeric character"
    )]
    InvalidRoleName,
    /// Another role has the same name.
    #[error("role already exists")]
    DuplicateRole,
    /// Not six comma-separated fields starting with `p` (or a field holds a quote).
    #[error("invalid policy rule {policy:?}: must be of the form 'p, sub, res, act, obj, eft'")]
    MalformedPolicy {
        /// The line as written.
        policy: String,
    },
    /// The subject is not `proj:<project>:<role>` for this project and role.
    #[error("invalid policy rule {policy:?}: policy subject must be {expected:?}, not {found:?}")]
    WrongSubject {
        /// The line as written.
        policy: String,
        /// `proj:<project>:<role>`.
        expected: String,
        /// The subject as written.
        found: String,
    },
    /// The resource is not one a project role may grant.
    #[error(
        "invalid policy rule {policy:?}: project resource must be one of 'applications', \
         'applicationsets', 'logs', 'exec', 'clusters' or 'repositories', not {resource:?}"
    )]
    ResourceNotProjectScoped {
        /// The line as written.
        policy: String,
        /// The resource as written.
        resource: String,
    },
    /// The action is not `get`, `create`, `update`, `delete`, `sync`, `override`, `*`,
    /// `action/...`, `update/...` or `delete/...`.
    #[error("invalid policy rule {policy:?}: invalid action {action:?}")]
    InvalidAction {
        /// The line as written.
        policy: String,
        /// The action as written.
        action: String,
    },
    /// The object is not `<project>/<name>` or `<project>/<namespace>/<name>` (names may be
    /// `*` or contain it): the line would reach outside the project.
    #[error(
        "invalid policy rule {policy:?}: object must be of form '{project}/*', \
         '{project}/<APPNAME>' or '{project}/<NS>/<APPNAME>', not {object:?}"
    )]
    ObjectOutsideProject {
        /// The line as written.
        policy: String,
        /// The project.
        project: String,
        /// The object as written.
        object: String,
    },
    /// The effect is neither `allow` nor `deny`.
    #[error("invalid policy rule {policy:?}: effect must be: 'allow' or 'deny'")]
    InvalidEffect {
        /// The line as written.
        policy: String,
    },
    /// The same line appears twice in the role.
    #[error("policy {policy:?} already exists")]
    DuplicatePolicy {
        /// The line as written.
        policy: String,
    },
    /// The group name is unusable; it is left out.
    #[error("group {group:?} {reason}")]
    InvalidGroup {
        /// The group as written.
        group: String,
        /// Why.
        reason: &'static str,
    },
    /// The same group appears twice in the role.
    #[error("group {group:?} already exists")]
    DuplicateGroup {
        /// The group, unquoted.
        group: String,
    },
}

/// `proj:<project>:<role>`.
pub fn project_subject(project: &str, role: &str) -> String {
    format!("proj:{project}:{role}")
}

/// Splits a project role subject `proj:<project>:<role>` (Argo CD's
/// `GetProjectRoleFromSubject`: exactly three `:`-separated parts, the first `proj`).
pub fn is_project_subject(subject: &str) -> Option<(&str, &str)> {
    let mut parts = subject.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("proj"), Some(project), Some(role), None) => Some((project, role)),
        _ => None,
    }
}

/// Whether a project token (role `role`, issued at `issued_at`, ID `id`) is still listed in
/// `project`: Argo CD's `AppProject.GetJWTToken` on `status.jwtTokensByRole`, plus the legacy
/// `spec.roles[].jwtTokens` (`GetJWTTokenFromSpec`), for a role that still exists. A token
/// matches by ID when `id` is not empty, otherwise (or failing that) by issued-at time.
pub fn project_token_listed(
    project: &AppProject,
    role: &str,
    issued_at: Option<i64>,
    id: &str,
) -> bool {
    let Some(spec_role) = project.spec.roles.iter().find(|r| r.name == role) else {
        return false;
    };
    let status_tokens = project
        .status
        .as_ref()
        .and_then(|status| status.jwt_tokens_by_role.get(role))
        .map(|tokens| tokens.items.as_slice())
        .unwrap_or_default();
    [status_tokens, spec_role.jwt_tokens.as_slice()]
        .into_iter()
        .any(|tokens| {
            (!id.is_empty() && tokens.iter().any(|token| token.id == id))
                || issued_at.is_some_and(|iat| tokens.iter().any(|token| token.iat == iat))
        })
}

/// Argo CD's `roleNameRegexp`: `^[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?$`.
fn is_valid_role_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    }
}

/// Argo CD's `validatePolicy` for one line of role `subject` in `project`, returning the rule.
fn validate_policy(
    project: &str,
    subject: &str,
    policy: &str,
) -> Result<PolicyRule, ProjectPolicyProblem> {
    let fields: Vec<&str> = policy.split(',').map(|f| f.trim_matches(' ')).collect();
    let malformed = || ProjectPolicyProblem::MalformedPolicy {
        policy: policy.to_owned(),
    };
    // Argo CD splits on commas without CSV quoting, then loads the line with a CSV reader that
    // rejects stray quotes; a quote can therefore never be part of a valid line.
    if fields.len() != 6 || fields[0] != "p" || policy.contains('"') {
        return Err(malformed());
    }
    let (found, resource, action, object, effect) =
        (fields[1], fields[2], fields[3], fields[4], fields[5]);
    if found != subject {
        return Err(ProjectPolicyProblem::WrongSubject {
            policy: policy.to_owned(),
            expected: subject.to_owned(),
            found: found.to_owned(),
        });
    }
    if !PROJECT_SCOPED_RESOURCES.contains(&resource) {
        return Err(ProjectPolicyProblem::ResourceNotProjectScoped {
            policy: policy.to_owned(),
            resource: resource.to_owned(),
        });
    }
    if !is_valid_action(action) {
        return Err(ProjectPolicyProblem::InvalidAction {
            policy: policy.to_owned(),
            action: action.to_owned(),
        });
    }
    if !is_object_in_project(project, object) {
        return Err(ProjectPolicyProblem::ObjectOutsideProject {
            policy: policy.to_owned(),
            project: project.to_owned(),
            object: object.to_owned(),
        });
    }
    let effect = match effect {
        "allow" => PolicyEffect::Allow,
        "deny" => PolicyEffect::Deny,
        _ => {
            return Err(ProjectPolicyProblem::InvalidEffect {
                policy: policy.to_owned(),
            });
        }
    };
    Ok(PolicyRule::Permission {
        subject: subject.to_owned(),
        resource: resource.to_owned(),
        action: action.to_owned(),
        object: object.to_owned(),
        effect,
    })
}

/// Argo CD's `validActions` and (unanchored) `validActionPatterns`.
fn is_valid_action(action: &str) -> bool {
    matches!(
        action,
        "get" | "create" | "update" | "delete" | "sync" | "override" | "*"
    ) || ["action/", "update/", "delete/"]
        .iter()
        .any(|prefix| action.contains(prefix))
}

/// `^<project>(/[*\w\-.]+){1,2}$` with Go's ASCII `\w`.
fn is_object_in_project(project: &str, object: &str) -> bool {
    let Some(rest) = object
        .strip_prefix(project)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    segments.len() <= 2
        && segments.iter().all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'_' | b'-' | b'.'))
        })
}

/// Argo CD's `validateGroupName`, returning the group as the policy line will name it.
fn validate_group_name(group: &str) -> Result<&str, &'static str> {
    let mut name = group.trim();
    if name.len() > 1 && name.starts_with('"') && name.ends_with('"') {
        name = &name[1..name.len() - 1];
    } else if name.contains(',') {
        return Err("must be quoted");
    }
    if name.is_empty() {
        return Err("is empty");
    }
    if name.contains(['"', '\n', '\r', '\t']) {
        return Err("contains invalid characters");
    }
    Ok(name)
}
