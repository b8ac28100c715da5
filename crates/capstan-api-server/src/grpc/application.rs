//! `capstan.application.v1.ApplicationService`.

use std::pin::Pin;

use capstan_proto::application::v1 as pb;
use capstan_proto::application::v1::application_service_server::ApplicationService;
use capstan_proto::common::v1::{KubeObject, KubeObjectList, ListMeta, WatchEventType};
use capstan_proto::repo::v1 as repo;
use capstan_types::application::{
    Backoff, Info, RetryStrategy, SyncOperationResource, SyncStrategy, SyncStrategyApply,
    SyncStrategyHook,
};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::{Shared, kube_object, non_empty, principal};
use crate::apps::{self, Filter, SyncParams};
use crate::error::ApiError;
use crate::selector::Selector;
use crate::{resources, watch};

/// The Application service.
#[derive(Debug, Clone)]
pub struct ApplicationApi(pub(crate) Shared);

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The filter of a query.
pub fn filter_of(q: &pb::ApplicationQuery) -> Result<Filter, ApiError> {
    Ok(Filter {
        name: q.name.clone().filter(|n| !n.is_empty()),
        projects: q.projects.clone(),
        selector: Selector::parse(&q.selector).map_err(ApiError::InvalidArgument)?,
        repo: non_empty(&q.repo).map(str::to_owned),
        sync_statuses: q.sync_statuses.clone(),
        health_statuses: q.health_statuses.clone(),
        search: non_empty(&q.search).map(str::to_owned),
        clusters: q.clusters.clone(),
        namespaces: q.namespaces.clone(),
    })
}

fn strategy(s: Option<pb::SyncStrategy>) -> Option<SyncStrategy> {
    Some(match s?.strategy? {
        pb::sync_strategy::Strategy::Apply(a) => SyncStrategy {
            apply: Some(SyncStrategyApply {
                force: Some(a.force),
                ..Default::default()
            }),
            ..Default::default()
        },
        pb::sync_strategy::Strategy::Hook(h) => SyncStrategy {
            hook: Some(SyncStrategyHook {
                force: Some(h.force),
                ..Default::default()
            }),
            ..Default::default()
        },
    })
}

fn retry(r: Option<pb::RetryStrategy>) -> Option<RetryStrategy> {
    let r = r?;
    Some(RetryStrategy {
        limit: Some(r.limit),
        backoff: r.backoff.map(|b| Backoff {
            duration: b.duration,
            factor: Some(b.factor),
            max_duration: b.max_duration,
            ..Default::default()
        }),
        refresh: Some(r.refresh),
        ..Default::default()
    })
}

fn resource(r: pb::SyncOperationResource) -> SyncOperationResource {
    SyncOperationResource {
        group: Some(r.group),
        kind: r.kind,
        name: r.name,
        namespace: r.namespace,
        ..Default::default()
    }
}

/// Converts a sync request.
pub fn sync_params(r: pb::ApplicationSyncRequest) -> SyncParams {
    SyncParams {
        revision: r.revision,
        dry_run: r.dry_run,
        prune: r.prune,
        strategy: strategy(r.strategy),
        resources: r.resources.into_iter().map(resource).collect(),
        manifests: r.manifests,
        infos: r
            .infos
            .into_iter()
            .map(|i| Info {
                name: i.name,
                value: i.value,
                ..Default::default()
            })
            .collect(),
        retry: retry(r.retry_strategy),
        sync_options: (!r.sync_options.is_empty()).then_some(r.sync_options),
    }
}

fn resource_diff(m: capstan_types::managed::ManagedResource) -> pb::ResourceDiff {
    let json = |v: &serde_json::Value| {
        if v.is_null() {
            String::new()
        } else {
            v.to_string()
        }
    };
    pb::ResourceDiff {
        group: m.group,
        kind: m.kind,
        namespace: m.namespace,
        name: m.name,
        target_state: json(&m.target_state),
        live_state: json(&m.normalized_live_state),
        diff: String::new(),
        hook: m.hook,
        normalized_live_state: json(&m.normalized_live_state),
        predicted_live_state: json(&m.predicted_live_state),
        resource_version: m.resource_version,
        modified: m.modified,
    }
}

