//! The settings the gateway works from, kept current by watches: `argocd-cm` (OIDC provider,
//! local accounts, session duration, external URL), `argocd-rbac-cm` (`scopes`: which ID-token
//! claims are groups), `argocd-secret` (password hashes, token records, the OIDC client
//! secret) and the token signing keys. A malformed object is logged and the last good
//! settings stay in force.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_kube::settings::{Common, RawSettings};
use capstan_tokens::accounts::AccountSecrets;
use capstan_tokens::{KeySet, Verifier};
use capstan_types::settings::{ArgoCdSettings, OidcConfig, RbacSettings};
use kube::Client;
use tokio::sync::watch;

pub use capstan_kube::settings::{
    ARGOCD_CM, ARGOCD_RBAC_CM, ARGOCD_SECRET, SIGNING_KEYS_SECRET, secret_bytes,
};

/// The Secret with the generated first admin password (Argo CD's name).
pub const INITIAL_ADMIN_SECRET: &str = "argocd-initial-admin-secret";
/// `argocd-cm` key of the session lifetime.
pub const SESSION_DURATION_KEY: &str = "users.session.duration";
/// Session lifetime when `users.session.duration` is unset (Argo CD's default).
pub const DEFAULT_SESSION_DURATION: Duration = Duration::from_secs(24 * 3600);

/// The OIDC provider's settings with the client secret resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct OidcSettings {
    /// `oidc.config` as written.
    pub config: OidcConfig,
    /// The client secret, resolved from its `$key` reference; `None` for public clients and
    /// workload identity.
    pub client_secret: Option<String>,
}

/// Everything derived from the watched objects.
#[derive(Debug)]
pub struct Settings {
    /// Parsed `argocd-cm`.
    pub cm: ArgoCdSettings,
    /// Parsed `argocd-rbac-cm`.
    pub rbac: RbacSettings,
    /// `argocd-secret`'s data.
    pub secret: BTreeMap<String, Vec<u8>>,
    /// The OIDC provider, when `oidc.config` is set and its secret reference resolves.
    pub oidc: Option<OidcSettings>,
    /// Session lifetime.
    pub session_duration: Duration,
    /// Signing keys; `None` until the Secret is readable.
    pub keys: Option<KeySet>,
    /// The verifier of [`keys`](Self::keys).
    pub verifier: Option<Verifier>,
    /// Why a watched object (or part of one) was not applied.
    pub errors: Vec<String>,
}

/// A local account as the gateway sees it: the account as argocd-cm declares it (name,
/// enabled, capabilities; its fields are reachable directly) and its secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAccount {
    /// Name, enabled, `login`, `apiKey`, resolved by capstan-types.
    pub account: capstan_types::settings::LocalAccount,
    /// Password hash, mtime and token records from `argocd-secret`.
    pub secrets: AccountSecrets,
}

impl std::ops::Deref for LocalAccount {
    type Target = capstan_types::settings::LocalAccount;

    fn deref(&self) -> &Self::Target {
        &self.account
    }
}

impl Settings {
    fn build(raw: &RawSettings, previous: Option<&Settings>) -> Settings {
        let Common {
            cm,
            rbac,
            keys,
            mut errors,
        } = Common::build(raw, previous.map(|p| (&p.cm, &p.rbac, p.keys.as_ref())));
        // Errors of the common objects are logged already; the rest from here.
        let common_errors = errors.len();
        let session_duration = match cm.raw.get(SESSION_DURATION_KEY) {
            None => DEFAULT_SESSION_DURATION,
            Some(text) => match capstan_types::settings::parse_go_duration(text) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => {
                    errors.push(format!(
                        "{ARGOCD_CM}: {SESSION_DURATION_KEY}: must be longer than zero"
                    ));
                    DEFAULT_SESSION_DURATION
                }
                Err(e) => {
                    errors.push(format!("{ARGOCD_CM}: {SESSION_DURATION_KEY}: {e}"));
                    DEFAULT_SESSION_DURATION
                }
            },
        };
        let oidc = cm.oidc_config.as_ref().and_then(|config| {
            match resolve_secret_ref(&config.client_secret, &raw.secret) {
                Ok(client_secret) => Some(OidcSettings {
                    config: config.clone(),
                    client_secret,
                }),
                Err(e) => {
                    errors.push(format!("{ARGOCD_CM}: oidc.config: clientSecret: {e}"));
                    None
                }
            }
        });
        for error in &errors[common_errors..] {
            tracing::error!("{error}; keeping the previous value");
        }
        Settings {
            verifier: keys.as_ref().map(KeySet::verifier),
            cm,
            rbac,
            secret: raw.secret.clone(),
            oidc,
            session_duration,
            keys,
            errors,
        }
    }

    /// Settings built from object data directly (tests, one-shot commands).
    pub fn from_data(
        cm: BTreeMap<String, String>,
        rbac: BTreeMap<String, String>,
        secret: BTreeMap<String, Vec<u8>>,
        keys: BTreeMap<String, Vec<u8>>,
    ) -> Settings {
        Settings::build(
            &RawSettings {
                cm,
                rbac,
                secret,
                keys,
            },
            None,
        )
    }

    /// The local account `name`, when it exists: `admin` (unless `admin.enabled` is false;
    /// `accounts.admin` may add `apiKey`) or an `accounts.<name>` entry. A malformed secret
    /// entry locks the account (an error, not a login without checks).
    pub fn account(&self, name: &str) -> Result<Option<LocalAccount>, String> {
        // Argo CD's rules (admin: login, plus what `accounts.admin` adds) live in capstan-types.
        let Some(account) = self.cm.local_account(name) else {
            return Ok(None);
        };
        let secrets = AccountSecrets::from_secret_data(&self.secret, name)?;
        Ok(Some(LocalAccount { account, secrets }))
    }
}

