//! Drift of a categorical column: the L-infinity distance of category shares and
//! Pearson's chi-squared test of homogeneity.
//!
//! Why homogeneity (the 2×k contingency table baseline-vs-current, as
//! `scipy.stats.chi2_contingency(table, correction=False)`) and not goodness of
//! fit of the current counts against the baseline's shares
//! (`scipy.stats.chisquare`):
//! - the baseline is itself a sample, not the true distribution; the
//!   homogeneity test accounts for its noise too, where goodness of fit would
//!   treat the baseline's shares as exact and overstate significance for a small
//!   baseline;
//! - a category seen only in the current data has a baseline share of 0, which
//!   is an expected count of 0 under goodness of fit (a division by zero). Under
//!   homogeneity every category seen on either side has a positive pooled share,
//!   so new and vanished categories simply count, with no special case.
//!
//! No Yates correction: it only applies to 2×2 tables and would make the
//! statistic jump when a column goes from two categories to three.

use super::DriftError;
use crate::frame::ColumnData;
use domain::drift::{CategoricalDrift, CategoryShift};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How many categories a result lists in `top_shifts`.
pub const TOP_SHIFTS: usize = 10;

/// Counts of each category of a column, and of missing values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CategoryCounts {
    counts: HashMap<String, u64>,
    missing: u64,
}

impl CategoryCounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one value; `None` is missing.
    pub fn add(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.add_count(v, 1),
            None => self.missing += 1,
        }
    }

    /// Count `count` occurrences of `category` (a count of 0 adds nothing).
    pub fn add_count(&mut self, category: &str, count: u64) {
        if count == 0 {
            return;
        }
        match self.counts.get_mut(category) {
            Some(c) => *c += count,
            None => {
                self.counts.insert(category.to_owned(), count);
            }
        }
    }

    pub fn add_missing(&mut self, count: u64) {
        self.missing += count;
    }

    /// Counts of a string or bool column (`"true"`/`"false"`); `None` for the
    /// numeric and timestamp columns, which are not categorical.
    pub fn from_column(data: &ColumnData) -> Option<Self> {
        let mut counts = CategoryCounts::new();
        match data {
            ColumnData::Str(values) => values.iter().for_each(|v| counts.add(v.as_deref())),
            ColumnData::Bool(values) => {
                let trues = values.iter().filter(|v| **v == Some(true)).count() as u64;
                let falses = values.iter().filter(|v| **v == Some(false)).count() as u64;
                counts.add_count("true", trues);
                counts.add_count("false", falses);
                counts.add_missing(values.len() as u64 - trues - falses);
            }
            ColumnData::Int(_) | ColumnData::Float(_) | ColumnData::Timestamp(_) => return None,
        }
        Some(counts)
    }

    /// Values counted in some category.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn missing(&self) -> u64 {
        self.missing
    }

    pub fn get(&self, category: &str) -> u64 {
        self.counts.get(category).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counts.iter().map(|(k, &v)| (k.as_str(), v))
    }
}

impl<'a> FromIterator<Option<&'a str>> for CategoryCounts {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(iter: I) -> Self {
        let mut counts = CategoryCounts::new();
        iter.into_iter().for_each(|v| counts.add(v));
        counts
    }
}

/// The baseline's category counts, sorted by name; storable (serde).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CategoricalReferenceData", into = "CategoricalReferenceData")]
pub struct CategoricalReference {
    data: CategoricalReferenceData,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CategoricalReferenceData {
    /// (category, count > 0), sorted by category, no repeats.
    categories: Vec<(String, u64)>,
    missing: u64,
}

impl From<CategoricalReference> for CategoricalReferenceData {
    fn from(r: CategoricalReference) -> Self {
        r.data
    }
}

impl TryFrom<CategoricalReferenceData> for CategoricalReference {
    type Error = DriftError;

    fn try_from(d: CategoricalReferenceData) -> Result<Self, DriftError> {
        if d.categories.is_empty() {
            return Err(DriftError::CorruptReference("it has no categories".into()));
        }
        if d.categories.iter().any(|(_, c)| *c == 0) || d.categories.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(DriftError::CorruptReference(
                "its categories are not sorted, unique, with positive counts".into(),
            ));
        }
        Ok(CategoricalReference { data: d })
    }
}

