//! `sync-bench`: the application controller's sync path against the test environment
//! (`e2e/testenv-up.sh`), end to end — Git, repo-server, controller, kube-apiserver,
//! kube-controller-manager and the pod simulator.
//!
//! The repo-server runs in this process (with the environment's Redis, default settings); the
//! controller runs as its own process — the release binary — in a fresh control-plane namespace
//! (repo-creds Secret, `argocd-cm` with `timeout.reconciliation: "0"`, so only watches and the
//! refresh annotation drive it, and its own `installationID`). Applications are watched; every
//! status change is stamped when this process receives it. Figures (markdown tables on stdout,
//! progress on stderr):
//!
//! 1. **commit → Synced and Healthy**: one Application (automated sync with prune and selfHeal)
//!    over a directory of 10 objects — 8 ConfigMaps, a Service and a Deployment
//!    (`--replicas` pods, made Running and Ready by `capstan-podsim`). `--commits` times: a
//!    commit bumps a ConfigMap value, the Deployment's image tag and a pod-template annotation,
//!    is pushed, and the `argocd.argoproj.io/refresh: normal` annotation is set on the app (what
//!    a Git webhook does). Measured from setting the annotation until the app shows sync
//!    `Synced` at the new commit and health `Healthy` (the new pods rolled out), with the marks
//!    in between: the comparison of the new commit written (refresh latency: ls-remote, fetch,
//!    render, diff), the automated sync's `operationState` `Succeeded` at that commit (it does
//!    not wait for health), and the Deployment rolled out as this process's own watch of it saw
//!    it (kube-controller-manager and podsim: the cluster's share) — so "rolled out → Healthy
//!    shown" is the controller's health latency. p50/p90 are nearest-rank. Each commit is
//!    checked: the cluster runs the new image and ConfigMap value, and the Deployment has rolled
//!    out (a Healthy shown too early is counted). Then the controller's work per commit from
//!    its metrics and `/proc`: reconciles, status writes, Kubernetes requests, CPU seconds. The
//!    commit itself (clone, commit, push on the local disk) is timed apart.
//! 2. **sync of `--manifests` objects vs `kubectl apply --server-side`** (default 500 small
//!    objects: 80% ConfigMaps, 10% Secrets, 10% Services, one file each), `--repetitions` times
//!    in fresh namespaces: first `$KUBECTL apply --server-side --field-manager=bench -n A -f
//!    <dir>` of the files (wall time of the process, after a discovery warm-up), then a manual
//!    sync — `operation` written with a merge patch, as the api-server does — of a (compared,
//!    OutOfSync) Application deploying the same files into namespace B, until its
//!    `operationState.phase` is `Succeeded`. Both results are checked (object counts, every
//!    sync result `Synced`); medians and the ratio Capstan / kubectl are reported. The
//!    namespaces are deleted — and waited for — between repetitions, so their garbage
//!    collection does not overlap the next measurement.
//!
//! How to read it: part 1 is the latency a user sees after a push with a webhook. Its Capstan
//! share is annotation → sync `Succeeded` (refresh, then the sync) plus rolled out → Healthy
//! shown; sync `Succeeded` → rolled out is the cluster's rollout (which starts with the apply,
//! before `Succeeded` is written). Part 2 compares the controller's applier with kubectl's on
//! the same API server: a ratio near 1 means a sync costs about what applying costs. The
//! machine's noise hits both sides of part 2 alike; part 1 has no baseline, so compare its
//! figures across runs on the same machine only, p50 first.
//!
//! Run: `cargo build --release -p capstan-application-controller -p capstan-bench && target/release/sync-bench`
//! (`--commits`, `--manifests`, `--repetitions`, `--only`, ...: see `--help`; `CAPSTAN_LOG_LEVEL`
//! is passed to the controller, default `warn`). The controller's log goes to
//! `$TMPDIR/sync-bench-<run>.log`, kept when the run fails or with `--keep`. The defaults take
//! about 80 s on 2 cores (plus the build).

use capstan_bench::{Controller, RepoServer, clock_ticks, metric};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capstan_e2e::{NAMESPACE_LABEL, TestEnv, TestNamespace, install_crds};
use capstan_types::Application;
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Debug, Parser)]
struct Args {
    /// Commits measured in part 1 (commit → Synced and Healthy).
    #[arg(long, default_value_t = 20)]
    commits: usize,
    /// Replicas of part 1's Deployment.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Pause after each commit converged (operation cleared), before the next commit, in ms.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Objects synced in part 2 (80% ConfigMaps, 10% Secrets, 10% Services).
    #[arg(long, default_value_t = 500)]
    manifests: usize,
    /// Repetitions of part 2 (kubectl, then Capstan, each in fresh namespaces).
    #[arg(long, default_value_t = 3)]
    repetitions: usize,
    /// Run only one part.
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// The controller binary (default: `target/release/capstan-application-controller`).
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// Limit for each waiting phase, in seconds.
    #[arg(long, default_value_t = 120)]
    phase_timeout: u64,
    /// Keep the namespaces (and the controller's log) after the run (part 2's are deleted after
    /// each repetition all the same).
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Part 1: commit → Synced and Healthy.
    Commit,
    /// Part 2: sync of many manifests vs kubectl apply --server-side.
    Bulk,
}

