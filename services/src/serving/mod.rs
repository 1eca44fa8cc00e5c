//! Serving: endpoints that answer predictions with registered model versions, in
//! this process (and in `cairn serve --serving-only` replicas).
//!
//! ```text
//! endpoint ─ routes ─▶ alias (followed) or pinned version ─▶ model_version.bundle_path
//!                                  │ refresher (generation poll, ~500 ms)
//!                                  ▼
//! engine: RwLock<Arc<Table>> ── swapped whole after the new bundles are loaded
//!   request ─▶ pick a route (traffic %) ─▶ validate against the signature
//!          ─▶ Bundle::predict (inline, or on the blocking pool past 256 rows)
//!          ─▶ answer; log record ─try_send─▶ flusher (logs.rs); shadow copies
//!             predicted in spawned tasks, logged only
//! ```
//!
//! Architecture invariant: the predict path does no database work and no I/O;
//! everything it needs is in the table.

pub mod batch;
pub mod engine;
pub mod fixture;
pub mod input;
pub mod logs;

pub use engine::{Engine, LoadedEndpoint, LoadedModel, LoadedRoute};
pub use input::{Columns, Scalar};

use crate::auth::{Action, Principal, audit, authorize};
use crate::db::serving::{self as sql, ConfigRow, EndpointRow, NewRoute};
use crate::error::ResultExt;
use crate::{AppState, Error, Result};
use chrono::{DateTime, Utc};
use domain::serving::{
    DEFAULT_ALIAS, Endpoint, EndpointChange, EndpointStats, EndpointUrls, Feedback, FeedbackAccepted,
    LoggedRequest, MinuteStats, NewEndpoint, Route, RouteSpec,
};
use domain::{EndpointId, ModelVersionId, RegisteredModelId, ValidationError};
use logs::LogRecord;
use ml::frame::Frame;
use ml::train::BundleOutput;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Requests with more rows than this predict on the blocking pool, so a large batch
/// never holds an async thread that small requests are waiting for.
pub const INLINE_ROWS: usize = 256;

/// How often each process checks whether endpoints, routes or aliases changed.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(500);

/// The refresher and the log flusher of one process.
pub struct ServingHandle {
    stop: CancellationToken,
    refresher: tokio::task::JoinHandle<()>,
    flusher: Option<tokio::task::JoinHandle<()>>,
}

/// Loads the endpoints, then keeps them current and the log flowing until
/// [`ServingHandle::shutdown`].
pub async fn start(st: &AppState) -> ServingHandle {
    if let Err(e) = st.serving.refresh(st).await {
        tracing::warn!(error = ?e, "serving: could not load the endpoints at start; retrying in the background");
    }
    let stop = CancellationToken::new();
    let flusher = logs::start_flusher(st, stop.clone());
    let refresher = {
        let (st, stop) = (st.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        if let Err(e) = st.serving.refresh(&st).await {
                            tracing::warn!(error = ?e, "serving: could not refresh the endpoints");
                        }
                    }
                }
            }
        })
    };
    ServingHandle { stop, refresher, flusher }
}

impl ServingHandle {
    /// Stops refreshing and flushes every logged request still queued.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.refresher.await;
        if let Some(f) = self.flusher {
            let _ = f.await;
        }
    }
}

/// Facts about one request, taken by the handler when it arrived.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub request_id: String,
    pub started: Instant,
    pub received_at_us: i64,
}

impl RequestMeta {
    pub fn now(request_id: String) -> Self {
        Self { request_id, started: Instant::now(), received_at_us: Utc::now().timestamp_micros() }
    }
}

/// A prediction made.
#[derive(Debug)]
pub struct Served {
    pub model: Arc<LoadedModel>,
    pub n_rows: usize,
    pub output: Arc<BundleOutput>,
}

/// The HTTP status a refusal gets, as the log records it.
fn status_of(e: &Error) -> u16 {
    match e {
        Error::Validation(_) => 422,
        Error::NotFound { .. } => 404,
        Error::Unavailable(_) => 503,
        Error::TooLarge(_) => 413,
        Error::Forbidden(_) => 403,
        _ => 500,
    }
}

