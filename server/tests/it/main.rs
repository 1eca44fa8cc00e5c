//! HTTP tests of the `cairn` server: the real router over a fresh database per
//! test (`#[sqlx::test]`), driven with `oneshot` or a real socket on port 0.
mod auth;
mod cli;
mod datasets;
mod http;
mod imports;
mod jobs;
mod mlflow;
mod pipeline_events;
mod pipelines;
mod preparation;
mod registry;
mod reliability;
mod serving;
mod support;
mod tracking;
mod training;
