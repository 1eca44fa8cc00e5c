//! SQL for pipelines: components, pipelines and versions, runs and steps, dataset
//! triggers.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Components

pub struct ComponentRow {
    pub name: String,
    pub version: i32,
    pub digest: String,
    pub kind: String,
    pub description: String,
    pub signature: Value,
    pub command: Option<Value>,
    pub created_at: DateTime<Utc>,
}

pub struct NewComponentRow<'a> {
    pub name: &'a str,
    pub digest: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub signature: &'a Value,
    pub command: Option<&'a Value>,
    pub created_by: Option<Uuid>,
}

/// Registers a component version: the existing one with the same digest, else the
/// next version number. Serialised per name by an advisory lock so two registrations
/// cannot take the same number.
pub async fn upsert_component(
    conn: &mut PgConnection,
    c: &NewComponentRow<'_>,
) -> sqlx::Result<ComponentRow> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('pipeline_component:' || $1))", c.name)
        .execute(&mut *conn)
        .await?;
    if let Some(row) = component_by_digest(&mut *conn, c.name, c.digest).await? {
        return Ok(row);
    }
    sqlx::query_as!(
        ComponentRow,
        "insert into pipeline_component (name, version, digest, kind, description, signature, command, created_by)
         values ($1, coalesce((select max(version) from pipeline_component where name = $1), 0) + 1,
                 $2, $3, $4, $5, $6, $7)
         returning name, version, digest, kind, description, signature, command, created_at",
        c.name,
        c.digest,
        c.kind,
        c.description,
        c.signature,
        c.command,
        c.created_by
    )
    .fetch_one(conn)
    .await
}

pub async fn component_by_digest(
    db: impl PgExecutor<'_>,
    name: &str,
    digest: &str,
) -> sqlx::Result<Option<ComponentRow>> {
    sqlx::query_as!(
        ComponentRow,
        "select name, version, digest, kind, description, signature, command, created_at
         from pipeline_component where name = $1 and digest = $2",
        name,
        digest
    )
    .fetch_optional(db)
    .await
}

/// One version, or the newest when `version` is None.
pub async fn component(
    db: impl PgExecutor<'_>,
    name: &str,
    version: Option<i32>,
) -> sqlx::Result<Option<ComponentRow>> {
    sqlx::query_as!(
        ComponentRow,
        "select name, version, digest, kind, description, signature, command, created_at
         from pipeline_component where name = $1 and ($2::int is null or version = $2)
         order by version desc limit 1",
        name,
        version
    )
    .fetch_optional(db)
    .await
}

