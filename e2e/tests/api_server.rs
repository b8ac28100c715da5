//! The API server end to end: RBAC from the seed's policy over gRPC and REST, token
//! verification, pagination over 1,000 Applications, and the Git webhook refreshing only the
//! apps a push touches — against the real kube-apiserver, Redis and Git server.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use capstan_proto::account::v1::CanIRequest;
use capstan_proto::account::v1::account_service_client::AccountServiceClient;
use capstan_proto::application::v1 as pb;
use capstan_proto::application::v1::application_service_client::ApplicationServiceClient;
use capstan_types::{AppProject, Application};
use futures::StreamExt;
use hmac::{KeyInit, Mac};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{Stack, StackOptions, seed_app};
use tonic::{Code, Request};

/// The seed guide's `argocd-rbac-cm`, verbatim.
fn seed_rbac() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("policy.default".to_owned(), "role:readonly".to_owned()),
        (
            "policy.csv".to_owned(),
            "# Developers can view and sync apps
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
"
            .to_owned(),
        ),
    ])
}

fn project(name: &str, namespace: &str, repo: &str) -> anyhow::Result<AppProject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "sourceRepos": [repo],
            "destinations": [{ "server": "https://kubernetes.default.svc", "namespace": "*" }],
            "clusterResourceWhitelist": [{ "group": "*", "kind": "*" }],
        }
    }))?)
}

fn app(name: &str, namespace: &str, project: &str, repo: &str, path: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "project": project,
            "source": { "repoURL": repo, "targetRevision": "main", "path": path },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": name },
        }
    })
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii token"),
        );
    }
    request
}

