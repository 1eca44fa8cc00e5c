//! A dataset version's profile: per-column statistics and charts, and the correlations
//! between numeric columns. `ml::profile` computes it while streaming the version's
//! batches; the services store it with the version as JSON and the dashboard draws the
//! column cards from it without recomputing anything (histogram edges and counts, top-k
//! labels and counts are all here).
//!
//! JSON has no NaN or infinity, so every statistic that can be undefined (no values,
//! zero variance, overflow) is an `Option` and travels as `null`.

use serde::{Deserialize, Serialize};

use crate::datasets::ColumnType;

/// The limits a profile was computed with. Kept inside the profile so the dashboard can
/// say why a statistic is approximate ("quantiles from a sketch above 1,000,000 values").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ProfileConfig {
    /// A numeric or timestamp column keeps its values (for exact quantiles, histogram
    /// and distinct count) while it has at most this many finite values; past that it
    /// switches to sketches.
    pub exact_row_limit: u64,
    /// Distinct counts (and string value counts) are exact up to this many distinct
    /// values; past that a HyperLogLog sketch and a heavy-hitters summary take over.
    pub distinct_limit: u64,
    /// Equal-width bins of numeric and timestamp histograms.
    pub histogram_bins: u32,
    /// How many of the most frequent values a string or bool column reports.
    pub top_k: u32,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        Self { exact_row_limit: 1_000_000, distinct_limit: 100_000, histogram_bins: 20, top_k: 20 }
    }
}

/// The profile of one dataset version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetProfile {
    /// Rows seen, missing values included.
    pub rows: u64,
    /// One per column, in schema order.
    pub columns: Vec<ColumnProfile>,
    /// Pearson correlations between the int and float columns.
    pub correlations: Correlations,
    pub config: ProfileConfig,
}

/// What every column has, plus the statistics for its kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnProfile {
    pub name: String,
    pub column_type: ColumnType,
    /// Non-missing values. For floats this includes ±infinity (see [`NumericStats`]).
    pub count: u64,
    /// Missing values (null, or NaN in a float column).
    pub missing: u64,
    /// Distinct non-missing values (±infinity count as values).
    pub distinct: u64,
    /// False when `distinct` is a HyperLogLog estimate (about 0.4 % standard error).
    pub distinct_exact: bool,
    pub stats: ColumnStats,
}

/// The statistics that depend on the column's type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnStats {
    /// Int and float columns.
    Numeric(NumericStats),
    /// String and bool columns.
    Categorical(TopK),
    Timestamp(TimestampStats),
}

/// Statistics of an int or float column.
///
/// Infinite values are counted (`pos_inf`, `neg_inf`, and in the column's `count`) but
/// left out of everything else here: min, max, mean, std, quantiles and histogram are
/// over the finite values, whose number is `count - pos_inf - neg_inf` (the histogram's
/// counts add up to exactly that). Int values are reported as f64, exact up to 2^53.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumericStats {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1 in the denominator, like pandas `describe`);
    /// `None` below two finite values.
    pub std: Option<f64>,
    /// Values equal to zero.
    pub zeros: u64,
    pub pos_inf: u64,
    pub neg_inf: u64,
    /// Quantiles in increasing `q`; empty when there is no finite value.
    pub quantiles: Vec<Quantile>,
    /// True when the quantiles are exact (numpy's default 'linear' interpolation);
    /// false when they come from a DDSketch (values within 0.5 % relative error).
    pub quantiles_exact: bool,
    /// `None` when there is no finite value.
    pub histogram: Option<Histogram>,
}

/// One quantile: `value` is the `q`-quantile (0 < q < 1) of the finite values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quantile {
    pub q: f64,
    pub value: f64,
}

/// An equal-width histogram over `[min, max]` (for timestamps: microseconds since the
/// epoch). Bin `i` holds values in `[edges[i], edges[i+1])`, the last bin also its
/// right edge, as `numpy.histogram`. When min equals max the range is widened to
/// `[min - 0.5, max + 0.5]`, as numpy does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Histogram {
    /// `counts.len() + 1` increasing edges.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    /// False when the counts were re-binned from a streaming histogram (more values
    /// than `exact_row_limit`): they still add up to the number of values, but a bin
    /// may be off by the share of one fine bin at each of its edges.
    pub exact: bool,
}

/// The most frequent values of a string or bool column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopK {
    /// Most frequent first; ties in increasing value order.
    pub values: Vec<ValueCount>,
    /// Non-missing values not among `values`: the column's count minus their counts.
    pub other: u64,
    /// True when the counts are exact. When false (more than `distinct_limit` distinct
    /// values), each count is a lower bound and the true count is at most
    /// `count + max_error`.
    pub exact: bool,
    pub max_error: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueCount {
    /// The value as text (`true`/`false` for bools).
    pub value: String,
    pub count: u64,
}

/// The time range of a timestamp column and how its values spread over it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimestampStats {
    /// Microseconds since the Unix epoch, UTC; `None` when the column has no value.
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Edges in microseconds since the epoch.
    pub histogram: Option<Histogram>,
}

/// Pearson correlations between the int and float columns, each pair over the rows
/// where both values are present and finite (pairwise-complete, like pandas `corr`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Correlations {
    pub columns: Vec<String>,
    /// A symmetric `columns.len()` square matrix, row-major: `pearson[i][j]` is the
    /// correlation of `columns[i]` and `columns[j]`. `None` where it is undefined: fewer
    /// than two shared rows, or a constant column.
    pub pearson: Vec<Vec<Option<f64>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_round_trips_through_json_with_nulls_for_undefined_values() {
        let profile = DatasetProfile {
            rows: 2,
            columns: vec![ColumnProfile {
                name: "x".into(),
                column_type: ColumnType::Float,
                count: 0,
                missing: 2,
                distinct: 0,
                distinct_exact: true,
                stats: ColumnStats::Numeric(NumericStats {
                    min: None,
                    max: None,
                    mean: None,
                    std: None,
                    zeros: 0,
                    pos_inf: 0,
                    neg_inf: 0,
                    quantiles: vec![],
                    quantiles_exact: true,
                    histogram: None,
                }),
            }],
            correlations: Correlations { columns: vec!["x".into()], pearson: vec![vec![None]] },
            config: ProfileConfig::default(),
        };
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["columns"][0]["stats"]["kind"], "numeric");
        assert_eq!(json["columns"][0]["column_type"], "float");
        assert!(json["columns"][0]["stats"]["mean"].is_null());
        assert!(json["correlations"]["pearson"][0][0].is_null());
        let back: DatasetProfile = serde_json::from_value(json).unwrap();
        assert_eq!(back, profile);
    }
}
