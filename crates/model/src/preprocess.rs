//! Preprocessing learnt on training data: median imputation with missing
//! indicators, standardisation of numeric columns, one-hot encoding of
//! categoricals. Every model sees the same design matrix (standardisation is
//! monotone, so the tree models are unaffected by it).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::data::{FeatureSchema, RawValue, parse_number};
use dxops_contract::data::FeatureType;

#[derive(Debug, Error, PartialEq)]
pub enum PredictError {
    #[error("row {row} has {got} values, the model expects {expected} ({names})")]
    WrongWidth {
        row: usize,
        got: usize,
        expected: usize,
        names: String,
    },
    /// The offending value is not part of the error: it is patient data.
    #[error("row {row}, column `{column}`: text given for a numeric feature")]
    NotNumeric { row: usize, column: String },
    #[error("row {row}, column `{column}`: non-finite number")]
    NonFinite { row: usize, column: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnTransform {
    /// `(x - mean) / scale`, missing → median; optional indicator column.
    Numeric {
        median: f64,
        mean: f64,
        scale: f64,
        indicator: bool,
    },
    /// One column per category; missing → indicator column (if seen).
    Categorical {
        categories: Vec<String>,
        indicator: bool,
    },
}

impl ColumnTransform {
    fn width(&self) -> usize {
        match self {
            ColumnTransform::Numeric { indicator, .. } => 1 + usize::from(*indicator),
            ColumnTransform::Categorical {
                categories,
                indicator,
            } => categories.len() + usize::from(*indicator),
        }
    }
}

/// Fitted preprocessing of every raw feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub schema: Vec<FeatureSchema>,
    pub transforms: Vec<ColumnTransform>,
    pub width: usize,
}

/// Dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub data: Vec<f64>,
    pub rows: usize,
    pub cols: usize,
}

impl Matrix {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            data,
            rows: idx.len(),
            cols: self.cols,
        }
    }
}

pub fn median(sorted: &[f64]) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

fn text_of(v: &RawValue) -> Option<String> {
    match v {
        RawValue::Text(s) => Some(s.clone()),
        RawValue::Number(x) => Some(format_number(*x)),
        RawValue::Missing => None,
    }
}

