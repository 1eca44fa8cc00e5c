//! Experiment tracking: experiments, runs, params, tags and metric histories, as the
//! services return them and `/api/v1` sends them. The MLflow wire format is a
//! separate set of types ([`crate::mlflow`]) converted from these.

use serde::{Deserialize, Serialize};

/// The run statuses MLflow knows; stored as these upper-case words.
pub const RUN_STATUSES: [&str; 5] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

/// Tags the MLflow client uses to carry what Cairn keeps in columns.
pub const TAG_PARENT_RUN: &str = "mlflow.parentRunId";
pub const TAG_RUN_NAME: &str = "mlflow.runName";
pub const TAG_USER: &str = "mlflow.user";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Experiment {
    pub experiment_id: i64,
    pub name: String,
    pub description: String,
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle: String,
    /// Milliseconds since the epoch.
    pub creation_time: i64,
    pub last_update_time: i64,
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A param: a string logged once per run and never changed.
pub type Param = Tag;

/// The statuses of an MLflow 3 logged model: PENDING while its files upload.
pub const LOGGED_MODEL_STATUSES: [&str; 3] = ["PENDING", "READY", "FAILED"];

/// An MLflow 3 logged model: what `mlflow.<flavor>.log_model` creates, with its
/// files under `artifact_location`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedModel {
    /// `m-` and 32 hex digits, as MLflow writes model ids.
    pub model_id: String,
    pub experiment_id: i64,
    pub name: String,
    pub source_run_id: Option<uuid::Uuid>,
    /// One of [`LOGGED_MODEL_STATUSES`].
    pub status: String,
    pub status_message: String,
    pub model_type: String,
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle: String,
    /// Milliseconds since the epoch.
    pub creation_time: i64,
    pub last_update_time: i64,
    pub tags: Vec<Tag>,
    pub params: Vec<Param>,
}

/// One point of a metric's history. Values may be NaN or ±Infinity; on the JSON
/// wire those travel as the strings "NaN", "Infinity", "-Infinity".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Metric {
    pub key: String,
    #[serde(with = "float")]
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub step: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunInfo {
    pub run_id: uuid::Uuid,
    pub experiment_id: i64,
    pub run_name: String,
    pub status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub user_id: String,
    pub lifecycle: String,
}

/// A run with what was logged into it (latest metric values only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    pub info: RunInfo,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
    pub metrics: Vec<Metric>,
    pub inputs: Vec<DatasetInput>,
}

/// A dataset a run used (`runs/log-inputs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetInput {
    pub name: String,
    pub digest: String,
    #[serde(default)]
    pub source_type: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub profile: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A page of runs; `next_page_token` is absent on the last page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunPage {
    pub runs: Vec<Run>,
    pub next_page_token: Option<String>,
}

/// A page of one metric's history, in step order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricHistory {
    pub metrics: Vec<Metric>,
    pub next_page_token: Option<String>,
}

/// Which runs or experiments a search includes (MLflow's `ViewType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ViewType {
    #[default]
    #[serde(rename = "ACTIVE_ONLY")]
    ActiveOnly,
    #[serde(rename = "DELETED_ONLY")]
    DeletedOnly,
    #[serde(rename = "ALL")]
    All,
}

impl ViewType {
    /// The lifecycles this view includes.
    pub fn lifecycles(self) -> Vec<String> {
        match self {
            ViewType::ActiveOnly => vec!["active".into()],
            ViewType::DeletedOnly => vec!["deleted".into()],
            ViewType::All => vec!["active".into(), "deleted".into()],
        }
    }
}

/// What `search_runs` takes; shared by MLflow's `runs/search` and `/api/v1`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSearch {
    /// MLflow filter syntax, e.g. `metrics.acc > 0.9 and params.lr = '0.1'`.
    #[serde(default)]
    pub filter: Option<String>,
    /// e.g. `metrics.acc DESC`, `attributes.start_time`, `params.lr ASC`.
    #[serde(default)]
    pub order_by: Vec<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub page_token: Option<String>,
    #[serde(default)]
    pub view_type: ViewType,
}

