//! Which job kinds this process can run, and the shared resources their handlers use.

use super::{Job, JobCtx, Permanent};
use futures::future::BoxFuture;
use std::any::{Any, TypeId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

type HandlerFn = dyn Fn(serde_json::Value, JobCtx) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync;

#[derive(Clone)]
pub(crate) struct Handler {
    pub(crate) queue: &'static str,
    pub(crate) run: Arc<HandlerFn>,
}

/// Values handlers reach through [`JobCtx::resource`]; keyed by type, because a
/// registry is assembled once in `main` and each handler knows what it needs.
#[derive(Clone, Default)]
pub(crate) struct Resources(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Resources {
    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.get(&TypeId::of::<T>()).and_then(|v| v.clone().downcast::<T>().ok())
    }
}

/// Maps `job.kind` to its typed handler. Workers claim only the kinds they have, so
/// a rolling deploy that adds a kind never hands it to an old worker.
#[derive(Clone, Default)]
pub struct JobRegistry {
    handlers: HashMap<&'static str, Handler>,
    resources: Arc<Resources>,
}

impl JobRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the handler for `J`. A payload that no longer deserialises fails the job at
    /// once ([`Permanent`]): retrying cannot fix it.
    pub fn register<J: Job>(mut self) -> Self {
        let run: Arc<HandlerFn> = Arc::new(|payload, ctx| {
            Box::pin(async move {
                let job: J = serde_json::from_value(payload)
                    .map_err(|e| Permanent(format!("payload of job kind '{}' is malformed: {e}", J::KIND)))?;
                job.run(ctx).await
            })
        });
        self.handlers.insert(J::KIND, Handler { queue: J::QUEUE, run });
        self
    }

    /// Makes `value` available to handlers as `ctx.resource::<T>()`.
    pub fn provide<T: Any + Send + Sync>(mut self, value: T) -> Self {
        Arc::make_mut(&mut self.resources).0.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// Like [`Self::provide`] for a value the caller keeps a handle to (e.g. to
    /// observe what handlers did).
    pub fn provide_arc<T: Any + Send + Sync>(mut self, value: Arc<T>) -> Self {
        Arc::make_mut(&mut self.resources).0.insert(TypeId::of::<T>(), value);
        self
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.handlers.keys().map(|k| k.to_string()).collect();
        k.sort();
        k
    }

    /// The default queues of the registered kinds.
    pub fn queues(&self) -> Vec<String> {
        self.handlers.values().map(|h| h.queue.to_string()).collect::<BTreeSet<_>>().into_iter().collect()
    }

    pub(crate) fn handler(&self, kind: &str) -> Option<&Handler> {
        self.handlers.get(kind)
    }

    pub(crate) fn resources(&self) -> Arc<Resources> {
        self.resources.clone()
    }
}
