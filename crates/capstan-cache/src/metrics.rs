//! Argo CD's Redis metrics, so its dashboards and alerts work unchanged:
//! `argocd_redis_request_total{initiator, failed}` and
//! `argocd_redis_request_duration_seconds{initiator}`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Seconds. Argo CD's buckets (0.1 … 2 s) plus finer ones, because a healthy Redis on the
/// same network answers in well under a millisecond.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    initiator: String,
    failed: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InitiatorLabels {
    initiator: String,
}

/// The metric handles of one initiator, resolved once.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    ok: Counter,
    failed: Counter,
    duration: Histogram,
}

impl Metrics {
    /// Registers the metrics on `registry`. Register once per registry: build one `Cache` per
    /// process and clone it.
    pub(crate) fn register(registry: &mut Registry, initiator: &str) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<InitiatorLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            // prometheus-client appends `_total` to counters.
            "argocd_redis_request",
            "Number of Redis requests executed, by initiator and whether they failed.",
            requests.clone(),
        );
        registry.register_with_unit(
            "argocd_redis_request_duration",
            "Redis request duration.",
            Unit::Seconds,
            durations.clone(),
        );
        let label = |failed| RequestLabels {
            initiator: initiator.to_string(),
            failed,
        };
        // One statement each: `get_or_create` returns a read guard, and a second call
        // (which may need the write lock) while the first guard lives would deadlock.
        let ok = requests.get_or_create(&label(false)).clone();
        let failed = requests.get_or_create(&label(true)).clone();
        let duration = durations
            .get_or_create(&InitiatorLabels {
                initiator: initiator.to_string(),
            })
            .clone();
        Metrics {
            ok,
            failed,
            duration,
        }
    }

    /// Records one Redis request.
    pub(crate) fn observe(&self, failed: bool, elapsed: Duration) {
        if failed {
            self.failed.inc();
        } else {
            self.ok.inc();
        }
        self.duration.observe(elapsed.as_secs_f64());
    }
}
