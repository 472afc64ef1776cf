//! `dxops-model monitor` over SageMaker data-capture files.

mod serve_support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serve_support::*;

fn capture_line(content_type: &str, data: &str, encoding: &str, i: usize) -> String {
    serde_json::json!({
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding},
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": "0,0.9,0.1,0\n",
                "encoding": "CSV"
            }
        },
        "eventMetadata": {"eventId": format!("00000000-0000-0000-0000-{i:012}"), "inferenceTime": "2026-11-29T10:00:00Z"},
        "eventVersion": "0"
    })
    .to_string()
}

/// Writes rows as capture files in SageMaker's layout, alternating encodings.
fn write_capture(dir: &Path, rows: &[Vec<String>]) {
    let names = &data().header;
    let hour = dir.join("endpoint/AllTraffic/2026/11/29/10");
    std::fs::create_dir_all(&hour).unwrap();
    let mut files = [String::new(), String::new()];
    for (i, r) in rows.iter().enumerate() {
        let line = match i % 3 {
            0 => capture_line("text/csv", &r.join(","), "CSV", i),
            1 => {
                let obj: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .zip(r)
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            serde_json::Value::from(v.parse::<f64>().unwrap()),
                        )
                    })
                    .collect();
                capture_line(
                    "application/json",
                    &serde_json::json!({"instances": [obj]}).to_string(),
                    "JSON",
                    i,
                )
            }
            _ => capture_line(
                "text/csv",
                &base64::engine::general_purpose::STANDARD.encode(r.join(",")),
                "BASE64",
                i,
            ),
        };
        files[i % 2].push_str(&line);
        files[i % 2].push('\n');
    }
    std::fs::write(hour.join("10-00-000-a.jsonl"), &files[0]).unwrap();
    std::fs::write(hour.join("10-05-000-b.jsonl"), &files[1]).unwrap();
}

fn monitor(capture: &Path, out: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let o = Command::new(BIN)
        .args(["monitor", "--ml-root"])
        .arg(ml_root())
        .arg("--capture")
        .arg(capture)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("DXOPS_DRIFT_METHOD")
        .env_remove("DXOPS_DRIFT_THRESHOLD")
        .output()
        .unwrap();
    let code = o.status.code().unwrap();
    let report = std::fs::read(out)
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (code, report)
}

#[test]
fn fresh_capture_exits_0_shifted_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("fresh");
    write_capture(&fresh, &data().fresh);
    let (code, report) = monitor(&fresh, &tmp.path().join("fresh.json"), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], data().fresh.len());
    assert_eq!(report["skipped_records"], 0);
    assert_eq!(report["drift"]["rows"], data().fresh.len());
    assert_eq!(report["drift"]["dataset_drift"], false);
    assert!(report["drift"]["drift_share"].as_f64().unwrap() < 0.2);
    assert_eq!(report["capture_files"], 2);
    assert_eq!(report["predicted_class_distribution"]["0"]["current"], 1.0);
    assert_eq!(report["unknown_predicted_labels"], 0);
    let features = report["drift"]["features"].as_array().unwrap();
    assert_eq!(features.len(), data().header.len());
    assert!(
        features.iter().all(|f| f["method"] == "ks"),
        "training reference ≤ 1000 rows → KS"
    );

    let shifted_dir = tmp.path().join("shifted");
    write_capture(&shifted_dir, &shifted(&data().fresh));
    let (code, report) = monitor(&shifted_dir, &tmp.path().join("shifted.json"), &[]);
    assert_eq!(code, 2, "{report}");
    assert_eq!(report["drift"]["dataset_drift"], true);
    assert!(report["drift"]["drift_share"].as_f64().unwrap() > 0.5);

    // A single file works too, and a chosen method applies to every feature.
    let file = shifted_dir.join("endpoint/AllTraffic/2026/11/29/10/10-00-000-a.jsonl");
    let (code, report) = monitor(
        &file,
        &tmp.path().join("one.json"),
        &["--method", "wasserstein"],
    );
    assert_eq!(code, 2);
    assert!(
        report["drift"]["features"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["method"] == "wasserstein")
    );
}

