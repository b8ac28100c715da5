//! capstan-kube: Kubernetes plumbing the api-server and the auth-gateway share — the watched
//! settings objects (`argocd-cm`, `argocd-rbac-cm`, `argocd-secret`, the signing keys), kept
//! current with their last good parsed values, and the token signing-key Secret (created,
//! read, rotated).
//!
//! **Architecture Invariant:** plumbing only: parsing belongs to `capstan-types` and
//! `capstan-tokens`, decisions to the components. Never logs Secret data. Depends on no
//! component crate.

pub mod settings;
pub mod signing_keys;
