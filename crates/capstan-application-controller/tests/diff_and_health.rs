//! Diff and health decisions of the controller against the real test environment: ignore rules
//! from `spec.ignoreDifferences` and `argocd-cm`, the built-in Deployment health and a Lua health
//! script from `argocd-cm`.
//!
//! Every test has its own Git repository holding plain YAML (a directory source) without
//! `metadata.namespace`, so the controller defaults it to the app's destination, a namespace of
//! its own. The live objects are applied by the test with `kubectl apply --server-side`, as a
//! sync would; the controller only observes.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use capstan_e2e::{eventually, unique_name};
use capstan_types::Application;
use capstan_types::application::{HealthStatusCode, SyncStatusCode};
use serde_json::json;

use support::{ClusterObject, Harness, health_message, health_status, sync_status};

/// A Deployment with two containers, an env var and a pod template label: fields the ignore
/// rules cover and fields they must not.
const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: frontend
    spec:
      containers:
      - name: app
        image: registry.example/web:1.0
        env:
        - name: MODE
          value: blue
        ports:
        - containerPort: 8080
          protocol: TCP
      - name: sidecar
        image: registry.example/proxy:1.0
"#;

fn synced(app: &Application) -> bool {
    sync_status(app) == Some(SyncStatusCode::Synced)
}

fn out_of_sync(app: &Application) -> bool {
    sync_status(app) == Some(SyncStatusCode::OutOfSync)
}

/// The kinds of the app's resources that are OutOfSync.
fn out_of_sync_kinds(app: &Application) -> Vec<String> {
    app.status
        .iter()
        .flat_map(|s| &s.resources)
        .filter(|r| r.status == Some(SyncStatusCode::OutOfSync))
        .map(|r| r.kind.clone())
        .collect()
}

/// `kubectl get <resource> -o jsonpath=<path>` in `namespace`.
fn live_field(h: &Harness, namespace: &str, resource: &str, path: &str) -> anyhow::Result<String> {
    h.kubectl(
        &[
            "-n",
            namespace,
            "get",
            resource,
            "-o",
            &format!("jsonpath={path}"),
        ],
        None,
    )
}

/// Creates the app for `files` (one directory `app/`), waits for it to see the resources
/// missing, applies `live` server-side and waits until it is Synced.
async fn app_synced_with_live(
    h: &Harness,
    app: &str,
    destination: &str,
    files: &[(&str, &str)],
    live: &str,
    spec: serde_json::Value,
) -> anyhow::Result<()> {
    let repo = h.env.create_git_repo(&unique_name(app), files)?;
    h.create_directory_app(app, &repo, "app", destination, spec)
        .await?;
    h.wait_for(app, "OutOfSync before anything is applied", out_of_sync)
        .await?;
    h.apply(destination, live)?;
    h.wait_for(app, "Synced after kubectl apply --server-side", synced)
        .await?;
    Ok(())
}

#[tokio::test]
async fn json_pointer_ignores_exactly_the_replicas() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let dest = h.env.unique_namespace("ignore-pointer").await?;
    let ns = dest.name.as_str();
    app_synced_with_live(
        &h,
        "web",
        ns,
        &[("app/deployment.yaml", DEPLOYMENT)],
        DEPLOYMENT,
        json!({"ignoreDifferences": [
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
        ]}),
    )
    .await?;

    // kubectl scale changes only the ignored field: still Synced.
    h.kubectl(&["-n", ns, "scale", "deployment/web", "--replicas=5"], None)?;
    assert_eq!(
        live_field(&h, ns, "deployment/web", "{.spec.replicas}")?,
        "5"
    );
    h.holds(
        "web",
        "Synced after kubectl scale",
        Duration::from_secs(3),
        synced,
    )
    .await?;

    // A field of the same object that no rule names (a pod template label): OutOfSync.
    let label = |tier: &str| {
        json!({"spec": {"template": {"metadata": {"labels": {"tier": tier}}}}}).to_string()
    };
    h.kubectl(
        &[
            "-n",
            ns,
            "patch",
            "deployment/web",
            "--type=merge",
            "-p",
            &label("canary"),
        ],
        None,
    )?;
    let app = h
        .wait_for(
            "web",
            "OutOfSync after a pod template label change",
            out_of_sync,
        )
        .await?;
    assert_eq!(out_of_sync_kinds(&app), ["Deployment"]);

    // The label back: Synced again while replicas still differ from Git. This is the proof
    // that the replicas difference is ignored: this comparison certainly ran after the scale.
    h.kubectl(
        &[
            "-n",
            ns,
            "patch",
            "deployment/web",
            "--type=merge",
            "-p",
            &label("frontend"),
        ],
        None,
    )?;
    h.wait_for("web", "Synced after the label is restored", synced)
        .await?;
    assert_eq!(
        live_field(&h, ns, "deployment/web", "{.spec.replicas}")?,
        "5"
    );
    Ok(())
}

