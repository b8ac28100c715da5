//! `controller-scale-bench`: the application controller at scale — N Applications of M
//! resources each (default 200 × 5) against the test environment (`e2e/testenv-up.sh`).
//!
//! Setup: one Git repository holding a directory app of M small objects (ConfigMaps and one
//! Service: no pods, to keep the cluster light); N destination namespaces, each with its own copy
//! of the M objects server-side applied beforehand (with Argo CD's tracking annotation, as a sync
//! leaves them), so every app ends Synced; N Applications in a fresh control-plane namespace
//! (repo-creds Secret, `argocd-cm` with `timeout.reconciliation: "0"` unless
//! `--reconciliation-timeout`). The repo-server runs in this process (with the environment's
//! Redis); the controller runs as its own process — the release binary — so RSS and CPU time are
//! the controller's alone. Figures (markdown tables on stdout, progress on stderr):
//! 1. time from the controller's start until every app has a sync status, and until all are
//!    Synced;
//! 2. the controller's RSS (VmHWM, VmRSS from `/proc/<pid>/status`) next to an idle controller
//!    (no apps), per app and per managed object, and the objects its live cache holds (every
//!    object of the watched kinds, cluster-wide);
//! 3. steady state: every (unchanged) app refreshed `--refresh-rounds` times through the
//!    `argocd.argoproj.io/refresh` annotation: the controller's CPU seconds (utime + stime from
//!    `/proc/<pid>/stat`) per refresh and per reconcile, wall time until every annotation is
//!    removed again, and whether any status was rewritten (`capstan_app_status_writes_total`
//!    and the statuses themselves, before and after);
//! - baseline: `kubectl get` of the N×M objects, so figures compare across machines.
//!
//! Run: `cargo build --release -p capstan-application-controller -p capstan-bench && target/release/controller-scale-bench`
//! (`--apps`, `--resources`, `--refresh-rounds`, ...: see `--help`; `CAPSTAN_LOG_LEVEL` is passed
//! to the controller, default `warn`). The controller's log goes to
//! `$TMPDIR/controller-scale-bench-<run>.log`, kept when the run fails or with `--keep`.
//! 200 × 5 takes about 50 s on 2 cores (plus the build).

use capstan_bench::{Controller, RepoServer, clock_ticks, metric};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capstan_e2e::{NAMESPACE_LABEL, TestEnv, TestNamespace, install_crds};
use capstan_types::Application;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Debug, Parser)]
struct Args {
    /// Applications (each with its own destination namespace).
    #[arg(long, default_value_t = 200)]
    apps: usize,
    /// Resources per application (M - 1 ConfigMaps and one Service).
    #[arg(long, default_value_t = 5)]
    resources: usize,
    /// Times every app is refreshed for the steady-state figures.
    #[arg(long, default_value_t = 2)]
    refresh_rounds: usize,
    /// `timeout.reconciliation` of argocd-cm ("0": no periodic reconciles).
    #[arg(long, default_value = "0")]
    reconciliation_timeout: String,
    /// The controller binary (default: `target/release/capstan-application-controller`).
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// API requests in flight at once while setting up and refreshing.
    #[arg(long, default_value_t = 16)]
    parallelism: usize,
    /// Limit for each waiting phase, in seconds.
    #[arg(long, default_value_t = 150)]
    phase_timeout: u64,
    /// Keep the namespaces (and the controller's log) after the run.
    #[arg(long)]
    keep: bool,
}

const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
const RUN_LABEL: &str = "bench.capstan.dev/run";
const FIELD_MANAGER: &str = "capstan-bench";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The M objects of the app, without namespace: M - 1 ConfigMaps and one Service.
fn manifests(resources: usize, run: &str) -> Vec<Value> {
    let labels = json!({ RUN_LABEL: run, "app.kubernetes.io/name": "web" });
    let mut out: Vec<Value> = (0..resources.saturating_sub(1).max(1))
        .map(|i| {
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": format!("web-config-{i}"), "labels": labels},
                "data": {
                    "LOG_LEVEL": "info",
                    "application.properties": format!("server.port=8080\nfeature.{i}.enabled=true\ncache.ttl=300\n"),
                },
            })
        })
        .collect();
    if resources >= 2 {
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        }));
    }
    out
}

/// What the Application watch saw of one app.
#[derive(Debug, Default)]
struct AppSeen {
    has_sync_status: bool,
    synced: bool,
    refresh_pending: bool,
    /// Times the refresh annotation went from present to absent.
    refreshes_done: usize,
    status: Value,
}

