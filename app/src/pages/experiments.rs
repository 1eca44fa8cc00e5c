//! Experiments: the list, one experiment's runs (filter with MLflow's syntax, sort,
//! page), and one run (params, latest metrics with their history, tags).

use crate::api::{
    artifact_preview, get_experiment, get_run, list_experiments, metric_history, run_artifacts, search_runs,
};
use crate::components::chart::{LineChart, Series};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader};
use domain::tracking::{Metric, Run};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

fn when_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn status_badge(s: &str) -> &'static str {
    match s {
        "FINISHED" => "badge badge-ok",
        "RUNNING" => "badge badge-running",
        "FAILED" => "badge badge-alert",
        "KILLED" => "badge badge-warn",
        _ => "badge badge-queued",
    }
}

/// Numbers as people read them in a table: up to 6 significant digits.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "∞".into() } else { "−∞".into() }
    } else if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-4) {
        format!("{v:.4e}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// (step, value) of the finite points; NaN and ±∞ cannot be drawn.
fn finite_points(metrics: &[Metric]) -> Vec<(f64, f64)> {
    metrics.iter().filter(|m| m.value.is_finite()).map(|m| (m.step as f64, m.value)).collect()
}

fn duration(run: &Run) -> String {
    match run.info.end_time {
        Some(end) => crate::format::duration_ms(end - run.info.start_time),
        None => "—".into(),
    }
}

#[component]
pub fn ExperimentsPage() -> impl IntoView {
    let experiments = Resource::new(|| (), |_| list_experiments());
    view! {
        <Title text="Experiments" />
        <PageHeader title="Experiments" subtitle="Runs logged with the mlflow client or by Cairn's own jobs." />
        <section class="panel">
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match experiments.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState
                                title="No experiments yet"
                                hint="Point the mlflow client at Cairn with an API token from Settings:"
                                command="MLFLOW_TRACKING_URI=http://127.0.0.1:3000 MLFLOW_TRACKING_TOKEN=cairn_… python train.py"
                            />
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="data" data-testid="experiments-table">
                                    <thead><tr><th scope="col">"Name"</th><th scope="col">"Id"</th><th scope="col">"Created (UTC)"</th><th scope="col">"Updated (UTC)"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|e| view! {
                                            <tr>
                                                <td><a href=format!("/experiments/{}", e.experiment_id)><strong>{e.name}</strong></a></td>
                                                <td class="mono">{e.experiment_id}</td>
                                                <td class="num">{when_ms(e.creation_time)}</td>
                                                <td class="num">{when_ms(e.last_update_time)}</td>
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
pub fn ExperimentPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1));
    let q = move |k: &str| query.with(|q| q.get(k).map(|s| s.to_string()).unwrap_or_default());
    let experiment = Resource::new(id, get_experiment);
    let runs = Resource::new(
        move || (id(), q("filter"), q("order_by"), q("page")),
        |(id, filter, order, page)| search_runs(id, filter, order, page),
    );
    view! {
        <Title text="Experiment" />
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/experiments">"Experiments"</a> " › " <span>"Runs"</span></nav>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match experiment.await {
                    Ok(e) => view! { <h1 class="title-inline">{e.name}</h1> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
        <section class="panel">
            <form method="get" class="form-row" role="search">
                <label class="grow">
                    <span>"Filter"</span>
                    <input name="filter" class="mono" placeholder="metrics.accuracy > 0.9 and params.model = 'rf'" value=move || q("filter") />
                </label>
                <label>
                    <span>"Order by"</span>
                    <input name="order_by" class="mono" placeholder="metrics.accuracy DESC" value=move || q("order_by") />
                </label>
                <button type="submit" class="btn">"Search"</button>
            </form>
        </section>
        <section class="panel">
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match runs.await {
                        Ok(page) if page.runs.is_empty() => view! {
                            <EmptyState title="No runs match" hint="Loosen the filter, or log a run:" command="mlflow.start_run(); mlflow.log_metric('accuracy', 0.93)" />
                        }.into_any(),
                        Ok(page) => runs_table(page.runs, page.next_page_token, q("filter"), q("order_by")).into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The runs table: fixed columns, then one per param key and per metric key.
fn runs_table(runs: Vec<Run>, next: Option<String>, filter: String, order: String) -> impl IntoView {
    let mut param_keys: Vec<String> =
        runs.iter().flat_map(|r| r.params.iter().map(|p| p.key.clone())).collect();
    param_keys.sort();
    param_keys.dedup();
    let mut metric_keys: Vec<String> =
        runs.iter().flat_map(|r| r.metrics.iter().map(|m| m.key.clone())).collect();
    metric_keys.sort();
    metric_keys.dedup();
    let next_href = next.map(|n| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filter", &filter)
            .append_pair("order_by", &order)
            .append_pair("page", &n)
            .finish();
        format!("?{q}")
    });
    view! {
        <form method="get" action="/compare" id="compare-form">
            <p class="muted">"Tick 2–10 runs, then " <button type="submit" class="btn btn-small">"Compare"</button></p>
        </form>
        <div class="table-wrap">
            <table class="data" data-testid="runs-table">
                <thead>
                    <tr>
                        <th scope="col"><span class="visually-hidden">"Select"</span></th>
                        <th scope="col">"Run"</th><th scope="col">"Status"</th><th scope="col">"Started (UTC)"</th><th scope="col">"Duration"</th><th scope="col">"User"</th>
                        {param_keys.iter().map(|k| view! { <th scope="col" class="param-col">{k.clone()}</th> }).collect_view()}
                        {metric_keys.iter().map(|k| view! { <th scope="col" class="metric-col num">{k.clone()}</th> }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {runs.into_iter().map(|r| {
                        let params: Vec<String> = param_keys.iter().map(|k| r.params.iter().find(|p| &p.key == k).map(|p| p.value.clone()).unwrap_or_default()).collect();
                        let metrics: Vec<String> = metric_keys.iter().map(|k| r.metrics.iter().find(|m| &m.key == k).map(|m| number(m.value)).unwrap_or_default()).collect();
                        let name = if r.info.run_name.is_empty() { r.info.run_id.simple().to_string() } else { r.info.run_name.clone() };
                        view! {
                            <tr>
                                <td><input type="checkbox" name="runs" form="compare-form" value=r.info.run_id.simple().to_string() aria-label=format!("Select {name}") /></td>
                                <td><a href=format!("/runs/{}", r.info.run_id.simple())>{name.clone()}</a></td>
                                <td><span class=status_badge(&r.info.status)>{r.info.status.clone()}</span></td>
                                <td class="num">{when_ms(r.info.start_time)}</td>
                                <td class="num">{duration(&r)}</td>
                                <td>{r.info.user_id.clone()}</td>
                                {params.into_iter().map(|v| view! { <td class="mono">{v}</td> }).collect_view()}
                                {metrics.into_iter().map(|v| view! { <td class="num">{v}</td> }).collect_view()}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {next_href.map(|h| view! { <p><a href=h>"More runs →"</a></p> })}
    }
}

#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<uuid::Uuid>().ok()));
    let run = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_run(id).await,
            None => Err(crate::error::AppError::NotFound("that is not a run id".into())),
        }
    });
    view! {
        <Title text="Run" />
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match run.await {
                    Ok(r) => view! { <RunView run=r /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RunView(run: Run) -> impl IntoView {
    let exp = run.info.experiment_id;
    let name = if run.info.run_name.is_empty() {
        run.info.run_id.simple().to_string()
    } else {
        run.info.run_name.clone()
    };
    let run_id = run.info.run_id;
    let charts = run.metrics.clone();
    let experiment = Resource::new(move || exp, get_experiment);
    let exp_name = move || {
        experiment.get().and_then(|r| r.ok()).map(|e| e.name).unwrap_or_else(|| format!("Experiment {exp}"))
    };
    view! {
        <nav class="breadcrumbs" aria-label="Breadcrumb">
            <a href="/experiments">"Experiments"</a> " › "
            <Transition><a href=format!("/experiments/{exp}")>{exp_name}</a></Transition> " › " <span>"Run"</span>
        </nav>
        <header class="page-header">
            <div><h1>{name}</h1><p class="subtitle mono">{run_id.simple().to_string()}</p></div>
            <div class="actions"><span class=status_badge(&run.info.status) data-testid="run-status">{run.info.status.clone()}</span></div>
        </header>
        <section class="cards">
            <div class="card stat"><div class="stat-label">"Started (UTC)"</div><div class="stat-hint">{when_ms(run.info.start_time)}</div></div>
            <div class="card stat"><div class="stat-label">"Duration"</div><div class="stat-value">{duration(&run)}</div></div>
            <div class="card stat"><div class="stat-label">"User"</div><div class="stat-hint">{run.info.user_id.clone()}</div></div>
            <div class="card stat"><div class="stat-label">"Metrics / params"</div><div class="stat-value">{format!("{} / {}", run.metrics.len(), run.params.len())}</div></div>
        </section>
        <div class="two-col">
            <section class="panel">
                <h2>"Parameters"</h2>
                <table class="data" data-testid="params-table"><tbody>
                    {run.params.into_iter().map(|p| view! { <tr><th scope="row" class="mono">{p.key}</th><td class="mono">{p.value}</td></tr> }).collect_view()}
                </tbody></table>
            </section>
            <section class="panel">
                <h2>"Metrics (latest)"</h2>
                <table class="data" data-testid="metrics-table"><tbody>
                    {run.metrics.into_iter().map(|m| view! { <tr><th scope="row" class="mono">{m.key}</th><td class="num">{number(m.value)}</td><td class="num muted">{format!("step {}", m.step)}</td></tr> }).collect_view()}
                </tbody></table>
            </section>
        </div>
        <section class="panel">
            <h2>"Metric history"</h2>
            <div class="charts">
                {charts.into_iter().map(|m: Metric| view! { <MetricChart run_id=run_id key=m.key /> }).collect_view()}
            </div>
        </section>
        <Artifacts run_id=run_id experiment_id=exp />
        <section class="panel">
            <h2>"Tags"</h2>
            <table class="data"><tbody>
                {run.tags.into_iter().map(|t| view! { <tr><th scope="row" class="mono">{t.key}</th><td class="mono">{t.value}</td></tr> }).collect_view()}
            </tbody></table>
        </section>
    }
}

/// The run's artifact files with download links and an inline preview of text,
/// JSON and images.
#[component]
fn Artifacts(run_id: uuid::Uuid, experiment_id: i64) -> impl IntoView {
    let files = Resource::new(move || run_id, run_artifacts);
    let chosen = RwSignal::new(None::<String>);
    let preview = Resource::new(
        move || chosen.get(),
        move |path| async move {
            match path {
                Some(p) => artifact_preview(run_id, p).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let base = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{}/artifacts", run_id.simple());
    view! {
        <section class="panel" data-testid="artifacts">
            <h2>"Artifacts"</h2>
            <Suspense fallback=Loading>
                {move || {
                    let base = base.clone();
                    Suspend::new(async move {
                        match files.await {
                            Ok(list) if list.is_empty() => view! { <p class="muted">"No artifacts: log some with mlflow.log_artifact or log_dict."</p> }.into_any(),
                            Ok(list) => view! {
                                <table class="data">
                                    <thead><tr><th scope="col">"Path"</th><th scope="col" class="num">"Size"</th><th scope="col"></th></tr></thead>
                                    <tbody>{list.into_iter().map(|f| {
                                        let path = f.path.clone();
                                        let href = format!("{base}/{}", f.path);
                                        view! {
                                            <tr>
                                                <td class="mono">{if f.is_dir { format!("{}/", f.path) } else { f.path.clone() }}</td>
                                                <td class="num">{(!f.is_dir).then(|| crate::format::bytes(f.size as i64))}</td>
                                                <td class="actions-cell">{(!f.is_dir).then(|| view! {
                                                    <button class="btn" on:click=move |_| chosen.set(Some(path.clone()))>"Preview"</button>
                                                    " "
                                                    <a class="btn" href=href rel="external" download="">"Download"</a>
                                                })}</td>
                                            </tr>
                                        }
                                    }).collect_view()}</tbody>
                                </table>
                            }.into_any(),
                            Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
            <Transition>
                {move || Suspend::new(async move {
                    use domain::tracking::ArtifactPreview;
                    let title = chosen.get_untracked().unwrap_or_default();
                    match preview.await {
                        Ok(None) => ().into_any(),
                        Ok(Some(ArtifactPreview::Text { text, truncated })) => view! {
                            <h3 class="mono">{title}</h3>
                            <pre class="log" data-testid="artifact-preview">{text}</pre>
                            {truncated.then(|| view! { <p class="hint">"Cut short: download the file for the rest."</p> })}
                        }.into_any(),
                        Ok(Some(ArtifactPreview::Image { data_url })) => view! {
                            <h3 class="mono">{title.clone()}</h3>
                            <img class="artifact-image" src=data_url alt=title data-testid="artifact-preview" />
                        }.into_any(),
                        Ok(Some(ArtifactPreview::Binary { size })) => view! {
                            <p class="muted" data-testid="artifact-preview">{format!("{title}: {} of binary data — download it to open.", crate::format::bytes(size as i64))}</p>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn MetricChart(run_id: uuid::Uuid, key: String) -> impl IntoView {
    let k = key.clone();
    let history = Resource::new(move || (run_id, k.clone()), |(id, k)| metric_history(id, k));
    view! {
        <Suspense fallback=Loading>
            {move || {
                let key = key.clone();
                Suspend::new(async move {
                    match history.await {
                        Ok(h) => {
                            let series = vec![Series { name: key.clone(), points: finite_points(&h.metrics) }];
                            view! { <LineChart title=key x_label="step".to_string() series=series /> }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// Compare 2–10 runs: a params/metrics table with differing rows marked, and one
/// chart per metric with a line per run.
#[component]
pub fn ComparePage() -> impl IntoView {
    let query = use_query_map();
    let ids = move || {
        query.with(|q| {
            q.get_all("runs")
                .unwrap_or_default()
                .iter()
                .filter_map(|s| s.parse::<uuid::Uuid>().ok())
                .collect::<Vec<_>>()
        })
    };
    let runs = Resource::new(ids, |ids| async move {
        if !(2..=10).contains(&ids.len()) {
            return Err(crate::error::AppError::Invalid {
                field: "runs".into(),
                message: format!("pick between 2 and 10 runs to compare (got {})", ids.len()),
            });
        }
        let mut out = Vec::new();
        for id in ids {
            out.push(get_run(id).await?);
        }
        Ok(out)
    });
    view! {
        <Title text="Compare runs" />
        <PageHeader title="Compare runs" />
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match runs.await {
                    Ok(runs) => view! { <CompareView runs=runs /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn run_name(r: &Run) -> String {
    if r.info.run_name.is_empty() { r.info.run_id.simple().to_string() } else { r.info.run_name.clone() }
}

#[component]
fn CompareView(runs: Vec<Run>) -> impl IntoView {
    let names: Vec<String> = runs.iter().map(run_name).collect();
    let mut param_keys: Vec<String> =
        runs.iter().flat_map(|r| r.params.iter().map(|p| p.key.clone())).collect();
    param_keys.sort();
    param_keys.dedup();
    let mut metric_keys: Vec<String> =
        runs.iter().flat_map(|r| r.metrics.iter().map(|m| m.key.clone())).collect();
    metric_keys.sort();
    metric_keys.dedup();
    let row = |label: String, cells: Vec<String>| {
        let differs = cells.windows(2).any(|w| w[0] != w[1]);
        view! {
            <tr class=if differs { "differs" } else { "" }>
                <th scope="row" class="mono">{label}</th>
                {cells.into_iter().map(|c| view! { <td class="num">{c}</td> }).collect_view()}
            </tr>
        }
    };
    let param_rows = param_keys
        .iter()
        .map(|k| {
            let cells = runs
                .iter()
                .map(|r| r.params.iter().find(|p| &p.key == k).map(|p| p.value.clone()).unwrap_or_default())
                .collect();
            row(format!("params.{k}"), cells)
        })
        .collect_view();
    let metric_rows = metric_keys
        .iter()
        .map(|k| {
            let cells = runs
                .iter()
                .map(|r| r.metrics.iter().find(|m| &m.key == k).map(|m| number(m.value)).unwrap_or_default())
                .collect();
            row(format!("metrics.{k}"), cells)
        })
        .collect_view();
    let ids: Vec<(String, uuid::Uuid)> = runs.iter().map(|r| (run_name(r), r.info.run_id)).collect();
    let scatter = (!param_keys.is_empty() && !metric_keys.is_empty())
        .then(|| view! { <ParamMetricScatter runs=runs.clone() params=param_keys.clone() metrics=metric_keys.clone() /> });
    view! {
        <section class="panel">
            <h2>"Parameters and metrics"</h2>
            <p class="muted">"Rows where the runs differ are marked."</p>
            <div class="table-wrap">
                <table class="data" data-testid="compare-table">
                    <thead><tr><th scope="col"></th>{names.iter().map(|n| view! { <th scope="col" class="num">{n.clone()}</th> }).collect_view()}</tr></thead>
                    <tbody>{param_rows}{metric_rows}</tbody>
                </table>
            </div>
        </section>
        {scatter}
        <section class="panel">
            <h2>"Metric curves"</h2>
            <div class="charts">
                {metric_keys.into_iter().map(|k| view! { <CompareChart key=k runs=ids.clone() /> }).collect_view()}
            </div>
        </section>
    }
}

/// Any parameter against any metric (its latest value), one point per run.
#[component]
fn ParamMetricScatter(runs: Vec<Run>, params: Vec<String>, metrics: Vec<String>) -> impl IntoView {
    let param = RwSignal::new(params.first().cloned().unwrap_or_default());
    let metric = RwSignal::new(metrics.first().cloned().unwrap_or_default());
    let points = move || {
        let (pk, mk) = (param.get(), metric.get());
        runs.iter()
            .filter_map(|r| {
                let y = r.metrics.iter().find(|m| m.key == mk)?.value;
                let x = r.params.iter().find(|p| p.key == pk).map(|p| p.value.clone()).unwrap_or_default();
                Some(crate::components::scatter::Point { label: run_name(r), x, y })
            })
            .collect::<Vec<_>>()
    };
    view! {
        <section class="panel">
            <h2>"Parameter vs metric"</h2>
            <div class="form-row">
                <label><span>"Parameter"</span>
                    <select bind:value=param aria-label="parameter">
                        {params.iter().map(|k| view! { <option value=k.clone()>{k.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label><span>"Metric"</span>
                    <select bind:value=metric aria-label="metric">
                        {metrics.iter().map(|k| view! { <option value=k.clone()>{k.clone()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            {move || view! { <crate::components::scatter::ScatterChart x_label=param.get() y_label=metric.get() points=points() /> }}
        </section>
    }
}

#[component]
fn CompareChart(key: String, runs: Vec<(String, uuid::Uuid)>) -> impl IntoView {
    let k = key.clone();
    let histories = Resource::new(
        move || (k.clone(), runs.clone()),
        |(k, runs)| async move {
            let mut series = Vec::new();
            for (name, id) in runs {
                let h = metric_history(id, k.clone()).await?;
                series.push(Series { name, points: finite_points(&h.metrics) });
            }
            Ok::<_, crate::error::AppError>(series)
        },
    );
    view! {
        <Suspense fallback=Loading>
            {move || {
                let key = key.clone();
                Suspend::new(async move {
                    match histories.await {
                        Ok(series) => view! { <LineChart title=key x_label="step".to_string() series=series /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
