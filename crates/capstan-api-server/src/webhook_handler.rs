//! `POST /api/webhook`: a Git provider's push event refreshes exactly the Applications whose
//! repository, revision and (with `argocd.argoproj.io/manifest-generate-paths`) paths it
//! touches, so that a push to a monorepo does not refresh every app of it. The provider's
//! shared secret or signature authenticates the call; no user token is involved. ApplicationSets
//! whose git generators read the pushed repository and branch are asked to regenerate
//! (Argo CD's `argocd.argoproj.io/application-set-refresh` annotation).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use capstan_types::{Application, ApplicationSet};
use kube::ResourceExt;
use serde_json::json;

use crate::apps;
use crate::state::ApiState;
use crate::webhook::{
    self, AppSourceRef, MANIFEST_GENERATE_PATHS_ANNOTATION, PushEvent, WebhookOutcome,
};

/// The Applications a push event refreshes.
pub fn apps_to_refresh<'a>(
    event: &PushEvent,
    apps: impl IntoIterator<Item = &'a Arc<Application>>,
) -> Vec<String> {
    apps.into_iter()
        .filter(|app| {
            let paths = app
                .annotations()
                .get(MANIFEST_GENERATE_PATHS_ANNOTATION)
                .map(String::as_str);
            app.spec.effective_sources().iter().any(|source| {
                webhook::source_matches(
                    event,
                    &AppSourceRef {
                        repo_url: &source.repo_url,
                        target_revision: &source.target_revision,
                        path: &source.path,
                    },
                ) && webhook::app_files_changed(paths, &source.path, event.changed_files.as_deref())
            })
        })
        .map(|app| app.name_any())
        .collect()
}

/// The annotation asking the ApplicationSet controller to regenerate now.
pub const APPSET_REFRESH_ANNOTATION: &str = "argocd.argoproj.io/application-set-refresh";

/// The ApplicationSets a push event should regenerate: those with a git generator on the
/// pushed repository and revision (any path: a directory generator sees every directory).
pub fn appsets_to_refresh<'a>(
    event: &PushEvent,
    appsets: impl IntoIterator<Item = &'a Arc<ApplicationSet>>,
) -> Vec<String> {
    appsets
        .into_iter()
        .filter(|set| {
            capstan_appset::generate::needs(&set.spec)
                .iter()
                .any(|(repo_url, revision, _)| {
                    webhook::source_matches(
                        event,
                        &AppSourceRef {
                            repo_url,
                            target_revision: revision,
                            path: "",
                        },
                    )
                })
        })
        .map(|set| set.name_any())
        .collect()
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({ "error": message, "message": message })),
    )
        .into_response()
}

/// The handler.
pub async fn receive(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let settings = state.settings();
    let limit = webhook::parse_max_payload_size(
        settings
            .cm
            .raw
            .get(webhook::MAX_PAYLOAD_SIZE_KEY)
            .map(String::as_str),
    );
    if let Err(e) = webhook::check_payload_size(body.len(), limit) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string());
    }
    let event = match webhook::parse(&headers, &body, &settings.webhook) {
        Ok(WebhookOutcome::Push(event)) => event,
        Ok(WebhookOutcome::Ignored { provider, event }) => {
            tracing::debug!("ignored {provider} webhook event {event}");
            return StatusCode::OK.into_response();
        }
        Err(e) if e.is_verification_failure() => {
            tracing::warn!("rejected webhook: {e}");
            return error(StatusCode::UNAUTHORIZED, format!("Webhook rejected: {e}"));
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Webhook processing failed: {e}"),
            );
        }
    };
    let targets = apps_to_refresh(&event, state.apps.list().iter());
    tracing::info!(
        provider = %event.provider,
        revision = %event.revision,
        apps = targets.len(),
        "push event: refreshing {targets:?}"
    );
    for name in targets {
        if let Err(e) = apps::request_refresh(&state, &name, "normal").await {
            tracing::warn!("webhook refresh of {name}: {e}");
        }
    }
    let sets: kube::Api<ApplicationSet> =
        kube::Api::namespaced(state.client.clone(), &state.namespace);
    for name in appsets_to_refresh(&event, state.appsets.list().iter()) {
        let patch = json!({"metadata": {"annotations": {APPSET_REFRESH_ANNOTATION: "true"}}});
        if let Err(e) = sets
            .patch(
                &name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
        {
            tracing::warn!("webhook refresh of ApplicationSet {name}: {e}");
        }
    }
    StatusCode::OK.into_response()
}
