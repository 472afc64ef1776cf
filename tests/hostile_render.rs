//! Hostile text in every string the spec accepts. Each generated value is
//! either refused by validation (a diagnostic, no panic) or renders stacks of
//! the same shape as the benign value: the same files, resources, types and
//! property keys, the same `Fn::Sub` references, DQDL rules, IoT SQL quotes,
//! feature list and Markdown table cells, and the same audit result. One spec
//! holding an accepted hostile value in every field at once is then linted by
//! cfn-lint.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dxops_spec::render::{RenderedFile, Renderer};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value, json};

/// Generated values per field: enough to meet each fragment class a few
/// times, few enough for the suite to take seconds.
const CASES_PER_FIELD: u32 = 8;

/// Pieces attackers use: quotes and line breaks of every language a value
/// lands in, substitutions, separators, characters YAML refuses or reads as
/// breaks, and ordinary text.
const FRAGMENTS: &[&str] = &[
    "\"",
    "'",
    "\\",
    "\n",
    "\r\n",
    "\r",
    "\t",
    " ",
    ": ",
    " #",
    "- ",
    "---",
    "...",
    "${AWS::AccountId}",
    "${!x}",
    "$",
    "{",
    "}",
    "[",
    "]",
    ",",
    "|",
    "&a",
    "*a",
    "!!str",
    "%",
    "@",
    "`",
    "<b>",
    "\" ]",
    "' WHERE 1 = 1 OR 'a' = 'a",
    "\"\n  Evil:\n    Type: AWS::S3::BucketPolicy\n",
    "\u{7f}",
    "\u{85}",
    "\u{9f}",
    "\u{a0}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{0}",
    "\u{1b}[31m",
    "é",
    "Ä",
    "日本",
    "+",
    "/",
    "#",
    "=",
    ".",
    "-",
    "_",
    "a",
    "Z",
    "0",
    "9",
    "x@y.example.org",
];

/// The example spec, with the optional strings it leaves out filled in, so
/// that every string field of the schema has a value here, and one
/// environment (environments are rendered alike; fewer keep the test fast).
fn base() -> Value {
    let text = std::fs::read_to_string(root().join("specs/disease-prediction.yaml")).unwrap();
    let mut spec = dxops_spec::yaml::parse_value(&text).unwrap();
    spec["environments"].as_object_mut().unwrap().remove("prod");
    spec["compliance"]["waivers"] = json!([{
        "rule": "s3-replication", "resource": "disease-prediction-staging-data/RawBucket",
        "reason": "replicated by the hospital's own backup", "owner": "secops", "expires": "2027-06-30"
    }]);
    spec["training"]["hyperparameters"] = json!({ "max_depth": "6" });
    spec["data"]["features"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "ward", "type": "categorical", "values": ["icu", "general"] }));
    spec["data"]["quality"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "rule": "allowed_values", "column": "ward", "values": ["icu", "general"] }));
    spec
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Where a spec string sits: a value, or the key of a free-keyed mapping.
#[derive(Debug, Clone)]
enum Slot {
    Value(String),
    Key { map: String, key: String },
}

/// Maps whose keys the author chooses (every other key is the schema's).
const FREE_KEYS: [&str; 3] = ["/tags", "/environments", "/training/hyperparameters"];

