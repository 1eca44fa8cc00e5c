//! Pipelines as the API, the CLI and the dashboard see them: the spec a user writes
//! (YAML or JSON), components with typed inputs and outputs, runs and their steps.
//!
//! The DAG rules live here ([`PipelineSpec::check`]) so the browser, the API and the
//! runner reject the same specs with the same messages. Parsing YAML (with line and
//! column in the message) is the services' job: this crate has no YAML parser.

use crate::ValidationError;
use crate::ids::{PipelineId, PipelineRunId, PipelineStepId, PipelineVersionId, ScheduleId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The type of a parameter, a component input or a component output. A wire from an
/// output to an input must carry the same type (an `int` may feed a `float`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    String,
    Int,
    Float,
    Bool,
    /// Any JSON value (a list, an object: a transform spec, a search space).
    Json,
    /// A dataset version: `{"dataset", "dataset_id", "version", "version_id", "content_hash"}`.
    /// A literal is a dataset name, `name@latest` or `name@<version>`.
    Dataset,
    /// A trained model: `{"run_id", "uri", "content_hash"}`; a literal is a training
    /// run id or a registry reference `models:/name@alias`.
    Model,
    /// A file in the object store: `{"key", "sha256", "size"}`.
    File,
    /// Named numbers: `{"auc": 0.91}`.
    Metrics,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Json => "json",
            ValueType::Dataset => "dataset",
            ValueType::Model => "model",
            ValueType::File => "file",
            ValueType::Metrics => "metrics",
        }
    }

    /// Whether an output of type `self` may be wired into an input of type `to`.
    pub fn feeds(self, to: ValueType) -> bool {
        self == to || to == ValueType::Json || (self == ValueType::Int && to == ValueType::Float)
    }

    /// Whether a literal JSON value is acceptable for this type. Dataset and model
    /// literals are references (strings) resolved when the step becomes ready.
    pub fn accepts_literal(self, v: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match self {
            ValueType::String => v.is_string(),
            ValueType::Int => v.is_i64() || v.is_u64(),
            ValueType::Float => v.is_number(),
            ValueType::Bool => v.is_boolean(),
            ValueType::Json => true,
            ValueType::Dataset | ValueType::Model => v.is_string() || v.is_object(),
            ValueType::File => v.is_object(),
            ValueType::Metrics => matches!(v, J::Object(m) if m.values().all(J::is_number)),
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A declared parameter of a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Absent: the parameter is required at trigger time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// One typed input or output of a component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Inputs only: may be left unwired.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A `command` component: any allowed executable with declared inputs and outputs.
///
/// Arguments may contain `{{inputs.<name>}}` (the value, or the local path of a file
/// or dataset input) and `{{outputs.<name>}}` (the path the program must write).
/// Scalar and metrics outputs are read from `<path>` as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandComponentSpec {
    /// `[program, arg, ...]`; the program must be in `CAIRN_COMMAND_ALLOW`.
    pub command: Vec<String>,
    #[serde(default)]
    pub inputs: BTreeMap<String, PortSpec>,
    #[serde(default)]
    pub outputs: BTreeMap<String, PortSpec>,
    /// Extra environment variables (the rest of the environment is cleared).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// Where a step's component comes from: a built-in kind (`train`, `train@1`) or a
/// registered/inline component (`my-scorer`, `my-scorer@3`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentRef {
    pub name: String,
    /// None: the newest version when the pipeline version is created (then pinned).
    pub version: Option<i32>,
}

impl ComponentRef {
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        let (name, version) = match s.rsplit_once('@') {
            Some((n, v)) => {
                let v: i32 = v.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
                    ValidationError::new(field, format!("'{s}': the version after '@' must be a number ≥ 1"))
                })?;
                (n, Some(v))
            }
            None => (s, None),
        };
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(ValidationError::new(
                field,
                format!("'{s}' is not a component name (letters, digits, '-', '_', '.')"),
            ));
        }
        Ok(Self { name: name.to_string(), version })
    }
}

impl std::fmt::Display for ComponentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One step of a pipeline as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub name: String,
    /// `train`, `train@1`, `my-command@2`.
    pub component: String,
    /// Literals, or a whole-string reference `{{ params.<name> }}` /
    /// `{{ steps.<step>.outputs.<name> }}` (which also orders the steps).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Extra ordering without data: steps that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// `{{ ref }}`, `not {{ ref }}` or `{{ ref }} <op> <literal or ref>` with
    /// `== != < <= > >=`; a false condition skips the step and its dependents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Extra attempts after a failure (with exponential backoff).
    #[serde(default)]
    pub retries: u32,
    /// `90s`, `10m`, `2h`; default 1 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Reuse an earlier identical execution's outputs (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// Hints for placement (`cpu`, `memory`, `queue`); `queue` routes the step's job.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, String>,
}

