//! `capstan proj`: AppProjects (Argo CD's `argocd proj`), through the api-server's
//! `ProjectService`: `list`, `get`, `create` (from flags or a YAML file), `delete`, and
//! `role create-token`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use capstan_proto::common::v1::KubeObject;
use capstan_proto::project::v1::{ProjectCreateRequest, ProjectQuery, ProjectTokenCreateRequest};
use capstan_types::application::ApplicationDestination;
use capstan_types::{AppProject, AppProjectSpec};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::GlobalArgs;
use crate::client::Api;
use crate::duration::parse_duration;
use crate::files;
use crate::output::{ListOutput, ObjectOutput, Table, print_list, print_object};

/// `capstan proj`.
#[derive(Debug, Args)]
pub struct ProjArgs {
    /// The proj command.
    #[command(subcommand)]
    pub command: ProjCommand,
}

/// The `capstan proj` commands.
#[derive(Debug, Subcommand)]
pub enum ProjCommand {
    /// List projects.
    List(ListArgs),
    /// Get project details.
    Get(GetArgs),
    /// Create a project.
    Create(CreateArgs),
    /// Delete a project.
    #[command(visible_alias = "rm")]
    Delete(DeleteArgs),
    /// Manage a project's roles.
    Role(RoleArgs),
}

impl ProjArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        if let ProjCommand::Create(args) = &self.command
            && args.file.as_deref() != Some(std::path::Path::new("-"))
        {
            // Validate the flags and the file before connecting (stdin is read once, later).
            args.project()?;
        }
        let api = Api::from_global(global).await?;
        match self.command {
            ProjCommand::List(args) => args.run(&api, out).await,
            ProjCommand::Get(args) => args.run(&api, out).await,
            ProjCommand::Create(args) => args.run(&api, out).await,
            ProjCommand::Delete(args) => args.run(&api, out).await,
            ProjCommand::Role(args) => match args.command {
                RoleCommand::CreateToken(args) => args.run(&api, out).await,
            },
        }
    }
}

/// A project as the server returned it: typed, and the JSON itself.
struct ProjectObject {
    project: AppProject,
    raw: Value,
}

fn decode(object: &KubeObject) -> anyhow::Result<ProjectObject> {
    let raw: Value = object
        .to_object()
        .context("decoding an AppProject sent by the server")?;
    let project =
        serde_json::from_value(raw.clone()).context("decoding an AppProject sent by the server")?;
    Ok(ProjectObject { project, raw })
}

/// `capstan proj list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ListOutput,
}

impl ListArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let list = api
            .projects()
            .list(api.request(ProjectQuery::default()))
            .await
            .map_err(|status| api.error(status))
            .context("listing projects")?
            .into_inner();
        let projects = list
            .items
            .iter()
            .map(decode)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let raw: Vec<&Value> = projects.iter().map(|p| &p.raw).collect();
        if print_list(
            out,
            self.output,
            &raw,
            projects.iter().map(|p| name(&p.project)),
        )? {
            return Ok(());
        }
        let projects: Vec<AppProject> = projects.into_iter().map(|p| p.project).collect();
        out.write_all(list_table(&projects).render().as_bytes())?;
        Ok(())
    }
}

fn name(project: &AppProject) -> &str {
    project.metadata.name.as_deref().unwrap_or_default()
}

/// argocd's `proj list` table.
pub(crate) fn list_table(projects: &[AppProject]) -> Table {
    let mut table = Table::new([
        "NAME",
        "DESCRIPTION",
        "DESTINATIONS",
        "SOURCES",
        "CLUSTER-RESOURCE-WHITELIST",
        "NAMESPACE-RESOURCE-BLACKLIST",
        "SIGNATURE-KEYS",
        "ORPHANED-RESOURCES",
        "DESTINATION-SERVICE-ACCOUNTS",
    ]);
    for project in projects {
        let spec = &project.spec;
        let count = |len: usize, one: String, many: &str| match len {
            0 => "<none>".to_owned(),
            1 => one,
            n => format!("{n} {many}"),
        };
        table.row([
            name(project).to_owned(),
            spec.description.clone(),
            count(
                spec.destinations.len(),
                spec.destinations
                    .first()
                    .map(destination)
                    .unwrap_or_default(),
                "destinations",
            ),
            count(
                spec.source_repos.len(),
                spec.source_repos.first().cloned().unwrap_or_default(),
                "repos",
            ),
            count(
                spec.cluster_resource_whitelist.len(),
                spec.cluster_resource_whitelist
                    .first()
                    .map(|gk| format!("{}/{}", gk.group, gk.kind))
                    .unwrap_or_default(),
                "resources",
            ),
            count(
                spec.namespace_resource_blacklist.len(),
                spec.namespace_resource_blacklist
                    .first()
                    .map(|gk| format!("{}/{}", gk.group, gk.kind))
                    .unwrap_or_default(),
                "resources",
            ),
            match spec.signature_keys.len() {
                0 => "<none>".to_owned(),
                n => format!("{n} key(s)"),
            },
            orphaned_resources(spec),
            count(
                spec.destination_service_accounts.len(),
                spec.destination_service_accounts
                    .first()
                    .map(|account| {
                        format!(
                            "{},{},{}",
                            account.server, account.namespace, account.default_service_account
                        )
                    })
                    .unwrap_or_default(),
                "destinationServiceAccounts",
            ),
        ]);
    }
    table
}

