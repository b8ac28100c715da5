//! What the dashboard reads about an app besides the app itself, end to end: the controller's
//! Kubernetes Events on the Application (Argo CD's `OperationStarted`, `OperationCompleted`,
//! `ResourceUpdated`) through the API server's events list, and the resource tree in Argo CD's
//! JSON (`parentRefs`, `health: {status}`) — against the real kube-apiserver (with
//! kube-controller-manager and the pod simulator making ReplicaSets and Pods), Redis and Git.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Stack, StackOptions, seed_app};

const CONTROLLER: &str = "capstan-application-controller";

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The controller's event with `reason` and `message` on the app `uid`, if listed.
fn controller_event<'a>(
    events: &'a [Value],
    uid: &str,
    reason: &str,
    message: &str,
) -> Option<&'a Value> {
    events.iter().find(|e| {
        e["reason"] == reason
            && e["message"] == message
            && e["involvedObject"]["uid"] == uid
            && e["involvedObject"]["kind"] == "Application"
            && e["reportingComponent"] == CONTROLLER
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_automated_sync_is_told_in_events_and_its_tree_speaks_argo_cds_json()
-> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let prefix = capstan_e2e::unique_name("events");
    let seed = capstan_e2e::publish_seed_examples(&stack.env, &stack.control.name, &prefix)?;
    stack.apply_seed_project(&seed)?;
    let token = stack.token("admin", &[]).await?;
    let name = format!("{prefix}-users-api-dev");

    // The seed's users-api-dev app as it is: automated sync (prune, selfHeal).
    let app = seed_app(&seed, &prefix, true)?;
    assert_eq!(app["spec"]["syncPolicy"]["automated"]["prune"], true);
    stack.post_json(&token, "/api/v1/applications", &app)?;

    let app_path = format!("/api/v1/applications/{name}");
    let synced = stack
        .wait_json(&token, &app_path, "the automated sync", |a| {
            a["status"]["operationState"]["phase"] == "Succeeded"
                && a["status"]["sync"]["status"] == "Synced"
                && a["status"]["health"]["status"] == "Healthy"
        })
        .await?;
    let uid = synced["metadata"]["uid"].as_str().expect("uid").to_owned();
    let revision = synced["status"]["operationState"]["syncResult"]["revision"]
        .as_str()
        .expect("the synced revision")
        .to_owned();
    assert_eq!(revision.len(), 40, "a commit SHA: {revision}");

    // Argo CD's events, on the Application, through the API server.
    let events_path = format!("/api/v1/applications/{name}/events");
    let started = format!("Initiated automated sync to '{revision}'");
    let completed = format!("Sync operation to {revision} succeeded");
    let listed = stack
        .wait_json(&token, &events_path, "the controller's events", |list| {
            let events = items(list);
            controller_event(&events, &uid, "OperationStarted", &started).is_some()
                && controller_event(&events, &uid, "OperationCompleted", &completed).is_some()
                && controller_event(
                    &events,
                    &uid,
                    "ResourceUpdated",
                    "Updated sync status: OutOfSync -> Synced",
                )
                .is_some()
                && events.iter().any(|e| {
                    e["reason"] == "ResourceUpdated"
                        && e["message"].as_str().is_some_and(|m| {
                            m.starts_with("Updated health status: ") && m.ends_with(" -> Healthy")
                        })
                })
        })
        .await?;
    let events = items(&listed);
    for (reason, message) in [
        ("OperationStarted", started.as_str()),
        ("OperationCompleted", completed.as_str()),
    ] {
        let event = controller_event(&events, &uid, reason, message).expect("listed");
        assert_eq!(event["type"], "Normal", "{event:#}");
        assert_eq!(event["involvedObject"]["name"], name.as_str());
        assert_eq!(
            event["involvedObject"]["namespace"],
            stack.control.name.as_str()
        );
    }
    // The first comparison is an event too (Argo CD's " -> OutOfSync", from no status).
    assert!(
        events.iter().any(|e| e["reason"] == "ResourceUpdated"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Updated sync status:  -> "))),
        "{listed:#}"
    );

    // Status changes only: reconciles that change nothing add no event and count no repeat.
    let fingerprint = |events: &[Value]| {
        let mut seen: Vec<(String, String, Value)> = events
            .iter()
            .filter(|e| e["reportingComponent"] == CONTROLLER)
            .map(|e| {
                (
                    e["reason"].as_str().unwrap_or_default().to_owned(),
                    e["message"].as_str().unwrap_or_default().to_owned(),
                    e["count"].clone(),
                )
            })
            .collect();
        seen.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        seen
    };
    let before = fingerprint(&events);
    for _ in 0..2 {
        stack.get_json(&token, &format!("{app_path}?refresh=hard"))?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = items(&stack.get_json(&token, &events_path)?);
    assert_eq!(fingerprint(&after), before, "{after:#?}");

    // The resource tree: Deployment → ReplicaSet → Pod by parentRefs, health as an object.
    let tree_path = format!("/api/v1/applications/{name}/resource-tree");
    let tree = stack
        .wait_json(&token, &tree_path, "a tree down to the Pods", |tree| {
            let nodes = tree["nodes"].as_array().cloned().unwrap_or_default();
            ["Deployment", "ReplicaSet", "Pod"]
                .iter()
                .all(|kind| nodes.iter().any(|n| n["kind"] == *kind))
        })
        .await?;
    let nodes = tree["nodes"].as_array().expect("nodes");
    let node = |kind: &str| {
        nodes
            .iter()
            .find(|n| n["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} in {tree:#}"))
    };
    let (deployment, replica_set, pod) = (node("Deployment"), node("ReplicaSet"), node("Pod"));
    assert_eq!(deployment["health"]["status"], "Healthy", "{tree:#}");
    assert!(deployment.get("parentRefs").is_none(), "{tree:#}");
    let parent_of = |child: &Value, parent: &Value, group: &str| {
        let refs = child["parentRefs"].as_array().cloned().unwrap_or_default();
        assert_eq!(refs.len(), 1, "{child:#}");
        assert_eq!(refs[0]["uid"], parent["uid"], "{child:#}");
        assert_eq!(refs[0]["kind"], parent["kind"], "{child:#}");
        assert_eq!(refs[0]["name"], parent["name"], "{child:#}");
        assert_eq!(refs[0]["namespace"], parent["namespace"], "{child:#}");
        assert_eq!(refs[0]["group"], group, "{child:#}");
    };
    parent_of(replica_set, deployment, "apps");
    parent_of(pod, replica_set, "apps");
    assert!(
        pod["health"]["status"].is_string(),
        "a Pod's health is {{status, message}}: {pod:#}"
    );
    assert!(
        pod["info"]
            .as_array()
            .is_some_and(|info| info.iter().any(|i| i["name"] == "Status Reason")),
        "{pod:#}"
    );
    for n in nodes {
        assert!(
            n.get("parentUids").is_none() && n.get("healthMessage").is_none(),
            "only Argo CD's fields: {n:#}"
        );
        assert!(n["health"].is_null() || n["health"].is_object(), "{n:#}");
    }
    Ok(())
}
