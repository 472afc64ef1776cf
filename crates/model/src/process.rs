//! The processing step: data-quality rules of the data contract, removal or
//! keyed hashing of identifiers, and the stratified train/validation/test
//! split.

use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

use super::data::{Table, is_missing, parse_number, sort_classes};
use dxops_contract::data::{
    DataContract, Feature, FeatureType, IdentifierHandling, QualityRuleKind,
};

/// Environment variable holding the de-identification key.
pub const DEID_KEY_ENV: &str = "DXOPS_DEID_KEY";

#[derive(Debug, Error)]
pub enum ProcessError {
    #[error("data quality check failed: {}", .0.failures().join("; "))]
    Quality(Box<QualityReport>),
    #[error("identifier_handling is `hash` but {DEID_KEY_ENV} is not set (or empty)")]
    MissingKey,
    /// `class` is the 1-based place in the sorted labels: labels are patient data.
    #[error(
        "class {class} of {classes} (in sorted label order) has {count} row(s); the stratified split needs at least 3 per class"
    )]
    TooFewForSplit {
        class: usize,
        classes: usize,
        count: usize,
    },
    #[error("split fractions validation={validation} test={test} must each be in (0, 0.5)")]
    BadSplit { validation: f64, test: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub passed: bool,
    /// What was measured (share, count, bounds); never patient values.
    pub observed: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub passed: bool,
    pub rows: usize,
    pub checks: Vec<CheckResult>,
}

impl QualityReport {
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.message.clone())
            .collect()
    }
}

pub struct Processed {
    pub report: QualityReport,
    /// train, validation, test.
    pub splits: [Table; 3],
}

fn check(
    rule: &str,
    column: Option<&str>,
    passed: bool,
    observed: String,
    message: String,
) -> CheckResult {
    CheckResult {
        rule: rule.to_string(),
        column: column.map(str::to_string),
        passed,
        observed,
        message,
    }
}

/// Runs the quality rules (plus: label present and complete, contract
/// features present).
/// `[min, max]` with open ends shown as infinities.
fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    let end = |v: Option<f64>, inf: &str| v.map_or(inf.to_string(), |v| v.to_string());
    format!("[{}, {}]", end(min, "-inf"), end(max, "inf"))
}

/// The rules a feature's declaration implies: its type (a numeric feature
/// holds numbers, a boolean one 0/1/true/false, a categorical one only its
/// listed values) and its plausible range (`min`, `max`). Counted by
/// column, never shown by value.
fn declared(table: &Table, j: usize, f: &Feature) -> Vec<CheckResult> {
    let present: Vec<&str> = table
        .rows
        .iter()
        .map(|r| r[j].as_str())
        .filter(|c| !is_missing(c))
        .collect();
    let mut out = Vec::new();
    let (rule, bad) = match f.kind {
        FeatureType::Numeric => (
            "numeric_type",
            present.iter().filter(|c| parse_number(c).is_none()).count(),
        ),
        FeatureType::Boolean => (
            "boolean_type",
            present
                .iter()
                .filter(|c| {
                    !matches!(
                        c.to_ascii_lowercase().as_str(),
                        "0" | "1" | "0.0" | "1.0" | "true" | "false"
                    )
                })
                .count(),
        ),
        FeatureType::Categorical => (
            "declared_values",
            f.values.as_ref().map_or(0, |v| {
                present
                    .iter()
                    .filter(|c| !v.iter().any(|x| x == *c))
                    .count()
            }),
        ),
    };
    out.push(check(
        rule,
        Some(&f.name),
        bad == 0,
        format!("{bad} of {} present values", present.len()),
        format!(
            "feature `{}`: {bad} value(s) do not fit its declared type {:?}",
            f.name, f.kind
        ),
    ));
    if f.kind == FeatureType::Numeric && (f.min.is_some() || f.max.is_some()) {
        let outside = present
            .iter()
            .filter_map(|c| parse_number(c))
            .filter(|v| f.min.is_some_and(|m| *v < m) || f.max.is_some_and(|m| *v > m))
            .count();
        out.push(check(
            "declared_range",
            Some(&f.name),
            outside == 0,
            format!("{outside} outside {}", bounds(f.min, f.max)),
            format!(
                "feature `{}`: {outside} value(s) outside its declared range {}",
                f.name,
                bounds(f.min, f.max)
            ),
        ));
    }
    out
}

