//! evaluate, validate-model, register-model, request-promotion.

use super::{dataset_ref, done, invalid, required, text};
use crate::pipelines::components::{Outcome, StepContext};
use crate::registry::{self, aliases};
use crate::{Error, Result, datasets, training};
use domain::registry::{AliasOutcome, ModelVersion, NewModelVersion, NewRegisteredModel};
use domain::training::higher_is_better;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The training run a model value (or a literal run id) names, if it is one.
fn run_of(model: &Value) -> Option<Uuid> {
    match model {
        Value::String(s) if !s.starts_with("models:/") => s.trim().parse().ok(),
        other => other.get("run_id").and_then(Value::as_str).and_then(|s| s.parse().ok()),
    }
}

/// The registry reference a model value (or a literal `models:/…`) names, if it is one.
fn registry_ref(model: &Value) -> Option<String> {
    let uri = match model {
        Value::String(s) => s.as_str(),
        other => other.get("uri").and_then(Value::as_str)?,
    };
    uri.starts_with("models:/").then(|| uri.to_string())
}

async fn bundle(sc: &StepContext<'_>, model: &Value) -> Result<ml::train::Bundle> {
    if let Some(run) = run_of(model) {
        return training::bundle(sc.st, sc.principal, run).await;
    }
    if let Some(uri) = registry_ref(model) {
        let v = registry::resolve(sc.st, sc.principal, &uri).await?;
        return registry::bundle(sc.st, sc.principal, &v).await;
    }
    Err(invalid("model", format!("is neither a trained model nor a registry version: {model}")))
}

pub(super) async fn evaluate(sc: &StepContext<'_>) -> Result<Outcome> {
    let model = required(sc, "model")?;
    let (dataset, version) = dataset_ref(required(sc, "dataset")?, "dataset")?;
    let bundle = bundle(sc, model).await?;
    let parquet = datasets::parquet(sc.st, sc.principal, dataset, version).await?;
    let scored = sc
        .ctx
        .run_blocking(move || -> std::result::Result<domain::training::Evaluation, String> {
            let frame = datasets::read::whole(parquet).map_err(|e| e.to_string())?;
            ml::train::evaluate_bundle(&bundle, &frame, None).map_err(|e| e.to_string())
        })
        .await?;
    let evaluation = match scored {
        Ok(e) => e,
        Err(reason) => return Ok(Outcome::Fail(format!("the model cannot score this dataset: {reason}"))),
    };
    let metrics = json!(evaluation.metrics);
    sc.log(format!("{} rows scored: {metrics}", evaluation.n_rows)).await?;
    let report = json!({
        "n_rows": evaluation.n_rows,
        "metrics": evaluation.metrics,
        "classes": evaluation.classes,
        "confusion": evaluation.confusion,
    });
    done([("metrics", metrics), ("report", report)])
}

/// `">= 0.7"` → (op, 0.7); a bare number means "at least" (or "at most" for losses).
fn condition(metric: &str, v: &Value) -> std::result::Result<(&'static str, f64), String> {
    if let Some(x) = v.as_f64() {
        return Ok((if higher_is_better(metric) { ">=" } else { "<=" }, x));
    }
    let s = v.as_str().map(str::trim).unwrap_or_default();
    for op in [">=", "<=", "==", "!=", ">", "<"] {
        if let Some(rest) = s.strip_prefix(op) {
            return rest
                .trim()
                .parse::<f64>()
                .map(|x| (op, x))
                .map_err(|_| format!("thresholds.{metric}: '{s}' needs a number after {op}"));
        }
    }
    Err(format!("thresholds.{metric}: write a condition like \">= 0.7\" (>= <= > < == !=), got {v}"))
}

fn holds(op: &str, value: f64, bound: f64) -> bool {
    match op {
        ">=" => value >= bound,
        "<=" => value <= bound,
        ">" => value > bound,
        "<" => value < bound,
        "==" => value == bound,
        _ => value != bound,
    }
}

