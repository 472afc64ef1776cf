//! From YAML text to a typed [`ValidatedSpec`], collecting every problem on the way.
//!
//! Two phases, as in cargo-deny: the JSON Schema (derived from the spec
//! types) judges shape, with each error mapped back to a line and column;
//! then semantic rules judge meaning. Each environment is the base spec
//! deep-merged with its overrides and judged whole, so an override that
//! breaks a rule is reported at the override.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::diagnostics::{Code, Problems, Source, did_you_mean};
use super::model::Spec;
use super::names::Names;
use super::schedule;
use super::validated::{Environment, ValidatedSpec};
use crate::yaml::{self, Document, Location, Span};
use dxops_contract::data::{FeatureType, QualityRuleKind};

/// The spec's JSON Schema (draft 2020-12), as `dxops schema` prints it.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut value =
            serde_json::to_value(schemars::schema_for!(Spec)).expect("schema serializes");
        value["$id"] = "https://dxops.dev/schema/dxops.schema.json".into();
        value
    })
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::validator_for(schema()).expect("the derived schema compiles"))
}

/// Keys of the spec an environment may not override.
const FIXED_KEYS: [&str; 3] = ["version", "name", "environments"];

/// Load and validate one spec. `name` is how the file is shown in messages.
pub fn load(name: &str, text: &str) -> Result<ValidatedSpec, Vec<super::Problem>> {
    let source: Source = Arc::new(miette::NamedSource::new(name, text.to_string()));
    let mut problems = Problems::new(source);

    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            problems.push(Code::YamlSyntax, e.span(), e.to_string(), "here", None);
            return Err(problems.into_sorted());
        }
    };

    let base_ok = check_schema(&doc.value, &|p| doc.locate(p), &mut problems);
    if !base_ok {
        // Shape is broken, but rules that read single values still can run, so one pass shows all.
        check_schedules(&doc.value, &|p| doc.value_span(p), &mut problems);
        return Err(problems.into_sorted());
    }
    let base: Spec = match serde_json::from_value(doc.value.clone()) {
        Ok(spec) => spec,
        Err(e) => {
            problems.push(
                Code::WrongType,
                doc.value_span(""),
                e.to_string(),
                "here",
                None,
            );
            return Err(problems.into_sorted());
        }
    };
    if base.version != 1 {
        problems.push(
            Code::UnsupportedVersion,
            doc.value_span("/version"),
            format!("spec version {} is not supported", base.version),
            "this dxops reads version 1",
            Some("set `version: 1`".into()),
        );
        return Err(problems.into_sorted());
    }

    let mut environments = BTreeMap::new();
    for (env, overrides) in &base.environments {
        let env_pointer = format!("/environments/{}", escape(env));
        let merged_value = merge(&doc.value, overrides, &env_pointer, &doc, &mut problems);
        let locate = |pointer: &str| override_or_base(&doc, overrides, &env_pointer, pointer);
        if !check_schema(&merged_value, &locate, &mut problems) {
            check_schedules(&merged_value, &|p| locate(p).value, &mut problems);
            continue;
        }
        let spec: Spec = match serde_json::from_value(merged_value) {
            Ok(spec) => spec,
            Err(e) => {
                problems.push(
                    Code::WrongType,
                    doc.value_span(&env_pointer),
                    e.to_string(),
                    "in this environment",
                    None,
                );
                continue;
            }
        };
        check_schedules(
            &serde_json::to_value(&spec).unwrap_or_default(),
            &|p| locate(p).value,
            &mut problems,
        );
        check_semantics(&spec, env, &|p| locate(p).value, &mut problems);
        match Environment::new(env, spec) {
            Ok(spec) => {
                environments.insert(env.clone(), spec);
            }
            Err(e) => {
                problems.push(
                    Code::InvalidValue,
                    locate(&format!("/training/hyperparameters/{}", escape(e.key()))).value,
                    format!("training hyperparameters: {e}"),
                    "not a valid hyperparameter",
                    Some(
                        "`dxops-model train --help` lists the hyperparameters and their types"
                            .into(),
                    ),
                );
            }
        }
    }

    if problems.is_empty() {
        Ok(ValidatedSpec::new(base.name.clone(), text, environments))
    } else {
        Err(problems.into_sorted())
    }
}

