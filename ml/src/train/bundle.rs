//! A trained model with everything needed to serve and monitor it: the fitted
//! transform, the model, the input signature and the training rows' profile.
//!
//! Stored as gzip-compressed JSON (a forest's trees compress about tenfold);
//! `from_bytes` also reads uncompressed JSON. Floats round-trip exactly
//! (serde_json's `float_roundtrip`), so a bundle read back predicts exactly what
//! it predicted when it was saved.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use domain::prepare::FittedTransform;
use domain::profile::DatasetProfile;
use domain::training::{Algorithm, Signature, Task};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::error::TrainError;
pub use super::model::{Model, Predictions};
use crate::frame::Frame;
use crate::prepare::{apply_rows, to_matrix};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bundle {
    pub format_version: u32,
    pub algorithm: Algorithm,
    pub task: Task,
    pub transform: FittedTransform,
    pub signature: Signature,
    pub model: Model,
    /// The training rows' profile (the columns the transform reads, target included).
    pub profile: DatasetProfile,
    /// Filled by services: run id, dataset version, ...
    pub metadata: BTreeMap<String, String>,
}

/// Predictions for the input rows that survived the transform's filters.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleOutput {
    /// For each prediction, the input row it belongs to.
    pub rows: Vec<usize>,
    pub predictions: Predictions,
}

#[derive(Deserialize)]
struct Version {
    format_version: u32,
}

impl Bundle {
    pub const FORMAT_VERSION: u32 = 1;

    /// The class labels (classification), in probability-column order.
    pub fn classes(&self) -> &[String] {
        &self.signature.output.classes
    }

    pub fn predict(&self, frame: &Frame) -> Result<BundleOutput, TrainError> {
        let applied = apply_rows(&self.transform, frame)?;
        let x = matrix(&applied.frame, self.transform.target.as_deref())?;
        if let Some(expected) = self.model.n_features()
            && expected != x.ncols()
        {
            return Err(TrainError::Bundle(format!(
                "the transform produced {} feature columns but the model was trained on {expected}",
                x.ncols()
            )));
        }
        Ok(BundleOutput { rows: applied.rows, predictions: self.model.predict(&x, self.classes()) })
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, TrainError> {
        let json =
            serde_json::to_vec(self).map_err(|e| TrainError::Bundle(format!("cannot write it: {e}")))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&json)
            .and_then(|_| gz.finish())
            .map_err(|e| TrainError::Bundle(format!("cannot compress it: {e}")))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, TrainError> {
        let json = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| TrainError::Bundle(format!("not a valid gzip stream: {e}")))?;
            out
        } else {
            bytes.to_vec()
        };
        let version: Version = serde_json::from_slice(&json)
            .map_err(|e| TrainError::Bundle(format!("not a model bundle ({e})")))?;
        if version.format_version != Bundle::FORMAT_VERSION {
            return Err(TrainError::BundleVersion {
                found: version.format_version,
                expected: Bundle::FORMAT_VERSION,
            });
        }
        serde_json::from_slice(&json).map_err(|e| TrainError::Bundle(format!("cannot read it: {e}")))
    }
}

/// A prepared frame's features as an ndarray matrix.
pub(crate) fn matrix(frame: &Frame, target: Option<&str>) -> Result<Array2<f64>, TrainError> {
    let m = to_matrix(frame, target)?;
    Array2::from_shape_vec((m.n_rows, m.n_cols), m.data)
        .map_err(|e| TrainError::Bundle(format!("internal error: feature matrix shape: {e}")))
}
