//! Request authentication, as the `go-playground/webhooks/v6` parsers Argo CD uses do it.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::secrets::SecretValue;
use super::{Provider, WebhookError, header};

/// GitHub's signature header (HMAC-SHA256, `sha256=<hex>`).
pub(crate) const GITHUB_SIGNATURE: &str = "X-Hub-Signature-256";
/// Bitbucket Server's signature header (HMAC-SHA256, `sha256=<hex>`).
pub(crate) const BITBUCKET_SERVER_SIGNATURE: &str = "X-Hub-Signature";
/// Gogs' signature header (HMAC-SHA256, bare hex).
pub(crate) const GOGS_SIGNATURE: &str = "X-Gogs-Signature";
/// GitLab's shared token header.
pub(crate) const GITLAB_TOKEN: &str = "X-Gitlab-Token";

/// Constant-time equality of two byte strings of the same length (Go's `hmac.Equal`); unequal
/// lengths return `false` at once.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Constant-time equality that hides the lengths too, by comparing SHA-512 digests (as
/// go-playground's GitLab parser does).
fn ct_eq_hashed(a: &[u8], b: &[u8]) -> bool {
    ct_eq(&Sha512::digest(a), &Sha512::digest(b))
}

/// Lowercase hex HMAC-SHA256 of `body`.
fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> Option<String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(body);
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// GitHub: when `webhook.github.secret` is set, `X-Hub-Signature-256` must be present and equal
/// (as a lowercase hex string) to the HMAC-SHA256 of the body. The `sha256=` prefix is trimmed
/// if present. The legacy SHA-1 `X-Hub-Signature` is not accepted, as in Argo CD (whose
/// go-playground v6 parser reads only `X-Hub-Signature-256`).
pub(crate) fn github(
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&SecretValue>,
) -> Result<(), WebhookError> {
    let provider = Provider::GitHub;
    let Some(secret) = secret else { return Ok(()) };
    let signature = header(headers, GITHUB_SIGNATURE).ok_or(WebhookError::MissingSignature {
        provider,
        header: GITHUB_SIGNATURE,
    })?;
    let signature = signature.strip_prefix(b"sha256=").unwrap_or(signature);
    if signature.len() < 6 {
        return Err(WebhookError::MalformedSignature {
            provider,
            header: GITHUB_SIGNATURE,
        });
    }
    check_hmac(provider, secret, body, signature)
}

/// Bitbucket Server: when `webhook.bitbucketserver.secret` is set, `X-Hub-Signature` must be
/// `sha256=<hex HMAC-SHA256 of the body>`.
pub(crate) fn bitbucket_server(
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&SecretValue>,
) -> Result<(), WebhookError> {
    let provider = Provider::BitbucketServer;
    let Some(secret) = secret else { return Ok(()) };
    let signature =
        header(headers, BITBUCKET_SERVER_SIGNATURE).ok_or(WebhookError::MissingSignature {
            provider,
            header: BITBUCKET_SERVER_SIGNATURE,
        })?;
    // Go slices off the first seven bytes whatever they are; we require them to be `sha256=`.
    let signature = signature
        .strip_prefix(b"sha256=")
        .ok_or(WebhookError::MalformedSignature {
            provider,
            header: BITBUCKET_SERVER_SIGNATURE,
        })?;
    check_hmac(provider, secret, body, signature)
}

/// Gogs: when `webhook.gogs.secret` is set, `X-Gogs-Signature` must be the bare hex
/// HMAC-SHA256 of the body.
pub(crate) fn gogs(
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&SecretValue>,
) -> Result<(), WebhookError> {
    let provider = Provider::Gogs;
    let Some(secret) = secret else { return Ok(()) };
    let signature = header(headers, GOGS_SIGNATURE).ok_or(WebhookError::MissingSignature {
        provider,
        header: GOGS_SIGNATURE,
    })?;
    check_hmac(provider, secret, body, signature)
}

fn check_hmac(
    provider: Provider,
    secret: &SecretValue,
    body: &[u8],
    signature: &[u8],
) -> Result<(), WebhookError> {
    match hmac_sha256_hex(secret.expose(), body) {
        Some(expected) if ct_eq(signature, expected.as_bytes()) => Ok(()),
        _ => Err(WebhookError::SignatureMismatch { provider }),
    }
}

