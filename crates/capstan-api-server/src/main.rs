//! `capstan-api-server`: the binary. Parses flags (each also read from a
//! `CAPSTAN_API_SERVER_*` environment variable), connects to Kubernetes and Redis and serves the
//! gRPC + REST API and the web dashboard's files (`--static-assets`) on one port and the admin
//! endpoints (/metrics, /healthz, /readyz) on another until SIGTERM. All logic lives in the
//! library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use capstan_api_server::ApiServerConfig;
use capstan_runtime::{LogArgs, Readiness};
use clap::Parser;

capstan_cache::cache_args!("CAPSTAN_API_SERVER");

/// Capstan's public API: gRPC, REST, webhooks and watch streams.
#[derive(Debug, Parser)]
#[command(name = "capstan-api-server", version)]
struct Args {
    /// gRPC and REST listen address (one port, like Argo CD's server).
    #[arg(
        long,
        env = "CAPSTAN_API_SERVER_LISTEN_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    listen_addr: SocketAddr,
    /// Admin HTTP address: /metrics, /healthz, /readyz.
    #[arg(
        long,
        env = "CAPSTAN_API_SERVER_METRICS_ADDR",
        default_value = "0.0.0.0:8083"
    )]
    metrics_addr: SocketAddr,
    /// Control-plane namespace (Applications, AppProjects, argocd-cm, Secrets).
    #[arg(long, env = "CAPSTAN_API_SERVER_NAMESPACE", default_value = "argocd")]
    namespace: String,
    /// The repo-server's gRPC address (or a comma-separated list). Its host name is resolved
    /// every 30 s and calls are spread over every address: give a headless Service to use
    /// every replica.
    #[arg(
        long,
        env = "CAPSTAN_API_SERVER_REPO_SERVER",
        default_value = "http://capstan-repo-server:8081"
    )]
    repo_server: String,
    /// The auth-gateway's internal AuthService (password login, local accounts' passwords
    /// and API tokens).
    #[arg(long, env = "CAPSTAN_API_SERVER_AUTH_GATEWAY")]
    auth_gateway: Option<String>,
    /// The web dashboard's files (the build output of web/: `npm run build` writes web/dist),
    /// served on the API's port after the API routes, like Argo CD's `--staticassets`.
    #[arg(long, env = "CAPSTAN_API_SERVER_STATIC_ASSETS", value_name = "DIR")]
    static_assets: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Option<Subcommand>,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Prints a session token signed with the installation's keys (read from the
    /// `capstan-signing-keys` Secret with your kubeconfig, created if missing) — for
    /// bootstrapping and automation until SSO or local login is set up, like
    /// `argocd admin` commands that work with cluster access.
    Token {
        /// The token's subject (`admin` is the built-in administrator).
        #[arg(long, default_value = "admin")]
        subject: String,
        /// Groups the token carries (comma-separated), for RBAC `g` lines.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Lifetime (`24h`, `30m`).
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        ttl: std::time::Duration,
    },
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    capstan_types::settings::parse_go_duration(text).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    capstan_runtime::init_tracing(&args.log)?;
    let client = kube::Client::try_default().await?;
    if let Some(Subcommand::Token {
        subject,
        groups,
        ttl,
    }) = args.command
    {
        let token = capstan_api_server::settings::issue_token(
            &client,
            &args.namespace,
            &subject,
            groups,
            ttl,
        )
        .await?;
        println!("{token}");
        return Ok(());
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let cache = capstan_cache::Cache::for_component(
        "api-server",
        args.cache.redis_options(),
        args.cache.cache_key_file.as_deref(),
        &mut registry,
    )?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // Liveness and metrics answer while the server waits for its first lists.
    let metrics = capstan_api_server::metrics::Metrics::new(&mut registry);
    let readiness = Readiness::default();
    let admin = tokio::spawn(capstan_runtime::serve_http(
        capstan_runtime::bind(args.metrics_addr).await?,
        capstan_runtime::admin_router(Arc::new(registry), readiness.clone()),
        wait(stop_rx.clone()),
    ));
    capstan_api_server::start(
        ApiServerConfig {
            namespace: args.namespace,
            repo_server: args.repo_server,
            listen_addr: args.listen_addr,
            auth_gateway: args.auth_gateway,
            static_assets: args.static_assets,
        },
        client,
        cache,
        metrics,
        wait(stop_rx),
    )
    .await?;
    readiness.set(true);
    capstan_runtime::shutdown_signal().await;
    let _ = stop_tx.send(true);
    admin.await??;
    Ok(())
}
