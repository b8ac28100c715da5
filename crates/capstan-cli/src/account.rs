//! `capstan account`: local accounts and permissions (Argo CD's `argocd account`), through
//! the api-server's `AccountService`: `list`, `can-i`, `update-password`, `generate-token`,
//! `delete-token` and `get-user-info`.

use std::io::Write;

use anyhow::Context;
use capstan_proto::account::v1::{
    Account, CanIRequest, CreateTokenRequest, DeleteTokenRequest, ListAccountRequest,
    UpdatePasswordRequest,
};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::GlobalArgs;
use crate::client::Api;
use crate::output::{ListOutput, Table, print_list};

/// `capstan account`.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The account command.
    #[command(subcommand)]
    pub command: AccountCommand,
}

/// The `capstan account` commands.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// List accounts.
    List(ListArgs),
    /// Can I: print `yes` or `no` for an action on a resource.
    #[command(
        after_help = "Examples:\n  capstan account can-i sync applications '*'\n  \
                            capstan account can-i delete applications default/guestbook\n  \
                            capstan account can-i get projects team-a"
    )]
    CanI(CanIArgs),
    /// Change a local account's password (your own unless --account is given; changing
    /// another account's needs `accounts, update` and your own current password).
    UpdatePassword(UpdatePasswordArgs),
    /// Generate an API token for an account with the `apiKey` capability; prints it once.
    #[command(
        after_help = "Examples:\n  capstan account generate-token --account ci --expires-in 720h"
    )]
    GenerateToken(GenerateTokenArgs),
    /// Delete (revoke) an account's API token by id.
    DeleteToken(DeleteTokenArgs),
    /// Print who you are logged in as.
    GetUserInfo,
}

impl AccountArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let api = Api::from_global(global).await?;
        match self.command {
            AccountCommand::List(args) => args.run(&api, out).await,
            AccountCommand::CanI(args) => args.run(&api, out).await,
            AccountCommand::UpdatePassword(args) => args.run(&api, out).await,
            AccountCommand::GenerateToken(args) => args.run(&api, out).await,
            AccountCommand::DeleteToken(args) => args.run(&api, out).await,
            AccountCommand::GetUserInfo => {
                let info = api
                    .sessions()
                    .get_user_info(api.request(capstan_proto::session::v1::GetUserInfoRequest {}))
                    .await
                    .map_err(|status| api.error(status))
                    .context("asking who I am")?
                    .into_inner();
                writeln!(out, "Logged In: {}", info.logged_in)?;
                if info.logged_in {
                    writeln!(out, "Username: {}", info.username)?;
                    writeln!(out, "Issuer: {}", info.iss)?;
                    writeln!(out, "Groups: {}", info.groups.join(","))?;
                }
                Ok(())
            }
        }
    }
}

/// `capstan account list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ListOutput,
}

impl ListArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let accounts = api
            .accounts()
            .list_accounts(api.request(ListAccountRequest {}))
            .await
            .map_err(|status| api.error(status))
            .context("listing accounts")?
            .into_inner()
            .items;
        let json: Vec<Value> = accounts.iter().map(account_json).collect();
        if print_list(out, self.output, &json, accounts.iter().map(|a| &a.name))? {
            return Ok(());
        }
        out.write_all(list_table(&accounts).render().as_bytes())?;
        Ok(())
    }
}

/// argocd's `account list` table: `NAME  ENABLED  CAPABILITIES`.
pub(crate) fn list_table(accounts: &[Account]) -> Table {
    let mut table = Table::new(["NAME", "ENABLED", "CAPABILITIES"]);
    for account in accounts {
        table.row([
            account.name.clone(),
            account.enabled.to_string(),
            account.capabilities.join(", "),
        ]);
    }
    table
}

fn account_json(account: &Account) -> Value {
    json!({
        "name": account.name,
        "enabled": account.enabled,
        "capabilities": account.capabilities,
        "tokens": account.tokens.iter().map(|token| {
            let mut value = json!({"id": token.id, "iat": token.issued_at});
            if token.expires_at != 0 {
                value["exp"] = json!(token.expires_at);
            }
            value
        }).collect::<Vec<_>>(),
    })
}

