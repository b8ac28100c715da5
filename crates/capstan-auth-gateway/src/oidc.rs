//! The OpenID Connect relying party: provider discovery (cached, refreshed when the provider
//! rotates its keys), the authorization-code flow with PKCE, `state` and `nonce`, the code
//! exchange (client secret, or Azure Workload Identity's federated client assertion), ID-token
//! verification (signature against the provider's JWKS, issuer, audience, expiry, nonce) and
//! group extraction, including Azure AD's groups overage.
//!
//! The `openidconnect` crate does discovery and ID-token verification; the authorize URL and
//! the token request are built here, where every parameter and error message is in view.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, ClientId, IssuerUrl, JsonWebKeySet, Nonce, PkceCodeChallenge,
    ProviderMetadata,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::settings::OidcSettings;
#[cfg(test)]
use capstan_types::settings::OidcConfig;

/// How long discovery results are reused before they are fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);
/// The least time between two discoveries forced by an unknown signing key.
const FORCED_REFRESH_MIN: Duration = Duration::from_secs(30);
/// Scopes requested when `requestedScopes` is unset (Argo CD's default).
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email"];
/// The grant type of a federated client assertion (RFC 7523).
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Where Azure Workload Identity projects the federated token.
const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";

/// Provider metadata members beyond the core set.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RP-initiated logout endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Why a login failed. Messages are shown to the user: they say what went wrong and never
/// contain a token, code or secret.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// SSO is not configured.
    #[error("SSO is not configured (argocd-cm oidc.config)")]
    NotConfigured,
    /// The provider could not be reached or described itself wrongly.
    #[error("the identity provider is unavailable: {0}")]
    Provider(String),
    /// The callback did not match a login this gateway started.
    #[error("{0}")]
    State(String),
    /// The provider reported an error on the callback or the token endpoint.
    #[error("the identity provider refused the login: {0}")]
    Refused(String),
    /// The ID token failed verification.
    #[error("the ID token was rejected: {0}")]
    IdToken(String),
    /// Groups could not be determined.
    #[error("{0}")]
    Groups(String),
}

/// A discovered provider.
#[derive(Debug)]
pub struct Provider {
    /// The issuer, as configured.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// RP-initiated logout, when offered.
    pub end_session_endpoint: Option<String>,
    /// The provider's signing keys.
    pub jwks: JsonWebKeySet<CoreJsonWebKey>,
    fetched: Instant,
}

/// The material of a login in progress, kept until the callback.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLogin {
    /// The ID token's expected `nonce`.
    pub nonce: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// The redirect URI the code is bound to.
    pub redirect_uri: String,
    /// Where the browser goes after the login (a same-origin path).
    pub return_path: String,
}

/// The token endpoint's answer.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The ID token.
    #[serde(default)]
    pub id_token: Option<String>,
    /// The access token (used for Microsoft Graph on groups overage).
    #[serde(default)]
    pub access_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The relying party: HTTP clients and discovered providers.
#[derive(Debug, Default)]
pub struct Oidc {
    providers: Mutex<HashMap<(String, String), Arc<Provider>>>,
    clients: Mutex<HashMap<String, reqwest::Client>>,
    /// Microsoft Graph's base URL (`https://graph.microsoft.com`).
    pub graph_url: String,
}

impl Oidc {
    /// A relying party that asks Microsoft Graph at `graph_url` on groups overage.
    pub fn new(graph_url: impl Into<String>) -> Self {
        Self {
            graph_url: graph_url.into(),
            ..Self::default()
        }
    }

