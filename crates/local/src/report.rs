//! `report.html`: one self-contained page per run (inline SVG and CSS, no
//! script, nothing fetched), for clinicians and auditors who would rather
//! look than read: the confusion matrix, per-class recall and precision
//! beside the production version's, ROC curves, calibration, drift per
//! feature and request latency. Only aggregates appear, never a record.

use std::fmt::Write as _;

use crate::StepStatus;
use crate::run::RunSummary;

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A chart frame: `w`×`h` pixels with a left and bottom margin for axes.
struct Svg {
    out: String,
    w: f64,
    h: f64,
    left: f64,
    bottom: f64,
}

impl Svg {
    fn new(w: f64, h: f64, left: f64, bottom: f64, title: &str) -> Svg {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><title>{t}</title>"#,
            t = esc(title)
        );
        Svg {
            out,
            w,
            h,
            left,
            bottom,
        }
    }

    /// Plot x of a value in [0, 1].
    fn x(&self, v: f64) -> f64 {
        // Room on the right for a value label beside the longest bar.
        self.left + v.clamp(0.0, 1.0) * (self.w - self.left - 40.0)
    }

    /// Plot y of a value in [0, 1].
    fn y(&self, v: f64) -> f64 {
        (self.h - self.bottom) - v.clamp(0.0, 1.0) * (self.h - self.bottom - 10.0)
    }

    fn unit_axes(&mut self, x_label: &str, y_label: &str) {
        let (x0, y0, x1, y1) = (self.x(0.0), self.y(0.0), self.x(1.0), self.y(1.0));
        let _ = write!(
            self.out,
            r##"<rect x="{x0}" y="{y1}" width="{}" height="{}" fill="#fafafa" stroke="#999"/>"##,
            x1 - x0,
            y0 - y1
        );
        for t in [0.0, 0.5, 1.0] {
            let _ = write!(
                self.out,
                r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">{t}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{t}</text>"#,
                self.x(t),
                y0 + 12.0,
                x0 - 4.0,
                self.y(t) + 3.0
            );
        }
        let _ = write!(
            self.out,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text><text x="12" y="{}" font-size="11" transform="rotate(-90 12 {})" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            self.h - 4.0,
            esc(x_label),
            (y0 + y1) / 2.0,
            (y0 + y1) / 2.0,
            esc(y_label)
        );
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

fn confusion_matrix(classes: &[String], m: &[Vec<usize>]) -> String {
    let n = classes.len();
    let cell = 34.0;
    let left = 150.0;
    let top = 20.0;
    // Rotated column labels run right of the last column.
    let w = left + cell * n as f64 + 130.0;
    let h = top + cell * n as f64 + 130.0;
    let mut svg = Svg::new(
        w,
        h,
        left,
        0.0,
        "Confusion matrix (rows: true class, columns: predicted)",
    );
    for (i, row) in m.iter().enumerate() {
        let total: usize = row.iter().sum::<usize>().max(1);
        let _ = write!(
            svg.out,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>"#,
            left - 6.0,
            top + cell * (i as f64 + 0.62),
            esc(&classes[i])
        );
        for (j, &v) in row.iter().enumerate() {
            let share = v as f64 / total as f64;
            let light = (97.0 - 60.0 * share).round();
            let colour = if i == j {
                format!("hsl(140,55%,{light}%)")
            } else {
                format!("hsl(0,65%,{light}%)")
            };
            let _ = write!(
                svg.out,
                r##"<rect x="{}" y="{}" width="{cell}" height="{cell}" fill="{colour}" stroke="#fff"/><text x="{}" y="{}" font-size="11" text-anchor="middle">{v}</text>"##,
                left + cell * j as f64,
                top + cell * i as f64,
                left + cell * (j as f64 + 0.5),
                top + cell * (i as f64 + 0.62)
            );
        }
    }
    for (j, c) in classes.iter().enumerate() {
        let x = left + cell * (j as f64 + 0.6);
        let y = top + cell * n as f64 + 6.0;
        let _ = write!(
            svg.out,
            r#"<text x="{x}" y="{y}" font-size="11" transform="rotate(60 {x} {y})">{}</text>"#,
            esc(c)
        );
    }
    svg.finish()
}

/// Grouped horizontal bars: per class, one bar per series, values in [0, 1].
fn class_bars(title: &str, classes: &[String], series: &[(&str, Vec<Option<f64>>)]) -> String {
    let row = 12.0 * series.len() as f64 + 8.0;
    let left = 150.0;
    let h = 30.0 + row * classes.len() as f64 + 30.0;
    let mut svg = Svg::new(560.0, h, left, 30.0, title);
    for (i, c) in classes.iter().enumerate() {
        let y0 = 10.0 + row * i as f64;
        let _ = write!(
            svg.out,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>"#,
            left - 6.0,
            y0 + row / 2.0,
            esc(c)
        );
        for (k, (_, values)) in series.iter().enumerate() {
            if let Some(Some(v)) = values.get(i) {
                let _ = write!(
                    svg.out,
                    r#"<rect x="{left}" y="{}" width="{:.1}" height="10" fill="{}"/><text x="{:.1}" y="{}" font-size="9">{v:.2}</text>"#,
                    y0 + 12.0 * k as f64,
                    svg.x(*v) - left,
                    PALETTE[k % PALETTE.len()],
                    svg.x(*v) + 3.0,
                    y0 + 12.0 * k as f64 + 9.0
                );
            }
        }
    }
    let legend_y = h - 10.0;
    for (k, (name, _)) in series.iter().enumerate() {
        let x = left + 140.0 * k as f64;
        let _ = write!(
            svg.out,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{legend_y}" font-size="11">{}</text>"#,
            legend_y - 9.0,
            PALETTE[k % PALETTE.len()],
            x + 14.0,
            esc(name)
        );
    }
    svg.finish()
}

/// A unit square chart with the diagonal a chance or perfectly calibrated
/// model would follow.
fn diagonal_chart(title: &str, x_label: &str, y_label: &str) -> Svg {
    let mut svg = Svg::new(460.0, 380.0, 50.0, 40.0, title);
    svg.unit_axes(x_label, y_label);
    let _ = write!(
        svg.out,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#bbb" stroke-dasharray="4"/>"##,
        svg.x(0.0),
        svg.y(0.0),
        svg.x(1.0),
        svg.y(1.0)
    );
    svg
}

fn roc(curves: &crate::run::Curves) -> String {
    let mut svg = diagonal_chart(
        "ROC curves, one class against the rest",
        "false positive rate",
        "true positive rate",
    );
    for (k, c) in curves.roc.iter().enumerate() {
        let points: Vec<String> = c
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", svg.x(*x), svg.y(*y)))
            .collect();
        let colour = PALETTE[k % PALETTE.len()];
        let _ = write!(
            svg.out,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.6"/><text x="{}" y="{}" font-size="10" fill="{colour}">{} (AUC {})</text>"#,
            points.join(" "),
            svg.x(0.55),
            svg.y(0.5) + 12.0 * k as f64 - 40.0,
            esc(&c.class),
            c.auc.map_or("n/a".into(), |a| format!("{a:.3}"))
        );
    }
    svg.finish()
}

fn calibration(curves: &crate::run::Curves) -> String {
    let mut svg = diagonal_chart(
        "Reliability of the top-class probability",
        "predicted probability",
        "observed accuracy",
    );
    let points: Vec<String> = curves
        .calibration
        .iter()
        .map(|b| format!("{:.1},{:.1}", svg.x(b.confidence), svg.y(b.accuracy)))
        .collect();
    let _ = write!(
        svg.out,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        points.join(" ")
    );
    for b in &curves.calibration {
        let r = 2.0 + (b.rows as f64).sqrt().min(8.0);
        let _ = write!(
            svg.out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="#1f77b4" fill-opacity="0.5"/>"##,
            svg.x(b.confidence),
            svg.y(b.accuracy)
        );
    }
    svg.finish()
}

fn drift(d: &crate::run::DriftSummary) -> String {
    let row = 16.0;
    let left = 150.0;
    let h = 20.0 + row * d.features.len() as f64 + 20.0;
    let max = d
        .features
        .iter()
        .map(|f| f.score.max(f.threshold))
        .fold(1e-9, f64::max);
    let mut svg = Svg::new(
        560.0,
        h,
        left,
        20.0,
        "Drift score per feature (line: threshold)",
    );
    for (i, f) in d.features.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let colour = if f.drifted { "#d62728" } else { "#2ca02c" };
        let _ = write!(
            svg.out,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text><rect x="{left}" y="{y}" width="{:.1}" height="11" fill="{colour}"/><line x1="{t:.1}" y1="{y}" x2="{t:.1}" y2="{}" stroke="#333"/><text x="{:.1}" y="{}" font-size="9">{:.3} ({})</text>"##,
            left - 6.0,
            y + 9.0,
            esc(&f.feature),
            svg.x(f.score / max) - left,
            y + 11.0,
            svg.x(f.score / max) + 4.0,
            y + 9.0,
            f.score,
            esc(&f.method),
            t = svg.x(f.threshold / max),
        );
    }
    svg.finish()
}

