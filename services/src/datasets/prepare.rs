//! Preparing a dataset version: fit a transform spec on its training split, store
//! the prepared splits as new versions and the fitted transform as a blob, and
//! record the step in lineage, so serving can later apply exactly that transform.
//!
//! ```text
//! input version ──▶ execution `prepare` ──▶ <output> vN          (train rows)
//!                                       ├─▶ <output>-test vM     (test rows, with a split)
//!                                       └─▶ transform artifact   (uri = blob key of the fitted JSON)
//! ```
//!
//! The test split goes to a dataset of its own (`<output>-test`) rather than being
//! a second version of the output dataset: a dataset's versions are then always
//! the same kind of rows (its latest version is the latest training set, not
//! sometimes a test set), and train vN and test vM stay easy to tell apart in
//! lists, previews and lineage.
//!
//! Everything that can be wrong with the spec or the data (a parse error, an
//! unknown column, a step that does not fit a column's type) is found before
//! anything is stored, and answered as a validation error (422) carrying the
//! spec parser's or the step's own message. The splits are written to Parquet
//! with fixed settings, so preparing the same version with the same spec again
//! finds the same versions (`created: false`) and records no new lineage.

use super::convert::frame_to_batch;
use super::import::write_batches_blocking;
use super::{Spooled, VersionInput, create_version, read, version_row};
use crate::auth::{Action, Principal, audit, authorize};
use crate::lineage::{self, EventKind, ExecutionState, NewArtifact, NewExecution};
use crate::{AppState, Error, Result};
use bytes::Bytes;
use domain::datasets::{Dataset, FileFormat, NewDataset, SourceKind, VersionCreated};
use domain::preparation::{PrepareRequest, Prepared};
use domain::prepare::{FittedTransform, TransformSpec};
use domain::{DatasetId, ValidationError};
use ml::frame::Frame;
use ml::prepare::PrepareError;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The lineage type of the preparation execution.
pub const EXECUTION_TYPE: &str = "prepare";
/// The lineage type of the fitted transform's artifact.
pub const TRANSFORM_ARTIFACT_TYPE: &str = "transform";
/// The suffix of the default output dataset's name.
pub const OUTPUT_SUFFIX: &str = "-prepared";
/// The suffix of the test split's dataset, after the output dataset's name.
pub const TEST_SUFFIX: &str = "-test";

/// Written into the Parquet files of prepared versions; part of their bytes, so
/// changing it changes the versions that identical preparations produce.
const PARQUET_CREATED_BY: &str = "cairn prepare";

/// The spec text of a REST request: `spec` (a JSON object) or `spec_yaml`, exactly
/// one of them.
pub fn spec_text(req: &PrepareRequest) -> Result<String> {
    match (&req.spec, &req.spec_yaml) {
        (Some(Value::Object(_)), None) => {
            serde_json::to_string(&req.spec).map_err(|e| Error::Other(anyhow::Error::from(e)))
        }
        (Some(_), None) => Err(ValidationError::new(
            "spec",
            "must be a JSON object like {\"steps\": [...]}; send YAML text as `spec_yaml`",
        )
        .into()),
        (None, Some(yaml)) => Ok(yaml.clone()),
        (Some(_), Some(_)) => {
            Err(ValidationError::new("spec", "give either `spec` or `spec_yaml`, not both").into())
        }
        (None, None) => Err(ValidationError::new(
            "spec",
            "missing: give the transform spec as `spec` (JSON) or `spec_yaml` (YAML text)",
        )
        .into()),
    }
}

