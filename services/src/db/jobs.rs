//! SQL for the job queue (`job`, `job_log`). The queue protocol (claim, heartbeat,
//! fenced completion, reaping) is described in `services::queue`.
//!
//! Every write a worker makes is fenced by `locked_by = $worker and attempts = $attempt`:
//! the attempt number is bumped by every claim, so it is a fencing token even when the
//! same worker id claims a job again after its own lease expired.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Where a job is in its life. `failed` and `cancelled` can be retried from the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "job_state", rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// True once nothing will happen to the job unless someone retries it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl std::str::FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => return Err(format!("unknown job state '{other}'")),
        })
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as stored.
#[derive(Clone, Debug)]
pub struct JobRow {
    pub job_id: Uuid,
    pub project_id: Uuid,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub priority: i16,
    pub state: JobState,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub last_error: Option<String>,
    pub dedup_key: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a worker needs to run a claimed job; `attempts` is its fencing token.
#[derive(Clone, Debug)]
pub struct ClaimedRow {
    pub job_id: Uuid,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

pub struct NewJob<'a> {
    pub project_id: Uuid,
    pub kind: &'a str,
    pub queue: &'a str,
    pub payload: &'a serde_json::Value,
    pub priority: i16,
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: i32,
    pub dedup_key: Option<&'a str>,
}

pub async fn insert(conn: &mut PgConnection, job: &NewJob<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into job (project_id, kind, queue, payload, priority, run_at, max_attempts, dedup_key)
         values ($1, $2, $3, $4, $5, coalesce($6, now()), $7, $8)
         returning job_id",
        job.project_id,
        job.kind,
        job.queue,
        job.payload,
        job.priority,
        job.run_at,
        job.max_attempts,
        job.dedup_key,
    )
    .fetch_one(conn)
    .await
}

/// Claims up to `limit` due jobs of the given queues and kinds in one statement.
/// `skip locked` lets concurrent claimers pass over each other's rows instead of
/// queueing behind them, so each row goes to exactly one claimer.
pub async fn claim(
    db: impl PgExecutor<'_>,
    worker: &str,
    queues: &[String],
    kinds: &[String],
    limit: i64,
    lease_ms: i64,
) -> sqlx::Result<Vec<ClaimedRow>> {
    sqlx::query_as!(
        ClaimedRow,
        "with next as (
             select job_id from job
             where state = 'queued' and run_at <= now() and queue = any($1) and kind = any($2)
             order by priority desc, run_at
             limit $3
             for update skip locked
         )
         update job j
         set state = 'running', locked_by = $4, attempts = j.attempts + 1,
             lease_expires_at = now() + make_interval(secs => $5::bigint / 1000.0),
             started_at = now(), finished_at = null
         from next where j.job_id = next.job_id
         returning j.job_id, j.kind, j.queue, j.payload, j.attempts, j.max_attempts",
        queues,
        kinds,
        limit,
        worker,
        lease_ms,
    )
    .fetch_all(db)
    .await
}

/// One heartbeat for all of a worker's running jobs. Returns the jobs whose lease was
/// renewed and whether someone asked to cancel them; a job missing from the answer
/// has lost its lease.
pub struct HeartbeatRow {
    pub job_id: Uuid,
    pub cancel_requested: bool,
}

pub async fn heartbeat(
    db: impl PgExecutor<'_>,
    worker: &str,
    job_ids: &[Uuid],
    attempts: &[i32],
    lease_ms: i64,
) -> sqlx::Result<Vec<HeartbeatRow>> {
    sqlx::query_as!(
        HeartbeatRow,
        "update job j
         set lease_expires_at = now() + make_interval(secs => $4::bigint / 1000.0)
         from unnest($2::uuid[], $3::int[]) as mine(job_id, attempts)
         where j.job_id = mine.job_id and j.attempts = mine.attempts
           and j.locked_by = $1 and j.state = 'running'
         returning j.job_id, j.cancel_requested",
        worker,
        job_ids,
        attempts,
        lease_ms,
    )
    .fetch_all(db)
    .await
}

