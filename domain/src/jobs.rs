//! Background jobs and schedules as the API and the dashboard see them.

use crate::ids::{JobId, ScheduleId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub job_id: JobId,
    pub kind: String,
    pub queue: String,
    /// queued, running, succeeded, failed or cancelled.
    pub state: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    pub priority: i16,
    pub attempts: i32,
    pub max_attempts: i32,
    pub cancel_requested: bool,
    pub last_error: Option<String>,
    /// The worker holding it while running.
    pub locked_by: Option<String>,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One page of jobs, newest first; pass `next` as `after` for the following page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next: Option<String>,
    /// Jobs per state over the whole queue (not just this page).
    pub counts: Vec<StateCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateCount {
    pub state: String,
    pub count: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
pub struct JobQuery {
    pub state: Option<String>,
    pub kind: Option<String>,
    /// Page token from the previous page's `next`.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLine {
    pub line_no: i32,
    pub line: String,
    pub at: DateTime<Utc>,
}

/// A job with the start of its log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobDetail {
    pub job: Job,
    pub log: Vec<LogLine>,
}

/// Body of `POST /api/v1/jobs`: start one of the kinds people may start by hand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    pub kind: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub schedule_id: ScheduleId,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub kind: String,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_job_id: Option<JobId>,
}

/// Body of `POST /api/v1/schedules`: run a hand-startable job kind on a cron.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub name: String,
    /// Five fields (minute precision) or six (leading seconds), e.g. `0 6 * * 1-5`.
    pub cron: String,
    /// IANA time zone such as `Europe/Berlin`; UTC when empty.
    #[serde(default)]
    pub timezone: String,
    pub kind: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

/// Body of `PATCH /api/v1/schedules/{id}`: any of these.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleChange {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
}
