//! Sync operations end to end against the real test environment: manual syncs with history,
//! automated sync with prune and self-heal, waves and hooks, project rules.

mod support;

use std::time::Duration;

use anyhow::Context as _;
use capstan_types::Application;
use capstan_types::application::{HealthStatusCode, OperationPhase, SyncStatusCode};
use serde_json::json;
use support::{Harness, publish_examples, sync_status};

fn phase(app: &Application) -> Option<OperationPhase> {
    app.status.as_ref()?.operation_state.as_ref()?.phase.clone()
}

fn op_message(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .map(|s| s.message.clone())
        .unwrap_or_default()
}

fn deployment_image(h: &Harness, namespace: &str, name: &str) -> anyhow::Result<String> {
    h.kubectl(
        &[
            "-n",
            namespace,
            "get",
            "deployment",
            name,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        None,
    )
}

#[tokio::test]
async fn a_manual_sync_applies_waits_for_health_and_records_history() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let repo = publish_examples(&h.env)?;
    let dest = h.env.unique_namespace("manual-sync").await?;
    h.create_app(
        "users-api-prod",
        &repo,
        "overlays/prod/users-api",
        &dest.name,
        json!({}),
    )
    .await?;
    h.wait_for("users-api-prod", "OutOfSync before any sync", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;

    h.request_sync("users-api-prod", json!({"prune": true}))
        .await?;
    let app = h
        // The final state is written with the status, the request cleared right after.
        .wait_for(
            "users-api-prod",
            "the sync to succeed, its request cleared",
            |a| phase(a) == Some(OperationPhase::Succeeded) && a.operation.is_none(),
        )
        .await?;
    let state = app
        .status
        .as_ref()
        .and_then(|s| s.operation_state.clone())
        .context("operation state")?;
    let result = state.sync_result.context("sync result")?;
    assert_eq!(result.revision.len(), 40);
    assert!(
        result
            .resources
            .iter()
            .all(|r| r.status == Some(capstan_types::application::ResultCode::Synced)),
        "{:?}",
        result.resources
    );
    assert_eq!(result.resources.len(), 5, "{:?}", result.resources);
    assert!(state.finished_at.is_some());
    let app = h
        .wait_for("users-api-prod", "Synced, the Deployment Healthy", |a| {
            sync_status(a) == Some(SyncStatusCode::Synced)
                && a.status.as_ref().is_some_and(|s| {
                    s.resources.iter().any(|r| {
                        r.kind == "Deployment"
                            && r.health.as_ref().and_then(|h| h.status.clone())
                                == Some(HealthStatusCode::Healthy)
                    })
                })
        })
        .await?;
    let history = &app.status.as_ref().context("status")?.history;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, 0);
    assert_eq!(history[0].revision, result.revision);
    assert_eq!(
        deployment_image(&h, &dest.name, "users-api")?,
        "myregistry.azurecr.io/users-api:1.3.2"
    );
    Ok(())
}

