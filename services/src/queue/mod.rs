//! The job queue: Postgres rows claimed with `for update skip locked`, held by a lease
//! that a heartbeat renews, never by an open transaction (an hour-long training step
//! must not pin a connection or stall vacuum). See `shared/style.md` §2.3.
//!
//! - **Enqueue** inside the caller's transaction ([`enqueue`]), so a job exists exactly
//!   when the write that caused it commits. An insert trigger sends `pg_notify`, which
//!   wakes idle workers; they also poll, so a lost notification only costs latency.
//! - **Claim** in batches ([`claim`]); each claim bumps `attempts`, which together with
//!   `locked_by` fences every later write: a worker whose lease expired and was taken
//!   over gets a [`lease_lost`] `Conflict` when it tries to finish ([`complete`], [`fail`]).
//! - **Failure** re-queues with exponential backoff until `max_attempts`, then the job
//!   is `failed` with the last error. A [`Permanent`] error skips the retries.
//! - **Reaper**: every worker re-queues jobs whose lease expired (their worker died).
//! - **Cancel** ([`cancel`]): a queued job is cancelled at once; a running job is
//!   flagged, its worker's heartbeat sees the flag and trips the job's
//!   [`JobCtx::cancellation`] token, which the handler checks at step boundaries.
//!
//! A job row is one unit of background work, not the domain outcome: a run or a
//! pipeline step keeps its own state in its own table.
//!
//! Wiring (what `cairn serve` / `cairn worker` do):
//!
//! ```ignore
//! let registry = JobRegistry::new()
//!     .register::<TrainStep>()              // every kind this process runs
//!     .provide(state.clone());              // handlers: ctx.require::<AppState>()
//! let registry = services::webhooks::install(registry, Duration::from_secs(10), state.secrets().ok().cloned())?;
//! let workers = worker::start(pool.clone(), registry, WorkerConfig { concurrency: 4, ..Default::default() });
//! let scheduler = services::schedule::start(pool.clone(), SchedulerConfig::default());
//! // ... on SIGTERM:
//! scheduler.shutdown().await;
//! workers.shutdown().await;                 // stop claiming, grace, release leases
//! ```
//!
//! For the API: [`list`], [`get`], [`cancel`], [`retry`], [`counts`], [`read_log`]
//! (SSE: poll with the last line number sent), all taking the pool.

pub mod bench;
mod ctx;
mod registry;
pub mod worker;

pub use crate::db::jobs::JobState;
pub use ctx::{CancelReason, JobCtx};
pub use registry::JobRegistry;