#[tokio::test]
async fn jq_path_expression_ignores_exactly_the_selected_image() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let dest = h.env.unique_namespace("ignore-jq").await?;
    let ns = dest.name.as_str();
    app_synced_with_live(
        &h,
        "web",
        ns,
        &[("app/deployment.yaml", DEPLOYMENT)],
        DEPLOYMENT,
        json!({"ignoreDifferences": [{
            "group": "apps",
            "kind": "Deployment",
            "jqPathExpressions": [r#".spec.template.spec.containers[] | select(.name == "app") | .image"#],
        }]}),
    )
    .await?;

    // The selected container's image: ignored.
    h.kubectl(
        &[
            "-n",
            ns,
            "set",
            "image",
            "deployment/web",
            "app=registry.example/web:2.0",
        ],
        None,
    )?;
    h.holds(
        "web",
        "Synced after kubectl set image of the app container",
        Duration::from_secs(3),
        synced,
    )
    .await?;

    // The other container's image: not selected by the expression, so OutOfSync.
    h.kubectl(
        &[
            "-n",
            ns,
            "set",
            "image",
            "deployment/web",
            "sidecar=registry.example/proxy:2.0",
        ],
        None,
    )?;
    let app = h
        .wait_for(
            "web",
            "OutOfSync after the sidecar image changed",
            out_of_sync,
        )
        .await?;
    assert_eq!(out_of_sync_kinds(&app), ["Deployment"]);

    // Sidecar back: Synced although the app image still differs from Git.
    h.kubectl(
        &[
            "-n",
            ns,
            "set",
            "image",
            "deployment/web",
            "sidecar=registry.example/proxy:1.0",
        ],
        None,
    )?;
    h.wait_for("web", "Synced after the sidecar image is restored", synced)
        .await?;
    assert_eq!(
        live_field(
            &h,
            ns,
            "deployment/web",
            "{.spec.template.spec.containers[0].image}"
        )?,
        "registry.example/web:2.0"
    );

    // Another field of the selected container (an env var): not ignored either.
    h.kubectl(
        &[
            "-n",
            ns,
            "set",
            "env",
            "deployment/web",
            "-c",
            "app",
            "MODE=green",
        ],
        None,
    )?;
    h.wait_for("web", "OutOfSync after an env var changed", out_of_sync)
        .await?;
    Ok(())
}

/// A MutatingWebhookConfiguration that never fires: it matches only CREATE of a resource of a
/// made-up group that nothing serves, calls an unresolvable URL and is ignored on failure.
fn webhook_configuration(name: &str, ca_bundle: &str, timeout_seconds: u32) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {name}
webhooks:
- name: noop.e2e.capstan.dev
  clientConfig:
    url: https://example.invalid/hook
    caBundle: {ca_bundle}
  rules:
  - apiGroups: ["noop.capstan.dev"]
    apiVersions: ["v1"]
    operations: ["CREATE"]
    resources: ["nothings"]
  sideEffects: None
  admissionReviewVersions: ["v1"]
  failurePolicy: Ignore
  timeoutSeconds: {timeout_seconds}
"#
    )
}

