//! The cache against the shared test environment's real Redis (`e2e/testenv-up.sh`).

mod support;

use std::time::{Duration, Instant};

use capstan_cache::{Cache, CacheConfig, EncryptionKey};
use capstan_e2e::TestEnv;
use deadpool_redis::redis::AsyncCommands;
use futures::StreamExt;
use pretty_assertions::assert_eq;
use serde::{Deserialize, Serialize};

const REPO: &str = "https://user:pass@git.example.com/team/repo.git";
const SECRET: &str = "hunter2-do-not-leak";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Manifests {
    revision: String,
    manifests: Vec<String>,
}

fn secret_manifests() -> Manifests {
    Manifests {
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        manifests: vec![
            format!(
                r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"db"}},"stringData":{{"password":"{SECRET}"}}}}"#
            ),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#.into(),
        ],
    }
}

fn key_parts() -> serde_json::Value {
    serde_json::json!({"repo": REPO, "revision": "0123abc", "path": "apps/x"})
}

#[tokio::test]
async fn set_get_round_trip_with_ttl() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, _registry) = support::cache(env.redis_url(), |_| {});
    let key = cache.key("manifests", &key_parts());
    let value = secret_manifests();

    assert_eq!(cache.get::<Manifests>(&key).await, None, "empty at first");
    cache.set(&key, &value, Duration::from_secs(600)).await;
    assert_eq!(cache.get::<Manifests>(&key).await, Some(value.clone()));
    assert!(cache.is_available());

    let mut raw = support::raw(env.redis_url()).await?;
    let pttl: i64 = deadpool_redis::redis::cmd("PTTL")
        .arg(key.as_str())
        .query_async(&mut raw)
        .await?;
    assert!(pttl > 0 && pttl <= 600_000, "PTTL {pttl}");

    // Overwrite with a shorter TTL.
    let newer = Manifests {
        revision: "newer".into(),
        ..value
    };
    cache.set(&key, &newer, Duration::from_millis(1500)).await;
    assert_eq!(cache.get::<Manifests>(&key).await, Some(newer));
    let pttl: i64 = raw.pttl(key.as_str()).await?;
    assert!(pttl > 0 && pttl <= 1500, "PTTL {pttl}");

    // A wrong type reads as a miss, not an error for the caller.
    assert_eq!(cache.get::<u64>(&key).await, None);

    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.sets, stats.errors),
        (2, 2, 2, 1)
    );
    Ok(())
}

#[tokio::test]
async fn take_hands_a_value_out_once() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, _registry) = support::cache(env.redis_url(), |_| {});
    let key = cache.key("one-time", &key_parts());
    cache.set(&key, &"state", Duration::from_secs(60)).await;
    let (a, b) = tokio::join!(cache.take::<String>(&key), cache.take::<String>(&key));
    let winners = [a, b].into_iter().flatten().collect::<Vec<_>>();
    assert_eq!(
        winners,
        vec!["state".to_owned()],
        "exactly one caller gets it"
    );
    assert_eq!(cache.get::<String>(&key).await, None, "and it is gone");
    Ok(())
}

#[tokio::test]
async fn nothing_is_stored_in_clear() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, _registry) = support::cache(env.redis_url(), |_| {});
    let key = cache.key("manifests", &key_parts());
    cache
        .set(&key, &secret_manifests(), Duration::from_secs(60))
        .await;

    for hidden in [REPO, "user:pass", "git.example.com", "apps/x"] {
        assert!(!key.as_str().contains(hidden), "{hidden} in {key}");
    }
    let mut raw = support::raw(env.redis_url()).await?;
    let stored: Vec<u8> = raw.get(key.as_str()).await?;
    assert!(!stored.is_empty());
    for clear in [
        SECRET.as_bytes(),
        b"Secret",
        b"stringData",
        b"password",
        b"0123456789abcdef",
    ] {
        assert!(
            !stored.windows(clear.len()).any(|w| w == clear),
            "{:?} found in the stored value",
            String::from_utf8_lossy(clear)
        );
    }
    Ok(())
}

#[tokio::test]
async fn tampered_moved_or_foreign_values_read_as_misses() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, _registry) = support::cache(env.redis_url(), |_| {});
    let key = cache.key("manifests", &1);
    let other = cache.key("manifests", &2);
    cache.set(&key, &"value", Duration::from_secs(60)).await;
    let mut raw = support::raw(env.redis_url()).await?;
    let stored: Vec<u8> = raw.get(key.as_str()).await?;

    // Moved under another key name.
    let () = raw.set_ex(other.as_str(), stored.clone(), 60).await?;
    assert_eq!(cache.get::<String>(&other).await, None);

    // One bit flipped in the ciphertext.
    let mut tampered = stored.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    let () = raw.set_ex(key.as_str(), tampered, 60).await?;
    assert_eq!(cache.get::<String>(&key).await, None);

    // Written by a process with another key (same prefix, same key name).
    let () = raw.set_ex(key.as_str(), stored, 60).await?;
    assert_eq!(cache.get::<String>(&key).await.as_deref(), Some("value"));
    let mut config = CacheConfig::new(Some(env.redis_url().into()), EncryptionKey::generate());
    config.prefix = cache.prefix().to_string();
    let foreign = Cache::new(config, &mut Default::default())?;
    assert_eq!(foreign.get::<String>(&key).await, None);

    assert_eq!(cache.stats().errors, 2);
    assert_eq!(foreign.stats().errors, 1);
    assert!(cache.is_available(), "bad values are not an outage");
    Ok(())
}

