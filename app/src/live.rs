//! Live updates from server-sent events, in the browser only. On the server (and
//! before hydration) nothing is subscribed: the page shows what it rendered.

use domain::JobId;
use domain::jobs::{Job, LogLine};

/// An open subscription; dropping it closes the stream.
pub struct LiveLog {
    #[cfg(feature = "hydrate")]
    inner: send_wrapper::SendWrapper<hydrate::Subscription>,
}

/// Follows a job's log from line `after`: `on_line` for each new line, `on_state`
/// when the job's state changes. The stream closes itself once the job is done.
pub fn follow_job_log(
    job_id: JobId,
    after: i32,
    on_line: impl Fn(LogLine) + 'static,
    on_state: impl Fn(Job) + 'static,
) -> Option<LiveLog> {
    #[cfg(feature = "hydrate")]
    {
        let url = format!("/api/v1/jobs/{job_id}/log/stream?after={after}");
        hydrate::Subscription::open(&url, on_line, on_state)
            .map(|s| LiveLog { inner: send_wrapper::SendWrapper::new(s) })
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (job_id, after, on_line, on_state);
        None
    }
}

impl LiveLog {
    pub fn close(&self) {
        #[cfg(feature = "hydrate")]
        self.inner.close();
    }
}

#[cfg(feature = "hydrate")]
mod hydrate {
    use domain::jobs::{Job, LogLine};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    pub struct Subscription {
        source: EventSource,
        _handlers: Vec<Closure<dyn Fn(MessageEvent)>>,
    }

    impl Subscription {
        pub fn open(
            url: &str,
            on_line: impl Fn(LogLine) + 'static,
            on_state: impl Fn(Job) + 'static,
        ) -> Option<Self> {
            let source = EventSource::new(url).ok()?;
            let data = |e: &MessageEvent| e.data().as_string();
            let line = Closure::<dyn Fn(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(l) = data(&e).and_then(|s| serde_json::from_str(&s).ok()) {
                    on_line(l);
                }
            });
            let state = Closure::<dyn Fn(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(j) = data(&e).and_then(|s| serde_json::from_str(&s).ok()) {
                    on_state(j);
                }
            });
            let closer = source.clone();
            let end = Closure::<dyn Fn(MessageEvent)>::new(move |_| closer.close());
            for (name, handler) in [("line", &line), ("state", &state), ("end", &end)] {
                source.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref()).ok()?;
            }
            Some(Self { source, _handlers: vec![line, state, end] })
        }

        pub fn close(&self) {
            self.source.close();
        }
    }

    impl Drop for Subscription {
        fn drop(&mut self) {
            self.source.close();
        }
    }
}
