//! Our models behind linfa's `Fit`/`FitWith`/`Predict` (`dxops_ml::linfa`):
//! a fit through the traits is the very model the training pipeline fits
//! (byte-identical probabilities), a warm start through `FitWith` is our
//! warm start, linfa's own folds and confusion matrix drive the models
//! unchanged, and what the interface cannot honour is refused with an error.

use std::path::Path;

use dxops_contract::hyperparameters::Hyperparameters;
use dxops_ml::data::{Dataset as DxDataset, Table};
use dxops_ml::linfa::{Classifier, LinfaError};
use dxops_ml::metrics;
use dxops_ml::models;
use dxops_ml::pipeline;
use dxops_ml::preprocess::{Matrix, Preprocessor};
use linfa::prelude::*;
use ndarray::{Array1, Array2};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn load(file: &str) -> DxDataset {
    let table = Table::read(&Path::new(ROOT).join("tests/data").join(file)).unwrap();
    DxDataset::from_table(&table, "label", &[]).unwrap()
}

fn array(m: &Matrix) -> Array2<f64> {
    Array2::from_shape_vec((m.rows, m.cols), m.data.clone()).unwrap()
}

fn bits(p: &[Vec<f64>]) -> Vec<u64> {
    p.iter().flatten().map(|v| v.to_bits()).collect()
}

/// Even rows train, odd rows test; the design matrices from preprocessing
/// fitted on the training rows, as the pipeline does.
fn split(ds: &DxDataset) -> (DxDataset, DxDataset, Matrix, Matrix) {
    let train: Vec<usize> = (0..ds.y.len()).step_by(2).collect();
    let test: Vec<usize> = (1..ds.y.len()).step_by(2).collect();
    let (tr, te) = (ds.subset(&train), ds.subset(&test));
    let pre = Preprocessor::fit(&tr.features, &tr.rows);
    let (xtr, xte) = (
        pre.transform(&tr.rows).unwrap(),
        pre.transform(&te.rows).unwrap(),
    );
    (tr, te, xtr, xte)
}

#[test]
fn fit_through_linfa_is_the_pipelines_model_byte_for_byte() {
    let ds = load("heart_disease_uci.csv");
    let (tr, _, xtr, xte) = split(&ds);
    let hp = Hyperparameters::default();
    let k = ds.classes.len();

    let data = Dataset::new(array(&xtr), Array1::from(tr.y.clone()));
    let fitted = Classifier::new(hp.clone()).n_classes(k).fit(&data).unwrap();
    // The training pipeline's own fit of the same rows.
    let direct = pipeline::fit(&tr, &hp, hp.seed, None).unwrap();
    assert_eq!(fitted.model(), &direct.model);

    let ours = direct.model.predict_proba(&xte);
    let theirs = fitted.predict_probabilities(&array(&xte)).unwrap();
    let theirs: Vec<Vec<f64>> = theirs.rows().into_iter().map(|r| r.to_vec()).collect();
    assert_eq!(bits(&ours), bits(&theirs));

    let predicted: Array1<usize> = fitted.predict(&array(&xte));
    let expected: Vec<usize> = ours.iter().map(|p| metrics::argmax(p)).collect();
    assert_eq!(predicted.to_vec(), expected);
    // A fit that predicts one class everywhere would pass the above for a
    // broken delegation too; this one does not.
    assert!(expected.iter().any(|&c| c != expected[0]));
}

#[test]
fn fit_with_a_source_is_our_warm_start() {
    let ds = load("horse_colic.csv");
    let (tr, _, xtr, xte) = split(&ds);
    let hp = Hyperparameters::default();
    let k = ds.classes.len();
    let half = xtr.rows / 2;
    let (src_rows, tgt_rows): (Vec<usize>, Vec<usize>) = (0..xtr.rows).partition(|&i| i < half);
    let pick = |rows: &[usize]| {
        (
            xtr.select_rows(rows),
            rows.iter().map(|&i| tr.y[i]).collect::<Vec<_>>(),
        )
    };
    let ((xs, ys), (xt, yt)) = (pick(&src_rows), pick(&tgt_rows));
    let params = Classifier::new(hp.clone()).n_classes(k);
    let source = params
        .fit(&Dataset::new(array(&xs), Array1::from(ys)))
        .unwrap();
    let target = Dataset::new(array(&xt), Array1::from(yt.clone()));
    let warm = params.fit_with(Some(&source), &target).unwrap();
    let cold = params.fit_with(None, &target).unwrap();

    let direct = models::fit(&xt, &yt, k, &hp, hp.seed, Some(source.model()));
    assert_eq!(warm.model(), &direct.model);
    assert_eq!(
        cold.model(),
        &models::fit(&xt, &yt, k, &hp, hp.seed, None).model
    );
    // The source must actually reach the fit.
    assert_ne!(
        bits(&warm.model().predict_proba(&xte)),
        bits(&cold.model().predict_proba(&xte))
    );

    // A source of another shape is refused, not silently dropped.
    let narrow = Dataset::new(
        array(&xs).slice(ndarray::s![.., 1..]).to_owned(),
        Array1::from(target.targets().slice(ndarray::s![..xs.rows]).to_vec()),
    );
    match params.fit_with(Some(&source), &narrow) {
        Err(LinfaError::WarmStartShape { .. }) => {}
        other => panic!("expected WarmStartShape, got {other:?}"),
    }
}

