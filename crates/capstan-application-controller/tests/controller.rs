//! The controller against the real test environment: a real kube-apiserver (with
//! kube-controller-manager and the pod simulator), the repo-server over gRPC, Git over HTTP and
//! Redis.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_application_controller::ControllerConfig;
use capstan_e2e::{TestEnv, TestNamespace, eventually, install_crds};
use capstan_proto::common::v1::KubeObject;
use capstan_proto::repo::v1 as pb;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_repo_server::{RepoServerConfig, ServeOptions};
use capstan_types::Application;
use capstan_types::application::{HealthStatusCode, SyncStatusCode};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A repo-server and a controller in this process, managing Applications in their own
/// control-plane namespace.
struct Harness {
    env: TestEnv,
    control: TestNamespace,
    repo_server_url: String,
    _data: tempfile::TempDir,
    _repo_server_stop: oneshot::Sender<()>,
    controller_stop: Option<oneshot::Sender<()>>,
}

impl Harness {
    async fn start() -> anyhow::Result<Self> {
        let env = TestEnv::from_env()?;
        let client = env.kube_client().await?;
        install_crds(&client).await?;
        let control = env.unique_namespace("control").await?;
        Api::<Secret>::namespaced(client.clone(), &control.name)
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": "git-creds", "labels": {"argocd.argoproj.io/secret-type": "repo-creds"}},
                    "stringData": {"url": format!("{}/", env.git_http_url()), "username": env.git_http_user(), "password": env.git_http_password()}
                }))?,
            )
            .await?;
        // Periodic reconciles off: everything below must be driven by watches.
        Api::<ConfigMap>::namespaced(client.clone(), &control.name)
            .create(
                &PostParams::default(),
                &ConfigMap {
                    metadata: ObjectMeta {
                        name: Some("argocd-cm".into()),
                        ..ObjectMeta::default()
                    },
                    data: Some(BTreeMap::from([(
                        "timeout.reconciliation".into(),
                        "0".into(),
                    )])),
                    ..ConfigMap::default()
                },
            )
            .await?;

        let data = tempfile::tempdir()?;
        let mut config = RepoServerConfig::new(data.path(), env.kubectl(), env.helm());
        config.redis_url = Some(env.redis_url().to_owned());
        config.secrets_namespace = Some(control.name.clone());
        config.fetch_interval = Duration::from_millis(200);
        config.revision_cache_ttl = Duration::from_millis(200);
        let mut registry = prometheus_client::registry::Registry::default();
        let service =
            capstan_repo_server::build_service(&config, Some(client), &mut registry).await?;
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let repo_server_url = format!("http://{}", grpc.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(capstan_repo_server::serve_service(
            service,
            registry,
            ServeOptions { grpc, admin },
            async {
                let _ = stopped.await;
            },
        ));
        let mut harness = Self {
            env,
            control,
            repo_server_url,
            _data: data,
            _repo_server_stop: stop,
            controller_stop: None,
        };
        harness.start_controller().await?;
        Ok(harness)
    }

    async fn start_controller(&mut self) -> anyhow::Result<()> {
        let (stop, stopped) = oneshot::channel::<()>();
        let mut registry = prometheus_client::registry::Registry::default();
        let controller = capstan_application_controller::run(
            ControllerConfig {
                namespace: self.control.name.clone(),
                repo_server: self.repo_server_url.clone(),
            },
            self.env.kube_client().await?,
            &mut registry,
            async {
                let _ = stopped.await;
            },
        )
        .await?;
        tokio::spawn(controller);
        self.controller_stop = Some(stop);
        Ok(())
    }

    fn stop_controller(&mut self) {
        if let Some(stop) = self.controller_stop.take() {
            let _ = stop.send(());
        }
    }

    async fn apps(&self) -> anyhow::Result<Api<Application>> {
        Ok(Api::namespaced(
            self.env.kube_client().await?,
            &self.control.name,
        ))
    }

    /// Creates an Application for `path` of `repo`, deploying into `destination`.
    async fn create_app(
        &self,
        name: &str,
        repo: &str,
        path: &str,
        destination: &str,
        extra: Value,
    ) -> anyhow::Result<()> {
        let mut app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": self.control.name},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo, "path": path, "targetRevision": "main", "kustomize": {"namespace": destination}},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
            }
        });
        merge(&mut app["spec"], extra);
        let app: Application = serde_json::from_value(app)?;
        self.apps()
            .await?
            .create(&PostParams::default(), &app)
            .await?;
        Ok(())
    }

    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Application) -> bool,
    ) -> anyhow::Result<Application> {
        let apps = self.apps().await?;
        eventually(Duration::from_secs(60), what, || {
            let apps = apps.clone();
            let check = &check;
            async move {
                let app = apps.get(name).await?;
                Ok(check(&app).then_some(app))
            }
        })
        .await
    }

    /// The manifests the repo-server renders for the app, as the controller sees them.
    async fn desired(
        &self,
        repo: &str,
        path: &str,
        destination: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut client = RepoServerServiceClient::connect(self.repo_server_url.clone()).await?;
        let response = client
            .generate_manifest(pb::ManifestRequest {
                repo: Some(pb::RepoRef { url: repo.to_owned(), ..Default::default() }),
                revision: "main".into(),
                namespace: destination.into(),
                application_source: Some(KubeObject {
                    json: json!({"repoURL": repo, "path": path, "kustomize": {"namespace": destination}}).to_string(),
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        response
            .manifests
            .iter()
            .map(|m| Ok(serde_json::from_str(m)?))
            .collect()
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        use std::io::Write;
        let mut child = Command::new(self.env.kubectl())
            .env("KUBECONFIG", self.env.kubeconfig())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    }
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        for (k, v) in e {
            t.insert(k, v);
        }
    }
}

fn sync_status(app: &Application) -> Option<SyncStatusCode> {
    app.status.as_ref()?.sync.status.clone()
}

fn publish_examples(env: &TestEnv) -> anyhow::Result<String> {
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/k8s-manifests");
    env.create_git_repo_from_dir(&capstan_e2e::unique_name("k8s-manifests"), &examples)
}

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
