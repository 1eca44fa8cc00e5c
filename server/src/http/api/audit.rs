//! `/api/v1/audit` (admins).

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use domain::auth::{AuditEvent, AuditFilter};

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = [AuditEvent]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_audit(
    State(st): State<ServerState>,
    Auth(p): Auth,
    q: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    let Query(f) = q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    Ok(Json(services::auth::audit::list(&st.services, &p, &f).await?))
}
