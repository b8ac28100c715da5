//! `capstan admin export` / `capstan admin import`: Argo CD's disaster-recovery backup of an
//! installation's state — Applications, AppProjects, ApplicationSets, the settings ConfigMaps
//! and Secrets, repository and cluster Secrets and Capstan's signing keys — as one YAML
//! stream, read from and written back to the Kubernetes API with the user's kubeconfig (as
//! `argocd admin` does: it works while Capstan itself is down).
//!
//! What is exported and how it is cleaned is pure ([`selected`], [`clean`], [`import_order`]);
//! the IO around it is a list per kind and a create-or-replace per object.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams,
};
use serde::Deserialize;
use serde_json::Value;

/// The label Argo CD puts on repository, repository-credential and cluster Secrets.
const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// ConfigMaps and Secrets that hold settings, by name.
const SETTINGS_CONFIG_MAPS: &[&str] = &[
    "argocd-cm",
    "argocd-rbac-cm",
    "argocd-ssh-known-hosts-cm",
    "argocd-tls-certs-cm",
    "argocd-gpg-keys-cm",
    "argocd-cmd-params-cm",
];
const SETTINGS_SECRETS: &[&str] = &["argocd-secret", "capstan-signing-keys"];

/// One kind the backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConfigMap,
    Secret,
    AppProject,
    Application,
    ApplicationSet,
}

impl Kind {
    /// Import order: settings and credentials before the projects that name them, projects
    /// before the apps they admit, apps before the sets that may own them.
    pub const ALL: [Kind; 5] = [
        Kind::ConfigMap,
        Kind::Secret,
        Kind::AppProject,
        Kind::Application,
        Kind::ApplicationSet,
    ];

    fn gvk(self) -> GroupVersionKind {
        match self {
            Kind::ConfigMap => GroupVersionKind::gvk("", "v1", "ConfigMap"),
            Kind::Secret => GroupVersionKind::gvk("", "v1", "Secret"),
            Kind::AppProject => GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            Kind::Application => GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
            Kind::ApplicationSet => {
                GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet")
            }
        }
    }

    fn resource(self) -> ApiResource {
        let plural = match self {
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::AppProject => "appprojects",
            Kind::Application => "applications",
            Kind::ApplicationSet => "applicationsets",
        };
        ApiResource::from_gvk_with_plural(&self.gvk(), plural)
    }

    /// The kind of a backup document (`apiVersion` + `kind`).
    pub fn of(object: &Value) -> Option<Kind> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        Kind::ALL.into_iter().find(|k| {
            let gvk = k.gvk();
            gvk.kind == kind && gvk.api_version() == api_version
        })
    }
}

/// Whether an object of `kind` belongs in the backup: every Argo CD object; only the settings
/// ConfigMaps and Secrets, and Secrets labelled as repositories, repository credentials or
/// clusters.
pub fn selected(kind: Kind, object: &Value) -> bool {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        Kind::ConfigMap => SETTINGS_CONFIG_MAPS.contains(&name),
        Kind::Secret => {
            SETTINGS_SECRETS.contains(&name)
                || object
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(SECRET_TYPE_LABEL))
                    .and_then(Value::as_str)
                    .is_some_and(|t| matches!(t, "repository" | "repo-creds" | "cluster"))
        }
        Kind::AppProject | Kind::Application | Kind::ApplicationSet => true,
    }
}

/// An object as the backup keeps it: its identity, labels, annotations and finalizers, and its
/// content (`spec`, `data`, ...); not what the cluster or a controller adds (`uid`,
/// `resourceVersion`, `managedFields`, owner references, `status`) nor a pending `operation`
/// (a restore must not start a sync someone asked for before the disaster).
pub fn clean(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        map.remove("operation");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, _| matches!(k.as_str(), "name" | "labels" | "annotations" | "finalizers"));
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            // kubectl's copy of the last applied object would restore a stale view of it
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    object
}

/// The documents of a backup in the order they are imported (see [`Kind::ALL`]), keeping the
/// backup's order within a kind. Documents of other kinds are refused: a backup names only
/// what export writes.
pub fn import_order(documents: Vec<Value>) -> anyhow::Result<Vec<(Kind, Value)>> {
    let mut typed = Vec::with_capacity(documents.len());
    for (i, doc) in documents.into_iter().enumerate() {
        let kind = Kind::of(&doc).ok_or_else(|| {
            anyhow!(
                "document {} is a {} {}: a backup holds only ConfigMaps, Secrets, AppProjects, \
                 Applications and ApplicationSets",
                i + 1,
                doc.get("apiVersion").and_then(Value::as_str).unwrap_or("?"),
                doc.get("kind").and_then(Value::as_str).unwrap_or("?"),
            )
        })?;
        if doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            bail!("document {} ({kind:?}) has no metadata.name", i + 1);
        }
        typed.push((kind, doc));
    }
    typed.sort_by_key(|(kind, _)| Kind::ALL.iter().position(|k| k == kind));
    Ok(typed)
}

