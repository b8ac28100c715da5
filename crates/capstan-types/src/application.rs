//! `Application` (`argoproj.io/v1alpha1`): the desired state of one deployed application, the
//! operation requested on it, and the state Capstan observed.
//!
//! Field names, JSON shapes and omission rules follow Argo CD's
//! `pkg/apis/application/v1alpha1/types.go`. Booleans and numbers a user writes are `Option`s so
//! that an explicit `false` or `0` survives a round trip; status fields (written by Capstan) use
//! plain values that are omitted when zero, exactly as Argo CD's `omitempty` does.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::{NamespaceResourceScope, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::UnknownFields;
use crate::ser::{is_false, is_zero};

/// API group of all Argo CD objects.
pub const GROUP: &str = "argoproj.io";
/// API version of all Argo CD objects.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of all Argo CD objects.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";

// ---------------------------------------------------------------------------------------------
// Closed value sets
// ---------------------------------------------------------------------------------------------

string_enum! {
    /// Result of comparing desired and live state (`status.sync.status`).
    pub enum SyncStatusCode {
        /// Desired and live state match.
        Synced = "Synced",
        /// Desired and live state differ.
        OutOfSync = "OutOfSync",
        /// The comparison could not be made.
        Unknown = "Unknown",
    }
}

string_enum! {
    /// Health of an application or resource (`status.health.status`).
    pub enum HealthStatusCode {
        /// Fully healthy.
        Healthy = "Healthy",
        /// Not yet healthy, but may become healthy.
        Progressing = "Progressing",
        /// Failed or unable to become healthy.
        Degraded = "Degraded",
        /// Paused or suspended (for example a suspended CronJob).
        Suspended = "Suspended",
        /// Desired in Git but absent from the cluster.
        Missing = "Missing",
        /// Health could not be assessed.
        Unknown = "Unknown",
    }
}

string_enum! {
    /// Phase of an operation or of a hook (`status.operationState.phase`).
    pub enum OperationPhase {
        /// In progress.
        Running = "Running",
        /// Being terminated on request.
        Terminating = "Terminating",
        /// Finished unsuccessfully because of the resources being synced.
        Failed = "Failed",
        /// Finished unsuccessfully because of an internal or configuration error.
        Error = "Error",
        /// Finished successfully.
        Succeeded = "Succeeded",
    }
}

impl OperationPhase {
    /// Whether the phase is final (`Failed`, `Error` or `Succeeded`), as in Argo CD.
    pub fn is_completed(&self) -> bool {
        matches!(self, Self::Failed | Self::Error | Self::Succeeded)
    }
}

string_enum! {
    /// Result of syncing one resource (`syncResult.resources[].status`).
    pub enum ResultCode {
        /// Applied successfully.
        Synced = "Synced",
        /// Apply failed.
        SyncFailed = "SyncFailed",
        /// Deleted because it is no longer desired.
        Pruned = "Pruned",
        /// Not deleted although no longer desired (pruning disabled).
        PruneSkipped = "PruneSkipped",
    }
}

string_enum! {
    /// Resource hook type (`argocd.argoproj.io/hook`).
    pub enum HookType {
        /// Runs before the sync phase.
        PreSync = "PreSync",
        /// Runs with the sync phase.
        Sync = "Sync",
        /// Runs after a successful sync.
        PostSync = "PostSync",
        /// Runs when the sync fails.
        SyncFail = "SyncFail",
        /// The resource is skipped by sync.
        Skip = "Skip",
        /// Runs before the application's resources are deleted.
        PreDelete = "PreDelete",
        /// Runs after the application's resources are deleted.
        PostDelete = "PostDelete",
    }
}

string_enum! {
    /// Phase of a sync in which a resource was handled.
    pub enum SyncPhase {
        /// Before the main sync.
        PreSync = "PreSync",
        /// The main sync.
        Sync = "Sync",
        /// After a successful sync.
        PostSync = "PostSync",
        /// After a failed sync.
        SyncFail = "SyncFail",
    }
}

string_enum! {
    /// Tool used to render a source (`status.sourceType`).
    pub enum ApplicationSourceType {
        /// Helm chart.
        Helm = "Helm",
        /// Kustomize overlay.
        Kustomize = "Kustomize",
        /// Plain directory of YAML/JSON (or Jsonnet).
        Directory = "Directory",
        /// Config management plugin.
        Plugin = "Plugin",
    }
}

// ---------------------------------------------------------------------------------------------
// Spec
// ---------------------------------------------------------------------------------------------

