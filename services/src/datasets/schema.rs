//! A dataset's expected schema: inferred from a version, then edited by people.

use super::{get, version_row};
use crate::auth::{Action, Principal, audit, authorize};
use crate::{AppState, Error, Result, db};
use domain::DatasetId;
use domain::datasets::{ColumnInfo, DatasetSchema, StoredSchema};
use domain::profile::DatasetProfile;

fn to_dto(r: db::datasets::SchemaRow) -> Result<StoredSchema> {
    Ok(StoredSchema {
        dataset_id: DatasetId(r.dataset_id),
        based_on_version: r.based_on_version,
        schema: serde_json::from_value(r.schema)
            .map_err(|e| Error::Other(anyhow::anyhow!("stored schema unreadable: {e}")))?,
        updated_by: r.updated_by,
        updated_at: r.updated_at,
    })
}

/// The stored schema, if someone saved one.
pub async fn get_schema(st: &AppState, p: &Principal, dataset: DatasetId) -> Result<Option<StoredSchema>> {
    authorize(p, Action::Read)?;
    get(st, p, dataset).await?;
    db::datasets::get_schema(&st.db, dataset).await?.map(to_dto).transpose()
}

/// What the schema would be if inferred from `version` (not stored).
pub async fn infer(st: &AppState, p: &Principal, dataset: DatasetId, version: i32) -> Result<DatasetSchema> {
    authorize(p, Action::Read)?;
    let row = version_row(st, dataset, version).await?;
    let columns: Vec<ColumnInfo> = serde_json::from_value(row.columns.clone()).unwrap_or_default();
    let profile: DatasetProfile = super::profile(st, p, dataset, version).await?;
    Ok(ml::validate::infer_schema(&columns, &profile))
}

/// The schema validation uses: the stored one, else inferred from `fallback`.
pub(crate) async fn effective(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    fallback: i32,
) -> Result<(DatasetSchema, bool)> {
    match get_schema(st, p, dataset).await? {
        Some(s) => Ok((s.schema, true)),
        None => Ok((infer(st, p, dataset, fallback).await?, false)),
    }
}

/// Saves a schema; `based_on` records the version it was inferred from, if any.
pub async fn put_schema(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    schema: DatasetSchema,
    based_on: Option<i32>,
) -> Result<StoredSchema> {
    authorize(p, Action::Write)?;
    schema.validate()?;
    get(st, p, dataset).await?;
    let based = match based_on {
        Some(v) => Some(version_row(st, dataset, v).await?.dataset_version_id),
        None => None,
    };
    let json = serde_json::to_value(&schema).map_err(anyhow::Error::from)?;
    let mut tx = st.db.begin().await?;
    db::datasets::put_schema(&mut *tx, dataset, based, &json, p.user_id.0).await?;
    audit::record(
        &mut *tx,
        p,
        "dataset.schema.update",
        &format!("dataset:{dataset}"),
        audit::Outcome::Ok,
        &format!("{} columns", schema.columns.len()),
    )
    .await?;
    tx.commit().await?;
    get_schema(st, p, dataset).await?.ok_or_else(|| Error::not_found("schema", dataset))
}
