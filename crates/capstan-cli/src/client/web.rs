//! gRPC-web over HTTP/1.1 (`--grpc-web`, argocd's flag): for servers behind a proxy or an
//! ingress that does not speak HTTP/2 to its clients (NGINX with `backend-protocol: HTTP`, ...).
//!
//! tonic's generated clients produce gRPC requests; [`GrpcWebClientService`] turns them into
//! gRPC-web (`application/grpc-web`, the trailers in the body) and back; a hyper-util pooled
//! client sends them over HTTP/1.1 — plain TCP for `http://` and bare `host:port` servers, TLS
//! (hyper-rustls, rustls with ring) for `https://`, trusting what the native transport trusts:
//! the `--server-crt` CA, else the system's trust store.
//!
//! What tonic's `Channel` does for the native transport is done here: the first connection is
//! made at once (so an unreachable server fails with the same message as the native transport,
//! and that connection is the one the first call uses), the server's scheme, authority and the
//! gRPC-web root path go into each request's URI, and the `grpc-timeout` of unary calls is
//! enforced. Answers that are not gRPC-web — an ingress' HTML 404, a proxy's 502, an
//! HTTP/2-only server — become a [`Status`] whose source is a [`WebError`] that says so.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::BodyExt as _;
use http_body_util::combinators::MapErr;
use hyper::body::Incoming;
use hyper_rustls::{
    ConfigBuilderExt as _, HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream,
};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::net::TcpStream;
use tonic::body::Body;
use tonic::codegen::http::uri::{Authority, PathAndQuery, Scheme};
use tonic::codegen::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, header};
use tonic::codegen::{BoxFuture, Context, Poll, Service, StdError as BoxError};
use tonic::{Code, Status};
use tonic_web::{GrpcWebCall, GrpcWebClientService};

use super::{ConnectOptions, Target, error_chain, transport_detail};
use crate::duration::format_duration;

/// Whether and where to talk gRPC-web: the effective setting of `--grpc-web`,
/// `--grpc-web-root-path` and the server's config entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GrpcWeb {
    /// gRPC-web rather than native gRPC.
    pub enabled: bool,
    /// The path prefix of the gRPC-web endpoint, without leading or trailing `/` (`argo-cd`);
    /// `None` for the root.
    pub root_path: Option<String>,
}

impl GrpcWeb {
    /// The effective setting, as argocd decides it: gRPC-web when the flag or the config entry
    /// asks for it, or when there is a root path; the flag's root path before the config's (an
    /// empty one counts as none).
    pub(crate) fn decide(
        flag: bool,
        flag_root_path: Option<&str>,
        config: bool,
        config_root_path: Option<&str>,
    ) -> Self {
        let root_path =
            normalize_root_path(flag_root_path).or_else(|| normalize_root_path(config_root_path));
        Self {
            enabled: flag || config || root_path.is_some(),
            root_path,
        }
    }
}

/// `/argo-cd/` → `argo-cd`; blank → `None`.
fn normalize_root_path(path: Option<&str>) -> Option<String> {
    path.map(|path| path.trim().trim_matches('/').to_owned())
        .filter(|path| !path.is_empty())
}

/// The connection a [`Preconnected`] connector hands out.
type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

/// hyper-rustls' connector, which first hands out the connection [`Web::connect`] made to
/// check that the server is reachable, so that the first call does not connect again.
#[derive(Clone)]
struct Preconnected {
    connector: HttpsConnector<HttpConnector>,
    first: Arc<Mutex<Option<Stream>>>,
}

impl Service<Uri> for Preconnected {
    type Response = Stream;
    type Error = BoxError;
    type Future = BoxFuture<Stream, BoxError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.connector.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let first = self.first.lock().ok().and_then(|mut first| first.take());
        match first {
            Some(stream) => Box::pin(async move { Ok(stream) }),
            None => Box::pin(self.connector.call(uri)),
        }
    }
}

/// The body of an answer as it comes off the connection, its errors marked as transport
/// failures (see [`ConnectionBroken`]).
type WireBody = MapErr<Incoming, fn(hyper::Error) -> ConnectionBroken>;

