//! `capstan login SERVER --sso`: single sign-on through the server's OpenID Connect identity
//! provider, the way `argocd login --sso` does it (Argo CD's `cmd/argocd/commands/login.go`).
//!
//! 1. The server's public settings (`SettingsService.Get`, no token needed) give the provider:
//!    `oidc_config.issuer`, the CLI's client ID (`cli_client_id`, else `client_id`), the
//!    scopes, Azure AD's `domain_hint` and the requested ID-token claims.
//! 2. OIDC discovery: `GET {issuer}/.well-known/openid-configuration`, whose `issuer` must be
//!    the configured one.
//! 3. A PKCE S256 verifier and challenge, a `state` and a `nonce`, each 32 random bytes from
//!    the OS.
//! 4. A loopback HTTP listener on `127.0.0.1:--sso-port` (8085 by default, as argocd), bound
//!    before the authorize URL is shown; the redirect URI is
//!    `http://localhost:<port>/auth/callback`, as argocd's.
//! 5. The authorize URL is printed on stderr, on its own line starting with
//!    `Performing authorization_code flow login: `, and opened in the system's browser
//!    unless `--sso-launch-browser=false`.
//! 6. The provider redirects the browser to `/auth/callback?code=..&state=..` (or
//!    `?error=..&error_description=..`). A wrong `state` or an error fails the login; other
//!    paths answer 404 and the listener keeps waiting, for `--sso-timeout` at most.
//! 7. The code is exchanged at the token endpoint (public client: `client_id` and the PKCE
//!    `code_verifier`, no secret). The ID token's payload must carry our `nonce`; its
//!    signature is the server's to check.
//! 8. The ID token is exchanged for a Capstan session (`SessionService.Create{token}`), and
//!    `SessionService.GetUserInfo` with that session names the user. Only then does the
//!    browser page say "Authentication successful!" (or shows what failed).
//!
//! What decides (scopes, the authorize URL, the callback's parameters, the token response,
//! the ID token's nonce, the HTTP requests the listener answers) is pure functions, unit
//! tested; the loopback listener ([`callback`]) is tested over real sockets. The whole flow
//! runs against a real identity provider, auth-gateway and api-server in the e2e tests
//! (`e2e/tests/auth_gateway.rs`).
//!
//! **Invariant:** nothing secret is printed: the authorize URL holds only public values (the
//! PKCE challenge, not the verifier), and neither the code nor any token is ever logged.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use capstan_proto::session::v1::{GetUserInfoRequest, SessionCreateRequest};
use capstan_proto::settings::v1::{Claim, OidcConfig, SettingsQuery};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use self::callback::{CallbackServer, Page, Responder, bind_loopback, redirect_uri};
use crate::client::{Api, ConnectOptions, Target};
use crate::duration::format_duration;

mod callback;

/// argocd's default `--sso-port`.
pub(crate) const DEFAULT_PORT: u16 = 8085;

/// The line prefix the authorize URL is printed after (argocd's wording; scripts and the e2e
/// tests read the URL from it).
pub(crate) const URL_LINE_PREFIX: &str = "Performing authorization_code flow login: ";

/// Scopes requested when the server's `oidc.config` names none. argocd adds `groups` (a Dex
/// scope), which other providers may refuse as unknown.
const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// `--sso-*` flags.
#[derive(Clone, Debug)]
pub(crate) struct SsoOptions {
    /// Port of the loopback listener (`0`: any free port).
    pub port: u16,
    /// How long to wait for the browser to come back; `None` for ever.
    pub timeout: Option<Duration>,
    /// Open the authorize URL in the system's browser.
    pub launch_browser: bool,
}

/// The outcome of a successful SSO login.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SsoLogin {
    /// The Capstan session token to store in the context.
    pub token: String,
    /// The identity provider's refresh token, when it gave one (argocd's `refresh-token`).
    pub refresh_token: Option<String>,
    /// Who the server says the session belongs to.
    pub username: String,
}

impl std::fmt::Debug for SsoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens.
        f.debug_struct("SsoLogin")
            .field("token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("username", &self.username)
            .finish()
    }
}

/// Logs in to the server `api` is connected to (without a token) through its OIDC provider.
///
/// # Errors
///
/// No SSO configured on the server, an unreachable or misconfigured provider, a refused or
/// abandoned login (`--sso-timeout`), a wrong `state` or `nonce`, or a server that does not
/// accept the ID token; each message says which.
pub(crate) async fn login(
    api: &Api,
    target: &Target,
    connect: &ConnectOptions,
    options: &SsoOptions,
) -> anyhow::Result<SsoLogin> {
    login_with(api, target, connect, options, |url| {
        announce(url, options.launch_browser);
    })
    .await
}

