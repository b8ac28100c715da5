//! `capstan login`, `capstan logout` and `capstan context`: sessions and the contexts of the
//! local config file (see [`crate::config`]).
//!
//! `login SERVER --username U --password P` exchanges the password for a session token with
//! `SessionService.Create`; `login SERVER --auth-token T` checks the token with
//! `SessionService.GetUserInfo` before storing it; `login SERVER --sso` logs in in a browser
//! through the server's OIDC identity provider, as `argocd login --sso` does, and exchanges
//! the ID token for a session token (see the `sso` module). Each stores the token in the
//! context (`--name`, by default the server address), which becomes the current one.
//!
//! `login --grpc-web` (or `--grpc-web-root-path`) logs in over gRPC-web and stores
//! `grpc-web: true` (and the root path) in the server's entry, so that later commands use it
//! without the flag, as argocd does; a login to a server whose entry already says so uses and
//! keeps gRPC-web too. With a root path, the default context name is `SERVER/ROOT-PATH`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_proto::session::v1::{GetUserInfoRequest, SessionCreateRequest, SessionDeleteRequest};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

use crate::GlobalArgs;
use crate::client::{Api, ConnectOptions, Target};
use crate::config::{self, LocalConfig};
use crate::duration;
use crate::output::Table;
use crate::sso::{self, SsoOptions};

/// `capstan login`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    capstan login localhost:8080 --username admin --password \"$PASSWORD\"\n  \
    capstan login https://cd.example.com --auth-token \"$TOKEN\" --name prod\n  \
    echo \"$PASSWORD\" | capstan login localhost:8080 --username admin\n  \
    capstan login https://cd.example.com --sso\n  \
    capstan login https://cd.example.com --sso --sso-port 8090 --sso-launch-browser=false\n\n\
    With --sso the identity provider of the server's argocd-cm oidc.config must accept \
    http://localhost:PORT/auth/callback (PORT: --sso-port) as a redirect URI of the CLI's \
    client (cliClientID, else clientID).")]
pub struct LoginArgs {
    /// The API server address: `host:port` (plaintext), or `https://host[:port]` (TLS).
    #[arg(value_name = "SERVER")]
    pub server: String,

    /// Name of the context to create or update [default: the server address].
    #[arg(long)]
    pub name: Option<String>,

    /// Local account to log in as.
    #[arg(long, env = "CAPSTAN_USERNAME")]
    pub username: Option<String>,

    /// The account's password; read from stdin when it is not a terminal and this is absent.
    #[arg(long, env = "CAPSTAN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Log in in a browser through the server's single sign-on (OIDC) identity provider.
    #[arg(long)]
    pub sso: bool,

    /// Port of the local listener the identity provider sends the browser back to
    /// (`http://localhost:PORT/auth/callback`); `0` for any free port.
    #[arg(long, default_value_t = sso::DEFAULT_PORT, value_name = "PORT", requires = "sso")]
    pub sso_port: u16,

    /// Open the login page in the system's browser; with `false` only its URL is printed.
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        value_name = "BOOL",
        requires = "sso"
    )]
    pub sso_launch_browser: bool,

    /// How long to wait for the login in the browser (`30s`, `5m`; `0` for no limit).
    #[arg(
        long,
        default_value = "5m",
        value_name = "DURATION",
        value_parser = duration::parse_duration,
        requires = "sso"
    )]
    pub sso_timeout: Duration,
}

