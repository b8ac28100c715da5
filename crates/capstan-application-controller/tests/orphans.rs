//! Orphaned resources monitoring (AppProject `orphanedResources`), against the real test
//! environment: watch-driven, with Argo CD's exceptions, the project's ignore list and its
//! denied kinds.

mod support;

use capstan_types::application::SyncStatusCode;
use serde_json::json;
use support::{Harness, sync_status};

fn orphan_warning(app: &capstan_types::Application) -> Option<String> {
    app.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.condition_type == "OrphanedResourceWarning")
        .map(|c| c.message.clone())
}

#[tokio::test]
async fn hand_made_objects_in_the_namespace_are_orphans() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let dest = h.env.unique_namespace("orphans").await?;
    h.apply(
        &h.control.name,
        r#"apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: monitored
spec:
  sourceRepos: ['*']
  destinations: [{server: '*', namespace: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
  namespaceResourceBlacklist: [{group: '', kind: ResourceQuota}]
  orphanedResources:
    warn: true
    ignore: [{kind: Secret, name: 'scratch-*'}]
"#,
    )?;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: managed\ndata:\n  a: b\n";
    let repo = h
        .env
        .create_git_repo(&capstan_e2e::unique_name("orphans"), &[("app/cm.yaml", cm)])?;
    h.create_directory_app(
        "watched",
        &repo,
        "app",
        &dest.name,
        json!({"project": "monitored"}),
    )
    .await?;
    h.apply(&dest.name, cm)?;
    // The namespace's own default ServiceAccount, its token and kube-root-ca.crt are no orphans.
    h.wait_for("watched", "Synced without orphans", |a| {
        sync_status(a) == Some(SyncStatusCode::Synced) && orphan_warning(a).is_none()
    })
    .await?;
    h.holds(
        "watched",
        "no orphan warning",
        std::time::Duration::from_secs(2),
        |a| orphan_warning(a).is_none(),
    )
    .await?;

    // Objects nobody manages: a ConfigMap is an orphan; the ignored Secret and the kind the
    // project denies are not. Periodic reconciles are off: the watch must notice.
    h.kubectl(
        &["-n", &dest.name, "create", "configmap", "hand-made"],
        None,
    )?;
    h.kubectl(
        &["-n", &dest.name, "create", "secret", "generic", "scratch-1"],
        None,
    )?;
    h.kubectl(
        &[
            "-n",
            &dest.name,
            "create",
            "quota",
            "limits",
            "--hard=pods=10",
        ],
        None,
    )?;
    h.wait_for("watched", "one orphan", |a| {
        orphan_warning(a).as_deref() == Some("Application has 1 orphaned resources")
    })
    .await?;
    // A Service is an orphan; its Endpoints (which carry no ownerReference) belong to it.
    h.kubectl(
        &[
            "-n",
            &dest.name,
            "create",
            "service",
            "clusterip",
            "stray",
            "--tcp=80",
        ],
        None,
    )?;
    h.wait_for("watched", "two orphans", |a| {
        orphan_warning(a).as_deref() == Some("Application has 2 orphaned resources")
    })
    .await?;

    // Cleaned up: the warning goes.
    h.kubectl(
        &[
            "-n",
            &dest.name,
            "delete",
            "configmap/hand-made",
            "service/stray",
        ],
        None,
    )?;
    h.wait_for("watched", "no orphans left", |a| {
        orphan_warning(a).is_none()
    })
    .await?;
    Ok(())
}
