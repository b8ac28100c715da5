//! The Application API's logic, shared by the gRPC and REST front ends: every function takes
//! the caller, checks RBAC first and never tells a caller who may not read an Application
//! whether it exists.
//!
//! Syncs, rollbacks and refreshes are requests written on the Application (`operation`, the
//! refresh annotation), exactly as Argo CD's API server does; the controller carries them out,
//! so they survive any restart.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use capstan_types::application::{
    Info, OperationInitiator, OperationPhase, RetryStrategy, SyncOperation, SyncOperationResource,
    SyncStrategy,
};
use capstan_types::{Application, Operation};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::audit;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::selector::Selector;
use crate::state::ApiState;

/// Argo CD's refresh annotation.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// The cascade-deletion finalizer (foreground).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The cascade-deletion finalizer with background propagation.
pub const RESOURCES_FINALIZER_BACKGROUND: &str =
    "resources-finalizer.argocd.argoproj.io/background";
/// How long `Get` with a refresh waits for the controller.
const REFRESH_WAIT: Duration = Duration::from_secs(60);

/// The RBAC object of an Application: `<project>/<name>`.
pub fn rbac_object(app: &Application) -> String {
    format!("{}/{}", app.spec.project_or_default(), app.name_any())
}

/// Filters of `List` and `Watch`. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this Application.
    pub name: Option<String>,
    /// Only these projects.
    pub projects: Vec<String>,
    /// Label selector.
    pub selector: Selector,
    /// Only apps with a source from this repository (normalised URL comparison).
    pub repo: Option<String>,
    /// Only these sync statuses (`Synced`, `OutOfSync`, `Unknown`).
    pub sync_statuses: Vec<String>,
    /// Only these health statuses.
    pub health_statuses: Vec<String>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Only these destination clusters (server URL or name).
    pub clusters: Vec<String>,
    /// Only these destination namespaces.
    pub namespaces: Vec<String>,
}

impl Filter {
    /// Whether `app` passes.
    pub fn matches(&self, app: &Application) -> bool {
        let name = app.metadata.name.as_deref().unwrap_or_default();
        if self.name.as_deref().is_some_and(|n| n != name) {
            return false;
        }
        if !self.projects.is_empty()
            && !self
                .projects
                .iter()
                .any(|p| p == app.spec.project_or_default())
        {
            return false;
        }
        if !self.selector.matches(app.labels()) {
            return false;
        }
        if let Some(repo) = &self.repo {
            let want = capstan_types::app_project::normalize_git_url(repo);
            if !app
                .spec
                .effective_sources()
                .iter()
                .any(|s| capstan_types::app_project::normalize_git_url(&s.repo_url) == want)
            {
                return false;
            }
        }
        let status = app.status.as_ref();
        if !self.sync_statuses.is_empty() {
            let sync = status
                .and_then(|s| s.sync.status.as_ref())
                .map(|s| s.as_str())
                .unwrap_or("Unknown");
            if !self.sync_statuses.iter().any(|s| s == sync) {
                return false;
            }
        }
        if !self.health_statuses.is_empty() {
            let health = status
                .and_then(|s| s.health.status.as_ref())
                .map(|s| s.as_str())
                .unwrap_or("Unknown");
            if !self.health_statuses.iter().any(|h| h == health) {
                return false;
            }
        }
        if let Some(search) = &self.search
            && !name.to_lowercase().contains(&search.to_lowercase())
        {
            return false;
        }
        let dest = &app.spec.destination;
        if !self.clusters.is_empty()
            && !self
                .clusters
                .iter()
                .any(|c| *c == dest.server || *c == dest.name)
        {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.contains(&dest.namespace) {
            return false;
        }
        true
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last page.
    pub continue_token: Option<String>,
    /// How many matching items follow this page (Kubernetes' `remainingItemCount`); `None`
    /// when the list was not cut (no limit, or the last page) or was not counted.
    pub remaining: Option<usize>,
}

/// Encodes the position after `name` as an opaque continue token.
pub fn encode_continue(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{name}"))
}

/// Decodes a continue token.
pub fn decode_continue(token: &str) -> ApiResult<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("v1:").map(str::to_owned))
        .ok_or_else(|| {
            ApiError::InvalidArgument(
                "invalid continue token: pass metadata.continue of the previous page unchanged"
                    .to_owned(),
            )
        })
}

