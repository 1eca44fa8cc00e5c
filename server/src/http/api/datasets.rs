//! `/api/v1/datasets`: datasets, versions (streamed uploads), previews, profiles,
//! schemas and validation reports. `{dataset}` is the dataset's id or its name.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use domain::datasets::{
    Dataset, DatasetSchema, DatasetVersion, FileFormat, NewDataset, NewValidation, RowPage, StoredSchema,
    ValidationReport, ValidationSummary, VersionCreated, parse_type_overrides,
};
use futures::StreamExt;
use serde::Deserialize;
use services::datasets::{self as ds, VersionInput};

#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets", responses((status = 200, body = [Dataset])))]
pub async fn list_datasets(State(st): State<ServerState>, Auth(p): Auth) -> ApiResult<Json<Vec<Dataset>>> {
    Ok(Json(ds::list(&st.services, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets", request_body = NewDataset,
    responses((status = 201, body = Dataset), (status = 409, description = "Name taken", body = ErrorBody),
              (status = 422, description = "A rule was broken", body = ErrorBody)))]
pub async fn create_dataset(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewDataset>,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    Ok((StatusCode::CREATED, Json(ds::create(&st.services, &p, new).await?)))
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset}", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name")),
    responses((status = 200, body = Dataset), (status = 404, body = ErrorBody)))]
pub async fn get_dataset(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
) -> ApiResult<Json<Dataset>> {
    Ok(Json(ds::resolve(&st.services, &p, &dataset).await?))
}

#[utoipa::path(delete, path = "/api/v1/datasets/{dataset}", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name")),
    responses((status = 204, description = "Deleted with all its versions"), (status = 404, body = ErrorBody)))]
pub async fn delete_dataset(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    ds::delete(&st.services, &p, d.dataset_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/versions", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name")),
    responses((status = 200, body = [DatasetVersion]), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
) -> ApiResult<Json<Vec<DatasetVersion>>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok(Json(ds::versions(&st.services, &p, d.dataset_id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The file's name; its ending picks the format when `format` is absent.
    pub file_name: Option<String>,
    /// `csv`, `csv.gz` or `parquet`; sniffed from the bytes when neither this nor a
    /// file name says.
    pub format: Option<String>,
    /// Type overrides, `column=type,...` with types int, float, bool, string, timestamp.
    pub types: Option<String>,
}

/// The body is the file itself (any content type), streamed to disk, never held
/// in memory whole. The same bytes with the same overrides give back the existing
/// version (200); a new version is 201.
#[utoipa::path(post, path = "/api/v1/datasets/{dataset}/versions", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The CSV, CSV.gz or Parquet file"),
    responses((status = 201, body = VersionCreated), (status = 200, description = "Same content as an existing version", body = VersionCreated),
              (status = 413, body = ErrorBody), (status = 422, description = "The file could not be read; the message names the line/column", body = ErrorBody)))]
pub async fn upload_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<VersionCreated>)> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    let overrides = parse_type_overrides(q.types.as_deref().unwrap_or("")).map_err(services::Error::from)?;
    let format = match q.format.as_deref() {
        None | Some("") => None,
        Some(f) => Some(FileFormat::parse(f).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("format `{f}` is not supported: use csv, csv.gz or parquet"),
            )
        })?),
    };
    let limit = st.limits.max_upload_bytes;
    let stream = body.into_data_stream().map(move |chunk| chunk.map_err(|e| body_error(e, limit)));
    let spooled = ds::spool(stream, limit).await?;
    let mut input = VersionInput::upload(q.file_name, overrides);
    input.format = format;
    let made = ds::create_version(&st.services, &p, d.dataset_id, spooled, input).await?;
    let status = if made.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(made)))
}

/// The router caps bodies (`http_body_util::Limited`); a cut-off is a 413, any
/// other stream error an interrupted upload.
fn body_error(e: axum::Error, limit: u64) -> services::Error {
    let inner = e.into_inner();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ds::too_large(limit);
        }
        source = err.source();
    }
    services::Error::Validation(domain::ValidationError::new(
        "file",
        format!("the upload was interrupted: {inner}"),
    ))
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/versions/{version}", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), ("version" = i32, Path, description = "Version number")),
    responses((status = 200, body = DatasetVersion), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((dataset, version)): ApiPath<(String, i32)>,
) -> ApiResult<Json<DatasetVersion>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok(Json(ds::version(&st.services, &p, d.dataset_id, version).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RowsQuery {
    #[serde(default)]
    pub offset: u64,
    /// At most 500.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/versions/{version}/rows", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), ("version" = i32, Path, description = "Version number"), RowsQuery),
    responses((status = 200, body = RowPage), (status = 404, body = ErrorBody)))]
pub async fn version_rows(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((dataset, version)): ApiPath<(String, i32)>,
    ApiQuery(q): ApiQuery<RowsQuery>,
) -> ApiResult<Json<RowPage>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok(Json(ds::rows(&st.services, &p, d.dataset_id, version, q.offset, q.limit.unwrap_or(50)).await?))
}

