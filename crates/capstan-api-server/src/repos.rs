//! Repositories and credential templates: CRUD over Argo CD's labelled Secrets
//! (`argocd.argoproj.io/secret-type: repository` / `repo-creds`), with RBAC
//! (`repositories, <action>, [<project>/]<url>`). Credentials go into Secrets and never come
//! back out: views carry no password, key or token.

use std::collections::BTreeMap;

use capstan_proto::repo::v1 as repo;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde::Serialize;
use sha2::Digest;

use crate::audit;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;

/// The label that marks Argo CD's credential Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// Which kind of Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One repository.
    Repository,
    /// A credential template for every repository under a URL prefix.
    RepoCreds,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Repository => "repository",
            Kind::RepoCreds => "repo-creds",
        }
    }
    fn name_prefix(self) -> &'static str {
        match self {
            Kind::Repository => "repo",
            Kind::RepoCreds => "creds",
        }
    }
}

/// A repository (or credential template) as the API shows it: Argo CD's JSON field names,
/// without any secret value.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoView {
    /// URL (`repo` for repositories, `url` for templates in Argo CD's JSON; both set here).
    pub repo: String,
    /// Display name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `git` or `helm`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Project the repository is scoped to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// User name (not secret).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// TLS verification disabled.
    pub insecure: bool,
    /// Git LFS enabled.
    pub enable_lfs: bool,
    /// Whether a password, key or token is stored.
    pub has_credentials: bool,
    /// Result of the last connection test, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<ConnectionState>,
}

/// A connection test result.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionState {
    /// `Successful` or `Failed`.
    pub status: String,
    /// Why it failed.
    pub message: String,
}

/// What a caller may set on a repository.
#[derive(Clone, Debug, Default)]
pub struct RepoInput {
    /// URL.
    pub url: String,
    /// Display name.
    pub name: String,
    /// `git` (default) or `helm`.
    pub type_: String,
    /// Project scope.
    pub project: String,
    /// Secret fields (username, password, sshPrivateKey, tlsClientCertData, tlsClientCertKey,
    /// bearerToken, proxy, noProxy, githubApp...) by Argo CD's Secret key.
    pub fields: BTreeMap<String, String>,
    /// `insecure`.
    pub insecure: bool,
    /// `enableLfs`.
    pub enable_lfs: bool,
    /// `forceHttpBasicAuth`.
    pub force_http_basic_auth: bool,
}

/// `url` without any `user:password@` part, for messages and audit events: a URL may carry
/// credentials, which must never reach a log or an API answer.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                // An SSH user name (`ssh://git@host`) is no secret; a password, or any user part
                // of an HTTP(S) URL (often a token), is.
                Some((user, _)) if scheme == "ssh" && !user.contains(':') => url.to_owned(),
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// The RBAC object of a repository: `<project>/<url>` when project-scoped, else the URL.
pub fn rbac_object(project: &str, url: &str) -> String {
    if project.is_empty() {
        url.to_owned()
    } else {
        format!("{project}/{url}")
    }
}

fn field(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key).cloned())
        })
        .unwrap_or_default()
}

