//! `dxops run`, `dxops runs`, `dxops models` and `dxops approve --local`:
//! the pipeline on this machine, its runs and its local registry.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use dxops_local::registry::{ApprovalStatus, Decision, Registry};
use dxops_local::{Progress, RunError, RunOptions, ServerCommand, StepRecord, StepStatus};

use crate::{Format, report_problems};

/// Where runs and the local registry live unless `--out` says otherwise
/// (beside `stacks/`, ignored by git).
pub const DEFAULT_OUT: &str = "runs";

#[derive(Args)]
pub struct RunArgs {
    /// The pipeline spec (YAML).
    pub spec: PathBuf,
    /// Environment to run (default: staging when the spec has one, else its first).
    #[arg(long)]
    pub env: Option<String>,
    /// Records as ingest writes them: a JSON, JSON-lines or CSV file, or a
    /// folder of them in any sub-folders (default: the simulated cohort).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Patients in the simulated cohort (without --data).
    #[arg(long, default_value_t = dxops_local::COHORT_ROWS)]
    pub rows: usize,
    /// CSV rows (with header) to replay to the served model instead of the
    /// held-out test split, e.g. to see drift.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Folder of runs and of the local model registry.
    #[arg(long, default_value = DEFAULT_OUT)]
    pub out: PathBuf,
    /// Port of the model server on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Approve the registered model as you, with this reason (as `dxops approve --local`).
    #[arg(long, value_name = "REASON")]
    pub approve: Option<String>,
    /// `human` (progress and a summary table) or `json` (one object on stdout).
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Args)]
pub struct ApproveArgs {
    /// The pipeline spec (YAML).
    pub spec: PathBuf,
    #[arg(long)]
    pub env: String,
    /// Model package version.
    #[arg(long)]
    pub version: u32,
    /// Why: recorded with your name and the time.
    #[arg(long)]
    pub reason: String,
    /// Decide in the local registry of `dxops run` (under --out) rather
    /// than SageMaker's (`dxops approve` without --local).
    #[arg(long)]
    pub local: bool,
    #[arg(long, default_value = DEFAULT_OUT)]
    pub out: PathBuf,
}

/// Progress on stderr: one line per step with its time.
struct Lines;

impl Progress for Lines {
    fn started(&mut self, step: &str) {
        // On a terminal the step shows while it runs; its line is then rewritten.
        if std::io::stderr().is_terminal() {
            eprint!("  {step:<13} ...");
            let _ = std::io::stderr().flush();
        }
    }

    fn finished(&mut self, r: &StepRecord) {
        let mark = match r.status {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "skipped",
        };
        let back = if std::io::stderr().is_terminal() {
            "\r"
        } else {
            ""
        };
        eprintln!(
            "{back}  {:<13} {mark:<7} {:>6.2} s  {}",
            r.name, r.seconds, r.detail
        );
    }
}

