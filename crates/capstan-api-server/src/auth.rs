//! Who is calling: the bearer token (an `Authorization: Bearer` header, gRPC metadata of the
//! same name, or Argo CD's `argocd.token` cookie) verified against the signing keys, checked
//! against the revocation set in Redis and, for project-role tokens, against the project's
//! token list; or the anonymous user when `users.anonymous.enabled` is true.

use axum::http::HeaderMap;
use capstan_cache::Cache;
use capstan_tokens::Claims;
use capstan_types::AppProject;

use crate::error::{ApiError, ApiResult};
use crate::settings::Settings;
use crate::store::Store;

/// Argo CD's session cookie.
pub const TOKEN_COOKIE: &str = capstan_tokens::cookie::TOKEN_COOKIE;
/// Cache kind of revoked token ids (value: `true`, TTL: until the token would expire).
pub const REVOKED_TOKEN_KIND: &str = capstan_cache::kinds::REVOKED_TOKEN;

/// An authenticated (or anonymous) caller.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token's subject (`admin`, an OIDC subject, `proj:<project>:<role>`); empty when
    /// anonymous.
    pub subject: String,
    /// Group memberships, from the claims named by `scopes`.
    pub groups: Vec<String>,
    /// The verified claims; `None` when anonymous.
    pub claims: Option<Claims>,
}

impl Principal {
    /// Whether nobody logged in.
    pub fn is_anonymous(&self) -> bool {
        self.claims.is_none()
    }

    /// The name recorded in operations and audit events: the email when the token has one,
    /// else the subject (a local account's name, as Argo CD records `admin`, not the
    /// token's `admin:login`).
    pub fn username(&self) -> &str {
        match &self.claims {
            None => "anonymous",
            Some(c) => c.email.as_deref().unwrap_or(&self.subject),
        }
    }
}

/// The bearer token of a request, if any.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let mut parts = value.splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (parts.next(), parts.next())
            && scheme.eq_ignore_ascii_case("bearer")
            && !token.trim().is_empty()
        {
            return Some(token.trim().to_owned());
        }
    }
    // Argo CD's cookie, joined when a long token was split over `argocd.token-<n>`.
    let pairs = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='));
    capstan_tokens::cookie::join(TOKEN_COOKIE, pairs)
}

/// Revokes the caller's token (logout) until it would have expired: its id goes into the
/// revocation set every API server checks.
pub async fn revoke(cache: &Cache, principal: &Principal) {
    let Some(claims) = &principal.claims else {
        return;
    };
    if claims.jti.is_empty() {
        return;
    }
    let now = jiff::Timestamp::now().as_second();
    let ttl = claims
        .exp
        .map_or(24 * 3600, |exp| u64::try_from(exp - now).unwrap_or(0) + 60);
    let key = cache.key(REVOKED_TOKEN_KIND, &claims.jti);
    cache
        .set(&key, &true, std::time::Duration::from_secs(ttl))
        .await;
}

/// Authenticates a request from its headers.
pub async fn authenticate(
    headers: &HeaderMap,
    settings: &Settings,
    cache: &Cache,
    projects: &Store<AppProject>,
) -> ApiResult<Principal> {
    let Some(token) = token_from_headers(headers) else {
        if settings.cm.anonymous_enabled {
            return Ok(Principal {
                subject: String::new(),
                groups: Vec::new(),
                claims: None,
            });
        }
        return Err(ApiError::Unauthenticated(
            "no session: log in (capstan login) or send a bearer token".to_owned(),
        ));
    };
    let verifier = settings.verifier.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the token signing keys are not loaded yet".to_owned())
    })?;
    let now = jiff::Timestamp::now().as_second();
    let claims = verifier
        .verify(&token, now)
        .map_err(|e| ApiError::Unauthenticated(format!("invalid token: {e}")))?;
    if !claims.jti.is_empty() {
        let key = cache.key(REVOKED_TOKEN_KIND, &claims.jti);
        if cache.get::<bool>(&key).await == Some(true) {
            return Err(ApiError::Unauthenticated(
                "invalid token: the token has been revoked".to_owned(),
            ));
        }
    }
    let mut subject = claims.sub.clone();
    if let Some((project, role)) = claims.project_role() {
        check_project_token(projects, project, role, &claims)?;
    } else if let Some((name, _)) = capstan_tokens::accounts::split_account_subject(&claims.sub) {
        // A local account's session or API token: valid while the account allows it; the
        // RBAC subject is the account name (Argo CD's `admin`, not `admin:login`).
        let (account, secrets) = settings
            .local_account(name)
            .map_err(|e| ApiError::Unauthenticated(format!("invalid token: {e}")))?;
        capstan_tokens::accounts::check_account_token(&claims, account, &secrets)
            .map_err(|e| ApiError::Unauthenticated(format!("invalid token: {e}")))?;
        subject = name.to_owned();
    }
    Ok(Principal {
        subject,
        groups: capstan_authz::groups_from_claims(
            &serde_json::to_value(&claims).unwrap_or_default(),
            &settings.rbac.scopes,
        ),
        claims: Some(claims),
    })
}

/// A project-role token is only valid while its role lists it (Argo CD's revocation of project
/// tokens is deleting them from the role).
fn check_project_token(
    projects: &Store<AppProject>,
    project: &str,
    role: &str,
    claims: &Claims,
) -> ApiResult<()> {
    let listed = projects.get(project).is_some_and(|proj| {
        capstan_authz::project_token_listed(&proj, role, Some(claims.iat), &claims.jti)
    });
    if listed {
        Ok(())
    } else {
        Err(ApiError::Unauthenticated(format!(
            "invalid token: the token of role {role:?} in project {project:?} no longer exists"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::Principal;
    use capstan_tokens::Claims;

    #[test]
    fn operations_record_the_account_or_the_email_not_the_token_subject() {
        let principal = |sub: &str, subject: &str, email: Option<&str>| {
            let mut claims = Claims::new_session(
                sub,
                Vec::new(),
                1_700_000_000,
                std::time::Duration::from_secs(3600),
            );
            claims.email = email.map(str::to_owned);
            Principal {
                subject: subject.to_owned(),
                groups: Vec::new(),
                claims: Some(claims),
            }
        };
        let cases = [
            (principal("admin:login", "admin", None), "admin"),
            (principal("ci:apiKey", "ci", None), "ci"),
            (
                principal("00u-oid", "00u-oid", Some("alice@contoso.test")),
                "alice@contoso.test",
            ),
            (
                principal("proj:web:deployer", "proj:web:deployer", None),
                "proj:web:deployer",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(p.username(), want, "{p:?}");
        }
        let anonymous = Principal {
            subject: String::new(),
            groups: Vec::new(),
            claims: None,
        };
        assert_eq!(anonymous.username(), "anonymous");
    }
}
