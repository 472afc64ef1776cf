//! The data contract: what the processing, training and evaluation steps
//! know about the data (`process.json`), and the training choices the spec
//! names.
//!
//! These types are written by the renderer and read by the container, so
//! both sides share one definition. They also form part of the spec
//! (`data.features`, `data.quality`, `training.algorithm`, ...), which is why
//! they derive `JsonSchema` and reject unknown fields.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Everything the processing and evaluation steps know about the data.
/// Rendered to `process.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataContract {
    /// Column holding the diagnosis (the class to predict).
    pub label: String,
    /// Direct identifiers: removed or keyed-hashed before anything is trained.
    pub identifiers: Vec<String>,
    /// What happens to identifier columns.
    pub identifier_handling: IdentifierHandling,
    /// The model's input columns, in order.
    pub features: Vec<Feature>,
    /// Data-quality rules; a violation fails the processing step.
    pub quality: Vec<QualityRule>,
    /// Classes with at most this many samples are reported as rare.
    pub rare_class_max_samples: u32,
    /// Fractions of rows held out for validation and test (stratified).
    pub split: Split,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierHandling {
    /// Identifier columns are removed.
    #[default]
    Drop,
    /// Identifier columns are replaced by HMAC-SHA256 with a key from the
    /// environment (`DXOPS_DEID_KEY`), so records can be linked but not read.
    Hash,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Share of rows for the validation split, in (0, 0.5).
    pub validation: f64,
    /// Share of rows for the test split, in (0, 0.5).
    pub test: f64,
    /// Seed of the stratified shuffle.
    pub seed: u64,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            validation: 0.15,
            test: 0.15,
            seed: 42,
        }
    }
}

/// One input column of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// Column name in the CSV.
    pub name: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// Smallest plausible value (numeric only); checked by the quality step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest plausible value (numeric only); checked by the quality step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Unit of measurement, for humans (e.g. `%`, `mg/dL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Allowed values (categorical only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureType {
    Numeric,
    /// 0/1, true/false.
    Boolean,
    Categorical,
}

/// One data-quality rule, rendered to Glue Data Quality (DQDL) and run by
/// `dxops-model process`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityRule {
    pub rule: QualityRuleKind,
    /// Column the rule applies to (every rule but `row_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Lower bound: share of non-missing values (`completeness`), value
    /// (`range`) or rows (`row_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound: value (`range`) or rows (`row_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Allowed values (`allowed_values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QualityRuleKind {
    /// Share of non-missing values in `column` is at least `min`.
    Completeness,
    /// Every value of `column` is distinct.
    Uniqueness,
    /// Every non-missing value of `column` lies in [`min`, `max`].
    Range,
    /// Every non-missing value of `column` is one of `values`.
    AllowedValues,
    /// The data set has between `min` and `max` rows.
    RowCount,
}

/// The learning algorithm of the training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    GradientBoosting,
    RandomForest,
    LogisticRegression,
    /// Chosen per data set by inner cross-validation within the training folds.
    #[default]
    Auto,
}

/// How the training step counters class imbalance (rare diseases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImbalanceMethod {
    /// Synthetic minority oversampling, inside each training fold only.
    Smote,
    /// Sample weights inversely proportional to class frequency.
    #[default]
    ClassWeight,
    /// Focal loss (gradient boosting only), down-weighting easy examples.
    FocalLoss,
    None,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::GradientBoosting => "gradient_boosting",
            Algorithm::RandomForest => "random_forest",
            Algorithm::LogisticRegression => "logistic_regression",
            Algorithm::Auto => "auto",
        }
    }
}

impl ImbalanceMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ImbalanceMethod::Smote => "smote",
            ImbalanceMethod::ClassWeight => "class_weight",
            ImbalanceMethod::FocalLoss => "focal_loss",
            ImbalanceMethod::None => "none",
        }
    }
}
