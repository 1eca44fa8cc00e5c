//! Components: what a step runs. Built-in kinds cover each lifecycle stage and call
//! the same `services` use cases as the API (so a pipeline's training run is an
//! ordinary training run, its registered version an ordinary model version);
//! `command` components run any allowed program under a file contract.
//!
//! A component receives its resolved inputs and returns an [`Outcome`]:
//! - `Done(outputs)`: the declared outputs, as JSON values (conventions below);
//! - `Wait { external, poll_after }`: it started work elsewhere (a training run, a
//!   search) and must be called again later with `external` set; the step holds no
//!   worker while it waits;
//! - `Fail(reason)`: the user's problem (bad input, rejected model), with the reason.
//!
//! An `Err` is a system failure (database, store): retried like any job.
//!
//! Value conventions (what outputs hold and inputs receive):
//! - dataset: `{"dataset", "dataset_id", "version", "version_id", "content_hash", "artifact_id"}`
//! - model: `{"run_id", "uri", "content_hash", "artifact_id"}` (a training run's model),
//!   or a registry version `{"name", "version", "version_id", "uri": "models:/name/3"}`
//! - file: `{"key", "sha256", "size"}` (object-store key)
//! - metrics: `{"auc": 0.91, ...}`; scalars and json as themselves.
//!
//! `artifact_id` (a lineage artifact) lets the runner link the step's execution to
//! the artifacts it read and wrote.

pub mod builtin;
pub mod command;

use crate::auth::Principal;
use crate::queue::JobCtx;
use crate::{AppState, Result};
use domain::pipelines::{ComponentSignature, PortSpec, ValueType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Everything a component sees while it runs.
pub struct StepContext<'a> {
    pub st: &'a AppState,
    pub ctx: &'a JobCtx,
    /// Who the run acts for: its trigger's user (or the pipeline's owner).
    pub principal: &'a Principal,
    pub pipeline: &'a str,
    pub run_id: Uuid,
    pub step_id: Uuid,
    pub step: &'a str,
    pub inputs: &'a BTreeMap<String, Value>,
    /// What the last `Wait` returned; None on the first call.
    pub external: Option<&'a Value>,
    pub timeout: Duration,
}

impl StepContext<'_> {
    /// Appends a line to the step's log (its job's log).
    pub async fn log(&self, line: impl Into<String>) -> Result<()> {
        self.ctx.log(line).await
    }

    pub fn input(&self, name: &str) -> Option<&Value> {
        self.inputs.get(name).filter(|v| !v.is_null())
    }

    pub fn str_input(&self, name: &str) -> Option<&str> {
        self.input(name).and_then(Value::as_str)
    }
}

#[derive(Debug)]
pub enum Outcome {
    Done(BTreeMap<String, Value>),
    Wait { external: Value, poll_after: Duration },
    Fail(String),
}

/// A built-in component's definition.
pub struct Builtin {
    pub name: &'static str,
    pub description: &'static str,
    pub inputs: &'static [(&'static str, ValueType, bool, &'static str)],
    pub outputs: &'static [(&'static str, ValueType, &'static str)],
    pub cacheable: bool,
}

impl Builtin {
    pub fn signature(&self) -> ComponentSignature {
        ComponentSignature {
            inputs: self
                .inputs
                .iter()
                .map(|(n, ty, optional, d)| {
                    (n.to_string(), PortSpec { ty: *ty, optional: *optional, description: d.to_string() })
                })
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|(n, ty, d)| {
                    (n.to_string(), PortSpec { ty: *ty, optional: false, description: d.to_string() })
                })
                .collect(),
            cacheable: self.cacheable,
        }
    }
}

use ValueType as T;

