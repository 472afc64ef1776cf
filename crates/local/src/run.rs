//! The steps of one local run, in the order the rendered pipeline and the
//! serving stack run them on AWS.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use dxops_contract::evaluation::Evaluation;
use dxops_contract::gates::{self, GateReport};
use dxops_contract::layout::{Layout, SplitName, paths};
use dxops_ml::data::Table;
use dxops_ml::drift::{DriftConfig, DriftMethod};
use dxops_ml::ingest::IngestSummary;
use dxops_ml::metrics;
use dxops_ml::steps;
use dxops_ml::train::WarmStartReport;
use dxops_spec::spec::model::Trigger;
use dxops_spec::spec::{Environment, ValidatedSpec};

use crate::registry::{ApprovalStatus, Decision, Lineage, Package, Registry};
use crate::{Progress, RunError, StepRecord, StepStatus};

/// Rows of the simulated cohort when no `--data` is given.
pub const COHORT_ROWS: usize = 3000;
/// Rows per replayed request, as a batch client would send them.
const REPLAY_BATCH: usize = 50;

/// How to start the model server: the program and the arguments before
/// `--ml-root DIR --host 127.0.0.1 --port P` (the CLI re-runs itself), and
/// the arguments before `--ml-root DIR` that run the same model as a Lambda
/// function (for `serving.target: lambda`), and those before `--contract
/// FILE` that run the gateway function in front of an endpoint.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub lambda_args: Vec<String>,
    pub gateway_args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub spec_file: PathBuf,
    /// Default: `staging` when the spec has it, else its first environment.
    pub env: Option<String>,
    /// Records as ingest writes them (file or folder); default: the simulated cohort.
    pub data: Option<PathBuf>,
    /// Rows of the simulated cohort when no `data` is given.
    pub rows: usize,
    /// Rows (CSV with header) to replay instead of the held-out test split.
    pub replay: Option<PathBuf>,
    /// Where runs and the registry live.
    pub out: PathBuf,
    /// Server port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Approve the registered model (as the local user) with this reason.
    pub approve: Option<String>,
    pub server: ServerCommand,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub group: String,
    pub version: u32,
    pub status: ApprovalStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    pub group: String,
    pub version: Option<u32>,
    /// Why this model: approved candidate, production, or candidate replayed
    /// before approval.
    pub reason: String,
    /// The server's address, or the function's Runtime API.
    pub address: String,
    /// `http` (the endpoint's server), `gateway` (the gateway function,
    /// then the endpoint's server) or `lambda` (the serving function).
    pub transport: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    pub rows: usize,
    pub requests: usize,
    pub errors: usize,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// Request latencies in milliseconds, in order (for the report).
    pub latencies_ms: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDriftSummary {
    pub feature: String,
    pub method: String,
    pub score: f64,
    pub threshold: f64,
    pub drifted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftSummary {
    pub rows: usize,
    pub drifted_features: usize,
    pub tested_features: usize,
    pub drift_share: f64,
    pub dataset_drift: bool,
    pub features: Vec<FeatureDriftSummary>,
}

/// Live quality: served predictions joined with the labels fed back for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveQuality {
    pub rows: usize,
    pub macro_f1: f64,
    pub worst_class_recall: f64,
    pub worst_class: String,
    /// `monitoring.quality.min_macro_f1`, when the spec sets one.
    pub floor: Option<f64>,
    /// `LiveMacroF1` as the server reports it (Prometheus, after `/feedback`).
    pub server_macro_f1: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainingDecision {
    pub retrain: bool,
    /// Triggers of `retraining.on` that fired, with why.
    pub reasons: Vec<String>,
}

/// Everything a run did: `run.json`, the JSON output and the report's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: String,
    pub dir: PathBuf,
    pub spec: String,
    pub environment: String,
    pub steps: Vec<StepRecord>,
    pub ingest: Option<IngestSummary>,
    pub evaluation: Option<Evaluation>,
    /// The production model's evaluation on the same rows, when there is one.
    pub production_evaluation: Option<Evaluation>,
    /// The previous version of the group, for the report's comparison.
    pub previous: Option<Package>,
    pub gates: Option<GateReport>,
    pub warm_start: Option<WarmStartReport>,
    pub warm_start_from: Option<String>,
    pub registered: Option<Registered>,
    pub served: Option<Served>,
    pub replay: Option<ReplaySummary>,
    pub drift: Option<DriftSummary>,
    pub live_quality: Option<LiveQuality>,
    /// ROC and calibration of the served predictions against their labels.
    pub curves: Option<Curves>,
    pub retraining: Option<RetrainingDecision>,
    pub report: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    pub class: String,
    pub auc: Option<f64>,
    /// (false positive rate, true positive rate), from (0, 0) to (1, 1).
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Mean top-class probability of the rows in the bin.
    pub confidence: f64,
    /// Share of those rows whose top class was right.
    pub accuracy: f64,
    pub rows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    pub roc: Vec<RocCurve>,
    pub calibration: Vec<CalibrationBin>,
    /// Multi-class Brier score: mean squared distance to the one-hot label.
    pub brier: f64,
    /// Expected calibration error of the top-class probability (10 bins).
    pub ece: f64,
}

struct Steps<'a> {
    progress: &'a mut dyn Progress,
    records: Vec<StepRecord>,
}

impl Steps<'_> {
    /// Runs one step, timing it; its result's detail line is recorded.
    fn run<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<(T, String), RunError>,
    ) -> Result<T, RunError> {
        self.progress.started(name);
        let start = Instant::now();
        let result = f();
        let (status, detail) = match &result {
            Ok((_, d)) => (StepStatus::Ok, d.clone()),
            Err(e) => (StepStatus::Failed, e.to_string()),
        };
        let record = StepRecord {
            name: name.into(),
            status,
            seconds: start.elapsed().as_secs_f64(),
            detail,
        };
        self.progress.finished(&record);
        self.records.push(record);
        result.map(|(t, _)| t)
    }

    fn skip(&mut self, name: &str, why: &str) {
        let record = StepRecord {
            name: name.into(),
            status: StepStatus::Skipped,
            seconds: 0.0,
            detail: why.into(),
        };
        self.progress.started(name);
        self.progress.finished(&record);
        self.records.push(record);
    }
}

