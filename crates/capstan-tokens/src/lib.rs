//! Capstan's session and API tokens: JWTs signed with Ed25519 (JWS `alg`
//! `EdDSA`, RFC 8037), their keys, and their verification.
//!
//! Capstan mirrors Argo CD's tokens: a login session is a JWT the
//! auth-gateway issues, a project-role or account API token is a JWT the
//! api-server issues (`sub` `proj:<project>:<role>`, `jti` listed on the
//! role), and the api-server verifies both on every call. Unlike Argo CD's
//! HMAC-signed tokens, Capstan's are signed with Ed25519 keys identified by
//! `kid`, so verifiers need only public keys (a JWKS) and keys rotate
//! without logging everyone out.
//!
//! - [`SigningKey`] — an Ed25519 private key with its key id; PKCS#8 PEM in
//!   and out.
//! - [`KeySet`] — the installation's keys, read from and written to a
//!   Kubernetes Secret's data (layout in [`KeySet`]'s docs); the active key
//!   signs, all verify; rotation with [`KeySet::with_new_key`].
//! - [`Jwks`] / [`PublicKey`] — the public keys as an RFC 7517 JWK Set.
//! - [`Verifier`] — checks algorithm, key, signature, issuer, audience and
//!   times, with `now` passed in.
//! - [`Claims`] — the payload, with [`Claims::new_session`] and
//!   [`Claims::new_api_token`].
//! - [`TokenError`] — failures, with messages fit for API callers that never
//!   include a token or key material.
//!
//! ```
//! use std::time::Duration;
//! use capstan_tokens::{Claims, KeySet, Verifier};
//!
//! let keys = KeySet::generate()?;
//! let now = 1_790_000_000;
//! let claims = Claims::new_session("alice", vec!["admins".into()], now, Duration::from_secs(3600));
//! let token = keys.sign(&claims)?;
//!
//! // The api-server gets the JWKS, never the private keys.
//! let verifier = Verifier::from_jwks(&keys.jwks())?;
//! assert_eq!(verifier.verify(&token, now + 10)?, claims);
//! # Ok::<(), capstan_tokens::TokenError>(())
//! ```
//!
//! # Purity
//!
//! This crate is pure computation: key material arrives as bytes (read from
//! a Secret by the caller), the clock arrives as a number, and the only
//! thing taken from the environment is randomness (`getrandom`) for new keys
//! and token ids. It must never depend on IO, tokio, kube, tonic or Redis.
//!
//! # Crypto backend
//!
//! Signing and verification go through `jsonwebtoken` 11 with its pure-Rust
//! `rust_crypto` backend (ed25519-dalek); nothing needs to be installed at
//! run time. This crate installs that backend as jsonwebtoken's process-wide
//! `CryptoProvider` on first use unless another provider was installed
//! before, so it keeps working should another crate in the same binary also
//! enable jsonwebtoken's `aws_lc_rs` feature (with both features on,
//! jsonwebtoken would otherwise panic).

#![deny(missing_docs)]

pub mod accounts;
mod claims;
pub mod cookie;
mod error;
mod jwks;
mod keys;
mod keyset;
mod provider;
mod time;
mod verifier;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use claims::{Audience, Claims, new_token_id, project_role_subject};
pub use error::TokenError;
pub use jwks::{Jwk, Jwks};
pub use keys::{PublicKey, SigningKey};
pub use keyset::{ACTIVE_KEY, KeySet, PEM_SUFFIX};
pub use verifier::Verifier;

/// The `iss` of every token Capstan issues (Argo CD's is `argocd`).
pub const ISSUER: &str = "capstan";

/// The default `aud` of Capstan's tokens, and the audience a [`Verifier`]
/// requires unless told otherwise.
pub const AUDIENCE: &str = "capstan";

/// The one JWS algorithm Capstan signs with and accepts.
pub const ALGORITHM: &str = "EdDSA";

/// Clock skew a [`Verifier`] allows on `exp`, `nbf` and `iat` by default.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Longest token a [`Verifier`] reads, in bytes; longer ones are
/// [`TokenError::Malformed`] before any parsing.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