#[tokio::test]
async fn automated_sync_follows_git_prunes_and_self_heals() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let name = capstan_e2e::unique_name("auto");
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
        )
    };
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n";
    let repo = h.env.create_git_repo(
        &name,
        &[
            ("app/web.yaml", &deployment("nginx:1.0")),
            ("app/extra.yaml", cm),
        ],
    )?;
    let dest = h.env.unique_namespace("auto").await?;
    h.create_directory_app(
        &name,
        &repo,
        "app",
        &dest.name,
        json!({"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}),
    )
    .await?;
    h.wait_for(&name, "synced automatically", |a| {
        sync_status(a) == Some(SyncStatusCode::Synced)
            && phase(a) == Some(OperationPhase::Succeeded)
    })
    .await?;
    assert_eq!(deployment_image(&h, &dest.name, "web")?, "nginx:1.0");
    let configmaps = h.kubectl(
        &["-n", &dest.name, "get", "configmap", "extra", "-o", "name"],
        None,
    )?;
    assert_eq!(configmaps.trim(), "configmap/extra");

    // A commit is followed without anyone asking; the ConfigMap Git dropped is pruned.
    h.env.commit_files(
        &name,
        &[
            ("app/web.yaml", &deployment("nginx:2.0")),
            ("app/extra.yaml", "# gone\n"),
        ],
        "bump",
    )?;
    h.refresh(&name, "normal").await?;
    capstan_e2e::eventually(Duration::from_secs(60), "the new image applied", || async {
        Ok((deployment_image(&h, &dest.name, "web")? == "nginx:2.0").then_some(()))
    })
    .await?;
    h.wait_for(&name, "the ConfigMap pruned", |a| {
        a.status.as_ref().is_some_and(|s| {
            s.operation_state.as_ref().is_some_and(|o| {
                o.sync_result.as_ref().is_some_and(|r| {
                    r.resources.iter().any(|r| {
                        r.name == "extra"
                            && r.status == Some(capstan_types::application::ResultCode::Pruned)
                    })
                })
            })
        })
    })
    .await?;
    // Foreground deletion: gone once the garbage collector has run.
    capstan_e2e::eventually(Duration::from_secs(30), "the ConfigMap gone", || async {
        let out = h.kubectl(
            &[
                "-n",
                &dest.name,
                "get",
                "configmap",
                "extra",
                "--ignore-not-found",
                "-o",
                "name",
            ],
            None,
        )?;
        Ok(out.trim().is_empty().then_some(()))
    })
    .await?;

    // kubectl set image: self-heal puts Git's image back.
    h.kubectl(
        &[
            "-n",
            &dest.name,
            "set",
            "image",
            "deployment/web",
            "web=nginx:hotfix",
        ],
        None,
    )?;
    capstan_e2e::eventually(Duration::from_secs(60), "the edit reverted", || async {
        Ok((deployment_image(&h, &dest.name, "web")? == "nginx:2.0").then_some(()))
    })
    .await?;
    let app = h
        .wait_for(&name, "Synced again", |a| {
            sync_status(a) == Some(SyncStatusCode::Synced)
        })
        .await?;
    assert!(app.status.as_ref().context("status")?.history.len() >= 3);
    Ok(())
}

#[tokio::test]
async fn project_rules_fail_the_sync_naming_the_rule() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let repo = h.env.create_git_repo(
        &capstan_e2e::unique_name("rules"),
        &[
            ("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"),
            (
                "cluster/role.yaml",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: capstan-e2e-rules-reader\nrules: []\n",
            ),
        ],
    )?;
    let dest = h.env.unique_namespace("rules").await?;
    h.apply(
        &h.control.name,
        &format!(
            r#"apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: other-repos
spec:
  sourceRepos: ['https://example.com/only/*']
  destinations: [{{server: '*', namespace: '*'}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: elsewhere
spec:
  sourceRepos: ['*']
  destinations: [{{server: '*', namespace: 'team-*'}}, {{server: '*', namespace: '!{ns}'}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: namespaced-only
spec:
  sourceRepos: ['*']
  destinations: [{{server: '*', namespace: '*'}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: frozen
spec:
  sourceRepos: ['*']
  destinations: [{{server: '*', namespace: '*'}}]
  clusterResourceWhitelist: [{{group: '*', kind: '*'}}]
  syncWindows:
  - kind: deny
    schedule: '* * * * *'
    duration: 1h
    applications: ['*']
    manualSync: false
"#,
            ns = dest.name
        ),
    )?;
    let cases = [
        (
            "bad-repo",
            "other-repos",
            "app",
            "is not permitted in project 'other-repos'",
        ),
        (
            "bad-dest",
            "elsewhere",
            "app",
            "do not match any of the allowed destinations in project 'elsewhere'",
        ),
        (
            "bad-kind",
            "namespaced-only",
            "cluster",
            "ClusterRole is not in the project's cluster resource allow list",
        ),
    ];
    for (name, project, path, _) in cases {
        h.create_directory_app(name, &repo, path, &dest.name, json!({"project": project}))
            .await?;
        h.wait_for(name, "compared", |a| sync_status(a).is_some())
            .await?;
        h.request_sync(name, json!({})).await?;
    }
    for (name, _, _, rule) in cases {
        let app = h
            .wait_for(name, "the sync refused", |a| {
                phase(a) == Some(OperationPhase::Failed)
            })
            .await?;
        assert!(
            op_message(&app).contains(rule),
            "{name}: {}",
            op_message(&app)
        );
        let conditions = &app.status.as_ref().context("status")?.conditions;
        assert!(
            conditions
                .iter()
                .any(|c| c.condition_type == "SyncError" && c.message.contains(rule)),
            "{name}: {conditions:?}"
        );
    }
    // Nothing was applied by the refused syncs.
    let role = h.kubectl(
        &[
            "get",
            "clusterrole",
            "capstan-e2e-rules-reader",
            "--ignore-not-found",
            "-o",
            "name",
        ],
        None,
    )?;
    assert!(role.trim().is_empty(), "{role}");

    // A deny window: manual syncs wait (manualSync: false), automated sync does not start.
    h.create_directory_app(
        "frozen-manual",
        &repo,
        "app",
        &dest.name,
        json!({"project": "frozen"}),
    )
    .await?;
    h.create_directory_app(
        "frozen-auto",
        &repo,
        "app",
        &dest.name,
        json!({"project": "frozen", "syncPolicy": {"automated": {"prune": true}}}),
    )
    .await?;
    h.wait_for("frozen-manual", "compared", |a| sync_status(a).is_some())
        .await?;
    h.request_sync("frozen-manual", json!({})).await?;
    let app = h
        .wait_for("frozen-manual", "blocked by the window", |a| {
            op_message(a).contains("blocked by sync window")
        })
        .await?;
    assert_eq!(phase(&app), Some(OperationPhase::Running));
    h.holds(
        "frozen-auto",
        "no automated sync",
        Duration::from_secs(3),
        |a| {
            a.operation.is_none()
                && a.status
                    .as_ref()
                    .is_some_and(|s| s.operation_state.is_none())
        },
    )
    .await?;
    let cm = h.kubectl(
        &[
            "-n",
            &dest.name,
            "get",
            "configmap",
            "c",
            "--ignore-not-found",
            "-o",
            "name",
        ],
        None,
    )?;
    assert!(cm.trim().is_empty(), "{cm}");
    Ok(())
}

#[tokio::test]
async fn create_namespace_creates_the_destination_with_its_metadata() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let repo = h.env.create_git_repo(
        &capstan_e2e::unique_name("create-ns"),
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )],
    )?;
    let namespace = capstan_e2e::unique_name("created");
    let name = capstan_e2e::unique_name("create-ns");
    h.create_directory_app(
        &name,
        &repo,
        "app",
        &namespace,
        json!({"syncPolicy": {
            "syncOptions": ["CreateNamespace=true"],
            "managedNamespaceMetadata": {"labels": {"team": "payments"}},
        }}),
    )
    .await?;
    h.wait_for(&name, "compared", |a| sync_status(a).is_some())
        .await?;
    h.request_sync(&name, json!({})).await?;
    let result = h
        .wait_for(&name, "synced", |a| {
            phase(a).is_some_and(|p| p.is_completed())
        })
        .await;
    let label = h.kubectl(
        &[
            "get",
            "namespace",
            &namespace,
            "-o",
            "jsonpath={.metadata.labels.team}",
        ],
        None,
    );
    let _ = h.kubectl(&["delete", "namespace", &namespace, "--wait=false"], None);
    let app = result?;
    assert_eq!(
        phase(&app),
        Some(OperationPhase::Succeeded),
        "{}",
        op_message(&app)
    );
    assert_eq!(label?, "payments");
    Ok(())
}

#[tokio::test]
async fn without_self_heal_or_prune_drift_and_extras_are_only_reported() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let name = capstan_e2e::unique_name("report");
    let cm = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: {value}\n"
        )
    };
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n";
    let repo = h.env.create_git_repo(
        &name,
        &[("app/cm.yaml", &cm("info")), ("app/extra.yaml", extra)],
    )?;
    let dest = h.env.unique_namespace("report").await?;
    h.create_directory_app(
        &name,
        &repo,
        "app",
        &dest.name,
        json!({"syncPolicy": {"automated": {}}}),
    )
    .await?;
    h.wait_for(&name, "synced automatically", |a| {
        sync_status(a) == Some(SyncStatusCode::Synced)
            && phase(a) == Some(OperationPhase::Succeeded)
    })
    .await?;

    // A hand edit is reported, not reverted (no selfHeal).
    h.kubectl(
        &[
            "-n",
            &dest.name,
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            r#"{"data":{"level":"debug"}}"#,
        ],
        None,
    )?;
    h.wait_for(&name, "OutOfSync after the edit", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;
    h.holds(
        &name,
        "the edit stays reported",
        Duration::from_secs(8),
        |a| sync_status(a) == Some(SyncStatusCode::OutOfSync),
    )
    .await?;
    let level = h.kubectl(
        &[
            "-n",
            &dest.name,
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.level}",
        ],
        None,
    )?;
    assert_eq!(level, "debug", "not reverted without selfHeal");

    // A manifest removed from Git (with a new revision to sync) is reported as requiring
    // pruning, and kept (no prune).
    h.env.commit_files(
        &name,
        &[("app/extra.yaml", "# gone\n"), ("app/cm.yaml", &cm("warn"))],
        "drop extra",
    )?;
    h.refresh(&name, "normal").await?;
    let app = h
        .wait_for(&name, "the new revision synced", |a| {
            a.status.as_ref().is_some_and(|s| s.history.len() == 2)
                && phase(a) == Some(OperationPhase::Succeeded)
        })
        .await?;
    let resources = &app.status.as_ref().context("status")?.resources;
    assert!(
        resources
            .iter()
            .any(|r| r.name == "extra" && r.requires_pruning),
        "{resources:?}"
    );
    let kept = h.kubectl(
        &["-n", &dest.name, "get", "configmap", "extra", "-o", "name"],
        None,
    )?;
    assert_eq!(kept.trim(), "configmap/extra");
    Ok(())
}