pub(super) async fn validate(sc: &StepContext<'_>) -> Result<Outcome> {
    let Some(Value::Object(metrics)) = sc.input("metrics") else {
        return Err(invalid("metrics", "must be named numbers, e.g. {\"roc_auc\": 0.8}"));
    };
    let Some(Value::Object(thresholds)) = sc.input("thresholds") else {
        return Err(invalid("thresholds", "must map metrics to conditions, e.g. {\"roc_auc\": \">= 0.7\"}"));
    };
    let fail = sc.input("fail").and_then(Value::as_bool).unwrap_or(true);
    let value_of = |m: &str| metrics.get(m).and_then(Value::as_f64);
    let mut checks = Vec::new();
    for (metric, cond) in thresholds {
        let (op, bound) = condition(metric, cond).map_err(|m| invalid("thresholds", m))?;
        let check = match value_of(metric) {
            Some(v) => {
                json!({ "check": format!("{metric} {op} {bound}"), "value": v, "passed": holds(op, v, bound) })
            }
            None => json!({
                "check": format!("{metric} {op} {bound}"),
                "passed": false,
                "detail": format!("the metrics have no {metric} (they have {})",
                                  metrics.keys().cloned().collect::<Vec<_>>().join(", ")),
            }),
        };
        checks.push(check);
    }
    let mut baseline_note = Value::Null;
    if let Some(reference) = text(sc, "baseline") {
        match registry::resolve(sc.st, sc.principal, reference).await {
            Ok(b) => {
                // Compared on the thresholded metrics, or on every shared one without thresholds.
                let names: Vec<String> = if thresholds.is_empty() {
                    metrics.keys().filter(|k| b.metrics.contains_key(*k)).cloned().collect()
                } else {
                    thresholds.keys().cloned().collect()
                };
                for m in names {
                    let (Some(cand), Some(&base)) = (value_of(&m), b.metrics.get(&m)) else { continue };
                    let up = higher_is_better(&m);
                    let ok = if up { cand >= base } else { cand <= base };
                    checks.push(json!({
                        "check": format!("{m} {} {reference} (v{})", if up { ">=" } else { "<=" }, b.version),
                        "value": cand, "baseline": base, "passed": ok,
                    }));
                }
                baseline_note = json!(format!("{} v{}", b.model_name, b.version));
            }
            Err(Error::NotFound { .. }) => {
                baseline_note = json!(format!("{reference} does not exist yet: no baseline comparison"));
            }
            Err(e) => return Err(e),
        }
    }
    for c in &checks {
        sc.log(format!(
            "{} {}: {}",
            if c["passed"] == Value::Bool(true) { "pass" } else { "FAIL" },
            c["check"].as_str().unwrap_or_default(),
            c.get("value")
                .map_or_else(|| c["detail"].as_str().unwrap_or_default().to_string(), Value::to_string)
        ))
        .await?;
    }
    if !baseline_note.is_null() {
        sc.log(format!("baseline: {}", baseline_note.as_str().unwrap_or_default())).await?;
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["passed"] != Value::Bool(true))
        .map(|c| match c.get("value") {
            Some(v) => format!("{} (got {v})", c["check"].as_str().unwrap_or_default()),
            None => format!(
                "{}: {}",
                c["check"].as_str().unwrap_or_default(),
                c["detail"].as_str().unwrap_or_default()
            ),
        })
        .collect();
    if fail && !failed.is_empty() {
        return Ok(Outcome::Fail(format!("the model failed {}", failed.join("; "))));
    }
    done([
        ("passed", Value::Bool(failed.is_empty())),
        ("report", json!({ "checks": checks, "baseline": baseline_note })),
    ])
}

/// The value a registry version travels as.
async fn version_value(sc: &StepContext<'_>, v: &ModelVersion) -> Result<Value> {
    let artifact = crate::lineage::find_artifact(
        &sc.st.db,
        domain::DEFAULT_PROJECT_ID,
        "model_version",
        &format!("model_version:{}", v.model_version_id.0.simple()),
    )
    .await?;
    Ok(json!({
        "name": v.model_name,
        "version": v.version,
        "version_id": v.model_version_id,
        "uri": format!("models:/{}/{}", v.model_name, v.version),
        "run_id": v.run_id.map(|r| r.simple().to_string()),
        "artifact_id": artifact,
    }))
}

