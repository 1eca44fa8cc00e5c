//! The in-process table of loaded endpoints, and how it follows the database.
//!
//! The table is immutable and swapped whole (`RwLock<Arc<Table>>`: a request clones
//! the `Arc` and never holds the lock while predicting). A refresher polls one
//! counter (`serving_generation`, bumped by triggers on endpoints, routes, aliases
//! and versions) and, when it moved, reads the resolved routes, loads the bundles it
//! does not have yet *before* building and swapping in the new table. So a
//! promotion (an alias moved) switches every new request to the new version at one
//! instant, and requests already running finish on the version they started with.
//! Versions are immutable, so loaded bundles are kept by version id and reused.

use super::input::{Columns, Scalar};
use super::logs::LATENCY_BUCKETS;
use crate::db::serving::{self as sql, ConfigRow};
use crate::{AppState, Error, Result};
use domain::datasets::ColumnType;
use domain::prepare::{FittedStep, UnknownCategory};
use domain::training::SignatureColumn;
use domain::{EndpointId, ModelVersionId, ValidationError};
use ml::frame::{Column, ColumnData, Frame};
use ml::train::{Bundle, BundleOutput};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A model version ready to predict, with what validating an input needs.
#[derive(Debug)]
pub struct LoadedModel {
    pub model_version_id: ModelVersionId,
    pub version: i32,
    pub model_name: String,
    pub bundle: Bundle,
    /// Signature inputs by name.
    index: HashMap<String, usize>,
    /// Columns an `ordinal` step encodes with `unknown: error`: their known categories.
    strict_categories: HashMap<String, HashSet<String>>,
    /// Numeric inputs' training-histogram edges (the log's per-batch histograms).
    pub edges: HashMap<String, Vec<f64>>,
}

impl LoadedModel {
    pub fn new(model_version_id: ModelVersionId, version: i32, model_name: String, bundle: Bundle) -> Self {
        let index = bundle.signature.inputs.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        let mut strict_categories = HashMap::new();
        for step in &bundle.transform.steps {
            if let FittedStep::Ordinal { columns, unknown: UnknownCategory::Error } = step {
                for c in columns {
                    strict_categories.insert(c.column.clone(), c.categories.iter().cloned().collect());
                }
            }
        }
        let mut edges = HashMap::new();
        for c in &bundle.profile.columns {
            if let domain::profile::ColumnStats::Numeric(n) = &c.stats
                && let Some(h) = &n.histogram
            {
                edges.insert(c.name.clone(), h.edges.clone());
            }
        }
        Self { model_version_id, version, model_name, bundle, index, strict_categories, edges }
    }

    pub fn inputs(&self) -> &[SignatureColumn] {
        &self.bundle.signature.inputs
    }

