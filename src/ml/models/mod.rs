//! The classifiers and how the hyperparameters select and configure them.
//!
//! `auto` is a soft-voting ensemble: the mean of the class probabilities of
//! a multinomial logistic regression and a gradient-boosting model, both
//! trained with the chosen imbalance treatment. Averaging a well-calibrated
//! linear model with a non-linear one is a robust default on small tabular
//! clinical data: neither member has to win on every data set, and the
//! average is rarely worse than the better member. The decision is the
//! argmax of the averaged probabilities.

pub mod forest;
pub mod gbm;
pub mod logistic;
pub mod smote;
pub mod tree;

use serde::{Deserialize, Serialize};

use super::contract::{Algorithm, ImbalanceMethod};
use super::hyperparameters::Hyperparameters;
use super::preprocess::Matrix;
use forest::{Forest, ForestParams};
use gbm::{Gbm, GbmParams};
use logistic::{Logistic, LogisticParams};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    LogisticRegression(Logistic),
    RandomForest(Forest),
    GradientBoosting(Gbm),
    /// Mean of the members' probabilities.
    Ensemble(Vec<Model>),
}

impl Model {
    pub fn n_classes(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.n_classes,
            Model::RandomForest(m) => m.n_classes,
            Model::GradientBoosting(m) => m.n_classes,
            Model::Ensemble(ms) => ms.first().map_or(0, Model::n_classes),
        }
    }

    pub fn n_features(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.n_features,
            Model::RandomForest(m) => m.n_features,
            Model::GradientBoosting(m) => m.n_features,
            Model::Ensemble(ms) => ms.first().map_or(0, Model::n_features),
        }
    }

    /// Structural check after loading (indices in range, sizes consistent).
    pub fn is_valid(&self, n_features: usize, n_classes: usize) -> bool {
        let shape = self.n_features() == n_features && self.n_classes() == n_classes;
        shape
            && match self {
                Model::LogisticRegression(m) => m.is_valid(),
                Model::RandomForest(m) => m.is_valid(),
                Model::GradientBoosting(m) => m.is_valid(),
                Model::Ensemble(ms) => {
                    !ms.is_empty()
                        && ms.iter().all(|m| !matches!(m, Model::Ensemble(_)) && m.is_valid(n_features, n_classes))
                }
            }
    }

    /// Probabilities for one design-matrix row; `scratch` must be as long as `out`.
    pub fn predict_proba_into(&self, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        match self {
            Model::LogisticRegression(m) => m.predict_proba_into(x, out),
            Model::RandomForest(m) => m.predict_proba_into(x, out),
            Model::GradientBoosting(m) => m.predict_proba_into(x, out),
            Model::Ensemble(ms) => {
                // Members are never ensembles themselves (see `is_valid`),
                // so they need no scratch space of their own.
                out.fill(0.0);
                for m in ms {
                    m.predict_proba_into(x, scratch, &mut []);
                    for (o, s) in out.iter_mut().zip(scratch.iter()) {
                        *o += s;
                    }
                }
                let n = ms.len().max(1) as f64;
                for o in out.iter_mut() {
                    *o /= n;
                }
            }
        }
    }

    pub fn predict_proba(&self, x: &Matrix) -> Vec<Vec<f64>> {
        let k = self.n_classes();
        let mut scratch = vec![0.0; k];
        (0..x.rows)
            .map(|i| {
                let mut out = vec![0.0; k];
                self.predict_proba_into(x.row(i), &mut out, &mut scratch);
                out
            })
            .collect()
    }

    fn member(&self, pick: fn(&Model) -> bool) -> Option<&Model> {
        match self {
            Model::Ensemble(ms) => ms.iter().find(|m| pick(m)),
            m if pick(m) => Some(m),
            _ => None,
        }
    }
}

/// "Balanced" class weights `n / (k · n_c)` per sample.
pub fn balanced_weights(y: &[usize], k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    for &c in y {
        counts[c] += 1;
    }
    let n = y.len() as f64;
    y.iter().map(|&c| n / (k as f64 * counts[c].max(1) as f64)).collect()
}

/// Fits the configured model on a design matrix. `warm` is the source
/// model for transfer learning (same design-matrix layout and classes).
pub fn fit(x: &Matrix, y: &[usize], k: usize, hp: &Hyperparameters, seed: u64, warm: Option<&Model>) -> Model {
    let (x, y, w) = match hp.imbalance {
        ImbalanceMethod::Smote => {
            let (xs, ys) = smote::oversample(x, y, k, hp.smote_k_neighbors, seed);
            let w = vec![1.0; ys.len()];
            (std::borrow::Cow::Owned(xs), ys, w)
        }
        ImbalanceMethod::ClassWeight | ImbalanceMethod::FocalLoss => {
            (std::borrow::Cow::Borrowed(x), y.to_vec(), balanced_weights(y, k))
        }
        ImbalanceMethod::None => (std::borrow::Cow::Borrowed(x), y.to_vec(), vec![1.0; y.len()]),
    };
    let x = x.as_ref();
    let warm = warm.filter(|m| m.n_features() == x.cols && m.n_classes() == k);
    let logistic = || {
        let src = warm.and_then(|m| m.member(|m| matches!(m, Model::LogisticRegression(_))));
        let src = match src {
            Some(Model::LogisticRegression(l)) => Some(l),
            _ => None,
        };
        let p = LogisticParams { c: hp.logreg_c, max_iter: 500, warm_strength: hp.warm_start_strength };
        Model::LogisticRegression(Logistic::fit(x, &y, &w, k, &p, src))
    };
    let boosting = || {
        let src = warm.and_then(|m| m.member(|m| matches!(m, Model::GradientBoosting(_))));
        let src = match src {
            Some(Model::GradientBoosting(g)) => Some(g),
            _ => None,
        };
        let p = GbmParams {
            n_rounds: hp.n_trees,
            learning_rate: hp.learning_rate,
            max_depth: hp.max_depth,
            min_child_weight: hp.min_child_weight,
            l2: hp.l2,
            max_bins: hp.max_bins,
            focal_gamma: (hp.imbalance == ImbalanceMethod::FocalLoss).then_some(hp.focal_gamma),
        };
        Model::GradientBoosting(Gbm::fit(x, &y, &w, k, &p, src))
    };
    let forest = || {
        let p = ForestParams { n_trees: hp.rf_n_trees, max_depth: hp.rf_max_depth, max_bins: hp.max_bins, seed };
        Model::RandomForest(Forest::fit(x, &y, &w, k, &p))
    };
    match hp.algorithm {
        Algorithm::LogisticRegression => logistic(),
        Algorithm::GradientBoosting => boosting(),
        Algorithm::RandomForest => forest(),
        Algorithm::Auto => Model::Ensemble(vec![logistic(), boosting()]),
    }
}
