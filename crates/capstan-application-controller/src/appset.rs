//! The ApplicationSet controller (Argo CD's applicationset-controller, here a second
//! kube-runtime controller in the same binary): for each ApplicationSet of the control
//! namespace, fetch what its generators read (cluster Secrets; a repository's directories and
//! files from the repo-server), generate and render the Applications (`capstan-appset`), and
//! create, update and delete the Applications it owns as `syncPolicy.applicationsSync` allows.
//! A generation error changes no Application: it is reported in the ApplicationSet's
//! conditions (`ErrorOccurred`, `ParametersGenerated`, `ResourcesUpToDate`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_types::application_set::ApplicationsSyncPolicy;
use capstan_types::{Application, ApplicationSet};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

/// The field manager of what this controller writes.
pub const FIELD_MANAGER: &str = "capstan-applicationset-controller";
/// How often git-based ApplicationSets are regenerated when they do not say
/// (`requeueAfterSeconds`; Argo CD's default).
pub const DEFAULT_REQUEUE: Duration = Duration::from_secs(180);
/// Set by the api-server's webhook on a push to a repository a git generator reads.
const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/application-set-refresh";
/// The finalizer that makes deleting an Application delete its resources.
const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

struct Ctx {
    client: Client,
    namespace: String,
    repo: RepoServerServiceClient<capstan_proto::endpoints::Balanced>,
}

/// Why a reconcile failed (requeued with back-off).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Kubernetes refused or was unreachable.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Runs the ApplicationSet controller for `namespace` until `shutdown` completes.
pub fn run(
    client: Client,
    namespace: String,
    repo: RepoServerServiceClient<capstan_proto::endpoints::Balanced>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let appsets: Api<ApplicationSet> = Api::namespaced(client.clone(), &namespace);
    let ctx = Arc::new(Ctx {
        client,
        namespace,
        repo,
    });
    Controller::new(appsets, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("applicationset reconcile: {e}");
            }
        })
}

fn error_policy(appset: Arc<ApplicationSet>, error: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!("ApplicationSet {}: {error}; retrying", appset.name_any());
    Action::requeue(Duration::from_secs(10))
}

async fn reconcile(appset: Arc<ApplicationSet>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if appset.meta().deletion_timestamp.is_some() {
        // Owned Applications go with it (owner references); with
        // preserveResourcesOnDeletion their resources stay (finalizers removed first).
        if preserve_resources(&appset) {
            for app in owned(&ctx, &appset).await? {
                drop_finalizer(&ctx, &app.name_any()).await?;
            }
        }
        return Ok(Action::await_change());
    }
    let requeue = requeue_after(&appset);
    let generated = match capstan_kube::appset::sources(
        &ctx.client,
        &ctx.namespace,
        &ctx.repo,
        &appset,
    )
    .await
    {
        Ok(sources) => capstan_appset::generate(&appset.spec, &sources)
            .map_err(|e| e.to_string())
            .and_then(|params| {
                capstan_appset::applications(&appset, &params).map_err(|e| e.to_string())
            }),
        Err(e) => Err(e),
    };
    let desired = match generated {
        Ok(apps) => apps,
        Err(message) => {
            tracing::info!("ApplicationSet {}: {message}", appset.name_any());
            write_status(&ctx, &appset, Err(&message), 0).await?;
            return Ok(Action::requeue(requeue));
        }
    };
    let result = apply(&ctx, &appset, &desired).await;
    take_refresh_annotation(&ctx, &appset).await?;
    write_status(
        &ctx,
        &appset,
        result.as_ref().map(|_| ()).map_err(String::as_str),
        desired.len(),
    )
    .await?;
    Ok(Action::requeue(requeue))
}

fn preserve_resources(appset: &ApplicationSet) -> bool {
    appset
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.preserve_resources_on_deletion)
        .unwrap_or(false)
}

fn policy(appset: &ApplicationSet) -> ApplicationsSyncPolicy {
    appset
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.applications_sync.clone())
        .unwrap_or(ApplicationsSyncPolicy::Sync)
}

