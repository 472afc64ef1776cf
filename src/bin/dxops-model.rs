//! `dxops-model`: the SageMaker container entrypoint of dxops (process,
//! train, evaluate) plus local helpers (cv, synth-data).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};

use dxops::ml::artifact::{Artifact, TARBALL_NAME};
use dxops::ml::contract::{DataContract, paths};
use dxops::ml::data::{Dataset, Table};
use dxops::ml::hyperparameters::Hyperparameters;
use dxops::ml::metrics::metric_lines;
use dxops::ml::{pipeline, process, synth, train};

#[derive(Parser)]
#[command(
    name = "dxops-model",
    version,
    about = "dxops model container: process, train, evaluate, cv, synth-data"
)]
struct Cli {
    /// Root of the SageMaker layout (default /opt/ml, or /opt/ml/processing
    /// for process and evaluate); also `DXOPS_ML_ROOT`.
    #[arg(long, global = true)]
    ml_root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Quality rules, de-identification and the stratified split.
    Process {
        /// Raw CSV to copy into `input/raw/` first (local use).
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let from_env = std::env::var_os("DXOPS_ML_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let root = cli.ml_root.clone().or(from_env).unwrap_or_else(|| {
        PathBuf::from(match cli.command {
            Command::Process { .. } | Command::Evaluate { .. } => paths::PROCESSING_ROOT,
            _ => paths::ML_ROOT,
        })
    });
    let sagemaker_step = matches!(
        cli.command,
        Command::Process { .. } | Command::Train { .. } | Command::Evaluate { .. }
    );
    let result = match cli.command {
        Command::Process { data, config } => run_process(&root, data, config),
        Command::Train {
            data,
            label,
            hyperparameters,
            warm_start,
        } => run_train(&root, data, label, hyperparameters, warm_start),
        Command::Evaluate {
            data,
            model,
            production,
        } => run_evaluate(&root, data, model, production),
        Command::Cv {
            data,
            label,
            folds,
            seed,
            hyperparameters,
        } => run_cv(&data, label, folds, seed, hyperparameters),
        Command::SynthData {
            rows,
            seed,
            out,
            ids,
        } => synth::generate(rows, seed, ids)
            .write(&out)
            .map_err(anyhow::Error::from),
        Command::Serve { port, host } => dxops::serve::ServeOptions::resolve(&root, host, port)
            .and_then(dxops::serve::run)
            .map_err(anyhow::Error::from),
        Command::Monitor {
            capture,
            model,
            out,
            method,
            threshold,
        } => {
            return run_monitor(&root, &capture, model, out, method, threshold);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("error: {msg}");
            if sagemaker_step {
                let dir = root.join("output");
                if std::fs::create_dir_all(&dir).is_ok() {
                    let _ = std::fs::write(dir.join("failure"), format!("{msg}\n"));
                }
            }
            ExitCode::FAILURE
        }
    }
}

fn copy_into(src: &Path, dir: &Path, name: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::copy(src, dir.join(name))
        .with_context(|| format!("copying {} into {}", src.display(), dir.display()))?;
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn read_hyperparameter_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading hyperparameters {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| anyhow!("{}: hyperparameters must be a JSON object", path.display()))?;
    let mut map = BTreeMap::new();
    for (k, v) in obj {
        let s = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => bail!("hyperparameter `{k}` has value {other}, expected a string"),
        };
        map.insert(k.clone(), s);
    }
    Ok(map)
}

