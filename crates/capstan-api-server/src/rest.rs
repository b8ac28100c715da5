//! The REST/JSON front end at Argo CD's paths and JSON shapes (what its grpc-gateway serves),
//! so that scripts written against Argo CD's REST API keep working. Kubernetes objects are
//! returned exactly as stored; lists are `{"metadata": {...}, "items": [...]}`; errors are
//! `{"error", "code", "message"}` with grpc-gateway's HTTP statuses; streams are
//! newline-delimited `{"result": ...}` objects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use capstan_types::application::{
    Backoff, HealthStatusCode, Info, RetryStrategy, SyncOperationResource, SyncStatusCode,
    SyncStrategy,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apps::{self, Filter, SyncParams};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::selector::Selector;
use crate::state::ApiState;
use crate::{account, appsets, clusters, projects, repos, resources, watch};

type AppState = Arc<ApiState>;

/// The REST routes.
pub fn router(state: AppState) -> Router {
    let webhook_limit = crate::webhook::DEFAULT_MAX_PAYLOAD_BYTES;
    Router::new()
        .route("/api/version", get(version))
        .route("/api/badge", get(status_badge))
        .route("/api/v1/settings", get(settings))
        .route("/api/v1/session/userinfo", get(userinfo))
        .route("/api/v1/session", delete(logout))
        .route("/api/v1/account", get(list_accounts))
        .route(
            "/api/v1/account/can-i/{resource}/{action}/{*subresource}",
            get(can_i),
        )
        .route("/api/v1/applications", get(list_apps).post(create_app))
        .route(
            "/api/v1/applications/{name}",
            get(get_app)
                .put(update_app)
                .patch(patch_app)
                .delete(delete_app),
        )
        .route(
            "/api/v1/applications/{name}/spec",
            axum::routing::put(update_spec),
        )
        .route("/api/v1/applications/{name}/sync", post(sync_app))
        .route("/api/v1/applications/{name}/rollback", post(rollback_app))
        .route(
            "/api/v1/applications/{name}/operation",
            delete(terminate_op),
        )
        .route(
            "/api/v1/applications/{name}/resource-tree",
            get(resource_tree),
        )
        .route(
            "/api/v1/applications/{name}/managed-resources",
            get(managed_resources),
        )
        .route("/api/v1/applications/{name}/events", get(app_events))
        .route("/api/v1/applications/{name}/manifests", get(app_manifests))
        .route("/api/v1/applications/{name}/resource", get(app_resource))
        .route(
            "/api/v1/applications/{name}/syncwindows",
            get(app_sync_windows),
        )
        .route(
            "/api/v1/applications/{name}/revisions/{revision}/metadata",
            get(revision_metadata),
        )
        .route("/api/v1/stream/applications", get(stream_apps))
        .route(
            "/api/v1/stream/applications/{name}/resource-tree",
            get(stream_tree),
        )
        .route("/api/v1/projects", get(list_projects).post(create_project))
        .route(
            "/api/v1/projects/{name}",
            get(get_project).put(update_project).delete(delete_project),
        )
        .route("/api/v1/projects/{name}/syncwindows", get(project_windows))
        .route(
            "/api/v1/projects/{project}/roles/{role}/token",
            post(create_project_token),
        )
        .route(
            "/api/v1/projects/{project}/roles/{role}/token/{iat}",
            delete(delete_project_token),
        )
        .route("/api/v1/repositories", get(list_repos).post(create_repo))
        .route(
            "/api/v1/repositories/{repo}",
            get(get_repo).delete(delete_repo),
        )
        .route("/api/v1/repositories/{repo}/refs", get(repo_refs))
        .route(
            "/api/v1/repocreds",
            get(list_repocreds).post(create_repocreds),
        )
        .route("/api/v1/repocreds/{url}", delete(delete_repocreds))
        .route("/api/v1/clusters", get(list_clusters).post(create_cluster))
        .route(
            "/api/v1/clusters/{server}",
            get(get_cluster).delete(delete_cluster),
        )
        .route(
            "/api/v1/applicationsets",
            get(list_appsets).post(create_appset),
        )
        .route("/api/v1/applicationsets/generate", post(generate_appset))
        .route(
            "/api/v1/applicationsets/{name}",
            get(get_appset).delete(delete_appset),
        )
        .route(
            "/api/webhook",
            post(crate::webhook_handler::receive).layer(DefaultBodyLimit::max(webhook_limit)),
        )
        .with_state(state)
        .layer(compression())
}