argo_struct! {
    /// Desired state of an application: where its manifests come from and where they go.
    pub struct ApplicationSpec {
        /// Location of the application's manifests or chart. Use `sources` for several.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source: Option<ApplicationSource>,
        /// Target cluster and namespace.
        pub destination: ApplicationDestination,
        /// Project the application belongs to; empty means `default`.
        pub project: String,
        /// When and how a sync is performed.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sync_policy: Option<SyncPolicy>,
        /// Resources and fields ignored when comparing desired and live state.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub ignore_differences: Vec<ResourceIgnoreDifferences>,
        /// Informational name/value pairs shown with the application.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub info: Vec<Info>,
        /// Number of history entries kept (default 10).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub revision_history_limit: Option<i64>,
        /// Locations of the application's manifests; takes precedence over `source`.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sources: Vec<ApplicationSource>,
        /// Dry source hydrated into a sync source before syncing.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source_hydrator: Option<SourceHydrator>,
    }
}

impl ApplicationSpec {
    /// The sources in effect: `sources` when non-empty, else `source`, else none (Argo CD's
    /// `GetSources` without the source hydrator).
    pub fn effective_sources(&self) -> Vec<&ApplicationSource> {
        if !self.sources.is_empty() {
            self.sources.iter().collect()
        } else {
            self.source.iter().collect()
        }
    }

    /// The project, with Argo CD's `default` substituted for an empty value.
    pub fn project_or_default(&self) -> &str {
        if self.project.is_empty() {
            "default"
        } else {
            &self.project
        }
    }
}

argo_struct! {
    /// A repository location (Git or Helm) and how to render it.
    pub struct ApplicationSource {
        /// URL of the Git or Helm repository.
        #[serde(rename = "repoURL")]
        pub repo_url: String,
        /// Directory within a Git repository.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub path: String,
        /// Branch, tag, commit or (for Helm) chart version; empty means `HEAD`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub target_revision: String,
        /// Helm options.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub helm: Option<ApplicationSourceHelm>,
        /// Kustomize options.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub kustomize: Option<ApplicationSourceKustomize>,
        /// Plain directory options.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub directory: Option<ApplicationSourceDirectory>,
        /// Config management plugin options.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub plugin: Option<ApplicationSourcePlugin>,
        /// Helm chart name, for charts pulled from a Helm repository.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub chart: String,
        /// Name other sources use to refer to this one (`$name/path`) in multi-source apps.
        #[serde(rename = "ref", skip_serializing_if = "String::is_empty")]
        pub reference: String,
        /// Display name of the source in multi-source apps.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
    }
}

impl ApplicationSource {
    /// Whether the source is a Helm chart from a Helm repository (`chart` is set).
    pub fn is_helm_chart(&self) -> bool {
        !self.chart.is_empty()
    }

    /// Whether the source only provides a `ref` for other sources.
    pub fn is_ref(&self) -> bool {
        !self.reference.is_empty()
    }
}

argo_struct! {
    /// Helm rendering options.
    pub struct ApplicationSourceHelm {
        /// Values files, relative to the source path (or `$ref/path`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub value_files: Vec<String>,
        /// `--set` parameters.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub parameters: Vec<HelmParameter>,
        /// Release name; defaults to the application name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub release_name: String,
        /// Values as a YAML string; `valuesObject` takes precedence.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub values: String,
        /// `--set-file` parameters.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub file_parameters: Vec<HelmFileParameter>,
        /// Helm version to template with.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub version: String,
        /// Pass credentials to all domains (`--pass-credentials`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub pass_credentials: Option<bool>,
        /// Skip value files that do not exist instead of failing.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ignore_missing_value_files: Option<bool>,
        /// Do not render CRDs (`--skip-crds`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub skip_crds: Option<bool>,
        /// Values as an object; takes precedence over `values`.
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "crate::schema::any_object")]
        pub values_object: Option<Value>,
        /// Namespace to template with; defaults to the destination namespace.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Kubernetes version passed to Helm; defaults to the destination cluster's.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub kube_version: String,
        /// API versions passed to Helm (`[group/]version/kind`); default from the cluster.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub api_versions: Vec<String>,
        /// Do not render test manifests (`--skip-tests`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub skip_tests: Option<bool>,
        /// Skip JSON schema validation (`--skip-schema-validation`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub skip_schema_validation: Option<bool>,
    }
}

argo_struct! {
    /// A Helm `--set` parameter.
    pub struct HelmParameter {
        /// Parameter name (dotted path).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Parameter value.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub value: String,
        /// Pass the value with `--set-string`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub force_string: Option<bool>,
    }
}

