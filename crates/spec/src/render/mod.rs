//! ValidatedSpec → the files of `stacks/<name>/<env>/`.
//!
//! Templates (Tera, embedded; `--templates DIR` overrides any of them by
//! name) give each file its shape; the renderer gives them a typed context.
//! Whatever a template emits is parsed back and re-emitted canonically, so a
//! template bug is an error naming the file and line, never broken output,
//! and formatting never drifts. Nothing time- or machine-dependent enters a
//! file: the manifest carries content hashes only.

mod context;
pub mod escape;
mod lift;
mod lower;
mod manifest;
mod output;
mod suppress;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::audit::{AuditOptions, Format, Report, TemplateInput};
use crate::spec::{Environment, ValidatedSpec};
pub use output::{Stale, compare, write};

/// Templates shipped in the binary: (file name, text).
const EMBEDDED: [(&str, &str); 12] = [
    (
        "macros.tera",
        include_str!("../../../../templates/macros.tera"),
    ),
    (
        "recovery.yaml.tera",
        include_str!("../../../../templates/recovery.yaml.tera"),
    ),
    (
        "quality.dqdl.tera",
        include_str!("../../../../templates/quality.dqdl.tera"),
    ),
    (
        "pipeline.json.tera",
        include_str!("../../../../templates/pipeline.json.tera"),
    ),
    (
        "retrain.asl.json.tera",
        include_str!("../../../../templates/retrain.asl.json.tera"),
    ),
    (
        "quality-check.asl.json.tera",
        include_str!("../../../../templates/quality-check.asl.json.tera"),
    ),
    (
        "live-quality.asl.json.tera",
        include_str!("../../../../templates/live-quality.asl.json.tera"),
    ),
    (
        "promote.asl.json.tera",
        include_str!("../../../../templates/promote.asl.json.tera"),
    ),
    (
        "data.yaml.tera",
        include_str!("../../../../templates/data.yaml.tera"),
    ),
    (
        "ingest.yaml.tera",
        include_str!("../../../../templates/ingest.yaml.tera"),
    ),
    (
        "ml.yaml.tera",
        include_str!("../../../../templates/ml.yaml.tera"),
    ),
    (
        "serving.yaml.tera",
        include_str!("../../../../templates/serving.yaml.tera"),
    ),
];

/// Every CloudFormation template, in deployment order. `recovery.yaml` deploys
/// in the recovery region and exists only when the spec names one.
pub const STACKS: [&str; 5] = [
    "recovery.yaml",
    "data.yaml",
    "ingest.yaml",
    "ml.yaml",
    "serving.yaml",
];

/// Most bytes one spec may render, all environments together: about 190
/// times one environment of the example spec (340 kB), far below what would
/// strain a runner.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// The templates one environment renders.
pub fn stacks_of(env: &Environment) -> Vec<&'static str> {
    STACKS
        .into_iter()
        .filter(|s| *s != "recovery.yaml" || env.spec.compliance.recovery_region.is_some())
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read templates from {path}: {source}")]
    TemplateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error(
        "template {name} produced malformed {kind} at line {line}, column {col}: {message}\n  | {excerpt}"
    )]
    Malformed {
        name: String,
        kind: &'static str,
        line: usize,
        col: usize,
        message: String,
        excerpt: String,
    },
    #[error(
        "{what} cannot be written in {destination} without changing its meaning (validation should have refused it)"
    )]
    Unquotable {
        what: &'static str,
        destination: &'static str,
    },
    #[error(
        "the rendered files pass {limit} bytes at environment `{env}`; split the spec or shorten its lists"
    )]
    TooLarge { env: String, limit: usize },
    #[error("compliance audit of the rendered templates: {0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error(
        "{path} is a symbolic link; synth writes only inside the output folder (remove the link or pick another --out)"
    )]
    Link { path: PathBuf },
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One rendered file: its path relative to the output folder, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: String,
}

