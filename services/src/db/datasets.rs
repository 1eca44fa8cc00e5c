//! SQL for datasets, their versions, schemas and validation reports.

use chrono::{DateTime, Utc};
use domain::datasets::{
    CheckStatus, ColumnInfo, ColumnType, Dataset, DatasetVersion, SourceKind, ValidationSummary,
};
use domain::{ArtifactId, DatasetId, DatasetVersionId, ProjectId, ValidationId};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use std::collections::BTreeMap;
use uuid::Uuid;

pub struct DatasetRow {
    pub dataset_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub description: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub latest_version: Option<i32>,
    pub latest_rows: Option<i64>,
    pub version_count: i64,
}

impl From<DatasetRow> for Dataset {
    fn from(r: DatasetRow) -> Self {
        Dataset {
            dataset_id: DatasetId(r.dataset_id),
            project_id: ProjectId(r.project_id),
            name: r.name,
            description: r.description,
            created_by: r.created_by,
            created_at: r.created_at,
            latest_version: r.latest_version,
            version_count: r.version_count,
            latest_rows: r.latest_rows,
            updated_at: r.updated_at,
        }
    }
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    project: ProjectId,
    name: &str,
    description: &str,
    created_by: Uuid,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into dataset (project_id, name, description, created_by) values ($1, $2, $3, $4)
         returning dataset_id",
        project.0,
        name,
        description,
        created_by
    )
    .fetch_one(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, project: Option<ProjectId>) -> sqlx::Result<Vec<DatasetRow>> {
    sqlx::query_as!(
        DatasetRow,
        r#"select d.dataset_id, d.project_id, d.name, d.description, u.username as "created_by?",
                  d.created_at, d.updated_at,
                  v.version as "latest_version?", v.n_rows as "latest_rows?",
                  (select count(*) from dataset_version x where x.dataset_id = d.dataset_id) as "version_count!"
           from dataset d
           left join app_user u on u.user_id = d.created_by
           left join lateral (select version, n_rows from dataset_version
                              where dataset_id = d.dataset_id order by version desc limit 1) v on true
           where $1::uuid is null or d.project_id = $1
           order by lower(d.name)"#,
        project.map(|p| p.0)
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: DatasetId) -> sqlx::Result<Option<DatasetRow>> {
    sqlx::query_as!(
        DatasetRow,
        r#"select d.dataset_id, d.project_id, d.name, d.description, u.username as "created_by?",
                  d.created_at, d.updated_at,
                  v.version as "latest_version?", v.n_rows as "latest_rows?",
                  (select count(*) from dataset_version x where x.dataset_id = d.dataset_id) as "version_count!"
           from dataset d
           left join app_user u on u.user_id = d.created_by
           left join lateral (select version, n_rows from dataset_version
                              where dataset_id = d.dataset_id order by version desc limit 1) v on true
           where d.dataset_id = $1"#,
        id.0
    )
    .fetch_optional(db)
    .await
}

/// Serialises version creation per dataset (numbers are dense and ordered).
pub async fn lock(conn: &mut PgConnection, id: DatasetId) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("select project_id from dataset where dataset_id = $1 for update", id.0)
        .fetch_optional(conn)
        .await
}

pub async fn delete(db: impl PgExecutor<'_>, id: DatasetId) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from dataset where dataset_id = $1", id.0).execute(db).await?.rows_affected())
}

pub struct VersionRow {
    pub dataset_version_id: Uuid,
    pub dataset_id: Uuid,
    pub dataset_name: String,
    pub version: i32,
    pub content_hash: String,
    pub source_kind: String,
    pub source_detail: Value,
    pub format: String,
    pub n_rows: i64,
    pub n_cols: i32,
    pub raw_bytes: i64,
    pub parquet_bytes: i64,
    pub storage_key: String,
    pub columns: Value,
    pub type_overrides: Value,
    pub lineage_artifact_id: Option<Uuid>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl VersionRow {
    pub fn into_dto(self) -> DatasetVersion {
        let columns: Vec<ColumnInfo> = serde_json::from_value(self.columns).unwrap_or_default();
        let type_overrides: BTreeMap<String, ColumnType> =
            serde_json::from_value(self.type_overrides).unwrap_or_default();
        DatasetVersion {
            dataset_version_id: DatasetVersionId(self.dataset_version_id),
            dataset_id: DatasetId(self.dataset_id),
            dataset_name: self.dataset_name,
            version: self.version,
            content_hash: self.content_hash,
            source_kind: SourceKind::parse(&self.source_kind).unwrap_or(SourceKind::Upload),
            source_detail: self.source_detail,
            format: self.format,
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            raw_bytes: self.raw_bytes,
            parquet_bytes: self.parquet_bytes,
            columns,
            type_overrides,
            lineage_artifact_id: self.lineage_artifact_id.map(ArtifactId),
            created_by: self.created_by,
            created_at: self.created_at,
        }
    }
}

pub struct NewVersionRow<'a> {
    pub dataset_id: DatasetId,
    pub content_hash: &'a str,
    pub source_kind: SourceKind,
    pub source_detail: &'a Value,
    pub format: &'a str,
    pub n_rows: i64,
    pub n_cols: i32,
    pub raw_bytes: i64,
    pub parquet_bytes: i64,
    pub storage_key: &'a str,
    pub columns: &'a Value,
    pub type_overrides: &'a Value,
    pub profile: &'a Value,
    pub lineage_artifact_id: Option<Uuid>,
    pub created_by: Uuid,
}

