//! SQL for training runs (built-in, command and search) and their trials.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A training run joined with its tracked run, dataset version and creator.
/// Where a dataset version's data lives, for a worker that has only its id.
pub struct VersionLocation {
    pub storage_key: String,
    pub lineage_artifact_id: Option<Uuid>,
}

pub async fn version_location(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<VersionLocation>> {
    sqlx::query_as!(
        VersionLocation,
        "select storage_key, lineage_artifact_id from dataset_version where dataset_version_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub struct TrainingRow {
    pub run_id: Uuid,
    pub experiment_id: i64,
    pub run_name: String,
    pub kind: String,
    pub spec: Value,
    pub job_id: Option<Uuid>,
    pub state: String,
    pub stage: String,
    pub progress: f64,
    pub error: Option<String>,
    pub task: Option<String>,
    pub algorithm: Option<String>,
    pub dataset_version_id: Option<Uuid>,
    pub dataset_name: Option<String>,
    pub dataset_version: Option<i32>,
    pub parent_run_id: Option<Uuid>,
    pub train_metrics: Option<Value>,
    pub evaluation: Option<Value>,
    pub gates: Option<Value>,
    pub gates_passed: Option<bool>,
    pub history: Option<Value>,
    pub bundle_path: Option<String>,
    pub model_artifact_id: Option<Uuid>,
    pub best_run_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub struct NewTraining<'a> {
    pub run_id: Uuid,
    pub kind: &'a str,
    pub spec: &'a Value,
    pub task: Option<&'a str>,
    pub algorithm: Option<&'a str>,
    pub dataset_version_id: Option<Uuid>,
    pub parent_run_id: Option<Uuid>,
    pub created_by: Uuid,
}

pub async fn insert(conn: &mut PgConnection, n: &NewTraining<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into training_run (run_id, kind, spec, task, algorithm, dataset_version_id, parent_run_id, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        n.run_id,
        n.kind,
        n.spec,
        n.task,
        n.algorithm,
        n.dataset_version_id,
        n.parent_run_id,
        n.created_by
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_job(conn: &mut PgConnection, run_id: Uuid, job_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("update training_run set job_id = $2 where run_id = $1", run_id, job_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the run running; false when it is already terminal (cancelled while queued).
pub async fn start(db: impl PgExecutor<'_>, run_id: Uuid) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "update training_run set state = 'running', stage = 'starting', progress = 0, error = null,
                started_at = coalesce(started_at, now())
         where run_id = $1 and state in ('queued', 'running')",
        run_id
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn set_progress(
    db: impl PgExecutor<'_>,
    run_id: Uuid,
    stage: &str,
    progress: f64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update training_run set stage = $2, progress = greatest(0, least(1, $3::float8))
         where run_id = $1 and state = 'running'",
        run_id,
        stage,
        progress
    )
    .execute(db)
    .await?;
    Ok(())
}

pub struct Finished<'a> {
    pub task: Option<&'a str>,
    pub train_metrics: Option<&'a Value>,
    pub evaluation: Option<&'a Value>,
    pub gates: Option<&'a Value>,
    pub gates_passed: Option<bool>,
    pub history: Option<&'a Value>,
    pub bundle_path: Option<&'a str>,
    pub model_artifact_id: Option<Uuid>,
}

/// False when the run was ended meanwhile (cancelled).
pub async fn finish(conn: &mut PgConnection, run_id: Uuid, f: &Finished<'_>) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "update training_run set state = 'finished', stage = 'finished', progress = 1, finished_at = now(),
                task = coalesce($2, task), train_metrics = $3, evaluation = $4, gates = $5, gates_passed = $6,
                history = $7, bundle_path = $8, model_artifact_id = $9
         where run_id = $1 and state = 'running'",
        run_id,
        f.task,
        f.train_metrics,
        f.evaluation,
        f.gates,
        f.gates_passed,
        f.history,
        f.bundle_path,
        f.model_artifact_id
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Ends a run as failed or cancelled with the reason; a terminal run is left alone.
pub async fn end(conn: &mut PgConnection, run_id: Uuid, state: &str, error: &str) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "update training_run set state = $2, stage = $2, error = $3, finished_at = now()
         where run_id = $1 and state in ('queued', 'running')",
        run_id,
        state,
        error
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn set_best(conn: &mut PgConnection, run_id: Uuid, best: Option<Uuid>) -> sqlx::Result<()> {
    sqlx::query!("update training_run set best_run_id = $2 where run_id = $1", run_id, best)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks a search's row, so the trial that finishes last (and only it) closes the search.
pub async fn lock(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select state from training_run where run_id = $1 for update", run_id)
        .fetch_optional(conn)
        .await
}

pub async fn unfinished_children(conn: &mut PgConnection, parent: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from training_run where parent_run_id = $1 and state in ('queued', 'running')"#,
        parent
    )
    .fetch_one(conn)
    .await
}

/// One query for the three reads: by id (`run`), a search's trials (`parent`), or the
/// newest top-level runs (neither).
async fn select(
    db: impl PgExecutor<'_>,
    run: Option<Uuid>,
    parent: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<TrainingRow>> {
    sqlx::query_as!(
        TrainingRow,
        r#"select t.run_id, r.experiment_id, r.name as run_name, t.kind, t.spec, t.job_id, t.state, t.stage,
                  t.progress, t.error, t.task, t.algorithm, t.dataset_version_id,
                  d.name as "dataset_name?", v.version as "dataset_version?", t.parent_run_id,
                  t.train_metrics, t.evaluation, t.gates, t.gates_passed, t.history, t.bundle_path,
                  t.model_artifact_id, t.best_run_id, t.created_by, u.username as "created_by_name?",
                  t.created_at, t.started_at, t.finished_at
           from training_run t
           join run r on r.run_id = t.run_id
           left join dataset_version v on v.dataset_version_id = t.dataset_version_id
           left join dataset d on d.dataset_id = v.dataset_id
           left join app_user u on u.user_id = t.created_by
           where case when $1::uuid is not null then t.run_id = $1
                      when $2::uuid is not null then t.parent_run_id = $2
                      else t.parent_run_id is null end
           order by t.created_at desc, t.run_id
           limit $3"#,
        run,
        parent,
        limit
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, run_id: Uuid) -> sqlx::Result<Option<TrainingRow>> {
    Ok(select(db, Some(run_id), None, 1).await?.pop())
}

/// Top-level runs (not trials), newest first.
pub async fn list(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<TrainingRow>> {
    select(db, None, None, limit).await
}

/// A search's trials, oldest first.
pub async fn children(db: impl PgExecutor<'_>, parent: Uuid) -> sqlx::Result<Vec<TrainingRow>> {
    let mut rows = select(db, None, Some(parent), i64::from(u16::MAX)).await?;
    rows.reverse();
    Ok(rows)
}
