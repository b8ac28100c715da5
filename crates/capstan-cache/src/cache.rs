//! [`Cache`]: the Redis client every component shares.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, FromRedisValue,
    IntoConnectionInfo, TlsCertificates,
};
use deadpool_redis::{Manager, Pool, Runtime, Timeouts};
use futures::{Stream, StreamExt};
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::config::redact_url;
use crate::health::{Admit, Health, WarnLimiter};
use crate::metrics::Metrics;
use crate::{CacheConfig, CacheError, CacheKey, RedisOptions};

/// Values at least this large are compressed/encrypted (and decrypted/inflated) on the
/// blocking pool instead of on the async worker: gzip of a few MB of manifests takes
/// milliseconds.
const OFFLOAD_AT: usize = 256 * 1024;
/// At most one warning per this interval for per-request failures (connectivity changes are
/// logged once per transition instead).
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Counters of what the cache did since it was built (all clones share them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// `get`s that returned a value.
    pub hits: u64,
    /// `get`s that returned `None`, whatever the reason (absent, Redis down or failing,
    /// undecodable value, cache disabled).
    pub misses: u64,
    /// Values written to Redis.
    pub sets: u64,
    /// Failures: Redis requests that failed or timed out, values that could not be
    /// encoded or decoded, refused `set`s (zero TTL, unusable key).
    pub errors: u64,
    /// `get`/`set`/`delete`s not sent because Redis was considered down.
    pub skipped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The shared Redis cache: typed, hashed, compressed, encrypted entries with TTLs, and
/// pub/sub. Cheap to clone; clones share the connection pool, the health state and the
/// counters. Build one per process.
///
/// No method fails a caller because of Redis: see the [crate invariants](crate).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Option<Redis>,
    prefix: String,
    codec: Codec,
    op_timeout: Duration,
    health: Health,
    metrics: Metrics,
    counters: Counters,
    warnings: WarnLimiter,
}

struct Redis {
    pool: Pool,
    /// For pub/sub, which needs a dedicated connection outside the pool.
    client: redis::Client,
    /// For logs: the URL without credentials.
    shown_url: String,
    /// `rediss://`.
    tls: bool,
}

impl Cache {
    /// The cache of a component binary (`initiator` labels its metrics): Redis as `redis`
    /// says (URL, separate password, CA file) with the encryption key read from `key_file` (a
    /// fresh key without one, which only suits a component that shares nothing), or a
    /// disabled cache when there is no URL.
    pub fn for_component(
        initiator: &str,
        redis: RedisOptions,
        key_file: Option<&std::path::Path>,
        registry: &mut Registry,
    ) -> Result<Self, CacheError> {
        let RedisOptions {
            url: Some(url),
            password,
            tls_ca_file,
        } = redis
        else {
            return Ok(Self::disabled());
        };
        Self::new(
            CacheConfig {
                initiator: initiator.to_owned(),
                redis_password: password,
                tls_ca_file,
                ..CacheConfig::new(Some(url), crate::EncryptionKey::load_or_generate(key_file)?)
            },
            registry,
        )
    }

    /// Builds the cache and registers its metrics on `registry`. Does not connect: the first
    /// request does, and a Redis that is down then only makes requests miss. With
    /// `redis_url: None` the cache is disabled: every `get` misses, `set`/`delete` do
    /// nothing, `publish`/`subscribe` return [`CacheError::Disabled`].
    ///
    /// Fails only on a malformed configuration: an unparsable URL, a `#insecure` one, a
    /// password both in the URL and in `redis_password`, a `tls_ca_file` that cannot be read,
    /// holds no PEM certificate or comes with a URL other than `rediss://`, a zero timeout or
    /// pool size.
    pub fn new(config: CacheConfig, registry: &mut Registry) -> Result<Self, CacheError> {
        if config.op_timeout.is_zero() {
            return Err(invalid_config("op_timeout must be positive"));
        }
        if config.pool_size == 0 {
            return Err(invalid_config("pool_size must be positive"));
        }
        let redis = match &config.redis_url {
            None => None,
            Some(url) => Some(connect_lazily(url, &config)?),
        };
        let inner = Inner {
            redis,
            prefix: config.prefix.clone(),
            codec: Codec::new(&config.key),
            op_timeout: config.op_timeout,
            health: Health::new(config.retry_after),
            metrics: Metrics::register(registry, &config.initiator),
            counters: Counters::default(),
            warnings: WarnLimiter::new(WARN_EVERY),
        };
        match &inner.redis {
            Some(redis) => tracing::info!(
                url = %redis.shown_url,
                tls = redis.tls,
                ca_file = config.tls_ca_file.as_ref().map(|p| p.display().to_string()),
                separate_password = config.redis_password.as_ref().is_some_and(|p| !p.is_empty()),
                prefix = %inner.prefix,
                "Redis cache configured"
            ),
            None => tracing::info!("no Redis URL configured: the cache is disabled"),
        }
        Ok(Cache {
            inner: Arc::new(inner),
        })
    }