/// [`login`], showing the authorize URL with `announce`.
async fn login_with(
    api: &Api,
    target: &Target,
    connect: &ConnectOptions,
    options: &SsoOptions,
    announce: impl FnOnce(&str),
) -> anyhow::Result<SsoLogin> {
    let settings = api
        .settings()
        .get(api.request(SettingsQuery {}))
        .await
        .map_err(|status| api.error(status))
        .with_context(|| format!("reading the SSO settings of {}", target.display))?
        .into_inner();
    let client = OidcClient::from_settings(settings.oidc_config.as_ref())?;
    let http = http_client(connect, &client.issuer)?;
    let provider = discover(&http, &client.issuer).await?;
    let (tokens, responder) = authenticate(&http, &client, &provider, options, announce).await?;
    let session = open_session(api, target, connect, &tokens.id_token).await;
    // The browser's page says how it ended only now, once the server has accepted the login.
    responder
        .respond(match &session {
            Ok(_) => Page::Success,
            Err(err) => Page::Failure(format!("{err:#}")),
        })
        .await;
    let (token, username) = session?;
    Ok(SsoLogin {
        token,
        refresh_token: tokens.refresh_token,
        username,
    })
}

/// Exchanges the ID token for a Capstan session (`SessionService.Create{token}`) and asks the
/// server whose it is (`SessionService.GetUserInfo`): the session token and the username.
async fn open_session(
    api: &Api,
    target: &Target,
    connect: &ConnectOptions,
    id_token: &str,
) -> anyhow::Result<(String, String)> {
    let token = api
        .sessions()
        .create(api.request(SessionCreateRequest {
            username: String::new(),
            password: String::new(),
            token: id_token.to_owned(),
        }))
        .await
        .map_err(|status| api.error(status))
        .with_context(|| {
            format!(
                "exchanging the ID token for a session with {}",
                target.display
            )
        })?
        .into_inner()
        .token;
    if token.is_empty() {
        bail!(
            "exchanging the ID token for a session with {}: the server returned no token",
            target.display
        );
    }
    let session = Api::connect(target, Some(&token), connect).await?;
    let info = session
        .sessions()
        .get_user_info(session.request(GetUserInfoRequest {}))
        .await
        .map_err(|status| session.error(status))
        .with_context(|| format!("checking the new session with {}", target.display))?
        .into_inner();
    if !info.logged_in {
        bail!(
            "checking the new session with {}: the server does not accept it (not logged in)",
            target.display
        );
    }
    Ok((token, info.username))
}

/// Prints the authorize URL on stderr (its own line, after [`URL_LINE_PREFIX`]) and opens it
/// in the system's browser when asked to.
fn announce(url: &str, launch_browser: bool) {
    let mut stderr = std::io::stderr().lock();
    // Nothing useful can be done when stderr is gone: the writes are best effort.
    let _ = writeln!(stderr, "{URL_LINE_PREFIX}{url}");
    if launch_browser {
        let _ = writeln!(stderr, "Opening browser for authentication");
        let _ = stderr.flush();
        if let Err(err) = open_browser(url) {
            let _ = writeln!(
                stderr,
                "Could not open a browser ({err}): open the URL above to log in"
            );
        }
    } else {
        let _ = writeln!(
            stderr,
            "To authenticate, open the URL above in your preferred browser"
        );
    }
    let _ = stderr.flush();
}

/// Starts the system's URL opener on `url`, without waiting for it.
fn open_browser(url: &str) -> std::io::Result<()> {
    let mut command = browser_command(url);
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Reap it whenever it exits (`xdg-open` may stay as long as the browser does).
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

#[cfg(target_os = "macos")]
fn browser_command(url: &str) -> std::process::Command {
    let mut command = std::process::Command::new("open");
    command.arg(url);
    command
}

#[cfg(windows)]
fn browser_command(url: &str) -> std::process::Command {
    let mut command = std::process::Command::new("rundll32");
    command.args(["url.dll,FileProtocolHandler", url]);
    command
}

#[cfg(not(any(target_os = "macos", windows)))]
fn browser_command(url: &str) -> std::process::Command {
    let mut command = std::process::Command::new("xdg-open");
    command.arg(url);
    command
}

/// The OIDC client the CLI is, from the server's public settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OidcClient {
    /// The provider's issuer URL, exactly as configured.
    pub issuer: String,
    /// The CLI's client ID: `cliClientID`, else `clientID` (a public client: no secret).
    pub client_id: String,
    /// The scopes to request (see [`requested_scopes`]).
    pub scopes: Vec<String>,
    /// Azure AD's `domain_hint`, when configured.
    pub domain_hint: Option<String>,
    /// The OIDC `claims` request parameter, when ID-token claims are requested.
    pub claims: Option<String>,
}

