//! Workers: claim jobs, run their handlers concurrently, keep their leases alive and
//! hand them back at shutdown. The same code runs embedded in `cairn serve` and as a
//! standalone `cairn worker` process; they only differ in who sends the stop signal.
//!
//! One worker (one id, the fencing identity in `job.locked_by`) runs up to
//! `concurrency` jobs at once and has four background tasks:
//! - the **dispatcher** claims as many jobs as it has free slots (one statement for the
//!   batch) and sleeps on LISTEN/NOTIFY or the poll interval when the queue is empty;
//! - the **heartbeat** renews all its leases in one statement; a job missing from the
//!   answer lost its lease (its token trips, its result will be refused), a job with
//!   `cancel_requested` gets its token tripped for the handler to see;
//! - the **reaper** re-queues other workers' expired leases (a crashed process);
//! - the **listener** turns `pg_notify('cairn_job', queue)` into a wake-up;
//! - the **completer** writes successful outcomes: whatever completions are waiting
//!   when it wakes go out in one fenced statement, so short jobs cost a fraction of a
//!   commit each under load and nothing extra when the worker is idle.
//!
//! CPU-bound handlers go through [`JobCtx::run_blocking`], bounded by `cpu_slots`, so a
//! worker embedded in the web server leaves async threads free for requests.

use super::ctx::Cancel;
use super::{CancelReason, ClaimedJob, JobCtx, JobRegistry, JobState, Permanent};
use crate::db::jobs as q;
use domain::JobId;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The Postgres channel the `job_notify` trigger sends on.
pub const NOTIFY_CHANNEL: &str = "cairn_job";

/// Tuning of one worker. The defaults suit an embedded worker next to the web server.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Prefix of the worker id (a unique suffix is added), shown in `job.locked_by`.
    pub name: String,
    /// Queues to claim from; empty means the default queues of the registered kinds.
    pub queues: Vec<String>,
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// Most jobs claimed by one statement (never more than the free slots).
    pub batch_size: usize,
    /// How long a claim is valid without a heartbeat; a crashed worker's jobs are
    /// picked up again after this.
    pub lease: Duration,
    /// Must be well below `lease` so a slow database round trip does not lose it.
    pub heartbeat_interval: Duration,
    /// Fallback when a notification is lost (or a job becomes due by `run_at`).
    pub poll_interval: Duration,
    pub reap_interval: Duration,
    /// How long running jobs may finish after the stop signal before they are
    /// cancelled and their leases released.
    pub shutdown_grace: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// While jobs are waiting, how long the dispatcher waits for more free slots so
    /// one claim statement serves several (only with a backlog; idle latency is not
    /// affected).
    pub claim_linger: Duration,
    /// Concurrent [`JobCtx::run_blocking`] sections.
    pub cpu_slots: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            name: format!("cairn-{}", std::process::id()),
            queues: Vec::new(),
            concurrency: 4,
            batch_size: 16,
            lease: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            poll_interval: Duration::from_secs(5),
            reap_interval: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            claim_linger: Duration::from_millis(5),
            // Leave a core for the web server when embedded.
            cpu_slots: cores.saturating_sub(1).max(1),
        }
    }
}

/// What happened at shutdown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Jobs still running at the end of the grace period, handed back to the queue.
    pub released: u64,
}

/// A running worker. Dropping it does not stop it; call [`WorkerHandle::shutdown`].
pub struct WorkerHandle {
    id: String,
    stop: CancellationToken,
    task: JoinHandle<ShutdownReport>,
}

impl WorkerHandle {
    /// The worker's fencing identity (`job.locked_by`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stop claiming, let running jobs finish within the grace period, release the
    /// rest, and wait for all of it.
    pub async fn shutdown(self) -> ShutdownReport {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }

