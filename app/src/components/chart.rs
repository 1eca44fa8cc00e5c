//! A small line chart drawn as SVG on the server (no client code): title, y range,
//! x range and label, one series. Long series are reduced to min/max per pixel
//! column so a 100k-step curve stays a few kilobytes and keeps its spikes.

use leptos::prelude::*;

const W: f64 = 480.0;
const H: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 32.0;

/// Keeps the first point, then per pixel column the lowest and the highest value.
pub fn downsample(points: &[(f64, f64)], columns: usize) -> Vec<(f64, f64)> {
    if points.len() <= columns * 2 || columns == 0 {
        return points.to_vec();
    }
    let (x0, x1) = (points[0].0, points[points.len() - 1].0);
    let span = (x1 - x0).max(f64::EPSILON);
    let mut out = Vec::with_capacity(columns * 2);
    let mut i = 0;
    for c in 0..columns {
        let end = x0 + span * (c + 1) as f64 / columns as f64;
        let mut lo: Option<(f64, f64)> = None;
        let mut hi: Option<(f64, f64)> = None;
        while i < points.len() && (points[i].0 <= end || c == columns - 1) {
            let p = points[i];
            if lo.is_none_or(|l| p.1 < l.1) {
                lo = Some(p);
            }
            if hi.is_none_or(|h| p.1 > h.1) {
                hi = Some(p);
            }
            i += 1;
        }
        match (lo, hi) {
            (Some(l), Some(h)) if l.0 <= h.0 => out.extend([l, h]),
            (Some(l), Some(h)) => out.extend([h, l]),
            _ => {}
        }
    }
    out.dedup();
    out
}

fn label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

/// Okabe–Ito colours (colour-blind safe), in order, for series.
const PALETTE: [&str; 8] =
    ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"];

/// One line of a chart.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

#[component]
pub fn LineChart(title: String, x_label: String, series: Vec<Series>) -> impl IntoView {
    let columns = (W - LEFT - RIGHT) as usize;
    let series: Vec<Series> = series
        .into_iter()
        .map(|s| Series { points: downsample(&s.points, columns), name: s.name })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return view! { <figure class="chart"><figcaption>{title}</figcaption><p class="muted">"No finite values."</p></figure> }.into_any();
    }
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in series.iter().flat_map(|s| s.points.iter()) {
        xmin = xmin.min(*x);
        xmax = xmax.max(*x);
        ymin = ymin.min(*y);
        ymax = ymax.max(*y);
    }
    if (ymax - ymin).abs() < f64::EPSILON {
        ymin -= 0.5;
        ymax += 0.5;
    }
    if (xmax - xmin).abs() < f64::EPSILON {
        xmax = xmin + 1.0;
    }
    let sx = |x: f64| LEFT + (x - xmin) / (xmax - xmin) * (W - LEFT - RIGHT);
    let sy = |y: f64| TOP + (ymax - y) / (ymax - ymin) * (H - TOP - BOTTOM);
    let lines: Vec<(String, String, String)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let path = s
                .points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect::<Vec<_>>()
                .join(" ");
            (s.name.clone(), PALETTE[i % PALETTE.len()].to_string(), path)
        })
        .collect();
    let summary = match series.as_slice() {
        [one] => {
            let last = one.points[one.points.len() - 1];
            format!(
                "{} points; last value {} at {} {}",
                one.points.len(),
                label(last.1),
                label(last.0),
                x_label
            )
        }
        many => format!("{} runs", many.len()),
    };
    let legend = (lines.len() > 1).then(|| {
        lines
            .iter()
            .map(|(name, colour, _)| {
                view! { <li><span class="swatch" style=format!("background:{colour}")></span>{name.clone()}</li> }
            })
            .collect_view()
    });
    view! {
        <figure class="chart" data-testid="metric-chart">
            <figcaption><strong>{title.clone()}</strong> <span class="muted">{summary.clone()}</span></figcaption>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=format!("{title}: {summary}") preserveAspectRatio="none">
                <line class="axis" x1=LEFT y1=TOP x2=LEFT y2=H - BOTTOM />
                <line class="axis" x1=LEFT y1=H - BOTTOM x2=W - RIGHT y2=H - BOTTOM />
                <text class="tick" x=LEFT - 6.0 y=TOP + 4.0 text-anchor="end">{label(ymax)}</text>
                <text class="tick" x=LEFT - 6.0 y=H - BOTTOM text-anchor="end">{label(ymin)}</text>
                <text class="tick" x=LEFT y=H - BOTTOM + 14.0 text-anchor="start">{label(xmin)}</text>
                <text class="tick" x=W - RIGHT y=H - BOTTOM + 14.0 text-anchor="end">{label(xmax)}</text>
                <text class="tick" x=(LEFT + W - RIGHT) / 2.0 y=H - 6.0 text-anchor="middle">{x_label}</text>
                {lines.iter().map(|(_, colour, path)| view! { <polyline class="series" style=format!("stroke:{colour}") points=path.clone() /> }).collect_view()}
            </svg>
            {legend.map(|l| view! { <ul class="legend">{l}</ul> })}
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_extremes_and_bounds_size() {
        let mut pts: Vec<(f64, f64)> = (0..100_000).map(|i| (i as f64, (i % 7) as f64)).collect();
        pts[54_321].1 = 1000.0;
        let d = downsample(&pts, 400);
        assert!(d.len() <= 800, "{}", d.len());
        assert!(d.iter().any(|p| p.1 == 1000.0), "the spike survives");
        assert_eq!(d[0], (0.0, 0.0));
        let small = vec![(0.0, 1.0), (1.0, 2.0)];
        assert_eq!(downsample(&small, 400), small);
    }
}
