//! `appset-bench`: the ApplicationSet controller generating and applying N Applications
//! (default 500) from one ApplicationSet — against the test environment
//! (`e2e/testenv-up.sh`).
//!
//! Each round, in a fresh control-plane namespace: an ApplicationSet with a list generator of
//! N elements (`name: svc-NNNN`) is created while the ApplicationSet controller (the library,
//! in this process, with nothing else reconciling) runs; timed until all N owned Applications
//! exist and until the ApplicationSet reports `ResourcesUpToDate`. The baseline, in the same
//! round: the same N Applications (rendered by `capstan-appset`) applied with
//! `kubectl apply --server-side -f` into another fresh namespace. Then the ApplicationSet is
//! edited (a new label on every app) and the update of all N is timed. `--rounds` (3) rounds;
//! medians and the ratio to the baseline are printed as a markdown table.
//!
//! Run: `cargo run --release -p capstan-bench --bin appset-bench -- [--apps 500] [--rounds 3]`.

use std::time::{Duration, Instant};

use anyhow::Context;
use capstan_e2e::{TestEnv, install_crds};
use capstan_types::{Application, ApplicationSet};
use clap::Parser;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

#[derive(Debug, Parser)]
struct Args {
    /// Applications generated.
    #[arg(long, default_value_t = 500)]
    apps: usize,
    /// Rounds (medians are reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Limit per phase, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

fn appset(namespace: &str, n: usize, label: &str) -> anyhow::Result<ApplicationSet> {
    let elements: Vec<_> = (0..n)
        .map(|i| json!({"name": format!("svc-{i:04}")}))
        .collect();
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "bench", "namespace": namespace},
        "spec": {
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {"name": "{{name}}", "labels": {"round": label}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://git.example.com/platform.git", "path": "apps/{{name}}", "targetRevision": "main"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{name}}"},
                },
            },
        },
    }))?)
}

async fn count_owned(client: &Client, namespace: &str, label: &str) -> anyhow::Result<usize> {
    let apps: Api<Application> = Api::namespaced(client.clone(), namespace);
    let list = apps
        .list(&ListParams::default().labels(&format!("round={label}")))
        .await?;
    Ok(list
        .items
        .iter()
        .filter(|a| !a.owner_references().is_empty())
        .count())
}

async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if check().await? {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < timeout, "{what}: not after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = TestEnv::from_env()?;
    let client = env.kube_client().await?;
    install_crds(&client).await?;
    let timeout = Duration::from_secs(args.timeout);
    let n = args.apps;
    let (mut to_exist, mut to_status, mut to_update, mut kubectl) =
        (vec![], vec![], vec![], vec![]);
    for round in 0..args.rounds {
        // The controller under test.
        let ns = env.unique_namespace("appset-bench").await?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let repo =
            capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient::new(
                capstan_proto::endpoints::Balanced::new("http://127.0.0.1:1", |e| e)?,
            );
        let controller = tokio::spawn(capstan_application_controller::appset::run(
            client.clone(),
            ns.name.clone(),
            repo,
            async move {
                let _ = stop_rx.await;
            },
        ));
        let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), &ns.name);
        let started = Instant::now();
        sets.create(&PostParams::default(), &appset(&ns.name, n, "a")?)
            .await?;
        let exist = wait_for(timeout, "all apps", || async {
            Ok(count_owned(&client, &ns.name, "a").await? == n)
        })
        .await?;
        let status = wait_for(timeout, "ResourcesUpToDate", || async {
            let set = sets.get("bench").await?;
            Ok(set.status.is_some_and(|s| {
                s.resources_count == n as i64
                    && s.conditions
                        .iter()
                        .any(|c| c.condition_type == "ResourcesUpToDate")
            }))
        })
        .await?;
        let _ = started;
        // An edit that changes every generated app.
        let mut edited = sets.get("bench").await?;
        edited.spec = appset(&ns.name, n, "b")?.spec;
        sets.replace("bench", &PostParams::default(), &edited)
            .await?;
        let update = wait_for(timeout, "all apps updated", || async {
            Ok(count_owned(&client, &ns.name, "b").await? == n)
        })
        .await?;
        let _ = stop_tx.send(());
        let _ = controller.await;

        // Baseline: the same Applications with kubectl, server-side, one process.
        let base_ns = env.unique_namespace("appset-base").await?;
        let base = appset(&base_ns.name, n, "a")?;
        let params = capstan_appset::generate(&base.spec, &capstan_appset::Sources::default())?;
        let apps = capstan_appset::applications(&base, &params)?;
        let mut yaml = String::new();
        for app in &apps {
            yaml.push_str("---\n");
            yaml.push_str(&serde_yaml_ng::to_string(app)?);
        }
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), yaml)?;
        let started = Instant::now();
        let out = std::process::Command::new(env.kubectl())
            .args([
                "--kubeconfig",
                env.kubeconfig(),
                "apply",
                "--server-side",
                "-f",
            ])
            .arg(file.path())
            .output()
            .context("running kubectl")?;
        anyhow::ensure!(
            out.status.success(),
            "kubectl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base_time = started.elapsed();
        eprintln!(
            "round {}: all exist {}, status {}, update {}; kubectl apply {}",
            round + 1,
            ms(exist),
            ms(status),
            ms(update),
            ms(base_time)
        );
        to_exist.push(exist);
        to_status.push(status);
        to_update.push(update);
        kubectl.push(base_time);
    }
    let base = median(kubectl.clone());
    println!(
        "ApplicationSet benchmark: one ApplicationSet, list generator of {n} elements, {} rounds (medians); 2 cores shared with the kube-apiserver and etcd",
        args.rounds
    );
    println!();
    println!("| phase | median | ÷ kubectl apply --server-side of the same {n} |");
    println!("|---|---|---|");
    for (what, v) in [
        ("ApplicationSet created → all Applications exist", to_exist),
        ("… → status ResourcesUpToDate", to_status),
        ("template edited → all Applications updated", to_update),
    ] {
        let m = median(v);
        println!(
            "| {what} | {} | {:.2} |",
            ms(m),
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
    println!(
        "| baseline: `kubectl apply --server-side -f` of the {n} rendered Applications | {} | 1 |",
        ms(base)
    );
    Ok(())
}
