//! Redis going away, hanging and coming back, with a private `redis-server` per test.
//!
//! The promise under test: callers never fail and never wait long because of Redis, and
//! caching resumes by itself, with the same `Cache`, once Redis is back.

mod support;

use std::time::{Duration, Instant};

use capstan_cache::{Cache, CacheError};
use capstan_e2e::RedisServer;
use futures::StreamExt;

const TTL: Duration = Duration::from_secs(60);
const RETRY_AFTER: Duration = Duration::from_millis(500);
const OP_TIMEOUT: Duration = Duration::from_millis(300);
/// What "quickly" means for one call while Redis is gone.
const QUICK: Duration = Duration::from_secs(1);

fn cache_for(server: &RedisServer) -> (Cache, prometheus_client::registry::Registry) {
    support::cache(&server.url(), |c| {
        c.op_timeout = OP_TIMEOUT;
        c.retry_after = RETRY_AFTER;
    })
}

/// Calls `get` and `set` for `duration`, asserting each returns within [`QUICK`] and that
/// `get` misses; returns how many rounds ran.
async fn hammer_while_down(cache: &Cache, duration: Duration) -> u32 {
    let key = cache.key("manifests", &"down");
    let until = Instant::now() + duration;
    let mut rounds = 0;
    while Instant::now() < until {
        let started = Instant::now();
        assert_eq!(cache.get::<String>(&key).await, None);
        assert!(
            started.elapsed() < QUICK,
            "get took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        cache.set(&key, &"v", TTL).await;
        assert!(
            started.elapsed() < QUICK,
            "set took {:?}",
            started.elapsed()
        );
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rounds
}

/// Sets and reads back until a hit, each call within `QUICK`; returns the time it took.
async fn wait_until_caching(cache: &Cache, deadline: Duration) -> Duration {
    let key = cache.key("manifests", &"back");
    let started = Instant::now();
    loop {
        let call = Instant::now();
        cache.set(&key, &"back", TTL).await;
        let got = cache.get::<String>(&key).await;
        assert!(
            call.elapsed() < 2 * QUICK,
            "set+get took {:?}",
            call.elapsed()
        );
        if got.as_deref() == Some("back") {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "caching did not resume within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_then_restarted() -> anyhow::Result<()> {
    let mut server = RedisServer::start()?;
    let (cache, registry) = cache_for(&server);
    let key = cache.key("manifests", &"up");

    cache.set(&key, &"v1", TTL).await;
    assert_eq!(cache.get::<String>(&key).await.as_deref(), Some("v1"));
    assert!(cache.is_available());

    server.stop();
    let rounds = hammer_while_down(&cache, 3 * RETRY_AFTER).await;
    assert!(!cache.is_available());
    let stats = cache.stats();
    assert!(stats.errors >= 1, "{stats:?}");
    assert!(
        stats.skipped >= u64::from(rounds),
        "most calls skip Redis while it is down: {stats:?}, {rounds} rounds"
    );
    // Only the first failure and one probe per back-off reached the network.
    assert!(stats.errors <= 2 + 2 * 3, "{stats:?}");
    assert!(matches!(
        cache.publish("c", b"x").await,
        Err(CacheError::Unavailable | CacheError::Redis(_) | CacheError::Pool(_))
    ));
    let text = support::encode(&registry);
    assert!(
        text.lines().any(|l| l
            .starts_with(r#"argocd_redis_request_total{initiator="cache-test",failed="true"}"#)
            && !l.ends_with(" 0")),
        "{text}"
    );

    // Back, empty (no persistence), on the same port, same Cache.
    server.restart()?;
    let took = wait_until_caching(&cache, RETRY_AFTER + Duration::from_secs(2)).await;
    eprintln!("caching resumed {took:?} after the restart");
    assert!(cache.is_available());
    assert_eq!(
        cache.get::<String>(&key).await,
        None,
        "the old entry died with Redis"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_before_the_first_request() -> anyhow::Result<()> {
    let mut server = RedisServer::start()?;
    let (cache, _registry) = cache_for(&server);
    server.stop();
    assert!(cache.is_available(), "optimistic until a request fails");
    hammer_while_down(&cache, RETRY_AFTER).await;
    assert!(!cache.is_available());
    server.restart()?;
    wait_until_caching(&cache, RETRY_AFTER + Duration::from_secs(2)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_redis_costs_at_most_the_operation_timeout() -> anyhow::Result<()> {
    let server = RedisServer::start()?;
    let (cache, _registry) = cache_for(&server);
    let key = cache.key("manifests", &"hung");
    cache.set(&key, &"v", TTL).await;
    assert!(cache.get::<String>(&key).await.is_some());

    server.pause()?;
    let started = Instant::now();
    assert_eq!(cache.get::<String>(&key).await, None);
    let first = started.elapsed();
    assert!(
        first >= OP_TIMEOUT && first < QUICK,
        "first call waited {first:?}"
    );
    assert!(!cache.is_available());
    // While down, calls skip Redis and do not wait.
    let started = Instant::now();
    assert_eq!(cache.get::<String>(&key).await, None);
    assert!(started.elapsed() < Duration::from_millis(50));
    hammer_while_down(&cache, 2 * RETRY_AFTER).await;

    server.resume()?;
    wait_until_caching(&cache, RETRY_AFTER + OP_TIMEOUT + Duration::from_secs(2)).await;
    assert!(
        cache.get::<String>(&key).await.is_some(),
        "the entry survived the freeze"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_end_when_redis_goes_away() -> anyhow::Result<()> {
    let mut server = RedisServer::start()?;
    let (cache, _registry) = cache_for(&server);
    let mut messages = Box::pin(cache.subscribe("trees").await?);
    cache.publish("trees", b"one").await?;
    let got = tokio::time::timeout(Duration::from_secs(5), messages.next()).await?;
    assert_eq!(got.as_deref(), Some(&b"one"[..]));

    server.stop();
    let end = tokio::time::timeout(Duration::from_secs(5), messages.next()).await?;
    assert_eq!(
        end, None,
        "the stream ends so the subscriber can resubscribe"
    );

    server.restart()?;
    let deadline = Instant::now() + RETRY_AFTER + Duration::from_secs(2);
    let mut messages = loop {
        match cache.subscribe("trees").await {
            Ok(stream) => break Box::pin(stream),
            Err(e) => {
                assert!(Instant::now() < deadline, "could not resubscribe: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    cache.publish("trees", b"two").await?;
    let got = tokio::time::timeout(Duration::from_secs(5), messages.next()).await?;
    assert_eq!(got.as_deref(), Some(&b"two"[..]));
    Ok(())
}

#[tokio::test]
async fn disabled_cache_misses_and_never_connects() {
    let cache = Cache::disabled();
    let key = cache.key("manifests", &1);
    cache.set(&key, &1, TTL).await;
    assert_eq!(cache.get::<u8>(&key).await, None);
    cache.delete(&key).await;
    assert!(!cache.is_available());
    assert!(!cache.is_enabled());
    assert!(matches!(
        cache.publish("c", b"x").await,
        Err(CacheError::Disabled)
    ));
    assert!(matches!(
        cache.subscribe("c").await.err(),
        Some(CacheError::Disabled)
    ));
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.sets, stats.errors), (1, 0, 0));
}
