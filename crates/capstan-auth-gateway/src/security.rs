//! The browser-facing rules: where a login may return to (no open redirects), which
//! cookie-authenticated requests are cross-site forgeries, the session cookie's attributes,
//! and the security headers on every response.

use axum::http::{HeaderMap, HeaderValue, Method, header};

/// Argo CD's session cookie (the api-server reads it too), split over `argocd.token-1`, …
/// when the token is long (see `capstan_tokens::cookie`).
pub const TOKEN_COOKIE: &str = capstan_tokens::cookie::TOKEN_COOKIE;
/// The cookie binding a login's `state` to the browser that started it.
pub const STATE_COOKIE: &str = "capstan.oauthstate";
/// Where a login returns when it was not told.
pub const DEFAULT_RETURN_PATH: &str = "/applications";

/// The path a login may return to: a same-origin path (`/applications?x=1`), or an absolute
/// URL on `public_origin` (as Argo CD's UI sends), reduced to its path. Anything that could
/// leave the site — another host, a scheme-relative `//host`, backslashes browsers read as
/// slashes, control characters — is refused.
pub fn safe_return_path(raw: Option<&str>, public_origin: Option<&str>) -> Result<String, String> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(DEFAULT_RETURN_PATH.to_owned());
    };
    let refuse = || {
        Err(format!(
            "return_url {:?} is not a path on this server; only same-origin paths are allowed",
            raw.chars().take(200).collect::<String>()
        ))
    };
    if raw.chars().any(|c| c.is_control() || c == '\\') {
        return refuse();
    }
    if raw.starts_with('/') {
        if raw.starts_with("//") {
            return refuse();
        }
        return Ok(raw.to_owned());
    }
    let (Ok(url), Some(origin)) = (url::Url::parse(raw), public_origin) else {
        return refuse();
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return refuse();
    };
    if url.origin() != origin.origin() || !url.username().is_empty() || url.password().is_some() {
        return refuse();
    }
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    if path.starts_with("//") {
        return refuse();
    }
    Ok(path)
}

/// Cross-site request forgery protection for requests that a browser authenticates by
/// itself (the session cookie). A state-changing request carrying the session cookie but
/// no `Authorization` header must come from one of `allowed_origins` — checked by `Origin`,
/// else by `Referer`; a request without either is refused. Bearer-token and gRPC clients
/// are not browsers and pass; so do safe methods. `SameSite` on the cookie is the first
/// line; this is the second.
pub fn csrf_check(
    method: &Method,
    headers: &HeaderMap,
    allowed_origins: &[String],
) -> Result<(), String> {
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return Ok(());
    }
    if headers.contains_key(header::AUTHORIZATION) || !has_cookie(headers, TOKEN_COOKIE) {
        return Ok(());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Native gRPC needs HTTP/2 trailers no browser form or fetch can produce.
    if content_type.starts_with("application/grpc")
        && !content_type.starts_with("application/grpc-web")
    {
        return Ok(());
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| u.origin().ascii_serialization())
        });
    let Some(origin) = origin else {
        return Err(
            "cross-site request refused: a cookie-authenticated change needs an Origin or \
             Referer header (or use an Authorization bearer token)"
                .to_owned(),
        );
    };
    let origin = origin.trim_end_matches('/');
    if allowed_origins
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        Ok(())
    } else {
        Err(format!(
            "cross-site request refused: origin {origin:?} is not this server"
        ))
    }
}

/// The origins this server answers as: the configured external URL, and the origin the
/// request itself names (`X-Forwarded-Proto`/`X-Forwarded-Host` from a trusted ingress, else
/// `Host`).
pub fn request_origins(headers: &HeaderMap, public_url: Option<&str>, secure: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(u) = public_url.and_then(|u| url::Url::parse(u).ok()) {
        out.push(u.origin().ascii_serialization());
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("x-forwarded-host").or_else(|| text("host"));
    if let Some(host) = host {
        let scheme = text("x-forwarded-proto").unwrap_or(if secure { "https" } else { "http" });
        out.push(format!("{scheme}://{host}"));
    }
    out
}

/// The request's cookies as `(name, value)` pairs.
fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
}

