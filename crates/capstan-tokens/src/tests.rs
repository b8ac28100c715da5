//! Unit tests: the security requirements, round trips and known answers.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::*;

const NOW: i64 = 1_790_000_000;
const HOUR: Duration = Duration::from_secs(3600);

/// RFC 8032 §7.1 test 1 / RFC 8037 appendix A.1 private key (the seed).
const RFC_SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// RFC 8410 §10.3 example private key (PKCS#8 v1).
const RFC8410_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----
";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn pem_of_seed(seed: &[u8]) -> String {
    let mut der = hex("302e020100300506032b657004220420");
    der.extend_from_slice(seed);
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    )
}

fn rfc_key(kid: &str) -> SigningKey {
    SigningKey::from_pem(kid, pem_of_seed(&hex(RFC_SEED_HEX)).as_bytes()).unwrap()
}

fn session() -> Claims {
    Claims::new_session("alice", vec!["admins".into(), "devs".into()], NOW, HOUR)
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn header_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&segments(token)[0]).unwrap()).unwrap()
}

fn payload_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&segments(token)[1]).unwrap()).unwrap()
}

/// Signs arbitrary JSON claims with `key` under an arbitrary header.
fn sign_raw(header: &Header, claims: &serde_json::Value, key: &EncodingKey) -> String {
    crate::provider::ensure();
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn eddsa_header(kid: Option<&str>) -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = kid.map(str::to_owned);
    h
}

// ---------------------------------------------------------------- happy path

#[test]
fn signs_and_verifies_a_session_token() {
    let keys = KeySet::generate().unwrap();
    let claims = session();
    let token = keys.sign(&claims).unwrap();
    assert_eq!(
        header_of(&token),
        json!({"typ": "JWT", "alg": "EdDSA", "kid": keys.active_kid()})
    );
    assert_eq!(keys.verifier().verify(&token, NOW + 5).unwrap(), claims);
}

#[test]
fn generated_kid_is_the_rfc7638_thumbprint() {
    let key = SigningKey::generate().unwrap();
    assert_eq!(key.kid(), key.public().thumbprint());
    assert_eq!(key.kid().len(), 43);
    assert_ne!(key.kid(), SigningKey::generate().unwrap().kid());
}

