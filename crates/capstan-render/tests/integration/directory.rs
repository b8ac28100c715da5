//! Plain directory sources on real files: walk order, recurse, include/exclude, lists, errors.

use capstan_render::{RenderError, RenderLimits, Renderer, SourceType};
use capstan_types::application::ApplicationSourceDirectory;
use pretty_assertions::assert_eq;

use crate::common::*;

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

fn fixture() -> anyhow::Result<tempfile::TempDir> {
    let repo = tempfile::tempdir()?;
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: list-a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: list-b}\n";
    write_files(
        repo.path(),
        &[
            (
                "app/a.yaml",
                &format!("---\n{}---\n\n---\n{}", cm("a1"), cm("a2")),
            ),
            ("app/b-list.yml", list),
            (
                "app/c.json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
            ),
            ("app/values.yaml", "replicas: 3\n"),
            ("app/README.md", "not a manifest\n"),
            ("app/b/x.yaml", &cm("sub-x")),
            ("app/b/deeper/y.yaml", &cm("sub-y")),
            ("app/env-usw2/z.yaml", &cm("usw2-z")),
            ("app/empty.yaml", ""),
            (
                "app/null-list.yaml",
                "apiVersion: v1\nkind: ConfigMapList\nitems: null\n",
            ),
        ],
    )?;
    Ok(repo)
}

