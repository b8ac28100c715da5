//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, bail};
use capstan_e2e::TestEnv;
use capstan_render::{KustomizeTool, RenderLimits, RenderRequest, Rendered, Renderer, Tools};
use capstan_types::application::ApplicationSource;
use serde_json::Value;

/// The running test environment (fails loudly when it is not up).
pub fn env() -> anyhow::Result<TestEnv> {
    TestEnv::from_env()
}

/// The real tools: kubectl's kustomize and helm.
pub fn tools(env: &TestEnv) -> Tools {
    Tools {
        kustomize: KustomizeTool::Kubectl(env.kubectl().to_path_buf()),
        helm: env.helm().to_path_buf(),
    }
}

/// A renderer with the real tools and default limits.
pub fn renderer(env: &TestEnv) -> Renderer {
    Renderer::new(tools(env), RenderLimits::default())
}

/// `examples/k8s-manifests` of this repository.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/k8s-manifests")
}

/// `crates/capstan-render/testdata/<name>`.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// A Git source for `path`.
pub fn source(path: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: "https://git.example/k8s-manifests.git".into(),
        path: path.into(),
        target_revision: "main".into(),
        ..Default::default()
    }
}

/// Renders with the usual request fields.
pub async fn render(
    renderer: &Renderer,
    repo_root: &Path,
    source: &ApplicationSource,
) -> Result<Rendered, capstan_render::RenderError> {
    renderer
        .render(&RenderRequest {
            repo_root,
            source,
            app_name: "test-app",
            namespace: "test-ns",
            kube_version: "1.30.0",
            api_versions: &[],
        })
        .await
}

/// Every non-empty document of a YAML stream, as JSON (an independent parse from the crate's).
pub fn parse_stream(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let yaml: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc)?;
        if !yaml.is_null() {
            out.push(serde_json::to_value(&yaml)?);
        }
    }
    Ok(out)
}

fn run(mut command: Command, what: &str) -> anyhow::Result<Vec<Value>> {
    let home = tempfile::tempdir()?;
    command
        .env("HOME", home.path())
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"));
    let out = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    parse_stream(&String::from_utf8(out.stdout)?)
}

/// `kubectl kustomize <dir>` run directly.
pub fn kubectl_kustomize(env: &TestEnv, dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut command = Command::new(env.kubectl());
    command.arg("kustomize").arg(dir);
    run(command, &format!("kubectl kustomize {}", dir.display()))
}

/// `helm template <args>` run directly in `chart_dir`.
pub fn helm_template(env: &TestEnv, chart_dir: &Path, args: &[&str]) -> anyhow::Result<Vec<Value>> {
    let mut command = Command::new(env.helm());
    command.arg("template").args(args).current_dir(chart_dir);
    run(command, &format!("helm template {}", args.join(" ")))
}

/// Every file below `dir` with its size, mode and modification time: equal snapshots before
/// and after a render prove nothing was written into the checkout.
pub fn snapshot(dir: &Path) -> Vec<(String, u64, u32, Option<SystemTime>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        out.push((d.display().to_string(), 0, 0, None));
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let meta = entry.path().symlink_metadata().expect("lstat");
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.push((
                    entry.path().display().to_string(),
                    meta.len(),
                    meta.permissions().mode(),
                    meta.modified().ok(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Recursively copies a directory (symlinks as symlinks).
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            copy_dir(&src, &dst)?;
        } else if file_type.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Writes `files` (`(path, contents)`) below `root`, creating directories.
pub fn write_files(root: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    for (path, contents) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("parent"))?;
        std::fs::write(&file, contents)?;
    }
    Ok(())
}

/// `kind/name` of each object, for readable assertions.
pub fn ids(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {:?}", ids(objects)))
}
