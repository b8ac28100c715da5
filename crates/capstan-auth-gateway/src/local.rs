//! Local accounts: password login (bcrypt, rate limited), the generated first admin password
//! (`argocd-initial-admin-secret`, as Argo CD), password changes, and the API tokens of
//! accounts with the `apiKey` capability, recorded in `argocd-secret` as Argo CD does.

use std::collections::BTreeMap;
use std::time::Duration;

use capstan_tokens::Claims;
use capstan_tokens::accounts::{self, TokenRecord};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::settings::{ARGOCD_SECRET, INITIAL_ADMIN_SECRET, secret_bytes};
use crate::state::Gateway;

/// Why a password login failed; the message is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum LoginFailure {
    /// Wrong user or password (deliberately not saying which).
    #[error("Invalid username or password")]
    Invalid,
    /// Too many failures.
    #[error("{0}")]
    RateLimited(String),
    /// An ID token was refused; the message says why.
    #[error("{0}")]
    Rejected(String),
    /// The server cannot check right now.
    #[error("{0}")]
    Unavailable(String),
}

/// Checks a username and password and signs a session (`sub` `<name>:login`).
pub async fn password_login(
    gw: &Gateway,
    username: &str,
    password: &str,
    address: &str,
) -> Result<(String, Claims), LoginFailure> {
    if let Err(e) = gw.check_rate(username, address) {
        gw.metrics.login(false);
        tracing::warn!(user = username, address, "login refused: {e}");
        return Err(LoginFailure::RateLimited(e));
    }
    let settings = gw.settings();
    let account = match settings.account(username) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("local account {username:?}: {e}");
            None
        }
    };
    let hash = account
        .as_ref()
        .filter(|a| a.enabled && a.login)
        .and_then(|a| a.secrets.password_hash.clone());
    let password = password.to_owned();
    // bcrypt costs tens of milliseconds of CPU: off the async workers. An unknown user is
    // checked against a dummy hash so timing does not tell which accounts exist.
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => accounts::verify_password(&password, &hash),
        None => {
            let _ = accounts::verify_password(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false);
    gw.record_login(username, address, ok);
    if !ok {
        tracing::info!(user = username, address, "failed password login");
        return Err(LoginFailure::Invalid);
    }
    let sub = accounts::account_subject(username, accounts::LOGIN);
    let (token, claims) = gw
        .issue_session(&sub, Vec::new(), None, Default::default())
        .map_err(|e| LoginFailure::Unavailable(e.to_string()))?;
    tracing::info!(user = username, "password login");
    Ok((token, claims))
}

/// A bcrypt hash of a random password, for refusals that take as long as a real check.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    accounts::hash_password(&accounts::generate_password()).unwrap_or_default()
});

/// Creates the first admin password unless one exists: a random password in
/// `argocd-initial-admin-secret` (key `password`) and its bcrypt hash in `argocd-secret`.
/// Skipped when the admin is disabled or already has a password. Safe to race with other
/// replicas: the initial Secret is created first, and only its creator writes the hash.
pub async fn ensure_initial_admin(
    client: &Client,
    namespace: &str,
    admin_enabled: bool,
) -> anyhow::Result<()> {
    if !admin_enabled {
        return Ok(());
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let existing = secrets.get_opt(ARGOCD_SECRET).await?;
    let data = secret_bytes(existing.as_ref().and_then(|s| s.data.clone()));
    if data.contains_key(&accounts::password_key(accounts::ADMIN)) {
        return Ok(());
    }
    let password = accounts::generate_password();
    let initial = Secret {
        metadata: ObjectMeta {
            name: Some(INITIAL_ADMIN_SECRET.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_owned(),
                "capstan".to_owned(),
            )])),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("password".to_owned(), password.clone())])),
        ..Default::default()
    };
    match secrets.create(&PostParams::default(), &initial).await {
        Ok(_) => {}
        // Another replica, or an earlier run that stopped before writing the hash: use the
        // password it generated.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = secrets.get(INITIAL_ADMIN_SECRET).await?;
            let stored = secret_bytes(s.data).remove("password").unwrap_or_default();
            return write_admin_hash(&secrets, existing.is_some(), &String::from_utf8(stored)?)
                .await;
        }
        Err(e) => return Err(e.into()),
    }
    write_admin_hash(&secrets, existing.is_some(), &password).await?;
    tracing::info!("generated the initial admin password in Secret {INITIAL_ADMIN_SECRET}");
    Ok(())
}

