//! `/api/v1/endpoints/...`: serving endpoints (create, list, change traffic,
//! delete), the friendly prediction API, the serving log's statistics and recent
//! requests, and feedback labels.

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::http::serving::{View, json_response, meta, parse};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use domain::serving::{
    BatchPredictionSubmitted, Endpoint, EndpointChange, EndpointStats, Feedback, FeedbackAccepted,
    LoggedRequest, NewBatchPrediction, NewEndpoint, PredictResponse,
};
use serde::{Deserialize, Serialize};
use services::serving::{self, input::RecordColumns};

/// Every endpoint with its routes and whether this server can answer with them.
#[utoipa::path(get, path = "/api/v1/endpoints", tag = "serving",
    responses((status = 200, body = Vec<Endpoint>)))]
pub async fn list_endpoints(
    State(st): State<services::AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<Endpoint>>> {
    Ok(Json(serving::list(&st, &p).await?))
}

/// Creates an endpoint serving a registered model. Without `routes` it follows the
/// model's `production` alias with all the traffic.
#[utoipa::path(post, path = "/api/v1/endpoints", tag = "serving", request_body = NewEndpoint,
    responses((status = 201, body = Endpoint), (status = 403, body = ErrorBody),
              (status = 404, description = "Unknown model", body = ErrorBody),
              (status = 409, description = "The name is taken", body = ErrorBody),
              (status = 422, description = "Bad name, routes whose traffic does not sum to 100, unknown or unservable pinned version", body = ErrorBody)))]
pub async fn create_endpoint(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewEndpoint>,
) -> ApiResult<(StatusCode, Json<Endpoint>)> {
    Ok((StatusCode::CREATED, Json(serving::create(&st, &p, new).await?)))
}

#[utoipa::path(get, path = "/api/v1/endpoints/{name}", tag = "serving",
    params(("name" = String, Path, description = "Endpoint name")),
    responses((status = 200, body = Endpoint), (status = 404, body = ErrorBody)))]
