//! `/api/v1/projects`.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiJson, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::ProjectId;
use domain::project::{NewProject, Project};

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    responses((status = 200, body = [Project])))]
pub async fn list_projects(State(st): State<ServerState>, Auth(p): Auth) -> ApiResult<Json<Vec<Project>>> {
    Ok(Json(services::projects::list(&st.services, &p).await?))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path, description = "Project id (UUID)")),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_project(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<ProjectId>,
) -> ApiResult<Json<Project>> {
    Ok(Json(services::projects::get(&st.services, &p, id).await?))
}

#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = NewProject,
    responses(
        (status = 201, body = Project),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A rule was broken", body = ErrorBody),
    ))]
pub async fn create_project(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewProject>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    Ok((StatusCode::CREATED, Json(services::projects::create(&st.services, &p, new).await?)))
}