use crate::db::jobs as q;
use crate::error::ResultExt;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use domain::{DEFAULT_PROJECT_ID, JobId, ProjectId, ValidationError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{PgConnection, PgPool};
use std::future::Future;
use std::time::Duration;

/// A typed kind of job. The payload is the value itself, stored as JSON, so a job
/// survives restarts and can run on any worker that has the kind registered.
///
/// Handlers must be idempotent (an attempt can be cut short by a lost lease and run
/// again) and should check [`JobCtx::is_cancelled`] between steps. CPU-heavy work
/// belongs in [`JobCtx::run_blocking`]: handlers share the async runtime with the web
/// server when workers are embedded in `cairn serve`.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stored in `job.kind`; never rename a kind that may still be queued.
    const KIND: &'static str;
    /// The queue workers claim from, e.g. `cpu` or `gpu` later.
    const QUEUE: &'static str = "default";
    const MAX_ATTEMPTS: i32 = 5;

    fn run(self, ctx: JobCtx) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Wrap a handler's error in this to fail the job at once, without retries: retrying
/// a malformed payload or a rejected request only delays the same answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// Per-enqueue overrides of the [`Job`]'s defaults.
#[derive(Clone, Debug, Default)]
pub struct EnqueueOptions {
    pub project_id: Option<ProjectId>,
    /// Higher runs first.
    pub priority: i16,
    /// Not before this time (default: now).
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: Option<i32>,
    pub queue: Option<String>,
    /// At most one queued-or-running job per key; a second enqueue is a `Conflict`.
    pub dedup_key: Option<String>,
}

/// Enqueues `job` in the caller's transaction (pass `&mut *tx`), so it becomes
/// visible to workers only when that transaction commits.
pub async fn enqueue<J: Job>(conn: &mut PgConnection, job: &J) -> Result<JobId> {
    enqueue_with(conn, job, EnqueueOptions::default()).await
}

pub async fn enqueue_with<J: Job>(conn: &mut PgConnection, job: &J, opts: EnqueueOptions) -> Result<JobId> {
    let payload = serde_json::to_value(job).map_err(|e| Error::Other(e.into()))?;
    let opts = EnqueueOptions { max_attempts: opts.max_attempts.or(Some(J::MAX_ATTEMPTS)), ..opts };
    enqueue_raw(conn, J::KIND, J::QUEUE, &payload, &opts).await
}

/// Enqueues a job whose kind and payload are data (a schedule's, a retried webhook's).
/// Prefer [`enqueue`], which cannot get the payload shape wrong.
pub async fn enqueue_raw(
    conn: &mut PgConnection,
    kind: &str,
    default_queue: &str,
    payload: &serde_json::Value,
    opts: &EnqueueOptions,
) -> Result<JobId> {
    let max_attempts = opts.max_attempts.unwrap_or(5);
    if max_attempts < 1 {
        return Err(ValidationError::new("max_attempts", "must be at least 1").into());
    }
    let new = q::NewJob {
        project_id: opts.project_id.unwrap_or(DEFAULT_PROJECT_ID).0,
        kind,
        queue: opts.queue.as_deref().unwrap_or(default_queue),
        payload,
        priority: opts.priority,
        run_at: opts.run_at,
        max_attempts,
        dedup_key: opts.dedup_key.as_deref(),
    };
    let id = q::insert(conn, &new).await.on_constraint("job_dedup_key", || {
        Error::Conflict(format!(
            "a job with key '{}' is already queued or running",
            opts.dedup_key.as_deref().unwrap_or_default()
        ))
    })?;
    Ok(JobId(id))
}

/// A job as the API and the UI see it. Not `Serialize`: the HTTP layer maps it to its
/// DTO, so the wire format can change without touching the queue.
#[derive(Clone, Debug)]
pub struct JobInfo {
    pub job_id: JobId,
    pub project_id: ProjectId,
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

impl From<q::JobRow> for JobInfo {
    fn from(r: q::JobRow) -> Self {
        Self {
            job_id: JobId(r.job_id),
            project_id: ProjectId(r.project_id),
            kind: r.kind,
            queue: r.queue,
            payload: r.payload,
            priority: r.priority,
            state: r.state,
            run_at: r.run_at,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            locked_by: r.locked_by,
            lease_expires_at: r.lease_expires_at,
            cancel_requested: r.cancel_requested,
            last_error: r.last_error,
            dedup_key: r.dedup_key,
            started_at: r.started_at,
            finished_at: r.finished_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Position in the newest-first job list. Its string form (`<micros>_<uuid>`) is an
/// opaque page token for URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobCursor {
    pub created_at: DateTime<Utc>,
    pub job_id: JobId,
}

impl std::fmt::Display for JobCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.created_at.timestamp_micros(), self.job_id)
    }
}

impl std::str::FromStr for JobCursor {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValidationError::new("cursor", "is not a page token returned by the job list");
        let (micros, id) = s.split_once('_').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        let job_id = id.parse().map_err(|_| bad())?;
        Ok(Self { created_at, job_id })
    }
}

#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub project_id: Option<ProjectId>,
    /// Continue after this position (the `next` of the previous page).
    pub after: Option<JobCursor>,
    /// 1..=500; 0 means the default of 50.
    pub limit: i64,
}

#[derive(Clone, Debug)]
pub struct JobPage {
    pub jobs: Vec<JobInfo>,
    /// Set when there may be more jobs; pass it as [`JobFilter::after`].
    pub next: Option<JobCursor>,
}

