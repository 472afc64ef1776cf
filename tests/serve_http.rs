//! The real `dxops-model serve` over HTTP on a loopback port.

mod serve_support;

use serde_json::Value;
use serve_support::*;

fn first_rows(n: usize) -> Vec<Vec<String>> {
    data().fresh[..n].to_vec()
}

fn probabilities(v: &Value) -> Vec<f64> {
    let obj = v["probabilities"].as_object().unwrap();
    obj.values().map(|p| p.as_f64().unwrap()).collect()
}

#[test]
fn every_content_type_and_accept() {
    let s = Server::start(&[]);
    assert_eq!(s.ping(), 200);
    let rows = first_rows(3);
    let names = &data().header;
    let csv = csv_body(&rows);
    let r = s.post("text/csv", "application/json", csv.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-request-id").is_some());
    let from_csv = r.json()["predictions"].as_array().unwrap().clone();
    assert_eq!(from_csv.len(), 3);
    for p in &from_csv {
        let probs = probabilities(p);
        assert_eq!(probs.len(), 2);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let label = p["predicted_label"].as_str().unwrap();
        assert!(p["probabilities"][label].as_f64().unwrap() >= 0.5);
        assert_eq!(
            p["out_of_range"].as_bool(),
            Some(!p["out_of_range_features"].as_array().unwrap().is_empty())
        );
    }

    // JSON: instances as objects, as lists, and a bare list of rows.
    let objects: Vec<Value> = rows
        .iter()
        .map(|r| {
            let m: serde_json::Map<String, Value> = names
                .iter()
                .zip(r)
                .map(|(k, v)| (k.clone(), Value::from(v.parse::<f64>().unwrap())))
                .collect();
            Value::Object(m)
        })
        .collect();
    let lists: Vec<Value> = rows
        .iter()
        .map(|r| {
            Value::from(
                r.iter()
                    .map(|v| v.parse::<f64>().unwrap())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    for body in [
        serde_json::json!({ "instances": objects }).to_string(),
        serde_json::json!({ "instances": lists }).to_string(),
        Value::from(lists.clone()).to_string(),
    ] {
        let r = s.post("application/json", "*/*", body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["predictions"].as_array().unwrap(), &from_csv);
    }

    // JSON lines in, JSON lines out.
    let jl: String = lists.iter().map(|l| l.to_string() + "\n").collect();
    let r = s.post(
        "application/jsonlines",
        "application/jsonlines",
        jl.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/jsonlines"));
    let out: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out, from_csv);

    // CSV out: label, one probability per class, out-of-range flag.
    let r = s.post("text/csv", "text/csv", csv.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv"));
    let text = r.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    for (line, p) in lines.iter().zip(&from_csv) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 4);
        assert_eq!(cells[0], p["predicted_label"].as_str().unwrap());
        let probs: Vec<f64> = cells[1..3].iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(probs, probabilities(p));
        assert_eq!(cells[3], if p["out_of_range"] == true { "1" } else { "0" });
    }

    // No Accept header → JSON; unsupported Accept → 406; unsupported type → 415.
    let r = s.request(
        "POST",
        "/invocations",
        &[("Content-Type", "text/csv")],
        csv.as_bytes(),
    );
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/json"))
    );
    assert_eq!(s.post("text/csv", "image/png", csv.as_bytes()).status, 406);
    assert_eq!(
        s.post("text/plain", "application/json", csv.as_bytes())
            .status,
        415
    );
    assert_eq!(
        s.request("POST", "/invocations", &[], csv.as_bytes())
            .status,
        415
    );
    assert_eq!(s.ping(), 200);
}

#[test]
fn out_of_training_range_is_flagged() {
    let s = Server::start(&[]);
    let mut row = first_rows(1).remove(0);
    row[0] = "1000000".into();
    let r = s.post("text/csv", "application/json", csv_body(&[row]).as_bytes());
    assert_eq!(r.status, 200);
    let p = &r.json()["predictions"][0];
    assert_eq!(p["out_of_range"], true);
    assert_eq!(
        p["out_of_range_features"],
        serde_json::json!([data().header[0]])
    );
}

#[test]
fn malformed_payloads_are_4xx_and_server_stays_healthy() {
    let s = Server::start(&[]);
    let good = first_rows(2);
    let width = data().header.len();
    let mut short = good[0].clone();
    short.pop();
    let mut text = good.clone();
    text[1][2] = "abc".into();
    let mut nan = good[0].clone();
    nan[1] = "NaN".into();
    let mut inf = good[0].clone();
    inf[4] = "-inf".into();
    let mut utf8 = csv_body(&good[..1]).into_bytes();
    utf8.splice(0..0, [0xff, 0xfe, 0x80]);
    let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let big_row = csv_body(&good[..1]);
    let seven_mb = big_row.repeat(7 * 1024 * 1024 / big_row.len() + 1);
    // (name, content type, body, status, error row, error column)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, Option<u64>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "wrong column count",
            "text/csv",
            csv_body(&[short]).into_bytes(),
            400,
            Some(1),
            None,
        ),
        (
            "text in numeric column",
            "text/csv",
            csv_body(&text).into_bytes(),
            400,
            Some(2),
            Some(data().header[2].as_str()),
        ),
        (
            "NaN",
            "text/csv",
            csv_body(&[nan]).into_bytes(),
            400,
            Some(1),
            Some(data().header[1].as_str()),
        ),
        (
            "inf",
            "text/csv",
            csv_body(&[inf]).into_bytes(),
            400,
            Some(1),
            Some(data().header[4].as_str()),
        ),
        ("empty body", "text/csv", Vec::new(), 400, None, None),
        (
            "empty JSON list",
            "application/json",
            b"[]".to_vec(),
            400,
            None,
            None,
        ),
        ("invalid UTF-8", "text/csv", utf8, 400, Some(1), None),
        (
            "deeply nested JSON",
            "application/json",
            nested.into_bytes(),
            400,
            Some(1),
            None,
        ),
        (
            "truncated JSON",
            "application/json",
            b"{\"instances\": [[1, 2".to_vec(),
            400,
            Some(1),
            None,
        ),
        (
            "JSON string",
            "application/json",
            b"\"hello\"".to_vec(),
            400,
            None,
            None,
        ),
        (
            "JSON wrong width",
            "application/json",
            format!("[[{}]]", vec!["1"; width + 1].join(",")).into_bytes(),
            400,
            Some(1),
            None,
        ),
        (
            "JSON unknown feature",
            "application/json",
            b"{\"instances\": [{\"no_such_feature\": 1}]}".to_vec(),
            400,
            Some(1),
            Some("no_such_feature"),
        ),
        (
            "JSON nested value",
            "application/json",
            format!("[[[1]{}]]", ",1".repeat(width - 1)).into_bytes(),
            400,
            Some(1),
            Some(data().header[0].as_str()),
        ),
        (
            "JSON lines bad line",
            "application/jsonlines",
            b"[1]\n{".to_vec(),
            400,
            Some(1),
            None,
        ),
        (
            "7 MB body",
            "text/csv",
            seven_mb.into_bytes(),
            413,
            None,
            None,
        ),
    ];
    for (name, ct, body, status, row, column) in cases {
        let r = s.post(ct, "application/json", &body);
        assert_eq!(r.status, status, "{name}: {}", r.text());
        let e = r.json();
        assert!(e["error"].is_string(), "{name}");
        assert_eq!(e["row"].as_u64(), row, "{name}: {e}");
        assert_eq!(e["column"].as_str(), column, "{name}: {e}");
        assert_eq!(s.ping(), 200, "{name}: unhealthy afterwards");
    }
    // Still scoring.
    assert_eq!(
        s.post("text/csv", "application/json", csv_body(&good).as_bytes())
            .status,
        200
    );
    let prom = s.request("GET", "/metrics", &[], b"").text();
    assert!(
        prom.contains("dxops_errors_total{endpoint=\"local\",class=\"4xx\"} 15"),
        "{prom}"
    );
    assert!(prom.contains("dxops_errors_total{endpoint=\"local\",class=\"5xx\"} 0"));
}

