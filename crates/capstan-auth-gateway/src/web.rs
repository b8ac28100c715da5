//! The public HTTP surface: `/auth/login`, `/auth/callback`, `/auth/logout`, Argo CD's
//! `POST`/`DELETE /api/v1/session`, the JWKS, and everything else proxied to the api-server —
//! with CSRF checks on cookie-authenticated changes and security headers on every response.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::local::{self, LoginFailure};
use crate::oidc::{self, LoginError, PendingLogin};
use crate::proxy::{self, Upstream};
use crate::security::{self, STATE_COOKIE};
use crate::state::{Gateway, LOGIN_TIMEOUT};

/// State of the HTTP handlers.
#[derive(Debug, Clone)]
pub struct Web {
    /// The gateway.
    pub gw: Arc<Gateway>,
    /// The api-server.
    pub upstream: Upstream,
}

/// The public router.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", get(logout).post(logout))
        .route(
            "/api/v1/session",
            post(create_session).delete(delete_session),
        )
        .route("/auth/jwks.json", get(jwks))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(forward)
        .layer(axum::middleware::from_fn_with_state(web.clone(), guard))
        .with_state(web)
}

/// CSRF check before anything runs, security headers after.
async fn guard(State(web): State<Web>, request: Request, next: Next) -> Response {
    let secure = web.gw.config.secure_cookies;
    let origins = allowed_origins(&web.gw, request.headers());
    if let Err(message) = security::csrf_check(request.method(), request.headers(), &origins) {
        tracing::warn!(path = request.uri().path(), "{message}");
        let mut response = proxy::error(StatusCode::FORBIDDEN, &message);
        security::add_security_headers(response.headers_mut(), secure);
        return response;
    }
    let mut response = next.run(request).await;
    security::add_security_headers(response.headers_mut(), secure);
    response
}

fn allowed_origins(gw: &Gateway, headers: &HeaderMap) -> Vec<String> {
    let settings = gw.settings();
    let configured = settings
        .cm
        .url
        .clone()
        .or_else(|| gw.config.public_url.clone());
    security::request_origins(headers, configured.as_deref(), gw.config.secure_cookies)
}

/// The external base URL: argocd-cm `url`, else the gateway's flag, else what the request
/// names.
fn public_base(gw: &Gateway, headers: &HeaderMap) -> String {
    let settings = gw.settings();
    if let Some(url) = settings
        .cm
        .url
        .clone()
        .or_else(|| gw.config.public_url.clone())
    {
        return url.trim_end_matches('/').to_owned();
    }
    security::request_origins(headers, None, gw.config.secure_cookies)
        .pop()
        .unwrap_or_else(|| "http://localhost".to_owned())
}

/// The client's address for rate limiting.
fn client_address(gw: &Gateway, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    if gw.config.trust_forwarded_for
        && let Some(last) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
    {
        return last.trim().to_owned();
    }
    peer.map(|p| p.ip().to_string()).unwrap_or_default()
}

async fn forward(State(web): State<Web>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    web.upstream
        .forward(request, peer, web.gw.config.secure_cookies)
        .await
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>{t}</title><h1>{t}</h1><p id=error>{m}</p>\
         <p><a href=\"/auth/login\">Log in again</a></p>",
        t = esc(title),
        m = esc(message)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn append_cookies(response: &mut Response, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store");
    for c in cookies {
        response = response.header(header::SET_COOKIE, c);
    }
    response.body(Body::empty()).expect("a valid response")
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    return_url: Option<String>,
}

/// Starts an SSO login: remembers nonce and PKCE verifier under a fresh `state`, binds the
/// state to this browser with a cookie, and sends the browser to the provider.
async fn login(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let gw = &web.gw;
    let settings = gw.settings();
    let Some(oidc_settings) = settings.oidc.clone() else {
        return page(
            StatusCode::NOT_FOUND,
            "Login failed",
            &LoginError::NotConfigured.to_string(),
        );
    };
    let base = public_base(gw, &headers);
    let return_path = match security::safe_return_path(q.return_url.as_deref(), Some(&base)) {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_REQUEST, "Login refused", &e),
    };
    let provider = match gw.oidc.provider(&oidc_settings, false).await {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_GATEWAY, "Login failed", &e.to_string()),
    };
    let state = oidc::random_token();
    let nonce = oidc::random_token();
    let (challenge, verifier) = oidc::new_pkce();
    let redirect_uri = format!("{base}/auth/callback");
    let url = match oidc::authorize_url(
        &provider,
        &oidc_settings,
        &redirect_uri,
        &state,
        &nonce,
        &challenge,
    ) {
        Ok(u) => u,
        Err(e) => return page(StatusCode::BAD_GATEWAY, "Login failed", &e.to_string()),
    };
    gw.put_pending(
        &state,
        PendingLogin {
            nonce,
            pkce_verifier: verifier,
            redirect_uri,
            return_path,
        },
    )
    .await;
    let cookie = security::set_cookie(
        STATE_COOKIE,
        &state,
        "/auth/callback",
        LOGIN_TIMEOUT.as_secs(),
        gw.config.secure_cookies,
    );
    redirect(&url, &[cookie])
}