pub(super) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Locates a pointer of the merged spec: at the override when the override
/// set that node, else in the base.
fn override_or_base(
    doc: &Document,
    overrides: &serde_json::Map<String, Value>,
    env_pointer: &str,
    pointer: &str,
) -> Location {
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    let mut node = Value::Object(overrides.clone());
    let mut depth = 0;
    for token in &tokens {
        let unescaped = token.replace("~1", "/").replace("~0", "~");
        let next = match &node {
            Value::Object(m) => m.get(&unescaped).cloned(),
            _ => None,
        };
        match next {
            Some(n) => {
                node = n;
                depth += 1;
            }
            None => break,
        }
    }
    let replaced_whole = depth > 0 && (depth == tokens.len() || !node.is_object());
    if replaced_whole {
        let within: String = tokens[..depth].iter().map(|t| format!("/{t}")).collect();
        doc.locate(&format!("{env_pointer}{within}"))
    } else {
        doc.locate(pointer)
    }
}

/// Deep-merge one environment's overrides over the base spec; report keys
/// the base spec does not allow to be overridden.
fn merge(
    base: &Value,
    overrides: &serde_json::Map<String, Value>,
    env_pointer: &str,
    doc: &Document,
    problems: &mut Problems,
) -> Value {
    let mut merged = base.clone();
    if let Some(m) = merged.as_object_mut() {
        m.remove("environments");
        m.insert("environments".into(), serde_json::json!({}));
    }
    for (key, value) in overrides {
        if FIXED_KEYS.contains(&key.as_str()) {
            problems.push(
                Code::BadOverride,
                doc.key_span(&format!("{env_pointer}/{}", escape(key))),
                format!("`{key}` cannot differ between environments"),
                "not overridable",
                Some("set it once at the top of the spec".into()),
            );
            continue;
        }
        deep_merge(&mut merged[key.as_str()], value);
    }
    merged
}

fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                deep_merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Judge shape with the JSON Schema; returns whether it held.
fn check_schema(value: &Value, locate: &dyn Fn(&str) -> Location, problems: &mut Problems) -> bool {
    let key_at = |p: &str| {
        let loc = locate(p);
        loc.key.unwrap_or(loc.value)
    };
    let value_at = |p: &str| locate(p).value;
    let mut ok = true;
    for error in validator().iter_errors(value) {
        ok = false;
        let pointer = error.instance_path().as_str().to_string();
        let schema_path = error.schema_path().as_str().to_string();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = allowed_properties(&schema_path);
                for key in unexpected {
                    let key_pointer = format!("{pointer}/{}", escape(key));
                    problems.push(
                        Code::UnknownKey,
                        key_at(&key_pointer),
                        format!("unknown key `{key}`{}", place(&pointer)),
                        "not a key here",
                        did_you_mean(key, known.iter().map(String::as_str))
                            .or_else(|| Some(format!("known keys: {}", known.join(", ")))),
                    );
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                problems.push(
                    Code::MissingKey,
                    key_at(&pointer),
                    format!("missing key `{name}`{}", place(&pointer)),
                    format!("`{name}` is required here"),
                    None,
                );
            }
            ValidationErrorKind::Type { .. } => problems.push(
                Code::WrongType,
                value_at(&pointer),
                format!(
                    "wrong type at `{}`: {}",
                    display_pointer(&pointer),
                    error.masked()
                ),
                "wrong type",
                None,
            ),
            ValidationErrorKind::Enum { options } => {
                let choices: Vec<String> = options
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|o| {
                                o.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| o.to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let given = error.instance().as_str().unwrap_or_default().to_string();
                problems.push(
                    Code::InvalidValue,
                    value_at(&pointer),
                    format!(
                        "`{}` must be one of: {}",
                        display_pointer(&pointer),
                        choices.join(", ")
                    ),
                    "not an allowed value",
                    did_you_mean(&given, choices.iter().map(String::as_str)),
                );
            }
            ValidationErrorKind::Minimum { .. }
            | ValidationErrorKind::Maximum { .. }
            | ValidationErrorKind::ExclusiveMinimum { .. }
            | ValidationErrorKind::ExclusiveMaximum { .. } => problems.push(
                Code::OutOfRange,
                value_at(&pointer),
                format!(
                    "`{}` is out of range: {}",
                    display_pointer(&pointer),
                    error.masked()
                ),
                "out of range",
                None,
            ),
            _ => {
                let choices = one_of_constants(&schema_path);
                let (message, help) = if choices.is_empty() {
                    let m = format!(
                        "invalid value at `{}`: {}",
                        display_pointer(&pointer),
                        error.masked()
                    );
                    (m, None)
                } else {
                    let given = error.instance().as_str().unwrap_or_default().to_string();
                    (
                        format!(
                            "`{}` must be one of: {}",
                            display_pointer(&pointer),
                            choices.join(", ")
                        ),
                        did_you_mean(&given, choices.iter().map(String::as_str)),
                    )
                };
                problems.push(
                    Code::InvalidValue,
                    value_at(&pointer),
                    message,
                    "invalid value",
                    help,
                )
            }
        }
    }
    ok
}

