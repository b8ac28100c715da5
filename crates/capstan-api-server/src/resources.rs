//! Read-only views of an Application's resources: the resource tree and managed-resource
//! diffs the controller publishes to Redis, Kubernetes Events, one live resource, desired
//! manifests and revision metadata from the repo-server, and sync windows.

use capstan_proto::repo::v1 as repo;
use capstan_types::Application;
use capstan_types::managed::ManagedResource;
use k8s_openapi::api::core::v1::Event;
use kube::api::{DynamicObject, ListParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use crate::apps::find;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;

/// Masks Secret values (capstan-diff's masking, as Argo CD's `HideSecretData`) and drops a
/// Secret's last-applied annotation, which would carry them in clear.
fn mask(value: Value) -> Value {
    let mut masked = capstan_diff::mask_secret(&value);
    if masked["kind"] == "Secret"
        && let Some(annotations) = masked["metadata"]
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
    {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    masked
}

/// The Application's resource tree (`{"nodes": [...], "orphanedNodes": [...]}`); an empty tree
/// until the controller has published one.
pub async fn resource_tree(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
) -> ApiResult<Value> {
    let app = find(state, principal, name, project, "get").await?;
    tree_of(state, &app).await
}

/// The published tree of `app`, in Argo CD's `ResourceTree` JSON ([`argo_tree`]); every path
/// that serves a tree (REST, gRPC, the watch stream) reads it here.
pub async fn tree_of(state: &ApiState, app: &Application) -> ApiResult<Value> {
    let key = state.cache.key(
        capstan_cache::kinds::RESOURCE_TREE,
        &(state.namespace.as_str(), app.name_any().as_str()),
    );
    match state.cache.get::<Value>(&key).await {
        Some(tree) => Ok(argo_tree(tree)),
        None if !state.cache.is_available() => Err(ApiError::Unavailable(
            "the resource tree cache (Redis) is unavailable; retry shortly".to_owned(),
        )),
        None => Ok(json!({ "nodes": [] })),
    }
}

/// Argo CD's `ResourceTree` JSON from the controller's compact one: each node's `parentUids`
/// become `parentRefs` (`{group, kind, namespace, name, uid}` of the parent, found among the
/// tree's nodes; a uid the tree does not hold is dropped) and `health` + `healthMessage` become
/// `health: {status, message}`. Everything else (`images`, `info`, `createdAt`, ...) is kept, and
/// a tree already in Argo CD's shape comes back unchanged.
pub fn argo_tree(mut tree: Value) -> Value {
    const LISTS: [&str; 2] = ["nodes", "orphanedNodes"];
    let text = |node: &Value, key: &str| node[key].as_str().unwrap_or_default().to_owned();
    let mut refs = std::collections::HashMap::new();
    for list in LISTS {
        for node in tree[list].as_array().into_iter().flatten() {
            let uid = text(node, "uid");
            if uid.is_empty() {
                continue;
            }
            let mut reference = serde_json::Map::new();
            for key in ["group", "kind", "namespace", "name"] {
                let value = text(node, key);
                // Argo CD's ResourceRef omits empty fields (core group, cluster scope).
                if !value.is_empty() || key == "kind" || key == "name" {
                    reference.insert(key.to_owned(), Value::String(value));
                }
            }
            reference.insert("uid".to_owned(), Value::String(uid.clone()));
            refs.insert(uid, Value::Object(reference));
        }
    }
    for list in LISTS {
        let Some(nodes) = tree.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for node in nodes.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(uids) = node.remove("parentUids")
                && !node.contains_key("parentRefs")
            {
                let parents: Vec<Value> = uids
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|uid| refs.get(uid.as_str()?).cloned())
                    .collect();
                if !parents.is_empty() {
                    node.insert("parentRefs".to_owned(), Value::Array(parents));
                }
            }
            let message = node
                .remove("healthMessage")
                .and_then(|m| m.as_str().map(str::to_owned))
                .filter(|m| !m.is_empty());
            match node.get_mut("health") {
                Some(Value::String(status)) => {
                    let mut health = serde_json::Map::new();
                    health.insert("status".to_owned(), Value::String(std::mem::take(status)));
                    if let Some(message) = message {
                        health.insert("message".to_owned(), Value::String(message));
                    }
                    node.insert("health".to_owned(), Value::Object(health));
                }
                Some(Value::Object(health)) => {
                    if let Some(message) = message {
                        health.entry("message").or_insert(Value::String(message));
                    }
                }
                Some(Value::Null) => {
                    node.remove("health");
                }
                _ => {}
            }
        }
    }
    tree
}

