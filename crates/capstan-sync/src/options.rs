//! Sync options: the Application's `spec.syncPolicy.syncOptions` (or the operation's
//! `syncOptions`) and the per-resource `argocd.argoproj.io/sync-options` annotation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::{self, ANNOTATION_SYNC_OPTIONS};

/// How a pruned object's dependents are deleted (`PrunePropagationPolicy=`); Kubernetes'
/// `DeleteOptions.propagationPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PropagationPolicy {
    /// Dependents first, then the owner (Argo CD's default).
    #[default]
    Foreground,
    /// The owner at once, dependents in the background.
    Background,
    /// The owner only; dependents are orphaned.
    Orphan,
}

impl PropagationPolicy {
    /// The Kubernetes name: `Foreground`, `Background` or `Orphan`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Foreground => "Foreground",
            Self::Background => "Background",
            Self::Orphan => "Orphan",
        }
    }
}

/// The value of a `Prune=` or `Delete=` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfirmOption {
    /// `=true` (or, as in Argo CD, any value other than `false` and `confirm`).
    Enabled,
    /// `=false`: never prune (or delete) the resource.
    Disabled,
    /// `=confirm`: prune (or delete) only after the user confirmed it.
    Confirm,
}

impl ConfirmOption {
    fn parse(value: &str) -> Self {
        match value {
            "false" => Self::Disabled,
            "confirm" => Self::Confirm,
            _ => Self::Enabled,
        }
    }
}

/// Why a sync option string was rejected by [`SyncOptions::parse`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncOptionError {
    /// The option has no `=`.
    #[error("sync option {option:?} is not of the form Name=value")]
    Malformed {
        /// The rejected option.
        option: String,
    },
    /// The name is not an Application-level sync option Argo CD knows.
    #[error(
        "unknown sync option {option:?}: known options are {}",
        KNOWN_APP_OPTIONS.join(", ")
    )]
    Unknown {
        /// The rejected option.
        option: String,
    },
    /// The name is known but the value is not one it takes.
    #[error("sync option {option:?}: {name} takes {expected}")]
    InvalidValue {
        /// The rejected option.
        option: String,
        /// The option's name.
        name: String,
        /// The values it takes.
        expected: &'static str,
    },
}

/// Application-level sync option names [`SyncOptions::parse`] accepts.
pub const KNOWN_APP_OPTIONS: [&str; 13] = [
    "Validate",
    "CreateNamespace",
    "PruneLast",
    "ApplyOutOfSyncOnly",
    "ServerSideApply",
    "Replace",
    "PrunePropagationPolicy",
    "RespectIgnoreDifferences",
    "FailOnSharedResource",
    "SkipDryRunOnMissingResource",
    "Prune",
    "Delete",
    "ClientSideApplyMigration",
];

