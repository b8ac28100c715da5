//! How applications look on the terminal, as argocd prints them: the `app list` table, the
//! `app get` summary, the operation result, conditions, and the per-resource table that
//! merges `status.resources` with the last sync result. Pure functions of an [`Application`].

use std::collections::BTreeMap;

use capstan_types::Application;
use capstan_types::application::{
    ApplicationCondition, ApplicationSource, ApplicationSpec, OperationState, RevisionHistory,
};
use jiff::Timestamp;

use crate::duration::format_duration;
use crate::output::{Table, field, or_none, short_revision};

/// The application's (first) source: `spec.source`, else `spec.sources[0]`.
pub(crate) fn source(spec: &ApplicationSpec) -> Option<&ApplicationSource> {
    spec.source.as_ref().or_else(|| spec.sources.first())
}

/// The application's name.
pub(crate) fn name(app: &Application) -> &str {
    app.metadata.name.as_deref().unwrap_or_default()
}

/// The destination cluster: its server URL, else its name.
pub(crate) fn cluster(spec: &ApplicationSpec) -> &str {
    if spec.destination.server.is_empty() {
        &spec.destination.name
    } else {
        &spec.destination.server
    }
}

/// The target revision, `HEAD` when empty (what Argo CD tracks then).
fn target_revision(source: Option<&ApplicationSource>) -> &str {
    match source.map(|source| source.target_revision.as_str()) {
        Some("") | None => "HEAD",
        Some(revision) => revision,
    }
}

/// Whether `revision` looks like a (possibly abbreviated) Git commit SHA.
fn is_sha(revision: &str) -> bool {
    revision.len() >= 7 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// Whether automated sync is on (`automated` present and not `enabled: false`).
fn automated(spec: &ApplicationSpec) -> Option<&capstan_types::application::SyncPolicyAutomated> {
    spec.sync_policy
        .as_ref()
        .and_then(|policy| policy.automated.as_ref())
        .filter(|automated| automated.enabled != Some(false))
}

/// `app get`'s Sync Policy: `Manual`, `Automated` or `Automated (Prune)`.
pub(crate) fn sync_policy(spec: &ApplicationSpec) -> String {
    match automated(spec) {
        None => "Manual".to_owned(),
        Some(automated) if automated.prune == Some(true) => "Automated (Prune)".to_owned(),
        Some(_) => "Automated".to_owned(),
    }
}

/// `app list`'s SYNCPOLICY column: `Manual`, `Auto` or `Auto-Prune`.
pub(crate) fn list_sync_policy(spec: &ApplicationSpec) -> &'static str {
    match automated(spec) {
        None => "Manual",
        Some(automated) if automated.prune == Some(true) => "Auto-Prune",
        Some(_) => "Auto",
    }
}

