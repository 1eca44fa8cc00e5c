//! Charts of a model's evaluation, drawn as SVG on the server: ROC and PR curves,
//! calibration, confusion matrix, residuals, permutation importance, slices and
//! gate results. Each reads `domain::training` types as stored with the run.

use crate::components::bars::short;
use domain::training::{CalibrationBin, Curve, FeatureImportance, GateResult, Residual, SliceMetrics};
use leptos::prelude::*;

const S: f64 = 260.0;
const PAD_L: f64 = 44.0;
const PAD_B: f64 = 34.0;
const PAD_T: f64 = 10.0;
const PAD_R: f64 = 10.0;
const PALETTE: [&str; 8] =
    ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"];

fn sx(x: f64) -> f64 {
    PAD_L + x.clamp(0.0, 1.0) * (S - PAD_L - PAD_R)
}
fn sy(y: f64) -> f64 {
    PAD_T + (1.0 - y.clamp(0.0, 1.0)) * (S - PAD_T - PAD_B)
}

/// The unit square's frame, ticks at 0, 0.5, 1 and axis labels.
fn unit_axes(x_label: &'static str, y_label: &'static str) -> impl IntoView {
    let ticks = [0.0, 0.5, 1.0];
    view! {
        <rect x=PAD_L y=PAD_T width={S - PAD_L - PAD_R} height={S - PAD_T - PAD_B} class="chart-frame" />
        {ticks.iter().map(|t| view! {
            <text x=sx(*t) y={S - PAD_B + 14.0} class="tick" text-anchor="middle">{t.to_string()}</text>
            <text x={PAD_L - 6.0} y={sy(*t) + 4.0} class="tick" text-anchor="end">{t.to_string()}</text>
        }).collect_view()}
        <text x={(PAD_L + S - PAD_R) / 2.0} y={S - 4.0} class="axis-label" text-anchor="middle">{x_label}</text>
        <text x=12.0 y={(PAD_T + S - PAD_B) / 2.0} class="axis-label" text-anchor="middle"
            transform=format!("rotate(-90 12 {})", (PAD_T + S - PAD_B) / 2.0)>{y_label}</text>
    }
}