/// The shortest `requeueAfterSeconds` of its git generators, else [`DEFAULT_REQUEUE`].
fn requeue_after(appset: &ApplicationSet) -> Duration {
    let value = serde_json::to_value(&appset.spec.generators).unwrap_or_default();
    let mut shortest: Option<i64> = None;
    fn walk(v: &serde_json::Value, shortest: &mut Option<i64>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(n) = map.get("requeueAfterSeconds").and_then(|n| n.as_i64()) {
                    *shortest = Some(shortest.map_or(n, |s| s.min(n)));
                }
                map.values().for_each(|v| walk(v, shortest));
            }
            serde_json::Value::Array(list) => list.iter().for_each(|v| walk(v, shortest)),
            _ => {}
        }
    }
    walk(&value, &mut shortest);
    shortest
        .filter(|s| *s > 0)
        .map_or(DEFAULT_REQUEUE, |s| Duration::from_secs(s.unsigned_abs()))
}

/// The Applications this ApplicationSet owns (by owner reference UID).
async fn owned(ctx: &Ctx, appset: &ApplicationSet) -> Result<Vec<Application>, Error> {
    let uid = appset.uid().unwrap_or_default();
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    Ok(apps
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|a| a.owner_references().iter().any(|o| o.uid == uid))
        .collect())
}

async fn drop_finalizer(ctx: &Ctx, name: &str) -> Result<(), Error> {
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let Some(app) = apps.get_opt(name).await? else {
        return Ok(());
    };
    let kept: Vec<String> = app
        .finalizers()
        .iter()
        .filter(|f| f.as_str() != RESOURCES_FINALIZER)
        .cloned()
        .collect();
    if kept.len() != app.finalizers().len() {
        apps.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": kept}})),
        )
        .await?;
    }
    Ok(())
}

/// Whether this ApplicationSet (`uid`) may manage the existing Application `current` of a
/// generated name: yes when it owns it, or when no controller owns it (it adopts it, as Argo
/// CD's controller does — an Application restored from a backup, or created by hand before
/// the set); no when another controller (another ApplicationSet) owns it.
pub fn claim(current: &Application, uid: &str) -> Result<(), String> {
    let owners = current.owner_references();
    if owners.iter().any(|o| o.uid == uid) {
        return Ok(());
    }
    match owners.iter().find(|o| o.controller == Some(true)) {
        None => Ok(()),
        Some(other) => Err(format!(
            "the Application {:?} exists and belongs to {} {:?}, not to this ApplicationSet",
            current.name_any(),
            other.kind,
            other.name
        )),
    }
}