    /// Cancelling this token starts the same shutdown (e.g. from a signal handler).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Starts a worker in the background (embedded use, tests).
pub fn start(pool: PgPool, registry: JobRegistry, config: WorkerConfig) -> WorkerHandle {
    let (tx, rx) = mpsc::channel(COMPLETION_BATCH * 4);
    let shared = Shared::with_completions(pool, registry, config, Some(tx));
    let stop = CancellationToken::new();
    let id = shared.id.clone();
    let task = tokio::spawn(supervise(shared, rx, stop.clone()));
    WorkerHandle { id, stop, task }
}

/// Runs a worker until `shutdown` resolves, then shuts it down (`cairn worker`).
pub async fn run(
    pool: PgPool,
    registry: JobRegistry,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()>,
) -> ShutdownReport {
    let handle = start(pool, registry, config);
    shutdown.await;
    handle.shutdown().await
}

/// Runs every due job of the registered kinds inline until none is left, and returns
/// how many attempts ran. For tests and one-off tools: no listener, no reaper.
pub async fn run_pending(
    pool: &PgPool,
    registry: &JobRegistry,
    config: &WorkerConfig,
) -> crate::Result<usize> {
    let shared = Shared::new(pool.clone(), registry.clone(), config.clone());
    let mut ran = 0;
    loop {
        let claimed = super::claim(
            pool,
            &shared.id,
            &shared.queues,
            &shared.kinds,
            shared.config.batch_size.max(1),
            shared.config.lease,
        )
        .await?;
        if claimed.is_empty() {
            return Ok(ran);
        }
        for job in claimed {
            ran += 1;
            let cancel = shared.track(&job);
            run_job(shared.clone(), job, cancel, None).await;
        }
    }
}

struct RunningJob {
    attempt: i32,
    cancel: Cancel,
    /// When the lease was last known to be extended (claim or heartbeat).
    renewed: Instant,
}

struct Shared {
    pool: PgPool,
    registry: JobRegistry,
    config: WorkerConfig,
    id: String,
    queues: Vec<String>,
    kinds: Vec<String>,
    running: Mutex<HashMap<Uuid, RunningJob>>,
    wake: Notify,
    cpu: Arc<Semaphore>,
    /// `None` in [`run_pending`], which completes each job directly.
    completions: Option<mpsc::Sender<Completion>>,
}

/// A successful attempt waiting to be written; `done` says whether the lease still held.
struct Completion {
    job_id: Uuid,
    attempt: i32,
    done: oneshot::Sender<crate::Result<bool>>,
}

/// Most completions written by one statement.
const COMPLETION_BATCH: usize = 256;

impl Shared {
    fn new(pool: PgPool, registry: JobRegistry, config: WorkerConfig) -> Arc<Self> {
        Self::with_completions(pool, registry, config, None)
    }

    fn with_completions(
        pool: PgPool,
        registry: JobRegistry,
        config: WorkerConfig,
        completions: Option<mpsc::Sender<Completion>>,
    ) -> Arc<Self> {
        let id = format!("{}-{}", config.name, &Uuid::new_v4().simple().to_string()[..8]);
        let queues = if config.queues.is_empty() { registry.queues() } else { config.queues.clone() };
        let kinds = registry.kinds();
        let cpu = Arc::new(Semaphore::new(config.cpu_slots.max(1)));
        Arc::new(Self {
            pool,
            registry,
            config,
            id,
            queues,
            kinds,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            cpu,
            completions,
        })
    }

    /// Registers a claimed job before it starts, so the next heartbeat covers it.
    fn track(&self, job: &ClaimedJob) -> Cancel {
        let cancel = Cancel::default();
        self.running_jobs().insert(
            job.job_id.0,
            RunningJob { attempt: job.attempt, cancel: cancel.clone(), renewed: Instant::now() },
        );
        cancel
    }

