//! `/api/v1/datasets/{dataset}/versions/{version}/prepare` (fit a transform spec on
//! a version and store the prepared splits as new versions) and `.../transform`
//! (the fitted transform of a prepared version, for serving).

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiJson, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::preparation::{PrepareRequest, Prepared};
use domain::prepare::FittedTransform;
use services::datasets::{self as ds, prepare};

/// Splits the version as the spec says, fits the steps on the training rows,
/// and stores the prepared train rows as a new version of `output` (default
/// `<dataset>-prepared`) and the test rows in `<output>-test`, with lineage to
/// the input. Preparing the same version with the same spec again returns the
/// same versions (200, `created: false`).
#[utoipa::path(post, path = "/api/v1/datasets/{dataset}/versions/{version}/prepare", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), ("version" = i32, Path, description = "Version number")),
    request_body = PrepareRequest,
    responses((status = 201, body = Prepared), (status = 200, description = "The same preparation was already stored", body = Prepared),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "The spec does not parse or does not fit the data; the message names the position, step and column", body = ErrorBody)))]
pub async fn prepare_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((dataset, version)): ApiPath<(String, i32)>,
    ApiJson(req): ApiJson<PrepareRequest>,
) -> ApiResult<(StatusCode, Json<Prepared>)> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    let spec = prepare::spec_text(&req)?;
    let made =
        prepare::prepare_version(&st.services, &p, d.dataset_id, version, &spec, req.output.as_deref())
            .await?;
    let created = made.train.created || made.test.as_ref().is_some_and(|t| t.created);
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(made)))
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/versions/{version}/transform", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), ("version" = i32, Path, description = "Version number")),
    responses((status = 200, body = FittedTransform),
              (status = 404, description = "No such version, or it was not made by preparation", body = ErrorBody)))]
pub async fn get_transform(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((dataset, version)): ApiPath<(String, i32)>,
) -> ApiResult<Json<FittedTransform>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok(Json(prepare::fitted_transform(&st.services, &p, d.dataset_id, version).await?))
}
