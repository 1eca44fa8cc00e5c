//! The Open Inference Protocol V2 (KServe / Triton REST), with one input tensor per
//! feature (`shape` `[n]` or `[n, 1]`) and outputs `predict` and, for classifiers,
//! `probability` (`[n, classes]`, the class order in `parameters.classes`). Errors
//! are `{"error": "..."}` as KServe writes them; readiness answers 200 for true and
//! 400 for false, as the protocol says.

use super::{View, json_response, meta, parse};
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::datasets::ColumnType;
use domain::training::Task;
use serde::{Deserialize, Serialize};
use serde_json::json;
use services::serving::input::FlatScalars;
use services::serving::{Columns, LoadedEndpoint, LoadedModel, Scalar};
use std::sync::Arc;

#[derive(Debug)]
pub struct V2Error {
    pub status: StatusCode,
    pub message: String,
}

impl V2Error {
    fn bad(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<services::Error> for V2Error {
    fn from(e: services::Error) -> Self {
        use services::Error as E;
        let status = match &e {
            E::Validation(_) => StatusCode::BAD_REQUEST,
            // Other errors keep their status and message from the API's one mapping.
            _ => return ApiError::from(e).into(),
        };
        Self { status, message: e.to_string() }
    }
}

impl From<ApiError> for V2Error {
    fn from(e: ApiError) -> Self {
        Self { status: e.status, message: e.message }
    }
}

impl From<BytesRejection> for V2Error {
    fn from(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "the request body is larger than the server's limit (CAIRN_MAX_BODY_BYTES); send fewer rows per request".into(),
            };
        }
        Self { status: r.status(), message: r.body_text() }
    }
}

type V2Result<T> = Result<T, V2Error>;

fn datatype(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Int => "INT64",
        ColumnType::Float => "FP64",
        ColumnType::Bool => "BOOL",
        ColumnType::String | ColumnType::Timestamp => "BYTES",
    }
}

#[derive(Serialize)]
struct TensorMeta {
    name: String,
    datatype: &'static str,
    shape: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<serde_json::Value>,
}

fn outputs_meta(model: &LoadedModel) -> Vec<TensorMeta> {
    let (dt, classes) = match model.bundle.task {
        Task::Classification => ("BYTES", Some(model.bundle.classes().to_vec())),
        Task::Regression => ("FP64", None),
        Task::Clustering => ("INT64", None),
    };
    let mut out =
        vec![TensorMeta { name: "predict".into(), datatype: dt, shape: vec![-1], parameters: None }];
    if let Some(classes) = classes {
        out.push(TensorMeta {
            name: "probability".into(),
            datatype: "FP64",
            shape: vec![-1, classes.len() as i64],
            parameters: Some(json!({ "classes": classes })),
        });
    }
    out
}

fn model_meta(ep: &LoadedEndpoint, model: &LoadedModel) -> serde_json::Value {
    let inputs: Vec<TensorMeta> = model
        .inputs()
        .iter()
        .map(|c| TensorMeta {
            name: c.name.clone(),
            datatype: datatype(c.column_type),
            shape: vec![-1],
            parameters: Some(
                json!({ "type": c.column_type, "nullable": c.nullable, "categories": c.categories }),
            ),
        })
        .collect();
    let versions: Vec<String> = ep.routes.iter().filter_map(|r| r.version).map(|v| v.to_string()).collect();
    json!({
        "name": ep.name,
        "versions": versions,
        "platform": "cairn",
        "inputs": inputs,
        "outputs": outputs_meta(model),
        "parameters": { "model": ep.model_name, "version": model.version.to_string() },
    })
}

pub async fn server_metadata(Auth(_p): Auth) -> impl IntoResponse {
    axum::Json(json!({ "name": "cairn", "version": env!("CARGO_PKG_VERSION"), "extensions": [] }))
}

pub async fn live() -> impl IntoResponse {
    axum::Json(json!({ "live": true }))
}

/// Ready once this process has loaded the endpoints.
pub async fn ready(State(st): State<services::AppState>) -> Response {
    if st.serving.generation() >= 0 {
        axum::Json(json!({ "ready": true })).into_response()
    } else {
        V2Error::bad("the endpoints are not loaded yet").into_response()
    }
}

