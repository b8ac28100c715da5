//! capstan-appset: what an ApplicationSet generates, as pure functions — the generators'
//! parameter sets (list, clusters, git directories and files, matrix, merge, `selector`
//! post-filters) and the rendering of the template with Argo CD's default `{{param}}`
//! substitution (fasttemplate: nested keys flattened as `a.b`, unknown parameters left as
//! written).
//!
//! Inputs that need IO — the registered clusters, a repository's directories and files at a
//! revision — arrive as values ([`Sources`]); the ApplicationSet controller and the
//! api-server's dry run fetch them, so both generate with the same code.
//!
//! With `goTemplate: true` the parameters stay nested (`.path.basename`,
//! `.metadata.labels.env`) and every string renders as a Go text/template ([`gotemplate`],
//! with `goTemplateOptions: ["missingkey=error"]`), and `templatePatch` is rendered and merged
//! into each Application. Not yet: generator-level template overrides, matrix children that
//! refer to each other's parameters.
//!
//! **Architecture Invariant:** pure — no IO, tokio, kube, tonic or Redis.

pub mod generate;
pub mod gotemplate;
pub mod keep;
pub mod params;
pub mod render;
pub mod template;

pub use generate::{ClusterInfo, GenerateError, GitFile, Sources, generate, needs};
pub use keep::keep_live_fields;
pub use params::Params;
pub use render::applications;
pub use template::render_fasttemplate;
