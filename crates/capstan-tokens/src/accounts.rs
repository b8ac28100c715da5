//! Local accounts as Argo CD keeps them: capabilities in `argocd-cm` (`accounts.<name>`,
//! parsed by `capstan-types`), and in `argocd-secret` a bcrypt password hash, the time it was
//! last changed and the records of the account's API tokens.
//!
//! | account | password hash | changed at (RFC 3339) | API token records (JSON) |
//! |---|---|---|---|
//! | `admin` | `admin.password` | `admin.passwordMtime` | `admin.tokens` |
//! | other | `accounts.<name>.password` | `accounts.<name>.passwordMtime` | `accounts.<name>.tokens` |
//!
//! Tokens of local accounts name the account and the capability they were issued under, as
//! Argo CD's do: `sub` is `<name>:login` for a password session and `<name>:apiKey` for an
//! API token. A session is valid only if issued after the password last changed; an API
//! token only while its `jti` is recorded for the account.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The built-in administrator.
pub const ADMIN: &str = "admin";
/// The capability of password logins (`sub` suffix).
pub const LOGIN: &str = "login";
/// The capability of API tokens (`sub` suffix).
pub const API_KEY: &str = "apiKey";
/// bcrypt cost of new password hashes (Argo CD uses Go's `bcrypt.DefaultCost`).
pub const BCRYPT_COST: u32 = 10;
/// Shortest accepted new password (Argo CD's default `passwordPattern` is `^.{8,32}$`).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted new password, in bytes: bcrypt reads at most 72 bytes, so a longer
/// password would be silently truncated.
pub const MAX_PASSWORD_LEN: usize = 72;

/// The record of an issued API token, as Argo CD stores it (`[{"id":…,"iat":…,"exp":…}]`);
/// the token itself is never stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token id (`jti`).
    pub id: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds; 0 when the token does not expire.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exp: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The `argocd-secret` key of an account's password hash.
pub fn password_key(account: &str) -> String {
    secret_key(account, "password")
}

/// The `argocd-secret` key of the time an account's password last changed.
pub fn password_mtime_key(account: &str) -> String {
    secret_key(account, "passwordMtime")
}

/// The `argocd-secret` key of an account's token records.
pub fn tokens_key(account: &str) -> String {
    secret_key(account, "tokens")
}

fn secret_key(account: &str, field: &str) -> String {
    if account == ADMIN {
        format!("{ADMIN}.{field}")
    } else {
        format!("accounts.{account}.{field}")
    }
}

/// The `sub` of a local account's token issued under `capability` ([`LOGIN`] or [`API_KEY`]).
pub fn account_subject(account: &str, capability: &str) -> String {
    format!("{account}:{capability}")
}

/// `(account, capability)` when `sub` is a local account's subject (`<name>:login` or
/// `<name>:apiKey`); `None` for anything else (OIDC subjects, project roles, plain names).
pub fn split_account_subject(sub: &str) -> Option<(&str, &str)> {
    let (name, capability) = sub.rsplit_once(':')?;
    if name.is_empty() || name.contains(':') || !(capability == LOGIN || capability == API_KEY) {
        return None;
    }
    Some((name, capability))
}

/// The stored state of one local account, read from `argocd-secret`'s data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountSecrets {
    /// The bcrypt hash, when a password is set.
    pub password_hash: Option<String>,
    /// When the password last changed, Unix seconds.
    pub password_mtime: Option<i64>,
    /// The account's API token records.
    pub tokens: Vec<TokenRecord>,
}

impl AccountSecrets {
    /// Reads one account's entries from the Secret's data. A malformed entry is an error
    /// naming the key; the caller decides whether that locks the account.
    pub fn from_secret_data(
        data: &BTreeMap<String, Vec<u8>>,
        account: &str,
    ) -> Result<Self, String> {
        let text = |key: &str| -> Result<Option<String>, String> {
            data.get(key)
                .map(|v| {
                    String::from_utf8(v.clone()).map_err(|_| format!("{key}: not valid UTF-8"))
                })
                .transpose()
        };
        let password_hash = text(&password_key(account))?.filter(|s| !s.is_empty());
        let password_mtime = match text(&password_mtime_key(account))? {
            Some(s) if !s.trim().is_empty() => Some(
                s.trim()
                    .parse::<jiff::Timestamp>()
                    .map_err(|e| format!("{}: {e}", password_mtime_key(account)))?
                    .as_second(),
            ),
            _ => None,
        };
        let tokens = match text(&tokens_key(account))? {
            Some(s) if !s.trim().is_empty() => serde_json::from_str(&s)
                .map_err(|e| format!("{}: not a JSON list of tokens: {e}", tokens_key(account)))?,
            _ => Vec::new(),
        };
        Ok(Self {
            password_hash,
            password_mtime,
            tokens,
        })
    }

