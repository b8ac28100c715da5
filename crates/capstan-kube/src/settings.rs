//! The settings objects, watched. [`watch`] keeps a component's own settings type current
//! from the raw data of the four objects; [`Common::build`] parses what every server needs,
//! keeping each part's last good value when a new one does not parse: a typo in a policy line
//! must not lock everyone out or let everyone in.

use std::collections::BTreeMap;
use std::sync::Arc;

use capstan_tokens::KeySet;
use capstan_types::settings::{ArgoCdSettings, RbacSettings};
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

pub use capstan_types::settings::{ARGOCD_CM, ARGOCD_RBAC_CM};

/// Argo CD's Secret: password hashes, token records, webhook and client secrets.
pub const ARGOCD_SECRET: &str = "argocd-secret";
/// The Secret holding Capstan's token signing keys (`<kid>.pem` and `active`, see
/// `capstan_tokens::KeySet`).
pub const SIGNING_KEYS_SECRET: &str = "capstan-signing-keys";

/// The data of the watched objects as they are now (empty while an object does not exist).
#[derive(Debug, Default, Clone)]
pub struct RawSettings {
    /// `argocd-cm`.
    pub cm: BTreeMap<String, String>,
    /// `argocd-rbac-cm`.
    pub rbac: BTreeMap<String, String>,
    /// `argocd-secret`.
    pub secret: BTreeMap<String, Vec<u8>>,
    /// The signing-key Secret.
    pub keys: BTreeMap<String, Vec<u8>>,
}

/// What every server parses from the objects.
#[derive(Debug, Clone)]
pub struct Common {
    /// Parsed `argocd-cm`.
    pub cm: ArgoCdSettings,
    /// Parsed `argocd-rbac-cm`.
    pub rbac: RbacSettings,
    /// The signing keys; `None` until the Secret is readable.
    pub keys: Option<KeySet>,
    /// Why an object was not applied (its previous value stays in force); already logged.
    pub errors: Vec<String>,
}

impl Common {
    /// Parses `raw`; a part that does not parse keeps its value from `previous`.
    pub fn build(
        raw: &RawSettings,
        previous: Option<(&ArgoCdSettings, &RbacSettings, Option<&KeySet>)>,
    ) -> Common {
        let mut errors = Vec::new();
        let cm = ArgoCdSettings::from_config_map_data(&raw.cm).unwrap_or_else(|e| {
            errors.push(format!("{ARGOCD_CM}: {e}"));
            previous.map(|p| p.0.clone()).unwrap_or_default()
        });
        let rbac = RbacSettings::from_config_map_data(&raw.rbac).unwrap_or_else(|e| {
            errors.push(format!("{ARGOCD_RBAC_CM}: {e}"));
            previous.map(|p| p.1.clone()).unwrap_or_default()
        });
        let keys = match KeySet::from_secret_data(&raw.keys) {
            Ok(keys) => Some(keys),
            Err(e) => {
                if !raw.keys.is_empty() {
                    errors.push(format!("{SIGNING_KEYS_SECRET}: {e}"));
                }
                previous.and_then(|p| p.2.cloned())
            }
        };
        for error in &errors {
            tracing::error!("{error}; keeping the previous settings");
        }
        Common {
            cm,
            rbac,
            keys,
            errors,
        }
    }
}

/// A Secret's data as bytes.
pub fn secret_bytes(data: Option<BTreeMap<String, ByteString>>) -> BTreeMap<String, Vec<u8>> {
    data.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

enum Change {
    Cm(BTreeMap<String, String>),
    Rbac(BTreeMap<String, String>),
    Secret(BTreeMap<String, Vec<u8>>),
    Keys(BTreeMap<String, Vec<u8>>),
}

fn watch_one<K, F>(
    api: Api<K>,
    name: &'static str,
    to_change: F,
    tx: tokio::sync::mpsc::Sender<Change>,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
    F: Fn(K) -> Change + Send + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let mut stream = watcher(api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        // A deletion shows up as a re-list without the object, which the applied stream does
        // not report: a deleted object keeps its last settings, as Argo CD does.
        while let Some(event) = stream.next().await {
            match event {
                Ok(obj) => {
                    if tx.send(to_change(obj)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("watch of {name}: {e}; retrying"),
            }
        }
    });
}

/// Watches the four objects in `namespace` and keeps `S` current: `build` gets the raw data
/// after every change and the settings in force before it. The receiver always holds the
/// settings in force (first built from empty data).
pub fn watch<S, B>(client: &Client, namespace: &str, build: B) -> watch::Receiver<Arc<S>>
where
    S: Send + Sync + 'static,
    B: Fn(&RawSettings, Option<&S>) -> S + Send + 'static,
{
    let (change_tx, mut change_rx) = tokio::sync::mpsc::channel(16);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    watch_one(
        cms.clone(),
        ARGOCD_CM,
        |c| Change::Cm(c.data.unwrap_or_default()),
        change_tx.clone(),
    );
    watch_one(
        cms,
        ARGOCD_RBAC_CM,
        |c| Change::Rbac(c.data.unwrap_or_default()),
        change_tx.clone(),
    );
    watch_one(
        secrets.clone(),
        ARGOCD_SECRET,
        |s| Change::Secret(secret_bytes(s.data)),
        change_tx.clone(),
    );
    watch_one(
        secrets,
        SIGNING_KEYS_SECRET,
        |s| Change::Keys(secret_bytes(s.data)),
        change_tx,
    );
    let mut raw = RawSettings::default();
    let (tx, rx) = watch::channel(Arc::new(build(&raw, None)));
    tokio::spawn(async move {
        while let Some(change) = change_rx.recv().await {
            match change {
                Change::Cm(d) => raw.cm = d,
                Change::Rbac(d) => raw.rbac = d,
                Change::Secret(d) => raw.secret = d,
                Change::Keys(d) => raw.keys = d,
            }
            let next = build(&raw, Some(&tx.borrow()));
            tx.send_replace(Arc::new(next));
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_that_does_not_parse_keeps_its_previous_value() {
        let good = RawSettings {
            cm: BTreeMap::from([("admin.enabled".to_owned(), "false".to_owned())]),
            rbac: BTreeMap::from([("policy.default".to_owned(), "role:readonly".to_owned())]),
            keys: KeySet::generate().unwrap().to_secret_data(),
            ..Default::default()
        };
        let first = Common::build(&good, None);
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert!(!first.cm.admin_enabled);
        let bad = RawSettings {
            cm: BTreeMap::from([("admin.enabled".to_owned(), "perhaps".to_owned())]),
            rbac: good.rbac.clone(),
            keys: BTreeMap::from([("active".to_owned(), b"missing".to_vec())]),
            ..Default::default()
        };
        let second = Common::build(&bad, Some((&first.cm, &first.rbac, first.keys.as_ref())));
        assert_eq!(second.errors.len(), 2, "{:?}", second.errors);
        assert!(second.errors[0].starts_with("argocd-cm: "));
        assert!(second.errors[1].starts_with("capstan-signing-keys: "));
        assert!(!second.cm.admin_enabled, "the previous argocd-cm stays");
        assert_eq!(
            second.keys.as_ref().map(KeySet::active_kid),
            first.keys.as_ref().map(KeySet::active_kid)
        );
        // Without a previous value, the defaults.
        assert!(Common::build(&bad, None).cm.admin_enabled);
    }
}
