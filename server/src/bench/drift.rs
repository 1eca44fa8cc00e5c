//! Drift statistics on a large table: `rows × columns` numeric values against a
//! baseline of `baseline_rows`, every numeric statistic (PSI, KS with its
//! p-value, JS divergence) per column. No database: the data is generated from
//! a seed, so every run sees the same numbers.
//!
//! Half the columns come from the baseline's distribution; the other half are
//! shifted (from 0.005 to ~2.5 standard deviations, doubling per column) and
//! some also scaled, so the run covers every branch of the KS p-value (tiny,
//! moderate and underflowing p-values) and finds drift where there is some.
//!
//! Timed separately: preparing the baseline's reference (once, stored in
//! practice), and the drift check proper (`ml::drift::drift_frame`: convert,
//! sort and compare every column, columns in parallel). A per-stage breakdown
//! then times each stage alone on one thread, summed over columns.

use super::Report;
use domain::drift::{DriftConfig, DriftStatistic, DriftStatus};
use ml::drift::{
    Baseline, DriftOptions, FrameReference, drift_frame, js_divergence_sorted, ks_2samp_p_value,
    ks_statistic, psi_sorted, sort_finite,
};
use ml::frame::{Column, ColumnData, Frame};
use std::time::{Duration, Instant};

pub struct Settings {
    pub rows: usize,
    pub baseline_rows: usize,
    pub columns: usize,
    pub bins: usize,
    pub max_reference_sample: Option<usize>,
    pub runs: usize,
    pub seed: u64,
}

