//! `argocd-cm`: Argo CD's main settings.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{ARGOCD_CM, SettingsError, parse_bool, parse_go_duration, parse_yaml};
use crate::UnknownFields;

/// The `argocd-cm` keys Capstan understands.
pub mod keys {
    /// Externally visible base URL.
    pub const URL: &str = "url";
    /// How often applications are compared with Git (Go duration; default 120s; 0 disables).
    pub const TIMEOUT_RECONCILIATION: &str = "timeout.reconciliation";
    /// Largest random delay added to the reconciliation timeout (default 60s).
    pub const TIMEOUT_RECONCILIATION_JITTER: &str = "timeout.reconciliation.jitter";
    /// Hard refresh interval, bypassing caches (default 0: disabled).
    pub const TIMEOUT_HARD_RECONCILIATION: &str = "timeout.hard.reconciliation";
    /// `annotation` (default), `label` or `annotation+label`.
    pub const RESOURCE_TRACKING_METHOD: &str = "application.resourceTrackingMethod";
    /// Label used by `label` tracking (default `app.kubernetes.io/instance`).
    pub const INSTANCE_LABEL_KEY: &str = "application.instanceLabelKey";
    /// Identifies this installation among several managing one cluster: set on every managed
    /// object (`argocd.argoproj.io/installation-id`); objects of another installation are not
    /// this one's.
    pub const INSTALLATION_ID: &str = "installationID";
    /// Legacy resource customizations: one YAML map keyed by `group/Kind`.
    pub const RESOURCE_CUSTOMIZATIONS: &str = "resource.customizations";
    /// Resources never watched (YAML list of `{apiGroups, kinds, clusters}`).
    pub const RESOURCE_EXCLUSIONS: &str = "resource.exclusions";
    /// Resources watched (YAML list of `{apiGroups, kinds, clusters}`); all when unset.
    pub const RESOURCE_INCLUSIONS: &str = "resource.inclusions";
    /// Diff options (YAML).
    pub const RESOURCE_COMPARE_OPTIONS: &str = "resource.compareoptions";
    /// Anonymous read access with `policy.default` permissions (default false).
    pub const USERS_ANONYMOUS_ENABLED: &str = "users.anonymous.enabled";
    /// The local `admin` user (default true).
    pub const ADMIN_ENABLED: &str = "admin.enabled";
    /// Status badge endpoint (default false).
    pub const STATUS_BADGE_ENABLED: &str = "statusbadge.enabled";
    /// OIDC provider configuration (YAML).
    pub const OIDC_CONFIG: &str = "oidc.config";
    /// Extra `kustomize build` options.
    pub const KUSTOMIZE_BUILD_OPTIONS: &str = "kustomize.buildOptions";
    /// URL schemes allowed for remote Helm value files (comma list; default `https, http`).
    pub const HELM_VALUES_FILE_SCHEMES: &str = "helm.valuesFileSchemes";
    /// Prefix of local account keys: `accounts.<name>` and `accounts.<name>.enabled`.
    pub const ACCOUNTS_PREFIX: &str = "accounts.";
}

/// How Capstan marks the live resources that belong to an application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrackingMethod {
    /// The `argocd.argoproj.io/tracking-id` annotation. Argo CD's default since 3.0.
    #[default]
    Annotation,
    /// The instance label (`application.instanceLabelKey`). Argo CD's default before 3.0.
    Label,
    /// Track by annotation and also set the instance label for other tools.
    AnnotationAndLabel,
}

impl TrackingMethod {
    /// The `argocd-cm` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Annotation => "annotation",
            Self::Label => "label",
            Self::AnnotationAndLabel => "annotation+label",
        }
    }
}

impl fmt::Display for TrackingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group and kind (either may be a glob; `*`/`*` for all) keying a resource customization.
/// The core group is the empty string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKindPattern {
    /// API group; empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

impl GroupKindPattern {
    /// A group and kind.
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
        }
    }

    /// `*/*`: every resource.
    pub fn all() -> Self {
        Self::new("*", "*")
    }
}

impl fmt::Display for GroupKindPattern {
    /// Argo CD's override key: `group/Kind`, or `Kind` for the core group.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}/{}", self.group, self.kind)
        }
    }
}

argo_struct! {
    /// Fields ignored when diffing (or when deciding whether a watch event needs a refresh).
    pub struct OverrideIgnoreDiff {
        /// RFC 6901 JSON pointers.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub json_pointers: Vec<String>,
        /// jq path expressions.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub jq_path_expressions: Vec<String>,
        /// Field managers whose changes are accepted.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub managed_fields_managers: Vec<String>,
    }
}

argo_struct! {
    /// A field of a custom resource that has a well-known Kubernetes type (for unit-aware diffs).
    pub struct KnownTypeField {
        /// Path of the field, for example `spec.template.spec`.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub field: String,
        /// Kubernetes type, for example `core/v1/PodSpec`.
        #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
        pub type_name: String,
    }
}

argo_struct! {
    /// Custom actions of a resource kind.
    pub struct ResourceActions {
        /// Lua script listing the available actions.
        #[serde(rename = "discovery.lua", skip_serializing_if = "String::is_empty")]
        pub discovery_lua: String,
        /// Action definitions.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub definitions: Vec<ResourceActionDefinition>,
        /// Also offer the built-in actions of the kind.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub merge_builtin_actions: Option<bool>,
    }
}

argo_struct! {
    /// One custom action.
    pub struct ResourceActionDefinition {
        /// Action name.
        pub name: String,
        /// Lua script that returns the modified object.
        #[serde(rename = "action.lua")]
        pub action_lua: String,
    }
}

/// Everything configured for one group/kind, merged from the legacy `resource.customizations`
/// key and the per-key `resource.customizations.<type>.<group>_<kind>` forms (per-key values win,
/// field by field, as in Argo CD).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceCustomization {
    /// Lua health check.
    pub health_lua: Option<String>,
    /// Give the health check access to Lua's standard libraries.
    pub use_open_libs: bool,
    /// Custom actions.
    pub actions: Option<ResourceActions>,
    /// Fields ignored when diffing.
    pub ignore_differences: Option<OverrideIgnoreDiff>,
    /// Fields ignored when deciding whether a watch event needs a refresh.
    pub ignore_resource_updates: Option<OverrideIgnoreDiff>,
    /// Fields with well-known types.
    pub known_type_fields: Vec<KnownTypeField>,
    /// Fields of the legacy `resource.customizations` entry that Capstan does not know, kept
    /// verbatim (and reported by [`ArgoCdSettings::warnings`]).
    pub extra: BTreeMap<String, Value>,
}

