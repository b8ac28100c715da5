//! A real SSH Git server for end-to-end tests: Debian's OpenSSH `sshd`, one per test, serving
//! the test environment's bare repositories with the real `git-upload-pack`.
//!
//! [`SshGitServer::start`] generates, in a fresh temporary directory, an ed25519 host key, an
//! ed25519 client key pair (authorized for the current OS user, the only account it can log
//! in) and a second, unused host key for mismatch tests, writes an `sshd_config` and runs
//! `sshd -D -e` on a free loopback port. Nothing is faked: key exchange, host-key signatures,
//! public-key authentication and the Git protocol are OpenSSH's and Git's own. Host-key
//! verification is as strict as against any real host, so clients need
//! [`SshGitServer::known_hosts_line`] (or must skip verification explicitly).
//!
//! Key types: ed25519 for both the host key and the client key. libgit2 as Capstan builds it
//! (`git2` 0.21 with the vendored libssh2 1.11 on OpenSSL) verifies an `ssh-ed25519` host key
//! and authenticates with an unencrypted ed25519 key in OpenSSH format
//! (`-----BEGIN OPENSSH PRIVATE KEY-----`) from memory, which is also what `ssh-keygen` writes
//! by default and what users put in a repository Secret's `sshPrivateKey`; the test
//! `ssh_git_server_is_reachable_with_libgit2` in `e2e/tests/testenv.rs` checks it.
//!
//! The server runs git as the current user, through that user's login shell: bash sources
//! `~/.bashrc` for commands run by sshd, so it must print nothing on stdout (that would break
//! the Git protocol). `git-upload-pack` must be on sshd's default `PATH`
//! (`/usr/local/bin:/usr/bin:/bin`, for root also the `sbin` directories).
//!
//! `sshd` comes from the Debian package `openssh-server`, installed by
//! `e2e/scripts/install-deps.sh` without starting a system service; `$CAPSTAN_SSHD` names
//! another binary (an absolute path: sshd re-executes itself for every connection).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use capstan_e2e::{TestEnv, ssh::SshGitServer};
//! let env = TestEnv::from_env()?;
//! env.create_git_repo("demo", &[("app/cm.yaml", "kind: ConfigMap\n")])?;
//! let ssh = SshGitServer::start(&env).await?; // stopped when `ssh` is dropped
//! let url = ssh.url("demo"); // ssh://root@127.0.0.1:<port>/<GIT_REPOS_DIR>/demo.git
//! let secret_data = [("url", url.as_str()), ("sshPrivateKey", ssh.client_private_key())];
//! let known_hosts = ssh.known_hosts_line(); // for argocd-ssh-known-hosts-cm
//! # let _ = (secret_data, known_hosts); Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

/// The sshd binary when `$CAPSTAN_SSHD` is not set (Debian's `openssh-server`).
pub const DEFAULT_SSHD: &str = "/usr/sbin/sshd";

/// How long one start attempt waits for sshd's `SSH-2.0` banner.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Start attempts: the free port is only free until sshd binds it, another process may take
/// it in between (sshd then exits with "Address already in use" and we retry elsewhere).
const START_ATTEMPTS: usize = 3;
/// sshd's privilege separation directory (compiled in); it must exist when sshd runs as root.
const PRIVSEP_DIR: &str = "/run/sshd";

