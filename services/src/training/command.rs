//! The command trainer: any program (a Python script with scikit-learn, XGBoost,
//! PyTorch...) trained under a small file contract, as a tracked run.
//!
//! The contract (documented with a working example in `examples/command-trainer/`):
//!
//! | given to the program | what it is |
//! |---|---|
//! | working directory | a fresh scratch folder, removed afterwards |
//! | `CAIRN_DATA_CSV`, `CAIRN_DATA_PARQUET` | the dataset version, as CSV (header row) and as Parquet |
//! | `CAIRN_PARAMS_FILE` | the run's params as a JSON object; each also as `CAIRN_PARAM_<NAME>` |
//! | `CAIRN_TARGET` | the target column, when the request named one |
//! | `CAIRN_OUTPUT_DIR` | everything written here becomes a run artifact |
//! | `CAIRN_MODEL_DIR` | `$CAIRN_OUTPUT_DIR/model`: must hold at least one file at exit |
//! | `CAIRN_METRICS_FILE` | `$CAIRN_OUTPUT_DIR/metrics.json`: `{"name": number}` or `{"name": [number per step]}` |
//! | `CAIRN_RUN_ID` | the tracked run's id |
//!
//! Standard output and error stream into the job log. A line
//! `CAIRN_METRIC {"name": "loss", "value": 0.3, "step": 1}` is logged as a metric
//! at once (live curves). The run fails, with the reason, when the program exits
//! non-zero, runs past its timeout (it is killed), or leaves no model.
//!
//! The environment is cleared except `PATH`, `HOME`, `LANG` and the variables
//! above, so the server's secrets (database URL, keys) never reach user code.
//! Allowing a program (`CAIRN_COMMAND_ALLOW`) trusts every editor with it.