/// Finishes an SSO login.
async fn callback(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let gw = &web.gw;
    let clear_state =
        security::clear_cookie(STATE_COOKIE, "/auth/callback", gw.config.secure_cookies);
    match finish_login(gw, &headers, &q).await {
        Ok((token, ttl, return_path, who)) => {
            gw.metrics.login(true);
            tracing::info!(user = who, "SSO login");
            match security::session_cookies(&headers, &token, ttl, gw.config.secure_cookies) {
                Ok(mut cookies) => {
                    cookies.push(clear_state);
                    redirect(&return_path, &cookies)
                }
                Err(e) => page(StatusCode::INTERNAL_SERVER_ERROR, "Login failed", &e),
            }
        }
        Err((status, e)) => {
            gw.metrics.login(false);
            tracing::warn!("SSO login failed: {e}");
            let mut response = page(status, "Login failed", &e.to_string());
            if let Ok(v) = HeaderValue::from_str(&clear_state) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
    }
}

type Finished = (String, u64, String, String);

async fn finish_login(
    gw: &Gateway,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<Finished, (StatusCode, LoginError)> {
    let bad = |e| (StatusCode::BAD_REQUEST, e);
    let unauthorized = |e| (StatusCode::UNAUTHORIZED, e);
    if let Some(error) = q.get("error") {
        return Err(unauthorized(LoginError::Refused(oidc::describe_error(
            error,
            q.get("error_description").map(String::as_str),
        ))));
    }
    let (Some(code), Some(state)) = (q.get("code"), q.get("state")) else {
        return Err(bad(LoginError::State(
            "the callback has no code or state; start the login at /auth/login".to_owned(),
        )));
    };
    let cookie_state = security::cookie(headers, STATE_COOKIE);
    if cookie_state.as_deref() != Some(state.as_str()) {
        return Err(bad(LoginError::State(
            "login state mismatch: this callback does not belong to a login started in this \
             browser (possible cross-site request forgery); start the login again"
                .to_owned(),
        )));
    }
    let Some(pending) = gw.take_pending(state).await else {
        return Err(bad(LoginError::State(
            "unknown or already used login state: each login can be completed once, within \
             5 minutes; start the login again"
                .to_owned(),
        )));
    };
    let settings = gw.settings();
    let oidc_settings = settings
        .oidc
        .clone()
        .ok_or((StatusCode::NOT_FOUND, LoginError::NotConfigured))?;
    let provider = gw
        .oidc
        .provider(&oidc_settings, false)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e))?;
    let tokens = gw
        .oidc
        .exchange_code(&oidc_settings, &provider, code, &pending)
        .await
        .map_err(|e| match e {
            LoginError::Provider(_) => (StatusCode::BAD_GATEWAY, e),
            other => unauthorized(other),
        })?;
    let id_token = tokens.id_token.ok_or_else(|| {
        unauthorized(LoginError::Refused(
            "the token endpoint returned no id_token (is the `openid` scope requested?)".to_owned(),
        ))
    })?;
    let audiences = audiences(&oidc_settings.config);
    let claims = gw
        .oidc
        .verify(
            &oidc_settings,
            &id_token,
            &audiences[..1],
            Some(&pending.nonce),
        )
        .await
        .map_err(unauthorized)?;
    let (token, session) =
        session_from_claims(gw, &oidc_settings, &claims, tokens.access_token.as_deref())
            .await
            .map_err(unauthorized)?;
    Ok((
        token,
        settings.session_duration.as_secs(),
        pending.return_path,
        who(&session).to_owned(),
    ))
}

