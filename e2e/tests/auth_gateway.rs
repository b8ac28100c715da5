//! The auth-gateway end to end: a real OpenID Connect provider shaped like Azure AD (npm
//! `oidc-provider`, tenant issuer, `groups` of object IDs), the gateway in front of the real
//! api-server, the real kube-apiserver and Redis. The browser is scripted over HTTP.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use capstan_e2e::browser::Browser;
use capstan_e2e::oidc::{self, Idp, IdpOptions};
use pretty_assertions::assert_eq;
use serde_json::Value;
use support::{Stack, StackOptions};

/// The seed's policy with Azure AD group object IDs in place of the e-mail-style names.
fn seed_rbac() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("policy.default".into(), "role:readonly".into()),
        (
            "policy.csv".into(),
            format!(
                "p, role:developer, applications, get, */*, allow\n\
                 p, role:developer, applications, sync, */*, allow\n\
                 p, role:developer, logs, get, */*, allow\n\
                 p, role:developer, exec, create, */*, deny\n\
                 p, role:devops, applications, *, */*, allow\n\
                 p, role:devops, clusters, *, *, allow\n\
                 p, role:devops, repositories, *, *, allow\n\
                 p, role:devops, projects, *, *, allow\n\
                 g, {}, role:devops\n\
                 g, {}, role:developer\n",
                oidc::ALICE_GROUP,
                oidc::BOB_GROUP
            ),
        ),
    ])
}

/// A stack with a gateway and an IdP that redirects to it (and to the CLI on `cli_port`),
/// with `oidc.config` applied.
async fn sso_stack() -> anyhow::Result<(Stack, Idp)> {
    sso_stack_with(None, None).await
}

async fn sso_stack_with(
    cli_port: Option<u16>,
    users: Option<Value>,
) -> anyhow::Result<(Stack, Idp)> {
    let stack = Stack::start(StackOptions {
        rbac: Some(seed_rbac()),
        secret: Some(BTreeMap::from([(
            "oidc.azure.clientSecret".to_owned(),
            oidc::DEFAULT_CLIENT_SECRET.to_owned(),
        )])),
        no_controller: true,
        gateway: true,
        ..Default::default()
    })
    .await?;
    let gw = stack.gw().url();
    let idp = Idp::start(IdpOptions {
        redirect_uris: vec![format!("{gw}/auth/callback")],
        cli_redirect_uris: cli_port
            .map(|p| vec![format!("http://localhost:{p}/auth/callback")])
            .unwrap_or_default(),
        default_user: users
            .as_ref()
            .and_then(|u| u.as_object()?.keys().next().cloned()),
        users,
        ..Default::default()
    })?;
    stack
        .use_oidc(
            &idp,
            &format!(
                "cliClientID: {}\nrequestedScopes: [openid, profile, email]\n",
                oidc::DEFAULT_CLI_CLIENT_ID
            ),
        )
        .await?;
    Ok((stack, idp))
}

/// Runs the browser from `/auth/login` to the callback URL the IdP sends it to (not yet
/// requested), logging in as `user`.
async fn to_callback(
    browser: &Browser,
    gw: &str,
    user: &str,
    edit: impl Fn(String) -> String,
) -> anyhow::Result<String> {
    let start = browser
        .get(&format!(
            "{gw}/auth/login?return_url=/applications/guestbook"
        ))
        .await?;
    assert_eq!(start.status, 303, "{}", start.body);
    let authorize = start.location().expect("a redirect to the provider");
    let authorize = edit(format!("{authorize}&login_hint={user}"));
    browser
        .follow_until(&authorize, &format!("{gw}/auth/callback"))
        .await
}

/// The value of query parameter `name` in `url`.
fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

/// `url` with query parameter `name` set to `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let parsed = url::Url::parse(url).expect("a URL");
    let mut out = parsed.clone();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(parsed.query_pairs().map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        }));
    out.into()
}

