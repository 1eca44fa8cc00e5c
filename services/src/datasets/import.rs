//! Versions from somewhere other than an upload: a registered SQL source, a file on
//! the server, or a URL. Each one ends in [`super::create_version`], so ingest,
//! profiling, content hashing, dedup, lineage and audit stay in one place.
//!
//! - **SQL** ([`from_sql`]): the query's record batches are written to a temp Parquet
//!   file with fixed writer settings (no timestamps, a constant `created_by`), so the
//!   same rows give the same bytes and therefore the same version: re-running a query
//!   over unchanged data returns the existing version (`created: false`).
//! - **Path** ([`from_path`]): only under `CAIRN_DATA_PATH_ALLOW`, checked on the
//!   canonical path, so `..` and symlinks cannot leave the allowed directories.
//! - **URL** ([`from_url`]): only under `CAIRN_DATA_URL_ALLOW`; redirects are followed
//!   only while they stay under it, and the body is streamed with the upload limit.

mod allow;

pub use allow::{PATH_ALLOW_SETTING, PathAllowList, URL_ALLOW_SETTING, UrlAllowList};
use futures::StreamExt;

use super::{Spooled, VersionInput, create_version, spool};
use crate::auth::{Action, Principal, authorize};
use crate::sql_source::{self, QueryStream};
use crate::{AppState, Error, Result};
use bytes::Bytes;
use domain::datasets::{ColumnType, FileFormat, SourceKind, VersionCreated};
use domain::{DataSourceId, DatasetId, ValidationError};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default of `CAIRN_DATA_URL_TIMEOUT_S`: the whole download, headers to last byte.
pub const DEFAULT_URL_TIMEOUT: Duration = Duration::from_secs(600);

/// The operator's settings for imports (`CAIRN_DATA_*`). The default allows no paths
/// and no URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportSettings {
    /// Directories files may be imported from.
    pub paths: PathAllowList,
    /// URL prefixes that may be fetched.
    pub urls: UrlAllowList,
    /// The largest file a path or URL import may read (the upload limit,
    /// `CAIRN_MAX_UPLOAD_BYTES`).
    pub max_bytes: u64,
    /// How long a URL download may take in all.
    pub url_timeout: Duration,
}

impl Default for ImportSettings {
    fn default() -> Self {
        Self {
            paths: PathAllowList::default(),
            urls: UrlAllowList::default(),
            max_bytes: 2 << 30,
            url_timeout: DEFAULT_URL_TIMEOUT,
        }
    }
}

/// A registered source by id or, failing that, by name (the API accepts either).
/// A name used in several projects is ambiguous and must be given as an id.
/// A version from whichever source the request names (exactly one of SQL, path,
/// URL), with its type overrides: what the REST endpoint and the dashboard call.
pub async fn run(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    req: &domain::imports::ImportRequest,
) -> Result<VersionCreated> {
    use domain::imports::ImportSource;
    let source = req.source()?;
    let overrides = domain::datasets::parse_type_overrides(req.types.as_deref().unwrap_or(""))?;
    match source {
        ImportSource::Sql { source, query } => {
            let s = resolve_source(st, p, source).await?;
            from_sql(st, p, dataset, s.data_source_id, query, overrides).await
        }
        ImportSource::Path(path) => from_path(st, p, dataset, path, overrides).await,
        ImportSource::Url(url) => from_url(st, p, dataset, url, overrides).await,
    }
}

pub async fn resolve_source(
    st: &AppState,
    p: &Principal,
    id_or_name: &str,
) -> Result<sql_source::DataSourceInfo> {
    if let Ok(id) = id_or_name.parse::<DataSourceId>() {
        return sql_source::get(st, p, id).await;
    }
    let mut found: Vec<_> = sql_source::list(st, p, None)
        .await?
        .into_iter()
        .filter(|s| s.name.eq_ignore_ascii_case(id_or_name))
        .collect();
    match found.len() {
        0 => Err(Error::not_found("data source", id_or_name)),
        1 => Ok(found.remove(0)),
        n => Err(ValidationError::new(
            "source",
            format!("{n} projects have a data source named '{id_or_name}'; give its id instead"),
        )
        .into()),
    }
}

