//! The connection to the api-server: where to connect ([`Target`]), the transport with the
//! bearer-token interceptor ([`Api`]), and the one place where `tonic::Status` and transport
//! errors become the messages users read ([`status_message`], [`transport_detail`]).
//!
//! The transport ([`Transport`]) is native gRPC over HTTP/2 (tonic's `Channel`) or, with
//! `--grpc-web` or a server entry's `grpc-web: true` ([`GrpcWeb`]), gRPC-web over HTTP/1.1
//! (see the `web` module). Both are one `tower::Service` of tonic's request and response types,
//! so every service client ([`Svc`]) and command — streams included — works on either.
//!
//! Unary calls carry `--grpc-timeout` as their deadline; streams (watches) do not, since they
//! are meant to stay open.

mod web;

use std::error::Error as StdError;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_proto::account::v1::account_service_client::AccountServiceClient;
use capstan_proto::application::v1::application_service_client::ApplicationServiceClient;
use capstan_proto::cluster::v1::cluster_service_client::ClusterServiceClient;
use capstan_proto::project::v1::project_service_client::ProjectServiceClient;
use capstan_proto::repository::v1::repository_service_client::RepositoryServiceClient;
use capstan_proto::session::v1::session_service_client::SessionServiceClient;
use capstan_proto::settings::v1::settings_service_client::SettingsServiceClient;
use capstan_proto::version::v1::version_service_client::VersionServiceClient;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::codegen::{BoxFuture, Context as TaskContext, Poll, Service, StdError as BoxError};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

pub(crate) use self::web::GrpcWeb;
use self::web::{Web, WebError};

use crate::GlobalArgs;
use crate::config::{self, LocalConfig};

/// Largest response accepted (tonic's default is 4 MiB; an application list or a resource
/// tree can be larger).
const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// Where to connect: the address as the user wrote it and the URI tonic dials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The address as shown in messages (`localhost:8080`, `https://cd.example.com`).
    pub display: String,
    /// The URI to dial (`http://localhost:8080`, `https://cd.example.com`).
    pub uri: String,
    /// TLS (an `https://` address) rather than plaintext HTTP/2.
    pub tls: bool,
}

impl Target {
    /// Decides how to reach `server`: `https://` is TLS (refused with `--plaintext`),
    /// `http://` and a bare `host:port` are plaintext HTTP/2 (h2c), which is what the
    /// api-server serves by default.
    pub(crate) fn parse(server: &str, plaintext: bool) -> anyhow::Result<Self> {
        let server = server.trim();
        if server.is_empty() {
            bail!("the server address is empty");
        }
        let (scheme, rest) = match server.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, server),
        };
        let rest = rest.trim_end_matches('/');
        let server = server.trim_end_matches('/');
        if rest.is_empty() {
            bail!("the server address {server:?} has no host");
        }
        match scheme.as_deref() {
            Some("https") if plaintext => bail!(
                "--plaintext conflicts with the https:// server address {server}; use \
                 http://{rest} or {rest} for plaintext"
            ),
            Some("https") => Ok(Self {
                display: server.to_owned(),
                uri: format!("https://{rest}"),
                tls: true,
            }),
            Some("http") | None => Ok(Self {
                display: server.to_owned(),
                uri: format!("http://{rest}"),
                tls: false,
            }),
            Some(other) => bail!(
                "unsupported scheme {other:?} in the server address {server}: use host:port, \
                 http:// or https://"
            ),
        }
    }
}

