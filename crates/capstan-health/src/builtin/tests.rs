//! Table tests of the built-in checks: one row per object, written as a JSON literal.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::{builtin, kstatus};
use crate::HealthStatusCode::{self, Degraded, Healthy, Progressing, Suspended, Unknown};

/// One row: a name, the object, and the expected status and message (`None` = no health).
type Case<'a> = (&'a str, Value, Option<(HealthStatusCode, &'a str)>);

/// Runs `builtin` on every case and compares status and message.
fn check(cases: &[Case<'_>]) {
    for (name, obj, want) in cases {
        let got = builtin(obj).map(|h| (h.status, h.message));
        let want = want.as_ref().map(|(s, m)| (s.clone(), (*m).to_owned()));
        assert_eq!(got, want, "case {name}");
        if let Some((status, message)) = &got {
            assert!(
                *status == Healthy || !message.is_empty(),
                "case {name}: non-healthy status without a message"
            );
        }
    }
}

fn deployment(spec: Value, status: Value, generation: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "generation": generation},
        "spec": spec, "status": status,
    })
}

#[test]
fn deployment_health() {
    check(&[
        (
            "healthy",
            deployment(
                json!({"replicas": 2}),
                json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
                3,
            ),
            Some((Healthy, "")),
        ),
        (
            "paused",
            deployment(json!({"paused": true, "replicas": 1}), json!({}), 1),
            Some((Suspended, "Deployment is paused")),
        ),
        (
            "generation not observed",
            deployment(json!({"replicas": 1}), json!({"observedGeneration": 1}), 2),
            Some((
                Progressing,
                "Waiting for rollout to finish: observed deployment generation less than desired generation",
            )),
        ),
        (
            "updating",
            deployment(
                json!({"replicas": 3}),
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 3}),
                2,
            ),
            Some((
                Progressing,
                "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
            )),
        ),
        (
            "old replicas terminating",
            deployment(
                json!({"replicas": 2}),
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
                2,
            ),
            Some((
                Progressing,
                "Waiting for rollout to finish: 1 old replicas are pending termination...",
            )),
        ),
        (
            "not available",
            deployment(
                json!({"replicas": 2}),
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
                2,
            ),
            Some((
                Progressing,
                "Waiting for rollout to finish: 1 of 2 updated replicas are available...",
            )),
        ),
        (
            "progress deadline exceeded",
            deployment(
                json!({"replicas": 2}),
                json!({
                    "observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
                    "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
                }),
                2,
            ),
            Some((
                Degraded,
                "Deployment \"web\" exceeded its progress deadline",
            )),
        ),
    ]);
}

#[test]
fn stateful_set_health() {
    let sts = |spec: Value, status: Value| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "generation": 2},
               "spec": spec, "status": status})
    };
    check(&[
        (
            "rolling update complete",
            sts(
                json!({"replicas": 2, "updateStrategy": {"type": "RollingUpdate"}}),
                json!({"observedGeneration": 2, "readyReplicas": 2, "currentReplicas": 2,
                       "currentRevision": "db-1", "updateRevision": "db-1"}),
            ),
            Some((
                Healthy,
                "statefulset rolling update complete 2 pods at revision db-1...",
            )),
        ),
        (
            "not observed",
            sts(json!({"replicas": 2}), json!({})),
            Some((
                Progressing,
                "Waiting for statefulset spec update to be observed...",
            )),
        ),
        (
            "pods not ready",
            sts(
                json!({"replicas": 3}),
                json!({"observedGeneration": 2, "readyReplicas": 1}),
            ),
            Some((Progressing, "Waiting for 2 pods to be ready...")),
        ),
        (
            "revision rolling",
            sts(
                json!({"replicas": 2}),
                json!({"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 1,
                       "currentRevision": "db-1", "updateRevision": "db-2"}),
            ),
            Some((
                Progressing,
                "waiting for statefulset rolling update to complete 1 pods at revision db-2...",
            )),
        ),
        (
            "partitioned rollout waiting",
            sts(
                json!({"replicas": 4, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}),
                json!({"observedGeneration": 2, "readyReplicas": 4, "updatedReplicas": 1}),
            ),
            Some((
                Progressing,
                "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
            )),
        ),
        (
            "on delete",
            sts(
                json!({"replicas": 1, "updateStrategy": {"type": "OnDelete"}}),
                json!({"observedGeneration": 2, "readyReplicas": 1, "updatedReplicas": 0}),
            ),
            Some((Healthy, "statefulset has 1 ready pods (0 updated)")),
        ),
    ]);
}

