//! Pure numerics: everything here is a function of its inputs, with no I/O, no
//! database and no HTTP, so it is fast to test and easy to benchmark.
//!
//! Architecture invariant: `ml` depends on `domain` only (plus numeric crates);
//! it never sees sqlx, tokio, axum or leptos.

pub mod drift;
pub mod frame;
pub mod prepare;
pub mod profile;
pub mod search;
pub mod summary;
pub mod train;
pub mod validate;
