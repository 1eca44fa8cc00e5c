//! Datasets: immutable, content-addressed versions stored as Parquet, their
//! profiles, an editable schema, and validation against a baseline.
//!
//! A version is written in this order: the upload is spooled to a temp file (hashed
//! on the way), checked against existing versions by hash (same bytes and overrides
//! → the existing version, nothing stored twice), converted to Parquet and profiled
//! in one streaming pass on the blocking pool, the Parquet copy is put in the object
//! store, and only then is the row inserted, in one transaction with its lineage
//! artifact and audit event. A failure anywhere leaves no version behind.

pub mod convert;
pub mod import;
pub mod ingest;
pub mod lineage_view;
pub mod prepare;
pub mod read;
pub mod schema;
pub mod validate;

use crate::auth::{Action, Principal, audit, authorize};
use crate::error::ResultExt;
use crate::{AppState, Error, Result, db, lineage};
use bytes::Bytes;
use domain::datasets::{
    ColumnInfo, ColumnType, Dataset, DatasetVersion, FileFormat, NewDataset, RowPage, SourceKind,
    VersionCreated,
};
use domain::profile::DatasetProfile;
use domain::{DEFAULT_PROJECT_ID, DatasetId, ValidationError};
use futures::{Stream, StreamExt};
use ingest::{IngestError, Ingested};
use ml::frame::Frame;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;

/// An upload spooled to local disk, with the hash and size of its raw bytes.
pub struct Spooled {
    file: tempfile::NamedTempFile,
    pub sha256: String,
    pub bytes: u64,
    /// The first bytes, for sniffing the format.
    head: Vec<u8>,
}

impl Spooled {
    pub fn path(&self) -> &std::path::Path {
        self.file.path()
    }

    /// Spools bytes already in memory (tests, the CLI, small sources).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut file = tempfile::NamedTempFile::new().map_err(anyhow::Error::from)?;
        file.write_all(bytes).map_err(anyhow::Error::from)?;
        Ok(Self {
            file,
            sha256: hex::encode(Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
            head: bytes.iter().take(8).copied().collect(),
        })
    }
}

/// Writes a body stream to a temp file without holding it in memory, hashing it
/// on the way; over `limit` bytes it stops and says so. The caller maps its
/// transport's errors (a cut-off body is `Error::TooLarge`).
pub async fn spool<S>(mut stream: S, limit: u64) -> Result<Spooled>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let named = tempfile::NamedTempFile::new().map_err(anyhow::Error::from)?;
    let mut out = tokio::fs::File::from_std(named.reopen().map_err(anyhow::Error::from)?);
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut head = Vec::with_capacity(8);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large(limit));
        }
        if head.len() < 8 {
            head.extend(chunk.iter().take(8 - head.len()));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    out.flush().await.map_err(anyhow::Error::from)?;
    Ok(Spooled { file: named, sha256: hex::encode(hasher.finalize()), bytes: total, head })
}

/// The answer to an upload over the limit.
pub fn too_large(limit: u64) -> Error {
    Error::TooLarge(format!(
        "the file is larger than the upload limit of {limit} bytes (CAIRN_MAX_UPLOAD_BYTES); split it or raise the limit"
    ))
}

/// How a version is being created, besides its bytes.
#[derive(Clone, Debug)]
pub struct VersionInput {
    /// When `None`, taken from `file_name`, else sniffed from the first bytes.
    pub format: Option<FileFormat>,
    pub file_name: Option<String>,
    pub overrides: BTreeMap<String, ColumnType>,
    pub source_kind: SourceKind,
    pub source_detail: Value,
}

impl VersionInput {
    pub fn upload(file_name: Option<String>, overrides: BTreeMap<String, ColumnType>) -> Self {
        let source_detail = json!({ "file_name": file_name });
        Self { format: None, file_name, overrides, source_kind: SourceKind::Upload, source_detail }
    }
}