#[test]
fn daemon_set_health() {
    let ds = |generation: i64, status: Value| {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "generation": generation},
               "spec": {}, "status": status})
    };
    check(&[
        (
            "healthy",
            ds(
                1,
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
            ),
            Some((Healthy, "")),
        ),
        (
            "not observed",
            ds(2, json!({"observedGeneration": 1})),
            Some((
                Progressing,
                "Waiting for rollout to finish: observed daemon set generation less than desired generation",
            )),
        ),
        (
            "updating",
            ds(
                1,
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1, "numberAvailable": 3}),
            ),
            Some((
                Progressing,
                "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...",
            )),
        ),
        (
            "unavailable",
            ds(
                1,
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}),
            ),
            Some((
                Progressing,
                "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...",
            )),
        ),
    ]);
}

#[test]
fn replica_set_health() {
    let rs = |status: Value| {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "generation": 1},
               "spec": {"replicas": 2}, "status": status})
    };
    check(&[
        (
            "healthy",
            rs(json!({"observedGeneration": 1, "availableReplicas": 2})),
            Some((Healthy, "")),
        ),
        (
            "unavailable",
            rs(json!({"observedGeneration": 1, "availableReplicas": 1})),
            Some((
                Progressing,
                "Waiting for rollout to finish: 1 out of 2 new replicas are available...",
            )),
        ),
        (
            "replica failure",
            rs(json!({"observedGeneration": 1, "conditions": [
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "pods \"web-1-x\" is forbidden: quota exceeded"}
            ]})),
            Some((Degraded, "pods \"web-1-x\" is forbidden: quota exceeded")),
        ),
    ]);
}

fn pod(restart_policy: Option<&str>, status: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "app", "image": "app:1"}]});
    if let Some(policy) = restart_policy {
        spec["restartPolicy"] = json!(policy);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"}, "spec": spec, "status": status})
}

#[test]
fn pod_health() {
    let ready = json!([{"type": "Ready", "status": "True"}]);
    check(&[
        (
            "running and ready",
            pod(
                Some("Always"),
                json!({"phase": "Running", "conditions": ready}),
            ),
            Some((Healthy, "")),
        ),
        (
            "default restart policy is Always",
            pod(None, json!({"phase": "Running", "conditions": ready})),
            Some((Healthy, "")),
        ),
        (
            "pending",
            pod(Some("Always"), json!({"phase": "Pending"})),
            Some((Progressing, "Pod is pending")),
        ),
        (
            "crash loop",
            pod(
                Some("Always"),
                json!({"phase": "Running", "containerStatuses": [{
                    "name": "app",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"}},
                }]}),
            ),
            Some((Degraded, "back-off 5m0s restarting failed container=app")),
        ),
        (
            "image pull back-off",
            pod(
                Some("Always"),
                json!({"phase": "Pending", "containerStatuses": [{
                    "name": "app",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"app:1\""}},
                }]}),
            ),
            Some((Degraded, "Back-off pulling image \"app:1\"")),
        ),
        (
            "hook pod waiting on an image is not failed",
            pod(
                Some("Never"),
                json!({"phase": "Pending", "containerStatuses": [{
                    "name": "app", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}},
                }]}),
            ),
            Some((Progressing, "Pod is pending")),
        ),
        (
            "running hook pod",
            pod(
                Some("Never"),
                json!({"phase": "Running", "conditions": ready}),
            ),
            Some((Progressing, "Pod with restartPolicy Never is running")),
        ),
        (
            "running, not ready, restarted",
            pod(
                Some("Always"),
                json!({"phase": "Running", "message": "", "containerStatuses": [{
                    "name": "app", "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}},
                }]}),
            ),
            Some((Degraded, "Pod is not ready and a container has terminated")),
        ),
        (
            "succeeded",
            pod(Some("Never"), json!({"phase": "Succeeded"})),
            Some((Healthy, "")),
        ),
        (
            "failed with exit code",
            pod(
                Some("Never"),
                json!({"phase": "Failed", "containerStatuses": [{
                    "name": "app", "state": {"terminated": {"exitCode": 2, "reason": "Error"}},
                }]}),
            ),
            Some((Degraded, "container \"app\" failed with exit code 2")),
        ),
        (
            "failed, OOM killed",
            pod(
                Some("Never"),
                json!({"phase": "Failed", "containerStatuses": [{
                    "name": "app", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                }]}),
            ),
            Some((Degraded, "OOMKilled")),
        ),
        (
            "failed with pod message",
            pod(
                Some("Never"),
                json!({"phase": "Failed", "message": "Pod was evicted"}),
            ),
            Some((Degraded, "Pod was evicted")),
        ),
        (
            "unknown phase",
            pod(Some("Always"), json!({"phase": "Unknown"})),
            Some((Unknown, "Pod phase is Unknown")),
        ),
    ]);
}

