//! Drift of a whole table: a reference per column, prepared once from the
//! baseline frame, and a check of a current frame against it, one column per
//! core at a time.
//!
//! Int and float columns are numeric; string and bool columns are categorical;
//! timestamp columns are skipped (a serving window's times always differ from
//! the training data's, so they would always "drift").

use super::categorical::{CategoricalReference, CategoryCounts, categorical_drift};
use super::numeric::{DEFAULT_HISTOGRAM_BINS, NumericReference, check_options, numeric_drift_sorted};
use super::sort::sorted_finite;
use super::{DriftError, parallel};
use crate::frame::{Column, ColumnData, Frame};
use domain::datasets::ColumnType;
use domain::drift::{ColumnDrift, DriftConfig, DriftStatus};
use serde::{Deserialize, Serialize};

/// How references are prepared from the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriftOptions {
    /// Equal-width histogram bins for the Jensen–Shannon divergence (1..=10,000).
    pub histogram_bins: usize,
    /// Keep at most this many sorted baseline values per numeric column for KS
    /// (see [`NumericReference`]); `None` keeps them all.
    pub max_reference_sample: Option<usize>,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self { histogram_bins: DEFAULT_HISTOGRAM_BINS, max_reference_sample: None }
    }
}

/// The baseline's side of a drift check for every column; storable (serde).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameReference {
    columns: Vec<ColumnReference>,
}

/// One column's reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnReference {
    pub name: String,
    pub column_type: ColumnType,
    pub baseline: Baseline,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    Numeric(NumericReference),
    Categorical(CategoricalReference),
    /// Every baseline value was missing: the column reports insufficient data.
    Empty {
        missing: u64,
    },
    /// Not compared (timestamps).
    Skipped,
}

impl FrameReference {
    /// Prepare every column of the baseline, columns in parallel. Errors only
    /// for unusable options; a column with no values gets [`Baseline::Empty`].
    pub fn new(frame: &Frame, options: &DriftOptions) -> Result<Self, DriftError> {
        check_options(options.histogram_bins, options.max_reference_sample)?;
        let columns = parallel::map(&frame.columns, |c| column_reference(c, options));
        Ok(Self { columns: columns.into_iter().collect::<Result<_, _>>()? })
    }

    pub fn columns(&self) -> &[ColumnReference] {
        &self.columns
    }

    pub fn column(&self, name: &str) -> Option<&ColumnReference> {
        self.columns.iter().find(|c| c.name == name)
    }
}

fn column_reference(c: &Column, options: &DriftOptions) -> Result<ColumnReference, DriftError> {
    let baseline = if let Some((sorted, missing)) = numeric_values(&c.data) {
        match NumericReference::from_sorted(
            sorted,
            missing,
            options.histogram_bins,
            options.max_reference_sample,
        ) {
            Ok(r) => Baseline::Numeric(r),
            Err(DriftError::EmptyReference { missing }) => Baseline::Empty { missing },
            Err(e) => return Err(e),
        }
    } else if let Some(counts) = CategoryCounts::from_column(&c.data) {
        match CategoricalReference::new(&counts) {
            Ok(r) => Baseline::Categorical(r),
            Err(DriftError::EmptyReference { missing }) => Baseline::Empty { missing },
            Err(e) => return Err(e),
        }
    } else {
        Baseline::Skipped
    };
    Ok(ColumnReference { name: c.name.clone(), column_type: c.data.column_type(), baseline })
}

/// Sorted finite values and the missing count of an int or float column.
fn numeric_values(data: &ColumnData) -> Option<(Vec<f64>, u64)> {
    match data {
        ColumnData::Float(v) => Some(sorted_finite(v.iter().map(|x| x.unwrap_or(f64::NAN)), v.len())),
        ColumnData::Int(v) => {
            Some(sorted_finite(v.iter().map(|x| x.map_or(f64::NAN, |i| i as f64)), v.len()))
        }
        ColumnData::Bool(_) | ColumnData::Str(_) | ColumnData::Timestamp(_) => None,
    }
}

/// Drift of every reference column in `current`, columns in parallel, in the
/// reference's column order. Never fails: a column that cannot be compared
/// (absent, incomparable type, no values on one side) is reported as
/// [`DriftStatus::InsufficientData`] with a message. Columns only in `current`
/// are ignored. `config` should have passed [`DriftConfig::validate`].
pub fn drift_frame(reference: &FrameReference, current: &Frame, config: &DriftConfig) -> Vec<ColumnDrift> {
    parallel::map(&reference.columns, |r| column_drift(r, current.column(&r.name), config))
}

fn column_drift(r: &ColumnReference, current: Option<&Column>, config: &DriftConfig) -> ColumnDrift {
    let mut out = ColumnDrift {
        column: r.name.clone(),
        column_type: r.column_type,
        status: DriftStatus::InsufficientData,
        breaches: Vec::new(),
        numeric: None,
        categorical: None,
        message: None,
    };
    let thresholds = config.thresholds_for(&r.name);
    let incomparable = |c: &Column| {
        format!(
            "the column is {} in the current data but {} in the baseline, so the two cannot be compared",
            c.data.column_type(),
            r.column_type
        )
    };
    let message = match (&r.baseline, current) {
        (Baseline::Skipped, _) => {
            out.status = DriftStatus::Skipped;
            format!("{} columns are not compared for drift", r.column_type)
        }
        (_, None) => "the column is missing from the current data".to_string(),
        (Baseline::Empty { missing }, Some(_)) => {
            DriftError::EmptyReference { missing: *missing }.to_string()
        }
        (Baseline::Numeric(reference), Some(c)) => match numeric_values(&c.data) {
            None => incomparable(c),
            Some((sorted, missing)) => match numeric_drift_sorted(reference, &sorted, missing) {
                Ok(d) => {
                    (out.status, out.breaches) = thresholds.evaluate_numeric(&d);
                    out.numeric = Some(d);
                    return out;
                }
                Err(e) => e.to_string(),
            },
        },
        (Baseline::Categorical(reference), Some(c)) => match CategoryCounts::from_column(&c.data) {
            None => incomparable(c),
            Some(counts) => match categorical_drift(reference, &counts) {
                Ok(d) => {
                    (out.status, out.breaches) = thresholds.evaluate_categorical(&d);
                    out.categorical = Some(d);
                    return out;
                }
                Err(e) => e.to_string(),
            },
        },
    };
    out.message = Some(message);
    out
}
