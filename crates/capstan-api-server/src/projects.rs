//! The AppProject API: CRUD with RBAC (`projects, <action>, <name>`), role tokens
//! (`proj:<project>:<role>` JWTs recorded in the role, revoked by deleting them) and sync window
//! state. The `default` project is created at start-up when missing, as Argo CD does.

use std::sync::Arc;
use std::time::Duration;

use capstan_types::app_project::{JwtToken, ProjectRole};
use capstan_types::{AppProject, AppProjectSpec};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::audit;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;

/// Creates the `default` project (any source, any destination, any kind) unless it exists.
pub async fn ensure_default_project(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let api: Api<AppProject> = Api::namespaced(client.clone(), namespace);
    if api.get_opt("default").await?.is_some() {
        return Ok(());
    }
    let project: AppProject = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": { "name": "default", "namespace": namespace },
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{ "server": "*", "namespace": "*" }],
            "clusterResourceWhitelist": [{ "group": "*", "kind": "*" }]
        }
    }))?;
    match api.create(&PostParams::default(), &project).await {
        Ok(_) => tracing::info!("created the default AppProject"),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Projects the caller may read, by name.
pub fn list(state: &ApiState, principal: &Principal) -> Vec<Arc<AppProject>> {
    state
        .projects
        .list()
        .into_iter()
        .filter(|p| state.can(principal, "projects", "get", &p.name_any()))
        .collect()
}

/// One project (after an RBAC check that does not reveal whether it exists).
pub async fn get(
    state: &ApiState,
    principal: &Principal,
    name: &str,
) -> ApiResult<Arc<AppProject>> {
    find(state, principal, name, "get").await
}

async fn find(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    action: &str,
) -> ApiResult<Arc<AppProject>> {
    state.authorize(principal, "projects", action, name)?;
    if let Some(project) = state.projects.get(name) {
        return Ok(project);
    }
    let api: Api<AppProject> = Api::namespaced(state.client.clone(), &state.namespace);
    api.get_opt(name)
        .await
        .map_err(|e| ApiError::from_kube(e, "project", name))?
        .map(Arc::new)
        .ok_or_else(|| ApiError::NotFound {
            kind: "project",
            name: name.to_owned(),
        })
}

/// Checks a project's role policies the way RBAC will read them.
fn validate(state: &ApiState, project: &AppProject) -> ApiResult<()> {
    let name = project.name_any();
    let (_, errors) = state
        .settings()
        .enforcer
        .project_policy(&name, &project.spec.roles);
    if let Some(first) = errors.first() {
        return Err(ApiError::InvalidArgument(format!(
            "invalid project {name:?}: {first}"
        )));
    }
    Ok(())
}

/// Parses a project from JSON, placing it in the control-plane namespace.
pub fn parse(state: &ApiState, json: &str) -> ApiResult<AppProject> {
    let mut project: AppProject = serde_json::from_str(json)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid project: {e}")))?;
    if project
        .metadata
        .name
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(ApiError::InvalidArgument(
            "invalid project: metadata.name is required".to_owned(),
        ));
    }
    project.metadata.namespace = Some(state.namespace.clone());
    Ok(project)
}

/// `Create` (with `upsert`, replaces the spec of an existing project).
pub async fn create(
    state: &ApiState,
    principal: &Principal,
    mut project: AppProject,
    upsert: bool,
) -> ApiResult<AppProject> {
    let name = project.name_any();
    state.authorize(principal, "projects", "create", &name)?;
    validate(state, &project)?;
    project.status = None;
    project.metadata.resource_version = None;
    let api: Api<AppProject> = Api::namespaced(state.client.clone(), &state.namespace);
    match api.create(&PostParams::default(), &project).await {
        Ok(created) => {
            audit::record(
                state,
                principal,
                &created,
                "ResourceCreated",
                "created project",
            );
            Ok(created)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api
                .get(&name)
                .await
                .map_err(|e| ApiError::from_kube(e, "project", &name))?;
            if existing.spec == project.spec {
                return Ok(existing);
            }
            if !upsert {
                return Err(ApiError::AlreadyExists(format!(
                    "existing project spec is different, use upsert flag to force update \
                     (project {name:?})"
                )));
            }
            update(state, principal, project).await
        }
        Err(e) => Err(ApiError::from_kube(e, "project", &name)),
    }
}

/// `Update`: replaces spec, labels and annotations.
pub async fn update(
    state: &ApiState,
    principal: &Principal,
    project: AppProject,
) -> ApiResult<AppProject> {
    let name = project.name_any();
    let current = find(state, principal, &name, "update").await?;
    validate(state, &project)?;
    let mut updated = (*current).clone();
    updated.spec = project.spec;
    updated.metadata.labels = project.metadata.labels;
    updated.metadata.annotations = project.metadata.annotations;
    if project.metadata.resource_version.is_some() {
        updated.metadata.resource_version = project.metadata.resource_version;
    }
    audit::replace(
        state,
        principal,
        &state.projects,
        updated,
        "project",
        "updated project",
    )
    .await
}

