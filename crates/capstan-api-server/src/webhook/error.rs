//! Errors of webhook verification and parsing.

use super::Provider;

/// Why a webhook request was rejected.
///
/// Messages never contain secret values: only header names, provider names and what was wrong
/// with the payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No header identifies the Git provider (Argo CD answers `400 Unknown webhook event`).
    #[error(
        "unknown webhook event: none of the X-Vss-ActivityId, X-Gogs-Event, X-GitHub-Event, \
         X-Gitlab-Event, X-Hook-UUID or X-Event-Key headers is set"
    )]
    UnknownProvider,

    /// A header the provider always sends is missing.
    #[error("missing {header} header in a {provider} webhook")]
    MissingHeader {
        /// The provider the request was identified as.
        provider: Provider,
        /// The missing header.
        header: &'static str,
    },

    /// The provider's secret is configured but the request carries no signature.
    #[error("missing {header} header: the {} webhook secret is configured, so requests must be signed", .provider.id())]
    MissingSignature {
        /// The provider the request was identified as.
        provider: Provider,
        /// The signature header that is missing.
        header: &'static str,
    },

    /// The signature header is not of the form the provider uses.
    #[error("malformed {header} header in a {provider} webhook")]
    MalformedSignature {
        /// The provider the request was identified as.
        provider: Provider,
        /// The malformed signature header.
        header: &'static str,
    },

    /// The HMAC of the body does not match the signature header.
    #[error("webhook signature does not match the {} secret", .provider.id())]
    SignatureMismatch {
        /// The provider the request was identified as.
        provider: Provider,
    },

    /// `X-Gitlab-Token` differs from `webhook.gitlab.secret`.
    #[error("X-Gitlab-Token does not match the gitlab secret")]
    GitLabTokenMismatch,

    /// `X-Hook-UUID` differs from `webhook.bitbucket.uuid`.
    #[error("X-Hook-UUID does not match the bitbucket uuid")]
    BitbucketUuidMismatch,

    /// Missing, malformed or wrong HTTP basic auth for Azure DevOps.
    #[error("basic auth credentials do not match the azuredevops username and password")]
    BasicAuthMismatch,

    /// The body is empty (Argo CD: "error parsing payload").
    #[error("empty {provider} webhook payload")]
    EmptyPayload {
        /// The provider the request was identified as.
        provider: Provider,
    },

    /// The body is larger than `webhook.maxPayloadSizeMB`.
    #[error(
        "webhook payload of {size} bytes is larger than the {limit} bytes allowed by \
         webhook.maxPayloadSizeMB"
    )]
    PayloadTooLarge {
        /// The size of the payload.
        size: usize,
        /// The configured limit.
        limit: usize,
    },

    /// The body is not JSON.
    #[error("{provider} webhook payload is not valid JSON: {reason}")]
    InvalidJson {
        /// The provider the request was identified as.
        provider: Provider,
        /// What the JSON parser reported.
        reason: String,
    },

    /// The body is JSON but lacks what the event needs.
    #[error("payload is not a valid {provider} {kind}: {reason}")]
    InvalidPayload {
        /// The provider the request was identified as.
        provider: Provider,
        /// The kind of event, such as `push event`.
        kind: &'static str,
        /// What is wrong, such as `missing field repository`.
        reason: String,
    },
}

impl WebhookError {
    /// Whether the request failed authentication (a wrong or missing signature, token, UUID
    /// or password), as opposed to being malformed. Argo CD logs these with `security: 3`.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            WebhookError::MissingSignature { .. }
                | WebhookError::MalformedSignature { .. }
                | WebhookError::SignatureMismatch { .. }
                | WebhookError::GitLabTokenMismatch
                | WebhookError::BitbucketUuidMismatch
                | WebhookError::BasicAuthMismatch
        )
    }
}