argo_struct! {
    /// A Helm `--set-file` parameter.
    pub struct HelmFileParameter {
        /// Parameter name (dotted path).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Path of the file holding the value.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub path: String,
    }
}

argo_struct! {
    /// Kustomize rendering options.
    pub struct ApplicationSourceKustomize {
        /// Prefix added to resource names.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name_prefix: String,
        /// Suffix added to resource names.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name_suffix: String,
        /// Image overrides (`[old=]name[:tag|@digest]`), as for `kustomize edit set image`.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub images: Vec<String>,
        /// Labels added to all resources.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub common_labels: BTreeMap<String, String>,
        /// Kustomize version to use.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub version: String,
        /// Annotations added to all resources.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub common_annotations: BTreeMap<String, String>,
        /// Overwrite existing labels with `commonLabels`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub force_common_labels: Option<bool>,
        /// Overwrite existing annotations with `commonAnnotations`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub force_common_annotations: Option<bool>,
        /// Namespace set on all resources.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Substitute environment variables in `commonAnnotations` values.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub common_annotations_envsubst: Option<bool>,
        /// Replica count overrides.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub replicas: Vec<KustomizeReplica>,
        /// Patches added to the kustomization.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub patches: Vec<KustomizePatch>,
        /// Components added to the kustomization.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub components: Vec<String>,
        /// Skip components that do not exist instead of failing.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ignore_missing_components: Option<bool>,
        /// Do not add `commonLabels` to selectors.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub label_without_selector: Option<bool>,
        /// Add `commonLabels` to templates even with `labelWithoutSelector`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub label_include_templates: Option<bool>,
        /// Kubernetes version passed to Helm charts inflated by Kustomize.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub kube_version: String,
        /// API versions passed to Helm charts inflated by Kustomize.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub api_versions: Vec<String>,
    }
}

argo_struct! {
    /// A replica count override for a Deployment or StatefulSet.
    pub struct KustomizeReplica {
        /// Name of the Deployment or StatefulSet.
        pub name: String,
        /// Replica count (an integer, or a string holding one).
        pub count: IntOrString,
    }
}

argo_struct! {
    /// A Kustomize patch.
    pub struct KustomizePatch {
        /// File holding the patch.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub path: String,
        /// Inline patch (strategic merge or JSON 6902).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub patch: String,
        /// Resources the patch applies to.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target: Option<KustomizeSelector>,
        /// Patch options (`allowNameChange`, `allowKindChange`).
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub options: BTreeMap<String, bool>,
    }
}

argo_struct! {
    /// Selects the resources a Kustomize patch applies to.
    pub struct KustomizeSelector {
        /// API group. Absent and `""` both mean any group; which one was written is kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        /// API version.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub version: String,
        /// Kind.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub kind: String,
        /// Name (regular expression).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Namespace (regular expression).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Annotation selector.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub annotation_selector: String,
        /// Label selector.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub label_selector: String,
    }
}

argo_struct! {
    /// Options for a plain directory of manifests.
    pub struct ApplicationSourceDirectory {
        /// Include subdirectories.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub recurse: Option<bool>,
        /// Jsonnet options.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub jsonnet: Option<ApplicationSourceJsonnet>,
        /// Glob of paths to exclude (`{a,b}` for several).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub exclude: String,
        /// Glob of paths to include (`{a,b}` for several).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub include: String,
    }
}

argo_struct! {
    /// Jsonnet options.
    pub struct ApplicationSourceJsonnet {
        /// External variables.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub ext_vars: Vec<JsonnetVar>,
        /// Top-level arguments.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub tlas: Vec<JsonnetVar>,
        /// Additional library search directories.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub libs: Vec<String>,
    }
}

argo_struct! {
    /// A Jsonnet variable.
    pub struct JsonnetVar {
        /// Variable name.
        pub name: String,
        /// Variable value.
        pub value: String,
        /// Treat the value as Jsonnet code rather than a string.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub code: Option<bool>,
    }
}

argo_struct! {
    /// Config management plugin options.
    pub struct ApplicationSourcePlugin {
        /// Plugin name; omit to let discovery choose a sidecar plugin.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Environment variables passed to the plugin.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub env: Vec<EnvEntry>,
        /// Parameters passed to the plugin.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub parameters: Vec<PluginParameter>,
    }
}

argo_struct! {
    /// An environment variable.
    pub struct EnvEntry {
        /// Variable name.
        pub name: String,
        /// Variable value.
        pub value: String,
    }
}

