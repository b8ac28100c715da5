//! `capstan app delete`: asks for confirmation when stdin is a terminal (unless `--yes`),
//! deletes, and with `--wait` follows the application until it is gone.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_proto::application::v1::ApplicationDeleteRequest;
use clap::{ArgAction, Args, ValueEnum};

use super::AppRef;
use super::watch::{self, Next, Seen, WatchEnd};
use crate::client::Api;
use crate::duration::{format_duration, parse_duration};

/// `--propagation-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PropagationPolicy {
    /// Delete the resources' dependents first, then the resources.
    Foreground,
    /// Delete the resources; Kubernetes deletes their dependents afterwards.
    Background,
}

/// `capstan app delete`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  capstan app delete guestbook\n  \
    capstan app delete guestbook --cascade=false -y\n  capstan app delete guestbook -y --wait")]
pub struct DeleteArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// Delete the application's resources too (`--cascade=false` keeps them).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub cascade: bool,

    /// How the resources are deleted [default: foreground].
    #[arg(short = 'p', long, value_enum)]
    pub propagation_policy: Option<PropagationPolicy>,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Wait until the application is gone.
    #[arg(long)]
    pub wait: bool,

    /// With --wait, give up after this long (seconds, or a duration such as `5m`); 0 waits
    /// forever.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub timeout: Duration,
}

impl DeleteArgs {
    /// The request the flags describe.
    pub(crate) fn request(&self, app: &AppRef) -> anyhow::Result<ApplicationDeleteRequest> {
        if !self.cascade && self.propagation_policy.is_some() {
            bail!("--propagation-policy requires cascaded deletion (drop --cascade=false)");
        }
        Ok(ApplicationDeleteRequest {
            name: app.name.clone(),
            cascade: Some(self.cascade),
            propagation_policy: self.propagation_policy.map(|policy| {
                match policy {
                    PropagationPolicy::Foreground => "foreground",
                    PropagationPolicy::Background => "background",
                }
                .to_owned()
            }),
            app_namespace: app.namespace.clone(),
            project: String::new(),
        })
    }

    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let request = self.request(&app)?;
        let stdin = std::io::stdin();
        if !self.yes && stdin.is_terminal() {
            let question = if self.cascade {
                format!("Are you sure you want to delete '{app}' and all its resources? [y/n] ")
            } else {
                format!("Are you sure you want to delete '{app}'? [y/n] ")
            };
            eprint!("{question}");
            let mut answer = String::new();
            stdin
                .lock()
                .read_line(&mut answer)
                .context("reading the confirmation")?;
            if !confirmed(&answer) {
                writeln!(out, "The command to delete '{app}' was cancelled.")?;
                return Ok(());
            }
        }
        api.applications()
            .delete(api.request(request))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("deleting application '{app}'"))?;
        if self.wait {
            let timeout = Some(self.timeout).filter(|timeout| !timeout.is_zero());
            let end = watch::watch_app(api, &app, timeout, |seen| {
                Ok(match seen {
                    Seen::Deleted => Next::Done,
                    Seen::App(_) => Next::Continue,
                })
            })
            .await?;
            if end == WatchEnd::TimedOut {
                bail!(
                    "timed out ({}) waiting for application '{app}' to be deleted",
                    format_duration(self.timeout)
                );
            }
        }
        writeln!(out, "application '{app}' deleted")?;
        Ok(())
    }
}

/// Whether a confirmation answer is yes (`y` or `yes`, any case).
fn confirmed(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::confirmed;
    use crate::Cli;
    use crate::app::{AppCommand, AppRef};

    fn request(
        args: &[&str],
    ) -> Result<capstan_proto::application::v1::ApplicationDeleteRequest, String> {
        let cli = Cli::try_parse_from(["capstan", "app", "delete", "a"].iter().chain(args))
            .map_err(|err| err.to_string())?;
        let crate::Command::App(app) = cli.command else {
            panic!("app")
        };
        let AppCommand::Delete(delete) = app.command else {
            panic!("delete")
        };
        delete
            .request(&AppRef::parse("a").expect("valid"))
            .map_err(|err| err.to_string())
    }

    #[test]
    fn delete_requests() {
        let default = request(&[]).expect("valid");
        assert_eq!(
            (default.cascade, default.propagation_policy),
            (Some(true), None)
        );
        let orphan = request(&["--cascade=false"]).expect("valid");
        assert_eq!(orphan.cascade, Some(false));
        let background = request(&["-p", "background"]).expect("valid");
        assert_eq!(background.propagation_policy.as_deref(), Some("background"));
        let err = request(&["--cascade=false", "--propagation-policy", "foreground"])
            .expect_err("conflict");
        assert!(err.contains("requires cascaded deletion"), "{err}");
        assert!(request(&["-p", "orphan"]).is_err());
    }

    #[test]
    fn confirmations() {
        for (answer, want) in [("y\n", true), ("YES", true), ("n\n", false), ("", false)] {
            assert_eq!(confirmed(answer), want, "{answer:?}");
        }
    }
}
