//! capstan-api-server: Capstan's public API — the gRPC services of `proto/` and the same
//! operations as REST/JSON at Argo CD's paths, served on one port; RBAC from `argocd-rbac-cm`
//! on every call (streams and webhooks included); the Git webhook receiver; watch streams.
//!
//! Applications, AppProjects and ApplicationSets are served from in-memory copies kept by
//! Kubernetes watches ([`store`]), so lists, filters and pages never load the Kubernetes API.
//! Writes go to Kubernetes; syncs are `operation`s written on the Application, which the
//! controller carries out.
//!
//! The web dashboard's files (`web/dist`) are served on the same port, after every API route
//! ([`dashboard`]).
//!
//! **Architecture invariant:** never depends on the controller, repo-server or auth-gateway
//! crates — it talks to them over gRPC and Redis only — and never holds a token or a
//! repository credential longer than a request.

pub mod account;
pub mod apps;
pub mod appsets;
pub mod audit;
pub mod auth;
pub mod badge;
pub mod clusters;
pub mod dashboard;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod projects;
pub mod repos;
pub mod resources;
pub mod rest;
pub use capstan_types::selector;
pub mod settings;
pub mod state;
pub mod store;
pub mod watch;
pub mod webhook;
pub mod webhook_handler;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use capstan_cache::Cache;
use capstan_proto::account::v1::account_service_server::AccountServiceServer;
use capstan_proto::application::v1::application_service_server::ApplicationServiceServer;
use capstan_proto::applicationset::v1::application_set_service_server::ApplicationSetServiceServer;
use capstan_proto::cluster::v1::cluster_service_server::ClusterServiceServer;
use capstan_proto::project::v1::project_service_server::ProjectServiceServer;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_proto::repository::v1::repository_service_server::RepositoryServiceServer;
use capstan_proto::session::v1::session_service_server::SessionServiceServer;
use capstan_proto::settings::v1::settings_service_server::SettingsServiceServer;
use capstan_proto::version::v1::version_service_server::VersionServiceServer;
use capstan_types::{AppProject, Application, ApplicationSet};
use kube::{Api, Client};

use crate::state::ApiState;
use crate::store::Store;

/// What the server needs to start.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Control-plane namespace.
    pub namespace: String,
    /// The repo-server's gRPC endpoint (`http://host:port`).
    pub repo_server: String,
    /// gRPC + REST listen address.
    pub listen_addr: SocketAddr,
    /// The auth-gateway's internal AuthService (`http://host:port`), for password login and
    /// local accounts' passwords and tokens.
    pub auth_gateway: Option<String>,
    /// The web dashboard's build output (`web/dist`: `index.html`, `assets/`), served after the
    /// API routes; `None`: the dashboard's paths answer a 404 saying how to build it.
    pub static_assets: Option<PathBuf>,
}

/// A running API server's state (for tests and the binary).
#[derive(Debug)]
pub struct Running {
    /// The shared state.
    pub state: Arc<ApiState>,
    /// The bound address.
    pub addr: SocketAddr,
}

