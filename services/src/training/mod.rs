//! Training: submit a model to be trained on a dataset version, as a tracked run
//! executed by a worker; read its progress, evaluation and gates; cancel it.
//!
//! ```text
//! submit ──▶ run (tracking, SCHEDULED) + training_run (queued) + job `training.run`
//!                       │ worker
//!                       ▼
//!   load version ─▶ ml::train::train (prepare, fit, evaluate, importance, gates)
//!                       ▼
//!   params/metrics/artifacts on the run, bundle in the run's artifacts,
//!   lineage: dataset version ─▶ execution `train` ─▶ model
//! ```
//!
//! Everything the user can get wrong in the request (unknown dataset or column,
//! bad hyper-parameters, a malformed gate) is answered at submission with a 422;
//! what only the data reveals (a constant target, NaNs left after preparation)
//! ends the run FAILED with the trainer's message.
//!
//! Searches (`search`) and user code (`command`) reuse the same run lifecycle
//! (`lifecycle`).

pub mod command;
mod job;
pub(crate) mod lifecycle;
pub mod search;

pub use job::TrainJob;

use crate::auth::{Action, Principal, audit, authorize};
use crate::db::training::{self as sql, TrainingRow};
use crate::queue::{self, JobRegistry};
use crate::tracking::{self, NewRun};
use crate::{AppState, Error, Result};
use domain::datasets::{ColumnType, DatasetVersion};
use domain::prepare::{ImputeStrategy, Step};
use domain::tracking::Tag;
use domain::training::{
    Algorithm, AlgorithmInfo, Evaluation, Gate, GateResult, IterationMetrics, Task, TrainingDetail,
    TrainingSpec, TrainingState, TrainingSubmitted, TrainingSummary,
};
use domain::{JobId, ValidationError};
use uuid::Uuid;

/// The run artifact holding the model bundle.
pub const BUNDLE_PATH: &str = "model/bundle.cairn.json";
/// Lineage types.
pub const EXECUTION_TYPE: &str = "train";
pub const MODEL_ARTIFACT_TYPE: &str = "model";
/// Tags Cairn puts on training runs.
pub const TAG_KIND: &str = "cairn.training";
pub const TAG_ALGORITHM: &str = "cairn.algorithm";

/// Registers the training job kinds with a worker.
pub fn register(registry: JobRegistry) -> JobRegistry {
    registry.register::<TrainJob>().register::<command::CommandJob>()
}

/// The built-in algorithms with their defaults, for the form.
pub fn algorithms() -> Vec<AlgorithmInfo> {
    Algorithm::catalogue()
}

fn invalid(field: &str, msg: impl Into<String>) -> Error {
    ValidationError::new(field, msg).into()
}

/// A request checked against the data's columns, ready to queue.
pub(crate) struct Checked {
    pub spec: TrainingSpec,
    pub algorithm: Algorithm,
    pub version: DatasetVersion,
    pub experiment_id: i64,
}

/// Parses the algorithm object `{"name": ..., <params>}`.
pub fn parse_algorithm(value: &serde_json::Value) -> Result<Algorithm> {
    let obj = value.as_object().ok_or_else(|| {
        invalid("algorithm", "must be an object like {\"name\": \"random_forest\", \"n_trees\": 200}")
    })?;
    let name = obj.get("name").and_then(|n| n.as_str()).ok_or_else(|| {
        invalid("algorithm.name", format!("missing; choose one of: {}", Algorithm::NAMES.join(", ")))
    })?;
    let mut params = obj.clone();
    params.remove("name");
    Algorithm::from_params(name, &params).map_err(|m| invalid("algorithm", m))
}

/// A preparation spec given as YAML or JSON text.
pub fn parse_prepare(text: &str) -> Result<domain::prepare::TransformSpec> {
    ml::prepare::parse_spec(text).map_err(|e| invalid("prepare", e.to_string()))
}

pub fn parse_gates(gates: &[String]) -> Result<Vec<Gate>> {
    gates
        .iter()
        .filter(|g| !g.trim().is_empty())
        .map(|g| Gate::parse(g.trim()).map_err(|m| invalid("gates", m)))
        .collect()
}