pub struct Renderer {
    tera: tera::Tera,
    /// The text runs and expressions lifted out of the templates before Tera
    /// compiled them.
    runs: lift::Runs,
    /// The templates as written, compiled only when a lifted expression
    /// cannot be printed (see `lift`), so that Tera answers.
    sources: Vec<(&'static str, String)>,
    as_written: std::sync::OnceLock<Result<tera::Tera, String>>,
}

impl Renderer {
    /// The templates compiled into the binary.
    pub fn embedded() -> Result<Renderer, RenderError> {
        Self::with_overrides(BTreeMap::new())
    }

    /// Embedded templates, with any of the same name in `dir` taking their place.
    pub fn from_dir(dir: &Path) -> Result<Renderer, RenderError> {
        let mut overrides = BTreeMap::new();
        for (name, _) in EMBEDDED {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    overrides.insert(name, text);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(RenderError::TemplateDir { path, source }),
            }
        }
        Self::with_overrides(overrides)
    }

    fn with_overrides(overrides: BTreeMap<&str, String>) -> Result<Renderer, RenderError> {
        let templates: Vec<(&'static str, &str)> = EMBEDDED
            .iter()
            .map(|(name, text)| {
                (
                    *name,
                    overrides.get(name).map(String::as_str).unwrap_or(text),
                )
            })
            .collect();
        let texts: Vec<&str> = templates.iter().map(|(_, text)| *text).collect();
        let (runs, lifted) = lift::Runs::lift_all(&texts);
        let lifted: Vec<(&str, &str)> = templates
            .iter()
            .zip(&lifted)
            .map(|((name, _), text)| (*name, text.as_str()))
            .collect();
        match compile(&lifted) {
            Ok(tera) => Ok(Renderer {
                tera,
                runs,
                sources: templates
                    .iter()
                    .map(|(name, text)| (*name, text.to_string()))
                    .collect(),
                as_written: std::sync::OnceLock::new(),
            }),
            // Positions in an error must point into the file as written.
            Err(e) => Err(RenderError::Template {
                name: "templates".into(),
                message: error_chain(&compile(&templates).err().unwrap_or(e)),
            }),
        }
    }

    /// Every file of every environment of a validated spec, in the (sorted)
    /// order of environments.
    ///
    /// One thread renders them all: a thread per environment saved wall time
    /// but no CPU (callgrind counts 2% more instructions with threads; task
    /// clock was within noise), and CPU is what a shared runner pays for.
    ///
    /// The output is bounded: past [`MAX_OUTPUT_BYTES`] rendering stops with
    /// an error, whatever the spec's lists hold.
    pub fn render(&self, spec: &ValidatedSpec) -> Result<Vec<RenderedFile>, RenderError> {
        let mut files = Vec::new();
        let mut bytes = 0;
        for env in spec.environments.values() {
            let rendered = self.render_env(spec, env)?;
            bytes += rendered.iter().map(|f| f.contents.len()).sum::<usize>();
            if bytes > MAX_OUTPUT_BYTES {
                return Err(RenderError::TooLarge {
                    env: env.env.clone(),
                    limit: MAX_OUTPUT_BYTES,
                });
            }
            files.extend(rendered);
        }
        Ok(files)
    }

    /// Every file of one environment.
    pub fn render_env(
        &self,
        spec: &ValidatedSpec,
        env: &Environment,
    ) -> Result<Vec<RenderedFile>, RenderError> {
        let dir = PathBuf::from(&spec.name).join(&env.env);
        // One tera context for all of the environment's templates, grown as
        // later templates need earlier results, instead of a copy per template.
        let mut ctx = tera::Context::from_value(Value::Object(context::build(env)?))
            .expect("the context is an object");
        let mut out: Vec<(String, String)> = Vec::new();

        out.push((
            "process.json".into(),
            canonical_json(
                &serde_json::to_value(context::data_contract(&env.spec))
                    .expect("contract serializes"),
            ),
        ));
        out.push(("quality.dqdl".into(), self.text("quality.dqdl.tera", &ctx)?));

        let pipeline = self.json("pipeline.json.tera", &ctx)?;
        ctx.insert(
            "pipeline_definition",
            &serde_json::to_string(&pipeline).expect("json"),
        );
        out.push(("pipeline.json".into(), canonical_json(&pipeline)));

        let quality = self.json("quality-check.asl.json.tera", &ctx)?;
        ctx.insert("quality_check_definition", &quality);
        out.push(("quality-check.asl.json".into(), canonical_json(&quality)));

        let asl = self.json("retrain.asl.json.tera", &ctx)?;
        ctx.insert("state_machine_definition", &asl);
        out.push(("retrain.asl.json".into(), canonical_json(&asl)));

        if ctx.get("live_quality").is_some_and(|v| !v.is_null()) {
            let asl = self.json("live-quality.asl.json.tera", &ctx)?;
            ctx.insert("live_quality_definition", &asl);
            out.push(("live-quality.asl.json".into(), canonical_json(&asl)));
        }
        if ctx.get("promote").and_then(Value::as_bool) == Some(true) {
            let asl = self.json("promote.asl.json.tera", &ctx)?;
            ctx.insert("promote_definition", &asl);
            out.push(("promote.asl.json".into(), canonical_json(&asl)));
        }

        // The audit reads each stack as written; the writer hands over the
        // document it wrote, so the text is not parsed a second time.
        let mut docs = Vec::new();
        let mut interfaces = Vec::new();
        let waivers = audit_options(env, None).waivers;
        for stack in stacks_of(env) {
            let mut value = self.yaml(&format!("{stack}.tera"), &ctx)?;
            lower::inline_policies_to_managed(&mut value);
            // Every waiver reaches cdk-nag and checkov as the audit reports it.
            suppress::annotate(&mut value, &context::stack_name(env, stack), &waivers);
            interfaces.push((stack, manifest::interface(&value)));
            let (text, doc) = crate::yaml::to_document(value);
            // Debug builds (the tests) check the writer's claim against the parser.
            debug_assert!(
                doc.as_ref().is_none_or(|d| crate::yaml::parse(&text)
                    .is_ok_and(|p| p.value == d.value && p.locations == d.locations)),
                "{stack}: the written document differs from the parsed one"
            );
            out.push((stack.to_string(), text));
            docs.push(doc);
        }
        let report = compliance(env, &out[out.len() - docs.len()..], docs)?;
        out.push(("compliance.json".into(), report.render(Format::Json)));
        out.push(("compliance.md".into(), report.render(Format::Markdown)));

        let manifest = manifest::build(spec, env, &interfaces, &out);
        let manifest = serde_json::to_value(&manifest).expect("manifests serialize");
        out.push((
            dxops_contract::manifest::FILE.into(),
            canonical_json(&manifest),
        ));
        Ok(out
            .into_iter()
            .map(|(name, contents)| RenderedFile {
                path: dir.join(name),
                contents,
            })
            .collect())
    }

    fn text(&self, name: &str, ctx: &tera::Context) -> Result<String, RenderError> {
        let error = |e: tera::Error| RenderError::Template {
            name: name.into(),
            message: error_chain(&e),
        };
        let lifted = self.tera.render(name, ctx).map_err(error)?;
        if let Some(text) = self.runs.restore(&lifted, ctx, autoescapes(name)) {
            return Ok(text);
        }
        let tera = self
            .as_written
            .get_or_init(|| {
                let sources: Vec<(&str, &str)> =
                    self.sources.iter().map(|(n, t)| (*n, t.as_str())).collect();
                compile(&sources).map_err(|e| error_chain(&e))
            })
            .as_ref()
            .map_err(|message| RenderError::Template {
                name: "templates".into(),
                message: message.clone(),
            })?;
        tera.render(name, ctx).map_err(error)
    }

    fn json(&self, name: &str, ctx: &tera::Context) -> Result<Value, RenderError> {
        let text = self.text(name, ctx)?;
        serde_json::from_str(&text)
            .map_err(|e| malformed(name, "JSON", &text, e.line(), e.column(), e.to_string()))
    }

    fn yaml(&self, name: &str, ctx: &tera::Context) -> Result<Value, RenderError> {
        let text = self.text(name, ctx)?;
        crate::yaml::parse_value(&text).map_err(|e| {
            let span = e.span();
            malformed(name, "YAML", &text, span.line, span.col, e.to_string())
        })
    }
}

/// Templates whose printed values Tera escapes (see `escape`).
const AUTOESCAPED: [&str; 2] = [".yaml.tera", ".json.tera"];

fn autoescapes(name: &str) -> bool {
    AUTOESCAPED.iter().any(|suffix| name.ends_with(suffix))
}

fn compile(templates: &[(&str, &str)]) -> tera::Result<tera::Tera> {
    let mut tera = tera::Tera::default();
    // Every value a YAML or JSON template prints is escaped as the body
    // of a double-quoted string (see `escape`); structure enters only
    // as `json_encode` output, which is complete JSON.
    tera.autoescape_on(AUTOESCAPED.to_vec());
    tera.set_escape_fn(escape::quoted);
    tera.register_filter("json_encode", escape::JsonEncode);
    tera.add_raw_templates(templates.iter().copied())?;
    Ok(tera)
}

/// The audit of one environment's rendered templates, as reviewers see it in
/// `compliance.{json,md}`. Waiver expiry is left to `dxops audit`, so the
/// files do not change with the calendar. `docs[i]`, when given, is what
/// `files[i]` reads as.
fn compliance(
    env: &Environment,
    files: &[(String, String)],
    docs: Vec<Option<crate::yaml::Document>>,
) -> Result<Report, RenderError> {
    let templates: Vec<(TemplateInput, Option<crate::yaml::Document>)> = files
        .iter()
        .zip(docs)
        .filter(|((name, _), _)| STACKS.contains(&name.as_str()))
        .map(|((name, text), doc)| (template_input(env, name, text), doc))
        .collect();
    Ok(crate::audit::audit_parsed(
        &templates,
        &audit_options(env, None),
    )?)
}

/// Audit an environment's rendered CloudFormation templates (`(file name,
/// text)` pairs; other files are ignored) with the spec's waivers and log
/// retention, judging waiver expiry against `today` when given.
pub fn audit_env<'a>(
    env: &Environment,
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    today: Option<String>,
) -> Result<Report, RenderError> {
    let templates: Vec<TemplateInput> = files
        .into_iter()
        .filter(|(name, _)| STACKS.contains(name))
        .map(|(name, text)| template_input(env, name, text))
        .collect();
    Ok(crate::audit::audit(&templates, &audit_options(env, today))?)
}