#[test]
fn linfa_folds_and_confusion_matrix_drive_our_models() {
    let ds = load("breast_cancer_wdbc.csv");
    let x = Preprocessor::fit(&ds.features, &ds.rows)
        .transform(&ds.rows)
        .unwrap();
    // linfa's folds are contiguous chunks; the vendored rows are in source
    // order, so the rows go in the order of our stratified folds first and
    // linfa's chunks come out stratified too.
    let order: Vec<usize> = {
        let fold_of = pipeline::stratified_folds(&ds.y, ds.classes.len(), 4, 7);
        let mut o: Vec<usize> = (0..ds.y.len()).collect();
        o.sort_by_key(|&i| (fold_of[i], i));
        o
    };
    let records = array(&x.select_rows(&order));
    let targets: Array1<usize> = order.iter().map(|&i| ds.y[i]).collect();
    let data = Dataset::new(records, targets);
    let params = Classifier::new(Hyperparameters::default());
    let folds = data.fold(4);
    assert_eq!(folds.len(), 4);
    for (train, valid) in folds {
        assert_eq!(train.nsamples() + valid.nsamples(), ds.y.len());
        let model = params.fit(&train).unwrap();
        let predicted: Array1<usize> = model.predict(&valid);
        let cm = predicted.confusion_matrix(&valid).unwrap();
        let probs = model.predict_probabilities(valid.records()).unwrap();
        let probs: Vec<Vec<f64>> = probs.rows().into_iter().map(|r| r.to_vec()).collect();
        let ours = metrics::compute(&valid.targets().to_vec(), &probs, &ds.classes);
        assert!((f64::from(cm.accuracy()) - ours.accuracy).abs() < 1e-6);
        // A model that learned nothing would be near 0.63 here.
        assert!(ours.accuracy > 0.9, "fold accuracy {}", ours.accuracy);
    }
}

#[test]
fn what_the_interface_cannot_honour_is_an_error() {
    let x = Array2::from_shape_fn((40, 2), |(i, j)| (i * (j + 1)) as f64);
    let y: Array1<usize> = (0..40).map(|i| i % 2).collect();
    let hp = Hyperparameters {
        algorithm: dxops_contract::data::Algorithm::LogisticRegression,
        ..Hyperparameters::default()
    };
    let params = Classifier::new(hp);

    let weighted = Dataset::new(x.clone(), y.clone()).with_weights(Array1::from_elem(40, 1.0f32));
    assert!(matches!(
        params.fit(&weighted),
        Err(LinfaError::SampleWeights)
    ));

    let mut bad = x.clone();
    bad[(3, 1)] = f64::NAN;
    assert!(matches!(
        params.fit(&Dataset::new(bad, y.clone())),
        Err(LinfaError::NonFinite { row: 3, column: 1 })
    ));

    assert!(matches!(
        params
            .clone()
            .n_classes(3)
            .fit(&Dataset::new(x.clone(), y.clone())),
        Err(LinfaError::EmptyClass { class: 2 })
    ));

    let mut out_of_range = y.clone();
    out_of_range[5] = 4;
    assert!(matches!(
        params
            .clone()
            .n_classes(2)
            .fit(&Dataset::new(x.clone(), out_of_range)),
        Err(LinfaError::ClassOutOfRange {
            row: 5,
            class: 4,
            ..
        })
    ));

    let model = params.fit(&Dataset::new(x.clone(), y)).unwrap();
    assert!(matches!(
        model.predict_probabilities(&Array2::<f64>::zeros((2, 3))),
        Err(LinfaError::Width {
            expected: 2,
            got: 3
        })
    ));
}
