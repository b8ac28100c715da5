//! The cache's command-line flags, the same in every binary: `--redis-url`, `--redis-password`,
//! `--redis-ca-file` and `--cache-key-file`, each with the binary's own environment variable
//! (`CAPSTAN_<COMPONENT>_REDIS_URL`, ...). clap needs those names as constants, so
//! [`cache_args!`](crate::cache_args) writes the struct once per binary.

/// Defines `pub struct CacheArgs` (a `clap::Args` group to `#[command(flatten)]`) whose flags
/// read the environment variables `<prefix>_REDIS_URL`, `<prefix>_REDIS_PASSWORD`,
/// `<prefix>_REDIS_CA_FILE` and `<prefix>_CACHE_KEY_FILE`, with
/// [`redis_options`](#method.redis_options) for [`Cache::for_component`](crate::Cache::for_component).
/// The calling crate must depend on `clap` (with `derive` and `env`).
///
/// ```ignore
/// capstan_cache::cache_args!("CAPSTAN_API_SERVER");
///
/// #[derive(clap::Parser)]
/// struct Args {
///     #[command(flatten)]
///     cache: CacheArgs,
/// }
/// ```
#[macro_export]
macro_rules! cache_args {
    ($prefix:literal) => {
        /// The shared Redis cache (see `capstan_cache::cache_args!`).
        #[derive(Clone, Debug, ::clap::Args)]
        pub struct CacheArgs {
            /// Redis URL of the shared cache (`redis://host:port`, `rediss://` for TLS). Without
            /// it nothing is shared through Redis.
            #[arg(long, env = concat!($prefix, "_REDIS_URL"))]
            pub redis_url: Option<String>,
            /// Redis password when it is not in the URL (an Azure Cache for Redis access key):
            /// taken verbatim, so `/`, `+` and `=` need no percent-encoding.
            #[arg(long, env = concat!($prefix, "_REDIS_PASSWORD"), hide_env_values = true)]
            pub redis_password: Option<String>,
            /// PEM file of the CA certificates that sign the Redis server's certificate
            /// (`rediss://`), trusted instead of the built-in Mozilla roots; read at start.
            #[arg(long, env = concat!($prefix, "_REDIS_CA_FILE"), value_name = "FILE")]
            pub redis_ca_file: Option<::std::path::PathBuf>,
            /// File holding the 32-byte key that encrypts cache values (hex or base64). Every
            /// component must have the same key to read what the others write; without it this
            /// process makes its own.
            #[arg(long, env = concat!($prefix, "_CACHE_KEY_FILE"), value_name = "FILE")]
            pub cache_key_file: Option<::std::path::PathBuf>,
        }

        impl CacheArgs {
            /// The Redis connection the flags describe.
            pub fn redis_options(&self) -> $crate::RedisOptions {
                $crate::RedisOptions {
                    url: self.redis_url.clone(),
                    password: self.redis_password.clone(),
                    tls_ca_file: self.redis_ca_file.clone(),
                }
            }
        }
    };
}
