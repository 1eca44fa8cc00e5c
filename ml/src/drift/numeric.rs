//! Drift of a numeric column: PSI over the baseline's deciles, the two-sample
//! Kolmogorov–Smirnov test, and the Jensen–Shannon divergence over the baseline's
//! equal-width histogram.
//!
//! Everything the baseline contributes is prepared once in a [`NumericReference`]
//! (sorted values, deciles, histogram). A check then sorts the current column
//! once and reads all three statistics off that sorted array: KS by merging it
//! with the sorted baseline, PSI and histogram counts by binary search for each
//! bin edge. After the sort (see `sort.rs`) that is one O(n) merge plus
//! O(bins · log n) searches, with no per-value binning.
//!
//! Definitions (the fixture script `tests/fixtures/drift_reference.py` computes
//! the same with numpy/scipy):
//! - **Missing**: NaN and ±infinity are skipped and counted as missing.
//! - **Deciles**: numpy's default `quantile(method="linear")` (Hyndman & Fan
//!   type 7) at 0.1, 0.2, ..., 0.9 of the baseline.
//! - **PSI bins**: `(-inf, c0], (c0, c1], ..., (c_last, +inf)` over the distinct
//!   deciles. Ties make deciles repeat (e.g. a column that is 0 in 30% of rows);
//!   a repeated cut would only add a bin that is empty on both sides, whose PSI
//!   term is 0, so repeats are dropped and the value is unchanged.
//! - **PSI**: Σ (c - r)·ln(c / r) over bins, where r and c are the baseline's and
//!   the current data's share of each bin, each floored at 1e-4
//!   (`max(share, 1e-4)`). Flooring every share below 1e-4, not only empty bins,
//!   keeps PSI monotone: one value in a bin never scores worse than none.
//! - **Histogram**: `bins` equal-width bins over the baseline's [min, max], edges
//!   as `numpy.histogram` (`linspace`; last bin closed; a constant baseline gets
//!   [v - 0.5, v + 0.5]). Current values outside the range count in the first or
//!   last bin.
//! - **JS divergence**: ½·KL(p‖m) + ½·KL(q‖m), m = (p+q)/2, in bits (0..=1) over
//!   those bins; `js_distance` is its square root, which is what
//!   `scipy.spatial.distance.jensenshannon(p, q, base=2)` returns.
//! - **KS**: `scipy.stats.ks_2samp(reference, current, method="asymp")`, two-sided.

use super::DriftError;
use super::kolmogorov::ks_2samp_p_value;
use super::sort::sorted_finite;
use domain::drift::NumericDrift;
use serde::{Deserialize, Serialize};

/// Shares below this count as this in PSI, so an empty bin has a finite log.
pub const PSI_FLOOR: f64 = 1e-4;
/// Histogram bins a reference may ask for (more only costs memory and storage).
pub const MAX_HISTOGRAM_BINS: usize = 10_000;
/// The bin count used when none is given (Cairn's profile histograms use 20).
pub const DEFAULT_HISTOGRAM_BINS: usize = 20;

/// What a numeric drift check needs from the baseline, prepared once and
/// storable (serde) next to a dataset profile or a model bundle.
///
/// `sample` holds the sorted baseline for KS: all finite values, or an evenly
/// spaced selection of them when built with a cap. With a cap of m values the
/// baseline's empirical CDF is known only at m points, so the KS statistic can
/// differ from the exact one by at most about 1/m (1e-5 for m = 100,000); the
/// p-value still uses the full baseline count. Deciles and histogram always come
/// from every value, so PSI and JS are exact either way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NumericReferenceData", into = "NumericReferenceData")]
pub struct NumericReference {
    data: NumericReferenceData,
}

/// The stored form; checked on the way in so a damaged reference is an error,
/// not a panic later. Store it in a format that keeps every bit of an f64
/// (serde_json with `float_roundtrip`, or a binary format) so a reloaded
/// reference gives the same figures to the last digit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct NumericReferenceData {
    count: u64,
    missing: u64,
    psi_cuts: Vec<f64>,
    psi_counts: Vec<u64>,
    histogram_edges: Vec<f64>,
    histogram_counts: Vec<u64>,
    sample: Vec<f64>,
}

impl From<NumericReference> for NumericReferenceData {
    fn from(r: NumericReference) -> Self {
        r.data
    }
}

impl TryFrom<NumericReferenceData> for NumericReference {
    type Error = DriftError;