fn endpoint(st: &services::AppState, name: &str) -> V2Result<Arc<LoadedEndpoint>> {
    st.serving.endpoint(name).map_err(|_| V2Error {
        status: StatusCode::NOT_FOUND,
        message: format!("model (endpoint) '{name}' not found; list endpoints with GET /api/v1/endpoints"),
    })
}

fn parse_version(v: &str) -> V2Result<i32> {
    v.parse::<i32>().ok().filter(|v| *v > 0).ok_or_else(|| V2Error {
        status: StatusCode::NOT_FOUND,
        message: format!("version '{v}' not found: versions are positive numbers"),
    })
}

/// Metadata of the version that answers most of the traffic.
pub async fn model_metadata(
    State(st): State<services::AppState>,
    auth: Result<Auth, ApiError>,
    Path(name): Path<String>,
) -> V2Result<Response> {
    auth?;
    let ep = endpoint(&st, &name)?;
    let model = ep.primary()?.model(&ep.name)?;
    Ok(axum::Json(model_meta(&ep, model)).into_response())
}

pub async fn version_metadata(
    State(st): State<services::AppState>,
    auth: Result<Auth, ApiError>,
    Path((name, version)): Path<(String, String)>,
) -> V2Result<Response> {
    auth?;
    let ep = endpoint(&st, &name)?;
    let model = ep.by_version(parse_version(&version)?)?.model(&ep.name)?;
    Ok(axum::Json(model_meta(&ep, model)).into_response())
}

pub async fn model_ready(
    State(st): State<services::AppState>,
    auth: Result<Auth, ApiError>,
    Path(name): Path<String>,
) -> V2Result<Response> {
    auth?;
    let ep = endpoint(&st, &name)?;
    if ep.ready() {
        Ok(axum::Json(json!({ "name": ep.name, "ready": true })).into_response())
    } else {
        let why: Vec<String> = ep
            .routes
            .iter()
            .filter(|r| !r.shadow)
            .filter_map(|r| r.model.as_ref().err().map(|e| format!("{}: {e}", r.describe())))
            .collect();
        Err(V2Error::bad(format!("model '{}' is not ready: {}", ep.name, why.join("; "))))
    }
}

pub async fn version_ready(
    State(st): State<services::AppState>,
    auth: Result<Auth, ApiError>,
    Path((name, version)): Path<(String, String)>,
) -> V2Result<Response> {
    auth?;
    let ep = endpoint(&st, &name)?;
    let v = parse_version(&version)?;
    let route = ep.by_version(v)?;
    match &route.model {
        Ok(_) => {
            Ok(axum::Json(json!({ "name": ep.name, "version": version, "ready": true })).into_response())
        }
        Err(e) => Err(V2Error::bad(format!("version {v} of '{}' is not ready: {e}", ep.name))),
    }
}

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<InferTensor>,
    #[serde(default, rename = "parameters")]
    _parameters: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "outputs")]
    _outputs: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct InferTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: FlatScalars,
    #[serde(default, rename = "parameters")]
    _parameters: Option<serde::de::IgnoredAny>,
}

const NUMERIC: &[&str] =
    &["UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"];

