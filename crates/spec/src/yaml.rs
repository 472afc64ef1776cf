//! YAML in and out, with positions.
//!
//! Specs and CloudFormation templates are read into `serde_json::Value` (so one
//! JSON Schema validator and one set of serde types serve both YAML and JSON),
//! while every node's place in the source is kept in a side table keyed by
//! JSON pointer. Errors found later on the value (schema, semantics, audit)
//! look their pointer up and point into the user's file.
//!
//! Parsing uses `saphyr` (YAML 1.2, maintained, exposes spans); `serde_yaml`
//! is archived. Emission is our own small canonical writer: one style for
//! every file, so rendered stacks diff cleanly.

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

/// A byte range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    /// 1-based line and column, for messages.
    pub line: usize,
    pub col: usize,
}

impl Default for Span {
    /// The start of the file.
    fn default() -> Self {
        Span {
            offset: 0,
            len: 0,
            line: 1,
            col: 1,
        }
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.offset, span.len).into()
    }
}

/// Where a node sits: the value and, for mapping entries, its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub key: Option<Span>,
    pub value: Span,
}

/// A parsed YAML document: its value and where each node came from.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    /// JSON pointer (`/data/features/0/name`) → location.
    pub locations: BTreeMap<String, Location>,
}

impl Document {
    /// The location of the node at `pointer`, or of its nearest ancestor.
    pub fn locate(&self, pointer: &str) -> Location {
        let mut p = pointer;
        loop {
            if let Some(loc) = self.locations.get(p) {
                return *loc;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Location::default(),
            }
        }
    }

    /// Span of the key at `pointer` if it is a mapping entry, else of the value.
    pub fn key_span(&self, pointer: &str) -> Span {
        let loc = self.locate(pointer);
        loc.key.unwrap_or(loc.value)
    }

    pub fn value_span(&self, pointer: &str) -> Span {
        self.locate(pointer).value
    }
}

#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("{message}")]
    Syntax { message: String, span: Span },
    #[error("the file holds no YAML document")]
    Empty,
    #[error("the file holds {0} YAML documents; one is expected")]
    MultipleDocuments(usize),
}

impl YamlError {
    pub fn span(&self) -> Span {
        match self {
            YamlError::Syntax { span, .. } => *span,
            _ => Span::default(),
        }
    }
}

/// Maps saphyr's character positions to byte offsets.
struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    /// Lines of ASCII only, where a character column is a byte column.
    ascii: Vec<bool>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let ascii = line_starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let end = line_starts.get(i + 1).copied().unwrap_or(text.len());
                text.as_bytes()[start..end].is_ascii()
            })
            .collect();
        LineIndex {
            text,
            line_starts,
            ascii,
        }
    }

    /// Byte offset of (1-based line, 0-based char column).
    fn offset(&self, line: usize, col: usize) -> usize {
        let i = line.saturating_sub(1);
        let Some(&start) = self.line_starts.get(i) else {
            return self.text.len();
        };
        if self.ascii[i] {
            return (start + col).min(self.text.len());
        }
        let rest = &self.text[start..];
        rest.char_indices()
            .nth(col)
            .map(|(i, _)| start + i)
            .unwrap_or(self.text.len())
    }

    fn span(&self, span: &saphyr_parser::Span) -> Span {
        let (s, e) = (span.start, span.end);
        let offset = self.offset(s.line(), s.col());
        let mut end = self.offset(e.line(), e.col());
        if end < offset {
            end = offset;
        }
        // Block scalars and collections end on the next line; trim trailing space for labels.
        let len = self.text[offset..end].trim_end().len();
        Span {
            offset,
            len,
            line: s.line(),
            col: s.col() + 1,
        }
    }
}

/// Parse one YAML document into a JSON value with locations.
///
/// CloudFormation short forms (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) become
/// their long forms, so hand-written templates read like rendered ones.
pub fn parse(text: &str) -> Result<Document, YamlError> {
    let mut locations = BTreeMap::new();
    let value = load(text, Some(&mut locations))?;
    Ok(Document { value, locations })
}

/// Like [`parse`], without the table of locations (errors still carry one):
/// for text dxops wrote itself and only reads back.
pub fn parse_value(text: &str) -> Result<Value, YamlError> {
    load(text, None)
}

