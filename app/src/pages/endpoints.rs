//! Endpoints: the list of serving endpoints, and one endpoint's page — its routes
//! and a traffic-split editor, live request rate, latency and errors per version
//! (from the serving log), and the most recent logged requests.

use crate::api::registry::list_models;
use crate::api::serving::{endpoint_requests, get_endpoint, get_endpoint_stats, list_endpoints, save_routes};
use crate::components::chart::{LineChart, Series};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader, StatCard};
use domain::serving::{Endpoint, EndpointStats, LoggedRequest, Route, RouteSpec};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use std::collections::BTreeMap;

/// How far back the charts look.
const WINDOW_MINUTES: u32 = 30;

fn route_target(r: &Route) -> String {
    match (&r.alias, r.version) {
        (Some(a), Some(v)) => format!("@{a} → v{v}"),
        (Some(a), None) => format!("@{a} (points nowhere)"),
        (None, Some(v)) => format!("v{v} (pinned)"),
        (None, None) => "?".into(),
    }
}

fn routes_summary(e: &Endpoint) -> String {
    e.routes
        .iter()
        .map(|r| {
            let shadow = if r.shadow { " shadow" } else { "" };
            format!("{} {}%{shadow}", route_target(r), r.traffic_percent)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn ms(v: Option<f64>) -> String {
    v.map(|x| if x < 1.0 { format!("{x:.2} ms") } else { format!("{x:.1} ms") }).unwrap_or_else(|| "—".into())
}

#[component]
pub fn EndpointsPage() -> impl IntoView {
    let endpoints = Resource::new(|| (), |_| list_endpoints());
    view! {
        <Title text="Endpoints" />
        <PageHeader title="Endpoints" subtitle="Serve registered models over HTTP: they follow an alias, so an approved promotion swaps the model with no downtime" />
        <NewEndpoint />
        <section class="panel">
            <h2>"Endpoints"</h2>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match endpoints.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No endpoints yet" hint="Create one above for a registered model with a production version, or through the API:"
                                command="curl -X POST /api/v1/endpoints -d '{\"name\":\"credit\",\"model\":\"credit\"}'" />
                        }.into_any(),
                        Ok(list) => view! { <EndpointTable endpoints=list /> }.into_any(),
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn EndpointTable(endpoints: Vec<Endpoint>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="endpoints">
                <thead><tr>
                    <th>"Endpoint"</th><th>"Model"</th><th>"Traffic"</th><th>"State"</th><th>"Predict URL"</th>
                </tr></thead>
                <tbody>
                    {endpoints.into_iter().map(|e| {
                        let href = format!("/endpoints/{}", e.name);
                        let model_href = format!("/models/{}", e.model_name);
                        let summary = routes_summary(&e);
                        view! {
                            <tr>
                                <td><a href=href>{e.name.clone()}</a></td>
                                <td><a href=model_href>{e.model_name.clone()}</a></td>
                                <td>{summary}</td>
                                <td>{ready_badge(e.ready)}</td>
                                <td><code>{e.urls.predict.clone()}</code></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn ready_badge(ready: bool) -> AnyView {
    if ready {
        view! { <span class="badge badge-ok">"serving"</span> }.into_any()
    } else {
        view! { <span class="badge badge-alert">"not ready"</span> }.into_any()
    }
}

#[component]
fn NewEndpoint() -> impl IntoView {
    let create = ServerAction::<crate::api::serving::CreateEndpoint>::new();
    let models = RwSignal::new(Vec::<String>::new());
    // Options are loaded after hydration (a Suspense inside a datalist would not hydrate).
    Effect::new(move |_| {
        spawn_local(async move {
            if let Ok(list) = list_models(String::new()).await {
                models.set(list.into_iter().map(|m| m.name).collect());
            }
        });
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(e)) = create.value().get() {
            navigate(&format!("/endpoints/{}", e.name), Default::default());
        }
    });
    view! {
        <details class="panel">
            <summary><h2 class="inline">"New endpoint"</h2></summary>
            <ActionForm action=create attr:data-testid="new-endpoint">
                <div class="form-row">
                    <label>"Name"<input name="name" required placeholder="credit" /></label>
                    <label>"Registered model"
                        <input name="model" required list="ep-models" placeholder="credit" />
                    </label>
                    <datalist id="ep-models">
                        {move || models.get().into_iter().map(|m| view! { <option value=m.clone()></option> }).collect_view()}
                    </datalist>
                    <label class="grow">"Description"<input name="description" placeholder="Credit scoring for the loan desk" /></label>
                    <button type="submit" class="btn btn-primary">"Create endpoint"</button>
                </div>
                <p class="muted">"It follows the model's production alias; change the traffic split on its page."</p>
                {move || create.value().get().and_then(|r| r.err()).map(|e| view! {
                    <p class="callout callout-alert" role="alert">{e.to_string()}</p>
                })}
            </ActionForm>
        </details>
    }
}

#[component]
pub fn EndpointPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let endpoint = Resource::new(name, get_endpoint);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match endpoint.await {
                    Ok(e) => view! { <EndpointView endpoint=e /> }.into_any(),
                    Err(e) => view! { <Title text="Endpoint" /><ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EndpointView(endpoint: Endpoint) -> impl IntoView {
    let name = endpoint.name.clone();
    let endpoint = RwSignal::new(endpoint);
    let stats = RwSignal::new(None::<EndpointStats>);
    let requests = RwSignal::new(Vec::<LoggedRequest>::new());
    // Live: re-read the endpoint (routes follow promotions), its stats and requests.
    let refresh = {
        let name = name.clone();
        move || {
            let name = name.clone();
            spawn_local(async move {
                if let Ok(e) = get_endpoint(name.clone()).await
                    && endpoint.with_untracked(|old| *old != e)
                {
                    endpoint.set(e);
                }
                if let Ok(s) = get_endpoint_stats(name.clone(), WINDOW_MINUTES).await {
                    stats.set(Some(s));
                }
                if let Ok(r) = endpoint_requests(name, 20).await {
                    requests.set(r);
                }
            });
        }
    };
    Effect::new({
        let refresh = refresh.clone();
        move |_| refresh()
    });
    #[cfg(feature = "hydrate")]
    {
        // Re-read every two seconds: the log flushes about once a second.
        if let Ok(h) = set_interval_with_handle(refresh, std::time::Duration::from_millis(2000)) {
            on_cleanup(move || h.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = refresh;
    let title = name.clone();
    view! {
        <Title text=format!("Endpoint {title}") />
        <header class="page-header">
            <div>
                <h1 data-testid="endpoint-name">{name.clone()}</h1>
                <p class="subtitle">
                    "Serves "
                    {move || {
                        let m = endpoint.with(|e| e.model_name.clone());
                        view! { <a href=format!("/models/{m}")>{m.clone()}</a> }
                    }}
                    " · "
                    {move || endpoint.with(routes_summary)}
                </p>
            </div>
            <div>{move || ready_badge(endpoint.with(|e| e.ready))}</div>
        </header>
        <section class="cards" aria-label="Traffic summary">
            {move || {
                let s = stats.get();
                let total = s.as_ref().map(|s| s.requests.to_string()).unwrap_or_else(|| "—".into());
                let rate = s.as_ref().map(|s| format!("{:.2} per second over the last {WINDOW_MINUTES} min", s.requests_per_second)).unwrap_or_default();
                let p50 = ms(s.as_ref().and_then(|s| s.p50_ms));
                let p99 = ms(s.as_ref().and_then(|s| s.p99_ms));
                let errors = s.as_ref().map(|s| {
                    if s.requests == 0 { "0".to_string() } else {
                        format!("{} ({:.2}%)", s.errors, 100.0 * s.errors as f64 / s.requests as f64)
                    }
                }).unwrap_or_else(|| "—".into());
                let hint = format!("last {WINDOW_MINUTES} min, from the serving log");
                view! {
                    <StatCard label="Requests" value=total hint=rate test_id="stat-rate" />
                    <StatCard label="Latency p50" value=p50 hint="server-side" />
                    <StatCard label="Latency p99" value=p99 hint="server-side" />
                    <StatCard label="Errors" value=errors hint=hint />
                }
            }}
        </section>
        <section class="panel">
            <h2>"Traffic"</h2>
            <RoutesTable endpoint=endpoint />
            <TrafficEditor endpoint=endpoint />
        </section>
        <section class="panel">
            <h2>"Requests, latency and errors per minute"</h2>
            {move || match stats.get() {
                None => view! { <Loading /> }.into_any(),
                Some(s) if s.minutes.is_empty() => view! {
                    <p class="muted">"No logged requests in the last " {WINDOW_MINUTES} " minutes. Send one:"</p>
                    <pre class="code">{format!("curl -X POST {} -H 'Authorization: Bearer <token>' -d '{{\"records\": [{{...}}]}}'", endpoint.with(|e| e.urls.predict.clone()))}</pre>
                }.into_any(),
                Some(s) => view! { <StatsCharts stats=s /> }.into_any(),
            }}
        </section>
        <section class="panel">
            <h2>"Recent requests"</h2>
            <RequestTable requests=requests />
        </section>
        <section class="panel">
            <h2>"Call it"</h2>
            {move || endpoint.with(|e| view! {
                <table class="data">
                    <tbody>
                        <tr><th>"Friendly JSON"</th><td><code>{format!("POST {}", e.urls.predict)}</code>" with "<code>"{\"records\": [{feature: value}]}"</code></td></tr>
                        <tr><th>"Open Inference V2"</th><td><code>{format!("POST {}", e.urls.v2_infer)}</code></td></tr>
                        <tr><th>"MLflow scoring"</th><td><code>{format!("POST {}", e.urls.invocations)}</code>" (dataframe_split, dataframe_records, inputs, instances)"</td></tr>
                        <tr><th>"Serving log"</th><td>{format!("{:.0}% of requests are logged", e.log_sample_rate * 100.0)}</td></tr>
                    </tbody>
                </table>
            })}
        </section>
    }
}

#[component]
fn RoutesTable(endpoint: RwSignal<Endpoint>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="routes">
                <thead><tr>
                    <th>"Serves"</th><th class="num">"Traffic"</th><th>"Kind"</th><th>"Status"</th>
                </tr></thead>
                <tbody>
                    {move || endpoint.with(|e| e.routes.iter().map(|r| {
                        let kind = if r.shadow { "shadow (logged, not returned)" } else { "live" };
                        let status = if r.servable {
                            view! { <span class="badge badge-ok">"loaded"</span> }.into_any()
                        } else {
                            let why = r.not_servable_reason.clone().unwrap_or_else(|| "not loaded".into());
                            view! { <span class="badge badge-alert" title=why.clone()>"not servable"</span>" "<span class="muted">{why}</span> }.into_any()
                        };
                        view! {
                            <tr>
                                <td>{route_target(r)}</td>
                                <td class="num">{format!("{}%", r.traffic_percent)}</td>
                                <td>{kind}</td>
                                <td>{status}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </div>
    }
}

/// One editable row of the traffic split (plain data: rows are added and removed in
/// click handlers, so they hold no signals of their own).
#[derive(Clone, Debug, PartialEq)]
struct RouteRow {
    key: usize,
    target: String,
    percent: String,
    shadow: bool,
}

fn spec_of(row: &RouteRow) -> Result<RouteSpec, String> {
    let target = row.target.trim().to_string();
    let percent: u8 = row
        .percent
        .trim()
        .parse()
        .map_err(|_| format!("traffic for {target} must be a whole number from 0 to 100"))?;
    let shadow = row.shadow;
    if let Some(v) = target.strip_prefix('v').and_then(|v| v.parse::<i32>().ok()) {
        return Ok(RouteSpec { alias: None, version: Some(v), traffic_percent: percent, shadow });
    }
    let alias = target.trim_start_matches('@').to_string();
    if alias.is_empty() {
        return Err("every route needs an alias (e.g. production) or a version (e.g. v3)".into());
    }
    Ok(RouteSpec { alias: Some(alias), version: None, traffic_percent: percent, shadow })
}

fn rows_of(e: &Endpoint) -> Vec<RouteRow> {
    e.routes
        .iter()
        .enumerate()
        .map(|(key, r)| RouteRow {
            key,
            target: match (&r.alias, r.version) {
                (Some(a), _) => a.clone(),
                (None, Some(v)) => format!("v{v}"),
                _ => String::new(),
            },
            percent: r.traffic_percent.to_string(),
            shadow: r.shadow,
        })
        .collect()
}

#[component]
fn TrafficEditor(endpoint: RwSignal<Endpoint>) -> impl IntoView {
    let rows = RwSignal::new(endpoint.with_untracked(rows_of));
    let open = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let edit = move |key: usize, f: &dyn Fn(&mut RouteRow)| {
        rows.update(|rs| {
            if let Some(r) = rs.iter_mut().find(|r| r.key == key) {
                f(r)
            }
        })
    };
    let field = move |key: usize, get: fn(&RouteRow) -> String| {
        move || rows.with(|rs| rs.iter().find(|r| r.key == key).map(get).unwrap_or_default())
    };
    let save = move |_| {
        let specs: Result<Vec<RouteSpec>, String> =
            rows.with_untracked(|rs| rs.iter().map(spec_of).collect());
        let specs = match specs {
            Ok(s) => s,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let name = endpoint.with_untracked(|e| e.name.clone());
        let json = serde_json::to_string(&specs).unwrap_or_default();
        saving.set(true);
        spawn_local(async move {
            match save_routes(name, json).await {
                Ok(e) => {
                    endpoint.set(e);
                    error.set(None);
                    open.set(false);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            saving.set(false);
        });
    };
    let live_total = move || {
        rows.with(|rs| {
            rs.iter().filter(|r| !r.shadow).map(|r| r.percent.trim().parse::<u32>().unwrap_or(0)).sum::<u32>()
        })
    };
    let add = move |_| {
        rows.update(|rs| {
            let key = rs.iter().map(|r| r.key + 1).max().unwrap_or(0);
            rs.push(RouteRow { key, target: "staging".into(), percent: "0".into(), shadow: false });
        })
    };
    view! {
        <Show when=move || open.get() fallback=move || view! {
            <button class="btn" data-testid="edit-traffic" on:click=move |_| { rows.set(endpoint.with_untracked(rows_of)); open.set(true); }>
                "Edit traffic split"
            </button>
        }>
            <div class="traffic-editor" data-testid="traffic-editor">
                <p class="muted">"Each route follows an alias (production, staging, …) or pins a version (v3). Live routes share 100%; a shadow route mirrors its share of requests and is logged, never returned."</p>
                <table class="data">
                    <thead><tr><th>"Alias or version"</th><th class="num">"Traffic %"</th><th>"Shadow"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || rows.with(|rs| rs.iter().map(|r| r.key).collect::<Vec<_>>()) key=|k| *k let:key>
                            <tr>
                                <td><input class="narrow" aria-label="alias or version" prop:value=field(key, |r| r.target.clone())
                                    on:input=move |ev| { let v = event_target_value(&ev); edit(key, &|r| r.target = v.clone()) } /></td>
                                <td class="num"><input class="narrow num" type="number" min="0" max="100" aria-label="traffic percent"
                                    prop:value=field(key, |r| r.percent.clone())
                                    on:input=move |ev| { let v = event_target_value(&ev); edit(key, &|r| r.percent = v.clone()) } /></td>
                                <td><input type="checkbox" class="check" aria-label="shadow"
                                    prop:checked=move || rows.with(|rs| rs.iter().any(|r| r.key == key && r.shadow))
                                    on:change=move |ev| { let v = event_target_checked(&ev); edit(key, &|r| r.shadow = v) } /></td>
                                <td><button class="btn btn-small" on:click=move |_| rows.update(|rs| rs.retain(|r| r.key != key))>"Remove"</button></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
                <p class=move || if live_total() == 100 { "muted" } else { "traffic-off" }>
                    {move || format!("Live routes: {}% of 100%", live_total())}
                </p>
                <div class="button-row">
                    <button class="btn" on:click=add>"Add route"</button>
                    <button class="btn btn-primary" data-testid="save-traffic" disabled=move || saving.get() on:click=save>"Save traffic split"</button>
                    <button class="btn" on:click=move |_| { open.set(false); error.set(None); }>"Cancel"</button>
                </div>
                {move || error.get().map(|e| view! { <p class="callout callout-alert" role="alert" data-testid="traffic-error">{e}</p> })}
            </div>
        </Show>
    }
}

/// The x axis of the per-minute charts: whole minutes before the window's last minute.
fn minutes_ago(s: &EndpointStats, at: chrono::DateTime<chrono::Utc>) -> f64 {
    let end = s.to.timestamp().div_euclid(60);
    (at.timestamp().div_euclid(60) - end) as f64
}

/// Counts per minute over the whole window, zero where nothing was logged, so a
/// quiet minute reads as zero rather than as a gap.
fn filled(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let by_minute: BTreeMap<i64, f64> = points.iter().map(|(x, y)| (*x as i64, *y)).collect();
    (-(WINDOW_MINUTES as i64)..=0).map(|m| (m as f64, by_minute.get(&m).copied().unwrap_or(0.0))).collect()
}

#[component]
fn StatsCharts(stats: EndpointStats) -> impl IntoView {
    let mut requests: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut errors: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut p50: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut p99: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for m in &stats.minutes {
        let x = minutes_ago(&stats, m.minute);
        let label = format!(
            "v{}{}",
            m.version.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
            if m.shadow { " (shadow)" } else { "" }
        );
        requests.entry(label.clone()).or_default().push((x, m.requests as f64));
        errors.entry(label.clone()).or_default().push((x, m.errors as f64));
        if let Some(v) = m.p50_ms {
            p50.entry(format!("{label} p50")).or_default().push((x, v));
        }
        if let Some(v) = m.p99_ms {
            p99.entry(format!("{label} p99")).or_default().push((x, v));
        }
    }
    let counts = |m: BTreeMap<String, Vec<(f64, f64)>>| {
        m.into_iter().map(|(name, points)| Series { name, points: filled(&points) }).collect::<Vec<_>>()
    };
    let mut latency: Vec<Series> = p50.into_iter().map(|(name, points)| Series { name, points }).collect();
    latency.extend(p99.into_iter().map(|(name, points)| Series { name, points }));
    let x = "minutes ago".to_string();
    view! {
        <div class="chart-grid" data-testid="endpoint-charts">
            <LineChart title="Requests per minute, by version".into() x_label=x.clone() series=counts(requests) />
            <LineChart title="Latency (ms), p50 and p99".into() x_label=x.clone() series=latency />
            <LineChart title="Errors per minute".into() x_label=x series=counts(errors) />
        </div>
    }
}

#[component]
fn RequestTable(requests: RwSignal<Vec<LoggedRequest>>) -> impl IntoView {
    view! {
        {move || {
            let list = requests.get();
            if list.is_empty() {
                return view! { <p class="muted">"No logged requests yet."</p> }.into_any();
            }
            view! {
                <div class="table-wrap">
                    <table class="data" data-testid="recent-requests">
                        <thead><tr>
                            <th>"When"</th><th>"Request id"</th><th>"Version"</th><th class="num">"Latency"</th>
                            <th>"Status"</th><th>"Input"</th><th>"Prediction"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|r| {
                                let input = r.records.first().map(|rec| serde_json::to_string(rec).unwrap_or_default()).unwrap_or_default();
                                let input = if r.records.len() > 1 { format!("{input} … ({} rows)", r.records.len()) } else { input };
                                let prediction = r.predictions.iter().take(3).map(|p| match p {
                                    serde_json::Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                }).collect::<Vec<_>>().join(", ");
                                let status = match &r.error {
                                    None => view! { <span class="badge badge-ok">{r.status}</span> }.into_any(),
                                    Some(e) => view! { <span class="badge badge-alert" title=e.clone()>{r.status}</span> }.into_any(),
                                };
                                let version = match (r.version, r.shadow) {
                                    (Some(v), true) => format!("v{v} shadow"),
                                    (Some(v), false) => format!("v{v}"),
                                    (None, _) => "?".into(),
                                };
                                view! {
                                    <tr>
                                        <td>{r.at.format("%H:%M:%S").to_string()}</td>
                                        <td><code class="small" title=r.request_id.clone()>{r.request_id.chars().take(8).collect::<String>()}</code></td>
                                        <td>{version}</td>
                                        <td class="num">{ms(Some(r.latency_ms))}</td>
                                        <td>{status}</td>
                                        <td class="truncate" title=input.clone()><code class="small">{input.clone()}</code></td>
                                        <td>{prediction}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}