/// Prepares version `version` of `dataset` with the spec in `spec_text` (JSON or
/// YAML), storing the prepared train rows as a new version of `output` (a dataset
/// id or name; default `<input name>-prepared`, created in the input's project if
/// missing) and the test rows, if the spec splits, in `<output>-test`.
#[tracing::instrument(skip_all, fields(dataset.id = %dataset, version))]
pub async fn prepare_version(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    version: i32,
    spec_text: &str,
    output: Option<&str>,
) -> Result<Prepared> {
    authorize(p, Action::Write)?;
    let spec = ml::prepare::parse_spec(spec_text).map_err(spec_error)?;
    let input = super::get(st, p, dataset).await?;
    let row = version_row(st, dataset, version).await?;
    let input_artifact = row
        .lineage_artifact_id
        .map(domain::ArtifactId)
        .ok_or_else(|| Error::Other(anyhow::anyhow!("{} v{version} has no lineage artifact", input.name)))?;
    let parquet = st.store.get(&row.storage_key).await?;

    let fit_spec = spec.clone();
    let computed = tokio::task::spawn_blocking(move || compute(&fit_spec, parquet))
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("preparation task failed: {e}")))??;

    // Only now, with the spec known to fit the data, is anything created.
    let train_ds = output_dataset(st, p, &input, output).await?;
    let test_ds = match computed.test {
        Some(_) => Some(
            dataset_named(st, p, &input, &format!("{}{TEST_SUFFIX}", train_ds.name), &prepared_from(&input))
                .await?,
        ),
        None => None,
    };
    let blob = st.store.put_blob(computed.fitted_json).await?;
    let spec_json = serde_json::to_value(&spec).map_err(anyhow::Error::from)?;
    let detail = |split: &str| {
        json!({
            "input_dataset": input.name,
            "input_dataset_id": input.dataset_id,
            "input_version": version,
            "split": split,
            "spec": spec_json,
            "transform_key": blob.key,
        })
    };
    let as_version = |split: &str| VersionInput {
        format: Some(FileFormat::Parquet),
        file_name: None,
        overrides: BTreeMap::new(),
        source_kind: SourceKind::Prepared,
        source_detail: detail(split),
    };
    let train = create_version(st, p, train_ds.dataset_id, computed.train, as_version("train")).await?;
    let test = match (test_ds, computed.test) {
        (Some(ds), Some(file)) => Some(create_version(st, p, ds.dataset_id, file, as_version("test")).await?),
        _ => None,
    };

    let execution = record_lineage(
        st,
        p,
        &input,
        version,
        input_artifact,
        &Outputs { train: &train, test: test.as_ref(), blob: &blob, spec: &spec_json },
    )
    .await?;
    tracing::info!(
        dataset.id = %dataset,
        version,
        train.version = train.version.version,
        train.created = train.created,
        transform.key = %blob.key,
        "prepared dataset version"
    );
    Ok(Prepared { train, test, transform_key: blob.key, execution })
}

/// The fitted transform of a prepared version (train or test side): what serving
/// must apply to requests for a model trained on it.
#[tracing::instrument(skip_all, fields(dataset.id = %dataset, version))]
pub async fn fitted_transform(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    version: i32,
) -> Result<FittedTransform> {
    authorize(p, Action::Read)?;
    let row = version_row(st, dataset, version).await?;
    if row.source_kind != SourceKind::Prepared.as_str() {
        return Err(Error::not_found(
            "fitted transform",
            format!(
                "of {} v{version}: that version came from {}, not from preparation, so it has none",
                row.dataset_name, row.source_kind
            ),
        ));
    }
    let key = row.source_detail.get("transform_key").and_then(Value::as_str).ok_or_else(|| {
        Error::Other(anyhow::anyhow!("{} v{version} is prepared but names no transform", row.dataset_name))
    })?;
    let bytes = st.store.get(key).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Other(anyhow::anyhow!("the stored transform {key} is unreadable: {e}")))
}

/// What the blocking part produced: Parquet files of the splits and the fitted
/// transform as JSON.
struct Computed {
    train: Spooled,
    test: Option<Spooled>,
    fitted_json: Bytes,
}

/// Reads the version, splits, fits and applies, and writes the splits to Parquet.
/// CPU-bound: runs on the blocking pool.
fn compute(spec: &TransformSpec, parquet: Bytes) -> Result<Computed> {
    let frame = read::whole(parquet)?;
    let prepared = ml::prepare::prepare(spec, &frame).map_err(spec_error)?;
    let train = write_split(&prepared.train, "train")?;
    let test = prepared.test.as_ref().map(|f| write_split(f, "test")).transpose()?;
    let fitted_json = serde_json::to_vec_pretty(&prepared.fitted).map_err(anyhow::Error::from)?;
    Ok(Computed { train, test, fitted_json: Bytes::from(fitted_json) })
}

fn write_split(frame: &Frame, side: &str) -> Result<Spooled> {
    if frame.n_rows() == 0 {
        return Err(ValidationError::new(
            "spec",
            format!("the spec's filters leave no {side} rows; loosen them or check the data"),
        )
        .into());
    }
    if frame.columns.is_empty() {
        return Err(ValidationError::new("spec", "the spec leaves no columns; select or keep some").into());
    }
    let batch = frame_to_batch(frame).map_err(|e| Error::Other(anyhow::anyhow!(e)))?;
    write_batches_blocking(batch.schema(), &[batch], PARQUET_CREATED_BY)
}

/// A spec that does not parse or does not fit the data: the user's to fix, so a
/// validation error with the parser's or step's message (which names the
/// position, step and column).
fn spec_error(e: PrepareError) -> Error {
    ValidationError::new("spec", e.to_string()).into()
}

/// The dataset receiving the train rows: `output` by id or name, else
/// `<input>-prepared`; a name that does not exist yet is created.
async fn output_dataset(
    st: &AppState,
    p: &Principal,
    input: &Dataset,
    output: Option<&str>,
) -> Result<Dataset> {
    let name = match output.map(str::trim) {
        Some("") => return Err(ValidationError::new("output", "must not be empty").into()),
        Some(given) => {
            if let Ok(id) = given.parse::<DatasetId>() {
                let ds = super::get(st, p, id).await?;
                return not_the_input(ds, input);
            }
            given.to_string()
        }
        None => format!("{}{OUTPUT_SUFFIX}", input.name),
    };
    not_the_input(dataset_named(st, p, input, &name, &prepared_from(input)).await?, input)
}

