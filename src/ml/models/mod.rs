//! The classifiers and how the hyperparameters select and configure them.
//!
//! `auto` is a soft-voting ensemble: the mean of the class probabilities of
//! a multinomial logistic regression, a gradient-boosting model and a
//! random forest, all trained with the chosen imbalance treatment, followed
//! by the balanced prior correction described at [`fit`]. The three members
//! fail in different ways (a linear model underfits interactions, boosting
//! overfits rare classes, bagged deep trees are under-confident on them), so
//! their average is a robust default on small tabular clinical data without
//! choosing a winner per data set. The decision is the argmax of the
//! (corrected) averaged probabilities.

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
    /// Probabilities of `base` multiplied by `scale` per class and
    /// renormalised (the balanced prior correction, see [`fit`]).
    Rebalanced {
        base: Box<Model>,
        scale: Vec<f64>,
    },
}

impl Model {
    pub fn n_classes(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.n_classes,
            Model::RandomForest(m) => m.n_classes,
            Model::GradientBoosting(m) => m.n_classes,
            Model::Ensemble(ms) => ms.first().map_or(0, Model::n_classes),
            Model::Rebalanced { base, .. } => base.n_classes(),
        }
    }

    pub fn n_features(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.n_features,
            Model::RandomForest(m) => m.n_features,
            Model::GradientBoosting(m) => m.n_features,
            Model::Ensemble(ms) => ms.first().map_or(0, Model::n_features),
            Model::Rebalanced { base, .. } => base.n_features(),
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
                        && ms.iter().all(|m| {
                            !matches!(m, Model::Ensemble(_) | Model::Rebalanced { .. })
                                && m.is_valid(n_features, n_classes)
                        })
                }
                Model::Rebalanced { base, scale } => {
                    !matches!(**base, Model::Rebalanced { .. })
                        && scale.len() == n_classes
                        && scale.iter().all(|s| s.is_finite() && *s > 0.0)
                        && base.is_valid(n_features, n_classes)
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
            Model::Rebalanced { base, scale } => {
                base.predict_proba_into(x, out, scratch);
                let mut total = 0.0;
                for (o, s) in out.iter_mut().zip(scale) {
                    *o *= s;
                    total += *o;
                }
                if total > 0.0 {
                    for o in out.iter_mut() {
                        *o /= total;
                    }
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
            Model::Rebalanced { base, .. } => base.member(pick),
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
    y.iter()
        .map(|&c| n / (k as f64 * counts[c].max(1) as f64))
        .collect()
}

/// Fits the configured model on a design matrix. `warm` is the source
/// model for transfer learning (same design-matrix layout and classes).
///
/// With an imbalance treatment and `balance_folds` ≥ 2 the model is wrapped
/// in a balanced prior correction: an inner stratified cross-validation on
/// the training data gives out-of-sample probabilities; their mean per class
/// under balanced sample weights, `q_c`, is the prior the model effectively
/// predicts for unseen data. A model that treats classes evenly has
/// `q_c = 1/k`; flexible models fit rare classes closely in-sample and so
/// under-predict them out-of-sample. Multiplying probabilities by
/// `(1/k) / q_c` (and renormalising) removes that shift — the classic prior
/// correction, aimed at balanced recall — without looking at any
/// held-out data.
pub fn fit(
    x: &Matrix,
    y: &[usize],
    k: usize,
    hp: &Hyperparameters,
    seed: u64,
    warm: Option<&Model>,
) -> Model {
    let folds = hp.balance_folds;
    let mut counts = vec![0usize; k];
    for &c in y {
        counts[c] += 1;
    }
    if hp.imbalance == ImbalanceMethod::None || folds < 2 || counts.iter().any(|&c| c < folds) {
        return fit_base(x, y, k, hp, seed, warm);
    }
    let fold_of = crate::ml::pipeline::stratified_folds(y, k, folds, seed ^ 0xBA1A_7CED);
    let mut q = vec![0.0; k];
    let w = balanced_weights(y, k);
    // Jobs 0..folds are the inner folds, job `folds` is the final fit.
    let mut jobs = crate::ml::parallel::map(folds + 1, |f| {
        if f == folds {
            return (Vec::new(), Some(fit_base(x, y, k, hp, seed, warm)));
        }
        let tr: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] != f).collect();
        let te: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] == f).collect();
        let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
        let m = fit_base(
            &x.select_rows(&tr),
            &ytr,
            k,
            hp,
            seed.wrapping_add(f as u64 + 1),
            warm,
        );
        let mut scratch = vec![0.0; k];
        let mut p = vec![0.0; k];
        let mut q = vec![0.0; k];
        for &i in &te {
            m.predict_proba_into(x.row(i), &mut p, &mut scratch);
            for c in 0..k {
                q[c] += w[i] * p[c];
            }
        }
        (q, None)
    });
    let base = match jobs.pop() {
        Some((_, Some(m))) => m,
        _ => fit_base(x, y, k, hp, seed, warm),
    };
    // Summed in fold order, so the result does not depend on threads.
    for (part, _) in jobs {
        for c in 0..k {
            q[c] += part[c];
        }
    }
    let total: f64 = w.iter().sum();
    let scale: Vec<f64> = q
        .iter()
        .map(|&qc| (1.0 / k as f64) / (qc / total).max(1e-6))
        .collect();
    Model::Rebalanced {
        base: Box::new(base),
        scale,
    }
}

fn fit_base(
    x: &Matrix,
    y: &[usize],
    k: usize,
    hp: &Hyperparameters,
    seed: u64,
    warm: Option<&Model>,
) -> Model {
    let (x, y, w) = match hp.imbalance {
        ImbalanceMethod::Smote => {
            let (xs, ys) = smote::oversample(x, y, k, hp.smote_k_neighbors, seed);
            let w = vec![1.0; ys.len()];
            (std::borrow::Cow::Owned(xs), ys, w)
        }
        ImbalanceMethod::ClassWeight | ImbalanceMethod::FocalLoss => (
            std::borrow::Cow::Borrowed(x),
            y.to_vec(),
            balanced_weights(y, k),
        ),
        ImbalanceMethod::None => (
            std::borrow::Cow::Borrowed(x),
            y.to_vec(),
            vec![1.0; y.len()],
        ),
    };
    let x = x.as_ref();
    let warm = warm.filter(|m| m.n_features() == x.cols && m.n_classes() == k);
    let logistic = || {
        let src = warm.and_then(|m| m.member(|m| matches!(m, Model::LogisticRegression(_))));
        let src = match src {
            Some(Model::LogisticRegression(l)) => Some(l),
            _ => None,
        };
        let p = LogisticParams {
            c: hp.logreg_c,
            max_iter: 500,
            warm_strength: hp.warm_start_strength,
        };
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
        let p = ForestParams {
            n_trees: hp.rf_n_trees,
            max_depth: hp.rf_max_depth,
            max_bins: hp.max_bins,
            seed,
        };
        Model::RandomForest(Forest::fit(x, &y, &w, k, &p))
    };
    match hp.algorithm {
        Algorithm::LogisticRegression => logistic(),
        Algorithm::GradientBoosting => boosting(),
        Algorithm::RandomForest => forest(),
        Algorithm::Auto => Model::Ensemble(vec![logistic(), boosting(), forest()]),
    }
}
