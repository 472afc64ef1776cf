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

use super::preprocess::Matrix;
use dxops_contract::data::{Algorithm, ImbalanceMethod};
use dxops_contract::hyperparameters::Hyperparameters;
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
/// in a balanced prior correction. Every training row gets an out-of-sample
/// probability: from an inner stratified cross-validation (`balance_folds`
/// folds) for the logistic and boosting members, and from the out-of-bag
/// trees for the random forest (the forest's own, free held-out estimate),
/// averaged as the ensemble averages. Their mean per class under balanced
/// sample weights, `q_c`, is the prior the model effectively predicts for
/// unseen data. A model that treats classes evenly has `q_c = 1/k`; flexible
/// models fit rare classes closely in-sample and so under-predict them
/// out-of-sample. Multiplying probabilities by `(1/k) / q_c` (and
/// renormalising) removes that shift — the classic prior correction, aimed
/// at balanced recall — without looking at any held-out data.
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
        return fit_base(x, y, k, hp, seed, warm, Part::All).0;
    }
    let fold_of = crate::pipeline::stratified_folds(y, k, folds, seed ^ 0xBA1A_7CED);
    let w = balanced_weights(y, k);
    // The forest's out-of-sample probabilities are its out-of-bag ones, so
    // the inner folds refit only the other members.
    let has_forest = matches!(hp.algorithm, Algorithm::Auto | Algorithm::RandomForest);
    let inner_members = match hp.algorithm {
        Algorithm::Auto => 2.0,
        Algorithm::RandomForest => 0.0,
        _ => 1.0,
    };
    let inner_jobs = if inner_members > 0.0 { folds } else { 0 };
    // Jobs 0..inner_jobs are the inner folds, the last job is the final fit.
    let mut jobs = crate::parallel::map(inner_jobs + 1, |f| {
        if f == inner_jobs {
            let (m, oob) = fit_base(x, y, k, hp, seed, warm, Part::All);
            return (Vec::new(), Some((m, oob)));
        }
        let tr: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] != f).collect();
        let te: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] == f).collect();
        let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
        let (m, _) = fit_base(
            &x.select_rows(&tr),
            &ytr,
            k,
            hp,
            seed.wrapping_add(f as u64 + 1),
            warm,
            Part::WithoutForest,
        );
        let mut scratch = vec![0.0; k];
        let preds: Vec<(usize, Vec<f64>)> = te
            .iter()
            .map(|&i| {
                let mut p = vec![0.0; k];
                m.predict_proba_into(x.row(i), &mut p, &mut scratch);
                (i, p)
            })
            .collect();
        (preds, None)
    });
    let (base, oob) = match jobs.pop() {
        Some((_, Some(fitted))) => fitted,
        _ => fit_base(x, y, k, hp, seed, warm, Part::All),
    };
    // Out-of-sample probability of every training row.
    let mut oos = vec![vec![0.0; k]; y.len()];
    for (preds, _) in jobs {
        for (i, p) in preds {
            for (o, v) in oos[i].iter_mut().zip(&p) {
                *o += inner_members * v;
            }
        }
    }
    if has_forest {
        let forest = base.member(|m| matches!(m, Model::RandomForest(_)));
        let mut scratch = vec![0.0; k];
        let mut p = vec![0.0; k];
        for (i, o) in oos.iter_mut().enumerate() {
            match oob.as_ref().and_then(|v| v.get(i)).and_then(|v| v.as_ref()) {
                Some(q) => p.copy_from_slice(q),
                // Drawn by every bootstrap (practically never): in-sample.
                None => match forest {
                    Some(f) => f.predict_proba_into(x.row(i), &mut p, &mut scratch),
                    None => p.fill(1.0 / k as f64),
                },
            }
            for (a, b) in o.iter_mut().zip(&p) {
                *a = (*a + b) / (inner_members + 1.0);
            }
        }
    } else {
        for o in oos.iter_mut() {
            for a in o.iter_mut() {
                *a /= inner_members;
            }
        }
    }
    let mut q = vec![0.0; k];
    for (o, wi) in oos.iter().zip(&w) {
        for c in 0..k {
            q[c] += wi * o[c];
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

/// Which members `fit_base` trains.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    All,
    /// Every member but the random forest (inner folds of the correction).
    WithoutForest,
}

/// Out-of-bag probabilities of the original (not synthetic) rows.
type Oob = Option<Vec<Option<Vec<f64>>>>;

fn fit_base(
    x: &Matrix,
    y: &[usize],
    k: usize,
    hp: &Hyperparameters,
    seed: u64,
    warm: Option<&Model>,
    part: Part,
) -> (Model, Oob) {
    let n_original = x.rows;
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
        let (f, oob) = Forest::fit_with_oob(x, &y, &w, k, &p, n_original);
        (Model::RandomForest(f), Some(oob))
    };
    match (hp.algorithm, part) {
        (Algorithm::LogisticRegression, _) => (logistic(), None),
        (Algorithm::GradientBoosting, _) => (boosting(), None),
        (Algorithm::RandomForest, _) => forest(),
        (Algorithm::Auto, Part::All) => {
            let (f, oob) = forest();
            (Model::Ensemble(vec![logistic(), boosting(), f]), oob)
        }
        (Algorithm::Auto, Part::WithoutForest) => {
            (Model::Ensemble(vec![logistic(), boosting()]), None)
        }
    }
}