fn prepared_from(input: &Dataset) -> String {
    format!("Prepared from dataset '{}'.", input.name)
}

/// Prepared rows next to raw ones would make "the latest version" mean either.
fn not_the_input(ds: Dataset, input: &Dataset) -> Result<Dataset> {
    if ds.dataset_id == input.dataset_id {
        return Err(ValidationError::new(
            "output",
            format!("is the input dataset '{}'; prepared rows go to a dataset of their own", input.name),
        )
        .into());
    }
    Ok(ds)
}

/// The dataset called `name`, created in the input's project (with `description`)
/// when missing. A concurrent creation of the same name is found on the retry.
pub(crate) async fn dataset_named(
    st: &AppState,
    p: &Principal,
    input: &Dataset,
    name: &str,
    description: &str,
) -> Result<Dataset> {
    match super::resolve(st, p, name).await {
        Err(Error::NotFound { .. }) => {}
        found => return found,
    }
    let new = NewDataset {
        name: name.to_string(),
        description: description.to_string(),
        project_id: Some(input.project_id),
    };
    match super::create(st, p, new).await {
        Err(Error::Conflict(_)) => super::resolve(st, p, name).await,
        made => made,
    }
}

struct Outputs<'a> {
    train: &'a VersionCreated,
    test: Option<&'a VersionCreated>,
    blob: &'a crate::artifacts::StoredBlob,
    spec: &'a Value,
}

/// Records the transform artifact, the `prepare` execution and its events, and an
/// audit entry, in one transaction. Idempotent: the execution's external id is
/// derived from the input and outputs, so the same preparation records nothing new.
async fn record_lineage(
    st: &AppState,
    p: &Principal,
    input: &Dataset,
    version: i32,
    input_artifact: domain::ArtifactId,
    out: &Outputs<'_>,
) -> Result<domain::ExecutionId> {
    let project = input.project_id;
    let artifact_of = |v: &VersionCreated| {
        v.version.lineage_artifact_id.ok_or_else(|| {
            Error::Other(anyhow::anyhow!(
                "{} v{} has no lineage artifact",
                v.version.dataset_name,
                v.version.version
            ))
        })
    };
    let train_artifact = artifact_of(out.train)?;
    let test_artifact = out.test.map(artifact_of).transpose()?;
    let mut identity = Sha256::new();
    for part in [
        input_artifact.to_string(),
        train_artifact.to_string(),
        test_artifact.map(|a| a.to_string()).unwrap_or_default(),
        out.blob.key.clone(),
    ] {
        identity.update(part.as_bytes());
        identity.update(b"\n");
    }
    let external_id = format!("prepare:{}", hex::encode(identity.finalize()));
    let source = format!("{} v{version}", input.name);

    let mut tx = st.db.begin().await?;
    let transform = lineage::record_artifact(
        &mut tx,
        project,
        &NewArtifact {
            type_name: TRANSFORM_ARTIFACT_TYPE.into(),
            name: format!("transform fitted on {source}"),
            uri: out.blob.key.clone(),
            content_hash: Some(format!("sha256:{}", out.blob.sha256)),
            properties: json!({ "input_dataset_id": input.dataset_id, "input_version": version, "spec": out.spec }),
            external_id: Some(out.blob.key.clone()),
        },
    )
    .await?;
    let execution = lineage::record_execution(
        &mut tx,
        project,
        &NewExecution {
            type_name: EXECUTION_TYPE.into(),
            name: format!("prepare {source}"),
            state: ExecutionState::Complete,
            properties: json!({
                "input_dataset_id": input.dataset_id,
                "input_version": version,
                "train": { "dataset_id": out.train.version.dataset_id, "version": out.train.version.version },
                "test": out.test.map(|t| json!({ "dataset_id": t.version.dataset_id, "version": t.version.version })),
                "transform_key": out.blob.key,
                "spec": out.spec,
            }),
            job_id: None,
            external_id: Some(external_id),
        },
    )
    .await?;
    lineage::record_event(&mut tx, execution, input_artifact, EventKind::Input, "input").await?;
    lineage::record_event(&mut tx, execution, train_artifact, EventKind::Output, "train").await?;
    if let Some(test) = test_artifact {
        lineage::record_event(&mut tx, execution, test, EventKind::Output, "test").await?;
    }
    lineage::record_event(&mut tx, execution, transform, EventKind::Output, "transform").await?;
    let mut details = format!("{source} → {} v{}", out.train.version.dataset_name, out.train.version.version);
    if let Some(t) = out.test {
        details.push_str(&format!(", {} v{}", t.version.dataset_name, t.version.version));
    }
    audit::record(
        &mut *tx,
        p,
        "dataset.prepare",
        &format!("dataset:{}", input.dataset_id),
        audit::Outcome::Ok,
        &details,
    )
    .await?;
    tx.commit().await?;
    Ok(execution)
}
