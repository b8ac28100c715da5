//! `capstan.account.v1.AccountService`.

use capstan_proto::account::v1 as pb;
use capstan_proto::account::v1::account_service_server::AccountService;
use tonic::{Request, Response, Status};

use super::{Shared, principal};
use crate::account;
use crate::error::ApiError;

/// The account service.
#[derive(Debug, Clone)]
pub struct AccountApi(pub(crate) Shared);

fn later(method: &str) -> Status {
    ApiError::Unimplemented(format!(
        "AccountService.{method}: local account passwords and API keys are managed by \
         capstan-auth-gateway, which this release does not include yet"
    ))
    .into()
}

#[tonic::async_trait]
impl AccountService for AccountApi {
    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountRequest>,
    ) -> Result<Response<pb::AccountsList>, Status> {
        let who = principal(&self.0, &request).await?;
        let items = account::list_accounts(&self.0, &who)
            .into_iter()
            .map(|a| pb::Account {
                name: a.name,
                enabled: a.enabled,
                capabilities: a.capabilities,
                tokens: Vec::new(),
            })
            .collect();
        Ok(Response::new(pb::AccountsList { items }))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let who = principal(&self.0, &request).await?;
        let name = request.get_ref().name.clone();
        self.0.authorize(&who, "accounts", "get", &name)?;
        account::list_accounts(&self.0, &who)
            .into_iter()
            .find(|a| a.name == name)
            .map(|a| {
                Response::new(pb::Account {
                    name: a.name,
                    enabled: a.enabled,
                    capabilities: a.capabilities,
                    tokens: Vec::new(),
                })
            })
            .ok_or_else(|| {
                ApiError::NotFound {
                    kind: "account",
                    name,
                }
                .into()
            })
    }

    async fn can_i(
        &self,
        request: Request<pb::CanIRequest>,
    ) -> Result<Response<pb::CanIResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let q = request.into_inner();
        let value = account::can_i(&self.0, &who, &q.resource, &q.action, &q.subresource)?;
        Ok(Response::new(pb::CanIResponse {
            value: value.to_owned(),
        }))
    }

    async fn update_password(
        &self,
        _request: Request<pb::UpdatePasswordRequest>,
    ) -> Result<Response<pb::UpdatePasswordResponse>, Status> {
        Err(later("UpdatePassword"))
    }

    async fn create_token(
        &self,
        _request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        Err(later("CreateToken"))
    }

    async fn delete_token(
        &self,
        _request: Request<pb::DeleteTokenRequest>,
    ) -> Result<Response<pb::EmptyResponse>, Status> {
        Err(later("DeleteToken"))
    }
}
