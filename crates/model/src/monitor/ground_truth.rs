//! Live quality from ground truth (`dxops-model monitor --ground-truth DIR`):
//! confirmed diagnoses, JSON lines `{"inferenceId": "...", "row": 0,
//! "label": "..."}` (`row` defaults to 0), joined to the predictions of
//! SageMaker's data-capture files by inference id and row, as SageMaker's
//! model-quality monitoring joins ground truth to captured predictions.
//! Macro-F1 and the worst class recall of the joined rows are the
//! `LiveMacroF1` and `LiveWorstClassRecall` metrics the server emits from
//! `POST /feedback`; [`emf_lines`] writes them with the server's names.
//!
//! Labels and predictions are patient data: the report holds counts,
//! files and line numbers only. A label that is not one of the model's
//! classes, a label for a prediction that was never captured, and a second
//! label for the same row are counted, never echoed.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use super::capture::{self, CaptureError, RecordError};
use crate::metrics;

/// Captured rows kept for the join; rows beyond it are counted, not joined.
pub const MAX_PREDICTIONS: usize = 5_000_000;
/// Longest inference id accepted (SageMaker allows 64 characters).
pub const MAX_ID_BYTES: usize = 256;
/// Largest `row` accepted (the server answers at most this many rows).
pub const MAX_ROW: usize = 100_000;

#[derive(Debug, Error)]
pub enum GroundTruthError {
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no ground-truth files (*.jsonl) found")]
    NoGroundTruth(PathBuf),
    #[error("the model has no classes")]
    NoClasses,
}

/// A line that was skipped, by file and line, with a fixed reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedLine {
    pub file: PathBuf,
    pub line: usize,
    pub reason: &'static str,
}

/// The live metrics of the joined rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LiveQuality {
    pub macro_f1: f64,
    pub worst_class_recall: f64,
    pub labelled_rows: usize,
}

/// What the join read and matched; counts only.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroundTruthReport {
    pub capture_files: usize,
    pub capture_records: usize,
    /// Captured rows with a predicted label, by inference id and row.
    pub predictions: usize,
    /// Captured records whose inference id was seen before (the later one is ignored).
    pub duplicate_predictions: usize,
    /// Captured rows beyond [`MAX_PREDICTIONS`].
    pub predictions_over_limit: usize,
    /// Captured rows whose predicted label is not one of the model's classes.
    pub unknown_predictions: usize,
    pub ground_truth_files: usize,
    pub ground_truth_lines: usize,
    /// Labels joined to a captured prediction.
    pub matched: usize,
    /// Labels for an inference id and row that no capture holds.
    pub unmatched: usize,
    /// Labels that are not one of the model's classes.
    pub unknown_labels: usize,
    /// Further labels for a row already labelled: the last one counts.
    pub duplicate_labels: usize,
    pub skipped: Vec<SkippedLine>,
    /// `None` when no label joined.
    pub live: Option<LiveQuality>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Label {
    inference_id: String,
    #[serde(default)]
    row: usize,
    label: String,
}

/// Joins the ground truth under `ground_truth` to the captures under
/// `capture` for a model with `classes`.
pub fn join(
    capture: &Path,
    ground_truth: &Path,
    classes: &[String],
) -> Result<GroundTruthReport, GroundTruthError> {
    if classes.is_empty() {
        return Err(GroundTruthError::NoClasses);
    }
    let class_of: HashMap<&str, u16> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u16))
        .collect();
    let mut report = GroundTruthReport::default();

    // (inference id, row) → predicted class.
    let mut predicted: HashMap<(String, usize), u16> = HashMap::new();
    let mut seen_ids: HashMap<String, ()> = HashMap::new();
    for file in capture::capture_files(capture)? {
        report.capture_files += 1;
        for (n, line) in read_lines(&file)? {
            report.capture_records += 1;
            let parsed = std::str::from_utf8(&line)
                .map_err(|_| RecordError::NotCapture("not UTF-8"))
                .and_then(capture::parse_predictions);
            let (id, labels) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    report.skipped.push(skip(&file, n, e.reason()));
                    continue;
                }
            };
            if id.len() > MAX_ID_BYTES {
                report.skipped.push(skip(&file, n, "inference id too long"));
                continue;
            }
            if seen_ids.insert(id.clone(), ()).is_some() {
                report.duplicate_predictions += 1;
                continue;
            }
            for (row, label) in labels.iter().enumerate() {
                let Some(&class) = class_of.get(label.as_str()) else {
                    report.unknown_predictions += 1;
                    continue;
                };
                if predicted.len() >= MAX_PREDICTIONS {
                    report.predictions_over_limit += 1;
                    continue;
                }
                predicted.insert((id.clone(), row), class);
                report.predictions += 1;
            }
        }
    }

    // (inference id, row) → (true class, predicted class); the last label wins.
    let mut joined: HashMap<(String, usize), (u16, u16)> = HashMap::new();
    let files = jsonl_files(ground_truth)?;
    for file in files {
        report.ground_truth_files += 1;
        for (n, line) in read_lines(&file)? {
            report.ground_truth_lines += 1;
            let Ok(l) = serde_json::from_slice::<Label>(&line) else {
                report
                    .skipped
                    .push(skip(&file, n, "not a ground-truth line"));
                continue;
            };
            if l.inference_id.len() > MAX_ID_BYTES || l.row > MAX_ROW {
                report
                    .skipped
                    .push(skip(&file, n, "inference id or row out of bounds"));
                continue;
            }
            let Some(&truth) = class_of.get(l.label.as_str()) else {
                report.unknown_labels += 1;
                continue;
            };
            let key = (l.inference_id, l.row);
            let Some(&prediction) = predicted.get(&key) else {
                report.unmatched += 1;
                continue;
            };
            match joined.entry(key) {
                Entry::Occupied(mut e) => {
                    report.duplicate_labels += 1;
                    e.insert((truth, prediction));
                }
                Entry::Vacant(e) => {
                    e.insert((truth, prediction));
                }
            }
        }
    }
    report.matched = joined.len();
    report.live = live(joined.values().copied(), classes);
    Ok(report)
}

