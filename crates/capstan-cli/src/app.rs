//! `capstan app`: applications (Argo CD's `argocd app`), through the api-server's
//! `ApplicationService`.
//!
//! Applications cross gRPC as JSON; each is decoded once into an `AppObject`: the
//! `capstan-types` [`Application`] for the commands' logic and the JSON as the server sent it
//! for `-o json|yaml`. An application is named `NAME`, or `NAMESPACE/NAME` for one outside
//! the control-plane namespace ([`AppRef`]).
//!
//! The logic is pure and lives beside the commands: [`view`] (tables and summaries),
//! [`spec`] (the spec flags of `create` and `set`), [`wait`] (when an application is ready,
//! progress lines), [`sync`] (`--resource` parsing, the sync request), [`diff`] (rendering
//! managed resources' diffs); `watch` is the one loop that follows an application.

use std::fmt;
use std::io::Write;

use anyhow::{Context, bail};
use capstan_proto::application::v1::ApplicationQuery;
use capstan_proto::common::v1::KubeObject;
use capstan_types::Application;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::Api;
use crate::{Exit, GlobalArgs};

pub mod create;
pub mod delete;
pub mod diff;
#[cfg(test)]
mod fixtures;
pub mod get;
pub mod list;
pub mod spec;
pub mod sync;
pub mod view;
pub mod wait;
mod watch;

/// `capstan app`.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The app command.
    #[command(subcommand)]
    pub command: AppCommand,
}

/// The `capstan app` commands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List applications.
    List(list::ListArgs),
    /// Get application details.
    Get(get::GetArgs),
    /// Create an application.
    Create(create::CreateArgs),
    /// Set application parameters (updates the spec).
    Set(create::SetArgs),
    /// Sync an application to its target state and wait for the result.
    Sync(sync::SyncArgs),
    /// Wait for an application to reach a synced and healthy state.
    Wait(wait::WaitArgs),
    /// Show the differences between the live state and the target state.
    ///
    /// Exits 0 when there is no difference, 1 when there is one, 2 on error.
    Diff(diff::DiffArgs),
    /// Show the application's deployment history.
    History(get::HistoryArgs),
    /// Roll back to a previous deployed revision and wait for the result.
    Rollback(sync::RollbackArgs),
    /// Delete an application.
    #[command(visible_alias = "rm")]
    Delete(delete::DeleteArgs),
    /// Print the application's manifests, from Git or live.
    Manifests(get::ManifestsArgs),
    /// Terminate the running operation.
    TerminateOp(sync::TerminateOpArgs),
    /// List the application's resources.
    Resources(get::ResourcesArgs),
}

impl AppArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let command = match self.command {
            AppCommand::Diff(args) => {
                // argocd's exit codes: 0 no diff, 1 diff, 2 error.
                let exit_code = args.exit_code;
                return match diff_command(args, global, out).await {
                    Ok(true) if exit_code => Err(Exit {
                        code: 1,
                        error: None,
                    }
                    .into()),
                    Ok(_) => Ok(()),
                    Err(err) => Err(Exit {
                        code: 2,
                        error: Some(err),
                    }
                    .into()),
                };
            }
            command => command,
        };
        // Mistakes in the arguments are reported before connecting.
        command.precheck()?;
        let api = Api::from_global(global).await?;
        match command {
            AppCommand::List(args) => args.run(&api, out).await,
            AppCommand::Get(args) => args.run(&api, out).await,
            AppCommand::Create(args) => args.run(&api, out).await,
            AppCommand::Set(args) => args.run(&api, out).await,
            AppCommand::Sync(args) => args.run(&api, out).await,
            AppCommand::Wait(args) => args.run(&api, out).await,
            AppCommand::History(args) => args.run(&api, out).await,
            AppCommand::Rollback(args) => args.run(&api, out).await,
            AppCommand::Delete(args) => args.run(&api, out).await,
            AppCommand::Manifests(args) => args.run(&api, out).await,
            AppCommand::TerminateOp(args) => args.run(&api, out).await,
            AppCommand::Resources(args) => args.run(&api, out).await,
            AppCommand::Diff(_) => unreachable!("handled above"),
        }
    }
}

