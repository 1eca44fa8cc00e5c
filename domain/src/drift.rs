//! Drift between a baseline and a current sample of a table's columns: the figures
//! the API and the dashboard show, the thresholds a user sets, and the rule that
//! turns figures into pass/warn/fail.
//!
//! Two features produce these: dataset validation (a new dataset version against a
//! baseline version) and model monitoring (a serving window against the training
//! data). `ml::drift` computes the statistics; the rule lives here so the browser
//! can re-evaluate a stored result against edited thresholds without a round trip.
//!
//! JSON has no NaN or infinity. Every `f64` in these types is finite by
//! construction (`ml::drift` reports a column with no usable values as
//! [`DriftStatus::InsufficientData`] with no statistics rather than NaN), and a
//! threshold that is not finite is rejected by [`DriftThresholds::validate`].

use crate::datasets::ColumnType;
use crate::validation::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The verdict for one column, from best to worst (the derived order is severity
/// for pass < warn < fail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    Pass,
    /// A distance statistic reached `warn_fraction` of its threshold, or only a
    /// p-value fell below its threshold.
    Warn,
    /// A distance statistic (PSI, Jensen–Shannon divergence, L-infinity) reached
    /// its threshold.
    Fail,
    /// One side has no usable values (empty, all missing, or the column is absent
    /// or of an incomparable type): nothing was compared. `message` says which.
    InsufficientData,
    /// The column is not compared by design (timestamps: a serving window's times
    /// always differ from the training data's).
    Skipped,
}

impl DriftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftStatus::Pass => "pass",
            DriftStatus::Warn => "warn",
            DriftStatus::Fail => "fail",
            DriftStatus::InsufficientData => "insufficient_data",
            DriftStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for DriftStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statistic that can trip a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriftStatistic {
    /// Population stability index over the baseline's deciles (numeric columns).
    Psi,
    /// Jensen–Shannon divergence, base 2, over the baseline's histogram (numeric).
    JsDivergence,
    /// Two-sample Kolmogorov–Smirnov test's p-value (numeric).
    KsPValue,
    /// Largest difference of a category's frequency (categorical columns).
    LInfinity,
    /// Chi-squared test of homogeneity's p-value (categorical).
    ChiSquaredPValue,
}

impl DriftStatistic {
    /// The name people read in reports.
    pub fn label(self) -> &'static str {
        match self {
            DriftStatistic::Psi => "PSI",
            DriftStatistic::JsDivergence => "JS divergence",
            DriftStatistic::KsPValue => "KS p-value",
            DriftStatistic::LInfinity => "L∞ distance",
            DriftStatistic::ChiSquaredPValue => "χ² p-value",
        }
    }
}

/// One statistic that crossed its warn or fail level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftBreach {
    pub statistic: DriftStatistic,
    pub value: f64,
    /// The threshold in force for this column (before `warn_fraction` is applied).
    pub threshold: f64,
    /// `warn` or `fail`.
    pub status: DriftStatus,
}

/// Thresholds for one column. The defaults are Vertex AI Model Monitoring's for
/// the distances (PSI 0.2 is also the usual "significant shift" rule of thumb)
/// and the conventional 5% level for the tests.
///
/// The rule ([`DriftThresholds::evaluate`]):
/// - a distance (PSI, JS divergence, L-infinity) `>= threshold` fails the column;
///   `>= warn_fraction * threshold` warns;
/// - a p-value `< threshold` only warns. With hundreds of thousands of rows every
///   negligible shift is "significant", so a test alone never fails a column: the
///   distances say whether the shift is large enough to matter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DriftThresholds {
    pub psi: f64,
    pub js_divergence: f64,
    pub l_infinity: f64,
    pub ks_p_value: f64,
    pub chi_squared_p_value: f64,
    /// Fraction of a distance threshold at which a column warns (0 < f <= 1).
    pub warn_fraction: f64,
}