/// Lists the Applications the caller may read, in name order, one page at a time (`limit` 0:
/// everything), with the number of those after the page.
pub fn list(
    state: &ApiState,
    principal: &Principal,
    filter: &Filter,
    limit: usize,
    continue_token: Option<&str>,
) -> ApiResult<Page<Arc<Application>>> {
    let after = continue_token
        .filter(|t| !t.is_empty())
        .map(decode_continue)
        .transpose()?;
    let (items, remaining) = state.apps.page_counted(after.as_deref(), limit, |app| {
        filter.matches(app) && state.can(principal, "applications", "get", &rbac_object(app))
    });
    let continue_token = if remaining > 0 {
        items.last().map(|a| encode_continue(&a.name_any()))
    } else {
        None
    };
    Ok(Page {
        items,
        remaining: continue_token.as_ref().map(|_| remaining),
        continue_token,
    })
}

/// The Application `name` as the caller may see it.
///
/// A missing Application is `NotFound` only for a caller who could read it in any project (or
/// in the project named by the request); everyone else gets the same `PermissionDenied` as for
/// an Application they may not read, so that existence never leaks.
pub async fn find(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    action: &str,
) -> ApiResult<Arc<Application>> {
    let app = match state.apps.get(name) {
        Some(app) => Some(app),
        None => {
            let api: Api<Application> = Api::namespaced(state.client.clone(), &state.namespace);
            api.get_opt(name)
                .await
                .map_err(|e| ApiError::from_kube(e, "application", name))?
                .map(Arc::new)
        }
    };
    let project = project.filter(|p| !p.is_empty());
    let Some(app) = app.filter(|a| project.is_none_or(|p| p == a.spec.project_or_default())) else {
        let object = format!("{}/{name}", project.unwrap_or("*"));
        state.authorize(principal, "applications", action, &object)?;
        return Err(ApiError::NotFound {
            kind: "application",
            name: name.to_owned(),
        });
    };
    state.authorize(principal, "applications", action, &rbac_object(&app))?;
    Ok(app)
}

/// `Get`, optionally after a refresh: writes the refresh annotation and waits (up to a minute)
/// for the controller to take it off, then returns the refreshed Application.
pub async fn get(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    refresh: Option<&str>,
) -> ApiResult<Arc<Application>> {
    let app = find(state, principal, name, project, "get").await?;
    let Some(kind) = refresh.filter(|r| !r.is_empty()) else {
        return Ok(app);
    };
    if kind != "normal" && kind != "hard" {
        return Err(ApiError::InvalidArgument(format!(
            "unknown refresh {kind:?}: expected normal or hard"
        )));
    }
    let mut events = state.apps.subscribe();
    let requested = request_refresh(state, name, kind).await?;
    let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
    loop {
        // Done when the controller took the annotation off, i.e. in a version newer than the
        // one that set it: a late watch event of an older version (a status write from before
        // the request) also lacks the annotation and must not end the wait early.
        if let Some(current) = state.apps.get(name)
            && !current.annotations().contains_key(REFRESH_ANNOTATION)
            && crate::store::rv_newer(current.resource_version(), requested.clone())
        {
            return Ok(current);
        }
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                return Err(ApiError::Unavailable(format!(
                    "application {name:?} was not refreshed within {}s: is the application \
                     controller running?",
                    REFRESH_WAIT.as_secs()
                )));
            }
        }
    }
    Ok(state.apps.get(name).unwrap_or(app))
}

/// Writes the refresh annotation (`normal` or `hard`); returns the resourceVersion that
/// carries it.
pub async fn request_refresh(
    state: &ApiState,
    name: &str,
    kind: &str,
) -> ApiResult<Option<String>> {
    let api: Api<Application> = Api::namespaced(state.client.clone(), &state.namespace);
    let patch = json!({ "metadata": { "annotations": { REFRESH_ANNOTATION: kind } } });
    let app = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| ApiError::from_kube(e, "application", name))?;
    let version = app.resource_version();
    state.apps.observe(app);
    Ok(version)
}

