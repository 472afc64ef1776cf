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