/// The Application's managed resources with their diffs.
pub async fn managed_resources(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
) -> ApiResult<Vec<ManagedResource>> {
    let app = find(state, principal, name, project, "get").await?;
    let key = state.cache.key(
        capstan_cache::kinds::MANAGED_RESOURCES,
        &(state.namespace.as_str(), app.name_any().as_str()),
    );
    match state
        .cache
        .get::<capstan_types::managed::ManagedResources>(&key)
        .await
    {
        Some(managed) => Ok(managed.items),
        None if !state.cache.is_available() => Err(ApiError::Unavailable(
            "the managed resources cache (Redis) is unavailable; retry shortly".to_owned(),
        )),
        None => Ok(Vec::new()),
    }
}

/// Events of the Application, or of one of its resources.
pub async fn events(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    resource: Option<(&str, &str, &str)>,
) -> ApiResult<Vec<Event>> {
    let app = find(state, principal, name, project, "get").await?;
    let (namespace, fields) = match resource {
        Some((namespace, resource_name, uid)) => {
            ensure_managed(&app, None, namespace, resource_name)?;
            let mut fields = format!("involvedObject.name={resource_name}");
            if !uid.is_empty() {
                fields.push_str(&format!(",involvedObject.uid={uid}"));
            }
            (namespace.to_owned(), fields)
        }
        None => {
            let mut fields = format!("involvedObject.name={name},involvedObject.kind=Application");
            if let Some(uid) = app.uid() {
                fields.push_str(&format!(",involvedObject.uid={uid}"));
            }
            (state.namespace.clone(), fields)
        }
    };
    let api: Api<Event> = Api::namespaced(state.client.clone(), &namespace);
    let list = api
        .list(&ListParams::default().fields(&fields))
        .await
        .map_err(|e| ApiError::from_kube(e, "events of", name))?;
    Ok(list.items)
}

/// Fails unless the Application manages the resource (its status lists it), so that the API
/// never serves objects outside what the caller's app permission covers.
fn ensure_managed(
    app: &Application,
    kind: Option<(&str, &str)>,
    namespace: &str,
    name: &str,
) -> ApiResult<()> {
    let managed = app.status.iter().flat_map(|s| &s.resources).any(|r| {
        r.name == name
            && r.namespace == namespace
            && kind.is_none_or(|(group, kind)| r.group == group && r.kind == kind)
    });
    if managed {
        Ok(())
    } else {
        Err(ApiError::NotFound {
            kind: "resource",
            name: format!("{namespace}/{name} of application {}", app.name_any()),
        })
    }
}

/// One resource of an Application.
#[derive(Clone, Copy, Debug)]
pub struct ResourceId<'a> {
    /// API group.
    pub group: &'a str,
    /// Version; the one in the app's status when empty.
    pub version: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Namespace (empty for cluster-scoped).
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
}

/// The live state of one managed resource (Secret values masked).
pub async fn get_resource(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    id: &ResourceId<'_>,
) -> ApiResult<Value> {
    let ResourceId {
        group,
        version,
        kind,
        namespace,
        name: resource_name,
    } = *id;
    let app = find(state, principal, name, project, "get").await?;
    ensure_managed(&app, Some((group, kind)), namespace, resource_name)?;
    let version = if version.is_empty() {
        app.status
            .iter()
            .flat_map(|s| &s.resources)
            .find(|r| r.group == group && r.kind == kind && r.name == resource_name)
            .map(|r| r.version.clone())
            .unwrap_or_default()
    } else {
        version.to_owned()
    };
    let gvk = kube::api::GroupVersionKind::gvk(group, &version, kind);
    let (resource, caps) = kube::discovery::pinned_kind(&state.client, &gvk)
        .await
        .map_err(|e| ApiError::Unavailable(format!("discovering {kind}: {e}")))?;
    let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
        Api::namespaced_with(state.client.clone(), namespace, &resource)
    } else {
        Api::all_with(state.client.clone(), &resource)
    };
    let obj = api
        .get(resource_name)
        .await
        .map_err(|e| ApiError::from_kube(e, "resource", resource_name))?;
    let value = serde_json::to_value(obj)
        .map_err(|e| ApiError::Internal(format!("encoding {kind}: {e}")))?;
    Ok(mask(value))
}

/// The repository reference of the Application's (single) source.
fn single_source(app: &Application) -> ApiResult<&capstan_types::application::ApplicationSource> {
    let sources = app.spec.effective_sources();
    match sources.as_slice() {
        [source] => Ok(source),
        [] => Err(ApiError::InvalidArgument(format!(
            "application {} has no source",
            app.name_any()
        ))),
        _ => Err(ApiError::Unimplemented(
            "multi-source applications are not supported yet".to_owned(),
        )),
    }
}

