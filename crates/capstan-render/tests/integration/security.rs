//! Each class of Argo CD path-traversal CVE is refused with its own error naming the path.

use std::os::unix::fs::symlink;

use capstan_render::{RenderError, RenderLimits, Renderer};
use capstan_types::application::{
    ApplicationSourceHelm, ApplicationSourceKustomize, HelmFileParameter, KustomizePatch,
};

use crate::common::*;

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

/// `<tmp>/repo` with an app, and `<tmp>/outside` holding a "secret" next to it.
fn repo_with_neighbour() -> anyhow::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("repo");
    write_files(
        tmp.path(),
        &[
            ("repo/app/cm.yaml", &cm("app")),
            ("repo/shared/cm.yaml", &cm("shared")),
            ("outside/secret.yaml", &cm("stolen")),
            ("outside/values.yaml", "greeting: stolen\n"),
        ],
    )?;
    Ok((tmp, repo))
}

#[tokio::test]
async fn source_paths_must_stay_in_the_repository() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let (tmp, repo) = repo_with_neighbour()?;

    let err = render(&renderer, &repo, &source("../outside"))
        .await
        .expect_err("dot-dot");
    assert!(
        matches!(&err, RenderError::PathEscape { path } if path == "../outside"),
        "{err}"
    );
    let err = render(&renderer, &repo, &source("app/../../outside"))
        .await
        .expect_err("dot-dot");
    assert!(matches!(&err, RenderError::PathEscape { .. }), "{err}");

    let abs = tmp.path().join("outside").display().to_string();
    let err = render(&renderer, &repo, &source(&abs))
        .await
        .expect_err("absolute");
    assert!(
        matches!(&err, RenderError::AbsolutePath { path } if *path == abs),
        "{err}"
    );

    let err = render(&renderer, &repo, &source("nope"))
        .await
        .expect_err("missing");
    assert!(
        matches!(&err, RenderError::PathNotFound { path } if path == "nope"),
        "{err}"
    );
    let err = render(&renderer, &repo, &source("app/cm.yaml"))
        .await
        .expect_err("a file");
    assert!(matches!(&err, RenderError::NotADirectory { .. }), "{err}");
    // `..` that stays inside is fine.
    let ok = render(&renderer, &repo, &source("app/../shared")).await?;
    assert_eq!(ids(&ok.manifests), ["ConfigMap/shared"]);
    Ok(())
}

#[tokio::test]
async fn symlinked_app_directories_must_stay_in_the_repository() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    for target in ["../outside", "ABSOLUTE"] {
        let (tmp, repo) = repo_with_neighbour()?;
        let target = if target == "ABSOLUTE" {
            tmp.path().join("outside")
        } else {
            target.into()
        };
        symlink(&target, repo.join("linked"))?;
        let err = render(&renderer, &repo, &source("linked"))
            .await
            .expect_err("symlinked app dir");
        assert!(
            matches!(&err, RenderError::SymlinkEscape { path } if path == "linked"),
            "{target:?}: {err}"
        );
        let err = capstan_render::resolve_in_repo(&repo, "linked/secret.yaml")
            .expect_err("through the link");
        assert!(
            matches!(&err, RenderError::SymlinkEscape { path } if path == "linked"),
            "{err}"
        );
    }
    // An in-repository symlinked directory is fine.
    let (_tmp, repo) = repo_with_neighbour()?;
    symlink("shared", repo.join("alias"))?;
    let ok = render(&renderer, &repo, &source("alias")).await?;
    assert_eq!(ids(&ok.manifests), ["ConfigMap/shared"]);
    Ok(())
}

#[tokio::test]
async fn symlinked_files_must_stay_in_the_repository() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let (_tmp, repo) = repo_with_neighbour()?;
    symlink("../../outside/secret.yaml", repo.join("app/z-secret.yaml"))?;
    let err = render(&renderer, &repo, &source("app"))
        .await
        .expect_err("symlinked file");
    assert!(
        matches!(&err, RenderError::SymlinkEscape { path } if path == "app/z-secret.yaml"),
        "{err}"
    );

    // An escaping symlink anywhere in the checkout is refused (Argo CD's out-of-bounds check),
    // because Kustomize and Helm may read any file of the repository.
    let (_tmp, repo) = repo_with_neighbour()?;
    symlink("../../outside", repo.join("shared/escape"))?;
    let err = render(&renderer, &repo, &source("app"))
        .await
        .expect_err("escaping symlink elsewhere");
    assert!(
        matches!(&err, RenderError::SymlinkEscape { path } if path == "shared/escape"),
        "{err}"
    );

    // In-repository symlinked files are fine (and a dangling one is skipped).
    let (_tmp, repo) = repo_with_neighbour()?;
    symlink("../shared/cm.yaml", repo.join("app/z-shared.yaml"))?;
    symlink("nowhere.yaml", repo.join("app/dangling.yaml"))?;
    let ok = render(&renderer, &repo, &source("app")).await?;
    assert_eq!(ids(&ok.manifests), ["ConfigMap/app", "ConfigMap/shared"]);
    Ok(())
}

