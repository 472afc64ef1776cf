//! The audit report and its renderings (human, JSON, SARIF 2.1.0, Markdown).

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::AuditError;
use super::catalogue::{CONTROLS, Control, ControlId, Severity};
use super::waiver::Waiver;

/// The outcome of one judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fail,
    Waived,
    Pass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fail => "fail",
            Status::Waived => "waived",
            Status::Pass => "pass",
        }
    }
}

/// The outcome of a control over all templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ControlStatus {
    Fail,
    Waived,
    Pass,
    NotApplicable,
}

impl ControlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Fail => "fail",
            ControlStatus::Waived => "waived",
            ControlStatus::Pass => "pass",
            ControlStatus::NotApplicable => "not-applicable",
        }
    }
}

/// One judgement of one control on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    pub control: String,
    pub status: Status,
    pub severity: Severity,
    pub stack: String,
    pub logical_id: String,
    /// JSON pointer into the template (or into the spec for `waiver-valid`).
    pub pointer: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<Waiver>,
}

/// A control's overall result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ControlResult {
    pub id: String,
    pub status: ControlStatus,
    pub severity: Severity,
    pub cfr: Vec<String>,
    pub pass: usize,
    pub fail: usize,
    pub waived: usize,
}

/// A judged template and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TemplateSummary {
    pub stack: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub sha256: String,
}

/// The whole audit result. Serialises to the stable JSON report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Report {
    /// Version of the JSON report schema.
    pub schema_version: u32,
    pub audit_date: String,
    pub log_retention_days: u32,
    pub templates: Vec<TemplateSummary>,
    pub controls: Vec<ControlResult>,
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
    /// What the templates tell other scanners to skip, as their metadata
    /// says it (`cdk_nag.rules_to_suppress`, `checkov.skip`).
    pub suppressions: Vec<Suppression>,
}

/// One rule another scanner is told to skip on one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct Suppression {
    pub stack: String,
    pub logical_id: String,
    /// `cdk-nag` or `checkov`.
    pub scanner: String,
    pub rule: String,
    pub reason: String,
    /// The findings of a granular rule it covers (cdk-nag's `applies_to`);
    /// empty: all of them.
    pub applies_to: Vec<String>,
}

/// Output formats of `dxops audit --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Markdown,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "human" => Ok(Format::Human),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            "markdown" => Ok(Format::Markdown),
            other => Err(format!(
                "unknown format `{other}` (human, json, sarif, markdown)"
            )),
        }
    }
}

/// Report position of a finding's control; `ControlId` order is report order.
fn control_index(id: &str) -> usize {
    id.parse::<ControlId>().map_or(usize::MAX, |c| c as usize)
}

/// JSON Schema of the `--format json` report (schema_version 1).
pub fn report_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or_default()
}

/// Exit code for a run: 0 all pass (waived allowed), 2 failing findings,
/// 1 the audit could not run.
pub fn exit_code(result: &Result<Report, AuditError>) -> i32 {
    match result {
        Ok(r) => r.exit_code(),
        Err(_) => 1,
    }
}

impl Report {
    pub(crate) fn new(
        audit_date: String,
        log_retention_days: u32,
        templates: Vec<TemplateSummary>,
        mut findings: Vec<Finding>,
        mut warnings: Vec<String>,
        mut suppressions: Vec<Suppression>,
    ) -> Report {
        suppressions.sort();
        suppressions.dedup();
        findings.sort_by(|a, b| {
            (
                control_index(&a.control),
                &a.stack,
                &a.logical_id,
                &a.pointer,
                a.status,
                &a.message,
            )
                .cmp(&(
                    control_index(&b.control),
                    &b.stack,
                    &b.logical_id,
                    &b.pointer,
                    b.status,
                    &b.message,
                ))
        });
        findings.dedup();
        warnings.sort();
        let controls = CONTROLS
            .iter()
            .map(|c| {
                let of = |s: Status| {
                    findings
                        .iter()
                        .filter(|f| f.control == c.id && f.status == s)
                        .count()
                };
                let (pass, fail, waived) = (of(Status::Pass), of(Status::Fail), of(Status::Waived));
                let status = if fail > 0 {
                    ControlStatus::Fail
                } else if waived > 0 {
                    ControlStatus::Waived
                } else if pass > 0 {
                    ControlStatus::Pass
                } else {
                    ControlStatus::NotApplicable
                };
                ControlResult {
                    id: c.id.to_string(),
                    status,
                    severity: c.severity,
                    cfr: c.cfr.iter().map(|s| s.to_string()).collect(),
                    pass,
                    fail,
                    waived,
                }
            })
            .collect();
        Report {
            schema_version: 1,
            audit_date,
            log_retention_days,
            templates,
            controls,
            findings,
            warnings,
            suppressions,
        }
    }

