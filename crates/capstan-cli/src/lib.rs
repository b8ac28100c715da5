//! `capstan`, the command-line client of Capstan — what `argocd` is to Argo CD.
//!
//! Commands, flags and output mirror Argo CD's CLI so that scripts and habits carry over. The
//! command tree is clap derive: [`Cli`] holds the global options ([`GlobalArgs`]) and a
//! [`Command`], each level a `#[command(subcommand)]` enum, so a new command is a new variant
//! and a module.
//!
//! Commands:
//!
//! - `capstan login SERVER` (password, token, or `--sso` in a browser through the server's
//!   OIDC provider, see [`session`] and `sso`) / `logout` / `context`: sessions and the
//!   local config file of contexts (argocd's `~/.config/argocd/config` format, see
//!   [`config`]);
//! - `capstan app list|get|create|set|sync|wait|diff|history|rollback|delete|manifests|
//!   terminate-op|resources` (see [`app`]);
//! - `capstan proj list|get|create|delete|role create-token` (see [`proj`]);
//! - `capstan repo add|list|rm`, `capstan cluster list`, `capstan account list|can-i`,
//!   `capstan version`, `capstan completion SHELL`;
//! - `capstan admin settings resource-overrides health OBJECT.yaml --argocd-cm-path CM.yaml`:
//!   the health the application controller would give an object under an `argocd-cm`,
//!   offline (see [`admin::settings::resource_overrides`]);
//! - `capstan admin export` / `import`: the disaster-recovery backup of an installation (see
//!   [`admin::backup`]).
//!
//! Networked commands talk gRPC to the api-server (`capstan-proto`'s services) over one
//! HTTP/2 connection: plaintext h2c for a bare `host:port` (the api-server's default today),
//! TLS for an `https://` address. With `--grpc-web` (or `grpc-web: true` in the server's
//! config entry) they talk gRPC-web over HTTP/1.1 instead, for proxies without HTTP/2; every
//! command works the same on either (see `client`). Every call carries `authorization: Bearer <token>`, the token
//! coming from `--auth-token` / `CAPSTAN_AUTH_TOKEN` or from the context `capstan login`
//! stored. Kubernetes objects arrive as JSON and are decoded with `capstan-types`; `-o json`
//! and `-o yaml` print them exactly as the server returned them.
//!
//! **Architecture Invariant:** the CLI talks to Capstan only over its public gRPC API
//! (`capstan-proto`); the offline `admin settings` commands read local files only and talk to
//! nothing; `admin export` / `import` talk to the Kubernetes API with the user's kubeconfig,
//! never to Capstan, so that a backup and a restore work while Capstan is down (as
//! `argocd admin export` does).
//! It never links the controller, api-server, repo-server or auth-gateway crates: behaviour it
//! shares with them comes from the pure crates (`capstan-types`, `capstan-health`, ...), so
//! the CLI computes exactly what they compute.
//!
//! **Architecture Invariant:** what decides (table layout, wait conditions, diff rendering,
//! resource and duration parsing, config resolution) is pure functions over values, unit
//! tested; the IO around them (gRPC calls, watch loops, files, prompts) is thin.
//!
//! [`Cli::run`] stays synchronous: offline commands run directly, networked ones inside a
//! current-thread tokio runtime built for the one command. Commands write their results to
//! the `out` writer they are given (stdout in the binary) and return errors as
//! [`anyhow::Error`]; `main` prints those on stderr and exits 1, or with the status an
//! [`Exit`] error asks for (`app diff` exits 1 when there is a diff and 2 on error, as argocd).

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

pub mod account;
pub mod admin;
pub mod app;
mod client;
pub mod cluster;
pub mod config;
mod duration;
mod files;
mod output;
pub mod proj;
pub mod repo;
pub mod session;
mod sso;
pub mod version;

/// The Capstan command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "capstan",
    version,
    about = "Capstan's command-line client: GitOps continuous delivery, Argo CD compatible",
    propagate_version = true
)]
pub struct Cli {
    /// Options every networked command takes.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options every networked command takes (argocd's global flags).
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Global Options")]
pub struct GlobalArgs {
    /// Capstan API server address: `host:port` (plaintext HTTP/2, the api-server's default),
    /// `http://host:port`, or `https://host[:port]` for TLS. Defaults to the current context's.
    #[arg(long, global = true, env = "CAPSTAN_SERVER", value_name = "SERVER")]
    pub server: Option<String>,

    /// Authentication token; defaults to the one `capstan login` stored for the server.
    #[arg(
        long,
        global = true,
        env = "CAPSTAN_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<String>,

    /// Talk plaintext HTTP/2 (h2c), without TLS. The default for a bare `host:port` today.
    #[arg(long, global = true, env = "CAPSTAN_PLAINTEXT")]
    pub plaintext: bool,

    /// Skip TLS certificate verification (not supported: pass the CA with --server-crt).
    #[arg(long, global = true, env = "CAPSTAN_INSECURE")]
    pub insecure: bool,

    /// Talk gRPC-web (HTTP/1.1) instead of native gRPC over HTTP/2, for a server behind a
    /// proxy or ingress without HTTP/2 (argocd's `--grpc-web`). Also on when the server's
    /// config entry says `grpc-web: true` (`capstan login --grpc-web` stores it).
    #[arg(long, global = true, env = "CAPSTAN_GRPC_WEB")]
    pub grpc_web: bool,

