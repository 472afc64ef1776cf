//! The pipeline's steps as library calls over a SageMaker [`Layout`]:
//! [`process`], [`train`], [`evaluate`] and [`monitor`] read their inputs
//! where SageMaker mounts them, write their outputs where SageMaker collects
//! them, and return typed outcomes. The `dxops-model` binary maps these to
//! metric lines, `output/failure` and exit codes; `dxops run` calls the same
//! functions on one machine, so the local pipeline cannot drift from the
//! cloud one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use dxops_contract::data::DataContract;
use dxops_contract::evaluation::Evaluation;
use dxops_contract::hyperparameters::{HyperparameterError, Hyperparameters};
use dxops_contract::layout::{Layout, SplitName, paths};

use crate::artifact::{Artifact, ArtifactError, FILE_NAME, TARBALL_NAME, WarmStartChannel};
use crate::data::{DataError, Dataset, Table};
use crate::drift::DriftConfig;
use crate::ingest::{self, IngestSummary, Ingested};
use crate::metrics::Metrics;
use crate::monitor::batch::{self, MonitorError, MonitorReport};
use crate::monitor::ground_truth::{self, GroundTruthError, GroundTruthReport};
use crate::pipeline::PipelineError;
use crate::process::{self, ProcessError, QualityReport};
use crate::train::{self, WarmStartReport};

/// Why a step failed. Messages name files, rows and columns, never values.
#[derive(Debug, Error)]
pub enum StepError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error(transparent)]
    Hyperparameters(#[from] HyperparameterError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(
        "loading the model from {path} (a model dir, dxops-model.bin or {TARBALL_NAME}): {source}"
    )]
    Model {
        path: PathBuf,
        source: ArtifactError,
    },
    #[error(
        "the warm_start channel {path} holds neither a model ({TARBALL_NAME} or a model folder) nor the no-source marker {marker}"
    )]
    WarmStartChannel { path: PathBuf, marker: &'static str },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    GroundTruth(#[from] GroundTruthError),
    #[error(transparent)]
    Lambda(#[from] crate::serve::lambda::LambdaError),
}

/// What the processing step produced.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessOutcome {
    pub ingest: IngestSummary,
    pub quality: QualityReport,
    /// Rows in the train, validation and test splits.
    pub train_rows: usize,
    pub validation_rows: usize,
    pub test_rows: usize,
}

/// ETL, quality rules, de-identification and the stratified split: reads
/// the data contract and the records as ingest wrote them (any sub-folder
/// of the raw input), writes `ingest.json` (malformed records by file and
/// line), `quality.json` (also when the rules fail, so the report says why)
/// and the three splits.
///
/// When the pipeline shards its ETL, the raw input holds the curated parts
/// and `input/etl` the ETL reports: the step merges those, so its report
/// and its splits are the ones one instance reading every record gives.
pub fn process(layout: &Layout, deid_key: Option<&[u8]>) -> Result<ProcessOutcome, StepError> {
    let contract: DataContract = read_json(&layout.process_config())?;
    let Ingested {
        table, mut summary, ..
    } = ingest::read_records(&layout.raw_input())?;
    let reports = layout.etl_report_input();
    if reports.is_dir() {
        summary = ingest::merge_summaries(read_etl_reports(&reports)?);
    }
    write_json(&layout.ingest_report(), &summary)?;
    match process::process(&table, &contract, deid_key) {
        Ok(p) => {
            write_json(&layout.quality_report(), &p.report)?;
            for (t, split) in p.splits.iter().zip(SplitName::ALL) {
                t.write(&layout.split_output(split).join("data.csv"))?;
            }
            let [train, validation, test] = p.splits.each_ref().map(|t| t.rows.len());
            Ok(ProcessOutcome {
                ingest: summary,
                quality: p.report,
                train_rows: train,
                validation_rows: validation,
                test_rows: test,
            })
        }
        Err(ProcessError::Quality(report)) => {
            write_json(&layout.quality_report(), &report)?;
            Err(ProcessError::Quality(report).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The de-identification key the pipeline mounts in hash mode
/// (`input/deid/deid-key`), without surrounding whitespace; `None` when
/// no key is mounted. `DXOPS_DEID_KEY`, when set, takes its place (the
/// binary's choice, not this function's).
pub fn mounted_deid_key(layout: &Layout) -> Result<Option<Vec<u8>>, StepError> {
    let path = layout.deid_key();
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes.trim_ascii().to_vec()).filter(|k| !k.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StepError::Read { path, source }),
    }
}

/// What one instance of a sharded ETL read and curated.
#[derive(Debug, Clone, Serialize)]
pub struct EtlOutcome {
    pub host: String,
    pub ingest: IngestSummary,
    /// Rows in its curated part (none is written for a share without records).
    pub curated_rows: usize,
}

/// One instance of the sharded ETL: reads its share of the raw records
/// (SageMaker's `ShardedByS3Key` hands each instance about 1/n of the
/// objects), keeps the columns the data contract names, and writes them
/// with each record's source as `output/curated/part-<host>.csv`, with its
/// report as `output/etl/ingest-<host>.json`. Quality rules, identifiers
/// and the split wait for the processing step, which sees every record:
/// uniqueness and the stratified split of rare classes are global.
pub fn etl(layout: &Layout, host: &str) -> Result<EtlOutcome, StepError> {
    let contract: DataContract = read_json(&layout.process_config())?;
    // A share of no objects has nothing mounted: it reads as empty.
    let raw = layout.raw_input();
    let ingested = if raw.exists() {
        ingest::read_any(&raw)?
    } else {
        ingest::Ingested::default()
    };
    let mut columns = Vec::new();
    if !contract.features.is_empty() {
        columns.push(contract.label.clone());
        columns.extend(contract.identifiers.iter().cloned());
        columns.extend(contract.features.iter().map(|f| f.name.clone()));
    }
    // More instances than objects, or a share of unreadable records: no
    // part, and the report says what was read.
    let curated_rows = ingested.table.rows.len();
    if curated_rows > 0 {
        ingest::curate(&ingested, &columns).write(&layout.curated_part(host))?;
    }
    let summary = ingested.summary;
    write_json(&layout.etl_report(host), &summary)?;
    Ok(EtlOutcome {
        host: host.to_string(),
        ingest: summary,
        curated_rows,
    })
}

/// The ETL reports under `dir`, in file name order.
fn read_etl_reports(dir: &Path) -> Result<Vec<IngestSummary>, StepError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| StepError::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read_json(p)).collect()
}