#[test]
fn service_ingress_pvc_health() {
    check(&[
        (
            "cluster IP service",
            json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}}),
            Some((Healthy, "")),
        ),
        (
            "load balancer without ingress",
            json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}}),
            Some((
                Progressing,
                "Waiting for the load balancer to get an ingress address",
            )),
        ),
        (
            "load balancer with ingress",
            json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"},
                   "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}),
            Some((Healthy, "")),
        ),
        (
            "ingress with address",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}),
            Some((Healthy, "")),
        ),
        (
            "ingress without address",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "status": {"loadBalancer": {}}}),
            Some((
                Progressing,
                "Waiting for the Ingress to get a load balancer address",
            )),
        ),
        (
            "pvc bound",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}}),
            Some((Healthy, "")),
        ),
        (
            "pvc pending",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}}),
            Some((Progressing, "PersistentVolumeClaim is pending")),
        ),
        (
            "pvc lost",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Lost"}}),
            Some((Degraded, "PersistentVolumeClaim lost its PersistentVolume")),
        ),
    ]);
}

#[test]
fn job_and_cron_job_health() {
    let job = |status: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}, "status": status});
    let cron = |spec: Value, status: Value| json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup"}, "spec": spec, "status": status});
    check(&[
        (
            "running job",
            job(json!({"active": 1})),
            Some((Progressing, "Job has not completed yet")),
        ),
        (
            "complete",
            job(json!({"conditions": [{"type": "Complete", "status": "True"}]})),
            Some((Healthy, "")),
        ),
        (
            "failed",
            job(
                json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                       "message": "Job has reached the specified backoff limit"}]}),
            ),
            Some((Degraded, "Job has reached the specified backoff limit")),
        ),
        (
            "failed without message",
            job(
                json!({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}),
            ),
            Some((Degraded, "Job failed: DeadlineExceeded")),
        ),
        (
            "suspended",
            job(
                json!({"conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended",
                                       "message": "Job suspended"}]}),
            ),
            Some((Suspended, "Job suspended")),
        ),
        (
            "cron suspended",
            cron(json!({"suspend": true}), json!({})),
            Some((Suspended, "CronJob is Suspended")),
        ),
        (
            "cron last run succeeded",
            cron(
                json!({}),
                json!({"lastScheduleTime": "2026-01-01T10:00:00Z", "lastSuccessfulTime": "2026-01-01T10:00:30Z"}),
            ),
            Some((
                Healthy,
                "CronJob has completed its last execution successfully",
            )),
        ),
        (
            "cron last run failed",
            cron(
                json!({}),
                json!({"lastScheduleTime": "2026-01-02T10:00:00Z", "lastSuccessfulTime": "2026-01-01T10:00:30Z"}),
            ),
            Some((
                Degraded,
                "CronJob has not completed its last execution successfully",
            )),
        ),
        (
            "cron running",
            cron(
                json!({}),
                json!({"lastScheduleTime": "2026-01-02T10:00:00Z", "lastSuccessfulTime": "2026-01-01T10:00:30Z",
                                   "active": [{"name": "backup-1"}]}),
            ),
            Some((
                Healthy,
                "The job is running. Its last execution may not have been successful",
            )),
        ),
        (
            "cron without status",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {}}),
            Some((Progressing, "Waiting for CronJob")),
        ),
    ]);
}

#[test]
fn hpa_health() {
    let v2 = |conditions: Value| json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "status": {"conditions": conditions}});
    check(&[
        (
            "able to scale",
            v2(json!([
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
            ])),
            Some((Healthy, "recommended size matches current size")),
        ),
        (
            "metrics missing",
            v2(json!([
                {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"},
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                 "message": "the HPA was unable to compute the replica count"},
            ])),
            Some((Degraded, "the HPA was unable to compute the replica count")),
        ),
        (
            "cannot get scale",
            v2(
                json!([{"type": "AbleToScale", "status": "False", "reason": "FailedGetScale", "message": "no such deployment"}]),
            ),
            Some((Degraded, "no such deployment")),
        ),
        (
            "active but not limited",
            v2(json!([
                {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale", "message": "ok"},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "ok"},
            ])),
            Some((Progressing, "Waiting to Autoscale")),
        ),
        (
            "v1 without annotation",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {}}),
            Some((Progressing, "Waiting to Autoscale")),
        ),
        (
            "v1 annotation",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"annotations": {
                "autoscaling.alpha.kubernetes.io/conditions":
                    "[{\"type\":\"AbleToScale\",\"status\":\"False\",\"reason\":\"FailedUpdateScale\",\"message\":\"update failed\"}]"
            }}}),
            Some((Degraded, "update failed")),
        ),
    ]);
}

