//! ID-token verification against tokens signed here with test keys: each way a token can be
//! wrong is rejected with a message that says which.

use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AdditionalClaims, Audience, EndUserEmail, IdToken, IdTokenClaims, IssuerUrl, JsonWebKeyId,
    JsonWebKeySet, Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};

use super::*;

const IDP_KEY: &str = include_str!("../testdata/idp-rsa.pem");
const OTHER_KEY: &str = include_str!("../testdata/other-rsa.pem");
const ISSUER: &str = "https://login.microsoftonline.com/72f988bf-0000-4000-8000-000000000001/v2.0";
const CLIENT: &str = "capstan";
const CLI_CLIENT: &str = "capstan-cli";
const NOW: i64 = 1_790_000_000;
const GROUP: &str = "a1a1a1a1-0000-4000-8000-000000000001";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct GroupsClaim {
    groups: Vec<String>,
}
impl AdditionalClaims for GroupsClaim {}

type TestIdToken = IdToken<
    GroupsClaim,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

struct Spec {
    issuer: &'static str,
    audience: &'static str,
    issued: i64,
    expires: i64,
    nonce: &'static str,
    key: &'static str,
    kid: &'static str,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            issuer: ISSUER,
            audience: CLIENT,
            issued: NOW - 10,
            expires: NOW + 3600,
            nonce: "n-123",
            key: IDP_KEY,
            kid: "idp-1",
        }
    }
}

fn at(unix: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(unix, 0).unwrap()
}

