//! `dxops-model`: the SageMaker container entrypoint of dxops (process,
//! train, evaluate, serve, monitor) plus local helpers (cv, synth-data).
//!
//! A thin layer over `dxops_ml::steps`: local-use flags fill the SageMaker
//! layout first, the step runs, and its outcome becomes metric lines on
//! stdout, `output/failure` and the exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use dxops_contract::hyperparameters::Hyperparameters;
use dxops_contract::layout::{self, Layout, paths};
use dxops_ml::artifact::WarmStartChannel;
use dxops_ml::data::{Dataset, Table};
use dxops_ml::drift::DriftConfig;
use dxops_ml::metrics::{metric_lines, summary_lines};
use dxops_ml::monitor::ground_truth;
use dxops_ml::serve::metrics::{DEFAULT_ENDPOINT, DEFAULT_NAMESPACE, ENV_ENDPOINT, ENV_NAMESPACE};
use dxops_ml::{parallel, pipeline, process, serve, steps, synth};

#[derive(Parser)]
#[command(
    name = "dxops-model",
    version,
    about = "dxops model container: etl, process, train, evaluate, serve, lambda, monitor, cv, synth-data"
)]
struct Cli {
    /// Root of the SageMaker layout (default /opt/ml, or /opt/ml/processing
    /// for etl, process and evaluate); also `DXOPS_ML_ROOT`.
    #[arg(long, global = true)]
    ml_root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One instance of a sharded ETL: its share of the raw records, kept to
    /// the contract's columns, as `output/curated/part-<host>.csv`.
    Etl {
        /// This instance's name (default: `current_host` of
        /// /opt/ml/config/resourceconfig.json, as SageMaker writes it).
        #[arg(long)]
        host: Option<String>,
        /// `process.json` to copy into `input/config/` first (local use).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Quality rules, de-identification and the stratified split.
    Process {
        /// Raw records (CSV, JSON, JSON lines) to copy into `input/raw/` first (local use).
        #[arg(long)]
        data: Option<PathBuf>,
        /// `process.json` to copy into `input/config/` first (local use).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Cross-validate, fit the final model on all training data, write `model/`.
    Train {
        /// Training CSV to copy into `input/data/train/` first (local use).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Label column (local use; written into the hyperparameters).
        #[arg(long)]
        label: Option<String>,
        /// Hyperparameters JSON (string values) to copy into `input/config/` first.
        #[arg(long)]
        hyperparameters: Option<PathBuf>,
        /// Earlier model (dir, file or model.tar.gz) to copy into the warm_start channel.
        #[arg(long)]
        warm_start: Option<PathBuf>,
    },
    /// Evaluate a model on the test split; writes `evaluation/evaluation.json`.
    Evaluate {
        /// Test CSV to copy into `input/test/` first (local use).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Model dir, file or model.tar.gz (default: `<root>/model`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Production model to compare against on the same test set.
        #[arg(long)]
        production: Option<PathBuf>,
    },
    /// Stratified k-fold cross-validation; prints one JSON object.
    Cv {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "label")]
        label: String,
        #[arg(long)]
        folds: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        hyperparameters: Option<PathBuf>,
        /// Write each row's outer fold (one integer a line), so that other
        /// tools can be measured on the very same folds.
        #[arg(long)]
        folds_out: Option<PathBuf>,
    },
    /// Write a seeded synthetic patient cohort (simulation) as CSV.
    SynthData {
        #[arg(long)]
        rows: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Add a synthetic `patient_id` identifier column.
        #[arg(long)]
        ids: bool,
    },
    /// Serve `<root>/model` over HTTP (SageMaker hosting contract).
    Serve {
        /// Port (default: SAGEMAKER_BIND_TO_PORT, else 8080).
        #[arg(long)]
        port: Option<u16>,
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        host: std::net::IpAddr,
    },
    /// Answer AWS Lambda invocations with `<root>/model` (`serving.target:
    /// lambda`): API Gateway proxy events in, the same bodies as
    /// `/invocations` out, through the Runtime API that Lambda names in
    /// `AWS_LAMBDA_RUNTIME_API`. Bad requests are 4xx responses, never
    /// failed invocations.
    Lambda,
    /// Drift of SageMaker data-capture files against the model's baseline;
    /// exits 2 on drift, 0 without, 1 on error.
    Monitor {
        /// Capture file, or folder searched recursively for *.jsonl.
        #[arg(long)]
        capture: PathBuf,
        /// Model dir, file or model.tar.gz (default: `<root>/model`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Report path (default: `<root>/output/monitor.json`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Drift method (default: DXOPS_DRIFT_METHOD, else auto).
        #[arg(long)]
        method: Option<String>,
        /// Drift threshold (default: DXOPS_DRIFT_THRESHOLD, else per method).
        #[arg(long)]
        threshold: Option<String>,
        /// Live quality instead of drift: confirmed labels (JSON lines
        /// `{"inferenceId": ..., "row": 0, "label": ...}`, file or folder)
        /// joined to the captured predictions; prints `LiveMacroF1` and
        /// `LiveWorstClassRecall` as EMF lines (report default:
        /// `<root>/output/live-quality/live_quality.json`).
        #[arg(long)]
        ground_truth: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Packaged for Lambda's provided.al2023 runtime, this binary is started
    // as `bootstrap` with no arguments, its model beside it.
    let started_as = std::env::args_os().next().map(PathBuf::from);
    if std::env::args_os().len() == 1
        && started_as.is_some_and(|p| p.file_name() == Some(serve::lambda::BOOTSTRAP.as_ref()))
    {
        let root = serve::lambda::task_root().unwrap_or_else(|| PathBuf::from("."));
        return match run_lambda(&root) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", dxops_contract::error_chain(&e));
                ExitCode::FAILURE
            }
        };
    }
    // A usage error is an error (1): `monitor` exits 2 for drift.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let from_env = std::env::var_os("DXOPS_ML_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let root = cli.ml_root.clone().or(from_env).unwrap_or_else(|| {
        PathBuf::from(match cli.command {
            Command::Etl { .. } | Command::Process { .. } | Command::Evaluate { .. } => {
                layout::PROCESSING_ROOT
            }
            _ => layout::ML_ROOT,
        })
    });
    let layout = Layout::new(root);
    let sagemaker_step = matches!(
        cli.command,
        Command::Etl { .. }
            | Command::Process { .. }
            | Command::Train { .. }
            | Command::Evaluate { .. }
    );
    let result = match cli.command {
        Command::Etl { host, config } => run_etl(&layout, host, config),
        Command::Process { data, config } => run_process(&layout, data, config),
        Command::Train {
            data,
            label,
            hyperparameters,
            warm_start,
        } => run_train(&layout, data, label, hyperparameters, warm_start),
        Command::Evaluate {
            data,
            model,
            production,
        } => run_evaluate(&layout, data, model, production),
        Command::Cv {
            data,
            label,
            folds,
            seed,
            hyperparameters,
            folds_out,
        } => run_cv(&data, label, folds, seed, hyperparameters, folds_out),
        Command::SynthData {
            rows,
            seed,
            out,
            ids,
        } => synth::generate(rows, seed, ids)
            .write(&out)
            .map_err(anyhow::Error::from),
        Command::Serve { port, host } => serve::ServeOptions::resolve(layout.root(), host, port)
            .and_then(serve::run)
            .map_err(anyhow::Error::from),
        Command::Lambda => run_lambda(layout.root()).map_err(anyhow::Error::from),
        Command::Monitor {
            capture,
            model,
            out,
            ground_truth: Some(ground_truth),
            ..
        } => run_live_quality(&layout, &capture, &ground_truth, model, out),
        Command::Monitor {
            capture,
            model,
            out,
            method,
            threshold,
            ground_truth: None,
        } => {
            return run_monitor(&layout, &capture, model, out, method, threshold);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = dxops_contract::error_chain(e.as_ref());
            eprintln!("error: {msg}");
            if sagemaker_step {
                let _ = steps::record_failure(&layout, &msg);
            }
            ExitCode::FAILURE
        }
    }
}

