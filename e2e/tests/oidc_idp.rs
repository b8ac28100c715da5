//! The test OpenID Connect provider (`capstan_e2e::oidc::Idp`, the real npm `oidc-provider`
//! under node) and the scripted browser (`capstan_e2e::browser::Browser`) run the
//! authorization-code flow with PKCE end to end, without a human, as the auth-gateway and the
//! CLI will against Azure AD.
//!
//! Needs the IdP's npm dependencies from `e2e/scripts/install-deps.sh` (not the Kubernetes
//! test environment).

use std::net::TcpListener;
use std::time::Instant;

use anyhow::{Context, ensure};
use base64::Engine as _;
use capstan_e2e::browser::Browser;
use capstan_e2e::oidc::{
    ALICE, ALICE_EMAIL, ALICE_GROUP, BOB, BOB_EMAIL, BOB_GROUP, DEFAULT_TENANT, Idp, IdpOptions,
    jwt_claims, oid_for, pkce_pair, random_token,
};
use serde_json::{Value, json};
use url::Url;

/// A loopback callback URL on a port nobody listens on (the browser stops before it).
fn callback_url() -> anyhow::Result<String> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(format!("http://127.0.0.1:{port}/auth/callback"))
}

fn start(opts: IdpOptions) -> anyhow::Result<Idp> {
    let t = Instant::now();
    let idp = Idp::start(opts)?;
    eprintln!("IdP {} ready in {:?}", idp.issuer, t.elapsed());
    Ok(idp)
}

/// The query parameter `name` of `url`.
fn query(url: &str, name: &str) -> anyhow::Result<String> {
    Url::parse(url)?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no {name} in {url}"))
}

struct AuthRequest {
    url: String,
    state: String,
    nonce: String,
    verifier: String,
}

fn authorize_url(
    discovery: &Value,
    client_id: &str,
    redirect_uri: &str,
    login_hint: Option<&str>,
) -> anyhow::Result<AuthRequest> {
    let endpoint = discovery["authorization_endpoint"]
        .as_str()
        .context("no authorization_endpoint")?;
    let (verifier, challenge) = pkce_pair();
    let (state, nonce) = (random_token(), random_token());
    let mut params = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile email"),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(hint) = login_hint {
        params.push(("login_hint", hint));
    }
    let url = Url::parse_with_params(endpoint, &params)?.to_string();
    Ok(AuthRequest {
        url,
        state,
        nonce,
        verifier,
    })
}

