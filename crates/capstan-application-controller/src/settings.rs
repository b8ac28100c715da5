//! The controller's view of `argocd-cm`, kept current by a watch: parsed settings and the health
//! checker compiled from its Lua scripts. A malformed `argocd-cm` is reported (log and the
//! `error` field, which every Application then shows as a condition) and the last good settings
//! stay in force.

use std::collections::BTreeMap;
use std::sync::Arc;

use capstan_health::HealthChecker;
use capstan_types::settings::ArgoCdSettings;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

/// The name of Argo CD's main settings ConfigMap.
pub const ARGOCD_CM: &str = "argocd-cm";

/// Settings in force.
#[derive(Debug)]
pub struct Settings {
    /// Parsed `argocd-cm`.
    pub cm: ArgoCdSettings,
    /// Health checks with the Lua overrides of `argocd-cm`.
    pub health: HealthChecker,
    /// How objects are tracked (method, label key, installation id), built once per `argocd-cm`
    /// rather than per object looked at.
    pub tracking: crate::tracking::Tracking,
    /// Why the current `argocd-cm` was not applied, if it was not.
    pub error: Option<String>,
}

impl Settings {
    /// Settings from ConfigMap data, falling back to `previous` (or defaults) on error.
    pub fn from_data(data: &BTreeMap<String, String>, previous: Option<&Settings>) -> Settings {
        let parsed = ArgoCdSettings::from_config_map_data(data)
            .map_err(|e| e.to_string())
            .and_then(|cm| {
                HealthChecker::new(&cm.resource_customizations)
                    .map(|health| (cm, health))
                    .map_err(|e| format!("argocd-cm: {e}"))
            });
        match parsed {
            Ok((cm, health)) => Settings {
                tracking: crate::tracking::Tracking::from_settings(&cm),
                cm,
                health,
                error: None,
            },
            Err(error) => {
                tracing::error!("{error}; keeping the previous settings");
                let cm = previous.map(|p| p.cm.clone()).unwrap_or_default();
                let health = HealthChecker::new(&cm.resource_customizations).unwrap_or_else(|_| {
                    HealthChecker::new(&BTreeMap::new()).expect("empty checker")
                });
                Settings {
                    tracking: crate::tracking::Tracking::from_settings(&cm),
                    cm,
                    health,
                    error: Some(error),
                }
            }
        }
    }
}

/// Watches `argocd-cm` in `namespace`. Returns the receiver (already holding the current
/// settings) and the future driving the watch, which sends a unit on `changed` after each update.
pub async fn watch_settings(
    client: Client,
    namespace: &str,
    changed: tokio::sync::mpsc::UnboundedSender<()>,
) -> anyhow::Result<(
    watch::Receiver<Arc<Settings>>,
    impl Future<Output = ()> + Send + 'static,
)> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let initial = match api.get_opt(ARGOCD_CM).await? {
        Some(cm) => Settings::from_data(&cm.data.unwrap_or_default(), None),
        None => Settings::from_data(&BTreeMap::new(), None),
    };
    let (tx, rx) = watch::channel(Arc::new(initial));
    let config = watcher::Config::default().fields(&format!("metadata.name={ARGOCD_CM}"));
    let driver = async move {
        let stream = watcher(api, config).default_backoff().applied_objects();
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(cm) => {
                    let previous = tx.borrow().clone();
                    let next = Settings::from_data(&cm.data.unwrap_or_default(), Some(&previous));
                    tx.send_replace(Arc::new(next));
                    let _ = changed.send(());
                }
                Err(e) => tracing::warn!("watching argocd-cm: {e}"),
            }
        }
    };
    Ok((rx, driver))
}