    /// Whether an API token id is recorded.
    pub fn has_token(&self, id: &str) -> bool {
        self.tokens.iter().any(|t| t.id == id)
    }

    /// Whether a login session issued at `iat` survives the last password change (a token
    /// issued in the same second as the change counts as after it).
    pub fn session_current(&self, iat: i64) -> bool {
        self.password_mtime.is_none_or(|mtime| iat >= mtime)
    }
}

/// What a token's local account allows, for [`check_account_token`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// The account is enabled.
    pub enabled: bool,
    /// It has the `login` capability.
    pub login: bool,
    /// It has the `apiKey` capability.
    pub api_key: bool,
}

/// Checks a verified token of a local account (`sub` `<name>:<capability>`) against the
/// account as configured now: it must exist (`account` `Some`) and be enabled, still have the
/// capability, and — for a session — be issued after the last password change, or — for an
/// API token — still be recorded. Returns the account name, which is the RBAC subject.
pub fn check_account_token<'a>(
    claims: &'a crate::Claims,
    account: Option<AccountState>,
    secrets: &AccountSecrets,
) -> Result<&'a str, String> {
    let Some((name, capability)) = split_account_subject(&claims.sub) else {
        return Err(format!("{:?} is not a local account's token", claims.sub));
    };
    let Some(account) = account else {
        return Err(format!("the account {name:?} no longer exists"));
    };
    if !account.enabled {
        return Err(format!("the account {name:?} is disabled"));
    }
    if capability == LOGIN {
        if !account.login {
            return Err(format!("the account {name:?} may no longer log in"));
        }
        if !secrets.session_current(claims.iat) {
            return Err(
                "the password has changed since this session began; log in again".to_owned(),
            );
        }
    } else {
        if !account.api_key {
            return Err(format!("the account {name:?} may no longer use API tokens"));
        }
        if !secrets.has_token(&claims.jti) {
            return Err(format!("this API token of {name:?} has been deleted"));
        }
    }
    Ok(name)
}

/// Serialises token records the way Argo CD writes them.
pub fn tokens_json(tokens: &[TokenRecord]) -> String {
    serde_json::to_string(tokens).unwrap_or_else(|_| "[]".to_owned())
}

/// Formats Unix seconds as the RFC 3339 text Argo CD writes in `passwordMtime`.
pub fn format_mtime(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Checks a new password against the length rules.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the new password must have at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the new password must not be longer than {MAX_PASSWORD_LEN} bytes"
        ));
    }
    Ok(())
}

/// Hashes a password with bcrypt at [`BCRYPT_COST`].
pub fn hash_password(password: &str) -> Result<String, String> {
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| format!("hashing the password: {e}"))
}