/// `app list`'s CONDITIONS column: `<none>`, or each condition type with its count,
/// `ComparisonError(2),SyncError`.
pub(crate) fn conditions_summary(conditions: &[ApplicationCondition]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for condition in conditions {
        *counts.entry(condition.condition_type.as_str()).or_default() += 1;
    }
    if counts.is_empty() {
        return "<none>".to_owned();
    }
    counts
        .into_iter()
        .map(|(kind, count)| {
            if count > 1 {
                format!("{kind}({count})")
            } else {
                kind.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn sync_status(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|status| status.sync.status.as_ref())
        .map_or("Unknown", |status| status.as_str())
}

fn health_status(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|status| status.health.status.as_ref())
        .map_or("Unknown", |status| status.as_str())
}

/// The `app list` table. `wide` adds the synced revision and the operation phase.
pub(crate) fn list_table(apps: &[Application], wide: bool) -> Table {
    let mut header = vec![
        "NAME",
        "CLUSTER",
        "NAMESPACE",
        "PROJECT",
        "STATUS",
        "HEALTH",
        "SYNCPOLICY",
        "CONDITIONS",
        "REPO",
        "PATH",
        "TARGET",
    ];
    if wide {
        header.extend(["REVISION", "OPERATION"]);
    }
    let mut table = Table::new(header);
    for app in apps {
        let source = source(&app.spec);
        let status = app.status.as_ref();
        let mut row = vec![
            name(app).to_owned(),
            cluster(&app.spec).to_owned(),
            app.spec.destination.namespace.clone(),
            app.spec.project.clone(),
            sync_status(app).to_owned(),
            health_status(app).to_owned(),
            list_sync_policy(&app.spec).to_owned(),
            conditions_summary(status.map(|s| s.conditions.as_slice()).unwrap_or_default()),
            source.map(|s| s.repo_url.clone()).unwrap_or_default(),
            source.map(|s| s.path.clone()).unwrap_or_default(),
            source
                .map(|s| s.target_revision.clone())
                .unwrap_or_default(),
        ];
        if wide {
            row.push(short_revision(status.map_or("", |s| s.sync.revision.as_str())).to_owned());
            row.push(
                status
                    .and_then(|s| s.operation_state.as_ref())
                    .and_then(|op| op.phase.as_ref())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            );
        }
        table.row(row);
    }
    table
}

/// What `app get` shows beside the object: facts from other calls, when they answered.
#[derive(Clone, Debug, Default)]
pub(crate) struct SummaryExtras {
    /// The application's page in the UI (from the server's `url` setting).
    pub url: Option<String>,
    /// `Sync Allowed` / `Sync Denied` from the sync windows.
    pub sync_window: Option<String>,
}

/// argocd's application summary: Name, Project, Server, Namespace, URL, Repo, Target, Path,
/// SyncWindow, Sync Policy, Sync Status (with the short revision), Health Status.
pub(crate) fn summary(app: &Application, extras: &SummaryExtras) -> String {
    let spec = &app.spec;
    let mut text = String::new();
    text.push_str(&field("Name", name(app)));
    text.push_str(&field("Project", &spec.project));
    text.push_str(&field("Server", cluster(spec)));
    text.push_str(&field("Namespace", &spec.destination.namespace));
    if let Some(url) = &extras.url {
        text.push_str(&field("URL", url));
    }
    let sources: Vec<&ApplicationSource> = match &spec.source {
        Some(source) => vec![source],
        None => spec.sources.iter().collect(),
    };
    for source in &sources {
        text.push_str(&field("Repo", &source.repo_url));
        text.push_str(&field("Target", &source.target_revision));
        if !source.chart.is_empty() {
            text.push_str(&field("Chart", &source.chart));
        }
        if !source.path.is_empty() || source.chart.is_empty() {
            text.push_str(&field("Path", &source.path));
        }
        if let Some(helm) = &source.helm
            && !helm.value_files.is_empty()
        {
            text.push_str(&field("Helm Values", &helm.value_files.join(",")));
        }
    }
    if let Some(window) = &extras.sync_window {
        text.push_str(&field("SyncWindow", window));
    }
    text.push_str(&field("Sync Policy", &sync_policy(spec)));
    if let Some(options) = spec.sync_policy.as_ref().map(|policy| &policy.sync_options)
        && !options.is_empty()
    {
        text.push_str(&field("Sync Options", &options.join(",")));
    }
    text.push_str(&field("Sync Status", &sync_status_line(app)));
    let health = app.status.as_ref().map(|status| &status.health);
    let mut health_line = health_status(app).to_owned();
    if let Some(message) = health.map(|health| health.message.as_str())
        && !message.is_empty()
    {
        health_line.push_str(&format!(" ({message})"));
    }
    text.push_str(&field("Health Status", &health_line));
    text
}

/// `Synced to HEAD (5c4c5ce)`, `OutOfSync from main (1234567)`, `Unknown`.
fn sync_status_line(app: &Application) -> String {
    let status = sync_status(app);
    let source = source(&app.spec);
    let target = target_revision(source);
    let mut line = status.to_owned();
    match status {
        "Synced" => line.push_str(&format!(" to {target}")),
        "OutOfSync" => line.push_str(&format!(" from {target}")),
        _ => {}
    }
    let revision = app.status.as_ref().map_or("", |s| s.sync.revision.as_str());
    // A target that is itself a commit SHA needs no short SHA after it; a Helm chart version
    // is shown whole by the target.
    if !is_sha(target) && is_sha(revision) {
        line.push_str(&format!(" ({})", short_revision(revision)));
    }
    line
}

/// argocd's operation result: Operation, Sync Revision, Phase, Start, Finished, Duration,
/// Message. `now` measures a running operation.
pub(crate) fn operation_result(state: &OperationState, now: Timestamp) -> String {
    let mut text = String::new();
    if state.operation.sync.is_some() || state.sync_result.is_some() {
        text.push_str(&field("Operation", "Sync"));
        let revision = match &state.sync_result {
            Some(result) if !result.revisions.is_empty() => result.revisions.join(", "),
            Some(result) => result.revision.clone(),
            None => state
                .operation
                .sync
                .as_ref()
                .map(|sync| sync.revision.clone())
                .unwrap_or_default(),
        };
        text.push_str(&field("Sync Revision", &revision));
    }
    let phase = state
        .phase
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    text.push_str(&field("Phase", &phase));
    let started = state.started_at.as_ref().map(|time| time.0);
    let finished = state.finished_at.as_ref().map(|time| time.0);
    text.push_str(&field(
        "Start",
        &started.map(|t| t.to_string()).unwrap_or_default(),
    ));
    text.push_str(&field(
        "Finished",
        &finished.map(|t| t.to_string()).unwrap_or_default(),
    ));
    if let Some(started) = started {
        let end = finished.unwrap_or(now);
        let seconds = end.as_second().saturating_sub(started.as_second()).max(0);
        let duration = std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        text.push_str(&field("Duration", &format_duration(duration)));
    }
    if !state.message.is_empty() {
        text.push_str(&field("Message", &state.message));
    }
    text
}

/// The `CONDITION  MESSAGE  LAST TRANSITION` table, `None` without conditions.
pub(crate) fn conditions_table(app: &Application) -> Option<Table> {
    let conditions = &app.status.as_ref()?.conditions;
    if conditions.is_empty() {
        return None;
    }
    let mut table = Table::new(["CONDITION", "MESSAGE", "LAST TRANSITION"]);
    for condition in conditions {
        table.row([
            condition.condition_type.clone(),
            condition.message.clone(),
            condition
                .last_transition_time
                .as_ref()
                .map(|time| time.0.to_string())
                .unwrap_or_default(),
        ]);
    }
    Some(table)
}

/// One row of the resource table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResourceState {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub health: String,
    pub hook: String,
    pub message: String,
}

impl ResourceState {
    /// The row's identity: group, kind, namespace, name.
    pub(crate) fn key(&self) -> (String, String, String, String) {
        (
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }

    fn cells(&self) -> [String; 8] {
        [
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
            self.status.clone(),
            self.health.clone(),
            self.hook.clone(),
            self.message.clone(),
        ]
    }
}

/// The resources as argocd's `getResourceStates` lists them: first those of the last sync
/// result, in its order (hooks show their phase as STATUS and the result as HEALTH; others
/// their current sync status and health, with the result's message), then the remaining
/// resources of `status.resources`, sorted by group, kind, namespace and name.
pub(crate) fn resource_states(app: &Application) -> Vec<ResourceState> {
    let Some(status) = app.status.as_ref() else {
        return Vec::new();
    };
    let mut remaining: BTreeMap<(String, String, String, String), &_> = status
        .resources
        .iter()
        .map(|res| {
            (
                (
                    res.group.clone(),
                    res.kind.clone(),
                    res.namespace.clone(),
                    res.name.clone(),
                ),
                res,
            )
        })
        .collect();
    let mut states = Vec::new();
    if let Some(result) = status
        .operation_state
        .as_ref()
        .and_then(|op| op.sync_result.as_ref())
    {
        for res in &result.resources {
            let key = (
                res.group.clone(),
                res.kind.clone(),
                res.namespace.clone(),
                res.name.clone(),
            );
            let mut state = ResourceState {
                group: res.group.clone(),
                kind: res.kind.clone(),
                namespace: res.namespace.clone(),
                name: res.name.clone(),
                status: res
                    .hook_phase
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                health: res
                    .status
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                hook: res
                    .hook_type
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                message: res.message.clone(),
            };
            if let Some(current) = remaining.get(&key)
                && res.hook_type.is_none()
            {
                state.status = current
                    .status
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                state.health = current
                    .health
                    .as_ref()
                    .and_then(|health| health.status.as_ref())
                    .map(ToString::to_string)
                    .unwrap_or_default();
            }
            remaining.remove(&key);
            states.push(state);
        }
    }
    for res in remaining.into_values() {
        states.push(ResourceState {
            group: res.group.clone(),
            kind: res.kind.clone(),
            namespace: res.namespace.clone(),
            name: res.name.clone(),
            status: res
                .status
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            health: res
                .health
                .as_ref()
                .and_then(|health| health.status.as_ref())
                .map(ToString::to_string)
                .unwrap_or_default(),
            hook: String::new(),
            message: String::new(),
        });
    }
    states
}

/// The `GROUP  KIND  NAMESPACE  NAME  STATUS  HEALTH  HOOK  MESSAGE` table.
pub(crate) fn resources_table(states: &[ResourceState]) -> Table {
    let mut table = Table::new([
        "GROUP",
        "KIND",
        "NAMESPACE",
        "NAME",
        "STATUS",
        "HEALTH",
        "HOOK",
        "MESSAGE",
    ]);
    for state in states {
        table.row(state.cells());
    }
    table
}

/// The progress rows printed while waiting: `TIMESTAMP` then the resource table's columns.
pub(crate) fn progress_table(states: &[&ResourceState], now: &str, header: bool) -> Table {
    let mut table = if header {
        Table::new([
            "TIMESTAMP",
            "GROUP",
            "KIND",
            "NAMESPACE",
            "NAME",
            "STATUS",
            "HEALTH",
            "HOOK",
            "MESSAGE",
        ])
    } else {
        Table::headless()
    };
    for state in states {
        let mut row = vec![now.to_owned()];
        row.extend(state.cells());
        table.row(row);
    }
    table
}

/// The whole `app get` text: summary, operation, conditions and resources.
pub(crate) fn details(
    app: &Application,
    extras: &SummaryExtras,
    show_operation: bool,
    now: Timestamp,
) -> String {
    let mut text = summary(app, extras);
    if show_operation
        && let Some(state) = app.status.as_ref().and_then(|s| s.operation_state.as_ref())
    {
        text.push('\n');
        text.push_str(&operation_result(state, now));
    }
    if let Some(table) = conditions_table(app) {
        text.push('\n');
        text.push_str(&table.render());
    }
    let states = resource_states(app);
    if !states.is_empty() {
        text.push('\n');
        text.push_str(&resources_table(&states).render());
    }
    text
}

/// The `ID  DATE  REVISION` table of `app history`.
pub(crate) fn history_table(history: &[RevisionHistory]) -> Table {
    let mut table = Table::new(["ID", "DATE", "REVISION"]);
    for entry in history {
        let target = target_revision(entry.source.as_ref().or_else(|| entry.sources.first()));
        let revision = if entry.revision.is_empty() && !entry.revisions.is_empty() {
            entry
                .revisions
                .iter()
                .map(|r| short_revision(r))
                .collect::<Vec<_>>()
                .join(", ")
        } else if is_sha(&entry.revision) {
            format!("{target} ({})", short_revision(&entry.revision))
        } else {
            or_none(&entry.revision).to_owned()
        };
        table.row([
            entry.id.to_string(),
            entry
                .deployed_at
                .as_ref()
                .map(|time| time.0.to_string())
                .unwrap_or_default(),
            revision,
        ]);
    }
    table
}

#[cfg(test)]
mod tests;
