//! Server functions: thin adapters from the browser to `services`. Each finds the
//! caller, calls one `services` function (which authorizes), and maps the result.

use crate::error::AppError;
use domain::auth::{ApiToken, AuditEvent, AuditFilter, CreatedToken, CreatedUser, Me, Role, User};
use domain::build::BuildInfo;
use domain::overview::Overview;
use domain::project::Project;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr::{principal, state};

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    Ok(services::overview::read(&state()?, &principal()?).await?)
}

#[server(endpoint = "projects")]
pub async fn list_projects() -> Result<Vec<Project>, AppError> {
    Ok(services::projects::list(&state()?, &principal()?).await?)
}

#[server(endpoint = "projects/create")]
pub async fn create_project(name: String, description: String) -> Result<Project, AppError> {
    let new = domain::project::NewProject { name, description };
    Ok(services::projects::create(&state()?, &principal()?, new).await?)
}

#[server(endpoint = "build")]
pub async fn get_build_info() -> Result<BuildInfo, AppError> {
    principal()?;
    Ok(services::build_info::current())
}

/// The signed-in user, or None (the login page asks this too).
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    Ok(principal().ok().map(|p| p.me()))
}

#[server(endpoint = "tokens")]
pub async fn list_my_tokens() -> Result<Vec<ApiToken>, AppError> {
    Ok(services::auth::tokens::list(&state()?, &principal()?, false).await?)
}

#[server(endpoint = "tokens/create")]
pub async fn create_token(name: String, expires_in_days: String) -> Result<CreatedToken, AppError> {
    // The form sends "" for "never".
    let expires_in_days = match expires_in_days.trim() {
        "" => None,
        d => Some(d.parse::<u32>().map_err(|_| AppError::Invalid {
            field: "expires_in_days".into(),
            message: "must be a whole number of days".into(),
        })?),
    };
    let new = domain::auth::NewToken { name, expires_in_days };
    Ok(services::auth::tokens::create(&state()?, &principal()?, new).await?)
}

#[server(endpoint = "tokens/revoke")]
pub async fn revoke_token(token_id: domain::TokenId) -> Result<ApiToken, AppError> {
    Ok(services::auth::tokens::revoke(&state()?, &principal()?, token_id).await?)
}

#[server(endpoint = "users")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    Ok(services::auth::users::list(&state()?, &principal()?).await?)
}

#[server(endpoint = "users/create")]
pub async fn create_user(username: String, role: Role) -> Result<CreatedUser, AppError> {
    let new = domain::auth::NewUser { username, role, password: None };
    Ok(services::auth::users::create(&state()?, &principal()?, new).await?)
}

#[server(endpoint = "users/role")]
pub async fn set_user_role(user_id: domain::UserId, role: Role) -> Result<User, AppError> {
    let change = domain::auth::UserChange { role: Some(role), disabled: None };
    Ok(services::auth::users::change(&state()?, &principal()?, user_id, change).await?)
}

/// Disables (or enables again) a user; disabling ends their sessions and tokens.
#[server(endpoint = "users/disabled")]
pub async fn set_user_disabled(user_id: domain::UserId, disabled: bool) -> Result<User, AppError> {
    let change = domain::auth::UserChange { role: None, disabled: Some(disabled) };
    Ok(services::auth::users::change(&state()?, &principal()?, user_id, change).await?)
}

#[server(endpoint = "audit")]
pub async fn list_audit(filter: AuditFilter) -> Result<Vec<AuditEvent>, AppError> {
    Ok(services::auth::audit::list(&state()?, &principal()?, &filter).await?)
}

/// Marks the page being rendered as "not found" (HTTP 404). A no-op in the browser.
pub fn mark_not_found() {
    #[cfg(feature = "ssr")]
    crate::ssr::set_status(404);
}

#[server(endpoint = "jobs")]
pub async fn list_jobs(query: domain::jobs::JobQuery) -> Result<domain::jobs::JobPage, AppError> {
    Ok(services::jobs::list(&state()?, &principal()?, &query).await?)
}

#[server(endpoint = "jobs/get")]
pub async fn get_job(job_id: domain::JobId) -> Result<domain::jobs::JobDetail, AppError> {
    Ok(services::jobs::get(&state()?, &principal()?, job_id).await?)
}

#[server(endpoint = "jobs/cancel")]
pub async fn cancel_job(job_id: domain::JobId) -> Result<domain::jobs::Job, AppError> {
    Ok(services::jobs::cancel(&state()?, &principal()?, job_id).await?)
}

