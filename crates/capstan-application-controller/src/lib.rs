//! `capstan-application-controller`: for every Application, compares the desired manifests
//! (from the repo-server) with the live cluster and reports, in `Application.status`, exactly
//! what differs and whether the app is healthy.
//!
//! Reconcile = desired manifests over gRPC → live objects from a watch-backed cache per
//! destination cluster ([`live`], [`clusters`]) → diff (`capstan-diff`) → health
//! (`capstan-health`) → one step of the requested sync operation, or a request for one
//! (automated sync) ([`operation`]) → status, written only when it changed ([`reconcile`]),
//! with Argo CD's Kubernetes Events on the Application for operations and status changes
//! ([`events`]).
//! Triggers: changes of the Application, its AppProject, cluster Secrets and `argocd-cm`,
//! changes of any live object it tracks, the `argocd.argoproj.io/refresh` annotation (`hard`
//! bypasses the manifest cache), and the periodic `timeout.reconciliation` (+ jitter).
//!
//! **Architecture Invariant:** a broken Application marks its own status
//! (`ComparisonError`, `InvalidSpecError`) and never stops the others; losing the repo-server
//! costs only that comparisons fail until it is back (the gRPC channel reconnects by itself).
//!
//! **Architecture Invariant:** never depends on the api-server, auth-gateway or repo-server
//! crates; its contracts are the CRDs and `proto/capstan/repo/v1`.

pub mod appset;
pub mod clusters;
pub mod events;
pub mod live;
pub mod metrics;
pub mod operation;
pub mod orphans;
pub mod reconcile;
pub mod settings;
pub mod shard;
pub mod tracking;
pub mod tree;

use std::sync::Arc;

use anyhow::Context as _;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_types::{AppProject, Application};
use futures::{StreamExt, TryStreamExt};
use kube::runtime::Controller;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use prometheus_client::registry::Registry;
use tokio_stream_shim::UnboundedReceiverStream;

use crate::clusters::Clusters;
use crate::metrics::ControllerMetrics;
use crate::reconcile::{Context, error_policy, reconcile};

/// What the controller is configured with (the binary fills it from flags).
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// The control-plane namespace: Applications, AppProjects and `argocd-cm` live here.
    pub namespace: String,
    /// The repo-server's gRPC address, e.g. `http://capstan-repo-server:8081`.
    pub repo_server: String,
    /// The shared Redis cache for resource trees; `None` publishes none.
    pub cache: Option<capstan_cache::Cache>,
    /// The share of Applications this replica processes.
    pub shard: shard::Shard,
    /// How long a sync step may wait for health or hooks before the operation fails.
    pub sync_timeout: std::time::Duration,
    /// Also run the ApplicationSet controller ([`appset`]). Only one replica should: the
    /// binary runs it on shard 0 unless switched off.
    pub applicationsets: bool,
}