fn latency(r: &crate::run::ReplaySummary) -> String {
    let mut svg = Svg::new(560.0, 220.0, 50.0, 30.0, "Latency of each replayed request");
    let max = r.latency_max_ms.max(1e-9);
    let n = r.latencies_ms.len().max(2) - 1;
    let points: Vec<String> = r
        .latencies_ms
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", svg.x(i as f64 / n as f64), svg.y(v / max)))
        .collect();
    svg.unit_axes("request", "");
    let _ = write!(
        svg.out,
        r##"<polyline points="{}" fill="none" stroke="#9467bd" stroke-width="1.2"/><text x="55" y="20" font-size="10">max {:.1} ms, p99 {:.1} ms, p50 {:.1} ms</text>"##,
        points.join(" "),
        r.latency_max_ms,
        r.latency_p99_ms,
        r.latency_p50_ms
    );
    svg.finish()
}

/// The report page of a run.
pub fn html(s: &RunSummary) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>dxops run {run}: {spec} ({env})</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}}h1{{font-size:22px}}h2{{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:3px 8px;text-align:left}}.ok{{color:#1a7f37}}.failed{{color:#c62828}}.skipped{{color:#777}}
.grid{{display:flex;flex-wrap:wrap;gap:24px}}figure{{margin:0}}figcaption{{font-size:12px;color:#555}}</style></head><body>
<h1>dxops run {run}: {spec} ({env})</h1>"#,
        run = esc(&s.run),
        spec = esc(&s.spec),
        env = esc(&s.environment)
    );
    let gates = s.gates.as_ref().map_or(
        "not reached",
        |g| {
            if g.passed { "passed" } else { "failed" }
        },
    );
    let registered = s
        .registered
        .as_ref()
        .map_or("not registered".to_string(), |r| {
            format!("{} v{} ({})", r.group, r.version, r.status.as_str())
        });
    let retrain = s
        .retraining
        .as_ref()
        .map_or("not decided".to_string(), |r| {
            if r.retrain {
                format!("retrain: {}", r.reasons.join("; "))
            } else {
                "no retraining trigger fired".into()
            }
        });
    let _ = write!(
        b,
        "<p id=\"outcome\"><b>Gates:</b> {gates}. <b>Registry:</b> {}. <b>Decision:</b> {}.</p>",
        esc(&registered),
        esc(&retrain)
    );
    b.push_str(
        "<h2>Steps</h2><table><tr><th>step</th><th>status</th><th>seconds</th><th>detail</th></tr>",
    );
    for st in &s.steps {
        let class = match st.status {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"{class}\">{class}</td><td>{:.2}</td><td>{}</td></tr>",
            esc(&st.name),
            st.seconds,
            esc(&st.detail)
        );
    }
    b.push_str("</table>");
    if let Some(g) = &s.gates {
        b.push_str("<h2>Gates (the rendered condition step)</h2><table><tr><th>parameter</th><th>metric</th><th>condition</th><th>threshold</th><th>value</th><th></th></tr>");
        for r in &g.results {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                esc(&r.condition.parameter),
                esc(&r.condition.path),
                r.condition.comparison.as_str(),
                r.condition.threshold,
                r.value.map_or("missing".into(), |v| format!("{v:.4}")),
                if r.passed { "ok" } else { "failed" },
                if r.passed { "pass" } else { "fail" }
            );
        }
        b.push_str("</table>");
    }
    if let Some(ev) = &s.evaluation {
        let _ = write!(
            b,
            "<h2>Held-out evaluation</h2><p>{} rows; macro-F1 {:.3}, balanced accuracy {:.3}, ROC AUC {:.3}, worst-class recall {:.3} ({}).</p><div class=\"grid\"><figure id=\"confusion\">{}<figcaption>Counts on the test split; green: correct.</figcaption></figure>",
            ev.rows,
            ev.metrics.macro_f1,
            ev.metrics.balanced_accuracy,
            ev.metrics.roc_auc,
            ev.metrics.worst_class_recall,
            esc(&ev.metrics.worst_class),
            confusion_matrix(&ev.classes, &ev.confusion_matrix)
        );
        let of = |e: &dxops_contract::evaluation::Evaluation, recall: bool| -> Vec<Option<f64>> {
            ev.classes
                .iter()
                .map(|c| {
                    e.per_class
                        .iter()
                        .find(|m| m.class == *c)
                        .map(|m| if recall { m.recall } else { m.precision })
                })
                .collect()
        };
        for recall in [true, false] {
            let mut series = vec![("this run", of(ev, recall))];
            if let Some(p) = &s.production_evaluation {
                series.push(("production", of(p, recall)));
            }
            let what = if recall { "Recall" } else { "Precision" };
            let _ = write!(
                b,
                "<figure id=\"{}\">{}<figcaption>{what} per class{}.</figcaption></figure>",
                what.to_lowercase(),
                class_bars(&format!("{what} per class"), &ev.classes, &series),
                if s.production_evaluation.is_some() {
                    ", beside the production version on the same rows"
                } else {
                    "; no production version yet"
                }
            );
        }
        b.push_str("</div>");
        if let Some(prev) = &s.previous {
            let _ = write!(
                b,
                "<p>Previous version {} v{}: macro-F1 {:.3}, worst-class recall {:.3} ({}).</p>",
                esc(&prev.group),
                prev.version,
                prev.macro_f1,
                prev.worst_class_recall,
                prev.status.as_str()
            );
        }
    }
    if let Some(w) = &s.warm_start {
        b.push_str("<h2>Transfer learning</h2><table><tr><th>class</th><th>recall without warm start</th><th>with</th></tr>");
        for (c, without) in &w.recall_without {
            let with = w.recall_with.get(c).copied().unwrap_or(f64::NAN);
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{without:.3}</td><td>{with:.3}</td></tr>",
                esc(c)
            );
        }
        let _ = write!(
            b,
            "</table><p>Source: {}; cross-validated macro-F1 {:.3} without, {:.3} with.</p>",
            esc(s.warm_start_from.as_deref().unwrap_or("?")),
            w.macro_f1_without,
            w.macro_f1_with
        );
    }
    if let Some(c) = &s.curves {
        let _ = write!(
            b,
            "<h2>Served predictions against fed-back labels</h2><p>Brier score {:.4}, expected calibration error {:.4}.</p><div class=\"grid\"><figure id=\"roc\">{}</figure><figure id=\"calibration\">{}</figure></div>",
            c.brier,
            c.ece,
            roc(c),
            calibration(c)
        );
    }
    if let Some(q) = &s.live_quality {
        let _ = write!(
            b,
            "<p id=\"live-quality\"><b>LiveMacroF1</b> {:.3} over {} rows{}; worst live class recall {:.3} ({}).</p>",
            q.macro_f1,
            q.rows,
            q.floor.map_or(String::new(), |f| format!(" (floor {f})")),
            q.worst_class_recall,
            esc(&q.worst_class)
        );
    }
    if let Some(d) = &s.drift {
        let _ = write!(
            b,
            "<h2>Drift</h2><p>{} of {} features drifted over {} rows (share {:.2}); data set drift: {}.</p><figure id=\"drift\">{}</figure>",
            d.drifted_features,
            d.tested_features,
            d.rows,
            d.drift_share,
            if d.dataset_drift { "yes" } else { "no" },
            drift(d)
        );
    }
    if let Some(r) = &s.replay {
        let _ = write!(
            b,
            "<h2>Serving</h2><p>{} rows in {} requests, {} errors.</p><figure id=\"latency\">{}</figure>",
            r.rows,
            r.requests,
            r.errors,
            latency(r)
        );
    }
    b.push_str("</body></html>\n");
    b
}