    /// A disabled cache with its own throw-away metrics registry, for tests and tools.
    pub fn disabled() -> Self {
        let config = CacheConfig::new(None, crate::EncryptionKey::generate());
        Self::new(config, &mut Registry::default())
            .expect("the default configuration of a disabled cache is valid")
    }

    /// The key of `parts` of `kind` under this cache's prefix (see [`CacheKey::new`]).
    pub fn key(&self, kind: &'static str, parts: &impl Serialize) -> CacheKey {
        CacheKey::new(&self.inner.prefix, kind, parts)
    }

    /// The configured key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// `true` when a Redis URL is configured.
    pub fn is_enabled(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// The value under `key`, or `None`: a miss, a Redis failure or timeout, Redis being
    /// considered down, and a value that does not decrypt or decode as `T` are all `None`.
    /// Failures are counted in [`Cache::stats`] and the metrics, and logged at warn (rate
    /// limited; connectivity changes once per transition) — callers never fail because of
    /// the cache.
    pub async fn get<T: DeserializeOwned>(&self, key: &CacheKey) -> Option<T> {
        let inner = &self.inner;
        let value = self.try_get(key).await;
        bump(if value.is_some() {
            &inner.counters.hits
        } else {
            &inner.counters.misses
        });
        value
    }

    /// Like [`get`](Self::get), but removes the value in the same step (Redis `GETDEL`), so
    /// of several concurrent callers at most one receives it: one-time values such as a
    /// login's state.
    pub async fn take<T: DeserializeOwned>(&self, key: &CacheKey) -> Option<T> {
        let value = self.try_get_with(key, "GETDEL").await;
        bump(if value.is_some() {
            &self.inner.counters.hits
        } else {
            &self.inner.counters.misses
        });
        value
    }

    async fn try_get<T: DeserializeOwned>(&self, key: &CacheKey) -> Option<T> {
        self.try_get_with(key, "GET").await
    }

    async fn try_get_with<T: DeserializeOwned>(&self, key: &CacheKey, command: &str) -> Option<T> {
        let inner = &self.inner;
        let redis = inner.redis.as_ref()?;
        if !key.is_usable() {
            inner.failed("get", key, &CacheError::KeyParts);
            return None;
        }
        if inner.health.admit() == Admit::Skip {
            bump(&inner.counters.skipped);
            return None;
        }
        let stored: Option<Vec<u8>> = match inner
            .query(redis, redis::cmd(command).arg(key.as_str()))
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                inner.failed("get", key, &e);
                return None;
            }
        };
        let json = match self.open(key.as_str(), stored?).await {
            Ok(json) => json,
            Err(e) => {
                inner.failed("get", key, &e);
                return None;
            }
        };
        match serde_json::from_slice(&json) {
            Ok(value) => Some(value),
            Err(e) => {
                inner.failed("get", key, &e.into());
                None
            }
        }
    }

    /// Stores `value` under `key` for `ttl` (rounded up to whole milliseconds). Failures are
    /// logged and counted, never returned; while Redis is considered down this does nothing.
    /// A zero `ttl` is refused (logged, counted as an error): every key must expire.
    pub async fn set<T: Serialize>(&self, key: &CacheKey, value: &T, ttl: Duration) {
        let inner = &self.inner;
        let Some(redis) = &inner.redis else { return };
        if !key.is_usable() {
            inner.failed("set", key, &CacheError::KeyParts);
            return;
        }
        if ttl.is_zero() {
            inner.failed("set", key, &CacheError::Corrupt("zero TTL refused"));
            return;
        }
        if inner.health.admit() == Admit::Skip {
            bump(&inner.counters.skipped);
            return;
        }
        let sealed = match serde_json::to_vec(value) {
            Ok(json) => self.seal(key.as_str(), json).await,
            Err(e) => Err(e.into()),
        };
        let sealed = match sealed {
            Ok(sealed) => sealed,
            Err(e) => {
                inner.failed("set", key, &e);
                return;
            }
        };
        let ttl_ms = u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        let result: Result<(), CacheError> = inner
            .query(
                redis,
                redis::cmd("SET")
                    .arg(key.as_str())
                    .arg(sealed)
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await;
        match result {
            Ok(()) => bump(&inner.counters.sets),
            Err(e) => inner.failed("set", key, &e),
        }
    }

    /// Removes `key`. Failures are logged and counted, never returned. While Redis is
    /// considered down this does nothing, so an entry meant to be invalidated may come back
    /// with Redis: keys should name content (a commit SHA, not a branch) or carry a short TTL.
    pub async fn delete(&self, key: &CacheKey) {
        let inner = &self.inner;
        let Some(redis) = &inner.redis else { return };
        if !key.is_usable() {
            return;
        }
        if inner.health.admit() == Admit::Skip {
            bump(&inner.counters.skipped);
            return;
        }
        let result: Result<u64, CacheError> = inner
            .query(redis, redis::cmd("DEL").arg(key.as_str()))
            .await;
        if let Err(e) = result {
            inner.failed("delete", key, &e);
        }
    }

    /// Publishes `payload` on `channel` (named `<prefix>:<channel>` in Redis), encrypted like
    /// a value. Unlike `get`/`set`, reports failure: a notification that was not sent may
    /// need another path. `channel` must be a fixed name or hashed (use
    /// [`Cache::key`]`(..).as_str()`-like derivations), never user input.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), CacheError> {
        let inner = &self.inner;
        let redis = inner.redis.as_ref().ok_or(CacheError::Disabled)?;
        if inner.health.admit() == Admit::Skip {
            return Err(CacheError::Unavailable);
        }
        let channel = self.channel_name(channel);
        let sealed = self.seal(&channel, payload.to_vec()).await?;
        let _receivers: u64 = inner
            .query(redis, redis::cmd("PUBLISH").arg(&channel).arg(sealed))
            .await?;
        Ok(())
    }

    /// Subscribes to `channel` (see [`Cache::publish`]) on a dedicated connection. The stream
    /// yields each payload published after the subscription was made; payloads that fail to
    /// decrypt are dropped (and counted). It ends when the connection is lost — Redis
    /// restarted or went away — so a subscriber resubscribes, and treats messages as hints
    /// to re-read state, never as the only copy of it.
    pub async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<impl Stream<Item = Vec<u8>> + Send + 'static, CacheError> {
        let inner = &self.inner;
        let redis = inner.redis.as_ref().ok_or(CacheError::Disabled)?;
        if inner.health.admit() == Admit::Skip {
            return Err(CacheError::Unavailable);
        }
        let channel = self.channel_name(channel);
        let started = Instant::now();
        let subscribed = tokio::time::timeout(inner.op_timeout, async {
            let mut pubsub = redis.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, CacheError>(pubsub)
        })
        .await
        .unwrap_or(Err(CacheError::Timeout(inner.op_timeout)));
        inner.record(&subscribed, started);
        let pubsub = subscribed?;

        let this = self.clone();
        Ok(pubsub.into_on_message().filter_map(move |message| {
            let opened = this.inner.codec.open(&channel, message.get_payload_bytes());
            if let Err(e) = &opened {
                this.inner.failed_channel(&channel, e);
            }
            futures::future::ready(opened.ok())
        }))
    }

    /// One round trip to Redis (`PING`), for readiness checks and start-up logs. Updates the
    /// availability like any request; not skipped while Redis is considered down.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let inner = &self.inner;
        let redis = inner.redis.as_ref().ok_or(CacheError::Disabled)?;
        let _pong: String = inner.query(redis, &redis::cmd("PING")).await?;
        Ok(())
    }

    /// `false` while Redis is considered down (after a failure, until a request succeeds
    /// again) and when the cache is disabled. `true` before the first request.
    pub fn is_available(&self) -> bool {
        self.inner.redis.is_some() && self.inner.health.is_available()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            sets: c.sets.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
        }
    }

    fn channel_name(&self, channel: &str) -> String {
        format!("{}:{channel}", self.inner.prefix)
    }

    /// Compresses and encrypts, on the blocking pool when the value is large.
    async fn seal(&self, name: &str, json: Vec<u8>) -> Result<Vec<u8>, CacheError> {
        if json.len() < OFFLOAD_AT {
            return self.inner.codec.seal(name, &json);
        }
        let (inner, name) = (self.inner.clone(), name.to_string());
        tokio::task::spawn_blocking(move || inner.codec.seal(&name, &json))
            .await
            .unwrap_or(Err(CacheError::Corrupt("encoding task failed")))
    }

    /// Decrypts and inflates, on the blocking pool when the value is large.
    async fn open(&self, name: &str, stored: Vec<u8>) -> Result<Vec<u8>, CacheError> {
        if stored.len() < OFFLOAD_AT {
            return self.inner.codec.open(name, &stored);
        }
        let (inner, name) = (self.inner.clone(), name.to_string());
        tokio::task::spawn_blocking(move || inner.codec.open(&name, &stored))
            .await
            .unwrap_or(Err(CacheError::Corrupt("decoding task failed")))
    }
}

