//! `experiments/*`.

use super::error::{MlResult, MlflowError};
use super::wire::{self, CreateExperiment, ExperimentIdQuery, ExperimentNameQuery, SearchExperiments};
use super::{MlJson, MlQuery, caller, required};
use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use services::tracking as t;

type A = Result<Auth, ApiError>;

fn id(v: Option<&str>) -> MlResult<i64> {
    Ok(t::parse_experiment_id(required(v, "experiment_id")?)?)
}

pub async fn create(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<CreateExperiment>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let id = t::create_experiment(
        &st.services,
        &p,
        &b.name,
        b.artifact_location.as_deref().filter(|s| !s.is_empty()),
        b.tags,
    )
    .await?;
    Ok(Json(json!({ "experiment_id": id.to_string() })))
}

pub async fn get(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<ExperimentIdQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let e = t::get_experiment(&st.services, &p, id(q.experiment_id.as_deref())?).await?;
    Ok(Json(json!({ "experiment": wire::experiment(&e) })))
}

pub async fn get_by_name(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<ExperimentNameQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let name = required(q.experiment_name.as_deref(), "experiment_name")?;
    let e = t::get_experiment_by_name(&st.services, &p, name).await?;
    Ok(Json(json!({ "experiment": wire::experiment(&e) })))
}

async fn search_with(st: &ServerState, a: A, b: SearchExperiments) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    if b.filter.as_deref().is_some_and(|f| !f.trim().is_empty()) {
        // An ignored filter would return experiments the caller excluded.
        return Err(MlflowError::invalid(
            "filtering experiments is not supported yet; use experiments/get-by-name or page through all",
        ));
    }
    let (page, next) = t::search_experiments(
        &st.services,
        &p,
        b.view_type.unwrap_or_default(),
        b.max_results,
        b.page_token.as_deref(),
    )
    .await?;
    let mut v = json!({ "experiments": page.iter().map(wire::experiment).collect::<Vec<_>>() });
    if let (Some(n), Some(o)) = (next, v.as_object_mut()) {
        o.insert("next_page_token".into(), json!(n));
    }
    Ok(Json(v))
}

pub async fn search(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<SearchExperiments>,
) -> MlResult<Json<Value>> {
    search_with(&st, a, b).await
}

pub async fn search_get(
    State(st): State<ServerState>,
    a: A,
    MlQuery(b): MlQuery<SearchExperiments>,
) -> MlResult<Json<Value>> {
    search_with(&st, a, b).await
}

pub async fn update(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<wire::UpdateExperiment>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    t::rename_experiment(&st.services, &p, id(b.experiment_id.as_deref())?, &b.new_name).await?;
    Ok(Json(json!({})))
}

pub async fn delete(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<ExperimentIdQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    t::set_experiment_deleted(&st.services, &p, id(b.experiment_id.as_deref())?, true).await?;
    Ok(Json(json!({})))
}

pub async fn restore(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<ExperimentIdQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    t::set_experiment_deleted(&st.services, &p, id(b.experiment_id.as_deref())?, false).await?;
    Ok(Json(json!({})))
}

pub async fn set_tag(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<wire::ExperimentTag>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let tag = domain::tracking::Tag { key: b.key, value: b.value };
    t::set_experiment_tag(&st.services, &p, id(b.experiment_id.as_deref())?, tag).await?;
    Ok(Json(json!({})))
}
