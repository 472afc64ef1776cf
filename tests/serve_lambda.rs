//! The real `dxops-model lambda` against a local Lambda Runtime API: API
//! Gateway proxy events in, the same answers as the HTTP server out.

mod serve_support;

use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};
use serve_support::*;

/// An API Gateway REST proxy event (the fields a proxy integration sends
/// that the function reads, and some it does not).
fn proxy_event(content_type: &str, accept: &str, body: &str, base64: bool) -> Value {
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_string()
    };
    json!({
        "resource": "/invocations",
        "path": "/invocations",
        "httpMethod": "POST",
        "headers": {"Content-Type": content_type, "Accept": accept, "Host": "abc.execute-api.eu-west-1.amazonaws.com"},
        "multiValueHeaders": {"Content-Type": [content_type], "Accept": [accept]},
        "queryStringParameters": null,
        "requestContext": {"requestId": "r-1", "stage": "v1", "identity": {"sourceIp": "10.0.0.1"}},
        "body": body,
        "isBase64Encoded": base64,
    })
}

fn json_instance(row: &[String]) -> String {
    let names = &data().header;
    let instance: serde_json::Map<String, Value> = names
        .iter()
        .zip(row)
        .map(|(k, v)| (k.clone(), Value::from(v.parse::<f64>().unwrap())))
        .collect();
    json!({"instances": [instance]}).to_string()
}

#[test]
fn answers_csv_and_json_as_the_http_server_does() {
    let server = Server::start(&[]);
    let function = Function::start_at(ml_root(), &[]);
    let rows = data().fresh[..3].to_vec();
    let csv = csv_body(&rows[..1]);
    let json_body = json_instance(&rows[1]);
    let cases = [
        ("text/csv", "application/json", csv.clone(), false),
        ("text/csv", "text/csv", csv.clone(), true),
        (
            "application/json",
            "application/json",
            json_body.clone(),
            false,
        ),
        (
            "application/jsonlines",
            "application/jsonlines",
            csv_body(&rows)
                .lines()
                .map(|l| format!("{}\n", json!(l.split(',').collect::<Vec<_>>())))
                .collect(),
            true,
        ),
    ];
    for (i, (content_type, accept, body, base64)) in cases.iter().enumerate() {
        let http = server.post(content_type, accept, body.as_bytes());
        assert_eq!(http.status, 200, "{}", http.text());
        let id = format!("ok-{i}");
        let event = proxy_event(content_type, accept, body, *base64);
        let answer = function.invoke(&id, &event);
        assert_eq!(answer["statusCode"], 200, "{answer}");
        assert_eq!(answer["isBase64Encoded"], false);
        assert_eq!(answer["headers"]["Content-Type"], *accept);
        assert_eq!(answer["headers"]["x-request-id"], id.as_str());
        assert_eq!(
            answer["body"].as_str().unwrap(),
            http.text(),
            "{content_type} → {accept}: the function and the server disagree"
        );
    }
    // One line per invocation, with its request id and row count.
    let log = function.stderr.lock().unwrap().clone();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["route"] == "lambda")
        .collect();
    assert_eq!(lines.len(), cases.len(), "{log}");
    assert_eq!(lines[0]["request_id"], "ok-0");
    assert_eq!(lines[3]["rows"], 3);
    // Request metrics leave after every invocation (EMF on stdout).
    let out = function.stdout.lock().unwrap().clone();
    let invocations: f64 = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["Invocations"].as_f64())
        .sum();
    assert_eq!(invocations, cases.len() as f64, "{out}");
    assert!(function.api.init_errors().is_empty());
}

#[test]
fn bad_requests_are_4xx_answers_and_the_function_keeps_serving() {
    let function = Function::start_at(ml_root(), &[]);
    let marker = "XMARKERX";
    let good = csv_body(&data().fresh[..1]);
    let bad = [
        (
            "unreadable",
            proxy_event(
                "text/csv",
                "application/json",
                &format!("1,{marker},3\n"),
                false,
            ),
            400,
        ),
        (
            "media",
            proxy_event("text/plain", "application/json", &good, false),
            415,
        ),
        (
            "accept",
            proxy_event("text/csv", "image/png", &good, false),
            406,
        ),
        (
            "method",
            json!({"httpMethod": "GET", "headers": {}, "body": null}),
            405,
        ),
        ("not-http", json!({"instances": [[1, 2, 3]]}), 400),
        (
            "base64",
            json!({"httpMethod": "POST", "headers": {"Content-Type": "text/csv"}, "body": "%%%", "isBase64Encoded": true}),
            400,
        ),
        (
            "no-rows",
            proxy_event("application/json", "application/json", "[]", false),
            400,
        ),
    ];
    for (id, event, status) in &bad {
        let answer = function.invoke(id, event);
        assert_eq!(answer["statusCode"], *status, "{id}: {answer}");
        assert_eq!(answer["headers"]["Content-Type"], "application/json");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        assert!(!answer.to_string().contains(marker), "{id} echoes a value");
    }
    // Still serving, and no invocation was reported failed.
    let answer = function.invoke(
        "after",
        &proxy_event("text/csv", "application/json", &good, false),
    );
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(
        !function.output().contains(marker),
        "a value reached the logs"
    );
}

#[test]
fn outside_lambda_it_names_what_is_missing() {
    let out = Command::new(BIN)
        .args(["lambda", "--ml-root"])
        .arg(ml_root())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AWS_LAMBDA_RUNTIME_API is not set"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_missing_model_fails_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let function = Function::start_at(dir.path(), &[]);
    let mut child = function;
    let status = child.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        wait_for(5, || child.output().contains("loading the model")),
        "{}",
        child.output()
    );
    assert!(!child.output().contains("panicked"), "{}", child.output());
}

/// The evaluation step of a spec that serves on Lambda writes the
/// function's code; unpacked as Lambda unpacks it, its `bootstrap` starts
/// with no arguments, finds its model beside it and answers as the server.
#[test]
fn the_evaluation_package_runs_as_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("processing");
    let labelled = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/breast_cancer_wdbc.csv"
    );
    let evaluate = |root: &std::path::Path| {
        let out = Command::new(BIN)
            .args(["evaluate", "--data", labelled, "--model"])
            .arg(ml_root().join("model"))
            .arg("--ml-root")
            .arg(root)
            .env("DXOPS_LAMBDA_PACKAGE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(root.join("evaluation/lambda.zip")).unwrap()
    };
    let package = evaluate(&root);
    // The same binary and model give the same bytes.
    assert_eq!(
        package,
        evaluate(&dir.path().join("again")),
        "the package is not deterministic"
    );

    let task = dir.path().join("task");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&package)).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    assert_eq!(names, ["bootstrap", "model/dxops-model.bin"]);
    zip.extract(&task).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(task.join("bootstrap"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);

    let server = Server::start(&[]);
    let csv = csv_body(&data().fresh[..2]);
    let function = Function::spawn(
        Command::new(task.join("bootstrap")),
        &[("LAMBDA_TASK_ROOT", task.to_str().unwrap())],
    );
    let answer = function.invoke(
        "packaged",
        &proxy_event("text/csv", "application/json", &csv, false),
    );
    assert_eq!(answer["statusCode"], 200, "{answer}\n{}", function.output());
    let http = server.post("text/csv", "application/json", csv.as_bytes());
    assert_eq!(answer["body"].as_str().unwrap(), http.text());
}