pub async fn components(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ComponentRow>> {
    sqlx::query_as!(
        ComponentRow,
        "select name, version, digest, kind, description, signature, command, created_at
         from pipeline_component order by name, version desc"
    )
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Pipelines and versions

pub struct PipelineRow {
    pub pipeline_id: Uuid,
    pub name: String,
    pub description: String,
    pub webhook_secret_enc: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub async fn pipeline_by_name(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Option<PipelineRow>> {
    sqlx::query_as!(
        PipelineRow,
        "select pipeline_id, name, description, webhook_secret_enc, created_by, created_at
         from pipeline where lower(name) = lower($1)",
        name
    )
    .fetch_optional(db)
    .await
}

pub async fn pipeline_by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<PipelineRow>> {
    sqlx::query_as!(
        PipelineRow,
        "select pipeline_id, name, description, webhook_secret_enc, created_by, created_at
         from pipeline where pipeline_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Locks the pipeline's row (creating it if new): versions are numbered under it.
pub async fn lock_or_create_pipeline(
    conn: &mut PgConnection,
    name: &str,
    description: &str,
    created_by: Uuid,
) -> sqlx::Result<PipelineRow> {
    sqlx::query!(
        "insert into pipeline (name, description, created_by) values ($1, $2, $3)
         on conflict (project_id, lower(name)) do update set description = excluded.description",
        name,
        description,
        created_by
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_as!(
        PipelineRow,
        "select pipeline_id, name, description, webhook_secret_enc, created_by, created_at
         from pipeline where lower(name) = lower($1) for update",
        name
    )
    .fetch_one(conn)
    .await
}

pub async fn set_webhook_secret(db: impl PgExecutor<'_>, id: Uuid, secret_enc: &str) -> sqlx::Result<()> {
    sqlx::query!("update pipeline set webhook_secret_enc = $2 where pipeline_id = $1", id, secret_enc)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn delete_pipeline(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query!("delete from pipeline where pipeline_id = $1", id).execute(db).await?.rows_affected()
        == 1)
}

pub struct PipelineListRow {
    pub pipeline_id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub latest_version: i32,
    pub versions: i64,
    pub runs: i64,
    pub last_run_id: Option<Uuid>,
}

pub async fn list_pipelines(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<PipelineListRow>> {
    sqlx::query_as!(
        PipelineListRow,
        r#"select p.pipeline_id, p.name, p.description, p.created_at,
                  coalesce((select max(version) from pipeline_version v where v.pipeline_id = p.pipeline_id), 0) as "latest_version!",
                  (select count(*) from pipeline_version v where v.pipeline_id = p.pipeline_id) as "versions!",
                  (select count(*) from pipeline_run r where r.pipeline_id = p.pipeline_id) as "runs!",
                  (select r.pipeline_run_id from pipeline_run r where r.pipeline_id = p.pipeline_id
                   order by r.created_at desc limit 1) as last_run_id
           from pipeline p order by lower(p.name)"#
    )
    .fetch_all(db)
    .await
}

pub struct VersionRow {
    pub pipeline_version_id: Uuid,
    pub pipeline_id: Uuid,
    pub version: i32,
    pub spec_text: String,
    pub spec: Value,
    pub components: Value,
    pub digest: String,
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub struct NewVersionRow<'a> {
    pub pipeline_id: Uuid,
    pub spec_text: &'a str,
    pub spec: &'a Value,
    pub components: &'a Value,
    pub digest: &'a str,
    pub created_by: Uuid,
}

/// Inserts the next version; the caller holds the pipeline's row lock.
pub async fn insert_version(conn: &mut PgConnection, v: &NewVersionRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into pipeline_version (pipeline_id, version, spec_text, spec, components, digest, created_by)
         values ($1, coalesce((select max(version) from pipeline_version where pipeline_id = $1), 0) + 1,
                 $2, $3, $4, $5, $6)
         returning pipeline_version_id",
        v.pipeline_id,
        v.spec_text,
        v.spec,
        v.components,
        v.digest,
        v.created_by
    )
    .fetch_one(conn)
    .await
}

/// A version by id, by number, by digest, or the newest.
pub async fn version(
    db: impl PgExecutor<'_>,
    pipeline_id: Uuid,
    version_id: Option<Uuid>,
    number: Option<i32>,
    digest: Option<&str>,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        "select v.pipeline_version_id, v.pipeline_id, v.version, v.spec_text, v.spec, v.components, v.digest,
                u.username as created_by_name, v.created_at
         from pipeline_version v left join app_user u on u.user_id = v.created_by
         where v.pipeline_id = $1 and ($2::uuid is null or v.pipeline_version_id = $2)
           and ($3::int is null or v.version = $3) and ($4::text is null or v.digest = $4)
         order by v.version desc limit 1",
        pipeline_id,
        version_id,
        number,
        digest
    )
    .fetch_optional(db)
    .await
}

pub async fn versions(db: impl PgExecutor<'_>, pipeline_id: Uuid) -> sqlx::Result<Vec<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        "select v.pipeline_version_id, v.pipeline_id, v.version, v.spec_text, v.spec, v.components, v.digest,
                u.username as created_by_name, v.created_at
         from pipeline_version v left join app_user u on u.user_id = v.created_by
         where v.pipeline_id = $1 order by v.version desc",
        pipeline_id
    )
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Dataset triggers

pub struct DatasetTriggerRow {
    pub pipeline_id: Uuid,
    pub dataset_name: String,
    pub parameter: Option<String>,
}

/// Replaces a pipeline's watched datasets.
pub async fn set_dataset_triggers(
    conn: &mut PgConnection,
    pipeline_id: Uuid,
    datasets: &[String],
    parameters: &[Option<String>],
) -> sqlx::Result<()> {
    sqlx::query!("delete from pipeline_dataset_trigger where pipeline_id = $1", pipeline_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "insert into pipeline_dataset_trigger (pipeline_id, dataset_name, parameter)
         select $1, d, p from unnest($2::text[], $3::text[]) as t(d, p)",
        pipeline_id,
        datasets,
        parameters as &[Option<String>]
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn dataset_triggers(
    db: impl PgExecutor<'_>,
    pipeline_id: Uuid,
) -> sqlx::Result<Vec<DatasetTriggerRow>> {
    sqlx::query_as!(
        DatasetTriggerRow,
        "select pipeline_id, dataset_name, parameter from pipeline_dataset_trigger
         where pipeline_id = $1 order by dataset_name",
        pipeline_id
    )
    .fetch_all(db)
    .await
}

pub async fn watchers_of(db: impl PgExecutor<'_>, dataset: &str) -> sqlx::Result<Vec<DatasetTriggerRow>> {
    sqlx::query_as!(
        DatasetTriggerRow,
        "select pipeline_id, dataset_name, parameter from pipeline_dataset_trigger
         where lower(dataset_name) = lower($1)",
        dataset
    )
    .fetch_all(db)
    .await
}

// ---------------------------------------------------------------------------
// Runs

pub struct RunRow {
    pub pipeline_run_id: Uuid,
    pub pipeline_id: Uuid,
    pub pipeline_name: String,
    pub pipeline_version_id: Uuid,
    pub version: i32,
    pub state: String,
    pub parameters: Value,
    pub trigger: Value,
    pub rerun_of: Option<Uuid>,
    pub error: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub struct NewRunRow<'a> {
    pub pipeline_id: Uuid,
    pub pipeline_version_id: Uuid,
    pub parameters: &'a Value,
    pub trigger: &'a Value,
    pub rerun_of: Option<Uuid>,
    pub created_by: Option<Uuid>,
}

pub async fn insert_run(conn: &mut PgConnection, r: &NewRunRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into pipeline_run (pipeline_id, pipeline_version_id, parameters, trigger, rerun_of, created_by)
         values ($1, $2, $3, $4, $5, $6) returning pipeline_run_id",
        r.pipeline_id,
        r.pipeline_version_id,
        r.parameters,
        r.trigger,
        r.rerun_of,
        r.created_by
    )
    .fetch_one(conn)
    .await
}

/// Runs, newest first: one run by id, a pipeline's runs, filtered by state.
pub async fn runs(
    db: impl PgExecutor<'_>,
    run_id: Option<Uuid>,
    pipeline_id: Option<Uuid>,
    state: Option<&str>,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<RunRow>> {
    sqlx::query_as!(
        RunRow,
        r#"select r.pipeline_run_id, r.pipeline_id, p.name as pipeline_name, r.pipeline_version_id, v.version,
                  r.state::text as "state!", r.parameters, r.trigger, r.rerun_of, r.error, r.created_by,
                  u.username as "created_by_name?", r.created_at, r.started_at, r.finished_at
           from pipeline_run r
           join pipeline p on p.pipeline_id = r.pipeline_id
           join pipeline_version v on v.pipeline_version_id = r.pipeline_version_id
           left join app_user u on u.user_id = r.created_by
           where ($1::uuid is null or r.pipeline_run_id = $1)
             and ($2::uuid is null or r.pipeline_id = $2)
             and ($3::text is null or r.state::text = $3)
             and ($4::timestamptz is null or r.created_at < $4)
           order by r.created_at desc limit $5"#,
        run_id,
        pipeline_id,
        state,
        before,
        limit
    )
    .fetch_all(db)
    .await
}

/// Locks a run for a state change; returns its state and version.
pub async fn lock_run(conn: &mut PgConnection, run_id: Uuid) -> sqlx::Result<Option<(String, Uuid, Value)>> {
    let row = sqlx::query!(
        r#"select state::text as "state!", pipeline_version_id, parameters from pipeline_run
           where pipeline_run_id = $1 for update"#,
        run_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.state, r.pipeline_version_id, r.parameters)))
}

pub async fn set_run_state(
    conn: &mut PgConnection,
    run_id: Uuid,
    state: &str,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update pipeline_run set state = $2::text::pipeline_run_state,
                error = coalesce($3, error),
                started_at = case when $2 = 'running' then coalesce(started_at, now()) else started_at end,
                finished_at = case when $2 in ('succeeded', 'failed', 'cancelled') then now() else finished_at end
         where pipeline_run_id = $1",
        run_id,
        state,
        error
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Steps per state for each run.
pub async fn step_counts(db: impl PgExecutor<'_>, runs: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String, i64)>> {
    let rows = sqlx::query!(
        r#"select pipeline_run_id, state::text as "state!", count(*) as "n!" from pipeline_step
           where pipeline_run_id = any($1) group by 1, 2"#,
        runs
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.pipeline_run_id, r.state, r.n)).collect())
}

// ---------------------------------------------------------------------------
// Steps

pub struct StepRow {
    pub pipeline_step_id: Uuid,
    pub pipeline_run_id: Uuid,
    pub name: String,
    pub position: i32,
    pub component_name: String,
    pub component_version: i32,
    pub component_digest: String,
    pub state: String,
    pub depends_on: Vec<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub timeout_s: i32,
    pub cache_enabled: bool,
    pub job_id: Option<Uuid>,
    pub inputs: Value,
    pub outputs: Value,
    pub cache_key: Option<String>,
    pub cached_from: Option<Uuid>,
    pub cached_from_run: Option<Uuid>,
    pub external: Option<Value>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub struct NewStepRow<'a> {
    pub name: &'a str,
    pub position: i32,
    pub component_name: &'a str,
    pub component_version: i32,
    pub component_digest: &'a str,
    pub depends_on: &'a [String],
    pub max_attempts: i32,
    pub timeout_s: i32,
    pub cache_enabled: bool,
}

pub async fn insert_step(conn: &mut PgConnection, run_id: Uuid, s: &NewStepRow<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into pipeline_step (pipeline_run_id, name, position, component_name, component_version,
                                    component_digest, depends_on, max_attempts, timeout_s, cache_enabled)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning pipeline_step_id",
        run_id,
        s.name,
        s.position,
        s.component_name,
        s.component_version,
        s.component_digest,
        s.depends_on,
        s.max_attempts,
        s.timeout_s,
        s.cache_enabled
    )
    .fetch_one(conn)
    .await
}

pub async fn steps(db: impl PgExecutor<'_>, run_id: Uuid) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as!(
        StepRow,
        r#"select s.pipeline_step_id, s.pipeline_run_id, s.name, s.position, s.component_name, s.component_version,
                  s.component_digest, s.state::text as "state!", s.depends_on, s.attempt, s.max_attempts, s.timeout_s,
                  s.cache_enabled, s.job_id, s.inputs, s.outputs, s.cache_key, s.cached_from,
                  c.pipeline_run_id as "cached_from_run?", s.external, s.error, s.started_at, s.finished_at
           from pipeline_step s left join pipeline_step c on c.pipeline_step_id = s.cached_from
           where s.pipeline_run_id = $1 order by s.position"#,
        run_id
    )
    .fetch_all(db)
    .await
}

/// Pending steps of a run whose dependencies have all ended: all that `advance` may
/// move. Chosen in SQL so a step's end does not read every row of a 1,000-step run.
/// With `among`, only those steps are considered (the dependents of the steps that
/// just ended), found through the `(run, name)` index.
pub async fn ready_steps(
    conn: &mut PgConnection,
    run_id: Uuid,
    among: Option<&[String]>,
) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as!(
        StepRow,
        r#"select s.pipeline_step_id, s.pipeline_run_id, s.name, s.position, s.component_name, s.component_version,
                  s.component_digest, s.state::text as "state!", s.depends_on, s.attempt, s.max_attempts, s.timeout_s,
                  s.cache_enabled, s.job_id, s.inputs, s.outputs, s.cache_key, s.cached_from,
                  c.pipeline_run_id as "cached_from_run?", s.external, s.error, s.started_at, s.finished_at
           from pipeline_step s left join pipeline_step c on c.pipeline_step_id = s.cached_from
           where s.pipeline_run_id = $1 and s.state = 'pending'
             and ($2::text[] is null or s.name = any($2))
             and not exists (
                 select 1 from unnest(s.depends_on) as d(name)
                 left join pipeline_step u on u.pipeline_run_id = s.pipeline_run_id and u.name = d.name
                 where u.state is null or u.state not in ('succeeded', 'cached', 'skipped', 'failed', 'cancelled'))
           order by s.position"#,
        run_id,
        among as Option<&[String]>
    )
    .fetch_all(conn)
    .await
}

/// Some steps of a run by name (the dependencies of the ready ones).
pub async fn steps_named(
    conn: &mut PgConnection,
    run_id: Uuid,
    names: &[String],
) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as!(
        StepRow,
        r#"select s.pipeline_step_id, s.pipeline_run_id, s.name, s.position, s.component_name, s.component_version,
                  s.component_digest, s.state::text as "state!", s.depends_on, s.attempt, s.max_attempts, s.timeout_s,
                  s.cache_enabled, s.job_id, s.inputs, s.outputs, s.cache_key, s.cached_from,
                  c.pipeline_run_id as "cached_from_run?", s.external, s.error, s.started_at, s.finished_at
           from pipeline_step s left join pipeline_step c on c.pipeline_step_id = s.cached_from
           where s.pipeline_run_id = $1 and s.name = any($2)"#,
        run_id,
        names
    )
    .fetch_all(conn)
    .await
}

pub async fn step(db: impl PgExecutor<'_>, step_id: Uuid) -> sqlx::Result<Option<StepRow>> {
    sqlx::query_as!(
        StepRow,
        r#"select s.pipeline_step_id, s.pipeline_run_id, s.name, s.position, s.component_name, s.component_version,
                  s.component_digest, s.state::text as "state!", s.depends_on, s.attempt, s.max_attempts, s.timeout_s,
                  s.cache_enabled, s.job_id, s.inputs, s.outputs, s.cache_key, s.cached_from,
                  c.pipeline_run_id as "cached_from_run?", s.external, s.error, s.started_at, s.finished_at
           from pipeline_step s left join pipeline_step c on c.pipeline_step_id = s.cached_from
           where s.pipeline_step_id = $1"#,
        step_id
    )
    .fetch_optional(db)
    .await
}

/// A pending step becomes queued with its job, resolved inputs and cache key.
pub async fn queue_step(
    conn: &mut PgConnection,
    step_id: Uuid,
    job_id: Uuid,
    inputs: &Value,
    cache_key: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update pipeline_step set state = 'queued', job_id = $2, inputs = $3, cache_key = $4
         where pipeline_step_id = $1 and state = 'pending'",
        step_id,
        job_id,
        inputs,
        cache_key
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest successful execution with this cache key, in another run.
pub async fn cache_hit(
    db: impl PgExecutor<'_>,
    cache_key: &str,
    run_id: Uuid,
) -> sqlx::Result<Option<(Uuid, Value)>> {
    let row = sqlx::query!(
        "select pipeline_step_id, outputs from pipeline_step
         where cache_key = $1 and state = 'succeeded' and pipeline_run_id <> $2
         order by finished_at desc limit 1",
        cache_key,
        run_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.pipeline_step_id, r.outputs)))
}

