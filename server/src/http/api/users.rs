//! `/api/v1/users` (admins).

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiJson, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::UserId;
use domain::auth::{CreatedUser, NewUser, User, UserChange};

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [User]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(st): State<ServerState>, Auth(p): Auth) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(services::auth::users::list(&st.services, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    Ok((StatusCode::CREATED, Json(services::auth::users::create(&st.services, &p, new).await?)))
}

#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", request_body = UserChange,
    params(("user_id" = String, Path, description = "User id (UUID)")),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn change_user(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(change): ApiJson<UserChange>,
) -> ApiResult<Json<User>> {
    Ok(Json(services::auth::users::change(&st.services, &p, id, change).await?))
}
