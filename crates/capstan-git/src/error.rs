//! The crate's error type. Every URL in an error is stripped of credentials
//! ([`crate::strip_credentials`]), and messages that come from libgit2 are scrubbed of the
//! password, token or key before they are stored, so an error can be logged or returned to an
//! API client as it is.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in `capstan-git`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The server rejected the credentials (HTTP 401/403 after one attempt, SSH key refused).
    #[error("authentication failed for {url}: {}", auth_hint(url))]
    AuthenticationFailed {
        /// The repository URL, without credentials.
        url: String,
    },

    /// The server asks for credentials and no repository Secret provides any.
    #[error(
        "authentication required for {url}: add a repository Secret (or repo-creds) with credentials for it"
    )]
    AuthenticationRequired {
        /// The repository URL, without credentials.
        url: String,
    },

    /// The credentials do not fit the transport (an SSH key for an https URL, or the reverse).
    #[error("the credentials for {url} do not fit its transport: {reason}")]
    CredentialsMismatch {
        /// The repository URL, without credentials.
        url: String,
        /// What the server asked for and what the Secret holds.
        reason: String,
    },

    /// The SSH server's host key is not in `known_hosts` (or is revoked there), and the
    /// repository is not marked `insecure`.
    #[error("host key verification failed for {url}: {reason}")]
    HostKeyRejected {
        /// The repository URL, without credentials.
        url: String,
        /// Why the key was refused.
        reason: String,
    },

    /// A network operation (ls-remote or fetch) failed for another reason.
    #[error("git {op} of {url} failed: {message}")]
    Network {
        /// The repository URL, without credentials.
        url: String,
        /// `ls-remote` or `fetch`.
        op: &'static str,
        /// libgit2's message, scrubbed of credentials.
        message: String,
    },

    /// A network operation did not finish within the configured `op_timeout`.
    #[error("git {op} of {url} timed out after {after:?}")]
    Timeout {
        /// The repository URL, without credentials.
        url: String,
        /// `ls-remote` or `fetch`.
        op: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },

    /// No branch, tag or commit of the repository matches the revision.
    #[error("unable to resolve revision '{revision}' to a commit SHA in {url}")]
    RevisionNotFound {
        /// The repository URL, without credentials.
        url: String,
        /// The revision as requested.
        revision: String,
    },

    /// A short SHA matches more than one object.
    #[error("revision '{revision}' is ambiguous in {url}: use more characters of the SHA")]
    AmbiguousRevision {
        /// The repository URL, without credentials.
        url: String,
        /// The revision as requested.
        revision: String,
    },

    /// A full 40-hex-digit commit SHA was required.
    #[error("'{sha}' is not a full commit SHA (40 hex digits)")]
    InvalidSha {
        /// The value given.
        sha: String,
    },

    /// The repository URL is empty or unusable.
    #[error("invalid repository URL '{url}'")]
    InvalidUrl {
        /// The URL, without credentials.
        url: String,
    },

    /// A symlink in the commit points outside the checkout (absolute, or via `..`): such a
    /// commit is refused as a whole, since renderers would follow it (Argo CD's
    /// out-of-bounds-symlink CVEs).
    #[error("symlink {path} points outside the repository (to '{target}')")]
    SymlinkEscape {
        /// The symlink's path, relative to the repository root.
        path: String,
        /// Where it points.
        target: String,
    },

    /// A tree entry name that could escape the checkout directory or replace `.git`.
    #[error("unsafe path '{path}' in commit {sha} of {url}")]
    UnsafePath {
        /// The repository URL, without credentials.
        url: String,
        /// The commit.
        sha: String,
        /// The offending path.
        path: String,
    },

    /// The commit's tree exceeds the configured checkout limits.
    #[error("commit {sha} of {url} is too large to check out: {what}")]
    CheckoutTooLarge {
        /// The repository URL, without credentials.
        url: String,
        /// The commit.
        sha: String,
        /// Which limit was exceeded.
        what: String,
    },

    /// A glob pattern for [`crate::files_matching`] is invalid.
    #[error("invalid file pattern '{pattern}': {message}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// Why it is invalid.
        message: String,
    },

    /// A local operation on the mirror failed (corrupt object, missing object, ...).
    #[error("git mirror of {url}: {message}")]
    Mirror {
        /// The repository URL, without credentials.
        url: String,
        /// What failed.
        message: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },

    /// File system IO failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },

    /// A blocking git task panicked or was cancelled.
    #[error("git task failed: {0}")]
    Task(String),
}

impl GitError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        GitError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// `true` for errors about credentials (failed, missing, mismatched, host key): retrying
    /// without changing the repository Secret does not help.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            GitError::AuthenticationFailed { .. }
                | GitError::AuthenticationRequired { .. }
                | GitError::CredentialsMismatch { .. }
                | GitError::HostKeyRejected { .. }
        )
    }
}

fn auth_hint(url: &str) -> &'static str {
    if crate::url::is_ssh_url(url) {
        "check the SSH private key of its repository Secret and that the key has access"
    } else {
        "check the username and password or token of its repository Secret"
    }
}
