//! One training run: live progress and log while it runs; afterwards its
//! evaluation (metrics, gates, ROC/PR/calibration or residuals, confusion matrix,
//! permutation importance, slices). A search shows its trials, the best first,
//! and how each searched value relates to the objective.

use crate::api::training::{CancelTraining, training_run};
use crate::components::chart::{LineChart, Series};
use crate::components::evaluation::{
    CalibrationChart, ConfusionMatrix, CurveChart, GateTable, ImportanceBars, ResidualChart, SliceTable,
    TrialPoint, TrialScatter,
};
use crate::components::page::{ErrorBox, Loading, StatCard};
use crate::components::scatter::{Point, ScatterChart};
use crate::live::follow_job_log;
use crate::pages::training::state_badge;
use domain::JobId;
use domain::jobs::{Job, LogLine};
use domain::training::{Evaluation, TrainingDetail, Trial};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use std::collections::BTreeMap;

#[component]
pub fn TrainingRunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let detail = Resource::new(id, training_run);
    view! {
        <Title text="Training run" />
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/training">"Training"</a> " › " <span>"Run"</span></nav>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <RunView detail=d /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Headline metrics, in the order people read them.
pub const HEADLINE: [&str; 12] = [
    "roc_auc",
    "pr_auc",
    "accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "log_loss",
    "rmse",
    "mae",
    "r2",
    "silhouette",
];

#[component]
fn RunView(detail: TrainingDetail) -> impl IntoView {
    let run_id = detail.summary.run_id.clone();
    let detail = RwSignal::new(detail);
    // While the run is open, re-read it every second: progress, stage, and at the
    // end the evaluation, without a reload.
    #[cfg(feature = "hydrate")]
    {
        let id = run_id.clone();
        let handle = set_interval_with_handle(
            move || {
                if detail.with_untracked(|d| d.summary.state.is_terminal()) {
                    return;
                }
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(d) = training_run(id).await {
                        detail.set(d);
                    }
                });
            },
            std::time::Duration::from_millis(1000),
        );
        if let Ok(h) = handle {
            on_cleanup(move || h.clear());
        }
    }
    let lines = RwSignal::new(Vec::<LogLine>::new());
    let job_id = detail.with_untracked(|d| d.job_id.as_ref().and_then(|j| j.parse::<JobId>().ok()));
    if let Some(job_id) = job_id {
        Effect::new(move |_| {
            let sub =
                follow_job_log(job_id, 0, move |l: LogLine| lines.update(|ls| ls.push(l)), move |_: Job| {});
            on_cleanup(move || {
                if let Some(s) = sub {
                    s.close()
                }
            });
        });
    }
    let cancel = ServerAction::<CancelTraining>::new();
    let state = move || detail.with(|d| d.summary.state);
    let summary = move || detail.with(|d| d.summary.clone());
    let cancel_id = run_id.clone();
    view! {
        <header class="page-header">
            <div>
                <h1 data-testid="run-name">{move || summary().run_name}</h1>
                <p class="subtitle">
                    {move || {
                        let s = summary();
                        let data = match (s.dataset, s.dataset_version) {
                            (Some(d), Some(v)) => format!(" on {d} v{v}"),
                            _ => String::new(),
                        };
                        format!("{} {}{}", s.kind, s.algorithm.unwrap_or_default(), data)
                    }}
                    " · " <a href=format!("/runs/{run_id}")>"tracked run"</a>
                    {job_id.map(|j| view! { " · " <a href=format!("/jobs/{j}")>"job"</a> })}
                </p>
            </div>
            <div class="actions">
                <span class=move || state_badge(state()) data-testid="training-state">{move || state().as_str()}</span>
                {move || (!state().is_terminal()).then(|| {
                    let id = cancel_id.clone();
                    view! {
                        <button class="btn" on:click=move |_| { cancel.dispatch(CancelTraining { run_id: id.clone() }); }>"Cancel"</button>
                    }
                })}
            </div>
        </header>
        {move || (!state().is_terminal()).then(|| {
            let s = summary();
            view! {
                <section class="panel" data-testid="training-progress">
                    <div class="progress"><div class="progress-fill" style=format!("width: {:.0}%", s.progress * 100.0)></div></div>
                    <p class="muted">{format!("{} — {:.0}%", s.stage, s.progress * 100.0)}</p>
                </section>
            }
        })}
        {move || summary().error.map(|e| view! {
            <p class="callout callout-alert" role="alert" data-testid="training-failure">{e}</p>
        })}
        {move || {
            let d = detail.get();
            view! {
                {(!d.gates.is_empty()).then(|| view! {
                    <section class="panel"><h2>"Validation gates"</h2><GateTable gates=d.gates.clone() /></section>
                })}
                {(!d.trials.is_empty()).then(|| view! { <Trials detail=d.clone() /> })}
                {d.evaluation.clone().map(|e| {
                    let title = if d.trials.is_empty() { "Evaluation" } else { "Best trial's evaluation" };
                    view! { <EvaluationView title=title evaluation=e train=d.train_metrics.clone().unwrap_or_default() /> }
                })}
                {(d.evaluation.is_none()).then(|| d.train_metrics.clone().filter(|m| !m.is_empty()).map(|m| view! {
                    <section class="panel"><h2>"Metrics"</h2>
                        <div class="cards">
                            {m.into_iter().map(|(k, v)| view! { <StatCard label=k value=format!("{v:.4}") /> }).collect_view()}
                        </div>
                    </section>
                }))}
                {(!d.history.is_empty()).then(|| {
                    let mut by_metric: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
                    for h in &d.history {
                        for (k, v) in &h.metrics {
                            by_metric.entry(k.clone()).or_default().push((h.step as f64, *v));
                        }
                    }
                    view! {
                        <section class="panel"><h2>"Training progress"</h2>
                            <div class="chart-grid">
                                {by_metric.into_iter().map(|(k, pts)| view! {
                                    <LineChart title=k.clone() x_label="step".to_string() series=vec![Series { name: k, points: pts }] />
                                }).collect_view()}
                            </div>
                        </section>
                    }
                })}
            }
        }}
        {job_id.is_some().then(|| view! {
            <section class="panel">
                <h2>"Log"</h2>
                <pre class="log" data-testid="training-log">
                    {move || lines.with(|ls| {
                        let start = ls.len().saturating_sub(40);
                        ls[start..].iter().map(|l| format!("{}\n", l.line)).collect::<String>()
                    })}
                </pre>
            </section>
        })}
    }
}

