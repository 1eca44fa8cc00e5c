//! Postgres integration tests of `services`: each test gets a fresh, migrated database.
mod dataset_imports;
mod dataset_prepare;
mod datasets;
mod db;
mod jobs;
mod lineage;
mod logged_models;
mod pipelines;
mod projects;
mod registry;
mod schedules;
mod serving;
mod sql_source;
mod support;
mod tracking;
mod training;
mod webhooks;