/// The property names the schema allows at an `additionalProperties` error.
fn allowed_properties(schema_path: &str) -> Vec<String> {
    let object_path = schema_path.trim_end_matches("/additionalProperties");
    schema()
        .pointer(object_path)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The constants of a `oneOf` whose branches are all constants (documented enums).
fn one_of_constants(schema_path: &str) -> Vec<String> {
    let branches = schema()
        .pointer(schema_path.trim_end_matches("/oneOf"))
        .and_then(|s| s.get("oneOf"))
        .and_then(Value::as_array);
    let mut choices = Vec::new();
    for branch in branches.into_iter().flatten() {
        match (
            branch.get("const"),
            branch.get("enum").and_then(Value::as_array),
        ) {
            (Some(Value::String(c)), _) => choices.push(c.clone()),
            (_, Some(values)) if values.iter().all(Value::is_string) => {
                choices.extend(values.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => return Vec::new(),
        }
    }
    choices
}

fn display_pointer(pointer: &str) -> String {
    if pointer.is_empty() {
        "(top level)".into()
    } else {
        pointer.trim_start_matches('/').replace('/', ".")
    }
}

fn place(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" in `{}`", display_pointer(pointer))
    }
}

/// Rules the schema cannot state.
fn check_semantics(spec: &Spec, env: &str, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    check_text(spec, at, problems);
    check_columns(spec, at, problems);
    check_names(spec, env, at, problems);
    check_gates(spec, at, problems);
    check_waivers(spec, at, problems);
    check_conflicts(spec, at, problems);
}

fn check_text(spec: &Spec, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    for p in super::text::check(spec) {
        problems.push(
            Code::InvalidValue,
            at(&p.pointer),
            format!("`{}`: {}", p.field, p.message),
            "value refused",
            Some(p.help.into()),
        );
    }
}

fn check_columns(spec: &Spec, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    let data = &spec.data;
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for (i, f) in data.features.iter().enumerate() {
        let pointer = format!("/data/features/{i}/name");
        if f.name == data.label {
            problems.push(
                Code::LabelIsFeature,
                at(&pointer),
                format!("the label `{}` is also a feature", f.name),
                "the label cannot be an input",
                Some("remove it from `data.features`; the model would see the answer".into()),
            );
        }
        if data.identifiers.contains(&f.name) {
            problems.push(
                Code::IdentifierIsFeature,
                at(&pointer),
                format!("identifier `{}` is also a feature", f.name),
                "identifiers never reach the model",
                Some("remove it from `data.features` or from `data.identifiers`".into()),
            );
        }
        if seen.insert(&f.name, pointer.clone()).is_some() {
            problems.push(
                Code::DuplicateColumn,
                at(&pointer),
                format!("feature `{}` is listed twice", f.name),
                "second listing",
                None,
            );
        }
        check_feature_shape(f, i, at, problems);
    }
    if data.identifiers.contains(&data.label) {
        let i = data
            .identifiers
            .iter()
            .position(|x| x == &data.label)
            .unwrap_or(0);
        problems.push(
            Code::IdentifierIsFeature,
            at(&format!("/data/identifiers/{i}")),
            format!("the label `{}` is listed as an identifier", data.label),
            "identifiers are dropped before training",
            None,
        );
    }

    let mut columns: BTreeSet<&str> = data.features.iter().map(|f| f.name.as_str()).collect();
    columns.insert(&data.label);
    columns.extend(data.identifiers.iter().map(String::as_str));
    for (i, rule) in data.quality.iter().enumerate() {
        let pointer = format!("/data/quality/{i}");
        let needs_column = rule.rule != QualityRuleKind::RowCount;
        match (&rule.column, needs_column) {
            (None, true) => problems.push(
                Code::RuleShape,
                at(&pointer),
                format!("quality rule `{}` needs a `column`", kind_name(rule.rule)),
                "no column",
                None,
            ),
            (Some(_), false) => problems.push(
                Code::RuleShape,
                at(&format!("{pointer}/column")),
                "`row_count` applies to the whole data set and takes no `column`".to_string(),
                "not used",
                None,
            ),
            (Some(c), true) if !columns.contains(c.as_str()) => problems.push(
                Code::UnknownColumn,
                at(&format!("{pointer}/column")),
                format!("column `{c}` is not the label, a feature or an identifier"),
                "unknown column",
                did_you_mean(c, columns.iter().copied()),
            ),
            _ => {}
        }
        let needs = match rule.rule {
            QualityRuleKind::Completeness => rule.min.is_some(),
            QualityRuleKind::Range | QualityRuleKind::RowCount => {
                rule.min.is_some() || rule.max.is_some()
            }
            QualityRuleKind::AllowedValues => rule.values.as_ref().is_some_and(|v| !v.is_empty()),
            QualityRuleKind::Uniqueness => true,
        };
        if !needs {
            let what = match rule.rule {
                QualityRuleKind::Completeness => "`min` (the share of non-missing values, 0 to 1)",
                QualityRuleKind::AllowedValues => "a non-empty `values` list",
                _ => "`min` or `max`",
            };
            problems.push(
                Code::RuleShape,
                at(&pointer),
                format!("quality rule `{}` needs {what}", kind_name(rule.rule)),
                "incomplete rule",
                None,
            );
        }
        if rule.rule == QualityRuleKind::Completeness
            && rule.min.is_some_and(|m| !(0.0..=1.0).contains(&m))
        {
            problems.push(
                Code::OutOfRange,
                at(&format!("{pointer}/min")),
                "completeness `min` is a share between 0 and 1",
                "out of range",
                None,
            );
        }
        if let (Some(lo), Some(hi)) = (rule.min, rule.max)
            && lo > hi
        {
            problems.push(
                Code::OutOfRange,
                at(&format!("{pointer}/max")),
                format!("`max` ({hi}) is below `min` ({lo})"),
                "empty range",
                None,
            );
        }
    }
}

fn kind_name(kind: QualityRuleKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn check_feature_shape(
    f: &dxops_contract::data::Feature,
    i: usize,
    at: &dyn Fn(&str) -> Span,
    problems: &mut Problems,
) {
    let pointer = format!("/data/features/{i}");
    let numeric = f.kind == FeatureType::Numeric;
    if !numeric && (f.min.is_some() || f.max.is_some() || f.unit.is_some()) {
        problems.push(
            Code::RuleShape,
            at(&pointer),
            format!(
                "feature `{}`: `min`, `max` and `unit` apply to numeric features only",
                f.name
            ),
            "not numeric",
            None,
        );
    }
    match (f.kind, &f.values) {
        (FeatureType::Categorical, None) => problems.push(
            Code::RuleShape,
            at(&pointer),
            format!("categorical feature `{}` needs its `values`", f.name),
            "no values",
            Some("list every category, e.g. `values: [F, M, X]`; unseen categories are flagged at serving".into()),
        ),
        (FeatureType::Categorical, Some(v)) if v.is_empty() => {
            problems.push(Code::RuleShape, at(&format!("{pointer}/values")), format!("categorical feature `{}` has no values", f.name), "empty", None)
        }
        (FeatureType::Numeric | FeatureType::Boolean, Some(_)) => problems.push(
            Code::RuleShape,
            at(&format!("{pointer}/values")),
            format!("feature `{}`: `values` applies to categorical features only", f.name),
            "not categorical",
            None,
        ),
        _ => {}
    }
    if let (Some(lo), Some(hi)) = (f.min, f.max)
        && lo > hi
    {
        problems.push(
            Code::OutOfRange,
            at(&format!("{pointer}/max")),
            format!("feature `{}`: `max` ({hi}) is below `min` ({lo})", f.name),
            "empty range",
            None,
        );
    }
}

fn check_names(spec: &Spec, env: &str, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    if !valid_env_name(env) {
        problems.push(
            Code::InvalidValue,
            at(&format!("/environments/{}", escape(env))),
            format!("environment name `{env}` must be lowercase letters, digits and hyphens, starting with a letter"),
            "invalid environment name",
            None,
        );
        return;
    }
    for violation in Names::new(&spec.name, env).violations() {
        problems.push(
            Code::AwsNameLimit,
            at("/name"),
            format!("in environment `{env}`, {violation}"),
            "name too long for AWS",
            Some("shorten `name` or the environment name".into()),
        );
    }
}

fn valid_env_name(env: &str) -> bool {
    env.starts_with(|c: char| c.is_ascii_lowercase())
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && env.len() <= 16
}

/// Schedules are checked on the raw value, so they are reported even when other keys are broken.
fn check_schedules(value: &Value, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    for pointer in ["/training/schedule"] {
        let Some(expr) = value.pointer(pointer).and_then(Value::as_str) else {
            continue;
        };
        if let Err(why) = schedule::check(expr) {
            problems.push(
                Code::BadSchedule,
                at(pointer),
                format!(
                    "`{}` is not an EventBridge schedule: {why}",
                    display_pointer(pointer)
                ),
                "bad schedule",
                Some(
                    "write `rate(7 days)`, `rate(1 hour)` or `cron(0 3 ? * MON *)` (six fields)"
                        .into(),
                ),
            );
        }
    }
}

fn check_gates(spec: &Spec, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    let g = &spec.gates;
    let mut gates: Vec<(&str, Option<f64>)> = vec![
        ("/gates/macro_f1/min", g.macro_f1.map(|x| x.min)),
        (
            "/gates/min_class_recall/min",
            g.min_class_recall.map(|x| x.min),
        ),
        ("/gates/roc_auc/min", g.roc_auc.map(|x| x.min)),
        ("/gates/accuracy/min", g.accuracy.map(|x| x.min)),
        (
            "/gates/balanced_accuracy/min",
            g.balanced_accuracy.map(|x| x.min),
        ),
        (
            "/gates/vs_production/max_drop",
            g.vs_production.map(|x| x.max_drop),
        ),
    ];
    gates.push((
        "/monitoring/quality/min_macro_f1",
        spec.monitoring.quality.min_macro_f1,
    ));
    for (pointer, value) in gates {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            problems.push(
                Code::GateOutOfRange,
                at(pointer),
                format!(
                    "`{}` is {v}; metric thresholds lie in [0, 1]",
                    display_pointer(pointer)
                ),
                "outside [0, 1]",
                None,
            );
        }
    }
    let none = [
        g.macro_f1,
        g.min_class_recall,
        g.roc_auc,
        g.accuracy,
        g.balanced_accuracy,
    ]
    .iter()
    .all(Option::is_none)
        && g.vs_production.is_none();
    if none {
        problems.push(
            Code::Conflict,
            at("/gates"),
            "no gate is set: every model would register unchecked",
            "no gates",
            Some("set at least `gates.macro_f1.min`".into()),
        );
    }
}

fn check_waivers(spec: &Spec, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    use crate::audit::{WaiverError, check_waiver};
    for (i, waiver) in spec.compliance.waivers.iter().enumerate() {
        let Err(e) = check_waiver(waiver) else {
            continue;
        };
        let (code, field, help) = match &e {
            WaiverError::UnknownRule { suggestion, .. } => (
                Code::UnknownWaiverRule,
                "rule",
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`? `docs/controls.md` lists every control"),
                    None => "`docs/controls.md` lists every control".to_string(),
                }),
            ),
            WaiverError::NotWaivable { .. } => (
                Code::NotWaivable,
                "rule",
                Some("fix the resource instead: encryption at rest, TLS in transit and public access protect patient data and are never waived".into()),
            ),
            WaiverError::BadDate { .. } => (Code::InvalidValue, "expires", Some("write the last valid day as YYYY-MM-DD".into())),
            WaiverError::Empty { field } => (Code::InvalidValue, *field, None),
            WaiverError::Substitution { field } => (
                Code::InvalidValue,
                *field,
                Some("write `$ {` or leave the dollar out".into()),
            ),
        };
        problems.push(
            code,
            at(&format!("/compliance/waivers/{i}/{field}")),
            format!("waiver: {e}"),
            "waiver refused",
            help,
        );
    }
}

fn check_conflicts(spec: &Spec, at: &dyn Fn(&str) -> Span, problems: &mut Problems) {
    use super::model::{RolloutStrategy, ServingTarget};
    use dxops_contract::data::{Algorithm, ImbalanceMethod};
    let t = &spec.training;
    if t.imbalance.method == ImbalanceMethod::FocalLoss
        && !matches!(t.algorithm, Algorithm::GradientBoosting | Algorithm::Auto)
    {
        problems.push(
            Code::Conflict,
            at("/training/imbalance/method"),
            format!(
                "focal loss needs gradient boosting, not `{}`",
                t.algorithm.as_str()
            ),
            "focal loss is a boosting objective",
            Some("use `class_weight` or `smote`, or `algorithm: gradient_boosting`".into()),
        );
    }
    if spec.compliance.recovery_region.as_deref() == Some(spec.region.as_str()) {
        problems.push(
            Code::Conflict,
            at("/compliance/recovery_region"),
            "the recovery region is the region itself: replicas would share its failures",
            "same as `region`",
            Some("choose another region, e.g. a neighbour in the same jurisdiction".into()),
        );
    }
    let s = &spec.serving;
    if s.target == ServingTarget::Serverless {
        if s.rollout.strategy != RolloutStrategy::AllAtOnce {
            problems.push(
                Code::Conflict,
                at("/serving/rollout/strategy"),
                "serverless endpoints cannot shift traffic gradually",
                "canary and linear need instance-backed endpoints",
                Some(
                    "set `serving.rollout.strategy: all_at_once` or `serving.target: endpoint`"
                        .into(),
                ),
            );
        }
        if s.data_capture.percent > 0 {
            problems.push(
                Code::Conflict,
                at("/serving/data_capture/percent"),
                "serverless endpoints do not support data capture, which drift monitoring reads",
                "no capture on serverless",
                Some("set `serving.data_capture.percent: 0` (drift is then only computed from the metrics the server emits)".into()),
            );
        }
    }
    if s.target == ServingTarget::Lambda {
        if s.data_capture.percent > 0 {
            problems.push(
                Code::Conflict,
                at("/serving/data_capture/percent"),
                "Lambda serving has no data capture, which drift monitoring and live quality read",
                "no capture on Lambda",
                Some("set `serving.data_capture.percent: 0` (drift is then computed by the function over its own window and sent as metrics)".into()),
            );
        }
        if s.gateway.is_some() {
            problems.push(
                Code::Conflict,
                at("/serving/gateway"),
                "the serving function reads and checks requests itself: there is no endpoint for a gateway to call",
                "only for `endpoint` and `serverless`",
                Some("remove `serving.gateway`".into()),
            );
        }
        if s.lambda.provisioned_concurrency > s.lambda.reserved_concurrency {
            problems.push(
                Code::Conflict,
                at("/serving/lambda/provisioned_concurrency"),
                "more provisioned environments than the function may ever run",
                "above `reserved_concurrency`",
                Some("lower `provisioned_concurrency` or raise `reserved_concurrency`".into()),
            );
        }
    }
    if spec.retraining.on.contains(&super::model::Trigger::Quality)
        && spec.monitoring.quality.min_macro_f1.is_none()
    {
        problems.push(
            Code::Conflict,
            at("/retraining/on"),
            "retraining on `quality` needs `monitoring.quality.min_macro_f1`",
            "no quality floor to trigger on",
            None,
        );
    }
}