impl OidcClient {
    /// Reads the client from `oidc_config` (absent when the server has no SSO).
    ///
    /// # Errors
    ///
    /// No SSO configured, or one without an issuer or a client ID.
    pub(crate) fn from_settings(config: Option<&OidcConfig>) -> anyhow::Result<Self> {
        let Some(config) = config else {
            bail!("the server has no SSO configured (argocd-cm oidc.config)");
        };
        let issuer = config.issuer.trim();
        if issuer.is_empty() {
            bail!("the server's SSO settings have no issuer (argocd-cm oidc.config issuer)");
        }
        let client_id = [&config.cli_client_id, &config.client_id]
            .into_iter()
            .map(|id| id.trim())
            .find(|id| !id.is_empty())
            .context(
                "the server's SSO settings have no client ID (argocd-cm oidc.config \
                 cliClientID or clientID)",
            )?;
        Ok(Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            scopes: requested_scopes(&config.scopes),
            domain_hint: Some(config.domain_hint.trim())
                .filter(|hint| !hint.is_empty())
                .map(str::to_owned),
            claims: claims_parameter(&config.id_token_claims),
        })
    }
}

/// The scopes to request: the configured ones (blank and repeated ones dropped) with `openid`
/// first when they lack it, else [`DEFAULT_SCOPES`].
pub(crate) fn requested_scopes(configured: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in configured.iter().map(|scope| scope.trim()) {
        if !scope.is_empty() && !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return DEFAULT_SCOPES
            .iter()
            .map(|&scope| scope.to_owned())
            .collect();
    }
    if !scopes.iter().any(|scope| scope == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    scopes
}

/// The OIDC `claims` request parameter for the requested ID-token claims (argocd's
/// `oidcutil.AppendClaimsAuthenticationRequestParameter`): `{"id_token":{"groups":
/// {"essential":true}}}`; `None` when none are requested.
pub(crate) fn claims_parameter(claims: &HashMap<String, Claim>) -> Option<String> {
    if claims.is_empty() {
        return None;
    }
    let id_token: BTreeMap<&str, serde_json::Value> = claims
        .iter()
        .map(|(name, claim)| {
            let mut request = serde_json::Map::new();
            if claim.essential {
                request.insert("essential".to_owned(), true.into());
            }
            if !claim.value.is_empty() {
                request.insert("value".to_owned(), claim.value.clone().into());
            }
            if !claim.values.is_empty() {
                request.insert("values".to_owned(), claim.values.clone().into());
            }
            (name.as_str(), serde_json::Value::Object(request))
        })
        .collect();
    Some(serde_json::json!({ "id_token": id_token }).to_string())
}

/// The HTTP client for the identity provider: certificates are verified like the gRPC
/// connection's (the system's trust store and the bundled web roots, plus `--server-crt`,
/// which argocd also trusts for the provider).
fn http_client(connect: &ConnectOptions, issuer: &str) -> anyhow::Result<reqwest::Client> {
    if connect.insecure && issuer.to_ascii_lowercase().starts_with("https://") {
        bail!(
            "--insecure is not supported: Capstan's CLI always verifies TLS certificates, the \
             identity provider's ({issuer}) too; pass the CA that signed it with --server-crt"
        );
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(format!("capstan-cli/{}", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(connect.timeout.unwrap_or(Duration::from_secs(60)));
    if let Some(path) = &connect.server_crt {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading the server certificate {}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("parsing the server certificate {}", path.display()))?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .context("building the HTTP client for the identity provider")
}

/// The parts of the provider's discovery document the login uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

/// `{issuer}/.well-known/openid-configuration`.
pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Reads the discovery document of `issuer` and checks it is that issuer's and allows the
/// authorization code flow with PKCE S256.
///
/// # Errors
///
/// Malformed JSON, another issuer, missing endpoints, or no `code` flow or S256 method among
/// those the document lists.
pub(crate) fn parse_discovery(issuer: &str, body: &str) -> anyhow::Result<ProviderMetadata> {
    let metadata: ProviderMetadata = serde_json::from_str(body)
        .with_context(|| format!("parsing the OIDC discovery document of {issuer}"))?;
    if metadata.issuer != issuer {
        bail!(
            "the OIDC discovery document of {issuer} names another issuer, {:?}: argocd-cm \
             oidc.config issuer must be exactly the provider's issuer",
            metadata.issuer
        );
    }
    for (name, endpoint) in [
        ("authorization_endpoint", &metadata.authorization_endpoint),
        ("token_endpoint", &metadata.token_endpoint),
    ] {
        if endpoint.trim().is_empty() {
            bail!("the OIDC discovery document of {issuer} has no {name}");
        }
    }
    if !metadata.response_types_supported.is_empty()
        && !metadata
            .response_types_supported
            .iter()
            .any(|kind| kind == "code")
    {
        bail!(
            "the identity provider {issuer} does not support the authorization code flow \
             (response_types_supported: {})",
            metadata.response_types_supported.join(", ")
        );
    }
    if !metadata.code_challenge_methods_supported.is_empty()
        && !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|method| method == "S256")
    {
        bail!(
            "the identity provider {issuer} does not support PKCE with S256 \
             (code_challenge_methods_supported: {})",
            metadata.code_challenge_methods_supported.join(", ")
        );
    }
    Ok(metadata)
}

/// Fetches and checks the discovery document of `issuer`.
async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<ProviderMetadata> {
    let url = discovery_url(issuer);
    let response = http
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("fetching the OIDC discovery document {url}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("reading the OIDC discovery document {url}"))?;
    if !status.is_success() {
        bail!(
            "fetching the OIDC discovery document {url}: HTTP {status}{}",
            snippet(&body)
        );
    }
    parse_discovery(issuer, &body)
}

/// A PKCE (RFC 7636) verifier and its S256 challenge.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pkce {
    /// 43 characters of base64url: 32 random bytes.
    pub verifier: String,
    /// `base64url(sha256(verifier))`, unpadded.
    pub challenge: String,
}

impl Pkce {
    /// The pair for the verifier made of `bytes`.
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Self {
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// 32 bytes from the OS's random source.
fn random_bytes() -> anyhow::Result<[u8; 32]> {
    let mut bytes = [0; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| anyhow::anyhow!("reading random bytes from the OS: {err}"))?;
    Ok(bytes)
}

/// A random `state` or `nonce`: 32 random bytes in base64url (256 bits; RFC 6749 §10.10
/// asks for at least 128).
fn random_token() -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes()?))
}

/// What goes into the authorize URL besides the client's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuthorizeRequest<'a> {
    pub client: &'a OidcClient,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
}

/// The authorize URL: `endpoint` (keeping its own query parameters) with `response_type=code`,
/// `client_id`, `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge`,
/// `code_challenge_method=S256`, and `domain_hint` and `claims` when configured.
///
/// # Errors
///
/// An `endpoint` that is not an absolute URL.
pub(crate) fn authorize_url(
    endpoint: &str,
    request: &AuthorizeRequest<'_>,
) -> anyhow::Result<url::Url> {
    let mut url = url::Url::parse(endpoint)
        .with_context(|| format!("the provider's authorization_endpoint {endpoint:?}"))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &request.client.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", &request.client.scopes.join(" "))
            .append_pair("state", request.state)
            .append_pair("nonce", request.nonce)
            .append_pair("code_challenge", request.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = &request.client.domain_hint {
            query.append_pair("domain_hint", hint);
        }
        if let Some(claims) = &request.client.claims {
            query.append_pair("claims", claims);
        }
    }
    Ok(url)
}

/// The form the code is exchanged with (public client: `client_id`, no secret).
pub(crate) fn token_request_body(
    code: &str,
    redirect_uri: &str,
    client_id: &str,
    code_verifier: &str,
) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("client_id", client_id)
        .append_pair("code_verifier", code_verifier)
        .finish()
}