/// gzip for clients that accept it (a page of 100 Applications is ~0.5 MB of JSON), except
/// the watch streams ([`ndjson`] marks them `X-Accel-Buffering: no`): a compressor holds
/// bytes back until it has enough, and a watch event must leave at once.
fn compression()
-> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
    let not_a_stream =
        |_: StatusCode, _: axum::http::Version, headers: &HeaderMap, _: &axum::http::Extensions| {
            !headers.contains_key("x-accel-buffering")
        };
    // The fastest level: an Application list still shrinks ~10-fold, for a fraction of the CPU.
    tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .quality(tower_http::CompressionLevel::Fastest)
        .compress_when(DefaultPredicate::new().and(not_a_stream))
}

/// Query parameters, with repeated keys kept (`projects=a&projects=b`).
#[derive(Debug, Default)]
struct Query(BTreeMap<String, Vec<String>>);

impl Query {
    fn parse(raw: Option<String>) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in form_urlencoded(raw.as_deref().unwrap_or_default()) {
            map.entry(k).or_default().push(v);
        }
        Self(map)
    }
    fn one(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .get(key)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }
    fn flag(&self, key: &str, default: bool) -> bool {
        match self.one(key) {
            Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            _ => default,
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (space); a malformed escape stays as written.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn who(state: &ApiState, headers: &HeaderMap) -> ApiResult<Principal> {
    state.authenticate(headers).await
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid {what} JSON: {e}")))
}

fn ok<T: serde::Serialize>(value: T) -> Response {
    Json(value).into_response()
}

/// A list response, `{"metadata": {"continue": ...}, "items": [...]}`, serialized straight from
/// the objects: no intermediate JSON tree (which costs four times the CPU for a big list).
fn list_body<T: serde::Serialize>(items: &[T], continue_token: Option<String>) -> Response {
    paged_list_body(items, continue_token, None, None)
}

/// [`list_body`] with `metadata.remainingItemCount` (Kubernetes' meaning: the matching items
/// after this page) when the page was cut, and `metadata.resourceVersion` to watch on from.
fn paged_list_body<T: serde::Serialize>(
    items: &[T],
    continue_token: Option<String>,
    remaining: Option<usize>,
    resource_version: Option<u64>,
) -> Response {
    #[derive(serde::Serialize)]
    struct ListMeta {
        #[serde(rename = "resourceVersion", skip_serializing_if = "Option::is_none")]
        resource_version: Option<String>,
        #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
        continue_token: Option<String>,
        #[serde(rename = "remainingItemCount", skip_serializing_if = "Option::is_none")]
        remaining: Option<usize>,
    }
    #[derive(serde::Serialize)]
    struct List<'a, T> {
        metadata: ListMeta,
        items: &'a [T],
    }
    ok(List {
        metadata: ListMeta {
            resource_version: resource_version.map(|v| v.to_string()),
            continue_token,
            remaining,
        },
        items,
    })
}

// ----- session, account, settings, version -----

async fn version() -> Response {
    let v = account::version();
    ok(json!({ "Version": v.version, "Platform": v.platform, "Compiler": v.compiler }))
}

/// `GET /api/badge` ([`crate::badge`]): no authentication, as Argo CD; with
/// `statusbadge.enabled` off every badge says Unknown.
async fn status_badge(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    use crate::badge::{self, Badge};
    let q = Query::parse(raw);
    let mut shown = Badge::unknown();
    if state.settings().cm.status_badge_enabled {
        let foreign_namespace = match q.one("namespace") {
            Some(ns) if !badge::valid_label(ns) => return StatusCode::BAD_REQUEST.into_response(),
            Some(ns) => ns != state.namespace,
            None => false,
        };
        let mut app_name = None;
        let mut revision = None;
        if foreign_namespace {
            // Applications live in the control namespace only.
            shown = Badge::not_found();
        } else {
            if let Some(name) = q.one("name") {
                if !badge::valid_app_name(name) {
                    return StatusCode::BAD_REQUEST.into_response();
                }
                match state.apps.get(name) {
                    None => shown = Badge::not_found(),
                    Some(app) => {
                        let status = app.status.clone().unwrap_or_default();
                        shown = Badge::of(
                            status.health.status.unwrap_or(HealthStatusCode::Unknown),
                            status.sync.status.unwrap_or(SyncStatusCode::Unknown),
                        );
                        app_name = Some(name.to_owned());
                        revision = status
                            .operation_state
                            .and_then(|o| o.sync_result)
                            .map(|r| r.revisions.first().cloned().unwrap_or(r.revision))
                            .filter(|r| !r.is_empty());
                    }
                }
            }
            // As Argo CD: a project badge unless a named app was not found.
            let app_missing = q.one("name").is_some() && app_name.is_none();
            let projects = q.all("project");
            if !projects.is_empty() && !app_missing {
                if projects
                    .iter()
                    .any(|p| !badge::valid_label(&p.to_lowercase()))
                {
                    return StatusCode::BAD_REQUEST.into_response();
                }
                let apps = state.apps.list();
                let (health, sync) = badge::combined(
                    apps.iter()
                        .filter(|a| {
                            let project = match a.spec.project.as_str() {
                                "" => "default",
                                p => p,
                            };
                            projects.iter().any(|p| p == project)
                        })
                        // An app without a status yet is neither Synced nor Healthy.
                        .map(|a| {
                            let status = a.status.as_ref();
                            (
                                status
                                    .and_then(|s| s.health.status.as_ref())
                                    .unwrap_or(&HealthStatusCode::Unknown),
                                status
                                    .and_then(|s| s.sync.status.as_ref())
                                    .unwrap_or(&SyncStatusCode::Unknown),
                            )
                        }),
                );
                shown = Badge::of(health, sync);
            }
        }
        if q.flag("revision", false) && shown.health != "Not Found" {
            shown.revision =
                revision.map(|r| badge::shown_revision(&r, q.flag("keepFullRevision", false)));
        }
        if q.flag("showAppName", false) {
            shown.title = app_name;
        }
        shown.width = q.one("width").and_then(|w| w.parse().ok());
    }
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            // Never cached: a badge must not go stale in a README.
            (header::CACHE_CONTROL, "private, no-store"),
            // Fetched by other sites' pages.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        badge::render(&shown),
    )
        .into_response()
}