use super::job::{Stop, settle};
use super::lifecycle::{self, Reporter};
use super::{
    EXECUTION_TYPE, MODEL_ARTIFACT_TYPE, TAG_KIND, create_tracked_run, experiment_named, resolve_version,
};
use crate::auth::{Action, Principal, audit, authorize};
use crate::db::training::{self as sql, Finished, TrainingRow};
use crate::lineage::{self, EventKind, ExecutionState, NewArtifact, NewExecution};
use crate::queue::{self, Job, JobCtx, Permanent};
use crate::tracking::{self, artifacts, now_ms};
use crate::{AppState, Error, Result};
use bytes::Bytes;
use domain::tracking::{Metric, Param, Tag};
use domain::training::{CommandSpec, TrainingSubmitted};
use domain::{ArtifactId, ProjectId, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

/// The prefix of a live metric line on the program's output.
pub const METRIC_LINE: &str = "CAIRN_METRIC ";
/// Lines of output kept for a failure's message.
const TAIL_LINES: usize = 12;

/// Which programs may run, and for how long at most.
#[derive(Clone, Debug)]
pub struct CommandSettings {
    /// Program names (`python3`) or absolute paths; empty disables the command trainer.
    pub allow: Vec<String>,
    pub max_timeout_s: u64,
}

impl Default for CommandSettings {
    fn default() -> Self {
        CommandSettings { allow: Vec::new(), max_timeout_s: 24 * 3600 }
    }
}

impl CommandSettings {
    /// Checks the program against the allow-list; the error says how to change it.
    pub fn check(&self, program: &str) -> Result<()> {
        if self.allow.is_empty() {
            return Err(Error::Forbidden(
                "the command trainer is disabled on this server; an operator enables programs with \
                 CAIRN_COMMAND_ALLOW (e.g. CAIRN_COMMAND_ALLOW=python3)"
                    .into(),
            ));
        }
        if self.allow.iter().any(|a| a == program) {
            return Ok(());
        }
        Err(ValidationError::new(
            "command",
            format!(
                "program `{program}` is not allowed here; allowed: {} (CAIRN_COMMAND_ALLOW)",
                self.allow.join(", ")
            ),
        )
        .into())
    }
}

fn invalid(field: &str, msg: impl Into<String>) -> Error {
    ValidationError::new(field, msg).into()
}

/// Queues a command-trainer run.
#[tracing::instrument(skip_all, fields(dataset = %spec.dataset))]
pub async fn submit(st: &AppState, p: &Principal, spec: CommandSpec) -> Result<TrainingSubmitted> {
    authorize(p, Action::Write)?;
    let program = spec.command.first().map(String::as_str).unwrap_or("");
    if program.trim().is_empty() {
        return Err(invalid(
            "command",
            "give the program and its arguments, e.g. [\"python3\", \"train.py\"]",
        ));
    }
    st.commands.check(program)?;
    if spec.timeout_s == 0 || spec.timeout_s > st.commands.max_timeout_s {
        return Err(invalid(
            "timeout_s",
            format!("must be between 1 and {} seconds, got {}", st.commands.max_timeout_s, spec.timeout_s),
        ));
    }
    for key in spec.params.keys() {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid("params", format!("param name {key:?} must be letters, digits and _ only")));
        }
    }
    let version = resolve_version(st, p, &spec.dataset, spec.version).await?;
    if let Some(t) = &spec.target
        && !version.columns.iter().any(|c| &c.name == t)
    {
        return Err(invalid(
            "target",
            format!("column `{t}` is not in {} v{}", version.dataset_name, version.version),
        ));
    }
    let experiment = spec.experiment.clone().filter(|e| !e.trim().is_empty());
    let experiment = experiment.unwrap_or_else(|| format!("{}-training", version.dataset_name));
    let experiment_id = experiment_named(st, p, experiment.trim()).await?;
    let tags = vec![Tag { key: TAG_KIND.into(), value: "command".into() }];
    let run_id = create_tracked_run(st, p, experiment_id, spec.run_name.clone(), tags, None).await?;
    let stored = CommandSpec { version: Some(version.version), ..spec };
    let spec_json = serde_json::to_value(&stored).map_err(anyhow::Error::from)?;
    let label = stored.command.join(" ");
    let mut tx = st.db.begin().await?;
    sql::insert(
        &mut tx,
        &sql::NewTraining {
            run_id,
            kind: "command",
            spec: &spec_json,
            task: None,
            algorithm: Some(&label),
            dataset_version_id: Some(version.dataset_version_id.0),
            parent_run_id: None,
            created_by: p.user_id.0,
        },
    )
    .await?;
    let job_id = queue::enqueue(&mut tx, &CommandJob { run_id }).await?;
    sql::set_job(&mut tx, run_id, job_id.0).await?;
    audit::record(
        &mut *tx,
        p,
        "training.command",
        &format!("run:{}", run_id.simple()),
        audit::Outcome::Ok,
        &label,
    )
    .await?;
    tx.commit().await?;
    Ok(TrainingSubmitted {
        run_id: run_id.simple().to_string(),
        experiment_id: experiment_id.to_string(),
        job_id: Some(job_id.to_string()),
        trials: Vec::new(),
    })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommandJob {
    pub run_id: Uuid,
}

impl Job for CommandJob {
    const KIND: &'static str = "training.command";
    // User code may have side effects: never run it twice on its own.
    const MAX_ATTEMPTS: i32 = 1;

    async fn run(self, ctx: JobCtx) -> anyhow::Result<()> {
        let st = ctx.require::<AppState>()?;
        let row = super::row(&st, self.run_id).await?;
        let p = match lifecycle::principal(&st, row.created_by, ctx.job_id()).await {
            Ok(p) => p,
            Err(e) => return Err(Permanent(e.to_string()).into()),
        };
        let outcome = run_command(&st, &ctx, &p, row).await;
        settle(&st, &ctx, &p, self.run_id, outcome).await
    }
}