impl CategoricalReference {
    /// From the baseline's counts. Errors when no value was counted.
    pub fn new(counts: &CategoryCounts) -> Result<Self, DriftError> {
        Self::from_counts(counts.iter().map(|(k, v)| (k.to_owned(), v)), counts.missing())
    }

    /// From (category, count) pairs (repeats are added up, zero counts dropped).
    pub fn from_counts(
        counts: impl IntoIterator<Item = (String, u64)>,
        missing: u64,
    ) -> Result<Self, DriftError> {
        let mut categories: Vec<(String, u64)> = counts.into_iter().filter(|(_, c)| *c > 0).collect();
        categories.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        categories.dedup_by(|later, first| {
            if later.0 == first.0 {
                first.1 += later.1;
                true
            } else {
                false
            }
        });
        if categories.is_empty() {
            return Err(DriftError::EmptyReference { missing });
        }
        Ok(CategoricalReference { data: CategoricalReferenceData { categories, missing } })
    }

    pub fn total(&self) -> u64 {
        self.data.categories.iter().map(|(_, c)| c).sum()
    }

    pub fn missing(&self) -> u64 {
        self.data.missing
    }

    /// (category, count), sorted by category.
    pub fn categories(&self) -> &[(String, u64)] {
        &self.data.categories
    }
}

/// Drift of the current counts against the baseline's.
///
/// Errors with [`DriftError::EmptyCurrent`] when nothing was counted.
pub fn categorical_drift(
    reference: &CategoricalReference,
    current: &CategoryCounts,
) -> Result<CategoricalDrift, DriftError> {
    let n_ref = reference.total();
    let n_cur = current.total();
    if n_cur == 0 {
        return Err(DriftError::EmptyCurrent { missing: current.missing() });
    }

    // The union of categories, sorted by name: (category, ref count, cur count).
    let mut rows: Vec<(&str, u64, u64)> =
        reference.categories().iter().map(|(k, r)| (k.as_str(), *r, current.get(k))).collect();
    let mut new_categories: Vec<(&str, u64, u64)> = current
        .iter()
        .filter(|(k, _)| reference.categories().binary_search_by(|(r, _)| r.as_str().cmp(k)).is_err())
        .map(|(k, c)| (k, 0, c))
        .collect();
    let new_count = new_categories.len() as u64;
    rows.append(&mut new_categories);
    rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let vanished = rows.iter().filter(|(_, _, c)| *c == 0).count() as u64;

    let (nr, nc) = (n_ref as f64, n_cur as f64);
    let total = nr + nc;
    let mut l_infinity = -1.0;
    let mut l_infinity_category = "";
    let mut chi_squared = 0.0;
    for &(k, r, c) in &rows {
        let diff = (r as f64 / nr - c as f64 / nc).abs();
        if diff > l_infinity {
            l_infinity = diff;
            l_infinity_category = k;
        }
        // Expected counts under homogeneity: row total × column total / N.
        let column = (r + c) as f64;
        let expected_ref = nr * column / total;
        let expected_cur = nc * column / total;
        chi_squared += (r as f64 - expected_ref).powi(2) / expected_ref;
        chi_squared += (c as f64 - expected_cur).powi(2) / expected_cur;
    }
    let dof = rows.len() as u64 - 1;
    let chi_squared_p_value = chi_squared_sf(chi_squared, dof);
    let chi_squared = if dof == 0 { 0.0 } else { chi_squared };

    let mut shifts: Vec<CategoryShift> = rows
        .iter()
        .map(|&(k, r, c)| CategoryShift {
            category: k.to_owned(),
            reference: r as f64 / nr,
            current: c as f64 / nc,
        })
        .collect();
    shifts.sort_by(|a, b| {
        (b.current - b.reference)
            .abs()
            .total_cmp(&(a.current - a.reference).abs())
            .then_with(|| a.category.cmp(&b.category))
    });
    shifts.truncate(TOP_SHIFTS);

    Ok(CategoricalDrift {
        reference_count: n_ref,
        reference_missing: reference.missing(),
        current_count: n_cur,
        current_missing: current.missing(),
        categories: rows.len() as u64,
        new_categories: new_count,
        vanished_categories: vanished,
        l_infinity: l_infinity.max(0.0),
        l_infinity_category: l_infinity_category.to_owned(),
        chi_squared,
        chi_squared_dof: dof,
        chi_squared_p_value,
        top_shifts: shifts,
    })
}

