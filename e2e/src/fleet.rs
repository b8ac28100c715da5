//! A fleet of made-up Applications with the statuses a controller would have written: what
//! the list benchmark (`api-list-bench`) and the dashboard's list test load into the API
//! server. App `i` is `app-NNNN-{dev,staging,prod}` in project `team-(i % projects)`;
//! 10 % are OutOfSync, 2 % Degraded, 4 % Progressing. Pure data: no IO.

use capstan_types::Application;
use serde_json::{Value, json};

/// The environments apps cycle through.
pub const ENVS: [&str; 3] = ["dev", "staging", "prod"];
/// The (made-up) repository every app deploys from.
pub const REPO: &str = "https://git.example.com/platform/deployments.git";

/// The project of app `i`.
pub fn project(i: usize, projects: usize) -> String {
    format!("team-{}", i % projects)
}

/// The name of app `i`.
pub fn app_name(i: usize) -> String {
    format!("app-{i:04}-{}", ENVS[i % ENVS.len()])
}

/// Whether app `i` is OutOfSync.
pub fn out_of_sync(i: usize) -> bool {
    i % 10 == 7
}

/// The health of app `i`.
pub fn health(i: usize) -> &'static str {
    if i % 50 == 13 {
        "Degraded"
    } else if i % 25 == 4 {
        "Progressing"
    } else {
        "Healthy"
    }
}

/// A commit SHA of app `i` (40 hex digits, made up).
pub fn revision(i: usize) -> String {
    let x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{x:016x}{:016x}{:08x}",
        x.rotate_left(17),
        x as u32 ^ 0x5bd1_e995
    )
}

/// The source of app `i`.
pub fn source(i: usize) -> Value {
    json!({
        "repoURL": REPO,
        "path": format!("apps/svc-{i:04}/overlays/{}", ENVS[i % ENVS.len()]),
        "targetRevision": "main",
    })
}

/// The destination of app `i`.
pub fn destination(i: usize) -> Value {
    json!({
        "server": "https://kubernetes.default.svc",
        "namespace": format!("svc-{i:04}-{}", ENVS[i % ENVS.len()]),
    })
}

/// App `i` in `namespace`, one of `projects` projects.
pub fn application(i: usize, namespace: &str, projects: usize) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": app_name(i),
            "namespace": namespace,
            "labels": {
                "team": project(i, projects),
                "env": ENVS[i % ENVS.len()],
                "app.kubernetes.io/part-of": "shop",
            },
            "annotations": {
                "notifications.argoproj.io/subscribe.on-sync-failed.slack": "deployments",
            },
        },
        "spec": {
            "project": project(i, projects),
            "source": source(i),
            "destination": destination(i),
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
                "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
            },
            "revisionHistoryLimit": 10,
        },
    }))?)
}

/// The status a synced app of five resources has.
pub fn status(i: usize, controller_namespace: &str) -> Value {
    let ns = format!("svc-{i:04}-{}", ENVS[i % ENVS.len()]);
    let name = format!("svc-{i:04}");
    let sha = revision(i);
    let at = "2025-06-02T09:14:07Z";
    let sync = if out_of_sync(i) {
        "OutOfSync"
    } else {
        "Synced"
    };
    let health = health(i);
    let kinds = [
        ("", "v1", "ServiceAccount", None),
        ("", "v1", "ConfigMap", None),
        ("", "v1", "Service", Some("Healthy")),
        ("apps", "v1", "Deployment", Some(health)),
        ("networking.k8s.io", "v1", "Ingress", Some("Healthy")),
    ];
    let resources: Vec<Value> = kinds
        .iter()
        .map(|(group, version, kind, resource_health)| {
            let mut r = json!({
                "version": version, "kind": kind, "namespace": ns, "name": name,
                "status": if *kind == "Deployment" { sync } else { "Synced" },
            });
            if !group.is_empty() {
                r["group"] = json!(group);
            }
            if let Some(h) = resource_health {
                r["health"] = json!({"status": h});
            }
            r
        })
        .collect();
    let results: Vec<Value> = kinds
        .iter()
        .map(|(group, version, kind, _)| {
            json!({
                "group": group, "version": version, "kind": kind, "namespace": ns, "name": name,
                "status": "Synced",
                "message": format!("{}/{name} serverside-applied", kind.to_ascii_lowercase()),
                "hookPhase": "Running", "syncPhase": "Sync",
            })
        })
        .collect();
    json!({
        "sync": {
            "status": sync,
            "comparedTo": {"source": source(i), "destination": destination(i)},
            "revision": sha,
        },
        "health": {"status": health, "lastTransitionTime": at},
        "resources": resources,
        "history": [{
            "id": 1, "revision": sha, "deployedAt": at, "deployStartedAt": at,
            "source": source(i), "initiatedBy": {"automated": true},
        }],
        "operationState": {
            "operation": {
                "sync": {"revision": sha, "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"]},
                "initiatedBy": {"automated": true},
                "retry": {"limit": 5},
            },
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "syncResult": {"resources": results, "revision": sha, "source": source(i)},
            "startedAt": at,
            "finishedAt": at,
        },
        "reconciledAt": at,
        "sourceType": "Kustomize",
        "summary": {
            "images": [
                format!("registry.example.com/shop/svc-{i:04}:1.{}.{}", i % 7, i % 13),
                "registry.example.com/base/envoy:1.29.4",
            ],
            "externalURLs": [format!("https://svc-{i:04}.{}.example.com", ENVS[i % ENVS.len()])],
        },
        "controllerNamespace": controller_namespace,
    })
}