/// The session token the request's cookies carry (joined from its chunks).
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    capstan_tokens::cookie::join(TOKEN_COOKIE, pairs(headers))
}

/// The `Set-Cookie` values carrying a session `token` for `max_age_secs`, and clearing the
/// chunks of a longer earlier token this request still carries.
pub fn session_cookies(
    headers: &HeaderMap,
    token: &str,
    max_age_secs: u64,
    secure: bool,
) -> Result<Vec<String>, String> {
    let attributes = cookie_attributes("/", max_age_secs, secure);
    let parts = capstan_tokens::cookie::split(TOKEN_COOKIE, token, &attributes)?;
    let mut out: Vec<String> = parts.iter().map(|p| format!("{p}; {attributes}")).collect();
    for stale in stale_chunks(headers, parts.len()) {
        out.push(clear_cookie(&stale, "/", secure));
    }
    Ok(out)
}

/// The `Set-Cookie` values removing the session cookie and every chunk the request carries.
pub fn clear_session_cookies(headers: &HeaderMap, secure: bool) -> Vec<String> {
    std::iter::once(TOKEN_COOKIE.to_owned())
        .chain(stale_chunks(headers, 1))
        .map(|name| clear_cookie(&name, "/", secure))
        .collect()
}

/// Names of `argocd.token-<i>` chunk cookies in the request with `i >= keep`.
fn stale_chunks(headers: &HeaderMap, keep: usize) -> Vec<String> {
    let prefix = format!("{TOKEN_COOKIE}-");
    let mut names: Vec<String> = pairs(headers)
        .filter_map(|(name, _)| {
            let i: usize = name.strip_prefix(&prefix)?.parse().ok()?;
            (i >= keep).then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the request carries a cookie named `name`.
pub fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    cookie(headers, name).is_some()
}

/// The value of the cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    pairs(headers)
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `HttpOnly` always, `Secure` when served over TLS, `SameSite=Lax`
/// (the IdP's redirect back is a top-level GET, which `Lax` admits and `Strict` would not).
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{name}={value}; {}",
        cookie_attributes(path, max_age_secs, secure)
    )
}

