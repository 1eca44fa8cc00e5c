//! The stateful core of Cairn. Every rule lives here once and is called by the REST
//! API, the MLflow-compatible API, the CLI, the workers and the UI's server functions.
//!
//! Architecture invariants:
//! - No HTTP and no Leptos: this crate knows nothing of axum, tower or leptos.
//! - All SQL lives in [`db`], checked at compile time by sqlx macros against the
//!   committed `.sqlx/` data.
//! - Artifacts are written to the object store before the row that points at them.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod artifacts;
pub mod auth;
pub mod build_info;
pub mod datasets;
pub mod db;
pub mod error;
pub mod jobs;
pub mod lineage;
pub mod lineage_graph;
pub mod notifications;
pub mod overview;
pub mod pipelines;
pub mod projects;
pub mod queue;
pub mod registry;
pub mod schedule;
pub mod secrets;
pub mod serving;
pub mod sql_source;
pub mod state;
pub mod tracking;
pub mod training;
pub mod webhooks;

pub use error::{Error, Result};
pub use state::AppState;
