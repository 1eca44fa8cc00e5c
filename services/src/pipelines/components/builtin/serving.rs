//! deploy and batch-predict: endpoints and batch jobs over registry versions.

use super::{POLL, dataset_ref, dataset_value, done, external, invalid, required, text};
use crate::pipelines::components::{Outcome, StepContext};
use crate::queue::{self, JobState};
use crate::serving::{self, batch};
use crate::{Error, Result, datasets, registry};
use domain::registry::DEFAULT_PROTECTED_ALIAS;
use domain::serving::{EndpointChange, NewBatchPrediction, NewEndpoint, RouteSpec};
use domain::{DatasetVersionId, JobId};
use serde_json::{Value, json};

/// The registry reference in a model value: `uri` (`models:/name/N`) or a literal.
fn registry_uri(model: &Value) -> Option<String> {
    let uri = match model {
        Value::String(s) => s.as_str(),
        other => other.get("uri").and_then(Value::as_str)?,
    };
    uri.starts_with("models:/").then(|| uri.to_string())
}

pub(super) async fn deploy(sc: &StepContext<'_>) -> Result<Outcome> {
    let name = text(sc, "endpoint").ok_or_else(|| invalid("endpoint", "name the endpoint"))?;
    let (model, route) = match sc.input("model_version") {
        Some(mv) => {
            let uri = registry_uri(mv)
                .ok_or_else(|| invalid("model_version", "must be a registry version (models:/name/N)"))?;
            let v = registry::resolve(sc.st, sc.principal, &uri).await?;
            let route = RouteSpec { version: Some(v.version), traffic_percent: 100, ..Default::default() };
            (v.model_name, route)
        }
        None => {
            let model = text(sc, "model")
                .ok_or_else(|| invalid("model", "name the registered model (or give model_version)"))?;
            let alias = text(sc, "alias").unwrap_or(DEFAULT_PROTECTED_ALIAS);
            let route =
                RouteSpec { alias: Some(alias.to_string()), traffic_percent: 100, ..Default::default() };
            (model.to_string(), route)
        }
    };
    let target = route.target();
    let endpoint = match serving::get(sc.st, sc.principal, name).await {
        Err(Error::NotFound { .. }) => {
            let new = NewEndpoint {
                name: name.to_string(),
                model: model.clone(),
                description: format!("Deployed by pipeline {}.", sc.pipeline),
                routes: Some(vec![route]),
                log_sample_rate: None,
            };
            let e = serving::create(sc.st, sc.principal, new).await?;
            sc.log(format!("created endpoint {name} serving {model}{target}")).await?;
            e
        }
        Ok(existing) if !existing.model_name.eq_ignore_ascii_case(&model) => {
            return Ok(Outcome::Fail(format!(
                "endpoint {name} serves model {}, not {model}; deploy to another endpoint",
                existing.model_name
            )));
        }
        Ok(_) => {
            let change = EndpointChange { routes: Some(vec![route]), ..Default::default() };
            let e = serving::change(sc.st, sc.principal, name, change).await?;
            sc.log(format!("endpoint {name} now serves {model}{target}")).await?;
            e
        }
        Err(e) => return Err(e),
    };
    done([(
        "endpoint",
        json!({ "name": endpoint.name, "model": endpoint.model_name, "url": endpoint.urls.predict }),
    )])
}

const KIND: &str = "batch_predict_job";

pub(super) async fn batch_predict(sc: &StepContext<'_>) -> Result<Outcome> {
    let input = required(sc, "dataset")?;
    let Some((_, job)) = external(sc) else {
        let model = registry_uri(required(sc, "model")?).ok_or_else(|| {
            invalid("model", "must be a registry version: register the model first (register-model)")
        })?;
        let (dataset, version) = dataset_ref(input, "dataset")?;
        let new = NewBatchPrediction {
            model,
            dataset: dataset.to_string(),
            version: Some(version),
            output_dataset: text(sc, "output").map(str::to_string),
        };
        let submitted = batch::submit(sc.st, sc.principal, new).await?;
        sc.log(format!("batch prediction job {} → {}", submitted.job_id, submitted.output_dataset)).await?;
        return Ok(Outcome::Wait {
            external: json!({
                "kind": KIND,
                "id": submitted.job_id.to_string(),
                "output": submitted.output_dataset,
                "model_version_id": submitted.model_version_id,
            }),
            poll_after: POLL,
        });
    };
    let id: uuid::Uuid =
        job.parse().map_err(|_| Error::Other(anyhow::anyhow!("bad external job id {job}")))?;
    let info = queue::get(&sc.st.db, JobId(id)).await?;
    match info.state {
        JobState::Queued | JobState::Running => return super::wait_again(sc),
        JobState::Failed | JobState::Cancelled => {
            return Ok(Outcome::Fail(format!(
                "the batch prediction job {job} {}: {}",
                info.state.as_str(),
                info.last_error.as_deref().unwrap_or("no reason recorded")
            )));
        }
        JobState::Succeeded => {}
    }
    let ext = sc.external.cloned().unwrap_or_default();
    let output = ext.get("output").and_then(Value::as_str).unwrap_or_default();
    let model_version = ext.get("model_version_id").cloned().unwrap_or_default();
    let input_version: Option<DatasetVersionId> =
        input.get("version_id").and_then(|v| serde_json::from_value(v.clone()).ok());
    let ds = datasets::resolve(sc.st, sc.principal, output).await?;
    // The newest version made by this model from this input (an identical earlier
    // prediction is that same version).
    let made = datasets::versions(sc.st, sc.principal, ds.dataset_id)
        .await?
        .into_iter()
        .filter(|v| {
            v.source_detail.get("model_version_id") == Some(&model_version)
                && input_version
                    .is_none_or(|i| v.source_detail.get("input_dataset_version_id") == Some(&json!(i)))
        })
        .max_by_key(|v| v.version);
    let Some(v) = made else {
        return Ok(Outcome::Fail(format!(
            "the batch prediction job {job} finished but {output} has no matching version"
        )));
    };
    sc.log(format!("predictions: {} v{} ({} rows)", v.dataset_name, v.version, v.n_rows)).await?;
    done([("predictions", dataset_value(&v))])
}
