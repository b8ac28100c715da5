//! The full Capstan stack for end-to-end tests: a repo-server, an application controller and
//! an API server in the test process, talking over real gRPC/HTTP sockets to each other, to
//! the real kube-apiserver, Redis and Git server of the test environment
//! (`e2e/testenv-up.sh`). Callers reach the API server as users do: gRPC, `curl`, the
//! `capstan` binary.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_application_controller::ControllerConfig;
use capstan_application_controller::shard::Shard;
use capstan_e2e::{SeedRepo, TestEnv, TestNamespace, install_crds, oidc};
use capstan_repo_server::{RepoServerConfig, ServeOptions};
use capstan_tokens::{Claims, KeySet};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::Value;
use tokio::sync::oneshot;

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// `argocd-cm` data (besides the harness's `installationID` and reconciliation timeout).
    pub cm: BTreeMap<String, String>,
    /// `argocd-rbac-cm` data; none → no ConfigMap.
    pub rbac: Option<BTreeMap<String, String>>,
    /// `argocd-secret` data; none → no Secret.
    pub secret: Option<BTreeMap<String, String>>,
    /// Run without a controller (the API alone, e.g. to see the annotations it writes).
    pub no_controller: bool,
    /// Also run the auth-gateway in front of the API server.
    pub gateway: bool,
    /// The web dashboard's build output (`web/dist`) for the API server to serve
    /// (`--static-assets`); none → the dashboard's paths answer 404.
    pub static_assets: Option<PathBuf>,
}

/// A running auth-gateway.
pub struct Gateway {
    /// The public address (the front door).
    pub addr: SocketAddr,
    /// The internal AuthService address.
    pub grpc_addr: SocketAddr,
    pub state: std::sync::Arc<capstan_auth_gateway::Gateway>,
}

impl Gateway {
    /// The front door's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client of the internal AuthService.
    pub async fn auth(
        &self,
    ) -> anyhow::Result<
        capstan_proto::auth::v1::auth_service_client::AuthServiceClient<tonic::transport::Channel>,
    > {
        Ok(
            capstan_proto::auth::v1::auth_service_client::AuthServiceClient::new(
                tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc_addr))?
                    .connect()
                    .await?,
            ),
        )
    }
}

/// A running stack in its own control-plane namespace.
pub struct Stack {
    pub env: TestEnv,
    pub control: TestNamespace,
    /// `host:port` of the API server (gRPC and REST).
    pub api_addr: SocketAddr,
    pub api: std::sync::Arc<capstan_api_server::state::ApiState>,
    /// The auth-gateway, when started: (public address, internal gRPC address, state).
    pub gateway: Option<Gateway>,
    /// The API server's (and its cache's) metrics.
    registry: prometheus_client::registry::Registry,
    _data: tempfile::TempDir,
    _stops: Vec<oneshot::Sender<()>>,
}

impl Drop for Stack {
    /// Apps keep their resources finalizer: with the controller gone the control namespace
    /// would never finish deleting. Drop the finalizers first (best effort).
    fn drop(&mut self) {
        self._stops.clear();
        if std::env::var_os("CAPSTAN_E2E_KEEP_NAMESPACES").is_some() {
            return;
        }
        remove_app_finalizers(|args| self.kubectl(args), &self.control.name);
    }
}

/// Drops the finalizers of the Applications in `namespace` that still have some, through
/// `kubectl` (best effort, one run each): with no controller left to remove them, the
/// namespace would never finish deleting. Used by [`Stack`]'s and `chart.rs`'s guards.
pub fn remove_app_finalizers(kubectl: impl Fn(&[&str]) -> anyhow::Result<String>, namespace: &str) {
    let names = kubectl(&[
        "-n",
        namespace,
        "get",
        "applications",
        "-o",
        r#"jsonpath={range .items[?(@.metadata.finalizers)]}{.metadata.name}{"\n"}{end}"#,
    ])
    .unwrap_or_default();
    for name in names.lines().filter(|l| !l.is_empty()) {
        let _ = kubectl(&[
            "-n",
            namespace,
            "patch",
            "application",
            name,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ]);
    }
}

/// A stop handle and the future that resolves when it is sent to or dropped: a component given
/// the future serves until the handle goes.
pub fn stopper() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

// The components in this process, one function each: [`Stack::start`] and `chart.rs` (which
// runs them with the chart's ServiceAccounts) start them alike. Each pushes its stop handle onto
// `stops`: dropping the handles stops the components.

/// The repo-server's configuration for the test environment: its Redis, repository data in
/// `dir`, credential Secrets read from `namespace`, and quick refetches.
pub fn repo_server_config(env: &TestEnv, dir: PathBuf, namespace: &str) -> RepoServerConfig {
    let mut config = RepoServerConfig::new(dir, env.kubectl(), env.helm());
    config.redis_url = Some(env.redis_url().to_owned());
    config.secrets_namespace = Some(namespace.to_owned());
    config.fetch_interval = Duration::from_millis(200);
    config.revision_cache_ttl = Duration::from_millis(200);
    config
}

