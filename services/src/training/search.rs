//! Hyper-parameter search: a parent run whose trials are ordinary training runs.
//!
//! All trials are drawn and checked at submission (a sampled value of the wrong
//! type is a 422 before anything is stored), then queued at once as independent
//! `training.run` jobs, so every worker takes trials in parallel. Each trial that
//! ends calls [`trial_ended`], which under the search row's lock updates the best
//! trial so far and, for the last one, finishes the search with the best trial's
//! evaluation, gates and bundle.

use super::{Checked, TAG_ALGORITHM, TAG_KIND, check, create_tracked_run, enqueue_training, lifecycle};
use crate::auth::{Action, Principal, audit, authorize};
use crate::db::training::{self as sql, Finished, TrainingRow};
use crate::tracking::{self, now_ms};
use crate::{AppState, Error, Result};
use domain::ValidationError;
use domain::tracking::{Metric, Tag};
use domain::training::{
    Evaluation, SearchSpec, Task, TrainingSpec, TrainingState, TrainingSubmitted, Trial, higher_is_better,
};
use serde_json::Value;
use uuid::Uuid;

fn invalid(field: &str, msg: impl Into<String>) -> Error {
    ValidationError::new(field, msg).into()
}

/// Queues a search: the parent run plus one training run per trial.
#[tracing::instrument(skip_all, fields(dataset = %spec.base.dataset, n_trials = spec.n_trials))]
pub async fn submit(st: &AppState, p: &Principal, spec: SearchSpec) -> Result<TrainingSubmitted> {
    authorize(p, Action::Write)?;
    if let Some(k) = spec.cv_folds
        && !(2..=20).contains(&k)
    {
        return Err(invalid("cv_folds", format!("must be between 2 and 20, got {k}")));
    }
    let base = check(st, p, spec.base.clone()).await?;
    let draws = ml::search::trials(&spec.space, spec.method, spec.n_trials, base.spec.seed)
        .map_err(|m| invalid("space", m))?;
    let base_params = base.spec.algorithm.as_object().cloned().unwrap_or_default();
    let mut trials = Vec::with_capacity(draws.len());
    for (i, draw) in draws.iter().enumerate() {
        let mut object = base_params.clone();
        object.extend(draw.clone());
        let value = Value::Object(object);
        let algorithm = super::parse_algorithm(&value).map_err(|e| match e {
            Error::Validation(v) => invalid("space", format!("trial {}: {}", i + 1, v.message)),
            e => e,
        })?;
        let spec = TrainingSpec { algorithm: value, cv_folds: spec.cv_folds, ..base.spec.clone() };
        trials.push(Checked {
            spec,
            algorithm,
            version: base.version.clone(),
            experiment_id: base.experiment_id,
        });
    }

    let name = base.spec.run_name.clone().unwrap_or_else(|| format!("search-{}", base.algorithm.name()));
    let tags = vec![
        Tag { key: TAG_KIND.into(), value: "search".into() },
        Tag { key: TAG_ALGORITHM.into(), value: base.algorithm.name().into() },
    ];
    let parent = create_tracked_run(st, p, base.experiment_id, Some(name.clone()), tags, None).await?;
    let stored = SearchSpec { base: base.spec.clone(), ..spec };
    let spec_json = serde_json::to_value(&stored).map_err(anyhow::Error::from)?;
    let mut tx = st.db.begin().await?;
    sql::insert(
        &mut tx,
        &sql::NewTraining {
            run_id: parent,
            kind: "search",
            spec: &spec_json,
            task: Some(base.algorithm.task().as_str()),
            algorithm: Some(base.algorithm.name()),
            dataset_version_id: Some(base.version.dataset_version_id.0),
            parent_run_id: None,
            created_by: p.user_id.0,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        p,
        "training.search",
        &format!("run:{}", parent.simple()),
        audit::Outcome::Ok,
        &format!(
            "{} trials of {} on {} v{}",
            trials.len(),
            base.algorithm.name(),
            base.version.dataset_name,
            base.version.version
        ),
    )
    .await?;
    tx.commit().await?;
    lifecycle::start(st, p, parent).await?;
    let params: Vec<Tag> = vec![
        Tag { key: "algorithm".into(), value: base.algorithm.name().into() },
        Tag { key: "n_trials".into(), value: trials.len().to_string() },
        Tag { key: "method".into(), value: format!("{:?}", stored.method).to_lowercase() },
        Tag { key: "objective".into(), value: stored.objective.clone().unwrap_or_else(|| "primary".into()) },
    ];
    tracking::log_batch(st, p, parent, Vec::new(), params, Vec::new()).await?;

    let mut ids = Vec::with_capacity(trials.len());
    for (i, trial) in trials.iter().enumerate() {
        let trial_name = format!("{name}-trial-{}", i + 1);
        let tags = vec![
            Tag { key: TAG_KIND.into(), value: "trial".into() },
            Tag { key: TAG_ALGORITHM.into(), value: trial.algorithm.name().into() },
        ];
        let run = create_tracked_run(st, p, base.experiment_id, Some(trial_name), tags, Some(parent)).await?;
        enqueue_training(st, p, trial, run, Some(parent)).await?;
        ids.push(run.simple().to_string());
    }
    Ok(TrainingSubmitted {
        run_id: parent.simple().to_string(),
        experiment_id: base.experiment_id.to_string(),
        job_id: None,
        trials: ids,
    })
}

/// The metric a search optimises: the declared one, or the task's primary metric.
fn objective_of(spec: &SearchSpec, task: Option<Task>, evaluation: Option<&Evaluation>) -> Option<String> {
    if let Some(o) = &spec.objective {
        return Some(o.clone());
    }
    let task = task?;
    let classes = evaluation.map(|e| e.classes.len()).unwrap_or(2);
    Some(ml::train::primary_metric(task, classes).to_string())
}

/// A trial's value of the objective: the cross-validated mean when the search
/// cross-validates, else the held-out value.
fn trial_value(row: &TrainingRow, objective: &str, cv: bool) -> Option<f64> {
    if cv {
        let key = format!("cv_{objective}");
        return row.train_metrics.as_ref()?.get(&key)?.as_f64();
    }
    row.evaluation.as_ref()?.get("metrics")?.get(objective)?.as_f64()
}

fn evaluation(row: &TrainingRow) -> Option<Evaluation> {
    serde_json::from_value(row.evaluation.clone()?).ok()
}

fn task(row: &TrainingRow) -> Option<Task> {
    serde_json::from_value(Value::String(row.task.clone()?)).ok()
}

/// The best finished trial by the objective (ties: the earlier trial).
fn best<'a>(trials: &'a [TrainingRow], objective: &str, cv: bool) -> Option<(&'a TrainingRow, f64)> {
    let up = higher_is_better(objective);
    let mut best: Option<(&TrainingRow, f64)> = None;
    for t in trials.iter().filter(|t| t.state == "finished") {
        let Some(v) = trial_value(t, objective, cv).filter(|v| v.is_finite()) else { continue };
        let better = match best {
            None => true,
            Some((_, b)) => {
                if up {
                    v > b
                } else {
                    v < b
                }
            }
        };
        if better {
            best = Some((t, v));
        }
    }
    best
}

