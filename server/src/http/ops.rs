//! Operations endpoints: liveness, readiness, Prometheus metrics.

use super::ServerState;
use super::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

/// Liveness: the process is up and serving. Never touches the database, so a
/// database outage does not get the process restarted in a loop.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
pub async fn readyz(State(st): State<ServerState>) -> Result<impl IntoResponse, ApiError> {
    if services::db::ping(&st.services.db).await {
        Ok(Json(json!({ "status": "ready", "database": "ok" })))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the metadata database does not answer; check that Postgres is running and reachable",
        ))
    }
}

pub async fn metrics(State(st): State<ServerState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        st.metrics.render(),
    )
}

const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g fill="#0072B2"><ellipse cx="12" cy="19" rx="8" ry="3"/><ellipse cx="12" cy="12.5" rx="6" ry="2.6"/><ellipse cx="12" cy="7" rx="4" ry="2.2"/></g></svg>"##;

pub async fn favicon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], FAVICON)
}