/// Adds `authorization: Bearer <token>` to every call when there is a token.
#[derive(Clone)]
pub(crate) struct Auth {
    header: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("token", &self.header.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Auth {
    fn new(token: Option<&str>) -> anyhow::Result<Self> {
        let header = match token.map(str::trim).filter(|token| !token.is_empty()) {
            Some(token) => {
                let mut value: AsciiMetadataValue =
                    MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                        anyhow::anyhow!(
                            "the auth token contains characters that cannot be sent in a header"
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self { header })
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// What every service client is built on: the transport, with the bearer token.
pub(crate) type Svc = InterceptedService<Transport, Auth>;

/// The two ways to carry gRPC calls, behind one `tower::Service` of tonic's request and
/// response types. Errors are boxed; the gRPC-web side returns them as [`Status`]es, which
/// tonic passes on as they are.
#[derive(Clone, Debug)]
pub(crate) enum Transport {
    /// Native gRPC over HTTP/2 (h2c or TLS): tonic's channel.
    Grpc(Channel),
    /// gRPC-web over HTTP/1.1, for proxies without HTTP/2 (boxed: hyper's client is large).
    Web(Box<Web>),
}

impl Service<http::Request<Body>> for Transport {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<http::Response<Body>, BoxError>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Self::Grpc(channel) => channel.poll_ready(cx).map_err(Into::into),
            // hyper's pooled client is always ready: it queues for a connection itself.
            Self::Web(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self {
            Self::Grpc(channel) => {
                let call = channel.call(request);
                Box::pin(async move {
                    call.await.map_err(|err| -> BoxError {
                        // tonic's channel enforces `grpc-timeout` with an error that would read
                        // "The operation was cancelled"; it is the deadline.
                        let timed_out =
                            error_chain(&err).any(|err| err.is::<tonic::TimeoutExpired>());
                        if timed_out {
                            Box::new(Status::deadline_exceeded("no answer within the deadline"))
                        } else {
                            err.into()
                        }
                    })
                })
            }
            Self::Web(web) => web.call(request),
        }
    }
}

/// Connection settings beside the target and the token.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectOptions {
    /// Deadline of each unary call; `None` for none.
    pub timeout: Option<Duration>,
    /// PEM file of the CA for TLS servers.
    pub server_crt: Option<std::path::PathBuf>,
    /// `--insecure` was given.
    pub insecure: bool,
    /// gRPC-web rather than native gRPC, and under which root path.
    pub grpc_web: GrpcWeb,
}

impl ConnectOptions {
    /// The global options for a server whose config entry says `grpc-web: config_grpc_web`
    /// and `grpc-web-root-path: config_root_path`: gRPC-web is on when the flags or the entry
    /// ask for it (see [`GrpcWeb::decide`]).
    pub(crate) fn for_server(
        global: &GlobalArgs,
        config_grpc_web: bool,
        config_root_path: Option<&str>,
    ) -> Self {
        Self {
            timeout: Some(global.grpc_timeout).filter(|timeout| !timeout.is_zero()),
            server_crt: global.server_crt.clone(),
            insecure: global.insecure,
            grpc_web: GrpcWeb::decide(
                global.grpc_web,
                global.grpc_web_root_path.as_deref(),
                config_grpc_web,
                config_root_path,
            ),
        }
    }
}

/// A connected api-server.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    transport: Transport,
    auth: Auth,
    server: String,
    timeout: Option<Duration>,
}

impl Api {
    /// Connects to the server the global options and the config file name, with the token
    /// they give.
    pub(crate) async fn from_global(global: &GlobalArgs) -> anyhow::Result<Self> {
        // With --server there may be no config at all (CI without HOME): then none is read.
        let config = match config::path(global.config.as_deref()) {
            Ok(path) => LocalConfig::load(&path)?,
            Err(_) if global.server.is_some() => LocalConfig::default(),
            Err(err) => return Err(err),
        };
        let resolved = config.resolve(
            global.server.as_deref(),
            global.context.as_deref(),
            global.auth_token.as_deref(),
        )?;
        let target = Target::parse(&resolved.server, global.plaintext)?;
        let options = ConnectOptions::for_server(
            global,
            resolved.grpc_web,
            resolved.grpc_web_root_path.as_deref(),
        );
        Self::connect(&target, resolved.token.as_deref(), &options).await
    }

    /// Connects to `target`, sending `token` with every call: native gRPC, or gRPC-web when
    /// `options` say so.
    ///
    /// # Errors
    ///
    /// "cannot connect to the Capstan API server at ADDRESS: connection refused" and the like.
    pub(crate) async fn connect(
        target: &Target,
        token: Option<&str>,
        options: &ConnectOptions,
    ) -> anyhow::Result<Self> {
        let auth = Auth::new(token)?;
        if target.tls && options.insecure {
            bail!(
                "--insecure is not supported: Capstan's CLI always verifies the server's TLS \
                 certificate; pass the CA that signed it with --server-crt, or use --plaintext \
                 against a plaintext server"
            );
        }
        let user_agent = format!("capstan-cli/{}", env!("CARGO_PKG_VERSION"));
        let transport = if options.grpc_web.enabled {
            Transport::Web(Box::new(
                Web::connect(
                    target,
                    options.grpc_web.root_path.as_deref(),
                    options,
                    &user_agent,
                )
                .await?,
            ))
        } else {
            Transport::Grpc(Self::channel(target, options, user_agent).await?)
        };
        Ok(Self {
            transport,
            auth,
            server: target.display.clone(),
            timeout: options.timeout,
        })
    }

    /// Native gRPC: tonic's channel to `target`, connected.
    async fn channel(
        target: &Target,
        options: &ConnectOptions,
        user_agent: String,
    ) -> anyhow::Result<Channel> {
        let mut endpoint = Endpoint::from_shared(target.uri.clone())
            .with_context(|| format!("invalid server address {}", target.display))?
            .connect_timeout(options.timeout.unwrap_or(Duration::from_secs(30)))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .user_agent(user_agent)
            .context("building the user agent")?;
        if target.tls {
            let mut tls = ClientTlsConfig::new();
            tls = match &options.server_crt {
                Some(path) => {
                    let pem = std::fs::read(path).with_context(|| {
                        format!("reading the server certificate {}", path.display())
                    })?;
                    tls.ca_certificate(Certificate::from_pem(pem))
                }
                None => tls.with_native_roots(),
            };
            endpoint = endpoint.tls_config(tls).context("configuring TLS")?;
        }
        endpoint.connect().await.map_err(|err| {
            anyhow::anyhow!(
                "cannot connect to the Capstan API server at {}: {}",
                target.display,
                transport_detail(&err)
            )
        })
    }

    /// A unary request, with `--grpc-timeout` as its deadline.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(timeout) = self.timeout {
            request.set_timeout(timeout);
        }
        request
    }

    /// A unary request with its own deadline (calls for optional extras, which must not hold
    /// a command up for the whole `--grpc-timeout`).
    pub(crate) fn request_within<T>(&self, message: T, timeout: Duration) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.timeout.map_or(timeout, |own| own.min(timeout)));
        request
    }

