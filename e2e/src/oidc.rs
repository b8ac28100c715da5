//! A real OpenID Connect provider standing in for Azure AD (Entra ID) in end-to-end tests.
//!
//! [`Idp::start`] runs `e2e/oidc/oidc-idp.js` — the npm package `oidc-provider` (pinned in
//! `e2e/oidc/package.json` / `package-lock.json`) under `node` — on a free loopback port. It is
//! not a fake: discovery, JWKS, the authorization-code flow with PKCE, client authentication
//! and RS256-signed ID tokens are oidc-provider's own. What makes it look like Azure AD:
//!
//! - issuer `http://127.0.0.1:<port>/<tenant>/v2.0`, endpoints `…/oauth2/v2.0/authorize`,
//!   `…/oauth2/v2.0/token`, `…/discovery/v2.0/keys`, `…/oauth2/v2.0/logout`;
//! - ID tokens carry `sub`, `oid`, `tid`, `name`, `preferred_username`, `email`, `nonce` and
//!   `groups` (group object ids, as with `groupMembershipClaims=SecurityGroup`).
//!
//! Clients: the confidential [`Idp::client_id`] / [`Idp::client_secret`]
//! (`client_secret_basic`; [`Idp::post_client_id`] uses `client_secret_post`) with
//! [`IdpOptions::redirect_uris`], and the public, PKCE-only [`Idp::cli_client_id`]
//! (`application_type: native`) with [`IdpOptions::cli_redirect_uris`].
//!
//! Nobody has to type a password: with [`IdpOptions::auto_login`] (the default) the IdP logs in
//! the user named by the authorize request's `login_hint` (username or email; else
//! [`IdpOptions::default_user`], else `alice`) and grants consent, so following redirects with
//! a cookie jar ([`crate::browser::Browser::follow_until`]) goes from the authorize URL straight
//! to the redirect URI. Without it, `/interaction/<uid>` serves a form (`#username`, `#login`)
//! that POSTs `username=<name>` to `/interaction/<uid>/login`.
//!
//! The npm dependencies are installed once per machine by `e2e/scripts/install-deps.sh` into
//! `${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}/oidc-provider` ([`install_dir`]); without them
//! [`Idp::start`] fails and says so.
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use capstan_e2e::oidc::{Idp, IdpOptions};
//! let idp = Idp::start(IdpOptions {
//!     redirect_uris: vec!["http://127.0.0.1:8080/auth/callback".into()],
//!     ..IdpOptions::default()
//! })?;
//! println!("issuer {} (client {} / {})", idp.issuer, idp.client_id, idp.client_secret);
//! # Ok(()) }
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The tenant id in the issuer path when [`IdpOptions::tenant`] is not set.
pub const DEFAULT_TENANT: &str = "72f988bf-0000-4000-8000-000000000001";
/// The confidential client's id when [`IdpOptions::client_id`] is not set.
pub const DEFAULT_CLIENT_ID: &str = "capstan";
/// The confidential client's secret when [`IdpOptions::client_secret`] is not set.
pub const DEFAULT_CLIENT_SECRET: &str = "capstan-secret";
/// The public (CLI) client's id when [`IdpOptions::cli_client_id`] is not set.
pub const DEFAULT_CLI_CLIENT_ID: &str = "capstan-cli";

/// Built-in user `alice` (the default user), member of [`ALICE_GROUP`].
pub const ALICE: &str = "alice";
/// `alice`'s email, also her `preferred_username`.
pub const ALICE_EMAIL: &str = "alice@contoso.test";
/// `alice`'s display name (`name` claim).
pub const ALICE_NAME: &str = "Alice Admin";
/// The group object id in `alice`'s `groups` claim (the "admins" group).
pub const ALICE_GROUP: &str = "a1a1a1a1-0000-4000-8000-000000000001";
/// Built-in user `bob`, member of [`BOB_GROUP`].
pub const BOB: &str = "bob";
/// `bob`'s email, also his `preferred_username`.
pub const BOB_EMAIL: &str = "bob@contoso.test";
/// `bob`'s display name (`name` claim).
pub const BOB_NAME: &str = "Bob Reader";
/// The group object id in `bob`'s `groups` claim (the "readers" group).
pub const BOB_GROUP: &str = "b2b2b2b2-0000-4000-8000-000000000002";

