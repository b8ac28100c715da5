//! The settings the API server works from, kept current by watches: `argocd-cm`,
//! `argocd-rbac-cm` (compiled into an RBAC enforcer), `argocd-secret` (webhook secrets) and the
//! token signing keys. A malformed ConfigMap is logged and reported, and the last good settings
//! stay in force: a typo in a policy line must not lock everyone out or let everyone in.

use std::collections::BTreeMap;
use std::sync::Arc;

use capstan_authz::Enforcer;
use capstan_tokens::KeySet;
use capstan_types::settings::{ArgoCdSettings, RbacSettings};
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

use crate::webhook::WebhookSecrets;

/// Argo CD's main settings ConfigMap.
pub const ARGOCD_CM: &str = "argocd-cm";
/// Argo CD's RBAC ConfigMap.
pub const ARGOCD_RBAC_CM: &str = "argocd-rbac-cm";
/// Argo CD's Secret with webhook secrets (and, in Argo CD, the admin password).
pub const ARGOCD_SECRET: &str = "argocd-secret";
/// The Secret holding Capstan's token signing keys (`<kid>.pem`, see `capstan_tokens`). The
/// API server creates it with one key the first time; the auth-gateway shares it.
pub const SIGNING_KEYS_SECRET: &str = "capstan-signing-keys";

/// Everything derived from the watched objects.
#[derive(Debug)]
pub struct Settings {
    /// Parsed `argocd-cm`.
    pub cm: ArgoCdSettings,
    /// Parsed `argocd-rbac-cm`.
    pub rbac: RbacSettings,
    /// The enforcer compiled from [`rbac`](Self::rbac) and the built-in policy.
    pub enforcer: Enforcer,
    /// Webhook secrets from `argocd-secret`.
    pub webhook: WebhookSecrets,
    /// Local accounts' password change times and API token records from `argocd-secret`
    /// (never the password hashes: checking passwords is the auth-gateway's job).
    pub account_records: BTreeMap<String, Vec<u8>>,
    /// Token signing keys; `None` until the Secret is readable.
    pub keys: Option<KeySet>,
    /// The verifier of [`keys`](Self::keys), built once per key change rather than per request.
    pub verifier: Option<capstan_tokens::Verifier>,
    /// Why a watched object was not applied (the previous one stays in force).
    pub errors: Vec<String>,
}

