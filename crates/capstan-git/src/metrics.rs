//! Argo CD's Git metrics, with Argo CD's names and labels.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `request_type` of a Git request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestType {
    LsRemote,
    Fetch,
}

impl RequestType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RequestType::LsRemote => "ls-remote",
            RequestType::Fetch => "fetch",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    repo: String,
    request_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepoLabels {
    repo: String,
}

/// Argo CD's `argocd_git_request_duration_seconds` buckets.
const DURATION_BUCKETS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 20.0];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

#[derive(Debug, Clone)]
pub(crate) struct GitMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
    fetch_failures: Family<RepoLabels, Counter>,
}

impl GitMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = GitMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            fetch_failures: Family::default(),
        };
        // prometheus-client appends `_total` to counters itself.
        registry.register(
            "argocd_git_request",
            "Number of git requests performed by repo server",
            metrics.requests.clone(),
        );
        registry.register(
            "argocd_git_request_duration_seconds",
            "Git requests duration seconds.",
            metrics.durations.clone(),
        );
        registry.register(
            "argocd_git_fetch_fail",
            "Number of git fetch requests failures by repo server",
            metrics.fetch_failures.clone(),
        );
        metrics
    }

    /// Records one finished request to `repo` (a URL without credentials).
    pub(crate) fn observe(&self, repo: &str, kind: RequestType, took: Duration, ok: bool) {
        let labels = RequestLabels {
            repo: repo.to_string(),
            request_type: kind.as_str().to_string(),
        };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if kind == RequestType::Fetch && !ok {
            self.fetch_failures
                .get_or_create(&RepoLabels {
                    repo: repo.to_string(),
                })
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_argo_cd_names() {
        let mut registry = Registry::default();
        let metrics = GitMetrics::register(&mut registry);
        metrics.observe(
            "https://h/r",
            RequestType::LsRemote,
            Duration::from_millis(30),
            true,
        );
        metrics.observe(
            "https://h/r",
            RequestType::Fetch,
            Duration::from_secs(3),
            false,
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for want in [
            "# TYPE argocd_git_request counter",
            r#"argocd_git_request_total{repo="https://h/r",request_type="ls-remote"} 1"#,
            r#"argocd_git_request_total{repo="https://h/r",request_type="fetch"} 1"#,
            "# TYPE argocd_git_request_duration_seconds histogram",
            r#"argocd_git_request_duration_seconds_bucket{le="0.1",repo="https://h/r",request_type="ls-remote"} 1"#,
            r#"argocd_git_request_duration_seconds_bucket{le="4.0",repo="https://h/r",request_type="fetch"} 1"#,
            r#"argocd_git_fetch_fail_total{repo="https://h/r"} 1"#,
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("_total_total"), "{text}");
    }
}
