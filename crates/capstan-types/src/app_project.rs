//! `AppProject` (`argoproj.io/v1alpha1`): a tenant boundary that limits where applications may
//! come from and go to, what they may deploy, when they may sync, and who may act on them.
//!
//! Field names and shapes follow Argo CD's `AppProjectSpec` (`types.go`, `app_project_types.go`).
//!
//! The project's rules are evaluated here too, exactly as Argo CD evaluates them and without IO:
//! [`AppProject::is_source_permitted`], [`AppProject::is_destination_permitted`],
//! [`AppProject::is_group_kind_name_permitted`] and, for sync windows,
//! [`SyncWindow::is_active_at`], [`SyncWindow::matches`] and [`AppProject::sync_allowed`].

use std::collections::BTreeMap;

use kube::CustomResource;

use crate::UnknownFields;
use crate::application::ApplicationDestination;
use crate::ser::is_zero;

mod cron;
mod git_url;
mod permissions;
mod sync_windows;

pub use cron::ScheduleError;
pub use git_url::normalize_git_url;
pub use sync_windows::{SyncDecision, SyncWindowError};

string_enum! {
    /// Whether a sync window allows or blocks syncs.
    pub enum SyncWindowKind {
        /// Syncs may run only inside the window.
        Allow = "allow",
        /// Syncs may not run inside the window.
        Deny = "deny",
    }
}

argo_struct! {
    /// Restrictions and roles of a project.
    #[derive(CustomResource)]
    #[kube(
        group = "argoproj.io",
        version = "v1alpha1",
        kind = "AppProject",
        namespaced,
        status = "AppProjectStatus",
        shortname = "appproj",
        shortname = "appprojs",
        derive = "PartialEq",
        derive = "Default",
        doc = "An Argo CD `AppProject` (`argoproj.io/v1alpha1`)."
    )]
    pub struct AppProjectSpec {
        /// Repository URLs (globs; `!` negates) applications may use.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub source_repos: Vec<String>,
        /// Clusters and namespaces (globs) applications may deploy to.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub destinations: Vec<ApplicationDestination>,
        /// Free-text description.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub description: String,
        /// Project roles with their policies, groups and tokens.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub roles: Vec<ProjectRole>,
        /// Cluster-scoped kinds that may be deployed (none when empty).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub cluster_resource_whitelist: Vec<ClusterResourceRestrictionItem>,
        /// Namespaced kinds that may not be deployed.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub namespace_resource_blacklist: Vec<GroupKind>,
        /// Orphaned resource monitoring.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub orphaned_resources: Option<OrphanedResourcesMonitorSettings>,
        /// Time windows that allow or block syncs.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub sync_windows: Vec<SyncWindow>,
        /// Namespaced kinds that may be deployed. Absent allows every kind; an empty list allows
        /// none (Argo CD's semantics), so the distinction is kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub namespace_resource_whitelist: Option<Vec<GroupKind>>,
        /// GPG keys commits must be signed with.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub signature_keys: Vec<SignatureKey>,
        /// Cluster-scoped kinds that may not be deployed.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub cluster_resource_blacklist: Vec<ClusterResourceRestrictionItem>,
        /// Namespaces (globs) Applications of this project may live in.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub source_namespaces: Vec<String>,
        /// Only allow destinations on clusters scoped to this project.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub permit_only_project_scoped_clusters: Option<bool>,
        /// Service accounts impersonated when syncing to each destination.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub destination_service_accounts: Vec<ApplicationDestinationServiceAccount>,
    }
}

argo_struct! {
    /// A Kubernetes API group and kind (`group` is empty for the core group).
    pub struct GroupKind {
        /// API group; empty for the core group, globs allowed.
        pub group: String,
        /// Kind; globs allowed.
        pub kind: String,
    }
}

argo_struct! {
    /// A cluster-scoped kind, optionally narrowed to names, in a project allow or deny list.
    pub struct ClusterResourceRestrictionItem {
        /// API group; empty for the core group, globs allowed.
        pub group: String,
        /// Kind; globs allowed.
        pub kind: String,
        /// Resource name glob; empty matches every name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
    }
}

argo_struct! {
    /// A project role.
    pub struct ProjectRole {
        /// Role name.
        pub name: String,
        /// Description.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub description: String,
        /// Casbin policy lines (`p, proj:<project>:<role>, <resource>, <action>, <object>, <effect>`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub policies: Vec<String>,
        /// Tokens issued for the role (legacy location; see status).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub jwt_tokens: Vec<JwtToken>,
        /// OIDC groups bound to the role.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub groups: Vec<String>,
    }
}

argo_struct! {
    /// Metadata of a token issued for a project role.
    pub struct JwtToken {
        /// Issued-at time, seconds since the epoch.
        pub iat: i64,
        /// Expiry time, seconds since the epoch; 0 for none.
        #[serde(skip_serializing_if = "is_zero")]
        pub exp: i64,
        /// Token ID.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub id: String,
    }
}

argo_struct! {
    /// A time window that allows or blocks syncs.
    pub struct SyncWindow {
        /// `allow` or `deny`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub kind: Option<SyncWindowKind>,
        /// Start times, as a cron expression.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub schedule: String,
        /// Length of the window (Go duration, for example `2h`).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub duration: String,
        /// Application name globs the window applies to.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub applications: Vec<String>,
        /// Namespace globs the window applies to.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub namespaces: Vec<String>,
        /// Cluster name globs the window applies to.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub clusters: Vec<String>,
        /// Allow manual syncs while the window blocks syncs.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub manual_sync: Option<bool>,
        /// Time zone of the schedule (IANA name); UTC when empty.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub time_zone: String,
        /// Match applications AND namespaces AND clusters instead of OR.
        #[serde(rename = "andOperator", skip_serializing_if = "Option::is_none")]
        pub and_operator: Option<bool>,
        /// Description.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub description: String,
    }
}

argo_struct! {
    /// Orphaned resource monitoring.
    pub struct OrphanedResourcesMonitorSettings {
        /// Raise a warning condition when orphaned resources exist.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub warn: Option<bool>,
        /// Resources never reported as orphaned.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub ignore: Vec<OrphanedResourceKey>,
    }
}

argo_struct! {
    /// A resource (globs allowed) excluded from orphaned resource monitoring.
    pub struct OrphanedResourceKey {
        /// API group. Absent and `""` both mean the core group; which one was written is kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        /// Kind.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub kind: String,
        /// Name.
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
    }
}

argo_struct! {
    /// A GPG key commits must be signed with.
    pub struct SignatureKey {
        /// Key ID in hexadecimal.
        #[serde(rename = "keyID")]
        pub key_id: String,
    }
}

argo_struct! {
    /// The service account impersonated when syncing to a destination.
    pub struct ApplicationDestinationServiceAccount {
        /// API server URL (glob) of the destination cluster.
        pub server: String,
        /// Destination namespace (glob).
        #[serde(skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Service account to impersonate (`[namespace:]name`).
        pub default_service_account: String,
    }
}

argo_struct! {
    /// Observed state of a project.
    pub struct AppProjectStatus {
        /// Tokens issued, by role name.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub jwt_tokens_by_role: BTreeMap<String, JwtTokens>,
    }
}

argo_struct! {
    /// A list of tokens.
    pub struct JwtTokens {
        /// Tokens.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub items: Vec<JwtToken>,
    }
}

impl UnknownFields for AppProject {
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
        self.spec
            .collect_unknown_fields(&format!("{path}.spec"), out);
        self.status
            .collect_unknown_fields(&format!("{path}.status"), out);
    }
}
