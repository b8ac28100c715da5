//! Kubernetes Events on Applications, as Argo CD's controller records them (the UI's Events
//! tab, `kubectl describe application`): `OperationStarted`, `OperationCompleted`, and
//! `ResourceUpdated` when the app's sync or health status changes.
//!
//! Which events a status change calls for is pure ([`status_events`]); publishing goes through
//! kube's [`Recorder`] on a background task fed by a bounded channel, so recording never blocks
//! or fails a reconcile: a full channel or a rejected event is logged at debug and dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use capstan_types::Application;
use capstan_types::application::{ApplicationStatus, OperationPhase, OperationState};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, ResourceExt};

/// The reporting controller named on every event.
pub const REPORTER: &str = "capstan-application-controller";
/// Argo CD's reason for an operation that started.
pub const OPERATION_STARTED: &str = "OperationStarted";
/// Argo CD's reason for an operation that finished.
pub const OPERATION_COMPLETED: &str = "OperationCompleted";
/// Argo CD's reason for a changed sync or health status.
pub const RESOURCE_UPDATED: &str = "ResourceUpdated";

/// Events waiting to be published; beyond this, new ones are dropped (and logged).
const QUEUE: usize = 1024;
/// How long kube's recorder keeps an event to count repeats into a series.
const SERIES_TTL: Duration = Duration::from_secs(6 * 60);

/// What an event is about: at most one event per slot and value, so a reconcile that sees a
/// stale status (its cached app lagging behind the controller's own write) repeats nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// `status.sync.status`.
    SyncStatus,
    /// `status.health.status`.
    HealthStatus,
    /// The start of an operation.
    OperationStarted,
    /// The end of an operation.
    OperationCompleted,
}

/// One event to record on an Application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppEvent {
    /// What it is about.
    pub slot: Slot,
    /// The value the slot reached (a status, an operation's start time): an event whose slot
    /// already reached this value is not recorded again.
    pub fingerprint: String,
    /// `Warning` when true, else `Normal`.
    pub warning: bool,
    /// Argo CD's reason.
    pub reason: &'static str,
    /// The message.
    pub note: String,
}

impl AppEvent {
    fn action(&self) -> &'static str {
        match self.slot {
            Slot::SyncStatus => "UpdateSyncStatus",
            Slot::HealthStatus => "UpdateHealthStatus",
            Slot::OperationStarted | Slot::OperationCompleted => "Sync",
        }
    }
}

/// The events a status change calls for, with Argo CD's reasons and messages.
pub fn status_events(old: &ApplicationStatus, new: &ApplicationStatus) -> Vec<AppEvent> {
    let mut events = Vec::new();
    if let Some(state) = &new.operation_state {
        let before = old
            .operation_state
            .as_ref()
            .filter(|o| o.started_at == state.started_at && o.operation == state.operation);
        if before.is_none()
            && let Some(note) = started_note(state, &new.sync.revision)
        {
            events.push(AppEvent {
                slot: Slot::OperationStarted,
                fingerprint: started_key(state),
                warning: false,
                reason: OPERATION_STARTED,
                note,
            });
        }
        let completed = |s: &OperationState| s.phase.as_ref().is_some_and(|p| p.is_completed());
        if completed(state) && !before.is_some_and(completed) {
            events.push(completed_event(state));
        }
    }
    let mut updated = |slot: Slot, what: &str, from: Option<&str>, to: Option<&str>| {
        let (from, to) = (from.unwrap_or_default(), to.unwrap_or_default());
        if from != to {
            events.push(AppEvent {
                slot,
                note: format!("Updated {what} status: {from} -> {to}"),
                fingerprint: to.to_owned(),
                warning: false,
                reason: RESOURCE_UPDATED,
            });
        }
    };
    updated(
        Slot::SyncStatus,
        "sync",
        old.sync.status.as_ref().map(|c| c.as_str()),
        new.sync.status.as_ref().map(|c| c.as_str()),
    );
    updated(
        Slot::HealthStatus,
        "health",
        old.health.status.as_ref().map(|c| c.as_str()),
        new.health.status.as_ref().map(|c| c.as_str()),
    );
    events
}

fn started_key(state: &OperationState) -> String {
    state
        .started_at
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default()
}