/// A pipeline spec: what `pipeline.yaml` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, ParameterSpec>,
    /// Command components defined with the pipeline; registered (content-addressed)
    /// when a version is created.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, CommandComponentSpec>,
    pub steps: Vec<StepSpec>,
    /// Triggers created with the version: cron schedules and watched datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<TriggerSpec>,
}

/// Triggers declared in a spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleTrigger>,
    /// Dataset names: a new version of any of them starts a run. The new version is
    /// passed as the parameter `dataset_param` names, when set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<DatasetTrigger>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    pub cron: String,
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DatasetTrigger {
    pub dataset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// What a component declares: the contract the DAG check uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentSignature {
    pub inputs: BTreeMap<String, PortSpec>,
    pub outputs: BTreeMap<String, PortSpec>,
    /// Built-ins that read outside Cairn (extract) opt out of caching.
    pub cacheable: bool,
}

/// A reference inside an input value or a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueRef {
    Param(String),
    /// Step, output, then an optional path into the value (`metrics.auc`).
    Output {
        step: String,
        output: String,
        path: Vec<String>,
    },
}

/// `{{ params.x }}` or `{{ steps.s.outputs.o[.path] }}` when `s` is exactly one
/// reference (surrounding spaces allowed); None for anything else (a literal).
pub fn parse_ref(s: &str) -> Option<Result<ValueRef, String>> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let parts: Vec<&str> = inner.split('.').collect();
    Some(match parts.as_slice() {
        ["params", name] if !name.is_empty() => Ok(ValueRef::Param(name.to_string())),
        ["steps", step, "outputs", output, path @ ..] if !step.is_empty() && !output.is_empty() => {
            Ok(ValueRef::Output {
                step: step.to_string(),
                output: output.to_string(),
                path: path.iter().map(|p| p.to_string()).collect(),
            })
        }
        _ => Err(format!(
            "'{}' is not a reference: use {{{{ params.<name> }}}} or {{{{ steps.<step>.outputs.<name> }}}}",
            s.trim()
        )),
    })
}

/// A parsed `when` condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Truthy { negate: bool, value: ValueRef },
    Compare { left: Operand, op: CompareOp, right: Operand },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Ref(ValueRef),
    Literal(serde_json::Value),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Condition {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        for (tok, op) in [
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<=", CompareOp::Le),
            (">=", CompareOp::Ge),
            ("<", CompareOp::Lt),
            (">", CompareOp::Gt),
        ] {
            if let Some(i) = find_outside_braces(t, tok) {
                let (l, r) = (&t[..i], &t[i + tok.len()..]);
                return Ok(Condition::Compare { left: operand(l)?, op, right: operand(r)? });
            }
        }
        let (negate, rest) = match t.strip_prefix("not ") {
            Some(r) => (true, r),
            None => (false, t),
        };
        match parse_ref(rest) {
            Some(Ok(r)) => Ok(Condition::Truthy { negate, value: r }),
            Some(Err(e)) => Err(e),
            None => Err(format!(
                "'{t}' is not a condition: write {{{{ ref }}}}, not {{{{ ref }}}} or {{{{ ref }}}} > 0.8 (== != < <= > >=)"
            )),
        }
    }

    pub fn refs(&self) -> Vec<&ValueRef> {
        match self {
            Condition::Truthy { value, .. } => vec![value],
            Condition::Compare { left, right, .. } => [left, right]
                .into_iter()
                .filter_map(|o| match o {
                    Operand::Ref(r) => Some(r),
                    Operand::Literal(_) => None,
                })
                .collect(),
        }
    }

    /// Evaluates with references already looked up by `lookup`.
    pub fn eval(&self, lookup: impl Fn(&ValueRef) -> Option<serde_json::Value>) -> Result<bool, String> {
        let get = |o: &Operand| match o {
            Operand::Ref(r) => lookup(r).ok_or_else(|| format!("{r:?} has no value")),
            Operand::Literal(v) => Ok(v.clone()),
        };
        match self {
            Condition::Truthy { negate, value } => {
                let v = lookup(value).ok_or_else(|| format!("{value:?} has no value"))?;
                Ok(truthy(&v) != *negate)
            }
            Condition::Compare { left, op, right } => {
                let (l, r) = (get(left)?, get(right)?);
                if let (Some(a), Some(b)) = (l.as_f64(), r.as_f64()) {
                    return Ok(match op {
                        CompareOp::Eq => a == b,
                        CompareOp::Ne => a != b,
                        CompareOp::Lt => a < b,
                        CompareOp::Le => a <= b,
                        CompareOp::Gt => a > b,
                        CompareOp::Ge => a >= b,
                    });
                }
                match op {
                    CompareOp::Eq => Ok(l == r),
                    CompareOp::Ne => Ok(l != r),
                    _ => match (l.as_str(), r.as_str()) {
                        (Some(a), Some(b)) => Ok(match op {
                            CompareOp::Lt => a < b,
                            CompareOp::Le => a <= b,
                            CompareOp::Gt => a > b,
                            _ => a >= b,
                        }),
                        _ => Err(format!("cannot order {l} and {r}")),
                    },
                }
            }
        }
    }
}

