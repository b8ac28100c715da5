//! The token signing-key Secret (`capstan-signing-keys`): created with one key the first time
//! a server starts, read for one-shot signing, rotated without logging anyone out.

use std::collections::BTreeMap;

use anyhow::Context as _;
use capstan_tokens::KeySet;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::settings::{SIGNING_KEYS_SECRET, secret_bytes};

/// Creates the Secret with one fresh key unless it exists (another replica creating it first
/// is fine).
pub async fn ensure(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if api.get_opt(SIGNING_KEYS_SECRET).await?.is_some() {
        return Ok(());
    }
    match api
        .create(&PostParams::default(), &secret(&KeySet::generate()?, None))
        .await
    {
        Ok(_) => {
            tracing::info!("created the token signing keys in Secret {SIGNING_KEYS_SECRET}");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The installation's keys, creating them when missing.
pub async fn read(client: &Client, namespace: &str) -> anyhow::Result<KeySet> {
    ensure(client, namespace).await?;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let current = api
        .get(SIGNING_KEYS_SECRET)
        .await
        .with_context(|| format!("reading Secret {SIGNING_KEYS_SECRET}"))?;
    Ok(KeySet::from_secret_data(&secret_bytes(current.data))?)
}

/// Rotates the keys: a new key becomes active, the previous ones keep verifying the tokens
/// they signed; keys listed in `retire` are removed (once every token they signed has
/// expired: `users.session.duration` after the rotation for sessions). Returns the new active
/// key id.
pub async fn rotate(client: &Client, namespace: &str, retire: &[String]) -> anyhow::Result<String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..5 {
        let current = api
            .get(SIGNING_KEYS_SECRET)
            .await
            .with_context(|| format!("reading Secret {SIGNING_KEYS_SECRET}"))?;
        let mut keys =
            KeySet::from_secret_data(&secret_bytes(current.data.clone()))?.with_new_key()?;
        for kid in retire {
            keys = keys.without_key(kid)?;
        }
        let active = keys.active_kid().to_owned();
        match api
            .replace(
                SIGNING_KEYS_SECRET,
                &PostParams::default(),
                &secret(&keys, Some(&current)),
            )
            .await
        {
            Ok(_) => return Ok(active),
            // Changed since we read it: read again.
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("{SIGNING_KEYS_SECRET} kept changing; try again")
}

/// The Secret holding `keys`: `previous` with new data, or a new labelled Secret.
fn secret(keys: &KeySet, previous: Option<&Secret>) -> Secret {
    let mut secret = previous.cloned().unwrap_or_else(|| Secret {
        metadata: ObjectMeta {
            name: Some(SIGNING_KEYS_SECRET.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_owned(),
                "capstan".to_owned(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    });
    secret.data = Some(
        keys.to_secret_data()
            .into_iter()
            .map(|(k, v)| (k, ByteString(v)))
            .collect(),
    );
    secret.string_data = None;
    secret
}
