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
    /// How far the test split's probabilities can be read as frequencies.
    #[serde(default)]
    pub calibration: Calibration,
    /// The decision rule the model applies, chosen inside the training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_point: Option<OperatingPoint>,
}

/// Calibration of predicted probabilities against what happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Brier's multi-class score: the mean over rows of `Σ_c (p_c − [y = c])²`
    /// (0 is perfect, 2 the worst; twice scikit-learn's binary score).
    pub brier: f64,
    /// Expected calibration error of the top-class probability: the
    /// row-weighted mean of `|accuracy − mean confidence|` over the bins.
    pub expected_calibration_error: f64,
    /// Reliability curve of the top-class probability, one entry per
    /// non-empty bin of equal width.
    pub reliability: Vec<ReliabilityBin>,
}

/// One bin of a reliability curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// The bin holds top-class probabilities in `(lower, upper]`.
    pub lower: f64,
    pub upper: f64,
    pub rows: usize,
    pub mean_confidence: f64,
    /// Fraction of the bin's rows whose top class was the true one.
    pub accuracy: f64,
}

/// The decision rule of a model and the inner cross-validation it was
/// chosen on. The rule multiplies each class probability by
/// `((1/k) / q_c)^strength` and renormalises, where `q_c` is the
/// class-balanced mean out-of-sample probability of class `c`: strength 0
/// keeps the model's own probabilities, 1 is the full balanced prior
/// correction (even recall across classes), values between trade recall of
/// rare classes against false alarms in common ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub strength: f64,
    /// Worst-class recall floor the rule had to reach (the `min_class_recall`
    /// gate); 0 when none was set.
    pub recall_floor: f64,
    /// Whether the chosen rule reached the floor on the inner folds; when no
    /// candidate does, the one with the highest worst-class recall is chosen.
    pub floor_met: bool,
    /// Every candidate rule with its inner cross-validated metrics.
    pub candidates: Vec<OperatingCandidate>,
}

/// A candidate decision rule and its inner cross-validated metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingCandidate {
    pub strength: f64,
    pub macro_f1: f64,
    pub worst_class_recall: f64,
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
