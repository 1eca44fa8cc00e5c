//! Projects group every top-level entity (experiments, datasets, models, ...).

use crate::ids::ProjectId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/projects`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl NewProject {
    pub fn validate(&self) -> Result<(), crate::ValidationError> {
        crate::validation::check_name("name", &self.name)?;
        if self.description.chars().count() > 10_000 {
            return Err(crate::ValidationError::new("description", "must be at most 10000 characters"));
        }
        Ok(())
    }
}
