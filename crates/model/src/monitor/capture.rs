//! SageMaker data-capture files: JSON lines, one invocation per line, as
//! `{"captureData": {"endpointInput": {observedContentType, mode, data,
//! encoding}, "endpointOutput": {...}}, "eventMetadata": {...}, ...}` where
//! `encoding` is `CSV` or `JSON` (data is the payload text) or `BASE64`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use thiserror::Error;

use crate::data::RawValue;
use crate::wire::{InputError, InputFormat, Schema};

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no capture files (*.jsonl) found")]
    NoFiles(PathBuf),
}

/// Why one capture record was skipped. Messages are fixed text: capture
/// files hold client payloads, so no field of theirs is quoted.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RecordError {
    #[error("not a data-capture record: {0}")]
    NotCapture(&'static str),
    #[error("unsupported encoding (expected CSV, JSON or BASE64)")]
    Encoding,
    #[error("base64 data does not decode")]
    Base64,
    #[error("unsupported or missing content type")]
    ContentType,
    #[error("payload: {0}")]
    Payload(#[from] InputError),
}

impl RecordError {
    /// A fixed category, for counting skips by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::NotCapture(_) => "not_capture",
            RecordError::Encoding => "encoding",
            RecordError::Base64 => "base64",
            RecordError::ContentType => "content_type",
            RecordError::Payload(_) => "payload",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    capture_data: CaptureData,
}

/// A capture record as the ground-truth join reads it: its ids and the
/// response, not the request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputRecord {
    capture_data: OutputData,
    #[serde(default)]
    event_metadata: Option<EventMetadata>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputData {
    endpoint_output: Option<Payload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventMetadata {
    #[serde(default)]
    inference_id: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
}

/// The inference id of one capture line (the caller's `InferenceId` when it
/// set one, else SageMaker's `eventId`) and the predicted label of each row
/// of its response, in row order.
pub fn parse_predictions(line: &str) -> Result<(String, Vec<String>), RecordError> {
    let record: OutputRecord =
        serde_json::from_str(line).map_err(|e| RecordError::NotCapture(e.classify_name()))?;
    let id = record
        .event_metadata
        .and_then(|m| m.inference_id.or(m.event_id))
        .ok_or(RecordError::NotCapture("no inferenceId or eventId"))?;
    let output = record
        .capture_data
        .endpoint_output
        .ok_or(RecordError::NotCapture("no endpointOutput"))?;
    let (bytes, format) = output.decode()?;
    let labels = predicted_labels(&bytes, format);
    if labels.is_empty() {
        return Err(RecordError::NotCapture(
            "no predicted labels in endpointOutput",
        ));
    }
    Ok((id, labels))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaptureData {
    endpoint_input: Option<Payload>,
    endpoint_output: Option<Payload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    #[serde(default)]
    observed_content_type: Option<String>,
    data: String,
    #[serde(default)]
    encoding: Option<String>,
}

impl Payload {
    fn decode(&self) -> Result<(Vec<u8>, Option<InputFormat>), RecordError> {
        let encoding = self
            .encoding
            .as_deref()
            .unwrap_or("CSV")
            .to_ascii_uppercase();
        let bytes = match encoding.as_str() {
            "CSV" | "JSON" => self.data.as_bytes().to_vec(),
            "BASE64" => base64::engine::general_purpose::STANDARD
                .decode(self.data.trim())
                .map_err(|_| RecordError::Base64)?,
            _ => return Err(RecordError::Encoding),
        };
        let format = match self.observed_content_type.as_deref() {
            Some(ct) => InputFormat::from_content_type(ct),
            None => None,
        }
        .or(match encoding.as_str() {
            "CSV" => Some(InputFormat::Csv),
            "JSON" => Some(InputFormat::Json),
            _ => None,
        });
        Ok((bytes, format))
    }
}

/// Predicted labels in a response body the server wrote (JSON, JSON lines or CSV).
fn predicted_labels(bytes: &[u8], format: Option<InputFormat>) -> Vec<String> {
    let from_obj = |v: &serde_json::Value| {
        v.get("predicted_label")
            .and_then(|l| l.as_str())
            .map(str::to_string)
    };
    match format {
        Some(InputFormat::Json) => serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| {
                v.get("predictions")
                    .and_then(|p| p.as_array())
                    .map(|a| a.iter().filter_map(from_obj).collect())
            })
            .unwrap_or_default(),
        Some(InputFormat::JsonLines) => bytes
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
            .filter_map(|v| from_obj(&v))
            .collect(),
        Some(InputFormat::Csv) => {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(bytes);
            r.records()
                .filter_map(|rec| rec.ok().and_then(|rec| rec.get(0).map(str::to_string)))
                .collect()
        }
        None => Vec::new(),
    }
}

/// Rows and predicted labels gathered from capture files.
#[derive(Debug, Default)]
pub struct Captured {
    pub files: usize,
    pub records: usize,
    pub rows: Vec<Vec<RawValue>>,
    /// Predicted label → count, from the captured responses.
    pub predicted: BTreeMap<String, usize>,
    /// `(file, line, error)` of skipped records.
    pub skipped: Vec<(PathBuf, usize, RecordError)>,
}

/// Parses one capture line; returns its rows and predicted labels.
pub fn parse_record(
    line: &str,
    schema: &Schema,
) -> Result<(Vec<Vec<RawValue>>, Vec<String>), RecordError> {
    let record: Record =
        serde_json::from_str(line).map_err(|e| RecordError::NotCapture(e.classify_name()))?;
    let input = record
        .capture_data
        .endpoint_input
        .ok_or(RecordError::NotCapture("no endpointInput"))?;
    let (bytes, format) = input.decode()?;
    let format = format.ok_or(RecordError::ContentType)?;
    let rows = schema.parse(&bytes, format)?;
    let labels = match &record.capture_data.endpoint_output {
        Some(o) => o
            .decode()
            .map(|(b, f)| predicted_labels(&b, f))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok((rows, labels))
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "missing or mistyped fields",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

/// `path` itself when a file, else every `*.jsonl` file below it, sorted.
/// Links are not followed (a link to a parent folder would be walked
/// forever, or read the same files again) and the walk stops
/// [`crate::ingest::MAX_DEPTH`] folders deep; SageMaker's capture layout is
/// six (`endpoint/variant/yyyy/mm/dd/hh`).
pub fn capture_files(path: &Path) -> Result<Vec<PathBuf>, CaptureError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| CaptureError::Io { path: p, source }
    };
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![(path.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let p = entry.path();
            // The entry's own type: a link is neither a folder nor a file here.
            let kind = entry.file_type().map_err(io(&p))?;
            if kind.is_dir() && depth + 1 < crate::ingest::MAX_DEPTH {
                stack.push((p, depth + 1));
            } else if kind.is_file() && p.extension().is_some_and(|e| e == "jsonl") {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err(CaptureError::NoFiles(path.to_path_buf()));
    }
    out.sort();
    Ok(out)
}

/// Reads every capture file under `path`; bad records are skipped and listed.
pub fn read_captures(path: &Path, schema: &Schema) -> Result<Captured, CaptureError> {
    let mut c = Captured::default();
    for file in capture_files(path)? {
        let text = std::fs::read(&file).map_err(|source| CaptureError::Io {
            path: file.clone(),
            source,
        })?;
        c.files += 1;
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            c.records += 1;
            let parsed = std::str::from_utf8(line)
                .map_err(|_| RecordError::NotCapture("not UTF-8"))
                .and_then(|l| parse_record(l, schema));
            match parsed {
                Ok((rows, labels)) => {
                    c.rows.extend(rows);
                    for l in labels {
                        *c.predicted.entry(l).or_default() += 1;
                    }
                }
                Err(e) => c.skipped.push((file.clone(), i + 1, e)),
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxops_contract::data::FeatureType;

    fn schema() -> Schema {
        Schema::new(
            &["a".to_string(), "b".to_string()],
            &[FeatureType::Numeric, FeatureType::Categorical],
        )
    }

    fn record(ct: &str, data: &str, enc: &str, out: &str) -> String {
        serde_json::json!({
            "captureData": {
                "endpointInput": {"observedContentType": ct, "mode": "INPUT", "data": data, "encoding": enc},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": out, "encoding": "JSON"}
            },
            "eventMetadata": {"eventId": "e1", "inferenceTime": "2026-01-01T00:00:00Z"},
            "eventVersion": "0"
        })
        .to_string()
    }

    #[test]
    fn encodings() {
        let s = schema();
        let out = r#"{"predictions":[{"predicted_label":"yes"},{"predicted_label":"no"}]}"#;
        let (rows, labels) = parse_record(&record("text/csv", "1,x\n2,y", "CSV", out), &s).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(labels, vec!["yes", "no"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode("[[3, \"z\"]]");
        let (rows, _) = parse_record(&record("application/json", &b64, "BASE64", out), &s).unwrap();
        assert_eq!(
            rows[0],
            vec![RawValue::Number(3.0), RawValue::Text("z".into())]
        );
        let (rows, _) = parse_record(
            &record(
                "application/json",
                r#"{"instances":[{"a":4}]}"#,
                "JSON",
                out,
            ),
            &s,
        )
        .unwrap();
        assert_eq!(rows[0][0], RawValue::Number(4.0));
        assert_eq!(
            parse_record(&record("text/csv", "%%%", "BASE64", out), &s).unwrap_err(),
            RecordError::Base64
        );
        assert!(matches!(
            parse_record(&record("text/csv", "a,x", "CSV", out), &s),
            Err(RecordError::Payload(_))
        ));
        assert!(matches!(
            parse_record("{\"x\":1}", &s),
            Err(RecordError::NotCapture(_))
        ));
    }

    #[test]
    fn folder_walk() {
        let dir = std::env::temp_dir().join(format!("dxops-capture-{}", std::process::id()));
        let nested = dir.join("ep/AllTraffic/2026/01/01/00");
        std::fs::create_dir_all(&nested).unwrap();
        let out = r#"{"predictions":[{"predicted_label":"yes"}]}"#;
        let text = format!(
            "{}\nnot json\n{}\n",
            record("text/csv", "1,x", "CSV", out),
            record("text/csv", "2,y", "CSV", out)
        );
        std::fs::write(nested.join("a.jsonl"), text).unwrap();
        std::fs::write(nested.join("ignored.txt"), "x").unwrap();
        let c = read_captures(&dir, &schema()).unwrap();
        assert_eq!(
            (c.files, c.records, c.rows.len(), c.skipped.len()),
            (1, 3, 2, 1)
        );
        assert_eq!(c.skipped[0].1, 2);
        assert_eq!(c.predicted.get("yes"), Some(&2));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(capture_files(&dir), Err(CaptureError::Io { .. })));
    }

    #[test]
    fn links_into_loops_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("ep/AllTraffic/2026/01/01/00");
        std::fs::create_dir_all(&nested).unwrap();
        let out = r#"{"predictions":[{"predicted_label":"yes"}]}"#;
        std::fs::write(
            nested.join("a.jsonl"),
            record("text/csv", "1,x", "CSV", out),
        )
        .unwrap();
        // A folder linking to the capture root, and a link to the capture file.
        std::os::unix::fs::symlink(dir.path(), nested.join("again")).unwrap();
        std::os::unix::fs::symlink(nested.join("a.jsonl"), nested.join("b.jsonl")).unwrap();
        assert_eq!(
            capture_files(dir.path()).unwrap(),
            vec![nested.join("a.jsonl")]
        );
        let c = read_captures(dir.path(), &schema()).unwrap();
        assert_eq!((c.files, c.rows.len()), (1, 1));
    }
}
