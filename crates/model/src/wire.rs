//! Request payloads → rows of raw values in the model's feature order.
//!
//! Accepted: `text/csv` (no header, one row per record, columns in feature
//! order), `application/json` (`{"instances": [...]}` or a bare list; each
//! instance is a list of values in feature order, an object keyed by feature
//! name, or `{"features": [...]}`) and `application/jsonlines` (one instance
//! per line). Empty cells, `null`, `NA`, `N/A`, `NULL` and `?` are missing
//! values. `NaN` and infinities are rejected.
//!
//! A payload holds at most [`MAX_ROWS`] rows; parsing stops at the first row
//! beyond it. JSON is parsed as a stream straight into rows, so no document
//! tree is built: memory is the rows themselves, whatever the payload shape.
//!
//! Errors name the row (1-based) and the column, never the offending value
//! nor a client-supplied key: payloads are patient data.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use thiserror::Error;

use crate::data::RawValue;
use dxops_contract::data::FeatureType;

/// Most rows one payload may hold. A 6 MB CSV of one-digit cells holds at
/// most a few hundred thousand rows of a realistic model; rows cost
/// `width × 32` bytes each once parsed, so this caps a request's rows at
/// about 100 MB for a 30-feature model.
pub const MAX_ROWS: usize = 100_000;

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
    #[error("the payload holds more than {limit} rows; send it in smaller batches")]
    TooManyRows { limit: usize },
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
    /// `field` is the key's 1-based position in the object: the key itself
    /// is client text and is never repeated back.
    #[error("row {row}: key number {field} of the object is not a feature of the model")]
    UnknownFeature { row: usize, field: usize },
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
            InputError::Empty | InputError::TooManyRows { .. } | InputError::BadShape => None,
        }
    }

    /// Feature the error is in, if any (always one of the model's names).
    pub fn column(&self) -> Option<&str> {
        match self {
            InputError::NotNumeric { column, .. }
            | InputError::NonFinite { column, .. }
            | InputError::NotScalar { column, .. } => Some(column),
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
    max_rows: usize,
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
            max_rows: MAX_ROWS,
        }
    }

    /// The same schema with another row limit (at least 1).
    pub fn with_max_rows(mut self, max_rows: usize) -> Schema {
        self.max_rows = max_rows.max(1);
        self
    }

    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn types(&self) -> &[FeatureType] {
        &self.types
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
                self.number(v, row, col)
            }
        }
    }

    fn number(&self, v: f64, row: usize, col: usize) -> Result<RawValue, InputError> {
        if v.is_finite() {
            Ok(RawValue::Number(v))
        } else {
            Err(InputError::NonFinite {
                row,
                column: self.names[col].clone(),
            })
        }
    }

    /// A JSON number; `text` is how it reads as a category.
    fn json_number(
        &self,
        x: f64,
        text: impl FnOnce() -> String,
        row: usize,
        col: usize,
    ) -> Result<RawValue, InputError> {
        let v = self.number(x, row, col)?;
        match self.types[col] {
            FeatureType::Categorical => Ok(RawValue::Text(text())),
            _ => Ok(v),
        }
    }

    fn json_bool(&self, b: bool, col: usize) -> RawValue {
        match self.types[col] {
            FeatureType::Categorical => RawValue::Text(b.to_string()),
            _ => RawValue::Number(if b { 1.0 } else { 0.0 }),
        }
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

    fn too_many(&self) -> InputError {
        InputError::TooManyRows {
            limit: self.max_rows,
        }
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
            if rows.len() == self.max_rows {
                return Err(self.too_many());
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
        let ctx = Ctx::new(self);
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed = Document(&ctx)
            .deserialize(&mut de)
            .and_then(|rows| de.end().map(|()| rows));
        match parsed {
            Ok(Some(rows)) => Ok(rows),
            Ok(None) => Err(InputError::BadShape),
            Err(e) => Err(ctx.error(&e, e.line())),
        }
    }

    fn parse_json_lines(&self, body: &[u8]) -> Result<Vec<Vec<RawValue>>, InputError> {
        let mut rows = Vec::new();
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if rows.len() == self.max_rows {
                return Err(self.too_many());
            }
            let row = rows.len() + 1;
            let ctx = Ctx::new(self);
            ctx.row.set(row);
            let mut de = serde_json::Deserializer::from_slice(line);
            let parsed = Instance { ctx: &ctx, row }
                .deserialize(&mut de)
                .and_then(|r| de.end().map(|()| r));
            match parsed {
                Ok(r) => rows.push(r),
                Err(e) => return Err(ctx.error(&e, i + 1)),
            }
        }
        Ok(rows)
    }
}