fn cookie_attributes(path: &str, max_age_secs: u64, secure: bool) -> String {
    let mut c = format!("Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear_cookie(name: &str, path: &str, secure: bool) -> String {
    set_cookie(name, "", path, 0, secure)
}

/// Adds the security headers every response gets (unless the upstream set its own).
pub fn add_security_headers(headers: &mut HeaderMap, secure: bool) {
    let defaults: [(&str, &str); 5] = [
        ("x-frame-options", "sameorigin"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("content-security-policy", "frame-ancestors 'self'"),
        ("x-xss-protection", "0"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if secure && !headers.contains_key("strict-transport-security") {
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sessions_take_several_cookies_and_replace_stale_chunks() {
        let token = "t".repeat(9000);
        let old = headers(&[(
            "cookie",
            "argocd.token=4:a; argocd.token-1=b; argocd.token-2=c; argocd.token-3=d",
        )]);
        let set = session_cookies(&old, &token, 60, true).unwrap();
        let names: Vec<&str> = set.iter().map(|c| c.split('=').next().unwrap()).collect();
        assert_eq!(
            names,
            [
                "argocd.token",
                "argocd.token-1",
                "argocd.token-2",
                "argocd.token-3"
            ]
        );
        assert!(
            set[..3]
                .iter()
                .all(|c| c.ends_with("HttpOnly; SameSite=Lax; Secure"))
        );
        assert!(
            set[3].contains("Max-Age=0"),
            "the fourth chunk of the old token goes"
        );
        let back = headers(&[(
            "cookie",
            &set[..3]
                .iter()
                .map(|c| c.split(';').next().unwrap())
                .collect::<Vec<_>>()
                .join("; "),
        )]);
        assert_eq!(session_token(&back).as_deref(), Some(token.as_str()));
        let cleared = clear_session_cookies(&back, false);
        assert_eq!(cleared.len(), 3);
        assert!(cleared.iter().all(|c| c.contains("Max-Age=0")));
    }

    #[test]
    fn return_paths() {
        let origin = Some("https://cd.example.com");
        let cases: [(Option<&str>, Result<&str, ()>); 13] = [
            (None, Ok("/applications")),
            (Some(""), Ok("/applications")),
            (
                Some("/applications/guestbook"),
                Ok("/applications/guestbook"),
            ),
            (Some("/a?b=c#d"), Ok("/a?b=c#d")),
            (
                Some("https://cd.example.com/settings?x=1"),
                Ok("/settings?x=1"),
            ),
            (Some("https://evil.example.com/"), Err(())),
            (Some("https://cd.example.com.evil.com/"), Err(())),
            (Some("http://cd.example.com/"), Err(())),
            (Some("//evil.example.com/x"), Err(())),
            (Some("/\\evil.example.com"), Err(())),
            (Some("javascript:alert(1)"), Err(())),
            (Some("/ok\r\nSet-Cookie: x=y"), Err(())),
            (Some("https://user@cd.example.com/"), Err(())),
        ];
        for (raw, want) in cases {
            let got = safe_return_path(raw, origin);
            match want {
                Ok(path) => assert_eq!(got.as_deref(), Ok(path), "{raw:?}"),
                Err(()) => {
                    let err = got.expect_err(raw.unwrap_or_default());
                    assert!(err.contains("only same-origin paths"), "{err}");
                }
            }
        }
        // Without a configured external URL, absolute URLs are refused.
        assert!(safe_return_path(Some("https://cd.example.com/x"), None).is_err());
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn csrf() {
        let allowed = vec!["https://cd.example.com".to_owned()];
        let cookie = ("cookie", "argocd.token=abc");
        let cases: Vec<(Method, HeaderMap, bool)> = vec![
            (Method::GET, headers(&[cookie]), true),
            (Method::POST, headers(&[]), true),
            (
                Method::POST,
                headers(&[cookie, ("authorization", "Bearer t")]),
                true,
            ),
            (
                Method::POST,
                headers(&[cookie, ("origin", "https://cd.example.com")]),
                true,
            ),
            (
                Method::DELETE,
                headers(&[cookie, ("referer", "https://cd.example.com/applications")]),
                true,
            ),
            (
                Method::POST,
                headers(&[cookie, ("content-type", "application/grpc")]),
                true,
            ),
            (Method::POST, headers(&[cookie]), false),
            (
                Method::POST,
                headers(&[cookie, ("origin", "https://evil.example.com")]),
                false,
            ),
            (Method::POST, headers(&[cookie, ("origin", "null")]), false),
            (
                Method::PUT,
                headers(&[
                    cookie,
                    ("referer", "https://evil.example.com/cd.example.com"),
                ]),
                false,
            ),
            (
                Method::POST,
                headers(&[cookie, ("content-type", "application/grpc-web+proto")]),
                false,
            ),
        ];
        for (method, h, ok) in cases {
            assert_eq!(
                csrf_check(&method, &h, &allowed).is_ok(),
                ok,
                "{method} {h:?}"
            );
        }
    }

    #[test]
    fn origins_and_cookies() {
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("cookie", "a=1; argocd.token=t.o.k"),
        ]);
        assert_eq!(
            request_origins(&h, Some("https://cd.example.com/"), false),
            ["https://cd.example.com", "http://127.0.0.1:8080"]
        );
        assert_eq!(cookie(&h, "argocd.token").as_deref(), Some("t.o.k"));
        assert_eq!(session_token(&h).as_deref(), Some("t.o.k"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(
            set_cookie("argocd.token", "v", "/", 60, true),
            "argocd.token=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let mut out = HeaderMap::new();
        add_security_headers(&mut out, true);
        assert_eq!(out["x-frame-options"], "sameorigin");
        assert!(out.contains_key("strict-transport-security"));
    }
}
