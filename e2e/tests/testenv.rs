//! Proves that the test environment started by `e2e/testenv-up.sh` is real: a Kubernetes API
//! with working controllers and simulated pods, Redis, and an authenticating Git HTTP server.
//!
//! These tests fail (they do not skip) when the environment is not running. Tests that depend
//! on `capstan-podsim`'s annotations only check the simulator's behaviour on the local control
//! plane; against an external cluster (`CAPSTAN_TESTENV_EXTERNAL=1`) they say so and return.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use capstan_e2e::{TestEnv, eventually, unique_name};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);
const SIM_NODE: &str = "capstan-sim-node";

/// `false` (with a note) when pods are not simulated, i.e. against an external cluster.
fn simulated(env: &TestEnv) -> bool {
    if env.is_external() {
        eprintln!(
            "not applicable: this test checks capstan-podsim, which does not run against an external cluster"
        );
    }
    !env.is_external()
}

fn deployment(
    name: &str,
    replicas: i32,
    annotations: serde_json::Value,
) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name }, "annotations": annotations },
                "spec": { "containers": [{ "name": "app", "image": "registry.invalid/capstan/demo:1.0" }] },
            },
        },
    }))?)
}

fn job(name: &str, annotations: serde_json::Value) -> anyhow::Result<Job> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": { "annotations": annotations },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{ "name": "job", "image": "registry.invalid/capstan/job:1.0" }],
                },
            },
        },
    }))?)
}

fn pod(name: &str, annotations: serde_json::Value) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "annotations": annotations },
        "spec": { "containers": [{ "name": "app", "image": "registry.invalid/capstan/demo:1.0" }] },
    }))?)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn job_condition(job: &Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

#[tokio::test]
async fn lists_namespaces_and_runs_tools() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let namespaces: Api<Namespace> = Api::all(env.kube_client().await?);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    ensure!(
        names.iter().any(|n| n == "default"),
        "no default namespace in {names:?}"
    );
    ensure!(
        names.iter().any(|n| n == "kube-system"),
        "no kube-system namespace in {names:?}"
    );

    let out = Command::new(env.kubectl())
        .args(["get", "namespace", "default", "-o", "name"])
        .env("KUBECONFIG", env.kubeconfig())
        .output()?;
    ensure!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default"
    );
    let out = Command::new(env.helm())
        .args(["version", "--short"])
        .output()?;
    ensure!(
        out.status.success(),
        "helm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn viewer_token_has_no_rights() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let token = env.viewer_token().context("no VIEWER_TOKEN")?;
    let pods: Api<Pod> = Api::namespaced(env.kube_client_with_token(token).await?, "default");
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
        other => anyhow::bail!("expected 403 Forbidden for the viewer, got {other:?}"),
    }
}

#[tokio::test]
async fn deployment_gets_two_available_replicas() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    if !simulated(&env) {
        return Ok(());
    }
    let ns = env.unique_namespace("deploy").await?;
    let client = env.kube_client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    deployments
        .create(&PostParams::default(), &deployment("web", 2, json!({}))?)
        .await?;
    let available = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .and_then(|s| s.available_replicas)
            == Some(2)
    };
    tokio::time::timeout(
        TIMEOUT,
        await_condition(deployments.clone(), "web", available),
    )
    .await
    .context("deployment web did not get 2 available replicas")??;
    tokio::time::timeout(
        TIMEOUT,
        await_condition(deployments, "web", conditions::is_deployment_completed()),
    )
    .await
    .context("deployment web did not complete its rollout")??;

    let pods: Api<Pod> = Api::namespaced(client, &ns.name);
    let pods = pods
        .list(&ListParams::default().labels("app=web"))
        .await?
        .items;
    assert_eq!(pods.len(), 2);
    for p in &pods {
        let spec = p.spec.as_ref().context("pod without spec")?;
        let status = p.status.as_ref().context("pod without status")?;
        assert_eq!(spec.node_name.as_deref(), Some(SIM_NODE));
        assert_eq!(phase(p), "Running");
        assert!(is_ready(p));
        assert!(
            status
                .pod_ip
                .as_deref()
                .is_some_and(|ip| ip.starts_with("10."))
        );
        let c = &status
            .container_statuses
            .as_ref()
            .context("no container statuses")?[0];
        assert!(c.ready && c.started == Some(true) && c.restart_count == 0);
        assert!(c.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
        assert!(c.image_id.contains("@sha256:"), "imageID {}", c.image_id);
    }
    Ok(())
}