#[test]
fn unknown_route_is_404_and_wrong_method_405() {
    let s = Server::start(&[]);
    let r = s.request("GET", "/nope", &[], b"");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    assert_eq!(s.request("POST", "/ping/extra", &[], b"x").status, 404);
    assert_eq!(s.request("GET", "/invocations", &[], b"").status, 405);
    let p = s.request("GET", "/execution-parameters", &[], b"");
    assert_eq!(
        (p.status, p.json()["MaxPayloadInMB"].as_u64()),
        (200, Some(6))
    );
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut s = Server::start(&[]);
    assert_eq!(
        s.post(
            "text/csv",
            "application/json",
            csv_body(&first_rows(1)).as_bytes()
        )
        .status,
        200
    );
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "{}", s.output());
    let out = s.output();
    assert!(out.contains("\"event\":\"shutdown\""));
    assert!(out.contains("\"event\":\"stopped\""));
    // The final metrics flush happened on the way out.
    assert!(
        s.stdout.lock().unwrap().contains("\"Invocations\":1"),
        "{out}"
    );
}

#[test]
fn logs_never_hold_feature_values() {
    let mut s = Server::start(&[
        ("DXOPS_METRICS_INTERVAL", "0.2"),
        ("DXOPS_DRIFT_MIN_ROWS", "1"),
    ]);
    let marker = "987654.321";
    let mut row = first_rows(1).remove(0);
    row[3] = marker.into();
    let names = &data().header;
    assert_eq!(
        s.post(
            "text/csv",
            "application/json",
            csv_body(std::slice::from_ref(&row)).as_bytes()
        )
        .status,
        200
    );
    let obj: serde_json::Map<String, Value> = names
        .iter()
        .zip(&row)
        .map(|(k, v)| (k.clone(), Value::from(v.parse::<f64>().unwrap())))
        .collect();
    let body = serde_json::json!({ "instances": [obj] }).to_string();
    assert_eq!(
        s.post("application/json", "application/json", body.as_bytes())
            .status,
        200
    );
    // Malformed payloads carrying the marker: the error names row and column only.
    let mut bad = row.clone();
    bad[5] = format!("{marker}x");
    let r = s.post("text/csv", "application/json", csv_body(&[bad]).as_bytes());
    assert_eq!(r.status, 400);
    assert!(!r.text().contains(marker));
    let r = s.post(
        "application/json",
        "application/json",
        format!("{{\"instances\": [{{\"x{marker}\": 1}}]}}").as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        s.request("GET", &format!("/{marker}"), &[], b"").status,
        404
    );
    assert!(wait_for(10, || s
        .stdout
        .lock()
        .unwrap()
        .contains("\"DriftShare\"")));
    assert_eq!(s.terminate().code(), Some(0));
    let out = s.output();
    assert!(out.contains("\"route\":\"/invocations\""), "{out}");
    assert!(out.contains("\"rows\":1"));
    assert!(out.contains("\"latency_ms\""));
    assert!(
        !out.contains("987654"),
        "a feature value reached the logs:\n{out}"
    );
}

