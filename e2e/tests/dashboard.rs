//! The web dashboard in a real browser: headless Debian chromium driven by playwright-core
//! (`e2e/browser/*.test.mjs`) against the full stack — the auth-gateway in front of the
//! api-server serving `web/dist`, the controller, the repo-server, the real kube-apiserver,
//! Redis, Git over HTTP and an OpenID Connect provider shaped like Azure AD.
//!
//! The Rust side prepares the world (the seed's App of Apps, two synced revisions of a prod
//! app, 1,000 apps for the list) and runs the browser script; the script asserts each step
//! from the page and from the cluster (the real `kubectl`). Screenshots and timings land in
//! `target/e2e-artifacts/dashboard/` (or `$CAPSTAN_ARTIFACTS_DIR/dashboard`).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use capstan_e2e::oidc::{self, Idp, IdpOptions};
use capstan_types::Application;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{Stack, StackOptions};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The dashboard's build output; the suite's script builds it (`npm run build` in web/).
fn web_dist() -> anyhow::Result<PathBuf> {
    let dist = std::env::var_os("CAPSTAN_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("web/dist"));
    anyhow::ensure!(
        dist.join("index.html").is_file(),
        "the web dashboard is not built ({} has no index.html): run `npm ci && npm run build` in web/ \
         (scripts/test.sh does)",
        dist.display()
    );
    Ok(dist)
}

fn artifacts() -> PathBuf {
    std::env::var_os("CAPSTAN_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/e2e-artifacts"))
        .join("dashboard")
}