    /// 0 when nothing fails (waived findings allowed), 2 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.findings.iter().any(|f| f.status == Status::Fail) {
            2
        } else {
            0
        }
    }

    /// Ids of the controls that fail.
    pub fn failing_controls(&self) -> Vec<&str> {
        self.controls
            .iter()
            .filter(|c| c.status == ControlStatus::Fail)
            .map(|c| c.id.as_str())
            .collect()
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Human => self.human(),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
                s.push('\n');
                s
            }
            Format::Sarif => {
                let mut s = serde_json::to_string_pretty(&self.sarif()).unwrap_or_default();
                s.push('\n');
                s
            }
            Format::Markdown => self.markdown(),
        }
    }

    fn findings_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.control == id)
    }

    fn place(f: &Finding) -> String {
        match (&f.file, f.line, f.col) {
            (Some(file), Some(l), Some(c)) => format!(" ({file}:{l}:{c})"),
            (Some(file), _, _) => format!(" ({file})"),
            _ => String::new(),
        }
    }

    fn resource_name(f: &Finding) -> String {
        if f.stack.is_empty() {
            f.logical_id.clone()
        } else {
            format!("{}/{}", f.stack, f.logical_id)
        }
    }

    fn human(&self) -> String {
        let mut out = String::new();
        let count = |s: ControlStatus| self.controls.iter().filter(|c| c.status == s).count();
        let _ = writeln!(
            out,
            "dxops audit {}: {} template(s), {} control(s) failing, {} waived, {} passing, {} not applicable",
            self.audit_date,
            self.templates.len(),
            count(ControlStatus::Fail),
            count(ControlStatus::Waived),
            count(ControlStatus::Pass),
            count(ControlStatus::NotApplicable),
        );
        for c in &self.controls {
            let _ = writeln!(
                out,
                "\n{:<6} {} [{}] {}",
                c.status.as_str().to_uppercase(),
                c.id,
                c.severity.as_str(),
                c.cfr.join(", ")
            );
            for f in self.findings_of(&c.id).filter(|f| f.status != Status::Pass) {
                let _ = writeln!(
                    out,
                    "  {:<6} {} {}{}",
                    f.status.as_str(),
                    Self::resource_name(f),
                    f.pointer,
                    Self::place(f)
                );
                let _ = writeln!(out, "         {}", f.message);
                if let (Status::Waived, Some(w)) = (f.status, &f.waiver) {
                    let _ = writeln!(
                        out,
                        "         waived by {} until {}: {}",
                        w.owner, w.expires, w.reason
                    );
                }
            }
            if c.pass > 0 {
                let _ = writeln!(out, "  {} passing", c.pass);
            }
        }
        if !self.warnings.is_empty() {
            out.push_str("\nwarnings:\n");
            for w in &self.warnings {
                let _ = writeln!(out, "  {w}");
            }
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HIPAA compliance audit\n");
        let _ = writeln!(
            out,
            "Audit date: {}. Required log retention: {} days.\n",
            self.audit_date, self.log_retention_days
        );
        out.push_str("## Templates judged\n\n| Stack | File | SHA-256 |\n|---|---|---|\n");
        for t in &self.templates {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` |",
                cell(&t.stack),
                cell(t.file.as_deref().unwrap_or("-")),
                t.sha256
            );
        }
        out.push_str("\n## Summary\n\n| Control | Status | Severity | 45 CFR | Pass | Fail | Waived |\n|---|---|---|---|---|---|---|\n");
        for c in &self.controls {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                c.id,
                c.status.as_str(),
                c.severity.as_str(),
                c.cfr.join(", "),
                c.pass,
                c.fail,
                c.waived
            );
        }
        out.push_str("\n## Controls\n");
        for (c, r) in CONTROLS.iter().zip(&self.controls) {
            let _ = writeln!(out, "\n### `{}`: {}\n", c.id, r.status.as_str());
            let _ = writeln!(out, "- Rationale: {}", c.rationale);
            let _ = writeln!(out, "- Check: {}", c.check);
            let _ = writeln!(out, "- 45 CFR: {}", c.cfr.join(", "));
            let _ = writeln!(out, "- Waivable: {}", if c.waivable { "yes" } else { "no" });
            let evidence: Vec<&Finding> = self.findings_of(c.id).collect();
            if evidence.is_empty() {
                out.push_str("\nNo resource in the judged templates is subject to this control.\n");
                continue;
            }
            out.push_str("\nEvidence:\n\n");
            for f in &evidence {
                let _ = writeln!(
                    out,
                    "- {} `{}` `{}`: {}",
                    f.status.as_str(),
                    Self::resource_name(f),
                    f.pointer,
                    f.message.replace('\n', " ")
                );
            }
            let waived: Vec<&&Finding> = evidence
                .iter()
                .filter(|f| f.status == Status::Waived)
                .collect();
            if !waived.is_empty() {
                out.push_str(
                    "\nWaivers:\n\n| Resource | Owner | Reason | Expires |\n|---|---|---|---|\n",
                );
                for f in waived {
                    if let Some(w) = &f.waiver {
                        let _ = writeln!(
                            out,
                            "| {} | {} | {} | {} |",
                            cell(&Self::resource_name(f)),
                            cell(&w.owner),
                            cell(&w.reason),
                            cell(&w.expires)
                        );
                    }
                }
            }
        }
        let waivers: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.control == ControlId::WaiverValid.as_str())
            .collect();
        if !waivers.is_empty() {
            out.push_str("\n## Waivers\n\n| Control | Resource | Owner | Reason | Expires | Status | Findings waived |\n|---|---|---|---|---|---|---|\n");
            for f in waivers {
                let Some(w) = &f.waiver else { continue };
                let waived = self
                    .findings
                    .iter()
                    .filter(|g| g.status == Status::Waived && g.waiver.as_ref() == Some(w))
                    .count();
                let status = if f.status == Status::Fail {
                    "expired"
                } else {
                    "valid"
                };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} | {} |",
                    cell(&w.rule),
                    cell(&w.resource),
                    cell(&w.owner),
                    cell(&w.reason),
                    cell(&w.expires),
                    status,
                    waived
                );
            }
        }
        if !self.suppressions.is_empty() {
            out.push_str("\n## Suppressed in cdk-nag and checkov\n\n| Resource | Scanner | Rule | Reason |\n|---|---|---|---|\n");
            for x in &self.suppressions {
                let rule = match x.applies_to.len() {
                    0 => format!("`{}`", x.rule),
                    1 => format!("`{}` (1 finding)", x.rule),
                    n => format!("`{}` ({n} findings)", x.rule),
                };
                let _ = writeln!(
                    out,
                    "| {}/{} | {} | {} | {} |",
                    cell(&x.stack),
                    cell(&x.logical_id),
                    x.scanner,
                    cell(&rule),
                    cell(&x.reason)
                );
            }
        }
        if !self.warnings.is_empty() {
            out.push_str("\n## Warnings\n\n");
            for w in &self.warnings {
                let _ = writeln!(out, "- {w}");
            }
        }
        out
    }

    fn sarif(&self) -> Value {
        let rules: Vec<Value> = CONTROLS.iter().map(sarif_rule).collect();
        let artifacts: Vec<Value> = self
            .templates
            .iter()
            .filter_map(|t| {
                t.file
                    .as_ref()
                    .map(|f| json!({"location": {"uri": f}, "hashes": {"sha-256": t.sha256}}))
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .filter(|f| f.status != Status::Pass)
            .map(|f| {
                let mut location = json!({
                    "logicalLocations": [{
                        "fullyQualifiedName": Self::resource_name(f),
                        "kind": "resource",
                    }],
                });
                if let Some(file) = &f.file {
                    let mut physical = json!({"artifactLocation": {"uri": file}});
                    if let (Some(l), Some(c)) = (f.line, f.col) {
                        physical["region"] = json!({"startLine": l, "startColumn": c});
                    }
                    location["physicalLocation"] = physical;
                }
                let mut result = json!({
                    "ruleId": f.control,
                    "ruleIndex": control_index(&f.control),
                    "level": sarif_level(f.severity),
                    "message": {"text": f.message},
                    "locations": [location],
                    "properties": {"stack": f.stack, "logicalId": f.logical_id, "pointer": f.pointer},
                });
                if let (Status::Waived, Some(w)) = (f.status, &f.waiver) {
                    result["suppressions"] = json!([{
                        "kind": "external",
                        "status": "accepted",
                        "justification": format!("{} (owner {}, expires {})", w.reason, w.owner, w.expires),
                    }]);
                }
                result
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "dxops-audit",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }},
                "artifacts": artifacts,
                "results": results,
                "columnKind": "unicodeCodePoints",
            }],
        })
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn sarif_rule(c: &Control) -> Value {
    json!({
        "id": c.id,
        "name": c.id,
        "shortDescription": {"text": c.rationale},
        "fullDescription": {"text": c.check},
        "help": {
            "text": format!("{} Check: {} (45 CFR {})", c.rationale, c.check, c.cfr.join(", ")),
            "markdown": format!("{}\n\n**Check:** {}\n\n**45 CFR:** {}", c.rationale, c.check, c.cfr.join(", ")),
        },
        "defaultConfiguration": {"level": sarif_level(c.severity)},
        "properties": {
            "cfr": c.cfr,
            "family": c.family,
            "waivable": c.waivable,
            "tags": ["hipaa", c.family],
        },
    })
}

/// Text in a Markdown table cell: a pipe would start another cell, a line
/// break end the row, and a backslash or `<` escape or open markup, so each
/// is written so that it shows as itself.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("&lt;"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod cell_tests {
    #[test]
    fn a_cell_cannot_add_cells_or_rows() {
        let text = super::cell("a | b\n| c |\r<script>\\");
        assert!(!text.contains('\n') && !text.contains('\r'));
        assert_eq!(text.matches('|').count(), text.matches("\\|").count());
        assert!(!text.contains('<'));
    }
}
