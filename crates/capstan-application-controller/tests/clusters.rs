//! Destination clusters from Argo CD cluster Secrets, against the real test environment: the
//! Secret's own URL and credentials are used (here: the test API server under another name).

mod support;

use std::collections::BTreeMap;

use capstan_types::application::SyncStatusCode;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serde_json::json;
use support::{Harness, sync_status};

fn condition(app: &capstan_types::Application, kind: &str) -> Option<String> {
    app.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.condition_type == kind)
        .map(|c| c.message.clone())
}

#[tokio::test]
async fn cluster_secrets_are_destinations() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let repo = h.env.create_git_repo(
        &capstan_e2e::unique_name("remote"),
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote-settings\ndata:\n  level: debug\n",
        )],
    )?;
    let dest = h.env.unique_namespace("remote-dest").await?;
    h.create_directory_app(
        "remote",
        &repo,
        "app",
        &dest.name,
        json!({"destination": {"server": "", "name": "second", "namespace": dest.name}}),
    )
    .await?;
    h.create_directory_app(
        "ambiguous",
        &repo,
        "app",
        &dest.name,
        json!({"destination": {"name": "second", "server": "https://kubernetes.default.svc", "namespace": dest.name}}),
    )
    .await?;

    // No such cluster yet: the app says so, by name, and waits.
    h.wait_for("remote", "no cluster named second", |a| {
        condition(a, "InvalidSpecError")
            .is_some_and(|m| m.contains("there are no clusters with this name: second"))
    })
    .await?;
    h.wait_for("ambiguous", "both name and server", |a| {
        condition(a, "InvalidSpecError").is_some_and(|m| m.contains("both name and server"))
    })
    .await?;

    // The cluster appears: the app is compared against it, without any change to the app.
    let client = h.env.kube_client().await?;
    let secrets: Api<Secret> = Api::namespaced(client, &h.control.name);
    let secret = |config: String| Secret {
        metadata: ObjectMeta {
            name: Some("cluster-second".into()),
            labels: Some(BTreeMap::from([(
                "argocd.argoproj.io/secret-type".to_owned(),
                "cluster".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([
            ("name".to_owned(), "second".to_owned()),
            ("server".to_owned(), h.env.apiserver_url().to_owned()),
            ("config".to_owned(), config),
        ])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &secret("{not json".into()))
        .await?;
    h.wait_for("remote", "the broken secret named", |a| {
        condition(a, "InvalidSpecError")
            .is_some_and(|m| m.contains("cluster secret cluster-second: config: invalid JSON"))
    })
    .await?;
    // Valid, but its identity may not list anything: that cluster's own credentials are used.
    let admin_config = h.env.cluster_secret_config()?;
    let viewer = h.env.viewer_token().expect("viewer token");
    let admin = h.env.admin_token().expect("admin token");
    let mut as_viewer = secret(admin_config.replace(admin, viewer));
    as_viewer.metadata.resource_version = secrets
        .get("cluster-second")
        .await?
        .metadata
        .resource_version;
    secrets
        .replace("cluster-second", &PostParams::default(), &as_viewer)
        .await?;
    h.wait_for("remote", "the viewer's rights refused", |a| {
        condition(a, "ComparisonError").is_some_and(|m| m.contains("\"viewer\" cannot list"))
    })
    .await?;
    let mut fixed = secret(admin_config);
    fixed.metadata.resource_version = secrets
        .get("cluster-second")
        .await?
        .metadata
        .resource_version;
    secrets
        .replace("cluster-second", &PostParams::default(), &fixed)
        .await?;
    let app = h
        .wait_for("remote", "compared against the second cluster", |a| {
            sync_status(a) == Some(SyncStatusCode::OutOfSync)
                && condition(a, "InvalidSpecError").is_none()
        })
        .await?;
    let resources = &app.status.as_ref().expect("status").resources;
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(resources[0].name, "remote-settings");

    // Live changes on that cluster are watched through its own client.
    h.apply(
        &dest.name,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote-settings\ndata:\n  level: debug\n",
    )?;
    h.wait_for("remote", "Synced on the second cluster", |a| {
        sync_status(a) == Some(SyncStatusCode::Synced)
    })
    .await?;

    // The Secret goes: so does the destination.
    secrets
        .delete("cluster-second", &DeleteParams::default())
        .await?;
    h.wait_for("remote", "the cluster gone", |a| {
        condition(a, "InvalidSpecError")
            .is_some_and(|m| m.contains("there are no clusters with this name: second"))
    })
    .await?;
    Ok(())
}