async fn run_command(
    st: &AppState,
    ctx: &JobCtx,
    p: &Principal,
    row: TrainingRow,
) -> std::result::Result<(), Stop> {
    let run_id = row.run_id;
    if !lifecycle::start(st, p, run_id).await? {
        return Ok(());
    }
    let spec: CommandSpec = serde_json::from_value(row.spec.clone())
        .map_err(|e| Stop::Failed(format!("the stored request is unreadable: {e}")))?;
    let program = spec.command.first().cloned().unwrap_or_default();
    st.commands.check(&program).map_err(|e| Stop::Failed(e.to_string()))?;
    let version_id =
        row.dataset_version_id.ok_or_else(|| Stop::Failed("the dataset version was deleted".into()))?;
    let location = sql::version_location(&st.db, version_id)
        .await?
        .ok_or_else(|| Stop::Failed("the dataset version was deleted".into()))?;

    let mut reporter = Reporter::new(st, ctx, run_id);
    reporter.report("writing input", 0.0).await?;
    let scratch = tempfile::tempdir().map_err(|e| Error::Other(e.into()))?;
    let dirs = Dirs::new(scratch.path());
    let parquet = st.store.get(&location.storage_key).await.map_err(Error::from)?;
    write_inputs(&dirs, parquet, &spec).await?;

    let params: Vec<Param> = spec
        .params
        .iter()
        .map(|(k, v)| Param {
            key: k.clone(),
            value: v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
        })
        .chain([Param { key: "command".into(), value: spec.command.join(" ") }])
        .collect();
    tracking::log_batch(st, p, run_id, Vec::new(), params, Vec::new()).await?;

    reporter.report("running", 0.1).await?;
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&spec.command[1..])
        .current_dir(scratch.path())
        .env_clear()
        .envs(base_env())
        .envs(contract_env(&dirs, &spec, run_id))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| {
        Stop::Failed(format!("could not start `{program}`: {e}; is it installed on the worker?"))
    })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for stream in [
        stdout.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        stderr.map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let deadline = tokio::time::sleep(Duration::from_secs(spec.timeout_s));
    tokio::pin!(deadline);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut output_open = true;
    let status = loop {
        tokio::select! {
            line = rx.recv(), if output_open => match line {
                Some(line) => on_line(st, ctx, p, run_id, &line, &mut tail).await?,
                None => output_open = false,
            },
            status = child.wait(), if !output_open => break status.map_err(|e| Error::Other(e.into()))?,
            _ = &mut deadline => {
                let _ = child.kill().await;
                return Err(Stop::Failed(format!(
                    "the command ran past its timeout of {} s and was killed{}",
                    spec.timeout_s,
                    last_lines(&tail)
                )));
            }
            _ = ctx.cancelled() => {
                let _ = child.kill().await;
                return Err(Stop::Cancelled);
            }
        }
    };
    if !status.success() {
        let code = status.code().map(|c| format!("status {c}")).unwrap_or_else(|| "a signal".into());
        return Err(Stop::Failed(format!("the command exited with {code}{}", last_lines(&tail))));
    }
    reporter.report("collecting outputs", 0.9).await?;
    collect(st, p, &row, &dirs, location.lineage_artifact_id, &spec).await
}

fn last_lines(tail: &VecDeque<String>) -> String {
    if tail.is_empty() {
        return String::new();
    }
    format!("; its last output:\n{}", tail.iter().cloned().collect::<Vec<_>>().join("\n"))
}

/// Relays one line of output: to the job log, and as a metric when it is one.
async fn on_line(
    st: &AppState,
    ctx: &JobCtx,
    p: &Principal,
    run_id: Uuid,
    line: &str,
    tail: &mut VecDeque<String>,
) -> Result<()> {
    if let Some(json) = line.strip_prefix(METRIC_LINE) {
        #[derive(Deserialize)]
        struct Live {
            name: String,
            value: f64,
            #[serde(default)]
            step: i64,
        }
        match serde_json::from_str::<Live>(json) {
            Ok(m) => {
                let metric = Metric { key: m.name, value: m.value, timestamp: now_ms(), step: m.step };
                tracking::log_batch(st, p, run_id, vec![metric], Vec::new(), Vec::new()).await?;
            }
            Err(e) => ctx.log(format!("ignored a malformed metric line ({e}): {line}")).await?,
        }
    }
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line.to_string());
    ctx.log(line.to_string()).await
}

struct Dirs {
    input: PathBuf,
    output: PathBuf,
    model: PathBuf,
}

