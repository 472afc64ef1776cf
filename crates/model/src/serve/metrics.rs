//! Serving metrics: counters, a latency histogram and the latest drift
//! result, rendered as CloudWatch Embedded Metric Format (EMF) lines for
//! stdout and as Prometheus text for `/metrics`.
//!
//! EMF names (namespace `DXOPS_METRICS_NAMESPACE`, default `dxops`; every
//! metric has the dimension `Endpoint` = `DXOPS_ENDPOINT`, default `local`):
//! `Latency` (ms), `Invocations`, `Errors4xx`, `Errors5xx`, `Rows`,
//! `DriftShare`, `Predictions` (plus dimension `Class`) and `Drift` (plus
//! dimension `Feature`; 1 when the feature drifted, else 0).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::feedback::Live;
use crate::drift::DriftReport;

pub const ENV_NAMESPACE: &str = "DXOPS_METRICS_NAMESPACE";
pub const ENV_ENDPOINT: &str = "DXOPS_ENDPOINT";
pub const DEFAULT_NAMESPACE: &str = "dxops";
pub const DEFAULT_ENDPOINT: &str = "local";

/// Upper bounds (seconds) of the Prometheus latency histogram buckets.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// EMF allows at most 100 values per metric per document: latencies of an
/// interval beyond that are reservoir-sampled.
const LATENCY_SAMPLES: usize = 100;

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    invocations: u64,
    errors_4xx: u64,
    errors_5xx: u64,
    rows: u64,
}

#[derive(Debug)]
struct Interval {
    samples: Vec<f64>,
    seen: u64,
    rng: u64,
    last: Totals,
    last_classes: Vec<u64>,
}