impl Inner {
    /// Runs one command on a pooled connection within `op_timeout`, and records it (metrics,
    /// availability).
    async fn query<T: FromRedisValue>(
        &self,
        redis: &Redis,
        cmd: &redis::Cmd,
    ) -> Result<T, CacheError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.op_timeout, async {
            let mut connection = redis.pool.get().await?;
            Ok::<T, CacheError>(cmd.query_async(&mut connection).await?)
        })
        .await
        .unwrap_or(Err(CacheError::Timeout(self.op_timeout)));
        self.record(&result, started);
        result
    }

    /// Metrics and availability after one Redis request. An error answer from a reachable
    /// server (wrong type, out of memory) is a failed request but not an outage.
    fn record<T>(&self, result: &Result<T, CacheError>, started: Instant) {
        self.metrics.observe(result.is_err(), started.elapsed());
        match result {
            Err(e) if e.is_connectivity() => self.health.failure(e),
            _ => self.health.success(),
        }
    }

    /// Counts a failure and logs it (rate limited). Connectivity failures are logged by the
    /// availability transition instead, once.
    fn failed(&self, op: &str, key: &CacheKey, error: &CacheError) {
        bump(&self.counters.errors);
        if error.is_connectivity() {
            tracing::debug!(op, key = %key, "Redis request failed: {error}");
        } else if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(op, key = %key, suppressed, "cache {op} failed: {error}");
        }
    }

    fn failed_channel(&self, channel: &str, error: &CacheError) {
        bump(&self.counters.errors);
        if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(channel, suppressed, "dropped a pub/sub message: {error}");
        }
    }
}

