//! `capstan`, the command-line client of Capstan — what `argocd` is to Argo CD.
//!
//! Commands mirror Argo CD's CLI (`argocd admin ...`, later `app list`, `app sync`, `login`, ...)
//! so that scripts and habits carry over. The command tree is clap derive: [`Cli`] holds the
//! global options and a [`Command`], each level a `#[command(subcommand)]` enum, so a new
//! command is a new variant and a module.
//!
//! Commands today:
//!
//! - `capstan admin settings resource-overrides health OBJECT.yaml --argocd-cm-path CM.yaml`:
//!   the health the application controller would give an object under an `argocd-cm`, offline
//!   (see [`admin::settings::resource_overrides`]).
//!
//! **Architecture Invariant:** the CLI talks to Capstan only over its public gRPC/REST API
//! (`capstan-proto`, the api-server's REST paths); the offline `admin` commands read local files
//! only and talk to nothing. It never links the controller, api-server, repo-server or
//! auth-gateway crates: behaviour it shares with them comes from the pure crates
//! (`capstan-types`, `capstan-health`, ...), so the CLI computes exactly what they compute.
//!
//! Commands write their results to the `out` writer they are given (stdout in the binary) and
//! return errors as [`anyhow::Error`]; `main` prints those on stderr and exits 1.

use std::io::Write;

use clap::{Parser, Subcommand};

pub mod admin;
mod files;

/// The Capstan command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "capstan",
    version,
    about = "Capstan's command-line client: GitOps continuous delivery, Argo CD compatible",
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Commands for Capstan administrators (today: offline checks of local settings files).
    Admin(admin::AdminArgs),
}

impl Cli {
    /// Runs the command, writing its output to `out`.
    ///
    /// # Errors
    ///
    /// Whatever the command could not do (unreadable or malformed files, a failing health
    /// script, ...), with the file, key or group/kind involved in the message.
    pub fn run(self, out: &mut dyn Write) -> anyhow::Result<()> {
        match self.command {
            Command::Admin(args) => args.run(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
