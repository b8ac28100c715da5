//! `capstan-cache` — Capstan's Redis cache, and the only crate that knows Redis.
//!
//! It stores typed values under hashed keys, compressed and encrypted, each with a TTL; it
//! carries pub/sub notifications (resource-tree updates); and it offers [`singleflight`], so
//! that concurrent requests for the same expensive thing (a manifest render) run it once.
//!
//! ```no_run
//! # async fn demo() -> Result<(), capstan_cache::CacheError> {
//! use std::time::Duration;
//! use capstan_cache::{Cache, CacheConfig, EncryptionKey};
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let key = EncryptionKey::load_or_generate(None)?;
//! let mut config = CacheConfig::new(Some("redis://127.0.0.1:6379".into()), key);
//! config.initiator = "repo-server".into();
//! let cache = Cache::new(config, &mut registry)?;
//!
//! let key = cache.key("manifests", &("https://host/repo.git", "0123abc", "apps/x"));
//! if cache.get::<Vec<String>>(&key).await.is_none() {
//!     let rendered = vec!["kind: ConfigMap".to_string()];
//!     cache.set(&key, &rendered, Duration::from_secs(24 * 3600)).await;
//! }
//! # Ok(()) }
//! ```
//!
//! ## Invariants
//!
//! - **Redis is a cache that can be flushed at any time.** Every caller keeps working while
//!   it is down, empty or slow: [`Cache::get`] returns `None` for a miss, a Redis failure and
//!   an undecodable value alike; [`Cache::set`] and [`Cache::delete`] never fail. Every Redis
//!   call is bounded by `op_timeout`; after a failure Redis is skipped for `retry_after` and
//!   then retried, so an outage costs callers nothing but the cache, and recovery is
//!   automatic.
//! - **No URL, secret or user input in key names.** A [`CacheKey`] is
//!   `<prefix>:<kind>:<sha256 of the canonical JSON of the parts>`; `kind` is a
//!   `&'static str` chosen in code.
//! - **Every key has a TTL.** Values are written with `SET … PX`; a zero TTL is refused.
//! - **Nothing is stored in clear.** Values (and pub/sub payloads) are JSON, gzip'd, then
//!   sealed with ChaCha20-Poly1305 under [`EncryptionKey`], bound to their key name; a
//!   tampered, truncated, moved or foreign value reads as a miss. So rendered `Secret`
//!   manifests are safe in a Redis shared with others.
//!
//! This crate must never depend on kube, tonic or git2: it caches values, it does not know
//! what they mean.

mod args;
mod cache;
mod codec;
mod config;
mod error;
mod health;
mod key;
mod metrics;
pub mod singleflight;

pub use cache::{Cache, CacheStats};
pub use config::{
    CacheConfig, DEFAULT_OP_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_PREFIX, DEFAULT_RETRY_AFTER,
    EncryptionKey, RedisOptions,
};
pub use error::CacheError;
pub use key::CacheKey;

/// The kinds of entries components share through the cache, and their pub/sub channels: one
/// place for the names a writer and its readers must agree on.
pub mod kinds {
    /// An Application's resource tree, keyed by `(app namespace, app name)`; written by the
    /// controller, read by the API server.
    pub const RESOURCE_TREE: &str = "resource-tree";
    /// Channel announcing a new resource tree; the payload is `<app namespace>/<app name>`.
    pub const RESOURCE_TREE_CHANNEL: &str = "resource-tree-updates";
    /// An Application's managed resources with their diffs (Secret values masked), keyed by
    /// `(app namespace, app name)`; written by the controller, read by the API server.
    pub const MANAGED_RESOURCES: &str = "managed-resources";
    /// A revoked token id (value `true`), kept until the token would have expired.
    pub const REVOKED_TOKEN: &str = "revoked-token";
    /// A browser login in progress (nonce, PKCE verifier, return path), keyed by its `state`;
    /// written by the auth-gateway at `/auth/login`, taken once at `/auth/callback`.
    pub const OIDC_LOGIN: &str = "oidc-login";
}