/// The Application's sync options (`spec.syncPolicy.syncOptions`, or `operation.sync.syncOptions`
/// for one operation; automated syncs copy the former into the latter).
///
/// Argo CD compares these strings literally (`SyncOptions.HasOption("CreateNamespace=true")`),
/// so a flag is on when `Name=true` appears anywhere in the list and off otherwise, whatever
/// else the list says. [`SyncOptions::parse_lenient`] reproduces that exactly;
/// [`SyncOptions::parse`] additionally rejects what Argo CD would silently ignore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOptions {
    /// `CreateNamespace=true`: create the destination namespace if it does not exist.
    pub create_namespace: bool,
    /// `PruneLast=true`: prune every resource in a final wave, after all other waves.
    pub prune_last: bool,
    /// `ApplyOutOfSyncOnly=true`: apply only resources that are out of sync (hooks still run).
    pub apply_out_of_sync_only: bool,
    /// `ServerSideApply=true`: apply with server-side apply.
    pub server_side_apply: bool,
    /// `Replace=true`: `replace`/`create` instead of `apply`.
    pub replace: bool,
    /// `false` with `Validate=false`: apply without schema validation. Default `true`.
    pub validate: bool,
    /// `PrunePropagationPolicy=foreground|background|orphan`; default foreground.
    pub prune_propagation_policy: PropagationPolicy,
    /// `RespectIgnoreDifferences=true`: keep live values of ignored fields when applying.
    pub respect_ignore_differences: bool,
    /// `FailOnSharedResource=true`: fail if a resource belongs to another Application.
    pub fail_on_shared_resource: bool,
    /// `SkipDryRunOnMissingResource=true`: skip the dry run of resources whose type the
    /// cluster does not know yet.
    pub skip_dry_run_on_missing_resource: bool,
    /// `Prune=true|false|confirm`: the default for resources without a `Prune=` annotation;
    /// `None` when not set (prune normally).
    pub prune: Option<ConfirmOption>,
    /// `Delete=true|false|confirm`: the default for resources without a `Delete=` annotation
    /// when the Application is deleted (not used by sync planning).
    pub delete: Option<ConfirmOption>,
    /// `false` with `ClientSideApplyMigration=false`: do not migrate client-side-apply field
    /// ownership when applying server-side. Default `true`.
    pub client_side_apply_migration: bool,
    /// Options [`SyncOptions::parse_lenient`] ignored, as Argo CD does (unknown names, unknown
    /// values, stray spaces). Always empty after [`SyncOptions::parse`].
    pub ignored: Vec<String>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            create_namespace: false,
            prune_last: false,
            apply_out_of_sync_only: false,
            server_side_apply: false,
            replace: false,
            validate: true,
            prune_propagation_policy: PropagationPolicy::Foreground,
            respect_ignore_differences: false,
            fail_on_shared_resource: false,
            skip_dry_run_on_missing_resource: false,
            prune: None,
            delete: None,
            client_side_apply_migration: true,
            ignored: Vec::new(),
        }
    }
}

impl SyncOptions {
    /// Parses sync options strictly: every entry must be `Name=value` with a name in
    /// [`KNOWN_APP_OPTIONS`] and a value that name takes (`true`/`false` for flags,
    /// `foreground|background|orphan` for `PrunePropagationPolicy`, `true|false|confirm` for
    /// `Prune` and `Delete`), written exactly (case-sensitive, no spaces). Use it to validate
    /// user input; the result, when `Ok`, equals [`SyncOptions::parse_lenient`]'s.
    pub fn parse(options: &[String]) -> Result<Self, SyncOptionError> {
        for option in options {
            check_app_option(option)?;
        }
        Ok(Self::parse_lenient(options))
    }

    /// Parses sync options exactly as Argo CD reads them: a flag is on when `Name=true` is
    /// present; `Validate` is off when `Validate=false` is present; `PrunePropagationPolicy`
    /// is background if `=background` is present, else foreground, else orphan if `=orphan` is
    /// present (Argo CD's `switch` order); `Prune=`/`Delete=` take the first entry's value.
    /// Anything else is ignored and listed in [`SyncOptions::ignored`]; nothing fails.
    pub fn parse_lenient(options: &[String]) -> Self {
        let has = |option: &str| options.iter().any(|o| o == option);
        let value_of = |name: &str| {
            options.iter().find_map(|o| {
                o.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(ConfirmOption::parse)
            })
        };
        let prune_propagation_policy = if has("PrunePropagationPolicy=background") {
            PropagationPolicy::Background
        } else if has("PrunePropagationPolicy=foreground") {
            PropagationPolicy::Foreground
        } else if has("PrunePropagationPolicy=orphan") {
            PropagationPolicy::Orphan
        } else {
            PropagationPolicy::Foreground
        };
        let ignored = options
            .iter()
            .filter(|o| check_app_option(o).is_err())
            .cloned()
            .collect();
        Self {
            create_namespace: has("CreateNamespace=true"),
            prune_last: has("PruneLast=true"),
            apply_out_of_sync_only: has("ApplyOutOfSyncOnly=true"),
            server_side_apply: has("ServerSideApply=true"),
            replace: has("Replace=true"),
            validate: !has("Validate=false"),
            prune_propagation_policy,
            respect_ignore_differences: has("RespectIgnoreDifferences=true"),
            fail_on_shared_resource: has("FailOnSharedResource=true"),
            skip_dry_run_on_missing_resource: has("SkipDryRunOnMissingResource=true"),
            prune: value_of("Prune"),
            delete: value_of("Delete"),
            client_side_apply_migration: !has("ClientSideApplyMigration=false"),
            ignored,
        }
    }
}