/// The audiences an ID token may carry: the web client first, then the CLI's and any
/// `allowedAudiences`.
pub fn audiences(config: &capstan_types::settings::OidcConfig) -> Vec<String> {
    let mut out = vec![config.client_id.clone()];
    for a in std::iter::once(&config.cli_client_id).chain(&config.allowed_audiences) {
        if !a.is_empty() && !out.contains(a) {
            out.push(a.clone());
        }
    }
    out
}

/// Signs a Capstan session for verified ID-token claims: subject `sub`, groups from the
/// claims `scopes` names (Azure: group object IDs), email for display and RBAC.
pub async fn session_from_claims(
    gw: &Gateway,
    oidc_settings: &crate::settings::OidcSettings,
    claims: &Map<String, Value>,
    access_token: Option<&str>,
) -> Result<(String, capstan_tokens::Claims), LoginError> {
    let settings = gw.settings();
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| LoginError::IdToken("the ID token has no subject".to_owned()))?;
    let mut groups =
        capstan_authz::groups_from_claims(&Value::Object(claims.clone()), &settings.rbac.scopes);
    for g in gw.oidc.groups(oidc_settings, claims, access_token).await? {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let email = oidc::display_email(claims);
    let mut extra = Map::new();
    if let Some(name) = claims.get("name").filter(|v| v.is_string()) {
        extra.insert("name".to_owned(), name.clone());
    }
    extra.insert(
        "federated_iss".to_owned(),
        Value::String(oidc_settings.config.issuer.clone()),
    );
    gw.issue_session(sub, groups, email, extra)
        .map_err(|e| LoginError::Provider(e.to_string()))
}

/// Who a session is for, in logs: the e-mail address, else the subject.
fn who(claims: &capstan_tokens::Claims) -> &str {
    claims.email.as_deref().unwrap_or(&claims.sub)
}

/// Logs out: revokes the session for every component, clears the cookie, and sends the
/// browser to the provider's logout when there is one.
async fn logout(State(web): State<Web>, headers: HeaderMap) -> Response {
    let gw = &web.gw;
    let token = bearer(&headers).or_else(|| security::session_token(&headers));
    if let Some(token) = token
        && let Ok(claims) = gw.verify(&token).await
    {
        gw.revoke(&claims.jti, claims.exp).await;
        tracing::info!(user = claims.sub, "logout");
    }
    let clear = security::clear_session_cookies(&headers, gw.config.secure_cookies);
    let base = public_base(gw, &headers);
    let settings = gw.settings();
    let mut target = format!("{base}/login");
    if let Some(o) = &settings.oidc {
        if !o.config.logout_url.is_empty() {
            target = o
                .config
                .logout_url
                .replace(
                    "{{logoutRedirectURL}}",
                    &url_encode(&format!("{base}/login")),
                )
                .replace("{{token}}", "");
        } else if let Ok(provider) = gw.oidc.provider(o, false).await
            && let Some(end) = &provider.end_session_endpoint
            && let Ok(mut url) = url::Url::parse(end)
        {
            url.query_pairs_mut()
                .append_pair("client_id", &o.config.client_id)
                .append_pair("post_logout_redirect_uri", &format!("{base}/"));
            target = url.into();
        }
    }
    redirect(&target, &clear)
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

#[derive(Debug, Deserialize)]
struct SessionRequest {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

/// Argo CD's `POST /api/v1/session`: `{username, password}` (or `{token}`: an ID token of the
/// OIDC provider) → `{token}` and the session cookie.
async fn create_session(
    State(web): State<Web>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let gw = &web.gw;
    // JSON whatever the content type says, as grpc-gateway reads it (`curl -d` sends a form
    // content type).
    let body: SessionRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return proxy::error(
                StatusCode::BAD_REQUEST,
                &format!("invalid request body: expected JSON {{\"username\", \"password\"}}: {e}"),
            );
        }
    };
    let address = client_address(gw, &headers, connect.map(|c| (c.0).0));
    let result = if !body.token.is_empty() {
        id_token_login(gw, &body.token, &address).await
    } else {
        local::password_login(gw, &body.username, &body.password, &address).await
    }
    .map(|(token, _)| token);
    match result {
        Ok(token) => {
            let ttl = gw.settings().session_duration.as_secs();
            let mut response = Json(serde_json::json!({ "token": token })).into_response();
            // A token too big for cookies still works as a bearer token.
            let cookies =
                security::session_cookies(&headers, &token, ttl, gw.config.secure_cookies)
                    .unwrap_or_default();
            append_cookies(&mut response, &cookies);
            response
        }
        Err(LoginFailure::Invalid) => {
            proxy::error(StatusCode::UNAUTHORIZED, &LoginFailure::Invalid.to_string())
        }
        Err(LoginFailure::RateLimited(m)) => proxy::error(StatusCode::TOO_MANY_REQUESTS, &m),
        Err(LoginFailure::Rejected(m)) => proxy::error(StatusCode::UNAUTHORIZED, &m),
        Err(LoginFailure::Unavailable(m)) => proxy::error(StatusCode::SERVICE_UNAVAILABLE, &m),
    }
}

