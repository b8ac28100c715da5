//! The server's shared state and the two checks every call makes: who is calling
//! ([`ApiState::authenticate`]) and may they ([`ApiState::authorize`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use capstan_authz::{ProjectPolicy, Request};
use capstan_cache::Cache;
use capstan_proto::repo::v1::repo_server_service_client::RepoServerServiceClient;
use capstan_types::{AppProject, Application, ApplicationSet};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::auth::{self, Principal};
use crate::error::{ApiError, ApiResult};
use crate::settings::Settings;
use crate::store::Store;

/// Everything a request handler needs.
pub struct ApiState {
    /// Kubernetes client (the API server's own service account).
    pub client: Client,
    /// The control-plane namespace (Applications, AppProjects, settings, Secrets).
    pub namespace: String,
    /// Applications of the control-plane namespace.
    pub apps: Store<Application>,
    /// AppProjects.
    pub projects: Store<AppProject>,
    /// ApplicationSets.
    pub appsets: Store<ApplicationSet>,
    /// Settings in force.
    pub settings: watch::Receiver<Arc<Settings>>,
    /// The shared Redis cache (resource trees, managed resources, revoked tokens).
    pub cache: Cache,
    /// The repo-server (manifests, refs, revision metadata).
    pub repo_server: RepoServerServiceClient<capstan_proto::endpoints::Balanced>,
    /// The auth-gateway's internal AuthService (password login, account tokens); `None` when
    /// not configured.
    pub auth_gateway:
        Option<capstan_proto::auth::v1::auth_service_client::AuthServiceClient<Channel>>,
    /// `<namespace>/<name>` of each app whose resource tree changed (from Redis pub/sub).
    pub tree_updates: tokio::sync::broadcast::Sender<String>,
    /// Compiled project policies by project name, with the resourceVersion they were built from.
    project_policies: Mutex<HashMap<String, CachedPolicy>>,
}

/// A compiled project policy with the project resourceVersion and settings generation it was
/// built from.
type CachedPolicy = (Option<String>, usize, Arc<ProjectPolicy>);

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("namespace", &self.namespace)
            .field("apps", &self.apps)
            .field("projects", &self.projects)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// Assembles the state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        namespace: String,
        apps: Store<Application>,
        projects: Store<AppProject>,
        appsets: Store<ApplicationSet>,
        settings: watch::Receiver<Arc<Settings>>,
        cache: Cache,
        repo_server: RepoServerServiceClient<capstan_proto::endpoints::Balanced>,
    ) -> Self {
        Self {
            client,
            namespace,
            apps,
            projects,
            appsets,
            settings,
            cache,
            repo_server,
            auth_gateway: None,
            tree_updates: tokio::sync::broadcast::channel(1024).0,
            project_policies: Mutex::new(HashMap::new()),
        }
    }

    /// For tests and tools: a state whose Kubernetes API and repo-server are unreachable
    /// addresses. Lists are served from the (empty) in-memory stores alone, and the settings are
    /// the defaults (`admin` is `role:admin`), since their watch never reaches the cluster.
    /// Needs a Tokio runtime (the settings watch is spawned on it).
    #[doc(hidden)]
    pub fn offline(namespace: &str) -> Self {
        const UNREACHABLE: &str = "http://127.0.0.1:1";
        let client = Client::try_from(kube::Config::new(UNREACHABLE.parse().expect("a valid URL")))
            .expect("a client for a plain HTTP URL");
        let settings = crate::settings::watch_settings(&client, namespace);
        let repo_server = RepoServerServiceClient::new(
            capstan_proto::endpoints::Balanced::new(UNREACHABLE, |e| e).expect("a valid URL"),
        );
        Self::new(
            client,
            namespace.to_owned(),
            Store::new(),
            Store::new(),
            Store::new(),
            settings,
            Cache::disabled(),
            repo_server,
        )
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.borrow().clone()
    }

    /// The auth-gateway client, or a clear error when none is configured.
    pub fn gateway(
        &self,
    ) -> ApiResult<capstan_proto::auth::v1::auth_service_client::AuthServiceClient<Channel>> {
        self.auth_gateway.clone().ok_or_else(|| {
            ApiError::Unavailable(
                "local accounts are served by capstan-auth-gateway, and this api-server has \
                 none configured (--auth-gateway)"
                    .to_owned(),
            )
        })
    }

    /// Authenticates a request (see [`auth::authenticate`]).
    pub async fn authenticate(&self, headers: &HeaderMap) -> ApiResult<Principal> {
        auth::authenticate(headers, &self.settings(), &self.cache, &self.projects).await
    }

    fn project_policy(&self, project: &str) -> Option<Arc<ProjectPolicy>> {
        let proj = self.projects.get(project)?;
        let rv = proj.resource_version();
        let settings = self.settings();
        // The compiled policy depends on the match mode too: key by the settings generation.
        let generation = Arc::as_ptr(&settings) as usize;
        let mut cache = self
            .project_policies
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((cached_rv, cached_generation, policy)) = cache.get(project)
            && *cached_rv == rv
            && *cached_generation == generation
        {
            return Some(policy.clone());
        }
        let (policy, errors) = settings.enforcer.project_policy(project, &proj.spec.roles);
        for error in errors {
            tracing::warn!("project {project}: {error}");
        }
        let policy = Arc::new(policy);
        cache.insert(project.to_owned(), (rv, generation, policy.clone()));
        Some(policy)
    }

    /// Whether `principal` may do `action` on `resource` `object`.
    pub fn can(&self, principal: &Principal, resource: &str, action: &str, object: &str) -> bool {
        let settings = self.settings();
        let project = capstan_authz::project_of_request(resource, object);
        let policy = project.and_then(|p| self.project_policy(p));
        settings.enforcer.enforce(
            &Request {
                subject: &principal.subject,
                groups: &principal.groups,
                resource,
                action,
                object,
            },
            policy.as_deref(),
        )
    }

    /// Fails with `PermissionDenied` unless [`can`](Self::can).
    pub fn authorize(
        &self,
        principal: &Principal,
        resource: &str,
        action: &str,
        object: &str,
    ) -> ApiResult<()> {
        if self.can(principal, resource, action, object) {
            Ok(())
        } else {
            Err(ApiError::denied(resource, action, object))
        }
    }
}
