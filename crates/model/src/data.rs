//! Reading CSV data into typed feature columns and class labels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use dxops_contract::data::FeatureType;

/// One raw input value, as read from a CSV cell or sent to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RawValue {
    Number(f64),
    Text(String),
    Missing,
}

/// The numbers of one column, missing values left out.
pub fn numbers(rows: &[Vec<RawValue>], column: usize) -> Vec<f64> {
    rows.iter()
        .filter_map(|r| match r[column] {
            RawValue::Number(x) => Some(x),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: malformed CSV: {message}")]
    Csv { path: PathBuf, message: String },
    #[error("{path}: the file is empty (no header row)")]
    Empty { path: PathBuf },
    #[error("{path}: no data rows below the header")]
    NoRows { path: PathBuf },
    #[error("no CSV file in {dir}")]
    NoCsv { dir: PathBuf },
    #[error("no readable record under {dir} ({skipped} malformed)")]
    NoRecords { dir: PathBuf, skipped: usize },
    #[error("{path}: header differs from the first file's header")]
    HeaderMismatch { path: PathBuf },
    #[error("duplicate column `{0}` in the header")]
    DuplicateColumn(String),
    /// Column names are not listed: ingested records bring their own keys,
    /// which are client text.
    #[error("label column `{label}` not found among the data's {columns} columns")]
    MissingLabel { label: String, columns: usize },
    #[error("feature column `{0}` not found in the data")]
    MissingFeature(String),
    #[error("no feature columns: the data has only the label column")]
    NoFeatures,
    #[error("row {row}: the label `{label}` is missing")]
    MissingLabelValue { row: usize, label: String },
    /// The offending value is not part of the message: it is patient data.
    #[error(
        "row {row}, column `{column}`: a text value in a numeric column ({numeric} of {total} present values are numbers)"
    )]
    NotNumeric {
        row: usize,
        column: String,
        numeric: usize,
        total: usize,
    },
    #[error("row {row}, column `{column}`: non-finite number")]
    NonFinite { row: usize, column: String },
    // Labels are diagnoses, patient data: classes are named by their place
    // in the sorted list of labels, never by value.
    #[error("row {row}: a label the model does not know")]
    UnknownClass { row: usize },
    #[error("only one class in the label column; at least two are needed")]
    SingleClass,
    #[error(
        "class {class} of {classes} (in sorted label order) has {count} sample(s); every class needs at least {needed} for stratified {purpose}"
    )]
    TooFewSamples {
        /// 1-based place in the sorted labels.
        class: usize,
        classes: usize,
        count: usize,
        needed: usize,
        purpose: &'static str,
    },
}

/// A CSV file as strings: header plus rows (every row as wide as the header).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// SHA-256 of the bytes read (all files, in order).
    pub sha256: String,
}

/// Cells that count as missing.
pub fn is_missing(cell: &str) -> bool {
    matches!(
        cell.trim(),
        "" | "NA" | "N/A" | "NaN" | "nan" | "null" | "NULL" | "?"
    )
}

