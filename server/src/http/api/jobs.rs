//! `/api/v1/jobs` and `/api/v1/schedules`: the queue as people and programs see it,
//! with a server-sent-events stream of a job's log.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use domain::jobs::{Job, JobDetail, JobPage, JobQuery, NewJob, NewSchedule, Schedule, ScheduleChange};
use domain::{JobId, ScheduleId};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use services::auth::Principal;
use std::convert::Infallible;
use std::time::Duration;

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_jobs(
    State(st): State<ServerState>,
    Auth(p): Auth,
    q: Result<Query<JobQuery>, QueryRejection>,
) -> ApiResult<Json<JobPage>> {
    Ok(Json(services::jobs::list(&st.services, &p, &query(q)?).await?))
}

#[utoipa::path(get, path = "/api/v1/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id (UUID)")),
    responses((status = 200, body = JobDetail), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobDetail>> {
    Ok(Json(services::jobs::get(&st.services, &p, id).await?))
}

#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = NewJob,
    responses((status = 201, body = Job), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start_job(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewJob>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    Ok((StatusCode::CREATED, Json(services::jobs::start(&st.services, &p, new).await?)))
}

#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/cancel", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id (UUID)")),
    responses((status = 200, body = Job, description = "Cancelled, or asked to stop if running"),
              (status = 409, body = ErrorBody, description = "Already finished")))]
pub async fn cancel_job(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<Job>> {
    Ok(Json(services::jobs::cancel(&st.services, &p, id).await?))
}

#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/retry", tag = "jobs",
    params(("job_id" = String, Path, description = "Job id (UUID)")),
    responses((status = 200, body = Job), (status = 409, body = ErrorBody, description = "Not failed or cancelled")))]
pub async fn retry_job(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<Job>> {
    Ok(Json(services::jobs::retry(&st.services, &p, id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Send lines after this line number (0: from the start).
    #[serde(default)]
    after: i32,
}

/// How often the stream looks for new lines; a running job's log appears in the
/// browser within this.
const POLL: Duration = Duration::from_millis(400);

#[utoipa::path(get, path = "/api/v1/jobs/{job_id}/log/stream", tag = "jobs", params(("job_id" = String, Path, description = "Job id (UUID)"), StreamQuery),
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-sent events: `line` (a LogLine as JSON), `state` (the Job as JSON, when it changes), `end` once the job is finished and its log sent")))]
pub async fn stream_log(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<JobId>,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let after = query(q)?.after;
    // Fail before the stream starts (404, 403) rather than inside it.
    services::jobs::log_after(&st.services, &p, id, i32::MAX).await?;
    Ok(Sse::new(log_events(st.services.clone(), p, id, after)).keep_alive(KeepAlive::default()))
}

fn log_events(
    st: services::AppState,
    p: Principal,
    id: JobId,
    after: i32,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Cursor {
        st: services::AppState,
        p: Principal,
        after: i32,
        last_state: Option<String>,
        done: bool,
        first: bool,
    }
    let start = Cursor { st, p, after, last_state: None, done: false, first: true };
    futures::stream::unfold(start, move |mut c| async move {
        if c.done {
            return None;
        }
        if !c.first {
            tokio::time::sleep(POLL).await;
        }
        c.first = false;
        let mut events = Vec::new();
        match services::jobs::log_after(&c.st, &c.p, id, c.after).await {
            Ok((lines, job)) => {
                for l in &lines {
                    c.after = c.after.max(l.line_no);
                    events.push(Event::default().event("line").json_data(l).unwrap_or_default());
                }
                if c.last_state.as_deref() != Some(job.state.as_str()) {
                    c.last_state = Some(job.state.clone());
                    events.push(Event::default().event("state").json_data(&job).unwrap_or_default());
                }
                let finished = matches!(job.state.as_str(), "succeeded" | "failed" | "cancelled");
                if finished && lines.is_empty() {
                    events.push(Event::default().event("end").data(job.state));
                    c.done = true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, job.id = %id, "log stream stopped");
                events.push(Event::default().event("end").data("error"));
                c.done = true;
            }
        }
        Some((futures::stream::iter(events.into_iter().map(Ok)), c))
    })
    .flatten()
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "jobs",
    responses((status = 200, body = [Schedule])))]
pub async fn list_schedules(State(st): State<ServerState>, Auth(p): Auth) -> ApiResult<Json<Vec<Schedule>>> {
    Ok(Json(services::jobs::schedules(&st.services, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/schedules", tag = "jobs", request_body = NewSchedule,
    responses((status = 201, body = Schedule), (status = 409, body = ErrorBody, description = "Name taken"),
              (status = 422, body = ErrorBody, description = "Bad cron, time zone, kind or payload")))]
pub async fn create_schedule(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewSchedule>,
) -> ApiResult<(StatusCode, Json<Schedule>)> {
    Ok((StatusCode::CREATED, Json(services::jobs::create_schedule(&st.services, &p, new).await?)))
}

#[utoipa::path(patch, path = "/api/v1/schedules/{schedule_id}", tag = "jobs", request_body = ScheduleChange,
    params(("schedule_id" = String, Path, description = "Schedule id (UUID)")),
    responses((status = 200, body = Schedule), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_schedule(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<ScheduleId>,
    ApiJson(change): ApiJson<ScheduleChange>,
) -> ApiResult<Json<Schedule>> {
    Ok(Json(services::jobs::change_schedule(&st.services, &p, id, change).await?))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{schedule_id}", tag = "jobs",
    params(("schedule_id" = String, Path, description = "Schedule id (UUID)")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_schedule(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<ScheduleId>,
) -> ApiResult<StatusCode> {
    services::jobs::delete_schedule(&st.services, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
