//! `capstan account`: local accounts and permissions (Argo CD's `argocd account`), through
//! the api-server's `AccountService`: `list` and `can-i`.

use std::io::Write;

use anyhow::Context;
use capstan_proto::account::v1::{Account, CanIRequest, ListAccountRequest};
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
}

impl AccountArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let api = Api::from_global(global).await?;
        match self.command {
            AccountCommand::List(args) => args.run(&api, out).await,
            AccountCommand::CanI(args) => args.run(&api, out).await,
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
