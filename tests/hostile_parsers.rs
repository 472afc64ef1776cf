//! Property suite over every parser that reads client or patient data: the
//! server's request bodies (CSV, JSON, JSON lines), data-capture lines, the
//! training CSV reader and the ETL of ingested records.
//!
//! Inputs are built from fragments that parsers trip on (quotes, brackets,
//! separators, huge and non-finite numbers, invalid UTF-8, deep nesting)
//! with a marker planted where a value, a key, a content type or an encoding
//! would be. The invariants: no panic; results stay within the documented
//! bounds; and the marker never comes back in an error, a skipped-record
//! reason or a summary, because whatever a client sends is patient data.
//!
//! The case count is fixed and the seed deterministic, so CI spends the
//! same few seconds on every run; `PROPTEST_CASES` raises it locally.

use std::path::Path;

use base64::Engine as _;
use dxops_contract::data::FeatureType;
use dxops_ml::data::{Dataset, Table};
use dxops_ml::ingest::read_records;
use dxops_ml::monitor::capture::{parse_record, read_captures};
use dxops_ml::wire::{InputFormat, Schema};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const MARK: &str = "XMARKERX";

/// Fragments that exercise every branch of the JSON and CSV grammars.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    " ",
    "\n",
    "\r\n",
    "\"instances\"",
    "\"features\"",
    "\"age\"",
    "\"sex\"",
    "\"fever\"",
    "\"XMARKERX\"",
    "\"XMARKERX\":",
    "XMARKERX",
    "1",
    "-2.5e3",
    "1e999",
    "NaN",
    "-Infinity",
    "null",
    "true",
    "\"\\u00e9\"",
    "\"\\ud800\"",
    "NA",
    "?",
    "[[[[[[[[[[[[[[[[",
    "{\"a\":{\"b\":{\"c\":",
];

fn soup(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        8 => proptest::sample::select(FRAGMENTS).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..4),
    ];
    proptest::collection::vec(piece, 0..max).prop_map(|p| p.concat())
}

/// A well-formed request with the marker in one value or key: the cases
/// that reach deepest into the parsers.
fn planted() -> impl Strategy<Value = (Vec<u8>, InputFormat)> {
    let value = prop_oneof![
        Just("41".to_string()),
        Just("\"F\"".to_string()),
        Just(format!("\"{MARK}\"")),
        Just("null".to_string()),
        Just(format!("[\"{MARK}\"]")),
        Just(format!("{{\"{MARK}\": 1}}")),
    ];
    let key = prop_oneof![
        Just("age".to_string()),
        Just("sex".to_string()),
        Just(MARK.to_string())
    ];
    (
        proptest::collection::vec((key, value.clone()), 1..4),
        proptest::collection::vec(value, 1..5),
        0..4usize,
    )
        .prop_map(|(pairs, list, shape)| {
            let object = format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("\"{k}\": {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let array = format!("[{}]", list.join(", "));
            match shape {
                0 => (
                    format!("{{\"instances\": [{object}, {array}]}}").into_bytes(),
                    InputFormat::Json,
                ),
                1 => (
                    format!("[{{\"features\": {array}}}]").into_bytes(),
                    InputFormat::Json,
                ),
                2 => (
                    format!("{object}\n{array}\n").into_bytes(),
                    InputFormat::JsonLines,
                ),
                _ => (
                    list.iter()
                        .map(|v| v.trim_matches('"'))
                        .collect::<Vec<_>>()
                        .join(",")
                        .into_bytes(),
                    InputFormat::Csv,
                ),
            }
        })
}

fn schema() -> Schema {
    let names: Vec<String> = ["age", "sex", "fever"].map(String::from).to_vec();
    Schema::new(
        &names,
        &[
            FeatureType::Numeric,
            FeatureType::Categorical,
            FeatureType::Boolean,
        ],
    )
    .with_max_rows(64)
}

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400);
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    )
}

fn format_of(i: u8) -> InputFormat {
    [InputFormat::Csv, InputFormat::Json, InputFormat::JsonLines][usize::from(i % 3)]
}

/// The schema's own invariants on a parse result.
fn check_parse(schema: &Schema, body: &[u8], format: InputFormat) -> Result<(), TestCaseError> {
    match schema.parse(body, format) {
        Ok(rows) => {
            prop_assert!(!rows.is_empty() && rows.len() <= schema.max_rows());
            prop_assert!(rows.iter().all(|r| r.len() == schema.width()));
        }
        Err(e) => {
            let text = e.to_string();
            prop_assert!(!text.contains(MARK), "echoed: {text}");
            if let Some(column) = e.column() {
                prop_assert!(schema.names().iter().any(|n| n == column));
            }
        }
    }
    Ok(())
}

#[test]
fn request_bodies_never_panic_overflow_or_echo() {
    let schema = schema();
    runner()
        .run(&(soup(48), any::<u8>()), |(body, f)| {
            check_parse(&schema, &body, format_of(f))
        })
        .unwrap();
    runner()
        .run(&planted(), |(body, format)| {
            check_parse(&schema, &body, format)
        })
        .unwrap();
}

