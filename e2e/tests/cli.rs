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

/// An HTTP/1.1-only reverse proxy in front of `upstream`, as an ingress with
/// `backend-protocol: HTTP`: it serves HTTP/1.1 only (hyper's `http1` server, no HTTP/2, no
/// h2c) and forwards each request with an HTTP/1.1 client, streaming the answer back. A path
/// under `/argo-cd/` is forwarded without that prefix (a gRPC-web root path); one under
/// `/slow/` too, after three seconds; one under `/unrouted/` gets an HTML 404 page. It records
/// the requests it receives.
struct Http1Proxy {
    addr: std::net::SocketAddr,
    /// `METHOD PATH CONTENT-TYPE` of each request, as received.
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Http1Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ProxyBody = http_body_util::combinators::BoxBody<hyper::body::Bytes, hyper::Error>;

impl Http1Proxy {
    async fn start(upstream: std::net::SocketAddr) -> anyhow::Result<Self> {
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::{TokioExecutor, TokioIo};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let client: Client<_, hyper::body::Incoming> =
            Client::builder(TokioExecutor::new()).build_http();
        let recorded = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (client, seen) = (client.clone(), recorded.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        Self::forward(client.clone(), upstream, seen.clone(), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, seen, task })
    }

    async fn forward(
        client: hyper_util::client::legacy::Client<
            hyper_util::client::legacy::connect::HttpConnector,
            hyper::body::Incoming,
        >,
        upstream: std::net::SocketAddr,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<ProxyBody>, std::convert::Infallible> {
        use http_body_util::BodyExt as _;
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        seen.lock().unwrap().push(format!(
            "{} {path} {}",
            parts.method,
            parts
                .headers
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
        ));
        if path.starts_with("/unrouted/") {
            // What an ingress' default backend answers.
            return Ok(hyper::Response::builder()
                .status(hyper::StatusCode::NOT_FOUND)
                .header(hyper::header::CONTENT_TYPE, "text/html")
                .body(
                    http_body_util::Full::new(hyper::body::Bytes::from_static(
                        b"<html><head><title>404 Not Found</title></head><body>\
                          <center><h1>404 Not Found</h1></center><hr><center>nginx</center>\
                          </body></html>",
                    ))
                    .map_err(|never| match never {})
                    .boxed(),
                )
                .expect("a valid response"));
        }
        let forwarded = if let Some(rest) = path.strip_prefix("/slow/") {
            tokio::time::sleep(Duration::from_secs(3)).await;
            format!("/{rest}")
        } else if let Some(rest) = path.strip_prefix("/argo-cd/") {
            format!("/{rest}")
        } else {
            path
        };
        parts.uri = format!("http://{upstream}{forwarded}")
            .parse()
            .expect("a valid URI");
        for hop in [
            "connection",
            "keep-alive",
            "te",
            "transfer-encoding",
            "upgrade",
            "host",
        ] {
            parts.headers.remove(hop);
        }
        match client
            .request(hyper::Request::from_parts(parts, body))
            .await
        {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                for hop in ["connection", "keep-alive", "transfer-encoding"] {
                    parts.headers.remove(hop);
                }
                Ok(hyper::Response::from_parts(parts, body.boxed()))
            }
            Err(err) => Ok(hyper::Response::builder()
                .status(hyper::StatusCode::BAD_GATEWAY)
                .header(hyper::header::CONTENT_TYPE, "text/plain")
                .body(
                    http_body_util::Full::new(hyper::body::Bytes::from(format!("proxy: {err}")))
                        .map_err(|never| match never {})
                        .boxed(),
                )
                .expect("a valid response")),
        }
    }

