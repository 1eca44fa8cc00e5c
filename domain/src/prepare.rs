//! Data preparation: what a user asks for (`TransformSpec`) and what fitting it on
//! a training split learned (`FittedTransform`).
//!
//! Both are plain data so they can be stored (inside model bundles and dataset
//! versions), sent to the dashboard and compared across runs. The logic that fits
//! and applies them lives in `ml::prepare`; serving applies exactly the stored
//! `FittedTransform`, so training and serving see the same features.
//!
//! A spec in YAML looks like this (JSON has the same shape):
//!
//! ```yaml
//! target: Status            # optional: kept out of the feature defaults, may be absent when serving
//! steps:
//!   - op: filter
//!     expr: 'Age >= 18 and (Home = "rent" or Income > 100) and Status is not null'
//!   - op: impute
//!     strategy: median      # mean | median | most_frequent | {constant: <value>}
//!     columns: [Income, Assets]
//!   - op: one_hot
//!     columns: [Home, Marital]
//!     max_categories: 5
//!   - op: standard_scale    # no `columns`: every int/float column except the target
//! split:
//!   method: stratified
//!   column: Status
//!   test_fraction: 0.2
//!   seed: 7
//! ```

use serde::{Deserialize, Serialize};

use crate::datasets::ColumnType;

/// An ordered list of preparation steps plus an optional train/test split.
///
/// Steps run in order; each sees the columns the previous one produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    /// The label column, if the data has one. It passes through steps that do not
    /// name it, is left out of "all numeric columns" defaults and of the feature
    /// matrix, is always kept by `select`, and may be absent when the fitted
    /// transform is applied at serving time (steps that name it then skip it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitSpec>,
}

/// One preparation step, tagged by `op`.
///
/// Order matters: a step's default "every int/float column" includes columns
/// earlier steps made, so put `standard_scale` before `one_hot` to keep the
/// indicator columns 0/1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Keep only these columns, in this order (the target is kept too).
    Select { columns: Vec<String> },
    /// Remove these columns.
    Drop { columns: Vec<String> },
    /// Keep the rows where the expression is true, e.g.
    /// `age >= 18 and (home = "rent" or income > 100) and status is not null`.
    /// A comparison with a missing value is unknown (SQL semantics), so such rows
    /// are dropped unless the expression tests `is null` explicitly.
    Filter { expr: String },
    /// Fill missing values.
    Impute {
        strategy: ImputeStrategy,
        /// Default: every int/float column except the target.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<String>>,
    },
    /// One 0/1 column per category (`<column>_<category>`), replacing the column.
    /// Categories are learned at fit and sorted. A category not seen at fit, or a
    /// missing value, encodes as all zeros.
    OneHot {
        columns: Vec<String>,
        /// At most this many output columns per input column, counting
        /// `<column>_other`: the `max_categories - 1` most frequent categories
        /// keep their own column and the rest share `other` (as scikit-learn's
        /// `max_categories`). At least 2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_categories: Option<usize>,
    },
    /// Replace each category by its index in the sorted categories seen at fit.
    /// Missing values stay missing.
    Ordinal {
        columns: Vec<String>,
        #[serde(default)]
        unknown: UnknownCategory,
    },
    /// `(x - mean) / std`, with mean and population std (ddof 0) learned at fit.
    /// A constant column (std 0) is only centred.
    StandardScale {
        /// Default: every int/float column except the target.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<String>>,
    },
    /// `(x - min) / (max - min)`, with min and max learned at fit. A constant
    /// column is only shifted (`x - min`, as scikit-learn). Values outside the
    /// fitted range map outside [0, 1].
    MinMaxScale {
        /// Default: every int/float column except the target.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<String>>,
    },
    /// `ln(x + offset)`. A value `<= -offset` is an error naming the row.
    Log {
        columns: Vec<String>,
        #[serde(default)]
        offset: f64,
    },
    /// Calendar parts of timestamp columns (UTC), as int columns named
    /// `<column>_<part>` that replace the column unless `keep` is set.
    DateParts {
        columns: Vec<String>,
        parts: Vec<DatePart>,
        #[serde(default)]
        keep: bool,
    },
}

