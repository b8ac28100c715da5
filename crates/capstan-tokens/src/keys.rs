//! Ed25519 key pairs: [`SigningKey`] (private, PKCS#8 PEM) and
//! [`PublicKey`] (JWK).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::VerifyingKey;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

use crate::jwks::Jwk;
use crate::{ALGORITHM, Claims, TokenError, provider};

/// DER of a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (RFC 8410) up to the
/// 32-byte seed: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 },
/// OCTET STRING { OCTET STRING (32) } }.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER of an Ed25519 `SubjectPublicKeyInfo` up to the 32-byte key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// The id-Ed25519 object identifier 1.3.101.112, DER content octets.
const ED25519_OID: [u8; 3] = [0x2b, 0x65, 0x70];
/// Longest key id: `<kid>.pem` must stay a valid Secret data key (253).
const MAX_KID_LEN: usize = 200;

/// Checks a key id: 1 to 200 characters of `A-Z a-z 0-9 - _ .`, so that
/// `<kid>.pem` is a valid Kubernetes Secret data key.
pub(crate) fn validate_kid(kid: &str) -> Result<(), TokenError> {
    let reason = if kid.is_empty() {
        Some("key id is empty".to_owned())
    } else if kid.len() > MAX_KID_LEN {
        Some(format!("key id is longer than {MAX_KID_LEN} characters"))
    } else if !kid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("key id may only contain A-Z, a-z, 0-9, '-', '_' and '.'".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TokenError::InvalidKey {
            name: crate::error::sanitize(kid),
            reason,
        }),
        None => Ok(()),
    }
}

/// An Ed25519 private key with its key id (`kid`), which signs tokens.
///
/// `Debug` shows the key id only; the key bytes never appear in `Debug`
/// output or error messages. Only [`SigningKey::to_pem`] exports them.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: ed25519_dalek::SigningKey,
    encoding: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// A new key from 32 bytes of the operating system's random number
    /// generator. Its key id is the key's RFC 7638 JWK thumbprint (SHA-256,
    /// base64url, 43 characters; see [`PublicKey::thumbprint`]), so the same
    /// key always gets the same id and two keys practically never share one.
    pub fn generate() -> Result<Self, TokenError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| TokenError::Random(e.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        std::hint::black_box(&seed);
        let kid = thumbprint(&key.verifying_key().to_bytes());
        Ok(Self::from_dalek(kid, key))
    }

    /// Reads a PKCS#8 `PRIVATE KEY` PEM block holding an Ed25519 key (as
    /// `openssl genpkey -algorithm ed25519` writes, or [`SigningKey::to_pem`]),
    /// to be used under the key id `kid`.
    ///
    /// Both PKCS#8 v1 and v2 (`OneAsymmetricKey` with the public key, which
    /// must then match) are read; encrypted keys, other algorithms and other
    /// PEM labels are refused with [`TokenError::InvalidKey`] naming `kid`.
    pub fn from_pem(kid: &str, pem: &[u8]) -> Result<Self, TokenError> {
        Self::from_pem_named(kid, pem, kid)
    }

    /// [`SigningKey::from_pem`], with errors naming `name` (a Secret entry).
    pub(crate) fn from_pem_named(kid: &str, pem: &[u8], name: &str) -> Result<Self, TokenError> {
        let invalid = |reason: String| TokenError::InvalidKey {
            name: name.to_owned(),
            reason,
        };
        validate_kid(kid).map_err(|e| match e {
            TokenError::InvalidKey { reason, .. } => invalid(reason),
            other => other,
        })?;
        let der = pem_body(pem).map_err(invalid)?;
        let (mut seed, public) = parse_pkcs8(&der).map_err(invalid)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        std::hint::black_box(&seed);
        if let Some(public) = public
            && public != key.verifying_key().to_bytes()
        {
            return Err(invalid(
                "the public key in the PKCS#8 document does not belong to its private key"
                    .to_owned(),
            ));
        }
        Ok(Self::from_dalek(kid.to_owned(), key))
    }

    fn from_dalek(kid: String, key: ed25519_dalek::SigningKey) -> Self {
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&PKCS8_PREFIX);
        der.extend_from_slice(key.as_bytes());
        let encoding = EncodingKey::from_ed_der(&der);
        der.fill(0);
        Self { kid, key, encoding }
    }

    /// The key as a PKCS#8 v1 `PRIVATE KEY` PEM block (RFC 8410), which
    /// [`SigningKey::from_pem`] and OpenSSL read. This is secret material:
    /// it belongs in a Kubernetes Secret, never in a log.
    pub fn to_pem(&self) -> String {
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&PKCS8_PREFIX);
        der.extend_from_slice(self.key.as_bytes());
        let body = STANDARD.encode(&der);
        der.fill(0);
        pem_wrap("PRIVATE KEY", &body)
    }

    /// The key id that tokens signed by this key carry in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, under the same key id.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            kid: self.kid.clone(),
            x: self.key.verifying_key().to_bytes(),
        }
    }

    /// Signs `claims` into a compact JWT with header
    /// `{"typ":"JWT","alg":"EdDSA","kid":<kid>}`.
    ///
    /// Refuses claims whose `extra` repeats a registered claim
    /// ([`TokenError::InvalidClaims`]).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        claims.check_issuable()?;
        provider::ensure();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// The `jsonwebtoken` key, for tests that hand-craft tokens.
    #[cfg(test)]
    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// An Ed25519 public key with its key id: what verifies tokens, and what a