/// Predicts with one of the endpoint's routes (a given version, or one chosen by
/// the traffic split), logs the request (sampled) and mirrors it to shadow routes.
pub async fn predict(
    st: &AppState,
    p: &Principal,
    ep: &Arc<LoadedEndpoint>,
    version: Option<i32>,
    input: Columns,
    meta: RequestMeta,
) -> Result<Served> {
    authorize(p, Action::Read)?;
    let engine = &st.serving;
    let route = match version {
        Some(v) => ep.by_version(v),
        None => ep.pick(),
    };
    let model = match route.and_then(|r| r.model(&ep.name)) {
        Ok(m) => m.clone(),
        Err(e) => {
            engine.errors.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
    };
    let result = run(&model, input).await;
    let elapsed = meta.started.elapsed();
    engine.latency.observe(elapsed);
    engine.requests.fetch_add(1, Ordering::Relaxed);
    let log = ep.sample_rate >= 1.0 || (ep.sample_rate > 0.0 && fastrand::f64() < ep.sample_rate);
    let latency_us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
    match result {
        Ok((frame, output)) => {
            let output = Arc::new(output);
            let n_rows = frame.n_rows();
            let frame = Arc::new(frame);
            mirror(st, ep, &frame, &meta, log);
            if log {
                engine.logs.send(LogRecord {
                    endpoint_id: ep.endpoint_id,
                    model: model.clone(),
                    shadow: false,
                    request_id: meta.request_id,
                    received_at_us: meta.received_at_us,
                    latency_us,
                    status: 200,
                    error: None,
                    input: Some(frame),
                    output: Some(output.clone()),
                });
            }
            Ok(Served { model, n_rows, output })
        }
        Err(e) => {
            engine.errors.fetch_add(1, Ordering::Relaxed);
            if log {
                engine.logs.send(LogRecord {
                    endpoint_id: ep.endpoint_id,
                    model,
                    shadow: false,
                    request_id: meta.request_id,
                    received_at_us: meta.received_at_us,
                    latency_us,
                    status: status_of(&e),
                    error: Some(e.to_string()),
                    input: None,
                    output: None,
                });
            }
            Err(e)
        }
    }
}

/// Validates and predicts; past [`INLINE_ROWS`] rows on the blocking pool.
async fn run(model: &Arc<LoadedModel>, input: Columns) -> Result<(Frame, BundleOutput)> {
    if input.n_rows <= INLINE_ROWS {
        let frame = model.frame(input)?;
        let output = model.predict(&frame)?;
        return Ok((frame, output));
    }
    let model = model.clone();
    tokio::task::spawn_blocking(move || {
        let frame = model.frame(input)?;
        let output = model.predict(&frame)?;
        Ok((frame, output))
    })
    .await
    .map_err(|e| Error::Other(e.into()))?
}

/// Sends a copy of the request to each shadow route (its share of requests), in
/// tasks of their own: the caller's answer never waits for them.
fn mirror(st: &AppState, ep: &Arc<LoadedEndpoint>, frame: &Arc<Frame>, meta: &RequestMeta, log: bool) {
    for route in ep.routes.iter().filter(|r| r.shadow && r.traffic_percent > 0) {
        let Ok(model) = &route.model else { continue };
        if route.traffic_percent < 100 && fastrand::u8(0..100) >= route.traffic_percent {
            continue;
        }
        let (st, model, frame, ep) = (st.clone(), model.clone(), frame.clone(), ep.clone());
        let (request_id, received_at_us) = (meta.request_id.clone(), meta.received_at_us);
        tokio::spawn(async move {
            let started = Instant::now();
            let m = model.clone();
            let f = frame.clone();
            let result = if frame.n_rows() <= INLINE_ROWS {
                m.predict(&f)
            } else {
                match tokio::task::spawn_blocking(move || m.predict(&f)).await {
                    Ok(r) => r,
                    Err(e) => Err(Error::Other(e.into())),
                }
            };
            if !log {
                return;
            }
            let latency_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
            let (status, error, output) = match result {
                Ok(o) => (200, None, Some(Arc::new(o))),
                Err(e) => (status_of(&e), Some(e.to_string()), None),
            };
            st.serving.logs.send(LogRecord {
                endpoint_id: ep.endpoint_id,
                model,
                shadow: true,
                request_id,
                received_at_us,
                latency_us,
                status,
                error,
                input: output.as_ref().map(|_| frame),
                output,
            });
        });
    }
}

// ---------------------------------------------------------------------------
// Endpoint management.

fn invalid(field: &str, msg: impl Into<String>) -> Error {
    ValidationError::new(field, msg).into()
}

/// The registered model a request names.
async fn model_named(st: &AppState, name: &str) -> Result<sql::ModelRow> {
    let mut found = sql::model_by_name(&st.db, name).await?;
    match found.len() {
        0 => Err(Error::not_found("registered model", name)),
        1 => Ok(found.remove(0)),
        _ => Err(Error::Conflict(format!(
            "several projects have a model named '{name}'; endpoints need a model name that is unique"
        ))),
    }
}

/// Checks routes against the model: pinned versions exist and can be served.
async fn resolve_routes(st: &AppState, model: &sql::ModelRow, routes: &[RouteSpec]) -> Result<Vec<NewRoute>> {
    domain::serving::check_routes(routes)?;
    let mut out = Vec::with_capacity(routes.len());
    for (i, r) in routes.iter().enumerate() {
        let model_version_id = match r.version {
            Some(v) => {
                let row = sql::version(&st.db, model.registered_model_id, v).await?.ok_or_else(|| {
                    invalid("routes", format!("route {}: model {} has no version {v}", i + 1, model.name))
                })?;
                if let Some(why) = row.not_servable_reason {
                    return Err(invalid(
                        "routes",
                        format!("route {}: version {v} of {} cannot be served: {why}", i + 1, model.name),
                    ));
                }
                Some(row.model_version_id)
            }
            None => None,
        };
        out.push(NewRoute {
            alias: if model_version_id.is_some() { None } else { r.alias.clone() },
            model_version_id,
            traffic_percent: i16::from(r.traffic_percent),
            shadow: r.shadow,
        });
    }
    Ok(out)
}

/// Makes this process serve a change at once (others follow within the refresh
/// interval). A failure is only logged: the refresher retries.
async fn refresh_now(st: &AppState) {
    if let Err(e) = st.serving.refresh(st).await {
        tracing::warn!(error = ?e, "serving: could not reload the endpoints after a change");
    }
}

pub async fn create(st: &AppState, p: &Principal, new: NewEndpoint) -> Result<Endpoint> {
    authorize(p, Action::Write)?;
    domain::serving::check_endpoint_name(&new.name)?;
    let rate = new.log_sample_rate.unwrap_or(1.0);
    domain::serving::check_sample_rate(rate)?;
    if new.description.chars().count() > 10_000 {
        return Err(invalid("description", "must be at most 10000 characters"));
    }
    let model = model_named(st, &new.model).await?;
    let specs = new.routes.clone().unwrap_or_else(|| {
        vec![RouteSpec {
            alias: Some(DEFAULT_ALIAS.into()),
            version: None,
            traffic_percent: 100,
            shadow: false,
        }]
    });
    let routes = resolve_routes(st, &model, &specs).await?;
    let mut tx = st.db.begin().await?;
    let id = sql::insert(
        &mut *tx,
        &sql::NewEndpointRow {
            name: &new.name,
            description: &new.description,
            registered_model_id: model.registered_model_id,
            project_id: model.project_id,
            log_sample_rate: rate,
            created_by: p.user_id.0,
        },
    )
    .await
    .on_constraint("endpoint_name_key", || {
        Error::Conflict(format!("an endpoint named '{}' already exists; pick another name", new.name))
    })?;
    sql::replace_routes(&mut tx, id, &routes).await?;
    let targets: Vec<String> =
        specs.iter().map(|r| format!("{} {}%", r.target(), r.traffic_percent)).collect();
    audit::record(
        &mut *tx,
        p,
        "endpoint.create",
        &format!("endpoint:{id}"),
        audit::Outcome::Ok,
        &format!("{} serving {}: {}", new.name, model.name, targets.join(", ")),
    )
    .await?;
    tx.commit().await?;
    refresh_now(st).await;
    get(st, p, &new.name).await
}

pub async fn list(st: &AppState, p: &Principal) -> Result<Vec<Endpoint>> {
    authorize(p, Action::Read)?;
    let rows = sql::list(&st.db).await?;
    let config = sql::config(&st.db, None).await?;
    Ok(rows.into_iter().map(|r| endpoint_dto(st, r, &config)).collect())
}

async fn row_named(st: &AppState, name: &str) -> Result<EndpointRow> {
    sql::by_name(&st.db, name).await?.ok_or_else(|| Error::not_found("endpoint", name))
}

pub async fn get(st: &AppState, p: &Principal, name: &str) -> Result<Endpoint> {
    authorize(p, Action::Read)?;
    let row = row_named(st, name).await?;
    let config = sql::config(&st.db, Some(row.endpoint_id)).await?;
    Ok(endpoint_dto(st, row, &config))
}

/// The stored endpoint with each route's version and whether this process serves it.
fn endpoint_dto(st: &AppState, row: EndpointRow, config: &[ConfigRow]) -> Endpoint {
    let loaded = st.serving.endpoint(&row.name).ok().filter(|e| e.endpoint_id.0 == row.endpoint_id);
    let routes: Vec<Route> = config
        .iter()
        .filter(|c| c.endpoint_id == row.endpoint_id)
        .map(|c| {
            let here = loaded.as_ref().and_then(|e| {
                e.routes
                    .get(c.position as usize)
                    .filter(|r| r.model_version_id.map(|v| v.0) == c.model_version_id)
            });
            let (servable, reason) = match (here, c.model_version_id) {
                (Some(r), _) => (r.model.is_ok(), r.model.as_ref().err().cloned()),
                (None, None) => (
                    false,
                    Some(match &c.alias {
                        Some(a) => {
                            format!("alias @{a} of model {} does not point at a version yet", c.model_name)
                        }
                        None => "the pinned version was deleted".into(),
                    }),
                ),
                (None, Some(_)) => (
                    false,
                    Some(
                        c.not_servable_reason
                            .clone()
                            .unwrap_or_else(|| "not loaded in this process yet".into()),
                    ),
                ),
            };
            Route {
                alias: c.alias.clone(),
                pinned: c.pinned,
                version: c.version,
                model_version_id: c.model_version_id.map(ModelVersionId),
                traffic_percent: u8::try_from(c.traffic_percent).unwrap_or(0),
                shadow: c.shadow,
                servable,
                not_servable_reason: reason,
            }
        })
        .collect();
    let ready = routes.iter().any(|r| !r.shadow && r.traffic_percent > 0)
        && routes.iter().filter(|r| !r.shadow && r.traffic_percent > 0).all(|r| r.servable);
    Endpoint {
        endpoint_id: EndpointId(row.endpoint_id),
        urls: EndpointUrls::for_name(&row.name),
        name: row.name,
        description: row.description,
        registered_model_id: RegisteredModelId(row.registered_model_id),
        model_name: row.model_name,
        log_sample_rate: row.log_sample_rate,
        routes,
        ready,
        created_by: row.created_by_name,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub async fn change(st: &AppState, p: &Principal, name: &str, change: EndpointChange) -> Result<Endpoint> {
    authorize(p, Action::Write)?;
    let row = row_named(st, name).await?;
    if let Some(rate) = change.log_sample_rate {
        domain::serving::check_sample_rate(rate)?;
    }
    if change.description.as_ref().is_some_and(|d| d.chars().count() > 10_000) {
        return Err(invalid("description", "must be at most 10000 characters"));
    }
    let model = sql::ModelRow {
        registered_model_id: row.registered_model_id,
        project_id: domain::DEFAULT_PROJECT_ID.0,
        name: row.model_name.clone(),
    };
    let routes = match &change.routes {
        Some(specs) => Some(resolve_routes(st, &model, specs).await?),
        None => None,
    };
    let mut tx = st.db.begin().await?;
    sql::lock(&mut tx, row.endpoint_id).await?;
    sql::update(&mut *tx, row.endpoint_id, change.description.as_deref(), change.log_sample_rate).await?;
    let mut details = Vec::new();
    if let (Some(routes), Some(specs)) = (&routes, &change.routes) {
        sql::replace_routes(&mut tx, row.endpoint_id, routes).await?;
        let targets: Vec<String> = specs
            .iter()
            .map(|r| {
                format!("{} {}%{}", r.target(), r.traffic_percent, if r.shadow { " shadow" } else { "" })
            })
            .collect();
        details.push(format!("routes: {}", targets.join(", ")));
    }
    if let Some(rate) = change.log_sample_rate {
        details.push(format!("log_sample_rate: {rate}"));
    }
    if change.description.is_some() {
        details.push("description".into());
    }
    audit::record(
        &mut *tx,
        p,
        "endpoint.update",
        &format!("endpoint:{}", row.endpoint_id),
        audit::Outcome::Ok,
        &details.join("; "),
    )
    .await?;
    tx.commit().await?;
    refresh_now(st).await;
    get(st, p, &row.name).await
}

pub async fn delete(st: &AppState, p: &Principal, name: &str) -> Result<()> {
    authorize(p, Action::Write)?;
    let row = row_named(st, name).await?;
    let mut tx = st.db.begin().await?;
    if sql::delete(&mut *tx, row.endpoint_id).await? == 0 {
        return Err(Error::not_found("endpoint", name));
    }
    audit::record(
        &mut *tx,
        p,
        "endpoint.delete",
        &format!("endpoint:{}", row.endpoint_id),
        audit::Outcome::Ok,
        &row.name,
    )
    .await?;
    tx.commit().await?;
    refresh_now(st).await;
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading the log: statistics, recent requests; feedback.

/// Per-minute request counts, errors and latency percentiles over the last
/// `minutes` (1-1440), per version, from the serving log.
pub async fn stats(st: &AppState, p: &Principal, name: &str, minutes: u32) -> Result<EndpointStats> {
    authorize(p, Action::Read)?;
    if !(1..=1440).contains(&minutes) {
        return Err(invalid("minutes", format!("must be between 1 and 1440 (got {minutes})")));
    }
    let row = row_named(st, name).await?;
    let to = Utc::now();
    let from = to - chrono::Duration::minutes(i64::from(minutes));
    let rows = sql::stats_rows(&st.db, row.endpoint_id, from, to).await?;
    let ids: Vec<uuid::Uuid> = {
        let mut v: Vec<uuid::Uuid> = rows.iter().map(|r| r.model_version_id).collect();
        v.sort();
        v.dedup();
        v
    };
    let numbers: HashMap<uuid::Uuid, i32> = sql::version_numbers(&st.db, &ids).await?.into_iter().collect();
    struct Acc {
        requests: i64,
        errors: i64,
        sum_us: i64,
        hist: Vec<u64>,
    }
    let new_acc = || Acc { requests: 0, errors: 0, sum_us: 0, hist: vec![0; logs::LATENCY_BUCKETS.len()] };
    let add = |acc: &mut Acc, r: &sql::StatsRow| {
        acc.requests += i64::from(r.requests);
        acc.errors += i64::from(r.errors);
        acc.sum_us += r.latency_sum_us;
        for (a, c) in acc.hist.iter_mut().zip(&r.latency_hist) {
            *a += u64::try_from(*c).unwrap_or(0);
        }
    };
    let mut by_minute: BTreeMap<(DateTime<Utc>, uuid::Uuid, bool), Acc> = BTreeMap::new();
    let mut total = new_acc();
    for r in &rows {
        add(by_minute.entry((r.minute, r.model_version_id, r.shadow)).or_insert_with(new_acc), r);
        if !r.shadow {
            add(&mut total, r);
        }
    }
    let ms = |us: Option<f64>| us.map(|u| u / 1000.0);
    let minutes_out = by_minute
        .into_iter()
        .map(|((minute, id, shadow), a)| MinuteStats {
            minute,
            version: numbers.get(&id).copied(),
            model_version_id: ModelVersionId(id),
            shadow,
            requests: a.requests,
            errors: a.errors,
            p50_ms: ms(engine::percentile_us(&a.hist, 0.5)),
            p99_ms: ms(engine::percentile_us(&a.hist, 0.99)),
            mean_ms: (a.requests > 0).then(|| a.sum_us as f64 / a.requests as f64 / 1000.0),
        })
        .collect();
    Ok(EndpointStats {
        endpoint: row.name,
        from,
        to,
        log_sample_rate: row.log_sample_rate,
        minutes: minutes_out,
        requests: total.requests,
        errors: total.errors,
        requests_per_second: total.requests as f64 / (f64::from(minutes) * 60.0),
        p50_ms: ms(engine::percentile_us(&total.hist, 0.5)),
        p99_ms: ms(engine::percentile_us(&total.hist, 0.99)),
        dropped_in_this_process: st.serving.logs.stats.dropped.load(Ordering::Relaxed),
    })
}

/// The most recent logged requests (1-500), newest first, with their records and
/// predictions.
pub async fn recent_requests(
    st: &AppState,
    p: &Principal,
    name: &str,
    limit: usize,
) -> Result<Vec<LoggedRequest>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    authorize(p, Action::Read)?;
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", format!("must be between 1 and 500 (got {limit})")));
    }
    let row = row_named(st, name).await?;
    let mut out: Vec<LoggedRequest> = Vec::new();
    let mut fetch = 4i64;
    // Newest batches first, more of them until enough requests are in hand.
    let logged = loop {
        let logged = sql::recent_logs(&st.db, row.endpoint_id, fetch).await?;
        let have: i64 = logged.iter().map(|(_, n)| i64::from(*n)).sum();
        if have >= limit as i64 || (logged.len() as i64) < fetch || fetch >= 256 {
            break logged;
        }
        fetch = (fetch * 4).min(256);
    };
    let ids: Vec<uuid::Uuid> = logged.iter().map(|(d, _)| d.model_version_id).collect();
    let numbers: HashMap<uuid::Uuid, i32> = sql::version_numbers(&st.db, &ids).await?.into_iter().collect();
    for (data, _) in logged {
        let requests = logs::decode(&data.request_data)?;
        let rows = logs::decode(&data.row_data)?;
        let (Some(req), Some(rows)) = (requests.first(), rows.first()) else { continue };
        let ids = req.column(0).as_string::<i32>();
        let at = req.column(1).as_primitive::<Int64Type>();
        let lat = req.column(2).as_primitive::<Int64Type>();
        let status = req.column(3).as_primitive::<Int32Type>();
        let counts = req.column(4).as_primitive::<Int32Type>();
        let errors = req.column(5).as_string::<i32>();
        let schema = rows.schema();
        let pred_col = schema.index_of("prediction").ok();
        // Requests are in arrival order: the newest `limit` are at the end.
        let mut offsets = Vec::with_capacity(req.num_rows());
        let mut at_row = 0usize;
        for i in 0..req.num_rows() {
            offsets.push(at_row);
            at_row += usize::try_from(counts.value(i)).unwrap_or(0);
        }
        for i in (0..req.num_rows()).rev().take(limit) {
            let n = usize::try_from(counts.value(i)).unwrap_or(0);
            let offset = offsets[i];
            let mut records = Vec::with_capacity(n);
            let mut predictions = Vec::with_capacity(n);
            for r in offset..offset + n {
                let mut rec = serde_json::Map::new();
                for (c, field) in schema.fields().iter().enumerate().skip(1) {
                    if Some(c) == pred_col || field.name().starts_with("proba_") {
                        continue;
                    }
                    rec.insert(field.name().clone(), logs::cell_json(rows.column(c).as_ref(), r));
                }
                records.push(rec);
                predictions.push(
                    pred_col.map_or(serde_json::Value::Null, |c| logs::cell_json(rows.column(c).as_ref(), r)),
                );
            }
            out.push(LoggedRequest {
                request_id: ids.value(i).to_string(),
                at: DateTime::from_timestamp_micros(at.value(i)).unwrap_or(data.started_at),
                version: numbers.get(&data.model_version_id).copied(),
                model_version_id: ModelVersionId(data.model_version_id),
                shadow: data.shadow,
                latency_ms: lat.value(i) as f64 / 1000.0,
                status: u16::try_from(status.value(i)).unwrap_or(0),
                error: (!errors.is_null(i)).then(|| errors.value(i).to_string()),
                records,
                predictions,
            });
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.at));
    out.truncate(limit);
    Ok(out)
}

/// Stores ground-truth labels for request ids. Labels are accepted whether or not
/// the request is (yet) in the log: logging is sampled and at most once, and a label
/// may arrive before its request's batch is flushed. Monitoring joins them later.
pub async fn feedback(
    st: &AppState,
    p: &Principal,
    name: &str,
    items: Vec<Feedback>,
) -> Result<FeedbackAccepted> {
    authorize(p, Action::Write)?;
    if items.is_empty() || items.len() > 10_000 {
        return Err(invalid("feedback", format!("send 1 to 10000 labels per call (got {})", items.len())));
    }
    let row = row_named(st, name).await?;
    let mut seen = std::collections::HashSet::new();
    let (mut ids, mut labels) = (Vec::with_capacity(items.len()), Vec::with_capacity(items.len()));
    for (i, f) in items.into_iter().enumerate() {
        if f.request_id.is_empty() || f.request_id.len() > 200 {
            return Err(invalid(&format!("[{i}].request_id"), "must be 1-200 characters"));
        }
        if !(f.label.is_string() || f.label.is_number() || f.label.is_boolean()) {
            return Err(invalid(&format!("[{i}].label"), "must be a string, a number or a boolean"));
        }
        if !seen.insert(f.request_id.clone()) {
            return Err(invalid(&format!("[{i}].request_id"), format!("'{}' is given twice", f.request_id)));
        }
        ids.push(f.request_id);
        labels.push(f.label);
    }
    sql::upsert_feedback(&st.db, row.endpoint_id, &ids, &labels, p.user_id.0).await?;
    Ok(FeedbackAccepted { accepted: ids.len() })
}
