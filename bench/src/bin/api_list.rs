//! `api-list-bench`: the api-server listing N Applications (default 1,000) — latency
//! percentiles and requests/s under a loopback load generator, CPU per request, and the
//! api-server's memory at that size — against the test environment (`e2e/testenv-up.sh`).
//!
//! Setup: a fresh control-plane namespace with the CRDs, an empty `argocd-cm`, an
//! `argocd-rbac-cm` with the seed's policy (developers / devops roles and their groups) plus one
//! role per team project (`p, role:team-K, applications, get, team-K/*, allow` and
//! `g, team-K@example.com, role:team-K`), `--projects` AppProjects `team-0`, `team-1`, ... and
//! no `policy.default` unless `--policy-default` (with the seed's `role:readonly` every user may
//! get every app and the team user's list filters nothing). The api-server runs as its own
//! process — the release binary — with the environment's Redis, so its RSS and CPU are its own;
//! it creates its signing keys, from which this bench mints session tokens for `admin` and for
//! a user whose only group maps to `role:team-3`. N Applications are then created (spread
//! round-robin over the projects, names `app-NNNN-{dev,staging,prod}`) and given the status a
//! synced app has (sync and health, five resources, an operation state with its sync result, a
//! history entry, summary images and URLs; 10 % OutOfSync); the api-server sees them through
//! its watch. Figures (markdown tables on stdout, progress on stderr):
//! 1. load: for each scenario, `--concurrency` workers on keep-alive connections (one each)
//!    send requests back to back for `--duration` seconds after a `--warmup`; requests, req/s,
//!    p50/p90/p99/max latency, items and bytes per response, the api-server's CPU
//!    (utime + stime from `/proc/<pid>/stat`) and this process's (the load generator's, on the
//!    same cores) per 1,000 requests, and how many cores every other process kept busy
//!    meanwhile (from `/proc/stat`; Redis is one of them — every authenticated request looks its
//!    token up in the revocation set — else, on a shared machine, a run to repeat when it is
//!    not near 0).
//!    Scenarios (`--only` picks some):
//!    - `version`: `GET /api/version`, no token, a constant answer — the baseline: the same
//!      server, connections and client, so ratios against it factor out the machine;
//!    - `userinfo`: `GET /api/v1/session/userinfo` as admin — what every authenticated call
//!      pays (token verification, the revocation lookup in Redis) and nothing else;
//!    - `page-first` / `page-middle`: `GET /api/v1/applications?limit=100`, the first page and
//!      the one after `continue` of the middle page, as admin;
//!    - `all`: `GET /api/v1/applications`, all N at once (what Argo CD's UI asks);
//!    - `filter-sync` / `filter-search`: the first page with `syncStatus=OutOfSync` and with
//!      `search=prod` (server-side filters);
//!    - `rbac-page`: the first page as the team user (RBAC filters out all but 1/`--projects`);
//!    - `grpc-page` / `grpc-all`: `ApplicationService/List` with limit 100 and with no limit,
//!      over gRPC (h2c, same port, one connection per worker);
//!    - `page-first-1`, `all-1`, `grpc-page-1`: the same with one worker, the latency of a
//!      lone caller (with `--concurrency` workers on 2 cores, latency is mostly queueing);
//!    - with `--gateway`, the release `capstan-auth-gateway` runs in front of the api-server as
//!      its own process too, and `gw-version`, `gw-userinfo`, `gw-page-first`,
//!      `gw-page-first-1` and `gw-grpc-page` repeat those scenarios through it (server CPU is
//!      then both processes'): the front door's cost, as ratios against the same scenario
//!      direct; plus the latency of a password login (`POST /api/v1/session`, bcrypt cost 10),
//!      20 in a row;
//! 2. the api-server's memory (VmRSS, VmHWM from `/proc/<pid>/status`): ready with no apps;
//!    with N apps after it watched them being created and their statuses written (2N watch
//!    events); a second api-server started with the N apps present (its initial LIST only);
//!    per app (above the empty server); after the load;
//! - baselines: `GET /api/version` above, and a LIST of the same N Applications from the
//!   kube-apiserver (raw JSON, one request at a time); start → ready with 0 and N apps.
//!
//! The api-server is only waited for through paged lists (`limit` = `--page-size`) before the
//! memory figures, so no large response inflates them.
//!
//! Run: `cargo build --release -p capstan-api-server -p capstan-auth-gateway -p capstan-bench && target/release/api-list-bench [--gateway]`
//! (`--apps`, `--concurrency`, `--duration`, `--only`, ...: see `--help`; `CAPSTAN_LOG_LEVEL` is
//! passed to the api-server, default `warn`). Its log goes to `$TMPDIR/api-list-bench-<run>.log`,
//! kept when the run fails or with `--keep`. The defaults take about 3 minutes on 2 cores.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use capstan_bench::{Process, clock_ticks, cpu_seconds, free_local_addr, machine_busy_seconds};
use capstan_e2e::fleet::{REPO, app_name, application, out_of_sync, status};
use capstan_e2e::{TestEnv, install_crds};
use capstan_proto::application::v1 as pb;
use capstan_proto::application::v1::application_service_client::ApplicationServiceClient;
use capstan_tokens::{Claims, KeySet};
use capstan_types::{AppProject, Application};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use prost::Message as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tonic::metadata::{Ascii, MetadataValue};