const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
const RUN_LABEL: &str = "bench.capstan.dev/run";
/// The objects of part 1's app: 8 ConfigMaps, a Service, a Deployment.
const APP_CONFIGMAPS: usize = 8;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Nearest-rank percentile `p` (0..=100) of `values` (need not be sorted; not empty).
fn percentile(values: &[Duration], p: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// The file name of an object: `<kind>-<name>.yaml`.
fn file_name(object: &Value) -> String {
    format!(
        "{}-{}.yaml",
        object["kind"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Part 1's app at version `version`: 8 ConfigMaps, a Service and a Deployment. A version bumps
/// `web-config-0`'s `VERSION`, the image tag and a pod-template annotation.
fn app_manifests(version: usize, replicas: u32, run: &str) -> Vec<Value> {
    let labels = json!({ RUN_LABEL: run, "app.kubernetes.io/name": "web" });
    let mut out: Vec<Value> = (0..APP_CONFIGMAPS)
        .map(|i| {
            let mut data = json!({
                "LOG_LEVEL": "info",
                "application.properties": format!("server.port=8080\nfeature.{i}.enabled=true\ncache.ttl=300\n"),
            });
            if i == 0 {
                data["VERSION"] = json!(version.to_string());
            }
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": format!("web-config-{i}"), "labels": labels},
                "data": data,
            })
        })
        .collect();
    out.push(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }));
    out.push(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "template": {
                "metadata": {
                    "labels": {"app.kubernetes.io/name": "web"},
                    "annotations": {"bench.capstan.dev/version": version.to_string()},
                },
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": image(version),
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "envFrom": [{"configMapRef": {"name": "web-config-0"}}],
                    }],
                },
            },
        },
    }));
    out
}

fn image(version: usize) -> String {
    format!("registry.example.com/web:1.{version}.0")
}

/// Part 2's objects: `n` small ones, 80% ConfigMaps, 10% Secrets, 10% Services.
fn bulk_manifests(n: usize, run: &str) -> Vec<Value> {
    let labels = json!({ RUN_LABEL: run });
    (0..n)
        .map(|i| match i % 10 {
            8 => json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": format!("secret-{i:04}"), "labels": labels},
                "type": "Opaque",
                "stringData": {"password": format!("not-a-secret-{i}")},
            }),
            9 => json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": format!("svc-{i:04}"), "labels": labels},
                "spec": {
                    "selector": {"app.kubernetes.io/name": format!("svc-{i:04}")},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                },
            }),
            _ => json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": format!("config-{i:04}"), "labels": labels},
                "data": {
                    "LOG_LEVEL": "info",
                    "application.properties": format!("server.port=8080\nfeature.{i}.enabled=true\n"),
                },
            }),
        })
        .collect()
}

fn to_files(dir: &str, objects: &[Value]) -> anyhow::Result<Vec<(String, String)>> {
    objects
        .iter()
        .map(|o| {
            Ok((
                format!("{dir}/{}", file_name(o)),
                serde_json::to_string_pretty(o)?,
            ))
        })
        .collect()
}

/// One Application event as this process received it.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    sync: String,
    revision: String,
    health: String,
    op_phase: String,
    op_revision: String,
    op_message: String,
    /// `operation` (the request) is set.
    operation: bool,
    refresh_pending: bool,
}

impl Seen {
    fn of(app: &Application) -> Self {
        let status = app.status.as_ref();
        let op = status.and_then(|s| s.operation_state.as_ref());
        Self {
            at: Instant::now(),
            sync: status
                .and_then(|s| s.sync.status.as_ref())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            revision: status.map(|s| s.sync.revision.clone()).unwrap_or_default(),
            health: status
                .and_then(|s| s.health.status.as_ref())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            op_phase: op
                .and_then(|o| o.phase.as_ref())
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            op_revision: op
                .and_then(|o| o.sync_result.as_ref())
                .map(|r| r.revision.clone())
                .unwrap_or_default(),
            op_message: op.map(|o| o.message.clone()).unwrap_or_default(),
            operation: app.operation.is_some(),
            refresh_pending: app.annotations().contains_key(REFRESH_ANNOTATION),
        }
    }

