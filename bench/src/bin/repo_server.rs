//! `repo-server-bench`: the repo-server's latency and throughput next to running the tools
//! directly on the same inputs, in the same process and run (so machine noise hits both).
//!
//! Needs the test environment (`e2e/testenv-up.sh`): its Git server, Redis and tools. Figures:
//! - cold render: first GenerateManifest of each app (ls-remote, fetch, checkout, kustomize)
//!   vs `kubectl kustomize` / `helm template` of the same directory;
//! - warm: a repeated request (Redis hit), p50/p99;
//! - throughput: 100 distinct applications rendered through the repo-server vs 100 direct
//!   tool runs with the same parallelism.
//!
//! Run: `cargo run --release -p capstan-bench --bin repo-server-bench`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capstan_e2e::TestEnv;
use capstan_proto::common::v1::KubeObject;
use capstan_proto::repo::v1 as pb;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_repo_server::{RepoServerConfig, ServeOptions};
use clap::Parser;
use serde_json::json;
use tonic::transport::Channel;

#[derive(Debug, Parser)]
struct Args {
    /// Warm requests to time.
    #[arg(long, default_value_t = 500)]
    warm: usize,
    /// Distinct applications for the throughput figure.
    #[arg(long, default_value_t = 100)]
    apps: usize,
    /// Requests in flight at once for the throughput figure.
    #[arg(long, default_value_t = 4)]
    parallelism: usize,
}

