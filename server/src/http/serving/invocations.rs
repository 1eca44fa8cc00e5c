//! MLflow's scoring protocol (`mlflow models serve`'s `/invocations`), so its clients
//! switch to Cairn by changing the URL: a JSON object with exactly one of
//! `dataframe_split` (`{columns, data}`), `dataframe_records` (a list of records),
//! `inputs` (columns by name, or records) and `instances` (records); the answer is
//! `{"predictions": [...]}`. Errors use MLflow's `{"error_code", "message"}`.

use super::{View, json_response, meta, parse};
use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::mlflow::error::MlflowError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use services::serving::input::{FlatScalars, Record, RecordColumns};
use services::serving::{Columns, Scalar};
use std::fmt;

const SHAPES: &str = "send a JSON object with exactly one of `dataframe_split` ({\"columns\": [...], \"data\": [[...]]}), `dataframe_records` ([{...}]), `inputs` ({\"feature\": [...]} or [{...}]) or `instances` ([{...}])";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invocation {
    #[serde(default)]
    dataframe_split: Option<Split>,
    #[serde(default)]
    dataframe_records: Option<RecordColumns>,
    #[serde(default)]
    inputs: Option<Inputs>,
    #[serde(default)]
    instances: Option<RecordColumns>,
    #[serde(default)]
    params: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Split {
    columns: Vec<String>,
    data: Vec<Vec<Scalar>>,
    #[serde(default, rename = "index")]
    _index: Option<de::IgnoredAny>,
}

/// `inputs`: columns by name (`{"a": [1, 2]}`) or records (`[{"a": 1}]`).
enum Inputs {
    Columns(Vec<(String, FlatScalars)>),
    Records(Vec<Record>),
}

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Inputs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of feature name to a list of values, or a list of records")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inputs, A::Error> {
                let mut cols = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, FlatScalars>()? {
                    cols.push((k, v));
                }
                Ok(Inputs::Columns(cols))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Inputs, A::Error> {
                let mut records = Vec::new();
                while let Some(r) = seq.next_element::<Record>()? {
                    records.push(r);
                }
                Ok(Inputs::Records(records))
            }
        }
        d.deserialize_any(V)
    }
}

fn invalid(message: impl Into<String>) -> MlflowError {
    MlflowError { status: StatusCode::BAD_REQUEST, code: "BAD_REQUEST", message: message.into() }
}

fn columns(inv: Invocation) -> Result<Columns, MlflowError> {
    let given = [
        inv.dataframe_split.is_some(),
        inv.dataframe_records.is_some(),
        inv.inputs.is_some(),
        inv.instances.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(invalid(format!(
            "the body has {} input fields: {SHAPES}",
            given.iter().filter(|g| **g).count()
        )));
    }
    if inv.params.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(invalid("`params`: Cairn models take no inference parameters; remove them"));
    }
    let cols = if let Some(split) = inv.dataframe_split {
        let mut cols: Vec<(String, Vec<Scalar>)> =
            split.columns.into_iter().map(|c| (c, Vec::with_capacity(split.data.len()))).collect();
        for (i, row) in split.data.into_iter().enumerate() {
            if row.len() != cols.len() {
                return Err(invalid(format!(
                    "dataframe_split: row {} has {} values but there are {} columns",
                    i + 1,
                    row.len(),
                    cols.len()
                )));
            }
            for (c, v) in cols.iter_mut().zip(row) {
                c.1.push(v);
            }
        }
        Columns::new(cols, "dataframe_split")?
    } else if let Some(records) = inv.dataframe_records.or(inv.instances) {
        records.into_columns("dataframe_records")?
    } else {
        match inv.inputs {
            Some(Inputs::Columns(cols)) => {
                Columns::new(cols.into_iter().map(|(k, v)| (k, v.values)).collect(), "inputs")?
            }
            Some(Inputs::Records(records)) => {
                Columns::from_records(records.into_iter().map(|r| r.0).collect(), "inputs")?
            }
            None => return Err(invalid(SHAPES)),
        }
    };
    if cols.n_rows == 0 {
        return Err(invalid("the input has no rows"));
    }
    Ok(cols)
}

pub async fn invocations(
    State(st): State<services::AppState>,
    auth: Result<Auth, ApiError>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, MlflowError> {
    let p = auth?.0;
    let meta = meta(&headers);
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if !content_type.starts_with("application/json") {
        return Err(MlflowError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "BAD_REQUEST",
            message: format!(
                "content type `{content_type}` is not supported: send JSON with `content-type: application/json`"
            ),
        });
    }
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            MlflowError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "BAD_REQUEST",
                message: "the request body is larger than the server's limit (CAIRN_MAX_BODY_BYTES)".into(),
            }
        } else {
            invalid(r.body_text())
        }
    })?;
    let ep = st.serving.endpoint(&name).map_err(MlflowError::from)?;
    let inv: Invocation =
        parse(body).await.map_err(|e| invalid(format!("the body could not be read ({e}): {SHAPES}")))?;
    let input = columns(inv)?;
    let served = services::serving::predict(&st, &p, &ep, None, input, meta).await?;
    let view = View::new(&served);
    #[derive(Serialize)]
    struct Body<'a> {
        predictions: super::Preds<'a>,
    }
    Ok(json_response(StatusCode::OK, &Body { predictions: view.predictions() }))
}