/// JWKS publishes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kid: String,
    x: [u8; 32],
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// A public key from its 32 bytes (RFC 8032 encoding). Refuses bytes
    /// that are not a point of the curve, and weak (small-order) keys, which
    /// would accept forged signatures.
    pub fn from_bytes(kid: &str, x: [u8; 32]) -> Result<Self, TokenError> {
        validate_kid(kid)?;
        check_point(&x).map_err(|reason| TokenError::InvalidKey {
            name: kid.to_owned(),
            reason,
        })?;
        Ok(Self {
            kid: kid.to_owned(),
            x,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's 32 bytes (RFC 8032 encoding).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.x
    }

    /// The RFC 7638 JWK SHA-256 thumbprint of the key, base64url without
    /// padding: the key id [`SigningKey::generate`] gives.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.x)
    }

    /// The key as an RFC 8037 JWK:
    /// `{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,"use":"sig","alg":"EdDSA"}`.
    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: Some("Ed25519".to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(self.x)),
            kid: Some(self.kid.clone()),
            key_use: Some("sig".to_owned()),
            alg: Some(ALGORITHM.to_owned()),
        }
    }

    /// Reads an RFC 8037 Ed25519 JWK. It must have `kty` `OKP`, `crv`
    /// `Ed25519`, a valid `kid`, and `x` the base64url of 32 bytes that are a
    /// strong curve point; `use` and `alg`, when present, must be `sig` and
    /// `EdDSA`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, TokenError> {
        let kid = jwk.kid.as_deref().ok_or_else(|| TokenError::InvalidKey {
            name: "(JWK without kid)".to_owned(),
            reason: "the JWK has no 'kid'".to_owned(),
        })?;
        let invalid = |reason: String| TokenError::InvalidKey {
            name: crate::error::sanitize(kid),
            reason,
        };
        if jwk.kty != "OKP" {
            return Err(invalid(format!(
                "key type '{}' is not 'OKP'",
                crate::error::sanitize(&jwk.kty)
            )));
        }
        if jwk.crv.as_deref() != Some("Ed25519") {
            return Err(invalid(format!(
                "curve '{}' is not 'Ed25519'",
                crate::error::sanitize(jwk.crv.as_deref().unwrap_or("(none)"))
            )));
        }
        if let Some(u) = jwk.key_use.as_deref()
            && u != "sig"
        {
            return Err(invalid(format!(
                "key use '{}' is not 'sig'",
                crate::error::sanitize(u)
            )));
        }
        if let Some(alg) = jwk.alg.as_deref()
            && alg != ALGORITHM
        {
            return Err(invalid(format!(
                "key algorithm '{}' is not '{ALGORITHM}'",
                crate::error::sanitize(alg)
            )));
        }
        let x = jwk
            .x
            .as_deref()
            .ok_or_else(|| invalid("the JWK has no 'x'".to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|_| invalid("'x' is not base64url without padding".to_owned()))?;
        let x: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| invalid(format!("'x' is {} bytes, not 32", b.len())))?;
        Self::from_bytes(kid, x)
    }

    /// The key as a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM block, as
    /// `openssl pkey -pubout` writes.
    pub fn to_pem(&self) -> String {
        let mut der = Vec::with_capacity(44);
        der.extend_from_slice(&SPKI_PREFIX);
        der.extend_from_slice(&self.x);
        pem_wrap("PUBLIC KEY", &STANDARD.encode(&der))
    }

    /// The `jsonwebtoken` verification key.
    pub(crate) fn decoding_key(&self) -> DecodingKey {
        // Despite the name, `from_ed_der` takes the raw 32 key bytes.
        DecodingKey::from_ed_der(&self.x)
    }
}