/// Held-out metrics of the fresh model on the `validation` channel.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationMetrics {
    pub macro_f1: f64,
    pub worst_class_recall: f64,
}

/// What the training step produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub hyperparameters: Hyperparameters,
    /// Cross-validated metrics on the `train` channel.
    pub cv: Metrics,
    /// Rare-class recall with and without the `warm_start` channel's model.
    pub warm_start: Option<WarmStartReport>,
    /// What the `warm_start` channel held, when it was mounted.
    pub warm_start_channel: Option<WarmStartChannel>,
    pub validation: Option<ValidationMetrics>,
    pub artifact: Artifact,
    /// The written model file.
    pub model_path: PathBuf,
}

/// Cross-validation, final fit and the artifact: reads the hyperparameters
/// (defaults when the file is absent), the `train` channel and, when
/// present, the `warm_start` and `validation` channels; writes the model
/// (and `warm_start_report.json`) to `model/`.
pub fn train(layout: &Layout) -> Result<TrainOutcome, StepError> {
    let hp_path = layout.hyperparameters();
    let strings = if hp_path.is_file() {
        read_hyperparameters(&hp_path)?
    } else {
        BTreeMap::new()
    };
    let hp = Hyperparameters::from_strings(&strings)?;
    let table = Table::read_dir_or_file(&layout.channel(paths::TRAIN_CHANNEL))?;
    let ds = Dataset::from_table(&table, &hp.label, &hp.features)?;
    let channel = warm_start_channel(&layout.channel(paths::WARM_START_CHANNEL))?;
    let warm = match &channel {
        Some(WarmStart::Model(a)) => Some(a.as_ref()),
        _ => None,
    };
    let mut outcome = train::train(&ds, &hp, warm)?;
    let warm_start_channel = match channel {
        Some(WarmStart::Model(_)) => Some(WarmStartChannel::Model),
        Some(WarmStart::NoSource) => {
            // Recorded in the artifact's lineage: this model was trained cold
            // because the transfer source had no approved model.
            let mut body = outcome.artifact.body().clone();
            body.training.warm_start_channel = Some(WarmStartChannel::NoSource);
            outcome.artifact = Artifact::new(body);
            Some(WarmStartChannel::NoSource)
        }
        None => None,
    };
    let model_dir = layout.model_dir();
    if let Some(w) = &outcome.warm_start {
        write_json(&model_dir.join("warm_start_report.json"), w)?;
    }
    let validation_dir = layout.channel(paths::VALIDATION_CHANNEL);
    let validation = if validation_dir.is_dir() {
        let vt = Table::read_dir_or_file(&validation_dir)?;
        let vds = Dataset::with_schema(
            &vt,
            &hp.label,
            &outcome.artifact.body().preprocessor.schema,
            &ds.classes,
        )?;
        let ev = train::evaluate(&outcome.artifact, &vds, None)?;
        Some(ValidationMetrics {
            macro_f1: ev.metrics.macro_f1,
            worst_class_recall: ev.metrics.worst_class_recall,
        })
    } else {
        None
    };
    let model_path = outcome.artifact.save(&model_dir)?;
    Ok(TrainOutcome {
        hyperparameters: hp,
        cv: outcome.cv,
        warm_start: outcome.warm_start,
        warm_start_channel,
        validation,
        artifact: outcome.artifact,
        model_path,
    })
}