/// Checks one Application-level option string for [`SyncOptions::parse`].
fn check_app_option(option: &str) -> Result<(), SyncOptionError> {
    let Some((name, value)) = option.split_once('=') else {
        return Err(SyncOptionError::Malformed {
            option: option.to_owned(),
        });
    };
    if !KNOWN_APP_OPTIONS.contains(&name) {
        return Err(SyncOptionError::Unknown {
            option: option.to_owned(),
        });
    }
    let expected = match name {
        "PrunePropagationPolicy" => "foreground, background or orphan",
        "Prune" | "Delete" => "true, false or confirm",
        _ => "true or false",
    };
    let valid = match name {
        "PrunePropagationPolicy" => matches!(value, "foreground" | "background" | "orphan"),
        "Prune" | "Delete" => matches!(value, "true" | "false" | "confirm"),
        _ => matches!(value, "true" | "false"),
    };
    if valid {
        Ok(())
    } else {
        Err(SyncOptionError::InvalidValue {
            option: option.to_owned(),
            name: name.to_owned(),
            expected,
        })
    }
}

/// A resource's own sync options, from its `argocd.argoproj.io/sync-options` annotation
/// (comma-separated, each item trimmed). Unknown items are ignored, as Argo CD ignores them, and
/// listed in [`ResourceSyncOptions::ignored`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSyncOptions {
    /// `Prune=true|false|confirm` (first `Prune=` item).
    pub prune: Option<ConfirmOption>,
    /// `Delete=true|false|confirm` (first `Delete=` item); used when the Application is deleted.
    pub delete: Option<ConfirmOption>,
    /// `PruneLast=true`.
    pub prune_last: bool,
    /// `Replace=true`.
    pub replace: bool,
    /// `Force=true`: delete and re-create when the resource cannot be patched.
    pub force: bool,
    /// `ServerSideApply=false` (wins if both are present) or `ServerSideApply=true`.
    pub server_side_apply: Option<bool>,
    /// `Validate=false` (wins if both are present) or `Validate=true`.
    pub validate: Option<bool>,
    /// `SkipDryRunOnMissingResource=true`.
    pub skip_dry_run_on_missing_resource: bool,
    /// `RespectIgnoreDifferences=true|false` (first item).
    pub respect_ignore_differences: Option<bool>,
    /// Items not understood.
    pub ignored: Vec<String>,
}

