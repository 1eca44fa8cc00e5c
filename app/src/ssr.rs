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

/// The signed-in caller of this request (the HTTP layer put it in the request's
/// extensions), or `Unauthorized`.
pub fn principal() -> Result<services::auth::Principal, AppError> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<services::auth::CurrentUser>().cloned())
        .and_then(|current| current.0)
        .ok_or_else(|| {
            set_status(401);
            AppError::Unauthorized("your session has ended; sign in again".into())
        })
}

impl From<services::Error> for AppError {
    /// Also sets the response status, so a refused server function is a 403 (not
    /// the 500 Leptos would send for any error).
    fn from(e: services::Error) -> Self {
        use services::Error as E;
        set_status(match &e {
            E::NotFound { .. } => 404,
            E::Validation(_) => 422,
            E::Conflict(_) => 409,
            E::TooLarge(_) => 413,
            E::Unauthorized(_) => 401,
            E::Forbidden(_) => 403,
            E::RateLimited { .. } => 429,
            E::Unavailable(_) => 503,
            E::Db(_) | E::Store(_) | E::Other(_) => 500,
        });
        match e {
            E::NotFound { .. } => AppError::NotFound(e.to_string()),
            E::Validation(v) => AppError::Invalid { field: v.field, message: v.message },
            E::Conflict(m) => AppError::Conflict(m),
            E::TooLarge(m) => AppError::Invalid { field: "file".into(), message: m },
            E::Unauthorized(m) => AppError::Unauthorized(m),
            E::Forbidden(m) => AppError::Forbidden(m),
            E::RateLimited { message, .. } => AppError::Forbidden(message),
            E::Unavailable(m) => AppError::Conflict(m),
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