/// A pending step finishes without running: cached (with the source's outputs) or
/// skipped (with the reason in `error`).
#[allow(clippy::too_many_arguments)]
pub async fn settle_pending(
    conn: &mut PgConnection,
    step_id: Uuid,
    state: &str,
    inputs: &Value,
    outputs: &Value,
    cache_key: Option<&str>,
    cached_from: Option<Uuid>,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update pipeline_step set state = $2::text::pipeline_step_state, inputs = $3, outputs = $4,
                cache_key = $5, cached_from = $6, error = $7, finished_at = now()
         where pipeline_step_id = $1 and state = 'pending'",
        step_id,
        state,
        inputs,
        outputs,
        cache_key,
        cached_from,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The job's attempt takes the step (fenced: only the step's current job may).
pub async fn start_step(
    conn: impl PgExecutor<'_>,
    step_id: Uuid,
    job_id: Uuid,
    attempt: i32,
) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update pipeline_step set state = 'running', attempt = $3, started_at = coalesce(started_at, now())
         where pipeline_step_id = $1 and job_id = $2 and state in ('queued', 'running', 'waiting')",
        step_id,
        job_id,
        attempt
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Ends a running step (succeeded or failed), fenced by job and attempt. False when
/// the step is no longer this attempt's (cancelled, or taken over).
#[allow(clippy::too_many_arguments)]
pub async fn finish_step(
    conn: &mut PgConnection,
    step_id: Uuid,
    job_id: Uuid,
    attempt: i32,
    state: &str,
    outputs: &Value,
    error: Option<&str>,
) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update pipeline_step set state = $4::text::pipeline_step_state, outputs = $5, error = $6, finished_at = now()
         where pipeline_step_id = $1 and job_id = $2 and attempt = $3 and state = 'running'",
        step_id,
        job_id,
        attempt,
        state,
        outputs,
        error
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A running step hands over to a new job: back to queued for a retry (keeping the
/// error for display), or waiting on external work polled by `next_job`.
#[allow(clippy::too_many_arguments)]
pub async fn hand_over(
    conn: &mut PgConnection,
    step_id: Uuid,
    job_id: Uuid,
    attempt: i32,
    state: &str,
    next_job: Uuid,
    external: Option<&Value>,
    error: Option<&str>,
) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update pipeline_step set state = $4::text::pipeline_step_state, job_id = $5,
                external = coalesce($6, external), error = $7
         where pipeline_step_id = $1 and job_id = $2 and attempt = $3 and state = 'running'",
        step_id,
        job_id,
        attempt,
        state,
        next_job,
        external,
        error
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A retry: the step stays the job's, queued again, with the error shown.
pub async fn requeue_step(
    conn: impl PgExecutor<'_>,
    step_id: Uuid,
    job_id: Uuid,
    attempt: i32,
    error: &str,
) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "update pipeline_step set state = 'queued', error = $4
         where pipeline_step_id = $1 and job_id = $2 and attempt = $3 and state = 'running'",
        step_id,
        job_id,
        attempt,
        error
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Cancels every unfinished step of a run; returns the jobs of those that were active.
pub async fn cancel_steps(
    conn: &mut PgConnection,
    run_id: Uuid,
    reason: &str,
) -> sqlx::Result<Vec<(Uuid, Option<Value>)>> {
    let rows = sqlx::query!(
        r#"update pipeline_step s set state = 'cancelled', error = coalesce(s.error, $2), finished_at = now()
           from pipeline_step old
           where old.pipeline_step_id = s.pipeline_step_id and s.pipeline_run_id = $1
             and s.state in ('pending', 'queued', 'running', 'waiting')
           returning s.job_id, old.state::text as "old_state!", s.external"#,
        run_id,
        reason
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.old_state != "pending")
        .filter_map(|r| r.job_id.map(|j| (j, r.external)))
        .collect())
}