/// The stored Parquet file.
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/versions/{version}/download", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), ("version" = i32, Path, description = "Version number")),
    responses((status = 200, content_type = "application/vnd.apache.parquet", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn download_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((dataset, version)): ApiPath<(String, i32)>,
) -> ApiResult<impl IntoResponse> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    let bytes = ds::parquet(&st.services, &p, d.dataset_id, version).await?;
    let name =
        format!("attachment; filename=\"{}-v{version}.parquet\"", d.name.replace(['"', '\\', '/'], "_"));
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.apache.parquet".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    ))
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/versions/{version}/profile", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), ("version" = i32, Path, description = "Version number")),
    responses((status = 200, body = domain::profile::DatasetProfile), (status = 404, body = ErrorBody)))]
pub async fn version_profile(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((dataset, version)): ApiPath<(String, i32)>,
) -> ApiResult<Json<domain::profile::DatasetProfile>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok(Json(ds::profile(&st.services, &p, d.dataset_id, version).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SchemaQuery {
    /// Without a saved schema, infer one from this version (default: the latest).
    pub version: Option<i32>,
}

/// The saved schema; without one, a schema inferred from a version (not saved,
/// `based_on_version` says which).
#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/schema", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name"), SchemaQuery),
    responses((status = 200, body = StoredSchema), (status = 404, description = "No schema saved and no version to infer one from", body = ErrorBody)))]
pub async fn get_schema(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
    ApiQuery(q): ApiQuery<SchemaQuery>,
) -> ApiResult<Json<StoredSchema>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    if let Some(s) = ds::schema::get_schema(&st.services, &p, d.dataset_id).await? {
        return Ok(Json(s));
    }
    let version = q.version.or(d.latest_version).ok_or_else(|| {
        ApiError::not_found(format!("dataset '{}' has no schema and no version to infer one from", d.name))
    })?;
    let schema = ds::schema::infer(&st.services, &p, d.dataset_id, version).await?;
    Ok(Json(StoredSchema {
        dataset_id: d.dataset_id,
        based_on_version: Some(version),
        schema,
        updated_by: None,
        updated_at: d.updated_at,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaBody {
    pub schema: DatasetSchema,
    /// The version the schema was inferred from, if any.
    #[serde(default)]
    pub based_on_version: Option<i32>,
}

#[utoipa::path(put, path = "/api/v1/datasets/{dataset}/schema", tag = "datasets", request_body = SchemaBody,
    params(("dataset" = String, Path, description = "Dataset id or name")),
    responses((status = 200, body = StoredSchema), (status = 422, description = "A rule was broken (duplicate column, min > max, ...)", body = ErrorBody)))]
pub async fn put_schema(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
    ApiJson(body): ApiJson<SchemaBody>,
) -> ApiResult<Json<StoredSchema>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok(Json(
        ds::schema::put_schema(&st.services, &p, d.dataset_id, body.schema, body.based_on_version).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/datasets/{dataset}/validations", tag = "datasets", request_body = NewValidation,
    params(("dataset" = String, Path, description = "Dataset id or name")),
    responses((status = 201, body = ValidationReport), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_validation(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
    ApiJson(new): ApiJson<NewValidation>,
) -> ApiResult<(StatusCode, Json<ValidationReport>)> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok((StatusCode::CREATED, Json(ds::validate::run(&st.services, &p, d.dataset_id, new).await?)))
}

#[utoipa::path(get, path = "/api/v1/datasets/{dataset}/validations", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name")),
    responses((status = 200, body = [ValidationSummary]), (status = 404, body = ErrorBody)))]
pub async fn list_validations(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
) -> ApiResult<Json<Vec<ValidationSummary>>> {
    let d = ds::resolve(&st.services, &p, &dataset).await?;
    Ok(Json(ds::validate::list(&st.services, &p, d.dataset_id).await?))
}

#[utoipa::path(get, path = "/api/v1/validations/{validation_id}", tag = "datasets",
    params(("validation_id" = String, Path, description = "Validation id (UUID)")),
    responses((status = 200, body = ValidationReport), (status = 404, body = ErrorBody)))]
pub async fn get_validation(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<domain::ValidationId>,
) -> ApiResult<Json<ValidationReport>> {
    Ok(Json(ds::validate::report(&st.services, &p, id).await?))
}