argo_struct! {
    /// An entry of `resource.exclusions` or `resource.inclusions`. Empty lists match everything;
    /// entries are globs.
    pub struct FilteredResource {
        /// API groups.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub api_groups: Vec<String>,
        /// Kinds.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub kinds: Vec<String>,
        /// Cluster URLs.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub clusters: Vec<String>,
    }
}

argo_struct! {
    /// `resource.compareoptions`. Absent fields keep Argo CD's defaults.
    pub struct CompareOptions {
        /// Ignore differences caused by aggregated ClusterRoles.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ignore_aggregated_roles: Option<bool>,
        /// Where `status` is ignored: `crd`, `all`, `none` (or `off`/`false`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ignore_resource_status_field: Option<String>,
        /// Apply `ignoreDifferences` rules to watch events too.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ignore_differences_on_resource_updates: Option<bool>,
    }
}

argo_struct! {
    /// `oidc.config`: an external OIDC provider (such as Azure AD / Entra ID).
    ///
    /// Values starting with `$` refer to keys of the `argocd-secret` Secret (for example
    /// `clientSecret: $oidc.azure.clientSecret`); they are kept as written.
    pub struct OidcConfig {
        /// Display name of the provider.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Issuer URL.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub issuer: String,
        /// Client ID of the web login.
        #[serde(rename = "clientID", skip_serializing_if = "String::is_empty")]
        pub client_id: String,
        /// Client secret (or `$secret-key` reference).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub client_secret: String,
        /// Client ID of the CLI login.
        #[serde(rename = "cliClientID", skip_serializing_if = "String::is_empty")]
        pub cli_client_id: String,
        /// Scopes requested; Argo CD's default is `openid, profile, email, groups`.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub requested_scopes: Vec<String>,
        /// Claims requested in the ID token.
        #[serde(rename = "requestedIDTokenClaims", skip_serializing_if = "BTreeMap::is_empty")]
        pub requested_id_token_claims: BTreeMap<String, OidcClaim>,
        /// Provider logout URL (may contain `{{token}}` and `{{logoutRedirectURL}}`).
        #[serde(rename = "logoutURL", skip_serializing_if = "String::is_empty")]
        pub logout_url: String,
        /// PEM CA certificate of the provider.
        #[serde(rename = "rootCA", skip_serializing_if = "String::is_empty")]
        pub root_ca: String,
        /// Use PKCE in the authorization code flow.
        #[serde(rename = "enablePKCEAuthentication", skip_serializing_if = "Option::is_none")]
        pub enable_pkce_authentication: Option<bool>,
        /// Read groups from the user-info endpoint.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub enable_user_info_groups: Option<bool>,
        /// Path of the user-info endpoint.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub user_info_path: String,
        /// How long user-info responses are cached (Go duration).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub user_info_cache_expiration: String,
        /// Audiences accepted in tokens.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub allowed_audiences: Vec<String>,
        /// Accept tokens without an audience.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub skip_audience_check_when_token_has_no_audience: Option<bool>,
        /// Domain hint passed to the provider.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub domain_hint: String,
        /// Azure AD (Entra ID) options.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub azure: Option<AzureOidcConfig>,
    }
}

argo_struct! {
    /// `oidc.config` `azure`: Azure AD (Entra ID) options.
    pub struct AzureOidcConfig {
        /// Authenticate the client with the pod's federated Workload Identity token
        /// (`AZURE_FEDERATED_TOKEN_FILE`) instead of a client secret (Argo CD's key).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub use_workload_identity: Option<bool>,
        /// Capstan: when Azure AD replaces the `groups` claim by a pointer because the user is
        /// in more than 200 groups (groups overage), read the groups from Microsoft Graph
        /// with the login's access token (needs the `GroupMember.Read.All` permission).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fetch_groups_from_graph: Option<bool>,
    }
}

argo_struct! {
    /// A requested ID token claim.
    pub struct OidcClaim {
        /// The claim is essential.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub essential: Option<bool>,
        /// Requested value.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub value: Option<String>,
        /// Requested values.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub values: Vec<String>,
    }
}

/// What a local account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountCapability {
    /// Generate API tokens (`apiKey`).
    ApiKey,
    /// Log in to the UI and CLI (`login`).
    Login,
}

impl AccountCapability {
    /// The `argocd-cm` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "apiKey",
            Self::Login => "login",
        }
    }
}

/// A local account from `accounts.<name>` and `accounts.<name>.enabled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Capabilities, in the order written.
    pub capabilities: Vec<AccountCapability>,
    /// Whether the account is enabled (default true).
    pub enabled: bool,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            capabilities: Vec::new(),
            enabled: true,
        }
    }
}

/// The built-in local account.
pub const ADMIN_ACCOUNT: &str = "admin";

/// A local account as Argo CD resolves it: `admin` or an `accounts.<name>` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAccount {
    /// Account name.
    pub name: String,
    /// Whether it may be used at all.
    pub enabled: bool,
    /// `login`: password login.
    pub login: bool,
    /// `apiKey`: API tokens.
    pub api_key: bool,
}

/// Typed `argocd-cm` settings, with Argo CD's defaults for absent keys.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgoCdSettings {
    /// `url`: externally visible base URL.
    pub url: Option<String>,
    /// `timeout.reconciliation` (default 120s; zero disables periodic refresh).
    pub reconciliation_timeout: Duration,
    /// `timeout.reconciliation.jitter` (default 60s).
    pub reconciliation_jitter: Duration,
    /// `timeout.hard.reconciliation` (default zero: disabled).
    pub hard_reconciliation_timeout: Duration,
    /// `application.resourceTrackingMethod` (default annotation).
    pub resource_tracking_method: TrackingMethod,
    /// `application.instanceLabelKey` (default `app.kubernetes.io/instance`).
    pub instance_label_key: String,
    /// `installationID`: set when several installations manage one cluster.
    pub installation_id: Option<String>,
    /// Resource customizations from both the legacy and the per-key forms, by group/kind.
    pub resource_customizations: BTreeMap<GroupKindPattern, ResourceCustomization>,
    /// `resource.exclusions` as written (Capstan's built-in exclusions are not included).
    pub resource_exclusions: Vec<FilteredResource>,
    /// `resource.inclusions`.
    pub resource_inclusions: Vec<FilteredResource>,
    /// `resource.compareoptions`.
    pub compare_options: CompareOptions,
    /// `users.anonymous.enabled` (default false).
    pub anonymous_enabled: bool,
    /// `admin.enabled` (default true).
    pub admin_enabled: bool,
    /// `statusbadge.enabled` (default false).
    pub status_badge_enabled: bool,
    /// `oidc.config`.
    pub oidc_config: Option<OidcConfig>,
    /// Local accounts by name.
    pub accounts: BTreeMap<String, Account>,
    /// `kustomize.buildOptions`.
    pub kustomize_build_options: Option<String>,
    /// `helm.valuesFileSchemes` (default `https`, `http`; empty disables remote value files).
    pub helm_values_file_schemes: Vec<String>,
    /// Every key of the ConfigMap as written, known or not.
    pub raw: BTreeMap<String, String>,
}