    /// Checks the columns against the signature and builds the frame to predict on,
    /// in signature order. Refusals name the feature and the row.
    pub fn frame(&self, input: Columns) -> Result<Frame> {
        let inputs = self.inputs();
        let mut slots: Vec<Option<Vec<Scalar>>> = vec![None; inputs.len()];
        for (name, values) in input.columns {
            match self.index.get(&name) {
                Some(&i) => slots[i] = Some(values),
                None => return Err(self.unknown_feature(&name)),
            }
        }
        let mut columns = Vec::with_capacity(inputs.len());
        for (col, values) in inputs.iter().zip(slots) {
            let Some(values) = values else {
                return Err(ValidationError::new(
                    col.name.clone(),
                    format!(
                        "missing feature `{}` ({}); the model takes: {}",
                        col.name,
                        col.column_type,
                        self.describe_inputs()
                    ),
                )
                .into());
            };
            let data = convert(col, values)?;
            if let (Some(known), ColumnData::Str(v)) = (self.strict_categories.get(&col.name), &data) {
                for (row, s) in v.iter().enumerate() {
                    if let Some(s) = s
                        && !known.contains(s)
                    {
                        let mut list: Vec<&String> = known.iter().collect();
                        list.sort();
                        return Err(ValidationError::new(
                            col.name.clone(),
                            format!(
                                "`{}` on row {}: category \"{s}\" was never seen in training; the model knows: {}",
                                col.name,
                                row + 1,
                                list.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        )
                        .into());
                    }
                }
            }
            columns.push(Column::new(col.name.clone(), data));
        }
        Ok(Frame { columns })
    }

    fn unknown_feature(&self, name: &str) -> Error {
        let why = if self.bundle.transform.target.as_deref() == Some(name) {
            format!("`{name}` is what the model predicts (its target), not an input: remove it")
        } else {
            format!("unknown feature `{name}`; the model takes: {}", self.describe_inputs())
        };
        ValidationError::new(name, why).into()
    }

    fn describe_inputs(&self) -> String {
        self.inputs().iter().map(|c| format!("{} ({})", c.name, c.column_type)).collect::<Vec<_>>().join(", ")
    }

    /// Runs the bundle (its preparation, then the model). The input was validated, so
    /// a failure here is still about the values (a log of a negative number, ...).
    pub fn predict(&self, frame: &Frame) -> Result<BundleOutput> {
        self.bundle.predict(frame).map_err(|e| ValidationError::new("input", e.to_string()).into())
    }
}

/// Converts one feature's values to the signature's type.
fn convert(col: &SignatureColumn, values: Vec<Scalar>) -> Result<ColumnData> {
    let name = &col.name;
    let wrong = |row: usize, v: &Scalar, want: &str| -> Error {
        ValidationError::new(
            name.clone(),
            format!("`{name}` on row {}: expected {want}, got {} ({})", row + 1, v.kind(), v.show()),
        )
        .into()
    };
    let missing = |row: usize| -> Error {
        ValidationError::new(
            name.clone(),
            format!(
                "`{name}` is missing (null or NaN) on row {}, but the model was trained without missing values in it: send a value",
                row + 1
            ),
        )
        .into()
    };
    let check_missing = |row: usize, is_missing: bool| -> Result<()> {
        if is_missing && !col.nullable { Err(missing(row)) } else { Ok(()) }
    };
    Ok(match col.column_type {
        ColumnType::Float => {
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                let x = match v {
                    Scalar::Float(f) if f.is_nan() => None,
                    Scalar::Float(f) => Some(*f),
                    Scalar::Int(i) => Some(*i as f64),
                    Scalar::Null => None,
                    Scalar::Str(s) if s.eq_ignore_ascii_case("nan") => None,
                    other => return Err(wrong(row, other, "a number")),
                };
                check_missing(row, x.is_none())?;
                out.push(x);
            }
            ColumnData::Float(out)
        }
        ColumnType::Int => {
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                let x = match v {
                    Scalar::Int(i) => Some(*i),
                    Scalar::Float(f) if f.is_nan() => None,
                    Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
                    Scalar::Null => None,
                    other => return Err(wrong(row, other, "an integer")),
                };
                check_missing(row, x.is_none())?;
                out.push(x);
            }
            ColumnData::Int(out)
        }
        ColumnType::Bool => {
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                let x = match v {
                    Scalar::Bool(b) => Some(*b),
                    Scalar::Int(0) => Some(false),
                    Scalar::Int(1) => Some(true),
                    Scalar::Null => None,
                    other => return Err(wrong(row, other, "true or false")),
                };
                check_missing(row, x.is_none())?;
                out.push(x);
            }
            ColumnData::Bool(out)
        }
        ColumnType::String => {
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.into_iter().enumerate() {
                let x = match v {
                    Scalar::Str(s) => Some(s),
                    Scalar::Null => None,
                    other => return Err(wrong(row, &other, "a string")),
                };
                check_missing(row, x.is_none())?;
                out.push(x);
            }
            ColumnData::Str(out)
        }
        ColumnType::Timestamp => {
            let mut out = Vec::with_capacity(values.len());
            for (row, v) in values.iter().enumerate() {
                let x = match v {
                    Scalar::Int(us) => Some(*us),
                    Scalar::Str(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                        Ok(t) => Some(t.timestamp_micros()),
                        Err(_) => return Err(wrong(row, v, "an RFC 3339 time or microseconds since 1970")),
                    },
                    Scalar::Null => None,
                    other => return Err(wrong(row, other, "an RFC 3339 time or microseconds since 1970")),
                };
                check_missing(row, x.is_none())?;
                out.push(x);
            }
            ColumnData::Timestamp(out)
        }
    })
}

