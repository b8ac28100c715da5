//! `capstan.version.v1.VersionService`: public, like Argo CD's.

use capstan_proto::version::v1 as pb;
use capstan_proto::version::v1::version_service_server::VersionService;
use tonic::{Request, Response, Status};

use crate::account;

/// The version service.
#[derive(Debug, Clone, Default)]
pub struct VersionApi;

#[tonic::async_trait]
impl VersionService for VersionApi {
    async fn version(&self, _request: Request<()>) -> Result<Response<pb::VersionMessage>, Status> {
        Ok(Response::new(account::version()))
    }
}
