//! SQL for experiments, runs, params, tags, metrics and run inputs. Batch writes go
//! through `unnest` so a batch of any size is one round trip per table.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

pub struct ExperimentRow {
    pub experiment_id: i64,
    pub name: String,
    pub description: String,
    pub artifact_location: String,
    pub lifecycle: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct KeyValueRow {
    pub owner: String,
    pub key: String,
    pub value: String,
}

pub struct RunRow {
    pub run_id: Uuid,
    pub experiment_id: i64,
    pub name: String,
    pub status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub user_name: String,
    pub lifecycle: String,
}

pub struct MetricRow {
    pub run_id: Uuid,
    pub key: String,
    pub value: f64,
    pub step: i64,
    pub timestamp: i64,
}

pub struct HistoryRow {
    pub metric_id: i64,
    pub key: String,
    pub value: f64,
    pub step: i64,
    pub timestamp: i64,
}

pub struct InputRow {
    pub run_id: Uuid,
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: String,
    pub profile: String,
    pub tags: serde_json::Value,
}

// ---------------------------------------------------------------------------
// Experiments

pub async fn insert_experiment(
    db: impl PgExecutor<'_>,
    name: &str,
    artifact_location: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into experiment (name, artifact_location) values ($1, $2) returning experiment_id",
        name,
        artifact_location
    )
    .fetch_one(db)
    .await
}