impl FilteredResource {
    /// Whether this entry matches the group, kind and cluster URL (Argo CD's
    /// `FilteredResource.Match`: each non-empty list must have a matching glob).
    pub fn matches(&self, group: &str, kind: &str, cluster: &str) -> bool {
        let any = |patterns: &[String], value: &str| {
            patterns.is_empty() || patterns.iter().any(|p| crate::glob::matches(p, value))
        };
        any(&self.api_groups, group) && any(&self.kinds, kind) && any(&self.clusters, cluster)
    }
}

/// Kinds Argo CD never watches, whatever `argocd-cm` says: high-volume, high-churn metadata
/// that no one manages through Git and that is never a managed object's child (Argo CD's
/// `coreExcludedResources`): `(group, kind)`, `"*"` for any kind of the group.
pub const CORE_EXCLUSIONS: &[(&str, &str)] = &[
    ("events.k8s.io", "*"),
    ("metrics.k8s.io", "*"),
    ("", "Event"),
    ("coordination.k8s.io", "Lease"),
];

impl ArgoCdSettings {
    /// Whether Capstan must leave this kind alone on this cluster: it is one of the
    /// [`CORE_EXCLUSIONS`], it matches a `resource.exclusions` entry, or `resource.inclusions`
    /// is set and it matches none.
    pub fn is_excluded(&self, group: &str, kind: &str, cluster: &str) -> bool {
        CORE_EXCLUSIONS
            .iter()
            .any(|(g, k)| *g == group && (*k == "*" || *k == kind))
            || self
                .resource_exclusions
                .iter()
                .any(|f| f.matches(group, kind, cluster))
            || (!self.resource_inclusions.is_empty()
                && !self
                    .resource_inclusions
                    .iter()
                    .any(|f| f.matches(group, kind, cluster)))
    }
}

/// Default of `timeout.reconciliation`.
pub const DEFAULT_RECONCILIATION_TIMEOUT: Duration = Duration::from_secs(120);
/// Default of `timeout.reconciliation.jitter`.
pub const DEFAULT_RECONCILIATION_JITTER: Duration = Duration::from_secs(60);
/// Default of `application.instanceLabelKey`.
pub const DEFAULT_INSTANCE_LABEL_KEY: &str = "app.kubernetes.io/instance";

impl Default for ArgoCdSettings {
    /// The settings of an empty (or absent) `argocd-cm`.
    fn default() -> Self {
        Self {
            url: None,
            reconciliation_timeout: DEFAULT_RECONCILIATION_TIMEOUT,
            reconciliation_jitter: DEFAULT_RECONCILIATION_JITTER,
            hard_reconciliation_timeout: Duration::ZERO,
            resource_tracking_method: TrackingMethod::default(),
            instance_label_key: DEFAULT_INSTANCE_LABEL_KEY.to_owned(),
            installation_id: None,
            resource_customizations: BTreeMap::new(),
            resource_exclusions: Vec::new(),
            resource_inclusions: Vec::new(),
            compare_options: CompareOptions::default(),
            anonymous_enabled: false,
            admin_enabled: true,
            status_badge_enabled: false,
            oidc_config: None,
            accounts: BTreeMap::new(),
            kustomize_build_options: None,
            helm_values_file_schemes: vec!["https".to_owned(), "http".to_owned()],
            raw: BTreeMap::new(),
        }
    }
}

impl ArgoCdSettings {
    /// The local account `name`, as Argo CD resolves it. `admin` exists unless `admin.enabled`
    /// is false; it always has `login`, and `accounts.admin` adds capabilities (`apiKey`, which
    /// Argo CD leaves off by default) while `accounts.admin.enabled: "false"` disables it. Any
    /// other name exists when `accounts.<name>` or `accounts.<name>.enabled` does.
    pub fn local_account(&self, name: &str) -> Option<LocalAccount> {
        let declared = self.accounts.get(name);
        let has = |capability| declared.is_some_and(|a| a.capabilities.contains(&capability));
        if name == ADMIN_ACCOUNT {
            return self.admin_enabled.then(|| LocalAccount {
                name: name.to_owned(),
                enabled: declared.is_none_or(|a| a.enabled),
                login: true,
                api_key: has(AccountCapability::ApiKey),
            });
        }
        declared.map(|a| LocalAccount {
            name: name.to_owned(),
            enabled: a.enabled,
            login: has(AccountCapability::Login),
            api_key: has(AccountCapability::ApiKey),
        })
    }

    /// Every local account, `admin` first (listed disabled when `admin.enabled` is false, as
    /// `argocd account list` shows it), then `accounts.*` by name.
    pub fn local_accounts(&self) -> Vec<LocalAccount> {
        let admin = self.local_account(ADMIN_ACCOUNT).unwrap_or(LocalAccount {
            name: ADMIN_ACCOUNT.to_owned(),
            enabled: false,
            login: true,
            api_key: false,
        });
        std::iter::once(admin)
            .chain(
                self.accounts
                    .keys()
                    .filter(|name| *name != ADMIN_ACCOUNT)
                    .filter_map(|name| self.local_account(name)),
            )
            .collect()
    }

    /// `admin.enabled` of an `argocd-cm`'s `data` alone, parsed exactly as
    /// [`from_config_map_data`](Self::from_config_map_data) parses it (`"0"`, `"f"`,
    /// `"False"`... disable; absent or empty: enabled) — for a decision that must not wait for,
    /// or depend on, the rest of the ConfigMap.
    pub fn admin_enabled_in(data: &BTreeMap<String, String>) -> Result<bool, SettingsError> {
        parse_bool(ARGOCD_CM, data, keys::ADMIN_ENABLED, true)
    }

