//! Reading a `TransformSpec` from JSON or YAML, and checking it before any data
//! is touched (so a bad spec fails when it is submitted, not hours into a job).

use std::collections::HashSet;

use domain::prepare::{ImputeStrategy, Scalar, SplitSpec, Step, TransformSpec};

use super::error::PrepareError;
use super::expr;
use super::time::parse_timestamp;

/// A spec written as JSON.
pub fn spec_from_json(text: &str) -> Result<TransformSpec, PrepareError> {
    let spec = serde_json::from_str(text).map_err(|e| PrepareError::Spec(e.to_string()))?;
    validate(&spec)?;
    Ok(spec)
}

/// A spec written as YAML.
pub fn spec_from_yaml(text: &str) -> Result<TransformSpec, PrepareError> {
    let spec = serde_yaml_ng::from_str(text).map_err(|e| PrepareError::Spec(e.to_string()))?;
    validate(&spec)?;
    Ok(spec)
}

/// A spec in either format: JSON when it starts with `{`, else YAML.
pub fn parse_spec(text: &str) -> Result<TransformSpec, PrepareError> {
    if text.trim_start().starts_with('{') { spec_from_json(text) } else { spec_from_yaml(text) }
}

/// Check what can be checked without data: lists, fractions, filter syntax, and
/// what the target may take part in.
pub fn validate(spec: &TransformSpec) -> Result<(), PrepareError> {
    for (i, step) in spec.steps.iter().enumerate() {
        validate_step(step, spec.target.as_deref()).map_err(|e| e.in_step(i, step.op()))?;
    }
    if let Some(split) = &spec.split {
        validate_split(split)?;
    }
    Ok(())
}

fn validate_step(step: &Step, target: Option<&str>) -> Result<(), PrepareError> {
    let not_target = |columns: &[String], what| match target {
        Some(t) if columns.iter().any(|c| c == t) => {
            Err(PrepareError::Target { column: t.to_string(), what })
        }
        _ => Ok(()),
    };
    match step {
        Step::Select { columns } | Step::Ordinal { columns, .. } => names(columns),
        Step::Drop { columns } => {
            names(columns)?;
            not_target(columns, "dropped")
        }
        Step::Filter { expr } => expr::parse(expr).map(|_| ()),
        Step::Impute { strategy, columns } => {
            if let Some(columns) = columns {
                names(columns)?;
            }
            match strategy {
                ImputeStrategy::Constant(Scalar::Float(v)) if !v.is_finite() => {
                    Err(PrepareError::Spec(format!("the constant {v} is not a finite number")))
                }
                _ => Ok(()),
            }
        }
        Step::OneHot { columns, max_categories } => {
            names(columns)?;
            if let Some(max) = max_categories
                && *max < 2
            {
                return Err(PrepareError::Spec(format!(
                    "max_categories must be at least 2 (one category and `other`), got {max}"
                )));
            }
            not_target(columns, "one-hot encoded (use ordinal for a class label)")
        }
        Step::StandardScale { columns } | Step::MinMaxScale { columns } => match columns {
            Some(columns) => names(columns),
            None => Ok(()),
        },
        Step::Log { columns, offset } => {
            names(columns)?;
            if !offset.is_finite() {
                return Err(PrepareError::Spec(format!("the offset {offset} is not a finite number")));
            }
            Ok(())
        }
        Step::DateParts { columns, parts, .. } => {
            names(columns)?;
            if parts.is_empty() {
                return Err(PrepareError::Spec(
                    "list at least one part (year, month, day, weekday, hour, day_of_year)".into(),
                ));
            }
            let mut seen = HashSet::new();
            if let Some(p) = parts.iter().find(|p| !seen.insert(**p)) {
                return Err(PrepareError::Spec(format!("part `{}` is listed twice", p.as_str())));
            }
            not_target(columns, "split into date parts")
        }
    }
}

/// A non-empty list without repeats.
fn names(columns: &[String]) -> Result<(), PrepareError> {
    if columns.is_empty() {
        return Err(PrepareError::Spec("`columns` is empty: list at least one column".into()));
    }
    let mut seen = HashSet::new();
    match columns.iter().find(|c| !seen.insert(c.as_str())) {
        Some(c) => Err(PrepareError::Spec(format!("column `{c}` is listed twice"))),
        None => Ok(()),
    }
}

