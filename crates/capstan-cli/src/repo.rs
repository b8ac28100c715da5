//! `capstan repo`: repository connections (Argo CD's `argocd repo`), through the api-server's
//! `RepositoryService`: `add`, `list`, `rm`.
//!
//! Repositories are typed proto messages, not Kubernetes objects; `-o json|yaml` prints them
//! with Argo CD's JSON field names (secret fields are write-only and never returned).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use capstan_proto::repository::v1::{RepoCreateRequest, RepoQuery, Repository};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

use crate::GlobalArgs;
use crate::client::Api;
use crate::output::{ListOutput, Table, print_list};

/// `capstan repo`.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The repo command.
    #[command(subcommand)]
    pub command: RepoCommand,
}

/// The `capstan repo` commands.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Add repository connection parameters.
    Add(AddArgs),
    /// List configured repositories.
    List(ListArgs),
    /// Remove repository credentials.
    #[command(visible_alias = "remove", visible_alias = "delete")]
    Rm(RmArgs),
}

impl RepoArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let api = Api::from_global(global).await?;
        match self.command {
            RepoCommand::Add(args) => args.run(&api, out).await,
            RepoCommand::List(args) => args.run(&api, out).await,
            RepoCommand::Rm(args) => args.run(&api, out).await,
        }
    }
}

/// `--type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum RepoType {
    /// A Git repository.
    #[default]
    Git,
    /// A Helm chart repository.
    Helm,
}

/// `capstan repo add`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    capstan repo add https://git.example.com/apps.git --username git --password \"$TOKEN\"\n  \
    capstan repo add https://charts.example.com --type helm --name example\n  \
    capstan repo add git@git.example.com:apps.git --ssh-private-key-path ~/.ssh/id_ed25519")]
pub struct AddArgs {
    /// The repository URL.
    #[arg(value_name = "REPOURL")]
    pub url: String,

    /// Username for HTTPS.
    #[arg(long)]
    pub username: Option<String>,

    /// Password (or token) for HTTPS.
    #[arg(long, env = "CAPSTAN_REPO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Path to the SSH private key for SSH URLs.
    #[arg(long, value_name = "PATH")]
    pub ssh_private_key_path: Option<PathBuf>,

    /// Display name; required for Helm repositories.
    #[arg(long)]
    pub name: Option<String>,

    /// Scope the repository to this project.
    #[arg(long)]
    pub project: Option<String>,

    /// Repository type.
    #[arg(long = "type", value_enum, default_value_t)]
    pub repo_type: RepoType,

    /// Skip TLS certificate and SSH host key verification.
    #[arg(long)]
    pub insecure_skip_server_verification: bool,

    /// Fetch Git LFS objects.
    #[arg(long)]
    pub enable_lfs: bool,

    /// The URL is an OCI registry (Helm).
    #[arg(long)]
    pub enable_oci: bool,

    /// Replace an existing repository with the same URL.
    #[arg(long)]
    pub upsert: bool,
}

impl AddArgs {
    /// The repository the flags describe.
    pub(crate) fn repository(&self) -> anyhow::Result<Repository> {
        let ssh_private_key = match &self.ssh_private_key_path {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the SSH private key {}", path.display()))?,
            None => String::new(),
        };
        if self.repo_type == RepoType::Helm && self.name.is_none() {
            anyhow::bail!("--name is required for Helm repositories");
        }
        Ok(Repository {
            repo: self.url.clone(),
            username: self.username.clone().unwrap_or_default(),
            password: self.password.clone().unwrap_or_default(),
            ssh_private_key,
            insecure: self.insecure_skip_server_verification,
            enable_lfs: self.enable_lfs,
            enable_oci: self.enable_oci,
            r#type: match self.repo_type {
                RepoType::Git => "git",
                RepoType::Helm => "helm",
            }
            .to_owned(),
            name: self.name.clone().unwrap_or_default(),
            project: self.project.clone().unwrap_or_default(),
            ..Repository::default()
        })
    }

    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let repo = self.repository()?;
        api.repositories()
            .create(api.request(RepoCreateRequest {
                repo: Some(repo),
                upsert: self.upsert,
                creds_only: false,
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("adding repository '{}'", self.url))?;
        writeln!(out, "Repository '{}' added", self.url)?;
        Ok(())
    }
}

/// `capstan repo list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Re-check each repository's connection instead of using the cached state.
    #[arg(long)]
    pub refresh: bool,

    /// Output format (`name` prints the URLs).
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ListOutput,
}

impl ListArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let repos = api
            .repositories()
            .list(api.request(RepoQuery {
                force_refresh: self.refresh,
                ..RepoQuery::default()
            }))
            .await
            .map_err(|status| api.error(status))
            .context("listing repositories")?
            .into_inner()
            .items;
        let json: Vec<Value> = repos.iter().map(repository_json).collect();
        if print_list(out, self.output, &json, repos.iter().map(|r| &r.repo))? {
            return Ok(());
        }
        out.write_all(list_table(&repos).render().as_bytes())?;
        Ok(())
    }
}