/// Parses an Application from the JSON a caller sent and checks what the API needs.
pub fn parse_application(state: &ApiState, json: &str) -> ApiResult<Application> {
    let mut app: Application = serde_json::from_str(json)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid application: {e}")))?;
    if app.metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err(ApiError::InvalidArgument(
            "invalid application: metadata.name is required".to_owned(),
        ));
    }
    match app.metadata.namespace.as_deref() {
        None | Some("") => app.metadata.namespace = Some(state.namespace.clone()),
        Some(ns) if ns == state.namespace => {}
        Some(ns) => {
            return Err(ApiError::InvalidArgument(format!(
                "application namespace {ns:?} is not permitted: Applications live in \
                 {:?}",
                state.namespace
            )));
        }
    }
    Ok(app)
}

/// Validates a spec against its project, as Argo CD's `ValidateAppProject`: the project must
/// exist and permit the source repositories and the destination.
pub fn validate(state: &ApiState, app: &Application) -> ApiResult<()> {
    let name = app.name_any();
    let project_name = app.spec.project_or_default();
    let invalid = |msg: String| {
        ApiError::InvalidArgument(format!("application spec for {name} is invalid: {msg}"))
    };
    let project = state.projects.get(project_name).ok_or_else(|| {
        invalid(format!(
            "application references project {project_name} which does not exist"
        ))
    })?;
    let sources = app.spec.effective_sources();
    if sources.is_empty() {
        return Err(invalid(
            "spec.source or spec.sources is required".to_owned(),
        ));
    }
    for source in sources {
        if source.repo_url.is_empty() {
            return Err(invalid("source.repoURL is required".to_owned()));
        }
        if !project.is_source_permitted(&source.repo_url) {
            return Err(invalid(format!(
                "application repo {} is not permitted in project '{project_name}'",
                source.repo_url
            )));
        }
    }
    let dest = &app.spec.destination;
    if dest.server.is_empty() && dest.name.is_empty() {
        return Err(invalid(
            "destination.server or destination.name is required".to_owned(),
        ));
    }
    if !dest.server.is_empty() && !dest.name.is_empty() {
        return Err(invalid(
            "destination.server and destination.name cannot both be set".to_owned(),
        ));
    }
    if !project.is_destination_permitted(&dest.server, &dest.name, &dest.namespace) {
        return Err(invalid(format!(
            "application destination server '{}' and namespace '{}' do not match any of the \
             allowed destinations in project '{project_name}'",
            if dest.server.is_empty() {
                &dest.name
            } else {
                &dest.server
            },
            dest.namespace
        )));
    }
    Ok(())
}

/// `Create`: creates the Application, or with `upsert` replaces the spec of an existing one.
pub async fn create(
    state: &ApiState,
    principal: &Principal,
    mut app: Application,
    upsert: bool,
    validate_spec: bool,
) -> ApiResult<Application> {
    let name = app.name_any();
    state.authorize(principal, "applications", "create", &rbac_object(&app))?;
    if validate_spec {
        validate(state, &app)?;
    }
    app.status = None;
    app.operation = None;
    app.metadata.resource_version = None;
    let api: Api<Application> = Api::namespaced(state.client.clone(), &state.namespace);
    match api.create(&PostParams::default(), &app).await {
        Ok(created) => {
            audit::record(
                state,
                principal,
                &created,
                "ResourceCreated",
                "created application",
            );
            state.apps.observe(created.clone());
            Ok(created)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api
                .get(&name)
                .await
                .map_err(|e| ApiError::from_kube(e, "application", &name))?;
            let same = existing.spec == app.spec
                && existing.labels() == app.labels()
                && existing.annotations() == app.annotations();
            if same {
                return Ok(existing);
            }
            if !upsert {
                return Err(ApiError::AlreadyExists(format!(
                    "existing application spec is different, use upsert flag to force update \
                     (application {name:?})"
                )));
            }
            state.authorize(principal, "applications", "update", &rbac_object(&existing))?;
            let mut updated = existing.clone();
            updated.spec = app.spec;
            updated.metadata.labels = app.metadata.labels;
            updated.metadata.annotations = app.metadata.annotations;
            if app.metadata.finalizers.is_some() {
                updated.metadata.finalizers = app.metadata.finalizers;
            }
            audit::replace(
                state,
                principal,
                &state.apps,
                updated,
                "application",
                "updated application",
            )
            .await
        }
        Err(e) => Err(ApiError::from_kube(e, "application", &name)),
    }
}

