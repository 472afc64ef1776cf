//! Training hyperparameters: the contract between the renderer (which writes
//! them into the training step) and `dxops-model train` (which reads them
//! from `input/config/hyperparameters.json`, where every value is a string).
//!
//! `Hyperparameters::default()` is the configuration the example spec uses:
//! a soft-voting ensemble (`auto`) of a class-weighted multinomial logistic
//! regression, a class-weighted histogram gradient-boosting model and a
//! class-balanced random forest, with a balanced prior correction estimated
//! by inner cross-validation (see `models::fit`). The members are standard
//! choices for small tabular clinical data: the linear model is stable with
//! few samples, the trees capture interactions and non-linear effects.

use std::collections::BTreeMap;
use std::str::FromStr;

use thiserror::Error;

use crate::data::{Algorithm, ImbalanceMethod};

/// Every key `from_strings` accepts, in canonical order.
pub const KEYS: [&str; 24] = [
    "label",
    "features",
    "algorithm",
    "imbalance",
    "smote_k_neighbors",
    "focal_gamma",
    "folds",
    "seed",
    "rare_class_max_samples",
    "n_trees",
    "learning_rate",
    "max_depth",
    "min_child_weight",
    "l2",
    "max_bins",
    "split_sample_rows",
    "rf_n_trees",
    "rf_max_depth",
    "logreg_c",
    "warm_start_strength",
    "balance_folds",
    "early_stopping_rounds",
    "min_class_recall",
    "macro_f1_tolerance",
];

#[derive(Debug, Error, PartialEq)]
pub enum HyperparameterError {
    #[error("unknown hyperparameter `{key}` (known: {known})")]
    UnknownKey { key: String, known: String },
    #[error("hyperparameter `{key}` has value `{value}`, expected {expected}")]
    WrongType {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("hyperparameter `{key}` = `{value}` is out of range: {reason}")]
    OutOfRange {
        key: String,
        value: String,
        reason: &'static str,
    },
}

impl HyperparameterError {
    /// The hyperparameter the error is about.
    pub fn key(&self) -> &str {
        match self {
            HyperparameterError::UnknownKey { key, .. }
            | HyperparameterError::WrongType { key, .. }
            | HyperparameterError::OutOfRange { key, .. } => key,
        }
    }
}

/// All hyperparameters of the training step.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyperparameters {
    /// Column holding the class label.
    pub label: String,
    /// Feature columns; empty means every column except the label.
    pub features: Vec<String>,
    pub algorithm: Algorithm,
    pub imbalance: ImbalanceMethod,
    /// Neighbours used by SMOTE to interpolate synthetic minority samples.
    pub smote_k_neighbors: usize,
    /// Focusing parameter of the focal loss (gradient boosting only).
    pub focal_gamma: f64,
    /// Folds of the stratified cross-validation.
    pub folds: usize,
    /// Seed of every random choice (splits, bootstraps, SMOTE).
    pub seed: u64,
    /// Classes with at most this many training samples count as rare.
    pub rare_class_max_samples: u32,
    /// Gradient boosting: most boosting rounds (one tree per class per
    /// round); early stopping on the inner folds usually keeps fewer.
    pub n_trees: usize,
    /// Gradient boosting: shrinkage.
    pub learning_rate: f64,
    /// Gradient boosting: depth of each tree.
    pub max_depth: usize,
    /// Gradient boosting: minimum hessian sum in a leaf.
    pub min_child_weight: f64,
    /// Gradient boosting: L2 penalty on leaf values.
    pub l2: f64,
    /// Histogram bins per feature (tree models).
    pub max_bins: usize,
    /// Gradient boosting: on a training set of more rows, each tree's splits
    /// are searched on this many rows, half of them those with the largest
    /// gradients and half drawn from the rest (leaf values still use every
    /// row), so a round costs about the same however many rows there are
    /// (0 = always every row).
    pub split_sample_rows: usize,
    /// Random forest: number of trees.
    pub rf_n_trees: usize,
    /// Random forest: maximum depth (0 = ⌈log₂ rows⌉, deep enough for a
    /// balanced tree to isolate every training row).
    pub rf_max_depth: usize,
    /// Logistic regression: inverse L2 regularisation strength.
    pub logreg_c: f64,
    /// Warm start: multiplier of the pull toward the source model's weights
    /// (logistic regression) relative to the ordinary L2 penalty.
    pub warm_start_strength: f64,
    /// Folds of the inner cross-validation that estimates the balanced prior
    /// correction (0 = off; only used with an imbalance treatment).
    pub balance_folds: usize,
    /// Gradient boosting: the inner folds stop boosting after this many
    /// rounds without a better held-out loss, and each fold's boosting model, a third of the final member, keeps the
    /// rounds its own held-out fold chose (0 = always `n_trees` rounds).
    pub early_stopping_rounds: usize,
    /// Worst-class recall the decision rule must reach on the inner folds
    /// (the spec's `min_class_recall` gate; 0 = none).
    pub min_class_recall: f64,
    /// Inner macro-F1 a decision rule may give up for a better worst-class
    /// recall (differences this small are noise on the inner folds).
    pub macro_f1_tolerance: f64,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Hyperparameters {
            label: "label".to_string(),
            features: Vec::new(),
            algorithm: Algorithm::Auto,
            imbalance: ImbalanceMethod::ClassWeight,
            smote_k_neighbors: 5,
            focal_gamma: 2.0,
            folds: 5,
            seed: 42,
            rare_class_max_samples: 50,
            n_trees: 100,
            learning_rate: 0.1,
            max_depth: 3,
            min_child_weight: 1.0,
            l2: 1.0,
            max_bins: 64,
            split_sample_rows: 2048,
            rf_n_trees: 25,
            rf_max_depth: 0,
            logreg_c: 1.0,
            warm_start_strength: 1.0,
            balance_folds: 3,
            early_stopping_rounds: 10,
            min_class_recall: 0.0,
            macro_f1_tolerance: 0.05,
        }
    }
}

