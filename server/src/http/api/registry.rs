//! `/api/v1/models`, `/api/v1/promotions`, `/api/v1/notifications`: the model
//! registry, approval-gated promotion and the caller's inbox. Every handler is one
//! call into `services::registry`, where the protected-alias rule lives.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use domain::PromotionRequestId;
use domain::registry::{
    AliasInfo, AliasOutcome, Inbox, MarkRead, ModelChange, ModelDetail, ModelVersion, NewModelVersion,
    NewPromotion, NewRegisteredModel, NewReview, Notification, PromotionDetail, PromotionRequest,
    PromotionState, RegisteredModel, SetAlias, VersionChange,
};
use serde::Deserialize;
use services::registry::{self, aliases, promotion};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ModelQuery {
    /// Only models whose name contains this (case-insensitive).
    pub search: Option<String>,
    /// At most this many (default 200).
    pub limit: Option<i64>,
}

/// Registered models by name, with their aliases and latest version.
#[utoipa::path(get, path = "/api/v1/models", tag = "registry", params(ModelQuery),
    responses((status = 200, body = Vec<RegisteredModel>)))]
pub async fn list_models(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ModelQuery>,
) -> ApiResult<Json<Vec<RegisteredModel>>> {
    Ok(Json(registry::list_models(&st.services, &p, q.search.as_deref(), q.limit.unwrap_or(200)).await?))
}

/// Registers a model name. By default `production` is protected (one approval,
/// gates must pass).
#[utoipa::path(post, path = "/api/v1/models", tag = "registry", request_body = NewRegisteredModel,
    responses((status = 201, body = RegisteredModel), (status = 409, description = "Name taken", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_model(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(new): ApiJson<NewRegisteredModel>,
) -> ApiResult<(StatusCode, Json<RegisteredModel>)> {
    Ok((StatusCode::CREATED, Json(registry::create_model(&st.services, &p, new).await?)))
}

/// A model with its versions, alias history and promotion requests.
#[utoipa::path(get, path = "/api/v1/models/{name}", tag = "registry",
    responses((status = 200, body = ModelDetail), (status = 404, body = ErrorBody)))]
pub async fn get_model(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ModelDetail>> {
    Ok(Json(registry::model_detail(&st.services, &p, &name).await?))
}

/// Changes the description (editors) or the approval policy (admins).
#[utoipa::path(patch, path = "/api/v1/models/{name}", tag = "registry", request_body = ModelChange,
    responses((status = 200, body = RegisteredModel), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_model(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(change): ApiJson<ModelChange>,
) -> ApiResult<Json<RegisteredModel>> {
    Ok(Json(registry::update_model(&st.services, &p, &name, change).await?))
}

/// Deletes a model and its versions (refused while a protected alias is set).
#[utoipa::path(delete, path = "/api/v1/models/{name}", tag = "registry",
    responses((status = 204), (status = 409, body = ErrorBody)))]
pub async fn delete_model(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    registry::delete_model(&st.services, &p, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The model's versions, newest first.
#[utoipa::path(get, path = "/api/v1/models/{name}/versions", tag = "registry",
    responses((status = 200, body = Vec<ModelVersion>), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<ModelVersion>>> {
    Ok(Json(registry::list_versions(&st.services, &p, &name).await?))
}

/// Registers a version from a run (`runs:/<run id>/model` or the run id) or an
/// MLflow logged model (`models:/m-<id>`). Cairn training runs give servable
/// versions with their signature, metrics and gate results.
#[utoipa::path(post, path = "/api/v1/models/{name}/versions", tag = "registry", request_body = NewModelVersion,
    responses((status = 201, body = ModelVersion), (status = 404, body = ErrorBody),
              (status = 422, description = "Not a model source, or the run has no model", body = ErrorBody)))]
pub async fn create_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(new): ApiJson<NewModelVersion>,
) -> ApiResult<(StatusCode, Json<ModelVersion>)> {
    Ok((StatusCode::CREATED, Json(registry::create_version(&st.services, &p, &name, new).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The uploaded file's name, kept as the version's source.
    pub file_name: Option<String>,
    pub description: Option<String>,
}

/// Registers an uploaded Cairn bundle (`bundle.cairn.json`, gzip or plain JSON) as a version.
#[utoipa::path(post, path = "/api/v1/models/{name}/versions/upload", tag = "registry", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = ModelVersion), (status = 413, body = ErrorBody),
              (status = 422, description = "Not a Cairn bundle", body = ErrorBody)))]