/// `Update`: replaces spec, labels, annotations and finalizers; the running operation and the
/// status stay. Both the old and the new project must allow the update.
pub async fn update(
    state: &ApiState,
    principal: &Principal,
    app: Application,
    validate_spec: bool,
    project: Option<&str>,
) -> ApiResult<Application> {
    let name = app.name_any();
    let current = find(state, principal, &name, project, "update").await?;
    state.authorize(principal, "applications", "update", &rbac_object(&app))?;
    if validate_spec {
        validate(state, &app)?;
    }
    let mut updated = (*current).clone();
    updated.spec = app.spec;
    updated.metadata.labels = app.metadata.labels;
    updated.metadata.annotations = app.metadata.annotations;
    updated.metadata.finalizers = app.metadata.finalizers;
    if app.metadata.resource_version.is_some() {
        updated.metadata.resource_version = app.metadata.resource_version;
    }
    audit::replace(
        state,
        principal,
        &state.apps,
        updated,
        "application",
        "updated application",
    )
    .await
}

/// `UpdateSpec`.
pub async fn update_spec(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    spec_json: &str,
    validate_spec: bool,
    project: Option<&str>,
) -> ApiResult<Application> {
    let spec: capstan_types::application::ApplicationSpec = serde_json::from_str(spec_json)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid application spec: {e}")))?;
    let mut current = find(state, principal, name, project, "update").await?;
    // The controller writes the status all the time; a spec written over a copy a status write
    // just replaced is retried on the fresh object (as Argo CD's UpdateSpec), not refused.
    let mut attempt = 0;
    loop {
        let mut updated = (*current).clone();
        updated.spec = spec.clone();
        state.authorize(principal, "applications", "update", &rbac_object(&updated))?;
        if validate_spec {
            validate(state, &updated)?;
        }
        match audit::replace(
            state,
            principal,
            &state.apps,
            updated,
            "application",
            "updated application spec",
        )
        .await
        {
            Err(ApiError::Conflict(_)) if attempt < 5 => {
                attempt += 1;
                let api: Api<Application> = Api::namespaced(state.client.clone(), &state.namespace);
                current = Arc::new(
                    api.get(name)
                        .await
                        .map_err(|e| ApiError::from_kube(e, "application", name))?,
                );
            }
            other => return other,
        }
    }
}

/// `Patch`: a JSON patch (RFC 6902) or merge patch (RFC 7386) of the Application, checked like
/// an update.
pub async fn patch(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    patch: &str,
    patch_type: &str,
    project: Option<&str>,
) -> ApiResult<Application> {
    let current = find(state, principal, name, project, "update").await?;
    let mut doc = serde_json::to_value(&*current)
        .map_err(|e| ApiError::Internal(format!("encoding application: {e}")))?;
    match patch_type {
        "json" | "" => {
            let ops: json_patch::Patch = serde_json::from_str(patch)
                .map_err(|e| ApiError::InvalidArgument(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::InvalidArgument(format!("JSON patch does not apply: {e}"))
            })?;
        }
        "merge" => {
            let merge: Value = serde_json::from_str(patch)
                .map_err(|e| ApiError::InvalidArgument(format!("invalid merge patch: {e}")))?;
            json_patch::merge(&mut doc, &merge);
        }
        other => {
            return Err(ApiError::InvalidArgument(format!(
                "unsupported patch type {other:?}: expected json or merge"
            )));
        }
    }
    let patched: Application = serde_json::from_value(doc)
        .map_err(|e| ApiError::InvalidArgument(format!("patched application is invalid: {e}")))?;
    if patched.name_any() != name {
        return Err(ApiError::InvalidArgument(
            "a patch may not rename the application".to_owned(),
        ));
    }
    state.authorize(principal, "applications", "update", &rbac_object(&patched))?;
    validate(state, &patched)?;
    let mut updated = (*current).clone();
    updated.spec = patched.spec;
    updated.metadata.labels = patched.metadata.labels;
    updated.metadata.annotations = patched.metadata.annotations;
    updated.metadata.finalizers = patched.metadata.finalizers;
    audit::replace(
        state,
        principal,
        &state.apps,
        updated,
        "application",
        "patched application",
    )
    .await
}

