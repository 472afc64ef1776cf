//! Live quality: confirmed diagnoses fed back for served predictions.
//!
//! Every `/invocations` answer carries its inference id (`x-request-id`);
//! the server keeps the predicted class of each row for a while, and
//! `POST /feedback` (JSON lines `{"inference_id": "...", "row": 0, "label":
//! "..."}`, `row` defaulting to 0) joins each label to its prediction, as
//! SageMaker's model-quality monitoring joins ground truth to captured
//! predictions. Macro-F1 and the worst class recall over the most recent
//! labelled rows become the `LiveMacroF1` and `LiveWorstClassRecall`
//! metrics (EMF and Prometheus) that the rendered quality alarm watches.
//!
//! Memory is bounded in rows on both sides, and nothing a client sends is
//! kept or echoed except as counts: unknown ids and labels are counted.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::metrics;

/// Predicted rows kept for joining (oldest dropped first).
pub const HELD_ROWS: usize = 200_000;
/// Labelled rows the live metrics are computed over.
pub const LIVE_WINDOW: usize = 10_000;
/// Feedback lines accepted per request.
pub const MAX_LINES: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    inference_id: String,
    #[serde(default)]
    row: usize,
    label: String,
}

/// What a feedback request joined; counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Joined {
    pub matched: usize,
    pub unknown_inference_id: usize,
    pub unknown_label: usize,
    pub malformed: usize,
    pub too_many_lines: bool,
}

/// The live metrics, when at least one label has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Live {
    pub macro_f1: f64,
    pub worst_class_recall: f64,
    pub labelled_rows: usize,
}

#[derive(Default)]
struct Inner {
    pending: VecDeque<(String, Vec<u16>)>,
    index: HashMap<String, usize>,
    /// Position of `pending[0]` in the sequence of all invocations kept.
    base: usize,
    held_rows: usize,
    /// (true class, predicted class) of the most recent labelled rows.
    recent: VecDeque<(u16, u16)>,
}

pub struct Feedback {
    classes: Vec<String>,
    inner: Mutex<Inner>,
}

impl Feedback {
    pub fn new(classes: Vec<String>) -> Feedback {
        Feedback {
            classes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Remembers the predicted classes of one invocation.
    pub fn predicted(&self, inference_id: &str, classes: &[usize]) {
        let Ok(mut g) = self.inner.lock() else { return };
        let rows: Vec<u16> = classes.iter().map(|&c| c as u16).collect();
        g.held_rows += rows.len();
        let seq = g.base + g.pending.len();
        g.index.insert(inference_id.to_string(), seq);
        g.pending.push_back((inference_id.to_string(), rows));
        while g.held_rows > HELD_ROWS {
            let Some((id, rows)) = g.pending.pop_front() else {
                break;
            };
            g.held_rows -= rows.len();
            g.index.remove(&id);
            g.base += 1;
        }
    }

    /// Joins a feedback body (JSON lines) to the kept predictions.
    pub fn join(&self, body: &[u8]) -> Joined {
        let mut out = Joined::default();
        let Ok(mut g) = self.inner.lock() else {
            return out;
        };
        for (n, line) in body.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if n >= MAX_LINES {
                out.too_many_lines = true;
                break;
            }
            let Ok(l) = serde_json::from_slice::<Line>(line) else {
                out.malformed += 1;
                continue;
            };
            let Some(truth) = self.classes.iter().position(|c| *c == l.label) else {
                out.unknown_label += 1;
                continue;
            };
            let predicted = g
                .index
                .get(&l.inference_id)
                .and_then(|&seq| g.pending.get(seq - g.base))
                .and_then(|(_, rows)| rows.get(l.row))
                .copied();
            let Some(predicted) = predicted else {
                out.unknown_inference_id += 1;
                continue;
            };
            g.recent.push_back((truth as u16, predicted));
            if g.recent.len() > LIVE_WINDOW {
                g.recent.pop_front();
            }
            out.matched += 1;
        }
        out
    }

    /// Macro-F1 and worst class recall over the live window, computed as
    /// the evaluation step computes them.
    pub fn live(&self) -> Option<Live> {
        let g = self.inner.lock().ok()?;
        if g.recent.is_empty() {
            return None;
        }
        let k = self.classes.len();
        let y: Vec<usize> = g.recent.iter().map(|&(t, _)| t as usize).collect();
        let proba: Vec<Vec<f64>> = g
            .recent
            .iter()
            .map(|&(_, p)| {
                (0..k)
                    .map(|c| f64::from(u8::from(c == p as usize)))
                    .collect()
            })
            .collect();
        let m = metrics::compute(&y, &proba, &self.classes);
        Some(Live {
            macro_f1: m.macro_f1,
            worst_class_recall: m.worst_class_recall,
            labelled_rows: y.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feedback() -> Feedback {
        Feedback::new(vec!["healthy".into(), "lupus".into()])
    }

    #[test]
    fn labels_join_their_predictions_by_inference_id_and_row() {
        let f = feedback();
        f.predicted("a", &[0, 1, 1]);
        f.predicted("b", &[0]);
        let j = f.join(
            br#"{"inference_id": "a", "row": 0, "label": "healthy"}
{"inference_id": "a", "row": 1, "label": "lupus"}
{"inference_id": "a", "row": 2, "label": "healthy"}
{"inference_id": "b", "label": "healthy"}
{"inference_id": "b", "row": 9, "label": "healthy"}
{"inference_id": "XMARKERX", "label": "healthy"}
{"inference_id": "b", "label": "XMARKERX"}
not json
"#,
        );
        assert_eq!(
            j,
            Joined {
                matched: 4,
                unknown_inference_id: 2,
                unknown_label: 1,
                malformed: 1,
                too_many_lines: false
            }
        );
        let live = f.live().unwrap();
        assert_eq!(live.labelled_rows, 4);
        // healthy: 2 of 3 right, precision 1; lupus: 1 of 1, precision 1/2.
        assert!((live.worst_class_recall - 2.0 / 3.0).abs() < 1e-12);
        let f1_healthy = 2.0 * (2.0 / 3.0) / (1.0 + 2.0 / 3.0);
        let f1_lupus = 2.0 * 0.5 / 1.5;
        assert!((live.macro_f1 - (f1_healthy + f1_lupus) / 2.0).abs() < 1e-12);
        assert!(!serde_json::to_string(&j).unwrap().contains("XMARKERX"));
    }

    #[test]
    fn memory_is_bounded_in_rows() {
        let f = feedback();
        let batch = vec![0usize; 1000];
        for i in 0..(HELD_ROWS / 1000 + 5) {
            f.predicted(&format!("r{i}"), &batch);
        }
        let g = f.inner.lock().unwrap();
        assert!(g.held_rows <= HELD_ROWS);
        assert_eq!(g.index.len(), g.pending.len());
        drop(g);
        assert_eq!(
            f.join(br#"{"inference_id": "r0", "label": "healthy"}"#)
                .unknown_inference_id,
            1
        );
        assert_eq!(
            f.join(br#"{"inference_id": "r204", "label": "healthy"}"#)
                .matched,
            1
        );
        assert!(f.live().is_some());
    }
}
