//! `/api/v1/training/...`: built-in training runs, hyper-parameter searches and
//! command-trainer runs, all queued as jobs and tracked as runs.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::training::{
    AlgorithmInfo, CommandSpec, SearchSpec, TrainingDetail, TrainingSpec, TrainingSubmitted, TrainingSummary,
};
use serde::Deserialize;
use services::tracking::parse_run_id;
use services::training;

/// The built-in algorithms, each with its task and default hyper-parameters.
#[utoipa::path(get, path = "/api/v1/training/algorithms", tag = "training",
    responses((status = 200, body = Vec<AlgorithmInfo>)))]
pub async fn list_algorithms(Auth(_p): Auth) -> Json<Vec<AlgorithmInfo>> {
    Json(training::algorithms())
}

/// Queues a training run of a built-in algorithm on a dataset version. The run
/// is tracked (params, metrics, artifacts) and evaluated on a held-out split.
#[utoipa::path(post, path = "/api/v1/training/runs", tag = "training",
    request_body = TrainingSpec,
    responses((status = 201, body = TrainingSubmitted),
              (status = 403, body = ErrorBody), (status = 404, description = "Unknown dataset or version", body = ErrorBody),
              (status = 422, description = "Unknown column or algorithm, hyper-parameter of the wrong type or out of range, malformed gate", body = ErrorBody)))]
pub async fn submit_run(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(spec): ApiJson<TrainingSpec>,
) -> ApiResult<(StatusCode, Json<TrainingSubmitted>)> {
    Ok((StatusCode::CREATED, Json(training::submit(&st.services, &p, spec).await?)))
}

/// Queues a hyper-parameter search: one parent run and one child run per trial.
#[utoipa::path(post, path = "/api/v1/training/searches", tag = "training",
    request_body = SearchSpec,
    responses((status = 201, body = TrainingSubmitted),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "Bad base request, empty or malformed search space, a sampled value out of range", body = ErrorBody)))]
pub async fn submit_search(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(spec): ApiJson<SearchSpec>,
) -> ApiResult<(StatusCode, Json<TrainingSubmitted>)> {
    Ok((StatusCode::CREATED, Json(training::search::submit(&st.services, &p, spec).await?)))
}

/// Queues a run of user code under the command-trainer contract.
#[utoipa::path(post, path = "/api/v1/training/commands", tag = "training",
    request_body = CommandSpec,
    responses((status = 201, body = TrainingSubmitted),
              (status = 403, description = "Not allowed, or the command trainer is disabled on this server", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "Program not in CAIRN_COMMAND_ALLOW, bad timeout or param name", body = ErrorBody)))]
pub async fn submit_command(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(spec): ApiJson<CommandSpec>,
) -> ApiResult<(StatusCode, Json<TrainingSubmitted>)> {
    Ok((StatusCode::CREATED, Json(training::command::submit(&st.services, &p, spec).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// At most this many runs (default 100, at most 500).
    pub limit: Option<i64>,
}

/// Recent training runs and searches (not trials), newest first.
#[utoipa::path(get, path = "/api/v1/training/runs", tag = "training", params(ListQuery),
    responses((status = 200, body = Vec<TrainingSummary>)))]
pub async fn list_runs(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<TrainingSummary>>> {
    Ok(Json(training::list(&st.services, &p, q.limit.unwrap_or(100)).await?))
}

/// A training run: progress, evaluation, gates, history; for a search, its trials.
#[utoipa::path(get, path = "/api/v1/training/runs/{run_id}", tag = "training",
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 200, body = TrainingDetail), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(run_id): ApiPath<String>,
) -> ApiResult<Json<TrainingDetail>> {
    let id = parse_run_id(&run_id)?;
    Ok(Json(training::get(&st.services, &p, id).await?))
}

/// Cancels a queued or running training run (every open trial of a search).
#[utoipa::path(post, path = "/api/v1/training/runs/{run_id}/cancel", tag = "training",
    params(("run_id" = String, Path, description = "Run id")),
    responses((status = 204), (status = 404, body = ErrorBody),
              (status = 409, description = "The run has already ended", body = ErrorBody)))]
pub async fn cancel_run(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(run_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_run_id(&run_id)?;
    training::cancel(&st.services, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