/// `Delete`: with `cascade` (the default) the controller deletes the app's resources first
/// (the resources finalizer, foreground or background); without it they stay.
pub async fn delete(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    cascade: bool,
    propagation: Option<&str>,
    project: Option<&str>,
) -> ApiResult<()> {
    let app = find(state, principal, name, project, "delete").await?;
    let finalizer = match propagation.unwrap_or("foreground") {
        "foreground" | "" => RESOURCES_FINALIZER,
        "background" => RESOURCES_FINALIZER_BACKGROUND,
        other => {
            return Err(ApiError::InvalidArgument(format!(
                "unknown propagation policy {other:?}: expected foreground or background"
            )));
        }
    };
    let api: Api<Application> = Api::namespaced(state.client.clone(), &state.namespace);
    let mut finalizers: Vec<String> = app
        .finalizers()
        .iter()
        .filter(|f| !f.starts_with(RESOURCES_FINALIZER))
        .cloned()
        .collect();
    if cascade {
        finalizers.push(finalizer.to_owned());
    }
    if finalizers != app.finalizers() {
        let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": app.resource_version() } });
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| ApiError::from_kube(e, "application", name))?;
    }
    api.delete(
        name,
        &DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..DeleteParams::default()
        },
    )
    .await
    .map_err(|e| ApiError::from_kube(e, "application", name))?;
    audit::record(
        state,
        principal,
        app.as_ref(),
        "ResourceDeleted",
        if cascade {
            "deleted application (cascade)"
        } else {
            "deleted application (resources kept)"
        },
    );
    Ok(())
}

/// What a sync asks for.
#[derive(Clone, Debug, Default)]
pub struct SyncParams {
    /// Revision to sync to; the target revision when empty.
    pub revision: String,
    /// Plan only.
    pub dry_run: bool,
    /// Delete resources no longer in Git.
    pub prune: bool,
    /// Apply or hook strategy.
    pub strategy: Option<SyncStrategy>,
    /// Selective sync.
    pub resources: Vec<SyncOperationResource>,
    /// Local manifests instead of Git (needs `override`).
    pub manifests: Vec<String>,
    /// Extra information shown with the operation.
    pub infos: Vec<Info>,
    /// Retry strategy; the app's when `None`.
    pub retry: Option<RetryStrategy>,
    /// Sync options; the app's when `None`.
    pub sync_options: Option<Vec<String>>,
}

/// `Sync`: writes the operation on the Application.
pub async fn sync(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    params: SyncParams,
) -> ApiResult<Application> {
    let app = find(state, principal, name, project, "sync").await?;
    if !params.manifests.is_empty() {
        state.authorize(principal, "applications", "override", &rbac_object(&app))?;
    }
    let policy = app.spec.sync_policy.as_ref();
    let automated = policy.is_some_and(|p| p.is_automated());
    let target = app
        .spec
        .source
        .as_ref()
        .map(|s| s.target_revision.as_str())
        .filter(|r| !r.is_empty())
        .unwrap_or("HEAD");
    if automated && !params.dry_run && !params.revision.is_empty() && params.revision != target {
        return Err(ApiError::FailedPrecondition(format!(
            "Cannot sync to {}: auto-sync currently set to {target}",
            params.revision
        )));
    }
    if automated && !params.manifests.is_empty() {
        return Err(ApiError::FailedPrecondition(
            "Cannot use local sync when Automatic Sync Policy is enabled".to_owned(),
        ));
    }
    check_sync_window(state, &app)?;
    let operation = Operation {
        sync: Some(SyncOperation {
            revision: if params.revision.is_empty() {
                target.to_owned()
            } else {
                params.revision.clone()
            },
            prune: Some(params.prune),
            dry_run: Some(params.dry_run),
            sync_strategy: params.strategy,
            resources: params.resources,
            manifests: params.manifests,
            sync_options: params
                .sync_options
                .unwrap_or_else(|| policy.map(|p| p.sync_options.clone()).unwrap_or_default()),
            ..SyncOperation::default()
        }),
        initiated_by: Some(OperationInitiator {
            username: principal.username().to_owned(),
            ..OperationInitiator::default()
        }),
        info: params.infos,
        retry: params
            .retry
            .or_else(|| policy.and_then(|p| p.retry.clone())),
        ..Operation::default()
    };
    let revision = operation
        .sync
        .as_ref()
        .map(|s| s.revision.clone())
        .unwrap_or_default();
    let updated = set_operation(state, &app, operation).await?;
    audit::record(
        state,
        principal,
        &updated,
        "OperationStarted",
        &format!("initiated sync to {revision}"),
    );
    Ok(updated)
}