impl Dirs {
    fn new(root: &Path) -> Self {
        let output = root.join("output");
        Dirs { input: root.join("input"), model: output.join("model"), output }
    }
    fn csv(&self) -> PathBuf {
        self.input.join("data.csv")
    }
    fn parquet(&self) -> PathBuf {
        self.input.join("data.parquet")
    }
    fn params(&self) -> PathBuf {
        self.input.join("params.json")
    }
    fn metrics(&self) -> PathBuf {
        self.output.join("metrics.json")
    }
}

fn base_env() -> Vec<(String, String)> {
    ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

fn contract_env(dirs: &Dirs, spec: &CommandSpec, run_id: Uuid) -> Vec<(String, String)> {
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let mut env = vec![
        ("CAIRN_DATA_CSV".to_string(), path(dirs.csv())),
        ("CAIRN_DATA_PARQUET".to_string(), path(dirs.parquet())),
        ("CAIRN_PARAMS_FILE".to_string(), path(dirs.params())),
        ("CAIRN_OUTPUT_DIR".to_string(), path(dirs.output.clone())),
        ("CAIRN_MODEL_DIR".to_string(), path(dirs.model.clone())),
        ("CAIRN_METRICS_FILE".to_string(), path(dirs.metrics())),
        ("CAIRN_RUN_ID".to_string(), run_id.simple().to_string()),
        ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
    ];
    if let Some(t) = &spec.target {
        env.push(("CAIRN_TARGET".into(), t.clone()));
    }
    for (k, v) in &spec.params {
        let value = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
        env.push((format!("CAIRN_PARAM_{}", k.to_uppercase()), value));
    }
    env
}

async fn write_inputs(dirs: &Dirs, parquet: Bytes, spec: &CommandSpec) -> Result<()> {
    tokio::fs::create_dir_all(&dirs.input).await.map_err(|e| Error::Other(e.into()))?;
    tokio::fs::create_dir_all(&dirs.model).await.map_err(|e| Error::Other(e.into()))?;
    tokio::fs::write(dirs.parquet(), &parquet).await.map_err(|e| Error::Other(e.into()))?;
    let params = serde_json::to_vec_pretty(&spec.params).map_err(anyhow::Error::from)?;
    tokio::fs::write(dirs.params(), params).await.map_err(|e| Error::Other(e.into()))?;
    let csv = dirs.csv();
    tokio::task::spawn_blocking(move || crate::datasets::read::write_csv(parquet, &csv))
        .await
        .map_err(|e| Error::Other(anyhow::anyhow!("writing the CSV failed: {e}")))??;
    Ok(())
}

/// Reads `metrics.json`: numbers, or lists of numbers (one per step).
fn parse_metrics(text: &str) -> std::result::Result<Vec<(String, i64, f64)>, String> {
    let value: BTreeMap<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("metrics.json is not a JSON object of metrics: {e}"))?;
    let mut out = Vec::new();
    for (name, v) in value {
        match v {
            serde_json::Value::Number(n) => out.push((name, 0, n.as_f64().unwrap_or(f64::NAN))),
            serde_json::Value::Array(items) => {
                for (step, item) in items.iter().enumerate() {
                    let x = item
                        .as_f64()
                        .ok_or_else(|| format!("metrics.json: {name}[{step}] is not a number"))?;
                    out.push((name.clone(), step as i64, x));
                }
            }
            other => {
                return Err(format!(
                    "metrics.json: `{name}` must be a number or a list of numbers, got {other}"
                ));
            }
        }
    }
    Ok(out)
}

