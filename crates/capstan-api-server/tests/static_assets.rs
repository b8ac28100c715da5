//! The web dashboard's files as the API server serves them (`--static-assets`): the real router
//! (REST, gRPC and the dashboard fallback) on a real socket, real files in a temporary
//! directory, requests sent by a real HTTP client with their paths exactly as written (no URL
//! normalisation), so traversal attempts reach the server as an attacker would send them.
//!
//! The API server's Kubernetes API and repo-server are unreachable addresses: nothing here
//! needs them (unknown API paths and static files never touch them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use capstan_api_server::dashboard::{IMMUTABLE, NO_CACHE, NOT_BUILT};
use capstan_api_server::state::ApiState;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const INDEX: &str = "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>Capstan</title>\
    <script type=module crossorigin src=/assets/index-3f2a9c1d.js></script>\
    <link rel=stylesheet crossorigin href=/assets/index-77aa01bc.css></head>\
    <body><div id=app></div></body></html>\n";
const SECRET: &str = "TOP-SECRET: outside the dashboard directory";

fn script() -> String {
    "export function render(app) { app.innerHTML = '<h1>Applications</h1>'; }\n".repeat(40)
}

/// `<tmp>/{Cargo.toml,secret.txt}` outside, `<tmp>/dist` the dashboard with symlinks out and in.
fn dashboard_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).expect("mkdir");
    std::fs::write(tmp.path().join("secret.txt"), SECRET).expect("write");
    std::fs::write(tmp.path().join("Cargo.toml"), SECRET).expect("write");
    std::fs::write(dist.join("index.html"), INDEX).expect("write");
    std::fs::write(dist.join("assets/index-3f2a9c1d.js"), script()).expect("write");
    std::fs::write(dist.join("assets/index-77aa01bc.css"), "body{margin:0}\n").expect("write");
    std::fs::write(dist.join(".env"), SECRET).expect("write");
    // Symlinks out of the directory (a file and a directory) and one within it.
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), dist.join("leak.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink(tmp.path(), dist.join("assets/up")).expect("symlink");
    std::os::unix::fs::symlink("assets/index-3f2a9c1d.js", dist.join("latest.js"))
        .expect("symlink");
    (tmp, dist)
}