    fn try_from(mut d: NumericReferenceData) -> Result<Self, DriftError> {
        let corrupt = |what: &str| Err(DriftError::CorruptReference(what.to_string()));
        if d.count == 0 {
            return corrupt("it has no values");
        }
        if d.psi_counts.len() != d.psi_cuts.len() + 1 || d.psi_counts.iter().sum::<u64>() != d.count {
            return corrupt("its PSI bins do not add up to its value count");
        }
        if !non_decreasing(&d.psi_cuts) {
            return corrupt("its PSI cuts are not finite and increasing");
        }
        let bins = d.histogram_counts.len();
        if bins == 0 || bins > MAX_HISTOGRAM_BINS || d.histogram_edges.len() != bins + 1 {
            return corrupt("its histogram edges do not match its bins");
        }
        if d.histogram_counts.iter().sum::<u64>() != d.count || !non_decreasing(&d.histogram_edges) {
            return corrupt("its histogram is not consistent");
        }
        if d.sample.is_empty() || d.sample.len() as u64 > d.count || d.sample.iter().any(|v| !v.is_finite()) {
            return corrupt("its KS sample is not finite values");
        }
        // A text format that rounds the last bit (serde_json without its
        // `float_roundtrip` feature does) can swap neighbours; re-sort rather
        // than reject.
        if d.sample.windows(2).any(|w| w[0] > w[1]) {
            d.sample.sort_unstable_by(f64::total_cmp);
        }
        Ok(NumericReference { data: d })
    }
}

/// Finite and non-decreasing. Equal neighbours only arise from a lossy round
/// trip and are harmless: the bin between them is empty on both sides.
fn non_decreasing(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite()) && v.windows(2).all(|w| w[0] <= w[1])
}

impl NumericReference {
    /// Prepare a reference from every baseline value (NaN/±inf are missing).
    /// `bins` is the histogram's bin count for JS (1..=10,000; 20 is usual).
    pub fn new(values: &[f64], bins: usize) -> Result<Self, DriftError> {
        let (sorted, missing) = sorted_finite(values.iter().copied(), values.len());
        Self::from_sorted(sorted, missing, bins, None)
    }

    /// As [`NumericReference::new`], keeping at most `max_sample` (>= 2) sorted
    /// values for KS, evenly spaced by rank and always including min and max.
    pub fn with_sample_cap(values: &[f64], bins: usize, max_sample: usize) -> Result<Self, DriftError> {
        let (sorted, missing) = sorted_finite(values.iter().copied(), values.len());
        Self::from_sorted(sorted, missing, bins, Some(max_sample))
    }

    /// From finite values already sorted ascending and the count of missing ones.
    pub(crate) fn from_sorted(
        sorted: Vec<f64>,
        missing: u64,
        bins: usize,
        max_sample: Option<usize>,
    ) -> Result<Self, DriftError> {
        check_options(bins, max_sample)?;
        let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
            return Err(DriftError::EmptyReference { missing });
        };
        let count = sorted.len() as u64;

        let mut psi_cuts: Vec<f64> = (1..=9).map(|k| quantile_linear(&sorted, k as f64 / 10.0)).collect();
        psi_cuts.sort_by(f64::total_cmp);
        psi_cuts.dedup();
        let psi_counts = psi_bin_counts(&sorted, &psi_cuts);

        let histogram_edges = histogram_edges(min, max, bins);
        let histogram_counts = histogram_counts(&sorted, &histogram_edges);

        let sample = match max_sample {
            Some(m) if sorted.len() > m => evenly_spaced(&sorted, m),
            _ => sorted,
        };
        Ok(NumericReference {
            data: NumericReferenceData {
                count,
                missing,
                psi_cuts,
                psi_counts,
                histogram_edges,
                histogram_counts,
                sample,
            },
        })
    }

    /// Finite baseline values.
    pub fn count(&self) -> u64 {
        self.data.count
    }

    /// Baseline values that were NaN or infinite.
    pub fn missing(&self) -> u64 {
        self.data.missing
    }

    /// Histogram bins for JS.
    pub fn bins(&self) -> usize {
        self.data.histogram_counts.len()
    }

    /// The distinct baseline deciles that bound the PSI bins.
    pub fn psi_cuts(&self) -> &[f64] {
        &self.data.psi_cuts
    }

    /// The sorted values KS compares against.
    pub fn ks_sample(&self) -> &[f64] {
        &self.data.sample
    }
}

