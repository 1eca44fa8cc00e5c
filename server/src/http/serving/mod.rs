//! Prediction protocols over `services::serving`: the Open Inference Protocol V2
//! (`/v2/...`, KServe/Triton REST), MLflow's scoring protocol
//! (`/endpoints/{name}/invocations`) and the friendly JSON API
//! (`/api/v1/endpoints/{name}/predict`, in `http::api::endpoints`). Each reads its
//! JSON into protocol-neutral columns, calls `serving::predict`, and writes its own
//! answer and error shapes.
//!
//! These routes log their responses at DEBUG (`http::request_span`): at thousands of
//! requests a second an INFO line each would cost more than the prediction.

pub mod invocations;
pub mod v2;

use crate::http::ServerState;
use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use ml::train::Predictions;
use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use services::serving::{RequestMeta, Served};

/// Bodies larger than this are parsed on the blocking pool.
const INLINE_BODY_BYTES: usize = 64 * 1024;

/// The V2 and MLflow scoring routes (the friendly API lives under `/api/v1`).
pub fn router() -> Router<ServerState> {
    Router::new()
        .route("/v2", get(v2::server_metadata))
        .route("/v2/health/live", get(v2::live))
        .route("/v2/health/ready", get(v2::ready))
        .route("/v2/models/{name}", get(v2::model_metadata))
        .route("/v2/models/{name}/ready", get(v2::model_ready))
        .route("/v2/models/{name}/infer", post(v2::infer))
        .route("/v2/models/{name}/versions/{version}", get(v2::version_metadata))
        .route("/v2/models/{name}/versions/{version}/ready", get(v2::version_ready))
        .route("/v2/models/{name}/versions/{version}/infer", post(v2::version_infer))
        .route("/endpoints/{name}/invocations", post(invocations::invocations))
}

/// Paths whose responses are logged at DEBUG rather than INFO.
pub fn is_serving_path(path: &str) -> bool {
    path == "/v2"
        || path.starts_with("/v2/")
        || (path.starts_with("/endpoints/") && path.ends_with("/invocations"))
        || (path.starts_with("/api/v1/endpoints/") && path.ends_with("/predict"))
}

/// The request's id (set or propagated by the request-id layer) and arrival time.
pub fn meta(headers: &HeaderMap) -> RequestMeta {
    let id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let id = if id.is_empty() { uuid::Uuid::new_v4().to_string() } else { id.chars().take(200).collect() };
    RequestMeta::now(id)
}

/// Parses a JSON body; large bodies on the blocking pool. The error is serde's
/// message (line and column included).
pub async fn parse<T: DeserializeOwned + Send + 'static>(body: Bytes) -> Result<T, String> {
    if body.len() <= INLINE_BODY_BYTES {
        return serde_json::from_slice(&body).map_err(|e| e.to_string());
    }
    tokio::task::spawn_blocking(move || serde_json::from_slice(&body).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// A prediction's rows as the protocols write them: one slot per input row, null
/// for rows the model's preparation filtered out.
pub struct View<'a> {
    pub served: &'a Served,
    slots: Option<Vec<Option<usize>>>,
}

impl<'a> View<'a> {
    pub fn new(served: &'a Served) -> Self {
        let rows = &served.output.rows;
        let identity = rows.len() == served.n_rows && rows.iter().enumerate().all(|(i, r)| i == *r);
        let slots = (!identity).then(|| {
            let mut slots = vec![None; served.n_rows];
            for (j, &r) in rows.iter().enumerate() {
                if let Some(s) = slots.get_mut(r) {
                    *s = Some(j);
                }
            }
            slots
        });
        Self { served, slots }
    }

    fn at(&self, i: usize) -> Option<usize> {
        match &self.slots {
            Some(s) => s.get(i).copied().flatten(),
            None => Some(i),
        }
    }

    pub fn classes(&self) -> Option<&[String]> {
        match &self.served.output.predictions {
            Predictions::Classes { classes, .. } => Some(classes),
            _ => None,
        }
    }

    /// `predictions`: labels, values or cluster numbers.
    pub fn predictions(&self) -> Preds<'_> {
        Preds(self)
    }

    /// Per row, the probability of each class (classifiers only).
    pub fn probabilities(&self) -> Option<Probas<'_>> {
        self.classes().map(|_| Probas(self))
    }

    /// Row-major `n × classes` probabilities, null-filled for filtered rows (V2).
    pub fn flat_probabilities(&self) -> Option<FlatProbas<'_>> {
        self.classes().map(|_| FlatProbas(self))
    }
}

pub struct Preds<'a>(&'a View<'a>);

impl Serialize for Preds<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut seq = s.serialize_seq(Some(v.served.n_rows))?;
        for i in 0..v.served.n_rows {
            match (v.at(i), &v.served.output.predictions) {
                (Some(j), Predictions::Classes { class, classes, .. }) => {
                    seq.serialize_element(&classes.get(class[j]))?
                }
                (Some(j), Predictions::Values(x)) => {
                    seq.serialize_element(&x.get(j).filter(|x| x.is_finite()))?
                }
                (Some(j), Predictions::Clusters { cluster }) => seq.serialize_element(&cluster.get(j))?,
                (None, _) => seq.serialize_element(&())?,
            }
        }
        seq.end()
    }
}

pub struct Probas<'a>(&'a View<'a>);

struct ProbaRow<'a> {
    classes: &'a [String],
    p: &'a [f64],
}

impl Serialize for ProbaRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.classes.len()))?;
        for (c, p) in self.classes.iter().zip(self.p) {
            map.serialize_entry(c, p)?;
        }
        map.end()
    }
}

impl Serialize for Probas<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let Predictions::Classes { proba, classes, .. } = &v.served.output.predictions else {
            return s.serialize_none();
        };
        let k = classes.len();
        let mut seq = s.serialize_seq(Some(v.served.n_rows))?;
        for i in 0..v.served.n_rows {
            match v.at(i).and_then(|j| proba.get(j * k..(j + 1) * k)) {
                Some(p) => seq.serialize_element(&ProbaRow { classes, p })?,
                None => seq.serialize_element(&())?,
            }
        }
        seq.end()
    }
}

pub struct FlatProbas<'a>(&'a View<'a>);

impl Serialize for FlatProbas<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let Predictions::Classes { proba, classes, .. } = &v.served.output.predictions else {
            return s.serialize_none();
        };
        let k = classes.len();
        let mut seq = s.serialize_seq(Some(v.served.n_rows * k))?;
        for i in 0..v.served.n_rows {
            match v.at(i).and_then(|j| proba.get(j * k..(j + 1) * k)) {
                Some(p) => {
                    for x in p {
                        seq.serialize_element(x)?;
                    }
                }
                None => {
                    for _ in 0..k {
                        seq.serialize_element(&())?;
                    }
                }
            }
        }
        seq.end()
    }
}

/// A JSON response from bytes serialised without an intermediate `Value`.
pub fn json_response(status: axum::http::StatusCode, body: &impl Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            (status, [(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a prediction");
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "could not serialise the prediction")
                .into_response()
        }
    }
}