impl Default for DriftThresholds {
    fn default() -> Self {
        Self {
            psi: 0.2,
            js_divergence: 0.3,
            l_infinity: 0.3,
            ks_p_value: 0.05,
            chi_squared_p_value: 0.05,
            warn_fraction: 0.75,
        }
    }
}

/// Per-column changes to the thresholds; a field left out keeps the config's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DriftThresholdOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub js_divergence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l_infinity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ks_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chi_squared_p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn_fraction: Option<f64>,
}

/// What a drift check applies: thresholds for every column, and overrides by
/// column name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DriftConfig {
    pub thresholds: DriftThresholds,
    pub columns: BTreeMap<String, DriftThresholdOverrides>,
}

impl DriftConfig {
    /// The thresholds in force for `column`.
    pub fn thresholds_for(&self, column: &str) -> DriftThresholds {
        match self.columns.get(column) {
            Some(o) => self.thresholds.with_overrides(o),
            None => self.thresholds,
        }
    }

    /// Every threshold, including each column's merged set, is usable.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.thresholds.validate("thresholds")?;
        for (name, o) in &self.columns {
            self.thresholds.with_overrides(o).validate(&format!("columns.{name}"))?;
        }
        Ok(())
    }
}

impl DriftThresholds {
    pub fn with_overrides(&self, o: &DriftThresholdOverrides) -> DriftThresholds {
        DriftThresholds {
            psi: o.psi.unwrap_or(self.psi),
            js_divergence: o.js_divergence.unwrap_or(self.js_divergence),
            l_infinity: o.l_infinity.unwrap_or(self.l_infinity),
            ks_p_value: o.ks_p_value.unwrap_or(self.ks_p_value),
            chi_squared_p_value: o.chi_squared_p_value.unwrap_or(self.chi_squared_p_value),
            warn_fraction: o.warn_fraction.unwrap_or(self.warn_fraction),
        }
    }