/// Parses a YAML stream (`---` separated; empty documents skipped).
pub fn parse_stream(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).with_context(|| format!("document {}", i + 1))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Where the Kubernetes API is and which namespace Capstan lives in.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The namespace Capstan (Argo CD) is installed in.
    #[arg(short = 'n', long, default_value = "argocd")]
    pub namespace: String,
    /// Path to a kubeconfig file [default: $KUBECONFIG or ~/.kube/config, or the in-cluster
    /// service account].
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of its current one.
    #[arg(long, value_name = "NAME")]
    pub kube_context: Option<String>,
}

impl ClusterArgs {
    async fn client(&self) -> anyhow::Result<kube::Client> {
        let options = kube::config::KubeConfigOptions {
            context: self.kube_context.clone(),
            ..Default::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
            }
            None if self.kube_context.is_some() => kube::Config::from_kubeconfig(&options).await?,
            None => kube::Config::infer()
                .await
                .context("finding a kubeconfig")?,
        };
        Ok(kube::Client::try_from(config)?)
    }

    fn api(&self, client: &kube::Client, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &kind.resource())
    }
}

/// `capstan admin export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Write the backup to this file instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub out: Option<PathBuf>,
}

impl ExportArgs {
    pub(crate) async fn run(self, out: &mut dyn Write) -> anyhow::Result<()> {
        let client = self.cluster.client().await?;
        let mut text = String::new();
        let mut counts = Vec::new();
        for kind in Kind::ALL {
            let list = match self
                .cluster
                .api(&client, kind)
                .list(&ListParams::default())
                .await
            {
                Ok(list) => list,
                // an installation without the ApplicationSet CRD still backs up
                Err(kube::Error::Api(e)) if e.code == 404 && kind == Kind::ApplicationSet => {
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "listing {:?}s in namespace {}",
                            kind, self.cluster.namespace
                        )
                    });
                }
            };
            let mut n = 0;
            for item in list.items {
                let mut value = serde_json::to_value(&item)?;
                let gvk = kind.gvk();
                value["apiVersion"] = Value::String(gvk.api_version());
                value["kind"] = Value::String(gvk.kind.clone());
                if !selected(kind, &value) {
                    continue;
                }
                text.push_str("---\n");
                text.push_str(&serde_yaml_ng::to_string(&clean(value))?);
                n += 1;
            }
            counts.push(format!("{n} {kind:?}s"));
        }
        match &self.out {
            Some(path) => std::fs::write(path, &text)
                .with_context(|| format!("writing {}", path.display()))?,
            None => out.write_all(text.as_bytes())?,
        }
        eprintln!(
            "exported {} from namespace {}",
            counts.join(", "),
            self.cluster.namespace
        );
        Ok(())
    }
}

/// `capstan admin import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The backup file; `-` (the default) reads stdin.
    #[arg(default_value = "-", value_name = "FILE")]
    pub file: String,
    /// Also delete the Applications, AppProjects, ApplicationSets and repository/cluster
    /// Secrets of the namespace that the backup does not have.
    #[arg(long)]
    pub prune: bool,
    /// Print what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,
}

impl ImportArgs {
    pub(crate) async fn run(self, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut text = String::new();
        if self.file == "-" {
            std::io::stdin().read_to_string(&mut text)?;
        } else {
            text = std::fs::read_to_string(&self.file)
                .with_context(|| format!("reading {}", self.file))?;
        }
        let documents = import_order(parse_stream(&text)?)?;
        let client = self.cluster.client().await?;
        let namespace = &self.cluster.namespace;
        let mut kept: BTreeSet<(String, String)> = BTreeSet::new();
        for (kind, mut doc) in documents {
            doc = clean(doc);
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            doc["metadata"]["namespace"] = Value::String(namespace.clone());
            kept.insert((format!("{kind:?}"), name.clone()));
            let api = self.cluster.api(&client, kind);
            let object: DynamicObject =
                serde_json::from_value(doc).with_context(|| format!("{kind:?} {name}"))?;
            let existing = api
                .get_opt(&name)
                .await
                .with_context(|| format!("reading {kind:?} {name}"))?;
            let verb = if existing.is_some() {
                "replaced"
            } else {
                "created"
            };
            if !self.dry_run {
                match existing {
                    Some(current) => {
                        let mut object = object;
                        object.metadata.resource_version = current.metadata.resource_version;
                        api.replace(&name, &PostParams::default(), &object).await
                    }
                    None => api.create(&PostParams::default(), &object).await,
                }
                .with_context(|| format!("writing {kind:?} {name} in namespace {namespace}"))?;
            }
            writeln!(out, "{kind:?} {name} {verb}{}", dry(self.dry_run))?;
        }
        if self.prune {
            for kind in [
                Kind::ApplicationSet,
                Kind::Application,
                Kind::AppProject,
                Kind::Secret,
            ] {
                let api = self.cluster.api(&client, kind);
                let list = match api.list(&ListParams::default()).await {
                    Ok(list) => list,
                    Err(kube::Error::Api(e)) if e.code == 404 => continue,
                    Err(e) => return Err(e).with_context(|| format!("listing {kind:?}s")),
                };
                for item in list.items {
                    let name = item.metadata.name.clone().unwrap_or_default();
                    let value = serde_json::to_value(&item)?;
                    let prunable = kind != Kind::Secret
                        || (selected(kind, &value) && !SETTINGS_SECRETS.contains(&name.as_str()));
                    if !prunable || kept.contains(&(format!("{kind:?}"), name.clone())) {
                        continue;
                    }
                    if !self.dry_run {
                        api.delete(&name, &DeleteParams::default())
                            .await
                            .with_context(|| format!("deleting {kind:?} {name}"))?;
                    }
                    writeln!(out, "{kind:?} {name} pruned{}", dry(self.dry_run))?;
                }
            }
        }
        Ok(())
    }
}

