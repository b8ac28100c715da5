//! The `capstan` CLI end to end, as a user drives it: log in, create the seed's users-api-dev
//! Application from its YAML, sync, wait, history, roll back, delete with cascade — each step
//! checked against the cluster. The binary talks gRPC to a real API server, which talks to a
//! real controller, repo-server, kube-apiserver, Redis and Git server.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output};
use std::time::Duration;

use support::{Stack, StackOptions};

struct Cli {
    bin: std::path::PathBuf,
    config: tempfile::TempDir,
}

impl Cli {
    fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(Command::new(&self.bin)
            .args(args)
            .env("CAPSTAN_CONFIG", self.config.path().join("config"))
            .env_remove("CAPSTAN_AUTH_TOKEN")
            .env_remove("CAPSTAN_SERVER")
            .output()?)
    }

    /// Runs and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(args)?;
        anyhow::ensure!(
            out.status.success(),
            "capstan {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_creates_syncs_rolls_back_and_deletes_the_seed_app() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let prefix = capstan_e2e::unique_name("cli");
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &stack.control.name, &prefix)?;
    let file = |suffix: &str| seed.file(suffix).expect("seed file").to_owned();
    let dir = tempfile::tempdir()?;
    let project = dir.path().join("project.yaml");
    std::fs::write(&project, file("projects/microservices.yaml"))?;
    stack.kubectl(&["apply", "-f", &project.to_string_lossy()])?;
    let app_file = dir.path().join("users-api-dev.yaml");
    std::fs::write(&app_file, file("applications/users-api-dev.yaml"))?;

    let cli = Cli {
        bin: support::capstan_bin()?,
        config: tempfile::tempdir()?,
    };
    let token = stack.token("admin", &[]).await?;
    let server = stack.api_addr.to_string();
    let out = cli.ok(&["login", &server, "--auth-token", &token, "--name", "test"])?;
    assert!(out.contains("admin"), "{out}");
    let config = std::fs::read_to_string(cli.config.path().join("config"))?;
    assert!(config.contains("current-context: test"), "{config}");
    assert_eq!(
        std::fs::metadata(cli.config.path().join("config"))?
            .permissions()
            .mode()
            & 0o777,
        0o600,
        "the token file is private"
    );

    // Create from the seed's YAML, unchanged (automated sync, CreateNamespace, retry).
    let name = format!("{prefix}-users-api-dev");
    let namespace = name.clone();
    cli.ok(&["app", "create", "-f", &app_file.to_string_lossy()])?;
    let out = cli.ok(&[
        "app",
        "wait",
        &name,
        "--sync",
        "--health",
        "--timeout",
        "120",
    ])?;
    assert!(out.contains("Synced") && out.contains("Healthy"), "{out}");
    assert!(support::image_of(&stack, &namespace)?.ends_with(":dev-1"));

    // A manual sync of the synced app succeeds at once.
    let out = cli.ok(&["app", "sync", &name, "--timeout", "120"])?;
    assert!(out.contains("Succeeded"), "{out}");
    // `wait` on an app that is already there returns at once.
    let started = std::time::Instant::now();
    cli.ok(&[
        "app",
        "wait",
        &name,
        "--sync",
        "--health",
        "--timeout",
        "30",
    ])?;
    assert!(started.elapsed() < Duration::from_secs(10));

    // Take over from auto-sync, deploy a new commit, then roll back to the first.
    cli.ok(&["app", "set", &name, "--sync-policy", "none"])?;
    let kustomization =
        file("overlays/dev/users-api/kustomization.yaml").replace("newTag: dev-1", "newTag: dev-2");
    stack.env.commit_files(
        &seed.name,
        &[("overlays/dev/users-api/kustomization.yaml", &kustomization)],
        "users-api dev-2",
    )?;
    cli.ok(&["app", "get", &name, "--hard-refresh"])?;
    let diff = cli.run(&["app", "diff", &name])?;
    assert_eq!(diff.status.code(), Some(1), "a diff exits 1");
    let diff = String::from_utf8(diff.stdout)?;
    assert!(diff.contains("dev-2"), "{diff}");
    cli.ok(&["app", "sync", &name, "--timeout", "120"])?;
    assert!(support::image_of(&stack, &namespace)?.ends_with(":dev-2"));
    let history = cli.ok(&["app", "history", &name])?;
    let ids: Vec<&str> = history
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(ids.len() >= 2, "{history}");
    let out = cli.ok(&["app", "rollback", &name, ids[0], "--timeout", "120"])?;
    assert!(out.contains("Succeeded"), "{out}");
    assert!(support::image_of(&stack, &namespace)?.ends_with(":dev-1"));

    // JSON output is the object as the API returns it.
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["app", "get", &name, "-o", "json"])?)?;
    assert_eq!(json["metadata"]["name"], name.as_str());

    // RBAC reaches the CLI's messages; a denied call exits non-zero.
    let out = cli.ok(&[
        "account",
        "can-i",
        "delete",
        "applications",
        &format!("microservices/{name}"),
    ])?;
    assert_eq!(out.trim(), "yes");

    // Delete with cascade: the app's resources go with it.
    cli.ok(&["app", "delete", &name, "--cascade", "-y", "--wait"])?;
    let left = stack.kubectl(&["-n", &namespace, "get", "deployments", "-o", "name"])?;
    assert!(left.trim().is_empty(), "resources left behind: {left}");
    let out = cli.run(&["app", "get", &name])?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projects_role_tokens_repositories_and_clusters_through_the_cli() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let cli = Cli {
        bin: support::capstan_bin()?,
        config: tempfile::tempdir()?,
    };
    let admin = stack.token("admin", &[]).await?;
    cli.ok(&["login", &stack.api_addr.to_string(), "--auth-token", &admin])?;

    // A project with a CI role, as a platform team would set one up.
    let repo = stack.env.git_repo_url("team-a");
    // (The project only names it: no repository needs to exist.)
    cli.ok(&[
        "proj",
        "create",
        "team-a",
        "--description",
        "Team A",
        "--src",
        &repo,
        "--dest",
        "https://kubernetes.default.svc,team-a-*",
    ])?;
    let list = cli.ok(&["proj", "list"])?;
    assert!(
        list.contains("team-a") && list.contains("default"),
        "{list}"
    );
    stack.kubectl(&[
        "-n",
        &stack.control.name,
        "patch",
        "appproject",
        "team-a",
        "--type=merge",
        "-p",
        r#"{"spec":{"roles":[{"name":"ci","policies":[
            "p, proj:team-a:ci, applications, get, team-a/*, allow",
            "p, proj:team-a:ci, applications, sync, team-a/*, allow"]}]}}"#,
    ])?;
    let ci = cli.ok(&["proj", "role", "create-token", "team-a", "ci", "-t"])?;
    let ci = ci.trim().to_owned();
    let can = |token: &str, action: &str, object: &str| {
        cli.ok(&[
            "--auth-token",
            token,
            "account",
            "can-i",
            action,
            "applications",
            object,
        ])
        .map(|out| out.trim().to_owned())
    };
    assert_eq!(can(&ci, "sync", "team-a/web")?, "yes");
    assert_eq!(can(&ci, "delete", "team-a/web")?, "no");
    assert_eq!(can(&ci, "get", "other/web")?, "no");

    // Deleting the token from the role revokes it.
    let project: serde_json::Value =
        serde_json::from_str(&cli.ok(&["proj", "get", "team-a", "-o", "json"])?)?;
    let listed = &project["spec"]["roles"][0]["jwtTokens"][0];
    let (iat, id) = (
        listed["iat"].as_i64().unwrap(),
        listed["id"].as_str().unwrap(),
    );
    let (status, body) = stack.curl(
        "DELETE",
        &format!("/api/v1/projects/team-a/roles/ci/token/{iat}?id={id}"),
        Some(&admin),
        None,
    )?;
    assert_eq!(status, 200, "{body}");
    let out = cli.run(&[
        "--auth-token",
        &ci,
        "account",
        "can-i",
        "sync",
        "applications",
        "team-a/web",
    ])?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("revoked") || stderr.contains("no longer exists"),
        "{stderr}"
    );

    // Repositories: credentials go into a labelled Secret and never come back.
    let private = capstan_e2e::unique_name("private");
    let url = stack.env.git_repo_url(&private);
    stack
        .env
        .create_git_repo(&private, &[("README.md", "hello\n")])?;
    cli.ok(&[
        "repo",
        "add",
        &url,
        "--username",
        stack.env.git_http_user(),
        "--password",
        stack.env.git_http_password(),
    ])?;
    let listed = cli.ok(&["repo", "list"])?;
    assert!(listed.contains(&url), "{listed}");
    assert!(!listed.contains(stack.env.git_http_password()), "{listed}");
    let secrets = stack.kubectl(&[
        "-n",
        &stack.control.name,
        "get",
        "secrets",
        "-l",
        "argocd.argoproj.io/secret-type=repository",
        "-o",
        "jsonpath={.items[*].data.url}",
    ])?;
    assert!(!secrets.trim().is_empty(), "the repository Secret exists");
    let (status, body) = stack.curl(
        "GET",
        &format!(
            "/api/v1/repositories/{}",
            url.replace(':', "%3A").replace('/', "%2F")
        ),
        Some(&admin),
        None,
    )?;
    assert_eq!(status, 200, "{body}");
    let repo_view: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        repo_view["connectionState"]["status"], "Successful",
        "{body}"
    );
    assert!(!body.contains(stack.env.git_http_password()));
    cli.ok(&["repo", "rm", &url])?;
    assert!(!cli.ok(&["repo", "list"])?.contains(&url));

    // Clusters: the in-cluster destination is always there.
    let clusters = cli.ok(&["cluster", "list"])?;
    assert!(
        clusters.contains("https://kubernetes.default.svc") && clusters.contains("in-cluster"),
        "{clusters}"
    );
    Ok(())
}