impl ResourceSyncOptions {
    /// Reads the `argocd.argoproj.io/sync-options` annotation of `obj`.
    pub fn from_object(obj: &Value) -> Self {
        let items = object::annotation_csv(obj, ANNOTATION_SYNC_OPTIONS);
        let has = |item: &str| items.iter().any(|i| i == item);
        let value_of = |name: &str| {
            items.iter().find_map(|i| {
                i.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(str::to_owned)
            })
        };
        let tri = |name: &str| {
            if has(&format!("{name}=false")) {
                Some(false)
            } else if has(&format!("{name}=true")) {
                Some(true)
            } else {
                None
            }
        };
        let respect_ignore_differences =
            value_of("RespectIgnoreDifferences").and_then(|v| match v.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            });
        let known = |item: &str| -> bool {
            matches!(
                item,
                "PruneLast=true"
                    | "Replace=true"
                    | "Replace=false"
                    | "Force=true"
                    | "ServerSideApply=true"
                    | "ServerSideApply=false"
                    | "Validate=true"
                    | "Validate=false"
                    | "SkipDryRunOnMissingResource=true"
                    | "RespectIgnoreDifferences=true"
                    | "RespectIgnoreDifferences=false"
                    | "ClientSideApplyMigration=true"
                    | "ClientSideApplyMigration=false"
                    | "Prune=true"
                    | "Prune=false"
                    | "Prune=confirm"
                    | "Delete=true"
                    | "Delete=false"
                    | "Delete=confirm"
            )
        };
        Self {
            prune: value_of("Prune").map(|v| ConfirmOption::parse(&v)),
            delete: value_of("Delete").map(|v| ConfirmOption::parse(&v)),
            prune_last: has("PruneLast=true"),
            replace: has("Replace=true"),
            force: has("Force=true"),
            server_side_apply: tri("ServerSideApply"),
            validate: tri("Validate"),
            skip_dry_run_on_missing_resource: has("SkipDryRunOnMissingResource=true"),
            respect_ignore_differences,
            ignored: items.iter().filter(|i| !known(i)).cloned().collect(),
        }
    }
}

/// The options that apply to one resource once Application-level and resource-level options
/// are combined, following gitops-engine's rules for each (they are not all "resource wins"):
///
/// | option | rule |
/// |---|---|
/// | `prune` | resource `Prune=` (of the live object) if set, else the app's `Prune=`, else enabled |
/// | `delete` | resource `Delete=` (live object, else desired) if set, else the app's |
/// | `prune_last` | app `PruneLast=true` **or** live object `PruneLast=true` |
/// | `replace` | app `Replace=true` **or** desired **or** live `Replace=true` |
/// | `force` | desired **or** live `Force=true` (the sync strategy's force is added by the planner) |
/// | `server_side_apply` | desired `ServerSideApply=false` disables; else app **or** desired `=true` |
/// | `validate` | app `Validate` **and not** desired `Validate=false` (a resource cannot re-enable it) |
/// | `skip_dry_run_on_missing_resource` | app **or** desired `=true` |
/// | `respect_ignore_differences` | desired `RespectIgnoreDifferences=` if set, else the app's |
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveSyncOptions {
    /// Whether and how the resource may be pruned.
    pub prune: ConfirmOption,
    /// Whether and how the resource may be deleted with the Application.
    pub delete: ConfirmOption,
    /// Prune in the final, implicit wave.
    pub prune_last: bool,
    /// Replace/create instead of apply.
    pub replace: bool,
    /// Force (delete and re-create) from annotations.
    pub force: bool,
    /// Server-side apply (before the dry-run rule: the planner turns it off for dry runs).
    pub server_side_apply: bool,
    /// Validate against the schema.
    pub validate: bool,
    /// Skip the dry run when the resource type is missing.
    pub skip_dry_run_on_missing_resource: bool,
    /// Keep live values of ignored fields when applying.
    pub respect_ignore_differences: bool,
}