async fn wait_for_app(stack: &Stack, name: &str) -> anyhow::Result<()> {
    capstan_e2e::eventually(
        Duration::from_secs(30),
        "the API server to see the app",
        || async { Ok(stack.api.apps.get(name).map(|_| ())) },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rbac_follows_the_seed_policy_on_every_call() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        rbac: Some(seed_rbac()),
        no_controller: true,
        ..StackOptions::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let client = stack.env.kube_client().await?;
    let repo = "https://github.com/your-org/k8s-manifests.git";
    Api::<AppProject>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &project("microservices", &ns, repo)?,
        )
        .await?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    for name in ["users-api-dev", "orders-api-dev"] {
        let app: Application =
            serde_json::from_value(app(name, &ns, "microservices", repo, "overlays/dev"))?;
        apps.create(&PostParams::default(), &app).await?;
        wait_for_app(&stack, name).await?;
    }

    let developer = stack
        .token("alice@example.com", &["developers@example.com"])
        .await?;
    let devops = stack
        .token("bob@example.com", &["devops-team@example.com"])
        .await?;
    let nobody = stack.token("carol@example.com", &[]).await?;
    let admin = stack.token("admin", &[]).await?;

    // can-i answers for the whole table, over gRPC.
    let mut account = AccountServiceClient::new(stack.channel().await?);
    let object = "microservices/users-api-dev";
    let table: &[(&str, &str, &str, &str, &str)] = &[
        // who, resource, action, object, expected
        ("developer", "applications", "get", object, "yes"),
        ("developer", "applications", "sync", object, "yes"),
        ("developer", "logs", "get", object, "yes"),
        ("developer", "applications", "delete", object, "no"),
        ("developer", "applications", "create", object, "no"),
        ("developer", "exec", "create", object, "no"),
        (
            "developer",
            "clusters",
            "update",
            "https://kubernetes.default.svc",
            "no",
        ),
        (
            "developer",
            "clusters",
            "get",
            "https://kubernetes.default.svc",
            "yes",
        ),
        ("devops", "applications", "delete", object, "yes"),
        ("devops", "applications", "create", object, "yes"),
        ("devops", "applications", "sync", object, "yes"),
        ("devops", "clusters", "create", "https://example.com", "yes"),
        (
            "devops",
            "repositories",
            "delete",
            "https://github.com/x/y",
            "yes",
        ),
        ("devops", "projects", "update", "microservices", "yes"),
        ("devops", "exec", "create", object, "no"),
        ("nobody", "applications", "get", object, "yes"),
        ("nobody", "applications", "sync", object, "no"),
        ("nobody", "projects", "get", "microservices", "yes"),
        ("nobody", "projects", "delete", "microservices", "no"),
        ("admin", "applications", "delete", object, "yes"),
        ("admin", "exec", "create", object, "yes"),
    ];
    for (who, resource, action, object, expected) in table {
        let token = match *who {
            "developer" => &developer,
            "devops" => &devops,
            "nobody" => &nobody,
            _ => &admin,
        };
        let answer = account
            .can_i(with_token(
                CanIRequest {
                    resource: (*resource).to_owned(),
                    action: (*action).to_owned(),
                    subresource: (*object).to_owned(),
                },
                Some(token),
            ))
            .await?
            .into_inner()
            .value;
        assert_eq!(&answer, expected, "{who} {action} {resource} {object}");
    }

    // The real calls: allowed ones succeed, denied ones say what was denied.
    let mut apps_api = ApplicationServiceClient::new(stack.channel().await?);
    let get = |name: &str| pb::ApplicationQuery {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    apps_api
        .get(with_token(get("users-api-dev"), Some(&developer)))
        .await?;
    apps_api
        .sync(with_token(
            pb::ApplicationSyncRequest {
                name: "users-api-dev".into(),
                dry_run: true,
                ..Default::default()
            },
            Some(&developer),
        ))
        .await?;
    let written = apps.get("users-api-dev").await?;
    let op = written.operation.expect("sync wrote the operation");
    assert_eq!(op.initiated_by.unwrap().username, "alice@example.com");
    let denied = apps_api
        .delete(with_token(
            pb::ApplicationDeleteRequest {
                name: "users-api-dev".into(),
                ..Default::default()
            },
            Some(&developer),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "permission denied: applications, delete, microservices/users-api-dev"
    );
    let denied = apps_api
        .sync(with_token(
            pb::ApplicationSyncRequest {
                name: "orders-api-dev".into(),
                ..Default::default()
            },
            Some(&nobody),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    // REST gives the same answers with grpc-gateway's statuses.
    let (status, body) = stack.curl(
        "DELETE",
        "/api/v1/applications/users-api-dev",
        Some(&developer),
        None,
    )?;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("permission denied: applications, delete"),
        "{body}"
    );
    let (status, body) = stack.curl(
        "GET",
        "/api/v1/account/can-i/exec/create/microservices/users-api-dev",
        Some(&developer),
        None,
    )?;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body)?),
        (200, json!({"value": "no"}))
    );

    // Existence never leaks: with no default role, a stranger gets the same 403 for an app
    // that exists and one that does not.
    let mut rbac = seed_rbac();
    rbac.insert("policy.default".into(), String::new());
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), &ns)
        .patch(
            "argocd-rbac-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": rbac })),
        )
        .await?;
    capstan_e2e::eventually(Duration::from_secs(20), "the new policy", || async {
        Ok(stack
            .api
            .settings()
            .enforcer
            .default_role()
            .is_none()
            .then_some(()))
    })
    .await?;
    for name in ["users-api-dev", "no-such-app"] {
        let err = apps_api
            .get(with_token(get(name), Some(&nobody)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: {err:?}");
    }
    let err = apps_api
        .get(with_token(get("no-such-app"), Some(&developer)))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "a reader of every app may learn it is missing"
    );
    let list = apps_api
        .list(with_token(pb::ApplicationQuery::default(), Some(&nobody)))
        .await?
        .into_inner();
    assert!(list.items.is_empty(), "a stranger lists nothing");

    // Every call is counted by route and status, denials included.
    let metrics = stack.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("capstan_api_requests_total{")
                && l.contains(r#"route="/capstan.application.v1.ApplicationService/Delete""#)
                && l.contains(r#"status="7""#)),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("capstan_api_requests_total{")
                && l.contains(r#"route="/api/v1/applications/{name}""#)
                && l.contains(r#"status="403""#)),
        "{metrics}"
    );

    // Devops may delete.
    apps_api
        .delete(with_token(
            pb::ApplicationDeleteRequest {
                name: "orders-api-dev".into(),
                cascade: Some(false),
                ..Default::default()
            },
            Some(&devops),
        ))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_tokens_are_rejected_and_anonymous_access_follows_the_settings() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        rbac: Some(seed_rbac()),
        no_controller: true,
        ..StackOptions::default()
    })
    .await?;
    let keys = stack.keys().await?;
    let now = support::jiff_now();
    let session = |claims: capstan_tokens::Claims| keys.sign(&claims);
    let good = stack
        .token("alice@example.com", &["developers@example.com"])
        .await?;

    let expired = session(capstan_tokens::Claims::new_session(
        "alice",
        vec![],
        now - 7200,
        Duration::from_secs(3600),
    ))?;
    let mut other_audience =
        capstan_tokens::Claims::new_session("alice", vec![], now, Duration::from_secs(3600));
    other_audience.aud = "someone-else".into();
    let other_audience = session(other_audience)?;
    let foreign = capstan_tokens::KeySet::generate()?.sign(
        &capstan_tokens::Claims::new_session("alice", vec![], now, Duration::from_secs(3600)),
    )?;
    // Tampered: the payload says admin, the signature is alice's.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: Value = serde_json::from_slice(&engine.decode(&parts[1])?)?;
        payload["sub"] = json!("admin");
        parts[1] = engine.encode(serde_json::to_vec(&payload)?);
    }
    let tampered = parts.join(".");
    let none = {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            engine.encode(br#"{"alg":"none","typ":"JWT"}"#),
            engine.encode(
                json!({"iss": "capstan", "aud": "capstan", "sub": "admin", "iat": now, "exp": now + 3600})
                    .to_string()
            )
        )
    };

    let mut apps_api = ApplicationServiceClient::new(stack.channel().await?);
    apps_api
        .list(with_token(pb::ApplicationQuery::default(), Some(&good)))
        .await?;
    for (what, token, expected) in [
        ("expired", expired.as_str(), "expired"),
        ("wrong audience", other_audience.as_str(), "audience"),
        ("another key", foreign.as_str(), "unknown key"),
        ("tampered", tampered.as_str(), "signature"),
        ("alg none", none.as_str(), "none"),
        ("garbage", "not-a-token", "invalid token"),
    ] {
        let err = apps_api
            .list(with_token(pb::ApplicationQuery::default(), Some(token)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{what}: {err:?}");
        assert!(
            err.message().contains(expected),
            "{what}: {}",
            err.message()
        );
        let (status, _) = stack.curl("GET", "/api/v1/applications", Some(token), None)?;
        assert_eq!(status, 401, "{what} over REST");
    }

    // No token: refused while anonymous access is off...
    let err = apps_api
        .list(with_token(pb::ApplicationQuery::default(), None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // ...and given policy.default (role:readonly) once it is on.
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
        stack.env.kube_client().await?,
        &stack.control.name,
    )
    .patch(
        "argocd-cm",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "users.anonymous.enabled": "true" } })),
    )
    .await?;
    capstan_e2e::eventually(Duration::from_secs(20), "anonymous access", || async {
        Ok(stack.api.settings().cm.anonymous_enabled.then_some(()))
    })
    .await?;
    apps_api
        .list(with_token(pb::ApplicationQuery::default(), None))
        .await?;
    let (status, body) = stack.curl(
        "GET",
        "/api/v1/account/can-i/applications/get/p/a",
        None,
        None,
    )?;
    assert_eq!((status, body.contains("yes")), (200, true), "{body}");
    let (status, body) = stack.curl(
        "GET",
        "/api/v1/account/can-i/applications/sync/p/a",
        None,
        None,
    )?;
    assert_eq!((status, body.contains("no")), (200, true), "{body}");
    // Without policy.default, an anonymous caller gets nothing.
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
        stack.env.kube_client().await?,
        &stack.control.name,
    )
    .patch(
        "argocd-rbac-cm",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "policy.default": "" } })),
    )
    .await?;
    capstan_e2e::eventually(
        Duration::from_secs(20),
        "the empty default role",
        || async {
            Ok(stack
                .api
                .settings()
                .enforcer
                .default_role()
                .is_none()
                .then_some(()))
        },
    )
    .await?;
    let (status, body) = stack.curl(
        "GET",
        "/api/v1/account/can-i/applications/get/p/a",
        None,
        None,
    )?;
    assert_eq!((status, body.contains("no")), (200, true), "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_of_100_return_each_of_1000_apps_exactly_once() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        no_controller: true,
        ..StackOptions::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let apps: Api<Application> = Api::namespaced(stack.env.kube_client().await?, &ns);
    let repo = stack.env.git_repo_url("paging");
    let created: Vec<anyhow::Result<()>> = futures::stream::iter(0..1000)
        .map(|i| {
            let apps = apps.clone();
            let mut value = app(&format!("app-{i:04}"), &ns, "default", &repo, "p");
            value["metadata"]["labels"] =
                json!({ "team": if i % 10 == 0 { "core" } else { "other" } });
            async move {
                let app: Application = serde_json::from_value(value)?;
                apps.create(&PostParams::default(), &app).await?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for result in created {
        result?;
    }
    capstan_e2e::eventually(
        Duration::from_secs(60),
        "1000 apps in the API server",
        || async { Ok((stack.api.apps.len() == 1000).then_some(())) },
    )
    .await?;

    let token = stack.token("admin", &[]).await?;
    let mut api = ApplicationServiceClient::new(stack.channel().await?);
    let mut seen = Vec::new();
    let mut token_next = String::new();
    let mut pages = 0;
    loop {
        let page = api
            .list(with_token(
                pb::ApplicationQuery {
                    limit: 100,
                    r#continue: token_next.clone(),
                    ..Default::default()
                },
                Some(&token),
            ))
            .await?
            .into_inner();
        pages += 1;
        assert!(page.items.len() <= 100);
        for item in &page.items {
            let app: Application = item.to_object()?;
            seen.push(app.name_any());
        }
        token_next = page.metadata.unwrap_or_default().r#continue;
        if token_next.is_empty() {
            break;
        }
        assert!(pages < 20, "pagination does not end");
    }
    assert_eq!(pages, 10);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (1000, 1000),
        "each app exactly once"
    );

    // Filters are applied before paging, server-side.
    let core = api
        .list(with_token(
            pb::ApplicationQuery {
                selector: "team=core".into(),
                limit: 30,
                ..Default::default()
            },
            Some(&token),
        ))
        .await?
        .into_inner();
    assert_eq!(core.items.len(), 30);
    assert!(!core.metadata.unwrap_or_default().r#continue.is_empty());
    let (status, body) = stack.curl(
        "GET",
        "/api/v1/applications?search=app-099&limit=5",
        Some(&token),
        None,
    )?;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body)?;
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["app-0990", "app-0991", "app-0992", "app-0993", "app-0994"]
    );
    assert!(body["metadata"]["continue"].is_string());
    let (status, body) = stack.curl(
        "GET",
        "/api/v1/applications?continue=garbage",
        Some(&token),
        None,
    )?;
    assert_eq!(status, 400, "{body}");
    Ok(())
}

fn github_push(repo_url: &str, branch: &str, files: &[&str]) -> String {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": "0000000000000000000000000000000000000000",
        "after": "1111111111111111111111111111111111111111",
        "repository": {
            "html_url": repo_url.trim_end_matches(".git"),
            "clone_url": repo_url,
            "default_branch": "main",
        },
        "commits": [{ "id": "1111111111111111111111111111111111111111", "added": [], "removed": [], "modified": files }],
    })
    .to_string()
}

