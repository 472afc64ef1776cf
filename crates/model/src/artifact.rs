//! The model artifact: one versioned, checksummed file holding everything
//! needed to predict and to monitor — feature schema, preprocessing, model,
//! class labels, training metrics, data fingerprint and drift baseline.
//!
//! File layout of `dxops-model.bin`:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `DXOPSMDL` |
//! | 4 | format version, little-endian `u32` |
//! | 8 | payload length, little-endian `u64` |
//! | 32 | SHA-256 of the payload |
//! | n | payload: UTF-8 JSON of [`ArtifactBody`] |
//!
//! This is the API the inference server uses: [`Artifact::load`] (model
//! directory, the file itself, or SageMaker's `model.tar.gz`),
//! [`Artifact::feature_names`], [`Artifact::feature_types`],
//! [`Artifact::classes`], [`Artifact::predict_proba`],
//! [`Artifact::training_range`] and [`Artifact::baseline`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::baseline::Baseline;
pub use super::data::RawValue;
use super::metrics::Metrics;
use super::models::Model;
pub use super::preprocess::PredictError;
use super::preprocess::Preprocessor;
use dxops_contract::data::FeatureType;
use dxops_contract::evaluation::OperatingPoint;

pub const MAGIC: &[u8; 8] = b"DXOPSMDL";
pub const FORMAT_VERSION: u32 = 1;
/// File name inside the model directory (and inside `model.tar.gz`).
pub const FILE_NAME: &str = "dxops-model.bin";
/// Name of SageMaker's packed model directory.
pub const TARBALL_NAME: &str = "model.tar.gz";
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

#[derive(Debug, Error)]
pub enum ArtifactError {
    #[error("cannot read model artifact {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no model artifact in {0} (expected {FILE_NAME} or {TARBALL_NAME})")]
    NotFound(PathBuf),
    #[error("{0} is not a dxops model artifact (bad magic)")]
    BadMagic(PathBuf),
    #[error("{path}: artifact format version {found}, this build reads version {FORMAT_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: artifact is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: {FILE_NAME} not found inside the archive")]
    NotInArchive { path: PathBuf },
}

/// Training facts stored with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub rows: usize,
    /// Class → training rows.
    pub class_counts: BTreeMap<String, usize>,
    /// SHA-256 of the training data bytes.
    pub data_sha256: String,
    /// Cross-validated metrics on the training data.
    pub cv_metrics: Metrics,
    /// Classes with at most `rare_class_max_samples` training rows.
    pub rare_classes: Vec<String>,
    /// SHA-256 payload checksum of the warm-start source, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start_source: Option<String>,
    /// What the `warm_start` channel held, when one was mounted: a model
    /// (then `warm_start_source` is its checksum) or only the marker of "no
    /// approved source model yet" (then the model was trained from scratch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start_channel: Option<WarmStartChannel>,
    /// Boosting rounds kept by early stopping on the inner folds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boosting_rounds: Option<usize>,
    /// The decision rule and the inner cross-validation it was chosen on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_point: Option<OperatingPoint>,
}

/// What a mounted `warm_start` channel held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmStartChannel {
    /// A model artifact: training warm-started from it.
    Model,
    /// Only the no-source marker: training started from scratch.
    NoSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactBody {
    pub label: String,
    pub feature_names: Vec<String>,
    pub feature_types: Vec<FeatureType>,
    pub classes: Vec<String>,
    pub preprocessor: Preprocessor,
    pub model: Model,
    pub hyperparameters: BTreeMap<String, String>,
    pub training: TrainingInfo,
    pub baseline: Baseline,
}

/// A loaded, validated model artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    body: ArtifactBody,
    checksum: String,
}

impl Artifact {
    pub fn new(body: ArtifactBody) -> Artifact {
        let checksum = hex::encode(Sha256::digest(Self::payload(&body)));
        Artifact { body, checksum }
    }

    fn payload(body: &ArtifactBody) -> Vec<u8> {
        // Serialising plain structs of numbers, strings, vectors and BTreeMaps
        // cannot fail; non-finite floats are never stored.
        serde_json::to_vec(body).unwrap_or_default()
    }

    pub fn body(&self) -> &ArtifactBody {
        &self.body
    }