impl EffectiveSyncOptions {
    /// Combines `app` with the annotations of the desired and live objects (either may be
    /// absent).
    pub fn resolve(app: &SyncOptions, desired: Option<&Value>, live: Option<&Value>) -> Self {
        let desired = desired
            .map(ResourceSyncOptions::from_object)
            .unwrap_or_default();
        let live = live
            .map(ResourceSyncOptions::from_object)
            .unwrap_or_default();
        Self {
            prune: live.prune.or(app.prune).unwrap_or(ConfirmOption::Enabled),
            delete: live
                .delete
                .or(desired.delete)
                .or(app.delete)
                .unwrap_or(ConfirmOption::Enabled),
            prune_last: app.prune_last || live.prune_last,
            replace: app.replace || desired.replace || live.replace,
            force: desired.force || live.force,
            server_side_apply: desired.server_side_apply != Some(false)
                && (app.server_side_apply || desired.server_side_apply == Some(true)),
            validate: app.validate && desired.validate != Some(false),
            skip_dry_run_on_missing_resource: app.skip_dry_run_on_missing_resource
                || desired.skip_dry_run_on_missing_resource,
            respect_ignore_differences: desired
                .respect_ignore_differences
                .unwrap_or(app.respect_ignore_differences),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn strings(options: &[&str]) -> Vec<String> {
        options.iter().map(|o| (*o).to_owned()).collect()
    }

    #[test]
    fn valid_app_options() {
        let cases: Vec<(&[&str], SyncOptions)> = vec![
            (&[], SyncOptions::default()),
            (
                &[
                    "CreateNamespace=true",
                    "PruneLast=true",
                    "ApplyOutOfSyncOnly=true",
                ],
                SyncOptions {
                    create_namespace: true,
                    prune_last: true,
                    apply_out_of_sync_only: true,
                    ..SyncOptions::default()
                },
            ),
            (
                &["ServerSideApply=true", "Replace=true", "Validate=false"],
                SyncOptions {
                    server_side_apply: true,
                    replace: true,
                    validate: false,
                    ..SyncOptions::default()
                },
            ),
            (
                &["PrunePropagationPolicy=orphan"],
                SyncOptions {
                    prune_propagation_policy: PropagationPolicy::Orphan,
                    ..SyncOptions::default()
                },
            ),
            (
                &["PrunePropagationPolicy=background"],
                SyncOptions {
                    prune_propagation_policy: PropagationPolicy::Background,
                    ..SyncOptions::default()
                },
            ),
            (
                &["PrunePropagationPolicy=foreground"],
                SyncOptions::default(),
            ),
            (
                &[
                    "RespectIgnoreDifferences=true",
                    "FailOnSharedResource=true",
                    "SkipDryRunOnMissingResource=true",
                ],
                SyncOptions {
                    respect_ignore_differences: true,
                    fail_on_shared_resource: true,
                    skip_dry_run_on_missing_resource: true,
                    ..SyncOptions::default()
                },
            ),
            (
                &["Prune=false", "Delete=confirm"],
                SyncOptions {
                    prune: Some(ConfirmOption::Disabled),
                    delete: Some(ConfirmOption::Confirm),
                    ..SyncOptions::default()
                },
            ),
            (
                &["Prune=confirm", "Delete=true"],
                SyncOptions {
                    prune: Some(ConfirmOption::Confirm),
                    delete: Some(ConfirmOption::Enabled),
                    ..SyncOptions::default()
                },
            ),
            (
                &[
                    "ClientSideApplyMigration=false",
                    "Validate=true",
                    "CreateNamespace=false",
                ],
                SyncOptions {
                    client_side_apply_migration: false,
                    ..SyncOptions::default()
                },
            ),
            // "true" anywhere wins, as with Argo CD's HasOption.
            (
                &["ServerSideApply=false", "ServerSideApply=true"],
                SyncOptions {
                    server_side_apply: true,
                    ..SyncOptions::default()
                },
            ),
        ];
        for (options, want) in cases {
            let options = strings(options);
            assert_eq!(
                SyncOptions::parse(&options).as_ref(),
                Ok(&want),
                "{options:?}"
            );
            assert_eq!(SyncOptions::parse_lenient(&options), want, "{options:?}");
        }
    }

    #[test]
    fn invalid_app_options() {
        let cases: Vec<(&str, SyncOptionError, &str)> = vec![
            (
                "CreateNamespace",
                SyncOptionError::Malformed {
                    option: "CreateNamespace".into(),
                },
                "sync option \"CreateNamespace\" is not of the form Name=value",
            ),
            (
                "CreateNamspace=true",
                SyncOptionError::Unknown {
                    option: "CreateNamspace=true".into(),
                },
                "unknown sync option \"CreateNamspace=true\"",
            ),
            (
                "createnamespace=true",
                SyncOptionError::Unknown {
                    option: "createnamespace=true".into(),
                },
                "unknown sync option \"createnamespace=true\"",
            ),
            (
                "Force=true",
                SyncOptionError::Unknown {
                    option: "Force=true".into(),
                },
                "unknown sync option \"Force=true\"",
            ),
            (
                "CreateNamespace=yes",
                SyncOptionError::InvalidValue {
                    option: "CreateNamespace=yes".into(),
                    name: "CreateNamespace".into(),
                    expected: "true or false",
                },
                "sync option \"CreateNamespace=yes\": CreateNamespace takes true or false",
            ),
            (
                "PrunePropagationPolicy=Orphan",
                SyncOptionError::InvalidValue {
                    option: "PrunePropagationPolicy=Orphan".into(),
                    name: "PrunePropagationPolicy".into(),
                    expected: "foreground, background or orphan",
                },
                "PrunePropagationPolicy takes foreground, background or orphan",
            ),
            (
                "Prune=maybe",
                SyncOptionError::InvalidValue {
                    option: "Prune=maybe".into(),
                    name: "Prune".into(),
                    expected: "true, false or confirm",
                },
                "Prune takes true, false or confirm",
            ),
            (
                " Validate=false",
                SyncOptionError::Unknown {
                    option: " Validate=false".into(),
                },
                "unknown sync option \" Validate=false\"",
            ),
        ];
        for (option, want, message_part) in cases {
            let options = strings(&["PruneLast=true", option]);
            let err = SyncOptions::parse(&options).expect_err(option);
            assert_eq!(err, want, "{option}");
            assert!(
                err.to_string().contains(message_part),
                "{option}: {err} should contain {message_part}"
            );
            // Argo CD ignores what strict parsing rejects.
            let lenient = SyncOptions::parse_lenient(&options);
            assert_eq!(lenient.ignored, vec![option.to_owned()], "{option}");
            assert!(lenient.prune_last, "{option}");
        }
        // An ignored option changes nothing.
        let lenient =
            SyncOptions::parse_lenient(&strings(&[" Validate=false", "CreateNamespace=yes"]));
        assert!(lenient.validate);
        assert!(!lenient.create_namespace);
    }

    #[test]
    fn propagation_policy_precedence_is_argo_cds_switch_order() {
        let got = SyncOptions::parse_lenient(&strings(&[
            "PrunePropagationPolicy=orphan",
            "PrunePropagationPolicy=background",
        ]));
        assert_eq!(got.prune_propagation_policy, PropagationPolicy::Background);
    }

    fn with_options(value: &str) -> Value {
        json!({"metadata": {"annotations": {ANNOTATION_SYNC_OPTIONS: value}}})
    }

    #[test]
    fn resource_options_table() {
        let cases: Vec<(&str, ResourceSyncOptions)> = vec![
            ("", ResourceSyncOptions::default()),
            (
                "Prune=false",
                ResourceSyncOptions {
                    prune: Some(ConfirmOption::Disabled),
                    ..Default::default()
                },
            ),
            (
                "Prune=confirm, Delete=false",
                ResourceSyncOptions {
                    prune: Some(ConfirmOption::Confirm),
                    delete: Some(ConfirmOption::Disabled),
                    ..Default::default()
                },
            ),
            (
                "PruneLast=true,Replace=true,Force=true",
                ResourceSyncOptions {
                    prune_last: true,
                    replace: true,
                    force: true,
                    ..Default::default()
                },
            ),
            (
                "ServerSideApply=true,Validate=false,SkipDryRunOnMissingResource=true",
                ResourceSyncOptions {
                    server_side_apply: Some(true),
                    validate: Some(false),
                    skip_dry_run_on_missing_resource: true,
                    ..Default::default()
                },
            ),
            (
                "ServerSideApply=true,ServerSideApply=false",
                ResourceSyncOptions {
                    server_side_apply: Some(false),
                    ..Default::default()
                },
            ),
            (
                "RespectIgnoreDifferences=false,Bogus=1",
                ResourceSyncOptions {
                    respect_ignore_differences: Some(false),
                    ignored: vec!["Bogus=1".into()],
                    ..Default::default()
                },
            ),
        ];
        for (annotation, want) in cases {
            assert_eq!(
                ResourceSyncOptions::from_object(&with_options(annotation)),
                want,
                "{annotation:?}"
            );
        }
    }

    #[test]
    fn effective_options_table() {
        struct Case {
            name: &'static str,
            app: &'static [&'static str],
            desired: &'static str,
            live: &'static str,
            check: fn(&EffectiveSyncOptions) -> bool,
        }
        let cases = [
            Case {
                name: "defaults",
                app: &[],
                desired: "",
                live: "",
                check: |e| {
                    e.prune == ConfirmOption::Enabled
                        && e.validate
                        && !e.server_side_apply
                        && !e.replace
                        && !e.prune_last
                },
            },
            Case {
                name: "resource Prune=true overrides app Prune=false",
                app: &["Prune=false"],
                desired: "",
                live: "Prune=true",
                check: |e| e.prune == ConfirmOption::Enabled,
            },
            Case {
                name: "app Prune=false applies without annotation",
                app: &["Prune=false"],
                desired: "",
                live: "",
                check: |e| e.prune == ConfirmOption::Disabled,
            },
            Case {
                name: "Prune is read from the live object",
                app: &[],
                desired: "Prune=false",
                live: "",
                check: |e| e.prune == ConfirmOption::Enabled,
            },
            Case {
                name: "resource SSA=false overrides app SSA",
                app: &["ServerSideApply=true"],
                desired: "ServerSideApply=false",
                live: "",
                check: |e| !e.server_side_apply,
            },
            Case {
                name: "resource SSA=true without app",
                app: &[],
                desired: "ServerSideApply=true",
                live: "",
                check: |e| e.server_side_apply,
            },
            Case {
                name: "resource Validate=true cannot re-enable validation",
                app: &["Validate=false"],
                desired: "Validate=true",
                live: "",
                check: |e| !e.validate,
            },
            Case {
                name: "resource Validate=false",
                app: &[],
                desired: "Validate=false",
                live: "",
                check: |e| !e.validate,
            },
            Case {
                name: "Replace from the live object",
                app: &[],
                desired: "",
                live: "Replace=true",
                check: |e| e.replace,
            },
            Case {
                name: "resource Replace=false cannot disable app Replace",
                app: &["Replace=true"],
                desired: "Replace=false",
                live: "",
                check: |e| e.replace,
            },
            Case {
                name: "PruneLast from live annotation",
                app: &[],
                desired: "",
                live: "PruneLast=true",
                check: |e| e.prune_last,
            },
            Case {
                name: "RespectIgnoreDifferences=false on the resource wins",
                app: &["RespectIgnoreDifferences=true"],
                desired: "RespectIgnoreDifferences=false",
                live: "",
                check: |e| !e.respect_ignore_differences,
            },
            Case {
                name: "Delete from desired when live has none",
                app: &["Delete=confirm"],
                desired: "Delete=false",
                live: "",
                check: |e| e.delete == ConfirmOption::Disabled,
            },
        ];
        for case in cases {
            let app = SyncOptions::parse(&strings(case.app)).expect(case.name);
            let desired = with_options(case.desired);
            let live = with_options(case.live);
            let effective = EffectiveSyncOptions::resolve(&app, Some(&desired), Some(&live));
            assert!((case.check)(&effective), "{}: {effective:?}", case.name);
        }
    }
}
