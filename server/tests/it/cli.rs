//! The CLI's remote commands against a real server on port 0.
use crate::support;
use server::cli::output::OutputFormat;
use server::cli::remote::{Remote, RemoteArgs, RemoteError};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

async fn start(pool: PgPool) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::serve::serve_on(listener, support::state(pool), async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx, handle)
}

fn remote_as(url: &str, token: &str, output: OutputFormat) -> Remote {
    Remote::new(&RemoteArgs { url: url.to_string(), token: Some(token.to_string()), output }).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn remote_commands_print_tables_and_json(pool: PgPool) {
    let (_, token) = support::user_with_token(&pool, "ed", domain::auth::Role::Editor).await;
    let (url, stop, handle) = start(pool).await;
    let remote = |url: &str, out| remote_as(url, &token, out);

    let text = remote(&url, OutputFormat::Table)
        .create_project(OutputFormat::Table, "vision".into(), "".into())
        .await
        .unwrap();
    assert!(text.starts_with("created project vision ("), "{text}");

    let table = remote(&url, OutputFormat::Table).list_projects(OutputFormat::Table).await.unwrap();
    let lines: Vec<_> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert_eq!(lines.len(), 3, "header + default + vision: {table}");

    let json = remote(&url, OutputFormat::Json).list_projects(OutputFormat::Json).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);

    let status = remote(&url, OutputFormat::Json).status(OutputFormat::Json).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["overview"]["projects"], 2);
    assert_eq!(v["build"]["version"], env!("CARGO_PKG_VERSION"));

    // A refused request: exit code 1 and the server's message.
    let err = remote(&url, OutputFormat::Table)
        .create_project(OutputFormat::Table, "vision".into(), "".into())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().contains("409 conflict") && err.to_string().contains("already exists"), "{err}");

    // Without a token: refused with the server's message, exit code 1.
    let anonymous =
        Remote::new(&RemoteArgs { url: url.clone(), token: None, output: OutputFormat::Table }).unwrap();
    let err = anonymous.status(OutputFormat::Table).await.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().starts_with("401 unauthorized"), "{err}");

    // Graceful shutdown: the server stops when told to.
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();

    // Nobody listening any more: exit code 3 and a hint.
    let err = remote(&url, OutputFormat::Table).status(OutputFormat::Table).await.unwrap_err();
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err}");
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("CAIRN_URL"), "{err}");
}

#[test]
fn bad_urls_are_usage_errors() {
    let err = Remote::new(&RemoteArgs { url: "not a url".into(), token: None, output: OutputFormat::Table })
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), 2);
}

/// `cairn train --wait`: queue a run, follow it on a real server with a worker,
/// and exit non-zero (code 4) when a gate fails.
#[sqlx::test(migrations = "../migrations")]
async fn train_waits_for_the_run_and_reports_gates(pool: PgPool) {
    use services::queue::{JobRegistry, worker};
    let (_, token) = support::user_with_token(&pool, "ed", domain::auth::Role::Editor).await;
    let state = support::state(pool.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::serve::serve_on(listener, state.clone(), async {
        let _ = rx.await;
    }));
    let registry = services::training::register(JobRegistry::new()).provide(state.services.clone());
    let workers = worker::start(
        pool.clone(),
        registry,
        worker::WorkerConfig { poll_interval: std::time::Duration::from_millis(50), ..Default::default() },
    );
    let http = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let r = http
        .post(format!("{url}/api/v1/datasets"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"name": "credit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/credit_data.csv")).unwrap();
    let r = http
        .post(format!("{url}/api/v1/datasets/credit/versions?file_name=credit_data.csv"))
        .header("authorization", &auth)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let spec = |gate: &str| domain::training::TrainingSpec {
        dataset: "credit".into(),
        version: None,
        experiment: None,
        run_name: None,
        target: Some("Status".into()),
        features: Vec::new(),
        prepare: Default::default(),
        auto_prepare: true,
        algorithm: serde_json::json!({"name": "logistic_regression"}),
        seed: 1,
        slice_column: None,
        gates: vec![gate.to_string()],
        baseline_run: None,
        cv_folds: None,
    };
    let remote = remote_as(&url, &token, OutputFormat::Table);
    let text = remote.train(OutputFormat::Table, spec("roc_auc >= 0.7"), true).await.unwrap();
    assert!(text.contains("finished") && text.contains("roc_auc"), "{text}");
    assert!(text.contains("gate roc_auc >= 0.7: passed"), "{text}");
    let err = remote.train(OutputFormat::Table, spec("roc_auc >= 0.999"), true).await.unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
    assert!(err.to_string().contains("a validation gate failed"), "{err}");
    // Without waiting: the run id, at once.
    let queued = remote.train(OutputFormat::Table, spec("roc_auc >= 0.7"), false).await.unwrap();
    assert!(queued.starts_with("queued training run "), "{queued}");

    workers.shutdown().await;
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