/// Shared state of one streaming JSON parse. Our own errors travel through
/// serde as an opaque custom error; the typed error waits here.
struct Ctx<'s> {
    schema: &'s Schema,
    failure: RefCell<Option<InputError>>,
    /// Row being parsed, for syntax errors.
    row: Cell<usize>,
}

impl<'s> Ctx<'s> {
    fn new(schema: &'s Schema) -> Ctx<'s> {
        Ctx {
            schema,
            failure: RefCell::new(None),
            row: Cell::new(1),
        }
    }

    fn fail<E: de::Error>(&self, e: InputError) -> E {
        *self.failure.borrow_mut() = Some(e);
        E::custom("invalid input")
    }

    fn error(&self, e: &serde_json::Error, line: usize) -> InputError {
        self.failure
            .borrow_mut()
            .take()
            .unwrap_or(InputError::Json {
                row: self.row.get(),
                line,
                col: e.column(),
            })
    }
}

/// The whole document: `None` when it is neither a list nor an object with
/// an `instances` list.
struct Document<'c, 's>(&'c Ctx<'s>);

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = Option<Vec<Vec<RawValue>>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Implements the scalar `visit_*` methods of a visitor as "not the shape
/// we want" (`Ok(None)`), leaving lists and objects to the visitor.
macro_rules! scalars_are_none {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    };
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = Option<Vec<Vec<RawValue>>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of instances or an object with `instances`")
    }
    scalars_are_none!();
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        instances(self.0, seq).map(Some)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // As with a parsed object, the last `instances` key wins.
        let mut found = None;
        while let Some(is_instances) = map.next_key_seed(KeyIs("instances"))? {
            if is_instances {
                found = Some(map.next_value_seed(InstancesValue(self.0))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found.flatten())
    }
}

/// The value of `instances`: `None` unless it is a list.
struct InstancesValue<'c, 's>(&'c Ctx<'s>);

impl<'de> DeserializeSeed<'de> for InstancesValue<'_, '_> {
    type Value = Option<Vec<Vec<RawValue>>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InstancesValue<'_, '_> {
    type Value = Option<Vec<Vec<RawValue>>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of instances")
    }
    scalars_are_none!();
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        instances(self.0, seq).map(Some)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Whether an object key equals a fixed name, without keeping the key.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// An object key resolved against the schema, without keeping the key.
enum Key {
    Feature(usize),
    /// `features`, when the model has no feature of that name.
    Features,
    Unknown,
}

struct KeySeed<'c, 's>(&'c Ctx<'s>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a feature name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match self.0.schema.index.get(v) {
            Some(&col) => Key::Feature(col),
            None if v == "features" => Key::Features,
            None => Key::Unknown,
        })
    }
}

/// One element of the top-level list: a scalar (of a flat one-row list) or
/// a whole instance.
enum Element {
    /// The value converted for column `index` (when within the width).
    Scalar(Option<Result<RawValue, InputError>>),
    Row(Vec<RawValue>),
}

struct ElementSeed<'c, 's> {
    ctx: &'c Ctx<'s>,
    /// 0-based position in the list: the row of an instance, the column of
    /// a scalar.
    index: usize,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, '_> {
    type Value = Element;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Element, D::Error> {
        d.deserialize_any(self)
    }
}

