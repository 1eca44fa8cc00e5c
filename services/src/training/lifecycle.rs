//! The states a training run goes through, kept in step on both records: the
//! `training_run` row (what the dashboard's progress shows) and the tracked `run`
//! (what the MLflow-compatible API shows: SCHEDULED → RUNNING → FINISHED / FAILED /
//! KILLED). Shared by built-in, command and search runs.

use super::search;
use crate::auth::{Principal, Via};
use crate::db::{self, training as sql};
use crate::queue::JobCtx;
use crate::tracking::{self, now_ms};
use crate::{AppState, Error, Result};
use domain::tracking::{Metric, Tag};
use domain::training::TrainingState;
use domain::{JobId, UserId};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Tag holding a failed run's reason on the tracked run.
pub const TAG_ERROR: &str = "cairn.error";

/// The submitter, acting through a job: what the worker logs and stores is theirs.
pub async fn principal(st: &AppState, user: Option<Uuid>, job: JobId) -> Result<Principal> {
    let user = user.ok_or_else(|| Error::Other(anyhow::anyhow!("the training run has no submitter")))?;
    let row = db::users::by_id(&st.db, UserId(user))
        .await?
        .ok_or_else(|| Error::Other(anyhow::anyhow!("the submitter of this run no longer exists")))?;
    if row.disabled {
        return Err(Error::Forbidden(format!("user {} is disabled; their runs do not start", row.username)));
    }
    let user = row.into_user()?;
    Ok(crate::auth::sessions::principal_of(&user, Via::Job(job), None))
}

/// Marks the run running on both records. False when it already ended (cancelled
/// while queued), in which case the handler has nothing to do.
pub async fn start(st: &AppState, p: &Principal, run_id: Uuid) -> Result<bool> {
    if !sql::start(&st.db, run_id).await? {
        return Ok(false);
    }
    tracking::update_run(st, p, run_id, Some("RUNNING"), None, None).await?;
    Ok(true)
}

/// Ends a run that did not finish: failed with the reason, or cancelled. A run that
/// already ended is left as it is. Closes the parent search when this was its
/// last open trial.
pub async fn end(
    st: &AppState,
    p: &Principal,
    run_id: Uuid,
    state: TrainingState,
    reason: &str,
) -> Result<()> {
    let mut tx = st.db.begin().await?;
    let ended = sql::end(&mut tx, run_id, state.as_str(), reason).await?;
    tx.commit().await?;
    if !ended {
        return Ok(());
    }
    let status = if state == TrainingState::Cancelled { "KILLED" } else { "FAILED" };
    tracking::update_run(st, p, run_id, Some(status), Some(now_ms()), None).await?;
    let tag = Tag { key: TAG_ERROR.into(), value: truncate(reason, 4000) };
    tracking::log_batch(st, p, run_id, Vec::new(), Vec::new(), vec![tag]).await?;
    after_end(st, p, run_id).await
}

/// What every ending does last: a trial tells its search.
pub async fn after_end(st: &AppState, p: &Principal, run_id: Uuid) -> Result<()> {
    if let Some(parent) = sql::get(&st.db, run_id).await?.and_then(|r| r.parent_run_id) {
        search::trial_ended(st, p, parent).await?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Metrics with the current time, as the tracking API takes them.
pub fn metrics<'a>(
    values: impl IntoIterator<Item = (&'a String, &'a f64)>,
    prefix: &str,
    step: i64,
) -> Vec<Metric> {
    let now = now_ms();
    values
        .into_iter()
        .map(|(k, v)| Metric { key: format!("{prefix}{k}"), value: *v, timestamp: now, step })
        .collect()
}

/// Writes progress to the run row and the job log at a bounded rate: a trainer
/// reports as often as it likes, the database sees a few updates a second.
pub struct Reporter<'a> {
    st: &'a AppState,
    ctx: &'a JobCtx,
    run_id: Uuid,
    last_stage: String,
    last_write: Option<Instant>,
}

impl<'a> Reporter<'a> {
    pub fn new(st: &'a AppState, ctx: &'a JobCtx, run_id: Uuid) -> Self {
        Reporter { st, ctx, run_id, last_stage: String::new(), last_write: None }
    }

    pub fn run_id(&self) -> Uuid {
        self.run_id
    }

    /// A stage change is always written (and logged); the same stage at most every 250 ms.
    pub async fn report(&mut self, stage: &str, fraction: f64) -> Result<()> {
        let changed = stage != self.last_stage;
        let due = self.last_write.is_none_or(|t| t.elapsed() >= Duration::from_millis(250));
        if !(changed || due) {
            return Ok(());
        }
        if changed {
            self.ctx.log(format!("{stage}…")).await?;
            self.last_stage = stage.to_string();
        }
        sql::set_progress(&self.st.db, self.run_id, stage, fraction).await?;
        self.last_write = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
