//! Server-only glue for server functions: reach the services state, map errors.

use crate::error::AppError;
use leptos::prelude::*;
use services::AppState;

/// The services state, provided to every server function through context.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("services::AppState missing from the Leptos context");
        AppError::Internal
    })
}

impl From<services::Error> for AppError {
    fn from(e: services::Error) -> Self {
        use services::Error as E;
        match e {
            E::NotFound { .. } => AppError::NotFound(e.to_string()),
            E::Validation(v) => AppError::Invalid { field: v.field, message: v.message },
            E::Conflict(m) => AppError::Conflict(m),
            E::Unauthorized(m) => AppError::Unauthorized(m),
            E::Forbidden(m) => AppError::Forbidden(m),
            E::Db(_) | E::Store(_) | E::Other(_) => {
                // Logged once here, at the boundary; the client gets no internals.
                tracing::error!(error = ?e, "server function failed");
                AppError::Internal
            }
        }
    }
}

/// Sets the HTTP status of the page being rendered (e.g. 404 for unknown routes).
pub fn set_status(code: u16) {
    if let (Some(opts), Ok(status)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(code))
    {
        opts.set_status(status);
    }
}