/// A route as loaded: the version it serves now, or why it cannot.
#[derive(Debug)]
pub struct LoadedRoute {
    pub alias: Option<String>,
    pub pinned: bool,
    pub version: Option<i32>,
    pub model_version_id: Option<ModelVersionId>,
    pub traffic_percent: u8,
    pub shadow: bool,
    pub model: std::result::Result<Arc<LoadedModel>, String>,
}

impl LoadedRoute {
    /// `@production (v3)` or `v3`, for messages.
    pub fn describe(&self) -> String {
        match (&self.alias, self.version) {
            (Some(a), Some(v)) => format!("@{a} (v{v})"),
            (Some(a), None) => format!("@{a}"),
            (None, Some(v)) => format!("v{v}"),
            (None, None) => "?".into(),
        }
    }

    pub fn model(&self, endpoint: &str) -> Result<&Arc<LoadedModel>> {
        self.model.as_ref().map_err(|why| {
            Error::Unavailable(format!("endpoint '{endpoint}' cannot serve route {}: {why}", self.describe()))
        })
    }
}

#[derive(Debug)]
pub struct LoadedEndpoint {
    pub endpoint_id: EndpointId,
    pub name: String,
    pub model_name: String,
    pub sample_rate: f64,
    pub routes: Vec<LoadedRoute>,
    /// (cumulative percent, route index) of the non-shadow routes with traffic.
    live: Vec<(u32, usize)>,
}

impl LoadedEndpoint {
    fn new(
        endpoint_id: EndpointId,
        name: String,
        model_name: String,
        sample_rate: f64,
        routes: Vec<LoadedRoute>,
    ) -> Self {
        let mut live = Vec::new();
        let mut sum = 0u32;
        for (i, r) in routes.iter().enumerate() {
            if !r.shadow && r.traffic_percent > 0 {
                sum += u32::from(r.traffic_percent);
                live.push((sum, i));
            }
        }
        Self { endpoint_id, name, model_name, sample_rate, routes, live }
    }

    /// A non-shadow route, chosen with the routes' traffic shares.
    pub fn pick(&self) -> Result<&LoadedRoute> {
        let Some(&(total, _)) = self.live.last() else {
            return Err(Error::Unavailable(format!("endpoint '{}' has no route with traffic", self.name)));
        };
        let roll = if self.live.len() == 1 { 0 } else { fastrand::u32(0..total) };
        let i = self.live.iter().find(|(cum, _)| roll < *cum).map_or(self.live[0].1, |(_, i)| *i);
        Ok(&self.routes[i])
    }

    /// The non-shadow route with the most traffic (what metadata describes).
    pub fn primary(&self) -> Result<&LoadedRoute> {
        self.live
            .iter()
            .map(|(_, i)| &self.routes[*i])
            .max_by_key(|r| r.traffic_percent)
            .ok_or_else(|| Error::Unavailable(format!("endpoint '{}' has no route with traffic", self.name)))
    }

    /// The route serving version `v` (any route, shadows included).
    pub fn by_version(&self, v: i32) -> Result<&LoadedRoute> {
        self.routes.iter().find(|r| r.version == Some(v)).ok_or_else(|| {
            let served: Vec<String> =
                self.routes.iter().filter_map(|r| r.version).map(|v| v.to_string()).collect();
            Error::not_found(
                "model version",
                format!(
                    "{v} of endpoint {} (it serves: {})",
                    self.name,
                    if served.is_empty() { "none".into() } else { served.join(", ") }
                ),
            )
        })
    }

    /// True when every non-shadow route with traffic can answer.
    pub fn ready(&self) -> bool {
        !self.live.is_empty() && self.live.iter().all(|(_, i)| self.routes[*i].model.is_ok())
    }
}