pub async fn get_experiment(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<ExperimentRow>> {
    sqlx::query_as!(
        ExperimentRow,
        "select experiment_id, name, description, artifact_location, lifecycle, created_at, updated_at
         from experiment where experiment_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn get_experiment_by_name(
    db: impl PgExecutor<'_>,
    name: &str,
) -> sqlx::Result<Option<ExperimentRow>> {
    sqlx::query_as!(
        ExperimentRow,
        "select experiment_id, name, description, artifact_location, lifecycle, created_at, updated_at
         from experiment
         where project_id = '00000000-0000-4000-8000-000000000001' and lower(name) = lower($1)",
        name
    )
    .fetch_optional(db)
    .await
}

/// Experiments in id order after `after_id`, keyset-paged.
pub async fn list_experiments(
    db: impl PgExecutor<'_>,
    lifecycles: &[String],
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<ExperimentRow>> {
    sqlx::query_as!(
        ExperimentRow,
        "select experiment_id, name, description, artifact_location, lifecycle, created_at, updated_at
         from experiment
         where lifecycle = any($1) and experiment_id > $2
         order by experiment_id limit $3",
        lifecycles,
        after_id,
        limit
    )
    .fetch_all(db)
    .await
}

pub async fn rename_experiment(db: impl PgExecutor<'_>, id: i64, name: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("update experiment set name = $2 where experiment_id = $1", id, name)
        .execute(db)
        .await?
        .rows_affected())
}

pub async fn set_experiment_lifecycle(
    db: impl PgExecutor<'_>,
    id: i64,
    lifecycle: &str,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!("update experiment set lifecycle = $2 where experiment_id = $1", id, lifecycle)
        .execute(db)
        .await?
        .rows_affected())
}

pub async fn set_experiment_runs_lifecycle(
    db: impl PgExecutor<'_>,
    id: i64,
    lifecycle: &str,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!("update run set lifecycle = $2 where experiment_id = $1", id, lifecycle)
        .execute(db)
        .await?
        .rows_affected())
}

pub async fn upsert_experiment_tags(
    db: impl PgExecutor<'_>,
    id: i64,
    keys: &[String],
    values: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into experiment_tag (experiment_id, key, value)
         select $1, k, v from unnest($2::text[], $3::text[]) as t(k, v)
         on conflict (experiment_id, key) do update set value = excluded.value",
        id,
        keys,
        values
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn experiment_tags(db: impl PgExecutor<'_>, ids: &[i64]) -> sqlx::Result<Vec<KeyValueRow>> {
    sqlx::query_as!(
        KeyValueRow,
        r#"select experiment_id::text as "owner!", key, value from experiment_tag
           where experiment_id = any($1) order by key"#,
        ids
    )
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Runs

pub async fn insert_run(
    db: impl PgExecutor<'_>,
    experiment_id: i64,
    name: &str,
    start_time: i64,
    user_name: &str,
) -> sqlx::Result<RunRow> {
    sqlx::query_as!(
        RunRow,
        "insert into run (experiment_id, name, start_time, user_name) values ($1, $2, $3, $4)
         returning run_id, experiment_id, name, status, start_time, end_time, user_name, lifecycle",
        experiment_id,
        name,
        start_time,
        user_name
    )
    .fetch_one(db)
    .await
}

pub async fn get_runs(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<RunRow>> {
    sqlx::query_as!(
        RunRow,
        "select run_id, experiment_id, name, status, start_time, end_time, user_name, lifecycle
         from run where run_id = any($1)",
        ids
    )
    .fetch_all(db)
    .await
}

/// Locks the run row (shared) so it cannot be deleted under a batch; returns its
/// lifecycle, or None when there is no such run.
pub async fn run_lifecycle_for_write(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select lifecycle from run where run_id = $1 for key share", id)
        .fetch_optional(db)
        .await
}

pub async fn update_run(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: Option<&str>,
    end_time: Option<i64>,
    name: Option<&str>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "update run set status = coalesce($2, status), end_time = coalesce($3, end_time),
                        name = coalesce($4, name)
         where run_id = $1",
        id,
        status,
        end_time,
        name
    )
    .execute(db)
    .await?
    .rows_affected())
}

pub async fn set_run_lifecycle(db: impl PgExecutor<'_>, id: Uuid, lifecycle: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("update run set lifecycle = $2 where run_id = $1", id, lifecycle)
        .execute(db)
        .await?
        .rows_affected())
}

pub async fn params_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<KeyValueRow>> {
    sqlx::query_as!(
        KeyValueRow,
        r#"select run_id::text as "owner!", key, value from run_param where run_id = any($1) order by key"#,
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn tags_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<KeyValueRow>> {
    sqlx::query_as!(
        KeyValueRow,
        r#"select run_id::text as "owner!", key, value from run_tag where run_id = any($1) order by key"#,
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn latest_metrics_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<MetricRow>> {
    sqlx::query_as!(
        MetricRow,
        "select run_id, key, value, step, timestamp from latest_metric where run_id = any($1) order by key",
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn inputs_of(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<InputRow>> {
    sqlx::query_as!(
        InputRow,
        "select run_id, name, digest, source_type, source, schema, profile, tags
         from run_input where run_id = any($1) order by run_input_id",
        ids
    )
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Logging. Callers pass keys sorted and de-duplicated, so row locks are always
// taken in the same order.

/// Inserts params that are new; existing keys are left alone (see `conflicting_params`).
pub async fn insert_params(
    db: impl PgExecutor<'_>,
    run: Uuid,
    keys: &[String],
    values: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into run_param (run_id, key, value)
         select $1, k, v from unnest($2::text[], $3::text[]) as t(k, v)
         on conflict (run_id, key) do nothing",
        run,
        keys,
        values
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Params of `run` whose stored value differs from the one given: (key, stored value).
pub async fn conflicting_params(
    db: impl PgExecutor<'_>,
    run: Uuid,
    keys: &[String],
    values: &[String],
) -> sqlx::Result<Vec<(String, String, String)>> {
    let rows = sqlx::query!(
        r#"select p.key as "key!", p.value as "stored!", t.v as "given!"
           from unnest($2::text[], $3::text[]) as t(k, v)
           join run_param p on p.run_id = $1 and p.key = t.k
           where p.value <> t.v
           order by p.key"#,
        run,
        keys,
        values
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, r.stored, r.given)).collect())
}

pub async fn upsert_tags(
    db: impl PgExecutor<'_>,
    run: Uuid,
    keys: &[String],
    values: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into run_tag (run_id, key, value)
         select $1, k, v from unnest($2::text[], $3::text[]) as t(k, v)
         on conflict (run_id, key) do update set value = excluded.value",
        run,
        keys,
        values
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_tag(db: impl PgExecutor<'_>, run: Uuid, key: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from run_tag where run_id = $1 and key = $2", run, key)
        .execute(db)
        .await?
        .rows_affected())
}

/// Appends points to the metric history.
pub async fn insert_metrics(
    db: impl PgExecutor<'_>,
    run: Uuid,
    keys: &[String],
    values: &[f64],
    steps: &[i64],
    timestamps: &[i64],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into metric (run_id, key, value, step, timestamp)
         select $1, k, v, s, t from unnest($2::text[], $3::float8[], $4::int8[], $5::int8[]) as u(k, v, s, t)",
        run,
        keys,
        values,
        steps,
        timestamps
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Upserts one point per key (already the batch's latest), keeping whichever of the
/// stored and given points has the greater (step, timestamp).
pub async fn upsert_latest(
    db: impl PgExecutor<'_>,
    run: Uuid,
    keys: &[String],
    values: &[f64],
    steps: &[i64],
    timestamps: &[i64],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into latest_metric (run_id, key, value, step, timestamp)
         select $1, k, v, s, t from unnest($2::text[], $3::float8[], $4::int8[], $5::int8[]) as u(k, v, s, t)
         order by k
         on conflict (run_id, key) do update
           set value = excluded.value, step = excluded.step, timestamp = excluded.timestamp
           where (excluded.step, excluded.timestamp) >= (latest_metric.step, latest_metric.timestamp)",
        run,
        keys,
        values,
        steps,
        timestamps
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One key's history in step order after (step, metric_id), keyset-paged.
pub async fn history(
    db: impl PgExecutor<'_>,
    run: Uuid,
    key: &str,
    after: (i64, i64),
    limit: i64,
) -> sqlx::Result<Vec<HistoryRow>> {
    sqlx::query_as!(
        HistoryRow,
        "select metric_id, key, value, step, timestamp from metric
         where run_id = $1 and key = $2 and (step, metric_id) > ($3, $4)
         order by step, metric_id limit $5",
        run,
        key,
        after.0,
        after.1,
        limit
    )
    .fetch_all(db)
    .await
}

pub async fn insert_input(db: impl PgExecutor<'_>, run: Uuid, input: &InputRow) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into run_input (run_id, name, digest, source_type, source, schema, profile, tags)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (run_id, name, digest) do update set tags = excluded.tags",
        run,
        input.name,
        input.digest,
        input.source_type,
        input.source,
        input.schema,
        input.profile,
        input.tags
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Adds `runs` runs numbered from `first` to an experiment in one statement, each with
/// a `seed` param, a `mlflow.runName` tag and metrics `m0`..`m{metrics-1}` (latest
/// value plus a one-point history). For `cairn bench tracking`: 100,000 runs through
/// the API, one request per run, take far longer than the search being measured.
pub async fn bench_fill_experiment(
    db: impl PgExecutor<'_>,
    experiment_id: i64,
    first: i64,
    runs: i64,
    metrics: i32,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "with r as (
             insert into run (experiment_id, name, start_time, user_name)
             select $1, 'bench-' || i, i, 'bench' from generate_series($2::int8, $2 + $3 - 1) i
             returning run_id, start_time
         ), p as (
             insert into run_param (run_id, key, value) select run_id, 'seed', start_time::text from r
         ), t as (
             insert into run_tag (run_id, key, value)
             select run_id, 'mlflow.runName', 'bench-' || start_time from r
         ), m as (
             insert into latest_metric (run_id, key, value, step, timestamp)
             select r.run_id, 'm' || k, ((r.start_time * 7919 + k) % 1000)::float8, 0, 0
             from r cross join generate_series(0, $4::int4 - 1) k
             returning run_id, key, value
         )
         insert into metric (run_id, key, value, step, timestamp) select run_id, key, value, 0, 0 from m",
        experiment_id,
        first,
        runs,
        metrics
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// Refreshes the planner's statistics of the tracking tables after a bulk fill, as
/// autovacuum would some time later, so a benchmark measures the settled plans.
pub async fn analyze_tracking(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query!("analyze run, run_param, run_tag, latest_metric, metric").execute(db).await?;
    Ok(())
}