fn server_command() -> Result<ServerCommand> {
    Ok(ServerCommand {
        program: std::env::current_exe().context("locating the dxops binary")?,
        args: vec!["serve-model".into()],
        lambda_args: vec!["serve-lambda".into()],
        gateway_args: vec!["serve-gateway".into()],
    })
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let options = RunOptions {
        spec_file: args.spec.clone(),
        env: args.env,
        data: args.data,
        rows: args.rows,
        replay: args.replay,
        out: args.out,
        port: args.port,
        approve: args.approve,
        server: server_command()?,
    };
    if args.format == OutputFormat::Human {
        eprintln!("dxops run {}", args.spec.display());
    }
    let mut lines = Lines;
    let mut quiet = dxops_local::Quiet;
    let progress: &mut dyn Progress = match args.format {
        OutputFormat::Human => &mut lines,
        OutputFormat::Json => &mut quiet,
    };
    let summary = match dxops_local::run(&options, progress) {
        Ok(s) => s,
        Err(RunError::Spec(problems)) => {
            report_problems(&problems, Format::Human);
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        OutputFormat::Human => print_summary(&summary, &args.spec),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &dxops_local::RunSummary, spec: &Path) {
    let total: f64 = s.steps.iter().map(|r| r.seconds).sum();
    println!(
        "\n{} of {} ({}), {total:.1} s",
        s.run, s.spec, s.environment
    );
    if let Some(g) = &s.gates {
        for r in &g.results {
            println!(
                "  gate {:<22} {:>8} {} {:<6} {}",
                r.condition.parameter,
                r.value.map_or("missing".into(), |v| format!("{v:.3}")),
                if r.condition.comparison.as_str().starts_with("Greater") {
                    ">="
                } else {
                    "<="
                },
                r.condition.threshold,
                if r.passed { "pass" } else { "FAIL" }
            );
        }
    }
    match &s.registered {
        Some(r) => println!(
            "  registered   {} v{} ({})",
            r.group,
            r.version,
            r.status.as_str()
        ),
        None => println!("  registered   no (a gate failed)"),
    }
    if let Some(r) = &s.registered
        && r.status == ApprovalStatus::PendingManualApproval
    {
        println!(
            "               approve: dxops approve {} --env {} --version {} --reason \"...\" --local",
            spec.display(),
            s.environment,
            r.version
        );
    }
    if let Some(v) = &s.served {
        println!(
            "  served       {} on {}: {}",
            v.version.map_or("candidate".into(), |n| format!("v{n}")),
            v.address,
            v.reason
        );
    }
    if let Some(r) = &s.replay {
        println!(
            "  replay       {} rows, {} requests, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            r.rows, r.requests, r.latency_p50_ms, r.latency_p99_ms, r.errors
        );
    }
    if let Some(d) = &s.drift {
        println!(
            "  drift        {} of {} features, data set drift {}",
            d.drifted_features,
            d.tested_features,
            if d.dataset_drift { "yes" } else { "no" }
        );
    }
    if let Some(q) = &s.live_quality {
        println!(
            "  live quality LiveMacroF1 {:.3}, worst class recall {:.3} ({})",
            q.macro_f1, q.worst_class_recall, q.worst_class
        );
    }
    if let Some(r) = &s.retraining {
        println!(
            "  retraining   {}",
            if r.retrain {
                format!("yes: {}", r.reasons.join("; "))
            } else {
                "no".into()
            }
        );
    }
    println!("  report       {}", s.report.display());
}

/// `dxops runs`: the runs under `out`, with the metrics a reviewer compares.
pub fn runs(out: &Path, format: OutputFormat) -> Result<ExitCode> {
    let runs = dxops_local::runs(out)?;
    if format == OutputFormat::Json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run": r.run,
                    "spec": r.spec,
                    "environment": r.environment,
                    "macro_f1": r.evaluation.as_ref().map(|e| e.metrics.macro_f1),
                    "worst_class_recall": r.evaluation.as_ref().map(|e| e.metrics.worst_class_recall),
                    "gates_passed": r.gates.as_ref().map(|g| g.passed),
                    "registered": r.registered,
                    "retrain": r.retraining.as_ref().map(|d| d.retrain),
                    "report": r.report,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        eprintln!(
            "no runs under {}; start one with `dxops run SPEC`",
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<9} {:<22} {:<8} {:>8} {:>7} {:>7} {:<24} retrain",
        "run", "spec", "env", "macro-F1", "Δ prev", "worst", "registered"
    );
    let mut previous: Option<f64> = None;
    for r in &runs {
        let f1 = r.evaluation.as_ref().map(|e| e.metrics.macro_f1);
        let delta = match (f1, previous) {
            (Some(a), Some(b)) => format!("{:+.3}", a - b),
            _ => "".into(),
        };
        println!(
            "{:<9} {:<22} {:<8} {:>8} {:>7} {:>7} {:<24} {}",
            r.run,
            r.spec,
            r.environment,
            f1.map_or("-".into(), |v| format!("{v:.3}")),
            delta,
            r.evaluation.as_ref().map_or("-".into(), |e| format!(
                "{:.3}",
                e.metrics.worst_class_recall
            )),
            r.registered.as_ref().map_or("-".into(), |g| format!(
                "v{} {}",
                g.version,
                g.status.as_str()
            )),
            r.retraining
                .as_ref()
                .map_or("-", |d| if d.retrain { "yes" } else { "no" })
        );
        previous = f1.or(previous);
    }
    Ok(ExitCode::SUCCESS)
}

/// `dxops models`: every version in the local registry, against production.
pub fn models(out: &Path, format: OutputFormat) -> Result<ExitCode> {
    let registry = Registry::new(out);
    let mut all = Vec::new();
    for group in registry.groups()? {
        let production = registry.production(&group)?;
        for p in registry.versions(&group)? {
            all.push((p, production.as_ref().map(|q| (q.version, q.macro_f1))));
        }
    }
    if format == OutputFormat::Json {
        let rows: Vec<_> = all
            .iter()
            .map(|(p, prod)| serde_json::json!({ "package": p, "production_version": prod.map(|x| x.0) }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        eprintln!(
            "no models under {}; start with `dxops run SPEC`",
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<30} {:>4} {:<22} {:>8} {:>8} {:>7} last decision",
        "group", "ver", "status", "macro-F1", "Δ prod", "worst"
    );
    for (p, prod) in &all {
        let delta = prod.map_or(String::new(), |(v, f)| {
            if v == p.version {
                "prod".into()
            } else {
                format!("{:+.3}", p.macro_f1 - f)
            }
        });
        println!(
            "{:<30} {:>4} {:<22} {:>8.3} {:>8} {:>7.3} {}",
            p.group,
            p.version,
            p.status.as_str(),
            p.macro_f1,
            delta,
            p.worst_class_recall,
            p.decisions.last().map_or("-".into(), |d| format!(
                "{} by {}: {}",
                d.status.as_str(),
                d.by,
                d.reason
            ))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `dxops approve|reject --local`: records the decision with who and why.
pub fn decide(args: ApproveArgs, status: ApprovalStatus) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.spec)
        .with_context(|| format!("cannot read {}", args.spec.display()))?;
    let spec = match dxops_spec::spec::load(&args.spec.display().to_string(), &text) {
        Ok(s) => s,
        Err(problems) => {
            report_problems(&problems, Format::Human);
            return Ok(ExitCode::from(1));
        }
    };
    let Some(env) = spec.environments.get(&args.env) else {
        anyhow::bail!("spec `{}` has no environment `{}`", spec.name, args.env);
    };
    let by = std::env::var("USER").unwrap_or_else(|_| "local".into());
    let registry = Registry::new(&args.out);
    let p = registry.decide(
        &env.names.model_package_group,
        args.version,
        Decision {
            status,
            by: by.clone(),
            reason: args.reason,
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        },
    )?;
    eprintln!("{} v{}: {} by {by}", p.group, p.version, p.status.as_str());
    Ok(ExitCode::SUCCESS)
}