/// Marks an attempt succeeded; false when the lease was lost (fencing).
pub async fn complete(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    worker: &str,
    attempt: i32,
) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update job set state = 'succeeded', locked_by = null, lease_expires_at = null, finished_at = now()
         where job_id = $1 and locked_by = $2 and attempts = $3 and state = 'running'",
        job_id,
        worker,
        attempt,
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// [`complete`] for many attempts in one statement (one commit instead of one per
/// job, which is what bounds throughput for short jobs). Returns the jobs it
/// completed; the others lost their lease.
pub async fn complete_many(
    db: impl PgExecutor<'_>,
    worker: &str,
    job_ids: &[Uuid],
    attempts: &[i32],
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "update job j
         set state = 'succeeded', locked_by = null, lease_expires_at = null, finished_at = now()
         from unnest($2::uuid[], $3::int[]) as mine(job_id, attempts)
         where j.job_id = mine.job_id and j.attempts = mine.attempts
           and j.locked_by = $1 and j.state = 'running'
         returning j.job_id",
        worker,
        job_ids,
        attempts,
    )
    .fetch_all(db)
    .await
}

/// Ends an attempt that a cancel request stopped; false when the lease was lost.
pub async fn finish_cancelled(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    worker: &str,
    attempt: i32,
) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update job set state = 'cancelled', locked_by = null, lease_expires_at = null, finished_at = now(),
                        last_error = coalesce(last_error, 'cancelled while running')
         where job_id = $1 and locked_by = $2 and attempts = $3 and state = 'running'",
        job_id,
        worker,
        attempt,
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a failed attempt: back to `queued` at `now() + backoff`, or `failed` once
/// the attempts are used up. Returns the new state, or `None` when the lease was lost.
pub async fn fail(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    worker: &str,
    attempt: i32,
    error: &str,
    backoff_ms: i64,
    permanent: bool,
) -> sqlx::Result<Option<JobState>> {
    sqlx::query_scalar!(
        r#"update job
           set state = case when attempts >= max_attempts or $6 then 'failed'::job_state else 'queued'::job_state end,
               run_at = case when attempts >= max_attempts or $6 then run_at
                             else now() + make_interval(secs => $5::bigint / 1000.0) end,
               finished_at = case when attempts >= max_attempts or $6 then now() else null end,
               locked_by = null, lease_expires_at = null, last_error = $4
           where job_id = $1 and locked_by = $2 and attempts = $3 and state = 'running'
           returning state as "state: JobState""#,
        job_id,
        worker,
        attempt,
        error,
        backoff_ms,
        permanent,
    )
    .fetch_optional(db)
    .await
}