/// A real OpenSSH sshd on `127.0.0.1:<free port>` serving the test environment's bare Git
/// repositories (`<GIT_REPOS_DIR>/<name>.git`, as made by
/// [`TestEnv::create_git_repo`](crate::TestEnv::create_git_repo)) over `ssh://` with
/// public-key authentication only.
///
/// Its temporary directory holds `sshd_config`, the keys, `authorized_keys`, the pid file and
/// `sshd.log` (sshd's `-e` output at `LogLevel VERBOSE`: every connection, authentication and
/// command). Dropping the server (or [`SshGitServer::stop`]) kills sshd together with every
/// connection it forked, then removes the directory.
#[derive(Debug)]
pub struct SshGitServer {
    port: u16,
    user: String,
    repos_dir: PathBuf,
    /// `ssh-ed25519 AAAA…` (type and base64 blob, no comment).
    host_public_key: String,
    /// Another `ssh-ed25519 AAAA…` key that this server never presents.
    wrong_host_public_key: String,
    client_private_key: String,
    client_public_key: String,
    sshd: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl SshGitServer {
    /// Starts sshd (`/usr/sbin/sshd -D -e -f <config>`, or `$CAPSTAN_SSHD`) with a fresh
    /// ed25519 host key and a fresh ed25519 client key pair, in a temporary directory, and
    /// waits until its port answers with an `SSH-2.0` banner (10 s per attempt, up to 3
    /// attempts when another process takes the port first).
    ///
    /// Fails with the tail of sshd's log (its path is named, and the directory is kept for
    /// inspection) when sshd exits or does not answer in time; with a hint to run
    /// `e2e/scripts/install-deps.sh` when sshd or ssh-keygen is missing.
    pub async fn start(env: &crate::TestEnv) -> anyhow::Result<Self> {
        let repos_dir = env.git_repos_dir().to_path_buf();
        ensure!(
            repos_dir.is_absolute() && repos_dir.is_dir(),
            "GIT_REPOS_DIR {} is not an existing absolute directory",
            repos_dir.display()
        );
        let sshd = sshd_binary()?;
        let user = current_user().await?;
        if rustix::process::geteuid().is_root() {
            ensure_privsep_dir()?;
        }

        let dir = tempfile::Builder::new().prefix("capstan-sshd-").tempdir()?;
        // Three independent ssh-keygen runs (a few ms each).
        let (host, client, wrong) = tokio::try_join!(
            keygen(dir.path(), "host_ed25519", "capstan-e2e-sshd-host"),
            keygen(dir.path(), "client_ed25519", "capstan-e2e-client"),
            keygen(dir.path(), "wrong_host_ed25519", "capstan-e2e-wrong-host"),
        )?;
        // `restrict`: no pty, no forwarding of any kind, no ~/.ssh/rc; running a command
        // (git-upload-pack, git-receive-pack) is all this key may do.
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, format!("restrict {}\n", client.public_line))
            .with_context(|| format!("writing {}", authorized.display()))?;

        let mut server = SshGitServer {
            port: 0,
            user,
            repos_dir,
            host_public_key: host.public_key,
            wrong_host_public_key: wrong.public_key,
            client_private_key: client.private_key,
            client_public_key: client.public_key,
            sshd,
            child: None,
            dir,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match server.spawn().await {
                Ok(()) => return Ok(server),
                Err(e) if attempt < START_ATTEMPTS && server.log().contains("already in use") => {
                    eprintln!(
                        "sshd: port {} was taken, retrying on another port: {e:#}",
                        server.port
                    );
                }
                Err(e) => {
                    server.stop();
                    // Keep the config, keys and log for whoever reads the error.
                    server.dir.disable_cleanup(true);
                    return Err(e.context(format!(
                        "starting sshd for an SSH Git server (its config, keys and log are kept in {})",
                        server.dir.path().display()
                    )));
                }
            }
        }
    }

