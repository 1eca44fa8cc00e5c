//! The histogram of a column with more values than `exact_row_limit`.
//!
//! An equal-width histogram over `[min, max]` cannot be streamed exactly, because min
//! and max are only known at the end. So once a column's exact buffer is dropped, its
//! values are counted on a fine grid (32 bins per output bin) laid over the range seen
//! so far. A value outside the grid widens it: the bin width doubles and pairs of bins
//! merge, the old range becoming the lower or upper half of the new one, until the
//! value fits. Counts are never lost or estimated while streaming; only the resolution
//! drops (by half per doubling). At the end the grid is re-binned onto the output
//! edges over the true `[min, max]`: each fine bin's count is spread over the output
//! bins it overlaps in proportion to the overlap (assuming values spread evenly within
//! a fine bin), and the fractions are rounded by largest remainder so the counts add
//! up exactly to the number of values. An output bin is therefore off by at most the
//! share of the one fine bin that straddles each of its edges.

use domain::profile::Histogram;

use super::exact::equal_edges;

/// Fine bins per output bin: enough that, after a few doublings, a straddling fine
/// bin is still a small part of an output bin, for 5-40 KiB per column.
pub(crate) const FINE_PER_BIN: usize = 32;

#[derive(Clone, Debug)]
pub(crate) struct GridHistogram {
    lo: f64,
    width: f64,
    counts: Vec<u64>,
}

impl GridHistogram {
    /// A grid of `bins` (made even) bins over `[min, max]`.
    pub(crate) fn new(min: f64, max: f64, bins: usize) -> Self {
        let bins = (bins.max(2) + 1) & !1;
        let (lo, hi) = if min < max { (min, max) } else { (min - 0.5, min + 0.5) };
        let mut width = (hi - lo) / bins as f64;
        if !(width.is_finite() && width > 0.0) {
            width = f64::MAX / bins as f64;
        }
        // The top edge is exclusive here; nudge it so `max` itself lands inside.
        let width = width * (1.0 + 1e-12);
        Self { lo, width, counts: vec![0; bins] }
    }

    pub(crate) fn add(&mut self, x: f64) {
        loop {
            let position = (x - self.lo) / self.width;
            if position >= 0.0 && position < self.counts.len() as f64 {
                if let Some(c) = self.counts.get_mut(position as usize) {
                    *c += 1;
                }
                return;
            }
            if !self.widen(x < self.lo) {
                // The range cannot double any more without overflowing: keep the
                // value in the nearest end bin so counts still add up.
                let i = if x < self.lo { 0 } else { self.counts.len() - 1 };
                if let Some(c) = self.counts.get_mut(i) {
                    *c += 1;
                }
                return;
            }
        }
    }

    /// Double the bin width, extending the range downwards or upwards. False when the
    /// new width or range would overflow.
    fn widen(&mut self, downwards: bool) -> bool {
        let n = self.counts.len();
        let width = self.width * 2.0;
        let lo = if downwards { self.lo - self.width * n as f64 } else { self.lo };
        if !width.is_finite() || !lo.is_finite() || !(lo + width * n as f64).is_finite() {
            return false;
        }
        let mut merged = vec![0; n];
        let shift = if downwards { n / 2 } else { 0 };
        for (i, &c) in self.counts.iter().enumerate() {
            if let Some(m) = merged.get_mut(shift + i / 2) {
                *m += c;
            }
        }
        self.counts = merged;
        self.width = width;
        self.lo = lo;
        true
    }

    /// The histogram over `[min, max]` with `bins` equal-width bins; `None` when the
    /// width overflows.
    pub(crate) fn rebin(&self, min: f64, max: f64, bins: usize) -> Option<Histogram> {
        let edges = equal_edges(min, max, bins)?;
        let (first, last) = (*edges.first()?, *edges.last()?);
        let step = (last - first) / bins as f64;
        let bin_of = |x: f64| -> usize {
            let j = ((x - first) / step).floor();
            if j.is_nan() || j < 0.0 { 0 } else { (j as usize).min(bins - 1) }
        };
        let mut shares = vec![0.0f64; bins];
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            // The values in this fine bin lie in its span clipped to [min, max].
            let a = (self.lo + i as f64 * self.width).clamp(min, max);
            let b = (self.lo + (i + 1) as f64 * self.width).clamp(min, max);
            if b <= a {
                if let Some(s) = shares.get_mut(bin_of(a)) {
                    *s += c as f64;
                }
                continue;
            }
            for j in bin_of(a)..=bin_of(b) {
                let (lo, hi) =
                    (edges.get(j).copied().unwrap_or(first), edges.get(j + 1).copied().unwrap_or(last));
                let overlap = (b.min(hi) - a.max(lo)).max(0.0);
                if let Some(s) = shares.get_mut(j) {
                    *s += c as f64 * overlap / (b - a);
                }
            }
        }
        let total: u64 = self.counts.iter().sum();
        Some(Histogram { edges, counts: round_to_total(&shares, total), exact: false })
    }
}

/// Integer counts from fractional shares, adding up to `total` exactly: floor each,
/// then give the remaining units to the largest fractional parts.
fn round_to_total(shares: &[f64], total: u64) -> Vec<u64> {
    let mut counts: Vec<u64> = shares.iter().map(|s| s.floor().max(0.0) as u64).collect();
    let assigned: u64 = counts.iter().sum();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    let frac = |i: usize| shares.get(i).map_or(0.0, |s| s - s.floor());
    order.sort_by(|&a, &b| frac(b).total_cmp(&frac(a)));
    if assigned <= total {
        for &i in order.iter().cycle().take((total - assigned) as usize) {
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
    } else {
        // Rounding error made the floors overshoot (huge counts): take from the largest.
        let mut excess = assigned - total;
        while excess > 0 {
            let Some((i, _)) = counts.iter().enumerate().max_by_key(|(_, c)| **c) else { break };
            let take = excess.min(counts.get(i).copied().unwrap_or(0));
            if take == 0 {
                break;
            }
            if let Some(c) = counts.get_mut(i) {
                *c -= take;
            }
            excess -= take;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::exact::histogram_sorted;

    #[test]
    fn widening_keeps_every_count_and_rebinning_adds_up() {
        let mut g = GridHistogram::new(0.0, 1.0, 64);
        let xs: Vec<f64> = (0..10_000).map(|i| (i as f64 * 0.7919).sin() * 50.0 + 10.0).collect();
        for &x in &xs {
            g.add(x);
        }
        assert_eq!(g.counts.iter().sum::<u64>(), 10_000);
        let (min, max) =
            xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let h = g.rebin(min, max, 10).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 10_000);
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        let exact = histogram_sorted(&sorted, &h.edges);
        for (a, e) in h.counts.iter().zip(&exact) {
            assert!((*a as f64 - *e as f64).abs() <= 0.01 * 10_000.0, "{:?} vs {exact:?}", h.counts);
        }
    }

    #[test]
    fn a_constant_column_and_extreme_values_do_not_break_it() {
        let mut g = GridHistogram::new(3.0, 3.0, 8);
        for _ in 0..5 {
            g.add(3.0);
        }
        let h = g.rebin(3.0, 3.0, 2).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 5);
        g.add(f64::MAX);
        g.add(-f64::MAX);
        assert_eq!(g.counts.iter().sum::<u64>(), 7);
        assert_eq!(round_to_total(&[0.5, 0.5, 1.0], 2), [1, 0, 1]);
    }
}
