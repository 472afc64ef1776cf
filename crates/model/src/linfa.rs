//! Our models behind linfa's traits, so that linfa's tooling (datasets,
//! folds, confusion matrices, anything written against `Fit`/`Predict`)
//! drives them unchanged.
//!
//! [`Classifier`] holds the hyperparameters and implements
//! `linfa::traits::Fit` on a `DatasetBase` of a design matrix (`f64`, rows
//! as our [`Preprocessor`](crate::preprocess::Preprocessor) writes them)
//! and class indices (`usize`), and `FitWith` for a warm start from an
//! earlier fit. The fitted [`FittedClassifier`] implements `PredictInplace`,
//! so linfa's blanket impls give it `Predict` (class indices, the argmax
//! the pipeline takes), plus [`FittedClassifier::predict_probabilities`].
//! Both delegate to [`models::fit`] and [`Model::predict_proba`]: there is
//! no second implementation, and a fit through the traits is byte-identical
//! to the direct call (`tests/linfa_traits.rs`).
//!
//! Sample weights: a dataset that carries weights is refused
//! ([`LinfaError::SampleWeights`]) rather than silently ignored. Our fit
//! computes its weights inside from `imbalance`: balanced weights per
//! training fold and again per inner fold of the decision rule (a fold's
//! balanced weights are not the whole set's restricted to it), none for
//! SMOTE's enlarged set, and the focal objective on top for boosting. A
//! weight vector fixed on the outer rows cannot follow those refits.
//!
//! Why the learners themselves stay ours rather than linfa's, measured on
//! the benchmark's folds (`benches/model/linfa_models.rs`, README
//! "### linfa"): no linfa learner reaches our default's macro-F1 and
//! worst-class recall together on any shipped set but WDBC, where its
//! logistic regression ties our own `logistic_regression`.
//! - Sample weights: linfa 0.8.1's multinomial logistic regression takes
//!   none. Its objective is ours, and our logistic regression without
//!   weights scores exactly what it does on six of seven sets (worst-class
//!   recall 0.000 on heart disease and pneumonia, 0.016 on WCGS); the class
//!   weights lift those to 0.202, 0.586 and 0.669.
//! - Probability leaves: its decision tree predicts classes only, which the
//!   ensemble's averaging and decision rule cannot use (one-hot votes: AUC
//!   0.52-0.92, macro-F1 0.746 on soybean against our 0.967).
//! - Warm start and focal loss: no linfa learner continues from a source
//!   model or takes a focal objective; the warm start raises rare-class
//!   recall on all four multi-class sets (`benches/model/transfer.rs`).

use ::linfa::dataset::{AsSingleTargets, DatasetBase};
use ::linfa::traits::{Fit, FitWith, PredictInplace};
use ndarray::{Array1, Array2, ArrayBase, Data, Ix2};

use crate::metrics::argmax;
use crate::models::{self, Model};
use crate::preprocess::Matrix;
use dxops_contract::hyperparameters::Hyperparameters;

/// Why a fit or prediction through the linfa interface was refused.
#[derive(Debug, thiserror::Error)]
pub enum LinfaError {
    #[error(transparent)]
    Linfa(#[from] ::linfa::error::Error),
    #[error(
        "the dataset carries sample weights; dxops models weight samples themselves from the `imbalance` hyperparameter"
    )]
    SampleWeights,
    #[error("non-finite value at row {row}, column {column} of the design matrix")]
    NonFinite { row: usize, column: usize },
    #[error("row {row} has class index {class}, but there are {classes} classes")]
    ClassOutOfRange {
        row: usize,
        class: usize,
        classes: usize,
    },
    #[error("class index {class} has no training rows")]
    EmptyClass { class: usize },
    #[error("at least two classes are needed, the dataset has {classes}")]
    TooFewClasses { classes: usize },
    #[error("the design matrix has {got} columns, the model expects {expected}")]
    Width { expected: usize, got: usize },
    #[error(
        "the warm-start model has {source_features} columns and {source_classes} classes, this data {features} and {classes}"
    )]
    WarmStartShape {
        source_features: usize,
        source_classes: usize,
        features: usize,
        classes: usize,
    },
}

/// Hyperparameters of a dxops model, as linfa's fit parameters (the seed
/// of the fit is `hp.seed`).
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    hp: Hyperparameters,
    n_classes: Option<usize>,
}

impl Classifier {
    /// Parameters from validated hyperparameters.
    pub fn new(hp: Hyperparameters) -> Classifier {
        Classifier {
            hp,
            n_classes: None,
        }
    }

    /// Number of classes; without it, one more than the largest index in
    /// the targets.
    pub fn n_classes(mut self, k: usize) -> Classifier {
        self.n_classes = Some(k);
        self
    }

