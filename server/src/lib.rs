//! The `cairn` binary's library: configuration, the command line, the HTTP router
//! and process wiring. Business rules are not here; they live in `services`.
//!
//! Architecture invariant: handlers are adapters (extract → one `services` call →
//! map the result), and the only place a `services::Error` becomes an HTTP response
//! is [`http::error`].
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod bench;
pub mod cli;
pub mod config;
pub mod http;
pub mod serve;
pub mod telemetry;
