//! The rendered pipeline and the model image agree: the processing step's
//! `process.json`, the training step's hyperparameters and the condition
//! step's JSON paths, all taken from `stacks/`, drive the real
//! `dxops-model` binary on a simulated cohort, and the gates read values
//! that `evaluate` actually writes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn model(args: &[&str], cwd: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_dxops-model"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dxops-model {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a SageMaker `Std:JsonGet` with a dotted path reads.
fn json_get<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, key| v.get(key))
}

#[test]
fn the_rendered_pipeline_runs_in_the_image_and_its_gates_read_real_values() {
    let stacks = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("stacks/disease-prediction/prod");
    let pipeline: Value =
        serde_json::from_str(&std::fs::read_to_string(stacks.join("pipeline.json")).unwrap())
            .unwrap();
    let steps = pipeline["Steps"].as_array().unwrap();
    let step = |name: &str| steps.iter().find(|s| s["Name"] == name).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("hyperparameters.json"),
        step("Train")["Arguments"]["HyperParameters"].to_string(),
    )
    .unwrap();
    let config = stacks.join("process.json");

    model(
        &[
            "synth-data",
            "--rows",
            "2000",
            "--seed",
            "7",
            "--ids",
            "--out",
            "cohort.csv",
        ],
        d,
    );
    model(
        &[
            "process",
            "--ml-root",
            "proc",
            "--data",
            "cohort.csv",
            "--config",
            config.to_str().unwrap(),
        ],
        d,
    );
    let quality: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("proc/output/quality/quality.json")).unwrap(),
    )
    .unwrap();
    assert!(quality.is_object());
    model(
        &[
            "train",
            "--ml-root",
            "ml",
            "--data",
            "proc/output/train/data.csv",
            "--hyperparameters",
            "hyperparameters.json",
        ],
        d,
    );
    model(
        &[
            "evaluate",
            "--ml-root",
            "ev",
            "--model",
            "ml/model",
            "--data",
            "proc/output/test/data.csv",
        ],
        d,
    );
    let evaluation: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("ev/evaluation/evaluation.json")).unwrap(),
    )
    .unwrap();

    // The identifier never reaches the model's training data.
    let train_header = std::fs::read_to_string(d.join("proc/output/train/data.csv")).unwrap();
    assert!(!train_header.lines().next().unwrap().contains("patient_id"));

    let defaults: std::collections::BTreeMap<&str, f64> = pipeline["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["Type"] == "Float")
        .map(|p| {
            (
                p["Name"].as_str().unwrap(),
                p["DefaultValue"].as_f64().unwrap(),
            )
        })
        .collect();
    let conditions = step("CheckGates")["Arguments"]["Conditions"]
        .as_array()
        .unwrap();
    assert!(conditions.len() >= 4);
    for c in conditions {
        let path = c["LeftValue"]["Std:JsonGet"]["Path"].as_str().unwrap();
        let value = json_get(&evaluation, path)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("evaluation.json has no number at {path}"));
        let parameter = c["RightValue"]["Get"]
            .as_str()
            .unwrap()
            .trim_start_matches("Parameters.");
        let threshold = defaults[parameter];
        let holds = match c["Type"].as_str().unwrap() {
            "GreaterThanOrEqualTo" => value >= threshold,
            "LessThanOrEqualTo" => value <= threshold,
            other => panic!("unexpected condition {other}"),
        };
        assert!(
            holds,
            "gate {parameter}: {path} = {value} against {threshold}"
        );
    }
}