#[tokio::test]
async fn jobs_complete_or_fail_by_exit_code() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    if !simulated(&env) {
        return Ok(());
    }
    let ns = env.unique_namespace("jobs").await?;
    let jobs: Api<Job> = Api::namespaced(env.kube_client().await?, &ns.name);
    jobs.create(
        &PostParams::default(),
        &job("ok", json!({ "sim.capstan.dev/run-for": "1s" }))?,
    )
    .await?;
    jobs.create(
        &PostParams::default(),
        &job("bad", json!({ "sim.capstan.dev/exit-code": "1" }))?,
    )
    .await?;

    let complete = tokio::time::timeout(
        TIMEOUT,
        await_condition(jobs.clone(), "ok", conditions::is_job_completed()),
    )
    .await
    .context("job ok did not complete")??
    .context("job ok is gone")?;
    assert_eq!(complete.status.as_ref().and_then(|s| s.succeeded), Some(1));

    let failed = |j: Option<&Job>| j.is_some_and(|j| job_condition(j, "Failed"));
    let failed = tokio::time::timeout(TIMEOUT, await_condition(jobs, "bad", failed))
        .await
        .context("job bad did not fail")??
        .context("job bad is gone")?;
    assert!(!job_condition(&failed, "Complete"));
    assert_eq!(failed.status.as_ref().and_then(|s| s.failed), Some(1));
    Ok(())
}

#[tokio::test]
async fn crashlooping_deployment_is_not_ready() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    if !simulated(&env) {
        return Ok(());
    }
    let ns = env.unique_namespace("crash").await?;
    let client = env.kube_client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    deployments
        .create(
            &PostParams::default(),
            &deployment("crash", 1, json!({ "sim.capstan.dev/fail": "crashloop" }))?,
        )
        .await?;
    let pods: Api<Pod> = Api::namespaced(client, &ns.name);
    // restartCount grows by one every CAPSTAN_PODSIM_CRASHLOOP_PERIOD (5 s by default).
    let pod = eventually(TIMEOUT, "a crash-looping pod with 2 restarts", || async {
        let list = pods
            .list(&ListParams::default().labels("app=crash"))
            .await?;
        Ok(list.items.into_iter().find(|p| {
            let cs = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref());
            cs.is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.restart_count >= 2
                        && c.state
                            .as_ref()
                            .and_then(|s| s.waiting.as_ref())
                            .and_then(|w| w.reason.as_deref())
                            == Some("CrashLoopBackOff")
                })
            })
        }))
    })
    .await?;
    assert!(!is_ready(&pod));
    assert_eq!(phase(&pod), "Running");

    let d = eventually(
        TIMEOUT,
        "deployment crash to report 1 unavailable replica",
        || async {
            let d = deployments.get("crash").await?;
            let s = d.status.clone().unwrap_or_default();
            Ok((s.unavailable_replicas == Some(1)).then_some(d))
        },
    )
    .await?;
    let status = d.status.unwrap_or_default();
    assert_eq!(status.available_replicas.unwrap_or(0), 0);
    assert_eq!(status.ready_replicas.unwrap_or(0), 0);
    Ok(())
}