async fn settings(State(state): State<AppState>) -> Response {
    let s = account::public_settings(&state);
    let mut body = json!({
        "url": s.url,
        "appLabelKey": s.app_label_key,
        "statusBadgeEnabled": s.status_badge_enabled,
        "userLoginsDisabled": s.user_logins_disabled,
        "trackingMethod": s.tracking_method,
        "execEnabled": s.exec_enabled,
        "controllerNamespace": s.controller_namespace,
        "installationID": s.installation_id,
    });
    if let Some(o) = s.oidc_config {
        body["oidcConfig"] = json!({
            "name": o.name, "issuer": o.issuer, "clientID": o.client_id,
            "cliClientID": o.cli_client_id, "scopes": o.scopes,
        });
    }
    ok(body)
}

async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match who(&state, &headers).await {
        Ok(p) => ok(account::user_info(&p)),
        Err(ApiError::Unauthenticated(_)) => ok(json!({ "loggedIn": false })),
        Err(e) => e.into_response(),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    crate::auth::revoke(&state.cache, &p).await;
    Ok(ok(json!({})))
}

async fn list_accounts(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(ok(json!({ "items": account::list_accounts(&state, &p) })))
}

async fn can_i(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((resource, action, subresource)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let value = account::can_i(
        &state,
        &p,
        &resource,
        &action,
        &percent_decode(&subresource),
    )?;
    Ok(ok(json!({ "value": value })))
}

// ----- applications -----

fn filter_of(q: &Query) -> ApiResult<Filter> {
    let mut projects = q.all("projects");
    projects.extend(q.all("project"));
    Ok(Filter {
        name: q.one("name").map(str::to_owned),
        projects,
        selector: Selector::parse(q.one("selector").unwrap_or_default())
            .map_err(ApiError::InvalidArgument)?,
        repo: q.one("repo").map(str::to_owned),
        sync_statuses: q.all("syncStatus"),
        health_statuses: q.all("healthStatus"),
        search: q.one("search").map(str::to_owned),
        clusters: q.all("cluster"),
        namespaces: q.all("namespace"),
    })
}

async fn list_apps(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let limit = q
        .one("limit")
        .map(|l| l.parse::<usize>())
        .transpose()
        .map_err(|_| ApiError::InvalidArgument("limit must be a number".to_owned()))?
        .unwrap_or(0);
    // read before listing: a change made while the list is built is then replayed by a watch
    // from this version, never lost
    let version = state.apps.resource_version();
    let page = apps::list(&state, &p, &filter_of(&q)?, limit, q.one("continue"))?;
    Ok(paged_list_body(
        &page.items,
        page.continue_token,
        page.remaining,
        version,
    ))
}

async fn create_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let app = apps::parse_application(&state, std::str::from_utf8(&body).unwrap_or_default())?;
    let created = apps::create(
        &state,
        &p,
        app,
        q.flag("upsert", false),
        q.flag("validate", true),
    )
    .await?;
    Ok(ok(created))
}