/// Serves the API server's router on a free port.
async fn serve(static_assets: Option<PathBuf>) -> SocketAddr {
    let app = capstan_api_server::router(Arc::new(ApiState::offline("argocd")), static_assets);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .map(|v| v.to_str().expect("ASCII header"))
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method path` with `headers` over HTTP/1.1; the path goes on the wire as written.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri: Uri = format!("http://{addr}{path}").parse().expect("URI");
    assert_eq!(
        uri.path(),
        path.split('?').next().unwrap_or(path),
        "sent as is"
    );
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(
            request
                .body(Full::new(Bytes::from_static(body)))
                .expect("request"),
        )
        .await
        .expect("response");
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    send(addr, Method::GET, path, &[], b"").await
}

fn assert_index(answer: &Answer, path: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
    assert_eq!(answer.text(), INDEX, "{path}");
    assert!(
        answer.header(header::CONTENT_TYPE).starts_with("text/html"),
        "{path}: {}",
        answer.header(header::CONTENT_TYPE)
    );
    assert_eq!(answer.header(header::CACHE_CONTROL), NO_CACHE, "{path}");
    assert_eq!(answer.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
}

#[tokio::test]
async fn index_and_client_side_routes_answer_index_html() {
    let (_tmp, dist) = dashboard_dir();
    let addr = serve(Some(dist)).await;
    for path in [
        "/",
        "/index.html",
        "/applications",
        "/applications/argocd/guestbook",
        "/settings/projects",
        "/applications?proj=default&sync=OutOfSync",
    ] {
        assert_index(&get(addr, path).await, path);
    }
    let head = send(
        addr,
        Method::HEAD,
        "/applications/argocd/guestbook",
        &[],
        b"",
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header(header::CONTENT_LENGTH), INDEX.len().to_string());
    assert!(head.body.is_empty());
    // The SPA is read, never written.
    let post = send(addr, Method::POST, "/applications", &[], b"x").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_ne!(post.text(), INDEX);
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_missing_ones_are_404() {
    let (_tmp, dist) = dashboard_dir();
    let addr = serve(Some(dist)).await;
    let js = get(addr, "/assets/index-3f2a9c1d.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(js.text(), script());
    assert_eq!(js.header(header::CACHE_CONTROL), IMMUTABLE);
    assert_eq!(js.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(
        js.header(header::CONTENT_TYPE).contains("javascript"),
        "{}",
        js.header(header::CONTENT_TYPE)
    );
    let css = get(addr, "/assets/index-77aa01bc.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header(header::CONTENT_TYPE).starts_with("text/css"));
    assert_eq!(css.header(header::CACHE_CONTROL), IMMUTABLE);
    // A symlink that stays inside the directory is a file like any other (not hashed: no-cache).
    let latest = get(addr, "/latest.js").await;
    assert_eq!(latest.status, StatusCode::OK);
    assert_eq!(latest.text(), script());
    assert_eq!(latest.header(header::CACHE_CONTROL), NO_CACHE);
    // A chunk of a build that is gone, a file name and the assets directory: real 404s.
    for path in [
        "/assets/index-00000000.js",
        "/assets/",
        "/assets",
        "/favicon.ico",
    ] {
        let missing = get(addr, path).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_ne!(missing.text(), INDEX, "{path}");
        assert_eq!(missing.header(header::CACHE_CONTROL), NO_CACHE, "{path}");
        assert_eq!(missing.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    }
}

#[tokio::test]
async fn api_auth_and_grpc_paths_never_answer_the_dashboard() {
    let (_tmp, dist) = dashboard_dir();
    let addr = serve(Some(dist)).await;
    // The API's own routes come first.
    let version = get(addr, "/api/version").await;
    assert_eq!(version.status, StatusCode::OK);
    let version: serde_json::Value = serde_json::from_slice(&version.body).expect("JSON");
    assert!(version["Version"].is_string(), "{version}");
    // Unknown API paths keep the API's JSON error, whatever the method.
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let answer = send(addr, method.clone(), "/api/v1/nonexistent", &[], b"").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method}");
        assert!(
            answer
                .header(header::CONTENT_TYPE)
                .starts_with("application/json")
        );
        let error: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON");
        assert_eq!(error["code"], 5, "{error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("/api/v1/nonexistent")),
            "{error}"
        );
    }
    // gRPC method paths (known and unknown services) and the gateway's paths are not SPA routes.
    for path in [
        "/capstan.application.v1.ApplicationService/List",
        "/capstan.nothing.v1.NoService/List",
        "/auth/login",
        "/auth/callback?code=x",
    ] {
        let answer = get(addr, path).await;
        assert_ne!(answer.text(), INDEX, "{path}");
        assert_ne!(answer.status, StatusCode::OK, "{path}");
    }
    // A gRPC call to an unknown service is a gRPC `Unimplemented`, as tonic answers.
    let grpc = send(
        addr,
        Method::POST,
        "/capstan.nothing.v1.NoService/List",
        &[("content-type", "application/grpc"), ("te", "trailers")],
        b"",
    )
    .await;
    assert_eq!(
        grpc.headers.get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"12"[..])
    );
}

#[tokio::test]
async fn no_path_reaches_a_file_outside_the_directory() {
    let (tmp, dist) = dashboard_dir();
    let addr = serve(Some(dist)).await;
    let outside = tmp.path().display().to_string();
    let refused = [
        "/../Cargo.toml",
        "/../secret.txt",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/assets/../../secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/%2fetc%2fpasswd",
        &format!("/%2f{}/secret.txt", outside.trim_start_matches('/')),
        // Symlinks inside the directory that point out of it.
        "/leak.txt",
        "/assets/up/secret.txt",
        // Hidden files.
        "/.env",
    ];
    for path in refused {
        let answer = get(addr, path).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text()
        );
        assert!(!answer.text().contains("TOP-SECRET"), "{path} leaked");
    }
    // Absolute-looking paths are relative to the directory: the SPA answers, nothing leaks.
    for path in [
        "//etc/passwd",
        &format!("/{outside}/secret.txt"),
        &format!("/{}/secret.txt", outside.trim_start_matches('/')),
    ] {
        let answer = get(addr, path).await;
        assert!(
            answer.status == StatusCode::NOT_FOUND || answer.text() == INDEX,
            "{path}: {} {}",
            answer.status,
            answer.text()
        );
        assert!(!answer.text().contains("TOP-SECRET"), "{path} leaked");
        assert!(!answer.text().contains("root:"), "{path} leaked");
    }
}

fn gunzip(body: &[u8]) -> String {
    use std::io::Read as _;
    let mut text = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut text)
        .expect("gzip");
    text
}

#[tokio::test]
async fn text_is_gzipped_for_clients_that_accept_it() {
    let (_tmp, dist) = dashboard_dir();
    let addr = serve(Some(dist)).await;
    let gzip = [("accept-encoding", "gzip")];
    let js = send(addr, Method::GET, "/assets/index-3f2a9c1d.js", &gzip, b"").await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(js.header(header::CONTENT_ENCODING), "gzip");
    assert!(
        js.body.len() < script().len() / 4,
        "{} bytes",
        js.body.len()
    );
    assert_eq!(gunzip(&js.body), script());
    assert_eq!(js.header(header::CACHE_CONTROL), IMMUTABLE);
    assert!(js.header(header::VARY).contains("accept-encoding"));
    let route = send(
        addr,
        Method::GET,
        "/applications/argocd/guestbook",
        &gzip,
        b"",
    )
    .await;
    assert_eq!(route.header(header::CONTENT_ENCODING), "gzip");
    assert_eq!(gunzip(&route.body), INDEX);
    // Without Accept-Encoding: as stored.
    let plain = get(addr, "/assets/index-3f2a9c1d.js").await;
    assert_eq!(plain.header(header::CONTENT_ENCODING), "");
    assert_eq!(plain.text(), script());
}

#[tokio::test]
async fn without_a_build_the_dashboard_paths_say_how_to_build_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(tmp.path().join("empty/assets")).expect("mkdir");
    let configurations: [Option<&Path>; 3] = [
        None,
        Some(&tmp.path().join("empty")),
        Some(&tmp.path().join("missing")),
    ];
    for dir in configurations {
        let addr = serve(dir.map(Path::to_path_buf)).await;
        for path in ["/", "/applications/argocd/guestbook"] {
            let answer = get(addr, path).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{dir:?} {path}");
            assert!(
                answer
                    .header(header::CONTENT_TYPE)
                    .starts_with("text/plain")
            );
            let text = answer.text();
            for part in [
                NOT_BUILT,
                "npm ci && npm run build",
                "--static-assets web/dist",
            ] {
                assert!(text.contains(part), "{dir:?} {path}: {text}");
            }
        }
        let api = get(addr, "/api/v1/nonexistent").await;
        assert_eq!(api.status, StatusCode::NOT_FOUND);
        assert!(
            api.header(header::CONTENT_TYPE)
                .starts_with("application/json")
        );
    }
}
