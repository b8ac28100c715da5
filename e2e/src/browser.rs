//! A scripted "browser" over HTTP for end-to-end tests of login flows.
//!
//! [`Browser`] is a `reqwest` client with a cookie jar and automatic redirects switched off, so
//! a test sees every hop of a flow (auth-gateway → IdP authorize → login/consent → callback)
//! and can stop right before a URL it must not, or cannot, request — e.g. a CLI's loopback
//! redirect URI whose listener the test plays itself:
//!
//! ```no_run
//! # async fn demo(authorize_url: &str) -> anyhow::Result<()> {
//! use capstan_e2e::browser::Browser;
//! let browser = Browser::new()?;
//! let callback = browser
//!     .follow_until(authorize_url, "http://127.0.0.1:8085/auth/callback")
//!     .await?;
//! let url = url::Url::parse(&callback)?;
//! let code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
//! # let _ = code; Ok(()) }
//! ```
//!
//! Every [`Response`] keeps the raw `Set-Cookie` header values ([`Response::set_cookies`]), so
//! tests can check cookie attributes (`HttpOnly`, `SameSite`, `Secure`, `Path`, `Max-Age`) with
//! [`SetCookie`]; [`Browser::cookie`] tells what the jar would send to a URL. Note that the jar,
//! like real browsers, treats loopback (`127.0.0.1`, `localhost`) as a secure origin: a `Secure`
//! cookie set over plain `http://127.0.0.1` is kept and sent back, so whether a cookie is marked
//! `Secure` must be checked on the `Set-Cookie` header, not by its absence from the jar.

use std::sync::Arc;

use anyhow::{Context, bail};
use reqwest::Method;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

/// How many redirects [`Browser::follow_until`] and [`Browser::follow`] follow at most.
pub const MAX_HOPS: usize = 20;

/// How much of a body error messages show.
const BODY_EXCERPT: usize = 500;

/// An HTTP client that behaves like a browser without JavaScript: keeps cookies, does not
/// follow redirects by itself.
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Jar>,
}

/// One HTTP response, read completely.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// All response headers.
    pub headers: HeaderMap,
    /// The body (lossy UTF-8).
    pub body: String,
    /// The URL that was requested.
    pub url: String,
    /// The raw values of every `Set-Cookie` header, in order.
    pub set_cookies: Vec<String>,
}

impl Browser {
    /// A browser with an empty cookie jar and default TLS settings.
    pub fn new() -> anyhow::Result<Self> {
        Self::from_builder(reqwest::Client::builder())
    }

    /// A browser from a client builder with other settings (e.g. an extra root certificate,
    /// a timeout); its redirect policy and cookie store are replaced.
    pub fn from_builder(builder: reqwest::ClientBuilder) -> anyhow::Result<Self> {
        let jar = Arc::new(Jar::default());
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .context("building the HTTP client")?;
        Ok(Browser { client, jar })
    }

    /// The underlying client (shares the cookie jar, does not follow redirects).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> anyhow::Result<Response> {
        self.request(Method::GET, url, &[], None).await
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body, as a submitted HTML form.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Response> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.request(
            Method::POST,
            url,
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(body),
        )
        .await
    }

    /// Any request, with extra headers (on top of the jar's cookies) and an optional body.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> anyhow::Result<Response> {
        let mut request = self.client.request(method.clone(), url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let set_cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the body of {method} {url}"))?;
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            url: url.to_string(),
            set_cookies,
        })
    }

    /// GETs `start` and follows `Location` redirects (relative ones resolved against the
    /// current URL, cookies kept, at most [`MAX_HOPS`]) until a URL starts with `stop_prefix`,
    /// and returns that URL WITHOUT requesting it. Fails when a hop does not redirect (showing
    /// its status and the start of its body) or after too many hops.
    pub async fn follow_until(&self, start: &str, stop_prefix: &str) -> anyhow::Result<String> {
        let mut url = start.to_string();
        for _ in 0..=MAX_HOPS {
            if url.starts_with(stop_prefix) {
                return Ok(url);
            }
            let response = self.get(&url).await?;
            url = response.redirect_target().with_context(|| {
                format!("while following redirects from {start} to {stop_prefix}")
            })?;
        }
        bail!("more than {MAX_HOPS} redirects from {start} without reaching {stop_prefix}")
    }

    /// Like [`Browser::follow_until`], but continues from a response already received (e.g.
    /// the redirect answering a form POST).
    pub async fn follow_from_until(
        &self,
        response: &Response,
        stop_prefix: &str,
    ) -> anyhow::Result<String> {
        let next = response
            .redirect_target()
            .with_context(|| format!("while following redirects to {stop_prefix}"))?;
        self.follow_until(&next, stop_prefix).await
    }

    /// GETs `start` and follows redirects until a response that is not a redirect, which is
    /// returned (its [`Response::url`] tells where it ended). At most [`MAX_HOPS`] hops.
    pub async fn follow(&self, start: &str) -> anyhow::Result<Response> {
        let mut response = self.get(start).await?;
        for _ in 0..MAX_HOPS {
            match response.location() {
                Some(next) if response.is_redirect() => response = self.get(&next).await?,
                _ => return Ok(response),
            }
        }
        bail!("more than {MAX_HOPS} redirects from {start}")
    }

    /// The value of cookie `name` that the jar would send with a request to `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies(url)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Every `(name, value)` the jar would send with a request to `url`.
    pub fn cookies(&self, url: &str) -> Vec<(String, String)> {
        let Ok(url) = url::Url::parse(url) else {
            return Vec::new();
        };
        let Some(header) = self.jar.cookies(&url) else {
            return Vec::new();
        };
        String::from_utf8_lossy(header.as_bytes())
            .split(';')
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                Some((name.to_string(), value.to_string()))
            })
            .collect()
    }

    /// Puts a cookie into the jar as if `url` had answered with `Set-Cookie: <set_cookie>`.
    pub fn add_cookie(&self, url: &str, set_cookie: &str) -> anyhow::Result<()> {
        let url = url::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        self.jar.add_cookie_str(set_cookie, &url);
        Ok(())
    }
}

