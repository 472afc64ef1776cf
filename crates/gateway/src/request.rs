//! A client's request, checked against the model's data contract and
//! stripped of identifiers before the endpoint sees it.
//!
//! Rows are read by the model's own parser ([`dxops_ml::wire`]), so the
//! gateway accepts exactly what the endpoint accepts: CSV in feature order,
//! JSON or JSON lines (lists in feature order, objects keyed by name). An
//! object may also carry the identifier fields the contract lists; they are
//! dropped, or in `hash` mode replaced by the same keyed hash the processing
//! step writes, and never reach the endpoint. Every value is then checked
//! against what the contract declares (plausible range, allowed values,
//! 0/1 for booleans). A rejection names the row and the field, never a value.

use std::collections::BTreeMap;

use dxops_contract::data::{DataContract, Feature, FeatureType, IdentifierHandling};
use dxops_ml::data::RawValue;
use dxops_ml::process::keyed_hash;
use dxops_ml::serve::output::OutputFormat;
use dxops_ml::serve::scoring::{self, Rejection};
use dxops_ml::wire::{InputError, InputFormat, Schema};

/// The rows to send on, as the endpoint reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `text/csv` rows in feature order, no identifiers.
    pub csv: String,
    pub rows: usize,
    /// The answer's format, as the client's `Accept` asks.
    pub output: OutputFormat,
    /// Hash mode: per row, each identifier given and its keyed hash.
    pub pseudonyms: Option<Vec<BTreeMap<String, String>>>,
}

/// The contract's view of a request.
pub struct RequestSchema {
    features: Vec<Feature>,
    identifiers: Vec<String>,
    /// Hash mode's key; `None` drops identifiers.
    key: Option<Vec<u8>>,
    /// Features only: CSV and list instances.
    positional: Schema,
    /// Features, then identifiers: objects that name identifier fields.
    named: Schema,
}

impl RequestSchema {
    /// `key` is the de-identification key, needed when the contract hashes
    /// identifiers (`None` then is an error of the caller's making: see
    /// [`crate::GatewayError::MissingKey`]).
    pub fn new(contract: &DataContract, key: Option<Vec<u8>>) -> RequestSchema {
        let names: Vec<String> = contract.features.iter().map(|f| f.name.clone()).collect();
        let types: Vec<FeatureType> = contract.features.iter().map(|f| f.kind).collect();
        let mut all_names = names.clone();
        all_names.extend(contract.identifiers.iter().cloned());
        let mut all_types = types.clone();
        all_types.extend(
            contract
                .identifiers
                .iter()
                .map(|_| FeatureType::Categorical),
        );
        let key = match contract.identifier_handling {
            IdentifierHandling::Hash => key,
            IdentifierHandling::Drop => None,
        };
        RequestSchema {
            features: contract.features.clone(),
            identifiers: contract.identifiers.clone(),
            key,
            positional: Schema::new(&names, &types),
            named: Schema::new(&all_names, &all_types),
        }
    }

