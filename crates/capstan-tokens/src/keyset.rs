//! [`KeySet`]: the signing keys of an installation, stored in a Secret.

use std::collections::BTreeMap;
use std::fmt;

use crate::{Claims, Jwks, PublicKey, SigningKey, TokenError, Verifier};

/// Secret data key naming the signing key's id.
pub const ACTIVE_KEY: &str = "active";
/// Suffix of the Secret data keys that hold a key: `<kid>.pem`.
pub const PEM_SUFFIX: &str = ".pem";

/// The token signing keys of a Capstan installation: one active key signs
/// new tokens, every key verifies them. Rotation adds a new active key and
/// keeps the old ones, so tokens already issued stay valid until they
/// expire; a key is retired by removing it, which invalidates its tokens.
///
/// # Secret layout
///
/// [`KeySet::from_secret_data`] and [`KeySet::to_secret_data`] use the data
/// of one Kubernetes Secret:
///
/// | data key    | value |
/// |-------------|-------|
/// | `<kid>.pem` | the key with id `<kid>`: an Ed25519 PKCS#8 `PRIVATE KEY` PEM (`openssl genpkey -algorithm ed25519`) |
/// | `active`    | the id of the key that signs (UTF-8; surrounding whitespace ignored) |
///
/// A key id is 1–200 characters of `A-Z a-z 0-9 - _ .`. When `active` is
/// absent, the lexicographically greatest key id signs (so hand-made Secrets
/// can name keys by date, e.g. `2026-01.pem`, `2026-07.pem`);
/// [`KeySet::to_secret_data`] always writes `active`. Any other data key is
/// an error, as is an `active` naming no key, or a Secret with no key.
///
/// `Debug` shows the key ids only.
#[derive(Clone)]
pub struct KeySet {
    keys: BTreeMap<String, SigningKey>,
    active: String,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl KeySet {
    /// A set of one key, which signs.
    pub fn new(key: SigningKey) -> Self {
        let active = key.kid().to_owned();
        Self {
            keys: BTreeMap::from([(active.clone(), key)]),
            active,
        }
    }

    /// A set of one freshly generated key ([`SigningKey::generate`]).
    pub fn generate() -> Result<Self, TokenError> {
        Ok(Self::new(SigningKey::generate()?))
    }

    /// Reads a key set from a Secret's data (see the layout above). Errors
    /// are [`TokenError::InvalidKey`] naming the data key at fault, or
    /// [`TokenError::NoKeys`].
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, TokenError> {
        let mut keys = BTreeMap::new();
        let mut active = None;
        for (name, value) in data {
            if name == ACTIVE_KEY {
                let kid = std::str::from_utf8(value).map_err(|_| TokenError::InvalidKey {
                    name: name.clone(),
                    reason: "the active key id is not UTF-8".to_owned(),
                })?;
                active = Some(kid.trim().to_owned());
            } else if let Some(kid) = name.strip_suffix(PEM_SUFFIX) {
                let key = SigningKey::from_pem_named(kid, value, name)?;
                keys.insert(kid.to_owned(), key);
            } else {
                return Err(TokenError::InvalidKey {
                    name: name.clone(),
                    reason: format!(
                        "unexpected entry: a token key Secret holds only '<kid>{PEM_SUFFIX}' \
                         keys and '{ACTIVE_KEY}'"
                    ),
                });
            }
        }
        let active = match active {
            Some(kid) if keys.contains_key(&kid) => kid,
            Some(kid) => {
                return Err(TokenError::InvalidKey {
                    name: ACTIVE_KEY.to_owned(),
                    reason: format!(
                        "names key '{}' but there is no '{}{PEM_SUFFIX}'",
                        crate::error::sanitize(&kid),
                        crate::error::sanitize(&kid)
                    ),
                });
            }
            None => keys.keys().next_back().cloned().ok_or(TokenError::NoKeys)?,
        };
        Ok(Self { keys, active })
    }

    /// The key set as a Secret's data (see the layout above): every key as
    /// `<kid>.pem`, and `active`. This is secret material.
    pub fn to_secret_data(&self) -> BTreeMap<String, Vec<u8>> {
        let mut data: BTreeMap<String, Vec<u8>> = self
            .keys
            .iter()
            .map(|(kid, key)| (format!("{kid}{PEM_SUFFIX}"), key.to_pem().into_bytes()))
            .collect();
        data.insert(ACTIVE_KEY.to_owned(), self.active.clone().into_bytes());
        data
    }

    /// Adds `key` and makes it the signing key; the other keys stay for
    /// verification. Adding a key already in the set only makes it active;
    /// a different key under a key id already in use is refused.
    pub fn with_key(mut self, key: SigningKey) -> Result<Self, TokenError> {
        if let Some(existing) = self.keys.get(key.kid())
            && existing.public() != key.public()
        {
            return Err(TokenError::InvalidKey {
                name: key.kid().to_owned(),
                reason: "a different key with this id is already in the set".to_owned(),
            });
        }
        self.active = key.kid().to_owned();
        self.keys.insert(self.active.clone(), key);
        Ok(self)
    }

    /// Rotation: generates a new key ([`SigningKey::generate`]) and makes it
    /// the signing key, keeping the old keys to verify the tokens they signed.
    pub fn with_new_key(self) -> Result<Self, TokenError> {
        self.with_key(SigningKey::generate()?)
    }

    /// Retires the key `kid`: tokens it signed no longer verify. The active
    /// key cannot be removed (rotate first), and an unknown id is an error.
    pub fn without_key(mut self, kid: &str) -> Result<Self, TokenError> {
        let refuse = |reason: &str| TokenError::InvalidKey {
            name: crate::error::sanitize(kid),
            reason: reason.to_owned(),
        };
        if kid == self.active {
            return Err(refuse(
                "the active signing key cannot be removed; rotate to a new key first",
            ));
        }
        self.keys
            .remove(kid)
            .ok_or_else(|| refuse("no key with this id is in the set"))?;
        Ok(self)
    }

    /// The key that signs.
    pub fn active(&self) -> &SigningKey {
        &self.keys[&self.active]
    }

    /// The id of the key that signs.
    pub fn active_kid(&self) -> &str {
        &self.active
    }

    /// The key with this id, if any.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.get(kid)
    }

    /// The key ids, in ascending order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// How many keys the set holds (at least one).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The public keys, in ascending key id order.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.values().map(SigningKey::public).collect()
    }

    /// The public keys as a JWKS, in ascending key id order.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.values().map(|k| k.public().to_jwk()).collect(),
        }
    }

    /// Signs `claims` with the active key (see [`SigningKey::sign`]).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.active().sign(claims)
    }

    /// A verifier accepting tokens signed by any key of the set, with the
    /// default issuer [`ISSUER`](crate::ISSUER), audience
    /// [`AUDIENCE`](crate::AUDIENCE) and leeway.
    pub fn verifier(&self) -> Verifier {
        Verifier::from_checked_keys(self.public_keys())
    }
}