fn view(secret: &Secret) -> RepoView {
    let has = |k: &str| !field(secret, k).is_empty();
    RepoView {
        repo: redact_url(&field(secret, "url")),
        name: field(secret, "name"),
        type_: Some(field(secret, "type"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "git".to_owned()),
        project: field(secret, "project"),
        username: field(secret, "username"),
        insecure: field(secret, "insecure") == "true",
        enable_lfs: field(secret, "enableLfs") == "true",
        has_credentials: [
            "password",
            "sshPrivateKey",
            "bearerToken",
            "githubAppPrivateKey",
            "tlsClientCertKey",
        ]
        .iter()
        .any(|k| has(k)),
        connection_state: None,
    }
}

/// The Secret name Argo CD derives from the URL (`repo-<hash>` / `creds-<hash>`).
fn secret_name(kind: Kind, url: &str) -> String {
    let digest = sha2::Sha256::digest(url.as_bytes());
    let hash = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    format!("{}-{hash}", kind.name_prefix())
}

async fn secrets(state: &ApiState, kind: Kind) -> ApiResult<Vec<Secret>> {
    let api: Api<Secret> = Api::namespaced(state.client.clone(), &state.namespace);
    let list = api
        .list(&ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={}", kind.label())))
        .await
        .map_err(|e| ApiError::from_kube(e, "secrets of", kind.label()))?;
    Ok(list.items)
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        u.trim_end_matches('/')
            .trim_end_matches(".git")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Repositories (or templates) the caller may read.
pub async fn list(state: &ApiState, principal: &Principal, kind: Kind) -> ApiResult<Vec<RepoView>> {
    Ok(secrets(state, kind)
        .await?
        .iter()
        .map(view)
        .filter(|v| {
            state.can(
                principal,
                "repositories",
                "get",
                &rbac_object(&v.project, &v.repo),
            )
        })
        .collect())
}

async fn find(state: &ApiState, kind: Kind, url: &str) -> ApiResult<Option<Secret>> {
    Ok(secrets(state, kind)
        .await?
        .into_iter()
        .find(|s| same_url(&field(s, "url"), url)))
}

/// One repository (the RBAC check comes first, so existence does not leak).
pub async fn get(
    state: &ApiState,
    principal: &Principal,
    kind: Kind,
    url: &str,
    project: &str,
) -> ApiResult<RepoView> {
    let found = find(state, kind, url).await?;
    let project = found
        .as_ref()
        .map(|s| field(s, "project"))
        .unwrap_or_else(|| project.to_owned());
    state.authorize(
        principal,
        "repositories",
        "get",
        &rbac_object(&project, url),
    )?;
    let secret = found.ok_or_else(|| ApiError::NotFound {
        kind: "repository",
        name: redact_url(url),
    })?;
    let mut view = view(&secret);
    if kind == Kind::Repository {
        view.connection_state = Some(test(state, &view.repo, &view.project, None).await);
    }
    Ok(view)
}

/// Creates (or with `upsert` replaces) the Secret.
pub async fn create(
    state: &ApiState,
    principal: &Principal,
    kind: Kind,
    input: RepoInput,
    upsert: bool,
) -> ApiResult<RepoView> {
    if input.url.is_empty() {
        return Err(ApiError::InvalidArgument(
            "repository URL is required".to_owned(),
        ));
    }
    let object = rbac_object(&input.project, &input.url);
    state.authorize(principal, "repositories", "create", &object)?;
    if let Some(t) = Some(input.type_.as_str()).filter(|t| !t.is_empty())
        && t != "git"
        && t != "helm"
    {
        return Err(ApiError::InvalidArgument(format!(
            "unknown repository type {t:?}: expected git or helm"
        )));
    }
    let api: Api<Secret> = Api::namespaced(state.client.clone(), &state.namespace);
    let existing = find(state, kind, &input.url).await?;
    if existing.is_some() && !upsert {
        return Err(ApiError::AlreadyExists(format!(
            "repository {:?} already exists; use upsert to replace it",
            redact_url(&input.url)
        )));
    }
    if existing.is_some() {
        state.authorize(principal, "repositories", "update", &object)?;
    }
    // As Argo CD does, a Git repository is stored only once it answers with these
    // credentials: a typo in a URL or a token fails here, with the server's reason, instead of
    // as every app's ComparisonError later.
    if kind == Kind::Repository && input.type_ != "helm" {
        let field = |k: &str| input.fields.get(k).cloned().unwrap_or_default();
        let inline = [
            "username",
            "password",
            "sshPrivateKey",
            "tlsClientCertData",
            "tlsClientCertKey",
            "bearerToken",
        ]
        .iter()
        .any(|k| !field(k).is_empty())
        .then(|| repo::InlineCredentials {
            username: field("username"),
            password: field("password"),
            ssh_private_key: field("sshPrivateKey"),
            tls_client_cert_data: field("tlsClientCertData"),
            tls_client_cert_key: field("tlsClientCertKey"),
            insecure: input.insecure,
            bearer_token: field("bearerToken"),
            force_http_basic_auth: input.force_http_basic_auth,
            proxy: field("proxy"),
            no_proxy: field("noProxy"),
            ..Default::default()
        });
        let state_of = test(state, &input.url, &input.project, inline).await;
        if state_of.status != "Successful" {
            return Err(ApiError::FailedPrecondition(format!(
                "repository {} is not accessible: {}",
                redact_url(&input.url),
                state_of.message
            )));
        }
    }
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
        }
    };
    put("url", &input.url);
    put("name", &input.name);
    put(
        "type",
        if input.type_.is_empty() {
            "git"
        } else {
            &input.type_
        },
    );
    put("project", &input.project);
    if input.insecure {
        put("insecure", "true");
    }
    if input.enable_lfs {
        put("enableLfs", "true");
    }
    if input.force_http_basic_auth {
        put("forceHttpBasicAuth", "true");
    }
    for (k, v) in &input.fields {
        put(k, v);
    }
    let name = existing
        .as_ref()
        .map(|s| s.name_any())
        .unwrap_or_else(|| secret_name(kind, &input.url));
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(state.namespace.clone()),
            labels: Some(BTreeMap::from([(
                SECRET_TYPE_LABEL.to_owned(),
                kind.label().to_owned(),
            )])),
            annotations: Some(BTreeMap::from([(
                "managed-by".to_owned(),
                "argocd.argoproj.io".to_owned(),
            )])),
            resource_version: existing.as_ref().and_then(|s| s.resource_version()),
            ..Default::default()
        },
        data: Some(data),
        type_: Some("Opaque".to_owned()),
        ..Default::default()
    };
    let written = if existing.is_some() {
        api.replace(&name, &PostParams::default(), &secret).await
    } else {
        api.create(&PostParams::default(), &secret).await
    }
    .map_err(|e| ApiError::from_kube(e, "repository secret", &name))?;
    audit::record(
        state,
        principal,
        &written,
        if existing.is_some() {
            "ResourceUpdated"
        } else {
            "ResourceCreated"
        },
        &format!(
            "{} {} {}",
            if existing.is_some() {
                "updated"
            } else {
                "created"
            },
            kind.label(),
            redact_url(&input.url)
        ),
    );
    Ok(view(&written))
}

