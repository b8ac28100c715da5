//! Test helpers: a cache builder and raw access to Redis. Tests that break Redis start their
//! own server with [`capstan_e2e::RedisServer`]; the others use the shared environment's.

#![allow(dead_code)] // each test binary uses a different part

use capstan_cache::{Cache, CacheConfig, EncryptionKey};
use prometheus_client::registry::Registry;

/// A cache on `url` with its own prefix (so tests sharing a Redis never meet), a fresh key
/// and registry.
pub fn cache(url: &str, tune: impl FnOnce(&mut CacheConfig)) -> (Cache, Registry) {
    let mut config = CacheConfig::new(Some(url.to_string()), EncryptionKey::generate());
    config.prefix = format!("capstan-test:{}", capstan_e2e::unique_name("cache"));
    config.initiator = "cache-test".to_string();
    tune(&mut config);
    let mut registry = Registry::default();
    let cache = Cache::new(config, &mut registry).expect("valid cache configuration");
    (cache, registry)
}

/// A plain Redis connection for looking behind the cache's back.
pub async fn raw(url: &str) -> anyhow::Result<deadpool_redis::redis::aio::MultiplexedConnection> {
    let client = deadpool_redis::redis::Client::open(url)?;
    Ok(client.get_multiplexed_async_connection().await?)
}

/// The registry in Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodable registry");
    text
}