    /// Parses the `data` of an `argocd-cm` ConfigMap.
    ///
    /// Absent and empty keys take Argo CD's defaults. The first malformed key is returned as an
    /// error naming the key; keys Capstan does not know are kept in [`raw`](Self::raw) only.
    pub fn from_config_map_data(data: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let mut settings = Self {
            raw: data.clone(),
            ..Self::default()
        };
        let text = |key: &str| {
            data.get(key)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
        };

        settings.url = text(keys::URL).map(str::to_owned);
        settings.reconciliation_timeout =
            duration(data, keys::TIMEOUT_RECONCILIATION)?.unwrap_or(DEFAULT_RECONCILIATION_TIMEOUT);
        settings.reconciliation_jitter = duration(data, keys::TIMEOUT_RECONCILIATION_JITTER)?
            .unwrap_or(DEFAULT_RECONCILIATION_JITTER);
        settings.hard_reconciliation_timeout =
            duration(data, keys::TIMEOUT_HARD_RECONCILIATION)?.unwrap_or(Duration::ZERO);
        if let Some(method) = text(keys::RESOURCE_TRACKING_METHOD) {
            settings.resource_tracking_method = match method {
                "annotation" => TrackingMethod::Annotation,
                "label" => TrackingMethod::Label,
                "annotation+label" => TrackingMethod::AnnotationAndLabel,
                _ => {
                    return Err(SettingsError::UnknownTrackingMethod {
                        config_map: ARGOCD_CM,
                        key: keys::RESOURCE_TRACKING_METHOD.to_owned(),
                        value: method.to_owned(),
                    });
                }
            };
        }
        if let Some(label) = text(keys::INSTANCE_LABEL_KEY) {
            settings.instance_label_key = label.to_owned();
        }
        settings.installation_id = text(keys::INSTALLATION_ID).map(str::to_owned);
        settings.resource_customizations = resource_customizations(data)?;
        if let Some(value) = text(keys::RESOURCE_EXCLUSIONS) {
            settings.resource_exclusions = parse_yaml(ARGOCD_CM, keys::RESOURCE_EXCLUSIONS, value)?;
        }
        if let Some(value) = text(keys::RESOURCE_INCLUSIONS) {
            settings.resource_inclusions = parse_yaml(ARGOCD_CM, keys::RESOURCE_INCLUSIONS, value)?;
        }
        if let Some(value) = text(keys::RESOURCE_COMPARE_OPTIONS) {
            settings.compare_options =
                parse_yaml(ARGOCD_CM, keys::RESOURCE_COMPARE_OPTIONS, value)?;
        }
        settings.anonymous_enabled =
            parse_bool(ARGOCD_CM, data, keys::USERS_ANONYMOUS_ENABLED, false)?;
        settings.admin_enabled = parse_bool(ARGOCD_CM, data, keys::ADMIN_ENABLED, true)?;
        settings.status_badge_enabled =
            parse_bool(ARGOCD_CM, data, keys::STATUS_BADGE_ENABLED, false)?;
        if let Some(value) = text(keys::OIDC_CONFIG) {
            settings.oidc_config = Some(parse_yaml(ARGOCD_CM, keys::OIDC_CONFIG, value)?);
        }
        settings.accounts = accounts(data)?;
        settings.kustomize_build_options = text(keys::KUSTOMIZE_BUILD_OPTIONS).map(str::to_owned);
        if let Some(value) = data.get(keys::HELM_VALUES_FILE_SCHEMES) {
            settings.helm_values_file_schemes = value
                .split(',')
                .map(str::trim)
                .filter(|scheme| !scheme.is_empty())
                .map(str::to_owned)
                .collect();
        }
        Ok(settings)
    }

    /// Fields inside YAML-valued keys that Capstan does not model (often typos such as
    /// `jsonPointer`), as `key: path` strings. They are kept, not rejected, so that settings
    /// written for a newer Argo CD still load; callers should log them.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut push = |key: String, fields: Vec<String>| {
            warnings.extend(
                fields
                    .into_iter()
                    .map(|field| format!("{key}: unknown field {field}")),
            );
        };
        for (group_kind, customization) in &self.resource_customizations {
            let key = format!("{}[{group_kind}]", keys::RESOURCE_CUSTOMIZATIONS);
            push(
                key.clone(),
                customization
                    .extra
                    .keys()
                    .map(|field| format!(".{field}"))
                    .collect(),
            );
            push(
                format!("{key}.actions"),
                customization.actions.unknown_fields(),
            );
            push(
                format!("{key}.ignoreDifferences"),
                customization.ignore_differences.unknown_fields(),
            );
            push(
                format!("{key}.ignoreResourceUpdates"),
                customization.ignore_resource_updates.unknown_fields(),
            );
            push(
                format!("{key}.knownTypeFields"),
                customization.known_type_fields.unknown_fields(),
            );
        }
        push(
            keys::RESOURCE_EXCLUSIONS.to_owned(),
            self.resource_exclusions.unknown_fields(),
        );
        push(
            keys::RESOURCE_INCLUSIONS.to_owned(),
            self.resource_inclusions.unknown_fields(),
        );
        push(
            keys::RESOURCE_COMPARE_OPTIONS.to_owned(),
            self.compare_options.unknown_fields(),
        );
        push(
            keys::OIDC_CONFIG.to_owned(),
            self.oidc_config.unknown_fields(),
        );
        warnings
    }
}

/// Parses an optional Go duration key; `None` when absent or empty.
fn duration(data: &BTreeMap<String, String>, key: &str) -> Result<Option<Duration>, SettingsError> {
    let Some(value) = data.get(key) else {
        return Ok(None);
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    parse_go_duration(trimmed)
        .map(Some)
        .map_err(|source| SettingsError::InvalidDuration {
            config_map: ARGOCD_CM,
            key: key.to_owned(),
            value: value.clone(),
            source,
        })
}

/// `accounts.<name>: apiKey, login` and `accounts.<name>.enabled: "false"`.
fn accounts(data: &BTreeMap<String, String>) -> Result<BTreeMap<String, Account>, SettingsError> {
    let mut accounts: BTreeMap<String, Account> = BTreeMap::new();
    for (key, value) in data {
        let Some(rest) = key.strip_prefix(keys::ACCOUNTS_PREFIX) else {
            continue;
        };
        if let Some(name) = rest.strip_suffix(".enabled") {
            let enabled = parse_bool(ARGOCD_CM, data, key, true)?;
            accounts.entry(name.to_owned()).or_default().enabled = enabled;
            continue;
        }
        let mut capabilities = Vec::new();
        for capability in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let capability = match capability {
                "apiKey" => AccountCapability::ApiKey,
                "login" => AccountCapability::Login,
                other => {
                    return Err(SettingsError::UnknownAccountCapability {
                        config_map: ARGOCD_CM,
                        key: key.clone(),
                        capability: other.to_owned(),
                    });
                }
            };
            if !capabilities.contains(&capability) {
                capabilities.push(capability);
            }
        }
        accounts.entry(rest.to_owned()).or_default().capabilities = capabilities;
    }
    Ok(accounts)
}