/// The dataset version a request names (latest when no version is given).
pub(crate) async fn resolve_version(
    st: &AppState,
    p: &Principal,
    dataset: &str,
    version: Option<i32>,
) -> Result<DatasetVersion> {
    let ds = crate::datasets::resolve(st, p, dataset).await?;
    let version = match version.or(ds.latest_version) {
        Some(v) => v,
        None => {
            return Err(invalid(
                "dataset",
                format!("dataset '{}' has no versions yet; upload one first", ds.name),
            ));
        }
    };
    crate::datasets::version(st, p, ds.dataset_id, version).await
}

/// The experiment called `name`, created when missing.
pub(crate) async fn experiment_named(st: &AppState, p: &Principal, name: &str) -> Result<i64> {
    match tracking::get_experiment_by_name(st, p, name).await {
        Ok(e) => return Ok(e.experiment_id),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    match tracking::create_experiment(st, p, name, None, Vec::new()).await {
        Err(Error::Conflict(_)) => Ok(tracking::get_experiment_by_name(st, p, name).await?.experiment_id),
        made => made,
    }
}

fn check_column(version: &DatasetVersion, field: &str, column: &str) -> Result<()> {
    if version.columns.iter().any(|c| c.name == column) {
        return Ok(());
    }
    let names: Vec<&str> = version.columns.iter().map(|c| c.name.as_str()).collect();
    Err(invalid(
        field,
        format!(
            "column `{column}` is not in {} v{}; its columns are: {}",
            version.dataset_name,
            version.version,
            names.join(", ")
        ),
    ))
}

/// The preparation `auto_prepare` asks for: impute (median; most frequent for
/// text), standardise, one-hot text columns (at most 20 categories each).
pub fn default_steps(version: &DatasetVersion, target: Option<&str>, features: &[String]) -> Vec<Step> {
    let text: Vec<String> = version
        .columns
        .iter()
        .filter(|c| c.column_type == ColumnType::String && Some(c.name.as_str()) != target)
        .filter(|c| features.is_empty() || features.contains(&c.name))
        .map(|c| c.name.clone())
        .collect();
    let mut steps = vec![Step::Impute { strategy: ImputeStrategy::Median, columns: None }];
    if !text.is_empty() {
        steps.push(Step::Impute { strategy: ImputeStrategy::MostFrequent, columns: Some(text.clone()) });
    }
    steps.push(Step::StandardScale { columns: None });
    if !text.is_empty() {
        steps.push(Step::OneHot { columns: text, max_categories: Some(20) });
    }
    steps
}

/// Everything about a request that can be checked without training.
pub(crate) async fn check(st: &AppState, p: &Principal, mut spec: TrainingSpec) -> Result<Checked> {
    let algorithm = parse_algorithm(&spec.algorithm)?;
    parse_gates(&spec.gates)?;
    let version = resolve_version(st, p, &spec.dataset, spec.version).await?;
    spec.target = spec.target.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    match (&spec.target, algorithm.task()) {
        (None, Task::Clustering) => {}
        (None, task) => {
            return Err(invalid("target", format!("{} needs a target column to learn", task.as_str())));
        }
        (Some(t), _) => check_column(&version, "target", t)?,
    }
    for f in &spec.features {
        check_column(&version, "features", f)?;
        if spec.target.as_deref() == Some(f.as_str()) {
            return Err(invalid("features", format!("`{f}` is the target; it cannot also be a feature")));
        }
    }
    if let Some(s) = &spec.slice_column {
        check_column(&version, "slice_column", s)?;
    }
    if spec.auto_prepare && spec.prepare.steps.is_empty() {
        spec.prepare.steps = default_steps(&version, spec.target.as_deref(), &spec.features);
    }
    ml::prepare::validate(&spec.prepare).map_err(|e| invalid("prepare", e.to_string()))?;
    if let Some(b) = &spec.baseline_run {
        let id = baseline_run_id(st, p, b).await?;
        let row = sql::get(&st.db, id).await?.ok_or_else(|| Error::not_found("training run", b))?;
        if row.bundle_path.is_none() {
            return Err(invalid(
                "baseline_run",
                format!("run {b} has no model bundle (is it a finished training run?)"),
            ));
        }
    }
    let experiment = spec.experiment.clone().filter(|e| !e.trim().is_empty());
    let experiment = experiment.unwrap_or_else(|| format!("{}-training", version.dataset_name));
    let experiment_id = experiment_named(st, p, experiment.trim()).await?;
    spec.version = Some(version.version);
    Ok(Checked { spec, algorithm, version, experiment_id })
}

/// The tracked run a training run logs into.
pub(crate) async fn create_tracked_run(
    st: &AppState,
    p: &Principal,
    experiment_id: i64,
    name: Option<String>,
    mut tags: Vec<Tag>,
    parent: Option<Uuid>,
) -> Result<Uuid> {
    if let Some(parent) = parent {
        tags.push(Tag { key: domain::tracking::TAG_PARENT_RUN.into(), value: parent.simple().to_string() });
    }
    let run = tracking::create_run(
        st,
        p,
        NewRun { experiment_id, run_name: name, user_id: None, start_time: None, tags },
    )
    .await?;
    let id = run.info.run_id;
    tracking::update_run(st, p, id, Some("SCHEDULED"), None, None).await?;
    Ok(id)
}

/// Queues a built-in training run.
#[tracing::instrument(skip_all, fields(dataset = %spec.dataset))]
pub async fn submit(st: &AppState, p: &Principal, spec: TrainingSpec) -> Result<TrainingSubmitted> {
    authorize(p, Action::Write)?;
    let checked = check(st, p, spec).await?;
    let tags = vec![
        Tag { key: TAG_KIND.into(), value: "builtin".into() },
        Tag { key: TAG_ALGORITHM.into(), value: checked.algorithm.name().into() },
    ];
    let run_id =
        create_tracked_run(st, p, checked.experiment_id, checked.spec.run_name.clone(), tags, None).await?;
    let job_id = enqueue_training(st, p, &checked, run_id, None).await?;
    Ok(TrainingSubmitted {
        run_id: run_id.simple().to_string(),
        experiment_id: checked.experiment_id.to_string(),
        job_id: Some(job_id.to_string()),
        trials: Vec::new(),
    })
}

/// Inserts the training_run row and its job in one transaction, audited.
pub(crate) async fn enqueue_training(
    st: &AppState,
    p: &Principal,
    checked: &Checked,
    run_id: Uuid,
    parent: Option<Uuid>,
) -> Result<JobId> {
    let spec_json = serde_json::to_value(&checked.spec).map_err(anyhow::Error::from)?;
    let mut tx = st.db.begin().await?;
    sql::insert(
        &mut tx,
        &sql::NewTraining {
            run_id,
            kind: "builtin",
            spec: &spec_json,
            task: Some(checked.algorithm.task().as_str()),
            algorithm: Some(checked.algorithm.name()),
            dataset_version_id: Some(checked.version.dataset_version_id.0),
            parent_run_id: parent,
            created_by: p.user_id.0,
        },
    )
    .await?;
    let job_id = queue::enqueue(&mut tx, &TrainJob { run_id }).await?;
    sql::set_job(&mut tx, run_id, job_id.0).await?;
    if parent.is_none() {
        audit::record(
            &mut *tx,
            p,
            "training.submit",
            &format!("run:{}", run_id.simple()),
            audit::Outcome::Ok,
            &format!(
                "{} on {} v{}",
                checked.algorithm.name(),
                checked.version.dataset_name,
                checked.version.version
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(job_id)
}

fn summary(r: &TrainingRow) -> TrainingSummary {
    let evaluation: Option<Evaluation> = r.evaluation.clone().and_then(|v| serde_json::from_value(v).ok());
    let primary = evaluation.as_ref().and_then(|e| {
        let task = r.task.as_deref().and_then(task_of)?;
        let name = ml::train::primary_metric(task, e.classes.len());
        e.metrics.get(name).map(|v| (name.to_string(), *v))
    });
    TrainingSummary {
        run_id: r.run_id.simple().to_string(),
        experiment_id: r.experiment_id.to_string(),
        run_name: r.run_name.clone(),
        kind: r.kind.clone(),
        state: TrainingState::parse(&r.state).unwrap_or(TrainingState::Failed),
        stage: r.stage.clone(),
        progress: r.progress,
        error: r.error.clone(),
        task: r.task.as_deref().and_then(task_of),
        algorithm: r.algorithm.clone(),
        dataset: r.dataset_name.clone(),
        dataset_version: r.dataset_version,
        parent_run_id: r.parent_run_id.map(|u| u.simple().to_string()),
        gates_passed: r.gates_passed,
        primary_metric: primary,
        created_by: r.created_by_name.clone(),
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
    }
}

fn task_of(s: &str) -> Option<Task> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// Recent top-level training runs and searches, newest first.
pub async fn list(st: &AppState, p: &Principal, limit: i64) -> Result<Vec<TrainingSummary>> {
    authorize(p, Action::Read)?;
    Ok(sql::list(&st.db, limit.clamp(1, 500)).await?.iter().map(summary).collect())
}

pub(crate) async fn row(st: &AppState, run_id: Uuid) -> Result<TrainingRow> {
    sql::get(&st.db, run_id).await?.ok_or_else(|| Error::not_found("training run", run_id.simple()))
}

/// A training run with its evaluation, gates, history, and (searches) trials.
pub async fn get(st: &AppState, p: &Principal, run_id: Uuid) -> Result<TrainingDetail> {
    authorize(p, Action::Read)?;
    let r = row(st, run_id).await?;
    let json = |v: &Option<serde_json::Value>| v.clone().unwrap_or(serde_json::Value::Null);
    let gates: Vec<GateResult> = serde_json::from_value(json(&r.gates)).unwrap_or_default();
    let history: Vec<IterationMetrics> = serde_json::from_value(json(&r.history)).unwrap_or_default();
    let (objective, trials) =
        if r.kind == "search" { search::trials(st, &r).await? } else { (None, Vec::new()) };
    Ok(TrainingDetail {
        summary: summary(&r),
        spec: r.spec.clone(),
        job_id: r.job_id.map(|j| j.to_string()),
        train_metrics: r.train_metrics.clone().and_then(|v| serde_json::from_value(v).ok()),
        evaluation: r.evaluation.clone().and_then(|v| serde_json::from_value(v).ok()),
        gates,
        history,
        bundle_path: r.bundle_path.clone(),
        objective,
        trials,
        best_run_id: r.best_run_id.map(|u| u.simple().to_string()),
    })
}

/// Stops a queued or running training run (all trials of a search).
pub async fn cancel(st: &AppState, p: &Principal, run_id: Uuid) -> Result<()> {
    authorize(p, Action::Write)?;
    let r = row(st, run_id).await?;
    let state = TrainingState::parse(&r.state).unwrap_or(TrainingState::Failed);
    if state.is_terminal() {
        return Err(Error::Conflict(format!("training run {} has already {}", run_id.simple(), r.state)));
    }
    let mut targets = vec![r];
    if targets[0].kind == "search" {
        targets.extend(sql::children(&st.db, run_id).await?);
    }
    for t in &targets {
        if let Some(job) = t.job_id {
            match queue::cancel(&st.db, JobId(job)).await {
                Ok(_) | Err(Error::Conflict(_)) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // A queued run never reaches its handler: end it here. A running one ends
        // when its handler sees the cancellation (and finds the run already ended).
        lifecycle::end(st, p, t.run_id, TrainingState::Cancelled, "cancelled by the user").await?;
    }
    let mut tx = st.db.begin().await?;
    audit::record(
        &mut *tx,
        p,
        "training.cancel",
        &format!("run:{}", run_id.simple()),
        audit::Outcome::Ok,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The run a `baseline_run` names: a run id, or a registered model reference such as
/// `models:/credit@production`, so gates can compare against what serves today.
pub async fn baseline_run_id(st: &AppState, p: &Principal, reference: &str) -> Result<Uuid> {
    if reference.trim_start().starts_with("models:/") {
        crate::registry::baseline_run(st, p, reference.trim()).await
    } else {
        tracking::parse_run_id(reference)
    }
}

/// The stored model bundle of a finished training run.
pub async fn bundle(st: &AppState, p: &Principal, run_id: Uuid) -> Result<ml::train::Bundle> {
    authorize(p, Action::Read)?;
    let r = row(st, run_id).await?;
    let path = r.bundle_path.ok_or_else(|| {
        Error::not_found("model bundle", format!("of run {} (not finished?)", run_id.simple()))
    })?;
    let bytes = tracking::artifacts::download(st, p, &path).await?;
    ml::train::Bundle::from_bytes(&bytes)
        .map_err(|e| Error::Other(anyhow::anyhow!("the stored bundle {path} is unreadable: {e}")))
}