/// A version from the rows `sql` returns on source `source` (editor and up). The
/// query runs read-only under the operator's limits (`CAIRN_SQL_SOURCE_*`) and is
/// audited by [`sql_source::run_query`]; a query that fails leaves nothing stored.
#[tracing::instrument(skip_all, fields(dataset.id = %dataset, data_source.id = %source))]
pub async fn from_sql(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    source: DataSourceId,
    sql: &str,
    overrides: BTreeMap<String, ColumnType>,
) -> Result<VersionCreated> {
    authorize(p, Action::Write)?;
    // A missing dataset is a 404 before the source spends anything on the query.
    super::get(st, p, dataset).await?;
    let info = sql_source::get(st, p, source).await?;
    let stream = sql_source::run_query(st, p, source, sql, st.sql_sources.default_limits()).await?;
    let (spooled, rows) = write_parquet(stream).await?;
    if rows == 0 {
        return Err(ValidationError::new(
            "sql",
            "the query returned no rows; a dataset version needs at least one",
        )
        .into());
    }
    let input = VersionInput {
        format: Some(FileFormat::Parquet),
        file_name: None,
        overrides,
        source_kind: SourceKind::Sql,
        source_detail: json!({ "source": info.name, "source_id": info.data_source_id, "query": sql }),
    };
    create_version(st, p, dataset, spooled, input).await
}

/// Fixed writer settings: the same batches always give the same bytes. The default
/// `created_by` names the parquet crate's version, which would change the hash of
/// unchanged data on every upgrade of the crate.
fn deterministic_props() -> WriterProperties {
    deterministic_props_by("cairn sql import")
}

/// [`deterministic_props`] with another constant `created_by` (each writer of
/// versions names itself; changing a name changes the hashes it produces).
fn deterministic_props_by(created_by: &str) -> WriterProperties {
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_created_by(created_by.to_string())
        .build()
}

/// Writes batches computed in memory (e.g. prepared splits) to a temp Parquet file
/// with fixed writer settings, so the same batches give the same bytes and hence
/// the same version. Blocking: call it on the blocking pool.
pub(crate) fn write_batches_blocking(
    schema: arrow_schema::SchemaRef,
    batches: &[arrow_array::RecordBatch],
    created_by: &str,
) -> Result<Spooled> {
    let file = tempfile::NamedTempFile::new().map_err(anyhow::Error::from)?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(deterministic_props_by(created_by)))
        .map_err(|e| anyhow::anyhow!("starting a Parquet file: {e}"))?;
    for batch in batches {
        writer.write(batch).map_err(|e| anyhow::anyhow!("writing a Parquet file: {e}"))?;
    }
    let file = writer.into_inner().map_err(|e| anyhow::anyhow!("finishing a Parquet file: {e}"))?;
    hash_file(file)
}

/// Streams the query's batches into a temp Parquet file (each batch written on the
/// blocking pool), then hashes it as [`spool`] would have. Returns the file and the
/// row count.
async fn write_parquet(mut stream: QueryStream) -> Result<(Spooled, u64)> {
    let file = tempfile::NamedTempFile::new().map_err(anyhow::Error::from)?;
    let mut writer = ArrowWriter::try_new(file, stream.schema(), Some(deterministic_props()))
        .map_err(|e| anyhow::anyhow!("starting the Parquet copy of the query result: {e}"))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next_batch().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer = blocking(move || {
            writer.write(&batch).map_err(|e| anyhow::anyhow!("writing the query result as Parquet: {e}"))?;
            Ok(writer)
        })
        .await?;
    }
    let spooled = blocking(move || {
        let file = writer.into_inner().map_err(|e| anyhow::anyhow!("finishing the Parquet copy: {e}"))?;
        hash_file(file)
    })
    .await?;
    Ok((spooled, rows))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("import task failed: {e}")))?
}

/// A finished temp file as a [`Spooled`]: its hash, size and first bytes.
fn hash_file(file: tempfile::NamedTempFile) -> Result<Spooled> {
    let mut reader = std::io::BufReader::new(file.reopen().map_err(anyhow::Error::from)?);
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(8);
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(anyhow::Error::from)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else { break };
        if head.len() < 8 {
            head.extend(chunk.iter().take(8 - head.len()));
        }
        hasher.update(chunk);
        total += n as u64;
    }
    Ok(Spooled { file, sha256: hex::encode(hasher.finalize()), bytes: total, head })
}

fn not_allowed(field: &str, what: &str, setting: &str, list_empty: bool) -> Error {
    let message = if list_empty {
        format!(
            "imports from {what} are switched off on this server; an operator can allow some with {setting}"
        )
    } else {
        format!("this {what} is not under {setting}; ask an operator to allow it or upload the file instead")
    };
    Error::Validation(ValidationError::new(field, message))
}

