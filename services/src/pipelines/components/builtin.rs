//! The built-in components' behaviour: each calls the `services` use case a person
//! would call through the API, as the run's principal.

use super::{Outcome, StepContext};
use crate::Result;
use domain::datasets::DatasetVersion;
use serde_json::{Value, json};

/// Bumped when a built-in's behaviour changes meaning, so its digest (and every cache
/// key over it) changes and old cached outputs are not reused.
pub const BEHAVIOUR_VERSION: u32 = 1;

/// Runs the built-in `name`.
pub async fn run(name: &str, sc: &StepContext<'_>) -> Result<Outcome> {
    let _ = sc;
    Ok(Outcome::Fail(format!("the built-in component '{name}' has no implementation in this build")))
}

/// The value a dataset version travels as between steps.
pub fn dataset_value(v: &DatasetVersion) -> Value {
    json!({
        "dataset": v.dataset_name,
        "dataset_id": v.dataset_id,
        "version": v.version,
        "version_id": v.dataset_version_id,
        "content_hash": v.content_hash,
        "artifact_id": v.lineage_artifact_id,
    })
}
