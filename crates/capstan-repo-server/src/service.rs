//! The `RepoServerService` gRPC service: request validation, credentials, revision resolution,
//! the manifest cache and single-flight, and the calls into `capstan-git` and
//! `capstan-render`.
//!
//! The manifest path, in order (each step skipped when the one before answered):
//! 1. resolve the revision to a commit SHA (a full SHA is taken as is; a branch or tag is
//!    shared through Redis for `revision_cache_ttl`, and `capstan-git` coalesces the
//!    ls-remote calls of concurrent requests);
//! 2. look the rendered manifests up in Redis under a hash of everything that determines
//!    them (repository, SHA, source minus `targetRevision`, application, namespace, cluster
//!    versions, tool versions);
//! 3. otherwise render once per key however many requests wait (single-flight), then cache.

use std::sync::Arc;
use std::time::Duration;

use capstan_cache::{Cache, CacheKey, singleflight};
use capstan_git::{GitError, GitStore, RepoAuth, normalize_url};
use capstan_proto::common::v1::KubeObject;
use capstan_proto::repo::v1 as pb;
use capstan_proto::repo::v1::repo_server_service_server::RepoServerService;
use capstan_render::{BuildEnv, RenderError, RenderRequest, Renderer, SourceType};
use capstan_types::application::ApplicationSource;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::credentials::RepoSecrets;
use crate::metrics::RepoServerMetrics;

/// Settings of the service (everything else comes from its parts).
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// How long rendered manifests stay in Redis.
    pub manifest_cache_ttl: Duration,
    /// How long a resolved branch or tag is shared through Redis.
    pub revision_cache_ttl: Duration,
}

/// The repo-server's gRPC service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RepoService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    git: GitStore,
    renderer: Renderer,
    cache: Cache,
    secrets: RepoSecrets,
    settings: ServiceSettings,
    metrics: RepoServerMetrics,
    renders: singleflight::Group<String, Result<CachedManifests, Status>>,
}

/// What the cache keeps of a manifest response (the manifests are already JSON text).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CachedManifests {
    manifests: Vec<String>,
    source_type: String,
    revision: String,
    commit_message: String,
    commit_author: String,
    commit_date: i64,
}

/// Everything that determines a rendering; hashed into the cache key, never stored in clear.
#[derive(Serialize)]
struct ManifestKey<'a> {
    repo: String,
    sha: &'a str,
    source: &'a ApplicationSource,
    app_name: &'a str,
    app_namespace: &'a str,
    project: &'a str,
    namespace: &'a str,
    kube_version: &'a str,
    api_versions: &'a [String],
    tool_versions: &'a str,
}

