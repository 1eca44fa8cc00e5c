//! The serving log: every sampled request and response, written to Postgres in
//! batches off the request path.
//!
//! ```text
//! predict path ──try_send──▶ bounded channel ──▶ flusher task (one per process)
//!   (no I/O; a full channel        groups by (endpoint, version, shadow); every
//!    drops and counts)             flush interval or N records: one row per group,
//!                                  columnar (Arrow IPC) + counts, latency histogram,
//!                                  per-feature summary ──▶ serving_log (by day)
//! ```
//!
//! Contract: at most once. A record is lost if the channel is full (counted in
//! `dropped`, exported as `cairn_serving_log_dropped_total`), if the process dies
//! before its flush (at most one flush interval of records), or if the insert
//! fails (counted in `failed`). A graceful shutdown drains the channel and flushes.

use super::engine::LoadedModel;
use crate::datasets::convert::arrow_type;
use crate::db::serving::{self as sql, NewLogRow};
use crate::{AppState, Error, Result};
use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use domain::{EndpointId, ModelVersionId};
use ml::frame::{ColumnData, Frame};
use ml::train::{BundleOutput, Predictions};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Upper edges (µs) of the latency buckets: 8 µs, then ×2^¼ per bucket up to ~60 s
/// (±9 % resolution). Shared by the log rows and the in-process histogram.
pub const LATENCY_BUCKETS: [u32; 93] = latency_buckets();

const fn latency_buckets() -> [u32; 93] {
    let mut out = [0u32; 93];
    let mut x = 8.0f64;
    let mut i = 0;
    while i < out.len() {
        out[i] = x as u32;
        x *= 1.189_207_115_002_721;
        i += 1;
    }
    out
}

/// The bucket holding a latency of `us` microseconds.
pub fn latency_bucket(us: u32) -> usize {
    LATENCY_BUCKETS.partition_point(|edge| *edge < us).min(LATENCY_BUCKETS.len() - 1)
}

#[derive(Clone, Debug)]
pub struct LogSettings {
    pub flush_interval: Duration,
    /// A group is flushed early when it holds this many requests...
    pub max_batch_requests: usize,
    /// ... or this many rows (large requests), so one insert stays small.
    pub max_batch_rows: usize,
    /// Records waiting for the flusher; beyond this, requests are not logged (counted).
    pub queue_capacity: usize,
    /// Days of log partitions the hourly cleanup keeps (0: keep forever).
    pub retention_days: u32,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            max_batch_requests: 20_000,
            max_batch_rows: 100_000,
            queue_capacity: 100_000,
            retention_days: 30,
        }
    }
}

/// One request (or its shadow copy) as the flusher receives it.
#[derive(Debug)]
pub struct LogRecord {
    pub endpoint_id: EndpointId,
    pub model: Arc<LoadedModel>,
    pub shadow: bool,
    pub request_id: String,
    pub received_at_us: i64,
    pub latency_us: u32,
    /// 200 for an answer; the HTTP status a refusal got otherwise.
    pub status: u16,
    pub error: Option<String>,
    pub input: Option<Arc<Frame>>,
    pub output: Option<Arc<BundleOutput>>,
}

/// What the log did in this process.
#[derive(Debug, Default)]
pub struct LogStats {
    pub queued: AtomicU64,
    /// Not logged: the channel was full (or no flusher runs).
    pub dropped: AtomicU64,
    pub written_requests: AtomicU64,
    pub written_batches: AtomicU64,
    /// Requests in batches whose insert failed.
    pub failed: AtomicU64,
}

/// The predict path's side of the channel.
#[derive(Debug)]
pub struct LogSink {
    tx: mpsc::Sender<LogRecord>,
    rx: Mutex<Option<mpsc::Receiver<LogRecord>>>,
    pub settings: LogSettings,
    pub stats: LogStats,
}

impl LogSink {
    pub fn new(settings: LogSettings) -> Self {
        let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
        Self { tx, rx: Mutex::new(Some(rx)), settings, stats: LogStats::default() }
    }