impl Settings {
    fn build(raw: &Raw, previous: Option<&Settings>) -> Settings {
        let mut errors = Vec::new();
        let cm = match ArgoCdSettings::from_config_map_data(&raw.cm) {
            Ok(cm) => cm,
            Err(e) => {
                errors.push(format!("{ARGOCD_CM}: {e}"));
                previous.map(|p| p.cm.clone()).unwrap_or_default()
            }
        };
        let rbac = match RbacSettings::from_config_map_data(&raw.rbac) {
            Ok(rbac) => rbac,
            Err(e) => {
                errors.push(format!("{ARGOCD_RBAC_CM}: {e}"));
                previous.map(|p| p.rbac.clone()).unwrap_or_default()
            }
        };
        let keys = match KeySet::from_secret_data(&raw.keys) {
            Ok(keys) => Some(keys),
            Err(e) if !raw.keys.is_empty() => {
                errors.push(format!("{SIGNING_KEYS_SECRET}: {e}"));
                previous.and_then(|p| p.keys.clone())
            }
            Err(_) => previous.and_then(|p| p.keys.clone()),
        };
        for error in &errors {
            tracing::error!("{error}; keeping the previous settings");
        }
        Settings {
            enforcer: Enforcer::new(&rbac),
            webhook: WebhookSecrets::from_secret_data(&raw.secret),
            account_records: raw
                .secret
                .iter()
                .filter(|(k, _)| {
                    (k.starts_with("admin.") || k.starts_with("accounts."))
                        && (k.ends_with(".passwordMtime") || k.ends_with(".tokens"))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            verifier: keys.as_ref().map(KeySet::verifier),
            cm,
            rbac,
            keys,
            errors,
        }
    }
}

impl Settings {
    /// The state of local account `name` for checking its tokens: `None` when it does not
    /// exist (or the admin is disabled), with its token records and password change time.
    pub fn local_account(
        &self,
        name: &str,
    ) -> Result<
        (
            Option<capstan_tokens::accounts::AccountState>,
            capstan_tokens::accounts::AccountSecrets,
        ),
        String,
    > {
        use capstan_tokens::accounts::{ADMIN, AccountSecrets, AccountState};
        use capstan_types::settings::AccountCapability;
        let state = if name == ADMIN {
            self.cm.admin_enabled.then_some(AccountState {
                enabled: true,
                login: true,
                api_key: false,
            })
        } else {
            self.cm.accounts.get(name).map(|a| AccountState {
                enabled: a.enabled,
                login: a.capabilities.contains(&AccountCapability::Login),
                api_key: a.capabilities.contains(&AccountCapability::ApiKey),
            })
        };
        let secrets = AccountSecrets::from_secret_data(&self.account_records, name)?;
        Ok((state, secrets))
    }
}

/// The raw data of the watched objects.
#[derive(Debug, Default, Clone)]
struct Raw {
    cm: BTreeMap<String, String>,
    rbac: BTreeMap<String, String>,
    secret: BTreeMap<String, Vec<u8>>,
    keys: BTreeMap<String, Vec<u8>>,
}

fn secret_bytes(data: Option<BTreeMap<String, ByteString>>) -> BTreeMap<String, Vec<u8>> {
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

fn watch_named<K, F>(api: Api<K>, name: &str, to_change: F, tx: tokio::sync::mpsc::Sender<Change>)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
    F: Fn(Option<K>) -> Change + Send + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let name = name.to_owned();
    tokio::spawn(async move {
        let mut stream = watcher(api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        // A deletion shows up as a re-list without the object; the watcher's applied stream
        // does not report it, so a deleted object keeps its last settings, as Argo CD does.
        while let Some(event) = stream.next().await {
            match event {
                Ok(obj) => {
                    if tx.send(to_change(Some(obj))).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("watch of {name}: {e}; retrying"),
            }
        }
    });
}

/// Creates the signing-key Secret with one fresh key unless it exists.
pub async fn ensure_signing_keys(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if api.get_opt(SIGNING_KEYS_SECRET).await?.is_some() {
        return Ok(());
    }
    let keys = KeySet::generate()?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(SIGNING_KEYS_SECRET.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_owned(),
                "capstan".to_owned(),
            )])),
            ..Default::default()
        },
        data: Some(
            keys.to_secret_data()
                .into_iter()
                .map(|(k, v)| (k, ByteString(v)))
                .collect(),
        ),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            tracing::info!("created the token signing keys in Secret {SIGNING_KEYS_SECRET}");
            Ok(())
        }
        // Another replica was first.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Signs a session token for `subject` with the installation's active key (creating the keys
/// when missing): the bootstrap path to an admin token with cluster access.
pub async fn issue_token(
    client: &Client,
    namespace: &str,
    subject: &str,
    groups: Vec<String>,
    ttl: std::time::Duration,
) -> anyhow::Result<String> {
    ensure_signing_keys(client, namespace).await?;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get(SIGNING_KEYS_SECRET).await?;
    let keys = KeySet::from_secret_data(&secret_bytes(secret.data))?;
    let now = jiff::Timestamp::now().as_second();
    let claims = capstan_tokens::Claims::new_session(subject, groups, now, ttl);
    Ok(keys.sign(&claims)?)
}

/// Starts the watches; the receiver always holds the settings in force.
pub async fn watch_settings(client: &Client, namespace: &str) -> watch::Receiver<Arc<Settings>> {
    let (change_tx, mut change_rx) = tokio::sync::mpsc::channel(16);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    watch_named(
        cms.clone(),
        ARGOCD_CM,
        |cm| Change::Cm(cm.and_then(|c| c.data).unwrap_or_default()),
        change_tx.clone(),
    );
    watch_named(
        cms,
        ARGOCD_RBAC_CM,
        |cm| Change::Rbac(cm.and_then(|c| c.data).unwrap_or_default()),
        change_tx.clone(),
    );
    watch_named(
        secrets.clone(),
        ARGOCD_SECRET,
        |s| Change::Secret(secret_bytes(s.and_then(|s| s.data))),
        change_tx.clone(),
    );
    watch_named(
        secrets,
        SIGNING_KEYS_SECRET,
        |s| Change::Keys(secret_bytes(s.and_then(|s| s.data))),
        change_tx,
    );
    let mut raw = Raw::default();
    let (tx, rx) = watch::channel(Arc::new(Settings::build(&raw, None)));
    tokio::spawn(async move {
        while let Some(change) = change_rx.recv().await {
            match change {
                Change::Cm(d) => raw.cm = d,
                Change::Rbac(d) => raw.rbac = d,
                Change::Secret(d) => raw.secret = d,
                Change::Keys(d) => raw.keys = d,
            }
            let next = Settings::build(&raw, Some(&tx.borrow()));
            tx.send_replace(Arc::new(next));
        }
    });
    rx
}
