//! Serving as the API and the dashboard see it: endpoints and their traffic routes,
//! predictions of the friendly JSON API, serving-log statistics and recent requests,
//! feedback labels, and batch predictions.

use crate::ValidationError;
use crate::ids::{EndpointId, JobId, ModelVersionId, RegisteredModelId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The alias a new endpoint follows when no route is given.
pub const DEFAULT_ALIAS: &str = "production";

/// Endpoint names appear in serving URLs: a letter or digit, then letters, digits,
/// `_`, `.` or `-`, at most 64 characters.
pub fn check_endpoint_name(name: &str) -> Result<(), ValidationError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            format!(
                "'{name}' is not a valid endpoint name: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit (it appears in URLs)"
            ),
        ))
    }
}

/// What a route serves: the version an alias points at (followed as it moves), or
/// one pinned version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Follow this alias of the endpoint's model (give this or `version`).
    #[serde(default)]
    pub alias: Option<String>,
    /// Serve this version number of the endpoint's model (give this or `alias`).
    #[serde(default)]
    pub version: Option<i32>,
    /// Share of requests, 0-100. The non-shadow routes' shares sum to 100; a shadow
    /// route mirrors this share of requests.
    pub traffic_percent: u8,
    /// Mirror requests to this route: its answers are logged, never returned.
    #[serde(default)]
    pub shadow: bool,
}

/// Checks a set of routes on its own (the model's versions and aliases are checked
/// by the service).
pub fn check_routes(routes: &[RouteSpec]) -> Result<(), ValidationError> {
    let bad = |m: String| Err(ValidationError::new("routes", m));
    if routes.is_empty() {
        return bad(
            "give at least one route, e.g. [{\"alias\": \"production\", \"traffic_percent\": 100}]".into()
        );
    }
    if routes.len() > 10 {
        return bad(format!("at most 10 routes (got {})", routes.len()));
    }
    for (i, r) in routes.iter().enumerate() {
        match (&r.alias, r.version) {
            (Some(_), Some(_)) | (None, None) => {
                return bad(format!(
                    "route {}: give either `alias` or `version`, not both or neither",
                    i + 1
                ));
            }
            (Some(a), None) => {
                crate::registry::check_alias(a).map_err(|e| ValidationError::new("routes", e.message))?
            }
            (None, Some(v)) if v <= 0 => return bad(format!("route {}: version must be positive", i + 1)),
            _ => {}
        }
        if r.traffic_percent > 100 {
            return bad(format!(
                "route {}: traffic_percent must be 0-100 (got {})",
                i + 1,
                r.traffic_percent
            ));
        }
    }
    let live: Vec<&RouteSpec> = routes.iter().filter(|r| !r.shadow).collect();
    if live.is_empty() {
        return bad("every route is a shadow: at least one route must answer requests".into());
    }
    let sum: u32 = live.iter().map(|r| u32::from(r.traffic_percent)).sum();
    if sum != 100 {
        let parts: Vec<String> =
            live.iter().map(|r| format!("{} {}%", r.target(), r.traffic_percent)).collect();
        return bad(format!(
            "the traffic of the non-shadow routes must sum to 100, got {sum} ({}); shadow routes are not counted",
            parts.join(" + ")
        ));
    }
    Ok(())
}

impl RouteSpec {
    /// `@production` or `v3`, for messages.
    pub fn target(&self) -> String {
        match (&self.alias, self.version) {
            (Some(a), _) => format!("@{a}"),
            (None, Some(v)) => format!("v{v}"),
            (None, None) => "?".into(),
        }
    }
}

/// A route as stored and as this process serves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Route {
    /// The alias followed, when the route follows one.
    pub alias: Option<String>,
    /// True when the route serves one pinned version.
    pub pinned: bool,
    /// The version served now (None: the alias points nowhere).
    pub version: Option<i32>,
    pub model_version_id: Option<ModelVersionId>,
    pub traffic_percent: u8,
    pub shadow: bool,
    /// Whether this process has the version loaded and can answer with it.
    pub servable: bool,
    /// Why not, when it cannot.
    pub not_servable_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Endpoint {
    pub endpoint_id: EndpointId,
    pub name: String,
    pub description: String,
    pub registered_model_id: RegisteredModelId,
    pub model_name: String,
    /// Fraction of requests written to the serving log (0-1).
    pub log_sample_rate: f64,
    pub routes: Vec<Route>,
    /// True when every non-shadow route can answer.
    pub ready: bool,
    /// Where to send predictions (paths on this server).
    pub urls: EndpointUrls,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointUrls {
    /// The friendly JSON API: `{"records": [...]}`.
    pub predict: String,
    /// Open Inference Protocol V2.
    pub v2_infer: String,
    /// MLflow's scoring protocol.
    pub invocations: String,
}

impl EndpointUrls {
    pub fn for_name(name: &str) -> Self {
        Self {
            predict: format!("/api/v1/endpoints/{name}/predict"),
            v2_infer: format!("/v2/models/{name}/infer"),
            invocations: format!("/endpoints/{name}/invocations"),
        }
    }
}

/// `POST /api/v1/endpoints`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub name: String,
    /// The registered model's name.
    pub model: String,
    #[serde(default)]
    pub description: String,
    /// Default: one route following the `production` alias with all the traffic.
    #[serde(default)]
    pub routes: Option<Vec<RouteSpec>>,
    /// Default 1 (log every request).
    #[serde(default)]
    pub log_sample_rate: Option<f64>,
}

