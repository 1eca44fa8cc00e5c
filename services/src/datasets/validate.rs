//! Validation of a version against the dataset's schema and a baseline version:
//! schema anomalies (`ml::validate`) plus per-column drift (`ml::drift`), stored as
//! a report with one pass/warn/fail verdict.

use super::{get, read, schema, version_row};
use crate::auth::{Action, Principal, audit, authorize};
use crate::{AppState, Error, Result, db};
use domain::datasets::{
    CheckStatus, ColumnInfo, NewValidation, ValidationBody, ValidationReport, ValidationSummary,
};
use domain::drift::DriftStatus;
use domain::profile::DatasetProfile;
use domain::{DatasetId, ValidationError, ValidationId};
use ml::drift::{DriftOptions, FrameReference, drift_frame};

/// The report's verdict: its worst anomaly or drifted column.
pub fn verdict(body: &ValidationBody) -> CheckStatus {
    let anomalies = body.anomalies.iter().map(|a| a.severity);
    let drift = body.drift.iter().filter_map(|d| match d.status {
        DriftStatus::Fail => Some(CheckStatus::Fail),
        DriftStatus::Warn => Some(CheckStatus::Warn),
        _ => None,
    });
    anomalies.chain(drift).max().unwrap_or(CheckStatus::Pass)
}

#[tracing::instrument(skip_all, fields(dataset.id = %dataset, version = new.version))]
pub async fn run(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    new: NewValidation,
) -> Result<ValidationReport> {
    authorize(p, Action::Write)?;
    get(st, p, dataset).await?;
    let config = new.drift.unwrap_or_default();
    config.validate()?;
    let current = version_row(st, dataset, new.version).await?;
    let baseline_number = match new.baseline_version {
        Some(b) if b == new.version => {
            return Err(ValidationError::new(
                "baseline_version",
                "must differ from the version being checked",
            )
            .into());
        }
        Some(b) => Some(b),
        None if new.version > 1 => Some(new.version - 1),
        None => None,
    };
    let baseline = match baseline_number {
        Some(b) => Some(version_row(st, dataset, b).await.map_err(|_| {
            Error::Validation(ValidationError::new("baseline_version", format!("version {b} does not exist")))
        })?),
        None => None,
    };
    let (schema, schema_saved) =
        schema::effective(st, p, dataset, baseline_number.unwrap_or(new.version)).await?;
    let profile: DatasetProfile = super::profile(st, p, dataset, new.version).await?;
    let base_profile = match baseline_number {
        Some(b) => Some(super::profile(st, p, dataset, b).await?),
        None => None,
    };
    let columns: Vec<ColumnInfo> = serde_json::from_value(current.columns.clone()).unwrap_or_default();
    let cur_bytes = st.store.get(&current.storage_key).await?;
    let base_bytes = match &baseline {
        Some(b) => Some(st.store.get(&b.storage_key).await?),
        None => None,
    };
    let cfg = config.clone();
    let body = tokio::task::spawn_blocking(move || -> Result<ValidationBody> {
        let frame = read::whole(cur_bytes)?;
        let anomalies = ml::validate::check(
            &schema,
            base_profile.as_ref(),
            &columns,
            &profile,
            std::slice::from_ref(&frame),
        );
        let drift = match base_bytes {
            Some(bytes) => {
                let base = read::whole(bytes)?;
                let reference = FrameReference::new(&base, &DriftOptions::default())
                    .map_err(|e| Error::Other(anyhow::anyhow!("drift reference: {e}")))?;
                drift_frame(&reference, &frame, &cfg)
            }
            None => Vec::new(),
        };
        Ok(ValidationBody { schema, schema_saved, anomalies, drift, config: cfg })
    })
    .await
    .map_err(|e| Error::Other(anyhow::anyhow!("validation task failed: {e}")))??;

    let status = verdict(&body);
    let json = serde_json::to_value(&body).map_err(anyhow::Error::from)?;
    let mut tx = st.db.begin().await?;
    let id = db::datasets::insert_validation(
        &mut *tx,
        dataset,
        current.dataset_version_id,
        baseline.as_ref().map(|b| b.dataset_version_id),
        status,
        &json,
        p.user_id.0,
    )
    .await?;
    audit::record(
        &mut *tx,
        p,
        "dataset.validate",
        &format!("dataset:{dataset}"),
        audit::Outcome::Ok,
        &format!(
            "v{} against {}: {}",
            new.version,
            baseline_number.map_or("no baseline".into(), |b| format!("v{b}")),
            status.as_str()
        ),
    )
    .await?;
    tx.commit().await?;
    report(st, p, ValidationId(id)).await
}

pub async fn list(st: &AppState, p: &Principal, dataset: DatasetId) -> Result<Vec<ValidationSummary>> {
    authorize(p, Action::Read)?;
    get(st, p, dataset).await?;
    Ok(db::datasets::list_validations(&st.db, dataset).await?.into_iter().map(Into::into).collect())
}

pub async fn report(st: &AppState, p: &Principal, id: ValidationId) -> Result<ValidationReport> {
    authorize(p, Action::Read)?;
    let (row, json) =
        db::datasets::get_validation(&st.db, id).await?.ok_or_else(|| Error::not_found("validation", id))?;
    let dataset = get(st, p, DatasetId(row.dataset_id)).await?;
    let body: ValidationBody = serde_json::from_value(json)
        .map_err(|e| Error::Other(anyhow::anyhow!("stored validation report unreadable: {e}")))?;
    Ok(ValidationReport { summary: row.into(), dataset_name: dataset.name, body })
}