async fn get_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let project = q.one("project").or_else(|| q.one("projects"));
    let app = apps::get(&state, &p, &name, project, q.one("refresh")).await?;
    Ok(ok(app.as_ref()))
}

async fn update_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let app = apps::parse_application(&state, std::str::from_utf8(&body).unwrap_or_default())?;
    if app.metadata.name.as_deref() != Some(name.as_str()) {
        return Err(ApiError::InvalidArgument(
            "metadata.name does not match the path".to_owned(),
        ));
    }
    let updated = apps::update(&state, &p, app, q.flag("validate", true), q.one("project")).await?;
    Ok(ok(updated))
}

async fn update_spec(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let updated = apps::update_spec(
        &state,
        &p,
        &name,
        std::str::from_utf8(&body).unwrap_or_default(),
        q.flag("validate", true),
        q.one("project"),
    )
    .await?;
    Ok(ok(updated.spec))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchBody {
    patch: String,
    #[serde(default)]
    patch_type: String,
    #[serde(default)]
    project: String,
}

async fn patch_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let b: PatchBody = parse_json(&body, "patch request")?;
    let project = Some(b.project.as_str()).filter(|s| !s.is_empty());
    let patched = apps::patch(&state, &p, &name, &b.patch, &b.patch_type, project).await?;
    Ok(ok(patched))
}

async fn delete_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    apps::delete(
        &state,
        &p,
        &name,
        q.flag("cascade", true),
        q.one("propagationPolicy"),
        q.one("project"),
    )
    .await?;
    Ok(ok(json!({})))
}

/// A number that grpc-gateway clients may send as a JSON number or a string.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Int64 {
    Number(i64),
    Text(String),
    #[default]
    Missing,
}

