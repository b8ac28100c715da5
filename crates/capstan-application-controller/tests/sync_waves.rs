//! Sync waves and hooks end to end against the real test environment: the order of phases and
//! waves (seen both in the recorded results and in the cluster's own creation order), hook
//! delete policies, a failing `PreSync` hook with its `SyncFail` hook, a controller restart in
//! the middle of a multi-wave sync, selective sync and dry runs.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use capstan_types::Application;
use capstan_types::application::{OperationPhase, OperationState, ResultCode, SyncStatusCode};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::api::{WatchEvent, WatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::{Harness, sync_status};

fn phase(app: &Application) -> Option<OperationPhase> {
    app.status.as_ref()?.operation_state.as_ref()?.phase.clone()
}

/// The operation ended and its request was cleared (the status is written first, then the
/// request is removed).
fn finished(app: &Application) -> bool {
    phase(app)
        .as_ref()
        .is_some_and(OperationPhase::is_completed)
        && app.operation.is_none()
}

fn op_message(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .map(|s| s.message.clone())
        .unwrap_or_default()
}

fn op_state(app: &Application) -> anyhow::Result<OperationState> {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.clone())
        .context("no operation state")
}

fn resource(kind: &str) -> ApiResource {
    let (group, version) = match kind {
        "Deployment" => ("apps", "v1"),
        "Job" => ("batch", "v1"),
        _ => ("", "v1"),
    };
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// The live object `kind`/`name` in `namespace`, if it exists.
async fn get(
    client: &Client,
    namespace: &str,
    kind: &str,
    name: &str,
) -> anyhow::Result<Option<DynamicObject>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource(kind));
    Ok(api.get_opt(name).await?)
}

/// A hook Job whose pod runs `run_for` and exits with `exit_code` (the pod simulator's
/// annotations); `hook` is the Argo CD hook type, `delete_policy` its delete policy if any.
fn hook_job(
    name: &str,
    hook: &str,
    delete_policy: Option<&str>,
    run_for: &str,
    exit_code: u8,
) -> String {
    let policy = delete_policy
        .map(|p| format!("\n    argocd.argoproj.io/hook-delete-policy: {p}"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/hook: {hook}{policy}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        sim.capstan.dev/run-for: "{run_for}"
        sim.capstan.dev/exit-code: "{exit_code}"
    spec:
      restartPolicy: Never
      containers:
      - name: run
        image: busybox:1.36
        command: [sh, -c, "true"]
"#
    )
}

fn config_map(name: &str, wave: i64) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\ndata:\n  wave: \"{wave}\"\n"
    )
}

/// A one-replica Deployment whose pod becomes Ready `ready_after` after it starts.
fn deployment(name: &str, wave: i64, ready_after: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/sync-wave: "{wave}"
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations:
        sim.capstan.dev/ready-after: "{ready_after}"
    spec:
      containers:
      - name: web
        image: nginx:1.25
"#
    )
}

fn service(name: &str, wave: i64) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
  annotations:
    argocd.argoproj.io/sync-wave: "{wave}"
spec:
  selector: {{app: {name}}}
  ports:
  # `protocol` spelled out: server-side apply on the test cluster's API server (v1.20) rejects a
  # port without it ("associative list with keys has an element that omits key field").
  - port: 80
    protocol: TCP
    targetPort: 80
"#
    )
}

/// One watch event seen by a [`Recorder`].
#[derive(Clone, Debug)]
struct Seen {
    event: &'static str,
    kind: String,
    name: String,
    /// The object's resourceVersion in the event: the etcd revision of the change, ordered
    /// across every object of the cluster.
    revision: u64,
    object: Value,
}

