//! Request payloads → rows of raw values in the model's feature order.
//!
//! Accepted: `text/csv` (no header, one row per record, columns in feature
//! order), `application/json` (`{"instances": [...]}` or a bare list; each
//! instance is a list of values in feature order, an object keyed by feature
//! name, or `{"features": [...]}`) and `application/jsonlines` (one instance
//! per line). Empty cells, `null`, `NA`, `N/A`, `NULL` and `?` are missing
//! values. `NaN` and infinities are rejected.
//!
//! Errors name the row (1-based) and the column, never the offending value:
//! payloads are patient data.

use std::collections::HashMap;

use thiserror::Error;

use crate::data::RawValue;
use dxops_contract::data::FeatureType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Csv,
    Json,
    JsonLines,
}

impl InputFormat {
    /// From a `Content-Type` value (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: &str) -> Option<InputFormat> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "text/csv" | "application/csv" => Some(InputFormat::Csv),
            "application/json" => Some(InputFormat::Json),
            "application/jsonlines"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/x-ndjson" => Some(InputFormat::JsonLines),
            _ => None,
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum InputError {
    #[error("empty payload: no rows")]
    Empty,
    #[error("row {row}: not valid UTF-8")]
    InvalidUtf8 { row: usize },
    #[error("row {row}: malformed CSV")]
    Csv { row: usize },
    #[error("row {row} has {got} values, the model expects {expected}")]
    WrongWidth {
        row: usize,
        got: usize,
        expected: usize,
    },
    #[error("row {row}, column `{column}`: not a number")]
    NotNumeric { row: usize, column: String },
    #[error("row {row}, column `{column}`: NaN or infinite values are not accepted")]
    NonFinite { row: usize, column: String },
    #[error("row {row}, column `{column}`: nested arrays or objects are not feature values")]
    NotScalar { row: usize, column: String },
    #[error("row {row}, column `{column}`: unknown feature")]
    UnknownFeature { row: usize, column: String },
    #[error("row {row}: malformed JSON at line {line}, column {col}")]
    Json { row: usize, line: usize, col: usize },
    #[error("row {row}: an instance must be a list of values or an object keyed by feature name")]
    BadInstance { row: usize },
    #[error("JSON payload must be a list of instances or an object with an `instances` list")]
    BadShape,
}

impl InputError {
    /// 1-based row the error is in, if any.
    pub fn row(&self) -> Option<usize> {
        match self {
            InputError::InvalidUtf8 { row }
            | InputError::Csv { row }
            | InputError::WrongWidth { row, .. }
            | InputError::NotNumeric { row, .. }
            | InputError::NonFinite { row, .. }
            | InputError::NotScalar { row, .. }
            | InputError::UnknownFeature { row, .. }
            | InputError::Json { row, .. }
            | InputError::BadInstance { row } => Some(*row),
            InputError::Empty | InputError::BadShape => None,
        }
    }