    /// What was forwarded so far.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_talks_grpc_web_through_an_http1_only_proxy() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        gateway: true,
        no_controller: true,
        ..Default::default()
    })
    .await?;
    let proxy = Http1Proxy::start(stack.gw().addr).await?;
    let server = proxy.addr.to_string();
    let gateway = stack.gw().addr.to_string();
    let cli = Cli {
        bin: support::capstan_bin()?,
        config: tempfile::tempdir()?,
    };
    let app = "through-the-proxy";
    stack.apply(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {app}\n  \
         namespace: {}\nspec:\n  project: default\n  source:\n    repoURL: \
         https://git.example.com/x.git\n    path: x\n  destination:\n    server: \
         https://kubernetes.default.svc\n    namespace: x\n",
        stack.control.name
    ))?;

    // Log in with a password through the proxy over gRPC-web; the server entry remembers it.
    let password = stack.initial_password()?;
    let out = cli.ok(&[
        "login",
        &server,
        "--grpc-web",
        "--username",
        "admin",
        "--password",
        &password,
    ])?;
    assert!(out.contains("'admin' logged in successfully"), "{out}");
    let config = std::fs::read_to_string(cli.config.path().join("config"))?;
    assert!(
        config.contains(&format!(
            "- server: {server}\n  plain-text: true\n  grpc-web: true\n"
        )),
        "{config}"
    );
    let token = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("auth-token:"))
        .map(|t| t.trim().trim_matches('"').to_owned())
        .expect("a saved token");

    // Without the flag: the stored config says gRPC-web.
    let list = cli.ok(&["app", "list"])?;
    assert!(list.contains(app), "{list}");
    let get = cli.ok(&["app", "get", app])?;
    assert!(
        get.lines()
            .any(|line| line.starts_with("Name:") && line.ends_with(app)),
        "{get}"
    );
    // RBAC answers as over native gRPC (straight to the gateway, which speaks h2c).
    let can_i = |global: &[&str], object: &str| -> anyhow::Result<String> {
        let mut args = global.to_vec();
        args.extend(["account", "can-i", "sync", "applications", object]);
        Ok(cli.ok(&args)?.trim().to_owned())
    };
    let native = ["--server", &gateway, "--plaintext", "--auth-token", &token];
    for object in ["*", "default/*", "other/x"] {
        let web = can_i(&[], object)?;
        assert_eq!(
            web,
            can_i(&native, object)?,
            "can-i sync applications {object}"
        );
    }
    assert_eq!(can_i(&[], "default/*")?, "yes");
    let seen = proxy.seen();
    for call in [
        "SessionService/Create",
        "ApplicationService/List",
        "ApplicationService/Get",
        "AccountService/CanI",
    ] {
        assert!(
            seen.iter().any(|line| line.starts_with("POST /capstan.")
                && line.contains(&format!("{call} "))
                && line.ends_with(" application/grpc-web")),
            "{call} did not go through the proxy as gRPC-web: {seen:#?}"
        );
    }

    // A server stream: `app wait` reads the app once, then follows its Watch stream; the
    // change arrives on the stream (no second read).
    let before = proxy.seen().len();
    let mut wait = Command::new(&cli.bin)
        .args(["app", "wait", app, "--health", "--timeout", "20"])
        .env("CAPSTAN_CONFIG", cli.config.path().join("config"))
        .env_remove("CAPSTAN_AUTH_TOKEN")
        .env_remove("CAPSTAN_SERVER")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !proxy.seen()[before..]
        .iter()
        .any(|line| line.contains("ApplicationService/Watch"))
    {
        if tokio::time::Instant::now() > deadline || wait.try_wait()?.is_some() {
            let _ = wait.kill();
            panic!(
                "`app wait` opened no watch through the proxy: {:#?}",
                proxy.seen()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the stream's first event (the current state) arrive, then make the app healthy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.kubectl(&[
        "-n",
        &stack.control.name,
        "patch",
        "application",
        app,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"health":{"status":"Healthy"}}}"#,
    ])?;
    let pid = wait.id();
    let waiting = tokio::task::spawn_blocking(move || wait.wait_with_output());
    let stop = tokio::spawn(async move {
        // The wait's own --timeout is 20 s; stop it earlier to see what it printed.
        tokio::time::sleep(Duration::from_secs(15)).await;
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let output = waiting.await??;
    stop.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "app wait failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Healthy"), "{stdout}");
    let during: Vec<String> = proxy.seen()[before..].to_vec();
    let count = |call: &str| during.iter().filter(|l| l.contains(call)).count();
    assert_eq!(
        (
            count("ApplicationService/Get"),
            count("ApplicationService/Watch")
        ),
        (1, 1),
        "the change came through the watch stream: {during:#?}"
    );

    // The root path: calls go under it (the proxy strips it).
    let list = cli.ok(&["--grpc-web-root-path", "/argo-cd/", "app", "list"])?;
    assert!(list.contains(app), "{list}");
    assert!(
        proxy
            .seen()
            .iter()
            .any(|l| l.starts_with("POST /argo-cd/capstan.application.v1.ApplicationService/List ")),
        "{:#?}",
        proxy.seen()
    );

    // Unary deadlines hold over gRPC-web: the proxy holds `/slow/` calls for 3 s.
    let started = std::time::Instant::now();
    let out = cli.run(&[
        "--grpc-web-root-path",
        "slow",
        "--grpc-timeout",
        "1s",
        "app",
        "list",
    ])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "the Capstan API server at {server} did not answer in time (no answer within 1s); \
             raise --grpc-timeout"
        )),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );

    // Failures are worded for users.
    let other = tempfile::tempdir()?;
    let other_config = other.path().join("config");
    let other_config = other_config.to_string_lossy();
    let fails = |args: &[&str]| -> anyhow::Result<String> {
        let out = cli.run(args)?;
        assert!(!out.status.success(), "capstan {args:?} succeeded");
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Native gRPC (HTTP/2) does not pass the HTTP/1.1-only proxy.
    let stderr = fails(&[
        "--config",
        &other_config,
        "--server",
        &server,
        "--auth-token",
        &token,
        "app",
        "list",
    ])?;
    assert!(
        stderr.contains(&format!(
            "cannot talk gRPC to the Capstan API server at {server}: stream closed because of a \
             broken pipe (if a proxy without HTTP/2 is in between, such as an ingress with \
             backend-protocol HTTP, use --grpc-web)"
        )),
        "{stderr}"
    );
    // A wrong root path that reaches the api-server: its gRPC-web "unknown service".
    let stderr = fails(&["--grpc-web-root-path", "/nope", "app", "list"])?;
    assert!(
        stderr.contains(&format!(
            "the Capstan API server at {server} does not implement this call (unknown gRPC \
             service: /nope/capstan.application.v1.ApplicationService/List)"
        )),
        "{stderr}"
    );
    // One the ingress does not route: its HTML 404 page, not gRPC-web.
    let stderr = fails(&["--grpc-web-root-path", "/unrouted", "app", "list"])?;
    assert!(
        stderr.contains(&format!(
            "cannot talk gRPC-web to the Capstan API server at {server}: POST \
             /unrouted/capstan.application.v1.ApplicationService/List was answered with HTTP \
             404 Not Found (text/html), not gRPC-web: check the server address and the \
             gRPC-web root path (--grpc-web-root-path)"
        )),
        "{stderr}"
    );
    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let stderr = fails(&[
        "--config",
        &other_config,
        "--server",
        &closed.to_string(),
        "--grpc-web",
        "app",
        "list",
    ])?;
    assert!(
        stderr.contains(&format!(
            "cannot connect to the Capstan API server at {closed}: connection refused"
        )),
        "{stderr}"
    );
    // TLS: the kube-apiserver of the test environment is an HTTPS server (HTTP/1.1 too) with
    // its own CA. With that CA as --server-crt the TLS handshake succeeds and its refusal (not
    // gRPC-web) is shown; without, its certificate is refused, as on the native transport.
    let cluster: serde_json::Value = serde_json::from_str(&stack.env.cluster_secret_config()?)?;
    let ca = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(
            cluster["tlsClientConfig"]["caData"]
                .as_str()
                .expect("the test cluster has a CA"),
        )?
    };
    let ca_file = other.path().join("ca.pem");
    std::fs::write(&ca_file, ca)?;
    let https = stack.env.apiserver_url().trim_end_matches('/');
    let tls = |extra: &[&str]| -> anyhow::Result<String> {
        let mut args = vec![
            "--config",
            &other_config,
            "--server",
            https,
            "--auth-token",
            "not-a-kubernetes-token",
        ];
        args.extend_from_slice(extra);
        args.extend(["app", "list"]);
        fails(&args)
    };
    let stderr = tls(&["--grpc-web", "--server-crt", &ca_file.to_string_lossy()])?;
    assert!(
        stderr.contains("not authenticated: HTTP 401 Unauthorized: Unauthorized"),
        "{stderr}"
    );
    for extra in [&["--grpc-web"][..], &[]] {
        let stderr = tls(extra)?;
        assert!(
            stderr.contains(&format!(
                "cannot connect to the Capstan API server at {https}: invalid peer \
                 certificate: UnknownIssuer"
            )),
            "{extra:?}: {stderr}"
        );
    }
    let stderr = tls(&["--grpc-web", "--insecure"])?;
    assert!(stderr.contains("--insecure is not supported"), "{stderr}");

    // An HTTP/2-only gRPC server (a repo-server) does not answer HTTP/1.1.
    let mut stops = Vec::new();
    let data = tempfile::tempdir()?;
    let repo_server = support::serve_repo_server(
        &support::repo_server_config(&stack.env, data.path().to_owned(), &stack.control.name),
        stack.env.kube_client().await?,
        &mut stops,
    )
    .await?;
    let repo_server = repo_server.trim_start_matches("http://");
    let stderr = fails(&[
        "--config",
        &other_config,
        "--server",
        repo_server,
        "--grpc-web",
        "app",
        "list",
    ])?;
    assert!(
        stderr.contains(&format!(
            "cannot talk gRPC-web to the Capstan API server at {repo_server}: no HTTP/1.1 answer"
        )),
        "{stderr}"
    );
    Ok(())
}