fn sniff(head: &[u8]) -> FileFormat {
    if head.starts_with(b"PAR1") {
        FileFormat::Parquet
    } else if head.starts_with(&[0x1f, 0x8b]) {
        FileFormat::CsvGz
    } else {
        FileFormat::Csv
    }
}

/// A version's identity: the raw bytes' hash plus the overrides (sorted, so the
/// same overrides in another order are the same version).
pub fn content_hash(raw_sha256: &str, overrides: &BTreeMap<String, ColumnType>) -> String {
    let mut h = Sha256::new();
    h.update(raw_sha256.as_bytes());
    if !overrides.is_empty() {
        h.update(b"\noverrides:");
        for (name, ty) in overrides {
            h.update(name.as_bytes());
            h.update(b"=");
            h.update(ty.as_str().as_bytes());
            h.update(b"\n");
        }
    }
    hex::encode(h.finalize())
}

fn storage_key(hash: &str) -> String {
    format!("datasets/sha256/{}/{}.parquet", &hash[..2], hash)
}

impl From<IngestError> for Error {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Io(io) => {
                Error::Other(anyhow::Error::from(io).context("reading the spooled upload"))
            }
            IngestError::Write(m) => Error::Other(anyhow::anyhow!("writing parquet: {m}")),
            other => Error::Validation(ValidationError::new("file", other.to_string())),
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn list(st: &AppState, p: &Principal) -> Result<Vec<Dataset>> {
    authorize(p, Action::Read)?;
    Ok(db::datasets::list(&st.db, None).await?.into_iter().map(Into::into).collect())
}

#[tracing::instrument(skip_all, fields(dataset.id = %id))]
pub async fn get(st: &AppState, p: &Principal, id: DatasetId) -> Result<Dataset> {
    authorize(p, Action::Read)?;
    db::datasets::get(&st.db, id).await?.map(Into::into).ok_or_else(|| Error::not_found("dataset", id))
}

#[tracing::instrument(skip_all, fields(dataset.name = %new.name))]
pub async fn create(st: &AppState, p: &Principal, new: NewDataset) -> Result<Dataset> {
    authorize(p, Action::Write)?;
    new.validate()?;
    let project = new.project_id.unwrap_or(DEFAULT_PROJECT_ID);
    let mut tx = st.db.begin().await?;
    let id = db::datasets::insert(&mut *tx, project, &new.name, &new.description, p.user_id.0)
        .await
        .on_constraint("dataset_name_key", || {
            Error::Conflict(format!("a dataset named '{}' already exists; pick another name", new.name))
        })
        .map_err(|e| match e {
            Error::Db(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Error::not_found("project", project)
            }
            other => other,
        })?;
    audit::record(&mut *tx, p, "dataset.create", &format!("dataset:{id}"), audit::Outcome::Ok, &new.name)
        .await?;
    tx.commit().await?;
    get(st, p, DatasetId(id)).await
}

#[tracing::instrument(skip_all, fields(dataset.id = %id))]
pub async fn delete(st: &AppState, p: &Principal, id: DatasetId) -> Result<()> {
    authorize(p, Action::Write)?;
    let mut tx = st.db.begin().await?;
    if db::datasets::delete(&mut *tx, id).await? == 0 {
        return Err(Error::not_found("dataset", id));
    }
    audit::record(&mut *tx, p, "dataset.delete", &format!("dataset:{id}"), audit::Outcome::Ok, "").await?;
    tx.commit().await?;
    Ok(())
}

/// A dataset by id or, failing that, by name (the API and CLI accept either).
pub async fn resolve(st: &AppState, p: &Principal, id_or_name: &str) -> Result<Dataset> {
    if let Ok(id) = id_or_name.parse::<DatasetId>() {
        return get(st, p, id).await;
    }
    list(st, p)
        .await?
        .into_iter()
        .find(|d| d.name.eq_ignore_ascii_case(id_or_name))
        .ok_or_else(|| Error::not_found("dataset", id_or_name))
}

/// Creates a version from spooled bytes (upload, path, URL). Same content and
/// overrides as an existing version → that version, `created: false`.
#[tracing::instrument(skip_all, fields(dataset.id = %dataset, bytes = spooled.bytes))]
pub async fn create_version(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    spooled: Spooled,
    input: VersionInput,
) -> Result<VersionCreated> {
    authorize(p, Action::Write)?;
    let ds = get(st, p, dataset).await?;
    if spooled.bytes == 0 {
        return Err(IngestError::Empty.into());
    }
    let format = input
        .format
        .or_else(|| input.file_name.as_deref().and_then(FileFormat::from_file_name))
        .unwrap_or_else(|| sniff(&spooled.head));
    let hash = content_hash(&spooled.sha256, &input.overrides);
    if let Some(existing) = db::datasets::get_version(&st.db, dataset, None, Some(&hash)).await? {
        return Ok(VersionCreated { created: false, version: existing.into_dto() });
    }

    let raw_bytes = spooled.bytes as i64;
    let overrides = input.overrides.clone();
    let (ingested, profile) = tokio::task::spawn_blocking(move || -> Result<(Ingested, Value, Spooled)> {
        let mut profiler = read::Profiling::default();
        let ingested =
            ingest::ingest_file(spooled.path(), format, &overrides, &mut |cols, frame: &Frame| {
                profiler.push(cols, frame).map_err(IngestError::Batch)
            })?;
        let profile = serde_json::to_value(profiler.finish()).map_err(anyhow::Error::from)?;
        Ok((ingested, profile, spooled))
    })
    .await
    .map_err(|e| Error::Other(anyhow::anyhow!("ingest task failed: {e}")))?
    // The spooled upload is dropped (deleted) here, after the ingest read it.
    .map(|(i, p, _spooled)| (i, p))?;

    let key = storage_key(&hash);
    if !st.store.exists(&key).await? {
        st.store.put_file(&key, ingested.parquet.path()).await?;
    }
    insert_version(st, p, &ds, &hash, &key, format, raw_bytes, &ingested, &profile, &input).await
}

#[allow(clippy::too_many_arguments)]
async fn insert_version(
    st: &AppState,
    p: &Principal,
    ds: &Dataset,
    hash: &str,
    key: &str,
    format: FileFormat,
    raw_bytes: i64,
    ingested: &Ingested,
    profile: &Value,
    input: &VersionInput,
) -> Result<VersionCreated> {
    let mut tx = st.db.begin().await?;
    let project = db::datasets::lock(&mut tx, ds.dataset_id)
        .await?
        .ok_or_else(|| Error::not_found("dataset", ds.dataset_id))?;
    // Someone may have stored the same bytes while we converted them.
    if let Some(existing) = db::datasets::get_version(&mut *tx, ds.dataset_id, None, Some(hash)).await? {
        return Ok(VersionCreated { created: false, version: existing.into_dto() });
    }
    let columns = serde_json::to_value(&ingested.columns).map_err(anyhow::Error::from)?;
    let overrides = serde_json::to_value(&input.overrides).map_err(anyhow::Error::from)?;
    let (version_id, number) = db::datasets::insert_version(
        &mut tx,
        &db::datasets::NewVersionRow {
            dataset_id: ds.dataset_id,
            content_hash: hash,
            source_kind: input.source_kind,
            source_detail: &input.source_detail,
            format: format.as_str(),
            n_rows: ingested.n_rows as i64,
            n_cols: ingested.columns.len() as i32,
            raw_bytes,
            parquet_bytes: ingested.parquet_bytes as i64,
            storage_key: key,
            columns: &columns,
            type_overrides: &overrides,
            profile,
            lineage_artifact_id: None,
            created_by: p.user_id.0,
        },
    )
    .await?;
    let artifact = lineage::record_artifact(
        &mut tx,
        domain::ProjectId(project),
        &lineage::NewArtifact {
            type_name: "dataset_version".into(),
            name: format!("{} v{number}", ds.name),
            uri: key.to_string(),
            content_hash: Some(format!("sha256:{hash}")),
            properties: json!({
                "dataset_id": ds.dataset_id,
                "dataset": ds.name,
                "version": number,
                "rows": ingested.n_rows,
                "source": input.source_kind.as_str(),
                // Where the bytes came from (path, URL, query, upload name), so a
                // lineage walk ends at the CSV rather than at a storage key.
                "source_detail": input.source_detail,
            }),
            external_id: Some(version_id.to_string()),
        },
    )
    .await?;
    db::datasets::set_version_lineage(&mut tx, version_id, artifact).await?;
    // Pipelines watching the dataset start, except the one whose step made this.
    crate::pipelines::dataset_version_created(&mut tx, &ds.name, number, crate::pipelines::acting_pipeline())
        .await?;
    audit::record(
        &mut *tx,
        p,
        "dataset.version.create",
        &format!("dataset:{}", ds.dataset_id),
        audit::Outcome::Ok,
        &format!("v{number} ({} rows, {})", ingested.n_rows, input.source_kind.as_str()),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(dataset.id = %ds.dataset_id, version = number, rows = ingested.n_rows, "created dataset version");
    let row = db::datasets::get_version(&st.db, ds.dataset_id, Some(number), None)
        .await?
        .ok_or_else(|| Error::not_found("dataset version", number))?;
    Ok(VersionCreated { created: true, version: row.into_dto() })
}

pub async fn versions(st: &AppState, p: &Principal, dataset: DatasetId) -> Result<Vec<DatasetVersion>> {
    authorize(p, Action::Read)?;
    get(st, p, dataset).await?;
    Ok(db::datasets::list_versions(&st.db, dataset).await?.into_iter().map(|r| r.into_dto()).collect())
}

pub(crate) async fn version_row(
    st: &AppState,
    dataset: DatasetId,
    version: i32,
) -> Result<db::datasets::VersionRow> {
    db::datasets::get_version(&st.db, dataset, Some(version), None)
        .await?
        .ok_or_else(|| Error::not_found("dataset version", format!("{dataset} v{version}")))
}

pub async fn version(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    version: i32,
) -> Result<DatasetVersion> {
    authorize(p, Action::Read)?;
    Ok(version_row(st, dataset, version).await?.into_dto())
}

/// A page of rows for the data preview.
pub async fn rows(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    version: i32,
    offset: u64,
    limit: u32,
) -> Result<RowPage> {
    authorize(p, Action::Read)?;
    let limit = limit.clamp(1, domain::datasets::MAX_PREVIEW_ROWS);
    let row = version_row(st, dataset, version).await?;
    let bytes = st.store.get(&row.storage_key).await?;
    let columns: Vec<ColumnInfo> = serde_json::from_value(row.columns.clone()).unwrap_or_default();
    let rows = tokio::task::spawn_blocking(move || read::rows(bytes, offset, limit as usize))
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("preview task failed: {e}")))??;
    Ok(RowPage { columns, rows, offset, limit, total: row.n_rows })
}

/// The stored Parquet bytes of a version.
pub async fn parquet(st: &AppState, p: &Principal, dataset: DatasetId, version: i32) -> Result<Bytes> {
    authorize(p, Action::Read)?;
    let row = version_row(st, dataset, version).await?;
    Ok(st.store.get(&row.storage_key).await?)
}

/// The profile computed when the version was stored.
pub async fn profile(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    version: i32,
) -> Result<DatasetProfile> {
    authorize(p, Action::Read)?;
    let row = version_row(st, dataset, version).await?;
    let json = db::datasets::version_profile(&st.db, row.dataset_version_id)
        .await?
        .ok_or_else(|| Error::not_found("dataset version", version))?;
    serde_json::from_value(json).map_err(|e| Error::Other(anyhow::anyhow!("stored profile unreadable: {e}")))
}