/// Builds the pool and the pub/sub client; nothing connects yet.
fn connect_lazily(url: &str, config: &CacheConfig) -> Result<Redis, CacheError> {
    let shown_url = redact_url(url);
    let info = url
        .into_connection_info()
        .map_err(|e| invalid_config(&format!("Redis URL {shown_url}: {e}")))?;
    let info = with_password(info, config.redis_password.as_deref(), &shown_url)?;
    let tls = match info.addr() {
        ConnectionAddr::TcpTls { insecure: true, .. } => {
            return Err(invalid_config(&format!(
                "Redis URL {shown_url}: #insecure (no certificate verification) is not \
                 supported; trust the server's CA with a CA file instead"
            )));
        }
        ConnectionAddr::TcpTls { .. } => true,
        _ => false,
    };
    if tls {
        install_crypto_provider();
    }
    let client = match &config.tls_ca_file {
        None => redis::Client::open(info),
        Some(_) if !tls => {
            return Err(invalid_config(&format!(
                "a Redis CA file needs a rediss:// URL, not {shown_url}"
            )));
        }
        Some(path) => redis::Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(read_ca_file(path)?),
            },
        ),
    }
    .map_err(|e| invalid_config(&format!("Redis URL {shown_url}: {e}")))?;
    let connection = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.op_timeout))
        .set_response_timeout(Some(config.op_timeout));
    let manager = Manager::new_with_config(client.get_connection_info().clone(), connection)
        .map_err(|e| invalid_config(&format!("Redis URL {shown_url}: {e}")))?;
    let pool = Pool::builder(manager)
        .max_size(config.pool_size)
        .timeouts(Timeouts {
            wait: Some(config.op_timeout),
            create: Some(config.op_timeout),
            recycle: Some(config.op_timeout),
        })
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| invalid_config(&format!("connection pool: {e}")))?;
    Ok(Redis {
        pool,
        client,
        shown_url,
        tls,
    })
}