pub fn run(s: &Settings) -> anyhow::Result<Report> {
    anyhow::ensure!(
        s.rows > 0 && s.baseline_rows > 0 && s.columns > 0,
        "rows, baseline rows and columns must be > 0"
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let t = Instant::now();
    let baseline = frame(s.columns, s.baseline_rows, s.seed, |_| (0.0, 1.0));
    let current = frame(s.columns, s.rows, s.seed ^ 0x9E37_79B9_7F4A_7C15, |c| shift(c, s.columns));
    let generate_seconds = t.elapsed().as_secs_f64();

    let options = DriftOptions { histogram_bins: s.bins, max_reference_sample: s.max_reference_sample };
    let t = Instant::now();
    let reference = FrameReference::new(&baseline, &options)?;
    let reference_seconds = t.elapsed().as_secs_f64();
    drop(baseline);

    let config = DriftConfig::default();
    let mut times = Vec::with_capacity(s.runs.max(1));
    let mut result = Vec::new();
    for _ in 0..s.runs.max(1) {
        let t = Instant::now();
        result = drift_frame(&reference, &current, &config);
        times.push(t.elapsed().as_secs_f64());
    }
    let drift_best = times.iter().copied().fold(f64::INFINITY, f64::min);
    let drift_worst = times.iter().copied().fold(0.0, f64::max);

    let count = |status: DriftStatus| result.iter().filter(|c| c.status == status).count() as f64;
    let tripped = |stat: DriftStatistic| {
        result.iter().filter(|c| c.breaches.iter().any(|b| b.statistic == stat)).count() as f64
    };
    let stages = stage_breakdown(&reference, &current);

    let cells = (s.rows * s.columns) as f64;
    let mut notes = vec![
        format!(
            "{} rows x {} numeric columns against a baseline of {} rows",
            s.rows, s.columns, s.baseline_rows
        ),
        format!(
            "drift_frame on {threads} threads; runs: {}",
            times.iter().map(|t| format!("{t:.3} s")).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "first {} columns undrifted, the rest shifted (and some scaled); seed {}",
            s.columns / 2,
            s.seed
        ),
        "stage times: each stage alone on one thread, summed over columns".into(),
    ];
    if let Some(m) = s.max_reference_sample {
        notes.push(format!("KS against a sample of at most {m} baseline values per column"));
    }
    Ok(Report {
        title: "cairn bench drift: PSI, KS (+ p-value) and JS divergence per numeric column",
        figures: vec![
            ("rows", s.rows as f64, ""),
            ("columns", s.columns as f64, ""),
            ("baseline_rows", s.baseline_rows as f64, ""),
            ("threads", threads as f64, ""),
            ("generate_seconds", generate_seconds, "s (test data, not part of drift)"),
            ("reference_seconds", reference_seconds, "s (baseline prepared once)"),
            ("drift_seconds", drift_best, "s (best run: all statistics, all columns)"),
            ("drift_seconds_worst", drift_worst, "s"),
            ("values_per_second", cells / drift_best, "values/s"),
            ("stage_sort_seconds", stages.sort.as_secs_f64(), "s (skip missing + sort)"),
            ("stage_ks_statistic_seconds", stages.ks.as_secs_f64(), "s (merge with sorted baseline)"),
            ("stage_ks_p_value_seconds", stages.ks_p.as_secs_f64(), "s"),
            ("stage_psi_seconds", stages.psi.as_secs_f64(), "s"),
            ("stage_js_seconds", stages.js.as_secs_f64(), "s"),
            ("columns_pass", count(DriftStatus::Pass), ""),
            ("columns_warn", count(DriftStatus::Warn), ""),
            ("columns_fail", count(DriftStatus::Fail), ""),
            ("columns_tripped_psi", tripped(DriftStatistic::Psi), ""),
            ("columns_tripped_js", tripped(DriftStatistic::JsDivergence), ""),
            ("columns_tripped_ks_p_value", tripped(DriftStatistic::KsPValue), ""),
        ],
        notes,
    })
}

/// (mean, standard deviation) of column `c` of the current data: the first half
/// as the baseline, then shifts of 0.005·2^k standard deviations, every third
/// of them also 20% wider.
fn shift(c: usize, columns: usize) -> (f64, f64) {
    let half = columns / 2;
    if c < half {
        return (0.0, 1.0);
    }
    let k = (c - half) as i32;
    (0.005 * 2f64.powi(k), if k % 3 == 2 { 1.2 } else { 1.0 })
}

/// A frame of normal floats, 1% missing, each column from its own stream.
fn frame(columns: usize, rows: usize, seed: u64, params: impl Fn(usize) -> (f64, f64) + Sync) -> Frame {
    let cols: Vec<Column> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..columns)
            .map(|c| {
                let (mean, sd) = params(c);
                scope.spawn(move || {
                    let mut rng = SplitMix64(seed.wrapping_add(c as u64).wrapping_mul(0xA24B_AED4_963E_E407));
                    let values = (0..rows)
                        .map(|_| if rng.next_f64() < 0.01 { None } else { Some(mean + sd * rng.normal()) })
                        .collect();
                    Column::new(format!("x{c:02}"), ColumnData::Float(values))
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    Frame { columns: cols }
}

struct Stages {
    sort: Duration,
    ks: Duration,
    ks_p: Duration,
    psi: Duration,
    js: Duration,
}

fn stage_breakdown(reference: &FrameReference, current: &Frame) -> Stages {
    let mut st = Stages {
        sort: Duration::ZERO,
        ks: Duration::ZERO,
        ks_p: Duration::ZERO,
        psi: Duration::ZERO,
        js: Duration::ZERO,
    };
    for col in reference.columns() {
        let (Baseline::Numeric(r), Some(c)) = (&col.baseline, current.column(&col.name)) else { continue };
        let Some(values) = c.data.to_f64() else { continue };
        let t = Instant::now();
        let (sorted, _) = sort_finite(&values);
        st.sort += t.elapsed();
        let t = Instant::now();
        let d = ks_statistic(r.ks_sample(), &sorted);
        st.ks += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(ks_2samp_p_value(d, r.count(), sorted.len() as u64));
        st.ks_p += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(psi_sorted(r, &sorted));
        st.psi += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(js_divergence_sorted(r, &sorted));
        st.js += t.elapsed();
    }
    st
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator, enough for
/// benchmark data.
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(super) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one of the pair).
    pub(super) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_finds_the_drift_it_planted() {
        let s = Settings {
            rows: 20_000,
            baseline_rows: 20_000,
            columns: 12,
            bins: 20,
            max_reference_sample: None,
            runs: 1,
            seed: 7,
        };
        let report = run(&s).unwrap();
        let fig = |name: &str| report.figures.iter().find(|f| f.0 == name).map(|f| f.1).unwrap();
        // Shifts of 0.005 to 0.16 sd: at 20,000 rows KS sees the larger ones;
        // none reaches the PSI/JS fail levels.
        assert_eq!(fig("columns"), 12.0);
        assert!(fig("columns_tripped_ks_p_value") >= 1.0);
        assert_eq!(fig("columns_fail"), 0.0);
        assert!(fig("drift_seconds") > 0.0);
    }
}
