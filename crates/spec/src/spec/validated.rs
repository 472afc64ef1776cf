//! The validated, typed result of a spec: one resolved spec per environment.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::model::Spec;
use super::names::Names;
use dxops_contract::hyperparameters::{HyperparameterError, Hyperparameters};

/// A validated spec, ready to render.
#[derive(Debug, Clone)]
pub struct ValidatedSpec {
    pub name: String,
    /// sha256 of the spec file's bytes, recorded in every manifest.
    pub spec_sha256: String,
    pub environments: BTreeMap<String, Environment>,
}

/// One environment: the base spec with its overrides applied, its names, and
/// the training step's hyperparameters (complete and canonical, as the
/// `dxops-model` image reads them).
#[derive(Debug, Clone)]
pub struct Environment {
    pub env: String,
    pub spec: Spec,
    pub names: Names,
    pub hyperparameters: BTreeMap<String, String>,
}

impl ValidatedSpec {
    pub fn new(
        name: String,
        text: &str,
        environments: BTreeMap<String, Environment>,
    ) -> ValidatedSpec {
        ValidatedSpec {
            name,
            spec_sha256: hex::encode(Sha256::digest(text.as_bytes())),
            environments,
        }
    }
}

impl Environment {
    pub fn new(env: &str, spec: Spec) -> Result<Environment, HyperparameterError> {
        Ok(Environment {
            env: env.to_string(),
            names: Names::new(&spec.name, env),
            hyperparameters: Hyperparameters::from_strings(&hyperparameter_strings(&spec))?
                .to_strings(),
            spec,
        })
    }
}

/// The spec's training settings as hyperparameter strings; keys the spec
/// leaves out take the image's defaults.
pub fn hyperparameter_strings(spec: &Spec) -> BTreeMap<String, String> {
    let t = &spec.training;
    let mut h = BTreeMap::from([
        ("label".to_string(), spec.data.label.clone()),
        (
            "features".into(),
            spec.data
                .features
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("algorithm".into(), t.algorithm.as_str().into()),
        ("imbalance".into(), t.imbalance.method.as_str().into()),
        (
            "smote_k_neighbors".into(),
            t.imbalance.k_neighbors.to_string(),
        ),
        ("focal_gamma".into(), t.imbalance.gamma.to_string()),
        ("folds".into(), t.validation.folds.to_string()),
        ("seed".into(), t.validation.seed.to_string()),
        (
            "rare_class_max_samples".into(),
            spec.data.rare_class_max_samples.to_string(),
        ),
    ]);
    // The decision rule is chosen to reach the recall gate (see `models::fit`).
    if let Some(g) = spec.gates.min_class_recall {
        h.insert("min_class_recall".into(), g.min.to_string());
    }
    h.extend(t.hyperparameters.clone());
    h
}
