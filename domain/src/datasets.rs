//! Datasets and their versions: the wire types shared by the API, the dashboard and
//! the services.

use serde::{Deserialize, Serialize};

/// The logical type of a column. Inference picks one per column; a user may
/// override it per upload. A column whose values disagree becomes `String`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Int,
    Float,
    Bool,
    String,
    /// Microseconds since the Unix epoch, UTC.
    Timestamp,
}

impl ColumnType {
    pub const ALL: [ColumnType; 5] =
        [ColumnType::Int, ColumnType::Float, ColumnType::Bool, ColumnType::String, ColumnType::Timestamp];

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Bool => "bool",
            ColumnType::String => "string",
            ColumnType::Timestamp => "timestamp",
        }
    }

    /// Numeric columns get histograms and quantiles; the others get top-k.
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Int | ColumnType::Float)
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ColumnType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ColumnType::ALL.into_iter().find(|t| t.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            format!("unknown column type `{s}`: use one of int, float, bool, string, timestamp")
        })
    }
}
