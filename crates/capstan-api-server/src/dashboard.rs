//! The web dashboard's files: the build output of the Vite SPA in `web/` (`web/dist`), served
//! on the API's port as Argo CD's server serves its UI (`--staticassets`). It is the router's
//! fallback, so the REST and gRPC routes always come first.
//!
//! - `/assets/*` are Vite's content-hashed files: `Cache-Control: public, max-age=31536000,
//!   immutable`. A missing one is a 404 — a page of an older build asking for a chunk that is
//!   gone must fail, not receive HTML.
//! - Any other GET or HEAD that names no file is a client-side route (`/applications/argocd/
//!   guestbook`): the answer is `index.html`, with `Cache-Control: no-cache` (as every other
//!   file) so that a new build is picked up at the next load. Not so for API paths (`/api/...`
//!   keeps the API's JSON 404), the gateway's `/auth/...` and gRPC paths (first segment with a
//!   `.`, `/capstan.application.v1.ApplicationService/List`).
//! - Nothing outside the directory is served: `..` (plain or percent-encoded), absolute paths,
//!   hidden files and symlinks that resolve outside the directory are refused with a 404.
//! - Responses carry `X-Content-Type-Options: nosniff`; text is gzip-compressed for clients
//!   that accept it.
//!
//! Without a directory, or with one that has no `index.html`, the dashboard's paths answer a
//! 404 that says how to build it. The directory is looked at on every request, so a build made
//! while the server runs is served at once.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate as _};
use tower_http::services::ServeFile;

use crate::error::ApiError;

/// Cache-Control of Vite's content-hashed files under `/assets/`.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of `index.html`, the SPA fallback and every other answer: revalidate first.
pub const NO_CACHE: &str = "no-cache";
/// The start of the 404 body when there is no dashboard to serve.
pub const NOT_BUILT: &str = "the web dashboard is not built";

/// Where the dashboard's files are.
#[derive(Debug, Clone)]
struct Dashboard {
    dir: Option<PathBuf>,
}

/// The fallback router serving the files of `dir` (the dashboard's build output, `web/dist`);
/// `None`: no dashboard.
pub fn router(dir: Option<PathBuf>) -> Router {
    // Fonts in woff/woff2 are compressed already.
    let compress = DefaultPredicate::new().and(NotForContentType::const_new("font/woff"));
    Router::new()
        .fallback(serve)
        .with_state(Arc::new(Dashboard { dir }))
        .layer(CompressionLayer::new().gzip(true).compress_when(compress))
}

