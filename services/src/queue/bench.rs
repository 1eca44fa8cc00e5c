//! `cairn bench queue`: how fast workers claim and complete no-op jobs. The figure is
//! the queue's own overhead (claim, lease bookkeeping, completion), which bounds how
//! many short jobs (webhook deliveries, small pipeline steps) one database serves.
//!
//! Run it against a scratch database: it enqueues into the real `job` table.
//! [`run_scratch`] creates one from a server URL, runs, and drops it (what
//! `cairn bench queue` needs: only `DATABASE_URL`).

use super::worker::{self, WorkerConfig};
use super::{EnqueueOptions, Job, JobCtx, JobRegistry};
use crate::{Error, Result, db};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Jobs each worker runs at once and claims per statement. Batch claims are what
/// make the queue fast: one `skip locked` statement hands out several jobs.
pub const CONCURRENCY_PER_WORKER: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    pub jobs: usize,
    pub workers: usize,
    pub concurrency_per_worker: usize,
    /// Enqueueing the jobs (not part of the rate).
    pub enqueue_seconds: f64,
    /// From starting the workers until the last job succeeded.
    pub run_seconds: f64,
    /// `jobs / run_seconds`.
    pub jobs_per_second: f64,
}

#[derive(Serialize, Deserialize)]
struct Noop;

#[derive(Default)]
struct Done(AtomicUsize);

impl Job for Noop {
    const KIND: &'static str = "bench.noop";
    const QUEUE: &'static str = "bench";

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        if let Some(done) = ctx.resource::<Done>() {
            done.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Creates a scratch database next to the one `database_url` names, migrates it,
/// runs [`run`] there and drops it again (also when the run fails).
pub async fn run_scratch(database_url: &str, jobs: usize, workers: usize) -> Result<BenchReport> {
    let mut url = url::Url::parse(database_url)
        .map_err(|e| Error::Other(anyhow::anyhow!("DATABASE_URL is not a URL: {e}")))?;
    url.set_path(&format!("/cairn_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let scratch = url.to_string();
    let settings = db::PoolSettings {
        create_database: true,
        max_connections: u32::try_from(workers.max(1) * 3 + 4).unwrap_or(64),
        ..db::PoolSettings::default()
    };
    let pool = db::connect(&scratch, settings).await.map_err(|e| Error::Other(e.into()))?;
    let outcome = match db::migrate(&pool).await {
        Ok(()) => run(&pool, jobs, workers).await,
        Err(e) => Err(Error::Other(e.into())),
    };
    pool.close().await;
    if let Err(e) = db::drop_database(&scratch).await {
        tracing::warn!(error = %e, "could not drop the benchmark's scratch database");
    }
    outcome
}

/// Enqueues `jobs` no-op jobs, then runs `workers` workers until all have succeeded.
/// The pool should allow about two connections per worker plus a few.
pub async fn run(pool: &PgPool, jobs: usize, workers: usize) -> Result<BenchReport> {
    let t0 = Instant::now();
    let mut tx = pool.begin().await?;
    for _ in 0..jobs {
        super::enqueue_with(&mut tx, &Noop, EnqueueOptions::default()).await?;
    }
    tx.commit().await?;
    let enqueue_seconds = t0.elapsed().as_secs_f64();

    let done = Arc::new(Done::default());
    let registry = JobRegistry::new().register::<Noop>().provide_arc(done.clone());
    let config = WorkerConfig {
        name: "bench".into(),
        concurrency: CONCURRENCY_PER_WORKER,
        batch_size: CONCURRENCY_PER_WORKER,
        poll_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_secs(5),
        ..WorkerConfig::default()
    };
    let t1 = Instant::now();
    let handles: Vec<_> =
        (0..workers.max(1)).map(|_| worker::start(pool.clone(), registry.clone(), config.clone())).collect();
    // Generous: at 10 jobs/s something is badly wrong and the report says so anyway.
    let deadline = t1 + Duration::from_secs(60 + jobs as u64 / 10);
    while done.0.load(Ordering::Relaxed) < jobs && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The handler counts before the completion is written; wait for the rows too.
    while Instant::now() < deadline {
        let counts = super::counts(pool).await?;
        let succeeded = counts.iter().find(|(s, _)| *s == super::JobState::Succeeded).map_or(0, |(_, n)| *n);
        if succeeded as usize >= jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let run_seconds = t1.elapsed().as_secs_f64();
    for h in handles {
        h.shutdown().await;
    }
    let finished = done.0.load(Ordering::Relaxed);
    if finished < jobs {
        return Err(Error::Other(anyhow::anyhow!(
            "only {finished} of {jobs} jobs finished before the deadline"
        )));
    }
    Ok(BenchReport {
        jobs,
        workers: workers.max(1),
        concurrency_per_worker: CONCURRENCY_PER_WORKER,
        enqueue_seconds,
        run_seconds,
        jobs_per_second: jobs as f64 / run_seconds.max(f64::EPSILON),
    })
}