    fn describe(&self) -> String {
        format!(
            "sync {:?} at {:?}, health {:?}, operation {} (state {:?} at {:?}: {:?}), refresh annotation {}",
            self.sync,
            self.revision,
            self.health,
            if self.operation { "requested" } else { "none" },
            self.op_phase,
            self.op_revision,
            self.op_message,
            if self.refresh_pending {
                "set"
            } else {
                "absent"
            },
        )
    }
}

/// Every Application event of the control-plane namespace, stamped on arrival; `changed` ticks
/// on every event.
#[derive(Clone)]
struct Apps {
    seen: Arc<Mutex<HashMap<String, Vec<Seen>>>>,
    changed: watch::Receiver<u64>,
}

impl Apps {
    fn start(api: Api<Application>) -> Self {
        let seen: Arc<Mutex<HashMap<String, Vec<Seen>>>> = Arc::default();
        let (tx, changed) = watch::channel(0u64);
        let state = seen.clone();
        tokio::spawn(async move {
            let stream = watcher(api, watcher::Config::default()).default_backoff();
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                let app = match event {
                    Ok(watcher::Event::Apply(app) | watcher::Event::InitApply(app)) => app,
                    Ok(_) => continue,
                    Err(e) => {
                        eprintln!("warning: watching Applications: {e}");
                        continue;
                    }
                };
                let seen = Seen::of(&app);
                state
                    .lock()
                    .expect("apps lock")
                    .entry(app.name_any())
                    .or_default()
                    .push(seen);
                tx.send_modify(|n| *n += 1);
            }
        });
        Self { seen, changed }
    }

    fn latest(&self, name: &str) -> Option<Seen> {
        self.seen
            .lock()
            .expect("apps lock")
            .get(name)
            .and_then(|v| v.last().cloned())
    }

    /// Waits until an event of app `name` received at or after `since` satisfies `done`;
    /// returns when that event arrived. Fails after `timeout` (from now), or at once when
    /// `failed` holds for such an event, with the app's last state.
    async fn first(
        &self,
        name: &str,
        since: Instant,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Seen) -> bool,
        failed: impl Fn(&Seen) -> bool,
    ) -> anyhow::Result<Instant> {
        let mut changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = {
                let seen = self.seen.lock().expect("apps lock");
                let events = seen.get(name).map(Vec::as_slice).unwrap_or_default();
                let mut found = None;
                for event in events.iter().filter(|e| e.at >= since) {
                    if done(event) {
                        found = Some(Ok(event.at));
                        break;
                    }
                    if failed(event) {
                        found = Some(Err(event.describe()));
                        break;
                    }
                }
                found
            };
            match found {
                Some(Ok(at)) => return Ok(at),
                Some(Err(state)) => bail!("{name}: failed waiting for {what}: {state}"),
                None => {}
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("the Application watch ended"),
                Err(_) => bail!(
                    "{name}: timed out after {timeout:?} waiting for {what}; last state: {}",
                    self.latest(name)
                        .map(|s| s.describe())
                        .unwrap_or_else(|| "never seen".into())
                ),
            }
        }
    }

    /// Waits until the latest event of app `name` satisfies `done`.
    async fn now(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Seen) -> bool,
    ) -> anyhow::Result<()> {
        let mut changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.latest(name).is_some_and(|s| done(&s)) {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("the Application watch ended"),
                Err(_) => bail!(
                    "{name}: timed out after {timeout:?} waiting for {what}; last state: {}",
                    self.latest(name)
                        .map(|s| s.describe())
                        .unwrap_or_else(|| "never seen".into())
                ),
            }
        }
    }
}

/// The rollouts of one Deployment, as this process's watch received them: (arrival, image of
/// the pod template, rolled out — every replica updated and available, none old).
#[derive(Clone)]
struct Rollouts {
    seen: Arc<Mutex<Vec<(Instant, String, bool)>>>,
    changed: watch::Receiver<u64>,
}

impl Rollouts {
    fn start(api: Api<Deployment>, name: &str) -> Self {
        let seen: Arc<Mutex<Vec<(Instant, String, bool)>>> = Arc::default();
        let (tx, changed) = watch::channel(0u64);
        let state = seen.clone();
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        tokio::spawn(async move {
            let stream = watcher(api, config).default_backoff();
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                let deployment = match event {
                    Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => d,
                    Ok(_) => continue,
                    Err(e) => {
                        eprintln!("warning: watching the Deployment: {e}");
                        continue;
                    }
                };
                let image = deployment
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref())
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let done = rolled_out(&deployment);
                state
                    .lock()
                    .expect("rollouts lock")
                    .push((Instant::now(), image, done));
                tx.send_modify(|n| *n += 1);
            }
        });
        Self { seen, changed }
    }

    /// When the rollout of `image` was first seen complete at or after `since`.
    async fn done(
        &self,
        since: Instant,
        image: &str,
        timeout: Duration,
    ) -> anyhow::Result<Instant> {
        let mut changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self
                .seen
                .lock()
                .expect("rollouts lock")
                .iter()
                .find(|(at, i, done)| *at >= since && i == image && *done)
                .map(|(at, _, _)| *at);
            if let Some(at) = found {
                return Ok(at);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("the Deployment watch ended"),
                Err(_) => bail!("timed out after {timeout:?} waiting for the rollout of {image}"),
            }
        }
    }
}

