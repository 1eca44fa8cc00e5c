//! Job kinds Cairn ships with, beyond those of later features:
//! - `system.selfcheck`: a worker probes the database and the artifact store and
//!   logs what it finds, one line per probe. Operators start it from the Jobs page
//!   to see that workers run, reach Postgres and can write artifacts.
//! - `system.cleanup`: deletes expired sessions and serving-log partitions past
//!   their retention; scheduled hourly at start-up.

use crate::queue::{self, Job, JobCtx, JobRegistry, Permanent};
use crate::schedule::{self, ScheduleSpec};
use crate::{AppState, Error, Result, db};
use bytes::Bytes;
use domain::jobs::NewJob;
use domain::{JobId, ValidationError};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use std::time::{Duration, Instant};

/// Kinds a user may start by hand through the API or the Jobs page.
pub const MANUAL_KINDS: &[&str] = &[SelfCheck::KIND, Cleanup::KIND];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfCheck {
    /// Database probes, one a second (1-300).
    #[serde(default = "default_probes")]
    pub probes: u32,
}

fn default_probes() -> u32 {
    5
}

impl Job for SelfCheck {
    const KIND: &'static str = "system.selfcheck";
    const MAX_ATTEMPTS: i32 = 1;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let st = ctx.require::<AppState>()?;
        ctx.log(format!("self-check (job {}): {} database probes", ctx.job_id(), self.probes)).await?;

        let content = Bytes::from(format!("cairn self-check {}", ctx.job_id()));
        let started = Instant::now();
        let blob = st.store.put_blob(content.clone()).await?;
        let back = st.store.get(&blob.key).await?;
        if back != content {
            return Err(Permanent("artifact store returned different bytes than were written".into()).into());
        }
        ctx.log(format!(
            "artifact store {}: wrote and read back {} bytes in {:.1} ms",
            st.store.location(),
            blob.size,
            started.elapsed().as_secs_f64() * 1e3
        ))
        .await?;

        for i in 1..=self.probes {
            let t = Instant::now();
            if !db::ping(&st.db).await {
                return Err(anyhow::anyhow!("probe {i}: the database did not answer"));
            }
            ctx.log(format!(
                "probe {i}/{}: database round trip {:.2} ms",
                self.probes,
                t.elapsed().as_secs_f64() * 1e3
            ))
            .await?;
            if i < self.probes {
                tokio::select! {
                    _ = ctx.cancelled() => {
                        ctx.log("cancelled: stopping the probes").await?;
                        // An error, so the queue records the job as cancelled, not succeeded.
                        anyhow::bail!("cancelled after probe {i} of {}", self.probes);
                    }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
        ctx.log("self-check passed").await?;
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cleanup {}

impl Job for Cleanup {
    const KIND: &'static str = "system.cleanup";

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let n = db::sessions::delete_expired(ctx.db()).await?;
        ctx.log(format!("deleted {n} expired sessions")).await?;
        let st = ctx.require::<AppState>()?;
        let dropped = crate::serving::logs::apply_retention(&st, chrono::Utc::now().date_naive()).await?;
        if !dropped.is_empty() {
            let days: Vec<String> = dropped.iter().map(|d| d.to_string()).collect();
            ctx.log(format!(
                "dropped the serving log of {} (older than {} days)",
                days.join(", "),
                st.serving.logs.settings.retention_days
            ))
            .await?;
        }
        Ok(())
    }
}

/// Registers the built-in kinds, with the state their handlers need.
pub fn register(registry: JobRegistry, st: &AppState) -> JobRegistry {
    registry.register::<SelfCheck>().register::<Cleanup>().provide(st.clone())
}

/// Creates the built-in schedules if they do not exist yet (idempotent at start-up).
pub async fn ensure_schedules(db: &PgPool) -> Result<()> {
    let spec = ScheduleSpec::for_job("Hourly cleanup", "7 * * * *", "UTC", &Cleanup {})?;
    match schedule::create(db, None, spec).await {
        Ok(_) | Err(Error::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A hand-startable job, checked: the one place its payload rules live.
pub enum Manual {
    SelfCheck(SelfCheck),
    Cleanup(Cleanup),
}

impl Manual {
    pub fn parse(kind: &str, payload: &serde_json::Value) -> Result<Self> {
        let payload = if payload.is_null() { serde_json::json!({}) } else { payload.clone() };
        let bad = |e: serde_json::Error| ValidationError::new("payload", e.to_string());
        match kind {
            SelfCheck::KIND => {
                let job: SelfCheck = serde_json::from_value(payload).map_err(bad)?;
                if !(1..=300).contains(&job.probes) {
                    return Err(ValidationError::new("payload.probes", "must be between 1 and 300").into());
                }
                Ok(Manual::SelfCheck(job))
            }
            Cleanup::KIND => Ok(Manual::Cleanup(serde_json::from_value(payload).map_err(bad)?)),
            other => Err(ValidationError::new(
                "kind",
                format!("'{other}' cannot be started by hand; use one of {}", MANUAL_KINDS.join(", ")),
            )
            .into()),
        }
    }

    /// A schedule spec that enqueues this job.
    pub fn schedule_spec(&self, name: &str, cron: &str, timezone: &str) -> Result<ScheduleSpec> {
        match self {
            Manual::SelfCheck(j) => ScheduleSpec::for_job(name, cron, timezone, j),
            Manual::Cleanup(j) => ScheduleSpec::for_job(name, cron, timezone, j),
        }
    }
}

/// Validates a manual start request and enqueues it.
pub async fn enqueue_manual(conn: &mut PgConnection, new: &NewJob) -> Result<JobId> {
    match Manual::parse(&new.kind, &new.payload)? {
        Manual::SelfCheck(job) => queue::enqueue(conn, &job).await,
        Manual::Cleanup(job) => queue::enqueue(conn, &job).await,
    }
}
