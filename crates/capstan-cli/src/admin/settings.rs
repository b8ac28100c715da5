//! `capstan admin settings`: settings troubleshooting on local files (Argo CD's
//! `argocd admin settings`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use capstan_types::settings::ArgoCdSettings;
use clap::{Args, Subcommand};

use crate::files;

pub mod resource_overrides;

/// `capstan admin settings`, with the options every settings command shares.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Path to a local argocd-cm.yaml file (a `kind: ConfigMap` document).
    #[arg(
        long,
        global = true,
        env = "CAPSTAN_ARGOCD_CM_PATH",
        value_name = "ARGOCD_CM_PATH"
    )]
    pub argocd_cm_path: Option<PathBuf>,

    /// The settings command.
    #[command(subcommand)]
    pub command: SettingsCommand,
}

/// The `capstan admin settings` commands.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Troubleshoot resource overrides (resource.customizations).
    ResourceOverrides(resource_overrides::ResourceOverridesArgs),
}

impl SettingsArgs {
    /// Runs the settings command, writing its output to `out`.
    pub(crate) fn run(self, out: &mut dyn Write) -> anyhow::Result<()> {
        let source = SettingsSource {
            argocd_cm_path: self.argocd_cm_path,
        };
        match self.command {
            SettingsCommand::ResourceOverrides(args) => args.run(&source, out),
        }
    }
}

/// Where a settings command reads `argocd-cm` from.
#[derive(Debug)]
pub(crate) struct SettingsSource {
    argocd_cm_path: Option<PathBuf>,
}

impl SettingsSource {
    /// The path given with `--argocd-cm-path`.
    pub(crate) fn argocd_cm_path(&self) -> anyhow::Result<&Path> {
        match &self.argocd_cm_path {
            Some(path) => Ok(path),
            None => bail!(
                "--argocd-cm-path (or CAPSTAN_ARGOCD_CM_PATH) must be provided: this command \
                 reads argocd-cm from a local file"
            ),
        }
    }

    /// Reads and parses the `argocd-cm` file as the controller parses the ConfigMap, printing
    /// the settings' warnings (unknown fields, often typos) on `warnings`.
    ///
    /// Errors name the file and, for a malformed setting, the key.
    pub(crate) fn argocd_cm(&self, warnings: &mut dyn Write) -> anyhow::Result<ArgoCdSettings> {
        let path = self.argocd_cm_path()?;
        let text = files::read(path)?;
        let data = files::parse_config_map_data(path, &text)?;
        // The settings error's message already includes its cause; `anyhow!` keeps `{:#}` from
        // printing that twice.
        let settings = ArgoCdSettings::from_config_map_data(&data)
            .map_err(|err| anyhow!("{}: {err}", path.display()))?;
        for warning in settings.warnings() {
            // Best effort: a closed stderr must not fail the command.
            let _ = writeln!(warnings, "warning: {}: {warning}", path.display());
        }
        Ok(settings)
    }
}
