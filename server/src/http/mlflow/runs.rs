//! `runs/*` and `metrics/get-history`.

use super::error::{MlResult, MlflowError};
use super::wire::{
    self, CreateRun, HistoryQuery, KeyValue, LogBatch, LogInputs, LogMetric, RunIdQuery, SearchRuns,
};
use super::{MlJson, MlQuery, caller, required};
use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::tracking::{Metric, RunSearch, Tag};
use serde_json::{Value, json};
use services::tracking as t;
use uuid::Uuid;

type A = Result<Auth, ApiError>;

fn run_id(id: Option<&str>, alias: Option<&str>) -> MlResult<Uuid> {
    Ok(t::parse_run_id(required(id.or(alias), "run_id")?)?)
}

fn ok() -> Json<Value> {
    Json(json!({}))
}

pub async fn create(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<CreateRun>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let experiment_id = t::parse_experiment_id(required(b.experiment_id.as_deref(), "experiment_id")?)?;
    let new = t::NewRun {
        experiment_id,
        run_name: b.run_name,
        user_id: b.user_id,
        start_time: b.start_time,
        tags: b.tags,
    };
    let run = t::create_run(&st.services, &p, new).await?;
    Ok(Json(json!({ "run": wire::run(&run) })))
}

pub async fn get(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<RunIdQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let run = t::get_run(&st.services, &p, run_id(q.id(), None)?).await?;
    Ok(Json(json!({ "run": wire::run(&run) })))
}

pub async fn update(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<wire::UpdateRun>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let id = run_id(b.run_id.as_deref(), b.run_uuid.as_deref())?;
    let info =
        t::update_run(&st.services, &p, id, b.status.as_deref(), b.end_time, b.run_name.as_deref()).await?;
    Ok(Json(json!({ "run_info": wire::run_info(&info) })))
}

pub async fn delete(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<RunIdQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    t::set_run_deleted(&st.services, &p, run_id(b.id(), None)?, true).await?;
    Ok(ok())
}

pub async fn restore(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<RunIdQuery>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    t::set_run_deleted(&st.services, &p, run_id(b.id(), None)?, false).await?;
    Ok(ok())
}

pub async fn search(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<SearchRuns>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let ids = b
        .experiment_ids
        .iter()
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| MlflowError::invalid(format!("experiment id {s:?} is not a number")))
        })
        .collect::<MlResult<Vec<_>>>()?;
    let q = RunSearch {
        filter: b.filter,
        order_by: b.order_by,
        max_results: b.max_results,
        page_token: b.page_token,
        view_type: b.run_view_type.unwrap_or_default(),
    };
    let page = t::search_runs(&st.services, &p, &ids, &q).await?;
    let mut v = json!({ "runs": page.runs.iter().map(wire::run).collect::<Vec<_>>() });
    if let (Some(n), Some(o)) = (page.next_page_token, v.as_object_mut()) {
        o.insert("next_page_token".into(), json!(n));
    }
    Ok(Json(v))
}

pub async fn log_metric(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<LogMetric>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let id = run_id(b.run_id.as_deref(), b.run_uuid.as_deref())?;
    let m = Metric {
        key: b.key,
        value: b.value,
        timestamp: b.timestamp.unwrap_or_else(t::now_ms),
        step: b.step.unwrap_or(0),
    };
    t::log_batch(&st.services, &p, id, vec![m], vec![], vec![]).await?;
    Ok(ok())
}

pub async fn log_param(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<KeyValue>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let id = run_id(b.run_id.as_deref(), b.run_uuid.as_deref())?;
    t::log_batch(&st.services, &p, id, vec![], vec![Tag { key: b.key, value: b.value }], vec![]).await?;
    Ok(ok())
}

pub async fn set_tag(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<KeyValue>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let id = run_id(b.run_id.as_deref(), b.run_uuid.as_deref())?;
    t::log_batch(&st.services, &p, id, vec![], vec![], vec![Tag { key: b.key, value: b.value }]).await?;
    Ok(ok())
}

pub async fn delete_tag(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<wire::DeleteTag>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    t::delete_tag(&st.services, &p, run_id(b.run_id.as_deref(), None)?, &b.key).await?;
    Ok(ok())
}

pub async fn log_batch(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<LogBatch>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let id = run_id(b.run_id.as_deref(), None)?;
    let now = t::now_ms();
    let metrics = b
        .metrics
        .into_iter()
        .map(|m| Metric {
            key: m.key,
            value: m.value,
            timestamp: m.timestamp.unwrap_or(now),
            step: m.step.unwrap_or(0),
        })
        .collect();
    t::log_batch(&st.services, &p, id, metrics, b.params, b.tags).await?;
    Ok(ok())
}

pub async fn log_inputs(
    State(st): State<ServerState>,
    a: A,
    MlJson(b): MlJson<LogInputs>,
) -> MlResult<Json<Value>> {
    let p = caller(a)?;
    let id = run_id(b.run_id.as_deref(), None)?;
    t::log_inputs(&st.services, &p, id, b.datasets.into_iter().map(Into::into).collect()).await?;
    Ok(ok())
}

pub async fn history(
    State(st): State<ServerState>,
    a: A,
    MlQuery(q): MlQuery<HistoryQuery>,
) -> MlResult<Response> {
    let p = caller(a)?;
    let id = run_id(q.run_id.as_deref(), q.run_uuid.as_deref())?;
    let key = required(q.metric_key.as_deref(), "metric_key")?;
    let h = t::metric_history(&st.services, &p, id, key, q.max_results, q.page_token.as_deref()).await?;
    let body = wire::history(&h.metrics, h.next_page_token.as_deref())
        .map_err(|e| services::Error::Other(e.into()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
