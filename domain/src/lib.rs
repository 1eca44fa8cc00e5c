//! Types that cross a boundary: the browser (wasm), the REST API and the services
//! all speak these. Serde only, no I/O, so this crate builds for `wasm32`.
//!
//! Architecture invariant: nothing here depends on sqlx, tokio, axum or leptos.
//! Row structs live in `services::db`; they convert into these DTOs explicitly.

pub mod auth;
pub mod build;
pub mod datasets;
pub mod drift;
pub mod ids;
pub mod imports;
pub mod jobs;
pub mod lineage;
pub mod overview;
pub mod pipelines;
pub mod preparation;
pub mod prepare;
pub mod profile;
pub mod project;
pub mod registry;
pub mod serving;
pub mod tracking;
pub mod training;
pub mod validation;

pub use ids::{
    ArtifactId, ContextId, DEFAULT_PROJECT_ID, DataSourceId, DatasetId, DatasetVersionId, EndpointId,
    ExecutionId, JobId, ModelVersionId, NotificationId, PipelineId, PipelineRunId, PipelineStepId,
    PipelineVersionId, ProjectId, PromotionRequestId, RegisteredModelId, ScheduleId, TokenId, UserId,
    ValidationId, WebhookDeliveryId, WebhookId,
};
pub use validation::ValidationError;