    fn running_jobs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, RunningJob>> {
        // A panic while holding this lock cannot leave the map inconsistent (single
        // inserts/removes), so a poisoned lock is still usable.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn snapshot(&self) -> (Vec<Uuid>, Vec<i32>) {
        self.running_jobs().iter().map(|(id, r)| (*id, r.attempt)).unzip()
    }
}

async fn supervise(
    shared: Arc<Shared>,
    completions: mpsc::Receiver<Completion>,
    stop: CancellationToken,
) -> ShutdownReport {
    tracing::info!(worker = %shared.id, queues = ?shared.queues, kinds = ?shared.kinds,
        concurrency = shared.config.concurrency, "worker started");
    let background = CancellationToken::new();
    let heart = tokio::spawn(heartbeat_loop(shared.clone(), background.clone()));
    let reaper = tokio::spawn(reaper_loop(shared.clone(), background.clone()));
    let listener = tokio::spawn(listen_loop(shared.clone(), background.clone()));
    let completer = tokio::spawn(completer_loop(shared.clone(), completions, background.clone()));

    let mut jobs = JoinSet::new();
    dispatch(&shared, &stop, &mut jobs).await;

    // Stop claiming; give running jobs the grace period.
    let deadline = tokio::time::Instant::now() + shared.config.shutdown_grace;
    while !jobs.is_empty() {
        tokio::select! {
            _ = jobs.join_next() => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }

    // Whatever still runs is handed back without spending an attempt.
    let mut report = ShutdownReport::default();
    let (ids, attempts) = shared.snapshot();
    if !ids.is_empty() {
        for r in shared.running_jobs().values() {
            r.cancel.trip(CancelReason::Shutdown);
        }
        match q::release(&shared.pool, &shared.id, &ids, &attempts).await {
            Ok(n) => report.released = n,
            Err(e) => tracing::error!(worker = %shared.id, error = %e,
                "could not release leases at shutdown; they will be reaped when they expire"),
        }
    }
    jobs.abort_all();
    while jobs.join_next().await.is_some() {}
    background.cancel();
    let _ = tokio::join!(heart, reaper, listener, completer);
    tracing::info!(worker = %shared.id, released = report.released, "worker stopped");
    report
}

async fn dispatch(shared: &Arc<Shared>, stop: &CancellationToken, jobs: &mut JoinSet<()>) {
    let slots = Arc::new(Semaphore::new(shared.config.concurrency.max(1)));
    let cfg = &shared.config;
    // The last claim filled every slot it asked for: more jobs are probably waiting.
    let mut backlog = false;
    loop {
        while jobs.try_join_next().is_some() {}
        let first = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let target = cfg.batch_size.max(1).min(cfg.concurrency.max(1));
        let mut permits = vec![first];
        while permits.len() < target {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        // With a backlog, slots free up one by one; claiming each alone would cost a
        // commit per job. Lingering briefly lets one statement claim for several.
        if backlog && permits.len() < target {
            let linger = tokio::time::sleep(cfg.claim_linger);
            tokio::pin!(linger);
            while permits.len() < target {
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p { Ok(p) => permits.push(p), Err(_) => break },
                    _ = &mut linger => break,
                }
            }
        }
        let claimed = match super::claim(
            &shared.pool,
            &shared.id,
            &shared.queues,
            &shared.kinds,
            permits.len(),
            cfg.lease,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(worker = %shared.id, error = %e, "claiming jobs failed; retrying after the poll interval");
                drop(permits);
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(cfg.poll_interval) => {} }
                continue;
            }
        };
        backlog = claimed.len() == permits.len();
        if claimed.is_empty() {
            drop(permits);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(cfg.poll_interval) => {}
            }
            continue;
        }
        for (job, permit) in claimed.into_iter().zip(permits.drain(..)) {
            let cancel = shared.track(&job);
            jobs.spawn(run_job(shared.clone(), job, cancel, Some(permit)));
        }
    }
}