/// Deletes the Secret of `url`.
pub async fn delete(
    state: &ApiState,
    principal: &Principal,
    kind: Kind,
    url: &str,
) -> ApiResult<()> {
    let found = find(state, kind, url).await?;
    let project = found
        .as_ref()
        .map(|s| field(s, "project"))
        .unwrap_or_default();
    state.authorize(
        principal,
        "repositories",
        "delete",
        &rbac_object(&project, url),
    )?;
    let Some(secret) = found else {
        return Err(ApiError::NotFound {
            kind: "repository",
            name: redact_url(url),
        });
    };
    let api: Api<Secret> = Api::namespaced(state.client.clone(), &state.namespace);
    api.delete(&secret.name_any(), &DeleteParams::default())
        .await
        .map_err(|e| ApiError::from_kube(e, "repository secret", &secret.name_any()))?;
    audit::record(
        state,
        principal,
        &secret,
        "ResourceDeleted",
        &format!("deleted {} {}", kind.label(), redact_url(url)),
    );
    Ok(())
}

/// Tests access to `url` through the repo-server, with inline credentials or the stored ones.
pub async fn test(
    state: &ApiState,
    url: &str,
    project: &str,
    credentials: Option<repo::InlineCredentials>,
) -> ConnectionState {
    let request = repo::TestRepositoryRequest {
        repo: Some(repo::RepoRef {
            url: url.to_owned(),
            project: project.to_owned(),
            ..Default::default()
        }),
        credentials,
    };
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        state.repo_server.clone().test_repository(request),
    )
    .await;
    match answer {
        Ok(Ok(_)) => ConnectionState {
            status: "Successful".to_owned(),
            message: String::new(),
        },
        Ok(Err(status)) => ConnectionState {
            status: "Failed".to_owned(),
            message: status.message().to_owned(),
        },
        Err(_) => ConnectionState {
            status: "Failed".to_owned(),
            message: "timed out after 30s".to_owned(),
        },
    }
}

/// Branches and tags of a repository the caller may read.
pub async fn list_refs(
    state: &ApiState,
    principal: &Principal,
    url: &str,
    project: &str,
) -> ApiResult<repo::Refs> {
    state.authorize(principal, "repositories", "get", &rbac_object(project, url))?;
    let refs = state
        .repo_server
        .clone()
        .list_refs(repo::ListRefsRequest {
            repo: Some(repo::RepoRef {
                url: url.to_owned(),
                project: project.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .map_err(|s| crate::resources::repo_error("listing refs", s))?;
    Ok(refs.into_inner())
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_in_urls_are_redacted() {
        for (url, shown) in [
            (
                "https://git.example.com/org/repo.git",
                "https://git.example.com/org/repo.git",
            ),
            (
                "https://user:s3cret@git.example.com/org/repo.git",
                "https://***@git.example.com/org/repo.git",
            ),
            (
                "https://token@git.example.com",
                "https://***@git.example.com",
            ),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
            (
                "ssh://git@host:22/org/repo.git",
                "ssh://git@host:22/org/repo.git",
            ),
            (
                "ssh://git:pw@host/org/repo.git",
                "ssh://***@host/org/repo.git",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