/// Serves a repo-server with `config` and `client` on local ports; returns its gRPC URL.
pub async fn serve_repo_server(
    config: &RepoServerConfig,
    client: Client,
    stops: &mut Vec<oneshot::Sender<()>>,
) -> anyhow::Result<String> {
    let mut registry = prometheus_client::registry::Registry::default();
    let service = capstan_repo_server::build_service(config, Some(client), &mut registry).await?;
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", grpc.local_addr()?);
    let (stop, stopped) = stopper();
    stops.push(stop);
    tokio::spawn(capstan_repo_server::serve_service(
        service,
        registry,
        ServeOptions { grpc, admin },
        stopped,
    ));
    Ok(url)
}

/// Spawns the application controller of `namespace` (one shard, ApplicationSets on).
pub async fn spawn_controller(
    namespace: &str,
    repo_server: String,
    cache: capstan_cache::Cache,
    client: Client,
    stops: &mut Vec<oneshot::Sender<()>>,
) -> anyhow::Result<()> {
    let (stop, stopped) = stopper();
    stops.push(stop);
    let mut registry = prometheus_client::registry::Registry::default();
    let controller = capstan_application_controller::run(
        ControllerConfig {
            namespace: namespace.to_owned(),
            repo_server,
            cache: Some(cache),
            shard: Shard::default(),
            sync_timeout: Duration::from_secs(60),
            applicationsets: true,
        },
        client,
        &mut registry,
        stopped,
    )
    .await?;
    tokio::spawn(controller);
    Ok(())
}

/// The API server's configuration on a local port: with the auth-gateway's internal gRPC
/// address `auth_gateway` and the dashboard's files `static_assets`, when given.
pub fn api_server_config(
    namespace: &str,
    repo_server: &str,
    auth_gateway: Option<SocketAddr>,
    static_assets: Option<PathBuf>,
) -> anyhow::Result<capstan_api_server::ApiServerConfig> {
    Ok(capstan_api_server::ApiServerConfig {
        namespace: namespace.to_owned(),
        repo_server: repo_server.to_owned(),
        listen_addr: "127.0.0.1:0".parse()?,
        auth_gateway: auth_gateway.map(|a| format!("http://{a}")),
        static_assets,
    })
}

/// Starts the API server with `config`; its metrics go to `registry`.
pub async fn start_api_server(
    config: capstan_api_server::ApiServerConfig,
    client: Client,
    cache: capstan_cache::Cache,
    registry: &mut prometheus_client::registry::Registry,
    stops: &mut Vec<oneshot::Sender<()>>,
) -> anyhow::Result<capstan_api_server::Running> {
    let (stop, stopped) = stopper();
    stops.push(stop);
    capstan_api_server::start(
        config,
        client,
        cache,
        capstan_api_server::metrics::Metrics::new(registry),
        stopped,
    )
    .await
}

/// Starts the auth-gateway of `namespace` on a local port, its internal AuthService on
/// `grpc_addr`, in front of the API server at `api_server`; its metrics go to `registry`.
pub async fn start_gateway(
    namespace: &str,
    grpc_addr: SocketAddr,
    api_server: SocketAddr,
    client: Client,
    cache: capstan_cache::Cache,
    registry: &mut prometheus_client::registry::Registry,
    stops: &mut Vec<oneshot::Sender<()>>,
) -> anyhow::Result<capstan_auth_gateway::Running> {
    let (stop, stopped) = stopper();
    stops.push(stop);
    capstan_auth_gateway::start(
        capstan_auth_gateway::GatewayConfig {
            namespace: namespace.to_owned(),
            listen_addr: "127.0.0.1:0".parse()?,
            grpc_addr,
            api_server: format!("http://{api_server}"),
            public_url: None,
            secure_cookies: false,
            trust_forwarded_for: false,
            limits: Default::default(),
            graph_url: "https://graph.microsoft.com".into(),
        },
        client,
        cache,
        capstan_auth_gateway::metrics::Metrics::new(registry),
        stopped,
    )
    .await
}

