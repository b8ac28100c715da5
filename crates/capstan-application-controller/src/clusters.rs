//! Destination clusters: the in-cluster destination plus every Argo CD cluster Secret
//! (`argocd.argoproj.io/secret-type: cluster`) in the control-plane namespace, each with its
//! own client and live-state cache, kept current by a watch on those Secrets.
//!
//! A Secret that changes gets a fresh client and cache (the old cache's watches stop when it
//! is dropped); a broken Secret is reported to the Applications that target it, by name or
//! server, and never affects the other clusters.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use capstan_types::application::ApplicationDestination;
use capstan_types::settings::{CLUSTER_SECRET_TYPE, Cluster, normalize_server};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use crate::live::{LiveCache, Trigger, WatchScope};

/// One destination cluster: its settings and its live state.
#[derive(Debug)]
pub struct ClusterEntry {
    /// The cluster as declared.
    pub cluster: Cluster,
    /// Its live-state cache.
    pub live: Arc<LiveCache>,
}

/// Every destination cluster the controller knows.
pub struct Clusters {
    in_cluster_client: Client,
    trigger: Trigger,
    /// Whether new caches watch the resource-tree child kinds.
    watch_children: bool,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// By server URL.
    entries: BTreeMap<String, Arc<ClusterEntry>>,
    /// Secrets that could not be used: (name key, server key, error).
    broken: Vec<(Option<String>, Option<String>, String)>,
}

impl std::fmt::Debug for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<String> = self
            .state
            .read()
            .map(|s| s.entries.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("Clusters")
            .field("servers", &servers)
            .finish()
    }
}

impl Clusters {
    /// The registry with only the in-cluster destination, reached with `client`.
    pub fn new(client: Client, trigger: Trigger, watch_children: bool) -> Arc<Self> {
        let in_cluster = Cluster::in_cluster();
        let entry = Arc::new(ClusterEntry {
            live: LiveCache::new(client.clone(), WatchScope::of(&in_cluster), trigger.clone()),
            cluster: in_cluster.clone(),
        });
        let mut state = State::default();
        state.entries.insert(in_cluster.server, entry);
        Arc::new(Self {
            in_cluster_client: client,
            trigger,
            watch_children,
            state: RwLock::new(state),
        })
    }

    /// Every cluster, by server URL.
    pub fn all(&self) -> Vec<Arc<ClusterEntry>> {
        self.state
            .read()
            .expect("clusters lock")
            .entries
            .values()
            .cloned()
            .collect()
    }

    /// The cluster an Application's destination names, or why there is none — Argo CD's
    /// messages.
    pub fn resolve(
        &self,
        destination: &ApplicationDestination,
    ) -> Result<Arc<ClusterEntry>, String> {
        let state = self.state.read().expect("clusters lock");
        let name = destination.name.trim();
        let server = normalize_server(&destination.server);
        let broken = |by_name: bool, value: &str| {
            state
                .broken
                .iter()
                .find(|(n, s, _)| {
                    if by_name {
                        n.as_deref() == Some(value)
                    } else {
                        s.as_deref() == Some(value)
                    }
                })
                .map(|(_, _, e)| e.clone())
        };
        match (name.is_empty(), server.is_empty()) {
            (false, false) => Err(format!(
                "application destination can't have both name and server defined: {name} {server}"
            )),
            (true, true) => Err("destination server and name are both empty".to_owned()),
            (false, true) => state
                .entries
                .values()
                .find(|e| e.cluster.name == name)
                .cloned()
                .ok_or_else(|| {
                    broken(true, name).unwrap_or_else(|| {
                        format!("unable to find destination server: there are no clusters with this name: {name}")
                    })
                }),
            (true, false) => state.entries.get(&server).cloned().ok_or_else(|| {
                broken(false, &server).unwrap_or_else(|| {
                    format!("unable to find destination server: there are no clusters with this URL: {server}")
                })
            }),
        }
    }