    /// Feature the error is in, if any.
    pub fn column(&self) -> Option<&str> {
        match self {
            InputError::NotNumeric { column, .. }
            | InputError::NonFinite { column, .. }
            | InputError::NotScalar { column, .. }
            | InputError::UnknownFeature { column, .. } => Some(column),
            _ => None,
        }
    }
}

/// The model's input columns.
#[derive(Debug, Clone)]
pub struct Schema {
    names: Vec<String>,
    types: Vec<FeatureType>,
    index: HashMap<String, usize>,
}

fn is_missing_cell(cell: &str) -> bool {
    matches!(cell, "" | "NA" | "N/A" | "null" | "NULL" | "?")
}

impl Schema {
    pub fn new(names: &[String], types: &[FeatureType]) -> Schema {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Schema {
            names: names.to_vec(),
            types: types.to_vec(),
            index,
        }
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One text cell of column `col` (0-based) in row `row` (1-based).
    pub fn cell(&self, text: &str, row: usize, col: usize) -> Result<RawValue, InputError> {
        let t = text.trim();
        if is_missing_cell(t) {
            return Ok(RawValue::Missing);
        }
        match self.types[col] {
            FeatureType::Categorical => Ok(RawValue::Text(t.to_string())),
            FeatureType::Numeric | FeatureType::Boolean => {
                let v = match t {
                    "true" | "True" | "TRUE" => 1.0,
                    "false" | "False" | "FALSE" => 0.0,
                    _ => t.parse::<f64>().map_err(|_| InputError::NotNumeric {
                        row,
                        column: self.names[col].clone(),
                    })?,
                };
                if v.is_finite() {
                    Ok(RawValue::Number(v))
                } else {
                    Err(InputError::NonFinite {
                        row,
                        column: self.names[col].clone(),
                    })
                }
            }
        }
    }

    fn json_value(
        &self,
        v: &serde_json::Value,
        row: usize,
        col: usize,
    ) -> Result<RawValue, InputError> {
        use serde_json::Value;
        match v {
            Value::Null => Ok(RawValue::Missing),
            Value::Bool(b) => match self.types[col] {
                FeatureType::Categorical => Ok(RawValue::Text(b.to_string())),
                _ => Ok(RawValue::Number(if *b { 1.0 } else { 0.0 })),
            },
            Value::Number(n) => {
                let x = n.as_f64().ok_or_else(|| InputError::NotNumeric {
                    row,
                    column: self.names[col].clone(),
                })?;
                if !x.is_finite() {
                    return Err(InputError::NonFinite {
                        row,
                        column: self.names[col].clone(),
                    });
                }
                match self.types[col] {
                    FeatureType::Categorical => Ok(RawValue::Text(n.to_string())),
                    _ => Ok(RawValue::Number(x)),
                }
            }
            Value::String(s) => self.cell(s, row, col),
            Value::Array(_) | Value::Object(_) => Err(InputError::NotScalar {
                row,
                column: self.names[col].clone(),
            }),
        }
    }

    fn json_instance(
        &self,
        v: &serde_json::Value,
        row: usize,
    ) -> Result<Vec<RawValue>, InputError> {
        use serde_json::Value;
        match v {
            Value::Array(values) => self.json_list(values, row),
            Value::Object(map) => {
                if map.len() == 1
                    && let Some(Value::Array(values)) = map.get("features")
                    && !self.index.contains_key("features")
                {
                    return self.json_list(values, row);
                }
                let mut out = vec![RawValue::Missing; self.width()];
                for (k, v) in map {
                    let Some(&col) = self.index.get(k.as_str()) else {
                        return Err(InputError::UnknownFeature {
                            row,
                            column: k.clone(),
                        });
                    };
                    out[col] = self.json_value(v, row, col)?;
                }
                Ok(out)
            }
            _ => Err(InputError::BadInstance { row }),
        }
    }

    fn json_list(
        &self,
        values: &[serde_json::Value],
        row: usize,
    ) -> Result<Vec<RawValue>, InputError> {
        if values.len() != self.width() {
            return Err(InputError::WrongWidth {
                row,
                got: values.len(),
                expected: self.width(),
            });
        }
        values
            .iter()
            .enumerate()
            .map(|(col, v)| self.json_value(v, row, col))
            .collect()
    }

    /// Parses a whole payload.
    pub fn parse(
        &self,
        body: &[u8],
        format: InputFormat,
    ) -> Result<Vec<Vec<RawValue>>, InputError> {
        let rows = match format {
            InputFormat::Csv => self.parse_csv(body)?,
            InputFormat::Json => self.parse_json(body)?,
            InputFormat::JsonLines => self.parse_json_lines(body)?,
        };
        if rows.is_empty() {
            return Err(InputError::Empty);
        }
        Ok(rows)
    }

    fn parse_csv(&self, body: &[u8]) -> Result<Vec<Vec<RawValue>>, InputError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body);
        let mut rows = Vec::new();
        let mut record = csv::ByteRecord::new();
        loop {
            let row = rows.len() + 1;
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(_) => return Err(InputError::Csv { row }),
            }
            // A blank line (one empty field) is skipped, as trailing newlines are.
            if record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if record.len() != self.width() {
                return Err(InputError::WrongWidth {
                    row,
                    got: record.len(),
                    expected: self.width(),
                });
            }
            let mut out = Vec::with_capacity(self.width());
            for (col, field) in record.iter().enumerate() {
                let text =
                    std::str::from_utf8(field).map_err(|_| InputError::InvalidUtf8 { row })?;
                out.push(self.cell(text, row, col)?);
            }
            rows.push(out);
        }
        Ok(rows)
    }

    fn parse_json(&self, body: &[u8]) -> Result<Vec<Vec<RawValue>>, InputError> {
        use serde_json::Value;
        let value: Value = serde_json::from_slice(body).map_err(|e| InputError::Json {
            row: 1,
            line: e.line(),
            col: e.column(),
        })?;
        let instances = match &value {
            Value::Array(items) => items,
            Value::Object(map) => match map.get("instances") {
                Some(Value::Array(items)) => items,
                _ => return Err(InputError::BadShape),
            },
            _ => return Err(InputError::BadShape),
        };
        // A flat list of scalars is one row.
        if !instances.is_empty() && instances.iter().all(|v| !v.is_array() && !v.is_object()) {
            return Ok(vec![self.json_list(instances, 1)?]);
        }
        instances
            .iter()
            .enumerate()
            .map(|(i, v)| self.json_instance(v, i + 1))
            .collect()
    }

    fn parse_json_lines(&self, body: &[u8]) -> Result<Vec<Vec<RawValue>>, InputError> {
        let mut rows = Vec::new();
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let row = rows.len() + 1;
            let value: serde_json::Value =
                serde_json::from_slice(line).map_err(|e| InputError::Json {
                    row,
                    line: i + 1,
                    col: e.column(),
                })?;
            rows.push(self.json_instance(&value, row)?);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(
            &["age".to_string(), "sex".to_string(), "smoker".to_string()],
            &[
                FeatureType::Numeric,
                FeatureType::Categorical,
                FeatureType::Boolean,
            ],
        )
    }

    #[test]
    fn content_types() {
        assert_eq!(
            InputFormat::from_content_type("text/csv; charset=utf-8"),
            Some(InputFormat::Csv)
        );
        assert_eq!(
            InputFormat::from_content_type("Application/JSON"),
            Some(InputFormat::Json)
        );
        assert_eq!(
            InputFormat::from_content_type("application/jsonlines"),
            Some(InputFormat::JsonLines)
        );
        assert_eq!(InputFormat::from_content_type("text/plain"), None);
    }

    #[test]
    fn csv_rows_and_missing_values() {
        let s = schema();
        let rows = s.parse(b"54,F,1\n61,,false\n\n", InputFormat::Csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            vec![
                RawValue::Number(54.0),
                RawValue::Text("F".into()),
                RawValue::Number(1.0)
            ]
        );
        assert_eq!(
            rows[1],
            vec![
                RawValue::Number(61.0),
                RawValue::Missing,
                RawValue::Number(0.0)
            ]
        );
        assert_eq!(s.parse(b"", InputFormat::Csv), Err(InputError::Empty));
        assert_eq!(
            s.parse(b"1,F\n", InputFormat::Csv),
            Err(InputError::WrongWidth {
                row: 1,
                got: 2,
                expected: 3
            })
        );
        let e = s.parse(b"1,F,1\nabc,F,1\n", InputFormat::Csv).unwrap_err();
        assert_eq!(
            e,
            InputError::NotNumeric {
                row: 2,
                column: "age".into()
            }
        );
        assert!(!e.to_string().contains("abc"));
        assert_eq!(
            s.parse(b"NaN,F,1", InputFormat::Csv),
            Err(InputError::NonFinite {
                row: 1,
                column: "age".into()
            })
        );
        assert_eq!(
            s.parse(b"1,F,inf", InputFormat::Csv),
            Err(InputError::NonFinite {
                row: 1,
                column: "smoker".into()
            })
        );
        assert_eq!(
            s.parse(b"1,\xff\xfe,1", InputFormat::Csv),
            Err(InputError::InvalidUtf8 { row: 1 })
        );
    }

    #[test]
    fn json_shapes() {
        let s = schema();
        let a = s
            .parse(
                br#"{"instances": [{"age": 54, "sex": "F", "smoker": true}, [61, null, 0]]}"#,
                InputFormat::Json,
            )
            .unwrap();
        assert_eq!(
            a[0],
            vec![
                RawValue::Number(54.0),
                RawValue::Text("F".into()),
                RawValue::Number(1.0)
            ]
        );
        assert_eq!(
            a[1],
            vec![
                RawValue::Number(61.0),
                RawValue::Missing,
                RawValue::Number(0.0)
            ]
        );
        let b = s.parse(br#"[[54, "F", 1]]"#, InputFormat::Json).unwrap();
        assert_eq!(b, s.parse(br#"[54, "F", 1]"#, InputFormat::Json).unwrap());
        assert_eq!(
            b,
            s.parse(
                br#"{"instances": [{"features": [54, "F", 1]}]}"#,
                InputFormat::Json
            )
            .unwrap()
        );
        let partial = s.parse(br#"[{"age": 54}]"#, InputFormat::Json).unwrap();
        assert_eq!(partial[0][1], RawValue::Missing);
        assert_eq!(
            s.parse(br#"[{"age": 54, "weight": 3}]"#, InputFormat::Json),
            Err(InputError::UnknownFeature {
                row: 1,
                column: "weight".into()
            })
        );
        assert_eq!(
            s.parse(br#"[[1, "F", 1], [1, {"x": 1}, 1]]"#, InputFormat::Json),
            Err(InputError::NotScalar {
                row: 2,
                column: "sex".into()
            })
        );
        assert_eq!(
            s.parse(br#"{"rows": []}"#, InputFormat::Json),
            Err(InputError::BadShape)
        );
        assert_eq!(s.parse(br#"[]"#, InputFormat::Json), Err(InputError::Empty));
        assert!(matches!(
            s.parse(br#"[[1,"#, InputFormat::Json),
            Err(InputError::Json { .. })
        ));
        let deep = "[".repeat(100_000);
        assert!(matches!(
            s.parse(deep.as_bytes(), InputFormat::Json),
            Err(InputError::Json { .. })
        ));
    }

    #[test]
    fn json_lines() {
        let s = schema();
        let rows = s
            .parse(b"[54, \"F\", 1]\n\n{\"age\": 61}\n", InputFormat::JsonLines)
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            s.parse(b"[54, \"F\", 1]\n[1, 2]\n", InputFormat::JsonLines),
            Err(InputError::WrongWidth {
                row: 2,
                got: 2,
                expected: 3
            })
        );
        assert!(matches!(
            s.parse(b"[54, \"F\", 1]\n{oops\n", InputFormat::JsonLines),
            Err(InputError::Json { row: 2, .. })
        ));
    }
}
