//! Resource trees in Redis: managed objects and their descendants (Deployment → ReplicaSet →
//! Pods made by the real kube-controller-manager and the pod simulator), with a notification,
//! and a Redis outage that costs the tree but never the status.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use capstan_application_controller::tree::{ResourceTree, TREE_CHANNEL, TreePublisher};
use capstan_cache::{Cache, CacheConfig, EncryptionKey};
use capstan_e2e::{RedisServer, eventually};
use capstan_types::application::SyncStatusCode;
use futures::StreamExt;
use serde_json::json;
use support::Harness;

fn cache(url: &str) -> Cache {
    let mut config = CacheConfig::new(Some(url.to_owned()), EncryptionKey::generate());
    config.prefix = format!("capstan-test:{}", capstan_e2e::unique_name("trees"));
    config.retry_after = Duration::from_millis(500);
    let mut registry = prometheus_client::registry::Registry::default();
    Cache::new(config, &mut registry).expect("cache")
}

async fn tree(cache: &Cache, namespace: &str, name: &str) -> Option<ResourceTree> {
    cache
        .get::<ResourceTree>(&TreePublisher::key(cache, namespace, name))
        .await
}

#[tokio::test]
async fn trees_reach_redis_and_survive_an_outage() -> anyhow::Result<()> {
    let mut redis = RedisServer::start()?;
    let cache = cache(&redis.url());
    let mut notifications = cache.subscribe(TREE_CHANNEL).await?;
    let h = Harness::start_with(BTreeMap::new(), Some(cache.clone())).await?;
    let repo = support::publish_examples(&h.env)?;
    let dest = h.env.unique_namespace("trees").await?;
    let control = h.control.name.clone();
    h.create_app(
        "tree-app",
        &repo,
        "overlays/dev/users-api",
        &dest.name,
        json!({}),
    )
    .await?;
    let desired = h
        .desired(&repo, "overlays/dev/users-api", &dest.name)
        .await?;
    let list = json!({"apiVersion": "v1", "kind": "List", "items": desired});
    h.kubectl(
        &["apply", "--server-side", "--field-manager=e2e", "-f", "-"],
        Some(&list.to_string()),
    )?;

    // Deployment → ReplicaSet → Pod, linked by owner UIDs, with health and images.
    let found = eventually(Duration::from_secs(60), "a tree down to the Pods", || {
        let cache = cache.clone();
        let control = control.clone();
        async move {
            let Some(tree) = tree(&cache, &control, "tree-app").await else {
                return Ok(None);
            };
            let by_kind = |kind: &str| tree.nodes.iter().find(|n| n.kind == kind).cloned();
            let (Some(deployment), Some(rs), Some(pod)) =
                (by_kind("Deployment"), by_kind("ReplicaSet"), by_kind("Pod"))
            else {
                return Ok(None);
            };
            Ok(
                (rs.parent_uids == [deployment.uid.clone()] && pod.parent_uids == [rs.uid.clone()])
                    .then_some(tree),
            )
        }
    })
    .await?;
    let pod = found.nodes.iter().find(|n| n.kind == "Pod").expect("pod");
    assert_eq!(pod.images, ["myregistry.azurecr.io/users-api:dev-1"]);
    assert!(
        found
            .nodes
            .iter()
            .any(|n| n.kind == "Service" && n.health.is_some())
    );
    let message = tokio::time::timeout(Duration::from_secs(5), notifications.next()).await?;
    assert_eq!(
        message.map(|m| String::from_utf8_lossy(&m).into_owned()),
        Some(format!("{control}/tree-app"))
    );

    // Redis goes away: the status is still written.
    redis.stop();
    h.kubectl(
        &[
            "-n",
            &dest.name,
            "set",
            "image",
            "deployment/users-api",
            "users-api=myregistry.azurecr.io/users-api:hotfix",
        ],
        None,
    )?;
    h.wait_for("tree-app", "OutOfSync with Redis down", |a| {
        a.status.as_ref().and_then(|s| s.sync.status.clone()) == Some(SyncStatusCode::OutOfSync)
    })
    .await?;

    // Redis comes back (empty): the tree is published again, with the new image.
    redis.restart()?;
    eventually(
        Duration::from_secs(60),
        "the tree republished after the outage",
        || {
            let cache = cache.clone();
            let control = control.clone();
            async move {
                let tree = tree(&cache, &control, "tree-app").await;
                Ok(tree
                    .filter(|t| {
                        t.nodes.iter().any(|n| {
                            n.kind == "Deployment"
                                && n.images == ["myregistry.azurecr.io/users-api:hotfix"]
                        })
                    })
                    .map(|_| ()))
            }
        },
    )
    .await?;
    Ok(())
}

/// A tree Redis lost without the cache seeing it down (its 24 h TTL ran out for a stable app,
/// or Redis was flushed) comes back with the next publish of the same tree once the rewrite
/// interval has passed; until then it is trusted. Subscribers hear only of changes.
#[tokio::test]
async fn an_unchanged_tree_redis_lost_is_written_again() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let cache = cache(&redis.url());
    let mut notifications = cache.subscribe(TREE_CHANNEL).await?;
    let same: ResourceTree = serde_json::from_value(json!({"nodes": [{
        "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web",
        "name": "web", "uid": "u1", "resourceVersion": "7", "parentUids": [], "health": "Healthy"
    }]}))?;
    let lose = |name: &'static str| {
        let cache = cache.clone();
        async move {
            cache
                .take::<ResourceTree>(&TreePublisher::key(&cache, "ns", name))
                .await
                .is_some()
        }
    };

    let trusting = TreePublisher::with_rewrite_after(cache.clone(), Duration::from_secs(3600));
    assert!(trusting.publish("ns", "a", same.clone()).await);
    assert!(lose("a").await, "the tree was written");
    assert!(trusting.publish("ns", "a", same.clone()).await);
    assert_eq!(
        tree(&cache, "ns", "a").await,
        None,
        "trusted within the interval"
    );

    let rewriting = TreePublisher::with_rewrite_after(cache.clone(), Duration::ZERO);
    assert!(rewriting.publish("ns", "b", same.clone()).await);
    assert!(lose("b").await, "the tree was written");
    assert!(rewriting.publish("ns", "b", same.clone()).await);
    assert_eq!(
        tree(&cache, "ns", "b").await,
        Some(same.clone()),
        "written again"
    );

    // one notification per app: the first write; a rewrite of the same tree tells nobody
    let mut heard = Vec::new();
    while let Ok(Some(m)) =
        tokio::time::timeout(Duration::from_millis(800), notifications.next()).await
    {
        heard.push(String::from_utf8_lossy(&m).into_owned());
    }
    assert_eq!(heard, ["ns/a", "ns/b"]);
    Ok(())
}