/// The objective's name and the trials (with the searched values), best first.
pub async fn trials(st: &AppState, parent: &TrainingRow) -> Result<(Option<String>, Vec<Trial>)> {
    let spec: SearchSpec = serde_json::from_value(parent.spec.clone())
        .map_err(|e| Error::Other(anyhow::anyhow!("stored search spec unreadable: {e}")))?;
    let rows = sql::children(&st.db, parent.run_id).await?;
    let first_eval = rows.iter().find_map(evaluation);
    let objective = objective_of(&spec, task(parent), first_eval.as_ref());
    let cv = spec.cv_folds.is_some();
    let mut out: Vec<Trial> = rows
        .iter()
        .map(|r| {
            let algorithm = r.spec.get("algorithm").and_then(Value::as_object);
            let params =
                spec.space.keys().filter_map(|k| Some((k.clone(), algorithm?.get(k)?.clone()))).collect();
            Trial {
                run_id: r.run_id.simple().to_string(),
                run_name: r.run_name.clone(),
                state: TrainingState::parse(&r.state).unwrap_or(TrainingState::Failed),
                params,
                objective: objective.as_deref().and_then(|o| trial_value(r, o, cv)),
                error: r.error.clone(),
            }
        })
        .collect();
    let up = objective.as_deref().is_none_or(higher_is_better);
    out.sort_by(|a, b| match (a.objective, b.objective) {
        (Some(x), Some(y)) => {
            let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
            if up { o.reverse() } else { o }
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok((objective, out))
}

/// Called when a trial ends (finished, failed or cancelled): updates the best trial
/// and, when no trial is left open, finishes the search.
pub async fn trial_ended(st: &AppState, p: &Principal, parent: Uuid) -> Result<()> {
    let mut tx = st.db.begin().await?;
    let Some(state) = sql::lock(&mut tx, parent).await? else { return Ok(()) };
    if TrainingState::parse(&state).is_none_or(TrainingState::is_terminal) {
        return Ok(());
    }
    let parent_row =
        sql::get(&mut *tx, parent).await?.ok_or_else(|| Error::not_found("search", parent.simple()))?;
    let spec: SearchSpec = serde_json::from_value(parent_row.spec.clone())
        .map_err(|e| Error::Other(anyhow::anyhow!("stored search spec unreadable: {e}")))?;
    let rows = sql::children(&mut *tx, parent).await?;
    let first_eval = rows.iter().find_map(evaluation);
    let objective = objective_of(&spec, task(&parent_row), first_eval.as_ref()).unwrap_or_default();
    let cv = spec.cv_folds.is_some();
    let best = best(&rows, &objective, cv);
    sql::set_best(&mut tx, parent, best.map(|(r, _)| r.run_id)).await?;
    let open = sql::unfinished_children(&mut tx, parent).await?;
    let done = rows.len() as i64 - open;
    sql::set_progress(
        &mut *tx,
        parent,
        &format!("{done} of {} trials done", rows.len()),
        done as f64 / rows.len().max(1) as f64,
    )
    .await?;
    if open > 0 {
        tx.commit().await?;
        return Ok(());
    }
    let Some((winner, value)) = best else {
        sql::end(
            &mut tx,
            parent,
            TrainingState::Failed.as_str(),
            "no trial finished; see the trials' errors",
        )
        .await?;
        tx.commit().await?;
        tracking::update_run(st, p, parent, Some("FAILED"), Some(now_ms()), None).await?;
        return Ok(());
    };
    sql::finish(
        &mut tx,
        parent,
        &Finished {
            task: winner.task.as_deref(),
            train_metrics: winner.train_metrics.as_ref(),
            evaluation: winner.evaluation.as_ref(),
            gates: winner.gates.as_ref(),
            gates_passed: winner.gates_passed,
            history: None,
            bundle_path: winner.bundle_path.as_deref(),
            model_artifact_id: winner.model_artifact_id,
        },
    )
    .await?;
    tx.commit().await?;
    let metrics = vec![Metric { key: format!("best_{objective}"), value, timestamp: now_ms(), step: 0 }];
    let tags = vec![Tag { key: "cairn.best_run".into(), value: winner.run_id.simple().to_string() }];
    tracking::log_batch(st, p, parent, metrics, Vec::new(), tags).await?;
    tracking::update_run(st, p, parent, Some("FINISHED"), Some(now_ms()), None).await?;
    Ok(())
}
