//! The connection to the api-server: where to connect ([`Target`]), the gRPC channel with the
//! bearer-token interceptor ([`Api`]), and the one place where `tonic::Status` and transport
//! errors become the messages users read ([`status_message`], [`transport_detail`]).
//!
//! Unary calls carry `--grpc-timeout` as their deadline; streams (watches) do not, since they
//! are meant to stay open.

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
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

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

/// The channel type every service client uses.
pub(crate) type Svc = InterceptedService<Channel, Auth>;

/// Connection settings beside the target and the token.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectOptions {
    /// Deadline of each unary call; `None` for none.
    pub timeout: Option<Duration>,
    /// PEM file of the CA for TLS servers.
    pub server_crt: Option<std::path::PathBuf>,
    /// `--insecure` was given.
    pub insecure: bool,
}

impl ConnectOptions {
    pub(crate) fn from_global(global: &GlobalArgs) -> Self {
        Self {
            timeout: Some(global.grpc_timeout).filter(|timeout| !timeout.is_zero()),
            server_crt: global.server_crt.clone(),
            insecure: global.insecure,
        }
    }
}

/// A connected api-server.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    channel: Channel,
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
        Self::connect(
            &target,
            resolved.token.as_deref(),
            &ConnectOptions::from_global(global),
        )
        .await
    }

    /// Connects to `target`, sending `token` with every call.
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
        let mut endpoint = Endpoint::from_shared(target.uri.clone())
            .with_context(|| format!("invalid server address {}", target.display))?
            .connect_timeout(options.timeout.unwrap_or(Duration::from_secs(30)))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .user_agent(format!("capstan-cli/{}", env!("CARGO_PKG_VERSION")))
            .context("building the user agent")?;
        if target.tls {
            if options.insecure {
                bail!(
                    "--insecure is not supported: Capstan's CLI always verifies the server's \
                     TLS certificate; pass the CA that signed it with --server-crt, or use \
                     --plaintext against a plaintext server"
                );
            }
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
        let channel = endpoint.connect().await.map_err(|err| {
            anyhow::anyhow!(
                "cannot connect to the Capstan API server at {}: {}",
                target.display,
                transport_detail(&err)
            )
        })?;
        Ok(Self {
            channel,
            auth,
            server: target.display.clone(),
            timeout: options.timeout,
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

    pub(crate) fn applications(&self) -> ApplicationServiceClient<Svc> {
        ApplicationServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn projects(&self) -> ProjectServiceClient<Svc> {
        ProjectServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn repositories(&self) -> RepositoryServiceClient<Svc> {
        RepositoryServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn clusters(&self) -> ClusterServiceClient<Svc> {
        ClusterServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
    }

    pub(crate) fn sessions(&self) -> SessionServiceClient<Svc> {
        SessionServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub(crate) fn accounts(&self) -> AccountServiceClient<Svc> {
        AccountServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub(crate) fn settings(&self) -> SettingsServiceClient<Svc> {
        SettingsServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub(crate) fn version(&self) -> VersionServiceClient<Svc> {
        VersionServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }
}

/// The message for a failed call to the server at `server`.
///
/// Argo CD's servers already say "permission denied: applications, get, default/guestbook";
/// the message is kept as is, with the code spelled out where the server's message alone would
/// not say what happened.
pub(crate) fn status_message(server: &str, status: &Status) -> String {
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