impl Int64 {
    fn value(&self, field: &str) -> ApiResult<Option<i64>> {
        match self {
            Int64::Number(n) => Ok(Some(*n)),
            Int64::Text(s) => s
                .parse()
                .map(Some)
                .map_err(|_| ApiError::InvalidArgument(format!("{field} must be an integer"))),
            Int64::Missing => Ok(None),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SyncBody {
    revision: String,
    dry_run: bool,
    prune: bool,
    strategy: Option<SyncStrategy>,
    resources: Vec<SyncOperationResource>,
    manifests: Vec<String>,
    infos: Vec<Info>,
    retry_strategy: Option<RetryBody>,
    sync_options: Option<SyncOptionsBody>,
    project: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RetryBody {
    limit: Int64,
    backoff: Option<BackoffBody>,
    refresh: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct BackoffBody {
    duration: String,
    factor: Int64,
    max_duration: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SyncOptionsBody {
    items: Vec<String>,
}

async fn sync_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let b: SyncBody = if body.is_empty() {
        SyncBody::default()
    } else {
        parse_json(&body, "sync request")?
    };
    let retry = match b.retry_strategy {
        None => None,
        Some(r) => Some(RetryStrategy {
            limit: r.limit.value("retryStrategy.limit")?,
            backoff: match r.backoff {
                None => None,
                Some(bo) => Some(Backoff {
                    duration: bo.duration,
                    factor: bo.factor.value("retryStrategy.backoff.factor")?,
                    max_duration: bo.max_duration,
                    ..Default::default()
                }),
            },
            refresh: Some(r.refresh),
            ..Default::default()
        }),
    };
    let params = SyncParams {
        revision: b.revision,
        dry_run: b.dry_run,
        prune: b.prune,
        strategy: b.strategy,
        resources: b.resources,
        manifests: b.manifests,
        infos: b.infos,
        retry,
        sync_options: b.sync_options.map(|o| o.items),
    };
    let project = Some(b.project.as_str()).filter(|s| !s.is_empty());
    let app = apps::sync(&state, &p, &name, project, params).await?;
    Ok(ok(app))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RollbackBody {
    id: Int64,
    dry_run: bool,
    prune: bool,
    project: String,
}

async fn rollback_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let b: RollbackBody = parse_json(&body, "rollback request")?;
    let id = b.id.value("id")?.ok_or_else(|| {
        ApiError::InvalidArgument("id (the history entry) is required".to_owned())
    })?;
    let project = Some(b.project.as_str()).filter(|s| !s.is_empty());
    let app = apps::rollback(&state, &p, &name, project, id, b.dry_run, b.prune).await?;
    Ok(ok(app))
}

async fn terminate_op(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    apps::terminate(&state, &p, &name, None).await?;
    Ok(ok(json!({})))
}

async fn resource_tree(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(ok(resources::resource_tree(&state, &p, &name, None).await?))
}

async fn managed_resources(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let items = resources::managed_resources(&state, &p, &name, None).await?;
    // Argo CD's JSON carries the states as JSON strings.
    let text = |v: &Value| {
        if v.is_null() {
            Value::Null
        } else {
            json!(v.to_string())
        }
    };
    let items: Vec<Value> = items
        .iter()
        .map(|m| {
            json!({
                "group": m.group, "kind": m.kind, "namespace": m.namespace, "name": m.name,
                "targetState": text(&m.target_state),
                "liveState": text(&m.normalized_live_state),
                "normalizedLiveState": text(&m.normalized_live_state),
                "predictedLiveState": text(&m.predicted_live_state),
                "modified": m.modified, "hook": m.hook,
                "resourceVersion": m.resource_version,
            })
        })
        .collect();
    Ok(ok(json!({ "items": items })))
}

async fn app_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let resource = q.one("resourceName").map(|n| {
        (
            q.one("resourceNamespace").unwrap_or_default(),
            n,
            q.one("resourceUID").unwrap_or_default(),
        )
    });
    let events = resources::events(&state, &p, &name, q.one("project"), resource).await?;
    Ok(list_body(&events, None))
}

async fn app_manifests(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let m = resources::manifests(&state, &p, &name, q.one("project"), q.one("revision")).await?;
    Ok(ok(json!({
        "manifests": m.manifests, "namespace": m.namespace, "server": m.server,
        "revision": m.revision,
    })))
}

async fn app_resource(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let id = resources::ResourceId {
        group: q.one("group").unwrap_or_default(),
        version: q.one("version").unwrap_or_default(),
        kind: q.one("kind").unwrap_or_default(),
        namespace: q.one("namespace").unwrap_or_default(),
        name: q.one("resourceName").unwrap_or_default(),
    };
    let manifest = resources::get_resource(&state, &p, &name, q.one("project"), &id).await?;
    Ok(ok(json!({ "manifest": manifest.to_string() })))
}

async fn app_sync_windows(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let (active, assigned, can_sync) = resources::sync_windows(&state, &p, &name, None).await?;
    Ok(ok(
        json!({ "activeWindows": active, "assignedWindows": assigned, "canSync": can_sync }),
    ))
}

async fn revision_metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, revision)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let m = resources::revision_metadata(&state, &p, &name, None, &revision).await?;
    let date = m.date.map(|d| {
        jiff::Timestamp::new(d.seconds, d.nanos)
            .map(|t| t.to_string())
            .unwrap_or_default()
    });
    Ok(ok(json!({
        "author": m.author, "date": date, "tags": m.tags, "message": m.message,
    })))
}

/// A newline-delimited JSON response from a stream of values.
fn ndjson(stream: impl futures::Stream<Item = Value> + Send + 'static) -> Response {
    let body = stream.map(|v| {
        let mut line = serde_json::to_vec(&json!({ "result": v })).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("X-Accel-Buffering", "no")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A watch's `resourceVersion` (a list's `metadata.resourceVersion`); empty means none.
pub(crate) fn resource_version_of(raw: Option<&str>) -> ApiResult<Option<u64>> {
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            ApiError::InvalidArgument(format!(
                "resourceVersion {v:?} is not one this server issued (a list's metadata.resourceVersion)"
            ))
        }),
    }
}

async fn stream_apps(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let filter = filter_of(&q)?;
    let since = resource_version_of(q.one("resourceVersion"))?;
    let stream = watch::applications(state.clone(), p, filter, since).map(|(kind, app)| {
        let kind = crate::grpc::application::watch_type(kind).argo_name();
        json!({ "type": kind, "application": app.as_ref() })
    });
    Ok(ndjson(stream))
}

async fn stream_tree(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let app = apps::find(&state, &p, &name, None, "get").await?;
    Ok(ndjson(watch::resource_tree(state.clone(), p, app)))
}

// ----- projects -----

async fn list_projects(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(list_body(&projects::list(&state, &p), None))
}

#[derive(Deserialize)]
struct ProjectBody {
    project: Value,
    #[serde(default)]
    upsert: bool,
}

async fn create_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let b: ProjectBody = parse_json(&body, "project request")?;
    let project = projects::parse(&state, &b.project.to_string())?;
    Ok(ok(projects::create(&state, &p, project, b.upsert).await?))
}

