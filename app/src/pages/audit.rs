//! Audit log (admins): who did what, when, from where; filter and page back.

use crate::api::list_audit;
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader};
use domain::auth::AuditFilter;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| {
            let text = |k: &str| q.get(k).map(|s| s.to_string()).filter(|s| !s.is_empty());
            AuditFilter {
                action: text("action"),
                actor: text("actor"),
                outcome: text("outcome"),
                before: text("before").and_then(|s| s.parse().ok()),
                limit: None,
            }
        })
    };
    let events = Resource::new(filter, list_audit);
    let value =
        move |k: &'static str| move || query.with(|q| q.get(k).map(|s| s.to_string()).unwrap_or_default());
    view! {
        <Title text="Audit" />
        <PageHeader title="Audit log" subtitle="Security-relevant events: logins, users, roles, tokens." />
        <section class="panel">
            <form method="get" action="/audit" class="form-row">
                <label><span>"Action"</span><input name="action" placeholder="login" value=value("action") /></label>
                <label><span>"Actor"</span><input name="actor" placeholder="username" value=value("actor") /></label>
                <label>
                    <span>"Outcome"</span>
                    <select name="outcome">
                        <option value="">"any"</option>
                        <option value="ok" selected=move || value("outcome")() == "ok">"ok"</option>
                        <option value="denied" selected=move || value("outcome")() == "denied">"denied"</option>
                        <option value="failed" selected=move || value("outcome")() == "failed">"failed"</option>
                    </select>
                </label>
                <button type="submit" class="btn">"Filter"</button>
            </form>
        </section>
        <section class="panel">
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No matching events" hint="Loosen the filters, or read the log over the API:" command="curl -H 'Authorization: Bearer $CAIRN_TOKEN' http://127.0.0.1:3000/api/v1/audit" />
                        }.into_any(),
                        Ok(list) => {
                            let oldest = list.last().map(|e| e.audit_id);
                            let more = list.len() as i64 >= domain::auth::AUDIT_PAGE_SIZE;
                            view! {
                                <div class="table-wrap">
                                    <table class="data" data-testid="audit-table">
                                        <thead><tr>
                                            <th scope="col">"When (UTC)"</th><th scope="col">"Actor"</th><th scope="col">"Action"</th>
                                            <th scope="col">"Target"</th><th scope="col">"Outcome"</th><th scope="col">"From"</th><th scope="col">"Details"</th>
                                        </tr></thead>
                                        <tbody>
                                            {list.into_iter().map(|e| {
                                                let badge = match e.outcome.as_str() { "ok" => "badge badge-ok", "denied" => "badge badge-warn", _ => "badge badge-alert" };
                                                view! {
                                                    <tr>
                                                        <td class="num">{e.at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                                        <td>{e.actor.unwrap_or_else(|| "—".into())}</td>
                                                        <td class="mono">{e.action}</td>
                                                        <td>{e.target}</td>
                                                        <td><span class=badge>{e.outcome}</span></td>
                                                        <td class="mono">{e.ip.unwrap_or_default()}</td>
                                                        <td>{e.details}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {(more).then(|| oldest.map(|id| {
                                    // Keep the filters when paging back.
                                    let href = query.with_untracked(|q| {
                                        let mut url = url_with(q, "before", &id.to_string());
                                        url.insert_str(0, "/audit?");
                                        url
                                    });
                                    view! { <p><a href=href>"Older events →"</a></p> }
                                }))}
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The query string of `q`'s filters with `key` set to `value`.
fn url_with(q: &leptos_router::params::ParamsMap, key: &str, value: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for k in ["action", "actor", "outcome"] {
        if let Some(v) = q.get(k).filter(|v| !v.is_empty()) {
            out.append_pair(k, &v);
        }
    }
    out.append_pair(key, value);
    out.finish()
}
