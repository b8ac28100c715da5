//! Operations: `app sync`, `app rollback` and `app terminate-op`.
//!
//! The server starts a sync or rollback by writing `operation` on the Application; the
//! command then follows the application until the operation has finished (and the
//! controller has refreshed the application after it), printing progress, and fails unless
//! the operation Succeeded — as `argocd app sync` does. `--async` returns once the operation
//! is requested.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_proto::application::v1::sync_strategy::Strategy;
use capstan_proto::application::v1::{
    ApplicationRollbackRequest, ApplicationSyncRequest, Info, OperationTerminateRequest,
    SyncOperationResource, SyncStrategy, SyncStrategyApply, SyncStrategyHook,
};
use clap::{Args, ValueEnum};

use super::get::summary_extras;
use super::wait::{WaitFor, final_status, operation_outcome, wait_for};
use super::{AppObject, AppRef, get_app};
use crate::client::Api;
use crate::duration::parse_duration;
use crate::output::{ObjectOutput, print_object};

/// `--strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SyncStrategyFlag {
    /// Apply every resource, ignoring hooks (kubectl apply).
    Apply,
    /// Run hooks and apply in phases and waves (the default).
    Hook,
}

/// `capstan app sync`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  capstan app sync guestbook\n  \
    capstan app sync guestbook --resource :Service:guestbook-ui \
    --resource apps:Deployment:default/guestbook-ui\n  \
    capstan app sync guestbook --revision v2 --prune --timeout 300")]
pub struct SyncArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// Sync to this revision instead of the target revision.
    #[arg(long)]
    pub revision: Option<String>,

    /// Delete resources that are no longer in Git.
    #[arg(long)]
    pub prune: bool,

    /// Preview the apply without affecting the cluster.
    #[arg(long)]
    pub dry_run: bool,

    /// Sync only this resource, `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME` (empty
    /// GROUP for the core group); a `!` prefix excludes it instead. Repeatable.
    #[arg(long = "resource", value_name = "GROUP:KIND:NAME")]
    pub resources: Vec<String>,

    /// A sync option for this sync (`ServerSideApply=true`, `Prune=false`, ...). Repeatable.
    #[arg(long = "sync-option", value_name = "OPTION")]
    pub sync_options: Vec<String>,

    /// Sync strategy.
    #[arg(long, value_enum)]
    pub strategy: Option<SyncStrategyFlag>,

    /// Use a force apply (delete and re-create resources that cannot be updated).
    #[arg(long)]
    pub force: bool,

    /// Use server-side apply (the `ServerSideApply=true` sync option).
    #[arg(long)]
    pub server_side: bool,

    /// Sync only out-of-sync resources (the `ApplyOutOfSyncOnly=true` sync option).
    #[arg(long)]
    pub apply_out_of_sync_only: bool,

    /// A `NAME=VALUE` pair recorded with the operation. Repeatable.
    #[arg(long = "info", value_name = "NAME=VALUE")]
    pub infos: Vec<String>,

    /// Return once the sync is requested, without waiting for it.
    #[arg(long = "async")]
    pub asynchronous: bool,

    /// Give up waiting after this long (seconds, or a duration such as `5m`); 0 waits forever.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Output format of the final state.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ObjectOutput,
}