    /// Never waits: a full channel drops the record and counts it.
    pub fn send(&self, record: LogRecord) {
        match self.tx.try_send(record) {
            Ok(()) => self.stats.queued.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.stats.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<LogRecord>> {
        match self.rx.lock() {
            Ok(mut rx) => rx.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}

type GroupKey = (EndpointId, ModelVersionId, bool);

/// Starts the flusher; it returns after `stop` is cancelled and the channel drained.
/// `None` if this engine's flusher was started already.
pub fn start_flusher(st: &AppState, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    let rx = st.serving.logs.take_receiver()?;
    let st = st.clone();
    Some(tokio::spawn(async move { run_flusher(st, rx, stop).await }))
}

async fn run_flusher(st: AppState, mut rx: mpsc::Receiver<LogRecord>, stop: CancellationToken) {
    let settings = st.serving.logs.settings.clone();
    let mut groups: HashMap<GroupKey, Vec<LogRecord>> = HashMap::new();
    let mut rows: HashMap<GroupKey, usize> = HashMap::new();
    let mut partitions: HashSet<NaiveDate> = HashSet::new();
    let mut tick = tokio::time::interval(settings.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => {
                while let Ok(r) = rx.try_recv() {
                    groups.entry((r.endpoint_id, r.model.model_version_id, r.shadow)).or_default().push(r);
                }
                flush_all(&st, &mut groups, &mut partitions).await;
                return;
            }
            received = rx.recv() => {
                let Some(r) = received else {
                    flush_all(&st, &mut groups, &mut partitions).await;
                    return;
                };
                let key = (r.endpoint_id, r.model.model_version_id, r.shadow);
                let n = rows.entry(key).or_default();
                *n += r.input.as_ref().map_or(0, |f| f.n_rows());
                let group = groups.entry(key).or_default();
                group.push(r);
                if group.len() >= settings.max_batch_requests || *n >= settings.max_batch_rows {
                    let records = std::mem::take(group);
                    *n = 0;
                    flush(&st, records, &mut partitions).await;
                }
            }
            _ = tick.tick() => {
                rows.clear();
                flush_all(&st, &mut groups, &mut partitions).await;
            }
        }
    }
}

async fn flush_all(
    st: &AppState,
    groups: &mut HashMap<GroupKey, Vec<LogRecord>>,
    partitions: &mut HashSet<NaiveDate>,
) {
    for (_, records) in groups.drain() {
        if !records.is_empty() {
            flush(st, records, partitions).await;
        }
    }
}

async fn flush(st: &AppState, records: Vec<LogRecord>, partitions: &mut HashSet<NaiveDate>) {
    let n = records.len() as u64;
    let stats = &st.serving.logs.stats;
    match write(st, records, partitions).await {
        Ok(()) => {
            stats.written_requests.fetch_add(n, Ordering::Relaxed);
            stats.written_batches.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.failed.fetch_add(n, Ordering::Relaxed);
            tracing::error!(error = ?e, requests = n, "serving log: a batch could not be written and is lost");
        }
    }
}

async fn write(st: &AppState, records: Vec<LogRecord>, partitions: &mut HashSet<NaiveDate>) -> Result<()> {
    let encoded = if records.len() > 256 {
        tokio::task::spawn_blocking(move || encode(&records)).await.map_err(|e| Error::Other(e.into()))??
    } else {
        encode(&records)?
    };
    insert(st, &encoded, partitions).await
}

/// Inserts an encoded batch (creating its day's partition if needed): what the
/// flusher does, for callers that encode themselves (the benchmark).
pub async fn write_encoded(st: &AppState, encoded: &Encoded) -> Result<()> {
    insert(st, encoded, &mut HashSet::new()).await
}

async fn insert(st: &AppState, encoded: &Encoded, partitions: &mut HashSet<NaiveDate>) -> Result<()> {
    let today = encoded.started_at.date_naive();
    for day in [today, today.succ_opt().unwrap_or(today)] {
        if !partitions.contains(&day) {
            ensure_partition(&st.db, day).await?;
            partitions.insert(day);
        }
    }
    sql::insert_log(
        &st.db,
        &NewLogRow {
            endpoint_id: encoded.endpoint_id.0,
            model_version_id: encoded.model_version_id.0,
            shadow: encoded.shadow,
            started_at: encoded.started_at,
            ended_at: encoded.ended_at,
            requests: encoded.requests,
            errors: encoded.errors,
            row_count: encoded.rows,
            latency_hist: &encoded.latency_hist,
            latency_sum_us: encoded.latency_sum_us,
            request_data: &encoded.request_data,
            row_data: &encoded.row_data,
            summary: &encoded.summary,
        },
    )
    .await?;
    Ok(())
}

/// Creates a day's partition; another process creating it at the same moment is fine.
async fn ensure_partition(db: &sqlx::PgPool, day: NaiveDate) -> Result<()> {
    match sql::create_partition(db, day).await {
        Ok(()) => Ok(()),
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P07" | "23505")) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A batch ready to insert.
pub struct Encoded {
    pub endpoint_id: EndpointId,
    pub model_version_id: ModelVersionId,
    pub shadow: bool,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub requests: i32,
    pub errors: i32,
    pub rows: i32,
    pub latency_hist: Vec<i32>,
    pub latency_sum_us: i64,
    pub request_data: Vec<u8>,
    pub row_data: Vec<u8>,
    pub summary: Value,
}

fn ipc(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema())
        .map_err(|e| Error::Other(anyhow::anyhow!("serving log: {e}")))?;
    w.write(batch).map_err(|e| Error::Other(anyhow::anyhow!("serving log: {e}")))?;
    w.finish().map_err(|e| Error::Other(anyhow::anyhow!("serving log: {e}")))?;
    drop(w);
    Ok(out)
}

/// Reads one IPC stream back into its record batches.
pub fn decode(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| Error::Other(anyhow::anyhow!("serving log: unreadable batch: {e}")))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Other(anyhow::anyhow!("serving log: unreadable batch: {e}")))
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Other(anyhow::anyhow!("serving log: {e}"))
}

/// Encodes one group's records (same endpoint, version and shadow flag).
pub fn encode(records: &[LogRecord]) -> Result<Encoded> {
    let first = records.first().ok_or_else(|| err("an empty batch"))?;
    let model = &first.model;
    let to_time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
    let started = records.iter().map(|r| r.received_at_us).min().unwrap_or_default();
    let ended = records.iter().map(|r| r.received_at_us + i64::from(r.latency_us)).max().unwrap_or(started);

    // Requests.
    let mut hist = vec![0i32; LATENCY_BUCKETS.len()];
    let mut latency_sum = 0i64;
    let mut errors = 0;
    let mut row_counts = Vec::with_capacity(records.len());
    for r in records {
        hist[latency_bucket(r.latency_us)] += 1;
        latency_sum += i64::from(r.latency_us);
        if r.status >= 400 {
            errors += 1;
        }
        row_counts.push(r.input.as_ref().map_or(0, |f| f.n_rows() as i32));
    }
    let request_schema = Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("received_at_us", DataType::Int64, false),
        Field::new("latency_us", DataType::Int64, false),
        Field::new("status", DataType::Int32, false),
        Field::new("rows", DataType::Int32, false),
        Field::new("error", DataType::Utf8, true),
    ]));
    let request_batch = RecordBatch::try_new(
        request_schema,
        vec![
            Arc::new(StringArray::from_iter_values(records.iter().map(|r| r.request_id.as_str()))),
            Arc::new(Int64Array::from_iter_values(records.iter().map(|r| r.received_at_us))),
            Arc::new(Int64Array::from_iter_values(records.iter().map(|r| i64::from(r.latency_us)))),
            Arc::new(Int32Array::from_iter_values(records.iter().map(|r| i32::from(r.status)))),
            Arc::new(Int32Array::from(row_counts.clone())),
            Arc::new(StringArray::from_iter(records.iter().map(|r| r.error.as_deref()))),
        ],
    )
    .map_err(err)?;

    // Rows: which request, the features, the prediction.
    let total_rows: usize = row_counts.iter().map(|n| *n as usize).sum();
    let mut fields = vec![Field::new("request", DataType::Int32, false)];
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let request_index: Int32Array = row_counts
        .iter()
        .enumerate()
        .flat_map(|(i, n)| std::iter::repeat_n(i as i32, *n as usize))
        .collect::<Vec<_>>()
        .into();
    arrays.push(Arc::new(request_index));
    for (c, col) in model.inputs().iter().enumerate() {
        fields.push(Field::new(col.name.clone(), arrow_type(col.column_type), true));
        arrays.push(feature_array(records, c, col.column_type, total_rows)?);
    }
    let (pred_fields, pred_arrays) = prediction_arrays(records, model, total_rows);
    fields.extend(pred_fields);
    arrays.extend(pred_arrays);
    let row_batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(err)?;
    let summary = summarize(model, &row_batch, records.len(), errors);

    Ok(Encoded {
        endpoint_id: first.endpoint_id,
        model_version_id: model.model_version_id,
        shadow: first.shadow,
        started_at: to_time(started),
        ended_at: to_time(ended),
        requests: records.len() as i32,
        errors,
        rows: total_rows as i32,
        latency_hist: hist,
        latency_sum_us: latency_sum,
        request_data: ipc(&request_batch)?,
        row_data: ipc(&row_batch)?,
        summary,
    })
}

