//! The repo-server's own metrics (Git and Redis metrics come from `capstan-git` and
//! `capstan-cache`). Names follow Argo CD's where the meaning is the same.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Metric handles; cheap to clone.
#[derive(Clone, Debug)]
pub struct RepoServerMetrics {
    pending: Family<Labels, Gauge>,
    cache: Family<Labels, Counter>,
    renders: Family<Labels, Histogram>,
}

impl RepoServerMetrics {
    /// Registers the metrics on `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let pending = Family::<Labels, Gauge>::default();
        // A gauge keeps its name as registered: this is Argo CD's exact name.
        registry.register(
            "argocd_repo_pending_request_total",
            "Number of pending manifest requests per repository",
            pending.clone(),
        );
        let cache = Family::<Labels, Counter>::default();
        registry.register(
            "capstan_repo_manifest_cache_requests",
            "Manifest requests by cache result (hit: served from Redis without Git or tools)",
            cache.clone(),
        );
        let renders = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        registry.register(
            "capstan_repo_render_duration_seconds",
            "Duration of manifest renders by source type and result",
            renders.clone(),
        );
        Self {
            pending,
            cache,
            renders,
        }
    }

    /// Counts a request as pending until the guard drops.
    pub fn pending(&self, repo: &str) -> PendingGuard {
        let gauge = self
            .pending
            .get_or_create(&vec![("repo", repo.to_owned())])
            .clone();
        gauge.inc();
        PendingGuard(gauge)
    }

    /// Records a manifest-cache lookup.
    pub fn manifest_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    /// Records one render: its source type ("" when unknown), its error label (None = ok).
    pub fn render(&self, source_type: &str, error: Option<&'static str>, took: Duration) {
        self.renders
            .get_or_create(&vec![
                ("source_type", source_type.to_owned()),
                ("result", error.unwrap_or("ok").to_owned()),
            ])
            .observe(took.as_secs_f64());
    }
}

/// Decrements the pending gauge when dropped.
#[derive(Debug)]
pub struct PendingGuard(Gauge);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
