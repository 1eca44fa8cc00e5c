//! A directed graph drawn left to right as SVG: a pipeline's DAG (boxes coloured by
//! step state) and the lineage view (artifacts and executions). Columns come from the
//! caller (the spec's layers, the lineage walk's); rows within a column follow the
//! mean row of each node's predecessors, which keeps most edges short and straight.

use leptos::prelude::*;
use std::collections::BTreeMap;

pub const NODE_W: f64 = 184.0;
pub const NODE_H: f64 = 58.0;
const COL_GAP: f64 = 64.0;
const ROW_GAP: f64 = 18.0;
const PAD: f64 = 12.0;

#[derive(Clone, Debug, PartialEq)]
pub struct GraphNode {
    pub id: String,
    pub title: String,
    pub subtitle: String,
    /// The third line (state and duration, a type).
    pub note: String,
    /// CSS classes for the box (`state-running`, `artifact`, `start`).
    pub class: String,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
}

/// Each node's top-left corner, and the drawing's size.
pub fn layout(nodes: &[GraphNode], edges: &[GraphEdge]) -> (BTreeMap<String, (f64, f64)>, f64, f64) {
    let mut columns: BTreeMap<usize, Vec<&GraphNode>> = BTreeMap::new();
    for n in nodes {
        columns.entry(n.column).or_default().push(n);
    }
    let mut row: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, col) in columns.iter_mut() {
        // Order by the mean row of the predecessors already placed (stable: ties keep
        // the caller's order).
        let key = |n: &GraphNode| {
            let rows: Vec<f64> = edges
                .iter()
                .filter(|e| e.to == n.id)
                .filter_map(|e| row.get(e.from.as_str()).copied())
                .collect();
            if rows.is_empty() { f64::MAX } else { rows.iter().sum::<f64>() / rows.len() as f64 }
        };
        let mut keyed: Vec<(f64, usize, &GraphNode)> =
            col.iter().enumerate().map(|(i, n)| (key(n), i, *n)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *col = keyed.into_iter().map(|(_, _, n)| n).collect();
        for (i, n) in col.iter().enumerate() {
            row.insert(n.id.as_str(), i as f64);
        }
    }
    let tallest = columns.values().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    let height = PAD * 2.0 + tallest * NODE_H + (tallest - 1.0) * ROW_GAP;
    let mut pos = BTreeMap::new();
    let ncols = columns.keys().max().map(|m| m + 1).unwrap_or(1);
    for (c, col) in &columns {
        // Centre shorter columns vertically.
        let used = col.len() as f64 * NODE_H + (col.len().saturating_sub(1)) as f64 * ROW_GAP;
        let top = PAD + (height - PAD * 2.0 - used) / 2.0;
        for (i, n) in col.iter().enumerate() {
            let x = PAD + *c as f64 * (NODE_W + COL_GAP);
            let y = top + i as f64 * (NODE_H + ROW_GAP);
            pos.insert(n.id.clone(), (x, y));
        }
    }
    let width = PAD * 2.0 + ncols as f64 * NODE_W + (ncols.saturating_sub(1)) as f64 * COL_GAP;
    (pos, width, height)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// The graph. `selected` (when given) highlights a node; `on_select` makes nodes
/// clickable (and keyboard-activatable).
#[component]
pub fn Graph(
    nodes: Vec<GraphNode>,
    edges: Vec<GraphEdge>,
    #[prop(into)] label: String,
    #[prop(optional)] selected: Option<Signal<Option<String>>>,
    #[prop(optional)] on_select: Option<Callback<String>>,
    #[prop(optional)] test_id: Option<&'static str>,
) -> impl IntoView {
    let (pos, width, height) = layout(&nodes, &edges);
    let edge_views = edges
        .iter()
        .filter_map(|e| {
            let (fx, fy) = pos.get(&e.from)?;
            let (tx, ty) = pos.get(&e.to)?;
            let (x1, y1) = (fx + NODE_W, fy + NODE_H / 2.0);
            let (x2, y2) = (tx - 4.0, ty + NODE_H / 2.0);
            let mid = (x1 + x2) / 2.0;
            let d = format!("M{x1:.1},{y1:.1} C{mid:.1},{y1:.1} {mid:.1},{y2:.1} {x2:.1},{y2:.1}");
            Some(view! { <path class="graph-edge" d=d marker-end="url(#graph-arrow)" /> })
        })
        .collect_view();
    let node_views = nodes
        .into_iter()
        .filter_map(|n| {
            let (x, y) = *pos.get(&n.id)?;
            let id = n.id.clone();
            let id_sel = n.id.clone();
            let class = move || {
                let sel = selected.map(|s| s.get().as_deref() == Some(id_sel.as_str())).unwrap_or(false);
                format!("graph-node {}{}", n.class, if sel { " selected" } else { "" })
            };
            let clickable = on_select.is_some();
            let activate = {
                let id = id.clone();
                move || {
                    if let Some(cb) = on_select {
                        cb.run(id.clone())
                    }
                }
            };
            let activate_key = activate.clone();
            let aria = format!("{}: {} {}", n.title, n.subtitle, n.note);
            Some(
                view! {
                    <g
                        class=class
                        transform=format!("translate({x:.1},{y:.1})")
                        role=clickable.then_some("button")
                        tabindex=clickable.then_some("0")
                        aria-label=aria
                        data-node=id.clone()
                        on:click=move |_| activate()
                        on:keydown=move |ev| {
                            if ev.key() == "Enter" || ev.key() == " " {
                                ev.prevent_default();
                                activate_key()
                            }
                        }
                    >
                        <title>{format!("{}\n{}\n{}", n.title, n.subtitle, n.note)}</title>
                        <rect class="graph-box" width=NODE_W height=NODE_H rx="6" />
                        <rect class="graph-stripe" width="5" height=NODE_H rx="2" />
                        <text class="graph-title" x="14" y="19">{clip(&n.title, 24)}</text>
                        <text class="graph-sub" x="14" y="35">{clip(&n.subtitle, 28)}</text>
                        <text class="graph-note" x="14" y="50">{clip(&n.note, 30)}</text>
                    </g>
                }
                .into_any(),
            )
        })
        .collect::<Vec<AnyView>>();
    view! {
        <div class="graph-frame" data-testid=test_id>
            <svg
                class="graph"
                viewBox=format!("0 0 {width:.0} {height:.0}")
                width=format!("{width:.0}")
                role="group"
                aria-label=label
            >
                <defs>
                    <marker id="graph-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto">
                        <path d="M0,0 L8,4 L0,8 z" class="graph-arrowhead" />
                    </marker>
                </defs>
                {edge_views}
                {node_views}
            </svg>
        </div>
    }
}