impl SyncArgs {
    /// The request the flags describe.
    pub(crate) fn request(&self, app: &AppRef) -> anyhow::Result<ApplicationSyncRequest> {
        let resources = self
            .resources
            .iter()
            .map(|resource| parse_resource(resource))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let infos = self
            .infos
            .iter()
            .map(|info| match info.split_once('=') {
                Some((name, value)) if !name.is_empty() => Ok(Info {
                    name: name.to_owned(),
                    value: value.to_owned(),
                }),
                _ => bail!("invalid --info {info:?}: expected NAME=VALUE"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut sync_options = self.sync_options.clone();
        if self.server_side {
            sync_options.push("ServerSideApply=true".to_owned());
        }
        if self.apply_out_of_sync_only {
            sync_options.push("ApplyOutOfSyncOnly=true".to_owned());
        }
        let strategy = match self.strategy {
            Some(SyncStrategyFlag::Apply) => {
                Strategy::Apply(SyncStrategyApply { force: self.force })
            }
            Some(SyncStrategyFlag::Hook) | None => {
                Strategy::Hook(SyncStrategyHook { force: self.force })
            }
        };
        Ok(ApplicationSyncRequest {
            name: app.name.clone(),
            revision: self.revision.clone().unwrap_or_default(),
            dry_run: self.dry_run,
            prune: self.prune,
            strategy: Some(SyncStrategy {
                strategy: Some(strategy),
            }),
            resources,
            infos,
            sync_options,
            app_namespace: app.namespace.clone(),
            ..ApplicationSyncRequest::default()
        })
    }

    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let request = self.request(&app)?;
        let requested = api
            .applications()
            .sync(api.request(request))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("syncing application '{app}'"))?
            .into_inner();
        if self.asynchronous {
            let requested = AppObject::decode(&requested)?;
            if !print_object(out, self.output, &requested.raw)? {
                writeln!(out, "application '{app}' sync requested")?;
            }
            return Ok(());
        }
        follow_operation(api, &app, self.timeout, self.output, out).await
    }
}

/// Follows the requested operation of `app` to its end, prints the final state, and fails
/// unless it Succeeded.
async fn follow_operation(
    api: &Api,
    app: &AppRef,
    timeout: Duration,
    output: ObjectOutput,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let human = matches!(output, ObjectOutput::Table | ObjectOutput::Wide);
    let want = WaitFor {
        operation: true,
        ..WaitFor::default()
    };
    let object = wait_for(api, app, want, timeout, human, out).await?;
    if !print_object(out, output, &object.raw)? {
        let extras = summary_extras(api, app).await;
        out.write_all(final_status(&object.app, &extras, true).as_bytes())?;
    }
    operation_outcome(&object.app).map_err(anyhow::Error::msg)
}

/// Parses `--resource`: `[!]GROUP:KIND:NAME` or `[!]GROUP:KIND:NAMESPACE/NAME`.
///
/// # Errors
///
/// Not three `:`-separated fields, or an empty kind or name.
pub fn parse_resource(text: &str) -> anyhow::Result<SyncOperationResource> {
    let (exclude, spec) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let fields: Vec<&str> = spec.split(':').collect();
    let [group, kind, qualified] = fields.as_slice() else {
        bail!(
            "resource should have GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME, but instead got: \
             {text}"
        );
    };
    let (namespace, name) = match qualified.split_once('/') {
        Some((namespace, name)) => (namespace, name),
        None => ("", *qualified),
    };
    if kind.is_empty() || name.is_empty() || name.contains('/') {
        bail!("resource {text:?} needs a KIND and a NAME (GROUP:KIND:NAMESPACE/NAME)");
    }
    Ok(SyncOperationResource {
        group: (*group).to_owned(),
        kind: (*kind).to_owned(),
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        exclude,
    })
}

/// `capstan app rollback`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  capstan app rollback guestbook\n  \
                        capstan app rollback guestbook 3 --prune")]
pub struct RollbackArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// The history ID to roll back to [default: the previous deployment].
    #[arg(value_name = "ID")]
    pub id: Option<i64>,

    /// Delete resources that are not in the rolled-back revision.
    #[arg(long)]
    pub prune: bool,

    /// Preview the rollback without affecting the cluster.
    #[arg(long)]
    pub dry_run: bool,

    /// Give up waiting after this long (seconds, or a duration such as `5m`); 0 waits forever.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Output format of the final state.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ObjectOutput,
}

impl RollbackArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let id = match self.id {
            Some(id) => id,
            None => {
                let object = get_app(api, &app, None).await?;
                previous_deployment(&object.app).with_context(|| {
                    format!("choosing the history entry of application '{app}' to roll back to")
                })?
            }
        };
        api.applications()
            .rollback(api.request(ApplicationRollbackRequest {
                name: app.name.clone(),
                id,
                dry_run: self.dry_run,
                prune: self.prune,
                app_namespace: app.namespace.clone(),
                project: String::new(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("rolling back application '{app}' to history ID {id}"))?;
        follow_operation(api, &app, self.timeout, self.output, out).await
    }
}

/// The history ID before the current deployment (argocd's default rollback target).
pub fn previous_deployment(app: &capstan_types::Application) -> anyhow::Result<i64> {
    let history = app
        .status
        .as_ref()
        .map(|status| status.history.as_slice())
        .unwrap_or_default();
    match history {
        [.., previous, _current] => Ok(previous.id),
        _ => bail!(
            "the application has {} deployment(s) in its history; a rollback needs a previous \
             one (give an ID from `capstan app history`)",
            history.len()
        ),
    }
}

/// `capstan app terminate-op`.
#[derive(Debug, Args)]
pub struct TerminateOpArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,
}

