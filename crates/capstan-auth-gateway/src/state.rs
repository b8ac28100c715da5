//! The gateway's shared state and the operations every entry point (browser routes, the REST
//! session API, the internal gRPC service) uses: issuing, verifying and revoking tokens.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capstan_cache::Cache;
use capstan_tokens::Claims;
use capstan_tokens::accounts::{self, AccountState};
use capstan_types::AppProject;
use kube::{Api, Client};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::limiter::{FailureLimiter, Limits};
use crate::metrics::Metrics;
use crate::oidc::{Oidc, PendingLogin};
use crate::settings::Settings;

/// How long a browser has to come back from the identity provider.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Logins in progress kept in memory at most (each is a few hundred bytes).
pub const MAX_PENDING_IN_MEMORY: usize = 10_000;
/// How long a revocation of a token without expiry is kept in Redis (its deletion from the
/// account or project is the durable record).
pub const NON_EXPIRING_REVOCATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What the gateway needs to start.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Control-plane namespace.
    pub namespace: String,
    /// The public listen address (browser, CLI, gRPC clients).
    pub listen_addr: SocketAddr,
    /// The internal gRPC address (`AuthService`, for the other components only).
    pub grpc_addr: SocketAddr,
    /// The api-server's address (`http://host:port`).
    pub api_server: String,
    /// The external URL when argocd-cm has no `url` (e.g. `https://cd.example.com`).
    pub public_url: Option<String>,
    /// Serve cookies with `Secure` and send HSTS (TLS terminates in front of the gateway).
    pub secure_cookies: bool,
    /// Take the client address for rate limiting from `X-Forwarded-For` (behind an ingress).
    pub trust_forwarded_for: bool,
    /// Failed-login limits.
    pub limits: Limits,
    /// Microsoft Graph's base URL.
    pub graph_url: String,
}

/// The shared state.
pub struct Gateway {
    /// Kubernetes client.
    pub client: Client,
    /// Configuration.
    pub config: GatewayConfig,
    /// Watched settings.
    pub settings: watch::Receiver<Arc<Settings>>,
    /// The shared cache (revocations, logins in progress).
    pub cache: Cache,
    /// The OIDC relying party.
    pub oidc: Oidc,
    /// Metric handles.
    pub metrics: Metrics,
    limiter: Mutex<FailureLimiter>,
    pending: Mutex<HashMap<String, (PendingLogin, Instant)>>,
    epoch: Instant,
}