    /// A streaming request: no deadline.
    pub(crate) fn stream_request<T>(&self, message: T) -> Request<T> {
        Request::new(message)
    }

    /// The error users read for a failed call.
    pub(crate) fn error(&self, status: Status) -> anyhow::Error {
        anyhow::Error::msg(status_message(&self.server, &status))
    }

    /// The transport with the token, for a service client.
    fn svc(&self) -> Svc {
        InterceptedService::new(self.transport.clone(), self.auth.clone())
    }

    pub(crate) fn applications(&self) -> ApplicationServiceClient<Svc> {
        ApplicationServiceClient::new(self.svc()).max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn projects(&self) -> ProjectServiceClient<Svc> {
        ProjectServiceClient::new(self.svc()).max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn repositories(&self) -> RepositoryServiceClient<Svc> {
        RepositoryServiceClient::new(self.svc()).max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn clusters(&self) -> ClusterServiceClient<Svc> {
        ClusterServiceClient::new(self.svc()).max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn sessions(&self) -> SessionServiceClient<Svc> {
        SessionServiceClient::new(self.svc())
    }

    pub(crate) fn accounts(&self) -> AccountServiceClient<Svc> {
        AccountServiceClient::new(self.svc())
    }

    pub(crate) fn settings(&self) -> SettingsServiceClient<Svc> {
        SettingsServiceClient::new(self.svc())
    }

    pub(crate) fn version(&self) -> VersionServiceClient<Svc> {
        VersionServiceClient::new(self.svc())
    }
}

/// The message for a failed call to the server at `server`.
///
/// Argo CD's servers already say "permission denied: applications, get, default/guestbook";
/// the message is kept as is, with the code spelled out where the server's message alone would
/// not say what happened.
pub(crate) fn status_message(server: &str, status: &Status) -> String {
    // A gRPC-web answer that was not one says what came instead.
    if let Some(web) = status
        .source()
        .into_iter()
        .flat_map(error_chain)
        .find_map(|err| err.downcast_ref::<WebError>())
    {
        return format!("cannot talk gRPC-web to the Capstan API server at {server}: {web}");
    }
    // The native transport's HTTP/2 connection failed after it was made (tonic says only
    // "transport error"): most often a proxy without HTTP/2 in between.
    if matches!(status.code(), Code::Unknown | Code::Internal)
        && let Some(transport) = status
            .source()
            .into_iter()
            .flat_map(error_chain)
            .find(|err| err.is::<tonic::transport::Error>())
    {
        return format!(
            "cannot talk gRPC to the Capstan API server at {server}: {} (if a proxy without \
             HTTP/2 is in between, such as an ingress with backend-protocol HTTP, use \
             --grpc-web)",
            transport_detail(transport)
        );
    }
    let message = status.message().trim();
    let or_code = |fallback: &str| {
        if message.is_empty() {
            fallback.to_owned()
        } else {
            message.to_owned()
        }
    };
    match status.code() {
        Code::PermissionDenied if message.starts_with("permission denied") => message.to_owned(),
        Code::PermissionDenied if message.is_empty() => "permission denied".to_owned(),
        Code::PermissionDenied => format!("permission denied: {message}"),
        Code::Unauthenticated => {
            let what = if message.is_empty() {
                "not authenticated".to_owned()
            } else {
                format!("not authenticated: {message}")
            };
            format!("{what} (log in with `capstan login {server}`, or pass --auth-token)")
        }
        Code::Unavailable => {
            let detail = match status.source() {
                Some(source) => transport_detail(source),
                None => or_code("unavailable"),
            };
            format!("cannot connect to the Capstan API server at {server}: {detail}")
        }
        Code::DeadlineExceeded => format!(
            "the Capstan API server at {server} did not answer in time ({}); raise --grpc-timeout",
            or_code("deadline exceeded")
        ),
        Code::Unimplemented => format!(
            "the Capstan API server at {server} does not implement this call{}",
            if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            }
        ),
        Code::Internal => format!("internal server error: {}", or_code("no detail")),
        Code::InvalidArgument => or_code("invalid argument"),
        Code::NotFound => or_code("not found"),
        Code::AlreadyExists => or_code("already exists"),
        Code::FailedPrecondition => or_code("failed precondition"),
        Code::Aborted => or_code("aborted (conflict): try again"),
        Code::ResourceExhausted => format!("resource exhausted: {}", or_code("no detail")),
        code => format!("{}: {}", code.description(), or_code("no detail")),
    }
}

/// `error` and its sources, outermost first.
pub(crate) fn error_chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&err| err.source())
}

/// The root cause of a transport error, worded for users: "connection refused", "dns error:
/// failed to lookup address information: ...", "invalid peer certificate: UnknownIssuer".
pub(crate) fn transport_detail(error: &(dyn StdError + 'static)) -> String {
    let mut deepest = error.to_string();
    let mut current = Some(error);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::TimedOut => "connection timed out".to_owned(),
                std::io::ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
                _ => io.to_string(),
            };
        }
        let text = err.to_string();
        if !text.is_empty() {
            deepest = text;
        }
        current = err.source();
    }
    deepest
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::{Auth, Target, status_message};

    #[test]
    fn targets() {
        let cases = [
            (
                "localhost:8080",
                false,
                Ok(("localhost:8080", "http://localhost:8080", false)),
            ),
            (
                "localhost:8080",
                true,
                Ok(("localhost:8080", "http://localhost:8080", false)),
            ),
            (
                "http://cd:80/",
                false,
                Ok(("http://cd:80", "http://cd:80", false)),
            ),
            (
                "https://cd.example.com",
                false,
                Ok(("https://cd.example.com", "https://cd.example.com", true)),
            ),
            (
                "HTTPS://cd.example.com",
                false,
                Ok(("HTTPS://cd.example.com", "https://cd.example.com", true)),
            ),
            ("https://cd.example.com", true, Err("--plaintext conflicts")),
            ("grpc://cd", false, Err("unsupported scheme \"grpc\"")),
            ("", false, Err("the server address is empty")),
            ("http://", false, Err("has no host")),
        ];
        for (server, plaintext, want) in cases {
            let got = Target::parse(server, plaintext);
            match (got, want) {
                (Ok(target), Ok((display, uri, tls))) => {
                    assert_eq!(
                        (target.display.as_str(), target.uri.as_str(), target.tls),
                        (display, uri, tls),
                        "{server}"
                    );
                }
                (Err(err), Err(want)) => {
                    assert!(err.to_string().contains(want), "{server}: {err}");
                }
                (got, want) => panic!("{server}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn tokens_are_redacted_and_checked() {
        let auth = Auth::new(Some("secret")).expect("ascii token");
        assert!(!format!("{auth:?}").contains("secret"));
        assert!(Auth::new(Some("bad\ntoken")).is_err());
        assert!(Auth::new(Some("  ")).expect("blank").header.is_none());
        assert!(Auth::new(None).expect("none").header.is_none());
    }

    #[test]
    fn statuses_become_messages() {
        let server = "localhost:8080";
        let cases = [
            (
                Status::permission_denied("permission denied: applications, delete, default/foo"),
                "permission denied: applications, delete, default/foo",
            ),
            (
                Status::permission_denied("applications, delete, default/foo"),
                "permission denied: applications, delete, default/foo",
            ),
            (
                Status::unauthenticated("invalid session: token is expired"),
                "not authenticated: invalid session: token is expired (log in with `capstan \
                 login localhost:8080`, or pass --auth-token)",
            ),
            (
                Status::unavailable("tcp connect error"),
                "cannot connect to the Capstan API server at localhost:8080: tcp connect error",
            ),
            (
                Status::new(Code::Unimplemented, ""),
                "the Capstan API server at localhost:8080 does not implement this call",
            ),
            (
                Status::not_found("applications.argoproj.io \"foo\" not found"),
                "applications.argoproj.io \"foo\" not found",
            ),
            (Status::internal("boom"), "internal server error: boom"),
            (
                Status::deadline_exceeded(""),
                "the Capstan API server at localhost:8080 did not answer in time (deadline \
                 exceeded); raise --grpc-timeout",
            ),
            (Status::cancelled("bye"), "The operation was cancelled: bye"),
        ];
        for (status, want) in cases {
            assert_eq!(status_message(server, &status), want, "{status:?}");
        }
    }
}