argo_struct! {
    /// A plugin parameter: a string, a map or an array.
    pub struct PluginParameter {
        /// Parameter name.
        pub name: String,
        /// String value.
        #[serde(rename = "string", skip_serializing_if = "Option::is_none")]
        pub string: Option<String>,
        /// Map value.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub map: Option<BTreeMap<String, String>>,
        /// Array value.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub array: Option<Vec<String>>,
    }
}

argo_struct! {
    /// Target cluster (by `server` URL or by `name`) and namespace.
    pub struct ApplicationDestination {
        /// API server URL of the target cluster; set this or `name`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub server: String,
        /// Namespace for namespaced resources that do not set one.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Name of the target cluster; set this or `server`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
    }
}

argo_struct! {
    /// When and how syncs are performed.
    pub struct SyncPolicy {
        /// Keep the application synced automatically.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub automated: Option<SyncPolicyAutomated>,
        /// Sync options for the whole application (for example `CreateNamespace=true`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sync_options: Vec<String>,
        /// Retry behaviour for failed syncs.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub retry: Option<RetryStrategy>,
        /// Labels and annotations for a namespace created with `CreateNamespace=true`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
    }
}

impl SyncPolicy {
    /// Whether automated sync is on: `automated` is present and `enabled` is not `false`.
    pub fn is_automated(&self) -> bool {
        self.automated
            .as_ref()
            .is_some_and(|automated| automated.enabled != Some(false))
    }

    /// Whether the sync option `name=value` is set (for example `("CreateNamespace", "true")`).
    pub fn has_sync_option(&self, name: &str, value: &str) -> bool {
        has_sync_option(&self.sync_options, name, value)
    }
}

/// Whether `options` contains `name=value` (Argo CD compares sync options literally).
pub(crate) fn has_sync_option(options: &[String], name: &str, value: &str) -> bool {
    options
        .iter()
        .any(|option| option.split_once('=') == Some((name, value)))
}

argo_struct! {
    /// Automated sync settings.
    pub struct SyncPolicyAutomated {
        /// Delete resources no longer in the sources (default false).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub prune: Option<bool>,
        /// Revert changes made in the cluster (default false).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub self_heal: Option<bool>,
        /// Allow syncing to zero resources (default false).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub allow_empty: Option<bool>,
        /// Turn automated sync off while keeping these settings (default true).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub enabled: Option<bool>,
    }
}

argo_struct! {
    /// Retry behaviour for failed syncs.
    pub struct RetryStrategy {
        /// Maximum number of retries; negative means unlimited, 0 none.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub limit: Option<i64>,
        /// Delay between retries.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub backoff: Option<Backoff>,
        /// Retry with the latest revision when the sources change.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub refresh: Option<bool>,
    }
}

argo_struct! {
    /// Exponential backoff between sync retries.
    pub struct Backoff {
        /// First delay: seconds (`"5"`) or a duration (`"5s"`, `"2m"`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub duration: String,
        /// Multiplier applied after each retry.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub factor: Option<i64>,
        /// Largest delay.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub max_duration: String,
    }
}

argo_struct! {
    /// Metadata for a namespace Capstan creates.
    pub struct ManagedNamespaceMetadata {
        /// Labels.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub labels: BTreeMap<String, String>,
        /// Annotations.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub annotations: BTreeMap<String, String>,
    }
}

argo_struct! {
    /// Resources and fields ignored when comparing desired and live state.
    pub struct ResourceIgnoreDifferences {
        /// API group (`*` for any). Absent and `""` both mean the core group; which one was
        /// written is kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        /// Kind (`*` for any).
        pub kind: String,
        /// Resource name; empty for all.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Resource namespace; empty for all.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// RFC 6901 JSON pointers of ignored fields.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub json_pointers: Vec<String>,
        /// jq path expressions of ignored fields.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub jq_path_expressions: Vec<String>,
        /// Field managers whose changes are accepted.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub managed_fields_managers: Vec<String>,
    }
}

impl ResourceIgnoreDifferences {
    /// The API group, `""` for the core group.
    pub fn api_group(&self) -> &str {
        self.group.as_deref().unwrap_or_default()
    }
}

argo_struct! {
    /// An informational name/value pair.
    pub struct Info {
        /// Title.
        pub name: String,
        /// Content (text, URL or e-mail address).
        pub value: String,
    }
}

argo_struct! {
    /// Source hydrator: render a dry source and commit the result to a sync branch.
    pub struct SourceHydrator {
        /// Where the dry manifests live.
        pub dry_source: DrySource,
        /// Where hydrated manifests are synced from.
        pub sync_source: SyncSource,
        /// Optional staging branch for hydrated manifests.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub hydrate_to: Option<HydrateTo>,
    }
}