impl Table {
    /// Reads one CSV file with a header row.
    pub fn read(path: &Path) -> Result<Table, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, path)
    }

    /// Reads every `*.csv` file of a directory (sorted by name) or a single file.
    pub fn read_dir_or_file(path: &Path) -> Result<Table, DataError> {
        if path.is_file() {
            return Self::read(path);
        }
        let entries = std::fs::read_dir(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
            .collect();
        files.sort();
        let Some(first) = files.first() else {
            return Err(DataError::NoCsv {
                dir: path.to_path_buf(),
            });
        };
        let mut table = Self::read(first)?;
        let mut hasher = Sha256::new();
        hasher.update(table.sha256.as_bytes());
        for f in &files[1..] {
            let t = Self::read(f)?;
            if t.headers != table.headers {
                return Err(DataError::HeaderMismatch { path: f.clone() });
            }
            hasher.update(t.sha256.as_bytes());
            table.rows.extend(t.rows);
        }
        if files.len() > 1 {
            table.sha256 = hex::encode(hasher.finalize());
        }
        Ok(table)
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Table, DataError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .from_reader(bytes);
        let mut records = reader.records();
        let headers: Vec<String> = match records.next() {
            None => {
                return Err(DataError::Empty {
                    path: path.to_path_buf(),
                });
            }
            Some(r) => r
                .map_err(|e| DataError::Csv {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
                .iter()
                .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
                .collect(),
        };
        if headers.iter().all(|h| h.is_empty()) {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for h in &headers {
            if !seen.insert(h.as_str()) {
                return Err(DataError::DuplicateColumn(h.clone()));
            }
        }
        let mut rows = Vec::new();
        for r in records {
            let r = r.map_err(|e| DataError::Csv {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            if r.len() == 1 && r.get(0).is_some_and(|c| c.trim().is_empty()) {
                continue;
            }
            rows.push(r.iter().map(|s| s.trim().to_string()).collect());
        }
        if rows.is_empty() {
            return Err(DataError::NoRows {
                path: path.to_path_buf(),
            });
        }
        Ok(Table {
            headers,
            rows,
            sha256,
        })
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Writes the table as CSV.
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut w = csv::Writer::from_path(path).map_err(|e| DataError::Csv {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let csv_err = |e: csv::Error| DataError::Csv {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        w.write_record(&self.headers).map_err(csv_err)?;
        for r in &self.rows {
            w.write_record(r).map_err(csv_err)?;
        }
        w.flush().map_err(io)?;
        Ok(())
    }
}

/// Schema of one feature column, learnt from training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    pub name: String,
    pub kind: FeatureType,
}

/// Features plus labels, ready for preprocessing.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub features: Vec<FeatureSchema>,
    /// Row-major raw values, one `Vec` per row.
    pub rows: Vec<Vec<RawValue>>,
    /// Class index per row (into `classes`).
    pub y: Vec<usize>,
    pub classes: Vec<String>,
    pub label: String,
    pub sha256: String,
}

/// Sorts class names numerically when all are numbers, else as text.
pub fn sort_classes(classes: &mut [String]) {
    let all_numeric = classes
        .iter()
        .all(|c| c.parse::<f64>().is_ok_and(f64::is_finite));
    if all_numeric {
        classes.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        classes.sort();
    }
}

/// Parses one cell of a column of known kind.
pub fn parse_cell(
    cell: &str,
    kind: FeatureType,
    row: usize,
    column: &str,
) -> Result<RawValue, DataError> {
    if is_missing(cell) {
        return Ok(RawValue::Missing);
    }
    match kind {
        FeatureType::Categorical => Ok(RawValue::Text(cell.to_string())),
        FeatureType::Numeric | FeatureType::Boolean => match parse_number(cell) {
            Some(v) if v.is_finite() => Ok(RawValue::Number(v)),
            Some(_) => Err(DataError::NonFinite {
                row,
                column: column.to_string(),
            }),
            None => Err(DataError::NotNumeric {
                row,
                column: column.to_string(),
                numeric: 0,
                total: 0,
            }),
        },
    }
}

/// Numbers, plus `true`/`false` as 1/0.
pub fn parse_number(cell: &str) -> Option<f64> {
    let c = cell.trim();
    match c {
        "true" | "True" | "TRUE" => Some(1.0),
        "false" | "False" | "FALSE" => Some(0.0),
        _ => c.parse::<f64>().ok(),
    }
}

/// Infers the kind of a column: numeric when most present values are numbers
/// (then every present value must be one), boolean when those are all 0/1,
/// categorical otherwise.
fn infer_kind(table: &Table, col: usize) -> Result<FeatureType, DataError> {
    let mut numeric = 0usize;
    let mut total = 0usize;
    let mut binary = true;
    let mut first_bad: Option<usize> = None;
    for (i, r) in table.rows.iter().enumerate() {
        let cell = r[col].as_str();
        if is_missing(cell) {
            continue;
        }
        total += 1;
        match parse_number(cell) {
            Some(v) => {
                numeric += 1;
                if v != 0.0 && v != 1.0 {
                    binary = false;
                }
            }
            None => {
                if first_bad.is_none() {
                    first_bad = Some(i);
                }
            }
        }
    }
    if numeric * 2 > total {
        if let Some(row) = first_bad {
            return Err(DataError::NotNumeric {
                row: row + 1,
                column: table.headers[col].clone(),
                numeric,
                total,
            });
        }
        Ok(if binary {
            FeatureType::Boolean
        } else {
            FeatureType::Numeric
        })
    } else {
        Ok(FeatureType::Categorical)
    }
}

/// The label column's index, or an error counting the columns there are.
fn label_index(table: &Table, label: &str) -> Result<usize, DataError> {
    table
        .column_index(label)
        .ok_or_else(|| DataError::MissingLabel {
            label: label.to_string(),
            columns: table.headers.len(),
        })
}

impl Dataset {
    /// Builds a training data set: infers feature kinds, parses labels.
    /// `features` empty means every column except the label.
    pub fn from_table(
        table: &Table,
        label: &str,
        features: &[String],
    ) -> Result<Dataset, DataError> {
        let label_idx = label_index(table, label)?;
        let feature_idx: Vec<usize> = if features.is_empty() {
            (0..table.headers.len())
                .filter(|&i| i != label_idx)
                .collect()
        } else {
            features
                .iter()
                .map(|f| {
                    table
                        .column_index(f)
                        .ok_or_else(|| DataError::MissingFeature(f.clone()))
                })
                .collect::<Result<_, _>>()?
        };
        if feature_idx.is_empty() {
            return Err(DataError::NoFeatures);
        }
        let mut schema = Vec::with_capacity(feature_idx.len());
        for &c in &feature_idx {
            schema.push(FeatureSchema {
                name: table.headers[c].clone(),
                kind: infer_kind(table, c)?,
            });
        }
        let (y, classes) = Self::labels(table, label_idx, label, None)?;
        let rows = Self::parse_rows(table, &feature_idx, &schema)?;
        Ok(Dataset {
            features: schema,
            rows,
            y,
            classes,
            label: label.to_string(),
            sha256: table.sha256.clone(),
        })
    }

    /// Builds a data set with a fixed schema and class list (evaluation).
    /// Labels not in `classes` are an error.
    pub fn with_schema(
        table: &Table,
        label: &str,
        schema: &[FeatureSchema],
        classes: &[String],
    ) -> Result<Dataset, DataError> {
        let label_idx = label_index(table, label)?;
        let feature_idx: Vec<usize> = schema
            .iter()
            .map(|f| {
                table
                    .column_index(&f.name)
                    .ok_or_else(|| DataError::MissingFeature(f.name.clone()))
            })
            .collect::<Result<_, _>>()?;
        let (y, classes) = Self::labels(table, label_idx, label, Some(classes))?;
        let rows = Self::parse_rows(table, &feature_idx, schema)?;
        Ok(Dataset {
            features: schema.to_vec(),
            rows,
            y,
            classes,
            label: label.to_string(),
            sha256: table.sha256.clone(),
        })
    }

    fn parse_rows(
        table: &Table,
        idx: &[usize],
        schema: &[FeatureSchema],
    ) -> Result<Vec<Vec<RawValue>>, DataError> {
        table
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                idx.iter()
                    .zip(schema)
                    .map(|(&c, f)| parse_cell(&r[c], f.kind, i + 1, &f.name))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect()
    }

    fn labels(
        table: &Table,
        label_idx: usize,
        label: &str,
        fixed: Option<&[String]>,
    ) -> Result<(Vec<usize>, Vec<String>), DataError> {
        let mut raw = Vec::with_capacity(table.rows.len());
        for (i, r) in table.rows.iter().enumerate() {
            let v = r[label_idx].trim();
            if is_missing(v) {
                return Err(DataError::MissingLabelValue {
                    row: i + 1,
                    label: label.to_string(),
                });
            }
            raw.push(canonical_label(v));
        }
        let classes: Vec<String> = match fixed {
            Some(c) => c.to_vec(),
            None => {
                let mut c: Vec<String> = raw
                    .iter()
                    .cloned()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                sort_classes(&mut c);
                if c.len() < 2 {
                    return Err(DataError::SingleClass);
                }
                c
            }
        };
        let index: BTreeMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let mut y = Vec::with_capacity(raw.len());
        for (i, v) in raw.iter().enumerate() {
            match index.get(v.as_str()) {
                Some(&k) => y.push(k),
                None => {
                    return Err(DataError::UnknownClass { row: i + 1 });
                }
            }
        }
        Ok((y, classes))
    }

    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes.len()];
        for &k in &self.y {
            c[k] += 1;
        }
        c
    }

    /// Errors unless every class has at least `needed` samples.
    pub fn require_per_class(&self, needed: usize, purpose: &'static str) -> Result<(), DataError> {
        for (k, &n) in self.class_counts().iter().enumerate() {
            if n < needed {
                return Err(DataError::TooFewSamples {
                    class: k + 1,
                    classes: self.classes.len(),
                    count: n,
                    needed,
                    purpose,
                });
            }
        }
        Ok(())
    }

    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            features: self.features.clone(),
            rows: idx.iter().map(|&i| self.rows[i].clone()).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            classes: self.classes.clone(),
            label: self.label.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

/// `1.0` and `1` name the same class.
fn canonical_label(v: &str) -> String {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> Result<Table, DataError> {
        Table::parse(s.as_bytes(), Path::new("t.csv"))
    }

    #[test]
    fn infers_kinds_and_labels() {
        let t = table("a,b,c,label\n1,0,x,yes\n2.5,1,y,no\n,1,,no\n").unwrap();
        let d = Dataset::from_table(&t, "label", &[]).unwrap();
        let kinds: Vec<_> = d.features.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![
                FeatureType::Numeric,
                FeatureType::Boolean,
                FeatureType::Categorical
            ]
        );
        assert_eq!(d.classes, vec!["no", "yes"]);
        assert_eq!(d.y, vec![1, 0, 0]);
        assert_eq!(d.rows[2][0], RawValue::Missing);
    }

    #[test]
    fn numeric_classes_sort_numerically() {
        let t = table("a,label\n1,10\n2,2\n3,2.0\n").unwrap();
        let d = Dataset::from_table(&t, "label", &[]).unwrap();
        assert_eq!(d.classes, vec!["2", "10"]);
    }

    #[test]
    fn text_in_numeric_column_names_row_and_column() {
        let t = table("a,label\n1,0\n2,1\nabc,1\n4,0\n").unwrap();
        let e = Dataset::from_table(&t, "label", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("row 3") && e.contains("`a`") && !e.contains("abc"),
            "{e}"
        );
    }

    #[test]
    fn bad_inputs() {
        assert!(matches!(table(""), Err(DataError::Empty { .. })));
        assert!(matches!(table("a,label\n"), Err(DataError::NoRows { .. })));
        let t = table("a,label\n1,0\n2,0\n").unwrap();
        assert!(matches!(
            Dataset::from_table(&t, "label", &[]),
            Err(DataError::SingleClass)
        ));
        assert!(matches!(
            Dataset::from_table(&t, "diagnosis", &[]),
            Err(DataError::MissingLabel { .. })
        ));
        assert!(matches!(
            table("a,a\n1,2\n"),
            Err(DataError::DuplicateColumn(_))
        ));
    }
}
