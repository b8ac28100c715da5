//! The gateway's metrics: Argo CD's `argocd_login_request_total{status}` so existing
//! dashboards and alerts on failed logins keep working.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    status: &'static str,
}

/// The gateway's metric handles.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    logins: Family<LoginLabels, Counter>,
}

impl Metrics {
    /// Registers the metrics.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics::default();
        registry.register(
            "argocd_login_request",
            "Number of login requests (password, SSO and CLI SSO), by outcome",
            m.logins.clone(),
        );
        m
    }

    /// Counts a login attempt: `success` or `failure` (rate-limited attempts are failures).
    pub fn login(&self, success: bool) {
        let status = if success { "success" } else { "failure" };
        self.logins.get_or_create(&LoginLabels { status }).inc();
    }
}
