//! Pipelines against Postgres with real workers: DAG order and parallel branches,
//! typed outputs between command steps, caching, conditions, retries, failures that
//! name the step, re-runs from the failed step, cancellation, lineage, and bad specs
//! refused with the step and field named.
use crate::support::{eventually, fast_config, user};
use domain::auth::Role;
use domain::pipelines::{RunDetail, RunState, StartRun, StepState};
use services::auth::Principal;
use services::lineage::{self, Direction};
use services::pipelines;
use services::queue::JobRegistry;
use services::queue::worker::{self, WorkerHandle};
use services::training::command::CommandSettings;
use services::{AppState, Error, artifacts::ArtifactStore};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;

fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap())
        .with_commands(CommandSettings { allow: vec!["sh".into()], ..Default::default() })
}

async fn setup(pool: PgPool) -> (AppState, Principal, WorkerHandle) {
    let st = state(pool);
    pipelines::register_builtins(&st.db).await.unwrap();
    let p = user(&st.db, Role::Editor).await;
    let registry = pipelines::register(JobRegistry::new()).provide(st.clone());
    let workers = worker::start(st.db.clone(), registry, fast_config("pipelines"));
    (st, p, workers)
}

async fn finished(st: &AppState, p: &Principal, run: &RunDetail) -> RunDetail {
    let id = run.summary.run_id;
    let done = eventually(Duration::from_secs(30), || async {
        pipelines::run(st, p, id).await.unwrap().summary.state.is_terminal()
    })
    .await;
    let detail = pipelines::run(st, p, id).await.unwrap();
    assert!(done, "run did not finish: {detail:#?}");
    detail
}

fn step<'a>(run: &'a RunDetail, name: &str) -> &'a domain::pipelines::StepRun {
    run.steps.iter().find(|s| s.name == name).unwrap()
}

/// A diamond: `a` writes a number; `b` and `c` (in parallel) transform it; `d`
/// adds their results and reports metrics. `d` is skipped when `skip_d` is true.
const DIAMOND: &str = r#"
name: diamond
parameters:
  n: {type: int, default: 3}
  skip_d: {type: bool, default: false}
components:
  emit:
    command: [sh, -c, 'echo "{{inputs.n}}" > {{outputs.value}}']
    inputs: {n: {type: int}}
    outputs: {value: {type: int}}
  double:
    command: [sh, -c, 'echo $(( {{inputs.x}} * 2 )) > {{outputs.y}}']
    inputs: {x: {type: int}}
    outputs: {y: {type: int}}
  add:
    command: [sh, -c, 'echo "{\"sum\": $(( {{inputs.a}} + {{inputs.b}} ))}" > {{outputs.metrics}}; echo report > {{outputs.report}}']
    inputs: {a: {type: int}, b: {type: int}}
    outputs: {metrics: {type: metrics}, report: {type: file}}
steps:
  - name: a
    component: emit
    inputs: {n: "{{ params.n }}"}
  - name: b
    component: double
    inputs: {x: "{{ steps.a.outputs.value }}"}
  - name: c
    component: double
    inputs: {x: "{{ steps.a.outputs.value }}"}
    cache: false
  - name: d
    component: add
    inputs: {a: "{{ steps.b.outputs.y }}", b: "{{ steps.c.outputs.y }}"}
    when: "not {{ params.skip_d }}"
"#;