fn load(
    text: &str,
    locations: Option<&mut BTreeMap<String, Location>>,
) -> Result<Value, YamlError> {
    let index = LineIndex::new(text);
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        let offset = index.offset(m.line(), m.col());
        YamlError::Syntax {
            message: format!("YAML syntax: {}", e.info()),
            span: Span {
                offset,
                len: 0,
                line: m.line(),
                col: m.col() + 1,
            },
        }
    })?;
    match docs.len() {
        0 => Err(YamlError::Empty),
        1 => {
            let mut converter = Converter { index, locations };
            converter.convert(&docs[0], String::new(), None)
        }
        n => Err(YamlError::MultipleDocuments(n)),
    }
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Walks saphyr's tree into a JSON value, recording locations when asked.
struct Converter<'a, 'm> {
    index: LineIndex<'a>,
    locations: Option<&'m mut BTreeMap<String, Location>>,
}

impl Converter<'_, '_> {
    fn tracking(&self) -> bool {
        self.locations.is_some()
    }

    fn convert(
        &mut self,
        node: &MarkedYaml,
        pointer: String,
        key: Option<Span>,
    ) -> Result<Value, YamlError> {
        let span = self.index.span(&node.span);
        if let Some(locations) = self.locations.as_deref_mut() {
            locations.insert(pointer.clone(), Location { key, value: span });
        }
        let bad = |message: String| YamlError::Syntax { message, span };
        Ok(match &node.data {
            YamlData::Value(scalar) => scalar_to_json(scalar).map_err(bad)?,
            YamlData::Representation(text, _, _) => Value::String(text.to_string()),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let child = if self.tracking() {
                        format!("{pointer}/{i}")
                    } else {
                        String::new()
                    };
                    out.push(self.convert(item, child, None)?);
                }
                Value::Array(out)
            }
            YamlData::Mapping(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let name = key_text(k).map_err(bad)?;
                    let (child, key_span) = if self.tracking() {
                        (
                            format!("{pointer}/{}", escape_pointer(&name)),
                            Some(self.index.span(&k.span)),
                        )
                    } else {
                        (String::new(), None)
                    };
                    let value = self.convert(v, child, key_span)?;
                    map.insert(name, value);
                }
                Value::Object(map)
            }
            YamlData::Tagged(tag, inner) => {
                let inner = self.convert(inner, pointer, key)?;
                cloudformation_tag(&tag.handle, &tag.suffix, inner).map_err(bad)?
            }
            YamlData::Alias(_) => {
                return Err(bad(
                    "YAML aliases are not supported; write the value out".into()
                ));
            }
            YamlData::BadValue => {
                return Err(bad(
                    "this value cannot be read as the type its tag names".into()
                ));
            }
        })
    }
}

fn scalar_to_json(scalar: &Scalar) -> Result<Value, String> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Value::Number(
            Number::from_f64(f.into_inner())
                .ok_or_else(|| format!("{} is not a finite number", f.into_inner()))?,
        ),
        Scalar::String(s) => Value::String(s.to_string()),
    })
}

