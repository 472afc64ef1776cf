//! End-to-end: the real `dxops-model` binary through process → train →
//! evaluate in the SageMaker layout, plus warm start, production
//! comparison and determinism of the artifact.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dxops-model");

fn data(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/data")
        .join(name)
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("DXOPS_ML_ROOT")
        .env_remove("DXOPS_DEID_KEY");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write_contract(path: &Path, label: &str, identifiers: &[&str], handling: &str) {
    let contract = serde_json::json!({
        "label": label,
        "identifiers": identifiers,
        "identifier_handling": handling,
        "features": [],
        "quality": [
            {"rule": "row_count", "min": 100.0},
            {"rule": "completeness", "column": "mean_radius", "min": 0.99},
            {"rule": "range", "column": "mean_radius", "min": 0.0, "max": 100.0},
            {"rule": "allowed_values", "column": "label", "values": ["0", "1"]}
        ],
        "rare_class_max_samples": 50,
        "split": {"validation": 0.15, "test": 0.15, "seed": 42}
    });
    std::fs::write(path, serde_json::to_string_pretty(&contract).unwrap()).unwrap();
}

fn make_tarball(model_dir: &Path, out_dir: &Path) {
    std::fs::create_dir_all(out_dir).unwrap();
    let f = std::fs::File::create(out_dir.join("model.tar.gz")).unwrap();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::default(),
    ));
    b.append_path_with_name(model_dir.join("dxops-model.bin"), "dxops-model.bin")
        .unwrap();
    b.into_inner().unwrap().finish().unwrap();
}