impl RepoService {
    /// Assembles the service from its parts.
    pub fn new(
        git: GitStore,
        renderer: Renderer,
        cache: Cache,
        secrets: RepoSecrets,
        settings: ServiceSettings,
        metrics: RepoServerMetrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                git,
                renderer,
                cache,
                secrets,
                settings,
                metrics,
                renders: singleflight::Group::new(),
            }),
        }
    }

    /// The Git store (for statistics in tests and benchmarks).
    pub fn git(&self) -> &GitStore {
        &self.inner.git
    }

    /// The renderer (for statistics in tests and benchmarks).
    pub fn renderer(&self) -> &Renderer {
        &self.inner.renderer
    }

    /// Names of the repository Secrets the server currently knows (never their data).
    pub fn repo_secret_names(&self) -> Vec<String> {
        self.inner
            .secrets
            .snapshot()
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    /// The cache (for statistics in tests and benchmarks).
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    fn auth(&self, url: &str, project: &str) -> RepoAuth {
        let secrets = self.inner.secrets.snapshot();
        let project = (!project.is_empty()).then_some(project);
        capstan_git::credentials_for_project(url, project, &secrets).unwrap_or_else(RepoAuth::none)
    }

    /// Branch, tag, HEAD, or SHA → full commit SHA.
    async fn resolve(
        &self,
        url: &str,
        auth: &RepoAuth,
        revision: &str,
        no_revision_cache: bool,
    ) -> Result<String, Status> {
        let revision = match revision.trim() {
            "" => "HEAD",
            r => r,
        };
        if is_full_sha(revision) {
            return Ok(revision.to_ascii_lowercase());
        }
        let key = self
            .inner
            .cache
            .key("revision", &(normalize_url(url), revision));
        if !no_revision_cache && let Some(sha) = self.inner.cache.get::<String>(&key).await {
            return Ok(sha);
        }
        // Bypassing the revision cache (an explicit refresh) also means a fresh ls-remote.
        let git = &self.inner.git;
        let sha = if no_revision_cache {
            git.resolve_revision_fresh(url, auth, revision).await
        } else {
            git.resolve_revision(url, auth, revision).await
        }
        .map_err(git_status)?;
        self.inner
            .cache
            .set(&key, &sha, self.inner.settings.revision_cache_ttl)
            .await;
        Ok(sha)
    }

    async fn generate(&self, req: pb::ManifestRequest) -> Result<CachedManifests, Status> {
        let repo = required_repo(req.repo.as_ref())?;
        let source: ApplicationSource = decode_source(req.application_source.as_ref())?;
        let auth = self.auth(&repo.url, &req.project_name);
        let sha = self
            .resolve(
                &repo.url,
                &auth,
                &req.revision,
                req.no_revision_cache || req.no_cache,
            )
            .await?;
        let tool_versions = self
            .inner
            .renderer
            .tool_versions()
            .await
            .map_err(render_status)?;
        // targetRevision is replaced by the SHA it resolved to: two apps tracking `main` and
        // the SHA `main` points at share one entry.
        let keyed_source = ApplicationSource {
            target_revision: String::new(),
            ..source.clone()
        };
        let key = self.inner.cache.key(
            "manifests",
            &ManifestKey {
                repo: normalize_url(&repo.url),
                sha: &sha,
                source: &keyed_source,
                app_name: &req.app_name,
                app_namespace: &req.app_namespace,
                project: &req.project_name,
                namespace: &req.namespace,
                kube_version: &req.kube_version,
                api_versions: &req.api_versions,
                tool_versions: &tool_versions,
            },
        );
        if !req.no_cache
            && let Some(hit) = self.inner.cache.get::<CachedManifests>(&key).await
        {
            self.inner.metrics.manifest_cache(true);
            return Ok(hit);
        }
        self.inner.metrics.manifest_cache(false);
        let this = self.clone();
        let flight_key = key.as_str().to_owned();
        self.inner
            .renders
            .run(flight_key, async move {
                this.render_and_cache(&repo.url, &auth, &sha, &source, &req, &key)
                    .await
            })
            .await
    }

    async fn render_and_cache(
        &self,
        url: &str,
        auth: &RepoAuth,
        sha: &str,
        source: &ApplicationSource,
        req: &pb::ManifestRequest,
        key: &CacheKey,
    ) -> Result<CachedManifests, Status> {
        let checkout = self
            .inner
            .git
            .checkout(url, auth, sha)
            .await
            .map_err(git_status)?;
        let render = RenderRequest {
            repo_root: checkout.path(),
            source,
            app_name: &req.app_name,
            namespace: &req.namespace,
            kube_version: &req.kube_version,
            api_versions: &req.api_versions,
        };
        let env = BuildEnv::new(
            &req.app_name,
            &req.namespace,
            sha,
            &req.project_name,
            source,
        );
        let started = std::time::Instant::now();
        let rendered = self.inner.renderer.render_in_env(&render, &env).await;
        self.inner.metrics.render(
            rendered
                .as_ref()
                .map(|r| r.source_type.as_str())
                .unwrap_or(""),
            rendered.as_ref().err().map(RenderError::label),
            started.elapsed(),
        );
        let rendered = rendered.map_err(render_status)?;
        let commit = self
            .inner
            .git
            .commit_metadata(url, auth, sha)
            .await
            .map_err(git_status)?;
        let manifests = rendered
            .manifests
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::internal(format!("encoding manifests: {e}")))?;
        let value = CachedManifests {
            manifests,
            source_type: rendered.source_type.as_str().to_owned(),
            revision: sha.to_owned(),
            commit_message: commit.message,
            commit_author: commit.author,
            commit_date: commit.date,
        };
        self.inner
            .cache
            .set(key, &value, self.inner.settings.manifest_cache_ttl)
            .await;
        Ok(value)
    }

    /// A checkout of `revision` of the request's repository.
    async fn checkout_of(
        &self,
        repo: Option<&pb::RepoRef>,
        revision: &str,
        no_revision_cache: bool,
    ) -> Result<capstan_git::Checkout, Status> {
        let repo = required_repo(repo)?;
        let auth = self.auth(&repo.url, &repo.project);
        let sha = self
            .resolve(&repo.url, &auth, revision, no_revision_cache)
            .await?;
        self.inner
            .git
            .checkout(&repo.url, &auth, &sha)
            .await
            .map_err(git_status)
    }
}

