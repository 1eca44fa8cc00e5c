//! About: which build is running.

use crate::api::get_build_info;
use crate::components::page::{ErrorBox, Loading, PageHeader};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AboutPage() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_build_info());
    view! {
        <Title text="About" />
        <PageHeader title="About Cairn" subtitle="An open-source MLOps platform: one binary, one Postgres, one dashboard." />
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match info.await {
                    Ok(b) => {
                        view! {
                            <section class="panel">
                                <dl class="facts">
                                    <dt>"Version"</dt>
                                    <dd data-testid="version">{b.version}</dd>
                                    <dt>"Build"</dt>
                                    <dd class="mono" data-testid="git-sha">{b.git_sha}</dd>
                                    <dt>"Profile"</dt>
                                    <dd>{b.profile}</dd>
                                    <dt>"Compiler"</dt>
                                    <dd class="mono">{b.rustc}</dd>
                                </dl>
                            </section>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
        <section class="panel">
            <h2>"Endpoints"</h2>
            <dl class="facts">
                <dt>"REST API"</dt>
                <dd><a href="/api/v1/openapi.json" class="mono">"/api/v1/openapi.json"</a></dd>
                <dt>"Health"</dt>
                <dd><a href="/healthz" class="mono">"/healthz"</a> ", " <a href="/readyz" class="mono">"/readyz"</a></dd>
                <dt>"Metrics"</dt>
                <dd><a href="/metrics" class="mono">"/metrics"</a> " (Prometheus)"</dd>
            </dl>
        </section>
    }
}
