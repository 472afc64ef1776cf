//! The rendered pipeline and the model image agree: the processing step's
//! `process.json`, the training step's hyperparameters and the condition
//! step's JSON paths, all taken from `stacks/`, drive the real
//! `dxops-model` binary on a simulated cohort, and the gates read values
//! that `evaluate` actually writes.

use std::path::{Path, PathBuf};
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

/// Python's `json.dumps` of a flat record, as the rendered ingest Lambda
/// stores a request body: `{"key": value, ...}` with its separators.
fn python_json_dumps(headers: &[String], row: &[String]) -> String {
    let fields: Vec<String> = headers
        .iter()
        .zip(row)
        .map(|(h, v)| {
            let value = match v.parse::<f64>() {
                _ if v.is_empty() => "null".to_string(),
                Ok(x) if x.is_finite() => v.clone(),
                _ => serde_json::to_string(v).unwrap(),
            };
            format!("{}: {value}", serde_json::to_string(h).unwrap())
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}

#[test]
fn the_processing_step_reads_records_as_the_rendered_ingest_writes_them() {
    let stacks = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("stacks/disease-prediction/prod");
    let ingest = std::fs::read_to_string(stacks.join("ingest.yaml")).unwrap();
    // The key layouts this test writes are the ones the stack renders.
    assert!(ingest.contains(r#"key = "incoming/api/%s.json" % uuid.uuid4()"#));
    assert!(ingest.contains("Body=json.dumps(record).encode()"));
    assert!(ingest.contains(r#"Key: "incoming/iot/${topic()}/${timestamp()}-${newuuid()}.json""#));
    let pipeline = std::fs::read_to_string(stacks.join("pipeline.json")).unwrap();
    assert!(
        pipeline.contains("/incoming/\""),
        "the pipeline reads the ingest prefix"
    );
    assert!(pipeline.contains("\"LocalPath\": \"/opt/ml/processing/input/raw\""));

    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("proc/input/raw");
    let table = dxops_ml::synth::generate(1200, 11, true);
    for (i, row) in table.rows.iter().enumerate() {
        let (rel, body) = if i % 4 == 3 {
            // A device message: the IoT rule stores the published payload as is.
            (
                format!(
                    "iot/devices/{}/vitals/{}-{i:08x}.json",
                    i % 9,
                    1_764_547_200_000u64 + i as u64
                ),
                python_json_dumps(&table.headers, row),
            )
        } else {
            (
                format!("api/{:08x}-0000-4000-8000-{i:012x}.json", i * 7919),
                python_json_dumps(&table.headers, row),
            )
        };
        let path = raw.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    // One request body that is not a record: counted, never echoed.
    std::fs::write(raw.join("api/broken.json"), "{\"age\": XMARKERX").unwrap();
    model(
        &[
            "process",
            "--ml-root",
            "proc",
            "--config",
            stacks.join("process.json").to_str().unwrap(),
        ],
        dir.path(),
    );
    let ingest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("proc/output/quality/ingest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ingest["records"], 1200);
    assert_eq!(ingest["skipped_records"], 1);
    assert_eq!(ingest["problems"][0]["file"], "api/broken.json");
    assert!(!ingest.to_string().contains("XMARKERX"));
    let rows: usize = ["train", "validation", "test"]
        .iter()
        .map(|s| {
            std::fs::read_to_string(dir.path().join(format!("proc/output/{s}/data.csv")))
                .unwrap()
                .lines()
                .count()
                - 1
        })
        .sum();
    assert_eq!(rows, 1200);

    // The example pipeline shards this ETL over two instances: the same
    // records through `dxops-model etl` on each share, then `process` on
    // their parts and reports, give the same splits and the same report.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut pending = vec![raw.clone()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                pending.push(e.path());
            } else {
                files.push(e.path().strip_prefix(&raw).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    for (k, host) in ["algo-1", "algo-2"].iter().enumerate() {
        for rel in files.iter().skip(k).step_by(2) {
            let to = dir.path().join(host).join("input/raw").join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(raw.join(rel), to).unwrap();
        }
        model(
            &[
                "etl",
                "--host",
                host,
                "--ml-root",
                host,
                "--config",
                stacks.join("process.json").to_str().unwrap(),
            ],
            dir.path(),
        );
        for (from, to) in [
            (
                format!("output/curated/part-{host}.csv"),
                format!("input/raw/part-{host}.csv"),
            ),
            (
                format!("output/etl/ingest-{host}.json"),
                format!("input/etl/ingest-{host}.json"),
            ),
        ] {
            let to = dir.path().join("sharded").join(to);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(dir.path().join(host).join(from), to).unwrap();
        }
    }
    model(
        &[
            "process",
            "--ml-root",
            "sharded",
            "--config",
            stacks.join("process.json").to_str().unwrap(),
        ],
        dir.path(),
    );
    for file in [
        "output/train/data.csv",
        "output/validation/data.csv",
        "output/test/data.csv",
        "output/quality/ingest.json",
        "output/quality/quality.json",
    ] {
        let read = |root: &str| std::fs::read(dir.path().join(root).join(file)).unwrap();
        assert!(
            read("proc") == read("sharded"),
            "{file} differs when sharded"
        );
    }
}

/// The rendered training step's warm-start channel: its name, and the file
/// name of the no-source marker its parameter defaults to.
fn rendered_warm_start(pipeline: &Value) -> (String, String) {
    let steps = pipeline["Steps"].as_array().unwrap();
    let train = steps.iter().find(|s| s["Name"] == "Train").unwrap();
    let channel = train["Arguments"]["InputDataConfig"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["DataSource"]["S3DataSource"]["S3Uri"]["Get"] == "Parameters.WarmStartModelUri")
        .expect("a training channel reads WarmStartModelUri");
    let default = pipeline["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "WarmStartModelUri")
        .expect("the pipeline has a WarmStartModelUri parameter")["DefaultValue"]
        .as_str()
        .unwrap()
        .to_string();
    let marker = default.rsplit('/').next().unwrap().to_string();
    (channel["ChannelName"].as_str().unwrap().to_string(), marker)
}

#[test]
fn the_warm_start_channel_warm_starts_from_a_model_and_trains_cold_on_the_marker() {
    let stacks = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("stacks/disease-prediction/prod");
    let pipeline: Value =
        serde_json::from_str(&std::fs::read_to_string(stacks.join("pipeline.json")).unwrap())
            .unwrap();
    let (channel, marker) = rendered_warm_start(&pipeline);
    assert_eq!(channel, dxops_contract::layout::paths::WARM_START_CHANNEL);
    assert_eq!(marker, dxops_contract::layout::paths::NO_SOURCE_MARKER);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The rendered hyperparameters, with smaller ensembles to keep this quick.
    let steps = pipeline["Steps"].as_array().unwrap();
    let mut hp =
        steps.iter().find(|s| s["Name"] == "Train").unwrap()["Arguments"]["HyperParameters"]
            .clone();
    for (k, v) in [("n_trees", "20"), ("rf_n_trees", "10"), ("folds", "3")] {
        hp[k] = Value::String(v.into());
    }
    // A SageMaker training layout: hyperparameters and channels under input/.
    let layout = |name: &str, rows: usize, seed: u64| {
        let root = d.join(name);
        let config = root.join("input/config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("hyperparameters.json"), hp.to_string()).unwrap();
        let train = root.join("input/data/train");
        std::fs::create_dir_all(&train).unwrap();
        dxops_ml::synth::generate(rows, seed, false)
            .write(&train.join("data.csv"))
            .unwrap();
        root
    };
    let train = |root: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_dxops-model"))
            .args(["train", "--ml-root", root.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "dxops-model train: {stderr}");
        let artifact = dxops_ml::artifact::Artifact::load(&root.join("model")).unwrap();
        (stderr, artifact)
    };
    use dxops_ml::artifact::WarmStartChannel;

    let source = layout("source", 1500, 3);
    let (_, source_model) = train(&source);
    assert_eq!(source_model.body().training.warm_start_channel, None);

    // The approved package's model data, as SageMaker downloads it: model.tar.gz.
    let warm = layout("warm", 800, 4);
    let channel_dir = warm.join("input/data").join(&channel);
    std::fs::create_dir_all(&channel_dir).unwrap();
    let tarball = std::fs::File::create(channel_dir.join("model.tar.gz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        tarball,
        flate2::Compression::default(),
    ));
    tar.append_dir_all(".", source.join("model")).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let (stderr, warm_model) = train(&warm);
    assert!(stderr.contains("warm start: from the model"), "{stderr}");
    assert_eq!(
        warm_model.body().training.warm_start_channel,
        Some(WarmStartChannel::Model)
    );
    assert_eq!(
        warm_model.body().training.warm_start_source.as_deref(),
        Some(source_model.checksum())
    );
    assert!(warm.join("model/warm_start_report.json").is_file());

    // First run: the source group has no approved model, the channel holds the marker.
    let cold = layout("cold", 800, 4);
    let channel_dir = cold.join("input/data").join(&channel);
    std::fs::create_dir_all(&channel_dir).unwrap();
    std::fs::write(channel_dir.join(&marker), "no approved model\n").unwrap();
    let (stderr, cold_model) = train(&cold);
    assert!(stderr.contains("trained from scratch"), "{stderr}");
    assert_eq!(
        cold_model.body().training.warm_start_channel,
        Some(WarmStartChannel::NoSource)
    );
    assert_eq!(cold_model.body().training.warm_start_source, None);
    assert!(!cold.join("model/warm_start_report.json").exists());

    // A channel holding neither is refused, not silently trained cold.
    let neither = layout("neither", 800, 4);
    let channel_dir = neither.join("input/data").join(&channel);
    std::fs::create_dir_all(&channel_dir).unwrap();
    std::fs::write(channel_dir.join("something-else.txt"), "x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dxops-model"))
        .args(["train", "--ml-root", neither.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-source marker"));
}
