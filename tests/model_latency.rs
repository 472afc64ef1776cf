//! Single-row prediction latency through the public artifact API, the way
//! the inference server will call it. Ignored by default (timing is only
//! meaningful in a release build):
//! `cargo test --release --test model_latency -- --ignored --nocapture`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use dxops_ml::artifact::{Artifact, RawValue};

#[test]
#[ignore]
fn single_row_latency() {
    let tmp = tempfile::tempdir().unwrap();
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/data/heart_disease_uci.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_dxops-model"))
        .args([
            "train",
            "--ml-root",
            tmp.path().to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--label",
            "label",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = Artifact::load(&tmp.path().join("model")).unwrap();
    let text = std::fs::read_to_string(&data).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let rows: Vec<Vec<RawValue>> = text
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            a.feature_names()
                .iter()
                .map(|f| {
                    let j = header.iter().position(|h| h == f).unwrap();
                    cells[j]
                        .parse::<f64>()
                        .map_or(RawValue::Missing, RawValue::Number)
                })
                .collect()
        })
        .collect();
    let n = 20_000;
    let start = Instant::now();
    let mut checksum = 0.0;
    for i in 0..n {
        let p = a
            .predict_proba(std::slice::from_ref(&rows[i % rows.len()]))
            .unwrap();
        checksum += p[0][0];
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("single-row predict_proba: {micros:.1} µs per row (checksum {checksum:.3})");
    assert!(checksum > 0.0);
    // The server's batches: 100 rows per call.
    let batches = 200;
    let start = Instant::now();
    let mut batch_sum = 0.0;
    for b in 0..batches {
        let at = (b * 100) % (rows.len() - 100);
        let p = a.predict_proba(&rows[at..at + 100]).unwrap();
        batch_sum += p.iter().map(|r| r[0]).sum::<f64>();
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / (batches * 100) as f64;
    println!("100-row batches: {micros:.1} µs per row (checksum {batch_sum:.3})");
    assert!(batch_sum > 0.0);
}