/// The HTTP/1.1 client under tonic-web's layer: sends one gRPC-web request, and refuses an
/// answer that is not gRPC-web.
#[derive(Clone)]
struct Http1 {
    client: Client<Preconnected, GrpcWebCall<Body>>,
}

impl Service<Request<GrpcWebCall<Body>>> for Http1 {
    type Response = Response<WireBody>;
    type Error = Status;
    type Future = BoxFuture<Response<WireBody>, Status>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<GrpcWebCall<Body>>) -> Self::Future {
        let client = self.client.clone();
        let path = request.uri().path().to_owned();
        Box::pin(async move {
            let response = client.request(request).await.map_err(request_failed)?;
            let response = check_answer(response, &path).await?;
            Ok(response.map(|body| body.map_err(ConnectionBroken::from as fn(_) -> _)))
        })
    }
}

/// The gRPC-web transport: what [`super::Transport::Web`] holds.
#[derive(Clone)]
pub(crate) struct Web {
    client: Client<Preconnected, GrpcWebCall<Body>>,
    scheme: Scheme,
    authority: Authority,
    /// `""` or `/argo-cd`.
    prefix: String,
    user_agent: HeaderValue,
}

impl fmt::Debug for Web {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Web")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Web {
    /// Connects to `target` over HTTP/1.1 (TLS for `https://`), gRPC-web under `root_path`.
    ///
    /// # Errors
    ///
    /// An unreadable `--server-crt`, a root path that is not a URI path, or "cannot connect to
    /// the Capstan API server at ADDRESS: connection refused" and the like.
    pub(crate) async fn connect(
        target: &Target,
        root_path: Option<&str>,
        options: &ConnectOptions,
        user_agent: &str,
    ) -> anyhow::Result<Self> {
        let uri: Uri = target
            .uri
            .parse()
            .with_context(|| format!("invalid server address {}", target.display))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            bail!("invalid server address {}", target.display);
        };
        let prefix = match root_path {
            Some(root) => {
                let prefix = format!("/{root}");
                prefix
                    .parse::<PathAndQuery>()
                    .ok()
                    .filter(|parsed| parsed.query().is_none())
                    .with_context(|| {
                        format!("invalid gRPC-web root path {root:?}: not a URI path")
                    })?;
                prefix
            }
            None => String::new(),
        };
        let connect_timeout = options.timeout.unwrap_or(Duration::from_secs(30));
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(30)));
        // HTTP/1.1 only: no ALPN is offered, so a TLS server cannot switch to HTTP/2.
        let mut connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(target.tls, options.server_crt.as_deref())?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let base = Uri::from_parts({
            let mut parts = tonic::codegen::http::uri::Parts::default();
            parts.scheme = Some(scheme.clone());
            parts.authority = Some(authority.clone());
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
            parts
        })
        .context("building the server URI")?;
        let cannot_connect = |detail: String| {
            anyhow::anyhow!(
                "cannot connect to the Capstan API server at {}: {detail}",
                target.display
            )
        };
        let first = match tokio::time::timeout(connect_timeout, connector.call(base)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return Err(cannot_connect(transport_detail(&*err))),
            Err(_) => return Err(cannot_connect("connection timed out".to_owned())),
        };
        let connector = Preconnected {
            connector,
            first: Arc::new(Mutex::new(Some(first))),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            client,
            scheme,
            authority,
            prefix,
            user_agent: HeaderValue::from_str(user_agent).context("building the user agent")?,
        })
    }

    /// Sends one call: `request` is what tonic's generated client made (path only).
    pub(crate) fn call(&self, request: Request<Body>) -> BoxFuture<Response<Body>, BoxError> {
        let web = self.clone();
        Box::pin(async move {
            web.send(request)
                .await
                .map_err(|status| -> BoxError { Box::new(status) })
        })
    }

    async fn send(self, request: Request<Body>) -> Result<Response<Body>, Status> {
        let (mut parts, body) = request.into_parts();
        parts.uri = call_uri(&self.scheme, &self.authority, &self.prefix, &parts.uri)?;
        parts
            .headers
            .insert(header::USER_AGENT, self.user_agent.clone());
        let deadline = grpc_timeout(&parts.headers);
        let mut service = GrpcWebClientService::new(Http1 {
            client: self.client.clone(),
        });
        let call = service.call(Request::from_parts(parts, body));
        let response = match deadline {
            Some(deadline) => tokio::time::timeout(deadline, call).await.map_err(|_| {
                Status::deadline_exceeded(format!("no answer within {}", format_duration(deadline)))
            })??,
            None => call.await?,
        };
        Ok(response.map(|body| Body::new(body.map_err(broken_is_unavailable))))
    }
}