/// How long one start attempt waits for the discovery document. Usually well under a second;
/// in full CI runs on two busy cores node twice stalled before listening (20 s, then 60 s):
/// such an attempt is killed and started again on another port, up to [`START_ATTEMPTS`]
/// times, with its start-up trace in the log.
const START_TIMEOUT: Duration = Duration::from_secs(25);
/// Start attempts (a port taken under us, or a stalled start).
const START_ATTEMPTS: usize = 3;

/// What the IdP is started with. `Default`: the script's default redirect URIs (ports 8080 and
/// 8085 on 127.0.0.1/localhost), built-in users, auto-login, default tenant and clients.
#[derive(Debug, Clone)]
pub struct IdpOptions {
    /// Redirect URIs of the confidential client (and of `<client_id>-post`); empty: the
    /// script's defaults `http://{127.0.0.1,localhost}:8080/auth/callback`.
    pub redirect_uris: Vec<String>,
    /// Redirect URIs of the public CLI client; empty: the script's defaults
    /// `http://{127.0.0.1,localhost}:8085/auth/callback`.
    pub cli_redirect_uris: Vec<String>,
    /// Replaces the built-in users: `{ "<username>": { "email": …, "name": …, "groups": [..] } }`.
    /// Written to a temporary file passed as `OIDC_USERS_FILE`.
    pub users: Option<serde_json::Value>,
    /// Log in without a form (see the module docs). Default `true`.
    pub auto_login: bool,
    /// The user logged in (auto-login) or pre-filled (form) without a `login_hint`; default `alice`.
    pub default_user: Option<String>,
    /// The tenant id in the issuer path; default [`DEFAULT_TENANT`].
    pub tenant: Option<String>,
    /// The confidential client's id; default [`DEFAULT_CLIENT_ID`].
    pub client_id: Option<String>,
    /// The confidential client's secret; default [`DEFAULT_CLIENT_SECRET`].
    pub client_secret: Option<String>,
    /// The public client's id; default [`DEFAULT_CLI_CLIENT_ID`].
    pub cli_client_id: Option<String>,
}

impl Default for IdpOptions {
    fn default() -> Self {
        IdpOptions {
            redirect_uris: Vec::new(),
            cli_redirect_uris: Vec::new(),
            users: None,
            auto_login: true,
            default_user: None,
            tenant: None,
            client_id: None,
            client_secret: None,
            cli_client_id: None,
        }
    }
}

