//! File uploads with a progress bar: the browser streams the file to the REST API
//! with XMLHttpRequest (fetch has no upload progress). Browser only; on the server
//! the form renders and nothing is sent.

use domain::datasets::VersionCreated;

/// Sends the file chosen in `<input type=file id=input_id>` as the body of a POST
/// to `url`; `on_progress` gets 0.0..=1.0, `on_done` the created version or the
/// API's error message.
pub fn upload_file(
    input_id: &str,
    url: String,
    on_progress: impl Fn(f64) + 'static,
    on_done: impl Fn(Result<VersionCreated, String>) + 'static,
) -> Result<String, String> {
    #[cfg(feature = "hydrate")]
    {
        hydrate::upload(input_id, url, on_progress, on_done)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (input_id, url, on_progress, on_done);
        Err("uploads need the page to finish loading".into())
    }
}

/// `{"error": {"message": ...}}` → the message; anything else → a generic line.
pub fn error_message(status: u16, body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| format!("the upload failed (HTTP {status})"))
}

#[cfg(feature = "hydrate")]
mod hydrate {
    use super::error_message;
    use domain::datasets::VersionCreated;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{HtmlInputElement, ProgressEvent, XmlHttpRequest};

    /// Returns the chosen file's name.
    pub fn upload(
        input_id: &str,
        url: String,
        on_progress: impl Fn(f64) + 'static,
        on_done: impl Fn(Result<VersionCreated, String>) + 'static,
    ) -> Result<String, String> {
        let input = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(input_id))
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .ok_or("the file field is missing")?;
        let file = input.files().and_then(|f| f.get(0)).ok_or("choose a file first")?;
        let name = file.name();
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}file_name={}", js_sys_encode(&name));
        let xhr = XmlHttpRequest::new().map_err(|_| "this browser cannot upload")?;
        xhr.open("POST", &url).map_err(|_| "could not start the upload")?;
        let progress = Closure::<dyn Fn(ProgressEvent)>::new(move |e: ProgressEvent| {
            if e.length_computable() && e.total() > 0.0 {
                on_progress(e.loaded() / e.total());
            }
        });
        if let Ok(upload) = xhr.upload() {
            upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));
        }
        progress.forget();
        let done_xhr = xhr.clone();
        let done = Closure::<dyn Fn()>::new(move || {
            let status = done_xhr.status().unwrap_or(0);
            let body = done_xhr.response_text().ok().flatten().unwrap_or_default();
            if (200..300).contains(&status) {
                on_done(serde_json::from_str(&body).map_err(|e| format!("unexpected answer: {e}")));
            } else if status == 0 {
                on_done(Err("the connection was lost during the upload".into()));
            } else {
                on_done(Err(error_message(status, &body)));
            }
        });
        xhr.set_onloadend(Some(done.as_ref().unchecked_ref()));
        done.forget();
        xhr.send_with_opt_blob(Some(&file)).map_err(|_| "could not send the file")?;
        Ok(name)
    }

    fn js_sys_encode(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }
}
