//! Prometheus metrics: requests by route and status, and a latency histogram.
//! The registry belongs to the router's state (no globals), so tests can run
//! several servers in one process.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~26 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Metrics {
    /// The HTTP metrics, plus the serving engine's counters when one is given.
    pub fn new(serving: Option<Arc<services::serving::Engine>>) -> Self {
        let mut registry = Registry::with_prefix("cairn");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency until the response head is ready",
            latency.clone(),
        );
        if let Some(engine) = serving {
            registry.register_collector(Box::new(ServingCollector(engine)));
        }
        Self { registry: Arc::new(registry), requests, latency }
    }
}

/// The serving engine's counters, read at each scrape.
#[derive(Debug)]
struct ServingCollector(Arc<services::serving::Engine>);

impl Collector for ServingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let e = &self.0;
        let log = &e.logs.stats;
        let counters = [
            ("serving_requests", "Predictions answered or refused after routing", e.requests.load(Relaxed)),
            ("serving_errors", "Prediction requests refused or failed", e.errors.load(Relaxed)),
            ("serving_log_queued", "Requests queued for the serving log", log.queued.load(Relaxed)),
            (
                "serving_log_dropped",
                "Requests not logged because the serving log's queue was full",
                log.dropped.load(Relaxed),
            ),
            (
                "serving_log_written",
                "Requests written to the serving log",
                log.written_requests.load(Relaxed),
            ),
            (
                "serving_log_failed",
                "Requests lost because a serving-log write failed",
                log.failed.load(Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }
}

/// Middleware: counts and times every request. Unrouted requests share one label
/// so a scan of random URLs cannot blow up the number of series.
pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics.latency.get_or_create(&RouteLabels { method, route }).observe(elapsed);
    response
}
