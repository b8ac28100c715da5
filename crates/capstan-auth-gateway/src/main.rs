//! `capstan-auth-gateway`: the binary. Parses flags (each also read from a
//! `CAPSTAN_AUTH_GATEWAY_*` environment variable), connects to Kubernetes and Redis, and serves
//! the front door, the internal AuthService and the admin endpoints until SIGTERM. All logic
//! lives in the library.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use capstan_auth_gateway::GatewayConfig;
use capstan_auth_gateway::limiter::Limits;
use capstan_runtime::{LogArgs, Readiness};
use clap::Parser;

capstan_cache::cache_args!("CAPSTAN_AUTH_GATEWAY");

/// Capstan's front door: SSO and local login, tokens, and the proxy to the api-server.
#[derive(Debug, Parser)]
#[command(name = "capstan-auth-gateway", version)]
struct Args {
    /// Public listen address: browsers, the CLI and gRPC clients.
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_LISTEN_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    listen_addr: SocketAddr,
    /// Internal gRPC address of AuthService (reachable by Capstan's components only).
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_GRPC_ADDR",
        default_value = "0.0.0.0:8086"
    )]
    grpc_addr: SocketAddr,
    /// Admin HTTP address: /metrics, /healthz, /readyz.
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_METRICS_ADDR",
        default_value = "0.0.0.0:8087"
    )]
    metrics_addr: SocketAddr,
    /// Control-plane namespace.
    #[arg(long, env = "CAPSTAN_AUTH_GATEWAY_NAMESPACE", default_value = "argocd")]
    namespace: String,
    /// The api-server to proxy to.
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_API_SERVER",
        default_value = "http://capstan-api-server:8080"
    )]
    api_server: String,
    /// External URL when argocd-cm has no `url`.
    #[arg(long, env = "CAPSTAN_AUTH_GATEWAY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Mark cookies `Secure` and send HSTS (set when TLS terminates in front of the gateway).
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_SECURE_COOKIES",
        default_value_t = false
    )]
    secure_cookies: bool,
    /// Take client addresses from X-Forwarded-For (only behind a trusted ingress).
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_TRUST_FORWARDED_FOR",
        default_value_t = false
    )]
    trust_forwarded_for: bool,
    /// Failed logins per user within the window before refusing (Argo CD's
    /// ARGOCD_SESSION_MAX_FAIL_COUNT).
    #[arg(long, env = "ARGOCD_SESSION_MAX_FAIL_COUNT", default_value_t = 5)]
    max_login_failures: u32,
    /// Failed logins per client address within the window before refusing.
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 20
    )]
    max_failures_per_address: u32,
    /// The failure window in seconds (Argo CD's ARGOCD_SESSION_FAILURE_WINDOW_SECONDS).
    #[arg(
        long,
        env = "ARGOCD_SESSION_FAILURE_WINDOW_SECONDS",
        default_value_t = 300
    )]
    failure_window_seconds: u64,
    /// Microsoft Graph, for Azure AD groups overage.
    #[arg(
        long,
        env = "CAPSTAN_AUTH_GATEWAY_GRAPH_URL",
        default_value = "https://graph.microsoft.com"
    )]
    graph_url: String,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Option<Subcommand>,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Rotates the token signing keys: a new key signs from now on, earlier keys keep
    /// verifying until retired (`--retire <kid>` once their tokens have expired).
    RotateKeys {
        /// Key ids to remove.
        #[arg(long)]
        retire: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    capstan_runtime::init_tracing(&args.log)?;
    let client = kube::Client::try_default().await?;
    if let Some(Subcommand::RotateKeys { retire }) = &args.command {
        let kid = capstan_kube::signing_keys::rotate(&client, &args.namespace, retire).await?;
        println!("{kid}");
        return Ok(());
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let cache = capstan_cache::Cache::for_component(
        "auth-gateway",
        args.cache.redis_options(),
        args.cache.cache_key_file.as_deref(),
        &mut registry,
    )?;
    if args.cache.redis_url.is_none() {
        tracing::warn!(
            "no Redis (--redis-url): logouts and revoked sessions are not shared with the \
             api-server, so a logged-out session stays valid until it expires; logins in \
             progress only finish on this replica"
        );
    }
    let metrics = capstan_auth_gateway::metrics::Metrics::new(&mut registry);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let readiness = Readiness::default();
    let admin = tokio::spawn(capstan_runtime::serve_http(
        capstan_runtime::bind(args.metrics_addr).await?,
        capstan_runtime::admin_router(Arc::new(registry), readiness.clone()),
        wait(stop_rx.clone()),
    ));
    capstan_auth_gateway::start(
        GatewayConfig {
            namespace: args.namespace,
            listen_addr: args.listen_addr,
            grpc_addr: args.grpc_addr,
            api_server: args.api_server,
            public_url: args.public_url,
            secure_cookies: args.secure_cookies,
            trust_forwarded_for: args.trust_forwarded_for,
            limits: Limits {
                max_failures: args.max_login_failures,
                max_failures_per_address: args.max_failures_per_address,
                window: Duration::from_secs(args.failure_window_seconds),
                ..Limits::default()
            },
            graph_url: args.graph_url,
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
