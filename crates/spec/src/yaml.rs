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
    #[error(
        "{what} at line {line}, column {col}: more than {limit} (a spec or template needs far fewer)"
    )]
    TooLarge {
        what: &'static str,
        limit: usize,
        line: usize,
        col: usize,
        offset: usize,
    },
}

impl YamlError {
    pub fn span(&self) -> Span {
        match self {
            YamlError::Syntax { span, .. } => *span,
            YamlError::TooLarge {
                line, col, offset, ..
            } => Span {
                offset: *offset,
                len: 0,
                line: *line,
                col: *col,
            },
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
    // Rendered templates are plain YAML: build the value straight from the
    // parser's events, without saphyr's node tree. Anything the direct path
    // does not handle (anchors, errors, several documents) takes the full
    // path, so results and error messages are exactly `parse`'s.
    let mut direct = Direct::default();
    let ok = saphyr_parser::Parser::new_from_str(text)
        .load(&mut direct, true)
        .is_ok();
    match direct.finish() {
        Some(value) if ok => Ok(value),
        _ => load(text, None),
    }
}

/// Builds a value from parser events, as [`Converter`] would from saphyr's
/// tree; gives up (`failed`) on whatever it does not mirror exactly.
#[derive(Default)]
struct Direct {
    stack: Vec<Frame>,
    root: Option<Value>,
    documents: usize,
    failed: bool,
}

type CowTag<'a> = Option<std::borrow::Cow<'a, saphyr_parser::Tag>>;

enum Frame {
    Seq(Vec<Value>, Option<saphyr_parser::Tag>),
    /// The mapping so far, and the key waiting for its value.
    Map(
        Map<String, Value>,
        Option<String>,
        Option<saphyr_parser::Tag>,
    ),
}

impl Direct {
    fn finish(self) -> Option<Value> {
        (!self.failed && self.documents == 1 && self.stack.is_empty())
            .then_some(self.root)
            .flatten()
    }

    /// A tag the result keeps (saphyr drops core-schema tags on collections).
    fn own_tag(tag: CowTag<'_>) -> Option<saphyr_parser::Tag> {
        tag.filter(|t| !t.is_yaml_core_schema())
            .map(std::borrow::Cow::into_owned)
    }

    fn tagged(&mut self, tag: Option<saphyr_parser::Tag>, value: Value) -> Option<Value> {
        match tag {
            None => Some(value),
            Some(t) => cloudformation_tag(&t.handle, &t.suffix, value).ok(),
        }
    }

    /// Place a finished value in its parent, or make it the document.
    fn place(&mut self, value: Value) {
        match self.stack.last_mut() {
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, _)) => match key.take() {
                // A duplicate key is an error, or not, by saphyr's own equality.
                Some(k) if !map.contains_key(&k) => {
                    map.insert(k, value);
                }
                _ => self.failed = true,
            },
            None if self.root.is_none() => self.root = Some(value),
            None => self.failed = true,
        }
    }

    fn scalar(
        &mut self,
        v: std::borrow::Cow<'_, str>,
        style: saphyr_parser::ScalarStyle,
        tag: CowTag<'_>,
    ) {
        let wants_key = matches!(self.stack.last(), Some(Frame::Map(_, None, _)));
        let custom = tag.as_ref().is_some_and(|t| !t.is_yaml_core_schema());
        let Some(scalar) =
            Scalar::parse_from_cow_and_metadata(v, style, if custom { None } else { tag.as_ref() })
        else {
            self.failed = true;
            return;
        };
        if wants_key {
            let key = match (&scalar, custom) {
                (_, true) => None,
                (Scalar::String(s), _) => Some(s.to_string()),
                (Scalar::Integer(i), _) => Some(i.to_string()),
                (Scalar::Boolean(b), _) => Some(b.to_string()),
                (Scalar::FloatingPoint(f), _) => Some(f.to_string()),
                (Scalar::Null, _) => Some("null".into()),
            };
            match (key, self.stack.last_mut()) {
                (Some(k), Some(Frame::Map(_, slot, _))) => *slot = Some(k),
                _ => self.failed = true,
            }
            return;
        }
        let value = scalar_to_json(&scalar)
            .ok()
            .and_then(|value| self.tagged(Direct::own_tag(tag), value));
        match value {
            Some(value) => self.place(value),
            None => self.failed = true,
        }
    }
}

