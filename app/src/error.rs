//! The error server functions return. It crosses the wire as JSON, so the UI can
//! show the message next to the action that caused it.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Details are in the server log; the user gets something to quote.
    #[error("something went wrong on the server; the details are in its log")]
    Internal,
    /// The call itself failed (network, decoding).
    #[error("request failed: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

/// The message of a finished action that failed, for showing next to its form.
pub fn error_text<T>(result: &Option<Result<T, AppError>>) -> Option<String> {
    match result {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    }
}