/// Argo CD's controller announces automated syncs (`Initiated automated sync to '<sha>'`); a
/// manual sync is announced by whoever requested it (Argo CD's API server: `<user> initiated
/// sync to <rev>`), so the controller speaks only for requests that name no user.
fn started_note(state: &OperationState, compared: &str) -> Option<String> {
    let initiator = state.operation.initiated_by.as_ref();
    let requested = state
        .operation
        .sync
        .as_ref()
        .map(|s| s.revision.as_str())
        .filter(|r| !r.is_empty());
    let revision = requested
        .or(Some(compared).filter(|r| !r.is_empty()))
        .unwrap_or("HEAD");
    if initiator.and_then(|i| i.automated) == Some(true) {
        Some(format!("Initiated automated sync to '{revision}'"))
    } else if initiator.is_none_or(|i| i.username.is_empty()) {
        Some(format!("Sync operation to {revision} started"))
    } else {
        None
    }
}

/// Argo CD's `OperationCompleted`: `[Partial ]Sync operation[ to <rev>] succeeded|failed: <msg>`.
fn completed_event(state: &OperationState) -> AppEvent {
    let partial = state
        .operation
        .sync
        .as_ref()
        .is_some_and(|s| !s.resources.is_empty());
    let mut words = vec![
        if partial {
            "Partial sync operation"
        } else {
            "Sync operation"
        }
        .to_owned(),
    ];
    if let Some(result) = &state.sync_result {
        words.push(format!("to {}", result.revision));
    }
    let succeeded = state.phase == Some(OperationPhase::Succeeded);
    if succeeded {
        words.push("succeeded".into());
    } else {
        words.push(format!("failed: {}", state.message));
    }
    AppEvent {
        slot: Slot::OperationCompleted,
        fingerprint: started_key(state),
        warning: !succeeded,
        reason: OPERATION_COMPLETED,
        note: words.join(" "),
    }
}

/// The reference events are recorded on: the Application, without its resourceVersion (which
/// changes with every status write and would keep repeats from counting into one series).
pub fn reference(app: &Application) -> ObjectReference {
    ObjectReference {
        api_version: Some(capstan_types::application::API_VERSION.to_owned()),
        kind: Some("Application".to_owned()),
        name: Some(app.name_any()),
        namespace: app.namespace(),
        uid: app.uid(),
        ..ObjectReference::default()
    }
}

/// Records events on Applications in the background.
pub struct AppEvents {
    queue: tokio::sync::mpsc::Sender<(ObjectReference, AppEvent)>,
    /// The value each (app uid, slot) last recorded.
    recorded: Mutex<HashMap<(String, Slot), String>>,
}

impl std::fmt::Debug for AppEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppEvents").finish_non_exhaustive()
    }
}

impl AppEvents {
    /// Starts the publishing task (needs a Tokio runtime).
    pub fn new(client: Client) -> Self {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<(ObjectReference, AppEvent)>(QUEUE);
        let reporter = Reporter::from(REPORTER);
        tokio::spawn(async move {
            // kube's recorder counts repeats of the same (object, reason, action) into one
            // series whatever their message; client-go's also keys on the message. One
            // recorder per distinct message keeps "OutOfSync -> Synced" and "Synced ->
            // OutOfSync" apart while true repeats still aggregate.
            let mut recorders: HashMap<(&'static str, String), (Recorder, Instant)> =
                HashMap::new();
            while let Some((regarding, event)) = rx.recv().await {
                recorders.retain(|_, (_, used)| used.elapsed() < SERIES_TTL);
                let (recorder, used) = recorders
                    .entry((event.reason, event.note.clone()))
                    .or_insert_with(|| {
                        (
                            Recorder::new(client.clone(), reporter.clone()),
                            Instant::now(),
                        )
                    });
                *used = Instant::now();
                let published = recorder
                    .publish(
                        &Event {
                            type_: if event.warning {
                                EventType::Warning
                            } else {
                                EventType::Normal
                            },
                            reason: event.reason.to_owned(),
                            note: Some(truncate(&event.note, 1024)),
                            action: event.action().to_owned(),
                            secondary: None,
                        },
                        &regarding,
                    )
                    .await;
                if let Err(e) = published {
                    tracing::debug!(
                        app = regarding.name.as_deref().unwrap_or_default(),
                        "recording event {}: {e}",
                        event.reason
                    );
                }
            }
        });
        Self {
            queue,
            recorded: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `events` on `app`, skipping any whose slot already reached its value.
    pub fn record(&self, app: &Application, events: Vec<AppEvent>) {
        if events.is_empty() {
            return;
        }
        let uid = app.uid().unwrap_or_default();
        let regarding = reference(app);
        for event in events {
            {
                let mut recorded = self.recorded.lock().expect("events lock");
                let key = (uid.clone(), event.slot);
                if recorded.get(&key) == Some(&event.fingerprint) {
                    continue;
                }
                recorded.insert(key, event.fingerprint.clone());
            }
            if let Err(e) = self.queue.try_send((regarding.clone(), event)) {
                tracing::debug!(app = %app.name_any(), "dropping an event: {e}");
            }
        }
    }

    /// Forgets a deleted app.
    pub fn forget(&self, app: &Application) {
        let uid = app.uid().unwrap_or_default();
        self.recorded
            .lock()
            .expect("events lock")
            .retain(|(u, _), _| *u != uid);
    }
}

/// At most `max` bytes of `text`, cut at a character boundary (the API's limit on a note).
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use capstan_types::application::{
        HealthStatusCode, Operation, OperationInitiator, SyncOperation, SyncOperationResource,
        SyncOperationResult, SyncStatusCode,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use pretty_assertions::assert_eq;

    use super::*;

    fn status(sync: Option<&str>, health: Option<&str>) -> ApplicationStatus {
        let mut s = ApplicationStatus::default();
        s.sync.status = sync.map(SyncStatusCode::from);
        s.sync.revision = "abc123".into();
        s.health.status = health.map(HealthStatusCode::from);
        s
    }

    fn time(second: i64) -> Option<Time> {
        Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + second).expect("time"),
        ))
    }

