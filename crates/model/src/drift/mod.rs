//! Per-feature data drift of a window of rows against the artifact's
//! training baseline, and the share of drifted features.
//!
//! Method selection follows Evidently's defaults: when the reference has at
//! most 1,000 rows, Kolmogorov-Smirnov for numeric and chi-squared for
//! categorical features (p-value threshold 0.05, drift when p < threshold);
//! above that, Wasserstein distance normalised by the reference standard
//! deviation for numeric and Jensen-Shannon distance for categorical
//! features (threshold 0.1, drift when the distance ≥ threshold). PSI,
//! chi-squared and Jensen-Shannon use the baseline's decile bins for numeric
//! features (values outside the training range count in the outer bins).
//! Boolean features are tested as categories `0`/`1`. A numeric-only method
//! (KS, Wasserstein) asked for a categorical feature falls back to that
//! feature kind's equivalent (chi-squared, Jensen-Shannon).

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

pub use dxops_contract::drift::{DriftMethod, UnknownDriftMethod};

pub mod stats;

use crate::baseline::{Baseline, FeatureBaseline};
use crate::data::RawValue;
use dxops_contract::data::FeatureType;

/// Reference size up to which the statistical tests (KS, chi-squared) are the default.
pub const SMALL_REFERENCE_ROWS: usize = 1000;
/// Default share of drifted features above which the data set counts as drifted.
pub const DEFAULT_DRIFT_SHARE: f64 = 0.5;

pub const ENV_METHOD: &str = "DXOPS_DRIFT_METHOD";
pub const ENV_THRESHOLD: &str = "DXOPS_DRIFT_THRESHOLD";

#[derive(Debug, Error, PartialEq)]
pub enum DriftError {
    #[error(transparent)]
    UnknownMethod(#[from] UnknownDriftMethod),
    #[error("drift threshold `{0}` is not a positive finite number")]
    BadThreshold(String),
    #[error("row {row} has {got} values, the baseline has {expected} features")]
    WrongWidth {
        row: usize,
        got: usize,
        expected: usize,
    },
}

/// Drift method and threshold; `threshold: None` means each method's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftConfig {
    pub method: DriftMethod,
    pub threshold: Option<f64>,
    /// Data-set drift when the share of drifted features exceeds this.
    pub drift_share: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            method: DriftMethod::Auto,
            threshold: None,
            drift_share: DEFAULT_DRIFT_SHARE,
        }
    }
}

impl DriftConfig {
    /// From method and threshold strings (empty or absent = default).
    pub fn parse(method: Option<&str>, threshold: Option<&str>) -> Result<DriftConfig, DriftError> {
        let method = match method {
            Some(m) => m.parse()?,
            None => DriftMethod::Auto,
        };
        let threshold = match threshold.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => match t.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Some(v),
                _ => return Err(DriftError::BadThreshold(t.to_string())),
            },
            None => None,
        };
        Ok(DriftConfig {
            method,
            threshold,
            drift_share: DEFAULT_DRIFT_SHARE,
        })
    }

    /// From `DXOPS_DRIFT_METHOD` and `DXOPS_DRIFT_THRESHOLD`.
    pub fn from_env() -> Result<DriftConfig, DriftError> {
        let m = std::env::var(ENV_METHOD).ok();
        let t = std::env::var(ENV_THRESHOLD).ok();
        DriftConfig::parse(m.as_deref(), t.as_deref())
    }
}

/// Drift result of one feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub feature: String,
    pub kind: FeatureType,
    /// Method actually used for this feature.
    pub method: DriftMethod,
    /// p-value (KS, chi-squared) or distance (PSI, Jensen-Shannon, Wasserstein).
    pub score: f64,
    pub threshold: f64,
    pub drifted: bool,
    /// Present (non-missing) values of the feature in the window.
    pub rows: usize,
}

