//! Classification trees (CART) and the random forest built from them.
//!
//! We grow trees ourselves rather than with linfa-trees: linfa's trees keep only
//! the majority class in a leaf (we need class shares for probabilities), count
//! classes in hash maps whose iteration order changes from run to run (equal
//! splits and tied leaves were broken differently each time, so one seed gave
//! different forests), and make a hash-map pass over every row of every feature at
//! every node (a default 100-tree forest on credit_data took about 12 s). Here each
//! feature is sorted once per tree and the sorted row lists are partitioned down
//! the tree; ties go to the lowest feature index and threshold. linfa-ensemble's
//! `EnsembleLearner` is not serialisable either, so the forest bags trees itself:
//! every tree draws its bootstrap rows and its feature subset (without
//! replacement) from its own seed, so the forest is the same whatever the thread
//! count, and trees grow in parallel on rayon's pool.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use domain::training::SplitQuality;

use super::error::TrainError;
use crate::prepare::rng::SplitRng;

/// One node: a split (`x[feature] <= threshold` goes left) or a leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    /// Class shares of the training rows in this leaf (sum 1).
    Leaf {
        proba: Vec<f64>,
    },
}

/// A fitted classification tree; node 0 is the root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// Tree growth settings shared by a single tree and a forest's trees.
#[derive(Clone, Copy, Debug)]
pub struct Growth {
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub criterion: SplitQuality,
}

impl Tree {
    /// The leaf's class shares for one row of features.
    pub fn leaf(&self, row: &[f64]) -> &[f64] {
        let mut at = 0;
        loop {
            match self.nodes.get(at) {
                Some(Node::Split { feature, threshold, left, right }) => {
                    let v = row.get(*feature).copied().unwrap_or(f64::NAN);
                    at = if v <= *threshold { *left } else { *right };
                }
                Some(Node::Leaf { proba }) => return proba,
                None => return &[],
            }
        }
    }

    /// The majority class of the row's leaf (ties: the lowest class index).
    pub fn class(&self, row: &[f64]) -> usize {
        argmax(self.leaf(row))
    }
}

pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Grow one tree on `x` (rows) and `y` (class indices below `n_classes`).
/// `features[j]` is the column of the full matrix that `x`'s column `j` holds, so
/// the stored tree indexes the full matrix.
pub fn grow(
    x: ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    features: &[usize],
    growth: Growth,
) -> Result<Tree, TrainError> {
    let (n, p) = x.dim();
    if n == 0 || y.len() != n {
        return Err(TrainError::Fit { algorithm: "decision tree", message: "no training rows".into() });
    }
    let columns: Vec<Vec<f64>> = (0..p).map(|j| x.column(j).to_vec()).collect();
    let orders: Vec<Vec<usize>> = columns
        .iter()
        .map(|c| {
            let mut rows: Vec<usize> = (0..n).collect();
            rows.sort_by(|&a, &b| c[a].total_cmp(&c[b]).then(a.cmp(&b)));
            rows
        })
        .collect();
    let builder = Builder { columns: &columns, y, n_classes, features, growth };
    let mut nodes = Vec::new();
    let mut left_side = vec![false; n];
    builder.node(orders, 0, &mut nodes, &mut left_side);
    Ok(Tree { nodes })
}

struct Builder<'a> {
    columns: &'a [Vec<f64>],
    y: &'a [usize],
    n_classes: usize,
    features: &'a [usize],
    growth: Growth,
}

