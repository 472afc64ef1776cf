//! `dxops`: the command line. Parses arguments, calls the library, prints,
//! and maps outcomes to exit codes (0 ok, 1 error, 2 findings or drift).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

mod local;

use dxops_aws::sagemaker::Verdict;
use dxops_spec::render::{self, Renderer};
use dxops_spec::spec::{self, Problem, ValidatedSpec};

mod deploy;
mod gateway;
mod image;

#[derive(Parser)]
#[command(
    name = "dxops",
    version,
    about = "Declarative, audited MLOps pipelines for disease prediction on AWS",
    long_about = "dxops turns one YAML pipeline spec into everything AWS needs: CloudFormation \
stacks, a SageMaker pipeline, a Step Functions retraining loop, Glue data-quality rules and a \
HIPAA compliance report.\n\nTypical flow:\n  dxops init specs/my-pipeline.yaml     write a starter spec\n  \
dxops validate specs/*.yaml           check it, with file:line:col for every problem\n  \
dxops synth specs/*.yaml              render stacks/<name>/<env>/ for review\n  \
dxops synth --check specs/*.yaml      in CI: fail when stacks/ is stale\n\n\
Deploying (credentials, region and endpoint from the standard AWS chain):\n  \
dxops bootstrap SPEC --env staging           deploy role, template bucket, image repository (once)\n  \
dxops image build && dxops image push SPEC --env staging   the model image, by digest\n  \
dxops diff SPEC --env staging                what a deploy would change, security first\n  \
dxops deploy SPEC --env staging --parameter ImageUri=... --parameter ModelDataUrl=...\n  \
dxops pipeline start SPEC --env staging --wait   train, evaluate, gate, register\n  \
dxops approve SPEC --env staging --version N --reason \"...\"   a clinician's recorded decision\n  \
dxops status SPEC --env staging              stacks, executions, endpoint weights, model versions",
    after_help = "Exit codes: 0 ok; 1 error (invalid spec, I/O, stale stacks under synth --check); 2 findings (audit), changes (diff) or drift (status)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check specs against the schema and the semantic rules; report every problem.
    Validate {
        /// Spec files (YAML).
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Output: `human` (annotated source), `short` (file:line:col: code: message) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the spec's JSON Schema (draft 2020-12), for editors and other tools.
    Schema,
    /// Render every environment of each spec into DIR/<name>/<env>/.
    Synth {
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "stacks")]
        out: PathBuf,
        /// Render in memory and compare with DIR; print a unified diff and exit 1 when stale.
        #[arg(long)]
        check: bool,
        /// Folder of Tera templates overriding the embedded ones (same file names).
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// HIPAA compliance audit of rendered templates (from specs) or of CloudFormation templates on disk.
    #[command(
        long_about = "Judges CloudFormation templates against the HIPAA-oriented controls \
(docs/controls.md), each mapped to its 45 CFR 164.3xx section, with evidence per resource and \
property. Give specs (every environment is rendered in memory and judged with the spec's waivers \
and log retention) or template files (.yaml, .yml, .json).\n\nExit codes: 0 every control passes \
(waived ones listed), 2 findings, 1 error."
    )]
    Audit {
        /// Specs or CloudFormation templates.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Only this environment of each spec.
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
        format: AuditFormat,
        /// Date waivers are judged against (YYYY-MM-DD); default today (UTC).
        #[arg(long)]
        date: Option<String>,
        /// Minimum log retention in days, for template files (specs carry their own).
        #[arg(long, default_value_t = 2192)]
        log_retention_days: u32,
        /// Templates overriding the embedded ones, for specs.
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Run the environment's pipeline on this machine: ingest, ETL and quality, process, train,
    /// evaluate, gates, register, approve, serve, replay, drift, live quality, retraining.
    #[command(
        long_about = "Runs every step the rendered pipeline runs on AWS, on this machine, with no AWS \
account: records land as the ingest Lambda and the IoT rule write them, then the same processing, \
training and evaluation code the model image runs, in the same SageMaker layout, driven by the \
rendered files of the environment (data contract, hyperparameters, gates, drift settings). A \
model that passes the gates goes into the local registry (runs/registry/); the live model is \
served on 127.0.0.1, the held-out rows are replayed to it, and drift, live quality and the \
retraining decision are computed. Everything lands under --out/run-NNNN/, with report.html.\n\n\
Examples:\n  dxops run specs/disease-prediction.yaml\n  dxops run specs/disease-prediction.yaml --env prod --approve \"first model\"\n  \
dxops run specs/disease-prediction.yaml --data exports/ --format json\n\nExit codes: 0 the pipeline ran \
(failed gates are a result, shown in the summary); 1 error (invalid spec, unknown environment, missing \
data, port in use, a step that could not run)."
    )]
    Run(local::RunArgs),
    /// List the runs of `dxops run`, with metric deltas against the previous run.
    Runs {
        #[arg(long, default_value = local::DEFAULT_OUT)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = local::OutputFormat::Human)]
        format: local::OutputFormat,
    },
    /// List the model versions of the local registry, against each group's production version.
    Models {
        #[arg(long, default_value = local::DEFAULT_OUT)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = local::OutputFormat::Human)]
        format: local::OutputFormat,
    },
    #[command(
        about = "Approve a model package version in SageMaker's registry (or --local), recorded with who, why and the evaluation"
    )]
    Approve(deploy::DecideArgs),
    #[command(
        about = "Reject a model package version in SageMaker's registry (or --local), recorded with who, why and the evaluation"
    )]
    Reject(deploy::DecideArgs),
    #[command(
        about = "The environment's SageMaker pipeline: `dxops pipeline start SPEC --env E [--wait]`"
    )]
    Pipeline {
        #[command(subcommand)]
        command: deploy::PipelineCommand,
    },
    #[command(
        about = "Create or update what the first deploy needs: deploy role, template bucket, image repository"
    )]
    Bootstrap(deploy::BootstrapArgs),
    /// The model server of `dxops run` (internal: the same server as `dxops-model serve`).
    #[command(hide = true)]
    ServeModel {
        #[arg(long)]
        ml_root: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        #[arg(long)]
        port: Option<u16>,
    },
    /// The serving function of `dxops run` for `serving.target: lambda`
    /// (internal: the same loop as `dxops-model lambda`).
    #[command(hide = true)]
    ServeLambda {
        #[arg(long)]
        ml_root: PathBuf,
    },
    /// The gateway function of `dxops run` for specs whose endpoint has one
    /// (internal: the same loop as `dxops-gateway`).
    #[command(hide = true)]
    ServeGateway {
        #[arg(long)]
        contract: PathBuf,
    },
    /// Print the catalogue of compliance controls (the source of docs/controls.md).
    Controls,
    #[command(
        about = "What a deploy would change, security first (exit 0 none, 2 changes, 1 error)"
    )]
    Diff(deploy::DiffArgs),
    #[command(about = "Deploy the environment's stacks through change sets, in manifest order")]
    Deploy(deploy::DeployArgs),
    #[command(
        about = "Delete the serving, ml and ingest stacks; retained stores are listed, never deleted"
    )]
    Destroy(deploy::DestroyArgs),
    #[command(
        about = "Each stack's status and drift, the pipeline's last executions, the endpoint's variants, the model versions"
    )]
    Status(deploy::StatusArgs),
    #[command(
        about = "The dxops-model image: `image build` writes it as an OCI layout, `image push` sends it to ECR"
    )]
    Image {
        #[command(subcommand)]
        command: image::ImageCommand,
    },
    #[command(
        about = "The gateway function before the endpoint: `gateway package` writes its zip, `gateway push` uploads it"
    )]
    Gateway {
        #[command(subcommand)]
        command: gateway::GatewayCommand,
    },
    /// Write a commented starter spec that validates.
    Init {
        /// Where to write it.
        #[arg(default_value = "dxops.yaml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// `dxops audit --format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuditFormat {
    Human,
    Json,
    Sarif,
    Markdown,
}

