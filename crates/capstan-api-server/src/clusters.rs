//! Clusters: CRUD over Argo CD's cluster Secrets (`argocd.argoproj.io/secret-type: cluster`)
//! with RBAC (`clusters, <action>, <server>`); the in-cluster destination is listed even
//! without a Secret, as in Argo CD. Credentials are stored, never returned.

use std::collections::BTreeMap;

use capstan_types::settings::{Cluster, IN_CLUSTER_NAME, IN_CLUSTER_SERVER, normalize_server};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde::Serialize;
use sha2::Digest;

use crate::audit;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::repos::SECRET_TYPE_LABEL;
use crate::state::ApiState;

/// A cluster as the API shows it (Argo CD's JSON names, no credentials).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// API server URL.
    pub server: String,
    /// Name.
    pub name: String,
    /// Namespaces it is limited to (empty: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Whether cluster-scoped resources are managed when namespaces are set.
    pub cluster_resources: bool,
    /// Project it is scoped to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// Labels of the Secret.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Applications targeting it.
    pub info: ClusterInfo,
}

/// Derived information.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Number of Applications whose destination is this cluster.
    pub applications_count: i64,
}

fn in_cluster() -> ClusterView {
    ClusterView {
        server: IN_CLUSTER_SERVER.to_owned(),
        name: IN_CLUSTER_NAME.to_owned(),
        namespaces: Vec::new(),
        cluster_resources: true,
        project: String::new(),
        labels: BTreeMap::new(),
        info: ClusterInfo::default(),
    }
}

fn parse(secret: &Secret) -> Option<ClusterView> {
    let data: BTreeMap<String, String> = secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    let cluster = Cluster::from_secret_data(&secret.name_any(), &data).ok()?;
    Some(ClusterView {
        server: cluster.server,
        name: cluster.name,
        namespaces: cluster.namespaces,
        cluster_resources: cluster.cluster_resources,
        project: cluster.project.unwrap_or_default(),
        labels: secret
            .labels()
            .iter()
            .filter(|(k, _)| k.as_str() != SECRET_TYPE_LABEL)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        info: ClusterInfo::default(),
    })
}

async fn all(state: &ApiState) -> ApiResult<Vec<(Option<Secret>, ClusterView)>> {
    let api: Api<Secret> = Api::namespaced(state.client.clone(), &state.namespace);
    let secrets = api
        .list(&ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}=cluster")))
        .await
        .map_err(|e| ApiError::from_kube(e, "secrets of", "cluster"))?;
    let mut clusters: Vec<(Option<Secret>, ClusterView)> = secrets
        .items
        .into_iter()
        .filter_map(|s| parse(&s).map(|v| (Some(s), v)))
        .collect();
    if !clusters
        .iter()
        .any(|(_, c)| normalize_server(&c.server) == IN_CLUSTER_SERVER)
    {
        clusters.insert(0, (None, in_cluster()));
    }
    let apps = state.apps.list();
    for (_, cluster) in &mut clusters {
        cluster.info.applications_count = apps
            .iter()
            .filter(|a| {
                let d = &a.spec.destination;
                (!d.server.is_empty()
                    && normalize_server(&d.server) == normalize_server(&cluster.server))
                    || (!d.name.is_empty() && d.name == cluster.name)
            })
            .count() as i64;
    }
    Ok(clusters)
}

/// Clusters the caller may read.
pub async fn list(state: &ApiState, principal: &Principal) -> ApiResult<Vec<ClusterView>> {
    Ok(all(state)
        .await?
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| state.can(principal, "clusters", "get", &c.server))
        .collect())
}

/// One cluster by server URL or name.
pub async fn get(
    state: &ApiState,
    principal: &Principal,
    server: &str,
    name: &str,
) -> ApiResult<ClusterView> {
    let found = all(state).await?.into_iter().map(|(_, c)| c).find(|c| {
        (!server.is_empty() && normalize_server(&c.server) == normalize_server(server))
            || (!name.is_empty() && c.name == name)
    });
    let object = found
        .as_ref()
        .map(|c| c.server.clone())
        .unwrap_or_else(|| server.to_owned());
    state.authorize(principal, "clusters", "get", &object)?;
    found.ok_or_else(|| ApiError::NotFound {
        kind: "cluster",
        name: if server.is_empty() {
            name.to_owned()
        } else {
            server.to_owned()
        },
    })
}

