//! Schema checks of a dataset version: the anomalies half of validation (the
//! distribution half is `drift`). Pure: the caller hands in the schema, the
//! profiles and the version's rows.

use crate::frame::{ColumnData, Frame};
use domain::datasets::{
    Anomaly, AnomalyKind, CheckStatus, ColumnInfo, ColumnSchema, ColumnType, DatasetSchema,
};
use domain::profile::{ColumnProfile, ColumnStats, DatasetProfile};
use std::collections::{BTreeMap, HashSet};

/// Categories listed in an inferred schema at most; above this a string column is
/// treated as free text (no allowed-values check).
pub const MAX_INFERRED_CATEGORIES: usize = 50;

/// A missing-value rate this much higher (absolute) than the baseline's is a warning.
pub const NULL_RATE_JUMP: f64 = 0.05;

/// Infers a schema from a version: its types, which columns had missing values, the
/// categories of low-cardinality string columns and the observed numeric ranges.
pub fn infer_schema(columns: &[ColumnInfo], profile: &DatasetProfile) -> DatasetSchema {
    let by_name: BTreeMap<&str, &ColumnProfile> =
        profile.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let columns = columns
        .iter()
        .map(|c| {
            let p = by_name.get(c.name.as_str());
            let mut s = ColumnSchema {
                name: c.name.clone(),
                column_type: c.column_type,
                required: true,
                nullable: p.is_none_or(|p| p.missing > 0),
                categories: None,
                min: None,
                max: None,
            };
            match p.map(|p| (&p.stats, p)) {
                Some((ColumnStats::Categorical(top), p))
                    if c.column_type == ColumnType::String
                        && top.exact
                        && p.distinct_exact
                        && (p.distinct as usize) <= MAX_INFERRED_CATEGORIES
                        && top.other == 0 =>
                {
                    let mut values: Vec<String> = top.values.iter().map(|v| v.value.clone()).collect();
                    values.sort();
                    s.categories = Some(values);
                }
                Some((ColumnStats::Numeric(n), _)) => {
                    s.min = n.min;
                    s.max = n.max;
                }
                _ => {}
            }
            s
        })
        .collect();
    DatasetSchema { columns }
}

fn rate(p: &ColumnProfile) -> f64 {
    let total = p.count + p.missing;
    if total == 0 { 0.0 } else { p.missing as f64 / total as f64 }
}

fn anomaly(column: &str, kind: AnomalyKind, severity: CheckStatus, message: String) -> Anomaly {
    Anomaly { column: column.to_string(), kind, severity, message }
}