pub async fn get_endpoint(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Endpoint>> {
    Ok(Json(serving::get(&st, &p, &name).await?))
}

/// Changes the description, the log's sample rate, or the routes (all replaced at
/// once: the traffic split, canaries, shadows).
#[utoipa::path(patch, path = "/api/v1/endpoints/{name}", tag = "serving", request_body = EndpointChange,
    params(("name" = String, Path, description = "Endpoint name")),
    responses((status = 200, body = Endpoint), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn change_endpoint(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(change): ApiJson<EndpointChange>,
) -> ApiResult<Json<Endpoint>> {
    Ok(Json(serving::change(&st, &p, &name, change).await?))
}

#[utoipa::path(delete, path = "/api/v1/endpoints/{name}", tag = "serving",
    params(("name" = String, Path, description = "Endpoint name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_endpoint(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    serving::delete(&st, &p, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"records": [{feature: value, ...}, ...]}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// One object per row, keyed by feature name.
    #[schema(value_type = Vec<Object>)]
    records: RecordColumns,
}

/// Predicts with the endpoint (the version chosen by its traffic split): the model's
/// preparation is applied to the records, which are checked against its signature
/// first. Viewers may predict.
#[utoipa::path(post, path = "/api/v1/endpoints/{name}/predict", tag = "serving", request_body = PredictRequest,
    params(("name" = String, Path, description = "Endpoint name")),
    responses((status = 200, body = PredictResponse),
              (status = 400, description = "Not JSON, or not `{\"records\": [...]}`", body = ErrorBody),
              (status = 404, description = "Unknown endpoint", body = ErrorBody),
              (status = 413, description = "Body over CAIRN_MAX_BODY_BYTES", body = ErrorBody),
              (status = 422, description = "Missing, unknown or mistyped feature, a missing value the model cannot take, an unknown category", body = ErrorBody),
              (status = 503, description = "The version this request was routed to cannot be served", body = ErrorBody)))]
pub async fn predict(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let meta = meta(&headers);
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the server's limit (CAIRN_MAX_BODY_BYTES); send fewer records per request",
            )
        } else {
            ApiError::new(r.status(), "bad_request", r.body_text())
        }
    })?;
    let ep = st.serving.endpoint(&name)?;
    let req: PredictRequest = parse(body).await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the body must be {{\"records\": [{{\"feature\": value, ...}}]}}: {e}"),
        )
    })?;
    if req.records.is_empty() {
        return Err(services::Error::from(domain::ValidationError::new(
            "records",
            "give at least one record",
        ))
        .into());
    }
    let input = req.records.into_columns("records")?;
    let request_id = meta.request_id.clone();
    let served = serving::predict(&st, &p, &ep, None, input, meta).await?;
    let view = View::new(&served);
    #[derive(Serialize)]
    struct Body<'a> {
        request_id: &'a str,
        model_version: i32,
        predictions: crate::http::serving::Preds<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<crate::http::serving::Probas<'a>>,
    }
    Ok(json_response(
        StatusCode::OK,
        &Body {
            request_id: &request_id,
            model_version: served.model.version,
            predictions: view.predictions(),
            probabilities: view.probabilities(),
        },
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatsQuery {
    /// The window, in minutes back from now (default 60, at most 1440).
    pub minutes: Option<u32>,
}

/// Requests, errors and latency p50/p99 per minute and version, from the serving log.
#[utoipa::path(get, path = "/api/v1/endpoints/{name}/stats", tag = "serving",
    params(("name" = String, Path, description = "Endpoint name"), StatsQuery),
    responses((status = 200, body = EndpointStats), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn endpoint_stats(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Json<EndpointStats>> {
    Ok(Json(serving::stats(&st, &p, &name, q.minutes.unwrap_or(60)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RequestsQuery {
    /// At most this many requests (default 50, at most 500).
    pub limit: Option<usize>,
}

/// The most recent logged requests, newest first, with their records and predictions.
#[utoipa::path(get, path = "/api/v1/endpoints/{name}/requests", tag = "serving",
    params(("name" = String, Path, description = "Endpoint name"), RequestsQuery),
    responses((status = 200, body = Vec<LoggedRequest>), (status = 404, body = ErrorBody)))]
pub async fn endpoint_requests(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RequestsQuery>,
) -> ApiResult<Json<Vec<LoggedRequest>>> {
    Ok(Json(serving::recent_requests(&st, &p, &name, q.limit.unwrap_or(50)).await?))
}

/// Attaches ground-truth labels to request ids (the `request_id` of a prediction).
/// Labels for ids not (yet) in the log are stored too: logging is sampled, and
/// monitoring joins them when it reads the log. Sending a label again replaces it.
#[utoipa::path(post, path = "/api/v1/endpoints/{name}/feedback", tag = "serving", request_body = Vec<Feedback>,
    params(("name" = String, Path, description = "Endpoint name")),
    responses((status = 200, body = FeedbackAccepted), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn post_feedback(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(items): ApiJson<Vec<Feedback>>,
) -> ApiResult<Json<FeedbackAccepted>> {
    Ok(Json(serving::feedback(&st, &p, &name, items).await?))
}

/// Queues a batch prediction: a model version (`models:/name/3`, `models:/name@alias`)
/// applied to a dataset version; the predictions become a new version of
/// `<dataset>-predictions` (or `output_dataset`), with lineage. Follow the job at
/// `/api/v1/jobs/{job_id}`.
#[utoipa::path(post, path = "/api/v1/batch-predictions", tag = "serving", request_body = NewBatchPrediction,
    responses((status = 202, body = BatchPredictionSubmitted), (status = 403, body = ErrorBody),
              (status = 404, description = "Unknown model, version or dataset", body = ErrorBody),
              (status = 422, description = "Malformed model reference, a version Cairn cannot run", body = ErrorBody)))]
pub async fn submit_batch_prediction(
    State(st): State<services::AppState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewBatchPrediction>,
) -> ApiResult<(StatusCode, Json<BatchPredictionSubmitted>)> {
    Ok((StatusCode::ACCEPTED, Json(serving::batch::submit(&st, &p, new).await?)))
}
