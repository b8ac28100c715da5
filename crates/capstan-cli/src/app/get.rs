//! The read-only application commands: `app get`, `app history`, `app manifests` and
//! `app resources`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use capstan_proto::application::v1::{
    ApplicationManifestQuery, ApplicationSyncWindowsQuery, ApplicationSyncWindowsResponse,
    ResourcesQuery,
};
use capstan_proto::settings::v1::SettingsQuery;
use clap::{Args, ValueEnum};
use jiff::Timestamp;
use serde_json::Value;

use super::view::{self, SummaryExtras};
use super::{AppRef, get_app, refresh_mode};
use crate::client::Api;
use crate::output::{ObjectOutput, Table, print_object, to_yaml};

/// How long the optional lines of a summary (URL, sync window) may take.
const EXTRAS_TIMEOUT: Duration = Duration::from_secs(5);

/// `capstan app get`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  capstan app get guestbook\n  \
                        capstan app get guestbook --refresh -o yaml")]
pub struct GetArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// Refresh the application's data (compare with Git again) before answering.
    #[arg(long)]
    pub refresh: bool,

    /// Refresh, also bypassing the manifest cache.
    #[arg(long)]
    pub hard_refresh: bool,

    /// Show the last operation's result.
    #[arg(long)]
    pub show_operation: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ObjectOutput,
}

impl GetArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let object = get_app(api, &app, refresh_mode(self.refresh, self.hard_refresh)).await?;
        if print_object(out, self.output, &object.raw)? {
            return Ok(());
        }
        let extras = summary_extras(api, &app).await;
        let text = view::details(&object.app, &extras, self.show_operation, Timestamp::now());
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}

/// The URL and sync-window lines of a summary, from the settings and the sync windows; each
/// left out when its call fails (they are extras, not the object).
pub(crate) async fn summary_extras(api: &Api, app: &AppRef) -> SummaryExtras {
    let url = api
        .settings()
        .get(api.request_within(SettingsQuery {}, EXTRAS_TIMEOUT))
        .await
        .ok()
        .map(|response| response.into_inner().url)
        .filter(|url| !url.is_empty())
        .map(|url| format!("{}/applications/{}", url.trim_end_matches('/'), app.name));
    let sync_window = api
        .applications()
        .get_application_sync_windows(api.request_within(
            ApplicationSyncWindowsQuery {
                name: app.name.clone(),
                app_namespace: app.namespace.clone(),
                project: String::new(),
            },
            EXTRAS_TIMEOUT,
        ))
        .await
        .ok()
        .map(|response| sync_window_status(&response.into_inner()));
    SummaryExtras { url, sync_window }
}

/// argocd's SyncWindow line: `Sync Allowed` without windows or when a sync may start,
/// `Manual Allowed` when only manual syncs may, `Sync Denied` otherwise.
pub(crate) fn sync_window_status(windows: &ApplicationSyncWindowsResponse) -> String {
    if windows.assigned_windows.is_empty() || windows.can_sync {
        return "Sync Allowed".to_owned();
    }
    let manual = windows
        .active_windows
        .iter()
        .filter(|window| window.kind == "deny")
        .all(|window| window.manual_sync);
    if manual
        && windows
            .active_windows
            .iter()
            .any(|window| window.kind == "deny")
    {
        "Manual Allowed".to_owned()
    } else {
        "Sync Denied".to_owned()
    }
}

/// `capstan app history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// Output format (`json` and `yaml` print `status.history`).
    #[arg(short, long, value_enum, default_value_t)]
    pub output: ObjectOutput,
}

impl HistoryArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let object = get_app(api, &app, None).await?;
        let raw_history = object
            .raw
            .pointer("/status/history")
            .cloned()
            .unwrap_or_else(|| Value::Array(Vec::new()));
        if print_object(out, self.output, &raw_history)? {
            return Ok(());
        }
        let history = object
            .app
            .status
            .as_ref()
            .map(|status| status.history.as_slice())
            .unwrap_or_default();
        out.write_all(view::history_table(history).render().as_bytes())?;
        Ok(())
    }
}

