//! One error type for every API call, rendered as a gRPC status or as Argo CD's REST error
//! body (`{"error": ..., "code": <grpc code>, "message": ...}` with the matching HTTP status).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why an API call failed. Messages reach callers: they say what is wrong and never carry
/// secret values.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an invalid token.
    #[error("{0}")]
    Unauthenticated(String),
    /// RBAC denied the call: `permission denied: <resource>, <action>, <object>`.
    #[error("permission denied: {resource}, {action}, {object}")]
    PermissionDenied {
        /// RBAC resource.
        resource: String,
        /// RBAC action.
        action: String,
        /// RBAC object.
        object: String,
    },
    /// The object does not exist (only said to callers allowed to know).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The object exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is malformed or invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// The object's state forbids the call (an operation is running, auto-sync is on...).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A concurrent write changed the object.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (Kubernetes API, repo-server) is unreachable.
    #[error("{0}")]
    Unavailable(String),
    /// The method exists in the contract but this server does not offer it.
    #[error("{0}")]
    Unimplemented(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A permission error for `resource, action, object`.
    pub fn denied(resource: &str, action: &str, object: &str) -> Self {
        Self::PermissionDenied {
            resource: resource.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
        }
    }

    /// Maps a Kubernetes API error, naming the object.
    pub fn from_kube(err: kube::Error, kind: &'static str, name: &str) -> Self {
        match &err {
            kube::Error::Api(status) => match status.code {
                404 => Self::NotFound {
                    kind,
                    name: name.to_owned(),
                },
                409 if status.reason == "AlreadyExists" => {
                    Self::AlreadyExists(format!("{kind} {name:?} already exists"))
                }
                409 => Self::Conflict(format!(
                    "{kind} {name:?} was changed concurrently, retry: {}",
                    status.message
                )),
                400 | 422 => Self::InvalidArgument(format!("{kind} {name:?}: {}", status.message)),
                403 => Self::Internal(format!(
                    "the API server's service account may not access {kind} {name:?}: {}",
                    status.message
                )),
                _ => Self::Internal(format!("{kind} {name:?}: {}", status.message)),
            },
            _ => Self::Unavailable(format!(
                "Kubernetes API unreachable ({kind} {name:?}): {err}"
            )),
        }
    }

    /// The gRPC code.
    pub fn code(&self) -> tonic::Code {
        match self {
            Self::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Self::PermissionDenied { .. } => tonic::Code::PermissionDenied,
            Self::NotFound { .. } => tonic::Code::NotFound,
            Self::AlreadyExists(_) => tonic::Code::AlreadyExists,
            Self::InvalidArgument(_) => tonic::Code::InvalidArgument,
            Self::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            Self::Conflict(_) => tonic::Code::Aborted,
            Self::Unavailable(_) => tonic::Code::Unavailable,
            Self::Unimplemented(_) => tonic::Code::Unimplemented,
            Self::Internal(_) => tonic::Code::Internal,
        }
    }

    /// The HTTP status grpc-gateway gives the gRPC code.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::AlreadyExists(_) | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            Self::FailedPrecondition(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unimplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(err: ApiError) -> Self {
        tonic::Status::new(err.code(), err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let body = json!({ "error": message, "code": self.code() as i32, "message": message });
        (self.http_status(), Json(body)).into_response()
    }
}

/// Result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;
