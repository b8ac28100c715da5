//! [`CacheConfig`] and the value encryption key, [`EncryptionKey`].

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::CacheError;

/// The default key prefix. Bump the version when the key or value format changes, so old and
/// new processes sharing one Redis never read each other's entries.
pub const DEFAULT_PREFIX: &str = "capstan:v1";
/// The default limit on one Redis call (pool checkout, connect and command).
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);
/// The default time Redis is skipped after a failure before it is tried again.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);
/// The default maximum number of pooled Redis connections.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How to reach Redis and how to protect what goes there.
///
/// Build it with [`CacheConfig::new`] and override fields as needed; every duration has a
/// short default because a slow cache is worse than none.
#[derive(Clone)]
pub struct CacheConfig {
    /// `redis://[user[:password]@]host:port[/db]`, or `rediss://…` for TLS (Azure Cache for
    /// Redis: `rediss://<name>.redis.cache.windows.net:6380`); `None` disables the cache:
    /// every `get` misses and every `set` is a no-op. The `#insecure` fragment (no certificate
    /// verification) is refused.
    pub redis_url: Option<String>,
    /// The password, when it is not in the URL: taken as is, so an Azure access key with `/`,
    /// `+` or `=` needs no percent-encoding. Combined with the URL's user name, if any. Giving
    /// a password both here and in the URL is a configuration error. Never logged.
    pub redis_password: Option<String>,
    /// With a `rediss://` URL: a PEM file of the CA certificates that sign the server's
    /// certificate, trusted *instead of* the built-in Mozilla roots (a private CA, a
    /// self-signed server). Read once, when the cache is built. `None`: the Mozilla roots,
    /// which Azure Cache for Redis' certificates chain to.
    pub tls_ca_file: Option<PathBuf>,
    /// The prefix of every key name, default [`DEFAULT_PREFIX`] (`capstan:v1`).
    pub prefix: String,
    /// The key that encrypts every value. Every process sharing the Redis must use the same.
    pub key: EncryptionKey,
    /// The limit on each Redis call, default 500 ms. A call that takes longer counts as a
    /// failure and marks Redis down.
    pub op_timeout: Duration,
    /// After a failure, Redis is skipped (immediate miss, no-op set) for this long and then
    /// tried again, default 2 s.
    pub retry_after: Duration,
    /// The `initiator` label of `argocd_redis_request_total`, e.g. `"repo-server"`.
    pub initiator: String,
    /// The maximum number of pooled connections, default [`DEFAULT_POOL_SIZE`]. Connections
    /// are multiplexed, so a few serve many concurrent requests.
    pub pool_size: usize,
}

impl CacheConfig {
    /// A configuration with the defaults: prefix `capstan:v1`, 500 ms operation timeout, 2 s
    /// retry back-off, initiator `"capstan"`.
    pub fn new(redis_url: Option<String>, key: EncryptionKey) -> Self {
        CacheConfig {
            redis_url,
            redis_password: None,
            tls_ca_file: None,
            prefix: DEFAULT_PREFIX.to_string(),
            key,
            op_timeout: DEFAULT_OP_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            initiator: "capstan".to_string(),
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(redact_url).as_deref(),
            )
            .field(
                "redis_password",
                &self.redis_password.as_ref().map(|_| "<redacted>"),
            )
            .field("tls_ca_file", &self.tls_ca_file)
            .field("prefix", &self.prefix)
            .field("key", &self.key)
            .field("op_timeout", &self.op_timeout)
            .field("retry_after", &self.retry_after)
            .field("initiator", &self.initiator)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// How a component binary reaches Redis: its `--redis-url`, `--redis-password` and
/// `--redis-ca-file` flags (see [`Cache::for_component`](crate::Cache::for_component) and the
/// fields of the same meaning in [`CacheConfig`]). `Debug` hides the password.
#[derive(Clone, Default)]
pub struct RedisOptions {
    /// [`CacheConfig::redis_url`]; `None` disables the cache.
    pub url: Option<String>,
    /// [`CacheConfig::redis_password`].
    pub password: Option<String>,
    /// [`CacheConfig::tls_ca_file`].
    pub tls_ca_file: Option<PathBuf>,
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.url.as_deref().map(redact_url).as_deref())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

/// `url` with any `user:password@` replaced by `***@`, for logs and `Debug`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable URL>".to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

/// A 256-bit key for the ChaCha20-Poly1305 encryption of cache values.
///
/// `Debug` shows only a short fingerprint, never the key; the bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        // The OS generator failing is an unrecoverable platform fault; nothing sensible can
        // be encrypted without it.
        getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
        EncryptionKey(bytes)
    }