pub(crate) fn check_options(bins: usize, max_sample: Option<usize>) -> Result<(), DriftError> {
    if bins == 0 || bins > MAX_HISTOGRAM_BINS {
        return Err(DriftError::InvalidBins(bins));
    }
    if let Some(m) = max_sample
        && m < 2
    {
        return Err(DriftError::InvalidSampleCap(m));
    }
    Ok(())
}

/// Drift of `current` (NaN/±inf are missing) against the baseline.
///
/// Errors with [`DriftError::EmptyCurrent`] when `current` has no finite value.
pub fn numeric_drift(reference: &NumericReference, current: &[f64]) -> Result<NumericDrift, DriftError> {
    let (sorted, missing) = sorted_finite(current.iter().copied(), current.len());
    numeric_drift_sorted(reference, &sorted, missing)
}

/// The finite values of `values` sorted ascending, and how many were skipped
/// (the first stage of [`numeric_drift`]).
pub fn sort_finite(values: &[f64]) -> (Vec<f64>, u64) {
    sorted_finite(values.iter().copied(), values.len())
}

/// Drift of current values that are already finite and sorted ascending (as
/// [`sort_finite`] returns them), with `missing` skipped values.
pub fn numeric_drift_sorted(
    reference: &NumericReference,
    sorted: &[f64],
    missing: u64,
) -> Result<NumericDrift, DriftError> {
    if sorted.is_empty() {
        return Err(DriftError::EmptyCurrent { missing });
    }
    let r = &reference.data;
    let n = sorted.len() as u64;

    let ks_statistic = ks_statistic(&r.sample, sorted);
    let ks_p_value = ks_2samp_p_value(ks_statistic, r.count, n);

    let (psi, psi_reference, psi_current) = psi_sorted(reference, sorted);
    let (js_divergence, histogram_reference, histogram_current) = js_divergence_sorted(reference, sorted);

    Ok(NumericDrift {
        reference_count: r.count,
        reference_missing: r.missing,
        current_count: n,
        current_missing: missing,
        psi,
        ks_statistic,
        ks_p_value,
        ks_reference_size: r.sample.len() as u64,
        js_divergence,
        js_distance: js_divergence.sqrt(),
        psi_cuts: r.psi_cuts.clone(),
        psi_reference,
        psi_current,
        histogram_edges: r.histogram_edges.clone(),
        histogram_reference,
        histogram_current,
    })
}

/// PSI of sorted finite current values, with the baseline's and the current
/// shares of each PSI bin (a stage of [`numeric_drift_sorted`]).
pub fn psi_sorted(reference: &NumericReference, sorted: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let r = &reference.data;
    let reference_shares = shares(&r.psi_counts, r.count);
    let current_shares = shares(&psi_bin_counts(sorted, &r.psi_cuts), sorted.len() as u64);
    (psi(&reference_shares, &current_shares), reference_shares, current_shares)
}

/// Jensen–Shannon divergence of sorted finite current values, with the
/// baseline's and the current histogram shares (a stage of
/// [`numeric_drift_sorted`]).
pub fn js_divergence_sorted(reference: &NumericReference, sorted: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let r = &reference.data;
    let reference_shares = shares(&r.histogram_counts, r.count);
    let current_shares = shares(&histogram_counts(sorted, &r.histogram_edges), sorted.len() as u64);
    (js_divergence(&reference_shares, &current_shares), reference_shares, current_shares)
}

/// numpy's `quantile(sorted, q, method="linear")` of a non-empty sorted slice,
/// including its interpolation formula (exact at both ends of an interval).
fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n as f64 - 1.0) * q;
    let last = n.saturating_sub(1);
    let (prev, next) = if virtual_index >= last as f64 {
        (last, last)
    } else {
        let p = virtual_index.floor() as usize;
        (p, p + 1)
    };
    let gamma = virtual_index - prev as f64;
    let (a, b) = (sorted.get(prev).copied().unwrap_or(0.0), sorted.get(next).copied().unwrap_or(0.0));
    let diff = b - a;
    if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma }
}

/// Counts in `(-inf, c0], (c0, c1], ..., (c_last, +inf)` of a sorted slice.
fn psi_bin_counts(sorted: &[f64], cuts: &[f64]) -> Vec<u64> {
    let mut counts = Vec::with_capacity(cuts.len() + 1);
    let mut below = 0usize;
    for &c in cuts {
        let at_most = sorted.partition_point(|&v| v <= c);
        counts.push((at_most - below) as u64);
        below = at_most;
    }
    counts.push((sorted.len() - below) as u64);
    counts
}

