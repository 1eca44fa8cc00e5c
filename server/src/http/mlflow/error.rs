//! The one place this router turns failures into MLflow's error body,
//! `{"error_code": "...", "message": "..."}`, with the statuses MLflow uses, so the
//! MLflow client raises the exception its callers expect.

use crate::http::error::ApiError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct MlflowError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type MlResult<T> = Result<T, MlflowError>;

impl MlflowError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "INVALID_PARAMETER_VALUE", message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code: "RESOURCE_DOES_NOT_EXIST", message: message.into() }
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error_code": self.code, "message": self.message })))
            .into_response()
    }
}

impl From<services::Error> for MlflowError {
    fn from(e: services::Error) -> Self {
        use services::Error as E;
        let (status, code) = match &e {
            E::NotFound { .. } => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
            E::Validation(_) => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
            E::Conflict(_) => (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS"),
            E::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "INVALID_PARAMETER_VALUE"),
            E::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            E::Forbidden(_) => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            E::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "REQUEST_LIMIT_EXCEEDED"),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
            E::Db(_) | E::Store(_) | E::Other(_) => {
                tracing::error!(error = ?e, "mlflow request failed");
                return Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "INTERNAL_ERROR",
                    message: "an internal error occurred; the details are in the server log (search for this request's x-request-id)".into(),
                };
            }
        };
        Self { status, code, message: e.to_string() }
    }
}

/// The `Auth` extractor's rejection (no caller) in MLflow's form.
impl From<ApiError> for MlflowError {
    fn from(e: ApiError) -> Self {
        let code = match e.status {
            StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
            StatusCode::FORBIDDEN => "PERMISSION_DENIED",
            StatusCode::NOT_FOUND => "RESOURCE_DOES_NOT_EXIST",
            s if s.is_client_error() => "BAD_REQUEST",
            _ => "INTERNAL_ERROR",
        };
        Self { status: e.status, code, message: e.message }
    }
}

impl From<JsonRejection> for MlflowError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(_) | JsonRejection::JsonDataError(_) => {
                Self { status: StatusCode::BAD_REQUEST, code: "MALFORMED_REQUEST", message: r.body_text() }
            }
            other => Self { status: other.status(), code: "BAD_REQUEST", message: other.body_text() },
        }
    }
}

impl From<QueryRejection> for MlflowError {
    fn from(r: QueryRejection) -> Self {
        Self::invalid(r.body_text())
    }
}
