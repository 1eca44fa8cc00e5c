//! `GET /api/v1/pipelines/runs/{run_id}/events`: the live run view's stream. Polls
//! the run and sends it whole (`run`, a RunDetail as JSON) whenever it changed, then
//! `end` once the run is finished, so the page redraws the DAG without reloading.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiPath, ApiResult};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use domain::PipelineRunId;
use futures::{Stream, StreamExt};
use services::auth::Principal;
use std::convert::Infallible;
use std::time::Duration;

/// How often the stream reads the run; a step's new state reaches the browser within this.
const POLL: Duration = Duration::from_millis(500);

#[utoipa::path(get, path = "/api/v1/pipelines/runs/{run_id}/events", tag = "pipelines",
    params(("run_id" = String, Path, description = "Pipeline run id (UUID)")),
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-sent events: `run` (the RunDetail as JSON, when it changed), `end` (the final state) once the run is finished"),
        (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn run_events(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<PipelineRunId>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Fail before the stream starts (404, 403) rather than inside it.
    let first = services::pipelines::run(&st.services, &p, id).await?;
    Ok(Sse::new(events(st.services.clone(), p, id, first)).keep_alive(KeepAlive::default()))
}

fn events(
    st: services::AppState,
    p: Principal,
    id: PipelineRunId,
    first: domain::pipelines::RunDetail,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Cursor {
        st: services::AppState,
        p: Principal,
        /// The last detail sent, serialised: a change is any difference in it.
        last: Option<String>,
        next: Option<domain::pipelines::RunDetail>,
        done: bool,
    }
    let start = Cursor { st, p, last: None, next: Some(first), done: false };
    futures::stream::unfold(start, move |mut c| async move {
        if c.done {
            return None;
        }
        let detail = match c.next.take() {
            Some(d) => Ok(d),
            None => {
                tokio::time::sleep(POLL).await;
                services::pipelines::run(&c.st, &c.p, id).await
            }
        };
        let mut events = Vec::new();
        match detail {
            Ok(d) => {
                let text = serde_json::to_string(&d).unwrap_or_default();
                if c.last.as_deref() != Some(text.as_str()) {
                    events.push(Event::default().event("run").data(text.clone()));
                    c.last = Some(text);
                }
                if d.summary.state.is_terminal() {
                    events.push(Event::default().event("end").data(d.summary.state.as_str()));
                    c.done = true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, run.id = %id, "pipeline run stream stopped");
                events.push(Event::default().event("end").data("error"));
                c.done = true;
            }
        }
        Some((futures::stream::iter(events.into_iter().map(Ok)), c))
    })
    .flatten()
}