impl From<AuditFormat> for dxops_spec::audit::Format {
    fn from(f: AuditFormat) -> Self {
        match f {
            AuditFormat::Human => Self::Human,
            AuditFormat::Json => Self::Json,
            AuditFormat::Sarif => Self::Sarif,
            AuditFormat::Markdown => Self::Markdown,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Short,
    Json,
}

fn main() -> ExitCode {
    // A usage error is an error (1): here 2 means changes, drift or findings.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", dxops_contract::error_chain(e.as_ref()));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate { specs, format } => validate(&specs, format),
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(spec::schema())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth {
            specs,
            out,
            check,
            templates,
        } => synth(&specs, &out, check, templates.as_deref()),
        Command::Init { path, force } => init(&path, force),
        Command::Run(args) => local::run(args),
        Command::Runs { out, format } => local::runs(&out, format),
        Command::Models { out, format } => local::models(&out, format),
        Command::Approve(args) => deploy::decide(args, Verdict::Approved),
        Command::Reject(args) => deploy::decide(args, Verdict::Rejected),
        Command::Pipeline { command } => deploy::pipeline(command),
        Command::Bootstrap(args) => deploy::bootstrap(args),
        Command::Image { command } => image::run(command),
        Command::Gateway { command } => gateway::run(command),
        Command::ServeModel {
            ml_root,
            host,
            port,
        } => {
            let options = dxops_ml::serve::ServeOptions::resolve(&ml_root, host, port)?;
            dxops_ml::serve::run(options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ServeLambda { ml_root } => {
            let options =
                dxops_ml::serve::ServeOptions::resolve(&ml_root, [0, 0, 0, 0].into(), None)?;
            dxops_ml::serve::lambda::run(options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ServeGateway { contract } => {
            dxops_gateway::run(&contract)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(args) => deploy::diff(args),
        Command::Deploy(args) => deploy::deploy(args),
        Command::Destroy(args) => deploy::destroy(args),
        Command::Status(args) => deploy::status(args),
        Command::Controls => {
            print!("{}", dxops_spec::audit::controls_markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            paths,
            env,
            format,
            date,
            log_retention_days,
            templates,
        } => audit(
            &paths,
            env.as_deref(),
            format.into(),
            date,
            log_retention_days,
            templates.as_deref(),
        ),
    }
}

/// Load every spec; print all problems of all files before giving up.
fn load_all(paths: &[PathBuf], format: Format) -> Result<Option<Vec<ValidatedSpec>>> {
    let mut specs = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        match spec::load(&path.display().to_string(), &text) {
            Ok(spec) => specs.push(spec),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        return Ok(Some(specs));
    }
    report_problems(&problems, format);
    Ok(None)
}

pub(crate) fn report_problems(problems: &[Problem], format: Format) {
    match format {
        Format::Human => {
            for p in problems {
                eprintln!("{}: {:?}", p.position(), miette::Report::new(p.clone()));
            }
            eprintln!(
                "{} problem{} found",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
        }
        Format::Short => {
            for p in problems {
                let help = p
                    .help
                    .as_deref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                eprintln!("{}: error[{}]: {}{help}", p.position(), p.code, p.message);
            }
        }
        Format::Json => {
            let items: Vec<_> = problems
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "file": p.source.name(),
                        "line": p.span.line,
                        "column": p.span.col,
                        "code": p.code.as_str(),
                        "message": p.message,
                        "help": p.help,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "problems": items }))
                    .unwrap_or_default()
            );
        }
    }
}

fn validate(paths: &[PathBuf], format: Format) -> Result<ExitCode> {
    match load_all(paths, format)? {
        Some(specs) => {
            match format {
                Format::Json => println!("{{\"problems\": []}}"),
                _ => {
                    for (path, spec) in paths.iter().zip(&specs) {
                        let envs: Vec<&str> =
                            spec.environments.keys().map(String::as_str).collect();
                        eprintln!(
                            "ok: {} ({}: {})",
                            path.display(),
                            spec.name,
                            envs.join(", ")
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::from(1)),
    }
}

fn synth(paths: &[PathBuf], out: &Path, check: bool, templates: Option<&Path>) -> Result<ExitCode> {
    let Some(specs) = load_all(paths, Format::Human)? else {
        return Ok(ExitCode::from(1));
    };
    let renderer = match templates {
        Some(dir) => Renderer::from_dir(dir)?,
        None => Renderer::embedded()?,
    };
    let mut stale = 0;
    for spec in &specs {
        let files = renderer.render(spec)?;
        if check {
            let stale_files = render::compare(&files, out)?;
            for d in &stale_files {
                print!("{d}");
            }
            stale += stale_files.len();
        } else {
            let written = render::write(&files, out)?;
            eprintln!(
                "{}: {} files in {}",
                spec.name,
                written,
                out.join(&spec.name).display()
            );
        }
    }
    if stale > 0 {
        eprintln!(
            "{stale} file{} in {} differ from the specs.\nhint: run `dxops synth {}` and commit the result",
            if stale == 1 { "" } else { "s" },
            out.display(),
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        return Ok(ExitCode::from(1));
    }
    if check {
        eprintln!("{} is up to date", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

const STARTER: &str = include_str!("../../../templates/init.yaml");

fn init(path: &Path, force: bool) -> Result<ExitCode> {
    if path.exists() && !force {
        anyhow::bail!("{} exists; pass --force to overwrite it", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, STARTER).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "wrote {}; next: dxops validate {}",
        path.display(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn is_template(path: &Path) -> Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(match dxops_spec::yaml::parse(&text) {
        Ok(doc) => {
            doc.value.get("Resources").is_some()
                || doc.value.get("AWSTemplateFormatVersion").is_some()
        }
        Err(_) => path.extension().is_some_and(|e| e == "json"),
    })
}

fn audit(
    paths: &[PathBuf],
    only_env: Option<&str>,
    format: dxops_spec::audit::Format,
    date: Option<String>,
    log_retention_days: u32,
    templates: Option<&Path>,
) -> Result<ExitCode> {
    use dxops_spec::audit::{AuditOptions, TemplateInput};
    let today = date.unwrap_or_else(today_utc);
    let mut reports: Vec<(String, dxops_spec::audit::Report)> = Vec::new();

    let (template_paths, spec_paths): (Vec<&PathBuf>, Vec<&PathBuf>) =
        paths.iter().partition(|p| is_template(p).unwrap_or(false));
    if !spec_paths.is_empty() {
        let files: Vec<PathBuf> = spec_paths.into_iter().cloned().collect();
        let Some(specs) = load_all(&files, Format::Human)? else {
            return Ok(ExitCode::from(1));
        };
        let renderer = match templates {
            Some(dir) => Renderer::from_dir(dir)?,
            None => Renderer::embedded()?,
        };
        for spec in &specs {
            if let Some(name) = only_env
                && !spec.environments.contains_key(name)
            {
                anyhow::bail!("spec `{}` has no environment `{name}`", spec.name);
            }
            for env in spec
                .environments
                .values()
                .filter(|e| only_env.is_none_or(|n| n == e.env))
            {
                let files = renderer.render_env(spec, env)?;
                let named: Vec<(String, &str)> = files
                    .iter()
                    .map(|f| {
                        (
                            f.path
                                .file_name()
                                .unwrap_or_default()
                                .to_string_lossy()
                                .into_owned(),
                            f.contents.as_str(),
                        )
                    })
                    .collect();
                let report = render::audit_env(
                    env,
                    named.iter().map(|(n, t)| (n.as_str(), *t)),
                    Some(today.clone()),
                )?;
                reports.push((format!("{} ({})", spec.name, env.env), report));
            }
        }
    }
    if !template_paths.is_empty() {
        let mut inputs = Vec::new();
        for path in template_paths {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            inputs.push(TemplateInput {
                stack: path.display().to_string(),
                path: Some(path.clone()),
                text,
            });
        }
        let options = AuditOptions {
            log_retention_days,
            waivers: Vec::new(),
            today: Some(today.clone()),
        };
        let report = dxops_spec::audit::audit(&inputs, &options)?;
        reports.push(("templates".into(), report));
    }

    print!("{}", combine(&reports, format)?);
    let code = reports
        .iter()
        .map(|(_, r)| r.exit_code())
        .max()
        .unwrap_or(0);
    Ok(ExitCode::from(code as u8))
}

/// One document for machines, one section per report for people.
fn combine(
    reports: &[(String, dxops_spec::audit::Report)],
    format: dxops_spec::audit::Format,
) -> Result<String> {
    use dxops_spec::audit::Format as F;
    if let [(_, only)] = reports {
        return Ok(only.render(format));
    }
    Ok(match format {
        F::Json => {
            let all: Vec<serde_json::Value> = reports
                .iter()
                .map(|(name, r)| Ok(serde_json::json!({ "target": name, "report": serde_json::from_str::<serde_json::Value>(&r.render(F::Json))? })))
                .collect::<Result<_>>()?;
            format!(
                "{}\n",
                serde_json::to_string_pretty(&serde_json::json!({ "reports": all }))?
            )
        }
        F::Sarif => {
            // One SARIF log, one run per audited target.
            let mut log: serde_json::Value = serde_json::from_str(&reports[0].1.render(F::Sarif))?;
            for (_, r) in &reports[1..] {
                let other: serde_json::Value = serde_json::from_str(&r.render(F::Sarif))?;
                if let (Some(runs), Some(more)) =
                    (log["runs"].as_array_mut(), other["runs"].as_array())
                {
                    runs.extend(more.iter().cloned());
                }
            }
            format!("{}\n", serde_json::to_string_pretty(&log)?)
        }
        F::Human | F::Markdown => reports
            .iter()
            .map(|(name, r)| {
                format!(
                    "{} {name}\n\n{}",
                    if format == F::Markdown { "#" } else { "==" },
                    r.render(format)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    })
}
