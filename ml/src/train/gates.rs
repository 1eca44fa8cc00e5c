//! Validation gates: does the candidate's evaluation pass each gate?

use domain::training::{Evaluation, Gate, GateOp, GateResult};

/// One result per gate, in order. A gate whose metric was not computed, or a
/// baseline gate without a baseline, fails with a detail saying why.
pub fn check_gates(gates: &[Gate], candidate: &Evaluation, baseline: Option<&Evaluation>) -> Vec<GateResult> {
    gates.iter().map(|g| check(g, candidate, baseline)).collect()
}

fn available(eval: &Evaluation) -> String {
    let names: Vec<&str> = eval.metrics.keys().map(String::as_str).collect();
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

fn fail(gate: &Gate, value: Option<f64>, detail: String) -> GateResult {
    GateResult { gate: gate.text(), passed: false, value, threshold: None, detail }
}

fn check(gate: &Gate, candidate: &Evaluation, baseline: Option<&Evaluation>) -> GateResult {
    let text = gate.text();
    match gate {
        Gate::Threshold { metric, op, value } => {
            let Some(&got) = candidate.metrics.get(metric) else {
                let detail = format!(
                    "metric `{metric}` was not computed for this model (available: {})",
                    available(candidate)
                );
                return fail(gate, None, detail);
            };
            let passed = op.holds(got, *value);
            let detail = format!("{metric} = {got:.6} {} {value}", verdict(passed, *op));
            GateResult { gate: text, passed, value: Some(got), threshold: Some(*value), detail }
        }
        Gate::Baseline { metric, op, tolerance_pct } => {
            let Some(&got) = candidate.metrics.get(metric) else {
                let detail = format!(
                    "metric `{metric}` was not computed for this model (available: {})",
                    available(candidate)
                );
                return fail(gate, None, detail);
            };
            let Some(base) = baseline else {
                return fail(gate, Some(got), "no baseline model was given to compare with".into());
            };
            let Some(&b) = base.metrics.get(metric) else {
                let detail =
                    format!("the baseline model has no metric `{metric}` (it has: {})", available(base));
                return fail(gate, Some(got), detail);
            };
            let slack = b.abs() * tolerance_pct / 100.0;
            let threshold = match op {
                GateOp::Ge | GateOp::Gt => b - slack,
                GateOp::Le | GateOp::Lt => b + slack,
            };
            let passed = op.holds(got, threshold);
            let detail = format!(
                "{metric} = {got:.6} {} {threshold:.6} (baseline {b:.6}, tolerance {tolerance_pct}%)",
                verdict(passed, *op)
            );
            GateResult { gate: text, passed, value: Some(got), threshold: Some(threshold), detail }
        }
        Gate::Slice { metric, op, value } => {
            if candidate.slices.is_empty() {
                return fail(gate, None, "there are no slices: set a slice column for the run".into());
            }
            let values: Vec<(&str, f64)> = candidate
                .slices
                .iter()
                .filter_map(|s| s.metrics.get(metric).map(|v| (s.value.as_str(), *v)))
                .collect();
            // The worst slice decides: the smallest value for >=/>, the largest for <=/<.
            let worst = values.iter().copied().reduce(|a, b| {
                let b_worse = match op {
                    GateOp::Ge | GateOp::Gt => b.1 < a.1,
                    GateOp::Le | GateOp::Lt => b.1 > a.1,
                };
                if b_worse { b } else { a }
            });
            let Some((slice, got)) = worst else {
                return fail(gate, None, format!("no slice has the metric `{metric}`"));
            };
            let missing = candidate.slices.len() - values.len();
            let passed = op.holds(got, *value) && missing == 0;
            let mut detail = format!(
                "worst slice `{slice}`: {metric} = {got:.6} {} {value}",
                verdict(op.holds(got, *value), *op)
            );
            if missing > 0 {
                detail.push_str(&format!("; {missing} slices have no {metric} (too few rows or classes)"));
            }
            GateResult { gate: text, passed, value: Some(got), threshold: Some(*value), detail }
        }
    }
}

fn verdict(passed: bool, op: GateOp) -> String {
    if passed { op.as_str().to_string() } else { format!("is not {}", op.as_str()) }
}