#[test]
fn process_train_evaluate_in_sagemaker_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let proc_root = tmp.path().join("processing");
    let contract = tmp.path().join("process.json");
    write_contract(&contract, "label", &[], "drop");
    let out = ok(&run(
        &[
            "process",
            "--ml-root",
            proc_root.to_str().unwrap(),
            "--data",
            data("breast_cancer_wdbc.csv").to_str().unwrap(),
            "--config",
            contract.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(out.contains("train_rows="), "{out}");
    let quality = json(&proc_root.join("output/quality/quality.json"));
    assert_eq!(quality["passed"], true);
    let mut total = 0;
    for split in ["train", "validation", "test"] {
        let text =
            std::fs::read_to_string(proc_root.join("output").join(split).join("data.csv")).unwrap();
        total += text.lines().count() - 1;
    }
    assert_eq!(total, 569);

    // Training in the SageMaker layout: channels and hyperparameters as files.
    let ml_root = tmp.path().join("ml");
    std::fs::create_dir_all(ml_root.join("input/data/train")).unwrap();
    std::fs::create_dir_all(ml_root.join("input/data/validation")).unwrap();
    std::fs::create_dir_all(ml_root.join("input/config")).unwrap();
    std::fs::copy(
        proc_root.join("output/train/data.csv"),
        ml_root.join("input/data/train/data.csv"),
    )
    .unwrap();
    std::fs::copy(
        proc_root.join("output/validation/data.csv"),
        ml_root.join("input/data/validation/data.csv"),
    )
    .unwrap();
    std::fs::write(
        ml_root.join("input/config/hyperparameters.json"),
        r#"{"label": "label", "seed": "7"}"#,
    )
    .unwrap();
    let out = ok(&run(
        &["train"],
        &[("DXOPS_ML_ROOT", ml_root.to_str().unwrap())],
    ));
    assert!(out.contains("cv_macro_f1="), "{out}");
    assert!(out.contains("validation_macro_f1="), "{out}");
    assert!(ml_root.join("model/dxops-model.bin").is_file());
    assert!(!ml_root.join("output/failure").exists());

    // Evaluation as the processing job sees it: model.tar.gz in model/.
    std::fs::create_dir_all(proc_root.join("input/test")).unwrap();
    std::fs::copy(
        proc_root.join("output/test/data.csv"),
        proc_root.join("input/test/data.csv"),
    )
    .unwrap();
    make_tarball(&ml_root.join("model"), &proc_root.join("model"));
    let out = ok(&run(
        &["evaluate", "--ml-root", proc_root.to_str().unwrap()],
        &[],
    ));
    assert!(out.contains("test_macro_f1="), "{out}");
    let ev = json(&proc_root.join("evaluation/evaluation.json"));
    for path in [
        "macro_f1",
        "worst_class_recall",
        "roc_auc",
        "accuracy",
        "balanced_accuracy",
    ] {
        let v = ev["metrics"][path]
            .as_f64()
            .unwrap_or_else(|| panic!("metrics.{path} missing"));
        assert!((0.0..=1.0).contains(&v));
    }
    assert!(ev["metrics"]["macro_f1"].as_f64().unwrap() > 0.9);
    assert_eq!(ev["metrics"]["macro_f1_drop"].as_f64(), Some(0.0));
    assert!(ev["metrics"]["worst_class"].is_string());
    assert_eq!(ev["confusion_matrix"].as_array().unwrap().len(), 2);
    assert_eq!(
        ev["per_class"][1]["support"].as_u64().unwrap()
            + ev["per_class"][0]["support"].as_u64().unwrap(),
        86
    );
    assert!(ev["rare_classes"].as_array().unwrap().is_empty());

    // A production model (a weaker one) compared on the same test set.
    let weak_root = tmp.path().join("weak");
    ok(&run(
        &[
            "train",
            "--ml-root",
            weak_root.to_str().unwrap(),
            "--data",
            proc_root
                .join("output/validation/data.csv")
                .to_str()
                .unwrap(),
            "--label",
            "label",
            "--hyperparameters",
            write_hp(
                tmp.path(),
                r#"{"algorithm": "logistic_regression", "logreg_c": "0.0001", "folds": "3"}"#,
            )
            .to_str()
            .unwrap(),
        ],
        &[],
    ));
    let out = ok(&run(
        &[
            "evaluate",
            "--ml-root",
            proc_root.to_str().unwrap(),
            "--production",
            weak_root.join("model").to_str().unwrap(),
        ],
        &[],
    ));
    assert!(out.contains("test_macro_f1_drop="));
    let ev2 = json(&proc_root.join("evaluation/evaluation.json"));
    let prod = ev2["metrics"]["production_macro_f1"].as_f64().unwrap();
    let drop = ev2["metrics"]["macro_f1_drop"].as_f64().unwrap();
    assert!((prod - ev2["metrics"]["macro_f1"].as_f64().unwrap() - drop).abs() < 1e-12);
}

fn write_hp(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join(format!("hp-{}.json", text.len()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn identifiers_are_hashed_with_the_key_and_never_in_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("cohort.csv");
    ok(&run(
        &[
            "synth-data",
            "--rows",
            "400",
            "--seed",
            "5",
            "--out",
            csv.to_str().unwrap(),
            "--ids",
        ],
        &[],
    ));
    let contract = serde_json::json!({
        "label": "diagnosis",
        "identifiers": ["patient_id"],
        "identifier_handling": "hash",
        "features": [],
        "quality": [{"rule": "uniqueness", "column": "patient_id"}],
        "rare_class_max_samples": 20,
        "split": {"validation": 0.15, "test": 0.15, "seed": 1}
    });
    let cfg = tmp.path().join("process.json");
    std::fs::write(&cfg, contract.to_string()).unwrap();
    let root = tmp.path().join("p");
    let args = [
        "process",
        "--ml-root",
        root.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ];
    let out = run(&args, &[]);
    assert!(!out.status.success());
    let failure = std::fs::read_to_string(root.join("output/failure")).unwrap();
    assert!(failure.contains("DXOPS_DEID_KEY"), "{failure}");
    let out = run(&args, &[("DXOPS_DEID_KEY", "s3cret-key-value")]);
    ok(&out);
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!all.contains("s3cret-key-value"));
    let train = std::fs::read_to_string(root.join("output/train/data.csv")).unwrap();
    assert!(train.starts_with("patient_id,"));
    assert!(!train.contains("P0000"));
    let first = train.lines().nth(1).unwrap().split(',').next().unwrap();
    assert_eq!(first.len(), 64);
}

#[test]
fn warm_start_reports_rare_class_recall_with_and_without() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("source.csv");
    let small = tmp.path().join("target.csv");
    ok(&run(
        &[
            "synth-data",
            "--rows",
            "2000",
            "--seed",
            "11",
            "--out",
            big.to_str().unwrap(),
        ],
        &[],
    ));
    ok(&run(
        &[
            "synth-data",
            "--rows",
            "1000",
            "--seed",
            "12",
            "--out",
            small.to_str().unwrap(),
        ],
        &[],
    ));
    let hp = write_hp(
        tmp.path(),
        r#"{"n_trees": "30", "rf_n_trees": "20", "folds": "3", "rare_class_max_samples": "40"}"#,
    );
    let src = tmp.path().join("src");
    ok(&run(
        &[
            "train",
            "--ml-root",
            src.to_str().unwrap(),
            "--data",
            big.to_str().unwrap(),
            "--label",
            "diagnosis",
            "--hyperparameters",
            hp.to_str().unwrap(),
        ],
        &[],
    ));
    let dst = tmp.path().join("dst");
    let out = ok(&run(
        &[
            "train",
            "--ml-root",
            dst.to_str().unwrap(),
            "--data",
            small.to_str().unwrap(),
            "--label",
            "diagnosis",
            "--hyperparameters",
            hp.to_str().unwrap(),
            "--warm-start",
            src.join("model").to_str().unwrap(),
        ],
        &[],
    ));
    assert!(
        out.contains("rare_recall_with_warm_start[pheochromocytoma]="),
        "{out}"
    );
    assert!(
        out.contains("rare_recall_without_warm_start[lupus]="),
        "{out}"
    );
    let report = json(&dst.join("model/warm_start_report.json"));
    assert!(report["recall_with"]["lupus"].is_number());
    assert!(report["recall_without"]["pheochromocytoma"].is_number());
}

#[test]
fn same_inputs_give_byte_identical_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let hp = write_hp(tmp.path(), r#"{"folds": "3", "seed": "3"}"#);
    let mut bytes = Vec::new();
    for name in ["a", "b"] {
        let root = tmp.path().join(name);
        ok(&run(
            &[
                "train",
                "--ml-root",
                root.to_str().unwrap(),
                "--data",
                data("breast_cancer_wdbc.csv").to_str().unwrap(),
                "--label",
                "label",
                "--hyperparameters",
                hp.to_str().unwrap(),
            ],
            &[("DXOPS_THREADS", if name == "a" { "1" } else { "2" })],
        ));
        bytes.push(std::fs::read(root.join("model/dxops-model.bin")).unwrap());
    }
    assert_eq!(bytes[0], bytes[1]);
    assert_eq!(&bytes[0][..8], b"DXOPSMDL");
}

#[test]
fn synth_data_is_seeded() {
    let tmp = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = ["a.csv", "b.csv", "c.csv"]
        .iter()
        .map(|n| tmp.path().join(n))
        .collect();
    for (p, seed) in paths.iter().zip(["1", "1", "2"]) {
        ok(&run(
            &[
                "synth-data",
                "--rows",
                "500",
                "--seed",
                seed,
                "--out",
                p.to_str().unwrap(),
            ],
            &[],
        ));
    }
    let read = |p: &PathBuf| std::fs::read(p).unwrap();
    assert_eq!(read(&paths[0]), read(&paths[1]));
    assert_ne!(read(&paths[0]), read(&paths[2]));
    let text = String::from_utf8(read(&paths[0])).unwrap();
    assert!(text.starts_with("age,sex,bmi,"));
    assert_eq!(text.lines().count(), 501);
}
