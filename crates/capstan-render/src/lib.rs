//! `capstan-render` — desired manifests from a checked-out repository.
//!
//! Given a checkout and an Application's source, this crate produces the Kubernetes objects Argo
//! CD's repo-server would produce (`reposerver/repository` `GenerateManifests`): a plain
//! directory of YAML/JSON, `kustomize build` with the Application's overrides, or
//! `helm template` with its values and parameters. It is the repo-server's rendering core; the
//! repo-server adds Git, caching and gRPC around it.
//!
//! **Architecture Invariant:** this crate never depends on `git2` or any network client, on a
//! Kubernetes client, on tonic or on Redis. The only IO is reading the checkout, writing private
//! scratch directories, and running the `kustomize`/`kubectl` and `helm` executables.
//!
//! **Architecture Invariant:** the checkout is read-only here. Concurrent renders share a
//! checkout, so nothing is ever written below `repo_root`; Kustomize overrides are applied to a
//! copy of the app directory (see the `kustomize` module).
//!
//! **Architecture Invariant:** every path taken from an Application or from the repository goes
//! through [`resolve_in_repo`] or the same checks: absolute and `..` paths, symlinks out of the
//! repository and value files outside it are refused with distinct [`RenderError`] variants —
//! the classes of Argo CD's path-traversal CVEs.
//!
//! Tools run with an empty environment (only `PATH`, `HOME` in a scratch directory and, for Helm,
//! its cache/config/data homes there too), no stdin, a timeout that kills the process group, a
//! cap on their output, and at most [`RenderLimits::max_concurrent_execs`] at once.
//!
//! ```no_run
//! # async fn demo(source: &capstan_types::application::ApplicationSource) -> Result<(), capstan_render::RenderError> {
//! use capstan_render::*;
//! let renderer = Renderer::new(
//!     Tools {
//!         kustomize: KustomizeTool::Kubectl("/usr/bin/kubectl".into()),
//!         helm: "/usr/bin/helm".into(),
//!     },
//!     RenderLimits::default(),
//! );
//! let rendered = renderer
//!     .render(&RenderRequest {
//!         repo_root: std::path::Path::new("/var/cache/checkouts/abc123"),
//!         source,
//!         app_name: "users-api-prod",
//!         namespace: "users-api-prod",
//!         kube_version: "1.33.1",
//!         api_versions: &[],
//!     })
//!     .await?;
//! println!("{} objects from {}", rendered.manifests.len(), rendered.source_type.as_str());
//! # Ok(()) }
//! ```

mod directory;
mod envsubst;
mod error;
mod exec;
mod helm;
mod kustomize;
mod manifests;
mod paths;
mod source;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use capstan_types::application::ApplicationSource;
use serde_json::Value;
use tokio::sync::OnceCell;

pub use directory::DirectoryGlob;
pub use envsubst::BuildEnv;
pub use error::RenderError;
pub use paths::{check_out_of_bounds_symlinks, resolve_in_repo};
pub use source::{
    KUSTOMIZATION_NAMES, SourceType, apply_source_overrides, detect_source_type, discover_apps,
};

use exec::{Executor, ToolRun};

/// How to run Kustomize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KustomizeTool {
    /// A standalone `kustomize` binary: `kustomize build DIR`.
    Kustomize(PathBuf),
    /// `kubectl`'s built-in Kustomize: `kubectl kustomize DIR`.
    Kubectl(PathBuf),
}

impl KustomizeTool {
    fn program(&self) -> &Path {
        match self {
            KustomizeTool::Kustomize(p) | KustomizeTool::Kubectl(p) => p,
        }
    }

    fn build_args(&self, dir: &Path) -> (String, Vec<OsString>) {
        match self {
            KustomizeTool::Kustomize(_) => (
                "kustomize build".to_string(),
                vec!["build".into(), dir.into()],
            ),
            KustomizeTool::Kubectl(_) => (
                "kubectl kustomize".to_string(),
                vec!["kustomize".into(), dir.into()],
            ),
        }
    }
}

/// The executables the renderer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// Kustomize (standalone or through kubectl).
    pub kustomize: KustomizeTool,
    /// `helm` (v3 or v4).
    pub helm: PathBuf,
}

