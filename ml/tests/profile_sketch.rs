//! Sketch mode: 2,000,000 deterministic rows through a profiler whose exact limits are
//! 10,000. Memory stays bounded (no column ever holds more than 10,000 values), and
//! the approximate statistics stay within their stated tolerances of the exact ones
//! computed here from all the values:
//! - quantiles: within 1 % in rank and 0.5 % (DDSketch's α) in value;
//! - distinct counts: within 2 % (HyperLogLog, 0.41 % standard error);
//! - top-k: the heavy values found, each count a lower bound within `max_error`;
//! - histograms: counts add up exactly; each bin within 0.5 % of all values.

use domain::datasets::ColumnType;
use ml::frame::{Column, ColumnData, Frame};
use ml::profile::{ColumnStats, Histogram, ProfileConfig, Profiler};

const ROWS: usize = 2_000_000;
const BATCH: usize = 65_536;
const LIMIT: u64 = 10_000;

fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn uniform(i: u64, stream: u64) -> f64 {
    (mix64(i.wrapping_mul(4).wrapping_add(stream)) >> 11) as f64 / (1u64 << 53) as f64
}

/// A skewed, two-signed distribution: a normal around 3 (sd 10) plus a lognormal tail.
fn x_value(i: u64) -> f64 {
    let (u1, u2) = (uniform(i, 0).max(1e-300), uniform(i, 1));
    let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    if i.is_multiple_of(5) { (normal * 1.5 + 4.0).exp() } else { normal * 10.0 + 3.0 }
}

fn id_value(i: u64) -> i64 {
    (mix64(i ^ 0xdead_beef) % 1_500_000) as i64
}

/// Every tenth value is one of five heavy hitters (40,000 each); the rest spread over
/// 500,000 values (about 3.6 each).
fn s_value(i: u64) -> String {
    if i.is_multiple_of(10) { format!("hot{}", (i / 10) % 5) } else { format!("v{}", mix64(i) % 500_000) }
}

const T0: i64 = 1_700_000_000_000_000;

fn batch(start: usize, end: usize) -> Frame {
    let range = start as u64..end as u64;
    Frame::new(vec![
        Column::new("x", ColumnData::Float(range.clone().map(|i| Some(x_value(i))).collect())),
        Column::new("id", ColumnData::Int(range.clone().map(|i| Some(id_value(i))).collect())),
        Column::new("s", ColumnData::Str(range.clone().map(|i| Some(s_value(i))).collect())),
        Column::new("t", ColumnData::Timestamp(range.map(|i| Some(T0 + i as i64 * 1_000)).collect())),
    ])
    .unwrap()
}

/// np.histogram's counts of sorted values with the given edges.
fn exact_counts(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let n = edges.len() - 1;
    let mut counts = vec![];
    let mut start = 0;
    for j in 0..n {
        let end = if j + 1 == n { sorted.len() } else { sorted.partition_point(|&x| x < edges[j + 1]) };
        counts.push((end - start) as u64);
        start = end;
    }
    counts
}

fn check_histogram(what: &str, h: &Histogram, sorted: &[f64]) {
    assert!(!h.exact);
    assert_eq!(h.counts.iter().sum::<u64>(), sorted.len() as u64, "{what}");
    assert_eq!(h.edges.first(), sorted.first());
    assert_eq!(h.edges.last(), sorted.last());
    let exact = exact_counts(sorted, &h.edges);
    let mut worst = 0.0f64;
    for (a, e) in h.counts.iter().zip(&exact) {
        let err = (*a as f64 - *e as f64).abs() / sorted.len() as f64;
        worst = worst.max(err);
        assert!(err <= 0.005, "{what}: {:?} vs exact {exact:?}", h.counts);
    }
    eprintln!("{what}: worst histogram bin error {:.4} % of all values", worst * 100.0);
}