/// argocd's `repo list` table.
pub(crate) fn list_table(repos: &[Repository]) -> Table {
    let mut table = Table::new([
        "TYPE", "NAME", "REPO", "INSECURE", "OCI", "LFS", "CREDS", "STATUS", "MESSAGE", "PROJECT",
    ]);
    for repo in repos {
        let state = repo.connection_state.as_ref();
        let creds = !repo.username.is_empty() || repo.inherited_creds;
        table.row([
            if repo.r#type.is_empty() {
                "git"
            } else {
                &repo.r#type
            }
            .to_owned(),
            repo.name.clone(),
            repo.repo.clone(),
            (repo.insecure || repo.insecure_ignore_host_key).to_string(),
            repo.enable_oci.to_string(),
            repo.enable_lfs.to_string(),
            creds.to_string(),
            state.map(|s| s.status.clone()).unwrap_or_default(),
            state.map(|s| s.message.clone()).unwrap_or_default(),
            repo.project.clone(),
        ]);
    }
    table
}

/// A repository as Argo CD's JSON (`repo`, `username`, `connectionState`, ...), without empty
/// fields.
pub(crate) fn repository_json(repo: &Repository) -> Value {
    let mut map = Map::new();
    let mut put = |key: &str, value: Value| {
        let empty = match &value {
            Value::String(text) => text.is_empty(),
            Value::Bool(flag) => !flag,
            Value::Number(number) => number.as_i64() == Some(0),
            Value::Null => true,
            _ => false,
        };
        if !empty {
            map.insert(key.to_owned(), value);
        }
    };
    put("repo", json!(repo.repo));
    put("username", json!(repo.username));
    put(
        "insecureIgnoreHostKey",
        json!(repo.insecure_ignore_host_key),
    );
    put("insecure", json!(repo.insecure));
    put("enableLfs", json!(repo.enable_lfs));
    put("tlsClientCertData", json!(repo.tls_client_cert_data));
    put("type", json!(repo.r#type));
    put("name", json!(repo.name));
    put("inheritedCreds", json!(repo.inherited_creds));
    put("enableOCI", json!(repo.enable_oci));
    put("githubAppID", json!(repo.github_app_id));
    put(
        "githubAppInstallationID",
        json!(repo.github_app_installation_id),
    );
    put(
        "githubAppEnterpriseBaseUrl",
        json!(repo.github_app_enterprise_base_url),
    );
    put("proxy", json!(repo.proxy));
    put("noProxy", json!(repo.no_proxy));
    put("project", json!(repo.project));
    put("forceHttpBasicAuth", json!(repo.force_http_basic_auth));
    put(
        "useAzureWorkloadIdentity",
        json!(repo.use_azure_workload_identity),
    );
    if let Some(state) = &repo.connection_state {
        map.insert(
            "connectionState".to_owned(),
            crate::cluster::connection_state_json(state),
        );
    }
    Value::Object(map)
}

/// `capstan repo rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The repository URLs.
    #[arg(value_name = "REPOURL", required = true)]
    pub urls: Vec<String>,

    /// The project of a project-scoped repository.
    #[arg(long)]
    pub project: Option<String>,
}

impl RmArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        for url in &self.urls {
            api.repositories()
                .delete(api.request(RepoQuery {
                    repo: url.clone(),
                    force_refresh: false,
                    app_project: self.project.clone().unwrap_or_default(),
                }))
                .await
                .map_err(|status| api.error(status))
                .with_context(|| format!("removing repository '{url}'"))?;
            writeln!(out, "Repository '{url}' removed")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use capstan_proto::common::v1::ConnectionState;
    use capstan_proto::repository::v1::Repository;
    use clap::Parser;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::{RepoCommand, list_table, repository_json};
    use crate::{Cli, Command};

    fn repo() -> Repository {
        let mut state = ConnectionState {
            status: "Successful".to_owned(),
            ..ConnectionState::default()
        };
        // The generated timestamp type, named through the field.
        let mut attempted_at = state.attempted_at.take().unwrap_or_default();
        attempted_at.seconds = 1_700_000_000;
        state.attempted_at = Some(attempted_at);
        Repository {
            repo: "https://git.example.com/apps.git".to_owned(),
            username: "git".to_owned(),
            r#type: "git".to_owned(),
            connection_state: Some(state),
            ..Repository::default()
        }
    }

    #[test]
    fn tables_and_json() {
        let repos = vec![repo()];
        assert_eq!(
            list_table(&repos).render(),
            "TYPE  NAME  REPO                              INSECURE  OCI    LFS    CREDS  \
             STATUS      MESSAGE  PROJECT\n\
             git         https://git.example.com/apps.git  false     false  false  true   \
             Successful\n"
        );
        assert_eq!(
            repository_json(&repos[0]),
            json!({
                "repo": "https://git.example.com/apps.git",
                "username": "git",
                "type": "git",
                "connectionState": {"status": "Successful",
                                    "attemptedAt": "2023-11-14T22:13:20Z"},
            })
        );
    }

    #[test]
    fn helm_repositories_need_a_name() {
        let cli =
            Cli::try_parse_from(["capstan", "repo", "add", "https://charts", "--type", "helm"])
                .expect("parses");
        let Command::Repo(repo) = cli.command else {
            panic!("repo")
        };
        let RepoCommand::Add(add) = repo.command else {
            panic!("add")
        };
        assert!(add.repository().is_err());
    }
}
