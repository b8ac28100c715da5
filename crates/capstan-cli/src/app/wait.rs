//! `capstan app wait`, and what every waiting command shares: when an application is where the
//! user wants it ([`evaluate`], a pure function of the Application, Argo CD's
//! `checkResourceStatus` and operation rules), and the progress lines printed on the way
//! (`Progress`).
//!
//! The current state is checked first (Argo CD's `app wait` hangs when the application is
//! already there), then `ApplicationService.Watch` streams changes and each one is checked
//! again (see the `watch` module).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use capstan_types::Application;
use capstan_types::application::OperationPhase;
use clap::Args;
use jiff::Timestamp;

use super::view::{self, ResourceState, SummaryExtras};
use super::watch::{self, Next, Seen, WatchEnd};
use super::{AppObject, AppRef};
use crate::client::Api;
use crate::duration::{format_duration, parse_duration};
use crate::output::{ObjectOutput, print_object};

/// The annotation that asks the controller for a refresh; it removes it when done.
const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// `capstan app wait`.
#[derive(Debug, Args)]
#[command(
    after_help = "With no condition flag, waits for --sync, --health and --operation.\n\n\
    Examples:\n  capstan app wait guestbook\n  capstan app wait guestbook --health --timeout 300"
)]
pub struct WaitArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// Wait for the sync status to be Synced.
    #[arg(long)]
    pub sync: bool,

    /// Wait for the health to be Healthy.
    #[arg(long)]
    pub health: bool,

    /// Wait for pending and running operations to finish.
    #[arg(long)]
    pub operation: bool,

    /// Wait for the health to be Suspended.
    #[arg(long)]
    pub suspended: bool,

    /// Wait for the health to be Degraded.
    #[arg(long)]
    pub degraded: bool,

    /// Give up after this long (seconds, or a duration such as `5m`); 0 waits forever.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Output format of the final state.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ObjectOutput,
}

/// The states to wait for; with none set, [`WaitFor::or_default`] waits for sync, health and
/// operation, as argocd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitFor {
    /// Sync status Synced.
    pub sync: bool,
    /// Health Healthy.
    pub health: bool,
    /// No operation pending or running (and the application refreshed after it).
    pub operation: bool,
    /// Health Suspended.
    pub suspended: bool,
    /// Health Degraded.
    pub degraded: bool,
}

impl WaitFor {
    /// Sync, health and operation when nothing is set; `self` otherwise.
    pub fn or_default(self) -> Self {
        if self == Self::default() {
            Self {
                sync: true,
                health: true,
                operation: true,
                ..Self::default()
            }
        } else {
            self
        }
    }
}

/// Whether an application is where the user wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every condition holds.
    Ready,
    /// What is still awaited, one phrase per unmet condition.
    Waiting(Vec<String>),
}

/// Checks `app` against `want`, as Argo CD's `app wait`: the health must be one of those
/// asked for (Healthy for `health`, Suspended for `suspended`, Degraded for `degraded`), the
/// sync status Synced for `sync`, and for `operation` no operation may be requested or
/// running, nor a refresh pending, and a finished (non-dry-run) operation must have been
/// followed by a reconciliation.
pub fn evaluate(app: &Application, want: WaitFor) -> Verdict {
    let mut waiting = Vec::new();
    let status = app.status.as_ref();
    if want.health || want.suspended || want.degraded {
        let health = status
            .and_then(|status| status.health.status.as_ref())
            .map_or("Unknown", |health| health.as_str());
        let accepted: Vec<&str> = [
            (want.health, "Healthy"),
            (want.suspended, "Suspended"),
            (want.degraded, "Degraded"),
        ]
        .into_iter()
        .filter_map(|(wanted, value)| wanted.then_some(value))
        .collect();
        if !accepted.contains(&health) {
            waiting.push(format!(
                "health is {health}, waiting for {}",
                accepted.join(" or ")
            ));
        }
    }
    if want.sync {
        let sync = status
            .and_then(|status| status.sync.status.as_ref())
            .map_or("Unknown", |sync| sync.as_str());
        if sync != "Synced" {
            waiting.push(format!("sync status is {sync}, waiting for Synced"));
        }
    }
    if want.operation
        && let Some(reason) = operation_in_progress(app)
    {
        waiting.push(reason);
    }
    if waiting.is_empty() {
        Verdict::Ready
    } else {
        Verdict::Waiting(waiting)
    }
}