/// The URI of a call: the server's scheme and authority, the root path `prefix`, then the
/// call's path (`/capstan.application.v1.ApplicationService/List`).
fn call_uri(
    scheme: &Scheme,
    authority: &Authority,
    prefix: &str,
    call: &Uri,
) -> Result<Uri, Status> {
    let path = call
        .path_and_query()
        .map_or("/", PathAndQuery::as_str)
        .to_owned();
    Uri::builder()
        .scheme(scheme.clone())
        .authority(authority.clone())
        .path_and_query(format!("{prefix}{path}"))
        .build()
        .map_err(|err| Status::internal(format!("building the URI of {path}: {err}")))
}

/// The deadline tonic put in the `grpc-timeout` header (`Api::request`'s `--grpc-timeout`),
/// which the native transport enforces in tonic's channel: `30S`, `1500m`, `2M`, ...
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (amount, unit) = value.split_at(value.len() - 1);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// What went wrong talking gRPC-web, beyond the usual transport errors: the source of the
/// [`Status`] the transport returns, which `status_message` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WebError {
    /// The server answered over HTTP/1.1, but not gRPC-web.
    NotGrpcWeb {
        /// The path the request went to.
        path: String,
        /// `404 Not Found`.
        status: String,
        /// The answer's `content-type`, if any.
        content_type: Option<String>,
        /// What the answer's body says, when it says something short (a JSON error's
        /// `message`, a line of text); never an HTML page.
        message: Option<String>,
    },
    /// The answer is not HTTP/1.1 at all (an HTTP/2-only server), or there was none.
    NotHttp1 {
        /// hyper's words.
        detail: String,
    },
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotGrpcWeb {
                path,
                status,
                content_type,
                message,
            } => {
                write!(f, "POST {path} was answered with HTTP {status}")?;
                match (message, content_type) {
                    (Some(message), _) => write!(f, ": {message}"),
                    (None, Some(content_type)) => write!(
                        f,
                        " ({content_type}), not gRPC-web: check the server address and the \
                         gRPC-web root path (--grpc-web-root-path)"
                    ),
                    (None, None) => write!(
                        f,
                        ", not gRPC-web: check the server address and the gRPC-web root path \
                         (--grpc-web-root-path)"
                    ),
                }
            }
            Self::NotHttp1 { detail } => write!(
                f,
                "no HTTP/1.1 answer ({detail}); the server may speak only HTTP/2, which needs \
                 native gRPC: drop --grpc-web (and `grpc-web` from the server's config entry)"
            ),
        }
    }
}

impl StdError for WebError {}

/// A request that got no answer: the connection could not be made, dropped or timed out
/// (`Unavailable`, as on the native transport: "connection refused", ...), or what came back
/// was not HTTP/1.1 (an HTTP/2-only server sends its SETTINGS frame at once: a parse error, or
/// "unexpected message" when it arrives before the request is out).
fn request_failed(err: hyper_util::client::legacy::Error) -> Status {
    // The innermost hyper error is the cause (a request canceled because its connection saw
    // an unexpected message, ...).
    let hyper = error_chain(&err)
        .filter_map(|err| err.downcast_ref::<hyper::Error>())
        .last();
    let io = error_chain(&err).any(|err| err.is::<std::io::Error>());
    let mut status = match hyper {
        _ if err.is_connect() => Status::unavailable("cannot connect"),
        // Closed before any answer: a dropped keep-alive connection, a restarting server.
        Some(hyper) if hyper.is_incomplete_message() => {
            Status::unavailable("the server closed the connection without answering")
        }
        Some(hyper) if io || hyper.is_canceled() || hyper.is_closed() || hyper.is_timeout() => {
            Status::unavailable(transport_detail(&err))
        }
        Some(hyper) if !hyper.is_user() => {
            let web = WebError::NotHttp1 {
                detail: hyper.to_string(),
            };
            let mut status = Status::internal(web.to_string());
            status.set_source(Arc::new(web));
            return status;
        }
        _ => Status::unavailable(transport_detail(&err)),
    };
    status.set_source(Arc::new(err));
    status
}

