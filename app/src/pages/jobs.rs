//! Jobs: the queue at a glance, filters, a self-check to start, and schedules;
//! one job's detail with its log arriving live.

use crate::api::{
    CancelJob, CreateSchedule, RetryJob, SetScheduleEnabled, StartSelfCheck, get_job, list_jobs,
    list_schedules,
};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader, StatCard};
use crate::error::error_text;
use crate::live::follow_job_log;
use domain::JobId;
use domain::jobs::{Job, JobDetail, JobQuery, LogLine};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

fn badge(state: &str) -> &'static str {
    match state {
        "succeeded" => "badge badge-ok",
        "running" => "badge badge-running",
        "failed" => "badge badge-alert",
        "cancelled" => "badge badge-warn",
        _ => "badge badge-queued",
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "—".into())
}

fn duration(j: &Job) -> String {
    match (j.started_at, j.finished_at) {
        (Some(s), Some(f)) => crate::format::duration_ms((f - s).num_milliseconds()),
        (Some(s), None) => {
            format!("{} so far", crate::format::duration_ms((chrono::Utc::now() - s).num_milliseconds()))
        }
        _ => "—".into(),
    }
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| {
            let text = |k: &str| q.get(k).map(|s| s.to_string()).filter(|s| !s.is_empty());
            JobQuery { state: text("state"), kind: text("kind"), after: text("after"), limit: None }
        })
    };
    let start = ServerAction::<StartSelfCheck>::new();
    let jobs = Resource::new(move || (filter(), start.version().get()), |(f, _)| list_jobs(f));
    let create_schedule = ServerAction::<CreateSchedule>::new();
    let toggle = ServerAction::<SetScheduleEnabled>::new();
    let schedules = Resource::new(
        move || (create_schedule.version().get(), toggle.version().get()),
        |_| list_schedules(),
    );
    let schedule_error =
        move || create_schedule.value().with(error_text).or_else(|| toggle.value().with(error_text));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(job)) = start.value().get() {
            navigate(&format!("/jobs/{}", job.job_id), Default::default());
        }
    });
    let value =
        move |k: &'static str| move || query.with(|q| q.get(k).map(|s| s.to_string()).unwrap_or_default());
    view! {
        <Title text="Jobs" />
        <PageHeader title="Jobs" subtitle="Background work: what is queued, running and done, with logs.">
            <ActionForm action=start attr:class="inline-form">
                <input type="hidden" name="probes" value="10" />
                <button type="submit" class="btn btn-primary">"Run self-check"</button>
            </ActionForm>
        </PageHeader>
        {move || start.value().with(|r| match r {
            Some(Err(e)) => Some(view! { <p class="callout callout-alert" role="alert">{e.to_string()}</p> }),
            _ => None,
        })}
        <section class="panel">
            <form method="get" action="/jobs" class="form-row">
                <label>
                    <span>"State"</span>
                    <select name="state">
                        <option value="">"any"</option>
                        {["queued", "running", "succeeded", "failed", "cancelled"].into_iter().map(|s| view! {
                            <option value=s selected=move || value("state")() == s>{s}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label><span>"Kind"</span><input name="kind" placeholder="system.selfcheck" value=value("kind") /></label>
                <button type="submit" class="btn">"Filter"</button>
            </form>
        </section>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match jobs.await {
                    Ok(page) => {
                        let count = |s: &str| page.counts.iter().find(|c| c.state == s).map(|c| c.count).unwrap_or(0);
                        let cards = view! {
                            <section class="cards" aria-label="Jobs by state">
                                <StatCard label="Queued" value=crate::format::count(count("queued")) test_id="count-queued" />
                                <StatCard label="Running" value=crate::format::count(count("running")) test_id="count-running" />
                                <StatCard label="Succeeded" value=crate::format::count(count("succeeded")) test_id="count-succeeded" />
                                <StatCard label="Failed" value=crate::format::count(count("failed")) test_id="count-failed" />
                            </section>
                        };
                        let next = page.next.clone();
                        let table = if page.jobs.is_empty() {
                            view! {
                                <EmptyState
                                    title="No jobs match"
                                    hint="Start a self-check above, or from the command line:"
                                    command="curl -X POST -H \"Authorization: Bearer $CAIRN_TOKEN\" -H 'content-type: application/json' -d '{\"kind\":\"system.selfcheck\"}' http://127.0.0.1:3000/api/v1/jobs"
                                />
                            }.into_any()
                        } else {
                            view! {
                                <div class="table-wrap">
                                    <table class="data" data-testid="jobs-table">
                                        <thead><tr>
                                            <th scope="col">"Job"</th><th scope="col">"Kind"</th><th scope="col">"State"</th>
                                            <th scope="col">"Attempts"</th><th scope="col">"Created (UTC)"</th><th scope="col">"Duration"</th><th scope="col">"Error"</th>
                                        </tr></thead>
                                        <tbody>
                                            {page.jobs.into_iter().map(|j| {
                                                let id = j.job_id.to_string();
                                                let short = id.chars().take(8).collect::<String>();
                                                view! {
                                                    <tr>
                                                        <td class="mono"><a href=format!("/jobs/{id}")>{short}</a></td>
                                                        <td class="mono">{j.kind.clone()}</td>
                                                        <td><span class=badge(&j.state)>{j.state.clone()}</span></td>
                                                        <td class="num">{format!("{}/{}", j.attempts, j.max_attempts)}</td>
                                                        <td class="num">{when(Some(j.created_at))}</td>
                                                        <td class="num">{duration(&j)}</td>
                                                        <td class="error-cell">{j.last_error.clone().unwrap_or_default()}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {next.map(|n| view! { <p><a href=format!("/jobs?after={n}")>"Older jobs →"</a></p> })}
                            }.into_any()
                        };
                        view! { {cards} <section class="panel">{table}</section> }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
        <section class="panel" aria-labelledby="schedules-h">
            <h2 id="schedules-h">"Schedules"</h2>
            <ActionForm action=create_schedule attr:class="form-row">
                <label><span>"Schedule name"</span><input name="name" required placeholder="Nightly self-check" /></label>
                <label><span>"Cron"</span><input name="cron" required placeholder="0 3 * * *" class="mono" /></label>
                <label><span>"Time zone"</span><input name="timezone" placeholder="UTC" value="UTC" /></label>
                <label>
                    <span>"Job"</span>
                    <select name="kind">
                        <option value="system.selfcheck">"system.selfcheck"</option>
                        <option value="system.cleanup">"system.cleanup"</option>
                    </select>
                </label>
                <button type="submit" class="btn">"Add schedule"</button>
            </ActionForm>
            {move || schedule_error().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match schedules.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No schedules yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="data" data-testid="schedules-table">
                                    <thead><tr>
                                        <th scope="col">"Name"</th><th scope="col">"Cron"</th><th scope="col">"Time zone"</th><th scope="col">"Kind"</th>
                                        <th scope="col">"Next run (UTC)"</th><th scope="col">"Last run (UTC)"</th><th scope="col">"State"</th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|s| view! {
                                            <tr>
                                                <td><strong>{s.name.clone()}</strong></td>
                                                <td class="mono">{s.cron}</td>
                                                <td>{s.timezone}</td>
                                                <td class="mono">{s.kind}</td>
                                                <td class="num">{when(s.next_run_at)}</td>
                                                <td class="num">{s.last_job_id.map(|j| view! { <a href=format!("/jobs/{j}")>{when(s.last_run_at)}</a> }.into_any()).unwrap_or_else(|| view! { "—" }.into_any())}</td>
                                                <td>
                                                    <ActionForm action=toggle attr:class="inline-form">
                                                        <input type="hidden" name="schedule_id" value=s.schedule_id.to_string() />
                                                        <input type="hidden" name="enabled" value=(!s.enabled).to_string() />
                                                        {if s.enabled { view! { <span class="badge badge-ok">"enabled"</span> } } else { view! { <span class="badge badge-queued">"paused"</span> } }}
                                                        <button type="submit" class="btn btn-small" aria-label=format!("{} {}", if s.enabled { "Pause" } else { "Resume" }, s.name)>
                                                            {if s.enabled { "Pause" } else { "Resume" }}
                                                        </button>
                                                    </ActionForm>
                                                </td>
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
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<JobId>().ok()));
    let detail = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_job(id).await,
            None => Err(crate::error::AppError::NotFound("that is not a job id".into())),
        }
    });
    view! {
        <Title text="Job" />
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/jobs">"Jobs"</a> " › " <span>"Job"</span></nav>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <JobView detail=d /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn JobView(detail: JobDetail) -> impl IntoView {
    let job_id = detail.job.job_id;
    let job = RwSignal::new(detail.job);
    let lines = RwSignal::new(detail.log);
    // Bumped to (re)open the live stream, e.g. after a retry.
    let generation = RwSignal::new(0u32);
    Effect::new(move |_| {
        generation.track();
        let after = lines.with_untracked(|l| l.last().map(|l| l.line_no).unwrap_or(0));
        let sub = follow_job_log(
            job_id,
            after,
            move |l: LogLine| {
                lines.update(|ls| {
                    if ls.last().is_none_or(|last| last.line_no < l.line_no) {
                        ls.push(l)
                    }
                })
            },
            move |j: Job| job.set(j),
        );
        on_cleanup(move || {
            if let Some(s) = sub {
                s.close()
            }
        });
    });
    let cancel = ServerAction::<CancelJob>::new();
    let retry = ServerAction::<RetryJob>::new();
    Effect::new(move |_| {
        if let Some(Ok(j)) = cancel.value().get() {
            job.set(j);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(j)) = retry.value().get() {
            job.set(j);
            generation.update(|g| *g += 1);
        }
    });
    let action_error = move || cancel.value().with(error_text).or_else(|| retry.value().with(error_text));
    let state = move || job.with(|j| j.state.clone());
    view! {
        <header class="page-header">
            <div>
                <h1 class="mono">{move || job.with(|j| j.kind.clone())}</h1>
                <p class="subtitle mono">{job_id.to_string()}</p>
            </div>
            <div class="actions">
                <span class=move || badge(&state()) data-testid="job-state">{state}</span>
                {move || matches!(state().as_str(), "queued" | "running").then(|| view! {
                    <ActionForm action=cancel attr:class="inline-form">
                        <input type="hidden" name="job_id" value=job_id.to_string() />
                        <button type="submit" class="btn">"Cancel"</button>
                    </ActionForm>
                })}
                {move || matches!(state().as_str(), "failed" | "cancelled").then(|| view! {
                    <ActionForm action=retry attr:class="inline-form">
                        <input type="hidden" name="job_id" value=job_id.to_string() />
                        <button type="submit" class="btn btn-primary">"Retry"</button>
                    </ActionForm>
                })}
            </div>
        </header>
        {move || action_error().map(|m| view! { <p class="callout callout-alert" role="alert">{m}</p> })}
        <section class="cards">
            <div class="card stat"><div class="stat-label">"Attempts"</div><div class="stat-value">{move || job.with(|j| format!("{}/{}", j.attempts, j.max_attempts))}</div></div>
            <div class="card stat"><div class="stat-label">"Duration"</div><div class="stat-value">{move || job.with(duration)}</div></div>
            <div class="card stat"><div class="stat-label">"Queue"</div><div class="stat-value mono">{move || job.with(|j| j.queue.clone())}</div></div>
            <div class="card stat"><div class="stat-label">"Worker"</div><div class="stat-hint mono">{move || job.with(|j| j.locked_by.clone().unwrap_or_else(|| "—".into()))}</div></div>
        </section>
        {move || job.with(|j| j.last_error.clone()).map(|e| view! {
            <div class="callout callout-alert" role="alert"><strong>"Last error: "</strong><span class="mono">{e}</span></div>
        })}
        <section class="panel">
            <h2>"Log"</h2>
            <pre class="log" data-testid="job-log" aria-live="polite">
                {move || lines.with(|ls| ls.iter().map(|l| format!("{:>4}  {}  {}\n", l.line_no, l.at.format("%H:%M:%S%.3f"), l.line)).collect::<String>())}
            </pre>
            {move || lines.with(|l| l.is_empty()).then(|| view! { <p class="muted">"No log lines yet."</p> })}
        </section>
        <section class="panel">
            <h2>"Payload"</h2>
            <pre class="code">{move || job.with(|j| serde_json::to_string_pretty(&j.payload).unwrap_or_default())}</pre>
        </section>
    }
}