/// Where `path` really is, if the allow-list admits it: canonical (symlinks and `..`
/// resolved) and a regular file. A missing file is reported as missing only when the
/// path would have been allowed, so the answer reveals nothing outside the list.
fn check_path(allow: &PathAllowList, path: &str) -> Result<PathBuf> {
    let field = "path";
    if allow.is_empty() {
        return Err(not_allowed(field, "server paths", PATH_ALLOW_SETTING, true));
    }
    let requested = Path::new(path);
    if !requested.is_absolute() {
        return Err(ValidationError::new(field, format!("`{path}` is not an absolute path")).into());
    }
    let resolved = match std::fs::canonicalize(requested) {
        Ok(r) => r,
        Err(e) if allow.allows_lexically(requested) => {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("there is no file at {path}")
            } else {
                format!("{path} cannot be read: {e}")
            };
            return Err(ValidationError::new(field, message).into());
        }
        Err(_) => return Err(not_allowed(field, "path", PATH_ALLOW_SETTING, false)),
    };
    if !allow.allows(&resolved) {
        return Err(not_allowed(field, "path", PATH_ALLOW_SETTING, false));
    }
    let meta = std::fs::metadata(&resolved)
        .map_err(|e| ValidationError::new(field, format!("{path} cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(ValidationError::new(field, format!("{path} is not a regular file")).into());
    }
    Ok(resolved)
}

/// A version from a file on the Cairn server (editor and up), under
/// `CAIRN_DATA_PATH_ALLOW`. The file is copied to a spool file first (streamed,
/// with the upload limit), so a file changing during the import cannot produce a
/// version whose hash does not match its content.
///
/// The check is on the canonical path and the canonical path is what is opened;
/// whoever can write inside an allowed directory could still swap in a symlink
/// between the two, so allow only directories that untrusted users cannot write to.
#[tracing::instrument(skip_all, fields(dataset.id = %dataset))]
pub async fn from_path(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    path: &str,
    overrides: BTreeMap<String, ColumnType>,
) -> Result<VersionCreated> {
    authorize(p, Action::Write)?;
    super::get(st, p, dataset).await?;
    let allow = st.imports.paths.clone();
    let owned = path.to_string();
    let resolved = blocking(move || check_path(&allow, &owned)).await?;
    let file = tokio::fs::File::open(&resolved)
        .await
        .map_err(|e| ValidationError::new("path", format!("{path} cannot be read: {e}")))?;
    let chunks = file_chunks(file).map(|c| {
        c.map_err(|e| {
            Error::Validation(ValidationError::new("path", format!("reading the file failed: {e}")))
        })
    });
    let spooled = spool(chunks, st.imports.max_bytes).await?;
    let file_name = resolved.file_name().map(|n| n.to_string_lossy().into_owned());
    let input = VersionInput {
        format: None,
        file_name,
        overrides,
        source_kind: SourceKind::Path,
        source_detail: json!({ "path": resolved.display().to_string() }),
    };
    create_version(st, p, dataset, spooled, input).await
}

/// A file's bytes as a stream of chunks, for [`spool`].
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Unpin + Send + 'static {
    use tokio::io::AsyncReadExt;
    Box::pin(futures::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 1 << 16];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), f)))
    }))
}

/// `url` parsed and checked against the allow-list.
fn check_url(allow: &UrlAllowList, raw: &str) -> Result<url::Url> {
    let field = "url";
    if allow.is_empty() {
        return Err(not_allowed(field, "URLs", URL_ALLOW_SETTING, true));
    }
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ValidationError::new(field, format!("`{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ValidationError::new(field, "only http:// and https:// URLs can be imported").into());
    }
    if !allow.allows(&url) {
        return Err(not_allowed(field, "URL", URL_ALLOW_SETTING, false));
    }
    Ok(url)
}

/// A version from a file at an http(s) URL (editor and up), under
/// `CAIRN_DATA_URL_ALLOW`. Redirects are followed (up to 5) only while they stay
/// under the allow-list. The format comes from the URL's last path segment (`.csv`,
/// `.csv.gz`, `.parquet`), else from the bytes.
#[tracing::instrument(skip_all, fields(dataset.id = %dataset))]
pub async fn from_url(
    st: &AppState,
    p: &Principal,
    dataset: DatasetId,
    url: &str,
    overrides: BTreeMap<String, ColumnType>,
) -> Result<VersionCreated> {
    authorize(p, Action::Write)?;
    super::get(st, p, dataset).await?;
    let settings = st.imports.clone();
    let url = check_url(&settings.urls, url)?;
    let fail = |message: String| Error::Validation(ValidationError::new("url", message));
    let redirect_allow = settings.urls.clone();
    let client = reqwest::Client::builder()
        .timeout(settings.url_timeout)
        .connect_timeout(Duration::from_secs(10).min(settings.url_timeout))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if redirect_allow.allows(attempt.url()) {
                attempt.follow()
            } else {
                let to = attempt.url().to_string();
                attempt.error(format!("it redirects to {to}, which is not under {URL_ALLOW_SETTING}"))
            }
        }))
        .build()
        .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
    let resp = client.get(url.clone()).send().await.map_err(|e| fail(describe_reqwest(&url, &e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("GET {url} answered {status}; check the URL")));
    }
    if let Some(len) = resp.content_length().filter(|&n| n > settings.max_bytes) {
        return Err(Error::TooLarge(format!(
            "the file at {url} is {len} bytes, larger than the upload limit of {} bytes (CAIRN_MAX_UPLOAD_BYTES)",
            settings.max_bytes
        )));
    }
    let chunks = Box::pin(futures::stream::try_unfold(resp, |mut r| async move {
        Ok::<_, reqwest::Error>(r.chunk().await?.map(|c| (c, r)))
    }));
    let chunks = chunks.map(|c| {
        c.map_err(|e| {
            Error::Validation(ValidationError::new("url", format!("the download was interrupted: {e}")))
        })
    });
    let spooled = spool(chunks, settings.max_bytes).await?;
    let file_name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned());
    let input = VersionInput {
        format: None,
        file_name,
        overrides,
        source_kind: SourceKind::Url,
        source_detail: json!({ "url": url.as_str() }),
    };
    create_version(st, p, dataset, spooled, input).await
}

