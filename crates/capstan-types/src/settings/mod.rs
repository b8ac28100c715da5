//! Typed settings from the `argocd-cm` and `argocd-rbac-cm` ConfigMaps and cluster Secrets.
//!
//! Callers pass the ConfigMap's `data` map; nothing here reads from the cluster. Every known key
//! is parsed into a typed value with Argo CD's default when absent, every key (known or not)
//! stays available raw, and every malformed value is a [`SettingsError`] that names the
//! ConfigMap, the key and (for policy lines) the line.

mod argocd_cm;
mod cluster;
mod duration;
mod rbac;

pub use argocd_cm::{
    ADMIN_ACCOUNT, Account, AccountCapability, ArgoCdSettings, AzureOidcConfig, CORE_EXCLUSIONS,
    CompareOptions, FilteredResource, GroupKindPattern, KnownTypeField, LocalAccount, OidcClaim,
    OidcConfig, OverrideIgnoreDiff, ResourceActionDefinition, ResourceActions,
    ResourceCustomization, TrackingMethod, keys,
};
pub use cluster::{
    CLUSTER_SECRET_TYPE, Cluster, ClusterConfig, ClusterSecretError, ExecProviderConfig,
    IN_CLUSTER_NAME, IN_CLUSTER_SERVER, TlsClientConfig, normalize_server,
};
pub(crate) use duration::parse_go_duration_nanos;
pub use duration::{DurationError, parse_go_duration};
pub use rbac::{
    MatchMode, PolicyEffect, PolicyLineProblem, PolicyRule, RBAC_RESOURCES, RbacSettings,
    parse_policy_csv, rbac_keys,
};

/// Name of Argo CD's main settings ConfigMap.
pub const ARGOCD_CM: &str = "argocd-cm";
/// Name of Argo CD's RBAC ConfigMap.
pub const ARGOCD_RBAC_CM: &str = "argocd-rbac-cm";

/// A malformed setting. The message always starts with the ConfigMap and key, for example
/// `argocd-cm: timeout.reconciliation: invalid duration "3 minutes": ...`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A duration-valued key is not a Go duration.
    #[error("{config_map}: {key}: invalid duration {value:?}: {source}")]
    InvalidDuration {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// Value as written.
        value: String,
        /// Why it is not a duration.
        #[source]
        source: DurationError,
    },
    /// A boolean-valued key is not a boolean.
    #[error("{config_map}: {key}: invalid boolean {value:?}: expected \"true\" or \"false\"")]
    InvalidBool {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// Value as written.
        value: String,
    },
    /// `application.resourceTrackingMethod` names no known method.
    #[error(
        "{config_map}: {key}: unknown resource tracking method {value:?}: expected one of \
         annotation, label, annotation+label"
    )]
    UnknownTrackingMethod {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// Value as written.
        value: String,
    },
    /// A YAML-valued key does not parse or has the wrong shape.
    #[error("{config_map}: {key}: invalid YAML: {source}")]
    InvalidYaml {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// Parser error, with line and column within the value.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A YAML string nested in a YAML-valued key does not parse (for example the
    /// `ignoreDifferences` string of one entry of the legacy `resource.customizations` key).
    #[error("{config_map}: {key}: {field}: invalid YAML: {source}")]
    InvalidNestedYaml {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// Path of the nested value within the key, for example
        /// `apps/Deployment.ignoreDifferences`.
        field: String,
        /// Parser error, with line and column within the nested value.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A `resource.customizations.<type>.<group>_<kind>` key is malformed.
    #[error("{config_map}: {key}: {reason}")]
    InvalidCustomizationKey {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `accounts.<name>` lists a capability other than `apiKey` and `login`.
    #[error(
        "{config_map}: {key}: unknown account capability {capability:?}: expected apiKey or login"
    )]
    UnknownAccountCapability {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// Capability as written.
        capability: String,
    },
    /// `policy.matchMode` is neither `glob` nor `regex`.
    #[error("{config_map}: {key}: unknown match mode {value:?}: expected glob or regex")]
    UnknownMatchMode {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key.
        key: String,
        /// Value as written.
        value: String,
    },
    /// A policy line is malformed.
    #[error("{config_map}: {key} line {line}: {problem}: {text:?}")]
    InvalidPolicyLine {
        /// ConfigMap name.
        config_map: &'static str,
        /// Data key (`policy.csv` or `policy.<name>.csv`).
        key: String,
        /// 1-based line number within the key's value.
        line: usize,
        /// What is wrong.
        problem: PolicyLineProblem,
        /// The line as written, without surrounding whitespace.
        text: String,
    },
}

/// Parses a boolean the way Go's `strconv.ParseBool` does (`1`, `t`, `T`, `TRUE`, `true`,
/// `True`, `0`, `f`, `F`, `FALSE`, `false`, `False`), after trimming whitespace. An empty value
/// means "unset" and yields `default`.
pub(crate) fn parse_bool(
    config_map: &'static str,
    data: &std::collections::BTreeMap<String, String>,
    key: &str,
    default: bool,
) -> Result<bool, SettingsError> {
    let Some(raw) = data.get(key) else {
        return Ok(default);
    };
    match raw.trim() {
        "" => Ok(default),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(SettingsError::InvalidBool {
            config_map,
            key: key.to_owned(),
            value: raw.clone(),
        }),
    }
}

/// Parses a YAML-valued key into `T`, naming the key on error.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    config_map: &'static str,
    key: &str,
    value: &str,
) -> Result<T, SettingsError> {
    serde_yaml_ng::from_str(value).map_err(|source| SettingsError::InvalidYaml {
        config_map,
        key: key.to_owned(),
        source,
    })
}