/// A unary gRPC-web call over HTTP/1.1: the reply message and the trailer block.
async fn grpc_web_call(
    base: &str,
    path: &str,
    token: &str,
    message: &impl prost::Message,
) -> anyhow::Result<(Vec<u8>, String)> {
    let payload = message.encode_to_vec();
    let mut body = vec![0u8];
    body.extend(u32::try_from(payload.len())?.to_be_bytes());
    body.extend(payload);
    let response = reqwest::Client::builder()
        .http1_only()
        .build()?
        .post(format!("{base}{path}"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .bearer_auth(token)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "{}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        content_type.starts_with("application/grpc-web"),
        "{content_type}"
    );
    let bytes = response.bytes().await?;
    let (mut reply, mut trailers, mut rest) = (Vec::new(), String::new(), &bytes[..]);
    while rest.len() >= 5 {
        let len = u32::from_be_bytes(rest[1..5].try_into()?) as usize;
        let frame = &rest[5..5 + len];
        if rest[0] & 0x80 != 0 {
            trailers.push_str(&String::from_utf8_lossy(frame));
        } else {
            reply.extend_from_slice(frame);
        }
        rest = &rest[5 + len..];
    }
    Ok((reply, trailers))
}

fn claims_of(token: &str) -> Value {
    oidc::jwt_claims(token).expect("a JWT")
}

async fn can_i(
    browser: &Browser,
    gw: &str,
    resource: &str,
    action: &str,
    object: &str,
) -> anyhow::Result<String> {
    let r = browser
        .get(&format!(
            "{gw}/api/v1/account/can-i/{resource}/{action}/{object}"
        ))
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(r.json()?["value"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sso_login_grants_what_the_policy_gives_the_groups() -> anyhow::Result<()> {
    let (stack, idp) = sso_stack().await?;
    let gw = stack.gw().url();
    let devops = Browser::new()?;
    let callback = to_callback(&devops, &gw, oidc::ALICE, |u| u).await?;
    let done = devops.get(&callback).await?;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location().as_deref(),
        Some(format!("{gw}/applications/guestbook").as_str())
            .map(|_| done.location().unwrap())
            .as_deref()
    );
    assert!(
        done.header("location")
            .unwrap()
            .ends_with("/applications/guestbook")
    );
    let cookie = done
        .parsed_set_cookie("argocd.token")
        .expect("the session cookie");
    assert!(cookie.has("HttpOnly"), "{cookie:?}");
    assert_eq!(cookie.attribute("SameSite"), Some("Lax"));
    assert_eq!(cookie.attribute("Path"), Some("/"));
    let claims = claims_of(&cookie.value);
    assert_eq!(claims["groups"], serde_json::json!([oidc::ALICE_GROUP]));
    assert_eq!(claims["email"], oidc::ALICE_EMAIL);
    assert_eq!(claims["sub"], oidc::oid_for(oidc::ALICE));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        24 * 3600
    );
    assert_eq!(done.header("x-frame-options"), Some("sameorigin"));

    // Through the gateway (cookie) to the api-server, which verifies the token itself.
    let info = devops.get(&format!("{gw}/api/v1/session/userinfo")).await?;
    assert_eq!(info.json()?["loggedIn"], true, "{}", info.body);
    assert_eq!(
        info.json()?["groups"],
        serde_json::json!([oidc::ALICE_GROUP])
    );

    let developer = Browser::new()?;
    let callback = to_callback(&developer, &gw, oidc::BOB, |u| u).await?;
    assert_eq!(developer.get(&callback).await?.status, 303);

    // Exactly what the seed-style policy gives each group object ID.
    let table = [
        ("applications", "get", "default/guestbook", "yes", "yes"),
        ("applications", "sync", "default/guestbook", "yes", "yes"),
        ("applications", "delete", "default/guestbook", "yes", "no"),
        ("applications", "create", "default/guestbook", "yes", "no"),
        // role:readonly (policy.default) includes logs, as Argo CD's built-in policy does.
        ("logs", "get", "default/guestbook", "yes", "yes"),
        ("exec", "create", "default/guestbook", "no", "no"),
        (
            "clusters",
            "create",
            "https://kubernetes.default.svc",
            "yes",
            "no",
        ),
        (
            "clusters",
            "get",
            "https://kubernetes.default.svc",
            "yes",
            "yes",
        ),
        ("projects", "delete", "default", "yes", "no"),
        ("accounts", "update", "admin", "no", "no"),
    ];
    for (resource, action, object, alice, bob) in table {
        assert_eq!(
            can_i(&devops, &gw, resource, action, object).await?,
            alice,
            "alice {resource} {action}"
        );
        assert_eq!(
            can_i(&developer, &gw, resource, action, object).await?,
            bob,
            "bob {resource} {action}"
        );
    }
    // And real calls agree: bob cannot create a project, alice can.
    let project = r#"{"project":{"metadata":{"name":"team-a"},"spec":{"destinations":[{"server":"*","namespace":"*"}],"sourceRepos":["*"]}}}"#;
    let origin = [
        ("origin", gw.as_str()),
        ("content-type", "application/json"),
    ];
    let denied = developer
        .request(
            reqwest::Method::POST,
            &format!("{gw}/api/v1/projects"),
            &origin,
            Some(project.into()),
        )
        .await?;
    assert_eq!(denied.status, 403, "{}", denied.body);
    let created = devops
        .request(
            reqwest::Method::POST,
            &format!("{gw}/api/v1/projects"),
            &origin,
            Some(project.into()),
        )
        .await?;
    assert_eq!(created.status, 200, "{}", created.body);

    // A cookie-authenticated change from another site is refused before the api-server.
    let forged = devops
        .request(
            reqwest::Method::DELETE,
            &format!("{gw}/api/v1/projects/team-a"),
            &[("origin", "https://evil.example.com")],
            None,
        )
        .await?;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(
        forged.body.contains("cross-site request refused"),
        "{}",
        forged.body
    );
    let no_origin = devops
        .request(
            reqwest::Method::DELETE,
            &format!("{gw}/api/v1/projects/team-a"),
            &[],
            None,
        )
        .await?;
    assert_eq!(no_origin.status, 403, "{}", no_origin.body);
    stack.kubectl(&["-n", &stack.control.name, "get", "appproject", "team-a"])?;

    let metrics = stack.metrics();
    assert!(
        metrics.contains("argocd_login_request_total{status=\"success\"} 2"),
        "{metrics}"
    );
    drop(idp);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_callbacks_are_refused_with_the_reason() -> anyhow::Result<()> {
    let (stack, idp) = sso_stack().await?;
    let gw = stack.gw().url();

    // A callback whose state is not the one this browser started with.
    let b = Browser::new()?;
    let callback = to_callback(&b, &gw, oidc::ALICE, |u| u).await?;
    let r = b
        .get(&with_param(&callback, "state", "someone-elses-state"))
        .await?;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("login state mismatch"), "{}", r.body);

    // Replays: the same callback again (state used up), and the used code under a fresh state.
    let b = Browser::new()?;
    let first = to_callback(&b, &gw, oidc::ALICE, |u| u).await?;
    assert_eq!(b.get(&first).await?.status, 303);
    let state = param(&first, "state");
    b.add_cookie(
        &gw,
        &format!("capstan.oauthstate={state}; Path=/auth/callback"),
    )?;
    let again = b.get(&first).await?;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(
        again.body.contains("unknown or already used login state"),
        "{}",
        again.body
    );
    let code = param(&first, "code");
    let fresh = to_callback(&b, &gw, oidc::ALICE, |u| u).await?;
    let fresh_state = param(&fresh, "state");
    let replayed = b
        .get(&format!(
            "{gw}/auth/callback?code={code}&state={fresh_state}"
        ))
        .await?;
    assert_eq!(replayed.status, 401, "{}", replayed.body);
    assert!(replayed.body.contains("invalid_grant"), "{}", replayed.body);
    assert!(replayed.body.contains("single-use"), "{}", replayed.body);

    // An ID token carrying another login's nonce (the authorize request was tampered with).
    let b = Browser::new()?;
    let callback = to_callback(&b, &gw, oidc::ALICE, |u| {
        with_param(&u, "nonce", "forged-nonce")
    })
    .await?;
    let r = b.get(&callback).await?;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("the ID token was rejected"), "{}", r.body);
    assert!(r.body.to_lowercase().contains("nonce"), "{}", r.body);
    assert!(r.set_cookie("argocd.token").is_none());

    // The provider's own refusal is passed on.
    let r = b
        .get(&format!(
            "{gw}/auth/callback?error=access_denied&error_description=User+cancelled&state=x"
        ))
        .await?;
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("access_denied: User cancelled"),
        "{}",
        r.body
    );

    // No open redirect.
    for evil in [
        "https://evil.example.com/",
        "//evil.example.com/x",
        "/\\evil.example.com",
    ] {
        let r = b
            .get(&format!(
                "{gw}/auth/login?return_url={}",
                url::form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
            ))
            .await?;
        assert_eq!(r.status, 400, "{evil}: {}", r.body);
        assert!(r.body.contains("only same-origin paths"), "{}", r.body);
    }

    // ID tokens for the token exchange (the CLI's path): another client's token, and another
    // tenant's, both real tokens from real providers.
    let other_client = real_id_token(
        &idp,
        &format!("{gw}/auth/callback"),
        &format!("{}-post", oidc::DEFAULT_CLIENT_ID),
    )
    .await?;
    let r = exchange(&gw, &other_client).await?;
    assert_eq!(r.0, 401, "{}", r.1);
    assert!(r.1.contains("audience"), "{}", r.1);
    let other_tenant = Idp::start(IdpOptions {
        redirect_uris: vec![format!("{gw}/auth/callback")],
        tenant: Some("0ther000-0000-4000-8000-000000000009".into()),
        ..Default::default()
    })?;
    let foreign = real_id_token(
        &other_tenant,
        &format!("{gw}/auth/callback"),
        oidc::DEFAULT_CLIENT_ID,
    )
    .await?;
    let r = exchange(&gw, &foreign).await?;
    assert_eq!(r.0, 401, "{}", r.1);
    assert!(r.1.contains("not by the configured issuer"), "{}", r.1);
    let good = real_id_token(
        &idp,
        &format!("{gw}/auth/callback"),
        oidc::DEFAULT_CLIENT_ID,
    )
    .await?;
    let r = exchange(&gw, &good).await?;
    assert_eq!(r.0, 200, "{}", r.1);
    Ok(())
}