/// Every replica of the Deployment's current generation updated and available, none old.
fn rolled_out(deployment: &Deployment) -> bool {
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    deployment.status.as_ref().is_some_and(|s| {
        s.observed_generation >= deployment.metadata.generation
            && s.updated_replicas == Some(wanted)
            && s.available_replicas == Some(wanted)
            && s.replicas == Some(wanted)
    })
}

/// The controller's work so far: reconciles, status writes, Kubernetes requests made while
/// reconciling (metrics) and CPU seconds (`/proc`).
#[derive(Clone, Copy, Debug)]
struct Work {
    reconciles: f64,
    status_writes: f64,
    k8s_requests: f64,
    cpu: f64,
}

impl Work {
    async fn of(controller: &Controller, ticks: f64) -> anyhow::Result<Self> {
        let text = controller.scrape().await?;
        Ok(Self {
            reconciles: metric(&text, "argocd_app_reconcile_count"),
            status_writes: metric(&text, "capstan_app_status_writes_total"),
            k8s_requests: metric(&text, "argocd_app_k8s_request_total"),
            cpu: controller.cpu_seconds(ticks)?,
        })
    }
}

/// Everything made for the run, for the clean-up.
struct Run {
    id: String,
    control: TestNamespace,
    /// Destination namespaces made so far (deleted at the end, whatever happened).
    namespaces: Mutex<Vec<String>>,
    /// Git repositories made so far.
    repos: Mutex<Vec<String>>,
    log: PathBuf,
}

