//! Settings: your API tokens, and (for admins) the users and their roles.

use crate::api::{
    CreateToken, CreateUser, RevokeToken, SetUserDisabled, SetUserRole, get_me, list_my_tokens, list_users,
};
use crate::components::page::{EmptyState, ErrorBox, Loading, PageHeader};
use crate::error::error_text;
use domain::auth::Role;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

fn date(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "—".into())
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    let is_admin = move || me.get().and_then(|r| r.ok()).flatten().is_some_and(|m| m.role == Role::Admin);
    view! {
        <Title text="Settings" />
        <PageHeader title="Settings" subtitle="API tokens for scripts and the mlflow client; users and roles." />
        <TokensSection />
        <Transition>{move || is_admin().then(|| view! { <UsersSection /> })}</Transition>
    }
}

#[component]
fn TokensSection() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens =
        Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_my_tokens());
    let created = create.value();
    view! {
        <section class="panel" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"API tokens"</h2>
            <p class="muted">
                "Send a token as " <code>"Authorization: Bearer <token>"</code>
                ", or as MLFLOW_TRACKING_TOKEN for the mlflow client. It acts with your role."
            </p>
            <ActionForm action=create attr:class="form-row">
                <label>
                    <span>"Token name"</span>
                    <input name="name" required maxlength="100" placeholder="ci-pipeline" />
                </label>
                <label>
                    <span>"Expires"</span>
                    <select name="expires_in_days">
                        <option value="">"never"</option>
                        <option value="30">"in 30 days"</option>
                        <option value="90" selected>"in 90 days"</option>
                        <option value="365">"in a year"</option>
                    </select>
                </label>
                <button type="submit" class="btn btn-primary">"Create token"</button>
            </ActionForm>
            {move || created.with(|r| match r {
                Some(Ok(t)) => Some(view! {
                    <div class="callout callout-ok" role="status">
                        <p>"Token " <strong>{t.token.name.clone()}</strong> " created. Copy it now: it is not shown again."</p>
                        <pre class="code" data-testid="new-token">{t.secret.clone()}</pre>
                    </div>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="field-error" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            })}
            {move || revoke.value().with(error_text).map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if list.is_empty() => view! {
                            <EmptyState title="No tokens yet" hint="Create one above, or on the server:" command="cairn token create --user NAME --name ci" />
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="data" data-testid="tokens-table">
                                    <thead><tr>
                                        <th scope="col">"Name"</th><th scope="col">"Prefix"</th><th scope="col">"Created"</th>
                                        <th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col">"State"</th><th></th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|t| {
                                            let live = t.revoked_at.is_none();
                                            view! {
                                                <tr>
                                                    <td><strong>{t.name.clone()}</strong></td>
                                                    <td class="mono">{format!("{}…", t.prefix)}</td>
                                                    <td class="num">{date(Some(t.created_at))}</td>
                                                    <td class="num">{date(t.expires_at)}</td>
                                                    <td class="num">{date(t.last_used_at)}</td>
                                                    <td>{if live { view! { <span class="badge badge-ok">"active"</span> } } else { view! { <span class="badge badge-alert">"revoked"</span> } }}</td>
                                                    <td>
                                                        {live.then(|| view! {
                                                            <ActionForm action=revoke>
                                                                <input type="hidden" name="token_id" value=t.token_id.to_string() />
                                                                <button type="submit" class="btn btn-small" aria-label=format!("Revoke {}", t.name)>"Revoke"</button>
                                                            </ActionForm>
                                                        })}
                                                    </td>
                                                </tr>
                                            }
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
fn UsersSection() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let set_disabled = ServerAction::<SetUserDisabled>::new();
    let users = Resource::new(
        move || (create.version().get(), set_role.version().get(), set_disabled.version().get()),
        |_| list_users(),
    );
    let created = create.value();
    let role_options = |selected: Role| {
        Role::ALL
            .into_iter()
            .map(|r| view! { <option value=r.as_str() selected=r == selected>{r.as_str()}</option> })
            .collect_view()
    };
    view! {
        <section class="panel" aria-labelledby="users-h">
            <h2 id="users-h">"Users"</h2>
            <p class="muted">"viewer < editor < approver < admin: each role may do what the roles before it may."</p>
            <ActionForm action=create attr:class="form-row">
                <label>
                    <span>"Username"</span>
                    <input name="username" required maxlength="64" placeholder="ana" />
                </label>
                <label>
                    <span>"Role"</span>
                    <select name="role" aria-label="New user role">{role_options(Role::Viewer)}</select>
                </label>
                <button type="submit" class="btn btn-primary">"Create user"</button>
            </ActionForm>
            {move || created.with(|r| match r {
                Some(Ok(u)) => Some(view! {
                    <div class="callout callout-ok" role="status">
                        <p>"User " <strong>{u.user.username.clone()}</strong> " created as " {u.user.role.to_string()} ". Their password, shown once:"</p>
                        <pre class="code" data-testid="new-password">{u.generated_password.clone().unwrap_or_default()}</pre>
                    </div>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="field-error" role="alert">{e.to_string()}</p> }.into_any()),
                None => None,
            })}
            {move || {
                set_role
                    .value()
                    .with(error_text)
                    .or_else(|| set_disabled.value().with(error_text))
                    .map(|m| view! { <p class="field-error" role="alert">{m}</p> })
            }}
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="data" data-testid="users-table">
                                    <thead><tr><th scope="col">"Username"</th><th scope="col">"Role"</th><th scope="col">"State"</th><th scope="col">"Created"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|u| {
                                            let role_label = format!("Role of {}", u.username);
                                            let toggle_label = format!("{} {}", if u.disabled { "Enable" } else { "Disable" }, u.username);
                                            view! {
                                            <tr>
                                                <td><strong>{u.username.clone()}</strong></td>
                                                <td>
                                                    <ActionForm action=set_role attr:class="inline-form">
                                                        <input type="hidden" name="user_id" value=u.user_id.to_string() />
                                                        <select name="role" aria-label=role_label>{role_options(u.role)}</select>
                                                        <button type="submit" class="btn btn-small">"Change"</button>
                                                    </ActionForm>
                                                </td>
                                                <td>
                                                    <ActionForm action=set_disabled attr:class="inline-form">
                                                        <input type="hidden" name="user_id" value=u.user_id.to_string() />
                                                        <input type="hidden" name="disabled" value=(!u.disabled).to_string() />
                                                        {if u.disabled { view! { <span class="badge badge-warn">"disabled"</span> } } else { view! { <span class="badge badge-ok">"active"</span> } }}
                                                        <button type="submit" class="btn btn-small" aria-label=toggle_label>
                                                            {if u.disabled { "Enable" } else { "Disable" }}
                                                        </button>
                                                    </ActionForm>
                                                </td>
                                                <td class="num">{date(Some(u.created_at))}</td>
                                            </tr>
                                        }}).collect_view()}
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
