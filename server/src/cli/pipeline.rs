//! `cairn pipeline ...`: submit specs, start and follow runs, schedules, over the
//! REST API (the same rules as the dashboard).

use super::output::{self, OutputFormat};
use super::remote::{Remote, RemoteArgs, RemoteError, json};
use clap::{Args, Subcommand};
use domain::pipelines::{
    NewSchedule, PipelineDetail, PipelineSchedule, PipelineSummary, RunDetail, RunState, RunSummary,
    ScheduleChange, StartRun, StepState, SubmitPipeline, Submitted,
};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum PipelineCommand {
    /// Submit a pipeline.yaml (or JSON): a new version unless it is unchanged.
    Submit(SubmitArgs),
    /// List pipelines with their latest version, schedules and last run.
    List(RemoteArgs),
    /// A pipeline's versions, schedules and recent runs.
    Show(NameArgs),
    /// Start a run (`--param k=v`, repeatable); `--wait` follows it and exits
    /// non-zero unless it succeeded.
    Run(RunArgs),
    /// Runs, newest first (of one pipeline when NAME is given).
    Runs(RunsArgs),
    /// A run's steps and their states.
    Status(RunIdArgs),
    /// Cancel a run: pending steps never start, running ones are stopped.
    Cancel(RunIdArgs),
    /// Start a new run from the step where an ended run failed.
    Rerun(RunIdArgs),
    /// Cron schedules of a pipeline.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Add a schedule: 5 fields (minute ..), or 6 with seconds first.
    Add(ScheduleAddArgs),
    List(NameArgs),
    Enable(ScheduleIdArgs),
    Disable(ScheduleIdArgs),
    Delete(ScheduleIdArgs),
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    pub file: std::path::PathBuf,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct NameArgs {
    /// Pipeline name or id.
    pub name: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub name: String,
    /// A parameter, `name=value` (repeatable); values are read as JSON when they
    /// parse (numbers, true/false), else as text.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Version number (default: the newest). Not `--version`: that prints cairn's.
    #[arg(long)]
    pub pipeline_version: Option<i32>,
    /// Follow the run, printing step states, until it ends.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    pub name: Option<String>,
    #[arg(long, value_parser = parse_state)]
    pub state: Option<RunState>,
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct RunIdArgs {
    /// The pipeline run's id.
    pub run: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct ScheduleAddArgs {
    pub name: String,
    /// `0 6 * * *`, or with seconds `*/10 * * * * *`.
    pub cron: String,
    #[arg(long = "tz", default_value = "UTC")]
    pub timezone: String,
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct ScheduleIdArgs {
    pub name: String,
    /// The schedule's id (see `cairn pipeline schedule list NAME`).
    pub schedule: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

fn parse_state(s: &str) -> Result<RunState, String> {
    RunState::parse(s).ok_or_else(|| {
        let all: Vec<&str> = RunState::ALL.iter().map(|r| r.as_str()).collect();
        format!("'{s}' is not a run state ({})", all.join(", "))
    })
}

/// `k=v` pairs into parameters; a value that parses as JSON is that JSON.
pub fn parse_params(pairs: &[String]) -> Result<BTreeMap<String, serde_json::Value>, String> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(|| format!("--param {p}: write it as name=value"))?;
            let value =
                serde_json::from_str(v.trim()).unwrap_or_else(|_| serde_json::Value::String(v.trim().into()));
            Ok((k.trim().to_string(), value))
        })
        .collect()
}

impl PipelineCommand {
    pub fn remote(&self) -> &RemoteArgs {
        match self {
            PipelineCommand::Submit(a) => &a.remote,
            PipelineCommand::List(r) => r,
            PipelineCommand::Show(a) => &a.remote,
            PipelineCommand::Run(a) => &a.remote,
            PipelineCommand::Runs(a) => &a.remote,
            PipelineCommand::Status(a) | PipelineCommand::Cancel(a) | PipelineCommand::Rerun(a) => &a.remote,
            PipelineCommand::Schedule(s) => match s {
                ScheduleCommand::Add(a) => &a.remote,
                ScheduleCommand::List(a) => &a.remote,
                ScheduleCommand::Enable(a) | ScheduleCommand::Disable(a) | ScheduleCommand::Delete(a) => {
                    &a.remote
                }
            },
        }
    }
}

fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

fn runs_table(runs: Vec<RunSummary>) -> String {
    output::table(
        &["RUN", "PIPELINE", "VERSION", "STATE", "TRIGGER", "CREATED", "ERROR"],
        runs.into_iter()
            .map(|r| {
                vec![
                    r.run_id.to_string(),
                    r.pipeline,
                    format!("v{}", r.version),
                    r.state.as_str().to_string(),
                    r.trigger.describe(),
                    time(Some(r.created_at)),
                    r.error.unwrap_or_default(),
                ]
            })
            .collect(),
    )
}

fn steps_table(d: &RunDetail) -> String {
    let mut text = output::facts(&[
        ("run", d.summary.run_id.to_string()),
        ("pipeline", format!("{} v{}", d.summary.pipeline, d.summary.version)),
        ("state", d.summary.state.as_str().to_string()),
        ("trigger", d.summary.trigger.describe()),
    ]);
    text.push_str("\n\n");
    text.push_str(&output::table(
        &["STEP", "COMPONENT", "STATE", "ATTEMPT", "SECONDS", "ERROR"],
        d.steps
            .iter()
            .map(|s| {
                let secs = match (s.started_at, s.finished_at) {
                    (Some(a), Some(b)) => format!("{:.1}", (b - a).num_milliseconds() as f64 / 1000.0),
                    _ => String::new(),
                };
                vec![
                    s.name.clone(),
                    s.component.clone(),
                    s.state.as_str().to_string(),
                    format!("{}/{}", s.attempt, s.max_attempts),
                    secs,
                    s.error.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    ));
    if let Some(e) = &d.summary.error {
        text.push_str(&format!("\n\nerror: {e}"));
    }
    text
}

fn schedules_table(list: Vec<PipelineSchedule>) -> String {
    output::table(
        &["ID", "CRON", "TIMEZONE", "ENABLED", "NEXT", "LAST"],
        list.into_iter()
            .map(|s| {
                vec![
                    s.schedule_id.to_string(),
                    s.cron,
                    s.timezone,
                    s.enabled.to_string(),
                    time(s.next_run_at),
                    time(s.last_run_at),
                ]
            })
            .collect(),
    )
}

impl Remote {
    pub async fn pipeline(&self, out: OutputFormat, cmd: PipelineCommand) -> Result<String, RemoteError> {
        match cmd {
            PipelineCommand::Submit(a) => {
                let spec = std::fs::read_to_string(&a.file)
                    .map_err(|e| RemoteError::Usage(format!("{}: {e}", a.file.display())))?;
                let s: Submitted = self.post("api/v1/pipelines", &SubmitPipeline { spec }).await?;
                Ok(match out {
                    OutputFormat::Json => json(&s)?,
                    OutputFormat::Table => format!(
                        "{} {} v{} ({} steps, {})",
                        if s.created { "created" } else { "unchanged:" },
                        s.version.spec.name,
                        s.version.version,
                        s.version.spec.steps.len(),
                        s.version.digest
                    ),
                })
            }
            PipelineCommand::List(_) => {
                let list: Vec<PipelineSummary> = self.get("api/v1/pipelines").await?;
                Ok(match out {
                    OutputFormat::Json => json(&list)?,
                    OutputFormat::Table => output::table(
                        &["NAME", "LATEST", "RUNS", "SCHEDULES", "LAST RUN", "DESCRIPTION"],
                        list.into_iter()
                            .map(|p| {
                                vec![
                                    p.name,
                                    format!("v{}", p.latest_version),
                                    p.runs.to_string(),
                                    p.schedules.join(", "),
                                    p.last_run.map(|r| r.state.as_str().to_string()).unwrap_or_default(),
                                    p.description,
                                ]
                            })
                            .collect(),
                    ),
                })
            }
            PipelineCommand::Show(a) => {
                let d: PipelineDetail = self.get(&format!("api/v1/pipelines/{}", seg(&a.name))).await?;
                Ok(match out {
                    OutputFormat::Json => json(&d)?,
                    OutputFormat::Table => {
                        let steps: Vec<String> = d
                            .latest
                            .spec
                            .steps
                            .iter()
                            .map(|s| match d.latest.components.get(&s.name) {
                                Some(c) => format!("{}({}@{})", s.name, c.name, c.version),
                                None => s.name.clone(),
                            })
                            .collect();
                        let mut text = output::facts(&[
                            ("pipeline", d.name.clone()),
                            ("id", d.pipeline_id.to_string()),
                            ("latest", format!("v{} ({})", d.latest.version, d.latest.digest)),
                            ("versions", d.versions.len().to_string()),
                            ("steps", steps.join(" ")),
                        ]);
                        if !d.schedules.is_empty() {
                            text.push_str("\n\nschedules\n");
                            text.push_str(&schedules_table(d.schedules));
                        }
                        if !d.recent_runs.is_empty() {
                            text.push_str("\n\nrecent runs\n");
                            text.push_str(&runs_table(d.recent_runs));
                        }
                        text
                    }
                })
            }
            PipelineCommand::Run(a) => {
                let parameters = parse_params(&a.params).map_err(RemoteError::Usage)?;
                let req = StartRun { version: a.pipeline_version, parameters };
                let d: RunDetail =
                    self.post(&format!("api/v1/pipelines/{}/runs", seg(&a.name)), &req).await?;
                if !a.wait {
                    return match out {
                        OutputFormat::Json => json(&d),
                        OutputFormat::Table => Ok(format!(
                            "started run {} of {} v{}; follow it with `cairn pipeline status {}`",
                            d.summary.run_id, d.summary.pipeline, d.summary.version, d.summary.run_id
                        )),
                    };
                }
                self.follow(out, &d.summary.run_id.to_string()).await
            }
            PipelineCommand::Runs(a) => {
                let mut path = format!("api/v1/pipeline-runs?limit={}", a.limit);
                if let Some(n) = &a.name {
                    path.push_str(&format!("&pipeline={}", seg(n)));
                }
                if let Some(s) = a.state {
                    path.push_str(&format!("&state={}", s.as_str()));
                }
                let runs: Vec<RunSummary> = self.get(&path).await?;
                Ok(match out {
                    OutputFormat::Json => json(&runs)?,
                    OutputFormat::Table => runs_table(runs),
                })
            }
            PipelineCommand::Status(a) => {
                let d: RunDetail = self.get(&format!("api/v1/pipeline-runs/{}", seg(&a.run))).await?;
                Ok(match out {
                    OutputFormat::Json => json(&d)?,
                    OutputFormat::Table => steps_table(&d),
                })
            }
            PipelineCommand::Cancel(a) => {
                let d: RunDetail = self
                    .post(&format!("api/v1/pipeline-runs/{}/cancel", seg(&a.run)), &serde_json::json!({}))
                    .await?;
                Ok(match out {
                    OutputFormat::Json => json(&d)?,
                    OutputFormat::Table => format!("run {}: {}", d.summary.run_id, d.summary.state.as_str()),
                })
            }
            PipelineCommand::Rerun(a) => {
                let d: RunDetail = self
                    .post(&format!("api/v1/pipeline-runs/{}/rerun", seg(&a.run)), &serde_json::json!({}))
                    .await?;
                Ok(match out {
                    OutputFormat::Json => json(&d)?,
                    OutputFormat::Table => {
                        format!("started run {} (re-run of {})", d.summary.run_id, a.run)
                    }
                })
            }
            PipelineCommand::Schedule(ScheduleCommand::Add(a)) => {
                let parameters = parse_params(&a.params).map_err(RemoteError::Usage)?;
                let new = NewSchedule { cron: a.cron, timezone: a.timezone, parameters, enabled: true };
                let s: PipelineSchedule =
                    self.post(&format!("api/v1/pipelines/{}/schedules", seg(&a.name)), &new).await?;
                Ok(match out {
                    OutputFormat::Json => json(&s)?,
                    OutputFormat::Table => format!(
                        "schedule {} of {}: {} ({}), next {}",
                        s.schedule_id,
                        a.name,
                        s.cron,
                        s.timezone,
                        time(s.next_run_at)
                    ),
                })
            }
            PipelineCommand::Schedule(ScheduleCommand::List(a)) => {
                let list: Vec<PipelineSchedule> =
                    self.get(&format!("api/v1/pipelines/{}/schedules", seg(&a.name))).await?;
                Ok(match out {
                    OutputFormat::Json => json(&list)?,
                    OutputFormat::Table => schedules_table(list),
                })
            }
            PipelineCommand::Schedule(ScheduleCommand::Enable(a)) => self.set_enabled(out, a, true).await,
            PipelineCommand::Schedule(ScheduleCommand::Disable(a)) => self.set_enabled(out, a, false).await,
            PipelineCommand::Schedule(ScheduleCommand::Delete(a)) => {
                let path = format!("api/v1/pipelines/{}/schedules/{}", seg(&a.name), seg(&a.schedule));
                self.delete(&path).await?;
                Ok(match out {
                    OutputFormat::Json => "{}".into(),
                    OutputFormat::Table => format!("deleted schedule {}", a.schedule),
                })
            }
        }
    }

    async fn set_enabled(
        &self,
        out: OutputFormat,
        a: ScheduleIdArgs,
        enabled: bool,
    ) -> Result<String, RemoteError> {
        let path = format!("api/v1/pipelines/{}/schedules/{}", seg(&a.name), seg(&a.schedule));
        let change = ScheduleChange { enabled: Some(enabled), ..Default::default() };
        let s: PipelineSchedule = self.send(self.client_patch(&path)?.json(&change)).await?;
        Ok(match out {
            OutputFormat::Json => json(&s)?,
            OutputFormat::Table => format!(
                "schedule {} {}",
                s.schedule_id,
                if s.enabled { format!("enabled, next {}", time(s.next_run_at)) } else { "disabled".into() }
            ),
        })
    }

    /// Polls the run, printing each step's state change on stderr, until it ends;
    /// an error (exit code 4) unless it succeeded, naming the failed step.
    async fn follow(&self, out: OutputFormat, run_id: &str) -> Result<String, RemoteError> {
        let path = format!("api/v1/pipeline-runs/{}", seg(run_id));
        let mut seen: BTreeMap<String, StepState> = BTreeMap::new();
        let d: RunDetail = loop {
            let d: RunDetail = self.get(&path).await?;
            for s in &d.steps {
                if seen.get(&s.name) != Some(&s.state) {
                    eprintln!("{:<24} {}", s.name, s.state.as_str());
                    seen.insert(s.name.clone(), s.state);
                }
            }
            if d.summary.state.is_terminal() {
                break d;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let text = match out {
            OutputFormat::Json => json(&d)?,
            OutputFormat::Table => steps_table(&d),
        };
        match d.summary.state {
            RunState::Succeeded => Ok(text),
            state => {
                let why = match d.failed_step() {
                    Some(s) => format!("step {} failed: {}", s.name, s.error.clone().unwrap_or_default()),
                    None => d.summary.error.clone().unwrap_or_default(),
                };
                Err(RemoteError::Verdict(format!("{text}\nthe run {}: {why}", state.as_str())))
            }
        }
    }
}