impl<'input> saphyr_parser::EventReceiver<'input> for Direct {
    fn on_event(&mut self, ev: saphyr_parser::Event<'input>) {
        use saphyr_parser::Event;
        if self.failed {
            return;
        }
        if matches!(self.stack.last(), Some(Frame::Map(_, None, _)))
            && matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..))
        {
            // A collection as a key: saphyr's tree, then an error.
            self.failed = true;
            return;
        }
        match ev {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) => {}
            Event::DocumentEnd => self.documents += 1,
            Event::Alias(_) => self.failed = true,
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor > 0 =>
            {
                self.failed = true
            }
            Event::Scalar(v, style, _, tag) => self.scalar(v, style, tag),
            Event::SequenceStart(_, tag) => self
                .stack
                .push(Frame::Seq(Vec::new(), Direct::own_tag(tag))),
            Event::MappingStart(_, tag) => {
                self.stack
                    .push(Frame::Map(Map::new(), None, Direct::own_tag(tag)))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, tag) = match self.stack.pop() {
                    Some(Frame::Seq(items, tag)) => (Value::Array(items), tag),
                    Some(Frame::Map(map, None, tag)) => (Value::Object(map), tag),
                    _ => {
                        self.failed = true;
                        return;
                    }
                };
                match self.tagged(tag, value) {
                    Some(value) => self.place(value),
                    None => self.failed = true,
                }
            }
        }
    }
}

/// Collections nested deeper than this are refused before any tree is
/// built: the deepest spec key is six levels down, and the tree builders,
/// the schema validator and `Drop` all recurse.
pub const MAX_DEPTH: usize = 64;
/// Aliases (`*name`) a document may use: each can copy a whole subtree.
pub const MAX_ALIASES: usize = 64;
/// Largest document read: four times CloudFormation's own template limit.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// Counts nesting and aliases from the parser's events, which need no
/// recursion, and stops reading at the first excess.
fn check_bounds(text: &str, index: &LineIndex<'_>) -> Result<(), YamlError> {
    use saphyr_parser::Event;
    if text.len() > MAX_BYTES {
        return Err(YamlError::TooLarge {
            what: "bytes",
            limit: MAX_BYTES,
            line: 1,
            col: 1,
            offset: 0,
        });
    }
    let (mut depth, mut aliases) = (0usize, 0usize);
    for item in saphyr_parser::Parser::new_from_str(text) {
        // Syntax errors are left to the loader, which reports them in full.
        let Ok((ev, span)) = item else { return Ok(()) };
        let excess = match ev {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                (depth > MAX_DEPTH).then_some(("collections nested", MAX_DEPTH))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                depth = depth.saturating_sub(1);
                None
            }
            Event::Alias(_) => {
                aliases += 1;
                (aliases > MAX_ALIASES).then_some(("aliases", MAX_ALIASES))
            }
            _ => None,
        };
        if let Some((what, limit)) = excess {
            let m = span.start;
            return Err(YamlError::TooLarge {
                what,
                limit,
                line: m.line(),
                col: m.col() + 1,
                offset: index.offset(m.line(), m.col()),
            });
        }
    }
    Ok(())
}

fn load(
    text: &str,
    locations: Option<&mut BTreeMap<String, Location>>,
) -> Result<Value, YamlError> {
    let index = LineIndex::new(text);
    check_bounds(text, &index)?;
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
    let mut w = Writer::new(false);
    w.value(value);
    w.out
}

/// Like [`to_string`], plus the [`Document`] that [`parse`] would read back
/// from the text, so a caller that needs both skips the parse. `None` when
/// the value holds something whose reading back the writer does not vouch
/// for (a multi-line string a literal block would not keep as is, say):
/// parse the text then.
pub fn to_document(value: Value) -> (String, Option<Document>) {
    let mut w = Writer::new(true);
    w.value(&value);
    let doc = w.locations.map(|locations| Document { value, locations });
    (w.out, doc)
}

/// The canonical writer; when tracking, it records each node's location as
/// the parser would report it (1-based line, char column, byte offset, length
/// trimmed of trailing space).
struct Writer {
    out: String,
    /// Locations so far; `None` when not tracking or no longer vouched for.
    locations: Option<BTreeMap<String, Location>>,
    /// JSON pointer of the node being written (kept only when tracking).
    pointer: String,
    /// Bytes of `out` already scanned for line starts.
    scanned: usize,
    line: usize,
    line_start: usize,
}

impl Writer {
    fn new(track: bool) -> Self {
        Writer {
            out: String::with_capacity(16 * 1024),
            locations: track.then(BTreeMap::new),
            pointer: String::new(),
            scanned: 0,
            line: 1,
            line_start: 0,
        }
    }

    fn tracking(&self) -> bool {
        self.locations.is_some()
    }

    /// Stop vouching for locations (the text itself is still canonical).
    fn give_up(&mut self) {
        self.locations = None;
    }