/// Watches kinds in a namespace from before the sync starts, so every object's creation and
/// later changes are seen with the etcd revision they happened at: the cluster's own order of
/// events, finer than creationTimestamps (whole seconds).
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    async fn start(client: &Client, namespace: &str, kinds: &[&str]) -> anyhow::Result<Self> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for kind in kinds {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource(kind));
            let mut stream = api
                .watch(&WatchParams::default().timeout(290), "0")
                .await?
                .boxed();
            let seen = seen.clone();
            let kind = (*kind).to_owned();
            tasks.push(tokio::spawn(async move {
                while let Ok(Some(event)) = stream.try_next().await {
                    let (name, obj) = match event {
                        WatchEvent::Added(o) => ("ADDED", o),
                        WatchEvent::Modified(o) => ("MODIFIED", o),
                        WatchEvent::Deleted(o) => ("DELETED", o),
                        _ => continue,
                    };
                    let revision = obj
                        .resource_version()
                        .and_then(|rv| rv.parse().ok())
                        .unwrap_or_default();
                    seen.lock().expect("recorder").push(Seen {
                        event: name,
                        kind: kind.clone(),
                        name: obj.name_any(),
                        revision,
                        object: serde_json::to_value(&obj).unwrap_or_default(),
                    });
                }
            }));
        }
        Ok(Self { seen, tasks })
    }

    fn events(&self, kind: &str, name: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("recorder")
            .iter()
            .filter(|s| s.kind == kind && s.name == name)
            .cloned()
            .collect()
    }

    /// The revision `kind`/`name` was created at (its first ADDED event).
    fn created(&self, kind: &str, name: &str) -> anyhow::Result<u64> {
        self.events(kind, name)
            .iter()
            .find(|s| s.event == "ADDED")
            .map(|s| s.revision)
            .with_context(|| format!("{kind}/{name} was never created"))
    }

    /// How many times `kind`/`name` was created.
    fn creations(&self, kind: &str, name: &str) -> usize {
        self.events(kind, name)
            .iter()
            .filter(|s| s.event == "ADDED")
            .count()
    }

    /// The first revision at which `kind`/`name` satisfied `check`.
    fn first(
        &self,
        kind: &str,
        name: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<u64> {
        self.events(kind, name)
            .iter()
            .find(|s| s.event != "DELETED" && check(&s.object))
            .map(|s| s.revision)
            .with_context(|| format!("{kind}/{name} never {what}"))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A necessary condition of a Job's health being Healthy: a `Complete` condition.
fn job_complete(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Complete" && c["status"] == "True")
    })
}

fn job_failed(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Failed" && c["status"] == "True")
    })
}

/// A necessary condition of a one-replica Deployment being Healthy: an available replica.
fn deployment_available(deployment: &Value) -> bool {
    deployment["status"]["availableReplicas"]
        .as_i64()
        .unwrap_or(0)
        >= 1
}

