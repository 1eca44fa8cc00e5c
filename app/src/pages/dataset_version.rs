//! One dataset version: headline numbers, a profile card per column with its
//! distribution, correlations, and a paged preview of the rows.

use crate::api::datasets::{dataset_rows, load_dataset_version, prepare_dataset_version, version_lineage};
use crate::components::bars::{HistogramChart, TopBars};
use crate::components::page::{ErrorBox, Loading, PageHeader, StatCard};
use crate::format;
use domain::DatasetId;
use domain::profile::{ColumnProfile, ColumnStats, Correlations};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
pub fn DatasetVersionPage() -> impl IntoView {
    let params = use_params_map();
    let key = Memo::new(move |_| {
        params.with(|p| {
            let id = p.get("id").and_then(|s| s.parse::<DatasetId>().ok());
            let v = p.get("version").and_then(|s| s.parse::<i32>().ok());
            id.zip(v)
        })
    });
    let data = Resource::new(
        move || key.get(),
        |k| async move {
            match k {
                Some((id, v)) => load_dataset_version(id, v).await,
                None => Err(crate::error::AppError::NotFound("no such dataset version".into())),
            }
        },
    );
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let (v, profile) = match data.await {
                    Ok(x) => x,
                    Err(e) => return view! { <ErrorBox error=e /> }.into_any(),
                };
                let title = format!("{} v{}", v.dataset_name, v.version);
                let missing: u64 = profile.columns.iter().map(|c| c.missing).sum();
                let cells = (profile.rows as f64 * profile.columns.len() as f64).max(1.0);
                let source = v.source_detail.get("file_name").and_then(|f| f.as_str()).map(str::to_string)
                    .unwrap_or_else(|| v.source_kind.as_str().to_string());
                let subtitle = format!(
                    "From {source} ({}), {} by {}. Content hash {}",
                    v.format,
                    crate::pages::datasets::when(v.created_at),
                    v.created_by.clone().unwrap_or_else(|| "?".into()),
                    &v.content_hash[..16.min(v.content_hash.len())]
                );
                let overrides = (!v.type_overrides.is_empty()).then(|| {
                    let text: Vec<String> = v.type_overrides.iter().map(|(k, t)| format!("{k}={t}")).collect();
                    view! { <p class="hint">"Type overrides: " <code>{text.join(", ")}</code></p> }
                });
                view! {
                    <Title text=title.clone() />
                    <nav class="breadcrumbs" aria-label="Breadcrumb">
                        <a href="/datasets">"Datasets"</a> " / "
                        <a href=format!("/datasets/{}", v.dataset_id)>{v.dataset_name.clone()}</a> " / "
                        <span>{format!("v{}", v.version)}</span>
                    </nav>
                    <PageHeader title=title subtitle=subtitle>
                        <a class="btn" href=format!("/api/v1/datasets/{}/versions/{}/download", v.dataset_id, v.version) rel="external" download="">"Download Parquet"</a>
                    </PageHeader>
                    {overrides}
                    <section class="cards">
                        <StatCard label="Rows" value=format::count(v.n_rows) test_id="rows" />
                        <StatCard label="Columns" value=v.n_cols.to_string() test_id="columns" />
                        <StatCard label="Missing cells" value=format!("{:.1}%", missing as f64 / cells * 100.0) hint=format!("{} values", format::count(missing as i64)) />
                        <StatCard label="Size" value=format::bytes(v.parquet_bytes) hint=format!("Parquet; {} raw", format::bytes(v.raw_bytes)) />
                    </section>
                    <section class="panel">
                        <h2>"Columns"</h2>
                        <div class="profile-grid" data-testid="profile-cards">
                            {profile.columns.into_iter().map(|c| view! { <ColumnCard column=c rows=profile.rows /> }).collect_view()}
                        </div>
                    </section>
                    <CorrelationTable correlations=profile.correlations />
                    <Preview dataset=v.dataset_id version=v.version total=v.n_rows />
                    <Prepare dataset=v.dataset_id version=v.version />
                    <Lineage dataset=v.dataset_id version=v.version />
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn ColumnCard(column: ColumnProfile, rows: u64) -> impl IntoView {
    let missing_pct = if rows == 0 { 0.0 } else { column.missing as f64 / rows as f64 * 100.0 };
    let distinct =
        format!("{}{}", if column.distinct_exact { "" } else { "≈" }, format::count(column.distinct as i64));
    let (facts, chart) = match column.stats {
        ColumnStats::Numeric(n) => {
            let q = |p: f64| n.quantiles.iter().find(|x| (x.q - p).abs() < 1e-9).map(|x| x.value);
            let facts = vec![
                ("mean", format::stat(n.mean)),
                ("std", format::stat(n.std)),
                ("min", format::stat(n.min)),
                ("median", format::stat(q(0.5))),
                ("max", format::stat(n.max)),
                ("p5 – p95", format!("{} – {}", format::stat(q(0.05)), format::stat(q(0.95)))),
                ("zeros", format::count(n.zeros as i64)),
            ];
            let chart = n.histogram.map(|h| {
                view! { <HistogramChart label=column.name.clone() edges=h.edges counts=h.counts /> }
                    .into_any()
            });
            (facts, chart)
        }
        ColumnStats::Categorical(t) => {
            let facts = vec![(
                "most common",
                t.values.first().map(|v| v.value.clone()).unwrap_or_else(|| "–".into()),
            )];
            let values = t.values.into_iter().map(|v| (v.value, v.count)).collect();
            (facts, Some(view! { <TopBars values other=t.other /> }.into_any()))
        }
        ColumnStats::Timestamp(ts) => {
            let d = |x: Option<i64>| x.map(format::micros_date).unwrap_or_else(|| "–".into());
            let facts = vec![("from", d(ts.min)), ("to", d(ts.max))];
            let chart = ts.histogram.map(|h| view! { <HistogramChart label=column.name.clone() edges=h.edges counts=h.counts time_axis=true /> }.into_any());
            (facts, chart)
        }
    };
    view! {
        <article class="card column-card" data-testid="column-card" data-column=column.name.clone()>
            <header>
                <h3>{column.name.clone()}</h3>
                <span class="badge badge-queued">{column.column_type.as_str()}</span>
            </header>
            <dl class="facts">
                <div><dt>"missing"</dt><dd class={if column.missing > 0 { "warn-text" } else { "" }}>{format!("{missing_pct:.1}%")}</dd></div>
                <div><dt>"distinct"</dt><dd>{distinct}</dd></div>
                {facts.into_iter().map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> }).collect_view()}
            </dl>
            {chart}
        </article>
    }
}

