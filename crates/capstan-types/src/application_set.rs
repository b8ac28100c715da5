//! `ApplicationSet` (`argoproj.io/v1alpha1`): a template plus generators that produce
//! parameter sets; one Application is rendered per parameter set.
//!
//! Field names and shapes follow Argo CD's `applicationset_types.go`.
//!
//! Nesting: a top-level `matrix` or `merge` generator holds nested generators, which may
//! themselves be a `matrix` or `merge` of terminal (non-combining) generators. Argo CD stores
//! the second level as opaque JSON in its CRD because CRD schemas cannot be recursive; Capstan
//! does the same in the CRD schema but parses it into [`NestedMatrixGenerator`] /
//! [`NestedMergeGenerator`] in Rust.
//!
//! Templates: the template `spec` is an [`ApplicationSpec`], typed exactly as in an
//! Application (as in Argo CD). `{{...}}` placeholders therefore work in string fields; a
//! non-string field such as `automated.prune` cannot hold a placeholder, which is what
//! `templatePatch` is for. Per-generator override templates are partial by nature, so their CRD
//! schema is an object of any shape; in Rust they are still typed.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use serde_json::Value;

use crate::UnknownFields;
use crate::application::{ApplicationSpec, ResourceStatus};
use crate::ser::is_zero;

string_enum! {
    /// What the ApplicationSet controller may do to the Applications it generates.
    pub enum ApplicationsSyncPolicy {
        /// Only create.
        CreateOnly = "create-only",
        /// Create and update, never delete.
        CreateUpdate = "create-update",
        /// Create and delete, never update.
        CreateDelete = "create-delete",
        /// Create, update and delete (the default).
        Sync = "sync",
    }
}

string_enum! {
    /// Status of an ApplicationSet condition.
    pub enum ApplicationSetConditionStatus {
        /// The condition holds.
        True = "True",
        /// The condition does not hold.
        False = "False",
        /// Unknown.
        Unknown = "Unknown",
    }
}

argo_struct! {
    /// Generators, template and policies of an ApplicationSet.
    #[derive(CustomResource)]
    #[kube(
        group = "argoproj.io",
        version = "v1alpha1",
        kind = "ApplicationSet",
        namespaced,
        status = "ApplicationSetStatus",
        shortname = "appset",
        shortname = "appsets",
        derive = "PartialEq",
        derive = "Default",
        doc = "An Argo CD `ApplicationSet` (`argoproj.io/v1alpha1`)."
    )]
    pub struct ApplicationSetSpec {
        /// Render templates with Go templates (`{{.name}}`) instead of fasttemplate (`{{name}}`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub go_template: Option<bool>,
        /// Parameter generators; their results are combined (union).
        pub generators: Vec<ApplicationSetGenerator>,
        /// Template of the generated Applications.
        pub template: ApplicationSetTemplate,
        /// What the controller may do to generated Applications.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sync_policy: Option<ApplicationSetSyncPolicy>,
        /// Progressive sync strategy.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub strategy: Option<ApplicationSetStrategy>,
        /// Fields of generated Applications kept when they are updated.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub preserved_fields: Option<ApplicationPreservedFields>,
        /// Go template options (for example `missingkey=error`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub go_template_options: Vec<String>,
        /// Apply selectors of generators nested two levels deep.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub apply_nested_selectors: Option<bool>,
        /// Differences in generated Applications that are not reverted.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub ignore_application_differences: Vec<ApplicationSetResourceIgnoreDifferences>,
        /// Go template rendered and merged into each generated Application (for non-string fields).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub template_patch: Option<String>,
    }
}

argo_struct! {
    /// Template of generated Applications.
    pub struct ApplicationSetTemplate {
        /// Metadata of generated Applications.
        pub metadata: ApplicationSetTemplateMeta,
        /// Spec of generated Applications.
        pub spec: ApplicationSpec,
    }
}

argo_struct! {
    /// The metadata fields a template may set.
    pub struct ApplicationSetTemplateMeta {
        /// Name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Namespace.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Labels.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub labels: BTreeMap<String, String>,
        /// Annotations.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub annotations: BTreeMap<String, String>,
        /// Finalizers.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub finalizers: Vec<String>,
    }
}

argo_struct! {
    /// A top-level generator: exactly one kind is set.
    pub struct ApplicationSetGenerator {
        /// Fixed list of parameter sets.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub list: Option<ListGenerator>,
        /// One parameter set per registered cluster.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub clusters: Option<ClusterGenerator>,
        /// Parameter sets from directories or files in Git.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub git: Option<GitGenerator>,
        /// Parameter sets from repositories of an SCM provider (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub scm_provider: Option<Value>,
        /// Parameter sets from a duck-typed cluster decision resource (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub cluster_decision_resource: Option<Value>,
        /// Parameter sets from open pull requests (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub pull_request: Option<Value>,
        /// Cartesian product of two nested generators.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub matrix: Option<MatrixGenerator>,
        /// Nested generators merged on `mergeKeys`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub merge: Option<MergeGenerator>,
        /// Post-filter on the generated parameters.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
        /// Parameter sets from a plugin service (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub plugin: Option<Value>,
    }
}