/// The desired manifests at `revision` (the target revision when `None`), rendered by the
/// repo-server; Secret values masked.
pub async fn manifests(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    revision: Option<&str>,
) -> ApiResult<repo::ManifestResponse> {
    let app = find(state, principal, name, project, "get").await?;
    let source = single_source(&app)?;
    let settings = state.settings();
    let revision = revision
        .filter(|r| !r.is_empty())
        .unwrap_or(&source.target_revision);
    let request = repo::ManifestRequest {
        repo: Some(repo::RepoRef {
            url: source.repo_url.clone(),
            project: app.spec.project_or_default().to_owned(),
            ..Default::default()
        }),
        revision: revision.to_owned(),
        app_label_key: settings.cm.instance_label_key.clone(),
        app_name: app.name_any(),
        namespace: app.spec.destination.namespace.clone(),
        application_source: Some(capstan_proto::common::v1::KubeObject {
            json: serde_json::to_string(source).unwrap_or_default(),
        }),
        app_namespace: state.namespace.clone(),
        project_name: app.spec.project_or_default().to_owned(),
        ..Default::default()
    };
    let mut response = state
        .repo_server
        .clone()
        .generate_manifest(request)
        .await
        .map_err(|s| repo_error("rendering manifests", s))?
        .into_inner();
    for manifest in &mut response.manifests {
        if let Ok(value) = serde_json::from_str::<Value>(manifest) {
            let masked = mask(value);
            *manifest = masked.to_string();
        }
    }
    Ok(response)
}

/// Author, date, message and tags of a revision of the Application's repository.
pub async fn revision_metadata(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
    revision: &str,
) -> ApiResult<repo::RevisionMetadata> {
    let app = find(state, principal, name, project, "get").await?;
    let source = single_source(&app)?;
    let response = state
        .repo_server
        .clone()
        .get_revision_metadata(repo::RepoServerRevisionMetadataRequest {
            repo: Some(repo::RepoRef {
                url: source.repo_url.clone(),
                project: app.spec.project_or_default().to_owned(),
                ..Default::default()
            }),
            revision: revision.to_owned(),
            check_signature: false,
        })
        .await
        .map_err(|s| repo_error("reading revision metadata", s))?;
    Ok(response.into_inner())
}

/// Maps a repo-server failure: its own message for bad input, "unavailable" when it is down.
pub fn repo_error(what: &str, status: tonic::Status) -> ApiError {
    match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::FailedPrecondition => {
            ApiError::InvalidArgument(format!("{what}: {}", status.message()))
        }
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
            ApiError::FailedPrecondition(format!("{what}: {}", status.message()))
        }
        _ => ApiError::Unavailable(format!(
            "{what}: repo-server: {} ({:?})",
            status.message(),
            status.code()
        )),
    }
}

