//! The ApplicationSet API: list, get, create, delete with RBAC (`applicationsets, <action>,
//! <template project>/<name>`).

use std::sync::Arc;

use capstan_types::ApplicationSet;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};

use crate::audit;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;

/// The RBAC object: `<project of the template>/<name>`.
pub fn rbac_object(appset: &ApplicationSet) -> String {
    let project = appset.spec.template.spec.project.as_str();
    format!(
        "{}/{}",
        if project.is_empty() {
            "default"
        } else {
            project
        },
        appset.name_any()
    )
}

/// ApplicationSets the caller may read, optionally in some projects, one page at a time.
pub fn list(
    state: &ApiState,
    principal: &Principal,
    projects: &[String],
    selector: &crate::selector::Selector,
    limit: usize,
    continue_token: Option<&str>,
) -> ApiResult<crate::apps::Page<Arc<ApplicationSet>>> {
    let after = continue_token
        .filter(|t| !t.is_empty())
        .map(crate::apps::decode_continue)
        .transpose()?;
    let (items, more) = state.appsets.page(after.as_deref(), limit, |a| {
        let object = rbac_object(a);
        (projects.is_empty()
            || projects
                .iter()
                .any(|p| object.starts_with(&format!("{p}/"))))
            && selector.matches(a.labels())
            && state.can(principal, "applicationsets", "get", &object)
    });
    let continue_token = if more {
        items
            .last()
            .map(|a| crate::apps::encode_continue(&a.name_any()))
    } else {
        None
    };
    Ok(crate::apps::Page {
        items,
        continue_token,
        remaining: None,
    })
}

/// One ApplicationSet.
pub async fn get(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    action: &str,
) -> ApiResult<Arc<ApplicationSet>> {
    let found = match state.appsets.get(name) {
        Some(a) => Some(a),
        None => {
            let api: Api<ApplicationSet> = Api::namespaced(state.client.clone(), &state.namespace);
            api.get_opt(name)
                .await
                .map_err(|e| ApiError::from_kube(e, "applicationset", name))?
                .map(Arc::new)
        }
    };
    let Some(appset) = found else {
        state.authorize(principal, "applicationsets", action, &format!("*/{name}"))?;
        return Err(ApiError::NotFound {
            kind: "applicationset",
            name: name.to_owned(),
        });
    };
    state.authorize(principal, "applicationsets", action, &rbac_object(&appset))?;
    Ok(appset)
}

/// The Applications `json` (an ApplicationSet that need not exist) would generate, with the
/// ApplicationSet controller's code and inputs; needs `applicationsets, create` on it, as
/// Argo CD's `Generate`. A generation error is `InvalidArgument` with the controller's message.
pub async fn generate(
    state: &ApiState,
    principal: &Principal,
    json: &str,
) -> ApiResult<(ApplicationSet, Vec<capstan_types::Application>)> {
    let mut appset: ApplicationSet = serde_json::from_str(json)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid applicationset: {e}")))?;
    appset.metadata.namespace = Some(state.namespace.clone());
    appset.status = None;
    state.authorize(
        principal,
        "applicationsets",
        "create",
        &rbac_object(&appset),
    )?;
    let sources =
        capstan_kube::appset::sources(&state.client, &state.namespace, &state.repo_server, &appset)
            .await
            .map_err(ApiError::Unavailable)?;
    let apps = capstan_appset::generate(&appset.spec, &sources)
        .map_err(|e| e.to_string())
        .and_then(|params| {
            capstan_appset::applications(&appset, &params).map_err(|e| e.to_string())
        })
        .map_err(ApiError::InvalidArgument)?;
    Ok((appset, apps))
}

/// Creates (or with `upsert` replaces the spec of) an ApplicationSet.
pub async fn create(
    state: &ApiState,
    principal: &Principal,
    json: &str,
    upsert: bool,
) -> ApiResult<ApplicationSet> {
    let mut appset: ApplicationSet = serde_json::from_str(json)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid applicationset: {e}")))?;
    let name = appset.name_any();
    if name.is_empty() {
        return Err(ApiError::InvalidArgument(
            "invalid applicationset: metadata.name is required".to_owned(),
        ));
    }
    appset.metadata.namespace = Some(state.namespace.clone());
    appset.status = None;
    state.authorize(
        principal,
        "applicationsets",
        "create",
        &rbac_object(&appset),
    )?;
    let api: Api<ApplicationSet> = Api::namespaced(state.client.clone(), &state.namespace);
    match api.create(&PostParams::default(), &appset).await {
        Ok(created) => {
            audit::record(
                state,
                principal,
                &created,
                "ResourceCreated",
                "created applicationset",
            );
            Ok(created)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = get(state, principal, &name, "update").await?;
            if existing.spec == appset.spec {
                return Ok((*existing).clone());
            }
            if !upsert {
                return Err(ApiError::AlreadyExists(format!(
                    "existing applicationset spec is different, use upsert flag to force update ({name:?})"
                )));
            }
            let mut updated = (*existing).clone();
            updated.spec = appset.spec;
            updated.metadata.labels = appset.metadata.labels;
            updated.metadata.annotations = appset.metadata.annotations;
            audit::replace(
                state,
                principal,
                &state.appsets,
                updated,
                "applicationset",
                "updated applicationset",
            )
            .await
        }
        Err(e) => Err(ApiError::from_kube(e, "applicationset", &name)),
    }
}

/// Deletes an ApplicationSet (its Applications follow by owner reference).
pub async fn delete(state: &ApiState, principal: &Principal, name: &str) -> ApiResult<()> {
    let appset = get(state, principal, name, "delete").await?;
    let api: Api<ApplicationSet> = Api::namespaced(state.client.clone(), &state.namespace);
    api.delete(name, &DeleteParams::default())
        .await
        .map_err(|e| ApiError::from_kube(e, "applicationset", name))?;
    audit::record(
        state,
        principal,
        &*appset,
        "ResourceDeleted",
        "deleted applicationset",
    );
    Ok(())
}