#[tonic::async_trait]
impl ApplicationService for ApplicationApi {
    async fn list(
        &self,
        request: Request<pb::ApplicationQuery>,
    ) -> Result<Response<pb::ApplicationList>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let filter = filter_of(&q)?;
        let version = self.0.apps.resource_version();
        let page = apps::list(
            &self.0,
            &who,
            &filter,
            q.limit as usize,
            non_empty(&q.r#continue),
        )?;
        let items = page
            .items
            .iter()
            .map(|a| kube_object(a.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ApplicationList {
            metadata: Some(ListMeta {
                resource_version: version.map(|v| v.to_string()).unwrap_or_default(),
                r#continue: page.continue_token.unwrap_or_default(),
                remaining_item_count: page.remaining.map(|r| r as i64),
            }),
            items,
        }))
    }

    async fn list_resource_events(
        &self,
        request: Request<pb::ApplicationResourceEventsQuery>,
    ) -> Result<Response<KubeObjectList>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let resource = non_empty(&q.resource_name)
            .map(|n| (q.resource_namespace.as_str(), n, q.resource_uid.as_str()));
        let events =
            resources::events(&self.0, &who, &q.name, non_empty(&q.project), resource).await?;
        Ok(Response::new(KubeObjectList {
            metadata: Some(ListMeta::default()),
            items: events.iter().map(kube_object).collect::<Result<_, _>>()?,
        }))
    }

    type WatchStream = Stream_<pb::ApplicationWatchEvent>;

    async fn watch(
        &self,
        request: Request<pb::ApplicationQuery>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let filter = filter_of(&q)?;
        let since =
            crate::rest::resource_version_of(Some(&q.resource_version)).map_err(Status::from)?;
        let stream = watch::applications(self.0.clone(), who, filter, since);
        let stream = futures::StreamExt::map(stream, |(kind, app)| {
            Ok(pb::ApplicationWatchEvent {
                r#type: watch_type(kind) as i32,
                application: Some(kube_object(app.as_ref())?),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn create(
        &self,
        request: Request<pb::ApplicationCreateRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let json = r.application.map(|a| a.json).unwrap_or_default();
        let app = apps::parse_application(&self.0, &json)?;
        let created = apps::create(
            &self.0,
            &who,
            app,
            r.upsert.unwrap_or(false),
            r.validate.unwrap_or(true),
        )
        .await?;
        Ok(Response::new(kube_object(&created)?))
    }

    async fn get(
        &self,
        request: Request<pb::ApplicationQuery>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let name = q.name.clone().unwrap_or_default();
        let project = q.projects.first().map(String::as_str);
        let app = apps::get(&self.0, &who, &name, project, q.refresh.as_deref()).await?;
        Ok(Response::new(kube_object(app.as_ref())?))
    }

    async fn get_application_sync_windows(
        &self,
        request: Request<pb::ApplicationSyncWindowsQuery>,
    ) -> Result<Response<pb::ApplicationSyncWindowsResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let (active, assigned, can_sync) =
            resources::sync_windows(&self.0, &who, &q.name, non_empty(&q.project)).await?;
        let window = |w: serde_json::Value| pb::ApplicationSyncWindow {
            kind: w["kind"].as_str().unwrap_or_default().to_owned(),
            schedule: w["schedule"].as_str().unwrap_or_default().to_owned(),
            duration: w["duration"].as_str().unwrap_or_default().to_owned(),
            manual_sync: w["manualSync"].as_bool().unwrap_or(false),
        };
        Ok(Response::new(pb::ApplicationSyncWindowsResponse {
            active_windows: active.into_iter().map(window).collect(),
            assigned_windows: assigned.into_iter().map(window).collect(),
            can_sync,
        }))
    }

    async fn revision_metadata(
        &self,
        request: Request<pb::RevisionMetadataQuery>,
    ) -> Result<Response<repo::RevisionMetadata>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let metadata = resources::revision_metadata(
            &self.0,
            &who,
            &q.name,
            non_empty(&q.project),
            &q.revision,
        )
        .await?;
        Ok(Response::new(metadata))
    }

    async fn get_manifests(
        &self,
        request: Request<pb::ApplicationManifestQuery>,
    ) -> Result<Response<repo::ManifestResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let manifests = resources::manifests(
            &self.0,
            &who,
            &q.name,
            non_empty(&q.project),
            q.revision.as_deref(),
        )
        .await?;
        Ok(Response::new(manifests))
    }

    async fn update(
        &self,
        request: Request<pb::ApplicationUpdateRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let json = r.application.map(|a| a.json).unwrap_or_default();
        let app = apps::parse_application(&self.0, &json)?;
        let updated = apps::update(
            &self.0,
            &who,
            app,
            r.validate.unwrap_or(true),
            non_empty(&r.project),
        )
        .await?;
        Ok(Response::new(kube_object(&updated)?))
    }

    async fn update_spec(
        &self,
        request: Request<pb::ApplicationUpdateSpecRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let spec = r.spec.map(|s| s.json).unwrap_or_default();
        let updated = apps::update_spec(
            &self.0,
            &who,
            &r.name,
            &spec,
            r.validate.unwrap_or(true),
            non_empty(&r.project),
        )
        .await?;
        Ok(Response::new(kube_object(&updated.spec)?))
    }

    async fn patch(
        &self,
        request: Request<pb::ApplicationPatchRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let patched = apps::patch(
            &self.0,
            &who,
            &r.name,
            &r.patch,
            &r.patch_type,
            non_empty(&r.project),
        )
        .await?;
        Ok(Response::new(kube_object(&patched)?))
    }

    async fn delete(
        &self,
        request: Request<pb::ApplicationDeleteRequest>,
    ) -> Result<Response<pb::ApplicationResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        apps::delete(
            &self.0,
            &who,
            &r.name,
            r.cascade.unwrap_or(true),
            r.propagation_policy.as_deref(),
            non_empty(&r.project),
        )
        .await?;
        Ok(Response::new(pb::ApplicationResponse {}))
    }

    async fn sync(
        &self,
        request: Request<pb::ApplicationSyncRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let name = r.name.clone();
        let project = r.project.clone();
        let app = apps::sync(&self.0, &who, &name, non_empty(&project), sync_params(r)).await?;
        Ok(Response::new(kube_object(&app)?))
    }

    async fn managed_resources(
        &self,
        request: Request<pb::ResourcesQuery>,
    ) -> Result<Response<pb::ManagedResourcesResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let items =
            resources::managed_resources(&self.0, &who, &q.application_name, non_empty(&q.project))
                .await?;
        let wanted = q.resource.unwrap_or_default();
        let items = items
            .into_iter()
            .filter(|m| {
                (wanted.kind.is_empty() || wanted.kind == m.kind)
                    && (wanted.group.is_empty() || wanted.group == m.group)
                    && (wanted.name.is_empty() || wanted.name == m.name)
                    && (wanted.namespace.is_empty() || wanted.namespace == m.namespace)
            })
            .map(resource_diff)
            .collect();
        Ok(Response::new(pb::ManagedResourcesResponse { items }))
    }

    async fn resource_tree(
        &self,
        request: Request<pb::ResourcesQuery>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let tree =
            resources::resource_tree(&self.0, &who, &q.application_name, non_empty(&q.project))
                .await?;
        Ok(Response::new(kube_object(&tree)?))
    }

    type WatchResourceTreeStream = Stream_<KubeObject>;

    async fn watch_resource_tree(
        &self,
        request: Request<pb::ResourcesQuery>,
    ) -> Result<Response<Self::WatchResourceTreeStream>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let app = apps::find(
            &self.0,
            &who,
            &q.application_name,
            non_empty(&q.project),
            "get",
        )
        .await?;
        let stream = watch::resource_tree(self.0.clone(), who, app);
        let stream = futures::StreamExt::map(stream, |tree| kube_object(&tree));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn rollback(
        &self,
        request: Request<pb::ApplicationRollbackRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let app = apps::rollback(
            &self.0,
            &who,
            &r.name,
            non_empty(&r.project),
            r.id,
            r.dry_run,
            r.prune,
        )
        .await?;
        Ok(Response::new(kube_object(&app)?))
    }

    async fn terminate_operation(
        &self,
        request: Request<pb::OperationTerminateRequest>,
    ) -> Result<Response<pb::OperationTerminateResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        apps::terminate(&self.0, &who, &r.name, non_empty(&r.project)).await?;
        Ok(Response::new(pb::OperationTerminateResponse {}))
    }

    async fn get_resource(
        &self,
        request: Request<pb::ApplicationResourceRequest>,
    ) -> Result<Response<pb::ApplicationResourceResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let res = r.resource.unwrap_or_default();
        let id = resources::ResourceId {
            group: &res.group,
            version: &res.version,
            kind: &res.kind,
            namespace: &res.namespace,
            name: &res.name,
        };
        let manifest =
            resources::get_resource(&self.0, &who, &r.name, non_empty(&r.project), &id).await?;
        Ok(Response::new(pb::ApplicationResourceResponse {
            manifest: Some(kube_object(&manifest)?),
        }))
    }

    async fn patch_resource(
        &self,
        _request: Request<pb::ApplicationResourcePatchRequest>,
    ) -> Result<Response<pb::ApplicationResourceResponse>, Status> {
        Err(not_offered("PatchResource"))
    }

    async fn list_resource_actions(
        &self,
        _request: Request<pb::ApplicationResourceRequest>,
    ) -> Result<Response<pb::ResourceActionsListResponse>, Status> {
        Err(not_offered("ListResourceActions"))
    }

    async fn run_resource_action(
        &self,
        _request: Request<pb::ResourceActionRunRequest>,
    ) -> Result<Response<pb::ApplicationResponse>, Status> {
        Err(not_offered("RunResourceAction"))
    }

    async fn delete_resource(
        &self,
        _request: Request<pb::ApplicationResourceDeleteRequest>,
    ) -> Result<Response<pb::ApplicationResponse>, Status> {
        Err(not_offered("DeleteResource"))
    }

    type PodLogsStream = Stream_<pb::LogEntry>;

    async fn pod_logs(
        &self,
        _request: Request<pb::ApplicationPodLogsQuery>,
    ) -> Result<Response<Self::PodLogsStream>, Status> {
        Err(not_offered("PodLogs"))
    }

    async fn list_links(
        &self,
        request: Request<pb::ListAppLinksRequest>,
    ) -> Result<Response<pb::LinksResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        apps::find(&self.0, &who, &r.name, non_empty(&r.project), "get").await?;
        Ok(Response::new(pb::LinksResponse::default()))
    }

    async fn list_resource_links(
        &self,
        request: Request<pb::ApplicationResourceRequest>,
    ) -> Result<Response<pb::LinksResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        apps::find(&self.0, &who, &r.name, non_empty(&r.project), "get").await?;
        Ok(Response::new(pb::LinksResponse::default()))
    }
}

fn not_offered(method: &str) -> Status {
    ApiError::Unimplemented(format!(
        "ApplicationService.{method} is not offered by this release of Capstan"
    ))
    .into()
}

/// The wire type of a store event.
pub fn watch_type(kind: crate::store::EventType) -> WatchEventType {
    match kind {
        crate::store::EventType::Added => WatchEventType::Added,
        crate::store::EventType::Modified => WatchEventType::Modified,
        crate::store::EventType::Deleted => WatchEventType::Deleted,
    }
}