/// `Ok` for a gRPC-web answer; otherwise the status that says what came instead.
async fn check_answer(
    response: Response<Incoming>,
    path: &str,
) -> Result<Response<Incoming>, Status> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let is_grpc_web = content_type
        .as_deref()
        .is_some_and(|content_type| content_type.starts_with("application/grpc-web"));
    if response.status() == StatusCode::OK && is_grpc_web {
        return Ok(response);
    }
    // A gRPC error in the headers (a proxy answering for the server) speaks for itself.
    if let Some(status) = Status::from_header_map(response.headers())
        && status.code() != Code::Ok
    {
        return Err(status);
    }
    let http_status = response.status();
    let body = body_prefix(response.into_body(), 4096).await;
    Err(not_grpc_web(
        http_status,
        content_type.as_deref(),
        &body,
        path,
    ))
}

/// Up to `limit` bytes of `body`, waiting at most two seconds for them.
async fn body_prefix(mut body: Incoming, limit: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let read = async {
        while bytes.len() < limit {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data);
                    }
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    bytes.truncate(limit);
    bytes
}

/// The status for an HTTP answer that is not gRPC-web: `Unauthenticated` and
/// `PermissionDenied` for a 401 and a 403 (a proxy's login or access check), otherwise gRPC's
/// HTTP mapping (`Unavailable` for 429, 502, 503 and 504, `Unimplemented` for 404, `Internal`
/// for the rest) with a [`WebError::NotGrpcWeb`] as source.
pub(crate) fn not_grpc_web(
    http_status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
    path: &str,
) -> Status {
    let message = body_message(content_type, body);
    let status_text = match http_status.canonical_reason() {
        Some(reason) => format!("{} {reason}", http_status.as_u16()),
        None => http_status.as_u16().to_string(),
    };
    let refused = |code: Code| {
        Status::new(
            code,
            match &message {
                Some(message) => format!("HTTP {status_text}: {message}"),
                None => format!("HTTP {status_text}"),
            },
        )
    };
    match http_status {
        StatusCode::UNAUTHORIZED => return refused(Code::Unauthenticated),
        StatusCode::FORBIDDEN => return refused(Code::PermissionDenied),
        _ => {}
    }
    let code = match http_status {
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Internal,
    };
    let web = WebError::NotGrpcWeb {
        path: path.to_owned(),
        status: status_text,
        content_type: content_type.map(str::to_owned),
        message,
    };
    let mut status = Status::new(code, web.to_string());
    status.set_source(Arc::new(web));
    status
}

/// What a non-gRPC-web answer's body says, when it is short enough to show: the `message` (or
/// `error`) of a JSON error (Argo CD's and the auth-gateway's shape), or one line of plain text.
fn body_message(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let content_type = content_type.unwrap_or_default().to_ascii_lowercase();
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if content_type.starts_with("application/json") {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        ["message", "error"]
            .iter()
            .find_map(|key| json.get(key).and_then(serde_json::Value::as_str))
            .map(str::to_owned)?
    } else if content_type.starts_with("text/plain") && !text.contains('\n') {
        text.to_owned()
    } else {
        return None;
    };
    let message = message.trim();
    if message.is_empty() {
        return None;
    }
    Some(if message.chars().count() > 200 {
        format!("{}…", message.chars().take(200).collect::<String>())
    } else {
        message.to_owned()
    })
}

/// A failure reading an answer's body off the connection. tonic-web reports body errors as
/// `Internal` statuses with their text, so the text carries [`BROKEN`] for
/// [`broken_is_unavailable`] to find.
#[derive(Debug)]
pub(crate) struct ConnectionBroken(hyper::Error);

/// The marker of a [`ConnectionBroken`] in a status message.
const BROKEN: &str = "the connection to the server broke";

