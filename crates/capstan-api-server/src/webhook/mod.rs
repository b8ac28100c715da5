//! Git webhooks, as Argo CD's `util/webhook` handles them, minus the HTTP and Kubernetes IO.
//!
//! Argo CD's API server accepts push notifications from GitHub, GitLab, Bitbucket Cloud,
//! Bitbucket Server, Azure DevOps and Gogs on `/api/webhook`, and refreshes the applications
//! whose sources the push concerns instead of waiting for the next poll. This module holds
//! the pure part of that job:
//!
//! 1. [`parse`] identifies the provider from the request headers (in Argo CD's order:
//!    `X-Vss-ActivityId`, `X-Gogs-Event`, `X-GitHub-Event`, `X-Gitlab-Event`, `X-Hook-UUID`,
//!    `X-Event-Key`), authenticates the request against the secrets of `argocd-secret`
//!    ([`WebhookSecrets`]), and turns a push payload into a provider-independent
//!    [`PushEvent`]; other events (pings, pull requests...) come back as
//!    [`WebhookOutcome::Ignored`].
//! 2. [`source_matches`] tells whether a push concerns an application source (same
//!    repository, matching revision), and [`app_files_changed`] whether the files it changed
//!    concern the application under its `argocd.argoproj.io/manifest-generate-paths`
//!    annotation.
//! 3. [`parse_max_payload_size`] reads `webhook.maxPayloadSizeMB` of `argocd-cm`.
//!
//! The HTTP handler (method check, body limit, response codes, queueing) and the refresh of
//! the matching applications belong to the caller.
//!
//! # Unconfigured secrets
//!
//! As in Argo CD, a provider whose secret is not configured accepts unauthenticated requests:
//! the webhook payload is untrusted anyway, and Argo CD only takes from it which repository
//! and revision to refresh. Configure the secrets when the API server is reachable from
//! untrusted networks.

mod error;
mod matching;
mod paths;
mod payload;
mod secrets;
mod verify;

#[cfg(test)]
mod tests;

use std::fmt;

use axum::http::HeaderMap;

pub use error::WebhookError;
pub use matching::{
    AppSourceRef, parse_revision, repo_url_matches, revision_matches, source_matches,
};
pub use paths::{
    MANIFEST_GENERATE_PATHS_ANNOTATION, app_files_changed, files_under_refresh_paths,
    source_refresh_paths,
};
pub use secrets::{
    AZURE_DEVOPS_PASSWORD_KEY, AZURE_DEVOPS_USERNAME_KEY, BITBUCKET_SERVER_SECRET_KEY,
    BITBUCKET_UUID_KEY, GITHUB_SECRET_KEY, GITLAB_SECRET_KEY, GOGS_SECRET_KEY, SecretValue,
    WebhookSecrets,
};

/// Argo CD's default webhook payload limit: 50 MiB (`webhook.maxPayloadSizeMB` unset).
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 50 * 1024 * 1024;

/// The `argocd-cm` key of the webhook payload limit, in MiB.
pub const MAX_PAYLOAD_SIZE_KEY: &str = "webhook.maxPayloadSizeMB";

/// The Git provider that sent a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// GitHub and GitHub Enterprise.
    GitHub,
    /// GitLab (projects and system hooks).
    GitLab,
    /// Bitbucket Cloud.
    Bitbucket,
    /// Bitbucket Server / Data Center.
    BitbucketServer,
    /// Azure DevOps (Services and Server).
    AzureDevOps,
    /// Gogs.
    Gogs,
}

impl Provider {
    /// Argo CD's identifier of the provider (`github`, `gitlab`, `bitbucket`,
    /// `bitbucketserver`, `azuredevops`, `gogs`), as in the `argocd-secret` keys.
    pub fn id(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Bitbucket => "bitbucket",
            Provider::BitbucketServer => "bitbucketserver",
            Provider::AzureDevOps => "azuredevops",
            Provider::Gogs => "gogs",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::GitHub => "GitHub",
            Provider::GitLab => "GitLab",
            Provider::Bitbucket => "Bitbucket",
            Provider::BitbucketServer => "Bitbucket Server",
            Provider::AzureDevOps => "Azure DevOps",
            Provider::Gogs => "Gogs",
        })
    }
}

