//! Overview: the state of this Cairn installation at a glance.

use crate::api::get_overview;
use crate::components::page::{ErrorBox, Loading, PageHeader, StatCard};
use crate::format;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn HomePage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| get_overview());
    view! {
        <Title text="Overview" />
        <PageHeader title="Overview" subtitle="This Cairn installation, read live from Postgres." />
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => {
                        view! {
                            <section class="cards" aria-label="Summary">
                                <StatCard
                                    label="Projects"
                                    value=format::count(o.projects)
                                    hint="groups of experiments, datasets and models"
                                    test_id="stat-projects"
                                />
                                <StatCard
                                    label="Schema version"
                                    value=format::count(o.migrations_applied)
                                    hint="migrations applied"
                                    test_id="stat-migrations"
                                />
                                <StatCard
                                    label="Metadata size"
                                    value=format::bytes(o.database_bytes)
                                    hint=format!("PostgreSQL {}", o.postgres_version)
                                    test_id="stat-db-size"
                                />
                                <StatCard
                                    label="Server uptime"
                                    value=format::duration(o.uptime_seconds)
                                    test_id="stat-uptime"
                                />
                            </section>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
        <section class="panel">
            <h2>"Get started"</h2>
            <ol class="steps">
                <li>"Create a project for your team on the " <a href="/projects">"Projects"</a> " page."</li>
                <li>
                    "Point scripts at this server: " <code>"cairn --url http://127.0.0.1:3000 status"</code>
                </li>
                <li>"Read the API: " <a href="/api/v1/openapi.json">"/api/v1/openapi.json"</a></li>
            </ol>
        </section>
    }
}
