//! `capstan.repository.v1.RepositoryService`.

use std::collections::BTreeMap;

use capstan_proto::common::v1::{ConnectionState, ListMeta};
use capstan_proto::repo::v1 as repo;
use capstan_proto::repository::v1 as pb;
use capstan_proto::repository::v1::repository_service_server::RepositoryService;
use tonic::{Request, Response, Status};

use super::{Shared, principal};
use crate::error::ApiError;
use crate::repos::{self, Kind, RepoInput, RepoView};

/// The repository service.
#[derive(Debug, Clone)]
pub struct RepositoryApi(pub(crate) Shared);

fn to_pb(v: RepoView) -> pb::Repository {
    pb::Repository {
        repo: v.repo,
        username: v.username,
        r#type: v.type_,
        name: v.name,
        project: v.project,
        insecure: v.insecure,
        enable_lfs: v.enable_lfs,
        connection_state: v.connection_state.map(|c| ConnectionState {
            status: c.status,
            message: c.message,
            attempted_at: None,
        }),
        ..Default::default()
    }
}

fn creds_to_pb(v: RepoView) -> pb::RepoCreds {
    pb::RepoCreds {
        url: v.repo,
        username: v.username,
        r#type: v.type_,
        ..Default::default()
    }
}

/// The Secret fields of a request (only the non-empty ones are stored).
fn secret_fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The Secret keys of the credential fields both messages carry.
#[allow(clippy::too_many_arguments)]
fn credential_fields(
    username: &str,
    password: &str,
    ssh_private_key: &str,
    tls_client_cert_data: &str,
    tls_client_cert_key: &str,
    bearer_token: &str,
    proxy: &str,
    no_proxy: &str,
) -> BTreeMap<String, String> {
    secret_fields(&[
        ("username", username),
        ("password", password),
        ("sshPrivateKey", ssh_private_key),
        ("tlsClientCertData", tls_client_cert_data),
        ("tlsClientCertKey", tls_client_cert_key),
        ("bearerToken", bearer_token),
        ("proxy", proxy),
        ("noProxy", no_proxy),
    ])
}

fn input_of(r: pb::Repository) -> RepoInput {
    RepoInput {
        fields: credential_fields(
            &r.username,
            &r.password,
            &r.ssh_private_key,
            &r.tls_client_cert_data,
            &r.tls_client_cert_key,
            &r.bearer_token,
            &r.proxy,
            &r.no_proxy,
        ),
        url: r.repo,
        name: r.name,
        type_: r.r#type,
        project: r.project,
        insecure: r.insecure || r.insecure_ignore_host_key,
        enable_lfs: r.enable_lfs,
        force_http_basic_auth: r.force_http_basic_auth,
    }
}

fn creds_input_of(r: pb::RepoCreds) -> RepoInput {
    RepoInput {
        fields: credential_fields(
            &r.username,
            &r.password,
            &r.ssh_private_key,
            &r.tls_client_cert_data,
            &r.tls_client_cert_key,
            &r.bearer_token,
            &r.proxy,
            &r.no_proxy,
        ),
        url: r.url,
        type_: r.r#type,
        force_http_basic_auth: r.force_http_basic_auth,
        ..RepoInput::default()
    }
}

#[tonic::async_trait]
impl RepositoryService for RepositoryApi {
    async fn list(
        &self,
        request: Request<pb::RepoQuery>,
    ) -> Result<Response<pb::RepositoryList>, Status> {
        let who = principal(&self.0, &request).await?;
        let items = repos::list(&self.0, &who, Kind::Repository).await?;
        Ok(Response::new(pb::RepositoryList {
            metadata: Some(ListMeta::default()),
            items: items.into_iter().map(to_pb).collect(),
        }))
    }