    /// The HTTP client for a provider: no redirects (a provider must not bounce our token
    /// requests elsewhere), its `rootCA` trusted when set.
    pub fn http(&self, settings: &OidcSettings) -> Result<reqwest::Client, LoginError> {
        let root_ca = &settings.config.root_ca;
        let mut clients = self.clients.lock().expect("not poisoned");
        if let Some(client) = clients.get(root_ca) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5));
        if !root_ca.is_empty() {
            let cert = reqwest::Certificate::from_pem(root_ca.as_bytes())
                .map_err(|e| LoginError::Provider(format!("oidc.config rootCA: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .map_err(|e| LoginError::Provider(e.to_string()))?;
        clients.insert(root_ca.clone(), client.clone());
        Ok(client)
    }

    /// The discovered provider, from the cache when fresh; `force` fetches again (an unknown
    /// signing key), at most every [`FORCED_REFRESH_MIN`].
    pub async fn provider(
        &self,
        settings: &OidcSettings,
        force: bool,
    ) -> Result<Arc<Provider>, LoginError> {
        let key = (
            settings.config.issuer.clone(),
            settings.config.root_ca.clone(),
        );
        if let Some(p) = self.providers.lock().expect("not poisoned").get(&key) {
            let age = p.fetched.elapsed();
            if age < DISCOVERY_TTL && (!force || age < FORCED_REFRESH_MIN) {
                return Ok(p.clone());
            }
        }
        let http = self.http(settings)?;
        let issuer = IssuerUrl::new(settings.config.issuer.clone()).map_err(|e| {
            LoginError::Provider(format!("issuer {:?}: {e}", settings.config.issuer))
        })?;
        let metadata = Metadata::discover_async(issuer, &http)
            .await
            .map_err(|e| LoginError::Provider(format!("discovery: {}", error_chain(&e))))?;
        let token_endpoint = metadata
            .token_endpoint()
            .ok_or_else(|| LoginError::Provider("discovery has no token_endpoint".to_owned()))?
            .to_string();
        let provider = Arc::new(Provider {
            issuer: settings.config.issuer.clone(),
            authorization_endpoint: metadata.authorization_endpoint().to_string(),
            token_endpoint,
            end_session_endpoint: metadata.additional_metadata().end_session_endpoint.clone(),
            jwks: metadata.jwks().clone(),
            fetched: Instant::now(),
        });
        self.providers
            .lock()
            .expect("not poisoned")
            .insert(key, provider.clone());
        Ok(provider)
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        settings: &OidcSettings,
        provider: &Provider,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<TokenResponse, LoginError> {
        let http = self.http(settings)?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", pending.redirect_uri.clone()),
            ("code_verifier", pending.pkce_verifier.clone()),
        ];
        let mut request = http.post(&provider.token_endpoint);
        match client_auth(settings)? {
            ClientAuth::Basic(secret) => {
                request = request.basic_auth(
                    form_encode(&settings.config.client_id),
                    Some(form_encode(&secret)),
                );
            }
            ClientAuth::Assertion(assertion) => {
                form.push(("client_id", settings.config.client_id.clone()));
                form.push(("client_assertion_type", JWT_BEARER_ASSERTION.to_owned()));
                form.push(("client_assertion", assertion));
            }
            ClientAuth::None => form.push(("client_id", settings.config.client_id.clone())),
        }
        let response =
            request.form(&form).send().await.map_err(|e| {
                LoginError::Provider(format!("token endpoint: {}", error_chain(&e)))
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| LoginError::Provider(format!("token endpoint: {e}")))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<TokenErrorResponse>(&body) {
                Ok(e) => {
                    LoginError::Refused(describe_error(&e.error, e.error_description.as_deref()))
                }
                Err(_) => LoginError::Provider(format!("token endpoint answered {status}")),
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| LoginError::Provider(format!("token endpoint: unreadable answer: {e}")))
    }

    /// Verifies an ID token against the provider's current keys, fetching them again once
    /// when the token names a key the cached set lacks (the provider rotated).
    pub async fn verify(
        &self,
        settings: &OidcSettings,
        raw: &str,
        audiences: &[String],
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, LoginError> {
        let provider = self.provider(settings, false).await?;
        let now = jiff::Timestamp::now().as_second();
        match verify_id_token(raw, &provider.issuer, &provider.jwks, audiences, nonce, now) {
            Err(LoginError::IdToken(msg))
                if msg.contains("no matching key") || msg.contains("No matching key") =>
            {
                let provider = self.provider(settings, true).await?;
                verify_id_token(raw, &provider.issuer, &provider.jwks, audiences, nonce, now)
            }
            other => other,
        }
    }

    /// The user's groups from verified ID-token claims, following Azure AD's groups overage
    /// to Microsoft Graph when configured.
    pub async fn groups(
        &self,
        settings: &OidcSettings,
        claims: &Map<String, Value>,
        access_token: Option<&str>,
    ) -> Result<Vec<String>, LoginError> {
        if !groups_overage(claims) {
            return Ok(Vec::new());
        }
        let graph = settings
            .config
            .azure
            .as_ref()
            .and_then(|a| a.fetch_groups_from_graph)
            .unwrap_or(false);
        if !graph {
            return Err(LoginError::Groups(OVERAGE_MESSAGE.to_owned()));
        }
        let Some(access_token) = access_token else {
            return Err(LoginError::Groups(
                "Azure AD sent a groups overage and no access token to read the groups from \
                 Microsoft Graph with"
                    .to_owned(),
            ));
        };
        let http = self.http(settings)?;
        let url = format!(
            "{}/v1.0/me/getMemberObjects",
            self.graph_url.trim_end_matches('/')
        );
        let response = http
            .post(url)
            .bearer_auth(access_token)
            .json(&serde_json::json!({"securityEnabledOnly": false}))
            .send()
            .await
            .map_err(|e| LoginError::Groups(format!("Microsoft Graph: {}", error_chain(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(LoginError::Groups(format!(
                "Microsoft Graph answered {status} to getMemberObjects; the app registration \
                 needs the GroupMember.Read.All permission"
            )));
        }
        #[derive(Deserialize)]
        struct MemberObjects {
            value: Vec<String>,
        }
        let objects: MemberObjects = response
            .json()
            .await
            .map_err(|e| LoginError::Groups(format!("Microsoft Graph: unreadable answer: {e}")))?;
        Ok(objects.value)
    }
}

/// What a groups overage without Graph configured tells the user.
pub const OVERAGE_MESSAGE: &str = "Azure AD left the groups out of the ID token because the \
     user is in more than 200 groups (groups overage), so Capstan cannot tell which RBAC \
     roles apply. Either limit the token to the groups assigned to the application \
     (groupMembershipClaims: ApplicationGroup) or set oidc.config azure.fetchGroupsFromGraph: \
     true and grant the app registration GroupMember.Read.All.";

/// How the gateway authenticates to the token endpoint.
#[derive(Debug, PartialEq, Eq)]
enum ClientAuth {
    Basic(String),
    Assertion(String),
    None,
}

fn client_auth(settings: &OidcSettings) -> Result<ClientAuth, LoginError> {
    let workload_identity = settings
        .config
        .azure
        .as_ref()
        .and_then(|a| a.use_workload_identity)
        .unwrap_or(false);
    if workload_identity {
        let path = std::env::var(AZURE_FEDERATED_TOKEN_FILE).map_err(|_| {
            LoginError::Provider(format!(
                "azure.useWorkloadIdentity is set but {AZURE_FEDERATED_TOKEN_FILE} is not: is \
                 the pod labelled azure.workload.identity/use=true and its ServiceAccount \
                 annotated with the client id?"
            ))
        })?;
        // Read on every exchange: the kubelet rotates the projected token.
        let token = std::fs::read_to_string(&path).map_err(|e| {
            LoginError::Provider(format!("reading the federated token {path}: {e}"))
        })?;
        return Ok(ClientAuth::Assertion(token.trim().to_owned()));
    }
    Ok(match &settings.client_secret {
        Some(secret) => ClientAuth::Basic(secret.clone()),
        None => ClientAuth::None,
    })
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before they go into Basic auth.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The OAuth error code with its description, bounded and on one line.
pub fn describe_error(error: &str, description: Option<&str>) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(300)
            .collect()
    };
    let hint = if error == "invalid_grant" {
        " (authorization codes are single-use and expire within minutes: start the login again)"
    } else {
        ""
    };
    match description {
        Some(d) if !d.is_empty() => format!("{}: {}{hint}", clean(error), clean(d)),
        _ => format!("{}{hint}", clean(error)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A fresh PKCE pair `(challenge, verifier)`, S256.
pub fn new_pkce() -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (challenge.as_str().to_owned(), verifier.secret().clone())
}

/// A fresh random value for `state` and `nonce` (128 bits, base64url).
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random number generator works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The authorization request URL.
pub fn authorize_url(
    provider: &Provider,
    settings: &OidcSettings,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    pkce_challenge: &str,
) -> Result<String, LoginError> {
    let mut url = url::Url::parse(&provider.authorization_endpoint)
        .map_err(|e| LoginError::Provider(format!("authorization_endpoint: {e}")))?;
    let config = &settings.config;
    let scopes = scopes(&config.requested_scopes);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", pkce_challenge)
            .append_pair("code_challenge_method", "S256");
        if !config.domain_hint.is_empty() {
            q.append_pair("domain_hint", &config.domain_hint);
        }
        if !config.requested_id_token_claims.is_empty() {
            let claims = serde_json::json!({ "id_token": config.requested_id_token_claims });
            q.append_pair("claims", &claims.to_string());
        }
    }
    Ok(url.into())
}

/// The scopes to request: as configured (with `openid` added when missing), else
/// [`DEFAULT_SCOPES`].
pub fn scopes(requested: &[String]) -> Vec<String> {
    if requested.is_empty() {
        return DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    }
    let mut out = requested.to_vec();
    if !out.iter().any(|s| s == "openid") {
        out.insert(0, "openid".to_owned());
    }
    out
}

/// Verifies an ID token: RS/ES/PS signature by a key of `jwks` (never `none` or HMAC),
/// issuer, one of `audiences` (the first is the client the token must have been issued to),
/// expiry and issue time with a minute of leeway, and the nonce when given. Returns every
/// claim of the payload.
pub fn verify_id_token(
    raw: &str,
    issuer: &str,
    jwks: &JsonWebKeySet<CoreJsonWebKey>,
    audiences: &[String],
    nonce: Option<&str>,
    now_unix: i64,
) -> Result<Map<String, Value>, LoginError> {
    let reject = |m: String| LoginError::IdToken(m);
    let token = CoreIdToken::from_str(raw)
        .map_err(|e| reject(format!("not a well-formed ID token: {e}")))?;
    // Named first, before any key lookup: a token from another tenant fails for that reason.
    let claimed = payload(raw)?;
    let claimed_iss = claimed.get("iss").and_then(Value::as_str).unwrap_or("");
    if claimed_iss != issuer {
        return Err(reject(format!(
            "issued by {:?}, not by the configured issuer {issuer:?}",
            claimed_iss.chars().take(200).collect::<String>()
        )));
    }
    let claimed_aud: Vec<&str> = match claimed.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !claimed_aud
        .iter()
        .any(|a| audiences.iter().any(|ours| ours == a))
    {
        return Err(reject(format!(
            "issued to audience {claimed_aud:?}, not to one of this server's clients {audiences:?}"
        )));
    }
    let issuer_url =
        IssuerUrl::new(issuer.to_owned()).map_err(|e| reject(format!("issuer: {e}")))?;
    let now = chrono_like(now_unix);
    let mut last = None;
    // The token must be for one of our clients (the web login's, the CLI's, or another
    // allowed audience); each is tried as "the" client so `azp` is checked against it.
    for audience in audiences {
        let others: Vec<String> = audiences.to_vec();
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(audience.clone()),
            issuer_url.clone(),
            jwks.clone(),
        )
        .set_time_fn(move || now)
        .set_other_audience_verifier_fn(move |aud| others.iter().any(|a| a == aud.as_str()));
        let result = match nonce {
            Some(expected) => token
                .claims(&verifier, &Nonce::new(expected.to_owned()))
                .map(|_| ()),
            None => token
                .claims(&verifier, |_: Option<&Nonce>| Ok::<(), String>(()))
                .map(|_| ()),
        };
        match result {
            Ok(()) => return Ok(claimed),
            Err(e) => {
                let message = error_chain(&e);
                let wrong_audience = message.contains("audience");
                last = Some(message);
                if !wrong_audience {
                    break;
                }
            }
        }
    }
    Err(reject(
        last.unwrap_or_else(|| "no audience is configured".to_owned()),
    ))
}

fn chrono_like(unix: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

/// The decoded payload of a (verified) JWT.
fn payload(raw: &str) -> Result<Map<String, Value>, LoginError> {
    use base64::Engine as _;
    let part = raw
        .split('.')
        .nth(1)
        .ok_or_else(|| LoginError::IdToken("not a well-formed ID token: no payload".to_owned()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| LoginError::IdToken(format!("not a well-formed ID token: payload: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| LoginError::IdToken(format!("not a well-formed ID token: payload: {e}")))
}

/// Whether Azure AD replaced the `groups` claim by a pointer (`_claim_names.groups`, or
/// `hasgroups` in the implicit flow) because the user is in too many groups.
pub fn groups_overage(claims: &Map<String, Value>) -> bool {
    if claims.contains_key("groups") {
        return false;
    }
    claims
        .get("_claim_names")
        .and_then(Value::as_object)
        .is_some_and(|names| names.contains_key("groups"))
        || claims.get("hasgroups").and_then(Value::as_bool) == Some(true)
}

/// The name shown for a user: `email`, else `preferred_username`, else `sub`.
pub fn display_email(claims: &Map<String, Value>) -> Option<String> {
    ["email", "preferred_username"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
