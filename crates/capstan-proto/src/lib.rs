//! Capstan's gRPC contracts: the tonic/prost code generated from every `.proto` file
//! under the workspace's `proto/` directory, and the conversions that go with it.
//!
//! Each protobuf package `capstan.<name>.v1` is the module `<name>::v1` (for example
//! [`repo::v1`]): its messages, a `<service>_client` module with the tonic client and a
//! `<service>_server` module with the server trait and its tower service. The internal
//! contracts are [`repo::v1`] (repo-server) and [`auth::v1`] (auth-gateway); the rest
//! is the api-server's public API, with Argo CD's method names and request fields.
//!
//! Kubernetes objects (Application, AppProject, ApplicationSet, live resources, resource
//! trees, Events) cross gRPC as JSON in [`common::v1::KubeObject`], because the Rust CRD
//! types in `capstan-types` are the single source of truth for their schema; everything
//! else is typed proto fields. See the comment at the top of
//! `proto/capstan/application/v1/application.proto`. [`KubeObject::from_object`] and
//! [`KubeObject::to_object`] convert between the JSON and any serde type.
//!
//! [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set of all the contracts (imports
//! included), for registering gRPC reflection.
//!
//! [`endpoints::Balanced`] is how a client reaches every replica of a component: calls spread
//! over every address a (headless Service) name resolves to, resolved again every 30 s.
//!
//! **Invariant:** this crate is only the contract (and how to reach its servers). It never
//! depends on business logic crates (diff, health, sync, render, authz), on kube IO or on
//! Redis, and it is the only crate that knows protobuf. The build needs no system `protoc`
//! (see `build.rs`).
//!
//! [`KubeObject`]: common::v1::KubeObject
//! [`KubeObject::from_object`]: common::v1::KubeObject::from_object
//! [`KubeObject::to_object`]: common::v1::KubeObject::to_object

mod convert;
pub mod endpoints;

pub use convert::{ConversionError, required};

/// The encoded `google.protobuf.FileDescriptorSet` of every contract in `proto/`,
/// including the well-known types they import. Register it with tonic-reflection's
/// `Builder::register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/capstan_descriptor_set.bin"));

/// Declares the module of one protobuf package `capstan.<name>.v1`.
///
/// The module tree must mirror the package names exactly: prost refers to types of
/// other packages by relative paths (`super::super::common::v1::KubeObject`), with this
/// crate's root standing for the `capstan` package.
macro_rules! package {
    ($(#[$doc:meta])* $name:ident => $file:literal) => {
        $(#[$doc])*
        pub mod $name {
            /// Version 1 of the contract (generated code).
            #[allow(clippy::all, clippy::pedantic, missing_debug_implementations, missing_docs)]
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/", $file));
            }
        }
    };
}

package!(
    /// `capstan.common.v1`: messages shared by the other contracts (`KubeObject`,
    /// `ListMeta`, `ResourceRef`, `WatchEventType`, `ConnectionState`).
    common => "capstan.common.v1.rs"
);
package!(
    /// `capstan.repo.v1`: the repo-server's internal `RepoServerService`
    /// (manifest generation, revision resolution, Git queries).
    repo => "capstan.repo.v1.rs"
);
package!(
    /// `capstan.application.v1`: the api-server's `ApplicationService`.
    application => "capstan.application.v1.rs"
);
package!(
    /// `capstan.applicationset.v1`: the api-server's `ApplicationSetService`.
    applicationset => "capstan.applicationset.v1.rs"
);
package!(
    /// `capstan.project.v1`: the api-server's `ProjectService`.
    project => "capstan.project.v1.rs"
);
package!(
    /// `capstan.repository.v1`: the api-server's `RepositoryService` (repositories and
    /// credential templates).
    repository => "capstan.repository.v1.rs"
);
package!(
    /// `capstan.cluster.v1`: the api-server's `ClusterService`.
    cluster => "capstan.cluster.v1.rs"
);
package!(
    /// `capstan.session.v1`: the api-server's `SessionService`.
    session => "capstan.session.v1.rs"
);
package!(
    /// `capstan.account.v1`: the api-server's `AccountService`.
    account => "capstan.account.v1.rs"
);
package!(
    /// `capstan.settings.v1`: the api-server's `SettingsService`.
    settings => "capstan.settings.v1.rs"
);
package!(
    /// `capstan.version.v1`: the api-server's `VersionService`.
    version => "capstan.version.v1.rs"
);
package!(
    /// `capstan.auth.v1`: the auth-gateway's internal `AuthService` (token
    /// verification, issuing, revocation, JWKS).
    auth => "capstan.auth.v1.rs"
);