    /// The position of the end of `out`, where a node is about to start.
    /// Calls come in increasing order, so line counting is incremental.
    fn here(&mut self) -> Span {
        let offset = self.out.len();
        let fresh = &self.out.as_bytes()[self.scanned..];
        if let Some(last) = fresh.iter().rposition(|b| *b == b'\n') {
            self.line += fresh.iter().filter(|b| **b == b'\n').count();
            self.line_start = self.scanned + last + 1;
        }
        self.scanned = offset;
        let line = &self.out[self.line_start..];
        let col = if line.is_ascii() {
            line.len()
        } else {
            line.chars().count()
        };
        Span {
            offset,
            len: 0,
            line: self.line,
            col: col + 1,
        }
    }

    /// Record the node at the current pointer, started at `span`, ending at the end of `out`.
    fn record(&mut self, key: Option<Span>, mut span: Span) {
        let Some(locations) = self.locations.as_mut() else {
            return;
        };
        let text = self.out[span.offset..].trim_end();
        // The parser's span of an empty flow collection ends at its closing bracket.
        span.len = if text == "{}" || text == "[]" {
            1
        } else {
            text.len()
        };
        locations.insert(self.pointer.clone(), Location { key, value: span });
    }

    /// Descend into `token`; returns the pointer length to come back to.
    fn enter(&mut self, token: &str) -> usize {
        let back = self.pointer.len();
        if self.tracking() {
            self.pointer.push('/');
            if token.contains(['~', '/']) {
                self.pointer.push_str(&escape_pointer(token));
            } else {
                self.pointer.push_str(token);
            }
        }
        back
    }

    fn indent(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    fn value(&mut self, value: &Value) {
        let start = self.here();
        match value {
            Value::Object(m) if !m.is_empty() => self.map(m, 0),
            Value::Array(a) if !a.is_empty() => {
                // Templates are mappings; a top-level sequence is not modelled.
                self.give_up();
                self.seq(a, 0)
            }
            scalar => {
                self.scalar(scalar);
                self.out.push('\n');
            }
        }
        self.record(None, start);
    }

    fn map(&mut self, map: &Map<String, Value>, depth: usize) {
        for (i, (k, v)) in map.iter().enumerate() {
            // A blank line between sections and between their entries (resources, outputs) eases review.
            if i > 0 && depth <= 2 && self.out.ends_with('\n') && !self.out.ends_with(":\n") {
                self.out.push('\n');
            }
            if i > 0 || depth == 0 {
                self.indent(depth);
            }
            let key_start = self.tracking().then(|| self.here());
            write_quoted(&mut self.out, k);
            let key = key_start.map(|s| Span {
                len: self.out.len() - s.offset,
                ..s
            });
            self.out.push(':');
            let back = self.enter(k);
            self.child(v, depth, key);
            self.pointer.truncate(back);
        }
    }

    fn seq(&mut self, seq: &[Value], depth: usize) {
        for (i, v) in seq.iter().enumerate() {
            if i > 0 || depth == 0 {
                self.indent(depth);
            }
            self.out.push_str("- ");
            let back = if self.tracking() {
                self.enter(&i.to_string())
            } else {
                self.pointer.len()
            };
            match v {
                // A mapping item starts on the dash's line and continues two deeper.
                Value::Object(m) if !m.is_empty() => {
                    let start = self.here();
                    self.map(m, depth + 2);
                    self.record(None, start);
                }
                Value::Array(a) if !a.is_empty() => {
                    self.out.push('\n');
                    self.indent(depth + 2);
                    let start = self.here();
                    self.seq(a, depth + 2);
                    self.record(None, start);
                }
                scalar => {
                    let start = self.here();
                    self.scalar(scalar);
                    self.record(None, start);
                    self.out.push('\n');
                }
            }
            self.pointer.truncate(back);
        }
    }

    fn child(&mut self, v: &Value, depth: usize, key: Option<Span>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.out.push('\n');
                self.indent(depth + 2);
                let start = self.here();
                self.map(m, depth + 2);
                self.record(key, start);
            }
            Value::Array(a) if !a.is_empty() => {
                self.out.push('\n');
                self.indent(depth);
                // The parser starts a block sequence under a key at its first
                // item, past the dash; where a nested first sequence would put
                // it is not worth modelling.
                let dash = self.here();
                if matches!(&a[0], Value::Array(inner) if !inner.is_empty()) {
                    self.give_up();
                }
                let start = Span {
                    offset: dash.offset + 2,
                    col: dash.col + 2,
                    ..dash
                };
                self.seq(a, depth);
                self.record(key, start);
            }
            // Literal block keeps multi-line text (scripts, policies) readable
            // in diffs; text it cannot hold exactly is double-quoted instead.
            Value::String(s) if s.contains('\n') && literal_reads_back(s) => {
                self.out
                    .push_str(if s.ends_with('\n') { " |\n" } else { " |-\n" });
                let mut start = None;
                for line in s.trim_end_matches('\n').split('\n') {
                    if !line.is_empty() {
                        self.indent(depth + 2);
                        if start.is_none() && self.tracking() {
                            start = Some(self.here());
                        }
                        self.out.push_str(line);
                    }
                    self.out.push('\n');
                }
                match start {
                    Some(start) => self.record(key, start),
                    None => self.give_up(),
                }
            }
            scalar => {
                self.out.push(' ');
                let start = self.here();
                self.scalar(scalar);
                self.record(key, start);
                self.out.push('\n');
            }
        }
    }

    fn scalar(&mut self, v: &Value) {
        match v {
            Value::String(s) => write_quoted(&mut self.out, s),
            Value::Number(n) if n.is_u64() && !n.is_i64() => {
                // Beyond i64 the parser reads a float, not this number.
                self.give_up();
                self.out.push_str(&n.to_string());
            }
            other => self.out.push_str(&scalar_text(other)),
        }
    }
}