    /// The path prefix under which the proxy serves the gRPC-web endpoint (`/argo-cd`); it
    /// implies --grpc-web. Defaults to the server's config entry's `grpc-web-root-path`.
    #[arg(
        long,
        global = true,
        env = "CAPSTAN_GRPC_WEB_ROOT_PATH",
        value_name = "PATH"
    )]
    pub grpc_web_root_path: Option<String>,

    /// PEM file of the CA that signed the server's certificate, for `https://` servers;
    /// the system's trust store otherwise. `login --sso` also trusts it for the identity
    /// provider, besides the system's trust store.
    #[arg(long, global = true, env = "CAPSTAN_SERVER_CRT", value_name = "PATH")]
    pub server_crt: Option<PathBuf>,

    /// Path to the config file of contexts [default: $XDG_CONFIG_HOME/capstan/config or
    /// ~/.config/capstan/config].
    #[arg(long, global = true, env = "CAPSTAN_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The context to use instead of the current one (argocd's --argocd-context).
    #[arg(
        long = "context",
        global = true,
        env = "CAPSTAN_CONTEXT",
        value_name = "NAME"
    )]
    pub context: Option<String>,

    /// Timeout of each API call (`30s`, `2m`; `0` for none). Watches are not bounded by it.
    #[arg(
        long,
        global = true,
        env = "CAPSTAN_GRPC_TIMEOUT",
        default_value = "60s",
        value_name = "DURATION",
        value_parser = duration::parse_duration
    )]
    pub grpc_timeout: Duration,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a Capstan API server and store the session in a context.
    Login(session::LoginArgs),
    /// Log out: forget the token of a context (the current one by default).
    Logout(session::LogoutArgs),
    /// List contexts, or switch to one.
    #[command(visible_alias = "ctx")]
    Context(session::ContextArgs),
    /// Manage applications.
    #[command(visible_alias = "apps", visible_alias = "application")]
    App(app::AppArgs),
    /// Manage projects.
    #[command(visible_alias = "project")]
    Proj(proj::ProjArgs),
    /// Manage repository connections.
    #[command(visible_alias = "repos")]
    Repo(repo::RepoArgs),
    /// Manage cluster credentials.
    #[command(visible_alias = "clusters")]
    Cluster(cluster::ClusterArgs),
    /// Manage accounts and check permissions.
    Account(account::AccountArgs),
    /// Print the client and server versions.
    Version(version::VersionArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  source <(capstan completion bash)\n  \
                            capstan completion zsh > \"${fpath[1]}/_capstan\"\n  \
                            capstan completion fish > ~/.config/fish/completions/capstan.fish")]
    Completion(CompletionArgs),
    /// Commands for Capstan administrators: offline checks of settings files, backup and
    /// restore.
    Admin(admin::AdminArgs),
}

/// `capstan completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Cli {
    /// Runs the command, writing its output to `out`.
    ///
    /// # Errors
    ///
    /// Whatever the command could not do (unreadable or malformed files, an unreachable
    /// server, a refused call, a failed sync, ...), with the file, object or call involved in
    /// the message. An [`Exit`] error asks for a specific exit status.
    pub fn run(self, out: &mut dyn Write) -> anyhow::Result<()> {
        let global = self.global;
        match self.command {
            Command::Admin(args) => args.run(out),
            Command::Completion(args) => {
                let mut command = Cli::command();
                // Into a buffer first: clap_complete panics on a failed write (a closed pipe).
                let mut script = Vec::new();
                clap_complete::generate(args.shell, &mut command, "capstan", &mut script);
                out.write_all(&script)?;
                Ok(())
            }
            Command::Context(args) => args.run(&global, out),
            command => block_on(run_networked(command, &global, out)),
        }
    }
}

/// Runs the commands that talk to the api-server.
async fn run_networked(
    command: Command,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => args.run(global, out).await,
        Command::Logout(args) => args.run(global, out).await,
        Command::App(args) => args.run(global, out).await,
        Command::Proj(args) => args.run(global, out).await,
        Command::Repo(args) => args.run(global, out).await,
        Command::Cluster(args) => args.run(global, out).await,
        Command::Account(args) => args.run(global, out).await,
        Command::Version(args) => args.run(global, out).await,
        Command::Admin(_) | Command::Completion(_) | Command::Context(_) => {
            unreachable!("offline commands run without a runtime")
        }
    }
}

/// Runs `future` to completion on a current-thread tokio runtime built for it.
pub(crate) fn block_on<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| anyhow::anyhow!("starting the async runtime: {err}"))?;
    runtime.block_on(future)
}

/// An error that asks `main` for a specific exit status.
///
/// `error: None` exits silently (the command already printed its result, as `app diff` does
/// when it found differences); otherwise `main` prints the error like any other.
#[derive(Debug)]
pub struct Exit {
    /// The process exit status.
    pub code: u8,
    /// The error to print on stderr, if any.
    pub error: Option<anyhow::Error>,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(error) => write!(f, "{error:#}"),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "capstan",
            "app",
            "list",
            "--server",
            "cd:8080",
            "--grpc-timeout",
            "5s",
        ])
        .expect("parses");
        assert_eq!(cli.global.server.as_deref(), Some("cd:8080"));
        assert_eq!(cli.global.grpc_timeout.as_secs(), 5);
        assert!(matches!(cli.command, Command::App(_)));
        assert!(!cli.global.grpc_web);
        assert_eq!(cli.global.grpc_web_root_path, None);

        let cli = Cli::try_parse_from([
            "capstan",
            "app",
            "list",
            "--grpc-web",
            "--grpc-web-root-path",
            "/argo-cd",
        ])
        .expect("parses");
        assert!(cli.global.grpc_web);
        assert_eq!(cli.global.grpc_web_root_path.as_deref(), Some("/argo-cd"));
    }
}