/// The Lambda runtime loop over the model under `root`.
fn run_lambda(root: &Path) -> Result<(), serve::lambda::LambdaError> {
    serve::ServeOptions::resolve(root, [0, 0, 0, 0].into(), None)
        .map_err(serve::lambda::LambdaError::from)
        .and_then(serve::lambda::run)
}

/// Local use: copy a file into the layout where SageMaker would mount it.
fn copy_into(src: &Path, dir: &Path, name: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::copy(src, dir.join(name))
        .with_context(|| format!("copying {} into {}", src.display(), dir.display()))?;
    Ok(())
}

/// `--config`: the data contract copied to where the pipeline mounts it.
fn copy_config(layout: &Layout, config: Option<PathBuf>) -> Result<()> {
    match config {
        Some(c) => copy_into(
            &c,
            &layout.root().join(paths::CONFIG_INPUT),
            paths::CONFIG_FILE,
        ),
        None => Ok(()),
    }
}

fn run_etl(layout: &Layout, host: Option<String>, config: Option<PathBuf>) -> Result<()> {
    copy_config(layout, config)?;
    let host = match host {
        Some(h) => h,
        None => current_host(Path::new(paths::RESOURCE_CONFIG))?,
    };
    let e = steps::etl(layout, &host)?;
    println!(
        "host={}; files={}; records={}; skipped_records={}; curated_rows={};",
        e.host, e.ingest.files, e.ingest.records, e.ingest.skipped_records, e.curated_rows
    );
    Ok(())
}