impl TerminateOpArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        api.applications()
            .terminate_operation(api.request(OperationTerminateRequest {
                name: app.name.clone(),
                app_namespace: app.namespace.clone(),
                project: String::new(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("terminating the operation of application '{app}'"))?;
        writeln!(out, "Application '{app}' operation terminating")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use capstan_proto::application::v1::SyncOperationResource;
    use capstan_proto::application::v1::sync_strategy::Strategy;
    use clap::Parser;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::{parse_resource, previous_deployment};
    use crate::Cli;
    use crate::app::{AppCommand, AppRef};

    #[test]
    fn resources() {
        let res = |group: &str, kind: &str, namespace: &str, name: &str, exclude: bool| {
            Some(SyncOperationResource {
                group: group.to_owned(),
                kind: kind.to_owned(),
                name: name.to_owned(),
                namespace: namespace.to_owned(),
                exclude,
            })
        };
        let cases = [
            (":Service:web", res("", "Service", "", "web", false)),
            (
                "apps:Deployment:web",
                res("apps", "Deployment", "", "web", false),
            ),
            (
                "argoproj.io:Rollout:prod/web",
                res("argoproj.io", "Rollout", "prod", "web", false),
            ),
            (
                "!apps:Deployment:web",
                res("apps", "Deployment", "", "web", true),
            ),
            ("!*:Service:*", res("*", "Service", "", "*", true)),
            ("Service:web", None),
            ("a:b:c:d", None),
            ("apps::web", None),
            ("apps:Deployment:", None),
            ("apps:Deployment:ns/", None),
            ("apps:Deployment:a/b/c", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_resource(text).ok(), want, "{text}");
        }
        let err = parse_resource("Service:web").expect_err("two fields");
        assert!(err.to_string().contains("GROUP:KIND:NAME"), "{err}");
    }

    #[test]
    fn sync_requests() {
        let cli = Cli::try_parse_from([
            "capstan",
            "app",
            "sync",
            "team/guestbook",
            "--revision",
            "v2",
            "--prune",
            "--resource",
            ":Service:web",
            "--sync-option",
            "Prune=false",
            "--server-side",
            "--strategy",
            "apply",
            "--force",
            "--info",
            "reason=hotfix",
            "--timeout",
            "5m",
        ])
        .expect("parses");
        let crate::Command::App(app) = cli.command else {
            panic!("app")
        };
        let AppCommand::Sync(args) = app.command else {
            panic!("sync")
        };
        assert_eq!(args.timeout.as_secs(), 300);
        let request = args
            .request(&AppRef::parse("team/guestbook").expect("valid"))
            .expect("valid");
        assert_eq!(request.name, "guestbook");
        assert_eq!(request.app_namespace, "team");
        assert_eq!(request.revision, "v2");
        assert!(request.prune && !request.dry_run);
        assert_eq!(request.resources.len(), 1);
        assert_eq!(
            request.sync_options,
            ["Prune=false", "ServerSideApply=true"]
        );
        assert_eq!(request.infos[0].value, "hotfix");
        assert!(matches!(
            request.strategy.and_then(|s| s.strategy),
            Some(Strategy::Apply(apply)) if apply.force
        ));

        // The default strategy is hook.
        let cli = Cli::try_parse_from(["capstan", "app", "sync", "a"]).expect("parses");
        let crate::Command::App(app) = cli.command else {
            panic!("app")
        };
        let AppCommand::Sync(args) = app.command else {
            panic!("sync")
        };
        let request = args
            .request(&AppRef::parse("a").expect("valid"))
            .expect("valid");
        assert!(matches!(
            request.strategy.and_then(|s| s.strategy),
            Some(Strategy::Hook(hook)) if !hook.force
        ));
    }

    #[test]
    fn rollback_defaults_to_the_previous_deployment() {
        let app = |history: serde_json::Value| {
            serde_json::from_value::<capstan_types::Application>(
                json!({"metadata": {"name": "a"}, "status": {"history": history}}),
            )
            .expect("valid")
        };
        let two = app(json!([{"id": 3, "revision": "a"}, {"id": 4, "revision": "b"}]));
        assert_eq!(previous_deployment(&two).expect("has one"), 3);
        let one = app(json!([{"id": 0, "revision": "a"}]));
        let err = previous_deployment(&one).expect_err("no previous");
        assert!(err.to_string().contains("1 deployment(s)"), "{err}");
    }
}
