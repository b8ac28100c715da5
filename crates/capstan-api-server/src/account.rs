//! Session, account, settings and version logic: who am I, may I, which accounts exist, the
//! public settings the login page needs.

use capstan_types::settings::AccountCapability;
use serde::Serialize;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;

/// `account can-i`: `"yes"` or `"no"`, as Argo CD answers.
pub fn can_i(
    state: &ApiState,
    principal: &Principal,
    resource: &str,
    action: &str,
    subresource: &str,
) -> ApiResult<&'static str> {
    if resource.is_empty() || action.is_empty() {
        return Err(ApiError::InvalidArgument(
            "can-i needs a resource and an action".to_owned(),
        ));
    }
    Ok(if state.can(principal, resource, action, subresource) {
        "yes"
    } else {
        "no"
    })
}

/// The caller, as `session/userinfo` reports it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// Whether a token was presented and verified.
    pub logged_in: bool,
    /// The subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The token's issuer.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// Groups used for RBAC.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// `session/userinfo`.
pub fn user_info(principal: &Principal) -> UserInfo {
    match &principal.claims {
        None => UserInfo {
            logged_in: false,
            username: String::new(),
            iss: String::new(),
            groups: Vec::new(),
        },
        // Argo CD's userinfo names an SSO user by e-mail, a local account by its name
        Some(claims) => UserInfo {
            logged_in: true,
            username: principal.username().to_owned(),
            iss: claims.iss.clone(),
            groups: principal.groups.clone(),
        },
    }
}

/// A local account.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// Name.
    pub name: String,
    /// Enabled.
    pub enabled: bool,
    /// `login`, `apiKey`.
    pub capabilities: Vec<String>,
}

/// Local accounts (admin and `accounts.<name>` of argocd-cm) the caller may read.
pub fn list_accounts(state: &ApiState, principal: &Principal) -> Vec<AccountView> {
    let settings = state.settings();
    settings
        .cm
        .local_accounts()
        .into_iter()
        .filter(|a| state.can(principal, "accounts", "get", &a.name))
        .map(|a| AccountView {
            capabilities: [
                (a.login, AccountCapability::Login),
                (a.api_key, AccountCapability::ApiKey),
            ]
            .into_iter()
            .filter(|(has, _)| *has)
            .map(|(_, c)| c.as_str().to_owned())
            .collect(),
            name: a.name,
            enabled: a.enabled,
        })
        .collect()
}

/// The public settings (no secret): what a login page and the CLI need.
pub fn public_settings(state: &ApiState) -> capstan_proto::settings::v1::Settings {
    let settings = state.settings();
    let cm = &settings.cm;
    let oidc = cm
        .oidc_config
        .as_ref()
        .map(|o| capstan_proto::settings::v1::OidcConfig {
            name: o.name.clone(),
            issuer: o.issuer.clone(),
            client_id: o.client_id.clone(),
            cli_client_id: o.cli_client_id.clone(),
            scopes: o.requested_scopes.clone(),
            enable_pkce_authentication: o.enable_pkce_authentication.unwrap_or(false),
            ..Default::default()
        });
    capstan_proto::settings::v1::Settings {
        url: cm.url.clone().unwrap_or_default(),
        oidc_config: oidc,
        app_label_key: cm.instance_label_key.clone(),
        status_badge_enabled: cm.status_badge_enabled,
        user_logins_disabled: !cm.admin_enabled && cm.accounts.is_empty(),
        tracking_method: cm.resource_tracking_method.as_str().to_owned(),
        exec_enabled: false,
        controller_namespace: state.namespace.clone(),
        installation_id: cm.installation_id.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// The server's version.
pub fn version() -> capstan_proto::version::v1::VersionMessage {
    capstan_proto::version::v1::VersionMessage {
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
        platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        compiler: "rustc".to_owned(),
        ..Default::default()
    }
}