/// The tokens of a successful code exchange.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub id_token: String,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens.
        f.debug_struct("Tokens")
            .field("id_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The token endpoint's JSON answer, success or error (RFC 6749 §5.1, §5.2).
#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Reads the token endpoint's answer (HTTP `status`, `body`).
///
/// # Errors
///
/// The provider's `error` (with its description), another failure status, a body that is not
/// JSON, or no `id_token`.
pub(crate) fn parse_token_response(status: u16, body: &str) -> anyhow::Result<Tokens> {
    let success = (200..300).contains(&status);
    let response = match serde_json::from_str::<TokenResponse>(body) {
        Ok(response) => response,
        Err(_) if !success => {
            bail!("the token endpoint answered HTTP {status}{}", snippet(body))
        }
        Err(err) => bail!("the token endpoint's answer is not a token response: {err}"),
    };
    if let Some(error) = response.error.filter(|error| !error.is_empty()) {
        match response.error_description.filter(|text| !text.is_empty()) {
            Some(description) => {
                bail!("the identity provider refused the code exchange: {error}: {description}")
            }
            None => bail!("the identity provider refused the code exchange: {error}"),
        }
    }
    if !success {
        bail!("the token endpoint answered HTTP {status}{}", snippet(body));
    }
    let id_token = response
        .id_token
        .filter(|token| !token.is_empty())
        .context(
            "the token endpoint returned no id_token (the identity provider must grant the \
             `openid` scope)",
        )?;
    Ok(Tokens {
        id_token,
        refresh_token: response.refresh_token.filter(|token| !token.is_empty()),
    })
}

/// Decodes the ID token's payload (without checking its signature: the server does) and
/// checks it was issued for this login (its `nonce` is ours).
///
/// # Errors
///
/// Not a JWT with a JSON object payload, or a missing or other nonce.
pub(crate) fn check_id_token(
    id_token: &str,
    nonce: &str,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut parts = id_token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("the ID token is not a JWT (header.payload.signature)");
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .context("the ID token's payload is not base64url")?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).context("the ID token's payload is not a JSON object")?;
    if claims.get("nonce").and_then(serde_json::Value::as_str) != Some(nonce) {
        bail!("nonce mismatch: the ID token was not issued for this login");
    }
    Ok(claims)
}