impl ElementSeed<'_, '_> {
    fn scalar(&self, f: impl FnOnce(&Schema, usize) -> Result<RawValue, InputError>) -> Element {
        let s = self.ctx.schema;
        Element::Scalar((self.index < s.width()).then(|| f(s, self.index)))
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_, '_> {
    type Value = Element;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an instance or a value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Element, E> {
        Ok(self.scalar(|s, col| Ok(s.json_bool(v, col))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Element, E> {
        Ok(self.scalar(|s, col| s.json_number(v as f64, || v.to_string(), 1, col)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Element, E> {
        Ok(self.scalar(|s, col| s.json_number(v as f64, || v.to_string(), 1, col)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Element, E> {
        Ok(self.scalar(|s, col| s.json_number(v, || float_text(v), 1, col)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Element, E> {
        Ok(self.scalar(|s, col| s.cell(v, 1, col)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Element, E> {
        Ok(self.scalar(|_, _| Ok(RawValue::Missing)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
        let row = self.index + 1;
        values(self.ctx, seq, row).map(Element::Row)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Element, A::Error> {
        let row = self.index + 1;
        object(self.ctx, map, row).map(Element::Row)
    }
}

/// How a JSON float reads as a category (as `serde_json` prints it).
fn float_text(v: f64) -> String {
    serde_json::Number::from_f64(v)
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// The top-level list: instances, or a flat list of scalars that is one row.
fn instances<'de, A: SeqAccess<'de>>(
    ctx: &Ctx<'_>,
    mut seq: A,
) -> Result<Vec<Vec<RawValue>>, A::Error> {
    let schema = ctx.schema;
    let mut rows = Vec::new();
    let mut flat: Option<(Vec<RawValue>, Option<InputError>)> = None;
    let mut count = 0;
    loop {
        if flat.is_none() {
            if rows.len() == schema.max_rows {
                // One more instance would be over the limit; a closing
                // bracket is fine.
                return match seq.next_element::<IgnoredAny>()? {
                    None => Ok(rows),
                    Some(_) => Err(ctx.fail(schema.too_many())),
                };
            }
            ctx.row.set(count + 1);
        }
        let Some(e) = seq.next_element_seed(ElementSeed { ctx, index: count })? else {
            break;
        };
        count += 1;
        match (e, &mut flat) {
            (Element::Scalar(v), Some((cells, first_err))) => {
                if let Some(v) = v {
                    match v {
                        Ok(v) => cells.push(v),
                        Err(e) => {
                            first_err.get_or_insert(e);
                            cells.push(RawValue::Missing);
                        }
                    }
                }
            }
            (Element::Scalar(v), None) if count == 1 => {
                let mut cells = Vec::with_capacity(schema.width());
                let mut first_err = None;
                match v {
                    Some(Ok(v)) => cells.push(v),
                    Some(Err(e)) => {
                        first_err = Some(e);
                        cells.push(RawValue::Missing);
                    }
                    None => {}
                }
                flat = Some((cells, first_err));
            }
            (Element::Scalar(_), None) => {
                return Err(ctx.fail(InputError::BadInstance { row: count }));
            }
            (Element::Row(_), Some(_)) => return Err(ctx.fail(InputError::BadInstance { row: 1 })),
            (Element::Row(r), None) => rows.push(r),
        }
    }
    match flat {
        Some((_, _)) if count != schema.width() => Err(ctx.fail(InputError::WrongWidth {
            row: 1,
            got: count,
            expected: schema.width(),
        })),
        Some((_, Some(e))) => Err(ctx.fail(e)),
        Some((cells, None)) => Ok(vec![cells]),
        None => Ok(rows),
    }
}

/// One instance on its own (a JSON-lines line).
struct Instance<'c, 's> {
    ctx: &'c Ctx<'s>,
    row: usize,
}

impl<'de> DeserializeSeed<'de> for Instance<'_, '_> {
    type Value = Vec<RawValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Instance<'_, '_> {
    type Value = Vec<RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an instance")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.ctx.fail(InputError::BadInstance { row: self.row }))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.ctx.fail(InputError::BadInstance { row: self.row }))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.ctx.fail(InputError::BadInstance { row: self.row }))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.ctx.fail(InputError::BadInstance { row: self.row }))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.ctx.fail(InputError::BadInstance { row: self.row }))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.ctx.fail(InputError::BadInstance { row: self.row }))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        values(self.ctx, seq, self.row)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        object(self.ctx, map, self.row)
    }
}

/// One feature value, converted as it is read. A value that does not
/// convert is `Ok(Err(..))`, so a list can still be counted to its end (the
/// width is reported first, as for CSV); a nested list or object stops the
/// parse, as the rest of it cannot be skipped.
struct ValueSeed<'c, 's> {
    ctx: &'c Ctx<'s>,
    row: usize,
    col: usize,
}

type Converted = Result<RawValue, InputError>;

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Converted;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Converted, D::Error> {
        d.deserialize_any(self)
    }
}

impl ValueSeed<'_, '_> {
    fn not_scalar<E: de::Error>(&self) -> E {
        self.ctx.fail(InputError::NotScalar {
            row: self.row,
            column: self.ctx.schema.names[self.col].clone(),
        })
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Converted;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a feature value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Converted, E> {
        Ok(Ok(self.ctx.schema.json_bool(v, self.col)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Converted, E> {
        let s = self.ctx.schema;
        Ok(s.json_number(v as f64, || v.to_string(), self.row, self.col))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Converted, E> {
        let s = self.ctx.schema;
        Ok(s.json_number(v as f64, || v.to_string(), self.row, self.col))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Converted, E> {
        let s = self.ctx.schema;
        Ok(s.json_number(v, || float_text(v), self.row, self.col))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Converted, E> {
        Ok(self.ctx.schema.cell(v, self.row, self.col))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Converted, E> {
        Ok(Ok(RawValue::Missing))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Converted, A::Error> {
        Err(self.not_scalar())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Converted, A::Error> {
        Err(self.not_scalar())
    }
}

/// A list of values in feature order; values past the width are counted,
/// not kept.
fn values<'de, A: SeqAccess<'de>>(
    ctx: &Ctx<'_>,
    mut seq: A,
    row: usize,
) -> Result<Vec<RawValue>, A::Error> {
    let width = ctx.schema.width();
    let mut out = Vec::with_capacity(width);
    let mut first_err = None;
    let mut count = 0;
    loop {
        if count < width {
            match seq.next_element_seed(ValueSeed {
                ctx,
                row,
                col: count,
            })? {
                Some(Ok(v)) => out.push(v),
                Some(Err(e)) => {
                    first_err.get_or_insert(e);
                    out.push(RawValue::Missing);
                }
                None => break,
            }
        } else if seq.next_element::<IgnoredAny>()?.is_none() {
            break;
        }
        count += 1;
    }
    if count != width {
        return Err(ctx.fail(InputError::WrongWidth {
            row,
            got: count,
            expected: width,
        }));
    }
    match first_err {
        Some(e) => Err(ctx.fail(e)),
        None => Ok(out),
    }
}

/// An object keyed by feature name, or `{"features": [...]}`.
fn object<'de, A: MapAccess<'de>>(
    ctx: &Ctx<'_>,
    mut map: A,
    row: usize,
) -> Result<Vec<RawValue>, A::Error> {
    let mut out = vec![RawValue::Missing; ctx.schema.width()];
    let mut field = 0;
    while let Some(key) = map.next_key_seed(KeySeed(ctx))? {
        field += 1;
        match key {
            Key::Feature(col) => {
                out[col] = map
                    .next_value_seed(ValueSeed { ctx, row, col })?
                    .map_err(|e| ctx.fail(e))?;
            }
            Key::Features if field == 1 => {
                let list = map.next_value_seed(FeaturesValue { ctx, row })?;
                // Only a lone `features` list is the list form.
                match (list, map.next_key_seed(KeySeed(ctx))?) {
                    (Some(values), None) => return Ok(values),
                    (Some(_), Some(_)) | (None, _) => {
                        return Err(ctx.fail(InputError::UnknownFeature { row, field: 1 }));
                    }
                }
            }
            Key::Features | Key::Unknown => {
                return Err(ctx.fail(InputError::UnknownFeature { row, field }));
            }
        }
    }
    Ok(out)
}

/// The value of `features`: the row when it is a list, else `None`.
struct FeaturesValue<'c, 's> {
    ctx: &'c Ctx<'s>,
    row: usize,
}

impl<'de> DeserializeSeed<'de> for FeaturesValue<'_, '_> {
    type Value = Option<Vec<RawValue>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FeaturesValue<'_, '_> {
    type Value = Option<Vec<RawValue>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of values")
    }
    scalars_are_none!();
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        values(self.ctx, seq, self.row).map(Some)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
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
            Err(InputError::UnknownFeature { row: 1, field: 2 })
        );
        // The supplied key is never part of the message.
        let e = s
            .parse(br#"[{"age": 54, "XMARKERX": 3}]"#, InputFormat::Json)
            .unwrap_err();
        assert!(!e.to_string().contains("XMARKERX"), "{e}");
        assert_eq!(
            s.parse(
                br#"[{"features": [1, "F", 1], "age": 2}]"#,
                InputFormat::Json
            ),
            Err(InputError::UnknownFeature { row: 1, field: 1 })
        );
        assert_eq!(
            s.parse(
                br#"{"other": [[1]], "instances": [[1, "F", 1]]}"#,
                InputFormat::Json
            )
            .unwrap()
            .len(),
            1
        );
        assert_eq!(
            s.parse(br#"{"instances": 3}"#, InputFormat::Json),
            Err(InputError::BadShape)
        );
        assert_eq!(
            s.parse(br#"5"#, InputFormat::Json),
            Err(InputError::BadShape)
        );
        assert_eq!(
            s.parse(br#"[1, "F"]"#, InputFormat::Json),
            Err(InputError::WrongWidth {
                row: 1,
                got: 2,
                expected: 3
            })
        );
        assert_eq!(
            s.parse(br#"[[1, "F", 1], 3]"#, InputFormat::Json),
            Err(InputError::BadInstance { row: 2 })
        );
        // Width is reported before a bad value, as for CSV.
        assert_eq!(
            s.parse(br#"[["x", "F", 1, 4]]"#, InputFormat::Json),
            Err(InputError::WrongWidth {
                row: 1,
                got: 4,
                expected: 3
            })
        );
        assert_eq!(
            s.parse(br#"[[1, 2.5, 1]]"#, InputFormat::Json).unwrap()[0][1],
            RawValue::Text("2.5".into())
        );
        assert!(matches!(
            s.parse(br#"[[1, "F", 1]] x"#, InputFormat::Json),
            Err(InputError::Json { .. })
        ));
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
        // Deep nesting is refused without deep recursion.
        let deep = "[".repeat(100_000);
        assert!(matches!(
            s.parse(deep.as_bytes(), InputFormat::Json),
            Err(InputError::NotScalar { row: 1, .. })
        ));
        let deep = format!("{{\"x\":{}", "{\"x\":".repeat(100_000));
        assert!(matches!(
            s.parse(deep.as_bytes(), InputFormat::Json),
            Err(InputError::Json { .. })
        ));
    }

    #[test]
    fn row_limit_in_every_format() {
        let s = schema().with_max_rows(3);
        let csv3 = "1,F,1\n".repeat(3);
        assert_eq!(s.parse(csv3.as_bytes(), InputFormat::Csv).unwrap().len(), 3);
        let too_many = Err(InputError::TooManyRows { limit: 3 });
        let csv4 = "1,F,1\n".repeat(4);
        assert_eq!(s.parse(csv4.as_bytes(), InputFormat::Csv), too_many);
        let json3 = format!("[{}]", ["{}"; 3].join(","));
        assert_eq!(
            s.parse(json3.as_bytes(), InputFormat::Json).unwrap().len(),
            3
        );
        let json4 = format!("{{\"instances\": [{}]}}", ["{}"; 4].join(","));
        assert_eq!(s.parse(json4.as_bytes(), InputFormat::Json), too_many);
        let lines4 = "{}\n".repeat(4);
        assert_eq!(s.parse(lines4.as_bytes(), InputFormat::JsonLines), too_many);
    }

    #[test]
    fn millions_of_empty_objects_stop_at_the_limit() {
        // 6 MiB of `{},`: two million instances. Parsing must stop at the
        // limit rather than build every row (which took 1.3 GB).
        let s = schema();
        let n = 6 * 1024 * 1024 / 3;
        let mut body = Vec::with_capacity(n * 3 + 2);
        body.push(b'[');
        for i in 0..n {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{}");
        }
        body.push(b']');
        let start = std::time::Instant::now();
        assert_eq!(
            s.parse(&body, InputFormat::Json),
            Err(InputError::TooManyRows { limit: MAX_ROWS })
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        // A flat list of millions of scalars is one (wrong-width) row, counted
        // without keeping the values.
        let flat = format!("[{}]", vec!["1"; 2_000_000].join(","));
        assert_eq!(
            s.parse(flat.as_bytes(), InputFormat::Json),
            Err(InputError::WrongWidth {
                row: 1,
                got: 2_000_000,
                expected: 3
            })
        );
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
