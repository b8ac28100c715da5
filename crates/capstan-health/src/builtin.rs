//! Built-in health checks, ported from gitops-engine `pkg/health/health_*.go` (and Argo CD's
//! built-in `batch/CronJob` and `argoproj.io/Application` Lua scripts), plus the kstatus
//! fallback for every other kind.
//!
//! The checks read the JSON object directly instead of converting it to a typed object, so they
//! accept every API version of a kind (gitops-engine switches on the version but applies the
//! same logic to each). Fields that are absent read as Go's zero values, as after gitops-engine's
//! unstructured conversion, except where noted.

use serde_json::Value;

use crate::{Health, group_kind};

/// The built-in health of `obj`, by group and kind; kinds without a built-in check fall back
/// to [`kstatus`]. `None` means no opinion (the resource does not count).
pub fn builtin(obj: &Value) -> Option<Health> {
    let (group, kind) = group_kind(obj);
    match check_for(group, kind) {
        Some(check) => {
            let kind = kind.to_owned();
            Some(check(obj).or_message(|| format!("{kind} is not healthy")))
        }
        None => kstatus(obj),
    }
}

/// Whether Capstan has a built-in check for this group and kind (otherwise [`builtin`] uses the
/// kstatus fallback).
pub fn has_builtin_check(group: &str, kind: &str) -> bool {
    check_for(group, kind).is_some()
}

