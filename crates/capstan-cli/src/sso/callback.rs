//! The loopback HTTP listener of `capstan login --sso`: where the identity provider sends the
//! browser back, to `http://localhost:<port>/auth/callback?code=..&state=..`.
//!
//! A few lines of HTTP/1.1 on a tokio `TcpListener` bound to `127.0.0.1`: each connection is
//! one `GET`, one answer, closed. [`route`] decides what a request gets (pure, tested): the
//! callback's code, checked against the login's `state` by [`parse_callback`], or at once a
//! 404 for other paths (`/favicon.ico`), 405 or 400. [`CallbackServer::next_code`] serves
//! connections concurrently (a browser's idle speculative connections hold nothing up) until
//! a callback comes; the browser's request then waits for the [`Responder`], which shows how
//! the whole login ended.
//!
//! **Invariant:** a callback whose `state` is not this login's, or that carries the
//! provider's `error`, fails the login; it is never retried with another request.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// The page the browser shows once the login is done.
pub(crate) const SUCCESS_MESSAGE: &str =
    "Authentication successful! You can now close this window.";

/// Largest request head the loopback listener reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// How long a browser connection to the loopback listener may take to send its request.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the answer to the browser may take to be written once the login is decided.
const RESPONSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The path the identity provider sends the browser back to (argocd's).
const CALLBACK_PATH: &str = "/auth/callback";

/// The redirect URI for the loopback listener on `port` (argocd's).
pub(crate) fn redirect_uri(port: u16) -> String {
    format!("http://localhost:{port}{CALLBACK_PATH}")
}

/// Why a callback fails the login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CallbackError {
    /// The provider redirected with `error` (and maybe `error_description`).
    Provider {
        error: String,
        description: Option<String>,
    },
    /// The `state` is missing or not ours.
    StateMismatch,
    /// No `code`.
    NoCode,
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Provider {
                error,
                description: Some(description),
            } => write!(
                f,
                "the identity provider refused the login: {error}: {description}"
            ),
            Self::Provider {
                error,
                description: None,
            } => write!(f, "the identity provider refused the login: {error}"),
            Self::StateMismatch => write!(
                f,
                "state mismatch: the callback was not for this login (unknown state nonce)"
            ),
            Self::NoCode => write!(f, "the callback has no authorization code"),
        }
    }
}

impl std::error::Error for CallbackError {}

/// The authorization code of a callback's query string, checking its `state` against ours.
///
/// # Errors
///
/// The provider's `error`, a missing or wrong `state`, or no `code`.
pub(crate) fn parse_callback(query: &str, state: &str) -> Result<String, CallbackError> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    };
    if let Some(error) = param("error") {
        return Err(CallbackError::Provider {
            error: error.to_owned(),
            description: param("error_description").map(str::to_owned),
        });
    }
    if param("state") != Some(state) {
        return Err(CallbackError::StateMismatch);
    }
    param("code")
        .map(str::to_owned)
        .ok_or(CallbackError::NoCode)
}

/// Listens on `127.0.0.1:port` for the callback (`port` 0: any free port).
pub(crate) async fn bind_loopback(port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|err| {
            if err.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "cannot listen on 127.0.0.1:{port} for the SSO callback: the port is in \
                     use; pick another with --sso-port (the identity provider must accept \
                     http://localhost:PORT/auth/callback as a redirect URI)"
                )
            } else {
                anyhow::Error::new(err).context(format!(
                    "listening on 127.0.0.1:{port} for the SSO callback"
                ))
            }
        })
}

/// What the browser is shown at the end of the login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Page {
    Success,
    Failure(String),
}

impl Page {
    fn response(&self) -> HttpResponse {
        match self {
            Self::Success => HttpResponse::html(200, "Login successful", SUCCESS_MESSAGE),
            Self::Failure(message) => HttpResponse::html(
                400,
                "Login failed",
                &format!("Authentication failed: {message}. See the CLI for details."),
            ),
        }
    }
}

