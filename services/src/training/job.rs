//! The `training.run` job: train one built-in model for a queued training run.

use super::lifecycle::{self, Reporter};
use super::{BUNDLE_PATH, EXECUTION_TYPE, MODEL_ARTIFACT_TYPE};
use crate::auth::Principal;
use crate::db::training::{self as sql, Finished, TrainingRow};
use crate::lineage::{self, EventKind, ExecutionState, NewArtifact, NewExecution};
use crate::queue::{Job, JobCtx, Permanent};
use crate::tracking::{self, artifacts};
use crate::{AppState, Error, Result};
use bytes::Bytes;
use domain::tracking::{Param, Tag};
use domain::training::{Algorithm, TrainingSpec, TrainingState};
use domain::{ArtifactId, ProjectId};
use ml::train::{Bundle, Hooks, Progress, TrainOutcome, TrainRequest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tokio::sync::mpsc;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainJob {
    pub run_id: Uuid,
}

/// Why a run stopped early: the user's data or request (no retry), the user's
/// cancel, or the system (retried by the queue).
pub(crate) enum Stop {
    Failed(String),
    Cancelled,
    System(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::System(e)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::System(e.into())
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::System(Error::Other(e))
    }
}

impl Job for TrainJob {
    const KIND: &'static str = "training.run";
    const QUEUE: &'static str = "default";
    const MAX_ATTEMPTS: i32 = 2;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let st = ctx.require::<AppState>()?;
        let row = super::row(&st, self.run_id).await?;
        let p = match lifecycle::principal(&st, row.created_by, ctx.job_id()).await {
            Ok(p) => p,
            Err(e) => return Err(Permanent(e.to_string()).into()),
        };
        let outcome = train_run(&st, &ctx, &p, row).await;
        settle(&st, &ctx, &p, self.run_id, outcome).await
    }
}

/// Turns a handler's outcome into the run's end state and the job's result.
pub(crate) async fn settle(
    st: &AppState,
    ctx: &JobCtx,
    p: &Principal,
    run_id: Uuid,
    outcome: std::result::Result<(), Stop>,
) -> anyhow::Result<()> {
    match outcome {
        Ok(()) => Ok(()),
        Err(Stop::Cancelled) => {
            ctx.log("cancelled").await?;
            lifecycle::end(st, p, run_id, TrainingState::Cancelled, "cancelled by the user").await?;
            anyhow::bail!("cancelled")
        }
        Err(Stop::Failed(reason)) => {
            ctx.log(format!("failed: {reason}")).await?;
            lifecycle::end(st, p, run_id, TrainingState::Failed, &reason).await?;
            Err(Permanent(reason).into())
        }
        Err(Stop::System(e)) => {
            if ctx.is_last_attempt() {
                lifecycle::end(st, p, run_id, TrainingState::Failed, &e.to_string()).await?;
            }
            Err(e.into())
        }
    }
}

async fn train_run(
    st: &AppState,
    ctx: &JobCtx,
    p: &Principal,
    row: TrainingRow,
) -> std::result::Result<(), Stop> {
    let run_id = row.run_id;
    if !lifecycle::start(st, p, run_id).await? {
        return Ok(());
    }
    let spec: TrainingSpec = serde_json::from_value(row.spec.clone())
        .map_err(|e| Stop::Failed(format!("the stored request is unreadable: {e}")))?;
    let algorithm = super::parse_algorithm(&spec.algorithm).map_err(|e| Stop::Failed(e.to_string()))?;
    let gates = super::parse_gates(&spec.gates).map_err(|e| Stop::Failed(e.to_string()))?;
    let version_id =
        row.dataset_version_id.ok_or_else(|| Stop::Failed("the dataset version was deleted".into()))?;
    let location = sql::version_location(&st.db, version_id)
        .await?
        .ok_or_else(|| Stop::Failed("the dataset version was deleted".into()))?;
    let mut reporter = Reporter::new(st, ctx, run_id);
    reporter.report("loading data", 0.0).await?;
    let parquet = st.store.get(&location.storage_key).await.map_err(Error::from)?;
    let baseline = match &spec.baseline_run {
        Some(b) => {
            let id = super::baseline_run_id(st, p, b).await?;
            Some(super::bundle(st, p, id).await.map_err(|e| Stop::Failed(format!("baseline run {b}: {e}")))?)
        }
        None => None,
    };
    ctx.log(format!(
        "training {} on {} v{}, target {}",
        algorithm.name(),
        row.dataset_name.as_deref().unwrap_or("?"),
        row.dataset_version.unwrap_or_default(),
        spec.target.as_deref().unwrap_or("(none: clustering)")
    ))
    .await?;

    let request = TrainRequest {
        target: spec.target.clone(),
        features: spec.features.clone(),
        prepare: spec.prepare.clone(),
        algorithm: algorithm.clone(),
        seed: spec.seed,
        slice_column: spec.slice_column.clone(),
        importance_repeats: 5,
        gates,
    };
    let outcome = fit(st, ctx, p, &mut reporter, parquet, request, baseline, spec.cv_folds).await?;
    reporter.report("saving", 0.98).await?;
    record(st, ctx, p, &row, &spec, &algorithm, location.lineage_artifact_id, outcome).await
}

