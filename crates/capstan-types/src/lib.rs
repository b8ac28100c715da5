//! Argo CD-compatible API object types and typed settings for Capstan.
//!
//! This crate's job is to describe, in Rust, exactly the objects Argo CD users already write:
//!
//! * [`Application`], [`AppProject`] and [`ApplicationSet`] (`argoproj.io/v1alpha1`) with
//!   Argo CD's field names, and their CustomResourceDefinitions ([`crds`]);
//! * the settings in the `argocd-cm` and `argocd-rbac-cm` ConfigMaps, parsed into typed values
//!   with errors that name the key (and line) at fault ([`settings`]);
//! * helpers to pull the YAML documents out of the users' guide for tests ([`seed`]).
//!
//! **Architecture Invariant:** this crate is pure. It performs no IO of any kind (callers pass
//! ConfigMap data and documents in) and must never depend on tokio, kube's client or runtime
//! (only `kube`'s `derive` feature), tonic/prost, Redis, or an HTTP client or server (the
//! `http` types kube-core pulls in are plain data).
//!
//! **Architecture Invariant:** nothing a user writes is silently dropped. Every object struct
//! keeps fields it does not model in an `extra` map that round-trips, every object in the CRD
//! schemas preserves unknown fields, and [`UnknownFields`] lists what was not modelled. Empty and
//! absent fields are omitted on output, as Argo CD's `omitempty` does; optional booleans and
//! numbers a user writes are `Option`s so that an explicit `false` or `0` round-trips too.

#[macro_use]
mod macros;

pub mod app_project;
pub mod application;
pub mod application_set;
pub mod crds;
pub mod glob;
pub mod managed;
mod schema;
pub mod seed;
pub mod selector;
mod ser;
pub mod settings;
mod unknown;

pub use app_project::{AppProject, AppProjectSpec, AppProjectStatus};
pub use application::{Application, ApplicationSpec, ApplicationStatus, Operation};
pub use application_set::{ApplicationSet, ApplicationSetSpec, ApplicationSetStatus};
pub use unknown::UnknownFields;