/// GitLab: when `webhook.gitlab.secret` is set, `X-Gitlab-Token` must equal it (a missing
/// header counts as the empty token).
///
/// Argo CD's go-playground parser is always given a secret hash, even of the empty string, so
/// with no secret configured Argo CD actually rejects requests that *do* carry a token; we accept
/// them, like every other provider without a configured secret.
pub(crate) fn gitlab(
    headers: &HeaderMap,
    secret: Option<&SecretValue>,
) -> Result<(), WebhookError> {
    let Some(secret) = secret else { return Ok(()) };
    let token = header(headers, GITLAB_TOKEN).unwrap_or_default();
    if ct_eq_hashed(token, secret.expose()) {
        Ok(())
    } else {
        Err(WebhookError::GitLabTokenMismatch)
    }
}

/// Bitbucket Cloud: when `webhook.bitbucket.uuid` is set, `X-Hook-UUID` must equal it.
pub(crate) fn bitbucket(uuid: &[u8], secret: Option<&SecretValue>) -> Result<(), WebhookError> {
    let Some(secret) = secret else { return Ok(()) };
    if ct_eq_hashed(uuid, secret.expose()) {
        Ok(())
    } else {
        Err(WebhookError::BitbucketUuidMismatch)
    }
}

/// Azure DevOps: unless both `webhook.azuredevops.username` and `webhook.azuredevops.password`
/// are unset, the request must carry HTTP basic auth with exactly that username and password
/// (an unset one must then be empty).
pub(crate) fn azure_devops(
    headers: &HeaderMap,
    username: Option<&SecretValue>,
    password: Option<&SecretValue>,
) -> Result<(), WebhookError> {
    if username.is_none() && password.is_none() {
        return Ok(());
    }
    let expected_user = username.map(SecretValue::expose).unwrap_or_default();
    let expected_password = password.map(SecretValue::expose).unwrap_or_default();
    let Some((user, pass)) = basic_auth(headers) else {
        return Err(WebhookError::BasicAuthMismatch);
    };
    // Evaluate both comparisons, so timing does not tell which one failed.
    let user_ok = ct_eq_hashed(&user, expected_user);
    let password_ok = ct_eq_hashed(&pass, expected_password);
    if user_ok & password_ok {
        Ok(())
    } else {
        Err(WebhookError::BasicAuthMismatch)
    }
}

/// Go's `Request.BasicAuth`: `Authorization: Basic <base64(user:password)>`, scheme
/// case-insensitive, split at the first `:`.
fn basic_auth(headers: &HeaderMap) -> Option<(Vec<u8>, Vec<u8>)> {
    // Go's StdEncoding: padding required, non-zero trailing bits tolerated.
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let value = headers.get(axum::http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, credentials) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"Basic ") {
        return None;
    }
    // Go's decoder skips CR and LF.
    let credentials: Vec<u8> = credentials
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let decoded = GO_STD.decode(credentials).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
        assert!(ct_eq_hashed(b"token", b"token"));
        assert!(!ct_eq_hashed(b"token", b"token2"));
    }

    #[test]
    fn hmac_matches_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?").as_deref(),
            Some("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn parses_basic_auth_like_go() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("Basic dXNlcjpwYXNz", Some(("user", "pass"))),
            ("basic dXNlcjpwYXNz", Some(("user", "pass"))),
            ("BASIC dXNlcjpwYXNz", Some(("user", "pass"))),
            // "user:pa:ss": split at the first colon.
            ("Basic dXNlcjpwYTpzcw==", Some(("user", "pa:ss"))),
            // ":" only: empty username and password.
            ("Basic Og==", Some(("", ""))),
            // No colon.
            ("Basic dXNlcg==", None),
            // Not base64 / missing padding.
            ("Basic !!!", None),
            ("Basic Og", None),
            ("Bearer dXNlcjpwYXNz", None),
            ("Basic", None),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::header::AUTHORIZATION,
                HeaderValue::from_str(value).unwrap(),
            );
            let got = basic_auth(&headers);
            let expected = expected.map(|(u, p)| (u.as_bytes().to_vec(), p.as_bytes().to_vec()));
            assert_eq!(got, expected, "{value}");
        }
    }
}
