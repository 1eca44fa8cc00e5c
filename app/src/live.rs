//! Live updates from server-sent events, in the browser only. On the server (and
//! before hydration) nothing is subscribed: the page shows what it rendered.

use domain::jobs::{Job, LogLine};
use domain::pipelines::RunDetail;
use domain::{JobId, PipelineRunId};

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
        hydrate::Subscription::open(
            &url,
            vec![("line", hydrate::json(on_line)), ("state", hydrate::json(on_state))],
        )
        .map(|s| LiveLog { inner: send_wrapper::SendWrapper::new(s) })
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (job_id, after, on_line, on_state);
        None
    }
}

/// Follows a pipeline run: `on_run` with the whole run whenever it changed. The
/// stream closes itself once the run is finished.
pub fn follow_pipeline_run(run_id: PipelineRunId, on_run: impl Fn(RunDetail) + 'static) -> Option<LiveLog> {
    #[cfg(feature = "hydrate")]
    {
        let url = format!("/api/v1/pipelines/runs/{run_id}/events");
        hydrate::Subscription::open(&url, vec![("run", hydrate::json(on_run))])
            .map(|s| LiveLog { inner: send_wrapper::SendWrapper::new(s) })
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (run_id, on_run);
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
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    pub type Handler = Box<dyn Fn(String)>;

    /// A handler that decodes the event's JSON data (and ignores what does not decode).
    pub fn json<T: serde::de::DeserializeOwned>(f: impl Fn(T) + 'static) -> Handler {
        Box::new(move |s: String| {
            if let Ok(v) = serde_json::from_str(&s) {
                f(v)
            }
        })
    }

    pub struct Subscription {
        source: EventSource,
        _handlers: Vec<Closure<dyn Fn(MessageEvent)>>,
    }

    impl Subscription {
        /// Opens `url` with one handler per event name; an `end` event closes it.
        pub fn open(url: &str, handlers: Vec<(&'static str, Handler)>) -> Option<Self> {
            let source = EventSource::new(url).ok()?;
            let mut closures = Vec::new();
            for (name, h) in handlers {
                let c = Closure::<dyn Fn(MessageEvent)>::new(move |e: MessageEvent| {
                    if let Some(s) = e.data().as_string() {
                        h(s)
                    }
                });
                source.add_event_listener_with_callback(name, c.as_ref().unchecked_ref()).ok()?;
                closures.push(c);
            }
            let closer = source.clone();
            let end = Closure::<dyn Fn(MessageEvent)>::new(move |_| closer.close());
            source.add_event_listener_with_callback("end", end.as_ref().unchecked_ref()).ok()?;
            closures.push(end);
            Some(Self { source, _handlers: closures })
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