    fn op(
        who: Option<OperationInitiator>,
        revision: &str,
        partial: bool,
        phase: &str,
        started: i64,
        result: Option<&str>,
        message: &str,
    ) -> OperationState {
        OperationState {
            operation: Operation {
                sync: Some(SyncOperation {
                    revision: revision.into(),
                    resources: if partial {
                        vec![SyncOperationResource::default()]
                    } else {
                        Vec::new()
                    },
                    ..SyncOperation::default()
                }),
                initiated_by: who,
                ..Operation::default()
            },
            phase: Some(OperationPhase::from(phase)),
            message: message.into(),
            sync_result: result.map(|r| SyncOperationResult {
                revision: r.into(),
                ..SyncOperationResult::default()
            }),
            started_at: time(started),
            ..OperationState::default()
        }
    }

    fn automated() -> Option<OperationInitiator> {
        Some(OperationInitiator {
            automated: Some(true),
            ..OperationInitiator::default()
        })
    }

    fn user(name: &str) -> Option<OperationInitiator> {
        Some(OperationInitiator {
            username: name.into(),
            ..OperationInitiator::default()
        })
    }

    fn with(mut s: ApplicationStatus, state: OperationState) -> ApplicationStatus {
        s.operation_state = Some(state);
        s
    }

    /// (type, reason, note) of each event.
    fn render(events: &[AppEvent]) -> Vec<(&'static str, &'static str, String)> {
        events
            .iter()
            .map(|e| {
                (
                    if e.warning { "Warning" } else { "Normal" },
                    e.reason,
                    e.note.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn events_follow_argo_cds_reasons_and_messages() {
        let synced = status(Some("Synced"), Some("Healthy"));
        let out_of_sync = status(Some("OutOfSync"), Some("Healthy"));
        let running_auto = op(automated(), "abc123", false, "Running", 1, None, "");
        // An automated sync of abc123 that succeeded.
        let synced_auto = with(
            synced.clone(),
            op(
                automated(),
                "abc123",
                false,
                "Succeeded",
                1,
                Some("abc123"),
                "",
            ),
        );
        // (case, old status, new status, (type, reason, message) of each event)
        type Case = (
            &'static str,
            ApplicationStatus,
            ApplicationStatus,
            Vec<(&'static str, &'static str, &'static str)>,
        );
        let cases: Vec<Case> = vec![
            ("unchanged", synced.clone(), synced.clone(), vec![]),
            (
                "first comparison",
                ApplicationStatus::default(),
                status(Some("OutOfSync"), Some("Missing")),
                vec![
                    (
                        "Normal",
                        "ResourceUpdated",
                        "Updated sync status:  -> OutOfSync",
                    ),
                    (
                        "Normal",
                        "ResourceUpdated",
                        "Updated health status:  -> Missing",
                    ),
                ],
            ),
            (
                "sync and health change",
                status(Some("OutOfSync"), Some("Progressing")),
                synced.clone(),
                vec![
                    (
                        "Normal",
                        "ResourceUpdated",
                        "Updated sync status: OutOfSync -> Synced",
                    ),
                    (
                        "Normal",
                        "ResourceUpdated",
                        "Updated health status: Progressing -> Healthy",
                    ),
                ],
            ),
            (
                "automated sync starts",
                out_of_sync.clone(),
                with(out_of_sync.clone(), running_auto.clone()),
                vec![(
                    "Normal",
                    "OperationStarted",
                    "Initiated automated sync to 'abc123'",
                )],
            ),
            (
                "a running operation steps on",
                with(out_of_sync.clone(), running_auto.clone()),
                with(
                    out_of_sync.clone(),
                    op(
                        automated(),
                        "abc123",
                        false,
                        "Running",
                        1,
                        Some("abc123"),
                        "step 2",
                    ),
                ),
                vec![],
            ),
            (
                "a sync succeeds",
                with(out_of_sync.clone(), running_auto.clone()),
                with(
                    synced.clone(),
                    op(
                        automated(),
                        "abc123",
                        false,
                        "Succeeded",
                        1,
                        Some("abc123"),
                        "done",
                    ),
                ),
                vec![
                    (
                        "Normal",
                        "OperationCompleted",
                        "Sync operation to abc123 succeeded",
                    ),
                    (
                        "Normal",
                        "ResourceUpdated",
                        "Updated sync status: OutOfSync -> Synced",
                    ),
                ],
            ),
            (
                "a partial sync fails",
                with(
                    out_of_sync.clone(),
                    op(user("admin"), "", true, "Running", 1, Some("abc123"), ""),
                ),
                with(
                    out_of_sync.clone(),
                    op(
                        user("admin"),
                        "",
                        true,
                        "Failed",
                        1,
                        Some("abc123"),
                        "one or more objects failed to apply",
                    ),
                ),
                vec![(
                    "Warning",
                    "OperationCompleted",
                    "Partial sync operation to abc123 failed: one or more objects failed to apply",
                )],
            ),
            (
                "an error before any result",
                with(out_of_sync.clone(), running_auto.clone()),
                with(
                    out_of_sync.clone(),
                    op(automated(), "abc123", false, "Error", 1, None, "bad spec"),
                ),
                vec![(
                    "Warning",
                    "OperationCompleted",
                    "Sync operation failed: bad spec",
                )],
            ),
            (
                "a user's sync is announced by the API server",
                synced.clone(),
                with(
                    synced.clone(),
                    op(user("admin"), "main", false, "Running", 1, None, ""),
                ),
                vec![],
            ),
            (
                "a sync nobody signed",
                synced.clone(),
                with(synced.clone(), op(None, "", false, "Running", 1, None, "")),
                vec![(
                    "Normal",
                    "OperationStarted",
                    "Sync operation to abc123 started",
                )],
            ),
            (
                "a new operation after a finished one",
                synced_auto.clone(),
                with(
                    synced.clone(),
                    op(automated(), "def456", false, "Running", 2, None, ""),
                ),
                vec![(
                    "Normal",
                    "OperationStarted",
                    "Initiated automated sync to 'def456'",
                )],
            ),
            (
                "a finished operation seen again",
                synced_auto.clone(),
                synced_auto.clone(),
                vec![],
            ),
            (
                "started and finished within one write",
                synced.clone(),
                synced_auto.clone(),
                vec![
                    (
                        "Normal",
                        "OperationStarted",
                        "Initiated automated sync to 'abc123'",
                    ),
                    (
                        "Normal",
                        "OperationCompleted",
                        "Sync operation to abc123 succeeded",
                    ),
                ],
            ),
        ];
        for (name, old, new, want) in cases {
            let got = render(&status_events(&old, &new));
            let want: Vec<_> = want
                .into_iter()
                .map(|(t, r, n)| (t, r, n.to_owned()))
                .collect::<Vec<_>>();
            let got: Vec<_> = got.iter().map(|(t, r, n)| (*t, *r, n.clone())).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn fingerprints_name_the_value_reached() {
        let events = status_events(
            &status(Some("OutOfSync"), Some("Progressing")),
            &status(Some("Synced"), Some("Healthy")),
        );
        let slots: Vec<_> = events
            .iter()
            .map(|e| (e.slot, e.fingerprint.as_str()))
            .collect();
        assert_eq!(
            slots,
            [
                (Slot::SyncStatus, "Synced"),
                (Slot::HealthStatus, "Healthy")
            ]
        );
    }

    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate(&"x".repeat(2000), 1024).len(), 1024);
    }
}
