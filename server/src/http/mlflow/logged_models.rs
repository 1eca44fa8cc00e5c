//! MLflow 3's `logged-models/*` endpoints and `runs/outputs`, what
//! `mlflow.<flavor>.log_model` calls around uploading a model's files.

use super::error::{MlResult, MlflowError};
use super::wire::{
    self, CreateLoggedModel, FinalizeLoggedModel, LogOutputs, ModelParams, ModelTags, SearchLoggedModels,
};
use super::{MlJson, MlQuery, caller, required};
use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use services::tracking::{self as t, logged_models as lm};

type A = Result<Auth, ApiError>;

fn model_json(m: &domain::tracking::LoggedModel) -> Json<Value> {
    Json(json!({ "model": wire::logged_model(m) }))
}

pub async fn create(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<CreateLoggedModel>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let experiment_id = t::parse_experiment_id(required(b.experiment_id.as_deref(), "experiment_id")?)?;
    let source_run_id = match b.source_run_id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(t::parse_run_id(s)?),
        None => None,
    };
    let new = lm::NewLoggedModel {
        experiment_id,
        name: b.name,
        source_run_id,
        model_type: b.model_type,
        tags: b.tags,
        params: b.params,
    };
    Ok(model_json(&lm::create(&st.services, &p, new).await?))
}

#[derive(Deserialize)]
pub struct GetQuery {
    pub allow_deleted: Option<bool>,
}

pub async fn get(
    State(st): State<ServerState>,
    a: A,
    Path(id): Path<String>,
    MlQuery(q): MlQuery<GetQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let m = lm::get(&st.services, &p, lm::parse_model_id(&id)?).await?;
    if m.lifecycle != "active" && !q.allow_deleted.unwrap_or(false) {
        return Err(MlflowError::not_found(format!("logged model {id} is deleted")));
    }
    Ok(model_json(&m))
}

pub async fn finalize(
    State(st): State<ServerState>,
    a: A,
    Path(id): Path<String>,
    MlJson(b): MlJson<FinalizeLoggedModel>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let status = wire::logged_model_status(&b.status)?;
    Ok(model_json(&lm::finalize(&st.services, &p, lm::parse_model_id(&id)?, status).await?))
}

pub async fn delete(State(st): State<ServerState>, a: A, Path(id): Path<String>) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    lm::set_deleted(&st.services, &p, lm::parse_model_id(&id)?, true).await?;
    Ok(Json(json!({})))
}

pub async fn set_tags(
    State(st): State<ServerState>,
    a: A,
    Path(id): Path<String>,
    MlJson(b): MlJson<ModelTags>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    lm::set_tags(&st.services, &p, lm::parse_model_id(&id)?, b.tags).await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(st): State<ServerState>,
    a: A,
    Path((id, key)): Path<(String, String)>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    lm::delete_tag(&st.services, &p, lm::parse_model_id(&id)?, &key).await?;
    Ok(Json(json!({})))
}

pub async fn log_params(
    State(st): State<ServerState>,
    a: A,
    Path(id): Path<String>,
    MlJson(b): MlJson<ModelParams>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    lm::log_params(&st.services, &p, lm::parse_model_id(&id)?, b.params).await?;
    Ok(Json(json!({})))
}

pub async fn search(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<SearchLoggedModels>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let ids = wire::experiment_ids(&b.experiment_ids)?;
    if !b.order_by.is_empty() {
        return Err(MlflowError::invalid(
            "Cairn lists logged models newest first and does not support order_by yet; leave it empty",
        ));
    }
    let (models, next) =
        lm::search(&st.services, &p, &ids, b.filter.as_deref(), b.max_results, b.page_token.as_deref())
            .await?;
    let mut v = json!({ "models": models.iter().map(wire::logged_model).collect::<Vec<_>>() });
    if let (Some(n), Some(o)) = (next, v.as_object_mut()) {
        o.insert("next_page_token".into(), json!(n));
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
pub struct ArtifactsQuery {
    pub artifact_directory_path: Option<String>,
}

/// `logged-models/{id}/artifacts/directories`: the files of a model, paths relative
/// to its artifact root.
pub async fn list_artifacts(
    State(st): State<ServerState>,
    a: A,
    Path(id): Path<String>,
    MlQuery(q): MlQuery<ArtifactsQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let m = lm::get(&st.services, &p, lm::parse_model_id(&id)?).await?;
    let dir = format!("{}/models/{}/artifacts", m.experiment_id, m.model_id);
    super::artifacts::listing(&st, &p, dir, q.artifact_directory_path.as_deref(), &m.artifact_location).await
}

pub async fn log_outputs(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<LogOutputs>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let run = t::parse_run_id(required(b.run_id.as_deref(), "run_id")?)?;
    let models = b
        .models
        .iter()
        .map(|m| Ok((lm::parse_model_id(&m.model_id)?, m.step.unwrap_or(0))))
        .collect::<Result<Vec<_>, services::Error>>()?;
    lm::log_outputs(&st.services, &p, run, models).await?;
    Ok(Json(json!({})))
}
