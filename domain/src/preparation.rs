//! Preparing a dataset version: the request (a transform spec, and where to put
//! the result) and what it produced (new versions, the stored fitted transform,
//! and the lineage execution that links them to their input).
//!
//! The spec and the fitted transform themselves are in [`crate::prepare`].

use serde::{Deserialize, Serialize};

use crate::ExecutionId;
use crate::datasets::VersionCreated;

/// `POST /datasets/{dataset}/versions/{version}/prepare`. Give the spec either as
/// a JSON object (`spec`) or as YAML text (`spec_yaml`), not both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrepareRequest {
    /// The transform spec as a JSON object. Kept as raw JSON so that a bad spec is
    /// reported by the spec parser, with its position, like a YAML one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::prepare::TransformSpec>))]
    pub spec: Option<serde_json::Value>,
    /// The transform spec as YAML text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_yaml: Option<String>,
    /// The dataset (id or name) that receives the prepared training rows; created
    /// (in the input's project) when no dataset has that name. Default:
    /// `<input name>-prepared`. The test split goes to `<output>-test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// What preparing a version produced.
///
/// The prepared rows are stored as ordinary dataset versions (source kind
/// `prepared`), content addressed like any other: preparing the same version with
/// the same spec again returns the same versions with `created: false`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prepared {
    /// The prepared training rows (all rows when the spec has no split).
    pub train: VersionCreated,
    /// The prepared test rows, in the `<output>-test` dataset; `None` when the
    /// spec has no split.
    pub test: Option<VersionCreated>,
    /// Where the fitted transform (JSON) is in the artifact store. Serving applies
    /// exactly this transform.
    pub transform_key: String,
    /// The lineage execution (type `prepare`) with the input version as its input
    /// and the new versions and the transform as its outputs.
    pub execution: ExecutionId,
}
