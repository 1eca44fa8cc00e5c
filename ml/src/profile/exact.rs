//! Quantiles and histograms of sorted values, computed the way numpy does so the
//! profile matches what a data scientist gets from `np.quantile` and `np.histogram`.
//! They read the column's own sorted buffer (ints as ints), converting values to f64 as
//! numpy does, so finishing a column copies nothing.

use super::numeric::Sample;

/// The `q`-quantile of sorted values with numpy's default 'linear' method: virtual
/// index `(n - 1) q`, interpolated between its neighbours with numpy's `_lerp` (which
/// interpolates from the nearer end). `None` when there are no values.
pub(crate) fn quantile_sorted<T: Sample>(sorted: &[T], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let virtual_index = last as f64 * q;
    if virtual_index >= last as f64 {
        return sorted.get(last).map(|x| x.to_f64());
    }
    let below = virtual_index.floor().max(0.0);
    let i = below as usize;
    let (a, b) = (sorted.get(i)?.to_f64(), sorted.get(i + 1)?.to_f64());
    let t = virtual_index - below;
    let diff = b - a;
    Some(if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t })
}

/// `bins + 1` equal-width edges over `[min, max]`, as `np.linspace(min, max, bins + 1)`
/// (edge `i` is `i * step + min`, the last is `max`). A single value `v` gets the range
/// `[v - 0.5, v + 0.5]`, as `np.histogram`. `None` when the width overflows.
pub(crate) fn equal_edges(min: f64, max: f64, bins: usize) -> Option<Vec<f64>> {
    let (lo, hi) = if min == max { (min - 0.5, max + 0.5) } else { (min, max) };
    let step = (hi - lo) / bins as f64;
    if !step.is_finite() || bins == 0 {
        return None;
    }
    let mut edges: Vec<f64> = (0..bins).map(|i| i as f64 * step + lo).collect();
    edges.push(hi);
    Some(edges)
}

/// Counts of sorted values per bin: bin `i` holds `edges[i] <= x < edges[i + 1]`, the
/// last bin also `x == edges[last]` (numpy's rule). Values below the first edge go to
/// the first bin and above the last to the last, so the counts always add up.
pub(crate) fn histogram_sorted<T: Sample>(sorted: &[T], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = Vec::with_capacity(bins);
    let mut start = 0;
    for j in 0..bins {
        let end = match edges.get(j + 1) {
            Some(&e) if j + 1 < bins => sorted.partition_point(|x| x.to_f64() < e).max(start),
            _ => sorted.len(),
        };
        counts.push((end - start) as u64);
        start = end;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        // np.quantile([1, 2, 4, 8, 16], [0, .1, .25, .5, .9, 1]) = [1, 1.4, 2, 4, 12.8, 16]
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0];
        let got: Vec<f64> =
            [0.0, 0.1, 0.25, 0.5, 0.9, 1.0].iter().map(|&q| quantile_sorted(&xs, q).unwrap()).collect();
        let want = [1.0, 1.4, 2.0, 4.0, 12.8, 16.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        assert_eq!(quantile_sorted::<f64>(&[], 0.5), None);
        assert_eq!(quantile_sorted(&[3i64], 0.3), Some(3.0));
    }

    #[test]
    fn histograms_match_numpy_edges_and_the_closed_last_bin() {
        // np.histogram([0, 1, 1, 2, 3, 4], bins=4) -> counts [1, 2, 1, 2], edges [0, 1, 2, 3, 4]
        let edges = equal_edges(0.0, 4.0, 4).unwrap();
        assert_eq!(edges, [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(histogram_sorted(&[0.0, 1.0, 1.0, 2.0, 3.0, 4.0], &edges), [1, 2, 1, 2]);
        // np.histogram([5, 5], bins=2) -> counts [0, 2], edges [4.5, 5, 5.5]
        let edges = equal_edges(5.0, 5.0, 2).unwrap();
        assert_eq!(edges, [4.5, 5.0, 5.5]);
        assert_eq!(histogram_sorted(&[5.0, 5.0], &edges), [0, 2]);
        assert_eq!(equal_edges(-f64::MAX, f64::MAX, 2), None);
    }
}
