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
            Some(data().header[0].as_str()),
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
            None,
        ),
        (
            "one row more than the limit",
            "application/json",
            format!("[{}]", vec!["{}"; dxops_ml::wire::MAX_ROWS + 1].join(",")).into_bytes(),
            413,
            None,
            None,
        ),
        (
            "two million empty objects",
            "application/json",
            empty_objects(MAX_BODY),
            413,
            None,
            None,
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
        prom.contains("dxops_errors_total{endpoint=\"local\",class=\"4xx\"} 17"),
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

/// `/proc/<pid>/status` VmHWM of the server, in MiB.
fn peak_mib(s: &Server) -> u64 {
    proc_kib(s.child.id(), "VmHWM").unwrap_or(0) / 1024
}

#[test]
fn millions_of_empty_objects_are_refused_quickly_and_cheaply() {
    // 6 MiB of `{},` is two million instances; it used to take 32 s and
    // 1.3 GB per request, and three at once killed the server.
    let s = Server::start(&[]);
    let body = std::sync::Arc::new(empty_objects(MAX_BODY));
    let start = std::time::Instant::now();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (addr, body) = (s.addr, body.clone());
            std::thread::spawn(move || {
                let h = [("Content-Type", "application/json")];
                request(addr, "POST", "/invocations", &h, &body)
            })
        })
        .collect();
    for w in workers {
        let r = w.join().unwrap();
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(r.body.len() < 512, "{}", r.text());
        assert!(
            r.json()["error"].as_str().unwrap().contains("100000 rows"),
            "{}",
            r.text()
        );
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(s.ping(), 200);
    let peak = peak_mib(&s);
    assert!(peak < 512, "peak RSS {peak} MiB");
}

#[test]
fn response_size_is_bounded() {
    // 60,000 rows whose values mostly lie outside the training range: each
    // row's JSON names most of the 30 features, ~36 MB in all, over the
    // 32 MiB cap.
    let s = Server::start(&[]);
    let width = data().header.len();
    let row = format!("{}\n", vec!["1"; width].join(","));
    let body = row.repeat(60_000);
    assert!(body.len() <= MAX_BODY);
    let r = s.post("text/csv", "application/json", body.as_bytes());
    assert_eq!(r.status, 413, "{}", &r.text()[..r.text().len().min(300)]);
    assert!(r.text().contains("response would exceed"), "{}", r.text());
    // The same rows as CSV fit.
    let r = s.post("text/csv", "text/csv", row.repeat(1000).as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.text().lines().count(), 1000);
}

#[test]
fn accept_q_values_are_honoured() {
    let s = Server::start(&[]);
    let csv = csv_body(&first_rows(1));
    for none in ["*/*;q=0", "application/json;q=0", "text/csv;q=0, */*;q=0"] {
        let r = s.post("text/csv", none, csv.as_bytes());
        assert_eq!(r.status, 406, "{none}: {}", r.text());
    }
    let r = s.post("text/csv", "application/json;q=0, text/csv", csv.as_bytes());
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/csv"))
    );
    let r = s.post(
        "text/csv",
        "text/csv;q=0.2, application/jsonlines;q=0.9",
        csv.as_bytes(),
    );
    assert_eq!(r.header("content-type"), Some("application/jsonlines"));
}