pub fn quality(table: &Table, contract: &DataContract) -> QualityReport {
    let n = table.rows.len();
    let mut checks = Vec::new();
    match table.column_index(&contract.label) {
        None => checks.push(check(
            "label_present",
            Some(&contract.label),
            false,
            "absent".into(),
            format!("label column `{}` is missing", contract.label),
        )),
        Some(j) => {
            let missing = table.rows.iter().filter(|r| is_missing(&r[j])).count();
            checks.push(check(
                "label_present",
                Some(&contract.label),
                missing == 0,
                format!("{missing} missing"),
                format!(
                    "label column `{}` has {missing} missing value(s)",
                    contract.label
                ),
            ));
        }
    }
    for f in &contract.features {
        let Some(j) = table.column_index(&f.name) else {
            checks.push(check(
                "feature_present",
                Some(&f.name),
                false,
                "absent".into(),
                format!("feature column `{}` is missing", f.name),
            ));
            continue;
        };
        checks.extend(declared(table, j, f));
    }
    for rule in &contract.quality {
        let name = format!("{:?}", rule.rule).to_lowercase();
        if rule.rule == QualityRuleKind::RowCount {
            let ok =
                rule.min.is_none_or(|m| n as f64 >= m) && rule.max.is_none_or(|m| n as f64 <= m);
            checks.push(check(
                "row_count",
                None,
                ok,
                format!("{n} rows"),
                format!("row count {n} outside [{:?}, {:?}]", rule.min, rule.max),
            ));
            continue;
        }
        let Some(col) = rule.column.as_deref() else {
            checks.push(check(
                &name,
                None,
                false,
                "no column".into(),
                format!("rule {name} names no column"),
            ));
            continue;
        };
        let Some(j) = table.column_index(col) else {
            checks.push(check(
                &name,
                Some(col),
                false,
                "absent".into(),
                format!("rule {name}: column `{col}` is missing"),
            ));
            continue;
        };
        let cells = table.rows.iter().map(|r| r[j].as_str());
        match rule.rule {
            QualityRuleKind::Completeness => {
                let present = cells.filter(|c| !is_missing(c)).count();
                let share = if n > 0 {
                    present as f64 / n as f64
                } else {
                    0.0
                };
                let min = rule.min.unwrap_or(1.0);
                checks.push(check(
                    "completeness",
                    Some(col),
                    share >= min,
                    format!("{share:.4}"),
                    format!("completeness of `{col}` is {share:.4}, below {min}"),
                ));
            }
            QualityRuleKind::Uniqueness => {
                let mut seen = std::collections::BTreeSet::new();
                let dups = cells
                    .filter(|c| !is_missing(c))
                    .filter(|c| !seen.insert(*c))
                    .count();
                checks.push(check(
                    "uniqueness",
                    Some(col),
                    dups == 0,
                    format!("{dups} duplicates"),
                    format!("`{col}` has {dups} duplicate value(s)"),
                ));
            }
            QualityRuleKind::Range => {
                let (mut out, mut bad) = (0usize, 0usize);
                for c in cells.filter(|c| !is_missing(c)) {
                    match parse_number(c) {
                        Some(v) => {
                            if rule.min.is_some_and(|m| v < m) || rule.max.is_some_and(|m| v > m) {
                                out += 1;
                            }
                        }
                        None => bad += 1,
                    }
                }
                checks.push(check(
                    "range",
                    Some(col),
                    out == 0 && bad == 0,
                    format!("{out} out of range, {bad} not numeric"),
                    format!(
                        "`{col}`: {out} value(s) outside [{:?}, {:?}], {bad} not numeric",
                        rule.min, rule.max
                    ),
                ));
            }
            QualityRuleKind::AllowedValues => {
                let allowed = rule.values.clone().unwrap_or_default();
                let bad = cells
                    .filter(|c| !is_missing(c))
                    .filter(|c| !allowed.iter().any(|a| a == c.trim()))
                    .count();
                checks.push(check(
                    "allowed_values",
                    Some(col),
                    bad == 0,
                    format!("{bad} not allowed"),
                    format!("`{col}`: {bad} value(s) not in the allowed set"),
                ));
            }
            QualityRuleKind::RowCount => {}
        }
    }
    QualityReport {
        passed: checks.iter().all(|c| c.passed),
        rows: n,
        checks,
    }
}