/// RFC 8037 appendix A: the public key, its thumbprint, and the EdDSA
/// signature of `{"alg":"EdDSA"}`.`Example of Ed25519 signing`.
#[test]
fn rfc8037_known_answers() {
    let key = rfc_key("rfc");
    let jwk = key.public().to_jwk();
    assert_eq!(
        jwk.x.as_deref(),
        Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    );
    assert_eq!(
        key.public().thumbprint(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    crate::provider::ensure();
    let sig = jsonwebtoken::crypto::sign(
        b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
        key.encoding_key(),
        Algorithm::EdDSA,
    )
    .unwrap();
    assert_eq!(
        sig,
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
}

// --------------------------------------------------------- security checks

#[test]
fn tampered_payload_is_bad_signature() {
    let keys = KeySet::generate().unwrap();
    let token = keys.sign(&session()).unwrap();
    let mut payload = payload_of(&token);
    payload["sub"] = json!("admin");
    payload["groups"] = json!(["role:admin"]);
    let s = segments(&token);
    let forged = format!("{}.{}.{}", s[0], b64(&payload), s[2]);
    assert_eq!(
        keys.verifier().verify(&forged, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn tampered_signature_is_bad_signature() {
    let keys = KeySet::generate().unwrap();
    let token = keys.sign(&session()).unwrap();
    let s = segments(&token);
    let mut sig = URL_SAFE_NO_PAD.decode(&s[2]).unwrap();
    sig[10] ^= 1;
    let forged = format!("{}.{}.{}", s[0], s[1], URL_SAFE_NO_PAD.encode(&sig));
    assert_eq!(
        keys.verifier().verify(&forged, NOW),
        Err(TokenError::BadSignature)
    );
    // Empty or short signature.
    let forged = format!("{}.{}.", s[0], s[1]);
    assert_eq!(
        keys.verifier().verify(&forged, NOW),
        Err(TokenError::BadSignature)
    );
    let forged = format!("{}.{}.AAAA", s[0], s[1]);
    assert_eq!(
        keys.verifier().verify(&forged, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn token_of_a_foreign_key_is_unknown_key() {
    let ours = KeySet::generate().unwrap();
    let theirs = KeySet::generate().unwrap();
    let token = theirs.sign(&session()).unwrap();
    let err = ours.verifier().verify(&token, NOW).unwrap_err();
    assert_eq!(err, TokenError::UnknownKey(theirs.active_kid().to_owned()));
    assert_eq!(
        err.to_string(),
        format!("token signed by unknown key '{}'", theirs.active_kid())
    );
}

#[test]
fn foreign_key_under_our_kid_is_bad_signature() {
    let ours = KeySet::new(rfc_key("k1"));
    let impostor = SigningKey::from_pem("k1", pem_of_seed(&[7u8; 32]).as_bytes()).unwrap();
    let token = impostor.sign(&session()).unwrap();
    assert_eq!(
        ours.verifier().verify(&token, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn alg_none_is_unsupported() {
    let keys = KeySet::generate().unwrap();
    let payload = b64(&serde_json::to_value(session()).unwrap());
    for (header, alg) in [
        (json!({"alg": "none", "typ": "JWT"}), "none"),
        (
            json!({"alg": "none", "typ": "JWT", "kid": keys.active_kid()}),
            "none",
        ),
        (json!({"alg": "None"}), "None"),
        (json!({"alg": "NONE", "kid": keys.active_kid()}), "NONE"),
        (json!({"alg": "eddsa", "kid": keys.active_kid()}), "eddsa"),
    ] {
        let token = format!("{}.{payload}.", b64(&header));
        let err = keys.verifier().verify(&token, NOW).unwrap_err();
        assert_eq!(err, TokenError::UnsupportedAlgorithm(alg.to_owned()));
    }
    let token = format!("{}.{payload}.", b64(&json!({"alg": "none", "typ": "JWT"})));
    assert_eq!(
        keys.verifier().verify(&token, NOW).unwrap_err().to_string(),
        "unsupported token algorithm 'none': Capstan tokens are signed with EdDSA"
    );
}

/// The classic algorithm confusion: an HS256 token whose HMAC secret is
/// the (public) verification key, in every encoding an attacker might try.
#[test]
fn hs256_keyed_with_the_public_key_is_rejected() {
    let keys = KeySet::generate().unwrap();
    let public = keys.active().public();
    let jwk_x = public.to_jwk().x.unwrap();
    let secrets: Vec<Vec<u8>> = vec![
        public.as_bytes().to_vec(),
        jwk_x.clone().into_bytes(),
        public.to_pem().into_bytes(),
    ];
    let claims = serde_json::to_value(session()).unwrap();
    for secret in &secrets {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some(keys.active_kid().to_owned());
            let token = sign_raw(&header, &claims, &EncodingKey::from_secret(secret));
            assert_eq!(
                keys.verifier().verify(&token, NOW),
                Err(TokenError::UnsupportedAlgorithm(format!("{alg:?}")))
            );
        }
    }
}

#[test]
fn header_alg_swapped_on_a_valid_token_is_rejected() {
    let keys = KeySet::generate().unwrap();
    let token = keys.sign(&session()).unwrap();
    let s = segments(&token);
    for alg in ["RS256", "ES256", "PS256", "HS256", "EdDSA "] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": keys.active_kid()});
        let forged = format!("{}.{}.{}", b64(&header), s[1], s[2]);
        assert_eq!(
            keys.verifier().verify(&forged, NOW),
            Err(TokenError::UnsupportedAlgorithm(alg.to_owned()))
        );
    }
}

/// Defence in depth: even without this crate's `alg` check, jsonwebtoken
/// refuses a token whose header `alg` does not fit the key type or the
/// allowed algorithms.
#[test]
fn jsonwebtoken_refuses_alg_that_does_not_fit_the_key() {
    crate::provider::ensure();
    let keys = KeySet::generate().unwrap();
    let public = keys.active().public();
    let ed_key = DecodingKey::from_ed_der(public.as_bytes());
    let claims = json!({"sub": "x", "exp": 4_000_000_000_i64});

    // HS256 token keyed with the public key bytes.
    let hs = sign_raw(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(public.as_bytes()),
    );
    let eddsa_only = Validation::new(Algorithm::EdDSA);
    let hs_allowed = Validation::new(Algorithm::HS256);
    let err = jsonwebtoken::decode::<serde_json::Value>(&hs, &ed_key, &eddsa_only).unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
    );
    // Even when a (misconfigured) validation allows HS256, an Ed25519 key
    // cannot be used as an HMAC secret.
    assert!(jsonwebtoken::decode::<serde_json::Value>(&hs, &ed_key, &hs_allowed).is_err());

    // A genuine EdDSA token under a validation that only allows HS256.
    let ed = sign_raw(
        &Header::new(Algorithm::EdDSA),
        &claims,
        keys.active().encoding_key(),
    );
    assert!(jsonwebtoken::decode::<serde_json::Value>(&ed, &ed_key, &hs_allowed).is_err());
    // ... and its header relabelled RS256 / ES256.
    let s = segments(&ed);
    for alg in ["RS256", "ES256"] {
        let forged = format!("{}.{}.{}", b64(&json!({"alg": alg})), s[1], s[2]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&forged, &ed_key, &eddsa_only).is_err());
    }
    // Sanity: the untouched token verifies.
    assert!(jsonwebtoken::decode::<serde_json::Value>(&ed, &ed_key, &eddsa_only).is_ok());
}

#[test]
fn missing_kid_is_rejected() {
    let keys = KeySet::generate().unwrap();
    let claims = serde_json::to_value(session()).unwrap();
    let token = sign_raw(&eddsa_header(None), &claims, keys.active().encoding_key());
    let err = keys.verifier().verify(&token, NOW).unwrap_err();
    assert_eq!(err, TokenError::MissingKeyId);
    assert_eq!(err.to_string(), "token header has no key id ('kid')");
}

#[test]
fn expired_token_is_rejected_after_the_leeway() {
    let keys = KeySet::generate().unwrap();
    let mut claims = session();
    claims.iat = 1_795_680_000;
    claims.nbf = Some(1_795_680_000);
    claims.exp = Some(1_795_687_200); // 2026-11-26T10:00:00Z
    let token = keys.sign(&claims).unwrap();
    let v = keys.verifier();
    assert!(v.verify(&token, 1_795_687_200 + 59).is_ok());
    let err = v.verify(&token, 1_795_687_200 + 60).unwrap_err();
    assert_eq!(err, TokenError::Expired { exp: 1_795_687_200 });
    assert_eq!(err.to_string(), "token expired at 2026-11-26T10:00:00Z");
    // Without leeway.
    let strict = keys.verifier().with_leeway(Duration::ZERO);
    assert!(strict.verify(&token, 1_795_687_199).is_ok());
    assert!(strict.verify(&token, 1_795_687_200).is_err());
}

#[test]
fn token_not_yet_valid_is_rejected() {
    let keys = KeySet::generate().unwrap();
    let mut claims = session();
    claims.iat = NOW;
    claims.nbf = Some(NOW + 3600);
    let token = keys.sign(&claims).unwrap();
    let err = keys.verifier().verify(&token, NOW).unwrap_err();
    assert_eq!(err, TokenError::NotYetValid { nbf: NOW + 3600 });
    assert!(err.to_string().starts_with("token is not valid before "));
    assert!(keys.verifier().verify(&token, NOW + 3600 - 60).is_ok());
}

#[test]
fn token_issued_in_the_future_is_rejected() {
    let keys = KeySet::generate().unwrap();
    let claims = Claims::new_session("alice", vec![], NOW + 600, HOUR);
    let token = keys.sign(&claims).unwrap();
    // nbf = iat = NOW + 600: nbf trips first.
    assert_eq!(
        keys.verifier().verify(&token, NOW),
        Err(TokenError::NotYetValid { nbf: NOW + 600 })
    );
    let mut claims = claims;
    claims.nbf = None;
    let token = keys.sign(&claims).unwrap();
    assert_eq!(
        keys.verifier().verify(&token, NOW),
        Err(TokenError::IssuedInFuture { iat: NOW + 600 })
    );
    // Within the leeway.
    assert!(keys.verifier().verify(&token, NOW + 541).is_ok());
}

#[test]
fn wrong_issuer_is_rejected() {
    let keys = KeySet::generate().unwrap();
    let mut claims = session();
    claims.iss = "argocd".into();
    let token = keys.sign(&claims).unwrap();
    let err = keys.verifier().verify(&token, NOW).unwrap_err();
    assert_eq!(
        err,
        TokenError::WrongIssuer {
            found: "argocd".into(),
            expected: "capstan".into()
        }
    );
    assert_eq!(err.to_string(), "token issuer 'argocd' is not 'capstan'");
    assert!(
        keys.verifier()
            .with_issuer("argocd")
            .verify(&token, NOW)
            .is_ok()
    );
}

#[test]
fn wrong_audience_is_rejected() {
    let keys = KeySet::generate().unwrap();
    let mut claims = session();
    claims.aud = Audience::from("x");
    let token = keys.sign(&claims).unwrap();
    let err = keys.verifier().verify(&token, NOW).unwrap_err();
    assert_eq!(err.to_string(), "token audience 'x' is not 'capstan'");

    claims.aud = Audience::new(["x", "y"]);
    let token = keys.sign(&claims).unwrap();
    let err = keys.verifier().verify(&token, NOW).unwrap_err();
    assert_eq!(err.to_string(), "token audience 'x, y' is not 'capstan'");
    assert!(
        keys.verifier()
            .with_audience("y")
            .verify(&token, NOW)
            .is_ok()
    );

    // One of several audiences is enough.
    claims.aud = Audience::new(["x", "capstan"]);
    let token = keys.sign(&claims).unwrap();
    assert!(keys.verifier().verify(&token, NOW).is_ok());
}

#[test]
fn garbage_is_malformed() {
    let keys = KeySet::generate().unwrap();
    let v = keys.verifier();
    let good = keys.sign(&session()).unwrap();
    let s = segments(&good);
    let cases = [
        String::new(),
        "garbage".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "!!!.###.$$$".to_owned(),
        format!("{}.{}", s[0], s[1]),
        format!("{}.{}.{}.", s[0], s[1], s[2]),
        format!("{}=.{}.{}", s[0], s[1], s[2]),
        format!("{}.{}!.{}", s[0], s[1], s[2]),
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("not json"), s[1], s[2]),
        format!("{}.{}.{}", b64(&json!(["EdDSA"])), s[1], s[2]),
        format!("{}.{}.{}", b64(&json!({"alg": 5})), s[1], s[2]),
        format!("{}.{}.{}", b64(&json!({"typ": "JWT"})), s[1], s[2]),
        format!("Bearer {good}"),
        "a".repeat(MAX_TOKEN_LEN + 1),
    ];
    for token in cases {
        let err = v.verify(&token, NOW).unwrap_err();
        assert!(
            matches!(err, TokenError::Malformed(_)),
            "{token:.40}: {err:?}"
        );
    }
}

#[test]
fn crit_and_foreign_typ_are_malformed() {
    let keys = KeySet::generate().unwrap();
    let claims = serde_json::to_value(session()).unwrap();
    let mut header = eddsa_header(Some(keys.active_kid()));
    header.crit = Some(vec!["exp".into()]);
    let token = sign_raw(&header, &claims, keys.active().encoding_key());
    assert!(matches!(
        keys.verifier().verify(&token, NOW),
        Err(TokenError::Malformed(m)) if m.contains("crit")
    ));
    let mut header = eddsa_header(Some(keys.active_kid()));
    header.typ = Some("at+jwt".into());
    let token = sign_raw(&header, &claims, keys.active().encoding_key());
    assert_eq!(
        keys.verifier().verify(&token, NOW),
        Err(TokenError::Malformed(
            "token type 'at+jwt' is not 'JWT'".into()
        ))
    );
    header.typ = None;
    let token = sign_raw(&header, &claims, keys.active().encoding_key());
    assert!(keys.verifier().verify(&token, NOW).is_ok());
}

#[test]
fn signed_payload_that_is_not_capstan_claims_is_malformed() {
    let keys = KeySet::generate().unwrap();
    let header = eddsa_header(Some(keys.active_kid()));
    for claims in [
        json!({"iss": "capstan", "sub": "a", "aud": "capstan", "iat": NOW}),
        json!({"iss": "capstan", "sub": "a", "aud": "capstan", "iat": "now", "jti": "j"}),
        json!(["not", "an", "object"]),
    ] {
        let token = sign_raw(&header, &claims, keys.active().encoding_key());
        assert!(matches!(
            keys.verifier().verify(&token, NOW),
            Err(TokenError::Malformed(_))
        ));
    }
}

#[test]
fn attacker_values_in_errors_are_shortened() {
    let keys = KeySet::generate().unwrap();
    let long_kid = "k".repeat(500);
    let header = b64(&json!({"alg": "EdDSA", "kid": format!("{long_kid}\n")}));
    let token = format!("{header}.e30.AAAA");
    let TokenError::UnknownKey(kid) = keys.verifier().verify(&token, NOW).unwrap_err() else {
        panic!("expected UnknownKey");
    };
    assert_eq!(kid.chars().count(), 65);
    assert!(!kid.contains('\n'));
}

// ------------------------------------------------------------ rotation

#[test]
fn rotated_set_signs_with_new_key_and_verifies_both() {
    let old = KeySet::generate().unwrap();
    let old_token = old.sign(&session()).unwrap();
    let rotated = old.clone().with_new_key().unwrap();
    assert_eq!(rotated.key_count(), 2);
    assert_ne!(rotated.active_kid(), old.active_kid());
    let new_token = rotated.sign(&session()).unwrap();
    assert_eq!(header_of(&new_token)["kid"], json!(rotated.active_kid()));

    let v = rotated.verifier();
    assert!(v.verify(&old_token, NOW).is_ok());
    assert!(v.verify(&new_token, NOW).is_ok());
    // A verifier that only knows the old key does not know the new one.
    assert_eq!(
        old.verifier().verify(&new_token, NOW),
        Err(TokenError::UnknownKey(rotated.active_kid().to_owned()))
    );
    // Through the Secret and the JWKS the same holds.
    let reread = KeySet::from_secret_data(&rotated.to_secret_data()).unwrap();
    assert_eq!(reread.active_kid(), rotated.active_kid());
    let v = Verifier::from_jwks(&reread.jwks()).unwrap();
    assert!(v.verify(&old_token, NOW).is_ok());
    assert!(v.verify(&new_token, NOW).is_ok());

    // Retiring the old key invalidates its tokens only.
    let retired = rotated.clone().without_key(old.active_kid()).unwrap();
    assert_eq!(
        retired.verifier().verify(&old_token, NOW),
        Err(TokenError::UnknownKey(old.active_kid().to_owned()))
    );
    assert!(retired.verifier().verify(&new_token, NOW).is_ok());
    // The active key cannot be retired.
    assert!(matches!(
        rotated.clone().without_key(rotated.active_kid()),
        Err(TokenError::InvalidKey { .. })
    ));
}

#[test]
fn with_key_refuses_a_different_key_under_a_used_kid() {
    let keys = KeySet::new(rfc_key("k1"));
    let other = SigningKey::from_pem("k1", pem_of_seed(&[9u8; 32]).as_bytes()).unwrap();
    assert!(matches!(
        keys.clone().with_key(other),
        Err(TokenError::InvalidKey { name, .. }) if name == "k1"
    ));
    // Re-adding the same key just activates it.
    let keys = keys
        .with_new_key()
        .unwrap()
        .with_key(rfc_key("k1"))
        .unwrap();
    assert_eq!(keys.active_kid(), "k1");
    assert_eq!(keys.key_count(), 2);
}

// ------------------------------------------------------------ Secret layout

#[test]
fn secret_data_layout_round_trips() {
    let keys = KeySet::new(rfc_key("2026-01"))
        .with_key(SigningKey::from_pem("2026-07", pem_of_seed(&[3u8; 32]).as_bytes()).unwrap())
        .unwrap();
    let data = keys.to_secret_data();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["2026-01.pem", "2026-07.pem", "active"]
    );
    assert_eq!(data["active"], b"2026-07");
    assert_eq!(
        data["2026-01.pem"],
        pem_of_seed(&hex(RFC_SEED_HEX)).into_bytes()
    );
    let reread = KeySet::from_secret_data(&data).unwrap();
    assert_eq!(reread.kids().collect::<Vec<_>>(), ["2026-01", "2026-07"]);
    assert_eq!(reread.jwks(), keys.jwks());
}

#[test]
fn secret_without_active_uses_the_greatest_kid() {
    let mut data = BTreeMap::new();
    data.insert(
        "2026-01.pem".to_owned(),
        pem_of_seed(&[1u8; 32]).into_bytes(),
    );
    data.insert(
        "2026-07.pem".to_owned(),
        pem_of_seed(&[2u8; 32]).into_bytes(),
    );
    assert_eq!(
        KeySet::from_secret_data(&data).unwrap().active_kid(),
        "2026-07"
    );
    data.insert("active".to_owned(), b" 2026-01\n".to_vec());
    assert_eq!(
        KeySet::from_secret_data(&data).unwrap().active_kid(),
        "2026-01"
    );
}

#[test]
fn secret_errors_name_the_offending_entry() {
    let good = pem_of_seed(&[1u8; 32]).into_bytes();
    type Entries = Vec<(&'static str, Vec<u8>)>;
    let cases: Vec<(Entries, TokenError)> = vec![
        (vec![], TokenError::NoKeys),
        (
            vec![("k1.pem", good.clone()), ("k2.pem", b"not a pem".to_vec())],
            TokenError::InvalidKey {
                name: "k2.pem".into(),
                reason: "no PEM block: expected '-----BEGIN PRIVATE KEY-----'".into(),
            },
        ),
        (
            vec![("k1.pem", good.clone()), ("k1.key", good.clone())],
            TokenError::InvalidKey {
                name: "k1.key".into(),
                reason: "unexpected entry: a token key Secret holds only '<kid>.pem' keys and \
                         'active'"
                    .into(),
            },
        ),
        (
            vec![("k1.pem", good.clone()), ("active", b"k9".to_vec())],
            TokenError::InvalidKey {
                name: "active".into(),
                reason: "names key 'k9' but there is no 'k9.pem'".into(),
            },
        ),
        (
            vec![(".pem", good.clone())],
            TokenError::InvalidKey {
                name: ".pem".into(),
                reason: "key id is empty".into(),
            },
        ),
        (
            vec![("active", b"k1".to_vec())],
            TokenError::InvalidKey {
                name: "active".into(),
                reason: "names key 'k1' but there is no 'k1.pem'".into(),
            },
        ),
    ];
    for (entries, want) in cases {
        let data: BTreeMap<String, Vec<u8>> = entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(KeySet::from_secret_data(&data).unwrap_err(), want);
    }
}

// ------------------------------------------------------------ PEM

#[test]
fn pem_round_trips() {
    let key = SigningKey::generate().unwrap();
    let pem = key.to_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
    let back = SigningKey::from_pem(key.kid(), pem.as_bytes()).unwrap();
    assert_eq!(back.public(), key.public());
    assert_eq!(back.to_pem(), pem);
    // A token signed by one verifies under the other.
    let token = back.sign(&session()).unwrap();
    assert!(KeySet::new(key).verifier().verify(&token, NOW).is_ok());
}

#[test]
fn reads_rfc8410_and_openssl_style_pems() {
    let key = SigningKey::from_pem("rfc8410", RFC8410_PEM.as_bytes()).unwrap();
    assert_eq!(
        key.public().to_pem(),
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
         -----END PUBLIC KEY-----\n"
    );
    // CRLF line ends, leading text and a wrapped body are fine.
    let crlf = format!("comment\r\n{}", RFC8410_PEM.replace('\n', "\r\n"));
    assert_eq!(
        SigningKey::from_pem("k", crlf.as_bytes())
            .unwrap()
            .public()
            .as_bytes(),
        key.public().as_bytes()
    );
    // PKCS#8 v2 (OneAsymmetricKey) with attributes and the public key.
    let mut v2 = hex("3072020101300506032b657004220420");
    v2.extend_from_slice(&hex(
        "d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842",
    ));
    v2.extend_from_slice(&hex(
        "a01f301d060a2a864886f70d01090914310f0c0d437572646c6520436861697273",
    ));
    v2.extend_from_slice(&hex("812100"));
    v2.extend_from_slice(key.public().as_bytes());
    let v2_pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(&v2)
    );
    assert_eq!(
        SigningKey::from_pem("v2", v2_pem.as_bytes())
            .unwrap()
            .public()
            .as_bytes(),
        key.public().as_bytes()
    );
    // ... whose public key must match.
    let last = v2.len() - 1;
    v2[last] ^= 1;
    let bad = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(&v2)
    );
    assert!(SigningKey::from_pem("v2", bad.as_bytes()).is_err());
}

#[test]
fn bad_pems_are_refused_with_reasons() {
    let x25519 = {
        let mut der = hex("302e020100300506032b656e04220420");
        der.extend_from_slice(&[5u8; 32]);
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        )
    };
    let two = format!("{RFC8410_PEM}{RFC8410_PEM}");
    let cases = [
        (
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n".to_owned(),
            "expected a PKCS#8 'PRIVATE KEY' PEM block, found 'RSA PRIVATE KEY'",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
                .to_owned(),
            "expected a PKCS#8 'PRIVATE KEY' PEM block, found 'OPENSSH PRIVATE KEY'",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n".to_owned(),
            "the PEM body is not valid base64",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQ\n".to_owned(),
            "the PEM block has no '-----END PRIVATE KEY-----' line",
        ),
        (
            x25519,
            "not an Ed25519 key (the algorithm is not id-Ed25519, 1.3.101.112)",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTu\n-----END PRIVATE KEY-----\n"
                .to_owned(),
            "the DER is truncated",
        ),
        (
            two,
            "more than one PEM block: expected exactly one private key",
        ),
    ];
    for (pem, reason) in cases {
        assert_eq!(
            SigningKey::from_pem("k", pem.as_bytes()).unwrap_err(),
            TokenError::InvalidKey {
                name: "k".into(),
                reason: reason.into()
            }
        );
    }
    assert!(matches!(
        SigningKey::from_pem("bad/kid", RFC8410_PEM.as_bytes()),
        Err(TokenError::InvalidKey { reason, .. }) if reason.contains("key id may only")
    ));
}

// ------------------------------------------------------------ JWKS

#[test]
fn jwks_round_trips_through_json() {
    let keys = KeySet::new(rfc_key("k1")).with_new_key().unwrap();
    let json = keys.jwks().to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let k1 = value["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "k1")
        .unwrap();
    assert_eq!(
        k1,
        &json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "kid": "k1",
            "use": "sig",
            "alg": "EdDSA"
        })
    );
    assert!(
        json.starts_with(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"#),
        "{json}"
    );
    let jwks = Jwks::from_json(json.as_bytes()).unwrap();
    assert_eq!(jwks, keys.jwks());
    let v = Verifier::from_jwks(&jwks).unwrap();
    assert_eq!(v.kids().count(), 2);
    let token = keys.sign(&session()).unwrap();
    assert_eq!(v.verify(&token, NOW).unwrap(), session_like(&token));
    assert_eq!(
        PublicKey::from_jwk(jwks.find("k1").unwrap()).unwrap(),
        rfc_key("k1").public()
    );
}

fn session_like(token: &str) -> Claims {
    serde_json::from_value(payload_of(token)).unwrap()
}

#[test]
fn jwks_skips_foreign_keys_and_refuses_bad_ed25519_keys() {
    let good = rfc_key("k1").public().to_jwk();
    let rsa: Jwk = serde_json::from_value(json!({
        "kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB", "use": "sig"
    }))
    .unwrap();
    let enc = Jwk {
        key_use: Some("enc".into()),
        kid: Some("e".into()),
        ..good.clone()
    };
    let v = Verifier::from_jwks(&Jwks {
        keys: vec![rsa.clone(), enc, good.clone()],
    })
    .unwrap();
    assert_eq!(v.kids().collect::<Vec<_>>(), ["k1"]);

    assert_eq!(
        Verifier::from_jwks(&Jwks { keys: vec![rsa] }).unwrap_err(),
        TokenError::NoKeys
    );
    assert_eq!(
        Verifier::from_jwks(&Jwks::default()).unwrap_err(),
        TokenError::NoKeys
    );

    let with_x = |x: &str| Jwk {
        x: Some(x.to_owned()),
        ..good.clone()
    };
    // Short x (jsonwebtoken would panic slicing it), long x, bad base64.
    for x in [
        URL_SAFE_NO_PAD.encode([1u8; 16]),
        URL_SAFE_NO_PAD.encode([1u8; 33]),
        "!!".to_owned(),
    ] {
        let jwks = Jwks {
            keys: vec![with_x(&x)],
        };
        assert!(matches!(
            Verifier::from_jwks(&jwks),
            Err(TokenError::InvalidKey { name, .. }) if name == "k1"
        ));
    }
    // The identity point: a weak key that would accept forged signatures.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let jwks = Jwks {
        keys: vec![with_x(&URL_SAFE_NO_PAD.encode(identity))],
    };
    assert!(matches!(
        Verifier::from_jwks(&jwks),
        Err(TokenError::InvalidKey { reason, .. }) if reason.contains("weak")
    ));
    // No kid.
    let jwks = Jwks {
        keys: vec![Jwk {
            kid: None,
            ..good.clone()
        }],
    };
    assert!(matches!(
        Verifier::from_jwks(&jwks),
        Err(TokenError::InvalidKey { .. })
    ));
    // Two different keys under one kid.
    let other = SigningKey::from_pem("k1", pem_of_seed(&[4u8; 32]).as_bytes())
        .unwrap()
        .public()
        .to_jwk();
    let jwks = Jwks {
        keys: vec![good.clone(), other],
    };
    assert!(matches!(
        Verifier::from_jwks(&jwks),
        Err(TokenError::InvalidKey { reason, .. }) if reason.contains("two different keys")
    ));
    // The same key twice is fine.
    assert!(
        Verifier::from_jwks(&Jwks {
            keys: vec![good.clone(), good]
        })
        .is_ok()
    );
}

// ------------------------------------------------------------ Debug hygiene

#[test]
fn debug_output_contains_no_key_material() {
    let seed = hex(RFC_SEED_HEX);
    let key = rfc_key("k1");
    let keys = KeySet::new(key.clone());
    let pem = key.to_pem();
    let pem_body = pem.lines().nth(1).unwrap().to_owned();
    let forbidden = [
        RFC_SEED_HEX.to_owned(),
        STANDARD.encode(&seed),
        URL_SAFE_NO_PAD.encode(&seed),
        format!("{:?}", seed),
        format!("{:?}", &seed[..8]),
        pem_body.clone(),
        pem_body[20..40].to_owned(),
    ];
    let outputs = [
        format!("{key:?}"),
        format!("{key:#?}"),
        format!("{keys:?}"),
        format!("{keys:#?}"),
        format!("{:?}", keys.verifier()),
        format!("{:?}", key.public()),
    ];
    for out in &outputs {
        assert!(out.contains("k1"), "{out}");
        for f in &forbidden {
            assert!(!out.contains(f.as_str()), "{out} contains key material");
        }
        // No byte arrays at all.
        assert!(!out.contains("[157, 97"), "{out}");
    }
    // Nor do errors about keys.
    let mut broken = pem.clone().into_bytes();
    broken.truncate(50);
    let err = SigningKey::from_pem("k1", &broken).unwrap_err();
    let msg = format!("{err} {err:?}");
    for f in &forbidden {
        assert!(!msg.contains(f.as_str()), "{msg}");
    }
}

#[test]
fn errors_do_not_echo_the_token() {
    let keys = KeySet::generate().unwrap();
    let token = keys.sign(&session()).unwrap();
    let s = segments(&token);
    let cases = [
        format!("{}.{}.{}x", s[0], s[1], s[2]),
        format!("{}.{}x.{}", s[0], s[1], s[2]),
        format!("{}.{}", s[1], s[2]),
    ];
    for bad in cases {
        let err = keys.verifier().verify(&bad, NOW).unwrap_err();
        let msg = format!("{err} {err:?}");
        for part in &s {
            assert!(!msg.contains(&part[..part.len().min(20)]), "{msg}");
        }
    }
}

// ------------------------------------------------------------ claims

#[test]
fn claims_serialize_as_argo_cd_does() {
    let mut claims = Claims::new_api_token("proj:guestbook:ci", "jti-1", NOW, None);
    claims.extra.insert("custom".into(), json!({"a": 1}));
    let value = serde_json::to_value(&claims).unwrap();
    assert_eq!(
        value,
        json!({
            "iss": "capstan",
            "sub": "proj:guestbook:ci",
            "aud": "capstan",
            "iat": NOW,
            "nbf": NOW,
            "jti": "jti-1",
            "custom": {"a": 1}
        })
    );
    let back: Claims = serde_json::from_value(value).unwrap();
    assert_eq!(back, claims);

    let mut session = session();
    session.aud = Audience::new(["capstan", "cli"]);
    session.email = Some("alice@example.com".into());
    let value = serde_json::to_value(&session).unwrap();
    assert_eq!(value["aud"], json!(["capstan", "cli"]));
    assert_eq!(value["groups"], json!(["admins", "devs"]));
    assert_eq!(value["exp"], json!(NOW + 3600));
    assert_eq!(value["email"], json!("alice@example.com"));
    assert_eq!(serde_json::from_value::<Claims>(value).unwrap(), session);

    // `groups` may arrive as a single string.
    let c: Claims = serde_json::from_value(json!({
        "iss": "capstan", "sub": "a", "aud": ["capstan"], "iat": 1, "jti": "j", "groups": "g"
    }))
    .unwrap();
    assert_eq!(c.groups, ["g"]);
    assert_eq!(c.aud.as_slice(), ["capstan"]);
}

#[test]
fn api_tokens_without_expiry_never_expire() {
    let keys = KeySet::generate().unwrap();
    for expires_in in [None, Some(Duration::ZERO)] {
        let claims = Claims::new_api_token("proj:p:r", "id", NOW, expires_in);
        assert_eq!(claims.exp, None);
        let token = keys.sign(&claims).unwrap();
        let got = keys
            .verifier()
            .verify(&token, NOW + 100 * 365 * 86_400)
            .unwrap();
        assert_eq!(got.project_role(), Some(("p", "r")));
    }
    let claims = Claims::new_api_token("proj:p:r", "id", NOW, Some(HOUR));
    assert_eq!(claims.exp, Some(NOW + 3600));
    let token = keys.sign(&claims).unwrap();
    assert!(matches!(
        keys.verifier().verify(&token, NOW + 7200),
        Err(TokenError::Expired { .. })
    ));
}

#[test]
fn project_role_parses_only_proj_subjects() {
    let mut claims = session();
    for (sub, want) in [
        ("proj:guestbook:ci", Some(("guestbook", "ci"))),
        ("proj::ci", None),
        ("proj:guestbook:", None),
        ("proj:guestbook", None),
        ("proj:a:b:c", None),
        ("alice", None),
        ("project:a:b", None),
    ] {
        claims.sub = sub.into();
        assert_eq!(claims.project_role(), want, "{sub}");
    }
    assert_eq!(project_role_subject("guestbook", "ci"), "proj:guestbook:ci");
}

#[test]
fn signing_refuses_registered_claims_in_extra() {
    let keys = KeySet::generate().unwrap();
    let mut claims = session();
    claims.extra.insert("sub".into(), json!("admin"));
    assert!(matches!(
        keys.sign(&claims),
        Err(TokenError::InvalidClaims(m)) if m.contains("'sub'")
    ));
}

#[test]
fn token_ids_look_like_uuid_v4() {
    let a = new_token_id();
    let b = new_token_id();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    let parts: Vec<&str> = a.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('4'));
    assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    assert!(
        a.bytes()
            .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
}

#[test]
fn session_claims_have_the_defaults() {
    let c = session();
    assert_eq!(c.iss, ISSUER);
    assert_eq!(c.aud, Audience::from(AUDIENCE));
    assert_eq!((c.iat, c.nbf, c.exp), (NOW, Some(NOW), Some(NOW + 3600)));
    assert_eq!(c.jti.len(), 36);
    assert_eq!(c.groups, ["admins", "devs"]);
}

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SigningKey>();
    assert_send_sync::<KeySet>();
    assert_send_sync::<Verifier>();
    assert_send_sync::<PublicKey>();
    assert_send_sync::<TokenError>();
}
