//! `capstan cluster`: destination clusters (Argo CD's `argocd cluster`), through the
//! api-server's `ClusterService`. Today `list`.

use std::io::Write;

use anyhow::Context;
use capstan_proto::cluster::v1::{Cluster, ClusterQuery};
use capstan_proto::common::v1::ConnectionState;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::GlobalArgs;
use crate::client::Api;
use crate::output::{ListOutput, Table, print_list};

/// `capstan cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The cluster command.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The `capstan cluster` commands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// List configured clusters.
    List(ListArgs),
}

impl ClusterArgs {
    pub(crate) async fn run(self, global: &GlobalArgs, out: &mut dyn Write) -> anyhow::Result<()> {
        let api = Api::from_global(global).await?;
        match self.command {
            ClusterCommand::List(args) => args.run(&api, out).await,
        }
    }
}

/// `capstan cluster list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format (`name` prints the server URLs).
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ListOutput,
}

impl ListArgs {
    async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let clusters = api
            .clusters()
            .list(api.request(ClusterQuery::default()))
            .await
            .map_err(|status| api.error(status))
            .context("listing clusters")?
            .into_inner()
            .items;
        let json: Vec<Value> = clusters.iter().map(cluster_json).collect();
        if print_list(out, self.output, &json, clusters.iter().map(|c| &c.server))? {
            return Ok(());
        }
        out.write_all(list_table(&clusters).render().as_bytes())?;
        Ok(())
    }
}

/// argocd's `cluster list` table: `SERVER  NAME  VERSION  STATUS  MESSAGE  PROJECT`.
pub(crate) fn list_table(clusters: &[Cluster]) -> Table {
    let mut table = Table::new(["SERVER", "NAME", "VERSION", "STATUS", "MESSAGE", "PROJECT"]);
    for cluster in clusters {
        let info = cluster.info.as_ref();
        let state = info.and_then(|info| info.connection_state.as_ref());
        table.row([
            cluster.server.clone(),
            cluster.name.clone(),
            info.map(|info| info.server_version.clone())
                .unwrap_or_default(),
            state.map(|state| state.status.clone()).unwrap_or_default(),
            state.map(|state| state.message.clone()).unwrap_or_default(),
            cluster.project.clone(),
        ]);
    }
    table
}

/// A connection state as Argo CD's JSON (`status`, `message`, `attemptedAt`).
pub(crate) fn connection_state_json(state: &ConnectionState) -> Value {
    let mut map = Map::new();
    map.insert("status".to_owned(), json!(state.status));
    if !state.message.is_empty() {
        map.insert("message".to_owned(), json!(state.message));
    }
    if let Some(time) = &state.attempted_at
        && let Ok(time) = jiff::Timestamp::new(time.seconds, time.nanos)
    {
        map.insert("attemptedAt".to_owned(), json!(time.to_string()));
    }
    Value::Object(map)
}

/// A cluster as Argo CD's JSON, without credentials (which the server never returns) and
/// without empty fields.
pub(crate) fn cluster_json(cluster: &Cluster) -> Value {
    let mut map = Map::new();
    map.insert("server".to_owned(), json!(cluster.server));
    if !cluster.name.is_empty() {
        map.insert("name".to_owned(), json!(cluster.name));
    }
    if !cluster.namespaces.is_empty() {
        map.insert("namespaces".to_owned(), json!(cluster.namespaces));
    }
    if cluster.cluster_resources {
        map.insert("clusterResources".to_owned(), json!(true));
    }
    if !cluster.project.is_empty() {
        map.insert("project".to_owned(), json!(cluster.project));
    }
    if let Some(shard) = cluster.shard {
        map.insert("shard".to_owned(), json!(shard));
    }
    if !cluster.labels.is_empty() {
        map.insert("labels".to_owned(), json!(cluster.labels));
    }
    if !cluster.annotations.is_empty() {
        map.insert("annotations".to_owned(), json!(cluster.annotations));
    }
    if let Some(info) = &cluster.info {
        let mut info_map = Map::new();
        if let Some(state) = &info.connection_state {
            info_map.insert("connectionState".to_owned(), connection_state_json(state));
        }
        if !info.server_version.is_empty() {
            info_map.insert("serverVersion".to_owned(), json!(info.server_version));
        }
        if info.applications_count != 0 {
            info_map.insert(
                "applicationsCount".to_owned(),
                json!(info.applications_count),
            );
        }
        map.insert("info".to_owned(), Value::Object(info_map));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use capstan_proto::cluster::v1::{Cluster, ClusterInfo};
    use capstan_proto::common::v1::ConnectionState;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::{cluster_json, list_table};

    #[test]
    fn tables_and_json() {
        let clusters = vec![Cluster {
            server: "https://kubernetes.default.svc".to_owned(),
            name: "in-cluster".to_owned(),
            info: Some(ClusterInfo {
                connection_state: Some(ConnectionState {
                    status: "Successful".to_owned(),
                    ..ConnectionState::default()
                }),
                server_version: "1.33".to_owned(),
                applications_count: 2,
                ..ClusterInfo::default()
            }),
            ..Cluster::default()
        }];
        assert_eq!(
            list_table(&clusters).render(),
            "SERVER                          NAME        VERSION  STATUS      MESSAGE  PROJECT\n\
             https://kubernetes.default.svc  in-cluster  1.33     Successful\n"
        );
        assert_eq!(
            cluster_json(&clusters[0]),
            json!({
                "server": "https://kubernetes.default.svc",
                "name": "in-cluster",
                "info": {
                    "connectionState": {"status": "Successful"},
                    "serverVersion": "1.33",
                    "applicationsCount": 2,
                },
            })
        );
    }
}