fn polyline(points: impl Iterator<Item = (f64, f64)>) -> String {
    points.map(|(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect::<Vec<_>>().join(" ")
}

/// ROC or PR curves in the unit square, one per class (one-vs-rest) or one for
/// binary, with the area in the legend. ROC shows the chance diagonal.
#[component]
pub fn CurveChart(
    title: &'static str,
    x_label: &'static str,
    y_label: &'static str,
    curves: Vec<Curve>,
    #[prop(optional)] diagonal: bool,
    #[prop(optional)] test_id: Option<&'static str>,
) -> impl IntoView {
    let legend: Vec<(String, &'static str)> = curves
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{} (area {:.3})", c.label, c.area), PALETTE[i % PALETTE.len()]))
        .collect();
    view! {
        <figure class="chart eval-chart" data-testid=test_id.unwrap_or("curve-chart")>
            <figcaption>{title}</figcaption>
            <svg viewBox=format!("0 0 {S} {S}") role="img" aria-label=title>
                {unit_axes(x_label, y_label)}
                {diagonal.then(|| view! {
                    <line x1=sx(0.0) y1=sy(0.0) x2=sx(1.0) y2=sy(1.0) class="chart-guide" />
                })}
                {curves.iter().enumerate().map(|(i, c)| view! {
                    <polyline points=polyline(c.points.iter().map(|p| (p.x, p.y))) fill="none"
                        stroke=PALETTE[i % PALETTE.len()] stroke-width="2" />
                }).collect_view()}
            </svg>
            <ul class="legend">
                {legend.into_iter().map(|(label, colour)| view! {
                    <li><span class="swatch" style=format!("background:{colour}")></span>{label}</li>
                }).collect_view()}
            </ul>
        </figure>
    }
}

/// Reliability: mean predicted probability against the observed rate per bin,
/// with the perfect-calibration diagonal; dot size shows the bin's rows.
#[component]
pub fn CalibrationChart(bins: Vec<CalibrationBin>) -> impl IntoView {
    let max = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let line = polyline(bins.iter().filter(|b| b.count > 0).map(|b| (b.predicted, b.observed)));
    view! {
        <figure class="chart eval-chart" data-testid="calibration-chart">
            <figcaption>"Calibration"</figcaption>
            <svg viewBox=format!("0 0 {S} {S}") role="img" aria-label="Calibration">
                {unit_axes("mean predicted probability", "observed positive rate")}
                <line x1=sx(0.0) y1=sy(0.0) x2=sx(1.0) y2=sy(1.0) class="chart-guide" />
                <polyline points=line fill="none" stroke=PALETTE[0] stroke-width="2" />
                {bins.iter().filter(|b| b.count > 0).map(|b| view! {
                    <circle cx=sx(b.predicted) cy=sy(b.observed) r={2.5 + 4.0 * (b.count as f64 / max).sqrt()} fill=PALETTE[0]>
                        <title>{format!("predicted {:.2}, observed {:.2}, {} rows", b.predicted, b.observed, b.count)}</title>
                    </circle>
                }).collect_view()}
            </svg>
            <p class="hint">"Points on the diagonal: predicted probabilities match observed rates."</p>
        </figure>
    }
}

/// Actual against predicted values, with the y = x line.
#[component]
pub fn ResidualChart(residuals: Vec<Residual>) -> impl IntoView {
    let finite: Vec<&Residual> =
        residuals.iter().filter(|r| r.actual.is_finite() && r.predicted.is_finite()).collect();
    let lo = finite.iter().map(|r| r.actual.min(r.predicted)).fold(f64::MAX, f64::min);
    let hi = finite.iter().map(|r| r.actual.max(r.predicted)).fold(f64::MIN, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = |v: f64| (v - lo) / span;
    view! {
        <figure class="chart eval-chart" data-testid="residual-chart">
            <figcaption>{format!("Predicted vs actual ({} rows)", finite.len())}</figcaption>
            <svg viewBox=format!("0 0 {S} {S}") role="img" aria-label="Predicted vs actual">
                <rect x=PAD_L y=PAD_T width={S - PAD_L - PAD_R} height={S - PAD_T - PAD_B} class="chart-frame" />
                <line x1=sx(0.0) y1=sy(0.0) x2=sx(1.0) y2=sy(1.0) class="chart-guide" />
                {finite.iter().map(|r| view! {
                    <circle cx=sx(n(r.actual)) cy=sy(n(r.predicted)) r="2.2" fill=PALETTE[0] fill-opacity="0.55" />
                }).collect_view()}
                <text x=sx(0.0) y={S - PAD_B + 14.0} class="tick" text-anchor="start">{short(lo)}</text>
                <text x=sx(1.0) y={S - PAD_B + 14.0} class="tick" text-anchor="end">{short(hi)}</text>
                <text x={PAD_L - 6.0} y={sy(0.0)} class="tick" text-anchor="end">{short(lo)}</text>
                <text x={PAD_L - 6.0} y={sy(1.0) + 8.0} class="tick" text-anchor="end">{short(hi)}</text>
                <text x={(PAD_L + S - PAD_R) / 2.0} y={S - 4.0} class="axis-label" text-anchor="middle">"actual"</text>
                <text x=12.0 y={(PAD_T + S - PAD_B) / 2.0} class="axis-label" text-anchor="middle"
                    transform=format!("rotate(-90 12 {})", (PAD_T + S - PAD_B) / 2.0)>"predicted"</text>
            </svg>
        </figure>
    }
}

/// Rows actual, columns predicted; shade by the share of the actual class.
#[component]
pub fn ConfusionMatrix(classes: Vec<String>, matrix: Vec<Vec<u64>>) -> impl IntoView {
    view! {
        <figure class="chart eval-chart" data-testid="confusion-matrix">
            <figcaption>"Confusion matrix"</figcaption>
            <table class="confusion">
                <thead>
                    <tr><th class="muted">"actual ↓ / predicted →"</th>
                        {classes.iter().map(|c| view! { <th class="mono">{c.clone()}</th> }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {matrix.iter().enumerate().map(|(i, row)| {
                        let total = row.iter().sum::<u64>().max(1) as f64;
                        view! {
                            <tr>
                                <th class="mono">{classes.get(i).cloned().unwrap_or_default()}</th>
                                {row.iter().enumerate().map(|(j, n)| {
                                    let share = *n as f64 / total;
                                    let hue = if i == j { "0,114,178" } else { "213,94,0" };
                                    view! {
                                        <td class="num" style=format!("background: rgba({hue},{:.2})", 0.08 + 0.75 * share)
                                            title=format!("{:.1}% of actual {}", share * 100.0, classes.get(i).cloned().unwrap_or_default())>
                                            {n.to_string()}
                                        </td>
                                    }
                                }).collect_view()}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </figure>
    }
}

/// Permutation importance as horizontal bars with ± one std whiskers.
#[component]
pub fn ImportanceBars(metric: String, features: Vec<FeatureImportance>) -> impl IntoView {
    let mut rows = features;
    rows.sort_by(|a, b| b.mean.partial_cmp(&a.mean).unwrap_or(std::cmp::Ordering::Equal));
    rows.truncate(15);
    let max = rows.iter().map(|f| f.mean + f.std).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let (w, label_w, row_h) = (520.0, 150.0, 20.0);
    let h = row_h * rows.len() as f64 + 24.0;
    let x = move |v: f64| label_w + (v.max(0.0) / max) * (w - label_w - 60.0);
    view! {
        <figure class="chart eval-chart wide" data-testid="importance-chart">
            <figcaption>{format!("Permutation importance (drop in {metric} when a column is shuffled)")}</figcaption>
            <svg viewBox=format!("0 0 {w} {h}") role="img" aria-label="Permutation importance">
                {rows.iter().enumerate().map(|(i, f)| {
                    let y = 4.0 + i as f64 * row_h;
                    view! {
                        <text x={label_w - 6.0} y={y + 13.0} class="tick" text-anchor="end">{f.feature.clone()}</text>
                        <rect x=label_w y={y + 3.0} width={x(f.mean) - label_w} height={row_h - 7.0} fill=PALETTE[0] />
                        <line x1=x(f.mean - f.std) x2=x(f.mean + f.std) y1={y + row_h / 2.0} y2={y + row_h / 2.0} stroke="#333" />
                        <text x={x(f.mean + f.std) + 4.0} y={y + 13.0} class="tick">{format!("{:.4}", f.mean)}</text>
                    }
                }).collect_view()}
            </svg>
        </figure>
    }
}

/// Per-slice metrics as a table.
#[component]
pub fn SliceTable(column: String, slices: Vec<SliceMetrics>) -> impl IntoView {
    // The metrics people compare across slices; the rest stay in the API.
    const SHOWN: [&str; 7] = ["accuracy", "f1_macro", "roc_auc", "log_loss", "rmse", "mae", "r2"];
    let present: std::collections::BTreeSet<&String> = slices.iter().flat_map(|s| s.metrics.keys()).collect();
    let names: Vec<String> =
        SHOWN.iter().filter(|m| present.iter().any(|p| p.as_str() == **m)).map(|m| m.to_string()).collect();
    view! {
        <div class="table-wrap" data-testid="slice-table">
            <table class="data">
                <thead><tr><th>{column}</th><th class="num">"rows"</th>
                    {names.iter().map(|n| view! { <th class="num">{n.clone()}</th> }).collect_view()}
                </tr></thead>
                <tbody>
                    {slices.iter().map(|s| view! {
                        <tr>
                            <td class="mono">{s.value.clone()}</td>
                            <td class="num">{s.count.to_string()}</td>
                            {names.iter().map(|n| view! {
                                <td class="num">{s.metrics.get(n).map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into())}</td>
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Gate results: pass/fail with the values compared.
#[component]
pub fn GateTable(gates: Vec<GateResult>) -> impl IntoView {
    view! {
        <table class="data" data-testid="gate-table">
            <thead><tr><th>"Gate"</th><th>"Result"</th><th class="num">"Value"</th><th class="num">"Threshold"</th><th>"Detail"</th></tr></thead>
            <tbody>
                {gates.into_iter().map(|g| view! {
                    <tr>
                        <td class="mono">{g.gate.clone()}</td>
                        <td>{if g.passed {
                            view! { <span class="badge badge-ok">"passed"</span> }.into_any()
                        } else {
                            view! { <span class="badge badge-alert">"failed"</span> }.into_any()
                        }}</td>
                        <td class="num">{g.value.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into())}</td>
                        <td class="num">{g.threshold.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into())}</td>
                        <td class="muted">{g.detail.clone()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// One trial of a search on a param-vs-objective chart.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialPoint {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub best: bool,
}

/// Objective against one searched hyper-parameter, one dot per finished trial,
/// the best ringed. The x axis is logarithmic when the values span more than two
/// decades (penalties and learning rates are searched that way).
#[component]
pub fn TrialScatter(param: String, objective: String, points: Vec<TrialPoint>) -> impl IntoView {
    let (w, h, l, r, t, b) = (420.0, 220.0, 52.0, 12.0, 10.0, 34.0);
    let pts: Vec<TrialPoint> = points.into_iter().filter(|p| p.x.is_finite() && p.y.is_finite()).collect();
    let (xmin, xmax) = pts.iter().fold((f64::MAX, f64::MIN), |(a, c), p| (a.min(p.x), c.max(p.x)));
    let (ymin, ymax) = pts.iter().fold((f64::MAX, f64::MIN), |(a, c), p| (a.min(p.y), c.max(p.y)));
    let log = xmin > 0.0 && xmax / xmin > 100.0;
    let fx = move |x: f64| if log { x.ln() } else { x };
    let (x0, x1) = (fx(xmin), fx(xmax));
    let xspan = if x1 > x0 { x1 - x0 } else { 1.0 };
    let yspan = if ymax > ymin { ymax - ymin } else { 1.0 };
    let sx = move |x: f64| l + (fx(x) - x0) / xspan * (w - l - r);
    let sy = move |y: f64| t + (ymax - y) / yspan * (h - t - b);
    let axis = if log { format!("{param} (log scale)") } else { param.clone() };
    view! {
        <figure class="chart eval-chart" data-testid="trial-scatter">
            <figcaption>{format!("{objective} by {param}")}</figcaption>
            <svg viewBox=format!("0 0 {w} {h}") role="img" aria-label=format!("{objective} by {param}")>
                <rect x=l y=t width={w - l - r} height={h - t - b} class="chart-frame" />
                {pts.iter().map(|p| view! {
                    <circle cx=sx(p.x) cy=sy(p.y) r=if p.best { 5.5 } else { 3.5 }
                        fill=if p.best { PALETTE[3] } else { PALETTE[0] } fill-opacity="0.8">
                        <title>{format!("{}: {} = {}, {objective} = {:.4}", p.label, param, short(p.x), p.y)}</title>
                    </circle>
                }).collect_view()}
                <text x=l y={h - b + 14.0} class="tick" text-anchor="start">{short(xmin)}</text>
                <text x={w - r} y={h - b + 14.0} class="tick" text-anchor="end">{short(xmax)}</text>
                <text x={l - 6.0} y={t + 8.0} class="tick" text-anchor="end">{format!("{ymax:.3}")}</text>
                <text x={l - 6.0} y={h - b} class="tick" text-anchor="end">{format!("{ymin:.3}")}</text>
                <text x={(l + w - r) / 2.0} y={h - 4.0} class="axis-label" text-anchor="middle">{axis}</text>
            </svg>
        </figure>
    }
}
