//! The repo-server end to end over gRPC, against the real test environment: Git over HTTP with
//! basic auth, repository Secrets in the real kube-apiserver, real Redis, real `kubectl
//! kustomize` and `helm`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_e2e::{RedisServer, TestEnv, TestNamespace};
use capstan_proto::common::v1::KubeObject;
use capstan_proto::repo::v1 as pb;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_repo_server::{RepoServerConfig, RepoService, ServeOptions};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;

/// A repo-server running in this process on real sockets, with its own data directory and
/// Secrets namespace.
struct Harness {
    env: TestEnv,
    ns: TestNamespace,
    service: RepoService,
    client: RepoServerServiceClient<Channel>,
    grpc_url: String,
    admin_url: String,
    _data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    /// Starts a repo-server using `redis_url`, with a `repo-creds` Secret for the test Git
    /// server unless `with_creds` is false.
    async fn start(redis_url: Option<String>, with_creds: bool) -> anyhow::Result<Self> {
        let env = TestEnv::from_env()?;
        let ns = env.unique_namespace("repo-server").await?;
        if with_creds {
            env.create_git_creds_secret(&ns.name).await?;
        }
        let data = tempfile::tempdir()?;
        let mut config = RepoServerConfig::new(data.path(), env.kubectl(), env.helm());
        config.redis_url = redis_url;
        config.secrets_namespace = Some(ns.name.clone());
        config.fetch_interval = Duration::from_millis(200);
        config.revision_cache_ttl = Duration::from_millis(200);
        config.exec_timeout = Duration::from_secs(60);
        let mut registry = prometheus_client::registry::Registry::default();
        let service = capstan_repo_server::build_service(
            &config,
            Some(env.kube_client().await?),
            &mut registry,
        )
        .await?;
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let grpc_url = format!("http://{}", grpc.local_addr()?);
        let admin_url = format!("http://{}", admin.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(capstan_repo_server::serve_service(
            service.clone(),
            registry,
            ServeOptions { grpc, admin },
            async {
                let _ = stopped.await;
            },
        ));
        let client = RepoServerServiceClient::connect(grpc_url.clone()).await?;
        Ok(Self {
            env,
            ns,
            service,
            client,
            grpc_url,
            admin_url,
            _data: data,
            stop: Some(stop),
        })
    }

    /// Stops the server (its data directory stays until the harness is dropped).
    fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn add_secret(&self, secret: Secret) -> anyhow::Result<()> {
        let api = Api::<Secret>::namespaced(self.env.kube_client().await?, &self.ns.name);
        api.create(&PostParams::default(), &secret).await?;
        self.await_secrets(secret.metadata.name.as_deref(), None)
            .await
    }

    async fn delete_secret(&self, name: &str) -> anyhow::Result<()> {
        let api = Api::<Secret>::namespaced(self.env.kube_client().await?, &self.ns.name);
        api.delete(name, &Default::default()).await?;
        self.await_secrets(None, Some(name)).await
    }

    /// Waits until the repo-server's Secret watch has seen `present` and lost `absent`.
    async fn await_secrets(
        &self,
        present: Option<&str>,
        absent: Option<&str>,
    ) -> anyhow::Result<()> {
        capstan_e2e::eventually(
            Duration::from_secs(10),
            "the repo-server to see the Secret change",
            || {
                let names = self.service.repo_secret_names();
                let ok = present.is_none_or(|p| names.iter().any(|n| n == p))
                    && absent.is_none_or(|a| names.iter().all(|n| n != a));
                async move { Ok(ok.then_some(())) }
            },
        )
        .await
    }

    async fn metrics(&self) -> anyhow::Result<String> {
        let body = reqwest_get(&format!("{}/metrics", self.admin_url)).await?;
        Ok(body)
    }
}

/// Minimal HTTP GET over a TCP socket (the admin endpoint is plain HTTP/1.1).
async fn reqwest_get(url: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("http URL")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    stream
        .write_all(
            format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").context("HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {url}: {head}");
    }
    Ok(body.to_owned())
}

fn repo_secret(name: &str, secret_type: &str, url: &str, username: &str, password: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(
                "argocd.argoproj.io/secret-type".to_owned(),
                secret_type.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([
            ("type".to_owned(), "git".to_owned()),
            ("url".to_owned(), url.to_owned()),
            ("username".to_owned(), username.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ])),
        ..Secret::default()
    }
}

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Publishes `examples/k8s-manifests` as a new repository; returns (name, URL).
fn publish_example_repo(env: &TestEnv) -> anyhow::Result<(String, String)> {
    let name = capstan_e2e::unique_name("k8s-manifests");
    let url = env.create_git_repo_from_dir(&name, &workspace().join("examples/k8s-manifests"))?;
    Ok((name, url))
}

fn request(url: &str, revision: &str, source: Value) -> pb::ManifestRequest {
    pb::ManifestRequest {
        repo: Some(pb::RepoRef {
            url: url.to_owned(),
            ..Default::default()
        }),
        revision: revision.to_owned(),
        app_name: "users-api-dev".to_owned(),
        namespace: "users-api-dev".to_owned(),
        application_source: Some(KubeObject {
            json: source.to_string(),
        }),
        kube_version: "1.20".to_owned(),
        ..Default::default()
    }
}

fn manifests_of(response: &pb::ManifestResponse) -> Vec<Value> {
    response
        .manifests
        .iter()
        .map(|m| serde_json::from_str(m).expect("manifest JSON"))
        .collect()
}

/// `kubectl kustomize <dir>` parsed into objects.
fn kubectl_kustomize(env: &TestEnv, dir: &Path) -> anyhow::Result<Vec<Value>> {
    let out = Command::new(env.kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "kubectl kustomize failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    yaml_docs(&String::from_utf8(out.stdout)?)
}

fn yaml_docs(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(doc)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

#[tokio::test]
async fn seed_like_overlays_render_exactly_like_kubectl_kustomize() -> anyhow::Result<()> {
    let mut h = Harness::start(Some(TestEnv::from_env()?.redis_url().to_owned()), true).await?;
    let (_, url) = publish_example_repo(&h.env)?;
    let examples = workspace().join("examples/k8s-manifests");
    for env_name in ["dev", "staging", "prod"] {
        for service in ["users-api", "orders-api", "products-api"] {
            let path = format!("overlays/{env_name}/{service}");
            let response = h
                .client
                .generate_manifest(request(
                    &url,
                    "main",
                    json!({"repoURL": url, "path": path, "targetRevision": "main"}),
                ))
                .await
                .with_context(|| format!("rendering {path}"))?
                .into_inner();
            assert_eq!(response.source_type, pb::SourceType::Kustomize as i32);
            assert_eq!(response.revision.len(), 40);
            assert_eq!(
                manifests_of(&response),
                kubectl_kustomize(&h.env, &examples.join(&path))?,
                "{path}"
            );
        }
    }

    // The Application's own kustomize overrides on top, as Argo CD applies them: compare with
    // kubectl kustomize of an overlay that says the same thing.
    let response = h
        .client
        .generate_manifest(request(
            &url,
            "main",
            json!({
                "repoURL": url, "path": "overlays/dev/users-api", "targetRevision": "main",
                "kustomize": {
                    "images": ["myregistry.azurecr.io/users-api:feature-new-login-123"],
                    "namePrefix": "pr-42-",
                    "commonLabels": {"preview": "pr-42"},
                    "replicas": [{"name": "users-api", "count": 2}],
                }
            }),
        ))
        .await?
        .into_inner();
    // A copy of the repository whose dev overlay says the same as those overrides.
    let copy = tempfile::tempdir()?;
    for (path, contents) in capstan_e2e::read_tree(&examples)? {
        let target = copy.path().join(path);
        std::fs::create_dir_all(target.parent().context("parent")?)?;
        std::fs::write(target, contents)?;
    }
    let overlay = copy.path().join("overlays/dev/users-api");
    let kustomization = std::fs::read_to_string(overlay.join("kustomization.yaml"))?
        .replace("newTag: dev-1", "newTag: feature-new-login-123")
        + "namePrefix: pr-42-\ncommonLabels:\n  preview: pr-42\nreplicas:\n- name: users-api\n  count: 2\n";
    std::fs::write(overlay.join("kustomization.yaml"), kustomization)?;
    let mut expected = kubectl_kustomize(&h.env, &overlay)?;
    let mut got = manifests_of(&response);
    let by_id = |v: &Value| format!("{}/{}", v["kind"], v["metadata"]["name"]);
    expected.sort_by_key(by_id);
    got.sort_by_key(by_id);
    assert_eq!(got, expected);
    let deployment = got
        .iter()
        .find(|m| m["kind"] == "Deployment")
        .context("deployment")?;
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "myregistry.azurecr.io/users-api:feature-new-login-123"
    );
    Ok(())
}

#[tokio::test]
async fn helm_chart_renders_exactly_like_helm_template() -> anyhow::Result<()> {
    let h = Harness::start(None, true).await?;
    let chart_dir = workspace().join("crates/capstan-render/testdata/helm");
    let url = h
        .env
        .create_git_repo_from_dir(&capstan_e2e::unique_name("charts"), &chart_dir)?;
    let source = json!({
        "repoURL": url, "path": "webapp", "targetRevision": "main",
        "helm": {
            "releaseName": "shop",
            "valueFiles": ["values-prod.yaml"],
            "parameters": [{"name": "replicaCount", "value": "4"}, {"name": "image.tag", "value": "1.0", "forceString": true}],
        }
    });
    let mut req = request(&url, "main", source);
    req.namespace = "shop".to_owned();
    let response = h.client.clone().generate_manifest(req).await?.into_inner();
    assert_eq!(response.source_type, pb::SourceType::Helm as i32);
    let out = Command::new(h.env.helm())
        .current_dir(chart_dir.join("webapp"))
        .env("HELM_CACHE_HOME", tempfile::tempdir()?.path())
        .env("HELM_CONFIG_HOME", tempfile::tempdir()?.path())
        .env("HELM_DATA_HOME", tempfile::tempdir()?.path())
        .args([
            "template",
            ".",
            "--name-template",
            "shop",
            "--namespace",
            "shop",
            "--kube-version",
            "1.20",
        ])
        .args([
            "--set",
            "replicaCount=4",
            "--set-string",
            "image.tag=1.0",
            "--values",
            "values-prod.yaml",
            "--include-crds",
        ])
        .output()?;
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        manifests_of(&response),
        yaml_docs(&String::from_utf8(out.stdout)?)?
    );
    Ok(())
}

#[tokio::test]
async fn private_repository_credentials() -> anyhow::Result<()> {
    // No repo-creds: the repository Secret alone decides.
    let h = Harness::start(None, false).await?;
    let (_, url) = publish_example_repo(&h.env)?;
    let source = json!({"repoURL": url, "path": "overlays/dev/users-api"});
    let wrong = "wrong-password-4711";

    // No credentials at all: the server asks for them.
    let err = h
        .client
        .clone()
        .generate_manifest(request(&url, "main", source.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");

    // A repository Secret with the wrong password: a clear error naming the repository,
    // never the password.
    h.add_secret(repo_secret(
        "repo-wrong",
        "repository",
        &url,
        h.env.git_http_user(),
        wrong,
    ))
    .await?;
    let err = h
        .client
        .clone()
        .generate_manifest(request(&url, "main", source.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(
        err.message().contains("authentication failed"),
        "{}",
        err.message()
    );
    assert!(err.message().contains(&url), "{}", err.message());
    assert!(!format!("{err:?}").contains(wrong));

    // The right password in the repository Secret (exact URL) works.
    h.delete_secret("repo-wrong").await?;
    h.add_secret(repo_secret(
        "repo-right",
        "repository",
        &url,
        h.env.git_http_user(),
        h.env.git_http_password(),
    ))
    .await?;
    let ok = h
        .client
        .clone()
        .generate_manifest(request(&url, "main", source.clone()))
        .await?;
    assert!(!ok.into_inner().manifests.is_empty());

    // And so does a repo-creds Secret whose URL is a prefix of the repository's.
    h.delete_secret("repo-right").await?;
    h.add_secret(repo_secret(
        "prefix-creds",
        "repo-creds",
        &format!("{}/", h.env.git_http_url()),
        h.env.git_http_user(),
        h.env.git_http_password(),
    ))
    .await?;
    let mut req = request(&url, "main", source);
    req.no_cache = true;
    let ok = h.client.clone().generate_manifest(req).await?;
    assert!(!ok.into_inner().manifests.is_empty());
    Ok(())
}

#[tokio::test]
async fn cached_requests_run_nothing_new_commits_render_anew_and_concurrency_renders_once()
-> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let h = Harness::start(Some(env.redis_url().to_owned()), true).await?;
    let (name, url) = publish_example_repo(&h.env)?;
    let source =
        json!({"repoURL": url, "path": "overlays/dev/users-api", "targetRevision": "main"});

    let first = h
        .client
        .clone()
        .generate_manifest(request(&url, "main", source.clone()))
        .await?
        .into_inner();
    let git = h.service.git().stats();
    let execs = h.service.renderer().exec_count();
    let hits = h.service.cache().stats().hits;

    // Identical request, by SHA so that not even an ls-remote is needed: served from Redis.
    let second = h
        .client
        .clone()
        .generate_manifest(request(&url, &first.revision, source.clone()))
        .await?
        .into_inner();
    assert_eq!(second.manifests, first.manifests);
    assert_eq!(
        h.service.renderer().exec_count(),
        execs,
        "no kustomize run on a cache hit"
    );
    assert_eq!(
        h.service.git().stats().fetches,
        git.fetches,
        "no fetch on a cache hit"
    );
    assert_eq!(
        h.service.git().stats().checkouts_created,
        git.checkouts_created
    );
    assert!(h.service.cache().stats().hits > hits);
    let metrics = h.metrics().await?;
    assert!(
        metrics.contains("capstan_repo_manifest_cache_requests_total{result=\"hit\"} 1"),
        "{metrics}"
    );

    // A commit that changes the path gives new manifests.
    let sha2 = h.env.commit_files(
        &name,
        &[("overlays/dev/users-api/deployment-patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: users-api\nspec:\n  replicas: 5\n")],
        "scale dev users-api",
    )?;
    tokio::time::sleep(Duration::from_millis(300)).await; // past the coalescing window
    let third = h
        .client
        .clone()
        .generate_manifest(request(&url, "main", source.clone()))
        .await?
        .into_inner();
    assert_eq!(third.revision, sha2);
    let deployment = manifests_of(&third)
        .into_iter()
        .find(|m| m["kind"] == "Deployment")
        .context("deployment")?;
    assert_eq!(deployment["spec"]["replicas"], 5);

    // 50 concurrent identical requests for a path not rendered yet: one render.
    let execs = h.service.renderer().exec_count();
    let staging =
        json!({"repoURL": url, "path": "overlays/staging/users-api", "targetRevision": "main"});
    let calls = (0..50).map(|_| {
        let mut client = h.client.clone();
        let req = request(&url, &sha2, staging.clone());
        async move {
            client
                .generate_manifest(req)
                .await
                .map(|r| r.into_inner().manifests)
        }
    });
    let results = futures::future::join_all(calls).await;
    let results: Vec<_> = results.into_iter().collect::<Result<_, _>>()?;
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        h.service.renderer().exec_count() - execs,
        1,
        "50 identical requests, one kustomize run"
    );
    Ok(())
}

#[tokio::test]
async fn redis_outage_costs_only_speed() -> anyhow::Result<()> {
    let mut redis = RedisServer::start()?;
    let h = Harness::start(Some(redis.url()), true).await?;
    let (_, url) = publish_example_repo(&h.env)?;
    let source = json!({"repoURL": url, "path": "overlays/prod/orders-api"});
    let sha = h
        .client
        .clone()
        .generate_manifest(request(&url, "main", source.clone()))
        .await?
        .into_inner()
        .revision;

    redis.stop();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let r = h
            .client
            .clone()
            .generate_manifest(request(&url, &sha, source.clone()))
            .await?
            .into_inner();
        assert!(!r.manifests.is_empty());
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "requests stay fast without Redis"
    );
    assert!(!h.service.cache().is_available());

    redis.restart()?;
    // Caching resumes by itself: a render is stored, then served without running kustomize.
    capstan_e2e::eventually(Duration::from_secs(15), "caching to resume", || {
        let mut client = h.client.clone();
        let service = h.service.clone();
        let req = request(&url, &sha, source.clone());
        async move {
            client.generate_manifest(req.clone()).await?;
            let execs = service.renderer().exec_count();
            client.generate_manifest(req).await?;
            Ok((service.renderer().exec_count() == execs).then_some(()))
        }
    })
    .await?;
    assert!(h.service.cache().is_available());
    Ok(())
}

#[tokio::test]
async fn paths_that_escape_the_repository_are_rejected() -> anyhow::Result<()> {
    let h = Harness::start(None, true).await?;
    let name = capstan_e2e::unique_name("escapes");
    let url = h.env.create_git_repo(
        &name,
        &[
            (
                "apps/good/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n",
            ),
            (
                "chart/Chart.yaml",
                "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
            ),
            (
                "chart/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
            ),
            (
                "broken/bad.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [unclosed\n",
            ),
        ],
    )?;
    // A symlink out of the repository, committed with the git CLI.
    let work = tempfile::tempdir()?;
    let git = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("git")
            .current_dir(work.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .status()?;
        anyhow::ensure!(status.success(), "git {args:?}");
        Ok(())
    };
    git(&[
        "clone",
        "-q",
        &h.env.git_repo_url_with_credentials(&name),
        ".",
    ])?;
    std::fs::create_dir_all(work.path().join("linked"))?;
    std::os::unix::fs::symlink("/etc", work.path().join("linked/etc"))?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "symlink out"])?;
    git(&["push", "-q", "origin", "HEAD:main"])?;