impl Stack {
    /// Starts everything; returns once the API server serves.
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        if let Ok(filter) = std::env::var("CAPSTAN_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let env = TestEnv::from_env()?;
        let client = env.kube_client().await?;
        install_crds(&client).await?;
        let control = env.unique_namespace("api").await?;
        let ns = control.name.clone();
        env.create_git_creds_secret(&ns).await?;
        let mut cm = options.cm.clone();
        cm.insert("timeout.reconciliation".into(), "0".into());
        cm.entry("installationID".into())
            .or_insert_with(|| ns.clone());
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let config_map = |name: &str, data: BTreeMap<String, String>| ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..ConfigMap::default()
        };
        config_maps
            .create(&PostParams::default(), &config_map("argocd-cm", cm))
            .await?;
        if let Some(rbac) = options.rbac.clone() {
            config_maps
                .create(&PostParams::default(), &config_map("argocd-rbac-cm", rbac))
                .await?;
        }
        if let Some(secret) = options.secret.clone() {
            Api::<Secret>::namespaced(client.clone(), &ns)
                .create(
                    &PostParams::default(),
                    &Secret {
                        metadata: ObjectMeta {
                            name: Some("argocd-secret".into()),
                            ..ObjectMeta::default()
                        },
                        string_data: Some(secret),
                        ..Secret::default()
                    },
                )
                .await?;
        }

        // One cache (one encryption key) shared by the controller and the API server, as the
        // chart gives them one key file.
        let mut registry = prometheus_client::registry::Registry::default();
        let cache = capstan_cache::Cache::new(
            capstan_cache::CacheConfig {
                prefix: format!("capstan-test:{ns}"),
                ..capstan_cache::CacheConfig::new(
                    Some(env.redis_url().to_owned()),
                    capstan_cache::EncryptionKey::generate(),
                )
            },
            &mut registry,
        )?;

        let mut stops = Vec::new();
        let data = tempfile::tempdir()?;
        let config = repo_server_config(&env, data.path().to_owned(), &ns);
        let repo_server = serve_repo_server(&config, client.clone(), &mut stops).await?;

        if !options.no_controller {
            spawn_controller(
                &ns,
                repo_server.clone(),
                cache.clone(),
                client.clone(),
                &mut stops,
            )
            .await?;
        }

        // The gateway's internal port is chosen first: the API server needs it, the gateway
        // needs the API server's address.
        let gateway_grpc = if options.gateway {
            Some(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
        } else {
            None
        };
        let running = start_api_server(
            api_server_config(
                &ns,
                &repo_server,
                gateway_grpc,
                options.static_assets.clone(),
            )?,
            client.clone(),
            cache.clone(),
            &mut registry,
            &mut stops,
        )
        .await?;
        let gateway = match gateway_grpc {
            None => None,
            Some(grpc_addr) => {
                let gw = start_gateway(
                    &ns,
                    grpc_addr,
                    running.addr,
                    client,
                    cache,
                    &mut registry,
                    &mut stops,
                )
                .await?;
                Some(Gateway {
                    addr: gw.addr,
                    grpc_addr: gw.grpc_addr,
                    state: gw.gateway,
                })
            }
        };
        Ok(Self {
            env,
            control,
            api_addr: running.addr,
            api: running.state,
            gateway,
            registry,
            _data: data,
            _stops: stops,
        })
    }