/// Aborts the handler task if the worker gives up on it (shutdown past the grace).
struct AbortOnDrop(JoinHandle<anyhow::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tracing::instrument(skip_all, fields(job.id = %job.job_id, job.kind = %job.kind, job.attempt = job.attempt, worker = %shared.id))]
async fn run_job(shared: Arc<Shared>, job: ClaimedJob, cancel: Cancel, _slot: Option<OwnedSemaphorePermit>) {
    let started = Instant::now();
    let outcome = match shared.registry.handler(&job.kind) {
        // Unreachable in practice: workers claim only registered kinds.
        None => Err(Permanent(format!("no handler for job kind '{}'", job.kind)).into()),
        Some(h) => {
            let ctx = JobCtx::new(
                job.job_id,
                job.kind.clone(),
                job.attempt,
                job.max_attempts,
                shared.pool.clone(),
                cancel.clone(),
                shared.registry.resources(),
                shared.cpu.clone(),
            );
            // A task of its own, so a panicking handler fails its job, not the worker.
            let mut task = AbortOnDrop(tokio::spawn((h.run)(job.payload.clone(), ctx)));
            match (&mut task.0).await {
                Ok(r) => r,
                Err(e) => Err(anyhow::anyhow!("the handler panicked: {e}")),
            }
        }
    };
    shared.running_jobs().remove(&job.job_id.0);
    let duration_ms = started.elapsed().as_millis() as u64;
    finish(&shared, &job, &cancel, outcome, duration_ms).await;
}

async fn finish(
    shared: &Shared,
    job: &ClaimedJob,
    cancel: &Cancel,
    outcome: anyhow::Result<()>,
    duration_ms: u64,
) {
    let pool = &shared.pool;
    match cancel.reason() {
        Some(CancelReason::LeaseLost) => {
            tracing::warn!(duration_ms, "lease lost while running; the outcome is discarded");
            return;
        }
        Some(CancelReason::Shutdown) => {
            tracing::info!(duration_ms, "stopped by shutdown; the job was handed back");
            return;
        }
        Some(CancelReason::Requested) | None => {}
    }
    let written = match outcome {
        Ok(()) => complete(shared, job).await.map(|()| {
            tracing::info!(duration_ms, "job succeeded");
        }),
        Err(e) if cancel.reason() == Some(CancelReason::Requested) => {
            match q::finish_cancelled(pool, job.job_id.0, &job.worker, job.attempt).await {
                Ok(true) => {
                    tracing::info!(duration_ms, error = %e, "job cancelled while running");
                    Ok(())
                }
                Ok(false) => Err(super::lease_lost(job.job_id)),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => {
            let permanent = e.downcast_ref::<Permanent>().is_some();
            let message = format!("{e:#}");
            let backoff = super::backoff(job.attempt, shared.config.backoff_base, shared.config.backoff_max);
            super::fail(pool, job, &message, backoff, permanent).await.map(|state| {
                if state == JobState::Failed {
                    tracing::error!(duration_ms, error = %message, "job failed for good");
                } else {
                    tracing::warn!(duration_ms, error = %message, retry_in_ms = backoff.as_millis() as u64,
                        "job attempt failed; retrying");
                }
            })
        }
    };
    match written {
        Ok(()) => {}
        Err(e) if super::is_lease_lost(&e) => {
            tracing::warn!(duration_ms, "lease lost before the outcome was written; it is discarded");
        }
        Err(e) => tracing::error!(duration_ms, error = %e,
            "could not record the job's outcome; it runs again when its lease expires"),
    }
}

/// Completes through the batching completer when there is one.
async fn complete(shared: &Shared, job: &ClaimedJob) -> crate::Result<()> {
    let Some(completions) = &shared.completions else { return super::complete(&shared.pool, job).await };
    let (done, answer) = oneshot::channel();
    let c = Completion { job_id: job.job_id.0, attempt: job.attempt, done };
    if completions.send(c).await.is_err() {
        // The completer is gone (shutdown); write it directly.
        return super::complete(&shared.pool, job).await;
    }
    match answer.await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(super::lease_lost(job.job_id)),
        Ok(Err(e)) => Err(e),
        Err(_) => super::complete(&shared.pool, job).await,
    }
}

async fn completer_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<Completion>, stop: CancellationToken) {
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            c = rx.recv() => match c { Some(c) => c, None => return },
        };
        let mut batch = vec![first];
        while batch.len() < COMPLETION_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let (ids, attempts): (Vec<Uuid>, Vec<i32>) = batch.iter().map(|c| (c.job_id, c.attempt)).unzip();
        match q::complete_many(&shared.pool, &shared.id, &ids, &attempts).await {
            Ok(done) => {
                let done: std::collections::HashSet<Uuid> = done.into_iter().collect();
                for c in batch {
                    let _ = c.done.send(Ok(done.contains(&c.job_id)));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for c in batch {
                    let _ = c
                        .done
                        .send(Err(crate::Error::Other(anyhow::anyhow!("completing jobs failed: {msg}"))));
                }
            }
        }
    }
}