#[tokio::test]
async fn waves_and_hooks_run_in_order() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.env.kube_client().await?;
    let name = capstan_e2e::unique_name("waves");
    let repo = h.env.create_git_repo(
        &name,
        &[
            (
                "app/presync.yaml",
                &hook_job("presync-migrate", "PreSync", Some("HookSucceeded"), "2s", 0),
            ),
            ("app/settings.yaml", &config_map("w0-settings", 0)),
            ("app/config.yaml", &config_map("w1-config", 1)),
            ("app/web.yaml", &deployment("w2-web", 2, "2s")),
            ("app/svc.yaml", &service("w3-web", 3)),
            (
                "app/postsync.yaml",
                &hook_job(
                    "postsync-notify",
                    "PostSync",
                    Some("HookSucceeded"),
                    "1s",
                    0,
                ),
            ),
        ],
    )?;
    let dest = h.env.unique_namespace("waves").await?;
    let recorder = Recorder::start(
        &client,
        &dest.name,
        &["Job", "ConfigMap", "Deployment", "Service"],
    )
    .await?;
    h.create_directory_app(&name, &repo, "app", &dest.name, json!({}))
        .await?;
    h.wait_for(&name, "OutOfSync before any sync", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;

    h.request_sync(&name, json!({})).await?;
    let app = h.wait_for(&name, "the sync to finish", finished).await?;
    assert_eq!(
        phase(&app),
        Some(OperationPhase::Succeeded),
        "{}",
        op_message(&app)
    );
    let state = op_state(&app)?;
    assert_eq!(state.message, "successfully synced (all tasks run)");
    let results = state.sync_result.context("sync result")?.resources;

    // The recorded results, in the order the tasks ran.
    let order: Vec<(&str, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r.sync_phase
                    .as_ref()
                    .map(|p| p.as_str())
                    .unwrap_or_default(),
                r.kind.as_str(),
                r.name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("PreSync", "Job", "presync-migrate"),
            ("Sync", "ConfigMap", "w0-settings"),
            ("Sync", "ConfigMap", "w1-config"),
            ("Sync", "Deployment", "w2-web"),
            ("Sync", "Service", "w3-web"),
            ("PostSync", "Job", "postsync-notify"),
        ],
        "{results:#?}"
    );
    for r in &results {
        if r.kind == "Job" {
            assert_eq!(r.hook_phase, Some(OperationPhase::Succeeded), "{r:?}");
            assert!(r.hook_type.is_some(), "{r:?}");
            assert_eq!(r.status, None, "hooks have no status: {r:?}");
        } else {
            assert_eq!(r.status, Some(ResultCode::Synced), "{r:?}");
            assert_eq!(r.hook_type, None, "{r:?}");
            // Applied once: a second apply would say "configured" (the object existed).
            assert!(r.message.ends_with(" created"), "{r:?}");
        }
    }

    // The cluster's own order: each step started only after the previous one was done.
    let presync_created = recorder.created("Job", "presync-migrate")?;
    let presync_done = recorder.first("Job", "presync-migrate", "completed", job_complete)?;
    let w0 = recorder.created("ConfigMap", "w0-settings")?;
    let w1 = recorder.created("ConfigMap", "w1-config")?;
    let w2 = recorder.created("Deployment", "w2-web")?;
    let w2_available = recorder.first(
        "Deployment",
        "w2-web",
        "became available",
        deployment_available,
    )?;
    let w3 = recorder.created("Service", "w3-web")?;
    let postsync_created = recorder.created("Job", "postsync-notify")?;
    let revisions = [
        ("PreSync hook created", presync_created),
        ("PreSync hook complete", presync_done),
        ("wave 0 created", w0),
        ("wave 1 created", w1),
        ("wave 2 created", w2),
        ("wave 2 available", w2_available),
        ("wave 3 created", w3),
        ("PostSync hook created", postsync_created),
    ];
    for pair in revisions.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "{} (revision {}) must come before {} (revision {}): {revisions:?}",
            pair[0].0,
            pair[0].1,
            pair[1].0,
            pair[1].1
        );
    }

    // HookSucceeded: both hook Jobs are deleted once the sync succeeded.
    for job in ["presync-migrate", "postsync-notify"] {
        capstan_e2e::eventually(
            Duration::from_secs(30),
            &format!("hook Job {job} deleted"),
            || async {
                Ok(get(&client, &dest.name, "Job", job)
                    .await?
                    .is_none()
                    .then_some(()))
            },
        )
        .await?;
        assert_eq!(recorder.creations("Job", job), 1, "{job} created once");
    }
    // The resources stay; the app ends Synced and its history has the sync.
    for (kind, name) in [
        ("ConfigMap", "w0-settings"),
        ("ConfigMap", "w1-config"),
        ("Deployment", "w2-web"),
        ("Service", "w3-web"),
    ] {
        assert!(
            get(&client, &dest.name, kind, name).await?.is_some(),
            "{kind}/{name}"
        );
    }
    let app = h
        .wait_for(&name, "Synced", |a| {
            sync_status(a) == Some(SyncStatusCode::Synced)
        })
        .await?;
    assert_eq!(app.status.as_ref().context("status")?.history.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_failing_presync_hook_stops_the_sync_and_runs_sync_fail_hooks() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.env.kube_client().await?;
    let name = capstan_e2e::unique_name("presync-fail");
    let repo = h.env.create_git_repo(
        &name,
        &[
            (
                "app/presync.yaml",
                &hook_job("presync-check", "PreSync", None, "1s", 1),
            ),
            (
                "app/syncfail.yaml",
                &hook_job("on-sync-fail", "SyncFail", None, "1s", 0),
            ),
            ("app/cm.yaml", &config_map("app-config", 0)),
            ("app/web.yaml", &deployment("web", 1, "0s")),
        ],
    )?;
    let dest = h.env.unique_namespace("presync-fail").await?;
    h.create_directory_app(&name, &repo, "app", &dest.name, json!({}))
        .await?;
    h.wait_for(&name, "OutOfSync before any sync", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;

    h.request_sync(&name, json!({})).await?;
    let app = h.wait_for(&name, "the sync to fail", finished).await?;
    assert_eq!(
        phase(&app),
        Some(OperationPhase::Failed),
        "{}",
        op_message(&app)
    );
    let message = op_message(&app);
    assert!(
        message.contains("PreSync") && message.contains("Job/presync-check"),
        "the message names the hook: {message}"
    );

    // The PreSync hook ran and failed; nothing of the Sync phase was applied.
    let presync = get(&client, &dest.name, "Job", "presync-check")
        .await?
        .context("the failed PreSync hook is kept (no delete policy)")?;
    assert!(
        job_failed(&serde_json::to_value(&presync)?),
        "{:?}",
        presync.data["status"]
    );
    for (kind, name) in [("ConfigMap", "app-config"), ("Deployment", "web")] {
        assert!(
            get(&client, &dest.name, kind, name).await?.is_none(),
            "{kind}/{name} must not be applied after a failed PreSync hook"
        );
    }
    let results = op_state(&app)?
        .sync_result
        .context("sync result")?
        .resources;
    assert!(
        results
            .iter()
            .all(|r| r.sync_phase.as_ref().map(|p| p.as_str()) != Some("Sync")),
        "no Sync-phase results: {results:#?}"
    );
    let failed = results
        .iter()
        .find(|r| r.name == "presync-check")
        .context("the PreSync hook's result")?;
    assert_eq!(
        failed.hook_phase,
        Some(OperationPhase::Failed),
        "{failed:?}"
    );
    assert!(
        results.iter().any(|r| r.name == "on-sync-fail"
            && r.sync_phase.as_ref().map(|p| p.as_str()) == Some("SyncFail")),
        "the SyncFail hook's result: {results:#?}"
    );
    // The operation failed only once its SyncFail hook had completed (as Argo CD waits).
    let sync_fail = results
        .iter()
        .find(|r| r.name == "on-sync-fail")
        .context("the SyncFail hook's result")?;
    assert_eq!(
        sync_fail.hook_phase,
        Some(OperationPhase::Succeeded),
        "{sync_fail:?}"
    );

    // The SyncFail hook was created, and runs to completion.
    capstan_e2e::eventually(
        Duration::from_secs(30),
        "the SyncFail hook Job complete",
        || async {
            let job = get(&client, &dest.name, "Job", "on-sync-fail").await?;
            Ok(job
                .map(|j| serde_json::to_value(&j).unwrap_or_default())
                .filter(job_complete)
                .map(|_| ()))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_sync_resumes_after_a_controller_restart_without_reapplying() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let client = h.env.kube_client().await?;
    let name = capstan_e2e::unique_name("restart");
    let repo = h.env.create_git_repo(
        &name,
        &[
            // No delete policy: BeforeHookCreation, the default, keeps the Job after the sync,
            // and would delete and re-create it if the hook ran a second time.
            (
                "app/presync.yaml",
                &hook_job("presync-once", "PreSync", None, "1s", 0),
            ),
            ("app/early.yaml", &config_map("early", 0)),
            // Wave 1 holds the sync for a while: its pod becomes Ready only after 8 s.
            ("app/slow.yaml", &deployment("slow", 1, "8s")),
            ("app/late.yaml", &config_map("late", 2)),
        ],
    )?;
    let dest = h.env.unique_namespace("restart").await?;
    let recorder =
        Recorder::start(&client, &dest.name, &["Job", "ConfigMap", "Deployment"]).await?;
    h.create_directory_app(&name, &repo, "app", &dest.name, json!({}))
        .await?;
    h.wait_for(&name, "OutOfSync before any sync", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;

    h.request_sync(&name, json!({})).await?;
    h.wait_for(&name, "the sync waiting on wave 1", |a| {
        phase(a) == Some(OperationPhase::Running) && op_message(a).contains("Deployment/slow")
    })
    .await?;
    h.stop_controller();
    // Let a reconcile that was in flight finish (graceful shutdown waits for it).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let app = h.apps().await?.get(&name).await?;
    assert_eq!(
        phase(&app),
        Some(OperationPhase::Running),
        "{}",
        op_message(&app)
    );
    assert!(app.operation.is_some(), "the request is still there");
    assert!(
        get(&client, &dest.name, "ConfigMap", "late")
            .await?
            .is_none(),
        "wave 2 must wait for wave 1"
    );
    let job_uid = get(&client, &dest.name, "Job", "presync-once")
        .await?
        .context("the PreSync hook Job")?
        .uid()
        .context("uid")?;
    let early_rv = get(&client, &dest.name, "ConfigMap", "early")
        .await?
        .context("wave 0")?
        .resource_version()
        .context("resourceVersion")?;
    let deployment_generation = get(&client, &dest.name, "Deployment", "slow")
        .await?
        .context("wave 1")?
        .metadata
        .generation;

    // With no controller running, nothing moves on, not even once wave 1 is healthy: what
    // finishes the operation below is the new controller, resuming from the recorded state.
    capstan_e2e::eventually(
        Duration::from_secs(30),
        "the wave 1 Deployment available",
        || async {
            let slow = get(&client, &dest.name, "Deployment", "slow").await?;
            Ok(slow
                .map(|d| serde_json::to_value(&d).unwrap_or_default())
                .filter(deployment_available)
                .map(|_| ()))
        },
    )
    .await?;
    h.holds(&name, "the operation paused", Duration::from_secs(4), |a| {
        phase(a) == Some(OperationPhase::Running)
    })
    .await?;
    assert!(
        get(&client, &dest.name, "ConfigMap", "late")
            .await?
            .is_none(),
        "no controller, no wave 2"
    );

    h.start_controller().await?;
    let app = h
        .wait_for(&name, "the resumed sync to finish", finished)
        .await?;
    assert_eq!(
        phase(&app),
        Some(OperationPhase::Succeeded),
        "{}",
        op_message(&app)
    );
    assert!(
        get(&client, &dest.name, "ConfigMap", "late")
            .await?
            .is_some(),
        "wave 2 applied after the restart"
    );

    // Nothing that ran before the restart ran again.
    let job = get(&client, &dest.name, "Job", "presync-once")
        .await?
        .context("the PreSync hook Job is kept")?;
    assert_eq!(
        job.uid(),
        Some(job_uid),
        "the PreSync hook was not re-created"
    );
    assert_eq!(recorder.creations("Job", "presync-once"), 1);
    let early = get(&client, &dest.name, "ConfigMap", "early")
        .await?
        .context("wave 0")?;
    assert_eq!(
        early.resource_version(),
        Some(early_rv),
        "wave 0 was not applied again"
    );
    let slow = get(&client, &dest.name, "Deployment", "slow")
        .await?
        .context("wave 1")?;
    assert_eq!(slow.metadata.generation, deployment_generation);
    // Wave 2 only after wave 1 was available (the restart did not skip the wait).
    let available = recorder.first(
        "Deployment",
        "slow",
        "became available",
        deployment_available,
    )?;
    assert!(recorder.created("ConfigMap", "late")? > available);

    let results = op_state(&app)?
        .sync_result
        .context("sync result")?
        .resources;
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["presync-once", "early", "slow", "late"],
        "{results:#?}"
    );
    // A server-side apply of unchanged content changes nothing in the cluster, so the results
    // say it: an object applied again after the restart would read "configured" (it existed).
    for r in results.iter().filter(|r| r.hook_type.is_none()) {
        assert!(r.message.ends_with(" created"), "applied once: {r:?}");
    }
    assert_eq!(app.status.as_ref().context("status")?.history.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_selective_sync_applies_only_the_named_resource_and_runs_no_hooks() -> anyhow::Result<()>
{
    let h = Harness::start().await?;
    let client = h.env.kube_client().await?;
    let name = capstan_e2e::unique_name("selective");
    let repo = h.env.create_git_repo(
        &name,
        &[
            (
                "app/presync.yaml",
                &hook_job("presync-skipped", "PreSync", None, "1s", 0),
            ),
            (
                "app/postsync.yaml",
                &hook_job("postsync-skipped", "PostSync", None, "1s", 0),
            ),
            ("app/chosen.yaml", &config_map("chosen", 0)),
            ("app/other.yaml", &config_map("other", 1)),
            ("app/web.yaml", &deployment("web", 0, "0s")),
        ],
    )?;
    let dest = h.env.unique_namespace("selective").await?;
    h.create_directory_app(&name, &repo, "app", &dest.name, json!({}))
        .await?;
    h.wait_for(&name, "OutOfSync before any sync", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;

    h.request_sync(&name,
        json!({"resources": [{"group": "", "kind": "ConfigMap", "name": "chosen", "namespace": dest.name}]}),
    )
    .await?;
    let app = h.wait_for(&name, "the sync to finish", finished).await?;
    assert_eq!(
        phase(&app),
        Some(OperationPhase::Succeeded),
        "{}",
        op_message(&app)
    );
    let results = op_state(&app)?
        .sync_result
        .context("sync result")?
        .resources;
    let names: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r.kind.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(names, [("ConfigMap", "chosen")], "{results:#?}");
    assert_eq!(results[0].status, Some(ResultCode::Synced));

    assert!(
        get(&client, &dest.name, "ConfigMap", "chosen")
            .await?
            .is_some()
    );
    for (kind, name) in [
        ("ConfigMap", "other"),
        ("Deployment", "web"),
        ("Job", "presync-skipped"),
        ("Job", "postsync-skipped"),
    ] {
        assert!(
            get(&client, &dest.name, kind, name).await?.is_none(),
            "{kind}/{name} must not be applied by a selective sync of ConfigMap/chosen"
        );
    }
    // The rest is still missing, so the app stays OutOfSync.
    let app = h
        .wait_for(&name, "compared after the sync", |a| {
            a.status.as_ref().is_some_and(|s| {
                s.resources
                    .iter()
                    .any(|r| r.name == "chosen" && r.status == Some(SyncStatusCode::Synced))
            })
        })
        .await?;
    assert_eq!(sync_status(&app), Some(SyncStatusCode::OutOfSync));
    Ok(())
}

#[tokio::test]
async fn a_dry_run_applies_nothing_and_writes_no_history() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.env.kube_client().await?;
    let name = capstan_e2e::unique_name("dry-run");
    let repo = h.env.create_git_repo(
        &name,
        &[
            (
                "app/presync.yaml",
                &hook_job("presync-dry", "PreSync", None, "1s", 0),
            ),
            ("app/cm.yaml", &config_map("first", 0)),
            ("app/web.yaml", &deployment("web", 1, "0s")),
            ("app/svc.yaml", &service("web", 2)),
        ],
    )?;
    let dest = h.env.unique_namespace("dry-run").await?;
    h.create_directory_app(&name, &repo, "app", &dest.name, json!({}))
        .await?;
    h.wait_for(&name, "OutOfSync before any sync", |a| {
        sync_status(a) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;

    h.request_sync(&name, json!({"dryRun": true})).await?;
    let app = h.wait_for(&name, "the dry run to finish", finished).await?;
    assert_eq!(
        phase(&app),
        Some(OperationPhase::Succeeded),
        "{}",
        op_message(&app)
    );
    assert!(
        op_message(&app).contains("(dry run)"),
        "{}",
        op_message(&app)
    );
    let results = op_state(&app)?
        .sync_result
        .context("sync result")?
        .resources;
    assert_eq!(results.len(), 4, "{results:#?}");
    for (kind, name) in [
        ("Job", "presync-dry"),
        ("ConfigMap", "first"),
        ("Deployment", "web"),
        ("Service", "web"),
    ] {
        assert!(
            get(&client, &dest.name, kind, name).await?.is_none(),
            "{kind}/{name} must not exist after a dry run"
        );
    }
    let status = app.status.as_ref().context("status")?;
    assert!(status.history.is_empty(), "{:?}", status.history);
    assert_eq!(sync_status(&app), Some(SyncStatusCode::OutOfSync));
    Ok(())
}