impl Run {
    /// Creates namespace `name` (labelled as the environment's and this run's) and waits for
    /// its `default` ServiceAccount, which pods need.
    async fn namespace(&self, client: &Client, name: &str) -> anyhow::Result<()> {
        let ns = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {NAMESPACE_LABEL: "true", RUN_LABEL: self.id}}
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        self.namespaces
            .lock()
            .expect("run lock")
            .push(name.to_owned());
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while accounts.get_opt("default").await?.is_none() {
            if Instant::now() > deadline {
                bail!(
                    "namespace {name}: no default ServiceAccount after 30 s (is kube-controller-manager running?)"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    fn repo(
        &self,
        env: &TestEnv,
        name: &str,
        files: &[(String, String)],
    ) -> anyhow::Result<String> {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let url = env.create_git_repo(name, &refs)?;
        self.repos.lock().expect("run lock").push(name.to_owned());
        Ok(url)
    }
}

/// Deletes the namespaces (background) and, with `wait`, waits until they are gone.
async fn delete_namespaces(
    client: &Client,
    names: &[String],
    wait: Option<Duration>,
) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in names {
        match namespaces.delete(name, &DeleteParams::background()).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Some(limit) = wait else { return Ok(()) };
    let deadline = Instant::now() + limit;
    for name in names {
        while namespaces.get_opt(name).await?.is_some() {
            if Instant::now() > deadline {
                bail!("namespace {name} still exists {limit:?} after its deletion");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.commits > 0 && args.manifests > 0 && args.repetitions > 0,
        "--commits, --manifests and --repetitions must be at least 1"
    );
    let env = TestEnv::from_env()?;
    let client = env.kube_client().await?;
    install_crds(&client).await?;
    let control = env.unique_namespace("sync-bench").await?;
    let id = control.name.clone();
    let run = Run {
        log: std::env::temp_dir().join(format!("sync-bench-{id}.log")),
        namespaces: Mutex::default(),
        repos: Mutex::default(),
        id,
        control,
    };
    let result = measure(&args, &env, &client, &run).await;
    let namespaces = run.namespaces.lock().expect("run lock").clone();
    if args.keep {
        eprintln!(
            "keeping namespaces {} {}; controller log: {}",
            run.control.name,
            namespaces.join(" "),
            run.log.display()
        );
        // The guard would delete the control namespace on drop.
        std::mem::forget(run.control);
        return result;
    }
    eprintln!("cleaning up ({} namespaces)", namespaces.len() + 1);
    if let Err(e) = delete_namespaces(&client, &namespaces, None).await {
        eprintln!("warning: deleting the destination namespaces: {e:#}");
    }
    for repo in run.repos.lock().expect("run lock").iter() {
        let _ = std::fs::remove_dir_all(env.git_repos_dir().join(format!("{repo}.git")));
    }
    if result.is_ok() {
        let _ = std::fs::remove_file(&run.log);
    } else {
        eprintln!("controller log: {}", run.log.display());
    }
    drop(run.control);
    result.context("sync-bench failed")
}

/// Part 1's figures.
struct CommitFigures {
    initial: Duration,
    commit: Vec<Duration>,
    compared: Vec<Duration>,
    synced: Vec<Duration>,
    healthy: Vec<Duration>,
    rollout: Vec<Duration>,
    health_lag: Vec<Duration>,
    /// Commits at which the app was Healthy before the Deployment had rolled out.
    unfinished_rollouts: usize,
    work: (Work, Work),
}

/// Part 2's figures, per repetition.
struct BulkFigures {
    kubectl: Vec<Duration>,
    compared: Vec<Duration>,
    started: Vec<Duration>,
    capstan: Vec<Duration>,
}

async fn measure(args: &Args, env: &TestEnv, client: &Client, run: &Run) -> anyhow::Result<()> {
    let bin = args
        .controller_bin
        .clone()
        .unwrap_or_else(|| workspace().join("target/release/capstan-application-controller"));
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: cargo build --release -p capstan-application-controller",
        bin.display()
    );
    let control = run.control.name.as_str();

    // Control plane: repo credentials and argocd-cm (no periodic reconciles: only the refresh
    // annotation and watches drive the controller; an installation id of its own, so objects of
    // earlier runs are never taken for this run's).
    env.create_git_creds_secret(control).await?;
    Api::<ConfigMap>::namespaced(client.clone(), control)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "argocd-cm"},
                "data": {"timeout.reconciliation": "0", "installationID": control}
            }))?,
        )
        .await?;

    // The repo-server, in this process, with its default settings.
    let repo_server = RepoServer::start(env, client.clone(), control).await?;

    let apps_api: Api<Application> = Api::namespaced(client.clone(), control);
    let apps = Apps::start(apps_api.clone());
    let mut controller = Controller::spawn(&bin, env, control, &repo_server.url, &run.log)?;
    controller.wait_ready(Duration::from_secs(30)).await?;

    let commit = if args.only.is_none_or(|p| p == Part::Commit) {
        let figures = commit_to_healthy(args, env, client, run, &apps, &controller).await;
        controller.check_running()?;
        Some(figures?)
    } else {
        None
    };
    let bulk = if args.only.is_none_or(|p| p == Part::Bulk) {
        let figures = bulk_sync(args, env, client, run, &apps).await;
        controller.check_running()?;
        Some(figures?)
    } else {
        None
    };
    controller.stop();

    // Report.
    println!(
        "sync benchmark: {} cores, kube-apiserver of the test environment, timeout.reconciliation \"0\"",
        std::thread::available_parallelism()?.get()
    );
    if let Some(f) = commit {
        let n = f.healthy.len();
        println!();
        println!(
            "| 1. commit → Synced and Healthy: {n} commits, 10 objects ({APP_CONFIGMAPS} ConfigMaps, a Service, a Deployment of {} pods), automated sync (prune, selfHeal), refresh annotation set after each push | p50 | p90 | min | max |",
            args.replicas
        );
        println!("|---|---|---|---|---|");
        let row = |what: &str, values: &[Duration]| {
            println!(
                "| {what} | {} | {} | {} | {} |",
                ms(percentile(values, 50)),
                ms(percentile(values, 90)),
                ms(percentile(values, 0)),
                ms(percentile(values, 100)),
            );
        };
        row(
            "commit + push (local disk; not in the figures below)",
            &f.commit,
        );
        row(
            "annotation set → new commit compared (OutOfSync at the new SHA written)",
            &f.compared,
        );
        row(
            "annotation set → automated sync `Succeeded` at the new SHA",
            &f.synced,
        );
        row(
            "annotation set → the Deployment rolled out (this process's watch of it)",
            &f.rollout,
        );
        row(
            "**annotation set → Synced at the new SHA and Healthy**",
            &f.healthy,
        );
        row(
            "rolled out → Healthy shown (the controller's health latency)",
            &f.health_lag,
        );
        println!(
            "| initial sync of the new app (cold: clone, render, first watches) → Synced and Healthy | {} | | | |",
            ms(f.initial)
        );
        println!(
            "| commits at which the app showed Healthy before the Deployment had rolled out (checked right after) | {} of {n} | | | |",
            f.unfinished_rollouts
        );
        let (before, after) = f.work;
        let per = |a: f64, b: f64| (b - a) / n as f64;
        println!();
        println!("| controller work per commit (including trailing reconciles) | value |");
        println!("|---|---|");
        println!(
            "| reconciles / status writes / Kubernetes requests | {:.1} / {:.1} / {:.1} |",
            per(before.reconciles, after.reconciles),
            per(before.status_writes, after.status_writes),
            per(before.k8s_requests, after.k8s_requests),
        );
        println!(
            "| controller CPU | {:.1} ms |",
            per(before.cpu, after.cpu) * 1000.0
        );
    }
    if let Some(f) = bulk {
        let median = |values: &[Duration]| percentile(values, 50);
        let (kubectl, capstan) = (median(&f.kubectl), median(&f.capstan));
        println!();
        println!(
            "| 2. {} objects (80% ConfigMaps, 10% Secrets, 10% Services), fresh namespaces, {} repetitions | median | runs |",
            args.manifests, args.repetitions
        );
        println!("|---|---|---|");
        let list = |values: &[Duration]| {
            values
                .iter()
                .map(|d| secs(*d))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| `kubectl apply --server-side --field-manager=bench -f <dir>` (process wall time) | {} | {} |",
            secs(kubectl),
            list(&f.kubectl)
        );
        println!(
            "| Capstan: app created → compared (OutOfSync; not in the sync time) | {} | {} |",
            secs(median(&f.compared)),
            list(&f.compared)
        );
        println!(
            "| Capstan: `operation` written → first operationState written (Running, before anything is applied) | {} | {} |",
            secs(median(&f.started)),
            list(&f.started)
        );
        println!(
            "| **Capstan: `operation` written → operationState Succeeded** | {} | {} |",
            secs(capstan),
            list(&f.capstan)
        );
        println!(
            "| **ratio Capstan / kubectl (medians)** | {:.2} | {} |",
            capstan.as_secs_f64() / kubectl.as_secs_f64(),
            f.capstan
                .iter()
                .zip(&f.kubectl)
                .map(|(c, k)| format!("{:.2}", c.as_secs_f64() / k.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Part 1: commit → Synced and Healthy.
async fn commit_to_healthy(
    args: &Args,
    env: &TestEnv,
    client: &Client,
    run: &Run,
    apps: &Apps,
    controller: &Controller,
) -> anyhow::Result<CommitFigures> {
    let phase = Duration::from_secs(args.phase_timeout);
    let ticks = clock_ticks();
    let control = run.control.name.as_str();
    let name = "web";
    let repo_name = format!("{}-web", run.id);
    let destination = format!("{}-web", run.id);
    run.namespace(client, &destination).await?;
    let files = to_files("app", &app_manifests(0, args.replicas, &run.id))?;
    let repo = run.repo(env, &repo_name, &files)?;
    let apps_api: Api<Application> = Api::namespaced(client.clone(), control);
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": control},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "path": "app", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
        }
    }))?;
    eprintln!("part 1: initial sync of {name} into {destination}");
    let started = Instant::now();
    apps_api.create(&PostParams::default(), &app).await?;
    let converged = |s: &Seen| {
        s.sync == "Synced" && !s.revision.is_empty() && s.health == "Healthy" && !s.operation
    };
    let failed = |s: &Seen| matches!(s.op_phase.as_str(), "Failed" | "Error");
    let initial = apps
        .first(
            name,
            started,
            phase,
            "the initial sync: Synced and Healthy",
            converged,
            failed,
        )
        .await?
        - started;
    apps.now(name, phase, "the operation cleared", |s| !s.operation)
        .await?;
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &destination);
    let rollouts = Rollouts::start(deployments.clone(), "web");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &destination);
    let mut figures = CommitFigures {
        initial,
        commit: Vec::new(),
        compared: Vec::new(),
        synced: Vec::new(),
        healthy: Vec::new(),
        rollout: Vec::new(),
        health_lag: Vec::new(),
        unfinished_rollouts: 0,
        work: (
            Work::of(controller, ticks).await?,
            Work::of(controller, ticks).await?,
        ),
    };
    for version in 1..=args.commits {
        // Commit and push (off the runtime: git runs as a child process).
        let files = to_files("app", &app_manifests(version, args.replicas, &run.id))?;
        let committed = Instant::now();
        let sha = {
            let (env, repo_name) = (env.clone(), repo_name.clone());
            tokio::task::spawn_blocking(move || {
                let refs: Vec<(&str, &str)> = files
                    .iter()
                    .map(|(p, c)| (p.as_str(), c.as_str()))
                    .collect();
                env.commit_files(&repo_name, &refs, &format!("web {version}"))
            })
            .await??
        };
        figures.commit.push(committed.elapsed());

        // The webhook's refresh; then the marks, each the first event showing it.
        let started = Instant::now();
        let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "normal"}}});
        apps_api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context("setting the refresh annotation")?;
        let deadline_left = |since: Instant| phase.saturating_sub(since.elapsed());
        let failed_here = |s: &Seen| failed(s) && s.op_revision == sha;
        let compared = apps
            .first(
                name,
                started,
                phase,
                &format!("commit {sha} compared"),
                |s| s.revision == sha,
                failed_here,
            )
            .await?;
        let synced = apps
            .first(
                name,
                started,
                deadline_left(started),
                &format!("the automated sync of {sha} to succeed"),
                |s| s.op_phase == "Succeeded" && s.op_revision == sha,
                failed_here,
            )
            .await?;
        let healthy = apps
            .first(
                name,
                started,
                deadline_left(started),
                &format!("Synced at {sha} and Healthy"),
                |s| s.sync == "Synced" && s.revision == sha && s.health == "Healthy",
                failed_here,
            )
            .await?;
        figures.compared.push(compared - started);
        figures.synced.push(synced - started);
        figures.healthy.push(healthy - started);
        let rollout = rollouts
            .done(started, &image(version), deadline_left(started))
            .await?;
        figures.rollout.push(rollout - started);
        figures
            .health_lag
            .push(healthy.saturating_duration_since(rollout));
        eprintln!(
            "commit {version}/{}: {} → compared {}, sync succeeded {}, rolled out {}, Synced and Healthy {}",
            args.commits,
            &sha[..8.min(sha.len())],
            ms(compared - started),
            ms(synced - started),
            ms(rollout - started),
            ms(healthy - started)
        );

        // What the app shows is what the cluster runs, rolled out.
        let live = deployments.get("web").await?;
        if !rolled_out(&live) {
            figures.unfinished_rollouts += 1;
            eprintln!(
                "warning: Healthy at {sha}, but Deployment web has not rolled out: generation {:?}, status {}",
                live.metadata.generation,
                serde_json::to_string(&live.status)?
            );
        }
        let live_image = live
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        anyhow::ensure!(
            live_image == image(version),
            "the app is Synced and Healthy at {sha}, but Deployment web runs {live_image:?}, not {:?}",
            image(version)
        );
        let live_version = configmaps
            .get("web-config-0")
            .await?
            .data
            .and_then(|d| d.get("VERSION").cloned())
            .unwrap_or_default();
        anyhow::ensure!(
            live_version == version.to_string(),
            "the app is Synced and Healthy at {sha}, but ConfigMap web-config-0 has VERSION {live_version:?}, not {version:?}"
        );

        // Let the operation clear and the refresh annotation go before the next commit.
        apps.now(
            name,
            phase,
            "the operation and refresh annotation cleared",
            |s| !s.operation && !s.refresh_pending,
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    }
    figures.work.1 = Work::of(controller, ticks).await?;
    Ok(figures)
}

