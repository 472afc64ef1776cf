//! Classification metrics on predicted probabilities (decision = argmax).

use serde::{Deserialize, Serialize};

pub use dxops_contract::evaluation::ClassMetrics;

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

pub fn compute(y: &[usize], proba: &[Vec<f64>], classes: &[String]) -> Metrics {
    let k = classes.len();
    let mut cm = vec![vec![0usize; k]; k];
    for (t, p) in y.iter().zip(proba) {
        cm[*t][argmax(p)] += 1;
    }
    let n = y.len();
    let correct: usize = (0..k).map(|c| cm[c][c]).sum();
    let mut per_class = Vec::with_capacity(k);
    for c in 0..k {
        let tp = cm[c][c] as f64;
        let support: usize = cm[c].iter().sum();
        let predicted: usize = (0..k).map(|r| cm[r][c]).sum();
        let precision = if predicted > 0 {
            tp / predicted as f64
        } else {
            0.0
        };
        let recall = if support > 0 {
            tp / support as f64
        } else {
            0.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_class.push(ClassMetrics {
            class: classes[c].clone(),
            precision,
            recall,
            f1,
            support,
        });
    }
    let present: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support > 0).collect();
    let np = present.len().max(1) as f64;
    let macro_f1 = per_class.iter().map(|m| m.f1).sum::<f64>() / k.max(1) as f64;
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