/// Query of `GET /api/v1/experiments/{id}/runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct RunListQuery {
    /// MLflow filter syntax, e.g. `metrics.acc > 0.9 and params.lr = '0.1'`.
    pub filter: Option<String>,
    /// One sort key, e.g. `metrics.acc DESC` or `params.lr`; newest first by default.
    pub order_by: Option<String>,
    /// Page size, 1 to 50000 (default 100).
    pub max_results: Option<i64>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// `ACTIVE_ONLY` (default), `DELETED_ONLY` or `ALL`.
    pub view_type: Option<ViewType>,
}

impl From<RunListQuery> for RunSearch {
    fn from(q: RunListQuery) -> Self {
        RunSearch {
            filter: q.filter,
            order_by: q.order_by.into_iter().collect(),
            max_results: Some(q.max_results.unwrap_or(100)),
            page_token: q.page_token,
            view_type: q.view_type.unwrap_or_default(),
        }
    }
}

/// Query of a metric's history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct HistoryQuery {
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

/// A page of experiments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExperimentPage {
    pub experiments: Vec<Experiment>,
    pub next_page_token: Option<String>,
}

/// Serde for f64 that keeps NaN and ±Infinity (JSON has no literal for them):
/// finite values are numbers, the others the strings MLflow uses.
pub mod float {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if *v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(*v)
        }
    }

    /// A number or one of the strings `parse` takes. A visitor rather than an untagged
    /// enum: untagged buffers every value first, which showed in 1000-point batches.
    struct NumOrStr;

    impl serde::de::Visitor<'_> for NumOrStr {
        type Value = f64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number, or \"NaN\", \"Infinity\", \"-Infinity\" or a decimal in a string")
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<f64, E> {
            parse(s).ok_or_else(|| E::custom(format!("not a number: {s:?}")))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        d.deserialize_any(NumOrStr)
    }

    /// "NaN", "Infinity", "-Infinity" (also "inf"-style spellings) or a decimal.
    pub fn parse(s: &str) -> Option<f64> {
        match s {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" | "+Infinity" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.trim().parse().ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_round_trip_as_strings() {
        for (v, s) in [(f64::INFINITY, "\"Infinity\""), (f64::NEG_INFINITY, "\"-Infinity\""), (1.5, "1.5")] {
            let m = Metric { key: "k".into(), value: v, timestamp: 1, step: 2 };
            let json = serde_json::to_string(&m).unwrap();
            assert!(json.contains(&format!("\"value\":{s}")), "{json}");
            assert_eq!(serde_json::from_str::<Metric>(&json).unwrap().value, v);
        }
        let nan: Metric =
            serde_json::from_str(r#"{"key":"k","value":"NaN","timestamp":1,"step":0}"#).unwrap();
        assert!(nan.value.is_nan());
    }

    #[test]
    fn values_take_integers_and_numeric_strings_and_refuse_the_rest() {
        let value = |v: &str| {
            serde_json::from_str::<Metric>(&format!(r#"{{"key":"k","value":{v},"timestamp":1,"step":0}}"#))
                .map(|m| m.value)
        };
        assert_eq!(value("3").unwrap(), 3.0);
        assert_eq!(value("-4").unwrap(), -4.0);
        assert_eq!(value("\"2.5\"").unwrap(), 2.5);
        assert_eq!(value("\"-Infinity\"").unwrap(), f64::NEG_INFINITY);
        assert!(value("\"high\"").unwrap_err().to_string().contains("not a number: \"high\""));
        assert!(value("true").is_err());
        assert!(value("null").is_err());
    }
}

/// A file or folder among a run's artifacts; `path` is relative to the run's
/// artifact root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArtifactEntry {
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
}

/// What the run page shows inline for an artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArtifactPreview {
    /// UTF-8 text (JSON pretty-printed), cut at `ARTIFACT_PREVIEW_BYTES`.
    Text { text: String, truncated: bool },
    /// A PNG, JPEG, GIF, SVG or WebP image as a `data:` URL.
    Image { data_url: String },
    /// Anything else: download it.
    Binary { size: u64 },
}

/// Largest text shown inline; images above it are offered for download only.
pub const ARTIFACT_PREVIEW_BYTES: usize = 256 * 1024;
