//! Every drift statistic against numpy/scipy: the values in
//! `fixtures/drift_reference.json`, written by `fixtures/drift_reference.py`.

use ml::drift::{
    CategoricalReference, CategoryCounts, NumericReference, categorical_drift, chi_squared_sf, kolmogorov_sf,
    numeric_drift,
};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Fixture {
    numeric: Vec<NumericCase>,
    categorical: Vec<CategoricalCase>,
    kolmogorov_sf: Vec<SfCase>,
    chi2_sf: Vec<Chi2Case>,
}

#[derive(Deserialize)]
struct NumericCase {
    name: String,
    bins: usize,
    reference: Vec<Option<f64>>,
    current: Vec<Option<f64>>,
    expected: NumericExpected,
}

#[derive(Deserialize)]
struct NumericExpected {
    reference_count: u64,
    current_count: u64,
    reference_missing: u64,
    current_missing: u64,
    ks_statistic: f64,
    ks_p_value: f64,
    psi: f64,
    psi_cuts: Vec<f64>,
    js_divergence: f64,
    js_distance: f64,
    histogram_edges: Vec<f64>,
    histogram_reference_counts: Vec<u64>,
    histogram_current_counts: Vec<u64>,
}

#[derive(Deserialize)]
struct CategoricalCase {
    name: String,
    reference: BTreeMap<String, u64>,
    current: BTreeMap<String, u64>,
    expected: CategoricalExpected,
}

#[derive(Deserialize)]
struct CategoricalExpected {
    l_infinity: f64,
    l_infinity_category: String,
    chi_squared: f64,
    chi_squared_p_value: f64,
    chi_squared_dof: u64,
    categories: u64,
}

#[derive(Deserialize)]
struct SfCase {
    n: u64,
    x: f64,
    sf: f64,
}

#[derive(Deserialize)]
struct Chi2Case {
    x: f64,
    dof: u64,
    sf: f64,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/drift_reference.json");
    serde_json::from_str(text).expect("fixture parses")
}

/// A statistic: 1e-9 relative, or 1e-12 absolute near zero.
fn assert_stat(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1e-3);
    assert!((got - want).abs() <= tol, "{what}: got {got:e}, scipy/numpy {want:e}");
}

/// A p-value: 1e-6 relative (so tiny p-values are checked too), or 1e-300
/// absolute where SciPy underflows to 0.
fn assert_p(what: &str, got: f64, want: f64) {
    let tol = 1e-6 * want.abs() + 1e-300;
    assert!((got - want).abs() <= tol, "{what}: got {got:e}, scipy {want:e}");
}

fn values(v: &[Option<f64>]) -> Vec<f64> {
    v.iter().map(|x| x.unwrap_or(f64::NAN)).collect()
}

#[test]
fn numeric_statistics_match_numpy_and_scipy() {
    let f = fixture();
    assert!(f.numeric.len() >= 10);
    for case in &f.numeric {
        let e = &case.expected;
        let name = &case.name;
        let reference = NumericReference::new(&values(&case.reference), case.bins).unwrap();
        let d = numeric_drift(&reference, &values(&case.current)).unwrap();

        assert_eq!(
            (d.reference_count, d.reference_missing, d.current_count, d.current_missing),
            (e.reference_count, e.reference_missing, e.current_count, e.current_missing),
            "{name}: counts"
        );
        assert_stat(&format!("{name}: KS statistic"), d.ks_statistic, e.ks_statistic);
        assert_p(&format!("{name}: KS p-value"), d.ks_p_value, e.ks_p_value);
        assert_stat(&format!("{name}: PSI"), d.psi, e.psi);
        assert_eq!(d.psi_cuts.len(), e.psi_cuts.len(), "{name}: PSI cuts");
        for (got, want) in d.psi_cuts.iter().zip(&e.psi_cuts) {
            assert_stat(&format!("{name}: PSI cut"), *got, *want);
        }
        assert_stat(&format!("{name}: JS divergence"), d.js_divergence, e.js_divergence);
        assert_stat(&format!("{name}: JS distance"), d.js_distance, e.js_distance);
        assert_eq!(d.histogram_edges, e.histogram_edges, "{name}: histogram edges");
        let total_ref = e.reference_count as f64;
        let total_cur = e.current_count as f64;
        let want_ref: Vec<f64> = e.histogram_reference_counts.iter().map(|&c| c as f64 / total_ref).collect();
        let want_cur: Vec<f64> = e.histogram_current_counts.iter().map(|&c| c as f64 / total_cur).collect();
        assert_eq!(d.histogram_reference, want_ref, "{name}: histogram of the baseline");
        assert_eq!(d.histogram_current, want_cur, "{name}: histogram of the current data");
        // Every figure is finite, so the DTO serialises to JSON and back unchanged.
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<domain::drift::NumericDrift>(&json).unwrap(), d, "{name}: JSON");
    }
}

#[test]
fn categorical_statistics_match_scipy() {
    let f = fixture();
    for case in &f.categorical {
        let e = &case.expected;
        let name = &case.name;
        let reference = CategoricalReference::from_counts(case.reference.clone(), 0).unwrap();
        let mut current = CategoryCounts::new();
        case.current.iter().for_each(|(k, c)| current.add_count(k, *c));
        let d = categorical_drift(&reference, &current).unwrap();

        assert_stat(&format!("{name}: L-infinity"), d.l_infinity, e.l_infinity);
        assert_eq!(d.l_infinity_category, e.l_infinity_category, "{name}: L-infinity category");
        assert_stat(&format!("{name}: chi-squared"), d.chi_squared, e.chi_squared);
        assert_p(&format!("{name}: chi-squared p-value"), d.chi_squared_p_value, e.chi_squared_p_value);
        assert_eq!((d.chi_squared_dof, d.categories), (e.chi_squared_dof, e.categories), "{name}: dof");
    }
}

#[test]
fn kolmogorov_survival_function_matches_scipy_kstwo_on_every_branch() {
    for c in fixture().kolmogorov_sf {
        assert_p(&format!("kstwo.sf({}, n={})", c.x, c.n), kolmogorov_sf(c.n, c.x), c.sf);
    }
}

#[test]
fn chi_squared_survival_function_matches_scipy() {
    for c in fixture().chi2_sf {
        assert_p(&format!("chi2.sf({}, {})", c.x, c.dof), chi_squared_sf(c.x, c.dof), c.sf);
    }
}
