//! Per-feature statistics of the training data, stored in the artifact as
//! the reference for drift monitoring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::data::{FeatureSchema, RawValue};
use super::preprocess::format_number;
use dxops_contract::data::FeatureType;

/// At most this many values are kept per numeric feature for KS/Wasserstein tests.
pub const REFERENCE_SAMPLE_SIZE: usize = 1000;
/// Quantile bins per numeric feature.
pub const QUANTILE_BINS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericBaseline {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    /// Bin edges at the training deciles (first = min, last = max; repeated
    /// quantiles merged).
    pub bin_edges: Vec<f64>,
    /// Share of present values per bin `[edge_i, edge_{i+1})` (last bin closed).
    pub bin_fractions: Vec<f64>,
    /// Up to `REFERENCE_SAMPLE_SIZE` sorted values: all of them, or evenly
    /// spaced order statistics (deterministic, no randomness).
    pub reference_sample: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBaseline {
    pub name: String,
    pub kind: FeatureType,
    pub missing_fraction: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericBaseline>,
    /// Category → share of present values (categorical features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub rows: usize,
    pub features: Vec<FeatureBaseline>,
    /// Class → share of training rows the final model assigns to it.
    pub predicted_class_distribution: BTreeMap<String, f64>,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn numeric_baseline(values: &mut [f64]) -> Option<NumericBaseline> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64).sqrt();
    let mut edges: Vec<f64> = (0..=QUANTILE_BINS)
        .map(|b| quantile(values, b as f64 / QUANTILE_BINS as f64))
        .collect();
    edges.dedup();
    let mut fractions = vec![0.0; edges.len().saturating_sub(1).max(1)];
    for &v in values.iter() {
        let b = if edges.len() < 2 {
            0
        } else {
            edges
                .partition_point(|&e| e <= v)
                .saturating_sub(1)
                .min(edges.len() - 2)
        };
        fractions[b] += 1.0;
    }
    for f in &mut fractions {
        *f /= n as f64;
    }
    let reference_sample = if n <= REFERENCE_SAMPLE_SIZE {
        values.to_vec()
    } else {
        (0..REFERENCE_SAMPLE_SIZE)
            .map(|i| values[i * (n - 1) / (REFERENCE_SAMPLE_SIZE - 1)])
            .collect()
    };
    Some(NumericBaseline {
        min: values[0],
        max: values[n - 1],
        mean,
        std,
        bin_edges: edges,
        bin_fractions: fractions,
        reference_sample,
    })
}

pub fn compute(
    schema: &[FeatureSchema],
    rows: &[Vec<RawValue>],
    predicted: &[usize],
    classes: &[String],
) -> Baseline {
    let n = rows.len();
    let features = schema
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let missing = rows
                .iter()
                .filter(|r| matches!(r[j], RawValue::Missing))
                .count();
            let missing_fraction = if n > 0 {
                missing as f64 / n as f64
            } else {
                0.0
            };
            match f.kind {
                FeatureType::Numeric | FeatureType::Boolean => {
                    let mut vals = super::data::numbers(rows, j);
                    FeatureBaseline {
                        name: f.name.clone(),
                        kind: f.kind,
                        missing_fraction,
                        numeric: numeric_baseline(&mut vals),
                        categories: None,
                    }
                }
                FeatureType::Categorical => {
                    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
                    let mut present = 0.0;
                    for r in rows {
                        let key = match &r[j] {
                            RawValue::Text(s) => s.clone(),
                            RawValue::Number(x) => format_number(*x),
                            RawValue::Missing => continue,
                        };
                        *counts.entry(key).or_default() += 1.0;
                        present += 1.0;
                    }
                    for v in counts.values_mut() {
                        *v /= present;
                    }
                    FeatureBaseline {
                        name: f.name.clone(),
                        kind: f.kind,
                        missing_fraction,
                        numeric: None,
                        categories: Some(counts),
                    }
                }
            }
        })
        .collect();
    let mut dist: BTreeMap<String, f64> = classes.iter().map(|c| (c.clone(), 0.0)).collect();
    for &p in predicted {
        if let Some(v) = dist.get_mut(&classes[p]) {
            *v += 1.0 / predicted.len() as f64;
        }
    }
    Baseline {
        rows: n,
        features,
        predicted_class_distribution: dist,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_summary_and_sample() {
        let mut v: Vec<f64> = (0..5000).rev().map(|i| i as f64).collect();
        let b = numeric_baseline(&mut v).unwrap();
        assert_eq!((b.min, b.max), (0.0, 4999.0));
        assert_eq!(b.bin_edges.len(), 11);
        assert!((b.bin_fractions.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(b.bin_fractions.iter().all(|f| (f - 0.1).abs() < 0.01));
        assert_eq!(b.reference_sample.len(), 1000);
        assert!(b.reference_sample.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(b.reference_sample[0], 0.0);
        assert_eq!(b.reference_sample[999], 4999.0);
        let mut c = vec![1.0; 4];
        let b = numeric_baseline(&mut c).unwrap();
        assert_eq!(b.bin_fractions, vec![1.0]);
    }
}
