//! Tool execution: counting, memoised versions, the concurrency limit, the timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use capstan_render::{KustomizeTool, RenderError, RenderLimits, Renderer, Tools};

use crate::common::*;

#[tokio::test]
async fn exec_count_and_memoised_tool_versions() -> anyhow::Result<()> {
    let env = env()?;
    let renderer = renderer(&env);
    assert_eq!(renderer.exec_count(), 0);
    let versions = renderer.tool_versions().await?;
    assert!(
        versions.starts_with("kustomize v5.") && versions.contains(", helm v"),
        "{versions}"
    );
    assert_eq!(renderer.exec_count(), 2, "kubectl version + helm version");
    assert_eq!(renderer.clone().tool_versions().await?, versions);
    assert_eq!(renderer.exec_count(), 2, "memoised, shared by clones");

    render(&renderer, &examples(), &source("overlays/dev/users-api")).await?;
    assert_eq!(renderer.exec_count(), 3);
    render(&renderer, &testdata("helm"), &source("webapp")).await?;
    assert_eq!(renderer.exec_count(), 4);
    let dir = tempfile::tempdir()?;
    write_files(
        dir.path(),
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )],
    )?;
    render(&renderer, dir.path(), &source("app")).await?;
    assert_eq!(renderer.exec_count(), 4, "a directory runs no tool");
    Ok(())
}

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) -> anyhow::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

fn fake_renderer(kustomize: &Path, limits: RenderLimits) -> Renderer {
    Renderer::new(
        Tools {
            kustomize: KustomizeTool::Kustomize(kustomize.to_path_buf()),
            helm: "/nonexistent/helm".into(),
        },
        limits,
    )
}

#[tokio::test]
async fn concurrent_tools_are_limited() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let markers = work.path().join("markers");
    std::fs::create_dir(&markers)?;
    let log = work.path().join("log");
    let fake = script(
        work.path(),
        "kustomize",
        &format!(
            r#"d='{markers}'
touch "$d/running.$$"
ls "$d" | grep -c '^running' >> '{log}'
sleep 0.4
rm -f "$d/running.$$"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fake\n'
"#,
            markers = markers.display(),
            log = log.display()
        ),
    )?;
    let renderer = fake_renderer(
        &fake,
        RenderLimits {
            max_concurrent_execs: 2,
            ..RenderLimits::default()
        },
    );
    let repo = tempfile::tempdir()?;
    write_files(
        repo.path(),
        &[("app/kustomization.yaml", "resources: []\n")],
    )?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (renderer, root) = (renderer.clone(), repo.path().to_path_buf());
        tasks.spawn(async move {
            let src = source("app");
            render(&renderer, &root, &src).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        let rendered = result??;
        assert_eq!(ids(&rendered.manifests), ["ConfigMap/fake"]);
    }
    let elapsed = started.elapsed();
    let counts: Vec<u32> = std::fs::read_to_string(&log)?
        .lines()
        .map(|l| l.trim().parse())
        .collect::<Result<_, _>>()?;
    assert_eq!(counts.len(), 6);
    assert!(
        counts.iter().all(|n| *n <= 2),
        "more than 2 at once: {counts:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(1150),
        "6 runs of 0.4 s, 2 at a time: {elapsed:?}"
    );
    assert_eq!(renderer.exec_count(), 6);
    Ok(())
}

fn processes_with_arg(arg: &str) -> usize {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    std::fs::read(e.path().join("cmdline"))
                        .map(|c| c.split(|b| *b == 0).any(|part| part == arg.as_bytes()))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn slow_tools_are_killed_with_their_children() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    // A unique argument to find the grandchild `sleep` in /proc.
    let nap = format!("30.{}", std::process::id());
    let fake = script(
        work.path(),
        "kustomize",
        &format!("sleep {nap}\necho never\n"),
    )?;
    let renderer = fake_renderer(
        &fake,
        RenderLimits {
            exec_timeout: Duration::from_millis(500),
            ..RenderLimits::default()
        },
    );
    let repo = tempfile::tempdir()?;
    write_files(
        repo.path(),
        &[("app/kustomization.yaml", "resources: []\n")],
    )?;
    let started = Instant::now();
    let err = render(&renderer, repo.path(), &source("app"))
        .await
        .expect_err("timeout");
    assert!(
        matches!(&err, RenderError::ToolTimeout { tool, timeout } if tool == "kustomize build" && *timeout == Duration::from_millis(500)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_with_arg(&nap) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        processes_with_arg(&nap),
        0,
        "the tool's child survived the timeout"
    );
    Ok(())
}

#[tokio::test]
async fn tools_get_a_clean_environment() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let fake = script(
        work.path(),
        "kustomize",
        r#"read -r line || line=none
cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: env
data:
  stdin: "$line"
  home: "$HOME"
  path: "$PATH"
  user: "${USER:-unset}"
  appName: "${ARGOCD_APP_NAME:-unset}"
  args: "$*"
EOF
"#,
    )?;
    let renderer = fake_renderer(&fake, RenderLimits::default());
    let repo = tempfile::tempdir()?;
    write_files(
        repo.path(),
        &[("app/kustomization.yaml", "resources: []\n")],
    )?;
    let rendered = render(&renderer, repo.path(), &source("app")).await?;
    let data = &rendered.manifests[0]["data"];
    assert_eq!(data["stdin"], "none");
    assert_eq!(data["user"], "unset");
    assert_eq!(data["appName"], "test-app");
    let home = data["home"].as_str().unwrap_or_default();
    assert!(
        home.contains("capstan-render-") && !Path::new(home).exists(),
        "scratch HOME removed: {home}"
    );
    assert!(
        data["path"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&work.path().display().to_string())
    );
    let root = repo.path().canonicalize()?;
    assert_eq!(
        data["args"],
        format!("build {}", root.join("app").display())
    );
    Ok(())
}