/// Column `c` of every record's input, concatenated.
fn feature_array(
    records: &[LogRecord],
    c: usize,
    t: domain::datasets::ColumnType,
    rows: usize,
) -> Result<ArrayRef> {
    let inputs =
        records.iter().filter_map(|r| r.input.as_ref()).map(|f| f.columns.get(c).map(|col| &col.data));
    let mismatch = || err("a logged frame does not match its model's signature");
    Ok(match t {
        domain::datasets::ColumnType::Float => {
            let mut b = Float64Builder::with_capacity(rows);
            for d in inputs {
                let Some(ColumnData::Float(v)) = d else { return Err(mismatch()) };
                b.extend(v.iter().copied());
            }
            Arc::new(b.finish())
        }
        domain::datasets::ColumnType::Int => {
            let mut b = Int64Builder::with_capacity(rows);
            for d in inputs {
                let Some(ColumnData::Int(v)) = d else { return Err(mismatch()) };
                b.extend(v.iter().copied());
            }
            Arc::new(b.finish())
        }
        domain::datasets::ColumnType::Bool => {
            let mut b = BooleanBuilder::with_capacity(rows);
            for d in inputs {
                let Some(ColumnData::Bool(v)) = d else { return Err(mismatch()) };
                b.extend(v.iter().copied());
            }
            Arc::new(b.finish())
        }
        domain::datasets::ColumnType::String => {
            let mut b = StringBuilder::with_capacity(rows, rows * 8);
            for d in inputs {
                let Some(ColumnData::Str(v)) = d else { return Err(mismatch()) };
                for s in v {
                    b.append_option(s.as_deref());
                }
            }
            Arc::new(b.finish())
        }
        domain::datasets::ColumnType::Timestamp => {
            let mut all = Vec::with_capacity(rows);
            for d in inputs {
                let Some(ColumnData::Timestamp(v)) = d else { return Err(mismatch()) };
                all.extend(v.iter().copied());
            }
            Arc::new(TimestampMicrosecondArray::from(all).with_timezone("+00:00"))
        }
    })
}