/// An answer of the loopback listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    /// A small HTML page with `title` and the text `message`.
    fn html(status: u16, title: &str, message: &str) -> Self {
        Self {
            status,
            body: format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Capstan: {}</title>\
                 </head>\n<body style=\"font-family: sans-serif; text-align: center; \
                 margin-top: 4em\"><p>{}</p></body></html>\n",
                html_escape(title),
                html_escape(message)
            ),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Error",
        }
    }

    /// The HTTP/1.1 message, closing the connection.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut head = String::new();
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason(),
            self.body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

/// `text` with HTML's special characters escaped.
pub(crate) fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// How the loopback listener handles one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Answer at once (404 for other paths, 405, 400 for garbage) and keep waiting.
    Respond(HttpResponse),
    /// The callback: its code, or why it fails the login.
    Callback(Result<String, CallbackError>),
}

/// Decides what to do with a request whose head is `head`, for the login with `state`.
pub(crate) fn route(head: &str, state: &str) -> Route {
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Route::Respond(HttpResponse::html(400, "Bad request", "Malformed request."));
    };
    if !version.starts_with("HTTP/") {
        return Route::Respond(HttpResponse::html(400, "Bad request", "Malformed request."));
    }
    // Origin form (`/auth/callback?..`), or absolute form (`http://localhost:8085/auth/..`).
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        return Route::Respond(HttpResponse::html(404, "Not found", "Not found."));
    }
    if method != "GET" {
        return Route::Respond(HttpResponse::html(
            405,
            "Method not allowed",
            "The login callback takes GET requests only.",
        ));
    }
    Route::Callback(parse_callback(query, state))
}

/// A callback handed from its connection to the login, with the way to answer it.
struct CallbackMessage {
    result: Result<String, CallbackError>,
    responder: Responder,
}

/// Answers the browser's callback request once the login is decided.
pub(crate) struct Responder {
    page: oneshot::Sender<Page>,
    written: oneshot::Receiver<()>,
    /// The listener's connections, kept running until the answer is written.
    connections: Option<JoinSet<()>>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder").finish_non_exhaustive()
    }
}

impl Responder {
    /// Shows `page` in the browser, waiting (a little) for it to be written.
    pub(crate) async fn respond(self, page: Page) {
        if self.page.send(page).is_ok() {
            let _ = tokio::time::timeout(RESPONSE_WRITE_TIMEOUT, self.written).await;
        }
        drop(self.connections);
    }
}

/// The loopback listener of one login.
pub(crate) struct CallbackServer {
    listener: TcpListener,
    state: String,
    connections: JoinSet<()>,
}

impl CallbackServer {
    pub(crate) fn new(listener: TcpListener, state: String) -> Self {
        Self {
            listener,
            state,
            connections: JoinSet::new(),
        }
    }

    /// Serves requests until the callback comes: its code and the way to answer it.
    ///
    /// # Errors
    ///
    /// A callback that fails the login (answered with the error before returning), or a
    /// listener that stopped working.
    pub(crate) async fn next_code(mut self) -> anyhow::Result<(String, Responder)> {
        let (sender, mut receiver) = mpsc::channel::<CallbackMessage>(4);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        self.connections.spawn(serve_connection(
                            stream,
                            self.state.clone(),
                            sender.clone(),
                        ));
                    }
                    Err(err) if is_transient_accept_error(&err) => {}
                    Err(err) => {
                        return Err(anyhow::Error::new(err)
                            .context("accepting a connection for the SSO callback"));
                    }
                },
                Some(message) = receiver.recv() => {
                    let CallbackMessage { result, mut responder } = message;
                    match result {
                        Ok(code) => {
                            responder.connections = Some(self.connections);
                            return Ok((code, responder));
                        }
                        Err(err) => {
                            responder.respond(Page::Failure(err.to_string())).await;
                            return Err(err.into());
                        }
                    }
                }
            }
        }
    }
}

/// Accept errors that concern one connection only.
fn is_transient_accept_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
    )
}