#[component]
pub fn EvaluationView(
    title: &'static str,
    evaluation: Evaluation,
    train: BTreeMap<String, f64>,
) -> impl IntoView {
    let e = evaluation;
    let cards: Vec<(String, f64)> =
        HEADLINE.iter().filter_map(|k| e.metrics.get(*k).map(|v| (k.to_string(), *v))).collect();
    view! {
        <section class="panel" data-testid="evaluation">
            <h2>{format!("{title} on {} held-out rows", e.n_rows)}</h2>
            <div class="cards">
                {cards.into_iter().map(|(k, v)| {
                    let hint = train.get(&k).map(|t| format!("train {t:.4}"));
                    match hint {
                        Some(h) => view! { <StatCard label=k value=format!("{v:.4}") hint=h /> }.into_any(),
                        None => view! { <StatCard label=k value=format!("{v:.4}") /> }.into_any(),
                    }
                }).collect_view()}
            </div>
            <div class="chart-grid">
                {(!e.roc.is_empty()).then(|| view! {
                    <CurveChart title="ROC curve" x_label="false positive rate" y_label="true positive rate" curves=e.roc.clone() diagonal=true test_id="roc-chart" />
                })}
                {(!e.pr.is_empty()).then(|| view! {
                    <CurveChart title="Precision–recall" x_label="recall" y_label="precision" curves=e.pr.clone() test_id="pr-chart" />
                })}
                {(!e.calibration.is_empty()).then(|| view! { <CalibrationChart bins=e.calibration.clone() /> })}
                {(!e.confusion.is_empty()).then(|| view! { <ConfusionMatrix classes=e.classes.clone() matrix=e.confusion.clone() /> })}
                {(!e.residuals.is_empty()).then(|| view! { <ResidualChart residuals=e.residuals.clone() /> })}
            </div>
            {(!e.importance.is_empty()).then(|| view! {
                <ImportanceBars metric=e.importance_metric.clone().unwrap_or_default() features=e.importance.clone() />
            })}
            {(!e.slices.is_empty()).then(|| view! {
                <h3>{format!("By {}", e.slice_column.clone().unwrap_or_default())}</h3>
                <SliceTable column=e.slice_column.clone().unwrap_or_default() slices=e.slices.clone() />
            })}
        </section>
    }
}

