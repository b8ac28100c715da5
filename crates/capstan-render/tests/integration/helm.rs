//! Helm sources against `helm template` run directly with the arguments Argo CD would pass.

use capstan_render::{RenderRequest, SourceType};
use capstan_types::application::{ApplicationSourceHelm, HelmFileParameter, HelmParameter};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::common::*;

fn param(name: &str, value: &str, force_string: bool) -> HelmParameter {
    HelmParameter {
        name: name.into(),
        value: value.into(),
        force_string: force_string.then_some(true),
        ..Default::default()
    }
}

#[tokio::test]
async fn chart_without_options_renders_like_helm_template() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = testdata("helm");
    let before = snapshot(&repo);
    let rendered = render(&renderer, &repo, &source("webapp")).await?;
    assert_eq!(rendered.source_type, SourceType::Helm);
    // Argo CD: release = app name, --namespace = destination, --kube-version, CRDs included.
    let want = helm_template(
        &env,
        &repo.join("webapp"),
        &[
            ".",
            "--name-template",
            "test-app",
            "--namespace",
            "test-ns",
            "--kube-version",
            "1.30.0",
            "--include-crds",
        ],
    )?;
    assert_eq!(rendered.manifests, want);
    assert_eq!(
        ids(&rendered.manifests),
        [
            "CustomResourceDefinition/widgets.example.com",
            "ConfigMap/test-app-webapp-config",
            "Deployment/test-app-webapp",
            "StatefulSet/test-app-cache",
            "Pod/test-app-webapp-test",
        ]
    );
    assert_eq!(
        snapshot(&repo),
        before,
        "the chart was modified (Chart.lock?)"
    );
    Ok(())
}

#[tokio::test]
async fn every_helm_option_matches_helm_template_with_argo_cd_arguments() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = testdata("helm");
    let before = snapshot(&repo);
    let mut src = source("webapp");
    src.helm = Some(ApplicationSourceHelm {
        release_name: "rel".into(),
        value_files: vec![
            "values-prod.yaml".into(),
            "../shared/values-common.yaml".into(),
            "missing.yaml".into(),
        ],
        ignore_missing_value_files: Some(true),
        values: "greeting: inline\n".into(),
        parameters: vec![
            param("image.tag", "9.9.9", false),
            param("buildId", "007", true),
            param("list", "{a,b}", false),
            param("extra", "x,y", false),
        ],
        file_parameters: vec![HelmFileParameter {
            name: "config.file".into(),
            path: "files/config.txt".into(),
            ..Default::default()
        }],
        skip_crds: Some(true),
        skip_tests: Some(true),
        ..Default::default()
    });
    let api_versions = vec!["monitoring.coreos.com/v1".to_string()];
    let rendered = renderer
        .render(&RenderRequest {
            repo_root: &repo,
            source: &src,
            app_name: "ignored-app-name",
            namespace: "payments",
            kube_version: "v1.29.4+k3s1",
            api_versions: &api_versions,
        })
        .await?;

    let inline = tempfile::NamedTempFile::new()?;
    std::fs::write(inline.path(), "greeting: inline\n")?;
    let inline = inline.path().display().to_string();
    let want = helm_template(
        &env,
        &repo.join("webapp"),
        &[
            ".",
            "--name-template",
            "rel",
            "--namespace",
            "payments",
            "--kube-version",
            "v1.29.4k3s1",
            "--set",
            "extra=x\\,y",
            "--set",
            "image.tag=9.9.9",
            "--set",
            "list={a,b}",
            "--set-string",
            "buildId=007",
            "--set-file",
            "config.file=files/config.txt",
            "--values",
            "values-prod.yaml",
            "--values",
            "../shared/values-common.yaml",
            "--values",
            &inline,
            "--api-versions",
            "monitoring.coreos.com/v1",
            "--skip-tests",
        ],
    )?;
    assert_eq!(rendered.manifests, want);

    // Each option took effect.
    assert_eq!(
        ids(&rendered.manifests),
        [
            "ConfigMap/rel-webapp-config",
            "Deployment/rel-webapp",
            "StatefulSet/rel-cache",
            "ServiceMonitor/rel-webapp",
        ],
        "skipCrds drops the CRD, skipTests the test pod, apiVersions enables the ServiceMonitor"
    );
    let cm = find(&rendered.manifests, "ConfigMap", "rel-webapp-config");
    assert_eq!(
        cm["data"],
        json!({
            "greeting": "inline",
            "team": "platform",
            "buildIdType": "string",
            "buildId": "007",
            "configFile": "line one of the config file\n",
            "extra": "x,y",
            "list": "a;b",
        })
    );
    let deploy = find(&rendered.manifests, "Deployment", "rel-webapp");
    assert_eq!(deploy["metadata"]["namespace"], "payments");
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/webapp:9.9.9"
    );
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v1.29.4k3s1",
        "Argo CD's text.SemVer drops the '+' of a cluster version"
    );
    let cache = find(&rendered.manifests, "StatefulSet", "rel-cache");
    assert_eq!(
        cache["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "256Mi"
    );
    assert_eq!(snapshot(&repo), before, "the chart was modified");
    Ok(())
}