    /// Replaces the set of cluster Secrets. Unchanged clusters keep their cache; returns whether
    /// anything changed.
    pub async fn update(&self, secrets: &[Arc<Secret>]) -> bool {
        let mut declared: BTreeMap<String, Cluster> = BTreeMap::new();
        let mut broken = Vec::new();
        for secret in secrets {
            let data = decoded(secret);
            match Cluster::from_secret_data(&secret.name_any(), &data) {
                Ok(cluster) => {
                    declared.insert(cluster.server.clone(), cluster);
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    broken.push((
                        data.get("name").map(|n| n.trim().to_owned()),
                        data.get("server").map(|s| normalize_server(s)),
                        e.to_string(),
                    ));
                }
            }
        }
        // The in-cluster destination always exists; a Secret for it only renames or restricts it.
        declared
            .entry(capstan_types::settings::IN_CLUSTER_SERVER.to_owned())
            .or_insert_with(Cluster::in_cluster);

        let current = self.state.read().expect("clusters lock").entries.clone();
        let mut entries = BTreeMap::new();
        let mut changed = false;
        for (server, cluster) in declared {
            if let Some(existing) = current.get(&server)
                && existing.cluster == cluster
            {
                entries.insert(server, existing.clone());
                continue;
            }
            changed = true;
            let client = if cluster.is_in_cluster() && cluster.config == Default::default() {
                Ok(self.in_cluster_client.clone())
            } else {
                client_for(&cluster).await
            };
            match client {
                Ok(client) => {
                    let live =
                        LiveCache::new(client, WatchScope::of(&cluster), self.trigger.clone());
                    if self.watch_children {
                        let live = live.clone();
                        tokio::spawn(async move { live.watch_children().await });
                    }
                    entries.insert(server, Arc::new(ClusterEntry { cluster, live }));
                }
                Err(e) => {
                    tracing::warn!(cluster = %cluster.name, "{e}");
                    broken.push((Some(cluster.name.clone()), Some(server), e));
                }
            }
        }
        changed |= entries.len() != current.len();
        let mut state = self.state.write().expect("clusters lock");
        changed |= state.broken != broken;
        state.entries = entries;
        state.broken = broken;
        changed
    }

    /// Watches the cluster Secrets of `namespace`; `changed` gets a unit after every change of
    /// the set of clusters. Returns once the first list is applied, with the driving future.
    pub async fn watch(
        self: &Arc<Self>,
        client: Client,
        namespace: &str,
        changed: mpsc::UnboundedSender<()>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let (key, value) = CLUSTER_SECRET_TYPE;
        let config = watcher::Config::default().labels(&format!("{key}={value}"));
        match api
            .list(&kube::api::ListParams::default().labels(&format!("{key}={value}")))
            .await
        {
            Ok(list) => {
                let secrets: Vec<Arc<Secret>> = list.items.into_iter().map(Arc::new).collect();
                self.update(&secrets).await;
            }
            Err(e) => tracing::warn!("listing cluster secrets: {e}; retrying in the watch"),
        }
        let (reader, writer) = reflector::store();
        let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
        let this = self.clone();
        async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(
                        watcher::Event::Apply(_)
                        | watcher::Event::Delete(_)
                        | watcher::Event::InitDone,
                    ) => {
                        if this.update(&reader.state()).await {
                            tracing::info!("destination clusters changed: {:?}", this);
                            let _ = changed.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("watching cluster secrets: {e}"),
                }
            }
        }
    }
}

/// A Secret's data, decoded (`stringData` is merged into `data` by the API server).
fn decoded(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

/// A client for a declared cluster, built as kubectl would from the equivalent kubeconfig.
async fn client_for(cluster: &Cluster) -> Result<Client, String> {
    let config = &cluster.config;
    let tls = &config.tls_client_config;
    let exec = config.exec_provider_config.as_ref().map(|e| {
        json!({
            "command": e.command,
            "args": e.args,
            "env": e.env.iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>(),
            "apiVersion": e.api_version.clone().unwrap_or_else(|| "client.authentication.k8s.io/v1beta1".into()),
            "installHint": e.install_hint,
        })
    });
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": cluster.server,
            "insecure-skip-tls-verify": tls.insecure.then_some(true),
            "certificate-authority-data": tls.ca_data,
            "tls-server-name": tls.server_name,
        }}],
        "users": [{"name": "u", "user": {
            "token": config.bearer_token,
            "username": config.username,
            "password": config.password,
            "client-certificate-data": tls.cert_data,
            "client-key-data": tls.key_data,
            "exec": exec,
        }}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    let error = |e: &dyn std::fmt::Display| {
        format!(
            "cluster {} ({}): invalid connection settings: {e}",
            cluster.name, cluster.server
        )
    };
    let kubeconfig: Kubeconfig =
        serde_json::from_value(strip_nulls(kubeconfig)).map_err(|e| error(&e))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| error(&e))?;
    Client::try_from(config).map_err(|e| error(&e))
}

/// Removes `null` members, which the kubeconfig types do not accept everywhere.
fn strip_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(strip_nulls).collect())
        }
        other => other,
    }
}