/// `info` with `password` (given apart from the URL) as its password, kept verbatim.
fn with_password(
    info: ConnectionInfo,
    password: Option<&str>,
    shown_url: &str,
) -> Result<ConnectionInfo, CacheError> {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Ok(info);
    };
    if info.redis_settings().password().is_some() {
        return Err(invalid_config(&format!(
            "the Redis password is given both in the URL ({shown_url}) and separately; \
             keep one"
        )));
    }
    let settings = info.redis_settings().clone().set_password(password);
    Ok(info.set_redis_settings(settings))
}

/// The PEM text of a CA file, checked to hold at least one readable certificate (an empty
/// trust store would fail every connection later, with a less helpful message).
fn read_ca_file(path: &std::path::Path) -> Result<Vec<u8>, CacheError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let shown = path.display();
    let pem =
        std::fs::read(path).map_err(|e| invalid_config(&format!("Redis CA file {shown}: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid_config(&format!("Redis CA file {shown}: {e}")))?;
    if certificates.is_empty() {
        return Err(invalid_config(&format!(
            "Redis CA file {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(pem)
}

/// Redis TLS is rustls, which builds its client configuration with the process-wide default
/// crypto provider. Installs ring — the provider of every rustls use in Capstan — unless the
/// process already chose one, so Redis TLS works whatever mix of rustls features the build
/// ends up with (both ring and aws-lc-rs would otherwise make rustls panic on first use).
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn invalid_config(reason: &str) -> CacheError {
    CacheError::InvalidConfig {
        reason: reason.to_string(),
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Cache")
            .field("redis", &inner.redis.as_ref().map(|r| r.shown_url.as_str()))
            .field("prefix", &inner.prefix)
            .field("available", &self.is_available())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::singleflight::Group;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        // Callers hold these across awaits in tonic handlers and spawned tasks.
        let cache = Cache::disabled();
        let key = cache.key("k", &1);
        assert_send(&cache.get::<String>(&key));
        assert_send(&cache.set(&key, &"v", Duration::from_secs(1)));
        assert_send(&cache.delete(&key));
        assert_send(&cache.publish("c", b"x"));
        assert_send(&cache.subscribe("c"));
        let group = Group::<String, Vec<u8>>::new();
        assert_send(&group.run("k".into(), async { Vec::new() }));
    }

    #[test]
    fn new_validates_but_does_not_connect() {
        let unreachable = || {
            CacheConfig::new(
                Some("redis://127.0.0.1:1".into()),
                crate::EncryptionKey::generate(),
            )
        };
        let cache = Cache::new(unreachable(), &mut Registry::default()).unwrap();
        assert!(cache.is_enabled());
        assert!(cache.is_available(), "nothing tried yet");

        let mut zero_timeout = unreachable();
        zero_timeout.op_timeout = Duration::ZERO;
        let mut zero_pool = unreachable();
        zero_pool.pool_size = 0;
        let mut bad_url = unreachable();
        bad_url.redis_url = Some("http://user:s3cret@host".into());
        for (name, config) in [
            ("zero timeout", zero_timeout),
            ("zero pool", zero_pool),
            ("bad URL", bad_url),
        ] {
            match Cache::new(config, &mut Registry::default()) {
                Err(CacheError::InvalidConfig { reason }) => {
                    assert!(!reason.contains("s3cret"), "{name}: {reason}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn tls_and_password_settings_are_validated_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not-pem.crt");
        std::fs::write(&not_pem, "just text\n").unwrap();
        let config = |url: &str, password: Option<&str>, ca: Option<std::path::PathBuf>| {
            let mut config = CacheConfig::new(Some(url.into()), crate::EncryptionKey::generate());
            config.redis_password = password.map(str::to_owned);
            config.tls_ca_file = ca;
            config
        };
        let valid = [
            config("rediss://cache.example.net:6380", None, None),
            config("rediss://cache.example.net:6380/1", Some("a/b+c="), None),
            config(
                "rediss://alice@cache.example.net:6380",
                Some("a/b+c="),
                None,
            ),
            config("redis://127.0.0.1:6379", Some("a/b+c="), None),
            // An empty separate password (an empty Secret key) is no password.
            config("redis://:s3cret@127.0.0.1:6379", Some(""), None),
        ];
        for config in valid {
            let shown = format!("{config:?}");
            Cache::new(config, &mut Registry::default()).unwrap_or_else(|e| panic!("{shown}: {e}"));
        }
        let invalid = [
            (
                "#insecure",
                config(
                    "rediss://:s3cret@cache.example.net:6380/#insecure",
                    None,
                    None,
                ),
                "#insecure",
            ),
            (
                "password twice",
                config(
                    "rediss://:s3cret@cache.example.net:6380",
                    Some("a/b+c="),
                    None,
                ),
                "both in the URL",
            ),
            (
                "CA file without TLS",
                config(
                    "redis://:s3cret@127.0.0.1:6379",
                    None,
                    Some(not_pem.clone()),
                ),
                "needs a rediss:// URL",
            ),
            (
                "missing CA file",
                config(
                    "rediss://cache.example.net:6380",
                    Some("a/b+c="),
                    Some(dir.path().join("absent.crt")),
                ),
                "absent.crt",
            ),
            (
                "CA file without a certificate",
                config(
                    "rediss://cache.example.net:6380",
                    None,
                    Some(not_pem.clone()),
                ),
                "holds no PEM certificate",
            ),
        ];
        for (name, config, want) in invalid {
            match Cache::new(config, &mut Registry::default()) {
                Err(CacheError::InvalidConfig { reason }) => {
                    assert!(reason.contains(want), "{name}: {reason}");
                    assert!(!reason.contains("s3cret"), "{name}: {reason}");
                    assert!(!reason.contains("a/b+c="), "{name}: {reason}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn refused_connection_is_a_quick_miss_and_a_failed_request() {
        let mut config = CacheConfig::new(
            Some("redis://127.0.0.1:1".into()),
            crate::EncryptionKey::generate(),
        );
        config.initiator = "repo-server".into();
        let mut registry = Registry::default();
        let cache = Cache::new(config, &mut registry).unwrap();
        let key = cache.key("manifests", &"x");
        let started = Instant::now();
        assert_eq!(cache.get::<String>(&key).await, None);
        cache.set(&key, &"v", Duration::from_secs(1)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!cache.is_available());
        let stats = cache.stats();
        assert_eq!((stats.misses, stats.errors, stats.skipped), (1, 1, 1));

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"argocd_redis_request_total{initiator="repo-server",failed="true"} 1"#,
            r#"argocd_redis_request_total{initiator="repo-server",failed="false"} 0"#,
            r#"argocd_redis_request_duration_seconds_count{initiator="repo-server"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