impl Step {
    /// The `op` tag, for messages.
    pub fn op(&self) -> &'static str {
        match self {
            Step::Select { .. } => "select",
            Step::Drop { .. } => "drop",
            Step::Filter { .. } => "filter",
            Step::Impute { .. } => "impute",
            Step::OneHot { .. } => "one_hot",
            Step::Ordinal { .. } => "ordinal",
            Step::StandardScale { .. } => "standard_scale",
            Step::MinMaxScale { .. } => "min_max_scale",
            Step::Log { .. } => "log",
            Step::DateParts { .. } => "date_parts",
        }
    }
}

/// How `impute` chooses the fill value. `mean` and `median` need a numeric
/// column and turn an int column into a float one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImputeStrategy {
    Mean,
    Median,
    /// The most frequent value (ties: the smallest).
    MostFrequent,
    /// A given value, e.g. `{constant: 0}` or `{constant: "unknown"}`.
    Constant(Scalar),
}

/// A literal value: a fill value, or a value learned at fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// What `ordinal` does with a category it did not see at fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnknownCategory {
    /// Encode it as [`UNKNOWN_CATEGORY_CODE`] (-1).
    #[default]
    Code,
    /// Fail, naming the column, the value and the row.
    Error,
}

/// The ordinal code of a category not seen at fit (with `unknown: code`).
pub const UNKNOWN_CATEGORY_CODE: i64 = -1;

/// A calendar part of a timestamp, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DatePart {
    Year,
    /// 1 to 12.
    Month,
    /// Day of the month, 1 to 31.
    Day,
    /// Monday = 0 to Sunday = 6 (as pandas' `dayofweek`).
    Weekday,
    /// 0 to 23.
    Hour,
    /// 1 to 366.
    DayOfYear,
}

impl DatePart {
    pub fn as_str(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Month => "month",
            DatePart::Day => "day",
            DatePart::Weekday => "weekday",
            DatePart::Hour => "hour",
            DatePart::DayOfYear => "day_of_year",
        }
    }
}

/// How rows are divided into train and test, tagged by `method`. Every method is
/// deterministic: the same data and seed always give the same split, in every
/// release (the random generator and shuffle are pinned).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitSpec {
    /// `ceil(test_fraction * rows)` random rows go to test.
    Random {
        test_fraction: f64,
        #[serde(default)]
        seed: u64,
    },
    /// Each class of `column` is split in the same proportion (within one row).
    /// Every class needs at least two rows.
    Stratified {
        column: String,
        test_fraction: f64,
        #[serde(default)]
        seed: u64,
    },
    /// By time: rows before `before` go to train (the rest to test), or, with
    /// `test_fraction`, the latest fraction of rows goes to test. Give exactly one.
    Time {
        column: String,
        /// An RFC 3339 timestamp, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (UTC).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test_fraction: Option<f64>,
    },
}

/// A column's name and type: what a fitted transform expects and produces.
/// (Named `TransformColumn` in the OpenAPI document, apart from the dataset
/// schema's `ColumnSchema`.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TransformColumn))]
pub struct ColumnSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
}

/// What fitting a [`TransformSpec`] on a training frame learned: enough to apply
/// the same transformation to any later frame (test split, serving requests).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FittedTransform {
    /// Bumped when the stored shape changes incompatibly.
    pub format_version: u32,
    pub target: Option<String>,
    /// The columns the transform reads, with the types seen at fit. Applying it
    /// to a frame without one of them (except the target) or with another type
    /// is an error; other columns are ignored.
    pub input: Vec<ColumnSchema>,
    pub steps: Vec<FittedStep>,
    /// The columns every application produces, in this order (without the
    /// target's column when the target is absent).
    pub output: Vec<ColumnSchema>,
}

impl FittedTransform {
    pub const FORMAT_VERSION: u32 = 1;
}