#[component]
fn Trials(detail: TrainingDetail) -> impl IntoView {
    let objective = detail.objective.clone().unwrap_or_else(|| "objective".into());
    let best = detail.best_run_id.clone();
    let names: Vec<String> = detail
        .trials
        .iter()
        .flat_map(|t| t.params.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let done = detail.trials.iter().filter(|t| t.state.is_terminal()).count();
    // Numeric params get a scatter each; a choice (text) param a categorical one.
    let charts: Vec<AnyView> = names
        .iter()
        .map(|n| {
            let numeric: Option<Vec<TrialPoint>> = detail
                .trials
                .iter()
                .filter(|t| t.objective.is_some())
                .map(|t| {
                    Some(TrialPoint {
                        label: t.run_name.clone(),
                        x: t.params.get(n)?.as_f64()?,
                        y: t.objective?,
                        best: best.as_deref() == Some(t.run_id.as_str()),
                    })
                })
                .collect();
            match numeric {
                Some(points) => {
                    view! { <TrialScatter param=n.clone() objective=objective.clone() points=points /> }
                        .into_any()
                }
                None => {
                    let points: Vec<Point> = detail
                        .trials
                        .iter()
                        .filter_map(|t: &Trial| {
                            Some(Point {
                                label: t.run_name.clone(),
                                x: value_text(t.params.get(n)?),
                                y: t.objective?,
                            })
                        })
                        .collect();
                    view! {
                        <figure class="chart"><figcaption>{format!("{objective} by {n}")}</figcaption>
                            <ScatterChart x_label=n.clone() y_label=objective.clone() points=points />
                        </figure>
                    }
                    .into_any()
                }
            }
        })
        .collect();
    view! {
        <section class="panel" data-testid="trials">
            <h2>{format!("Trials ({done} of {} done) — objective {objective}", detail.trials.len())}</h2>
            <div class="chart-grid">
                {charts}
            </div>
            <div class="table-wrap">
                <table class="data" data-testid="trials-table">
                    <thead><tr><th>"#"</th><th>"Trial"</th><th>"State"</th>
                        {names.iter().map(|n| view! { <th class="mono">{n.clone()}</th> }).collect_view()}
                        <th class="num">{objective.clone()}</th>
                    </tr></thead>
                    <tbody>
                        {detail.trials.iter().enumerate().map(|(i, t)| {
                            let is_best = best.as_deref() == Some(t.run_id.as_str());
                            view! {
                                <tr class=if is_best { "best" } else { "" }>
                                    <td class="num">{i + 1}</td>
                                    <td><a href=format!("/training/runs/{}", t.run_id)>{t.run_name.clone()}</a>
                                        {is_best.then(|| view! { " " <span class="badge badge-ok">"best"</span> })}</td>
                                    <td><span class=state_badge(t.state) title=t.error.clone().unwrap_or_default()>{t.state.as_str()}</span></td>
                                    {names.iter().map(|n| view! {
                                        <td class="num mono">{t.params.get(n).map(value_text).unwrap_or_default()}</td>
                                    }).collect_view()}
                                    <td class="num">{t.objective.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into())}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{}", (f * 1e4).round() / 1e4),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
