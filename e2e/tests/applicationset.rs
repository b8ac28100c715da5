//! The ApplicationSet controller end to end: the real kube-apiserver, the controller binary's
//! library (with its ApplicationSet controller), the repo-server and the test Git server.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use capstan_e2e::eventually;
use capstan_types::{Application, ApplicationSet};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use support::{Stack, StackOptions};

/// The Applications owned by ApplicationSet `appset`, by name.
async fn owned(stack: &Stack, appset: &str) -> anyhow::Result<BTreeMap<String, Application>> {
    let apps: Api<Application> =
        Api::namespaced(stack.env.kube_client().await?, &stack.control.name);
    Ok(apps
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|a| {
            a.owner_references()
                .iter()
                .any(|o| o.kind == "ApplicationSet" && o.name == appset)
        })
        .map(|a| (a.name_any(), a))
        .collect())
}

/// Waits until ApplicationSet `appset` owns exactly `n` Applications; returns them.
async fn wait_owned(
    stack: &Stack,
    appset: &str,
    n: usize,
) -> anyhow::Result<BTreeMap<String, Application>> {
    eventually(
        Duration::from_secs(60),
        &format!("{n} Applications of {appset}"),
        || async {
            let apps = owned(stack, appset).await?;
            Ok((apps.len() == n).then_some(apps))
        },
    )
    .await
}

