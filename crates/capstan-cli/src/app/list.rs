//! `capstan app list`: every page of `ApplicationService.List`, followed through its continue
//! tokens, or the first `--limit` applications.

use std::io::Write;

use anyhow::{Context, bail};
use capstan_proto::application::v1::ApplicationQuery;
use clap::Args;

use super::{AppObject, view};
use crate::client::Api;
use crate::output::{ListOutput, print_list};

/// Page size used to read every application.
const PAGE_SIZE: u32 = 500;

/// `capstan app list`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  capstan app list\n  capstan app list -p default -l team=a\n  \
                        capstan app list -o name"
)]
pub struct ListArgs {
    /// Only applications of this project (repeatable).
    #[arg(short = 'p', long = "project", value_name = "PROJECT")]
    pub projects: Vec<String>,

    /// Only applications matching this label selector (`team=a,tier!=db`).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Only applications whose source repository is this URL.
    #[arg(short = 'r', long, value_name = "REPO")]
    pub repo: Option<String>,

    /// Only applications in this namespace (apps in any namespace).
    #[arg(short = 'N', long, value_name = "NAMESPACE")]
    pub app_namespace: Option<String>,

    /// At most this many applications (one page); all of them when absent.
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ListOutput,
}

impl ListArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let query = ApplicationQuery {
            projects: self.projects.clone(),
            selector: self.selector.clone().unwrap_or_default(),
            repo: self.repo.clone().unwrap_or_default(),
            app_namespace: self.app_namespace.clone().unwrap_or_default(),
            limit: self.limit.unwrap_or(PAGE_SIZE),
            ..ApplicationQuery::default()
        };
        let apps = list_all(api, query, self.limit.is_none()).await?;
        let raw: Vec<_> = apps.iter().map(|app| &app.raw).collect();
        if print_list(
            out,
            self.output,
            &raw,
            apps.iter().map(|a| view::name(&a.app)),
        )? {
            return Ok(());
        }
        let apps: Vec<_> = apps.into_iter().map(|app| app.app).collect();
        let table = view::list_table(&apps, self.output == ListOutput::Wide);
        out.write_all(table.render().as_bytes())?;
        Ok(())
    }
}

/// Lists the applications `query` selects: the first page only, or every page when `all`.
async fn list_all(
    api: &Api,
    mut query: ApplicationQuery,
    all: bool,
) -> anyhow::Result<Vec<AppObject>> {
    let mut apps = Vec::new();
    loop {
        let page = api
            .applications()
            .list(api.request(query.clone()))
            .await
            .map_err(|status| api.error(status))
            .context("listing applications")?
            .into_inner();
        for item in &page.items {
            apps.push(AppObject::decode(item)?);
        }
        let next = page
            .metadata
            .map(|meta| meta.r#continue)
            .unwrap_or_default();
        if !all || next.is_empty() {
            return Ok(apps);
        }
        if next == query.r#continue {
            bail!("listing applications: the server returned the same continue token twice");
        }
        query.r#continue = next;
    }
}