fn truthy(v: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match v {
        J::Null => false,
        J::Bool(b) => *b,
        J::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        J::String(s) => !s.is_empty() && s != "false",
        J::Array(a) => !a.is_empty(),
        J::Object(o) => !o.is_empty(),
    }
}

fn find_outside_braces(s: &str, tok: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < bytes.len() {
        if s[i..].starts_with("{{") {
            depth += 1;
            i += 2;
            continue;
        }
        if s[i..].starts_with("}}") {
            depth -= 1;
            i += 2;
            continue;
        }
        if depth == 0 && s[i..].starts_with(tok) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn operand(s: &str) -> Result<Operand, String> {
    match parse_ref(s) {
        Some(r) => r.map(Operand::Ref),
        None => {
            let t = s.trim();
            if t.is_empty() {
                return Err("a comparison needs a value on both sides".into());
            }
            Ok(Operand::Literal(
                serde_json::from_str(t)
                    .unwrap_or_else(|_| serde_json::Value::String(t.trim_matches('\'').into())),
            ))
        }
    }
}

/// `90s`, `10m`, `2h`, `1h30m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| format!("'{t}' is not a duration (e.g. 90s, 10m, 2h)"))?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("'{t}' is not a duration (e.g. 90s, 10m, 2h)")),
        };
    }
    if !num.is_empty() || total == 0 {
        return Err(format!("'{t}' is not a duration (e.g. 90s, 10m, 2h)"));
    }
    Ok(total)
}

/// Default step timeout: one hour.
pub const DEFAULT_TIMEOUT_S: u64 = 3600;

impl StepSpec {
    /// The steps this one depends on: referenced outputs, condition refs and `after`.
    pub fn dependencies(&self) -> BTreeSet<String> {
        let mut deps: BTreeSet<String> = self.after.iter().cloned().collect();
        for v in self.inputs.values() {
            if let Some(Ok(ValueRef::Output { step, .. })) = v.as_str().and_then(parse_ref) {
                deps.insert(step);
            }
        }
        if let Some(Ok(c)) = self.when.as_deref().map(Condition::parse) {
            for r in c.refs() {
                if let ValueRef::Output { step, .. } = r {
                    deps.insert(step.clone());
                }
            }
        }
        deps
    }

    pub fn timeout_s(&self) -> u64 {
        self.timeout.as_deref().and_then(|t| parse_duration(t).ok()).unwrap_or(DEFAULT_TIMEOUT_S)
    }
}

