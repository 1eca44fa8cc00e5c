//! The model registry as the API and the dashboard see it: registered models,
//! their versions, aliases, promotion requests and in-app notifications.

use crate::ValidationError;
use crate::ids::{ModelVersionId, NotificationId, PromotionRequestId, RegisteredModelId, UserId};
use crate::training::{GateResult, Signature};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The alias protected when a model is created without a policy.
pub const DEFAULT_PROTECTED_ALIAS: &str = "production";

/// Who may move which alias, and what a promotion needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelPolicy {
    /// Aliases that only an approved promotion request (or an approver's rollback) moves.
    pub protected_aliases: Vec<String>,
    /// Distinct approvers needed (1 or 2); any rejection rejects.
    pub required_approvals: u8,
    /// Refuse a promotion of a version whose validation gates failed.
    pub require_gates: bool,
}

impl Default for ModelPolicy {
    fn default() -> Self {
        Self {
            protected_aliases: vec![DEFAULT_PROTECTED_ALIAS.to_string()],
            required_approvals: 1,
            require_gates: true,
        }
    }
}

impl ModelPolicy {
    pub fn is_protected(&self, alias: &str) -> bool {
        self.protected_aliases.iter().any(|a| a.eq_ignore_ascii_case(alias))
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(1..=2).contains(&self.required_approvals) {
            return Err(ValidationError::new(
                "required_approvals",
                format!("must be 1 or 2 (got {})", self.required_approvals),
            ));
        }
        for alias in &self.protected_aliases {
            check_alias(alias).map_err(|e| ValidationError::new("protected_aliases", e.message))?;
        }
        Ok(())
    }
}

/// Aliases are short identifiers: they appear in `models:/name@alias` URIs.
pub fn check_alias(alias: &str) -> Result<(), ValidationError> {
    let mut chars = alias.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && alias.len() <= 64;
    if !ok {
        return Err(ValidationError::new(
            "alias",
            format!(
                "'{alias}' is not a valid alias: use 1-64 letters, digits, '_' or '-', starting with a letter"
            ),
        ));
    }
    if alias.eq_ignore_ascii_case("latest") {
        return Err(ValidationError::new(
            "alias",
            "'latest' is reserved (it always means the newest version)",
        ));
    }
    Ok(())
}

/// `models:/<name>/<version>`, `models:/<name>@<alias>` or `models:/<name>/latest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    Version { name: String, version: i32 },
    Alias { name: String, alias: String },
    Latest { name: String },
}