/// What one process serves: endpoints by lower-cased name, and the loaded models.
#[derive(Debug, Default)]
pub struct Table {
    endpoints: HashMap<String, Arc<LoadedEndpoint>>,
    models: HashMap<ModelVersionId, Arc<LoadedModel>>,
}

impl Table {
    pub fn endpoints(&self) -> impl Iterator<Item = &Arc<LoadedEndpoint>> {
        self.endpoints.values()
    }
}

/// Request latencies of this process (all endpoints), in the log's buckets: for
/// `/metrics` and the benchmark's server-side percentiles.
#[derive(Debug)]
pub struct LatencyHistogram {
    counts: Vec<AtomicU64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: (0..LATENCY_BUCKETS.len()).map(|_| AtomicU64::new(0)).collect() }
    }
}

impl LatencyHistogram {
    pub fn observe(&self, d: Duration) {
        let i = super::logs::latency_bucket(d.as_micros().min(u128::from(u32::MAX)) as u32);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Vec<u64> {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

/// The percentile `q` (0-1) of a bucketed histogram, as the bucket's upper edge in µs.
pub fn percentile_us(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(f64::from(LATENCY_BUCKETS[i]));
        }
    }
    LATENCY_BUCKETS.last().map(|b| f64::from(*b))
}

/// The serving engine of one process. Lives in `AppState`; handlers reach it there.
#[derive(Debug)]
pub struct Engine {
    table: RwLock<Arc<Table>>,
    /// The generation the table reflects (-1: never loaded).
    generation: AtomicI64,
    refreshing: tokio::sync::Mutex<()>,
    pub logs: super::logs::LogSink,
    pub latency: LatencyHistogram,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
}

impl Engine {
    pub fn new(settings: super::logs::LogSettings) -> Self {
        Self {
            table: RwLock::default(),
            generation: AtomicI64::new(-1),
            refreshing: tokio::sync::Mutex::new(()),
            logs: super::logs::LogSink::new(settings),
            latency: LatencyHistogram::default(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// The current table (a cheap `Arc` clone; never held across a lock).
    pub fn table(&self) -> Arc<Table> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn swap(&self, table: Table) {
        let table = Arc::new(table);
        match self.table.write() {
            Ok(mut t) => *t = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }

    /// The endpoint called `name` (ignoring case), or a 404 naming it.
    pub fn endpoint(&self, name: &str) -> Result<Arc<LoadedEndpoint>> {
        let table = self.table();
        let found = table.endpoints.get(name).or_else(|| table.endpoints.get(&name.to_ascii_lowercase()));
        found.cloned().ok_or_else(|| Error::not_found("endpoint", name))
    }

    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reloads the table if the database's serving generation moved; true if it did.
    /// Bundles are loaded before the swap; a version whose bundle cannot be read is
    /// reported on its route (not servable, with the reason), and a store that does
    /// not answer keeps the current table and retries at the next call.
    pub async fn refresh(&self, st: &AppState) -> Result<bool> {
        let _one_at_a_time = self.refreshing.lock().await;
        let generation = sql::generation(&st.db).await?;
        if generation == self.generation() {
            return Ok(false);
        }
        let rows = sql::config(&st.db, None).await?;
        let old = self.table();
        let mut models: HashMap<ModelVersionId, Arc<LoadedModel>> = HashMap::new();
        let mut failed: HashMap<ModelVersionId, String> = HashMap::new();
        for row in &rows {
            let Some(id) = row.model_version_id.map(ModelVersionId) else { continue };
            if models.contains_key(&id) || failed.contains_key(&id) {
                continue;
            }
            if let Some(m) = old.models.get(&id) {
                models.insert(id, m.clone());
                continue;
            }
            match load(st, row).await {
                Ok(m) => {
                    models.insert(id, Arc::new(m));
                }
                Err(Load::NotServable(why)) => {
                    failed.insert(id, why);
                }
                Err(Load::Retry(e)) => {
                    tracing::warn!(error = %e, version = ?row.version, model = %row.model_name,
                        "could not read a model bundle; keeping the current endpoints and retrying");
                    return Ok(false);
                }
            }
        }
        let mut endpoints: HashMap<String, Arc<LoadedEndpoint>> = HashMap::new();
        let mut i = 0;
        while i < rows.len() {
            let first = &rows[i];
            let mut routes = Vec::new();
            while i < rows.len() && rows[i].endpoint_id == first.endpoint_id {
                routes.push(route(&rows[i], &models, &failed));
                i += 1;
            }
            let ep = LoadedEndpoint::new(
                EndpointId(first.endpoint_id),
                first.name.clone(),
                first.model_name.clone(),
                first.log_sample_rate,
                routes,
            );
            endpoints.insert(first.name.to_ascii_lowercase(), Arc::new(ep));
        }
        let changed: Vec<String> = endpoints
            .values()
            .filter(|e| {
                old.endpoints.get(&e.name.to_ascii_lowercase()).is_none_or(|o| {
                    o.routes
                        .iter()
                        .map(|r| r.model_version_id)
                        .ne(e.routes.iter().map(|r| r.model_version_id))
                })
            })
            .map(|e| e.name.clone())
            .collect();
        self.swap(Table { endpoints, models });
        self.generation.store(generation, Ordering::Release);
        if !changed.is_empty() {
            tracing::info!(generation, endpoints = %changed.join(","), "serving: endpoints (re)loaded");
        }
        Ok(true)
    }
}

enum Load {
    NotServable(String),
    Retry(Error),
}

async fn load(st: &AppState, row: &ConfigRow) -> std::result::Result<LoadedModel, Load> {
    let version = row.version.unwrap_or_default();
    if let Some(why) = &row.not_servable_reason {
        return Err(Load::NotServable(why.clone()));
    }
    if row.format.as_deref() != Some("cairn") {
        return Err(Load::NotServable(format!(
            "version {version} is a {} model; Cairn serves only its own bundles",
            row.format.as_deref().unwrap_or("unknown")
        )));
    }
    if row.status.as_deref().is_some_and(|s| s != "READY") {
        return Err(Load::NotServable(format!(
            "version {version} is not ready ({})",
            row.status.as_deref().unwrap_or("")
        )));
    }
    let Some(path) = &row.bundle_path else {
        return Err(Load::NotServable(format!("version {version} has no bundle")));
    };
    let bytes = match st.store.get(path).await {
        Ok(b) => b,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Load::NotServable(format!(
                "version {version}'s bundle is missing from the artifact store"
            )));
        }
        Err(e) => return Err(Load::Retry(e.into())),
    };
    let (id, name) = (ModelVersionId(row.model_version_id.unwrap_or_default()), row.model_name.clone());
    // Decompressing and parsing a forest takes a while: off the async threads.
    let parsed = tokio::task::spawn_blocking(move || {
        Bundle::from_bytes(&bytes).map(|b| LoadedModel::new(id, version, name, b))
    })
    .await
    .map_err(|e| Load::Retry(Error::Other(e.into())))?;
    parsed.map_err(|e| Load::NotServable(format!("version {version}'s bundle cannot be read: {e}")))
}

fn route(
    row: &ConfigRow,
    models: &HashMap<ModelVersionId, Arc<LoadedModel>>,
    failed: &HashMap<ModelVersionId, String>,
) -> LoadedRoute {
    let id = row.model_version_id.map(ModelVersionId);
    let model = match id {
        Some(id) => match models.get(&id) {
            Some(m) => Ok(m.clone()),
            None => Err(failed.get(&id).cloned().unwrap_or_else(|| "not loaded".into())),
        },
        None => Err(match &row.alias {
            Some(a) => format!("alias @{a} of model {} does not point at a version yet", row.model_name),
            None => "the pinned version was deleted".into(),
        }),
    };
    LoadedRoute {
        alias: row.alias.clone(),
        pinned: row.pinned,
        version: row.version,
        model_version_id: id,
        traffic_percent: u8::try_from(row.traffic_percent.clamp(0, 100)).unwrap_or(0),
        shadow: row.shadow,
        model,
    }
}