/// `numpy.histogram_bin_edges(values, bins)` for values spanning [min, max].
fn histogram_edges(min: f64, max: f64, bins: usize) -> Vec<f64> {
    let (first, last) = if min == max { (min - 0.5, max + 0.5) } else { (min, max) };
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..bins).map(|i| i as f64 * step + first).collect();
    edges.push(last);
    edges
}

/// Counts in `[e0, e1), [e1, e2), ..., [e_{k-1}, e_k]` of a sorted slice, with
/// values below e0 counted in the first bin and above e_k in the last.
fn histogram_counts(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = Vec::with_capacity(bins);
    let mut below = 0usize;
    for &e in edges.iter().take(bins).skip(1) {
        let lt = sorted.partition_point(|&v| v < e);
        counts.push((lt - below) as u64);
        below = lt;
    }
    counts.push((sorted.len() - below) as u64);
    counts
}

/// Evenly spaced ranks 0, ..., n-1 (rounded), m of them: min and max included.
fn evenly_spaced(sorted: &[f64], m: usize) -> Vec<f64> {
    let n = sorted.len() as u128;
    let span = (m as u128).saturating_sub(1).max(1);
    (0..m as u128)
        .filter_map(|i| {
            let rank = (i * (n - 1) + span / 2) / span;
            sorted.get(rank as usize).copied()
        })
        .collect()
}

fn shares(counts: &[u64], total: u64) -> Vec<f64> {
    let total = total.max(1) as f64;
    counts.iter().map(|&c| c as f64 / total).collect()
}

fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let (r, c) = (r.max(PSI_FLOOR), c.max(PSI_FLOOR));
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Jensen–Shannon divergence in bits of two distributions over the same bins
/// (as `scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2`).
fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    let rel_entr = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let (mut left, mut right) = (0.0, 0.0);
    for (&a, &b) in p.iter().zip(q) {
        let m = (a + b) / 2.0;
        left += rel_entr(a, m);
        right += rel_entr(b, m);
    }
    ((left + right) / std::f64::consts::LN_2 / 2.0).clamp(0.0, 1.0)
}

/// The two-sample KS statistic sup |F_ref - F_cur| of two sorted slices, as
/// `scipy.stats.ks_2samp` computes it (both ECDFs right-continuous, evaluated
/// at every value of either sample, so ties are handled exactly).
///
/// One merge pass: take the smaller head (the baseline's first on ties) and
/// record i·n2 - j·n1 only after the last of a run of equal values, tracked in
/// integers so the extreme is found exactly; the statistic is then
/// i/n1 - j/n2 at that point, SciPy's own formula. The step is written without
/// data-dependent branches so random interleaving does not stall the pipeline.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    let (step_a, step_b) = (n2 as i128, n1 as i128);
    let (mut i, mut j) = (0usize, 0usize);
    let mut diff: i128 = 0; // i·n2 - j·n1
    let mut best = Extremes::default();
    let (Some(&first_a), Some(&first_b)) = (a.first(), b.first()) else { return 0.0 };
    let (mut x, mut y) = (first_a, first_b);
    let mut last;
    loop {
        let take_a = x <= y;
        last = if take_a { x } else { y };
        i += usize::from(take_a);
        j += usize::from(!take_a);
        diff += if take_a { step_a } else { -step_b };
        if i == n1 || j == n2 {
            break;
        }
        x = a.get(i).copied().unwrap_or(f64::INFINITY);
        y = b.get(j).copied().unwrap_or(f64::INFINITY);
        if x.min(y) > last {
            best.record(diff, i, j);
        }
    }
    // One sample is used up. Finish the run of values equal to the last one
    // taken; after it the difference only shrinks towards 0.
    while a.get(i).is_some_and(|&v| v <= last) {
        i += 1;
        diff += step_a;
    }
    while b.get(j).is_some_and(|&v| v <= last) {
        j += 1;
        diff -= step_b;
    }
    best.record(diff, i, j);

    let ecdf_diff = |(i, j): (usize, usize)| i as f64 / n1 as f64 - j as f64 / n2 as f64;
    let max_s = ecdf_diff(best.at_max);
    let min_s = (-ecdf_diff(best.at_min)).clamp(0.0, 1.0);
    if min_s > max_s { min_s } else { max_s }
}

/// Where i·n2 - j·n1 was largest and smallest (starting from 0 at (0, 0)).
#[derive(Default)]
struct Extremes {
    max: i128,
    at_max: (usize, usize),
    min: i128,
    at_min: (usize, usize),
}

