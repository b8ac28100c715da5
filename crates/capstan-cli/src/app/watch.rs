//! Following one application: its current state first (`Get`), then its changes
//! (`ApplicationService.Watch`), each handed to a callback that says whether to go on.
//!
//! A watch the server ends or loses is re-opened after re-reading the current state, so
//! nothing is missed; a server that does not implement `Watch` is polled every two seconds
//! instead. Only the callback, an error that retrying cannot fix, or the timeout ends it.

use std::time::Duration;

use capstan_proto::application::v1::ApplicationWatchEvent;
use capstan_proto::common::v1::WatchEventType;
use tonic::{Code, Status};

use super::{AppObject, AppRef};
use crate::client::Api;

/// What the callback sees.
#[derive(Debug)]
pub(crate) enum Seen<'a> {
    /// The application's current state.
    App(&'a AppObject),
    /// The application no longer exists.
    Deleted,
}

/// What the callback wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep watching.
    Continue,
    /// Stop: what was awaited happened.
    Done,
}

/// How a watch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchEnd {
    /// The callback said [`Next::Done`].
    Done,
    /// The timeout passed first.
    TimedOut,
}

/// Pause before re-opening a watch, and between polls.
const RETRY_DELAY: Duration = Duration::from_secs(2);
/// Consecutive failed attempts (without a single event in between) before giving up.
const MAX_FAILURES: u32 = 10;

/// Follows `app` until `handle` says [`Next::Done`] or `timeout` passes.
///
/// # Errors
///
/// An error from `handle`, or a call failing in a way retrying cannot fix (permission denied,
/// unauthenticated, ...), or failing [`MAX_FAILURES`] times in a row.
pub(crate) async fn watch_app<F>(
    api: &Api,
    app: &AppRef,
    timeout: Option<Duration>,
    handle: F,
) -> anyhow::Result<WatchEnd>
where
    F: FnMut(Seen<'_>) -> anyhow::Result<Next>,
{
    let work = follow(api, app, handle);
    match timeout {
        Some(timeout) => match tokio::time::timeout(timeout, work).await {
            Ok(result) => result.map(|()| WatchEnd::Done),
            Err(_) => Ok(WatchEnd::TimedOut),
        },
        None => work.await.map(|()| WatchEnd::Done),
    }
}

async fn follow<F>(api: &Api, app: &AppRef, mut handle: F) -> anyhow::Result<()>
where
    F: FnMut(Seen<'_>) -> anyhow::Result<Next>,
{
    let mut failures = 0;
    let mut poll = false;
    loop {
        // The current state, so that nothing between two watches is missed.
        match get(api, app).await? {
            Ok(Some(object)) => {
                if handle(Seen::App(&object))? == Next::Done {
                    return Ok(());
                }
            }
            Ok(None) => {
                if handle(Seen::Deleted)? == Next::Done {
                    return Ok(());
                }
                anyhow::bail!("application '{app}' not found");
            }
            Err(status) => {
                failures = retry_or_fail(api, app, status, failures, "getting")?;
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        }
        if poll {
            tokio::time::sleep(RETRY_DELAY).await;
            continue;
        }
        let mut stream = match api
            .applications()
            .watch(api.stream_request(app.query()))
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::Unimplemented => {
                poll = true;
                continue;
            }
            Err(status) => {
                failures = retry_or_fail(api, app, status, failures, "watching")?;
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    failures = 0;
                    if let Some(next) = on_event(&event, &mut handle)?
                        && next == Next::Done
                    {
                        return Ok(());
                    }
                }
                // The server closed the stream: re-read and re-watch.
                Ok(None) => break,
                Err(status) => {
                    failures = retry_or_fail(api, app, status, failures, "watching")?;
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY_DELAY).await;
    }
}

/// Hands one watch event to `handle`; `None` for events that carry no state (bookmarks).
fn on_event<F>(event: &ApplicationWatchEvent, handle: &mut F) -> anyhow::Result<Option<Next>>
where
    F: FnMut(Seen<'_>) -> anyhow::Result<Next>,
{
    match WatchEventType::try_from(event.r#type).unwrap_or(WatchEventType::Unspecified) {
        WatchEventType::Deleted => handle(Seen::Deleted).map(Some),
        WatchEventType::Bookmark => Ok(None),
        _ => match &event.application {
            Some(object) => {
                let object = AppObject::decode(object)?;
                handle(Seen::App(&object)).map(Some)
            }
            None => Ok(None),
        },
    }
}

/// The application's current state (`None` when it does not exist), or the failed call's
/// status; the outer error is an answer that does not decode.
async fn get(api: &Api, app: &AppRef) -> anyhow::Result<Result<Option<AppObject>, Status>> {
    match api.applications().get(api.request(app.query())).await {
        Ok(response) => Ok(Ok(Some(AppObject::decode(&response.into_inner())?))),
        Err(status) if status.code() == Code::NotFound => Ok(Ok(None)),
        Err(status) => Ok(Err(status)),
    }
}

/// Counts a failure that retrying may fix (the server restarting, a dropped connection);
/// fails at once for the others, or after [`MAX_FAILURES`].
fn retry_or_fail(
    api: &Api,
    app: &AppRef,
    status: Status,
    failures: u32,
    doing: &str,
) -> anyhow::Result<u32> {
    let transient = matches!(
        status.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::Aborted
            | Code::DeadlineExceeded
            | Code::Cancelled
    );
    if transient && failures + 1 < MAX_FAILURES {
        return Ok(failures + 1);
    }
    Err(api
        .error(status)
        .context(format!("{doing} application '{app}'")))
}
