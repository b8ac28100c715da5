//! `capstan.auth.v1.AuthService` for the other components, on the gateway's internal port
//! (never the public one): verify, issue and revoke tokens, user info, the JWKS, and the
//! password / ID-token login the api-server's `SessionService.Create` forwards.

use std::sync::Arc;
use std::time::Duration;

use capstan_proto::auth::v1 as pb;
use capstan_proto::auth::v1::auth_service_server::AuthService;
use capstan_tokens::Claims;
use tonic::{Request, Response, Status};

use crate::local::{self, LoginFailure, UpdateError};
use crate::state::{Gateway, TokenProblem};

/// The service.
#[derive(Debug, Clone)]
pub struct AuthApi(pub Arc<Gateway>);

fn timestamp(unix: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix,
        nanos: 0,
    }
}

fn to_pb(claims: &Claims) -> pb::Claims {
    let kind = if claims.project_role().is_some() {
        pb::TokenKind::ProjectRole
    } else if capstan_tokens::accounts::split_account_subject(&claims.sub)
        .is_some_and(|(_, c)| c == capstan_tokens::accounts::API_KEY)
    {
        pb::TokenKind::Account
    } else {
        pb::TokenKind::Session
    };
    pb::Claims {
        sub: claims.sub.clone(),
        groups: claims.groups.clone(),
        email: claims.email.clone(),
        issuer: claims.iss.clone(),
        token_id: claims.jti.clone(),
        expires_at: claims.exp.map(timestamp),
        issued_at: Some(timestamp(claims.iat)),
        project_role: claims.project_role().map(|(p, r)| pb::ProjectRole {
            project: p.to_owned(),
            role: r.to_owned(),
        }),
        kind: kind as i32,
        audience: claims.aud.as_slice().to_vec(),
    }
}

fn token_status(e: TokenProblem) -> Status {
    match e {
        TokenProblem::NotReady => Status::unavailable(e.to_string()),
        TokenProblem::Invalid(_) => Status::unauthenticated(e.to_string()),
    }
}

fn update_status(e: UpdateError) -> Status {
    match e {
        UpdateError::Invalid(m) => Status::invalid_argument(m),
        UpdateError::NotFound(m) => Status::not_found(m),
        UpdateError::Denied(m) => Status::failed_precondition(m),
        UpdateError::Unavailable(m) => Status::unavailable(m),
    }
}

fn login_status(e: LoginFailure) -> Status {
    match e {
        LoginFailure::Invalid | LoginFailure::Rejected(_) => Status::unauthenticated(e.to_string()),
        LoginFailure::RateLimited(m) => Status::resource_exhausted(m),
        LoginFailure::Unavailable(m) => Status::unavailable(m),
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn verify_token(
        &self,
        request: Request<pb::VerifyTokenRequest>,
    ) -> Result<Response<pb::VerifyTokenResponse>, Status> {
        let claims = self
            .0
            .verify(&request.into_inner().token)
            .await
            .map_err(token_status)?;
        Ok(Response::new(pb::VerifyTokenResponse {
            claims: Some(to_pb(&claims)),
        }))
    }

    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        let r = request.into_inner();
        let expires_in = r
            .expires_in
            .map(|d| Duration::from_secs(u64::try_from(d.seconds).unwrap_or(0)));
        let (token, claims) = match r.subject {
            Some(pb::issue_token_request::Subject::Account(account)) => {
                local::issue_account_token(&self.0, &account, Some(r.id), expires_in)
                    .await
                    .map_err(update_status)?
            }
            Some(pb::issue_token_request::Subject::ProjectRole(_)) => {
                return Err(Status::failed_precondition(
                    "project-role tokens are issued by the api-server's ProjectService.CreateToken, \
                     which records them in the AppProject",
                ));
            }
            None => return Err(Status::invalid_argument("no subject: give an account")),
        };
        Ok(Response::new(pb::IssueTokenResponse {
            token,
            token_id: claims.jti.clone(),
            issued_at: Some(timestamp(claims.iat)),
            expires_at: claims.exp.map(timestamp),
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let r = request.into_inner();
        if r.token_id.is_empty() {
            return Err(Status::invalid_argument("token_id is empty"));
        }
        local::revoke_token(&self.0, &r.token_id, r.expires_at.map(|t| t.seconds))
            .await
            .map_err(update_status)?;
        Ok(Response::new(pb::RevokeTokenResponse {}))
    }

    async fn get_user_info(
        &self,
        request: Request<pb::GetUserInfoRequest>,
    ) -> Result<Response<pb::UserInfo>, Status> {
        let info = match self.0.verify(&request.into_inner().token).await {
            Ok(c) => pb::UserInfo {
                logged_in: true,
                username: capstan_tokens::accounts::split_account_subject(&c.sub)
                    .map_or_else(|| c.sub.clone(), |(name, _)| name.to_owned()),
                iss: c.iss.clone(),
                groups: c.groups.clone(),
                email: c.email.clone(),
            },
            Err(TokenProblem::Invalid(_)) => pb::UserInfo::default(),
            Err(e) => return Err(token_status(e)),
        };
        Ok(Response::new(info))
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::JsonWebKeySet>, Status> {
        let settings = self.0.settings();
        let keys = settings
            .keys
            .as_ref()
            .ok_or_else(|| Status::unavailable("the signing keys are not loaded yet"))?;
        let jwks =
            serde_json::to_value(keys.jwks()).map_err(|e| Status::internal(e.to_string()))?;
        let text = |k: &serde_json::Value, f: &str| {
            k.get(f).and_then(|v| v.as_str()).unwrap_or("").to_owned()
        };
        let keys = jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| pb::JsonWebKey {
                kty: text(k, "kty"),
                kid: text(k, "kid"),
                r#use: text(k, "use"),
                alg: text(k, "alg"),
                n: text(k, "n"),
                e: text(k, "e"),
                crv: text(k, "crv"),
                x: text(k, "x"),
                y: text(k, "y"),
            })
            .collect();
        Ok(Response::new(pb::JsonWebKeySet { keys }))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let r = request.into_inner();
        if !r.id_token.is_empty() {
            let (token, claims) =
                crate::web::id_token_login(&self.0, &r.id_token, &r.client_address)
                    .await
                    .map_err(login_status)?;
            return Ok(Response::new(pb::LoginResponse {
                token,
                subject: claims.sub,
            }));
        }
        let (token, claims) =
            local::password_login(&self.0, &r.username, &r.password, &r.client_address)
                .await
                .map_err(login_status)?;
        Ok(Response::new(pb::LoginResponse {
            token,
            subject: claims.sub,
        }))
    }

    async fn update_password(
        &self,
        request: Request<pb::UpdatePasswordRequest>,
    ) -> Result<Response<pb::UpdatePasswordResponse>, Status> {
        let r = request.into_inner();
        local::update_password(
            &self.0,
            &r.caller,
            &r.current_password,
            &r.name,
            &r.new_password,
            &r.client_address,
        )
        .await
        .map_err(update_status)?;
        Ok(Response::new(pb::UpdatePasswordResponse {}))
    }
}