impl PipelineSpec {
    /// The DAG rules: unique step names, known components (via `signature`), wired
    /// inputs that exist with matching types, required inputs given, no cycles, valid
    /// conditions and durations. Every error names the step and the field.
    pub fn check(
        &self,
        signature: impl Fn(&ComponentRef) -> Result<ComponentSignature, String>,
    ) -> Result<(), Vec<ValidationError>> {
        let mut errs = Vec::new();
        if let Err(e) = crate::validation::check_name("name", &self.name) {
            errs.push(e);
        }
        if self.steps.is_empty() {
            errs.push(ValidationError::new("steps", "a pipeline needs at least one step"));
        }
        for (name, p) in &self.parameters {
            if let Some(d) = &p.default
                && !p.ty.accepts_literal(d)
            {
                errs.push(ValidationError::new(
                    format!("parameters.{name}.default"),
                    format!("{d} is not of type {}", p.ty),
                ));
            }
        }
        let mut sigs: BTreeMap<&str, ComponentSignature> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (i, s) in self.steps.iter().enumerate() {
            let at = format!("steps[{i}]");
            if s.name.is_empty() || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                errs.push(ValidationError::new(
                    format!("{at}.name"),
                    format!("'{}' is not a step name (letters, digits, '-', '_')", s.name),
                ));
            }
            if !seen.insert(s.name.as_str()) {
                errs.push(ValidationError::new(
                    format!("{at}.name"),
                    format!("step '{}' is defined twice", s.name),
                ));
            }
            match ComponentRef::parse(&format!("steps.{}.component", s.name), &s.component) {
                Err(e) => errs.push(e),
                Ok(r) => match signature(&r) {
                    Ok(sig) => {
                        sigs.insert(s.name.as_str(), sig);
                    }
                    Err(e) => errs.push(ValidationError::new(format!("steps.{}.component", s.name), e)),
                },
            }
            if let Some(t) = &s.timeout
                && let Err(e) = parse_duration(t)
            {
                errs.push(ValidationError::new(format!("steps.{}.timeout", s.name), e));
            }
        }
        let names: BTreeSet<&str> = self.steps.iter().map(|s| s.name.as_str()).collect();
        // The type an output reference carries, if it resolves.
        let out_type = |from: &str, step: &str, output: &str, path: &[String]| -> Result<ValueType, String> {
            if !names.contains(step) {
                return Err(format!("{from} refers to step '{step}', which this pipeline does not have"));
            }
            let Some(sig) = sigs.get(step) else { return Ok(ValueType::Json) };
            let port = sig.outputs.get(output).ok_or_else(|| {
                let known: Vec<&str> = sig.outputs.keys().map(String::as_str).collect();
                format!("step '{step}' has no output '{output}' (it has: {})", known.join(", "))
            })?;
            Ok(if path.is_empty() {
                port.ty
            } else if port.ty == ValueType::Metrics {
                ValueType::Float
            } else {
                ValueType::Json
            })
        };
        for s in &self.steps {
            let sig = sigs.get(s.name.as_str());
            for (input, v) in &s.inputs {
                let field = format!("steps.{}.inputs.{input}", s.name);
                let want = match sig {
                    Some(sig) => match sig.inputs.get(input) {
                        Some(p) => Some(p.ty),
                        None => {
                            let known: Vec<&str> = sig.inputs.keys().map(String::as_str).collect();
                            errs.push(ValidationError::new(
                                &field,
                                format!(
                                    "component '{}' has no input '{input}' (it has: {})",
                                    s.component,
                                    known.join(", ")
                                ),
                            ));
                            continue;
                        }
                    },
                    None => None,
                };
                match v.as_str().and_then(parse_ref) {
                    Some(Err(e)) => errs.push(ValidationError::new(&field, e)),
                    Some(Ok(ValueRef::Param(p))) => match self.parameters.get(&p) {
                        None => errs.push(ValidationError::new(
                            &field,
                            format!("refers to parameter '{p}', which is not declared under parameters"),
                        )),
                        Some(ps) => {
                            if let Some(w) = want
                                && !ps.ty.feeds(w)
                                && !(matches!(w, ValueType::Dataset | ValueType::Model)
                                    && ps.ty == ValueType::String)
                            {
                                errs.push(ValidationError::new(
                                    &field,
                                    format!("parameter '{p}' is of type {} but the input wants {w}", ps.ty),
                                ));
                            }
                        }
                    },
                    Some(Ok(ValueRef::Output { step, output, path })) => {
                        if step == s.name {
                            errs.push(ValidationError::new(&field, "a step cannot use its own output"));
                            continue;
                        }
                        match out_type(&field, &step, &output, &path) {
                            Err(e) => errs.push(ValidationError::new(&field, e)),
                            Ok(t) => {
                                if let Some(w) = want
                                    && !t.feeds(w)
                                {
                                    errs.push(ValidationError::new(
                                        &field,
                                        format!("steps.{step}.outputs.{output} is of type {t} but the input wants {w}"),
                                    ));
                                }
                            }
                        }
                    }
                    None => {
                        if let Some(w) = want
                            && !w.accepts_literal(v)
                        {
                            errs.push(ValidationError::new(&field, format!("{v} is not of type {w}")));
                        }
                    }
                }
            }
            if let Some(sig) = sig {
                for (input, port) in &sig.inputs {
                    if !port.optional && !s.inputs.contains_key(input) {
                        errs.push(ValidationError::new(
                            format!("steps.{}.inputs", s.name),
                            format!("input '{input}' ({}) is required by '{}'", port.ty, s.component),
                        ));
                    }
                }
            }
            for a in &s.after {
                if !names.contains(a.as_str()) {
                    errs.push(ValidationError::new(
                        format!("steps.{}.after", s.name),
                        format!("refers to step '{a}', which this pipeline does not have"),
                    ));
                }
            }
            if let Some(w) = &s.when {
                match Condition::parse(w) {
                    Err(e) => errs.push(ValidationError::new(format!("steps.{}.when", s.name), e)),
                    Ok(c) => {
                        for r in c.refs() {
                            let bad = match r {
                                ValueRef::Param(p) => (!self.parameters.contains_key(p))
                                    .then(|| format!("refers to parameter '{p}', which is not declared")),
                                ValueRef::Output { step, output, path } => {
                                    out_type("the condition", step, output, path).err()
                                }
                            };
                            if let Some(m) = bad {
                                errs.push(ValidationError::new(format!("steps.{}.when", s.name), m));
                            }
                        }
                    }
                }
            }
        }
        if errs.is_empty()
            && let Some(cycle) = self.find_cycle()
        {
            errs.push(ValidationError::new(
                format!("steps.{}", cycle[0]),
                format!("the steps form a cycle: {}", cycle.join(" → ")),
            ));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// A cycle as step names (first repeated at the end), if the wiring has one.
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        let deps: BTreeMap<&str, BTreeSet<String>> =
            self.steps.iter().map(|s| (s.name.as_str(), s.dependencies())).collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            n: &'a str,
            deps: &'a BTreeMap<&str, BTreeSet<String>>,
            mark: &mut BTreeMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            mark.insert(n, 1);
            stack.push(n);
            for d in deps.get(n).into_iter().flatten() {
                let Some((d, _)) = deps.get_key_value(d.as_str()) else { continue };
                match mark.get(d).copied().unwrap_or(0) {
                    1 => {
                        let start = stack.iter().position(|s| s == d).unwrap_or(0);
                        let mut c: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                        c.push(d.to_string());
                        return Some(c);
                    }
                    0 => {
                        if let Some(c) = visit(d, deps, mark, stack) {
                            return Some(c);
                        }
                    }
                    _ => {}
                }
            }
            stack.pop();
            mark.insert(n, 2);
            None
        }
        for s in &self.steps {
            if mark.get(s.name.as_str()).copied().unwrap_or(0) == 0 {
                let mut stack = Vec::new();
                if let Some(c) = visit(s.name.as_str(), &deps, &mut mark, &mut stack) {
                    return Some(c);
                }
            }
        }
        None
    }

    /// Column (depth) of each step for a left-to-right drawing: 0 for steps with no
    /// dependencies, else one more than the deepest dependency.
    pub fn layers(&self) -> BTreeMap<String, usize> {
        let mut depth: BTreeMap<String, usize> = BTreeMap::new();
        let deps: BTreeMap<&str, BTreeSet<String>> =
            self.steps.iter().map(|s| (s.name.as_str(), s.dependencies())).collect();
        for _ in 0..=self.steps.len() {
            let mut changed = false;
            for s in &self.steps {
                let d = deps[s.name.as_str()]
                    .iter()
                    .filter_map(|d| depth.get(d))
                    .map(|d| d + 1)
                    .max()
                    .unwrap_or(0);
                if depth.get(&s.name) != Some(&d) {
                    depth.insert(s.name.clone(), d);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        depth
    }
}

// ----------------------------------------------------------------------------
// DTOs

/// The state of a pipeline run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub const ALL: [RunState; 5] =
        [RunState::Queued, RunState::Running, RunState::Succeeded, RunState::Failed, RunState::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Succeeded | RunState::Failed | RunState::Cancelled)
    }
}