/// Serves one connection: one request, one answer, closed.
async fn serve_connection(
    mut stream: TcpStream,
    state: String,
    callbacks: mpsc::Sender<CallbackMessage>,
) {
    // Browsers open speculative connections that send nothing: they time out here.
    let Ok(Ok(Some(head))) =
        tokio::time::timeout(REQUEST_READ_TIMEOUT, read_request_head(&mut stream)).await
    else {
        return;
    };
    match route(&head, &state) {
        Route::Respond(response) => write_response(&mut stream, &response).await,
        Route::Callback(result) => {
            let (page_sender, page) = oneshot::channel();
            let (written, written_receiver) = oneshot::channel();
            let message = CallbackMessage {
                result,
                responder: Responder {
                    page: page_sender,
                    written: written_receiver,
                    connections: None,
                },
            };
            if callbacks.send(message).await.is_err() {
                return;
            }
            let page = page
                .await
                .unwrap_or_else(|_| Page::Failure("the login was abandoned".to_owned()));
            write_response(&mut stream, &page.response()).await;
            let _ = written.send(());
        }
    }
}

/// Reads a request's head (up to the blank line); `None` when the peer closed first or sent
/// more than [`MAX_REQUEST_HEAD`] bytes.
async fn read_request_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0; 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&chunk[..read]);
        if let Some(end) = head.windows(4).position(|window| window == b"\r\n\r\n") {
            return Ok(Some(String::from_utf8_lossy(&head[..end]).into_owned()));
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Ok(None);
        }
    }
}