/// A running `oidc-idp.js` on `127.0.0.1:<port>`; killed (with its process group) on drop.
///
/// The node process also exits by itself when the test process dies without dropping this
/// (its stdin is a pipe from the test process; `OIDC_EXIT_ON_STDIN_EOF=1`).
#[derive(Debug)]
pub struct Idp {
    /// `http://127.0.0.1:<port>/<tenant>/v2.0`, exactly as in the discovery document and `iss`.
    pub issuer: String,
    /// The loopback port it listens on.
    pub port: u16,
    /// The tenant id (the `tid` claim, and the issuer's first path segment).
    pub tenant: String,
    /// Confidential client (`client_secret_basic`).
    pub client_id: String,
    /// The secret of [`Idp::client_id`] and [`Idp::post_client_id`].
    pub client_secret: String,
    /// `<client_id>-post`: the same client, authenticating with `client_secret_post`.
    pub post_client_id: String,
    /// Public client (no secret, PKCE required, `application_type: native`).
    pub cli_client_id: String,
    /// Redirect URIs registered for the confidential clients (empty: the script's defaults).
    pub redirect_uris: Vec<String>,
    /// Redirect URIs registered for the CLI client (empty: the script's defaults).
    pub cli_redirect_uris: Vec<String>,
    /// Whether the IdP logs users in without the form.
    pub auto_login: bool,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Idp {
    /// Starts the IdP on a free loopback port and waits (≤ 25 s per attempt, 3 attempts) until its discovery document
    /// is served. Fails with the tail of its log when it exits or does not answer in time,
    /// and with a hint to run `e2e/scripts/install-deps.sh` when oidc-provider is not installed.
    pub fn start(opts: IdpOptions) -> anyhow::Result<Idp> {
        let install = install_dir();
        if !install
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            bail!(
                "oidc-provider is not installed in {}: run e2e/scripts/install-deps.sh",
                install.display()
            );
        }
        let script = script_path();
        if !script.is_file() {
            bail!("{} is missing", script.display());
        }
        let dir = tempfile::Builder::new().prefix("capstan-idp-").tempdir()?;
        let users_file = match &opts.users {
            Some(users) => {
                let file = dir.path().join("users.json");
                std::fs::write(&file, serde_json::to_vec_pretty(users)?)
                    .with_context(|| format!("writing {}", file.display()))?;
                Some(file)
            }
            None => None,
        };
        let tenant = opts
            .tenant
            .clone()
            .unwrap_or_else(|| DEFAULT_TENANT.to_string());
        let client_id = opts
            .client_id
            .clone()
            .unwrap_or_else(|| DEFAULT_CLIENT_ID.to_string());
        let mut idp = Idp {
            issuer: String::new(),
            port: 0,
            post_client_id: format!("{client_id}-post"),
            client_id,
            client_secret: opts
                .client_secret
                .clone()
                .unwrap_or_else(|| DEFAULT_CLIENT_SECRET.to_string()),
            cli_client_id: opts
                .cli_client_id
                .clone()
                .unwrap_or_else(|| DEFAULT_CLI_CLIENT_ID.to_string()),
            tenant,
            redirect_uris: opts.redirect_uris.clone(),
            cli_redirect_uris: opts.cli_redirect_uris.clone(),
            auto_login: opts.auto_login,
            child: None,
            dir,
        };
        // The port is only reserved until we close the probe socket: another process may grab
        // it before node binds it. Then node fails with EADDRINUSE, and we retry elsewhere.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let deadline = Instant::now() + START_TIMEOUT;
            match idp.spawn(&opts, users_file.as_deref(), &install, &script, deadline) {
                Ok(()) => return Ok(idp),
                Err(e) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "oidc-idp: attempt {attempt} on port {} failed, retrying: {e:#}",
                        idp.port
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(
        &mut self,
        opts: &IdpOptions,
        users_file: Option<&Path>,
        install: &Path,
        script: &Path,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        self.stop();
        self.port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        self.issuer = format!("http://127.0.0.1:{}/{}/v2.0", self.port, self.tenant);
        let log_path = self.log_path();
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
        let mut cmd = Command::new(&node);
        cmd.arg(script).current_dir(install);
        // Knobs of the caller's environment must not leak into the test's IdP.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OIDC_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("OIDC_PORT", self.port.to_string())
            .env("OIDC_HOST", "127.0.0.1")
            .env("OIDC_BIND", "127.0.0.1")
            .env("OIDC_TENANT", &self.tenant)
            .env("OIDC_CLIENT_ID", &self.client_id)
            .env("OIDC_CLIENT_SECRET", &self.client_secret)
            .env("OIDC_CLI_CLIENT_ID", &self.cli_client_id)
            .env("OIDC_AUTO_LOGIN", if opts.auto_login { "1" } else { "0" })
            .env("OIDC_EXIT_ON_STDIN_EOF", "1")
            .env("OIDC_TRACE_START", "1");
        if !opts.redirect_uris.is_empty() {
            cmd.env("OIDC_REDIRECT_URIS", opts.redirect_uris.join(","));
        }
        if !opts.cli_redirect_uris.is_empty() {
            cmd.env("OIDC_CLI_REDIRECT_URIS", opts.cli_redirect_uris.join(","));
        }
        if let Some(user) = &opts.default_user {
            cmd.env("OIDC_DEFAULT_USER", user);
        }
        if let Some(file) = users_file {
            cmd.env("OIDC_USERS_FILE", file);
        }
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} {} (is Node.js installed?)",
                    node.to_string_lossy(),
                    script.display()
                )
            })?;
        self.child = Some(child);

        let path = format!("/{}/v2.0/.well-known/openid-configuration", self.tenant);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                bail!(
                    "oidc-idp exited with {status} before serving {}:\n{}",
                    self.discovery_url(),
                    self.log_tail()
                );
            }
            if http_ok(self.port, &path) {
                let took = START_TIMEOUT
                    .saturating_sub(deadline.saturating_duration_since(Instant::now()));
                if took > Duration::from_secs(5) {
                    eprintln!("oidc-idp: serving after {took:?} (a busy machine)");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                bail!(
                    "oidc-idp did not serve {} within {START_TIMEOUT:?}:\n{}",
                    self.discovery_url(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `http://127.0.0.1:<port>`: the server root (interaction pages live at `/interaction/…`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// `<issuer>/oauth2/v2.0/authorize` (also in the discovery document).
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/authorize", self.issuer)
    }

    /// `<issuer>/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.issuer)
    }

    /// `<issuer>/discovery/v2.0/keys` (JWKS).
    pub fn jwks_uri(&self) -> String {
        format!("{}/discovery/v2.0/keys", self.issuer)
    }

    /// `<issuer>/oidc/userinfo`.
    pub fn userinfo_endpoint(&self) -> String {
        format!("{}/oidc/userinfo", self.issuer)
    }

    /// `<issuer>/oauth2/v2.0/logout` (RP-initiated logout).
    pub fn end_session_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/logout", self.issuer)
    }

    /// `http://127.0.0.1:<port>/interaction/`: the prefix of the login/consent pages, e.g. a
    /// `stop_prefix` for [`crate::browser::Browser::follow_until`] in form mode.
    pub fn interaction_prefix(&self) -> String {
        format!("{}/interaction/", self.base_url())
    }

    /// The node process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the IdP printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("oidc-idp.log")
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        if tail.trim().is_empty() {
            format!("(empty log {})", self.log_path().display())
        } else {
            tail
        }
    }

    /// Kills the IdP's process group (SIGKILL) and reaps it. Idempotent; also done on drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pgid) = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `oid` (and `sub`) the IdP gives `username`: a GUID-shaped string from SHA-256 of the
/// name, exactly as `oidFor` in `oidc-idp.js`.
pub fn oid_for(username: &str) -> String {
    let digest = Sha256::digest(username.as_bytes());
    let h: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// `${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}`, as in `e2e/scripts/install-deps.sh`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("CAPSTAN_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/capstan")
        }
    }
}

