//! REST API v1: JSON in, JSON out, described by the OpenAPI document at
//! `/api/v1/openapi.json`, which is generated from these handlers' annotations.

pub mod audit;
pub mod auth;
pub mod data_sources;
pub mod datasets;
pub mod endpoints;
pub mod jobs;
pub mod pipeline_events;
pub mod pipelines;
pub mod preparation;
pub mod projects;
pub mod registry;
pub mod status;
pub mod tokens;
pub mod tracking;
pub mod training;
pub mod users;

use super::ServerState;
use super::error::{ErrorBody, ErrorDetail};
use axum::Json;
use axum::Router;
use axum::routing::{delete, get, patch, post};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn API",
        description = "Cairn's REST API. Errors always have the shape `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(
        status::get_status,
        projects::list_projects,
        projects::get_project,
        projects::create_project,
        auth::login,
        auth::logout,
        auth::me,
        users::list_users,
        users::create_user,
        users::change_user,
        tokens::list_tokens,
        tokens::create_token,
        tokens::revoke_token,
        audit::list_audit,
        jobs::list_jobs,
        jobs::get_job,
        jobs::start_job,
        jobs::cancel_job,
        jobs::retry_job,
        jobs::stream_log,
        jobs::list_schedules,
        jobs::create_schedule,
        jobs::change_schedule,
        jobs::delete_schedule,
        tracking::list_experiments,
        tracking::list_runs,
        tracking::get_run,
        tracking::metric_history,
        datasets::list_datasets,
        datasets::create_dataset,
        datasets::get_dataset,
        datasets::delete_dataset,
        datasets::list_versions,
        datasets::upload_version,
        datasets::get_version,
        datasets::version_rows,
        datasets::download_version,
        datasets::version_profile,
        datasets::get_schema,
        datasets::put_schema,
        datasets::create_validation,
        datasets::list_validations,
        datasets::get_validation,
        preparation::prepare_version,
        preparation::get_transform,
        data_sources::import_version,
        data_sources::list_data_sources,
        data_sources::create_data_source,
        data_sources::delete_data_source,
        training::list_algorithms,
        training::submit_run,
        training::submit_search,
        training::submit_command,
        training::list_runs,
        training::get_run,
        training::cancel_run,
        endpoints::list_endpoints,
        endpoints::create_endpoint,
        endpoints::get_endpoint,
        endpoints::change_endpoint,
        endpoints::delete_endpoint,
        endpoints::predict,
        endpoints::endpoint_stats,
        endpoints::endpoint_requests,
        endpoints::post_feedback,
        endpoints::submit_batch_prediction,
        registry::list_models,
        registry::create_model,
        registry::get_model,
        registry::change_model,
        registry::delete_model,
        registry::list_versions,
        registry::create_version,
        registry::upload_version,
        registry::get_version,
        registry::change_version,
        registry::delete_version,
        registry::get_alias,
        registry::set_alias,
        registry::delete_alias,
        registry::rollback,
        registry::request_promotion,
        registry::list_promotions,
        registry::get_promotion,
        registry::review_promotion,
        registry::cancel_promotion,
        registry::inbox,
        registry::list_notifications,
        registry::mark_read,
        pipeline_events::run_events,
        pipelines::submit,
        pipelines::list_pipelines,
        pipelines::get_pipeline,
        pipelines::delete_pipeline,
        pipelines::get_version,
        pipelines::start_run,
        pipelines::list_pipeline_runs,
        pipelines::list_runs,
        pipelines::get_run,
        pipelines::cancel_run,
        pipelines::rerun,
        pipelines::list_schedules,
        pipelines::create_schedule,
        pipelines::change_schedule,
        pipelines::delete_schedule,
        pipelines::create_webhook_secret,
        pipelines::webhook,
        pipelines::monitor_trigger,
        pipelines::list_components,
        pipelines::register_component,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        domain::project::Project,
        domain::project::NewProject,
        domain::overview::Overview,
        domain::build::BuildInfo,
        status::Status,
        domain::auth::Role,
        domain::auth::User,
        domain::auth::Me,
        domain::auth::Credentials,
        domain::auth::NewUser,
        domain::auth::CreatedUser,
        domain::auth::UserChange,
        domain::auth::ApiToken,
        domain::auth::NewToken,
        domain::auth::CreatedToken,
        domain::auth::AuditEvent,
        domain::jobs::Job,
        domain::jobs::JobPage,
        domain::jobs::JobDetail,
        domain::jobs::LogLine,
        domain::jobs::NewJob,
        domain::jobs::StateCount,
        domain::jobs::Schedule,
        domain::jobs::NewSchedule,
        domain::jobs::ScheduleChange,
        domain::tracking::Experiment,
        domain::tracking::ExperimentPage,
        domain::tracking::Tag,
        domain::tracking::Metric,
        domain::tracking::RunInfo,
        domain::tracking::Run,
        domain::tracking::RunPage,
        domain::tracking::DatasetInput,
        domain::tracking::MetricHistory,
        domain::tracking::ViewType,
        domain::training::AlgorithmInfo,
        domain::training::Task,
        domain::training::TrainingSpec,
        domain::training::SearchSpec,
        domain::training::SearchMethod,
        domain::training::ParamRange,
        domain::training::CommandSpec,
        domain::training::TrainingState,
        domain::training::TrainingSummary,
        domain::training::TrainingDetail,
        domain::training::TrainingSubmitted,
        domain::training::Trial,
        domain::training::IterationMetrics,
        domain::training::Evaluation,
        domain::training::Curve,
        domain::training::CurvePoint,
        domain::training::CalibrationBin,
        domain::training::Residual,
        domain::training::SliceMetrics,
        domain::training::FeatureImportance,
        domain::training::GateResult,
        domain::datasets::Dataset,
        domain::datasets::NewDataset,
        domain::datasets::DatasetVersion,
        domain::datasets::VersionCreated,
        domain::datasets::ColumnInfo,
        domain::datasets::ColumnType,
        domain::datasets::SourceKind,
        domain::datasets::RowPage,
        domain::datasets::DatasetSchema,
        domain::datasets::ColumnSchema,
        domain::datasets::StoredSchema,
        domain::datasets::NewValidation,
        domain::datasets::ValidationReport,
        domain::datasets::ValidationBody,
        domain::datasets::ValidationSummary,
        domain::datasets::Anomaly,
        domain::datasets::AnomalyKind,
        domain::datasets::CheckStatus,
        datasets::SchemaBody,
        domain::profile::DatasetProfile,
        domain::drift::ColumnDrift,
        domain::drift::DriftConfig,
        domain::imports::DataSource,
        domain::imports::NewDataSource,
        domain::imports::ImportRequest,
        domain::imports::SqlImport,
        domain::preparation::PrepareRequest,
        domain::preparation::Prepared,
        domain::prepare::TransformSpec,
        domain::prepare::Step,
        domain::prepare::SplitSpec,
        domain::prepare::ImputeStrategy,
        domain::prepare::Scalar,
        domain::prepare::UnknownCategory,
        domain::prepare::DatePart,
        domain::prepare::FittedTransform,
        domain::prepare::FittedStep,
        domain::prepare::ColumnSchema,
        domain::prepare::ImputeFill,
        domain::prepare::OneHotColumn,
        domain::prepare::OrdinalColumn,
        domain::prepare::Standardization,
        domain::prepare::MinMaxRange,
        domain::serving::Endpoint,
        domain::serving::EndpointUrls,
        domain::serving::Route,
        domain::serving::RouteSpec,
        domain::serving::NewEndpoint,
        domain::serving::EndpointChange,
        domain::serving::PredictResponse,
        domain::serving::EndpointStats,
        domain::serving::MinuteStats,
        domain::serving::LoggedRequest,
        domain::serving::Feedback,
        domain::serving::FeedbackAccepted,
        endpoints::PredictRequest,
        domain::serving::NewBatchPrediction,
        domain::serving::BatchPredictionSubmitted,
        domain::training::Signature,
        domain::training::SignatureColumn,
        domain::training::OutputSchema,
        domain::registry::ModelPolicy,
        domain::registry::AliasInfo,
        domain::registry::RegisteredModel,
        domain::registry::SourceKind,
        domain::registry::ModelFormat,
        domain::registry::ModelVersion,
        domain::registry::NewRegisteredModel,
        domain::registry::ModelChange,
        domain::registry::NewModelVersion,
        domain::registry::VersionChange,
        domain::registry::SetAlias,
        domain::registry::MarkRead,
        domain::registry::AliasOutcome,
        domain::registry::PromotionState,
        domain::registry::Decision,
        domain::registry::Review,
        domain::registry::PromotionRequest,
        domain::registry::NewPromotion,
        domain::registry::NewReview,
        domain::registry::PromotionDetail,
        domain::registry::AliasEvent,
        domain::registry::ModelDetail,
        domain::registry::Notification,
        domain::registry::Inbox,
        domain::pipelines::ValueType,
        domain::pipelines::ParameterSpec,
        domain::pipelines::PortSpec,
        domain::pipelines::CommandComponentSpec,
        domain::pipelines::StepSpec,
        domain::pipelines::PipelineSpec,
        domain::pipelines::TriggerSpec,
        domain::pipelines::ScheduleTrigger,
        domain::pipelines::DatasetTrigger,
        domain::pipelines::ComponentSignature,
        domain::pipelines::ComponentKind,
        domain::pipelines::ComponentInfo,
        domain::pipelines::PinnedComponent,
        domain::pipelines::RunState,
        domain::pipelines::StepState,
        domain::pipelines::Trigger,
        domain::pipelines::PipelineSummary,
        domain::pipelines::PipelineVersion,
        domain::pipelines::PipelineDetail,
        domain::pipelines::VersionSummary,
        domain::pipelines::PipelineSchedule,
        domain::pipelines::RunSummary,
        domain::pipelines::StepRun,
        domain::pipelines::CachedFrom,
        domain::pipelines::RunDetail,
        domain::pipelines::SubmitPipeline,
        domain::pipelines::Submitted,
        domain::pipelines::StartRun,
        domain::pipelines::NewSchedule,
        domain::pipelines::ScheduleChange,
        domain::pipelines::MonitorTrigger,
        domain::pipelines::WebhookSecret,
        domain::pipelines::WebhookAccepted,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "status", description = "What is running and how it is doing"),
        (name = "projects", description = "Projects own every top-level entity"),
        (name = "auth", description = "Sign in and out; who am I"),
        (name = "users", description = "User accounts and roles (admins)"),
        (name = "tokens", description = "API tokens: send as `Authorization: Bearer <token>`"),
        (name = "audit", description = "The audit log (admins)"),
        (name = "jobs", description = "Background jobs, their logs, and schedules"),
        (name = "datasets", description = "Datasets and their immutable versions: upload, preview, profile, schema, validation"),
        (name = "training", description = "Training runs of built-in algorithms, hyper-parameter searches and command trainers"),
        (name = "data-sources", description = "Registered SQL sources (Postgres) that dataset versions can be imported from"),
        (name = "serving", description = "Endpoints serving registered model versions: traffic routes, predictions (also /v2/models/{name}/infer and /endpoints/{name}/invocations), serving-log statistics, recent requests, feedback"),
        (name = "registry", description = "Registered models, versions, aliases and approval-gated promotion; the caller's inbox"),
        (name = "pipelines", description = "Pipelines: versioned DAG specs, runs with live step states, schedules, a signed webhook for CI, a trigger for monitoring, and the component registry"),
        (name = "tracking", description = "Experiments, runs and metric histories (also served MLflow-style at /api/2.0/mlflow)"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/status", get(status::get_status))
        .route("/projects", get(projects::list_projects).post(projects::create_project))
        .route("/projects/{project_id}", get(projects::get_project))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users/{user_id}", patch(users::change_user))
        .route("/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/tokens/{token_id}", delete(tokens::revoke_token))
        .route("/audit", get(audit::list_audit))
        .route("/jobs", get(jobs::list_jobs).post(jobs::start_job))
        .route("/jobs/{job_id}", get(jobs::get_job))
        .route("/jobs/{job_id}/cancel", post(jobs::cancel_job))
        .route("/jobs/{job_id}/retry", post(jobs::retry_job))
        .route("/jobs/{job_id}/log/stream", get(jobs::stream_log))
        .route("/schedules", get(jobs::list_schedules).post(jobs::create_schedule))
        .route("/schedules/{schedule_id}", patch(jobs::change_schedule).delete(jobs::delete_schedule))
        .route("/experiments", get(tracking::list_experiments))
        .route("/experiments/{experiment_id}/runs", get(tracking::list_runs))
        .route("/runs/{run_id}", get(tracking::get_run))
        .route("/runs/{run_id}/metrics/{key}", get(tracking::metric_history))
        .route("/training/algorithms", get(training::list_algorithms))
        .route("/training/runs", get(training::list_runs).post(training::submit_run))
        .route("/training/runs/{run_id}", get(training::get_run))
        .route("/training/runs/{run_id}/cancel", post(training::cancel_run))
        .route("/training/searches", post(training::submit_search))
        .route("/training/commands", post(training::submit_command))
        .route("/models", get(registry::list_models).post(registry::create_model))
        .route(
            "/models/{name}",
            get(registry::get_model).patch(registry::change_model).delete(registry::delete_model),
        )
        .route("/models/{name}/versions", get(registry::list_versions).post(registry::create_version))
        .route("/models/{name}/versions/upload", post(registry::upload_version))
        .route(
            "/models/{name}/versions/{version}",
            get(registry::get_version).patch(registry::change_version).delete(registry::delete_version),
        )
        .route(
            "/models/{name}/aliases/{alias}",
            get(registry::get_alias).put(registry::set_alias).delete(registry::delete_alias),
        )
        .route("/models/{name}/aliases/{alias}/rollback", post(registry::rollback))
        .route("/models/{name}/promotions", post(registry::request_promotion))
        .route("/promotions", get(registry::list_promotions))
        .route("/promotions/{id}", get(registry::get_promotion))
        .route("/promotions/{id}/reviews", post(registry::review_promotion))
        .route("/promotions/{id}/cancel", post(registry::cancel_promotion))
        .route("/inbox", get(registry::inbox))
        .route("/notifications", get(registry::list_notifications))
        .route("/notifications/read", post(registry::mark_read))
        .route("/data-sources", get(data_sources::list_data_sources).post(data_sources::create_data_source))
        .route("/data-sources/{source}", delete(data_sources::delete_data_source))
        .route("/datasets", get(datasets::list_datasets).post(datasets::create_dataset))
        .route("/datasets/{dataset}", get(datasets::get_dataset).delete(datasets::delete_dataset))
        .route("/datasets/{dataset}/versions", get(datasets::list_versions).post(datasets::upload_version))
        .route("/datasets/{dataset}/versions/import", post(data_sources::import_version))
        .route("/datasets/{dataset}/versions/{version}", get(datasets::get_version))
        .route("/datasets/{dataset}/versions/{version}/rows", get(datasets::version_rows))
        .route("/datasets/{dataset}/versions/{version}/download", get(datasets::download_version))
        .route("/datasets/{dataset}/versions/{version}/profile", get(datasets::version_profile))
        .route("/datasets/{dataset}/versions/{version}/prepare", post(preparation::prepare_version))
        .route("/datasets/{dataset}/versions/{version}/transform", get(preparation::get_transform))
        .route("/datasets/{dataset}/schema", get(datasets::get_schema).put(datasets::put_schema))
        .route(
            "/datasets/{dataset}/validations",
            get(datasets::list_validations).post(datasets::create_validation),
        )
        .route("/validations/{validation_id}", get(datasets::get_validation))
        .route("/endpoints", get(endpoints::list_endpoints).post(endpoints::create_endpoint))
        .route(
            "/endpoints/{name}",
            get(endpoints::get_endpoint).patch(endpoints::change_endpoint).delete(endpoints::delete_endpoint),
        )
        .route("/endpoints/{name}/predict", post(endpoints::predict))
        .route("/endpoints/{name}/stats", get(endpoints::endpoint_stats))
        .route("/endpoints/{name}/requests", get(endpoints::endpoint_requests))
        .route("/endpoints/{name}/feedback", post(endpoints::post_feedback))
        .route("/batch-predictions", post(endpoints::submit_batch_prediction))
        .route("/pipelines/runs/{run_id}/events", get(pipeline_events::run_events))
        .route("/pipelines", get(pipelines::list_pipelines).post(pipelines::submit))
        .route("/pipelines/{name}", get(pipelines::get_pipeline).delete(pipelines::delete_pipeline))
        .route("/pipelines/{name}/versions/{version}", get(pipelines::get_version))
        .route("/pipelines/{name}/runs", get(pipelines::list_pipeline_runs).post(pipelines::start_run))
        .route("/pipelines/{name}/schedules", get(pipelines::list_schedules).post(pipelines::create_schedule))
        .route(
            "/pipelines/{name}/schedules/{schedule_id}",
            patch(pipelines::change_schedule).delete(pipelines::delete_schedule),
        )
        .route("/pipelines/{name}/webhook-secret", post(pipelines::create_webhook_secret))
        .route("/pipelines/{name}/webhook", post(pipelines::webhook))
        .route("/pipelines/{name}/monitor-trigger", post(pipelines::monitor_trigger))
        .route("/pipeline-runs", get(pipelines::list_runs))
        .route("/pipeline-runs/{run_id}", get(pipelines::get_run))
        .route("/pipeline-runs/{run_id}/cancel", post(pipelines::cancel_run))
        .route("/pipeline-runs/{run_id}/rerun", post(pipelines::rerun))
        .route("/pipeline-components", get(pipelines::list_components))
        .route("/pipeline-components/{name}", post(pipelines::register_component))
}

/// Documents the bearer-token scheme every endpoint accepts.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("cairn_…").build(),
            ),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
