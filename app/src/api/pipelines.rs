//! Server functions for the pipeline pages: each calls one `services::pipelines`
//! function (or the lineage view's), which authorizes.

use crate::error::AppError;
use domain::lineage::LineageGraphView;
use domain::pipelines::{
    PipelineDetail, PipelineSchedule, PipelineSummary, PipelineVersion, RunDetail, RunSummary, Submitted,
};
use domain::{PipelineRunId, ScheduleId};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr::{principal, state};

/// Parameters arrive as a JSON object in text (the form builds it), like the
/// training pages' specs.
#[cfg(feature = "ssr")]
fn parameters(text: &str) -> Result<std::collections::BTreeMap<String, serde_json::Value>, AppError> {
    if text.trim().is_empty() {
        return Ok(Default::default());
    }
    serde_json::from_str(text).map_err(|e| AppError::Invalid {
        field: "parameters".into(),
        message: format!("must be a JSON object of parameter values: {e}"),
    })
}

#[server(endpoint = "pipelines")]
pub async fn list_pipelines() -> Result<Vec<PipelineSummary>, AppError> {
    Ok(services::pipelines::list(&state()?, &principal()?).await?)
}

#[server(endpoint = "pipelines/get")]
pub async fn get_pipeline(name: String) -> Result<PipelineDetail, AppError> {
    Ok(services::pipelines::get(&state()?, &principal()?, &name).await?)
}

#[server(endpoint = "pipelines/version")]
pub async fn get_pipeline_version(name: String, version: i32) -> Result<PipelineVersion, AppError> {
    Ok(services::pipelines::version(&state()?, &principal()?, &name, version).await?)
}

/// Creates the pipeline, or a new version of it, from YAML or JSON text.
#[server(endpoint = "pipelines/submit")]
pub async fn submit_pipeline(spec: String) -> Result<Submitted, AppError> {
    Ok(services::pipelines::submit(&state()?, &principal()?, &spec).await?)
}

#[server(endpoint = "pipelines/start")]
pub async fn start_pipeline_run(
    name: String,
    version: Option<i32>,
    parameters_json: String,
) -> Result<RunDetail, AppError> {
    let req = domain::pipelines::StartRun { version, parameters: parameters(&parameters_json)? };
    Ok(services::pipelines::start_run(&state()?, &principal()?, &name, req).await?)
}

/// A pipeline's runs, newest first; `run_state` "" means any state.
#[server(endpoint = "pipelines/runs")]
pub async fn list_pipeline_runs(name: String, run_state: String) -> Result<Vec<RunSummary>, AppError> {
    let filter = match run_state.trim() {
        "" => None,
        s => Some(domain::pipelines::RunState::parse(s).ok_or_else(|| AppError::Invalid {
            field: "state".into(),
            message: format!("'{s}' is not a run state (queued, running, succeeded, failed, cancelled)"),
        })?),
    };
    Ok(services::pipelines::runs(&state()?, &principal()?, Some(&name), filter, 100).await?)
}

#[server(endpoint = "pipelines/run")]
pub async fn get_pipeline_run(run_id: PipelineRunId) -> Result<RunDetail, AppError> {
    Ok(services::pipelines::run(&state()?, &principal()?, run_id).await?)
}

#[server(endpoint = "pipelines/run/cancel")]
pub async fn cancel_pipeline_run(run_id: PipelineRunId) -> Result<RunDetail, AppError> {
    Ok(services::pipelines::cancel_run(&state()?, &principal()?, run_id).await?)
}

/// A new run that reuses the failed run's finished steps and starts at the failed one.
#[server(endpoint = "pipelines/run/rerun")]
pub async fn rerun_pipeline_run(run_id: PipelineRunId) -> Result<RunDetail, AppError> {
    Ok(services::pipelines::rerun(&state()?, &principal()?, run_id).await?)
}

#[server(endpoint = "pipelines/schedules/add")]
pub async fn add_pipeline_schedule(
    name: String,
    cron: String,
    timezone: String,
    parameters_json: String,
) -> Result<PipelineSchedule, AppError> {
    let new = domain::pipelines::NewSchedule {
        cron,
        timezone,
        parameters: parameters(&parameters_json)?,
        enabled: true,
    };
    Ok(services::pipelines::add_schedule(&state()?, &principal()?, &name, new).await?)
}

/// Changes a schedule's cron, time zone, parameters or enabled flag (all sent).
#[server(endpoint = "pipelines/schedules/update")]
pub async fn update_pipeline_schedule(
    name: String,
    schedule_id: ScheduleId,
    cron: String,
    timezone: String,
    parameters_json: String,
    enabled: bool,
) -> Result<PipelineSchedule, AppError> {
    let new =
        domain::pipelines::NewSchedule { cron, timezone, parameters: parameters(&parameters_json)?, enabled };
    Ok(services::pipelines::update_schedule(&state()?, &principal()?, &name, schedule_id, new).await?)
}

#[server(endpoint = "pipelines/schedules/delete")]
pub async fn delete_pipeline_schedule(name: String, schedule_id: ScheduleId) -> Result<(), AppError> {
    Ok(services::pipelines::delete_schedule(&state()?, &principal()?, &name, schedule_id).await?)
}

/// The lineage graph around an artifact id or `kind:<id>` reference.
#[server(endpoint = "lineage/graph")]
pub async fn get_lineage(artifact: String) -> Result<LineageGraphView, AppError> {
    Ok(services::lineage_graph::graph(&state()?, &principal()?, &artifact).await?)
}