    /// SHA-256 of the payload (identifies the model).
    pub fn checksum(&self) -> &str {
        &self.checksum
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = Self::payload(&self.body);
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
        out
    }

    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Artifact, ArtifactError> {
        let corrupt = |reason: &str| ArtifactError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(ArtifactError::BadMagic(path.to_path_buf()));
        }
        if bytes.len() < HEADER_LEN {
            return Err(corrupt("truncated header"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| corrupt("header"))?);
        if version != FORMAT_VERSION {
            return Err(ArtifactError::Version {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let len =
            u64::from_le_bytes(bytes[12..20].try_into().map_err(|_| corrupt("header"))?) as usize;
        let payload = &bytes[HEADER_LEN..];
        if payload.len() != len {
            return Err(corrupt("payload length does not match the header"));
        }
        if Sha256::digest(payload).as_slice() != &bytes[20..52] {
            return Err(corrupt("checksum mismatch"));
        }
        let body: ArtifactBody = serde_json::from_slice(payload)
            .map_err(|e| corrupt(&format!("payload does not decode: {e}")))?;
        let k = body.classes.len();
        let consistent = k >= 2
            && body.feature_names.len() == body.feature_types.len()
            && body.preprocessor.schema.len() == body.feature_names.len()
            && body
                .preprocessor
                .schema
                .iter()
                .zip(&body.feature_names)
                .all(|(s, n)| &s.name == n)
            && body.preprocessor.is_consistent()
            && body.model.is_valid(body.preprocessor.width, k);
        if !consistent {
            return Err(corrupt("inconsistent model structure"));
        }
        Ok(Artifact {
            checksum: hex::encode(Sha256::digest(payload)),
            body,
        })
    }

    /// Writes `dir/dxops-model.bin`; returns its path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ArtifactError> {
        let io = |source| ArtifactError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, self.to_bytes()).map_err(|source| ArtifactError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Loads from a model directory (holding `dxops-model.bin` or
    /// `model.tar.gz`), the artifact file itself, or a `model.tar.gz`.
    pub fn load(path: &Path) -> Result<Artifact, ArtifactError> {
        let io = |source| ArtifactError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.is_dir() {
            let file = path.join(FILE_NAME);
            if file.is_file() {
                return Self::load(&file);
            }
            let tarball = path.join(TARBALL_NAME);
            if tarball.is_file() {
                return Self::load(&tarball);
            }
            return Err(ArtifactError::NotFound(path.to_path_buf()));
        }
        if !path.exists() {
            return Err(ArtifactError::NotFound(path.to_path_buf()));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let bytes = Self::from_tarball(&bytes, path)?;
            return Self::from_bytes(&bytes, path);
        }
        Self::from_bytes(&bytes, path)
    }

    fn from_tarball(gz: &[u8], path: &Path) -> Result<Vec<u8>, ArtifactError> {
        let corrupt = |e: std::io::Error| ArtifactError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("bad archive: {e}"),
        };
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let is_it = entry
                .path()
                .map_err(corrupt)?
                .file_name()
                .is_some_and(|n| n == FILE_NAME);
            if is_it {
                let mut buf = Vec::new();
                entry.read_to_end(&mut buf).map_err(corrupt)?;
                return Ok(buf);
            }
        }
        Err(ArtifactError::NotInArchive {
            path: path.to_path_buf(),
        })
    }

    /// Raw input columns, in the order `predict_proba` expects them.
    pub fn feature_names(&self) -> &[String] {
        &self.body.feature_names
    }

    pub fn feature_types(&self) -> &[FeatureType] {
        &self.body.feature_types
    }

    pub fn classes(&self) -> &[String] {
        &self.body.classes
    }

    pub fn label(&self) -> &str {
        &self.body.label
    }

    pub fn baseline(&self) -> &Baseline {
        &self.body.baseline
    }

    pub fn preprocessor(&self) -> &Preprocessor {
        &self.body.preprocessor
    }

    pub fn model(&self) -> &Model {
        &self.body.model
    }

    /// `(min, max)` of a numeric feature in the training data.
    pub fn training_range(&self, feature: &str) -> Option<(f64, f64)> {
        self.body
            .baseline
            .features
            .iter()
            .find(|f| f.name == feature)
            .and_then(|f| f.numeric.as_ref())
            .map(|n| (n.min, n.max))
    }

    /// Class probabilities per row (columns in `classes()` order).
    pub fn predict_proba(&self, rows: &[Vec<RawValue>]) -> Result<Vec<Vec<f64>>, PredictError> {
        let mut x = vec![0.0; self.body.preprocessor.width];
        let k = self.body.classes.len();
        let mut scratch = vec![0.0; k];
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            self.body
                .preprocessor
                .transform_row_into(r, i + 1, &mut x)?;
            let mut p = vec![0.0; k];
            self.body.model.predict_proba_into(&x, &mut p, &mut scratch);
            out.push(p);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Table};
    use crate::synth;
    use dxops_contract::hyperparameters::Hyperparameters;

    fn small_artifact() -> Artifact {
        let table = synth::generate(300, 3, false);
        let table = Table {
            sha256: "x".into(),
            ..table
        };
        // Keep the three most common classes so every class has enough rows.
        let label = table.column_index("diagnosis").unwrap();
        let keep = ["healthy", "type2_diabetes", "infection"];
        let rows = table
            .rows
            .iter()
            .filter(|r| keep.contains(&r[label].as_str()))
            .cloned()
            .collect();
        let table = Table { rows, ..table };
        let ds = Dataset::from_table(&table, "diagnosis", &[]).unwrap();
        let hp = Hyperparameters {
            label: "diagnosis".into(),
            n_trees: 10,
            rf_n_trees: 5,
            folds: 3,
            ..Default::default()
        };
        crate::train::train(&ds, &hp, None).unwrap().artifact
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let a = small_artifact();
        let bytes = a.to_bytes();
        let p = Path::new("m.bin");
        let b = Artifact::from_bytes(&bytes, p).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_bytes(), bytes);

        let mut flipped = bytes.clone();
        let last = flipped.len() - 10;
        flipped[last] ^= 0x55;
        assert!(matches!(
            Artifact::from_bytes(&flipped, p),
            Err(ArtifactError::Corrupt { .. })
        ));
        let mut v2 = bytes.clone();
        v2[8..12].copy_from_slice(&2u32.to_le_bytes());
        let e = Artifact::from_bytes(&v2, p).unwrap_err();
        assert!(matches!(e, ArtifactError::Version { found: 2, .. }), "{e}");
        assert!(matches!(
            Artifact::from_bytes(b"hello world", p),
            Err(ArtifactError::BadMagic(_))
        ));
        assert!(matches!(
            Artifact::from_bytes(&bytes[..bytes.len() - 1], p),
            Err(ArtifactError::Corrupt { .. })
        ));
    }

    #[test]
    fn loads_dir_file_and_tarball() {
        let a = small_artifact();
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("model");
        let file = a.save(&model_dir).unwrap();
        assert_eq!(Artifact::load(&model_dir).unwrap(), a);
        assert_eq!(Artifact::load(&file).unwrap(), a);
        let tgz = dir.path().join("packed");
        std::fs::create_dir_all(&tgz).unwrap();
        let f = std::fs::File::create(tgz.join(TARBALL_NAME)).unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            f,
            flate2::Compression::default(),
        ));
        builder.append_path_with_name(&file, FILE_NAME).unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        assert_eq!(Artifact::load(&tgz).unwrap(), a);
        assert_eq!(Artifact::load(&tgz.join(TARBALL_NAME)).unwrap(), a);
        assert!(matches!(
            Artifact::load(&dir.path().join("nothing")),
            Err(ArtifactError::NotFound(_))
        ));
    }

    #[test]
    fn predicts_and_names_bad_cells() {
        let a = small_artifact();
        assert_eq!(a.classes(), ["healthy", "infection", "type2_diabetes"]);
        assert_eq!(a.feature_names().len(), synth::COLUMNS.len());
        assert_eq!(a.feature_types().len(), a.feature_names().len());
        let (lo, hi) = a.training_range("age").unwrap();
        assert!(lo >= 18.0 && hi <= 98.0 && lo < hi);
        assert!(a.training_range("nope").is_none());
        let mut row: Vec<RawValue> = a
            .feature_names()
            .iter()
            .map(|_| RawValue::Number(1.0))
            .collect();
        row[8] = RawValue::Missing;
        let p = a.predict_proba(&[row.clone(), row.clone()]).unwrap();
        assert_eq!(p.len(), 2);
        assert!((p[0].iter().sum::<f64>() - 1.0).abs() < 1e-9);
        row[0] = RawValue::Text("old".into());
        let e = a.predict_proba(&[row.clone()]).unwrap_err();
        assert_eq!(
            e,
            PredictError::NotNumeric {
                row: 1,
                column: "age".into()
            }
        );
        assert!(!e.to_string().contains("old"));
        let e = a.predict_proba(&[row[..3].to_vec()]).unwrap_err();
        assert!(matches!(e, PredictError::WrongWidth { got: 3, .. }));
        let b = a.baseline();
        assert_eq!(b.features.len(), a.feature_names().len());
        assert!((b.predicted_class_distribution.values().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}
