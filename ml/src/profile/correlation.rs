//! Pearson correlations between numeric columns, streamed.
//!
//! Each pair of columns keeps its co-moments (count, means, sums of squared deviations
//! and of cross products) over the rows where both values are present and finite
//! (pairwise-complete, as pandas `DataFrame.corr`). Per batch, every column is shifted
//! by its own mean in that batch ([`Centered`]); a pair's co-moments are then one pass
//! of sums over the shifted values, corrected for the shift (the shift is close to
//! the pair's mean, so this is as accurate as two passes), and a pair of columns with
//! no missing value in the batch needs only a dot product. The batch's co-moments are
//! merged into the running ones with Chan's formulas, which are exact: the result does
//! not depend on how rows are batched.

use rayon::prelude::*;

/// Independent accumulators per loop: breaks the add-latency chain and lets the
/// compiler use vector registers (float sums are not reassociated otherwise).
const LANES: usize = 8;

/// One numeric column of a batch, shifted by its mean.
#[derive(Debug, Default)]
pub(crate) struct Centered {
    /// `x - shift`, NaN where the value is missing or infinite.
    values: Vec<f64>,
    shift: f64,
    /// Values present, and their shifted sum and sum of squares (for complete pairs).
    n: u64,
    sum: f64,
    sum_sq: f64,
}

impl Centered {
    /// Fill from a column's values as f64 (NaN or ±inf where not usable).
    pub(crate) fn fill(&mut self, values: impl Iterator<Item = f64> + Clone) {
        let (mut n, mut total) = (0u64, 0.0);
        for x in values.clone().filter(|x| x.is_finite()) {
            n += 1;
            total += x;
        }
        self.shift = if n > 0 { total / n as f64 } else { 0.0 };
        self.n = n;
        let shift = self.shift;
        self.values.clear();
        self.values.extend(values.map(|x| if x.is_finite() { x - shift } else { f64::NAN }));
        (self.sum, self.sum_sq) = (0.0, 0.0);
        for &d in self.values.iter().filter(|d| !d.is_nan()) {
            self.sum += d;
            self.sum_sq += d * d;
        }
    }

    fn complete(&self) -> bool {
        self.n as usize == self.values.len()
    }
}

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
    /// The co-moments of one batch of two columns.
    pub(crate) fn of_batch(x: &Centered, y: &Centered) -> Self {
        let sums = if x.complete() && y.complete() {
            Sums { n: x.n, x: x.sum, y: y.sum, xx: x.sum_sq, yy: y.sum_sq, xy: dot(&x.values, &y.values) }
        } else {
            Sums::masked(&x.values, &y.values)
        };
        if sums.n == 0 {
            return Self::default();
        }
        let n = sums.n as f64;
        Self {
            n: sums.n,
            mean_x: x.shift + sums.x / n,
            mean_y: y.shift + sums.y / n,
            m2_x: (sums.xx - sums.x * sums.x / n).max(0.0),
            m2_y: (sums.yy - sums.y * sums.y / n).max(0.0),
            c_xy: sums.xy - sums.x * sums.y / n,
        }
    }

    /// The co-moments of one chunk of raw values; NaN marks a row to skip.
    #[cfg(test)]
    pub(crate) fn of_chunk(xs: &[f64], ys: &[f64]) -> Self {
        let (mut cx, mut cy) = (Centered::default(), Centered::default());
        cx.fill(xs.iter().copied());
        cy.fill(ys.iter().copied());
        Self::of_batch(&cx, &cy)
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

/// Shifted sums over the rows where both columns have a value.
#[derive(Clone, Copy, Default)]
struct Sums {
    n: u64,
    x: f64,
    y: f64,
    xx: f64,
    yy: f64,
    xy: f64,
}

impl Sums {
    fn add(&mut self, x: f64, y: f64) {
        let keep = !(x.is_nan() || y.is_nan());
        let (x, y) = if keep { (x, y) } else { (0.0, 0.0) };
        self.n += u64::from(keep);
        self.x += x;
        self.y += y;
        self.xx += x * x;
        self.yy += y * y;
        self.xy += x * y;
    }

    fn plus(self, o: Self) -> Self {
        Self {
            n: self.n + o.n,
            x: self.x + o.x,
            y: self.y + o.y,
            xx: self.xx + o.xx,
            yy: self.yy + o.yy,
            xy: self.xy + o.xy,
        }
    }

    fn masked(xs: &[f64], ys: &[f64]) -> Self {
        let mut lanes: [Sums; LANES] = Default::default();
        let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
        let mut rest = Sums::default();
        for (&x, &y) in xc.remainder().iter().zip(yc.remainder()) {
            rest.add(x, y);
        }
        for (xs, ys) in xc.zip(yc) {
            for (lane, (&x, &y)) in lanes.iter_mut().zip(xs.iter().zip(ys)) {
                lane.add(x, y);
            }
        }
        lanes.into_iter().fold(rest, Sums::plus)
    }
}

fn dot(xs: &[f64], ys: &[f64]) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let rest: f64 = xc.remainder().iter().zip(yc.remainder()).map(|(x, y)| x * y).sum();
    for (xs, ys) in xc.zip(yc) {
        for (lane, (x, y)) in lanes.iter_mut().zip(xs.iter().zip(ys)) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f64>() + rest
}

/// Co-moments of every pair `(i, j)`, `i < j`, of `k` numeric columns.
#[derive(Debug)]
pub(crate) struct CorrelationAcc {
    k: usize,
    pairs: Vec<(usize, usize, CoMoments)>,
    /// The current batch's columns, kept to reuse their allocations.
    columns: Vec<Centered>,
}

impl CorrelationAcc {
    pub(crate) fn new(k: usize) -> Self {
        let pairs = (0..k).flat_map(|i| (i + 1..k).map(move |j| (i, j, CoMoments::default()))).collect();
        Self { k, pairs, columns: (0..k).map(|_| Centered::default()).collect() }
    }

    /// Add a batch, given a function that fills column `i`'s [`Centered`]. Columns,
    /// then pairs, are spread over the thread pool.
    pub(crate) fn push(&mut self, fill: impl Fn(usize, &mut Centered) + Sync) {
        if self.pairs.is_empty() {
            return;
        }
        self.columns.par_iter_mut().enumerate().for_each(|(i, c)| fill(i, c));
        let columns = &self.columns;
        self.pairs.par_iter_mut().for_each(|(i, j, acc)| {
            if let (Some(x), Some(y)) = (columns.get(*i), columns.get(*j)) {
                *acc = acc.merge(&CoMoments::of_batch(x, y));
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