/// What a caller may set on a cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterInput {
    /// API server URL.
    pub server: String,
    /// Name.
    pub name: String,
    /// Namespaces.
    pub namespaces: Vec<String>,
    /// Cluster-scoped resources.
    pub cluster_resources: bool,
    /// Project.
    pub project: String,
    /// The `config` JSON (bearerToken, tlsClientConfig, ...), as Argo CD stores it.
    pub config: serde_json::Value,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Creates (or with `upsert` replaces) a cluster Secret.
pub async fn create(
    state: &ApiState,
    principal: &Principal,
    input: ClusterInput,
    upsert: bool,
) -> ApiResult<ClusterView> {
    if input.server.is_empty() {
        return Err(ApiError::InvalidArgument(
            "cluster server URL is required".to_owned(),
        ));
    }
    state.authorize(principal, "clusters", "create", &input.server)?;
    let existing = all(state)
        .await?
        .into_iter()
        .find(|(s, c)| {
            s.is_some() && normalize_server(&c.server) == normalize_server(&input.server)
        })
        .and_then(|(s, _)| s);
    if existing.is_some() && !upsert {
        return Err(ApiError::AlreadyExists(format!(
            "cluster {:?} already exists; use upsert to replace it",
            input.server
        )));
    }
    if existing.is_some() {
        state.authorize(principal, "clusters", "update", &input.server)?;
    }
    let mut data = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            data.insert(k.to_owned(), ByteString(v.into_bytes()));
        }
    };
    put("server", input.server.clone());
    put("name", input.name.clone());
    put("namespaces", input.namespaces.join(","));
    if input.cluster_resources {
        put("clusterResources", "true".to_owned());
    }
    put("project", input.project.clone());
    put(
        "config",
        if input.config.is_null() {
            "{}".to_owned()
        } else {
            input.config.to_string()
        },
    );
    // Check it parses the way the controller will read it.
    let as_strings: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    Cluster::from_secret_data("new", &as_strings)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid cluster: {e}")))?;
    let digest = sha2::Sha256::digest(input.server.as_bytes());
    let name = existing
        .as_ref()
        .map(|s| s.name_any())
        .unwrap_or_else(|| format!("cluster-{}", hex::encode(&digest[..5])));
    let mut labels = input.labels.clone();
    labels.insert(SECRET_TYPE_LABEL.to_owned(), "cluster".to_owned());
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(state.namespace.clone()),
            labels: Some(labels),
            resource_version: existing.as_ref().and_then(|s| s.resource_version()),
            ..Default::default()
        },
        data: Some(data),
        type_: Some("Opaque".to_owned()),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(state.client.clone(), &state.namespace);
    let written = if existing.is_some() {
        api.replace(&name, &PostParams::default(), &secret).await
    } else {
        api.create(&PostParams::default(), &secret).await
    }
    .map_err(|e| ApiError::from_kube(e, "cluster secret", &name))?;
    audit::record(
        state,
        principal,
        &written,
        "ResourceCreated",
        &format!("saved cluster {}", input.server),
    );
    parse(&written)
        .ok_or_else(|| ApiError::Internal("the written cluster Secret does not parse".to_owned()))
}

/// Deletes a cluster Secret.
pub async fn delete(
    state: &ApiState,
    principal: &Principal,
    server: &str,
    name: &str,
) -> ApiResult<()> {
    let found = all(state).await?.into_iter().find(|(_, c)| {
        (!server.is_empty() && normalize_server(&c.server) == normalize_server(server))
            || (!name.is_empty() && c.name == name)
    });
    let object = found
        .as_ref()
        .map(|(_, c)| c.server.clone())
        .unwrap_or_else(|| server.to_owned());
    state.authorize(principal, "clusters", "delete", &object)?;
    let Some((Some(secret), _)) = found else {
        return Err(ApiError::NotFound {
            kind: "cluster",
            name: object,
        });
    };
    let api: Api<Secret> = Api::namespaced(state.client.clone(), &state.namespace);
    api.delete(&secret.name_any(), &DeleteParams::default())
        .await
        .map_err(|e| ApiError::from_kube(e, "cluster secret", &secret.name_any()))?;
    audit::record(
        state,
        principal,
        &secret,
        "ResourceDeleted",
        &format!("deleted cluster {object}"),
    );
    Ok(())
}
