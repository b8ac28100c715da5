//! `capstan-repo-server`: turns (repository, revision, source) into the exact desired
//! manifests, once per distinct input, and answers questions about repositories (refs, apps,
//! files, directories, commit metadata) over gRPC (`capstan.repo.v1.RepoServerService`).
//!
//! Wiring, not logic: Git lives in `capstan-git`, rendering in `capstan-render`, Redis in
//! `capstan-cache`. This crate adds the request flow (see [`service`]), repository
//! credentials from Kubernetes Secrets ([`credentials`]), SSH host keys from
//! `argocd-ssh-known-hosts-cm` ([`known_hosts`]) and the server around it.
//!
//! **Architecture Invariant:** the repo-server is stateless. Its disk (mirrors, checkouts) and
//! Redis entries are caches; any replica answers any request, and losing Redis only costs
//! speed. It never writes to Git or to the Kubernetes API (it only reads repository Secrets
//! and the known-hosts ConfigMap).
//!
//! **Architecture Invariant:** it must never depend on the application controller, the
//! api-server or the auth-gateway; its only contract is `proto/capstan/repo/v1`.

pub mod credentials;
mod details;
pub mod known_hosts;
pub mod metrics;
pub mod service;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use capstan_cache::{Cache, CacheConfig, EncryptionKey};
use capstan_git::{GitConfig, GitStore};
use capstan_proto::repo::v1::repo_server_service_server::RepoServerServiceServer;
use capstan_render::{KustomizeTool, RenderLimits, Renderer, Tools};
use capstan_runtime::Readiness;
use prometheus_client::registry::Registry;

pub use credentials::RepoSecrets;
pub use service::{RepoService, ServiceSettings};

/// Everything the repo-server is configured with (the binary fills it from flags).
#[derive(Clone, Debug)]
pub struct RepoServerConfig {
    /// Redis of the shared cache; `None` disables caching.
    pub redis_url: Option<String>,
    /// The Redis password when it is not in the URL (see `capstan_cache::CacheConfig`).
    pub redis_password: Option<String>,
    /// CA certificates (PEM) for a `rediss://` Redis, instead of the built-in roots.
    pub redis_ca_file: Option<PathBuf>,
    /// File with the cache encryption key; `None` = a key of this process only.
    pub cache_key_file: Option<PathBuf>,
    /// TTL of rendered manifests.
    pub manifest_cache_ttl: Duration,
    /// TTL of resolved branches and tags in Redis.
    pub revision_cache_ttl: Duration,
    /// Mirrors and checkouts.
    pub data_dir: PathBuf,
    /// Coalescing window of ls-remote/fetch per repository.
    pub fetch_interval: Duration,
    /// Timeout of one Git network operation.
    pub git_timeout: Duration,
    /// Idle commit checkouts kept on disk.
    pub max_checkouts: usize,
    /// Namespace of repository Secrets; `None` = no Kubernetes access.
    pub secrets_namespace: Option<String>,
    /// `kustomize`; `None` = `kubectl kustomize`.
    pub kustomize_path: Option<PathBuf>,
    /// `kubectl`.
    pub kubectl_path: PathBuf,
    /// `helm`.
    pub helm_path: PathBuf,
    /// Timeout of one tool run.
    pub exec_timeout: Duration,
    /// Concurrent tool runs.
    pub parallelism_limit: usize,
    /// Largest rendered output of one application.
    pub max_manifest_bytes: u64,
    /// Most manifest files of one directory application.
    pub max_files: usize,
}

impl RepoServerConfig {
    /// Defaults matching the binary's flags, with `data_dir` and tools given.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        kubectl: impl Into<PathBuf>,
        helm: impl Into<PathBuf>,
    ) -> Self {
        Self {
            redis_url: None,
            redis_password: None,
            redis_ca_file: None,
            cache_key_file: None,
            manifest_cache_ttl: Duration::from_secs(24 * 3600),
            revision_cache_ttl: Duration::from_secs(15),
            data_dir: data_dir.into(),
            fetch_interval: Duration::from_secs(5),
            git_timeout: Duration::from_secs(60),
            max_checkouts: 64,
            secrets_namespace: None,
            kustomize_path: None,
            kubectl_path: kubectl.into(),
            helm_path: helm.into(),
            exec_timeout: Duration::from_secs(90),
            parallelism_limit: 4,
            max_manifest_bytes: 100 << 20,
            max_files: 10_000,
        }
    }
}