/// Part 2: sync of many manifests vs `kubectl apply --server-side`.
async fn bulk_sync(
    args: &Args,
    env: &TestEnv,
    client: &Client,
    run: &Run,
    apps: &Apps,
) -> anyhow::Result<BulkFigures> {
    let phase = Duration::from_secs(args.phase_timeout);
    let n = args.manifests;
    let control = run.control.name.as_str();
    let objects = bulk_manifests(n, &run.id);
    let files = to_files("many", &objects)?;
    let repo = run.repo(env, &format!("{}-many", run.id), &files)?;
    // The same files on disk, for kubectl.
    let local = tempfile::tempdir()?;
    for (path, contents) in &files {
        let file = local.path().join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&file, contents)?;
    }
    let dir = local.path().join("many");
    let expected = |kind: &str| objects.iter().filter(|o| o["kind"] == kind).count();
    let selector = ListParams::default().labels(&format!("{RUN_LABEL}={}", run.id));
    let count = |namespace: String| {
        let client = client.clone();
        let selector = selector.clone();
        async move {
            let cms = Api::<ConfigMap>::namespaced(client.clone(), &namespace)
                .list_metadata(&selector)
                .await?
                .items
                .len();
            let secrets = Api::<Secret>::namespaced(client.clone(), &namespace)
                .list_metadata(&selector)
                .await?
                .items
                .len();
            let services = Api::<Service>::namespaced(client, &namespace)
                .list_metadata(&selector)
                .await?
                .items
                .len();
            anyhow::ensure!(
                (cms, secrets, services)
                    == (
                        expected("ConfigMap"),
                        expected("Secret"),
                        expected("Service")
                    ),
                "namespace {namespace} holds {cms} ConfigMaps, {secrets} Secrets, {services} Services; expected {}, {}, {}",
                expected("ConfigMap"),
                expected("Secret"),
                expected("Service")
            );
            Ok(())
        }
    };
    let kubectl = |args: &[&str]| {
        Command::new(env.kubectl())
            .env("KUBECONFIG", env.kubeconfig())
            .args(args)
            .output()
            .context("running kubectl")
    };
    let apps_api: Api<Application> = Api::namespaced(client.clone(), control);
    let mut figures = BulkFigures {
        kubectl: Vec::new(),
        compared: Vec::new(),
        started: Vec::new(),
        capstan: Vec::new(),
    };
    for rep in 1..=args.repetitions {
        let (ns_kubectl, ns_capstan) = (
            format!("{}-kubectl-{rep}", run.id),
            format!("{}-capstan-{rep}", run.id),
        );
        run.namespace(client, &ns_kubectl).await?;
        run.namespace(client, &ns_capstan).await?;

        // kubectl, after a discovery warm-up of the kinds it will apply.
        eprintln!("part 2, repetition {rep}: kubectl apply --server-side of {n} objects");
        let warm = kubectl(&["get", "configmaps,secrets,services", "-n", &ns_kubectl])?;
        anyhow::ensure!(
            warm.status.success(),
            "kubectl get: {}",
            String::from_utf8_lossy(&warm.stderr)
        );
        let dir_arg = dir.to_string_lossy().into_owned();
        let started = Instant::now();
        let out = tokio::task::block_in_place(|| {
            kubectl(&[
                "apply",
                "--server-side",
                "--field-manager=bench",
                "-n",
                &ns_kubectl,
                "-f",
                &dir_arg,
            ])
        })?;
        let took = started.elapsed();
        anyhow::ensure!(
            out.status.success(),
            "kubectl apply --server-side failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let applied = String::from_utf8_lossy(&out.stdout).lines().count();
        anyhow::ensure!(
            applied == n,
            "kubectl apply reported {applied} objects, expected {n}"
        );
        count(ns_kubectl.clone()).await?;
        figures.kubectl.push(took);

        // Capstan: an app over the same files, compared first (OutOfSync), then synced.
        let name = format!("many-{rep}");
        eprintln!("part 2, repetition {rep}: Capstan sync of {n} objects ({name})");
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": control},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo, "path": "many", "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns_capstan},
            }
        }))?;
        let created = Instant::now();
        apps_api.create(&PostParams::default(), &app).await?;
        let compared = apps
            .first(
                &name,
                created,
                phase,
                "the app compared (OutOfSync)",
                |s| s.sync == "OutOfSync",
                |s| s.sync == "Unknown",
            )
            .await?;
        let started = Instant::now();
        let patch = json!({"operation": {"sync": {}, "initiatedBy": {"username": "bench"}}});
        apps_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context("writing the operation")?;
        let failed = |s: &Seen| matches!(s.op_phase.as_str(), "Failed" | "Error");
        let running = apps
            .first(
                &name,
                started,
                phase,
                "operationState Running",
                |s| !s.op_phase.is_empty(),
                failed,
            )
            .await?;
        let succeeded = apps
            .first(
                &name,
                started,
                phase,
                "operationState Succeeded",
                |s| s.op_phase == "Succeeded",
                failed,
            )
            .await?;
        figures.compared.push(compared - created);
        figures.started.push(running - started);
        figures.capstan.push(succeeded - started);
        eprintln!(
            "repetition {rep}: kubectl {}, Capstan {} (compared {}, running after {})",
            secs(took),
            secs(succeeded - started),
            secs(compared - created),
            secs(running - started)
        );

        // Check the result: every object recorded Synced, and there in the namespace.
        let synced = apps_api.get(&name).await?;
        let results = synced
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .and_then(|o| o.sync_result.as_ref())
            .map(|r| r.resources.clone())
            .unwrap_or_default();
        let ok = results
            .iter()
            .filter(|r| r.status.as_ref().is_some_and(|s| s.as_str() == "Synced"))
            .count();
        anyhow::ensure!(
            results.len() == n && ok == n,
            "{name}: the sync recorded {} results, {ok} of them Synced; expected {n}",
            results.len()
        );
        count(ns_capstan.clone()).await?;

        // Clean up before the next repetition, and wait, so garbage collection stays out of it.
        apps_api.delete(&name, &DeleteParams::background()).await?;
        let done = [ns_kubectl, ns_capstan];
        delete_namespaces(client, &done, Some(phase)).await?;
        run.namespaces
            .lock()
            .expect("run lock")
            .retain(|n| !done.contains(n));
    }
    Ok(figures)
}