    /// Writes the config for a new free port, runs sshd and waits for its banner.
    async fn spawn(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = self.dir.path().join("sshd_config");
        std::fs::write(&config, self.sshd_config())
            .with_context(|| format!("writing {}", config.display()))?;
        let log_path = self.log_path();
        // A fresh log per attempt: "already in use" must be this attempt's complaint.
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let started = Instant::now();
        let child = Command::new(&self.sshd)
            .arg("-D") // foreground
            .arg("-e") // log to stderr, i.e. sshd.log
            .arg("-f")
            .arg(&config)
            // sshd builds each session's environment itself; nothing of ours leaks into it.
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", self.sshd.display()))?;
        self.child = Some(child);

        let deadline = started + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                bail!(
                    "sshd exited with {status} before listening on 127.0.0.1:{}; the end of its log {}:\n{}",
                    self.port,
                    log_path.display(),
                    self.log_tail()
                );
            }
            let port = self.port;
            let banner = tokio::task::spawn_blocking(move || ssh_banner(port))
                .await
                .context("probing sshd")?;
            if banner.as_deref().is_some_and(|b| b.starts_with("SSH-2.0-")) {
                tracing::debug!(port, took = ?started.elapsed(), "sshd is serving");
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                bail!(
                    "sshd did not answer with an SSH-2.0 banner on 127.0.0.1:{} within {START_TIMEOUT:?} (last answer: {banner:?}); the end of its log {}:\n{}",
                    self.port,
                    log_path.display(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn sshd_config(&self) -> String {
        let dir = self.dir.path();
        let path = |name: &str| dir.join(name).display().to_string();
        format!(
            "\
# Written by capstan_e2e::ssh::SshGitServer: a loopback Git server for one test.
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
AllowUsers {user}
# Tests run as root in CI containers; only the test's key can log in.
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
# The temporary directory and GIT_REPOS_DIR are not owned the way StrictModes wants.
StrictModes no
PermitUserEnvironment no
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PermitTTY no
PrintMotd no
PrintLastLog no
UseDNS no
LoginGraceTime 30
# Tests run in parallel and retry: never refuse a connection for being one too many.
MaxStartups 100
LogLevel VERBOSE
",
            port = self.port,
            host_key = path("host_ed25519"),
            pid_file = path("sshd.pid"),
            authorized_keys = path("authorized_keys"),
            user = self.user,
        )
    }

    /// `ssh://<user>@127.0.0.1:<port><GIT_REPOS_DIR>/<repo>.git`: the SSH URL of the
    /// repository `repo` (the user is the current OS user, the only account sshd lets in).
    ///
    /// There is no scp-like form (`<user>@127.0.0.1:<path>`): it cannot carry a port.
    pub fn url(&self, repo: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{repo}.git",
            self.user,
            self.port,
            self.repos_dir.display()
        )
    }

    /// The client private key (ed25519, unencrypted, OpenSSH format:
    /// `-----BEGIN OPENSSH PRIVATE KEY-----`), as a repository Secret's `sshPrivateKey` holds
    /// it. Its public half is the only key in the server's `authorized_keys`.
    pub fn client_private_key(&self) -> &str {
        &self.client_private_key
    }

    /// The client public key, `ssh-ed25519 AAAA…`.
    pub fn client_public_key(&self) -> &str {
        &self.client_public_key
    }

    /// The file holding [`client_private_key`](Self::client_private_key) (mode 0600), for
    /// `ssh -i`.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// The server's host public key, `ssh-ed25519 AAAA…`.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    /// A `known_hosts` line for this server: `[127.0.0.1]:<port> ssh-ed25519 AAAA…`.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_public_key)
    }

    /// A `known_hosts` line naming this server with another key (freshly generated at start,
    /// never presented by any server): for testing a host-key mismatch.
    pub fn wrong_known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.wrong_host_public_key)
    }

    /// The loopback port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OS user that logs in (the user running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// sshd's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything sshd logged so far (connections, authentications, commands).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sshd.log")
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        if tail.trim().is_empty() {
            "(empty)".to_string()
        } else {
            tail
        }
    }

    /// Kills sshd and every process it forked (connections, their shells, git-upload-pack)
    /// with SIGKILL, and reaps it. Idempotent; also done on drop.
    ///
    /// sshd puts each connection in a session of its own, so its process group alone would
    /// miss them: the whole tree is first frozen (SIGSTOP; a stopped process cannot fork, so
    /// the tree read from `/proc` is complete), then killed.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(root) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
            let _ = kill_process(root, Signal::STOP);
            let mut frozen = BTreeSet::new();
            for _ in 0..64 {
                let fresh: Vec<i32> = descendants(root.as_raw_pid())
                    .into_iter()
                    .filter(|pid| frozen.insert(*pid))
                    .collect();
                if fresh.is_empty() {
                    break;
                }
                for pid in fresh.into_iter().filter_map(Pid::from_raw) {
                    let _ = kill_process(pid, Signal::STOP);
                }
            }
            for pid in frozen.into_iter().filter_map(Pid::from_raw) {
                let _ = kill_process(pid, Signal::KILL);
            }
            let _ = kill_process_group(root, Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for SshGitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `$CAPSTAN_SSHD` (must be absolute) or [`DEFAULT_SSHD`], checked to exist.
fn sshd_binary() -> anyhow::Result<PathBuf> {
    let sshd = match std::env::var_os("CAPSTAN_SSHD") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            ensure!(
                path.is_absolute(),
                "CAPSTAN_SSHD={} must be an absolute path (sshd re-executes itself for every connection)",
                path.display()
            );
            path
        }
        _ => PathBuf::from(DEFAULT_SSHD),
    };
    ensure!(
        sshd.is_file(),
        "{} is missing: run e2e/scripts/install-deps.sh (Debian package openssh-server), or set CAPSTAN_SSHD",
        sshd.display()
    );
    Ok(sshd)
}