impl ModelRef {
    /// Reads a `models:/` URI (the prefix is optional: `credit@production` works too).
    pub fn parse(uri: &str) -> Result<ModelRef, ValidationError> {
        let bad = |why: &str| {
            ValidationError::new(
                "model",
                format!(
                    "'{uri}' is not a model reference ({why}); write models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest"
                ),
            )
        };
        let rest = uri.strip_prefix("models:/").unwrap_or(uri).trim_end_matches('/');
        if rest.is_empty() {
            return Err(bad("no name"));
        }
        if let Some((name, alias)) = rest.rsplit_once('@') {
            if name.is_empty() || alias.is_empty() || name.contains('/') {
                return Err(bad("empty name or alias"));
            }
            return Ok(ModelRef::Alias { name: name.to_string(), alias: alias.to_string() });
        }
        let Some((name, version)) = rest.rsplit_once('/') else {
            return Err(bad("no version or alias"));
        };
        if name.is_empty() || name.contains('/') {
            return Err(bad("empty name"));
        }
        if version.eq_ignore_ascii_case("latest") {
            return Ok(ModelRef::Latest { name: name.to_string() });
        }
        match version.parse::<i32>() {
            Ok(v) if v > 0 => Ok(ModelRef::Version { name: name.to_string(), version: v }),
            _ => Err(bad("the version must be a positive number")),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            ModelRef::Version { name, .. } | ModelRef::Alias { name, .. } | ModelRef::Latest { name } => name,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasInfo {
    pub alias: String,
    pub version: i32,
    pub model_version_id: ModelVersionId,
    pub protected: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisteredModel {
    pub registered_model_id: RegisteredModelId,
    pub name: String,
    pub description: String,
    pub policy: ModelPolicy,
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<AliasInfo>,
    pub latest_version: Option<i32>,
    pub version_count: i64,
    pub pending_requests: i64,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Run,
    Pipeline,
    Upload,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Run => "run",
            SourceKind::Pipeline => "pipeline",
            SourceKind::Upload => "upload",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        [SourceKind::Run, SourceKind::Pipeline, SourceKind::Upload].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// A Cairn bundle (`ml::train::Bundle`): served by Cairn.
    Cairn,
    /// An MLflow model directory (e.g. `mlflow.sklearn.log_model`): registered, not servable.
    Mlflow,
}

impl ModelFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::Cairn => "cairn",
            ModelFormat::Mlflow => "mlflow",
        }
    }

    pub fn parse(s: &str) -> Option<ModelFormat> {
        [ModelFormat::Cairn, ModelFormat::Mlflow].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelVersion {
    pub model_version_id: ModelVersionId,
    pub registered_model_id: RegisteredModelId,
    pub model_name: String,
    pub version: i32,
    pub source_kind: SourceKind,
    /// The URI it was registered from (`runs:/<run>/model`, `models:/m-…`, `upload:<file>`).
    pub source: String,
    pub run_id: Option<uuid::Uuid>,
    /// The experiment of `run_id`, for links.
    pub experiment_id: Option<String>,
    /// The MLflow logged model it was registered from (`models:/m-<hex>`).
    pub logged_model_id: Option<uuid::Uuid>,
    pub format: ModelFormat,
    /// None when Cairn can serve it; otherwise why not.
    pub not_servable_reason: Option<String>,
    pub signature: Option<Signature>,
    pub metrics: BTreeMap<String, f64>,
    pub params: BTreeMap<String, String>,
    pub gates: Option<Vec<GateResult>>,
    pub gates_passed: Option<bool>,
    pub dataset_version_id: Option<uuid::Uuid>,
    pub description: String,
    pub model_card: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/models`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRegisteredModel {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Default: `production` protected, one approval, gates required.
    #[serde(default)]
    pub policy: Option<ModelPolicy>,
}

/// `PATCH /api/v1/models/{name}`: only the fields given change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelChange {
    #[serde(default)]
    pub description: Option<String>,
    /// Changing the policy needs the admin role.
    #[serde(default)]
    pub policy: Option<ModelPolicy>,
}

/// `POST /api/v1/models/{name}/versions` (JSON; an uploaded bundle uses the
/// `…/versions/upload` endpoint instead).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewModelVersion {
    /// `runs:/<run_id>/<path>`, a bare run id, or `models:/m-<logged model id>`.
    pub source: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Set when a pipeline step registers the model.
    #[serde(default)]
    pub pipeline_step: Option<String>,
}

/// `PATCH /api/v1/models/{name}/versions/{version}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VersionChange {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub model_card: Option<String>,
}

/// `PUT /api/v1/models/{name}/aliases/{alias}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    pub version: i32,
    /// Goes into the promotion request when the alias is protected.
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/v1/notifications/read`: the given ones, or all when `ids` is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    #[serde(default)]
    pub ids: Option<Vec<NotificationId>>,
}

/// What happened when someone asked to point an alias at a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AliasOutcome {
    /// An unprotected alias: moved at once.
    Moved { alias: AliasInfo },
    /// A protected alias: a promotion request waits for approval (new or the open one).
    RequestCreated { request: PromotionRequest },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PromotionState {
    Pending,
    Approved,
    Rejected,
    Cancelled,
}

impl PromotionState {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionState::Pending => "pending",
            PromotionState::Approved => "approved",
            PromotionState::Rejected => "rejected",
            PromotionState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<PromotionState> {
        [
            PromotionState::Pending,
            PromotionState::Approved,
            PromotionState::Rejected,
            PromotionState::Cancelled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Review {
    pub reviewer: String,
    pub decision: Decision,
    pub comment: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromotionRequest {
    pub promotion_request_id: PromotionRequestId,
    pub registered_model_id: RegisteredModelId,
    pub model_name: String,
    pub alias: String,
    pub version: i32,
    pub model_version_id: ModelVersionId,
    /// What the alias pointed at when the request was made.
    pub current_version: Option<i32>,
    pub requested_by: Option<String>,
    pub requested_by_id: Option<UserId>,
    pub comment: String,
    pub state: PromotionState,
    pub required_approvals: u8,
    pub reviews: Vec<Review>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/models/{name}/promotions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPromotion {
    pub version: i32,
    #[serde(default = "default_alias")]
    pub alias: String,
    #[serde(default)]
    pub comment: String,
}

fn default_alias() -> String {
    DEFAULT_PROTECTED_ALIAS.to_string()
}

/// `POST /api/v1/promotions/{id}/reviews`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub decision: Decision,
    #[serde(default)]
    pub comment: String,
}

/// One side of the promotion page's comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromotionDetail {
    pub request: PromotionRequest,
    pub candidate: ModelVersion,
    pub current: Option<ModelVersion>,
    /// Drift of the candidate's training data against the current version's, per
    /// column (empty when either has no training dataset version).
    pub training_drift: Vec<crate::drift::ColumnDrift>,
    /// Why the drift could not be computed, if it could not.
    pub training_drift_note: Option<String>,
    /// Whether the caller may approve or reject it (approver, not the requester, not yet reviewed).
    pub can_review: bool,
    /// Gate policy verdict: None when the model does not require gates.
    pub gates_block: Option<String>,
}

/// A move of an alias, newest first on the model page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasEvent {
    pub alias: String,
    pub from_version: Option<i32>,
    pub to_version: Option<i32>,
    pub reason: String,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelDetail {
    pub model: RegisteredModel,
    pub versions: Vec<ModelVersion>,
    pub alias_history: Vec<AliasEvent>,
    pub requests: Vec<PromotionRequest>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub notification_id: NotificationId,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

/// Counts for the navigation bar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inbox {
    /// Pending requests the caller could review (0 for roles that cannot approve).
    pub pending_reviews: i64,
    pub unread_notifications: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs_parse_versions_aliases_and_latest() {
        assert_eq!(
            ModelRef::parse("models:/credit/3").unwrap(),
            ModelRef::Version { name: "credit".into(), version: 3 }
        );
        assert_eq!(
            ModelRef::parse("models:/credit@production").unwrap(),
            ModelRef::Alias { name: "credit".into(), alias: "production".into() }
        );
        assert_eq!(ModelRef::parse("credit/latest").unwrap(), ModelRef::Latest { name: "credit".into() });
        for bad in ["models:/", "models:/credit", "models:/credit/0", "models:/credit/x", "models:/@prod"] {
            let err = ModelRef::parse(bad).unwrap_err();
            assert!(err.message.contains("models:/<name>/<version>"), "{bad}: {err}");
        }
    }

    #[test]
    fn aliases_are_identifiers_and_latest_is_reserved() {
        assert!(check_alias("production").is_ok());
        assert!(check_alias("canary-2").is_ok());
        assert!(check_alias("2nd").is_err());
        assert!(check_alias("a b").is_err());
        assert!(check_alias("latest").unwrap_err().message.contains("reserved"));
    }

    #[test]
    fn policies_protect_production_and_allow_one_or_two_approvals() {
        let p = ModelPolicy::default();
        assert!(p.is_protected("production") && p.is_protected("Production") && !p.is_protected("staging"));
        assert!(p.validate().is_ok());
        let bad = ModelPolicy { required_approvals: 3, ..p.clone() };
        assert!(bad.validate().unwrap_err().message.contains("1 or 2"));
        let bad = ModelPolicy { protected_aliases: vec!["no spaces".into()], ..p };
        assert_eq!(bad.validate().unwrap_err().field, "protected_aliases");
    }
}
