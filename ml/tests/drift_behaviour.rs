//! What drift checks decide: identical data passes, an obvious shift fails,
//! missing or empty data is reported rather than a panic.

use domain::datasets::ColumnType;
use domain::drift::{DriftConfig, DriftStatistic, DriftStatus, DriftThresholdOverrides};
use ml::drift::{
    Baseline, DriftError, DriftOptions, FrameReference, NumericReference, drift_frame, ks_statistic,
    numeric_drift,
};
use ml::frame::{Column, ColumnData, Frame};

/// A deterministic, roughly normal sample (sum of uniforms from an LCG).
fn normalish(n: usize, seed: u64, mean: f64, sd: f64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n).map(|_| mean + sd * ((0..12).map(|_| uniform()).sum::<f64>() - 6.0)).collect()
}

#[test]
fn identical_distributions_pass_with_zero_statistics() {
    let v = normalish(5_000, 1, 10.0, 2.0);
    let reference = NumericReference::new(&v, 20).unwrap();
    let d = numeric_drift(&reference, &v).unwrap();
    assert_eq!(d.ks_statistic, 0.0);
    assert_eq!(d.ks_p_value, 1.0);
    assert!(d.psi.abs() < 1e-12, "psi {}", d.psi);
    assert!(d.js_divergence.abs() < 1e-12, "js {}", d.js_divergence);

    let frame =
        Frame::new(vec![Column::new("x", ColumnData::Float(v.iter().map(|&x| Some(x)).collect()))]).unwrap();
    let reference = FrameReference::new(&frame, &DriftOptions::default()).unwrap();
    let result = drift_frame(&reference, &frame, &DriftConfig::default());
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].status, DriftStatus::Pass);
    assert!(result[0].breaches.is_empty());
}

#[test]
fn a_sample_of_the_same_distribution_passes_and_an_obvious_shift_fails() {
    let baseline = normalish(20_000, 1, 0.0, 1.0);
    let reference = NumericReference::new(&baseline, 20).unwrap();

    let same = numeric_drift(&reference, &normalish(10_000, 2, 0.0, 1.0)).unwrap();
    assert!(same.psi < 0.01 && same.js_divergence < 0.01, "{same:?}");
    assert!(same.ks_p_value > 0.001, "p {}", same.ks_p_value);

    let shifted = numeric_drift(&reference, &normalish(10_000, 3, 1.5, 1.0)).unwrap();
    assert!(shifted.psi > 1.0, "psi {}", shifted.psi);
    assert!(shifted.ks_statistic > 0.4 && shifted.ks_p_value < 1e-100);
    assert!(shifted.js_divergence > 0.3);
    let (status, breaches) = domain::drift::DriftThresholds::default().evaluate_numeric(&shifted);
    assert_eq!(status, DriftStatus::Fail);
    let tripped: Vec<_> = breaches.iter().map(|b| b.statistic).collect();
    assert_eq!(tripped, vec![DriftStatistic::Psi, DriftStatistic::JsDivergence, DriftStatistic::KsPValue]);
}

#[test]
fn empty_and_all_missing_columns_are_errors_not_panics() {
    let reference = NumericReference::new(&[1.0, 2.0, 3.0], 20).unwrap();
    assert_eq!(numeric_drift(&reference, &[]), Err(DriftError::EmptyCurrent { missing: 0 }));
    assert_eq!(
        numeric_drift(&reference, &[f64::NAN, f64::INFINITY]),
        Err(DriftError::EmptyCurrent { missing: 2 })
    );
    assert_eq!(NumericReference::new(&[], 20), Err(DriftError::EmptyReference { missing: 0 }));
    assert_eq!(NumericReference::new(&[f64::NAN], 20), Err(DriftError::EmptyReference { missing: 1 }));
    assert_eq!(NumericReference::new(&[1.0], 0), Err(DriftError::InvalidBins(0)));
    assert_eq!(NumericReference::with_sample_cap(&[1.0], 5, 1), Err(DriftError::InvalidSampleCap(1)));
    // One value on each side still works.
    let one = NumericReference::new(&[5.0], 3).unwrap();
    let d = numeric_drift(&one, &[5.0]).unwrap();
    assert_eq!((d.ks_statistic, d.ks_p_value, d.psi), (0.0, 1.0, 0.0));
}

