//! `capstan.session.v1.SessionService`.

use capstan_proto::session::v1 as pb;
use capstan_proto::session::v1::session_service_server::SessionService;
use tonic::{Request, Response, Status};

use super::{Shared, principal};
use crate::account;
use crate::error::ApiError;

/// The session service.
#[derive(Debug, Clone)]
pub struct SessionApi(pub(crate) Shared);

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn create(
        &self,
        _request: Request<pb::SessionCreateRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        Err(ApiError::Unimplemented(
            "password login is served by capstan-auth-gateway, which this release does not \
             include yet; log in with a token (capstan login --auth-token)"
                .to_owned(),
        )
        .into())
    }

    async fn delete(
        &self,
        request: Request<pb::SessionDeleteRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        crate::auth::revoke(&self.0.cache, &who).await;
        Ok(Response::new(pb::SessionResponse::default()))
    }

    async fn get_user_info(
        &self,
        request: Request<pb::GetUserInfoRequest>,
    ) -> Result<Response<pb::GetUserInfoResponse>, Status> {
        let info = match principal(&self.0, &request).await {
            Ok(who) => account::user_info(&who),
            Err(status) if status.code() == tonic::Code::Unauthenticated => account::UserInfo {
                logged_in: false,
                username: String::new(),
                iss: String::new(),
                groups: Vec::new(),
            },
            Err(status) => return Err(status),
        };
        Ok(Response::new(pb::GetUserInfoResponse {
            logged_in: info.logged_in,
            username: info.username,
            iss: info.iss,
            groups: info.groups,
        }))
    }
}
