//! `evaluation.json`: what the evaluation step writes and the pipeline's
//! condition step (and [`crate::gates`]) reads.

use serde::{Deserialize, Serialize};

/// JSON paths inside `evaluation.json`, as the condition step's
/// `Std:JsonGet` reads them.
pub mod paths {
    pub const MACRO_F1: &str = "metrics.macro_f1";
    pub const WORST_CLASS_RECALL: &str = "metrics.worst_class_recall";
    pub const ROC_AUC: &str = "metrics.roc_auc";
    pub const ACCURACY: &str = "metrics.accuracy";
    pub const BALANCED_ACCURACY: &str = "metrics.balanced_accuracy";
    pub const MACRO_F1_DROP: &str = "metrics.macro_f1_drop";
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// The evaluation report of one model on the held-out test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub metrics: EvaluationMetrics,
    pub classes: Vec<String>,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion_matrix[true][predicted]`, rows and columns in `classes` order.
    pub confusion_matrix: Vec<Vec<usize>>,
    /// Classes with at most `rare_class_max_samples` training rows.
    pub rare_classes: Vec<String>,
    pub rare_class_max_samples: u32,
    pub rows: usize,
    pub model_checksum: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_model_checksum: Option<String>,
}

/// The numbers the gates compare (`metrics.*` of `evaluation.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationMetrics {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub balanced_accuracy: f64,
    pub roc_auc: f64,
    pub worst_class_recall: f64,
    pub worst_class: String,
    /// Production model's macro-F1 on the same test set (candidate's when absent).
    pub production_macro_f1: f64,
    /// Production minus candidate macro-F1: ≥ 0 means the candidate is worse; 0 without a production model.
    pub macro_f1_drop: f64,
}

/// What SageMaker's `Std:JsonGet` returns for a dotted `path`: the number
/// there, if any.
pub fn json_get(doc: &serde_json::Value, path: &str) -> Option<f64> {
    path.split('.')
        .try_fold(doc, |v, key| v.get(key))
        .and_then(serde_json::Value::as_f64)
}