fn destination(destination: &ApplicationDestination) -> String {
    let cluster = if destination.server.is_empty() {
        &destination.name
    } else {
        &destination.server
    };
    format!("{cluster},{}", destination.namespace)
}

fn orphaned_resources(spec: &AppProjectSpec) -> String {
    match &spec.orphaned_resources {
        None => "disabled".to_owned(),
        Some(settings) => {
            let mut details = format!("warn={}", settings.warn.unwrap_or(false));
            if !settings.ignore.is_empty() {
                details.push_str(&format!(", ignored {}", settings.ignore.len()));
            }
            format!("enabled ({details})")
        }
    }
}

/// `capstan proj get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The project's name.
    #[arg(value_name = "PROJECT")]
    pub name: String,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ObjectOutput,
}

impl GetArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let object = api
            .projects()
            .get(api.request(ProjectQuery {
                name: self.name.clone(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("getting project '{}'", self.name))?
            .into_inner();
        let object = decode(&object)?;
        if print_object(out, self.output, &object.raw)? {
            return Ok(());
        }
        out.write_all(details(&object.project).as_bytes())?;
        Ok(())
    }
}

/// argocd's `proj get` text: one `Label:  value` line per setting, lists continued on the
/// following lines under the value column.
pub(crate) fn details(project: &AppProject) -> String {
    let spec = &project.spec;
    let mut text = String::new();
    let mut field = |label: &str, values: Vec<String>| {
        let values = if values.is_empty() {
            vec!["<none>".to_owned()]
        } else {
            values
        };
        for (index, value) in values.iter().enumerate() {
            let label = if index == 0 {
                format!("{label}:")
            } else {
                String::new()
            };
            let line = format!("{label:<29}{value}");
            text.push_str(line.trim_end());
            text.push('\n');
        }
    };
    field("Name", vec![name(project).to_owned()]);
    field("Description", vec![spec.description.clone()]);
    field(
        "Destinations",
        spec.destinations.iter().map(destination).collect(),
    );
    field("Repositories", spec.source_repos.clone());
    field(
        "Allowed Cluster Resources",
        spec.cluster_resource_whitelist
            .iter()
            .map(|gk| format!("{}/{}", gk.group, gk.kind))
            .collect(),
    );
    field(
        "Denied Namespaced Resources",
        spec.namespace_resource_blacklist
            .iter()
            .map(|gk| format!("{}/{}", gk.group, gk.kind))
            .collect(),
    );
    field(
        "Signature keys",
        spec.signature_keys
            .iter()
            .map(|key| key.key_id.clone())
            .collect(),
    );
    field("Orphaned Resources", vec![orphaned_resources(spec)]);
    field(
        "Roles",
        spec.roles.iter().map(|role| role.name.clone()).collect(),
    );
    field(
        "Sync Windows",
        spec.sync_windows
            .iter()
            .map(|window| {
                format!(
                    "{}:{}:{}",
                    window
                        .kind
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    window.schedule,
                    window.duration
                )
            })
            .collect(),
    );
    text
}

/// `capstan proj create`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  capstan proj create team-a --description 'Team A' \
    --src https://git.example.com/team-a/* --dest https://kubernetes.default.svc,team-a\n  \
    capstan proj create -f project.yaml --upsert"
)]
pub struct CreateArgs {
    /// The project's name; with --file, overrides the file's name.
    #[arg(value_name = "PROJECT")]
    pub name: Option<String>,

    /// A YAML (or JSON) file holding one AppProject, `-` for stdin.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Project description.
    #[arg(long)]
    pub description: Option<String>,

    /// Permitted source repository URL (globs allowed). Repeatable.
    #[arg(short = 's', long = "src", value_name = "REPO")]
    pub sources: Vec<String>,

    /// Permitted destination `SERVER,NAMESPACE` (globs allowed). Repeatable.
    #[arg(short = 'd', long = "dest", value_name = "SERVER,NAMESPACE")]
    pub destinations: Vec<String>,

