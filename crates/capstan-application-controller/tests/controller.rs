//! The controller against the real test environment: a real kube-apiserver (with
//! kube-controller-manager and the pod simulator), the repo-server over gRPC, Git over HTTP and
//! Redis.

mod support;

use std::time::Duration;

use anyhow::Context;
use capstan_types::application::{HealthStatusCode, SyncStatusCode};
use serde_json::json;

use support::{Harness, publish_examples, sync_status};

#[tokio::test]
async fn missing_then_synced_then_drift_is_seen_from_the_watch() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let repo = publish_examples(&h.env)?;
    let dest = h.env.unique_namespace("users-dev").await?;
    h.create_app(
        "users-api-dev",
        &repo,
        "overlays/dev/users-api",
        &dest.name,
        json!({}),
    )
    .await?;

    // Nothing exists yet: OutOfSync, every resource listed as missing.
    let app = h
        .wait_for(
            "users-api-dev",
            "OutOfSync with every resource missing",
            |a| sync_status(a) == Some(SyncStatusCode::OutOfSync),
        )
        .await?;
    let status = app.status.context("status")?;
    let kinds: Vec<&str> = status.resources.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    for r in &status.resources {
        assert_eq!(r.status, Some(SyncStatusCode::OutOfSync), "{}", r.name);
        assert_eq!(
            r.health.as_ref().and_then(|h| h.status.clone()),
            Some(HealthStatusCode::Missing),
            "{}",
            r.name
        );
    }
    assert_eq!(status.health.status, Some(HealthStatusCode::Missing));
    assert_eq!(status.sync.revision.len(), 40);
    assert_eq!(
        status.summary.images,
        ["myregistry.azurecr.io/users-api:dev-1"]
    );
    assert!(status.observed_generation.is_some());

    // The same manifests applied by hand, server-side: Synced, API-server defaults are not a diff.
    let desired = h
        .desired(&repo, "overlays/dev/users-api", &dest.name)
        .await?;
    let list = json!({"apiVersion": "v1", "kind": "List", "items": desired});
    h.kubectl(
        &["apply", "--server-side", "--field-manager=e2e", "-f", "-"],
        Some(&list.to_string()),
    )?;
    let app = h
        .wait_for(
            "users-api-dev",
            "Synced after kubectl apply --server-side",
            |a| sync_status(a) == Some(SyncStatusCode::Synced),
        )
        .await?;
    let status = app.status.context("status")?;
    assert!(
        status
            .resources
            .iter()
            .all(|r| r.status == Some(SyncStatusCode::Synced))
    );
    let deployment = status
        .resources
        .iter()
        .find(|r| r.kind == "Deployment")
        .context("deployment")?;
    assert_ne!(
        deployment.health.as_ref().and_then(|h| h.status.clone()),
        Some(HealthStatusCode::Missing)
    );

    // kubectl set image: OutOfSync within seconds, with no periodic reconcile configured.
    let started = std::time::Instant::now();
    h.kubectl(
        &[
            "-n",
            &dest.name,
            "set",
            "image",
            "deployment/users-api",
            "users-api=myregistry.azurecr.io/users-api:hotfix",
        ],
        None,
    )?;
    let app = h
        .wait_for("users-api-dev", "OutOfSync after kubectl set image", |a| {
            sync_status(a) == Some(SyncStatusCode::OutOfSync)
        })
        .await?;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let status = app.status.context("status")?;
    let out_of_sync: Vec<&str> = status
        .resources
        .iter()
        .filter(|r| r.status == Some(SyncStatusCode::OutOfSync))
        .map(|r| r.kind.as_str())
        .collect();
    assert_eq!(out_of_sync, ["Deployment"]);
    Ok(())
}

#[tokio::test]
async fn a_broken_repository_marks_only_its_own_app() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let broken = h.env.create_git_repo(
        &capstan_e2e::unique_name("broken"),
        &[
            ("app/kustomization.yaml", "resources:\n- cm.yaml\n"),
            (
                "app/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [unclosed\n",
            ),
        ],
    )?;
    let good = publish_examples(&h.env)?;
    let dest = h.env.unique_namespace("broken-dest").await?;
    h.create_app("broken", &broken, "app", &dest.name, json!({}))
        .await?;
    h.create_app(
        "good",
        &good,
        "overlays/prod/orders-api",
        &dest.name,
        json!({}),
    )
    .await?;

    let app = h
        .wait_for("broken", "a ComparisonError", |a| {
            a.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.condition_type == "ComparisonError")
            })
        })
        .await?;
    let status = app.status.context("status")?;
    let condition = status
        .conditions
        .iter()
        .find(|c| c.condition_type == "ComparisonError")
        .context("condition")?;
    assert!(
        condition.message.contains("cm.yaml"),
        "{}",
        condition.message
    );
    assert_eq!(status.sync.status, Some(SyncStatusCode::Unknown));

    // The other app is compared normally.
    h.wait_for("good", "the good app compared", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_restarted_controller_does_not_rewrite_unchanged_status() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let repo = publish_examples(&h.env)?;
    let dest = h.env.unique_namespace("restart").await?;
    h.create_app(
        "restart",
        &repo,
        "overlays/staging/products-api",
        &dest.name,
        json!({}),
    )
    .await?;
    let before = h
        .wait_for("restart", "a first status", |a| sync_status(a).is_some())
        .await?;
    // Let the first reconciles settle, then take the version.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = h.apps().await?.get("restart").await.unwrap_or(before);
    let version = before.metadata.resource_version.clone();

    h.stop_controller();
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.start_controller().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = h.apps().await?.get("restart").await?;
    assert_eq!(
        after.metadata.resource_version, version,
        "the status was rewritten"
    );
    assert_eq!(after.status, before.status);
    Ok(())
}

