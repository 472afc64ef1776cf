//! `dxops run` end to end on the real binary: the example spec's pipeline
//! on this machine, the local gate following the rendered threshold,
//! transfer learning from an approved version, drift from shifted replay
//! data leading to a retraining decision, live quality from fed-back
//! labels, the report in a real browser, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn dxops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dxops"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// Enough patients that the rarest simulated class has a sample in every
/// cross-validation fold, few enough to keep the test quick.
const ROWS: &str = "2000";

fn run_json(args: &[&str]) -> Value {
    let mut all = vec!["run", "--format", "json", "--rows", ROWS];
    all.extend_from_slice(args);
    let out = dxops(&all);
    assert!(
        out.status.success(),
        "dxops {all:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

/// The test split of a run with every numeric feature (12 of 22, more than
/// the data-set drift share of one half) far from what the model was
/// trained on.
fn shifted_replay(run_dir: &Path, to: &Path) -> PathBuf {
    let text = std::fs::read_to_string(run_dir.join("evaluation/input/test/data.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let shift: Vec<bool> = header
        .iter()
        .map(|h| {
            matches!(
                *h,
                "age"
                    | "bmi"
                    | "systolic_bp"
                    | "diastolic_bp"
                    | "heart_rate"
                    | "temperature"
                    | "glucose"
                    | "hba1c"
                    | "creatinine"
                    | "crp"
                    | "wbc"
                    | "hemoglobin"
            )
        })
        .collect();
    let mut out = header.join(",");
    out.push('\n');
    for line in lines {
        let cells: Vec<String> = line
            .split(',')
            .zip(&shift)
            .zip(&header)
            .map(|((c, s), h)| match (s, c.parse::<f64>()) {
                // Drifted but plausible: the gateway refuses values outside
                // the contract's ranges (a fever of 45.7 °C, say).
                (true, Ok(v)) if *h == "temperature" => format!("{}", v + 1.5),
                (true, Ok(v)) if *h == "crp" => format!("{}", v + 15.0),
                (true, Ok(v)) => format!("{}", v * 1.15),
                _ => c.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let path = to.join("shifted.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn the_pipeline_runs_registers_serves_and_learns_from_its_approved_version() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();

    // First run: every step, the model approved as it registers.
    let first = run_json(&[
        "specs/disease-prediction.yaml",
        "--env",
        "prod",
        "--out",
        out_dir,
        "--approve",
        "first model, reviewed",
    ]);
    for s in first["steps"].as_array().unwrap() {
        assert_eq!(s["status"], "ok", "{s}");
    }
    assert_eq!(first["gates"]["passed"], true);
    assert_eq!(first["registered"]["version"], 1);
    assert_eq!(first["registered"]["status"], "Approved");
    assert_eq!(first["served"]["version"], 1);
    assert_eq!(first["served"]["reason"], "approved in this run");
    assert_eq!(first["replay"]["errors"], 0);
    assert!(first["replay"]["rows"].as_u64().unwrap() > 200);
    // Every batch went through the gateway function, then the endpoint's
    // server, as the rendered API sends it.
    assert_eq!(
        first["served"]["transport"], "gateway",
        "{}",
        first["served"]
    );
    let gateway_log = std::fs::read_to_string(
        Path::new(first["dir"].as_str().unwrap()).join("serving/gateway.log"),
    )
    .unwrap();
    let answered = gateway_log
        .lines()
        .filter(|l| l.contains("\"route\":\"gateway\"") && l.contains("\"status\":200"))
        .count() as u64;
    assert_eq!(
        answered,
        first["replay"]["requests"].as_u64().unwrap(),
        "{gateway_log}"
    );
    assert_eq!(first["drift"]["dataset_drift"], false);
    let live = first["live_quality"]["macro_f1"].as_f64().unwrap();
    assert!(live > 0.6, "LiveMacroF1 {live}");
    // The server joined the fed-back labels to its predictions and reports the same figure.
    let served = first["live_quality"]["server_macro_f1"].as_f64().unwrap();
    assert!(
        (served - live).abs() < 1e-9,
        "server {served}, local {live}"
    );
    assert_eq!(first["retraining"]["retrain"], false);
    let ingest = step(&first, "ingest")["detail"].as_str().unwrap();
    assert!(ingest.contains("API records") && ingest.contains("device messages"));
    // The rendered Etl step's two instances each read a share of the objects.
    let etl = step(&first, "etl")["detail"].as_str().unwrap();
    assert!(etl.contains("over 2 instances"), "{etl}");
    let records = first["ingest"]["records"].as_u64().unwrap();
    assert!(etl.contains(&format!("{records} records curated")), "{etl}");
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(
            out.path()
                .join("registry/disease-prediction-prod/1/package.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(package["decisions"][0]["reason"], "first model, reviewed");
    assert!(package["lineage"]["data_sha256"].as_str().unwrap().len() == 64);

    // Second run: warm start from the approved version, evaluated against
    // it, and replayed rows that have drifted.
    let replay = shifted_replay(Path::new(first["dir"].as_str().unwrap()), out.path());
    let second = run_json(&[
        "specs/disease-prediction.yaml",
        "--env",
        "prod",
        "--out",
        out_dir,
        "--replay",
        replay.to_str().unwrap(),
    ]);
    assert_eq!(second["warm_start_from"], "disease-prediction-prod v1");
    let warm = &second["warm_start"];
    assert!(
        warm["recall_with"]
            .as_object()
            .unwrap()
            .contains_key("pheochromocytoma")
    );
    assert!(
        warm["recall_without"]
            .as_object()
            .unwrap()
            .contains_key("pheochromocytoma")
    );
    assert!(second["production_evaluation"].is_object());
    assert_eq!(
        second["drift"]["dataset_drift"], true,
        "{}",
        second["drift"]
    );
    assert_eq!(second["retraining"]["retrain"], true);
    let reasons = second["retraining"]["reasons"].to_string();
    assert!(reasons.contains("drift"), "{reasons}");
    // Pending approval, so production (v1) stays the served model.
    assert_eq!(
        second["registered"]["status"], "PendingManualApproval",
        "{}",
        second["gates"]
    );
    assert_eq!(second["served"]["version"], 1);

    // The runs and the registry are listed; approving v2 is recorded.
    let runs = dxops(&["runs", "--out", out_dir]);
    let listing = String::from_utf8_lossy(&runs.stdout);
    assert!(
        listing.contains("run-0001") && listing.contains("run-0002"),
        "{listing}"
    );
    let approve = dxops(&[
        "approve",
        "specs/disease-prediction.yaml",
        "--env",
        "prod",
        "--version",
        "2",
        "--reason",
        "drift reviewed",
        "--local",
        "--out",
        out_dir,
    ]);
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    let models = dxops(&["models", "--out", out_dir, "--format", "json"]);
    let models: Value = serde_json::from_slice(&models.stdout).unwrap();
    let v2 = &models.as_array().unwrap()[1];
    assert_eq!(v2["package"]["status"], "Approved");
    assert_eq!(v2["production_version"], 2);

    check_report_in_a_browser(&PathBuf::from(first["report"].as_str().unwrap()));
}

#[test]
fn the_local_gate_follows_the_rendered_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(root().join("specs/disease-prediction.yaml"))
        .unwrap()
        .replace("macro_f1: { min: 0.60 }", "macro_f1: { min: 0.995 }");
    let spec_path = dir.path().join("strict.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let run = run_json(&[
        spec_path.to_str().unwrap(),
        "--out",
        dir.path().join("runs").to_str().unwrap(),
    ]);
    let gates = &run["gates"];
    assert_eq!(gates["passed"], false);
    let failed: Vec<&Value> = gates["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["parameter"], "MinMacroF1");
    assert_eq!(failed[0]["threshold"], 0.995);
    // The threshold the run used is the one its rendered pipeline holds.
    let rendered: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(run["dir"].as_str().unwrap()).join("stacks/pipeline.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let param = rendered["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "MinMacroF1")
        .unwrap();
    assert_eq!(param["DefaultValue"], 0.995);
    assert_eq!(step(&run, "register")["status"], "skipped");
    assert!(run["registered"].is_null());
}

#[test]
fn an_approval_deploys_only_where_the_spec_promotes_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(root().join("specs/disease-prediction.yaml"))
        .unwrap()
        .replace("  deploy: after_approval", "  deploy: never");
    let spec_path = dir.path().join("manual-deploys.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let run = run_json(&[
        spec_path.to_str().unwrap(),
        "--out",
        dir.path().join("runs").to_str().unwrap(),
        "--approve",
        "reviewed",
    ]);
    assert_eq!(run["registered"]["status"], "Approved");
    let reason = run["served"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not deployed (retraining.deploy: never)"),
        "{reason}"
    );
}

/// A spec that serves on Lambda is served locally by the function, through
/// a local Runtime API, on the vendored WCGS records its data contract names.
#[test]
fn a_lambda_serving_spec_is_served_by_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let run = run_json(&[
        "specs/lambda-serving.yaml",
        "--data",
        "tests/data/wcgs_chd.csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run["served"]["transport"], "lambda", "{}", run["served"]);
    assert_eq!(run["replay"]["errors"], 0);
    let rows = run["replay"]["rows"].as_u64().unwrap();
    assert!(rows > 400, "{rows} rows replayed");
    // Every batch went through the function: one log line per invocation,
    // with the Runtime API's request id, never a value.
    let log = std::fs::read_to_string(out.join("run-0001/serving/server.log")).unwrap();
    let invocations: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["route"] == "lambda")
        .collect();
    assert_eq!(
        invocations.len() as u64,
        run["replay"]["requests"].as_u64().unwrap()
    );
    assert!(invocations.iter().all(|v| v["status"] == 200));
    assert!(
        invocations[0]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("replay-")
    );
    // Its EMF went to the metrics file, one document per invocation at least.
    let emf = std::fs::read_to_string(out.join("run-0001/serving/metrics.emf")).unwrap();
    assert!(
        emf.lines()
            .filter(|l| l.contains("\"Invocations\":1"))
            .count()
            >= invocations.len()
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_1() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "specs/disease-prediction.yaml",
                "--env",
                "qa",
                "--out",
                out_dir,
            ],
            "has no environment `qa` (it has: prod, staging)",
        ),
        (
            vec![
                "run",
                "specs/disease-prediction.yaml",
                "--data",
                "no/such/folder",
                "--out",
                out_dir,
            ],
            "the data folder no/such/folder does not exist",
        ),
        (
            vec![
                "run",
                "tests/fixtures/specs/three-at-once.yaml",
                "--out",
                out_dir,
            ],
            "problems found",
        ),
    ];
    for (args, message) in cases {
        let o = dxops(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let o = dxops(&[
        "run",
        "specs/disease-prediction.yaml",
        "--port",
        &port,
        "--out",
        out_dir,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn malformed_records_are_counted_by_file_and_line_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("exports");
    std::fs::create_dir_all(data.join("2026/11")).unwrap();
    dxops_ml::synth::generate(1500, 7, true)
        .write(&data.join("2026/11/cohort.csv"))
        .unwrap();
    std::fs::write(
        data.join("2026/11/late.jsonl"),
        "{\"age\": 41, \"diagnosis\": \"healthy\"}\n{\"age\": XMARKERX\n",
    )
    .unwrap();
    let run = run_json(&[
        "specs/disease-prediction.yaml",
        "--data",
        data.to_str().unwrap(),
        "--out",
        dir.path().join("runs").to_str().unwrap(),
    ]);
    let ingest = &run["ingest"];
    assert_eq!(ingest["skipped_records"], 1);
    assert_eq!(ingest["problems"][0]["file"], "batch/2026/11/late.jsonl");
    assert_eq!(ingest["problems"][0]["line"], 2);
    let run_dir = PathBuf::from(run["dir"].as_str().unwrap());
    for file in [
        "run.json",
        "report.html",
        "processing/output/quality/ingest.json",
        "etl/algo-1/output/etl/ingest-algo-1.json",
        "etl/algo-2/output/etl/ingest-algo-2.json",
    ] {
        let text = std::fs::read_to_string(run_dir.join(file)).unwrap();
        assert!(!text.contains("XMARKERX"), "{file} echoes a record");
    }
}

/// Renders the report in headless Chromium and checks the pixels: a page
/// that failed to lay out, or whose charts are missing, is mostly white.
fn check_report_in_a_browser(report: &Path) {
    let html = std::fs::read_to_string(report).unwrap();
    for id in [
        "confusion",
        "recall",
        "precision",
        "roc",
        "calibration",
        "drift",
        "latency",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "report lacks {id}");
    }
    assert!(
        !html.contains("src=") && !html.contains("href=") && !html.contains("url("),
        "the report must not fetch"
    );
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("report.png");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,3000")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium ({e}); run `bash .ci/setup` first"));
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let pixels = bytes.len() / channels;
    let (mut ink, mut green, mut red) = (0usize, 0usize, 0usize);
    for p in bytes.chunks(channels) {
        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
        if r + g + b < 600 {
            ink += 1;
        }
        if g > r + 40 && g > b + 20 {
            green += 1;
        }
        if r > g + 60 && r > b + 60 {
            red += 1;
        }
    }
    assert!(
        ink * 100 > pixels,
        "the page is nearly blank ({ink} of {pixels} pixels)"
    );
    assert!(
        green > 500,
        "no correct-class cells or passing marks drawn ({green})"
    );
    assert!(red > 100, "no ROC curve or error cells drawn ({red})");
}

/// Hash mode on this machine: one key for every run under `--out`
/// (`deid-key`, readable by its owner only), created on the first run and
/// kept; the identifiers reach the splits as that key's HMAC, never as
/// they were ingested, and the gateway in front of the server answers.
#[test]
fn hash_mode_keeps_one_key_under_out_and_trains_on_its_pseudonyms() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(root().join("specs/disease-prediction.yaml"))
        .unwrap()
        .replace("identifier_handling: drop", "identifier_handling: hash");
    let path = dir.path().join("hashed.yaml");
    std::fs::write(&path, spec).unwrap();
    let out = dir.path().join("runs");
    let run = || {
        let o = Command::new(env!("CARGO_BIN_EXE_dxops"))
            .args(["run", "--format", "json", "--rows", ROWS])
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .env_remove("DXOPS_DEID_KEY")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let first = run();
    let key_file = out.join("deid-key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(first["replay"]["errors"], 0, "{}", first["replay"]);

    // An ingested identifier, and what the splits hold in its place.
    let run_dir = PathBuf::from(first["dir"].as_str().unwrap());
    let api = run_dir.join("s3/raw/incoming/api");
    let record = std::fs::read_dir(&api)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let record: Value = serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    let id = record["patient_id"]
        .as_str()
        .expect("the cohort has identifiers");
    let pseudonym = dxops_ml::process::keyed_hash(key.as_bytes(), id);
    let splits: String = ["train", "validation", "test"]
        .iter()
        .map(|s| {
            std::fs::read_to_string(run_dir.join(format!("processing/output/{s}/data.csv")))
                .unwrap()
        })
        .collect();
    assert!(
        splits.contains(&pseudonym),
        "the key's HMAC of {id} is in no split"
    );
    assert!(
        !splits.contains(id),
        "an identifier reached the splits as ingested"
    );

    // The second run under the same --out hashes with the same key.
    run();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
}