/// The axum router serving gRPC and gRPC-web (on the gRPC service paths), REST and the webhook
/// on one port, and the web dashboard's files from `static_assets` on every other path.
pub fn router(state: Arc<ApiState>, static_assets: Option<PathBuf>) -> axum::Router {
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(capstan_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the descriptor set is valid");
    let (health_reporter, health) = tonic_health::server::health_reporter();
    drop(health_reporter); // every service reports SERVING by default
    let grpc = tonic::service::Routes::new(ApplicationServiceServer::new(
        grpc::application::ApplicationApi(state.clone()),
    ))
    .add_service(ApplicationSetServiceServer::new(
        grpc::applicationset::ApplicationSetApi(state.clone()),
    ))
    .add_service(ProjectServiceServer::new(grpc::project::ProjectApi(
        state.clone(),
    )))
    .add_service(RepositoryServiceServer::new(
        grpc::repository::RepositoryApi(state.clone()),
    ))
    .add_service(ClusterServiceServer::new(grpc::cluster::ClusterApi(
        state.clone(),
    )))
    .add_service(AccountServiceServer::new(grpc::account::AccountApi(
        state.clone(),
    )))
    .add_service(SessionServiceServer::new(grpc::session::SessionApi(
        state.clone(),
    )))
    .add_service(SettingsServiceServer::new(grpc::settings::SettingsApi(
        state.clone(),
    )))
    .add_service(VersionServiceServer::new(grpc::version::VersionApi))
    .add_service(reflection)
    .add_service(health)
    .prepare()
    .into_axum_router()
    // gRPC-web (HTTP/1.1, trailers in the body) on the same paths, for clients behind
    // proxies without HTTP/2 — argocd's `--grpc-web`.
    .layer(tonic_web::GrpcWebLayer::new());
    // The dashboard replaces tonic's fallback (a gRPC `Unimplemented` for every unknown path);
    // it still answers that to gRPC calls of unknown services.
    rest::router(state)
        .merge(grpc)
        .fallback_service(dashboard::router(static_assets))
}

/// Connects, starts the watches, waits for them and serves until `shutdown` resolves.
pub async fn start(
    config: ApiServerConfig,
    client: Client,
    cache: Cache,
    metrics: metrics::Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let metrics = Arc::new(metrics);
    let namespace = config.namespace.clone();
    capstan_kube::signing_keys::ensure(&client, &namespace)
        .await
        .context("creating the token signing keys")?;
    projects::ensure_default_project(&client, &namespace)
        .await
        .context("creating the default project")?;
    let settings = settings::watch_settings(&client, &namespace);
    let apps: Store<Application> = Store::new();
    let projects_store: Store<AppProject> = Store::new();
    let appsets: Store<ApplicationSet> = Store::new();
    tokio::spawn(
        apps.clone()
            .run(Api::namespaced(client.clone(), &namespace)),
    );
    tokio::spawn(
        projects_store
            .clone()
            .run(Api::namespaced(client.clone(), &namespace)),
    );
    tokio::spawn(
        appsets
            .clone()
            .run(Api::namespaced(client.clone(), &namespace)),
    );
    // Spread over every repo-server address (a headless Service's pods), reconnecting by itself.
    let channel = capstan_proto::endpoints::Balanced::new(&config.repo_server, |e| {
        e.connect_timeout(Duration::from_secs(5))
    })
    .context("repo-server address")?;
    let auth_gateway = match &config.auth_gateway {
        Some(address) => Some(
            capstan_proto::auth::v1::auth_service_client::AuthServiceClient::new(
                tonic::transport::Endpoint::from_shared(address.clone())
                    .context("auth-gateway address")?
                    .connect_timeout(Duration::from_secs(5))
                    .connect_lazy(),
            ),
        ),
        None => None,
    };
    let mut state = ApiState::new(
        client,
        namespace,
        apps.clone(),
        projects_store.clone(),
        appsets.clone(),
        settings.clone(),
        cache,
        RepoServerServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024),
    );
    state.auth_gateway = auth_gateway;
    let state = Arc::new(state);
    // Serve only once the copies are complete and the keys are loaded: an early list would
    // be wrong, an early token check would fail.
    let ready = async {
        apps.ready().await;
        projects_store.ready().await;
        appsets.ready().await;
        let mut settings = settings.clone();
        let _ = settings.wait_for(|s| s.keys.is_some()).await;
    };
    tokio::time::timeout(Duration::from_secs(120), ready)
        .await
        .context("the initial lists of Applications, AppProjects and ApplicationSets and the signing keys did not arrive within 120s")?;
    tokio::spawn(watch::relay_tree_updates(state.clone()));

    let listener = capstan_runtime::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    let app = router(state.clone(), config.static_assets.clone())
        .layer(axum::middleware::from_fn(move |request, next| {
            metrics::record(metrics.clone(), request, next)
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    tokio::spawn(async move {
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs stall gRPC responses ~40 ms.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY: {e}");
            }
        });
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("API server stopped: {e}");
        }
    });
    match &config.static_assets {
        Some(dir) => tracing::info!(
            "serving gRPC and REST on {addr}, the dashboard from {}",
            dir.display()
        ),
        None => tracing::info!("serving gRPC and REST on {addr} (no dashboard: --static-assets)"),
    }
    Ok(Running { state, addr })
}