/// The rendered files of the environment the run follows.
struct Rendered {
    files: BTreeMap<String, String>,
}

impl Rendered {
    fn text(&self, name: &str) -> Result<&str, RunError> {
        self.files
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| RunError::Rendered {
                file: name.into(),
                message: "not rendered for this environment".into(),
            })
    }

    fn json(&self, name: &str) -> Result<Value, RunError> {
        serde_json::from_str(self.text(name)?).map_err(|e| RunError::Rendered {
            file: name.into(),
            message: e.to_string(),
        })
    }

    fn yaml(&self, name: &str) -> Result<Value, RunError> {
        dxops_spec::yaml::parse_value(self.text(name)?).map_err(|e| RunError::Rendered {
            file: name.into(),
            message: e.to_string(),
        })
    }
}

fn pipeline_step<'v>(pipeline: &'v Value, name: &str) -> Result<&'v Value, RunError> {
    optional_step(pipeline, name).ok_or_else(|| RunError::Rendered {
        file: "pipeline.json".into(),
        message: format!("no step named {name}"),
    })
}

fn optional_step<'v>(pipeline: &'v Value, name: &str) -> Option<&'v Value> {
    pipeline["Steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["Name"] == name))
}

fn parameter_default<'v>(pipeline: &'v Value, name: &str) -> Option<&'v Value> {
    pipeline["Parameters"]
        .as_array()?
        .iter()
        .find(|p| p["Name"] == name)
        .map(|p| &p["DefaultValue"])
}

