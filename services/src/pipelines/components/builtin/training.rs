//! train and tune: an ordinary training run (or search) submitted as the run's
//! principal, then waited on without holding a worker.

use super::{dataset_ref, done, external, invalid, required, text, wait};
use crate::pipelines::components::{Outcome, StepContext};
use crate::training::{self, BUNDLE_PATH, search};
use crate::{AppState, Error, Result};
use domain::prepare::TransformSpec;
use domain::training::{ParamRange, SearchMethod, SearchSpec, TrainingDetail, TrainingSpec, TrainingState};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The external kind `pipelines::cancel_run` knows how to stop.
const KIND: &str = "training_run";

/// The value a training run's model travels as (`artifact_id` links lineage).
pub(super) async fn model_value(st: &AppState, run: Uuid) -> Result<Value> {
    let row = crate::db::training::get(&st.db, run)
        .await?
        .ok_or_else(|| Error::not_found("training run", run.simple()))?;
    let hash = match row.model_artifact_id {
        Some(a) => crate::lineage::get_artifact(&st.db, domain::ArtifactId(a)).await?.content_hash,
        None => None,
    };
    Ok(json!({
        "run_id": run.simple().to_string(),
        "uri": format!("runs:/{}/{BUNDLE_PATH}", run.simple()),
        "content_hash": hash,
        "artifact_id": row.model_artifact_id,
    }))
}

/// The training spec both components build from their inputs.
fn base_spec(sc: &StepContext<'_>, algorithm: Value) -> Result<TrainingSpec> {
    let (dataset, version) = dataset_ref(required(sc, "dataset")?, "dataset")?;
    let target = text(sc, "target").map(str::to_string);
    let prepare = match sc.input("prepare") {
        Some(v) => Some(
            serde_json::from_value::<TransformSpec>(v.clone())
                .map_err(|e| invalid("prepare", format!("is not a transform spec: {e}")))?,
        ),
        None => None,
    };
    let gates = match sc.input("gates") {
        Some(v) => serde_json::from_value::<Vec<String>>(v.clone())
            .map_err(|_| invalid("gates", "must be a list of gate expressions, e.g. [\"roc_auc >= 0.7\"]"))?,
        None => Vec::new(),
    };
    let seed = sc.input("seed").and_then(Value::as_u64).unwrap_or(0);
    Ok(TrainingSpec {
        dataset: dataset.to_string(),
        version: Some(version),
        experiment: Some(text(sc, "experiment").unwrap_or(sc.pipeline).to_string()),
        run_name: Some(format!("{}/{}", sc.pipeline, sc.step)),
        target,
        features: Vec::new(),
        // Without a spec, the version's column types choose the preparation.
        auto_prepare: prepare.is_none(),
        prepare: prepare.unwrap_or_default(),
        algorithm,
        seed,
        slice_column: None,
        gates,
        baseline_run: text(sc, "baseline").map(str::to_string),
        cv_folds: None,
    })
}

/// `{"name": algorithm, ...params}`.
fn algorithm(sc: &StepContext<'_>) -> Result<Value> {
    let name = text(sc, "algorithm").ok_or_else(|| invalid("algorithm", "name one, e.g. random_forest"))?;
    let mut object = Map::new();
    if let Some(params) = sc.input("params") {
        let Value::Object(m) = params else {
            return Err(invalid("params", "must be an object of hyper-parameters"));
        };
        object.extend(m.clone());
    }
    object.insert("name".into(), Value::String(name.to_string()));
    Ok(Value::Object(object))
}

/// Where a waited-on run stands: `Ok(detail)` when it finished, an outcome otherwise.
async fn poll(sc: &StepContext<'_>, id: &str) -> Result<std::result::Result<TrainingDetail, Outcome>> {
    let run: Uuid = id.parse().map_err(|_| Error::Other(anyhow::anyhow!("bad external run id {id}")))?;
    let detail = training::get(sc.st, sc.principal, run).await?;
    let s = &detail.summary;
    Ok(match s.state {
        TrainingState::Finished => Ok(detail),
        TrainingState::Failed | TrainingState::Cancelled => Err(Outcome::Fail(format!(
            "training run {} ({}) {}: {}",
            s.run_name,
            s.run_id,
            s.state.as_str(),
            s.error.as_deref().unwrap_or("no reason recorded")
        ))),
        TrainingState::Queued | TrainingState::Running => Err(wait(KIND, id)?),
    })
}