/// Checks a version against the schema (and the baseline's profile for null-rate
/// jumps). `frames` are the version's rows, for counting unseen categories and
/// out-of-range values.
pub fn check(
    schema: &DatasetSchema,
    baseline: Option<&DatasetProfile>,
    columns: &[ColumnInfo],
    profile: &DatasetProfile,
    frames: &[Frame],
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let present: BTreeMap<&str, &ColumnInfo> = columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let profiles: BTreeMap<&str, &ColumnProfile> =
        profile.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let base: BTreeMap<&str, &ColumnProfile> =
        baseline.map(|b| b.columns.iter().map(|c| (c.name.as_str(), c)).collect()).unwrap_or_default();
    let expected: HashSet<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();

    for s in &schema.columns {
        let Some(info) = present.get(s.name.as_str()) else {
            let severity = if s.required { CheckStatus::Fail } else { CheckStatus::Warn };
            out.push(anomaly(
                &s.name,
                AnomalyKind::MissingColumn,
                severity,
                format!("column `{}` is missing", s.name),
            ));
            continue;
        };
        // Whole numbers where decimals are expected are still numbers (a file's
        // floats that happen to be integral infer as int).
        let widening = info.column_type == ColumnType::Int && s.column_type == ColumnType::Float;
        if info.column_type != s.column_type && !widening {
            out.push(anomaly(
                &s.name,
                AnomalyKind::TypeChange,
                CheckStatus::Fail,
                format!(
                    "column `{}` is {} but the schema expects {}",
                    s.name, info.column_type, s.column_type
                ),
            ));
            continue;
        }
        let Some(p) = profiles.get(s.name.as_str()) else { continue };
        if !s.nullable && p.missing > 0 {
            out.push(anomaly(
                &s.name,
                AnomalyKind::UnexpectedNulls,
                CheckStatus::Fail,
                format!(
                    "column `{}` has {} missing values but the schema does not allow any",
                    s.name, p.missing
                ),
            ));
        } else if let Some(b) = base.get(s.name.as_str()) {
            let (before, now) = (rate(b), rate(p));
            if now - before > NULL_RATE_JUMP {
                out.push(anomaly(
                    &s.name,
                    AnomalyKind::NullRateJump,
                    CheckStatus::Warn,
                    format!(
                        "column `{}`: missing values rose from {:.1}% to {:.1}%",
                        s.name,
                        before * 100.0,
                        now * 100.0
                    ),
                ));
            }
        }
        if let Some(allowed) = &s.categories {
            let allowed: HashSet<&str> = allowed.iter().map(String::as_str).collect();
            let mut unseen: BTreeMap<String, u64> = BTreeMap::new();
            for f in frames {
                if let Some(c) = f.column(&s.name) {
                    for i in 0..c.data.len() {
                        if let Some(v) = crate::frame::ColumnData::text(&c.data, i)
                            && !allowed.contains(v.as_str())
                        {
                            *unseen.entry(v).or_default() += 1;
                        }
                    }
                }
            }
            if !unseen.is_empty() {
                let total: u64 = unseen.values().sum();
                let mut top: Vec<(&String, &u64)> = unseen.iter().collect();
                top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let shown: Vec<String> = top.iter().take(5).map(|(v, n)| format!("`{v}` ({n})")).collect();
                out.push(anomaly(
                    &s.name,
                    AnomalyKind::UnseenCategory,
                    CheckStatus::Fail,
                    format!(
                        "column `{}` has {total} values outside the allowed categories: {}{}",
                        s.name,
                        shown.join(", "),
                        if unseen.len() > 5 {
                            format!(" and {} more", unseen.len() - 5)
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
        }
        if s.min.is_some() || s.max.is_some() {
            let (lo, hi) = (s.min.unwrap_or(f64::NEG_INFINITY), s.max.unwrap_or(f64::INFINITY));
            let (mut below, mut above) = (0u64, 0u64);
            let (mut seen_lo, mut seen_hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for f in frames {
                let Some(c) = f.column(&s.name) else { continue };
                let values: Box<dyn Iterator<Item = f64>> = match &c.data {
                    ColumnData::Int(v) => Box::new(v.iter().flatten().map(|&x| x as f64)),
                    ColumnData::Float(v) => Box::new(v.iter().flatten().copied().filter(|x| !x.is_nan())),
                    _ => Box::new(std::iter::empty()),
                };
                for x in values {
                    if x < lo {
                        below += 1;
                        seen_lo = seen_lo.min(x);
                    } else if x > hi {
                        above += 1;
                        seen_hi = seen_hi.max(x);
                    }
                }
            }
            if below + above > 0 {
                let mut parts = Vec::new();
                if below > 0 {
                    parts.push(format!("{below} below {lo} (lowest {seen_lo})"));
                }
                if above > 0 {
                    parts.push(format!("{above} above {hi} (highest {seen_hi})"));
                }
                out.push(anomaly(
                    &s.name,
                    AnomalyKind::OutOfRange,
                    CheckStatus::Fail,
                    format!("column `{}` has values out of range: {}", s.name, parts.join(", ")),
                ));
            }
        }
    }
    for c in columns {
        if !expected.contains(c.name.as_str()) {
            out.push(anomaly(
                &c.name,
                AnomalyKind::NewColumn,
                CheckStatus::Warn,
                format!("column `{}` ({}) is not in the schema", c.name, c.column_type),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Column;
    use crate::profile::Profiler;
    use domain::profile::ProfileConfig;

    fn profiled(frame: &Frame) -> (Vec<ColumnInfo>, DatasetProfile) {
        let cols: Vec<ColumnInfo> = frame
            .columns
            .iter()
            .map(|c| ColumnInfo { name: c.name.clone(), column_type: c.data.column_type() })
            .collect();
        let schema: Vec<(String, ColumnType)> =
            cols.iter().map(|c| (c.name.clone(), c.column_type)).collect();
        let mut p = Profiler::new(&schema, ProfileConfig::default()).unwrap();
        p.push(frame).unwrap();
        (cols, p.finish())
    }

    fn frame(home: &[Option<&str>], age: &[Option<i64>]) -> Frame {
        Frame::new(vec![
            Column::new("home", ColumnData::Str(home.iter().map(|h| h.map(str::to_string)).collect())),
            Column::new("age", ColumnData::Int(age.to_vec())),
        ])
        .unwrap()
    }

    #[test]
    fn inferred_schema_lists_categories_and_ranges() {
        let f = frame(&[Some("rent"), Some("owner"), Some("rent")], &[Some(20), Some(60), None]);
        let (cols, profile) = profiled(&f);
        let s = infer_schema(&cols, &profile);
        assert_eq!(s.columns[0].categories, Some(vec!["owner".to_string(), "rent".to_string()]));
        assert!(!s.columns[0].nullable);
        assert_eq!(
            (s.columns[1].min, s.columns[1].max, s.columns[1].nullable),
            (Some(20.0), Some(60.0), true)
        );
        assert!(
            check(&s, Some(&profile), &cols, &profile, &[f]).is_empty(),
            "a version passes its own schema"
        );
    }

    #[test]
    fn changes_are_reported_by_kind_and_severity() {
        let base = frame(&[Some("rent"), Some("owner")], &[Some(20), Some(60)]);
        let (bcols, bprof) = profiled(&base);
        let schema = infer_schema(&bcols, &bprof);
        let cur = Frame::new(vec![
            Column::new("home", ColumnData::Str(vec![Some("rent".into()), Some("castle".into()), None])),
            Column::new("age", ColumnData::Float(vec![Some(1.0), Some(2.0), Some(3.0)])),
            Column::new("extra", ColumnData::Bool(vec![Some(true), None, None])),
        ])
        .unwrap();
        let (ccols, cprof) = profiled(&cur);
        let found = check(&schema, Some(&bprof), &ccols, &cprof, &[cur]);
        let kinds: Vec<(AnomalyKind, CheckStatus)> = found.iter().map(|a| (a.kind, a.severity)).collect();
        assert_eq!(
            kinds,
            vec![
                (AnomalyKind::UnexpectedNulls, CheckStatus::Fail),
                (AnomalyKind::UnseenCategory, CheckStatus::Fail),
                (AnomalyKind::TypeChange, CheckStatus::Fail),
                (AnomalyKind::NewColumn, CheckStatus::Warn),
            ]
        );
        assert!(found[1].message.contains("`castle` (1)"), "{}", found[1].message);
        let missing = check(&schema, None, &ccols[..1], &cprof, &[]);
        assert!(missing.iter().any(|a| a.kind == AnomalyKind::MissingColumn && a.column == "age"));
    }

    #[test]
    fn out_of_range_values_are_counted() {
        let base = frame(&[Some("a"), Some("a")], &[Some(20), Some(60)]);
        let (bcols, bprof) = profiled(&base);
        let schema = infer_schema(&bcols, &bprof);
        let cur = frame(&[Some("a"), Some("a"), Some("a")], &[Some(5), Some(30), Some(99)]);
        let (ccols, cprof) = profiled(&cur);
        let found = check(&schema, Some(&bprof), &ccols, &cprof, &[cur]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, AnomalyKind::OutOfRange);
        assert!(
            found[0].message.contains("1 below 20") && found[0].message.contains("1 above 60"),
            "{}",
            found[0].message
        );
    }
}