/// reqwest's error with its causes (the redirect refusal is a cause), on one line.
fn describe_reqwest(url: &url::Url, e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    let why = if e.is_timeout() {
        "it did not answer in time".to_string()
    } else if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    };
    format!("could not fetch {url}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_list_are_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("in");
        std::fs::create_dir(&inside).unwrap();
        std::fs::write(inside.join("a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("secret.csv"), "x\n1\n").unwrap();
        let allow: PathAllowList = inside.display().to_string().parse().unwrap();

        let ok = check_path(&allow, &inside.join("a.csv").display().to_string()).unwrap();
        assert!(ok.ends_with("in/a.csv"));
        let msg = |r: Result<PathBuf>| match r {
            Err(Error::Validation(v)) => v.message,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let escape = format!("{}/../secret.csv", inside.display());
        assert!(msg(check_path(&allow, &escape)).contains(PATH_ALLOW_SETTING));
        let missing_inside = inside.join("nope.csv").display().to_string();
        assert!(msg(check_path(&allow, &missing_inside)).contains("there is no file"));
        // Outside the list, a missing file is "not allowed", not "missing".
        assert!(msg(check_path(&allow, "/nonexistent/x.csv")).contains(PATH_ALLOW_SETTING));
        assert!(msg(check_path(&allow, "in/a.csv")).contains("absolute"));
        assert!(msg(check_path(&allow, &inside.display().to_string())).contains("not a regular file"));
        let off = msg(check_path(&PathAllowList::default(), &inside.join("a.csv").display().to_string()));
        assert!(off.contains("switched off") && off.contains(PATH_ALLOW_SETTING), "{off}");

        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.csv"), inside.join("link.csv")).unwrap();
            let link = inside.join("link.csv").display().to_string();
            assert!(msg(check_path(&allow, &link)).contains(PATH_ALLOW_SETTING));
        }
    }

    #[test]
    fn urls_must_be_http_and_allowed() {
        let allow: UrlAllowList = "https://data.example.com/".parse().unwrap();
        assert!(check_url(&allow, "https://data.example.com/a.csv").is_ok());
        let err = |u: &str, l: &UrlAllowList| match check_url(l, u) {
            Err(Error::Validation(v)) => v.message,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert!(err("https://elsewhere.example.com/a.csv", &allow).contains(URL_ALLOW_SETTING));
        assert!(err("file:///etc/passwd", &allow).contains("http"));
        assert!(err("not a url", &allow).contains("not a URL"));
        assert!(err("https://data.example.com/a.csv", &UrlAllowList::default()).contains("switched off"));
    }

    #[test]
    fn the_same_batches_give_the_same_parquet_bytes() {
        use arrow_array::{Int64Array, RecordBatch, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(StringArray::from(vec!["x", "y", "z"]))],
        )
        .unwrap();
        let write = || {
            let mut w =
                ArrowWriter::try_new(Vec::new(), schema.clone(), Some(deterministic_props())).unwrap();
            w.write(&batch).unwrap();
            w.into_inner().unwrap()
        };
        let (a, b) = (write(), write());
        assert_eq!(a, b);
        assert!(a.starts_with(b"PAR1"));
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("cairn sql import") && !text.contains("parquet-rs"));
    }
}