/// This processing instance's name, from SageMaker's resource configuration.
fn current_host(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (or pass --host)", path.display()))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let host = config["current_host"]
        .as_str()
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .with_context(|| format!("{} names no usable current_host", path.display()))?;
    Ok(host.to_string())
}

fn run_process(layout: &Layout, data: Option<PathBuf>, config: Option<PathBuf>) -> Result<()> {
    if let Some(d) = data {
        // Keep the file's name: its extension says how to read it.
        let name = d
            .file_name()
            .map_or("data.csv".into(), |n| n.to_string_lossy().into_owned());
        copy_into(&d, &layout.raw_input(), &name)?;
    }
    copy_config(layout, config)?;
    let key = match std::env::var(process::DEID_KEY_ENV) {
        Ok(k) if !k.is_empty() => Some(k.into_bytes()),
        _ => steps::mounted_deid_key(layout)?,
    };
    let p = steps::process(layout, key.as_deref())?;
    println!(
        "records={}; skipped_records={}; rows={}; train_rows={}; validation_rows={}; test_rows={};",
        p.ingest.records,
        p.ingest.skipped_records,
        p.quality.rows,
        p.train_rows,
        p.validation_rows,
        p.test_rows
    );
    Ok(())
}

fn run_train(
    layout: &Layout,
    data: Option<PathBuf>,
    label: Option<String>,
    hyperparameters: Option<PathBuf>,
    warm_start: Option<PathBuf>,
) -> Result<()> {
    if let Some(d) = data {
        copy_into(&d, &layout.channel(paths::TRAIN_CHANNEL), "data.csv")?;
    }
    let hp_path = layout.hyperparameters();
    let mut map = match hyperparameters {
        Some(p) => steps::read_hyperparameters(&p)?,
        None if hp_path.is_file() => steps::read_hyperparameters(&hp_path)?,
        None => BTreeMap::new(),
    };
    if let Some(l) = label {
        map.insert("label".into(), l);
    }
    // Canonical and complete, as the renderer writes them.
    steps::write_json(&hp_path, &Hyperparameters::from_strings(&map)?.to_strings())?;
    if let Some(w) = warm_start {
        steps::load_model(&w)?.save(&layout.channel(paths::WARM_START_CHANNEL))?;
    }
    let outcome = steps::train(layout)?;
    match outcome.warm_start_channel {
        Some(WarmStartChannel::Model) => {
            eprintln!("warm start: from the model in the warm_start channel")
        }
        Some(WarmStartChannel::NoSource) => eprintln!(
            "warm start: the channel holds only the no-source marker (the source group has no approved model yet): trained from scratch"
        ),
        None => {}
    }
    print!("{}", metric_lines("cv_", &outcome.cv));
    if let Some(w) = &outcome.warm_start {
        for (c, r) in &w.recall_without {
            println!("rare_recall_without_warm_start[{c}]={r:.6};");
        }
        for (c, r) in &w.recall_with {
            println!("rare_recall_with_warm_start[{c}]={r:.6};");
        }
    }
    if let Some(v) = &outcome.validation {
        println!("validation_macro_f1={:.6};", v.macro_f1);
        println!("validation_worst_class_recall={:.6};", v.worst_class_recall);
    }
    eprintln!("model written to {}", outcome.model_path.display());
    Ok(())
}

fn run_evaluate(
    layout: &Layout,
    data: Option<PathBuf>,
    model: Option<PathBuf>,
    production: Option<PathBuf>,
) -> Result<()> {
    if let Some(d) = data {
        copy_into(&d, &layout.test_input(), "data.csv")?;
    }
    let ev = steps::evaluate(layout, model.as_deref(), production.as_deref())?;
    let m = &ev.metrics;
    let values = [
        m.accuracy,
        m.macro_f1,
        m.balanced_accuracy,
        m.roc_auc,
        m.worst_class_recall,
    ];
    print!("{}", summary_lines("test_", values));
    println!("test_macro_f1_drop={:.6};", m.macro_f1_drop);
    if std::env::var(layout::ENV_LAMBDA_PACKAGE).is_ok_and(|v| v.trim() == "1") {
        // The binary that evaluated the model is the one that will serve it.
        let exe = std::env::current_exe().context("locating this binary to package it")?;
        let out = steps::package_lambda(layout, model.as_deref(), &exe)?;
        eprintln!("wrote the Lambda package {}", out.display());
    }
    Ok(())
}

