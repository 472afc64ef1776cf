//! `dxops-model monitor`: drift of captured traffic against the model's
//! baseline, written as a JSON report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use super::capture::{self, CaptureError};
use crate::artifact::{Artifact, ArtifactError};
use crate::drift::{self, DriftConfig, DriftError, DriftReport};
use crate::wire::Schema;

/// Skipped records listed in the report (the count is always complete).
const LISTED_SKIPS: usize = 50;

#[derive(Debug, Error)]
pub enum MonitorError {
    #[error("loading the model: {0}")]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error("no scorable rows in the capture ({records} records, {skipped} skipped)")]
    NoRows { records: usize, skipped: usize },
    #[error("cannot write the report {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize)]
pub struct SkippedRecord {
    pub file: PathBuf,
    pub line: usize,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct MonitorReport {
    pub model_sha256: String,
    pub capture_files: usize,
    pub records: usize,
    pub skipped_records: usize,
    /// Skipped records per fixed reason (`not_capture`, `encoding`,
    /// `base64`, `content_type`, `payload`).
    pub skipped_by_reason: BTreeMap<&'static str, usize>,
    pub skipped: Vec<SkippedRecord>,
    pub drift: DriftReport,
    /// Share of captured predictions per class of the model, next to the
    /// training baseline.
    pub predicted_class_distribution: BTreeMap<String, ClassShare>,
    /// Captured predictions whose label is not a class of the model: only
    /// counted, as the label is capture content.
    pub unknown_predicted_labels: usize,
}

#[derive(Debug, Serialize)]
pub struct ClassShare {
    pub current: f64,
    pub baseline: f64,
}

/// Runs the monitor over `capture` and writes the report to `out`.
pub fn run(
    model: &Path,
    capture_path: &Path,
    out: &Path,
    config: &DriftConfig,
) -> Result<MonitorReport, MonitorError> {
    let artifact = Artifact::load(model)?;
    let schema = Schema::new(artifact.feature_names(), artifact.feature_types());
    let c = capture::read_captures(capture_path, &schema)?;
    if c.rows.is_empty() {
        return Err(MonitorError::NoRows {
            records: c.records,
            skipped: c.skipped.len(),
        });
    }
    let drift = drift::compute(artifact.baseline(), &c.rows, config)?;
    let total: usize = c.predicted.values().sum();
    let mut classes: BTreeMap<String, ClassShare> = artifact
        .baseline()
        .predicted_class_distribution
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                ClassShare {
                    current: 0.0,
                    baseline: *v,
                },
            )
        })
        .collect();
    for class in artifact.classes() {
        classes.entry(class.clone()).or_insert(ClassShare {
            current: 0.0,
            baseline: 0.0,
        });
    }
    let mut unknown_predicted_labels = 0;
    for (k, n) in &c.predicted {
        match classes.get_mut(k) {
            Some(share) => share.current = *n as f64 / total as f64,
            None => unknown_predicted_labels += n,
        }
    }
    let mut skipped_by_reason = BTreeMap::new();
    for (_, _, e) in &c.skipped {
        *skipped_by_reason.entry(e.reason()).or_insert(0) += 1;
    }
    let report = MonitorReport {
        model_sha256: artifact.checksum().to_string(),
        capture_files: c.files,
        records: c.records,
        skipped_records: c.skipped.len(),
        skipped_by_reason,
        skipped: c
            .skipped
            .iter()
            .take(LISTED_SKIPS)
            .map(|(f, l, e)| SkippedRecord {
                file: f.clone(),
                line: *l,
                error: e.to_string(),
            })
            .collect(),
        drift,
        predicted_class_distribution: classes,
        unknown_predicted_labels,
    };
    let write = |source| MonitorError::Write {
        path: out.to_path_buf(),
        source,
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let mut text =
        serde_json::to_string_pretty(&report).map_err(|e| write(std::io::Error::other(e)))?;
    text.push('\n');
    std::fs::write(out, text).map_err(write)?;
    Ok(report)
}
