//! MLflow REST 2.0 request bodies (deserialised here; they are never sent) and the
//! JSON shapes of its responses, built from `domain::tracking` types.

use domain::tracking::{DatasetInput, Experiment, LoggedModel, Metric, Run, RunInfo, Tag, ViewType};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

/// MLflow sends ids as strings; some clients send numbers. Both become a string.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn strings_or_numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Value>::deserialize(d)?
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect())
}

#[derive(Deserialize)]
pub struct CreateExperiment {
    pub name: String,
    pub artifact_location: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
pub struct ExperimentIdQuery {
    #[serde(default, deserialize_with = "string_or_number")]
    pub experiment_id: Option<String>,
}

#[derive(Deserialize)]
pub struct ExperimentNameQuery {
    pub experiment_name: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SearchExperiments {
    /// Not supported yet; a non-empty filter is refused rather than ignored.
    pub filter: Option<String>,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
    pub view_type: Option<ViewType>,
}

#[derive(Deserialize)]
pub struct UpdateExperiment {
    #[serde(default, deserialize_with = "string_or_number")]
    pub experiment_id: Option<String>,
    pub new_name: String,
}

#[derive(Deserialize)]
pub struct ExperimentTag {
    #[serde(default, deserialize_with = "string_or_number")]
    pub experiment_id: Option<String>,
    pub key: String,
    pub value: String,
}

#[derive(Deserialize)]
pub struct CreateRun {
    #[serde(default, deserialize_with = "string_or_number")]
    pub experiment_id: Option<String>,
    pub user_id: Option<String>,
    pub run_name: Option<String>,
    pub start_time: Option<i64>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// `run_id` with its deprecated alias `run_uuid`, which older clients still send.
#[derive(Deserialize)]
pub struct RunIdQuery {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
}

impl RunIdQuery {
    pub fn id(&self) -> Option<&str> {
        self.run_id.as_deref().or(self.run_uuid.as_deref())
    }
}

#[derive(Deserialize)]
pub struct UpdateRun {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
    pub status: Option<String>,
    pub end_time: Option<i64>,
    pub run_name: Option<String>,
}

#[derive(Deserialize)]
pub struct SearchRuns {
    #[serde(default, deserialize_with = "strings_or_numbers")]
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    pub run_view_type: Option<ViewType>,
    pub max_results: Option<i64>,
    #[serde(default)]
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

#[derive(Deserialize)]
pub struct LogMetric {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
    pub key: String,
    #[serde(with = "domain::tracking::float")]
    pub value: f64,
    pub timestamp: Option<i64>,
    pub step: Option<i64>,
}

#[derive(Deserialize)]
pub struct KeyValue {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
    pub key: String,
    pub value: String,
}

#[derive(Deserialize)]
pub struct DeleteTag {
    pub run_id: Option<String>,
    pub key: String,
}

#[derive(Deserialize)]
pub struct BatchMetric {
    pub key: String,
    #[serde(with = "domain::tracking::float")]
    pub value: f64,
    pub timestamp: Option<i64>,
    pub step: Option<i64>,
}

#[derive(Deserialize)]
pub struct LogBatch {
    pub run_id: Option<String>,
    #[serde(default)]
    pub metrics: Vec<BatchMetric>,
    #[serde(default)]
    pub params: Vec<Tag>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    #[serde(default)]
    pub source_type: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Deserialize)]
pub struct DatasetInputBody {
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub dataset: Dataset,
}

#[derive(Deserialize)]
pub struct LogInputs {
    pub run_id: Option<String>,
    #[serde(default)]
    pub datasets: Vec<DatasetInputBody>,
}

impl From<DatasetInputBody> for DatasetInput {
    fn from(d: DatasetInputBody) -> Self {
        DatasetInput {
            name: d.dataset.name,
            digest: d.dataset.digest,
            source_type: d.dataset.source_type,
            source: d.dataset.source,
            schema: d.dataset.schema.unwrap_or_default(),
            profile: d.dataset.profile.unwrap_or_default(),
            tags: d.tags,
        }
    }
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    pub run_id: Option<String>,
    pub run_uuid: Option<String>,
    pub metric_key: Option<String>,
    pub page_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Deserialize)]
pub struct CreateLoggedModel {
    #[serde(default, deserialize_with = "string_or_number")]
    pub experiment_id: Option<String>,
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    #[serde(default)]
    pub params: Vec<Tag>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The status arrives as the enum's name (`LOGGED_MODEL_READY`) or its number.
#[derive(Deserialize)]
pub struct FinalizeLoggedModel {
    #[serde(default)]
    pub status: Value,
}

/// MLflow's `LoggedModelStatus` on the wire → Cairn's status word.
pub fn logged_model_status(v: &Value) -> Result<&'static str, crate::http::mlflow::error::MlflowError> {
    match v {
        Value::String(s) => match s.as_str() {
            "LOGGED_MODEL_PENDING" | "PENDING" => Ok("PENDING"),
            "LOGGED_MODEL_READY" | "READY" => Ok("READY"),
            "LOGGED_MODEL_UPLOAD_FAILED" | "FAILED" => Ok("FAILED"),
            _ => Err(bad_status(v)),
        },
        Value::Number(n) => match n.as_i64() {
            Some(1) => Ok("PENDING"),
            Some(2) => Ok("READY"),
            Some(3) => Ok("FAILED"),
            _ => Err(bad_status(v)),
        },
        _ => Err(bad_status(v)),
    }
}

fn bad_status(v: &Value) -> crate::http::mlflow::error::MlflowError {
    crate::http::mlflow::error::MlflowError::invalid(format!(
        "unknown logged model status {v}; use LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED"
    ))
}

fn status_name(s: &str) -> &'static str {
    match s {
        "PENDING" => "LOGGED_MODEL_PENDING",
        "READY" => "LOGGED_MODEL_READY",
        "FAILED" => "LOGGED_MODEL_UPLOAD_FAILED",
        _ => "LOGGED_MODEL_STATUS_UNSPECIFIED",
    }
}

#[derive(Deserialize)]
pub struct ModelTags {
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
pub struct ModelParams {
    #[serde(default)]
    pub params: Vec<Tag>,
}

#[derive(Deserialize)]
pub struct SearchLoggedModels {
    #[serde(default, deserialize_with = "strings_or_numbers")]
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    pub max_results: Option<i64>,
    #[serde(default)]
    pub order_by: Vec<Value>,
    pub page_token: Option<String>,
}

#[derive(Deserialize)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: Option<i64>,
}

#[derive(Deserialize)]
pub struct LogOutputs {
    pub run_id: Option<String>,
    #[serde(default)]
    pub models: Vec<ModelOutput>,
}

/// Experiment ids of a search body, as numbers.
pub fn experiment_ids(ids: &[String]) -> Result<Vec<i64>, crate::http::mlflow::error::MlflowError> {
    ids.iter()
        .map(|s| {
            s.trim().parse::<i64>().map_err(|_| {
                crate::http::mlflow::error::MlflowError::invalid(format!(
                    "experiment id {s:?} is not a number"
                ))
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Responses

pub fn logged_model(m: &LoggedModel) -> Value {
    let mut info = json!({
        "model_id": m.model_id,
        "experiment_id": m.experiment_id.to_string(),
        "name": m.name,
        "artifact_uri": m.artifact_location,
        "creation_timestamp_ms": m.creation_time,
        "last_updated_timestamp_ms": m.last_update_time,
        "model_type": m.model_type,
        "status": status_name(&m.status),
        "status_message": m.status_message,
        "tags": m.tags,
    });
    if let (Some(run), Some(o)) = (m.source_run_id, info.as_object_mut()) {
        o.insert("source_run_id".into(), json!(run.simple().to_string()));
    }
    json!({ "info": info, "data": { "params": m.params, "metrics": [] } })
}

pub fn experiment(e: &Experiment) -> Value {
    json!({
        "experiment_id": e.experiment_id.to_string(),
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
        "tags": e.tags,
    })
}

pub fn run_info(i: &RunInfo) -> Value {
    let id = i.run_id.simple().to_string();
    let mut v = json!({
        "run_id": id,
        "run_uuid": id,
        "run_name": i.run_name,
        "experiment_id": i.experiment_id.to_string(),
        "user_id": i.user_id,
        "status": i.status,
        "start_time": i.start_time,
        "artifact_uri": services::tracking::artifact_uri(i.experiment_id, i.run_id),
        "lifecycle_stage": i.lifecycle,
    });
    if let (Some(end), Some(obj)) = (i.end_time, v.as_object_mut()) {
        obj.insert("end_time".into(), json!(end));
    }
    v
}

fn metrics(ms: &[Metric]) -> Value {
    json!(ms)
}

pub fn run(r: &Run) -> Value {
    let inputs: Vec<Value> = r
        .inputs
        .iter()
        .map(|d| {
            json!({
                "tags": d.tags,
                "dataset": {
                    "name": d.name, "digest": d.digest, "source_type": d.source_type,
                    "source": d.source, "schema": d.schema, "profile": d.profile,
                },
            })
        })
        .collect();
    json!({
        "info": run_info(&r.info),
        "data": { "metrics": metrics(&r.metrics), "params": r.params, "tags": r.tags },
        "inputs": { "dataset_inputs": inputs },
    })
}

/// A history page as JSON bytes. Going through a `Value` tree first (one map per
/// point) cost most of a 100,000-point get-history; this serialises straight from
/// the slice and writes the same document (keys in the same sorted order).
pub fn history(ms: &[Metric], next: Option<&str>) -> serde_json::Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Point<'a> {
        key: &'a str,
        step: i64,
        timestamp: i64,
        #[serde(serialize_with = "domain::tracking::float::serialize")]
        value: &'a f64,
    }
    struct Points<'a>(&'a [Metric]);
    impl Serialize for Points<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|m| Point {
                key: &m.key,
                step: m.step,
                timestamp: m.timestamp,
                value: &m.value,
            }))
        }
    }
    #[derive(Serialize)]
    struct Page<'a> {
        metrics: Points<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_page_token: Option<&'a str>,
    }
    // About 80 bytes a point.
    let mut out = Vec::with_capacity(64 + ms.len() * 80);
    serde_json::to_writer(&mut out, &Page { metrics: Points(ms), next_page_token: next })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_bytes_are_the_json_of_the_points_and_the_token() {
        let ms = vec![
            Metric { key: "a\"b".into(), value: f64::NAN, timestamp: 5, step: 0 },
            Metric { key: "a\"b".into(), value: 0.25, timestamp: 6, step: 1 },
            Metric { key: "a\"b".into(), value: f64::NEG_INFINITY, timestamp: 7, step: 2 },
        ];
        let want = json!({
            "metrics": [
                {"key": "a\"b", "value": "NaN", "timestamp": 5, "step": 0},
                {"key": "a\"b", "value": 0.25, "timestamp": 6, "step": 1},
                {"key": "a\"b", "value": "-Infinity", "timestamp": 7, "step": 2},
            ],
            "next_page_token": "tok",
        });
        let got: Value = serde_json::from_slice(&history(&ms, Some("tok")).unwrap()).unwrap();
        assert_eq!(got, want);
        let got: Value = serde_json::from_slice(&history(&[], None).unwrap()).unwrap();
        assert_eq!(got, json!({"metrics": []}));
    }
}
