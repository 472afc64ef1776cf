//! `dxops`: the command line. Parses arguments, calls the library, prints,
//! and maps outcomes to exit codes (0 ok, 1 error, 2 findings or drift).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use dxops::render::{self, Renderer};
use dxops::spec::{self, Plan, Problem};

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
dxops synth --check specs/*.yaml      in CI: fail when stacks/ is stale",
    after_help = "Exit codes: 0 ok; 1 error (invalid spec, I/O, stale stacks under synth --check); 2 findings (audit)."
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Short,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
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
    }
}

/// Load every spec; print all problems of all files before giving up.
fn load_all(paths: &[PathBuf], format: Format) -> Result<Option<Vec<Plan>>> {
    let mut plans = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        match spec::load(&path.display().to_string(), &text) {
            Ok(plan) => plans.push(plan),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        return Ok(Some(plans));
    }
    report_problems(&problems, format);
    Ok(None)
}

fn report_problems(problems: &[Problem], format: Format) {
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
        Some(plans) => {
            match format {
                Format::Json => println!("{{\"problems\": []}}"),
                _ => {
                    for (path, plan) in paths.iter().zip(&plans) {
                        let envs: Vec<&str> =
                            plan.environments.keys().map(String::as_str).collect();
                        eprintln!(
                            "ok: {} ({}: {})",
                            path.display(),
                            plan.name,
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
    let Some(plans) = load_all(paths, Format::Human)? else {
        return Ok(ExitCode::from(1));
    };
    let renderer = match templates {
        Some(dir) => Renderer::from_dir(dir)?,
        None => Renderer::embedded()?,
    };
    let mut stale = 0;
    for plan in &plans {
        let files = renderer.render(plan)?;
        if check {
            let drift = render::compare(&files, out)?;
            for d in &drift {
                print!("{d}");
            }
            stale += drift.len();
        } else {
            let written = render::write(&files, out)?;
            eprintln!(
                "{}: {} files in {}",
                plan.name,
                written,
                out.join(&plan.name).display()
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

const STARTER: &str = include_str!("../templates/init.yaml");

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