async fn get_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(ok(projects::get(&state, &p, &name).await?.as_ref()))
}

async fn update_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let b: ProjectBody = parse_json(&body, "project request")?;
    let project = projects::parse(&state, &b.project.to_string())?;
    if project.metadata.name.as_deref() != Some(name.as_str()) {
        return Err(ApiError::InvalidArgument(
            "metadata.name does not match the path".to_owned(),
        ));
    }
    Ok(ok(projects::update(&state, &p, project).await?))
}

async fn delete_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    projects::delete(&state, &p, &name).await?;
    Ok(ok(json!({})))
}

async fn project_windows(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let project = projects::get(&state, &p, &name).await?;
    let now = jiff::Timestamp::now();
    let windows: Vec<_> = project
        .spec
        .sync_windows
        .iter()
        .filter(|w| w.is_active_at(now).unwrap_or(false))
        .collect();
    Ok(ok(json!({ "windows": windows })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TokenBody {
    expires_in: Int64,
    id: String,
}

async fn create_project_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((project, role)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let b: TokenBody = if body.is_empty() {
        TokenBody::default()
    } else {
        parse_json(&body, "token request")?
    };
    let expires_in = b
        .expires_in
        .value("expiresIn")?
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64));
    let token =
        projects::create_token(&state, &p, &project, &role, expires_in, Some(&b.id)).await?;
    Ok(ok(json!({ "token": token })))
}

async fn delete_project_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((project, role, iat)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let iat: i64 = iat
        .parse()
        .map_err(|_| ApiError::InvalidArgument("iat must be an integer".to_owned()))?;
    projects::delete_token(
        &state,
        &p,
        &project,
        &role,
        iat,
        q.one("id").unwrap_or_default(),
    )
    .await?;
    Ok(ok(json!({})))
}

// ----- repositories -----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RepoBody {
    repo: String,
    url: String,
    name: String,
    #[serde(rename = "type")]
    type_: String,
    project: String,
    username: String,
    password: String,
    ssh_private_key: String,
    tls_client_cert_data: String,
    tls_client_cert_key: String,
    bearer_token: String,
    insecure: bool,
    enable_lfs: bool,
    force_http_basic_auth: bool,
}