#[test]
fn frames_report_insufficient_data_missing_columns_and_type_changes() {
    let baseline = Frame::new(vec![
        Column::new("all_missing", ColumnData::Float(vec![None, Some(f64::NAN), None])),
        Column::new("gone", ColumnData::Int(vec![Some(1), Some(2), Some(3)])),
        Column::new("retyped", ColumnData::Int(vec![Some(1), Some(2), Some(3)])),
        Column::new("empty_now", ColumnData::Str(vec![Some("a".into()), Some("b".into()), None])),
        Column::new("when", ColumnData::Timestamp(vec![Some(1), Some(2), Some(3)])),
        Column::new("flag", ColumnData::Bool(vec![Some(true), Some(false), Some(true)])),
    ])
    .unwrap();
    let current = Frame::new(vec![
        Column::new("all_missing", ColumnData::Float(vec![Some(1.0), Some(2.0)])),
        Column::new("retyped", ColumnData::Str(vec![Some("x".into()), None])),
        Column::new("empty_now", ColumnData::Str(vec![None, None])),
        Column::new("when", ColumnData::Timestamp(vec![Some(9), Some(10)])),
        Column::new("flag", ColumnData::Bool(vec![Some(false), Some(false)])),
        Column::new("extra", ColumnData::Int(vec![Some(1), Some(2)])),
    ])
    .unwrap();
    let reference = FrameReference::new(&baseline, &DriftOptions::default()).unwrap();
    assert!(matches!(reference.column("all_missing").unwrap().baseline, Baseline::Empty { missing: 3 }));

    let result = drift_frame(&reference, &current, &DriftConfig::default());
    let by_name = |n: &str| result.iter().find(|c| c.column == n).unwrap();
    assert_eq!(result.len(), 6, "one result per baseline column, in order; `extra` is ignored");
    assert_eq!(result[0].column, "all_missing");

    let c = by_name("all_missing");
    assert_eq!(c.status, DriftStatus::InsufficientData);
    assert!(c.message.as_deref().unwrap().contains("baseline has no usable values"));
    let c = by_name("gone");
    assert_eq!(c.status, DriftStatus::InsufficientData);
    assert!(c.message.as_deref().unwrap().contains("missing from the current data"));
    let c = by_name("retyped");
    assert_eq!(c.status, DriftStatus::InsufficientData);
    assert!(c.message.as_deref().unwrap().contains("string in the current data but int in the baseline"));
    let c = by_name("empty_now");
    assert_eq!(c.status, DriftStatus::InsufficientData);
    assert!(c.message.as_deref().unwrap().contains("current data has no usable values (2 missing"));
    let c = by_name("when");
    assert_eq!((c.status, c.column_type), (DriftStatus::Skipped, ColumnType::Timestamp));
    let c = by_name("flag");
    assert_eq!(c.status, DriftStatus::Fail); // true 2/3 -> 0: L-infinity 2/3
    let cat = c.categorical.as_ref().unwrap();
    assert!((cat.l_infinity - 2.0 / 3.0).abs() < 1e-15);
    assert_eq!(cat.vanished_categories, 1);

    // Every result survives JSON (a NaN would come back as null and fail to parse).
    let json = serde_json::to_string(&result).unwrap();
    assert!(!json.contains(":null"), "{json}");
    assert_eq!(serde_json::from_str::<Vec<domain::drift::ColumnDrift>>(&json).unwrap(), result);
}

#[test]
fn per_column_overrides_apply_by_name() {
    let base = normalish(5_000, 7, 0.0, 1.0);
    let shifted: Vec<f64> = normalish(5_000, 8, 0.25, 1.0);
    let col =
        |name: &str, v: &[f64]| Column::new(name, ColumnData::Float(v.iter().map(|&x| Some(x)).collect()));
    let baseline = Frame::new(vec![col("a", &base), col("b", &base)]).unwrap();
    let current = Frame::new(vec![col("a", &shifted), col("b", &shifted)]).unwrap();
    let reference = FrameReference::new(&baseline, &DriftOptions::default()).unwrap();

    let mut config = DriftConfig::default();
    config.columns.insert("b".into(), DriftThresholdOverrides { psi: Some(0.01), ..Default::default() });
    let result = drift_frame(&reference, &current, &config);
    let psi_breach =
        |i: usize| result[i].breaches.iter().find(|b| b.statistic == DriftStatistic::Psi).cloned();
    assert!(psi_breach(0).is_none(), "{:?}", result[0]);
    let b = psi_breach(1).unwrap();
    assert_eq!((b.status, b.threshold), (DriftStatus::Fail, 0.01));
}

#[test]
fn a_capped_reference_keeps_ks_within_one_over_the_cap() {
    let baseline = normalish(50_000, 11, 0.0, 1.0);
    let current = normalish(20_000, 12, 0.1, 1.0);
    let exact = numeric_drift(&NumericReference::new(&baseline, 20).unwrap(), &current).unwrap();
    let capped_ref = NumericReference::with_sample_cap(&baseline, 20, 1_000).unwrap();
    let capped = numeric_drift(&capped_ref, &current).unwrap();
    assert_eq!(capped.ks_reference_size, 1_000);
    assert_eq!(capped.reference_count, 50_000);
    assert!((capped.ks_statistic - exact.ks_statistic).abs() <= 1.0 / 1_000.0 + 1e-12);
    // PSI and JS come from every baseline value either way.
    assert_eq!((capped.psi, capped.js_divergence), (exact.psi, exact.js_divergence));

    let mut sorted_base = baseline.clone();
    sorted_base.sort_by(f64::total_cmp);
    let mut sorted_cur = current.clone();
    sorted_cur.sort_by(f64::total_cmp);
    assert_eq!(ks_statistic(&sorted_base, &sorted_cur), exact.ks_statistic);
}

#[test]
fn frame_references_round_trip_through_json() {
    let frame = Frame::new(vec![
        Column::new("n", ColumnData::Int(vec![Some(1), Some(5), None, Some(3)])),
        Column::new("s", ColumnData::Str(vec![Some("a".into()), Some("b".into()), Some("a".into()), None])),
    ])
    .unwrap();
    let reference =
        FrameReference::new(&frame, &DriftOptions { histogram_bins: 4, max_reference_sample: None }).unwrap();
    let json = serde_json::to_string(&reference).unwrap();
    let back: FrameReference = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reference);
    assert_eq!(drift_frame(&back, &frame, &DriftConfig::default())[1].status, DriftStatus::Pass);
}