fn parse<T: FromStr>(
    key: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, HyperparameterError> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| HyperparameterError::WrongType {
            key: key.to_string(),
            value: value.to_string(),
            expected,
        })
}

fn positive_f64(key: &str, value: &str) -> Result<f64, HyperparameterError> {
    let v: f64 = parse(key, value, "a number")?;
    if !v.is_finite() || v <= 0.0 {
        return Err(HyperparameterError::OutOfRange {
            key: key.to_string(),
            value: value.to_string(),
            reason: "must be a finite number greater than 0",
        });
    }
    Ok(v)
}

fn nonneg_f64(key: &str, value: &str) -> Result<f64, HyperparameterError> {
    let v: f64 = parse(key, value, "a number")?;
    if !v.is_finite() || v < 0.0 {
        return Err(HyperparameterError::OutOfRange {
            key: key.to_string(),
            value: value.to_string(),
            reason: "must be a finite number of at least 0",
        });
    }
    Ok(v)
}

/// An integer in `min..=max`: every size that drives work has a ceiling,
/// so no value can make training allocate or loop without end.
fn within(
    key: &str,
    value: &str,
    min: usize,
    max: usize,
    reason: &'static str,
) -> Result<usize, HyperparameterError> {
    let v = at_least(key, value, min, reason)?;
    if v > max {
        return Err(HyperparameterError::OutOfRange {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        });
    }
    Ok(v)
}

fn at_least(
    key: &str,
    value: &str,
    min: usize,
    reason: &'static str,
) -> Result<usize, HyperparameterError> {
    let v: usize = parse(key, value, "a non-negative integer")?;
    if v < min {
        return Err(HyperparameterError::OutOfRange {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        });
    }
    Ok(v)
}

fn parse_algorithm(value: &str) -> Result<Algorithm, HyperparameterError> {
    [
        Algorithm::Auto,
        Algorithm::GradientBoosting,
        Algorithm::RandomForest,
        Algorithm::LogisticRegression,
    ]
    .into_iter()
    .find(|a| a.as_str() == value.trim())
    .ok_or_else(|| HyperparameterError::WrongType {
        key: "algorithm".to_string(),
        value: value.to_string(),
        expected: "one of auto, gradient_boosting, random_forest, logistic_regression",
    })
}

fn parse_imbalance(value: &str) -> Result<ImbalanceMethod, HyperparameterError> {
    [
        ImbalanceMethod::ClassWeight,
        ImbalanceMethod::Smote,
        ImbalanceMethod::FocalLoss,
        ImbalanceMethod::None,
    ]
    .into_iter()
    .find(|a| a.as_str() == value.trim())
    .ok_or_else(|| HyperparameterError::WrongType {
        key: "imbalance".to_string(),
        value: value.to_string(),
        expected: "one of class_weight, smote, focal_loss, none",
    })
}

