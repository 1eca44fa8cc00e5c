//! Pearson correlations between numeric columns, streamed.
//!
//! Each pair of columns keeps its co-moments (count, means, sums of squared deviations
//! and of cross products) over the rows where both values are present and finite
//! (pairwise-complete, as pandas `DataFrame.corr`). A batch's co-moments are computed
//! in two passes (means, then deviations) and merged into the running ones with Chan's
//! formulas, which are exact: the result does not depend on how rows are batched.

use rayon::prelude::*;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CoMoments {
    n: u64,
    mean_x: f64,
    mean_y: f64,
    m2_x: f64,
    m2_y: f64,
    c_xy: f64,
}

impl CoMoments {
    /// The co-moments of one chunk; NaN marks a row to skip.
    pub(crate) fn of_chunk(xs: &[f64], ys: &[f64]) -> Self {
        let (mut n, mut sx, mut sy) = (0u64, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(ys) {
            let keep = !(x.is_nan() || y.is_nan());
            n += u64::from(keep);
            sx += if keep { x } else { 0.0 };
            sy += if keep { y } else { 0.0 };
        }
        if n == 0 {
            return Self::default();
        }
        let nf = n as f64;
        let (mx, my) = (sx / nf, sy / nf);
        let (mut dx_sum, mut dy_sum, mut dxx, mut dyy, mut dxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(ys) {
            let keep = !(x.is_nan() || y.is_nan());
            let dx = if keep { x - mx } else { 0.0 };
            let dy = if keep { y - my } else { 0.0 };
            dx_sum += dx;
            dy_sum += dy;
            dxx += dx * dx;
            dyy += dy * dy;
            dxy += dx * dy;
        }
        Self {
            n,
            mean_x: mx + dx_sum / nf,
            mean_y: my + dy_sum / nf,
            m2_x: (dxx - dx_sum * dx_sum / nf).max(0.0),
            m2_y: (dyy - dy_sum * dy_sum / nf).max(0.0),
            c_xy: dxy - dx_sum * dy_sum / nf,
        }
    }

    /// The co-moments of two disjoint chunks together.
    pub(crate) fn merge(&self, o: &Self) -> Self {
        if self.n == 0 {
            return *o;
        }
        if o.n == 0 {
            return *self;
        }
        let n = self.n + o.n;
        let (na, nb, nf) = (self.n as f64, o.n as f64, n as f64);
        let dx = o.mean_x - self.mean_x;
        let dy = o.mean_y - self.mean_y;
        let w = na * nb / nf;
        Self {
            n,
            mean_x: self.mean_x + dx * nb / nf,
            mean_y: self.mean_y + dy * nb / nf,
            m2_x: self.m2_x + o.m2_x + dx * dx * w,
            m2_y: self.m2_y + o.m2_y + dy * dy * w,
            c_xy: self.c_xy + o.c_xy + dx * dy * w,
        }
    }

    /// Pearson's r; `None` below two rows, for a constant column, or on overflow.
    pub(crate) fn pearson(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let denominator = (self.m2_x * self.m2_y).sqrt();
        let r = self.c_xy / denominator;
        (denominator > 0.0 && r.is_finite()).then(|| r.clamp(-1.0, 1.0))
    }
}

/// Co-moments of every pair `(i, j)`, `i < j`, of `k` numeric columns.
#[derive(Debug)]
pub(crate) struct CorrelationAcc {
    k: usize,
    pairs: Vec<(usize, usize, CoMoments)>,
}

impl CorrelationAcc {
    pub(crate) fn new(k: usize) -> Self {
        let pairs = (0..k).flat_map(|i| (i + 1..k).map(move |j| (i, j, CoMoments::default()))).collect();
        Self { k, pairs }
    }

    /// Add a batch: one slice per numeric column, NaN where a value is missing or
    /// infinite. Pairs are spread over the thread pool.
    pub(crate) fn push(&mut self, columns: &[Vec<f64>]) {
        self.pairs.par_iter_mut().for_each(|(i, j, acc)| {
            if let (Some(x), Some(y)) = (columns.get(*i), columns.get(*j)) {
                *acc = acc.merge(&CoMoments::of_chunk(x, y));
            }
        });
    }

    /// The symmetric matrix; `diagonal[i]` says whether column `i` has a correlation
    /// with itself (at least two finite values, not all equal).
    pub(crate) fn matrix(&self, diagonal: &[bool]) -> Vec<Vec<Option<f64>>> {
        let mut m = vec![vec![None; self.k]; self.k];
        for (i, row) in m.iter_mut().enumerate() {
            if let Some(cell) = row.get_mut(i) {
                *cell = diagonal.get(i).copied().unwrap_or(false).then_some(1.0);
            }
        }
        for &(i, j, acc) in &self.pairs {
            let r = acc.pearson();
            if let Some(cell) = m.get_mut(i).and_then(|row| row.get_mut(j)) {
                *cell = r;
            }
            if let Some(cell) = m.get_mut(j).and_then(|row| row.get_mut(i)) {
                *cell = r;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_complete_and_batch_independent() {
        // numpy: x=[1,2,3,4,5], y=[2,4,5,4,5] -> np.corrcoef(x, y)[0, 1] = 0.7745966692414834
        let xs = [1.0, 2.0, f64::NAN, 3.0, 4.0, 5.0];
        let ys = [2.0, 4.0, 9.0, 5.0, 4.0, 5.0];
        let whole = CoMoments::of_chunk(&xs, &ys);
        assert!((whole.pearson().unwrap() - 0.7745966692414834).abs() < 1e-12);
        let split = CoMoments::of_chunk(&xs[..2], &ys[..2]).merge(&CoMoments::of_chunk(&xs[2..], &ys[2..]));
        assert!((split.pearson().unwrap() - 0.7745966692414834).abs() < 1e-12);
        assert_eq!(CoMoments::of_chunk(&[1.0, 1.0], &[2.0, 3.0]).pearson(), None);
        assert_eq!(CoMoments::of_chunk(&[1.0], &[2.0]).pearson(), None);
    }
}
