//! The reverse proxy to the api-server: every request the gateway does not answer itself
//! (REST, gRPC, gRPC-web, watch streams, the dashboard) goes upstream unchanged apart from
//! hop-by-hop headers and the `X-Forwarded-*` set. gRPC goes over HTTP/2 (trailers and
//! streams intact), everything else over HTTP/1.1; bodies stream both ways.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The upstream api-server.
#[derive(Clone, Debug)]
pub struct Upstream {
    scheme: axum::http::uri::Scheme,
    authority: axum::http::uri::Authority,
    h1: Client<HttpConnector, Body>,
    h2: Client<HttpConnector, Body>,
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "transfer-encoding",
    "upgrade",
    "te",
];

impl Upstream {
    /// An upstream at `base` (`http://host:port`).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let uri: Uri = base.parse()?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            anyhow::bail!("the api-server address {base:?} needs a scheme and host");
        };
        if scheme != axum::http::uri::Scheme::HTTP {
            anyhow::bail!("the api-server address {base:?} must be http:// (in-cluster traffic)");
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(Self {
            scheme,
            authority,
            h1: Client::builder(TokioExecutor::new()).build(connector.clone()),
            h2: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build(connector),
        })
    }

    /// Forwards `request` from `client` and streams the answer back.
    pub async fn forward(
        &self,
        mut request: Request<Body>,
        client: Option<SocketAddr>,
        secure: bool,
    ) -> Response<Body> {
        let grpc = is_native_grpc(request.headers());
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let uri = match Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
        {
            Ok(uri) => uri,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad request path: {e}")),
        };
        let original_host = request.headers().get(header::HOST).cloned().or_else(|| {
            request
                .uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        *request.uri_mut() = uri;
        *request.version_mut() = if grpc {
            axum::http::Version::HTTP_2
        } else {
            axum::http::Version::HTTP_11
        };
        let headers = request.headers_mut();
        strip_hop_by_hop(headers);
        headers.remove(header::HOST);
        if grpc {
            // gRPC requires `te: trailers` end to end.
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some(addr) = client {
            let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(prior) => format!("{prior}, {}", addr.ip()),
                None => addr.ip().to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&forwarded) {
                headers.insert(HeaderName::from_static("x-forwarded-for"), v);
            }
        }
        if !headers.contains_key("x-forwarded-proto") {
            headers.insert(
                HeaderName::from_static("x-forwarded-proto"),
                HeaderValue::from_static(if secure { "https" } else { "http" }),
            );
        }
        if let Some(host) = original_host
            && !headers.contains_key("x-forwarded-host")
        {
            headers.insert(HeaderName::from_static("x-forwarded-host"), host);
        }
        let client = if grpc { &self.h2 } else { &self.h1 };
        match client.request(request).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Err(e) => {
                tracing::warn!("api-server unreachable: {e}");
                if grpc {
                    grpc_unavailable()
                } else {
                    error(
                        StatusCode::BAD_GATEWAY,
                        "the api-server is unavailable; try again shortly",
                    )
                }
            }
        }
    }
}

/// Whether a request is native gRPC (HTTP/2 with trailers), not gRPC-web.
pub fn is_native_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/grpc") && !ct.starts_with("application/grpc-web")
        })
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// A JSON error in Argo CD's REST error shape.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    let code = match status {
        StatusCode::UNAUTHORIZED => 16,
        StatusCode::FORBIDDEN => 7,
        StatusCode::NOT_FOUND => 5,
        StatusCode::TOO_MANY_REQUESTS => 8,
        StatusCode::BAD_REQUEST => 3,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY => 14,
        _ => 2,
    };
    let body = serde_json::json!({"error": message, "code": code, "message": message});
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid response")
}

fn grpc_unavailable() -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/grpc")
        .header("grpc-status", "14")
        .header("grpc-message", "the%20api-server%20is%20unavailable")
        .body(Body::empty())
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-secret-hop".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("authorization", "Bearer t".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("authorization"));
    }

    #[test]
    fn grpc_detection() {
        let cases = [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc-web+proto", false),
            ("application/json", false),
        ];
        for (ct, want) in cases {
            let mut h = HeaderMap::new();
            h.insert("content-type", ct.parse().unwrap());
            assert_eq!(is_native_grpc(&h), want, "{ct}");
        }
        assert!(Upstream::new("https://api:8080").is_err());
        assert!(Upstream::new("api:8080").is_err());
        assert!(Upstream::new("http://capstan-api-server:8080").is_ok());
    }
}
