//! `capstan-repo-server`: the binary. Parses flags (every flag also reads a
//! `CAPSTAN_REPO_SERVER_*` environment variable), wires Git mirrors, renderers, the Redis cache
//! and the repository-Secret watch into the gRPC service, and serves it with health, reflection
//! and the admin endpoints until SIGTERM.
//!
//! All logic lives in the library (`capstan_repo_server`); this file only wires.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use capstan_repo_server::{RepoServerConfig, ServeOptions};
use capstan_runtime::LogArgs;
use clap::Parser;

capstan_cache::cache_args!("CAPSTAN_REPO_SERVER");

/// Renders desired manifests from Git for Capstan's application controller and API server.
#[derive(Debug, Parser)]
#[command(name = "capstan-repo-server", version)]
struct Args {
    /// gRPC listen address.
    #[arg(
        long,
        env = "CAPSTAN_REPO_SERVER_LISTEN_ADDR",
        default_value = "0.0.0.0:8081"
    )]
    listen_addr: SocketAddr,
    /// Admin HTTP address: /metrics, /healthz, /readyz.
    #[arg(
        long,
        env = "CAPSTAN_REPO_SERVER_METRICS_ADDR",
        default_value = "0.0.0.0:8084"
    )]
    metrics_addr: SocketAddr,
    #[command(flatten)]
    cache: CacheArgs,
    /// How long rendered manifests stay cached.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_MANIFEST_CACHE_TTL", default_value = "24h", value_parser = parse_duration)]
    manifest_cache_ttl: Duration,
    /// How long a resolved branch or tag is shared through Redis.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_REVISION_CACHE_TTL", default_value = "15s", value_parser = parse_duration)]
    revision_cache_ttl: Duration,
    /// Directory for Git mirrors and commit checkouts.
    #[arg(
        long,
        env = "CAPSTAN_REPO_SERVER_DATA_DIR",
        default_value = "/tmp/capstan-repo-server"
    )]
    data_dir: PathBuf,
    /// Window in which concurrent and repeated requests share one ls-remote/fetch per repository.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_FETCH_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    fetch_interval: Duration,
    /// Timeout of one Git network operation.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_GIT_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    git_timeout: Duration,
    /// Commit checkouts kept on disk for reuse.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_MAX_CHECKOUTS", default_value_t = 64)]
    max_checkouts: usize,
    /// Namespace of the repository Secrets; empty = no Kubernetes access (anonymous Git only).
    #[arg(long, env = "CAPSTAN_REPO_SERVER_NAMESPACE", default_value = "argocd")]
    namespace: String,
    /// `kustomize` executable; when absent, `kubectl kustomize` is used.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_KUSTOMIZE_PATH")]
    kustomize_path: Option<PathBuf>,
    /// `kubectl` executable (for `kubectl kustomize`).
    #[arg(
        long,
        env = "CAPSTAN_REPO_SERVER_KUBECTL_PATH",
        default_value = "kubectl"
    )]
    kubectl_path: PathBuf,
    /// `helm` executable.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_HELM_PATH", default_value = "helm")]
    helm_path: PathBuf,
    /// Timeout of one kustomize/helm run.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_EXEC_TIMEOUT", default_value = "90s", value_parser = parse_duration)]
    exec_timeout: Duration,
    /// Concurrent kustomize/helm runs.
    #[arg(
        long,
        env = "CAPSTAN_REPO_SERVER_PARALLELISM_LIMIT",
        default_value_t = 4
    )]
    parallelism_limit: usize,
    /// Largest total size of one application's rendered manifests, in bytes.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_MAX_MANIFEST_BYTES", default_value_t = 100 << 20)]
    max_manifest_bytes: u64,
    /// Most manifest files one directory application may read.
    #[arg(long, env = "CAPSTAN_REPO_SERVER_MAX_FILES", default_value_t = 10_000)]
    max_files: usize,
    #[command(flatten)]
    log: LogArgs,
}

/// Durations written like Argo CD's flags and Go: `90s`, `5m`, `1h30m`, `500ms`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    capstan_types::settings::parse_go_duration(text).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    capstan_runtime::init_tracing(&args.log)?;
    let config = RepoServerConfig {
        redis_url: args.cache.redis_url,
        redis_password: args.cache.redis_password,
        redis_ca_file: args.cache.redis_ca_file,
        cache_key_file: args.cache.cache_key_file,
        manifest_cache_ttl: args.manifest_cache_ttl,
        revision_cache_ttl: args.revision_cache_ttl,
        data_dir: args.data_dir,
        fetch_interval: args.fetch_interval,
        git_timeout: args.git_timeout,
        max_checkouts: args.max_checkouts,
        secrets_namespace: (!args.namespace.is_empty()).then_some(args.namespace),
        kustomize_path: args.kustomize_path,
        kubectl_path: args.kubectl_path,
        helm_path: args.helm_path,
        exec_timeout: args.exec_timeout,
        parallelism_limit: args.parallelism_limit,
        max_manifest_bytes: args.max_manifest_bytes,
        max_files: args.max_files,
    };
    let grpc = tokio::net::TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("binding the gRPC address {}", args.listen_addr))?;
    let admin = capstan_runtime::bind(args.metrics_addr).await?;
    capstan_repo_server::serve(
        config,
        ServeOptions { grpc, admin },
        capstan_runtime::shutdown_signal(),
    )
    .await
}
