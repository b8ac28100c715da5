//! `capstan_e2e` — helpers for Capstan's integration tests against the local test environment.
//!
//! The environment is started by `e2e/testenv-up.sh` (after `e2e/scripts/install-deps.sh`)
//! and stopped by `e2e/testenv-down.sh`. It writes `$TESTENV_DIR/env` (default
//! `<workspace>/.testenv/env`), which [`TestEnv::from_env`] reads. When it is not running,
//! `from_env` returns an error telling so: tests that need it fail, they never skip silently.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use capstan_e2e::TestEnv;
//! let env = TestEnv::from_env()?;
//! let client = env.kube_client().await?;
//! let ns = env.unique_namespace("demo").await?; // deleted again when `ns` is dropped
//! let url = env.create_git_repo(&ns.name, &[("app/cm.yaml", "kind: ConfigMap\n")])?;
//! # let _ = (client, url); Ok(()) }
//! ```
//!
//! Every test gets its own namespace and its own repositories, so tests can run in parallel
//! (nextest runs each test in its own process).

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub mod browser;
mod crds;
pub mod fleet;
pub mod oidc;
mod redis;
pub mod ssh;
pub use crds::{FIELD_MANAGER, crd_dir, install_crds};
pub use redis::RedisServer;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The label put on every namespace made by [`TestEnv::unique_namespace`].
pub const NAMESPACE_LABEL: &str = "e2e.capstan.dev/test";

/// Variables that `testenv-up.sh` writes and that [`TestEnv`] requires.
const REQUIRED: &[&str] = &[
    "KUBECONFIG",
    "APISERVER_URL",
    "REDIS_URL",
    "GIT_HTTP_URL",
    "GIT_HTTP_USER",
    "GIT_HTTP_PASSWORD",
    "GIT_REPOS_DIR",
    "KUBECTL",
    "HELM",
];

const NOT_RUNNING: &str = "the test environment is not running: run e2e/testenv-up.sh";

/// The running test environment: a Kubernetes API, Redis, a Git smart-HTTP server, tools.
#[derive(Debug, Clone)]
pub struct TestEnv {
    vars: BTreeMap<String, String>,
}

impl TestEnv {
    /// Loads the environment from `$TESTENV_DIR/env` (`TESTENV_DIR` defaults to
    /// `<workspace>/.testenv`), or else from the process environment when it has all the
    /// variables. Fails when neither is there or the API server / Redis do not answer.
    pub fn from_env() -> anyhow::Result<Self> {
        let dir = std::env::var_os("TESTENV_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".testenv"));
        let file = dir.join("env");
        let vars = if file.is_file() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            parse_env_file(&text)
        } else if REQUIRED.iter().all(|k| std::env::var_os(k).is_some()) {
            std::env::vars().collect()
        } else {
            bail!(
                "{NOT_RUNNING} (no {} and no test environment variables)",
                file.display()
            );
        };
        if let Some(missing) = REQUIRED.iter().find(|k| !vars.contains_key(**k)) {
            bail!("{NOT_RUNNING} ({missing} is missing in {})", file.display());
        }
        let env = TestEnv { vars };
        env.check_reachable()?;
        Ok(env)
    }