#[tokio::test]
async fn pod_ready_after_delay_then_deleted() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    if !simulated(&env) {
        return Ok(());
    }
    let ns = env.unique_namespace("pod").await?;
    let pods: Api<Pod> = Api::namespaced(env.kube_client().await?, &ns.name);
    let started = Instant::now();
    pods.create(
        &PostParams::default(),
        &pod("slow", json!({ "sim.capstan.dev/ready-after": "3s" }))?,
    )
    .await?;
    let running = |p: Option<&Pod>| p.is_some_and(|p| phase(p) == "Running");
    let p = tokio::time::timeout(TIMEOUT, await_condition(pods.clone(), "slow", running))
        .await
        .context("pod slow did not run")??
        .context("pod slow is gone")?;
    assert!(!is_ready(&p), "ready before ready-after");
    let ready = |p: Option<&Pod>| p.is_some_and(is_ready);
    tokio::time::timeout(TIMEOUT, await_condition(pods.clone(), "slow", ready))
        .await
        .context("pod slow did not become ready")??;
    // Second-truncated start time: at least 2 s.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "ready after {:?}",
        started.elapsed()
    );

    // No kubelet: the simulator completes the graceful deletion.
    let uid = p.metadata.uid.clone().context("no uid")?;
    pods.delete("slow", &DeleteParams::default()).await?;
    tokio::time::timeout(
        TIMEOUT,
        await_condition(pods, "slow", conditions::is_deleted(&uid)),
    )
    .await
    .context("pod slow was not deleted")??;
    Ok(())
}

#[tokio::test]
async fn image_pull_failure_backs_off() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    if !simulated(&env) {
        return Ok(());
    }
    let ns = env.unique_namespace("pull").await?;
    let pods: Api<Pod> = Api::namespaced(env.kube_client().await?, &ns.name);
    pods.create(
        &PostParams::default(),
        &pod("nopull", json!({ "sim.capstan.dev/fail": "image-pull" }))?,
    )
    .await?;
    let backoff = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
            .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.as_deref())
            == Some("ImagePullBackOff")
    };
    let p = tokio::time::timeout(TIMEOUT, await_condition(pods, "nopull", backoff))
        .await
        .context("pod nopull did not reach ImagePullBackOff")??
        .context("pod nopull is gone")?;
    assert_eq!(phase(&p), "Pending");
    assert!(!is_ready(&p));
    Ok(())
}

#[tokio::test]
async fn redis_answers_ping() -> anyhow::Result<()> {
    use deadpool_redis::redis::cmd;
    let env = TestEnv::from_env()?;
    let pool = deadpool_redis::Config::from_url(env.redis_url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
    let mut conn = pool.get().await?;
    let pong: String = cmd("PING").query_async(&mut conn).await?;
    assert_eq!(pong, "PONG");
    let key = unique_name("e2e-key");
    let () = cmd("SET")
        .arg(&key)
        .arg("v")
        .arg("EX")
        .arg(60)
        .query_async(&mut conn)
        .await?;
    let value: String = cmd("GET").arg(&key).query_async(&mut conn).await?;
    assert_eq!(value, "v");
    Ok(())
}

#[tokio::test]
async fn git_clone_over_http_needs_the_password() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let name = unique_name("repo");
    let url = env.create_git_repo(
        &name,
        &[
            ("README.md", "hello\n"),
            ("app/cm.yaml", "kind: ConfigMap\n"),
        ],
    )?;
    assert_eq!(url, format!("{}/{name}.git", env.git_http_url()));

    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
    };
    let tmp = tempfile::tempdir()?;
    let good = tmp.path().join("good");
    let out = git(&[
        "clone",
        "-q",
        &env.git_repo_url_with_credentials(&name),
        &good.to_string_lossy(),
    ])?;
    ensure!(
        out.status.success(),
        "clone with the password failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(good.join("app/cm.yaml"))?,
        "kind: ConfigMap\n"
    );

    let wrong = url.replacen(
        "://",
        &format!("://{}:wrong-password@", env.git_http_user()),
        1,
    );
    let out = git(&[
        "clone",
        "-q",
        &wrong,
        &tmp.path().join("bad").to_string_lossy(),
    ])?;
    ensure!(
        !out.status.success(),
        "clone with a wrong password succeeded"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        stderr.contains("Authentication failed") || stderr.contains("401"),
        "unexpected error: {stderr}"
    );
    let out = git(&[
        "clone",
        "-q",
        &url,
        &tmp.path().join("anon").to_string_lossy(),
    ])?;
    ensure!(!out.status.success(), "clone without credentials succeeded");

    // A new commit is visible over HTTP.
    let sha = env.commit_files(&name, &[("README.md", "hello again\n")], "second commit")?;
    let out = git(&[
        "ls-remote",
        &env.git_repo_url_with_credentials(&name),
        "refs/heads/main",
    ])?;
    ensure!(
        out.status.success(),
        "ls-remote failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&sha));
    Ok(())
}

