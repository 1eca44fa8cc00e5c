//! What every use case needs: the pool, the artifact store and facts about this process.

use crate::artifacts::ArtifactStore;
use crate::auth::tokens::TokenCache;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;

/// Cheap to clone (everything inside is reference-counted); handed to axum handlers,
/// Leptos server functions (through context) and workers alike.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: PgPool,
    pub store: ArtifactStore,
    pub started_at: DateTime<Utc>,
    /// Verified API tokens, so a token check rarely touches the database.
    pub tokens: Arc<TokenCache>,
}

impl AppState {
    pub fn new(db: PgPool, store: ArtifactStore) -> Self {
        Self { db, store, started_at: Utc::now(), tokens: Arc::default() }
    }
}
