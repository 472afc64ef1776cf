//! End-to-end: bad input ends with a clear message (in `output/failure` for
//! SageMaker steps) and a non-zero exit, never a panic.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_dxops-model");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DXOPS_ML_ROOT")
        .output()
        .unwrap()
}

/// Runs `train` on `csv` and returns the failure message.
fn train_failure(csv: &str, hp: Option<&str>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let root = tmp.path().join("ml");
    let mut args = vec![
        "train",
        "--ml-root",
        root.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    let hp_path = tmp.path().join("hp.json");
    if let Some(h) = hp {
        std::fs::write(&hp_path, h).unwrap();
        args.extend(["--hyperparameters", hp_path.to_str().unwrap()]);
    }
    let out = run(&args);
    assert!(!out.status.success(), "expected failure for {csv:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let failure =
        std::fs::read_to_string(root.join("output/failure")).expect("output/failure written");
    assert!(
        stderr.contains(failure.trim()),
        "stderr and failure differ: {stderr} / {failure}"
    );
    failure
}

fn rows(n: usize) -> String {
    (0..n)
        .map(|i| format!("{},{},{}\n", i, i % 7, i % 2))
        .collect()
}

#[test]
fn missing_label_column() {
    let f = train_failure(&format!("a,b,diagnosis\n{}", rows(20)), None);
    assert!(f.contains("label column `label` not found"), "{f}");
}

#[test]
fn text_in_a_numeric_column() {
    let mut csv = format!("a,b,label\n{}", rows(20));
    csv.push_str("high,3,1\n");
    let f = train_failure(&csv, None);
    assert!(f.contains("column `a`") && f.contains("row 21"), "{f}");
    assert!(
        !f.contains("high"),
        "patient value leaked into the failure: {f}"
    );
}

#[test]
fn class_with_one_sample() {
    let mut csv = format!("a,b,label\n{}", rows(20));
    csv.push_str("5,5,2\n");
    let f = train_failure(&csv, None);
    // Named by place, not by label: a label is a diagnosis.
    assert!(
        f.contains("class 3 of 3 (in sorted label order) has 1 sample"),
        "{f}"
    );
}

#[test]
fn empty_file() {
    let f = train_failure("", None);
    assert!(f.contains("empty"), "{f}");
    let f = train_failure("a,b,label\n", None);
    assert!(f.contains("no data rows"), "{f}");
}

#[test]
fn hyperparameter_of_the_wrong_type() {
    let f = train_failure(
        &format!("a,b,label\n{}", rows(20)),
        Some(r#"{"n_trees": "many"}"#),
    );
    assert!(
        f.contains("n_trees") && f.contains("many") && f.contains("integer"),
        "{f}"
    );
    let f = train_failure(
        &format!("a,b,label\n{}", rows(20)),
        Some(r#"{"depth": "3"}"#),
    );
    assert!(f.contains("unknown hyperparameter `depth`"), "{f}");
}

#[test]
fn cv_errors_exit_non_zero_without_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("d.csv");
    std::fs::write(&p, "a,label\n1,0\n2,1\n").unwrap();
    let out = run(&["cv", "--data", p.to_str().unwrap()]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("needs at least 5") && !e.contains("panicked"),
        "{e}"
    );
}

#[test]
fn quality_violation_fails_processing_with_report() {
    let tmp = tempfile::tempdir().unwrap();
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/data/breast_cancer_wdbc.csv");
    let cfg = tmp.path().join("process.json");
    let contract = serde_json::json!({
        "label": "label", "identifiers": [], "identifier_handling": "drop", "features": [],
        "quality": [{"rule": "range", "column": "mean_area", "min": 0.0, "max": 1000.0},
                    {"rule": "row_count", "min": 1000.0}],
        "rare_class_max_samples": 50, "split": {"validation": 0.15, "test": 0.15, "seed": 42}
    });
    std::fs::write(&cfg, contract.to_string()).unwrap();
    let root = tmp.path().join("p");
    let out = run(&[
        "process",
        "--ml-root",
        root.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let failure = std::fs::read_to_string(root.join("output/failure")).unwrap();
    assert!(
        failure.contains("mean_area") && failure.contains("row count"),
        "{failure}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("output/quality/quality.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["passed"], false);
    assert!(!root.join("output/train/data.csv").exists());
}

#[test]
fn corrupt_model_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    std::fs::create_dir_all(root.join("model")).unwrap();
    std::fs::write(
        root.join("model/dxops-model.bin"),
        b"DXOPSMDL\x01\x00\x00\x00garbage",
    )
    .unwrap();
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/data/breast_cancer_wdbc.csv");
    let out = run(&[
        "evaluate",
        "--ml-root",
        root.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let failure = std::fs::read_to_string(root.join("output/failure")).unwrap();
    assert!(failure.contains("corrupt"), "{failure}");
}

/// `monitor` exits 2 on drift: a usage error must not look like drift.
#[test]
fn usage_errors_exit_1() {
    for args in [
        &["monitor"][..],
        &["monitor", "--capture", "x", "--no-such-flag"],
        &["serve", "--port", "not-a-port"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    assert_eq!(run(&["--help"]).status.code(), Some(0));
}