/// Runs the trainer on the blocking pool, relaying its progress to the run row.
#[allow(clippy::too_many_arguments)]
async fn fit(
    st: &AppState,
    ctx: &JobCtx,
    p: &Principal,
    reporter: &mut Reporter<'_>,
    parquet: Bytes,
    request: TrainRequest,
    baseline: Option<Bundle>,
    cv_folds: Option<usize>,
) -> std::result::Result<TrainOutcome, Stop> {
    let cv_folds = cv_folds.filter(|k| *k >= 2);
    let (tx, mut rx) = mpsc::unbounded_channel::<Progress>();
    let token = ctx.cancellation();
    let work = ctx.run_blocking(move || {
        let frame = crate::datasets::read::whole(parquet).map_err(|e| e.to_string())?;
        let cancelled = move || token.is_cancelled();
        let mut progress = move |p: Progress| {
            let _ = tx.send(p);
        };
        let mut hooks = Hooks { cancelled: &cancelled, progress: &mut progress };
        let mut outcome =
            ml::train::train(&frame, &request, baseline.as_ref(), &mut hooks).map_err(|e| e.to_string())?;
        if let Some(k) = cv_folds {
            let cv = ml::train::cross_validate(&frame, &request, k, &mut hooks).map_err(|e| e.to_string())?;
            for (name, mean) in &cv.mean {
                outcome.train_metrics.insert(format!("cv_{name}"), *mean);
            }
            for (name, std) in &cv.std {
                outcome.train_metrics.insert(format!("cv_{name}_std"), *std);
            }
        }
        Ok(outcome)
    });
    tokio::pin!(work);
    let run_id = reporter.run_id();
    let result = loop {
        tokio::select! {
            done = &mut work => break done,
            Some(progress) = rx.recv() => {
                reporter.report(&progress.stage, progress.fraction).await?;
                if let Some(step) = progress.step && !progress.metrics.is_empty() {
                    let now = tracking::now_ms();
                    let metrics = progress.metrics.iter().map(|(k, v)| domain::tracking::Metric {
                        key: k.clone(), value: *v, timestamp: now, step,
                    }).collect();
                    tracking::log_batch(st, p, run_id, metrics, Vec::new(), Vec::new()).await?;
                }
            }
        }
    };
    if ctx.is_cancelled() {
        return Err(Stop::Cancelled);
    }
    match result? {
        Ok(outcome) => Ok(outcome),
        Err(message) => Err(Stop::Failed(message)),
    }
}