pub(super) async fn register(sc: &StepContext<'_>) -> Result<Outcome> {
    let model = required(sc, "model")?;
    let run = run_of(model)
        .ok_or_else(|| invalid("model", "must be a trained model (a train or tune output, or a run id)"))?;
    let name = text(sc, "name").ok_or_else(|| invalid("name", "name the registered model"))?;
    match registry::get_model(sc.st, sc.principal, name).await {
        Err(Error::NotFound { .. }) => {
            let new = NewRegisteredModel {
                name: name.to_string(),
                description: format!("Registered by pipeline {}.", sc.pipeline),
                ..Default::default()
            };
            match registry::create_model(sc.st, sc.principal, new).await {
                Ok(_) | Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            sc.log(format!("created registered model {name}")).await?;
        }
        other => {
            other?;
        }
    }
    // The same trained model is one version, however often the pipeline runs.
    let existing =
        registry::list_versions(sc.st, sc.principal, name).await?.into_iter().find(|v| v.run_id == Some(run));
    let version = match existing {
        Some(v) => {
            sc.log(format!("run {} is already registered as {name} v{}", run.simple(), v.version)).await?;
            v
        }
        None => {
            let tags: BTreeMap<String, String> = [
                ("cairn.pipeline".to_string(), sc.pipeline.to_string()),
                ("cairn.pipeline_run".to_string(), sc.run_id.to_string()),
            ]
            .into();
            let new = NewModelVersion {
                source: run.simple().to_string(),
                description: text(sc, "description").unwrap_or_default().to_string(),
                tags,
                pipeline_step: Some(format!("{}/{}", sc.pipeline, sc.step)),
            };
            let v = registry::create_version(sc.st, sc.principal, name, new).await?;
            sc.log(format!("registered {name} v{} from run {}", v.version, run.simple())).await?;
            v
        }
    };
    if let Some(alias) = text(sc, "alias") {
        let comment = format!("pipeline {} run {}", sc.pipeline, sc.run_id);
        match aliases::set_alias(sc.st, sc.principal, name, alias, version.version, &comment).await? {
            AliasOutcome::Moved { .. } => sc.log(format!("{name}@{alias} → v{}", version.version)).await?,
            AliasOutcome::RequestCreated { request } => {
                sc.log(format!(
                    "{name}@{alias} is protected: promotion request {} is {}",
                    request.promotion_request_id,
                    request.state.as_str()
                ))
                .await?
            }
        }
    }
    done([("model_version", version_value(sc, &version).await?)])
}

pub(super) async fn request_promotion(sc: &StepContext<'_>) -> Result<Outcome> {
    let mv = required(sc, "model_version")?;
    let uri = registry_ref(mv)
        .ok_or_else(|| invalid("model_version", "must be a registry version (models:/name/N)"))?;
    let v = registry::resolve(sc.st, sc.principal, &uri).await?;
    let alias = text(sc, "alias").unwrap_or(domain::registry::DEFAULT_PROTECTED_ALIAS);
    let comment = text(sc, "comment")
        .map(str::to_string)
        .unwrap_or_else(|| format!("Requested by pipeline {} (run {}).", sc.pipeline, sc.run_id));
    if let Ok(current) = aliases::get_alias(sc.st, sc.principal, &v.model_name, alias).await
        && current.model_version_id == v.model_version_id
    {
        sc.log(format!("{}@{alias} already points at v{}", v.model_name, v.version)).await?;
        return done([("request", json!({ "request_id": null, "state": "current" }))]);
    }
    let outcome = aliases::set_alias(sc.st, sc.principal, &v.model_name, alias, v.version, &comment).await?;
    let request = match outcome {
        AliasOutcome::RequestCreated { request } => {
            sc.log(format!(
                "promotion request {} for {} v{} → {alias}: {}",
                request.promotion_request_id,
                v.model_name,
                v.version,
                request.state.as_str()
            ))
            .await?;
            let mut m = Map::new();
            m.insert("request_id".into(), json!(request.promotion_request_id));
            m.insert("state".into(), json!(request.state.as_str()));
            m.insert("model".into(), json!(v.model_name));
            m.insert("version".into(), json!(v.version));
            m.insert("alias".into(), json!(alias));
            Value::Object(m)
        }
        AliasOutcome::Moved { .. } => {
            sc.log(format!("{}@{alias} is not protected: moved to v{}", v.model_name, v.version)).await?;
            json!({ "request_id": null, "state": "moved", "alias": alias })
        }
    };
    done([("request", request)])
}
