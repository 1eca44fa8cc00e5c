//! Hydrates the server-rendered dashboard in the browser.
use leptos::prelude::document;
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // Hydration is synchronous: from here on the page reacts. The end-to-end tests
    // wait for this mark instead of sleeping.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