fn github_signature(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_github_push_refreshes_only_the_apps_whose_paths_it_touches() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        no_controller: true, // nobody takes the refresh annotation off: we can see who got one
        secret: Some(BTreeMap::from([(
            "webhook.github.secret".to_owned(),
            "s3cret".to_owned(),
        )])),
        ..StackOptions::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let apps: Api<Application> = Api::namespaced(stack.env.kube_client().await?, &ns);
    let repo = "https://github.com/acme/monorepo.git";
    let other = "https://github.com/acme/other.git";
    let cases = [
        // name, repo, path, revision, manifest-generate-paths, refreshed
        ("users", repo, "apps/users", "main", Some("."), true),
        ("orders", repo, "apps/orders", "main", Some("."), false),
        (
            "shared",
            repo,
            "apps/shared",
            "main",
            Some(".;/lib/common"),
            true,
        ),
        ("legacy", repo, "apps/legacy", "HEAD", None, true),
        ("release", repo, "apps/users", "release-1", Some("."), false),
        ("elsewhere", other, "apps/users", "main", None, false),
    ];
    for (name, repo, path, revision, paths, _) in cases {
        let mut value = app(name, &ns, "default", repo, path);
        value["spec"]["source"]["targetRevision"] = json!(revision);
        if let Some(paths) = paths {
            value["metadata"]["annotations"] =
                json!({ "argocd.argoproj.io/manifest-generate-paths": paths });
        }
        apps.create(&PostParams::default(), &serde_json::from_value(value)?)
            .await?;
        wait_for_app(&stack, name).await?;
    }
    let refreshed = |apps: Vec<Application>| -> BTreeSet<String> {
        apps.into_iter()
            .filter(|a| a.annotations().contains_key("argocd.argoproj.io/refresh"))
            .map(|a| a.name_any())
            .collect()
    };

    let body = github_push(
        repo,
        "main",
        &["apps/users/deployment.yaml", "lib/common/x.yaml"],
    );
    let post = |signature: &str| {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args([
                "-H",
                "X-GitHub-Event: push",
                "-H",
                "Content-Type: application/json",
            ])
            .args(["-H", &format!("X-Hub-Signature-256: {signature}")])
            .args(["--data-binary", &body])
            .arg(format!("{}/api/webhook", stack.url()))
            .output()
    };
    // A wrong signature changes nothing.
    let out = post(&github_signature("wrong", &body))?;
    assert_eq!(String::from_utf8(out.stdout)?, "401");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(refreshed(apps.list(&Default::default()).await?.items).is_empty());

    let out = post(&github_signature("s3cret", &body))?;
    assert_eq!(String::from_utf8(out.stdout)?, "200");
    let expected: BTreeSet<String> = cases
        .iter()
        .filter(|c| c.5)
        .map(|c| c.0.to_owned())
        .collect();
    assert_eq!(
        refreshed(apps.list(&Default::default()).await?.items),
        expected
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_list_get_sync_and_rollback_speak_argo_cds_json() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let prefix = capstan_e2e::unique_name("rest");
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &stack.control.name, &prefix)?;
    stack.apply_seed_project(&seed)?;
    let token = stack.token("admin", &[]).await?;
    let name = format!("{prefix}-users-api-dev");
    let app_path = format!("/api/v1/applications/{name}");
    let dest = format!("{prefix}-users-api-dev");

    // Create and list, with Argo CD's field names.
    let app = seed_app(&seed, &prefix, false)?;
    let created = stack.post_json(&token, "/api/v1/applications", &app)?;
    assert_eq!(created["spec"]["source"]["repoURL"], seed.url.as_str());
    let (status, body) = stack.curl(
        "GET",
        "/api/v1/applications?projects=microservices",
        Some(&token),
        None,
    )?;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body)?;
    assert_eq!(list["items"][0]["metadata"]["name"], name.as_str());
    assert_eq!(
        list["items"][0]["spec"]["destination"]["namespace"],
        dest.as_str()
    );

    // Sync and watch it become Synced and Healthy.
    let (status, body) = stack.curl(
        "POST",
        &format!("/api/v1/applications/{name}/sync"),
        Some(&token),
        Some(r#"{"prune": true, "syncOptions": {"items": ["CreateNamespace=true"]}}"#),
    )?;
    assert_eq!(status, 200, "{body}");
    let synced = stack
        .wait_json(&token, &app_path, "the first sync", |a| {
            a["status"]["operationState"]["phase"] == "Succeeded"
                && a["status"]["sync"]["status"] == "Synced"
                && a["status"]["health"]["status"] == "Healthy"
        })
        .await?;
    let first_revision = synced["status"]["sync"]["revision"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        synced["status"]["operationState"]["operation"]["initiatedBy"]["username"],
        "admin"
    );
    assert!(support::image_of(&stack, &dest)?.ends_with(":dev-1"));

    // The watch stream, as newline-delimited JSON: the current state first.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-N", "--max-time", "3"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!(
            "{}/api/v1/stream/applications?name={name}",
            stack.url()
        ))
        .output()?;
    let stream = String::from_utf8(out.stdout)?;
    let first: Value = serde_json::from_str(stream.lines().next().unwrap_or_default())?;
    assert_eq!(first["result"]["type"], "ADDED", "{stream}");
    assert_eq!(
        first["result"]["application"]["metadata"]["name"],
        name.as_str()
    );

    // The resource tree and managed resources the dashboard reads.
    let (status, body) = stack.curl(
        "GET",
        &format!("/api/v1/applications/{name}/resource-tree"),
        Some(&token),
        None,
    )?;
    assert_eq!(status, 200, "{body}");
    let tree: Value = serde_json::from_str(&body)?;
    assert!(
        tree["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "Deployment"),
        "{tree:#}"
    );
    let (status, body) = stack.curl(
        "GET",
        &format!("/api/v1/applications/{name}/managed-resources"),
        Some(&token),
        None,
    )?;
    assert_eq!(status, 200, "{body}");
    let managed: Value = serde_json::from_str(&body)?;
    let deployment = managed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "Deployment")
        .expect("the Deployment is managed");
    assert!(
        deployment["targetState"]
            .as_str()
            .unwrap()
            .contains("dev-1")
    );
    assert_eq!(deployment["modified"], false);

    // A new commit: hard refresh shows it OutOfSync; sync again.
    let kustomization = seed
        .file("overlays/dev/users-api/kustomization.yaml")
        .expect("the seed has the dev overlay")
        .replace("newTag: dev-1", "newTag: dev-2");
    stack.env.commit_files(
        &seed.name,
        &[("overlays/dev/users-api/kustomization.yaml", &kustomization)],
        "users-api dev-2",
    )?;
    let (status, body) = stack.curl(
        "GET",
        &format!("/api/v1/applications/{name}?refresh=hard"),
        Some(&token),
        None,
    )?;
    assert_eq!(status, 200, "{body}");
    stack
        .wait_json(&token, &app_path, "OutOfSync after the commit", |a| {
            a["status"]["sync"]["status"] == "OutOfSync"
        })
        .await?;
    let (status, body) = stack.curl(
        "POST",
        &format!("/api/v1/applications/{name}/sync"),
        Some(&token),
        Some("{}"),
    )?;
    assert_eq!(status, 200, "{body}");
    let second = stack
        .wait_json(&token, &app_path, "the second sync", |a| {
            a["status"]["operationState"]["phase"] == "Succeeded"
                && a["status"]["sync"]["status"] == "Synced"
                && a["status"]["sync"]["revision"] != first_revision.as_str()
        })
        .await?;
    assert!(support::image_of(&stack, &dest)?.ends_with(":dev-2"));
    let history = second["status"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:#?}");
    let first_id = history[0]["id"].as_i64().unwrap();
    assert_eq!(history[0]["revision"], first_revision.as_str());

    // Roll back to the first deployment (the id as grpc-gateway clients send int64: a string).
    let (status, body) = stack.curl(
        "POST",
        &format!("/api/v1/applications/{name}/rollback"),
        Some(&token),
        Some(&json!({ "id": first_id.to_string() }).to_string()),
    )?;
    assert_eq!(status, 200, "{body}");
    stack
        .wait_json(&token, &app_path, "the rollback", |a| {
            a["status"]["operationState"]["phase"] == "Succeeded"
                && a["status"]["operationState"]["syncResult"]["revision"]
                    == first_revision.as_str()
        })
        .await?;
    assert!(support::image_of(&stack, &dest)?.ends_with(":dev-1"));

    // Rollback is refused while auto-sync is on (it would undo it at once).
    let patch = json!({ "patch": r#"{"spec":{"syncPolicy":{"automated":{"prune":true}}}}"#, "patchType": "merge" });
    let (status, body) = stack.curl(
        "PATCH",
        &format!("/api/v1/applications/{name}"),
        Some(&token),
        Some(&patch.to_string()),
    )?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack.curl(
        "POST",
        &format!("/api/v1/applications/{name}/rollback"),
        Some(&token),
        Some(&json!({ "id": first_id }).to_string()),
    )?;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("rollback cannot be initiated when auto-sync is enabled"),
        "{body}"
    );

    // Every mutation left an audit event naming the user.
    let events = stack.kubectl(&[
        "-n",
        &stack.control.name,
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])?;
    for expected in [
        "ResourceCreated: admin created application",
        "OperationStarted: admin initiated sync",
        "OperationStarted: admin initiated rollback",
        "ResourceUpdated: admin patched application",
    ] {
        assert!(
            events.contains(expected),
            "missing {expected:?} in\n{events}"
        );
    }
    Ok(())
}

/// The dashboard's list page: one page, then a watch from the list's version that brings only
/// what changed since, not every app again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_from_a_lists_version_starts_with_only_later_changes() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        no_controller: true,
        ..Default::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let token = stack.token("admin", &[]).await?;
    let apps: Api<Application> = Api::namespaced(stack.env.kube_client().await?, &ns);
    for i in 0..3 {
        apps.create(
            &PostParams::default(),
            &capstan_e2e::fleet::application(i, &ns, 1)?,
        )
        .await?;
    }
    capstan_e2e::eventually(Duration::from_secs(30), "the api-server's copy", || {
        let n = stack.api.apps.len();
        async move { Ok((n == 3).then_some(())) }
    })
    .await?;

    let (status, body) = stack.curl("GET", "/api/v1/applications?limit=2", Some(&token), None)?;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body)?;
    assert_eq!(
        list["metadata"]["remainingItemCount"], 1,
        "{}",
        list["metadata"]
    );
    let version = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("a list version")
        .to_owned();

    let changed = capstan_e2e::fleet::app_name(1);
    apps.patch(
        &changed,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
    )
    .await?;
    capstan_e2e::eventually(Duration::from_secs(30), "the change seen", || {
        let seen = stack
            .api
            .apps
            .get(&changed)
            .is_some_and(|a| a.labels().contains_key("touched"));
        async move { Ok(seen.then_some(())) }
    })
    .await?;

    let stream = |query: &str| -> anyhow::Result<Vec<String>> {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-N", "--max-time", "2"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .arg(format!("{}/api/v1/stream/applications{query}", stack.url()))
            .output()?;
        let text = String::from_utf8(out.stdout)?;
        Ok(text
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_default();
                match v["result"]["application"]["metadata"]["name"].as_str() {
                    Some(name) => name.to_owned(),
                    None => l.to_owned(),
                }
            })
            .collect())
    };
    assert_eq!(
        stream(&format!("?resourceVersion={version}"))?,
        vec![changed.clone()],
        "only the app changed after the list"
    );
    assert_eq!(stream("")?.len(), 3, "without a version: every app first");
    let bad = stream("?resourceVersion=yesterday")?;
    assert!(
        bad.iter()
            .any(|l| l.contains("is not one this server issued")),
        "{bad:?}"
    );
    Ok(())
}

