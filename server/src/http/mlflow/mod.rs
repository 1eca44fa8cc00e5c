//! MLflow REST API 2.0, so the `mlflow` Python client logs into Cairn unchanged:
//! nested at `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`. Handlers are adapters over
//! `services::tracking`; the wire shapes are in [`wire`] and every failure becomes
//! MLflow's error body in [`error`].

mod artifacts;
pub mod error;
mod experiments;
mod logged_models;
mod registry;
mod runs;
pub mod wire;

use super::ServerState;
use super::auth::Auth;
use super::error::ApiError;
use axum::Router;
use axum::extract::FromRequest;
use axum::routing::{delete, get, patch, post};
use error::{MlResult, MlflowError};
use services::auth::Principal;

/// `axum::Json` whose rejections are MLflow errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(MlflowError))]
pub struct MlJson<T>(pub T);

/// `axum::extract::Query` whose rejections are MLflow errors.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(MlflowError))]
pub struct MlQuery<T>(pub T);

/// The caller, or MLflow's UNAUTHENTICATED error.
fn caller(auth: Result<Auth, ApiError>) -> MlResult<Principal> {
    auth.map(|Auth(p)| p).map_err(MlflowError::from)
}

fn required<'a>(v: Option<&'a str>, name: &str) -> MlResult<&'a str> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| MlflowError::invalid(format!("missing value for required parameter '{name}'")))
}

pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route("/experiments/search", post(experiments::search).get(experiments::search_get))
        .route("/experiments/update", post(experiments::update))
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route("/experiments/set-experiment-tag", post(experiments::set_tag))
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/search", post(runs::search))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/log-param", post(runs::log_param))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/metrics/get-history", get(runs::history))
        .route("/artifacts/list", get(artifacts::list_run))
        .route("/runs/outputs", post(logged_models::log_outputs))
        .route("/logged-models", post(logged_models::create))
        .route("/logged-models/search", post(logged_models::search))
        .route(
            "/logged-models/{model_id}",
            get(logged_models::get).patch(logged_models::finalize).delete(logged_models::delete),
        )
        .route("/logged-models/{model_id}/tags", axum::routing::patch(logged_models::set_tags))
        .route("/logged-models/{model_id}/tags/{*tag_key}", delete(logged_models::delete_tag))
        .route("/logged-models/{model_id}/params", post(logged_models::log_params))
        .route("/logged-models/{model_id}/artifacts/directories", get(logged_models::list_artifacts))
        .route("/registered-models/create", post(registry::create_model))
        .route("/registered-models/get", get(registry::get_model))
        .route("/registered-models/update", patch(registry::update_model))
        .route("/registered-models/rename", post(registry::rename_model))
        .route("/registered-models/delete", delete(registry::delete_model))
        .route("/registered-models/search", get(registry::search_models_get).post(registry::search_models))
        .route("/registered-models/set-tag", post(registry::set_model_tag))
        .route("/registered-models/delete-tag", delete(registry::delete_model_tag))
        .route(
            "/registered-models/alias",
            get(registry::get_alias).post(registry::set_alias).delete(registry::delete_alias),
        )
        .route("/registered-models/get-latest-versions", post(registry::latest_versions))
        .route("/model-versions/create", post(registry::create_version))
        .route("/model-versions/get", get(registry::get_version))
        .route("/model-versions/update", patch(registry::update_version))
        .route("/model-versions/delete", delete(registry::delete_version))
        .route("/model-versions/search", get(registry::search_versions_get).post(registry::search_versions))
        .route("/model-versions/get-download-uri", get(registry::download_uri))
        .route("/model-versions/set-tag", post(registry::set_version_tag))
        .route("/model-versions/delete-tag", delete(registry::delete_version_tag))
        .route("/model-versions/transition-stage", post(registry::transition_stage))
        .fallback(not_found)
}

/// The artifact proxy, nested at `/api/2.0/mlflow-artifacts`.
pub fn artifacts_router() -> Router<ServerState> {
    Router::new()
        .route("/artifacts", get(artifacts::list))
        .route("/artifacts/{*path}", get(artifacts::download).put(artifacts::upload))
        .fallback(not_found)
}

async fn not_found(uri: axum::http::Uri) -> MlflowError {
    MlflowError {
        status: axum::http::StatusCode::NOT_FOUND,
        code: "ENDPOINT_NOT_FOUND",
        message: format!("Cairn does not implement the MLflow endpoint {}", uri.path()),
    }
}
