//! Batch prediction: a model version applied to a whole dataset version, as the job
//! `serving.batch_predict`. The predictions become a version of another dataset
//! (`<dataset>-predictions` unless named): the input columns, `prediction`, and
//! `proba_<class>` for classifiers (null where the model's preparation filtered the
//! row out), through `datasets::create_version` like every version.
//!
//! ```text
//! dataset version ──▶ execution `batch_predict` ──▶ predictions version
//!     (model version id, bundle key in its properties)
//! ```

use crate::auth::{Action, Principal, audit, authorize};
use crate::datasets::convert::frame_to_batch;
use crate::datasets::{self, Spooled, VersionInput};
use crate::db::serving as sql;
use crate::lineage::{self, EventKind, ExecutionState, NewExecution};
use crate::queue::{self, Job, JobCtx, JobRegistry, Permanent};
use crate::{AppState, Error, Result};
use domain::datasets::{FileFormat, SourceKind, VersionCreated};
use domain::registry::ModelRef;
use domain::serving::{BatchPredictionSubmitted, NewBatchPrediction};
use domain::{ModelVersionId, ValidationError};
use ml::frame::{Column, ColumnData, Frame};
use ml::train::{Bundle, Predictions};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

pub const EXECUTION_TYPE: &str = "batch_predict";
/// The suffix of the default output dataset's name.
pub const OUTPUT_SUFFIX: &str = "-predictions";
const PARQUET_CREATED_BY: &str = "cairn batch_predict";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchPredictJob {
    pub model_version_id: Uuid,
    pub dataset_version_id: Uuid,
    pub output_dataset_id: Uuid,
    pub requested_by: Uuid,
    /// The pipeline whose step asked for it: its output version must not trigger
    /// that pipeline again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<Uuid>,
}

/// Registers the job kind with a worker (the worker must provide `AppState`).
pub fn register(registry: JobRegistry) -> JobRegistry {
    registry.register::<BatchPredictJob>()
}

fn invalid(field: &str, msg: impl Into<String>) -> Error {
    ValidationError::new(field, msg).into()
}

/// The version a `models:/...` reference names, checked to be servable.
pub async fn resolve_model(st: &AppState, reference: &str) -> Result<(sql::VersionRow, String)> {
    let r = ModelRef::parse(reference)?;
    let mut models = sql::model_by_name(&st.db, r.name()).await?;
    if models.len() != 1 {
        return Err(Error::not_found("registered model", r.name()));
    }
    let model = models.remove(0);
    let row = match &r {
        ModelRef::Version { version, .. } => {
            sql::version(&st.db, model.registered_model_id, *version).await?
        }
        ModelRef::Alias { alias, .. } => sql::alias_version(&st.db, model.registered_model_id, alias).await?,
        ModelRef::Latest { .. } => sql::latest_version(&st.db, model.registered_model_id).await?,
    }
    .ok_or_else(|| Error::not_found("model version", reference))?;
    if let Some(why) = &row.not_servable_reason {
        return Err(invalid(
            "model",
            format!("version {} of {} cannot be run by Cairn: {why}", row.version, model.name),
        ));
    }
    if row.bundle_path.is_none() {
        return Err(invalid("model", format!("version {} of {} has no bundle", row.version, model.name)));
    }
    Ok((row, model.name))
}

