//! `capstan-git` — Git for Capstan: one bare mirror per repository, revision resolution with
//! coalescing (one ls-remote per repository per interval, however many callers), read-only
//! commit checkouts shared between concurrent users, Argo CD's repository credential matching,
//! and the ApplicationSet Git generators' file and directory listings.
//!
//! **Must never depend on** kube, tonic/prost, Redis or the renderers: it is the Git layer the
//! repo-server builds on, and it is tested against a real Git server alone. Kubernetes Secrets
//! come in as plain values ([`RepoSecret`]).
//!
//! Guarantees:
//!
//! - No URL with credentials is ever printed: every error, log line and metric label carries
//!   the URL with its user information stripped ([`strip_credentials`]), libgit2's messages
//!   are scrubbed of passwords, and `Debug`/`Display` of [`RepoAuth`] mask secrets as `***`.
//! - Mirrors live under `<root>/mirrors/<sha256 of the normalised URL>`; the URL never
//!   appears in a path.
//! - A checkout never holds a symlink that resolves outside it: such a commit fails with
//!   [`GitError::SymlinkEscape`].
//! - Credentials gate the network, not the mirror: what a mirror already holds (a full SHA,
//!   a checkout, refs remembered within `fetch_interval` for the *same* credentials) is served
//!   to any caller of that URL. Deciding who may read a repository (AppProject source repos,
//!   RBAC) is the caller's job, as in Argo CD's repo-server.
//! - Blocking libgit2 work runs on tokio's blocking pool; each network operation is bounded
//!   by `op_timeout` (checked by libgit2's progress callbacks and by a tokio timeout; libgit2's
//!   own socket timeouts are set through `unsafe` APIs, which the workspace forbids).
//!
//! ```no_run
//! # async fn demo() -> Result<(), capstan_git::GitError> {
//! use capstan_git::{GitConfig, GitStore, RepoAuth};
//! let mut registry = prometheus_client::registry::Registry::default();
//! let store = GitStore::new(GitConfig::new("/var/lib/capstan/git"), &mut registry)?;
//! let auth = RepoAuth::user_pass("git", "token");
//! let sha = store.resolve_revision("https://example.com/org/repo.git", &auth, "main").await?;
//! let checkout = store.checkout("https://example.com/org/repo.git", &auth, &sha).await?;
//! let files = capstan_git::files_matching(checkout.path(), "apps/**/config.json")?;
//! # let _ = files; Ok(()) }
//! ```

mod checkout;
mod creds;
mod error;
mod generators;
mod known_hosts;
mod metrics;
mod remote;
mod store;
mod url;

pub use checkout::{Checkout, CheckoutLimits};
pub use creds::{
    AuthKind, RepoAuth, RepoSecret, SecretType, credentials_for, credentials_for_project,
};
pub use error::GitError;
pub use generators::{GlobStyle, directories, files_matching, files_matching_with};
pub use known_hosts::{HostKeyStatus, KnownHosts, PresentedKey};
pub use store::{CommitMetadata, GitConfig, GitStats, GitStore, Refs};
pub use url::{is_ssh_url, normalize_url, strip_credentials};