fn sign(spec: &Spec) -> String {
    let key =
        CoreRsaPrivateSigningKey::from_pem(spec.key, Some(JsonWebKeyId::new(spec.kid.into())))
            .unwrap();
    let claims = IdTokenClaims::new(
        IssuerUrl::new(spec.issuer.into()).unwrap(),
        vec![Audience::new(spec.audience.into())],
        at(spec.expires),
        at(spec.issued),
        StandardClaims::new(SubjectIdentifier::new("alice-oid".into()))
            .set_email(Some(EndUserEmail::new("alice@contoso.test".into()))),
        GroupsClaim {
            groups: vec![GROUP.into()],
        },
    )
    .set_nonce(Some(Nonce::new(spec.nonce.into())));
    TestIdToken::new(
        claims,
        &key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap()
    .to_string()
}

fn jwks() -> JsonWebKeySet<CoreJsonWebKey> {
    let key = CoreRsaPrivateSigningKey::from_pem(IDP_KEY, Some(JsonWebKeyId::new("idp-1".into())))
        .unwrap();
    JsonWebKeySet::new(vec![key.as_verification_key()])
}

fn verify(token: &str, nonce: Option<&str>) -> Result<Map<String, Value>, String> {
    verify_id_token(
        token,
        ISSUER,
        &jwks(),
        &[CLIENT.to_owned(), CLI_CLIENT.to_owned()],
        nonce,
        NOW,
    )
    .map_err(|e| e.to_string())
}

fn b64(json: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn a_good_token_yields_its_claims() {
    let claims = verify(&sign(&Spec::default()), Some("n-123")).unwrap();
    assert_eq!(claims["sub"], "alice-oid");
    assert_eq!(claims["groups"], serde_json::json!([GROUP]));
    assert_eq!(
        display_email(&claims).as_deref(),
        Some("alice@contoso.test")
    );
    // The CLI's client is an accepted audience too (its login is exchanged for a session).
    let cli = sign(&Spec {
        audience: CLI_CLIENT,
        ..Spec::default()
    });
    assert!(verify(&cli, None).is_ok());
}

#[test]
fn bad_tokens_are_rejected_with_the_reason() {
    let header_none = b64(r#"{"alg":"none","typ":"JWT"}"#);
    let good = sign(&Spec::default());
    let payload = good.split('.').nth(1).unwrap();
    let hmac_header = b64(r#"{"alg":"HS256","typ":"JWT","kid":"idp-1"}"#);
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        (
            "another issuer",
            sign(&Spec {
                issuer: "https://login.microsoftonline.com/other-tenant/v2.0",
                ..Spec::default()
            }),
            Some("n-123"),
            "issuer",
        ),
        (
            "another audience",
            sign(&Spec {
                audience: "someone-elses-app",
                ..Spec::default()
            }),
            Some("n-123"),
            "audience",
        ),
        (
            "expired",
            sign(&Spec {
                issued: NOW - 7200,
                expires: NOW - 3600,
                ..Spec::default()
            }),
            Some("n-123"),
            "expired",
        ),
        (
            "signed by another key under the provider's key id",
            sign(&Spec {
                key: OTHER_KEY,
                ..Spec::default()
            }),
            Some("n-123"),
            "ignature",
        ),
        (
            "signed by a key the provider does not publish",
            sign(&Spec {
                key: OTHER_KEY,
                kid: "attacker",
                ..Spec::default()
            }),
            Some("n-123"),
            "key",
        ),
        (
            "alg none",
            format!("{header_none}.{payload}."),
            Some("n-123"),
            "",
        ),
        (
            "HMAC with the public key as secret",
            format!("{hmac_header}.{payload}.{}", b64("forged")),
            Some("n-123"),
            "",
        ),
        (
            "another login's nonce",
            sign(&Spec::default()),
            Some("n-456"),
            "nonce",
        ),
        ("garbage", "not.a.token".to_owned(), None, ""),
    ];
    for (what, token, nonce, needle) in cases {
        let err = verify(&token, nonce).expect_err(what);
        assert!(
            err.starts_with("the ID token was rejected: "),
            "{what}: {err}"
        );
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "{what}: {err:?} should mention {needle:?}"
        );
        assert!(
            !err.contains(&token),
            "{what}: the message echoes the token"
        );
    }
}

#[test]
fn overage_is_detected() {
    let cases = [
        (serde_json::json!({"groups": ["g"]}), false),
        (serde_json::json!({}), false),
        (
            serde_json::json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/x"}}}),
            true,
        ),
        (serde_json::json!({"hasgroups": true}), true),
    ];
    for (claims, want) in cases {
        assert_eq!(
            groups_overage(claims.as_object().unwrap()),
            want,
            "{claims}"
        );
    }
}

#[test]
fn scopes_default_and_keep_openid() {
    assert_eq!(scopes(&[]), ["openid", "profile", "email"]);
    assert_eq!(
        scopes(&["profile".to_owned(), "groups".to_owned()]),
        ["openid", "profile", "groups"]
    );
    assert_eq!(scopes(&["openid".to_owned()]), ["openid"]);
}

#[test]
fn provider_errors_are_explained() {
    assert_eq!(
        describe_error("invalid_grant", Some("grant request is invalid")),
        "invalid_grant: grant request is invalid (authorization codes are single-use and \
         expire within minutes: start the login again)"
    );
    assert_eq!(
        describe_error("access_denied", Some("line\nbreak")),
        "access_denied: line break"
    );
}

#[test]
fn authorize_url_carries_pkce_state_nonce_and_azure_hints() {
    let provider = Provider {
        issuer: ISSUER.into(),
        authorization_endpoint: format!("{ISSUER}/oauth2/v2.0/authorize"),
        token_endpoint: format!("{ISSUER}/oauth2/v2.0/token"),
        end_session_endpoint: None,
        jwks: jwks(),
        fetched: Instant::now(),
    };
    let settings = OidcSettings {
        config: serde_yaml_ng::from_str(
            "issuer: x\nclientID: capstan\ndomainHint: contoso.com\nrequestedIDTokenClaims:\n  groups:\n    essential: true\n",
        )
        .unwrap(),
        client_secret: None,
    };
    let url = authorize_url(
        &provider,
        &settings,
        "https://cd.example.com/auth/callback",
        "st",
        "no",
        "ch",
    )
    .unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    let q: std::collections::BTreeMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "capstan");
    assert_eq!(q["redirect_uri"], "https://cd.example.com/auth/callback");
    assert_eq!(q["scope"], "openid profile email");
    assert_eq!((q["state"].as_str(), q["nonce"].as_str()), ("st", "no"));
    assert_eq!(q["code_challenge"], "ch");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["domain_hint"], "contoso.com");
    assert_eq!(q["claims"], r#"{"id_token":{"groups":{"essential":true}}}"#);
}

#[test]
fn client_authentication() {
    let mut settings = OidcSettings {
        config: OidcConfig::default(),
        client_secret: Some("s".into()),
    };
    assert_eq!(
        client_auth(&settings).unwrap(),
        ClientAuth::Basic("s".into())
    );
    settings.client_secret = None;
    assert_eq!(client_auth(&settings).unwrap(), ClientAuth::None);
    settings.config.azure = Some(capstan_types::settings::AzureOidcConfig {
        use_workload_identity: Some(true),
        ..Default::default()
    });
    // The test process has no projected token: the error says what to check.
    let err = client_auth(&settings).unwrap_err().to_string();
    assert!(err.contains("AZURE_FEDERATED_TOKEN_FILE"), "{err}");
    assert_eq!(form_encode("a b:c"), "a+b%3Ac");
}