impl Response {
    /// `true` for a 3xx status with a `Location` header.
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status) && self.headers.contains_key(LOCATION)
    }

    /// The `Location` header, resolved against [`Response::url`].
    pub fn location(&self) -> Option<String> {
        let location = self.header("location")?;
        let base = url::Url::parse(&self.url).ok()?;
        base.join(location).ok().map(String::from)
    }

    /// The first value of header `name`, when it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The raw `Set-Cookie` value that sets cookie `name` (the last one, if several do).
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .rev()
            .find(|raw| SetCookie::parse(raw).name == name)
            .map(String::as_str)
    }

    /// The parsed `Set-Cookie` for cookie `name` (see [`Response::set_cookie`]).
    pub fn parsed_set_cookie(&self, name: &str) -> Option<SetCookie> {
        self.set_cookie(name).map(SetCookie::parse)
    }

    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| {
            format!(
                "{} answered {} with a body that is not JSON: {}",
                self.url,
                self.status,
                excerpt(&self.body)
            )
        })
    }

    /// Fails (with the status and the start of the body) unless the status is 2xx.
    pub fn error_for_status(self) -> anyhow::Result<Self> {
        if !(200..300).contains(&self.status) {
            bail!(
                "{} answered {}: {}",
                self.url,
                self.status,
                excerpt(&self.body)
            );
        }
        Ok(self)
    }

    /// The absolute URL this response redirects to, or an error showing what came instead.
    fn redirect_target(&self) -> anyhow::Result<String> {
        match self.location() {
            Some(next) if self.is_redirect() => Ok(next),
            _ => bail!(
                "{} answered {} without a redirect: {}",
                self.url,
                self.status,
                excerpt(&self.body)
            ),
        }
    }
}

/// A `Set-Cookie` header value, split into name, value and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value.
    pub value: String,
    /// The attributes in order, as `(name, value)`; flags like `HttpOnly` have no value.
    pub attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    /// Parses a raw `Set-Cookie` value (lenient: never fails).
    pub fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let first = parts.next().unwrap_or_default();
        let (name, value) = first.split_once('=').unwrap_or((first, ""));
        let attributes = parts
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
                None => (a.to_string(), None),
            })
            .collect();
        SetCookie {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
            attributes,
        }
    }

    /// `true` when attribute `name` (case-insensitive, e.g. `"HttpOnly"`) is present.
    pub fn has(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The value of attribute `name` (case-insensitive, e.g. `"SameSite"` → `"Lax"`).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }
}

/// The first [`BODY_EXCERPT`] bytes of `body` (cut at a character boundary).
fn excerpt(body: &str) -> &str {
    if body.len() <= BODY_EXCERPT {
        return body;
    }
    let mut end = BODY_EXCERPT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_parsing() {
        let c = SetCookie::parse("sid=abc=def; Path=/; HttpOnly; SameSite=Lax; secure");
        assert_eq!(c.name, "sid");
        assert_eq!(c.value, "abc=def");
        assert!(c.has("httponly") && c.has("Secure") && !c.has("Domain"));
        assert_eq!(c.attribute("samesite"), Some("Lax"));
        assert_eq!(c.attribute("path"), Some("/"));
    }

    #[test]
    fn jar_and_redirects() {
        let browser = Browser::new().unwrap();
        browser
            .add_cookie("http://127.0.0.1:1/a", "k=v; Path=/; HttpOnly")
            .unwrap();
        assert_eq!(
            browser.cookie("http://127.0.0.1:1/b", "k").as_deref(),
            Some("v")
        );
        assert_eq!(browser.cookie("http://127.0.0.1:1/b", "x"), None);
        // Like browsers, the jar treats loopback as a secure origin: `Secure` cookies are kept
        // and sent over plain http to 127.0.0.1, but not to other http hosts.
        browser
            .add_cookie("http://127.0.0.1:1/", "s=1; Path=/; Secure")
            .unwrap();
        assert_eq!(
            browser.cookie("http://127.0.0.1:1/", "s").as_deref(),
            Some("1")
        );
        browser
            .add_cookie("https://example.test/", "t=1; Path=/; Secure")
            .unwrap();
        assert_eq!(browser.cookie("http://example.test/", "t"), None);
        assert_eq!(
            browser.cookie("https://example.test/", "t").as_deref(),
            Some("1")
        );

        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, "../c?d=1".parse().unwrap());
        headers.append(SET_COOKIE, "a=1; Path=/".parse().unwrap());
        let response = Response {
            status: 302,
            headers,
            body: "é".repeat(400),
            url: "http://h/x/y/z".into(),
            set_cookies: vec!["a=1; Path=/".into(), "a=2; Secure".into()],
        };
        assert!(response.is_redirect());
        assert_eq!(response.location().as_deref(), Some("http://h/x/c?d=1"));
        assert_eq!(response.set_cookie("a"), Some("a=2; Secure"));
        assert!(excerpt(&response.body).len() <= BODY_EXCERPT);
    }
}