#[tokio::test]
async fn argocd_cm_customization_ignores_the_webhook_ca_bundle() -> anyhow::Result<()> {
    // The seed guide's legacy `resource.customizations` blob, verbatim in shape.
    let h = Harness::start_with_cm(BTreeMap::from([(
        "resource.customizations".to_owned(),
        "admissionregistration.k8s.io/MutatingWebhookConfiguration:\n  ignoreDifferences: |\n    jsonPointers:\n    - /webhooks/0/clientConfig/caBundle\n"
            .to_owned(),
    )]))
    .await?;
    let dest = h.env.unique_namespace("ignore-cm").await?;
    let name = unique_name("capstan-e2e-hook");
    let _cleanup = ClusterObject::new(&h.env, format!("mutatingwebhookconfiguration/{name}"));
    // base64 of "git-ca" and "live-ca": what cert-manager's CA injector would swap in.
    let (git_ca, live_ca) = ("Z2l0LWNh", "bGl2ZS1jYQ==");
    app_synced_with_live(
        &h,
        "webhook",
        &dest.name,
        &[("app/webhook.yaml", &webhook_configuration(&name, git_ca, 5))],
        &webhook_configuration(&name, live_ca, 5),
        json!({}),
    )
    .await?;
    let resource = format!("mutatingwebhookconfiguration/{name}");
    assert_eq!(
        live_field(
            &h,
            "default",
            &resource,
            "{.webhooks[0].clientConfig.caBundle}"
        )?,
        live_ca
    );

    // Another field of the same webhook: OutOfSync.
    let timeout = |seconds: u32| {
        json!([{"op": "replace", "path": "/webhooks/0/timeoutSeconds", "value": seconds}])
            .to_string()
    };
    h.kubectl(
        &["patch", &resource, "--type=json", "-p", &timeout(7)],
        None,
    )?;
    let app = h
        .wait_for(
            "webhook",
            "OutOfSync after timeoutSeconds changed",
            out_of_sync,
        )
        .await?;
    assert_eq!(out_of_sync_kinds(&app), ["MutatingWebhookConfiguration"]);
    h.kubectl(
        &["patch", &resource, "--type=json", "-p", &timeout(5)],
        None,
    )?;
    h.wait_for("webhook", "Synced after timeoutSeconds is restored", synced)
        .await?;
    Ok(())
}

/// A Deployment whose pods the pod simulator keeps in CrashLoopBackOff: never available.
const STUCK_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 1
  selector:
    matchLabels:
      app: stuck
  template:
    metadata:
      labels:
        app: stuck
      annotations:
        sim.capstan.dev/fail: crashloop
    spec:
      containers:
      - name: app
        image: registry.example/stuck:1.0
"#;

#[tokio::test]
async fn a_deployment_past_its_progress_deadline_is_degraded() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let dest = h.env.unique_namespace("degraded").await?;
    let ns = dest.name.as_str();
    app_synced_with_live(
        &h,
        "stuck",
        ns,
        &[("app/deployment.yaml", STUCK_DEPLOYMENT)],
        STUCK_DEPLOYMENT,
        json!({}),
    )
    .await?;
    // kube-controller-manager has created the pod; it never becomes ready.
    h.wait_for("stuck", "Progressing while the pod is not ready", |a| {
        health_status(a) == Some(HealthStatusCode::Progressing)
    })
    .await?;

    // kube-controller-manager owns Deployment status and rewrites it after every change, so a
    // patched condition survives only if KCM agrees with it. It does here: the pods crash-loop,
    // so the rollout is neither complete (for a complete one KCM would put back
    // `NewReplicaSetAvailable`) nor progressing, and KCM's `DeploymentTimedOut` keeps a
    // `ProgressDeadlineExceeded` condition it finds. `progressDeadlineSeconds` keeps its default
    // (600 s), so KCM never writes that condition itself during the test: the Degraded comes
    // from this patch. (`spec.paused` would also stop KCM, but a paused Deployment is
    // Suspended.) KCM may still overwrite the patch while it reports the first pod's progress,
    // so the patch is repeated until the controller reports Degraded.
    let generation = live_field(&h, ns, "deployment/stuck", "{.metadata.generation}")?;
    let status = json!({"status": {
        "observedGeneration": generation.parse::<i64>().context("generation")?,
        "conditions": [
            {
                "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                "message": "Deployment does not have minimum availability.",
            },
            {
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"stuck\" has timed out progressing.",
            },
        ],
    }})
    .to_string();
    let apps = h.apps().await?;
    let app = eventually(Duration::from_secs(20), "health Degraded", || {
        let (apps, status) = (apps.clone(), &status);
        let h = &h;
        async move {
            let reason = live_field(
                h,
                ns,
                "deployment/stuck",
                r#"{.status.conditions[?(@.type=="Progressing")].reason}"#,
            )?;
            if reason != "ProgressDeadlineExceeded" {
                h.kubectl(
                    &[
                        "-n",
                        ns,
                        "patch",
                        "deployment/stuck",
                        "--subresource=status",
                        "--type=merge",
                        "-p",
                        status,
                    ],
                    None,
                )?;
            }
            let app = apps.get("stuck").await?;
            Ok((health_status(&app) == Some(HealthStatusCode::Degraded)).then_some(app))
        }
    })
    .await?;
    let message = health_message(&app);
    assert!(
        message.contains("exceeded its progress deadline"),
        "{message}"
    );
    assert!(message.contains("stuck"), "{message}");
    let resource = app
        .status
        .iter()
        .flat_map(|s| &s.resources)
        .find(|r| r.kind == "Deployment")
        .context("the Deployment")?;
    assert_eq!(
        resource.health.as_ref().and_then(|h| h.status.clone()),
        Some(HealthStatusCode::Degraded)
    );
    // Status is never compared: still Synced.
    assert_eq!(sync_status(&app), Some(SyncStatusCode::Synced));
    Ok(())
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.capstan.dev
spec:
  group: example.capstan.dev
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const WIDGET: &str = r#"apiVersion: example.capstan.dev/v1
kind: Widget
metadata:
  name: gizmo