/// Inserts with the next version number; the caller holds the dataset's lock.
pub async fn insert_version(conn: &mut PgConnection, v: &NewVersionRow<'_>) -> sqlx::Result<(Uuid, i32)> {
    let row = sqlx::query!(
        "insert into dataset_version (dataset_id, version, content_hash, source_kind, source_detail, format,
                                      n_rows, n_cols, raw_bytes, parquet_bytes, storage_key, columns,
                                      type_overrides, profile, lineage_artifact_id, created_by)
         values ($1, (select coalesce(max(version), 0) + 1 from dataset_version where dataset_id = $1),
                 $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         returning dataset_version_id, version",
        v.dataset_id.0,
        v.content_hash,
        v.source_kind.as_str(),
        v.source_detail,
        v.format,
        v.n_rows,
        v.n_cols,
        v.raw_bytes,
        v.parquet_bytes,
        v.storage_key,
        v.columns,
        v.type_overrides,
        v.profile,
        v.lineage_artifact_id,
        v.created_by
    )
    .fetch_one(conn)
    .await?;
    Ok((row.dataset_version_id, row.version))
}

pub async fn set_version_lineage(
    conn: &mut PgConnection,
    version: Uuid,
    artifact: ArtifactId,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update dataset_version set lineage_artifact_id = $2 where dataset_version_id = $1",
        version,
        artifact.0
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list_versions(db: impl PgExecutor<'_>, dataset: DatasetId) -> sqlx::Result<Vec<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        r#"select v.dataset_version_id, v.dataset_id, d.name as dataset_name, v.version, v.content_hash,
                  v.source_kind, v.source_detail, v.format, v.n_rows, v.n_cols, v.raw_bytes, v.parquet_bytes,
                  v.storage_key, v.columns, v.type_overrides, v.lineage_artifact_id,
                  u.username as "created_by?", v.created_at
           from dataset_version v join dataset d using (dataset_id)
           left join app_user u on u.user_id = v.created_by
           where v.dataset_id = $1 order by v.version desc"#,
        dataset.0
    )
    .fetch_all(db)
    .await
}

/// A version by number, or by content hash (`hash` given, `version` ignored).
pub async fn get_version(
    db: impl PgExecutor<'_>,
    dataset: DatasetId,
    version: Option<i32>,
    hash: Option<&str>,
) -> sqlx::Result<Option<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        r#"select v.dataset_version_id, v.dataset_id, d.name as dataset_name, v.version, v.content_hash,
                  v.source_kind, v.source_detail, v.format, v.n_rows, v.n_cols, v.raw_bytes, v.parquet_bytes,
                  v.storage_key, v.columns, v.type_overrides, v.lineage_artifact_id,
                  u.username as "created_by?", v.created_at
           from dataset_version v join dataset d using (dataset_id)
           left join app_user u on u.user_id = v.created_by
           where v.dataset_id = $1
             and (($3::text is not null and v.content_hash = $3) or ($3::text is null and v.version = $2))"#,
        dataset.0,
        version,
        hash
    )
    .fetch_optional(db)
    .await
}