impl AppCommand {
    /// Checks what can be checked without the server: the application name and the flags
    /// that are parsed into a request.
    fn precheck(&self) -> anyhow::Result<()> {
        match self {
            AppCommand::List(_) => Ok(()),
            AppCommand::Get(args) => AppRef::parse(&args.app).map(drop),
            // Standard input can be read once only: by the command itself.
            AppCommand::Create(args) if args.file.as_deref() == Some(std::path::Path::new("-")) => {
                Ok(())
            }
            AppCommand::Create(args) => args.applications().map(drop),
            AppCommand::Set(args) => AppRef::parse(&args.app).map(drop),
            AppCommand::Sync(args) => args.request(&AppRef::parse(&args.app)?).map(drop),
            AppCommand::Wait(args) => AppRef::parse(&args.app).map(drop),
            AppCommand::Diff(args) => AppRef::parse(&args.app).map(drop),
            AppCommand::History(args) => AppRef::parse(&args.app).map(drop),
            AppCommand::Rollback(args) => AppRef::parse(&args.app).map(drop),
            AppCommand::Delete(args) => args.request(&AppRef::parse(&args.app)?).map(drop),
            AppCommand::Manifests(args) => AppRef::parse(&args.app).map(drop),
            AppCommand::TerminateOp(args) => AppRef::parse(&args.app).map(drop),
            AppCommand::Resources(args) => AppRef::parse(&args.app).map(drop),
        }
    }
}

async fn diff_command(
    args: diff::DiffArgs,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    AppRef::parse(&args.app)?;
    let api = Api::from_global(global).await?;
    args.run(&api, out).await
}

/// An application named on the command line: `NAME`, or `NAMESPACE/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRef {
    /// The application's name.
    pub name: String,
    /// The namespace of the Application object; empty for the control-plane namespace.
    pub namespace: String,
}

impl AppRef {
    /// Parses `NAME` or `NAMESPACE/NAME`.
    ///
    /// # Errors
    ///
    /// An empty name or namespace, or more than one `/`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (namespace, name) = match text.split_once('/') {
            Some((namespace, name)) => (namespace, name),
            None => ("", text),
        };
        if name.is_empty() || name.contains('/') || (text.contains('/') && namespace.is_empty()) {
            bail!("invalid application name {text:?}: expected NAME or NAMESPACE/NAME");
        }
        Ok(Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        })
    }

    /// The query selecting this application.
    pub(crate) fn query(&self) -> ApplicationQuery {
        ApplicationQuery {
            name: Some(self.name.clone()),
            app_namespace: self.namespace.clone(),
            ..ApplicationQuery::default()
        }
    }
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// An application as the server returned it: typed, and the JSON itself.
#[derive(Clone, Debug)]
pub(crate) struct AppObject {
    /// The Application, decoded with `capstan-types`.
    pub app: Application,
    /// The JSON as the server sent it, for `-o json|yaml`.
    pub raw: Value,
}

impl AppObject {
    /// Decodes an Application sent by the server.
    pub(crate) fn decode(object: &KubeObject) -> anyhow::Result<Self> {
        let raw: Value = object
            .to_object()
            .context("decoding an Application sent by the server")?;
        let app: Application = serde_json::from_value(raw.clone())
            .context("decoding an Application sent by the server")?;
        Ok(Self { app, raw })
    }
}

/// Gets one application, after a refresh (`normal` or `hard`) when asked.
pub(crate) async fn get_app(
    api: &Api,
    app: &AppRef,
    refresh: Option<&str>,
) -> anyhow::Result<AppObject> {
    let mut query = app.query();
    query.refresh = refresh.map(str::to_owned);
    let object = api
        .applications()
        .get(api.request(query))
        .await
        .map_err(|status| api.error(status))
        .with_context(|| format!("getting application '{app}'"))?
        .into_inner();
    AppObject::decode(&object)
}

/// `--refresh` / `--hard-refresh` as the query's `refresh`.
pub(crate) fn refresh_mode(refresh: bool, hard_refresh: bool) -> Option<&'static str> {
    if hard_refresh {
        Some("hard")
    } else if refresh {
        Some("normal")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{AppRef, refresh_mode};

    #[test]
    fn app_names() {
        let ok = |name: &str, namespace: &str| {
            Some(AppRef {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
            })
        };
        let cases = [
            ("guestbook", ok("guestbook", "")),
            ("team-a/guestbook", ok("guestbook", "team-a")),
            ("", None),
            ("/guestbook", None),
            ("team-a/", None),
            ("a/b/c", None),
        ];
        for (text, want) in cases {
            assert_eq!(AppRef::parse(text).ok(), want, "{text:?}");
        }
        assert_eq!(
            AppRef::parse("team-a/guestbook")
                .expect("valid")
                .to_string(),
            "team-a/guestbook"
        );
    }

    #[test]
    fn refresh_modes() {
        assert_eq!(refresh_mode(false, false), None);
        assert_eq!(refresh_mode(true, false), Some("normal"));
        assert_eq!(refresh_mode(true, true), Some("hard"));
        assert_eq!(refresh_mode(false, true), Some("hard"));
    }
}