/// The state of one step of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Waiting for the steps it depends on.
    Pending,
    /// Its job is on the queue.
    Queued,
    Running,
    /// Started work elsewhere (a training run, a search) and waits for it.
    Waiting,
    Succeeded,
    /// Reused an earlier identical execution's outputs.
    Cached,
    /// Its condition was false, or a step it needs was skipped.
    Skipped,
    Failed,
    Cancelled,
}

impl StepState {
    pub const ALL: [StepState; 9] = [
        StepState::Pending,
        StepState::Queued,
        StepState::Running,
        StepState::Waiting,
        StepState::Succeeded,
        StepState::Cached,
        StepState::Skipped,
        StepState::Failed,
        StepState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Queued => "queued",
            StepState::Running => "running",
            StepState::Waiting => "waiting",
            StepState::Succeeded => "succeeded",
            StepState::Cached => "cached",
            StepState::Skipped => "skipped",
            StepState::Failed => "failed",
            StepState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepState::Succeeded
                | StepState::Cached
                | StepState::Skipped
                | StepState::Failed
                | StepState::Cancelled
        )
    }

    /// Finished with outputs its dependents can use.
    pub fn has_outputs(self) -> bool {
        matches!(self, StepState::Succeeded | StepState::Cached)
    }

    pub fn is_active(self) -> bool {
        matches!(self, StepState::Queued | StepState::Running | StepState::Waiting)
    }
}