/// Checks the request and queues the job.
pub async fn submit(
    st: &AppState,
    p: &Principal,
    new: NewBatchPrediction,
) -> Result<BatchPredictionSubmitted> {
    authorize(p, Action::Write)?;
    let (model, model_name) = resolve_model(st, &new.model).await?;
    let input = crate::training::resolve_version(st, p, &new.dataset, new.version).await?;
    let input_ds = datasets::get(st, p, input.dataset_id).await?;
    let output_name =
        new.output_dataset.clone().unwrap_or_else(|| format!("{}{OUTPUT_SUFFIX}", input.dataset_name));
    if output_name.trim().is_empty() {
        return Err(invalid("output_dataset", "must not be empty"));
    }
    let output = datasets::prepare::dataset_named(
        st,
        p,
        &input_ds,
        &output_name,
        &format!("Predictions of model {model_name} on dataset '{}'.", input.dataset_name),
    )
    .await?;
    if output.dataset_id == input.dataset_id {
        return Err(invalid(
            "output_dataset",
            "is the input dataset; predictions go to a dataset of their own",
        ));
    }
    let job = BatchPredictJob {
        model_version_id: model.model_version_id,
        dataset_version_id: input.dataset_version_id.0,
        output_dataset_id: output.dataset_id.0,
        requested_by: p.user_id.0,
        pipeline_id: crate::pipelines::acting_pipeline(),
    };
    let mut tx = st.db.begin().await?;
    let job_id = queue::enqueue(&mut tx, &job).await?;
    audit::record(
        &mut *tx,
        p,
        "batch_prediction.submit",
        &format!("job:{job_id}"),
        audit::Outcome::Ok,
        &format!(
            "{model_name} v{} on {} v{} → {}",
            model.version, input.dataset_name, input.version, output.name
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(BatchPredictionSubmitted {
        job_id,
        model_version_id: ModelVersionId(model.model_version_id),
        output_dataset: output.name,
    })
}

impl Job for BatchPredictJob {
    const KIND: &'static str = "serving.batch_predict";
    const MAX_ATTEMPTS: i32 = 2;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let st = ctx.require::<AppState>()?;
        let p = crate::training::lifecycle::principal(&st, Some(self.requested_by), ctx.job_id())
            .await
            .map_err(|e| Permanent(e.to_string()))?;
        let model = sql::version_by_id(&st.db, self.model_version_id)
            .await?
            .ok_or_else(|| Permanent("the model version was deleted".into()))?;
        let bundle_key =
            model.bundle_path.clone().ok_or_else(|| Permanent("the model version has no bundle".into()))?;
        let location = crate::db::training::version_location(&st.db, self.dataset_version_id)
            .await?
            .ok_or_else(|| Permanent("the dataset version was deleted".into()))?;
        let input_artifact = location
            .lineage_artifact_id
            .ok_or_else(|| Permanent("the dataset version has no lineage artifact".into()))?;
        ctx.log(format!("predicting with model version {} on {}", model.version, location.storage_key))
            .await?;
        let bundle_bytes = st.store.get(&bundle_key).await?;
        let parquet = st.store.get(&location.storage_key).await?;
        let spooled = ctx
            .run_blocking(move || -> std::result::Result<(Spooled, usize), String> {
                let bundle = Bundle::from_bytes(&bundle_bytes).map_err(|e| e.to_string())?;
                let frame = datasets::read::whole(parquet).map_err(|e| e.to_string())?;
                let n = frame.n_rows();
                let out = predictions_frame(&bundle, frame).map_err(|e| e.to_string())?;
                let batch = frame_to_batch(&out)?;
                let file =
                    datasets::import::write_batches_blocking(batch.schema(), &[batch], PARQUET_CREATED_BY)
                        .map_err(|e| e.to_string())?;
                Ok((file, n))
            })
            .await;
        let (file, rows) = match spooled {
            Ok(Ok(v)) => v,
            Ok(Err(reason)) => return Err(Permanent(reason).into()),
            Err(e) => return Err(e.into()),
        };
        let detail = json!({
            "model_version_id": self.model_version_id,
            "model_version": model.version,
            "input_dataset_version_id": self.dataset_version_id,
        });
        let input = VersionInput {
            format: Some(FileFormat::Parquet),
            file_name: None,
            overrides: Default::default(),
            source_kind: SourceKind::Predicted,
            source_detail: detail,
        };
        let output = domain::DatasetId(self.output_dataset_id);
        let project = datasets::get(&st, &p, output).await?.project_id;
        let made = crate::pipelines::as_pipeline(
            self.pipeline_id,
            datasets::create_version(&st, &p, output, file, input),
        )
        .await?;
        record_lineage(&st, project, &self, &model, input_artifact, &made, ctx.job_id()).await?;
        ctx.log(format!(
            "{rows} rows predicted: {} v{}{}",
            made.version.dataset_name,
            made.version.version,
            if made.created { "" } else { " (identical to an existing version)" }
        ))
        .await?;
        Ok(())
    }
}

/// The input columns, then `prediction` and `proba_<class>` (null for filtered rows).
pub fn predictions_frame(bundle: &Bundle, frame: Frame) -> std::result::Result<Frame, ml::train::TrainError> {
    let out = bundle.predict(&frame)?;
    let n = frame.n_rows();
    let mut slot = vec![None; n];
    for (j, &r) in out.rows.iter().enumerate() {
        if r < n {
            slot[r] = Some(j);
        }
    }
    let mut columns = frame.columns;
    match &out.predictions {
        Predictions::Classes { class, proba, classes } => {
            let labels = slot.iter().map(|s| s.map(|j| classes[class[j]].clone())).collect();
            columns.push(Column::new(unique(&columns, "prediction"), ColumnData::Str(labels)));
            let k = classes.len();
            for (c, name) in classes.iter().enumerate() {
                let p = slot.iter().map(|s| s.map(|j| proba[j * k + c])).collect();
                columns.push(Column::new(unique(&columns, &format!("proba_{name}")), ColumnData::Float(p)));
            }
        }
        Predictions::Values(v) => {
            let values = slot.iter().map(|s| s.map(|j| v[j])).collect();
            columns.push(Column::new(unique(&columns, "prediction"), ColumnData::Float(values)));
        }
        Predictions::Clusters { cluster } => {
            let values = slot.iter().map(|s| s.map(|j| cluster[j] as i64)).collect();
            columns.push(Column::new(unique(&columns, "prediction"), ColumnData::Int(values)));
        }
    }
    Ok(Frame { columns })
}

/// `name`, or `name_2`, ... if the input already has such a column.
fn unique(columns: &[Column], name: &str) -> String {
    let taken = |n: &str| columns.iter().any(|c| c.name == n);
    if !taken(name) {
        return name.to_string();
    }
    (2..).map(|i| format!("{name}_{i}")).find(|n| !taken(n)).unwrap_or_else(|| name.to_string())
}

async fn record_lineage(
    st: &AppState,
    project: domain::ProjectId,
    job: &BatchPredictJob,
    model: &sql::VersionRow,
    input_artifact: Uuid,
    made: &VersionCreated,
    job_id: domain::JobId,
) -> Result<()> {
    let output_artifact = made
        .version
        .lineage_artifact_id
        .ok_or_else(|| Error::Other(anyhow::anyhow!("the predictions version has no lineage artifact")))?;
    let mut tx = st.db.begin().await?;
    let execution = lineage::record_execution(
        &mut tx,
        project,
        &NewExecution {
            type_name: EXECUTION_TYPE.into(),
            name: format!(
                "batch predict with model version {} → {} v{}",
                model.version, made.version.dataset_name, made.version.version
            ),
            state: ExecutionState::Complete,
            properties: json!({
                "model_version_id": job.model_version_id,
                "model_version": model.version,
                "bundle_key": model.bundle_path,
                "input_dataset_version_id": job.dataset_version_id,
                "output": { "dataset_id": made.version.dataset_id, "version": made.version.version },
            }),
            job_id: Some(job_id),
            external_id: Some(format!(
                "batch_predict:{}:{}:{}",
                job.model_version_id, job.dataset_version_id, output_artifact.0
            )),
        },
    )
    .await?;
    lineage::record_event(&mut tx, execution, domain::ArtifactId(input_artifact), EventKind::Input, "input")
        .await?;
    lineage::record_event(&mut tx, execution, output_artifact, EventKind::Output, "predictions").await?;
    tx.commit().await?;
    Ok(())
}