const OVERLAYS: [&str; 9] = [
    "overlays/dev/users-api",
    "overlays/dev/orders-api",
    "overlays/dev/products-api",
    "overlays/staging/users-api",
    "overlays/staging/orders-api",
    "overlays/staging/products-api",
    "overlays/prod/users-api",
    "overlays/prod/orders-api",
    "overlays/prod/products-api",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn request(url: &str, revision: &str, app: &str, source: serde_json::Value) -> pb::ManifestRequest {
    pb::ManifestRequest {
        repo: Some(pb::RepoRef {
            url: url.to_owned(),
            ..Default::default()
        }),
        revision: revision.to_owned(),
        app_name: app.to_owned(),
        namespace: app.to_owned(),
        application_source: Some(KubeObject {
            json: source.to_string(),
        }),
        kube_version: "1.20".to_owned(),
        ..Default::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    percentile(&samples, 0.5)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn run_tool(program: &Path, args: &[&str], dir: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("HELM_CACHE_HOME", "/tmp/capstan-bench-helm")
        .env("HELM_CONFIG_HOME", "/tmp/capstan-bench-helm")
        .env("HELM_DATA_HOME", "/tmp/capstan-bench-helm")
        .output()?;
    if !out.status.success() {
        bail!(
            "{program:?} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = TestEnv::from_env()?;
    let ns = env.unique_namespace("bench").await?;
    let kube = env.kube_client().await?;
    env.create_git_creds_secret(&ns.name).await?;

    // Inputs: the example repository and the render crate's Helm chart, published over HTTP.
    let examples = workspace().join("examples/k8s-manifests");
    let charts = workspace().join("crates/capstan-render/testdata/helm");
    let publish = |dir: &Path, prefix: &str| {
        env.create_git_repo_from_dir(&capstan_e2e::unique_name(prefix), dir)
    };
    let repo = publish(&examples, "bench-manifests")?;
    let chart_repo = publish(&charts, "bench-charts")?;

    let data = tempfile::tempdir()?;
    let mut config = RepoServerConfig::new(data.path(), env.kubectl(), env.helm());
    config.redis_url = Some(env.redis_url().to_owned());
    config.secrets_namespace = Some(ns.name.clone());
    config.parallelism_limit = args.parallelism;
    let mut registry = prometheus_client::registry::Registry::default();
    let service = capstan_repo_server::build_service(&config, Some(kube), &mut registry).await?;
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", grpc.local_addr()?);
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(capstan_repo_server::serve_service(
        service.clone(),
        registry,
        ServeOptions { grpc, admin },
        async {
            let _ = stopped.await;
        },
    ));
    let client = RepoServerServiceClient::<Channel>::connect(url).await?;

    println!(
        "repo-server benchmark ({} cores)",
        std::thread::available_parallelism()?.get()
    );
    println!();

    // 1. Cold renders vs the tools run directly on the same files.
    let mut cold = Vec::new();
    let mut direct = Vec::new();
    let mut sha = String::new();
    for (i, path) in OVERLAYS.iter().enumerate() {
        let started = Instant::now();
        let response = client
            .clone()
            .generate_manifest(request(
                &repo,
                "main",
                &format!("cold-{i}"),
                json!({"repoURL": repo, "path": path}),
            ))
            .await?
            .into_inner();
        cold.push(started.elapsed());
        sha = response.revision;
        direct.push(run_tool(env.kubectl(), &["kustomize", path], &examples)?);
    }
    let started = Instant::now();
    client
        .clone()
        .generate_manifest(request(&chart_repo, "main", "shop", json!({"repoURL": chart_repo, "path": "webapp", "helm": {"valueFiles": ["values-prod.yaml"]}})))
        .await?;
    let helm_cold = started.elapsed();
    let helm_direct = run_tool(
        env.helm(),
        &[
            "template",
            ".",
            "--name-template",
            "shop",
            "--namespace",
            "shop",
            "--kube-version",
            "1.20",
            "--values",
            "values-prod.yaml",
            "--include-crds",
        ],
        &charts.join("webapp"),
    )?;
    let first_cold = cold[0];
    println!("| cold render (first request per app) | repo-server | tool run directly | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| kustomize, first app of a new repo (clone + render) | {} | {} | {:.2} |",
        ms(first_cold),
        ms(direct[0]),
        first_cold.as_secs_f64() / direct[0].as_secs_f64()
    );
    let (cold_m, direct_m) = (median(cold[1..].to_vec()), median(direct[1..].to_vec()));
    println!(
        "| kustomize, median of the other 8 overlays | {} | {} | {:.2} |",
        ms(cold_m),
        ms(direct_m),
        cold_m.as_secs_f64() / direct_m.as_secs_f64()
    );
    println!(
        "| helm, first chart of a new repo | {} | {} | {:.2} |",
        ms(helm_cold),
        ms(helm_direct),
        helm_cold.as_secs_f64() / helm_direct.as_secs_f64()
    );
    println!();

    // 2. Warm: identical requests served from Redis.
    let execs = service.renderer().exec_count();
    let mut warm = Vec::with_capacity(args.warm);
    for _ in 0..args.warm {
        let started = Instant::now();
        client
            .clone()
            .generate_manifest(request(
                &repo,
                &sha,
                "cold-0",
                json!({"repoURL": repo, "path": OVERLAYS[0]}),
            ))
            .await?;
        warm.push(started.elapsed());
    }
    anyhow::ensure!(
        service.renderer().exec_count() == execs,
        "warm requests ran a tool"
    );
    warm.sort();
    println!(
        "| warm request (Redis hit, {} requests) | p50 | p99 | vs direct kustomize p50 |",
        args.warm
    );
    println!("|---|---|---|---|");
    println!(
        "| GenerateManifest by SHA | {} | {} | {:.1}x faster |",
        ms(percentile(&warm, 0.5)),
        ms(percentile(&warm, 0.99)),
        direct_m.as_secs_f64() / percentile(&warm, 0.5).as_secs_f64()
    );
    println!();

    // 3. Throughput: distinct applications (each a distinct render: its own name prefix).
    let started = Instant::now();
    let requests = (0..args.apps).map(|i| {
        let mut client = client.clone();
        let req = request(
            &repo,
            &sha,
            &format!("app-{i}"),
            json!({"repoURL": repo, "path": OVERLAYS[i % OVERLAYS.len()], "kustomize": {"namePrefix": format!("a{i}-")}}),
        );
        async move { client.generate_manifest(req).await.map(|_| ()) }
    });
    let results: Vec<_> = futures_buffered(requests, args.parallelism).await;
    results
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("throughput requests")?;
    let through_server = started.elapsed();

    let started = Instant::now();
    let mut handles = Vec::new();
    let kubectl = env.kubectl().to_path_buf();
    let per_worker = args.apps.div_ceil(args.parallelism);
    for w in 0..args.parallelism {
        let kubectl = kubectl.clone();
        let examples = examples.clone();
        handles.push(std::thread::spawn(move || -> anyhow::Result<()> {
            for i in (w * per_worker)..((w + 1) * per_worker) {
                run_tool(
                    &kubectl,
                    &["kustomize", OVERLAYS[i % OVERLAYS.len()]],
                    &examples,
                )?;
            }
            Ok(())
        }));
    }
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
    }
    let through_direct = started.elapsed();
    let rate = |d: Duration| args.apps as f64 / d.as_secs_f64();
    println!(
        "| {} distinct applications, {} in flight | wall time | renders/s |",
        args.apps, args.parallelism
    );
    println!("|---|---|---|");
    println!(
        "| repo-server (render + cache write) | {} | {:.1} |",
        ms(through_server),
        rate(through_server)
    );
    println!(
        "| kubectl kustomize run directly | {} | {:.1} |",
        ms(through_direct),
        rate(through_direct)
    );
    println!(
        "| ratio repo-server / direct | {:.2} | |",
        through_server.as_secs_f64() / through_direct.as_secs_f64()
    );
    Ok(())
}

/// Runs the futures with at most `limit` in flight, returning their results in order.
async fn futures_buffered<F: Future>(
    futures: impl Iterator<Item = F>,
    limit: usize,
) -> Vec<F::Output> {
    use futures::StreamExt;
    futures::stream::iter(futures)
        .buffered(limit)
        .collect()
        .await
}
