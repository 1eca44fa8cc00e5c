//! Jobs and schedules as people and programs use them: the authorized use cases
//! behind `/api/v1/jobs`, the Jobs page and the CLI, on top of [`crate::queue`] and
//! [`crate::schedule`] (which know nothing of callers).

pub mod builtin;

use crate::auth::{Action, Principal, authorize};
use crate::queue::{self, JobCursor, JobFilter, JobInfo, JobState};
use crate::{AppState, Result};
use domain::JobId;
use domain::ScheduleId;
use domain::ValidationError;
use domain::jobs::{
    Job, JobDetail, JobPage, JobQuery, LogLine, NewJob, NewSchedule, Schedule, ScheduleChange, StateCount,
};

fn dto(j: JobInfo) -> Job {
    Job {
        job_id: j.job_id,
        kind: j.kind,
        queue: j.queue,
        state: j.state.as_str().to_string(),
        payload: j.payload,
        priority: j.priority,
        attempts: j.attempts,
        max_attempts: j.max_attempts,
        cancel_requested: j.cancel_requested,
        last_error: j.last_error,
        locked_by: j.locked_by,
        run_at: j.run_at,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
    }
}

fn log_dto(l: queue::LogLine) -> LogLine {
    LogLine { line_no: l.line_no, line: l.line, at: l.created_at }
}

pub async fn list(st: &AppState, p: &Principal, q: &JobQuery) -> Result<JobPage> {
    authorize(p, Action::Read)?;
    let blank =
        |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let state = match blank(&q.state) {
        None => None,
        Some(s) => Some(s.parse::<JobState>().map_err(|_| {
            ValidationError::new("state", "must be one of queued, running, succeeded, failed, cancelled")
        })?),
    };
    let after = blank(&q.after).map(|s| s.parse::<JobCursor>()).transpose()?;
    let filter =
        JobFilter { state, kind: blank(&q.kind), project_id: None, after, limit: q.limit.unwrap_or(0) };
    let page = queue::list(&st.db, &filter).await?;
    let counts = queue::counts(&st.db)
        .await?
        .into_iter()
        .map(|(s, count)| StateCount { state: s.as_str().to_string(), count })
        .collect();
    Ok(JobPage {
        jobs: page.jobs.into_iter().map(dto).collect(),
        next: page.next.map(|c| c.to_string()),
        counts,
    })
}

/// Log lines shown with a job before streaming takes over.
pub const LOG_HEAD: i64 = 2000;

pub async fn get(st: &AppState, p: &Principal, id: JobId) -> Result<JobDetail> {
    authorize(p, Action::Read)?;
    let job = queue::get(&st.db, id).await?;
    let log = queue::read_log(&st.db, id, 0, LOG_HEAD).await?;
    Ok(JobDetail { job: dto(job), log: log.into_iter().map(log_dto).collect() })
}

/// Log lines after `after_line`, and the job's state, for live views.
pub async fn log_after(
    st: &AppState,
    p: &Principal,
    id: JobId,
    after_line: i32,
) -> Result<(Vec<LogLine>, Job)> {
    authorize(p, Action::Read)?;
    let lines = queue::read_log(&st.db, id, after_line, 500).await?;
    let job = queue::get(&st.db, id).await?;
    Ok((lines.into_iter().map(log_dto).collect(), dto(job)))
}

pub async fn cancel(st: &AppState, p: &Principal, id: JobId) -> Result<Job> {
    authorize(p, Action::Write)?;
    Ok(dto(queue::cancel(&st.db, id).await?))
}

pub async fn retry(st: &AppState, p: &Principal, id: JobId) -> Result<Job> {
    authorize(p, Action::Write)?;
    Ok(dto(queue::retry(&st.db, id).await?))
}

/// Starts one of the kinds people may start by hand ([`builtin::MANUAL_KINDS`]);
/// other kinds are started by the features that own them.
pub async fn start(st: &AppState, p: &Principal, new: NewJob) -> Result<Job> {
    authorize(p, Action::Write)?;
    let mut conn = st.db.acquire().await?;
    let id = builtin::enqueue_manual(&mut conn, &new).await?;
    drop(conn);
    Ok(dto(queue::get(&st.db, id).await?))
}

fn schedule_dto(s: crate::schedule::ScheduleInfo) -> Schedule {
    Schedule {
        schedule_id: s.schedule_id,
        name: s.name,
        cron: s.cron,
        timezone: s.timezone,
        kind: s.kind,
        enabled: s.enabled,
        next_run_at: s.next_run_at,
        last_run_at: s.last_run_at,
        last_job_id: s.last_job_id,
    }
}

pub async fn schedules(st: &AppState, p: &Principal) -> Result<Vec<Schedule>> {
    authorize(p, Action::Read)?;
    Ok(crate::schedule::list(&st.db, None).await?.into_iter().map(schedule_dto).collect())
}

/// Schedules a hand-startable kind (the same payload rules as starting it by hand).
pub async fn create_schedule(st: &AppState, p: &Principal, new: NewSchedule) -> Result<Schedule> {
    authorize(p, Action::Write)?;
    domain::validation::check_name("name", &new.name)?;
    let spec = builtin::Manual::parse(&new.kind, &new.payload)?.schedule_spec(
        &new.name,
        &new.cron,
        &new.timezone,
    )?;
    Ok(schedule_dto(crate::schedule::create(&st.db, None, spec).await?))
}

/// Pauses, resumes or re-times a schedule; the next tick is computed from now.
pub async fn change_schedule(
    st: &AppState,
    p: &Principal,
    id: ScheduleId,
    change: ScheduleChange,
) -> Result<Schedule> {
    authorize(p, Action::Write)?;
    let current = crate::schedule::get(&st.db, id).await?;
    let spec = crate::schedule::ScheduleSpec {
        name: current.name,
        cron: change.cron.unwrap_or(current.cron),
        timezone: change.timezone.unwrap_or(current.timezone),
        kind: current.kind,
        queue: current.queue,
        payload: current.payload,
        priority: current.priority,
        max_attempts: current.max_attempts,
        enabled: change.enabled.unwrap_or(current.enabled),
    };
    Ok(schedule_dto(crate::schedule::update(&st.db, id, spec).await?))
}

pub async fn delete_schedule(st: &AppState, p: &Principal, id: ScheduleId) -> Result<()> {
    authorize(p, Action::Write)?;
    crate::schedule::delete(&st.db, id).await
}