    /// Parses 32 raw bytes, or the hex (64 digits) or base64 (standard or URL-safe, padded
    /// or not) text of 32 bytes. Surrounding whitespace of text is ignored, so a key file may
    /// end with a newline.
    pub fn from_bytes(input: &[u8]) -> Result<Self, CacheError> {
        if let Ok(raw) = <[u8; 32]>::try_from(input) {
            return Ok(EncryptionKey(raw));
        }
        let text = input.trim_ascii();
        if text.is_empty() {
            return Err(invalid_key("it is empty"));
        }
        if text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit) {
            let mut raw = [0u8; 32];
            hex::decode_to_slice(text, &mut raw).map_err(|_| invalid_key("it is not valid hex"))?;
            return Ok(EncryptionKey(raw));
        }
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            if let Ok(mut decoded) = engine.decode(text) {
                let parsed = <[u8; 32]>::try_from(decoded.as_slice()).map(EncryptionKey);
                decoded.zeroize();
                match parsed {
                    Ok(key) => return Ok(key),
                    Err(_) => {
                        return Err(invalid_key(
                            "its base64 text does not decode to exactly 32 bytes",
                        ));
                    }
                }
            }
        }
        Err(invalid_key(&format!(
            "it is {} bytes long and neither 32 raw bytes nor the hex or base64 text of 32 bytes",
            input.len()
        )))
    }

    /// Reads the key from `path`; when the file does not exist, generates a key and writes
    /// it there as hex (mode 0600 on Unix, parent directories created). With no path, returns
    /// a fresh key that lives only as long as the process: fine for one replica, but every
    /// process sharing a Redis must be given the same key to read each other's entries.
    pub fn load_or_generate(path: Option<&Path>) -> Result<Self, CacheError> {
        let Some(path) = path else {
            return Ok(Self::generate());
        };
        let key_file = |source| CacheError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read(path) {
            Ok(mut bytes) => {
                let key = Self::from_bytes(&bytes);
                bytes.zeroize();
                return key;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_file(e)),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(key_file)?;
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                let mut text = hex::encode(key.0);
                text.push('\n');
                let written = file
                    .write_all(text.as_bytes())
                    .and_then(|()| file.sync_all());
                text.zeroize();
                written.map_err(key_file)?;
                Ok(key)
            }
            // Another process created it first: use theirs, so both agree.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut bytes = std::fs::read(path).map_err(key_file)?;
                let key = Self::from_bytes(&bytes);
                bytes.zeroize();
                key
            }
            Err(e) => Err(key_file(e)),
        }
    }

    /// The raw key, for the cipher.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A one-byte identifier of this key stored in front of every value, so a value written
    /// with another key is recognised as such (and not reported as tampering). Not secret:
    /// one byte of a hash says nothing useful about the key.
    pub(crate) fn id(&self) -> u8 {
        self.fingerprint()[0]
    }

    /// The first 4 bytes of SHA-256("capstan-cache key id" ‖ key).
    fn fingerprint(&self) -> [u8; 4] {
        let digest = Sha256::new()
            .chain_update(b"capstan-cache key id")
            .chain_update(self.0)
            .finalize();
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EncryptionKey(<redacted>, id {})",
            hex::encode(self.fingerprint())
        )
    }
}

impl Drop for EncryptionKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn invalid_key(reason: &str) -> CacheError {
    CacheError::InvalidKey {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: [u8; 32] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        25, 26, 27, 28, 29, 30, 250,
    ];

    #[test]
    fn parses_raw_hex_and_base64() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(RAW);
        let b64_url_nopad = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(RAW);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("raw", RAW.to_vec()),
            ("hex lower", hex::encode(RAW).into_bytes()),
            ("hex upper", hex::encode_upper(RAW).into_bytes()),
            (
                "hex + newline",
                format!("{}\n", hex::encode(RAW)).into_bytes(),
            ),
            ("base64", b64.clone().into_bytes()),
            ("base64 + spaces", format!("  {b64}\r\n").into_bytes()),
            ("base64 url, no pad", b64_url_nopad.into_bytes()),
        ];
        for (name, input) in cases {
            let key = EncryptionKey::from_bytes(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(key.as_bytes(), &RAW, "{name}");
        }
    }

    #[test]
    fn rejects_wrong_lengths_and_encodings() {
        let short_b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("whitespace", b" \n".to_vec()),
            ("31 raw bytes", vec![1; 31]),
            ("33 raw bytes", vec![1; 33]),
            ("hex of 31 bytes", hex::encode([1u8; 31]).into_bytes()),
            ("64 chars, not hex", vec![b'z'; 64]),
            ("base64 of 16 bytes", short_b64.into_bytes()),
            ("garbage", b"not a key at all!".to_vec()),
        ];
        for (name, input) in cases {
            match EncryptionKey::from_bytes(&input) {
                Err(CacheError::InvalidKey { reason }) => {
                    assert!(!reason.is_empty(), "{name}");
                }
                other => panic!("{name}: expected InvalidKey, got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_masks_the_key() {
        let key = EncryptionKey::from_bytes(&RAW).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"), "{shown}");
        assert!(!shown.contains(&hex::encode(RAW)), "{shown}");
        assert!(!shown.contains(&hex::encode(&RAW[..4])), "{shown}");
        let mut config = CacheConfig::new(Some("redis://:s3cret@127.0.0.1:6379/0".into()), key);
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redis://***@127.0.0.1:6379/0"), "{shown}");
        config.redis_password = Some("a/b+c=".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("a/b+c="), "{shown}");
        assert!(
            shown.contains("redis_password: Some(\"<redacted>\")"),
            "{shown}"
        );
        let options = RedisOptions {
            url: Some("rediss://:s3cret@h:6380".into()),
            password: Some("a/b+c=".into()),
            tls_ca_file: None,
        };
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("a/b+c="),
            "{shown}"
        );
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(EncryptionKey::generate(), EncryptionKey::generate());
    }

    #[test]
    fn load_or_generate_persists_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/cache.key");
        let first = EncryptionKey::load_or_generate(Some(&path)).unwrap();
        let second = EncryptionKey::load_or_generate(Some(&path)).unwrap();
        assert_eq!(first, second);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64, "stored as hex");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "bad").unwrap();
        assert!(matches!(
            EncryptionKey::load_or_generate(Some(&path)),
            Err(CacheError::InvalidKey { .. })
        ));
        // No path: an ephemeral key.
        assert_ne!(
            EncryptionKey::load_or_generate(None).unwrap(),
            EncryptionKey::load_or_generate(None).unwrap()
        );
    }

    #[test]
    fn redacts_urls() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://u:p@h:1/2", "redis://***@h:1/2"),
            ("rediss://:p@h", "rediss://***@h"),
            ("nonsense", "<unparsable URL>"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want);
        }
    }
}
