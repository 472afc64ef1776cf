//! Training and evaluation as library calls: cross-validated metrics, the
//! final fit on all training data, and the artifact with its baseline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::artifact::{Artifact, ArtifactBody, TrainingInfo, WarmStartChannel};
use super::baseline;
use super::data::Dataset;
use super::metrics::{self, Metrics, argmax};
use super::pipeline::{self, PipelineError};
pub use dxops_contract::evaluation::{Evaluation, EvaluationMetrics};
use dxops_contract::hyperparameters::Hyperparameters;

/// Rare-class recall with and without transfer learning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmStartReport {
    /// Class → cross-validated recall without the warm start.
    pub recall_without: BTreeMap<String, f64>,
    /// Class → cross-validated recall with the warm start.
    pub recall_with: BTreeMap<String, f64>,
    pub macro_f1_without: f64,
    pub macro_f1_with: f64,
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub artifact: Artifact,
    pub cv: Metrics,
    pub warm_start: Option<WarmStartReport>,
}

/// Classes with at most `max` samples in `counts`.
pub fn rare_classes(classes: &[String], counts: &[usize], max: u32) -> Vec<String> {
    classes
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n as u64 <= u64::from(max))
        .map(|(c, _)| c.clone())
        .collect()
}

fn recalls(m: &Metrics, classes: &[String]) -> BTreeMap<String, f64> {
    m.per_class
        .iter()
        .filter(|c| classes.contains(&c.class))
        .map(|c| (c.class.clone(), c.recall))
        .collect()
}

/// Cross-validates, fits the final model on all of `ds` and builds the artifact.
pub fn train(
    ds: &Dataset,
    hp: &Hyperparameters,
    warm: Option<&Artifact>,
) -> Result<TrainOutcome, PipelineError> {
    ds.require_per_class(hp.folds, "cross-validation")?;
    if let Some(w) = warm
        && w.classes() != ds.classes.as_slice()
    {
        return Err(PipelineError::WarmStartClasses {
            source_classes: w.classes().to_vec(),
            classes: ds.classes.clone(),
        });
    }
    let warm_pair = warm.map(|a| (a.preprocessor(), a.model()));
    let counts = ds.class_counts();
    let rare = rare_classes(&ds.classes, &counts, hp.rare_class_max_samples);
    let cv = pipeline::cross_validate(ds, hp, warm_pair)?;
    let warm_start = match warm_pair {
        Some(_) => {
            let cold = pipeline::cross_validate(ds, hp, None)?;
            let report_classes = if rare.is_empty() {
                ds.classes.clone()
            } else {
                rare.clone()
            };
            Some(WarmStartReport {
                recall_without: recalls(&cold.metrics, &report_classes),
                recall_with: recalls(&cv.metrics, &report_classes),
                macro_f1_without: cold.metrics.macro_f1,
                macro_f1_with: cv.metrics.macro_f1,
            })
        }
        None => None,
    };
    let fitted = pipeline::fit(ds, hp, hp.seed, warm_pair)?;
    let probs = fitted.predict_proba(ds)?;
    let predicted: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    let baseline = baseline::compute(&ds.features, &ds.rows, &predicted, &ds.classes);
    let body = ArtifactBody {
        label: ds.label.clone(),
        feature_names: ds.features.iter().map(|f| f.name.clone()).collect(),
        feature_types: ds.features.iter().map(|f| f.kind).collect(),
        classes: ds.classes.clone(),
        preprocessor: fitted.preprocessor,
        model: fitted.model,
        hyperparameters: hp.to_strings(),
        training: TrainingInfo {
            rows: ds.rows.len(),
            class_counts: ds
                .classes
                .iter()
                .cloned()
                .zip(counts.iter().copied())
                .collect(),
            data_sha256: ds.sha256.clone(),
            cv_metrics: cv.metrics.clone(),
            rare_classes: rare,
            warm_start_source: warm.map(|a| a.checksum().to_string()),
            warm_start_channel: warm.map(|_| WarmStartChannel::Model),
            boosting_rounds: fitted.boosting_rounds,
            operating_point: fitted.operating_point,
        },
        baseline,
    };
    Ok(TrainOutcome {
        artifact: Artifact::new(body),
        cv: cv.metrics,
        warm_start,
    })
}

pub fn evaluate(
    model: &Artifact,
    ds: &Dataset,
    production: Option<(&Artifact, &Dataset)>,
) -> Result<Evaluation, PipelineError> {
    let probs = model.predict_proba(&ds.rows)?;
    let m = metrics::compute(&ds.y, &probs, &ds.classes);
    let production_macro_f1 = match production {
        Some((p, pds)) => {
            let pp = p.predict_proba(&pds.rows)?;
            metrics::compute(&pds.y, &pp, &pds.classes).macro_f1
        }
        None => m.macro_f1,
    };
    let hp = Hyperparameters::from_strings(&model.body().hyperparameters).unwrap_or_default();
    Ok(Evaluation {
        metrics: EvaluationMetrics {
            accuracy: m.accuracy,
            macro_f1: m.macro_f1,
            balanced_accuracy: m.balanced_accuracy,
            roc_auc: m.roc_auc,
            worst_class_recall: m.worst_class_recall,
            worst_class: m.worst_class.clone(),
            production_macro_f1,
            macro_f1_drop: production_macro_f1 - m.macro_f1,
        },
        classes: ds.classes.clone(),
        per_class: m.per_class,
        confusion_matrix: m.confusion_matrix,
        rare_classes: model.body().training.rare_classes.clone(),
        rare_class_max_samples: hp.rare_class_max_samples,
        rows: ds.rows.len(),
        model_checksum: model.checksum().to_string(),
        production_model_checksum: production.map(|(p, _)| p.checksum().to_string()),
        calibration: m.calibration,
        operating_point: model.body().training.operating_point.clone(),
    })
}