#[test]
fn idle_and_half_sent_connections_are_closed() {
    use std::io::Write;
    let s = Server::start(&[("DXOPS_HEADER_TIMEOUT", "1"), ("DXOPS_BODY_TIMEOUT", "1")]);
    let connect = || std::net::TcpStream::connect(s.addr).unwrap();
    // Nothing sent at all.
    let mut idle = connect();
    // Half a request line and headers.
    let mut half_head = connect();
    half_head
        .write_all(b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .unwrap();
    // Whole headers, a tenth of the declared body.
    let mut half_body = connect();
    half_body
        .write_all(
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n1,2,3,4,5,",
        )
        .unwrap();
    // One full request, then silence on the kept-alive connection.
    let mut kept = connect();
    kept.write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let start = std::time::Instant::now();
    for (name, c) in [
        ("idle", &mut idle),
        ("half-sent headers", &mut half_head),
        ("half-sent body", &mut half_body),
        ("kept alive", &mut kept),
    ] {
        let (got, closed) = read_until_closed(c, 10);
        assert!(closed, "{name}: still open after 10 s");
        let text = String::from_utf8_lossy(&got);
        match name {
            "half-sent body" => assert!(text.starts_with("HTTP/1.1 408"), "{name}: {text}"),
            "kept alive" => assert!(text.starts_with("HTTP/1.1 200"), "{name}: {text}"),
            _ => {}
        }
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(8));
    assert_eq!(s.ping(), 200);
}

#[test]
fn sigterm_with_half_sent_requests_exits_within_the_deadline() {
    use std::io::Write;
    // Default header and body timeouts (10 s, 30 s) are longer than the
    // 2 s shutdown deadline, so only the deadline can end these.
    let mut s = Server::start(&[("DXOPS_SHUTDOWN_DEADLINE", "2")]);
    let mut half_head = std::net::TcpStream::connect(s.addr).unwrap();
    half_head
        .write_all(b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let mut half_body = std::net::TcpStream::connect(s.addr).unwrap();
    half_body
        .write_all(
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n1,",
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let start = std::time::Instant::now();
    let status = s.terminate();
    let took = start.elapsed();
    assert_eq!(status.code(), Some(0), "{}", s.output());
    assert!(
        took < std::time::Duration::from_secs(6),
        "exit took {took:?}"
    );
    assert!(
        s.output().contains("\"event\":\"stopped\""),
        "{}",
        s.output()
    );
}

#[test]
fn marker_strings_never_come_back() {
    // A marker sent through every client-controlled input must reach no log
    // line, no metric and no response (status line, headers or body).
    const M: &str = "XMARKERX";
    let mut s = Server::start(&[
        ("DXOPS_METRICS_INTERVAL", "0.2"),
        ("DXOPS_DRIFT_MIN_ROWS", "1"),
    ]);
    let width = data().header.len();
    let good = csv_body(&first_rows(1));
    let csv_ct = [("Content-Type", "text/csv")];
    let json_ct = [("Content-Type", "application/json")];
    let lines_ct = [("Content-Type", "application/jsonlines")];
    let marker_path = format!("/{M}");
    let query_path = format!("/invocations?{M}={M}");
    let ct_param = format!("text/csv; charset={M}");
    let accept_param = format!("text/csv;{M}={M}");
    let numbers = vec!["1"; width - 1].join(",");
    let bodies: Vec<(String, Vec<u8>)> = vec![
        (
            "text in a numeric column".into(),
            format!("{M},{numbers}\n").into_bytes(),
        ),
        ("wrong width".into(), format!("{M}\n").into_bytes()),
        (
            "JSON value".into(),
            format!("[[\"{M}\",{numbers}]]").into_bytes(),
        ),
        (
            "JSON key".into(),
            format!("{{\"instances\":[{{\"{M}\":1}}]}}").into_bytes(),
        ),
        (
            "JSON top key".into(),
            format!("{{\"{M}\":[[1]]}}").into_bytes(),
        ),
        (
            "JSON features + key".into(),
            format!("[{{\"features\":[{numbers},1],\"{M}\":1}}]").into_bytes(),
        ),
        (
            "JSON nested".into(),
            format!("[[{{\"{M}\":\"{M}\"}},{numbers}]]").into_bytes(),
        ),
        ("malformed JSON".into(), format!("[[{M}").into_bytes()),
        ("JSON string".into(), format!("\"{M}\"").into_bytes()),
    ];
    let mut responses = Vec::new();
    let mut send = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        responses.push(s.request(method, path, headers, body));
    };
    send(M, "/ping", &[], b"");
    send(M, "/invocations", &csv_ct, good.as_bytes());
    send(M, &marker_path, &[], b"");
    send("GET", &marker_path, &[], b"");
    send("POST", &query_path, &csv_ct, good.as_bytes());
    send("GET", &format!("/ping?{M}"), &[], b"");
    send(
        "POST",
        "/invocations",
        &[("Content-Type", M)],
        good.as_bytes(),
    );
    send(
        "POST",
        "/invocations",
        &[("Content-Type", &ct_param)],
        good.as_bytes(),
    );
    send(
        "POST",
        "/invocations",
        &[("Content-Type", "text/csv"), ("Accept", M)],
        good.as_bytes(),
    );
    send(
        "POST",
        "/invocations",
        &[("Content-Type", "text/csv"), ("Accept", &accept_param)],
        good.as_bytes(),
    );
    send(
        "POST",
        "/invocations",
        &[
            ("Content-Type", "text/csv"),
            ("X-Marker", M),
            ("User-Agent", M),
        ],
        good.as_bytes(),
    );
    send(
        "POST",
        "/invocations",
        &[("Content-Type", "text/csv"), ("Content-Length", M)],
        good.as_bytes(),
    );
    for (_, body) in &bodies {
        send("POST", "/invocations", &json_ct, body);
        send("POST", "/invocations", &lines_ct, body);
        send("POST", "/invocations", &csv_ct, body);
    }
    assert!(responses.iter().any(|r| r.status == 200));
    assert!(responses.iter().any(|r| r.status == 400));
    let prom = s.request("GET", "/metrics", &[], b"").text();
    assert!(wait_for(10, || s
        .stdout
        .lock()
        .unwrap()
        .contains("\"DriftShare\"")));
    assert_eq!(s.terminate().code(), Some(0));
    for r in &responses {
        let all = format!("{:?}{}", r.headers, r.text());
        assert!(!all.contains(M), "marker in a response: {} {all}", r.status);
    }
    assert!(!prom.contains(M), "marker in /metrics");
    let out = s.output();
    assert!(out.contains("\"method\":\"other\""), "{out}");
    assert!(!out.contains(M), "marker in the logs:\n{out}");
}

#[test]
fn ten_worst_case_requests_under_a_4_gib_address_space() {
    // Five 6 MiB bodies of two million empty objects (refused at the row
    // limit) and five 6 MB CSV bodies of 100,000 rows (scored), all at once,
    // with the server's address space capped at 4 GiB: all are answered,
    // `/ping` stays up, and the peak RSS is printed for the README.
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("prlimit not installed; skipped");
        return;
    }
    let mut cmd = std::process::Command::new("prlimit");
    cmd.args(["--as=4294967296", BIN]);
    let s = Server::spawn(cmd, ml_root(), &[("DXOPS_REQUEST_TIMEOUT", "300")]);
    let width = data().header.len();
    let csv = format!("{}\n", vec!["1"; width].join(",")).repeat(dxops_ml::wire::MAX_ROWS);
    assert!(csv.len() <= MAX_BODY);
    let bodies = [
        std::sync::Arc::new(empty_objects(MAX_BODY)),
        std::sync::Arc::new(csv.into_bytes()),
    ];
    let start = std::time::Instant::now();
    let workers: Vec<_> = (0..10)
        .map(|i| {
            let (addr, body) = (s.addr, bodies[i % 2].clone());
            let ct = if i % 2 == 0 {
                "application/json"
            } else {
                "text/csv"
            };
            std::thread::spawn(move || {
                let h = [("Content-Type", ct), ("Accept", "text/csv")];
                // Scoring slots serialise the five scored bodies.
                (
                    i,
                    request_within(addr, "POST", "/invocations", &h, &body, 240),
                )
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let ping_start = std::time::Instant::now();
    assert_eq!(s.ping(), 200, "no /ping under load");
    let ping = ping_start.elapsed();
    for w in workers {
        let (i, r) = w.join().unwrap();
        let want = if i % 2 == 0 { 413 } else { 200 };
        assert_eq!(
            r.status,
            want,
            "request {i}: {}",
            &r.text()[..r.text().len().min(200)]
        );
    }
    let took = start.elapsed();
    assert_eq!(s.ping(), 200);
    let peak = peak_mib(&s);
    eprintln!(
        "ten worst-case requests: {took:?}, /ping under load {ping:?}, peak RSS (VmHWM) {peak} MiB"
    );
    assert!(
        ping < std::time::Duration::from_secs(2),
        "/ping took {ping:?}"
    );
    assert!(peak < 1024, "peak RSS {peak} MiB");
}

#[test]
fn an_invocation_over_the_request_timeout_is_503() {
    use std::io::Write;
    // The body timeout (30 s) would come later: the request timeout (1 s)
    // covers the whole invocation.
    let s = Server::start(&[("DXOPS_REQUEST_TIMEOUT", "1")]);
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n1,",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let (got, closed) = read_until_closed(&mut c, 10);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(closed);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(s.ping(), 200);
}
