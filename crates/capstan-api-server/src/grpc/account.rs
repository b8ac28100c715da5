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

/// The local account the caller is logged in as (a `<name>:login` or `<name>:apiKey`
/// token), if any.
fn own_account(who: &crate::auth::Principal) -> Option<&str> {
    let claims = who.claims.as_ref()?;
    capstan_tokens::accounts::split_account_subject(&claims.sub).map(|(name, _)| name)
}

/// The account a request names, defaulting to the caller's own; changing another account
/// needs `accounts, update, <name>`.
fn target_account(
    state: &crate::state::ApiState,
    who: &crate::auth::Principal,
    name: &str,
) -> Result<String, Status> {
    let own = own_account(who);
    let name = if name.is_empty() {
        own.ok_or_else(|| {
            Status::from(ApiError::InvalidArgument(
                "name the account: you are not logged in as a local account".to_owned(),
            ))
        })?
        .to_owned()
    } else {
        name.to_owned()
    };
    if own != Some(name.as_str()) {
        state.authorize(who, "accounts", "update", &name)?;
    }
    Ok(name)
}

fn tokens_of(state: &crate::state::ApiState, name: &str) -> Vec<pb::Token> {
    state
        .settings()
        .local_account(name)
        .map(|(_, secrets)| {
            secrets
                .tokens
                .into_iter()
                .map(|t| pb::Token {
                    id: t.id,
                    issued_at: t.iat,
                    expires_at: t.exp,
                })
                .collect()
        })
        .unwrap_or_default()
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
                tokens: tokens_of(&self.0, &a.name),
                name: a.name,
                enabled: a.enabled,
                capabilities: a.capabilities,
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
                    tokens: tokens_of(&self.0, &a.name),
                    name: a.name,
                    enabled: a.enabled,
                    capabilities: a.capabilities,
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

    /// The caller proves who they are with their own current password (as in Argo CD, a
    /// local account is needed even to change another account's password).
    async fn update_password(
        &self,
        request: Request<pb::UpdatePasswordRequest>,
    ) -> Result<Response<pb::UpdatePasswordResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let address = super::session::client_address(&request);
        let caller = own_account(&who)
            .ok_or_else(|| {
                Status::from(ApiError::InvalidArgument(
                    "passwords can be changed by local accounts only; SSO users change theirs \
                     at the identity provider"
                        .to_owned(),
                ))
            })?
            .to_owned();
        let r = request.into_inner();
        let name = target_account(&self.0, &who, &r.name)?;
        self.0
            .gateway()?
            .update_password(capstan_proto::auth::v1::UpdatePasswordRequest {
                name: name.clone(),
                new_password: r.new_password,
                current_password: r.current_password,
                caller: caller.clone(),
                client_address: address,
            })
            .await?;
        tracing::info!(target: "audit", user = who.username(), account = name, "password updated");
        Ok(Response::new(pb::UpdatePasswordResponse {}))
    }

    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let name = target_account(&self.0, &who, &r.name)?;
        let issued = self
            .0
            .gateway()?
            .issue_token(capstan_proto::auth::v1::IssueTokenRequest {
                subject: Some(
                    capstan_proto::auth::v1::issue_token_request::Subject::Account(name.clone()),
                ),
                expires_in: (r.expires_in > 0).then_some(prost_types::Duration {
                    seconds: r.expires_in,
                    nanos: 0,
                }),
                id: r.id,
                description: String::new(),
            })
            .await?
            .into_inner();
        tracing::info!(target: "audit", user = who.username(), account = name, token = issued.token_id, "API token created");
        Ok(Response::new(pb::CreateTokenResponse {
            token: issued.token,
        }))
    }

    async fn delete_token(
        &self,
        request: Request<pb::DeleteTokenRequest>,
    ) -> Result<Response<pb::EmptyResponse>, Status> {
        let who = principal(&self.0, &request).await?;
        let r = request.into_inner();
        let name = target_account(&self.0, &who, &r.name)?;
        let record = self
            .0
            .settings()
            .local_account(&name)
            .map_err(|e| Status::from(ApiError::Internal(e)))?
            .1
            .tokens
            .into_iter()
            .find(|t| t.id == r.id)
            .ok_or_else(|| {
                Status::from(ApiError::NotFound {
                    kind: "token",
                    name: r.id.clone(),
                })
            })?;
        self.0
            .gateway()?
            .revoke_token(capstan_proto::auth::v1::RevokeTokenRequest {
                token_id: record.id.clone(),
                expires_at: (record.exp > 0).then_some(prost_types::Timestamp {
                    seconds: record.exp,
                    nanos: 0,
                }),
            })
            .await?;
        tracing::info!(target: "audit", user = who.username(), account = name, token = record.id, "API token deleted");
        Ok(Response::new(pb::EmptyResponse {}))
    }
}
