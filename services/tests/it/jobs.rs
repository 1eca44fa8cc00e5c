//! The job queue: exactly-once execution, leases and fencing, retries, cancellation,
//! logs and listing.
use crate::support::{eventually, fast_config, separate_pool};
use domain::JobId;
use serde::{Deserialize, Serialize};
use services::Error;
use services::queue::{
    self, CancelReason, EnqueueOptions, Job, JobCtx, JobFilter, JobRegistry, JobState, worker,
};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts how often each `n` ran.
#[derive(Default)]
struct Runs(Mutex<HashMap<u32, usize>>);

#[derive(Serialize, Deserialize)]
struct Count {
    n: u32,
}

impl Job for Count {
    const KIND: &'static str = "test.count";

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        // Exercise the CPU lane too.
        let doubled = ctx.run_blocking(move || self.n * 2).await?;
        anyhow::ensure!(doubled == self.n * 2);
        let runs = ctx.require::<Runs>()?;
        *runs.0.lock().unwrap().entry(self.n).or_default() += 1;
        Ok(())
    }
}

/// When each attempt started.
#[derive(Default)]
struct Attempts(Mutex<Vec<Instant>>);

#[derive(Serialize, Deserialize)]
struct AlwaysFails;

impl Job for AlwaysFails {
    const KIND: &'static str = "test.always_fails";
    const MAX_ATTEMPTS: i32 = 3;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        ctx.require::<Attempts>()?.0.lock().unwrap().push(Instant::now());
        anyhow::bail!("boom on attempt {}", ctx.attempt())
    }
}

/// What a cancellable job saw.
#[derive(Default)]
struct Seen(Mutex<Vec<Option<CancelReason>>>);

#[derive(Serialize, Deserialize)]
struct WaitForCancel;

impl Job for WaitForCancel {
    const KIND: &'static str = "test.wait_for_cancel";

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        ctx.log("started").await?;
        tokio::select! {
            _ = ctx.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => anyhow::bail!("never cancelled"),
        }
        ctx.require::<Seen>()?.0.lock().unwrap().push(ctx.cancel_reason());
        ctx.log("stopping").await?;
        anyhow::bail!("stopped on request")
    }
}

fn registry() -> (JobRegistry, Arc<Runs>, Arc<Attempts>, Arc<Seen>) {
    let runs = Arc::new(Runs::default());
    let attempts = Arc::new(Attempts::default());
    let seen = Arc::new(Seen::default());
    let r = JobRegistry::new()
        .register::<Count>()
        .register::<AlwaysFails>()
        .register::<WaitForCancel>()
        .provide_arc(runs.clone())
        .provide_arc(attempts.clone())
        .provide_arc(seen.clone());
    (r, runs, attempts, seen)
}

