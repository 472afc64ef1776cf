//! The classifiers and how the hyperparameters select and configure them.
//!
//! `auto` is a soft-voting ensemble: the mean of the class probabilities of
//! a multinomial logistic regression, a gradient-boosting model (each the
//! mean of its inner folds' models when the decision rule is chosen) and a
//! random forest, all trained with the chosen imbalance treatment, followed
//! by the decision rule chosen on inner folds, described at [`fit`]. The three members
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
use crate::metrics::{confusion, macro_f1_and_worst_recall};
use dxops_contract::data::{Algorithm, ImbalanceMethod};
use dxops_contract::evaluation::{OperatingCandidate, OperatingPoint};
use dxops_contract::hyperparameters::Hyperparameters;
use forest::{Forest, ForestParams};
use gbm::{EarlyStop, Gbm, GbmParams};
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
                    let plain = |m: &Model| {
                        !matches!(m, Model::Ensemble(_) | Model::Rebalanced { .. })
                            && m.is_valid(n_features, n_classes)
                    };
                    !ms.is_empty()
                        && ms.iter().all(|m| match m {
                            // A cross-fitted member: its fold models.
                            Model::Ensemble(folds) => !folds.is_empty() && folds.iter().all(plain),
                            m => plain(m),
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
                out.fill(0.0);
                let share = 1.0 / ms.len().max(1) as f64;
                for m in ms {
                    m.add_weighted(x, share, out, scratch);
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

    /// Adds `weight` times this model's probabilities to `out`. A nested
    /// ensemble (the fold models of a cross-fitted member) splits its
    /// weight evenly among its members, so one scratch row serves any depth.
    fn add_weighted(&self, x: &[f64], weight: f64, out: &mut [f64], scratch: &mut [f64]) {
        match self {
            Model::Ensemble(ms) => {
                let share = weight / ms.len().max(1) as f64;
                for m in ms {
                    m.add_weighted(x, share, out, scratch);
                }
            }
            m => {
                m.predict_proba_into(x, scratch, &mut []);
                for (o, s) in out.iter_mut().zip(scratch.iter()) {
                    *o += weight * s;
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

    /// The first member `pick` accepts; for a cross-fitted member, its
    /// first fold's model.
    fn member(&self, pick: fn(&Model) -> bool) -> Option<&Model> {
        match self {
            Model::Ensemble(ms) => ms.iter().find_map(|m| m.member(pick)),
            Model::Rebalanced { base, .. } => base.member(pick),
            m if pick(m) => Some(m),
            _ => None,
        }
    }

    /// Every member `pick` gives a model of, the fold models of a
    /// cross-fitted one included.
    fn members<'a, T>(&'a self, pick: fn(&'a Model) -> Option<&'a T>, out: &mut Vec<&'a T>) {
        match self {
            Model::Ensemble(ms) => ms.iter().for_each(|m| m.members(pick, out)),
            Model::Rebalanced { base, .. } => base.members(pick, out),
            m => out.extend(pick(m)),
        }
    }

    /// What a warm start's logistic member is regularised toward: the mean
    /// of the source's logistic fold models (their mean logits), so the
    /// pull comes from all of the source's rows, not one fold's two thirds.
    fn warm_logistic(&self) -> Option<Logistic> {
        let mut models = Vec::new();
        self.members(
            |m| match m {
                Model::LogisticRegression(l) => Some(l),
                _ => None,
            },
            &mut models,
        );
        let first = models.first()?;
        let n = models.len() as f64;
        let mut weights = vec![0.0; first.weights.len()];
        for l in &models {
            for (a, b) in weights.iter_mut().zip(&l.weights) {
                *a += b / n;
            }
        }
        Some(Logistic {
            weights,
            ..(*first).clone()
        })
    }

    /// What a warm start's boosting member continues from: one model whose
    /// logits are the mean of the source's boosting fold models' (bases
    /// averaged, every tree kept with its values divided by their number).
    fn warm_boosting(&self) -> Option<Gbm> {
        let mut models = Vec::new();
        self.members(
            |m| match m {
                Model::GradientBoosting(g) => Some(g),
                _ => None,
            },
            &mut models,
        );
        let first = models.first()?;
        let n = models.len() as f64;
        let mut base = vec![0.0; first.base.len()];
        let mut trees = Vec::new();
        for g in &models {
            for (a, b) in base.iter_mut().zip(&g.base) {
                *a += b / n;
            }
            // each model's trees come in whole rounds of one tree per
            // class, so tree `t % n_classes` still adds to its class
            trees.extend(g.trees.iter().map(|t| {
                let mut t = t.clone();
                t.values.iter_mut().for_each(|v| *v /= n);
                t
            }));
        }
        Some(Gbm {
            base,
            trees,
            ..(*first).clone()
        })
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

/// A fitted model and what the inner cross-validation chose for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub model: Model,
    /// Boosting rounds kept (early stopping on the inner folds), if any.
    pub boosting_rounds: Option<usize>,
    /// The decision rule and its inner-CV evidence, if one was chosen.
    pub operating_point: Option<OperatingPoint>,
}

/// Candidate strengths of the prior correction, from half-way back toward
/// the training frequencies (−0.5) through none (0) to the full balanced
/// correction (1).
const STRENGTHS: [f64; 13] = [
    -0.5, -0.375, -0.25, -0.125, 0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0,
];

/// Fits the configured model on a design matrix. `warm` is the source
/// model for transfer learning (same design-matrix layout and classes).
///
/// With `balance_folds` ≥ 2 an inner stratified cross-validation inside
/// the training data gives every training row an out-of-sample probability:
/// from the inner folds for the logistic and boosting members, and from the
/// out-of-bag trees for the random forest (the forest's own, free held-out
/// estimate), averaged as the ensemble averages. The inner folds' logistic
/// and boosting models are themselves the final members (cross-fitting,
/// see the body), and the folds serve two choices:
///
/// * boosting rounds: each inner boosting fit stops early on its held-out
///   fold and keeps its best round;
/// * the decision rule (with an imbalance treatment): the mean
///   out-of-sample probability per class under balanced sample weights,
///   `q_c`, is the prior the model effectively predicts for unseen data
///   (`1/k` for a model that treats classes evenly; flexible models fit
///   rare classes closely in-sample and under-predict them out-of-sample).
///   The rule multiplies probabilities by `((1/k) / q_c)^α` and
///   renormalises. Among the candidates of [`STRENGTHS`] whose inner
///   worst-class recall reaches `min_class_recall` (the spec's gate), those
///   within `macro_f1_tolerance` of the best inner macro-F1 are kept and the
///   one with the best worst-class recall is chosen; when no candidate
///   reaches the floor, the one with the best worst-class recall. Full correction (`α = 1`) evens recall
///   across classes but floods rare classes with false alarms when the
///   signal is weak; the clinic's own targets decide instead.
///
/// No held-out data of the outer evaluation is ever looked at.
pub fn fit(
    x: &Matrix,
    y: &[usize],
    k: usize,
    hp: &Hyperparameters,
    seed: u64,
    warm: Option<&Model>,
) -> Fit {
    let folds = hp.balance_folds;
    let mut counts = vec![0usize; k];
    for &c in y {
        counts[c] += 1;
    }
    let boosts = matches!(hp.algorithm, Algorithm::Auto | Algorithm::GradientBoosting);
    let early_stop = boosts && hp.early_stopping_rounds > 0;
    let rebalance = hp.imbalance != ImbalanceMethod::None;
    if folds < 2 || counts.iter().any(|&c| c < folds) || !(early_stop || rebalance) {
        let (model, _, rounds) = fit_base(x, y, k, hp, seed, warm, Part::All, None);
        return Fit {
            model,
            boosting_rounds: rounds,
            operating_point: None,
        };
    }
    let fold_of = crate::pipeline::stratified_folds(y, k, folds, seed ^ 0xBA1A_7CED);
    // The forest's out-of-sample probabilities are its out-of-bag ones, so
    // the inner folds fit only the other members.
    let has_forest = matches!(hp.algorithm, Algorithm::Auto | Algorithm::RandomForest);
    let inner_members = match hp.algorithm {
        Algorithm::Auto => 2.0,
        Algorithm::RandomForest => 0.0,
        _ => 1.0,
    };
    let inner_jobs = if inner_members > 0.0 { folds } else { 0 };
    let held_out_weights = |rows: &[usize]| -> Vec<f64> {
        let yh: Vec<usize> = rows.iter().map(|&i| y[i]).collect();
        if rebalance {
            balanced_weights(&yh, k)
        } else {
            vec![1.0; yh.len()]
        }
    };
    let jobs = crate::parallel::map(inner_jobs, |f| {
        let tr: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] != f).collect();
        let te: Vec<usize> = (0..y.len()).filter(|&i| fold_of[i] == f).collect();
        let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
        let (xte, yte, wte) = (
            x.select_rows(&te),
            te.iter().map(|&i| y[i]).collect::<Vec<_>>(),
            held_out_weights(&te),
        );
        let stop = early_stop.then_some(EarlyStop {
            x: &xte,
            y: &yte,
            w: &wte,
            patience: hp.early_stopping_rounds,
        });
        let (m, _, rounds) = fit_base(
            &x.select_rows(&tr),
            &ytr,
            k,
            hp,
            seed.wrapping_add(f as u64 + 1),
            warm,
            Part::WithoutForest,
            stop,
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
        (m, preds, rounds)
    });
    // Cross-fitting: the inner folds' models are the final logistic and
    // boosting members (each fold's model one third of the member), so no
    // member is refitted on all rows, each boosting model keeps the rounds
    // its own held-out fold chose, and the decision rule below is judged on
    // the very models that predict.
    let inner_rounds: Vec<usize> = jobs.iter().filter_map(|j| j.2).collect();
    let boosting_rounds = (!inner_rounds.is_empty()).then(|| {
        let mean = inner_rounds.iter().sum::<usize>() as f64 / inner_rounds.len() as f64;
        mean.round() as usize
    });
    let mut oos = vec![vec![0.0; k]; y.len()];
    let mut fold_models: Vec<Model> = Vec::with_capacity(jobs.len());
    for (m, preds, _) in jobs {
        for (i, p) in preds {
            for (o, v) in oos[i].iter_mut().zip(&p) {
                *o += inner_members * v;
            }
        }
        fold_models.push(m);
    }
    let (forest, oob) = if has_forest {
        let (f, oob, _) = fit_base(x, y, k, hp, seed, warm, Part::ForestOnly, None);
        (Some(f), oob)
    } else {
        (None, None)
    };
    let base = match (hp.algorithm, forest) {
        (Algorithm::Auto, Some(forest)) => {
            // Each fold model is `[logistic, boosting]`: regroup by member.
            let mut by_member: [Vec<Model>; 2] = [Vec::new(), Vec::new()];
            for m in fold_models {
                if let Model::Ensemble(ms) = m {
                    for (slot, member) in by_member.iter_mut().zip(ms) {
                        slot.push(member);
                    }
                }
            }
            let [lr, gb] = by_member;
            Model::Ensemble(vec![Model::Ensemble(lr), Model::Ensemble(gb), forest])
        }
        (_, Some(forest)) => forest,
        (_, None) => Model::Ensemble(fold_models),
    };
    if !rebalance {
        return Fit {
            model: base,
            boosting_rounds,
            operating_point: None,
        };
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
    let (scale, operating_point) =
        choose_operating_point(&oos, y, k, hp.min_class_recall, hp.macro_f1_tolerance);
    Fit {
        model: Model::Rebalanced {
            base: Box::new(base),
            scale,
        },
        boosting_rounds,
        operating_point: Some(operating_point),
    }
}

/// The prior correction's per-class factors at every strength of
/// [`STRENGTHS`], judged on the out-of-sample probabilities `oos`; returns
/// the chosen factors and the evidence (see [`fit`]).
fn choose_operating_point(
    oos: &[Vec<f64>],
    y: &[usize],
    k: usize,
    floor: f64,
    tolerance: f64,
) -> (Vec<f64>, OperatingPoint) {
    let w = balanced_weights(y, k);
    let mut q = vec![0.0; k];
    for (o, wi) in oos.iter().zip(&w) {
        for (qc, oc) in q.iter_mut().zip(o) {
            *qc += wi * oc;
        }
    }
    let total: f64 = w.iter().sum();
    let full: Vec<f64> = q
        .iter()
        .map(|&qc| (1.0 / k as f64) / (qc / total).max(1e-6))
        .collect();
    let scale_at = |alpha: f64| -> Vec<f64> { full.iter().map(|s| s.powf(alpha)).collect() };
    let candidates: Vec<OperatingCandidate> = STRENGTHS
        .iter()
        .map(|&strength| {
            let s = scale_at(strength);
            // The argmax of the scaled row, without a row of its own (this
            // runs for every candidate on every training row).
            let decide = oos.iter().map(|p| {
                let mut best = (0, f64::NEG_INFINITY);
                for (c, (a, b)) in p.iter().zip(&s).enumerate() {
                    if a * b > best.1 {
                        best = (c, a * b);
                    }
                }
                best.0
            });
            let (macro_f1, worst_class_recall) =
                macro_f1_and_worst_recall(&confusion(y, decide, k));
            OperatingCandidate {
                strength,
                macro_f1,
                worst_class_recall,
            }
        })
        .collect();
    let floor_met = candidates.iter().any(|c| c.worst_class_recall >= floor);
    let feasible: Vec<&OperatingCandidate> = candidates
        .iter()
        .filter(|c| !floor_met || c.worst_class_recall >= floor)
        .collect();
    // Inner folds are small, so macro-F1 differences below `tolerance` are
    // noise; among rules that close to the best, the one that misses the
    // fewest patients of its worst class wins, then the better macro-F1,
    // then the milder correction. Without a feasible rule, the best
    // worst-class recall wins outright.
    let best_f1 = feasible.iter().map(|c| c.macro_f1).fold(0.0, f64::max);
    let near_best = |c: &&&OperatingCandidate| !floor_met || c.macro_f1 >= best_f1 - tolerance;
    let chosen = feasible.iter().filter(near_best).max_by(|a, b| {
        a.worst_class_recall
            .total_cmp(&b.worst_class_recall)
            .then(a.macro_f1.total_cmp(&b.macro_f1))
            .then(b.strength.abs().total_cmp(&a.strength.abs()))
    });
    let strength = chosen.map_or(0.0, |c| c.strength);
    (
        scale_at(strength),
        OperatingPoint {
            strength,
            recall_floor: floor,
            floor_met,
            candidates,
        },
    )
}

/// Which members `fit_base` trains.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    All,
    /// Every member but the random forest (inner folds of the correction).
    WithoutForest,
    /// Only the random forest (fitted on all rows beside the inner folds).
    ForestOnly,
}

/// Out-of-bag probabilities of the original (not synthetic) rows.
type Oob = Option<Vec<Option<Vec<f64>>>>;

/// Fits the members `part` names; also returns the forest's out-of-bag
/// probabilities and the boosting rounds kept, when those members are fitted.
#[allow(clippy::too_many_arguments)]
fn fit_base(
    x: &Matrix,
    y: &[usize],
    k: usize,
    hp: &Hyperparameters,
    seed: u64,
    warm: Option<&Model>,
    part: Part,
    stop: Option<EarlyStop<'_>>,
) -> (Model, Oob, Option<usize>) {
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
        let src = warm.and_then(Model::warm_logistic);
        let p = LogisticParams {
            c: hp.logreg_c,
            max_iter: 500,
            warm_strength: hp.warm_start_strength,
        };
        Model::LogisticRegression(Logistic::fit(x, &y, &w, k, &p, src.as_ref()))
    };
    let boosting = || {
        let src = warm.and_then(Model::warm_boosting);
        let p = GbmParams {
            n_rounds: hp.n_trees,
            learning_rate: hp.learning_rate,
            max_depth: hp.max_depth,
            min_child_weight: hp.min_child_weight,
            l2: hp.l2,
            max_bins: hp.max_bins,
            focal_gamma: (hp.imbalance == ImbalanceMethod::FocalLoss).then_some(hp.focal_gamma),
            split_rows: hp.split_sample_rows,
            seed,
        };
        let (g, rounds) = Gbm::fit_early_stopped(x, &y, &w, k, &p, src.as_ref(), stop);
        (Model::GradientBoosting(g), Some(rounds))
    };
    let forest = || {
        // Depth 0 means ⌈log₂ n⌉: deep enough for a balanced tree to give
        // every row its own leaf, so only lopsided chains of splits on few
        // rows are cut, and they cost most of an unlimited tree's time.
        let auto_depth = (usize::BITS - x.rows.max(2).saturating_sub(1).leading_zeros()) as usize;
        let p = ForestParams {
            n_trees: hp.rf_n_trees,
            max_depth: if hp.rf_max_depth == 0 {
                auto_depth
            } else {
                hp.rf_max_depth
            },
            max_bins: hp.max_bins,
            seed,
        };
        let (f, oob) = Forest::fit_with_oob(x, &y, &w, k, &p, n_original);
        (Model::RandomForest(f), Some(oob))
    };
    match (hp.algorithm, part) {
        (Algorithm::LogisticRegression, _) => (logistic(), None, None),
        (Algorithm::GradientBoosting, _) => {
            let (g, rounds) = boosting();
            (g, None, rounds)
        }
        (Algorithm::RandomForest, _) | (_, Part::ForestOnly) => {
            let (f, oob) = forest();
            (f, oob, None)
        }
        (Algorithm::Auto, part) => {
            let (g, rounds) = boosting();
            let mut members = vec![logistic(), g];
            let mut oob = None;
            if part == Part::All {
                let (f, o) = forest();
                members.push(f);
                oob = o;
            }
            (Model::Ensemble(members), oob, rounds)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three noisy clusters, enough rows per class for three inner folds.
    fn clusters() -> (Matrix, Vec<usize>) {
        let (mut data, mut y) = (Vec::new(), Vec::new());
        for i in 0..150 {
            let c = i % 3;
            data.push(c as f64 + ((i * 7) % 13) as f64 / 13.0);
            data.push(((i * 11) % 17) as f64 / 17.0);
            y.push(c);
        }
        (
            Matrix {
                data,
                rows: 150,
                cols: 2,
            },
            y,
        )
    }

    #[test]
    fn auto_keeps_the_inner_fold_models_as_its_members() {
        let (x, y) = clusters();
        let hp = Hyperparameters {
            rf_n_trees: 5,
            ..Hyperparameters::default()
        };
        let fit = fit(&x, &y, 3, &hp, 7, None);
        let Model::Rebalanced { base, .. } = &fit.model else {
            panic!("no decision rule: {:?}", fit.model);
        };
        let Model::Ensemble(members) = base.as_ref() else {
            panic!("not an ensemble");
        };
        // Logistic and boosting: one model per inner fold; the forest: one.
        let folds = |m: &Model| match m {
            Model::Ensemble(ms) => ms.len(),
            _ => 1,
        };
        let sizes: Vec<usize> = members.iter().map(folds).collect();
        assert_eq!(sizes, vec![hp.balance_folds, hp.balance_folds, 1]);
        assert!(fit.model.is_valid(2, 3));
        assert!(
            fit.boosting_rounds
                .is_some_and(|r| (1..=hp.n_trees).contains(&r))
        );
        let p = fit.model.predict_proba(&x);
        assert!(p.iter().all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-9));
        // A warm start continues from the mean of the fold models' logits.
        let merged = fit.model.warm_boosting().expect("boosting members");
        let mut folds = Vec::new();
        fit.model.members(
            |m| match m {
                Model::GradientBoosting(g) => Some(g),
                _ => None,
            },
            &mut folds,
        );
        assert_eq!(folds.len(), hp.balance_folds);
        let (mut z, mut each) = (vec![0.0; 3], vec![0.0; 3]);
        for i in 0..x.rows {
            merged.logits_into(x.row(i), &mut z);
            let mut mean = vec![0.0; 3];
            for g in &folds {
                g.logits_into(x.row(i), &mut each);
                for (m, e) in mean.iter_mut().zip(&each) {
                    *m += e / folds.len() as f64;
                }
            }
            assert!(z.iter().zip(&mean).all(|(a, b)| (a - b).abs() < 1e-9));
        }
        // A nested ensemble deeper than one level is not a valid artifact.
        let deeper = Model::Ensemble(vec![Model::Ensemble(vec![base.as_ref().clone()])]);
        assert!(!deeper.is_valid(2, 3));
    }
}
