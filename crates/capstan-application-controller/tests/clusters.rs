//! Destination clusters from Argo CD cluster Secrets, against the real test environment: the
//! Secret's own URL and credentials are used (here: the test API server under another name).
//! A Secret with `namespaces` confines the controller to them, as Argo CD's namespace-scoped
//! clusters: it works with credentials that reach nothing else.

mod support;

use std::collections::BTreeMap;

use capstan_types::application::SyncStatusCode;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
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

/// A cluster Secret with `namespaces: <allowed>` and the token of a ServiceAccount whose only
/// rights are a Role in `allowed`: the controller lists and watches there alone, syncs an app
/// into it, and refuses — with Argo CD's messages — an app deploying elsewhere and an app with a
/// cluster-scoped object. Without `namespaces` the same credentials cannot even start watching.
#[tokio::test]
async fn a_namespace_scoped_cluster_is_watched_and_managed_only_in_its_namespaces()
-> anyhow::Result<()> {
    let h = Harness::start().await?;
    let admin = h.env.kube_client().await?;
    let allowed = h.env.unique_namespace("scoped-in").await?;
    let outside = h.env.unique_namespace("scoped-out").await?;
    let repo = h.env.create_git_repo(
        &capstan_e2e::unique_name("scoped"),
        &[
            (
                "app/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scoped-settings\ndata:\n  level: info\n",
            ),
            (
                "cluster/role.yaml",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: scoped-reader\nrules: []\n",
            ),
        ],
    )?;

    // The identity: every verb in `allowed`, nothing anywhere else.
    let account = "scoped-deployer";
    Api::<ServiceAccount>::namespaced(admin.clone(), &h.control.name)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": account}}))?,
        )
        .await?;
    Api::<Role>::namespaced(admin.clone(), &allowed.name)
        .create(
            &PostParams::default(),
            &Role {
                metadata: ObjectMeta {
                    name: Some(account.into()),
                    ..ObjectMeta::default()
                },
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec!["*".into()]),
                    resources: Some(vec!["*".into()]),
                    verbs: vec!["*".into()],
                    ..PolicyRule::default()
                }]),
            },
        )
        .await?;
    Api::<RoleBinding>::namespaced(admin.clone(), &allowed.name)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: ObjectMeta {
                    name: Some(account.into()),
                    ..ObjectMeta::default()
                },
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: account.into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: account.into(),
                    namespace: Some(h.control.name.clone()),
                    ..Subject::default()
                }]),
            },
        )
        .await?;
    let token = capstan_e2e::service_account_token(&admin, &h.control.name, account).await?;
    let config = h
        .env
        .cluster_secret_config()?
        .replace(h.env.admin_token().expect("admin token"), &token);

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &h.control.name);
    let cluster_secret = |namespaces: Option<&str>| {
        let mut data = BTreeMap::from([
            ("name".to_owned(), "scoped".to_owned()),
            ("server".to_owned(), h.env.apiserver_url().to_owned()),
            ("config".to_owned(), config.clone()),
        ]);
        if let Some(namespaces) = namespaces {
            data.insert("namespaces".into(), namespaces.into());
        }
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "cluster-scoped",
                "labels": {"argocd.argoproj.io/secret-type": "cluster"},
            },
            "stringData": data,
        })
    };
    let apply = PatchParams::apply("e2e").force();
    secrets
        .patch(
            "cluster-scoped",
            &apply,
            &Patch::Apply(cluster_secret(Some(&format!(" {}, ", allowed.name)))),
        )
        .await?;

    let to = |namespace: &str| json!({"destination": {"server": "", "name": "scoped", "namespace": namespace}});
    let mut inside = to(&allowed.name);
    inside["syncPolicy"] = json!({"automated": {"prune": true}});
    h.create_directory_app("inside", &repo, "app", &allowed.name, inside)
        .await?;
    h.create_directory_app("outside", &repo, "app", &outside.name, to(&outside.name))
        .await?;
    h.create_directory_app(
        "cluster-level",
        &repo,
        "cluster",
        &allowed.name,
        to(&allowed.name),
    )
    .await?;

    h.wait_for("inside", "synced into its allowed namespace", |a| {
        sync_status(a) == Some(SyncStatusCode::Synced) && condition(a, "ComparisonError").is_none()
    })
    .await?;
    let settings: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(admin.clone(), &allowed.name);
    assert_eq!(
        settings
            .get("scoped-settings")
            .await?
            .data
            .unwrap_or_default()["level"],
        "info"
    );
    let not_managed = format!(
        "Failed to load live state: Namespace \"{}\" for ConfigMap \"scoped-settings\" is not managed",
        outside.name
    );
    h.wait_for("outside", "refused: namespace not managed", |a| {
        condition(a, "ComparisonError").is_some_and(|m| m == not_managed)
    })
    .await?;
    h.wait_for("cluster-level", "refused: cluster-scoped", |a| {
        condition(a, "ComparisonError").is_some_and(|m| {
            m == "Failed to load live state: Cluster level ClusterRole \"scoped-reader\" can not be managed when in namespaced mode"
        })
    })
    .await?;

    // Watched: an edit in the allowed namespace is seen without a refresh.
    h.kubectl(
        &[
            "-n",
            &allowed.name,
            "patch",
            "configmap",
            "scoped-settings",
            "--type=merge",
            "-p",
            r#"{"data":{"level":"debug"}}"#,
        ],
        None,
    )?;
    // Periodic reconciles are off: only the namespace's watch can tell the controller.
    h.wait_for(
        "inside",
        "the edit noticed through the namespace's watch",
        |a| sync_status(a) == Some(SyncStatusCode::OutOfSync),
    )
    .await?;

    // The same credentials without `namespaces`: a cluster-wide list, which they may not do.
    // (Replaced, not applied: keys dropped from an applied `stringData` stay in `data`.)
    let mut whole_cluster = cluster_secret(None);
    whole_cluster["metadata"]["resourceVersion"] = json!(
        secrets
            .get("cluster-scoped")
            .await?
            .metadata
            .resource_version
    );
    secrets
        .replace(
            "cluster-scoped",
            &PostParams::default(),
            &serde_json::from_value(whole_cluster)?,
        )
        .await?;
    h.refresh("inside", "normal").await?;
    h.wait_for("inside", "cluster-wide watches forbidden", |a| {
        condition(a, "ComparisonError").is_some_and(|m| {
            m.contains(&format!(
                "system:serviceaccount:{}:{account}",
                h.control.name
            )) && m.contains("at the cluster scope")
        })
    })
    .await?;
    Ok(())
}