/// Exchanges an ID token of the configured provider (the CLI's SSO login) for a session:
/// the session token and its claims.
pub async fn id_token_login(
    gw: &Gateway,
    id_token: &str,
    address: &str,
) -> Result<(String, capstan_tokens::Claims), LoginFailure> {
    // ID tokens name no user before they are verified: failures count against the address
    // (so a stream of forged tokens cannot lock everyone else out of SSO).
    let rate_key = format!("(id-token) {address}");
    let rate_key = rate_key.as_str();
    if let Err(e) = gw.check_rate(rate_key, address) {
        gw.metrics.login(false);
        return Err(LoginFailure::RateLimited(e));
    }
    let settings = gw.settings();
    let Some(oidc_settings) = settings.oidc.clone() else {
        gw.record_login(rate_key, address, false);
        return Err(LoginFailure::Unavailable(
            LoginError::NotConfigured.to_string(),
        ));
    };
    let audiences = audiences(&oidc_settings.config);
    let result = match gw
        .oidc
        .verify(&oidc_settings, id_token, &audiences, None)
        .await
    {
        Ok(claims) => session_from_claims(gw, &oidc_settings, &claims, None).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((token, claims)) => {
            gw.metrics.login(true);
            tracing::info!(user = who(&claims), "SSO login (ID token exchange)");
            Ok((token, claims))
        }
        Err(e) => {
            gw.record_login(rate_key, address, false);
            tracing::warn!("ID token exchange refused: {e}");
            Err(match e {
                LoginError::Provider(m) => LoginFailure::Unavailable(m),
                other => LoginFailure::Rejected(other.to_string()),
            })
        }
    }
}

/// Argo CD's `DELETE /api/v1/session`: logout without redirects.
async fn delete_session(State(web): State<Web>, headers: HeaderMap) -> Response {
    let gw = &web.gw;
    let token = bearer(&headers).or_else(|| security::session_token(&headers));
    if let Some(token) = token {
        match gw.verify(&token).await {
            Ok(claims) => gw.revoke(&claims.jti, claims.exp).await,
            Err(e) => return proxy::error(StatusCode::UNAUTHORIZED, &e.to_string()),
        }
    }
    let mut response = Json(serde_json::json!({})).into_response();
    append_cookies(
        &mut response,
        &security::clear_session_cookies(&headers, gw.config.secure_cookies),
    );
    response
}

async fn jwks(State(web): State<Web>) -> Response {
    match &web.gw.settings().keys {
        Some(keys) => Json(keys.jwks()).into_response(),
        None => proxy::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the signing keys are not loaded yet",
        ),
    }
}
