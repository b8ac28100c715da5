//! Repository credentials from Kubernetes Secrets, as Argo CD keeps them: Secrets in the
//! control-plane namespace labelled `argocd.argoproj.io/secret-type: repository` (one
//! repository, matched by exact URL) or `repo-creds` (a credential template, matched by the
//! longest URL prefix). A watch keeps an in-memory copy, so a request never waits on the API
//! server and a rotated token is used as soon as the Secret changes.

use std::collections::BTreeMap;

use capstan_git::{RepoSecret, SecretType};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

/// The label Argo CD uses to mark repository and credential-template Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// Where the repo-server finds repository credentials.
#[derive(Clone)]
pub enum RepoSecrets {
    /// Secrets watched in one namespace of a cluster.
    Watched(Store<Secret>),
    /// No credential source: every repository is accessed anonymously.
    None,
}

impl std::fmt::Debug for RepoSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Watched(store) => {
                write!(f, "RepoSecrets::Watched({} secrets)", store.state().len())
            }
            Self::None => f.write_str("RepoSecrets::None"),
        }
    }
}

impl RepoSecrets {
    /// Starts watching the labelled Secrets of `namespace`; the returned future drives the
    /// watch (with backoff on errors) and must be spawned. Waits until the first list is in.
    pub async fn watch(
        client: Client,
        namespace: &str,
    ) -> anyhow::Result<(Self, impl Future<Output = ()> + Send + 'static)> {
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let config = watcher::Config::default()
            .labels(&format!("{SECRET_TYPE_LABEL} in (repository,repo-creds)"));
        let (reader, writer) = reflector::store();
        let stream = reflector::reflector(writer, watcher(api, config))
            .default_backoff()
            .touched_objects();
        let namespace = namespace.to_owned();
        let driver = async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Err(e) = event {
                    tracing::warn!(%namespace, "watching repository Secrets: {e}");
                }
            }
        };
        Ok((Self::Watched(reader), driver))
    }

    /// Waits until the first list of Secrets has arrived (bounded by the caller's timeout).
    pub async fn ready(&self) -> anyhow::Result<()> {
        if let Self::Watched(store) = self {
            store.wait_until_ready().await?;
        }
        Ok(())
    }

    /// The current repository Secrets, decoded.
    pub fn snapshot(&self) -> Vec<RepoSecret> {
        match self {
            Self::Watched(store) => store
                .state()
                .iter()
                .filter_map(|s| to_repo_secret(s))
                .collect(),
            Self::None => Vec::new(),
        }
    }
}

/// A labelled Secret as a [`RepoSecret`]; `None` for a Secret of another type.
fn to_repo_secret(secret: &Secret) -> Option<RepoSecret> {
    let secret_type = match secret
        .metadata
        .labels
        .as_ref()?
        .get(SECRET_TYPE_LABEL)?
        .as_str()
    {
        "repository" => SecretType::Repository,
        "repo-creds" => SecretType::RepoCreds,
        _ => return None,
    };
    let mut data: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in secret.data.iter().flatten() {
        data.insert(key.clone(), String::from_utf8_lossy(&value.0).into_owned());
    }
    // stringData is write-only for the API server, but objects built in memory may carry it.
    for (key, value) in secret.string_data.iter().flatten() {
        data.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Some(RepoSecret {
        name: secret.metadata.name.clone().unwrap_or_default(),
        secret_type,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;

    fn secret(label: Option<&str>, data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("s".into()),
                labels: label
                    .map(|l| BTreeMap::from([(SECRET_TYPE_LABEL.to_owned(), l.to_owned())])),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn secrets_are_decoded_by_type() {
        let cases = [
            (Some("repository"), Some(SecretType::Repository)),
            (Some("repo-creds"), Some(SecretType::RepoCreds)),
            (Some("cluster"), None),
            (None, None),
        ];
        for (label, expected) in cases {
            let got = to_repo_secret(&secret(
                label,
                &[("url", "https://git.example/x.git"), ("password", "p")],
            ));
            assert_eq!(got.as_ref().map(|s| s.secret_type), expected, "{label:?}");
            if let Some(got) = got {
                assert_eq!(got.data["url"], "https://git.example/x.git");
                assert_eq!(got.data["password"], "p");
            }
        }
    }
}