async fn heartbeat_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let lease_ms = super::millis(shared.config.lease);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(shared.config.heartbeat_interval) => {}
        }
        let (ids, attempts) = shared.snapshot();
        if ids.is_empty() {
            continue;
        }
        // The lease runs from when the statement was sent, not from its answer.
        let sent = Instant::now();
        let alive = match q::heartbeat(&shared.pool, &shared.id, &ids, &attempts, lease_ms).await {
            Ok(rows) => rows.into_iter().map(|r| (r.job_id, r.cancel_requested)).collect::<HashMap<_, _>>(),
            Err(e) => {
                tracing::warn!(worker = %shared.id, error = %e, "heartbeat failed; leases may expire");
                // Cut off from the database past a lease, another worker may already
                // run our jobs: stop them rather than work twice.
                for (id, r) in shared.running_jobs().iter() {
                    if r.renewed.elapsed() >= shared.config.lease {
                        tracing::warn!(worker = %shared.id, job.id = %JobId(*id), "lease ran out without a heartbeat");
                        r.cancel.trip(CancelReason::LeaseLost);
                    }
                }
                continue;
            }
        };
        let mut running = shared.running_jobs();
        for (id, attempt) in ids.iter().zip(&attempts) {
            // Only jobs still tracked: an untracked one finished after the snapshot.
            let Some(r) = running.get_mut(id).filter(|r| r.attempt == *attempt) else { continue };
            match alive.get(id) {
                None => {
                    tracing::warn!(worker = %shared.id, job.id = %JobId(*id), "lease lost; stopping the job");
                    r.cancel.trip(CancelReason::LeaseLost);
                }
                Some(cancel_requested) => {
                    r.renewed = sent;
                    if *cancel_requested {
                        r.cancel.trip(CancelReason::Requested);
                    }
                }
            }
        }
    }
}

async fn reaper_loop(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(shared.config.reap_interval) => {}
        }
        match super::reap_expired(&shared.pool).await {
            Ok(0) => {}
            Ok(_) => shared.wake.notify_one(),
            Err(e) => tracing::warn!(worker = %shared.id, error = %e, "reaping expired leases failed"),
        }
    }
}

async fn listen_loop(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let mut listener = match connect_listener(&shared.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(worker = %shared.id, error = %e, "LISTEN failed; polling only until it works");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(shared.config.poll_interval) => continue,
                }
            }
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                n = listener.recv() => match n {
                    Ok(n) => {
                        if shared.queues.iter().any(|q| q == n.payload()) {
                            shared.wake.notify_one();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(worker = %shared.id, error = %e, "lost the LISTEN connection; reconnecting");
                        // Jobs queued while disconnected were not announced.
                        shared.wake.notify_one();
                        break;
                    }
                },
            }
        }
    }
}

async fn connect_listener(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut l = PgListener::connect_with(pool).await?;
    l.listen(NOTIFY_CHANNEL).await?;
    Ok(l)
}
