//! Server functions: thin adapters from the browser to `services`.

use crate::error::AppError;
use domain::build::BuildInfo;
use domain::overview::Overview;
use domain::project::Project;
use leptos::prelude::*;

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    Ok(services::overview::read(&crate::ssr::state()?).await?)
}

#[server(endpoint = "projects")]
pub async fn list_projects() -> Result<Vec<Project>, AppError> {
    Ok(services::projects::list(&crate::ssr::state()?).await?)
}

#[server(endpoint = "projects/create")]
pub async fn create_project(name: String, description: String) -> Result<Project, AppError> {
    let st = crate::ssr::state()?;
    Ok(services::projects::create(&st, domain::project::NewProject { name, description }).await?)
}

#[server(endpoint = "build")]
pub async fn get_build_info() -> Result<BuildInfo, AppError> {
    Ok(services::build_info::current())
}

/// Marks the page being rendered as "not found" (HTTP 404). A no-op in the browser.
pub fn mark_not_found() {
    #[cfg(feature = "ssr")]
    crate::ssr::set_status(404);
}