/// `capstan account can-i`.
#[derive(Debug, Args)]
pub struct CanIArgs {
    /// The action: get, create, update, delete, sync, override, action, ...
    #[arg(value_name = "ACTION")]
    pub action: String,

    /// The resource: applications, projects, clusters, repositories, accounts, ...
    #[arg(value_name = "RESOURCE")]
    pub resource: String,

    /// The object: `PROJECT/APP` for applications, a name otherwise, `*` for any.
    #[arg(value_name = "SUBRESOURCE")]
    pub subresource: String,
}

impl CanIArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let answer = api
            .accounts()
            .can_i(api.request(CanIRequest {
                resource: self.resource.clone(),
                action: self.action.clone(),
                subresource: self.subresource.clone(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| {
                format!(
                    "asking whether I can {} {} {}",
                    self.action, self.resource, self.subresource
                )
            })?
            .into_inner();
        writeln!(out, "{}", answer.value)?;
        Ok(())
    }
}

/// `capstan account update-password`.
#[derive(Debug, Args)]
pub struct UpdatePasswordArgs {
    /// The account (default: the one you are logged in as).
    #[arg(long)]
    pub account: Option<String>,
    /// Your current password.
    #[arg(long, env = "CAPSTAN_CURRENT_PASSWORD")]
    pub current_password: String,
    /// The new password (at least 8 characters).
    #[arg(long, env = "CAPSTAN_NEW_PASSWORD")]
    pub new_password: String,
}

impl UpdatePasswordArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        api.accounts()
            .update_password(api.request(UpdatePasswordRequest {
                new_password: self.new_password,
                current_password: self.current_password,
                name: self.account.clone().unwrap_or_default(),
            }))
            .await
            .map_err(|status| api.error(status))
            .context("updating the password")?;
        writeln!(
            out,
            "Password updated{}",
            self.account
                .map(|a| format!(" for {a}"))
                .unwrap_or_default()
        )?;
        Ok(())
    }
}

/// `capstan account generate-token`.
#[derive(Debug, Args)]
pub struct GenerateTokenArgs {
    /// The account (default: the one you are logged in as).
    #[arg(short, long)]
    pub account: Option<String>,
    /// Lifetime, e.g. `24h`; `0` (the default) never expires.
    #[arg(short, long, default_value = "0", value_parser = parse_duration)]
    pub expires_in: std::time::Duration,
    /// The token id (default: a random one).
    #[arg(long)]
    pub id: Option<String>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    capstan_types::settings::parse_go_duration(text).map_err(|e| e.to_string())
}

impl GenerateTokenArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let token = api
            .accounts()
            .create_token(api.request(CreateTokenRequest {
                name: self.account.unwrap_or_default(),
                expires_in: i64::try_from(self.expires_in.as_secs()).unwrap_or(i64::MAX),
                id: self.id.unwrap_or_default(),
            }))
            .await
            .map_err(|status| api.error(status))
            .context("generating a token")?
            .into_inner()
            .token;
        writeln!(out, "{token}")?;
        Ok(())
    }
}

/// `capstan account delete-token`.
#[derive(Debug, Args)]
pub struct DeleteTokenArgs {
    /// The account (default: the one you are logged in as).
    #[arg(short, long)]
    pub account: Option<String>,
    /// The token id.
    #[arg(value_name = "ID")]
    pub id: String,
}

impl DeleteTokenArgs {
    async fn run(self, api: &Api, _out: &mut dyn Write) -> anyhow::Result<()> {
        api.accounts()
            .delete_token(api.request(DeleteTokenRequest {
                name: self.account.unwrap_or_default(),
                id: self.id.clone(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("deleting token {}", self.id))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use capstan_proto::account::v1::Account;
    use pretty_assertions::assert_eq;

    use super::list_table;

    #[test]
    fn account_table() {
        let accounts = vec![
            Account {
                name: "admin".to_owned(),
                enabled: true,
                capabilities: vec!["login".to_owned()],
                tokens: vec![],
            },
            Account {
                name: "ci".to_owned(),
                enabled: false,
                capabilities: vec!["apiKey".to_owned(), "login".to_owned()],
                tokens: vec![],
            },
        ];
        assert_eq!(
            list_table(&accounts).render(),
            "NAME   ENABLED  CAPABILITIES\n\
             admin  true     login\n\
             ci     false    apiKey, login\n"
        );
    }
}