/// `prediction` (label, value or cluster) and, for classifiers, `proba_<class>`;
/// null for rows the preparation filtered out.
fn prediction_arrays(records: &[LogRecord], model: &LoadedModel, rows: usize) -> (Vec<Field>, Vec<ArrayRef>) {
    let classes = model.bundle.classes();
    let task = model.bundle.task;
    let mut labels = StringBuilder::with_capacity(rows, rows * 4);
    let mut values = Float64Builder::with_capacity(rows);
    let mut clusters = Int64Builder::with_capacity(rows);
    let mut proba: Vec<Float64Builder> =
        classes.iter().map(|_| Float64Builder::with_capacity(rows)).collect();
    for r in records {
        let n = r.input.as_ref().map_or(0, |f| f.n_rows());
        // Input row → prediction index (rows may have been filtered out).
        let mut at = vec![None; n];
        if let Some(out) = &r.output {
            for (j, &row) in out.rows.iter().enumerate() {
                if row < n {
                    at[row] = Some(j);
                }
            }
        }
        for slot in at {
            match (r.output.as_ref().map(|o| &o.predictions), slot) {
                (Some(Predictions::Classes { class, proba: p, classes: cs }), Some(j)) => {
                    labels.append_option(cs.get(class[j]).map(String::as_str));
                    let k = cs.len();
                    for (c, b) in proba.iter_mut().enumerate() {
                        b.append_option(p.get(j * k + c).copied());
                    }
                }
                (Some(Predictions::Values(v)), Some(j)) => values.append_option(v.get(j).copied()),
                (Some(Predictions::Clusters { cluster }), Some(j)) => {
                    clusters.append_option(cluster.get(j).map(|c| *c as i64))
                }
                _ => {
                    labels.append_null();
                    values.append_null();
                    clusters.append_null();
                    for b in proba.iter_mut() {
                        b.append_null();
                    }
                }
            }
        }
    }
    use domain::training::Task;
    match task {
        Task::Classification => {
            let mut fields = vec![Field::new("prediction", DataType::Utf8, true)];
            let mut arrays: Vec<ArrayRef> = vec![Arc::new(labels.finish())];
            for (c, mut b) in classes.iter().zip(proba) {
                fields.push(Field::new(format!("proba_{c}"), DataType::Float64, true));
                arrays.push(Arc::new(b.finish()));
            }
            (fields, arrays)
        }
        Task::Regression => {
            (vec![Field::new("prediction", DataType::Float64, true)], vec![Arc::new(values.finish())])
        }
        Task::Clustering => {
            (vec![Field::new("prediction", DataType::Int64, true)], vec![Arc::new(clusters.finish())])
        }
    }
}