/// Refuses 32 bytes that are not a usable Ed25519 public key.
fn check_point(x: &[u8; 32]) -> Result<(), String> {
    let key = VerifyingKey::from_bytes(x)
        .map_err(|_| "the bytes are not an Ed25519 public key".to_owned())?;
    if key.is_weak() {
        return Err("the key is a weak (small-order) Ed25519 point".to_owned());
    }
    Ok(())
}

/// RFC 7638 thumbprint of an Ed25519 key:
/// base64url(SHA-256(`{"crv":"Ed25519","kty":"OKP","x":"<x>"}`)).
fn thumbprint(x: &[u8; 32]) -> String {
    provider::ensure();
    jsonwebtoken::jwk::Jwk::from_decoding_key(&DecodingKey::from_ed_der(x), None)
        .and_then(|jwk| jwk.thumbprint(ThumbprintHash::SHA256))
        .expect("an Ed25519 JWK of 32 bytes always has a SHA-256 thumbprint")
}

/// A PEM block with 64-character lines.
fn pem_wrap(label: &str, body: &str) -> String {
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the single `PRIVATE KEY` PEM block of `pem`.
fn pem_body(pem: &[u8]) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN ";
    let text = std::str::from_utf8(pem)
        .map_err(|_| "not text: expected a PEM 'PRIVATE KEY' block".to_owned())?;
    let start = text
        .find(BEGIN)
        .ok_or_else(|| "no PEM block: expected '-----BEGIN PRIVATE KEY-----'".to_owned())?;
    let after_begin = &text[start + BEGIN.len()..];
    let label_end = after_begin
        .find("-----")
        .ok_or_else(|| "the PEM BEGIN line is not terminated".to_owned())?;
    let label = &after_begin[..label_end];
    if label != "PRIVATE KEY" {
        return Err(format!(
            "expected a PKCS#8 'PRIVATE KEY' PEM block, found '{}'",
            crate::error::sanitize(label)
        ));
    }
    let body_and_rest = &after_begin[label_end + 5..];
    let end_marker = "-----END PRIVATE KEY-----";
    let end = body_and_rest
        .find(end_marker)
        .ok_or_else(|| "the PEM block has no '-----END PRIVATE KEY-----' line".to_owned())?;
    if body_and_rest[end + end_marker.len()..].contains(BEGIN) {
        return Err("more than one PEM block: expected exactly one private key".to_owned());
    }
    let body = &body_and_rest[..end];
    if body.contains(':') {
        return Err("PEM headers (an encrypted legacy key?) are not supported".to_owned());
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| "the PEM body is not valid base64".to_owned())
}