#[tokio::test]
async fn fail_on_shared_resource_refuses_to_take_another_apps_object() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let repo = h.env.create_git_repo(
        &capstan_e2e::unique_name("shared"),
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n",
        )],
    )?;
    let dest = h.env.unique_namespace("shared").await?;
    let (first, second) = (
        capstan_e2e::unique_name("owner"),
        capstan_e2e::unique_name("taker"),
    );
    h.create_directory_app(&first, &repo, "app", &dest.name, json!({}))
        .await?;
    h.create_directory_app(
        &second,
        &repo,
        "app",
        &dest.name,
        json!({"syncPolicy": {"syncOptions": ["FailOnSharedResource=true"]}}),
    )
    .await?;
    h.wait_for(&first, "compared", |a| sync_status(a).is_some())
        .await?;
    h.request_sync(&first, json!({})).await?;
    h.wait_for(&first, "the owner synced", |a| {
        phase(a) == Some(OperationPhase::Succeeded)
    })
    .await?;
    h.request_sync(&second, json!({})).await?;
    let app = h
        .wait_for(&second, "the taker refused", |a| {
            phase(a) == Some(OperationPhase::Failed)
        })
        .await?;
    assert!(
        op_message(&app).contains(&format!(
            "ConfigMap/shared is part of applications {second} and {first}"
        )),
        "{}",
        op_message(&app)
    );
    Ok(())
}

