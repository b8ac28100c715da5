//! The test harness shared by the controller's integration tests: a repo-server and a controller
//! in the test process, against the real test environment (`e2e/testenv-up.sh`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_application_controller::ControllerConfig;
use capstan_application_controller::shard::Shard;
use capstan_e2e::{TestEnv, TestNamespace, eventually, install_crds};
use capstan_proto::common::v1::KubeObject;
use capstan_proto::repo::v1 as pb;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_repo_server::{RepoServerConfig, ServeOptions};
use capstan_types::Application;
use capstan_types::application::{HealthStatusCode, SyncStatusCode};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A repo-server and a controller in this process, managing Applications in their own
/// control-plane namespace.
pub struct Harness {
    pub env: TestEnv,
    pub control: TestNamespace,
    repo_server_url: String,
    repo_server_config: RepoServerConfig,
    _data: tempfile::TempDir,
    repo_server_stop: Option<oneshot::Sender<()>>,
    controller_stop: Option<oneshot::Sender<()>>,
    /// The cache the controller publishes resource trees to (none unless set before
    /// [`Harness::start_controller`]).
    pub cache: Option<capstan_cache::Cache>,
}

impl Drop for Harness {
    /// Apps keep their resources finalizer: with no controller left to honour it, the control
    /// namespace would never finish deleting. Drop the finalizers first (best effort).
    fn drop(&mut self) {
        self.stop_controller();
        if std::env::var_os("CAPSTAN_E2E_KEEP_NAMESPACES").is_some() {
            return;
        }
        let names = self
            .kubectl(
                &[
                    "-n",
                    &self.control.name,
                    "get",
                    "applications",
                    "-o",
                    "name",
                ],
                None,
            )
            .unwrap_or_default();
        for name in names.lines().filter(|l| !l.is_empty()) {
            let _ = self.kubectl(
                &[
                    "-n",
                    &self.control.name,
                    "patch",
                    name,
                    "--type=merge",
                    "-p",
                    r#"{"metadata":{"finalizers":null}}"#,
                ],
                None,
            );
        }
    }
}