/// What started a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A person, from the UI, the API or the CLI.
    Manual {
        user: String,
    },
    Schedule {
        schedule_id: ScheduleId,
        cron: String,
    },
    /// A new version of a watched dataset.
    Dataset {
        dataset: String,
        version: i32,
    },
    /// An HMAC-signed webhook (CI).
    Webhook {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// Monitoring (an alert) asked for a run; `reason` says why.
    Monitor {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alert_id: Option<String>,
    },
    /// Re-run of an earlier run from its failed step.
    Rerun {
        run_id: PipelineRunId,
        user: String,
    },
}

impl Trigger {
    pub fn describe(&self) -> String {
        match self {
            Trigger::Manual { user } => format!("started by {user}"),
            Trigger::Schedule { cron, .. } => format!("schedule {cron}"),
            Trigger::Dataset { dataset, version } => format!("new data: {dataset} v{version}"),
            Trigger::Webhook { source } => match source {
                Some(s) => format!("webhook from {s}"),
                None => "webhook".into(),
            },
            Trigger::Monitor { reason, .. } => format!("monitoring: {reason}"),
            Trigger::Rerun { user, .. } => format!("re-run by {user}"),
        }
    }
}

/// A pipeline in the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineSummary {
    pub pipeline_id: PipelineId,
    pub name: String,
    pub description: String,
    pub latest_version: i32,
    pub versions: i64,
    pub runs: i64,
    pub last_run: Option<RunSummary>,
    /// Cron expressions of the enabled schedules.
    pub schedules: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A version: the spec as written and the components it pins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineVersion {
    pub version_id: PipelineVersionId,
    pub pipeline_id: PipelineId,
    pub version: i32,
    pub spec: PipelineSpec,
    pub spec_text: String,
    /// SHA-256 of the normalised spec and the pinned component digests.
    pub digest: String,
    /// Step name → pinned component (`train@1`, digest).
    pub components: BTreeMap<String, PinnedComponent>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PinnedComponent {
    pub name: String,
    pub version: i32,
    pub digest: String,
    pub kind: ComponentKind,
    pub signature: ComponentSignature,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Builtin,
    Command,
}

/// A component version in the component registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentInfo {
    pub name: String,
    pub version: i32,
    pub digest: String,
    pub kind: ComponentKind,
    pub description: String,
    pub signature: ComponentSignature,
    /// The command spec for `command` components.
    pub command: Option<CommandComponentSpec>,
    pub created_at: DateTime<Utc>,
}

/// A pipeline with its versions, schedules, watched datasets and recent runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineDetail {
    pub pipeline_id: PipelineId,
    pub name: String,
    pub description: String,
    pub latest: PipelineVersion,
    pub versions: Vec<VersionSummary>,
    pub schedules: Vec<PipelineSchedule>,
    pub watched_datasets: Vec<DatasetTrigger>,
    pub recent_runs: Vec<RunSummary>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSummary {
    pub version_id: PipelineVersionId,
    pub version: i32,
    pub digest: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineSchedule {
    pub schedule_id: ScheduleId,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    /// Parameters the schedule passes (over the defaults).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

/// A run in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    pub run_id: PipelineRunId,
    pub pipeline_id: PipelineId,
    pub pipeline: String,
    pub version: i32,
    pub state: RunState,
    pub trigger: Trigger,
    /// Steps per state, for a compact progress bar.
    pub step_counts: BTreeMap<String, i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One step of a run, as the live run view draws it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepRun {
    pub step_id: PipelineStepId,
    pub name: String,
    /// `train@1`.
    pub component: String,
    pub state: StepState,
    /// Names of the steps this one waits for.
    pub depends_on: Vec<String>,
    /// Attempts started so far.
    pub attempt: i32,
    pub max_attempts: i32,
    /// The step's current job: its log is the step's log.
    pub job_id: Option<crate::ids::JobId>,
    /// Resolved inputs (after references), as the component received them.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: BTreeMap<String, serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// The step whose outputs a cached step reused.
    pub cached_from: Option<CachedFrom>,
    /// Work started elsewhere: `{"kind": "training_run", "id": "…"}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub external: Option<serde_json::Value>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CachedFrom {
    pub run_id: PipelineRunId,
    pub step_id: PipelineStepId,
}

/// A run with its steps: the live run view's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDetail {
    pub summary: RunSummary,
    pub version_id: PipelineVersionId,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: BTreeMap<String, serde_json::Value>,
    pub steps: Vec<StepRun>,
    /// Left-to-right column of each step, for drawing the DAG.
    pub layers: BTreeMap<String, usize>,
    pub created_by: Option<String>,
    pub rerun_of: Option<PipelineRunId>,
}

impl RunDetail {
    /// The step that failed the run, if one did.
    pub fn failed_step(&self) -> Option<&StepRun> {
        self.steps.iter().find(|s| s.state == StepState::Failed)
    }
}

/// Body of `POST /api/v1/pipelines` (create a pipeline or add a version to it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitPipeline {
    /// The spec as YAML or JSON text.
    pub spec: String,
}