fn template_input(env: &Environment, name: &str, text: &str) -> TemplateInput {
    TemplateInput {
        stack: context::stack_name(env, name),
        path: Some(PathBuf::from(name)),
        text: text.to_string(),
    }
}

fn audit_options(env: &Environment, today: Option<String>) -> AuditOptions {
    let mut waivers = env.spec.compliance.waivers.clone();
    waivers.extend(crate::audit::design_waivers(
        |stack| context::stack_name(env, stack),
        env.spec.compliance.recovery_region.is_some(),
    ));
    AuditOptions {
        log_retention_days: env.spec.compliance.log_retention_days,
        waivers,
        today,
    }
}

fn malformed(
    name: &str,
    kind: &'static str,
    text: &str,
    line: usize,
    col: usize,
    message: String,
) -> RenderError {
    let excerpt = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .to_string();
    RenderError::Malformed {
        name: name.into(),
        kind,
        line,
        col,
        message,
        excerpt,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Two-space JSON with a final newline: the one JSON style of `stacks/`.
pub fn canonical_json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lifting_cannot_print_gets_teras_own_answer() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "quality.dqdl.tera",
            "{{ dqdl_ruleset }} {{ no_such_value }}\n".to_string(),
        );
        let renderer = Renderer::with_overrides(overrides).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("dqdl_ruleset", "Rules = []");
        let error = renderer.text("quality.dqdl.tera", &ctx).unwrap_err();
        assert!(error.to_string().contains("no_such_value"), "{error}");
        ctx.insert("no_such_value", &[1, 2]);
        let text = renderer.text("quality.dqdl.tera", &ctx).unwrap();
        assert_eq!(text, "Rules = [] [1, 2]\n");
    }
}
