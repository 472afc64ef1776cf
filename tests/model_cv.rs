//! End-to-end: `dxops-model cv` with the default configuration reaches the
//! acceptance thresholds on the vendored data sets, deterministically.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dxops-model");

fn data(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/data")
        .join(name)
}

fn cv(file: &str, threads: &str) -> Value {
    let out = Command::new(BIN)
        .args([
            "cv",
            "--data",
            data(file).to_str().unwrap(),
            "--label",
            "label",
        ])
        .env("DXOPS_THREADS", threads)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "cv prints one JSON object");
    serde_json::from_str(&text).unwrap()
}

fn without_time(mut v: Value) -> Value {
    let obj = v.as_object_mut().unwrap();
    assert!(obj.remove("fit_seconds").unwrap().as_f64().unwrap() > 0.0);
    obj.remove("threads");
    v
}

#[test]
fn breast_cancer_meets_thresholds_deterministically() {
    let a = cv("breast_cancer_wdbc.csv", "2");
    for key in [
        "accuracy",
        "macro_f1",
        "balanced_accuracy",
        "roc_auc",
        "worst_class_recall",
        "worst_class",
        "per_class",
        "fit_seconds",
    ] {
        assert!(a.get(key).is_some(), "{key} missing");
    }
    assert!(a["macro_f1"].as_f64().unwrap() >= 0.970, "{a}");
    assert!(a["worst_class_recall"].as_f64().unwrap() >= 0.958, "{a}");
    let b = cv("breast_cancer_wdbc.csv", "1");
    assert_eq!(without_time(a), without_time(b));
}

#[test]
fn heart_disease_meets_thresholds() {
    let a = cv("heart_disease_uci.csv", "2");
    assert_eq!(a["per_class"].as_array().unwrap().len(), 5);
    assert!(a["macro_f1"].as_f64().unwrap() >= 0.368, "{a}");
    assert!(a["worst_class_recall"].as_f64().unwrap() >= 0.193, "{a}");
}