/// Resolves an Argo CD secret reference: `$key` names a key of `argocd-secret`; anything
/// else is the value itself; empty means none.
pub fn resolve_secret_ref(
    value: &str,
    secret: &BTreeMap<String, Vec<u8>>,
) -> Result<Option<String>, String> {
    let Some(key) = value.strip_prefix('$') else {
        return Ok((!value.is_empty()).then(|| value.to_owned()));
    };
    if key.contains(':') {
        return Err(format!(
            "the reference {value:?} names another Secret; Capstan resolves only keys of \
             {ARGOCD_SECRET} (`$<key>`)"
        ));
    }
    match secret.get(key) {
        Some(bytes) => String::from_utf8(bytes.clone())
            .map(|s| Some(s.trim_end_matches('\n').to_owned()))
            .map_err(|_| format!("{ARGOCD_SECRET} key {key:?} is not valid UTF-8")),
        None => Err(format!("{ARGOCD_SECRET} has no key {key:?}")),
    }
}

/// Starts the watches; the receiver always holds the settings in force.
pub fn watch_settings(client: &Client, namespace: &str) -> watch::Receiver<Arc<Settings>> {
    capstan_kube::settings::watch(client, namespace, Settings::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn secret_references() {
        let secret = BTreeMap::from([("oidc.azure.clientSecret".to_owned(), b"s3cret\n".to_vec())]);
        let cases: [(&str, Result<Option<&str>, &str>); 4] = [
            ("", Ok(None)),
            ("literal", Ok(Some("literal"))),
            ("$oidc.azure.clientSecret", Ok(Some("s3cret"))),
            ("$missing", Err("argocd-secret has no key \"missing\"")),
        ];
        for (value, want) in cases {
            let got = resolve_secret_ref(value, &secret);
            assert_eq!(
                got.as_ref().map(|o| o.as_deref()).map_err(String::as_str),
                want,
                "{value}"
            );
        }
        assert!(
            resolve_secret_ref("$other-secret:key", &secret)
                .unwrap_err()
                .contains("another Secret")
        );
    }

    #[test]
    fn accounts_and_durations() {
        let s = Settings::from_data(
            cm(&[
                ("accounts.ci", "apiKey"),
                ("accounts.dev", "login"),
                ("accounts.dev.enabled", "false"),
                ("users.session.duration", "1h"),
            ]),
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        assert_eq!(s.session_duration, Duration::from_secs(3600));
        let admin = s.account("admin").unwrap().unwrap();
        assert!(admin.enabled && admin.login && !admin.api_key);
        let ci = s.account("ci").unwrap().unwrap();
        assert!(ci.enabled && !ci.login && ci.api_key);
        assert!(!s.account("dev").unwrap().unwrap().enabled);
        assert_eq!(s.account("nobody").unwrap(), None);

        let off = Settings::from_data(
            cm(&[
                ("admin.enabled", "false"),
                ("users.session.duration", "soon"),
            ]),
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        assert_eq!(off.account("admin").unwrap(), None);
        assert_eq!(off.session_duration, DEFAULT_SESSION_DURATION);
        assert!(
            off.errors[0].contains("users.session.duration"),
            "{:?}",
            off.errors
        );
    }

    #[test]
    fn oidc_secret_must_resolve() {
        let config = "name: Azure AD\nissuer: https://login.microsoftonline.com/t/v2.0\nclientID: c\nclientSecret: $oidc.azure.clientSecret\n";
        let without = Settings::from_data(
            cm(&[("oidc.config", config)]),
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        assert!(without.oidc.is_none());
        assert!(without.errors[0].contains("no key \"oidc.azure.clientSecret\""));
        let with = Settings::from_data(
            cm(&[("oidc.config", config)]),
            BTreeMap::new(),
            BTreeMap::from([("oidc.azure.clientSecret".to_owned(), b"x".to_vec())]),
            BTreeMap::new(),
        );
        assert_eq!(with.oidc.unwrap().client_secret.as_deref(), Some("x"));
    }
}
