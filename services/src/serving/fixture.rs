//! Registered models and versions for tests and `cairn bench serving`, until the
//! registry's own use cases (`services::registry`) are merged: this is the one place
//! that writes registry rows directly, so switching to the registry's calls is a
//! change here only. Not reachable from any API.

use crate::db::serving as sql;
use crate::{AppState, Result};
use domain::ModelVersionId;
use domain::prepare::{ImputeStrategy, SplitSpec, Step, TransformSpec};
use domain::training::Algorithm;
use ml::frame::Frame;
use ml::train::{Bundle, Hooks, TrainRequest};
use std::collections::BTreeMap;
use std::path::Path;

/// Stores `bundle` and registers it as the next version of `model` (created if
/// missing); returns the version's id and number.
pub async fn register_bundle(st: &AppState, model: &str, bundle: &Bundle) -> Result<(ModelVersionId, i32)> {
    let bytes = bundle.to_bytes().map_err(|e| crate::Error::Other(anyhow::anyhow!("{e}")))?;
    let key = format!("registry/fixture/{}/bundle.cairn.json", uuid::Uuid::new_v4());
    st.store.put(&key, bytes.into()).await?;
    let model_id = sql::fixture_model(&st.db, model).await?;
    let signature = serde_json::to_value(&bundle.signature).ok();
    let (id, version) =
        sql::fixture_version(&st.db, model_id, "cairn", None, Some(&key), signature.as_ref()).await?;
    Ok((ModelVersionId(id), version))
}

/// Registers a version Cairn cannot serve (an MLflow model), with the reason.
pub async fn register_unservable(st: &AppState, model: &str, reason: &str) -> Result<(ModelVersionId, i32)> {
    let model_id = sql::fixture_model(&st.db, model).await?;
    let (id, version) = sql::fixture_version(&st.db, model_id, "mlflow", Some(reason), None, None).await?;
    Ok((ModelVersionId(id), version))
}

/// Points `alias` of `model` at version `version` (no promotion workflow).
pub async fn set_alias(st: &AppState, model: &str, alias: &str, version: ModelVersionId) -> Result<()> {
    let model_id = sql::fixture_model(&st.db, model).await?;
    sql::fixture_set_alias(&st.db, model_id, alias, version.0).await?;
    Ok(())
}

/// Reads a CSV the way an upload does, into one frame.
pub fn read_csv(path: &Path) -> anyhow::Result<Frame> {
    let format = if path.to_string_lossy().ends_with(".gz") {
        domain::datasets::FileFormat::CsvGz
    } else {
        domain::datasets::FileFormat::Csv
    };
    let ingested = crate::datasets::ingest::ingest_file(path, format, &BTreeMap::new(), &mut |_, _| Ok(()))?;
    let bytes = std::fs::read(ingested.parquet.path())?;
    Ok(crate::datasets::read::whole(bytes.into())?)
}

/// A model of credit_data's `Status` (impute, scale, one-hot the text columns),
/// trained without importance. `algorithm` names a built-in algorithm with its
/// defaults, e.g. `logistic_regression`. CPU-bound: call it on a blocking thread.
pub fn credit_bundle(frame: &Frame, algorithm: &str, seed: u64) -> anyhow::Result<Bundle> {
    let text: Vec<String> = ["Home", "Marital", "Records", "Job"].map(String::from).to_vec();
    let request = TrainRequest {
        target: Some("Status".into()),
        features: Vec::new(),
        prepare: TransformSpec {
            target: Some("Status".into()),
            steps: vec![
                Step::Impute { strategy: ImputeStrategy::Median, columns: None },
                Step::Impute { strategy: ImputeStrategy::MostFrequent, columns: Some(text.clone()) },
                Step::StandardScale { columns: None },
                Step::OneHot { columns: text, max_categories: None },
            ],
            split: Some(SplitSpec::Stratified { column: "Status".into(), test_fraction: 0.2, seed }),
        },
        algorithm: Algorithm::with_defaults(algorithm).map_err(anyhow::Error::msg)?,
        seed,
        slice_column: None,
        importance_repeats: 0,
        gates: Vec::new(),
    };
    let cancelled = || false;
    let mut progress = |_| {};
    let mut hooks = Hooks { cancelled: &cancelled, progress: &mut progress };
    Ok(ml::train::train(frame, &request, None, &mut hooks)?.bundle)
}