/// `GET <base>/api/badge?<query>` without credentials: (status, headers, body).
fn badge(base: &str, query: &str) -> anyhow::Result<(u16, String, String)> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-D", "-", "--max-time", "10"])
        .arg(format!("{base}/api/badge?{query}"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap_or_default().parse()?;
    Ok((status, head.to_ascii_lowercase(), body.to_owned()))
}

/// Argo CD's status badge: no login (through the gateway's front door as well), Unknown until
/// `statusbadge.enabled`, then the app's health and sync (with the synced revision, the app
/// name, a width), Not Found for a missing app or a foreign namespace, 400 for a malformed
/// name, and a project's combined status following its apps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_badge_shows_status_without_login_once_enabled() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        no_controller: true,
        gateway: true,
        ..Default::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let apps: Api<Application> = Api::namespaced(stack.env.kube_client().await?, &ns);
    let revision = "0123456789abcdef0123456789abcdef01234567";
    let set_status = |name: &'static str, health: &'static str, sync: &'static str| {
        let apps = apps.clone();
        async move {
            apps.patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {
                    "health": {"status": health},
                    "sync": {"status": sync, "revision": revision},
                    "operationState": {
                        "operation": {"sync": {"revision": revision}},
                        "phase": "Succeeded",
                        "startedAt": "2026-11-27T00:00:00Z",
                        "syncResult": {"revision": revision},
                    },
                }})),
            )
            .await
        }
    };
    for name in ["badge-web", "badge-worker"] {
        let app: Application = serde_json::from_value(app(
            name,
            &ns,
            "default",
            "https://git.example.com/badges.git",
            name,
        ))?;
        apps.create(&PostParams::default(), &app).await?;
    }
    set_status("badge-web", "Healthy", "Synced").await?;
    set_status("badge-worker", "Progressing", "OutOfSync").await?;
    let front = stack.gw().url();

    // Disabled (Argo CD's default): a badge, but it says nothing.
    let (status, headers, svg) = badge(&front, "name=badge-web")?;
    assert_eq!(status, 200, "{headers}{svg}");
    assert!(headers.contains("content-type: image/svg+xml"), "{headers}");
    assert!(
        headers.contains("cache-control: private, no-store"),
        "{headers}"
    );
    assert!(
        headers.contains("access-control-allow-origin: *"),
        "{headers}"
    );
    assert!(
        svg.contains(">Unknown</text>") && !svg.contains("Healthy"),
        "{svg}"
    );

    stack.kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "argocd-cm",
        "--type=merge",
        "-p",
        r#"{"data":{"statusbadge.enabled":"true"}}"#,
    ])?;
    let svg = capstan_e2e::eventually(Duration::from_secs(20), "the badge enabled", || async {
        let (_, _, svg) = badge(&front, "name=badge-web")?;
        Ok(svg.contains(">Healthy</text>").then_some(svg))
    })
    .await?;
    assert!(svg.contains(">Synced</text>"), "{svg}");
    assert!(svg.contains("rgb(24,190,82)"), "green: {svg}");
    assert!(!svg.contains("revisionText"), "{svg}");

    let (_, _, svg) = badge(&front, "name=badge-web&revision=true")?;
    assert!(svg.contains(">(0123456)</text>"), "{svg}");
    let (_, _, svg) = badge(&front, "name=badge-web&revision=true&keepFullRevision=true")?;
    assert!(svg.contains(&format!(">({revision})</text>")), "{svg}");
    let (_, _, svg) = badge(&front, "name=badge-web&showAppName=true&width=200")?;
    assert!(svg.contains(">badge-web</text>"), "{svg}");
    assert!(svg.contains(r#"width="200" height="40""#), "{svg}");

    let (_, _, svg) = badge(&front, "name=badge-worker")?;
    assert!(
        svg.contains(">Progressing</text>") && svg.contains(">OutOfSync</text>"),
        "{svg}"
    );
    let (status, _, svg) = badge(&front, "name=no-such-app")?;
    assert_eq!(status, 200);
    assert!(svg.contains(">Not Found</text>"), "{svg}");
    let (_, _, svg) = badge(&front, "name=badge-web&namespace=kube-system")?;
    assert!(
        svg.contains(">Not Found</text>"),
        "another namespace: {svg}"
    );
    let (status, _, _) = badge(&front, "name=Not_A_Name")?;
    assert_eq!(status, 400);
    let (status, _, _) = badge(&front, "name=badge-web&namespace=..")?;
    assert_eq!(status, 400);

    // A project's badge combines its apps, and follows them.
    let (_, _, svg) = badge(&front, "project=default")?;
    assert!(
        svg.contains(">Degraded</text>") && svg.contains(">OutOfSync</text>"),
        "{svg}"
    );
    set_status("badge-worker", "Healthy", "Synced").await?;
    capstan_e2e::eventually(
        Duration::from_secs(20),
        "the project badge green",
        || async {
            let (_, _, svg) = badge(&front, "project=default")?;
            Ok((svg.contains(">Healthy</text>") && svg.contains(">Synced</text>")).then_some(()))
        },
    )
    .await?;
    let (_, _, svg) = badge(&front, "project=nothing-here")?;
    assert!(svg.contains(">Unknown</text>"), "{svg}");

    // The badge is the only thing served without a login.
    let (status, _) = stack.curl("GET", "/api/v1/applications/badge-web", None, None)?;
    assert_eq!(status, 401);
    Ok(())
}

/// `curl` of `path` with `Accept-Encoding: gzip` (not decoded): (headers lower-cased, body
/// size in bytes as sent).
fn gzip_get(
    base: &str,
    path: &str,
    token: &str,
    max_time: &str,
) -> anyhow::Result<(String, usize)> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-N", "-D", "-", "--max-time", max_time])
        .args(["-H", "Accept-Encoding: gzip"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{base}{path}"))
        .output()?;
    let text = out.stdout;
    let split = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(text.len(), |at| at + 4);
    Ok((
        String::from_utf8_lossy(&text[..split]).to_ascii_lowercase(),
        text.len() - split,
    ))
}

/// REST answers are gzipped for clients that ask (a page of 100 controller-like Applications
/// shrinks several-fold, through the gateway too), while the watch streams are never
/// compressed — a compressor would hold their events back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_answers_are_gzipped_but_watch_streams_are_not() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        no_controller: true,
        gateway: true,
        ..StackOptions::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let apps: Api<Application> = Api::namespaced(stack.env.kube_client().await?, &ns);
    let created: Vec<anyhow::Result<()>> = futures::stream::iter(0..100)
        .map(|i| {
            let (apps, ns) = (apps.clone(), ns.clone());
            async move {
                let app = capstan_e2e::fleet::application(i, &ns, 1)?;
                let name = app.name_any();
                apps.create(&PostParams::default(), &app).await?;
                apps.patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": capstan_e2e::fleet::status(i, &ns)})),
                )
                .await?;
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for result in created {
        result?;
    }
    capstan_e2e::eventually(
        Duration::from_secs(60),
        "100 apps in the API server",
        || async { Ok((stack.api.apps.len() == 100).then_some(())) },
    )
    .await?;
    let token = stack.token("admin", &[]).await?;

    let (status, plain) =
        stack.curl("GET", "/api/v1/applications?limit=100", Some(&token), None)?;
    assert_eq!(status, 200);
    for base in [stack.url(), stack.gw().url()] {
        let (headers, gzipped) = gzip_get(&base, "/api/v1/applications?limit=100", &token, "10")?;
        assert!(
            headers.contains("content-encoding: gzip"),
            "{base}: {headers}"
        );
        let ratio = gzipped as f64 / plain.len() as f64;
        eprintln!(
            "{base}: 100 apps, {} bytes as JSON, {gzipped} gzipped ({ratio:.3})",
            plain.len()
        );
        assert!(ratio < 0.25, "{ratio}");
    }
    // A watch stream: its first event arrives (within the 3 s curl allows) and uncompressed.
    let (headers, size) = gzip_get(
        &stack.gw().url(),
        &format!(
            "/api/v1/stream/applications?name={}",
            capstan_e2e::fleet::app_name(7)
        ),
        &token,
        "3",
    )?;
    assert!(!headers.contains("content-encoding"), "{headers}");
    assert!(
        size > 100,
        "the first event arrived: {size} bytes, {headers}"
    );
    Ok(())
}