/// `git <args>` with no user or system configuration, never prompting, reaching SSH remotes
/// only with `key` and trusting only the host keys in the file `known_hosts` (OpenSSH's
/// strict checking, no other config, agent or known-hosts file).
fn git_over_ssh(
    key: &std::path::Path,
    known_hosts: &std::path::Path,
    args: &[&str],
) -> std::io::Result<std::process::Output> {
    let ssh = format!(
        "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes \
         -o UserKnownHostsFile='{}' -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes",
        key.display(),
        known_hosts.display()
    );
    Command::new("git")
        .args(args)
        .env("GIT_SSH_COMMAND", ssh)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
}

/// The commit `main` of the test repository `name`, read from its bare repository on disk.
fn main_commit(env: &TestEnv, name: &str) -> anyhow::Result<String> {
    let bare = env.git_repos_dir().join(format!("{name}.git"));
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["rev-parse", "refs/heads/main"])
        .output()?;
    ensure!(
        out.status.success(),
        "rev-parse main in {}: {}",
        bare.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[tokio::test]
async fn ssh_git_server_serves_repos_and_its_host_key_is_verifiable() -> anyhow::Result<()> {
    use capstan_e2e::ssh::SshGitServer;
    let env = TestEnv::from_env()?;
    let name = unique_name("ssh-repo");
    env.create_git_repo(&name, &[("app/cm.yaml", "kind: ConfigMap\n")])?;
    let sha = main_commit(&env, &name)?;

    let started = Instant::now();
    let server = SshGitServer::start(&env).await?;
    eprintln!(
        "sshd on port {} answered after {:?}",
        server.port(),
        started.elapsed()
    );
    let url = server.url(&name);
    assert_eq!(
        url,
        format!(
            "ssh://{}@127.0.0.1:{}{}/{name}.git",
            server.user(),
            server.port(),
            env.git_repos_dir().display()
        )
    );
    let known = server.known_hosts_line();
    assert!(
        known.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 AAAA", server.port())),
        "{known}"
    );
    assert_ne!(known, server.wrong_known_hosts_line());
    assert!(
        server
            .client_private_key()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
        "not an OpenSSH private key"
    );
    assert_eq!(
        std::fs::read_to_string(server.client_key_path())?,
        server.client_private_key()
    );

    let tmp = tempfile::tempdir()?;
    let known_hosts = tmp.path().join("known_hosts");
    std::fs::write(&known_hosts, format!("{known}\n"))?;
    let key = server.client_key_path();

    let out = git_over_ssh(&key, &known_hosts, &["ls-remote", &url])?;
    ensure!(
        out.status.success(),
        "ls-remote over ssh failed: {}\nsshd's log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let listing = String::from_utf8(out.stdout)?;
    ensure!(
        listing.contains(&format!("{sha}\trefs/heads/main")),
        "ls-remote did not list main at {sha}:\n{listing}"
    );

    let clone = tmp.path().join("clone");
    let out = git_over_ssh(
        &key,
        &known_hosts,
        &["clone", "-q", &url, &clone.to_string_lossy()],
    )?;
    ensure!(
        out.status.success(),
        "clone over ssh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(clone.join("app/cm.yaml"))?,
        "kind: ConfigMap\n"
    );
    let log = server.log();
    ensure!(
        log.contains(&format!("Accepted publickey for {}", server.user())),
        "sshd logged no public-key login:\n{log}"
    );

    // The same server under another key in known_hosts: OpenSSH refuses it.
    std::fs::write(
        &known_hosts,
        format!("{}\n", server.wrong_known_hosts_line()),
    )?;
    let out = git_over_ssh(&key, &known_hosts, &["ls-remote", &url])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success(),
        "ls-remote succeeded with a wrong host key"
    );
    ensure!(
        stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            && stderr.contains("Host key verification failed"),
        "unexpected error: {stderr}"
    );

    // Another key than the authorized one is refused by sshd.
    let other_key = tmp.path().join("other_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()?;
    ensure!(status.success(), "ssh-keygen failed");
    std::fs::write(&known_hosts, format!("{known}\n"))?;
    let out = git_over_ssh(&other_key, &known_hosts, &["ls-remote", &url])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success(),
        "ls-remote succeeded with another key"
    );
    ensure!(
        stderr.contains("Permission denied (publickey)"),
        "unexpected error: {stderr}"
    );

    // Dropping the server stops sshd and the sessions it serves: a git-upload-pack that
    // advertised its refs and waits for the client's wants is cut off.
    let mut session = Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(&key)
        .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o"])
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args(["-p", &server.port().to_string()])
        .arg(format!("{}@127.0.0.1", server.user()))
        .arg(format!(
            "git-upload-pack '{}/{name}.git'",
            env.git_repos_dir().display()
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut first = [0u8; 4];
    std::io::Read::read_exact(session.stdout.as_mut().context("stdout")?, &mut first)?;
    ensure!(
        first.iter().all(u8::is_ascii_hexdigit),
        "no pkt-line from git-upload-pack: {first:?}"
    );
    let port = server.port();
    drop(server);
    ensure!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after the server was dropped"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while session.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = session.kill();
            anyhow::bail!("the ssh session outlived the dropped server");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[tokio::test]
async fn ssh_git_server_is_reachable_with_libgit2() -> anyhow::Result<()> {
    use capstan_e2e::ssh::SshGitServer;
    use capstan_git::{AuthKind, GitConfig, GitError, GitStore, RepoAuth};
    let env = TestEnv::from_env()?;
    let name = unique_name("ssh-repo");
    env.create_git_repo(&name, &[("app/cm.yaml", "kind: ConfigMap\n")])?;
    let sha = main_commit(&env, &name)?;
    let server = SshGitServer::start(&env).await?;
    let url = server.url(&name);

    let root = tempfile::tempdir()?;
    let mut registry = prometheus_client::registry::Registry::default();
    let store = GitStore::new(GitConfig::new(root.path()), &mut registry)?;
    let ssh_key = |known_hosts: Option<String>| RepoAuth {
        kind: AuthKind::SshKey {
            private_key: server.client_private_key().to_string(),
            known_hosts,
        },
        insecure: false,
    };

    // The host key checked against the credentials' own known_hosts: ls-remote, fetch, checkout.
    let auth = ssh_key(Some(server.known_hosts_line()));
    let resolved = store.resolve_revision(&url, &auth, "main").await;
    let resolved = resolved.with_context(|| format!("sshd's log:\n{}", server.log()))?;
    assert_eq!(resolved, sha);
    let checkout = store.checkout(&url, &auth, &sha).await?;
    assert_eq!(
        std::fs::read_to_string(checkout.path().join("app/cm.yaml"))?,
        "kind: ConfigMap\n"
    );

    // ... and against the store-wide known hosts (argocd-ssh-known-hosts-cm).
    let without = ssh_key(None);
    match store.test_access(&url, &without).await {
        Err(GitError::HostKeyRejected { reason, .. }) => {
            assert!(reason.contains("no known_hosts entries"), "{reason}")
        }
        other => panic!("expected HostKeyRejected without known hosts, got {other:?}"),
    }
    store.set_ssh_known_hosts(Some(&server.known_hosts_line()));
    store.test_access(&url, &without).await?;

    // Another key for this host: refused before any credential is sent.
    let wrong = ssh_key(Some(server.wrong_known_hosts_line()));
    match store.test_access(&url, &wrong).await {
        Err(GitError::HostKeyRejected { reason, .. }) => {
            assert!(reason.contains("does not match"), "{reason}")
        }
        other => panic!("expected HostKeyRejected with a wrong host key, got {other:?}"),
    }
    // Trusted host, unknown client key: sshd refuses it.
    let mut stranger = ssh_key(Some(server.known_hosts_line()));
    if let AuthKind::SshKey { private_key, .. } = &mut stranger.kind {
        let other = tempfile::tempdir()?;
        let file = other.path().join("id");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&file)
            .status()?;
        ensure!(status.success(), "ssh-keygen failed");
        *private_key = std::fs::read_to_string(&file)?;
    }
    match store.test_access(&url, &stranger).await {
        Err(GitError::AuthenticationFailed { .. }) => {}
        other => panic!("expected AuthenticationFailed with an unknown key, got {other:?}"),
    }
    Ok(())
}