/// HMAC-SHA256 of `value` under `key`, hex-encoded.
pub fn keyed_hash(key: &[u8], value: &str) -> String {
    // HMAC accepts keys of any length, so construction cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(value.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Quality gate, de-identification and stratified split.
pub fn process(
    table: &Table,
    contract: &DataContract,
    deid_key: Option<&[u8]>,
) -> Result<Processed, ProcessError> {
    let s = contract.split;
    if !(s.validation > 0.0 && s.validation < 0.5 && s.test > 0.0 && s.test < 0.5) {
        return Err(ProcessError::BadSplit {
            validation: s.validation,
            test: s.test,
        });
    }
    let report = quality(table, contract);
    if !report.passed {
        return Err(ProcessError::Quality(Box::new(report)));
    }
    let key = match contract.identifier_handling {
        IdentifierHandling::Hash if !contract.identifiers.is_empty() => match deid_key {
            Some(k) if !k.is_empty() => Some(k),
            _ => return Err(ProcessError::MissingKey),
        },
        _ => None,
    };
    let label_idx = table.column_index(&contract.label).unwrap_or(0);
    let id_idx: Vec<usize> = contract
        .identifiers
        .iter()
        .filter_map(|c| table.column_index(c))
        .collect();
    let feature_idx: Vec<usize> = if contract.features.is_empty() {
        (0..table.headers.len())
            .filter(|i| *i != label_idx && !id_idx.contains(i))
            .collect()
    } else {
        contract
            .features
            .iter()
            .filter_map(|f| table.column_index(&f.name))
            .collect()
    };
    let mut cols: Vec<usize> = Vec::new();
    if key.is_some() {
        cols.extend(&id_idx);
    }
    cols.extend(&feature_idx);
    cols.push(label_idx);
    let headers: Vec<String> = cols.iter().map(|&c| table.headers[c].clone()).collect();
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|&c| match key {
                    Some(k) if id_idx.contains(&c) => keyed_hash(k, &r[c]),
                    _ => r[c].clone(),
                })
                .collect()
        })
        .collect();
    // Stratified split.
    let mut classes: Vec<String> = table
        .rows
        .iter()
        .map(|r| r[label_idx].trim().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    sort_classes(&mut classes);
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut which = vec![0usize; rows.len()];
    for (k, c) in classes.iter().enumerate() {
        let mut idx: Vec<usize> = (0..rows.len())
            .filter(|&i| table.rows[i][label_idx].trim() == c)
            .collect();
        if idx.len() < 3 {
            return Err(ProcessError::TooFewForSplit {
                class: k + 1,
                classes: classes.len(),
                count: idx.len(),
            });
        }
        idx.shuffle(&mut rng);
        let n = idx.len() as f64;
        let n_test = ((n * s.test).round() as usize).max(1);
        let n_val = ((n * s.validation).round() as usize).max(1);
        for (p, &i) in idx.iter().enumerate() {
            which[i] = if p < n_test {
                2
            } else if p < n_test + n_val {
                1
            } else {
                0
            };
        }
    }
    let split = |w: usize| Table {
        headers: headers.clone(),
        rows: rows
            .iter()
            .zip(&which)
            .filter(|(_, x)| **x == w)
            .map(|(r, _)| r.clone())
            .collect(),
        sha256: String::new(),
    };
    Ok(Processed {
        report,
        splits: [split(0), split(1), split(2)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxops_contract::data::{QualityRule, Split};

    #[test]
    fn declared_types_and_ranges_are_rules_counted_never_shown() {
        let table = Table {
            headers: vec!["age".into(), "fever".into(), "dx".into()],
            rows: vec![
                vec!["41".into(), "1".into(), "a".into()],
                vec!["500".into(), "0".into(), "b".into()],
                vec!["XMARKERX".into(), "maybe".into(), "a".into()],
                vec!["".into(), "".into(), "b".into()],
            ],
            sha256: String::new(),
        };
        let feature = |name: &str, kind, min, max| Feature {
            name: name.into(),
            kind,
            min,
            max,
            unit: None,
            values: None,
        };
        let c = DataContract {
            label: "dx".into(),
            identifiers: vec![],
            identifier_handling: IdentifierHandling::Drop,
            features: vec![
                feature("age", FeatureType::Numeric, Some(0.0), Some(120.0)),
                feature("fever", FeatureType::Boolean, None, None),
            ],
            quality: vec![],
            rare_class_max_samples: 1,
            split: Split::default(),
        };
        let r = quality(&table, &c);
        assert!(!r.passed);
        let failed: Vec<(&str, &str, &str)> = r
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| {
                (
                    c.rule.as_str(),
                    c.column.as_deref().unwrap(),
                    c.observed.as_str(),
                )
            })
            .collect();
        assert_eq!(
            failed,
            [
                ("numeric_type", "age", "1 of 3 present values"),
                ("declared_range", "age", "1 outside [0, 120]"),
                ("boolean_type", "fever", "1 of 3 present values"),
            ]
        );
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("XMARKERX") && !text.contains("maybe") && !text.contains("500"));
    }

    fn contract() -> DataContract {
        DataContract {
            label: "dx".into(),
            identifiers: vec!["id".into()],
            identifier_handling: IdentifierHandling::Hash,
            features: vec![],
            quality: vec![
                QualityRule {
                    rule: QualityRuleKind::Range,
                    column: Some("age".into()),
                    min: Some(0.0),
                    max: Some(120.0),
                    values: None,
                },
                QualityRule {
                    rule: QualityRuleKind::Uniqueness,
                    column: Some("id".into()),
                    min: None,
                    max: None,
                    values: None,
                },
                QualityRule {
                    rule: QualityRuleKind::Completeness,
                    column: Some("age".into()),
                    min: Some(0.9),
                    max: None,
                    values: None,
                },
                QualityRule {
                    rule: QualityRuleKind::RowCount,
                    column: None,
                    min: Some(10.0),
                    max: None,
                    values: None,
                },
                QualityRule {
                    rule: QualityRuleKind::AllowedValues,
                    column: Some("dx".into()),
                    min: None,
                    max: None,
                    values: Some(vec!["a".into(), "b".into()]),
                },
            ],
            rare_class_max_samples: 5,
            split: Split::default(),
        }
    }

    fn table(ages: &[&str]) -> Table {
        Table {
            headers: vec!["id".into(), "age".into(), "dx".into()],
            rows: ages
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    vec![
                        format!("P{i}"),
                        a.to_string(),
                        if i % 2 == 0 { "a" } else { "b" }.to_string(),
                    ]
                })
                .collect(),
            sha256: String::new(),
        }
    }

    #[test]
    fn passes_hashes_and_splits() {
        let ages: Vec<String> = (0..40).map(|i| (20 + i).to_string()).collect();
        let refs: Vec<&str> = ages.iter().map(String::as_str).collect();
        let p = process(&table(&refs), &contract(), Some(b"k")).unwrap();
        assert!(p.report.passed);
        let sizes: Vec<usize> = p.splits.iter().map(|t| t.rows.len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 40);
        assert_eq!(sizes[2], 6);
        assert_eq!(p.splits[0].headers, vec!["id", "age", "dx"]);
        assert_eq!(p.splits[0].rows[0][0].len(), 64);
        assert!(
            !p.splits
                .iter()
                .any(|t| t.rows.iter().any(|r| r[0].starts_with('P')))
        );
        assert!(matches!(
            process(&table(&refs), &contract(), None),
            Err(ProcessError::MissingKey)
        ));
    }

    #[test]
    fn violations_fail() {
        let mut ages: Vec<String> = (0..40).map(|i| (20 + i).to_string()).collect();
        ages[3] = "150".into();
        let refs: Vec<&str> = ages.iter().map(String::as_str).collect();
        match process(&table(&refs), &contract(), Some(b"k")) {
            Err(ProcessError::Quality(r)) => {
                assert_eq!(r.failures().len(), 1);
                assert!(r.failures()[0].contains("age"));
                assert!(!r.failures()[0].contains("150"), "patient value leaked");
            }
            _ => panic!("expected a quality failure"),
        }
    }
}