/// Runs the controller until `shutdown` completes, registering its metrics on `registry`.
pub async fn run(
    config: ControllerConfig,
    client: Client,
    registry: &mut Registry,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let metrics = ControllerMetrics::new(registry);
    let (settings_changed_tx, settings_changed_rx) = tokio::sync::mpsc::unbounded_channel();
    let (settings, settings_driver) =
        settings::watch_settings(client.clone(), &config.namespace, settings_changed_tx)
            .await
            .context("reading argocd-cm")?;
    tokio::spawn(settings_driver);

    let (trigger_tx, trigger_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let clusters = Clusters::new(client.clone(), trigger_tx, config.cache.is_some());
    let (clusters_changed_tx, clusters_changed_rx) = tokio::sync::mpsc::unbounded_channel();
    let clusters_driver = clusters
        .watch(client.clone(), &config.namespace, clusters_changed_tx)
        .await;
    tokio::spawn(clusters_driver);
    let set_tracking = {
        let (clusters, settings) = (clusters.clone(), settings.clone());
        move || {
            let current = settings.borrow();
            for cluster in clusters.all() {
                cluster.live.set_tracking(current.tracking.clone());
            }
        }
    };
    set_tracking();
    // Lazy, per replica: the controller starts without the repo-server, reconnects by itself,
    // and spreads its calls over every repo-server address (a headless Service's pods).
    let channel =
        capstan_proto::endpoints::Balanced::new(&config.repo_server, |e| e.tcp_nodelay(true))
            .with_context(|| format!("invalid repo-server address {:?}", config.repo_server))?;
    let repo_server = RepoServerServiceClient::new(channel).max_decoding_message_size(256 << 20);
    if config.applicationsets {
        tokio::spawn(appset::run(
            client.clone(),
            config.namespace.clone(),
            repo_server.clone(),
            shutdown.clone(),
        ));
    }

    let trees = match config.cache.clone() {
        Some(cache) => {
            for cluster in clusters.all() {
                cluster.live.watch_children().await;
            }
            Some(tree::TreePublisher::new(cache))
        }
        None => None,
    };
    // The live-cache object counts cost a pass over every cached object: refresh the gauge on
    // a timer, not on every reconcile.
    {
        let (clusters, metrics) = (clusters.clone(), metrics.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                for cluster in clusters.all() {
                    metrics.api_objects(&cluster.cluster.server, &cluster.live.object_counts());
                }
                metrics.update_queue_depth();
            }
        });
    }
    // AppProjects from a watch: read per reconcile without a request, and a changed project
    // re-compares its apps.
    let (projects, projects_writer) = reflector::store::<AppProject>();
    let (project_tx, project_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    {
        let api: Api<AppProject> = Api::namespaced(client.clone(), &config.namespace);
        let stream = reflector::reflector(
            projects_writer,
            watcher(api, watcher::Config::default()).default_backoff(),
        )
        .touched_objects();
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(project) => {
                        let _ = project_tx.send(project.name_any());
                    }
                    Err(e) => tracing::warn!("watching AppProjects: {e}"),
                }
            }
        });
    }
    projects
        .wait_until_ready()
        .await
        .context("watching AppProjects")?;
    let ctx = Arc::new(Context {
        client: client.clone(),
        clusters: clusters.clone(),
        projects,
        repo_server,
        settings: settings.clone(),
        namespace: config.namespace.clone(),
        metrics,
        trees,
        last_hard_refresh: Default::default(),
        sync_timeout: config.sync_timeout,
        events: events::AppEvents::new(client.clone()),
    });
    let apps: Api<Application> = Api::namespaced(client, &config.namespace);
    let queue = ctx.metrics.queue.clone();
    let shard = config.shard;
    let app_key = |app: &ObjectRef<Application>| {
        format!(
            "{}/{}",
            app.namespace.as_deref().unwrap_or_default(),
            app.name
        )
    };
    // The Applications' own watch, as `Controller::new` builds it, tapped to count woken apps.
    let (app_store, app_writer) = reflector::store::<Application>();
    // Other replicas' apps never enter this replica's store (so `reconcile_all_on` and the
    // project triggers only see its own).
    let app_events = {
        let queue = queue.clone();
        let owned = watcher(apps, watcher::Config::default()).try_filter(move |event| {
            let ours = match event {
                watcher::Event::Apply(app)
                | watcher::Event::Delete(app)
                | watcher::Event::InitApply(app) => {
                    shard.owns(&app.namespace().unwrap_or_default(), &app.name_any())
                }
                watcher::Event::Init | watcher::Event::InitDone => true,
            };
            std::future::ready(ours)
        });
        let stream = reflector::reflector(app_writer, owned).applied_objects();
        // The watch runs in its own task: decoding an Application is deep, and polling it
        // under the controller's stream combinators overflowed 2 MiB stacks in debug builds.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Ok(app) = &event {
                    queue.woken(app_key(&ObjectRef::from_obj(app)));
                }
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        UnboundedReceiverStream::new(rx)
    };
    let namespace = config.namespace.clone();
    // Live object changes wake the app by instance name (apps in the control-plane namespace).
    let triggers = UnboundedReceiverStream::new(trigger_rx)
        .map(move |app| ObjectRef::<Application>::new(&app).within(&namespace))
        .filter(move |app| {
            let ours = shard.owns(app.namespace.as_deref().unwrap_or_default(), &app.name);
            std::future::ready(ours)
        });
    // A changed AppProject re-compares the apps of that project.
    let project_store = app_store.clone();
    let project_triggers = UnboundedReceiverStream::new(project_rx).flat_map(move |project| {
        let apps: Vec<ObjectRef<Application>> = project_store
            .state()
            .iter()
            .filter(|app| {
                let name = if app.spec.project.is_empty() {
                    "default"
                } else {
                    &app.spec.project
                };
                name == project
            })
            .map(|app| ObjectRef::from_obj(app.as_ref()))
            .collect();
        futures::stream::iter(apps)
    });
    let woken = {
        let queue = queue.clone();
        futures::stream::select(triggers, project_triggers)
            .inspect(move |app| queue.woken(app_key(app)))
    };
    // argocd-cm and cluster Secret changes reconcile every app; both may change tracking.
    let all_store = app_store.clone();
    let settings_changes = futures::stream::select(
        UnboundedReceiverStream::new(settings_changed_rx),
        UnboundedReceiverStream::new(clusters_changed_rx),
    )
    .map(move |()| {
        set_tracking();
        for app in all_store.state() {
            queue.woken(app_key(&ObjectRef::from_obj(app.as_ref())));
        }
    });
    let controller = Controller::for_stream(app_events, app_store)
        .reconcile_on(woken)
        .reconcile_all_on(settings_changes)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("reconcile: {e}");
            }
        });
    Ok(controller)
}

/// A minimal `Stream` over a tokio unbounded receiver (avoids a dependency for one adapter).
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Wraps an unbounded receiver as a stream.
    #[derive(Debug)]
    pub struct UnboundedReceiverStream<T>(tokio::sync::mpsc::UnboundedReceiver<T>);

    impl<T> UnboundedReceiverStream<T> {
        pub fn new(rx: tokio::sync::mpsc::UnboundedReceiver<T>) -> Self {
            Self(rx)
        }
    }

    impl<T> futures::Stream for UnboundedReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}