#[derive(Debug)]
pub struct Metrics {
    namespace: String,
    endpoint: String,
    classes: Vec<String>,
    invocations: AtomicU64,
    errors_4xx: AtomicU64,
    errors_5xx: AtomicU64,
    rows: AtomicU64,
    class_counts: Vec<AtomicU64>,
    latency_buckets: Vec<AtomicU64>,
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    interval: Mutex<Interval>,
    drift: Mutex<Option<DriftReport>>,
    live: Mutex<Option<Live>>,
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn new(namespace: String, endpoint: String, classes: Vec<String>) -> Metrics {
        let k = classes.len();
        Metrics {
            namespace,
            endpoint,
            invocations: AtomicU64::new(0),
            errors_4xx: AtomicU64::new(0),
            errors_5xx: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            class_counts: (0..k).map(|_| AtomicU64::new(0)).collect(),
            latency_buckets: (0..=LATENCY_BUCKETS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency_count: AtomicU64::new(0),
            latency_sum_ns: AtomicU64::new(0),
            interval: Mutex::new(Interval {
                samples: Vec::with_capacity(LATENCY_SAMPLES),
                seen: 0,
                rng: 0x9E37_79B9_7F4A_7C15,
                last: Totals::default(),
                last_classes: vec![0; k],
            }),
            drift: Mutex::new(None),
            live: Mutex::new(None),
            classes,
        }
    }

    /// From `DXOPS_METRICS_NAMESPACE` and `DXOPS_ENDPOINT`.
    pub fn from_env(classes: Vec<String>) -> Metrics {
        let get = |k: &str, d: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        Metrics::new(
            get(ENV_NAMESPACE, DEFAULT_NAMESPACE),
            get(ENV_ENDPOINT, DEFAULT_ENDPOINT),
            classes,
        )
    }

    /// Records one `/invocations` request.
    pub fn record_invocation(&self, status: u16, latency_seconds: f64, rows: usize) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if (400..500).contains(&status) {
            self.errors_4xx.fetch_add(1, Ordering::Relaxed);
        } else if status >= 500 {
            self.errors_5xx.fetch_add(1, Ordering::Relaxed);
        }
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        let b = LATENCY_BUCKETS.partition_point(|&ub| ub < latency_seconds);
        self.latency_buckets[b].fetch_add(1, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns
            .fetch_add((latency_seconds * 1e9) as u64, Ordering::Relaxed);
        if let Ok(mut iv) = self.interval.lock() {
            iv.seen += 1;
            let ms = latency_seconds * 1000.0;
            if iv.samples.len() < LATENCY_SAMPLES {
                iv.samples.push(ms);
            } else {
                // xorshift64 for reservoir sampling
                let mut x = iv.rng;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                iv.rng = x;
                let j = x % iv.seen;
                if (j as usize) < LATENCY_SAMPLES {
                    iv.samples[j as usize] = ms;
                }
            }
        }
    }

    /// Counts predicted classes (indices into `classes`).
    pub fn record_predictions(&self, predicted: &[usize]) {
        for &p in predicted {
            if let Some(c) = self.class_counts.get(p) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn set_drift(&self, report: DriftReport) {
        if let Ok(mut d) = self.drift.lock() {
            *d = Some(report);
        }
    }

    /// Live quality from fed-back labels (see `serve::feedback`).
    pub fn set_live(&self, live: Option<Live>) {
        if let Ok(mut l) = self.live.lock() {
            *l = live;
        }
    }

    pub fn live(&self) -> Option<Live> {
        self.live.lock().ok().and_then(|l| *l)
    }

    pub fn drift(&self) -> Option<DriftReport> {
        self.drift.lock().ok().and_then(|d| d.clone())
    }

    fn totals(&self) -> Totals {
        Totals {
            invocations: self.invocations.load(Ordering::Relaxed),
            errors_4xx: self.errors_4xx.load(Ordering::Relaxed),
            errors_5xx: self.errors_5xx.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
        }
    }

    fn emf_document(
        &self,
        timestamp_ms: u64,
        dims: &[&str],
        metrics: &[(&str, &str, Value)],
        extra: &[(&str, &str)],
    ) -> String {
        let mut doc = serde_json::Map::new();
        let defs: Vec<Value> = metrics
            .iter()
            .map(|(n, u, _)| json!({"Name": n, "Unit": u}))
            .collect();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{"Namespace": self.namespace, "Dimensions": [dims], "Metrics": defs}]
            }),
        );
        doc.insert("Endpoint".into(), Value::String(self.endpoint.clone()));
        for (k, v) in extra {
            doc.insert((*k).into(), Value::String((*v).to_string()));
        }
        for (n, _, v) in metrics {
            doc.insert((*n).into(), v.clone());
        }
        Value::Object(doc).to_string()
    }

    /// EMF lines for the interval since the previous call: request metrics,
    /// per-class predictions, and drift when a window has been evaluated.
    pub fn emf_lines(&self, timestamp_ms: u64) -> Vec<String> {
        let now = self.totals();
        let classes_now: Vec<u64> = self
            .class_counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let (samples, last, last_classes) = match self.interval.lock() {
            Ok(mut iv) => {
                let samples = std::mem::take(&mut iv.samples);
                iv.seen = 0;
                let last = std::mem::replace(&mut iv.last, now);
                let last_classes = std::mem::replace(&mut iv.last_classes, classes_now.clone());
                (samples, last, last_classes)
            }
            Err(_) => return Vec::new(),
        };
        let drift = self.drift();
        let mut main: Vec<(&str, &str, Value)> = vec![
            (
                "Invocations",
                "Count",
                json!(now.invocations - last.invocations),
            ),
            (
                "Errors4xx",
                "Count",
                json!(now.errors_4xx - last.errors_4xx),
            ),
            (
                "Errors5xx",
                "Count",
                json!(now.errors_5xx - last.errors_5xx),
            ),
            ("Rows", "Count", json!(now.rows - last.rows)),
        ];
        if !samples.is_empty() {
            main.insert(0, ("Latency", "Milliseconds", json!(samples)));
        }
        if let Some(d) = &drift {
            main.push(("DriftShare", "None", json!(d.drift_share)));
        }
        if let Some(l) = self.live() {
            main.push(("LiveMacroF1", "None", json!(l.macro_f1)));
            main.push(("LiveWorstClassRecall", "None", json!(l.worst_class_recall)));
            main.push(("LiveLabelledRows", "Count", json!(l.labelled_rows)));
        }
        let mut lines = vec![self.emf_document(timestamp_ms, &["Endpoint"], &main, &[])];
        for (i, class) in self.classes.iter().enumerate() {
            let n = classes_now[i] - last_classes[i];
            lines.push(self.emf_document(
                timestamp_ms,
                &["Endpoint", "Class"],
                &[("Predictions", "Count", json!(n))],
                &[("Class", class)],
            ));
        }
        if let Some(d) = &drift {
            for f in d.features.iter().filter(|f| f.rows > 0) {
                lines.push(self.emf_document(
                    timestamp_ms,
                    &["Endpoint", "Feature"],
                    &[("Drift", "None", json!(if f.drifted { 1 } else { 0 }))],
                    &[("Feature", &f.feature)],
                ));
            }
        }
        lines
    }

    /// Prometheus text exposition of the totals since start.
    pub fn prometheus(&self) -> String {
        let t = self.totals();
        let ep = escape_label(&self.endpoint);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP dxops_invocations_total Invocation requests.\n# TYPE dxops_invocations_total counter"
        );
        let _ = writeln!(
            s,
            "dxops_invocations_total{{endpoint=\"{ep}\"}} {}",
            t.invocations
        );
        let _ = writeln!(
            s,
            "# HELP dxops_errors_total Invocation requests answered with an error status.\n# TYPE dxops_errors_total counter"
        );
        let _ = writeln!(
            s,
            "dxops_errors_total{{endpoint=\"{ep}\",class=\"4xx\"}} {}",
            t.errors_4xx
        );
        let _ = writeln!(
            s,
            "dxops_errors_total{{endpoint=\"{ep}\",class=\"5xx\"}} {}",
            t.errors_5xx
        );
        let _ = writeln!(
            s,
            "# HELP dxops_rows_total Rows scored.\n# TYPE dxops_rows_total counter"
        );
        let _ = writeln!(s, "dxops_rows_total{{endpoint=\"{ep}\"}} {}", t.rows);
        let _ = writeln!(
            s,
            "# HELP dxops_predictions_total Rows predicted per class.\n# TYPE dxops_predictions_total counter"
        );
        for (c, n) in self.classes.iter().zip(&self.class_counts) {
            let _ = writeln!(
                s,
                "dxops_predictions_total{{endpoint=\"{ep}\",class=\"{}\"}} {}",
                escape_label(c),
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP dxops_latency_seconds Invocation latency.\n# TYPE dxops_latency_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, ub) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "dxops_latency_seconds_bucket{{endpoint=\"{ep}\",le=\"{ub}\"}} {cumulative}"
            );
        }
        cumulative += self.latency_buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "dxops_latency_seconds_bucket{{endpoint=\"{ep}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            s,
            "dxops_latency_seconds_sum{{endpoint=\"{ep}\"}} {}",
            self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(
            s,
            "dxops_latency_seconds_count{{endpoint=\"{ep}\"}} {}",
            self.latency_count.load(Ordering::Relaxed)
        );
        if let Some(l) = self.live() {
            let _ = writeln!(
                s,
                "# HELP dxops_live_macro_f1 Macro-F1 of served predictions against fed-back labels.\n# TYPE dxops_live_macro_f1 gauge\ndxops_live_macro_f1{{endpoint=\"{ep}\"}} {}",
                l.macro_f1
            );
            let _ = writeln!(
                s,
                "# HELP dxops_live_worst_class_recall Lowest per-class recall against fed-back labels.\n# TYPE dxops_live_worst_class_recall gauge\ndxops_live_worst_class_recall{{endpoint=\"{ep}\"}} {}",
                l.worst_class_recall
            );
            let _ = writeln!(
                s,
                "# HELP dxops_live_labelled_rows Labelled rows the live metrics cover.\n# TYPE dxops_live_labelled_rows gauge\ndxops_live_labelled_rows{{endpoint=\"{ep}\"}} {}",
                l.labelled_rows
            );
        }
        if let Some(d) = self.drift() {
            let _ = writeln!(
                s,
                "# HELP dxops_drift_share Share of features drifted in the rolling window.\n# TYPE dxops_drift_share gauge"
            );
            let _ = writeln!(
                s,
                "dxops_drift_share{{endpoint=\"{ep}\"}} {}",
                d.drift_share
            );
            let _ = writeln!(
                s,
                "# HELP dxops_drift_window_rows Rows in the evaluated drift window.\n# TYPE dxops_drift_window_rows gauge"
            );
            let _ = writeln!(s, "dxops_drift_window_rows{{endpoint=\"{ep}\"}} {}", d.rows);
            let _ = writeln!(
                s,
                "# HELP dxops_feature_drifted 1 when the feature drifted in the rolling window.\n# TYPE dxops_feature_drifted gauge"
            );
            for f in d.features.iter().filter(|f| f.rows > 0) {
                let _ = writeln!(
                    s,
                    "dxops_feature_drifted{{endpoint=\"{ep}\",feature=\"{}\",method=\"{}\"}} {}",
                    escape_label(&f.feature),
                    f.method,
                    u8::from(f.drifted)
                );
            }
            let _ = writeln!(
                s,
                "# HELP dxops_feature_drift_score Drift score (p-value or distance, see method).\n# TYPE dxops_feature_drift_score gauge"
            );
            for f in d.features.iter().filter(|f| f.rows > 0) {
                let _ = writeln!(
                    s,
                    "dxops_feature_drift_score{{endpoint=\"{ep}\",feature=\"{}\",method=\"{}\"}} {}",
                    escape_label(&f.feature),
                    f.method,
                    f.score
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_quality_reaches_emf_and_prometheus_under_the_alarm_s_name() {
        let m = Metrics::new("dxops".into(), "ep".into(), vec!["a".into(), "b".into()]);
        assert!(!m.emf_lines(1).join("\n").contains("LiveMacroF1"));
        assert!(!m.prometheus().contains("dxops_live_macro_f1"));
        m.set_live(Some(Live {
            macro_f1: 0.75,
            worst_class_recall: 0.5,
            labelled_rows: 8,
        }));
        let emf: Value = serde_json::from_str(&m.emf_lines(2)[0]).unwrap();
        assert_eq!(emf["LiveMacroF1"], 0.75);
        assert_eq!(emf["LiveWorstClassRecall"], 0.5);
        let names = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
        assert!(names.contains("\"LiveMacroF1\""), "{names}");
        assert!(
            m.prometheus()
                .contains("dxops_live_macro_f1{endpoint=\"ep\"} 0.75")
        );
    }

    #[test]
    fn emf_deltas_and_names() {
        let m = Metrics::new("ns".into(), "ep".into(), vec!["B".into(), "M".into()]);
        for i in 0..250 {
            m.record_invocation(if i % 50 == 0 { 400 } else { 200 }, 0.001, 2);
        }
        m.record_invocation(503, 0.002, 0);
        m.record_predictions(&[0, 1, 1]);
        let lines = m.emf_lines(1);
        let main: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(main["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ns");
        assert_eq!(
            main["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Endpoint"]])
        );
        assert_eq!(main["Endpoint"], "ep");
        assert_eq!(main["Invocations"], 251);
        assert_eq!(main["Errors4xx"], 5);
        assert_eq!(main["Errors5xx"], 1);
        assert_eq!(main["Rows"], 500);
        assert_eq!(main["Latency"].as_array().unwrap().len(), LATENCY_SAMPLES);
        assert!(main.get("DriftShare").is_none());
        let m_line: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(
            (m_line["Class"].as_str(), m_line["Predictions"].as_u64()),
            (Some("M"), Some(2))
        );
        assert_eq!(
            m_line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Endpoint", "Class"]])
        );
        // The next interval holds only what happened since.
        m.record_invocation(200, 0.001, 1);
        let next: Value = serde_json::from_str(&m.emf_lines(2)[0]).unwrap();
        assert_eq!(
            (
                next["Invocations"].as_u64(),
                next["Rows"].as_u64(),
                next["Errors4xx"].as_u64()
            ),
            (Some(1), Some(1), Some(0))
        );
        let prom = m.prometheus();
        assert!(prom.contains("dxops_invocations_total{endpoint=\"ep\"} 252"));
        assert!(prom.contains("dxops_latency_seconds_count{endpoint=\"ep\"} 252"));
        assert!(prom.contains("dxops_latency_seconds_bucket{endpoint=\"ep\",le=\"+Inf\"} 252"));
    }
}
