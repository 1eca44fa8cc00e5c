//! `GET /api/v1/status`: which build runs and the installation's numbers.

use crate::http::ServerState;
use crate::http::auth::Auth;
use crate::http::error::ApiResult;
use axum::Json;
use axum::extract::State;
use domain::build::BuildInfo;
use domain::overview::Overview;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    pub build: BuildInfo,
    pub overview: Overview,
}

#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, body = Status), (status = 500, body = crate::http::error::ErrorBody)))]
pub async fn get_status(State(st): State<ServerState>, Auth(p): Auth) -> ApiResult<Json<Status>> {
    let overview = services::overview::read(&st.services, &p).await?;
    Ok(Json(Status { build: services::build_info::current(), overview }))
}