fn slots(value: &Value, pointer: &str, out: &mut Vec<Slot>) {
    match value {
        Value::String(_) => out.push(Slot::Value(pointer.to_string())),
        Value::Array(items) => {
            // One item of each shape: twenty features of the same shape are
            // the same field twenty times.
            let mut shapes = BTreeSet::new();
            for (i, v) in items.iter().enumerate() {
                let shape: Vec<&String> = v
                    .as_object()
                    .map(|m| m.keys().collect())
                    .unwrap_or_default();
                if shapes.insert(shape) {
                    slots(v, &format!("{pointer}/{i}"), out);
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if FREE_KEYS.contains(&pointer) {
                    out.push(Slot::Key {
                        map: pointer.to_string(),
                        key: k.clone(),
                    });
                }
                // An environment's overrides are merged and checked like the base.
                if pointer != "/environments" {
                    slots(
                        v,
                        &format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}

impl Slot {
    fn benign(&self, spec: &Value) -> String {
        match self {
            Slot::Value(p) => spec.pointer(p).and_then(Value::as_str).unwrap().to_string(),
            Slot::Key { key, .. } => key.clone(),
        }
    }

    /// The spec with this slot holding `text`.
    fn set(&self, spec: &Value, text: &str) -> Value {
        let mut spec = spec.clone();
        match self {
            Slot::Value(p) => *spec.pointer_mut(p).unwrap() = Value::String(text.into()),
            Slot::Key { map, key } => {
                let m = spec.pointer_mut(map).unwrap().as_object_mut().unwrap();
                let v = m.remove(key).unwrap();
                m.insert(text.into(), v);
            }
        }
        spec
    }

    fn is_key(&self) -> bool {
        matches!(self, Slot::Key { .. })
    }

    /// The last pointer token, as the schema names the field.
    fn field(&self) -> &str {
        match self {
            Slot::Value(p) => {
                let last = p.rsplit('/').next().unwrap();
                if last.parse::<usize>().is_ok() {
                    p.rsplit('/').nth(1).unwrap()
                } else {
                    last
                }
            }
            Slot::Key { map, .. } => map.rsplit('/').next().unwrap(),
        }
    }
}

fn hostile(benign: String) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
    ];
    (any::<bool>(), proptest::collection::vec(piece, 0..6)).prop_map(move |(keep, pieces)| {
        let tail = pieces.concat();
        if keep {
            format!("{benign}{tail}")
        } else {
            tail
        }
    })
}

/// Validation and rendering of a spec value: `None` when validation refuses it.
fn render(spec: &Value) -> Result<Option<Vec<RenderedFile>>, String> {
    // The canonical writer writes the spec text; that it reads back is part of the test.
    let text = dxops_spec::yaml::to_string(spec);
    match dxops_spec::spec::load("hostile.yaml", &text) {
        Err(problems) => {
            if problems.is_empty() {
                return Err("refused without a problem".into());
            }
            Ok(None)
        }
        Ok(valid) => Renderer::embedded()
            .and_then(|r| r.render(&valid))
            .map(Some)
            .map_err(|e| format!("accepted but does not render: {e}")),
    }
}

/// What must not change when only a string's text changes.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    files: BTreeMap<String, BTreeSet<String>>,
}

fn shape(files: &[RenderedFile], rename: Option<(&str, &str)>) -> Shape {
    let mut out = BTreeMap::new();
    for f in files {
        let mut parts: Vec<String> = f
            .path
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if let Some((from, to)) = rename
            && parts[1] == from
        {
            parts[1] = to.to_string();
        }
        let name = parts[1..].join("/");
        let mut facts = BTreeSet::new();
        let file = parts.last().unwrap().clone();
        if file.ends_with(".yaml") || file.ends_with(".json") {
            let value = if file.ends_with(".yaml") {
                dxops_spec::yaml::parse_value(&f.contents).unwrap()
            } else {
                serde_json::from_str(&f.contents).unwrap()
            };
            keys(&value, "", &mut facts);
            subs(&value, false, file == "pipeline.json", &mut facts);
        } else if file.ends_with(".dqdl") {
            facts.insert(format!("lines {}", f.contents.lines().count()));
        } else if file.ends_with(".md") {
            for (i, line) in f.contents.lines().enumerate() {
                let cells = line
                    .replace("\\\\", "")
                    .replace("\\|", "")
                    .matches('|')
                    .count();
                facts.insert(format!("line {i}: {cells} pipes"));
            }
        }
        out.insert(name, facts);
    }
    Shape { files: out }
}

/// Key paths; resource and step types and the count of tags and of listed
/// features, which a value could otherwise add to.
fn keys(value: &Value, path: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}/{k}");
                match (k.as_str(), v) {
                    ("Tags", Value::Object(m)) => {
                        out.insert(format!("{here} #{}", m.len()));
                    }
                    ("Tags", Value::Array(a)) => {
                        out.insert(format!("{here} #{}", a.len()));
                    }
                    ("Type", Value::String(t)) => {
                        out.insert(format!("{here} = {t}"));
                    }
                    ("features", Value::String(list)) => {
                        out.insert(format!("{here} #{}", list.split(',').count()));
                    }
                    ("Sql", Value::String(sql)) => {
                        out.insert(format!("{here} quotes {}", sql.matches('\'').count()));
                    }
                    _ => {
                        out.insert(here.clone());
                        keys(v, &here, out);
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                keys(v, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Every `${name}` an `Fn::Sub` would substitute (`${!` is literal).
fn subs(value: &Value, in_sub: bool, all: bool, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) if in_sub || all => {
            for (i, _) in s.match_indices("${") {
                if !s[i + 2..].starts_with('!') {
                    let name: String = s[i + 2..].chars().take_while(|&c| c != '}').collect();
                    out.insert(format!("sub ${{{name}}}"));
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                subs(v, in_sub || k == "Fn::Sub", all, out);
            }
        }
        Value::Array(items) => {
            for v in items {
                subs(v, in_sub, all, out);
            }
        }
        _ => {}
    }
}

fn audit_statuses(files: &[RenderedFile]) -> Vec<Value> {
    files
        .iter()
        .filter(|f| f.path.ends_with("compliance.json"))
        .map(|f| {
            let report: Value = serde_json::from_str(&f.contents).unwrap();
            report["controls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| json!([c["id"], c["status"]]))
                .collect()
        })
        .collect()
}

#[test]
fn every_string_field_of_the_schema_is_generated() {
    let mut fields = BTreeSet::new();
    string_fields(
        dxops_spec::spec::schema(),
        dxops_spec::spec::schema(),
        &mut fields,
        0,
    );
    let mut all = Vec::new();
    slots(&base(), "", &mut all);
    let covered: BTreeSet<&str> = all.iter().map(Slot::field).collect();
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !covered.contains(f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "string fields with no value in the test spec: {missing:?}"
    );
}

/// Names of the schema's properties that may hold a string (maps of strings
/// count under their own name).
fn string_fields(schema: &Value, root: &Value, out: &mut BTreeSet<String>, depth: usize) {
    if depth > 20 {
        return;
    }
    let resolve = |s: &Value| -> Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => root
                .pointer(r.trim_start_matches('#'))
                .cloned()
                .unwrap_or(Value::Null),
            None => s.clone(),
        }
    };
    let schema = resolve(schema);
    let holds_string = |s: &Value| {
        let s = resolve(s);
        let t = &s["type"];
        let is_string = t == "string" || t.as_array().is_some_and(|a| a.contains(&json!("string")));
        // Enumerations are the schema's words, not the author's text.
        is_string && s.get("enum").is_none() && s.get("const").is_none()
    };
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let p = resolve(prop);
            let item = p.get("items").map(&resolve);
            let values = p
                .get("additionalProperties")
                .filter(|v| v.is_object())
                .map(&resolve);
            if holds_string(&p)
                || item.as_ref().is_some_and(&holds_string)
                || values.as_ref().is_some_and(&holds_string)
            {
                out.insert(name.clone());
            }
            string_fields(&p, root, out, depth + 1);
            if let Some(i) = item {
                string_fields(&i, root, out, depth + 1);
            }
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for s in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            string_fields(s, root, out, depth + 1);
        }
    }
}

#[test]
fn hostile_strings_never_change_what_is_rendered() {
    let spec = base();
    let benign = render(&spec).unwrap().expect("the test spec is valid");
    let benign_shape = shape(&benign, None);
    let benign_audit = audit_statuses(&benign);
    let mut all = Vec::new();
    slots(&spec, "", &mut all);
    let mut accepted: Vec<(Slot, String)> = Vec::new();
    let (refused, rendered) = (Cell::new(0), Cell::new(0));
    for slot in &all {
        let config = Config {
            cases: CASES_PER_FIELD,
            failure_persistence: None,
            ..Config::default()
        };
        let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let last_accepted = RefCell::new(None);
        let result = runner.run(&hostile(slot.benign(&spec)), |text| {
            let hostile_spec = slot.set(&spec, &text);
            let files = render(&hostile_spec).map_err(TestCaseError::fail)?;
            let Some(files) = files else {
                refused.set(refused.get() + 1);
                return Ok(());
            };
            rendered.set(rendered.get() + 1);
            let rename = match slot {
                Slot::Key { map, key } if map == "/environments" => {
                    Some((text.as_str(), key.as_str()))
                }
                _ => None,
            };
            prop_assert_eq!(
                &shape(&files, rename),
                &benign_shape,
                "{:?} = {:?}",
                slot,
                text
            );
            prop_assert_eq!(
                &audit_statuses(&files),
                &benign_audit,
                "{:?} = {:?}",
                slot,
                text
            );
            if text != slot.benign(&spec) {
                *last_accepted.borrow_mut() = Some(text.clone());
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{slot:?}: {e}");
        }
        if let Some(text) = last_accepted.into_inner() {
            accepted.push((slot.clone(), text));
        }
    }
    let (rendered, refused) = (rendered.get(), refused.get());
    eprintln!(
        "{} fields, {rendered} hostile values rendered, {refused} refused",
        all.len()
    );
    assert!(rendered > 0 && refused > 0);
    lint_all_at_once(&spec, &accepted);
}

/// One spec with as many accepted hostile values as hold together (a label
/// equal to a feature is refused, say), rendered and linted by cfn-lint.
fn lint_all_at_once(spec: &Value, accepted: &[(Slot, String)]) {
    let mut combined = spec.clone();
    let mut used = 0;
    // Values first: a renamed key would move the values below it.
    let in_order = accepted
        .iter()
        .filter(|(s, _)| !s.is_key())
        .chain(accepted.iter().filter(|(s, _)| s.is_key()));
    for (slot, text) in in_order {
        let next = slot.set(&combined, text);
        if validates(&next) {
            combined = next;
            used += 1;
        }
    }
    assert!(
        used > accepted.len() / 2,
        "only {used} of {} hostile values combine",
        accepted.len()
    );
    let files = render(&combined).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut templates = Vec::new();
    for f in &files {
        if dxops_spec::render::STACKS
            .iter()
            .any(|s| f.path.ends_with(s))
        {
            let path = dir.path().join(f.path.to_string_lossy().replace('/', "_"));
            std::fs::write(&path, &f.contents).unwrap();
            templates.push(path);
        }
    }
    let out = std::process::Command::new("cfn-lint")
        .arg("--")
        .args(&templates)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cfn-lint ({e}); run `bash .ci/setup` first"));
    assert!(
        out.status.success(),
        "cfn-lint on {used} hostile values at once:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn validates(spec: &Value) -> bool {
    dxops_spec::spec::load("hostile.yaml", &dxops_spec::yaml::to_string(spec)).is_ok()
}

/// The spec loader over text, not values: the example spec with lines
/// dropped, repeated, swapped or spliced with the fragments above (broken
/// indentation, anchors, tabs, stray quotes, deep flow nesting). Every
/// mutant is refused with at least one problem, each with a position inside
/// the text, or renders; none panics.
#[test]
fn mutated_spec_text_is_refused_with_positions_or_renders() {
    let original = std::fs::read_to_string(root().join("specs/disease-prediction.yaml")).unwrap();
    let lines: Vec<String> = original.lines().map(str::to_string).collect();
    let n = lines.len();
    let edit = prop_oneof![
        (0..n).prop_map(Edit::Drop),
        (0..n).prop_map(Edit::Repeat),
        (0..n, 0..n).prop_map(|(a, b)| Edit::Swap(a, b)),
        (0..n, 0..80usize, proptest::sample::select(FRAGMENTS))
            .prop_map(|(l, c, f)| Edit::Splice(l, c, f)),
        (0..n, 1..400usize).prop_map(|(l, depth)| Edit::Nest(l, depth)),
    ];
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 120,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]),
    );
    let renderer = Renderer::embedded().unwrap();
    let (refused, rendered) = (Cell::new(0), Cell::new(0));
    runner
        .run(&proptest::collection::vec(edit, 1..4), |edits| {
            let mut mutant = lines.clone();
            for e in &edits {
                e.apply(&mut mutant);
            }
            let text = mutant.join("\n");
            match dxops_spec::spec::load("mutant.yaml", &text) {
                Err(problems) => {
                    refused.set(refused.get() + 1);
                    prop_assert!(!problems.is_empty(), "refused without a problem");
                    let lines = text.lines().count().max(1);
                    for p in &problems {
                        let s = p.span;
                        prop_assert!(s.line >= 1 && s.line <= lines + 1, "{s:?} of {lines} lines");
                        prop_assert!(s.offset + s.len <= text.len(), "{s:?} past the text");
                        prop_assert!(text.is_char_boundary(s.offset), "{s:?} inside a character");
                    }
                }
                Ok(valid) => {
                    rendered.set(rendered.get() + 1);
                    renderer
                        .render(&valid)
                        .map_err(|e| TestCaseError::fail(format!("validated but: {e}")))?;
                }
            }
            Ok(())
        })
        .unwrap();
    // Both outcomes must occur, or the mutations test only one side.
    assert!(
        refused.get() > 0 && rendered.get() > 0,
        "refused {}, rendered {}",
        refused.get(),
        rendered.get()
    );
}

#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Repeat(usize),
    Swap(usize, usize),
    Splice(usize, usize, &'static str),
    Nest(usize, usize),
}

impl Edit {
    fn apply(&self, lines: &mut Vec<String>) {
        let at = |i: usize, lines: &Vec<String>| i.min(lines.len().saturating_sub(1));
        if lines.is_empty() {
            return;
        }
        match *self {
            Edit::Drop(i) => {
                let i = at(i, lines);
                lines.remove(i);
            }
            Edit::Repeat(i) => {
                let i = at(i, lines);
                lines.insert(i, lines[i].clone());
            }
            Edit::Swap(a, b) => {
                let (a, b) = (at(a, lines), at(b, lines));
                lines.swap(a, b);
            }
            Edit::Splice(i, col, fragment) => {
                let i = at(i, lines);
                let line = &mut lines[i];
                let mut col = col.min(line.len());
                while !line.is_char_boundary(col) {
                    col -= 1;
                }
                line.insert_str(col, fragment);
            }
            Edit::Nest(i, depth) => {
                let i = at(i, lines);
                lines.insert(i, format!("x: {}{}", "[".repeat(depth), "]".repeat(depth)));
            }
        }
    }
}
