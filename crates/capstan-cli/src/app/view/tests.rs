use capstan_types::Application;
use jiff::Timestamp;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::{
    ResourceState, SummaryExtras, conditions_summary, details, history_table, list_sync_policy,
    list_table, operation_result, resource_states, summary, sync_policy,
};
use crate::app::fixtures::{guestbook, guestbook_with};

fn now() -> Timestamp {
    "2024-05-01T12:01:00Z".parse().expect("valid time")
}

#[test]
fn summary_like_argocd() {
    let extras = SummaryExtras {
        url: Some("https://cd.example.com/applications/guestbook".to_owned()),
        sync_window: Some("Sync Allowed".to_owned()),
    };
    assert_eq!(
        summary(&guestbook(), &extras),
        "Name:               guestbook\n\
         Project:            default\n\
         Server:             https://kubernetes.default.svc\n\
         Namespace:          default\n\
         URL:                https://cd.example.com/applications/guestbook\n\
         Repo:               https://github.com/argoproj/argocd-example-apps.git\n\
         Target:             HEAD\n\
         Path:               guestbook\n\
         SyncWindow:         Sync Allowed\n\
         Sync Policy:        Automated (Prune)\n\
         Sync Status:        Synced to HEAD (5c4c5ce)\n\
         Health Status:      Healthy\n"
    );
}

#[test]
fn sync_status_lines() {
    let cases = [
        (json!({}), "Synced to HEAD (5c4c5ce)"),
        (
            json!({"status": {"sync": {"status": "OutOfSync"}}}),
            "OutOfSync from HEAD (5c4c5ce)",
        ),
        // A commit SHA as target: no short SHA after it.
        (
            json!({"spec": {"source": {"targetRevision": "5c4c5ce2a1b0f5ad"}}}),
            "Synced to 5c4c5ce2a1b0f5ad",
        ),
        // An empty target tracks HEAD.
        (
            json!({"spec": {"source": {"targetRevision": null}}}),
            "Synced to HEAD (5c4c5ce)",
        ),
        // A Helm chart version is shown as is.
        (
            json!({"spec": {"source": {"targetRevision": "1.2.3"}},
                   "status": {"sync": {"revision": "1.2.3"}}}),
            "Synced to 1.2.3",
        ),
        (json!({"status": null}), "Unknown"),
    ];
    for (patch, want) in cases {
        let text = summary(&guestbook_with(&patch), &SummaryExtras::default());
        let line = text
            .lines()
            .find(|line| line.starts_with("Sync Status:"))
            .expect("a sync status line");
        assert_eq!(
            line.trim_start_matches("Sync Status:").trim(),
            want,
            "{patch}"
        );
    }
}

#[test]
fn sync_policies_and_conditions() {
    let cases = [
        (json!({}), "Automated (Prune)", "Auto-Prune"),
        (
            json!({"spec": {"syncPolicy": {"automated": {"prune": null}}}}),
            "Automated",
            "Auto",
        ),
        (json!({"spec": {"syncPolicy": null}}), "Manual", "Manual"),
        (
            json!({"spec": {"syncPolicy": {"automated": {"enabled": false}}}}),
            "Manual",
            "Manual",
        ),
    ];
    for (patch, long, short) in cases {
        let app = guestbook_with(&patch);
        assert_eq!(sync_policy(&app.spec), long, "{patch}");
        assert_eq!(list_sync_policy(&app.spec), short, "{patch}");
    }
    let app = guestbook_with(&json!({"status": {"conditions": [
        {"type": "SyncError", "message": "a"},
        {"type": "ComparisonError", "message": "b"},
        {"type": "ComparisonError", "message": "c"},
    ]}}));
    let conditions = &app.status.as_ref().expect("status").conditions;
    assert_eq!(
        conditions_summary(conditions),
        "ComparisonError(2),SyncError"
    );
    assert_eq!(conditions_summary(&[]), "<none>");
}

#[test]
fn list_tables() {
    let apps = vec![
        guestbook(),
        guestbook_with(&json!({
            "metadata": {"name": "helm"},
            "spec": {"destination": {"server": null, "name": "prod"}, "syncPolicy": null},
            "status": {"health": {"status": "Progressing"}, "sync": {"status": "OutOfSync"},
                       "conditions": [{"type": "SyncError", "message": "x"}]},
        })),
    ];
    assert_eq!(
        list_table(&apps, false).render(),
        "NAME       CLUSTER                         NAMESPACE  PROJECT  STATUS     HEALTH       \
         SYNCPOLICY  CONDITIONS  REPO                                                 PATH       \
         TARGET\n\
         guestbook  https://kubernetes.default.svc  default    default  Synced     Healthy      \
         Auto-Prune  <none>      https://github.com/argoproj/argocd-example-apps.git  guestbook  \
         HEAD\n\
         helm       prod                            default    default  OutOfSync  Progressing  \
         Manual      SyncError   https://github.com/argoproj/argocd-example-apps.git  guestbook  \
         HEAD\n"
    );
    let wide = list_table(&apps[..1], true).render();
    assert!(
        wide.lines()
            .next()
            .expect("header")
            .ends_with("TARGET  REVISION  OPERATION")
    );
    assert!(wide.ends_with("HEAD    5c4c5ce   Succeeded\n"), "{wide}");
}

