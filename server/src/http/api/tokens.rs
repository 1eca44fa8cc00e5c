//! `/api/v1/tokens`: one's own API tokens (admins: everyone's with `?all=true`).

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use domain::TokenId;
use domain::auth::{ApiToken, CreatedToken, NewToken};
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListTokens {
    /// Everyone's tokens (admins only).
    #[serde(default)]
    all: bool,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(ListTokens),
    responses((status = 200, body = [ApiToken]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(st): State<ServerState>,
    Auth(p): Auth,
    q: Result<Query<ListTokens>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<ApiToken>>> {
    let Query(q) = q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    Ok(Json(services::auth::tokens::list(&st.services, &p, q.all).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken, description = "The secret is shown only in this response"),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    Ok((StatusCode::CREATED, Json(services::auth::tokens::create(&st.services, &p, new).await?)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "tokens",
    params(("token_id" = String, Path, description = "Token id (UUID)")),
    responses((status = 200, body = ApiToken, description = "Revoked"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<TokenId>,
) -> ApiResult<Json<ApiToken>> {
    Ok(Json(services::auth::tokens::revoke(&st.services, &p, id).await?))
}
