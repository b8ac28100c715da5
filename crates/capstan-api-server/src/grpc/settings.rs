//! `capstan.settings.v1.SettingsService`: public, no authentication (the login page needs it).

use capstan_proto::settings::v1 as pb;
use capstan_proto::settings::v1::settings_service_server::SettingsService;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::account;

/// The settings service.
#[derive(Debug, Clone)]
pub struct SettingsApi(pub(crate) Shared);

#[tonic::async_trait]
impl SettingsService for SettingsApi {
    async fn get(
        &self,
        _request: Request<pb::SettingsQuery>,
    ) -> Result<Response<pb::Settings>, Status> {
        Ok(Response::new(account::public_settings(&self.0)))
    }

    async fn get_plugins(
        &self,
        _request: Request<pb::SettingsQuery>,
    ) -> Result<Response<pb::SettingsPluginsResponse>, Status> {
        Ok(Response::new(pb::SettingsPluginsResponse::default()))
    }
}