/// A push (of branches or tags), independent of the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushEvent {
    /// Who sent it.
    pub provider: Provider,
    /// The repository URLs the payload gives, without duplicates. The first is the one Argo CD
    /// matches on (GitHub/Gogs `repository.html_url`, GitLab `project.web_url`, Bitbucket
    /// `repository.links.html.href`, Azure DevOps `resource.repository.remoteUrl`, Bitbucket
    /// Server the first clone link); the others are the further forms the payload lists
    /// (clone and SSH URLs). Never empty.
    pub repo_urls: Vec<String>,
    /// The pushed branch or tag, with `refs/heads/` or `refs/tags/` stripped (Argo CD's
    /// [`parse_revision`]); Bitbucket Cloud sends bare names, taken as they are. Empty when
    /// the payload lists no change (for example a Bitbucket branch deletion).
    pub revision: String,
    /// The commit the ref points to after the push (`after`, `toHash`, `newObjectId`...);
    /// all zeros when the ref was deleted.
    pub change_sha: Option<String>,
    /// The commit the ref pointed to before the push (`before`, `fromHash`, `oldObjectId`...),
    /// which Argo CD uses to move cached manifests to `change_sha` when the app's files did not
    /// change.
    pub before_sha: Option<String>,
    /// The repository's default branch, when the payload says.
    pub default_branch: Option<String>,
    /// Whether the push moved the default branch (what `targetRevision: HEAD` follows): the
    /// revision is the default branch. Always `false` for GitLab tag pushes, and always `true`
    /// for Bitbucket Cloud and Server, whose payloads do not name the default branch (Argo CD
    /// errs on the side of refreshing).
    pub touched_head: bool,
    /// The files the pushed commits added, modified or removed (GitHub, GitLab, Gogs), in
    /// order and without duplicates; `None` when the provider does not list them (Bitbucket,
    /// Bitbucket Server, Azure DevOps), which means "anything may have changed".
    pub changed_files: Option<Vec<String>>,
}

/// What a verified webhook request amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// A push to act on.
    Push(PushEvent),
    /// An authentic event that is not a push (a ping, a pull request...): nothing to do, and
    /// not an error (Argo CD answers `200` to pings).
    Ignored {
        /// Who sent it.
        provider: Provider,
        /// The event name (`ping`, `pull_request`, `Merge Request Hook`, `diagnostics:ping`,
        /// `git.pullrequest.created`...).
        event: String,
    },
}

impl WebhookOutcome {
    /// The provider that sent the event.
    pub fn provider(&self) -> Provider {
        match self {
            WebhookOutcome::Push(event) => event.provider,
            WebhookOutcome::Ignored { provider, .. } => *provider,
        }
    }
}

const AZURE_DEVOPS_HEADER: &str = "X-Vss-ActivityId";
const GOGS_EVENT_HEADER: &str = "X-Gogs-Event";
const GITHUB_EVENT_HEADER: &str = "X-GitHub-Event";
const GITLAB_EVENT_HEADER: &str = "X-Gitlab-Event";
const BITBUCKET_UUID_HEADER: &str = "X-Hook-UUID";
const EVENT_KEY_HEADER: &str = "X-Event-Key";

/// The first value of a header, when present and non-empty (Go's `Header.Get(...) != ""`).
pub(crate) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers
        .get(name)
        .map(|value| value.as_bytes())
        .filter(|value| !value.is_empty())
}

fn header_string(headers: &HeaderMap, name: &str) -> String {
    String::from_utf8_lossy(header(headers, name).unwrap_or_default()).into_owned()
}