/// The environment variables the serving stack gives the model container.
fn serving_environment(serving: &Value) -> BTreeMap<String, String> {
    let Some(resources) = serving["Resources"].as_object() else {
        return BTreeMap::new();
    };
    // The endpoint's model container, or the serving function.
    resources
        .values()
        .filter_map(|r| match r["Type"].as_str() {
            Some("AWS::SageMaker::Model") => {
                r["Properties"]["PrimaryContainer"]["Environment"].as_object()
            }
            Some("AWS::Lambda::Function")
                if r["Properties"]["Handler"] == "bootstrap"
                    && r["Properties"]["FunctionName"]
                        != serving["Resources"]["GatewayFunction"]["Properties"]["FunctionName"] =>
            {
                r["Properties"]["Environment"]["Variables"].as_object()
            }
            _ => None,
        })
        .flat_map(|env| env.iter())
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

fn next_run_id(out: &Path) -> Result<String, RunError> {
    let mut n = 1;
    if out.is_dir() {
        for entry in std::fs::read_dir(out).map_err(|e| RunError::io(out, e))? {
            let name = entry.map_err(|e| RunError::io(out, e))?.file_name();
            if let Some(k) = name
                .to_string_lossy()
                .strip_prefix("run-")
                .and_then(|k| k.parse::<u32>().ok())
            {
                n = n.max(k + 1);
            }
        }
    }
    Ok(format!("run-{n:04}"))
}

fn step_error(step: &'static str) -> impl Fn(steps::StepError) -> RunError {
    move |source| RunError::Step { step, source }
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "local".into())
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn choose_environment<'s>(
    spec: &'s ValidatedSpec,
    wanted: Option<&str>,
) -> Result<&'s Environment, RunError> {
    let name = wanted.map(str::to_string).unwrap_or_else(|| {
        if spec.environments.contains_key("staging") {
            "staging".into()
        } else {
            spec.environments.keys().next().cloned().unwrap_or_default()
        }
    });
    spec.environments
        .get(&name)
        .ok_or_else(|| RunError::UnknownEnvironment {
            spec: spec.name.clone(),
            env: name,
            available: spec
                .environments
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Runs the pipeline of one environment on this machine.
pub fn run(options: &RunOptions, progress: &mut dyn Progress) -> Result<RunSummary, RunError> {
    let text = std::fs::read_to_string(&options.spec_file)
        .map_err(|e| RunError::io(&options.spec_file, e))?;
    let spec = dxops_spec::spec::load(&options.spec_file.display().to_string(), &text)
        .map_err(RunError::Spec)?;
    let env = choose_environment(&spec, options.env.as_deref())?;
    if let Some(d) = &options.data
        && !d.exists()
    {
        return Err(RunError::MissingData(d.clone()));
    }
    if options.port != 0 && TcpListener::bind(("127.0.0.1", options.port)).is_err() {
        return Err(RunError::PortInUse { port: options.port });
    }
    let run_id = next_run_id(&options.out)?;
    let dir = options.out.join(&run_id);
    let registry = Registry::new(&options.out);
    let group = env.names.model_package_group.clone();
    let mut steps = Steps {
        progress,
        records: Vec::new(),
    };
    let mut summary = RunSummary {
        run: run_id.clone(),
        dir: dir.clone(),
        spec: spec.name.clone(),
        environment: env.env.clone(),
        steps: Vec::new(),
        ingest: None,
        evaluation: None,
        production_evaluation: None,
        previous: registry.versions(&group)?.last().cloned(),
        gates: None,
        warm_start: None,
        warm_start_from: None,
        registered: None,
        served: None,
        replay: None,
        drift: None,
        live_quality: None,
        curves: None,
        retraining: None,
        report: dir.join("report.html"),
    };

    // Render: the files this run follows, kept beside its outputs.
    let rendered = steps.run("render", || {
        let files = dxops_spec::render::Renderer::embedded()?.render_env(&spec, env)?;
        let mut map = BTreeMap::new();
        for f in files {
            let name = f
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            crate::write_text(&dir.join("stacks").join(&name), &f.contents)?;
            map.insert(name, f.contents);
        }
        let n = map.len();
        Ok((Rendered { files: map }, format!("{n} files of {}", env.env)))
    })?;
    let pipeline = rendered.json("pipeline.json")?;

    // Ingest: records land where the API Lambda and the IoT rule put them.
    let raw = dir.join("s3/raw");
    steps.run("ingest", || match &options.data {
        Some(d) => {
            crate::copy_tree(d, &raw.join("incoming/batch"))?;
            Ok(((), format!("records from {}", d.display())))
        }
        None => {
            let table = cohort_for(env, options.rows)?;
            let (api, iot) =
                crate::cohort::write_as_ingest(&table, &raw, env.spec.training.validation.seed)?;
            Ok((
                (),
                format!("{api} API records, {iot} device messages (simulated cohort)"),
            ))
        }
    })?;

    // Hash mode: one key for every run under --out, as `dxops deploy`
    // writes one per environment, so pseudonyms link across runs.
    let deid_key = match std::env::var(dxops_ml::process::DEID_KEY_ENV) {
        Ok(k) if !k.is_empty() => Some(k),
        _ if env.spec.data.identifier_handling
            == dxops_contract::data::IdentifierHandling::Hash =>
        {
            Some(crate::local_deid_key(&options.out)?)
        }
        _ => None,
    };

    // A sharded ETL when the pipeline has one: each instance reads its
    // share of the objects, as SageMaker's ShardedByS3Key hands them out.
    let processing = Layout::new(dir.join("processing"));
    let etl = optional_step(&pipeline, "Etl");
    if let Some(step) = etl {
        let instances = step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"]
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| RunError::Rendered {
                file: "pipeline.json".into(),
                message: "step Etl has no InstanceCount".into(),
            })? as usize;
        steps.run("etl", || {
            let hosts: Vec<String> = (1..=instances).map(|k| format!("algo-{k}")).collect();
            let shares = crate::shard_by_key(&raw.join("incoming"), hosts.len())?;
            let mut rows = 0;
            for (host, share) in hosts.iter().zip(&shares) {
                let layout = Layout::new(dir.join("etl").join(host));
                for (from, rel) in share {
                    crate::copy_file(from, &layout.raw_input().join(rel))?;
                }
                crate::write_text(&layout.process_config(), rendered.text("process.json")?)?;
                let e = steps::etl(&layout, host).map_err(step_error("etl"))?;
                rows += e.curated_rows;
                if e.curated_rows > 0 {
                    crate::copy_file(
                        &layout.curated_part(host),
                        &processing.raw_input().join(format!("part-{host}.csv")),
                    )?;
                }
                crate::copy_file(
                    &layout.etl_report(host),
                    &processing
                        .etl_report_input()
                        .join(format!("ingest-{host}.json")),
                )?;
            }
            let files: usize = shares.iter().map(Vec::len).sum();
            Ok((
                (),
                format!("{files} objects over {instances} instances, {rows} records curated"),
            ))
        })?;
    }

    // ETL (unless sharded above), quality and processing: the Process
    // step's container call.
    let processed = steps.run("process", || {
        if etl.is_none() {
            crate::copy_tree(&raw.join("incoming"), &processing.raw_input())?;
        }
        crate::write_text(&processing.process_config(), rendered.text("process.json")?)?;
        // Mounted where the rendered Process step mounts the key's object.
        if let Some(k) = &deid_key {
            crate::write_text(&processing.deid_key(), k)?;
        }
        let key = steps::mounted_deid_key(&processing).map_err(step_error("process"))?;
        let p = steps::process(&processing, key.as_deref()).map_err(step_error("process"))?;
        let detail = format!(
            "{} records ({} malformed, skipped), quality passed, split {}/{}/{}",
            p.ingest.records,
            p.ingest.skipped_records,
            p.train_rows,
            p.validation_rows,
            p.test_rows
        );
        Ok((p, detail))
    })?;
    summary.ingest = Some(processed.ingest.clone());

    // Train, with the warm-start channel when the spec names a source.
    let training = Layout::new(dir.join("training"));
    let warm_source = match &env.spec.training.transfer {
        Some(t) => {
            let source_group = t
                .from
                .strip_prefix("registry:")
                .and_then(|s| s.strip_suffix("/latest"))
                .unwrap_or_default()
                .to_string();
            registry
                .production(&source_group)?
                .map(|p| (source_group, p))
        }
        None => None,
    };
    let trained = steps.run("train", || {
        for (split, channel) in [
            (SplitName::Train, paths::TRAIN_CHANNEL),
            (SplitName::Validation, paths::VALIDATION_CHANNEL),
        ] {
            crate::copy_file(
                &processing.split_output(split).join("data.csv"),
                &training.channel(channel).join("data.csv"),
            )?;
        }
        let hp = &pipeline_step(&pipeline, "Train")?["Arguments"]["HyperParameters"];
        crate::write_json(&training.hyperparameters(), hp)?;
        if let Some((g, p)) = &warm_source {
            crate::copy_tree(
                &registry.model_dir(g, p.version),
                &training.channel(paths::WARM_START_CHANNEL),
            )?;
        } else if env.spec.training.transfer.is_some() {
            // What the retraining state machine passes when the source group
            // has no approved model: the channel holds only the marker.
            crate::write_text(
                &training
                    .channel(paths::WARM_START_CHANNEL)
                    .join(paths::NO_SOURCE_MARKER),
                "No approved model in the transfer source group: trained from scratch.\n",
            )?;
        }
        let t = steps::train(&training).map_err(step_error("train"))?;
        let mut detail = format!("cv macro-F1 {:.3}", t.cv.macro_f1);
        if let Some((g, p)) = &warm_source {
            detail.push_str(&format!(", warm start from {g} v{}", p.version));
        } else if env.spec.training.transfer.is_some() {
            detail.push_str(", no approved source model yet: trained cold");
        }
        Ok((t, detail))
    })?;
    summary.warm_start = trained.warm_start.clone();
    summary.warm_start_from = warm_source
        .as_ref()
        .map(|(g, p)| format!("{g} v{}", p.version));

    // Evaluate against the production version, as the Evaluate step does.
    let evaluation_layout = Layout::new(dir.join("evaluation"));
    let production = registry.production(&group)?;
    let evaluation = steps.run("evaluate", || {
        crate::copy_file(
            &processing.split_output(SplitName::Test).join("data.csv"),
            &evaluation_layout.test_input().join("data.csv"),
        )?;
        let prod_dir = production
            .as_ref()
            .map(|p| registry.model_dir(&group, p.version));
        let ev = steps::evaluate(
            &evaluation_layout,
            Some(&training.model_dir()),
            prod_dir.as_deref(),
        )
        .map_err(step_error("evaluate"))?;
        let detail = match &production {
            Some(p) => format!(
                "macro-F1 {:.3} against production v{} {:.3}",
                ev.metrics.macro_f1, p.version, ev.metrics.production_macro_f1
            ),
            None => format!(
                "macro-F1 {:.3}, worst-class recall {:.3} ({})",
                ev.metrics.macro_f1, ev.metrics.worst_class_recall, ev.metrics.worst_class
            ),
        };
        Ok((ev, detail))
    })?;
    if let Some(p) = &production {
        let scratch = Layout::new(dir.join("evaluation-production"));
        crate::copy_file(
            &evaluation_layout.test_input().join("data.csv"),
            &scratch.test_input().join("data.csv"),
        )?;
        summary.production_evaluation = Some(
            steps::evaluate(&scratch, Some(&registry.model_dir(&group, p.version)), None)
                .map_err(step_error("evaluate"))?,
        );
    }
    summary.evaluation = Some(evaluation.clone());

    // Gates, exactly as the rendered condition step states them.
    let report = steps.run("gates", || {
        let conditions =
            gates::conditions_of_pipeline(&pipeline).map_err(|e| RunError::Rendered {
                file: "pipeline.json".into(),
                message: e.to_string(),
            })?;
        let doc = crate::read_json::<Value>(&evaluation_layout.evaluation_report())?;
        let r = gates::check_json(&conditions, &doc);
        let failed: Vec<&str> = r
            .results
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.condition.parameter.as_str())
            .collect();
        let detail = if r.passed {
            format!("all {} passed", r.results.len())
        } else {
            format!("failed: {}", failed.join(", "))
        };
        Ok((r, detail))
    })?;
    summary.gates = Some(report.clone());

    // Register and approve, as the RegisterModel step and `dxops approve` do.
    let registered = if report.passed {
        Some(steps.run("register", || {
            let status = parameter_default(&pipeline, "ModelApprovalStatus")
                .and_then(Value::as_str)
                .and_then(ApprovalStatus::parse)
                .unwrap_or(ApprovalStatus::PendingManualApproval);
            let decision = match (status, &options.approve) {
                (ApprovalStatus::Approved, _) => Some(Decision {
                    status,
                    by: "dxops (registry.approval: automatic)".into(),
                    reason: "passed every gate".into(),
                    at: now(),
                }),
                (_, Some(reason)) => Some(Decision {
                    status: ApprovalStatus::Approved,
                    by: local_user(),
                    reason: reason.clone(),
                    at: now(),
                }),
                _ => None,
            };
            let package = Package {
                group: group.clone(),
                version: 0,
                status: decision.as_ref().map_or(status, |d| d.status),
                lineage: Lineage {
                    run: run_id.clone(),
                    spec_name: spec.name.clone(),
                    environment: env.env.clone(),
                    spec_sha256: spec.spec_sha256.clone(),
                    data_sha256: trained.artifact.body().training.data_sha256.clone(),
                    model_sha256: trained.artifact.checksum().to_string(),
                    code_version: format!("dxops {}", env!("CARGO_PKG_VERSION")),
                    warm_start_from: summary.warm_start_from.clone(),
                },
                macro_f1: evaluation.metrics.macro_f1,
                worst_class_recall: evaluation.metrics.worst_class_recall,
                decisions: Vec::new(),
            };
            let p = registry.register(
                &group,
                &training.model_dir(),
                &evaluation_layout.evaluation_report(),
                package,
                decision,
            )?;
            let detail = format!("{group} v{}: {}", p.version, p.status.as_str());
            Ok((p, detail))
        })?)
    } else {
        steps.skip("register", "the gates did not pass");
        None
    };
    summary.registered = registered.as_ref().map(|p| Registered {
        group: p.group.clone(),
        version: p.version,
        status: p.status,
    });

    // Serve: the model that is live after this run. An approval deploys
    // only where the rendered serving stack has the promotion loop
    // (`retraining.deploy: after_approval`), as on AWS.
    let serving_stack = rendered.yaml("serving.yaml")?;
    let promotes = serving_stack["Resources"]
        .get("PromoteOnApproval")
        .is_some();
    let (model_dir, served_version, reason) = match (&registered, registry.production(&group)?) {
        (Some(p), _) if p.status == ApprovalStatus::Approved && promotes => (
            registry.model_dir(&group, p.version),
            Some(p.version),
            "approved in this run".to_string(),
        ),
        (Some(p), _) if p.status == ApprovalStatus::Approved => (
            registry.model_dir(&group, p.version),
            Some(p.version),
            "approved; not deployed (retraining.deploy: never): replayed as a staging check"
                .to_string(),
        ),
        (_, Some(prod)) => (
            registry.model_dir(&group, prod.version),
            Some(prod.version),
            "the production version (this run's model is not approved)".to_string(),
        ),
        (Some(p), None) => (
            registry.model_dir(&group, p.version),
            Some(p.version),
            "pending approval: replayed as a staging check, not deployed".to_string(),
        ),
        (None, None) => (
            training.model_dir(),
            None,
            "unregistered candidate: replayed as a staging check, not deployed".to_string(),
        ),
    };
    let serving = Layout::new(dir.join("serving"));
    let serving_env = serving_environment(&serving_stack);
    // A Lambda-serving spec is served by the function, through a local
    // Runtime API, as on AWS.
    let as_lambda = serving_stack["Resources"]["Function"]["Properties"]["Handler"] == "bootstrap";
    // An endpoint with a gateway is reached through it, as the API reaches it.
    let gateway =
        serving_stack["Resources"]["GatewayFunction"]["Properties"]["Handler"] == "bootstrap";
    let mut server = steps.run("serve", || {
        crate::copy_tree(&model_dir, &serving.model_dir())?;
        let s = if as_lambda {
            Server::start_function(options, &serving, &serving_env)?
        } else if gateway {
            Server::start(options, &serving, &serving_env)?.behind_gateway(
                options,
                &serving,
                &dir.join("stacks").join(paths::CONFIG_FILE),
                &env.names.endpoint,
                &env.spec.region,
                deid_key.as_deref(),
            )?
        } else {
            Server::start(options, &serving, &serving_env)?
        };
        let detail = if as_lambda {
            format!("Lambda function, Runtime API on {} ({reason})", s.addr)
        } else if gateway {
            format!(
                "gateway function, then the endpoint's server on {} ({reason})",
                s.addr
            )
        } else {
            format!("{} ({reason})", s.addr)
        };
        Ok((s, detail))
    })?;
    summary.served = Some(Served {
        group: group.clone(),
        version: served_version,
        reason,
        address: server.addr.to_string(),
        transport: if as_lambda {
            "lambda"
        } else if gateway {
            "gateway"
        } else {
            "http"
        }
        .into(),
    });

    // Replay held-out rows (or the given ones), capturing as SageMaker does.
    let replay_source = options
        .replay
        .clone()
        .unwrap_or_else(|| evaluation_layout.test_input().join("data.csv"));
    let label = trained.hyperparameters.label.clone();
    let replayed = steps.run("replay", || {
        let r = replay(&mut server, &replay_source, &label, &serving)?;
        let detail = format!(
            "{} rows in {} requests, p99 {:.1} ms, {} errors",
            r.summary.rows, r.summary.requests, r.summary.latency_p99_ms, r.summary.errors
        );
        Ok((r, detail))
    });
    server.stop();
    let replayed = replayed?;
    summary.replay = Some(replayed.summary.clone());

    // Drift over the capture, with the serving stack's method and threshold.
    let drift = steps.run("drift", || {
        let config = DriftConfig::parse(
            serving_env
                .get(dxops_ml::drift::ENV_METHOD)
                .map(String::as_str),
            serving_env
                .get(dxops_ml::drift::ENV_THRESHOLD)
                .map(String::as_str),
        )
        .map_err(|e| RunError::Rendered {
            file: "serving.yaml".into(),
            message: e.to_string(),
        })?;
        let (report, _) = steps::monitor(
            &serving,
            &serving.root().join("capture"),
            None,
            None,
            &config,
        )
        .map_err(step_error("drift"))?;
        let d = &report.drift;
        let features = d
            .features
            .iter()
            .map(|f| FeatureDriftSummary {
                feature: f.feature.clone(),
                method: f.method.as_str().into(),
                score: f.score,
                threshold: f.threshold,
                drifted: f.drifted,
            })
            .collect();
        let s = DriftSummary {
            rows: d.rows,
            drifted_features: d.drifted_features,
            tested_features: d.tested_features,
            drift_share: d.drift_share,
            dataset_drift: d.dataset_drift,
            features,
        };
        let method = if config.method == DriftMethod::Auto {
            "auto".to_string()
        } else {
            config.method.to_string()
        };
        let detail = format!(
            "{} of {} features drifted ({method}), data set drift: {}",
            s.drifted_features,
            s.tested_features,
            if s.dataset_drift { "yes" } else { "no" }
        );
        Ok((s, detail))
    })?;
    summary.drift = Some(drift.clone());

    // Live quality from the labels fed back for the served predictions.
    let floor = env.spec.monitoring.quality.min_macro_f1;
    let live = match &replayed.labelled {
        Some(labelled) => Some(steps.run("live quality", || {
            let q = live_quality(labelled, floor);
            let detail = format!(
                "LiveMacroF1 {:.3} over {} labelled rows (server: {}){}",
                q.macro_f1,
                q.rows,
                q.server_macro_f1
                    .map_or("not reported".into(), |v| format!("{v:.3}")),
                floor.map_or(String::new(), |f| format!(" (floor {f})"))
            );
            Ok((q, detail))
        })?),
        None => {
            steps.skip("live quality", "the replayed rows carry no labels");
            None
        }
    };
    summary.live_quality = live.clone();
    summary.curves = replayed.labelled.as_ref().map(curves);

    // The retraining decision, from the spec's triggers.
    let decision = steps.run("retraining", || {
        let mut reasons = Vec::new();
        let triggers = &env.spec.retraining.on;
        if triggers.contains(&Trigger::Drift) && drift.dataset_drift {
            reasons.push(format!(
                "drift: {} of {} features drifted",
                drift.drifted_features, drift.tested_features
            ));
        }
        if triggers.contains(&Trigger::Quality)
            && let (Some(q), Some(f)) = (&live, floor)
            && q.macro_f1 < f
        {
            reasons.push(format!("quality: LiveMacroF1 {:.3} below {f}", q.macro_f1));
        }
        let d = RetrainingDecision {
            retrain: !reasons.is_empty(),
            reasons,
        };
        let detail = if d.retrain {
            format!("retrain ({})", d.reasons.join("; "))
        } else {
            "no trigger fired".into()
        };
        Ok((d, detail))
    })?;
    summary.retraining = Some(decision);

    summary.steps = steps.records;
    crate::write_text(&summary.report, &crate::report::html(&summary))?;
    crate::write_json(&dir.join("run.json"), &summary)?;
    Ok(summary)
}