/// Why a token is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenProblem {
    /// Keys not loaded yet.
    #[error("the token signing keys are not loaded yet")]
    NotReady,
    /// Invalid, expired or revoked.
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// New state.
    pub fn new(
        client: Client,
        config: GatewayConfig,
        settings: watch::Receiver<Arc<Settings>>,
        cache: Cache,
        metrics: Metrics,
    ) -> Self {
        Self {
            oidc: Oidc::new(config.graph_url.clone()),
            limiter: Mutex::new(FailureLimiter::new(config.limits)),
            client,
            config,
            settings,
            cache,
            metrics,
            pending: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.borrow().clone()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a login attempt may proceed.
    pub fn check_rate(&self, user: &str, address: &str) -> Result<(), String> {
        let now = self.now_ms();
        self.limiter
            .lock()
            .expect("not poisoned")
            .check(user, address, now)
            .map_err(|l| {
                format!(
                    "too many failed login attempts{}; try again in {} s",
                    if l.by_address {
                        " from this address"
                    } else {
                        ""
                    },
                    l.retry_after.as_secs().max(1)
                )
            })
    }

    /// Records a login outcome for rate limiting and metrics.
    pub fn record_login(&self, user: &str, address: &str, success: bool) {
        self.metrics.login(success);
        let now = self.now_ms();
        let mut limiter = self.limiter.lock().expect("not poisoned");
        if success {
            limiter.succeeded(user);
        } else {
            limiter.failed(user, address, now);
        }
    }

    /// Keeps a login in progress until its callback (in memory, and in Redis so another
    /// replica can finish it).
    pub async fn put_pending(&self, state: &str, login: PendingLogin) {
        {
            let mut pending = self.pending.lock().expect("not poisoned");
            pending.retain(|_, (_, at)| at.elapsed() < LOGIN_TIMEOUT);
            // Anyone can start logins: bound the memory they take. The oldest go first (Redis
            // keeps them for another replica — or this one — to finish).
            while pending.len() >= MAX_PENDING_IN_MEMORY {
                let Some(oldest) = pending
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                pending.remove(&oldest);
            }
            pending.insert(state.to_owned(), (login.clone(), Instant::now()));
        }
        let key = self.cache.key(capstan_cache::kinds::OIDC_LOGIN, &state);
        self.cache.set(&key, &login, LOGIN_TIMEOUT).await;
    }

    /// Takes a login in progress: each `state` is good for one callback.
    pub async fn take_pending(&self, state: &str) -> Option<PendingLogin> {
        let key = self.cache.key(capstan_cache::kinds::OIDC_LOGIN, &state);
        let from_redis = self.cache.take::<PendingLogin>(&key).await;
        let local = self.pending.lock().expect("not poisoned").remove(state);
        match (local, from_redis) {
            (Some((login, at)), _) if at.elapsed() < LOGIN_TIMEOUT => Some(login),
            (Some(_), _) => None,
            // Started on another replica: Redis is the only copy.
            (None, remote) => remote,
        }
    }

    /// Signs a session token for `sub`.
    pub fn issue_session(
        &self,
        sub: &str,
        groups: Vec<String>,
        email: Option<String>,
        extra: Map<String, Value>,
    ) -> Result<(String, Claims), TokenProblem> {
        let settings = self.settings();
        let keys = settings.keys.as_ref().ok_or(TokenProblem::NotReady)?;
        let now = jiff::Timestamp::now().as_second();
        let mut claims = Claims::new_session(sub, groups, now, settings.session_duration);
        claims.email = email;
        claims.extra = extra;
        let token = keys
            .sign(&claims)
            .map_err(|e| TokenProblem::Invalid(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies a Capstan token as the api-server does: signature, times, revocation, and
    /// that its local account or project role still allows it.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenProblem> {
        let settings = self.settings();
        let verifier = settings.verifier.as_ref().ok_or(TokenProblem::NotReady)?;
        let now = jiff::Timestamp::now().as_second();
        let claims = verifier
            .verify(token, now)
            .map_err(|e| TokenProblem::Invalid(e.to_string()))?;
        if self.is_revoked(&claims.jti).await {
            return Err(TokenProblem::Invalid(
                "the token has been revoked".to_owned(),
            ));
        }
        if let Some((name, _)) = accounts::split_account_subject(&claims.sub) {
            let account = settings.account(name).map_err(TokenProblem::Invalid)?;
            let state = account.as_ref().map(|a| AccountState {
                enabled: a.enabled,
                login: a.login,
                api_key: a.api_key,
            });
            let secrets = account.map(|a| a.secrets).unwrap_or_default();
            accounts::check_account_token(&claims, state, &secrets)
                .map_err(TokenProblem::Invalid)?;
        } else if let Some((project, role)) = claims.project_role() {
            let api: Api<AppProject> = Api::namespaced(self.client.clone(), &self.config.namespace);
            let listed = api
                .get_opt(project)
                .await
                .map_err(|e| TokenProblem::Invalid(format!("reading project {project:?}: {e}")))?
                .is_some_and(|p| {
                    capstan_authz::project_token_listed(&p, role, Some(claims.iat), &claims.jti)
                });
            if !listed {
                return Err(TokenProblem::Invalid(format!(
                    "the token of role {role:?} in project {project:?} no longer exists"
                )));
            }
        }
        Ok(claims)
    }

    /// Whether a token id is in the revocation set.
    pub async fn is_revoked(&self, jti: &str) -> bool {
        if jti.is_empty() {
            return false;
        }
        let key = self.cache.key(capstan_cache::kinds::REVOKED_TOKEN, &jti);
        self.cache.get::<bool>(&key).await == Some(true)
    }

    /// Adds a token id to the revocation set every component checks, until `exp`.
    pub async fn revoke(&self, jti: &str, exp: Option<i64>) {
        if jti.is_empty() {
            return;
        }
        let now = jiff::Timestamp::now().as_second();
        let ttl = exp.map_or(NON_EXPIRING_REVOCATION_TTL, |exp| {
            Duration::from_secs(u64::try_from(exp - now).unwrap_or(0) + 60)
        });
        let key = self.cache.key(capstan_cache::kinds::REVOKED_TOKEN, &jti);
        self.cache.set(&key, &true, ttl).await;
    }
}