/// Macro-F1 and worst class recall of (true, predicted) pairs, computed as
/// the evaluation step and the server compute them.
fn live(pairs: impl Iterator<Item = (u16, u16)>, classes: &[String]) -> Option<LiveQuality> {
    let mut pairs: Vec<(u16, u16)> = pairs.collect();
    if pairs.is_empty() {
        return None;
    }
    // The map's order is arbitrary; the metrics do not depend on it, but the
    // inputs are sorted so the computation is the same on every run.
    pairs.sort_unstable();
    let k = classes.len();
    let y: Vec<usize> = pairs.iter().map(|&(t, _)| usize::from(t)).collect();
    let proba: Vec<Vec<f64>> = pairs
        .iter()
        .map(|&(_, p)| {
            (0..k)
                .map(|c| f64::from(u8::from(c == usize::from(p))))
                .collect()
        })
        .collect();
    let m = metrics::compute(&y, &proba, classes);
    Some(LiveQuality {
        macro_f1: m.macro_f1,
        worst_class_recall: m.worst_class_recall,
        labelled_rows: y.len(),
    })
}

/// CloudWatch embedded-metric-format lines of the live metrics, with the
/// server's metric names, namespace and `Endpoint` dimension; none when no
/// label joined.
pub fn emf_lines(
    report: &GroundTruthReport,
    namespace: &str,
    endpoint: &str,
    timestamp_ms: u64,
) -> Vec<String> {
    let Some(l) = report.live else {
        return Vec::new();
    };
    let doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Endpoint"]],
                "Metrics": [
                    {"Name": "LiveMacroF1", "Unit": "None"},
                    {"Name": "LiveWorstClassRecall", "Unit": "None"},
                    {"Name": "LiveLabelledRows", "Unit": "Count"}
                ]
            }]
        },
        "Endpoint": endpoint,
        "LiveMacroF1": l.macro_f1,
        "LiveWorstClassRecall": l.worst_class_recall,
        "LiveLabelledRows": l.labelled_rows,
    });
    vec![doc.to_string()]
}

fn skip(file: &Path, line: usize, reason: &'static str) -> SkippedLine {
    SkippedLine {
        file: file.to_path_buf(),
        line,
        reason,
    }
}

/// The ground-truth files: `path` itself, or every `*.jsonl` below it
/// (links not followed), sorted, so later hours come last.
fn jsonl_files(path: &Path) -> Result<Vec<PathBuf>, GroundTruthError> {
    match capture::capture_files(path) {
        Ok(files) => Ok(files),
        Err(CaptureError::NoFiles(p)) => Err(GroundTruthError::NoGroundTruth(p)),
        Err(CaptureError::Io { path, source }) => Err(GroundTruthError::Io { path, source }),
    }
}