impl From<hyper::Error> for ConnectionBroken {
    fn from(err: hyper::Error) -> Self {
        Self(err)
    }
}

impl fmt::Display for ConnectionBroken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BROKEN}: {}", self.0)
    }
}

impl StdError for ConnectionBroken {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// A stream cut by the connection (a proxy's read timeout, a restarting server) is
/// `Unavailable`, as on the native transport, so that watches re-open it.
fn broken_is_unavailable(status: Status) -> Status {
    if status.code() == Code::Internal && status.message().contains(BROKEN) {
        Status::unavailable(status.message().to_owned())
    } else {
        status
    }
}

/// rustls with ring for `https://` servers, trusting the `--server-crt` CA, else the system's
/// trust store, as the native transport; an unused empty config for plaintext ones.
fn tls_config(tls: bool, server_crt: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("configuring TLS")?;
    if !tls {
        return Ok(builder
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth());
    }
    let config = match server_crt {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the server certificate {}", path.display()))?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.with_context(|| {
                    format!("reading the server certificate {}", path.display())
                })?;
                roots.add(cert).with_context(|| {
                    format!("reading the server certificate {}", path.display())
                })?;
            }
            if roots.is_empty() {
                bail!(
                    "the server certificate file {} holds no PEM certificate",
                    path.display()
                );
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .with_native_roots()
            .context("loading the system's trusted root certificates (or pass --server-crt)")?
            .with_no_client_auth(),
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pretty_assertions::assert_eq;
    use tonic::Code;
    use tonic::codegen::http::{HeaderMap, HeaderValue, StatusCode, Uri};

    use super::{GrpcWeb, WebError, call_uri, grpc_timeout, not_grpc_web};
    use crate::client::status_message;

    #[test]
    fn flag_or_config_decides() {
        let web = |enabled: bool, root: Option<&str>| GrpcWeb {
            enabled,
            root_path: root.map(str::to_owned),
        };
        // (flag, flag root path, config, config root path) → effective
        let cases = [
            ((false, None, false, None), web(false, None)),
            ((true, None, false, None), web(true, None)),
            ((false, None, true, None), web(true, None)),
            ((true, None, true, None), web(true, None)),
            // argocd writes `grpc-web-root-path: ''`: no root path, no gRPC-web.
            ((false, None, false, Some("")), web(false, None)),
            ((false, None, false, Some("/")), web(false, None)),
            // A root path implies gRPC-web, from either side.
            (
                (false, Some("/argo-cd"), false, None),
                web(true, Some("argo-cd")),
            ),
            (
                (false, None, false, Some("argo-cd/")),
                web(true, Some("argo-cd")),
            ),
            // The flag's root path wins; an empty flag is no flag.
            (
                (true, Some("/a/b/"), true, Some("/c")),
                web(true, Some("a/b")),
            ),
            ((false, Some(""), true, Some("/c")), web(true, Some("c"))),
            ((false, Some(" / "), false, None), web(false, None)),
        ];
        for ((flag, flag_root, config, config_root), want) in cases {
            assert_eq!(
                GrpcWeb::decide(flag, flag_root, config, config_root),
                want,
                "{flag} {flag_root:?} {config} {config_root:?}"
            );
        }
    }

    #[test]
    fn calls_go_under_the_root_path() {
        let call: Uri = "/capstan.application.v1.ApplicationService/List"
            .parse()
            .unwrap();
        let uri = |base: &str, prefix: &str| {
            let base: Uri = base.parse().unwrap();
            call_uri(
                base.scheme().unwrap(),
                base.authority().unwrap(),
                prefix,
                &call,
            )
            .unwrap()
            .to_string()
        };
        assert_eq!(
            uri("http://localhost:8080", ""),
            "http://localhost:8080/capstan.application.v1.ApplicationService/List"
        );
        assert_eq!(
            uri("https://cd.example.com", "/argo-cd"),
            "https://cd.example.com/argo-cd/capstan.application.v1.ApplicationService/List"
        );
    }

    #[test]
    fn grpc_timeouts_are_read_as_tonic_writes_them() {
        let cases = [
            ("60S", Some(Duration::from_secs(60))),
            ("1500m", Some(Duration::from_millis(1500))),
            ("2M", Some(Duration::from_secs(120))),
            ("1H", Some(Duration::from_secs(3600))),
            ("10u", Some(Duration::from_micros(10))),
            ("7n", Some(Duration::from_nanos(7))),
            ("S", None),
            ("10x", None),
            ("-1S", None),
            ("123456789S", None),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", HeaderValue::from_static(value));
            assert_eq!(grpc_timeout(&headers), want, "{value}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn answers_that_are_not_grpc_web_become_messages() {
        let server = "cd.example.com:80";
        let path = "/capstan.application.v1.ApplicationService/List";
        let cases: [(StatusCode, Option<&str>, &str, Code, &str); 7] = [
            (
                StatusCode::NOT_FOUND,
                Some("text/html"),
                "<html><body><h1>404 Not Found</h1><hr>nginx</body></html>",
                Code::Unimplemented,
                "cannot talk gRPC-web to the Capstan API server at cd.example.com:80: POST \
                 /capstan.application.v1.ApplicationService/List was answered with HTTP 404 Not \
                 Found (text/html), not gRPC-web: check the server address and the gRPC-web \
                 root path (--grpc-web-root-path)",
            ),
            (
                StatusCode::BAD_GATEWAY,
                Some("application/json"),
                r#"{"error":"the api-server is unavailable; try again shortly","code":14}"#,
                Code::Unavailable,
                "cannot talk gRPC-web to the Capstan API server at cd.example.com:80: POST \
                 /capstan.application.v1.ApplicationService/List was answered with HTTP 502 Bad \
                 Gateway: the api-server is unavailable; try again shortly",
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("text/plain; charset=utf-8"),
                "upstream connect error\n",
                Code::Unavailable,
                "cannot talk gRPC-web to the Capstan API server at cd.example.com:80: POST \
                 /capstan.application.v1.ApplicationService/List was answered with HTTP 503 \
                 Service Unavailable: upstream connect error",
            ),
            (
                StatusCode::OK,
                Some("application/grpc"),
                "",
                Code::Internal,
                "cannot talk gRPC-web to the Capstan API server at cd.example.com:80: POST \
                 /capstan.application.v1.ApplicationService/List was answered with HTTP 200 OK \
                 (application/grpc), not gRPC-web: check the server address and the gRPC-web \
                 root path (--grpc-web-root-path)",
            ),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                "",
                Code::Internal,
                "cannot talk gRPC-web to the Capstan API server at cd.example.com:80: POST \
                 /capstan.application.v1.ApplicationService/List was answered with HTTP 405 \
                 Method Not Allowed, not gRPC-web: check the server address and the gRPC-web \
                 root path (--grpc-web-root-path)",
            ),
            (
                StatusCode::UNAUTHORIZED,
                Some("text/html"),
                "<html>sign in</html>",
                Code::Unauthenticated,
                "not authenticated: HTTP 401 Unauthorized (log in with `capstan login \
                 cd.example.com:80`, or pass --auth-token)",
            ),
            (
                StatusCode::FORBIDDEN,
                Some("application/json"),
                r#"{"message":"blocked by policy"}"#,
                Code::PermissionDenied,
                "permission denied: HTTP 403 Forbidden: blocked by policy",
            ),
        ];
        for (http_status, content_type, body, code, want) in cases {
            let status = not_grpc_web(http_status, content_type, body.as_bytes(), path);
            assert_eq!(status.code(), code, "{http_status}");
            assert_eq!(status_message(server, &status), want, "{http_status}");
        }
    }

    #[test]
    fn http2_only_servers_are_named() {
        let web = WebError::NotHttp1 {
            detail: "invalid HTTP version parsed".to_owned(),
        };
        let mut status = tonic::Status::internal(web.to_string());
        status.set_source(std::sync::Arc::new(web));
        assert_eq!(
            status_message("cd:8080", &status),
            "cannot talk gRPC-web to the Capstan API server at cd:8080: no HTTP/1.1 answer \
             (invalid HTTP version parsed); the server may speak only HTTP/2, which needs \
             native gRPC: drop --grpc-web (and `grpc-web` from the server's config entry)"
        );
    }
}
