//! `capstan.session.v1.SessionService`.

use capstan_proto::session::v1 as pb;
use capstan_proto::session::v1::session_service_server::SessionService;
use tonic::{Request, Response, Status};

use super::{Shared, principal};
use crate::account;

/// The session service.
#[derive(Debug, Clone)]
pub struct SessionApi(pub(crate) Shared);

#[tonic::async_trait]
impl SessionService for SessionApi {
    /// Forwarded to the auth-gateway, which checks passwords (rate limited per user and
    /// client address) and ID tokens and signs the session.
    async fn create(
        &self,
        request: Request<pb::SessionCreateRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        let address = client_address(&request);
        let r = request.into_inner();
        let mut gateway = self.0.gateway()?;
        let login = gateway
            .login(capstan_proto::auth::v1::LoginRequest {
                username: r.username,
                password: r.password,
                id_token: r.token,
                client_address: address,
            })
            .await?
            .into_inner();
        Ok(Response::new(pb::SessionResponse { token: login.token }))
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

/// The caller's address for rate limiting: the last `X-Forwarded-For` hop when the
/// auth-gateway proxied the call, else the peer.
pub(crate) fn client_address<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .or_else(|| request.remote_addr().map(|a| a.ip().to_string()))
        .unwrap_or_default()
}