#[tokio::test]
async fn objects_of_a_kind_git_dropped_still_require_pruning_after_a_restart() -> anyhow::Result<()>
{
    let mut h = Harness::start().await?;
    let dest = h.env.unique_namespace("prune-kinds").await?;
    // Unique: objects left by an aborted earlier run must not be tracked by this app.
    let app = capstan_e2e::unique_name("prune-kinds");
    let object = |kind: &str, name: &str| {
        format!(
            "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations:\n    argocd.argoproj.io/tracking-id: {app}:/{kind}:{ns}/{name}\n    argocd.argoproj.io/installation-id: {installation}\n",
            ns = dest.name,
            installation = h.control.name
        )
    };
    let (cm, sa) = (
        object("ConfigMap", "settings"),
        object("ServiceAccount", "robot"),
    );
    let repo_name = capstan_e2e::unique_name("prune-kinds");
    let repo = h
        .env
        .create_git_repo(&repo_name, &[("app/cm.yaml", &cm), ("app/sa.yaml", &sa)])?;
    h.create_directory_app(&app, &repo, "app", &dest.name, json!({}))
        .await?;
    h.apply(&dest.name, &format!("{cm}---\n{sa}"))?;
    h.wait_for(&app, "Synced", |a| {
        sync_status(a) == Some(SyncStatusCode::Synced)
    })
    .await?;

    // Git drops the only ServiceAccount; a fresh controller has never watched that kind.
    h.stop_controller();
    h.env
        .commit_files(&repo_name, &[("app/sa.yaml", "# gone\n")], "drop the robot")?;
    h.start_controller().await?;
    h.refresh(&app, "normal").await?;
    let app = h
        .wait_for(&app, "the ServiceAccount to be pruned", |a| {
            a.status.as_ref().is_some_and(|s| {
                s.resources
                    .iter()
                    .any(|r| r.kind == "ServiceAccount" && r.requires_pruning)
            })
        })
        .await?;
    assert_eq!(sync_status(&app), Some(SyncStatusCode::OutOfSync));
    Ok(())
}

#[tokio::test]
async fn two_sharded_replicas_split_the_apps_between_them() -> anyhow::Result<()> {
    use capstan_application_controller::shard::Shard;
    let mut h = Harness::start().await?;
    h.stop_controller();
    let (stop_0, registry_0) = h.start_replica(Shard::new(2, Some(0), "")?).await?;
    let (stop_1, registry_1) = h.start_replica(Shard::new(2, Some(1), "")?).await?;
    let repo = h.env.create_git_repo(
        &capstan_e2e::unique_name("sharded"),
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )],
    )?;
    let dest = h.env.unique_namespace("sharded").await?;
    let names: Vec<String> = (0..8).map(|i| format!("sharded-{i}")).collect();
    for name in &names {
        h.create_directory_app(name, &repo, "app", &dest.name, json!({}))
            .await?;
    }
    for name in &names {
        h.wait_for(name, "compared", |a| sync_status(a).is_some())
            .await?;
    }
    // Each replica reports (argocd_app_info) exactly the apps it reconciled.
    let reported = |registry: &prometheus_client::registry::Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
        names
            .iter()
            .filter(|n| text.contains(&format!("name=\"{n}\"")))
            .cloned()
            .collect::<Vec<_>>()
    };
    let (by_0, by_1) = (reported(&registry_0), reported(&registry_1));
    assert!(!by_0.is_empty() && !by_1.is_empty(), "{by_0:?} {by_1:?}");
    assert_eq!(by_0.len() + by_1.len(), names.len(), "{by_0:?} {by_1:?}");
    assert!(by_0.iter().all(|n| !by_1.contains(n)), "{by_0:?} {by_1:?}");
    drop((stop_0, stop_1));
    Ok(())
}

/// The repo-server goes away and comes back on the same address: the app says why it cannot
/// be compared meanwhile, and the same controller, never restarted, reaches the new server.
#[tokio::test]
async fn a_lost_repo_server_is_reported_and_reached_again_when_it_returns() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let name = capstan_e2e::unique_name("repo-outage");
    let cm = |level: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outage\ndata:\n  level: {level}\n"
        )
    };
    let repo = h
        .env
        .create_git_repo(&name, &[("app/cm.yaml", &cm("info"))])?;
    let dest = h.env.unique_namespace("repo-outage").await?;
    h.create_directory_app(
        "outage",
        &repo,
        "app",
        &dest.name,
        json!({"syncPolicy": {"automated": {}}}),
    )
    .await?;
    h.wait_for("outage", "synced", |a| {
        sync_status(a) == Some(SyncStatusCode::Synced)
    })
    .await?;

    h.stop_repo_server();
    h.env
        .commit_files(&name, &[("app/cm.yaml", &cm("debug"))], "more logs")?;
    h.refresh("outage", "normal").await?;
    h.wait_for("outage", "the outage reported", |a| {
        a.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.condition_type == "ComparisonError" && c.message.contains("rpc error"))
        })
    })
    .await?;

    h.restart_repo_server().await?;
    h.refresh("outage", "normal").await?;
    h.wait_for(
        "outage",
        "synced to the new commit through the new server",
        |a| {
            sync_status(a) == Some(SyncStatusCode::Synced)
                && a.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .all(|c| c.condition_type != "ComparisonError")
                })
        },
    )
    .await?;
    let live = h.kubectl(
        &[
            "-n",
            &dest.name,
            "get",
            "configmap",
            "outage",
            "-o",
            "jsonpath={.data.level}",
        ],
        None,
    )?;
    assert_eq!(live.trim(), "debug");
    Ok(())
}
