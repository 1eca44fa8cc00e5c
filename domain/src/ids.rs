//! Newtype ids, so a project id can never be passed where a run id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A project: the owner of every top-level entity.
    ProjectId
);

id_type!(
    /// A user account.
    UserId
);

id_type!(
    /// An API token (its id, not its secret).
    TokenId
);

id_type!(
    /// A job in the queue: one unit of background work and its attempts.
    JobId
);

id_type!(
    /// A cron schedule that enqueues a job on every tick.
    ScheduleId
);

id_type!(
    /// An outbound webhook subscription.
    WebhookId
);

id_type!(
    /// One event sent to one webhook (possibly over several attempts).
    WebhookDeliveryId
);

id_type!(
    /// A lineage artifact: a dataset version, a model, a metrics file...
    ArtifactId
);

id_type!(
    /// A lineage execution: a run, a pipeline step, a job.
    ExecutionId
);

id_type!(
    /// A lineage context grouping artifacts and executions (a pipeline run, an experiment).
    ContextId
);

id_type!(
    /// A registered SQL data source (a Postgres database Cairn may query read-only).
    DataSourceId
);

/// The project created by the first migration; entities land here unless told otherwise.
pub const DEFAULT_PROJECT_ID: ProjectId = ProjectId(Uuid::from_u128(0x00000000_0000_4000_8000_000000000001));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_plain_strings() {
        let json = serde_json::to_string(&DEFAULT_PROJECT_ID).unwrap();
        assert_eq!(json, "\"00000000-0000-4000-8000-000000000001\"");
        let back: ProjectId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, DEFAULT_PROJECT_ID);
        assert_eq!("00000000-0000-4000-8000-000000000001".parse::<ProjectId>().unwrap(), DEFAULT_PROJECT_ID);
        assert!("not-a-uuid".parse::<ProjectId>().is_err());
    }
}

id_type!(
    /// A dataset: a name that owns a history of immutable versions.
    DatasetId
);

id_type!(
    /// One immutable version of a dataset.
    DatasetVersionId
);

id_type!(
    /// A stored validation report of a dataset version.
    ValidationId
);

id_type!(
    /// A registered model: a name that owns numbered versions and aliases.
    RegisteredModelId
);

id_type!(
    /// One immutable version of a registered model.
    ModelVersionId
);

id_type!(
    /// A request to move a protected alias, decided by approvers.
    PromotionRequestId
);

id_type!(
    /// An in-app notification for one user.
    NotificationId
);

id_type!(
    /// A serving endpoint: a name that serves one or more model versions.
    EndpointId
);

id_type!(
    /// A pipeline: a name whose versions are immutable specs.
    PipelineId
);

id_type!(
    /// One immutable version of a pipeline (its spec and pinned components).
    PipelineVersionId
);

id_type!(
    /// One run of a pipeline version.
    PipelineRunId
);

id_type!(
    /// One step of a pipeline run.
    PipelineStepId
);
