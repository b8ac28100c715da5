//! SSH host keys from Argo CD's `argocd-ssh-known-hosts-cm` (key `ssh_known_hosts`, OpenSSH
//! `known_hosts` lines), kept current by a watch: an edited ConfigMap applies to the next fetch,
//! with no restart. Without the ConfigMap (or with no valid line in it) an SSH repository's host
//! cannot be verified and is refused unless the repository is marked `insecure` — never
//! trusted on first use.

use capstan_git::GitStore;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

/// The ConfigMap Argo CD keeps SSH known hosts in.
pub const KNOWN_HOSTS_CM: &str = "argocd-ssh-known-hosts-cm";
/// Its key holding the `known_hosts` lines.
pub const KNOWN_HOSTS_KEY: &str = "ssh_known_hosts";

/// Watches [`KNOWN_HOSTS_CM`] in `namespace` and hands its lines to `git` on every change.
/// Returns the future that drives the watch (to be spawned; it retries with backoff when the
/// API server fails) and a receiver that turns `true` once the first list is applied.
pub fn watch(
    client: Client,
    namespace: &str,
    git: GitStore,
) -> (
    impl Future<Output = ()> + Send + 'static,
    tokio::sync::watch::Receiver<bool>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={KNOWN_HOSTS_CM}"));
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    let namespace = namespace.to_owned();
    let (ready_tx, ready) = tokio::sync::watch::channel(false);
    let driver = async move {
        futures::pin_mut!(stream);
        let mut applied: Option<Option<String>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    apply(&reader, &git, &mut applied);
                    ready_tx.send_replace(true);
                }
                // During a (re)list the store changes only at InitDone.
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                    apply(&reader, &git, &mut applied)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%namespace, "watching {KNOWN_HOSTS_CM}: {e}"),
            }
        }
    };
    (driver, ready)
}

/// Applies the store's ConfigMap to `git` when its lines changed since `applied`.
fn apply(reader: &Store<ConfigMap>, git: &GitStore, applied: &mut Option<Option<String>>) {
    let text = lines(&reader.state());
    if applied.as_ref() == Some(&text) {
        return;
    }
    git.set_ssh_known_hosts(text.as_deref());
    let entries = text
        .as_deref()
        .map(|t| capstan_git::KnownHosts::parse(t).len())
        .unwrap_or(0);
    match &text {
        Some(_) => tracing::info!("SSH known hosts: {entries} entries from {KNOWN_HOSTS_CM}"),
        None => tracing::info!(
            "SSH known hosts: no {KNOWN_HOSTS_CM}; SSH repositories must be marked insecure"
        ),
    }
    *applied = Some(text);
}

/// The `known_hosts` text of the (at most one) ConfigMap listed.
fn lines(config_maps: &[std::sync::Arc<ConfigMap>]) -> Option<String> {
    config_maps
        .iter()
        .find_map(|cm| cm.data.as_ref()?.get(KNOWN_HOSTS_KEY).cloned())
}
