//! A small REST client for remote commands.

use super::output::{self, OutputFormat};
use crate::http::api::status::Status;
use clap::Args;
use domain::project::{NewProject, Project};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

#[derive(Args, Clone, Debug)]
pub struct RemoteArgs {
    /// Base URL of the Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("--url {0} is not a valid URL: {1}")]
    BadUrl(String, String),
    #[error("could not reach Cairn at {url}: {source}. Is it running? Set --url or CAIRN_URL")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("{status} {code}: {message}")]
    Api { status: u16, code: String, message: String },
    #[error("unexpected response from the server: {0}")]
    Decode(String),
    /// The command line was wrong in a way clap cannot see (a file, a `k=v` pair).
    #[error("{0}")]
    Usage(String),
    /// A run ended, but not as hoped (failed, cancelled, or a gate failed).
    #[error("{0}")]
    Verdict(String),
}

impl RemoteError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RemoteError::BadUrl(..) | RemoteError::Usage(_) => 2,
            RemoteError::Unreachable { .. } => 3,
            RemoteError::Api { .. } | RemoteError::Decode(_) => 1,
            RemoteError::Verdict(_) => 4,
        }
    }
}

pub struct Remote {
    base: url::Url,
    token: Option<String>,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(args: &RemoteArgs) -> Result<Self, RemoteError> {
        let mut base =
            url::Url::parse(&args.url).map_err(|e| RemoteError::BadUrl(args.url.clone(), e.to_string()))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("cairn-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::Decode(e.to_string()))?;
        Ok(Self { base, token: args.token.clone(), client })
    }

    pub(super) fn url(&self, path: &str) -> Result<url::Url, RemoteError> {
        self.base.join(path).map_err(|e| RemoteError::BadUrl(path.to_string(), e.to_string()))
    }

    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, RemoteError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|source| RemoteError::Unreachable { url: self.base.to_string(), source })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| RemoteError::Decode(e.to_string()))?;
        if !status.is_success() {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = |k: &str| v["error"][k].as_str().map(str::to_string);
            return Err(RemoteError::Api {
                status: status.as_u16(),
                code: text("code").unwrap_or_else(|| "error".into()),
                message: text("message").unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
            });
        }
        serde_json::from_slice(&body).map_err(|e| RemoteError::Decode(e.to_string()))
    }

    pub(super) fn client_put(&self, path: &str) -> Result<reqwest::RequestBuilder, RemoteError> {
        Ok(self.client.put(self.url(path)?))
    }

    pub(super) fn client_patch(&self, path: &str) -> Result<reqwest::RequestBuilder, RemoteError> {
        Ok(self.client.patch(self.url(path)?))
    }

    /// A DELETE answered with 204 (no body to decode).
    pub(super) async fn delete(&self, path: &str) -> Result<(), RemoteError> {
        let req = self.client.delete(self.url(path)?);
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|source| RemoteError::Unreachable { url: self.base.to_string(), source })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.bytes().await.map_err(|e| RemoteError::Decode(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let text = |k: &str| v["error"][k].as_str().map(str::to_string);
        Err(RemoteError::Api {
            status: status.as_u16(),
            code: text("code").unwrap_or_else(|| "error".into()),
            message: text("message").unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
        })
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        self.send(self.client.get(self.url(path)?)).await
    }

    pub(super) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RemoteError> {
        self.send(self.client.post(self.url(path)?).json(body)).await
    }

    pub async fn status(&self, out: OutputFormat) -> Result<String, RemoteError> {
        let s: Status = self.get("api/v1/status").await?;
        Ok(match out {
            OutputFormat::Json => json(&s)?,
            OutputFormat::Table => output::facts(&[
                ("version", s.build.version),
                ("build", s.build.git_sha),
                ("projects", s.overview.projects.to_string()),
                ("migrations", s.overview.migrations_applied.to_string()),
                ("database_bytes", s.overview.database_bytes.to_string()),
                ("postgres", s.overview.postgres_version),
                ("uptime_seconds", s.overview.uptime_seconds.to_string()),
            ]),
        })
    }

    pub async fn list_projects(&self, out: OutputFormat) -> Result<String, RemoteError> {
        let list: Vec<Project> = self.get("api/v1/projects").await?;
        Ok(match out {
            OutputFormat::Json => json(&list)?,
            OutputFormat::Table => output::table(
                &["NAME", "ID", "CREATED", "DESCRIPTION"],
                list.into_iter()
                    .map(|p| {
                        vec![
                            p.name,
                            p.project_id.to_string(),
                            p.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            p.description,
                        ]
                    })
                    .collect(),
            ),
        })
    }

    pub async fn create_project(
        &self,
        out: OutputFormat,
        name: String,
        description: String,
    ) -> Result<String, RemoteError> {
        let p: Project = self.post("api/v1/projects", &NewProject { name, description }).await?;
        Ok(match out {
            OutputFormat::Json => json(&p)?,
            OutputFormat::Table => format!("created project {} ({})", p.name, p.project_id),
        })
    }
}

impl Remote {
    /// Queues a training run; with `wait`, follows it to the end (progress on
    /// stderr) and fails unless it finished with every gate passed.
    pub async fn train(
        &self,
        out: OutputFormat,
        spec: domain::training::TrainingSpec,
        wait: bool,
    ) -> Result<String, RemoteError> {
        use domain::training::{TrainingDetail, TrainingState, TrainingSubmitted};
        let made: TrainingSubmitted = self.post("api/v1/training/runs", &spec).await?;
        if !wait {
            return match out {
                OutputFormat::Json => json(&made),
                OutputFormat::Table => Ok(format!(
                    "queued training run {} (experiment {}); follow it with --wait or on the Training page",
                    made.run_id, made.experiment_id
                )),
            };
        }
        let mut last = String::new();
        let d: TrainingDetail = loop {
            let d: TrainingDetail = self.get(&format!("api/v1/training/runs/{}", made.run_id)).await?;
            let line = format!("{} {:.0}%", d.summary.stage, d.summary.progress * 100.0);
            if line != last {
                eprintln!("{line}");
                last = line;
            }
            if d.summary.state.is_terminal() {
                break d;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let text = match out {
            OutputFormat::Json => json(&d)?,
            OutputFormat::Table => {
                let mut rows: Vec<(String, String)> = vec![
                    ("run".into(), d.summary.run_id.clone()),
                    ("state".into(), d.summary.state.as_str().to_string()),
                ];
                if let Some(e) = &d.evaluation {
                    rows.extend(e.metrics.iter().map(|(k, v)| (k.clone(), format!("{v:.4}"))));
                }
                let pairs: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                let mut text = output::facts(&pairs);
                for g in &d.gates {
                    text.push_str(&format!(
                        "\ngate {}: {} ({})",
                        g.gate,
                        if g.passed { "passed" } else { "FAILED" },
                        g.detail
                    ));
                }
                text
            }
        };
        match (d.summary.state, d.summary.gates_passed) {
            (TrainingState::Finished, Some(false)) => {
                Err(RemoteError::Verdict(format!("{text}\na validation gate failed")))
            }
            (TrainingState::Finished, _) => Ok(text),
            (state, _) => Err(RemoteError::Verdict(format!(
                "the run {}: {}",
                state.as_str(),
                d.summary.error.unwrap_or_default()
            ))),
        }
    }
}

pub(super) fn json<T: Serialize>(v: &T) -> Result<String, RemoteError> {
    serde_json::to_string_pretty(v).map_err(|e| RemoteError::Decode(e.to_string()))
}