impl Harness {
    /// Starts with an `argocd-cm` holding only `timeout.reconciliation: "0"`.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_cm(BTreeMap::new()).await
    }

    /// Starts with an `argocd-cm` holding `cm` and `timeout.reconciliation: "0"` (which `cm`
    /// cannot override: periodic reconciles stay off, so everything must be driven by watches).
    pub async fn start_with_cm(cm: BTreeMap<String, String>) -> anyhow::Result<Self> {
        Self::start_with(cm, None).await
    }

    /// Like [`Harness::start_with_cm`], with the controller publishing resource trees to `cache`.
    pub async fn start_with(
        cm: BTreeMap<String, String>,
        cache: Option<capstan_cache::Cache>,
    ) -> anyhow::Result<Self> {
        // CAPSTAN_TEST_LOG=<filter> shows the components' logs in the test output.
        if let Ok(filter) = std::env::var("CAPSTAN_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let mut cm_data = cm;
        cm_data.insert("timeout.reconciliation".into(), "0".into());
        // Every harness is its own installation on the shared test cluster: without an id, apps
        // of the same name in two harnesses (or runs) would claim — and prune — each other's
        // objects, exactly as two Argo CD instances would.

        let env = TestEnv::from_env()?;
        let client = env.kube_client().await?;
        install_crds(&client).await?;
        let control = env.unique_namespace("control").await?;
        cm_data
            .entry("installationID".into())
            .or_insert_with(|| control.name.clone());
        env.create_git_creds_secret(&control.name).await?;
        // Periodic reconciles off: everything below must be driven by watches.
        Api::<ConfigMap>::namespaced(client.clone(), &control.name)
            .create(
                &PostParams::default(),
                &ConfigMap {
                    metadata: ObjectMeta {
                        name: Some("argocd-cm".into()),
                        ..ObjectMeta::default()
                    },
                    data: Some(cm_data),
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
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let repo_server_url = format!("http://{}", grpc.local_addr()?);
        let stop = serve_repo_server(&config, client, grpc).await?;
        let mut harness = Self {
            env,
            control,
            repo_server_url,
            repo_server_config: config,
            _data: data,
            repo_server_stop: Some(stop),
            controller_stop: None,
            cache,
        };
        harness.start_controller().await?;
        Ok(harness)
    }

    /// Stops the repo-server (its port closes).
    pub fn stop_repo_server(&mut self) {
        if let Some(stop) = self.repo_server_stop.take() {
            let _ = stop.send(());
        }
    }

    /// Starts the repo-server again on the port it had, with a fresh process state.
    pub async fn restart_repo_server(&mut self) -> anyhow::Result<()> {
        let addr = self
            .repo_server_url
            .trim_start_matches("http://")
            .to_owned();
        // The old server lets go of the port once its connections are closed.
        let grpc = eventually(Duration::from_secs(10), "the repo-server port free", || {
            let addr = addr.clone();
            async move { Ok(tokio::net::TcpListener::bind(&addr).await.ok()) }
        })
        .await?;
        let client = self.env.kube_client().await?;
        self.repo_server_stop =
            Some(serve_repo_server(&self.repo_server_config, client, grpc).await?);
        Ok(())
    }

    pub async fn start_controller(&mut self) -> anyhow::Result<()> {
        let (stop, _registry) = self.start_replica(Shard::default()).await?;
        self.controller_stop = Some(stop);
        Ok(())
    }

    /// Starts one more controller processing `shard` of the apps; it runs until the returned
    /// sender is dropped or sent to. Its metrics are in the returned registry.
    pub async fn start_replica(
        &self,
        shard: Shard,
    ) -> anyhow::Result<(oneshot::Sender<()>, prometheus_client::registry::Registry)> {
        let (stop, stopped) = oneshot::channel::<()>();
        let mut registry = prometheus_client::registry::Registry::default();
        let controller = capstan_application_controller::run(
            ControllerConfig {
                namespace: self.control.name.clone(),
                repo_server: self.repo_server_url.clone(),
                cache: self.cache.clone(),
                shard,
                sync_timeout: Duration::from_secs(60),
                applicationsets: true,
            },
            self.env.kube_client().await?,
            &mut registry,
            async {
                let _ = stopped.await;
            },
        )
        .await?;
        tokio::spawn(controller);
        Ok((stop, registry))
    }

    pub fn stop_controller(&mut self) {
        if let Some(stop) = self.controller_stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn apps(&self) -> anyhow::Result<Api<Application>> {
        Ok(Api::namespaced(
            self.env.kube_client().await?,
            &self.control.name,
        ))
    }

    /// Creates an Application for `path` of `repo`, deploying into `destination`.
    pub async fn create_app(
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

    /// Creates an Application for the plain directory `path` of `repo` (no `kustomize` block, so
    /// the repo-server detects a directory source), deploying into `destination`.
    pub async fn create_directory_app(
        &self,
        name: &str,
        repo: &str,
        path: &str,
        destination: &str,
        extra: Value,
    ) -> anyhow::Result<()> {
        let mut spec = json!({
            "source": {"repoURL": repo, "path": path, "targetRevision": "main"},
        });
        merge(&mut spec, extra);
        self.create_app(name, repo, path, destination, spec).await
    }

    /// Fails as soon as `check` is false during `duration` (polled every 200 ms): the negative
    /// counterpart of [`wait_for`](Self::wait_for), for "stays Synced".
    pub async fn holds(
        &self,
        name: &str,
        what: &str,
        duration: Duration,
        check: impl Fn(&Application) -> bool,
    ) -> anyhow::Result<()> {
        let apps = self.apps().await?;
        let deadline = tokio::time::Instant::now() + duration;
        while tokio::time::Instant::now() < deadline {
            let app = apps.get(name).await?;
            if !check(&app) {
                bail!(
                    "{what} no longer holds: {}",
                    serde_json::to_string(&app.status)?
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// `kubectl apply --server-side` of `yaml` into `namespace` (field manager `e2e`).
    pub fn apply(&self, namespace: &str, yaml: &str) -> anyhow::Result<String> {
        self.kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=e2e",
                "-n",
                namespace,
                "-f",
                "-",
            ],
            Some(yaml),
        )
    }

    /// Waits up to 60 s until the app satisfies `check`.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Application) -> bool,
    ) -> anyhow::Result<Application> {
        self.wait_for_within(name, what, Duration::from_secs(60), check)
            .await
    }

    /// Waits up to `timeout` until the app satisfies `check`.
    pub async fn wait_for_within(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Application) -> bool,
    ) -> anyhow::Result<Application> {
        let apps = self.apps().await?;
        let waited = eventually(timeout, what, || {
            let apps = apps.clone();
            let check = &check;
            async move {
                let app = apps.get(name).await?;
                Ok(check(&app).then_some(app))
            }
        })
        .await;
        match waited {
            Ok(app) => Ok(app),
            // Say what the app looked like instead: the difference is the diagnosis.
            Err(e) => {
                let status = apps.get(name).await.map(|a| a.status);
                Err(e.context(format!(
                    "last status of {name}: {}",
                    serde_json::to_string(&status.ok()).unwrap_or_default()
                )))
            }
        }
    }

    /// Requests a sync the way the api-server does: by writing `operation` (`sync` is the
    /// operation's `sync` object).
    pub async fn request_sync(&self, name: &str, sync: Value) -> anyhow::Result<()> {
        let patch = json!({"operation": {"sync": sync, "initiatedBy": {"username": "e2e"}}});
        self.apps()
            .await?
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            )
            .await?;
        Ok(())
    }

    /// Sets the `argocd.argoproj.io/refresh` annotation (`normal` or `hard`) on the app.
    pub async fn refresh(&self, name: &str, mode: &str) -> anyhow::Result<()> {
        let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": mode}}});
        self.apps()
            .await?
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            )
            .await?;
        Ok(())
    }

    /// The manifests the repo-server renders for the app, as the controller sees them.
    pub async fn desired(
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

    /// The kubectl executable.
    pub fn kubectl_path(&self) -> std::path::PathBuf {
        self.env.kubectl().to_path_buf()
    }

    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
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

/// Serves a repo-server built from `config` on `grpc` (admin endpoints on a free port) until
/// the returned sender fires or is dropped.
async fn serve_repo_server(
    config: &RepoServerConfig,
    client: kube::Client,
    grpc: tokio::net::TcpListener,
) -> anyhow::Result<oneshot::Sender<()>> {
    let mut registry = prometheus_client::registry::Registry::default();
    let service = capstan_repo_server::build_service(config, Some(client), &mut registry).await?;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(capstan_repo_server::serve_service(
        service,
        registry,
        ServeOptions { grpc, admin },
        async {
            let _ = stopped.await;
        },
    ));
    Ok(stop)
}

pub fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        for (k, v) in e {
            t.insert(k, v);
        }
    }
}

pub fn sync_status(app: &Application) -> Option<SyncStatusCode> {
    app.status.as_ref()?.sync.status.clone()
}

pub fn publish_examples(env: &TestEnv) -> anyhow::Result<String> {
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/k8s-manifests");
    env.create_git_repo_from_dir(&capstan_e2e::unique_name("k8s-manifests"), &examples)
}

pub fn health_status(app: &Application) -> Option<HealthStatusCode> {
    app.status.as_ref()?.health.status.clone()
}

/// The health message of the app.
pub fn health_message(app: &Application) -> String {
    app.status
        .as_ref()
        .map(|s| s.health.message.clone())
        .unwrap_or_default()
}

/// A cluster-scoped object made by a test (no namespace deletes it): deleted on drop, best
/// effort, not waited for.
pub struct ClusterObject {
    env: TestEnv,
    resource: String,
}

impl ClusterObject {
    /// Deletes `resource` (`kind/name`) when dropped.
    pub fn new(env: &TestEnv, resource: impl Into<String>) -> Self {
        Self {
            env: env.clone(),
            resource: resource.into(),
        }
    }
}

impl Drop for ClusterObject {
    fn drop(&mut self) {
        let _ = Command::new(self.env.kubectl())
            .env("KUBECONFIG", self.env.kubeconfig())
            .args([
                "delete",
                "--ignore-not-found",
                "--wait=false",
                &self.resource,
            ])
            .output();
    }
}