/// What a mounted `warm_start` channel holds.
enum WarmStart {
    Model(Box<Artifact>),
    NoSource,
}

/// Reads the `warm_start` channel: absent (no transfer source), a model, or
/// only the no-source marker the retraining state machine writes when the
/// source group has no approved package yet. A channel with neither is an
/// error rather than a silent cold start.
fn warm_start_channel(dir: &Path) -> Result<Option<WarmStart>, StepError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let has_model = [FILE_NAME, TARBALL_NAME]
        .iter()
        .any(|f| dir.join(f).is_file());
    if has_model {
        return Ok(Some(WarmStart::Model(Box::new(load_model(dir)?))));
    }
    let read_err = |source| StepError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        names.push(entry.map_err(read_err)?.file_name());
    }
    if names.len() == 1 && names[0] == paths::NO_SOURCE_MARKER {
        return Ok(Some(WarmStart::NoSource));
    }
    Err(StepError::WarmStartChannel {
        path: dir.to_path_buf(),
        marker: paths::NO_SOURCE_MARKER,
    })
}

/// Metrics of `model` (default: the layout's `model/`) on the test split,
/// beside the production model's when one is given or mounted at
/// `production/`; writes `evaluation.json`.
pub fn evaluate(
    layout: &Layout,
    model: Option<&Path>,
    production: Option<&Path>,
) -> Result<Evaluation, StepError> {
    let model_path = model.map_or_else(|| layout.model_dir(), Path::to_path_buf);
    let artifact = load_model(&model_path)?;
    let table = Table::read_dir_or_file(&layout.test_input())?;
    let ds = dataset_for(&artifact, &table)?;
    let production = match production {
        Some(p) => {
            let a = load_model(p)?;
            let pds = dataset_for(&a, &table)?;
            Some((a, pds))
        }
        None => None,
    };
    let ev = train::evaluate(&artifact, &ds, production.as_ref().map(|(a, d)| (a, d)))?;
    write_json(&layout.evaluation_report(), &ev)?;
    Ok(ev)
}

/// The Lambda package of `model` (default: the layout's `model/`), with
/// `binary` as its `bootstrap`, written beside the evaluation report.
pub fn package_lambda(
    layout: &Layout,
    model: Option<&Path>,
    binary: &Path,
) -> Result<PathBuf, StepError> {
    let model_path = model.map_or_else(|| layout.model_dir(), Path::to_path_buf);
    let artifact = load_model(&model_path)?;
    let out = layout.lambda_package();
    crate::serve::lambda::package(&artifact, binary, &out)?;
    Ok(out)
}

/// Drift of data-capture files against the model's baseline; writes the
/// report to `out` (default: `output/monitor.json`).
pub fn monitor(
    layout: &Layout,
    capture: &Path,
    model: Option<&Path>,
    out: Option<&Path>,
    config: &DriftConfig,
) -> Result<(MonitorReport, PathBuf), StepError> {
    let model = model.map_or_else(|| layout.model_dir(), Path::to_path_buf);
    let out = out.map_or_else(|| layout.monitor_report(), Path::to_path_buf);
    let report = batch::run(&model, capture, &out, config)?;
    Ok((report, out))
}