fn run_process(root: &Path, data: Option<PathBuf>, config: Option<PathBuf>) -> Result<()> {
    if let Some(d) = data {
        copy_into(&d, &root.join(paths::RAW_INPUT), "data.csv")?;
    }
    if let Some(c) = config {
        copy_into(&c, &root.join(paths::CONFIG_INPUT), paths::CONFIG_FILE)?;
    }
    let cfg_path = root.join(paths::CONFIG_INPUT).join(paths::CONFIG_FILE);
    let cfg = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    let contract: DataContract = serde_json::from_str(&cfg)
        .with_context(|| format!("{} is not a valid data contract", cfg_path.display()))?;
    let table = Table::read_dir_or_file(&root.join(paths::RAW_INPUT))?;
    let key = std::env::var(process::DEID_KEY_ENV).ok();
    let quality_path = root.join(paths::QUALITY_OUTPUT).join("quality.json");
    match process::process(&table, &contract, key.as_deref().map(str::as_bytes)) {
        Ok(p) => {
            write_json(&quality_path, &p.report)?;
            for (t, dir) in p.splits.iter().zip(paths::SPLIT_OUTPUTS) {
                t.write(&root.join(dir).join("data.csv"))?;
            }
            let sizes: Vec<usize> = p.splits.iter().map(|t| t.rows.len()).collect();
            println!(
                "rows={}; train_rows={}; validation_rows={}; test_rows={};",
                p.report.rows, sizes[0], sizes[1], sizes[2]
            );
            Ok(())
        }
        Err(process::ProcessError::Quality(report)) => {
            write_json(&quality_path, &report)?;
            Err(process::ProcessError::Quality(report).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn run_train(
    root: &Path,
    data: Option<PathBuf>,
    label: Option<String>,
    hyperparameters: Option<PathBuf>,
    warm_start: Option<PathBuf>,
) -> Result<()> {
    let config_dir = root.join("input/config");
    let hp_path = config_dir.join("hyperparameters.json");
    if let Some(d) = data {
        copy_into(
            &d,
            &root.join("input/data").join(paths::TRAIN_CHANNEL),
            "data.csv",
        )?;
    }
    let mut map = match hyperparameters {
        Some(p) => read_hyperparameter_file(&p)?,
        None if hp_path.is_file() => read_hyperparameter_file(&hp_path)?,
        None => BTreeMap::new(),
    };
    if let Some(l) = label {
        map.insert("label".into(), l);
    }
    let hp = Hyperparameters::from_strings(&map)?;
    write_json(&hp_path, &hp.to_strings())?;
    if let Some(w) = warm_start {
        let dir = root.join("input/data").join(paths::WARM_START_CHANNEL);
        let a = Artifact::load(&w)?;
        a.save(&dir)?;
    }
    let table = Table::read_dir_or_file(&root.join("input/data").join(paths::TRAIN_CHANNEL))?;
    let ds = Dataset::from_table(&table, &hp.label, &hp.features)?;
    let warm_dir = root.join("input/data").join(paths::WARM_START_CHANNEL);
    let warm = if warm_dir.is_dir() {
        Some(Artifact::load(&warm_dir)?)
    } else {
        None
    };
    let outcome = train::train(&ds, &hp, warm.as_ref())?;
    print!("{}", metric_lines("cv_", &outcome.cv));
    if let Some(w) = &outcome.warm_start {
        for (c, r) in &w.recall_without {
            println!("rare_recall_without_warm_start[{c}]={r:.6};");
        }
        for (c, r) in &w.recall_with {
            println!("rare_recall_with_warm_start[{c}]={r:.6};");
        }
        write_json(&root.join("model").join("warm_start_report.json"), w)?;
    }
    let validation_dir = root.join("input/data").join(paths::VALIDATION_CHANNEL);
    if validation_dir.is_dir() {
        let vt = Table::read_dir_or_file(&validation_dir)?;
        let vds = Dataset::with_schema(
            &vt,
            &hp.label,
            &outcome.artifact.body().preprocessor.schema,
            &ds.classes,
        )?;
        let ev = train::evaluate(&outcome.artifact, &vds, None)?;
        println!("validation_macro_f1={:.6};", ev.metrics.macro_f1);
        println!(
            "validation_worst_class_recall={:.6};",
            ev.metrics.worst_class_recall
        );
    }
    let path = outcome.artifact.save(&root.join("model"))?;
    eprintln!("model written to {}", path.display());
    Ok(())
}

fn load_for_eval(artifact: &Artifact, table: &Table) -> Result<Dataset> {
    Ok(Dataset::with_schema(
        table,
        artifact.label(),
        &artifact.body().preprocessor.schema,
        artifact.classes(),
    )?)
}

fn run_evaluate(
    root: &Path,
    data: Option<PathBuf>,
    model: Option<PathBuf>,
    production: Option<PathBuf>,
) -> Result<()> {
    if let Some(d) = data {
        copy_into(&d, &root.join(paths::TEST_INPUT), "data.csv")?;
    }
    let model_path = model.unwrap_or_else(|| root.join(paths::MODEL_INPUT));
    let artifact = Artifact::load(&model_path).with_context(|| {
        format!(
            "loading the model from {} (a model dir, dxops-model.bin or {TARBALL_NAME})",
            model_path.display()
        )
    })?;
    let table = Table::read_dir_or_file(&root.join(paths::TEST_INPUT))?;
    let ds = load_for_eval(&artifact, &table)?;
    let prod = match production {
        Some(p) => {
            let a = Artifact::load(&p)
                .with_context(|| format!("loading the production model {}", p.display()))?;
            let pds = load_for_eval(&a, &table)?;
            Some((a, pds))
        }
        None => None,
    };
    let ev = train::evaluate(&artifact, &ds, prod.as_ref().map(|(a, d)| (a, d)))?;
    write_json(
        &root
            .join(paths::EVALUATION_OUTPUT)
            .join(paths::EVALUATION_FILE),
        &ev,
    )?;
    print!("{}", metric_lines("test_", &metric_view(&ev)));
    println!("test_macro_f1_drop={:.6};", ev.metrics.macro_f1_drop);
    Ok(())
}

fn metric_view(ev: &train::Evaluation) -> dxops::ml::metrics::Metrics {
    dxops::ml::metrics::Metrics {
        accuracy: ev.metrics.accuracy,
        macro_f1: ev.metrics.macro_f1,
        balanced_accuracy: ev.metrics.balanced_accuracy,
        roc_auc: ev.metrics.roc_auc,
        worst_class_recall: ev.metrics.worst_class_recall,
        worst_class: ev.metrics.worst_class.clone(),
        per_class: Vec::new(),
        confusion_matrix: Vec::new(),
    }
}

fn run_cv(
    data: &Path,
    label: String,
    folds: Option<usize>,
    seed: Option<u64>,
    hyperparameters: Option<PathBuf>,
) -> Result<()> {
    let mut map = match hyperparameters {
        Some(p) => read_hyperparameter_file(&p)?,
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
    let m = &cv.metrics;
    let out = serde_json::json!({
        "accuracy": m.accuracy,
        "macro_f1": m.macro_f1,
        "balanced_accuracy": m.balanced_accuracy,
        "roc_auc": m.roc_auc,
        "worst_class_recall": m.worst_class_recall,
        "worst_class": m.worst_class,
        "per_class": m.per_class,
        "confusion_matrix": m.confusion_matrix,
        "classes": ds.classes,
        "folds": hp.folds,
        "seed": hp.seed,
        "algorithm": hp.algorithm.as_str(),
        "imbalance": hp.imbalance.as_str(),
        "rows": ds.rows.len(),
        "threads": dxops::ml::parallel::threads_for(hp.folds),
        "fit_seconds": cv.fit_seconds,
    });
    println!("{}", serde_json::to_string(&out)?);
    eprint!("{}", metric_lines("", m));
    Ok(())
}

fn run_monitor(
    root: &Path,
    capture: &Path,
    model: Option<PathBuf>,
    out: Option<PathBuf>,
    method: Option<String>,
    threshold: Option<String>,
) -> ExitCode {
    use dxops::monitor::{batch, drift::DriftConfig};
    let method = method.or_else(|| std::env::var("DXOPS_DRIFT_METHOD").ok());
    let threshold = threshold.or_else(|| std::env::var("DXOPS_DRIFT_THRESHOLD").ok());
    let result = DriftConfig::parse(method.as_deref(), threshold.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|cfg| {
            let model = model.unwrap_or_else(|| root.join("model"));
            let out = out.unwrap_or_else(|| root.join("output").join("monitor.json"));
            let report = batch::run(&model, capture, &out, &cfg)?;
            eprintln!("monitor report written to {}", out.display());
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