#[test]
fn deep_nesting_and_row_floods_are_refused_not_followed() {
    let schema = schema();
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    assert!(schema.parse(deep.as_bytes(), InputFormat::Json).is_err());
    let flood = "{}".repeat(1_000).replace("}{", "},{");
    let flood = format!("[{flood}]");
    assert!(schema.parse(flood.as_bytes(), InputFormat::Json).is_err());
    let rows = "1,F,0\n".repeat(65);
    assert!(schema.parse(rows.as_bytes(), InputFormat::Csv).is_err());
}

/// One data-capture line as SageMaker writes it, with hostile parts.
fn capture_line() -> impl Strategy<Value = String> {
    let content_type = proptest::sample::select(vec![
        "text/csv",
        "application/json",
        "application/jsonlines",
        "XMARKERX",
        "",
    ]);
    let encoding = proptest::sample::select(vec!["CSV", "JSON", "BASE64", "base64", "XMARKERX"]);
    (
        content_type,
        encoding,
        prop_oneof![soup(24), planted().prop_map(|(b, _)| b)],
        soup(12),
        any::<bool>(),
    )
        .prop_map(|(ct, enc, data, output, raw)| {
            if raw {
                return String::from_utf8_lossy(&data).replace('\n', " ");
            }
            let data = if enc.eq_ignore_ascii_case("base64") {
                base64::engine::general_purpose::STANDARD.encode(&data)
            } else {
                String::from_utf8_lossy(&data).into_owned()
            };
            serde_json::json!({
                "captureData": {
                    "endpointInput": {
                        "observedContentType": ct, "mode": "INPUT", "data": data, "encoding": enc
                    },
                    "endpointOutput": {
                        "observedContentType": "application/json", "mode": "OUTPUT",
                        "data": String::from_utf8_lossy(&output), "encoding": "JSON"
                    }
                },
                "eventMetadata": { "eventId": MARK, "inferenceTime": "2026-01-01T00:00:00Z" },
                "eventVersion": "0"
            })
            .to_string()
        })
}

#[test]
fn capture_lines_never_panic_or_echo() {
    let schema = schema();
    runner()
        .run(&proptest::collection::vec(capture_line(), 1..8), |lines| {
            for line in &lines {
                if let Err(e) = parse_record(line, &schema) {
                    let text = e.to_string();
                    prop_assert!(!text.contains(MARK), "echoed: {text}");
                }
            }
            // The folder reader over the same lines: skips name file and line only.
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("capture.jsonl"), lines.join("\n")).unwrap();
            let captured = read_captures(dir.path(), &schema).unwrap();
            prop_assert!(captured.skipped.len() <= captured.records);
            prop_assert!(captured.records <= lines.len());
            let reasons = format!("{:?}", captured.skipped);
            prop_assert!(!reasons.contains(MARK), "echoed: {reasons}");
            Ok(())
        })
        .unwrap();
}

/// A training CSV: a fixed header, then rows of hostile cells.
fn training_csv() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        4 => proptest::sample::select(vec!["1", "2.5", "", "NA", "F", "healthy", "flu", "1e999", "NaN", MARK, "\"", "\"a,b\"", " "]).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..3),
    ];
    let row = proptest::collection::vec(cell, 1..6).prop_map(|cells| cells.join(&b","[..]));
    proptest::collection::vec(row, 0..12).prop_map(|rows| {
        let mut out = b"age,sex,diagnosis\n".to_vec();
        out.extend(rows.join(&b"\n"[..]));
        out
    })
}

#[test]
fn training_csv_cells_are_never_echoed() {
    runner()
        .run(&training_csv(), |bytes| {
            match Table::parse(&bytes, Path::new("train.csv")) {
                Err(e) => prop_assert!(!e.to_string().contains(MARK), "echoed: {e}"),
                Ok(table) => {
                    prop_assert!(table.rows.iter().all(|r| r.len() == table.headers.len()));
                    if let Err(e) = Dataset::from_table(&table, "diagnosis", &[]) {
                        prop_assert!(!e.to_string().contains(MARK), "echoed: {e}");
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Files as ingest leaves them, under the folders S3 would deliver.
fn ingested_files() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = proptest::sample::select(vec![
        "api/a.json",
        "api/b.json",
        "iot/devices/ward-1/vitals/1-x.json",
        "batch/part.jsonl",
        "batch/part.csv",
        "notes.txt",
    ]);
    let body = prop_oneof![soup(32), planted().prop_map(|(b, _)| b), training_csv()];
    proptest::collection::vec((name, body), 1..6)
        .prop_map(|files| files.into_iter().map(|(n, b)| (n.to_string(), b)).collect())
}

#[test]
fn ingested_records_are_counted_never_echoed() {
    runner()
        .run(&ingested_files(), |files| {
            let dir = tempfile::tempdir().unwrap();
            for (name, body) in &files {
                let path = dir.path().join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, body).unwrap();
            }
            match read_records(dir.path()) {
                Err(e) => prop_assert!(!e.to_string().contains(MARK), "echoed: {e}"),
                Ok(ingested) => {
                    let summary = serde_json::to_string(&ingested.summary).unwrap();
                    prop_assert!(!summary.contains(MARK), "echoed: {summary}");
                    prop_assert!(ingested.summary.records >= ingested.table.rows.len());
                    if let Err(e) = Dataset::from_table(&ingested.table, "diagnosis", &[]) {
                        prop_assert!(!e.to_string().contains(MARK), "echoed: {e}");
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
