//! Validation of dataset versions: the panel on a dataset's page (run one, list
//! past reports) and the report page (anomalies, drift table, reference vs
//! current distributions per column).

use crate::api::datasets::{get_validation, list_validations, run_validation};
use crate::components::bars::{HistogramChart, TopBars};
use crate::components::drift::{DriftTable, drift_badge};
use crate::components::page::{ErrorBox, Loading, PageHeader, StatCard};
use crate::pages::datasets::when;
use domain::DatasetId;
use domain::datasets::{CheckStatus, ValidationReport};
use domain::drift::{ColumnDrift, DriftStatus};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

fn check_badge(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "badge badge-ok",
        CheckStatus::Warn => "badge badge-warn",
        CheckStatus::Fail => "badge badge-alert",
    }
}

#[component]
pub fn ValidationsPanel(dataset: DatasetId, versions: Vec<i32>) -> impl IntoView {
    let list = Resource::new(|| (), move |_| list_validations(dataset));
    let latest = versions.first().copied();
    let version = RwSignal::new(latest.map(|v| v.to_string()).unwrap_or_default());
    let baseline = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let run = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(v) = version.get_untracked().parse::<i32>() else { return };
        let b = baseline.get_untracked().parse::<i32>().ok();
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            match run_validation(dataset, v, b).await {
                Ok(r) => navigate(
                    &format!("/datasets/{dataset}/validations/{}", r.summary.validation_id),
                    Default::default(),
                ),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    let options = move |with_default: bool| {
        let mut opts: Vec<_> = Vec::new();
        if with_default {
            opts.push(view! { <option value="">"the version before"</option> }.into_any());
        }
        opts.extend(
            versions
                .iter()
                .map(|v| view! { <option value=v.to_string()>{format!("v{v}")}</option> }.into_any()),
        );
        opts
    };
    view! {
        <section class="panel" data-testid="validations">
            <h2>"Validation"</h2>
            <p class="hint">"Checks a version against the schema below and a baseline version: missing or new columns, type changes, unexpected nulls, unseen categories, out-of-range values, and per-column drift (PSI, Kolmogorov–Smirnov, Jensen–Shannon; L∞ and χ² for categories)."</p>
            {latest.is_some().then(|| view! {
                <form class="form-row" on:submit=run>
                    <label><span>"Version"</span>
                        <select bind:value=version aria-label="version to validate">{options(false)}</select>
                    </label>
                    <label><span>"Baseline"</span>
                        <select bind:value=baseline aria-label="baseline version">{options(true)}</select>
                    </label>
                    <button type="submit" class="btn btn-primary" disabled=move || busy.get()>
                        {move || if busy.get() { "Validating…" } else { "Validate" }}
                    </button>
                </form>
            })}
            {move || error.get().map(|m| view! { <p class="callout callout-alert" role="alert">{m}</p> })}
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(l) if l.is_empty() => view! { <p class="muted">"No validations yet."</p> }.into_any(),
                        Ok(l) => view! {
                            <div class="table-wrap">
                                <table class="data" data-testid="validations-table">
                                    <thead><tr>
                                        <th scope="col">"Result"</th><th scope="col">"Version"</th><th scope="col">"Baseline"</th>
                                        <th scope="col" class="num">"Anomalies"</th><th scope="col" class="num">"Drifted columns"</th>
                                        <th scope="col">"When"</th><th scope="col">"By"</th>
                                    </tr></thead>
                                    <tbody>
                                        {l.into_iter().map(|s| view! {
                                            <tr>
                                                <td><a class=check_badge(s.status) href=format!("/datasets/{}/validations/{}", s.dataset_id, s.validation_id)>{s.status.as_str()}</a></td>
                                                <td>{format!("v{}", s.version)}</td>
                                                <td>{s.baseline_version.map(|b| format!("v{b}")).unwrap_or_else(|| "–".into())}</td>
                                                <td class="num">{s.anomalies}</td>
                                                <td class="num">{s.drifted_columns}</td>
                                                <td>{when(s.created_at)}</td>
                                                <td>{s.created_by.clone().unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn ValidationPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params.with(|p| p.get("vid").and_then(|s| s.parse::<domain::ValidationId>().ok()))
    });
    let report = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_validation(id).await,
                None => Err(crate::error::AppError::NotFound("no such validation".into())),
            }
        },
    );
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(r) => view! { <Report report=r /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Report(report: ValidationReport) -> impl IntoView {
    let s = report.summary.clone();
    let title = format!("Validation of {} v{}", report.dataset_name, s.version);
    let against = s
        .baseline_version
        .map(|b| format!("against v{b}"))
        .unwrap_or_else(|| "without a baseline (schema only)".into());
    let schema_note = if report.body.schema_saved {
        "the saved schema"
    } else {
        "a schema inferred from the baseline (none saved)"
    };
    let subtitle = format!(
        "{against}, checked with {schema_note}; {} by {}",
        when(s.created_at),
        s.created_by.clone().unwrap_or_default()
    );
    let t = report.body.config.thresholds;
    let drifted: Vec<ColumnDrift> = report
        .body
        .drift
        .iter()
        .filter(|d| matches!(d.status, DriftStatus::Warn | DriftStatus::Fail))
        .cloned()
        .collect();
    view! {
        <Title text=title.clone() />
        <nav class="breadcrumbs" aria-label="Breadcrumb">
            <a href="/datasets">"Datasets"</a> " / "
            <a href=format!("/datasets/{}", s.dataset_id)>{report.dataset_name.clone()}</a> " / "
            <span>"Validation"</span>
        </nav>
        <PageHeader title=title subtitle=subtitle>
            <span class=check_badge(s.status) data-testid="validation-status" style="font-size:15px;padding:4px 12px">{s.status.as_str().to_uppercase()}</span>
        </PageHeader>
        <section class="cards">
            <StatCard label="Result" value=s.status.as_str().to_string() />
            <StatCard label="Anomalies" value=s.anomalies.to_string() test_id="anomaly-count" />
            <StatCard label="Drifted columns" value=format!("{} of {}", s.drifted_columns, report.body.drift.len()) test_id="drift-count" />
            <StatCard label="Drift thresholds" value=format!("PSI {}", t.psi) hint=format!("JS {} · L∞ {} · p < {} warns", t.js_divergence, t.l_infinity, t.ks_p_value) />
        </section>
        <section class="panel">
            <h2>"Anomalies"</h2>
            {if report.body.anomalies.is_empty() {
                view! { <p class="muted">"None: every column matches the schema."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="data" data-testid="anomalies-table">
                            <thead><tr><th scope="col">"Severity"</th><th scope="col">"Column"</th><th scope="col">"Kind"</th><th scope="col">"What was found"</th></tr></thead>
                            <tbody>
                                {report.body.anomalies.iter().map(|a| view! {
                                    <tr class=format!("status-{}", a.severity.as_str())>
                                        <td><span class=check_badge(a.severity)>{a.severity.as_str()}</span></td>
                                        <td><code>{a.column.clone()}</code></td>
                                        <td>{format!("{:?}", a.kind).chars().fold(String::new(), |mut acc, c| { if c.is_uppercase() && !acc.is_empty() { acc.push(' '); } acc.push(c.to_ascii_lowercase()); acc })}</td>
                                        <td>{a.message.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        {(!report.body.drift.is_empty()).then(|| view! {
            <section class="panel">
                <h2>"Drift by column"</h2>
                <DriftTable drift=report.body.drift.clone() />
            </section>
        })}
        {(!report.body.drift.is_empty()).then(|| {
            let shown = if drifted.is_empty() { report.body.drift.clone() } else { drifted };
            view! {
                <section class="panel">
                    <h2>"Reference vs current"</h2>
                    <p class="legend-inline">
                        <span><span class="swatch" style="background:var(--series-5)"></span>"current version"</span>
                        <span><span class="swatch" style="background:var(--series-1)"></span>"baseline"</span>
                    </p>
                    <div class="drift-grid" data-testid="overlays">
                        {shown.into_iter().filter(|d| d.numeric.is_some() || d.categorical.is_some()).take(24).map(|d| view! { <Overlay drift=d /> }).collect_view()}
                    </div>
                </section>
            }
        })}
    }
}

#[component]
fn Overlay(drift: ColumnDrift) -> impl IntoView {
    let chart = if let Some(n) = drift.numeric {
        // Shares as counts per 10,000, so the histogram component can draw both.
        let scale = |v: &[f64]| v.iter().map(|x| (x * 10_000.0).round() as u64).collect::<Vec<_>>();
        view! { <HistogramChart label=drift.column.clone() edges=n.histogram_edges counts=scale(&n.histogram_current) reference=scale(&n.histogram_reference) /> }.into_any()
    } else if let Some(c) = drift.categorical {
        let values: Vec<(String, u64)> = c
            .top_shifts
            .iter()
            .map(|s| (s.category.clone(), (s.current * 10_000.0).round() as u64))
            .collect();
        let shown: u64 = values.iter().map(|v| v.1).sum();
        let reference = c.top_shifts.iter().map(|s| (s.category.clone(), s.reference)).collect();
        view! { <TopBars values other=10_000u64.saturating_sub(shown) reference=reference /> }.into_any()
    } else {
        ().into_any()
    };
    view! {
        <article class="card column-card" data-testid="overlay" data-column=drift.column.clone()>
            <header><h3>{drift.column.clone()}</h3><span class=drift_badge(drift.status)>{drift.status.as_str().replace('_', " ")}</span></header>
            {chart}
        </article>
    }
}
