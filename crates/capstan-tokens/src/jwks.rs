//! [`Jwks`] and [`Jwk`]: the public keys as a JSON Web Key Set (RFC 7517,
//! with the RFC 8037 `OKP` key type).

use serde::{Deserialize, Serialize};

use crate::TokenError;

/// A JSON Web Key Set: `{"keys":[…]}`. What the auth-gateway publishes and
/// the api-server builds its [`Verifier`](crate::Verifier) from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Jwks {
    /// The keys, in the order given.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The key with this key id, if any.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// Reads a JWKS document.
    pub fn from_json(json: &[u8]) -> Result<Self, TokenError> {
        serde_json::from_slice(json).map_err(|e| TokenError::InvalidKey {
            name: "JWKS".to_owned(),
            reason: format!("not a JSON Web Key Set: {e}"),
        })
    }

    /// The JWKS as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a JWKS always serializes")
    }
}

/// One JSON Web Key. Only the members an Ed25519 signing key uses are kept;
/// other members are ignored when reading. For Capstan's keys:
/// `{"kty":"OKP","crv":"Ed25519","x":<base64url>,"kid":…,"use":"sig","alg":"EdDSA"}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// Key type: `OKP` for Ed25519 (RFC 8037).
    pub kty: String,
    /// Curve: `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The public key, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Key id, matched against a token header's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Public key use: `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Algorithm: `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

impl Jwk {
    /// Whether this JWK claims to be an Ed25519 signature key, i.e. one a
    /// Capstan verifier should use: `kty` `OKP`, `crv` `Ed25519`, and `use`
    /// and `alg`, when present, `sig` and `EdDSA`.
    pub fn is_ed25519_signing_key(&self) -> bool {
        self.kty == "OKP"
            && self.crv.as_deref() == Some("Ed25519")
            && self.key_use.as_deref().is_none_or(|u| u == "sig")
            && self.alg.as_deref().is_none_or(|a| a == crate::ALGORITHM)
    }
}