/// Non-blank lines of a file with their 1-based numbers.
fn read_lines(file: &Path) -> Result<Vec<(usize, Vec<u8>)>, GroundTruthError> {
    let bytes = std::fs::read(file).map_err(|source| GroundTruthError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    Ok(bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .map(|(i, l)| (i + 1, l.to_vec()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        vec!["healthy".into(), "lupus".into()]
    }

    fn capture_line(id: &str, predicted: &[&str]) -> String {
        let out = json!({"predictions": predicted.iter().map(|p| json!({"predicted_label": p})).collect::<Vec<_>>()});
        json!({
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2", "encoding": "CSV"},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": out.to_string(), "encoding": "JSON"}
            },
            "eventMetadata": {"eventId": format!("e-{id}"), "inferenceId": id, "inferenceTime": "2026-01-01T00:00:00Z"},
            "eventVersion": "0"
        })
        .to_string()
    }

    fn write(dir: &Path, rel: &str, lines: &[String]) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn labels_join_captured_predictions_by_inference_id_and_row() {
        let tmp = tempfile::tempdir().unwrap();
        let cap = tmp.path().join("capture");
        let gt = tmp.path().join("ground-truth");
        write(
            &cap,
            "ep/AllTraffic/2026/01/01/00/a.jsonl",
            &[
                capture_line("a", &["healthy", "lupus", "lupus"]),
                capture_line("b", &["healthy"]),
                // The same id again: ignored and counted.
                capture_line("b", &["lupus"]),
                // A predicted label the model does not have.
                capture_line("c", &["XMARKERX"]),
                "not json XMARKERX".into(),
            ],
        );
        write(
            &gt,
            "2026/01/01/00/labels.jsonl",
            &[
                r#"{"inferenceId": "a", "row": 0, "label": "healthy"}"#.into(),
                r#"{"inferenceId": "a", "row": 1, "label": "lupus"}"#.into(),
                r#"{"inferenceId": "a", "row": 2, "label": "lupus"}"#.into(),
                r#"{"inferenceId": "b", "label": "lupus"}"#.into(),
                r#"{"inferenceId": "b", "row": 7, "label": "healthy"}"#.into(),
                r#"{"inferenceId": "XMARKERX", "label": "healthy"}"#.into(),
                r#"{"inferenceId": "a", "label": "XMARKERX"}"#.into(),
                r#"{"inferenceId": "a", "label": "healthy", "extra": "XMARKERX"}"#.into(),
            ],
        );
        // A later file corrects a label: the last one counts.
        write(
            &gt,
            "2026/01/01/01/labels.jsonl",
            &[r#"{"inferenceId": "a", "row": 2, "label": "healthy"}"#.into()],
        );
        let r = join(&cap, &gt, &classes()).unwrap();
        assert_eq!(r.capture_files, 1);
        assert_eq!(r.capture_records, 5);
        assert_eq!(r.predictions, 4);
        assert_eq!(r.duplicate_predictions, 1);
        assert_eq!(r.unknown_predictions, 1);
        assert_eq!(r.ground_truth_files, 2);
        assert_eq!(r.ground_truth_lines, 9);
        assert_eq!(r.matched, 4);
        assert_eq!(r.unmatched, 2);
        assert_eq!(r.unknown_labels, 1);
        assert_eq!(r.duplicate_labels, 1);
        assert_eq!(r.skipped.len(), 2);
        // Joined (truth, predicted): a0 (h,h), a1 (l,l), a2 (h,l), b0 (l,h).
        // healthy: recall 1/2, precision 1/2; lupus: recall 1/2, precision 1/2.
        let live = r.live.unwrap();
        assert_eq!(live.labelled_rows, 4);
        assert!((live.worst_class_recall - 0.5).abs() < 1e-12);
        assert!((live.macro_f1 - 0.5).abs() < 1e-12);

        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("XMARKERX"), "{text}");
        assert!(
            !text.contains("lupus") && !text.contains("healthy"),
            "{text}"
        );
        let lines = emf_lines(&r, "dxops", "ep", 1);
        assert_eq!(lines.len(), 1);
        let emf: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "dxops");
        assert_eq!(emf["Endpoint"], "ep");
        assert_eq!(emf["LiveMacroF1"], 0.5);
        assert_eq!(emf["LiveWorstClassRecall"], 0.5);
        assert!(!lines[0].contains("XMARKERX") && !lines[0].contains("lupus"));
    }

    #[test]
    fn no_joined_label_means_no_metric() {
        let tmp = tempfile::tempdir().unwrap();
        let cap = tmp.path().join("capture");
        let gt = tmp.path().join("gt");
        write(&cap, "a.jsonl", &[capture_line("a", &["healthy"])]);
        write(
            &gt,
            "l.jsonl",
            &[r#"{"inferenceId": "zzz", "label": "healthy"}"#.into()],
        );
        let r = join(&cap, &gt, &classes()).unwrap();
        assert_eq!((r.matched, r.unmatched), (0, 1));
        assert_eq!(r.live, None);
        assert!(emf_lines(&r, "dxops", "ep", 1).is_empty());
        std::fs::remove_file(gt.join("l.jsonl")).unwrap();
        assert!(matches!(
            join(&cap, &gt, &classes()),
            Err(GroundTruthError::NoGroundTruth(_))
        ));
    }
}
