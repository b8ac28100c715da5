//! Kustomize sources against `kubectl kustomize` run directly.

use std::collections::BTreeMap;

use capstan_render::{RenderError, SourceType};
use capstan_types::application::{
    ApplicationSourceKustomize, KustomizePatch, KustomizeReplica, KustomizeSelector,
};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::common::*;

const SERVICES: [&str; 3] = ["users-api", "orders-api", "products-api"];
const ENVS: [&str; 3] = ["dev", "staging", "prod"];

#[tokio::test]
async fn every_example_overlay_renders_like_kubectl_kustomize() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = examples();
    let before = snapshot(&repo);
    for service in SERVICES {
        for stage in ENVS {
            let path = format!("overlays/{stage}/{service}");
            let rendered = render(&renderer, &repo, &source(&path)).await?;
            assert_eq!(rendered.source_type, SourceType::Kustomize, "{path}");
            let want = kubectl_kustomize(&env, &repo.join(&path))?;
            assert!(!want.is_empty(), "{path}");
            assert_eq!(rendered.manifests, want, "{path}");
        }
    }
    // The bases render too (a base is an app directory like any other).
    let rendered = render(&renderer, &repo, &source("base/users-api")).await?;
    assert_eq!(
        rendered.manifests,
        kubectl_kustomize(&env, &repo.join("base/users-api"))?
    );
    assert_eq!(renderer.exec_count(), 10);
    assert_eq!(snapshot(&repo), before, "the checkout was modified");
    Ok(())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn replica(name: &str, count: i64) -> KustomizeReplica {
    KustomizeReplica {
        name: name.into(),
        count: serde_json::from_value(json!(count)).expect("IntOrString"),
        ..Default::default()
    }
}

/// The seed guide's prod overlay with Application overrides equals `kubectl kustomize` of the
/// overlay edited by hand the way `kustomize edit set image/nameprefix/replicas/namespace` and
/// `edit add label` edit it.
#[tokio::test]
async fn application_overrides_equal_a_hand_edited_kustomization() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = examples();
    let before = snapshot(&repo);

    let mut src = source("overlays/prod/users-api");
    src.kustomize = Some(ApplicationSourceKustomize {
        images: vec!["myregistry.azurecr.io/users-api:2.0.0".into()],
        name_prefix: "blue-".into(),
        common_labels: labels(&[("tier", "backend")]),
        common_annotations: labels(&[("owner", "payments")]),
        replicas: vec![replica("users-api", 5)],
        namespace: "users-api-canary".into(),
        ..Default::default()
    });
    let rendered = render(&renderer, &repo, &src).await?;
    assert_eq!(rendered.source_type, SourceType::Kustomize);

    let copy = tempfile::tempdir()?;
    copy_dir(&repo, copy.path())?;
    write_files(
        copy.path(),
        &[(
            "overlays/prod/users-api/kustomization.yaml",
            r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: users-api-canary
namePrefix: blue-
resources:
- ../../../base/users-api
patches:
- path: deployment-patch.yaml
- path: configmap-patch.yaml
images:
- name: myregistry.azurecr.io/users-api
  newTag: 2.0.0
commonLabels:
  tier: backend
commonAnnotations:
  owner: payments
replicas:
- name: users-api
  count: 5
"#,
        )],
    )?;
    let want = kubectl_kustomize(&env, &copy.path().join("overlays/prod/users-api"))?;
    assert_eq!(rendered.manifests, want);

    // The overrides did take effect (not a vacuous comparison).
    let deploy = find(&rendered.manifests, "Deployment", "blue-users-api");
    assert_eq!(deploy["metadata"]["namespace"], "users-api-canary");
    assert_eq!(deploy["spec"]["replicas"], 5);
    assert_eq!(deploy["metadata"]["labels"]["tier"], "backend");
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["tier"], "backend");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "myregistry.azurecr.io/users-api:2.0.0"
    );
    assert_eq!(snapshot(&repo), before, "the checkout was modified");
    Ok(())
}

