//! Classification metrics on predicted probabilities (decision = argmax),
//! and their calibration.

use serde::{Deserialize, Serialize};

pub use dxops_contract::evaluation::{Calibration, ClassMetrics, ReliabilityBin};

/// Bins of the reliability curve and of the expected calibration error.
pub const CALIBRATION_BINS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub balanced_accuracy: f64,
    /// Binary: AUC of the second class; multi-class: macro one-vs-rest AUC.
    pub roc_auc: f64,
    pub worst_class_recall: f64,
    pub worst_class: String,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion_matrix[true][predicted]`.
    pub confusion_matrix: Vec<Vec<usize>>,
    #[serde(default)]
    pub calibration: Calibration,
}

pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// Area under the ROC curve of `scores` for `positive` labels (Mann–Whitney,
/// ties count half). `None` when one side is empty.
pub fn auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &t in &idx[i..=j] {
            if positive[t] {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// `confusion[true][predicted]` of the decisions `predicted`.
pub fn confusion(
    y: &[usize],
    predicted: impl IntoIterator<Item = usize>,
    k: usize,
) -> Vec<Vec<usize>> {
    let mut cm = vec![vec![0usize; k]; k];
    for (&t, p) in y.iter().zip(predicted) {
        cm[t][p] += 1;
    }
    cm
}

/// Precision, recall, F1 and support of every class of a confusion matrix.
fn rates(cm: &[Vec<usize>]) -> Vec<(f64, f64, f64, usize)> {
    let k = cm.len();
    (0..k)
        .map(|c| {
            let tp = cm[c][c] as f64;
            let support: usize = cm[c].iter().sum();
            let predicted: usize = (0..k).map(|r| cm[r][c]).sum();
            let ratio = |a: f64, b: usize| if b > 0 { a / b as f64 } else { 0.0 };
            let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            (precision, recall, f1, support)
        })
        .collect()
}

/// Macro-F1 and worst recall over the classes present, of a confusion matrix.
pub fn macro_f1_and_worst_recall(cm: &[Vec<usize>]) -> (f64, f64) {
    let r = rates(cm);
    let macro_f1 = r.iter().map(|c| c.2).sum::<f64>() / r.len().max(1) as f64;
    let worst = r
        .iter()
        .filter(|c| c.3 > 0)
        .map(|c| c.1)
        .fold(None, |w: Option<f64>, v| Some(w.map_or(v, |w| w.min(v))));
    (macro_f1, worst.unwrap_or(0.0))
}

/// Brier score, expected calibration error and reliability curve of the
/// top-class probability over [`CALIBRATION_BINS`] bins of equal width.
pub fn calibration(y: &[usize], proba: &[Vec<f64>]) -> Calibration {
    let bins = CALIBRATION_BINS;
    // Per bin: rows, summed confidence, rows whose top class was right.
    let mut acc = vec![(0usize, 0.0f64, 0usize); bins];
    let mut brier = 0.0;
    for (&t, p) in y.iter().zip(proba) {
        brier += p
            .iter()
            .enumerate()
            .map(|(c, &v)| (v - if c == t { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>();
        let top = argmax(p);
        let conf = p[top];
        // (lower, upper] bins; a confidence of exactly 0 joins the first.
        let b = ((conf * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        acc[b].0 += 1;
        acc[b].1 += conf;
        acc[b].2 += usize::from(top == t);
    }
    let n = y.len().max(1) as f64;
    let reliability: Vec<ReliabilityBin> = acc
        .iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(b, &(rows, conf, right))| ReliabilityBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            rows,
            mean_confidence: conf / rows as f64,
            accuracy: right as f64 / rows as f64,
        })
        .collect();
    let ece = reliability
        .iter()
        .map(|r| r.rows as f64 / n * (r.accuracy - r.mean_confidence).abs())
        .sum();
    Calibration {
        brier: brier / n,
        expected_calibration_error: ece,
        reliability,
    }
}

pub fn compute(y: &[usize], proba: &[Vec<f64>], classes: &[String]) -> Metrics {
    let k = classes.len();
    let cm = confusion(y, proba.iter().map(|p| argmax(p)), k);
    let n = y.len();
    let correct: usize = (0..k).map(|c| cm[c][c]).sum();
    let per_class: Vec<ClassMetrics> = rates(&cm)
        .into_iter()
        .zip(classes)
        .map(|((precision, recall, f1, support), class)| ClassMetrics {
            class: class.clone(),
            precision,
            recall,
            f1,
            support,
        })
        .collect();
    let present: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support > 0).collect();
    let np = present.len().max(1) as f64;
    let (macro_f1, _) = macro_f1_and_worst_recall(&cm);
    let balanced_accuracy = present.iter().map(|m| m.recall).sum::<f64>() / np;
    let worst = present.iter().fold(None::<&&ClassMetrics>, |b, m| match b {
        Some(b) if b.recall <= m.recall => Some(b),
        _ => Some(m),
    });
    let roc_auc = if k == 2 {
        let s: Vec<f64> = proba.iter().map(|p| p[1]).collect();
        let pos: Vec<bool> = y.iter().map(|&t| t == 1).collect();
        auc(&s, &pos).unwrap_or(0.5)
    } else {
        let aucs: Vec<f64> = (0..k)
            .filter_map(|c| {
                let s: Vec<f64> = proba.iter().map(|p| p[c]).collect();
                let pos: Vec<bool> = y.iter().map(|&t| t == c).collect();
                auc(&s, &pos)
            })
            .collect();
        if aucs.is_empty() {
            0.5
        } else {
            aucs.iter().sum::<f64>() / aucs.len() as f64
        }
    };
    Metrics {
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        },
        macro_f1,
        balanced_accuracy,
        roc_auc,
        worst_class_recall: worst.map_or(0.0, |m| m.recall),
        worst_class: worst.map_or_else(String::new, |m| m.class.clone()),
        per_class,
        confusion_matrix: cm,
        calibration: calibration(y, proba),
    }
}

/// Metric lines a SageMaker metric-definition regex can catch, e.g. `macro_f1=0.9712;`.
pub fn metric_lines(prefix: &str, m: &Metrics) -> String {
    summary_lines(
        prefix,
        [
            m.accuracy,
            m.macro_f1,
            m.balanced_accuracy,
            m.roc_auc,
            m.worst_class_recall,
        ],
    )
}

/// [`metric_lines`] from the five summary values, in the order
/// accuracy, macro-F1, balanced accuracy, ROC AUC, worst-class recall.
pub fn summary_lines(prefix: &str, values: [f64; 5]) -> String {
    let names = [
        "accuracy",
        "macro_f1",
        "balanced_accuracy",
        "roc_auc",
        "worst_class_recall",
    ];
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{prefix}{n}={v:.6};\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_with_ties() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5], &[true]), None);
    }

    #[test]
    fn calibration_of_known_probabilities() {
        // Two rows at top confidence 0.8 (one right), one at 0.6 (right).
        let y = vec![0, 1, 1];
        let proba = vec![vec![0.8, 0.2], vec![0.8, 0.2], vec![0.4, 0.6]];
        let c = calibration(&y, &proba);
        let brier = (0.04 + 0.04 + 0.64 + 0.64 + 0.16 + 0.16) / 3.0;
        assert!((c.brier - brier).abs() < 1e-12, "{c:?}");
        assert_eq!(c.reliability.len(), 2);
        let (b6, b8) = (&c.reliability[0], &c.reliability[1]);
        assert_eq!((b6.rows, b8.rows), (1, 2));
        assert!((b6.lower - 0.5).abs() < 1e-12 && (b8.upper - 0.8).abs() < 1e-12);
        assert!((b8.accuracy - 0.5).abs() < 1e-12 && (b8.mean_confidence - 0.8).abs() < 1e-12);
        let ece = (1.0 * (1.0 - 0.6) + 2.0 * (0.8 - 0.5)) / 3.0;
        assert!((c.expected_calibration_error - ece).abs() < 1e-12);
    }

    #[test]
    fn metrics_from_known_confusion() {
        let classes = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let y = vec![0, 0, 1, 1, 2, 2];
        let p = |c: usize| {
            let mut v = vec![0.1; 3];
            v[c] = 0.8;
            v
        };
        let proba = vec![p(0), p(0), p(1), p(0), p(2), p(2)];
        let m = compute(&y, &proba, &classes);
        assert_eq!(
            m.confusion_matrix,
            vec![vec![2, 0, 0], vec![1, 1, 0], vec![0, 0, 2]]
        );
        assert!((m.accuracy - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.worst_class, "b");
        assert!((m.worst_class_recall - 0.5).abs() < 1e-12);
        assert!((m.balanced_accuracy - 2.5 / 3.0).abs() < 1e-12);
        let f1_a = 2.0 * (2.0 / 3.0) / (2.0 / 3.0 + 1.0);
        let f1_b = 2.0 * 0.5 / 1.5;
        assert!((m.macro_f1 - (f1_a + f1_b + 1.0) / 3.0).abs() < 1e-12);
    }
}