/// The name of the effective user (`id -un`, so NSS is asked just as sshd asks it).
async fn current_user() -> anyhow::Result<String> {
    let out = tokio::process::Command::new("id")
        .arg("-un")
        .output()
        .await
        .context("running id -un")?;
    ensure!(
        out.status.success(),
        "id -un failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let user = String::from_utf8(out.stdout)
        .context("the user name is not UTF-8")?
        .trim()
        .to_string();
    ensure!(!user.is_empty(), "id -un printed no user name");
    Ok(user)
}

/// Creates sshd's privilege separation directory (root-owned, 0755) when it is missing: it
/// lives on tmpfs (`/run`) and is normally made by the system service, which never runs here.
fn ensure_privsep_dir() -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = Path::new(PRIVSEP_DIR);
    if !dir.is_dir() {
        match std::fs::DirBuilder::new().mode(0o755).create(dir) {
            Ok(()) => {}
            // Another test created it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {PRIVSEP_DIR}")),
        }
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    ensure!(
        mode & 0o022 == 0,
        "{PRIVSEP_DIR} is group- or world-writable (mode {mode:o}): sshd refuses to run"
    );
    Ok(())
}

/// A key pair made by `ssh-keygen`.
struct KeyPair {
    /// The private key file's contents.
    private_key: String,
    /// `<type> <base64>`, without the comment.
    public_key: String,
    /// The whole public key line, with the comment.
    public_line: String,
}

/// `ssh-keygen -t ed25519` without a passphrase into `<dir>/<name>` (mode 0600) and
/// `<dir>/<name>.pub`.
async fn keygen(dir: &Path, name: &str, comment: &str) -> anyhow::Result<KeyPair> {
    let file = dir.join(name);
    let out = tokio::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .await
        .context(
            "running ssh-keygen: run e2e/scripts/install-deps.sh (Debian package openssh-client)",
        )?;
    ensure!(
        out.status.success(),
        "ssh-keygen -t ed25519 -f {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let private_key =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let pub_file = dir.join(format!("{name}.pub"));
    let public_line = std::fs::read_to_string(&pub_file)
        .with_context(|| format!("reading {}", pub_file.display()))?
        .trim()
        .to_string();
    let mut fields = public_line.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        bail!(
            "{} is not a public key: {public_line:?}",
            pub_file.display()
        );
    };
    Ok(KeyPair {
        private_key,
        public_key: format!("{kind} {blob}"),
        public_line,
    })
}

/// The identification line an SSH server sends first, or `None` when nothing answers.
fn ssh_banner(port: u16) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut buf = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    // RFC 4253: at most 255 characters, ending in CR LF.
    while buf.len() < 255 && stream.read(&mut byte).ok()? == 1 {
        if byte[0] == b'\n' {
            break;
        }
        buf.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&buf).trim_end().to_string()).filter(|b| !b.is_empty())
}

/// Every process below `root` (children, grandchildren, …), from `/proc/<pid>/stat`.
fn descendants(root: i32) -> Vec<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some(ppid) = parent_pid(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

/// The parent of `pid`: the 2nd field after the command name in `/proc/<pid>/stat` (the name
/// is in parentheses and may itself hold spaces and parentheses).
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_pid_reads_proc() {
        let me = std::process::id() as i32;
        let parent = std::os::unix::process::parent_id() as i32;
        assert_eq!(parent_pid(me), Some(parent));
        assert!(descendants(parent).contains(&me));
    }
}