    let good = json!({"repoURL": url, "path": "apps/good"});
    let cases = [
        (json!({"repoURL": url, "path": "../../etc"}), "path"),
        (json!({"repoURL": url, "path": "/etc"}), "absolute"),
        (
            json!({"repoURL": url, "path": "chart", "helm": {"valueFiles": ["../../../../etc/passwd"]}}),
            "values",
        ),
    ];
    // The symlink makes the whole commit unsafe, as in Argo CD: even the good path fails.
    let err = h
        .client
        .clone()
        .generate_manifest(request(&url, "main", good))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("linked/etc"), "{}", err.message());
    for (source, what) in cases {
        let err = h
            .client
            .clone()
            .generate_manifest(request(&url, "main", source))
            .await
            .unwrap_err();
        assert!(
            matches!(err.code(), Code::FailedPrecondition | Code::InvalidArgument),
            "{what}: {err:?}"
        );
    }

    // Before the symlink commit: each escape is refused on its own, and broken YAML names the
    // file and line.
    let first = {
        let out = Command::new("git")
            .current_dir(work.path())
            .args(["rev-parse", "HEAD~1"])
            .output()?;
        String::from_utf8(out.stdout)?.trim().to_owned()
    };
    for (source, needle) in [
        (json!({"repoURL": url, "path": "../../etc"}), "../../etc"),
        (json!({"repoURL": url, "path": "/etc"}), "/etc"),
        (
            json!({"repoURL": url, "path": "chart", "helm": {"valueFiles": ["../../../../etc/passwd"]}}),
            "passwd",
        ),
        (json!({"repoURL": url, "path": "broken"}), "broken/bad.yaml"),
    ] {
        let err = h
            .client
            .clone()
            .generate_manifest(request(&url, &first, source))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        assert!(
            err.message().contains(needle),
            "{needle}: {}",
            err.message()
        );
    }
    let err = h
        .client
        .clone()
        .generate_manifest(request(
            &url,
            &first,
            json!({"repoURL": url, "path": "broken"}),
        ))
        .await
        .unwrap_err();
    assert!(err.message().contains("line"), "{}", err.message());
    Ok(())
}