pub(crate) fn validate_split(split: &SplitSpec) -> Result<(), PrepareError> {
    let fraction = |f: f64| {
        if f.is_finite() && f > 0.0 && f < 1.0 {
            Ok(())
        } else {
            Err(PrepareError::Spec(format!(
                "split test_fraction must be between 0 and 1 (exclusive), got {f}"
            )))
        }
    };
    match split {
        SplitSpec::Random { test_fraction, .. } | SplitSpec::Stratified { test_fraction, .. } => {
            fraction(*test_fraction)
        }
        SplitSpec::Time { before, test_fraction, .. } => match (before, test_fraction) {
            (Some(cutoff), None) => {
                parse_timestamp(cutoff).map(|_| ()).ok_or_else(|| super::split::bad_cutoff(cutoff))
            }
            (None, Some(f)) => fraction(*f),
            _ => Err(PrepareError::Spec(
                "a time split takes either `before` or `test_fraction`, not both or neither".into(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::prepare::{DatePart, UnknownCategory};

    const YAML: &str = r#"
target: Status
steps:
  - op: filter
    expr: 'Age >= 18 and (Home = "rent" or Income > 100) and Status is not null'
  - op: impute
    strategy: {constant: "unknown"}
    columns: [Home]
  - op: impute
    strategy: median
  - op: one_hot
    columns: [Home, Marital]
    max_categories: 5
  - op: ordinal
    columns: [Job]
    unknown: error
  - op: log
    columns: [Income]
    offset: 1
  - op: date_parts
    columns: [when]
    parts: [year, day_of_year]
  - op: standard_scale
split:
  method: stratified
  column: Status
  test_fraction: 0.2
  seed: 7
"#;

    #[test]
    fn yaml_and_json_give_the_same_spec() {
        let spec = spec_from_yaml(YAML).unwrap();
        assert_eq!(spec.target.as_deref(), Some("Status"));
        assert_eq!(spec.steps.len(), 8);
        assert_eq!(
            spec.steps[1],
            Step::Impute {
                strategy: ImputeStrategy::Constant(Scalar::Str("unknown".into())),
                columns: Some(vec!["Home".into()])
            }
        );
        assert_eq!(
            spec.steps[4],
            Step::Ordinal { columns: vec!["Job".into()], unknown: UnknownCategory::Error }
        );
        assert_eq!(spec.steps[5], Step::Log { columns: vec!["Income".into()], offset: 1.0 });
        assert_eq!(
            spec.steps[6],
            Step::DateParts {
                columns: vec!["when".into()],
                parts: vec![DatePart::Year, DatePart::DayOfYear],
                keep: false
            }
        );
        assert_eq!(
            spec.split,
            Some(SplitSpec::Stratified { column: "Status".into(), test_fraction: 0.2, seed: 7 })
        );
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(parse_spec(&json).unwrap(), spec);
        assert_eq!(parse_spec(YAML).unwrap(), spec);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |text: &str| parse_spec(text).unwrap_err().to_string();
        assert!(err("steps:\n  - op: filter\n    expr: 'age >'\n").starts_with(
            "step 1 (filter): filter `age >`: expected a value after `>`, found the end of the expression at character 6"
        ));
        assert!(err("steps:\n  - op: shuffle\n").contains("unknown variant `shuffle`"));
        assert!(err("steps:\n  - op: drop\n    columns: []\n").contains("`columns` is empty"));
        assert!(err("steps:\n  - op: drop\n    columns: [a, a]\n").contains("column `a` is listed twice"));
        assert_eq!(
            err("target: y\nsteps:\n  - op: one_hot\n    columns: [y]\n"),
            "step 1 (one_hot): the target column `y` cannot be one-hot encoded (use ordinal for a class label)"
        );
        assert!(
            err("steps:\n  - op: one_hot\n    columns: [a]\n    max_categories: 1\n").contains("at least 2")
        );
        assert!(
            err("split: {method: random, test_fraction: 0}").contains("between 0 and 1 (exclusive), got 0")
        );
        assert!(err("split: {method: time, column: t}").contains("either `before` or `test_fraction`"));
        assert!(
            err("split: {method: time, column: t, before: soon}")
                .contains("`before: soon` is not a timestamp")
        );
        assert!(err(r#"{"steps": [}"#).starts_with("invalid transform spec: "));
    }
}