#[sqlx::test(migrations = "../migrations")]
async fn a_diamond_runs_in_order_passes_typed_outputs_and_caches(pool: PgPool) {
    let (st, p, workers) = setup(pool).await;
    let sub = pipelines::submit(&st, &p, DIAMOND).await.unwrap();
    assert!(sub.created);
    assert_eq!(sub.version.version, 1);
    // The same text again is the same version.
    let again = pipelines::submit(&st, &p, DIAMOND).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.version.version_id, sub.version.version_id);

    let run = pipelines::start_run(&st, &p, "diamond", StartRun::default()).await.unwrap();
    let run = finished(&st, &p, &run).await;
    assert_eq!(run.summary.state, RunState::Succeeded, "{run:#?}");
    assert_eq!(step(&run, "a").outputs["value"], serde_json::json!(3));
    assert_eq!(step(&run, "b").outputs["y"], serde_json::json!(6));
    assert_eq!(step(&run, "d").outputs["metrics"], serde_json::json!({"sum": 12}));
    let report = &step(&run, "d").outputs["report"];
    assert!(report["sha256"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(run.layers["d"], 2);
    assert_eq!(step(&run, "d").depends_on, vec!["b".to_string(), "c".to_string()]);

    // Lineage: the report file was an output of d's execution in the run's context.
    let report_key = report["key"].as_str().unwrap();
    let artifact =
        lineage::find_artifact(&st.db, domain::DEFAULT_PROJECT_ID, "file", &format!("file:{report_key}"))
            .await
            .unwrap()
            .expect("the file output is a lineage artifact");
    let up = lineage::walk(&st.db, artifact, Direction::Upstream, 5).await.unwrap();
    assert!(up.executions.iter().any(|e| e.name == "diamond/d"), "{up:#?}");

    // Same inputs: a, b and d come from the cache, c (cache: false) runs again.
    let second = pipelines::start_run(&st, &p, "diamond", StartRun::default()).await.unwrap();
    let second = finished(&st, &p, &second).await;
    assert_eq!(second.summary.state, RunState::Succeeded);
    assert_eq!(step(&second, "a").state, StepState::Cached);
    assert_eq!(step(&second, "a").cached_from.as_ref().unwrap().run_id, run.summary.run_id);
    assert_eq!(step(&second, "b").state, StepState::Cached);
    assert_eq!(step(&second, "c").state, StepState::Succeeded);
    // d's inputs are identical (c computed the same value), so d is cached too.
    assert_eq!(step(&second, "d").state, StepState::Cached);

    // A different parameter misses the cache; a false condition skips d.
    let params: BTreeMap<String, serde_json::Value> =
        [("n".into(), 5.into()), ("skip_d".into(), true.into())].into();
    let third = pipelines::start_run(&st, &p, "diamond", StartRun { version: None, parameters: params })
        .await
        .unwrap();
    let third = finished(&st, &p, &third).await;
    assert_eq!(third.summary.state, RunState::Succeeded);
    assert_eq!(step(&third, "a").state, StepState::Succeeded);
    assert_eq!(step(&third, "b").outputs["y"], serde_json::json!(10));
    assert_eq!(step(&third, "d").state, StepState::Skipped);
    assert!(step(&third, "d").error.as_deref().unwrap().contains("condition"));
    workers.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failing_step_is_retried_then_fails_the_run_and_a_rerun_starts_there(pool: PgPool) {
    let (st, p, workers) = setup(pool).await;
    let flag = tempfile::tempdir().unwrap();
    let flag_path = flag.path().join("ready");
    let spec = format!(
        r#"
name: flaky
components:
  one:
    command: [sh, -c, 'echo 1 > {{{{outputs.v}}}}']
    outputs: {{v: {{type: int}}}}
  gate:
    command: [sh, -c, 'echo checking; test -f {flag} || {{ echo "not ready" >&2; exit 3; }}; echo 2 > {{{{outputs.v}}}}']
    inputs: {{x: {{type: int}}}}
    outputs: {{v: {{type: int}}}}
  silent:
    command: [sh, -c, 'true']
    inputs: {{x: {{type: int}}}}
    outputs: {{missing: {{type: int}}}}
steps:
  - {{name: first, component: one}}
  - name: second
    component: gate
    inputs: {{x: "{{{{ steps.first.outputs.v }}}}"}}
    retries: 1
  - name: third
    component: gate
    inputs: {{x: "{{{{ steps.second.outputs.v }}}}"}}
"#,
        flag = flag_path.display()
    );
    pipelines::submit(&st, &p, &spec).await.unwrap();
    let run = pipelines::start_run(&st, &p, "flaky", StartRun::default()).await.unwrap();
    let run = finished(&st, &p, &run).await;
    assert_eq!(run.summary.state, RunState::Failed);
    let second = step(&run, "second");
    assert_eq!(second.state, StepState::Failed);
    assert_eq!(second.attempt, 2, "one retry");
    let error = run.summary.error.as_deref().unwrap();
    assert!(error.contains("step 'second' failed"), "{error}");
    assert!(error.contains("exited with status 3") && error.contains("not ready"), "{error}");
    assert_eq!(step(&run, "third").state, StepState::Cancelled);
    assert!(step(&run, "third").error.as_deref().unwrap().contains("not started"));

    // Fix the cause and re-run: the first step is reused, the failed one runs again.
    std::fs::write(&flag_path, "").unwrap();
    let rerun = pipelines::rerun(&st, &p, run.summary.run_id).await.unwrap();
    let rerun = finished(&st, &p, &rerun).await;
    assert_eq!(rerun.summary.state, RunState::Succeeded, "{rerun:#?}");
    assert_eq!(rerun.rerun_of, Some(run.summary.run_id));
    assert_eq!(step(&rerun, "first").state, StepState::Cached);
    assert_eq!(step(&rerun, "second").state, StepState::Succeeded);
    assert_eq!(step(&rerun, "third").state, StepState::Succeeded);

    // A command that exits 0 without writing its declared output fails clearly.
    let spec = "name: quiet\ncomponents:\n  silent:\n    command: [sh, -c, 'true']\n    outputs: {missing: {type: int}}\nsteps:\n  - {name: s, component: silent}\n";
    pipelines::submit(&st, &p, spec).await.unwrap();
    let run = pipelines::start_run(&st, &p, "quiet", StartRun::default()).await.unwrap();
    let run = finished(&st, &p, &run).await;
    assert_eq!(run.summary.state, RunState::Failed);
    assert!(step(&run, "s").error.as_deref().unwrap().contains("produced no output 'missing'"));
    workers.shutdown().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn cancelling_stops_running_steps_and_pending_ones_never_start(pool: PgPool) {
    let (st, p, workers) = setup(pool).await;
    let spec = "name: slow\ncomponents:\n  nap:\n    command: [sh, -c, 'sleep 30; echo 1 > {{outputs.v}}']\n    outputs: {v: {type: int}}\n  after:\n    command: [sh, -c, 'echo 2 > {{outputs.v}}']\n    inputs: {x: {type: int}}\n    outputs: {v: {type: int}}\nsteps:\n  - {name: nap, component: nap}\n  - {name: next, component: after, inputs: {x: '{{ steps.nap.outputs.v }}'}}\n";
    pipelines::submit(&st, &p, spec).await.unwrap();
    let run = pipelines::start_run(&st, &p, "slow", StartRun::default()).await.unwrap();
    let id = run.summary.run_id;
    assert!(
        eventually(Duration::from_secs(10), || async {
            step(&pipelines::run(&st, &p, id).await.unwrap(), "nap").state == StepState::Running
        })
        .await
    );
    let cancelled = pipelines::cancel_run(&st, &p, id).await.unwrap();
    assert_eq!(cancelled.summary.state, RunState::Cancelled);
    assert_eq!(step(&cancelled, "next").state, StepState::Cancelled);
    // The running job was stopped (its process killed), well before its 30 s sleep.
    let job = step(&cancelled, "nap").job_id.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            services::queue::get(&st.db, job).await.unwrap().state.is_final()
        })
        .await
    );
    assert!(matches!(pipelines::cancel_run(&st, &p, id).await, Err(Error::Conflict(_))));
    workers.shutdown().await;
}