    /// Reads, checks and de-identifies one request body.
    pub fn prepare(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Prepared, Rejection> {
        let (format, output) = scoring::negotiate(content_type, accept)?;
        let rows = self.parse(body, format)?;
        let width = self.features.len();
        for (i, row) in rows.iter().enumerate() {
            for (feature, value) in self.features.iter().zip(row) {
                check(feature, value, i + 1)?;
            }
        }
        let pseudonyms = self.key.as_ref().map(|key| {
            rows.iter()
                .map(|row| {
                    self.identifiers
                        .iter()
                        .zip(row.iter().skip(width))
                        .filter_map(|(name, v)| match v {
                            RawValue::Text(t) => Some((name.clone(), keyed_hash(key, t))),
                            RawValue::Number(x) => {
                                Some((name.clone(), keyed_hash(key, &x.to_string())))
                            }
                            RawValue::Missing => None,
                        })
                        .collect()
                })
                .collect()
        });
        let mut csv = String::with_capacity(body.len());
        for row in &rows {
            for (j, v) in row[..width].iter().enumerate() {
                if j > 0 {
                    csv.push(',');
                }
                cell(&mut csv, v);
            }
            csv.push('\n');
        }
        Ok(Prepared {
            csv,
            rows: rows.len(),
            output,
            pseudonyms,
        })
    }

    /// Rows in feature order, then (objects naming them) the identifiers.
    /// An object with a field that is not a feature is read again by the
    /// schema that knows the identifiers; only a field unknown to both is
    /// refused.
    fn parse(&self, body: &[u8], format: InputFormat) -> Result<Vec<Vec<RawValue>>, Rejection> {
        let width = self.features.len();
        match self.positional.parse(body, format) {
            Ok(rows) => Ok(rows),
            Err(InputError::UnknownFeature { .. }) if !self.identifiers.is_empty() => self
                .named
                .parse(body, format)
                .map_err(|e| rejection(&e, width)),
            Err(e) => Err(rejection(&e, width)),
        }
    }
}

fn rejection(e: &InputError, width: usize) -> Rejection {
    let status = match e {
        InputError::TooManyRows { .. } => 413,
        _ => 400,
    };
    let message = match e {
        // The named schema counts the identifiers too: say what a row is.
        InputError::WrongWidth { row, got, .. } => {
            format!("row {row} has {got} values, the model expects {width}")
        }
        _ => e.to_string(),
    };
    Rejection {
        status,
        message,
        row: e.row(),
        column: e.column().map(str::to_string),
    }
}

/// A value the contract does not allow: 422, naming the row and the field.
fn check(feature: &Feature, value: &RawValue, row: usize) -> Result<(), Rejection> {
    let refuse = |why: String| Rejection {
        status: 422,
        message: format!("row {row}, field `{}`: {why}", feature.name),
        row: Some(row),
        column: Some(feature.name.clone()),
    };
    match (feature.kind, value) {
        (_, RawValue::Missing) => Ok(()),
        (FeatureType::Boolean, RawValue::Number(x)) if *x != 0.0 && *x != 1.0 => {
            Err(refuse("a boolean is 0, 1, true or false".into()))
        }
        (FeatureType::Numeric | FeatureType::Boolean, RawValue::Number(x)) => {
            let below = feature.min.is_some_and(|lo| *x < lo);
            let above = feature.max.is_some_and(|hi| *x > hi);
            if below || above {
                Err(refuse(format!(
                    "outside the plausible range {}",
                    range(feature.min, feature.max)
                )))
            } else {
                Ok(())
            }
        }
        (FeatureType::Categorical, RawValue::Text(t)) => match &feature.values {
            Some(values) if !values.iter().any(|v| v == t) => Err(refuse(format!(
                "not one of the {} allowed values",
                values.len()
            ))),
            _ => Ok(()),
        },
        // The parser types every cell by its column: nothing else arrives.
        _ => Ok(()),
    }
}

fn range(min: Option<f64>, max: Option<f64>) -> String {
    let end = |v: Option<f64>, open: &str| v.map_or(open.to_string(), |v| v.to_string());
    format!("[{}, {}]", end(min, "-inf"), end(max, "inf"))
}

/// One CSV cell as the model's parser reads it back to the same value.
/// A number prints as the shortest text that parses to the same `f64`.
fn cell(out: &mut String, v: &RawValue) {
    match v {
        RawValue::Missing => {}
        RawValue::Number(x) => out.push_str(&x.to_string()),
        RawValue::Text(t) if t.contains([',', '"', '\n', '\r']) => {
            out.push('"');
            out.push_str(&t.replace('"', "\"\""));
            out.push('"');
        }
        RawValue::Text(t) => out.push_str(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxops_contract::data::Split;

    fn contract(handling: IdentifierHandling) -> DataContract {
        let numeric = |name: &str, min, max| Feature {
            name: name.into(),
            kind: FeatureType::Numeric,
            min: Some(min),
            max: Some(max),
            unit: None,
            values: None,
        };
        DataContract {
            label: "diagnosis".into(),
            identifiers: vec!["patient_id".into(), "mrn".into()],
            identifier_handling: handling,
            features: vec![
                numeric("age", 0.0, 120.0),
                Feature {
                    name: "smoker".into(),
                    kind: FeatureType::Boolean,
                    min: None,
                    max: None,
                    unit: None,
                    values: None,
                },
                Feature {
                    name: "sex".into(),
                    kind: FeatureType::Categorical,
                    min: None,
                    max: None,
                    unit: None,
                    values: Some(vec!["female".into(), "male".into()]),
                },
            ],
            quality: vec![],
            rare_class_max_samples: 10,
            split: Split::default(),
        }
    }

    fn drop() -> RequestSchema {
        RequestSchema::new(&contract(IdentifierHandling::Drop), None)
    }

    fn json(s: &RequestSchema, body: &str) -> Result<Prepared, Rejection> {
        s.prepare(body.as_bytes(), Some("application/json"), None)
    }

    #[test]
    fn identifiers_never_reach_the_endpoint() {
        let p = json(
            &drop(),
            r#"{"instances": [{"patient_id": "P-0042", "age": 61, "smoker": true, "sex": "male", "mrn": 99812}]}"#,
        )
        .unwrap();
        assert_eq!(p.csv, "61,1,male\n");
        assert_eq!(p.rows, 1);
        assert!(p.pseudonyms.is_none());
        assert!(!p.csv.contains("P-0042") && !p.csv.contains("99812"));
    }

    #[test]
    fn hash_mode_returns_the_processing_steps_pseudonyms() {
        let s = RequestSchema::new(&contract(IdentifierHandling::Hash), Some(b"k".to_vec()));
        let p = json(
            &s,
            r#"[{"patient_id": "P-0042", "age": 61}, {"age": 40, "sex": "female"}]"#,
        )
        .unwrap();
        assert_eq!(p.csv, "61,,\n40,,female\n");
        let pseudonyms = p.pseudonyms.unwrap();
        assert_eq!(pseudonyms[0]["patient_id"], keyed_hash(b"k", "P-0042"));
        assert!(pseudonyms[1].is_empty());
    }

    #[test]
    fn csv_and_lists_are_the_features_in_order() {
        let s = drop();
        let p = s
            .prepare(
                b"61,0,female\n 5.10,false,\n",
                Some("text/csv"),
                Some("text/csv"),
            )
            .unwrap();
        assert_eq!(p.csv, "61,0,female\n5.1,0,\n");
        assert_eq!(p.output, OutputFormat::Csv);
        let e = s.prepare(b"61,0\n", Some("text/csv"), None).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "row 1 has 2 values, the model expects 3");
        let e = json(&s, r#"[[61, 0, "male", "P-1"]]"#).unwrap_err();
        assert_eq!(e.message, "row 1 has 4 values, the model expects 3");
    }

    #[test]
    fn implausible_values_are_refused_by_field_never_by_value() {
        let s = drop();
        let e = json(&s, r#"[{"age": 61}, {"age": 1234.5}]"#).unwrap_err();
        assert_eq!(e.status, 422);
        assert_eq!(e.row, Some(2));
        assert_eq!(e.column.as_deref(), Some("age"));
        assert_eq!(
            e.message,
            "row 2, field `age`: outside the plausible range [0, 120]"
        );
        let e = json(&s, r#"[{"sex": "unknown-value-xyz"}]"#).unwrap_err();
        assert_eq!(
            e.message,
            "row 1, field `sex`: not one of the 2 allowed values"
        );
        assert!(!e.body().contains("unknown-value-xyz"));
        let e = json(&s, r#"[{"smoker": 2}]"#).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("smoker"));
        let e = json(&s, r#"[{"age": "sixty"}]"#).unwrap_err();
        assert_eq!((e.status, e.column.as_deref()), (400, Some("age")));
    }

    #[test]
    fn a_field_neither_feature_nor_identifier_is_refused_without_its_name() {
        let e = json(&drop(), r#"[{"age": 61, "Jane Doe": 1}]"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("key number 2"), "{}", e.message);
        assert!(!e.body().contains("Jane"));
    }

    #[test]
    fn negotiation_is_the_endpoints() {
        let s = drop();
        assert_eq!(
            s.prepare(b"1,0,male", Some("text/plain"), None)
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            s.prepare(b"1,0,male", Some("text/csv"), Some("image/png"))
                .unwrap_err()
                .status,
            406
        );
    }

    #[test]
    fn text_cells_are_quoted_for_csv() {
        let mut out = String::new();
        cell(&mut out, &RawValue::Text("a,\"b\"".into()));
        assert_eq!(out, "\"a,\"\"b\"\"\"");
    }
}