argo_struct! {
    /// A generator inside a top-level `matrix` or `merge`.
    pub struct ApplicationSetNestedGenerator {
        /// Fixed list of parameter sets.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub list: Option<ListGenerator>,
        /// One parameter set per registered cluster.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub clusters: Option<ClusterGenerator>,
        /// Parameter sets from directories or files in Git.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub git: Option<GitGenerator>,
        /// SCM provider generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub scm_provider: Option<Value>,
        /// Cluster decision resource generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub cluster_decision_resource: Option<Value>,
        /// Pull request generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub pull_request: Option<Value>,
        /// A matrix of terminal generators (opaque in the CRD schema, as in Argo CD).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub matrix: Option<NestedMatrixGenerator>,
        /// A merge of terminal generators (opaque in the CRD schema, as in Argo CD).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub merge: Option<NestedMergeGenerator>,
        /// Post-filter on the generated parameters.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
        /// Plugin generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub plugin: Option<Value>,
    }
}

argo_struct! {
    /// A generator two levels deep; it cannot combine further.
    pub struct ApplicationSetTerminalGenerator {
        /// Fixed list of parameter sets.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub list: Option<ListGenerator>,
        /// One parameter set per registered cluster.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub clusters: Option<ClusterGenerator>,
        /// Parameter sets from directories or files in Git.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub git: Option<GitGenerator>,
        /// SCM provider generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub scm_provider: Option<Value>,
        /// Cluster decision resource generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub cluster_decision_resource: Option<Value>,
        /// Pull request generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub pull_request: Option<Value>,
        /// Plugin generator (kept as JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub plugin: Option<Value>,
        /// Post-filter on the generated parameters.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
    }
}

argo_struct! {
    /// A fixed list of parameter sets.
    pub struct ListGenerator {
        /// Parameter sets, each a JSON object.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        #[schemars(schema_with = "crate::schema::any_value_list")]
        pub elements: Vec<Value>,
        /// Template override for this generator.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub template: Option<ApplicationSetTemplate>,
        /// Parameter sets as a YAML list string (may itself be templated).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub elements_yaml: String,
    }
}

argo_struct! {
    /// One parameter set per cluster registered with Capstan (cluster Secrets).
    pub struct ClusterGenerator {
        /// Label selector on the cluster Secrets.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
        /// Template override for this generator.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub template: Option<ApplicationSetTemplate>,
        /// Extra parameters (`values.<key>`), themselves templated.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub values: BTreeMap<String, String>,
        /// Produce a single parameter set with all clusters as a list.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub flat_list: Option<bool>,
    }
}

argo_struct! {
    /// Parameter sets from directories or files in a Git repository.
    pub struct GitGenerator {
        /// Repository URL.
        #[serde(rename = "repoURL")]
        pub repo_url: String,
        /// Directory globs; one parameter set per matching directory.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub directories: Vec<GitDirectoryGeneratorItem>,
        /// File globs; parameter sets from the JSON/YAML content of matching files.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub files: Vec<GitFileGeneratorItem>,
        /// Revision (branch, tag or commit).
        pub revision: String,
        /// Polling interval in seconds.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub requeue_after_seconds: Option<i64>,
        /// Template override for this generator.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub template: Option<ApplicationSetTemplate>,
        /// Prefix of the `path` parameters.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub path_param_prefix: String,
        /// Extra parameters (`values.<key>`), themselves templated.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub values: BTreeMap<String, String>,
    }
}

argo_struct! {
    /// A directory glob of a Git generator.
    pub struct GitDirectoryGeneratorItem {
        /// Path glob.
        pub path: String,
        /// Exclude matching directories instead of including them.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub exclude: Option<bool>,
    }
}

argo_struct! {
    /// A file glob of a Git generator.
    pub struct GitFileGeneratorItem {
        /// Path glob.
        pub path: String,
        /// Exclude matching files instead of including them.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub exclude: Option<bool>,
    }
}

argo_struct! {
    /// Cartesian product of the parameters of (usually two) nested generators.
    pub struct MatrixGenerator {
        /// Nested generators.
        pub generators: Vec<ApplicationSetNestedGenerator>,
        /// Template override for this generator.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub template: Option<ApplicationSetTemplate>,
    }
}