/// Creates, updates and deletes owned Applications as the policy allows. Refuses (without
/// touching anything) when a generated name belongs to an Application another controller
/// owns; adopts one no controller owns.
async fn apply(ctx: &Ctx, appset: &ApplicationSet, desired: &[Application]) -> Result<(), String> {
    let policy = policy(appset);
    let (may_update, may_delete) = match policy {
        ApplicationsSyncPolicy::CreateOnly => (false, false),
        ApplicationsSyncPolicy::CreateUpdate => (true, false),
        ApplicationsSyncPolicy::CreateDelete => (false, true),
        _ => (true, true),
    };
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let uid = appset.uid().unwrap_or_default();
    let existing: BTreeMap<String, Application> = apps
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing Applications: {e}"))?
        .into_iter()
        .map(|a| (a.name_any(), a))
        .collect();
    for app in desired {
        if let Some(current) = existing.get(&app.name_any()) {
            claim(current, &uid)?;
        }
    }
    let owner = OwnerReference {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "ApplicationSet".into(),
        name: appset.name_any(),
        uid: uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for app in desired {
        let name = app.name_any();
        if existing.contains_key(&name) && !may_update {
            continue;
        }
        let mut body = serde_json::to_value(app).map_err(|e| e.to_string())?;
        if let Some(current) = existing.get(&name) {
            let live = serde_json::to_value(current).map_err(|e| e.to_string())?;
            capstan_appset::keep_live_fields(
                &mut body,
                &live,
                &name,
                &appset.spec.ignore_application_differences,
                appset.spec.preserved_fields.as_ref(),
            )
            .map_err(|e| e.to_string())?;
        }
        body["metadata"]["ownerReferences"] = json!([owner]);
        apps.patch(&name, &params, &Patch::Apply(&body))
            .await
            .map_err(|e| format!("applying Application {name:?}: {e}"))?;
    }
    if may_delete {
        let wanted: std::collections::BTreeSet<String> =
            desired.iter().map(ResourceExt::name_any).collect();
        for (name, app) in &existing {
            let ours = app.owner_references().iter().any(|o| o.uid == uid);
            if ours && !wanted.contains(name) {
                if preserve_resources(appset) {
                    drop_finalizer(ctx, name).await.map_err(|e| e.to_string())?;
                }
                apps.delete(name, &DeleteParams::default())
                    .await
                    .map_err(|e| format!("deleting Application {name:?}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// The webhook's request to regenerate now, answered: taken off (this reconcile regenerated).
async fn take_refresh_annotation(ctx: &Ctx, appset: &ApplicationSet) -> Result<(), Error> {
    if !appset.annotations().contains_key(REFRESH_ANNOTATION) {
        return Ok(());
    }
    let api: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    api.patch(
        &appset.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {REFRESH_ANNOTATION: null}}})),
    )
    .await?;
    Ok(())
}

/// Writes the conditions Argo CD writes, changing `lastTransitionTime` only on a change.
async fn write_status(
    ctx: &Ctx,
    appset: &ApplicationSet,
    outcome: Result<(), &str>,
    count: usize,
) -> Result<(), Error> {
    let now = jiff::Timestamp::now().to_string();
    let previous = appset
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let condition = |kind: &str, status: bool, reason: &str, message: &str| {
        let status = if status { "True" } else { "False" };
        let since = previous
            .iter()
            .find(|c| {
                c.condition_type == kind
                    && c.status
                        .as_ref()
                        .map(|s| serde_json::to_value(s).unwrap_or_default())
                        == Some(json!(status))
            })
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or_else(|| json!(now));
        json!({"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
    };
    let conditions = match outcome {
        Ok(()) => vec![
            condition(
                "ErrorOccurred",
                false,
                "ApplicationSetUpToDate",
                "Successfully generated parameters for all Applications",
            ),
            condition(
                "ParametersGenerated",
                true,
                "ParametersGenerated",
                "Successfully generated parameters for all Applications",
            ),
            condition(
                "ResourcesUpToDate",
                true,
                "ApplicationSetUpToDate",
                "All applications have been generated successfully",
            ),
        ],
        Err(message) => vec![
            condition(
                "ErrorOccurred",
                true,
                "ApplicationGenerationFromParamsError",
                message,
            ),
            condition("ParametersGenerated", false, "ErrorOccurred", message),
            condition("ResourcesUpToDate", false, "ErrorOccurred", message),
        ],
    };
    let patch = json!({"status": {"conditions": conditions, "resourcesCount": count}});
    let api: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    api.patch_status(
        &appset.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::claim;
    use capstan_types::Application;
    use serde_json::json;

    #[test]
    fn a_set_manages_its_own_apps_adopts_ownerless_ones_and_leaves_others_alone() {
        let app = |owners: serde_json::Value| -> Application {
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "web-dev", "ownerReferences": owners},
                "spec": {"project": "default", "destination": {}},
            }))
            .expect("app")
        };
        let owner = |uid: &str, name: &str, controller: bool| {
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                   "name": name, "uid": uid, "controller": controller})
        };
        let cases = [
            (
                "owned by this set",
                app(json!([owner("me", "web", true)])),
                true,
            ),
            (
                "no owner: adopted (restored from a backup)",
                app(json!([])),
                true,
            ),
            (
                "a non-controller owner only",
                app(json!([owner("x", "other", false)])),
                true,
            ),
            (
                "another set controls it",
                app(json!([owner("x", "other", true)])),
                false,
            ),
        ];
        for (what, current, ok) in cases {
            let got = claim(&current, "me");
            assert_eq!(got.is_ok(), ok, "{what}: {got:?}");
        }
        let err = claim(&app(json!([owner("x", "other", true)])), "me").unwrap_err();
        assert!(err.contains("belongs to ApplicationSet \"other\""), "{err}");
    }
}