/// Per-feature aggregates of one batch, for monitoring without decoding it:
/// numeric: count, missing, min, max, mean and counts on the training histogram's
/// bins (`below`/`above` outside them); text and booleans: value counts (at most 50).
fn summarize(model: &LoadedModel, rows: &RecordBatch, requests: usize, errors: i32) -> Value {
    let mut features = Map::new();
    for (field, array) in rows.schema().fields().iter().zip(rows.columns()).skip(1) {
        let name = field.name();
        let summary = match field.data_type() {
            DataType::Float64 | DataType::Int64 => {
                let values: Vec<f64> = match field.data_type() {
                    DataType::Float64 => {
                        array.as_primitive::<Float64Type>().iter().flatten().filter(|v| !v.is_nan()).collect()
                    }
                    _ => array.as_primitive::<Int64Type>().iter().flatten().map(|v| v as f64).collect(),
                };
                numeric_summary(&values, array.len(), model.edges.get(name.as_str()))
            }
            DataType::Utf8 | DataType::Boolean => {
                let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                let texts: Vec<Option<String>> = match field.data_type() {
                    DataType::Utf8 => {
                        array.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
                    }
                    _ => array.as_boolean().iter().map(|v| v.map(|b| b.to_string())).collect(),
                };
                let missing = texts.iter().filter(|t| t.is_none()).count();
                for t in texts.into_iter().flatten() {
                    if counts.len() < 50 || counts.contains_key(&t) {
                        *counts.entry(t).or_default() += 1;
                    }
                }
                json!({"count": array.len(), "missing": missing, "values": counts})
            }
            _ => json!({"count": array.len(), "missing": array.null_count()}),
        };
        features.insert(name.clone(), summary);
    }
    json!({"requests": requests, "errors": errors, "columns": features})
}

fn numeric_summary(values: &[f64], count: usize, edges: Option<&Vec<f64>>) -> Value {
    let missing = count - values.len();
    if values.is_empty() {
        return json!({"count": count, "missing": missing});
    }
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for &v in values {
        min = min.min(v);
        max = max.max(v);
        sum += v;
    }
    let mut out = json!({"count": count, "missing": missing, "min": min, "max": max, "mean": sum / values.len() as f64});
    if let Some(edges) = edges.filter(|e| e.len() >= 2) {
        let bins = edges.len() - 1;
        let (mut hist, mut below, mut above) = (vec![0u64; bins], 0u64, 0u64);
        for &v in values {
            if v < edges[0] {
                below += 1;
            } else if v > edges[bins] {
                above += 1;
            } else {
                let i = edges.partition_point(|e| *e <= v).saturating_sub(1).min(bins - 1);
                hist[i] += 1;
            }
        }
        out["hist"] = json!({"edges": edges, "counts": hist, "below": below, "above": above});
    }
    out
}

// ---------------------------------------------------------------------------
// Reading the log back.

/// One flush batch of a window: requests and their rows, columnar.
#[derive(Debug)]
pub struct WindowBatch {
    pub model_version_id: ModelVersionId,
    pub shadow: bool,
    pub started_at: DateTime<Utc>,
    /// request_id, received_at_us, latency_us, status, rows, error.
    pub requests: RecordBatch,
    /// request, one column per signature input, prediction (+ proba_<class>).
    pub rows: RecordBatch,
}

/// Logged requests of one endpoint in a time window, columnar, oldest batch first.
#[derive(Debug, Default)]
pub struct Window {
    pub batches: Vec<WindowBatch>,
}

