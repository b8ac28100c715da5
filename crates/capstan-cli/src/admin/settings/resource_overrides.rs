//! `capstan admin settings resource-overrides`: check `resource.customizations` against local
//! objects (Argo CD's `argocd admin settings resource-overrides`).
//!
//! `health RESOURCE_YAML_PATH` prints the health the application controller would give the
//! object, computed by the controller's own code (`capstan-health`) from the same settings
//! (`capstan-types`), in Argo CD's format:
//!
//! ```text
//! STATUS: Degraded
//! MESSAGE: Deployment "web" exceeded its progress deadline
//! SOURCE: Capstan built-in health check for 'apps/Deployment'
//! ```
//!
//! or, when nothing assesses the object, Argo CD's
//! `Health script is not configured for '<group>/<kind>'` (exit status 0, as in Argo CD). The
//! `SOURCE:` line is Capstan's addition: it says what decided — a Lua script from `argocd-cm`
//! (named by its key), a built-in check, the kstatus-conditions fallback (which Argo CD does not
//! have), or pending deletion.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use capstan_health::{Health, HealthChecker, HealthError, HealthSource};
use capstan_types::settings::ArgoCdSettings;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::SettingsSource;
use crate::files;

/// `capstan admin settings resource-overrides`.
#[derive(Debug, Args)]
pub struct ResourceOverridesArgs {
    /// The resource-overrides command.
    #[command(subcommand)]
    pub command: ResourceOverridesCommand,
}

/// The `capstan admin settings resource-overrides` commands.
#[derive(Debug, Subcommand)]
pub enum ResourceOverridesCommand {
    /// Assess the health of a resource.
    ///
    /// Assesses resource health using the Lua script configured in the
    /// 'resource.customizations' field of the 'argocd-cm' ConfigMap, falling back to Capstan's
    /// built-in checks, exactly as the application controller does, and prints the status,
    /// the message and what decided.
    #[command(
        after_help = "Example:\n  capstan admin settings resource-overrides health \
                            ./deploy.yaml --argocd-cm-path ./argocd-cm.yaml"
    )]
    Health(HealthArgs),
}

/// `capstan admin settings resource-overrides health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Path to a YAML file holding one Kubernetes object (for example from
    /// `kubectl get -o yaml`).
    #[arg(value_name = "RESOURCE_YAML_PATH")]
    pub resource_yaml_path: PathBuf,
}

impl ResourceOverridesArgs {
    /// Runs the command, writing its output to `out`.
    pub(crate) fn run(self, source: &SettingsSource, out: &mut dyn Write) -> anyhow::Result<()> {
        match self.command {
            ResourceOverridesCommand::Health(args) => args.run(source, out),
        }
    }
}

impl HealthArgs {
    fn run(self, source: &SettingsSource, out: &mut dyn Write) -> anyhow::Result<()> {
        // Argo CD's order: the resource first, then the settings.
        let path = &self.resource_yaml_path;
        let object = files::parse_object(path, &files::read(path)?)?;
        let settings = source.argocd_cm(&mut std::io::stderr())?;
        let cm_path = source.argocd_cm_path()?;
        let assessment = assess(&settings, &object)
            .with_context(|| format!("assessing {} with {}", path.display(), cm_path.display()))?;
        write!(out, "{assessment}")?;
        Ok(())
    }
}

/// What decided an object's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decider {
    /// `metadata.deletionTimestamp` is set: `Progressing` / "Pending deletion", before anything
    /// else.
    PendingDeletion,
    /// The Lua health script of this `argocd-cm` key (`group/Kind`, `Kind`, or a wildcard
    /// pattern).
    LuaScript(String),
    /// Capstan's port of gitops-engine's built-in check for the kind.
    BuiltIn,
    /// Capstan's kstatus-conditions fallback for kinds without a built-in check.
    Kstatus,
    /// Nothing: no script, no built-in check, no kstatus conditions.
    Nothing,
}

/// The health of one object and what decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// The object's API group (empty for the core group).
    pub group: String,
    /// The object's kind.
    pub kind: String,
    /// The health; `None` when the object's health is not assessed (it does not count towards
    /// the application's health).
    pub health: Option<Health>,
    /// What decided.
    pub decider: Decider,
}

/// Assesses `object` as the application controller does under `settings`.
///
/// # Errors
///
/// A [`HealthError`] when a health script of `settings` does not compile (naming its
/// group/kind), or when the script matching `object` fails or exceeds its limits.
pub fn assess(settings: &ArgoCdSettings, object: &Value) -> Result<Assessment, HealthError> {
    let (health, source) =
        HealthChecker::new(&settings.resource_customizations)?.explain(object)?;
    let decider = match source {
        HealthSource::PendingDeletion => Decider::PendingDeletion,
        HealthSource::Script { key } => Decider::LuaScript(key),
        HealthSource::BuiltIn => Decider::BuiltIn,
        HealthSource::Kstatus => Decider::Kstatus,
        HealthSource::None => Decider::Nothing,
    };
    let (group, kind) = group_kind(object);
    Ok(Assessment {
        group: group.to_owned(),
        kind: kind.to_owned(),
        health,
        decider,
    })
}

impl fmt::Display for Assessment {
    /// Argo CD's `STATUS:`/`MESSAGE:` lines (or its "Health script is not configured" line),
    /// then Capstan's `SOURCE:` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Argo CD prints `'<group>/<kind>'`, also for the core group (`'/ConfigMap'`).
        let group_kind = format!("'{}/{}'", self.group, self.kind);
        match &self.health {
            Some(health) => {
                writeln!(f, "STATUS: {}", health.status.as_str())?;
                writeln!(f, "MESSAGE: {}", health.message)?;
            }
            None => writeln!(f, "Health script is not configured for {group_kind}")?,
        }
        let source = match (&self.decider, &self.health) {
            (Decider::PendingDeletion, _) => {
                "metadata.deletionTimestamp is set (pending deletion is checked first)".to_owned()
            }
            (Decider::LuaScript(key), Some(_)) => {
                format!("Lua health script for '{key}' from argocd-cm")
            }
            (Decider::LuaScript(key), None) => format!(
                "Lua health script for '{key}' from argocd-cm returned no status; health is not \
                 assessed"
            ),
            (Decider::BuiltIn, _) => format!("Capstan built-in health check for {group_kind}"),
            (Decider::Kstatus, _) => format!(
                "Capstan kstatus conditions fallback (Ready/Reconciling/Stalled/\
                 observedGeneration); Argo CD has no health check for {group_kind}"
            ),
            (Decider::Nothing, _) => "none: no Lua health script, built-in check or kstatus \
                                      condition applies; health is not assessed"
                .to_owned(),
        };
        writeln!(f, "SOURCE: {source}")
    }
}

/// The API group (empty for the core group) and kind of `object`.
fn group_kind(object: &Value) -> (&str, &str) {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version
        .split_once('/')
        .map_or("", |(group, _version)| group);
    (group, object["kind"].as_str().unwrap_or_default())
}

#[cfg(test)]
mod tests;
