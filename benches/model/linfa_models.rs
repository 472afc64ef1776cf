//! linfa's own learners on the model benchmark: the same folds as
//! `dxops-model cv` (read from the file its `--folds-out` wrote), our
//! preprocessing fitted inside each training fold (median imputation with
//! missing indicators, standardisation, one-hot), so what differs from the
//! dxops row is the learner alone. Metrics on pooled out-of-fold
//! probabilities with the argmax decision, as `baselines.py` does; CPU and
//! wall time around each `fit`, summed over folds, least of `BENCH_REPEATS`
//! runs (default 3). One JSON line per (data set, learner), in the shape
//! `table.py` reads.
//!
//! Learners (pure Rust, no BLAS; all handle several classes):
//! - `MultiLogisticRegression`: multinomial, L2 `alpha` 1 on the summed
//!   loss (our `logreg_c` 1, scikit-learn's `C` 1), 500 iterations as ours.
//!   It takes no sample weights, so no class balancing.
//! - `DecisionTree`: Gini, unlimited depth, unweighted and with balanced
//!   sample weights through the dataset's weights (`n / (k · n_c)`, ours).
//!   It predicts a class, not probabilities: AUC and Brier are those of
//!   one-hot votes.
//! - `GaussianNb`: its own class priors (no weights). Where it gives
//!   non-finite probabilities the set's row is left out, with the reason on
//!   stderr.
//!
//! cargo run --release --locked -p dxops-model --example linfa_models -- DATA.csv:FOLDS.txt ...

#[path = "support.rs"]
mod support;

use std::time::Instant;

use dxops_ml::metrics;
use dxops_ml::models::balanced_weights;
use dxops_ml::preprocess::{Matrix, Preprocessor};
use linfa::prelude::*;
use linfa_bayes::{GaussianNb, NaiveBayes};
use linfa_logistic::MultiLogisticRegression;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2};

fn array(m: &Matrix) -> Array2<f64> {
    Array2::from_shape_vec((m.rows, m.cols), m.data.clone()).expect("row-major matrix")
}

/// A linfa learner: fits on a training fold, returns the test rows'
/// probabilities over all `k` classes.
type Learner = fn(&Matrix, &[usize], &Matrix, usize) -> Result<Vec<Vec<f64>>, String>;

/// Spreads probabilities whose columns follow `labels` over all `k` classes.
fn spread(p: &Array2<f64>, labels: &[usize], k: usize) -> Vec<Vec<f64>> {
    p.rows()
        .into_iter()
        .map(|r| {
            let mut out = vec![0.0; k];
            for (v, &c) in r.iter().zip(labels) {
                out[c] = *v;
            }
            out
        })
        .collect()
}

fn logistic(x: &Matrix, y: &[usize], xt: &Matrix, k: usize) -> Result<Vec<Vec<f64>>, String> {
    let ds = Dataset::new(array(x), Array1::from(y.to_vec()));
    let m = MultiLogisticRegression::default()
        .alpha(1.0)
        .max_iterations(500)
        .fit(&ds)
        .map_err(|e| e.to_string())?;
    Ok(spread(&m.predict_probabilities(&array(xt)), m.classes(), k))
}

fn tree_fit(
    ds: &Dataset<f64, usize, ndarray::Ix1>,
    xt: &Matrix,
    k: usize,
) -> Result<Vec<Vec<f64>>, String> {
    let m = DecisionTree::params().fit(ds).map_err(|e| e.to_string())?;
    let predicted: Array1<usize> = m.predict(&array(xt));
    Ok(predicted
        .iter()
        .map(|&c| (0..k).map(|j| f64::from(u8::from(j == c))).collect())
        .collect())
}

fn tree(x: &Matrix, y: &[usize], xt: &Matrix, k: usize) -> Result<Vec<Vec<f64>>, String> {
    tree_fit(&Dataset::new(array(x), Array1::from(y.to_vec())), xt, k)
}