fn key_text(key: &MarkedYaml) -> Result<String, String> {
    match &key.data {
        YamlData::Value(Scalar::String(s)) => Ok(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Ok(i.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Ok(b.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Ok(f.to_string()),
        YamlData::Value(Scalar::Null) => Ok("null".into()),
        YamlData::Representation(s, _, _) => Ok(s.to_string()),
        _ => Err("mapping keys must be plain scalars".into()),
    }
}

/// `!Ref X` → `{"Ref": X}`, `!GetAtt A.B` → `{"Fn::GetAtt": [A, B]}`, `!Sub s` → `{"Fn::Sub": s}`.
fn cloudformation_tag(handle: &str, suffix: &str, inner: Value) -> Result<Value, String> {
    if handle != "!" {
        return Err(format!("unsupported YAML tag {handle}{suffix}"));
    }
    let one = |k: &str, v: Value| Value::Object(Map::from_iter([(k.to_string(), v)]));
    Ok(match suffix {
        "Ref" => one("Ref", inner),
        "Condition" => one("Condition", inner),
        "GetAtt" => match inner {
            Value::String(s) => match s.split_once('.') {
                Some((a, b)) => one("Fn::GetAtt", Value::Array(vec![a.into(), b.into()])),
                None => return Err(format!("!GetAtt {s}: expected Resource.Attribute")),
            },
            other => one("Fn::GetAtt", other),
        },
        "Base64" | "Cidr" | "FindInMap" | "GetAZs" | "ImportValue" | "Join" | "Select"
        | "Split" | "Sub" | "Transform" | "And" | "Equals" | "If" | "Not" | "Or" | "Length"
        | "ToJsonString" => one(&format!("Fn::{suffix}"), inner),
        other => return Err(format!("unsupported YAML tag !{other}")),
    })
}

/// Write a value as YAML in the one canonical style used for all rendered
/// files: two-space indent, block collections, keys in the value's order,
/// strings quoted only when a plain scalar would read back differently.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, map: &Map<String, Value>, depth: usize) {
    for (i, (k, v)) in map.iter().enumerate() {
        // A blank line between sections and between their entries (resources, outputs) eases review.
        if i > 0 && depth <= 2 && out.ends_with('\n') && !out.ends_with(":\n") {
            out.push('\n');
        }
        if i > 0 || depth == 0 {
            indent(out, depth);
        }
        out.push_str(&quote_if_needed(k));
        out.push(':');
        write_child(out, v, depth);
    }
}

fn write_seq(out: &mut String, seq: &[Value], depth: usize) {
    for (i, v) in seq.iter().enumerate() {
        if i > 0 || depth == 0 {
            indent(out, depth);
        }
        out.push_str("- ");
        match v {
            // A mapping item starts on the dash's line and continues two deeper.
            Value::Object(m) if !m.is_empty() => write_map(out, m, depth + 2),
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                indent(out, depth + 2);
                write_seq(out, a, depth + 2)
            }
            scalar => {
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn write_child(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            indent(out, depth + 2);
            write_map(out, m, depth + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            indent(out, depth);
            write_seq(out, a, depth);
        }
        Value::String(s) if s.contains('\n') => {
            // Literal block keeps multi-line text (scripts, policies) readable in diffs.
            out.push_str(if s.ends_with('\n') { " |\n" } else { " |-\n" });
            for line in s.trim_end_matches('\n').split('\n') {
                if !line.is_empty() {
                    indent(out, depth + 2);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_if_needed(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Plain when the text would read back as the same string, double-quoted otherwise.
fn quote_if_needed(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:()*$@,+=<> ".contains(c))
        && !s.starts_with(|c: char| "-:?,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !looks_like_non_string(s);
    if plain_safe {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string always serializes")
    }
}

fn looks_like_non_string(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "null"
            | "~"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".nan"
            | ".inf"
            | "-.inf"
    ) || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
        || s.chars().next().is_some_and(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn locations_point_at_keys_and_values() {
        let doc = parse("a:\n  b: 1\n  list:\n    - x: y\n").unwrap();
        assert_eq!(doc.value, json!({"a": {"b": 1, "list": [{"x": "y"}]}}));
        let b = doc.locate("/a/b");
        assert_eq!((b.key.unwrap().line, b.key.unwrap().col), (2, 3));
        assert_eq!((b.value.line, b.value.col), (2, 6));
        let x = doc.key_span("/a/list/0/x");
        assert_eq!((x.line, x.col), (4, 7));
        // Unknown pointers fall back to the nearest ancestor.
        assert_eq!(doc.locate("/a/b/zzz"), b);
    }

    #[test]
    fn cloudformation_short_forms_become_long_forms() {
        let doc = parse("A: !Ref B\nC: !GetAtt D.Arn\nE: !Sub '${X}'\n").unwrap();
        assert_eq!(
            doc.value,
            json!({"A": {"Ref": "B"}, "C": {"Fn::GetAtt": ["D", "Arn"]}, "E": {"Fn::Sub": "${X}"}})
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(matches!(err, YamlError::Syntax { .. }));
        assert!(err.span().line >= 1);
    }

    #[test]
    fn emitted_yaml_reads_back_identically() {
        let v = json!({
            "s": ["plain", "true", "1.5", "007", "", "a: b", "#x", "- y", "multi\nline\n", "multi\nno-end",
                  "arn:aws:s3:::b/*", "${AWS::Region}", "on", "x #y", " lead", "trail "],
            "n": [1, -2, 3.5, null, true],
            "nested": {"empty_map": {}, "empty_list": [], "list_of_lists": [[1, 2], [{"k": "v"}]]},
            "weird key: x": 1,
        });
        let text = to_string(&v);
        assert_eq!(parse(&text).unwrap().value, v, "emitted:\n{text}");
    }
}