pub async fn version_profile(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Value>> {
    sqlx::query_scalar!("select profile from dataset_version where dataset_version_id = $1", id)
        .fetch_optional(db)
        .await
}

pub struct SchemaRow {
    pub dataset_id: Uuid,
    pub based_on_version: Option<i32>,
    pub schema: Value,
    pub updated_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub async fn get_schema(db: impl PgExecutor<'_>, dataset: DatasetId) -> sqlx::Result<Option<SchemaRow>> {
    sqlx::query_as!(
        SchemaRow,
        r#"select s.dataset_id, v.version as "based_on_version?", s.schema, u.username as "updated_by?", s.updated_at
           from dataset_schema s
           left join dataset_version v on v.dataset_version_id = s.based_on
           left join app_user u on u.user_id = s.updated_by
           where s.dataset_id = $1"#,
        dataset.0
    )
    .fetch_optional(db)
    .await
}

pub async fn put_schema(
    db: impl PgExecutor<'_>,
    dataset: DatasetId,
    based_on: Option<Uuid>,
    schema: &Value,
    by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into dataset_schema (dataset_id, based_on, schema, updated_by) values ($1, $2, $3, $4)
         on conflict (dataset_id) do update set based_on = excluded.based_on, schema = excluded.schema,
                                                updated_by = excluded.updated_by",
        dataset.0,
        based_on,
        schema,
        by
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn insert_validation(
    db: impl PgExecutor<'_>,
    dataset: DatasetId,
    version: Uuid,
    baseline: Option<Uuid>,
    status: CheckStatus,
    report: &Value,
    by: Uuid,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into dataset_validation (dataset_id, dataset_version_id, baseline_version_id, status, report, created_by)
         values ($1, $2, $3, $4, $5, $6) returning dataset_validation_id",
        dataset.0,
        version,
        baseline,
        status.as_str(),
        report,
        by
    )
    .fetch_one(db)
    .await
}

pub struct ValidationRow {
    pub dataset_validation_id: Uuid,
    pub dataset_id: Uuid,
    pub version: i32,
    pub baseline_version: Option<i32>,
    pub status: String,
    pub anomalies: i32,
    pub drifted: i32,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<ValidationRow> for ValidationSummary {
    fn from(r: ValidationRow) -> Self {
        ValidationSummary {
            validation_id: ValidationId(r.dataset_validation_id),
            dataset_id: DatasetId(r.dataset_id),
            version: r.version,
            baseline_version: r.baseline_version,
            status: CheckStatus::parse(&r.status).unwrap_or(CheckStatus::Fail),
            anomalies: r.anomalies.max(0) as usize,
            drifted_columns: r.drifted.max(0) as usize,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

pub async fn list_validations(
    db: impl PgExecutor<'_>,
    dataset: DatasetId,
) -> sqlx::Result<Vec<ValidationRow>> {
    sqlx::query_as!(
        ValidationRow,
        r#"select x.dataset_validation_id, x.dataset_id, v.version, b.version as "baseline_version?", x.status,
                  coalesce(jsonb_array_length(x.report -> 'anomalies'), 0) as "anomalies!",
                  (select count(*)::int from jsonb_array_elements(coalesce(x.report -> 'drift', '[]'::jsonb)) e
                   where e ->> 'status' in ('warn', 'fail')) as "drifted!",
                  u.username as "created_by?", x.created_at
           from dataset_validation x
           join dataset_version v on v.dataset_version_id = x.dataset_version_id
           left join dataset_version b on b.dataset_version_id = x.baseline_version_id
           left join app_user u on u.user_id = x.created_by
           where x.dataset_id = $1 order by x.created_at desc limit 200"#,
        dataset.0
    )
    .fetch_all(db)
    .await
}

pub async fn get_validation(
    db: impl PgExecutor<'_>,
    id: ValidationId,
) -> sqlx::Result<Option<(ValidationRow, Value)>> {
    let row = sqlx::query!(
        r#"select x.dataset_validation_id, x.dataset_id, v.version, b.version as "baseline_version?", x.status,
                  coalesce(jsonb_array_length(x.report -> 'anomalies'), 0) as "anomalies!",
                  (select count(*)::int from jsonb_array_elements(coalesce(x.report -> 'drift', '[]'::jsonb)) e
                   where e ->> 'status' in ('warn', 'fail')) as "drifted!",
                  u.username as "created_by?", x.created_at, x.report
           from dataset_validation x
           join dataset_version v on v.dataset_version_id = x.dataset_version_id
           left join dataset_version b on b.dataset_version_id = x.baseline_version_id
           left join app_user u on u.user_id = x.created_by
           where x.dataset_validation_id = $1"#,
        id.0
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        (
            ValidationRow {
                dataset_validation_id: r.dataset_validation_id,
                dataset_id: r.dataset_id,
                version: r.version,
                baseline_version: r.baseline_version,
                status: r.status,
                anomalies: r.anomalies,
                drifted: r.drifted,
                created_by: r.created_by,
                created_at: r.created_at,
            },
            r.report,
        )
    }))
}
