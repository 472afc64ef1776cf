//! Compliance audit of rendered CloudFormation templates.
//!
//! `dxops audit` judges templates, not the spec, so a hand-written template is
//! judged exactly like a rendered one. The library is pure: the caller passes
//! the template texts, the options (including today's date) and gets a
//! [`Report`] that renders byte-identically run to run.
//!
//! ```text
//! let report = audit(&templates, &options)?;
//! print!("{}", report.render(Format::Sarif));
//! std::process::exit(report.exit_code());
//! ```

mod catalogue;
mod checks;
mod report;
mod scanners;
mod template;
mod waiver;

use std::collections::BTreeSet;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

pub use catalogue::{
    CONTROLS, Control, ControlId, STAR_ONLY_ACTIONS, Severity, TAGGABLE_TYPES, UnknownControl,
    control, controls_markdown, never_waivable,
};
pub use report::{
    ControlResult, ControlStatus, Finding, Format, Report, Status, Suppression, TemplateSummary,
    exit_code, report_schema,
};
pub use scanners::{ScannerRules, scanner_rules, suppression_reason, waiver_reason};
pub use waiver::{
    DESIGN_EXPIRES, DESIGN_OWNER, Waiver, WaiverError, check_waiver, design_waivers, validate_date,
    waived_control,
};

use crate::yaml::{self, YamlError};

/// One template to judge.
#[derive(Debug, Clone)]
pub struct TemplateInput {
    /// The stack the template deploys as; findings are reported per stack.
    pub stack: String,
    /// The file it was read from, when it came from disk (used for
    /// locations in reports).
    pub path: Option<PathBuf>,
    /// The template text, YAML or JSON.
    pub text: String,
}

/// What the audit needs beyond the templates.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Minimum CloudWatch Logs retention (the spec's `log_retention_days`).
    pub log_retention_days: u32,
    /// Waivers from the spec's `compliance.waivers`.
    pub waivers: Vec<Waiver>,
    /// The audit date, `YYYY-MM-DD`, supplied by the caller (the library never
    /// reads the clock). `None` leaves waiver expiry unjudged: the compliance
    /// files `synth` writes must not change with the calendar, so expiry is
    /// judged by `dxops audit`.
    pub today: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("no templates to audit")]
    NoTemplates,
    #[error("stack `{0}` is given more than once")]
    DuplicateStack(String),
    #[error("template of stack `{stack}` cannot be read: {source}")]
    Parse {
        stack: String,
        path: Option<PathBuf>,
        #[source]
        source: YamlError,
    },
    #[error("template of stack `{stack}` is not a CloudFormation template: {reason}")]
    NotATemplate { stack: String, reason: String },
    #[error("waiver {index} ({rule} on {resource}): {source}")]
    Waiver {
        index: usize,
        rule: String,
        resource: String,
        #[source]
        source: WaiverError,
    },
    #[error("audit date: {0}")]
    Today(#[source] WaiverError),
}

/// Judge every template against every control.
pub fn audit(templates: &[TemplateInput], options: &AuditOptions) -> Result<Report, AuditError> {
    let templates: Vec<(&TemplateInput, Option<&yaml::Document>)> =
        templates.iter().map(|t| (t, None)).collect();
    judge(&templates, options)
}

/// Like [`audit`], for templates whose text the caller has already read:
/// each given document must be what [`yaml::parse`] reads from the
/// template's text (the renderer has it from writing that text); a template
/// without one is parsed here. The report is the same as [`audit`]'s.
pub fn audit_parsed(
    templates: &[(TemplateInput, Option<yaml::Document>)],
    options: &AuditOptions,
) -> Result<Report, AuditError> {
    let templates: Vec<(&TemplateInput, Option<&yaml::Document>)> =
        templates.iter().map(|(t, d)| (t, d.as_ref())).collect();
    judge(&templates, options)
}