/// A value that Argo CD stores as a YAML string but that users sometimes write as a mapping.
#[derive(Deserialize)]
#[serde(untagged)]
enum YamlOrValue {
    Yaml(String),
    Value(Value),
}

impl YamlOrValue {
    fn parse<T: serde::de::DeserializeOwned>(
        self,
        key: &str,
        field: &str,
    ) -> Result<Option<T>, SettingsError> {
        let nested_error = |source| SettingsError::InvalidNestedYaml {
            config_map: ARGOCD_CM,
            key: key.to_owned(),
            field: field.to_owned(),
            source,
        };
        match self {
            Self::Yaml(text) if text.trim().is_empty() => Ok(None),
            Self::Yaml(text) => serde_yaml_ng::from_str(&text)
                .map(Some)
                .map_err(nested_error),
            Self::Value(Value::Null) => Ok(None),
            Self::Value(value) => {
                serde_yaml_ng::from_value(serde_yaml_ng::to_value(value).map_err(nested_error)?)
                    .map(Some)
                    .map_err(nested_error)
            }
        }
    }
}

/// One entry of the legacy `resource.customizations` map (Argo CD's `rawResourceOverride`).
#[derive(Deserialize)]
struct LegacyOverride {
    #[serde(rename = "health.lua", default)]
    health_lua: Option<String>,
    #[serde(rename = "health.lua.useOpenLibs", default)]
    use_open_libs: Option<bool>,
    #[serde(default)]
    actions: Option<YamlOrValue>,
    #[serde(rename = "ignoreDifferences", default)]
    ignore_differences: Option<YamlOrValue>,
    #[serde(rename = "ignoreResourceUpdates", default)]
    ignore_resource_updates: Option<YamlOrValue>,
    #[serde(rename = "knownTypeFields", default)]
    known_type_fields: Option<Vec<KnownTypeField>>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

/// Merges the legacy `resource.customizations` key and the per-key forms.
fn resource_customizations(
    data: &BTreeMap<String, String>,
) -> Result<BTreeMap<GroupKindPattern, ResourceCustomization>, SettingsError> {
    let mut result: BTreeMap<GroupKindPattern, ResourceCustomization> = BTreeMap::new();
    let legacy_key = keys::RESOURCE_CUSTOMIZATIONS;
    if let Some(value) = data
        .get(legacy_key)
        .filter(|value| !value.trim().is_empty())
    {
        let legacy: BTreeMap<String, LegacyOverride> = parse_yaml(ARGOCD_CM, legacy_key, value)?;
        for (group_kind, raw) in legacy {
            let pattern = match group_kind.split_once('/') {
                Some((group, kind)) => GroupKindPattern::new(group, kind),
                None => GroupKindPattern::new("", group_kind.as_str()),
            };
            let field = |name: &str| format!("{group_kind}.{name}");
            let entry = result.entry(pattern).or_default();
            entry.health_lua = raw.health_lua.filter(|lua| !lua.is_empty());
            entry.use_open_libs = raw.use_open_libs.unwrap_or(false);
            if let Some(actions) = raw.actions {
                entry.actions = actions.parse(legacy_key, &field("actions"))?;
            }
            if let Some(ignore) = raw.ignore_differences {
                entry.ignore_differences = ignore.parse(legacy_key, &field("ignoreDifferences"))?;
            }
            if let Some(ignore) = raw.ignore_resource_updates {
                entry.ignore_resource_updates =
                    ignore.parse(legacy_key, &field("ignoreResourceUpdates"))?;
            }
            entry.known_type_fields = raw.known_type_fields.unwrap_or_default();
            entry.extra = raw.extra;
        }
    }

    // Per-key form: resource.customizations.<type>.<group>_<kind>, which override the legacy
    // entry field by field. `<kind>` alone (or `_<kind>`) is the core group; `all` is every kind.
    let prefix = format!("{legacy_key}.");
    let mut seen: BTreeMap<(String, GroupKindPattern), String> = BTreeMap::new();
    for (key, value) in data {
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        let invalid = |reason: String| SettingsError::InvalidCustomizationKey {
            config_map: ARGOCD_CM,
            key: key.clone(),
            reason,
        };
        let Some((customization_type, group_kind)) = rest.split_once('.') else {
            return Err(invalid(
                "expected resource.customizations.<type>.<group>_<kind> (or .<kind> for the \
                 core group, or .all)"
                    .to_owned(),
            ));
        };
        let pattern = parse_group_kind(group_kind).map_err(invalid)?;
        if let Some(previous) = seen.insert(
            (customization_type.to_owned(), pattern.clone()),
            key.clone(),
        ) {
            return Err(invalid(format!(
                "configures the same {customization_type} customization of {pattern} as {previous}"
            )));
        }
        let entry = result.entry(pattern).or_default();
        match customization_type {
            "health" => entry.health_lua = Some(value.clone()),
            "useOpenLibs" => entry.use_open_libs = parse_bool(ARGOCD_CM, data, key, false)?,
            "actions" => entry.actions = Some(parse_yaml(ARGOCD_CM, key, value)?),
            "ignoreDifferences" => {
                entry.ignore_differences = Some(parse_yaml(ARGOCD_CM, key, value)?);
            }
            "ignoreResourceUpdates" => {
                entry.ignore_resource_updates = Some(parse_yaml(ARGOCD_CM, key, value)?);
            }
            "knownTypeFields" => entry.known_type_fields = parse_yaml(ARGOCD_CM, key, value)?,
            other => {
                return Err(invalid(format!(
                    "unknown customization type {other:?}: expected health, useOpenLibs, \
                     actions, ignoreDifferences, ignoreResourceUpdates or knownTypeFields"
                )));
            }
        }
    }
    Ok(result)
}

/// `<group>_<kind>`, `<kind>`, `_<kind>` or `all`, as in Argo CD's `convertToOverrideKey`.
///
/// Argo CD maps `_Pod` to the unmatchable key `/Pod`; Capstan reads it as the core group, which
/// is what the writer meant.
fn parse_group_kind(group_kind: &str) -> Result<GroupKindPattern, String> {
    if group_kind == "all" {
        return Ok(GroupKindPattern::all());
    }
    let (group, kind) = match group_kind.split_once('_') {
        Some((group, kind)) => (group, kind),
        None => ("", group_kind),
    };
    if kind.is_empty() || kind.contains('_') {
        return Err(format!(
            "group/kind {group_kind:?} must be <group>_<kind>, <kind> for the core group, or all"
        ));
    }
    Ok(GroupKindPattern::new(group, kind))
}

#[cfg(test)]
mod tests {
    #[test]
    fn exclusions_and_inclusions() {
        let data = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<String, String>>()
        };
        let excluding = ArgoCdSettings::from_config_map_data(&data(&[(
            "resource.exclusions",
            "- apiGroups: ['*.k8s.io']\n  kinds: ['*']\n  clusters: ['*']\n- apiGroups: ['']\n  kinds: [Event]\n",
        )]))
        .unwrap();
        let including = ArgoCdSettings::from_config_map_data(&data(&[(
            "resource.inclusions",
            "- apiGroups: ['', apps]\n  kinds: ['*']\n",
        )]))
        .unwrap();
        let default = ArgoCdSettings::default();
        let cluster = "https://kubernetes.default.svc";
        let cases = [
            (&excluding, "networking.k8s.io", "Ingress", true),
            (&excluding, "", "Event", true),
            (&excluding, "", "ConfigMap", false),
            (&excluding, "apps", "Deployment", false),
            (&including, "apps", "Deployment", false),
            (&including, "", "Service", false),
            (&including, "batch", "Job", true),
            // Argo CD's core exclusions hold whatever argocd-cm says.
            (&including, "", "Event", true),
            (&default, "", "Event", true),
            (&default, "events.k8s.io", "Event", true),
            (&default, "metrics.k8s.io", "PodMetrics", true),
            (&default, "coordination.k8s.io", "Lease", true),
            (&default, "coordination.k8s.io", "LeaseCandidate", false),
            (&default, "", "Pod", false),
        ];
        for (settings, group, kind, excluded) in cases {
            assert_eq!(
                settings.is_excluded(group, kind, cluster),
                excluded,
                "{group}/{kind}"
            );
        }
    }

