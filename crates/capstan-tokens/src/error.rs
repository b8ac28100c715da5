//! [`TokenError`]: every way minting or checking a token can fail.

use crate::time::format_unix;

/// Why a token could not be issued or was not accepted, or why key material
/// was refused.
///
/// The messages are written for the API caller who presented the token (the
/// api-server returns them as `Unauthenticated` details), so they are specific
/// but never contain the token itself, a signature or any key material. Values
/// copied from a presented token (an `alg`, a `kid`, an issuer or audience)
/// are shortened to 64 characters and stripped of control characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not a well-formed compact JWS: wrong number of segments,
    /// a segment that is not base64url, a header or payload that is not the
    /// JSON expected, a `crit` header, a `typ` other than `JWT`, or too long.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header's `alg` is not `EdDSA`: this covers `none`, the HMAC
    /// algorithms (`HS256`… — the algorithm-confusion attack) and RSA/ECDSA.
    #[error("unsupported token algorithm '{0}': Capstan tokens are signed with EdDSA")]
    UnsupportedAlgorithm(String),
    /// The header has no `kid`, so the signing key cannot be chosen.
    #[error("token header has no key id ('kid')")]
    MissingKeyId,
    /// The header's `kid` names no key this verifier knows (a token from
    /// another installation, or signed by a key that has been retired).
    #[error("token signed by unknown key '{0}'")]
    UnknownKey(String),
    /// The signature does not match the header and payload under the key the
    /// `kid` names: the token was altered or forged.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` (plus the leeway) has passed.
    #[error("token expired at {}", format_unix(*.exp))]
    Expired {
        /// The token's `exp`, Unix seconds.
        exp: i64,
    },
    /// `nbf` is still in the future (beyond the leeway).
    #[error("token is not valid before {}", format_unix(*.nbf))]
    NotYetValid {
        /// The token's `nbf`, Unix seconds.
        nbf: i64,
    },
    /// `iat` is in the future (beyond the leeway): the issuer's clock is
    /// wrong, or the token was minted for later use.
    #[error("token was issued in the future, at {}", format_unix(*.iat))]
    IssuedInFuture {
        /// The token's `iat`, Unix seconds.
        iat: i64,
    },
    /// `iss` is not the issuer this verifier accepts.
    #[error("token issuer '{found}' is not '{expected}'")]
    WrongIssuer {
        /// The token's `iss`.
        found: String,
        /// The issuer the verifier expects.
        expected: String,
    },
    /// `aud` does not contain the audience this verifier accepts.
    #[error("token audience '{found}' is not '{expected}'")]
    WrongAudience {
        /// The token's `aud`, comma-separated when several.
        found: String,
        /// The audience the verifier expects.
        expected: String,
    },
    /// Claims handed to `sign` that cannot be issued (e.g. a registered
    /// claim name hidden in `extra`).
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// A key (a PEM, a Secret entry, a JWK, a key id) was refused. `name` is
    /// the key id or the Secret / JWKS entry at fault; `reason` never contains
    /// key bytes.
    #[error("invalid key '{name}': {reason}")]
    InvalidKey {
        /// The key id, Secret data key or JWKS entry that is at fault.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key set or JWKS had no usable Ed25519 signing key.
    #[error("no token signing keys: the key set or JWKS holds no Ed25519 signing key")]
    NoKeys,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// The JWT library refused to sign.
    #[error("signing the token failed: {0}")]
    Signing(String),
}

/// Shortens a value copied from an untrusted token for an error message:
/// at most 64 characters, control characters replaced by `?`.
pub(crate) fn sanitize(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}