fn check_sync_window(state: &ApiState, app: &Application) -> ApiResult<()> {
    let Some(project) = state.projects.get(app.spec.project_or_default()) else {
        return Ok(()); // the controller reports the missing project
    };
    let dest = &app.spec.destination;
    let cluster_name = if dest.name.is_empty()
        && capstan_types::settings::normalize_server(&dest.server)
            == capstan_types::settings::IN_CLUSTER_SERVER
    {
        capstan_types::settings::IN_CLUSTER_NAME
    } else {
        dest.name.as_str()
    };
    let decision = project
        .sync_allowed(
            &app.name_any(),
            &dest.namespace,
            &dest.server,
            cluster_name,
            true,
            jiff::Timestamp::now(),
        )
        .map_err(|e| {
            ApiError::FailedPrecondition(format!(
                "cannot sync application {}: invalid sync window: {e}",
                app.name_any()
            ))
        })?;
    if decision.is_allowed() {
        Ok(())
    } else {
        Err(ApiError::FailedPrecondition(format!(
            "cannot sync application {}: {decision}",
            app.name_any()
        )))
    }
}

/// Writes `operation` unless one is already in progress (Argo CD's `SetAppOperation`).
async fn set_operation(
    state: &ApiState,
    app: &Application,
    operation: Operation,
) -> ApiResult<Application> {
    let name = app.name_any();
    let api: Api<Application> = Api::namespaced(state.client.clone(), &state.namespace);
    for _ in 0..5 {
        let current = api
            .get(&name)
            .await
            .map_err(|e| ApiError::from_kube(e, "application", &name))?;
        if current.operation.is_some() {
            return Err(ApiError::FailedPrecondition(
                "another operation is already in progress".to_owned(),
            ));
        }
        let patch = json!({
            "metadata": { "resourceVersion": current.resource_version() },
            "operation": operation,
        });
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => {
                state.apps.observe(updated.clone());
                return Ok(updated);
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(ApiError::from_kube(e, "application", &name)),
        }
    }
    Err(ApiError::Conflict(format!(
        "application {name:?} kept changing; retry the operation"
    )))
}

/// `Rollback`: syncs to the revision and source of history entry `id`. Refused while
/// automated sync is on (it would undo the rollback at once).
pub async fn rollback(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    id: i64,
    dry_run: bool,
    prune: bool,
) -> ApiResult<Application> {
    let app = find(state, principal, name, project, "sync").await?;
    if app
        .spec
        .sync_policy
        .as_ref()
        .is_some_and(|p| p.is_automated())
    {
        return Err(ApiError::FailedPrecondition(
            "rollback cannot be initiated when auto-sync is enabled".to_owned(),
        ));
    }
    let history = app
        .status
        .as_ref()
        .map(|s| s.history.as_slice())
        .unwrap_or_default();
    let entry = history.iter().find(|h| h.id == id).ok_or_else(|| {
        ApiError::InvalidArgument(format!(
            "application {name} does not have deployment with id {id}"
        ))
    })?;
    let Some(source) = entry.source.clone() else {
        return Err(ApiError::FailedPrecondition(format!(
            "history entry {id} of application {name} has no source to roll back to"
        )));
    };
    check_sync_window(state, &app)?;
    let operation = Operation {
        sync: Some(SyncOperation {
            revision: entry.revision.clone(),
            source: Some(source),
            dry_run: Some(dry_run),
            prune: Some(prune),
            ..SyncOperation::default()
        }),
        initiated_by: Some(OperationInitiator {
            username: principal.username().to_owned(),
            ..OperationInitiator::default()
        }),
        ..Operation::default()
    };
    let updated = set_operation(state, &app, operation).await?;
    audit::record(
        state,
        principal,
        &updated,
        "OperationStarted",
        &format!("initiated rollback to {id} ({})", entry.revision),
    );
    Ok(updated)
}