/// The simulated cohort, shaped to the spec: the spec's label and
/// identifier names, and a clear error when its features are not the
/// cohort's.
fn cohort_for(env: &Environment, rows: usize) -> Result<Table, RunError> {
    let d = &env.spec.data;
    let missing: Vec<&str> = d
        .features
        .iter()
        .map(|f| f.name.as_str())
        .filter(|f| !dxops_ml::synth::COLUMNS.contains(f))
        .collect();
    if !missing.is_empty() {
        return Err(RunError::NotTheCohort {
            missing: missing.join(", "),
        });
    }
    let ids = !d.identifiers.is_empty();
    let mut table = dxops_ml::synth::generate(rows, env.spec.training.validation.seed, ids);
    for h in &mut table.headers {
        if h == "diagnosis" {
            *h = d.label.clone();
        } else if h == "patient_id"
            && let Some(id) = d.identifiers.first()
        {
            *h = id.clone();
        }
    }
    Ok(table)
}

/// The model server, a child process on loopback.
struct Server {
    child: Child,
    addr: SocketAddr,
    door: Door,
}

/// How requests reach the model: the HTTP server, the function through
/// its Runtime API, or the gateway function through its Runtime API, which
/// calls a local SageMaker Runtime in front of the server.
enum Door {
    Http(crate::http::Client),
    Lambda(crate::lambda::RuntimeApi),
    Gateway(Gateway),
}

