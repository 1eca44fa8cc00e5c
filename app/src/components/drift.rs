//! Drift of a dataset against a baseline, per column: the table shared by dataset
//! validation reports and promotion requests (candidate's training data against
//! the current version's).

use domain::drift::{ColumnDrift, DriftStatus};
use leptos::prelude::*;

pub fn drift_badge(s: DriftStatus) -> &'static str {
    match s {
        DriftStatus::Pass => "badge badge-ok",
        DriftStatus::Warn => "badge badge-warn",
        DriftStatus::Fail => "badge badge-alert",
        DriftStatus::InsufficientData | DriftStatus::Skipped => "badge badge-queued",
    }
}

fn fmt3(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 { format!("{x:.1e}") } else { format!("{x:.3}") }
}

/// One row per column, the worst first, with every statistic and why it breached.
#[component]
pub fn DriftTable(drift: Vec<ColumnDrift>) -> impl IntoView {
    let mut ordered = drift;
    ordered.sort_by(|a, b| b.status.cmp(&a.status).then(a.column.cmp(&b.column)));
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="drift-table">
                <thead><tr>
                    <th scope="col">"Column"</th><th scope="col">"Status"</th>
                    <th scope="col" class="num">"PSI"</th><th scope="col" class="num">"KS"</th><th scope="col" class="num">"KS p"</th>
                    <th scope="col" class="num">"JS div."</th><th scope="col" class="num">"L∞"</th><th scope="col" class="num">"χ² p"</th>
                    <th scope="col">"Why"</th>
                </tr></thead>
                <tbody>
                    {ordered.into_iter().map(|d| {
                        let n = d.numeric.as_ref();
                        let c = d.categorical.as_ref();
                        let cell = |v: Option<f64>| v.map(fmt3).unwrap_or_else(|| "–".into());
                        let why = if d.breaches.is_empty() { d.message.clone().unwrap_or_default() } else {
                            d.breaches.iter().map(|b| format!("{} {} (limit {})", b.statistic.label(), fmt3(b.value), b.threshold)).collect::<Vec<_>>().join("; ")
                        };
                        view! {
                            <tr class=format!("status-{}", d.status.as_str())>
                                <td><code>{d.column.clone()}</code></td>
                                <td><span class=drift_badge(d.status)>{d.status.as_str().replace('_', " ")}</span></td>
                                <td class="num">{cell(n.map(|n| n.psi))}</td>
                                <td class="num">{cell(n.map(|n| n.ks_statistic))}</td>
                                <td class="num">{cell(n.map(|n| n.ks_p_value))}</td>
                                <td class="num">{cell(n.map(|n| n.js_divergence))}</td>
                                <td class="num">{cell(c.map(|c| c.l_infinity))}</td>
                                <td class="num">{cell(c.map(|c| c.chi_squared_p_value))}</td>
                                <td class="muted">{why}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
