//! Reading a pipeline spec: YAML or JSON text → [`PipelineSpec`], with the line and
//! column of a syntax error, and the digest that identifies a version.

use crate::{Error, Result};
use domain::ValidationError;
use domain::pipelines::PipelineSpec;
use sha2::{Digest, Sha256};

/// Parses YAML (or JSON, which is YAML) text. Syntax and shape errors say where.
pub fn parse(text: &str) -> Result<PipelineSpec> {
    if text.trim().is_empty() {
        return Err(ValidationError::new("spec", "the spec is empty; paste a pipeline.yaml").into());
    }
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| {
            ValidationError::new("spec", format!("line {}, column {}: {e}", e.line(), e.column())).into()
        });
    }
    serde_yaml_ng::from_str(text).map_err(|e| {
        let msg = strip_location(&e.to_string());
        let at =
            e.location().map(|l| format!("line {}, column {}: ", l.line(), l.column())).unwrap_or_default();
        Error::from(ValidationError::new("spec", format!("{at}{msg}")))
    })
}

/// serde_yaml_ng appends " at line L column C" itself; we put the place first.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// SHA-256 of a value's canonical JSON: object keys sorted at every level, whatever
/// order the map kept (another crate may turn on serde_json's `preserve_order`).
pub fn digest_json(v: &serde_json::Value) -> String {
    let mut bytes = Vec::new();
    canonical(v, &mut bytes);
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

fn canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value as J;
    match v {
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(J::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        J::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_carry_line_and_column() {
        let text = "name: p\nsteps:\n  - name: a\n    component: [oops\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("line "), "{err}");
        assert!(err.contains("column "), "{err}");
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = parse("name: p\nstepz: []\n").unwrap_err().to_string();
        assert!(err.contains("stepz"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn json_and_yaml_give_the_same_spec() {
        let y = parse("name: p\nsteps:\n  - name: a\n    component: train\n    inputs: {x: 1}\n").unwrap();
        let j = parse(r#"{"name": "p", "steps": [{"name": "a", "component": "train", "inputs": {"x": 1}}]}"#)
            .unwrap();
        assert_eq!(y, j);
    }

    #[test]
    fn digests_ignore_key_order() {
        let a = serde_json::json!({"a": 1, "b": [1, 2]});
        let b: serde_json::Value = serde_json::from_str(r#"{"b": [1, 2], "a": 1}"#).unwrap();
        assert_eq!(digest_json(&a), digest_json(&b));
    }
}
