//! Use cases for projects.

use crate::auth::{Action, Principal, authorize};
use crate::error::ResultExt;
use crate::{AppState, Error, Result, db};
use domain::ProjectId;
use domain::project::{NewProject, Project};

#[tracing::instrument(skip_all)]
pub async fn list(st: &AppState, p: &Principal) -> Result<Vec<Project>> {
    authorize(p, Action::Read)?;
    Ok(db::projects::list(&st.db).await?.into_iter().map(Into::into).collect())
}

#[tracing::instrument(skip_all, fields(project.id = %id))]
pub async fn get(st: &AppState, p: &Principal, id: ProjectId) -> Result<Project> {
    authorize(p, Action::Read)?;
    db::projects::get(&st.db, id).await?.map(Into::into).ok_or_else(|| Error::not_found("project", id))
}

#[tracing::instrument(skip_all, fields(project.name = %new.name))]
pub async fn create(st: &AppState, p: &Principal, new: NewProject) -> Result<Project> {
    authorize(p, Action::Write)?;
    new.validate()?;
    let row = db::projects::insert(&st.db, &new.name, &new.description)
        .await
        .on_constraint("project_name_key", || {
            Error::Conflict(format!("a project named '{}' already exists; pick another name", new.name))
        })?;
    tracing::info!(project.id = %row.project_id, "created project");
    Ok(row.into())
}