impl Hyperparameters {
    /// Parses the string map SageMaker hands the container. Missing keys keep
    /// their defaults; unknown keys and malformed values are errors.
    pub fn from_strings(map: &BTreeMap<String, String>) -> Result<Self, HyperparameterError> {
        let mut hp = Hyperparameters::default();
        for (key, value) in map {
            match key.as_str() {
                "label" => {
                    if value.trim().is_empty() {
                        return Err(HyperparameterError::OutOfRange {
                            key: key.clone(),
                            value: value.clone(),
                            reason: "must name a column",
                        });
                    }
                    hp.label = value.trim().to_string();
                }
                "features" => {
                    hp.features = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                "algorithm" => hp.algorithm = parse_algorithm(value)?,
                "imbalance" => hp.imbalance = parse_imbalance(value)?,
                "smote_k_neighbors" => {
                    hp.smote_k_neighbors = within(key, value, 1, 100, "must be from 1 to 100")?
                }
                "focal_gamma" => hp.focal_gamma = nonneg_f64(key, value)?,
                "folds" => hp.folds = within(key, value, 2, 20, "must be from 2 to 20")?,
                "seed" => hp.seed = parse(key, value, "a non-negative integer")?,
                "rare_class_max_samples" => {
                    hp.rare_class_max_samples = parse(key, value, "a non-negative integer")?
                }
                "n_trees" => hp.n_trees = within(key, value, 1, 5000, "must be from 1 to 5000")?,
                "learning_rate" => hp.learning_rate = positive_f64(key, value)?,
                "max_depth" => hp.max_depth = within(key, value, 1, 16, "must be from 1 to 16")?,
                "min_child_weight" => hp.min_child_weight = nonneg_f64(key, value)?,
                "l2" => hp.l2 = nonneg_f64(key, value)?,
                "max_bins" => hp.max_bins = within(key, value, 2, 256, "must be from 2 to 256")?,
                "split_sample_rows" => {
                    hp.split_sample_rows = parse(key, value, "a non-negative integer")?;
                    if (1..16).contains(&hp.split_sample_rows) {
                        return Err(HyperparameterError::OutOfRange {
                            key: key.clone(),
                            value: value.clone(),
                            reason: "must be 0 (every row) or at least 16",
                        });
                    }
                }
                "rf_n_trees" => {
                    hp.rf_n_trees = within(key, value, 1, 2000, "must be from 1 to 2000")?
                }
                "rf_max_depth" => {
                    hp.rf_max_depth =
                        within(key, value, 0, 64, "must be from 0 (⌈log₂ rows⌉) to 64")?
                }
                "logreg_c" => hp.logreg_c = positive_f64(key, value)?,
                "warm_start_strength" => hp.warm_start_strength = nonneg_f64(key, value)?,
                "balance_folds" => {
                    hp.balance_folds =
                        within(key, value, 0, 20, "must be 0 (off) or from 2 to 20")?;
                    if hp.balance_folds == 1 {
                        return Err(HyperparameterError::OutOfRange {
                            key: key.clone(),
                            value: value.clone(),
                            reason: "must be 0 (off) or at least 2",
                        });
                    }
                }
                "early_stopping_rounds" => {
                    hp.early_stopping_rounds =
                        within(key, value, 0, 1000, "must be from 0 (off) to 1000")?
                }
                "min_class_recall" | "macro_f1_tolerance" => {
                    let v = nonneg_f64(key, value)?;
                    if v > 1.0 {
                        return Err(HyperparameterError::OutOfRange {
                            key: key.clone(),
                            value: value.clone(),
                            reason: "must be from 0 to 1",
                        });
                    }
                    if key == "min_class_recall" {
                        hp.min_class_recall = v;
                    } else {
                        hp.macro_f1_tolerance = v;
                    }
                }
                _ => {
                    return Err(HyperparameterError::UnknownKey {
                        key: key.clone(),
                        known: KEYS.join(", "),
                    });
                }
            }
        }
        Ok(hp)
    }

    /// Every hyperparameter as the canonical string map (round-trips through
    /// `from_strings`).
    pub fn to_strings(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("label", self.label.clone());
        put("features", self.features.join(","));
        put("algorithm", self.algorithm.as_str().to_string());
        put("imbalance", self.imbalance.as_str().to_string());
        put("smote_k_neighbors", self.smote_k_neighbors.to_string());
        put("focal_gamma", fmt_f64(self.focal_gamma));
        put("folds", self.folds.to_string());
        put("seed", self.seed.to_string());
        put(
            "rare_class_max_samples",
            self.rare_class_max_samples.to_string(),
        );
        put("n_trees", self.n_trees.to_string());
        put("learning_rate", fmt_f64(self.learning_rate));
        put("max_depth", self.max_depth.to_string());
        put("min_child_weight", fmt_f64(self.min_child_weight));
        put("l2", fmt_f64(self.l2));
        put("max_bins", self.max_bins.to_string());
        put("split_sample_rows", self.split_sample_rows.to_string());
        put("rf_n_trees", self.rf_n_trees.to_string());
        put("rf_max_depth", self.rf_max_depth.to_string());
        put("logreg_c", fmt_f64(self.logreg_c));
        put("warm_start_strength", fmt_f64(self.warm_start_strength));
        put("balance_folds", self.balance_folds.to_string());
        put(
            "early_stopping_rounds",
            self.early_stopping_rounds.to_string(),
        );
        put("min_class_recall", fmt_f64(self.min_class_recall));
        put("macro_f1_tolerance", fmt_f64(self.macro_f1_tolerance));
        m
    }
}

/// Shortest string that parses back to the same `f64`.
fn fmt_f64(v: f64) -> String {
    format!("{v:?}")
}

#[cfg(test)]
mod tests {