/// Canonical text of a number used as a category.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl Preprocessor {
    /// Learns the transforms from training rows (already type-checked).
    pub fn fit(schema: &[FeatureSchema], rows: &[Vec<RawValue>]) -> Preprocessor {
        let mut transforms = Vec::with_capacity(schema.len());
        for (j, f) in schema.iter().enumerate() {
            match f.kind {
                FeatureType::Numeric | FeatureType::Boolean => {
                    let mut vals = super::data::numbers(rows, j);
                    let indicator = vals.len() < rows.len();
                    vals.sort_by(f64::total_cmp);
                    let med = median(&vals);
                    let n = rows.len().max(1) as f64;
                    let missing = (rows.len() - vals.len()) as f64;
                    let mean = (vals.iter().sum::<f64>() + missing * med) / n;
                    let var = (vals.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>()
                        + missing * (med - mean) * (med - mean))
                        / n;
                    let sd = var.sqrt();
                    let scale = if sd > 1e-12 { sd } else { 1.0 };
                    transforms.push(ColumnTransform::Numeric {
                        median: med,
                        mean,
                        scale,
                        indicator,
                    });
                }
                FeatureType::Categorical => {
                    let mut cats = std::collections::BTreeSet::new();
                    let mut indicator = false;
                    for r in rows {
                        match text_of(&r[j]) {
                            Some(s) => {
                                cats.insert(s);
                            }
                            None => indicator = true,
                        }
                    }
                    transforms.push(ColumnTransform::Categorical {
                        categories: cats.into_iter().collect(),
                        indicator,
                    });
                }
            }
        }
        let width = transforms.iter().map(ColumnTransform::width).sum();
        Preprocessor {
            schema: schema.to_vec(),
            transforms,
            width,
        }
    }

    /// Structural check after loading: one transform per feature, widths add up.
    pub fn is_consistent(&self) -> bool {
        self.transforms.len() == self.schema.len()
            && self.width
                == self
                    .transforms
                    .iter()
                    .map(ColumnTransform::width)
                    .sum::<usize>()
            && self.transforms.iter().all(|t| match t {
                ColumnTransform::Numeric {
                    median,
                    mean,
                    scale,
                    ..
                } => median.is_finite() && mean.is_finite() && scale.is_finite() && *scale > 0.0,
                ColumnTransform::Categorical { categories, .. } => {
                    categories.windows(2).all(|w| w[0] < w[1])
                }
            })
    }

    /// Names of the design-matrix columns.
    pub fn output_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width);
        for (f, t) in self.schema.iter().zip(&self.transforms) {
            match t {
                ColumnTransform::Numeric { indicator, .. } => {
                    names.push(f.name.clone());
                    if *indicator {
                        names.push(format!("{}__missing", f.name));
                    }
                }
                ColumnTransform::Categorical {
                    categories,
                    indicator,
                } => {
                    for c in categories {
                        names.push(format!("{}={}", f.name, c));
                    }
                    if *indicator {
                        names.push(format!("{}__missing", f.name));
                    }
                }
            }
        }
        names
    }

    /// Transforms one row into `out` (length `width`). `row_no` is used in errors.
    pub fn transform_row_into(
        &self,
        row: &[RawValue],
        row_no: usize,
        out: &mut [f64],
    ) -> Result<(), PredictError> {
        if row.len() != self.schema.len() {
            return Err(PredictError::WrongWidth {
                row: row_no,
                got: row.len(),
                expected: self.schema.len(),
                names: self
                    .schema
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut o = 0;
        for ((v, t), f) in row.iter().zip(&self.transforms).zip(&self.schema) {
            match t {
                ColumnTransform::Numeric {
                    median,
                    mean,
                    scale,
                    indicator,
                } => {
                    let x = match v {
                        RawValue::Number(x) => {
                            if !x.is_finite() {
                                return Err(PredictError::NonFinite {
                                    row: row_no,
                                    column: f.name.clone(),
                                });
                            }
                            Some(*x)
                        }
                        RawValue::Missing => None,
                        RawValue::Text(s) => {
                            if super::data::is_missing(s) {
                                None
                            } else {
                                match parse_number(s) {
                                    Some(x) if x.is_finite() => Some(x),
                                    _ => {
                                        return Err(PredictError::NotNumeric {
                                            row: row_no,
                                            column: f.name.clone(),
                                        });
                                    }
                                }
                            }
                        }
                    };
                    out[o] = (x.unwrap_or(*median) - mean) / scale;
                    o += 1;
                    if *indicator {
                        out[o] = if x.is_none() { 1.0 } else { 0.0 };
                        o += 1;
                    }
                }
                ColumnTransform::Categorical {
                    categories,
                    indicator,
                } => {
                    let n = categories.len();
                    out[o..o + n].fill(0.0);
                    let missing = match v {
                        RawValue::Missing => true,
                        RawValue::Text(s) if super::data::is_missing(s) => true,
                        RawValue::Text(s) => {
                            if let Ok(k) = categories.binary_search(s) {
                                out[o + k] = 1.0;
                            }
                            false
                        }
                        RawValue::Number(x) => {
                            if let Ok(k) = categories.binary_search(&format_number(*x)) {
                                out[o + k] = 1.0;
                            }
                            false
                        }
                    };
                    o += n;
                    if *indicator {
                        out[o] = if missing { 1.0 } else { 0.0 };
                        o += 1;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn transform(&self, rows: &[Vec<RawValue>]) -> Result<Matrix, PredictError> {
        let mut data = vec![0.0; rows.len() * self.width];
        for (i, r) in rows.iter().enumerate() {
            self.transform_row_into(r, i + 1, &mut data[i * self.width..(i + 1) * self.width])?;
        }
        Ok(Matrix {
            data,
            rows: rows.len(),
            cols: self.width,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imputes_scales_and_encodes() {
        let schema = vec![
            FeatureSchema {
                name: "x".into(),
                kind: FeatureType::Numeric,
            },
            FeatureSchema {
                name: "c".into(),
                kind: FeatureType::Categorical,
            },
        ];
        let rows = vec![
            vec![RawValue::Number(1.0), RawValue::Text("a".into())],
            vec![RawValue::Number(3.0), RawValue::Text("b".into())],
            vec![RawValue::Missing, RawValue::Missing],
        ];
        let p = Preprocessor::fit(&schema, &rows);
        assert_eq!(p.width, 2 + 3);
        assert_eq!(
            p.output_names(),
            vec!["x", "x__missing", "c=a", "c=b", "c__missing"]
        );
        let m = p.transform(&rows).unwrap();
        // median 2 imputed: values 1,3,2 -> mean 2, centred.
        assert!((m.get(2, 0)).abs() < 1e-12);
        assert_eq!(m.get(2, 1), 1.0);
        assert_eq!(&m.row(1)[2..], &[0.0, 1.0, 0.0]);
        assert_eq!(&m.row(2)[2..], &[0.0, 0.0, 1.0]);
        let err = p
            .transform(&[vec![RawValue::Text("high".into()), RawValue::Missing]])
            .unwrap_err();
        assert_eq!(
            err,
            PredictError::NotNumeric {
                row: 1,
                column: "x".into()
            }
        );
    }
}
