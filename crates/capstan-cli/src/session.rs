//! `capstan login`, `capstan logout` and `capstan context`: sessions and the contexts of the
//! local config file (see [`crate::config`]).
//!
//! `login SERVER --username U --password P` exchanges the password for a session token with
//! `SessionService.Create`; `login SERVER --auth-token T` checks the token with
//! `SessionService.GetUserInfo` before storing it. `--sso` needs the auth-gateway's browser
//! flow, which this release does not have: it fails saying so.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_proto::session::v1::{GetUserInfoRequest, SessionCreateRequest, SessionDeleteRequest};
use clap::Args;

use crate::GlobalArgs;
use crate::client::{Api, ConnectOptions, Target};
use crate::config::{self, LocalConfig};
use crate::output::Table;

/// `capstan login`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    capstan login localhost:8080 --username admin --password \"$PASSWORD\"\n  \
    capstan login https://cd.example.com --auth-token \"$TOKEN\" --name prod\n  \
    echo \"$PASSWORD\" | capstan login localhost:8080 --username admin")]
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

    /// Log in through the auth-gateway's single sign-on (OIDC) flow.
    #[arg(long)]
    pub sso: bool,
}

impl LoginArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        if self.sso {
            bail!(
                "SSO login needs capstan-auth-gateway, which is not implemented in this \
                 release; log in with --username and --password, or with --auth-token"
            );
        }
        let target = Target::parse(&self.server, global.plaintext)?;
        let options = ConnectOptions::from_global(global);
        let (username, token) = match (&self.username, &global.auth_token) {
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
        let name = self.name.unwrap_or_else(|| target.display.clone());
        let path = config::path(global.config.as_deref())?;
        let mut local = LocalConfig::load(&path)?;
        local.upsert_login(&name, &target.display, !target.tls, &token);
        local.save(&path)?;
        writeln!(out, "'{username}' logged in successfully")?;
        writeln!(out, "Context '{name}' updated")?;
        Ok(())
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
            if let Err(err) = revoke(global, &context.server, &token).await {
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
async fn revoke(global: &GlobalArgs, server: &str, token: &str) -> anyhow::Result<()> {
    let target = Target::parse(server, global.plaintext)?;
    let mut options = ConnectOptions::from_global(global);
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
    use pretty_assertions::assert_eq;

    use super::contexts_table;
    use crate::config::LocalConfig;

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
