//! Cron schedules that enqueue a job on every tick, fired exactly once across any
//! number of `cairn serve` instances.
//!
//! Cron crate: **croner** (with chrono-tz for IANA zones). It is actively maintained,
//! follows the Open Cron Pattern Specification (5 fields, or 6 with seconds, `L`, `#`,
//! `W`), and evaluates in any `chrono::TimeZone`, resolving DST gaps and overlaps so a
//! `0 2 * * *` in Europe/Berlin neither skips the spring-forward day nor fires twice in
//! autumn. The `cron` crate needs a leading seconds field (surprising next to crontab)
//! and leaves DST handling to the caller.
//!
//! Exactly once: `next_run_at` is the claim token. A scheduler locks a due row with
//! `for update skip locked`, enqueues the job and moves `next_run_at` forward with a
//! conditional update on the tick it read, all in one transaction; the job also
//! carries `dedup_key = schedule:<id>:<tick>`.
//!
//! Missed ticks (every scheduler was down): the latest due tick fires once, and the
//! schedule moves to the next tick in the future; a backlog is not replayed, because a
//! burst of stale retrainings helps nobody.

use crate::db::schedules::{self as q, ScheduleFields, ScheduleRow};
use crate::error::ResultExt;
use crate::queue::{self, EnqueueOptions};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use domain::validation::check_name;
use domain::{DEFAULT_PROJECT_ID, JobId, ProjectId, ScheduleId, ValidationError};
use sqlx::PgPool;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a caller provides to create or replace a schedule.
#[derive(Clone, Debug)]
pub struct ScheduleSpec {
    pub name: String,
    /// 5 fields (minute precision) or 6 (leading seconds).
    pub cron: String,
    /// IANA name such as `Europe/Berlin`; `UTC` when empty.
    pub timezone: String,
    /// The job kind to enqueue (a registered [`queue::Job::KIND`]).
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub priority: i16,
    pub max_attempts: i32,
    pub enabled: bool,
}

impl ScheduleSpec {
    /// A spec that enqueues `job` (its kind, queue and attempts) on `cron` in `timezone`.
    pub fn for_job<J: queue::Job>(name: &str, cron: &str, timezone: &str, job: &J) -> Result<Self> {
        Ok(Self {
            name: name.into(),
            cron: cron.into(),
            timezone: timezone.into(),
            kind: J::KIND.into(),
            queue: J::QUEUE.into(),
            payload: serde_json::to_value(job).map_err(|e| Error::Other(e.into()))?,
            priority: 0,
            max_attempts: J::MAX_ATTEMPTS,
            enabled: true,
        })
    }
}

