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

use crate::ids::{ArtifactId, DatasetId, DatasetVersionId, ProjectId, ValidationId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Rows a data preview page returns at most.
pub const MAX_PREVIEW_ROWS: u32 = 500;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dataset {
    pub dataset_id: DatasetId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Number of the newest version, if any.
    pub latest_version: Option<i32>,
    pub version_count: i64,
    pub latest_rows: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/datasets`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Defaults to the default project.
    #[serde(default)]
    pub project_id: Option<ProjectId>,
}

impl NewDataset {
    pub fn validate(&self) -> Result<(), crate::ValidationError> {
        crate::validation::check_name("name", &self.name)?;
        if self.description.chars().count() > 10_000 {
            return Err(crate::ValidationError::new("description", "must be at most 10000 characters"));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
}

/// Where a version's data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Upload,
    Path,
    Url,
    Sql,
    Prepared,
    /// Predictions of a model on another version (batch prediction).
    Predicted,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Upload => "upload",
            SourceKind::Path => "path",
            SourceKind::Url => "url",
            SourceKind::Sql => "sql",
            SourceKind::Prepared => "prepared",
            SourceKind::Predicted => "predicted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SourceKind::Upload,
            SourceKind::Path,
            SourceKind::Url,
            SourceKind::Sql,
            SourceKind::Prepared,
            SourceKind::Predicted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// File formats a version can be created from. Every version is stored as Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    #[serde(rename = "csv.gz")]
    CsvGz,
    Parquet,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::CsvGz => "csv.gz",
            FileFormat::Parquet => "parquet",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [FileFormat::Csv, FileFormat::CsvGz, FileFormat::Parquet].into_iter().find(|f| f.as_str() == s)
    }

    /// From a file name's ending (`.csv`, `.csv.gz`/`.gz`, `.parquet`/`.pq`).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv.gz") || lower.ends_with(".gz") {
            Some(FileFormat::CsvGz)
        } else if lower.ends_with(".csv") || lower.ends_with(".txt") {
            Some(FileFormat::Csv)
        } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
            Some(FileFormat::Parquet)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetVersion {
    pub dataset_version_id: DatasetVersionId,
    pub dataset_id: DatasetId,
    pub dataset_name: String,
    pub version: i32,
    /// SHA-256 of the raw bytes plus the type overrides.
    pub content_hash: String,
    pub source_kind: SourceKind,
    /// File name, path, URL or query, as the source kind has it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub source_detail: serde_json::Value,
    pub format: String,
    pub n_rows: i64,
    pub n_cols: i32,
    pub raw_bytes: i64,
    pub parquet_bytes: i64,
    pub columns: Vec<ColumnInfo>,
    pub type_overrides: BTreeMap<String, ColumnType>,
    pub lineage_artifact_id: Option<ArtifactId>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Answer to creating a version: `created` is false when the same content (and
/// overrides) was already a version of this dataset, which is returned instead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionCreated {
    pub created: bool,
    pub version: DatasetVersion,
}

/// A page of a version's rows, as display text (`None` = missing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowPage {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Vec<Option<String>>>,
    pub offset: u64,
    pub limit: u32,
    pub total: i64,
}

/// Parses `col=type,col2=type` (the upload form's and the API's override syntax).
pub fn parse_type_overrides(text: &str) -> Result<BTreeMap<String, ColumnType>, crate::ValidationError> {
    let mut out = BTreeMap::new();
    for part in text.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let (name, ty) = part.split_once(['=', ':']).ok_or_else(|| {
            crate::ValidationError::new("types", format!("`{part}` is not `column=type` (e.g. `zip=string`)"))
        })?;
        let ty: ColumnType = ty.parse().map_err(|e: String| crate::ValidationError::new("types", e))?;
        if out.insert(name.trim().to_string(), ty).is_some() {
            return Err(crate::ValidationError::new(
                "types",
                format!("column `{}` is overridden twice", name.trim()),
            ));
        }
    }
    Ok(out)
}

/// What a column is expected to look like. Inferred from a version, then edited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// A version without this column fails validation (else it only warns).
    #[serde(default = "yes")]
    pub required: bool,
    /// Missing values are allowed.
    #[serde(default = "yes")]
    pub nullable: bool,
    /// For string columns: the values allowed; others are "unseen categories".
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// For numeric columns: the allowed range, inclusive.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetSchema {
    pub columns: Vec<ColumnSchema>,
}

impl DatasetSchema {
    pub fn validate(&self) -> Result<(), crate::ValidationError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.columns {
            if c.name.is_empty() {
                return Err(crate::ValidationError::new("columns", "a column has an empty name"));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(crate::ValidationError::new(
                    "columns",
                    format!("column `{}` appears twice", c.name),
                ));
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                return Err(crate::ValidationError::new(
                    "columns",
                    format!("column `{}`: min {lo} is greater than max {hi}", c.name),
                ));
            }
            if c.categories.is_some()
                && c.column_type != ColumnType::String
                && c.column_type != ColumnType::Bool
            {
                return Err(crate::ValidationError::new(
                    "columns",
                    format!("column `{}`: categories apply to string columns only", c.name),
                ));
            }
            if (c.min.is_some() || c.max.is_some()) && !c.column_type.is_numeric() {
                return Err(crate::ValidationError::new(
                    "columns",
                    format!("column `{}`: a range applies to int and float columns only", c.name),
                ));
            }
        }
        Ok(())
    }
}

/// The schema stored for a dataset, with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredSchema {
    pub dataset_id: DatasetId,
    /// The version it was inferred from; `None` once it is edited from scratch.
    pub based_on_version: Option<i32>,
    pub schema: DatasetSchema,
    pub updated_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [CheckStatus::Pass, CheckStatus::Warn, CheckStatus::Fail].into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    MissingColumn,
    NewColumn,
    TypeChange,
    UnexpectedNulls,
    NullRateJump,
    UnseenCategory,
    OutOfRange,
}

/// One thing wrong with a version, measured against the schema and the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Anomaly {
    pub column: String,
    pub kind: AnomalyKind,
    pub severity: CheckStatus,
    pub message: String,
}

/// Body of `POST /api/v1/datasets/{id}/validations`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewValidation {
    /// The version to check.
    pub version: i32,
    /// The version to compare against; defaults to the one before `version`
    /// (version 1 has no baseline: only the schema is checked).
    #[serde(default)]
    pub baseline_version: Option<i32>,
    /// Drift thresholds; defaults are PSI 0.2, JS divergence 0.3, L-infinity 0.3.
    #[serde(default)]
    pub drift: Option<crate::drift::DriftConfig>,
}

/// A stored validation: its headline, what it checked against, and what it found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationReport {
    pub summary: ValidationSummary,
    pub dataset_name: String,
    #[serde(flatten)]
    pub body: ValidationBody,
}

/// The part of a report stored as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationBody {
    /// The schema the version was checked against.
    pub schema: DatasetSchema,
    /// False when no schema was saved and one was inferred from the baseline.
    pub schema_saved: bool,
    pub anomalies: Vec<Anomaly>,
    /// One entry per baseline column; empty without a baseline.
    pub drift: Vec<crate::drift::ColumnDrift>,
    pub config: crate::drift::DriftConfig,
}

/// A validation run's headline, for lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationSummary {
    pub validation_id: ValidationId,
    pub dataset_id: DatasetId,
    pub version: i32,
    pub baseline_version: Option<i32>,
    pub status: CheckStatus,
    pub anomalies: usize,
    pub drifted_columns: usize,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An artifact in a lineage listing, with a dashboard link when Cairn has a page
/// for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageArtifact {
    pub artifact_type: String,
    pub name: String,
    pub link: Option<String>,
}

/// One step (execution) next to a version: what it read and what it wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageStep {
    pub execution_type: String,
    pub name: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub inputs: Vec<LineageArtifact>,
    pub outputs: Vec<LineageArtifact>,
}

/// The steps that made a version (`upstream`) and the steps that used it
/// (`downstream`), from the lineage store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionLineage {
    pub upstream: Vec<LineageStep>,
    pub downstream: Vec<LineageStep>,
}
