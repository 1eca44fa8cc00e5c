//! Server functions of the Models and Approvals pages: each calls one
//! `services::registry` use case, where the approval rules live.

use crate::error::AppError;
use domain::registry::{
    AliasOutcome, Inbox, ModelDetail, ModelVersion, Notification, PromotionDetail, PromotionRequest,
    RegisteredModel,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr::{principal, state};

#[cfg(feature = "ssr")]
fn request_id(id: &str) -> Result<domain::PromotionRequestId, AppError> {
    id.parse().map_err(|_| AppError::NotFound(format!("promotion request '{id}' was not found")))
}

#[server(endpoint = "registry/models")]
pub async fn list_models(search: String) -> Result<Vec<RegisteredModel>, AppError> {
    Ok(services::registry::list_models(&state()?, &principal()?, Some(&search), 500).await?)
}

#[server(endpoint = "registry/models/create")]
pub async fn create_model(name: String, description: String) -> Result<RegisteredModel, AppError> {
    let new = domain::registry::NewRegisteredModel { name, description, ..Default::default() };
    Ok(services::registry::create_model(&state()?, &principal()?, new).await?)
}

#[server(endpoint = "registry/model")]
pub async fn get_model_detail(name: String) -> Result<ModelDetail, AppError> {
    Ok(services::registry::model_detail(&state()?, &principal()?, &name).await?)
}

#[server(endpoint = "registry/version")]
pub async fn get_model_version(name: String, version: i32) -> Result<ModelVersion, AppError> {
    Ok(services::registry::get_version(&state()?, &principal()?, &name, version).await?)
}

/// `source`: a run id or `runs:/…`/`models:/m-…` URI.
#[server(endpoint = "registry/versions/create")]
pub async fn register_version(
    name: String,
    source: String,
    description: String,
) -> Result<ModelVersion, AppError> {
    let new = domain::registry::NewModelVersion { source, description, ..Default::default() };
    Ok(services::registry::create_version(&state()?, &principal()?, &name, new).await?)
}

#[server(endpoint = "registry/versions/card")]
pub async fn save_model_card(name: String, version: i32, card: String) -> Result<ModelVersion, AppError> {
    let change = domain::registry::VersionChange { model_card: Some(card), description: None };
    Ok(services::registry::update_version(&state()?, &principal()?, &name, version, change).await?)
}

/// Moves an unprotected alias, or asks for a protected one.
#[server(endpoint = "registry/alias")]
pub async fn set_alias(
    name: String,
    alias: String,
    version: i32,
    comment: String,
) -> Result<AliasOutcome, AppError> {
    Ok(services::registry::aliases::set_alias(&state()?, &principal()?, &name, &alias, version, &comment)
        .await?)
}

#[server(endpoint = "registry/rollback")]
pub async fn rollback(name: String, alias: String) -> Result<i32, AppError> {
    Ok(services::registry::aliases::rollback(&state()?, &principal()?, &name, &alias).await?.version)
}

/// `state`: "" for all, or pending/approved/rejected/cancelled; `for_me`: only what I may review.
#[server(endpoint = "registry/promotions")]
pub async fn promotions(state_filter: String, for_me: bool) -> Result<Vec<PromotionRequest>, AppError> {
    let state_filter = match state_filter.as_str() {
        "" => None,
        s => Some(domain::registry::PromotionState::parse(s).ok_or_else(|| AppError::Invalid {
            field: "state".into(),
            message: format!("'{s}' is not a request state; use pending, approved, rejected or cancelled"),
        })?),
    };
    Ok(services::registry::promotion::list(&state()?, &principal()?, state_filter, for_me, 200).await?)
}

#[server(endpoint = "registry/promotion")]
pub async fn promotion(id: String) -> Result<PromotionDetail, AppError> {
    Ok(services::registry::promotion::detail(&state()?, &principal()?, request_id(&id)?).await?)
}

/// `decision`: approve or reject.
#[server(endpoint = "registry/review")]
pub async fn review(id: String, decision: String, comment: String) -> Result<PromotionRequest, AppError> {
    let decision = match decision.as_str() {
        "approve" => domain::registry::Decision::Approve,
        "reject" => domain::registry::Decision::Reject,
        other => {
            return Err(AppError::Invalid {
                field: "decision".into(),
                message: format!("'{other}' is not a decision; use approve or reject"),
            });
        }
    };
    let new = domain::registry::NewReview { decision, comment };
    Ok(services::registry::promotion::review(&state()?, &principal()?, request_id(&id)?, new).await?)
}

#[server(endpoint = "registry/cancel")]
pub async fn cancel_promotion(id: String) -> Result<PromotionRequest, AppError> {
    Ok(services::registry::promotion::cancel(&state()?, &principal()?, request_id(&id)?).await?)
}

#[server(endpoint = "inbox")]
pub async fn get_inbox() -> Result<Inbox, AppError> {
    Ok(services::registry::promotion::inbox(&state()?, &principal()?).await?)
}

#[server(endpoint = "notifications")]
pub async fn notifications() -> Result<Vec<Notification>, AppError> {
    Ok(services::notifications::list(&state()?, &principal()?, 50).await?)
}

#[server(endpoint = "notifications/read")]
pub async fn mark_notifications_read() -> Result<u64, AppError> {
    Ok(services::notifications::mark_read(&state()?, &principal()?, None).await?)
}
