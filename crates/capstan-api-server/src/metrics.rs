//! The API server's request metrics: one counter and one latency histogram per route (the
//! matched path template for REST, the method path for gRPC — never a raw URL, so labels stay
//! few) and status. gRPC calls answer HTTP 200 with their code in the `grpc-status` header or
//! trailer; the header is what is counted (`unary` errors carry it there), streams count as OK.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Request metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    requests: Family<Labels, Counter>,
    seconds: Family<Labels, Histogram>,
}

impl Metrics {
    /// Registers the metrics.
    pub fn new(registry: &mut Registry) -> Self {
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "capstan_api_requests",
            "API requests by protocol, route and status (gRPC code or HTTP status)",
            requests.clone(),
        );
        let seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "capstan_api_request_duration_seconds",
            "Time to the response headers, by protocol and route",
            seconds.clone(),
        );
        Self { requests, seconds }
    }
}

/// The axum middleware recording each request.
pub async fn record(metrics: Arc<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let is_grpc = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let route = if is_grpc {
        request.uri().path().to_owned()
    } else {
        request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".to_owned())
    };
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = if is_grpc {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_owned()
    } else {
        response.status().as_u16().to_string()
    };
    let protocol = if is_grpc { "grpc" } else { "http" };
    let route_labels = vec![
        ("protocol".to_owned(), protocol.to_owned()),
        ("method".to_owned(), method),
        ("route".to_owned(), route),
    ];
    metrics
        .seconds
        .get_or_create(&route_labels)
        .observe(started.elapsed().as_secs_f64());
    let mut labels = route_labels;
    labels.push(("status".to_owned(), status));
    metrics.requests.get_or_create(&labels).inc();
    response
}