#[derive(Debug, Parser)]
struct Args {
    /// Applications.
    #[arg(long, default_value_t = 1000)]
    apps: usize,
    /// AppProjects the apps are spread over; the team user may read one of them.
    #[arg(long, default_value_t = 10)]
    projects: usize,
    /// Page size of the paged scenarios.
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// Concurrent workers (one keep-alive connection each) per scenario.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Concurrent gRPC workers (one connection each); default: --concurrency.
    #[arg(long)]
    grpc_concurrency: Option<usize>,
    /// Seconds measured per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before each measurement (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Only these scenarios (repeatable; `version`, the baseline, always runs): userinfo,
    /// page-first, page-first-1, page-middle, all, all-1, filter-sync, filter-search, rbac-page,
    /// grpc-page, grpc-page-1, grpc-all.
    #[arg(long)]
    only: Vec<String>,
    /// `policy.default` of argocd-rbac-cm (empty: none, so the team user's lists are filtered).
    #[arg(long, default_value = "")]
    policy_default: String,
    /// The api-server binary (default: `target/release/capstan-api-server`).
    #[arg(long)]
    api_server_bin: Option<PathBuf>,
    /// API requests in flight at once while creating the apps.
    #[arg(long, default_value_t = 16)]
    parallelism: usize,
    /// Limit for each waiting phase, in seconds.
    #[arg(long, default_value_t = 120)]
    phase_timeout: u64,
    /// Keep the namespace (and the api-server's log) after the run.
    #[arg(long)]
    keep: bool,
    /// Also run the auth-gateway in front and repeat the main scenarios through it.
    #[arg(long)]
    gateway: bool,
    /// The auth-gateway binary (default: `target/release/capstan-auth-gateway`).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
}

const TEAM_USER: &str = "alice@example.com";
/// The project (index) the team user may read.
const TEAM: usize = 3;
const SEARCH: &str = "prod";
const SEED_POLICY: &str = "# Developers can view and sync apps
p, role:developer, applications, get, */*, allow
p, role:developer, applications, sync, */*, allow
p, role:developer, logs, get, */*, allow
p, role:developer, exec, create, */*, deny