    async fn get(
        &self,
        request: Request<pb::RepoQuery>,
    ) -> Result<Response<pb::Repository>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        Ok(Response::new(to_pb(
            repos::get(&self.0, &who, Kind::Repository, &q.repo, &q.app_project).await?,
        )))
    }

    async fn create(
        &self,
        request: Request<pb::RepoCreateRequest>,
    ) -> Result<Response<pb::Repository>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let repo = r
            .repo
            .ok_or_else(|| ApiError::InvalidArgument("repo is required".to_owned()))?;
        Ok(Response::new(to_pb(
            repos::create(&self.0, &who, Kind::Repository, input_of(repo), r.upsert).await?,
        )))
    }

    async fn update(
        &self,
        request: Request<pb::RepoUpdateRequest>,
    ) -> Result<Response<pb::Repository>, Status> {
        let who = principal(&self.0, &request).await?;
        let repo = request
            .into_inner()
            .repo
            .ok_or_else(|| ApiError::InvalidArgument("repo is required".to_owned()))?;
        Ok(Response::new(to_pb(
            repos::create(&self.0, &who, Kind::Repository, input_of(repo), true).await?,
        )))
    }

    async fn delete(
        &self,
        request: Request<pb::RepoQuery>,
    ) -> Result<Response<pb::RepoResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        repos::delete(&self.0, &who, Kind::Repository, &request.get_ref().repo).await?;
        Ok(Response::new(pb::RepoResponse {}))
    }

    async fn list_refs(
        &self,
        request: Request<pb::RepoQuery>,
    ) -> Result<Response<repo::Refs>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        Ok(Response::new(
            repos::list_refs(&self.0, &who, &q.repo, &q.app_project).await?,
        ))
    }

    async fn list_apps(
        &self,
        request: Request<pb::RepoAppsQuery>,
    ) -> Result<Response<pb::RepoAppsResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        self.0.authorize(
            &who,
            "repositories",
            "get",
            &repos::rbac_object(&q.app_project, &q.repo),
        )?;
        let apps = self
            .0
            .repo_server
            .clone()
            .list_apps(repo::ListAppsRequest {
                repo: Some(repo::RepoRef {
                    url: q.repo.clone(),
                    project: q.app_project.clone(),
                    ..Default::default()
                }),
                revision: q.revision,
            })
            .await
            .map_err(|s| crate::resources::repo_error("listing apps", s))?
            .into_inner();
        Ok(Response::new(pb::RepoAppsResponse {
            items: apps
                .apps
                .into_iter()
                .map(|(path, t)| pb::AppInfo {
                    r#type: repo::SourceType::try_from(t)
                        .map(|t| t.as_str_name().to_owned())
                        .unwrap_or_default(),
                    path,
                })
                .collect(),
        }))
    }

    async fn get_app_details(
        &self,
        request: Request<pb::RepoAppDetailsQuery>,
    ) -> Result<Response<repo::RepoAppDetailsResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let source: capstan_types::application::ApplicationSource = q
            .source
            .as_ref()
            .map(|s| serde_json::from_str(&s.json))
            .transpose()
            .map_err(|e| ApiError::InvalidArgument(format!("invalid source: {e}")))?
            .ok_or_else(|| ApiError::InvalidArgument("source is required".to_owned()))?;
        self.0.authorize(
            &who,
            "repositories",
            "get",
            &repos::rbac_object(&q.app_project, &source.repo_url),
        )?;
        let details = self
            .0
            .repo_server
            .clone()
            .get_app_details(repo::RepoServerAppDetailsQuery {
                repo: Some(repo::RepoRef {
                    url: source.repo_url.clone(),
                    project: q.app_project.clone(),
                    ..Default::default()
                }),
                source: q.source,
                ..Default::default()
            })
            .await
            .map_err(|s| crate::resources::repo_error("reading app details", s))?;
        Ok(details)
    }

    async fn validate_access(
        &self,
        request: Request<pb::RepoAccessQuery>,
    ) -> Result<Response<pb::RepoResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        self.0.authorize(
            &who,
            "repositories",
            "create",
            &repos::rbac_object(&q.project, &q.repo),
        )?;
        let credentials = repo::InlineCredentials {
            username: q.username,
            password: q.password,
            ssh_private_key: q.ssh_private_key,
            tls_client_cert_data: q.tls_client_cert_data,
            tls_client_cert_key: q.tls_client_cert_key,
            insecure: q.insecure,
            bearer_token: q.bearer_token,
            force_http_basic_auth: q.force_http_basic_auth,
            proxy: q.proxy,
            no_proxy: q.no_proxy,
            use_azure_workload_identity: q.use_azure_workload_identity,
        };
        let state = repos::test(&self.0, &q.repo, &q.project, Some(credentials)).await;
        if state.status == "Successful" {
            Ok(Response::new(pb::RepoResponse {}))
        } else {
            Err(ApiError::InvalidArgument(format!(
                "cannot access repository {}: {}",
                q.repo, state.message
            ))
            .into())
        }
    }

    async fn list_repository_credentials(
        &self,
        request: Request<pb::RepoCredsQuery>,
    ) -> Result<Response<pb::RepoCredsList>, Status> {
        let who = principal(&self.0, &request).await?;
        let items = repos::list(&self.0, &who, Kind::RepoCreds).await?;
        Ok(Response::new(pb::RepoCredsList {
            metadata: Some(ListMeta::default()),
            items: items.into_iter().map(creds_to_pb).collect(),
        }))
    }

    async fn create_repository_credentials(
        &self,
        request: Request<pb::RepoCredsCreateRequest>,
    ) -> Result<Response<pb::RepoCreds>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let creds = r
            .creds
            .ok_or_else(|| ApiError::InvalidArgument("creds are required".to_owned()))?;
        Ok(Response::new(creds_to_pb(
            repos::create(
                &self.0,
                &who,
                Kind::RepoCreds,
                creds_input_of(creds),
                r.upsert,
            )
            .await?,
        )))
    }

    async fn update_repository_credentials(
        &self,
        request: Request<pb::RepoCredsUpdateRequest>,
    ) -> Result<Response<pb::RepoCreds>, Status> {
        let who = principal(&self.0, &request).await?;
        let creds = request
            .into_inner()
            .creds
            .ok_or_else(|| ApiError::InvalidArgument("creds are required".to_owned()))?;
        Ok(Response::new(creds_to_pb(
            repos::create(&self.0, &who, Kind::RepoCreds, creds_input_of(creds), true).await?,
        )))
    }

    async fn delete_repository_credentials(
        &self,
        request: Request<pb::RepoCredsDeleteRequest>,
    ) -> Result<Response<pb::RepoCredsResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        repos::delete(&self.0, &who, Kind::RepoCreds, &request.get_ref().url).await?;
        Ok(Response::new(pb::RepoCredsResponse {}))
    }
}