impl RepoBody {
    fn input(self) -> repos::RepoInput {
        let fields = [
            ("username", self.username),
            ("password", self.password),
            ("sshPrivateKey", self.ssh_private_key),
            ("tlsClientCertData", self.tls_client_cert_data),
            ("tlsClientCertKey", self.tls_client_cert_key),
            ("bearerToken", self.bearer_token),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        repos::RepoInput {
            url: if self.repo.is_empty() {
                self.url
            } else {
                self.repo
            },
            name: self.name,
            type_: self.type_,
            project: self.project,
            fields,
            insecure: self.insecure,
            enable_lfs: self.enable_lfs,
            force_http_basic_auth: self.force_http_basic_auth,
        }
    }
}

async fn list_repos(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(list_body(
        &repos::list(&state, &p, repos::Kind::Repository).await?,
        None,
    ))
}

async fn create_repo(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let b: RepoBody = parse_json(&body, "repository")?;
    let view = repos::create(
        &state,
        &p,
        repos::Kind::Repository,
        b.input(),
        q.flag("upsert", false),
    )
    .await?;
    Ok(ok(view))
}

async fn get_repo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(repo): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let view = repos::get(
        &state,
        &p,
        repos::Kind::Repository,
        &percent_decode(&repo),
        q.one("appProject").unwrap_or_default(),
    )
    .await?;
    Ok(ok(view))
}

async fn delete_repo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(repo): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    repos::delete(&state, &p, repos::Kind::Repository, &percent_decode(&repo)).await?;
    Ok(ok(json!({})))
}

async fn repo_refs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(repo): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let refs = repos::list_refs(
        &state,
        &p,
        &percent_decode(&repo),
        q.one("appProject").unwrap_or_default(),
    )
    .await?;
    Ok(ok(json!({ "branches": refs.branches, "tags": refs.tags })))
}

/// A credential template as Argo CD's `RepoCreds` JSON (no secret field).
fn creds_json(view: repos::RepoView) -> Value {
    json!({ "url": view.repo, "username": view.username, "type": view.type_ })
}

async fn list_repocreds(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let items: Vec<Value> = repos::list(&state, &p, repos::Kind::RepoCreds)
        .await?
        .into_iter()
        .map(creds_json)
        .collect();
    Ok(list_body(&items, None))
}

async fn create_repocreds(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let b: RepoBody = parse_json(&body, "repository credentials")?;
    let view = repos::create(
        &state,
        &p,
        repos::Kind::RepoCreds,
        b.input(),
        q.flag("upsert", false),
    )
    .await?;
    Ok(ok(creds_json(view)))
}

async fn delete_repocreds(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(url): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    repos::delete(&state, &p, repos::Kind::RepoCreds, &percent_decode(&url)).await?;
    Ok(ok(json!({})))
}

// ----- clusters -----