impl Extremes {
    fn record(&mut self, diff: i128, i: usize, j: usize) {
        if diff > self.max {
            self.max = diff;
            self.at_max = (i, j);
        }
        if diff < self.min {
            self.min = diff;
            self.at_min = (i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_follow_numpy_linear() {
        let v: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(quantile_linear(&v, 0.1), 2.0);
        assert_eq!(quantile_linear(&v, 0.5), 6.0);
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.quantile([1,2,3,4], 0.1) == 1.3
        assert!((quantile_linear(&v, 0.1) - 1.3).abs() < 1e-15);
        assert_eq!(quantile_linear(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn ties_collapse_psi_cuts_and_bins_follow_the_right_closed_rule() {
        let mut v = vec![0.0; 50];
        v.extend((1..=50).map(f64::from));
        let r = NumericReference::new(&v, 20).unwrap();
        assert_eq!(r.psi_cuts()[0], 0.0); // deciles 0.1..0.4 are all 0
        assert!(r.psi_cuts().windows(2).all(|w| w[0] < w[1]));
        assert_eq!(r.psi_cuts().len(), 6);
        assert_eq!(r.data.psi_counts[0], 50); // (-inf, 0] holds every zero
        assert_eq!(r.data.psi_counts.iter().sum::<u64>(), 100);
    }

    #[test]
    fn histogram_clamps_out_of_range_values_into_the_edge_bins() {
        let edges = histogram_edges(0.0, 10.0, 5);
        assert_eq!(edges, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let sorted = [-5.0, 0.0, 1.9, 2.0, 9.9, 10.0, 50.0];
        assert_eq!(histogram_counts(&sorted, &edges), vec![3, 1, 0, 0, 3]);
        assert_eq!(histogram_edges(3.0, 3.0, 2), vec![2.5, 3.0, 3.5]);
    }

    #[test]
    fn ks_statistic_handles_ties_and_disjoint_samples() {
        assert_eq!(ks_statistic(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.0);
        assert_eq!(ks_statistic(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(ks_statistic(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        // scipy.stats.ks_2samp([1,1,2,2], [1,2,2,2]).statistic == 0.25
        assert_eq!(ks_statistic(&[1.0, 1.0, 2.0, 2.0], &[1.0, 2.0, 2.0, 2.0]), 0.25);
    }

    /// SciPy's definition written out: both ECDFs at every value of either sample.
    fn ks_brute_force(a: &[f64], b: &[f64]) -> f64 {
        let ecdf = |s: &[f64], t: f64| s.partition_point(|&v| v <= t) as f64 / s.len() as f64;
        a.iter().chain(b).map(|&t| (ecdf(a, t) - ecdf(b, t)).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn ks_statistic_agrees_with_the_definition_on_tied_random_data() {
        let mut state = 12345u64;
        let mut next = move |m: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % m) as f64
        };
        for round in 0..300 {
            let (n1, n2, range) = (1 + round % 17, 1 + (round * 7) % 23, 1 + round as u64 % 9);
            let mut a: Vec<f64> = (0..n1).map(|_| next(range)).collect();
            let mut b: Vec<f64> = (0..n2).map(|_| next(range) + 0.5 * next(2)).collect();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let want = ks_brute_force(&a, &b);
            assert!((ks_statistic(&a, &b) - want).abs() < 1e-15, "{a:?} {b:?}");
            assert!((ks_statistic(&b, &a) - want).abs() < 1e-15, "{b:?} {a:?}");
        }
    }

    #[test]
    fn evenly_spaced_sample_keeps_both_ends() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        let s = evenly_spaced(&v, 11);
        assert_eq!(s.len(), 11);
        assert_eq!(s.first(), Some(&0.0));
        assert_eq!(s.last(), Some(&999.0));
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn stored_references_are_checked_when_read_back() {
        let v: Vec<f64> = (0..100).map(|i| (i * 37 % 100) as f64).collect();
        let r = NumericReference::with_sample_cap(&v, 10, 30).unwrap();
        assert_eq!(r.ks_sample().len(), 30);
        let json = serde_json::to_value(&r).unwrap();
        let back: NumericReference = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, r);

        let mut broken = json.clone();
        broken["sample"] = serde_json::json!([]);
        let err = serde_json::from_value::<NumericReference>(broken).unwrap_err();
        assert!(err.to_string().contains("KS sample"), "{err}");
        let mut broken = json;
        broken["psi_counts"] = serde_json::json!([1, 2]);
        assert!(serde_json::from_value::<NumericReference>(broken).is_err());
    }
}