fn judge(
    templates: &[(&TemplateInput, Option<&yaml::Document>)],
    options: &AuditOptions,
) -> Result<Report, AuditError> {
    if let Some(today) = &options.today {
        validate_date(today).map_err(AuditError::Today)?;
    }
    let today = options.today.as_deref();
    let mut rules = Vec::with_capacity(options.waivers.len());
    for (index, w) in options.waivers.iter().enumerate() {
        rules.push(waived_control(w).map_err(|source| AuditError::Waiver {
            index,
            rule: w.rule.clone(),
            resource: w.resource.clone(),
            source,
        })?);
    }
    if templates.is_empty() {
        return Err(AuditError::NoTemplates);
    }
    let mut seen = BTreeSet::new();
    let mut parsed = Vec::new();
    for (t, given) in templates {
        let (t, given) = (*t, *given);
        if !seen.insert(t.stack.as_str()) {
            return Err(AuditError::DuplicateStack(t.stack.clone()));
        }
        let doc = match given {
            Some(doc) => std::borrow::Cow::Borrowed(doc),
            None => std::borrow::Cow::Owned(yaml::parse(&t.text).map_err(|source| {
                AuditError::Parse {
                    stack: t.stack.clone(),
                    path: t.path.clone(),
                    source,
                }
            })?),
        };
        let not = |reason: &str| AuditError::NotATemplate {
            stack: t.stack.clone(),
            reason: reason.to_string(),
        };
        let resources = doc
            .value
            .get("Resources")
            .ok_or_else(|| not("it has no Resources section"))?;
        let resources = resources
            .as_object()
            .ok_or_else(|| not("Resources is not a mapping"))?;
        for (id, body) in resources {
            if body.get("Type").and_then(|v| v.as_str()).is_none() {
                return Err(not(&format!("resource `{id}` has no Type")));
            }
        }
        parsed.push((t, doc));
    }

    let mut findings = Vec::new();
    let mut used = vec![false; options.waivers.len()];
    let mut summaries = Vec::new();
    let mut suppressions = Vec::new();
    for (t, doc) in &parsed {
        let tpl = template::Template {
            stack: &t.stack,
            doc,
        };
        let mut obs = checks::run(&tpl);
        obs.extend(checks::retention(&tpl, options.log_retention_days));
        let file = t
            .path
            .as_ref()
            .map(|p| p.to_string_lossy().replace('\\', "/"));
        for o in obs {
            let span = doc.key_span(&o.pointer);
            let (line, col) = match (&file, span.line) {
                (Some(_), l) if l > 0 => o
                    .inner
                    .as_deref()
                    .and_then(|inner| embedded_location(doc, &t.text, &o.pointer, inner))
                    .map(|(l, c)| (Some(l), Some(c)))
                    .unwrap_or((Some(l), Some(span.col))),
                _ => (None, None),
            };
            let mut finding = Finding {
                control: o.control.to_string(),
                status: if o.pass { Status::Pass } else { Status::Fail },
                severity: o.control.entry().severity,
                stack: tpl.stack.to_string(),
                logical_id: o.logical_id,
                pointer: o.pointer,
                message: o.message,
                file: file.clone(),
                line,
                col,
                waiver: None,
            };
            if !o.pass {
                apply_waivers(
                    &mut finding,
                    o.control,
                    &options.waivers,
                    &rules,
                    today,
                    &mut used,
                );
            }
            findings.push(finding);
        }
        suppressions.extend(suppressions_of(tpl.stack, &doc.value));
        summaries.push(TemplateSummary {
            stack: t.stack.clone(),
            file: file.clone(),
            sha256: hex::encode(Sha256::digest(t.text.as_bytes())),
        });
    }

    let mut warnings = Vec::new();
    for (i, w) in options.waivers.iter().enumerate() {
        let (stack, logical_id) = match w.resource.split_once('/') {
            Some((s, id)) => (s.to_string(), id.to_string()),
            None => (String::new(), w.resource.clone()),
        };
        let expired = today.is_some_and(|t| w.expired(t));
        findings.push(Finding {
            control: ControlId::WaiverValid.to_string(),
            status: if expired { Status::Fail } else { Status::Pass },
            severity: ControlId::WaiverValid.entry().severity,
            stack,
            logical_id,
            pointer: format!("/compliance/waivers/{i}"),
            message: if expired {
                format!(
                    "waiver of `{}` owned by {} expired on {}",
                    w.rule, w.owner, w.expires
                )
            } else {
                format!(
                    "waiver of `{}` owned by {} valid until {}",
                    w.rule, w.owner, w.expires
                )
            },
            file: None,
            line: None,
            col: None,
            waiver: Some(w.clone()),
        });
        if !used[i] && !expired {
            warnings.push(format!(
                "waiver {i} ({} on {}) matches no failing finding; remove it",
                w.rule, w.resource
            ));
        }
    }
    summaries.sort_by(|a, b| a.stack.cmp(&b.stack));
    Ok(Report::new(
        options
            .today
            .clone()
            .unwrap_or_else(|| "as rendered (waiver expiry is judged by `dxops audit`)".into()),
        options.log_retention_days,
        summaries,
        findings,
        warnings,
        suppressions,
    ))
}