/// Runs one browser script with `vars` (plus the browser, kubectl and artefact settings);
/// fails with its output unless every test in it passed. Returns its stdout.
async fn run_browser(
    stack: &Stack,
    script: &str,
    vars: &[(&str, String)],
) -> anyhow::Result<String> {
    let path = repo_root().join("e2e/browser").join(script);
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg("--test-reporter=spec")
        .arg(&path)
        .env("KUBECTL", stack.env.kubectl())
        .env("KUBECONFIG", stack.env.kubeconfig())
        .env("ARTIFACTS", artifacts())
        .env("CONTROL_NS", &stack.control.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let child = cmd.spawn()?;
    let out = tokio::time::timeout(Duration::from_secs(600), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("{script} did not finish within 10 minutes"))??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    anyhow::ensure!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    Ok(stdout)
}

/// The local admin's generated password (what the seed guide reads with kubectl).
async fn admin_password(stack: &Stack) -> anyhow::Result<String> {
    let secrets: Api<Secret> = Api::namespaced(stack.env.kube_client().await?, &stack.control.name);
    let secret = capstan_e2e::eventually(
        Duration::from_secs(30),
        "argocd-initial-admin-secret",
        || {
            let secrets = secrets.clone();
            async move { Ok(secrets.get_opt("argocd-initial-admin-secret").await?) }
        },
    )
    .await?;
    let bytes = secret
        .data
        .and_then(|d| d.get("password").cloned())
        .ok_or_else(|| anyhow::anyhow!("the initial admin Secret has no password"))?;
    Ok(String::from_utf8(bytes.0)?)
}

/// A stack with the gateway in front, the dashboard's files, an IdP with a login form and the
/// policy: the IdP's alice in an admin group, bob in a readonly group.
async fn dashboard_stack(no_controller: bool) -> anyhow::Result<(Stack, Idp)> {
    let stack = Stack::start(StackOptions {
        rbac: Some(BTreeMap::from([(
            "policy.csv".into(),
            format!(
                "g, {}, role:admin\ng, {}, role:readonly\n",
                oidc::ALICE_GROUP,
                oidc::BOB_GROUP
            ),
        )])),
        secret: Some(BTreeMap::from([(
            "oidc.azure.clientSecret".to_owned(),
            oidc::DEFAULT_CLIENT_SECRET.to_owned(),
        )])),
        gateway: true,
        no_controller,
        static_assets: Some(web_dist()?),
        ..Default::default()
    })
    .await?;
    let idp = Idp::start(IdpOptions {
        redirect_uris: vec![format!("{}/auth/callback", stack.gw().url())],
        auto_login: false,
        ..Default::default()
    })?;
    stack
        .use_oidc(&idp, "requestedScopes: [openid, profile, email]\n")
        .await?;
    Ok((stack, idp))
}

/// The commit `main` of the test Git server's repository `name` points at.
fn head_of(stack: &Stack, name: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(stack.env.git_repos_dir().join(format!("{name}.git")))
        .args(["rev-parse", "main"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "git rev-parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

async fn app_json(stack: &Stack, name: &str) -> anyhow::Result<Value> {
    let apps: Api<Application> =
        Api::namespaced(stack.env.kube_client().await?, &stack.control.name);
    Ok(serde_json::to_value(apps.get(name).await?)?)
}

/// Waits until the app's JSON satisfies `check`.
async fn wait_app(
    stack: &Stack,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        if let Ok(app) = app_json(stack, name).await {
            if check(&app) {
                return Ok(app);
            }
            last = app;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    anyhow::bail!(
        "timed out waiting for {what}; last status: {:#}",
        last["status"]
    )
}

/// Syncs `name` as admin over REST and waits until it is Synced and Healthy at `revision`.
async fn sync_to(stack: &Stack, name: &str, revision: &str) -> anyhow::Result<()> {
    let token = stack.token("admin", &[]).await?;
    // the stack compares only on demand (no periodic reconciliation): ask, as a webhook would
    let (status, body) = stack.curl(
        "GET",
        &format!("/api/v1/applications/{name}?refresh=normal"),
        Some(&token),
        None,
    )?;
    anyhow::ensure!(status == 200, "refresh {name}: {status} {body}");
    wait_app(stack, name, "the new revision compared", |a| {
        a["status"]["sync"]["revision"] == revision
    })
    .await?;
    let (status, body) = stack.curl(
        "POST",
        &format!("/api/v1/applications/{name}/sync"),
        Some(&token),
        Some(r#"{"prune": true}"#),
    )?;
    anyhow::ensure!(status == 200, "sync {name}: {status} {body}");
    wait_app(stack, name, &format!("{name} synced to {revision}"), |a| {
        let s = &a["status"];
        s["operationState"]["phase"] == "Succeeded"
            && s["operationState"]["syncResult"]["revision"] == revision
            && s["sync"]["status"] == "Synced"
            && s["health"]["status"] == "Healthy"
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_login_tree_diff_sync_rollback_and_readonly() -> anyhow::Result<()> {
    let (stack, _idp) = dashboard_stack(false).await?;
    let prefix = capstan_e2e::unique_name("ui");
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &stack.control.name, &prefix)?;
    let rev_a = head_of(&stack, &seed.name)?;

    // The seed's App of Apps, as the guide applies it.
    let root = seed
        .file("argocd/root-app.yaml")
        .expect("the seed has root-app.yaml");
    stack.apply(root)?;
    let app = format!("{prefix}-orders-api-prod");
    let seed_apps: Vec<String> = ["orders", "products", "users"]
        .iter()
        .flat_map(|s| {
            let prefix = &prefix;
            ["dev", "staging", "prod"]
                .iter()
                .map(move |e| format!("{prefix}-{s}-api-{e}"))
        })
        .chain(std::iter::once("root-app".to_owned()))
        .collect();
    for name in &seed_apps {
        wait_app(&stack, name, &format!("{name} created"), |_| true).await?;
    }

    // Two synced revisions of the prod app: history #0 at A (image 1.3.2), #1 at B (1.4.0).
    sync_to(&stack, &app, &rev_a).await?;
    let kustomization = "overlays/prod/orders-api/kustomization.yaml";
    let content = seed.file(kustomization).expect("the prod overlay");
    anyhow::ensure!(content.contains("newTag: 1.3.2"), "{content}");
    let rev_b = stack.env.commit_files(
        &seed.name,
        &[(
            kustomization,
            &content.replace("newTag: 1.3.2", "newTag: 1.4.0"),
        )],
        "orders-api 1.4.0 in prod",
    )?;
    sync_to(&stack, &app, &rev_b).await?;

    let out = run_browser(
        &stack,
        "dashboard.test.mjs",
        &[
            ("BASE_URL", stack.gw().url()),
            ("ADMIN_PASSWORD", admin_password(&stack).await?),
            ("SEED_APPS", seed_apps.join(",")),
            ("APP", app.clone()),
            ("APP_NS", app.clone()),
            ("REV_A", rev_a),
            ("REV_B", rev_b),
            ("REPO_URL", seed.url.clone()),
            ("GIT_USER", stack.env.git_http_user().to_owned()),
            ("GIT_PASSWORD", stack.env.git_http_password().to_owned()),
            ("SSO_ADMIN", oidc::ALICE.to_owned()),
            ("SSO_READONLY", oidc::BOB.to_owned()),
        ],
    )
    .await?;
    assert!(out.contains("fail 0"), "{out}");
    for shot in [
        "list",
        "app",
        "diff",
        "history",
        "readonly-app",
        "phone-list",
    ] {
        let file = artifacts().join(format!("{shot}.png"));
        assert!(
            file.is_file(),
            "the screenshot {} was saved",
            file.display()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_lists_1000_apps_a_page_at_a_time() -> anyhow::Result<()> {
    const N: usize = 1000;
    // No controller: these apps point at a made-up repository; their statuses are written
    // here, as a controller would have.
    let (stack, _idp) = dashboard_stack(true).await?;
    let client = stack.env.kube_client().await?;
    let ns = stack.control.name.clone();
    let apps: Api<Application> = Api::namespaced(client, &ns);
    let projects: Api<capstan_types::AppProject> =
        Api::namespaced(stack.env.kube_client().await?, &ns);
    for p in 0..3 {
        let project: capstan_types::AppProject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": capstan_e2e::fleet::project(p, 3), "namespace": ns},
            "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]},
        }))?;
        projects.create(&PostParams::default(), &project).await?;
    }
    let started = std::time::Instant::now();
    futures::future::try_join_all((0..N).map(|i| {
        let apps = apps.clone();
        let ns = ns.clone();
        async move {
            let _permit = LIMIT.acquire().await?;
            let app = capstan_e2e::fleet::application(i, &ns, 3)?;
            apps.create(&PostParams::default(), &app).await?;
            let status = json!({"status": capstan_e2e::fleet::status(i, &ns)});
            apps.patch_status(
                &capstan_e2e::fleet::app_name(i),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await?;
            anyhow::Ok(())
        }
    }))
    .await?;
    println!("created {N} apps with statuses in {:?}", started.elapsed());
    // the api-server has them all before the browser asks
    capstan_e2e::eventually(Duration::from_secs(60), "the api-server's copy", || {
        let count = stack.api.apps.list().len();
        async move { Ok((count == N).then_some(())) }
    })
    .await?;

    let out = run_browser(
        &stack,
        "list-perf.test.mjs",
        &[
            ("BASE_URL", stack.gw().url()),
            ("ADMIN_PASSWORD", admin_password(&stack).await?),
            ("APP_COUNT", N.to_string()),
        ],
    )
    .await?;
    let perf = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("PERF "))
        .ok_or_else(|| anyhow::anyhow!("no PERF line in the output:\n{out}"))?;
    let perf: Value = serde_json::from_str(perf)?;
    println!("first page of {N} apps: {perf:#}");
    assert!(perf["tiles"]["medianFirstPageMs"].as_f64().is_some());
    Ok(())
}

static LIMIT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);
