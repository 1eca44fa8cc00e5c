//! `cairn model ...`: the registry from a terminal or CI, over the REST API, so the
//! CLI obeys the same promotion rules as every other path (a protected alias only
//! moves through an approved request).

use super::output::{self, OutputFormat};
use super::remote::{Remote, RemoteArgs, RemoteError, json};
use clap::{Args, Subcommand};
use domain::registry::{
    AliasInfo, AliasOutcome, Decision, ModelVersion, NewModelVersion, NewPromotion, NewRegisteredModel,
    NewReview, PromotionRequest, RegisteredModel, SetAlias,
};

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// List registered models with their aliases.
    List(RemoteArgs),
    /// Register a version from a run (`runs:/<run>/model` or a run id), creating the
    /// model if it does not exist yet.
    Register(RegisterArgs),
    /// Point an alias at a version (a protected alias creates a promotion request).
    Alias(AliasArgs),
    /// Ask for a protected alias (default production) to point at a version.
    Promote(PromoteArgs),
    /// Approve or reject a promotion request (approvers, not the requester).
    Review(ReviewArgs),
    /// Move a protected alias back to its previous version (approvers).
    Rollback(RollbackArgs),
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    pub name: String,
    /// `runs:/<run id>/model`, a run id, or `models:/m-<logged model id>`.
    #[arg(long)]
    pub source: String,
    #[arg(long, default_value = "")]
    pub description: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct AliasArgs {
    pub name: String,
    pub alias: String,
    pub model_version: i32,
    #[arg(long, default_value = "")]
    pub comment: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct PromoteArgs {
    pub name: String,
    pub model_version: i32,
    #[arg(long, default_value = "production")]
    pub alias: String,
    #[arg(long, default_value = "")]
    pub comment: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// The promotion request's id.
    pub request: String,
    /// Reject instead of approving (needs --comment).
    #[arg(long)]
    pub reject: bool,
    #[arg(long, default_value = "")]
    pub comment: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    pub name: String,
    #[arg(long, default_value = "production")]
    pub alias: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

impl ModelCommand {
    pub fn remote(&self) -> &RemoteArgs {
        match self {
            ModelCommand::List(r) => r,
            ModelCommand::Register(a) => &a.remote,
            ModelCommand::Alias(a) => &a.remote,
            ModelCommand::Promote(a) => &a.remote,
            ModelCommand::Review(a) => &a.remote,
            ModelCommand::Rollback(a) => &a.remote,
        }
    }
}

fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn request_line(r: &PromotionRequest) -> String {
    format!(
        "promotion request {} for {} v{} → {}: {} ({} of {} approvals)",
        r.promotion_request_id,
        r.model_name,
        r.version,
        r.alias,
        r.state.as_str(),
        r.reviews.iter().filter(|v| v.decision == Decision::Approve).count(),
        r.required_approvals
    )
}

impl Remote {
    pub async fn model(&self, out: OutputFormat, cmd: ModelCommand) -> Result<String, RemoteError> {
        match cmd {
            ModelCommand::List(_) => {
                let list: Vec<RegisteredModel> = self.get("api/v1/models").await?;
                Ok(match out {
                    OutputFormat::Json => json(&list)?,
                    OutputFormat::Table => output::table(
                        &["NAME", "LATEST", "ALIASES", "PENDING", "DESCRIPTION"],
                        list.into_iter()
                            .map(|m| {
                                let aliases: Vec<String> =
                                    m.aliases.iter().map(|a| format!("{}=v{}", a.alias, a.version)).collect();
                                vec![
                                    m.name,
                                    m.latest_version.map(|v| format!("v{v}")).unwrap_or_default(),
                                    aliases.join(" "),
                                    m.pending_requests.to_string(),
                                    m.description,
                                ]
                            })
                            .collect(),
                    ),
                })
            }
            ModelCommand::Register(a) => {
                let path = format!("api/v1/models/{}", seg(&a.name));
                if let Err(RemoteError::Api { status: 404, .. }) = self.get::<serde_json::Value>(&path).await
                {
                    let new = NewRegisteredModel { name: a.name.clone(), ..Default::default() };
                    let _: RegisteredModel = self.post("api/v1/models", &new).await?;
                }
                let new =
                    NewModelVersion { source: a.source, description: a.description, ..Default::default() };
                let v: ModelVersion = self.post(&format!("{path}/versions"), &new).await?;
                Ok(match out {
                    OutputFormat::Json => json(&v)?,
                    OutputFormat::Table => format!(
                        "registered {} v{} ({}{})",
                        v.model_name,
                        v.version,
                        v.format.as_str(),
                        v.not_servable_reason
                            .as_deref()
                            .map(|r| format!(", not servable: {r}"))
                            .unwrap_or_default()
                    ),
                })
            }
            ModelCommand::Alias(a) => {
                let path = format!("api/v1/models/{}/aliases/{}", seg(&a.name), seg(&a.alias));
                let body = SetAlias { version: a.model_version, comment: a.comment };
                let outcome: AliasOutcome = self.send(self.client_put(&path)?.json(&body)).await?;
                Ok(match (&outcome, out) {
                    (_, OutputFormat::Json) => json(&outcome)?,
                    (AliasOutcome::Moved { alias }, _) => {
                        format!("{}@{} → v{}", a.name, alias.alias, alias.version)
                    }
                    (AliasOutcome::RequestCreated { request }, _) => {
                        format!("{} is protected: {}", a.alias, request_line(request))
                    }
                })
            }
            ModelCommand::Promote(a) => {
                let new = NewPromotion { version: a.model_version, alias: a.alias, comment: a.comment };
                let r: PromotionRequest =
                    self.post(&format!("api/v1/models/{}/promotions", seg(&a.name)), &new).await?;
                Ok(match out {
                    OutputFormat::Json => json(&r)?,
                    OutputFormat::Table => request_line(&r),
                })
            }
            ModelCommand::Review(a) => {
                let decision = if a.reject { Decision::Reject } else { Decision::Approve };
                let body = NewReview { decision, comment: a.comment };
                let r: PromotionRequest =
                    self.post(&format!("api/v1/promotions/{}/reviews", seg(&a.request)), &body).await?;
                Ok(match out {
                    OutputFormat::Json => json(&r)?,
                    OutputFormat::Table => request_line(&r),
                })
            }
            ModelCommand::Rollback(a) => {
                let path = format!("api/v1/models/{}/aliases/{}/rollback", seg(&a.name), seg(&a.alias));
                let info: AliasInfo = self.post(&path, &serde_json::json!({})).await?;
                Ok(match out {
                    OutputFormat::Json => json(&info)?,
                    OutputFormat::Table => {
                        format!("{}@{} rolled back to v{}", a.name, info.alias, info.version)
                    }
                })
            }
        }
    }
}
