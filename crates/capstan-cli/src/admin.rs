//! `capstan admin`: commands for Capstan administrators (Argo CD's `argocd admin`).

use std::io::Write;

use clap::{Args, Subcommand};

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
}

impl AdminArgs {
    /// Runs the admin command, writing its output to `out`.
    pub(crate) fn run(self, out: &mut dyn Write) -> anyhow::Result<()> {
        match self.command {
            AdminCommand::Settings(args) => args.run(out),
        }
    }
}