impl Window {
    pub fn requests(&self) -> usize {
        self.batches.iter().map(|b| b.requests.num_rows()).sum()
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.rows.num_rows()).sum()
    }

    /// The rows of one version (non-shadow or shadow) as one record batch per flush.
    pub fn rows_of(&self, model_version_id: ModelVersionId, shadow: bool) -> Vec<&RecordBatch> {
        self.batches
            .iter()
            .filter(|b| b.model_version_id == model_version_id && b.shadow == shadow)
            .map(|b| &b.rows)
            .collect()
    }
}

/// The requests logged for an endpoint in `[from, to)` (by batch start), for
/// monitoring: one indexed range scan of the day partitions, Arrow IPC decoded
/// without parsing values.
pub async fn read_window(
    st: &AppState,
    endpoint_id: EndpointId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Window> {
    let rows = sql::log_window(&st.db, endpoint_id.0, from, to).await?;
    tokio::task::spawn_blocking(move || {
        let mut batches = Vec::with_capacity(rows.len());
        for r in rows {
            batches.push(WindowBatch {
                model_version_id: ModelVersionId(r.model_version_id),
                shadow: r.shadow,
                started_at: r.started_at,
                requests: one_batch(&r.request_data)?,
                rows: one_batch(&r.row_data)?,
            });
        }
        Ok(Window { batches })
    })
    .await
    .map_err(|e| Error::Other(e.into()))?
}

fn one_batch(bytes: &[u8]) -> Result<RecordBatch> {
    let batches = decode(bytes)?;
    match batches.len() {
        1 => batches.into_iter().next().ok_or_else(|| err("an empty stream")),
        _ => {
            let schema = batches.first().map(|b| b.schema()).ok_or_else(|| err("an empty stream"))?;
            arrow_select_concat(&schema, &batches)
        }
    }
}

fn arrow_select_concat(schema: &Arc<Schema>, batches: &[RecordBatch]) -> Result<RecordBatch> {
    arrow_select::concat::concat_batches(schema, batches).map_err(err)
}

/// A cell of a logged column as JSON (timestamps as RFC 3339).
pub fn cell_json(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Float64 => json!(array.as_primitive::<Float64Type>().value(i)),
        DataType::Int64 => json!(array.as_primitive::<Int64Type>().value(i)),
        DataType::Int32 => json!(array.as_primitive::<Int32Type>().value(i)),
        DataType::Boolean => json!(array.as_boolean().value(i)),
        DataType::Utf8 => json!(array.as_string::<i32>().value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let us = array.as_primitive::<TimestampMicrosecondType>().value(i);
            DateTime::from_timestamp_micros(us).map_or(json!(us), |t| json!(t.to_rfc3339()))
        }
        _ => Value::Null,
    }
}

/// Drops the log partitions of days older than the retention; returns the days dropped.
pub async fn apply_retention(st: &AppState, today: NaiveDate) -> Result<Vec<NaiveDate>> {
    let keep = st.serving.logs.settings.retention_days;
    if keep == 0 {
        return Ok(Vec::new());
    }
    let oldest_kept = today - chrono::Days::new(u64::from(keep));
    let mut dropped = Vec::new();
    for day in sql::partition_days(&st.db).await? {
        if day < oldest_kept {
            sql::drop_partition(&st.db, day).await?;
            dropped.push(day);
        }
    }
    dropped.sort();
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_grow_and_find_their_values() {
        assert_eq!(LATENCY_BUCKETS[0], 8);
        assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!(*LATENCY_BUCKETS.last().unwrap() > 60_000_000);
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(8), 0);
        assert_eq!(latency_bucket(9), 1);
        let i = latency_bucket(1000);
        assert!(LATENCY_BUCKETS[i] >= 1000 && LATENCY_BUCKETS[i - 1] < 1000);
        assert_eq!(latency_bucket(u32::MAX), LATENCY_BUCKETS.len() - 1);
    }

    #[test]
    fn numeric_summaries_bin_on_training_edges() {
        let s = numeric_summary(&[0.5, 1.5, 1.5, 3.0, -1.0], 6, Some(&vec![0.0, 1.0, 2.0, 3.0]));
        assert_eq!(s["missing"], 1);
        assert_eq!(s["hist"]["counts"], json!([1, 2, 1]));
        assert_eq!(s["hist"]["below"], 1);
        assert_eq!(s["min"], -1.0);
    }
}
