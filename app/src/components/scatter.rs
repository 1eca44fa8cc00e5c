//! A scatter of one value against another, one labelled point per item (e.g. a
//! parameter against a metric across runs). Numeric x values get a linear axis;
//! text values (e.g. `optimizer=adam`) get one evenly spaced slot per value.

use crate::components::bars::short;
use leptos::prelude::*;

const W: f64 = 480.0;
const H: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 36.0;
const PALETTE: [&str; 8] =
    ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"];

/// One point: its label (shown on hover and in the legend), x as text, y.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub label: String,
    pub x: String,
    pub y: f64,
}

/// Where each x lands in 0..=1, and the tick labels: numbers when every x parses,
/// else the sorted distinct texts.
fn x_positions(points: &[Point]) -> (Vec<f64>, Vec<(f64, String)>) {
    let nums: Option<Vec<f64>> =
        points.iter().map(|p| p.x.trim().parse::<f64>().ok().filter(|v| v.is_finite())).collect();
    match nums {
        Some(v) if !v.is_empty() => {
            let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let span = if hi > lo { hi - lo } else { 1.0 };
            let pos = v.iter().map(|x| if hi > lo { (x - lo) / span } else { 0.5 }).collect();
            (pos, vec![(0.0, short(lo)), (1.0, short(hi))])
        }
        _ => {
            let mut cats: Vec<&str> = points.iter().map(|p| p.x.as_str()).collect();
            cats.sort_unstable();
            cats.dedup();
            let slot = |c: &str| {
                let i = cats.iter().position(|x| *x == c).unwrap_or(0);
                (i as f64 + 0.5) / cats.len() as f64
            };
            let ticks = cats
                .iter()
                .map(|c| (slot(c), if c.is_empty() { "(none)".to_string() } else { c.to_string() }))
                .collect();
            (points.iter().map(|p| slot(&p.x)).collect(), ticks)
        }
    }
}

#[component]
pub fn ScatterChart(x_label: String, y_label: String, points: Vec<Point>) -> impl IntoView {
    let points: Vec<Point> = points.into_iter().filter(|p| p.y.is_finite()).collect();
    if points.is_empty() {
        return view! { <p class="muted">"No run has both values."</p> }.into_any();
    }
    let (xs, ticks) = x_positions(&points);
    let (ymin, ymax) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
    let (ymin, ymax) = if ymax > ymin { (ymin, ymax) } else { (ymin - 0.5, ymax + 0.5) };
    // A margin inside the axes so points at the extremes are not cut in half.
    let sx = |t: f64| LEFT + (0.05 + 0.9 * t) * (W - LEFT - RIGHT);
    let sy = |y: f64| TOP + (0.05 + 0.9 * (ymax - y) / (ymax - ymin)) * (H - TOP - BOTTOM);
    let dots = points
        .iter()
        .zip(&xs)
        .enumerate()
        .map(|(i, (p, &x))| {
            let tip = format!("{}: {} = {}, {} = {}", p.label, x_label, p.x, y_label, short(p.y));
            view! {
                <circle class="dot" cx=sx(x) cy=sy(p.y) r="5" style=format!("fill:{}", PALETTE[i % PALETTE.len()])>
                    <title>{tip}</title>
                </circle>
            }
        })
        .collect_view();
    let tick_views = ticks
        .into_iter()
        .map(|(t, label)| view! { <text class="tick" x=sx(t) y=H - BOTTOM + 14.0 text-anchor="middle">{label}</text> })
        .collect_view();
    let legend = points
        .iter()
        .enumerate()
        .map(|(i, p)| view! { <li><span class="swatch" style=format!("background:{}", PALETTE[i % PALETTE.len()])></span>{p.label.clone()}</li> })
        .collect_view();
    let aria = format!("{y_label} against {x_label} for {} runs", points.len());
    view! {
        <figure class="chart scatter" data-testid="scatter">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=aria preserveAspectRatio="none" style="aspect-ratio: 480 / 240">
                <line class="axis" x1=LEFT y1=TOP x2=LEFT y2=H - BOTTOM />
                <line class="axis" x1=LEFT y1=H - BOTTOM x2=W - RIGHT y2=H - BOTTOM />
                <text class="tick" x=LEFT - 6.0 y=sy(ymax) + 4.0 text-anchor="end">{short(ymax)}</text>
                <text class="tick" x=LEFT - 6.0 y=sy(ymin) + 4.0 text-anchor="end">{short(ymin)}</text>
                {tick_views}
                <text class="tick" x=(LEFT + W - RIGHT) / 2.0 y=H - 4.0 text-anchor="middle">{x_label.clone()}</text>
                {dots}
            </svg>
            <ul class="legend">{legend}</ul>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: &str, y: f64) -> Point {
        Point { label: x.into(), x: x.into(), y }
    }

    #[test]
    fn numbers_get_a_linear_axis_and_text_gets_slots() {
        let (pos, ticks) = x_positions(&[p("0.1", 1.0), p("0.3", 2.0), p("0.2", 3.0)]);
        assert!((pos[0] - 0.0).abs() < 1e-12 && (pos[1] - 1.0).abs() < 1e-12 && (pos[2] - 0.5).abs() < 1e-9);
        assert_eq!(ticks.len(), 2);
        let (pos, ticks) = x_positions(&[p("sgd", 1.0), p("adam", 2.0), p("sgd", 3.0)]);
        assert_eq!(pos, vec![0.75, 0.25, 0.75]);
        assert_eq!(ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), vec!["adam", "sgd"]);
    }
}
