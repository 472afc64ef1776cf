//! Our metrics cross-checked against linfa's (`linfa::metrics`), on models
//! trained by the library's training step and asked about rows they did not
//! see, on a binary and a multi-class shipped set.
//!
//! What agrees: the confusion counts, accuracy, and each class's two rates;
//! the binary ROC AUC. What does not, and why our metrics stay ours:
//! - linfa 0.8.1's `precision()` is the share of a class's *actual* rows
//!   found (what the clinic, we and scikit-learn call recall), and its
//!   `recall()` the share of *predicted* rows that are right (precision):
//!   its matrix has predictions as rows, and the rates read it as targets.
//! - its multi-class `f1_score()` is the harmonic mean of macro precision and
//!   macro recall, not macro-F1 (the mean of each class's F1), which the
//!   gates and the reports use.
//!
//! When a linfa release changes either, this test says so.

use std::path::Path;

use dxops_contract::layout::{Layout, paths};
use dxops_ml::metrics;
use dxops_ml::wire::{InputFormat, Schema};
use linfa::prelude::*;
use ndarray::Array1;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Trains on the even rows of `file`; returns the odd rows' classes and
/// predicted probabilities, and the class names.
fn held_out(file: &str) -> (Vec<usize>, Vec<Vec<f64>>, Vec<String>) {
    let text = std::fs::read_to_string(Path::new(ROOT).join("tests/data").join(file)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let label = header.split(',').position(|h| h == "label").unwrap();
    let (mut train, mut test) = (format!("{header}\n"), Vec::new());
    for (i, l) in lines.enumerate() {
        if i % 2 == 0 {
            train.push_str(l);
            train.push('\n');
        } else {
            test.push(l.to_string());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    let channel = layout.channel(paths::TRAIN_CHANNEL);
    std::fs::create_dir_all(&channel).unwrap();
    std::fs::write(channel.join("train.csv"), train).unwrap();
    std::fs::create_dir_all(layout.hyperparameters().parent().unwrap()).unwrap();
    std::fs::write(layout.hyperparameters(), r#"{"label": "label"}"#).unwrap();
    let artifact = dxops_ml::steps::train(&layout).unwrap().artifact;
    let classes = artifact.classes().to_vec();
    let mut body = String::new();
    let mut y = Vec::new();
    for l in &test {
        let mut cells: Vec<&str> = l.split(',').collect();
        let class = cells.remove(label);
        y.push(classes.iter().position(|c| c == class).unwrap());
        body.push_str(&cells.join(","));
        body.push('\n');
    }
    let schema =
        Schema::new(artifact.feature_names(), artifact.feature_types()).with_max_rows(test.len());
    let rows = schema.parse(body.as_bytes(), InputFormat::Csv).unwrap();
    (y, artifact.predict_proba(&rows).unwrap(), classes)
}

fn close(a: f64, b: f32, what: &str) {
    assert!(
        (a - f64::from(b)).abs() < 1e-5,
        "{what}: ours {a}, linfa {b}"
    );
}

fn cross_check(file: &str) {
    let (y, proba, classes) = held_out(file);
    let ours = metrics::compute(&y, &proba, &classes);
    let predicted: Array1<usize> = proba.iter().map(|p| metrics::argmax(p)).collect();
    let truth: Array1<usize> = y.iter().copied().collect();
    let cm = predicted.confusion_matrix(&truth).unwrap();
    close(ours.accuracy, cm.accuracy(), "accuracy");

    // Per class, in linfa's order of the classes present (sorted; reversed
    // for two), each one-vs-all matrix is [[tp, fp], [fn, tn]].
    let mut present: Vec<usize> = (0..classes.len())
        .filter(|c| y.contains(c) || predicted.iter().any(|p| p == c))
        .collect();
    if present.len() == 2 {
        present.reverse();
    }
    let one_vs_all = cm.split_one_vs_all();
    assert_eq!(one_vs_all.len(), present.len());
    for (c, m) in present.iter().zip(&one_vs_all) {
        let ours = &ours.per_class[*c];
        if ours.support > 0 {
            close(
                ours.recall,
                m.precision(),
                &format!("{file} {} recall", ours.class),
            );
        }
        if predicted.iter().any(|p| p == c) {
            close(
                ours.precision,
                m.recall(),
                &format!("{file} {} precision", ours.class),
            );
        }
    }

    // macro-F1 is the mean of the classes' F1, not linfa's F1 of the means.
    let counted: Vec<_> = ours.per_class.iter().filter(|m| m.support > 0).collect();
    let mean_f1 = counted.iter().map(|m| m.f1).sum::<f64>() / counted.len() as f64;
    assert!((ours.macro_f1 - mean_f1).abs() < 1e-12);
    if classes.len() > 2 {
        let linfa_f1 = f64::from(cm.f1_score());
        assert!(
            (linfa_f1 - ours.macro_f1).abs() > 1e-4,
            "{file}: linfa's F1 {linfa_f1} now equals macro-F1 {}: revisit the module docs",
            ours.macro_f1
        );
    } else {
        let scores: Vec<Pr> = proba
            .iter()
            .map(|p| Pr::new((p[1] as f32).clamp(0.0, 1.0)))
            .collect();
        let positive: Vec<bool> = y.iter().map(|&c| c == 1).collect();
        let roc = scores.as_slice().roc(positive.as_slice()).unwrap();
        assert!(
            (ours.roc_auc - f64::from(roc.area_under_curve())).abs() < 1e-4,
            "ROC AUC: ours {}, linfa {}",
            ours.roc_auc,
            roc.area_under_curve()
        );
    }
}

#[test]
fn binary_metrics_agree_with_linfas_once_its_rates_are_read_the_right_way_round() {
    cross_check("breast_cancer_wdbc.csv");
}

#[test]
fn multi_class_metrics_agree_with_linfas_per_class_but_not_its_f1() {
    cross_check("heart_disease_uci.csv");
}
