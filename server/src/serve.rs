//! `cairn serve`: connect, migrate, open the artifact store, listen, and stop
//! gracefully on SIGTERM or Ctrl-C.

use crate::config::ServeConfig;
use crate::http::{CookieSettings, Limits, SHUTDOWN_GRACE, ServerState, metrics::Metrics, router};
use anyhow::Context;
use services::artifacts::ArtifactStore;
use services::db::{self, PoolSettings};
use services::secrets::SecretCipher;
use std::future::Future;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Builds the state `serve` runs with: database connected and migrated, store open.
pub async fn build_state(cfg: &ServeConfig) -> anyhow::Result<ServerState> {
    let pool = db::connect(
        &cfg.database_url,
        PoolSettings { create_database: cfg.create_db, ..PoolSettings::default() },
    )
    .await?;
    db::migrate(&pool).await?;
    let store = ArtifactStore::open(&cfg.artifacts)?;
    let secrets = SecretCipher::from_passphrase(cfg.secret_key.expose())?;
    // Subscriptions made before secrets were encrypted: encrypt them now, so no
    // plaintext secret outlives the first start of this version.
    services::webhooks::encrypt_plaintext_secrets(&pool, &secrets).await?;
    let services = services::AppState::new(pool, store)
        .with_secrets(secrets)
        .with_sql_sources(cfg.sql_sources.clone())
        .with_imports(cfg.imports.clone())
        .with_commands(cfg.commands.clone())
        .with_serving(cfg.serving.clone());
    Ok(ServerState {
        leptos_options: cfg.leptos_options(),
        metrics: Metrics::new(Some(services.serving.clone())),
        services,
        limits: Limits { max_body_bytes: cfg.max_body_bytes, max_upload_bytes: cfg.max_upload_bytes },
        cookies: CookieSettings { secure: cfg.secure_cookies() },
    })
}

pub async fn run(cfg: ServeConfig) -> anyhow::Result<()> {
    tracing::info!(config = %cfg.summary(), "starting cairn serve");
    let state = build_state(&cfg).await?;
    let listener = TcpListener::bind(cfg.bind).await.with_context(|| {
        format!(
            "could not listen on {}: is another process using it? Pick another address with CAIRN_BIND",
            cfg.bind
        )
    })?;
    let addr = listener.local_addr()?;
    // Scripts and the end-to-end tests read this line to learn the port.
    println!("cairn listening on http://{addr}");
    let serving = services::serving::start(&state.services).await;
    if cfg.serving_only {
        tracing::info!(%addr, "serving predictions only (no dashboard, API, workers or scheduler)");
        let app = crate::http::serving_router(state);
        serve_app(listener, app, shutdown_signal()).await?;
    } else {
        tracing::info!(%addr, store = state.services.store.location(), "serving dashboard and API");
        let background = Background::start(&state.services, cfg.workers, Vec::new(), cfg.job_lease).await?;
        submit_pipelines(&state.services, &cfg.pipelines).await?;
        serve_on(listener, state, shutdown_signal()).await?;
        background.shutdown().await;
    }
    // After the last request: what is still queued for the serving log is written.
    serving.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Submits the spec files given with `--pipeline` (after the built-in components are
/// registered). A file that cannot be read or is invalid stops start-up: it is the
/// operator's configuration.
async fn submit_pipelines(st: &services::AppState, files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| {
            format!("could not read the pipeline spec {} (CAIRN_PIPELINES)", file.display())
        })?;
        match services::pipelines::submit_as_admin(st, &text)
            .await
            .with_context(|| format!("the pipeline spec {} was refused", file.display()))?
        {
            Some(s) => tracing::info!(
                file = %file.display(),
                pipeline = %s.version.spec.name,
                version = s.version.version,
                created = s.created,
                "pipeline submitted"
            ),
            None => {
                tracing::warn!(file = %file.display(), "no admin user yet: the pipeline was not submitted")
            }
        }
    }
    Ok(())
}