#[tokio::test]
async fn respect_ignore_differences_keeps_live_values_when_syncing() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let name = capstan_e2e::unique_name("respect");
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
        )
    };
    let repo = h
        .env
        .create_git_repo(&name, &[("app/web.yaml", &deployment("nginx:1.0"))])?;
    let dest = h.env.unique_namespace("respect").await?;
    h.create_directory_app(
        &name,
        &repo,
        "app",
        &dest.name,
        json!({
            "syncPolicy": {"automated": {"selfHeal": true}, "syncOptions": ["RespectIgnoreDifferences=true"]},
            "ignoreDifferences": [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}],
        }),
    )
    .await?;
    h.wait_for(&name, "synced", |a| {
        phase(a) == Some(OperationPhase::Succeeded)
    })
    .await?;
    // Scaled by hand (an HPA would do the same): ignored, so still Synced.
    h.kubectl(
        &["-n", &dest.name, "scale", "deployment/web", "--replicas=3"],
        None,
    )?;
    // A new image in Git is synced — and the live replica count survives the sync.
    h.env
        .commit_files(&name, &[("app/web.yaml", &deployment("nginx:2.0"))], "bump")?;
    h.refresh(&name, "normal").await?;
    capstan_e2e::eventually(Duration::from_secs(60), "the new image applied", || async {
        Ok((deployment_image(&h, &dest.name, "web")? == "nginx:2.0").then_some(()))
    })
    .await?;
    let replicas = h.kubectl(
        &[
            "-n",
            &dest.name,
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        None,
    )?;
    assert_eq!(replicas, "3");
    Ok(())
}