/// Writes `response` and closes the sending side; errors (a browser gone) are ignored.
async fn write_response(stream: &mut TcpStream, response: &HttpResponse) {
    let _ = stream.write_all(&response.to_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
pub(crate) mod tests {
    use pretty_assertions::assert_eq;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::{
        CallbackError, CallbackServer, HttpResponse, Page, Route, SUCCESS_MESSAGE, bind_loopback,
        html_escape, parse_callback, route,
    };

    #[test]
    fn callbacks_are_checked() {
        let provider = |error: &str, description: Option<&str>| CallbackError::Provider {
            error: error.to_owned(),
            description: description.map(str::to_owned),
        };
        let cases = [
            ("code=abc&state=s1", Ok("abc".to_owned())),
            ("state=s1&code=a%2Fb%3D", Ok("a/b=".to_owned())),
            ("code=abc&state=s1&session_state=x", Ok("abc".to_owned())),
            ("code=abc&state=s2", Err(CallbackError::StateMismatch)),
            ("code=abc", Err(CallbackError::StateMismatch)),
            ("code=abc&state=", Err(CallbackError::StateMismatch)),
            ("state=s1", Err(CallbackError::NoCode)),
            ("state=s1&code=", Err(CallbackError::NoCode)),
            ("", Err(CallbackError::StateMismatch)),
            (
                "error=access_denied&error_description=User+denied+access&state=s1",
                Err(provider("access_denied", Some("User denied access"))),
            ),
            // The provider's error is shown even without (or with another) state.
            ("error=invalid_scope", Err(provider("invalid_scope", None))),
        ];
        for (query, want) in cases {
            assert_eq!(parse_callback(query, "s1"), want, "{query}");
        }
        assert_eq!(
            provider("access_denied", Some("User denied access")).to_string(),
            "the identity provider refused the login: access_denied: User denied access"
        );
        assert_eq!(
            CallbackError::StateMismatch.to_string(),
            "state mismatch: the callback was not for this login (unknown state nonce)"
        );
    }

    #[test]
    fn requests_are_routed() {
        let status = |route: Route| match route {
            Route::Respond(response) => Err(response.status),
            Route::Callback(result) => Ok(result),
        };
        let cases = [
            (
                "GET /auth/callback?code=c&state=s HTTP/1.1\r\nHost: localhost:8085",
                Ok(Ok("c".to_owned())),
            ),
            (
                "GET http://localhost:8085/auth/callback?code=c&state=s HTTP/1.1",
                Ok(Ok("c".to_owned())),
            ),
            (
                "GET /auth/callback?code=c&state=x HTTP/1.1",
                Ok(Err(CallbackError::StateMismatch)),
            ),
            ("GET /favicon.ico HTTP/1.1\r\nHost: localhost", Err(404)),
            ("GET / HTTP/1.1", Err(404)),
            ("GET /auth/callback/x?code=c&state=s HTTP/1.1", Err(404)),
            ("POST /auth/callback HTTP/1.1", Err(405)),
            ("GET /auth/callback", Err(400)),
            ("hello", Err(400)),
            ("", Err(400)),
            ("GET /auth/callback SPDY/3", Err(400)),
        ];
        for (head, want) in cases {
            assert_eq!(status(route(head, "s")), want, "{head:?}");
        }
    }

    #[test]
    fn pages_are_escaped_html() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let success = Page::Success.response();
        assert_eq!(success.status, 200);
        assert!(success.body.contains(SUCCESS_MESSAGE));
        let failure = Page::Failure("state <mismatch>".to_owned()).response();
        assert_eq!(failure.status, 400);
        assert!(failure.body.contains("state &lt;mismatch&gt;"));

        let response = HttpResponse {
            status: 404,
            body: "né".to_owned(),
        };
        assert_eq!(
            String::from_utf8(response.to_bytes()).expect("utf-8"),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: 3\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nné"
        );
    }

    /// Sends `GET target` to the loopback listener on `port`: the status and the body.
    pub(crate) async fn browser_get(port: u16, target: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream
            .write_all(
                format!("GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n").as_bytes(),
            )
            .await
            .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_default();
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn the_listener_waits_for_the_callback() {
        let listener = bind_loopback(0).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let browser = tokio::spawn(async move {
            // A speculative connection that never sends anything does not hold others up.
            let _idle = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let favicon = browser_get(port, "/favicon.ico").await;
            let callback = browser_get(port, "/auth/callback?code=c1&state=s1").await;
            (favicon, callback)
        });
        let (code, responder) = CallbackServer::new(listener, "s1".to_owned())
            .next_code()
            .await
            .expect("callback");
        assert_eq!(code, "c1");
        responder.respond(Page::Success).await;
        let ((favicon, _), (status, body)) = browser.await.expect("browser");
        assert_eq!(favicon, 404);
        assert_eq!(status, 200);
        assert!(body.contains(SUCCESS_MESSAGE), "{body}");
    }

    #[tokio::test]
    async fn a_wrong_state_fails_the_login() {
        let listener = bind_loopback(0).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let browser =
            tokio::spawn(
                async move { browser_get(port, "/auth/callback?code=c1&state=forged").await },
            );
        let err = CallbackServer::new(listener, "s1".to_owned())
            .next_code()
            .await
            .expect_err("forged state");
        assert!(err.to_string().starts_with("state mismatch"), "{err}");
        let (status, body) = browser.await.expect("browser");
        assert_eq!(status, 400);
        assert!(body.contains("state mismatch"), "{body}");

        let listener = bind_loopback(0).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let browser = tokio::spawn(async move {
            browser_get(
                port,
                "/auth/callback?error=access_denied&error_description=no%20%3Cway%3E",
            )
            .await
        });
        let err = CallbackServer::new(listener, "s1".to_owned())
            .next_code()
            .await
            .expect_err("denied");
        assert_eq!(
            err.to_string(),
            "the identity provider refused the login: access_denied: no <way>"
        );
        let (status, body) = browser.await.expect("browser");
        assert_eq!(status, 400);
        assert!(body.contains("no &lt;way&gt;"), "{body}");
    }

    #[tokio::test]
    async fn a_busy_port_is_reported() {
        let taken = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let err = bind_loopback(port).await.expect_err("in use");
        assert!(
            err.to_string().contains("pick another with --sso-port"),
            "{err}"
        );
    }
}