#[tokio::test]
async fn delete_zero_ttl_and_large_values() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, _registry) = support::cache(env.redis_url(), |_| {});
    let key = cache.key("refs", &REPO);

    cache.set(&key, &"x", Duration::from_secs(60)).await;
    cache.delete(&key).await;
    assert_eq!(cache.get::<String>(&key).await, None);

    cache.set(&key, &"x", Duration::ZERO).await;
    assert_eq!(cache.get::<String>(&key).await, None, "zero TTL refused");
    assert_eq!(cache.stats().errors, 1);

    // A few MB of manifests go through the blocking pool both ways.
    let big: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                r#"{{"kind":"ConfigMap","metadata":{{"name":"cm-{i}"}},"data":{{"k":"{i:>64}"}}}}"#
            )
        })
        .collect();
    let started = Instant::now();
    cache.set(&key, &big, Duration::from_secs(60)).await;
    let got: Option<Vec<String>> = cache.get(&key).await;
    eprintln!(
        "large value ({} KiB JSON): set + get in {:?}",
        serde_json::to_vec(&big)?.len() / 1024,
        started.elapsed()
    );
    assert_eq!(got.as_ref(), Some(&big));
    Ok(())
}

#[tokio::test]
async fn publish_and_subscribe() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, _registry) = support::cache(env.redis_url(), |_| {});
    let mut messages = Box::pin(cache.subscribe("resource-tree").await?);

    // Look at what actually crosses Redis.
    let client = deadpool_redis::redis::Client::open(env.redis_url())?;
    let mut spy = client.get_async_pubsub().await?;
    spy.subscribe(format!("{}:resource-tree", cache.prefix()))
        .await?;
    let mut spied = spy.into_on_message();

    let payload = format!("app guestbook changed; token {SECRET}");
    cache.publish("resource-tree", payload.as_bytes()).await?;
    let got = tokio::time::timeout(Duration::from_secs(5), messages.next()).await?;
    assert_eq!(got.as_deref(), Some(payload.as_bytes()));

    let seen = tokio::time::timeout(Duration::from_secs(5), spied.next())
        .await?
        .expect("the spy sees the message");
    let bytes = seen.get_payload_bytes();
    assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    Ok(())
}

#[tokio::test]
async fn metrics_have_argo_cd_names() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, registry) = support::cache(env.redis_url(), |_| {});
    let key = cache.key("manifests", &1);
    cache.set(&key, &1, Duration::from_secs(60)).await;
    let _: Option<u8> = cache.get(&key).await;

    let text = support::encode(&registry);
    for line in [
        r#"argocd_redis_request_total{initiator="cache-test",failed="false"} 2"#,
        r#"argocd_redis_request_total{initiator="cache-test",failed="true"} 0"#,
        r#"argocd_redis_request_duration_seconds_count{initiator="cache-test"} 2"#,
        r#"argocd_redis_request_duration_seconds_bucket{le="0.1",initiator="cache-test"} 2"#,
        "# TYPE argocd_redis_request counter",
        "# TYPE argocd_redis_request_duration_seconds histogram",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_use_and_latency() -> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let (cache, _registry) = support::cache(env.redis_url(), |_| {});
    let value = secret_manifests();

    // Many concurrent requests through a small pool.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (cache, value) = (cache.clone(), value.clone());
            tokio::spawn(async move {
                let key = cache.key("manifests", &i);
                cache.set(&key, &value, Duration::from_secs(60)).await;
                cache.get::<Manifests>(&key).await == Some(value)
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await?, "a concurrent round trip missed");
    }
    assert_eq!(cache.stats().errors, 0);

    // Sequential latency on loopback (printed; asserted only against pathologies).
    let key = cache.key("manifests", &"latency");
    let rounds = 200u32;
    let started = Instant::now();
    for _ in 0..rounds {
        cache.set(&key, &value, Duration::from_secs(60)).await;
    }
    let set = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        assert!(cache.get::<Manifests>(&key).await.is_some());
    }
    let get = started.elapsed() / rounds;
    eprintln!(
        "loopback latency, {rounds} rounds: set {set:?}, get {get:?} ({})",
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    assert!(set < Duration::from_millis(50) && get < Duration::from_millis(50));
    Ok(())
}