/// The provider a request comes from, by its headers, in Argo CD's order: Azure DevOps
/// (`X-Vss-ActivityId`), Gogs (`X-Gogs-Event`, checked before GitHub because Gogs also sends
/// GitHub headers), GitHub (`X-GitHub-Event`), GitLab (`X-Gitlab-Event`), Bitbucket Cloud
/// (`X-Hook-UUID`), Bitbucket Server (`X-Event-Key` without `X-Hook-UUID`).
pub fn detect_provider(headers: &HeaderMap) -> Option<Provider> {
    [
        (AZURE_DEVOPS_HEADER, Provider::AzureDevOps),
        (GOGS_EVENT_HEADER, Provider::Gogs),
        (GITHUB_EVENT_HEADER, Provider::GitHub),
        (GITLAB_EVENT_HEADER, Provider::GitLab),
        (BITBUCKET_UUID_HEADER, Provider::Bitbucket),
        (EVENT_KEY_HEADER, Provider::BitbucketServer),
    ]
    .into_iter()
    .find(|(name, _)| header(headers, name).is_some())
    .map(|(_, provider)| provider)
}

fn require_body(provider: Provider, body: &[u8]) -> Result<(), WebhookError> {
    if body.is_empty() {
        Err(WebhookError::EmptyPayload { provider })
    } else {
        Ok(())
    }
}

fn ignored(provider: Provider, event: impl Into<String>) -> Result<WebhookOutcome, WebhookError> {
    Ok(WebhookOutcome::Ignored {
        provider,
        event: event.into(),
    })
}

/// Verifies and parses a webhook request.
///
/// Per provider, when its secret is configured (see [`WebhookSecrets`]; unconfigured means
/// accepted unauthenticated, as in Argo CD):
///
/// * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. The legacy SHA-1
///   `X-Hub-Signature` is not accepted (Argo CD does not accept it either). `push` is parsed;
///   other events (`ping`...) are verified, then ignored.
/// * GitLab: `X-Gitlab-Token` equal to the secret, checked before anything else. `Push Hook`,
///   `Tag Push Hook` and `System Hook`s of kind `push` / `tag_push` are parsed; other events
///   are ignored.
/// * Bitbucket Cloud: `X-Hook-UUID` equal to `webhook.bitbucket.uuid`; `X-Event-Key` is
///   required. `repo:push` is parsed; other events are ignored.
/// * Bitbucket Server: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`.
///   `repo:refs_changed` is parsed; `diagnostics:ping` is ignored without verification (as in
///   Argo CD, where the ping carries no signature check); other events are verified, then
///   ignored.
/// * Azure DevOps: HTTP basic auth with `webhook.azuredevops.username` and `.password`
///   (skipped only when both are unset). The body's `eventType` `git.push` is parsed; other
///   event types are ignored.
/// * Gogs: `X-Gogs-Signature: <hex HMAC-SHA256 of the body>`. `push` is parsed; other events
///   are ignored.
///
/// Every comparison with a secret is constant-time. An empty body is an error (except for
/// the Bitbucket Server ping). The payload size limit is the caller's (see
/// [`check_payload_size`]); so is rejecting methods other than `POST`.
pub fn parse(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &WebhookSecrets,
) -> Result<WebhookOutcome, WebhookError> {
    let provider = detect_provider(headers).ok_or(WebhookError::UnknownProvider)?;
    match provider {
        Provider::AzureDevOps => {
            verify::azure_devops(
                headers,
                secrets.azure_devops_username.as_ref(),
                secrets.azure_devops_password.as_ref(),
            )?;
            require_body(provider, body)?;
            let root = payload::parse_json(provider, body)?;
            let event_type = root.get("eventType").and_then(|v| v.as_str());
            match event_type {
                Some("git.push") => Ok(WebhookOutcome::Push(payload::azure_devops(&root)?)),
                other => ignored(provider, other.unwrap_or_default()),
            }
        }
        Provider::Gogs => {
            let event = header_string(headers, GOGS_EVENT_HEADER);
            require_body(provider, body)?;
            verify::gogs(headers, body, secrets.gogs.as_ref())?;
            if event != "push" {
                return ignored(provider, event);
            }
            let root = payload::parse_json(provider, body)?;
            Ok(WebhookOutcome::Push(payload::github_like(provider, &root)?))
        }
        Provider::GitHub => {
            let event = header_string(headers, GITHUB_EVENT_HEADER);
            require_body(provider, body)?;
            verify::github(headers, body, secrets.github.as_ref())?;
            if event != "push" {
                return ignored(provider, event);
            }
            let root = payload::parse_json(provider, body)?;
            Ok(WebhookOutcome::Push(payload::github_like(provider, &root)?))
        }
        Provider::GitLab => {
            verify::gitlab(headers, secrets.gitlab.as_ref())?;
            let event = header_string(headers, GITLAB_EVENT_HEADER);
            require_body(provider, body)?;
            let tag = match event.as_str() {
                "Push Hook" => false,
                "Tag Push Hook" => true,
                "System Hook" => {
                    let root = payload::parse_json(provider, body)?;
                    // go-playground: `object_kind` decides, then `event_name`.
                    let kind = |field: &str| root.get(field).and_then(|v| v.as_str());
                    let tag = match (kind("object_kind"), kind("event_name")) {
                        (Some("push"), _) => false,
                        (Some("tag_push"), _) => true,
                        (Some("merge_request"), _) => return ignored(provider, event),
                        (_, Some("push")) => false,
                        (_, Some("tag_push")) => true,
                        _ => return ignored(provider, event),
                    };
                    return Ok(WebhookOutcome::Push(payload::gitlab(&root, tag)?));
                }
                _ => return ignored(provider, event),
            };
            let root = payload::parse_json(provider, body)?;
            Ok(WebhookOutcome::Push(payload::gitlab(&root, tag)?))
        }
        Provider::Bitbucket => {
            require_body(provider, body)?;
            let uuid = header(headers, BITBUCKET_UUID_HEADER).unwrap_or_default();
            let event = header(headers, EVENT_KEY_HEADER).ok_or(WebhookError::MissingHeader {
                provider,
                header: EVENT_KEY_HEADER,
            })?;
            verify::bitbucket(uuid, secrets.bitbucket_uuid.as_ref())?;
            if event != b"repo:push" {
                return ignored(provider, String::from_utf8_lossy(event));
            }
            let root = payload::parse_json(provider, body)?;
            Ok(WebhookOutcome::Push(payload::bitbucket(&root)?))
        }
        Provider::BitbucketServer => {
            let event = header_string(headers, EVENT_KEY_HEADER);
            if event == "diagnostics:ping" {
                return ignored(provider, event);
            }
            require_body(provider, body)?;
            verify::bitbucket_server(headers, body, secrets.bitbucket_server.as_ref())?;
            if event != "repo:refs_changed" {
                return ignored(provider, event);
            }
            let root = payload::parse_json(provider, body)?;
            Ok(WebhookOutcome::Push(payload::bitbucket_server(&root)?))
        }
    }
}

