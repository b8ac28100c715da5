//! Session tokens in cookies, split as Argo CD splits them: browsers drop a cookie over 4 KB,
//! and a token carrying an Azure AD user's group object IDs easily exceeds that. The first
//! cookie is `argocd.token=<token>` when the token fits, else `argocd.token=<n>:<chunk 1>`
//! followed by `argocd.token-1=<chunk 2>` … `argocd.token-<n-1>=<chunk n>` (Argo CD's
//! `httputil.MakeCookieMetadata` / `JoinCookies`).

/// Argo CD's session cookie name.
pub const TOKEN_COOKIE: &str = "argocd.token";
/// The longest `Set-Cookie` header value Argo CD writes (browsers allow 4096 bytes per
/// cookie, name and attributes included).
pub const MAX_COOKIE_LENGTH: usize = 4093;
/// The most cookies one token may take.
pub const MAX_COOKIE_NUMBER: usize = 10;

/// The `name=value` parts of the cookies carrying `value` under `name`, each short enough
/// that with `; <attributes>` it stays within [`MAX_COOKIE_LENGTH`]. Fails when that would
/// take more than [`MAX_COOKIE_NUMBER`] cookies.
pub fn split(name: &str, value: &str, attributes: &str) -> Result<Vec<String>, String> {
    // Room for the longest name (`<name>-9=`), the `<n>:` prefix and `; <attributes>`.
    let overhead = name.len() + 3 + 3 + 2 + attributes.len();
    let max = MAX_COOKIE_LENGTH.saturating_sub(overhead).max(1);
    let chunks: Vec<&str> = value
        .as_bytes()
        .chunks(max)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    if chunks.len() > MAX_COOKIE_NUMBER {
        return Err(format!(
            "the session token is {} bytes: more than {MAX_COOKIE_NUMBER} cookies",
            value.len()
        ));
    }
    if chunks.len() <= 1 {
        return Ok(vec![format!("{name}={value}")]);
    }
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| match i {
            0 => format!("{name}={}:{chunk}", chunks.len()),
            _ => format!("{name}-{i}={chunk}"),
        })
        .collect())
}

/// The value carried by the cookies `name`, `name-1`, … in `cookies` (`(name, value)` pairs
/// of a request), or `None` when `name` is absent or a chunk is missing.
pub fn join<'a>(
    name: &str,
    cookies: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let cookies: Vec<(&str, &str)> = cookies.into_iter().collect();
    let get = |n: &str| cookies.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    let first = get(name).filter(|v| !v.is_empty())?;
    let Some((count, head)) = first
        .split_once(':')
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
    else {
        // A token (a JWT) never contains ':': one cookie.
        return Some(first.to_owned());
    };
    if count == 0 || count > MAX_COOKIE_NUMBER {
        return None;
    }
    let mut value = head.to_owned();
    for i in 1..count {
        value.push_str(get(&format!("{name}-{i}"))?);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_take_one_cookie() {
        assert_eq!(
            split("argocd.token", "a.b.c", "Path=/").unwrap(),
            ["argocd.token=a.b.c"]
        );
        assert_eq!(
            join("argocd.token", [("x", "1"), ("argocd.token", "a.b.c")]).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(join("argocd.token", [("x", "1")]), None);
        assert_eq!(join("argocd.token", [("argocd.token", "")]), None);
    }

    #[test]
    fn long_tokens_are_split_and_joined() {
        let attributes = "Path=/; Max-Age=86400; HttpOnly; SameSite=Lax; Secure";
        let token: String = (0..10_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let parts = split("argocd.token", &token, attributes).unwrap();
        assert_eq!(parts.len(), 3);
        assert!(parts[0].starts_with("argocd.token=3:"));
        assert!(parts[1].starts_with("argocd.token-1="));
        assert!(parts[2].starts_with("argocd.token-2="));
        for p in &parts {
            assert!(
                p.len() + 2 + attributes.len() <= MAX_COOKIE_LENGTH,
                "{}",
                p.len()
            );
        }
        let pairs: Vec<(&str, &str)> = parts.iter().filter_map(|p| p.split_once('=')).collect();
        assert_eq!(
            join("argocd.token", pairs.iter().copied()).as_deref(),
            Some(token.as_str())
        );
        // A missing chunk is no token at all, not a truncated one.
        assert_eq!(join("argocd.token", pairs[..2].iter().copied()), None);
        // Too big for ten cookies.
        assert!(split("argocd.token", &"x".repeat(50_000), attributes).is_err());
    }
}
