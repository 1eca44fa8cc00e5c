//! Distribution charts of dataset profiles: a histogram (optionally overlaid on a
//! reference histogram, for drift) as server-drawn SVG, and top-k frequencies as
//! plain HTML bars (readable by screen readers, no client code).

use crate::format;
use leptos::prelude::*;

const W: f64 = 320.0;
const H: f64 = 120.0;
const LEFT: f64 = 6.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 6.0;
const BOTTOM: f64 = 20.0;

/// Short axis labels: 12.3k, 0.0042, 1.2e9.
pub fn short(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{x:.2e}")
    } else if a >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Bars of `counts` over `edges` (len + 1). With `reference`, both are drawn as
/// proportions, the reference as an outline behind the current bars.
#[component]
pub fn HistogramChart(
    label: String,
    edges: Vec<f64>,
    counts: Vec<u64>,
    #[prop(optional)] reference: Option<Vec<u64>>,
    /// Formats the axis ends (timestamps need dates, not microseconds).
    #[prop(optional)]
    time_axis: bool,
) -> impl IntoView {
    let n = counts.len();
    if n == 0 || edges.len() != n + 1 {
        return view! { <p class="muted">"No values to chart."</p> }.into_any();
    }
    let share = |c: &[u64]| -> Vec<f64> {
        let total: u64 = c.iter().sum();
        c.iter().map(|&x| if total == 0 { 0.0 } else { x as f64 / total as f64 }).collect()
    };
    let cur = share(&counts);
    let refs = reference.as_deref().filter(|r| r.len() == n).map(share);
    let top = cur.iter().chain(refs.iter().flatten()).fold(0.0f64, |a, &b| a.max(b)).max(f64::MIN_POSITIVE);
    let bw = (W - LEFT - RIGHT) / n as f64;
    let y = |v: f64| TOP + (1.0 - v / top) * (H - TOP - BOTTOM);
    let end = |x: f64| {
        if time_axis { format::micros_date(x as i64) } else { short(x) }
    };
    let (lo, hi) = (end(edges[0]), end(edges[n]));
    let bars = cur
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let tip = format!(
                "{} – {}: {} ({:.1}%)",
                end(edges[i]),
                end(edges[i + 1]),
                format::count(counts[i] as i64),
                v * 100.0
            );
            view! {
                <rect class="bar" x=LEFT + i as f64 * bw + 0.5 y=y(v) width=(bw - 1.0).max(0.5) height=(H - BOTTOM - y(v)).max(0.0)>
                    <title>{tip}</title>
                </rect>
            }
        })
        .collect_view();
    let outline = refs.map(|r| {
        let mut d = format!("M{LEFT},{}", H - BOTTOM);
        for (i, v) in r.iter().enumerate() {
            let x0 = LEFT + i as f64 * bw;
            d.push_str(&format!(" L{x0:.1},{:.1} L{:.1},{:.1}", y(*v), x0 + bw, y(*v)));
        }
        d.push_str(&format!(" L{},{}", W - RIGHT, H - BOTTOM));
        view! { <path class="reference" d=d /> }
    });
    let aria = format!("{label}: histogram from {lo} to {hi} in {n} bins");
    view! {
        <svg class="histogram" viewBox=format!("0 0 {W} {H}") role="img" aria-label=aria preserveAspectRatio="none">
            {bars}
            {outline}
            <line class="axis" x1=LEFT y1=H - BOTTOM x2=W - RIGHT y2=H - BOTTOM />
            <text class="tick" x=LEFT y=H - 6.0 text-anchor="start">{lo}</text>
            <text class="tick" x=W - RIGHT y=H - 6.0 text-anchor="end">{hi}</text>
        </svg>
    }
    .into_any()
}

/// The most frequent values as horizontal bars, with "other" last. With
/// `reference` (value → share), a marker shows the reference share.
#[component]
pub fn TopBars(
    values: Vec<(String, u64)>,
    other: u64,
    #[prop(optional)] reference: Option<Vec<(String, f64)>>,
) -> impl IntoView {
    let total: u64 = values.iter().map(|v| v.1).sum::<u64>() + other;
    let mut rows = values;
    if other > 0 {
        rows.push(("(other)".into(), other));
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let max_share = max / total.max(1) as f64;
    let reference = reference.unwrap_or_default();
    let scale = reference.iter().map(|r| r.1).fold(max_share, f64::max).max(f64::MIN_POSITIVE);
    view! {
        <ul class="topk">
            {rows
                .into_iter()
                .take(12)
                .map(|(value, count)| {
                    let share = count as f64 / total.max(1) as f64;
                    let marker = reference.iter().find(|r| r.0 == value).map(|r| {
                        view! { <span class="ref-mark" title=format!("reference {:.1}%", r.1 * 100.0) style=format!("left:{:.1}%", r.1 / scale * 100.0)></span> }
                    });
                    view! {
                        <li>
                            <span class="topk-label" title=value.clone()>{value.clone()}</span>
                            <span class="topk-bar">
                                <span class="topk-fill" style=format!("width:{:.1}%", share / scale * 100.0)></span>
                                {marker}
                            </span>
                            <span class="topk-count">{format!("{:.1}%", share * 100.0)}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