fn dry(dry_run: bool) -> &'static str {
    if dry_run { " (dry run)" } else { "" }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_backup_keeps_argo_cds_objects_and_only_the_settings_and_credentials() {
        let secret = |name: &str, label: Option<&str>| {
            let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}});
            if let Some(l) = label {
                s["metadata"]["labels"] = json!({SECRET_TYPE_LABEL: l});
            }
            s
        };
        let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        let cases = [
            (Kind::ConfigMap, cm("argocd-cm"), true),
            (Kind::ConfigMap, cm("argocd-rbac-cm"), true),
            (Kind::ConfigMap, cm("kube-root-ca.crt"), false),
            (Kind::Secret, secret("argocd-secret", None), true),
            (Kind::Secret, secret("capstan-signing-keys", None), true),
            (Kind::Secret, secret("repo-1", Some("repository")), true),
            (Kind::Secret, secret("creds-1", Some("repo-creds")), true),
            (Kind::Secret, secret("aks-prod", Some("cluster")), true),
            (Kind::Secret, secret("something", Some("other")), false),
            (
                Kind::Secret,
                secret("argocd-initial-admin-secret", None),
                false,
            ),
            (Kind::Application, json!({"metadata": {"name": "x"}}), true),
        ];
        for (kind, object, want) in cases {
            assert_eq!(selected(kind, &object), want, "{object}");
        }
    }

    #[test]
    fn cleaning_drops_what_the_cluster_and_controllers_add() {
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": "web", "namespace": "argocd", "uid": "u", "resourceVersion": "12",
                "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{}], "ownerReferences": [{"kind": "ApplicationSet"}],
                "labels": {"team": "a"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "notifications.argoproj.io/subscribe": "x"
                },
                "finalizers": ["resources-finalizer.argocd.argoproj.io"]
            },
            "spec": {"project": "default", "futureField": 1},
            "operation": {"sync": {}},
            "status": {"sync": {"status": "Synced"}}
        });
        assert_eq!(
            clean(app),
            json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {
                    "name": "web",
                    "labels": {"team": "a"},
                    "annotations": {"notifications.argoproj.io/subscribe": "x"},
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"]
                },
                "spec": {"project": "default", "futureField": 1}
            })
        );
        let only_last_applied = json!({"metadata": {"name": "a", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}"}}});
        assert_eq!(clean(only_last_applied), json!({"metadata": {"name": "a"}}));
    }

    #[test]
    fn imports_settings_then_projects_then_apps_then_sets() {
        let text = "---\napiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: set}\n\
                    ---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: app}\n\
                    ---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: repo}\n\
                    ---\napiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: proj}\n\
                    ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\n";
        let order: Vec<(Kind, String)> = import_order(parse_stream(text).unwrap())
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v["metadata"]["name"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            order,
            vec![
                (Kind::ConfigMap, "argocd-cm".to_owned()),
                (Kind::Secret, "repo".to_owned()),
                (Kind::AppProject, "proj".to_owned()),
                (Kind::Application, "app".to_owned()),
                (Kind::ApplicationSet, "set".to_owned()),
            ]
        );
    }

    #[test]
    fn a_backup_with_other_kinds_or_nameless_objects_is_refused() {
        let other =
            parse_stream("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n").unwrap();
        let err = import_order(other).unwrap_err().to_string();
        assert!(err.contains("document 1 is a apps/v1 Deployment"), "{err}");
        let nameless = parse_stream("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap();
        assert!(
            import_order(nameless)
                .unwrap_err()
                .to_string()
                .contains("no metadata.name")
        );
        assert!(parse_stream("a: [").is_err());
    }
}
