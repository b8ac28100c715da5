//! `capstan.applicationset.v1.ApplicationSetService`.

use std::pin::Pin;

use capstan_proto::applicationset::v1 as pb;
use capstan_proto::applicationset::v1::application_set_service_server::ApplicationSetService;
use capstan_proto::common::v1::{KubeObject, ListMeta};
use futures::{Stream, StreamExt};
use kube::ResourceExt;
use tonic::{Request, Response, Status};

use super::{Shared, kube_object, principal};
use crate::appsets;
use crate::error::ApiError;
use crate::selector::Selector;

/// The ApplicationSet service.
#[derive(Debug, Clone)]
pub struct ApplicationSetApi(pub(crate) Shared);

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl ApplicationSetService for ApplicationSetApi {
    async fn list(
        &self,
        request: Request<pb::ApplicationSetListQuery>,
    ) -> Result<Response<pb::ApplicationSetList>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let selector = Selector::parse(&q.selector).map_err(ApiError::InvalidArgument)?;
        let page = appsets::list(
            &self.0,
            &who,
            &q.projects,
            &selector,
            q.limit as usize,
            Some(&q.r#continue),
        )?;
        Ok(Response::new(pb::ApplicationSetList {
            metadata: Some(ListMeta {
                r#continue: page.continue_token.unwrap_or_default(),
                ..Default::default()
            }),
            items: page
                .items
                .iter()
                .map(|a| kube_object(a.as_ref()))
                .collect::<Result<_, _>>()?,
        }))
    }

    async fn get(
        &self,
        request: Request<pb::ApplicationSetGetQuery>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let appset = appsets::get(&self.0, &who, &request.get_ref().name, "get").await?;
        Ok(Response::new(kube_object(appset.as_ref())?))
    }

    async fn create(
        &self,
        request: Request<pb::ApplicationSetCreateRequest>,
    ) -> Result<Response<KubeObject>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        if r.dry_run {
            // Validated by generating, not stored (Argo CD's dry run).
            let json = r.applicationset.map(|a| a.json).unwrap_or_default();
            let (appset, _) = appsets::generate(&self.0, &who, &json).await?;
            return Ok(Response::new(kube_object(&appset)?));
        }
        let created = appsets::create(
            &self.0,
            &who,
            &r.applicationset.map(|a| a.json).unwrap_or_default(),
            r.upsert,
        )
        .await?;
        Ok(Response::new(kube_object(&created)?))
    }

    async fn delete(
        &self,
        request: Request<pb::ApplicationSetDeleteRequest>,
    ) -> Result<Response<pb::ApplicationSetResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        appsets::delete(&self.0, &who, &request.get_ref().name).await?;
        Ok(Response::new(pb::ApplicationSetResponse::default()))
    }

    type WatchStream = Stream_<pb::ApplicationSetWatchEvent>;

    async fn watch(
        &self,
        request: Request<pb::ApplicationSetWatchQuery>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let state = self.0.clone();
        let events = tokio_stream::wrappers::BroadcastStream::new(state.appsets.subscribe());
        let initial: Vec<_> = state
            .appsets
            .list()
            .into_iter()
            .map(|a| (crate::store::EventType::Added, a))
            .collect();
        let stream = futures::stream::iter(initial)
            .chain(events.filter_map(|e| async move {
                match e {
                    Ok(e) => Some((e.kind, e.object)),
                    Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(_)) => {
                        None
                    }
                }
            }))
            .filter(move |(_, a)| {
                let visible = (q.name.is_empty() || a.name_any() == q.name)
                    && state.can(&who, "applicationsets", "get", &appsets::rbac_object(a));
                futures::future::ready(visible)
            })
            .map(|(kind, a)| {
                Ok(pb::ApplicationSetWatchEvent {
                    r#type: super::application::watch_type(kind) as i32,
                    application_set: Some(kube_object(a.as_ref())?),
                })
            });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn generate(
        &self,
        request: Request<pb::ApplicationSetGenerateRequest>,
    ) -> Result<Response<pb::ApplicationSetGenerateResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let json = request
            .into_inner()
            .application_set
            .map(|a| a.json)
            .unwrap_or_default();
        let (_, apps) = appsets::generate(&self.0, &who, &json).await?;
        Ok(Response::new(pb::ApplicationSetGenerateResponse {
            applications: apps.iter().map(kube_object).collect::<Result<_, _>>()?,
        }))
    }
}