/// `TerminateOperation`: asks the controller to stop the running operation.
pub async fn terminate(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
) -> ApiResult<()> {
    let app = find(state, principal, name, project, "sync").await?;
    let running = app.operation.is_some()
        && app
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|o| o.phase == Some(OperationPhase::Running));
    if !running {
        return Err(ApiError::FailedPrecondition(
            "Unable to terminate operation. No operation is in progress".to_owned(),
        ));
    }
    let api: Api<Application> = Api::namespaced(state.client.clone(), &state.namespace);
    let patch = json!({ "status": { "operationState": { "phase": "Terminating" } } });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| ApiError::from_kube(e, "application", name))?;
    audit::record(
        state,
        principal,
        app.as_ref(),
        "OperationTerminated",
        "terminated running operation",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use capstan_types::Application;
    use serde_json::json;

    use super::{Filter, list};
    use crate::auth::Principal;
    use crate::state::ApiState;

    fn app(name: &str, project: &str) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": { "name": name, "namespace": "argocd" },
            "spec": {
                "project": project,
                "source": { "repoURL": "https://git.example.com/r.git", "path": "." },
                "destination": { "server": "https://kubernetes.default.svc", "namespace": "d" }
            }
        }))
        .expect("an Application")
    }

    fn principal(subject: &str) -> Principal {
        Principal {
            subject: subject.to_owned(),
            groups: Vec::new(),
            claims: None,
        }
    }

    fn names(items: &[Arc<Application>]) -> Vec<String> {
        items
            .iter()
            .map(|a| a.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn pages_count_the_matching_items_after_them() {
        let state = ApiState::offline("argocd");
        for i in 0..9 {
            let project = if i % 3 == 0 { "other" } else { "team" };
            state.apps.observe(app(&format!("app-{i}"), project));
        }
        let admin = principal("admin");
        let team = Filter {
            projects: vec!["team".to_owned()],
            ..Filter::default()
        };
        // app-1, 2, 4, 5, 7, 8 match: pages of 4 are "1–4 of 6", then "5–6 of 6".
        let first = list(&state, &admin, &team, 4, None).expect("first page");
        assert_eq!(names(&first.items), ["app-1", "app-2", "app-4", "app-5"]);
        assert_eq!(first.remaining, Some(2));
        assert!(first.continue_token.is_some());
        let second =
            list(&state, &admin, &team, 4, first.continue_token.as_deref()).expect("second page");
        assert_eq!(names(&second.items), ["app-7", "app-8"]);
        assert_eq!((second.remaining, second.continue_token), (None, None));
        // A page that ends exactly at the last match is not cut.
        let exact = list(&state, &admin, &team, 6, None).expect("exact page");
        assert_eq!(exact.items.len(), 6);
        assert_eq!((exact.remaining, exact.continue_token), (None, None));
        // No limit: everything, no count.
        let all = list(&state, &admin, &Filter::default(), 0, None).expect("all");
        assert_eq!((all.items.len(), all.remaining), (9, None));
        let cut = list(&state, &admin, &Filter::default(), 2, None).expect("cut");
        assert_eq!(cut.remaining, Some(7));
        // Apps the caller may not read are not counted either.
        let nobody =
            list(&state, &principal("nobody"), &Filter::default(), 2, None).expect("nobody's page");
        assert_eq!(
            (nobody.items.len(), nobody.remaining, nobody.continue_token),
            (0, None, None)
        );
    }
}
