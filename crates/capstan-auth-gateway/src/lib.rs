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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use capstan_cache::Cache;
use capstan_proto::auth::v1::auth_service_server::AuthServiceServer;
use capstan_tokens::KeySet;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

pub use state::{Gateway, GatewayConfig};

use crate::settings::{SIGNING_KEYS_SECRET, secret_bytes};

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

/// Creates the signing-key Secret with one fresh key unless it exists.
pub async fn ensure_signing_keys(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if api.get_opt(SIGNING_KEYS_SECRET).await?.is_some() {
        return Ok(());
    }
    let secret = keys_secret(&KeySet::generate()?, None);
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn keys_secret(keys: &KeySet, previous: Option<&Secret>) -> Secret {
    let mut secret = previous.cloned().unwrap_or_else(|| Secret {
        metadata: ObjectMeta {
            name: Some(SIGNING_KEYS_SECRET.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_owned(),
                "capstan".to_owned(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    });
    secret.data = Some(
        keys.to_secret_data()
            .into_iter()
            .map(|(k, v)| (k, ByteString(v)))
            .collect(),
    );
    secret.string_data = None;
    secret
}

/// Rotates the token signing keys: a new key becomes active, the previous ones keep
/// verifying the tokens they signed; keys listed in `retire` are removed (do that once every
/// token they signed has expired: `users.session.duration` after the rotation for sessions).
/// Returns the new active key id.
pub async fn rotate_signing_keys(
    client: &Client,
    namespace: &str,
    retire: &[String],
) -> anyhow::Result<String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..5 {
        let current = api
            .get(SIGNING_KEYS_SECRET)
            .await
            .with_context(|| format!("reading Secret {SIGNING_KEYS_SECRET}"))?;
        let mut keys =
            KeySet::from_secret_data(&secret_bytes(current.data.clone()))?.with_new_key()?;
        for kid in retire {
            keys = keys.without_key(kid)?;
        }
        let active = keys.active_kid().to_owned();
        match api
            .replace(
                SIGNING_KEYS_SECRET,
                &PostParams::default(),
                &keys_secret(&keys, Some(&current)),
            )
            .await
        {
            Ok(_) => return Ok(active),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("{SIGNING_KEYS_SECRET} kept changing; try again")
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
    ensure_signing_keys(&client, &config.namespace)
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
        // The key alone: a typo elsewhere in argocd-cm must not decide this.
        data.get(capstan_types::settings::keys::ADMIN_ENABLED)
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"))
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