impl LoginArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let target = Target::parse(&self.server, global.plaintext)?;
        let path = config::path(global.config.as_deref())?;
        let options = {
            let local = LocalConfig::load(&path)?;
            let entry = local.server(&target.display);
            ConnectOptions::for_server(
                global,
                entry.is_some_and(|entry| entry.grpc_web),
                entry.and_then(|entry| entry.grpc_web_root_path.as_deref()),
            )
        };
        let mut refresh_token = None;
        let (username, token) = match (&self.username, &global.auth_token) {
            _ if self.sso => {
                let api = Api::connect(&target, None, &options).await?;
                let login = sso::login(&api, &target, &options, &self.sso_options())
                    .await
                    .with_context(|| format!("SSO login to {}", target.display))?;
                refresh_token = login.refresh_token;
                (login.username, login.token)
            }
            (Some(username), _) => {
                let password = match &self.password {
                    Some(password) => password.clone(),
                    None => read_password_from_stdin()?,
                };
                let api = Api::connect(&target, None, &options).await?;
                let response = api
                    .sessions()
                    .create(api.request(SessionCreateRequest {
                        username: username.clone(),
                        password,
                        token: String::new(),
                    }))
                    .await
                    .map_err(|status| api.error(status))
                    .with_context(|| format!("logging in to {} as '{username}'", target.display))?
                    .into_inner();
                if response.token.is_empty() {
                    bail!(
                        "logging in to {} as '{username}': the server returned no token",
                        target.display
                    );
                }
                (username.clone(), response.token)
            }
            (None, Some(token)) => {
                let api = Api::connect(&target, Some(token), &options).await?;
                let info = api
                    .sessions()
                    .get_user_info(api.request(GetUserInfoRequest {}))
                    .await
                    .map_err(|status| api.error(status))
                    .with_context(|| format!("checking the token with {}", target.display))?
                    .into_inner();
                if !info.logged_in {
                    bail!(
                        "checking the token with {}: the server does not accept it (not logged \
                         in)",
                        target.display
                    );
                }
                (info.username, token.clone())
            }
            (None, None) if self.password.is_some() => {
                bail!("--password needs --username (or CAPSTAN_USERNAME)")
            }
            (None, None) => bail!(
                "give --username and --password, --auth-token, or --sso to log in to {}",
                target.display
            ),
        };
        let name = self
            .name
            .unwrap_or_else(|| default_context_name(&target, &options));
        // Read again: a browser login may have taken minutes.
        let mut local = LocalConfig::load(&path)?;
        local.upsert_login(&name, &target.display, !target.tls, &token);
        local.set_grpc_web(
            &target.display,
            options.grpc_web.enabled,
            options.grpc_web.root_path.as_deref(),
        );
        local.set_refresh_token(&name, refresh_token.as_deref());
        local.save(&path)?;
        writeln!(out, "'{username}' logged in successfully")?;
        writeln!(out, "Context '{name}' updated")?;
        Ok(())
    }

    /// The `--sso-*` flags.
    fn sso_options(&self) -> SsoOptions {
        SsoOptions {
            port: self.sso_port,
            timeout: Some(self.sso_timeout).filter(|timeout| !timeout.is_zero()),
            launch_browser: self.sso_launch_browser,
        }
    }
}

/// The context a login creates without `--name`: the server address, followed by the gRPC-web
/// root path when there is one (argocd's `SERVER/ROOT-PATH`).
fn default_context_name(target: &Target, options: &ConnectOptions) -> String {
    match &options.grpc_web.root_path {
        Some(root) => format!("{}/{root}", target.display),
        None => target.display.clone(),
    }
}

/// Reads a password from stdin when stdin is not a terminal (`echo "$PW" | capstan login`).
fn read_password_from_stdin() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!(
            "--password is required (or CAPSTAN_PASSWORD, or the password on stdin): \
             interactive password prompts are not supported"
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on stdin: pass --password or CAPSTAN_PASSWORD");
    }
    Ok(password)
}

/// `capstan logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The context to log out of [default: the current context].
    #[arg(value_name = "CONTEXT")]
    pub context: Option<String>,
}

impl LogoutArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let path = config::path(global.config.as_deref())?;
        let mut local = LocalConfig::load(&path)?;
        let name = match self.context.or_else(|| global.context.clone()) {
            Some(name) => name,
            None if !local.current_context.is_empty() => local.current_context.clone(),
            None => bail!("no current context: name the context to log out of"),
        };
        let context = local
            .context(&name)
            .with_context(|| format!("context '{name}' does not exist"))?
            .clone();
        let token = local
            .user(&context.user)
            .map(|user| user.auth_token.clone())
            .filter(|token| !token.is_empty());
        if let Some(token) = token {
            // Best effort: revoke the session on the server; the token is forgotten locally
            // whatever happens.
            let entry = local.server(&context.server);
            let options = ConnectOptions::for_server(
                global,
                entry.is_some_and(|entry| entry.grpc_web),
                entry.and_then(|entry| entry.grpc_web_root_path.as_deref()),
            );
            if let Err(err) = revoke(global, &context.server, &token, options).await {
                eprintln!("warning: the session was not revoked on the server: {err:#}");
            }
        }
        local.remove_token(&name)?;
        local.save(&path)?;
        writeln!(out, "Logged out from '{name}'")?;
        Ok(())
    }
}

/// Ends the session of `token` on `server` (`SessionService.Delete`), within 5 seconds.
async fn revoke(
    global: &GlobalArgs,
    server: &str,
    token: &str,
    mut options: ConnectOptions,
) -> anyhow::Result<()> {
    let target = Target::parse(server, global.plaintext)?;
    options.timeout = Some(Duration::from_secs(5));
    let api = Api::connect(&target, Some(token), &options).await?;
    api.sessions()
        .delete(api.request(SessionDeleteRequest {}))
        .await
        .map_err(|status| api.error(status))?;
    Ok(())
}