/// Newest first, filtered by state/kind/project, keyset-paged.
#[tracing::instrument(skip_all)]
pub async fn list(db: &PgPool, filter: &JobFilter) -> Result<JobPage> {
    let limit = match filter.limit {
        0 => 50,
        n if (1..=500).contains(&n) => n,
        _ => return Err(ValidationError::new("limit", "must be between 1 and 500").into()),
    };
    let rows = q::list(
        db,
        filter.state,
        filter.kind.as_deref(),
        filter.project_id.map(|p| p.0),
        filter.after.map(|c| (c.created_at, c.job_id.0)),
        limit,
    )
    .await?;
    let next = if rows.len() as i64 == limit {
        rows.last().map(|r| JobCursor { created_at: r.created_at, job_id: JobId(r.job_id) })
    } else {
        None
    };
    Ok(JobPage { jobs: rows.into_iter().map(Into::into).collect(), next })
}

#[tracing::instrument(skip_all, fields(job.id = %id))]
pub async fn get(db: &PgPool, id: JobId) -> Result<JobInfo> {
    q::get(db, id.0).await?.map(Into::into).ok_or_else(|| Error::not_found("job", id))
}

/// Cancels a queued job at once; asks a running job to stop (its worker's next
/// heartbeat trips the handler's cancellation token). Returns the job afterwards:
/// `cancelled`, or `running` with `cancel_requested`. A finished job is a `Conflict`.
#[tracing::instrument(skip_all, fields(job.id = %id))]
pub async fn cancel(db: &PgPool, id: JobId) -> Result<JobInfo> {
    match q::request_cancel(db, id.0).await? {
        None => Err(Error::not_found("job", id)),
        Some((state, _)) if state.is_final() && state != JobState::Cancelled => {
            Err(Error::Conflict(format!("job {id} has already {state}; there is nothing to cancel")))
        }
        Some(_) => get(db, id).await,
    }
}

/// Queues a failed or cancelled job again with fresh attempts.
#[tracing::instrument(skip_all, fields(job.id = %id))]
pub async fn retry(db: &PgPool, id: JobId) -> Result<JobInfo> {
    let retried = q::retry(db, id.0).await.on_constraint("job_dedup_key", || {
        Error::Conflict(format!("job {id} cannot be retried: another job with its key is queued or running"))
    })?;
    match retried {
        Some(_) => get(db, id).await,
        None => {
            let job = get(db, id).await?;
            Err(Error::Conflict(format!(
                "job {id} is {}; only failed or cancelled jobs can be retried",
                job.state
            )))
        }
    }
}

/// How many jobs are in each state (for the dashboard and metrics).
pub async fn counts(db: &PgPool) -> Result<Vec<(JobState, i64)>> {
    Ok(q::count_by_state(db).await?.into_iter().map(|r| (r.state, r.count)).collect())
}

/// One line of a job's log; `line_no` counts from 1 per job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub line_no: i32,
    pub line: String,
    pub created_at: DateTime<Utc>,
}

/// Appends lines to a job's log and returns the number of the last one. Retries once
/// if another writer took the same line numbers.
pub async fn append_log(db: &PgPool, id: JobId, lines: &[String]) -> Result<i32> {
    if lines.is_empty() {
        return Ok(0);
    }
    let mut tries = 0;
    loop {
        match q::append_log(db, id.0, lines)
            .await
            .on_constraint("job_log_line_key", || Error::Conflict("log line numbers raced".into()))
        {
            Err(Error::Conflict(_)) if tries < 3 => tries += 1,
            Err(Error::Db(sqlx::Error::Database(e))) if e.is_foreign_key_violation() => {
                return Err(Error::not_found("job", id));
            }
            other => return other,
        }
    }
}

/// Lines after `after_line` (0 for the start), at most `limit`; an SSE stream calls
/// this with the last number it sent.
pub async fn read_log(db: &PgPool, id: JobId, after_line: i32, limit: i64) -> Result<Vec<LogLine>> {
    let rows = q::read_log(db, id.0, after_line, limit.clamp(1, 10_000)).await?;
    Ok(rows
        .into_iter()
        .map(|r| LogLine { line_no: r.line_no, line: r.line, created_at: r.created_at })
        .collect())
}

