//! [`Verifier`]: checks a presented token.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::sanitize;
use crate::{
    ALGORITHM, AUDIENCE, Claims, DEFAULT_LEEWAY, ISSUER, Jwks, MAX_TOKEN_LEN, PublicKey,
    TokenError, provider,
};

/// Checks tokens: signature under one of its keys (chosen by the header's
/// `kid`), then issuer, audience and times.
///
/// Built from the JWKS the auth-gateway publishes ([`Verifier::from_jwks`])
/// or from a [`KeySet`](crate::KeySet) ([`KeySet::verifier`](crate::KeySet::verifier)).
/// It expects `iss` = [`ISSUER`] and an `aud` containing [`AUDIENCE`] unless
/// told otherwise, and allows [`DEFAULT_LEEWAY`] (60 s) of clock skew.
///
/// `Debug` shows the key ids, issuer, audience and leeway only.
#[derive(Clone)]
pub struct Verifier {
    keys: BTreeMap<String, DecodingKey>,
    issuer: String,
    audience: String,
    leeway_secs: i64,
    validation: Validation,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

/// The header members this crate looks at before any cryptography.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<serde_json::Value>,
}

impl Verifier {
    /// A verifier accepting tokens signed by any of `keys`. Refuses an empty
    /// list ([`TokenError::NoKeys`]) and two different keys under one key id.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Result<Self, TokenError> {
        let mut seen: BTreeMap<String, PublicKey> = BTreeMap::new();
        for key in keys {
            if let Some(other) = seen.get(key.kid())
                && other != &key
            {
                return Err(TokenError::InvalidKey {
                    name: key.kid().to_owned(),
                    reason: "two different keys have this key id".to_owned(),
                });
            }
            seen.insert(key.kid().to_owned(), key);
        }
        if seen.is_empty() {
            return Err(TokenError::NoKeys);
        }
        Ok(Self::from_checked_keys(seen.into_values()))
    }

    /// A verifier for the Ed25519 signing keys of a JWKS.
    ///
    /// Keys that are not Ed25519 signature keys (another `kty` or `crv`, or
    /// a `use`/`alg` other than `sig`/`EdDSA`) are skipped; an Ed25519 key
    /// that is invalid (no `kid`, bad `x`, weak point) is an error naming
    /// it, as is a JWKS with no Ed25519 signing key ([`TokenError::NoKeys`]).
    pub fn from_jwks(jwks: &Jwks) -> Result<Self, TokenError> {
        let keys = jwks
            .keys
            .iter()
            .filter(|k| k.is_ed25519_signing_key())
            .map(PublicKey::from_jwk)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// Builds a verifier from keys known to be valid and unique by kid.
    pub(crate) fn from_checked_keys(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Claims are checked below against the caller's `now`; jsonwebtoken
        // would use the system clock. It only checks the signature.
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Self {
            keys: keys
                .into_iter()
                .map(|k| (k.kid().to_owned(), k.decoding_key()))
                .collect(),
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            leeway_secs: DEFAULT_LEEWAY.as_secs() as i64,
            validation,
        }
    }

    /// Accepts only tokens whose `iss` is `issuer` (default [`ISSUER`]).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Accepts only tokens whose `aud` contains `audience` (default
    /// [`AUDIENCE`]).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Allows `leeway` of clock skew on `exp`, `nbf` and `iat` (default
    /// [`DEFAULT_LEEWAY`], 60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The key ids this verifier accepts, in ascending order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Checks `token` (a compact JWS, without any `Bearer ` prefix) at
    /// `now_unix` (Unix seconds; passed in so that callers and tests decide
    /// the clock) and returns its claims.
    ///
    /// In order, refusing with the first failure:
    /// 1. shape: at most [`MAX_TOKEN_LEN`] bytes, three base64url segments,
    ///    a JSON header without `crit` and with `typ` absent or `JWT`
    ///    ([`TokenError::Malformed`]);
    /// 2. `alg` exactly `EdDSA` ([`TokenError::UnsupportedAlgorithm`]: this
    ///    refuses `none` and the HMAC/RSA/ECDSA algorithm-confusion tricks
    ///    before any key is touched);
    /// 3. a `kid` ([`TokenError::MissingKeyId`]) this verifier knows
    ///    ([`TokenError::UnknownKey`]);
    /// 4. the Ed25519 signature under that key ([`TokenError::BadSignature`]);
    /// 5. claims that parse as [`Claims`] ([`TokenError::Malformed`]);
    /// 6. `iss` ([`TokenError::WrongIssuer`]) and `aud`
    ///    ([`TokenError::WrongAudience`]);
    /// 7. times, each with the leeway `L`: expired when
    ///    `now ≥ exp + L` ([`TokenError::Expired`]); not yet valid when
    ///    `nbf > now + L` ([`TokenError::NotYetValid`]); issued in the future
    ///    when `iat > now + L` ([`TokenError::IssuedInFuture`]). A token
    ///    without `exp` never expires here: whether its `jti` is still
    ///    listed (Argo CD's project-role token revocation) is the caller's
    ///    check.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, TokenError> {
        let malformed = |reason: &str| TokenError::Malformed(reason.to_owned());
        if token.is_empty() {
            return Err(malformed("the token is empty"));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed(format!(
                "the token is {} bytes long, more than the {MAX_TOKEN_LEN} allowed",
                token.len()
            )));
        }
        let segments: Vec<&str> = token.split('.').collect();
        if segments.len() != 3 {
            return Err(TokenError::Malformed(format!(
                "a JWT has 3 dot-separated segments, this token has {}",
                segments.len()
            )));
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(segments[0])
            .map_err(|_| malformed("the header is not base64url"))?;
        if URL_SAFE_NO_PAD.decode(segments[1]).is_err() {
            return Err(malformed("the payload is not base64url"));
        }
        if URL_SAFE_NO_PAD.decode(segments[2]).is_err() {
            return Err(malformed("the signature is not base64url"));
        }
        let header: RawHeader = serde_json::from_slice(&header_json)
            .map_err(|_| malformed("the header is not a JSON object of string members"))?;
        let alg = header
            .alg
            .ok_or_else(|| malformed("the header has no 'alg'"))?;
        if alg != ALGORITHM {
            return Err(TokenError::UnsupportedAlgorithm(sanitize(&alg)));
        }
        if header.crit.is_some() {
            return Err(malformed(
                "critical header parameters ('crit') are not supported",
            ));
        }
        if let Some(typ) = header.typ
            && !typ.eq_ignore_ascii_case("JWT")
        {
            return Err(TokenError::Malformed(format!(
                "token type '{}' is not 'JWT'",
                sanitize(&typ)
            )));
        }
        let kid = header.kid.ok_or(TokenError::MissingKeyId)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| TokenError::UnknownKey(sanitize(&kid)))?;

        provider::ensure();
        let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &self.validation)
            .map_err(|e| map_jwt_error(e.into_kind(), &kid))?;
        let claims: Claims = serde_json::from_value(data.claims).map_err(|e| {
            TokenError::Malformed(format!(
                "the claims are not those of a Capstan token: {}",
                sanitize_long(&e.to_string())
            ))
        })?;
        self.check_claims(&claims, now_unix)?;
        Ok(claims)
    }

    fn check_claims(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer {
                found: sanitize(&claims.iss),
                expected: self.issuer.clone(),
            });
        }
        if !claims.aud.contains(&self.audience) {
            return Err(TokenError::WrongAudience {
                found: sanitize(&claims.aud.to_string()),
                expected: self.audience.clone(),
            });
        }
        let leeway = self.leeway_secs;
        if let Some(exp) = claims.exp
            && now >= exp.saturating_add(leeway)
        {
            return Err(TokenError::Expired { exp });
        }
        if let Some(nbf) = claims.nbf
            && nbf > now.saturating_add(leeway)
        {
            return Err(TokenError::NotYetValid { nbf });
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(TokenError::IssuedInFuture { iat: claims.iat });
        }
        Ok(())
    }
}