async fn write_admin_hash(
    secrets: &Api<Secret>,
    exists: bool,
    password: &str,
) -> anyhow::Result<()> {
    if password.is_empty() {
        anyhow::bail!("{INITIAL_ADMIN_SECRET} has no password");
    }
    let hash = {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await?
    }
    .map_err(anyhow::Error::msg)?;
    let now = jiff::Timestamp::now().as_second();
    let entries = BTreeMap::from([
        (accounts::password_key(accounts::ADMIN), hash),
        (
            accounts::password_mtime_key(accounts::ADMIN),
            accounts::format_mtime(now),
        ),
    ]);
    if exists {
        // Only if still unset: a concurrent password change must not be overwritten.
        let current = secrets.get(ARGOCD_SECRET).await?;
        if secret_bytes(current.data).contains_key(&accounts::password_key(accounts::ADMIN)) {
            return Ok(());
        }
        secrets
            .patch(
                ARGOCD_SECRET,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "stringData": entries })),
            )
            .await?;
    } else {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(ARGOCD_SECRET.to_owned()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/part-of".to_owned(),
                    "argocd".to_owned(),
                )])),
                ..Default::default()
            },
            string_data: Some(entries),
            ..Default::default()
        };
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {
                return Box::pin(write_admin_hash(secrets, true, password)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Changes `name`'s password after checking `caller`'s current password (the account
/// itself, or an admin changing another account). Sessions issued before stop working.
pub async fn update_password(
    gw: &Gateway,
    caller: &str,
    current_password: &str,
    name: &str,
    new_password: &str,
    address: &str,
) -> Result<(), UpdateError> {
    accounts::check_new_password(new_password).map_err(UpdateError::Invalid)?;
    let settings = gw.settings();
    if settings
        .account(name)
        .map_err(UpdateError::Invalid)?
        .is_none()
    {
        return Err(UpdateError::NotFound(format!(
            "account {name:?} does not exist"
        )));
    }
    // The caller proves who they are with their own password, rate limited like a login.
    password_login(gw, caller, current_password, address)
        .await
        .map_err(|e| match e {
            LoginFailure::Invalid => {
                UpdateError::Denied("the current password is not correct".to_owned())
            }
            other => UpdateError::Denied(other.to_string()),
        })?;
    let hash = {
        let p = new_password.to_owned();
        tokio::task::spawn_blocking(move || accounts::hash_password(&p))
            .await
            .map_err(|e| UpdateError::Unavailable(e.to_string()))?
            .map_err(UpdateError::Unavailable)?
    };
    let now = jiff::Timestamp::now().as_second();
    let secrets: Api<Secret> = Api::namespaced(gw.client.clone(), &gw.config.namespace);
    secrets
        .patch(
            ARGOCD_SECRET,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "stringData": {
                accounts::password_key(name): hash,
                accounts::password_mtime_key(name): accounts::format_mtime(now),
            }})),
        )
        .await
        .map_err(|e| UpdateError::Unavailable(format!("writing {ARGOCD_SECRET}: {e}")))?;
    tracing::info!(account = name, by = caller, "password changed");
    Ok(())
}

/// Why an account change failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// No such account.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not.
    #[error("{0}")]
    Denied(String),
    /// Kubernetes or the keys are not available.
    #[error("{0}")]
    Unavailable(String),
}

