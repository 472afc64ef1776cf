//! Preprocessing plus model, fitted together, and stratified k-fold
//! cross-validation with pooled out-of-fold predictions.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::data::{DataError, Dataset};
use super::metrics::{self, Metrics};
use super::models::{self, Model};
use super::preprocess::{PredictError, Preprocessor};
use dxops_contract::evaluation::OperatingPoint;
use dxops_contract::hyperparameters::Hyperparameters;

/// A fitted preprocessing + model pair, with what the inner folds chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub preprocessor: Preprocessor,
    pub model: Model,
    pub boosting_rounds: Option<usize>,
    pub operating_point: Option<OperatingPoint>,
}

/// Source of transfer learning: an earlier model's preprocessing and model.
pub type WarmStart<'a> = (&'a Preprocessor, &'a Model);

/// Assigns each row to one of `folds` folds, stratified by class and
/// shuffled with `seed`.
pub fn stratified_folds(y: &[usize], k: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; y.len()];
    let mut pos = 0usize;
    for c in 0..k {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == c).collect();
        idx.shuffle(&mut rng);
        for i in idx {
            fold_of[i] = pos % folds;
            pos += 1;
        }
    }
    fold_of
}

/// Fits preprocessing and model on `ds`. With a warm start the source's
/// preprocessing is reused so that the design matrices line up.
pub fn fit(
    ds: &Dataset,
    hp: &Hyperparameters,
    seed: u64,
    warm: Option<WarmStart<'_>>,
) -> Result<Fitted, PipelineError> {
    let preprocessor = match warm {
        Some((p, _)) => {
            if p.schema != ds.features {
                return Err(PipelineError::WarmStartSchema);
            }
            p.clone()
        }
        None => Preprocessor::fit(&ds.features, &ds.rows),
    };
    let x = preprocessor.transform(&ds.rows)?;
    let fit = models::fit(&x, &ds.y, ds.classes.len(), hp, seed, warm.map(|w| w.1));
    Ok(Fitted {
        preprocessor,
        model: fit.model,
        boosting_rounds: fit.boosting_rounds,
        operating_point: fit.operating_point,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error(
        "the warm-start model was trained on different feature columns or types than this data"
    )]
    WarmStartSchema,
    // Counts only: the class labels are diagnoses.
    #[error(
        "the warm-start model's {} classes differ from this data's {} classes",
        .source_classes.len(),
        .classes.len()
    )]
    WarmStartClasses {
        source_classes: Vec<String>,
        classes: Vec<String>,
    },
}

impl Fitted {
    pub fn predict_proba(&self, ds: &Dataset) -> Result<Vec<Vec<f64>>, PredictError> {
        let x = self.preprocessor.transform(&ds.rows)?;
        Ok(self.model.predict_proba(&x))
    }
}

/// Result of cross-validation.
#[derive(Debug, Clone)]
pub struct CvResult {
    pub metrics: Metrics,
    pub oof: Vec<Vec<f64>>,
    /// Outer fold of every row.
    pub fold_of: Vec<usize>,
    pub fit_seconds: f64,
}

/// Stratified k-fold cross-validation; metrics on the pooled out-of-fold
/// probabilities. Imbalance treatment (including SMOTE) happens inside each
/// training fold only.
pub fn cross_validate(
    ds: &Dataset,
    hp: &Hyperparameters,
    warm: Option<WarmStart<'_>>,
) -> Result<CvResult, PipelineError> {
    ds.require_per_class(hp.folds, "cross-validation")?;
    let start = std::time::Instant::now();
    let k = ds.classes.len();
    let fold_of = stratified_folds(&ds.y, k, hp.folds, hp.seed);
    let mut oof = vec![vec![0.0; k]; ds.y.len()];
    let results = super::parallel::map(
        hp.folds,
        |f| -> Result<(Vec<usize>, Vec<Vec<f64>>), PipelineError> {
            let train: Vec<usize> = (0..ds.y.len()).filter(|&i| fold_of[i] != f).collect();
            let test: Vec<usize> = (0..ds.y.len()).filter(|&i| fold_of[i] == f).collect();
            let fold_seed = hp
                .seed
                .wrapping_add((f as u64 + 1).wrapping_mul(0x9E37_79B9));
            let fitted = fit(&ds.subset(&train), hp, fold_seed, warm)?;
            let probs = fitted.predict_proba(&ds.subset(&test))?;
            Ok((test, probs))
        },
    );
    for r in results {
        let (test, probs) = r?;
        for (i, p) in test.iter().zip(probs) {
            oof[*i] = p;
        }
    }
    let fit_seconds = start.elapsed().as_secs_f64();
    let metrics = metrics::compute(&ds.y, &oof, &ds.classes);
    Ok(CvResult {
        metrics,
        oof,
        fold_of,
        fit_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_seeded() {
        let y: Vec<usize> = (0..100).map(|i| usize::from(i % 10 == 0)).collect();
        let f = stratified_folds(&y, 2, 5, 42);
        for fold in 0..5 {
            let pos = (0..100).filter(|&i| f[i] == fold && y[i] == 1).count();
            let all = (0..100).filter(|&i| f[i] == fold).count();
            assert_eq!(pos, 2);
            assert_eq!(all, 20);
        }
        assert_eq!(f, stratified_folds(&y, 2, 5, 42));
        assert_ne!(f, stratified_folds(&y, 2, 5, 43));
    }
}