async fn enqueue<J: Job>(pool: &PgPool, job: &J) -> JobId {
    let mut tx = pool.begin().await.unwrap();
    let id = queue::enqueue(&mut tx, job).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn state_of(pool: &PgPool, id: JobId) -> JobState {
    queue::get(pool, id).await.unwrap().state
}

async fn count_in(pool: &PgPool, state: JobState) -> i64 {
    queue::counts(pool).await.unwrap().into_iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| n)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_thousand_jobs_over_four_workers_run_exactly_once(pool: PgPool) {
    let (registry, runs, _, _) = registry();
    let mut tx = pool.begin().await.unwrap();
    for n in 0..1000 {
        queue::enqueue(&mut tx, &Count { n }).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut workers = Vec::new();
    for i in 0..4 {
        let p = separate_pool(&pool, 4).await;
        workers.push(worker::start(p, registry.clone(), fast_config(&format!("w{i}"))));
    }
    let done =
        eventually(Duration::from_secs(60), || async { count_in(&pool, JobState::Succeeded).await == 1000 })
            .await;
    for w in workers {
        assert_eq!(w.shutdown().await.released, 0);
    }
    assert!(done, "not all jobs succeeded: {:?}", queue::counts(&pool).await.unwrap());

    {
        let runs = runs.0.lock().unwrap();
        assert_eq!(runs.len(), 1000);
        assert!(runs.values().all(|&c| c == 1), "some job ran twice");
    }
    let page = queue::list(&pool, &JobFilter { limit: 500, ..JobFilter::default() }).await.unwrap();
    assert!(page.jobs.iter().all(|j| j.attempts == 1 && j.locked_by.is_none() && j.finished_at.is_some()));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_expired_lease_is_taken_over_and_the_late_completion_is_refused(pool: PgPool) {
    let (registry, runs, _, _) = registry();
    let id = enqueue(&pool, &Count { n: 7 }).await;

    // A worker claims the job and then dies: it never heartbeats.
    let kinds = vec![Count::KIND.to_string()];
    let queues = vec!["default".to_string()];
    let stale =
        queue::claim(&pool, "doomed-worker", &queues, &kinds, 10, Duration::from_millis(300)).await.unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(state_of(&pool, id).await, JobState::Running);

    // Another worker's reaper re-queues it once the lease expires, and it runs there.
    let w = worker::start(separate_pool(&pool, 4).await, registry, fast_config("rescuer"));
    let done =
        eventually(Duration::from_secs(15), || async { state_of(&pool, id).await == JobState::Succeeded })
            .await;
    w.shutdown().await;
    assert!(done);
    let job = queue::get(&pool, id).await.unwrap();
    assert_eq!(job.attempts, 2);
    assert!(job.last_error.as_deref().unwrap_or_default().contains("lease expired"), "{job:?}");
    assert_eq!(runs.0.lock().unwrap().get(&7), Some(&1));

    // The first worker wakes up and tries to finish: refused by the fencing token.
    let late = &stale[0];
    assert!(matches!(queue::complete(&pool, late).await, Err(ref e) if queue::is_lease_lost(e)));
    assert!(
        matches!(queue::heartbeat(&pool, late, Duration::from_secs(5)).await, Err(ref e) if queue::is_lease_lost(e))
    );
    let fail = queue::fail(&pool, late, "late", Duration::ZERO, false).await;
    assert!(matches!(fail, Err(ref e) if queue::is_lease_lost(e)));
    assert_eq!(state_of(&pool, id).await, JobState::Succeeded);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_same_worker_reclaiming_its_own_expired_job_is_still_fenced(pool: PgPool) {
    enqueue(&pool, &Count { n: 1 }).await;
    let kinds = vec![Count::KIND.to_string()];
    let queues = vec!["default".to_string()];
    let first = queue::claim(&pool, "w", &queues, &kinds, 1, Duration::from_millis(1)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async { queue::reap_expired(&pool).await.unwrap() == 1 }).await
    );
    let second = queue::claim(&pool, "w", &queues, &kinds, 1, Duration::from_secs(30)).await.unwrap();
    assert_eq!((first[0].attempt, second[0].attempt), (1, 2));
    assert!(matches!(queue::complete(&pool, &first[0]).await, Err(ref e) if queue::is_lease_lost(e)));
    queue::complete(&pool, &second[0]).await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failing_job_is_retried_with_backoff_then_failed_with_its_error(pool: PgPool) {
    let (registry, _, attempts, _) = registry();
    let id = enqueue(&pool, &AlwaysFails).await;
    let config = fast_config("failer");
    let (base, max) = (config.backoff_base, config.backoff_max);
    let w = worker::start(pool.clone(), registry, config);
    let failed =
        eventually(Duration::from_secs(15), || async { state_of(&pool, id).await == JobState::Failed }).await;
    w.shutdown().await;
    assert!(failed);

    let job = queue::get(&pool, id).await.unwrap();
    assert_eq!(job.attempts, 3);
    assert_eq!(job.last_error.as_deref(), Some("boom on attempt 3"));
    assert!(job.finished_at.is_some() && job.locked_by.is_none());
    let times = attempts.0.lock().unwrap().clone();
    assert_eq!(times.len(), 3);
    for (i, pair) in times.windows(2).enumerate() {
        let waited = pair[1] - pair[0];
        let expected = queue::backoff(i as i32 + 1, base, max);
        assert!(
            waited >= expected.mul_f64(0.9),
            "attempt {} came after {waited:?}, backoff is {expected:?}",
            i + 2
        );
    }

    // Retrying from the API starts over with fresh attempts.
    let retried = queue::retry(&pool, id).await.unwrap();
    assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
    assert!(matches!(queue::retry(&pool, id).await, Err(Error::Conflict(_))));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_malformed_payload_fails_at_once(pool: PgPool) {
    let (registry, _, _, _) = registry();
    let mut conn = pool.acquire().await.unwrap();
    let opts = EnqueueOptions { max_attempts: Some(5), ..EnqueueOptions::default() };
    let id = queue::enqueue_raw(&mut conn, Count::KIND, "default", &serde_json::json!({"m": 1}), &opts)
        .await
        .unwrap();
    drop(conn);
    let ran = worker::run_pending(&pool, &registry, &fast_config("drain")).await.unwrap();
    assert_eq!(ran, 1);
    let job = queue::get(&pool, id).await.unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Failed, 1));
    assert!(job.last_error.unwrap().contains("malformed"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_queued_job_is_cancelled_at_once(pool: PgPool) {
    let id = enqueue(&pool, &Count { n: 1 }).await;
    let job = queue::cancel(&pool, id).await.unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.finished_at.is_some());
    // A cancelled job is never claimed.
    let (registry, runs, _, _) = registry();
    assert_eq!(worker::run_pending(&pool, &registry, &fast_config("drain")).await.unwrap(), 0);
    assert!(runs.0.lock().unwrap().is_empty());
    // ...but can be retried, and then runs.
    queue::retry(&pool, id).await.unwrap();
    assert_eq!(worker::run_pending(&pool, &registry, &fast_config("drain")).await.unwrap(), 1);
    assert_eq!(state_of(&pool, id).await, JobState::Succeeded);
    assert!(matches!(queue::cancel(&pool, id).await, Err(Error::Conflict(_))));
    let missing = JobId(uuid::Uuid::new_v4());
    assert!(matches!(queue::cancel(&pool, missing).await, Err(Error::NotFound { .. })));
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_a_running_job_reaches_its_handler(pool: PgPool) {
    let (registry, _, _, seen) = registry();
    let id = enqueue(&pool, &WaitForCancel).await;
    let w = worker::start(pool.clone(), registry, fast_config("canceller"));
    let started = eventually(Duration::from_secs(10), || async {
        queue::read_log(&pool, id, 0, 10).await.unwrap().iter().any(|l| l.line == "started")
    })
    .await;
    assert!(started);
    let job = queue::cancel(&pool, id).await.unwrap();
    assert_eq!(job.state, JobState::Running);
    assert!(job.cancel_requested);
    let cancelled =
        eventually(Duration::from_secs(10), || async { state_of(&pool, id).await == JobState::Cancelled })
            .await;
    w.shutdown().await;
    assert!(cancelled);
    assert_eq!(*seen.0.lock().unwrap(), vec![Some(CancelReason::Requested)]);

    // The log reads from any line on.
    let all = queue::read_log(&pool, id, 0, 100).await.unwrap();
    let lines: Vec<_> = all.iter().map(|l| (l.line_no, l.line.as_str())).collect();
    assert_eq!(lines, vec![(1, "started"), (2, "stopping")]);
    let rest = queue::read_log(&pool, id, 1, 100).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].line, "stopping");
}

#[sqlx::test(migrations = "../migrations")]
async fn shutdown_hands_unfinished_jobs_back(pool: PgPool) {
    let (registry, _, _, seen) = registry();
    let id = enqueue(&pool, &WaitForCancel).await;
    let mut config = fast_config("leaver");
    config.shutdown_grace = Duration::from_millis(100);
    let w = worker::start(pool.clone(), registry, config);
    assert!(
        eventually(Duration::from_secs(10), || async { state_of(&pool, id).await == JobState::Running })
            .await
    );
    let report = w.shutdown().await;
    assert_eq!(report.released, 1);
    let job = queue::get(&pool, id).await.unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0), "{job:?}");
    assert!(job.locked_by.is_none());
    // The handler may or may not get to look before it is aborted; if it did, it saw why.
    let seen = seen.0.lock().unwrap().clone();
    assert!(seen.is_empty() || seen == [Some(CancelReason::Shutdown)], "{seen:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn jobs_are_listed_newest_first_with_filters_and_keyset_pages(pool: PgPool) {
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(enqueue(&pool, &Count { n }).await);
    }
    let failing = enqueue(&pool, &AlwaysFails).await;
    let mut conn = pool.acquire().await.unwrap();
    let dup = EnqueueOptions { dedup_key: Some("once".into()), ..EnqueueOptions::default() };
    queue::enqueue_with(&mut conn, &Count { n: 99 }, dup.clone()).await.unwrap();
    let again = queue::enqueue_with(&mut conn, &Count { n: 98 }, dup).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    drop(conn);

    let mut seen = Vec::new();
    let mut filter = JobFilter { kind: Some(Count::KIND.into()), limit: 2, ..JobFilter::default() };
    loop {
        let page = queue::list(&pool, &filter).await.unwrap();
        seen.extend(page.jobs.iter().map(|j| j.job_id));
        match page.next {
            Some(next) => filter.after = Some(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[1..], ids.iter().rev().copied().collect::<Vec<_>>()[..]);
    let by_state = JobFilter {
        state: Some(JobState::Queued),
        kind: Some(AlwaysFails::KIND.into()),
        ..JobFilter::default()
    };
    let page = queue::list(&pool, &by_state).await.unwrap();
    assert_eq!(page.jobs.iter().map(|j| j.job_id).collect::<Vec<_>>(), vec![failing]);
    let bad = JobFilter { limit: 10_000, ..JobFilter::default() };
    assert!(matches!(queue::list(&pool, &bad).await, Err(Error::Validation(_))));
}

#[sqlx::test(migrations = "../migrations")]
async fn enqueue_is_part_of_the_callers_transaction(pool: PgPool) {
    let mut tx = pool.begin().await.unwrap();
    queue::enqueue(&mut tx, &Count { n: 1 }).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(queue::counts(&pool).await.unwrap().is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_running_job_whose_lease_is_taken_over_is_stopped_and_writes_nothing(pool: PgPool) {
    let (registry, _, _, seen) = registry();
    let id = enqueue(&pool, &WaitForCancel).await;
    let w = worker::start(pool.clone(), registry, fast_config("victim"));
    assert!(
        eventually(Duration::from_secs(10), || async { state_of(&pool, id).await == JobState::Running })
            .await
    );
    // Another worker takes the job over (as after an expiry the heartbeat missed).
    sqlx::query("update job set locked_by = 'thief', attempts = attempts + 1 where job_id = $1")
        .bind(id.0)
        .execute(&pool)
        .await
        .unwrap();
    let stopped = eventually(Duration::from_secs(10), || async {
        seen.0.lock().unwrap().as_slice() == [Some(CancelReason::LeaseLost)]
    })
    .await;
    w.shutdown().await;
    assert!(stopped);
    let job = queue::get(&pool, id).await.unwrap();
    assert_eq!((job.state, job.locked_by.as_deref()), (JobState::Running, Some("thief")), "{job:?}");
}

/// Not the benchmark (that is `cairn bench queue`): a small run proving the scratch
/// database is created, used and dropped.
#[tokio::test]
async fn the_queue_benchmark_runs_on_a_scratch_database() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (make unit sets it)");
    let report = queue::bench::run_scratch(&url, 200, 4).await.unwrap();
    assert_eq!((report.jobs, report.workers), (200, 4));
    assert!(report.jobs_per_second > 0.0);
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("select count(*) from pg_database where datname ~ '^cairn_bench_[0-9a-f]{12}$'")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(left, 0, "scratch database left behind");
}