fn tree_balanced(x: &Matrix, y: &[usize], xt: &Matrix, k: usize) -> Result<Vec<Vec<f64>>, String> {
    let w: Array1<f32> = balanced_weights(y, k).iter().map(|&v| v as f32).collect();
    let ds = Dataset::new(array(x), Array1::from(y.to_vec())).with_weights(w);
    tree_fit(&ds, xt, k)
}

fn naive_bayes(x: &Matrix, y: &[usize], xt: &Matrix, k: usize) -> Result<Vec<Vec<f64>>, String> {
    let ds = Dataset::new(array(x), Array1::from(y.to_vec()));
    let m = GaussianNb::params().fit(&ds).map_err(|e| e.to_string())?;
    let (p, labels) = m.predict_proba(array(xt).view());
    let labels: Vec<usize> = labels.into_iter().copied().collect();
    // Constant columns within a class (one-hot categories) can leave it
    // with no finite likelihood; argmax over NaN would be class 0.
    let bad = p
        .rows()
        .into_iter()
        .filter(|r| r.iter().any(|v| !v.is_finite()))
        .count();
    if bad > 0 {
        return Err(format!(
            "non-finite probabilities on {bad} of {} test rows",
            p.nrows()
        ));
    }
    Ok(spread(&p, &labels, k))
}

const LEARNERS: [(&str, Learner); 4] = [
    ("linfa MultiLogisticRegression", logistic),
    ("linfa DecisionTree", tree),
    ("linfa DecisionTree balanced weights", tree_balanced),
    ("linfa GaussianNb", naive_bayes),
];

fn main() {
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for arg in std::env::args().skip(1) {
        let (data, ds, fold_of) = support::set_with_folds(&arg);
        let k = ds.classes.len();
        let n_folds = fold_of.iter().max().map_or(0, |m| m + 1);
        // Preprocessing is fitted per training fold, once, outside the timing.
        let splits: Vec<(Matrix, Vec<usize>, Matrix, Vec<usize>)> = (0..n_folds)
            .map(|f| {
                let tr: Vec<usize> = (0..ds.y.len()).filter(|&i| fold_of[i] != f).collect();
                let te: Vec<usize> = (0..ds.y.len()).filter(|&i| fold_of[i] == f).collect();
                let (dtr, dte) = (ds.subset(&tr), ds.subset(&te));
                let pre = Preprocessor::fit(&dtr.features, &dtr.rows);
                (
                    pre.transform(&dtr.rows).expect("training rows"),
                    dtr.y,
                    pre.transform(&dte.rows).expect("test rows"),
                    te,
                )
            })
            .collect();
        for (name, learner) in LEARNERS {
            let mut best = (f64::INFINITY, f64::INFINITY);
            let mut oof = vec![vec![0.0; k]; ds.y.len()];
            let mut failure = None;
            for _ in 0..repeats.max(1) {
                let (mut wall, mut cpu) = (0.0, 0.0);
                for (x, y, xt, te) in &splits {
                    let (w0, c0) = (Instant::now(), support::cpu_seconds());
                    let probs = learner(x, y, xt, k);
                    wall += w0.elapsed().as_secs_f64();
                    cpu += support::cpu_seconds() - c0;
                    match probs {
                        Ok(p) => {
                            for (&i, p) in te.iter().zip(p) {
                                oof[i] = p;
                            }
                        }
                        Err(e) => failure = Some(e),
                    }
                }
                best = (best.0.min(wall), best.1.min(cpu));
            }
            if let Some(e) = failure {
                eprintln!("{data} {name}: {e}");
                continue;
            }
            let m = metrics::compute(&ds.y, &oof, &ds.classes);
            let row = serde_json::json!({
                "data": data,
                "model": name,
                "accuracy": m.accuracy,
                "macro_f1": m.macro_f1,
                "balanced_accuracy": m.balanced_accuracy,
                "roc_auc": m.roc_auc,
                "worst_class_recall": m.worst_class_recall,
                "brier": m.calibration.brier,
                "fit_seconds": best.0,
                "cpu_seconds": best.1,
                "threads": 1,
            });
            println!("{row}");
        }
    }
}
