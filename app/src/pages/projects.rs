//! Projects: list and create.

use crate::api::{CreateProject, list_projects};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader};
use crate::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ProjectsPage() -> impl IntoView {
    let create = ServerAction::<CreateProject>::new();
    let projects = Resource::new(move || create.version().get(), |_| list_projects());
    let result = create.value();
    let field_error = move |field: &'static str| {
        result.with(|r| match r {
            Some(Err(AppError::Invalid { field: f, message })) if f == field => Some(message.clone()),
            Some(Err(AppError::Conflict(m))) if field == "name" => Some(m.clone()),
            _ => None,
        })
    };
    let other_error = move || {
        result.with(|r| match r {
            Some(Err(AppError::Invalid { .. } | AppError::Conflict(_))) => None,
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        })
    };
    let created = move || {
        result.with(|r| match r {
            Some(Ok(p)) => Some(p.name.clone()),
            _ => None,
        })
    };
    view! {
        <Title text="Projects" />
        <PageHeader title="Projects" subtitle="Every experiment, dataset and model belongs to a project." />
        <section class="panel">
            <h2>"New project"</h2>
            <ActionForm action=create attr:class="form-row">
                <label>
                    <span>"Name"</span>
                    <input name="name" required maxlength="100" placeholder="fraud-detection" aria-describedby="name-error" />
                    <span id="name-error" class="field-error" role="alert">{move || field_error("name")}</span>
                </label>
                <label class="grow">
                    <span>"Description"</span>
                    <input name="description" placeholder="What the team works on" />
                    <span class="field-error" role="alert">{move || field_error("description")}</span>
                </label>
                <button type="submit" class="btn btn-primary" disabled=move || create.pending().get()>
                    "Create project"
                </button>
            </ActionForm>
            {move || created().map(|n| view! { <p class="toast" role="status">"Created project " <strong>{n}</strong> "."</p> })}
            {move || other_error().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
        </section>
        <section class="panel">
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match projects.await {
                        Ok(list) if list.is_empty() => {
                            view! {
                                <EmptyState
                                    title="No projects yet"
                                    hint="Create one above, or from the command line:"
                                    command="curl -X POST -H 'content-type: application/json' -d '{\"name\":\"my-project\"}' http://127.0.0.1:3000/api/v1/projects"
                                />
                            }
                                .into_any()
                        }
                        Ok(list) => {
                            view! {
                                <div class="table-wrap">
                                    <table class="data" data-testid="projects-table">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Description"</th>
                                                <th scope="col">"Id"</th>
                                                <th scope="col">"Created"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list
                                                .into_iter()
                                                .map(|p| {
                                                    view! {
                                                        <tr>
                                                            <td><strong>{p.name}</strong></td>
                                                            <td>{p.description}</td>
                                                            <td class="mono">{p.project_id.to_string()}</td>
                                                            <td class="num">{p.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