/// One attempt a worker holds. `attempt` is the fencing token for [`complete`]/[`fail`].
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub job_id: JobId,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub attempt: i32,
    pub max_attempts: i32,
    pub worker: String,
}

/// Claims up to `limit` due jobs of the given queues and kinds for `worker`, with a
/// lease of `lease`. Workers call this; it is public for tools and tests that drive the
/// protocol by hand.
pub async fn claim(
    db: &PgPool,
    worker: &str,
    queues: &[String],
    kinds: &[String],
    limit: usize,
    lease: Duration,
) -> Result<Vec<ClaimedJob>> {
    let rows = q::claim(db, worker, queues, kinds, limit as i64, millis(lease)).await?;
    Ok(rows
        .into_iter()
        .map(|r| ClaimedJob {
            job_id: JobId(r.job_id),
            kind: r.kind,
            queue: r.queue,
            payload: r.payload,
            attempt: r.attempts,
            max_attempts: r.max_attempts,
            worker: worker.to_string(),
        })
        .collect())
}

/// The error for a write refused by the fencing token: the lease expired and another
/// attempt owns the job now. A `Conflict` because the worker holds a stale version.
pub fn lease_lost(id: JobId) -> Error {
    Error::Conflict(format!("{LEASE_LOST}: job {id} belongs to a newer attempt"))
}

/// True for the error [`lease_lost`] makes.
pub fn is_lease_lost(e: &Error) -> bool {
    matches!(e, Error::Conflict(m) if m.starts_with(LEASE_LOST))
}

const LEASE_LOST: &str = "the lease was lost";

/// Marks the attempt succeeded; a [`lease_lost`] conflict if the lease is no longer ours.
pub async fn complete(db: &PgPool, job: &ClaimedJob) -> Result<()> {
    if q::complete(db, job.job_id.0, &job.worker, job.attempt).await? {
        Ok(())
    } else {
        Err(lease_lost(job.job_id))
    }
}

/// Records a failed attempt; returns `queued` (retry after `backoff`) or `failed`.
pub async fn fail(
    db: &PgPool,
    job: &ClaimedJob,
    error: &str,
    backoff: Duration,
    permanent: bool,
) -> Result<JobState> {
    q::fail(db, job.job_id.0, &job.worker, job.attempt, error, millis(backoff), permanent)
        .await?
        .ok_or_else(|| lease_lost(job.job_id))
}

/// Renews the lease. Returns whether a cancel was requested; a [`lease_lost`] conflict if
/// the lease is gone.
pub async fn heartbeat(db: &PgPool, job: &ClaimedJob, lease: Duration) -> Result<bool> {
    let rows = q::heartbeat(db, &job.worker, &[job.job_id.0], &[job.attempt], millis(lease)).await?;
    rows.first().map(|r| r.cancel_requested).ok_or_else(|| lease_lost(job.job_id))
}

/// Re-queues (or fails, or cancels) jobs whose lease expired; returns how many.
pub async fn reap_expired(db: &PgPool) -> Result<usize> {
    let reaped = q::reap_expired(db, 1000).await?;
    for r in &reaped {
        tracing::warn!(job.id = %r.job_id, job.state = %r.state, "reaped a job whose lease expired");
    }
    Ok(reaped.len())
}

/// `base * 2^(attempt-1)`, capped at `max`: quick first retries for blips, then
/// spaced out so a broken dependency is not hammered.
pub fn backoff(attempt: i32, base: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).clamp(0, 30) as u32;
    base.saturating_mul(2u32.saturating_pow(exp)).min(max)
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        let m = Duration::from_secs(60);
        assert_eq!(backoff(1, b, m), Duration::from_secs(1));
        assert_eq!(backoff(2, b, m), Duration::from_secs(2));
        assert_eq!(backoff(4, b, m), Duration::from_secs(8));
        assert_eq!(backoff(40, b, m), m);
    }

    #[test]
    fn cursors_round_trip() {
        let c = JobCursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            job_id: JobId(uuid::Uuid::new_v4()),
        };
        assert_eq!(c.to_string().parse::<JobCursor>().unwrap(), c);
        assert!("nope".parse::<JobCursor>().is_err());
    }
}
