//! [`Claims`]: the payload of every Capstan token, and [`Audience`].

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{AUDIENCE, ISSUER, TokenError};

/// Claim names with a field of their own in [`Claims`]; `extra` must not
/// repeat them (the JSON would carry the name twice).
const RESERVED: &[&str] = &[
    "iss", "sub", "aud", "iat", "nbf", "exp", "jti", "groups", "email",
];

/// The `aud` claim: one or more audiences.
///
/// Serialized as a plain string when there is exactly one (as Argo CD's
/// tokens carry it), as an array otherwise; either form is accepted when
/// reading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience(Vec<String>);

impl Audience {
    /// An audience of the given values, in order.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(values.into_iter().map(Into::into).collect())
    }

    /// Whether `aud` is one of the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        self.0.iter().any(|a| a == aud)
    }

    /// The audiences, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether there is no audience at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Audience {
    fn from(aud: &str) -> Self {
        Self(vec![aud.to_owned()])
    }
}

impl From<String> for Audience {
    fn from(aud: String) -> Self {
        Self(vec![aud])
    }
}

impl From<Vec<String>> for Audience {
    fn from(auds: Vec<String>) -> Self {
        Self(auds)
    }
}

/// The audiences joined with `, `; `(none)` when empty.
impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&self.0.join(", "))
        }
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string_or_list(deserializer).map(Self)
    }
}

/// Reads a claim that may be a single string or an array of strings.
fn string_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// The claims of a Capstan session or API token (RFC 7519 registered claims
/// plus the `groups` and `email` claims Argo CD's RBAC reads).
///
/// `iss`, `sub`, `aud`, `iat` and `jti` are required when a token is read;
/// `nbf`, `exp`, `groups` and `email` are optional and left out of the JSON
/// when unset. Any other claim is kept in [`Claims::extra`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Claims {
    /// Issuer: [`ISSUER`] for every token Capstan mints.
    pub iss: String,
    /// Subject: a user name for sessions, `proj:<project>:<role>` for
    /// project-role tokens, `<account>` for local-account API tokens.
    pub sub: String,
    /// Audience: [`AUDIENCE`] unless set otherwise.
    pub aud: Audience,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry, Unix seconds; `None` for an API token that never expires
    /// (Argo CD's `expiresIn: 0`), which only revocation by `jti` ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Token id: what an API token is listed and revoked by.
    pub jti: String,
    /// The subject's groups, for RBAC `g` bindings; omitted when empty, and
    /// read from either a string or an array.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "string_or_list"
    )]
    pub groups: Vec<String>,
    /// The subject's e-mail address, when the identity provider gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Every other claim, kept as read. Must not repeat a claim that has a
    /// field above: signing refuses such claims.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Seconds of a duration as `i64`, saturating.
fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Claims {
    /// Claims for a login session of `sub` with `groups`, issued at
    /// `now_unix` and valid for `ttl`: `iss` [`ISSUER`], `aud` [`AUDIENCE`],
    /// `nbf` = `iat` = `now_unix`, `exp` = `now_unix + ttl`, a fresh random
    /// `jti`.
    ///
    /// # Panics
    /// If the operating system's random number generator fails (see
    /// [`new_token_id`]).
    pub fn new_session(
        sub: impl Into<String>,
        groups: Vec<String>,
        now_unix: i64,
        ttl: Duration,
    ) -> Self {
        Self {
            iss: ISSUER.to_owned(),
            sub: sub.into(),
            aud: Audience::from(AUDIENCE),
            iat: now_unix,
            nbf: Some(now_unix),
            exp: Some(now_unix.saturating_add(secs(ttl))),
            jti: new_token_id(),
            groups,
            email: None,
            extra: Map::new(),
        }
    }

    /// Claims for an API token (a project-role token with
    /// `sub` = [`project_role_subject`], or a local account's token) with
    /// the given `jti`, issued at `now_unix`.
    ///
    /// `expires_in` of `None` or zero makes a token without `exp`, which
    /// never expires (as Argo CD's `expiresIn: 0`); it is ended by deleting
    /// its `jti` from the role or account, which the caller checks.
    pub fn new_api_token(
        sub: impl Into<String>,
        jti: impl Into<String>,
        now_unix: i64,
        expires_in: Option<Duration>,
    ) -> Self {
        let exp = expires_in
            .filter(|d| !d.is_zero())
            .map(|d| now_unix.saturating_add(secs(d)));
        Self {
            iss: ISSUER.to_owned(),
            sub: sub.into(),
            aud: Audience::from(AUDIENCE),
            iat: now_unix,
            nbf: Some(now_unix),
            exp,
            jti: jti.into(),
            groups: Vec::new(),
            email: None,
            extra: Map::new(),
        }
    }

    /// `(project, role)` when `sub` is a project-role subject
    /// `proj:<project>:<role>` with both parts non-empty (as Argo CD, a
    /// subject with more or fewer `:`-separated parts is not one).
    pub fn project_role(&self) -> Option<(&str, &str)> {
        let rest = self.sub.strip_prefix("proj:")?;
        let (project, role) = rest.split_once(':')?;
        if project.is_empty() || role.is_empty() || role.contains(':') {
            return None;
        }
        Some((project, role))
    }

    /// Refuses claims whose `extra` repeats a claim that has a field.
    pub(crate) fn check_issuable(&self) -> Result<(), TokenError> {
        if let Some(name) = RESERVED.iter().find(|n| self.extra.contains_key(**n)) {
            return Err(TokenError::InvalidClaims(format!(
                "claim '{name}' must be set through its field, not through `extra`"
            )));
        }
        Ok(())
    }
}

/// The subject of a project-role token: `proj:<project>:<role>`.
pub fn project_role_subject(project: &str, role: &str) -> String {
    format!("proj:{project}:{role}")
}

/// A new random token id in the textual form of a UUID version 4
/// (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`, lowercase hex), from 122 bits of
/// the operating system's random number generator.
///
/// # Panics
/// If the operating system's random number generator fails, which on the
/// platforms Capstan runs on means the process cannot do anything secure.
pub fn new_token_id() -> String {
    let mut b = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("the operating system's random number generator failed: {e}");
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