/// Where `app manifests` takes the manifests from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ManifestSource {
    /// The desired manifests, rendered from the source at the target (or given) revision.
    #[default]
    Git,
    /// The live objects of the application's managed resources.
    Live,
}

/// `capstan app manifests`.
#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// Source of the manifests.
    #[arg(long, value_enum, default_value_t)]
    pub source: ManifestSource,

    /// Render this revision instead of the target revision (`--source git` only).
    #[arg(long)]
    pub revision: Option<String>,
}

impl ManifestsArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let documents: Vec<String> = match self.source {
            ManifestSource::Git => {
                api.applications()
                    .get_manifests(api.request(ApplicationManifestQuery {
                        name: app.name.clone(),
                        revision: self.revision.clone(),
                        app_namespace: app.namespace.clone(),
                        ..ApplicationManifestQuery::default()
                    }))
                    .await
                    .map_err(|status| api.error(status))
                    .with_context(|| format!("getting the manifests of application '{app}'"))?
                    .into_inner()
                    .manifests
            }
            ManifestSource::Live => {
                if self.revision.is_some() {
                    anyhow::bail!("--revision applies to --source git only");
                }
                managed_resources(api, &app)
                    .await?
                    .into_iter()
                    .map(|item| item.live_state)
                    .filter(|state| !is_absent(state))
                    .collect()
            }
        };
        out.write_all(manifests_yaml(&documents)?.as_bytes())?;
        Ok(())
    }
}

/// The managed resources of `app` and their states (`ManagedResources`).
pub(crate) async fn managed_resources(
    api: &Api,
    app: &AppRef,
) -> anyhow::Result<Vec<capstan_proto::application::v1::ResourceDiff>> {
    Ok(api
        .applications()
        .managed_resources(api.request(ResourcesQuery {
            application_name: app.name.clone(),
            app_namespace: app.namespace.clone(),
            ..ResourcesQuery::default()
        }))
        .await
        .map_err(|status| api.error(status))
        .with_context(|| format!("getting the managed resources of application '{app}'"))?
        .into_inner()
        .items)
}

/// Whether a state sent as JSON means "no object" (empty or `null`).
pub(crate) fn is_absent(state: &str) -> bool {
    matches!(state.trim(), "" | "null")
}

/// JSON documents as a YAML stream, each preceded by `---` (as argocd prints manifests).
pub(crate) fn manifests_yaml(documents: &[String]) -> anyhow::Result<String> {
    let mut text = String::new();
    for (index, document) in documents.iter().enumerate() {
        let value: Value = serde_json::from_str(document)
            .or_else(|_| serde_yaml_ng::from_str(document))
            .with_context(|| format!("decoding manifest {} sent by the server", index + 1))?;
        text.push_str("---\n");
        text.push_str(&to_yaml(&value)?);
    }
    Ok(text)
}

/// `capstan app resources`.
#[derive(Debug, Args)]
pub struct ResourcesArgs {
    /// The application (`NAME` or `NAMESPACE/NAME`).
    #[arg(value_name = "APPNAME")]
    pub app: String,

    /// List only orphaned resources.
    #[arg(long)]
    pub orphaned: bool,
}

impl ResourcesArgs {
    pub(crate) async fn run(self, api: &Api, out: &mut dyn Write) -> anyhow::Result<()> {
        let app = AppRef::parse(&self.app)?;
        let tree = api
            .applications()
            .resource_tree(api.request(ResourcesQuery {
                application_name: app.name.clone(),
                app_namespace: app.namespace.clone(),
                ..ResourcesQuery::default()
            }))
            .await
            .map_err(|status| api.error(status))
            .with_context(|| format!("getting the resource tree of application '{app}'"))?
            .into_inner();
        let tree: Value = tree
            .to_object()
            .context("decoding the resource tree sent by the server")?;
        out.write_all(resources_table(&tree, self.orphaned).render().as_bytes())?;
        Ok(())
    }
}

