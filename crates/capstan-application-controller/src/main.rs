//! `capstan-application-controller`: the binary. Flags (each also read from a
//! `CAPSTAN_CONTROLLER_*` environment variable), wiring and the admin endpoints; the logic is
//! in the library.

use std::net::SocketAddr;
use std::sync::Arc;

use capstan_application_controller::ControllerConfig;
use capstan_runtime::{LogArgs, Readiness};
use clap::Parser;

capstan_cache::cache_args!("CAPSTAN_CONTROLLER");

/// Compares Applications with the cluster and reports their sync and health status.
#[derive(Debug, Parser)]
#[command(name = "capstan-application-controller", version)]
struct Args {
    /// Control-plane namespace (Applications, AppProjects, argocd-cm).
    #[arg(long, env = "CAPSTAN_CONTROLLER_NAMESPACE", default_value = "argocd")]
    namespace: String,
    /// The repo-server's gRPC address (or a comma-separated list). Its host name is resolved
    /// every 30 s and calls are spread over every address: give a headless Service to use
    /// every replica.
    #[arg(
        long,
        env = "CAPSTAN_CONTROLLER_REPO_SERVER",
        default_value = "http://capstan-repo-server:8081"
    )]
    repo_server: String,
    #[command(flatten)]
    cache: CacheArgs,
    /// Admin HTTP address: /metrics, /healthz, /readyz.
    #[arg(
        long,
        env = "CAPSTAN_CONTROLLER_METRICS_ADDR",
        default_value = "0.0.0.0:8082"
    )]
    metrics_addr: SocketAddr,
    /// Number of controller replicas sharing the Applications.
    #[arg(long, env = "CAPSTAN_CONTROLLER_REPLICAS", default_value_t = 1)]
    replicas: u32,
    /// This replica's shard (0-based); by default the ordinal ending the hostname (StatefulSet).
    #[arg(long, env = "CAPSTAN_CONTROLLER_SHARD")]
    shard: Option<u32>,
    /// Run the ApplicationSet controller (on shard 0 only; `false` switches it off).
    #[arg(long, env = "CAPSTAN_CONTROLLER_APPLICATIONSETS", default_value_t = true, action = clap::ArgAction::Set)]
    applicationsets: bool,
    /// How long a sync step may wait for health or hooks (Go duration, e.g. `5m`).
    #[arg(long, env = "CAPSTAN_CONTROLLER_SYNC_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    sync_timeout: std::time::Duration,
    #[command(flatten)]
    log: LogArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Decoding Applications with a full status is stack-hungry: give workers room.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    capstan_runtime::init_tracing(&args.log)?;
    let hostname = std::env::var("HOSTNAME").unwrap_or_default();
    let shard =
        capstan_application_controller::shard::Shard::new(args.replicas, args.shard, &hostname)?;
    let client = kube::Client::try_default().await?;
    let mut registry = prometheus_client::registry::Registry::default();
    let cache = match &args.cache.redis_url {
        Some(_) => Some(capstan_cache::Cache::for_component(
            "application-controller",
            args.cache.redis_options(),
            args.cache.cache_key_file.as_deref(),
            &mut registry,
        )?),
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let controller = capstan_application_controller::run(
        ControllerConfig {
            namespace: args.namespace,
            repo_server: args.repo_server,
            cache,
            shard,
            sync_timeout: args.sync_timeout,
            applicationsets: args.applicationsets && shard.index == 0,
        },
        client,
        &mut registry,
        wait(stop_rx.clone()),
    )
    .await?;
    let readiness = Readiness::default();
    let admin = capstan_runtime::serve_http(
        capstan_runtime::bind(args.metrics_addr).await?,
        capstan_runtime::admin_router(Arc::new(registry), readiness.clone()),
        wait(stop_rx),
    );
    readiness.set(true);
    let stopper = async move {
        capstan_runtime::shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let (_, admin, ()) = tokio::join!(stopper, admin, controller);
    admin
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    capstan_types::settings::parse_go_duration(text).map_err(|e| e.to_string())
}