/// Bounds on one render and on the renderer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderLimits {
    /// Most bytes of manifests: the combined size of a directory's manifest files, or a tool's
    /// output (Argo CD's `reposerver.max.combined.directory.manifests.size`).
    pub max_manifest_bytes: u64,
    /// Most manifest files read from a directory (and files copied to apply Kustomize overrides).
    pub max_files: usize,
    /// Longest a tool may run before it is killed.
    pub exec_timeout: Duration,
    /// Most tools running at once across all renders of this renderer (Argo CD's
    /// `reposerver.parallelism.limit`).
    pub max_concurrent_execs: usize,
}

impl Default for RenderLimits {
    /// 100 MiB, 10 000 files, 90 s (Argo CD's exec timeout), 4 concurrent tools.
    fn default() -> Self {
        RenderLimits {
            max_manifest_bytes: 100 * 1024 * 1024,
            max_files: 10_000,
            exec_timeout: Duration::from_secs(90),
            max_concurrent_execs: 4,
        }
    }
}

/// What to render.
#[derive(Debug, Clone, Copy)]
pub struct RenderRequest<'a> {
    /// The root of the checkout (read-only; shared with concurrent renders).
    pub repo_root: &'a Path,
    /// The Application source (its `path` is relative to `repo_root`).
    pub source: &'a ApplicationSource,
    /// The Application's name (Helm's default release name; `.argocd-source-<name>.yaml`).
    pub app_name: &'a str,
    /// The destination namespace: Helm's `--namespace` unless `helm.namespace` is set. Kustomize
    /// ignores it (only `kustomize.namespace` sets a namespace there), as in Argo CD; objects
    /// without a namespace get the destination's at sync time, from the controller.
    pub namespace: &'a str,
    /// The destination cluster's version (Helm's `--kube-version`), e.g. `1.33.1`; may be empty.
    pub kube_version: &'a str,
    /// The destination cluster's API versions (Helm's `--api-versions`); may be empty.
    pub api_versions: &'a [String],
}

/// The rendered source.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The tool that rendered it.
    pub source_type: SourceType,
    /// The objects, in a deterministic order: the tool's output order, or for a directory by
    /// file path (walk order) then document order. Lists are flattened; nothing is added (no
    /// tracking labels — the controller adds those).
    pub manifests: Vec<Value>,
}

/// Renders sources. Cheap to clone; clones share the concurrency limit, the exec counter and
/// the memoised tool versions.
#[derive(Debug, Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tools: Tools,
    limits: RenderLimits,
    executor: Executor,
    versions: OnceCell<String>,
}

