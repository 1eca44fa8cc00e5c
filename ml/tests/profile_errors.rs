//! Batches the profiler must refuse, and inputs it must profile without panicking:
//! no rows at all, empty batches, all-missing columns, extreme values.

use domain::datasets::ColumnType;
use ml::frame::{Column, ColumnData, Frame};
use ml::profile::{ColumnStats, DatasetProfile, ProfileConfig, ProfileError, Profiler};

fn schema() -> Vec<(String, ColumnType)> {
    vec![
        ("n".into(), ColumnType::Int),
        ("x".into(), ColumnType::Float),
        ("b".into(), ColumnType::Bool),
        ("s".into(), ColumnType::String),
        ("t".into(), ColumnType::Timestamp),
    ]
}

fn frame(columns: Vec<(&str, ColumnData)>) -> Frame {
    Frame::new(columns.into_iter().map(|(n, d)| Column::new(n, d)).collect()).unwrap()
}

fn all_missing(rows: usize) -> Frame {
    frame(vec![
        ("n", ColumnData::Int(vec![None; rows])),
        ("x", ColumnData::Float(vec![Some(f64::NAN); rows])),
        ("b", ColumnData::Bool(vec![None; rows])),
        ("s", ColumnData::Str(vec![None; rows])),
        ("t", ColumnData::Timestamp(vec![None; rows])),
    ])
}

/// Every float in the profile is finite (JSON has no NaN or infinity).
fn assert_json_safe(p: &DatasetProfile) {
    // serde_json would write a non-finite float as null, silently: check the values.
    serde_json::to_string(p).unwrap();
    for c in &p.columns {
        if let ColumnStats::Numeric(s) = &c.stats {
            for v in [s.min, s.max, s.mean, s.std].into_iter().flatten() {
                assert!(v.is_finite());
            }
            assert!(s.quantiles.iter().all(|q| q.value.is_finite()));
            if let Some(h) = &s.histogram {
                assert!(h.edges.iter().all(|e| e.is_finite()));
            }
        }
    }
    for row in &p.correlations.pearson {
        assert!(row.iter().flatten().all(|r| r.is_finite()));
    }
}

fn assert_empty_columns(p: &DatasetProfile, rows: u64) {
    assert_eq!(p.rows, rows);
    assert_eq!(p.columns.len(), 5);
    for c in &p.columns {
        assert_eq!((c.count, c.missing, c.distinct, c.distinct_exact), (0, rows, 0, true), "{}", c.name);
        match &c.stats {
            ColumnStats::Numeric(s) => {
                assert_eq!((s.min, s.max, s.mean, s.std), (None, None, None, None));
                assert!(s.quantiles.is_empty());
                assert_eq!(s.histogram, None);
            }
            ColumnStats::Categorical(top) => {
                assert!(top.values.is_empty());
                assert_eq!(top.other, 0);
            }
            ColumnStats::Timestamp(t) => assert_eq!((t.min, t.max, &t.histogram), (None, None, &None)),
        }
    }
    assert_eq!(p.correlations.columns, ["n", "x"]);
    assert_eq!(p.correlations.pearson, vec![vec![None, None], vec![None, None]]);
    assert_json_safe(p);
}

#[test]
fn no_rows_at_all_gives_an_empty_profile() {
    let p = Profiler::new(&schema(), ProfileConfig::default()).unwrap().finish();
    assert_empty_columns(&p, 0);

    let mut profiler = Profiler::new(&schema(), ProfileConfig::default()).unwrap();
    profiler.push(&all_missing(0)).unwrap();
    assert_empty_columns(&profiler.finish(), 0);

    let p = Profiler::new(&[], ProfileConfig::default()).unwrap().finish();
    assert!(p.columns.is_empty() && p.correlations.pearson.is_empty());
}

#[test]
fn all_missing_columns_have_counts_and_no_statistics() {
    let mut profiler = Profiler::new(&schema(), ProfileConfig::default()).unwrap();
    profiler.push(&all_missing(3)).unwrap();
    profiler.push(&all_missing(4)).unwrap();
    assert_empty_columns(&profiler.finish(), 7);
}