/// Builds the service and registers every metric on `registry`. With `kube` and
/// `config.secrets_namespace` set, starts the repository-Secret watch on the current tokio
/// runtime and waits for its first list.
pub async fn build_service(
    config: &RepoServerConfig,
    kube: Option<kube::Client>,
    registry: &mut Registry,
) -> anyhow::Result<RepoService> {
    let git = GitStore::new(
        GitConfig {
            fetch_interval: config.fetch_interval,
            op_timeout: config.git_timeout,
            max_checkouts: config.max_checkouts,
            ..GitConfig::new(&config.data_dir)
        },
        registry,
    )
    .with_context(|| {
        format!(
            "preparing the Git data directory {}",
            config.data_dir.display()
        )
    })?;
    let kustomize = match &config.kustomize_path {
        Some(path) => KustomizeTool::Kustomize(path.clone()),
        None => KustomizeTool::Kubectl(config.kubectl_path.clone()),
    };
    let renderer = Renderer::new(
        Tools {
            kustomize,
            helm: config.helm_path.clone(),
        },
        RenderLimits {
            max_manifest_bytes: config.max_manifest_bytes,
            max_files: config.max_files,
            exec_timeout: config.exec_timeout,
            max_concurrent_execs: config.parallelism_limit,
        },
    );
    let key = EncryptionKey::load_or_generate(config.cache_key_file.as_deref())
        .context("loading the cache encryption key")?;
    let cache = Cache::new(
        CacheConfig {
            initiator: "repo-server".to_owned(),
            redis_password: config.redis_password.clone(),
            tls_ca_file: config.redis_ca_file.clone(),
            ..CacheConfig::new(config.redis_url.clone(), key)
        },
        registry,
    )
    .context("configuring the Redis cache")?;
    if let (Some(namespace), Some(client)) = (&config.secrets_namespace, kube.clone()) {
        let (driver, mut ready) = known_hosts::watch(client, namespace, git.clone());
        tokio::spawn(driver);
        if tokio::time::timeout(Duration::from_secs(30), ready.wait_for(|r| *r))
            .await
            .is_err()
        {
            tracing::warn!(
                "{} not listed within 30 s: SSH repositories are refused until it is",
                known_hosts::KNOWN_HOSTS_CM
            );
        }
    }
    let secrets = match (&config.secrets_namespace, kube) {
        (Some(namespace), Some(client)) => {
            let (secrets, driver) = RepoSecrets::watch(client, namespace).await?;
            tokio::spawn(driver);
            tokio::time::timeout(Duration::from_secs(30), secrets.ready())
                .await
                .context("timed out listing repository Secrets")??;
            secrets
        }
        _ => RepoSecrets::None,
    };
    let metrics = metrics::RepoServerMetrics::new(registry);
    Ok(RepoService::new(
        git,
        renderer,
        cache,
        secrets,
        ServiceSettings {
            manifest_cache_ttl: config.manifest_cache_ttl,
            revision_cache_ttl: config.revision_cache_ttl,
        },
        metrics,
    ))
}

/// Listeners the server runs on (bound by the caller, so tests can use port 0).
#[derive(Debug)]
pub struct ServeOptions {
    /// gRPC.
    pub grpc: tokio::net::TcpListener,
    /// /metrics, /healthz, /readyz.
    pub admin: tokio::net::TcpListener,
}

/// Runs the repo-server until `shutdown` completes: the gRPC service with gRPC health and
/// reflection, and the admin endpoints.
pub async fn serve(
    config: RepoServerConfig,
    listeners: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let kube = match &config.secrets_namespace {
        Some(_) => Some(
            kube::Client::try_default()
                .await
                .context("connecting to Kubernetes to read repository Secrets")?,
        ),
        None => None,
    };
    let mut registry = Registry::default();
    let service = build_service(&config, kube, &mut registry).await?;
    serve_service(service, registry, listeners, shutdown).await
}

/// Serves an already built service (see [`build_service`]).
pub async fn serve_service(
    service: RepoService,
    registry: Registry,
    listeners: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let readiness = Readiness::default();
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<RepoServerServiceServer<RepoService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(capstan_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building gRPC reflection")?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let admin = capstan_runtime::serve_http(
        listeners.admin,
        capstan_runtime::admin_router(Arc::new(registry), readiness.clone()),
        wait(stop_rx.clone()),
    );
    tracing::info!(addr = %listeners.grpc.local_addr()?, "serving gRPC");
    let grpc = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            RepoServerServiceServer::new(service)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(256 << 20),
        )
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a small response waits for the peer's delayed ACK (~40 ms).
            tonic::transport::server::TcpIncoming::from(listeners.grpc)
                .with_nodelay(Some(true))
                .with_keepalive(Some(Duration::from_secs(60))),
            wait(stop_rx),
        );
    readiness.set(true);
    let stopper = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let (_, admin, grpc) = tokio::join!(stopper, admin, grpc);
    admin?;
    grpc.context("gRPC server")?;
    Ok(())
}