    /// Fails fast (instead of a test timing out) when the env file is stale.
    fn check_reachable(&self) -> anyhow::Result<()> {
        for (what, url) in [
            ("kube-apiserver", self.apiserver_url()),
            ("redis", self.redis_url()),
        ] {
            let Some(addr) = host_port(url) else { continue };
            let reachable = addr
                .to_socket_addrs()
                .ok()
                .into_iter()
                .flatten()
                .any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok());
            if !reachable {
                bail!(
                    "{NOT_RUNNING} ({what} at {addr} does not answer; stale {}?)",
                    self.dir().display()
                );
            }
        }
        Ok(())
    }

    /// A variable of the environment file, e.g. `"REDIS_PORT"`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    fn req(&self, name: &str) -> &str {
        self.var(name).unwrap_or_default()
    }

    /// The state directory of the environment (`TESTENV_DIR`).
    pub fn dir(&self) -> PathBuf {
        self.var("TESTENV_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".testenv"))
    }

    /// `true` when the environment uses an existing cluster (kind, k3d, AKS, ...) instead of its
    /// own simulated one; then there is no `capstan-podsim` and pods run for real.
    pub fn is_external(&self) -> bool {
        self.var("CAPSTAN_TESTENV_EXTERNAL") == Some("1")
    }

    /// The kubeconfig (may be a `:`-separated list for an external cluster).
    pub fn kubeconfig(&self) -> &str {
        self.req("KUBECONFIG")
    }

    /// `https://127.0.0.1:<port>` of the API server.
    pub fn apiserver_url(&self) -> &str {
        self.req("APISERVER_URL")
    }

    /// Bearer token of `admin` (group `system:masters`).
    pub fn admin_token(&self) -> Option<&str> {
        self.var("ADMIN_TOKEN").filter(|t| !t.is_empty())
    }

    /// Bearer token of `viewer`, an identity without any RBAC rights.
    pub fn viewer_token(&self) -> Option<&str> {
        self.var("VIEWER_TOKEN").filter(|t| !t.is_empty())
    }

    /// `redis://127.0.0.1:<port>` (no password, no persistence).
    pub fn redis_url(&self) -> &str {
        self.req("REDIS_URL")
    }

    /// `http://127.0.0.1:<port>`; repositories are served as `<url>/<name>.git`, basic auth required.
    pub fn git_http_url(&self) -> &str {
        self.req("GIT_HTTP_URL")
    }

    /// The basic-auth user of the Git server.
    pub fn git_http_user(&self) -> &str {
        self.req("GIT_HTTP_USER")
    }

    /// The basic-auth password of the Git server.
    pub fn git_http_password(&self) -> &str {
        self.req("GIT_HTTP_PASSWORD")
    }

    /// The directory holding the served bare repositories (`<name>.git`).
    pub fn git_repos_dir(&self) -> &Path {
        Path::new(self.req("GIT_REPOS_DIR"))
    }

    /// Absolute path of `kubectl` (with built-in kustomize).
    pub fn kubectl(&self) -> &Path {
        Path::new(self.req("KUBECTL"))
    }

    /// Absolute path of `helm`.
    pub fn helm(&self) -> &Path {
        Path::new(self.req("HELM"))
    }

    /// A kube client for the kubeconfig's current context (admin).
    pub async fn kube_client(&self) -> anyhow::Result<Client> {
        Ok(Client::try_from(self.kube_config().await?)?)
    }

    /// A kube client for the same cluster that authenticates with `token` instead.
    pub async fn kube_client_with_token(&self, token: &str) -> anyhow::Result<Client> {
        let mut config = self.kube_config().await?;
        config.auth_info =
            serde_json::from_value::<AuthInfo>(serde_json::json!({ "token": token }))?;
        Ok(Client::try_from(config)?)
    }

    /// An Argo CD cluster Secret's `config` (JSON) that reaches this environment's API server
    /// as `admin`: bearer token and the CA from the kubeconfig, base64 PEM as Argo CD stores it.
    pub fn cluster_secret_config(&self) -> anyhow::Result<String> {
        use base64::Engine as _;
        let kc = self.merged_kubeconfig()?;
        let context = kc
            .current_context
            .as_ref()
            .and_then(|name| kc.contexts.iter().find(|c| &c.name == name))
            .and_then(|c| c.context.as_ref())
            .context("kubeconfig has no current context")?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .and_then(|c| c.cluster.as_ref())
            .context("kubeconfig's current cluster is missing")?;
        let ca = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(data), _) => Some(data.clone()),
            (None, Some(file)) => Some(
                base64::engine::general_purpose::STANDARD
                    .encode(std::fs::read(file).with_context(|| format!("reading {file}"))?),
            ),
            (None, None) => None,
        };
        let token = self
            .admin_token()
            .context("the test environment has no admin token")?;
        Ok(serde_json::json!({
            "bearerToken": token,
            "tlsClientConfig": {"insecure": ca.is_none(), "caData": ca},
        })
        .to_string())
    }

    fn merged_kubeconfig(&self) -> anyhow::Result<Kubeconfig> {
        let mut merged: Option<Kubeconfig> = None;
        for path in std::env::split_paths(self.kubeconfig()).filter(|p| p.is_file()) {
            let kc = Kubeconfig::read_from(&path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            merged = Some(match merged {
                None => kc,
                Some(m) => m.merge(kc)?,
            });
        }
        merged.with_context(|| format!("no kubeconfig file in {:?}", self.kubeconfig()))
    }

    /// The kube client `Config` from the kubeconfig (for clients with other settings).
    pub async fn kube_config(&self) -> anyhow::Result<Config> {
        let kc = self.merged_kubeconfig()?;
        Ok(Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?)
    }

    /// Creates a namespace named `<prefix>-<random>` and waits until its `default`
    /// ServiceAccount exists (pods cannot be created before). The returned guard deletes the
    /// namespace when dropped (best effort, not waited for; `CAPSTAN_E2E_KEEP_NAMESPACES=1` keeps it).
    pub async fn unique_namespace(&self, prefix: &str) -> anyhow::Result<TestNamespace> {
        let name = unique_name(prefix);
        let client = self.kube_client().await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(NAMESPACE_LABEL.to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        let guard = TestNamespace {
            name: name.clone(),
            env: self.clone(),
        };
        let accounts: Api<ServiceAccount> = Api::namespaced(client, &name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while accounts.get_opt("default").await?.is_none() {
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "namespace {name}: no default ServiceAccount after 30 s (is kube-controller-manager running?)"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(guard)
    }

    /// The URL (without credentials) of the served repository `<name>.git`.
    pub fn git_repo_url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.git_http_url())
    }

    /// The URL of `<name>.git` with the basic-auth credentials in it (for the `git` CLI).
    pub fn git_repo_url_with_credentials(&self, name: &str) -> String {
        let (scheme, rest) = self
            .git_http_url()
            .split_once("://")
            .unwrap_or(("http", ""));
        format!(
            "{scheme}://{}:{}@{rest}/{name}.git",
            self.git_http_user(),
            self.git_http_password()
        )
    }

    /// Creates the bare repository `<GIT_REPOS_DIR>/<name>.git` with one commit (branch `main`)
    /// holding `files` (`(path, contents)`, parent directories are created) and returns its URL.
    /// Author, committer and date are fixed, so the same files give the same commit id.
    pub fn create_git_repo(&self, name: &str, files: &[(&str, &str)]) -> anyhow::Result<String> {
        let bare = self.git_repos_dir().join(format!("{name}.git"));
        if bare.exists() {
            bail!("git repository {} already exists", bare.display());
        }
        let work = tempfile::tempdir()?;
        git(work.path(), &["init", "-q", "-b", "main", "."])?;
        write_and_commit(work.path(), files, "initial commit")?;
        git(
            work.path(),
            &["clone", "-q", "--bare", ".", &bare.to_string_lossy()],
        )?;
        Ok(self.git_repo_url(name))
    }

    /// Creates, in `namespace`, the `repo-creds` Secret (Argo CD's credential template, labelled
    /// `argocd.argoproj.io/secret-type: repo-creds`) that grants access to every repository of
    /// the test Git server, as a user would for a Git host with one access token.
    pub async fn create_git_creds_secret(&self, namespace: &str) -> anyhow::Result<()> {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "git-server-creds",
                "labels": {"argocd.argoproj.io/secret-type": "repo-creds"},
            },
            "stringData": {
                "type": "git",
                "url": format!("{}/", self.git_http_url()),
                "username": self.git_http_user(),
                "password": self.git_http_password(),
            },
        }))?;
        Api::<Secret>::namespaced(self.kube_client().await?, namespace)
            .create(&PostParams::default(), &secret)
            .await
            .context("creating the repo-creds Secret of the test Git server")?;
        Ok(())
    }

    /// Creates repository `name` from every file under `dir` (for example
    /// `examples/k8s-manifests`), like [`create_git_repo`](Self::create_git_repo).
    pub fn create_git_repo_from_dir(&self, name: &str, dir: &Path) -> anyhow::Result<String> {
        let files = read_tree(dir)?;
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        self.create_git_repo(name, &refs)
    }

    /// Adds a commit with `files` (created or overwritten) on `main` of repository `name` and
    /// returns the new commit id.
    pub fn commit_files(
        &self,
        name: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> anyhow::Result<String> {
        let bare = self.git_repos_dir().join(format!("{name}.git"));
        let work = tempfile::tempdir()?;
        git(work.path(), &["clone", "-q", &bare.to_string_lossy(), "."])?;
        let sha = write_and_commit(work.path(), files, message)?;
        git(
            work.path(),
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        )?;
        Ok(sha)
    }

    /// Removes `paths` (files or directories) from the `main` branch of the test Git
    /// repository `name` in one commit; returns its SHA.
    pub fn remove_paths(
        &self,
        name: &str,
        paths: &[&str],
        message: &str,
    ) -> anyhow::Result<String> {
        let bare = self.git_repos_dir().join(format!("{name}.git"));
        let work = tempfile::tempdir()?;
        git(work.path(), &["clone", "-q", &bare.to_string_lossy(), "."])?;
        let mut rm = vec!["rm", "-r", "-q", "--"];
        rm.extend_from_slice(paths);
        git(work.path(), &rm)?;
        git(work.path(), &["commit", "-q", "-m", message])?;
        git(
            work.path(),
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        )?;
        Ok(git(work.path(), &["rev-parse", "HEAD"])?.trim().to_owned())
    }
}