/// The sync windows that apply to the Application, which are active, and whether a manual sync
/// may start now.
pub async fn sync_windows(
    state: &ApiState,
    principal: &Principal,
    name: &str,
    project: Option<&str>,
) -> ApiResult<(Vec<Value>, Vec<Value>, bool)> {
    let app = find(state, principal, name, project, "get").await?;
    let Some(proj) = state.projects.get(app.spec.project_or_default()) else {
        return Ok((Vec::new(), Vec::new(), true));
    };
    let dest = &app.spec.destination;
    let now = jiff::Timestamp::now();
    let assigned =
        proj.matching_sync_windows(&app.name_any(), &dest.namespace, &dest.server, &dest.name);
    let windows = &proj.spec.sync_windows;
    let mut active = Vec::new();
    let mut all = Vec::new();
    for index in assigned {
        let window = serde_json::to_value(&windows[index]).unwrap_or_default();
        if windows[index].is_active_at(now).unwrap_or(false) {
            active.push(window.clone());
        }
        all.push(window);
    }
    let can_sync = proj
        .sync_allowed(
            &app.name_any(),
            &dest.namespace,
            &dest.server,
            &dest.name,
            true,
            now,
        )
        .map(|d| d.is_allowed())
        .unwrap_or(false);
    Ok((active, all, can_sync))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use super::argo_tree;

    #[test]
    fn trees_take_argo_cds_shape() {
        let argo_deployment = json!({
            "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web",
            "name": "web", "uid": "d1", "resourceVersion": "7",
            "health": {"status": "Healthy"}, "images": ["nginx:1"],
            "createdAt": "2024-01-01T00:00:00Z"
        });
        let argo_rs = json!({
            "group": "apps", "version": "v1", "kind": "ReplicaSet", "namespace": "web",
            "name": "web-1", "uid": "r1", "resourceVersion": "8",
            "parentRefs": [{"group": "apps", "kind": "Deployment", "namespace": "web",
                            "name": "web", "uid": "d1"}],
            "health": {"status": "Progressing", "message": "1 of 2 ready"}
        });
        let argo_pod = json!({
            "group": "", "version": "v1", "kind": "Pod", "namespace": "web", "name": "web-1-x",
            "uid": "p1", "resourceVersion": "9",
            "parentRefs": [{"kind": "ReplicaSet", "name": "web-1", "uid": "r1",
                            "group": "apps", "namespace": "web"}],
            "health": {"status": "Healthy"},
            "info": [{"name": "Status Reason", "value": "Running"}]
        });
        let cases: Vec<(&str, Value, Value)> = vec![
            ("empty", json!({"nodes": []}), json!({"nodes": []})),
            (
                "the controller's shape",
                json!({"nodes": [
                    {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web",
                     "name": "web", "uid": "d1", "resourceVersion": "7", "parentUids": [],
                     "health": "Healthy", "images": ["nginx:1"],
                     "createdAt": "2024-01-01T00:00:00Z"},
                    {"group": "apps", "version": "v1", "kind": "ReplicaSet", "namespace": "web",
                     "name": "web-1", "uid": "r1", "resourceVersion": "8", "parentUids": ["d1"],
                     "health": "Progressing", "healthMessage": "1 of 2 ready"},
                    {"group": "", "version": "v1", "kind": "Pod", "namespace": "web",
                     "name": "web-1-x", "uid": "p1", "resourceVersion": "9",
                     "parentUids": ["r1"], "health": "Healthy", "healthMessage": "",
                     "info": [{"name": "Status Reason", "value": "Running"}]},
                ]}),
                json!({"nodes": [argo_deployment, argo_rs, argo_pod]}),
            ),
            (
                "already Argo CD's shape",
                json!({"nodes": [argo_deployment, argo_rs, argo_pod]}),
                json!({"nodes": [argo_deployment, argo_rs, argo_pod]}),
            ),
            (
                "a parent outside the tree is dropped",
                json!({"nodes": [
                    {"kind": "Pod", "name": "a", "uid": "p1", "parentUids": ["gone", "r1"]},
                    {"kind": "ReplicaSet", "name": "rs", "uid": "r1", "parentUids": ["gone"]},
                ]}),
                json!({"nodes": [
                    {"kind": "Pod", "name": "a", "uid": "p1",
                     "parentRefs": [{"kind": "ReplicaSet", "name": "rs", "uid": "r1"}]},
                    {"kind": "ReplicaSet", "name": "rs", "uid": "r1"},
                ]}),
            ),
            (
                "a cluster-scoped core parent keeps only what it has",
                json!({"nodes": [
                    {"group": "", "kind": "Namespace", "namespace": "", "name": "ns", "uid": "n1"},
                    {"kind": "ConfigMap", "namespace": "ns", "name": "c", "uid": "c1",
                     "parentUids": ["n1"]},
                ]}),
                json!({"nodes": [
                    {"group": "", "kind": "Namespace", "namespace": "", "name": "ns", "uid": "n1"},
                    {"kind": "ConfigMap", "namespace": "ns", "name": "c", "uid": "c1",
                     "parentRefs": [{"kind": "Namespace", "name": "ns", "uid": "n1"}]},
                ]}),
            ),
            (
                "orphaned nodes and nodes without health",
                json!({"nodes": [], "orphanedNodes": [
                    {"kind": "ConfigMap", "name": "old", "uid": "o1", "parentUids": []},
                    {"kind": "Secret", "name": "s", "uid": "o2", "health": null,
                     "healthMessage": "ignored"},
                ]}),
                json!({"nodes": [], "orphanedNodes": [
                    {"kind": "ConfigMap", "name": "old", "uid": "o1"},
                    {"kind": "Secret", "name": "s", "uid": "o2"},
                ]}),
            ),
            (
                "Argo CD's health with a stray message keeps its own",
                json!({"nodes": [{"kind": "Pod", "name": "p", "uid": "p",
                    "health": {"status": "Degraded", "message": "own"},
                    "healthMessage": "stray"}]}),
                json!({"nodes": [{"kind": "Pod", "name": "p", "uid": "p",
                    "health": {"status": "Degraded", "message": "own"}}]}),
            ),
        ];
        for (name, input, want) in cases {
            let got = argo_tree(input);
            assert_eq!(got, want, "{name}");
            // Idempotent: converting again changes nothing.
            assert_eq!(argo_tree(got.clone()), got, "{name}, converted twice");
        }
    }
}