#[tokio::test]
async fn values_object_wins_and_helm_fields_override_the_request() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = testdata("helm");
    let mut src = source("webapp");
    src.helm = Some(ApplicationSourceHelm {
        values: "greeting: from-values\n".into(),
        values_object: Some(json!({"greeting": "from-object", "cache": {"enabled": false}})),
        namespace: "helm-ns".into(),
        kube_version: "1.31.0".into(),
        api_versions: vec!["monitoring.coreos.com/v1".into()],
        ..Default::default()
    });
    let rendered = renderer
        .render(&RenderRequest {
            repo_root: &repo,
            source: &src,
            app_name: "argocd_guestbook",
            namespace: "dest-ns",
            kube_version: "1.28.0",
            api_versions: &["batch/v1".to_string()],
        })
        .await?;
    let object = tempfile::NamedTempFile::new()?;
    std::fs::write(
        object.path(),
        r#"{"cache":{"enabled":false},"greeting":"from-object"}"#,
    )?;
    let want = helm_template(
        &env,
        &repo.join("webapp"),
        &[
            ".",
            "--name-template",
            "guestbook",
            "--namespace",
            "helm-ns",
            "--kube-version",
            "1.31.0",
            "--values",
            &object.path().display().to_string(),
            "--api-versions",
            "monitoring.coreos.com/v1",
            "--include-crds",
        ],
    )?;
    assert_eq!(rendered.manifests, want);
    let cm = find(&rendered.manifests, "ConfigMap", "guestbook-webapp-config");
    assert_eq!(cm["data"]["greeting"], "from-object");
    assert!(
        !ids(&rendered.manifests)
            .iter()
            .any(|id| id.starts_with("StatefulSet/")),
        "the cache subchart is disabled by its condition"
    );
    Ok(())
}

#[tokio::test]
async fn absolute_value_files_are_relative_to_the_repository_root() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = testdata("helm");
    let mut src = source("webapp");
    src.helm = Some(ApplicationSourceHelm {
        value_files: vec!["/shared/values-common.yaml".into()],
        ..Default::default()
    });
    let rendered = render(&renderer, &repo, &src).await?;
    let cm = find(&rendered.manifests, "ConfigMap", "test-app-webapp-config");
    assert_eq!(cm["data"]["team"], "platform");
    Ok(())
}

#[tokio::test]
async fn helm_parameters_are_envsubst_like_argo_cd() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = testdata("helm");
    let mut src = source("webapp");
    src.helm = Some(ApplicationSourceHelm {
        parameters: vec![
            param(
                "greeting",
                "hi-$ARGOCD_APP_NAME-${ARGOCD_APP_REVISION_SHORT}",
                false,
            ),
            param("extra", "pa$$word", true),
        ],
        ..Default::default()
    });
    let build_env =
        capstan_render::BuildEnv::new("shop", "ns", "0123456789abcdef", "default", &src);
    let rendered = renderer
        .render_in_env(
            &RenderRequest {
                repo_root: &repo,
                source: &src,
                app_name: "shop",
                namespace: "ns",
                kube_version: "",
                api_versions: &[],
            },
            &build_env,
        )
        .await?;
    let cm = find(&rendered.manifests, "ConfigMap", "shop-webapp-config");
    assert_eq!(cm["data"]["greeting"], "hi-shop-0123456");
    assert_eq!(cm["data"]["extra"], "pa$word");
    Ok(())
}

#[tokio::test]
async fn missing_vendored_dependency_is_a_tool_failure() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = tempfile::tempdir()?;
    copy_dir(&testdata("helm"), repo.path())?;
    std::fs::remove_dir_all(repo.path().join("webapp/charts"))?;
    let err = render(&renderer, repo.path(), &source("webapp"))
        .await
        .expect_err("no charts/");
    match err {
        capstan_render::RenderError::ToolFailed { tool, stderr } => {
            assert_eq!(tool, "helm template");
            assert!(stderr.contains("cache"), "{stderr}");
        }
        other => panic!("unexpected error {other}"),
    }
    Ok(())
}
