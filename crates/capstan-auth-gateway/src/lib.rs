//! capstan-auth-gateway: Capstan's front door. It logs users in — SSO with any OpenID Connect
//! provider (Azure AD / Entra ID first: tenant issuers, group object IDs, groups overage,
//! Workload Identity) and local accounts with bcrypt passwords — issues Capstan session and
//! API tokens (Ed25519 JWTs, keys in a Secret, rotated without logging anyone out), revokes
//! them for every component at once, and reverse-proxies everything else to the api-server
//! with CSRF protection, failed-login rate limiting and security headers.
//!
//! - [`web`]: `/auth/login`, `/auth/callback`, `/auth/logout`, `POST`/`DELETE
//!   /api/v1/session`, the proxy.
//! - [`grpc`]: the internal `AuthService` (its own port, never the public one).
//! - [`oidc`]: the relying party; [`local`]: local accounts; [`state`]: tokens;
//!   [`security`], [`limiter`]: the browser rules and the rate limiter (pure).
//!
//! **Architecture invariant:** the only crate that knows OIDC (`openidconnect`). It never
//! depends on the api-server, controller or repo-server crates (HTTP/gRPC to the api-server
//! only), never logs a token, password, code or client secret, and keeps no state that
//! Kubernetes or Redis does not also hold, except logins in progress and the failure counts.

pub mod grpc;
pub mod limiter;
pub mod local;
pub mod metrics;
pub mod oidc;
pub mod proxy;
pub mod security;
pub mod settings;
pub mod state;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use capstan_cache::Cache;
use capstan_proto::auth::v1::auth_service_server::AuthServiceServer;
use kube::{Api, Client};

pub use state::{Gateway, GatewayConfig};

/// A running gateway.
#[derive(Debug)]
pub struct Running {
    /// Shared state.
    pub gateway: Arc<Gateway>,
    /// The public address.
    pub addr: SocketAddr,
    /// The internal gRPC address.
    pub grpc_addr: SocketAddr,
}

/// Starts the gateway: settings watches, the initial admin password, the public listener
/// and the internal gRPC listener; serves until `shutdown` resolves.
pub async fn start(
    config: GatewayConfig,
    client: Client,
    cache: Cache,
    metrics: metrics::Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    capstan_kube::signing_keys::ensure(&client, &config.namespace)
        .await
        .context("creating the token signing keys")?;
    let settings = settings::watch_settings(&client, &config.namespace);
    {
        let mut rx = settings.clone();
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|s| s.keys.is_some()))
            .await
            .context("the signing keys did not load within 60 s")?
            .context("settings watch stopped")?;
    }
    // Read argocd-cm now rather than race its watch: `admin.enabled: false` must never see
    // an initial admin password created.
    let admin_enabled = {
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(client.clone(), &config.namespace);
        let data = cms
            .get_opt(settings::ARGOCD_CM)
            .await
            .context("reading argocd-cm")?
            .and_then(|cm| cm.data)
            .unwrap_or_default();
        // The key alone (a typo elsewhere in argocd-cm must not decide this), read as the
        // settings watch reads it. A value that is no boolean creates no password: the safe side.
        capstan_types::settings::ArgoCdSettings::admin_enabled_in(&data).unwrap_or_else(|e| {
            tracing::warn!("{e}; no initial admin password is created");
            false
        })
    };
    local::ensure_initial_admin(&client, &config.namespace, admin_enabled)
        .await
        .context("creating the initial admin password")?;
    let upstream = proxy::Upstream::new(&config.api_server)?;
    let gateway = Arc::new(Gateway::new(
        client,
        config.clone(),
        settings,
        cache,
        metrics,
    ));

    let listener = capstan_runtime::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    let grpc_listener = capstan_runtime::bind(config.grpc_addr).await?;
    let grpc_addr = grpc_listener.local_addr()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let wait = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let app = web::router(web::Web {
        gw: gateway.clone(),
        upstream,
    })
    .layer(tower_http::trace::TraceLayer::new_for_http());
    let public_stop = wait(stop_rx.clone());
    tokio::spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(public_stop)
        .await
        {
            tracing::error!("auth-gateway stopped: {e}");
        }
    });
    let grpc = tonic::service::Routes::new(AuthServiceServer::new(grpc::AuthApi(gateway.clone())))
        .prepare()
        .into_axum_router();
    let grpc_stop = wait(stop_rx);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(grpc_listener, grpc)
            .with_graceful_shutdown(grpc_stop)
            .await
        {
            tracing::error!("auth-gateway gRPC stopped: {e}");
        }
    });
    tracing::info!("serving the front door on {addr} and AuthService on {grpc_addr}");
    Ok(Running {
        gateway,
        addr,
        grpc_addr,
    })
}