/// The scheduler and the job workers a process runs beside (or instead of) the web server.
pub struct Background {
    scheduler: services::schedule::SchedulerHandle,
    workers: Option<services::queue::worker::WorkerHandle>,
}

impl Background {
    pub async fn start(
        st: &services::AppState,
        workers: usize,
        queues: Vec<String>,
        lease: std::time::Duration,
    ) -> anyhow::Result<Self> {
        use services::queue::{JobRegistry, worker};
        services::jobs::builtin::ensure_schedules(&st.db).await?;
        services::pipelines::register_builtins(&st.db).await?;
        let registry = services::jobs::builtin::register(JobRegistry::new(), st);
        let registry = services::training::register(registry);
        let registry = services::serving::batch::register(registry);
        let registry = services::pipelines::register(registry);
        let registry = services::webhooks::install(
            registry,
            std::time::Duration::from_secs(10),
            st.secrets().ok().cloned(),
        )?;
        let workers = (workers > 0).then(|| {
            worker::start(
                st.db.clone(),
                registry,
                worker::WorkerConfig {
                    concurrency: workers,
                    queues,
                    // A cancel reaches a running job at its next heartbeat: keep that
                    // within a couple of seconds (one small UPDATE per beat).
                    heartbeat_interval: std::time::Duration::from_secs(2).min(lease / 4),
                    lease,
                    reap_interval: worker::WorkerConfig::default().reap_interval.min(lease / 2),
                    ..Default::default()
                },
            )
        });
        let scheduler =
            services::schedule::start(st.db.clone(), services::schedule::SchedulerConfig::default());
        Ok(Self { scheduler, workers })
    }

    /// Stops scheduling, lets running jobs finish within their grace period, and
    /// hands unfinished ones back to the queue.
    pub async fn shutdown(self) {
        self.scheduler.shutdown().await;
        if let Some(w) = self.workers {
            let report = w.shutdown().await;
            tracing::info!(released = report.released, "workers stopped");
        }
    }
}

/// `cairn worker`: runs jobs (and the scheduler, which fires each tick once however
/// many processes run it) until SIGTERM.
pub async fn run_worker(args: crate::config::WorkerArgs) -> anyhow::Result<()> {
    let pool = db::connect(
        &args.db.database_url,
        PoolSettings { create_database: args.db.create_db, ..PoolSettings::default() },
    )
    .await?;
    db::migrate(&pool).await?;
    let store = ArtifactStore::open(&args.artifacts)?;
    let mut st = services::AppState::new(pool, store)
        .with_sql_sources(args.sql_sources.settings())
        .with_commands(args.commands.settings())
        .with_serving(args.serving.settings());
    match &args.secret_key {
        Some(key) => st = st.with_secrets(SecretCipher::from_passphrase(key.expose())?),
        None => tracing::warn!(
            "CAIRN_SECRET_KEY is not set: this worker cannot deliver webhooks with encrypted secrets or query SQL sources with stored connections"
        ),
    }
    let background = Background::start(&st, args.workers.max(1), args.queues, args.jobs.lease()).await?;
    println!("cairn worker running {} jobs at once; stop with Ctrl-C or SIGTERM", args.workers.max(1));
    shutdown_signal().await;
    background.shutdown().await;
    Ok(())
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish for up to
/// [`SHUTDOWN_GRACE`].
pub async fn serve_on(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, router(state), shutdown).await
}

/// [`serve_on`] for a router already built (the serving-only one).
pub async fn serve_app(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, mut rx) = watch::channel(false);
    let signalled = async move {
        shutdown.await;
        tracing::info!(grace_s = SHUTDOWN_GRACE.as_secs(), "shutting down: finishing in-flight requests");
        let _ = tx.send(true);
    };
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(signalled);
    tokio::select! {
        res = server => res,
        _ = async {
            let _ = rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("in-flight requests did not finish within the grace period; stopping anyway");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