    fn fit_from<D: Data<Elem = f64>, T: AsSingleTargets<Elem = usize>>(
        &self,
        ds: &DatasetBase<ArrayBase<D, Ix2>, T>,
        warm: Option<&FittedClassifier>,
    ) -> Result<FittedClassifier, LinfaError> {
        if ds.weights().is_some() {
            return Err(LinfaError::SampleWeights);
        }
        let targets = ds.as_single_targets();
        let x = to_matrix(&ds.records, None)?;
        if x.rows == 0 {
            return Err(::linfa::error::Error::NotEnoughSamples.into());
        }
        if targets.len() != x.rows {
            return Err(::linfa::error::Error::MismatchedShapes(x.rows, targets.len()).into());
        }
        let y: Vec<usize> = targets.iter().copied().collect();
        let k = self
            .n_classes
            .unwrap_or_else(|| y.iter().max().map_or(0, |m| m + 1));
        if k < 2 {
            return Err(LinfaError::TooFewClasses { classes: k });
        }
        let mut counts = vec![0usize; k];
        for (row, &c) in y.iter().enumerate() {
            match counts.get_mut(c) {
                Some(n) => *n += 1,
                None => {
                    return Err(LinfaError::ClassOutOfRange {
                        row,
                        class: c,
                        classes: k,
                    });
                }
            }
        }
        if let Some(class) = counts.iter().position(|&n| n == 0) {
            return Err(LinfaError::EmptyClass { class });
        }
        let warm = warm.map(FittedClassifier::model);
        // `models::fit` quietly fits from scratch on a mismatched source;
        // through this interface that is the caller's mistake, so say so.
        if let Some(m) = warm
            && (m.n_features() != x.cols || m.n_classes() != k)
        {
            return Err(LinfaError::WarmStartShape {
                source_features: m.n_features(),
                source_classes: m.n_classes(),
                features: x.cols,
                classes: k,
            });
        }
        Ok(FittedClassifier {
            fit: models::fit(&x, &y, k, &self.hp, self.hp.seed, warm),
        })
    }
}

impl<D: Data<Elem = f64>, T: AsSingleTargets<Elem = usize>> Fit<ArrayBase<D, Ix2>, T, LinfaError>
    for Classifier
{
    type Object = FittedClassifier;

    fn fit(
        &self,
        dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<FittedClassifier, LinfaError> {
        self.fit_from(dataset, None)
    }
}

/// Transfer learning: `fit_with(Some(&source), ..)` is our warm start
/// (boosting continues from the source's trees, logistic regression is
/// pulled toward its weights, the forest is refitted); `None` is a plain
/// fit.
impl<'a, D, T> FitWith<'a, ArrayBase<D, Ix2>, T, LinfaError> for Classifier
where
    D: Data<Elem = f64> + 'a,
    T: AsSingleTargets<Elem = usize> + 'a,
{
    type ObjectIn = Option<&'a FittedClassifier>;
    type ObjectOut = FittedClassifier;

    fn fit_with(
        &self,
        source: Option<&'a FittedClassifier>,
        dataset: &'a DatasetBase<ArrayBase<D, Ix2>, T>,
    ) -> Result<FittedClassifier, LinfaError> {
        self.fit_from(dataset, source)
    }
}

/// A fitted dxops model with what its inner folds chose.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedClassifier {
    fit: models::Fit,
}

impl FittedClassifier {
    pub fn model(&self) -> &Model {
        &self.fit.model
    }

    pub fn n_classes(&self) -> usize {
        self.fit.model.n_classes()
    }

    /// Class probabilities, one row per record and one column per class.
    pub fn predict_probabilities<D: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<D, Ix2>,
    ) -> Result<Array2<f64>, LinfaError> {
        let m = to_matrix(x, Some(self.fit.model.n_features()))?;
        let k = self.n_classes();
        let probs = self.fit.model.predict_proba(&m);
        Ok(Array2::from_shape_vec((m.rows, k), probs.concat())
            .map_err(::linfa::error::Error::from)?)
    }
}

/// Panics (as linfa's own models do on a wrong shape) when `x` has another
/// width than the model or a non-finite value; use
/// [`FittedClassifier::predict_probabilities`] for an error instead.
impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for FittedClassifier {
    fn predict_inplace<'a>(&'a self, x: &'a ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        assert_eq!(
            x.nrows(),
            y.len(),
            "one target per row of the design matrix"
        );
        let probs = self
            .predict_probabilities(x)
            .unwrap_or_else(|e| panic!("{e}"));
        for (t, p) in y.iter_mut().zip(probs.rows()) {
            // Rows of a standard-layout array are contiguous.
            *t = argmax(p.as_slice().expect("standard layout"));
        }
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}

/// Copies `x` into our row-major matrix, checking width and finiteness.
fn to_matrix<D: Data<Elem = f64>>(
    x: &ArrayBase<D, Ix2>,
    width: Option<usize>,
) -> Result<Matrix, LinfaError> {
    if let Some(expected) = width
        && x.ncols() != expected
    {
        return Err(LinfaError::Width {
            expected,
            got: x.ncols(),
        });
    }
    let mut data = Vec::with_capacity(x.len());
    for (row, r) in x.rows().into_iter().enumerate() {
        for (column, &v) in r.iter().enumerate() {
            if !v.is_finite() {
                return Err(LinfaError::NonFinite { row, column });
            }
            data.push(v);
        }
    }
    Ok(Matrix {
        data,
        rows: x.nrows(),
        cols: x.ncols(),
    })
}