    use super::*;

    #[test]
    fn local_accounts_resolve_as_argo_cd_resolves_them() {
        let account = |name: &str, enabled, login, api_key| LocalAccount {
            name: name.to_owned(),
            enabled,
            login,
            api_key,
        };
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [LocalAccount]);
        let cases: &[Case] = &[
            // Argo CD's default admin: login only.
            (&[], &[account("admin", true, true, false)]),
            (
                &[("accounts.admin", "apiKey")],
                &[account("admin", true, true, true)],
            ),
            (
                &[
                    ("accounts.admin", "apiKey, login"),
                    ("accounts.admin.enabled", "false"),
                ],
                &[account("admin", false, true, true)],
            ),
            (
                &[("admin.enabled", "false"), ("accounts.admin", "apiKey")],
                &[account("admin", false, true, false)],
            ),
            (
                &[
                    ("accounts.ci", "apiKey"),
                    ("accounts.alice", "login"),
                    ("accounts.alice.enabled", "false"),
                ],
                &[
                    account("admin", true, true, false),
                    account("alice", false, true, false),
                    account("ci", true, false, true),
                ],
            ),
        ];
        for (data, expected) in cases {
            let data: BTreeMap<String, String> = data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let settings = ArgoCdSettings::from_config_map_data(&data).expect("valid");
            assert_eq!(settings.local_accounts(), *expected, "{data:?}");
            for account in *expected {
                let found = settings.local_account(&account.name);
                if account.name == ADMIN_ACCOUNT && !settings.admin_enabled {
                    assert_eq!(found, None, "admin.enabled: false hides the admin");
                } else {
                    assert_eq!(found.as_ref(), Some(account), "{data:?}");
                }
            }
        }
        let settings = ArgoCdSettings::default();
        assert_eq!(settings.local_account("nobody"), None);
    }

    #[test]
    fn admin_enabled_alone_is_read_as_the_whole_config_map_reads_it() {
        let cases: &[(Option<&str>, Option<bool>)] = &[
            (None, Some(true)),
            (Some(""), Some(true)),
            (Some("true"), Some(true)),
            (Some("1"), Some(true)),
            (Some(" T "), Some(true)),
            (Some("false"), Some(false)),
            (Some("False"), Some(false)),
            (Some("0"), Some(false)),
            (Some("f"), Some(false)),
            (Some("perhaps"), None),
        ];
        for (value, expected) in cases {
            let data: BTreeMap<String, String> = value
                .iter()
                .map(|v| (keys::ADMIN_ENABLED.to_owned(), (*v).to_owned()))
                .collect();
            let alone = ArgoCdSettings::admin_enabled_in(&data).ok();
            assert_eq!(alone, *expected, "{value:?}");
            let whole = ArgoCdSettings::from_config_map_data(&data)
                .ok()
                .map(|s| s.admin_enabled);
            assert_eq!(alone, whole, "{value:?}");
        }
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn empty_config_map_gives_argo_cd_defaults() {
        let settings = ArgoCdSettings::from_config_map_data(&BTreeMap::new()).unwrap();
        assert_eq!(settings, ArgoCdSettings::default());
        assert_eq!(settings.reconciliation_timeout, Duration::from_secs(120));
        assert_eq!(settings.reconciliation_jitter, Duration::from_secs(60));
        assert_eq!(settings.hard_reconciliation_timeout, Duration::ZERO);
        assert_eq!(
            settings.resource_tracking_method,
            TrackingMethod::Annotation
        );
        assert_eq!(settings.instance_label_key, "app.kubernetes.io/instance");
        assert!(settings.admin_enabled);
        assert!(!settings.anonymous_enabled);
        assert_eq!(settings.helm_values_file_schemes, ["https", "http"]);
    }

    #[test]
    fn timeouts() {
        let cases: &[(&str, &str, Duration)] = &[
            (
                keys::TIMEOUT_RECONCILIATION,
                "180s",
                Duration::from_secs(180),
            ),
            (keys::TIMEOUT_RECONCILIATION, "3m", Duration::from_secs(180)),
            (
                keys::TIMEOUT_RECONCILIATION,
                " 1h30m ",
                Duration::from_secs(5400),
            ),
            (keys::TIMEOUT_RECONCILIATION, "0", Duration::ZERO),
            (keys::TIMEOUT_RECONCILIATION, "", Duration::from_secs(120)),
            (keys::TIMEOUT_RECONCILIATION_JITTER, "0s", Duration::ZERO),
            (
                keys::TIMEOUT_HARD_RECONCILIATION,
                "1h",
                Duration::from_secs(3600),
            ),
        ];
        for (key, value, expected) in cases {
            let settings = ArgoCdSettings::from_config_map_data(&data(&[(key, value)])).unwrap();
            let actual = match *key {
                keys::TIMEOUT_RECONCILIATION => settings.reconciliation_timeout,
                keys::TIMEOUT_RECONCILIATION_JITTER => settings.reconciliation_jitter,
                _ => settings.hard_reconciliation_timeout,
            };
            assert_eq!(actual, *expected, "{key}={value:?}");
        }
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                keys::TIMEOUT_RECONCILIATION,
                "3 minutes",
                "argocd-cm: timeout.reconciliation: invalid duration \"3 minutes\": unknown unit \" minutes\"",
            ),
            (
                keys::TIMEOUT_HARD_RECONCILIATION,
                "180",
                "argocd-cm: timeout.hard.reconciliation: invalid duration \"180\": missing unit",
            ),
            (
                keys::TIMEOUT_RECONCILIATION_JITTER,
                "-1s",
                "argocd-cm: timeout.reconciliation.jitter: invalid duration \"-1s\": negative",
            ),
            (
                keys::RESOURCE_TRACKING_METHOD,
                "labels",
                "argocd-cm: application.resourceTrackingMethod: unknown resource tracking method \"labels\"",
            ),
            (
                keys::USERS_ANONYMOUS_ENABLED,
                "yes",
                "argocd-cm: users.anonymous.enabled: invalid boolean \"yes\"",
            ),
            (
                keys::RESOURCE_CUSTOMIZATIONS,
                "apps/Deployment: [unclosed",
                "argocd-cm: resource.customizations: invalid YAML:",
            ),
            (
                keys::RESOURCE_CUSTOMIZATIONS,
                "apps/Deployment:\n  ignoreDifferences: |\n    jsonPointers: [unclosed\n",
                "argocd-cm: resource.customizations: apps/Deployment.ignoreDifferences: invalid YAML:",
            ),
            (
                "resource.customizations.health",
                "x",
                "argocd-cm: resource.customizations.health: expected resource.customizations.<type>.<group>_<kind>",
            ),
            (
                "resource.customizations.healthcheck.apps_Deployment",
                "x",
                "argocd-cm: resource.customizations.healthcheck.apps_Deployment: unknown customization type \"healthcheck\"",
            ),
            (
                "resource.customizations.health.apps_",
                "x",
                "argocd-cm: resource.customizations.health.apps_: group/kind \"apps_\" must be",
            ),
            (
                "resource.customizations.ignoreDifferences.apps_Deployment",
                "jsonPointers: /spec/replicas",
                "argocd-cm: resource.customizations.ignoreDifferences.apps_Deployment: invalid YAML:",
            ),
            (
                "resource.customizations.useOpenLibs.apps_Deployment",
                "sure",
                "argocd-cm: resource.customizations.useOpenLibs.apps_Deployment: invalid boolean \"sure\"",
            ),
            (
                keys::RESOURCE_EXCLUSIONS,
                "apiGroups: [x]",
                "argocd-cm: resource.exclusions: invalid YAML:",
            ),
            (
                "accounts.alice",
                "apiKey, logon",
                "argocd-cm: accounts.alice: unknown account capability \"logon\"",
            ),
            (
                "accounts.alice.enabled",
                "nope",
                "argocd-cm: accounts.alice.enabled: invalid boolean \"nope\"",
            ),
        ];
        for (key, value, expected) in cases {
            let error = ArgoCdSettings::from_config_map_data(&data(&[(key, value)]))
                .expect_err(&format!("{key}={value:?} must fail"));
            let message = error.to_string();
            assert!(
                message.starts_with(expected),
                "{key}={value:?}:\n  got      {message}\n  expected {expected}..."
            );
        }
    }

    #[test]
    fn core_group_aliases_conflict() {
        let error = ArgoCdSettings::from_config_map_data(&data(&[
            ("resource.customizations.health.Pod", "a"),
            ("resource.customizations.health._Pod", "b"),
        ]))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("configures the same health customization of Pod")
        );
    }

    #[test]
    fn both_customization_forms_merge() {
        let settings = ArgoCdSettings::from_config_map_data(&data(&[
            (
                "resource.customizations",
                "admissionregistration.k8s.io/MutatingWebhookConfiguration:\n  ignoreDifferences: |\n    jsonPointers:\n    - /webhooks/0/clientConfig/caBundle\napps/Deployment:\n  health.lua: |\n    return {status = \"Healthy\"}\n  health.lua.useOpenLibs: true\n  ignoreDifferences:\n    jqPathExpressions: ['.spec.replicas']\nService:\n  knownTypeFields:\n  - field: spec\n    type: core/v1/ServiceSpec\n",
            ),
            (
                "resource.customizations.health.apps_Deployment",
                "return {status = \"Degraded\"}",
            ),
            (
                "resource.customizations.ignoreDifferences.all",
                "managedFieldsManagers:\n- kube-controller-manager\njsonPointers:\n- /spec/replicas\n",
            ),
            (
                "resource.customizations.ignoreResourceUpdates.argoproj.io_Application",
                "jsonPointers:\n- /status\n",
            ),
            (
                "resource.customizations.actions.apps_Deployment",
                "discovery.lua: |\n  actions = {}\n  actions[\"restart\"] = {}\n  return actions\ndefinitions:\n- name: restart\n  action.lua: |\n    return obj\n",
            ),
            ("resource.customizations.health.ConfigMap", "return {}"),
            ("resource.customizations.health._Secret", "return {}"),
            ("resource.customizations.useOpenLibs.cert-manager.io_Certificate", "true"),
            (
                "resource.customizations.knownTypeFields.argoproj.io_Rollout",
                "- field: spec.template.spec\n  type: core/v1/PodSpec\n",
            ),
        ]))
        .unwrap();
        let customizations = &settings.resource_customizations;
        let webhook = &customizations[&GroupKindPattern::new(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
        )];
        assert_eq!(
            webhook.ignore_differences.as_ref().unwrap().json_pointers,
            ["/webhooks/0/clientConfig/caBundle"]
        );
        let deployment = &customizations[&GroupKindPattern::new("apps", "Deployment")];
        // The per-key health script overrides the legacy one; other legacy fields stay.
        assert_eq!(
            deployment.health_lua.as_deref(),
            Some("return {status = \"Degraded\"}")
        );
        assert!(deployment.use_open_libs);
        assert_eq!(
            deployment
                .ignore_differences
                .as_ref()
                .unwrap()
                .jq_path_expressions,
            [".spec.replicas"]
        );
        let actions = deployment.actions.as_ref().unwrap();
        assert_eq!(actions.definitions[0].name, "restart");
        assert!(actions.discovery_lua.contains("actions[\"restart\"]"));
        let all = &customizations[&GroupKindPattern::all()];
        assert_eq!(
            all.ignore_differences
                .as_ref()
                .unwrap()
                .managed_fields_managers,
            ["kube-controller-manager"]
        );
        let application = &customizations[&GroupKindPattern::new("argoproj.io", "Application")];
        assert_eq!(
            application
                .ignore_resource_updates
                .as_ref()
                .unwrap()
                .json_pointers,
            ["/status"]
        );
        assert!(
            customizations[&GroupKindPattern::new("", "ConfigMap")]
                .health_lua
                .is_some()
        );
        assert!(
            customizations[&GroupKindPattern::new("", "Secret")]
                .health_lua
                .is_some()
        );
        assert_eq!(
            customizations[&GroupKindPattern::new("", "Service")].known_type_fields[0].type_name,
            "core/v1/ServiceSpec"
        );
        assert!(
            customizations[&GroupKindPattern::new("cert-manager.io", "Certificate")].use_open_libs
        );
        assert_eq!(
            customizations[&GroupKindPattern::new("argoproj.io", "Rollout")].known_type_fields[0]
                .field,
            "spec.template.spec"
        );
        assert!(settings.warnings().is_empty(), "{:?}", settings.warnings());
    }

    #[test]
    fn unknown_fields_in_yaml_values_are_kept_and_reported() {
        let settings = ArgoCdSettings::from_config_map_data(&data(&[(
            "resource.customizations.ignoreDifferences.apps_Deployment",
            "jsonPointer:\n- /spec/replicas\n",
        )]))
        .unwrap();
        assert_eq!(
            settings.warnings(),
            [
                "resource.customizations[apps/Deployment].ignoreDifferences: unknown field .jsonPointer"
            ]
        );
    }

    #[test]
    fn other_settings() {
        let settings = ArgoCdSettings::from_config_map_data(&data(&[
            ("url", "https://capstan.example.com"),
            ("application.resourceTrackingMethod", "annotation+label"),
            ("application.instanceLabelKey", "mycompany.com/appname"),
            ("users.anonymous.enabled", "true"),
            ("admin.enabled", "false"),
            ("statusbadge.enabled", "True"),
            ("kustomize.buildOptions", "--load-restrictor LoadRestrictionsNone"),
            ("helm.valuesFileSchemes", "https, s3 ,"),
            ("accounts.alice", "apiKey, login"),
            ("accounts.alice.enabled", "false"),
            ("accounts.ci", "apiKey"),
            (
                "resource.exclusions",
                "- apiGroups:\n  - repositories.stash.appscode.com\n  kinds:\n  - Snapshot\n  clusters:\n  - \"*.local\"\n",
            ),
            ("resource.compareoptions", "ignoreAggregatedRoles: true\nignoreResourceStatusField: all\n"),
            (
                "oidc.config",
                "name: Azure\nissuer: https://login.microsoftonline.com/TENANT/v2.0\nclientID: abc\nclientSecret: $oidc.azure.clientSecret\nrequestedIDTokenClaims:\n  groups:\n    essential: true\nrequestedScopes: [\"openid\", \"profile\", \"email\"]\nenablePKCEAuthentication: true\nazure:\n  useWorkloadIdentity: true\nfutureOption: 1\n",
            ),
            ("ui.bannercontent", "Hello"),
        ]))
        .unwrap();
        assert_eq!(settings.url.as_deref(), Some("https://capstan.example.com"));
        assert_eq!(
            settings.resource_tracking_method,
            TrackingMethod::AnnotationAndLabel
        );
        assert_eq!(settings.instance_label_key, "mycompany.com/appname");
        assert!(settings.anonymous_enabled);
        assert!(!settings.admin_enabled);
        assert!(settings.status_badge_enabled);
        assert_eq!(
            settings.kustomize_build_options.as_deref(),
            Some("--load-restrictor LoadRestrictionsNone")
        );
        assert_eq!(settings.helm_values_file_schemes, ["https", "s3"]);
        assert_eq!(
            settings.accounts["alice"],
            Account {
                capabilities: vec![AccountCapability::ApiKey, AccountCapability::Login],
                enabled: false,
            }
        );
        assert!(settings.accounts["ci"].enabled);
        assert_eq!(settings.resource_exclusions[0].kinds, ["Snapshot"]);
        assert_eq!(settings.resource_exclusions[0].clusters, ["*.local"]);
        assert_eq!(settings.compare_options.ignore_aggregated_roles, Some(true));
        let oidc = settings.oidc_config.as_ref().unwrap();
        assert_eq!(oidc.client_id, "abc");
        assert_eq!(oidc.client_secret, "$oidc.azure.clientSecret");
        assert_eq!(oidc.requested_scopes, ["openid", "profile", "email"]);
        assert_eq!(
            oidc.requested_id_token_claims["groups"].essential,
            Some(true)
        );
        assert_eq!(oidc.enable_pkce_authentication, Some(true));
        assert_eq!(
            oidc.azure.as_ref().and_then(|a| a.use_workload_identity),
            Some(true)
        );
        // Unmodelled keys are kept (and reported), not dropped.
        assert_eq!(oidc.extra["futureOption"], Value::from(1));
        assert_eq!(
            settings.warnings(),
            ["oidc.config: unknown field .futureOption"]
        );
        assert_eq!(settings.raw["ui.bannercontent"], "Hello");
    }

    #[test]
    fn empty_helm_schemes_disable_remote_values() {
        let settings =
            ArgoCdSettings::from_config_map_data(&data(&[("helm.valuesFileSchemes", "")])).unwrap();
        assert!(settings.helm_values_file_schemes.is_empty());
    }
}
