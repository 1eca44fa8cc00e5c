//! Drift statistics, written once for both of their users: dataset validation
//! (a new dataset version against a baseline version) and model monitoring (a
//! serving window against the training data).
//!
//! - numeric columns ([`numeric`]): PSI over the baseline's deciles, the
//!   two-sample Kolmogorov–Smirnov statistic with SciPy's asymptotic p-value, and
//!   the Jensen–Shannon divergence over the baseline's histogram;
//! - categorical columns ([`categorical`]): L-infinity distance of category
//!   shares and the chi-squared test of homogeneity;
//! - tables ([`table`]): [`FrameReference`] prepared once from the baseline,
//!   [`drift_frame`] comparing a current [`crate::frame::Frame`] with it.
//!
//! The results are `domain::drift` DTOs; their pass/warn/fail rule is
//! `domain::drift::DriftThresholds::evaluate_numeric` / `evaluate_categorical`.
//! `tests/drift_reference.rs` checks every statistic against numpy/scipy.

pub mod categorical;
pub mod kolmogorov;
pub mod numeric;
mod parallel;
mod sort;
pub mod table;

pub use categorical::{CategoricalReference, CategoryCounts, categorical_drift, chi_squared_sf};
pub use kolmogorov::{kolmogorov_sf, ks_2samp_p_value};
pub use numeric::{
    NumericReference, js_divergence_sorted, ks_statistic, numeric_drift, numeric_drift_sorted, psi_sorted,
    sort_finite,
};
pub use table::{Baseline, ColumnReference, DriftOptions, FrameReference, drift_frame};

/// Why drift could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DriftError {
    #[error(
        "the baseline has no usable values ({missing} missing, NaN or infinite): a reference needs at least one value"
    )]
    EmptyReference { missing: u64 },
    #[error(
        "the current data has no usable values ({missing} missing, NaN or infinite): there is nothing to compare with the baseline"
    )]
    EmptyCurrent { missing: u64 },
    #[error("histogram bins must be between 1 and 10000, got {0}")]
    InvalidBins(usize),
    #[error("a capped reference sample must keep at least 2 values, got {0}")]
    InvalidSampleCap(usize),
    #[error("the stored drift reference is damaged ({0}): prepare it again from the baseline")]
    CorruptReference(String),
}