spec:
  parts: [gear, spring, lever]
"#;

/// An Argo CD style health script: `obj.status.phase` decides, `table.getn` counts the parts.
const WIDGET_HEALTH: &str = r#"local hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the widget to report a phase"
  return hs
end
local parts = 0
if obj.spec ~= nil and obj.spec.parts ~= nil then
  parts = table.getn(obj.spec.parts)
end
if obj.status.phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "Widget ready with " .. parts .. " parts"
  return hs
end
if obj.status.phase == "Broken" then
  hs.status = "Degraded"
  hs.message = "Widget broken (" .. parts .. " parts): " .. (obj.status.reason or "no reason")
  return hs
end
hs.status = "Unknown"
hs.message = "Unexpected phase " .. obj.status.phase
return hs
"#;

#[tokio::test]
async fn a_lua_health_script_from_argocd_cm_decides_a_custom_resource() -> anyhow::Result<()> {
    let h = Harness::start_with_cm(BTreeMap::from([(
        "resource.customizations.health.example.capstan.dev_Widget".to_owned(),
        WIDGET_HEALTH.to_owned(),
    )]))
    .await?;
    // The CRD is served before the app exists, so the controller's first API discovery (at the
    // app's first reconcile) already knows Widgets. It is cluster-scoped and shared by every run:
    // applied idempotently, never deleted.
    h.apply("default", WIDGET_CRD)?;
    h.kubectl(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=20s",
            "crd/widgets.example.capstan.dev",
        ],
        None,
    )?;
    let dest = h.env.unique_namespace("lua-health").await?;
    let ns = dest.name.as_str();
    eventually(Duration::from_secs(15), "Widgets served", || async {
        Ok(h.kubectl(&["-n", ns, "get", "widgets"], None)
            .is_ok()
            .then_some(()))
    })
    .await?;

    app_synced_with_live(
        &h,
        "widget",
        ns,
        &[("app/widget.yaml", WIDGET)],
        WIDGET,
        json!({}),
    )
    .await?;
    let app = h
        .wait_for("widget", "Progressing from the script", |a| {
            health_status(a) == Some(HealthStatusCode::Progressing)
        })
        .await?;
    assert_eq!(
        health_message(&app),
        "Waiting for the widget to report a phase"
    );

    let set_status = |status: serde_json::Value| {
        h.kubectl(
            &[
                "-n",
                ns,
                "patch",
                "widget/gizmo",
                "--subresource=status",
                "--type=merge",
                "-p",
                &json!({ "status": status }).to_string(),
            ],
            None,
        )
    };
    set_status(json!({"phase": "Broken", "reason": "gear jammed"}))?;
    let app = h
        .wait_for("widget", "Degraded from the script", |a| {
            health_status(a) == Some(HealthStatusCode::Degraded)
        })
        .await?;
    assert_eq!(health_message(&app), "Widget broken (3 parts): gear jammed");

    set_status(json!({"phase": "Ready", "reason": null}))?;
    let app = h
        .wait_for("widget", "Healthy from the script", |a| {
            health_status(a) == Some(HealthStatusCode::Healthy)
        })
        .await?;
    let widget = app
        .status
        .iter()
        .flat_map(|s| &s.resources)
        .find(|r| r.kind == "Widget")
        .context("the Widget")?;
    assert_eq!(
        widget.health.as_ref().map(|h| h.message.as_str()),
        Some("Widget ready with 3 parts")
    );
    // Status changes are not differences.
    assert_eq!(sync_status(&app), Some(SyncStatusCode::Synced));
    Ok(())
}