/// An ID token from `idp` for `client_id`, obtained the way a client would (code + PKCE).
async fn real_id_token(idp: &Idp, redirect_uri: &str, client_id: &str) -> anyhow::Result<String> {
    let b = Browser::new()?;
    let (verifier, challenge) = oidc::pkce_pair();
    let mut url = url::Url::parse(&idp.authorization_endpoint())?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let callback = b.follow_until(url.as_str(), redirect_uri).await?;
    let code = param(&callback, "code");
    let response: Value = reqwest::Client::new()
        .post(idp.token_endpoint())
        .basic_auth(client_id, Some(&idp.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(response["id_token"]
        .as_str()
        .expect("an id_token")
        .to_owned())
}

async fn exchange(gw: &str, id_token: &str) -> anyhow::Result<(u16, String)> {
    let r = reqwest::Client::new()
        .post(format!("{gw}/api/v1/session"))
        .json(&serde_json::json!({ "token": id_token }))
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

async fn password_login(gw: &str, user: &str, password: &str) -> anyhow::Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .post(format!("{gw}/api/v1/session"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

async fn userinfo(stack: &Stack, token: &str) -> anyhow::Result<(u16, String)> {
    // userinfo answers `loggedIn: false` for a refused token (as Argo CD); a list call shows
    // the 401 and its reason.
    let (status, body) = stack.curl("GET", "/api/v1/session/userinfo", Some(token), None)?;
    if status == 200 && body.contains(r#""loggedIn":false"#) {
        return stack.curl("GET", "/api/v1/projects", Some(token), None);
    }
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_login_rate_limit_and_logout() -> anyhow::Result<()> {
    let alice_hash =
        capstan_tokens::accounts::hash_password("alice-password").map_err(anyhow::Error::msg)?;
    let stack = Stack::start(StackOptions {
        cm: BTreeMap::from([("accounts.alice".into(), "login".into())]),
        secret: Some(BTreeMap::from([(
            "accounts.alice.password".into(),
            alice_hash,
        )])),
        no_controller: true,
        gateway: true,
        ..Default::default()
    })
    .await?;
    let gw = stack.gw().url();
    let password = stack.initial_password()?;
    assert_eq!(password.len(), 16);

    // Argo CD's session API, through the front door.
    let (status, body) = password_login(&gw, "admin", &password).await?;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&token)["sub"], "admin:login");
    let (status, info) = userinfo(&stack, &token).await?;
    assert_eq!(status, 200, "{info}");
    assert!(info.contains(r#""username":"admin""#), "{info}");

    // Watch streams pass the proxy as they are produced, not when they end.
    let app = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: streamed\n  namespace: {}\nspec:\n  project: default\n  source:\n    repoURL: https://git.example.com/x.git\n    path: x\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: x\n",
        stack.control.name
    );
    stack.apply(&app)?;
    let mut stream = reqwest::Client::new()
        .get(format!("{gw}/api/v1/stream/applications?name=streamed"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("the first event arrives while the stream is open")?
        .expect("a chunk");
    let first = String::from_utf8_lossy(&first);
    assert!(first.contains(r#""type":"ADDED""#), "{first}");
    drop(stream);

    // gRPC-web through the front door: HTTP/1.1, the trailers in the body.
    let (reply, trailers) = grpc_web_call(
        &gw,
        "/capstan.account.v1.AccountService/CanI",
        &token,
        &capstan_proto::account::v1::CanIRequest {
            resource: "applications".into(),
            action: "delete".into(),
            subresource: "default/guestbook".into(),
        },
    )
    .await?;
    let reply = <capstan_proto::account::v1::CanIResponse as prost::Message>::decode(&reply[..])?;
    assert_eq!(reply.value, "yes");
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // The CLI logs in with a password over gRPC through the gateway's proxy.
    let config = tempfile::tempdir()?;
    let cli = std::process::Command::new(support::capstan_bin()?)
        .env("CAPSTAN_CONFIG", config.path().join("config"))
        .args([
            "login",
            &stack.gw().addr.to_string(),
            "--plaintext",
            "--username",
            "admin",
            "--password",
            &password,
        ])
        .output()?;
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        String::from_utf8_lossy(&cli.stdout).contains("admin"),
        "{}",
        String::from_utf8_lossy(&cli.stdout)
    );

    // Five wrong passwords for alice, then even the right one is refused for a while.
    for i in 0..5 {
        let (status, body) = password_login(&gw, "alice", "wrong").await?;
        assert_eq!(status, 401, "attempt {i}: {body}");
        assert_eq!(body["error"], "Invalid username or password");
    }
    let (status, body) = password_login(&gw, "alice", "alice-password").await?;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("too many failed login attempts"),
        "{body}"
    );
    // Other users are not locked out by alice's failures.
    assert_eq!(password_login(&gw, "admin", &password).await?.0, 200);
    let metrics = stack.metrics();
    assert!(
        metrics.contains("argocd_login_request_total{status=\"failure\"} 6"),
        "{metrics}"
    );

    // Logout revokes the session for every component.
    let r = reqwest::Client::new()
        .delete(format!("{gw}/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let (status, body) = userinfo(&stack, &token).await?;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    let verify = stack
        .gw()
        .auth()
        .await?
        .verify_token(capstan_proto::auth::v1::VerifyTokenRequest {
            token: token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(verify.code(), tonic::Code::Unauthenticated);
    assert!(verify.message().contains("revoked"), "{}", verify.message());

    // Password change with the CLI (its session is from before): the old password and the
    // sessions issued before the change stop working. Sessions count from whole seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cli = |args: &[&str]| {
        std::process::Command::new(support::capstan_bin().unwrap())
            .env("CAPSTAN_CONFIG", config.path().join("config"))
            .args(args)
            .output()
            .unwrap()
    };
    let short = cli(&[
        "account",
        "update-password",
        "--current-password",
        &password,
        "--new-password",
        "short",
    ]);
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );
    let changed = cli(&[
        "account",
        "update-password",
        "--current-password",
        &password,
        "--new-password",
        "n3w-passw0rd",
    ]);
    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    let me = cli(&["account", "get-user-info"]);
    assert_eq!(
        String::from_utf8_lossy(&me.stdout).trim(),
        "Logged In: false"
    );
    assert_eq!(password_login(&gw, "admin", &password).await?.0, 401);
    assert_eq!(password_login(&gw, "admin", "n3w-passw0rd").await?.0, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_rotation_and_api_token_revocation() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        cm: BTreeMap::from([("accounts.ci".into(), "apiKey".into())]),
        no_controller: true,
        gateway: true,
        ..Default::default()
    })
    .await?;
    let gw = stack.gw().url();
    let password = stack.initial_password()?;
    let (_, body) = password_login(&gw, "admin", &password).await?;
    let old_session = body["token"].as_str().unwrap().to_owned();
    let old_kid = header_kid(&old_session);

    // An API token for `ci`, through the api-server's AccountService (admin may update it).
    let mut accounts =
        capstan_proto::account::v1::account_service_client::AccountServiceClient::new(
            stack.channel().await?,
        );
    let mut request = tonic::Request::new(capstan_proto::account::v1::CreateTokenRequest {
        name: "ci".into(),
        expires_in: 3600,
        id: String::new(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {old_session}").parse()?);
    let api_token = accounts.create_token(request).await?.into_inner().token;
    let (status, info) = userinfo(&stack, &api_token).await?;
    assert_eq!(status, 200, "{info}");
    assert!(info.contains(r#""username":"ci""#), "{info}");
    let jti = claims_of(&api_token)["jti"].as_str().unwrap().to_owned();
    let recorded = stack.kubectl(&[
        "-n",
        &stack.control.name,
        "get",
        "secret",
        "argocd-secret",
        "-o",
        "jsonpath={.data.accounts\\.ci\\.tokens}",
    ])?;
    use base64::Engine as _;
    let recorded =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(recorded.trim())?)?;
    assert!(recorded.contains(&jti), "{recorded}");

    // The admin itself has no apiKey capability (Argo CD's default); `accounts.admin: apiKey`
    // in argocd-cm adds it, with login kept.
    let refused = create_token(&stack, &old_session, "admin")
        .await
        .expect_err("admin without apiKey");
    assert!(
        refused
            .message()
            .contains("does not have the apiKey capability"),
        "{refused:?}"
    );
    stack.kubectl(&[
        "-n",
        &stack.control.name,
        "patch",
        "configmap",
        "argocd-cm",
        "--type=merge",
        "-p",
        r#"{"data":{"accounts.admin":"apiKey"}}"#,
    ])?;
    let admin_token = capstan_e2e::eventually(
        Duration::from_secs(20),
        "an API token for the admin once accounts.admin has apiKey",
        || async { Ok(create_token(&stack, &old_session, "admin").await.ok()) },
    )
    .await?;
    let (status, info) = userinfo(&stack, &admin_token).await?;
    assert_eq!(status, 200, "{info}");
    assert!(info.contains(r#""username":"admin""#), "{info}");
    assert_eq!(
        password_login(&gw, "admin", &password).await?.0,
        200,
        "login stays"
    );

    // Rotate: new sessions are signed by the new key, the old session still works.
    let new_kid = capstan_kube::signing_keys::rotate(
        &stack.env.kube_client().await?,
        &stack.control.name,
        &[],
    )
    .await?;
    assert_ne!(new_kid, old_kid);
    let mut settings = stack.gw().state.settings.clone();
    tokio::time::timeout(
        Duration::from_secs(20),
        settings.wait_for(|s| s.keys.as_ref().is_some_and(|k| k.active_kid() == new_kid)),
    )
    .await??;
    let mut api_settings = stack.api.settings.clone();
    tokio::time::timeout(
        Duration::from_secs(20),
        api_settings.wait_for(|s| s.keys.as_ref().is_some_and(|k| k.active_kid() == new_kid)),
    )
    .await??;
    let (_, body) = password_login(&gw, "admin", &password).await?;
    let new_session = body["token"].as_str().unwrap().to_owned();
    assert_eq!(header_kid(&new_session), new_kid);
    assert_eq!(
        userinfo(&stack, &old_session).await?.0,
        200,
        "signed by the previous key, not expired"
    );
    assert_eq!(userinfo(&stack, &new_session).await?.0, 200);
    assert_eq!(userinfo(&stack, &api_token).await?.0, 200);

    // Retiring the old key ends what it signed.
    capstan_kube::signing_keys::rotate(
        &stack.env.kube_client().await?,
        &stack.control.name,
        std::slice::from_ref(&old_kid),
    )
    .await?;
    tokio::time::timeout(
        Duration::from_secs(20),
        api_settings.wait_for(|s| s.keys.as_ref().is_some_and(|k| k.get(&old_kid).is_none())),
    )
    .await??;
    let (status, body) = userinfo(&stack, &old_session).await?;
    assert_eq!(status, 401, "{body}");

    // Deleting the API token ends it everywhere within seconds.
    let mut request = tonic::Request::new(capstan_proto::account::v1::DeleteTokenRequest {
        name: "ci".into(),
        id: jti.clone(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {new_session}").parse()?);
    let started = Instant::now();
    accounts.delete_token(request).await?;
    let mut auth = stack.gw().auth().await?;
    loop {
        let api_refuses = userinfo(&stack, &api_token).await?.0 == 401;
        let gw_refuses = auth
            .verify_token(capstan_proto::auth::v1::VerifyTokenRequest {
                token: api_token.clone(),
            })
            .await
            .is_err();
        if api_refuses && gw_refuses {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the deleted token still works"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "revoked API token refused everywhere after {:?}",
        started.elapsed()
    );
    // Durable too: the record is gone, so a Redis flush does not bring it back.
    tokio::time::timeout(
        Duration::from_secs(20),
        api_settings.wait_for(|s| {
            s.local_account("ci")
                .is_ok_and(|(_, secrets)| !secrets.has_token(&jti))
        }),
    )
    .await??;
    Ok(())
}

fn header_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_sso_login_through_the_gateway() -> anyhow::Result<()> {
    use std::io::BufRead as _;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let (stack, _idp) = sso_stack_with(Some(port), None).await?;
    let config = tempfile::tempdir()?;
    let config_file = config.path().join("config");
    let mut child = std::process::Command::new(support::capstan_bin()?)
        .env("CAPSTAN_CONFIG", &config_file)
        .args([
            "login",
            &stack.gw().addr.to_string(),
            "--plaintext",
            "--sso",
            "--sso-port",
            &port.to_string(),
            "--sso-launch-browser=false",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().unwrap();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    let reader = std::thread::spawn(move || {
        let mut url_tx = Some(url_tx);
        let mut seen = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.strip_prefix("Performing authorization_code flow login: ")
                && let Some(tx) = url_tx.take()
            {
                let _ = tx.send(url.to_owned());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let authorize = tokio::time::timeout(Duration::from_secs(30), url_rx).await??;
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(
        authorize.contains(&format!("client_id={}", oidc::DEFAULT_CLI_CLIENT_ID)),
        "{authorize}"
    );
    // The browser step: log in as bob at the provider, which redirects to the CLI's loopback.
    let browser = Browser::new()?;
    let callback = browser
        .follow_until(
            &format!("{authorize}&login_hint={}", oidc::BOB),
            &format!("http://localhost:{port}/auth/callback"),
        )
        .await?;
    let page = browser.get(&callback).await?;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Authentication successful"),
        "{}",
        page.body
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let stderr = reader.join().unwrap();
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("logged in successfully"), "{stdout}");

    // The stored token is a Capstan session carrying bob's group object ID.
    let saved = std::fs::read_to_string(&config_file)?;
    let token = saved
        .lines()
        .find_map(|l| l.trim().strip_prefix("auth-token:"))
        .map(|t| t.trim().trim_matches('"').to_owned())
        .expect("a saved token");
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], "capstan");
    assert_eq!(claims["groups"], serde_json::json!([oidc::BOB_GROUP]));
    // And it works for the CLI: bob (role:developer) may list applications.
    let list = std::process::Command::new(support::capstan_bin()?)
        .env("CAPSTAN_CONFIG", &config_file)
        .args(["app", "list"])
        .output()?;
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_admin_gets_no_initial_password() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        cm: BTreeMap::from([("admin.enabled".into(), "false".into())]),
        no_controller: true,
        gateway: true,
        ..Default::default()
    })
    .await?;
    let missing = stack.kubectl(&[
        "-n",
        &stack.control.name,
        "get",
        "secret",
        "argocd-initial-admin-secret",
    ]);
    assert!(missing.is_err(), "{missing:?}");
    let (status, body) = password_login(&stack.gw().url(), "admin", "anything").await?;
    assert_eq!(status, 401, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_in_many_groups_gets_a_split_session_cookie() -> anyhow::Result<()> {
    // 150 group object IDs: a token of about 9 KB, more than one cookie holds.
    let groups: Vec<String> = (0..150)
        .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
        .collect();
    let users = serde_json::json!({
        "carol": {"email": "carol@contoso.test", "name": "Carol", "groups": groups},
    });
    let (stack, _idp) = sso_stack_with(None, Some(users)).await?;
    let gw = stack.gw().url();
    let b = Browser::new()?;
    let callback = to_callback(&b, &gw, "carol", |u| u).await?;
    let done = b.get(&callback).await?;
    assert_eq!(done.status, 303, "{}", done.body);
    let names: Vec<String> = done
        .set_cookies
        .iter()
        .filter_map(|c| c.split('=').next().map(str::to_owned))
        .filter(|n| n.starts_with("argocd.token"))
        .collect();
    assert!(names.len() >= 3, "{names:?}");
    assert!(
        done.set_cookies.iter().all(|c| c.len() <= 4093),
        "a cookie over 4 KB"
    );
    // The api-server, behind the gateway, joins the chunks.
    let info = b.get(&format!("{gw}/api/v1/session/userinfo")).await?;
    let info = info.json()?;
    assert_eq!(info["loggedIn"], true, "{info}");
    assert_eq!(info["groups"].as_array().map(Vec::len), Some(150));
    // Logout clears every chunk.
    let out = b.get(&format!("{gw}/auth/logout")).await?;
    let cleared = out
        .set_cookies
        .iter()
        .filter(|c| c.starts_with("argocd.token") && c.contains("Max-Age=0"))
        .count();
    assert_eq!(cleared, names.len(), "{:?}", out.set_cookies);
    Ok(())
}

/// An API token for local account `name` through the api-server's AccountService, as
/// `session`'s user.
async fn create_token(stack: &Stack, session: &str, name: &str) -> Result<String, tonic::Status> {
    let channel = stack
        .channel()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut accounts =
        capstan_proto::account::v1::account_service_client::AccountServiceClient::new(channel);
    let mut request = tonic::Request::new(capstan_proto::account::v1::CreateTokenRequest {
        name: name.into(),
        expires_in: 3600,
        id: String::new(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {session}")
            .parse()
            .map_err(|_| tonic::Status::invalid_argument("session"))?,
    );
    Ok(accounts.create_token(request).await?.into_inner().token)
}
