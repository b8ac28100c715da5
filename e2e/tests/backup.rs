//! Disaster recovery as the seed guide does it: `capstan admin export -n <ns> > backup.yaml`,
//! lose the installation's objects, `capstan admin import -n <ns> < backup.yaml`, and the apps
//! come back Synced. The `capstan` binary talks to the real kube-apiserver with a kubeconfig;
//! the stack (controller, api-server, repo-server, Redis, Git) runs throughout.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use support::{Stack, StackOptions};

fn capstan(stack: &Stack, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
    use std::io::Write as _;
    let mut child = Command::new(support::capstan_bin()?)
        .args(args)
        .args([
            "-n",
            &stack.control.name,
            "--kubeconfig",
            stack.env.kubeconfig(),
        ])
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default().as_bytes())?;
    drop(input);
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "capstan {} failed ({}):\n{}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

fn get(stack: &Stack, kind: &str, name: &str) -> anyhow::Result<Option<Value>> {
    let out = stack.kubectl(&[
        "-n",
        &stack.control.name,
        "get",
        kind,
        name,
        "-o",
        "json",
        "--ignore-not-found",
    ])?;
    Ok(if out.trim().is_empty() {
        None
    } else {
        Some(serde_json::from_str(&out)?)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_wipe_import_restores_the_installation_and_the_apps_sync_again() -> anyhow::Result<()>
{
    let stack = Stack::start(StackOptions {
        cm: BTreeMap::from([("statusbadge.enabled".into(), "true".into())]),
        rbac: Some(BTreeMap::from([(
            "policy.csv".into(),
            "g, platform-team, role:admin\n".into(),
        )])),
        ..Default::default()
    })
    .await?;
    let ns = stack.control.name.clone();
    let token = stack.token("admin", &[]).await?;
    let prefix = capstan_e2e::unique_name("dr");
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &ns, &prefix)?;
    stack.apply_seed_project(&seed)?;
    // a repository Secret with credentials, as the guide's repository Secret
    stack.post_json(
        &token,
        "/api/v1/repositories",
        &json!({"repo": seed.url, "username": stack.env.git_http_user(),
                "password": stack.env.git_http_password()}),
    )?;
    let app = support::seed_app(&seed, &prefix, true)?;
    let name = app["metadata"]["name"].as_str().expect("name").to_owned();
    stack.post_json(&token, "/api/v1/applications", &app)?;
    let synced = |a: &Value| {
        a["status"]["sync"]["status"] == "Synced" && a["status"]["health"]["status"] == "Healthy"
    };
    let path = format!("/api/v1/applications/{name}");
    let before = stack
        .wait_json(&token, &path, "Synced and Healthy", synced)
        .await?;
    // an ApplicationSet and the Application it generates
    let set_app = format!("{prefix}-from-set");
    stack.apply(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: {prefix}-set\n  \
         namespace: {ns}\nspec:\n  generators:\n  - list:\n      elements:\n      - name: {set_app}\n  \
         template:\n    metadata:\n      name: '{{{{name}}}}'\n    spec:\n      project: default\n      \
         source:\n        repoURL: {url}\n        path: overlays/dev/users-api\n        \
         targetRevision: main\n      destination:\n        server: https://kubernetes.default.svc\n        \
         namespace: {set_app}\n",
        url = seed.url
    ))?;
    let owner_of = |stack: &Stack| -> anyhow::Result<Option<(String, String)>> {
        let Some(app) = get(stack, "application", &set_app)? else {
            return Ok(None);
        };
        let set = get(stack, "applicationset", &format!("{prefix}-set"))?.expect("the set");
        Ok(Some((
            app["metadata"]["ownerReferences"][0]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            set["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )))
    };
    capstan_e2e::eventually(std::time::Duration::from_secs(60), "the set's app", || {
        let owners = owner_of(&stack);
        async move { Ok(owners?.filter(|(a, s)| a == s)) }
    })
    .await?;

    // export
    let out = capstan(&stack, &["admin", "export"], None)?;
    let backup = String::from_utf8(out.stdout)?;
    let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&backup)
        .map(serde::Deserialize::deserialize)
        .collect::<Result<_, _>>()?;
    let has = |kind: &str, name: &str| {
        documents
            .iter()
            .any(|d| d["kind"] == kind && d["metadata"]["name"] == name)
    };
    assert!(has("Application", &name), "{backup}");
    assert!(has("AppProject", "microservices"), "{backup}");
    assert!(has("AppProject", "default"), "{backup}");
    assert!(has("ConfigMap", "argocd-cm") && has("ConfigMap", "argocd-rbac-cm"));
    assert!(has("Secret", "capstan-signing-keys"));
    assert!(has("ApplicationSet", &format!("{prefix}-set")) && has("Application", &set_app));
    let repo_secret = documents
        .iter()
        .find(|d| d["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository")
        .expect("the repository Secret is in the backup");
    assert!(
        !backup.contains("resourceVersion") && !backup.contains("\nstatus:"),
        "no cluster state in a backup"
    );
    let repo_name = repo_secret["metadata"]["name"].as_str().unwrap().to_owned();

    // lose it all (the apps without cascading: their resources stay, as after losing the
    // control plane's namespace)
    stack.kubectl(&[
        "-n",
        &ns,
        "patch",
        "application",
        &name,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])?;
    stack.kubectl(&["-n", &ns, "delete", "application", &name])?;
    stack.kubectl(&[
        "-n",
        &ns,
        "delete",
        "applicationset",
        &format!("{prefix}-set"),
        "--cascade=orphan",
    ])?;
    stack.kubectl(&["-n", &ns, "delete", "application", &set_app])?;
    stack.kubectl(&["-n", &ns, "delete", "appproject", "microservices"])?;
    stack.kubectl(&["-n", &ns, "delete", "secret", &repo_name])?;
    stack.kubectl(&["-n", &ns, "delete", "configmap", "argocd-rbac-cm"])?;
    stack.kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "argocd-cm",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/data/statusbadge.enabled"}]"#,
    ])?;
    assert!(get(&stack, "application", &name)?.is_none());

    // a dry run changes nothing
    let dry = capstan(&stack, &["admin", "import", "--dry-run"], Some(&backup))?;
    assert!(
        String::from_utf8(dry.stdout)?.contains(&format!("Application {name} created (dry run)"))
    );
    assert!(get(&stack, "application", &name)?.is_none());

    // import
    let out = capstan(&stack, &["admin", "import"], Some(&backup))?;
    let said = String::from_utf8(out.stdout)?;
    assert!(
        said.contains(&format!("Application {name} created")),
        "{said}"
    );
    assert!(said.contains("ConfigMap argocd-cm replaced"), "{said}");
    let restored = get(&stack, "application", &name)?.expect("the app is back");
    assert_eq!(restored["spec"], before["spec"]);
    assert!(get(&stack, "appproject", "microservices")?.is_some());
    let secret = get(&stack, "secret", &repo_name)?.expect("the repository Secret is back");
    assert_eq!(secret["data"], repo_secret["data"]);
    let rbac = get(&stack, "configmap", "argocd-rbac-cm")?.expect("argocd-rbac-cm is back");
    assert_eq!(rbac["data"]["policy.csv"], "g, platform-team, role:admin\n");
    let cm = get(&stack, "configmap", "argocd-cm")?.expect("argocd-cm");
    assert_eq!(cm["data"]["statusbadge.enabled"], "true");

    // the restored set adopts its restored app (no owner after a restore: the old set's uid
    // is gone) instead of refusing it
    capstan_e2e::eventually(
        std::time::Duration::from_secs(60),
        "the set adopting its app",
        || {
            let owners = owner_of(&stack);
            async move { Ok(owners?.filter(|(a, s)| a == s)) }
        },
    )
    .await?;

    // the controller takes the restored app up again: Synced and Healthy
    stack
        .wait_json(&token, &path, "the restored app Synced and Healthy", synced)
        .await?;

    // --prune removes what the backup does not have
    let mut extra = app.clone();
    extra["metadata"]["name"] = json!(format!("{name}-extra"));
    extra["spec"]["syncPolicy"] = json!({});
    stack.post_json(&token, "/api/v1/applications", &extra)?;
    let out = capstan(&stack, &["admin", "import", "--prune"], Some(&backup))?;
    let said = String::from_utf8(out.stdout)?;
    assert!(
        said.contains(&format!("Application {name}-extra pruned")),
        "{said}"
    );
    assert!(
        !said.contains(&format!("Application {name} pruned")),
        "{said}"
    );
    assert!(
        !said.contains(&format!("Application {set_app} pruned")),
        "{said}"
    );
    Ok(())
}