    /// Distances must be finite and positive, p-value levels and `warn_fraction`
    /// in (0, 1]. `prefix` names where these thresholds sit in the input.
    pub fn validate(&self, prefix: &str) -> Result<(), ValidationError> {
        let positive =
            [("psi", self.psi), ("js_divergence", self.js_divergence), ("l_infinity", self.l_infinity)];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(ValidationError::new(
                    format!("{prefix}.{name}"),
                    format!("must be a positive number, got {v}"),
                ));
            }
        }
        let fractions = [
            ("ks_p_value", self.ks_p_value),
            ("chi_squared_p_value", self.chi_squared_p_value),
            ("warn_fraction", self.warn_fraction),
        ];
        for (name, v) in fractions {
            if !(v > 0.0 && v <= 1.0) {
                return Err(ValidationError::new(
                    format!("{prefix}.{name}"),
                    format!("must be greater than 0 and at most 1, got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// The verdict for a numeric column's figures: the worst breach, or pass.
    pub fn evaluate_numeric(&self, d: &NumericDrift) -> (DriftStatus, Vec<DriftBreach>) {
        self.evaluate(&[
            Check::Distance(DriftStatistic::Psi, d.psi, self.psi),
            Check::Distance(DriftStatistic::JsDivergence, d.js_divergence, self.js_divergence),
            Check::PValue(DriftStatistic::KsPValue, d.ks_p_value, self.ks_p_value),
        ])
    }

    /// The verdict for a categorical column's figures: the worst breach, or pass.
    pub fn evaluate_categorical(&self, d: &CategoricalDrift) -> (DriftStatus, Vec<DriftBreach>) {
        self.evaluate(&[
            Check::Distance(DriftStatistic::LInfinity, d.l_infinity, self.l_infinity),
            Check::PValue(DriftStatistic::ChiSquaredPValue, d.chi_squared_p_value, self.chi_squared_p_value),
        ])
    }

    fn evaluate(&self, checks: &[Check]) -> (DriftStatus, Vec<DriftBreach>) {
        let mut breaches = Vec::new();
        for check in checks {
            let (statistic, value, threshold, status) = match *check {
                Check::Distance(s, v, t) if v >= t => (s, v, t, DriftStatus::Fail),
                Check::Distance(s, v, t) if v >= self.warn_fraction * t => (s, v, t, DriftStatus::Warn),
                Check::PValue(s, p, t) if p < t => (s, p, t, DriftStatus::Warn),
                _ => continue,
            };
            breaches.push(DriftBreach { statistic, value, threshold, status });
        }
        let status = breaches.iter().map(|b| b.status).max().unwrap_or(DriftStatus::Pass);
        (status, breaches)
    }
}

enum Check {
    Distance(DriftStatistic, f64, f64),
    PValue(DriftStatistic, f64, f64),
}

/// Drift figures for a numeric (int or float) column. All values are finite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumericDrift {
    /// Usable (finite) baseline values.
    pub reference_count: u64,
    /// Baseline values that were missing, NaN or infinite.
    pub reference_missing: u64,
    pub current_count: u64,
    pub current_missing: u64,
    /// Population stability index, natural log, over the PSI bins below.
    pub psi: f64,
    /// Largest distance between the two empirical CDFs.
    pub ks_statistic: f64,
    /// Two-sided asymptotic p-value (as `scipy.stats.ks_2samp(method="asymp")`).
    pub ks_p_value: f64,
    /// How many sorted baseline values the KS statistic was computed against:
    /// `reference_count`, or fewer when the reference keeps a capped sample.
    pub ks_reference_size: u64,
    /// Jensen–Shannon divergence, base 2, in [0, 1].
    pub js_divergence: f64,
    /// Its square root, the Jensen–Shannon distance (what
    /// `scipy.spatial.distance.jensenshannon(base=2)` returns).
    pub js_distance: f64,
    /// The baseline's distinct deciles: PSI bins are `(-inf, c0], (c0, c1], ...,
    /// (c_last, +inf)`, so there is one more bin than cut.
    pub psi_cuts: Vec<f64>,
    /// Share of the baseline in each PSI bin (before the 1e-4 floor).
    pub psi_reference: Vec<f64>,
    /// Share of the current data in each PSI bin (before the 1e-4 floor).
    pub psi_current: Vec<f64>,
    /// Equal-width bin edges over the baseline's [min, max] (one more edge than bins).
    pub histogram_edges: Vec<f64>,
    pub histogram_reference: Vec<f64>,
    /// Current values outside [min, max] are counted in the first or last bin.
    pub histogram_current: Vec<f64>,
}

/// One category's share on both sides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryShift {
    pub category: String,
    pub reference: f64,
    pub current: f64,
}

/// Drift figures for a categorical (string or bool) column. All values are finite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoricalDrift {
    pub reference_count: u64,
    pub reference_missing: u64,
    pub current_count: u64,
    pub current_missing: u64,
    /// Distinct categories seen on either side.
    pub categories: u64,
    /// Categories seen only in the current data.
    pub new_categories: u64,
    /// Categories seen only in the baseline.
    pub vanished_categories: u64,
    /// max over categories of |p_reference - p_current|.
    pub l_infinity: f64,
    /// The category where `l_infinity` is reached (the first by name on ties).
    pub l_infinity_category: String,
    /// Pearson's chi-squared statistic of the 2×k test of homogeneity.
    pub chi_squared: f64,
    /// Its degrees of freedom: categories - 1.
    pub chi_squared_dof: u64,
    pub chi_squared_p_value: f64,
    /// The categories whose share changed most, largest change first (at most 10).
    pub top_shifts: Vec<CategoryShift>,
}

/// The drift verdict and figures for one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnDrift {
    pub column: String,
    /// The baseline's type for the column.
    pub column_type: ColumnType,
    pub status: DriftStatus,
    /// Each statistic that crossed its warn or fail level (empty on pass).
    pub breaches: Vec<DriftBreach>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericDrift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categorical: Option<CategoricalDrift>,
    /// Why a column is `insufficient_data` or `skipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(psi: f64, js: f64, ks_p: f64) -> NumericDrift {
        NumericDrift {
            reference_count: 10,
            reference_missing: 0,
            current_count: 10,
            current_missing: 0,
            psi,
            ks_statistic: 0.1,
            ks_p_value: ks_p,
            ks_reference_size: 10,
            js_divergence: js,
            js_distance: js.sqrt(),
            psi_cuts: vec![],
            psi_reference: vec![1.0],
            psi_current: vec![1.0],
            histogram_edges: vec![0.0, 1.0],
            histogram_reference: vec![1.0],
            histogram_current: vec![1.0],
        }
    }

    #[test]
    fn distances_fail_and_warn_p_values_only_warn() {
        let t = DriftThresholds::default();
        assert_eq!(t.evaluate_numeric(&numeric(0.0, 0.0, 0.9)), (DriftStatus::Pass, vec![]));

        let (status, breaches) = t.evaluate_numeric(&numeric(0.25, 0.0, 0.9));
        assert_eq!(status, DriftStatus::Fail);
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].statistic, DriftStatistic::Psi);
        assert_eq!(breaches[0].threshold, 0.2);

        // 0.16 >= 0.75 * 0.2: warn.
        let (status, breaches) = t.evaluate_numeric(&numeric(0.16, 0.0, 0.9));
        assert_eq!((status, breaches[0].status), (DriftStatus::Warn, DriftStatus::Warn));

        // A tiny p-value alone only warns.
        let (status, breaches) = t.evaluate_numeric(&numeric(0.01, 0.01, 1e-30));
        assert_eq!(status, DriftStatus::Warn);
        assert_eq!(breaches[0].statistic, DriftStatistic::KsPValue);

        // Every breach is listed, the status is the worst.
        let (status, breaches) = t.evaluate_numeric(&numeric(0.16, 0.5, 1e-30));
        assert_eq!(status, DriftStatus::Fail);
        let tripped: Vec<_> = breaches.iter().map(|b| (b.statistic, b.status)).collect();
        assert_eq!(
            tripped,
            vec![
                (DriftStatistic::Psi, DriftStatus::Warn),
                (DriftStatistic::JsDivergence, DriftStatus::Fail),
                (DriftStatistic::KsPValue, DriftStatus::Warn),
            ]
        );
    }

    #[test]
    fn column_overrides_change_only_the_fields_they_name() {
        let cfg: DriftConfig = serde_json::from_str(r#"{"columns": {"age": {"psi": 0.1}}}"#).unwrap();
        let age = cfg.thresholds_for("age");
        assert_eq!(age.psi, 0.1);
        assert_eq!(age.js_divergence, 0.3);
        assert_eq!(cfg.thresholds_for("income"), DriftThresholds::default());
        assert!(cfg.validate().is_ok());

        let bad: DriftConfig = serde_json::from_str(r#"{"columns": {"age": {"ks_p_value": 1.5}}}"#).unwrap();
        let err = bad.validate().unwrap_err();
        assert_eq!(err.field, "columns.age.ks_p_value");
        let bad = DriftConfig {
            thresholds: DriftThresholds { psi: f64::NAN, ..Default::default() },
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "thresholds.psi");
    }

    #[test]
    fn statuses_serialise_in_snake_case_and_order_by_severity() {
        assert_eq!(serde_json::to_string(&DriftStatus::InsufficientData).unwrap(), r#""insufficient_data""#);
        assert_eq!(
            serde_json::to_string(&DriftStatistic::ChiSquaredPValue).unwrap(),
            r#""chi_squared_p_value""#
        );
        assert!(DriftStatus::Pass < DriftStatus::Warn && DriftStatus::Warn < DriftStatus::Fail);
        let t: DriftThresholds = serde_json::from_str("{}").unwrap();
        assert_eq!(t, DriftThresholds::default());
    }
}
