//! `capstan.project.v1.ProjectService`.

use std::time::Duration;

use capstan_proto::common::v1::{KubeObject, KubeObjectList, ListMeta};
use capstan_proto::project::v1 as pb;
use capstan_proto::project::v1::project_service_server::ProjectService;
use tonic::{Request, Response, Status};

use super::{Shared, kube_object, principal};
use crate::projects;

/// The project service.
#[derive(Debug, Clone)]
pub struct ProjectApi(pub(crate) Shared);

#[tonic::async_trait]
impl ProjectService for ProjectApi {
    async fn list(
        &self,
        request: Request<pb::ProjectQuery>,
    ) -> Result<Response<pb::AppProjectList>, Status> {
        let who = principal(&self.0, &request).await?;
        let items = projects::list(&self.0, &who)
            .iter()
            .map(|p| kube_object(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::AppProjectList {
            metadata: Some(ListMeta::default()),
            items,
        }))
    }

    async fn get(
        &self,
        request: Request<pb::ProjectQuery>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let project = projects::get(&self.0, &who, &request.get_ref().name).await?;
        Ok(Response::new(kube_object(project.as_ref())?))
    }

    async fn create(
        &self,
        request: Request<pb::ProjectCreateRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let project = projects::parse(&self.0, &r.project.map(|p| p.json).unwrap_or_default())?;
        let created = projects::create(&self.0, &who, project, r.upsert).await?;
        Ok(Response::new(kube_object(&created)?))
    }

    async fn update(
        &self,
        request: Request<pb::ProjectUpdateRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let project = projects::parse(&self.0, &r.project.map(|p| p.json).unwrap_or_default())?;
        let updated = projects::update(&self.0, &who, project).await?;
        Ok(Response::new(kube_object(&updated)?))
    }

    async fn delete(
        &self,
        request: Request<pb::ProjectQuery>,
    ) -> Result<Response<pb::EmptyResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        projects::delete(&self.0, &who, &request.get_ref().name).await?;
        Ok(Response::new(pb::EmptyResponse {}))
    }

    async fn create_token(
        &self,
        request: Request<pb::ProjectTokenCreateRequest>,
    ) -> Result<Response<pb::ProjectTokenResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let expires_in = (r.expires_in > 0).then(|| Duration::from_secs(r.expires_in as u64));
        let token =
            projects::create_token(&self.0, &who, &r.project, &r.role, expires_in, Some(&r.id))
                .await?;
        Ok(Response::new(pb::ProjectTokenResponse { token }))
    }

    async fn delete_token(
        &self,
        request: Request<pb::ProjectTokenDeleteRequest>,
    ) -> Result<Response<pb::EmptyResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        projects::delete_token(&self.0, &who, &r.project, &r.role, r.iat, &r.id).await?;
        Ok(Response::new(pb::EmptyResponse {}))
    }

    async fn get_detailed_project(
        &self,
        request: Request<pb::ProjectQuery>,
    ) -> Result<Response<pb::DetailedProjectsResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let project = projects::get(&self.0, &who, &request.get_ref().name).await?;
        Ok(Response::new(pb::DetailedProjectsResponse {
            project: Some(kube_object(project.as_ref())?),
            ..Default::default()
        }))
    }

    async fn get_sync_windows_state(
        &self,
        request: Request<pb::SyncWindowsQuery>,
    ) -> Result<Response<pb::SyncWindowsResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let project = projects::get(&self.0, &who, &request.get_ref().name).await?;
        let now = jiff::Timestamp::now();
        let windows = project
            .spec
            .sync_windows
            .iter()
            .filter(|w| w.is_active_at(now).unwrap_or(false))
            .map(kube_object)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::SyncWindowsResponse { windows }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ProjectQuery>,
    ) -> Result<Response<KubeObjectList>, Status> {
        let who = principal(&self.0, &request).await?;
        // Reading the project's events needs read access to the project.
        projects::get(&self.0, &who, &request.get_ref().name).await?;
        let api: kube::Api<k8s_openapi::api::core::v1::Event> =
            kube::Api::namespaced(self.0.client.clone(), &self.0.namespace);
        let fields = format!(
            "involvedObject.name={},involvedObject.kind=AppProject",
            request.get_ref().name
        );
        let events = api
            .list(&kube::api::ListParams::default().fields(&fields))
            .await
            .map_err(|e| {
                crate::error::ApiError::from_kube(e, "events of project", &request.get_ref().name)
            })?;
        Ok(Response::new(KubeObjectList {
            metadata: Some(ListMeta::default()),
            items: events
                .items
                .iter()
                .map(kube_object)
                .collect::<Result<_, _>>()?,
        }))
    }
}
