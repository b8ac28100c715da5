//! The local config file of contexts, in the format of argocd's `~/.config/argocd/config`:
//!
//! ```yaml
//! contexts:
//! - name: cd.example.com
//!   server: cd.example.com
//!   user: cd.example.com
//! current-context: cd.example.com
//! servers:
//! - server: cd.example.com
//!   plain-text: true
//! - server: cd.example.com:443
//!   grpc-web: true
//!   grpc-web-root-path: argo-cd
//! users:
//! - name: cd.example.com
//!   auth-token: eyJhbGciOi...
//! ```
//!
//! A context names a server and a user (whose `auth-token` is sent to that server; an SSO
//! login also keeps the identity provider's `refresh-token` there, as argocd does). A server's
//! `grpc-web` and `grpc-web-root-path` make every command talk gRPC-web to it (argocd's keys,
//! written by `capstan login --grpc-web`). Fields Capstan does not use (`insecure`,
//! `prompts-enabled`, ...) are kept as they are, so a file shared with argocd survives a round
//! trip. The file holds tokens, so it is always written
//! with mode 0600 (its directory 0700), atomically (a temporary file renamed over it).
//!
//! [`LocalConfig::resolve`] decides which server and token a command uses; it is pure and
//! tested with tables of cases.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

/// The config file: contexts, servers and users.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LocalConfig {
    /// Named pairs of a server and a user.
    #[serde(default)]
    pub contexts: Vec<ContextRef>,
    /// The context commands use unless `--context` or `--server` says otherwise.
    #[serde(default)]
    pub current_context: String,
    /// Connection settings per server address.
    #[serde(default)]
    pub servers: Vec<Server>,
    /// Credentials per user.
    #[serde(default)]
    pub users: Vec<User>,
    /// Keys Capstan does not use, kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A context: a server and the user to talk to it as.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ContextRef {
    /// The context's name (by default the server address).
    pub name: String,
    /// The server address, a key of [`LocalConfig::servers`].
    pub server: String,
    /// The user, a key of [`LocalConfig::users`].
    pub user: String,
    /// Keys Capstan does not use, kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// How to connect to one server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Server {
    /// The server address as given to `capstan login`.
    pub server: String,
    /// Plaintext HTTP/2 (no TLS).
    #[serde(default, skip_serializing_if = "is_false")]
    pub plain_text: bool,
    /// Talk gRPC-web (HTTP/1.1) to this server (argocd's `grpc-web`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub grpc_web: bool,
    /// The path prefix of the server's gRPC-web endpoint (argocd's `grpc-web-root-path`; it
    /// implies gRPC-web when not empty). Kept as written, `''` included (argocd writes it so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_web_root_path: Option<String>,
    /// Keys Capstan does not use (`insecure`, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The credentials of one user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    /// The user's name (by default the context's name).
    pub name: String,
    /// The bearer token sent with every call.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_token: String,
    /// Keys Capstan does not use (`refresh-token`, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The user key of the identity provider's refresh token (argocd's `refresh-token`).
const REFRESH_TOKEN: &str = "refresh-token";

fn is_false(value: &bool) -> bool {
    !*value
}

/// What a command connects to: the outcome of [`LocalConfig::resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The server address.
    pub server: String,
    /// The config asks for plaintext for this server.
    pub plain_text: bool,
    /// The config asks for gRPC-web for this server (`grpc-web: true`).
    pub grpc_web: bool,
    /// The config's gRPC-web root path for this server, as written (maybe empty).
    pub grpc_web_root_path: Option<String>,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// The context the server came from, if any.
    pub context: Option<String>,
}

/// The default config path: `$XDG_CONFIG_HOME/capstan/config`, else
/// `$HOME/.config/capstan/config`.
pub(crate) fn default_path(
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(xdg) = xdg_config_home.filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(xdg).join("capstan").join("config"));
    }
    home.filter(|dir| !dir.is_empty()).map(|home| {
        PathBuf::from(home)
            .join(".config")
            .join("capstan")
            .join("config")
    })
}

