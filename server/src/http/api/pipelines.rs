//! `/api/v1/pipelines`, `/api/v1/pipeline-runs` and `/api/v1/pipeline-components`:
//! submit specs, start and follow runs, schedules, and the two machine triggers (a
//! signed webhook for CI, a hook for monitoring).

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use domain::pipelines::{
    CommandComponentSpec, ComponentInfo, MonitorTrigger, NewSchedule, PipelineDetail, PipelineSchedule,
    PipelineSummary, PipelineVersion, RunDetail, RunState, RunSummary, ScheduleChange, StartRun,
    SubmitPipeline, Submitted, WebhookAccepted, WebhookSecret,
};
use domain::{PipelineRunId, ScheduleId};
use serde::Deserialize;

/// The header a webhook call is signed in.
pub const SIGNATURE_HEADER: &str = "x-cairn-signature";

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

/// The spec text of a submission: `{"spec": "<yaml or json>"}` as JSON, or the
/// YAML/JSON file itself as the body (`application/yaml`, `text/*`, or a JSON spec).
fn spec_text(headers: &HeaderMap, body: &Bytes) -> ApiResult<String> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body is not UTF-8 text; send the spec as YAML or JSON",
        )
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json")
        && let Ok(wrapped) = serde_json::from_str::<SubmitPipeline>(text)
    {
        return Ok(wrapped.spec);
    }
    Ok(text.to_string())
}

#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines",
    request_body(content(
        (SubmitPipeline = "application/json"),
        (String = "application/yaml"),
    )),
    responses((status = 201, body = Submitted, description = "A new version"),
              (status = 200, body = Submitted, description = "The same spec as an existing version"),
              (status = 422, body = ErrorBody, description = "Invalid spec: the field (and for YAML the line and column) named")))]
pub async fn submit(
    State(st): State<ServerState>,
    Auth(p): Auth,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Submitted>)> {
    let text = spec_text(&headers, &body)?;
    let s = services::pipelines::submit(&st.services, &p, &text).await?;
    Ok((if s.created { StatusCode::CREATED } else { StatusCode::OK }, Json(s)))
}

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines",
    responses((status = 200, body = [PipelineSummary])))]
pub async fn list_pipelines(
    State(st): State<ServerState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<PipelineSummary>>> {
    Ok(Json(services::pipelines::list(&st.services, &p).await?))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name or id")),
    responses((status = 200, body = PipelineDetail), (status = 404, body = ErrorBody)))]
pub async fn get_pipeline(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<PipelineDetail>> {
    Ok(Json(services::pipelines::get(&st.services, &p, &name).await?))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name or id")),
    responses((status = 204, description = "Deleted with its versions, runs and schedules"), (status = 404, body = ErrorBody)))]
pub async fn delete_pipeline(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    services::pipelines::delete(&st.services, &p, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/versions/{version}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name or id"), ("version" = i32, Path, description = "Version number")),
    responses((status = 200, body = PipelineVersion), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, version)): ApiPath<(String, i32)>,
) -> ApiResult<Json<PipelineVersion>> {
    Ok(Json(services::pipelines::version(&st.services, &p, &name, version).await?))
}

#[utoipa::path(post, path = "/api/v1/pipelines/{name}/runs", tag = "pipelines", request_body = StartRun,
    params(("name" = String, Path, description = "Pipeline name or id")),
    responses((status = 201, body = RunDetail), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "A missing, unknown or mistyped parameter (named)")))]
pub async fn start_run(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RunDetail>)> {
    // An empty body starts the newest version with the default parameters.
    let req: StartRun = if body.iter().all(u8::is_ascii_whitespace) {
        StartRun::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", format!("the body is not a StartRun: {e}"))
        })?
    };
    Ok((StatusCode::CREATED, Json(services::pipelines::start_run(&st.services, &p, &name, req).await?)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RunQuery {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this pipeline (name or id).
    pub pipeline: Option<String>,
    /// At most this many (default 50, at most 500), newest first.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/runs", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name or id"), RunQuery),
    responses((status = 200, body = [RunSummary]), (status = 404, body = ErrorBody)))]
pub async fn list_pipeline_runs(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    q: Result<Query<RunQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RunSummary>>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    Ok(Json(services::pipelines::runs(&st.services, &p, Some(&name), q.state, limit).await?))
}

#[utoipa::path(get, path = "/api/v1/pipeline-runs", tag = "pipelines", params(RunQuery),
    responses((status = 200, body = [RunSummary])))]
pub async fn list_runs(
    State(st): State<ServerState>,
    Auth(p): Auth,
    q: Result<Query<RunQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<RunSummary>>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    Ok(Json(services::pipelines::runs(&st.services, &p, q.pipeline.as_deref(), q.state, limit).await?))
}

#[utoipa::path(get, path = "/api/v1/pipeline-runs/{run_id}", tag = "pipelines",
    params(("run_id" = String, Path, description = "Pipeline run id (UUID)")),
    responses((status = 200, body = RunDetail), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<PipelineRunId>,
) -> ApiResult<Json<RunDetail>> {
    Ok(Json(services::pipelines::run(&st.services, &p, id).await?))
}

#[utoipa::path(post, path = "/api/v1/pipeline-runs/{run_id}/cancel", tag = "pipelines",
    params(("run_id" = String, Path, description = "Pipeline run id (UUID)")),
    responses((status = 200, body = RunDetail, description = "Cancelled: pending steps never start, running ones are stopped"),
              (status = 409, body = ErrorBody, description = "The run already ended")))]
pub async fn cancel_run(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<PipelineRunId>,
) -> ApiResult<Json<RunDetail>> {
    Ok(Json(services::pipelines::cancel_run(&st.services, &p, id).await?))
}