/// Drift of a window of rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub rows: usize,
    pub reference_rows: usize,
    pub features: Vec<FeatureDrift>,
    /// Features tested (those with at least one present value).
    pub tested_features: usize,
    pub drifted_features: usize,
    /// `drifted_features / tested_features` (0 when none tested).
    pub drift_share: f64,
    pub drift_share_threshold: f64,
    /// `drift_share > drift_share_threshold`.
    pub dataset_drift: bool,
}

fn resolve(method: DriftMethod, categorical: bool, reference_rows: usize) -> DriftMethod {
    let small = reference_rows <= SMALL_REFERENCE_ROWS;
    match (method, categorical) {
        (DriftMethod::Auto, false) => {
            if small {
                DriftMethod::Ks
            } else {
                DriftMethod::Wasserstein
            }
        }
        (DriftMethod::Auto, true) => {
            if small {
                DriftMethod::ChiSquared
            } else {
                DriftMethod::JensenShannon
            }
        }
        (DriftMethod::Ks, true) => DriftMethod::ChiSquared,
        (DriftMethod::Wasserstein, true) => DriftMethod::JensenShannon,
        (m, _) => m,
    }
}

fn category_key(v: &RawValue) -> Option<String> {
    match v {
        RawValue::Missing => None,
        RawValue::Text(s) => Some(s.clone()),
        RawValue::Number(x) => Some(crate::preprocess::format_number(*x)),
    }
}

/// Reference category shares: stored for categorical features, derived
/// from the reference sample for boolean ones.
fn reference_categories(f: &FeatureBaseline) -> BTreeMap<String, f64> {
    if let Some(c) = &f.categories {
        return c.clone();
    }
    let mut out = BTreeMap::new();
    if let Some(n) = &f.numeric {
        let len = n.reference_sample.len().max(1) as f64;
        for &v in &n.reference_sample {
            *out.entry(crate::preprocess::format_number(v))
                .or_insert(0.0) += 1.0 / len;
        }
    }
    out
}

