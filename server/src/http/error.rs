//! The one place a failure becomes an HTTP response:
//! `{ "error": { "code": "...", "message": "...", "field"?: "..." } }`.
//! Internal errors are logged here, once, and their details withheld.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Sent as `Retry-After` with 429s.
    pub retry_after_s: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The envelope every error response of `/api` has.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `not_found`, `invalid_json`, `validation_failed`, ...
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, retry_after_s: None }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes; send less data per request"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message, field: self.field },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}

impl From<services::Error> for ApiError {
    fn from(e: services::Error) -> Self {
        use services::Error as E;
        match e {
            E::NotFound { .. } => Self::not_found(e.to_string()),
            E::Validation(v) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "validation_failed",
                message: format!("{}: {}", v.field, v.message),
                field: Some(v.field),
                retry_after_s: None,
            },
            E::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            E::Unavailable(m) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
            E::TooLarge(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m),
            E::Unauthorized(m) => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", m),
            E::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            E::RateLimited { retry_after_s, message } => Self {
                retry_after_s: Some(retry_after_s),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            E::Db(_) | E::Store(_) | E::Other(_) => {
                tracing::error!(error = ?e, "request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; the details are in the server log (search for this request's x-request-id)",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {}", source_message(&e)),
            ),
            JsonRejection::JsonDataError(e) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the JSON does not have the expected shape: {}", source_message(&e)),
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with the header `content-type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the server's limit (CAIRN_MAX_BODY_BYTES)",
            ),
            other => Self::new(other.status(), "bad_request", other.body_text()),
        }
    }
}

/// serde's message without axum's prefix, e.g. "expected `,` or `}` at line 1 column 9".
fn source_message(e: &dyn std::error::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    inner.to_string()
}

/// `axum::Json` whose rejections use our envelope.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            format!("the URL path is not valid: {}", r.body_text()),
        )
    }
}

/// `axum::extract::Path` whose rejections use our envelope.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("the query string is not valid: {}", r.body_text()),
        )
    }
}

/// `axum::extract::Query` whose rejections use our envelope.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
