//! `/api/v1/experiments` and `/api/v1/runs`: experiment tracking for the dashboard
//! and scripts, the same services the MLflow-compatible API uses.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use domain::tracking::{
    ExperimentPage, HistoryQuery, MetricHistory, Run, RunListQuery, RunPage, RunSearch, ViewType,
};
use serde::Deserialize;
use uuid::Uuid;

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

/// Query of `GET /api/v1/experiments`.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct ExperimentListQuery {
    /// `ACTIVE_ONLY` (default), `DELETED_ONLY` or `ALL`.
    pub view_type: Option<ViewType>,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/experiments", tag = "tracking", params(ExperimentListQuery),
    responses((status = 200, body = ExperimentPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_experiments(
    State(st): State<ServerState>,
    Auth(p): Auth,
    q: Result<Query<ExperimentListQuery>, QueryRejection>,
) -> ApiResult<Json<ExperimentPage>> {
    let q = query(q)?;
    let (experiments, next_page_token) = services::tracking::search_experiments(
        &st.services,
        &p,
        q.view_type.unwrap_or_default(),
        q.max_results,
        q.page_token.as_deref(),
    )
    .await?;
    Ok(Json(ExperimentPage { experiments, next_page_token }))
}

#[utoipa::path(get, path = "/api/v1/experiments/{experiment_id}/runs", tag = "tracking",
    params(("experiment_id" = i64, Path, description = "Experiment id"), RunListQuery),
    responses((status = 200, body = RunPage), (status = 404, body = ErrorBody),
              (status = 422, description = "A malformed filter; the message names the position", body = ErrorBody)))]
pub async fn list_runs(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(experiment_id): ApiPath<i64>,
    q: Result<Query<RunListQuery>, QueryRejection>,
) -> ApiResult<Json<RunPage>> {
    // 404 for an unknown experiment rather than an empty page.
    services::tracking::get_experiment(&st.services, &p, experiment_id).await?;
    let search: RunSearch = query(q)?.into();
    Ok(Json(services::tracking::search_runs(&st.services, &p, &[experiment_id], &search).await?))
}

#[utoipa::path(get, path = "/api/v1/runs/{run_id}", tag = "tracking",
    params(("run_id" = String, Path, description = "Run id (UUID, with or without hyphens)")),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(run_id): ApiPath<String>,
) -> ApiResult<Json<Run>> {
    let id: Uuid = services::tracking::parse_run_id(&run_id)?;
    Ok(Json(services::tracking::get_run(&st.services, &p, id).await?))
}

#[utoipa::path(get, path = "/api/v1/runs/{run_id}/metrics/{key}", tag = "tracking",
    params(("run_id" = String, Path, description = "Run id"), ("key" = String, Path, description = "Metric key (URL-encoded)"), HistoryQuery),
    responses((status = 200, body = MetricHistory), (status = 404, body = ErrorBody)))]
pub async fn metric_history(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((run_id, key)): ApiPath<(String, String)>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<Json<MetricHistory>> {
    let q = query(q)?;
    let id = services::tracking::parse_run_id(&run_id)?;
    Ok(Json(
        services::tracking::metric_history(
            &st.services,
            &p,
            id,
            &key,
            q.max_results,
            q.page_token.as_deref(),
        )
        .await?,
    ))
}