/// Answer to a submission: the version, and whether it is new.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Submitted {
    pub pipeline_id: PipelineId,
    pub version: PipelineVersion,
    /// False when an identical spec was already the pipeline's version.
    pub created: bool,
}

/// Body of `POST /api/v1/pipelines/{name}/runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartRun {
    /// Default: the newest version.
    #[serde(default)]
    pub version: Option<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

/// Body of `POST /api/v1/pipelines/{name}/schedules`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSchedule {
    pub cron: String,
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: BTreeMap<String, serde_json::Value>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Body of `POST /api/v1/pipelines/{name}/monitor-trigger`: what monitoring sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonitorTrigger {
    pub reason: String,
    #[serde(default)]
    pub alert_id: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

/// Body of `PATCH /api/v1/pipelines/{name}/schedules/{id}`: what to change (the
/// rest stays as it is).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleChange {
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A pipeline's new webhook secret: shown once, never readable again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSecret {
    pub secret: String,
    /// How to call the webhook with it.
    pub usage: String,
}

/// Answer to an accepted webhook call: the trigger job that will start the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAccepted {
    pub job_id: crate::ids::JobId,
}

/// Checks trigger-time parameters against the declared ones and fills defaults.
pub fn bind_parameters(
    declared: &BTreeMap<String, ParameterSpec>,
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, serde_json::Value>, Vec<ValidationError>> {
    let mut errs = Vec::new();
    let mut out = BTreeMap::new();
    for k in given.keys() {
        if !declared.contains_key(k) {
            let known: Vec<&str> = declared.keys().map(String::as_str).collect();
            errs.push(ValidationError::new(
                format!("parameters.{k}"),
                format!("this pipeline has no parameter '{k}' (it has: {})", known.join(", ")),
            ));
        }
    }
    for (k, p) in declared {
        match given.get(k).or(p.default.as_ref()) {
            None => errs.push(ValidationError::new(
                format!("parameters.{k}"),
                format!("the {} parameter '{k}' is required (it has no default)", p.ty),
            )),
            Some(v) => {
                // Forms send numbers and booleans as text; accept them when they parse.
                let v = coerce(p.ty, v);
                if p.ty.accepts_literal(&v) {
                    out.insert(k.clone(), v);
                } else {
                    errs.push(ValidationError::new(
                        format!("parameters.{k}"),
                        format!("{v} is not of type {}", p.ty),
                    ));
                }
            }
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

fn coerce(ty: ValueType, v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    let Some(s) = v.as_str() else { return v.clone() };
    let s = s.trim();
    match ty {
        ValueType::Int => s.parse::<i64>().map(J::from).unwrap_or_else(|_| v.clone()),
        ValueType::Float => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(J::Number)
            .unwrap_or_else(|| v.clone()),
        ValueType::Bool => match s {
            "true" => J::Bool(true),
            "false" => J::Bool(false),
            _ => v.clone(),
        },
        ValueType::Json | ValueType::Metrics => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(inputs: &[(&str, ValueType)], outputs: &[(&str, ValueType)]) -> ComponentSignature {
        let port = |t| PortSpec { ty: t, optional: false, description: String::new() };
        ComponentSignature {
            inputs: inputs.iter().map(|(n, t)| (n.to_string(), port(*t))).collect(),
            outputs: outputs.iter().map(|(n, t)| (n.to_string(), port(*t))).collect(),
            cacheable: true,
        }
    }

    fn components(r: &ComponentRef) -> Result<ComponentSignature, String> {
        match r.name.as_str() {
            "make" => Ok(sig(
                &[("n", ValueType::Int)],
                &[("data", ValueType::Dataset), ("score", ValueType::Float)],
            )),
            "use" => Ok(sig(&[("data", ValueType::Dataset)], &[("metrics", ValueType::Metrics)])),
            "text" => Ok(sig(&[("s", ValueType::String)], &[])),
            other => Err(format!("no component '{other}'")),
        }
    }

    fn step(name: &str, component: &str, inputs: &[(&str, serde_json::Value)]) -> StepSpec {
        StepSpec {
            name: name.into(),
            component: component.into(),
            inputs: inputs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            after: vec![],
            when: None,
            retries: 0,
            timeout: None,
            cache: None,
            resources: BTreeMap::new(),
        }
    }

    fn spec(steps: Vec<StepSpec>) -> PipelineSpec {
        PipelineSpec {
            name: "p".into(),
            description: String::new(),
            parameters: [(
                "n".to_string(),
                ParameterSpec { ty: ValueType::Int, default: Some(3.into()), description: String::new() },
            )]
            .into(),
            components: BTreeMap::new(),
            steps,
            triggers: None,
        }
    }

    #[test]
    fn a_wired_chain_passes_and_layers_left_to_right() {
        let s = spec(vec![
            step("a", "make", &[("n", "{{ params.n }}".into())]),
            step("b", "use", &[("data", "{{ steps.a.outputs.data }}".into())]),
        ]);
        s.check(components).unwrap();
        assert_eq!(s.layers()["a"], 0);
        assert_eq!(s.layers()["b"], 1);
    }

    #[test]
    fn errors_name_the_step_and_field() {
        let s = spec(vec![
            step("a", "make", &[("n", "{{ params.missing }}".into())]),
            step("b", "use", &[("data", "{{ steps.a.outputs.score }}".into())]),
            step("c", "text", &[("s", "{{ steps.zzz.outputs.x }}".into())]),
            step("d", "nope", &[]),
            step("e", "use", &[]),
        ]);
        let errs = s.check(components).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter().any(|e| e.starts_with("steps.a.inputs.n:") && e.contains("'missing'")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.starts_with("steps.b.inputs.data:") && e.contains("float")),
            "{text:?}"
        );
        assert!(text.iter().any(|e| e.starts_with("steps.c.inputs.s:") && e.contains("'zzz'")), "{text:?}");
        assert!(text.iter().any(|e| e.starts_with("steps.d.component:")), "{text:?}");
        assert!(text.iter().any(|e| e.starts_with("steps.e.inputs:") && e.contains("'data'")), "{text:?}");
    }

    #[test]
    fn cycles_are_named() {
        let mut a = step("a", "use", &[("data", "{{ steps.b.outputs.data }}".into())]);
        a.component = "make".into();
        a.inputs = [("n".to_string(), serde_json::json!(1))].into();
        a.after = vec!["b".into()];
        let b = step("b", "make", &[("n", 2.into())]);
        let mut b2 = b.clone();
        b2.after = vec!["a".into()];
        let s = spec(vec![a, b2]);
        let errs = s.check(components).unwrap_err();
        assert!(errs[0].message.contains("cycle: a → b → a"), "{errs:?}");
    }

    #[test]
    fn conditions_parse_and_evaluate() {
        let c = Condition::parse("{{ steps.e.outputs.metrics.auc }} >= 0.8").unwrap();
        let v = |auc: f64| move |_: &ValueRef| Some(serde_json::json!(auc));
        assert!(c.eval(v(0.9)).unwrap());
        assert!(!c.eval(v(0.7)).unwrap());
        let t = Condition::parse("not {{ params.skip }}").unwrap();
        assert!(t.eval(|_| Some(false.into())).unwrap());
        assert!(Condition::parse("auc > 3").is_ok());
        assert!(Condition::parse("just words").is_err());
    }

    #[test]
    fn parameters_bind_with_defaults_and_types() {
        let declared: BTreeMap<String, ParameterSpec> = [
            (
                "n".to_string(),
                ParameterSpec { ty: ValueType::Int, default: Some(3.into()), description: String::new() },
            ),
            (
                "name".to_string(),
                ParameterSpec { ty: ValueType::String, default: None, description: String::new() },
            ),
        ]
        .into();
        let errs = bind_parameters(&declared, &BTreeMap::new()).unwrap_err();
        assert_eq!(errs[0].field, "parameters.name");
        let got = bind_parameters(&declared, &[("name".into(), "x".into()), ("n".into(), "7".into())].into())
            .unwrap();
        assert_eq!(got["n"], serde_json::json!(7));
        let bad =
            bind_parameters(&declared, &[("name".into(), "x".into()), ("n".into(), "seven".into())].into())
                .unwrap_err();
        assert!(bad[0].message.contains("is not of type int"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("15").unwrap(), 15);
        assert!(parse_duration("soon").is_err());
    }
}