pub async fn upload_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ModelVersion>)> {
    let file = q.file_name.unwrap_or_else(|| "bundle.cairn.json".into());
    let v = registry::create_version_from_bundle(
        &st.services,
        &p,
        &name,
        &file,
        body,
        q.description.as_deref().unwrap_or(""),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// One version: signature, metrics, gates, model card, aliases.
#[utoipa::path(get, path = "/api/v1/models/{name}/versions/{version}", tag = "registry",
    responses((status = 200, body = ModelVersion), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, version)): ApiPath<(String, i32)>,
) -> ApiResult<Json<ModelVersion>> {
    Ok(Json(registry::get_version(&st.services, &p, &name, version).await?))
}

/// Edits the description or the model card (markdown).
#[utoipa::path(patch, path = "/api/v1/models/{name}/versions/{version}", tag = "registry",
    request_body = VersionChange, responses((status = 200, body = ModelVersion), (status = 404, body = ErrorBody)))]
pub async fn change_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, version)): ApiPath<(String, i32)>,
    ApiJson(change): ApiJson<VersionChange>,
) -> ApiResult<Json<ModelVersion>> {
    Ok(Json(registry::update_version(&st.services, &p, &name, version, change).await?))
}

/// Deletes a version no alias points at.
#[utoipa::path(delete, path = "/api/v1/models/{name}/versions/{version}", tag = "registry",
    responses((status = 204), (status = 409, description = "An alias points at it", body = ErrorBody)))]
pub async fn delete_version(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, version)): ApiPath<(String, i32)>,
) -> ApiResult<StatusCode> {
    registry::delete_version(&st.services, &p, &name, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where an alias points.
#[utoipa::path(get, path = "/api/v1/models/{name}/aliases/{alias}", tag = "registry",
    responses((status = 200, body = AliasInfo), (status = 404, body = ErrorBody)))]
pub async fn get_alias(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, alias)): ApiPath<(String, String)>,
) -> ApiResult<Json<AliasInfo>> {
    Ok(Json(aliases::get_alias(&st.services, &p, &name, &alias).await?))
}

/// Points an alias at a version. Unprotected: moved at once (200). Protected
/// (production by default): a promotion request is created for approvers (202).
#[utoipa::path(put, path = "/api/v1/models/{name}/aliases/{alias}", tag = "registry", request_body = SetAlias,
    responses((status = 200, description = "Moved", body = AliasOutcome),
              (status = 202, description = "Protected: a promotion request waits for approval", body = AliasOutcome),
              (status = 409, description = "Gates failed, or it already points there", body = ErrorBody)))]
pub async fn set_alias(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, alias)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SetAlias>,
) -> ApiResult<(StatusCode, Json<AliasOutcome>)> {
    let outcome = aliases::set_alias(&st.services, &p, &name, &alias, body.version, &body.comment).await?;
    let status = match outcome {
        AliasOutcome::Moved { .. } => StatusCode::OK,
        AliasOutcome::RequestCreated { .. } => StatusCode::ACCEPTED,
    };
    Ok((status, Json(outcome)))
}

