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
    cv_with(file, threads, &[])
}

/// `cv` with extra hyperparameters (written to a file for `--hyperparameters`).
fn cv_with(file: &str, threads: &str, hyperparameters: &[(&str, &str)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let hp = dir.path().join("hyperparameters.json");
    let map: serde_json::Map<String, Value> = hyperparameters
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    std::fs::write(&hp, Value::Object(map).to_string()).unwrap();
    let out = Command::new(BIN)
        .args([
            "cv",
            "--data",
            data(file).to_str().unwrap(),
            "--label",
            "label",
            "--hyperparameters",
            hp.to_str().unwrap(),
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
    // 0.976 before the cheaper defaults, 0.970 with them (README, Benchmark).
    assert!(a["macro_f1"].as_f64().unwrap() >= 0.965, "{a}");
    assert!(a["worst_class_recall"].as_f64().unwrap() >= 0.958, "{a}");
    let b = cv("breast_cancer_wdbc.csv", "1");
    assert_eq!(without_time(a), without_time(b));
}

#[test]
fn heart_disease_meets_thresholds() {
    let a = cv("heart_disease_uci.csv", "2");
    assert_eq!(a["per_class"].as_array().unwrap().len(), 5);
    assert!(a["macro_f1"].as_f64().unwrap() >= 0.368, "{a}");
    // 0.211 before the cheaper defaults, 0.193 with them: two patients of
    // the 109 in the worst class (README, Benchmark).
    assert!(a["worst_class_recall"].as_f64().unwrap() >= 0.19, "{a}");
}

/// `(macro-F1, worst-class recall, balanced accuracy)` of a `cv` result.
fn scores(v: &Value) -> (f64, f64, f64) {
    let f = |k: &str| v[k].as_f64().unwrap();
    (
        f("macro_f1"),
        f("worst_class_recall"),
        f("balanced_accuracy"),
    )
}

/// The five sets from Debian's R data packages: thresholds a little below
/// what the defaults reach (README, Benchmark), so a regression fails.
#[test]
fn debian_r_sets_meet_thresholds() {
    for (file, min_f1, min_worst, min_balanced) in [
        // Horse colic, soybean and pneumon_hosp lost worst-class recall to
        // the cheaper defaults (README, Benchmark: the trade in numbers);
        // pneumon_hosp and flchain gained macro-F1.
        ("horse_colic.csv", 0.57, 0.39, 0.59),
        ("soybean.csv", 0.96, 0.70, 0.96),
        ("wcgs_chd.csv", 0.53, 0.62, 0.66),
        ("pneumon_hosp.csv", 0.47, 0.39, 0.60),
        // Fourteen causes of death with very weak signal: no model recalls
        // every class, so the floor is on balanced accuracy (chance: 1/14).
        ("flchain_death_cause.csv", 0.11, 0.0, 0.14),
    ] {
        let v = cv(file, "2");
        let (f1, worst, balanced) = scores(&v);
        assert!(
            f1 >= min_f1 && worst >= min_worst && balanced >= min_balanced,
            "{file}: macro-F1 {f1:.3}, worst-class recall {worst:.3}, balanced accuracy {balanced:.3}"
        );
        let brier = v["brier"].as_f64().unwrap();
        assert!((0.0..2.0).contains(&brier), "{file}: Brier {brier}");
    }
}

/// No shipped set's inner folds reach the default split sample (2,048
/// rows). With 512 or 1,024 the boosting trees of the three largest sets
/// search their splits on a sample in every fold; macro-F1 and balanced
/// accuracy stay within what the folds' noise moves them by (README,
/// Models and defaults: the figures).
#[test]
fn split_sampling_costs_little_where_it_applies() {
    for file in [
        "wcgs_chd.csv",
        "pneumon_hosp.csv",
        "flchain_death_cause.csv",
    ] {
        let exact = cv(file, "2");
        let (f1, _, balanced) = scores(&exact);
        for budget in ["512", "1024"] {
            let sampled = cv_with(file, "2", &[("split_sample_rows", budget)]);
            let (sf1, _, sbalanced) = scores(&sampled);
            assert!(
                sf1 >= f1 - 0.015 && sbalanced >= balanced - 0.02,
                "{file}, {budget} rows: macro-F1 {sf1:.3} (exact {f1:.3}), balanced accuracy {sbalanced:.3} (exact {balanced:.3})"
            );
            assert_ne!(
                without_time(sampled.clone()),
                without_time(exact.clone()),
                "{file}, {budget} rows: the sample was drawn"
            );
            if budget == "512" {
                let one_thread = cv_with(file, "1", &[("split_sample_rows", budget)]);
                assert_eq!(
                    without_time(one_thread),
                    without_time(sampled),
                    "{file}: the same sample for any thread count"
                );
            }
        }
    }
}

/// The decision rule is chosen inside each training fold to reach the
/// spec's recall floor; the outer held-out folds, never seen by that
/// choice, reach it too, where the rule chosen for macro-F1 alone does not.
#[test]
fn recall_floor_holds_on_held_out_folds() {
    let floor = 0.65;
    let free = cv("wcgs_chd.csv", "2");
    let held = cv_with("wcgs_chd.csv", "2", &[("min_class_recall", "0.65")]);
    let (free_f1, free_worst, _) = scores(&free);
    let (held_f1, held_worst, _) = scores(&held);
    assert!(free_worst < floor, "without the floor: {free_worst:.3}");
    assert!(
        held_worst >= floor,
        "with the floor {floor}: {held_worst:.3}"
    );
    // The floor is paid for in macro-F1, which the free rule maximises.
    assert!(held_f1 < free_f1, "{held_f1:.3} vs {free_f1:.3}");
}