/// Pr(χ²_dof > x): the regularised upper incomplete gamma Q(dof/2, x/2). With
/// no degrees of freedom (one category on both sides) the tables agree: p = 1,
/// as SciPy's `chi2_contingency` returns.
pub fn chi_squared_sf(x: f64, dof: u64) -> f64 {
    if dof == 0 || x.is_nan() || x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    statrs::function::gamma::checked_gamma_ur(dof as f64 / 2.0, x / 2.0).map_or(1.0, |p| p.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> CategoryCounts {
        let mut c = CategoryCounts::new();
        pairs.iter().for_each(|(k, n)| c.add_count(k, *n));
        c
    }

    #[test]
    fn identical_shares_have_no_drift() {
        let reference = CategoricalReference::new(&counts(&[("a", 10), ("b", 30)])).unwrap();
        let d = categorical_drift(&reference, &counts(&[("a", 100), ("b", 300)])).unwrap();
        assert_eq!(d.l_infinity, 0.0);
        assert_eq!(d.chi_squared, 0.0);
        assert_eq!(d.chi_squared_p_value, 1.0);
        assert_eq!(d.chi_squared_dof, 1);
    }

    #[test]
    fn new_and_vanished_categories_count_without_dividing_by_zero() {
        let reference = CategoricalReference::new(&counts(&[("a", 50), ("b", 50)])).unwrap();
        let d = categorical_drift(&reference, &counts(&[("a", 50), ("c", 50)])).unwrap();
        assert_eq!((d.categories, d.new_categories, d.vanished_categories), (3, 1, 1));
        assert_eq!(d.l_infinity, 0.5);
        assert_eq!(d.l_infinity_category, "b"); // b and c tie at 0.5: first by name
        assert!(d.chi_squared.is_finite() && d.chi_squared_p_value < 1e-10);
        assert_eq!(d.top_shifts[0].category, "b");
        assert_eq!(d.top_shifts[1].category, "c");
    }

    #[test]
    fn one_category_on_both_sides_has_zero_degrees_of_freedom() {
        let reference = CategoricalReference::new(&counts(&[("x", 5)])).unwrap();
        let d = categorical_drift(&reference, &counts(&[("x", 7)])).unwrap();
        assert_eq!((d.chi_squared_dof, d.chi_squared, d.chi_squared_p_value), (0, 0.0, 1.0));
    }

    #[test]
    fn empty_sides_are_errors() {
        let none = CategoryCounts::from_iter([None, None]);
        assert_eq!(CategoricalReference::new(&none), Err(DriftError::EmptyReference { missing: 2 }));
        let reference = CategoricalReference::new(&counts(&[("x", 5)])).unwrap();
        assert_eq!(categorical_drift(&reference, &none), Err(DriftError::EmptyCurrent { missing: 2 }));
    }

    #[test]
    fn chi_squared_p_values_stay_in_range_at_extremes() {
        for dof in [1u64, 2, 10, 1_000, 100_000, 10_000_000] {
            for x in [1e-300, 1e-3, 1.0, dof as f64 * 0.5, dof as f64, dof as f64 * 2.0, 1e9, 1e300] {
                let p = chi_squared_sf(x, dof);
                assert!((0.0..=1.0).contains(&p), "chi2.sf({x}, {dof}) = {p}");
            }
        }
        assert_eq!(chi_squared_sf(f64::INFINITY, 3), 0.0);
        assert_eq!(chi_squared_sf(f64::NAN, 3), 1.0);
    }

    #[test]
    fn bool_columns_count_as_true_and_false() {
        let c =
            CategoryCounts::from_column(&ColumnData::Bool(vec![Some(true), None, Some(false), Some(true)]))
                .unwrap();
        assert_eq!((c.get("true"), c.get("false"), c.missing()), (2, 1, 1));
        assert!(CategoryCounts::from_column(&ColumnData::Int(vec![])).is_none());
    }

    #[test]
    fn stored_references_round_trip_and_reject_damage() {
        let r = CategoricalReference::from_counts([("b".into(), 2), ("a".into(), 1), ("b".into(), 3)], 4)
            .unwrap();
        assert_eq!(r.categories(), &[("a".to_string(), 1), ("b".to_string(), 5)]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(serde_json::from_value::<CategoricalReference>(json).unwrap(), r);
        let broken = serde_json::json!({"categories": [["b", 1], ["a", 1]], "missing": 0});
        assert!(serde_json::from_value::<CategoricalReference>(broken).is_err());
    }
}