/// [`quote_if_needed`], appended to `out`.
fn write_quoted(out: &mut String, s: &str) {
    if plain_safe(s) {
        out.push_str(s);
    } else {
        out.push('"');
        push_double_quoted_body(out, s);
        out.push('"');
    }
}

/// The body of a double-quoted string, read the same by JSON and YAML
/// parsers: quotes and backslashes escaped, and every character a reader
/// could take for a line break, or that YAML does not allow in a stream (C0,
/// DEL, C1, the Unicode line and paragraph separators, the byte-order mark),
/// written as an escape. So no string can end the scalar or the line it is on.
pub fn push_double_quoted_body(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}') => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// Whether a literal block (`|` / `|-`, indentation detected from the first
/// line) reads back as exactly `s`: no leading blank or indented first line,
/// no trailing or whitespace-only lines, at most one final newline, no tabs or
/// other control characters.
fn literal_reads_back(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    !body.is_empty()
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\n'])
        && !body.chars().any(|c| c != '\n' && c.is_control())
        && body
            .split('\n')
            .all(|line| line.is_empty() || !line.ends_with(' '))
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
    if plain_safe(s) {
        s.to_string()
    } else {
        let mut out = String::with_capacity(s.len() + 2);
        write_quoted(&mut out, s);
        out
    }
}

/// Whether `s` reads back as the same string when written plain.
fn plain_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:()*$@,+=<> ".contains(c))
        && !s.starts_with(|c: char| "-:?,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !looks_like_non_string(s)
}

fn looks_like_non_string(s: &str) -> bool {
    // Only short words are special, and a float (Rust reads `inf`, `NaN`,
    // `+1`, `.5`) starts with one of a few characters: skip the work otherwise.
    let first = s.as_bytes().first().copied().unwrap_or(b' ');
    if s.len() > 5
        && !matches!(
            first,
            b'0'..=b'9' | b'+' | b'-' | b'.' | b'i' | b'I' | b'n' | b'N'
        )
    {
        return false;
    }
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

    #[test]
    fn written_locations_match_parsed_ones() {
        let v = json!({
            "Resources": {
                "A": {"Type": "T", "Properties": {"List": ["x", {"k": "v", "n": 1}, [1, [2]], {}, []],
                      "Script": "line one\n  indented\n\nlast\n", "NoEnd": "a\nb", "q": "a: b", "e": {}}},
                "weird key: x": {"Type": "T"},
            },
            "Outputs": {"O": {"Value": {"Fn::Sub": ["${A}", {"A": "b"}]}}},
        });
        let (text, doc) = to_document(v.clone());
        assert_eq!(text, to_string(&v));
        let doc = doc.expect("nothing here needs a re-read");
        let parsed = parse(&text).unwrap();
        assert_eq!(doc.value, parsed.value);
        assert_eq!(doc.locations, parsed.locations, "emitted:\n{text}");
        // Text a literal block would not keep is double-quoted, and reads back.
        for s in [
            "  lead\nx",
            "\nfirst empty",
            "two\n\n",
            "trail \nx",
            "tab\tin\nx",
            "\"\n  Evil:\n    Type: AWS::S3::BucketPolicy",
            "c1\u{85}del\u{7f}sep\u{2028}\r\nend",
        ] {
            let (text, doc) = to_document(json!({"k": s}));
            let parsed = parse(&text).unwrap();
            assert_eq!(parsed.value, json!({"k": s}), "{text}");
            let doc = doc.expect("a double-quoted scalar is tracked");
            assert_eq!(doc.locations, parsed.locations, "{text}");
        }
        assert!(to_document(json!({"k": u64::MAX})).1.is_none());
        assert_eq!(
            to_document(json!("x")).1.unwrap().locations,
            parse("x\n").unwrap().locations
        );
    }
}