/// `: <the start of body>` for error messages, or nothing for an empty body.
fn snippet(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let mut text: String = body.chars().take(200).collect();
    if text.len() < body.len() {
        text.push_str("...");
    }
    format!(": {text}")
}

/// Runs the browser part of the login: listens on the loopback port, shows the authorize URL
/// (`announce`), waits for the callback, exchanges the code and checks the ID token.
///
/// On success the browser's request is still waiting: the [`Responder`] answers it once the
/// caller knows how the login ended. On failure it has been answered with the error.
async fn authenticate(
    http: &reqwest::Client,
    client: &OidcClient,
    provider: &ProviderMetadata,
    options: &SsoOptions,
    announce: impl FnOnce(&str),
) -> anyhow::Result<(Tokens, Responder)> {
    let pkce = Pkce::from_bytes(&random_bytes()?);
    let state = random_token()?;
    let nonce = random_token()?;
    let listener = bind_loopback(options.port).await?;
    let port = listener
        .local_addr()
        .context("reading the SSO callback listener's address")?
        .port();
    let redirect_uri = redirect_uri(port);
    let url = authorize_url(
        &provider.authorization_endpoint,
        &AuthorizeRequest {
            client,
            redirect_uri: &redirect_uri,
            state: &state,
            nonce: &nonce,
            code_challenge: &pkce.challenge,
        },
    )?;
    announce(url.as_str());
    let server = CallbackServer::new(listener, state);
    let (code, responder) = match options.timeout {
        Some(timeout) => tokio::time::timeout(timeout, server.next_code())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "timed out after {} waiting for the login in the browser (raise \
                     --sso-timeout)",
                    format_duration(timeout)
                )
            })??,
        None => server.next_code().await?,
    };
    let exchanged = async {
        let body = token_request_body(&code, &redirect_uri, &client.client_id, &pkce.verifier);
        let tokens = exchange_code(http, &provider.token_endpoint, body).await?;
        check_id_token(&tokens.id_token, &nonce)?;
        Ok(tokens)
    }
    .await;
    match exchanged {
        Ok(tokens) => Ok((tokens, responder)),
        Err(err) => {
            responder.respond(Page::Failure(format!("{err:#}"))).await;
            Err(err)
        }
    }
}