/// Steps of unfinished runs that wait on external work (for the poller's safety net).
pub async fn step_ids_by_job(db: impl PgExecutor<'_>, job_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!("select pipeline_step_id from pipeline_step where job_id = $1", job_id)
        .fetch_all(db)
        .await
}

/// Copies a finished step of an earlier run into a re-run as cached.
pub async fn copy_step_as_cached(conn: &mut PgConnection, step_id: Uuid, from: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update pipeline_step s set state = 'cached', inputs = f.inputs, outputs = f.outputs,
                cache_key = f.cache_key, cached_from = coalesce(f.cached_from, f.pipeline_step_id), finished_at = now()
         from pipeline_step f where s.pipeline_step_id = $1 and f.pipeline_step_id = $2",
        step_id,
        from
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A dataset version by dataset name and number (newest when None), as a step input.
pub async fn dataset_version_value(
    db: impl PgExecutor<'_>,
    dataset: &str,
    version: Option<i32>,
) -> sqlx::Result<Option<Value>> {
    sqlx::query_scalar!(
        r#"select json_build_object('dataset', d.name, 'dataset_id', d.dataset_id, 'version', v.version,
                  'version_id', v.dataset_version_id, 'content_hash', v.content_hash,
                  'artifact_id', v.lineage_artifact_id)::jsonb as "value!"
           from dataset d join dataset_version v on v.dataset_id = d.dataset_id
           where lower(d.name) = lower($1) and ($2::int is null or v.version = $2)
           order by v.version desc limit 1"#,
        dataset,
        version
    )
    .fetch_optional(db)
    .await
}

/// The version ids `models:/<name>@<alias>` references point at now, for cache keys:
/// a step whose input names an alias must miss the cache once the alias moves.
pub async fn alias_targets(
    conn: &mut PgConnection,
    names: &[String],
    aliases: &[String],
) -> sqlx::Result<Vec<(String, String, Uuid)>> {
    let rows = sqlx::query!(
        r#"select r.name as "name!", t.alias as "alias!", a.model_version_id
           from unnest($1::text[], $2::text[]) as t(name, alias)
           join registered_model r on lower(r.name) = lower(t.name)
           join model_alias a on a.registered_model_id = r.registered_model_id and lower(a.alias) = lower(t.alias)"#,
        names,
        aliases
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.alias, r.model_version_id)).collect())
}