impl Builder<'_> {
    fn impurity(&self, counts: &[f64], total: f64) -> f64 {
        if total <= 0.0 {
            return 0.0;
        }
        match self.growth.criterion {
            SplitQuality::Gini => 1.0 - counts.iter().map(|c| (c / total) * (c / total)).sum::<f64>(),
            SplitQuality::Entropy => {
                -counts.iter().filter(|&&c| c > 0.0).map(|c| (c / total) * (c / total).log2()).sum::<f64>()
            }
        }
    }

    /// Build the node for the rows in `orders` (every feature's rows, sorted by
    /// that feature); returns its index.
    fn node(
        &self,
        orders: Vec<Vec<usize>>,
        depth: usize,
        nodes: &mut Vec<Node>,
        left_side: &mut [bool],
    ) -> usize {
        let rows = orders.first().map_or(&[][..], |o| o.as_slice());
        let total = rows.len() as f64;
        let mut counts = vec![0.0; self.n_classes];
        for &r in rows {
            counts[self.y[r]] += 1.0;
        }
        let at = nodes.len();
        let parent = self.impurity(&counts, total);
        let stop = rows.len() < self.growth.min_samples_split.max(2)
            || self.growth.max_depth.is_some_and(|d| depth >= d)
            || parent <= 1e-12;
        let best = if stop { None } else { self.best_split(&orders, &counts, total) };
        let Some((j, threshold)) = best else {
            nodes.push(Node::Leaf { proba: counts.iter().map(|c| c / total.max(1.0)).collect() });
            return at;
        };
        for &r in rows {
            left_side[r] = self.columns[j][r] <= threshold;
        }
        let (mut lefts, mut rights) = (Vec::with_capacity(orders.len()), Vec::with_capacity(orders.len()));
        for order in orders {
            let (l, r): (Vec<usize>, Vec<usize>) = order.into_iter().partition(|&row| left_side[row]);
            lefts.push(l);
            rights.push(r);
        }
        nodes.push(Node::Split {
            feature: self.features.get(j).copied().unwrap_or(j),
            threshold,
            left: 0,
            right: 0,
        });
        let left = self.node(lefts, depth + 1, nodes, left_side);
        let right = self.node(rights, depth + 1, nodes, left_side);
        if let Some(Node::Split { left: l, right: r, .. }) = nodes.get_mut(at) {
            *l = left;
            *r = right;
        }
        at
    }

    /// The (feature, threshold) with the lowest weighted child impurity, if any
    /// feature has two distinct values here.
    fn best_split(&self, orders: &[Vec<usize>], counts: &[f64], total: f64) -> Option<(usize, f64)> {
        let mut best: Option<(f64, usize, f64)> = None;
        let mut left = vec![0.0; self.n_classes];
        let mut right = vec![0.0; self.n_classes];
        for (j, order) in orders.iter().enumerate() {
            let column = &self.columns[j];
            left.iter_mut().for_each(|c| *c = 0.0);
            right.copy_from_slice(counts);
            for (i, pair) in order.windows(2).enumerate() {
                let class = self.y[pair[0]];
                left[class] += 1.0;
                right[class] -= 1.0;
                let (a, b) = (column[pair[0]], column[pair[1]]);
                if a >= b {
                    continue;
                }
                let nl = (i + 1) as f64;
                let nr = total - nl;
                let score = nl * self.impurity(&left, nl) + nr * self.impurity(&right, nr);
                if best.is_none_or(|(s, _, _)| score < s - 1e-12) {
                    let mid = a + (b - a) / 2.0;
                    let threshold = if mid < b { mid } else { a };
                    best = Some((score, j, threshold));
                }
            }
        }
        best.map(|(_, j, t)| (j, t))
    }
}

/// A forest's sampling settings.
#[derive(Clone, Copy, Debug)]
pub struct Bagging {
    pub feature_fraction: f64,
    pub bootstrap_fraction: f64,
    pub seed: u64,
}

/// Grow trees `first..first + count` of a forest, in parallel. Tree `i` draws from
/// its own seed, so a forest grown in batches equals one grown at once.
pub fn grow_forest_batch(
    x: &Array2<f64>,
    y: &[usize],
    n_classes: usize,
    growth: Growth,
    bagging: Bagging,
    first: usize,
    count: usize,
) -> Result<Vec<Tree>, TrainError> {
    let (n, p) = x.dim();
    let n_rows = ((n as f64) * bagging.bootstrap_fraction).ceil().max(1.0) as usize;
    let n_features = ((p as f64) * bagging.feature_fraction).ceil().clamp(1.0, p as f64) as usize;
    (first..first + count)
        .into_par_iter()
        .map(|i| {
            let mut rng = SplitRng::new(mix(bagging.seed, i as u64));
            let rows: Vec<usize> = (0..n_rows).map(|_| rng.below(n as u64) as usize).collect();
            let mut features: Vec<usize> = (0..p).collect();
            rng.shuffle(&mut features);
            features.truncate(n_features);
            features.sort_unstable();
            let sample = x.select(Axis(0), &rows).select(Axis(1), &features);
            let labels: Vec<usize> = rows.iter().map(|&r| y[r]).collect();
            grow(sample.view(), &labels, n_classes, &features, growth)
        })
        .collect()
}

/// SplitMix64 of `seed` and `stream`: independent seeds for parallel work.
pub fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
