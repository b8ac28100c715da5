//! The seed guide's flow end to end: the App of Apps creates the project and the child apps;
//! dev follows Git by itself (auto-sync, prune, self-heal), prod waits for a manual sync, and
//! history allows a rollback. Deleting the root app cascades (resources finalizer).

mod support;

use std::time::Duration;

use anyhow::Context as _;
use capstan_e2e::publish_seed_examples;
use capstan_types::Application;
use capstan_types::application::{HealthStatusCode, OperationPhase, SyncStatusCode};
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use support::{Harness, health_status, sync_status};

fn phase(app: &Application) -> Option<OperationPhase> {
    app.status.as_ref()?.operation_state.as_ref()?.phase.clone()
}

fn image(h: &Harness, namespace: &str) -> anyhow::Result<String> {
    h.kubectl(
        &[
            "-n",
            namespace,
            "get",
            "deployment",
            "users-api",
            "--ignore-not-found",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        None,
    )
}

#[tokio::test]
async fn app_of_apps_dev_follows_git_prod_waits_and_rolls_back() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let prefix = capstan_e2e::unique_name("s");
    let seed = publish_seed_examples(&h.env, &h.control.name, &prefix)?;
    let (repo, files) = (seed.name, seed.files);
    let file = |path: &str| {
        files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.clone())
            .context(path.to_owned())
    };
    let dev_ns = format!("{prefix}-users-api-dev");
    let prod_ns = format!("{prefix}-users-api-prod");
    let (dev, prod) = (dev_ns.clone(), prod_ns.clone());
    let _cleanup = NamespacesOnDrop(
        h.kubectl_path(),
        h.env.kubeconfig().to_owned(),
        vec![
            dev_ns.clone(),
            prod_ns.clone(),
            format!("{prefix}-users-api-staging"),
            format!("{prefix}-orders-api-dev"),
            format!("{prefix}-orders-api-staging"),
            format!("{prefix}-orders-api-prod"),
            format!("{prefix}-products-api-dev"),
            format!("{prefix}-products-api-staging"),
            format!("{prefix}-products-api-prod"),
        ],
    );

    // The root app, applied as the guide says.
    let root: Application = serde_yaml_ng::from_str(&file("argocd/root-app.yaml")?)?;
    h.apps()
        .await?
        .create(&PostParams::default(), &root)
        .await?;
    h.wait_for("root-app", "the root app synced", |a| {
        phase(a) == Some(OperationPhase::Succeeded)
            && sync_status(a) == Some(SyncStatusCode::Synced)
    })
    .await?;

    // Dev: synced by itself, in a namespace it created.
    h.wait_for_within(&dev, "dev synced by itself", Duration::from_secs(90), |a| {
        sync_status(a) == Some(SyncStatusCode::Synced)
            && phase(a) == Some(OperationPhase::Succeeded)
    })
    .await?;
    assert_eq!(image(&h, &dev_ns)?, "myregistry.azurecr.io/users-api:dev-1");
    // Prod: manual, so OutOfSync and untouched.
    h.wait_for(&prod, "prod OutOfSync", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;
    assert_eq!(image(&h, &prod_ns)?, "");
    // A prod child waiting for its manual sync is Missing, which does not make the root app
    // Missing (Argo CD's rule for child Applications): it is as healthy as its other children.
    let root = h
        .wait_for(
            "root-app",
            "the root app healthy despite Missing children",
            |a| health_status(a) == Some(HealthStatusCode::Healthy),
        )
        .await?;
    let missing_children = root
        .status
        .iter()
        .flat_map(|s| &s.resources)
        .filter(|r| {
            r.kind == "Application"
                && r.health.as_ref().and_then(|h| h.status.clone())
                    == Some(HealthStatusCode::Missing)
        })
        .count();
    assert!(
        missing_children > 0,
        "prod children are Missing: {:?}",
        root.status
    );

    // A commit bumping the dev image is applied without anyone asking.
    let dev_kustomization = file("overlays/dev/users-api/kustomization.yaml")?;
    h.env.commit_files(
        &repo,
        &[(
            "overlays/dev/users-api/kustomization.yaml",
            &dev_kustomization.replace("newTag: dev-1", "newTag: dev-2"),
        )],
        "dev: users-api dev-2",
    )?;
    h.refresh(&dev, "normal").await?;
    capstan_e2e::eventually(Duration::from_secs(60), "dev-2 deployed", || async {
        Ok((image(&h, &dev_ns)? == "myregistry.azurecr.io/users-api:dev-2").then_some(()))
    })
    .await?;

    // Prod: a manual sync, then a new release and another, then a rollback to the first.
    h.request_sync(&prod, json!({})).await?;
    h.wait_for(&prod, "prod synced by hand", |a| {
        phase(a) == Some(OperationPhase::Succeeded) && a.operation.is_none()
    })
    .await?;
    assert_eq!(
        image(&h, &prod_ns)?,
        "myregistry.azurecr.io/users-api:1.3.2"
    );
    let prod_kustomization = file("overlays/prod/users-api/kustomization.yaml")?;
    h.env.commit_files(
        &repo,
        &[(
            "overlays/prod/users-api/kustomization.yaml",
            &prod_kustomization.replace("newTag: 1.3.2", "newTag: 1.4.0"),
        )],
        "prod: users-api 1.4.0",
    )?;
    h.refresh(&prod, "normal").await?;
    h.wait_for(&prod, "prod OutOfSync with the new release", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;
    assert_eq!(
        image(&h, &prod_ns)?,
        "myregistry.azurecr.io/users-api:1.3.2",
        "prod waits"
    );
    h.request_sync(&prod, json!({})).await?;
    let app = h
        .wait_for(&prod, "the second prod sync", |a| {
            a.status.as_ref().is_some_and(|s| s.history.len() == 2) && a.operation.is_none()
        })
        .await?;
    assert_eq!(
        image(&h, &prod_ns)?,
        "myregistry.azurecr.io/users-api:1.4.0"
    );
    let history = app.status.context("status")?.history;
    assert_ne!(
        history[0].revision, history[1].revision,
        "both revisions in history"
    );

    // Rollback to history id 0, as `argocd app rollback` asks for it.
    let first = &history[0];
    h.request_sync(
        &prod,
        json!({"revision": first.revision, "source": first.source}),
    )
    .await?;
    h.wait_for(&prod, "the rollback", |a| {
        a.status.as_ref().is_some_and(|s| s.history.len() == 3) && a.operation.is_none()
    })
    .await?;
    assert_eq!(
        image(&h, &prod_ns)?,
        "myregistry.azurecr.io/users-api:1.3.2"
    );

    // Deleting the root app cascades: child apps go, and with them their resources.
    h.apps()
        .await?
        .delete("root-app", &DeleteParams::foreground())
        .await?;
    capstan_e2e::eventually(Duration::from_secs(90), "everything deleted", || async {
        let apps = h.apps().await?.list(&Default::default()).await?;
        let deployment = image(&h, &dev_ns)?;
        Ok((apps.items.is_empty() && deployment.is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}

/// Deletes the listed namespaces when dropped (they are created by the apps, not the test).
struct NamespacesOnDrop(std::path::PathBuf, String, Vec<String>);

impl Drop for NamespacesOnDrop {
    fn drop(&mut self) {
        if std::env::var_os("CAPSTAN_E2E_KEEP_NAMESPACES").is_some() {
            return;
        }
        let _ = std::process::Command::new(&self.0)
            .env("KUBECONFIG", &self.1)
            .args(["delete", "namespace", "--wait=false", "--ignore-not-found"])
            .args(&self.2)
            .output();
    }
}