# DevOps can do everything
p, role:devops, applications, *, */*, allow
p, role:devops, clusters, *, *, allow
p, role:devops, repositories, *, *, allow
p, role:devops, projects, *, *, allow

# Map Azure AD groups to roles
g, devops-team@example.com, role:devops
g, developers@example.com, role:developer
";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn kib(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / 1024.0 / 1024.0)
    } else {
        format!("{:.1} KiB", bytes / 1024.0)
    }
}

/// Nearest-rank percentile `p` (0..=1) of sorted, non-empty `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

// ----- the load generator -----

/// What a scenario requests.
#[derive(Clone, Debug)]
enum Target {
    /// An HTTP/1.1 GET of `path`, with `Authorization: Bearer <token>` when there is one.
    Rest { path: String, token: Option<String> },
    /// `ApplicationService/List` over gRPC.
    Grpc {
        query: Box<pb::ApplicationQuery>,
        token: String,
    },
}

/// An HTTP/1.1 keep-alive connection with a minimal client: `Content-Length` bodies only
/// (which is how axum sends JSON), reconnecting when the server closes.
struct HttpConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    body: std::ops::Range<usize>,
}

impl HttpConn {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
            body: 0..0,
        }
    }

    fn request(addr: SocketAddr, path: &str, token: Option<&str>) -> Vec<u8> {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: api-list-bench\r\nAccept: application/json\r\n{auth}\r\n"
        )
        .into_bytes()
    }

    /// Sends `request`; returns the status. The body is [`Self::body`] until the next call.
    async fn send(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        loop {
            let reused = self.stream.is_some();
            if !reused {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                self.stream = Some(stream);
            }
            match self.exchange(request).await {
                Ok(status) => return Ok(status),
                Err(e) => {
                    self.stream = None;
                    // A reused connection may have been closed by the server while idle: retry
                    // once on a fresh one.
                    if !reused {
                        return Err(e);
                    }
                }
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        let stream = self.stream.as_mut().context("not connected")?;
        stream.write_all(request).await?;
        self.buf.clear();
        let header_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.buf.reserve(16 * 1024);
            if stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection");
            }
        };
        let head = std::str::from_utf8(&self.buf[..header_end])?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .context("no HTTP status line")?;
        let (mut length, mut close) = (None, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>()?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("Transfer-Encoding {value} is not supported by this client");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let total = header_end + length.context("no Content-Length")?;
        while self.buf.len() < total {
            self.buf.reserve((total - self.buf.len()).max(64 * 1024));
            if stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection in the body");
            }
        }
        self.body = header_end..total;
        if close {
            self.stream = None;
        }
        Ok(status)
    }

    fn body(&self) -> &[u8] {
        &self.buf[self.body.clone()]
    }
}

async fn grpc_client(
    addr: SocketAddr,
) -> anyhow::Result<ApplicationServiceClient<tonic::transport::Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(ApplicationServiceClient::new(channel).max_decoding_message_size(512 * 1024 * 1024))
}

fn grpc_request(
    query: &pb::ApplicationQuery,
    auth: &MetadataValue<Ascii>,
) -> tonic::Request<pb::ApplicationQuery> {
    let mut request = tonic::Request::new(query.clone());
    request.metadata_mut().insert("authorization", auth.clone());
    request
}

/// One request's answer: items and `metadata.continue`, for lists.
#[derive(Debug)]
struct Answer {
    items: Option<usize>,
    continue_token: Option<String>,
}

/// One request, checked (status 200, JSON).
async fn probe(addr: SocketAddr, target: &Target) -> anyhow::Result<Answer> {
    match target {
        Target::Rest { path, token } => {
            let mut conn = HttpConn::new(addr);
            let status = conn
                .send(&HttpConn::request(addr, path, token.as_deref()))
                .await?;
            let body = conn.body();
            if status != 200 {
                bail!("GET {path}: {status} {}", String::from_utf8_lossy(body));
            }
            let value: Value =
                serde_json::from_slice(body).with_context(|| format!("GET {path}: not JSON"))?;
            Ok(Answer {
                items: value["items"].as_array().map(Vec::len),
                continue_token: value["metadata"]["continue"].as_str().map(str::to_owned),
            })
        }
        Target::Grpc { query, token } => {
            let auth: MetadataValue<Ascii> = format!("Bearer {token}").parse()?;
            let list = grpc_client(addr)
                .await?
                .list(grpc_request(query, &auth))
                .await?
                .into_inner();
            let continue_token = list
                .metadata
                .as_ref()
                .map(|m| m.r#continue.clone())
                .filter(|c| !c.is_empty());
            Ok(Answer {
                items: Some(list.items.len()),
                continue_token,
            })
        }
    }
}

/// What one worker saw inside the measurement window.
#[derive(Debug, Default)]
struct Samples {
    latencies: Vec<Duration>,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Samples {
    fn record(
        &mut self,
        started: Instant,
        window: (Instant, Instant),
        result: Result<usize, String>,
    ) {
        if started < window.0 || started >= window.1 {
            return;
        }
        self.latencies.push(started.elapsed());
        match result {
            Ok(bytes) => self.bytes += bytes as u64,
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// Sends requests back to back until `window.1`; records those started inside `window`.
async fn worker(
    addr: SocketAddr,
    target: Target,
    window: (Instant, Instant),
) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    match target {
        Target::Rest { path, token } => {
            let request = HttpConn::request(addr, &path, token.as_deref());
            let mut conn = HttpConn::new(addr);
            loop {
                let started = Instant::now();
                if started >= window.1 {
                    break;
                }
                let result = match conn.send(&request).await {
                    Ok(200) => Ok(conn.body().len()),
                    Ok(status) => Err(format!("{status} {}", String::from_utf8_lossy(conn.body()))),
                    Err(e) => Err(format!("{e:#}")),
                };
                samples.record(started, window, result);
            }
        }
        Target::Grpc { query, token } => {
            let auth: MetadataValue<Ascii> = format!("Bearer {token}").parse()?;
            let mut client = grpc_client(addr).await?;
            loop {
                let started = Instant::now();
                if started >= window.1 {
                    break;
                }
                let result = match client.list(grpc_request(&query, &auth)).await {
                    Ok(list) => Ok(list.get_ref().encoded_len()),
                    Err(status) => Err(status.to_string()),
                };
                samples.record(started, window, result);
            }
        }
    }
    Ok(samples)
}

/// A scenario's figures.
#[derive(Debug)]
struct Outcome {
    key: &'static str,
    what: String,
    concurrency: usize,
    items: Option<usize>,
    /// Sorted.
    latencies: Vec<Duration>,
    bytes: u64,
    errors: u64,
    window: Duration,
    server_cpu: f64,
    client_cpu: f64,
    /// CPU seconds every other process of the machine used meanwhile.
    other_cpu: f64,
}

impl Outcome {
    fn requests(&self) -> usize {
        self.latencies.len()
    }

    fn rate(&self) -> f64 {
        self.requests() as f64 / self.window.as_secs_f64()
    }

    fn p(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            Duration::ZERO
        } else {
            percentile(&self.latencies, p)
        }
    }

    fn per_thousand(&self, cpu: f64) -> f64 {
        cpu * 1000.0 / self.requests().max(1) as f64
    }
}

struct Scenario {
    key: &'static str,
    /// Sent through the auth-gateway rather than to the api-server.
    via_gateway: bool,
    what: String,
    target: Target,
    /// Items every answer must have.
    expect: Option<usize>,
    concurrency: usize,
}

async fn run_scenario(
    servers: &mut [&mut Process],
    addr: SocketAddr,
    scenario: &Scenario,
    args: &Args,
    ticks: f64,
) -> anyhow::Result<Outcome> {
    let answer = probe(addr, &scenario.target)
        .await
        .with_context(|| format!("scenario {}", scenario.key))?;
    if answer.items != scenario.expect {
        bail!(
            "scenario {}: {:?} items, expected {:?}",
            scenario.key,
            answer.items,
            scenario.expect
        );
    }
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let start = Instant::now() + warmup;
    let window = (start, start + duration);
    let workers: Vec<_> = (0..scenario.concurrency)
        .map(|_| tokio::spawn(worker(addr, scenario.target.clone(), window)))
        .collect();
    tokio::time::sleep_until(window.0.into()).await;
    let me = std::process::id();
    let server_cpu = |servers: &mut [&mut Process]| -> anyhow::Result<f64> {
        servers.iter_mut().map(|p| p.cpu_seconds(ticks)).sum()
    };
    let (server0, client0, busy0) = (
        server_cpu(servers)?,
        cpu_seconds(me, ticks)?,
        machine_busy_seconds(ticks)?,
    );
    tokio::time::sleep_until(window.1.into()).await;
    let (server1, client1, busy1) = (
        server_cpu(servers)?,
        cpu_seconds(me, ticks)?,
        machine_busy_seconds(ticks)?,
    );
    let mut all = Samples::default();
    for w in workers {
        let s = w.await??;
        all.latencies.extend(s.latencies);
        all.bytes += s.bytes;
        all.errors += s.errors;
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    for server in servers.iter_mut() {
        server.check_running()?;
    }
    if let Some(e) = &all.first_error {
        eprintln!(
            "warning: scenario {}: {} errors, e.g. {e}",
            scenario.key, all.errors
        );
    }
    all.latencies.sort();
    Ok(Outcome {
        key: scenario.key,
        what: scenario.what.clone(),
        concurrency: scenario.concurrency,
        items: answer.items,
        latencies: all.latencies,
        bytes: all.bytes,
        errors: all.errors,
        window: duration,
        server_cpu: server1 - server0,
        client_cpu: client1 - client0,
        other_cpu: ((busy1 - busy0) - (server1 - server0) - (client1 - client0)).max(0.0),
    })
}

// ----- setup -----

/// Walks the whole list in pages of `limit` (so no response is large): the apps listed and
/// how many of them have a sync status.
async fn count_listed(
    addr: SocketAddr,
    token: &str,
    limit: usize,
) -> anyhow::Result<(usize, usize)> {
    let mut conn = HttpConn::new(addr);
    let (mut listed, mut with_status) = (0, 0);
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/applications?limit={limit}");
        if let Some(t) = &after {
            path.push_str(&format!("&continue={t}"));
        }
        let status = conn
            .send(&HttpConn::request(addr, &path, Some(token)))
            .await?;
        anyhow::ensure!(status == 200, "GET {path}: {status}");
        let page: Value = serde_json::from_slice(conn.body())?;
        let items = page["items"].as_array().map_or(&[][..], Vec::as_slice);
        listed += items.len();
        with_status += items
            .iter()
            .filter(|a| a["status"]["sync"]["status"].is_string())
            .count();
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => after = Some(t.to_owned()),
            _ => return Ok((listed, with_status)),
        }
    }
}

/// Starts the api-server for `namespace` and waits until it is ready; returns it, its API
/// address and how long it took.
async fn start_api_server(
    bin: &Path,
    env: &TestEnv,
    namespace: &str,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<(Process, SocketAddr, Duration)> {
    let listen = free_local_addr()?;
    let metrics = free_local_addr()?;
    let started = Instant::now();
    let mut api = Process::spawn(
        "the api-server",
        bin,
        &[
            ("KUBECONFIG", env.kubeconfig().to_owned()),
            ("CAPSTAN_API_SERVER_NAMESPACE", namespace.to_owned()),
            ("CAPSTAN_API_SERVER_LISTEN_ADDR", listen.to_string()),
            ("CAPSTAN_API_SERVER_METRICS_ADDR", metrics.to_string()),
            ("CAPSTAN_API_SERVER_REDIS_URL", env.redis_url().to_owned()),
            (
                "CAPSTAN_API_SERVER_REPO_SERVER",
                "http://127.0.0.1:1".to_owned(),
            ),
        ],
        &["CAPSTAN_API_SERVER_CACHE_KEY_FILE"],
        metrics,
        log,
    )?;
    api.wait_admin_ok("/readyz", timeout).await?;
    let ready = started.elapsed();
    eprintln!(
        "api-server ready (pid {}, API {listen}) after {}",
        api.pid(),
        ms(ready)
    );
    Ok((api, listen, ready))
}

/// Starts the auth-gateway in front of the api-server at `api`; returns it and its public
/// address once ready.
async fn start_gateway(
    bin: &Path,
    env: &TestEnv,
    namespace: &str,
    api: SocketAddr,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<(Process, SocketAddr)> {
    let listen = free_local_addr()?;
    let grpc = free_local_addr()?;
    let metrics = free_local_addr()?;
    let mut gw = Process::spawn(
        "the auth-gateway",
        bin,
        &[
            ("KUBECONFIG", env.kubeconfig().to_owned()),
            ("CAPSTAN_AUTH_GATEWAY_NAMESPACE", namespace.to_owned()),
            ("CAPSTAN_AUTH_GATEWAY_LISTEN_ADDR", listen.to_string()),
            ("CAPSTAN_AUTH_GATEWAY_GRPC_ADDR", grpc.to_string()),
            ("CAPSTAN_AUTH_GATEWAY_METRICS_ADDR", metrics.to_string()),
            ("CAPSTAN_AUTH_GATEWAY_REDIS_URL", env.redis_url().to_owned()),
            ("CAPSTAN_AUTH_GATEWAY_API_SERVER", format!("http://{api}")),
        ],
        &["CAPSTAN_AUTH_GATEWAY_CACHE_KEY_FILE"],
        metrics,
        &log.with_extension("gateway.log"),
    )?;
    gw.wait_admin_ok("/readyz", timeout).await?;
    eprintln!("auth-gateway ready (pid {}, {listen})", gw.pid());
    Ok((gw, listen))
}

/// `count` password logins as admin (the initial password) through the gateway, one after
/// another: their latencies, sorted.
async fn password_logins(
    client: &Client,
    namespace: &str,
    gateway: SocketAddr,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get("argocd-initial-admin-secret")
        .await
        .context("reading the initial admin password")?;
    let password = secret
        .data
        .and_then(|d| {
            d.get("password")
                .map(|p| String::from_utf8_lossy(&p.0).into_owned())
        })
        .context("the initial admin Secret has no password")?;
    let body = json!({"username": "admin", "password": password}).to_string();
    let request = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: {gateway}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let mut conn = HttpConn::new(gateway);
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let status = conn.send(&request).await?;
        latencies.push(started.elapsed());
        anyhow::ensure!(
            status == 200,
            "login: {status}: {}",
            String::from_utf8_lossy(conn.body())
        );
    }
    latencies.sort();
    Ok(latencies)
}

/// The 1-minute load average.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Session tokens for `admin` and the team user, signed with the api-server's keys.
async fn mint_tokens(client: &Client, namespace: &str) -> anyhow::Result<(String, String)> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get("capstan-signing-keys")
        .await
        .context("reading the api-server's signing keys")?;
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let keys = KeySet::from_secret_data(&data)?;
    let ttl = Duration::from_secs(3600);
    let admin = keys.sign(&Claims::new_session("admin", vec![], unix_now(), ttl))?;
    let team = keys.sign(&Claims::new_session(
        TEAM_USER,
        vec![format!("team-{TEAM}@example.com")],
        unix_now(),
        ttl,
    ))?;
    Ok((admin, team))
}

fn rbac_policy(projects: usize) -> String {
    let mut policy = SEED_POLICY.to_owned();
    policy.push_str("\n# One role per team, reading and syncing its project's apps\n");
    for k in 0..projects {
        policy.push_str(&format!(
            "p, role:team-{k}, applications, get, team-{k}/*, allow\np, role:team-{k}, applications, sync, team-{k}/*, allow\ng, team-{k}@example.com, role:team-{k}\n"
        ));
    }
    policy
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.apps > 0 && args.projects > TEAM && args.page_size > 0 && args.concurrency > 0,
        "--apps, --page-size and --concurrency must be at least 1 and --projects at least {}",
        TEAM + 1
    );
    let env = TestEnv::from_env()?;
    let client = env.kube_client().await?;
    install_crds(&client).await?;
    let namespace = env.unique_namespace("api-bench").await?;
    let log = std::env::temp_dir().join(format!("api-list-bench-{}.log", namespace.name));
    let result = measure(&args, &env, &client, &namespace.name, &log).await;
    if args.keep {
        eprintln!(
            "keeping namespace {}; api-server log: {}",
            namespace.name,
            log.display()
        );
        // The guard would delete the namespace on drop.
        std::mem::forget(namespace);
        return result;
    }
    if result.is_ok() {
        let _ = std::fs::remove_file(&log);
    } else {
        eprintln!("api-server log: {}", log.display());
    }
    eprintln!("cleaning up (namespace {})", namespace.name);
    drop(namespace);
    result
}

async fn measure(
    args: &Args,
    env: &TestEnv,
    client: &Client,
    namespace: &str,
    log: &Path,
) -> anyhow::Result<()> {
    let n = args.apps;
    let phase = Duration::from_secs(args.phase_timeout);
    let ticks = clock_ticks();
    let bin = args
        .api_server_bin
        .clone()
        .unwrap_or_else(|| workspace().join("target/release/capstan-api-server"));
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: cargo build --release -p capstan-api-server",
        bin.display()
    );

    // Control plane: settings and projects.
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let mut rbac = json!({"policy.csv": rbac_policy(args.projects), "scopes": "[groups]"});
    if !args.policy_default.is_empty() {
        rbac["policy.default"] = json!(args.policy_default);
    }
    for (name, data) in [("argocd-cm", json!({})), ("argocd-rbac-cm", rbac)] {
        let cm = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "argocd"}},
            "data": data,
        }))?;
        config_maps.create(&PostParams::default(), &cm).await?;
    }
    let projects = Api::<AppProject>::namespaced(client.clone(), namespace);
    for k in 0..args.projects {
        let project: AppProject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": format!("team-{k}"), "namespace": namespace},
            "spec": {
                "description": format!("Team {k}'s services"),
                "sourceRepos": [REPO],
                "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "svc-*"}],
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            },
        }))?;
        projects.create(&PostParams::default(), &project).await?;
    }

    // The api-server, its own process.
    let load_before = load_average();
    let (mut api, listen, to_ready) = start_api_server(&bin, env, namespace, log, phase).await?;
    let (admin, team) = mint_tokens(client, namespace).await?;
    let list_all = Target::Rest {
        path: "/api/v1/applications".to_owned(),
        token: Some(admin.clone()),
    };
    let empty = probe(listen, &list_all).await?;
    anyhow::ensure!(
        empty.items == Some(0),
        "a fresh namespace lists {:?} apps",
        empty.items
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    api.check_running()?;
    let (hwm_empty, rss_empty) = api.memory()?;

    // N Applications, then their statuses.
    eprintln!("creating {n} applications");
    let started = Instant::now();
    let apps: Api<Application> = Api::namespaced(client.clone(), namespace);
    all_limited(
        (0..n).map(|i| {
            let apps = apps.clone();
            async move {
                apps.create(
                    &PostParams::default(),
                    &application(i, namespace, args.projects)?,
                )
                .await
                .with_context(|| format!("creating {}", app_name(i)))?;
                Ok(())
            }
        }),
        args.parallelism,
    )
    .await?;
    all_limited(
        (0..n).map(|i| {
            let apps = apps.clone();
            async move {
                let patch = json!({"status": status(i, namespace)});
                apps.patch_status(&app_name(i), &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .with_context(|| format!("writing the status of {}", app_name(i)))?;
                Ok(())
            }
        }),
        args.parallelism,
    )
    .await?;
    let setup = started.elapsed();

    // Until the api-server's list has every app with its status (walked in pages, so that
    // no large response adds to the memory measured next).
    let started = Instant::now();
    let deadline = started + phase;
    loop {
        api.check_running()?;
        let (listed, with_status) = count_listed(listen, &admin, args.page_size).await?;
        if listed == n && with_status == n {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "after {phase:?} the api-server lists {listed} apps, {with_status} with a status"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let to_visible = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    api.check_running()?;
    let (hwm_loaded, rss_loaded) = api.memory()?;

    // A second api-server started with the N apps already there: its initial LIST only, no
    // watch events.
    eprintln!("a second api-server, started with {n} apps present");
    let (rss_fresh, hwm_fresh, fresh_ready) = {
        let (mut fresh, fresh_addr, ready) =
            start_api_server(&bin, env, namespace, log, phase).await?;
        let (listed, _) = count_listed(fresh_addr, &admin, args.page_size).await?;
        anyhow::ensure!(listed == n, "the second api-server lists {listed} apps");
        tokio::time::sleep(Duration::from_secs(2)).await;
        fresh.check_running()?;
        let (hwm, rss) = fresh.memory()?;
        fresh.stop();
        (rss, hwm, ready)
    };

    // One full list, for the JSON size of an app.
    let full = {
        let mut conn = HttpConn::new(listen);
        let status = conn
            .send(&HttpConn::request(
                listen,
                "/api/v1/applications",
                Some(&admin),
            ))
            .await?;
        anyhow::ensure!(status == 200, "listing: {status}");
        conn.body().len()
    };

    // Baseline: the kube-apiserver's LIST of the same Applications, raw JSON (median of 10).
    let mut kube_lists = Vec::new();
    let mut kube_bytes = 0;
    for _ in 0..10 {
        let request = kube::core::Request::new(format!(
            "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications"
        ))
        .list(&ListParams::default())?;
        let started = Instant::now();
        let text = client.request_text(request).await?;
        kube_lists.push(started.elapsed());
        kube_bytes = text.len();
    }
    kube_lists.sort();
    let kube_list = percentile(&kube_lists, 0.5);

    // The continue token of the middle page.
    let pages = n.div_ceil(args.page_size);
    let middle = (pages / 2).max(1);
    let mut token = None;
    for _ in 0..middle {
        let mut path = format!("/api/v1/applications?limit={}", args.page_size);
        if let Some(t) = &token {
            path.push_str(&format!("&continue={t}"));
        }
        let page = probe(
            listen,
            &Target::Rest {
                path,
                token: Some(admin.clone()),
            },
        )
        .await?;
        token = page.continue_token;
    }

    // Scenarios.
    let limit = args.page_size;
    let page = |count: usize| Some(count.min(limit));
    let rest = |path: String, token: &str| Target::Rest {
        path,
        token: Some(token.to_owned()),
    };
    let grpc_concurrency = args.grpc_concurrency.unwrap_or(args.concurrency);
    let query = |limit: usize| {
        Box::new(pb::ApplicationQuery {
            limit: limit as u32,
            ..Default::default()
        })
    };
    let team_apps = (0..n).filter(|i| i % args.projects == TEAM).count();
    let out_of_sync_apps = (0..n).filter(|i| out_of_sync(*i)).count();
    let search_apps = (0..n).filter(|i| app_name(*i).contains(SEARCH)).count();
    let middle_items = n.saturating_sub(middle * limit).min(limit);
    let mut scenarios = vec![
        Scenario {
            via_gateway: false,
            key: "version",
            what: "`GET /api/version` (no token) — baseline".to_owned(),
            target: Target::Rest {
                path: "/api/version".to_owned(),
                token: None,
            },
            expect: None,
            concurrency: args.concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "userinfo",
            what: "`GET /api/v1/session/userinfo` (admin): authentication only".to_owned(),
            target: rest("/api/v1/session/userinfo".to_owned(), &admin),
            expect: None,
            concurrency: args.concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "page-first",
            what: format!("`GET /api/v1/applications?limit={limit}` (admin), first page"),
            target: rest(format!("/api/v1/applications?limit={limit}"), &admin),
            expect: page(n),
            concurrency: args.concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "all",
            what: "`GET /api/v1/applications` (admin), everything".to_owned(),
            target: list_all.clone(),
            expect: Some(n),
            concurrency: args.concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "filter-sync",
            what: format!(
                "`GET /api/v1/applications?limit={limit}&syncStatus=OutOfSync` (admin; {out_of_sync_apps} match)"
            ),
            target: rest(
                format!("/api/v1/applications?limit={limit}&syncStatus=OutOfSync"),
                &admin,
            ),
            expect: page(out_of_sync_apps),
            concurrency: args.concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "filter-search",
            what: format!(
                "`GET /api/v1/applications?limit={limit}&search={SEARCH}` (admin; {search_apps} match)"
            ),
            target: rest(
                format!("/api/v1/applications?limit={limit}&search={SEARCH}"),
                &admin,
            ),
            expect: page(search_apps),
            concurrency: args.concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "rbac-page",
            what: format!(
                "`GET /api/v1/applications?limit={limit}` as a team-{TEAM} user ({team_apps} of {n} readable)"
            ),
            target: rest(format!("/api/v1/applications?limit={limit}"), &team),
            expect: page(team_apps),
            concurrency: args.concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "grpc-page",
            what: format!("gRPC `ApplicationService/List` limit {limit} (admin)"),
            target: Target::Grpc {
                query: query(limit),
                token: admin.clone(),
            },
            expect: page(n),
            concurrency: grpc_concurrency,
        },
        Scenario {
            via_gateway: false,
            key: "grpc-all",
            what: "gRPC `ApplicationService/List`, no limit (admin)".to_owned(),
            target: Target::Grpc {
                query: query(0),
                token: admin.clone(),
            },
            expect: Some(n),
            concurrency: grpc_concurrency,
        },
    ];
    if let Some(token) = &token {
        scenarios.insert(
            3,
            Scenario {
                via_gateway: false,
                key: "page-middle",
                what: format!(
                    "`GET /api/v1/applications?limit={limit}&continue=…` (admin), page {} of {pages}",
                    middle + 1
                ),
                target: rest(
                    format!("/api/v1/applications?limit={limit}&continue={token}"),
                    &admin,
                ),
                expect: Some(middle_items),
                concurrency: args.concurrency,
            },
        );
    }
    // Through the front door: the same requests, proxied.
    let mut gateway = None;
    if args.gateway {
        let gw_bin = args
            .gateway_bin
            .clone()
            .unwrap_or_else(|| workspace().join("target/release/capstan-auth-gateway"));
        anyhow::ensure!(
            gw_bin.is_file(),
            "{} is missing: cargo build --release -p capstan-auth-gateway",
            gw_bin.display()
        );
        gateway = Some(start_gateway(&gw_bin, env, namespace, listen, log, phase).await?);
        let via = ["version", "userinfo", "page-first", "grpc-page"];
        let proxied: Vec<Scenario> = scenarios
            .iter()
            .filter(|s| via.contains(&s.key))
            .map(|s| Scenario {
                via_gateway: true,
                key: match s.key {
                    "version" => "gw-version",
                    "userinfo" => "gw-userinfo",
                    "page-first" => "gw-page-first",
                    _ => "gw-grpc-page",
                },
                what: format!("{}, through the auth-gateway", s.what),
                target: s.target.clone(),
                expect: s.expect,
                concurrency: s.concurrency,
            })
            .collect();
        scenarios.extend(proxied);
    }
    // One-connection variants: the latency of a lone caller, without queueing behind the
    // other workers.
    let mut scenarios: Vec<Scenario> = scenarios
        .into_iter()
        .flat_map(|s| {
            let serial = match s.key {
                "page-first" => Some("page-first-1"),
                "all" => Some("all-1"),
                "grpc-page" => Some("grpc-page-1"),
                "gw-page-first" => Some("gw-page-first-1"),
                _ => None,
            }
            .map(|key| Scenario {
                via_gateway: s.via_gateway,
                key,
                what: format!("{}, one connection", s.what),
                target: s.target.clone(),
                expect: s.expect,
                concurrency: 1,
            });
            std::iter::once(s).chain(serial)
        })
        .collect();
    if !args.only.is_empty() {
        scenarios.retain(|s| s.key == "version" || args.only.iter().any(|o| o == s.key));
    }
    let mut outcomes = Vec::new();
    for scenario in &scenarios {
        eprintln!("scenario {}: {}", scenario.key, scenario.what);
        let outcome = match (&mut gateway, scenario.via_gateway) {
            (Some((gw, gw_addr)), true) => {
                let addr = *gw_addr;
                run_scenario(&mut [&mut api, gw], addr, scenario, args, ticks).await?
            }
            _ => run_scenario(&mut [&mut api], listen, scenario, args, ticks).await?,
        };
        eprintln!(
            "  {} requests, {:.0}/s, p50 {}, p99 {}",
            outcome.requests(),
            outcome.rate(),
            ms(outcome.p(0.5)),
            ms(outcome.p(0.99))
        );
        outcomes.push(outcome);
    }
    api.check_running()?;
    let (hwm_end, rss_end) = api.memory()?;
    let logins = match &mut gateway {
        Some((gw, gw_addr)) => {
            let latencies = password_logins(client, namespace, *gw_addr, 20).await?;
            let memory = gw.memory()?;
            gw.stop();
            Some((latencies, memory))
        }
        None => None,
    };
    api.stop();

    // Report.
    println!(
        "api-server list benchmark: {n} Applications in {} projects ({out_of_sync_apps} OutOfSync), {} JSON per app; {} s per scenario after {} s warm-up; {} cores shared by the api-server, the load generator and everything else (load average {load_before} before, {} after)",
        args.projects,
        kib(full as f64 / n as f64),
        args.duration,
        args.warmup,
        std::thread::available_parallelism()?.get(),
        load_average(),
    );
    println!();
    println!("| baseline and setup | value |");
    println!("|---|---|");
    println!(
        "| kube-apiserver LIST of the same {n} Applications (raw JSON, {}), median of 10 sequential | {} |",
        kib(kube_bytes as f64),
        ms(kube_list)
    );
    println!("| api-server start → ready (0 apps) | {} |", ms(to_ready));
    println!(
        "| api-server start → ready ({n} apps present: initial LIST) | {} |",
        ms(fresh_ready)
    );
    println!(
        "| create {n} Applications + {n} status patches ({} in flight) | {} |",
        args.parallelism,
        ms(setup)
    );
    println!(
        "| last status patch → the api-server lists all {n} with status | {} |",
        ms(to_visible)
    );
    println!();
    let baseline = outcomes.iter().find(|o| o.key == "version");
    let base_p50 = baseline.map(|b| b.p(0.5).as_secs_f64());
    let base_rate = baseline.map(Outcome::rate);
    println!(
        "| 1. scenario | conc. | items | bytes/resp | requests | req/s | p50 | p90 | p99 | max | server CPU s / 1k req | client CPU s / 1k req | other processes (cores busy) | p50 ÷ baseline | req/s ÷ baseline | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for o in &outcomes {
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.3} | {:.3} | {:.2} | {} | {} | {} |",
            o.what,
            o.concurrency,
            o.items.map_or("–".to_owned(), |i| i.to_string()),
            kib(o.bytes as f64 / o.requests().max(1) as f64),
            o.requests(),
            o.rate(),
            ms(o.p(0.5)),
            ms(o.p(0.9)),
            ms(o.p(0.99)),
            ms(o.p(1.0)),
            o.per_thousand(o.server_cpu),
            o.per_thousand(o.client_cpu),
            o.other_cpu / o.window.as_secs_f64(),
            base_p50.map_or("–".to_owned(), |b| format!(
                "{:.1}",
                o.p(0.5).as_secs_f64() / b
            )),
            base_rate.map_or("–".to_owned(), |b| format!("{:.3}", o.rate() / b)),
            o.errors,
        );
    }
    if let Some((latencies, (hwm, rss))) = &logins {
        println!();
        println!(
            "Through the auth-gateway ÷ direct, same scenario (1 = no cost): {}",
            outcomes
                .iter()
                .filter(|o| o.key.starts_with("gw-"))
                .filter_map(|gw| {
                    let direct = outcomes.iter().find(|d| d.key == &gw.key[3..])?;
                    Some(format!(
                        "{}: p50 × {:.2}, req/s × {:.2}, CPU/req × {:.2}",
                        &gw.key[3..],
                        gw.p(0.5).as_secs_f64() / direct.p(0.5).as_secs_f64(),
                        gw.rate() / direct.rate(),
                        gw.per_thousand(gw.server_cpu) / direct.per_thousand(direct.server_cpu)
                    ))
                })
                .collect::<Vec<_>>()
                .join("; ")
        );
        println!();
        println!("| auth-gateway | value |");
        println!("|---|---|");
        println!(
            "| password login `POST /api/v1/session` (bcrypt cost 10), {} in a row: p50 / max | {} / {} |",
            latencies.len(),
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 1.0))
        );
        println!(
            "| gateway VmRSS / VmHWM after the load | {} / {} |",
            mib(*rss),
            mib(*hwm)
        );
    }
    println!();
    println!("| 2. api-server memory | VmRSS | VmHWM |");
    println!("|---|---|---|");
    println!(
        "| ready, 0 apps | {} | {} |",
        mib(rss_empty),
        mib(hwm_empty)
    );
    let per_app = |rss: u64| {
        let above = rss.saturating_sub(rss_empty) as f64 * 1024.0;
        format!(
            "{} ({:.1} × its JSON)",
            kib(above / n as f64),
            above / full as f64
        )
    };
    println!(
        "| {n} apps created and their statuses written while running (2×{n} watch events), idle | {} | {} |",
        mib(rss_loaded),
        mib(hwm_loaded)
    );
    println!(
        "| … per app (VmRSS above 0 apps ÷ {n}) | {} | |",
        per_app(rss_loaded)
    );
    println!(
        "| a second api-server started with the {n} apps present (initial LIST only), idle | {} | {} |",
        mib(rss_fresh),
        mib(hwm_fresh)
    );
    println!(
        "| … per app (VmRSS above 0 apps ÷ {n}) | {} | |",
        per_app(rss_fresh)
    );
    println!(
        "| after the load scenarios | {} | {} |",
        mib(rss_end),
        mib(hwm_end)
    );
    Ok(())
}