/// Live quality: the ground truth under `ground_truth` joined to the
/// predictions captured under `capture`, for the classes of `model`
/// (default: the layout's `model/`); writes the report to `out` (default:
/// `output/live-quality/live_quality.json`).
pub fn live_quality(
    layout: &Layout,
    capture: &Path,
    ground_truth: &Path,
    model: Option<&Path>,
    out: Option<&Path>,
) -> Result<(GroundTruthReport, PathBuf), StepError> {
    let model = model.map_or_else(|| layout.model_dir(), Path::to_path_buf);
    let artifact = load_model(&model)?;
    let out = out.map_or_else(|| layout.live_quality_report(), Path::to_path_buf);
    let report = ground_truth::join(capture, ground_truth, artifact.classes())?;
    write_json(&out, &report)?;
    Ok((report, out))
}

/// Leaves a failed step's reason where SageMaker shows it.
pub fn record_failure(layout: &Layout, message: &str) -> Result<(), StepError> {
    write_text(&layout.failure(), &format!("{message}\n"))
}

/// Hyperparameters as SageMaker writes them: a JSON object of strings
/// (numbers and booleans are accepted and turned into strings).
pub fn read_hyperparameters(path: &Path) -> Result<BTreeMap<String, String>, StepError> {
    let value: serde_json::Value = read_json(path)?;
    let config_error = |message: String| StepError::Config {
        path: path.to_path_buf(),
        message,
    };
    let obj = value
        .as_object()
        .ok_or_else(|| config_error("hyperparameters must be a JSON object".into()))?;
    obj.iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(config_error(format!(
                        "hyperparameter `{k}` must be a string, number or boolean"
                    )));
                }
            };
            Ok((k.clone(), s))
        })
        .collect()
}

/// Loads a model folder, `dxops-model.bin` or `model.tar.gz`.
pub fn load_model(path: &Path) -> Result<Artifact, StepError> {
    Artifact::load(path).map_err(|source| StepError::Model {
        path: path.to_path_buf(),
        source,
    })
}

fn dataset_for(artifact: &Artifact, table: &Table) -> Result<Dataset, StepError> {
    Ok(Dataset::with_schema(
        table,
        artifact.label(),
        &artifact.body().preprocessor.schema,
        artifact.classes(),
    )?)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StepError> {
    let text = std::fs::read_to_string(path).map_err(|source| StepError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| StepError::Json {
        path: path.to_path_buf(),
        // Only configuration files (contract, hyperparameters) are read here,
        // never patient data, so serde's message may be shown as it is.
        message: e.to_string(),
    })
}

/// Two-space JSON with a final newline, creating the folder.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), StepError> {
    let mut text = serde_json::to_string_pretty(value).expect("step outputs serialize");
    text.push('\n');
    write_text(path, &text)
}

