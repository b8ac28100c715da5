//! capstan-kube: Kubernetes plumbing the api-server and the auth-gateway share — the watched
//! settings objects (`argocd-cm`, `argocd-rbac-cm`, `argocd-secret`, the signing keys), kept
//! current with their last good parsed values, the token signing-key Secret (created, read,
//! rotated), and what ApplicationSet generators read (cluster Secrets, repo-server data).
//!
//! **Architecture Invariant:** plumbing only: parsing belongs to `capstan-types` and
//! `capstan-tokens`, decisions to the components. Never logs Secret data. Depends on no
//! component crate.

pub mod appset;
pub mod settings;
pub mod signing_keys;
