//! `capstan-bench`'s shared parts: Capstan binaries (the application controller, the
//! api-server) run as their own processes (the way they run in production, so their RSS and CPU
//! are their own), reading their metrics, and a repo-server in this process.
//!
//! **Architecture Invariant:** benchmarks measure real components against the test
//! environment; nothing here fakes a component.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use capstan_e2e::TestEnv;

/// A Capstan binary run as its own process, with its admin HTTP endpoint (`/metrics`,
/// `/readyz`); killed on drop.
#[derive(Debug)]
pub struct Process {
    child: Child,
    /// What the messages call it ("the controller").
    name: String,
    admin: SocketAddr,
}

impl Process {
    /// Starts `bin` with `vars` set and `removed` unset on top of this process's environment
    /// (`CAPSTAN_LOG_LEVEL` is passed on, default `warn`), stdout and stderr appended to `log`.
    /// `admin` is the address its admin endpoint listens on (see [`free_local_addr`]).
    pub fn spawn(
        name: &str,
        bin: &Path,
        vars: &[(&str, String)],
        removed: &[&str],
        admin: SocketAddr,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = Command::new(bin);
        command.env(
            "CAPSTAN_LOG_LEVEL",
            std::env::var("CAPSTAN_LOG_LEVEL").unwrap_or_else(|_| "warn".to_owned()),
        );
        for var in removed {
            command.env_remove(var);
        }
        for (var, value) in vars {
            command.env(var, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            child,
            name: name.to_owned(),
            admin,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `(VmHWM, VmRSS)` in KiB.
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .with_context(|| format!("{name} in /proc/{}/status", self.pid()))
        };
        Ok((field("VmHWM:")?, field("VmRSS:")?))
    }

    /// utime + stime of the process, in seconds.
    pub fn cpu_seconds(&self, ticks_per_second: f64) -> anyhow::Result<f64> {
        cpu_seconds(self.pid(), ticks_per_second)
    }

    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited: {status}", self.name);
        }
        Ok(())
    }

    /// The body of `GET <path>` on the admin endpoint; an error unless the status is 200.
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<String> {
        let addr = self.admin;
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            let (head, body) = response
                .split_once("\r\n\r\n")
                .context("no HTTP header end")?;
            if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
                bail!("{path}: {}", head.lines().next().unwrap_or_default());
            }
            Ok(body.to_owned())
        })
        .await?
    }

    /// The `/metrics` text (OpenMetrics).
    pub async fn scrape(&self) -> anyhow::Result<String> {
        self.admin_get("/metrics").await
    }

    /// Waits until `GET <path>` on the admin endpoint answers 200.
    pub async fn wait_admin_ok(&mut self, path: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            match self.admin_get(path).await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("{}'s {path} does not answer", self.name)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The application controller, a [`Process`] (its methods through `Deref`).
#[derive(Debug)]
pub struct Controller(Process);

impl Controller {
    pub fn spawn(
        bin: &Path,
        env: &TestEnv,
        namespace: &str,
        repo_server: &str,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let metrics = free_local_addr()?;
        Process::spawn(
            "the controller",
            bin,
            &[
                ("KUBECONFIG", env.kubeconfig().to_owned()),
                ("CAPSTAN_CONTROLLER_NAMESPACE", namespace.to_owned()),
                ("CAPSTAN_CONTROLLER_REPO_SERVER", repo_server.to_owned()),
                ("CAPSTAN_CONTROLLER_METRICS_ADDR", metrics.to_string()),
            ],
            &["CAPSTAN_CONTROLLER_REDIS_URL"],
            metrics,
            log,
        )
        .map(Self)
    }

    /// Waits until the admin endpoint answers.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.0.wait_admin_ok("/metrics", timeout).await
    }
}

impl std::ops::Deref for Controller {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.0
    }
}

impl std::ops::DerefMut for Controller {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.0
    }
}

/// A free loopback address (`127.0.0.1:<port>`) for a child process to listen on.
pub fn free_local_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// utime + stime of process `pid`, in seconds (`std::process::id()` for this one).
pub fn cpu_seconds(pid: u32, ticks_per_second: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').context("/proc/<pid>/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()?
        + fields.get(12).context("stime")?.parse::<u64>()?;
    Ok(ticks as f64 / ticks_per_second)
}

/// A repo-server in this process (default settings, the test environment's Redis and
/// repository Secrets of `secrets_namespace`); stopped when dropped.
#[derive(Debug)]
pub struct RepoServer {
    /// Its gRPC address, `http://127.0.0.1:<port>`.
    pub url: String,
    _data: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl RepoServer {
    /// Starts it.
    pub async fn start(
        env: &TestEnv,
        client: kube::Client,
        secrets_namespace: &str,
    ) -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let mut config =
            capstan_repo_server::RepoServerConfig::new(data.path(), env.kubectl(), env.helm());
        config.redis_url = Some(env.redis_url().to_owned());
        config.secrets_namespace = Some(secrets_namespace.to_owned());
        let mut registry = prometheus_client::registry::Registry::default();
        let service =
            capstan_repo_server::build_service(&config, Some(client), &mut registry).await?;
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", grpc.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(capstan_repo_server::serve_service(
            service,
            registry,
            capstan_repo_server::ServeOptions { grpc, admin },
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            url,
            _data: data,
            _stop: stop,
        })
    }
}

/// The sum of every series of metric `name` (exact name, any labels).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                return None;
            }
            let value = match rest.rfind('}') {
                Some(i) => &rest[i + 1..],
                None => rest,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

/// Clock ticks per second (`getconf CLK_TCK`), to turn /proc CPU times into seconds.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU time all processes of the machine spent busy (user, nice, system, irq, softirq, steal
/// from `/proc/stat`), in seconds; the difference of two readings, less a process's own CPU
/// time, says how busy everything else kept the cores.
pub fn machine_busy_seconds(ticks_per_second: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal (guest time is part of user).
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum();
    Ok(busy as f64 / ticks_per_second)
}