async fn condition(
    stack: &Stack,
    appset: &str,
    kind: &str,
) -> anyhow::Result<Option<(String, String)>> {
    let api: Api<ApplicationSet> =
        Api::namespaced(stack.env.kube_client().await?, &stack.control.name);
    let set = api.get(appset).await?;
    Ok(set.status.and_then(|s| {
        s.conditions
            .into_iter()
            .find(|c| c.condition_type == kind)
            .map(|c| {
                (
                    serde_json::to_value(&c.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    c.message,
                )
            })
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_appset_generates_the_nine_apps_and_they_sync() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let prefix = format!("as{}", &stack.control.name[stack.control.name.len() - 5..]);
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &stack.control.name, &prefix)?;
    // The project without its sync window: the example denies prod syncs 22:00–24:00, and
    // this test must not depend on the time of day.
    let project = seed.file("projects/microservices.yaml").expect("project");
    let project = &project[..project.find("  syncWindows:").unwrap_or(project.len())];
    stack.apply(project)?;
    // The example's matrix (services × environments) with names unique to this run.
    let appset = seed
        .file("applicationsets/microservices-appset.yaml")
        .expect("appset")
        .replace(
            "'{{name}}-{{env}}'",
            &format!("'{prefix}-{{{{name}}}}-{{{{env}}}}'"),
        );
    // The api-server's preview generates the same, with the controller's code.
    let token = stack.token("admin", &[]).await?;
    let body = serde_json::json!({ "applicationSet": serde_yaml_ng::from_str::<serde_json::Value>(&appset)? });
    let (status, preview) = stack.curl(
        "POST",
        "/api/v1/applicationsets/generate",
        Some(&token),
        Some(&body.to_string()),
    )?;
    assert_eq!(status, 200, "{preview}");
    let preview: serde_json::Value = serde_json::from_str(&preview)?;
    let mut names: Vec<String> = preview["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names.len(), 9, "{names:?}");
    assert_eq!(names[0], format!("{prefix}-orders-api-dev"));
    stack.apply(&appset)?;
    let apps = wait_owned(&stack, "microservices", 9).await?;
    let users_dev = &apps[&format!("{prefix}-users-api-dev")];
    let users_dev = serde_json::to_value(users_dev)?;
    assert_eq!(
        users_dev["spec"]["source"]["path"],
        "overlays/dev/users-api"
    );
    eventually(Duration::from_secs(180), "all nine Synced", || async {
        let apps = owned(&stack, "microservices").await?;
        let synced = apps
            .values()
            .filter(|a| {
                serde_json::to_value(&a.status)
                    .ok()
                    .is_some_and(|s| s["sync"]["status"] == "Synced")
            })
            .count();
        Ok((synced == 9).then_some(()))
    })
    .await?;
    let up_to_date = condition(&stack, "microservices", "ResourcesUpToDate").await?;
    assert_eq!(up_to_date.map(|c| c.0).as_deref(), Some("True"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn git_directories_follow_commits() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let prefix = format!("gd{}", &stack.control.name[stack.control.name.len() - 5..]);
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &stack.control.name, &prefix)?;
    let appset = format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: overlays
  namespace: {ns}
spec:
  generators:
  - git:
      repoURL: {url}
      revision: main
      requeueAfterSeconds: 1
      directories:
      - path: overlays/*/*
      - path: overlays/prod/*
        exclude: true
  template:
    metadata:
      name: '{prefix}-{{{{path.basename}}}}-{{{{path[1]}}}}'
    spec:
      project: default
      source:
        repoURL: {url}
        targetRevision: main
        path: '{{{{path}}}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{prefix}-{{{{path.basename}}}}-{{{{path[1]}}}}'
"#,
        ns = stack.control.name,
        url = seed.url,
    );
    stack.apply(&appset)?;
    let apps = wait_owned(&stack, "overlays", 6).await?;
    assert!(
        apps.contains_key(&format!("{prefix}-users-api-staging")),
        "{:?}",
        apps.keys()
    );
    assert!(
        !apps.keys().any(|k| k.ends_with("-prod")),
        "{:?}",
        apps.keys()
    );

    // A new directory in a new commit adds an app.
    let kustomization = seed
        .file("overlays/dev/users-api/kustomization.yaml")
        .expect("overlay");
    stack.env.commit_files(
        &seed.name,
        &[("overlays/dev/catalog-api/kustomization.yaml", kustomization)],
        "catalog",
    )?;
    let apps = wait_owned(&stack, "overlays", 7).await?;
    assert!(apps.contains_key(&format!("{prefix}-catalog-api-dev")));

    // A removed one deletes it.
    stack.env.remove_paths(
        &seed.name,
        &["overlays/staging/orders-api"],
        "drop orders staging",
    )?;
    let apps = wait_owned(&stack, "overlays", 6).await?;
    assert!(!apps.contains_key(&format!("{prefix}-orders-api-staging")));

    // Under create-update, a removed directory leaves its app alone.
    stack.kubectl(&[
        "-n",
        &stack.control.name,
        "patch",
        "applicationset",
        "overlays",
        "--type=merge",
        "-p",
        r#"{"spec":{"syncPolicy":{"applicationsSync":"create-update"}}}"#,
    ])?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack
        .env
        .remove_paths(&seed.name, &["overlays/dev/catalog-api"], "drop catalog")?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        owned(&stack, "overlays")
            .await?
            .contains_key(&format!("{prefix}-catalog-api-dev"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_guides_template_reports_its_unknown_parameter_and_creates_nothing()
-> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        no_controller: false,
        ..Default::default()
    })
    .await?;
    // The seed guide's microservices-appset.yaml as printed: the template uses {{name}},
    // which no list element defines.
    let appset = format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: microservices
  namespace: {ns}
spec:
  generators:
  - list:
      elements:
      - cluster: dev
        url: https://kubernetes.default.svc
        env: dev
      - cluster: staging
        url: https://kubernetes.default.svc
        env: staging
      - cluster: prod
        url: https://kubernetes.default.svc
        env: prod
  template:
    metadata:
      name: '{{{{name}}}}-{{{{env}}}}'
    spec:
      project: microservices
      source:
        repoURL: https://github.com/your-org/k8s-manifests.git
        targetRevision: main
        path: 'overlays/{{{{env}}}}/{{{{name}}}}'
      destination:
        server: '{{{{url}}}}'
        namespace: '{{{{name}}}}-{{{{env}}}}'
      syncPolicy:
        automated:
          prune: true
          selfHeal: true
"#,
        ns = stack.control.name
    );
    let token = stack.token("admin", &[]).await?;
    let body = serde_json::json!({ "applicationSet": serde_yaml_ng::from_str::<serde_json::Value>(&appset)? });
    let (status, preview) = stack.curl(
        "POST",
        "/api/v1/applicationsets/generate",
        Some(&token),
        Some(&body.to_string()),
    )?;
    assert_eq!(status, 400, "{preview}");
    assert!(
        preview.contains("no generator produces that parameter"),
        "{preview}"
    );
    stack.apply(&appset)?;
    let (status, message) = eventually(Duration::from_secs(60), "ErrorOccurred", || async {
        Ok(condition(&stack, "microservices", "ErrorOccurred")
            .await?
            .filter(|c| c.0 == "True"))
    })
    .await?;
    assert_eq!(status, "True");
    assert!(message.contains("\"{{name}}-dev\""), "{message}");
    assert!(
        message.contains("no generator produces that parameter"),
        "{message}"
    );
    assert!(owned(&stack, "microservices").await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn go_template_missingkey_error_is_reported_and_creates_nothing() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let appset = format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: strict
  namespace: {ns}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - list:
      elements:
      - env: dev
      - env: prod
  template:
    metadata:
      name: '{{{{ .service }}}}-{{{{ .env }}}}'
    spec:
      project: default
      source:
        repoURL: https://git.example.com/x.git
        path: apps
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{{{ .env }}}}'
"#,
        ns = stack.control.name
    );
    stack.apply(&appset)?;
    let (_, message) = eventually(Duration::from_secs(60), "ErrorOccurred", || async {
        Ok(condition(&stack, "strict", "ErrorOccurred")
            .await?
            .filter(|c| c.0 == "True"))
    })
    .await?;
    assert!(
        message.contains("map has no entry for key \"service\""),
        "{message}"
    );
    let generated = condition(&stack, "strict", "ParametersGenerated").await?;
    assert_eq!(generated.map(|c| c.0).as_deref(), Some("False"));
    assert!(owned(&stack, "strict").await?.is_empty());

    // Fixed, it generates both.
    stack.apply(&appset.replace("{{ .service }}-", "svc-"))?;
    wait_owned(&stack, "strict", 2).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_webhook_regenerates_git_appsets() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let prefix = format!("wh{}", &stack.control.name[stack.control.name.len() - 5..]);
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &stack.control.name, &prefix)?;
    // Regenerated by the requeue only once an hour: the webhook must do it.
    let appset = format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: dev
  namespace: {ns}
spec:
  generators:
  - git:
      repoURL: {url}
      revision: main
      requeueAfterSeconds: 3600
      directories:
      - path: overlays/dev/*
  template:
    metadata:
      name: '{prefix}-{{{{path.basename}}}}'
    spec:
      project: default
      source:
        repoURL: {url}
        targetRevision: main
        path: '{{{{path}}}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{prefix}-{{{{path.basename}}}}'
"#,
        ns = stack.control.name,
        url = seed.url,
    );
    stack.apply(&appset)?;
    wait_owned(&stack, "dev", 3).await?;
    let kustomization = seed
        .file("overlays/dev/users-api/kustomization.yaml")
        .expect("overlay");
    let sha = stack.env.commit_files(
        &seed.name,
        &[("overlays/dev/catalog-api/kustomization.yaml", kustomization)],
        "catalog",
    )?;
    let body = serde_json::json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "repository": {"html_url": seed.url.trim_end_matches(".git"), "clone_url": seed.url, "default_branch": "main"},
        "commits": [{"id": sha, "added": ["overlays/dev/catalog-api/kustomization.yaml"], "removed": [], "modified": []}],
    })
    .to_string();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "X-GitHub-Event: push",
            "-H",
            "Content-Type: application/json",
        ])
        .args(["--data-binary", &body])
        .arg(format!("{}/api/webhook", stack.url()))
        .output()?;
    assert_eq!(String::from_utf8(out.stdout)?, "200");
    eventually(
        Duration::from_secs(30),
        "the new directory's app",
        || async {
            Ok(owned(&stack, "dev")
                .await?
                .contains_key(&format!("{prefix}-catalog-api"))
                .then_some(()))
        },
    )
    .await?;
    // The request is answered: the annotation is gone.
    let api: Api<ApplicationSet> =
        Api::namespaced(stack.env.kube_client().await?, &stack.control.name);
    eventually(
        Duration::from_secs(10),
        "the refresh annotation taken off",
        || async {
            let set = api.get("dev").await?;
            Ok((!set
                .annotations()
                .contains_key("argocd.argoproj.io/application-set-refresh"))
            .then_some(()))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ignored_differences_survive_regeneration() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        no_controller: false,
        ..Default::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let appset = format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: pinned
  namespace: {ns}
spec:
  ignoreApplicationDifferences:
  - name: pinned-a
    jsonPointers: [/spec/source/targetRevision]
  generators:
  - list:
      elements:
      - name: a
      - name: b
  template:
    metadata:
      name: 'pinned-{{{{name}}}}'
    spec:
      project: default
      source:
        repoURL: https://git.example.com/x.git
        path: apps
        targetRevision: main
      destination:
        server: https://kubernetes.default.svc
        namespace: 'pinned-{{{{name}}}}'
"#
    );
    stack.apply(&appset)?;
    wait_owned(&stack, "pinned", 2).await?;
    for app in ["pinned-a", "pinned-b"] {
        stack.kubectl(&[
            "-n",
            &ns,
            "patch",
            "application",
            app,
            "--type=merge",
            "-p",
            r#"{"spec":{"source":{"targetRevision":"hotfix"}}}"#,
        ])?;
    }
    // Any change of the ApplicationSet regenerates.
    stack.kubectl(&["-n", &ns, "annotate", "applicationset", "pinned", "poke=1"])?;
    let revision = |apps: &BTreeMap<String, Application>, name: &str| {
        apps.get(name)
            .and_then(|a| a.spec.source.as_ref())
            .map(|s| s.target_revision.clone())
            .unwrap_or_default()
    };
    let apps = eventually(Duration::from_secs(30), "pinned-b reverted", || async {
        let apps = owned(&stack, "pinned").await?;
        Ok((revision(&apps, "pinned-b") == "main").then_some(apps))
    })
    .await?;
    assert_eq!(
        revision(&apps, "pinned-a"),
        "hotfix",
        "the ignored field keeps its live value"
    );
    Ok(())
}
