//! `capstan admin`: commands for Capstan administrators (Argo CD's `argocd admin`): offline
//! settings checks, and the backup (`export` / `import`) that talks to the Kubernetes API
//! directly with the user's kubeconfig.

use std::io::Write;

use clap::{Args, Subcommand};

pub mod backup;
pub mod settings;

/// `capstan admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The admin command.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The `capstan admin` commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Troubleshoot settings (argocd-cm) from local files.
    Settings(settings::SettingsArgs),
    /// Back up Applications, AppProjects, ApplicationSets, the settings and the repository and
    /// cluster Secrets of an installation as one YAML stream (from the Kubernetes API).
    #[command(after_help = "Example:\n  capstan admin export -n argocd > capstan-backup.yaml")]
    Export(backup::ExportArgs),
    /// Restore a backup made by `export` into a namespace (create or replace each object).
    #[command(after_help = "Example:\n  capstan admin import -n argocd < capstan-backup.yaml")]
    Import(backup::ImportArgs),
}

impl AdminArgs {
    /// Runs the admin command, writing its output to `out`.
    pub(crate) fn run(self, out: &mut dyn Write) -> anyhow::Result<()> {
        match self.command {
            AdminCommand::Settings(args) => args.run(out),
            AdminCommand::Export(args) => crate::block_on(args.run(out)),
            AdminCommand::Import(args) => crate::block_on(args.run(out)),
        }
    }
}