/// argocd's `app resources` table, `GROUP  KIND  NAMESPACE  NAME  ORPHANED`: the managed
/// (top-level) nodes of the tree, then its orphaned nodes; only the latter with `orphaned`.
pub(crate) fn resources_table(tree: &Value, orphaned: bool) -> Table {
    let mut table = Table::new(["GROUP", "KIND", "NAMESPACE", "NAME", "ORPHANED"]);
    let text = |node: &Value, key: &str| {
        node.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let has_parent = |node: &Value| {
        ["parentRefs", "parentUids"].iter().any(|key| {
            node.get(*key)
                .and_then(Value::as_array)
                .is_some_and(|parents| !parents.is_empty())
        })
    };
    let nodes = |key: &str| {
        tree.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if !orphaned {
        for node in nodes("nodes").iter().filter(|node| !has_parent(node)) {
            table.row([
                text(node, "group"),
                text(node, "kind"),
                text(node, "namespace"),
                text(node, "name"),
                "No".to_owned(),
            ]);
        }
    }
    for node in &nodes("orphanedNodes") {
        table.row([
            text(node, "group"),
            text(node, "kind"),
            text(node, "namespace"),
            text(node, "name"),
            "Yes".to_owned(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use capstan_proto::application::v1::{ApplicationSyncWindow, ApplicationSyncWindowsResponse};
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::{is_absent, manifests_yaml, resources_table, sync_window_status};

    #[test]
    fn sync_window_lines() {
        let window = |kind: &str, manual_sync: bool| ApplicationSyncWindow {
            kind: kind.to_owned(),
            schedule: "* * * * *".to_owned(),
            duration: "1h".to_owned(),
            manual_sync,
        };
        let cases = [
            (vec![], vec![], false, "Sync Allowed"),
            (
                vec![window("allow", false)],
                vec![window("allow", false)],
                true,
                "Sync Allowed",
            ),
            (
                vec![window("deny", false)],
                vec![window("deny", false)],
                false,
                "Sync Denied",
            ),
            (
                vec![window("deny", true)],
                vec![window("deny", true)],
                false,
                "Manual Allowed",
            ),
            // An inactive allow window only: no sync now.
            (vec![window("allow", false)], vec![], false, "Sync Denied"),
        ];
        for (assigned, active, can_sync, want) in cases {
            let response = ApplicationSyncWindowsResponse {
                active_windows: active,
                assigned_windows: assigned,
                can_sync,
            };
            assert_eq!(sync_window_status(&response), want);
        }
    }

    #[test]
    fn manifests_print_as_a_yaml_stream() {
        let documents = vec![
            r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"}}"#.to_owned(),
            "kind: ConfigMap\nmetadata:\n  name: cm\n".to_owned(),
        ];
        assert_eq!(
            manifests_yaml(&documents).expect("valid"),
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n\
             ---\nkind: ConfigMap\nmetadata:\n  name: cm\n"
        );
        assert_eq!(manifests_yaml(&[]).expect("empty"), "");
        assert!(manifests_yaml(&["{".to_owned()]).is_err());
        assert!(is_absent("") && is_absent(" null ") && !is_absent("{}"));
    }

    #[test]
    fn resources_list_managed_then_orphaned() {
        let tree = json!({
            "nodes": [
                {"group": "apps", "kind": "Deployment", "namespace": "default", "name": "web"},
                {"group": "apps", "kind": "ReplicaSet", "namespace": "default", "name": "web-1",
                 "parentRefs": [{"kind": "Deployment", "name": "web"}]},
                {"kind": "Pod", "namespace": "default", "name": "web-1-x", "parentUids": ["u"]},
                {"kind": "Service", "namespace": "default", "name": "web"},
            ],
            "orphanedNodes": [{"kind": "ConfigMap", "namespace": "default", "name": "old"}],
        });
        assert_eq!(
            resources_table(&tree, false).render(),
            "GROUP  KIND        NAMESPACE  NAME  ORPHANED\n\
             apps   Deployment  default    web   No\n\
             \x20      Service     default    web   No\n\
             \x20      ConfigMap   default    old   Yes\n"
        );
        assert_eq!(
            resources_table(&tree, true).render(),
            "GROUP  KIND       NAMESPACE  NAME  ORPHANED\n\
             \x20      ConfigMap  default    old   Yes\n"
        );
    }
}