fn write_text(path: &Path, text: &str) -> Result<(), StepError> {
    let write_err = |source| StepError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    std::fs::write(path, text).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxops_contract::data::{
        Feature, FeatureType, IdentifierHandling, QualityRule, QualityRuleKind, Split,
    };

    fn contract() -> DataContract {
        let feature = |name: &str| Feature {
            name: name.into(),
            kind: FeatureType::Numeric,
            min: None,
            max: None,
            unit: None,
            values: None,
        };
        DataContract {
            label: "dx".into(),
            identifiers: vec!["pid".into()],
            identifier_handling: IdentifierHandling::Hash,
            features: vec![feature("age"), feature("hr")],
            quality: vec![QualityRule {
                rule: QualityRuleKind::Uniqueness,
                column: Some("pid".into()),
                min: None,
                max: None,
                values: None,
            }],
            rare_class_max_samples: 5,
            split: Split::default(),
        }
    }

    /// Records in every shape ingest writes, a rare class, malformed
    /// records and a column the contract does not name.
    fn raw_records(dir: &Path) -> Vec<PathBuf> {
        let mut keys = Vec::new();
        let mut put = |key: String, text: String| {
            let path = dir.join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
            keys.push(PathBuf::from(key));
        };
        for i in 0..40 {
            let dx = if i % 10 == 3 {
                "rare"
            } else {
                ["a", "b"][i % 2]
            };
            put(
                format!("api/{i:03x}.json"),
                format!(
                    r#"{{"pid": "p{i}", "age": {}, "dx": "{dx}", "name": "N{i}"}}"#,
                    30 + i
                ),
            );
        }
        for i in 40..70 {
            put(
                format!("iot/devices/{}/vitals/{i}.json", i % 4),
                format!(
                    r#"{{"pid": "p{i}", "vitals": {{"hr": {}}}, "age": {}, "dx": "{}"}}"#,
                    60 + i,
                    i,
                    ["a", "b"][i % 2]
                ),
            );
        }
        let mut csv = String::from("pid,age,hr,dx\n");
        for i in 70..100 {
            csv.push_str(&format!(
                "p{i},{},{},{}\n",
                i % 50,
                50 + i,
                ["a", "b"][i % 2]
            ));
        }
        csv.push_str("bad,1,2,3,4\n");
        put("batch/2026/load.csv".into(), csv);
        put(
            "batch/extra.jsonl".into(),
            "{\"pid\": \"p100\", \"age\": 1, \"dx\": \"rare\"}\nnot json\n".into(),
        );
        keys
    }

    fn outputs(layout: &Layout) -> Vec<String> {
        let mut files: Vec<String> = SplitName::ALL
            .iter()
            .map(|s| std::fs::read_to_string(layout.split_output(*s).join("data.csv")).unwrap())
            .collect();
        files.push(std::fs::read_to_string(layout.ingest_report()).unwrap());
        files.push(std::fs::read_to_string(layout.quality_report()).unwrap());
        files
    }

    fn config(layout: &Layout) {
        let path = layout.process_config();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_string(&contract()).unwrap()).unwrap();
    }

    #[test]
    fn the_mounted_key_is_read_trimmed_and_its_absence_is_none() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::new(root.path());
        assert_eq!(mounted_deid_key(&layout).unwrap(), None);
        std::fs::create_dir_all(layout.deid_key().parent().unwrap()).unwrap();
        std::fs::write(layout.deid_key(), " 5ec7e7\n").unwrap();
        assert_eq!(mounted_deid_key(&layout).unwrap().unwrap(), b"5ec7e7");
        // Hashing with it is hashing with the key's text, as the gateway does.
        config(&layout);
        raw_records(&layout.raw_input());
        let key = mounted_deid_key(&layout).unwrap();
        process(&layout, key.as_deref()).unwrap();
        let train = std::fs::read_to_string(layout.split_output(SplitName::Train).join("data.csv"))
            .unwrap();
        let pseudonyms: Vec<&str> = train
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        let all: Vec<String> = (0..=100)
            .map(|i| crate::process::keyed_hash(b"5ec7e7", &format!("p{i}")))
            .collect();
        assert!(!pseudonyms.is_empty() && pseudonyms.iter().all(|p| all.iter().any(|a| a == p)));
        std::fs::write(layout.deid_key(), "\n").unwrap();
        assert_eq!(mounted_deid_key(&layout).unwrap(), None);
    }

    #[test]
    fn a_sharded_etl_gives_the_table_split_and_report_of_one_instance() {
        let root = tempfile::tempdir().unwrap();
        let single = Layout::new(root.path().join("single"));
        let keys = raw_records(&single.raw_input());
        config(&single);
        let one = process(&single, Some(b"key")).unwrap();
        assert_eq!(one.ingest.skipped_records, 2);
        let expected = outputs(&single);

        // However SageMaker deals the objects out, and to however many.
        for (n, reversed) in [(2, false), (3, true), (7, false), (150, false)] {
            let run = root.path().join(format!("sharded-{n}-{reversed}"));
            let merged = Layout::new(run.join("process"));
            config(&merged);
            let mut order = keys.clone();
            if reversed {
                order.reverse();
            }
            for k in 0..n {
                let host = format!("algo-{}", k + 1);
                let etl_layout = Layout::new(run.join(&host));
                config(&etl_layout);
                for key in order.iter().skip(k).step_by(n) {
                    let to = etl_layout.raw_input().join(key);
                    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                    std::fs::copy(single.raw_input().join(key), to).unwrap();
                }
                let e = etl(&etl_layout, &host).unwrap();
                let part = etl_layout.curated_part(&host);
                assert_eq!(part.is_file(), e.curated_rows > 0);
                if part.is_file() {
                    let text = std::fs::read_to_string(&part).unwrap();
                    assert!(
                        !text.contains("name") && !text.contains(",N1"),
                        "kept an unnamed column"
                    );
                    std::fs::create_dir_all(merged.raw_input()).unwrap();
                    std::fs::copy(&part, merged.raw_input().join(format!("part-{host}.csv")))
                        .unwrap();
                }
                let report = merged
                    .etl_report_input()
                    .join(format!("ingest-{host}.json"));
                std::fs::create_dir_all(report.parent().unwrap()).unwrap();
                std::fs::copy(etl_layout.etl_report(&host), report).unwrap();
            }
            process(&merged, Some(b"key")).unwrap();
            assert_eq!(
                outputs(&merged),
                expected,
                "{n} instances, reversed: {reversed}"
            );
        }
    }
}