#[test]
fn api_service_crd_and_argo_health() {
    let api_service = |conditions: Value| json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "status": {"conditions": conditions}});
    let crd = |conditions: Value| json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "status": {"conditions": conditions}});
    let app = |status: Value| json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "status": status});
    check(&[
        (
            "api service available",
            api_service(
                json!([{"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"}]),
            ),
            Some((Healthy, "Passed: all checks passed")),
        ),
        (
            "api service unavailable",
            api_service(
                json!([{"type": "Available", "status": "False", "reason": "MissingEndpoints",
                                "message": "endpoints for service/metrics-server have no addresses"}]),
            ),
            Some((
                Progressing,
                "MissingEndpoints: endpoints for service/metrics-server have no addresses",
            )),
        ),
        (
            "api service unprocessed",
            api_service(json!([])),
            Some((Progressing, "Waiting to be processed")),
        ),
        (
            "crd established",
            crd(
                json!([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]),
            ),
            Some((Healthy, "CRD is healthy")),
        ),
        (
            "crd without conditions",
            crd(json!([])),
            Some((Progressing, "Status conditions not found")),
        ),
        (
            "crd names conflict",
            crd(
                json!([{"type": "NamesAccepted", "status": "False", "message": "\"foos\" is already in use"},
                       {"type": "Established", "status": "False", "message": "not all names are accepted"}]),
            ),
            Some((
                Degraded,
                "CRD names have not been accepted: not all names are accepted",
            )),
        ),
        (
            "crd terminating",
            crd(json!([{"type": "Established", "status": "True"},
                       {"type": "Terminating", "status": "True", "message": "instances are being deleted"}])),
            Some((
                Progressing,
                "CRD is being terminated: instances are being deleted",
            )),
        ),
        (
            "child app healthy",
            app(json!({"health": {"status": "Healthy"}})),
            Some((Healthy, "")),
        ),
        (
            "child app degraded",
            app(
                json!({"health": {"status": "Degraded", "message": "one of the resources is degraded"}}),
            ),
            Some((Degraded, "one of the resources is degraded")),
        ),
        (
            "child app suspended, no message",
            app(json!({"health": {"status": "Suspended"}})),
            Some((Suspended, "Application is Suspended")),
        ),
        (
            "child app without health",
            app(json!({})),
            Some((
                Progressing,
                "Waiting for the Application to report its health",
            )),
        ),
        (
            "workflow failed",
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "status": {"phase": "Failed", "message": "child failed"}}),
            Some((Degraded, "child failed")),
        ),
    ]);
}

#[test]
fn kstatus_fallback() {
    let cr = |generation: i64, status: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": generation},
               "status": status})
    };
    check(&[
        (
            "no status",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {}}),
            None,
        ),
        (
            "status without conditions",
            cr(1, json!({"observedGeneration": 1})),
            None,
        ),
        (
            "ready",
            cr(
                1,
                json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}),
            ),
            Some((Healthy, "")),
        ),
        (
            "generation lag",
            cr(
                3,
                json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}),
            ),
            Some((
                Progressing,
                "Waiting for the controller to observe generation 3 (observed 2)",
            )),
        ),
        (
            "not ready, failed",
            cr(
                1,
                json!({"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "spec.size must be positive"}]}),
            ),
            Some((Degraded, "spec.size must be positive")),
        ),
        (
            "not ready, on its way",
            cr(
                1,
                json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Provisioning"}]}),
            ),
            Some((Progressing, "Widget is not ready yet: Provisioning")),
        ),
        (
            "ready unknown",
            cr(
                1,
                json!({"conditions": [{"type": "Ready", "status": "Unknown"}]}),
            ),
            Some((Progressing, "Widget is not ready yet")),
        ),
        (
            "reconciling",
            cr(
                1,
                json!({"conditions": [{"type": "Reconciling", "status": "True", "reason": "NewGeneration"},
                                        {"type": "Ready", "status": "False"}]}),
            ),
            Some((Progressing, "Widget is reconciling: NewGeneration")),
        ),
        (
            "stalled",
            cr(
                1,
                json!({"conditions": [{"type": "Stalled", "status": "True", "message": "quota exhausted"},
                                        {"type": "Ready", "status": "True"}]}),
            ),
            Some((Degraded, "quota exhausted")),
        ),
    ]);
    // `kstatus` is also usable on its own, whatever the kind.
    let pod = pod(
        Some("Always"),
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
    );
    assert_eq!(kstatus(&pod).map(|h| h.status), Some(Healthy));
}
