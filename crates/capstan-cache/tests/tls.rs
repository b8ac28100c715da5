//! The cache over TLS (`rediss://`) with the password given apart from the URL, the way Azure
//! Cache for Redis is used (port 6380, an access key with `/`, `+` and `=`): a private
//! `redis-server` with `--tls-port` and `--requirepass`, certificates made by `openssl`.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use capstan_cache::{Cache, CacheConfig, CacheError, RedisOptions};
use futures::StreamExt;

/// Like an Azure access key (base64: `/`, `+`, `=`), plus what else breaks a URL (`@`, `:`,
/// `%2F`, which must reach Redis undecoded).
const PASSWORD: &str = "Az9/k3y+T35t=@:%2F=";
const TTL: Duration = Duration::from_secs(60);

/// A CA, a server certificate it signed (for `127.0.0.1` and `localhost`), and an unrelated CA.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn generate() -> anyhow::Result<Self> {
        let pki = Pki {
            dir: tempfile::tempdir()?,
        };
        for ca in ["ca", "other-ca"] {
            pki.openssl(&format!(
                "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
                 -subj /CN=capstan-test-{ca} \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign \
                 -keyout {ca}.key -out {ca}.crt"
            ))?;
        }
        std::fs::write(
            pki.path("server.ext"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        pki.openssl(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -subj /CN=localhost -keyout server.key -out server.csr",
        )?;
        pki.openssl(
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2 \
             -extfile server.ext -out server.crt",
        )?;
        Ok(pki)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `openssl` in the directory with `args` (split at whitespace).
    fn openssl(&self, args: &str) -> anyhow::Result<()> {
        let output = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .context("running openssl")?;
        if !output.status.success() {
            bail!(
                "openssl {} failed: {}",
                args.split_whitespace().collect::<Vec<_>>().join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

/// A `redis-server` that listens only with TLS (`--port 0`) and requires [`PASSWORD`];
/// killed on drop, whatever the test did.
struct TlsRedis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(pki: &Pki) -> anyhow::Result<Self> {
        let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("redis-server"));
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("redis.log");
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(&binary)
            .args(["--port", "0"])
            .args(["--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(pki.path("server.crt"))
            .arg("--tls-key-file")
            .arg(pki.path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(pki.path("ca.crt"))
            .args(["--tls-auth-clients", "no"])
            .args(["--requirepass", PASSWORD])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = TlsRedis {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("redis-server exited with {status} (built without TLS?): {log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("redis-server's TLS port {port} did not open within 10 s")
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cache on `url` with `password` and `ca_file`; a generous timeout, so that a failure is
/// the TLS or authentication error under test and never a slow handshake on a busy machine.
fn cache(url: &str, password: Option<&str>, ca_file: Option<&Path>) -> Cache {
    support::cache(url, |c: &mut CacheConfig| {
        c.redis_password = password.map(str::to_owned);
        c.tls_ca_file = ca_file.map(Path::to_path_buf);
        c.op_timeout = Duration::from_secs(5);
        c.retry_after = Duration::from_millis(100);
    })
    .0
}

/// The error of a `PING`, which must fail.
async fn ping_error(cache: &Cache) -> String {
    match cache.ping().await {
        Ok(()) => panic!("PING succeeded"),
        Err(e) => {
            let shown = e.to_string();
            eprintln!("PING failed as expected: {shown}");
            assert!(!shown.contains(PASSWORD), "{shown}");
            shown
        }
    }
}

#[tokio::test]
async fn rediss_with_a_ca_file_and_a_separate_password_caches() -> anyhow::Result<()> {
    let pki = Pki::generate()?;
    let server = TlsRedis::start(&pki)?;
    let cache = cache(&server.url(), Some(PASSWORD), Some(&pki.path("ca.crt")));

    cache.ping().await?;
    let key = cache.key("manifests", &("repo", "0123abc", "apps/x"));
    assert_eq!(cache.get::<Vec<String>>(&key).await, None);
    let value = vec!["kind: Secret".to_string(), "kind: ConfigMap".to_string()];
    cache.set(&key, &value, TTL).await;
    assert_eq!(cache.get::<Vec<String>>(&key).await, Some(value));
    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.sets, stats.errors),
        (1, 1, 0),
        "{stats:?}"
    );
    assert!(cache.is_available());

    // Pub/sub runs on its own client, which must carry the CA and the password too.
    let mut updates = cache.subscribe("tls-updates").await?;
    cache.publish("tls-updates", b"argocd/guestbook").await?;
    let got = tokio::time::timeout(Duration::from_secs(5), updates.next()).await?;
    assert_eq!(got.as_deref(), Some(&b"argocd/guestbook"[..]));

    // As a binary builds it from its flags, with a user name in the URL and the password
    // apart: AUTH as Redis' `default` user.
    let cache = Cache::for_component(
        "cache-test",
        RedisOptions {
            url: Some(format!("rediss://default@127.0.0.1:{}", server.port)),
            password: Some(PASSWORD.to_string()),
            tls_ca_file: Some(pki.path("ca.crt")),
        },
        None,
        &mut prometheus_client::registry::Registry::default(),
    )?;
    cache.ping().await?;
    Ok(())
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused() -> anyhow::Result<()> {
    let pki = Pki::generate()?;
    let server = TlsRedis::start(&pki)?;
    let cases = [
        ("the built-in roots", None),
        ("another CA", Some(pki.path("other-ca.crt"))),
    ];
    for (trusting, ca_file) in cases {
        let cache = cache(&server.url(), Some(PASSWORD), ca_file.as_deref());
        let error = ping_error(&cache).await;
        assert!(
            error.contains("invalid peer certificate") && error.contains("UnknownIssuer"),
            "trusting {trusting}: {error}"
        );
        // Callers only see the cache bypassed.
        let key = cache.key("manifests", &"x");
        cache.set(&key, &"v", TTL).await;
        assert_eq!(cache.get::<String>(&key).await, None);
        assert!(!cache.is_available(), "trusting {trusting}");
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_or_missing_password_is_refused() -> anyhow::Result<()> {
    let pki = Pki::generate()?;
    let server = TlsRedis::start(&pki)?;
    let ca = pki.path("ca.crt");

    let wrong = cache(&server.url(), Some("not-the-key"), Some(&ca));
    let error = ping_error(&wrong).await;
    assert!(error.contains("Password authentication failed"), "{error}");
    assert!(!error.contains("not-the-key"), "{error}");

    assert!(!wrong.is_available(), "a refused login marks Redis down");

    // Without a password the connection is made, and every command is refused.
    let missing = cache(&server.url(), None, Some(&ca));
    let error = ping_error(&missing).await;
    assert!(error.contains("NOAUTH"), "{error}");
    assert!(!missing.is_available(), "NOAUTH marks Redis down too");
    Ok(())
}

#[tokio::test]
async fn plain_redis_to_the_tls_port_fails_instead_of_hanging() -> anyhow::Result<()> {
    let pki = Pki::generate()?;
    let server = TlsRedis::start(&pki)?;
    let plain = format!("redis://127.0.0.1:{}", server.port);
    let cache = cache(&plain, Some(PASSWORD), None);
    let started = Instant::now();
    let error = cache.ping().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(6), "{error}");
    assert!(
        matches!(
            error,
            CacheError::Pool(_) | CacheError::Redis(_) | CacheError::Timeout(_)
        ),
        "{error:?}"
    );
    Ok(())
}
