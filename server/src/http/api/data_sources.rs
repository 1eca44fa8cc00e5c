//! `/api/v1/data-sources` (registered SQL sources) and
//! `/api/v1/datasets/{dataset}/versions/import` (a version from a SQL query, a server
//! path or a URL instead of an uploaded file).

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiJson, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::datasets::VersionCreated;
use domain::imports::{DataSource, ImportRequest, NewDataSource};
use services::datasets::{self as ds, import};
use services::sql_source;

#[utoipa::path(get, path = "/api/v1/data-sources", tag = "data-sources",
    responses((status = 200, body = [DataSource]), (status = 401, body = ErrorBody)))]
pub async fn list_data_sources(
    State(st): State<ServerState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<DataSource>>> {
    let all = sql_source::list(&st.services, &p, None).await?;
    Ok(Json(all.into_iter().map(Into::into).collect()))
}

/// Registers a Postgres source (editors and up). The URL is stored encrypted and
/// its host must be under `CAIRN_SQL_SOURCE_ALLOW`; the password is never shown again.
#[utoipa::path(post, path = "/api/v1/data-sources", tag = "data-sources", request_body = NewDataSource,
    responses((status = 201, body = DataSource), (status = 403, body = ErrorBody),
              (status = 409, description = "Name taken", body = ErrorBody),
              (status = 422, description = "Bad name or connection, or host not allowed", body = ErrorBody)))]
pub async fn create_data_source(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewDataSource>,
) -> ApiResult<(StatusCode, Json<DataSource>)> {
    let new =
        sql_source::NewDataSource { project_id: new.project_id, name: new.name, connection: new.connection };
    Ok((StatusCode::CREATED, Json(sql_source::create(&st.services, &p, new).await?.into())))
}

/// Removes a source (editors and up); versions extracted from it stay.
#[utoipa::path(delete, path = "/api/v1/data-sources/{source}", tag = "data-sources",
    params(("source" = String, Path, description = "Data source id or name")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_data_source(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(source): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let s = import::resolve_source(&st.services, &p, &source).await?;
    sql_source::delete(&st.services, &p, s.data_source_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a version from exactly one of: `sql` (a read-only query against a
/// registered source), `path` (a file on the server under `CAIRN_DATA_PATH_ALLOW`) or
/// `url` (under `CAIRN_DATA_URL_ALLOW`). The same content as an existing version
/// gives that version back (200); re-running a query over unchanged data does.
#[utoipa::path(post, path = "/api/v1/datasets/{dataset}/versions/import", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset id or name")),
    request_body = ImportRequest,
    responses((status = 201, body = VersionCreated), (status = 200, description = "Same content as an existing version", body = VersionCreated),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, description = "Not allowed, not found, not readable, or the query failed; the message says which", body = ErrorBody)))]
pub async fn import_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(dataset): ApiPath<String>,
    ApiJson(req): ApiJson<ImportRequest>,
) -> ApiResult<(StatusCode, Json<VersionCreated>)> {
    let d = ds::resolve(&st.services, &p, &dataset).await?.dataset_id;
    let made = import::run(&st.services, &p, d, &req).await?;
    let status = if made.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(made)))
}