#[tokio::test]
async fn helm_value_files_must_stay_in_the_repository() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("repo");
    copy_dir(&testdata("helm"), &repo)?;
    write_files(tmp.path(), &[("outside/values.yaml", "greeting: stolen\n")])?;
    let with_values = |files: &[&str]| {
        let mut src = source("webapp");
        src.helm = Some(ApplicationSourceHelm {
            value_files: files.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        });
        src
    };

    let err = render(
        &renderer,
        &repo,
        &with_values(&["../../outside/values.yaml"]),
    )
    .await
    .expect_err("..");
    assert!(
        matches!(&err, RenderError::ValueFileOutsideRepo { file } if file == "../../outside/values.yaml"),
        "{err}"
    );
    // Absolute value files are resolved from the repository root (Argo CD): never the host's.
    let err = render(&renderer, &repo, &with_values(&["/etc/passwd"]))
        .await
        .expect_err("absolute");
    assert!(
        matches!(&err, RenderError::ValueFileNotFound { file } if file == "/etc/passwd"),
        "{err}"
    );
    let err = render(
        &renderer,
        &repo,
        &with_values(&["/../../outside/values.yaml"]),
    )
    .await
    .expect_err("abs ..");
    assert!(
        matches!(&err, RenderError::ValueFileOutsideRepo { .. }),
        "{err}"
    );
    let err = render(
        &renderer,
        &repo,
        &with_values(&["https://evil.example/values.yaml"]),
    )
    .await
    .expect_err("url");
    assert!(
        matches!(&err, RenderError::RemoteValueFile { scheme, .. } if scheme == "https"),
        "{err}"
    );
    let err = render(&renderer, &repo, &with_values(&["missing.yaml"]))
        .await
        .expect_err("missing");
    assert!(
        matches!(&err, RenderError::ValueFileNotFound { file } if file == "missing.yaml"),
        "{err}"
    );

    let mut src = source("webapp");
    src.helm = Some(ApplicationSourceHelm {
        file_parameters: vec![HelmFileParameter {
            name: "config.file".into(),
            path: "../../outside/values.yaml".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let err = render(&renderer, &repo, &src)
        .await
        .expect_err("set-file outside");
    assert!(
        matches!(&err, RenderError::ValueFileOutsideRepo { .. }),
        "{err}"
    );

    // A value file symlinked out of the repository.
    symlink("../../outside/values.yaml", repo.join("webapp/evil.yaml"))?;
    let err = render(&renderer, &repo, &with_values(&["evil.yaml"]))
        .await
        .expect_err("symlink");
    assert!(
        matches!(&err, RenderError::SymlinkEscape { path } if path == "webapp/evil.yaml"),
        "{err}"
    );
    assert_eq!(renderer.exec_count(), 0, "nothing reached helm");
    Ok(())
}

#[tokio::test]
async fn kustomize_override_paths_must_stay_in_the_repository() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let mut src = source("overlays/dev/users-api");
    src.kustomize = Some(ApplicationSourceKustomize {
        components: vec!["../../../../../outside".into()],
        ..Default::default()
    });
    let err = render(&renderer, &examples(), &src)
        .await
        .expect_err("component outside");
    assert!(matches!(&err, RenderError::PathEscape { .. }), "{err}");
    src.kustomize = Some(ApplicationSourceKustomize {
        patches: vec![KustomizePatch {
            path: "/etc/passwd".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let err = render(&renderer, &examples(), &src)
        .await
        .expect_err("absolute patch");
    assert!(matches!(&err, RenderError::AbsolutePath { .. }), "{err}");
    assert_eq!(renderer.exec_count(), 0);
    Ok(())
}

#[tokio::test]
async fn tool_output_is_limited() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = Renderer::new(
        tools(&env),
        RenderLimits {
            max_manifest_bytes: 200,
            ..RenderLimits::default()
        },
    );
    let err = render(&renderer, &examples(), &source("overlays/prod/users-api"))
        .await
        .expect_err("big output");
    assert!(
        matches!(err, RenderError::LimitExceeded { limit: 200, .. }),
        "{err}"
    );
    let err = render(&renderer, &testdata("helm"), &source("webapp"))
        .await
        .expect_err("big output");
    assert!(
        matches!(err, RenderError::LimitExceeded { limit: 200, .. }),
        "{err}"
    );
    Ok(())
}