/// A paused Deployment: gitops-engine's check says Suspended before looking at anything else,
/// and kube-controller-manager leaves a paused rollout alone.
const PAUSED_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: paused
spec:
  paused: true
  replicas: 1
  selector:
    matchLabels:
      app: paused
  template:
    metadata:
      labels:
        app: paused
    spec:
      containers:
      - name: app
        image: registry.example/paused:1.0
"#;

#[tokio::test]
async fn a_deployment_listed_after_a_controller_restart_keeps_its_health() -> anyhow::Result<()> {
    let mut h = Harness::start().await?;
    let dest = h.env.unique_namespace("restart-health").await?;
    let ns = dest.name.as_str();
    app_synced_with_live(
        &h,
        "paused",
        ns,
        &[("app/deployment.yaml", PAUSED_DEPLOYMENT)],
        PAUSED_DEPLOYMENT,
        json!({}),
    )
    .await?;
    // Seen through a watch event: the built-in Deployment check applies.
    let app = h
        .wait_for("paused", "Suspended", |a| {
            health_status(a) == Some(HealthStatusCode::Suspended)
        })
        .await?;
    assert_eq!(health_message(&app), "Deployment is paused");
    // Let kube-controller-manager finish with the Deployment, so no later watch event refreshes
    // the object the restarted controller lists.
    eventually(Duration::from_secs(15), "the rollout observed", || async {
        let observed = live_field(&h, ns, "deployment/paused", "{.status.observedGeneration}")?;
        let generation = live_field(&h, ns, "deployment/paused", "{.metadata.generation}")?;
        Ok((observed == generation).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A restarted controller gets the Deployment from the initial list of its watch, where the
    // API server leaves out `apiVersion` and `kind` of the items. It must still be compared and
    // assessed as a Deployment: nothing changed, so nothing in the status may change.
    h.stop_controller();
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.start_controller().await?;
    h.holds(
        "paused",
        "Synced and Suspended after a controller restart",
        Duration::from_secs(5),
        |a| synced(a) && health_status(a) == Some(HealthStatusCode::Suspended),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_healthy_app_keeps_no_stale_health_message() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let dest = h.env.unique_namespace("stale-message").await?;
    let ns = dest.name.as_str();
    app_synced_with_live(
        &h,
        "paused",
        ns,
        &[("app/deployment.yaml", PAUSED_DEPLOYMENT)],
        PAUSED_DEPLOYMENT,
        json!({}),
    )
    .await?;
    h.wait_for_within("paused", "Suspended", Duration::from_secs(20), |a| {
        health_status(a) == Some(HealthStatusCode::Suspended)
    })
    .await?;

    // Resumed, the rollout completes (the pod simulator makes the pod ready): Healthy, and the
    // app's health message, empty for a healthy app, must not still say "paused".
    h.kubectl(&["-n", ns, "rollout", "resume", "deployment/paused"], None)?;
    let app = h
        .wait_for_within("paused", "Healthy", Duration::from_secs(20), |a| {
            health_status(a) == Some(HealthStatusCode::Healthy)
        })
        .await?;
    assert_eq!(health_message(&app), "", "a stale message is left behind");
    Ok(())
}

#[tokio::test]
async fn a_resolved_comparison_error_leaves_the_conditions() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let dest = h.env.unique_namespace("resolved-error").await?;
    let repo_name = unique_name("resolved-error");
    let repo = h.env.create_git_repo(
        &repo_name,
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [unclosed\n",
        )],
    )?;
    h.create_directory_app("fixed", &repo, "app", &dest.name, json!({}))
        .await?;
    let has_error = |a: &Application| {
        a.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.condition_type == "ComparisonError")
        })
    };
    h.wait_for_within(
        "fixed",
        "a ComparisonError",
        Duration::from_secs(20),
        has_error,
    )
    .await?;

    // The manifest fixed in Git and the app refreshed: compared at the new revision, the
    // ConfigMap is missing (OutOfSync), and the error is gone from the status.
    let fixed = h.env.commit_files(
        &repo_name,
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: v\n",
        )],
        "fix the manifest",
    )?;
    h.refresh("fixed", "hard").await?;
    let app = h
        .wait_for_within(
            "fixed",
            "compared at the fixed revision",
            Duration::from_secs(60),
            |a| out_of_sync(a) && a.status.as_ref().is_some_and(|s| s.sync.revision == fixed),
        )
        .await?;
    let conditions = &app.status.as_ref().context("status")?.conditions;
    assert!(
        conditions.is_empty(),
        "the resolved error is still reported: {conditions:?}"
    );
    Ok(())
}