/// `<cache_dir>/oidc-provider`: where `install-deps.sh` puts the IdP's `node_modules`.
pub fn install_dir() -> PathBuf {
    cache_dir().join("oidc-provider")
}

/// The project's `e2e/oidc/oidc-idp.js`.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc/oidc-idp.js")
}

/// A PKCE pair `(code_verifier, code_challenge)` for `code_challenge_method=S256`.
pub fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    let verifier = random_token();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// 32 random bytes, base64url without padding (for `state`, `nonce`, PKCE verifiers).
pub fn random_token() -> String {
    use base64::Engine as _;
    use std::hash::BuildHasher;
    let mut bytes = Vec::with_capacity(32);
    for i in 0u8..4 {
        let state = std::collections::hash_map::RandomState::new();
        bytes.extend_from_slice(
            &state
                .hash_one((i, std::time::SystemTime::now()))
                .to_le_bytes(),
        );
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims (payload) of a JWT, WITHOUT verifying its signature.
pub fn jwt_claims(token: &str) -> anyhow::Result<serde_json::Value> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .context("not a JWT (no payload segment)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .context("JWT payload is not base64url")?;
    serde_json::from_slice(&bytes).context("JWT payload is not JSON")
}

/// `true` when `GET <path>` on `127.0.0.1:<port>` answers 200.
fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut status = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut status).is_ok()
        && status.starts_with(b"HTTP/1.")
        && &status[9..12] == b"200"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_matches_the_script() {
        // Printed by `node oidc-idp.js selftest` for alice.
        assert_eq!(oid_for(ALICE), "2bd806c9-7f0e-40af-8a1f-c3328fa763a9");
    }

    #[test]
    fn pkce_and_jwt_helpers() {
        let (verifier, challenge) = pkce_pair();
        assert_eq!(verifier.len(), 43);
        assert_eq!(challenge.len(), 43);
        assert_ne!(random_token(), random_token());
        // RFC 7636 appendix B.
        use base64::Engine as _;
        let c = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(
            b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ));
        assert_eq!(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let claims = jwt_claims("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").unwrap();
        assert_eq!(claims["sub"], "x");
    }
}
