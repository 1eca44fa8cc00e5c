//! Server functions of the training pages. Requests travel as JSON text (their
//! shapes nest too deeply for form encoding) and are parsed on the server, where
//! a parse error becomes a field error the form shows.

use crate::error::AppError;
use domain::training::{AlgorithmInfo, TrainingDetail, TrainingSubmitted, TrainingSummary};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr::{principal, state};

#[cfg(feature = "ssr")]
fn parse<T: serde::de::DeserializeOwned>(field: &str, json: &str) -> Result<T, AppError> {
    serde_json::from_str(json).map_err(|e| AppError::Invalid { field: field.into(), message: e.to_string() })
}

/// A preparation spec typed as YAML in the form replaces the one the options built.
#[cfg(feature = "ssr")]
fn with_yaml(
    mut spec: domain::training::TrainingSpec,
    yaml: &str,
) -> Result<domain::training::TrainingSpec, AppError> {
    if !yaml.trim().is_empty() {
        spec.prepare = services::training::parse_prepare(yaml)?;
    }
    Ok(spec)
}

#[server(endpoint = "training/algorithms")]
pub async fn training_algorithms() -> Result<Vec<AlgorithmInfo>, AppError> {
    principal()?;
    Ok(services::training::algorithms())
}

#[server(endpoint = "training/runs")]
pub async fn training_runs() -> Result<Vec<TrainingSummary>, AppError> {
    Ok(services::training::list(&state()?, &principal()?, 200).await?)
}

#[server(endpoint = "training/run")]
pub async fn training_run(run_id: String) -> Result<TrainingDetail, AppError> {
    let id = services::tracking::parse_run_id(&run_id)?;
    Ok(services::training::get(&state()?, &principal()?, id).await?)
}

/// `spec`: a `TrainingSpec` as JSON; `prepare_yaml`: optional spec text.
#[server(endpoint = "training/submit")]
pub async fn submit_training(spec: String, prepare_yaml: String) -> Result<TrainingSubmitted, AppError> {
    let spec = with_yaml(parse("spec", &spec)?, &prepare_yaml)?;
    Ok(services::training::submit(&state()?, &principal()?, spec).await?)
}

/// `spec`: a `SearchSpec` as JSON; `prepare_yaml` replaces its base's preparation.
#[server(endpoint = "training/search")]
pub async fn submit_search(spec: String, prepare_yaml: String) -> Result<TrainingSubmitted, AppError> {
    let mut spec: domain::training::SearchSpec = parse("spec", &spec)?;
    spec.base = with_yaml(spec.base, &prepare_yaml)?;
    Ok(services::training::search::submit(&state()?, &principal()?, spec).await?)
}

#[server(endpoint = "training/cancel")]
pub async fn cancel_training(run_id: String) -> Result<(), AppError> {
    let id = services::tracking::parse_run_id(&run_id)?;
    Ok(services::training::cancel(&state()?, &principal()?, id).await?)
}

/// `spec`: a `CommandSpec` as JSON.
#[server(endpoint = "training/command")]
pub async fn submit_command(spec: String) -> Result<TrainingSubmitted, AppError> {
    let spec: domain::training::CommandSpec = parse("spec", &spec)?;
    Ok(services::training::command::submit(&state()?, &principal()?, spec).await?)
}