async fn serve(State(dashboard): State<Arc<Dashboard>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/api" || path.starts_with("/api/") {
        // An unknown API path (or method) keeps the API's error shape.
        return ApiError::NotFound {
            kind: "API path",
            name: path,
        }
        .into_response();
    }
    if is_grpc(request.headers()) {
        // A gRPC call to a service this server does not have.
        let (parts, ()) = tonic::Status::unimplemented(format!("unknown gRPC service: {path}"))
            .into_http::<()>()
            .into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let mut response = static_file(&dashboard, request, &path).await;
    let status = response.status();
    let cache = if is_asset(&path) && (status.is_success() || status == StatusCode::NOT_MODIFIED) {
        IMMUTABLE
    } else {
        NO_CACHE
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

async fn static_file(dashboard: &Dashboard, request: Request, path: &str) -> Response {
    if path.starts_with("/auth/") {
        return text(
            StatusCode::NOT_FOUND,
            "not found: /auth/ paths are capstan-auth-gateway's\n".to_owned(),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "the dashboard's files are read with GET or HEAD\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(dir) = &dashboard.dir else {
        return not_built("capstan-api-server runs without --static-assets");
    };
    let Ok(root) = tokio::fs::canonicalize(dir).await else {
        tracing::debug!("dashboard directory {}: not readable", dir.display());
        return not_built("the --static-assets directory does not exist");
    };
    let Some(relative) = relative_path(path) else {
        return not_found();
    };
    match resolve(&root, &root.join(relative)).await {
        Resolved::File(file) => return send(request, &file).await,
        Resolved::Outside => return not_found(),
        Resolved::Missing | Resolved::Dir => {}
    }
    if !is_client_route(path) {
        return not_found();
    }
    match resolve(&root, &root.join("index.html")).await {
        Resolved::File(index) => send(request, &index).await,
        _ => not_built("the --static-assets directory has no index.html"),
    }
}

/// Serves `file` — the canonical path that was checked, so a symlink changed meanwhile cannot
/// redirect the read — with tower-http's file service (content type, ranges, conditional
/// requests, HEAD).
async fn send(request: Request, file: &Path) -> Response {
    match ServeFile::new(file).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

enum Resolved {
    File(PathBuf),
    Dir,
    Missing,
    Outside,
}

/// What `candidate` is once every symlink is followed; `Outside` when it leaves `root`
/// (canonical).
async fn resolve(root: &Path, candidate: &Path) -> Resolved {
    let Ok(real) = tokio::fs::canonicalize(candidate).await else {
        return Resolved::Missing;
    };
    if !real.starts_with(root) {
        tracing::warn!(
            "dashboard: {} resolves outside the --static-assets directory; refused",
            candidate.display()
        );
        return Resolved::Outside;
    }
    match tokio::fs::metadata(&real).await {
        Ok(meta) if meta.is_file() => Resolved::File(real),
        Ok(meta) if meta.is_dir() => Resolved::Dir,
        _ => Resolved::Missing,
    }
}

/// The request path as a path relative to the directory: percent-decoded, only plain
/// components. `None` for `..`, an absolute path (`/%2Fetc/passwd`), a hidden file, a NUL or
/// invalid UTF-8.
fn relative_path(path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(path.trim_start_matches('/'))?;
    if decoded.contains('\0') {
        return None;
    }
    let mut relative = PathBuf::new();
    for component in Path::new(&decoded).components() {
        match component {
            Component::Normal(part) if !part.as_encoded_bytes().starts_with(b".") => {
                relative.push(part);
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(relative)
}

/// `%XX` escapes decoded (invalid ones kept as they are); `None` when the result is not UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Under `/assets/`: Vite's content-hashed build output.
fn is_asset(path: &str) -> bool {
    path.starts_with("/assets/")
}

/// Whether a path that names no file is the SPA's to route: not an asset, not the gateway's,
/// not a gRPC method path and not a file name (`/favicon.ico`) — their first segment has a `.`.
fn is_client_route(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    !is_asset(path) && path != "/assets" && !path.starts_with("/auth/") && !first.contains('.')
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "not found\n".to_owned())
}

fn not_built(why: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!(
            "{NOT_BUILT} ({why}): run `npm ci && npm run build` in web/ and start \
             capstan-api-server with --static-assets web/dist\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::{is_client_route, percent_decode, relative_path};
    use std::path::PathBuf;

    #[test]
    fn request_paths_map_inside_the_directory_or_not_at_all() {
        for (path, expected) in [
            ("/", Some("")),
            ("/index.html", Some("index.html")),
            ("/assets/index-3f2a.js", Some("assets/index-3f2a.js")),
            ("/assets/a%20b.css", Some("assets/a b.css")),
            ("/./index.html", Some("index.html")),
            ("//etc/passwd", Some("etc/passwd")),
            ("/../Cargo.toml", None),
            ("/%2e%2e/Cargo.toml", None),
            ("/%2E%2E/Cargo.toml", None),
            ("/assets/..%2f..%2fsecret", None),
            ("/assets/%2e%2e%2fsecret", None),
            ("/%2fetc%2fpasswd", None),
            ("/.env", None),
            ("/assets/.hidden", None),
            ("/a%00b", None),
            ("/%ff", None),
        ] {
            assert_eq!(relative_path(path), expected.map(PathBuf::from), "{path}");
        }
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz%4").as_deref(), Some("%zz%4"));
    }

    #[test]
    fn client_routes_exclude_assets_auth_grpc_and_file_names() {
        for path in [
            "/",
            "/applications",
            "/applications/argocd/guestbook",
            "/settings/projects",
        ] {
            assert!(is_client_route(path), "{path}");
        }
        for path in [
            "/assets",
            "/assets/missing.js",
            "/auth/login",
            "/capstan.application.v1.ApplicationService/List",
            "/favicon.ico",
        ] {
            assert!(!is_client_route(path), "{path}");
        }
    }
}