#[test]
fn resource_states_merge_the_sync_result() {
    let state = |group: &str,
                 kind: &str,
                 name: &str,
                 status: &str,
                 health: &str,
                 hook: &str,
                 message: &str| ResourceState {
        group: group.to_owned(),
        kind: kind.to_owned(),
        namespace: "default".to_owned(),
        name: name.to_owned(),
        status: status.to_owned(),
        health: health.to_owned(),
        hook: hook.to_owned(),
        message: message.to_owned(),
    };
    assert_eq!(
        resource_states(&guestbook()),
        vec![
            state(
                "",
                "Service",
                "guestbook-ui",
                "Synced",
                "Healthy",
                "",
                "service/guestbook-ui created"
            ),
            state(
                "apps",
                "Deployment",
                "guestbook-ui",
                "Synced",
                "Healthy",
                "",
                "deployment.apps/guestbook-ui created"
            ),
            // Hooks: their phase as STATUS, the result as HEALTH.
            state(
                "batch",
                "Job",
                "migrate",
                "Succeeded",
                "Synced",
                "PreSync",
                "job completed"
            ),
            // Not in the last sync.
            state("", "ConfigMap", "extra", "OutOfSync", "", "", ""),
        ]
    );
    // Without a sync result, status.resources sorted by group, kind, namespace, name.
    let app = guestbook_with(&json!({"status": {"operationState": null}}));
    let names: Vec<String> = resource_states(&app)
        .iter()
        .map(|s| format!("{}/{}", s.group, s.kind))
        .collect();
    assert_eq!(names, ["/ConfigMap", "/Service", "apps/Deployment"]);
    assert_eq!(resource_states(&Application::default()), vec![]);
}

#[test]
fn operation_results() {
    let state = guestbook()
        .status
        .and_then(|status| status.operation_state)
        .expect("an operation state");
    assert_eq!(
        operation_result(&state, now()),
        "Operation:          Sync\n\
         Sync Revision:      5c4c5ce2a1b0f5ad7b1b0e5c5fb4d2b1f0a9c8d7\n\
         Phase:              Succeeded\n\
         Start:              2024-05-01T12:00:00Z\n\
         Finished:           2024-05-01T12:00:05Z\n\
         Duration:           5s\n\
         Message:            successfully synced (all tasks run)\n"
    );
    // A running operation is measured up to now.
    let running = guestbook_with(&json!({"status": {"operationState": {
        "phase": "Running", "finishedAt": null, "message": null, "syncResult": null}}}))
    .status
    .and_then(|status| status.operation_state)
    .expect("an operation state");
    assert_eq!(
        operation_result(&running, now()),
        "Operation:          Sync\n\
         Sync Revision:      5c4c5ce2a1b0f5ad7b1b0e5c5fb4d2b1f0a9c8d7\n\
         Phase:              Running\n\
         Start:              2024-05-01T12:00:00Z\n\
         Finished:\n\
         Duration:           1m0s\n"
    );
}

#[test]
fn details_put_everything_together() {
    let app = guestbook_with(&json!({"status": {"conditions": [
        {"type": "SyncError", "message": "boom", "lastTransitionTime": "2024-05-01T12:00:00Z"},
    ]}}));
    let text = details(&app, &SummaryExtras::default(), false, now());
    assert!(
        text.contains(
            "Health Status:      Healthy\n\n\
             CONDITION  MESSAGE  LAST TRANSITION\n\
             SyncError  boom     2024-05-01T12:00:00Z\n\n\
             GROUP  KIND        NAMESPACE  NAME          STATUS     HEALTH   HOOK     MESSAGE\n\
             \x20      Service     default    guestbook-ui  Synced     Healthy           \
             service/guestbook-ui created\n"
        ),
        "{text}"
    );
    assert!(!text.contains("Operation:"));
    assert!(details(&app, &SummaryExtras::default(), true, now()).contains("Phase:"));
}

#[test]
fn history() {
    let app = guestbook();
    let history = &app.status.as_ref().expect("status").history;
    assert_eq!(
        history_table(history).render(),
        "ID  DATE                  REVISION\n\
         0   2024-04-30T10:00:00Z  HEAD (1111111)\n\
         1   2024-05-01T12:00:05Z  HEAD (5c4c5ce)\n"
    );
}