/// Removes an unprotected alias.
#[utoipa::path(delete, path = "/api/v1/models/{name}/aliases/{alias}", tag = "registry",
    responses((status = 204), (status = 403, description = "Protected", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_alias(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, alias)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    aliases::delete_alias(&st.services, &p, &name, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the alias back to its previous version at once (approvers; audited).
#[utoipa::path(post, path = "/api/v1/models/{name}/aliases/{alias}/rollback", tag = "registry",
    responses((status = 200, body = AliasInfo), (status = 403, body = ErrorBody),
              (status = 409, description = "Nothing earlier to roll back to", body = ErrorBody)))]
pub async fn rollback(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath((name, alias)): ApiPath<(String, String)>,
) -> ApiResult<Json<AliasInfo>> {
    Ok(Json(aliases::rollback(&st.services, &p, &name, &alias).await?))
}

/// Requests that a protected alias (default `production`) point at a version.
#[utoipa::path(post, path = "/api/v1/models/{name}/promotions", tag = "registry", request_body = NewPromotion,
    responses((status = 201, body = PromotionRequest),
              (status = 409, description = "Gates failed, or it is already there", body = ErrorBody),
              (status = 422, description = "Not a protected alias", body = ErrorBody)))]
pub async fn request_promotion(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(new): ApiJson<NewPromotion>,
) -> ApiResult<(StatusCode, Json<PromotionRequest>)> {
    Ok((StatusCode::CREATED, Json(promotion::request(&st.services, &p, &name, new).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PromotionQuery {
    /// pending, approved, rejected or cancelled.
    pub state: Option<PromotionState>,
    /// Only the pending requests the caller may review.
    #[serde(default)]
    pub for_me: bool,
    pub limit: Option<i64>,
}

/// Promotion requests, newest first.
#[utoipa::path(get, path = "/api/v1/promotions", tag = "registry", params(PromotionQuery),
    responses((status = 200, body = Vec<PromotionRequest>)))]
pub async fn list_promotions(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PromotionQuery>,
) -> ApiResult<Json<Vec<PromotionRequest>>> {
    Ok(Json(promotion::list(&st.services, &p, q.state, q.for_me, q.limit.unwrap_or(100)).await?))
}

/// A request with the candidate and the current version side by side.
#[utoipa::path(get, path = "/api/v1/promotions/{id}", tag = "registry",
    responses((status = 200, body = PromotionDetail), (status = 404, body = ErrorBody)))]
pub async fn get_promotion(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<PromotionRequestId>,
) -> ApiResult<Json<PromotionDetail>> {
    Ok(Json(promotion::detail(&st.services, &p, id).await?))
}

/// Approves or rejects (approvers other than the requester; a rejection needs a comment).
#[utoipa::path(post, path = "/api/v1/promotions/{id}/reviews", tag = "registry", request_body = NewReview,
    responses((status = 200, body = PromotionRequest), (status = 403, body = ErrorBody),
              (status = 409, description = "Already decided or reviewed", body = ErrorBody)))]
pub async fn review_promotion(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<PromotionRequestId>,
    ApiJson(new): ApiJson<NewReview>,
) -> ApiResult<Json<PromotionRequest>> {
    Ok(Json(promotion::review(&st.services, &p, id, new).await?))
}

/// Withdraws a pending request (its requester or an admin).
#[utoipa::path(post, path = "/api/v1/promotions/{id}/cancel", tag = "registry",
    responses((status = 200, body = PromotionRequest), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_promotion(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<PromotionRequestId>,
) -> ApiResult<Json<PromotionRequest>> {
    Ok(Json(promotion::cancel(&st.services, &p, id).await?))
}

/// Counts for the navigation bar: requests waiting for the caller, unread notifications.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "registry", responses((status = 200, body = Inbox)))]
pub async fn inbox(State(st): State<ServerState>, Auth(p): Auth) -> ApiResult<Json<Inbox>> {
    Ok(Json(promotion::inbox(&st.services, &p).await?))
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "registry", responses((status = 200, body = Vec<Notification>)))]
pub async fn list_notifications(
    State(st): State<ServerState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<Notification>>> {
    Ok(Json(services::notifications::list(&st.services, &p, 100).await?))
}

/// Marks notifications read; returns how many changed.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "registry", request_body = MarkRead,
    responses((status = 200, body = u64)))]
pub async fn mark_read(
    State(st): State<ServerState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<MarkRead>,
) -> ApiResult<Json<u64>> {
    Ok(Json(services::notifications::mark_read(&st.services, &p, body.ids).await?))
}