#[test]
fn mismatched_batches_are_refused_naming_the_column() {
    let schema = vec![("n".to_owned(), ColumnType::Int), ("x".to_owned(), ColumnType::Float)];
    let mut profiler = Profiler::new(&schema, ProfileConfig::default()).unwrap();

    let missing = frame(vec![("n", ColumnData::Int(vec![Some(1)]))]);
    let err = profiler.push(&missing).unwrap_err();
    assert_eq!(err, ProfileError::MissingColumn("x".into()));
    assert!(err.to_string().contains("`x`"), "{err}");

    let extra = frame(vec![
        ("n", ColumnData::Int(vec![Some(1)])),
        ("x", ColumnData::Float(vec![Some(1.0)])),
        ("y", ColumnData::Float(vec![Some(1.0)])),
    ]);
    assert_eq!(profiler.push(&extra).unwrap_err(), ProfileError::UnexpectedColumn("y".into()));

    let retyped =
        frame(vec![("n", ColumnData::Float(vec![Some(1.0)])), ("x", ColumnData::Float(vec![Some(1.0)]))]);
    let err = profiler.push(&retyped).unwrap_err();
    assert_eq!(
        err,
        ProfileError::TypeMismatch { name: "n".into(), expected: ColumnType::Int, got: ColumnType::Float }
    );
    assert_eq!(
        err.to_string(),
        "column `n` is float in this batch but int in the schema: convert it before profiling"
    );

    // Frames built by hand (bypassing Frame::new), ragged or with a column twice, too.
    let ragged = Frame {
        columns: vec![
            Column::new("n", ColumnData::Int(vec![Some(1), Some(2)])),
            Column::new("x", ColumnData::Float(vec![Some(1.0)])),
        ],
    };
    assert!(matches!(profiler.push(&ragged), Err(ProfileError::RaggedBatch { .. })));
    let twice = Frame {
        columns: vec![
            Column::new("n", ColumnData::Int(vec![Some(1)])),
            Column::new("n", ColumnData::Int(vec![Some(2)])),
            Column::new("x", ColumnData::Float(vec![Some(1.0)])),
        ],
    };
    assert_eq!(profiler.push(&twice).unwrap_err(), ProfileError::DuplicateColumn("n".into()));

    // Refused batches were not counted.
    let p = profiler.finish();
    assert_eq!(p.rows, 0);
    assert_eq!(p.columns[0].count, 0);
}

#[test]
fn extreme_values_profile_without_panics_or_non_finite_output() {
    let schema = vec![("x".to_owned(), ColumnType::Float), ("y".to_owned(), ColumnType::Float)];
    for limit in [0, 1_000_000] {
        let config = ProfileConfig { exact_row_limit: limit, distinct_limit: 1, ..ProfileConfig::default() };
        let mut profiler = Profiler::new(&schema, config).unwrap();
        let x =
            vec![Some(f64::MAX), Some(-f64::MAX), Some(f64::INFINITY), Some(0.0), Some(f64::MIN_POSITIVE)];
        let y = vec![Some(1.0), Some(1.0), Some(1.0), Some(1.0), Some(1.0)];
        profiler.push(&frame(vec![("x", ColumnData::Float(x)), ("y", ColumnData::Float(y))])).unwrap();
        let p = profiler.finish();
        assert_json_safe(&p);
        let ColumnStats::Numeric(s) = &p.columns[0].stats else { panic!() };
        assert_eq!((s.min, s.max, s.pos_inf), (Some(-f64::MAX), Some(f64::MAX), 1));
        // The sum overflows: no mean, no std, no histogram (its width overflows) rather than inf.
        assert_eq!(s.std, None);
        assert_eq!(s.histogram, None);
        let ColumnStats::Numeric(c) = &p.columns[1].stats else { panic!() };
        assert_eq!(
            (c.std, c.histogram.as_ref().map(|h| h.counts.clone())),
            (Some(0.0), Some(vec![0; 10].into_iter().chain([5]).chain(vec![0; 9]).collect()))
        );
        assert_eq!(p.correlations.pearson[1][1], None, "a constant column has no correlation");
    }
}