/// Every app's state, kept current by a watch; `changed` ticks on every event.
#[derive(Clone)]
struct Apps {
    seen: Arc<Mutex<HashMap<String, AppSeen>>>,
    changed: watch::Receiver<u64>,
}

impl Apps {
    fn start(api: Api<Application>) -> Self {
        let seen: Arc<Mutex<HashMap<String, AppSeen>>> = Arc::default();
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
                {
                    let mut seen = state.lock().expect("apps lock");
                    let entry = seen.entry(app.name_any()).or_default();
                    let status = app.status.as_ref();
                    let sync = status.and_then(|s| s.sync.status.as_ref());
                    entry.has_sync_status = sync.is_some();
                    entry.synced = sync.is_some_and(|s| s.as_str() == "Synced");
                    let pending = app.annotations().contains_key(REFRESH_ANNOTATION);
                    if entry.refresh_pending && !pending {
                        entry.refreshes_done += 1;
                    }
                    entry.refresh_pending = pending;
                    entry.status = serde_json::to_value(status).unwrap_or(Value::Null);
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Self { seen, changed }
    }

    /// Waits until `done` holds for the seen apps; returns when it first did.
    async fn wait(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&HashMap<String, AppSeen>) -> bool,
    ) -> anyhow::Result<Instant> {
        let mut changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ok = {
                let seen = self.seen.lock().expect("apps lock");
                done(&seen)
            };
            if ok {
                return Ok(Instant::now());
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("the Application watch ended"),
                Err(_) => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
    }

    /// Waits until no Application changed for `quiet` (at most `limit`).
    async fn quiet(&self, quiet: Duration, limit: Duration) {
        let mut changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if tokio::time::timeout(quiet, changed.changed())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    fn count(&self, f: impl Fn(&AppSeen) -> bool) -> usize {
        self.seen
            .lock()
            .expect("apps lock")
            .values()
            .filter(|a| f(a))
            .count()
    }

    fn statuses(&self) -> HashMap<String, Value> {
        self.seen
            .lock()
            .expect("apps lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.status.clone()))
            .collect()
    }
}

/// Reconcile count and summed seconds, status writes, Kubernetes requests made while
/// reconciling and live-cache objects, from the controller's metrics.
#[derive(Clone, Copy, Debug)]
struct Counters {
    reconciles: f64,
    reconcile_seconds: f64,
    status_writes: f64,
    k8s_requests: f64,
    cached_objects: f64,
}

async fn counters(controller: &Controller) -> anyhow::Result<Counters> {
    let text = controller.scrape().await?;
    Ok(Counters {
        reconciles: metric(&text, "argocd_app_reconcile_count"),
        reconcile_seconds: metric(&text, "argocd_app_reconcile_sum"),
        status_writes: metric(&text, "capstan_app_status_writes_total"),
        k8s_requests: metric(&text, "argocd_app_k8s_request_total"),
        cached_objects: metric(&text, "argocd_cluster_api_resource_objects"),
    })
}

/// Waits until the controller's reconcile count stopped moving for `quiet`.
async fn reconciles_settle(
    controller: &Controller,
    quiet: Duration,
    limit: Duration,
) -> anyhow::Result<Counters> {
    let deadline = Instant::now() + limit;
    let mut last = counters(controller).await?;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = counters(controller).await?;
        if now.reconciles != last.reconciles {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet || Instant::now() > deadline {
            return Ok(now);
        }
    }
}

/// Runs the futures with at most `limit` in flight; fails with the first error.
async fn all_limited<F>(futures: impl Iterator<Item = F>, limit: usize) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    futures::stream::iter(futures)
        .buffer_unordered(limit)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Everything made for the run, for the clean-up.
struct Run {
    id: String,
    control: TestNamespace,
    destinations: Vec<String>,
    repo_name: String,
    log: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.apps > 0 && args.resources > 0,
        "--apps and --resources must be at least 1"
    );
    let env = TestEnv::from_env()?;
    let client = env.kube_client().await?;
    install_crds(&client).await?;
    let control = env.unique_namespace("scale").await?;
    let id = control.name.clone();
    let run = Run {
        destinations: (0..args.apps).map(|i| format!("{id}-d{i:04}")).collect(),
        repo_name: format!("{id}-app"),
        log: std::env::temp_dir().join(format!("controller-scale-bench-{id}.log")),
        id,
        control,
    };
    let result = measure(&args, &env, &client, &run).await;
    if args.keep {
        eprintln!(
            "keeping namespace {} and {}-d*; controller log: {}",
            run.control.name,
            run.id,
            run.log.display()
        );
        // The guard would delete the control namespace on drop.
        std::mem::forget(run.control);
        return result;
    }
    eprintln!("cleaning up ({} namespaces)", run.destinations.len() + 1);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let deletes = run.destinations.iter().map(|name| {
        let namespaces = namespaces.clone();
        async move {
            match namespaces.delete(name, &DeleteParams::background()).await {
                Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
                Err(e) => Err(anyhow::Error::from(e)),
            }
        }
    });
    if let Err(e) = all_limited(deletes, args.parallelism).await {
        eprintln!("warning: deleting the destination namespaces: {e:#}");
    }
    let _ = std::fs::remove_dir_all(env.git_repos_dir().join(format!("{}.git", run.repo_name)));
    if result.is_ok() {
        let _ = std::fs::remove_file(&run.log);
    } else {
        eprintln!("controller log: {}", run.log.display());
    }
    drop(run.control);
    result
}

async fn measure(args: &Args, env: &TestEnv, client: &Client, run: &Run) -> anyhow::Result<()> {
    let (n, m) = (args.apps, args.resources);
    let phase = Duration::from_secs(args.phase_timeout);
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
    let ticks = clock_ticks();

    // Control plane: repo credentials and argocd-cm.
    env.create_git_creds_secret(control).await?;
    Api::<ConfigMap>::namespaced(client.clone(), control)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "argocd-cm"},
                "data": {"timeout.reconciliation": args.reconciliation_timeout}
            }))?,
        )
        .await?;

    // The repo-server, in this process.
    let repo_server = RepoServer::start(env, client.clone(), control).await?;

    // An idle controller (no apps) for the RSS baseline.
    eprintln!("idle controller");
    let idle_rss = {
        let mut idle = Controller::spawn(&bin, env, control, &repo_server.url, &run.log)?;
        idle.wait_ready(Duration::from_secs(30)).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        idle.check_running()?;
        let rss = idle.memory()?;
        idle.stop();
        rss
    };

    // Git: one directory app of M objects.
    let objects = manifests(m, &run.id);
    let files: Vec<(String, String)> = objects
        .iter()
        .map(|o| {
            let file = format!(
                "app/{}-{}.yaml",
                o["kind"].as_str().unwrap_or_default().to_ascii_lowercase(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            );
            Ok((file, serde_json::to_string_pretty(o)?))
        })
        .collect::<anyhow::Result<_>>()?;
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = env.create_git_repo(&run.repo_name, &refs)?;

    // Destination namespaces and their objects, applied server-side with the tracking annotation.
    eprintln!("setup: {n} namespaces, {} objects, {n} applications", n * m);
    let started = Instant::now();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    all_limited(
        run.destinations.iter().map(|name| {
            let namespaces = namespaces.clone();
            async move {
                let ns = serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {NAMESPACE_LABEL: "true", RUN_LABEL: run.id}}
                }))?;
                namespaces
                    .create(&PostParams::default(), &ns)
                    .await
                    .with_context(|| format!("creating namespace {name}"))?;
                Ok(())
            }
        }),
        args.parallelism,
    )
    .await?;
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let applies = run
        .destinations
        .iter()
        .enumerate()
        .flat_map(|(i, ns)| objects.iter().map(move |object| (i, ns, object)));
    all_limited(
        applies.map(|(i, ns, object)| {
            let client = client.clone();
            let apply = apply.clone();
            async move {
                let mut object = object.clone();
                let name = object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let kind = object["kind"].as_str().unwrap_or_default().to_owned();
                object["metadata"]["namespace"] = json!(ns);
                object["metadata"]["annotations"] = json!({
                    TRACKING_ANNOTATION: format!("{}-{i:04}:/{kind}:{ns}/{name}", run.id)
                });
                if kind == "Service" {
                    Api::<Service>::namespaced(client, ns)
                        .patch(&name, &apply, &Patch::Apply(&object))
                        .await?;
                } else {
                    Api::<ConfigMap>::namespaced(client, ns)
                        .patch(&name, &apply, &Patch::Apply(&object))
                        .await?;
                }
                Ok(())
            }
        }),
        args.parallelism,
    )
    .await?;
    let apps: Api<Application> = Api::namespaced(client.clone(), control);
    all_limited(
        run.destinations.iter().enumerate().map(|(i, ns)| {
            let apps = apps.clone();
            let repo = repo.clone();
            async move {
                let app: Application = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Application",
                    "metadata": {"name": format!("{}-{i:04}", run.id), "namespace": control},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": repo, "path": "app", "targetRevision": "main"},
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                    }
                }))?;
                apps.create(&PostParams::default(), &app).await?;
                Ok(())
            }
        }),
        args.parallelism,
    )
    .await?;
    let setup = started.elapsed();

    // Baseline: kubectl get of the N×M objects, all namespaces, by label (median of 3).
    let selector = format!("{RUN_LABEL}={}", run.id);
    let mut gets = Vec::new();
    let mut listed = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let out = Command::new(env.kubectl())
            .env("KUBECONFIG", env.kubeconfig())
            .args([
                "get",
                "configmaps,services",
                "--all-namespaces",
                "-l",
                &selector,
                "-o",
                "json",
            ])
            .output()?;
        gets.push(started.elapsed());
        if !out.status.success() {
            bail!("kubectl get: {}", String::from_utf8_lossy(&out.stderr));
        }
        let list: Value = serde_json::from_slice(&out.stdout)?;
        listed = list["items"].as_array().map_or(0, Vec::len);
    }
    anyhow::ensure!(
        listed == n * m,
        "kubectl get listed {listed} objects, expected {}",
        n * m
    );
    gets.sort();
    let kubectl_get = gets[1];

    // 1. Start the controller; time the first statuses and Synced.
    let watch = Apps::start(apps.clone());
    watch
        .wait(phase, "the Application watch to list every app", |s| {
            s.len() == n
        })
        .await?;
    eprintln!("controller start ({n} apps)");
    let started = Instant::now();
    let mut controller = Controller::spawn(&bin, env, control, &repo_server.url, &run.log)?;
    let all_status = watch
        .wait(phase, "every app to have a sync status", |s| {
            s.values().filter(|a| a.has_sync_status).count() == n
        })
        .await;
    let all_status = match all_status {
        Ok(at) => at,
        Err(e) => {
            controller.check_running()?;
            let have = watch.count(|a| a.has_sync_status);
            return Err(e.context(format!("{have} of {n} apps have a sync status")));
        }
    };
    let all_synced = watch
        .wait(phase, "every app to be Synced", |s| {
            s.values().filter(|a| a.synced).count() == n
        })
        .await;
    let all_synced = match all_synced {
        Ok(at) => at,
        Err(e) => {
            let synced = watch.count(|a| a.synced);
            let example = watch
                .seen
                .lock()
                .expect("apps lock")
                .iter()
                .find(|(_, a)| !a.synced)
                .map(|(name, a)| format!("{name}: {}", a.status))
                .unwrap_or_default();
            return Err(e.context(format!("{synced} of {n} apps Synced; e.g. {example}")));
        }
    };
    let to_status = all_status - started;
    let to_synced = all_synced - started;
    let converged = reconciles_settle(&controller, Duration::from_secs(2), phase).await?;
    watch.quiet(Duration::from_secs(1), phase).await;
    controller.check_running()?;
    let (hwm_converged, rss_converged) = controller.memory()?;
    let cpu_converged = controller.cpu_seconds(ticks)?;

    // 3. Steady state: refresh every unchanged app, `refresh_rounds` times.
    let before_statuses = watch.statuses();
    let cpu_before = controller.cpu_seconds(ticks)?;
    let counters_before = counters(&controller).await?;
    let mut walls = Vec::new();
    for round in 1..=args.refresh_rounds {
        eprintln!("refresh round {round}");
        let started = Instant::now();
        all_limited(
            (0..n).map(|i| {
                let apps = apps.clone();
                async move {
                    let patch =
                        json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "normal"}}});
                    apps.patch(
                        &format!("{}-{i:04}", run.id),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
                    Ok(())
                }
            }),
            args.parallelism,
        )
        .await?;
        let annotated = started.elapsed();
        let done = watch
            .wait(phase, "every refresh annotation to be removed", |s| {
                s.values().filter(|a| a.refreshes_done >= round).count() == n
            })
            .await?;
        walls.push((annotated, done - started));
        reconciles_settle(&controller, Duration::from_secs(1), phase).await?;
    }
    let counters_after = reconciles_settle(&controller, Duration::from_secs(1), phase).await?;
    let cpu_after = controller.cpu_seconds(ticks)?;
    controller.check_running()?;
    let (hwm_end, rss_end) = controller.memory()?;
    let after_statuses = watch.statuses();
    let rewritten = before_statuses
        .iter()
        .filter(|(name, status)| after_statuses.get(*name) != Some(status))
        .count();

    // Objects the live cache holds (its metric; cross-checked with the cluster: every object of
    // the watched kinds, cluster-wide).
    let list = ListParams::default();
    let cached_configmaps = Api::<ConfigMap>::all(client.clone())
        .list_metadata(&list)
        .await?
        .items
        .len();
    let cached_services = Api::<Service>::all(client.clone())
        .list_metadata(&list)
        .await?
        .items
        .len();
    let cached = cached_configmaps + cached_services;
    controller.stop();

    // Report.
    println!(
        "controller scale benchmark: {n} apps × {m} resources ({} managed objects), {} cores, timeout.reconciliation {:?}",
        n * m,
        std::thread::available_parallelism()?.get(),
        args.reconciliation_timeout
    );
    println!();
    println!("| baseline | value |");
    println!("|---|---|");
    println!(
        "| `kubectl get configmaps,services -A -l <run> -o json` ({} objects), median of 3 | {} |",
        n * m,
        secs(kubectl_get)
    );
    println!(
        "| setup: {n} namespaces + {} server-side applies + {n} Applications ({} in flight) | {} |",
        n * m,
        args.parallelism,
        secs(setup)
    );
    println!();
    println!("| 1. controller start → | wall time | × kubectl get |");
    println!("|---|---|---|");
    println!(
        "| every app has a sync status | {} | {:.1} |",
        secs(to_status),
        to_status.as_secs_f64() / kubectl_get.as_secs_f64()
    );
    println!(
        "| every app Synced | {} | {:.1} |",
        secs(to_synced),
        to_synced.as_secs_f64() / kubectl_get.as_secs_f64()
    );
    println!(
        "| reconciles / status writes / Kubernetes requests until settled | {:.0} / {:.0} / {:.0} | |",
        converged.reconciles, converged.status_writes, converged.k8s_requests
    );
    println!(
        "| controller CPU until settled | {:.2} s ({:.1} ms per app) | |",
        cpu_converged,
        cpu_converged * 1000.0 / n as f64
    );
    println!();
    println!("| 2. controller memory | value |");
    println!("|---|---|");
    println!(
        "| idle (no apps): VmHWM / VmRSS | {} / {} |",
        mib(idle_rss.0),
        mib(idle_rss.1)
    );
    println!(
        "| converged: VmHWM / VmRSS | {} / {} |",
        mib(hwm_converged),
        mib(rss_converged)
    );
    println!(
        "| end of run: VmHWM (peak) / VmRSS | {} / {} |",
        mib(hwm_end),
        mib(rss_end)
    );
    let above_idle = hwm_end.saturating_sub(idle_rss.1) as f64;
    println!(
        "| peak above idle, per app | {:.1} KiB |",
        above_idle / n as f64
    );
    println!(
        "| peak above idle, per managed object | {:.1} KiB |",
        above_idle / (n * m) as f64
    );
    println!(
        "| objects in the live cache: argocd_cluster_api_resource_objects / all ConfigMaps + Services of the cluster | {:.0} / {cached} ({cached_configmaps} + {cached_services}) |",
        counters_after.cached_objects
    );
    println!(
        "| peak above idle, per cached object | {:.1} KiB |",
        above_idle / cached.max(1) as f64
    );
    println!();
    let refreshes = (n * args.refresh_rounds) as f64;
    let cpu = cpu_after - cpu_before;
    let reconciles = counters_after.reconciles - counters_before.reconciles;
    let reconcile_seconds = counters_after.reconcile_seconds - counters_before.reconcile_seconds;
    let writes = counters_after.status_writes - counters_before.status_writes;
    let requests = counters_after.k8s_requests - counters_before.k8s_requests;
    println!(
        "| 3. steady state: {} rounds of refreshing all {n} unchanged apps | value |",
        args.refresh_rounds
    );
    println!("|---|---|");
    for (i, (annotated, wall)) in walls.iter().enumerate() {
        println!(
            "| round {}: annotate all / all annotations removed | {} / {} |",
            i + 1,
            secs(*annotated),
            secs(*wall)
        );
    }
    println!("| refreshes / reconciles run | {refreshes:.0} / {reconciles:.0} |");
    println!("| controller CPU, total | {cpu:.2} s |");
    println!(
        "| controller CPU per refresh | {:.2} ms |",
        cpu * 1000.0 / refreshes
    );
    println!(
        "| controller CPU per reconcile | {:.2} ms |",
        cpu * 1000.0 / reconciles.max(1.0)
    );
    println!(
        "| mean reconcile duration (argocd_app_reconcile) | {:.2} ms |",
        reconcile_seconds * 1000.0 / reconciles.max(1.0)
    );
    println!(
        "| Kubernetes requests while reconciling (argocd_app_k8s_request_total) | {requests:.0} ({:.2} per reconcile) |",
        requests / reconciles.max(1.0)
    );
    println!("| status writes (capstan_app_status_writes_total delta) | {writes:.0} |");
    println!("| apps whose status changed | {rewritten} of {n} |");
    Ok(())
}
