//! The home page's numbers, read from Postgres.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    pub projects: i64,
    /// Migrations applied to this database (the schema version).
    pub migrations_applied: i64,
    /// Size of the metadata database, in bytes.
    pub database_bytes: i64,
    /// Server version string of Postgres, e.g. "15.20".
    pub postgres_version: String,
    /// Seconds since this `cairn serve` process started.
    pub uptime_seconds: i64,
}