#[tokio::test]
async fn refs_apps_files_and_metadata() -> anyhow::Result<()> {
    let h = Harness::start(None, true).await?;
    let (_, url) = publish_example_repo(&h.env)?;
    let repo = Some(pb::RepoRef {
        url: url.clone(),
        ..Default::default()
    });
    let mut client = h.client.clone();

    let refs = client
        .list_refs(pb::ListRefsRequest { repo: repo.clone() })
        .await?
        .into_inner();
    assert_eq!(refs.branches, ["main"]);

    let resolved = client
        .resolve_revision(pb::ResolveRevisionRequest {
            repo: repo.clone(),
            ambiguous_revision: "main".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(resolved.revision.len(), 40);

    let apps = client
        .list_apps(pb::ListAppsRequest {
            repo: repo.clone(),
            revision: "main".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        apps.apps.get("overlays/dev/users-api"),
        Some(&(pb::SourceType::Kustomize as i32))
    );

    let files = client
        .get_git_files(pb::GitFilesRequest {
            repo: repo.clone(),
            revision: "main".into(),
            path: "argocd/applications/*-prod.yaml".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(files.map.len(), 3);

    let dirs = client
        .get_git_directories(pb::GitDirectoriesRequest {
            repo: repo.clone(),
            revision: "main".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(dirs.paths.contains(&"overlays/prod/orders-api".to_owned()));

    let details = client
        .get_app_details(pb::RepoServerAppDetailsQuery {
            repo: repo.clone(),
            source: Some(KubeObject { json: json!({"repoURL": url, "path": "overlays/dev/users-api", "targetRevision": "main"}).to_string() }),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(
        details.kustomize.context("kustomize details")?.images,
        ["myregistry.azurecr.io/users-api:dev-1"]
    );

    let metadata = client
        .get_revision_metadata(pb::RepoServerRevisionMetadataRequest {
            repo: repo.clone(),
            revision: "main".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(!metadata.message.is_empty());

    client
        .test_repository(pb::TestRepositoryRequest {
            repo: repo.clone(),
            credentials: None,
        })
        .await?;
    let err = client
        .test_repository(pb::TestRepositoryRequest {
            repo,
            credentials: Some(pb::InlineCredentials {
                username: "x".into(),
                password: "nope".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    Ok(())
}

/// The real binary, as deployed: flags from the environment, gRPC health, reflection and
/// /metrics with Argo CD's names.
#[tokio::test]
async fn the_binary_serves_grpc_health_and_metrics() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let ns = env.unique_namespace("repo-server-bin").await?;
    env.create_git_creds_secret(&ns.name).await?;
    let (_, url) = publish_example_repo(&env)?;
    let free = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    let (grpc_port, admin_port) = (free()?, free()?);
    let data = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan-repo-server"))
        .env("KUBECONFIG", env.kubeconfig())
        .env(
            "CAPSTAN_REPO_SERVER_LISTEN_ADDR",
            format!("127.0.0.1:{grpc_port}"),
        )
        .env(
            "CAPSTAN_REPO_SERVER_METRICS_ADDR",
            format!("127.0.0.1:{admin_port}"),
        )
        .env("CAPSTAN_REPO_SERVER_REDIS_URL", env.redis_url())
        .env("CAPSTAN_REPO_SERVER_NAMESPACE", &ns.name)
        .env("CAPSTAN_REPO_SERVER_DATA_DIR", data.path())
        .env("CAPSTAN_REPO_SERVER_KUBECTL_PATH", env.kubectl())
        .env("CAPSTAN_REPO_SERVER_HELM_PATH", env.helm())
        .kill_on_drop(true)
        .spawn()?;
    let admin = format!("http://127.0.0.1:{admin_port}");
    capstan_e2e::eventually(
        Duration::from_secs(30),
        "the repo-server to be ready",
        || {
            let admin = admin.clone();
            async move {
                Ok(reqwest_get(&format!("{admin}/readyz"))
                    .await
                    .ok()
                    .map(|_| ()))
            }
        },
    )
    .await?;

    let channel = Channel::from_shared(format!("http://127.0.0.1:{grpc_port}"))?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "capstan.repo.v1.RepoServerService".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut client = RepoServerServiceClient::new(channel);
    let source = json!({"repoURL": url, "path": "overlays/prod/products-api"});
    let first = client
        .generate_manifest(request(&url, "main", source.clone()))
        .await?
        .into_inner();
    client
        .generate_manifest(request(&url, &first.revision, source))
        .await?;

    let metrics = reqwest_get(&format!("{admin}/metrics")).await?;
    for name in [
        "argocd_git_request_total",
        "argocd_git_request_duration_seconds",
        "argocd_redis_request_total",
        "argocd_repo_pending_request_total",
        "capstan_repo_manifest_cache_requests_total{result=\"hit\"} 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    assert!(
        !metrics.contains(env.git_http_password()),
        "no secret in metrics"
    );
    child.start_kill()?;
    child.wait().await?;
    Ok(())
}

/// SSH repositories through a real OpenSSH sshd: the server's host key is checked against
/// `argocd-ssh-known-hosts-cm` as the repo-server watches it — refused without the ConfigMap,
/// with another key for the host, or without the host; accepted once its line is there, at
/// once after an edit; `insecure: "true"` alone skips the check.
#[tokio::test]
async fn ssh_repositories_are_verified_against_argocd_ssh_known_hosts_cm() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Patch, PatchParams};

    let h = Harness::start(None, false).await?;
    let ssh = capstan_e2e::ssh::SshGitServer::start(&h.env).await?;
    let (name, _) = publish_example_repo(&h.env)?;
    let url = ssh.url(&name);
    let source = json!({"repoURL": url, "path": "overlays/dev/users-api"});
    let ssh_secret = |insecure: bool| {
        let mut data = BTreeMap::from([
            ("type".to_owned(), "git".to_owned()),
            ("url".to_owned(), url.clone()),
            (
                "sshPrivateKey".to_owned(),
                ssh.client_private_key().to_owned(),
            ),
        ]);
        if insecure {
            data.insert("insecure".into(), "true".into());
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(if insecure { "ssh-insecure" } else { "ssh-repo" }.to_owned()),
                labels: Some(BTreeMap::from([(
                    "argocd.argoproj.io/secret-type".to_owned(),
                    "repository".to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            string_data: Some(data),
            ..Secret::default()
        }
    };
    h.add_secret(ssh_secret(false)).await?;
    let known_hosts: Api<ConfigMap> = Api::namespaced(h.env.kube_client().await?, &h.ns.name);
    let set_known_hosts = |lines: String| {
        let known_hosts = known_hosts.clone();
        async move {
            known_hosts
                .patch(
                    "argocd-ssh-known-hosts-cm",
                    &PatchParams::apply("e2e").force(),
                    &Patch::Apply(json!({
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "argocd-ssh-known-hosts-cm"},
                        "data": {"ssh_known_hosts": lines},
                    })),
                )
                .await
        }
    };
    let host = format!("[127.0.0.1]:{}", ssh.port());
    let unverifiable =
        format!("no known_hosts entries are configured, so the key of {host} cannot be verified");

    // No ConfigMap: nothing to verify against, so refused (never trust on first use).
    expect_refusal(&h, &url, &source, &unverifiable).await?;
    // The host listed with another key: a possible man in the middle.
    set_known_hosts(ssh.wrong_known_hosts_line()).await?;
    expect_refusal(
        &h,
        &url,
        &source,
        &format!("the host key of {host} does not match its known_hosts entries"),
    )
    .await?;
    // Its own line among Argo CD-style entries for other hosts: fetched and rendered.
    let github = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    set_known_hosts(format!("{github}\n{}\n", ssh.known_hosts_line())).await?;
    let rendered = capstan_e2e::eventually(
        Duration::from_secs(10),
        "the SSH repository rendered",
        || async { Ok(fresh_manifests(&h, &url, &source).await.ok()) },
    )
    .await?;
    let manifests = manifests_of(rendered.get_ref());
    assert!(
        manifests
            .iter()
            .any(|m| m["kind"] == "Deployment" && m["metadata"]["name"] == "users-api"),
        "{manifests:?}"
    );
    // Only other hosts listed.
    set_known_hosts(format!("{github}\n")).await?;
    expect_refusal(&h, &url, &source, &format!("{host} is not in known_hosts")).await?;
    // The ConfigMap deleted: refused again.
    known_hosts
        .delete("argocd-ssh-known-hosts-cm", &Default::default())
        .await?;
    expect_refusal(&h, &url, &source, &unverifiable).await?;
    // insecure: "true" on the repository Secret skips the check, as in Argo CD.
    h.delete_secret("ssh-repo").await?;
    h.add_secret(ssh_secret(true)).await?;
    let insecure = capstan_e2e::eventually(
        Duration::from_secs(10),
        "the insecure SSH repository rendered",
        || async { Ok(fresh_manifests(&h, &url, &source).await.ok()) },
    )
    .await?;
    assert!(!manifests_of(insecure.get_ref()).is_empty());
    Ok(())
}

/// A manifest request that asks the Git server again: no cached revision or manifests.
async fn fresh_manifests(
    h: &Harness,
    url: &str,
    source: &Value,
) -> Result<tonic::Response<pb::ManifestResponse>, tonic::Status> {
    let mut req = request(url, "main", source.clone());
    req.no_cache = true;
    req.no_revision_cache = true;
    h.client.clone().generate_manifest(req).await
}

/// Polls until a fresh request for `url` is refused with a message containing `why` (a watched
/// ConfigMap's change applies within moments): Unauthenticated, naming the repository.
async fn expect_refusal(h: &Harness, url: &str, source: &Value, why: &str) -> anyhow::Result<()> {
    capstan_e2e::eventually(Duration::from_secs(10), why, || async {
        Ok(match fresh_manifests(h, url, source).await {
            Err(e) if e.message().contains(why) => {
                assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
                assert!(e.message().contains(url), "names the repository: {e:?}");
                Some(())
            }
            _ => None,
        })
    })
    .await
}

/// Manifest requests a repo-server answered, from its metrics.
async fn manifest_requests(h: &Harness) -> anyhow::Result<u64> {
    let metrics = h.metrics().await?;
    Ok(metrics
        .lines()
        .filter(|l| l.starts_with("capstan_repo_manifest_cache_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

/// A client of `capstan_proto::endpoints::Balanced` spreads its calls over every repo-server
/// it is given (a headless Service's pods in a cluster: here two real repo-servers), keeps
/// working when one goes away (the first failed call sets it aside), and reaches a server by
/// a host name resolved through the system's resolver.
#[tokio::test]
async fn calls_spread_over_every_repo_server_and_survive_one_going_away() -> anyhow::Result<()> {
    use capstan_proto::endpoints::Balanced;
    let a = Harness::start(None, true).await?;
    let b = Harness::start(None, true).await?;
    let (_, url) = publish_example_repo(&a.env)?;
    let source = json!({"repoURL": url, "path": "overlays/dev/users-api"});
    let both = format!("{},{}", a.grpc_url, b.grpc_url);
    let balanced = Balanced::new(&both, |e| e)?;
    let mut client = RepoServerServiceClient::new(balanced.clone());
    capstan_e2e::eventually(
        Duration::from_secs(10),
        "both addresses resolved",
        || async { Ok((balanced.members().len() == 2).then_some(())) },
    )
    .await?;

    let mut request = request(&url, "main", source.clone());
    request.no_cache = true;
    for _ in 0..10 {
        client.generate_manifest(request.clone()).await?;
    }
    let (on_a, on_b) = (manifest_requests(&a).await?, manifest_requests(&b).await?);
    assert_eq!(on_a + on_b, 10);
    assert!(on_a >= 4 && on_b >= 4, "round-robin: {on_a} and {on_b}");

    // One server stops: the call that finds it gone fails and sets it aside, the rest go to
    // the other — at most one failed call per set-aside period (5 s) while it stays listed.
    let mut b = b;
    b.stop_server();
    let started = std::time::Instant::now();
    let mut failed = 0;
    for _ in 0..10 {
        if let Err(e) = client.generate_manifest(request.clone()).await {
            assert_eq!(
                e.code(),
                Code::Unavailable,
                "only the stopped server fails: {e:?}"
            );
            failed += 1;
        }
    }
    let periods = 1 + started.elapsed().as_secs() / capstan_proto::endpoints::SET_ASIDE.as_secs();
    assert!(
        failed <= periods,
        "{failed} of 10 calls failed after one server went away, in {:?}",
        started.elapsed()
    );
    // Every other call was answered, by the remaining server (a stopping one may still finish
    // one on its open connection).
    let on_a_now = manifest_requests(&a).await?;
    assert!(
        on_a_now + 1 >= on_a + 10 - failed,
        "{} answered by the remaining server, {failed} failed",
        on_a_now - on_a
    );

    // A host name, resolved by the system (as a headless Service's name is in a cluster).
    let port = a.grpc_url.rsplit(':').next().unwrap_or_default();
    let named = Balanced::new(&format!("http://localhost:{port}"), |e| e)?;
    capstan_e2e::eventually(Duration::from_secs(10), "localhost resolved", || async {
        Ok((!named.members().is_empty()).then_some(()))
    })
    .await?;
    // Where localhost is also ::1 (Debian's default /etc/hosts), where nothing listens, the
    // first call may go there and fail; that sets ::1 aside and the next one succeeds.
    let mut named_client = RepoServerServiceClient::new(named.clone());
    let mut answered = false;
    for _ in 0..named.members().len() {
        if named_client
            .generate_manifest(request.clone())
            .await
            .is_ok()
        {
            answered = true;
            break;
        }
    }
    assert!(
        answered,
        "no answer through localhost: {:?}",
        named.members()
    );
    Ok(())
}