/// Whether `password` matches the bcrypt `hash`; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// A new random password of 16 letters and digits (about 95 bits), like Argo CD's initial
/// admin password.
///
/// # Panics
/// If the operating system's random number generator fails.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(16);
    while out.len() < 16 {
        let mut b = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut b) {
            panic!("the operating system's random number generator failed: {e}");
        }
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        for x in b {
            if (x as usize) < limit && out.len() < 16 {
                out.push(ALPHABET[x as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_follow_argo_cd() {
        let cases = [
            (
                "admin",
                "admin.password",
                "admin.passwordMtime",
                "admin.tokens",
            ),
            (
                "ci",
                "accounts.ci.password",
                "accounts.ci.passwordMtime",
                "accounts.ci.tokens",
            ),
        ];
        for (account, password, mtime, tokens) in cases {
            assert_eq!(password_key(account), password);
            assert_eq!(password_mtime_key(account), mtime);
            assert_eq!(tokens_key(account), tokens);
        }
    }

    #[test]
    fn account_subjects() {
        let cases = [
            ("admin:login", Some(("admin", "login"))),
            ("ci:apiKey", Some(("ci", "apiKey"))),
            ("admin", None),
            ("proj:default:ci", None),
            (":login", None),
            ("a:b:login", None),
            ("alice:other", None),
            ("0c5b3f6a-1111", None),
        ];
        for (sub, want) in cases {
            assert_eq!(split_account_subject(sub), want, "{sub}");
        }
        assert_eq!(account_subject("ci", API_KEY), "ci:apiKey");
    }

    #[test]
    fn reads_account_secrets() {
        let data = BTreeMap::from([
            ("admin.password".to_owned(), b"$2a$10$hash".to_vec()),
            (
                "admin.passwordMtime".to_owned(),
                b"2026-01-02T03:04:05Z".to_vec(),
            ),
            (
                "accounts.ci.tokens".to_owned(),
                br#"[{"id":"t1","iat":100},{"id":"t2","iat":200,"exp":300}]"#.to_vec(),
            ),
            ("accounts.bad.tokens".to_owned(), b"{".to_vec()),
            (
                "accounts.when.passwordMtime".to_owned(),
                b"yesterday".to_vec(),
            ),
        ]);
        let admin = AccountSecrets::from_secret_data(&data, "admin").unwrap();
        assert_eq!(admin.password_hash.as_deref(), Some("$2a$10$hash"));
        assert_eq!(admin.password_mtime, Some(1_767_323_045));
        assert!(admin.session_current(1_767_323_045));
        assert!(!admin.session_current(1_767_323_044));
        let ci = AccountSecrets::from_secret_data(&data, "ci").unwrap();
        assert_eq!(ci.password_hash, None);
        assert!(ci.session_current(0));
        assert!(ci.has_token("t2") && !ci.has_token("t3"));
        assert_eq!(ci.tokens[1].exp, 300);
        assert_eq!(
            tokens_json(&ci.tokens),
            r#"[{"id":"t1","iat":100},{"id":"t2","iat":200,"exp":300}]"#
        );
        let bad = AccountSecrets::from_secret_data(&data, "bad").unwrap_err();
        assert!(
            bad.starts_with("accounts.bad.tokens: not a JSON list"),
            "{bad}"
        );
        let when = AccountSecrets::from_secret_data(&data, "when").unwrap_err();
        assert!(when.starts_with("accounts.when.passwordMtime"), "{when}");
        assert_eq!(
            AccountSecrets::from_secret_data(&data, "nobody").unwrap(),
            AccountSecrets::default()
        );
    }

    #[test]
    fn account_tokens_follow_the_account() {
        let on = AccountState {
            enabled: true,
            login: true,
            api_key: true,
        };
        let secrets = AccountSecrets {
            password_hash: None,
            password_mtime: Some(1000),
            tokens: vec![TokenRecord {
                id: "t1".into(),
                iat: 900,
                exp: 0,
            }],
        };
        let session = |iat| {
            crate::Claims::new_session(
                "alice:login",
                vec![],
                iat,
                std::time::Duration::from_secs(60),
            )
        };
        let api = |jti: &str| crate::Claims::new_api_token("alice:apiKey", jti, 900, None);
        let cases: Vec<(crate::Claims, Option<AccountState>, Result<&str, &str>)> = vec![
            (session(1000), Some(on), Ok("alice")),
            (session(999), Some(on), Err("password has changed")),
            (api("t1"), Some(on), Ok("alice")),
            (api("t2"), Some(on), Err("has been deleted")),
            (session(1000), None, Err("no longer exists")),
            (
                api("t1"),
                Some(AccountState {
                    enabled: false,
                    ..on
                }),
                Err("is disabled"),
            ),
            (
                api("t1"),
                Some(AccountState {
                    api_key: false,
                    ..on
                }),
                Err("no longer use API tokens"),
            ),
            (
                session(1000),
                Some(AccountState { login: false, ..on }),
                Err("no longer log in"),
            ),
            (
                crate::Claims::new_session(
                    "alice",
                    vec![],
                    1000,
                    std::time::Duration::from_secs(60),
                ),
                Some(on),
                Err("not a local account"),
            ),
        ];
        for (claims, account, want) in cases {
            match (check_account_token(&claims, account, &secrets), want) {
                (Ok(name), Ok(w)) => assert_eq!(name, w),
                (Err(e), Err(w)) => assert!(e.contains(w), "{e} should contain {w}"),
                (got, want) => panic!("{}: got {got:?}, want {want:?}", claims.sub),
            }
        }
    }

    #[test]
    fn passwords() {
        let cases = [
            ("short", false),
            ("12345678", true),
            ("ünïcødé!", true),
            (&"x".repeat(72), true),
            (&"x".repeat(73), false),
        ];
        for (password, ok) in cases {
            assert_eq!(check_new_password(password).is_ok(), ok, "{password}");
        }
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$2"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not-a-hash"));
        // Argo CD (Go's bcrypt) writes $2a$ hashes; they verify too.
        let go_hash = "$2a$10$rRyBsGSHK6.uc8fntPwVIuLVHgsAhAX7TcdrqW/RADU0uh7CaChLa";
        assert!(verify_password("password", go_hash));
    }

    #[test]
    fn generated_passwords_are_random_and_plain() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(format_mtime(1_767_323_045), "2026-01-02T03:04:05Z");
    }
}