argo_struct! {
    /// Location of dry manifests.
    pub struct DrySource {
        /// Git repository URL.
        #[serde(rename = "repoURL")]
        pub repo_url: String,
        /// Revision to hydrate.
        pub target_revision: String,
        /// Directory within the repository.
        pub path: String,
    }
}

argo_struct! {
    /// Location hydrated manifests are synced from.
    pub struct SyncSource {
        /// Branch hydrated manifests are committed to.
        pub target_branch: String,
        /// Directory within the repository.
        pub path: String,
    }
}

argo_struct! {
    /// Staging location for hydrated manifests.
    pub struct HydrateTo {
        /// Branch hydrated manifests are pushed to.
        pub target_branch: String,
    }
}

// ---------------------------------------------------------------------------------------------
// Operation
// ---------------------------------------------------------------------------------------------

argo_struct! {
    /// A requested operation. Writing `operation` on an Application is how a sync is started;
    /// it survives any process restart because it lives in the object.
    pub struct Operation {
        /// Sync parameters.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sync: Option<SyncOperation>,
        /// Who started the operation.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub initiated_by: Option<OperationInitiator>,
        /// Informational items.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub info: Vec<Info>,
        /// Retry behaviour if the operation fails.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub retry: Option<RetryStrategy>,
    }
}

argo_struct! {
    /// Who started an operation.
    pub struct OperationInitiator {
        /// User name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub username: String,
        /// Started by the controller (automated sync).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub automated: Option<bool>,
    }
}

argo_struct! {
    /// Parameters of a sync operation.
    pub struct SyncOperation {
        /// Revision to sync to; defaults to the source's `targetRevision`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub revision: String,
        /// Delete resources no longer in the sources.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub prune: Option<bool>,
        /// Apply with server-side dry run only.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub dry_run: Option<bool>,
        /// How to apply resources.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sync_strategy: Option<SyncStrategy>,
        /// Sync only these resources.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub resources: Vec<SyncOperationResource>,
        /// Source override (rollback).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source: Option<ApplicationSource>,
        /// Local manifests overriding the source (development only).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub manifests: Vec<String>,
        /// Sync options for this sync only.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sync_options: Vec<String>,
        /// Sources override (rollback of multi-source apps).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sources: Vec<ApplicationSource>,
        /// Revisions per source for multi-source apps.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub revisions: Vec<String>,
        /// Number of self-heal attempts so far.
        #[serde(rename = "autoHealAttemptsCount", skip_serializing_if = "Option::is_none")]
        pub auto_heal_attempts_count: Option<i64>,
    }
}

argo_struct! {
    /// How resources are applied during a sync.
    pub struct SyncStrategy {
        /// Apply every resource, ignoring hooks.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub apply: Option<SyncStrategyApply>,
        /// Run hooks and apply resources by phase and wave (the default).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub hook: Option<SyncStrategyHook>,
    }
}

argo_struct! {
    /// Apply strategy options.
    pub struct SyncStrategyApply {
        /// Delete and re-create resources that cannot be patched.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub force: Option<bool>,
    }
}

argo_struct! {
    /// Hook strategy options.
    pub struct SyncStrategyHook {
        /// Delete and re-create resources that cannot be patched.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub force: Option<bool>,
    }
}

argo_struct! {
    /// A resource selected for a partial sync.
    pub struct SyncOperationResource {
        /// API group. Absent and `""` both mean the core group; which one was written is kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        /// Kind.
        pub kind: String,
        /// Name.
        pub name: String,
        /// Namespace.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
    }
}