argo_struct! {
    /// Parameters of nested generators merged where the `mergeKeys` values are equal.
    pub struct MergeGenerator {
        /// Nested generators; the first is the base.
        pub generators: Vec<ApplicationSetNestedGenerator>,
        /// Parameter names that identify a parameter set.
        pub merge_keys: Vec<String>,
        /// Template override for this generator.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub template: Option<ApplicationSetTemplate>,
    }
}

argo_struct! {
    /// A matrix nested in a matrix or merge.
    pub struct NestedMatrixGenerator {
        /// Terminal generators.
        pub generators: Vec<ApplicationSetTerminalGenerator>,
    }
}

argo_struct! {
    /// A merge nested in a matrix or merge.
    pub struct NestedMergeGenerator {
        /// Terminal generators; the first is the base.
        pub generators: Vec<ApplicationSetTerminalGenerator>,
        /// Parameter names that identify a parameter set.
        pub merge_keys: Vec<String>,
    }
}

argo_struct! {
    /// How generated Applications relate to their ApplicationSet.
    pub struct ApplicationSetSyncPolicy {
        /// Keep generated Applications (and their resources) when the ApplicationSet is deleted.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub preserve_resources_on_deletion: Option<bool>,
        /// What the controller may do to generated Applications (default `sync`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub applications_sync: Option<ApplicationsSyncPolicy>,
    }
}

argo_struct! {
    /// Progressive sync strategy.
    pub struct ApplicationSetStrategy {
        /// Strategy type (`AllAtOnce` or `RollingSync`).
        #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
        pub strategy_type: String,
        /// Steps of a rolling sync.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub rolling_sync: Option<ApplicationSetRolloutStrategy>,
    }
}

argo_struct! {
    /// Steps of a rolling sync.
    pub struct ApplicationSetRolloutStrategy {
        /// Steps, in order.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub steps: Vec<ApplicationSetRolloutStep>,
    }
}

argo_struct! {
    /// One step of a rolling sync.
    pub struct ApplicationSetRolloutStep {
        /// Label expressions selecting the Applications of the step.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub match_expressions: Vec<ApplicationMatchExpression>,
        /// Largest number (or percentage) of Applications synced at once.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub max_update: Option<IntOrString>,
    }
}

argo_struct! {
    /// A label expression on generated Applications.
    pub struct ApplicationMatchExpression {
        /// Label key.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub key: String,
        /// `In` or `NotIn`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub operator: String,
        /// Label values.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub values: Vec<String>,
    }
}

argo_struct! {
    /// Fields of generated Applications that are kept when the Applications are updated.
    pub struct ApplicationPreservedFields {
        /// Annotation keys.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub annotations: Vec<String>,
        /// Label keys.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub labels: Vec<String>,
    }
}

argo_struct! {
    /// Differences in generated Applications that the controller does not revert.
    pub struct ApplicationSetResourceIgnoreDifferences {
        /// Application name; empty for all.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// JSON pointers of ignored fields.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub json_pointers: Vec<String>,
        /// jq path expressions of ignored fields.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub jq_path_expressions: Vec<String>,
    }
}

argo_struct! {
    /// Observed state of an ApplicationSet.
    pub struct ApplicationSetStatus {
        /// Conditions.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub conditions: Vec<ApplicationSetCondition>,
        /// Progressive sync state of each generated Application.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub application_status: Vec<ApplicationSetApplicationStatus>,
        /// Generated Applications with their sync and health.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub resources: Vec<ResourceStatus>,
        /// Number of generated Applications.
        #[serde(skip_serializing_if = "is_zero")]
        pub resources_count: i64,
    }
}

argo_struct! {
    /// A condition of an ApplicationSet (`ErrorOccurred`, `ParametersGenerated`,
    /// `ResourcesUpToDate`, `RolloutProgressing`).
    pub struct ApplicationSetCondition {
        /// Condition type.
        #[serde(rename = "type")]
        pub condition_type: String,
        /// Human-readable detail.
        pub message: String,
        /// When the condition last changed.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_transition_time: Option<Time>,
        /// `True`, `False` or `Unknown`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub status: Option<ApplicationSetConditionStatus>,
        /// One-word CamelCase reason.
        pub reason: String,
    }
}

argo_struct! {
    /// Progressive sync state of one generated Application.
    pub struct ApplicationSetApplicationStatus {
        /// Application name.
        pub application: String,
        /// When the state last changed.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_transition_time: Option<Time>,
        /// Human-readable detail.
        pub message: String,
        /// `Waiting`, `Pending`, `Progressing` or `Healthy`.
        pub status: String,
        /// Step the Application belongs to.
        pub step: String,
        /// Revisions the Application is being synced to.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub target_revisions: Vec<String>,
    }
}

impl UnknownFields for ApplicationSet {
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
        self.spec
            .collect_unknown_fields(&format!("{path}.spec"), out);
        self.status
            .collect_unknown_fields(&format!("{path}.status"), out);
    }
}