/// `PATH` for tools: the tools' own directories, then the usual system directories (never the
/// server's own environment, so that output does not depend on it).
fn default_exec_path(tools: &Tools) -> OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for program in [tools.kustomize.program(), tools.helm.as_path()] {
        if let Some(dir) = program.parent().filter(|d| !d.as_os_str().is_empty())
            && !dirs.iter().any(|d| d == dir)
        {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
    std::env::join_paths(dirs).unwrap_or_else(|_| OsString::from("/usr/local/bin:/usr/bin:/bin"))
}

impl Renderer {
    /// A renderer running `tools` within `limits`.
    pub fn new(tools: Tools, limits: RenderLimits) -> Self {
        let executor = Executor::new(
            limits.max_concurrent_execs,
            limits.exec_timeout,
            default_exec_path(&tools),
        );
        Renderer {
            inner: Arc::new(Inner {
                tools,
                limits,
                executor,
                versions: OnceCell::new(),
            }),
        }
    }

    /// Replaces the `PATH` tools run with (default: the tools' directories, then
    /// `/usr/local/bin:/usr/bin:/bin`; the server's own environment is never passed on).
    /// Kustomize needs `git` on it for remote bases. Call it right after [`new`](Self::new): it
    /// returns a fresh renderer (own concurrency limit, counter and memoised versions).
    pub fn with_exec_path(self, path: impl Into<OsString>) -> Self {
        let tools = self.inner.tools.clone();
        let limits = self.inner.limits.clone();
        let mut renderer = Renderer::new(tools, limits);
        if let Some(inner) = Arc::get_mut(&mut renderer.inner) {
            inner.executor.set_path(path.into());
        }
        renderer
    }

    /// The limits in force.
    pub fn limits(&self) -> &RenderLimits {
        &self.inner.limits
    }

    /// Number of external executables run so far (by this renderer and its clones).
    pub fn exec_count(&self) -> u64 {
        self.inner.executor.count()
    }

    /// The tools' versions, e.g. `"kustomize v5.7.1, helm v4.1.4"`: run once, then memoised
    /// (a failure is not memoised). Part of the repo-server's cache key, since a new tool
    /// version may render differently.
    pub async fn tool_versions(&self) -> Result<String, RenderError> {
        self.inner
            .versions
            .get_or_try_init(|| self.query_versions())
            .await
            .cloned()
    }

    async fn query_versions(&self) -> Result<String, RenderError> {
        let scratch = scratch_dir()?;
        let tools = &self.inner.tools;
        let (name, args): (&str, &[&str]) = match &tools.kustomize {
            KustomizeTool::Kustomize(_) => ("kustomize version", &["version"]),
            KustomizeTool::Kubectl(_) => {
                ("kubectl version", &["version", "--client", "-o", "json"])
            }
        };
        let out = self
            .run_tool(
                name,
                tools.kustomize.program(),
                args,
                scratch.path(),
                scratch.path(),
            )
            .await?;
        let kustomize_text = match &tools.kustomize {
            KustomizeTool::Kustomize(_) => out,
            KustomizeTool::Kubectl(_) => serde_json::from_str::<Value>(&out)
                .ok()
                .and_then(|v| {
                    v.get("kustomizeVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default(),
        };
        let kustomize =
            extract_version(&kustomize_text).ok_or_else(|| RenderError::InvalidToolOutput {
                tool: name.to_string(),
                message: "no Kustomize version in the output".to_string(),
            })?;
        let out = self
            .run_tool(
                "helm version",
                &tools.helm,
                &["version", "--short"],
                scratch.path(),
                scratch.path(),
            )
            .await?;
        let helm = extract_version(&out).ok_or_else(|| RenderError::InvalidToolOutput {
            tool: "helm version".to_string(),
            message: "no version in the output".to_string(),
        })?;
        Ok(format!("kustomize {kustomize}, helm {helm}"))
    }

    async fn run_tool(
        &self,
        name: &str,
        program: &Path,
        args: &[&str],
        cwd: &Path,
        home: &Path,
    ) -> Result<String, RenderError> {
        self.inner
            .executor
            .run(ToolRun {
                name: name.to_string(),
                program,
                args: args.iter().map(OsString::from).collect(),
                cwd,
                home,
                env: Vec::new(),
                redact: Vec::new(),
                max_output: 1024 * 1024,
            })
            .await
    }

    /// Renders `req` with the build environment Argo CD would use, minus what the request does
    /// not carry: `ARGOCD_APP_REVISION*` and `ARGOCD_APP_PROJECT_NAME` are empty. Use
    /// [`render_in_env`](Self::render_in_env) to supply them.
    pub async fn render(&self, req: &RenderRequest<'_>) -> Result<Rendered, RenderError> {
        let env = BuildEnv::new(req.app_name, req.namespace, "", "", req.source);
        self.render_in_env(req, &env).await
    }

    /// Renders `req`; `env` provides the `ARGOCD_APP_*` variables substituted into Helm
    /// parameters and value file paths and Kustomize images and labels (and passed to Kustomize's
    /// environment), as Argo CD does.
    #[tracing::instrument(skip_all, fields(app = req.app_name, path = %req.source.path))]
    pub async fn render_in_env(
        &self,
        req: &RenderRequest<'_>,
        env: &BuildEnv,
    ) -> Result<Rendered, RenderError> {
        let repo_root = req.repo_root.to_path_buf();
        let source = req.source.clone();
        let app_name = req.app_name.to_string();
        let limits = self.inner.limits.clone();
        let prepared = blocking(move || prepare(&repo_root, &source, &app_name, &limits)).await?;
        let source_type = prepared.source_type;
        let objects = match prepared.work {
            Work::Done(objects) => objects,
            Work::Kustomize { root, app_dir } => {
                self.kustomize(&root, &app_dir, &prepared.source, env)
                    .await?
            }
            Work::Helm { root } => self.helm(&root, &prepared.source, req, env).await?,
        };
        let origin = match source_type {
            SourceType::Directory => req.source.path.clone(),
            SourceType::Kustomize => "kustomize output".to_string(),
            SourceType::Helm => "helm output".to_string(),
        };
        let manifests = manifests::flatten_lists(objects, &origin)?;
        tracing::debug!(
            source_type = source_type.as_str(),
            objects = manifests.len(),
            "rendered"
        );
        Ok(Rendered {
            source_type,
            manifests,
        })
    }

    async fn kustomize(
        &self,
        root: &Path,
        app_dir: &Path,
        source: &ApplicationSource,
        env: &BuildEnv,
    ) -> Result<Vec<Value>, RenderError> {
        let scratch = scratch_dir()?;
        let home = scratch.path().join("home");
        let tree = scratch.path().join("tree");
        std::fs::create_dir(&home).map_err(|e| RenderError::io(home.display().to_string(), e))?;
        let build_dir = match source
            .kustomize
            .as_ref()
            .filter(|k| kustomize::has_overrides(k))
        {
            Some(opts) => {
                let (root, app_dir, tree) =
                    (root.to_path_buf(), app_dir.to_path_buf(), tree.clone());
                let (opts, env) = (opts.clone(), env.clone());
                let max_files = self.inner.limits.max_files;
                blocking(move || {
                    kustomize::prepare_overridden_copy(
                        &root, &app_dir, &tree, &opts, &env, max_files,
                    )
                })
                .await?
            }
            None => app_dir.to_path_buf(),
        };
        let tool = &self.inner.tools.kustomize;
        let (name, args) = tool.build_args(&build_dir);
        let out = self
            .inner
            .executor
            .run(ToolRun {
                name: name.clone(),
                program: tool.program(),
                args,
                cwd: root,
                home: &home,
                env: env
                    .vars()
                    .iter()
                    .map(|(k, v)| (k.clone(), OsString::from(v)))
                    .collect(),
                redact: vec![
                    (tree, ".".to_string()),
                    (root.to_path_buf(), ".".to_string()),
                ],
                max_output: self.inner.limits.max_manifest_bytes,
            })
            .await?;
        manifests::split_tool_output(&name, &out)
    }

    async fn helm(
        &self,
        root: &Path,
        source: &ApplicationSource,
        req: &RenderRequest<'_>,
        env: &BuildEnv,
    ) -> Result<Vec<Value>, RenderError> {
        let scratch = scratch_dir()?;
        let dirs = ["home", "cache", "config", "data"].map(|d| scratch.path().join(d));
        for dir in &dirs {
            std::fs::create_dir(dir).map_err(|e| RenderError::io(dir.display().to_string(), e))?;
        }
        let [home, cache, config, data] = dirs;
        let invocation = {
            let (root, scratch_path) = (root.to_path_buf(), scratch.path().to_path_buf());
            let (source, env) = (source.clone(), env.clone());
            let (app_name, namespace) = (req.app_name.to_string(), req.namespace.to_string());
            let (kube_version, api_versions) =
                (req.kube_version.to_string(), req.api_versions.to_vec());
            blocking(move || {
                helm::invocation(
                    &root,
                    &source.path,
                    source.helm.as_ref(),
                    &app_name,
                    &namespace,
                    &kube_version,
                    &api_versions,
                    &env,
                    &scratch_path,
                )
            })
            .await?
        };
        let chart_dir = source::app_dir(root, &source.path)?;
        let env_vars = [
            ("HELM_CACHE_HOME", &cache),
            ("HELM_CONFIG_HOME", &config),
            ("HELM_DATA_HOME", &data),
            ("XDG_CACHE_HOME", &cache),
            ("XDG_CONFIG_HOME", &config),
            ("XDG_DATA_HOME", &data),
        ]
        .map(|(k, v)| (k.to_string(), v.clone().into_os_string()))
        .to_vec();
        let out = self
            .inner
            .executor
            .run(ToolRun {
                name: "helm template".to_string(),
                program: &self.inner.tools.helm,
                args: invocation.args,
                cwd: &chart_dir,
                home: &home,
                env: env_vars,
                redact: vec![
                    (chart_dir.clone(), ".".to_string()),
                    (root.to_path_buf(), ".".to_string()),
                    (scratch.path().to_path_buf(), "<scratch>".to_string()),
                ],
                max_output: self.inner.limits.max_manifest_bytes,
            })
            .await?;
        manifests::split_tool_output("helm template", &out)
    }
}

/// What the blocking preparation decided.
struct Prepared {
    source_type: SourceType,
    /// The source with `.argocd-source*.yaml` overrides applied.
    source: ApplicationSource,
    work: Work,
}

enum Work {
    Done(Vec<Value>),
    Kustomize { root: PathBuf, app_dir: PathBuf },
    Helm { root: PathBuf },
}

/// Path checks, the out-of-bounds symlink scan, source overrides, type detection, and the whole
/// render for directories (all filesystem work, run on the blocking pool).
fn prepare(
    repo_root: &Path,
    source: &ApplicationSource,
    app_name: &str,
    limits: &RenderLimits,
) -> Result<Prepared, RenderError> {
    if source.is_helm_chart() {
        return Err(RenderError::Unsupported {
            what: format!(
                "Helm repository charts (source.chart {:?}); the renderer reads a checked-out Git path",
                source.chart
            ),
        });
    }
    let root = paths::canonical_root(repo_root)?;
    let app_dir = source::app_dir(&root, &source.path)?;
    check_out_of_bounds_symlinks(&root)?;
    let source = apply_source_overrides(&root, source, app_name)?;
    let source_type = detect_source_type(&root, &source)?;
    let work = match source_type {
        SourceType::Directory => {
            let options = source.directory.clone().unwrap_or_default();
            Work::Done(directory::render_directory(
                &root, &app_dir, &options, limits,
            )?)
        }
        SourceType::Kustomize => Work::Kustomize { root, app_dir },
        SourceType::Helm => Work::Helm { root },
    };
    Ok(Prepared {
        source_type,
        source,
        work,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RenderError> + Send + 'static,
) -> Result<T, RenderError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(RenderError::io(
            "blocking task",
            std::io::Error::other(e.to_string()),
        ))
    })
}

fn scratch_dir() -> Result<tempfile::TempDir, RenderError> {
    tempfile::Builder::new()
        .prefix("capstan-render-")
        .tempdir()
        .map_err(|e| RenderError::io("scratch directory", e))
}

/// The first `[v]X.Y.Z` in `text`, as `vX.Y.Z`.
fn extract_version(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        if !bytes[start].is_ascii_digit() || (start > 0 && bytes[start - 1].is_ascii_digit()) {
            continue;
        }
        let mut end = start;
        let mut dots = 0;
        while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
            if bytes[end] == b'.' {
                if dots == 2 || !bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
                    break;
                }
                dots += 1;
            }
            end += 1;
        }
        if dots == 2 {
            return Some(format!("v{}", &text[start..end]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repo-server spawns renders on a multi-threaded runtime.
    #[allow(dead_code)]
    fn futures_are_send(renderer: &Renderer, req: &RenderRequest<'_>, env: &BuildEnv) {
        fn send<T: Send>(_: &T) {}
        send(&renderer.render(req));
        send(&renderer.render_in_env(req, env));
        send(&renderer.tool_versions());
        fn send_sync<T: Send + Sync + Clone + 'static>() {}
        send_sync::<Renderer>();
    }

    #[test]
    fn versions_are_extracted() {
        assert_eq!(extract_version("v5.7.1").as_deref(), Some("v5.7.1"));
        assert_eq!(
            extract_version("v4.1.4+g05fa379").as_deref(),
            Some("v4.1.4")
        );
        assert_eq!(
            extract_version("{Version:kustomize/v4.5.7 GitCommit:56d82a8}").as_deref(),
            Some("v4.5.7")
        );
        assert_eq!(
            extract_version("1.2 and 3.4.5.6").as_deref(),
            Some("v3.4.5")
        );
        assert_eq!(extract_version("none"), None);
    }

    #[test]
    fn default_limits() {
        let limits = RenderLimits::default();
        assert_eq!(limits.max_manifest_bytes, 100 * 1024 * 1024);
        assert_eq!(limits.max_files, 10_000);
        assert_eq!(limits.exec_timeout, Duration::from_secs(90));
        assert_eq!(limits.max_concurrent_execs, 4);
    }

    #[test]
    fn source_type_names() {
        assert_eq!(SourceType::Directory.as_str(), "Directory");
        assert_eq!(SourceType::Kustomize.as_str(), "Kustomize");
        assert_eq!(SourceType::Helm.to_string(), "Helm");
    }
}