fn metrics_of(d: &TrainingDetail) -> Value {
    json!(d.evaluation.as_ref().map(|e| e.metrics.clone()).unwrap_or_default())
}

pub(super) async fn train(sc: &StepContext<'_>) -> Result<Outcome> {
    let Some((_, id)) = external(sc) else {
        let spec = base_spec(sc, algorithm(sc)?)?;
        let submitted = training::submit(sc.st, sc.principal, spec).await?;
        sc.log(format!("submitted training run {}", submitted.run_id)).await?;
        return wait(KIND, submitted.run_id);
    };
    let detail = match poll(sc, &id).await? {
        Ok(d) => d,
        Err(outcome) => return Ok(outcome),
    };
    let run: Uuid = id.parse().map_err(|_| Error::Other(anyhow::anyhow!("bad run id {id}")))?;
    let metrics = metrics_of(&detail);
    sc.log(format!("training run {} finished: {metrics}", detail.summary.run_id)).await?;
    for g in &detail.gates {
        sc.log(format!("  gate {}: {} ({})", g.gate, if g.passed { "passed" } else { "failed" }, g.detail))
            .await?;
    }
    done([("model", model_value(sc.st, run).await?), ("metrics", metrics)])
}

/// A search range from the friendly form (a list of values, or `{min, max[, log]}`)
/// or the API's own (`{"type": "int", "low": 1, "high": 9}`).
fn range(name: &str, v: &Value) -> Result<ParamRange> {
    let field = format!("space.{name}");
    let bad = || {
        invalid(
            &field,
            "give a list of values or {min, max} (add log: true for a log scale), e.g. [50, 100] or {min: 2, max: 12}",
        )
    };
    if let Value::Array(values) = v {
        return Ok(ParamRange::Choice { values: values.clone() });
    }
    if let Ok(r) = serde_json::from_value::<ParamRange>(v.clone()) {
        return Ok(r);
    }
    let (Some(min), Some(max)) = (v.get("min"), v.get("max")) else { return Err(bad()) };
    let log = v.get("log").and_then(Value::as_bool).unwrap_or(false);
    Ok(match (min.as_i64(), max.as_i64(), log) {
        (Some(low), Some(high), false) => ParamRange::Int { low, high },
        _ => {
            let (Some(low), Some(high)) = (min.as_f64(), max.as_f64()) else { return Err(bad()) };
            if log { ParamRange::LogUniform { low, high } } else { ParamRange::Uniform { low, high } }
        }
    })
}

pub(super) async fn tune(sc: &StepContext<'_>) -> Result<Outcome> {
    let Some((_, id)) = external(sc) else {
        let Some(Value::Object(space)) = sc.input("space") else {
            return Err(invalid("space", "must map each hyper-parameter to its values"));
        };
        let space: BTreeMap<String, ParamRange> =
            space.iter().map(|(k, v)| Ok((k.clone(), range(k, v)?))).collect::<Result<_>>()?;
        let trials = sc.input("trials").and_then(Value::as_u64).unwrap_or(10) as usize;
        let spec = SearchSpec {
            base: base_spec(sc, algorithm(sc)?)?,
            method: SearchMethod::Random,
            space,
            n_trials: trials,
            objective: text(sc, "metric").map(str::to_string),
            cv_folds: None,
        };
        let submitted = search::submit(sc.st, sc.principal, spec).await?;
        sc.log(format!("submitted search {} with {} trials", submitted.run_id, submitted.trials.len()))
            .await?;
        return wait(KIND, submitted.run_id);
    };
    let detail = match poll(sc, &id).await? {
        Ok(d) => d,
        Err(outcome) => return Ok(outcome),
    };
    let best = detail
        .best_run_id
        .as_deref()
        .and_then(|b| b.parse::<Uuid>().ok())
        .ok_or_else(|| Error::Other(anyhow::anyhow!("search {id} finished without a best trial")))?;
    let winner = training::get(sc.st, sc.principal, best).await?;
    let mut params = winner.spec.get("algorithm").and_then(Value::as_object).cloned().unwrap_or_default();
    params.remove("name");
    let metrics = metrics_of(&detail);
    sc.log(format!(
        "search finished; best trial {} ({}) with {}",
        winner.summary.run_name,
        best.simple(),
        Value::Object(params.clone())
    ))
    .await?;
    done([
        ("best_params", Value::Object(params)),
        ("best_model", model_value(sc.st, best).await?),
        ("metrics", metrics),
    ])
}