/// Issues an API token for `account` and records it in `argocd-secret`.
pub async fn issue_account_token(
    gw: &Gateway,
    account: &str,
    id: Option<String>,
    expires_in: Option<Duration>,
) -> Result<(String, Claims), UpdateError> {
    let settings = gw.settings();
    let found = settings
        .account(account)
        .map_err(UpdateError::Invalid)?
        .ok_or_else(|| UpdateError::NotFound(format!("account {account:?} does not exist")))?;
    if !found.api_key {
        return Err(UpdateError::Denied(format!(
            "account {account:?} does not have the apiKey capability (argocd-cm accounts.{account}: apiKey)"
        )));
    }
    if !found.enabled {
        return Err(UpdateError::Denied(format!(
            "account {account:?} is disabled"
        )));
    }
    let keys = settings.keys.as_ref().ok_or_else(|| {
        UpdateError::Unavailable("the signing keys are not loaded yet".to_owned())
    })?;
    let id = id
        .filter(|s| !s.is_empty())
        .unwrap_or_else(capstan_tokens::new_token_id);
    let now = jiff::Timestamp::now().as_second();
    let claims = Claims::new_api_token(
        accounts::account_subject(account, accounts::API_KEY),
        id.clone(),
        now,
        expires_in,
    );
    let token = keys
        .sign(&claims)
        .map_err(|e| UpdateError::Unavailable(e.to_string()))?;
    let record = TokenRecord {
        id: id.clone(),
        iat: now,
        exp: claims.exp.unwrap_or(0),
    };
    edit_token_records(gw, account, |records| {
        if records.iter().any(|r| r.id == id) {
            return Err(UpdateError::Invalid(format!(
                "account {account:?} already has a token with id {id:?}"
            )));
        }
        records.push(record.clone());
        Ok(())
    })
    .await?;
    Ok((token, claims))
}

/// Revokes a token id: into the revocation set at once, and out of whichever account
/// records it (the durable revocation).
pub async fn revoke_token(gw: &Gateway, id: &str, exp: Option<i64>) -> Result<(), UpdateError> {
    gw.revoke(id, exp).await;
    let settings = gw.settings();
    let mut owners: Vec<String> = settings.cm.accounts.keys().cloned().collect();
    owners.push(accounts::ADMIN.to_owned());
    for owner in owners {
        let Ok(Some(account)) = settings.account(&owner) else {
            continue;
        };
        if account.secrets.has_token(id) {
            edit_token_records(gw, &owner, |records| {
                records.retain(|r| r.id != id);
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}

/// Read-modify-write of one account's token records with optimistic concurrency.
async fn edit_token_records(
    gw: &Gateway,
    account: &str,
    edit: impl Fn(&mut Vec<TokenRecord>) -> Result<(), UpdateError>,
) -> Result<(), UpdateError> {
    let api: Api<Secret> = Api::namespaced(gw.client.clone(), &gw.config.namespace);
    let key = accounts::tokens_key(account);
    for _ in 0..5 {
        let secret = api
            .get_opt(ARGOCD_SECRET)
            .await
            .map_err(|e| UpdateError::Unavailable(format!("reading {ARGOCD_SECRET}: {e}")))?
            .ok_or_else(|| UpdateError::Unavailable(format!("{ARGOCD_SECRET} does not exist")))?;
        let data = secret_bytes(secret.data.clone());
        let mut records = accounts::AccountSecrets::from_secret_data(&data, account)
            .map_err(UpdateError::Invalid)?
            .tokens;
        edit(&mut records)?;
        let mut next = secret.clone();
        next.data.get_or_insert_with(Default::default).insert(
            key.clone(),
            ByteString(accounts::tokens_json(&records).into_bytes()),
        );
        match api
            .replace(ARGOCD_SECRET, &PostParams::default(), &next)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => {
                return Err(UpdateError::Unavailable(format!(
                    "writing {ARGOCD_SECRET}: {e}"
                )));
            }
        }
    }
    Err(UpdateError::Unavailable(format!(
        "{ARGOCD_SECRET} kept changing; try again"
    )))
}
