//! `capstan.cluster.v1.ClusterService`.

use capstan_proto::cluster::v1 as pb;
use capstan_proto::cluster::v1::cluster_service_server::ClusterService;
use capstan_proto::common::v1::ListMeta;
use serde_json::json;
use tonic::{Request, Response, Status};

use super::{Shared, principal};
use crate::clusters::{self, ClusterInput, ClusterView};
use crate::error::ApiError;

/// The cluster service.
#[derive(Debug, Clone)]
pub struct ClusterApi(pub(crate) Shared);

fn to_pb(c: ClusterView) -> pb::Cluster {
    pb::Cluster {
        server: c.server,
        name: c.name,
        namespaces: c.namespaces,
        cluster_resources: c.cluster_resources,
        project: c.project,
        labels: c.labels.into_iter().collect(),
        info: Some(pb::ClusterInfo {
            applications_count: c.info.applications_count,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn input_of(c: pb::Cluster) -> ClusterInput {
    let config = c.config.map(|cfg| {
        let tls = cfg.tls_client_config.unwrap_or_default();
        let b64 = |b: &[u8]| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let mut config = json!({ "tlsClientConfig": { "insecure": tls.insecure } });
        if !cfg.bearer_token.is_empty() {
            config["bearerToken"] = json!(cfg.bearer_token);
        }
        if !cfg.username.is_empty() {
            config["username"] = json!(cfg.username);
            config["password"] = json!(cfg.password);
        }
        if !tls.ca_data.is_empty() {
            config["tlsClientConfig"]["caData"] = json!(b64(&tls.ca_data));
        }
        if !tls.cert_data.is_empty() {
            config["tlsClientConfig"]["certData"] = json!(b64(&tls.cert_data));
            config["tlsClientConfig"]["keyData"] = json!(b64(&tls.key_data));
        }
        if !tls.server_name.is_empty() {
            config["tlsClientConfig"]["serverName"] = json!(tls.server_name);
        }
        config
    });
    ClusterInput {
        server: c.server,
        name: c.name,
        namespaces: c.namespaces,
        cluster_resources: c.cluster_resources,
        project: c.project,
        config: config.unwrap_or(serde_json::Value::Null),
        labels: c.labels.into_iter().collect(),
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterApi {
    async fn list(
        &self,
        request: Request<pb::ClusterQuery>,
    ) -> Result<Response<pb::ClusterList>, Status> {
        let who = principal(&self.0, &request).await?;
        let items = clusters::list(&self.0, &who).await?;
        Ok(Response::new(pb::ClusterList {
            metadata: Some(ListMeta::default()),
            items: items.into_iter().map(to_pb).collect(),
        }))
    }

    async fn get(
        &self,
        request: Request<pb::ClusterQuery>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        Ok(Response::new(to_pb(
            clusters::get(&self.0, &who, &q.server, &q.name).await?,
        )))
    }

    async fn create(
        &self,
        request: Request<pb::ClusterCreateRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let cluster = r
            .cluster
            .ok_or_else(|| ApiError::InvalidArgument("cluster is required".to_owned()))?;
        Ok(Response::new(to_pb(
            clusters::create(&self.0, &who, input_of(cluster), r.upsert).await?,
        )))
    }

    async fn update(
        &self,
        request: Request<pb::ClusterUpdateRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let who = principal(&self.0, &request).await?;
        let cluster = request
            .into_inner()
            .cluster
            .ok_or_else(|| ApiError::InvalidArgument("cluster is required".to_owned()))?;
        Ok(Response::new(to_pb(
            clusters::create(&self.0, &who, input_of(cluster), true).await?,
        )))
    }

    async fn delete(
        &self,
        request: Request<pb::ClusterQuery>,
    ) -> Result<Response<pb::ClusterResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        clusters::delete(&self.0, &who, &q.server, &q.name).await?;
        Ok(Response::new(pb::ClusterResponse {}))
    }

    async fn rotate_auth(
        &self,
        _request: Request<pb::ClusterQuery>,
    ) -> Result<Response<pb::ClusterResponse>, Status> {
        Err(ApiError::Unimplemented(
            "ClusterService.RotateAuth is not offered by this release of Capstan".to_owned(),
        )
        .into())
    }

    async fn invalidate_cache(
        &self,
        request: Request<pb::ClusterQuery>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let cluster = clusters::get(&self.0, &who, &q.server, &q.name).await?;
        self.0
            .authorize(&who, "clusters", "update", &cluster.server)?;
        Ok(Response::new(to_pb(cluster)))
    }
}