/// Why an operation counts as in progress, if it does: requested (`operation` set), running
/// (`operationState` without `finishedAt`), just finished but not yet followed by a
/// reconciliation (`reconciledAt` before `finishedAt`, except for dry runs), or a refresh
/// requested and not yet done.
pub fn operation_in_progress(app: &Application) -> Option<String> {
    let status = app.status.as_ref();
    let state = status.and_then(|status| status.operation_state.as_ref());
    let running = state.filter(|state| state.finished_at.is_none());
    if app.operation.is_some() {
        return Some(match running {
            Some(state) => phase_phrase(state),
            None => "operation requested, waiting for the controller to start it".to_owned(),
        });
    }
    if let Some(state) = running {
        return Some(phase_phrase(state));
    }
    if let Some(state) = state {
        let dry_run = state
            .operation
            .sync
            .as_ref()
            .and_then(|sync| sync.dry_run)
            .unwrap_or(false);
        let finished = state.finished_at.as_ref().map(|time| time.0);
        let reconciled = status
            .and_then(|status| status.reconciled_at.as_ref())
            .map(|time| time.0);
        if !dry_run
            && let Some(finished) = finished
            && reconciled.is_none_or(|reconciled| reconciled < finished)
        {
            return Some(
                "operation finished, waiting for the controller to refresh the application"
                    .to_owned(),
            );
        }
    }
    if app
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|annotations| annotations.contains_key(REFRESH_ANNOTATION))
    {
        return Some("refresh requested, waiting for the controller".to_owned());
    }
    None
}

fn phase_phrase(state: &capstan_types::application::OperationState) -> String {
    let phase = state
        .phase
        .as_ref()
        .map_or_else(|| "Running".to_owned(), ToString::to_string);
    if state.message.is_empty() {
        format!("operation {phase}")
    } else {
        format!("operation {phase}: {}", state.message)
    }
}

/// The outcome of the last operation once finished: `Ok` for Succeeded, else the error
/// argocd prints ("operation has completed with phase: Failed: ...").
pub fn operation_outcome(app: &Application) -> Result<(), String> {
    let state = app
        .status
        .as_ref()
        .and_then(|status| status.operation_state.as_ref());
    let Some(state) = state else {
        return Err("the application has no operation state".to_owned());
    };
    match &state.phase {
        Some(OperationPhase::Succeeded) => Ok(()),
        phase => {
            let phase = phase.as_ref().map_or_else(String::new, ToString::to_string);
            if state.message.is_empty() {
                Err(format!("operation has completed with phase: {phase}"))
            } else {
                Err(format!(
                    "operation has completed with phase: {phase}: {}",
                    state.message
                ))
            }
        }
    }
}

/// What has been printed while waiting, so that only changes are printed next.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    resources: BTreeMap<(String, String, String, String), ResourceState>,
    operation: Option<String>,
    header_printed: bool,
    widths: Vec<usize>,
}