/// `Delete`: refused while Applications still use the project.
pub async fn delete(state: &ApiState, principal: &Principal, name: &str) -> ApiResult<()> {
    let project = find(state, principal, name, "delete").await?;
    let users = state
        .apps
        .list()
        .iter()
        .filter(|a| a.spec.project_or_default() == name)
        .count();
    if users > 0 {
        return Err(ApiError::FailedPrecondition(format!(
            "project is referenced by {users} applications"
        )));
    }
    let api: Api<AppProject> = Api::namespaced(state.client.clone(), &state.namespace);
    api.delete(name, &DeleteParams::default())
        .await
        .map_err(|e| ApiError::from_kube(e, "project", name))?;
    audit::record(
        state,
        principal,
        &*project,
        "ResourceDeleted",
        "deleted project",
    );
    Ok(())
}

fn role_mut<'a>(
    project: &'a mut AppProjectSpec,
    role: &str,
    name: &str,
) -> ApiResult<&'a mut ProjectRole> {
    project
        .roles
        .iter_mut()
        .find(|r| r.name == role)
        .ok_or_else(|| ApiError::NotFound {
            kind: "project role",
            name: format!("{name}/{role}"),
        })
}

/// `CreateToken`: a JWT for `proj:<project>:<role>`, listed in the role so that deleting it
/// revokes it. Needs `projects, update, <project>`.
pub async fn create_token(
    state: &ApiState,
    principal: &Principal,
    project: &str,
    role: &str,
    expires_in: Option<Duration>,
    id: Option<&str>,
) -> ApiResult<String> {
    let current = find(state, principal, project, "update").await?;
    let settings = state.settings();
    let keys = settings.keys.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the token signing keys are not loaded yet".to_owned())
    })?;
    let mut updated = (*current).clone();
    let role_entry = role_mut(&mut updated.spec, role, project)?;
    let jti = id
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(capstan_tokens::new_token_id);
    if role_entry.jwt_tokens.iter().any(|t| t.id == jti) {
        return Err(ApiError::AlreadyExists(format!(
            "token id {jti:?} already exists for role {role:?} in project {project:?}"
        )));
    }
    let now = jiff::Timestamp::now().as_second();
    let claims = capstan_tokens::Claims::new_api_token(
        capstan_tokens::project_role_subject(project, role),
        &jti,
        now,
        expires_in,
    );
    let token = keys
        .sign(&claims)
        .map_err(|e| ApiError::Internal(format!("signing the token: {e}")))?;
    role_entry.jwt_tokens.push(JwtToken {
        iat: claims.iat,
        exp: claims.exp.unwrap_or(0),
        id: jti.clone(),
        ..Default::default()
    });
    audit::replace(
        state,
        principal,
        &state.projects,
        updated,
        "project",
        &format!("created token {jti} for role {role}"),
    )
    .await?;
    Ok(token)
}

/// `DeleteToken`: removes (and so revokes) the role's token with `id` (or issued at `iat`).
pub async fn delete_token(
    state: &ApiState,
    principal: &Principal,
    project: &str,
    role: &str,
    iat: i64,
    id: &str,
) -> ApiResult<()> {
    let current = find(state, principal, project, "update").await?;
    let mut updated = (*current).clone();
    let role_entry = role_mut(&mut updated.spec, role, project)?;
    let before = role_entry.jwt_tokens.len();
    let mut removed = Vec::new();
    role_entry.jwt_tokens.retain(|t| {
        let matches = if id.is_empty() {
            t.iat == iat
        } else {
            t.id == id
        };
        if matches {
            removed.push(t.clone());
        }
        !matches
    });
    if role_entry.jwt_tokens.len() == before {
        return Ok(()); // already gone: deleting is idempotent, as in Argo CD
    }
    audit::replace(
        state,
        principal,
        &state.projects,
        updated,
        "project",
        &format!("deleted token of role {role}"),
    )
    .await?;
    for token in removed {
        if !token.id.is_empty() {
            let key = state
                .cache
                .key(capstan_cache::kinds::REVOKED_TOKEN, &token.id);
            let ttl = if token.exp > 0 {
                Duration::from_secs(
                    u64::try_from(token.exp - jiff::Timestamp::now().as_second()).unwrap_or(0) + 60,
                )
            } else {
                Duration::from_secs(365 * 24 * 3600)
            };
            state.cache.set(&key, &true, ttl).await;
        }
    }
    Ok(())
}