#[server(endpoint = "jobs/retry")]
pub async fn retry_job(job_id: domain::JobId) -> Result<domain::jobs::Job, AppError> {
    Ok(services::jobs::retry(&state()?, &principal()?, job_id).await?)
}

#[server(endpoint = "jobs/selfcheck")]
pub async fn start_self_check(probes: u32) -> Result<domain::jobs::Job, AppError> {
    let new = domain::jobs::NewJob {
        kind: "system.selfcheck".into(),
        payload: serde_json::json!({ "probes": probes }),
    };
    Ok(services::jobs::start(&state()?, &principal()?, new).await?)
}

#[server(endpoint = "schedules/create")]
pub async fn create_schedule(
    name: String,
    cron: String,
    timezone: String,
    kind: String,
) -> Result<domain::jobs::Schedule, AppError> {
    let new = domain::jobs::NewSchedule { name, cron, timezone, kind, payload: serde_json::Value::Null };
    Ok(services::jobs::create_schedule(&state()?, &principal()?, new).await?)
}

#[server(endpoint = "schedules/enabled")]
pub async fn set_schedule_enabled(
    schedule_id: domain::ScheduleId,
    enabled: bool,
) -> Result<domain::jobs::Schedule, AppError> {
    let change = domain::jobs::ScheduleChange { enabled: Some(enabled), ..Default::default() };
    Ok(services::jobs::change_schedule(&state()?, &principal()?, schedule_id, change).await?)
}

#[server(endpoint = "schedules")]
pub async fn list_schedules() -> Result<Vec<domain::jobs::Schedule>, AppError> {
    Ok(services::jobs::schedules(&state()?, &principal()?).await?)
}

#[server(endpoint = "experiments")]
pub async fn list_experiments() -> Result<Vec<domain::tracking::Experiment>, AppError> {
    let (list, _) = services::tracking::search_experiments(
        &state()?,
        &principal()?,
        domain::tracking::ViewType::ActiveOnly,
        Some(1000),
        None,
    )
    .await?;
    Ok(list)
}

#[server(endpoint = "experiments/get")]
pub async fn get_experiment(experiment_id: i64) -> Result<domain::tracking::Experiment, AppError> {
    Ok(services::tracking::get_experiment(&state()?, &principal()?, experiment_id).await?)
}

#[server(endpoint = "experiments/runs")]
pub async fn search_runs(
    experiment_id: i64,
    filter: String,
    order_by: String,
    page_token: String,
) -> Result<domain::tracking::RunPage, AppError> {
    let q = domain::tracking::RunSearch {
        filter: Some(filter).filter(|f| !f.trim().is_empty()),
        order_by: Some(order_by).filter(|o| !o.trim().is_empty()).into_iter().collect(),
        max_results: Some(100),
        page_token: Some(page_token).filter(|t| !t.is_empty()),
        view_type: domain::tracking::ViewType::ActiveOnly,
    };
    Ok(services::tracking::search_runs(&state()?, &principal()?, &[experiment_id], &q).await?)
}

#[server(endpoint = "runs/get")]
pub async fn get_run(run_id: uuid::Uuid) -> Result<domain::tracking::Run, AppError> {
    Ok(services::tracking::get_run(&state()?, &principal()?, run_id).await?)
}

#[server(endpoint = "runs/history")]
pub async fn metric_history(
    run_id: uuid::Uuid,
    key: String,
) -> Result<domain::tracking::MetricHistory, AppError> {
    Ok(services::tracking::metric_history(&state()?, &principal()?, run_id, &key, Some(100_000), None)
        .await?)
}
pub mod datasets;
pub mod pipelines;
pub mod registry;
pub mod serving;
pub mod training;

#[server(endpoint = "runs/artifacts")]
pub async fn run_artifacts(run_id: uuid::Uuid) -> Result<Vec<domain::tracking::ArtifactEntry>, AppError> {
    Ok(services::tracking::artifacts::tree(&state()?, &principal()?, run_id).await?)
}

#[server(endpoint = "runs/artifact-preview")]
pub async fn artifact_preview(
    run_id: uuid::Uuid,
    path: String,
) -> Result<domain::tracking::ArtifactPreview, AppError> {
    Ok(services::tracking::artifacts::preview(&state()?, &principal()?, run_id, &path).await?)
}