impl SyncOperationResource {
    /// The API group, `""` for the core group.
    pub fn api_group(&self) -> &str {
        self.group.as_deref().unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

argo_struct! {
    /// Observed state of an application, written by the application controller.
    pub struct ApplicationStatus {
        /// Resources managed by the application.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub resources: Vec<ResourceStatus>,
        /// Result of the last comparison.
        #[serde(skip_serializing_if = "crate::ser::is_default")]
        pub sync: SyncStatus,
        /// Aggregated health.
        #[serde(skip_serializing_if = "crate::ser::is_default")]
        pub health: HealthStatus,
        /// Completed syncs, oldest first.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub history: Vec<RevisionHistory>,
        /// Errors and warnings.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub conditions: Vec<ApplicationCondition>,
        /// When the state was last compared with the latest Git state.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub reconciled_at: Option<Time>,
        /// State of the current or last operation.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub operation_state: Option<OperationState>,
        /// Deprecated by Argo CD; kept for compatibility.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub observed_at: Option<Time>,
        /// Rendering tool of the (first) source.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source_type: Option<ApplicationSourceType>,
        /// URLs and images of the application's resources.
        #[serde(skip_serializing_if = "crate::ser::is_default")]
        pub summary: ApplicationSummary,
        /// Where resource health is stored: empty (inline) or `appTree`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub resource_health_source: String,
        /// Rendering tool of each source.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub source_types: Vec<ApplicationSourceType>,
        /// Namespace of the controller that manages the application.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub controller_namespace: String,
        /// State of source hydration.
        #[serde(skip_serializing_if = "crate::ser::is_default")]
        pub source_hydrator: SourceHydratorStatus,
        /// `metadata.generation` this status describes (Capstan addition, for kstatus and
        /// `kubectl wait`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub observed_generation: Option<i64>,
    }
}

argo_struct! {
    /// Result of comparing desired and live state.
    pub struct SyncStatus {
        /// Comparison result.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub status: Option<SyncStatusCode>,
        /// What was compared.
        #[serde(skip_serializing_if = "crate::ser::is_default")]
        pub compared_to: ComparedTo,
        /// Resolved revision (commit SHA or chart version) of the source.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub revision: String,
        /// Resolved revisions of each source.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub revisions: Vec<String>,
    }
}

argo_struct! {
    /// The spec fields a comparison was made against.
    pub struct ComparedTo {
        /// Source compared.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source: Option<ApplicationSource>,
        /// Destination compared.
        pub destination: ApplicationDestination,
        /// Sources compared.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sources: Vec<ApplicationSource>,
        /// Ignore rules applied.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub ignore_differences: Vec<ResourceIgnoreDifferences>,
    }
}

argo_struct! {
    /// Health of an application or resource.
    pub struct HealthStatus {
        /// Health code.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub status: Option<HealthStatusCode>,
        /// Human-readable detail.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub message: String,
        /// When the status last changed.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_transition_time: Option<Time>,
    }
}

argo_struct! {
    /// Sync and health state of one managed resource.
    pub struct ResourceStatus {
        /// API group.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub group: String,
        /// API version.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub version: String,
        /// Kind.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub kind: String,
        /// Namespace.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Sync state.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub status: Option<SyncStatusCode>,
        /// Health.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub health: Option<HealthStatus>,
        /// Whether the resource is a hook.
        #[serde(skip_serializing_if = "is_false")]
        pub hook: bool,
        /// Whether the resource is no longer desired and would be pruned.
        #[serde(skip_serializing_if = "is_false")]
        pub requires_pruning: bool,
        /// Sync wave.
        #[serde(skip_serializing_if = "is_zero")]
        pub sync_wave: i64,
        /// Whether deleting the resource needs explicit confirmation.
        #[serde(skip_serializing_if = "is_false")]
        pub requires_deletion_confirmation: bool,
    }
}

argo_struct! {
    /// External URLs and container images of an application's resources.
    pub struct ApplicationSummary {
        /// External URLs.
        #[serde(rename = "externalURLs", skip_serializing_if = "Vec::is_empty")]
        pub external_urls: Vec<String>,
        /// Container images.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub images: Vec<String>,
    }
}

argo_struct! {
    /// A completed sync.
    pub struct RevisionHistory {
        /// Revision synced.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub revision: String,
        /// When the sync finished.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub deployed_at: Option<Time>,
        /// Increasing identifier (the first entry has id 0).
        pub id: i64,
        /// Source synced.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source: Option<ApplicationSource>,
        /// When the sync started.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub deploy_started_at: Option<Time>,
        /// Sources synced.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sources: Vec<ApplicationSource>,
        /// Revisions synced, per source.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub revisions: Vec<String>,
        /// Who started the sync.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub initiated_by: Option<OperationInitiator>,
    }
}

argo_struct! {
    /// State of the current or last operation.
    pub struct OperationState {
        /// The operation as requested.
        pub operation: Operation,
        /// Phase.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub phase: Option<OperationPhase>,
        /// Detail, typically an error.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub message: String,
        /// Result of a sync operation.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sync_result: Option<SyncOperationResult>,
        /// When the operation started.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub started_at: Option<Time>,
        /// When the operation finished.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub finished_at: Option<Time>,
        /// Number of retries so far.
        #[serde(skip_serializing_if = "is_zero")]
        pub retry_count: i64,
    }
}

argo_struct! {
    /// Result of a sync operation.
    pub struct SyncOperationResult {
        /// Result per resource and hook.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub resources: Vec<ResourceResult>,
        /// Revision synced.
        pub revision: String,
        /// Source synced.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source: Option<ApplicationSource>,
        /// Sources synced.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sources: Vec<ApplicationSource>,
        /// Revisions synced, per source.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub revisions: Vec<String>,
        /// Managed namespace metadata applied.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
    }
}

argo_struct! {
    /// Result of syncing one resource or hook.
    pub struct ResourceResult {
        /// API group.
        pub group: String,
        /// API version.
        pub version: String,
        /// Kind.
        pub kind: String,
        /// Namespace.
        pub namespace: String,
        /// Name.
        pub name: String,
        /// Result; empty until applied or pruned, always empty for hooks.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub status: Option<ResultCode>,
        /// Detail.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub message: String,
        /// Hook type; empty for non-hook resources.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub hook_type: Option<HookType>,
        /// Phase of the hook or resource operation.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub hook_phase: Option<OperationPhase>,
        /// Sync phase the result belongs to.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub sync_phase: Option<SyncPhase>,
    }
}

argo_struct! {
    /// An error or warning about an application (types such as `ComparisonError`,
    /// `InvalidSpecError`, `SyncError`, `SharedResourceWarning`).
    pub struct ApplicationCondition {
        /// Condition type; prefix `Error`/`Warning`/`Info` gives the severity.
        #[serde(rename = "type")]
        pub condition_type: String,
        /// Human-readable detail.
        pub message: String,
        /// When the condition was last observed.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_transition_time: Option<Time>,
    }
}

argo_struct! {
    /// State of source hydration.
    pub struct SourceHydratorStatus {
        /// Most recent successful hydration.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_successful_operation: Option<SuccessfulHydrateOperation>,
        /// Current hydration.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_operation: Option<HydrateOperation>,
    }
}

argo_struct! {
    /// A successful hydration.
    pub struct SuccessfulHydrateOperation {
        /// Dry commit hydrated.
        #[serde(rename = "drySHA", skip_serializing_if = "String::is_empty")]
        pub dry_sha: String,
        /// Hydrated commit produced.
        #[serde(rename = "hydratedSHA", skip_serializing_if = "String::is_empty")]
        pub hydrated_sha: String,
        /// Hydrator configuration used.
        #[serde(skip_serializing_if = "crate::ser::is_default")]
        pub source_hydrator: SourceHydrator,
    }
}

argo_struct! {
    /// A hydration in progress or finished.
    pub struct HydrateOperation {
        /// When it started.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub started_at: Option<Time>,
        /// When it finished.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub finished_at: Option<Time>,
        /// `Hydrating`, `Failed` or `Hydrated`.
        pub phase: String,
        /// Detail.
        pub message: String,
        /// Dry commit.
        #[serde(rename = "drySHA", skip_serializing_if = "String::is_empty")]
        pub dry_sha: String,
        /// Hydrated commit.
        #[serde(rename = "hydratedSHA", skip_serializing_if = "String::is_empty")]
        pub hydrated_sha: String,
        /// Hydrator configuration used.
        #[serde(skip_serializing_if = "crate::ser::is_default")]
        pub source_hydrator: SourceHydrator,
    }
}

// ---------------------------------------------------------------------------------------------
// The Application object
// ---------------------------------------------------------------------------------------------

/// An Argo CD `Application` (`argoproj.io/v1alpha1`).
///
/// Unlike a `#[derive(CustomResource)]` type it carries Argo CD's top-level `operation` field
/// next to `spec` and `status`; it implements [`kube::Resource`] and
/// [`kube::CustomResourceExt`] by hand so that `kube::Api<Application>` works as usual.
/// Serialisation always writes `apiVersion` and `kind`; deserialisation ignores them.
#[derive(Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Application {
    /// Standard object metadata.
    #[schemars(skip)]
    pub metadata: ObjectMeta,
    /// Desired state.
    pub spec: ApplicationSpec,
    /// Requested operation; cleared by the controller when it completes.
    pub operation: Option<Operation>,
    /// Observed state.
    pub status: Option<ApplicationStatus>,
}

impl Application {
    /// Kind of the object.
    pub const KIND: &'static str = "Application";
    /// Plural resource name.
    pub const PLURAL: &'static str = "applications";
    /// Short names, as in Argo CD.
    pub const SHORT_NAMES: &'static [&'static str] = &["app", "apps"];