/// `PATCH /api/v1/endpoints/{name}`: only the fields given change; `routes`
/// replaces every route at once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub routes: Option<Vec<RouteSpec>>,
    #[serde(default)]
    pub log_sample_rate: Option<f64>,
}

pub fn check_sample_rate(rate: f64) -> Result<(), ValidationError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(ValidationError::new("log_sample_rate", format!("must be between 0 and 1 (got {rate})")))
    }
}

/// The friendly API's answer: one prediction per input record (null for a record the
/// model's preparation filters out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PredictResponse {
    pub request_id: String,
    pub model_version: i32,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub predictions: Vec<serde_json::Value>,
    /// Classifiers: per record, the probability of each class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<Option<BTreeMap<String, f64>>>>,
}

/// One minute of an endpoint's traffic on one version, from the serving log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MinuteStats {
    pub minute: DateTime<Utc>,
    pub version: Option<i32>,
    pub model_version_id: ModelVersionId,
    pub shadow: bool,
    /// Logged requests (the log's sample rate applies).
    pub requests: i64,
    pub errors: i64,
    /// Latency percentiles in milliseconds (from the log's histogram: the upper
    /// edge of the bucket holding the percentile).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub mean_ms: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointStats {
    pub endpoint: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub log_sample_rate: f64,
    /// Oldest minute first; minutes without logged requests are absent.
    pub minutes: Vec<MinuteStats>,
    /// Over the whole window, non-shadow routes.
    pub requests: i64,
    pub errors: i64,
    pub requests_per_second: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Requests this process could not log because the log's queue was full.
    pub dropped_in_this_process: u64,
}

/// One logged request, newest first in `GET /api/v1/endpoints/{name}/requests`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedRequest {
    pub request_id: String,
    pub at: DateTime<Utc>,
    pub version: Option<i32>,
    pub model_version_id: ModelVersionId,
    pub shadow: bool,
    pub latency_ms: f64,
    pub status: u16,
    pub error: Option<String>,
    /// The input records, by feature name.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub records: Vec<serde_json::Map<String, serde_json::Value>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub predictions: Vec<serde_json::Value>,
}

/// `POST /api/v1/endpoints/{name}/feedback`: ground truth for logged requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    pub request_id: String,
    /// A class label (string) or a number.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub label: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackAccepted {
    /// Labels stored (a label for a request id sent before replaces it).
    pub accepted: usize,
}

/// `POST /api/v1/batch-predictions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewBatchPrediction {
    /// `models:/<name>/<version>`, `models:/<name>@<alias>` or `models:/<name>/latest`.
    pub model: String,
    /// The input dataset (name or id).
    pub dataset: String,
    /// Default: the latest version.
    #[serde(default)]
    pub version: Option<i32>,
    /// The dataset the predictions become a version of (default `<dataset>-predictions`).
    #[serde(default)]
    pub output_dataset: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchPredictionSubmitted {
    pub job_id: JobId,
    pub model_version_id: ModelVersionId,
    pub output_dataset: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(alias: Option<&str>, version: Option<i32>, pct: u8, shadow: bool) -> RouteSpec {
        RouteSpec { alias: alias.map(String::from), version, traffic_percent: pct, shadow }
    }

    #[test]
    fn routes_sum_to_100_without_shadows() {
        assert!(check_routes(&[route(Some("production"), None, 100, false)]).is_ok());
        assert!(
            check_routes(&[
                route(Some("production"), None, 90, false),
                route(None, Some(4), 10, false),
                route(Some("staging"), None, 100, true),
            ])
            .is_ok()
        );
        let err =
            check_routes(&[route(Some("production"), None, 90, false), route(None, Some(4), 20, false)])
                .unwrap_err();
        assert!(err.message.contains("sum to 100, got 110 (@production 90% + v4 20%)"), "{}", err.message);
        let err = check_routes(&[route(Some("production"), None, 100, true)]).unwrap_err();
        assert!(err.message.contains("every route is a shadow"));
        let err = check_routes(&[route(Some("a"), Some(1), 100, false)]).unwrap_err();
        assert!(err.message.contains("either `alias` or `version`"));
        assert!(check_routes(&[]).is_err());
        assert!(check_routes(&[route(Some("latest"), None, 100, false)]).is_err());
    }

    #[test]
    fn endpoint_names_fit_in_urls() {
        assert!(check_endpoint_name("credit-prod.v2").is_ok());
        assert!(check_endpoint_name("a b").is_err());
        assert!(check_endpoint_name("-x").is_err());
        assert!(check_endpoint_name(&"x".repeat(65)).is_err());
        assert!(check_sample_rate(0.5).is_ok() && check_sample_rate(1.5).is_err());
    }
}
