//! Sign in. A plain HTML form posting to `/auth/login`, so it works before the
//! wasm has loaded; errors come back in the query string.

use crate::components::page::Logo;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.with(|q| q.get(k).map(|s| s.to_string()));
    view! {
        <Title text="Sign in" />
        <div class="login-wrap">
            <form class="login card" method="post" action="/auth/login">
                <div class="brand">
                    <Logo size=28 />
                    <span>"Cairn"</span>
                </div>
                <h1>"Sign in"</h1>
                {move || get("error").map(|e| view! { <p class="callout callout-alert" role="alert">{e}</p> })}
                <label>
                    <span>"Username"</span>
                    <input name="username" autocomplete="username" required autofocus value=move || get("username").unwrap_or_default() />
                </label>
                <label>
                    <span>"Password"</span>
                    <input name="password" type="password" autocomplete="current-password" required />
                </label>
                <input type="hidden" name="next" value=move || get("next").unwrap_or_else(|| "/".into()) />
                <button type="submit" class="btn btn-primary">"Sign in"</button>
                <p class="hint">
                    "No account? An admin creates one under Settings, or on the server: "
                    <code>"cairn user add NAME --role viewer"</code>
                </p>
            </form>
        </div>
    }
}
