//! SQL for `schedule`. Firing a tick is `claim_due` + `advance` in one transaction:
//! the row lock (`skip locked`) keeps other schedulers off the row, and `advance` only
//! moves `next_run_at` from the exact tick that was read, so a tick fires once even if
//! the lock were somehow bypassed.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct ScheduleRow {
    pub schedule_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub priority: i16,
    pub max_attempts: i32,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The editable fields, for insert and update alike.
pub struct ScheduleFields<'a> {
    pub name: &'a str,
    pub cron: &'a str,
    pub timezone: &'a str,
    pub kind: &'a str,
    pub queue: &'a str,
    pub payload: &'a serde_json::Value,
    pub priority: i16,
    pub max_attempts: i32,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    f: &ScheduleFields<'_>,
) -> sqlx::Result<ScheduleRow> {
    sqlx::query_as!(
        ScheduleRow,
        "insert into schedule (project_id, name, cron, timezone, kind, queue, payload, priority, max_attempts,
                               enabled, next_run_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning schedule_id, project_id, name, cron, timezone, kind, queue, payload, priority, max_attempts,
                   enabled, next_run_at, last_run_at, last_job_id, created_at, updated_at",
        project_id,
        f.name,
        f.cron,
        f.timezone,
        f.kind,
        f.queue,
        f.payload,
        f.priority,
        f.max_attempts,
        f.enabled,
        f.next_run_at,
    )
    .fetch_one(db)
    .await
}

pub async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    f: &ScheduleFields<'_>,
) -> sqlx::Result<Option<ScheduleRow>> {
    sqlx::query_as!(
        ScheduleRow,
        "update schedule
         set name = $2, cron = $3, timezone = $4, kind = $5, queue = $6, payload = $7, priority = $8,
             max_attempts = $9, enabled = $10, next_run_at = $11
         where schedule_id = $1
         returning schedule_id, project_id, name, cron, timezone, kind, queue, payload, priority, max_attempts,
                   enabled, next_run_at, last_run_at, last_job_id, created_at, updated_at",
        id,
        f.name,
        f.cron,
        f.timezone,
        f.kind,
        f.queue,
        f.payload,
        f.priority,
        f.max_attempts,
        f.enabled,
        f.next_run_at,
    )
    .fetch_optional(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ScheduleRow>> {
    sqlx::query_as!(
        ScheduleRow,
        "select schedule_id, project_id, name, cron, timezone, kind, queue, payload, priority, max_attempts,
                enabled, next_run_at, last_run_at, last_job_id, created_at, updated_at
         from schedule where schedule_id = $1",
        id,
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, project_id: Option<Uuid>) -> sqlx::Result<Vec<ScheduleRow>> {
    sqlx::query_as!(
        ScheduleRow,
        "select schedule_id, project_id, name, cron, timezone, kind, queue, payload, priority, max_attempts,
                enabled, next_run_at, last_run_at, last_job_id, created_at, updated_at
         from schedule
         where ($1::uuid is null or project_id = $1)
         order by lower(name), schedule_id",
        project_id,
    )
    .fetch_all(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query!("delete from schedule where schedule_id = $1", id).execute(db).await?;
    Ok(r.rows_affected() == 1)
}

/// Locks one due schedule that no other scheduler holds.
pub async fn claim_due(conn: &mut PgConnection) -> sqlx::Result<Option<ScheduleRow>> {
    sqlx::query_as!(
        ScheduleRow,
        "select schedule_id, project_id, name, cron, timezone, kind, queue, payload, priority, max_attempts,
                enabled, next_run_at, last_run_at, last_job_id, created_at, updated_at
         from schedule
         where enabled and next_run_at <= now()
         order by next_run_at
         limit 1
         for update skip locked",
    )
    .fetch_optional(conn)
    .await
}

/// Moves the schedule from `tick` to `next`; false if `tick` was already fired.
pub async fn advance(
    conn: &mut PgConnection,
    id: Uuid,
    tick: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    job_id: Option<Uuid>,
) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update schedule set next_run_at = $3, last_run_at = $2, last_job_id = coalesce($4, last_job_id)
         where schedule_id = $1 and next_run_at = $2 and enabled",
        id,
        tick,
        next,
        job_id,
    )
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// When the next schedule is due, so a scheduler can sleep until then.
pub async fn next_due(db: impl PgExecutor<'_>) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!("select min(next_run_at) from schedule where enabled").fetch_one(db).await
}