/// A minimal DER reader for the few structures PKCS#8 needs.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// Reads one element: its tag and content octets.
    fn read(&mut self) -> Result<(u8, &'a [u8]), String> {
        let truncated = || "the DER is truncated".to_owned();
        let (&tag, rest) = self.0.split_first().ok_or_else(truncated)?;
        let (&len0, rest) = rest.split_first().ok_or_else(truncated)?;
        let (len, rest) = match len0 {
            0..=0x7f => (usize::from(len0), rest),
            0x81 => {
                let (&l, rest) = rest.split_first().ok_or_else(truncated)?;
                (usize::from(l), rest)
            }
            0x82 => {
                if rest.len() < 2 {
                    return Err(truncated());
                }
                (usize::from(rest[0]) << 8 | usize::from(rest[1]), &rest[2..])
            }
            _ => return Err("the DER has an unsupported length encoding".to_owned()),
        };
        if rest.len() < len {
            return Err(truncated());
        }
        let (content, rest) = rest.split_at(len);
        self.0 = rest;
        Ok((tag, content))
    }

    fn expect(&mut self, tag: u8, what: &str) -> Result<&'a [u8], String> {
        match self.read()? {
            (t, content) if t == tag => Ok(content),
            _ => Err(format!("not a PKCS#8 Ed25519 private key: expected {what}")),
        }
    }
}

/// Parses a PKCS#8 v1 `PrivateKeyInfo` or v2 `OneAsymmetricKey` holding an
/// Ed25519 key (RFC 5958, RFC 8410): the 32-byte seed, and the public key
/// when the document carries one.
fn parse_pkcs8(der: &[u8]) -> Result<([u8; 32], Option<[u8; 32]>), String> {
    let mut outer = Der(der);
    let seq = outer.expect(0x30, "a SEQUENCE")?;
    if !outer.is_empty() {
        return Err("trailing data after the PKCS#8 document".to_owned());
    }
    let mut seq = Der(seq);
    let version = match seq.expect(0x02, "a version INTEGER")? {
        [0] => 0,
        [1] => 1,
        _ => return Err("unsupported PKCS#8 version".to_owned()),
    };
    let mut alg = Der(seq.expect(0x30, "an AlgorithmIdentifier")?);
    let oid = alg.expect(0x06, "an algorithm OID")?;
    if oid != ED25519_OID {
        return Err("not an Ed25519 key (the algorithm is not id-Ed25519, 1.3.101.112)".to_owned());
    }
    if !alg.is_empty() {
        return Err("Ed25519 algorithm parameters must be absent".to_owned());
    }
    let mut private = Der(seq.expect(0x04, "a privateKey OCTET STRING")?);
    let seed = private.expect(0x04, "a CurvePrivateKey OCTET STRING")?;
    if !private.is_empty() {
        return Err("trailing data after the Ed25519 private key".to_owned());
    }
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| format!("the Ed25519 private key is {} bytes, not 32", seed.len()))?;
    if seq.peek_tag() == Some(0xa0) {
        seq.read()?; // attributes: nothing Capstan needs
    }
    let mut public = None;
    if seq.peek_tag() == Some(0x81) {
        if version != 1 {
            return Err("a PKCS#8 v1 document cannot carry a public key".to_owned());
        }
        let (_, bits) = seq.read()?;
        match bits {
            [0, key @ ..] if key.len() == 32 => {
                let mut x = [0u8; 32];
                x.copy_from_slice(key);
                public = Some(x);
            }
            _ => return Err("the embedded public key is not 32 bytes".to_owned()),
        }
    }
    if !seq.is_empty() {
        return Err("unexpected data in the PKCS#8 document".to_owned());
    }
    Ok((seed, public))
}