/// Edge cases where a wrapper kustomization would differ from `kustomize edit`: the overlay's
/// namePrefix is replaced (not stacked), its image entry (with newName) replaced, patches and
/// components appended, labels without selectors, a generator's hash suffix recomputed.
#[tokio::test]
async fn overrides_replace_overlay_fields_like_kustomize_edit() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = tempfile::tempdir()?;
    let files: &[(&str, &str)] = &[
        (
            "base/kustomization.yaml",
            "resources:\n- deploy.yaml\n- svc.yaml\n",
        ),
        (
            "base/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: app:1.0\n        envFrom:\n        - configMapRef: {name: settings}\n",
        ),
        (
            "base/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n",
        ),
        (
            "components/debug/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  debug: \"true\"\n",
        ),
        (
            "overlay/kustomization.yaml",
            "# the overlay\nnamePrefix: old-\nbases:\n- ../base\nimages:\n- name: app\n  newName: registry.example/app\n  newTag: \"1.5\"\nconfigMapGenerator:\n- name: settings\n  literals: [LOG=debug]\n",
        ),
        (
            "overlay/scale.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n",
        ),
    ];
    write_files(repo.path(), files)?;
    let before = snapshot(repo.path());

    let mut src = source("overlay");
    src.kustomize = Some(ApplicationSourceKustomize {
        name_prefix: "new-".into(),
        name_suffix: "-v2".into(),
        images: vec!["app:2.0".into()],
        common_labels: labels(&[("team", "web")]),
        label_without_selector: Some(true),
        patches: vec![
            KustomizePatch {
                path: "scale.yaml".into(),
                ..Default::default()
            },
            KustomizePatch {
                patch: "- op: add\n  path: /metadata/annotations\n  value: {patched: \"yes\"}\n"
                    .into(),
                target: Some(KustomizeSelector {
                    kind: "Service".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
        components: vec!["../components/debug".into()],
        ..Default::default()
    });
    let rendered = render(&renderer, repo.path(), &src).await?;

    let copy = tempfile::tempdir()?;
    copy_dir(repo.path(), copy.path())?;
    write_files(
        copy.path(),
        &[(
            "overlay/kustomization.yaml",
            r#"namePrefix: new-
nameSuffix: -v2
resources:
- ../base
images:
- name: app
  newTag: "2.0"
labels:
- pairs:
    team: web
configMapGenerator:
- name: settings
  literals: [LOG=debug]
patches:
- path: scale.yaml
- patch: |
    - op: add
      path: /metadata/annotations
      value: {patched: "yes"}
  target:
    kind: Service
components:
- ../components/debug
"#,
        )],
    )?;
    let want = kubectl_kustomize(&env, &copy.path().join("overlay"))?;
    assert_eq!(rendered.manifests, want);

    let deploy = find(&rendered.manifests, "Deployment", "new-web-v2");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:2.0"
    );
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["metadata"]["labels"]["team"], "web");
    assert!(
        deploy["spec"]["selector"]["matchLabels"]
            .get("team")
            .is_none()
    );
    assert_eq!(deploy["metadata"]["annotations"]["debug"], "true");
    let cm_name = deploy["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]
        ["name"]
        .as_str()
        .unwrap_or_default();
    assert!(cm_name.starts_with("new-settings-v2-"), "{cm_name}");
    assert_eq!(snapshot(repo.path()), before, "the checkout was modified");
    Ok(())
}

#[tokio::test]
async fn override_conflicts_fail_like_kustomize_edit() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let mut src = source("base/users-api");
    // The base already has commonLabels app: `kustomize edit add label app:x` refuses.
    src.kustomize = Some(ApplicationSourceKustomize {
        common_labels: labels(&[("app", "other")]),
        ..Default::default()
    });
    let err = render(&renderer, &examples(), &src)
        .await
        .expect_err("conflict");
    assert_eq!(
        err.to_string(),
        "kustomize override: label app already in kustomization file"
    );
    // With forceCommonLabels it is overwritten.
    src.kustomize = Some(ApplicationSourceKustomize {
        common_labels: labels(&[("app", "other")]),
        force_common_labels: Some(true),
        ..Default::default()
    });
    let rendered = render(&renderer, &examples(), &src).await?;
    let deploy = find(&rendered.manifests, "Deployment", "users-api");
    assert_eq!(deploy["metadata"]["labels"]["app"], "other");
    Ok(())
}

#[tokio::test]
async fn explicit_kustomize_block_without_overrides_builds_in_place() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let mut src = source("overlays/dev/orders-api");
    src.kustomize = Some(ApplicationSourceKustomize::default());
    let rendered = render(&renderer, &examples(), &src).await?;
    assert_eq!(
        rendered.manifests,
        kubectl_kustomize(&env, &examples().join("overlays/dev/orders-api"))?
    );
    Ok(())
}

#[tokio::test]
async fn kustomize_errors_name_repository_paths() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = tempfile::tempdir()?;
    write_files(
        repo.path(),
        &[("app/kustomization.yaml", "resources:\n- missing.yaml\n")],
    )?;
    let err = render(&renderer, repo.path(), &source("app"))
        .await
        .expect_err("missing resource");
    match &err {
        RenderError::ToolFailed { tool, stderr } => {
            assert_eq!(tool, "kubectl kustomize");
            assert!(stderr.contains("missing.yaml"), "{stderr}");
            let root = repo.path().canonicalize()?.display().to_string();
            assert!(!stderr.contains(&root), "checkout path leaked: {stderr}");
        }
        other => panic!("unexpected error {other}"),
    }
    Ok(())
}