#[utoipa::path(post, path = "/api/v1/pipeline-runs/{run_id}/rerun", tag = "pipelines",
    params(("run_id" = String, Path, description = "Pipeline run id (UUID)")),
    responses((status = 201, body = RunDetail, description = "A new run that starts at the step that failed"),
              (status = 409, body = ErrorBody, description = "The run has not ended")))]
pub async fn rerun(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<PipelineRunId>,
) -> ApiResult<(StatusCode, Json<RunDetail>)> {
    Ok((StatusCode::CREATED, Json(services::pipelines::rerun(&st.services, &p, id).await?)))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/schedules", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name or id")),
    responses((status = 200, body = [PipelineSchedule]), (status = 404, body = ErrorBody)))]
pub async fn list_schedules(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<PipelineSchedule>>> {
    Ok(Json(services::pipelines::schedules(&st.services, &p, &name).await?))
}

#[utoipa::path(post, path = "/api/v1/pipelines/{name}/schedules", tag = "pipelines", request_body = NewSchedule,
    params(("name" = String, Path, description = "Pipeline name or id")),
    responses((status = 201, body = PipelineSchedule),
              (status = 422, body = ErrorBody, description = "Bad cron (5 or 6 fields), time zone or parameters")))]
pub async fn create_schedule(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(new): ApiJson<NewSchedule>,
) -> ApiResult<(StatusCode, Json<PipelineSchedule>)> {
    Ok((StatusCode::CREATED, Json(services::pipelines::add_schedule(&st.services, &p, &name, new).await?)))
}

#[utoipa::path(patch, path = "/api/v1/pipelines/{name}/schedules/{schedule_id}", tag = "pipelines",
    request_body = ScheduleChange,
    params(("name" = String, Path, description = "Pipeline name or id"), ("schedule_id" = String, Path, description = "Schedule id (UUID)")),
    responses((status = 200, body = PipelineSchedule), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_schedule(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, id)): ApiPath<(String, ScheduleId)>,
    ApiJson(change): ApiJson<ScheduleChange>,
) -> ApiResult<Json<PipelineSchedule>> {
    Ok(Json(services::pipelines::change_schedule(&st.services, &p, &name, id, change).await?))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{name}/schedules/{schedule_id}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name or id"), ("schedule_id" = String, Path, description = "Schedule id (UUID)")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_schedule(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, id)): ApiPath<(String, ScheduleId)>,
) -> ApiResult<StatusCode> {
    services::pipelines::delete_schedule(&st.services, &p, &name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/pipelines/{name}/webhook-secret", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name or id")),
    responses((status = 201, body = WebhookSecret, description = "The new secret, shown once; the old one stops working"),
              (status = 404, body = ErrorBody)))]
pub async fn create_webhook_secret(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<WebhookSecret>)> {
    let secret = services::pipelines::create_webhook_secret(&st.services, &p, &name).await?;
    let usage = format!(
        "POST /api/v1/pipelines/{name}/webhook with the header X-Cairn-Signature: sha256=<hex HMAC-SHA256 of the raw body with this secret>; the body may be empty or {{\"parameters\": {{...}}, \"source\": \"...\"}}"
    );
    Ok((StatusCode::CREATED, Json(WebhookSecret { secret, usage })))
}

/// Unauthenticated by design (CI systems hold a shared secret, not a user): the
/// HMAC signature over the raw body is the credential, checked in services.
#[utoipa::path(post, path = "/api/v1/pipelines/{name}/webhook", tag = "pipelines", security(()),
    params(("name" = String, Path, description = "Pipeline name or id"),
           ("X-Cairn-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body>")),
    request_body(content = String, description = "Empty, or JSON {\"parameters\": {...}, \"source\": \"ci\"}", content_type = "application/json"),
    responses((status = 202, body = WebhookAccepted, description = "A run is queued"),
              (status = 401, body = ErrorBody, description = "Missing or bad signature: nothing is started"),
              (status = 422, body = ErrorBody)))]
pub async fn webhook(
    State(st): State<ServerState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<WebhookAccepted>)> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let job_id = services::pipelines::webhook_trigger(&st.services, &name, &body, signature).await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookAccepted { job_id })))
}

#[utoipa::path(post, path = "/api/v1/pipelines/{name}/monitor-trigger", tag = "pipelines", request_body = MonitorTrigger,
    params(("name" = String, Path, description = "Pipeline name or id")),
    responses((status = 201, body = RunDetail, description = "The run monitoring asked for"),
              (status = 422, body = ErrorBody, description = "No reason given, or bad parameters")))]
pub async fn monitor_trigger(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<MonitorTrigger>,
) -> ApiResult<(StatusCode, Json<RunDetail>)> {
    Ok((StatusCode::CREATED, Json(services::pipelines::monitor_trigger(&st.services, &p, &name, req).await?)))
}

#[utoipa::path(get, path = "/api/v1/pipeline-components", tag = "pipelines",
    responses((status = 200, body = [ComponentInfo], description = "Every version of every component")))]
pub async fn list_components(
    State(st): State<ServerState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<ComponentInfo>>> {
    Ok(Json(services::pipelines::components(&st.services, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/pipeline-components/{name}", tag = "pipelines", request_body = CommandComponentSpec,
    params(("name" = String, Path, description = "Component name")),
    responses((status = 200, body = ComponentInfo, description = "The version with this definition (new only when it changed)"),
              (status = 422, body = ErrorBody)))]
pub async fn register_component(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(spec): ApiJson<CommandComponentSpec>,
) -> ApiResult<Json<ComponentInfo>> {
    Ok(Json(services::pipelines::register_component(&st.services, &p, &name, &spec).await?))
}