#[test]
fn default_report_path_and_bad_records() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("model")).unwrap();
    std::fs::copy(
        ml_root().join("model/dxops-model.bin"),
        root.join("model/dxops-model.bin"),
    )
    .unwrap();
    let cap = tmp.path().join("cap");
    write_capture(&cap, &data().fresh[..120]);
    let extra = cap.join("endpoint/AllTraffic/2026/11/29/10/10-10-000-c.jsonl");
    std::fs::write(
        &extra,
        format!("not json\n{}\n", capture_line("text/csv", "1,2", "CSV", 9)),
    )
    .unwrap();
    let o = Command::new(BIN)
        .args(["monitor", "--ml-root"])
        .arg(&root)
        .arg("--capture")
        .arg(&cap)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("output/monitor.json")).unwrap()).unwrap();
    assert_eq!(report["records"], 122);
    assert_eq!(report["skipped_records"], 2);
    assert_eq!(report["skipped"][1]["line"], 2);
    assert!(!report.to_string().contains("\"1,2\""));
}

#[test]
fn errors_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _) = monitor(&tmp.path().join("missing"), &tmp.path().join("r.json"), &[]);
    assert_eq!(code, 1);
    std::fs::write(tmp.path().join("bad.jsonl"), "garbage\n").unwrap();
    let (code, _) = monitor(
        &tmp.path().join("bad.jsonl"),
        &tmp.path().join("r.json"),
        &[],
    );
    assert_eq!(code, 1, "no scorable rows");
    write_capture(&tmp.path().join("ok"), &data().fresh[..50]);
    let (code, _) = monitor(
        &tmp.path().join("ok"),
        &tmp.path().join("r.json"),
        &["--method", "nonsense"],
    );
    assert_eq!(code, 1);
}

