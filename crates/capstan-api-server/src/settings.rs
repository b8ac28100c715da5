//! The settings the API server works from, kept current by watches (`capstan_kube::settings`):
//! `argocd-cm`, `argocd-rbac-cm` (compiled into an RBAC enforcer), `argocd-secret` (webhook
//! secrets, local accounts' token records) and the token signing keys. A malformed object is
//! logged and reported, and the last good settings stay in force.

use std::collections::BTreeMap;
use std::sync::Arc;

use capstan_authz::Enforcer;
use capstan_kube::settings::{Common, RawSettings};
use capstan_tokens::KeySet;
use capstan_types::settings::{ArgoCdSettings, RbacSettings};
use kube::Client;
use tokio::sync::watch;

use crate::webhook::WebhookSecrets;

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
    fn build(raw: &RawSettings, previous: Option<&Settings>) -> Settings {
        let Common {
            cm,
            rbac,
            keys,
            errors,
        } = Common::build(raw, previous.map(|p| (&p.cm, &p.rbac, p.keys.as_ref())));
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
        use capstan_tokens::accounts::{AccountSecrets, AccountState};
        let state = self.cm.local_account(name).map(|a| AccountState {
            enabled: a.enabled,
            login: a.login,
            api_key: a.api_key,
        });
        let secrets = AccountSecrets::from_secret_data(&self.account_records, name)?;
        Ok((state, secrets))
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
    let keys = capstan_kube::signing_keys::read(client, namespace).await?;
    let now = jiff::Timestamp::now().as_second();
    let claims = capstan_tokens::Claims::new_session(subject, groups, now, ttl);
    Ok(keys.sign(&claims)?)
}

/// Starts the watches; the receiver always holds the settings in force.
pub fn watch_settings(client: &Client, namespace: &str) -> watch::Receiver<Arc<Settings>> {
    capstan_kube::settings::watch(client, namespace, Settings::build)
}