#[component]
fn CorrelationTable(correlations: Correlations) -> impl IntoView {
    let n = correlations.columns.len();
    (2..=30).contains(&n).then(|| {
        let cols = correlations.columns.clone();
        view! {
            <section class="panel">
                <h2>"Correlations"</h2>
                <p class="hint">"Pearson, over rows where both values are present."</p>
                <div class="table-wrap">
                    <table class="data corr">
                        <thead><tr><th></th>{cols.iter().map(|c| view! { <th scope="col" class="num">{c.clone()}</th> }).collect_view()}</tr></thead>
                        <tbody>
                            {correlations.pearson.into_iter().zip(cols.clone()).map(|(row, name)| view! {
                                <tr>
                                    <th scope="row">{name}</th>
                                    {row.into_iter().map(|r| {
                                        let (text, style) = match r {
                                            Some(v) => (format!("{v:.2}"), format!("background: color-mix(in srgb, {} {:.0}%, transparent)",
                                                if v >= 0.0 { "var(--series-5)" } else { "var(--series-6)" }, v.abs() * 45.0)),
                                            None => ("–".into(), String::new()),
                                        };
                                        view! { <td class="num" style=style>{text}</td> }
                                    }).collect_view()}
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        }
    })
}

#[component]
fn Preview(dataset: DatasetId, version: i32, total: i64) -> impl IntoView {
    let offset = RwSignal::new(0u64);
    let page = Resource::new(move || offset.get(), move |o| dataset_rows(dataset, version, o));
    view! {
        <section class="panel">
            <h2>"Data"</h2>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => {
                            let (from, to) = (p.offset + 1, p.offset + p.rows.len() as u64);
                            let limit = p.limit as u64;
                            view! {
                                <div class="table-wrap">
                                    <table class="data preview" data-testid="preview-table">
                                        <thead><tr>
                                            <th scope="col" class="num">"#"</th>
                                            {p.columns.iter().map(|c| view! { <th scope="col" title=c.column_type.as_str()>{c.name.clone()}</th> }).collect_view()}
                                        </tr></thead>
                                        <tbody>
                                            {p.rows.into_iter().enumerate().map(|(i, r)| view! {
                                                <tr>
                                                    <td class="num muted">{p.offset + i as u64 + 1}</td>
                                                    {r.into_iter().map(|cell| match cell {
                                                        Some(v) => view! { <td>{v}</td> }.into_any(),
                                                        None => view! { <td class="missing">"missing"</td> }.into_any(),
                                                    }).collect_view()}
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <div class="pager">
                                    <span class="muted" data-testid="preview-range">{format!("Rows {}–{} of {}", format::count(from as i64), format::count(to as i64), format::count(total))}</span>
                                    <button class="btn" disabled={p.offset == 0} on:click=move |_| offset.set(p.offset.saturating_sub(limit))>"Previous"</button>
                                    <button class="btn" disabled={to >= total as u64} on:click=move |_| offset.set(p.offset + limit)>"Next"</button>
                                </div>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Lineage(dataset: DatasetId, version: i32) -> impl IntoView {
    let lineage = Resource::new(|| (), move |_| version_lineage(dataset, version));
    let artifacts = |list: Vec<domain::datasets::LineageArtifact>| {
        list.into_iter()
            .map(|a| {
                let label = format!("{} ({})", a.name, a.artifact_type.replace('_', " "));
                match a.link {
                    Some(href) => view! { <li><a href=href>{label}</a></li> }.into_any(),
                    None => view! { <li>{label}</li> }.into_any(),
                }
            })
            .collect_view()
    };
    let table = move |title: &'static str, steps: Vec<domain::datasets::LineageStep>| {
        (!steps.is_empty()).then(|| view! {
            <h3>{title}</h3>
            <table class="data">
                <thead><tr><th scope="col">"Step"</th><th scope="col">"State"</th><th scope="col">"Inputs"</th><th scope="col">"Outputs"</th><th scope="col">"When"</th></tr></thead>
                <tbody>{steps.into_iter().map(|s| view! {
                    <tr>
                        <td>{format!("{} · {}", s.execution_type.replace('_', " "), s.name)}</td>
                        <td>{s.state}</td>
                        <td><ul class="plain">{artifacts(s.inputs)}</ul></td>
                        <td><ul class="plain">{artifacts(s.outputs)}</ul></td>
                        <td>{crate::pages::datasets::when(s.created_at)}</td>
                    </tr>
                }).collect_view()}</tbody>
            </table>
        })
    };
    view! {
        <section class="panel" data-testid="lineage">
            <h2>"Lineage"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match lineage.await {
                        Ok(l) if l.upstream.is_empty() && l.downstream.is_empty() => view! {
                            <p class="muted">"Stored directly (upload or import); no step has used this version yet."</p>
                        }.into_any(),
                        Ok(l) => view! { <div>{table("Made by", l.upstream)}{table("Used by", l.downstream)}</div> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

const EXAMPLE_SPEC: &str = "# Fitted on the train split, applied to both.
steps:
  - op: impute
    strategy: median
  - op: standard_scale
split:
  method: random
  test_fraction: 0.2
  seed: 42
";

/// Fits a transform spec on this version and stores the prepared train (and test)
/// data as new versions, with the fitted transform and lineage.
#[component]
fn Prepare(dataset: DatasetId, version: i32) -> impl IntoView {
    let spec = RwSignal::new(EXAMPLE_SPEC.to_string());
    let output = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        let (text, out) = (spec.get_untracked(), output.get_untracked());
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match prepare_dataset_version(dataset, version, text, out).await {
                Ok(p) => navigate(
                    &format!("/datasets/{}/versions/{}", p.train.version.dataset_id, p.train.version.version),
                    Default::default(),
                ),
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel">
            <details>
                <summary><h2 class="inline">"Prepare"</h2> <span class="muted">"— fit a transform (impute, encode, scale, filter, split) and store the result as new versions"</span></summary>
                <form on:submit=submit data-testid="prepare-form" class="stack">
                    <label><span>"Transform spec (YAML or JSON)"</span>
                        <textarea rows="10" class="code" bind:value=spec aria-label="transform spec"></textarea>
                    </label>
                    <div class="form-row">
                        <label class="grow"><span>"Output dataset (default: this name + \"-prepared\")"</span><input bind:value=output placeholder="credit-features" /></label>
                        <button type="submit" class="btn btn-primary" disabled=move || busy.get()>{move || if busy.get() { "Preparing…" } else { "Prepare" }}</button>
                    </div>
                    <p class="hint">"Steps: select, drop, filter (e.g. age >= 18 and home != \"other\"), impute, one_hot, ordinal, standard_scale, min_max_scale, log, date_parts; split: random, stratified or time. The test split goes to <output>-test."</p>
                </form>
                {move || error.get().map(|m| view! { <p class="callout callout-alert" role="alert" data-testid="prepare-error">{m}</p> })}
            </details>
        </section>
    }
}