/// Polls `check` every 200 ms until it returns `Ok(Some(value))`, and returns that value; fails
/// after `timeout` with `what` and the last error or "still not". Errors of `check` are retried.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => None,
            Err(e) => Some(e),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(match last {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow::anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A namespace made by [`TestEnv::unique_namespace`]; deleted (best effort) on drop.
#[derive(Debug)]
pub struct TestNamespace {
    /// The namespace's name.
    pub name: String,
    env: TestEnv,
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var("CAPSTAN_E2E_KEEP_NAMESPACES").as_deref() == Ok("1") {
            return;
        }
        // Drop cannot await, and the test's runtime may be single-threaded or shutting down:
        // delete from a fresh runtime on a helper thread, with a fresh client.
        let (env, name) = (self.env.clone(), self.name.clone());
        let deleted = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let namespaces: Api<Namespace> = Api::all(env.kube_client().await?);
                namespaces
                    .delete(&name, &DeleteParams::background())
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = deleted {
            eprintln!(
                "warning: could not delete test namespace {}: {e:#}",
                self.name
            );
        }
    }
}

/// The token of ServiceAccount `account` from the Secret Kubernetes v1.20's token controller
/// fills, checked to name that ServiceAccount.
pub async fn service_account_token(
    admin: &Client,
    namespace: &str,
    account: &str,
) -> anyhow::Result<String> {
    use base64::Engine as _;
    let token = eventually(
        Duration::from_secs(60),
        &format!("the token Secret of ServiceAccount {account}"),
        || {
            let admin = admin.clone();
            async move {
                let sa = Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
                    .get(account)
                    .await?;
                let Some(secret) = sa
                    .secrets
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.name)
                    .find(|n| n.starts_with(&format!("{account}-token-")))
                else {
                    return Ok(None);
                };
                let secret = Api::<Secret>::namespaced(admin, namespace)
                    .get(&secret)
                    .await?;
                anyhow::ensure!(
                    secret.type_.as_deref() == Some("kubernetes.io/service-account-token"),
                    "{secret:?}"
                );
                Ok(secret
                    .data
                    .and_then(|d| d.get("token").cloned())
                    .map(|t| String::from_utf8(t.0))
                    .transpose()?)
            }
        },
    )
    .await?;
    // The JWT names the ServiceAccount: whatever this client can do is that account's right.
    let payload = token.split('.').nth(1).context("a JWT")?;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    anyhow::ensure!(
        claims["sub"] == format!("system:serviceaccount:{namespace}:{account}").as_str(),
        "the token of {account} names {}",
        claims["sub"]
    );
    Ok(token)
}

