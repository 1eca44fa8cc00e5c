//! The built-in components' behaviour: each calls the `services` use case a person
//! would call through the API, as the run's principal, so what a pipeline makes (a
//! dataset version, a training run, a model version, a promotion request) is the
//! ordinary thing, with its own pages, audit and lineage.
//!
//! What the user can fix (a bad column, a refused promotion, a failed training run)
//! is an [`Outcome::Fail`] with the use case's own message; only system errors
//! (database, store) are `Err`, which the runner retries.
//!
//! Long work elsewhere (a training run, a search, a batch prediction job) returns
//! [`Outcome::Wait`] with `{"kind", "id"}` and is looked at again when the step is
//! polled; the step holds no worker meanwhile.

mod data;
mod models;
mod serving;
mod training;

use super::{Outcome, StepContext};
use crate::{Error, Result};
use domain::datasets::DatasetVersion;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Bumped when a built-in's behaviour changes meaning, so its digest (and every cache
/// key over it) changes and old cached outputs are not reused.
pub const BEHAVIOUR_VERSION: u32 = 2;

/// How long a waiting step sleeps between looks at its external work.
pub(super) const POLL: Duration = Duration::from_secs(1);

/// Runs the built-in `name`.
pub async fn run(name: &str, sc: &StepContext<'_>) -> Result<Outcome> {
    let outcome = match name {
        "extract" => data::extract(sc).await,
        "validate-data" => data::validate(sc).await,
        "prepare" => data::prepare(sc).await,
        "tune" => training::tune(sc).await,
        "train" => training::train(sc).await,
        "evaluate" => models::evaluate(sc).await,
        "validate-model" => models::validate(sc).await,
        "register-model" => models::register(sc).await,
        "request-promotion" => models::request_promotion(sc).await,
        "deploy" => serving::deploy(sc).await,
        "batch-predict" => serving::batch_predict(sc).await,
        other => return Ok(Outcome::Fail(format!("'{other}' is not a built-in component"))),
    };
    user_problem(outcome)
}

/// A client error from a use case (validation, not found, conflict, forbidden) is the
/// user's to fix: the step fails with its message instead of being retried.
fn user_problem(r: Result<Outcome>) -> Result<Outcome> {
    match r {
        Err(e) if e.is_client_error() => Ok(Outcome::Fail(e.to_string())),
        other => other,
    }
}

/// The value a dataset version travels as between steps.
pub fn dataset_value(v: &DatasetVersion) -> Value {
    json!({
        "dataset": v.dataset_name,
        "dataset_id": v.dataset_id,
        "version": v.version,
        "version_id": v.dataset_version_id,
        "content_hash": v.content_hash,
        "artifact_id": v.lineage_artifact_id,
    })
}

fn done<const N: usize>(outputs: [(&str, Value); N]) -> Result<Outcome> {
    Ok(Outcome::Done(outputs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>()))
}

fn wait(kind: &str, id: impl ToString) -> Result<Outcome> {
    Ok(Outcome::Wait { external: json!({ "kind": kind, "id": id.to_string() }), poll_after: POLL })
}

/// Waits again on the same external work.
fn wait_again(sc: &StepContext<'_>) -> Result<Outcome> {
    Ok(Outcome::Wait { external: sc.external.cloned().unwrap_or(Value::Null), poll_after: POLL })
}

/// A required input (the spec check makes sure it is wired; a null value is not).
fn required<'a>(sc: &'a StepContext<'_>, name: &str) -> Result<&'a Value> {
    sc.input(name).ok_or_else(|| invalid(name, "is required"))
}

/// A string input that is absent when empty (a parameter left at its `""` default).
fn text<'a>(sc: &'a StepContext<'_>, name: &str) -> Option<&'a str> {
    sc.str_input(name).map(str::trim).filter(|s| !s.is_empty())
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    domain::ValidationError::new(format!("inputs.{field}"), message).into()
}

/// The `(dataset id, version)` of a dataset value.
fn dataset_ref(v: &Value, field: &str) -> Result<(domain::DatasetId, i32)> {
    let id = v.get("dataset_id").and_then(Value::as_str).and_then(|s| s.parse().ok());
    let version = v.get("version").and_then(Value::as_i64);
    match (id, version) {
        (Some(id), Some(n)) => Ok((domain::DatasetId(id), n as i32)),
        _ => Err(invalid(field, format!("is not a dataset version: {v}"))),
    }
}

/// The external work a waiting step started: `(kind, id)`.
fn external(sc: &StepContext<'_>) -> Option<(String, String)> {
    let e = sc.external?;
    Some((e.get("kind")?.as_str()?.to_string(), e.get("id")?.as_str()?.to_string()))
}