/// Every built-in kind. Registered (version 1, or a new version when a definition
/// changes) at start-up by [`super::register_builtins`].
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "extract",
        description: "A dataset version from a server path, a URL or a registered SQL source (an identical \
                      result returns the existing version).",
        inputs: &[
            ("dataset", T::String, false, "the dataset to add a version to (created if missing)"),
            (
                "path",
                T::String,
                true,
                "a file under CAIRN_DATA_PATH_ALLOW (absolute, or relative to one of its directories)",
            ),
            ("url", T::String, true, "a URL under CAIRN_DATA_URL_ALLOW"),
            ("source", T::String, true, "a registered SQL data source"),
            ("query", T::String, true, "the SQL to run on the source"),
            (
                "version",
                T::String,
                true,
                "an existing version (name@N, as a dataset trigger passes it) to use instead of importing; empty: import",
            ),
        ],
        outputs: &[("dataset", T::Dataset, "the dataset version")],
        cacheable: false,
    },
    Builtin {
        name: "validate-data",
        description: "Schema, anomaly and drift checks of a version against a baseline (the previous version by \
                      default); fails the step when the verdict is worse than allowed.",
        inputs: &[
            ("dataset", T::Dataset, false, "the version to check"),
            ("baseline", T::Dataset, true, "the reference (default: the previous version)"),
            ("fail_on", T::String, true, "fail (default), warn or never"),
        ],
        outputs: &[
            ("report", T::Json, "{validation_id, verdict, anomalies, drifted}"),
            ("passed", T::Bool, "true when the verdict is pass (the step fails when it reaches fail_on)"),
        ],
        cacheable: true,
    },
    Builtin {
        name: "prepare",
        description: "Fits a transform spec on the train split and writes train and test versions.",
        inputs: &[
            ("dataset", T::Dataset, false, "the raw version"),
            ("transform", T::Json, false, "a transform spec (steps, target, split)"),
        ],
        outputs: &[("train", T::Dataset, "prepared train rows"), ("test", T::Dataset, "prepared test rows")],
        cacheable: true,
    },
    Builtin {
        name: "tune",
        description: "A hyper-parameter search (random or grid trials, each a tracked child run); outputs the \
                      best trial's parameters and model.",
        inputs: &[
            ("dataset", T::Dataset, false, "training data"),
            ("target", T::String, false, "the label column"),
            ("algorithm", T::String, false, "e.g. random_forest"),
            ("space", T::Json, false, "parameter → list of values or {min, max[, log]}"),
            ("trials", T::Int, true, "number of trials (default 10)"),
            ("metric", T::String, true, "the metric to maximise (default: the algorithm's)"),
            ("seed", T::Int, true, "seed of the search"),
            ("experiment", T::String, true, "experiment for the runs (default: the pipeline's name)"),
        ],
        outputs: &[
            ("best_params", T::Json, "the winning hyper-parameters"),
            ("best_model", T::Model, "the winning trial's model"),
            ("metrics", T::Metrics, "the winning trial's held-out metrics"),
        ],
        cacheable: true,
    },
    Builtin {
        name: "train",
        description: "Trains a built-in model (a tracked run with evaluation and gates).",
        inputs: &[
            ("dataset", T::Dataset, false, "training data"),
            ("target", T::String, false, "the label column"),
            ("algorithm", T::String, false, "e.g. logistic_regression"),
            ("params", T::Json, true, "hyper-parameters (e.g. tune's best_params)"),
            (
                "prepare",
                T::Json,
                true,
                "a transform spec applied inside the model (default: chosen from the column types)",
            ),
            ("seed", T::Int, true, "seed of the split and the algorithm (default 0)"),
            ("gates", T::Json, true, "list of gate expressions, e.g. [\"roc_auc >= 0.7\"]"),
            ("baseline", T::String, true, "a model to compare with, e.g. models:/credit@production"),
            ("experiment", T::String, true, "experiment for the run (default: the pipeline's name)"),
        ],
        outputs: &[("model", T::Model, "the trained model"), ("metrics", T::Metrics, "held-out metrics")],
        cacheable: true,
    },
    Builtin {
        name: "evaluate",
        description: "Scores a model on a dataset version (classification or regression metrics).",
        inputs: &[
            ("model", T::Model, false, "a trained model or a registry version"),
            ("dataset", T::Dataset, false, "rows with the label (e.g. prepare's test output)"),
        ],
        outputs: &[("metrics", T::Metrics, "metrics on the dataset"), ("report", T::Json, "the evaluation")],
        cacheable: true,
    },
    Builtin {
        name: "validate-model",
        description: "Checks metrics against thresholds (and optionally a baseline model's metrics); fails the \
                      step when any check fails unless fail is false.",
        inputs: &[
            ("metrics", T::Metrics, false, "the candidate's metrics"),
            ("thresholds", T::Json, false, "metric → condition, e.g. {\"roc_auc\": \">= 0.7\"}"),
            ("baseline", T::String, true, "models:/name@alias: the candidate must not be worse"),
            ("fail", T::Bool, true, "fail the step on a failed check (default true)"),
        ],
        outputs: &[
            ("passed", T::Bool, "every check passed"),
            ("report", T::Json, "each check with its value and outcome"),
        ],
        cacheable: true,
    },
    Builtin {
        name: "register-model",
        description: "Registers a trained model as a new version of a registered model (created if missing).",
        inputs: &[
            ("model", T::Model, false, "the trained model"),
            ("name", T::String, false, "the registered model"),
            ("description", T::String, true, "the version's description"),
            ("alias", T::String, true, "an unprotected alias to move to the new version (e.g. staging)"),
        ],
        outputs: &[("model_version", T::Model, "the registry version (models:/name/N)")],
        cacheable: false,
    },
    Builtin {
        name: "request-promotion",
        description: "Asks approvers to move a protected alias (production) to the version.",
        inputs: &[
            ("model_version", T::Model, false, "a registry version"),
            ("alias", T::String, true, "the alias (default production)"),
            ("comment", T::String, true, "why"),
        ],
        outputs: &[("request", T::Json, "{request_id, state}")],
        cacheable: false,
    },
    Builtin {
        name: "deploy",
        description: "Creates or updates an endpoint to serve a registered model's alias or a version.",
        inputs: &[
            ("endpoint", T::String, false, "endpoint name"),
            ("model", T::String, true, "registered model name (follows alias)"),
            ("alias", T::String, true, "alias to follow (default production)"),
            ("model_version", T::Model, true, "a registry version to pin instead"),
        ],
        outputs: &[("endpoint", T::Json, "{name, url}")],
        cacheable: false,
    },
    Builtin {
        name: "batch-predict",
        description: "Scores every row of a dataset version with a model; the predictions are a new dataset \
                      version.",
        inputs: &[
            ("model", T::Model, false, "a registry version (register-model's output or models:/name@alias)"),
            ("dataset", T::Dataset, false, "rows to score"),
            ("output", T::String, true, "dataset name for the predictions"),
        ],
        outputs: &[("predictions", T::Dataset, "the scored rows")],
        cacheable: true,
    },
];

pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The definition a built-in's digest is computed from: its signature and a
/// behaviour version bumped by hand when its implementation changes meaning.
pub fn builtin_definition(b: &Builtin) -> Value {
    serde_json::json!({
        "kind": "builtin",
        "name": b.name,
        "behaviour": builtin::BEHAVIOUR_VERSION,
        "signature": b.signature(),
    })
}
