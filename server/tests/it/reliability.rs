//! Pipelines survive the processes that run them: the real `cairn` binary is started
//! (`cairn worker`, `cairn serve`) on a fresh database, killed and restarted.
//!
//! - kill -9 of a worker in the middle of a step: the step runs again on another
//!   worker once the lease expires, the run succeeds, and the step's execution and
//!   outputs are recorded once;
//! - `cairn serve` restarted during a run: the run goes on after the restart;
//! - two `cairn serve` on one database fire every tick of a per-second schedule once.
use crate::support::{eventually, user_with_token};
use domain::auth::Role;
use domain::pipelines::{NewSchedule, RunDetail, RunState, StartRun};
use services::auth::Principal;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SECRET: &str = "reliability-test-secret-key-0123456789";
const LEASE_MS: &str = "1500";

/// What the spawned processes share with the test: the database and the store.
struct Env {
    database_url: String,
    artifacts: tempfile::TempDir,
    site: tempfile::TempDir,
}

impl Env {
    async fn new(pool: &PgPool) -> Self {
        let name: String = sqlx::query_scalar("select current_database()").fetch_one(pool).await.unwrap();
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&format!("/{name}"));
        let site = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(site.path().join("pkg")).unwrap();
        std::fs::write(site.path().join("pkg/cairn.js"), "").unwrap();
        Self { database_url: url.to_string(), artifacts: tempfile::tempdir().unwrap(), site }
    }

    fn command(&self, verb: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.arg(verb)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("CAIRN_ARTIFACTS", self.artifacts.path())
            .env("CAIRN_SECRET_KEY", SECRET)
            .env("CAIRN_COMMAND_ALLOW", "sh")
            .env("CAIRN_JOB_LEASE_MS", LEASE_MS)
            .env("CAIRN_WORKERS", "2")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// The test's own view of the same state (to submit, start and inspect).
    fn state(&self, pool: &PgPool) -> services::AppState {
        services::AppState::new(
            pool.clone(),
            services::artifacts::ArtifactStore::open(&self.artifacts.path().display().to_string()).unwrap(),
        )
    }

    async fn worker(&self) -> Child {
        let mut child = self.command("worker").spawn().expect("spawn cairn worker");
        wait_for_line(&mut child, "cairn worker running").await;
        child
    }

    /// Starts `cairn serve` on a free port and returns it with its base URL.
    async fn serve(&self) -> (Child, String) {
        let mut child = self
            .command("serve")
            .env("CAIRN_BIND", "127.0.0.1:0")
            .env("CAIRN_SITE_ROOT", self.site.path())
            .spawn()
            .expect("spawn cairn serve");
        let line = wait_for_line(&mut child, "cairn listening on ").await;
        let url = line.trim().trim_start_matches("cairn listening on ").to_string();
        (child, url)
    }
}