/// `capstan context`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  capstan context\n  capstan context prod\n  \
                        capstan context --delete old"
)]
pub struct ContextArgs {
    /// The context to switch to (or delete); lists the contexts when absent.
    #[arg(value_name = "CONTEXT")]
    pub name: Option<String>,

    /// Delete the context instead of switching to it.
    #[arg(long, requires = "name")]
    pub delete: bool,
}

impl ContextArgs {
    pub(crate) fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let path = config::path(global.config.as_deref())?;
        let mut local = LocalConfig::load(&path)?;
        match self.name {
            None => {
                out.write_all(contexts_table(&local).render().as_bytes())?;
            }
            Some(name) if self.delete => {
                local.delete_context(&name)?;
                local.save(&path)?;
                writeln!(out, "Context '{name}' deleted")?;
            }
            Some(name) => {
                local.switch(&name)?;
                local.save(&path)?;
                writeln!(out, "Switched to context '{name}'")?;
            }
        }
        Ok(())
    }
}

/// argocd's `context` table: `CURRENT  NAME  SERVER`, `*` on the current context.
fn contexts_table(local: &LocalConfig) -> Table {
    let mut table = Table::new(["CURRENT", "NAME", "SERVER"]);
    for context in &local.contexts {
        let current = if context.name == local.current_context {
            "*"
        } else {
            ""
        };
        table.row([current, &context.name, &context.server]);
    }
    table
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;
    use pretty_assertions::assert_eq;

    use super::{LoginArgs, contexts_table};
    use crate::config::LocalConfig;
    use crate::{Cli, Command};

    fn login(args: &[&str]) -> Result<LoginArgs, clap::Error> {
        let argv = ["capstan", "login"].iter().chain(args).copied();
        match Cli::try_parse_from(argv)?.command {
            Command::Login(login) => Ok(login),
            other => panic!("not a login: {other:?}"),
        }
    }

    #[test]
    fn sso_flags() {
        let defaults = login(&["cd:8080", "--sso"]).expect("parses");
        assert!(defaults.sso);
        let options = defaults.sso_options();
        assert_eq!(
            (options.port, options.timeout, options.launch_browser),
            (8085, Some(Duration::from_secs(300)), true)
        );

        let cases: &[(&[&str], bool)] = &[
            (&["cd:8080", "--sso", "--sso-launch-browser=false"], false),
            (
                &["cd:8080", "--sso", "--sso-launch-browser", "false"],
                false,
            ),
            (&["cd:8080", "--sso", "--sso-launch-browser", "no"], false),
            (&["cd:8080", "--sso", "--sso-launch-browser"], true),
            (&["cd:8080", "--sso", "--sso-launch-browser=true"], true),
            (&["cd:8080", "--sso-launch-browser=false", "--sso"], false),
        ];
        for (args, want) in cases {
            let got = login(args).expect("parses");
            assert_eq!(got.sso_options().launch_browser, *want, "{args:?}");
        }

        let custom = login(&[
            "https://cd.example.com",
            "--sso",
            "--sso-port",
            "0",
            "--sso-timeout",
            "0",
            "--name",
            "prod",
        ])
        .expect("parses");
        let options = custom.sso_options();
        assert_eq!((options.port, options.timeout), (0, None));
        assert_eq!(custom.name.as_deref(), Some("prod"));
        assert_eq!(
            login(&["cd:8080", "--sso", "--sso-timeout", "90s"])
                .expect("parses")
                .sso_options()
                .timeout,
            Some(Duration::from_secs(90))
        );

        // The --sso-* flags need --sso; bad values are refused.
        for args in [
            &["cd:8080", "--sso-port", "9000"][..],
            &["cd:8080", "--sso-launch-browser=false"],
            &["cd:8080", "--sso-timeout", "1m"],
            &["cd:8080", "--sso", "--sso-port", "70000"],
            &["cd:8080", "--sso", "--sso-launch-browser=maybe"],
            &["cd:8080", "--sso", "--sso-timeout", "soon"],
        ] {
            assert!(login(args).is_err(), "{args:?}");
        }
        // Without --sso, the defaults do not count as given.
        assert!(login(&["cd:8080", "--username", "admin"]).is_ok());
    }

    #[test]
    fn context_table_marks_the_current_one() {
        let mut local = LocalConfig::default();
        local.upsert_login("local", "localhost:8080", true, "t");
        local.upsert_login("prod", "https://cd.example.com", false, "t");
        assert_eq!(
            contexts_table(&local).render(),
            "CURRENT  NAME   SERVER\n\
             \x20        local  localhost:8080\n\
             *        prod   https://cd.example.com\n"
        );
    }
}