    #[test]
    fn sizes_that_drive_work_have_a_ceiling() {
        for (key, value) in [
            ("rf_n_trees", "100000000"),
            ("n_trees", "1000000000"),
            ("max_depth", "40"),
            ("folds", "1000"),
            ("smote_k_neighbors", "100000"),
            ("rf_max_depth", "1000"),
            ("balance_folds", "500"),
            ("max_bins", "257"),
            ("split_sample_rows", "8"),
            ("early_stopping_rounds", "1001"),
            ("min_class_recall", "1.5"),
        ] {
            let map = BTreeMap::from([(key.to_string(), value.to_string())]);
            let e = Hyperparameters::from_strings(&map).unwrap_err();
            assert!(
                matches!(e, HyperparameterError::OutOfRange { .. }),
                "{key}={value}: {e}"
            );
        }
        let ok = BTreeMap::from([
            ("n_trees".to_string(), "5000".to_string()),
            ("rf_n_trees".to_string(), "2000".to_string()),
        ]);
        assert!(Hyperparameters::from_strings(&ok).is_ok());
    }

    use super::*;

    #[test]
    fn defaults_round_trip() {
        let hp = Hyperparameters::default();
        let s = hp.to_strings();
        assert_eq!(s.len(), KEYS.len());
        for k in KEYS {
            assert!(s.contains_key(k), "{k} missing from to_strings");
        }
        assert_eq!(Hyperparameters::from_strings(&s).unwrap(), hp);
    }

    #[test]
    fn custom_round_trip() {
        let mut m = BTreeMap::new();
        m.insert("features".to_string(), "a, b ,c".to_string());
        m.insert("algorithm".to_string(), "random_forest".to_string());
        m.insert("imbalance".to_string(), "focal_loss".to_string());
        m.insert("learning_rate".to_string(), "0.05".to_string());
        let hp = Hyperparameters::from_strings(&m).unwrap();
        assert_eq!(hp.features, vec!["a", "b", "c"]);
        assert_eq!(hp.algorithm, Algorithm::RandomForest);
        assert_eq!(hp.imbalance, ImbalanceMethod::FocalLoss);
        assert_eq!(hp.learning_rate, 0.05);
        assert_eq!(Hyperparameters::from_strings(&hp.to_strings()).unwrap(), hp);
    }

    #[test]
    fn unknown_key_is_named() {
        let mut m = BTreeMap::new();
        m.insert("n_treez".to_string(), "3".to_string());
        let e = Hyperparameters::from_strings(&m).unwrap_err();
        assert!(e.to_string().contains("n_treez"));
    }

    #[test]
    fn wrong_type_names_key_value_and_type() {
        let mut m = BTreeMap::new();
        m.insert("folds".to_string(), "five".to_string());
        let e = Hyperparameters::from_strings(&m).unwrap_err().to_string();
        assert!(
            e.contains("folds") && e.contains("five") && e.contains("integer"),
            "{e}"
        );
        let mut m = BTreeMap::new();
        m.insert("algorithm".to_string(), "svm".to_string());
        assert!(Hyperparameters::from_strings(&m).is_err());
        let mut m = BTreeMap::new();
        m.insert("folds".to_string(), "1".to_string());
        assert!(Hyperparameters::from_strings(&m).is_err());
    }
}