/// Every file under `root`, as paths relative to it.
fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path().strip_prefix(root).map(Path::to_path_buf).unwrap_or_default());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Checks the contract's outputs and stores them: files as artifacts, metrics on
/// the run, the model in lineage.
async fn collect(
    st: &AppState,
    p: &Principal,
    row: &TrainingRow,
    dirs: &Dirs,
    input_artifact: Option<Uuid>,
    spec: &CommandSpec,
) -> std::result::Result<(), Stop> {
    let files = files_under(&dirs.output).map_err(|e| Error::Other(e.into()))?;
    if !files.iter().any(|f| f.starts_with("model")) {
        return Err(Stop::Failed(
            "the command wrote no model: save the model's files into $CAIRN_MODEL_DIR before exiting".into(),
        ));
    }
    let mut latest = BTreeMap::new();
    if let Ok(text) = tokio::fs::read_to_string(dirs.metrics()).await {
        let metrics = parse_metrics(&text).map_err(Stop::Failed)?;
        let now = now_ms();
        let batch: Vec<Metric> = metrics
            .iter()
            .map(|(k, step, v)| Metric { key: k.clone(), value: *v, timestamp: now, step: *step })
            .collect();
        for chunk in batch.chunks(tracking::MAX_BATCH_METRICS) {
            tracking::log_batch(st, p, row.run_id, chunk.to_vec(), Vec::new(), Vec::new()).await?;
        }
        for (k, _, v) in metrics {
            latest.insert(k, v);
        }
    }
    let root = format!("{}/{}/artifacts", row.experiment_id, row.run_id.simple());
    for f in &files {
        let rel = f.to_string_lossy().replace('\\', "/");
        let bytes = tokio::fs::read(dirs.output.join(f)).await.map_err(|e| Error::Other(e.into()))?;
        artifacts::upload(st, p, &format!("{root}/{rel}"), Bytes::from(bytes)).await?;
    }
    let run = row.run_id.simple().to_string();
    let project = ProjectId(domain::DEFAULT_PROJECT_ID.0);
    let mut tx = st.db.begin().await?;
    let execution = lineage::record_execution(
        &mut tx,
        project,
        &NewExecution {
            type_name: EXECUTION_TYPE.into(),
            name: format!("command {}", row.run_name),
            state: ExecutionState::Complete,
            properties: serde_json::json!({ "run_id": run, "command": spec.command }),
            job_id: row.job_id.map(domain::JobId),
            external_id: Some(format!("training:{run}")),
        },
    )
    .await?;
    let model = lineage::record_artifact(
        &mut tx,
        project,
        &NewArtifact {
            type_name: MODEL_ARTIFACT_TYPE.into(),
            name: format!("{} (command)", row.run_name),
            uri: format!("runs:/{run}/model"),
            content_hash: None,
            properties: serde_json::json!({ "run_id": run, "format": "command" }),
            external_id: Some(format!("model:{run}")),
        },
    )
    .await?;
    if let Some(input) = input_artifact {
        lineage::record_event(&mut tx, execution, ArtifactId(input), EventKind::Input, "dataset").await?;
    }
    lineage::record_event(&mut tx, execution, model, EventKind::Output, "model").await?;
    let train_metrics = serde_json::to_value(&latest).map_err(anyhow::Error::from)?;
    let finished = sql::finish(
        &mut tx,
        row.run_id,
        &Finished {
            task: None,
            train_metrics: Some(&train_metrics),
            evaluation: None,
            gates: None,
            gates_passed: None,
            history: None,
            bundle_path: None,
            model_artifact_id: Some(model.0),
        },
    )
    .await?;
    tx.commit().await?;
    if !finished {
        return Err(Stop::Cancelled);
    }
    tracking::update_run(st, p, row.run_id, Some("FINISHED"), Some(now_ms()), None).await?;
    lifecycle::after_end(st, p, row.run_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_file_takes_numbers_and_series() {
        let m = parse_metrics(r#"{"auc": 0.9, "loss": [0.5, 0.25]}"#).unwrap();
        assert_eq!(m, vec![("auc".into(), 0, 0.9), ("loss".into(), 0, 0.5), ("loss".into(), 1, 0.25)]);
        assert!(parse_metrics(r#"{"auc": "high"}"#).unwrap_err().contains("auc"));
        assert!(parse_metrics("[1]").unwrap_err().contains("JSON object"));
    }

    #[test]
    fn the_allow_list_decides_and_says_how() {
        let off = CommandSettings::default();
        assert!(
            matches!(off.check("python3"), Err(Error::Forbidden(m)) if m.contains("CAIRN_COMMAND_ALLOW"))
        );
        let on = CommandSettings { allow: vec!["python3".into()], ..Default::default() };
        assert!(on.check("python3").is_ok());
        assert!(on.check("bash").unwrap_err().to_string().contains("python3"));
    }
}