    /// A new Application with the given name and spec, and no operation or status.
    pub fn new(name: &str, spec: ApplicationSpec) -> Self {
        Self {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            spec,
            operation: None,
            status: None,
        }
    }
}

impl Serialize for Application {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Repr<'a> {
            api_version: &'static str,
            kind: &'static str,
            metadata: &'a ObjectMeta,
            spec: &'a ApplicationSpec,
            #[serde(skip_serializing_if = "Option::is_none")]
            operation: Option<&'a Operation>,
            #[serde(skip_serializing_if = "Option::is_none")]
            status: Option<&'a ApplicationStatus>,
        }
        Repr {
            api_version: API_VERSION,
            kind: Application::KIND,
            metadata: &self.metadata,
            spec: &self.spec,
            operation: self.operation.as_ref(),
            status: self.status.as_ref(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Application {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Repr {
            #[serde(default)]
            metadata: ObjectMeta,
            #[serde(default)]
            spec: ApplicationSpec,
            #[serde(default)]
            operation: Option<Operation>,
            #[serde(default)]
            status: Option<ApplicationStatus>,
        }
        let repr = Repr::deserialize(deserializer)?;
        Ok(Self {
            metadata: repr.metadata,
            spec: repr.spec,
            operation: repr.operation,
            status: repr.status,
        })
    }
}

impl Resource for Application {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Self::KIND.into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }

    fn api_version(_: &()) -> Cow<'_, str> {
        API_VERSION.into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Self::PLURAL.into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl kube::core::object::HasSpec for Application {
    type Spec = ApplicationSpec;

    fn spec(&self) -> &ApplicationSpec {
        &self.spec
    }

    fn spec_mut(&mut self) -> &mut ApplicationSpec {
        &mut self.spec
    }
}

impl kube::core::object::HasStatus for Application {
    type Status = ApplicationStatus;

    fn status(&self) -> Option<&ApplicationStatus> {
        self.status.as_ref()
    }

    fn status_mut(&mut self) -> &mut Option<ApplicationStatus> {
        &mut self.status
    }
}

impl UnknownFields for Application {
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
        self.spec
            .collect_unknown_fields(&format!("{path}.spec"), out);
        self.operation
            .collect_unknown_fields(&format!("{path}.operation"), out);
        self.status
            .collect_unknown_fields(&format!("{path}.status"), out);
    }
}

