//! How much an API token adds to a request. A token check is one SHA-256 and a
//! cache lookup; on a miss, one indexed query. Measured three ways: the check
//! alone (cache hit), the check alone with the cache cleared each time (database
//! round trip), and whole requests through the router with and without a token.

use super::Report;
use crate::http::{CookieSettings, Limits, ServerState, metrics::Metrics, router};
use axum::body::Body;
use axum::http::Request;
use domain::auth::{NewToken, NewUser, Role};
use services::artifacts::ArtifactStore;
use sqlx::PgPool;
use std::time::Instant;
use tower::ServiceExt;

const HOT: u32 = 200_000;
const COLD: u32 = 2_000;
const REQUESTS: u32 = 20_000;

pub async fn run(pool: &PgPool) -> anyhow::Result<Report> {
    let new =
        NewUser { username: "bench".into(), role: Role::Viewer, password: Some("Tr0ub4dor&3-staple".into()) };
    services::auth::users::create_from_cli(pool, new, false).await?;
    let secret = services::auth::tokens::create_from_cli(
        pool,
        "bench",
        NewToken { name: "bench".into(), expires_in_days: None },
    )
    .await?
    .secret;
    let artifacts = std::env::temp_dir().join(format!("cairn-bench-{}", uuid::Uuid::new_v4().simple()));
    let st = services::AppState::new(pool.clone(), ArtifactStore::open(&artifacts.display().to_string())?);

    // Warm the cache, then time hits.
    services::auth::tokens::verify(&st, &secret, None).await?;
    let t = Instant::now();
    for _ in 0..HOT {
        services::auth::tokens::verify(&st, &secret, None).await?;
    }
    let hot_ns = t.elapsed().as_nanos() as f64 / f64::from(HOT);

    let t = Instant::now();
    for _ in 0..COLD {
        st.tokens.clear();
        services::auth::tokens::verify(&st, &secret, None).await?;
    }
    let cold_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(COLD);

    // Whole requests to a public route: the middleware checks a token when one is sent.
    let state = ServerState {
        leptos_options: leptos::config::LeptosOptions::builder().output_name("cairn").build(),
        services: st.clone(),
        metrics: Metrics::default(),
        limits: Limits::new(1 << 20),
        cookies: CookieSettings { secure: false },
    };
    let app = router(state);
    let request = |token: Option<&str>| {
        let mut r = Request::get("/healthz");
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::empty())
    };
    let mut without = 0.0;
    let mut with = 0.0;
    // Interleaved rounds so drift in machine load hits both sides alike.
    for _ in 0..10 {
        let t = Instant::now();
        for _ in 0..REQUESTS / 10 {
            app.clone().oneshot(request(None)?).await?;
        }
        without += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..REQUESTS / 10 {
            app.clone().oneshot(request(Some(&secret))?).await?;
        }
        with += t.elapsed().as_secs_f64();
    }
    let per = |s: f64| s * 1e6 / f64::from(REQUESTS);
    let _ = std::fs::remove_dir_all(&artifacts);
    Ok(Report {
        title: "cairn bench auth: API token checks",
        figures: vec![
            ("token_check_cached_ns", hot_ns, "ns"),
            ("token_check_uncached_us", cold_us, "µs (one indexed query)"),
            ("request_without_token_us", per(without), "µs"),
            ("request_with_token_us", per(with), "µs"),
            ("token_overhead_per_request_us", per(with) - per(without), "µs"),
        ],
        notes: vec![
            format!(
                "{HOT} cached checks, {COLD} uncached, {REQUESTS} requests each way, in-process (no socket)"
            ),
            "cache entries live 30 s; revocation evicts at once in this process".into(),
        ],
    })
}