/// A longer library message, shortened to 200 characters.
fn sanitize_long(message: &str) -> String {
    let mut out: String = message.chars().take(200).collect();
    if message.chars().nth(200).is_some() {
        out.push('…');
    }
    out
}

/// Maps a `jsonwebtoken` decoding failure (after the header checks above).
fn map_jwt_error(kind: ErrorKind, kid: &str) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::Signing(_) => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => {
            TokenError::UnsupportedAlgorithm("(not EdDSA)".to_owned())
        }
        ErrorKind::Base64(_) => {
            TokenError::Malformed("the payload or signature is not base64url".to_owned())
        }
        ErrorKind::Json(e) => TokenError::Malformed(format!(
            "the header or payload is not valid JSON: {}",
            sanitize_long(&e.to_string())
        )),
        ErrorKind::Utf8(_) => TokenError::Malformed("the token is not UTF-8".to_owned()),
        ErrorKind::InvalidToken => TokenError::Malformed("not a compact JWS".to_owned()),
        ErrorKind::InvalidEddsaKey | ErrorKind::InvalidKeyFormat => TokenError::InvalidKey {
            name: sanitize(kid),
            reason: "the verification key is not a usable Ed25519 key".to_owned(),
        },
        other => TokenError::Malformed(sanitize_long(&format!("{other:?}"))),
    }
}
