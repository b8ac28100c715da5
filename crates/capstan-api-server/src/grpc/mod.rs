//! The gRPC front end (tonic): each service authenticates the call from its metadata and hands
//! it to the shared logic in the crate's other modules.

use std::sync::Arc;

use capstan_proto::common::v1::KubeObject;
use serde::Serialize;
use tonic::{Request, Status};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::ApiState;

pub mod account;
pub mod application;
pub mod applicationset;
pub mod cluster;
pub mod project;
pub mod repository;
pub mod session;
pub mod settings;
pub mod version;

/// Authenticates a gRPC call.
pub(crate) async fn principal<T>(
    state: &ApiState,
    request: &Request<T>,
) -> Result<Principal, Status> {
    let headers = request.metadata().clone().into_headers();
    Ok(state.authenticate(&headers).await?)
}

/// Encodes a Kubernetes object for the wire.
pub(crate) fn kube_object<T: Serialize + ?Sized>(object: &T) -> Result<KubeObject, Status> {
    KubeObject::from_object(object)
        .map_err(|e| Status::from(ApiError::Internal(format!("encoding object: {e}"))))
}

/// `Some(s)` unless empty.
pub(crate) fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The shared state handle every service holds.
pub(crate) type Shared = Arc<ApiState>;