    /// Replace an existing project with the same name.
    #[arg(long)]
    pub upsert: bool,
}

impl CreateArgs {
    /// The AppProject the file and flags describe.
    pub(crate) fn project(&self) -> anyhow::Result<AppProject> {
        let mut project = match &self.file {
            Some(path) => {
                let text = files::read_input(path)?;
                let object = files::parse_object(path, &text)?;
                match object.get("kind").and_then(Value::as_str) {
                    Some("AppProject") | None => {}
                    Some(kind) => bail!(
                        "{}: expected kind AppProject, found {kind:?}",
                        path.display()
                    ),
                }
                serde_json::from_value::<AppProject>(object)
                    .with_context(|| format!("{}: not a valid AppProject", path.display()))?
            }
            None => {
                let Some(name) = &self.name else {
                    bail!("a project name is required (or --file)");
                };
                AppProject::new(name, AppProjectSpec::default())
            }
        };
        if let Some(name) = &self.name {
            project.metadata.name = Some(name.clone());
        }
        if project
            .metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            bail!("the project has no name: give PROJECT or metadata.name in the file");
        }
        if let Some(description) = &self.description {
            description.clone_into(&mut project.spec.description);
        }
        for source in &self.sources {
            if !project.spec.source_repos.contains(source) {
                project.spec.source_repos.push(source.clone());
            }
        }
        for text in &self.destinations {
            let parsed = parse_destination(text)?;
            if !project.spec.destinations.contains(&parsed) {
                project.spec.destinations.push(parsed);
            }
        }
        project.metadata.resource_version = None;
        project.metadata.uid = None;
        project.metadata.creation_timestamp = None;
        project.metadata.managed_fields = None;
        project.status = None;
        Ok(project)
    }

    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let project = self.project()?;
        let name = name(&project).to_owned();
        api.projects()
            .create(api.request(ProjectCreateRequest {
                project: Some(KubeObject::from_object(&project)?),
                upsert: self.upsert,
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("creating project '{name}'"))?;
        writeln!(out, "project '{name}' created")?;
        Ok(())
    }
}

/// `SERVER,NAMESPACE` as a project destination.
pub(crate) fn parse_destination(text: &str) -> anyhow::Result<ApplicationDestination> {
    match text.split_once(',') {
        Some((server, namespace)) if !server.is_empty() && !namespace.contains(',') => {
            Ok(ApplicationDestination {
                server: server.to_owned(),
                namespace: namespace.to_owned(),
                ..ApplicationDestination::default()
            })
        }
        _ => bail!(
            "invalid destination {text:?}: expected SERVER,NAMESPACE (e.g. \
             https://kubernetes.default.svc,default or *,*)"
        ),
    }
}

/// `capstan proj delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The project's name.
    #[arg(value_name = "PROJECT")]
    pub name: String,
}

impl DeleteArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        api.projects()
            .delete(api.request(ProjectQuery {
                name: self.name.clone(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("deleting project '{}'", self.name))?;
        writeln!(out, "project '{}' deleted", self.name)?;
        Ok(())
    }
}

/// `capstan proj role`.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// The role command.
    #[command(subcommand)]
    pub command: RoleCommand,
}

/// The `capstan proj role` commands.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a token for a project role.
    #[command(visible_alias = "token-create")]
    CreateToken(CreateTokenArgs),
}

/// `capstan proj role create-token`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  capstan proj role create-token team-a ci --expires-in 24h\n  \
                        TOKEN=$(capstan proj role create-token team-a ci -t)"
)]
pub struct CreateTokenArgs {
    /// The project.
    #[arg(value_name = "PROJECT")]
    pub project: String,

    /// The role.
    #[arg(value_name = "ROLE")]
    pub role: String,

    /// Lifetime of the token (`24h`, `7d`); 0 for a token that does not expire.
    #[arg(short = 'e', long, default_value = "0", value_parser = parse_duration)]
    pub expires_in: Duration,

    /// Token ID (JWT `jti`) [default: generated by the server].
    #[arg(short = 'i', long)]
    pub id: Option<String>,

    /// Description recorded with the token.
    #[arg(long)]
    pub description: Option<String>,

    /// Print only the token.
    #[arg(short = 't', long)]
    pub token_only: bool,
}

impl CreateTokenArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let token = api
            .projects()
            .create_token(api.request(ProjectTokenCreateRequest {
                project: self.project.clone(),
                description: self.description.clone().unwrap_or_default(),
                role: self.role.clone(),
                expires_in:
                    i64::try_from(self.expires_in.as_secs()).context("--expires-in is too large")?,
                id: self.id.clone().unwrap_or_default(),
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| {
                format!(
                    "creating a token for role '{}' of project '{}'",
                    self.role, self.project
                )
            })?
            .into_inner()
            .token;
        if self.token_only {
            writeln!(out, "{token}")?;
            return Ok(());
        }
        out.write_all(token_report(&self.project, &self.role, &token).as_bytes())?;
        Ok(())
    }
}

