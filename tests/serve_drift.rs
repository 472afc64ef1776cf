//! Rolling-window drift in the server's metrics: found on a shifted copy of
//! the data, not on a fresh sample of the training distribution.

mod serve_support;

use serve_support::*;

fn drift_share(s: &Server) -> Option<f64> {
    let prom = s.request("GET", "/metrics", &[], b"").text();
    prom.lines()
        .find(|l| l.starts_with("dxops_drift_share{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn window_rows(s: &Server) -> Option<u64> {
    let prom = s.request("GET", "/metrics", &[], b"").text();
    prom.lines()
        .find(|l| l.starts_with("dxops_drift_window_rows{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn run(rows: &[Vec<String>], method: Option<(&str, &str)>) -> (f64, String) {
    let mut env = vec![
        ("DXOPS_METRICS_INTERVAL", "0.3"),
        ("DXOPS_DRIFT_WINDOW", "250"),
        ("DXOPS_DRIFT_MIN_ROWS", "250"),
    ];
    if let Some((m, t)) = method {
        env.push(("DXOPS_DRIFT_METHOD", m));
        env.push(("DXOPS_DRIFT_THRESHOLD", t));
    }
    let mut s = Server::start(&env);
    // Single-row and batch requests feed the same window.
    for r in &rows[..50] {
        assert_eq!(
            s.post(
                "text/csv",
                "application/json",
                csv_body(std::slice::from_ref(r)).as_bytes()
            )
            .status,
            200
        );
    }
    assert_eq!(
        s.post(
            "text/csv",
            "application/json",
            csv_body(&rows[50..250]).as_bytes()
        )
        .status,
        200
    );
    assert!(
        wait_for(15, || window_rows(&s) == Some(250)),
        "drift was not evaluated"
    );
    let share = drift_share(&s).unwrap();
    assert_eq!(s.terminate().code(), Some(0));
    let stdout = s.stdout.lock().unwrap().clone();
    (share, stdout)
}

fn emf_drift_share(stdout: &str) -> f64 {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|d| d.get("DriftShare").and_then(|v| v.as_f64()))
        .next_back()
        .expect("no DriftShare in EMF output")
}

#[test]
fn fresh_sample_does_not_drift() {
    let (share, stdout) = run(&data().fresh, None);
    assert!(share < 0.2, "drift share {share} on a fresh sample");
    assert_eq!(emf_drift_share(&stdout), share);
}

#[test]
fn shifted_copy_drifts() {
    let (share, stdout) = run(&shifted(&data().fresh), None);
    assert!(share > 0.5, "drift share {share} on a shifted copy");
    assert_eq!(emf_drift_share(&stdout), share);
    // Per-feature Drift lines with the Feature dimension.
    let drifted = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d.get("Feature").is_some() && d["Drift"] == 1)
        .count();
    assert!(drifted > data().header.len() / 2);
}

/// PSI over 10 decile bins has sampling noise of about 9 · (1/250 + 1/285)
/// ≈ 0.07 on windows this small, so the test sets a threshold of 0.25.
#[test]
fn configured_method_and_threshold_are_used() {
    let (fresh, _) = run(&data().fresh, Some(("psi", "0.25")));
    assert!(fresh < 0.2, "psi: fresh {fresh}");
    let (shift, _) = run(&shifted(&data().fresh), Some(("psi", "0.25")));
    assert!(shift > 0.5, "psi: shifted {shift}");
}

#[test]
fn method_reaches_prometheus_labels() {
    let env = [
        ("DXOPS_METRICS_INTERVAL", "0.2"),
        ("DXOPS_DRIFT_MIN_ROWS", "20"),
        ("DXOPS_DRIFT_METHOD", "wasserstein"),
    ];
    let s = Server::start(&env);
    assert_eq!(
        s.post(
            "text/csv",
            "application/json",
            csv_body(&data().fresh[..20]).as_bytes()
        )
        .status,
        200
    );
    assert!(wait_for(15, || window_rows(&s) == Some(20)));
    let prom = s.request("GET", "/metrics", &[], b"").text();
    assert_eq!(
        prom.matches("method=\"wasserstein\"").count(),
        2 * data().header.len(),
        "{prom}"
    );
}

#[test]
fn bad_drift_configuration_fails_at_start() {
    let o = std::process::Command::new(BIN)
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--ml-root"])
        .arg(ml_root())
        .env("DXOPS_DRIFT_METHOD", "guess")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown drift method"));
}

fn prom_value(prom: &str, name: &str) -> Option<u64> {
    prom.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn categorical_values_do_not_accumulate_in_the_drift_window() {
    // Each request carries rows whose text feature is a unique 256 KiB
    // string. The window keeps 1,000 rows; storing those strings held
    // ~100 MB after 100 requests and grew until the process aborted.
    let tmp = tempfile::tempdir().unwrap();
    let root = categorical_ml_root(tmp.path());
    let s = Server::start_at(
        &root,
        &[
            ("DXOPS_METRICS_INTERVAL", "0.3"),
            ("DXOPS_DRIFT_MIN_ROWS", "50"),
        ],
    );
    let rows = &data().fresh;
    let warm: String = rows[..4].iter().map(|r| r.join(",") + ",north\n").collect();
    assert_eq!(
        s.post("text/csv", "application/json", warm.as_bytes())
            .status,
        200
    );
    let before = proc_kib(s.child.id(), "VmRSS").unwrap();
    let big = "XMARKERX".repeat(32 * 1024);
    for i in 0..100 {
        let body: String = rows[..4]
            .iter()
            .enumerate()
            .map(|(j, r)| format!("{},{big}{i}-{j}\n", r.join(",")))
            .collect();
        let r = s.post("text/csv", "application/json", body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let after = proc_kib(s.child.id(), "VmRSS").unwrap();
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(grown_mib < 40, "RSS grew by {grown_mib} MiB");
    let prom = s.request("GET", "/metrics", &[], b"").text();
    assert_eq!(prom_value(&prom, "dxops_drift_window_held_rows"), Some(404));
    let width = data().header.len() as u64 + 1;
    let bytes = prom_value(&prom, "dxops_drift_window_bytes").unwrap();
    assert!(bytes <= 2 * 1000 * width * 16, "window holds {bytes} bytes");
    // Every value unknown to the baseline counts as one "other" category,
    // which drifts; no value of it reaches the metrics.
    assert!(wait_for(15, || window_rows(&s) == Some(404)));
    let prom = s.request("GET", "/metrics", &[], b"").text();
    assert!(
        prom.contains("feature=\"site\",method=\"chi_squared\"} 1"),
        "{prom}"
    );
    assert!(!prom.contains("XMARKERX"));
}

#[test]
fn window_byte_budget_lowers_its_row_capacity() {
    // 31 features × 16-byte cells: 4,960 bytes hold 10 rows.
    let tmp = tempfile::tempdir().unwrap();
    let root = categorical_ml_root(tmp.path());
    let s = Server::start_at(&root, &[("DXOPS_DRIFT_WINDOW_BYTES", "4960")]);
    let body: String = data().fresh[..25]
        .iter()
        .map(|r| r.join(",") + ",east\n")
        .collect();
    assert_eq!(
        s.post("text/csv", "application/json", body.as_bytes())
            .status,
        200
    );
    let prom = s.request("GET", "/metrics", &[], b"").text();
    assert_eq!(prom_value(&prom, "dxops_drift_window_held_rows"), Some(10));
    assert!(prom_value(&prom, "dxops_drift_window_bytes").unwrap() <= 2 * 4960);
}