/// Hands unfinished jobs back at shutdown without spending an attempt on them.
pub async fn release(
    db: impl PgExecutor<'_>,
    worker: &str,
    job_ids: &[Uuid],
    attempts: &[i32],
) -> sqlx::Result<u64> {
    let r = sqlx::query!(
        "update job j
         set state = 'queued', locked_by = null, lease_expires_at = null, run_at = now(),
             attempts = greatest(j.attempts - 1, 0), started_at = null
         from unnest($2::uuid[], $3::int[]) as mine(job_id, attempts)
         where j.job_id = mine.job_id and j.attempts = mine.attempts
           and j.locked_by = $1 and j.state = 'running'",
        worker,
        job_ids,
        attempts,
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

pub struct ReapedRow {
    pub job_id: Uuid,
    pub state: JobState,
}

/// Jobs whose worker stopped heartbeating: back to `queued` (or `failed` when out
/// of attempts, `cancelled` when a cancel was pending). `skip locked` lets every
/// worker run the reaper without two of them fighting over a row.
pub async fn reap_expired(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<ReapedRow>> {
    sqlx::query_as!(
        ReapedRow,
        r#"with expired as (
               select job_id from job
               where state = 'running' and lease_expires_at < now()
               order by lease_expires_at
               limit $1
               for update skip locked
           )
           update job j
           set state = case when j.cancel_requested then 'cancelled'::job_state
                            when j.attempts >= j.max_attempts then 'failed'::job_state
                            else 'queued'::job_state end,
               finished_at = case when j.cancel_requested or j.attempts >= j.max_attempts then now() else null end,
               run_at = now(),
               last_error = 'lease expired: the worker ' || coalesce(j.locked_by, '?') || ' stopped heartbeating',
               locked_by = null, lease_expires_at = null
           from expired where j.job_id = expired.job_id
           returning j.job_id, j.state as "state: JobState""#,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Cancels a queued job at once, or flags a running one for its worker's heartbeat.
/// Returns the state after the call, `None` if the job does not exist.
pub async fn request_cancel(db: impl PgExecutor<'_>, job_id: Uuid) -> sqlx::Result<Option<(JobState, bool)>> {
    let row = sqlx::query!(
        r#"update job
           set state = case when state = 'queued' then 'cancelled'::job_state else state end,
               finished_at = case when state = 'queued' then now() else finished_at end,
               cancel_requested = cancel_requested or state in ('queued', 'running')
           where job_id = $1
           returning state as "state: JobState", cancel_requested"#,
        job_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.state, r.cancel_requested)))
}

/// Puts a finished-unsuccessfully job back in the queue with fresh attempts.
/// `None` if the job does not exist or is not failed/cancelled.
pub async fn retry(db: impl PgExecutor<'_>, job_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "update job
         set state = 'queued', attempts = 0, run_at = now(), cancel_requested = false,
             locked_by = null, lease_expires_at = null, started_at = null, finished_at = null
         where job_id = $1 and state in ('failed', 'cancelled')
         returning job_id",
        job_id,
    )
    .fetch_optional(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, job_id: Uuid) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as!(
        JobRow,
        r#"select job_id, project_id, kind, queue, payload, priority, state as "state: JobState", run_at,
                  attempts, max_attempts, locked_by, lease_expires_at, cancel_requested, last_error,
                  dedup_key, started_at, finished_at, created_at, updated_at
           from job where job_id = $1"#,
        job_id,
    )
    .fetch_optional(db)
    .await
}

/// Newest first, keyset-paged on (created_at, job_id): stable under inserts and as
/// cheap for page 100 as for page 1.
pub async fn list(
    db: impl PgExecutor<'_>,
    state: Option<JobState>,
    kind: Option<&str>,
    project_id: Option<Uuid>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<JobRow>> {
    let (before_at, before_id) = before.map_or((None, None), |(t, id)| (Some(t), Some(id)));
    sqlx::query_as!(
        JobRow,
        r#"select job_id, project_id, kind, queue, payload, priority, state as "state: JobState", run_at,
                  attempts, max_attempts, locked_by, lease_expires_at, cancel_requested, last_error,
                  dedup_key, started_at, finished_at, created_at, updated_at
           from job
           where ($1::job_state is null or state = $1)
             and ($2::text is null or kind = $2)
             and ($3::uuid is null or project_id = $3)
             and ($4::timestamptz is null or (created_at, job_id) < ($4, $5::uuid))
           order by created_at desc, job_id desc
           limit $6"#,
        state as Option<JobState>,
        kind,
        project_id,
        before_at,
        before_id,
        limit,
    )
    .fetch_all(db)
    .await
}

pub struct StateCount {
    pub state: JobState,
    pub count: i64,
}

pub async fn count_by_state(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<StateCount>> {
    sqlx::query_as!(
        StateCount,
        r#"select state as "state!: JobState", count(*) as "count!" from job group by state order by state"#
    )
    .fetch_all(db)
    .await
}

pub struct LogLineRow {
    pub line_no: i32,
    pub line: String,
    pub created_at: DateTime<Utc>,
}

/// Appends lines numbered after the job's last one. A job's lines come from its one
/// running attempt, so two appends racing for a number is rare; the unique index
/// turns that race into an error the caller retries.
pub async fn append_log(db: impl PgExecutor<'_>, job_id: Uuid, lines: &[String]) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        r#"with base as (select coalesce(max(line_no), 0) as n from job_log where job_id = $1),
                ins as (
                    insert into job_log (job_id, line_no, line)
                    select $1, base.n + l.ord::int, l.line
                    from base, unnest($2::text[]) with ordinality as l(line, ord)
                    returning line_no
                )
           select coalesce(max(line_no), 0) as "last!" from ins"#,
        job_id,
        lines,
    )
    .fetch_one(db)
    .await
}

pub async fn read_log(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    after: i32,
    limit: i64,
) -> sqlx::Result<Vec<LogLineRow>> {
    sqlx::query_as!(
        LogLineRow,
        "select line_no, line, created_at from job_log
         where job_id = $1 and line_no > $2
         order by line_no
         limit $3",
        job_id,
        after,
        limit,
    )
    .fetch_all(db)
    .await
}
