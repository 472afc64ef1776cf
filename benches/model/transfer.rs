//! Transfer learning measured: rare-class recall with and without a warm
//! start from a model trained on a related source, on the benchmark's outer
//! folds (read from the file `dxops-model cv --folds-out` wrote).
//!
//! In every outer fold the training rows are split per class in file order:
//! the earlier half of each class's rows is the source, the later half the
//! target (an earlier version of the same registry, then its newer rows;
//! the vendored files keep their source order, e.g. UCI heart disease by
//! site). Four fits, default hyperparameters, each fold's seed as
//! `dxops-model cv` gives it:
//! - `source only`: fitted on the source half;
//! - `target, cold`: fitted on the target half alone;
//! - `target, warm start`: fitted on the target half with the source model
//!   as warm start (`pipeline::fit` with the source's preprocessing and
//!   model, what the `train` step does with its `warm_start` channel);
//! - `all training rows`: fitted on both halves (what `cv` does; reported as
//!   the ceiling when the source data itself is at hand, and it must
//!   reproduce `cv`'s metrics).
//!
//! Every fit sees only its fold's training rows: the outer test fold is
//! never looked at. Metrics on pooled out-of-fold predictions. Rare classes
//! are those with at most `rare_class_max_samples` (50) rows in the whole
//! set, or the smallest class when none is. One JSON line per (set, fit).
//!
//! cargo run --release --locked -p dxops-model --example transfer -- DATA.csv:FOLDS.txt ...

#[path = "support.rs"]
mod support;

use dxops_contract::hyperparameters::Hyperparameters;
use dxops_ml::metrics;
use dxops_ml::pipeline;
use dxops_ml::train::rare_classes;

const ARMS: [&str; 4] = [
    "source only",
    "target, cold",
    "target, warm start",
    "all training rows",
];

fn main() {
    let hp = Hyperparameters::default();
    for arg in std::env::args().skip(1) {
        let (data, ds, fold_of) = support::set_with_folds(&arg);
        let k = ds.classes.len();
        let counts = ds.class_counts();
        let mut rare = rare_classes(&ds.classes, &counts, hp.rare_class_max_samples);
        if rare.is_empty() {
            let smallest = (0..k).min_by_key(|&c| counts[c]).expect("classes");
            rare.push(ds.classes[smallest].clone());
        }
        let n_folds = fold_of.iter().max().map_or(0, |m| m + 1);
        let mut oof = vec![vec![vec![0.0; k]; ds.y.len()]; ARMS.len()];
        let mut rows_fitted = [0usize; 4];
        for f in 0..n_folds {
            let train: Vec<usize> = (0..ds.y.len()).filter(|&i| fold_of[i] != f).collect();
            let test: Vec<usize> = (0..ds.y.len()).filter(|&i| fold_of[i] == f).collect();
            let (mut source, mut target) = (Vec::new(), Vec::new());
            for c in 0..k {
                let rows: Vec<usize> = train.iter().copied().filter(|&i| ds.y[i] == c).collect();
                let half = rows.len().div_ceil(2);
                source.extend_from_slice(&rows[..half]);
                target.extend_from_slice(&rows[half..]);
            }
            source.sort_unstable();
            target.sort_unstable();
            // The seed `cross_validate` gives this fold.
            let seed = hp
                .seed
                .wrapping_add((f as u64 + 1).wrapping_mul(0x9E37_79B9));
            let fit = |rows: &[usize], warm: Option<pipeline::WarmStart<'_>>| {
                pipeline::fit(&ds.subset(rows), &hp, seed, warm).expect("fit")
            };
            let src = fit(&source, None);
            let warm = fit(&target, Some((&src.preprocessor, &src.model)));
            let cold = fit(&target, None);
            let fits = [src, cold, warm, fit(&train, None)];
            let sizes = [source.len(), target.len(), target.len(), train.len()];
            let held_out = ds.subset(&test);
            for (arm, fitted) in fits.iter().enumerate() {
                let probs = fitted.predict_proba(&held_out).expect("predict");
                for (&i, p) in test.iter().zip(probs) {
                    oof[arm][i] = p;
                }
                rows_fitted[arm] += sizes[arm];
            }
        }
        for (arm, name) in ARMS.iter().enumerate() {
            let m = metrics::compute(&ds.y, &oof[arm], &ds.classes);
            let recall: serde_json::Map<String, serde_json::Value> = m
                .per_class
                .iter()
                .filter(|c| rare.contains(&c.class))
                .map(|c| (c.class.clone(), c.recall.into()))
                .collect();
            let mean = recall.values().filter_map(|v| v.as_f64()).sum::<f64>() / rare.len() as f64;
            let row = serde_json::json!({
                "data": data,
                "model": name,
                "rows": ds.y.len(),
                "mean_rows_fitted": rows_fitted[arm] as f64 / n_folds as f64,
                "rare_classes": rare,
                "rare_recall": recall,
                "rare_recall_mean": mean,
                "macro_f1": m.macro_f1,
                "worst_class_recall": m.worst_class_recall,
                "balanced_accuracy": m.balanced_accuracy,
                "accuracy": m.accuracy,
            });
            println!("{row}");
        }
    }
}