#[test]
fn emf_and_prometheus_metrics() {
    let mut s = Server::start(&[
        ("DXOPS_METRICS_INTERVAL", "0.3"),
        ("DXOPS_METRICS_NAMESPACE", "dxops-test"),
        ("DXOPS_ENDPOINT", "wdbc-prod"),
        ("DXOPS_DRIFT_MIN_ROWS", "5"),
    ]);
    let rows = first_rows(5);
    assert_eq!(
        s.post("text/csv", "application/json", csv_body(&rows).as_bytes())
            .status,
        200
    );
    assert_eq!(s.post("text/csv", "application/json", b"x").status, 400);
    assert!(wait_for(10, || s
        .stdout
        .lock()
        .unwrap()
        .contains("\"Rows\":5")));
    let prom = s.request("GET", "/metrics", &[], b"").text();
    assert!(
        prom.contains("dxops_invocations_total{endpoint=\"wdbc-prod\"} 2"),
        "{prom}"
    );
    assert!(prom.contains("dxops_rows_total{endpoint=\"wdbc-prod\"} 5"));
    assert!(prom.contains("dxops_drift_share{endpoint=\"wdbc-prod\"}"));
    assert_eq!(s.terminate().code(), Some(0));
    let stdout = s.stdout.lock().unwrap().clone();
    let docs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for d in &docs {
        let directive = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "dxops-test");
        assert_eq!(d["Endpoint"], "wdbc-prod");
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(d.get(name).is_some(), "metric {name} has no value");
            names.insert(name.to_string());
        }
        for dim in directive["Dimensions"][0].as_array().unwrap() {
            assert!(d.get(dim.as_str().unwrap()).is_some());
        }
    }
    for n in [
        "Latency",
        "Invocations",
        "Errors4xx",
        "Errors5xx",
        "Rows",
        "DriftShare",
        "Predictions",
        "Drift",
    ] {
        assert!(names.contains(n), "missing EMF metric {n}: {names:?}");
    }
    let sum = |name: &str| {
        docs.iter()
            .filter_map(|d| d.get(name))
            .filter_map(Value::as_u64)
            .sum::<u64>()
    };
    assert_eq!(sum("Invocations"), 2);
    assert_eq!(sum("Errors4xx"), 1);
    assert_eq!(sum("Rows"), 5);
    assert_eq!(sum("Predictions"), 5);
    let classes: std::collections::BTreeSet<&str> = docs
        .iter()
        .filter(|d| d.get("Predictions").is_some())
        .map(|d| d["Class"].as_str().unwrap())
        .collect();
    assert_eq!(classes.len(), 2);
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    use std::io::{Read, Write};
    let s = Server::start(&[]);
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    c.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let chunk = vec![b'1'; 1 << 20];
    for _ in 0..7 {
        if c.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_err()
            || c.write_all(&chunk).is_err()
            || c.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = c.write_all(b"0\r\n\r\n");
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let head = String::from_utf8_lossy(&raw);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(s.ping(), 200);
}

#[test]
fn port_from_sagemaker_environment() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--host", "127.0.0.1", "--ml-root"])
        .arg(ml_root())
        .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = wait_for(30, || {
        std::net::TcpStream::connect(addr).is_ok()
            && request(addr, "GET", "/ping", &[], b"").status == 200
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "no /ping on SAGEMAKER_BIND_TO_PORT");
}
