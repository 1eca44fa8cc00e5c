//! What a running handler gets: its job's identity, the pool, a cancellation signal,
//! a log, shared resources and a bounded lane for CPU-heavy work.

use super::registry::Resources;
use crate::{Error, Result};
use domain::JobId;
use sqlx::PgPool;
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::Semaphore;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Why a job's cancellation token tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// Someone called `queue::cancel`; the attempt ends as `cancelled`.
    Requested,
    /// The lease expired or was taken over; whatever the handler does now is refused.
    LeaseLost,
    /// The worker is shutting down past its grace period; the job is handed back.
    Shutdown,
}

impl CancelReason {
    fn code(self) -> u8 {
        match self {
            Self::Requested => 1,
            Self::LeaseLost => 2,
            Self::Shutdown => 3,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(Self::Requested),
            2 => Some(Self::LeaseLost),
            3 => Some(Self::Shutdown),
            _ => None,
        }
    }
}

/// The cancellation side of a running job, shared by the worker (heartbeat, shutdown)
/// and the handler's [`JobCtx`]. The first reason wins.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cancel {
    token: CancellationToken,
    reason: Arc<AtomicU8>,
}

impl Cancel {
    pub(crate) fn trip(&self, reason: CancelReason) {
        let _ = self.reason.compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
        self.token.cancel();
    }

    pub(crate) fn reason(&self) -> Option<CancelReason> {
        CancelReason::from_code(self.reason.load(Ordering::SeqCst))
    }
}

/// Cheap to clone; handed to [`super::Job::run`].
#[derive(Clone)]
pub struct JobCtx {
    inner: Arc<Inner>,
}

struct Inner {
    job_id: JobId,
    kind: String,
    attempt: i32,
    max_attempts: i32,
    db: PgPool,
    cancel: Cancel,
    resources: Arc<Resources>,
    cpu: Arc<Semaphore>,
}

impl JobCtx {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        job_id: JobId,
        kind: String,
        attempt: i32,
        max_attempts: i32,
        db: PgPool,
        cancel: Cancel,
        resources: Arc<Resources>,
        cpu: Arc<Semaphore>,
    ) -> Self {
        Self { inner: Arc::new(Inner { job_id, kind, attempt, max_attempts, db, cancel, resources, cpu }) }
    }

    pub fn job_id(&self) -> JobId {
        self.inner.job_id
    }

    pub fn kind(&self) -> &str {
        &self.inner.kind
    }

    /// 1 on the first attempt.
    pub fn attempt(&self) -> i32 {
        self.inner.attempt
    }

    /// True when a failure now is final, e.g. to record the failure in domain tables.
    pub fn is_last_attempt(&self) -> bool {
        self.inner.attempt >= self.inner.max_attempts
    }

    pub fn db(&self) -> &PgPool {
        &self.inner.db
    }

    /// Check between steps and return early (any error or `Ok`) when true.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.token.is_cancelled()
    }

    /// Resolves when the job should stop; for `tokio::select!` around long awaits.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.inner.cancel.token.cancelled()
    }

    /// The token itself, to hand to sub-tasks.
    pub fn cancellation(&self) -> CancellationToken {
        self.inner.cancel.token.clone()
    }

    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.inner.cancel.reason()
    }

    /// A resource registered with [`super::JobRegistry::provide`] (the `AppState`, an
    /// HTTP client, ...).
    pub fn resource<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner.resources.get::<T>()
    }

    /// Like [`Self::resource`], but a missing one is an error naming the type.
    pub fn require<T: Any + Send + Sync>(&self) -> Result<Arc<T>> {
        self.resource::<T>().ok_or_else(|| {
            Error::Other(anyhow::anyhow!(
                "job kind '{}' needs a {} registered with JobRegistry::provide",
                self.kind(),
                std::any::type_name::<T>()
            ))
        })
    }

    /// Appends one line to the job's log (readable live through `queue::read_log`).
    pub async fn log(&self, line: impl Into<String>) -> Result<()> {
        super::append_log(&self.inner.db, self.inner.job_id, &[line.into()]).await.map(|_| ())
    }

    /// Runs CPU-heavy work on the blocking pool, at most `cpu_slots` at a time across
    /// the worker, so training never starves the web server's async threads.
    pub async fn run_blocking<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let _permit =
            self.inner.cpu.clone().acquire_owned().await.map_err(|e| Error::Other(anyhow::anyhow!(e)))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Other(anyhow::anyhow!("blocking task failed: {e}")))
    }
}