fn check_for(group: &str, kind: &str) -> Option<fn(&Value) -> Health> {
    Some(match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment,
        ("apps", "StatefulSet") => stateful_set,
        ("apps" | "extensions", "DaemonSet") => daemon_set,
        ("apps" | "extensions", "ReplicaSet") => replica_set,
        ("", "Pod") => pod,
        ("", "Service") => service,
        ("", "PersistentVolumeClaim") => pvc,
        ("networking.k8s.io" | "extensions", "Ingress") => ingress,
        ("batch", "Job") => job,
        ("batch", "CronJob") => cron_job,
        ("autoscaling", "HorizontalPodAutoscaler") => hpa,
        ("apiregistration.k8s.io", "APIService") => api_service,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd,
        ("argoproj.io", "Workflow") => argo_workflow,
        ("argoproj.io", "Application") => argo_application,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Field access with Go zero-value defaults
// ---------------------------------------------------------------------------------------------

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or_default()
}

fn opt_int(value: &Value) -> Option<i64> {
    value.as_i64()
}

fn string(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn name(obj: &Value) -> &str {
    string(&obj["metadata"]["name"])
}

fn generation(obj: &Value) -> i64 {
    int(&obj["metadata"]["generation"])
}

fn observed_generation(obj: &Value) -> i64 {
    int(&obj["status"]["observedGeneration"])
}

fn conditions(obj: &Value) -> &[Value] {
    obj["status"]["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The first condition of `type_`.
fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions(obj)
        .iter()
        .find(|c| c["type"].as_str() == Some(type_))
}

/// Go's `%q` for the names in messages.
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

// ---------------------------------------------------------------------------------------------
// apps
// ---------------------------------------------------------------------------------------------

/// gitops-engine `health_deployment.go` (kubectl `rollout status`).
fn deployment(obj: &Value) -> Health {
    let spec = &obj["spec"];
    let status = &obj["status"];
    if spec["paused"].as_bool() == Some(true) {
        return Health::suspended("Deployment is paused");
    }
    if generation(obj) > observed_generation(obj) {
        return Health::progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let updated = int(&status["updatedReplicas"]);
    let replicas = int(&status["replicas"]);
    let available = int(&status["availableReplicas"]);
    if condition(obj, "Progressing").is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded") {
        return Health::degraded(format!(
            "Deployment {} exceeded its progress deadline",
            quoted(name(obj))
        ));
    }
    if let Some(desired) = opt_int(&spec["replicas"])
        && updated < desired
    {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Health::healthy("")
}

/// gitops-engine `health_statefulset.go`.
fn stateful_set(obj: &Value) -> Health {
    let spec = &obj["spec"];
    let status = &obj["status"];
    let observed = observed_generation(obj);
    if observed == 0 || generation(obj) > observed {
        return Health::progressing("Waiting for statefulset spec update to be observed...");
    }
    let desired = opt_int(&spec["replicas"]);
    let ready = int(&status["readyReplicas"]);
    let updated = int(&status["updatedReplicas"]);
    if let Some(desired) = desired
        && ready < desired
    {
        return Health::progressing(format!(
            "Waiting for {} pods to be ready...",
            desired - ready
        ));
    }
    let strategy = &spec["updateStrategy"];
    let strategy_type = string(&strategy["type"]);
    let rolling_update = &strategy["rollingUpdate"];
    if strategy_type == "RollingUpdate" && rolling_update.is_object() {
        if let (Some(desired), Some(partition)) = (desired, opt_int(&rolling_update["partition"]))
            && updated < desired - partition
        {
            return Health::progressing(format!(
                "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                desired - partition
            ));
        }
        return Health::healthy(format!(
            "partitioned roll out complete: {updated} new pods have been updated..."
        ));
    }
    if strategy_type == "OnDelete" {
        return Health::healthy(format!(
            "statefulset has {ready} ready pods ({updated} updated)"
        ));
    }
    let update_revision = string(&status["updateRevision"]);
    let current_revision = string(&status["currentRevision"]);
    if update_revision != current_revision {
        return Health::progressing(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    Health::healthy(format!(
        "statefulset rolling update complete {} pods at revision {current_revision}...",
        int(&status["currentReplicas"])
    ))
}

/// gitops-engine `health_daemonset.go`.
fn daemon_set(obj: &Value) -> Health {
    if generation(obj) > observed_generation(obj) {
        return Health::progressing(
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let status = &obj["status"];
    let updated = int(&status["updatedNumberScheduled"]);
    let desired = int(&status["desiredNumberScheduled"]);
    let available = int(&status["numberAvailable"]);
    if obj["spec"]["updateStrategy"]["type"] == "OnDelete" {
        return Health::healthy(format!(
            "daemon set {updated} out of {desired} new pods have been updated"
        ));
    }
    let name = quoted(name(obj));
    if updated < desired {
        return Health::progressing(format!(
            "Waiting for daemon set {name} rollout to finish: {updated} out of {desired} new pods have been updated..."
        ));
    }
    if available < desired {
        return Health::progressing(format!(
            "Waiting for daemon set {name} rollout to finish: {available} of {desired} updated pods are available..."
        ));
    }
    Health::healthy("")
}

/// gitops-engine `health_replicaset.go`.
fn replica_set(obj: &Value) -> Health {
    if generation(obj) > observed_generation(obj) {
        return Health::progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(failure) = condition(obj, "ReplicaFailure")
        && failure["status"] == "True"
    {
        return Health::degraded(string(&failure["message"]))
            .or_message(|| format!("ReplicaSet failure: {}", string(&failure["reason"])));
    }
    let available = int(&obj["status"]["availableReplicas"]);
    if let Some(desired) = opt_int(&obj["spec"]["replicas"])
        && available < desired
    {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
        ));
    }
    Health::healthy("")
}

// ---------------------------------------------------------------------------------------------
// core
// ---------------------------------------------------------------------------------------------

/// gitops-engine `health_pod.go`. A missing `restartPolicy` reads as the API server's default,
/// `Always`.
fn pod(obj: &Value) -> Health {
    let status = &obj["status"];
    let restart_policy = obj["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let container_statuses = status["containerStatuses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let pod_message = string(&status["message"]);

    // Only for restartPolicy Always: a hook pod that waits on an image must not fail its hook.
    if restart_policy == "Always" {
        let messages: Vec<&str> = container_statuses
            .iter()
            .filter_map(|ctr| {
                let waiting = &ctr["state"]["waiting"];
                let reason = waiting["reason"].as_str()?;
                let failing = reason.starts_with("Err")
                    || reason.ends_with("Error")
                    || reason.ends_with("BackOff");
                failing.then(|| {
                    waiting["message"]
                        .as_str()
                        .filter(|m| !m.is_empty())
                        .unwrap_or(reason)
                })
            })
            .collect();
        if !messages.is_empty() {
            return Health::degraded(messages.join(", "));
        }
    }

    match string(&status["phase"]) {
        "Pending" => Health::progressing(pod_message).or_message(|| "Pod is pending".into()),
        "Succeeded" => Health::healthy(pod_message),
        "Failed" => {
            if !pod_message.is_empty() {
                return Health::degraded(pod_message);
            }
            let init = status["initContainerStatuses"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let message = init
                .iter()
                .chain(container_statuses)
                .find_map(container_fail_message)
                .unwrap_or_else(|| "Pod failed".to_owned());
            Health::degraded(message)
        }
        "Running" => {
            let ignore_restart_policy =
                !obj["metadata"]["annotations"]["argocd.argoproj.io/ignore-restart-policy"]
                    .is_null();
            if ignore_restart_policy || restart_policy == "Always" {
                running_pod(obj, container_statuses, pod_message)
            } else {
                // Finite pods (OnFailure/Never) are usually hooks: running is not done.
                Health::progressing(pod_message)
                    .or_message(|| format!("Pod with restartPolicy {restart_policy} is running"))
            }
        }
        phase => Health::unknown(pod_message).or_message(|| {
            if phase.is_empty() {
                "Pod has no phase yet".to_owned()
            } else {
                format!("Pod phase is {phase}")
            }
        }),
    }
}

fn running_pod(obj: &Value, container_statuses: &[Value], pod_message: &str) -> Health {
    let ready = condition(obj, "Ready").is_some_and(|c| c["status"] == "True");
    if ready {
        return Health::healthy(pod_message);
    }
    if container_statuses
        .iter()
        .any(|ctr| !ctr["lastState"]["terminated"].is_null())
    {
        return Health::degraded(pod_message)
            .or_message(|| "Pod is not ready and a container has terminated".into());
    }
    Health::progressing(pod_message).or_message(|| "Pod is running but not ready".into())
}

/// Why a failed container failed, if its terminated state says.
fn container_fail_message(ctr: &Value) -> Option<String> {
    let terminated = &ctr["state"]["terminated"];
    if terminated.is_null() {
        return None;
    }
    let message = string(&terminated["message"]);
    if !message.is_empty() {
        return Some(message.to_owned());
    }
    if terminated["reason"] == "OOMKilled" {
        return Some("OOMKilled".to_owned());
    }
    let exit_code = int(&terminated["exitCode"]);
    (exit_code != 0).then(|| {
        format!(
            "container {} failed with exit code {exit_code}",
            quoted(string(&ctr["name"]))
        )
    })
}

/// gitops-engine `health_service.go`.
fn service(obj: &Value) -> Health {
    if obj["spec"]["type"] == "LoadBalancer" && !has_lb_ingress(obj) {
        return Health::progressing("Waiting for the load balancer to get an ingress address");
    }
    Health::healthy("")
}

/// gitops-engine `health_ingress.go`.
fn ingress(obj: &Value) -> Health {
    if has_lb_ingress(obj) {
        Health::healthy("")
    } else {
        Health::progressing("Waiting for the Ingress to get a load balancer address")
    }
}

fn has_lb_ingress(obj: &Value) -> bool {
    obj["status"]["loadBalancer"]["ingress"]
        .as_array()
        .is_some_and(|i| !i.is_empty())
}

/// gitops-engine `health_pvc.go`.
fn pvc(obj: &Value) -> Health {
    match string(&obj["status"]["phase"]) {
        "Bound" => Health::healthy(""),
        "Pending" => Health::progressing("PersistentVolumeClaim is pending"),
        "Lost" => Health::degraded("PersistentVolumeClaim lost its PersistentVolume"),
        "" => Health::unknown("PersistentVolumeClaim has no phase"),
        phase => Health::unknown(format!("PersistentVolumeClaim phase is {phase}")),
    }
}

// ---------------------------------------------------------------------------------------------
// batch
// ---------------------------------------------------------------------------------------------

/// gitops-engine `health_job.go`.
fn job(obj: &Value) -> Health {
    let mut failed: Option<&Value> = None;
    let mut complete = false;
    let mut suspended = false;
    let mut message = "";
    for cond in conditions(obj) {
        match string(&cond["type"]) {
            "Failed" => {
                failed = Some(cond);
                complete = true;
            }
            "Complete" => {
                complete = true;
                message = string(&cond["message"]);
            }
            "Suspended" => {
                complete = true;
                message = string(&cond["message"]);
                suspended = cond["status"] == "True";
            }
            _ => {}
        }
    }
    if !complete {
        return Health::progressing(message).or_message(|| "Job has not completed yet".into());
    }
    if let Some(failed) = failed {
        return Health::degraded(string(&failed["message"])).or_message(|| {
            match string(&failed["reason"]) {
                "" => "Job failed".to_owned(),
                reason => format!("Job failed: {reason}"),
            }
        });
    }
    if suspended {
        return Health::suspended(message).or_message(|| "Job is suspended".into());
    }
    Health::healthy(message)
}

/// Argo CD's built-in `resource_customizations/batch/CronJob/health.lua`. RFC 3339 times in UTC
/// (what the API server writes) compare correctly as strings, as the script compares them.
fn cron_job(obj: &Value) -> Health {
    if obj["spec"]["suspend"].as_bool() == Some(true) {
        return Health::suspended("CronJob is Suspended");
    }
    let status = &obj["status"];
    if !status.is_object() {
        return Health::progressing("Waiting for CronJob");
    }
    let Some(last_schedule) = status["lastScheduleTime"].as_str() else {
        return Health::healthy("CronJob has not been scheduled yet");
    };
    let Some(last_success) = status["lastSuccessfulTime"].as_str() else {
        return Health::healthy("The Cronjob never completed succesfully. It may not be healthy");
    };
    if status["active"].as_array().is_some_and(|a| !a.is_empty()) {
        return Health::healthy(
            "The job is running. Its last execution may not have been successful",
        );
    }
    if last_success < last_schedule {
        return Health::degraded("CronJob has not completed its last execution successfully");
    }
    Health::healthy("CronJob has completed its last execution successfully")
}

// ---------------------------------------------------------------------------------------------
// autoscaling, apiregistration, apiextensions
// ---------------------------------------------------------------------------------------------

/// gitops-engine `health_hpa.go`: `autoscaling/v1` reads the conditions from the
/// `autoscaling.alpha.kubernetes.io/conditions` annotation, later versions from
/// `status.conditions`. Degraded only on the reasons gitops-engine lists (so
/// `ScalingActive=False/ScalingDisabled`, a deliberate scale to zero, is not).
fn hpa(obj: &Value) -> Health {
    const WAITING: &str = "Waiting to Autoscale";
    let parsed;
    let conditions: &[Value] = if obj["apiVersion"] == "autoscaling/v1" {
        let Some(annotation) =
            obj["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"].as_str()
        else {
            return Health::progressing(WAITING);
        };
        parsed = match serde_json::from_str::<Vec<Value>>(annotation) {
            Ok(parsed) => parsed,
            Err(err) => {
                return Health::unknown(format!(
                    "failed to convert conditions annotation to typed: {err}"
                ));
            }
        };
        if parsed.is_empty() {
            return Health::progressing(WAITING);
        }
        &parsed
    } else {
        conditions(obj)
    };

    const DEGRADED: [(&str, &str); 4] = [
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "InvalidSelector"),
    ];
    let mut healthy_messages = Vec::new();
    for cond in conditions {
        let type_ = string(&cond["type"]);
        let reason = string(&cond["reason"]);
        let message = string(&cond["message"]);
        if DEGRADED.contains(&(type_, reason)) {
            return Health::degraded(message).or_message(|| format!("{type_}: {reason}"));
        }
        if matches!(type_, "AbleToScale" | "ScalingLimited") && cond["status"] == "True" {
            healthy_messages.push(message);
        }
    }
    if healthy_messages.len() == conditions.len() {
        return Health::healthy(healthy_messages.join(","));
    }
    Health::progressing(WAITING)
}

/// gitops-engine `health_apiservice.go`.
fn api_service(obj: &Value) -> Health {
    match condition(obj, "Available") {
        Some(cond) => {
            let message = format!("{}: {}", string(&cond["reason"]), string(&cond["message"]));
            if cond["status"] == "True" {
                Health::healthy(message)
            } else {
                Health::progressing(message)
            }
        }
        None => Health::progressing("Waiting to be processed"),
    }
}

/// gitops-engine `health_customresourcedefinition.go`.
fn crd(obj: &Value) -> Health {
    let conditions = conditions(obj);
    if conditions.is_empty() {
        return Health::progressing("Status conditions not found");
    }
    let mut established = false;
    let mut terminating = false;
    let mut names_not_accepted = false;
    let mut violations = false;
    let mut message = "";
    for cond in conditions {
        let is_true = cond["status"] == "True";
        match string(&cond["type"]) {
            "Terminating" if is_true => {
                terminating = true;
                message = string(&cond["message"]);
            }
            "NamesAccepted" if cond["status"] == "False" => {
                names_not_accepted = true;
                message = string(&cond["message"]);
            }
            "Established" if is_true => established = true,
            "Established" => message = string(&cond["message"]),
            "NonStructuralSchema" if is_true => {
                violations = true;
                message = string(&cond["message"]);
            }
            _ => {}
        }
    }
    if terminating {
        Health::progressing(format!("CRD is being terminated: {message}"))
    } else if names_not_accepted {
        Health::degraded(format!("CRD names have not been accepted: {message}"))
    } else if !established {
        Health::degraded(format!("CRD is not established: {message}"))
    } else if violations {
        Health::degraded(format!("Schema violations found: {message}"))
    } else {
        Health::healthy("CRD is healthy")
    }
}

// ---------------------------------------------------------------------------------------------
// argoproj.io
// ---------------------------------------------------------------------------------------------

/// gitops-engine `health_argo.go` (`getArgoWorkflowHealth`).
fn argo_workflow(obj: &Value) -> Health {
    let status = &obj["status"];
    let message = string(&status["message"]);
    match string(&status["phase"]) {
        "" | "Pending" | "Running" => {
            Health::progressing(message).or_message(|| "Workflow is running".into())
        }
        "Succeeded" => Health::healthy(message),
        "Failed" | "Error" => Health::degraded(message).or_message(|| "Workflow failed".into()),
        phase => Health::unknown(message).or_message(|| format!("Workflow phase is {phase}")),
    }
}

/// A child Application (app of apps): its own `status.health`, as the Application health
/// script in Argo CD's documentation; `Progressing` until the child reports one.
fn argo_application(obj: &Value) -> Health {
    let health = &obj["status"]["health"];
    match health["status"].as_str().filter(|s| !s.is_empty()) {
        Some(status) => Health::new(status.into(), string(&health["message"]))
            .or_message(|| format!("Application is {status}")),
        None => Health::progressing("Waiting for the Application to report its health"),
    }
}

// ---------------------------------------------------------------------------------------------
// kstatus fallback
// ---------------------------------------------------------------------------------------------

/// Health from kstatus-style conventions, for kinds without a built-in check, in kstatus'
/// order: `status.observedGeneration < metadata.generation` → `Progressing`; `Reconciling=True`
/// → `Progressing`; `Stalled=True` → `Degraded`; `Ready=True` → `Healthy`, `Ready=False` →
/// `Degraded` (`Progressing` when its reason says the object is on its way), `Ready=Unknown` →
/// `Progressing`. No `status`, or a status that says none of this, → `None`.
pub fn kstatus(obj: &Value) -> Option<Health> {
    let status = obj["status"].as_object()?;
    let kind = string(&obj["kind"]);
    if let Some(observed) = status.get("observedGeneration").and_then(Value::as_i64) {
        let generation = generation(obj);
        if observed < generation {
            return Some(Health::progressing(format!(
                "Waiting for the controller to observe generation {generation} (observed {observed})"
            )));
        }
    }
    if let Some(cond) = condition(obj, "Reconciling")
        && cond["status"] == "True"
    {
        return Some(condition_health(
            Health::progressing,
            cond,
            kind,
            "is reconciling",
        ));
    }
    if let Some(cond) = condition(obj, "Stalled")
        && cond["status"] == "True"
    {
        return Some(condition_health(Health::degraded, cond, kind, "is stalled"));
    }
    let ready = condition(obj, "Ready")?;
    Some(match string(&ready["status"]) {
        "True" => Health::healthy(string(&ready["message"])),
        "False" if reason_is_transient(string(&ready["reason"])) => {
            condition_health(Health::progressing, ready, kind, "is not ready yet")
        }
        "False" => condition_health(Health::degraded, ready, kind, "is not ready"),
        _ => condition_health(Health::progressing, ready, kind, "is not ready yet"),
    })
}

/// A health from a condition: its message, else its reason, else `<kind> <what>`.
fn condition_health(make: fn(String) -> Health, cond: &Value, kind: &str, what: &str) -> Health {
    let message = string(&cond["message"]);
    let reason = string(&cond["reason"]);
    make(match (message, reason) {
        ("", "") => format!("{kind} {what}"),
        ("", reason) => format!("{kind} {what}: {reason}"),
        (message, _) => message.to_owned(),
    })
}

/// Whether a `Ready=False` reason says the object is still on its way rather than failed.
fn reason_is_transient(reason: &str) -> bool {
    const TRANSIENT: [&str; 10] = [
        "Progressing",
        "InProgress",
        "Reconciling",
        "Pending",
        "Creating",
        "Provisioning",
        "Initializing",
        "Installing",
        "Updating",
        "Waiting",
    ];
    TRANSIENT.iter().any(|word| reason.contains(word))
}

#[cfg(test)]
mod tests;