/// Reads the child's stdout until a line containing `needle` (then keeps draining
/// both pipes in the background so the child never blocks on a full pipe).
async fn wait_for_line(child: &mut Child, needle: &str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if std::env::var_os("CAIRN_TEST_CHILD_LOGS").is_some() {
                    eprintln!("[child] {l}");
                }
            }
        });
    }
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains(needle) {
                return Some(l);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("the child never printed '{needle}'"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    found
}

/// SIGTERM: the graceful path of `cairn serve` (running jobs get their grace, then
/// are handed back).
async fn terminate(child: &mut Child) {
    let pid = child.id().expect("running").to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(status.success());
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("exits after SIGTERM");
}

async fn principal(pool: &PgPool, st: &services::AppState) -> Principal {
    let (_, token) = user_with_token(pool, "ed", Role::Editor).await;
    services::auth::tokens::verify(st, &token, None).await.unwrap()
}

async fn wait_run(st: &services::AppState, p: &Principal, run: &RunDetail, within: Duration) -> RunDetail {
    let id = run.summary.run_id;
    let ended = eventually(within, || async {
        services::pipelines::run(st, p, id).await.unwrap().summary.state.is_terminal()
    })
    .await;
    let run = services::pipelines::run(st, p, id).await.unwrap();
    assert!(ended, "the run did not end: {run:#?}");
    run
}

async fn step_state(pool: &PgPool, run: &RunDetail, step: &str) -> String {
    sqlx::query_scalar("select state::text from pipeline_step where pipeline_run_id = $1 and name = $2")
        .bind(run.summary.run_id.0)
        .bind(step)
        .fetch_one(pool)
        .await
        .unwrap()
}

const SLOW: &str = r#"
name: slow
components:
  work:
    command: [sh, -c, 'sleep {{inputs.seconds}}; echo "{\"done\": 1}" > {{outputs.metrics}}; echo out > {{outputs.file}}']
    inputs: {seconds: {type: int}}
    outputs: {metrics: {type: metrics}, file: {type: file}}
steps:
  - name: first
    component: work
    inputs: {seconds: 3}
    retries: 2
    cache: false
  - name: second
    component: work
    inputs: {seconds: 1}
    after: [first]
    retries: 2
    cache: false
  - name: third
    component: work
    inputs: {seconds: 1}
    after: [second]
    retries: 2
    cache: false
"#;

#[sqlx::test(migrations = "../migrations")]
async fn a_killed_worker_s_step_runs_again_elsewhere_and_is_recorded_once(pool: PgPool) {
    let env = Env::new(&pool).await;
    let st = env.state(&pool);
    services::pipelines::register_builtins(&pool).await.unwrap();
    let p = principal(&pool, &st).await;
    services::pipelines::submit(&st, &p, SLOW).await.unwrap();

    let mut doomed = env.worker().await;
    let run = services::pipelines::start_run(&st, &p, "slow", StartRun::default()).await.unwrap();
    let running =
        eventually(Duration::from_secs(30), || async { step_state(&pool, &run, "first").await == "running" })
            .await;
    assert!(running, "the first step never started");
    // In the middle of the 3-second command: kill -9, no goodbye.
    tokio::time::sleep(Duration::from_millis(500)).await;
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();

    let _rescuer = env.worker().await;
    let run = wait_run(&st, &p, &run, Duration::from_secs(60)).await;
    assert_eq!(run.summary.state, RunState::Succeeded, "{run:#?}");
    let first = run.steps.iter().find(|s| s.name == "first").unwrap();
    assert!(first.attempt >= 2, "the first step ran again after the kill: {first:#?}");

    // One execution per step in the lineage, its file output recorded once (metrics
    // are values on the step, not lineage artifacts).
    for s in &run.steps {
        let external = format!("pipeline_step:{}", s.step_id);
        let (executions, outputs): (i64, i64) = sqlx::query_as(
            "select count(distinct e.lineage_execution_id), count(ev.lineage_event_id) filter (where ev.kind = 'output')
             from lineage_execution e left join lineage_event ev using (lineage_execution_id)
             where e.external_id = $1",
        )
        .bind(&external)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((executions, outputs), (1, 1), "step {}: executions and output events", s.name);
        assert_eq!(s.outputs["metrics"], serde_json::json!({"done": 1}), "{s:#?}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_run_goes_on_after_serve_restarts(pool: PgPool) {
    let env = Env::new(&pool).await;
    let st = env.state(&pool);
    services::pipelines::register_builtins(&pool).await.unwrap();
    let p = principal(&pool, &st).await;
    services::pipelines::submit(&st, &p, SLOW).await.unwrap();

    let (mut first_serve, url) = env.serve().await;
    let (_, token) = user_with_token(&pool, "op", Role::Editor).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{url}/api/v1/pipelines/slow/runs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let run: RunDetail = r.json().await.unwrap();
    let running =
        eventually(Duration::from_secs(30), || async { step_state(&pool, &run, "first").await == "running" })
            .await;
    assert!(running, "the first step never started");
    terminate(&mut first_serve).await;
    assert!(
        !services::pipelines::run(&st, &p, run.summary.run_id).await.unwrap().summary.state.is_terminal()
    );

    let (_second_serve, url) = env.serve().await;
    let uri = format!("{url}/api/v1/pipeline-runs/{}", run.summary.run_id);
    let ended = eventually(Duration::from_secs(60), || async {
        let d: RunDetail = client.get(&uri).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        d.summary.state.is_terminal()
    })
    .await;
    let d: RunDetail = client.get(&uri).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert!(ended, "{d:#?}");
    assert_eq!(d.summary.state, RunState::Succeeded, "{d:#?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn two_servers_fire_each_tick_of_a_per_second_schedule_once(pool: PgPool) {
    let env = Env::new(&pool).await;
    let st = env.state(&pool);
    services::pipelines::register_builtins(&pool).await.unwrap();
    let p = principal(&pool, &st).await;
    let spec = "name: tick\ncomponents:\n  noop:\n    command: [sh, -c, 'true']\nsteps:\n  - name: a\n    component: noop\n    cache: false\n";
    services::pipelines::submit(&st, &p, spec).await.unwrap();

    let (_a, _) = env.serve().await;
    let (_b, _) = env.serve().await;
    let new = NewSchedule {
        cron: "* * * * * *".into(),
        timezone: "UTC".into(),
        parameters: BTreeMap::new(),
        enabled: true,
    };
    let schedule = services::pipelines::add_schedule(&st, &p, "tick", new).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    let fired = eventually(Duration::from_secs(30), || async {
        count("select count(*) from job where kind = 'pipeline.trigger'").await >= 6
    })
    .await;
    assert!(fired, "the schedule fired fewer than 6 ticks in 30 s");
    let change = domain::pipelines::ScheduleChange { enabled: Some(false), ..Default::default() };
    services::pipelines::change_schedule(&st, &p, "tick", schedule.schedule_id, change).await.unwrap();

    // Every trigger job has run (a run each), and no run is still going.
    let drained = eventually(Duration::from_secs(60), || async {
        count("select count(*) from job where kind like 'pipeline.%' and state not in ('succeeded', 'failed', 'cancelled')").await == 0
            && count("select count(*) from pipeline_run where state not in ('succeeded', 'failed', 'cancelled')").await == 0
    })
    .await;
    assert!(drained, "trigger jobs or runs did not finish");

    let ticks: Vec<String> =
        sqlx::query_scalar("select dedup_key from job where kind = 'pipeline.trigger' order by dedup_key")
            .fetch_all(&pool)
            .await
            .unwrap();
    let distinct: std::collections::BTreeSet<&String> = ticks.iter().collect();
    assert_eq!(distinct.len(), ticks.len(), "a tick was enqueued twice: {ticks:?}");
    // Consecutive seconds: no tick was skipped either.
    let seconds: Vec<i64> = ticks
        .iter()
        .map(|k| {
            let at = k.splitn(3, ':').nth(2).unwrap_or(k);
            chrono::DateTime::parse_from_rfc3339(at)
                .map(|d| d.timestamp())
                .unwrap_or_else(|e| panic!("{k}: {e}"))
        })
        .collect();
    assert_eq!(
        seconds.last().unwrap() - seconds.first().unwrap() + 1,
        seconds.len() as i64,
        "every second between the first and the last tick fired once: {ticks:?}"
    );
    let runs = count(
        "select count(*) from pipeline_run where trigger->>'kind' = 'schedule' and state = 'succeeded'",
    )
    .await;
    assert_eq!(runs, ticks.len() as i64, "one successful run per tick");
}
