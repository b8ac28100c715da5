use capstan_types::Application;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::{Progress, Verdict, WaitFor, evaluate, operation_outcome};
use crate::app::fixtures::{guestbook, guestbook_with};

const ALL: WaitFor = WaitFor {
    sync: true,
    health: true,
    operation: true,
    suspended: false,
    degraded: false,
};

fn only(f: impl FnOnce(&mut WaitFor)) -> WaitFor {
    let mut want = WaitFor::default();
    f(&mut want);
    want
}

fn waiting(reasons: &[&str]) -> Verdict {
    Verdict::Waiting(reasons.iter().map(|r| (*r).to_owned()).collect())
}

#[test]
fn no_flag_means_sync_health_and_operation() {
    assert_eq!(WaitFor::default().or_default(), ALL);
    let health = only(|w| w.health = true);
    assert_eq!(health.or_default(), health);
}

#[test]
fn wait_conditions() {
    let running = json!({"status": {"operationState": {
        "phase": "Running", "message": "waiting for healthy state of apps/Deployment/web",
        "finishedAt": null}}});
    let cases = [
        ("healthy and synced", json!({}), ALL, Verdict::Ready),
        (
            "progressing",
            json!({"status": {"health": {"status": "Progressing"}}}),
            ALL,
            waiting(&["health is Progressing, waiting for Healthy"]),
        ),
        (
            "out of sync",
            json!({"status": {"sync": {"status": "OutOfSync"}}}),
            only(|w| w.sync = true),
            waiting(&["sync status is OutOfSync, waiting for Synced"]),
        ),
        (
            "suspended wanted",
            json!({}),
            only(|w| w.suspended = true),
            waiting(&["health is Healthy, waiting for Suspended"]),
        ),
        (
            "either health",
            json!({"status": {"health": {"status": "Degraded"}}}),
            only(|w| {
                w.health = true;
                w.degraded = true;
            }),
            Verdict::Ready,
        ),
        (
            "operation requested, not started",
            json!({"operation": {"sync": {}}}),
            ALL,
            waiting(&["operation requested, waiting for the controller to start it"]),
        ),
        (
            "operation requested and running",
            json!({"operation": {"sync": {}}, "status": {"operationState": {
                "phase": "Running", "message": "", "finishedAt": null}}}),
            ALL,
            waiting(&["operation Running"]),
        ),
        (
            "operation running",
            running.clone(),
            ALL,
            waiting(&["operation Running: waiting for healthy state of apps/Deployment/web"]),
        ),
        // argocd: a running operation does not matter unless operations are awaited.
        (
            "running, health only",
            running,
            only(|w| w.health = true),
            Verdict::Ready,
        ),
        (
            "finished, not yet reconciled",
            json!({"status": {"reconciledAt": "2024-05-01T12:00:04Z"}}),
            ALL,
            waiting(&["operation finished, waiting for the controller to refresh the application"]),
        ),
        (
            "finished, never reconciled",
            json!({"status": {"reconciledAt": null}}),
            only(|w| w.operation = true),
            waiting(&["operation finished, waiting for the controller to refresh the application"]),
        ),
        (
            "reconciled at the second it finished",
            json!({"status": {"reconciledAt": "2024-05-01T12:00:05Z"}}),
            ALL,
            Verdict::Ready,
        ),
        (
            "dry runs need no refresh",
            json!({"status": {"reconciledAt": null, "operationState": {
                "operation": {"sync": {"dryRun": true}}}}}),
            ALL,
            Verdict::Ready,
        ),
        (
            "refresh requested",
            json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
            ALL,
            waiting(&["refresh requested, waiting for the controller"]),
        ),
        (
            "no status yet",
            json!({"status": null}),
            ALL,
            waiting(&[
                "health is Unknown, waiting for Healthy",
                "sync status is Unknown, waiting for Synced",
            ]),
        ),
    ];
    for (name, patch, want, verdict) in cases {
        assert_eq!(evaluate(&guestbook_with(&patch), want), verdict, "{name}");
    }
}

#[test]
fn operation_outcomes() {
    assert_eq!(operation_outcome(&guestbook()), Ok(()));
    let failed = guestbook_with(&json!({"status": {"operationState": {
        "phase": "Failed", "message": "one or more objects failed to apply"}}}));
    assert_eq!(
        operation_outcome(&failed),
        Err(
            "operation has completed with phase: Failed: one or more objects failed to apply"
                .to_owned()
        )
    );
    let error = guestbook_with(&json!({"status": {"operationState": {
        "phase": "Error", "message": null}}}));
    assert_eq!(
        operation_outcome(&error),
        Err("operation has completed with phase: Error".to_owned())
    );
    assert!(operation_outcome(&Application::default()).is_err());
}

#[test]
fn progress_prints_changes_only() {
    let mut progress = Progress::default();
    let running = guestbook_with(&json!({"status": {"operationState": {
        "phase": "Running", "message": "syncing", "finishedAt": null}}}));
    let first = progress.update(&running, "T1");
    assert_eq!(
        first,
        "T1  Operation Running: syncing\n\
         TIMESTAMP  GROUP  KIND        NAMESPACE  NAME          STATUS     HEALTH   HOOK     \
         MESSAGE\n\
         T1                Service     default    guestbook-ui  Synced     Healthy           \
         service/guestbook-ui created\n\
         T1         apps   Deployment  default    guestbook-ui  Synced     Healthy           \
         deployment.apps/guestbook-ui created\n\
         T1         batch  Job         default    migrate       Succeeded  Synced   PreSync  \
         job completed\n\
         T1                ConfigMap   default    extra         OutOfSync\n"
    );
    // Nothing changed: nothing printed.
    assert_eq!(progress.update(&running, "T2"), "");
    // One resource changed: one row, no header, aligned with the rows before; and the
    // operation finished.
    let done = guestbook_with(&json!({"status": {"resources": [
        {"version": "v1", "kind": "Service", "namespace": "default", "name": "guestbook-ui",
         "status": "Synced", "health": {"status": "Healthy"}},
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "default",
         "name": "guestbook-ui", "status": "Synced", "health": {"status": "Progressing"}},
        {"version": "v1", "kind": "ConfigMap", "namespace": "default", "name": "extra",
         "status": "OutOfSync"},
    ]}}));
    assert_eq!(
        progress.update(&done, "T3"),
        "T3  Operation Succeeded: successfully synced (all tasks run)\n\
         T3         apps   Deployment  default    guestbook-ui  Synced     Progressing           \
         deployment.apps/guestbook-ui created\n"
    );
    // A new request hides the previous operation's final state.
    let requested = guestbook_with(&json!({"operation": {"sync": {}}}));
    let mut fresh = Progress::default();
    assert!(!fresh.update(&requested, "T4").contains("Operation"));
}
