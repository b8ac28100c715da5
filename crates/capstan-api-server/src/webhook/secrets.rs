//! The webhook secrets of `argocd-secret`.

use std::collections::BTreeMap;
use std::fmt;

/// `argocd-secret` key of the GitHub HMAC secret.
pub const GITHUB_SECRET_KEY: &str = "webhook.github.secret";
/// `argocd-secret` key of the GitLab token.
pub const GITLAB_SECRET_KEY: &str = "webhook.gitlab.secret";
/// `argocd-secret` key of the Bitbucket Cloud webhook UUID.
pub const BITBUCKET_UUID_KEY: &str = "webhook.bitbucket.uuid";
/// `argocd-secret` key of the Bitbucket Server HMAC secret.
pub const BITBUCKET_SERVER_SECRET_KEY: &str = "webhook.bitbucketserver.secret";
/// `argocd-secret` key of the Gogs HMAC secret.
pub const GOGS_SECRET_KEY: &str = "webhook.gogs.secret";
/// `argocd-secret` key of the Azure DevOps basic auth username.
pub const AZURE_DEVOPS_USERNAME_KEY: &str = "webhook.azuredevops.username";
/// `argocd-secret` key of the Azure DevOps basic auth password.
pub const AZURE_DEVOPS_PASSWORD_KEY: &str = "webhook.azuredevops.password";

/// A secret value; its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Wraps a secret.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        SecretValue(value.into())
    }

    /// The secret bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The webhook secrets, as Argo CD reads them from `argocd-secret`.
///
/// `None` means "not configured" (the key is absent or empty); for such a provider
/// [`parse`](super::parse) accepts unsigned requests, as Argo CD does. For Azure DevOps,
/// verification is skipped only when both username and password are unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookSecrets {
    /// `webhook.github.secret`: HMAC-SHA256 key of `X-Hub-Signature-256`.
    pub github: Option<SecretValue>,
    /// `webhook.gitlab.secret`: expected `X-Gitlab-Token`.
    pub gitlab: Option<SecretValue>,
    /// `webhook.bitbucket.uuid`: expected `X-Hook-UUID`.
    pub bitbucket_uuid: Option<SecretValue>,
    /// `webhook.bitbucketserver.secret`: HMAC-SHA256 key of `X-Hub-Signature`.
    pub bitbucket_server: Option<SecretValue>,
    /// `webhook.gogs.secret`: HMAC-SHA256 key of `X-Gogs-Signature`.
    pub gogs: Option<SecretValue>,
    /// `webhook.azuredevops.username`: expected basic auth username.
    pub azure_devops_username: Option<SecretValue>,
    /// `webhook.azuredevops.password`: expected basic auth password.
    pub azure_devops_password: Option<SecretValue>,
}

impl WebhookSecrets {
    /// Reads the webhook keys of `argocd-secret`'s data.
    ///
    /// A value of the form `$key` is a reference, resolved as Argo CD's `ReplaceStringSecret`
    /// does: it is replaced by the (whitespace-trimmed) value of `key` in the same data; an
    /// unresolvable reference is kept verbatim. References to other secrets (`$name:key`)
    /// need [`WebhookSecrets::from_secret_data_with`].
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Self {
        Self::from_secret_data_with(data, |key| data.get(key).cloned())
    }

    /// Like [`WebhookSecrets::from_secret_data`], with `lookup` resolving `$reference`s
    /// (called with the text after `$`, e.g. `key` or `secret-name:key`).
    pub fn from_secret_data_with(
        data: &BTreeMap<String, Vec<u8>>,
        lookup: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Self {
        let read = |key: &str| -> Option<SecretValue> {
            let raw = data.get(key)?;
            let value = resolve_reference(raw, &lookup);
            (!value.is_empty()).then_some(SecretValue(value))
        };
        WebhookSecrets {
            github: read(GITHUB_SECRET_KEY),
            gitlab: read(GITLAB_SECRET_KEY),
            bitbucket_uuid: read(BITBUCKET_UUID_KEY),
            bitbucket_server: read(BITBUCKET_SERVER_SECRET_KEY),
            gogs: read(GOGS_SECRET_KEY),
            azure_devops_username: read(AZURE_DEVOPS_USERNAME_KEY),
            azure_devops_password: read(AZURE_DEVOPS_PASSWORD_KEY),
        }
    }
}

/// Argo CD's `settings.ReplaceStringSecret`.
fn resolve_reference(raw: &[u8], lookup: &impl Fn(&str) -> Option<Vec<u8>>) -> Vec<u8> {
    let Some(reference) = raw.strip_prefix(b"$") else {
        return raw.to_vec();
    };
    let Ok(reference) = std::str::from_utf8(reference) else {
        return raw.to_vec();
    };
    match lookup(reference) {
        Some(value) => value.trim_ascii().to_vec(),
        None => {
            tracing::warn!(
                reference = %String::from_utf8_lossy(raw),
                "webhook secret references a key that does not exist"
            );
            raw.to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn reads_all_keys() {
        let secrets = WebhookSecrets::from_secret_data(&data(&[
            ("webhook.github.secret", "gh"),
            ("webhook.gitlab.secret", "gl"),
            ("webhook.bitbucket.uuid", "uuid"),
            ("webhook.bitbucketserver.secret", "bbs"),
            ("webhook.gogs.secret", "gogs"),
            ("webhook.azuredevops.username", "user"),
            ("webhook.azuredevops.password", "pass"),
            ("server.secretkey", "unrelated"),
        ]));
        assert_eq!(secrets.github, Some(SecretValue::new("gh")));
        assert_eq!(secrets.gitlab, Some(SecretValue::new("gl")));
        assert_eq!(secrets.bitbucket_uuid, Some(SecretValue::new("uuid")));
        assert_eq!(secrets.bitbucket_server, Some(SecretValue::new("bbs")));
        assert_eq!(secrets.gogs, Some(SecretValue::new("gogs")));
        assert_eq!(
            secrets.azure_devops_username,
            Some(SecretValue::new("user"))
        );
        assert_eq!(
            secrets.azure_devops_password,
            Some(SecretValue::new("pass"))
        );
    }

    #[test]
    fn empty_values_are_unconfigured() {
        let secrets = WebhookSecrets::from_secret_data(&data(&[("webhook.github.secret", "")]));
        assert_eq!(secrets, WebhookSecrets::default());
    }

    #[test]
    fn resolves_references() {
        let secrets = WebhookSecrets::from_secret_data(&data(&[
            ("webhook.github.secret", "$gh-token"),
            ("gh-token", "  real-secret\n"),
            ("webhook.gitlab.secret", "$missing"),
        ]));
        assert_eq!(secrets.github, Some(SecretValue::new("real-secret")));
        assert_eq!(secrets.gitlab, Some(SecretValue::new("$missing")));

        let external = WebhookSecrets::from_secret_data_with(
            &data(&[("webhook.gogs.secret", "$other:token")]),
            |key| (key == "other:token").then(|| b"from-other".to_vec()),
        );
        assert_eq!(external.gogs, Some(SecretValue::new("from-other")));
    }

    #[test]
    fn debug_redacts() {
        let secrets = WebhookSecrets::from_secret_data(&data(&[
            ("webhook.github.secret", "super-secret-value"),
            ("webhook.azuredevops.password", "hunter2"),
        ]));
        let debug = format!("{secrets:?}");
        assert!(!debug.contains("super-secret-value"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