#[test]
fn capture_fields_never_reach_the_report() {
    // Capture files hold client payloads: a marker in any of their fields
    // must not appear in the report or the monitor's output.
    const M: &str = "XMARKERX";
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("cap");
    write_capture(&cap, &data().fresh[..120]);
    let width = data().header.len();
    let numbers = vec!["1"; width - 1].join(",");
    let with_output = |input: serde_json::Value, output: serde_json::Value| {
        serde_json::json!({
            "captureData": {"endpointInput": input, "endpointOutput": output},
            "eventMetadata": {"eventId": M, "customAttributes": M},
            M: M,
        })
        .to_string()
    };
    let csv_out = |label: &str| serde_json::json!({"observedContentType": "text/csv", "mode": "OUTPUT", "data": format!("{label},0.5,0.5,0\n"), "encoding": "CSV"});
    let good_input = serde_json::json!({"observedContentType": "text/csv", "mode": "INPUT", "data": data().fresh[0].join(","), "encoding": "CSV"});
    let lines = [
        capture_line("text/csv", &data().fresh[0].join(","), M, 1),
        capture_line(
            M,
            &base64::engine::general_purpose::STANDARD.encode(data().fresh[0].join(",")),
            "BASE64",
            2,
        ),
        capture_line(
            "application/json",
            &format!("{{\"instances\":[{{\"{M}\":1}}]}}"),
            "JSON",
            3,
        ),
        capture_line(
            "application/json",
            &format!("[[\"{M}\",{numbers}]]"),
            "JSON",
            4,
        ),
        capture_line("text/csv", &format!("{M},{numbers}"), "CSV", 5),
        capture_line("text/csv", &format!("%{M}"), "BASE64", 6),
        format!("{{\"{M}\": [{M}"),
        format!("{{\"captureData\": {{\"{M}\": 1}}}}"),
        // Scored, but the captured responses carry labels that are not
        // classes of the model.
        with_output(good_input.clone(), csv_out(M)),
        with_output(
            good_input,
            serde_json::json!({"observedContentType": "application/json", "mode": "OUTPUT",
                "data": format!("{{\"predictions\":[{{\"predicted_label\":\"{M}\"}}]}}"), "encoding": "JSON"}),
        ),
    ];
    std::fs::write(
        cap.join("endpoint/AllTraffic/2026/11/29/10/10-20-000-m.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    let out = tmp.path().join("report.json");
    let o = Command::new(BIN)
        .args(["monitor", "--ml-root"])
        .arg(ml_root())
        .arg("--capture")
        .arg(&cap)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(o.status.code(), Some(0), "{report}");
    assert_eq!(report["records"], 130);
    assert_eq!(report["drift"]["rows"], 122);
    assert_eq!(report["skipped_records"], 8, "{report}");
    assert_eq!(report["skipped_by_reason"]["encoding"], 1, "{report}");
    assert_eq!(report["skipped_by_reason"]["content_type"], 1, "{report}");
    assert_eq!(report["skipped_by_reason"]["payload"], 3, "{report}");
    assert_eq!(report["skipped_by_reason"]["base64"], 1, "{report}");
    assert_eq!(report["skipped_by_reason"]["not_capture"], 2, "{report}");
    assert_eq!(report["unknown_predicted_labels"], 2, "{report}");
    assert!(!text.contains(M), "marker in the report:\n{text}");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!output.contains(M), "marker in the output:\n{output}");
}

#[test]
fn ground_truth_mode_joins_labels_and_prints_the_live_metrics_as_emf() {
    let tmp = tempfile::tempdir().unwrap();
    let capture = tmp.path().join("capture");
    let rows = &data().fresh[..30];
    write_capture(&capture, rows);
    // Every captured row was predicted "0"; confirm 20 of them, 5 as "1".
    let gt = tmp.path().join("ground-truth/2026/11/30/08");
    std::fs::create_dir_all(&gt).unwrap();
    let mut lines = String::new();
    for i in 0..20 {
        let label = if i < 5 { "1" } else { "0" };
        lines.push_str(&format!(
            "{{\"inferenceId\": \"00000000-0000-0000-0000-{i:012}\", \"label\": \"{label}\"}}\n"
        ));
    }
    lines.push_str(
        "{\"inferenceId\": \"00000000-0000-0000-0000-000000000021\", \"label\": \"XMARKERX\"}\n",
    );
    lines.push_str("{\"inferenceId\": \"XMARKERX\", \"label\": \"0\"}\n");
    std::fs::write(gt.join("labels.jsonl"), lines).unwrap();
    let out = tmp.path().join("live.json");
    let o = Command::new(BIN)
        .args(["monitor", "--ml-root"])
        .arg(ml_root())
        .arg("--capture")
        .arg(&capture)
        .arg("--ground-truth")
        .arg(tmp.path().join("ground-truth"))
        .arg("--out")
        .arg(&out)
        .env("DXOPS_METRICS_NAMESPACE", "dxops-test")
        .env("DXOPS_ENDPOINT", "ep-test")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["predictions"], 30);
    assert_eq!(report["matched"], 20);
    assert_eq!(report["unknown_labels"], 1);
    assert_eq!(report["unmatched"], 1);
    // Class "1" was never predicted: its recall is 0; class "0" has F1 30/35.
    assert_eq!(report["live"]["worst_class_recall"], 0.0);
    let f1 = report["live"]["macro_f1"].as_f64().unwrap();
    assert!((f1 - (2.0 * 15.0 / 35.0) / 2.0).abs() < 1e-9, "{f1}");
    let emf: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "dxops-test"
    );
    assert_eq!(emf["Endpoint"], "ep-test");
    assert_eq!(emf["LiveMacroF1"], report["live"]["macro_f1"]);
    assert_eq!(emf["LiveWorstClassRecall"], 0.0);
    let all = format!("{stdout}{stderr}{report}");
    assert!(!all.contains("XMARKERX"), "{all}");
}