/// `<prefix>-<8 random hex digits>`, shortened to a valid DNS label.
pub fn unique_name(prefix: &str) -> String {
    let random = RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()));
    let mut prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(50)
        .collect();
    prefix = prefix.trim_matches('-').to_string();
    if prefix.is_empty() {
        prefix.push_str("test");
    }
    format!("{prefix}-{:08x}", random as u32)
}

/// The Cargo workspace root (the parent of this crate's directory).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Parses the `export KEY='value'` lines of `$TESTENV_DIR/env`.
fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.starts_with('#') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(value);
            Some((key.trim().to_string(), value.to_string()))
        })
        .collect()
}

/// `host:port` of an `http(s)://` or `redis://` URL.
fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?.rsplit('@').next()?;
    if authority.contains(':') && !authority.ends_with(']') {
        return Some(authority.to_string());
    }
    let port = match scheme {
        "https" => 443,
        "http" => 80,
        "redis" => 6379,
        _ => return None,
    };
    Some(format!("{authority}:{port}"))
}

/// Runs `git` in `dir` with a fixed identity and no user/system configuration.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    const WHEN: &str = "2024-01-01T00:00:00Z";
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Capstan E2E")
        .env("GIT_AUTHOR_EMAIL", "e2e@capstan.invalid")
        .env("GIT_AUTHOR_DATE", WHEN)
        .env("GIT_COMMITTER_NAME", "Capstan E2E")
        .env("GIT_COMMITTER_EMAIL", "e2e@capstan.invalid")
        .env("GIT_COMMITTER_DATE", WHEN)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn write_and_commit(work: &Path, files: &[(&str, &str)], message: &str) -> anyhow::Result<String> {
    for (path, contents) in files {
        let file = work.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&file, contents).with_context(|| format!("writing {}", file.display()))?;
    }
    git(work, &["add", "-A"])?;
    git(work, &["commit", "-q", "--allow-empty", "-m", message])?;
    git(work, &["rev-parse", "HEAD"])
}