fn run_cv(
    data: &Path,
    label: String,
    folds: Option<usize>,
    seed: Option<u64>,
    hyperparameters: Option<PathBuf>,
    folds_out: Option<PathBuf>,
) -> Result<()> {
    let mut map = match hyperparameters {
        Some(p) => steps::read_hyperparameters(&p)?,
        None => BTreeMap::new(),
    };
    map.insert("label".into(), label);
    if let Some(f) = folds {
        map.insert("folds".into(), f.to_string());
    }
    if let Some(s) = seed {
        map.insert("seed".into(), s.to_string());
    }
    let hp = Hyperparameters::from_strings(&map)?;
    let table = Table::read(data)?;
    let ds = Dataset::from_table(&table, &hp.label, &hp.features)?;
    let cv = pipeline::cross_validate(&ds, &hp, None)?;
    if let Some(path) = folds_out {
        let lines: String = cv.fold_of.iter().map(|f| format!("{f}\n")).collect();
        std::fs::write(&path, lines)
            .with_context(|| format!("cannot write the folds to {}", path.display()))?;
    }
    let m = &cv.metrics;
    let out = serde_json::json!({
        "accuracy": m.accuracy,
        "macro_f1": m.macro_f1,
        "balanced_accuracy": m.balanced_accuracy,
        "roc_auc": m.roc_auc,
        "worst_class_recall": m.worst_class_recall,
        "worst_class": m.worst_class,
        "brier": m.calibration.brier,
        "expected_calibration_error": m.calibration.expected_calibration_error,
        "per_class": m.per_class,
        "confusion_matrix": m.confusion_matrix,
        "classes": ds.classes,
        "folds": hp.folds,
        "seed": hp.seed,
        "algorithm": hp.algorithm.as_str(),
        "imbalance": hp.imbalance.as_str(),
        "rows": ds.rows.len(),
        "threads": parallel::threads_for(hp.folds),
        "fit_seconds": cv.fit_seconds,
    });
    println!("{}", serde_json::to_string(&out)?);
    eprint!("{}", metric_lines("", m));
    Ok(())
}

fn run_live_quality(
    layout: &Layout,
    capture: &Path,
    ground_truth: &Path,
    model: Option<PathBuf>,
    out: Option<PathBuf>,
) -> Result<()> {
    let (report, path) = steps::live_quality(
        layout,
        capture,
        ground_truth,
        model.as_deref(),
        out.as_deref(),
    )?;
    let env = |key: &str, default: &str| {
        std::env::var(key)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    let timestamp_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for line in ground_truth::emf_lines(
        &report,
        &env(ENV_NAMESPACE, DEFAULT_NAMESPACE),
        &env(ENV_ENDPOINT, DEFAULT_ENDPOINT),
        timestamp_ms,
    ) {
        println!("{line}");
    }
    eprintln!(
        "live quality: {} labels matched, {} unmatched, {} unknown, {} duplicate, {} lines skipped; report written to {}",
        report.matched,
        report.unmatched,
        report.unknown_labels,
        report.duplicate_labels,
        report.skipped.len(),
        path.display()
    );
    Ok(())
}

fn run_monitor(
    layout: &Layout,
    capture: &Path,
    model: Option<PathBuf>,
    out: Option<PathBuf>,
    method: Option<String>,
    threshold: Option<String>,
) -> ExitCode {
    let method = method.or_else(|| std::env::var("DXOPS_DRIFT_METHOD").ok());
    let threshold = threshold.or_else(|| std::env::var("DXOPS_DRIFT_THRESHOLD").ok());
    let result = DriftConfig::parse(method.as_deref(), threshold.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|cfg| {
            let (report, path) =
                steps::monitor(layout, capture, model.as_deref(), out.as_deref(), &cfg)?;
            eprintln!("monitor report written to {}", path.display());
            Ok(report)
        });
    match result {
        Ok(r) => {
            println!(
                "rows={}; drifted_features={}; tested_features={}; drift_share={:.6}; dataset_drift={};",
                r.drift.rows,
                r.drift.drifted_features,
                r.drift.tested_features,
                r.drift.drift_share,
                r.drift.dataset_drift
            );
            if r.drift.dataset_drift {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {}", dxops_contract::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