fn directory(recurse: bool, include: &str, exclude: &str) -> ApplicationSourceDirectory {
    ApplicationSourceDirectory {
        recurse: Some(recurse),
        include: include.into(),
        exclude: exclude.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn directory_walk_include_exclude_and_lists() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = fixture()?;
    let names = |r: &capstan_render::Rendered| -> Vec<String> {
        r.manifests
            .iter()
            .map(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };

    // Default: top level only, file order then document order, lists flattened, empty skipped,
    // a YAML file that is not a manifest (values.yaml) ignored.
    let rendered = render(&renderer, repo.path(), &source("app")).await?;
    assert_eq!(rendered.source_type, SourceType::Directory);
    assert_eq!(names(&rendered), ["a1", "a2", "list-a", "list-b", "c"]);

    let cases: [(ApplicationSourceDirectory, &[&str]); 6] = [
        // Walk order: "b" (a directory) sorts before "b-list.yml".
        (
            directory(true, "", ""),
            &[
                "a1", "a2", "sub-y", "sub-x", "list-a", "list-b", "c", "usw2-z",
            ],
        ),
        (directory(true, "*.yml", ""), &["list-a", "list-b"]),
        // `*` crosses directories (Argo CD's glob without separators).
        (directory(true, "b/*", ""), &["sub-y", "sub-x"]),
        (
            directory(true, "{a.yaml,env-usw2/*}", ""),
            &["a1", "a2", "usw2-z"],
        ),
        (
            directory(true, "", "{b/*,*.json}"),
            &["a1", "a2", "list-a", "list-b", "usw2-z"],
        ),
        // Exclude wins over include.
        (
            directory(true, "*.yaml", "*/deeper/*"),
            &["a1", "a2", "sub-x", "usw2-z"],
        ),
    ];
    for (dir, want) in cases {
        let mut src = source("app");
        src.directory = Some(dir.clone());
        let rendered = render(&renderer, repo.path(), &src).await?;
        assert_eq!(names(&rendered), want, "{dir:?}");
    }
    assert_eq!(renderer.exec_count(), 0, "directories need no tool");
    Ok(())
}

#[tokio::test]
async fn broken_manifests_name_file_and_line() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = tempfile::tempdir()?;
    write_files(
        repo.path(),
        &[
            ("apps/web/ok.yaml", &cm("ok")),
            (
                "apps/web/z-broken.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  key: \"unterminated\n",
            ),
        ],
    )?;
    let err = render(&renderer, repo.path(), &source("apps/web"))
        .await
        .expect_err("broken");
    match err {
        RenderError::InvalidYaml { file, line, .. } => {
            assert_eq!(file, "apps/web/z-broken.yaml");
            assert!(matches!(line, Some(6..=7)), "{line:?}");
        }
        other => panic!("unexpected error {other}"),
    }

    write_files(
        repo.path(),
        &[(
            "apps/web/z-broken.yaml",
            &format!(
                "{}---\napiVersion: v1\nmetadata:\n  name: nokind\n",
                cm("first")
            ),
        )],
    )?;
    let err = render(&renderer, repo.path(), &source("apps/web"))
        .await
        .expect_err("no kind");
    assert!(
        matches!(&err, RenderError::NotAnObject { file, document: 2, problem } if file == "apps/web/z-broken.yaml" && problem == "missing kind"),
        "{err}"
    );

    write_files(
        repo.path(),
        &[
            ("apps/web/z-broken.yaml", &cm("fine")),
            ("apps/web/gen.jsonnet", "{}"),
        ],
    )?;
    let err = render(&renderer, repo.path(), &source("apps/web"))
        .await
        .expect_err("jsonnet");
    assert!(
        matches!(&err, RenderError::JsonnetUnsupported { file } if file == "apps/web/gen.jsonnet"),
        "{err}"
    );
    // Excluding the Jsonnet file makes the app render.
    let mut src = source("apps/web");
    src.directory = Some(directory(false, "", "*.jsonnet"));
    assert_eq!(
        render(&renderer, repo.path(), &src).await?.manifests.len(),
        2
    );
    Ok(())
}

#[tokio::test]
async fn directory_limits() -> anyhow::Result<()> {
    let env = env()?;
    let repo = fixture()?;
    let limited = |limits: RenderLimits| Renderer::new(tools(&env), limits);
    let files = limited(RenderLimits {
        max_files: 3,
        ..RenderLimits::default()
    });
    let err = render(&files, repo.path(), &source("app"))
        .await
        .expect_err("too many files");
    assert!(
        matches!(err, RenderError::LimitExceeded { limit: 3, .. }),
        "{err}"
    );
    let bytes = limited(RenderLimits {
        max_manifest_bytes: 100,
        ..RenderLimits::default()
    });
    let err = render(&bytes, repo.path(), &source("app"))
        .await
        .expect_err("too many bytes");
    assert!(
        matches!(err, RenderError::LimitExceeded { limit: 100, .. }),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn source_override_files_are_merged_like_argo_cd() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    let repo = fixture()?;
    // .argocd-source.yaml turns on recursion; .argocd-source-<app>.yaml narrows it.
    write_files(
        repo.path(),
        &[
            ("app/.argocd-source.yaml", "directory:\n  recurse: true\n"),
            (
                "app/.argocd-source-test-app.yaml",
                "directory:\n  include: 'b/*'\npath: elsewhere\n",
            ),
        ],
    )?;
    let rendered = render(&renderer, repo.path(), &source("app")).await?;
    let names: Vec<_> = rendered
        .manifests
        .iter()
        .map(|o| o["metadata"]["name"].clone())
        .collect();
    assert_eq!(names, ["sub-y", "sub-x"]);
    Ok(())
}

#[tokio::test]
async fn discovery_lists_charts_and_overlays() -> anyhow::Result<()> {
    let apps = capstan_render::discover_apps(&examples())?;
    assert_eq!(apps.len(), 12, "{apps:?}");
    assert!(apps.values().all(|t| *t == SourceType::Kustomize));
    assert!(apps.contains_key("overlays/prod/users-api"));
    assert!(apps.contains_key("base/orders-api"));
    let apps = capstan_render::discover_apps(&testdata("helm"))?;
    assert_eq!(
        apps.into_iter().collect::<Vec<_>>(),
        [
            ("webapp".to_string(), SourceType::Helm),
            ("webapp/charts/cache".to_string(), SourceType::Helm)
        ]
    );
    Ok(())
}