/// A schedule as the API and UI see it (mapped to a DTO by the HTTP layer).
#[derive(Clone, Debug)]
pub struct ScheduleInfo {
    pub schedule_id: ScheduleId,
    pub project_id: ProjectId,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub priority: i16,
    pub max_attempts: i32,
    pub enabled: bool,
    /// `None` while disabled.
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_job_id: Option<JobId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ScheduleRow> for ScheduleInfo {
    fn from(r: ScheduleRow) -> Self {
        Self {
            schedule_id: ScheduleId(r.schedule_id),
            project_id: ProjectId(r.project_id),
            name: r.name,
            cron: r.cron,
            timezone: r.timezone,
            kind: r.kind,
            queue: r.queue,
            payload: r.payload,
            priority: r.priority,
            max_attempts: r.max_attempts,
            enabled: r.enabled,
            next_run_at: r.next_run_at,
            last_run_at: r.last_run_at,
            last_job_id: r.last_job_id.map(JobId),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Parses a cron expression, naming the field on failure.
pub fn parse_cron(expr: &str) -> Result<Cron, ValidationError> {
    Cron::from_str(expr)
        .map_err(|e| ValidationError::new("cron", format!("is not a valid cron expression: {e}")))
}

pub fn parse_timezone(name: &str) -> Result<Tz, ValidationError> {
    let name = if name.trim().is_empty() { "UTC" } else { name.trim() };
    Tz::from_str(name)
        .map_err(|_| ValidationError::new("timezone", format!("'{name}' is not an IANA time zone")))
}

/// The first tick strictly after `after`, evaluated on the wall clock of `tz`.
pub fn next_tick(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Result<DateTime<Utc>> {
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Other(anyhow::anyhow!("no next tick for '{}': {e}", cron.pattern)))
}

/// The next `n` ticks after `after`, to show a schedule's effect before saving it.
pub fn preview(cron: &str, timezone: &str, after: DateTime<Utc>, n: usize) -> Result<Vec<DateTime<Utc>>> {
    let cron = parse_cron(cron)?;
    let tz = parse_timezone(timezone)?;
    let mut out = Vec::with_capacity(n);
    let mut t = after;
    for _ in 0..n {
        t = next_tick(&cron, tz, t)?;
        out.push(t);
    }
    Ok(out)
}

fn validate(spec: &ScheduleSpec) -> Result<(Cron, Tz)> {
    check_name("name", &spec.name)?;
    if spec.kind.trim().is_empty() {
        return Err(ValidationError::new("kind", "must name a job kind").into());
    }
    if spec.queue.trim().is_empty() {
        return Err(ValidationError::new("queue", "must not be empty").into());
    }
    if spec.max_attempts < 1 {
        return Err(ValidationError::new("max_attempts", "must be at least 1").into());
    }
    Ok((parse_cron(&spec.cron)?, parse_timezone(&spec.timezone)?))
}

fn fields<'a>(spec: &'a ScheduleSpec, tz: &'a str, next: Option<DateTime<Utc>>) -> ScheduleFields<'a> {
    ScheduleFields {
        name: &spec.name,
        cron: spec.cron.trim(),
        timezone: tz,
        kind: &spec.kind,
        queue: &spec.queue,
        payload: &spec.payload,
        priority: spec.priority,
        max_attempts: spec.max_attempts,
        enabled: spec.enabled,
        next_run_at: next,
    }
}

fn name_taken(name: &str) -> impl FnOnce() -> Error + '_ {
    move || {
        Error::Conflict(format!(
            "a schedule named '{name}' already exists in this project; pick another name"
        ))
    }
}

#[tracing::instrument(skip_all, fields(schedule.name = %spec.name))]
pub async fn create(db: &PgPool, project_id: Option<ProjectId>, spec: ScheduleSpec) -> Result<ScheduleInfo> {
    let (cron, tz) = validate(&spec)?;
    let next = if spec.enabled { Some(next_tick(&cron, tz, Utc::now())?) } else { None };
    let tz_name = tz.name().to_string();
    let row = q::insert(db, project_id.unwrap_or(DEFAULT_PROJECT_ID).0, &fields(&spec, &tz_name, next))
        .await
        .on_constraint("schedule_name_key", name_taken(&spec.name))?;
    tracing::info!(schedule.id = %row.schedule_id, "created schedule");
    Ok(row.into())
}

/// Replaces a schedule's fields; the next tick is recomputed from now.
#[tracing::instrument(skip_all, fields(schedule.id = %id))]
pub async fn update(db: &PgPool, id: ScheduleId, spec: ScheduleSpec) -> Result<ScheduleInfo> {
    let (cron, tz) = validate(&spec)?;
    let next = if spec.enabled { Some(next_tick(&cron, tz, Utc::now())?) } else { None };
    let tz_name = tz.name().to_string();
    q::update(db, id.0, &fields(&spec, &tz_name, next))
        .await
        .on_constraint("schedule_name_key", name_taken(&spec.name))?
        .map(Into::into)
        .ok_or_else(|| Error::not_found("schedule", id))
}

/// Enabling starts from the next tick after now (no catch-up of the paused time).
#[tracing::instrument(skip_all, fields(schedule.id = %id, enabled))]
pub async fn set_enabled(db: &PgPool, id: ScheduleId, enabled: bool) -> Result<ScheduleInfo> {
    let current = get(db, id).await?;
    let spec = ScheduleSpec {
        name: current.name,
        cron: current.cron,
        timezone: current.timezone,
        kind: current.kind,
        queue: current.queue,
        payload: current.payload,
        priority: current.priority,
        max_attempts: current.max_attempts,
        enabled,
    };
    update(db, id, spec).await
}

pub async fn get(db: &PgPool, id: ScheduleId) -> Result<ScheduleInfo> {
    q::get(db, id.0).await?.map(Into::into).ok_or_else(|| Error::not_found("schedule", id))
}

/// All schedules (of one project, if given), by name.
pub async fn list(db: &PgPool, project_id: Option<ProjectId>) -> Result<Vec<ScheduleInfo>> {
    Ok(q::list(db, project_id.map(|p| p.0)).await?.into_iter().map(Into::into).collect())
}

#[tracing::instrument(skip_all, fields(schedule.id = %id))]
pub async fn delete(db: &PgPool, id: ScheduleId) -> Result<()> {
    if q::delete(db, id.0).await? { Ok(()) } else { Err(Error::not_found("schedule", id)) }
}

/// One tick that this call fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiredTick {
    pub schedule_id: ScheduleId,
    pub tick: DateTime<Utc>,
    pub job_id: JobId,
}

/// Fires every due tick not being fired by another scheduler, one transaction per
/// schedule, and returns what it fired. A schedule whose stored cron no longer parses
/// is disabled-in-effect (its `next_run_at` cleared) and logged, rather than blocking
/// the others forever.
pub async fn fire_due(db: &PgPool) -> Result<Vec<FiredTick>> {
    let mut fired = Vec::new();
    loop {
        let mut tx = db.begin().await?;
        let Some(row) = q::claim_due(&mut tx).await? else { break };
        let Some(tick) = row.next_run_at else { break };
        let next = match (parse_cron(&row.cron), parse_timezone(&row.timezone)) {
            (Ok(cron), Ok(tz)) => match next_tick(&cron, tz, Utc::now().max(tick)) {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::error!(schedule.id = %row.schedule_id, error = %e, "schedule has no next tick; stopping it");
                    None
                }
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(schedule.id = %row.schedule_id, error = %e, "stored schedule is invalid; stopping it");
                None
            }
        };
        let opts = EnqueueOptions {
            project_id: Some(ProjectId(row.project_id)),
            priority: row.priority,
            run_at: None,
            max_attempts: Some(row.max_attempts),
            queue: Some(row.queue.clone()),
            dedup_key: Some(format!("schedule:{}:{}", row.schedule_id, tick.to_rfc3339())),
        };
        // A savepoint, so a refused enqueue (the tick's job is somehow already queued)
        // skips this tick instead of wedging the schedule on it forever.
        let mut sp = sqlx::Connection::begin(&mut *tx).await?;
        let job_id = match queue::enqueue_raw(&mut sp, &row.kind, &row.queue, &row.payload, &opts).await {
            Ok(id) => {
                sp.commit().await?;
                Some(id)
            }
            Err(Error::Conflict(m)) => {
                sp.rollback().await?;
                tracing::warn!(schedule.id = %row.schedule_id, %tick, reason = %m, "skipped a tick whose job exists");
                None
            }
            Err(e) => return Err(e),
        };
        if q::advance(&mut tx, row.schedule_id, tick, next, job_id.map(|j| j.0)).await? {
            tx.commit().await?;
            if let Some(job_id) = job_id {
                tracing::info!(schedule.id = %row.schedule_id, %tick, job.id = %job_id, "fired schedule tick");
                fired.push(FiredTick { schedule_id: ScheduleId(row.schedule_id), tick, job_id });
            }
        } else {
            tx.rollback().await?;
        }
    }
    Ok(fired)
}

#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Longest sleep between looks at the table; a due tick fires at most this late
    /// (the scheduler also wakes at the earliest `next_run_at`).
    pub poll_interval: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { poll_interval: Duration::from_secs(1) }
    }
}

pub struct SchedulerHandle {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl SchedulerHandle {
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Runs a scheduler in the background; safe to run in every `cairn serve` instance.
pub fn start(pool: PgPool, config: SchedulerConfig) -> SchedulerHandle {
    let stop = CancellationToken::new();
    let task = tokio::spawn(scheduler_loop(pool, config, stop.clone()));
    SchedulerHandle { stop, task }
}

/// Runs a scheduler until `shutdown` resolves.
pub async fn run(pool: PgPool, config: SchedulerConfig, shutdown: impl Future<Output = ()>) {
    let h = start(pool, config);
    shutdown.await;
    h.shutdown().await;
}

async fn scheduler_loop(pool: PgPool, config: SchedulerConfig, stop: CancellationToken) {
    loop {
        if let Err(e) = fire_due(&pool).await {
            tracing::warn!(error = %e, "firing schedules failed; trying again");
        }
        let mut sleep = config.poll_interval;
        if let Ok(Some(due)) = q::next_due(&pool).await {
            let until = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            sleep = sleep.min(until);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(10))) => {}
        }
    }
}