impl Progress {
    /// The lines to print for this state of the application: the operation's phase and
    /// message when they changed, and the resource rows that changed (argocd's
    /// `TIMESTAMP GROUP KIND ...` table, its header once).
    pub(crate) fn update(&mut self, app: &Application, now: &str) -> String {
        let mut text = String::new();
        let state = app
            .status
            .as_ref()
            .and_then(|status| status.operation_state.as_ref());
        // A finished state shown while a new operation is requested is the previous one's.
        let stale = app.operation.is_some() && state.is_some_and(|s| s.finished_at.is_some());
        if let Some(state) = state.filter(|_| !stale) {
            let phrase = phase_phrase(state);
            if self.operation.as_deref() != Some(phrase.as_str()) {
                text.push_str(&format!("{now}  {}\n", capitalise(&phrase)));
                self.operation = Some(phrase);
            }
        }
        let states = view::resource_states(app);
        let changed: Vec<&ResourceState> = states
            .iter()
            .filter(|state| self.resources.get(&state.key()) != Some(*state))
            .collect();
        if !changed.is_empty() {
            let table = view::progress_table(&changed, now, !self.header_printed);
            text.push_str(&table.render_aligned(&mut self.widths));
            self.header_printed = true;
        }
        for state in states {
            self.resources.insert(state.key(), state);
        }
        text
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The current time as progress lines show it (RFC 3339, seconds).
pub(crate) fn now_stamp() -> String {
    Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| Timestamp::now())
        .to_string()
}

/// Waits until `app` satisfies `want`, printing progress to `out` when `progress` is set.
/// Returns the application in its final state.
///
/// # Errors
///
/// The application is deleted, a call fails, or `timeout` passes (the message says what was
/// still awaited).
pub(crate) async fn wait_for(
    api: &Api,
    app: &AppRef,
    want: WaitFor,
    timeout: Duration,
    progress: bool,
    out: &mut dyn Write,
) -> anyhow::Result<AppObject> {
    let mut printer = Progress::default();
    let mut last: Option<AppObject> = None;
    let mut reasons = Vec::new();
    let timeout = Some(timeout).filter(|timeout| !timeout.is_zero());
    let end = watch::watch_app(api, app, timeout, |seen| match seen {
        Seen::App(object) => {
            if progress {
                let text = printer.update(&object.app, &now_stamp());
                out.write_all(text.as_bytes())?;
            }
            let verdict = evaluate(&object.app, want);
            last = Some(object.clone());
            match verdict {
                Verdict::Ready => Ok(Next::Done),
                Verdict::Waiting(why) => {
                    reasons = why;
                    Ok(Next::Continue)
                }
            }
        }
        Seen::Deleted => anyhow::bail!("application '{app}' was deleted while waiting for it"),
    })
    .await?;
    match (end, last) {
        (WatchEnd::Done, Some(object)) => Ok(object),
        (WatchEnd::Done, None) => anyhow::bail!("application '{app}' was not found"),
        (WatchEnd::TimedOut, _) => {
            let timeout = timeout.unwrap_or_default();
            let mut message = format!(
                "timed out ({}) waiting for app \"{app}\" match desired state",
                format_duration(timeout)
            );
            if !reasons.is_empty() {
                message.push_str(&format!(": {}", reasons.join("; ")));
            }
            anyhow::bail!(message)
        }
    }
}

impl WaitArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let want = WaitFor {
            sync: self.sync,
            health: self.health,
            operation: self.operation,
            suspended: self.suspended,
            degraded: self.degraded,
        }
        .or_default();
        let human = matches!(self.output, ObjectOutput::Table | ObjectOutput::Wide);
        let object = wait_for(api, &app, want, self.timeout, human, out).await?;
        if !print_object(out, self.output, &object.raw)? {
            let text = final_status(&object.app, &SummaryExtras::default(), want.operation);
            out.write_all(text.as_bytes())?;
        }
        Ok(())
    }
}

/// argocd's final status after waiting: an empty line, the summary, the operation result
/// (when operations were awaited), and the resources.
pub(crate) fn final_status(app: &Application, extras: &SummaryExtras, operation: bool) -> String {
    let mut text = String::from("\n");
    text.push_str(&view::details(app, extras, operation, Timestamp::now()));
    text
}

#[cfg(test)]
mod tests;