impl kube::core::CustomResourceExt for Application {
    /// The `applications.argoproj.io` CRD exactly as installed (see [`crate::crds`]).
    fn crd() -> CustomResourceDefinition {
        let schema: JSONSchemaProps = crate::crds::openapi_schema_for::<Application>();
        let column =
            |name: &str, path: &str, priority: Option<i32>| CustomResourceColumnDefinition {
                name: name.to_owned(),
                type_: "string".to_owned(),
                json_path: path.to_owned(),
                priority,
                ..CustomResourceColumnDefinition::default()
            };
        let crd = CustomResourceDefinition {
            metadata: ObjectMeta {
                name: Some(Self::crd_name().to_owned()),
                ..ObjectMeta::default()
            },
            spec: CustomResourceDefinitionSpec {
                group: GROUP.to_owned(),
                names: CustomResourceDefinitionNames {
                    kind: Self::KIND.to_owned(),
                    plural: Self::PLURAL.to_owned(),
                    singular: Some("application".to_owned()),
                    short_names: Some(Self::SHORT_NAMES.iter().map(|s| (*s).to_owned()).collect()),
                    ..CustomResourceDefinitionNames::default()
                },
                scope: "Namespaced".to_owned(),
                versions: vec![CustomResourceDefinitionVersion {
                    name: VERSION.to_owned(),
                    served: true,
                    storage: true,
                    additional_printer_columns: Some(vec![
                        column("Sync Status", ".status.sync.status", None),
                        column("Health Status", ".status.health.status", None),
                        column("Revision", ".status.sync.revision", Some(10)),
                        column("Project", ".spec.project", Some(10)),
                    ]),
                    schema: Some(CustomResourceValidation {
                        open_api_v3_schema: Some(schema),
                    }),
                    subresources: Some(CustomResourceSubresources {
                        status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
                        scale: None,
                    }),
                    ..CustomResourceDefinitionVersion::default()
                }],
                ..CustomResourceDefinitionSpec::default()
            },
            status: None,
        };
        crate::crds::finalize(crd)
    }

    fn crd_name() -> &'static str {
        "applications.argoproj.io"
    }

    fn api_resource() -> kube::core::ApiResource {
        kube::core::ApiResource::erase::<Self>(&())
    }

    fn shortnames() -> &'static [&'static str] {
        Self::SHORT_NAMES
    }
}