/// The rules a template's resources tell cdk-nag and checkov to skip.
fn suppressions_of(stack: &str, template: &serde_json::Value) -> Vec<Suppression> {
    let mut out = Vec::new();
    let Some(resources) = template.get("Resources").and_then(|r| r.as_object()) else {
        return out;
    };
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    for (id, r) in resources {
        let meta = &r["Metadata"];
        let lists = [
            ("cdk-nag", &meta["cdk_nag"]["rules_to_suppress"], "reason"),
            ("checkov", &meta["checkov"]["skip"], "comment"),
        ];
        for (scanner, list, reason) in lists {
            for item in list.as_array().into_iter().flatten() {
                out.push(Suppression {
                    stack: stack.to_string(),
                    logical_id: id.clone(),
                    scanner: scanner.to_string(),
                    rule: text(item, "id"),
                    reason: text(item, reason),
                    applies_to: item["applies_to"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| match a.as_str() {
                            Some(s) => s.to_string(),
                            None => a.to_string(),
                        })
                        .collect(),
                });
            }
        }
    }
    out
}

/// The file position of `inner`, a pointer into the JSON document held by the
/// string at `pointer`, when that string is a YAML literal block (`|`), whose
/// lines map one to one onto the file's.
fn embedded_location(
    doc: &yaml::Document,
    text: &str,
    pointer: &str,
    inner: &str,
) -> Option<(usize, usize)> {
    let body = match doc.value.pointer(pointer)? {
        serde_json::Value::String(s) => s.as_str(),
        serde_json::Value::Object(o) => match o.get("Fn::Sub")? {
            serde_json::Value::String(s) => s.as_str(),
            serde_json::Value::Array(a) => a.first()?.as_str()?,
            _ => return None,
        },
        _ => return None,
    };
    // The string node's location is keyed by where the YAML put it: directly
    // under the property for `!Sub |`, or as item 0 for `!Sub [|, vars]`. A
    // literal block's span starts at its first content character, and the
    // line before ends with the `|` indicator.
    let literal = |offset: usize| {
        text.get(..offset).is_some_and(|before| {
            let head = before.trim_end_matches([' ', '\n', '\r']);
            let head =
                head.trim_end_matches(['-', '+', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
            head.ends_with('|') && before[head.len()..].contains('\n')
        })
    };
    let span = [
        pointer.to_string(),
        format!("{pointer}/0"),
        format!("{pointer}/Fn::Sub"),
        format!("{pointer}/Fn::Sub/0"),
    ]
    .iter()
    .filter_map(|p| doc.locations.get(p))
    .map(|l| l.value)
    .find(|s| s.line > 0 && literal(s.offset))?;
    let inner_doc = yaml::parse(body).ok()?;
    let at = inner_doc.locations.get(inner)?.value;
    Some((
        (span.line + at.line).saturating_sub(1),
        span.col.saturating_sub(1) + at.col,
    ))
}

/// Mark a failure of `control` as waived by the first unexpired waiver that
/// covers it; `rules` are the waivers' parsed controls.
fn apply_waivers(
    finding: &mut Finding,
    control: ControlId,
    waivers: &[Waiver],
    rules: &[ControlId],
    today: Option<&str>,
    used: &mut [bool],
) {
    let mut expired_match = None;
    for (i, (w, rule)) in waivers.iter().zip(rules).enumerate() {
        if *rule != control || !w.covers(&finding.stack, &finding.logical_id) {
            continue;
        }
        used[i] = true;
        if today.is_some_and(|t| w.expired(t)) {
            expired_match.get_or_insert(w);
            continue;
        }
        finding.status = Status::Waived;
        finding.waiver = Some(w.clone());
        return;
    }
    if let Some(w) = expired_match {
        finding.message = format!("{} (waiver expired on {})", finding.message, w.expires);
    }
}