/// The claims of a JWT that `create-token` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenClaims {
    pub id: String,
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// Reads the (unverified) claims of a JWT: `jti`, `iat`, `exp`. `None` for a token that is
/// not a JWT.
pub(crate) fn token_claims(token: &str) -> Option<TokenClaims> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    Some(TokenClaims {
        id: claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        issued_at: claims.get("iat").and_then(Value::as_i64),
        expires_at: claims.get("exp").and_then(Value::as_i64),
    })
}

/// argocd's `create-token` report.
pub(crate) fn token_report(project: &str, role: &str, token: &str) -> String {
    let time = |seconds: Option<i64>, none: &str| {
        seconds
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map_or_else(|| none.to_owned(), |t| t.to_string())
    };
    let claims = token_claims(token).unwrap_or_default();
    format!(
        "Create token succeeded for proj:{project}:{role}.\n  ID: {}\n  Issued At: {}\n  \
         Expires At: {}\n  Token: {token}\n",
        claims.id,
        time(claims.issued_at, ""),
        time(claims.expires_at.filter(|exp| *exp != 0), "Never"),
    )
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::{TokenClaims, details, list_table, parse_destination, token_claims, token_report};

    fn project(value: serde_json::Value) -> capstan_types::AppProject {
        serde_json::from_value(value).expect("valid project")
    }

    #[test]
    fn list_table_summarises_like_argocd() {
        let projects = [
            project(json!({"metadata": {"name": "default"}, "spec": {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": "*"}],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            }})),
            project(json!({"metadata": {"name": "team-a"}, "spec": {
                "description": "Team A",
                "sourceRepos": ["https://a", "https://b"],
                "orphanedResources": {"warn": true},
            }})),
        ];
        assert_eq!(
            list_table(&projects).render(),
            "NAME     DESCRIPTION  DESTINATIONS  SOURCES  CLUSTER-RESOURCE-WHITELIST  \
             NAMESPACE-RESOURCE-BLACKLIST  SIGNATURE-KEYS  ORPHANED-RESOURCES   \
             DESTINATION-SERVICE-ACCOUNTS\n\
             default               *,*           *        */*                         \
             <none>                        <none>          disabled             <none>\n\
             team-a   Team A       <none>        2 repos  <none>                      \
             <none>                        <none>          enabled (warn=true)  <none>\n"
        );
    }

    #[test]
    fn details_list_every_value() {
        let text = details(&project(json!({"metadata": {"name": "p"}, "spec": {
            "sourceRepos": ["https://a", "https://b"],
            "destinations": [{"server": "https://k", "namespace": "ns"}],
        }})));
        assert_eq!(
            text,
            "Name:                        p\n\
             Description:\n\
             Destinations:                https://k,ns\n\
             Repositories:                https://a\n\
             \x20                            https://b\n\
             Allowed Cluster Resources:   <none>\n\
             Denied Namespaced Resources: <none>\n\
             Signature keys:              <none>\n\
             Orphaned Resources:          disabled\n\
             Roles:                       <none>\n\
             Sync Windows:                <none>\n"
        );
    }

    #[test]
    fn destinations() {
        let dest = parse_destination("https://kubernetes.default.svc,default").expect("valid");
        assert_eq!(
            (dest.server.as_str(), dest.namespace.as_str()),
            ("https://kubernetes.default.svc", "default")
        );
        assert!(parse_destination("*,*").is_ok());
        assert!(parse_destination("https://k").is_err());
        assert!(parse_destination(",ns").is_err());
        assert!(parse_destination("a,b,c").is_err());
    }

    #[test]
    fn token_reports() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"jti":"abc","iat":1700000000,"sub":"proj:p:r"}"#);
        let token = format!("eyJhbGciOiJFZERTQSJ9.{payload}.sig");
        assert_eq!(
            token_claims(&token),
            Some(TokenClaims {
                id: "abc".to_owned(),
                issued_at: Some(1_700_000_000),
                expires_at: None,
            })
        );
        assert_eq!(
            token_report("p", "r", &token),
            format!(
                "Create token succeeded for proj:p:r.\n  ID: abc\n  Issued At: \
                 2023-11-14T22:13:20Z\n  Expires At: Never\n  Token: {token}\n"
            )
        );
        assert_eq!(token_claims("not-a-jwt"), None);
    }
}