/// One tensor per feature: a known datatype whose values fit it, shape `[n]` or `[n, 1]`.
fn columns(req: InferRequest) -> V2Result<Columns> {
    if req.inputs.is_empty() {
        return Err(V2Error::bad("inputs: send one tensor per feature"));
    }
    let mut cols = Vec::with_capacity(req.inputs.len());
    let mut n_rows: Option<(usize, String)> = None;
    for t in req.inputs {
        let name = t.name;
        let dt = t.datatype.to_ascii_uppercase();
        let n = match t.shape.as_slice() {
            [n] | [n, 1] if *n >= 0 => *n as usize,
            other => {
                return Err(V2Error::bad(format!(
                    "input `{name}` has shape {other:?}: send one tensor per feature with shape [n] or [n, 1]"
                )));
            }
        };
        if t.data.values.len() != n {
            return Err(V2Error::bad(format!(
                "input `{name}` has shape [{n}] but {} values in data",
                t.data.values.len()
            )));
        }
        if let Some((rows, first)) = &n_rows
            && *rows != n
        {
            return Err(V2Error::bad(format!(
                "input `{name}` has {n} rows but `{first}` has {rows}: every tensor needs one value per row"
            )));
        }
        n_rows.get_or_insert((n, name.clone()));
        let fits = |v: &Scalar| match (dt.as_str(), v) {
            (_, Scalar::Null) => true,
            ("BOOL", Scalar::Bool(_)) => true,
            ("BYTES", Scalar::Str(_)) => true,
            (d, Scalar::Int(_)) if NUMERIC.contains(&d) => true,
            (d, Scalar::Float(_)) if d.starts_with("FP") => true,
            _ => false,
        };
        if dt != "BOOL" && dt != "BYTES" && !NUMERIC.contains(&dt.as_str()) {
            return Err(V2Error::bad(format!(
                "input `{name}` has datatype {}: use BOOL, INT8-64, UINT8-64, FP16-64 or BYTES",
                t.datatype
            )));
        }
        if let Some((row, v)) = t.data.values.iter().enumerate().find(|(_, v)| !fits(v)) {
            return Err(V2Error::bad(format!(
                "input `{name}` is {dt} but row {} holds {} ({})",
                row + 1,
                v.kind(),
                v.show()
            )));
        }
        cols.push((name, t.data.values));
    }
    Ok(Columns::new(cols, "inputs")?)
}

#[derive(Serialize)]
struct OutputTensor<T: Serialize> {
    name: &'static str,
    datatype: &'static str,
    shape: Vec<usize>,
    data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<serde_json::Value>,
}

impl Serialize for OutputsSeq<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&self.0)?;
        if let Some(p) = &self.1 {
            seq.serialize_element(p)?;
        }
        seq.end()
    }
}

struct OutputsSeq<'a>(OutputTensor<super::Preds<'a>>, Option<OutputTensor<super::FlatProbas<'a>>>);

async fn infer_with(
    st: services::AppState,
    p: services::auth::Principal,
    name: String,
    version: Option<i32>,
    headers: HeaderMap,
    body: Bytes,
) -> V2Result<Response> {
    let meta = meta(&headers);
    let ep = endpoint(&st, &name)?;
    let req: InferRequest = parse(body)
        .await
        .map_err(|e| V2Error::bad(format!("the body is not a V2 inference request: {e}")))?;
    let id = req.id.clone().unwrap_or_else(|| meta.request_id.clone());
    let input = columns(req)?;
    let served = services::serving::predict(&st, &p, &ep, version, input, meta).await?;
    let view = View::new(&served);
    let n = served.n_rows;
    let pred_dt = match served.model.bundle.task {
        Task::Classification => "BYTES",
        Task::Regression => "FP64",
        Task::Clustering => "INT64",
    };
    let predict = OutputTensor {
        name: "predict",
        datatype: pred_dt,
        shape: vec![n],
        data: view.predictions(),
        parameters: None,
    };
    let proba = view.flat_probabilities().map(|data| OutputTensor {
        name: "probability",
        datatype: "FP64",
        shape: vec![n, view.classes().map_or(0, |c| c.len())],
        data,
        parameters: Some(json!({ "classes": view.classes() })),
    });
    #[derive(Serialize)]
    struct Body<'a> {
        model_name: &'a str,
        model_version: String,
        id: &'a str,
        outputs: OutputsSeq<'a>,
    }
    let body = Body {
        model_name: &ep.name,
        model_version: served.model.version.to_string(),
        id: &id,
        outputs: OutputsSeq(predict, proba),
    };
    Ok(json_response(StatusCode::OK, &body))
}

pub async fn infer(
    State(st): State<services::AppState>,
    auth: Result<Auth, ApiError>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> V2Result<Response> {
    infer_with(st, auth?.0, name, None, headers, body?).await
}

pub async fn version_infer(
    State(st): State<services::AppState>,
    auth: Result<Auth, ApiError>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> V2Result<Response> {
    let v = parse_version(&version)?;
    infer_with(st, auth?.0, name, Some(v), headers, body?).await
}