fn problem(e: Error) -> String {
    match e {
        Error::Validation(v) => v.to_string(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_specs_and_parameters_are_refused_with_the_place_named(pool: PgPool) {
    let (st, p, workers) = setup(pool).await;
    let e = problem(
        pipelines::submit(&st, &p, "name: x\nsteps:\n  - name: a\n    component: [train\n")
            .await
            .unwrap_err(),
    );
    assert!(e.contains("line ") && e.contains("column "), "{e}");
    let e = problem(
        pipelines::submit(&st, &p, "name: x\nsteps:\n  - {name: a, component: nosuch}\n").await.unwrap_err(),
    );
    assert!(e.contains("steps.a.component") && e.contains("no component named 'nosuch'"), "{e}");
    let e = problem(
        pipelines::submit(&st, &p, "name: x\nsteps:\n  - {name: a, component: train@9}\n").await.unwrap_err(),
    );
    assert!(e.contains("has no version 9"), "{e}");
    let cyclic = "name: x\ncomponents:\n  c:\n    command: [sh, -c, 'true']\n    inputs: {x: {type: int, optional: true}}\n    outputs: {v: {type: int}}\nsteps:\n  - {name: a, component: c, inputs: {x: '{{ steps.b.outputs.v }}'}}\n  - {name: b, component: c, inputs: {x: '{{ steps.a.outputs.v }}'}}\n";
    let e = problem(pipelines::submit(&st, &p, cyclic).await.unwrap_err());
    assert!(e.contains("cycle"), "{e}");
    let typed = "name: x\ncomponents:\n  c:\n    command: [sh, -c, 'true']\n    inputs: {x: {type: dataset}}\n    outputs: {v: {type: int}}\nsteps:\n  - {name: a, component: c, inputs: {x: 'd'}}\n  - {name: b, component: c, inputs: {x: '{{ steps.a.outputs.v }}'}}\n";
    let e = problem(pipelines::submit(&st, &p, typed).await.unwrap_err());
    assert!(e.contains("steps.b.inputs.x") && e.contains("int") && e.contains("dataset"), "{e}");
    // Nothing was stored by the refused submissions.
    assert!(pipelines::list(&st, &p).await.unwrap().is_empty());

    let ok = "name: params\nparameters:\n  n: {type: int}\ncomponents:\n  c:\n    command: [sh, -c, 'true']\n    inputs: {n: {type: int}}\nsteps:\n  - {name: a, component: c, inputs: {n: '{{ params.n }}'}}\n";
    pipelines::submit(&st, &p, ok).await.unwrap();
    let e = problem(pipelines::start_run(&st, &p, "params", StartRun::default()).await.unwrap_err());
    assert!(e.contains("parameters.n") && e.contains("required"), "{e}");
    let bad = StartRun { version: None, parameters: [("n".to_string(), "three".into())].into() };
    let e = problem(pipelines::start_run(&st, &p, "params", bad).await.unwrap_err());
    assert!(e.contains("is not of type int"), "{e}");
    let viewer = user(&st.db, Role::Viewer).await;
    assert!(matches!(
        pipelines::start_run(&st, &viewer, "params", StartRun::default()).await,
        Err(Error::Forbidden(_))
    ));
    assert!(pipelines::runs(&st, &p, Some("params"), None, 10).await.unwrap().is_empty());
    workers.shutdown().await;
}
