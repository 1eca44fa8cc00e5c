//! Server functions of the Endpoints pages: each calls one `services::serving` use case.

use crate::error::AppError;
use domain::serving::{Endpoint, EndpointStats, LoggedRequest};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr::{principal, state};

#[server(endpoint = "serving/endpoints")]
pub async fn list_endpoints() -> Result<Vec<Endpoint>, AppError> {
    Ok(services::serving::list(&state()?, &principal()?).await?)
}

#[server(endpoint = "serving/endpoint")]
pub async fn get_endpoint(name: String) -> Result<Endpoint, AppError> {
    Ok(services::serving::get(&state()?, &principal()?, &name).await?)
}

/// A new endpoint following `alias` (default production) of `model`.
#[server(endpoint = "serving/endpoints/create")]
pub async fn create_endpoint(name: String, model: String, description: String) -> Result<Endpoint, AppError> {
    let new = domain::serving::NewEndpoint { name, model, description, routes: None, log_sample_rate: None };
    Ok(services::serving::create(&state()?, &principal()?, new).await?)
}

/// `routes`: the traffic split as JSON (`[RouteSpec]`).
#[server(endpoint = "serving/endpoints/routes")]
pub async fn save_routes(name: String, routes: String) -> Result<Endpoint, AppError> {
    let routes: Vec<domain::serving::RouteSpec> = serde_json::from_str(&routes)
        .map_err(|e| AppError::Invalid { field: "routes".into(), message: e.to_string() })?;
    let change =
        domain::serving::EndpointChange { description: None, routes: Some(routes), log_sample_rate: None };
    Ok(services::serving::change(&state()?, &principal()?, &name, change).await?)
}

#[server(endpoint = "serving/stats")]
pub async fn get_endpoint_stats(name: String, minutes: u32) -> Result<EndpointStats, AppError> {
    Ok(services::serving::stats(&state()?, &principal()?, &name, minutes).await?)
}

#[server(endpoint = "serving/requests")]
pub async fn endpoint_requests(name: String, limit: u32) -> Result<Vec<LoggedRequest>, AppError> {
    Ok(services::serving::recent_requests(&state()?, &principal()?, &name, limit as usize).await?)
}