/// Redeems `code` at the token endpoint; `secret` → client_secret_basic, none → public client.
async fn redeem(
    browser: &Browser,
    discovery: &Value,
    client_id: &str,
    secret: Option<&str>,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> anyhow::Result<Value> {
    let endpoint = discovery["token_endpoint"]
        .as_str()
        .context("no token_endpoint")?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier);
    let basic;
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    match secret {
        Some(secret) => {
            basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
            );
            headers.push(("authorization", &basic));
        }
        None => {
            form.append_pair("client_id", client_id);
        }
    }
    let response = browser
        .request(
            reqwest::Method::POST,
            endpoint,
            &headers,
            Some(form.finish()),
        )
        .await?
        .error_for_status()?;
    response.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn code_flow_with_pkce_and_login_hint() -> anyhow::Result<()> {
    let redirect_uri = callback_url()?;
    let idp = start(IdpOptions {
        redirect_uris: vec![redirect_uri.clone()],
        ..IdpOptions::default()
    })?;
    assert_eq!(
        idp.issuer,
        format!("http://127.0.0.1:{}/{DEFAULT_TENANT}/v2.0", idp.port)
    );
    let browser = Browser::new()?;

    let discovery = browser
        .get(&idp.discovery_url())
        .await?
        .error_for_status()?
        .json()?;
    assert_eq!(discovery["issuer"], json!(idp.issuer));
    assert_eq!(
        discovery["authorization_endpoint"],
        json!(idp.authorization_endpoint())
    );
    assert_eq!(discovery["token_endpoint"], json!(idp.token_endpoint()));
    assert_eq!(discovery["jwks_uri"], json!(idp.jwks_uri()));
    let jwks = browser.get(&idp.jwks_uri()).await?.json()?;
    assert_eq!(jwks["keys"][0]["alg"], "RS256", "{jwks}");

    let request = authorize_url(&discovery, &idp.client_id, &redirect_uri, Some(BOB))?;
    let callback = browser.follow_until(&request.url, &redirect_uri).await?;
    assert_eq!(query(&callback, "state")?, request.state);
    assert_eq!(query(&callback, "iss")?, idp.issuer);
    let code = query(&callback, "code")?;
    // The IdP's session cookie stays in the jar (SSO for a second login).
    assert!(
        browser.cookie(&idp.base_url(), "_session").is_some(),
        "cookies: {:?}",
        browser.cookies(&idp.base_url())
    );

    let tokens = redeem(
        &browser,
        &discovery,
        &idp.client_id,
        Some(&idp.client_secret),
        &redirect_uri,
        &code,
        &request.verifier,
    )
    .await?;
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    let claims = jwt_claims(tokens["id_token"].as_str().context("no id_token")?)?;
    assert_eq!(claims["iss"], json!(idp.issuer), "{claims}");
    assert_eq!(claims["aud"], json!(idp.client_id));
    assert_eq!(claims["nonce"], json!(request.nonce));
    assert_eq!(claims["groups"], json!([BOB_GROUP]));
    assert_eq!(claims["oid"], json!(oid_for(BOB)));
    assert_eq!(claims["sub"], json!(oid_for(BOB)));
    assert_eq!(claims["tid"], json!(DEFAULT_TENANT));
    assert_eq!(claims["preferred_username"], BOB_EMAIL);
    assert_eq!(claims["email"], BOB_EMAIL);

    // The code is single-use.
    let again = redeem(
        &browser,
        &discovery,
        &idp.client_id,
        Some(&idp.client_secret),
        &redirect_uri,
        &code,
        &request.verifier,
    )
    .await;
    ensure!(again.is_err(), "a code was redeemed twice: {again:?}");

    // Killed with its process group, and reaped.
    let mut idp = idp;
    let pid = idp.pid().context("no pid")?;
    idp.stop();
    ensure!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "oidc-idp (pid {pid}) survived stop()"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn login_form_with_public_client() -> anyhow::Result<()> {
    let redirect_uri = callback_url()?;
    let idp = start(IdpOptions {
        cli_redirect_uris: vec![redirect_uri.clone()],
        auto_login: false,
        default_user: Some(BOB.to_string()),
        ..IdpOptions::default()
    })?;
    let browser = Browser::new()?;
    let discovery = browser.get(&idp.discovery_url()).await?.json()?;
    let request = authorize_url(&discovery, &idp.cli_client_id, &redirect_uri, None)?;

    let interaction = browser
        .follow_until(&request.url, &idp.interaction_prefix())
        .await?;
    let page = browser.get(&interaction).await?.error_for_status()?;
    assert!(
        page.body.contains(r#"id="username""#) && page.body.contains(r#"id="login""#),
        "{}",
        page.body
    );
    let action = page
        .body
        .split(r#"action=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no form action")?;
    let action = Url::parse(&interaction)?.join(action)?.to_string();
    assert_eq!(action, format!("{interaction}/login"));

    let unknown = browser
        .post_form(&action, &[("username", "mallory")])
        .await?;
    assert_eq!(unknown.status, 403, "{}", unknown.body);

    let posted = browser.post_form(&action, &[("username", ALICE)]).await?;
    let callback = browser.follow_from_until(&posted, &redirect_uri).await?;
    assert_eq!(query(&callback, "state")?, request.state);
    let code = query(&callback, "code")?;

    let tokens = redeem(
        &browser,
        &discovery,
        &idp.cli_client_id,
        None,
        &redirect_uri,
        &code,
        &request.verifier,
    )
    .await?;
    let claims = jwt_claims(tokens["id_token"].as_str().context("no id_token")?)?;
    assert_eq!(claims["aud"], json!(idp.cli_client_id), "{claims}");
    assert_eq!(claims["groups"], json!([ALICE_GROUP]));
    assert_eq!(claims["preferred_username"], ALICE_EMAIL);
    assert_eq!(claims["nonce"], json!(request.nonce));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_users_and_tenant() -> anyhow::Result<()> {
    let redirect_uri = callback_url()?;
    let tenant = "11111111-2222-4333-8444-555555555555";
    let idp = start(IdpOptions {
        redirect_uris: vec![redirect_uri.clone()],
        tenant: Some(tenant.to_string()),
        users: Some(json!({
            "carol": {"name": "Carol", "email": "carol@fabrikam.test", "groups": ["g-1", "g-2"]}
        })),
        default_user: Some("carol".to_string()),
        ..IdpOptions::default()
    })?;
    assert!(idp.issuer.ends_with(&format!("/{tenant}/v2.0")));
    let browser = Browser::new()?;
    let discovery = browser.get(&idp.discovery_url()).await?.json()?;
    // A hint naming nobody falls back to the default user; email hints work too.
    for (hint, expected) in [
        (None, "carol@fabrikam.test"),
        (Some("CAROL@fabrikam.test"), "carol@fabrikam.test"),
    ] {
        let request = authorize_url(&discovery, &idp.post_client_id, &redirect_uri, hint)?;
        let callback = browser.follow_until(&request.url, &redirect_uri).await?;
        let endpoint = discovery["token_endpoint"]
            .as_str()
            .context("no token_endpoint")?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &query(&callback, "code")?)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("code_verifier", &request.verifier)
            .append_pair("client_id", &idp.post_client_id)
            .append_pair("client_secret", &idp.client_secret)
            .finish();
        let tokens = browser
            .request(
                reqwest::Method::POST,
                endpoint,
                &[("content-type", "application/x-www-form-urlencoded")],
                Some(form),
            )
            .await?
            .error_for_status()?
            .json()?;
        let claims = jwt_claims(tokens["id_token"].as_str().context("no id_token")?)?;
        assert_eq!(claims["preferred_username"], expected, "{claims}");
        assert_eq!(claims["groups"], json!(["g-1", "g-2"]));
        assert_eq!(claims["tid"], tenant);
        assert_eq!(claims["oid"], json!(oid_for("carol")));
    }
    Ok(())
}

#[test]
fn a_dying_idp_reports_its_log() {
    let err = Idp::start(IdpOptions {
        default_user: Some("nobody".to_string()),
        ..IdpOptions::default()
    })
    .expect_err("started with an unknown default user");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("exited with")
            && msg.contains("OIDC_DEFAULT_USER=nobody is not one of the users"),
        "{msg}"
    );
}
