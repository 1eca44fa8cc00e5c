//! Everything that can stop a training run. The message becomes a failed run's
//! reason, so each one says what was wrong and what to change.

use domain::datasets::ColumnType;

use crate::prepare::PrepareError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A hyper-parameter out of range (from `Algorithm::validate`).
    #[error("{0}")]
    Algorithm(String),

    #[error("a {task} model needs a target column: choose the column to predict")]
    NoTarget { task: &'static str },

    #[error("there is no target column `{column}` (the columns are: {available})")]
    UnknownTarget { column: String, available: String },

    #[error("there is no {what} column `{column}` (the columns are: {available})")]
    UnknownColumn { what: &'static str, column: String, available: String },

    #[error("the target `{column}` is also listed as a feature: remove it from the features")]
    TargetIsFeature { column: String },

    #[error(
        "the target `{column}` is missing on {count} rows (the first is row {row}): \
         every training row needs a label; add a filter step `{column} is not null` to the \
         preparation, or remove those rows from the dataset"
    )]
    TargetMissing { column: String, count: usize, row: usize },

    #[error(
        "the target `{column}` has the single value `{value}` on every row: there is nothing to learn \
         (check the target column, or filter less)"
    )]
    ConstantTarget { column: String, value: String },

    #[error(
        "the target `{column}` is {got}, but regression needs a numeric (int or float) target: \
         pick a numeric column or a classification algorithm"
    )]
    NonNumericTarget { column: String, got: ColumnType },

    #[error(
        "class `{class}` of the target `{column}` appears in the test rows but not in the training rows: \
         the model cannot predict it (use a stratified split, or drop that class)"
    )]
    UnseenClass { column: String, class: String },

    /// Preparing the data, or turning it into a feature matrix, failed.
    #[error(transparent)]
    Prepare(#[from] PrepareError),

    #[error("no {side} rows are left after preparation: the filters removed them all")]
    NoRows { side: &'static str },

    #[error("no feature columns are left after preparation: select at least one input column")]
    NoFeatures,

    #[error(
        "k-means with {clusters} clusters needs at least {clusters} training rows, got {rows}: lower n_clusters"
    )]
    TooFewRows { clusters: usize, rows: usize },

    #[error("cross-validation needs 2 <= k <= rows ({rows}), got k = {k}")]
    Folds { k: usize, rows: usize },

    #[error("{algorithm} failed to train: {message}")]
    Fit { algorithm: &'static str, message: String },

    #[error(
        "{algorithm} produced non-finite parameters (the fit diverged): scale the features \
         (standard_scale) or increase the regularisation"
    )]
    Diverged { algorithm: &'static str },

    #[error("training was cancelled")]
    Cancelled,

    #[error("model bundle: {0}")]
    Bundle(String),

    #[error(
        "this model bundle has format version {found}, but this release reads version {expected}: \
         train the model again"
    )]
    BundleVersion { found: u32, expected: u32 },
}