/// Stores what training produced: bundle and evaluation as run artifacts, params
/// and metrics on the run, lineage, and the run row's final state.
#[allow(clippy::too_many_arguments)]
async fn record(
    st: &AppState,
    ctx: &JobCtx,
    p: &Principal,
    row: &TrainingRow,
    spec: &TrainingSpec,
    algorithm: &Algorithm,
    input_artifact: Option<Uuid>,
    mut outcome: TrainOutcome,
) -> std::result::Result<(), Stop> {
    let run_id = row.run_id;
    let run = tracking::get_run(st, p, run_id).await?;
    let root = format!("{}/{}/artifacts", row.experiment_id, run_id.simple());

    let meta = &mut outcome.bundle.metadata;
    meta.insert("run_id".into(), run_id.simple().to_string());
    meta.insert("run_name".into(), run.info.run_name.clone());
    meta.insert("experiment_id".into(), row.experiment_id.to_string());
    if let (Some(d), Some(v)) = (&row.dataset_name, row.dataset_version) {
        meta.insert("dataset".into(), d.clone());
        meta.insert("dataset_version".into(), v.to_string());
    }
    let bytes = outcome.bundle.to_bytes().map_err(|e| Stop::System(Error::Other(anyhow::anyhow!(e))))?;
    let hash = hex(&Sha256::digest(&bytes));
    let bundle_path = format!("{root}/{BUNDLE_PATH}");
    artifacts::upload(st, p, &bundle_path, Bytes::from(bytes)).await?;
    let evaluation =
        serde_json::to_vec_pretty(&outcome.evaluation).map_err(anyhow::Error::from).map_err(Error::from)?;
    artifacts::upload(st, p, &format!("{root}/evaluation.json"), Bytes::from(evaluation)).await?;

    let mut params: Vec<Param> = algorithm
        .params()
        .into_iter()
        .map(|(k, v)| Param {
            key: k,
            value: v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
        })
        .collect();
    params.push(Param { key: "algorithm".into(), value: algorithm.name().into() });
    params.push(Param { key: "seed".into(), value: spec.seed.to_string() });
    if let Some(t) = &spec.target {
        params.push(Param { key: "target".into(), value: t.clone() });
    }
    if let (Some(d), Some(v)) = (&row.dataset_name, row.dataset_version) {
        params.push(Param { key: "dataset".into(), value: format!("{d} v{v}") });
    }
    params.push(Param { key: "n_train".into(), value: outcome.n_train.to_string() });
    params.push(Param { key: "n_test".into(), value: outcome.n_test.to_string() });
    let mut metrics = lifecycle::metrics(&outcome.evaluation.metrics, "", 0);
    // Cross-validation results ride in train_metrics as `cv_*`; they are not "train_" values.
    let (cv, train): (BTreeMap<_, _>, BTreeMap<_, _>) =
        outcome.train_metrics.iter().map(|(k, v)| (k.clone(), *v)).partition(|(k, _)| k.starts_with("cv_"));
    metrics.extend(lifecycle::metrics(&train, "train_", 0));
    metrics.extend(lifecycle::metrics(&cv, "", 0));
    let gates_passed = (!outcome.gates.is_empty()).then(|| outcome.gates.iter().all(|g| g.passed));
    let mut tags = vec![Tag { key: "cairn.bundle".into(), value: BUNDLE_PATH.into() }];
    if let Some(passed) = gates_passed {
        tags.push(Tag { key: "cairn.gates".into(), value: if passed { "passed" } else { "failed" }.into() });
    }
    tracking::log_batch(st, p, run_id, metrics, params, tags).await?;

    let model_artifact = record_lineage(st, row, algorithm, input_artifact, &bundle_path, &hash).await?;
    let json = |v: &dyn erased::Json| v.json();
    let history: Vec<domain::training::IterationMetrics> = outcome
        .history
        .iter()
        .map(|h| domain::training::IterationMetrics { step: h.step, metrics: h.metrics.clone() })
        .collect();
    let train_metrics = json(&outcome.train_metrics);
    let evaluation = json(&outcome.evaluation);
    let gates = json(&outcome.gates);
    let history = json(&history);
    let mut tx = st.db.begin().await?;
    let finished = sql::finish(
        &mut tx,
        run_id,
        &Finished {
            task: Some(outcome.bundle.task.as_str()),
            train_metrics: Some(&train_metrics),
            evaluation: Some(&evaluation),
            gates: Some(&gates),
            gates_passed,
            history: Some(&history),
            bundle_path: Some(&bundle_path),
            model_artifact_id: Some(model_artifact.0),
        },
    )
    .await?;
    tx.commit().await?;
    if !finished {
        return Err(Stop::Cancelled);
    }
    tracking::update_run(st, p, run_id, Some("FINISHED"), Some(tracking::now_ms()), None).await?;
    let headline: Vec<String> =
        outcome.evaluation.metrics.iter().take(6).map(|(k, v)| format!("{k} {v:.4}")).collect();
    ctx.log(format!("finished: {}", headline.join(", "))).await?;
    for g in &outcome.gates {
        ctx.log(format!("gate {}: {} ({})", g.gate, if g.passed { "passed" } else { "FAILED" }, g.detail))
            .await?;
    }
    lifecycle::after_end(st, p, run_id).await?;
    Ok(())
}

mod erased {
    /// Anything serialisable as a JSON value (serialising our own DTOs cannot fail).
    pub trait Json {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// dataset version ─▶ execution `train` ─▶ model artifact (uri = the bundle's run path).
async fn record_lineage(
    st: &AppState,
    row: &TrainingRow,
    algorithm: &Algorithm,
    input_artifact: Option<Uuid>,
    bundle_path: &str,
    hash: &str,
) -> Result<ArtifactId> {
    let project = ProjectId(domain::DEFAULT_PROJECT_ID.0);
    let run = row.run_id.simple().to_string();
    let mut tx = st.db.begin().await?;
    let execution = lineage::record_execution(
        &mut tx,
        project,
        &NewExecution {
            type_name: EXECUTION_TYPE.into(),
            name: format!("{} {}", algorithm.name(), row.run_name),
            state: ExecutionState::Complete,
            properties: serde_json::json!({ "run_id": run, "algorithm": algorithm.name() }),
            job_id: row.job_id.map(domain::JobId),
            external_id: Some(format!("training:{run}")),
        },
    )
    .await?;
    let model = lineage::record_artifact(
        &mut tx,
        project,
        &NewArtifact {
            type_name: MODEL_ARTIFACT_TYPE.into(),
            name: format!("{} ({})", row.run_name, algorithm.name()),
            uri: format!("runs:/{run}/{BUNDLE_PATH}"),
            content_hash: Some(hash.to_string()),
            properties: serde_json::json!({ "run_id": run, "bundle_path": bundle_path }),
            external_id: Some(format!("model:{run}")),
        },
    )
    .await?;
    if let Some(input) = input_artifact {
        lineage::record_event(&mut tx, execution, ArtifactId(input), EventKind::Input, "dataset").await?;
    }
    lineage::record_event(&mut tx, execution, model, EventKind::Output, "model").await?;
    tx.commit().await?;
    Ok(model)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
