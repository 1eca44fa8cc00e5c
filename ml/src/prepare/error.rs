//! Everything that can go wrong while parsing, fitting, applying or splitting.
//! Each message names the column (and row, where there is one) and says what to do,
//! because these errors reach the user who wrote the spec.

use domain::datasets::ColumnType;

/// Row numbers in messages count from 0 over the frame that was given to
/// `fit`/`apply`/`split` (before any filter).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PrepareError {
    /// The spec is malformed: bad JSON/YAML, a fraction out of range, an empty list.
    #[error("invalid transform spec: {0}")]
    Spec(String),

    /// An error inside step `step` (counted from 1) of the spec.
    #[error("step {step} ({op}): {error}")]
    Step { step: usize, op: &'static str, error: Box<PrepareError> },

    /// A filter expression that does not parse, or does not fit the columns.
    /// `offset` counts characters from 0; the message shows it from 1.
    #[error("filter `{expr}`: {message} at character {}", offset + 1)]
    Filter { expr: String, offset: usize, message: String },

    #[error("unknown column `{column}` (the columns are: {available})")]
    UnknownColumn { column: String, available: String },

    /// `apply` got a frame without a column the transform was fitted with.
    #[error("the input has no column `{column}`, which the transform was fitted with (as {expected})")]
    MissingColumn { column: String, expected: ColumnType },

    /// `apply` got a column whose type differs from the one seen at fit.
    #[error("column `{column}` is {got} but the transform was fitted with {expected}")]
    WrongType { column: String, expected: ColumnType, got: ColumnType },

    /// A step that cannot work on this column type.
    #[error("column `{column}` is {got}: {need}")]
    Unsupported { column: String, got: ColumnType, need: String },

    /// Fitting needs at least one value (after earlier filters) to learn from.
    #[error("column `{column}` has no values to learn the {what} from")]
    NoValues { column: String, what: &'static str },

    #[error("column `{column}`, row {row}: ln(x + {offset}) needs x > {bound}, got {value}")]
    LogDomain { column: String, row: usize, value: f64, offset: f64, bound: f64 },

    #[error(
        "column `{column}`, row {row}: category `{value}` was not seen at fit \
         (use `unknown: code` to encode it as -1)"
    )]
    UnknownCategory { column: String, row: usize, value: String },

    #[error("column `{column}`, row {row}: timestamp {micros} µs is outside the calendar")]
    TimestampRange { column: String, row: usize, micros: i64 },

    /// A step would create a column whose name is taken.
    #[error(
        "the step would create column `{column}`, which already exists: rename or drop that column first"
    )]
    NameClash { column: String },

    /// The target column cannot take part in this step.
    #[error("the target column `{column}` cannot be {what}")]
    Target { column: String, what: &'static str },

    #[error(
        "class `{class}` of column `{column}` has only one row: a stratified split needs at least two \
         rows per class (drop or merge that class, or split at random)"
    )]
    SingletonClass { column: String, class: String },

    #[error("column `{column}` is missing at row {row}: {need}")]
    MissingValue { column: String, row: usize, need: &'static str },

    #[error("the split leaves no rows for {side}: {detail}")]
    EmptySplit { side: &'static str, detail: String },

    /// The feature matrix needs numbers.
    #[error("column `{column}` is a {got}: {hint}")]
    NonNumeric { column: String, got: ColumnType, hint: &'static str },

    /// The feature matrix cannot hold missing values.
    #[error("column `{column}` has {count} missing values after preparation: add an impute step")]
    MissingAfterPrepare { column: String, count: usize },

    /// Applying produced other columns than fitting did: a bug in `ml::prepare`.
    #[error("internal error: applying the transform produced {got}, but fitting produced {expected}")]
    OutputMismatch { expected: String, got: String },
}

impl PrepareError {
    /// Attach the step (counted from 1) an error happened in.
    pub(crate) fn in_step(self, index: usize, op: &'static str) -> Self {
        PrepareError::Step { step: index + 1, op, error: Box::new(self) }
    }

    /// The innermost error, without the step it happened in.
    pub fn root(&self) -> &PrepareError {
        match self {
            PrepareError::Step { error, .. } => error.root(),
            other => other,
        }
    }
}
