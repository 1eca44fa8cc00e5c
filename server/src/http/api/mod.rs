//! REST API v1: JSON in, JSON out, described by the OpenAPI document at
//! `/api/v1/openapi.json`, which is generated from these handlers' annotations.

pub mod projects;
pub mod status;

use super::ServerState;
use super::error::{ErrorBody, ErrorDetail};
use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn API",
        description = "Cairn's REST API. Errors always have the shape `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(status::get_status, projects::list_projects, projects::get_project, projects::create_project),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        domain::project::Project,
        domain::project::NewProject,
        domain::overview::Overview,
        domain::build::BuildInfo,
        status::Status,
    )),
    tags(
        (name = "status", description = "What is running and how it is doing"),
        (name = "projects", description = "Projects own every top-level entity"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/status", get(status::get_status))
        .route("/projects", get(projects::list_projects).post(projects::create_project))
        .route("/projects/{project_id}", get(projects::get_project))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
