//! The controller's metrics, with Argo CD's names where the meaning is the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use capstan_types::Application;
use capstan_types::application::ApplicationStatus;
use kube::ResourceExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Metric handles; cheap to clone.
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    app_info: Family<Labels, Gauge>,
    /// The labels of each app's `argocd_app_info` series, to remove it when they change.
    app_info_labels: Arc<Mutex<HashMap<(String, String), Labels>>>,
    reconcile: Family<Labels, Histogram>,
    status_writes: Counter,
    k8s_requests: Family<Labels, Counter>,
    api_objects: Family<Labels, Gauge>,
    queue_depth: Family<Labels, Gauge>,
    syncs: Family<Labels, Counter>,
    sync_seconds: Family<Labels, Counter<f64>>,
    /// The work queue whose depth `queue_depth` reports.
    pub queue: WorkQueue,
}

impl ControllerMetrics {
    /// Registers the metrics on `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let app_info = Family::<Labels, Gauge>::default();
        registry.register(
            "argocd_app_info",
            "Information about applications: sync and health status as labels",
            app_info.clone(),
        );
        let reconcile = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        registry.register(
            "argocd_app_reconcile",
            "Application reconciliation performance in seconds",
            reconcile.clone(),
        );
        let status_writes = Counter::default();
        registry.register(
            "capstan_app_status_writes",
            "Application status updates written (unchanged statuses are not written)",
            status_writes.clone(),
        );
        let k8s_requests = Family::<Labels, Counter>::default();
        registry.register(
            "argocd_app_k8s_request",
            "Kubernetes API requests made while reconciling applications",
            k8s_requests.clone(),
        );
        let api_objects = Family::<Labels, Gauge>::default();
        registry.register(
            "argocd_cluster_api_resource_objects",
            "Objects held in the live-state cache, per cluster and kind",
            api_objects.clone(),
        );
        let queue_depth = Family::<Labels, Gauge>::default();
        registry.register(
            "workqueue_depth",
            "Applications waiting for a reconcile (woken by a change or a due requeue, not started yet)",
            queue_depth.clone(),
        );
        let syncs = Family::<Labels, Counter>::default();
        registry.register(
            "argocd_app_sync",
            "Completed sync operations, by phase",
            syncs.clone(),
        );
        let sync_seconds = Family::<Labels, Counter<f64>>::default();
        registry.register(
            "argocd_app_sync_duration_seconds",
            "Time spent in completed sync operations",
            sync_seconds.clone(),
        );
        Self {
            syncs,
            sync_seconds,
            queue_depth,
            queue: WorkQueue::default(),
            app_info,
            k8s_requests,
            api_objects,
            app_info_labels: Arc::default(),
            reconcile,
            status_writes,
        }
    }

    /// Records one reconcile and the app's current sync and health.
    pub fn reconciled(&self, app: &Application, status: &ApplicationStatus, took: Duration) {
        let namespace = app.namespace().unwrap_or_default();
        self.reconcile
            .get_or_create(&vec![("namespace", namespace.clone())])
            .observe(took.as_secs_f64());
        let name = app.name_any();
        let key = (namespace.clone(), name.clone());
        let labels = vec![
            ("namespace", namespace),
            ("name", name),
            ("project", app.spec.project.clone()),
            (
                "sync_status",
                status
                    .sync
                    .status
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "health_status",
                status
                    .health
                    .status
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            ("dest_server", app.spec.destination.server.clone()),
        ];
        // One series per app: drop the previous label combination when it changed.
        let mut last = self.app_info_labels.lock().expect("metrics lock");
        if let Some(previous) = last.insert(key, labels.clone())
            && previous != labels
        {
            self.app_info.remove(&previous);
        }
        self.app_info.get_or_create(&labels).set(1);
    }

    /// Counts one Kubernetes API request and its outcome.
    pub fn k8s_request<T>(&self, verb: &str, kind: &str, result: &Result<T, kube::Error>) {
        let code = match result {
            Ok(_) => "200".to_owned(),
            Err(kube::Error::Api(status)) => status.code.to_string(),
            Err(_) => "error".to_owned(),
        };
        self.k8s_requests
            .get_or_create(&vec![
                ("verb", verb.to_owned()),
                ("resource_kind", kind.to_owned()),
                ("response_code", code),
            ])
            .inc();
    }

    /// Sets the live-cache object counts of a cluster.
    pub fn api_objects(&self, server: &str, counts: &std::collections::BTreeMap<String, usize>) {
        for (kind, count) in counts {
            self.api_objects
                .get_or_create(&vec![("server", server.to_owned()), ("kind", kind.clone())])
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
    }

    /// Counts a sync operation that just completed (no-op while it runs).
    pub fn sync_progress(
        &self,
        app: &Application,
        state: &capstan_types::application::OperationState,
    ) {
        let Some(phase) = state.phase.as_ref().filter(|p| p.is_completed()) else {
            return;
        };
        let labels = vec![
            ("namespace", app.namespace().unwrap_or_default()),
            ("name", app.name_any()),
            ("project", app.spec.project.clone()),
            ("phase", phase.as_str().to_owned()),
            ("dest_server", app.spec.destination.server.clone()),
        ];
        self.syncs.get_or_create(&labels).inc();
        if let (Some(start), Some(end)) = (&state.started_at, &state.finished_at) {
            let seconds = end.0.duration_since(start.0).as_secs_f64().max(0.0);
            self.sync_seconds
                .get_or_create(&labels[..3].to_vec())
                .inc_by(seconds);
        }
    }

    /// Publishes the current queue depth (called on a timer).
    pub fn update_queue_depth(&self) {
        let depth = self.queue.depth(std::time::Instant::now());
        self.queue_depth
            .get_or_create(&vec![("name", "app_reconciliation_queue".to_owned())])
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Counts one status write.
    pub fn status_write(&self) {
        self.status_writes.inc();
    }
}

/// What kube-runtime's scheduler does not expose: which apps wait for a reconcile. An app is
/// waiting from the change that woke it (or the moment its requeue fell due) until its
/// reconcile starts; an app woken twice waits once, as in the scheduler.
#[derive(Clone, Debug, Default)]
pub struct WorkQueue {
    state: Arc<Mutex<QueueState>>,
}

#[derive(Debug, Default)]
struct QueueState {
    woken: std::collections::HashSet<String>,
    requeued: HashMap<String, std::time::Instant>,
}

impl WorkQueue {
    /// The app `key` (`namespace/name`) was woken by a change.
    pub fn woken(&self, key: String) {
        self.state.lock().expect("queue lock").woken.insert(key);
    }

    /// The reconcile of `key` started.
    pub fn started(&self, key: &str) {
        let mut state = self.state.lock().expect("queue lock");
        state.woken.remove(key);
        state.requeued.remove(key);
    }

    /// The reconcile of `key` asked to run again after `after`.
    pub fn requeued(&self, key: String, after: Duration, now: std::time::Instant) {
        self.state
            .lock()
            .expect("queue lock")
            .requeued
            .insert(key, now + after);
    }

    /// Apps waiting at `now`.
    pub fn depth(&self, now: std::time::Instant) -> usize {
        let state = self.state.lock().expect("queue lock");
        let due = state
            .requeued
            .iter()
            .filter(|(key, at)| **at <= now && !state.woken.contains(*key))
            .count();
        state.woken.len() + due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_depth_counts_each_waiting_app_once() {
        let queue = WorkQueue::default();
        let t0 = std::time::Instant::now();
        let s = Duration::from_secs;
        queue.woken("ns/a".into());
        queue.woken("ns/a".into());
        queue.woken("ns/b".into());
        assert_eq!(queue.depth(t0), 2);
        queue.started("ns/a");
        assert_eq!(queue.depth(t0), 1);
        queue.requeued("ns/a".into(), s(60), t0);
        queue.requeued("ns/c".into(), s(10), t0);
        assert_eq!(queue.depth(t0 + s(5)), 1, "requeues not yet due");
        assert_eq!(queue.depth(t0 + s(10)), 2, "c fell due");
        queue.woken("ns/c".into());
        assert_eq!(queue.depth(t0 + s(10)), 2, "woken and due is one wait");
        assert_eq!(queue.depth(t0 + s(60)), 3);
        queue.started("ns/c");
        queue.started("ns/a");
        queue.started("ns/b");
        assert_eq!(queue.depth(t0 + s(60)), 0);
    }
}