/// The webhook payload limit in bytes from `argocd-cm`'s `webhook.maxPayloadSizeMB`, as Argo
/// CD reads it: unset or empty gives [`DEFAULT_MAX_PAYLOAD_BYTES`]; otherwise a base-10
/// integer number of MiB (an optional sign allowed, no whitespace); a value that does not parse
/// is logged and gives the default. Zero or a negative number allows only empty bodies (Go's
/// `http.MaxBytesReader` treats a negative limit as zero); huge values saturate.
pub fn parse_max_payload_size(value: Option<&str>) -> usize {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return DEFAULT_MAX_PAYLOAD_BYTES;
    };
    match value.parse::<i64>() {
        Ok(mb) if mb <= 0 => 0,
        Ok(mb) => usize::try_from(mb)
            .ok()
            .and_then(|mb| mb.checked_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
        Err(error) => {
            tracing::warn!(
                value,
                %error,
                "failed to parse '{MAX_PAYLOAD_SIZE_KEY}' key of argocd-cm, using the default"
            );
            DEFAULT_MAX_PAYLOAD_BYTES
        }
    }
}

/// Rejects a payload larger than `limit` bytes (see [`parse_max_payload_size`]); the HTTP
/// layer should rather stop reading the body once it passes the limit.
pub fn check_payload_size(size: usize, limit: usize) -> Result<(), WebhookError> {
    if size > limit {
        Err(WebhookError::PayloadTooLarge { size, limit })
    } else {
        Ok(())
    }
}