    /// The API server's metrics in the Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("encoding metrics");
        text
    }

    /// The auth-gateway (panics when the stack was started without one).
    pub fn gw(&self) -> &Gateway {
        self.gateway
            .as_ref()
            .expect("the stack runs an auth-gateway")
    }

    /// The API server's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// The signing keys the API server created.
    pub async fn keys(&self) -> anyhow::Result<KeySet> {
        let secret = Api::<Secret>::namespaced(self.env.kube_client().await?, &self.control.name)
            .get("capstan-signing-keys")
            .await?;
        let data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        Ok(KeySet::from_secret_data(&data)?)
    }

    /// A session token for `sub` in `groups`, signed like the auth-gateway's.
    pub async fn token(&self, sub: &str, groups: &[&str]) -> anyhow::Result<String> {
        let now = jiff_now();
        let claims = Claims::new_session(
            sub,
            groups.iter().map(|g| (*g).to_owned()).collect(),
            now,
            Duration::from_secs(3600),
        );
        Ok(self.keys().await?.sign(&claims)?)
    }

    /// A gRPC channel to the API server.
    pub async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        Ok(tonic::transport::Endpoint::from_shared(self.url())?
            .connect()
            .await?)
    }

    /// The initial admin password the auth-gateway put in `argocd-initial-admin-secret`.
    pub fn initial_password(&self) -> anyhow::Result<String> {
        use base64::Engine as _;
        let b64 = self.kubectl(&[
            "-n",
            &self.control.name,
            "get",
            "secret",
            "argocd-initial-admin-secret",
            "-o",
            "jsonpath={.data.password}",
        ])?;
        Ok(String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(b64.trim())?,
        )?)
    }

    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(self.env.kubectl())
            .args(["--kubeconfig", self.env.kubeconfig()])
            .args(args)
            .output()
            .context("running kubectl")?;
        if !output.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `kubectl apply` of the manifests `yaml` (through a temporary file).
    pub fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), yaml)?;
        self.kubectl(&["apply", "-f", &file.path().to_string_lossy()])?;
        Ok(())
    }

    /// Applies the seed's `microservices` AppProject as it is, as the guide does.
    pub fn apply_seed_project(&self, seed: &SeedRepo) -> anyhow::Result<()> {
        self.apply(
            seed.file("projects/microservices.yaml")
                .expect("the seed has the microservices project"),
        )
    }

    /// Points `oidc.config` in `argocd-cm` at `idp` (Azure AD's shape: the confidential client
    /// [`oidc::DEFAULT_CLIENT_ID`] with its secret from `argocd-secret`), followed by the lines
    /// `extra_config` (newline-terminated), and waits (up to 20 s) for the auth-gateway to load
    /// it. Panics when the stack runs no gateway.
    pub async fn use_oidc(&self, idp: &oidc::Idp, extra_config: &str) -> anyhow::Result<()> {
        let config = format!(
            "name: Azure AD\nissuer: {}\nclientID: {}\nclientSecret: $oidc.azure.clientSecret\n\
             {extra_config}",
            idp.issuer,
            oidc::DEFAULT_CLIENT_ID,
        );
        let patch = serde_json::json!({"data": {"oidc.config": config}}).to_string();
        self.kubectl(&[
            "-n",
            &self.control.name,
            "patch",
            "configmap",
            "argocd-cm",
            "--type=merge",
            "-p",
            &patch,
        ])?;
        let mut settings = self.gw().state.settings.clone();
        tokio::time::timeout(
            Duration::from_secs(20),
            settings.wait_for(|s| s.oidc.is_some()),
        )
        .await
        .context("the auth-gateway did not load oidc.config within 20 s")??;
        Ok(())
    }

    /// `GET path` over REST as `token`: the JSON answer; an error unless it is a 200.
    pub fn get_json(&self, token: &str, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.curl("GET", path, Some(token), None)?;
        anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// `POST path` of the JSON `body` over REST as `token`: the JSON answer; an error unless it
    /// is a 200.
    pub fn post_json(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let (status, answer) = self.curl("POST", path, Some(token), Some(&body.to_string()))?;
        anyhow::ensure!(status == 200, "POST {path}: {status} {answer}");
        Ok(serde_json::from_str(&answer)?)
    }

    /// Polls `GET path` (as [`Stack::get_json`]) until `check` passes, up to two minutes;
    /// returns the answer that passed, or fails with `what` and the last answer.
    pub async fn wait_json(
        &self,
        token: &str,
        path: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let last = self.get_json(token, path)?;
            if check(&last) {
                return Ok(last);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for {what}; last answer: {last:#}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// `curl` against the API server: (HTTP status, body).
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> anyhow::Result<(u16, String)> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}"]);
        if let Some(token) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        if let Some(body) = body {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ]);
        }
        cmd.arg(format!("{}{path}", self.url()));
        let output = cmd.output().context("running curl")?;
        if !output.status.success() {
            bail!(
                "curl {method} {path}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = String::from_utf8(output.stdout)?;
        let (body, status) = text
            .rsplit_once('\n')
            .context("curl output without status")?;
        Ok((status.trim().parse()?, body.to_owned()))
    }
}

/// Seconds since the epoch.
pub fn jiff_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The `capstan` binary next to the test executable (built by `cargo build --bins`).
pub fn capstan_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .context("test executable has no target directory")?;
    let bin = dir.join("capstan");
    if !bin.exists() {
        bail!(
            "{} does not exist: build it first with `cargo build -p capstan-cli`",
            bin.display()
        );
    }
    Ok(bin)
}

/// The seed's users-api-dev Application (rewritten for the stack by
/// [`capstan_e2e::publish_seed_examples`] with `prefix`) as JSON; with its automated sync
/// policy removed unless `automated`, so that the test decides when to sync.
pub fn seed_app(seed: &SeedRepo, prefix: &str, automated: bool) -> anyhow::Result<Value> {
    let yaml = seed
        .file("applications/users-api-dev.yaml")
        .expect("the seed has users-api-dev");
    let mut app: Value = serde_yaml_ng::from_str(yaml)?;
    if !automated {
        app["spec"]["syncPolicy"]
            .as_object_mut()
            .expect("syncPolicy")
            .remove("automated");
    }
    assert_eq!(app["metadata"]["name"], format!("{prefix}-users-api-dev"));
    Ok(app)
}

/// The image of the seed's `users-api` Deployment in `namespace`.
pub fn image_of(stack: &Stack, namespace: &str) -> anyhow::Result<String> {
    stack.kubectl(&[
        "-n",
        namespace,
        "get",
        "deployment",
        "users-api",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
}