#[test]
fn two_million_rows_stay_within_bounded_memory_and_stated_tolerances() {
    let schema = [
        ("x".to_owned(), ColumnType::Float),
        ("id".to_owned(), ColumnType::Int),
        ("s".to_owned(), ColumnType::String),
        ("t".to_owned(), ColumnType::Timestamp),
    ];
    let config =
        ProfileConfig { exact_row_limit: LIMIT, distinct_limit: LIMIT, histogram_bins: 20, top_k: 10 };
    let mut profiler = Profiler::new(&schema, config).unwrap();
    let mut start = 0;
    while start < ROWS {
        let end = (start + BATCH).min(ROWS);
        profiler.push(&batch(start, end)).unwrap();
        assert!(profiler.buffered_values() as u64 <= LIMIT, "{} values buffered", profiler.buffered_values());
        start = end;
    }
    let profile = profiler.finish();
    assert_eq!(profile.rows, ROWS as u64);

    // x: quantiles by rank and value, histogram.
    let mut xs: Vec<f64> = (0..ROWS as u64).map(x_value).collect();
    xs.sort_by(f64::total_cmp);
    let x = &profile.columns[0];
    let ColumnStats::Numeric(s) = &x.stats else { panic!("x is numeric") };
    assert!(!s.quantiles_exact);
    assert_eq!(s.quantiles.len(), 9);
    for q in &s.quantiles {
        let below = xs.partition_point(|&v| v < q.value) as f64 / ROWS as f64;
        let at_or_below = xs.partition_point(|&v| v <= q.value) as f64 / ROWS as f64;
        assert!(
            below - 0.01 <= q.q && q.q <= at_or_below + 0.01,
            "q{}: {} has rank {below}..{at_or_below}",
            q.q,
            q.value
        );
        let exact = xs[((ROWS - 1) as f64 * q.q) as usize];
        eprintln!("x q{}: {} (exact {exact}), rank {below:.5}..{at_or_below:.5}", q.q, q.value);
        assert!((q.value - exact).abs() <= 0.0051 * exact.abs(), "q{}: {} vs exact {exact}", q.q, q.value);
    }
    assert_eq!(s.min, xs.first().copied());
    assert_eq!(s.max, xs.last().copied());
    check_histogram("x", s.histogram.as_ref().unwrap(), &xs);
    assert!(!x.distinct_exact);
    let mut distinct_x = xs.clone();
    distinct_x.dedup();
    let err = (x.distinct as f64 - distinct_x.len() as f64).abs() / distinct_x.len() as f64;
    eprintln!("x distinct {} vs {} ({:.3} %)", x.distinct, distinct_x.len(), err * 100.0);
    assert!(err <= 0.02, "x distinct {} vs {}", x.distinct, distinct_x.len());

    // id: an even histogram, distinct count of ~1.1 million values.
    let mut ids: Vec<i64> = (0..ROWS as u64).map(id_value).collect();
    ids.sort_unstable();
    let id = &profile.columns[1];
    let ColumnStats::Numeric(id_stats) = &id.stats else { panic!("id is numeric") };
    let id_values: Vec<f64> = ids.iter().map(|&v| v as f64).collect();
    check_histogram("id", id_stats.histogram.as_ref().unwrap(), &id_values);
    ids.dedup();
    assert!(!id.distinct_exact);
    let err = (id.distinct as f64 - ids.len() as f64).abs() / ids.len() as f64;
    eprintln!("id distinct {} vs {} ({:.3} %)", id.distinct, ids.len(), err * 100.0);
    assert!(err <= 0.02, "id distinct {} vs {}", id.distinct, ids.len());

    // s: heavy hitters and distinct count.
    let s_col = &profile.columns[2];
    let ColumnStats::Categorical(top) = &s_col.stats else { panic!("s is categorical") };
    assert!(!top.exact);
    let listed: u64 = top.values.iter().map(|v| v.count).sum();
    assert_eq!(listed + top.other, ROWS as u64);
    let heavy: Vec<&str> = top.values.iter().take(5).map(|v| v.value.as_str()).collect();
    for h in ["hot0", "hot1", "hot2", "hot3", "hot4"] {
        assert!(heavy.contains(&h), "{h} missing from {heavy:?}");
    }
    for v in top.values.iter().take(5) {
        assert!(
            v.count <= 40_000 && 40_000 <= v.count + top.max_error,
            "{}: {} (max error {})",
            v.value,
            v.count,
            top.max_error
        );
    }
    let mut strings: Vec<String> = (0..ROWS as u64).map(s_value).collect();
    strings.sort_unstable();
    strings.dedup();
    let err = (s_col.distinct as f64 - strings.len() as f64).abs() / strings.len() as f64;
    eprintln!(
        "s distinct {} vs {} ({:.3} %); top-5 {:?}, max error {}",
        s_col.distinct,
        strings.len(),
        err * 100.0,
        &top.values[..5],
        top.max_error
    );
    assert!(err <= 0.02, "s distinct {} vs {}", s_col.distinct, strings.len());

    // t: an even spread over time, exact range.
    let t = &profile.columns[3];
    let ColumnStats::Timestamp(ts) = &t.stats else { panic!("t is a timestamp") };
    assert_eq!(ts.min, Some(T0));
    assert_eq!(ts.max, Some(T0 + (ROWS as i64 - 1) * 1_000));
    let times: Vec<f64> = (0..ROWS as i64).map(|i| (T0 + i * 1_000) as f64).collect();
    check_histogram("t", ts.histogram.as_ref().unwrap(), &times);
    let err = (t.distinct as f64 - ROWS as f64).abs() / ROWS as f64;
    assert!(err <= 0.02, "t distinct {}", t.distinct);
}