struct Gateway {
    api: crate::lambda::RuntimeApi,
    runtime: crate::sagemaker_runtime::SageMakerRuntime,
    function: Child,
    /// The server itself, for `/feedback` and `/metrics`.
    http: crate::http::Client,
}

/// What the model answered to one request.
struct Answer {
    status: u16,
    body: Vec<u8>,
    request_id: Option<String>,
}

impl Server {
    fn start(
        options: &RunOptions,
        layout: &Layout,
        env: &BTreeMap<String, String>,
    ) -> Result<Server, RunError> {
        let port = match options.port {
            0 => TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| RunError::Server(e.to_string()))?,
            p => p,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Command::new(&options.server.program);
        cmd.args(&options.server.args)
            .arg("--ml-root")
            .arg(layout.root())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        let door = Door::Http(crate::http::Client::new(addr));
        Server::launch(options, cmd, env, layout, addr, door)?.ready(
            layout,
            "no answer to /ping within 15 s",
            |s| {
                s.http()
                    .ok()
                    .and_then(|c| c.request("GET", "/ping", "text/plain", b"").ok())
                    .is_some_and(|r| r.status == 200)
            },
        )
    }

    /// The function on the model under `layout`, polling a local Runtime
    /// API; ready once it asks for its first event.
    fn start_function(
        options: &RunOptions,
        layout: &Layout,
        env: &BTreeMap<String, String>,
    ) -> Result<Server, RunError> {
        let api = crate::lambda::RuntimeApi::default();
        let addr = api.start().map_err(|e| RunError::Server(e.to_string()))?;
        let mut cmd = Command::new(&options.server.program);
        cmd.args(&options.server.lambda_args)
            .arg("--ml-root")
            .arg(layout.root())
            .envs(crate::lambda::function_environment(addr, "dxops-local"));
        let door = Door::Lambda(api);
        Server::launch(options, cmd, env, layout, addr, door)?.ready(
            layout,
            "the function asked for no event within 15 s",
            |s| matches!(&s.door, Door::Lambda(api) if api.first_poll().is_some()),
        )
    }

