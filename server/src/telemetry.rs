//! Logging: human-readable by default, JSON lines with `CAIRN_LOG_FORMAT=json`.
//! `RUST_LOG` overrides the levels.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info,leptos=warn";

pub fn init(format: LogFormat) {
    init_with(format, DEFAULT_FILTER);
}

/// Like [`init`] with other default levels (benchmarks log only warnings, since a
/// line per request would measure the logger).
pub fn init_with(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init`: tests may have installed a subscriber already.
    let _ = match format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer().with_target(false)).try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(true))
            .try_init(),
    };
}
