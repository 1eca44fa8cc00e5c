//! Postgres integration tests of `services`: each test gets a fresh, migrated database.
mod db;
mod projects;