/// Every file under `dir`, as (path relative to `dir`, UTF-8 contents), sorted by path.
pub fn read_tree(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir)?.to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                out.push((rel, text));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file() {
        let vars = parse_env_file("# c\nexport A='x y'\nexport B=2\nC=\"3\"\n");
        assert_eq!(vars["A"], "x y");
        assert_eq!(vars["B"], "2");
        assert_eq!(vars["C"], "3");
    }

    #[test]
    fn names_and_addresses() {
        let n = unique_name("My_Test");
        assert!(
            n.starts_with("my-test-") && n.len() == "my-test-".len() + 8,
            "{n}"
        );
        assert_ne!(unique_name("a"), unique_name("a"));
        assert_eq!(
            host_port("https://127.0.0.1:6443").as_deref(),
            Some("127.0.0.1:6443")
        );
        assert_eq!(
            host_port("redis://127.0.0.1:1234/0").as_deref(),
            Some("127.0.0.1:1234")
        );
        assert_eq!(
            host_port("https://aks.example.com/x").as_deref(),
            Some("aks.example.com:443")
        );
    }
}

/// A published copy of the seed-like examples (`examples/k8s-manifests`).
#[derive(Debug, Clone)]
pub struct SeedRepo {
    /// Repository name on the test Git server.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// The rewritten files, (path, content).
    pub files: Vec<(String, String)>,
}

impl SeedRepo {
    /// The content of the file whose path ends with `suffix`.
    pub fn file(&self, suffix: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(path, _)| path.ends_with(suffix))
            .map(|(_, content)| content.as_str())
    }
}

/// The seed-like example repository as a user would publish it for one test: the placeholder
/// repo URL replaced by the test Git server's, Argo CD's `argocd` namespace by the test's
/// control-plane namespace, and every `<service>-api-<env>` name (apps and their namespaces)
/// prefixed with `prefix` so runs never share objects.
pub fn publish_seed_examples(
    env: &TestEnv,
    control_namespace: &str,
    prefix: &str,
) -> anyhow::Result<SeedRepo> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/k8s-manifests");
    let name = unique_name("seed");
    let url = env.git_repo_url(&name);
    let files: Vec<(String, String)> = read_tree(&examples)?
        .into_iter()
        .map(|(path, content)| {
            (
                path,
                rewrite_seed(&content, &url, control_namespace, prefix),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    env.create_git_repo(&name, &refs)?;
    Ok(SeedRepo { name, url, files })
}

/// See [`publish_seed_examples`].
pub fn rewrite_seed(content: &str, url: &str, control_namespace: &str, prefix: &str) -> String {
    let mut out = content
        .replace("http://git.capstan.local/k8s-manifests.git", url)
        .replace(
            "namespace: argocd\n",
            &format!("namespace: {control_namespace}\n"),
        );
    for service in ["users", "orders", "products"] {
        for stage in ["dev", "staging", "prod"] {
            let old = format!("{service}-api-{stage}");
            out = out.replace(&old, &format!("{prefix}-{old}"));
        }
    }
    out
}