fn categorical_drift(f: &FeatureBaseline, values: &[String], method: DriftMethod) -> f64 {
    let reference = reference_categories(f);
    let mut current: BTreeMap<&str, f64> = BTreeMap::new();
    for v in values {
        *current.entry(v.as_str()).or_default() += 1.0;
    }
    let keys: Vec<&str> = reference
        .keys()
        .map(String::as_str)
        .chain(current.keys().copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let n = values.len() as f64;
    let ref_share: Vec<f64> = keys
        .iter()
        .map(|k| reference.get(*k).copied().unwrap_or(0.0))
        .collect();
    let cur_count: Vec<f64> = keys
        .iter()
        .map(|k| current.get(k).copied().unwrap_or(0.0))
        .collect();
    let cur_share: Vec<f64> = cur_count.iter().map(|c| c / n).collect();
    match method {
        DriftMethod::ChiSquared => {
            let expected: Vec<f64> = ref_share.iter().map(|s| s * n).collect();
            stats::chi_squared_test(&cur_count, &expected).1
        }
        DriftMethod::Psi => stats::psi(&ref_share, &cur_share),
        _ => stats::jensen_shannon(&ref_share, &cur_share),
    }
}

fn numeric_drift(f: &FeatureBaseline, values: &mut [f64], method: DriftMethod) -> f64 {
    let Some(n) = &f.numeric else {
        return match method {
            DriftMethod::Ks | DriftMethod::ChiSquared => 1.0,
            _ => 0.0,
        };
    };
    values.sort_by(f64::total_cmp);
    let reference = &n.reference_sample;
    match method {
        DriftMethod::Ks => stats::ks_test(reference, values).1,
        DriftMethod::Wasserstein => stats::wasserstein(reference, values) / n.std.max(1e-3),
        DriftMethod::Psi => stats::psi(&n.bin_fractions, &stats::bin_shares(values, &n.bin_edges)),
        DriftMethod::ChiSquared => {
            let m = values.len() as f64;
            let observed: Vec<f64> = stats::bin_shares(values, &n.bin_edges)
                .iter()
                .map(|s| s * m)
                .collect();
            let expected: Vec<f64> = n.bin_fractions.iter().map(|s| s * m).collect();
            stats::chi_squared_test(&observed, &expected).1
        }
        DriftMethod::JensenShannon | DriftMethod::Auto => {
            stats::jensen_shannon(&n.bin_fractions, &stats::bin_shares(values, &n.bin_edges))
        }
    }
}

/// Drift of `rows` (in the baseline's feature order) against `baseline`.
pub fn compute(
    baseline: &Baseline,
    rows: &[Vec<RawValue>],
    config: &DriftConfig,
) -> Result<DriftReport, DriftError> {
    let width = baseline.features.len();
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != width) {
        return Err(DriftError::WrongWidth {
            row: i + 1,
            got: r.len(),
            expected: width,
        });
    }
    let mut features = Vec::with_capacity(width);
    for (j, f) in baseline.features.iter().enumerate() {
        let categorical = f.kind != FeatureType::Numeric;
        let method = resolve(config.method, categorical, baseline.rows);
        let threshold = config
            .threshold
            .unwrap_or_else(|| method.default_threshold());
        let (score, present) = if categorical {
            let values: Vec<String> = rows.iter().filter_map(|r| category_key(&r[j])).collect();
            let n = values.len();
            (
                if n == 0 {
                    f64::NAN
                } else {
                    categorical_drift(f, &values, method)
                },
                n,
            )
        } else {
            let mut values: Vec<f64> = rows
                .iter()
                .filter_map(|r| match &r[j] {
                    RawValue::Number(x) if x.is_finite() => Some(*x),
                    RawValue::Text(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
                    _ => None,
                })
                .collect();
            let n = values.len();
            (
                if n == 0 {
                    f64::NAN
                } else {
                    numeric_drift(f, &mut values, method)
                },
                n,
            )
        };
        let drifted = present > 0
            && if method.is_p_value() {
                score < threshold
            } else {
                score >= threshold
            };
        features.push(FeatureDrift {
            feature: f.name.clone(),
            kind: f.kind,
            method,
            score,
            threshold,
            drifted,
            rows: present,
        });
    }
    let tested = features.iter().filter(|f| f.rows > 0).count();
    let drifted = features.iter().filter(|f| f.drifted).count();
    let share = if tested > 0 {
        drifted as f64 / tested as f64
    } else {
        0.0
    };
    Ok(DriftReport {
        rows: rows.len(),
        reference_rows: baseline.rows,
        features,
        tested_features: tested,
        drifted_features: drifted,
        drift_share: share,
        drift_share_threshold: config.drift_share,
        dataset_drift: share > config.drift_share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::numeric_baseline;

    /// Deterministic pseudo-normal values (sum of uniforms from an LCG).
    fn normal_sample(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                let mut acc = 0.0;
                for _ in 0..12 {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    acc += (s >> 11) as f64 / (1u64 << 53) as f64;
                }
                mean + sd * (acc - 6.0)
            })
            .collect()
    }

    fn baseline(reference_rows: usize) -> Baseline {
        let mut x = normal_sample(reference_rows, 10.0, 2.0, 1);
        let cats = ["a", "b", "c"];
        let mut categories = BTreeMap::new();
        for (c, s) in cats.iter().zip([0.5, 0.3, 0.2]) {
            categories.insert(c.to_string(), s);
        }
        Baseline {
            rows: reference_rows,
            features: vec![
                FeatureBaseline {
                    name: "x".into(),
                    kind: FeatureType::Numeric,
                    missing_fraction: 0.0,
                    numeric: numeric_baseline(&mut x),
                    categories: None,
                },
                FeatureBaseline {
                    name: "c".into(),
                    kind: FeatureType::Categorical,
                    missing_fraction: 0.0,
                    numeric: None,
                    categories: Some(categories),
                },
            ],
            predicted_class_distribution: BTreeMap::new(),
        }
    }

    fn rows(n: usize, mean: f64, shares: [f64; 3], seed: u64) -> Vec<Vec<RawValue>> {
        let xs = normal_sample(n, mean, 2.0, seed);
        xs.into_iter()
            .enumerate()
            .map(|(i, x)| {
                let u = (i as f64 + 0.5) / n as f64;
                let c = if u < shares[0] {
                    "a"
                } else if u < shares[0] + shares[1] {
                    "b"
                } else {
                    "c"
                };
                vec![RawValue::Number(x), RawValue::Text(c.into())]
            })
            .collect()
    }

    #[test]
    fn method_and_threshold_parsing() {
        assert_eq!(
            DriftConfig::parse(None, None).unwrap(),
            DriftConfig::default()
        );
        let c = DriftConfig::parse(Some("Jensen-Shannon"), Some("0.2")).unwrap();
        assert_eq!(
            (c.method, c.threshold),
            (DriftMethod::JensenShannon, Some(0.2))
        );
        assert!(matches!(
            DriftConfig::parse(Some("magic"), None),
            Err(DriftError::UnknownMethod(_))
        ));
        assert!(matches!(
            DriftConfig::parse(None, Some("-1")),
            Err(DriftError::BadThreshold(_))
        ));
        assert!(matches!(
            DriftConfig::parse(None, Some("nan")),
            Err(DriftError::BadThreshold(_))
        ));
    }

    #[test]
    fn auto_picks_evidently_defaults() {
        let same = rows(400, 10.0, [0.5, 0.3, 0.2], 7);
        let small = compute(&baseline(800), &same, &DriftConfig::default()).unwrap();
        assert_eq!(small.features[0].method, DriftMethod::Ks);
        assert_eq!(small.features[1].method, DriftMethod::ChiSquared);
        assert_eq!(small.features[0].threshold, 0.05);
        let large = compute(&baseline(5000), &same, &DriftConfig::default()).unwrap();
        assert_eq!(large.features[0].method, DriftMethod::Wasserstein);
        assert_eq!(large.features[1].method, DriftMethod::JensenShannon);
        assert_eq!(large.features[1].threshold, 0.1);
    }

    #[test]
    fn every_method_separates_shift_from_fresh_sample() {
        for method in [
            DriftMethod::Auto,
            DriftMethod::Psi,
            DriftMethod::Ks,
            DriftMethod::ChiSquared,
            DriftMethod::JensenShannon,
            DriftMethod::Wasserstein,
        ] {
            for reference_rows in [800, 5000] {
                let b = baseline(reference_rows);
                let cfg = DriftConfig {
                    method,
                    ..DriftConfig::default()
                };
                let fresh = compute(&b, &rows(500, 10.0, [0.5, 0.3, 0.2], 99), &cfg).unwrap();
                assert_eq!(
                    fresh.drifted_features, 0,
                    "{method} {reference_rows}: {fresh:?}"
                );
                assert!(!fresh.dataset_drift);
                let shifted = compute(&b, &rows(500, 12.0, [0.1, 0.3, 0.6], 99), &cfg).unwrap();
                assert_eq!(
                    shifted.drifted_features, 2,
                    "{method} {reference_rows}: {shifted:?}"
                );
                assert_eq!(shifted.drift_share, 1.0);
                assert!(shifted.dataset_drift);
            }
        }
    }

    #[test]
    fn unseen_category_and_missing_values() {
        let b = baseline(800);
        let mut r = rows(200, 10.0, [0.5, 0.3, 0.2], 3);
        for row in r.iter_mut().take(20) {
            row[1] = RawValue::Text("zzz".into());
            row[0] = RawValue::Missing;
        }
        let d = compute(&b, &r, &DriftConfig::default()).unwrap();
        assert_eq!(d.features[0].rows, 180);
        assert!(d.features[1].drifted);
        assert_eq!(d.features[1].score, 0.0);
        let empty = compute(&b, &[], &DriftConfig::default()).unwrap();
        assert_eq!(
            (
                empty.tested_features,
                empty.drift_share,
                empty.dataset_drift
            ),
            (0, 0.0, false)
        );
        assert!(matches!(
            compute(&b, &[vec![RawValue::Missing]], &DriftConfig::default()),
            Err(DriftError::WrongWidth { .. })
        ));
    }
}