    /// Puts the gateway function in front of this server: a local SageMaker
    /// Runtime forwards its `InvokeEndpoint` calls to the server; ready once
    /// the function asks for its first event.
    fn behind_gateway(
        mut self,
        options: &RunOptions,
        layout: &Layout,
        contract: &Path,
        endpoint: &str,
        region: &str,
        deid_key: Option<&str>,
    ) -> Result<Server, RunError> {
        let fail = |e: std::io::Error| RunError::Server(format!("the gateway: {e}"));
        let runtime = crate::sagemaker_runtime::SageMakerRuntime::new(endpoint, self.addr);
        let url = runtime.start().map_err(fail)?;
        let api = crate::lambda::RuntimeApi::default();
        let api_addr = api.start().map_err(fail)?;
        let log = |name: &str| {
            let path = layout.root().join(name);
            std::fs::File::create(&path).map_err(|e| RunError::io(&path, e))
        };
        // Credentials the SDK signs with; the local runtime checks none.
        let function = Command::new(&options.server.program)
            .args(&options.server.gateway_args)
            .arg("--contract")
            .arg(contract)
            .envs(crate::lambda::function_environment(
                api_addr,
                "dxops-local-gateway",
            ))
            .env(dxops_contract::layout::ENV_GATEWAY_ENDPOINT, endpoint)
            .envs(deid_key.map(|k| (dxops_ml::process::DEID_KEY_ENV, k)))
            .env("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", &url)
            .env("AWS_REGION", region)
            .env("AWS_ACCESS_KEY_ID", "dxops-local")
            .env("AWS_SECRET_ACCESS_KEY", "dxops-local")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log("gateway.emf")?)
            .stderr(log("gateway.log")?)
            .spawn()
            .map_err(|e| RunError::Server(format!("{}: {e}", options.server.program.display())))?;
        let http = match std::mem::replace(&mut self.door, Door::Lambda(api.clone())) {
            Door::Http(c) => c,
            _ => crate::http::Client::new(self.addr),
        };
        self.door = Door::Gateway(Gateway {
            api,
            runtime,
            function,
            http,
        });
        let late = format!(
            "the gateway function asked for no event within 15 s; see {}",
            layout.root().join("gateway.log").display()
        );
        self.ready(layout, &late, |s| match &s.door {
            Door::Gateway(g) => g.api.first_poll().is_some(),
            _ => false,
        })
    }

    /// Starts `cmd` with the serving environment, its metrics (stdout) and
    /// log (stderr) in the layout's root.
    fn launch(
        options: &RunOptions,
        mut cmd: Command,
        env: &BTreeMap<String, String>,
        layout: &Layout,
        addr: SocketAddr,
        door: Door,
    ) -> Result<Server, RunError> {
        let log = |name: &str| {
            let path = layout.root().join(name);
            std::fs::File::create(&path).map_err(|e| RunError::io(&path, e))
        };
        let child = cmd
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log("metrics.emf")?)
            .stderr(log("server.log")?)
            .spawn()
            .map_err(|e| RunError::Server(format!("{}: {e}", options.server.program.display())))?;
        Ok(Server { child, addr, door })
    }

    /// Waits up to 15 s for `ready`, failing early if the process exits.
    fn ready(
        mut self,
        layout: &Layout,
        timeout_message: &str,
        mut ready: impl FnMut(&mut Server) -> bool,
    ) -> Result<Server, RunError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(RunError::Server(format!(
                    "it exited with {status}; see {}",
                    layout.root().join("server.log").display()
                )));
            }
            if ready(&mut self) {
                return Ok(self);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(RunError::Server(timeout_message.into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn http(&mut self) -> Result<&mut crate::http::Client, RunError> {
        match &mut self.door {
            Door::Http(c) => Ok(c),
            Door::Gateway(g) => Ok(&mut g.http),
            Door::Lambda(_) => Err(RunError::Server(
                "a Lambda function has no HTTP routes".into(),
            )),
        }
    }

    /// One batch of CSV rows, answered as JSON.
    fn invoke(&mut self, n: usize, csv: &str) -> Result<Answer, RunError> {
        match &mut self.door {
            Door::Http(c) => {
                let r = c
                    .request("POST", "/invocations", "text/csv", csv.as_bytes())
                    .map_err(|e| RunError::Replay(e.to_string()))?;
                Ok(Answer {
                    status: r.status,
                    body: r.body,
                    request_id: r.request_id,
                })
            }
            Door::Gateway(g) => {
                // As API Gateway's proxy integration delivers a POST; the
                // API's request id becomes the inference id.
                let id = format!("replay-{n:06}");
                let event = serde_json::json!({
                    "httpMethod": "POST",
                    "path": "/predict",
                    "headers": {"Content-Type": "text/csv", "Accept": "application/json"},
                    "requestContext": {"requestId": id},
                    "body": csv,
                    "isBase64Encoded": false,
                });
                match g.api.invoke(&id, &event, Duration::from_secs(60)) {
                    Some(crate::lambda::Outcome::Response(r)) => Ok(Answer {
                        status: r["statusCode"].as_u64().unwrap_or(502) as u16,
                        body: r["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
                        // Feedback goes to the server under its own id.
                        request_id: g.runtime.container_id(&id),
                    }),
                    Some(crate::lambda::Outcome::Error(_)) => Ok(Answer {
                        status: 502,
                        body: Vec::new(),
                        request_id: None,
                    }),
                    None => Err(RunError::Replay(format!(
                        "the gateway did not answer {id} within 60 s"
                    ))),
                }
            }
            Door::Lambda(api) => {
                // As API Gateway's proxy integration delivers a POST.
                let id = format!("replay-{n:06}");
                let event = serde_json::json!({
                    "httpMethod": "POST",
                    "path": "/predict",
                    "headers": {"Content-Type": "text/csv", "Accept": "application/json"},
                    "body": csv,
                    "isBase64Encoded": false,
                });
                match api.invoke(&id, &event, Duration::from_secs(60)) {
                    Some(crate::lambda::Outcome::Response(r)) => Ok(Answer {
                        status: r["statusCode"].as_u64().unwrap_or(502) as u16,
                        body: r["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
                        request_id: Some(id),
                    }),
                    Some(crate::lambda::Outcome::Error(_)) => Ok(Answer {
                        status: 502,
                        body: Vec::new(),
                        request_id: Some(id),
                    }),
                    None => Err(RunError::Replay(format!(
                        "the function did not answer {id} within 60 s"
                    ))),
                }
            }
        }
    }

    /// SIGTERM, so the server drains and flushes its metrics; then waits.
    fn stop(mut self) {
        if let Door::Gateway(g) = &mut self.door {
            let _ = g.function.kill();
            let _ = g.function.wait();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows the server scored, with the label fed back for each.
struct Labelled {
    classes: Vec<String>,
    y: Vec<usize>,
    probabilities: Vec<Vec<f64>>,
    server_macro_f1: Option<f64>,
}

struct Replayed {
    summary: ReplaySummary,
    labelled: Option<Labelled>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sends the rows in CSV batches, writes SageMaker data-capture lines and
/// the fed-back labels (ground truth keyed by inference id).
fn replay(
    server: &mut Server,
    source: &Path,
    label: &str,
    layout: &Layout,
) -> Result<Replayed, RunError> {
    let table = Table::read(source).map_err(|e| RunError::Replay(e.to_string()))?;
    let model = dxops_ml::artifact::Artifact::load(&layout.model_dir())
        .map_err(|e| RunError::Replay(e.to_string()))?;
    let features = model.feature_names().to_vec();
    let classes = model.classes().to_vec();
    let columns: Vec<usize> = features
        .iter()
        .map(|f| {
            table
                .column_index(f)
                .ok_or_else(|| RunError::Replay(format!("the replay rows have no column `{f}`")))
        })
        .collect::<Result<_, _>>()?;
    let label_column = table.column_index(label);
    let mut capture = String::new();
    let mut ground_truth = String::new();
    let mut feedback = String::new();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut y = Vec::new();
    let mut probabilities = Vec::new();
    for (batch_no, batch) in table.rows.chunks(REPLAY_BATCH).enumerate() {
        let mut body = String::new();
        for row in batch {
            let cells: Vec<String> = columns.iter().map(|&c| csv_cell(&row[c])).collect();
            body.push_str(&cells.join(","));
            body.push('\n');
        }
        let start = Instant::now();
        let response = server.invoke(batch_no, &body)?;
        latencies.push(start.elapsed().as_secs_f64() * 1e3);
        if response.status != 200 {
            errors += 1;
            continue;
        }
        let text = String::from_utf8_lossy(&response.body).into_owned();
        let inference_id = response
            .request_id
            .clone()
            .unwrap_or_else(|| format!("replay-{batch_no:06}"));
        capture.push_str(
            &serde_json::json!({
                "captureData": {
                    "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": body, "encoding": "CSV"},
                    "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": text, "encoding": "JSON"}
                },
                "eventMetadata": {"eventId": inference_id, "inferenceId": inference_id, "inferenceTime": "1970-01-01T00:00:00Z"},
                "eventVersion": "0"
            })
            .to_string(),
        );
        capture.push('\n');
        let Some(lc) = label_column else { continue };
        let parsed: Value =
            serde_json::from_str(&text).map_err(|e| RunError::Replay(e.to_string()))?;
        let predictions = parsed["predictions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (k, (row, p)) in batch.iter().zip(&predictions).enumerate() {
            let Some(class) = classes.iter().position(|c| *c == row[lc]) else {
                continue;
            };
            let probs: Vec<f64> = classes
                .iter()
                .map(|c| p["probabilities"][c].as_f64().unwrap_or(0.0))
                .collect();
            ground_truth.push_str(
                &serde_json::json!({
                    "groundTruthData": {"data": &classes[class], "encoding": "CSV"},
                    "eventMetadata": {"eventId": format!("{inference_id}/{k}")},
                    "eventVersion": "0"
                })
                .to_string(),
            );
            ground_truth.push('\n');
            feedback.push_str(
                &serde_json::json!({"inference_id": inference_id, "row": k, "label": &classes[class]})
                    .to_string(),
            );
            feedback.push('\n');
            y.push(class);
            probabilities.push(probs);
        }
    }
    crate::write_text(&layout.root().join("capture/replay.jsonl"), &capture)?;
    // The labels go back to the server too, which reports LiveMacroF1 (a
    // function has no feedback route: live quality is computed here alone).
    let mut server_macro_f1 = None;
    if !feedback.is_empty() && matches!(server.door, Door::Http(_) | Door::Gateway(_)) {
        let r = server
            .http()?
            .request(
                "POST",
                "/feedback",
                "application/jsonlines",
                feedback.as_bytes(),
            )
            .map_err(|e| RunError::Replay(e.to_string()))?;
        if r.status != 200 {
            return Err(RunError::Replay(format!("/feedback answered {}", r.status)));
        }
        let m = server
            .http()?
            .request("GET", "/metrics", "text/plain", b"")
            .map_err(|e| RunError::Replay(e.to_string()))?;
        server_macro_f1 = String::from_utf8_lossy(&m.body)
            .lines()
            .find(|l| l.starts_with("dxops_live_macro_f1{"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok());
    }
    if label_column.is_some() {
        crate::write_text(
            &layout.root().join("ground-truth/labels.jsonl"),
            &ground_truth,
        )?;
    }
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Replayed {
        summary: ReplaySummary {
            rows: table.rows.len(),
            requests: latencies.len(),
            errors,
            latency_p50_ms: percentile(&sorted, 0.5),
            latency_p99_ms: percentile(&sorted, 0.99),
            latency_max_ms: sorted.last().copied().unwrap_or(0.0),
            latencies_ms: latencies,
        },
        labelled: label_column.map(|_| Labelled {
            classes,
            y,
            probabilities,
            server_macro_f1,
        }),
    })
}

fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

fn live_quality(l: &Labelled, floor: Option<f64>) -> LiveQuality {
    let m = metrics::compute(&l.y, &l.probabilities, &l.classes);
    LiveQuality {
        rows: l.y.len(),
        macro_f1: m.macro_f1,
        worst_class_recall: m.worst_class_recall,
        worst_class: m.worst_class,
        floor,
        server_macro_f1: l.server_macro_f1,
    }
}

/// ROC per class (at most 64 points each) and a 10-bin reliability curve.
fn curves(l: &Labelled) -> Curves {
    let n = l.y.len();
    let roc = l
        .classes
        .iter()
        .enumerate()
        .map(|(c, class)| {
            let scores: Vec<f64> = l.probabilities.iter().map(|p| p[c]).collect();
            let positive: Vec<bool> = l.y.iter().map(|&y| y == c).collect();
            let pos = positive.iter().filter(|&&p| p).count();
            let neg = n - pos;
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            let mut points = vec![(0.0, 0.0)];
            let (mut tp, mut fp) = (0usize, 0usize);
            let step = (n / 64).max(1);
            for (k, &i) in order.iter().enumerate() {
                if positive[i] {
                    tp += 1;
                } else {
                    fp += 1;
                }
                let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
                if last_of_tie && (k % step == 0 || k + 1 == n) {
                    points.push((
                        if neg == 0 {
                            0.0
                        } else {
                            fp as f64 / neg as f64
                        },
                        if pos == 0 {
                            0.0
                        } else {
                            tp as f64 / pos as f64
                        },
                    ));
                }
            }
            points.push((1.0, 1.0));
            RocCurve {
                class: class.clone(),
                auc: metrics::auc(&scores, &positive),
                points,
            }
        })
        .collect();
    let mut bins = vec![(0.0, 0usize, 0usize); 10];
    let mut brier = 0.0;
    for (p, &y) in l.probabilities.iter().zip(&l.y) {
        let top = metrics::argmax(p);
        let b = ((p[top] * 10.0) as usize).min(9);
        bins[b].0 += p[top];
        bins[b].1 += usize::from(top == y);
        bins[b].2 += 1;
        brier += p
            .iter()
            .enumerate()
            .map(|(c, v)| (v - f64::from(u8::from(c == y))).powi(2))
            .sum::<f64>();
    }
    let calibration: Vec<CalibrationBin> = bins
        .into_iter()
        .filter(|b| b.2 > 0)
        .map(|(sum, right, rows)| CalibrationBin {
            confidence: sum / rows as f64,
            accuracy: right as f64 / rows as f64,
            rows,
        })
        .collect();
    let ece = calibration
        .iter()
        .map(|b| b.rows as f64 / n.max(1) as f64 * (b.confidence - b.accuracy).abs())
        .sum();
    Curves {
        roc,
        calibration,
        brier: if n == 0 { 0.0 } else { brier / n as f64 },
        ece,
    }
}