/// One fitted step: the spec's step plus what it learned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FittedStep {
    Select { columns: Vec<String> },
    Drop { columns: Vec<String> },
    Filter { expr: String },
    Impute { fills: Vec<ImputeFill> },
    OneHot { columns: Vec<OneHotColumn> },
    Ordinal { columns: Vec<OrdinalColumn>, unknown: UnknownCategory },
    StandardScale { columns: Vec<Standardization> },
    MinMaxScale { columns: Vec<MinMaxRange> },
    Log { columns: Vec<String>, offset: f64 },
    DateParts { columns: Vec<String>, parts: Vec<DatePart>, keep: bool },
}

impl FittedStep {
    pub fn op(&self) -> &'static str {
        match self {
            FittedStep::Select { .. } => "select",
            FittedStep::Drop { .. } => "drop",
            FittedStep::Filter { .. } => "filter",
            FittedStep::Impute { .. } => "impute",
            FittedStep::OneHot { .. } => "one_hot",
            FittedStep::Ordinal { .. } => "ordinal",
            FittedStep::StandardScale { .. } => "standard_scale",
            FittedStep::MinMaxScale { .. } => "min_max_scale",
            FittedStep::Log { .. } => "log",
            FittedStep::DateParts { .. } => "date_parts",
        }
    }
}

/// The value that fills a column's missing entries. A float value in an int
/// column turns the column into a float one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImputeFill {
    pub column: String,
    pub value: Scalar,
}

/// A one-hot encoded column: one output column per category in `categories`
/// (sorted), plus `<column>_other` when `other` (categories seen at fit but
/// folded by `max_categories`) is not empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OneHotColumn {
    pub column: String,
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

/// An ordinal encoded column: a category's code is its index in `categories`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrdinalColumn {
    pub column: String,
    pub categories: Vec<String>,
}

/// Mean and population standard deviation learned at fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Standardization {
    pub column: String,
    pub mean: f64,
    pub std: f64,
}

/// Minimum and maximum learned at fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MinMaxRange {
    pub column: String,
    pub min: f64,
    pub max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_from_json_with_defaults() {
        let spec: TransformSpec = serde_json::from_str(
            r#"{"target": "y", "steps": [
                {"op": "impute", "strategy": {"constant": "unknown"}, "columns": ["home"]},
                {"op": "impute", "strategy": "median"},
                {"op": "ordinal", "columns": ["job"]},
                {"op": "log", "columns": ["income"]}
            ], "split": {"method": "random", "test_fraction": 0.25}}"#,
        )
        .unwrap();
        assert_eq!(
            spec.steps[0],
            Step::Impute {
                strategy: ImputeStrategy::Constant(Scalar::Str("unknown".into())),
                columns: Some(vec!["home".into()])
            }
        );
        assert_eq!(spec.steps[1], Step::Impute { strategy: ImputeStrategy::Median, columns: None });
        assert_eq!(
            spec.steps[2],
            Step::Ordinal { columns: vec!["job".into()], unknown: UnknownCategory::Code }
        );
        assert_eq!(spec.steps[3], Step::Log { columns: vec!["income".into()], offset: 0.0 });
        assert_eq!(spec.split, Some(SplitSpec::Random { test_fraction: 0.25, seed: 0 }));
        let back: TransformSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn unknown_fields_and_ops_are_refused() {
        let typo = serde_json::from_str::<TransformSpec>(r#"{"steps": [{"op": "drop", "colums": ["a"]}]}"#);
        assert!(typo.unwrap_err().to_string().contains("colums"));
        let op = serde_json::from_str::<TransformSpec>(r#"{"steps": [{"op": "explode"}]}"#);
        assert!(op.unwrap_err().to_string().contains("explode"));
    }

    #[test]
    fn scalars_keep_their_type_through_json() {
        for s in [
            Scalar::Int(3),
            Scalar::Float(3.0),
            Scalar::Float(0.5),
            Scalar::Bool(true),
            Scalar::Str("3".into()),
        ] {
            let back: Scalar = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            assert_eq!(back, s);
        }
    }
}