async fn list_clusters(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(list_body(&clusters::list(&state, &p).await?, None))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ClusterBody {
    server: String,
    name: String,
    namespaces: Vec<String>,
    cluster_resources: bool,
    project: String,
    config: Value,
    labels: BTreeMap<String, String>,
}

async fn create_cluster(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let b: ClusterBody = parse_json(&body, "cluster")?;
    let input = clusters::ClusterInput {
        server: b.server,
        name: b.name,
        namespaces: b.namespaces,
        cluster_resources: b.cluster_resources,
        project: b.project,
        config: b.config,
        labels: b.labels,
    };
    Ok(ok(clusters::create(
        &state,
        &p,
        input,
        q.flag("upsert", false),
    )
    .await?))
}

async fn get_cluster(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(server): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(ok(
        clusters::get(&state, &p, &percent_decode(&server), "").await?
    ))
}

async fn delete_cluster(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(server): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    clusters::delete(&state, &p, &percent_decode(&server), "").await?;
    Ok(ok(json!({})))
}

// ----- applicationsets -----

async fn list_appsets(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    let selector = Selector::parse(q.one("selector").unwrap_or_default())
        .map_err(ApiError::InvalidArgument)?;
    let limit = q.one("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let page = appsets::list(
        &state,
        &p,
        &q.all("projects"),
        &selector,
        limit,
        q.one("continue"),
    )?;
    Ok(list_body(&page.items, page.continue_token))
}

async fn create_appset(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let q = Query::parse(raw);
    if q.flag("dryRun", false) {
        let (appset, _) =
            appsets::generate(&state, &p, std::str::from_utf8(&body).unwrap_or_default()).await?;
        return Ok(ok(appset));
    }
    let created = appsets::create(
        &state,
        &p,
        std::str::from_utf8(&body).unwrap_or_default(),
        q.flag("upsert", false),
    )
    .await?;
    Ok(ok(created))
}

/// Argo CD's `POST /api/v1/applicationsets/generate`: `{"applicationSet": {...}}` →
/// `{"applications": [...]}`.
async fn generate_appset(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    let request: serde_json::Value = parse_json(&body, "generate request")?;
    let appset = request
        .get("applicationSet")
        .ok_or_else(|| ApiError::InvalidArgument("the body needs applicationSet".to_owned()))?;
    let (_, apps) = appsets::generate(&state, &p, &appset.to_string()).await?;
    Ok(ok(json!({ "applications": apps })))
}

async fn get_appset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    Ok(ok(appsets::get(&state, &p, &name, "get").await?.as_ref()))
}

async fn delete_appset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = who(&state, &headers).await?;
    appsets::delete(&state, &p, &name).await?;
    Ok(ok(json!({})))
}

#[cfg(test)]
mod tests {
    use super::{Query, paged_list_body, percent_decode};

    #[tokio::test]
    async fn list_metadata_says_how_many_items_follow_a_cut_page() {
        async fn metadata(response: axum::response::Response) -> serde_json::Value {
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["metadata"].clone()
        }
        assert_eq!(
            metadata(paged_list_body(
                &[1, 2],
                Some("t".to_owned()),
                Some(998),
                None
            ))
            .await,
            serde_json::json!({ "continue": "t", "remainingItemCount": 998 })
        );
        assert_eq!(
            metadata(paged_list_body(&[1, 2], None, None, None)).await,
            serde_json::json!({})
        );
    }

    #[test]
    fn query_strings_decode_like_grpc_gateway() {
        for (input, expected) in [
            ("a%2Fb", "a/b"),
            (
                "https%3A%2F%2Fgit.example.com%2Frepo.git",
                "https://git.example.com/repo.git",
            ),
            ("a+b", "a b"),
            ("100%", "100%"),
            ("%zz", "%zz"),
            ("plain", "plain"),
        ] {
            assert_eq!(percent_decode(input), expected, "{input}");
        }
        let q = Query::parse(Some("projects=a&projects=b,c&limit=10&empty=".to_owned()));
        assert_eq!(q.all("projects"), vec!["a", "b", "c"]);
        assert_eq!(q.one("limit"), Some("10"));
        assert_eq!(q.one("empty"), None);
        assert!(q.flag("missing", true));
    }
}