/// The config path: `--config` / `CAPSTAN_CONFIG`, else [`default_path`] from the process
/// environment.
pub(crate) fn path(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = flag {
        return Ok(path.to_owned());
    }
    default_path(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
    .context("cannot tell where the config file is: set HOME, XDG_CONFIG_HOME or --config")
}

impl LocalConfig {
    /// Parses a config file's text; `path` names it in errors.
    ///
    /// # Errors
    ///
    /// Malformed YAML, naming the path and line.
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str(text)
            .with_context(|| format!("parsing the config file {}", path.display()))
    }

    /// Reads the config file; a missing file is an empty config.
    ///
    /// # Errors
    ///
    /// An unreadable or malformed file, naming the path.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => {
                Err(err).with_context(|| format!("reading the config file {}", path.display()))
            }
        }
    }

    /// The file's text.
    ///
    /// # Errors
    ///
    /// Only if serialisation fails, which it does not for these types.
    pub fn to_yaml(&self) -> anyhow::Result<String> {
        Ok(serde_yaml_ng::to_string(self)?)
    }

    /// Writes the config file with mode 0600 (creating its directory with mode 0700),
    /// atomically: a temporary file in the same directory renamed over the old one.
    ///
    /// # Errors
    ///
    /// The directory or file cannot be written, naming the path.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = self.to_yaml()?;
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        create_private_dir(dir)
            .with_context(|| format!("creating the config directory {}", dir.display()))?;
        let file_name = path
            .file_name()
            .with_context(|| format!("the config path {} names no file", path.display()))?;
        let mut temp_name = OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp = dir.join(temp_name);
        write_private(&temp, text.as_bytes())
            .and_then(|()| std::fs::rename(&temp, path))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&temp);
            })
            .with_context(|| format!("writing the config file {}", path.display()))
    }

    /// The context named `name`.
    pub fn context(&self, name: &str) -> Option<&ContextRef> {
        self.contexts.iter().find(|context| context.name == name)
    }

    /// The server entry for `address`.
    pub fn server(&self, address: &str) -> Option<&Server> {
        self.servers.iter().find(|server| server.server == address)
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|user| user.name == name)
    }

    /// Decides the server and token a command uses.
    ///
    /// - The context is `--context`, else the current context (either must exist).
    /// - The server is `--server`, else the context's.
    /// - The token is `--auth-token`, else the context's user's token when the context is for
    ///   that server, else the token of any context for that server. A token is never sent to
    ///   a server it was not issued for.
    ///
    /// # Errors
    ///
    /// An unknown context, or no server at all.
    pub fn resolve(
        &self,
        server_flag: Option<&str>,
        context_flag: Option<&str>,
        token_flag: Option<&str>,
    ) -> anyhow::Result<Resolved> {
        let context = match context_flag {
            Some(name) => Some(
                self.context(name)
                    .with_context(|| format!("context '{name}' does not exist"))?,
            ),
            None if self.current_context.is_empty() => None,
            None => Some(self.context(&self.current_context).with_context(|| {
                format!(
                    "the current context '{}' does not exist; switch with `capstan context NAME`",
                    self.current_context
                )
            })?),
        };
        let server = match (server_flag, context) {
            (Some(server), _) => server.to_owned(),
            (None, Some(context)) => context.server.clone(),
            (None, None) => bail!(
                "no Capstan API server given: pass --server (or CAPSTAN_SERVER), or log in with \
                 `capstan login SERVER`"
            ),
        };
        let token = match token_flag {
            Some(token) => Some(token.to_owned()),
            None => context
                .filter(|context| context.server == server)
                .into_iter()
                .chain(
                    self.contexts
                        .iter()
                        .filter(|context| context.server == server),
                )
                .filter_map(|context| self.user(&context.user))
                .map(|user| user.auth_token.clone())
                .find(|token| !token.is_empty()),
        };
        let entry = self.server(&server);
        Ok(Resolved {
            plain_text: entry.is_some_and(|entry| entry.plain_text),
            grpc_web: entry.is_some_and(|entry| entry.grpc_web),
            grpc_web_root_path: entry.and_then(|entry| entry.grpc_web_root_path.clone()),
            context: context
                .filter(|context| context.server == server)
                .map(|context| context.name.clone()),
            server,
            token,
        })
    }

    /// Records a login: the server entry, the user `name` with `token`, and the context
    /// `name` pointing at both, which becomes the current context. A refresh token of an
    /// earlier login is forgotten (an SSO login sets its own with
    /// [`LocalConfig::set_refresh_token`]).
    pub fn upsert_login(&mut self, name: &str, server: &str, plain_text: bool, token: &str) {
        match self.servers.iter_mut().find(|entry| entry.server == server) {
            Some(entry) => entry.plain_text = plain_text,
            None => self.servers.push(Server {
                server: server.to_owned(),
                plain_text,
                ..Server::default()
            }),
        }
        match self.users.iter_mut().find(|user| user.name == name) {
            Some(user) => {
                user.auth_token = token.to_owned();
                user.extra.remove(REFRESH_TOKEN);
            }
            None => self.users.push(User {
                name: name.to_owned(),
                auth_token: token.to_owned(),
                extra: BTreeMap::new(),
            }),
        }
        match self
            .contexts
            .iter_mut()
            .find(|context| context.name == name)
        {
            Some(context) => {
                context.server = server.to_owned();
                context.user = name.to_owned();
            }
            None => self.contexts.push(ContextRef {
                name: name.to_owned(),
                server: server.to_owned(),
                user: name.to_owned(),
                extra: BTreeMap::new(),
            }),
        }
        name.clone_into(&mut self.current_context);
    }

    /// Records how to reach `server` over gRPC-web (`capstan login --grpc-web`): its `grpc-web`
    /// and `grpc-web-root-path` keys. A root path is stored only when given; nothing happens
    /// when there is no such server entry.
    pub fn set_grpc_web(&mut self, server: &str, grpc_web: bool, root_path: Option<&str>) {
        for entry in self
            .servers
            .iter_mut()
            .filter(|entry| entry.server == server)
        {
            entry.grpc_web = grpc_web;
            if let Some(root_path) = root_path {
                entry.grpc_web_root_path = Some(root_path.to_owned());
            }
        }
    }

    /// Sets (or, with `None`, removes) the `refresh-token` of the user `name`: the identity
    /// provider's refresh token of an SSO login, kept as argocd keeps it. Nothing happens when
    /// there is no such user.
    pub fn set_refresh_token(&mut self, name: &str, refresh_token: Option<&str>) {
        for user in self.users.iter_mut().filter(|user| user.name == name) {
            match refresh_token.filter(|token| !token.is_empty()) {
                Some(token) => {
                    user.extra
                        .insert(REFRESH_TOKEN.to_owned(), Value::String(token.to_owned()));
                }
                None => {
                    user.extra.remove(REFRESH_TOKEN);
                }
            }
        }
    }

    /// Forgets the token of the context `name`'s user (argocd's `logout`); the context stays.
    ///
    /// # Errors
    ///
    /// No such context.
    pub fn remove_token(&mut self, name: &str) -> anyhow::Result<()> {
        let user = self
            .context(name)
            .with_context(|| format!("context '{name}' does not exist"))?
            .user
            .clone();
        for entry in self.users.iter_mut().filter(|entry| entry.name == user) {
            entry.auth_token.clear();
            entry.extra.remove(REFRESH_TOKEN);
        }
        Ok(())
    }

    /// Makes `name` the current context.
    ///
    /// # Errors
    ///
    /// No such context.
    pub fn switch(&mut self, name: &str) -> anyhow::Result<()> {
        if self.context(name).is_none() {
            bail!("context '{name}' does not exist");
        }
        name.clone_into(&mut self.current_context);
        Ok(())
    }

    /// Deletes the context `name`, and its user and server when no other context uses them.
    /// Deleting the current context leaves no current context.
    ///
    /// # Errors
    ///
    /// No such context.
    pub fn delete_context(&mut self, name: &str) -> anyhow::Result<()> {
        let Some(index) = self
            .contexts
            .iter()
            .position(|context| context.name == name)
        else {
            bail!("context '{name}' does not exist");
        };
        let removed = self.contexts.remove(index);
        if !self
            .contexts
            .iter()
            .any(|context| context.user == removed.user)
        {
            self.users.retain(|user| user.name != removed.user);
        }
        if !self
            .contexts
            .iter()
            .any(|context| context.server == removed.server)
        {
            self.servers
                .retain(|server| server.server != removed.server);
        }
        if self.current_context == name {
            self.current_context.clear();
        }
        Ok(())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A file left over from a crashed run may have other permissions; `mode` only applies
    // to new files.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};

    use pretty_assertions::assert_eq;

    use super::{LocalConfig, Resolved, default_path};

    /// An argocd config file, with fields Capstan does not use.
    const ARGOCD_CONFIG: &str = "\
contexts:
- name: cd.example.com
  server: cd.example.com
  user: cd.example.com
- name: staging
  server: staging.example.com:443
  user: staging
- name: other-user
  server: cd.example.com
  user: other
current-context: cd.example.com
prompts-enabled: false
servers:
- grpc-web-root-path: ''
  plain-text: true
  server: cd.example.com
- server: staging.example.com:443
  insecure: true
users:
- auth-token: token-a
  name: cd.example.com
  refresh-token: refresh-a
- auth-token: token-s
  name: staging
- auth-token: token-o
  name: other
";

    fn config() -> LocalConfig {
        LocalConfig::parse(Path::new("config"), ARGOCD_CONFIG).expect("valid config")
    }

    #[test]
    fn argocd_files_round_trip() {
        let config = config();
        assert_eq!(config.contexts.len(), 3);
        assert!(config.server("cd.example.com").expect("server").plain_text);
        assert_eq!(config.user("staging").expect("user").auth_token, "token-s");
        let text = config.to_yaml().expect("serialises");
        let again = LocalConfig::parse(Path::new("config"), &text).expect("re-parses");
        assert_eq!(again, config);
        // Unused keys survive.
        for key in [
            "prompts-enabled",
            "grpc-web-root-path",
            "insecure: true",
            "refresh-token",
        ] {
            assert!(text.contains(key), "{key} missing from\n{text}");
        }
    }

    #[test]
    fn empty_and_missing_files_are_empty_configs() {
        assert_eq!(
            LocalConfig::parse(Path::new("c"), "\n").expect("empty"),
            LocalConfig::default()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            LocalConfig::load(&dir.path().join("nope")).expect("missing"),
            LocalConfig::default()
        );
        let err = LocalConfig::parse(Path::new("my/config"), "contexts: {\n").expect_err("bad");
        assert!(format!("{err:#}").starts_with("parsing the config file my/config"));
    }

    #[test]
    fn resolution_picks_server_and_token() {
        let config = config();
        let resolved = |server: Option<&str>, context: Option<&str>, token: Option<&str>| {
            config
                .resolve(server, context, token)
                .map_err(|err| format!("{err:#}"))
        };
        let ok = |server: &str, plain_text: bool, token: Option<&str>, context: Option<&str>| {
            Ok(Resolved {
                server: server.to_owned(),
                plain_text,
                grpc_web: false,
                // The file's `grpc-web-root-path: ''` for cd.example.com, as written.
                grpc_web_root_path: (server == "cd.example.com").then(String::new),
                token: token.map(str::to_owned),
                context: context.map(str::to_owned),
            })
        };
        let cases = [
            // The current context.
            (
                (None, None, None),
                ok(
                    "cd.example.com",
                    true,
                    Some("token-a"),
                    Some("cd.example.com"),
                ),
            ),
            // Another context.
            (
                (None, Some("staging"), None),
                ok(
                    "staging.example.com:443",
                    false,
                    Some("token-s"),
                    Some("staging"),
                ),
            ),
            // --server of another context: that context's token, never the current one's.
            (
                (Some("staging.example.com:443"), None, None),
                ok("staging.example.com:443", false, Some("token-s"), None),
            ),
            // --server unknown: no token.
            (
                (Some("new:8080"), None, None),
                ok("new:8080", false, None, None),
            ),
            // --auth-token wins.
            (
                (None, Some("other-user"), Some("flag")),
                ok("cd.example.com", true, Some("flag"), Some("other-user")),
            ),
            // The context's own user first.
            (
                (None, Some("other-user"), None),
                ok("cd.example.com", true, Some("token-o"), Some("other-user")),
            ),
            (
                (None, Some("nope"), None),
                Err("context 'nope' does not exist".to_owned()),
            ),
        ];
        for ((server, context, token), want) in cases {
            assert_eq!(
                resolved(server, context, token),
                want,
                "{server:?} {context:?}"
            );
        }

        let err = LocalConfig::default()
            .resolve(None, None, None)
            .expect_err("nothing configured");
        assert!(format!("{err}").contains("capstan login SERVER"), "{err}");

        let dangling = LocalConfig {
            current_context: "gone".to_owned(),
            ..LocalConfig::default()
        };
        let err = dangling.resolve(None, None, None).expect_err("dangling");
        assert!(format!("{err}").contains("'gone' does not exist"), "{err}");
    }

    #[test]
    fn grpc_web_keys_are_read_resolved_and_written() {
        let text = "\
contexts:
- name: web
  server: cd.example.com:443
  user: web
- name: rooted
  server: https://cd.example.com
  user: rooted
current-context: web
servers:
- server: cd.example.com:443
  grpc-web: true
- server: https://cd.example.com
  grpc-web-root-path: /argo-cd
users:
- name: web
  auth-token: t
- name: rooted
  auth-token: r
";
        let mut config = LocalConfig::parse(Path::new("config"), text).expect("valid");
        let web = config.resolve(None, None, None).expect("resolves");
        assert_eq!(
            (web.grpc_web, web.grpc_web_root_path.as_deref()),
            (true, None)
        );
        let rooted = config
            .resolve(None, Some("rooted"), None)
            .expect("resolves");
        assert_eq!(
            (rooted.grpc_web, rooted.grpc_web_root_path.as_deref()),
            (false, Some("/argo-cd"))
        );
        // --server of a server without an entry: no gRPC-web.
        let other = config
            .resolve(Some("other:8080"), None, None)
            .expect("resolves");
        assert_eq!((other.grpc_web, other.grpc_web_root_path), (false, None));

        // A login records the server's keys in argocd's spelling; a re-login keeps them.
        config.upsert_login("new", "new:8080", true, "n");
        config.set_grpc_web("new:8080", true, None);
        let yaml = config.to_yaml().expect("yaml");
        assert!(
            yaml.contains("- server: new:8080\n  plain-text: true\n  grpc-web: true\n"),
            "{yaml}"
        );
        config.upsert_login("new", "new:8080", true, "n2");
        assert!(config.server("new:8080").expect("entry").grpc_web);
        config.set_grpc_web("new:8080", true, Some("argo-cd"));
        config.set_grpc_web("nope:1", true, None);
        assert!(config.server("nope:1").is_none());
        let again = LocalConfig::parse(Path::new("config"), &config.to_yaml().expect("yaml"))
            .expect("re-parses");
        assert_eq!(again, config);
        assert_eq!(
            again
                .server("new:8080")
                .and_then(|entry| entry.grpc_web_root_path.as_deref()),
            Some("argo-cd")
        );
        // Switched off, the key goes; the root path stays.
        config.set_grpc_web("new:8080", false, None);
        let entry = config.server("new:8080").expect("entry");
        assert_eq!(
            (entry.grpc_web, entry.grpc_web_root_path.as_deref()),
            (false, Some("argo-cd"))
        );
    }

    #[test]
    fn login_logout_switch_and_delete() {
        let mut config = LocalConfig::default();
        config.upsert_login("local", "localhost:8080", true, "t1");
        config.upsert_login("prod", "https://cd.example.com", false, "t2");
        assert_eq!(config.current_context, "prod");
        config.upsert_login("local", "localhost:8080", true, "t3");
        assert_eq!(config.current_context, "local");
        assert_eq!(config.contexts.len(), 2);
        assert_eq!(config.user("local").expect("user").auth_token, "t3");

        config.remove_token("local").expect("logout");
        assert_eq!(config.user("local").expect("user").auth_token, "");
        assert!(config.context("local").is_some());
        assert_eq!(
            config.resolve(None, None, None).expect("resolves").token,
            None
        );

        config.switch("prod").expect("switch");
        assert_eq!(config.current_context, "prod");
        assert!(config.switch("nope").is_err());

        config.delete_context("prod").expect("delete");
        assert_eq!(config.current_context, "");
        assert!(config.server("https://cd.example.com").is_none());
        assert!(config.user("prod").is_none());
        assert!(config.server("localhost:8080").is_some());
        assert!(config.delete_context("prod").is_err());
    }

    #[test]
    fn refresh_tokens_are_set_and_forgotten() {
        let refresh = |config: &LocalConfig| {
            config
                .user("sso")
                .and_then(|user| user.extra.get("refresh-token"))
                .and_then(|value| value.as_str().map(str::to_owned))
        };
        let mut config = LocalConfig::default();
        config.upsert_login("sso", "cd:8080", true, "session");
        config.set_refresh_token("sso", Some("r1"));
        assert_eq!(refresh(&config).as_deref(), Some("r1"));
        assert!(
            config
                .to_yaml()
                .expect("yaml")
                .contains("refresh-token: r1")
        );

        // A new login forgets the old refresh token; an SSO login without one keeps none.
        config.upsert_login("sso", "cd:8080", true, "session2");
        assert_eq!(refresh(&config), None);
        config.set_refresh_token("sso", Some("r2"));
        config.set_refresh_token("sso", Some(""));
        assert_eq!(refresh(&config), None);

        config.set_refresh_token("sso", Some("r3"));
        config.remove_token("sso").expect("logout");
        assert_eq!(refresh(&config), None);

        // No such user: nothing happens.
        config.set_refresh_token("nobody", Some("r4"));
        assert!(config.user("nobody").is_none());
    }

    #[test]
    fn saved_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested").join("config");
        let mut config = LocalConfig::default();
        config.upsert_login("local", "localhost:8080", true, "secret");
        config.save(&path).expect("saves");
        config.save(&path).expect("saves over");
        assert_eq!(LocalConfig::load(&path).expect("loads"), config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(path.parent().expect("dir"))
                .expect("dir")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("lists")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("config")]);
    }

    #[test]
    fn default_path_prefers_xdg() {
        let os = |s: &str| Some(OsString::from(s));
        let cases = [
            (os("/x"), os("/h"), Some("/x/capstan/config")),
            (None, os("/h"), Some("/h/.config/capstan/config")),
            (os(""), os("/h"), Some("/h/.config/capstan/config")),
            (None, None, None),
        ];
        for (xdg, home, want) in cases {
            assert_eq!(default_path(xdg, home), want.map(PathBuf::from));
        }
    }
}