fn is_full_sha(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

fn required_repo(repo: Option<&pb::RepoRef>) -> Result<pb::RepoRef, Status> {
    match repo {
        Some(repo) if !repo.url.trim().is_empty() => Ok(repo.clone()),
        _ => Err(Status::invalid_argument("repo.url is required")),
    }
}

fn decode_source(object: Option<&KubeObject>) -> Result<ApplicationSource, Status> {
    let object =
        object.ok_or_else(|| Status::invalid_argument("application_source is required"))?;
    serde_json::from_str(&object.json).map_err(|e| {
        Status::invalid_argument(format!("application_source is not a valid source: {e}"))
    })
}

fn source_type_pb(source_type: &str) -> pb::SourceType {
    match source_type {
        "Directory" => pb::SourceType::Directory,
        "Kustomize" => pb::SourceType::Kustomize,
        "Helm" => pb::SourceType::Helm,
        _ => pb::SourceType::Unspecified,
    }
}

fn source_type_of(source_type: SourceType) -> pb::SourceType {
    source_type_pb(source_type.as_str())
}

/// Git failures as gRPC statuses. Messages come from `capstan-git`, which names the
/// repository without credentials.
pub fn git_status(e: GitError) -> Status {
    let message = e.to_string();
    match e {
        GitError::AuthenticationFailed { .. }
        | GitError::AuthenticationRequired { .. }
        | GitError::CredentialsMismatch { .. }
        | GitError::HostKeyRejected { .. } => Status::unauthenticated(message),
        GitError::RevisionNotFound { .. } => Status::not_found(message),
        GitError::AmbiguousRevision { .. }
        | GitError::InvalidSha { .. }
        | GitError::InvalidUrl { .. }
        | GitError::InvalidPattern { .. } => Status::invalid_argument(message),
        GitError::SymlinkEscape { .. }
        | GitError::UnsafePath { .. }
        | GitError::CheckoutTooLarge { .. } => Status::failed_precondition(message),
        GitError::Timeout { .. } => Status::deadline_exceeded(message),
        GitError::Network { .. } => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

/// Rendering failures as gRPC statuses: the repository's content is at fault
/// (`FAILED_PRECONDITION`, with the file and line) unless the failure is the server's own.
pub fn render_status(e: RenderError) -> Status {
    let message = e.to_string();
    match e {
        RenderError::ToolTimeout { .. } => Status::deadline_exceeded(message),
        RenderError::LimitExceeded { .. } => Status::resource_exhausted(message),
        e if e.is_user_error() => Status::failed_precondition(message),
        _ => Status::internal(message),
    }
}

#[tonic::async_trait]
impl RepoServerService for RepoService {
    #[tracing::instrument(skip_all, fields(app = %request.get_ref().app_name, revision = %request.get_ref().revision))]
    async fn generate_manifest(
        &self,
        request: Request<pb::ManifestRequest>,
    ) -> Result<Response<pb::ManifestResponse>, Status> {
        let req = request.into_inner();
        let repo_label = req
            .repo
            .as_ref()
            .map(|r| capstan_git::strip_credentials(&r.url))
            .unwrap_or_default();
        let _pending = self.inner.metrics.pending(&repo_label);
        let namespace = req.namespace.clone();
        let result = self.generate(req).await;
        if let Err(status) = &result {
            tracing::info!(code = ?status.code(), "manifest generation failed: {}", status.message());
        }
        let m = result?;
        Ok(Response::new(pb::ManifestResponse {
            manifests: m.manifests,
            namespace,
            server: String::new(),
            revision: m.revision,
            source_type: source_type_pb(&m.source_type) as i32,
            verify_result: String::new(),
            commit_message: m.commit_message,
            commit_author: m.commit_author,
            commit_date: Some(prost_types::Timestamp {
                seconds: m.commit_date,
                nanos: 0,
            }),
        }))
    }

    async fn resolve_revision(
        &self,
        request: Request<pb::ResolveRevisionRequest>,
    ) -> Result<Response<pb::ResolveRevisionResponse>, Status> {
        let req = request.into_inner();
        let repo = required_repo(req.repo.as_ref())?;
        if !req.chart.is_empty() {
            return Err(Status::unimplemented(
                "Helm repository charts are not supported yet; use a chart in a Git repository",
            ));
        }
        let auth = self.auth(&repo.url, &repo.project);
        let sha = self
            .resolve(
                &repo.url,
                &auth,
                &req.ambiguous_revision,
                req.no_revision_cache,
            )
            .await?;
        Ok(Response::new(pb::ResolveRevisionResponse {
            revision: sha,
            ambiguous_revision: req.ambiguous_revision,
        }))
    }

    async fn list_refs(
        &self,
        request: Request<pb::ListRefsRequest>,
    ) -> Result<Response<pb::Refs>, Status> {
        let repo = required_repo(request.get_ref().repo.as_ref())?;
        let auth = self.auth(&repo.url, &repo.project);
        let refs = self
            .inner
            .git
            .list_refs(&repo.url, &auth)
            .await
            .map_err(git_status)?;
        Ok(Response::new(pb::Refs {
            branches: refs.branches,
            tags: refs.tags,
        }))
    }

    async fn get_app_details(
        &self,
        request: Request<pb::RepoServerAppDetailsQuery>,
    ) -> Result<Response<pb::RepoAppDetailsResponse>, Status> {
        let req = request.into_inner();
        let source = decode_source(req.source.as_ref())?;
        let revision = source.target_revision.clone();
        let checkout = self
            .checkout_of(req.repo.as_ref(), &revision, req.no_revision_cache)
            .await?;
        let app_dir = capstan_render::resolve_in_repo(
            checkout.path(),
            if source.path.is_empty() {
                "."
            } else {
                &source.path
            },
        )
        .map_err(render_status)?;
        let source_type =
            capstan_render::detect_source_type(checkout.path(), &source).map_err(render_status)?;
        let mut response = pb::RepoAppDetailsResponse {
            r#type: source_type_of(source_type) as i32,
            ..Default::default()
        };
        match source_type {
            SourceType::Helm => response.helm = Some(crate::details::helm(&app_dir, &source)?),
            SourceType::Kustomize => {
                response.kustomize = Some(crate::details::kustomize(&app_dir)?)
            }
            SourceType::Directory => response.directory = Some(pb::DirectoryAppSpec {}),
        }
        Ok(Response::new(response))
    }

    async fn list_apps(
        &self,
        request: Request<pb::ListAppsRequest>,
    ) -> Result<Response<pb::AppList>, Status> {
        let req = request.into_inner();
        let checkout = self
            .checkout_of(req.repo.as_ref(), &req.revision, false)
            .await?;
        let apps = capstan_render::discover_apps(checkout.path()).map_err(render_status)?;
        Ok(Response::new(pb::AppList {
            apps: apps
                .into_iter()
                .map(|(path, t)| (path, source_type_of(t) as i32))
                .collect(),
        }))
    }

    async fn get_git_files(
        &self,
        request: Request<pb::GitFilesRequest>,
    ) -> Result<Response<pb::GitFilesResponse>, Status> {
        let req = request.into_inner();
        let checkout = self
            .checkout_of(req.repo.as_ref(), &req.revision, req.no_revision_cache)
            .await?;
        let files = capstan_git::files_matching(checkout.path(), &req.path).map_err(git_status)?;
        Ok(Response::new(pb::GitFilesResponse {
            map: files.into_iter().collect(),
        }))
    }

    async fn get_git_directories(
        &self,
        request: Request<pb::GitDirectoriesRequest>,
    ) -> Result<Response<pb::GitDirectoriesResponse>, Status> {
        let req = request.into_inner();
        let checkout = self
            .checkout_of(req.repo.as_ref(), &req.revision, req.no_revision_cache)
            .await?;
        let paths = capstan_git::directories(checkout.path()).map_err(git_status)?;
        Ok(Response::new(pb::GitDirectoriesResponse { paths }))
    }

    async fn test_repository(
        &self,
        request: Request<pb::TestRepositoryRequest>,
    ) -> Result<Response<pb::TestRepositoryResponse>, Status> {
        let req = request.into_inner();
        let repo = required_repo(req.repo.as_ref())?;
        let auth = match req.credentials {
            Some(c) if !c.ssh_private_key.is_empty() => RepoAuth {
                kind: capstan_git::AuthKind::SshKey {
                    private_key: c.ssh_private_key,
                    known_hosts: None,
                },
                insecure: c.insecure,
            },
            Some(c) if !c.password.is_empty() || !c.username.is_empty() => RepoAuth {
                insecure: c.insecure,
                ..RepoAuth::user_pass(c.username, c.password)
            },
            _ => self.auth(&repo.url, &repo.project),
        };
        self.inner
            .git
            .test_access(&repo.url, &auth)
            .await
            .map_err(git_status)?;
        Ok(Response::new(pb::TestRepositoryResponse {
            verified_repository: true,
        }))
    }

    async fn get_revision_metadata(
        &self,
        request: Request<pb::RepoServerRevisionMetadataRequest>,
    ) -> Result<Response<pb::RevisionMetadata>, Status> {
        let req = request.into_inner();
        let repo = required_repo(req.repo.as_ref())?;
        let auth = self.auth(&repo.url, &repo.project);
        let sha = self.resolve(&repo.url, &auth, &req.revision, false).await?;
        let commit = self
            .inner
            .git
            .commit_metadata(&repo.url, &auth, &sha)
            .await
            .map_err(git_status)?;
        Ok(Response::new(pb::RevisionMetadata {
            author: commit.author,
            date: Some(prost_types::Timestamp {
                seconds: commit.date,
                nanos: 0,
            }),
            tags: commit.tags,
            message: commit.message,
            signature_info: String::new(),
        }))
    }
}
