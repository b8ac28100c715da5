//! The crate's error type.
//!
//! Only setup (configuration, keys) and pub/sub return errors to callers: `get`, `set` and
//! `delete` swallow theirs, because a cache failure must never fail a caller.

use std::path::PathBuf;

/// What can go wrong in `capstan-cache`. Messages never contain a key's bytes, a Redis
/// password or a cached value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The encryption key is not 32 bytes, nor the hex or base64 text of 32 bytes.
    #[error("invalid cache encryption key: {reason}")]
    InvalidKey {
        /// Why it was rejected (length, encoding); never the key material.
        reason: String,
    },

    /// The encryption key file could not be read or written.
    #[error("cache encryption key file {}: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The Redis URL could not be parsed or the connection pool not be built. The URL itself
    /// is left out of the message: it may hold a password.
    #[error("invalid Redis configuration: {reason}")]
    InvalidConfig {
        /// Why (scheme, host, pool settings), without the URL.
        reason: String,
    },

    /// The cache is disabled (no Redis URL configured).
    #[error("the cache is disabled (no Redis URL configured)")]
    Disabled,

    /// Redis is considered down after a recent failure; it is tried again after `retry_after`.
    #[error("Redis is unavailable; retrying after the back-off")]
    Unavailable,

    /// A Redis command failed or the connection could not be made.
    #[error("Redis request failed: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),

    /// No connection could be taken from the pool.
    #[error("Redis connection pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),

    /// A Redis call took longer than `op_timeout`.
    #[error("Redis request timed out after {0:?}")]
    Timeout(std::time::Duration),

    /// A value could not be encoded to, or decoded from, JSON (for instance a cached value
    /// of another type). Only the error's category and position are kept: serde_json's
    /// messages quote the offending data, which may be a secret.
    #[error(
        "cache value is not valid JSON for the requested type ({category} error at line {line}, column {column})"
    )]
    Serde {
        /// `"syntax"`, `"data"`, `"eof"` or `"io"`.
        category: &'static str,
        /// Line of the JSON where it failed (1-based, 0 when serializing).
        line: usize,
        /// Column of the JSON where it failed (1-based, 0 when serializing).
        column: usize,
    },

    /// A stored value is malformed, was written with another key, or was tampered with.
    #[error("cache value rejected: {0}")]
    Corrupt(&'static str),

    /// A key's parts could not be serialized to JSON (a map with non-string keys, a failing
    /// `Serialize` impl), so no key can be derived from them.
    #[error("cache key parts cannot be represented as JSON")]
    KeyParts,
}

impl From<serde_json::Error> for CacheError {
    fn from(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        CacheError::Serde {
            category: match e.classify() {
                Category::Io => "io",
                Category::Syntax => "syntax",
                Category::Data => "data",
                Category::Eof => "eof",
            },
            line: e.line(),
            column: e.column(),
        }
    }
}

impl CacheError {
    /// `true` for failures that mean Redis itself is unreachable or unhealthy (connection,
    /// I/O, TLS, timeout, pool, authentication — `NOAUTH` fails every command alike), as
    /// opposed to a bad value or a server's answer to one command. Only these mark Redis as
    /// down.
    pub fn is_connectivity(&self) -> bool {
        match self {
            CacheError::Timeout(_) | CacheError::Pool(_) | CacheError::Unavailable => true,
            CacheError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_refusal()
                    || e.is_connection_dropped()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
                    || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_do_not_quote_the_data() {
        let cases = [
            r#""hunter2""#,
            r#"{"password": "hunter2"}"#,
            r#"["hunter2""#,
            r#"hunter2"#,
        ];
        for json in cases {
            let e: CacheError = serde_json::from_str::<u64>(json).unwrap_err().into();
            let shown = e.to_string();
            assert!(!shown.contains("hunter2"), "{json}: {shown}");
            assert!(!format!("{e:?}").contains("hunter2"), "{json}: {e:?}");
        }
    }

    #[test]
    fn connectivity_classification() {
        use std::time::Duration;
        assert!(CacheError::Timeout(Duration::from_millis(1)).is_connectivity());
        assert!(CacheError::Unavailable.is_connectivity());
        assert!(!CacheError::Corrupt("x").is_connectivity());
        assert!(!CacheError::KeyParts.is_connectivity());
        let refused = deadpool_redis::redis::RedisError::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        ));
        assert!(CacheError::Redis(refused).is_connectivity());
        let answer = deadpool_redis::redis::RedisError::from((
            deadpool_redis::redis::ErrorKind::Server(
                deadpool_redis::redis::ServerErrorKind::ResponseError,
            ),
            "WRONGTYPE",
        ));
        assert!(!CacheError::Redis(answer).is_connectivity());
    }
}