/// Posts the token request to the provider's token endpoint.
async fn exchange_code(
    http: &reqwest::Client,
    endpoint: &str,
    body: String,
) -> anyhow::Result<Tokens> {
    let response = http
        .post(endpoint)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("calling the token endpoint {endpoint}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("reading the answer of the token endpoint {endpoint}"))?;
    parse_token_response(status, &text)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use capstan_proto::settings::v1::{Claim, OidcConfig};
    use pretty_assertions::assert_eq;

    use super::callback::redirect_uri;
    use super::{
        AuthorizeRequest, ConnectOptions, OidcClient, Pkce, ProviderMetadata, authorize_url,
        check_id_token, claims_parameter, discovery_url, http_client, parse_discovery,
        parse_token_response, requested_scopes, snippet, token_request_body,
    };

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|&value| value.to_owned()).collect()
    }

    /// An unsigned JWT with `claims` as its payload.
    fn jwt(claims: &serde_json::Value) -> String {
        format!(
            "{}.{}.signature",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn client() -> OidcClient {
        OidcClient {
            issuer: "https://idp.example.com".to_owned(),
            client_id: "capstan-cli".to_owned(),
            scopes: strings(&["openid", "profile", "email"]),
            domain_hint: None,
            claims: None,
        }
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        let bytes = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let pkce = Pkce::from_bytes(&bytes);
        assert_eq!(pkce.verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_verifiers_are_43_unreserved_characters() {
        for bytes in [[0_u8; 32], [255; 32], [0x5a; 32]] {
            let pkce = Pkce::from_bytes(&bytes);
            assert_eq!(pkce.verifier.len(), 43);
            assert!(
                pkce.verifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)),
                "{}",
                pkce.verifier
            );
            assert_eq!(pkce.challenge.len(), 43);
        }
        let random = super::random_token().expect("random");
        assert_eq!(random.len(), 43);
        assert_ne!(random, super::random_token().expect("random"));
    }

    #[test]
    fn scopes_default_and_always_include_openid() {
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &["openid", "profile", "email"]),
            (&["", "  "], &["openid", "profile", "email"]),
            (&["openid", "groups"], &["openid", "groups"]),
            (&["email", "groups"], &["openid", "email", "groups"]),
            (&["profile", "openid"], &["profile", "openid"]),
            (
                &[" email ", "email", "offline_access"],
                &["openid", "email", "offline_access"],
            ),
        ];
        for (configured, want) in cases {
            assert_eq!(
                requested_scopes(&strings(configured)),
                strings(want),
                "{configured:?}"
            );
        }
    }

    #[test]
    fn clients_come_from_the_settings() {
        let config = |issuer: &str, client_id: &str, cli_client_id: &str| OidcConfig {
            name: "Okta".to_owned(),
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            cli_client_id: cli_client_id.to_owned(),
            ..OidcConfig::default()
        };
        let err = OidcClient::from_settings(None).expect_err("no SSO");
        assert_eq!(
            err.to_string(),
            "the server has no SSO configured (argocd-cm oidc.config)"
        );

        let got =
            OidcClient::from_settings(Some(&config("https://idp", "ui", "cli"))).expect("client");
        assert_eq!(got.client_id, "cli");
        assert_eq!(got.issuer, "https://idp");
        assert_eq!(got.scopes, strings(&["openid", "profile", "email"]));
        assert_eq!((got.domain_hint, got.claims), (None, None));

        let got =
            OidcClient::from_settings(Some(&config(" https://idp/ ", "ui", " "))).expect("client");
        assert_eq!(got.client_id, "ui", "cliClientID falls back to clientID");
        assert_eq!(got.issuer, "https://idp/", "the issuer is kept exactly");

        let err = OidcClient::from_settings(Some(&config("", "ui", ""))).expect_err("no issuer");
        assert!(err.to_string().contains("no issuer"), "{err}");
        let err =
            OidcClient::from_settings(Some(&config("https://idp", "", ""))).expect_err("no id");
        assert!(err.to_string().contains("no client ID"), "{err}");

        let full = OidcConfig {
            scopes: strings(&["groups"]),
            domain_hint: "example.com".to_owned(),
            id_token_claims: HashMap::from([(
                "groups".to_owned(),
                Claim {
                    essential: true,
                    ..Claim::default()
                },
            )]),
            ..config("https://idp", "ui", "")
        };
        let got = OidcClient::from_settings(Some(&full)).expect("client");
        assert_eq!(got.scopes, strings(&["openid", "groups"]));
        assert_eq!(got.domain_hint.as_deref(), Some("example.com"));
        assert_eq!(
            got.claims.as_deref(),
            Some(r#"{"id_token":{"groups":{"essential":true}}}"#)
        );
    }

    #[test]
    fn claims_requests_are_json() {
        assert_eq!(claims_parameter(&HashMap::new()), None);
        let claims = HashMap::from([
            (
                "groups".to_owned(),
                Claim {
                    essential: true,
                    ..Claim::default()
                },
            ),
            (
                "acr".to_owned(),
                Claim {
                    value: "urn:mace:incommon:iap:silver".to_owned(),
                    ..Claim::default()
                },
            ),
            (
                "amr".to_owned(),
                Claim {
                    values: strings(&["pwd", "mfa"]),
                    ..Claim::default()
                },
            ),
            ("email".to_owned(), Claim::default()),
        ]);
        assert_eq!(
            claims_parameter(&claims).as_deref(),
            Some(concat!(
                r#"{"id_token":{"acr":{"value":"urn:mace:incommon:iap:silver"},"#,
                r#""amr":{"values":["pwd","mfa"]},"email":{},"groups":{"essential":true}}}"#
            ))
        );
    }

    #[test]
    fn authorize_urls_carry_the_flow_parameters() {
        let redirect = redirect_uri(8085);
        assert_eq!(redirect, "http://localhost:8085/auth/callback");
        let client = client();
        let request = AuthorizeRequest {
            client: &client,
            redirect_uri: &redirect,
            state: "st",
            nonce: "no",
            code_challenge: "ch",
        };
        let url = authorize_url("https://idp.example.com/authorize", &request).expect("url");
        assert_eq!(
            url.as_str(),
            "https://idp.example.com/authorize?response_type=code&client_id=capstan-cli&\
             redirect_uri=http%3A%2F%2Flocalhost%3A8085%2Fauth%2Fcallback&\
             scope=openid+profile+email&state=st&nonce=no&code_challenge=ch&\
             code_challenge_method=S256"
        );

        // The endpoint's own parameters stay (Azure AD B2C's `p=`); domain hint and claims
        // are added when configured.
        let client = OidcClient {
            domain_hint: Some("example.com".to_owned()),
            claims: Some(r#"{"id_token":{"groups":{"essential":true}}}"#.to_owned()),
            ..client.clone()
        };
        let url = authorize_url(
            "https://login.example.com/oauth2/v2.0/authorize?p=b2c_1_signin",
            &AuthorizeRequest {
                client: &client,
                ..request
            },
        )
        .expect("url");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "p",
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "nonce",
                "code_challenge",
                "code_challenge_method",
                "domain_hint",
                "claims"
            ]
        );
        assert_eq!(pairs[0].1, "b2c_1_signin");
        assert_eq!(pairs[4].1, "openid profile email");
        assert_eq!(pairs[9].1, "example.com");
        assert_eq!(pairs[10].1, r#"{"id_token":{"groups":{"essential":true}}}"#);

        assert!(authorize_url("/authorize", &request).is_err());
    }

    #[test]
    fn token_requests_are_forms() {
        assert_eq!(
            token_request_body(
                "c/1",
                "http://localhost:8085/auth/callback",
                "capstan-cli",
                "v~1"
            ),
            "grant_type=authorization_code&code=c%2F1&\
             redirect_uri=http%3A%2F%2Flocalhost%3A8085%2Fauth%2Fcallback&\
             client_id=capstan-cli&code_verifier=v%7E1"
        );
    }

    #[test]
    fn token_responses_are_read() {
        /// The ID and refresh tokens, or the start of the error.
        type Want<'a> = Result<(&'a str, Option<&'a str>), &'a str>;
        let cases: &[(u16, &str, Want<'_>)] = &[
            (
                200,
                r#"{"access_token":"a","id_token":"i.d.t","refresh_token":"r"}"#,
                Ok(("i.d.t", Some("r"))),
            ),
            (
                200,
                r#"{"id_token":"i.d.t","refresh_token":""}"#,
                Ok(("i.d.t", None)),
            ),
            (
                200,
                r#"{"access_token":"a"}"#,
                Err(
                    "the token endpoint returned no id_token (the identity provider must grant \
                     the `openid` scope)",
                ),
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
                Err(
                    "the identity provider refused the code exchange: invalid_grant: grant \
                     request is invalid",
                ),
            ),
            (
                401,
                r#"{"error":"invalid_client"}"#,
                Err("the identity provider refused the code exchange: invalid_client"),
            ),
            (
                502,
                "<html>Bad Gateway</html>",
                Err("the token endpoint answered HTTP 502: <html>Bad Gateway</html>"),
            ),
            (500, "", Err("the token endpoint answered HTTP 500")),
            (500, "{}", Err("the token endpoint answered HTTP 500: {}")),
            (
                200,
                "not json",
                Err("the token endpoint's answer is not a token response"),
            ),
        ];
        for (status, body, want) in cases {
            let got = parse_token_response(*status, body);
            match (got, want) {
                (Ok(tokens), Ok((id_token, refresh_token))) => {
                    assert_eq!(tokens.id_token, *id_token, "{body}");
                    assert_eq!(tokens.refresh_token.as_deref(), *refresh_token, "{body}");
                }
                (Err(err), Err(want)) => {
                    assert!(err.to_string().starts_with(want), "{body}: {err}");
                }
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
        assert!(
            !format!(
                "{:?}",
                parse_token_response(200, r#"{"id_token":"secret"}"#)
            )
            .contains("secret")
        );
    }

    #[test]
    fn id_tokens_must_carry_our_nonce() {
        let token = jwt(&serde_json::json!({"sub": "u1", "email": "a@example.com", "nonce": "n1"}));
        let claims = check_id_token(&token, "n1").expect("our nonce");
        assert_eq!(claims["email"], "a@example.com");

        // Padding is tolerated.
        let (head, rest) = token.split_once('.').expect("jwt");
        let (payload, signature) = rest.split_once('.').expect("jwt");
        let padded = format!(
            "{head}.{payload}{}.{signature}",
            "=".repeat((4 - payload.len() % 4) % 4)
        );
        assert!(check_id_token(&padded, "n1").is_ok());

        let mismatch = "nonce mismatch: the ID token was not issued for this login";
        let cases = [
            (token.clone(), "n2", mismatch),
            (jwt(&serde_json::json!({"sub": "u1"})), "n1", mismatch),
            (jwt(&serde_json::json!({"nonce": 1})), "n1", mismatch),
            ("abc".to_owned(), "n1", "the ID token is not a JWT"),
            ("a.b.c.d".to_owned(), "n1", "the ID token is not a JWT"),
            ("a.!!!.c".to_owned(), "n1", "not base64url"),
            (
                format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1]")),
                "n1",
                "not a JSON object",
            ),
        ];
        for (token, nonce, want) in cases {
            let err = check_id_token(&token, nonce).expect_err(&token);
            assert!(err.to_string().contains(want), "{token}: {err}");
        }
    }

    #[test]
    fn discovery_documents_are_checked() {
        assert_eq!(
            discovery_url("https://idp.example.com/"),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example.com/realms/cd"),
            "https://idp.example.com/realms/cd/.well-known/openid-configuration"
        );
        let document = |issuer: &str, extra: &str| {
            format!(
                r#"{{"issuer":"{issuer}","authorization_endpoint":"https://idp/auth",
                "token_endpoint":"https://idp/token","jwks_uri":"https://idp/jwks"{extra}}}"#
            )
        };
        let ok = parse_discovery("https://idp", &document("https://idp", "")).expect("ok");
        assert_eq!(
            ok,
            ProviderMetadata {
                issuer: "https://idp".to_owned(),
                authorization_endpoint: "https://idp/auth".to_owned(),
                token_endpoint: "https://idp/token".to_owned(),
                response_types_supported: Vec::new(),
                code_challenge_methods_supported: Vec::new(),
            }
        );
        let listed = r#","response_types_supported":["code","id_token"],
            "code_challenge_methods_supported":["plain","S256"]"#;
        assert!(parse_discovery("https://idp", &document("https://idp", listed)).is_ok());

        let cases = [
            (
                document("https://idp/", ""),
                "names another issuer, \"https://idp/\"",
            ),
            (
                document("https://idp", r#","response_types_supported":["id_token"]"#),
                "does not support the authorization code flow",
            ),
            (
                document(
                    "https://idp",
                    r#","code_challenge_methods_supported":["plain"]"#,
                ),
                "does not support PKCE with S256",
            ),
            (
                r#"{"issuer":"https://idp","authorization_endpoint":"https://idp/auth",
                    "token_endpoint":""}"#
                    .to_owned(),
                "has no token_endpoint",
            ),
            (r#"{"issuer":"https://idp"}"#.to_owned(), "parsing"),
            ("<html>".to_owned(), "parsing"),
        ];
        for (body, want) in cases {
            let err = parse_discovery("https://idp", &body).expect_err(&body);
            assert!(format!("{err:#}").contains(want), "{body}: {err:#}");
        }
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(snippet("  "), "");
        assert_eq!(snippet(" oops \n"), ": oops");
        let long = "x".repeat(300);
        assert_eq!(snippet(&long), format!(": {}...", "x".repeat(200)));
    }

    #[test]
    fn insecure_is_refused_for_https_providers() {
        let insecure = ConnectOptions {
            insecure: true,
            ..ConnectOptions::default()
        };
        let err = http_client(&insecure, "https://idp.example.com").expect_err("insecure");
        assert!(err.to_string().contains("--server-crt"), "{err}");
        assert!(http_client(&insecure, "http://localhost:9000").is_ok());
        assert!(http_client(&ConnectOptions::default(), "https://idp.example.com").is_ok());
        let missing = ConnectOptions {
            server_crt: Some("/nonexistent/ca.pem".into()),
            ..ConnectOptions::default()
        };
        let err = http_client(&missing, "https://idp.example.com").expect_err("no file");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
