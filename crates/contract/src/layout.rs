//! The SageMaker container layout: where a step finds its inputs and leaves
//! its outputs under one root (`/opt/ml` for training and serving,
//! `/opt/ml/processing` for processing jobs). The renderer writes these
//! paths into the pipeline definition; the image and `dxops run` read and
//! write them through [`Layout`], so all three agree by construction.

use std::path::{Path, PathBuf};

/// Default root of the training and serving contract.
pub const ML_ROOT: &str = "/opt/ml";
/// Default root of processing jobs (process, evaluate, monitor).
pub const PROCESSING_ROOT: &str = "/opt/ml/processing";

/// Set to `1` in the evaluation step's environment when the spec serves on
/// Lambda: the step then also writes [`paths::LAMBDA_PACKAGE_FILE`].
pub const ENV_LAMBDA_PACKAGE: &str = "DXOPS_LAMBDA_PACKAGE";
/// The endpoint the gateway function calls (set by the serving template
/// and by `dxops run`).
pub const ENV_GATEWAY_ENDPOINT: &str = "DXOPS_ENDPOINT_NAME";

/// Where the gateway function finds the de-identification key in hash
/// mode: `s3://<artifacts bucket>/<paths::DEID_KEY_OBJECT>`.
pub const ENV_DEID_KEY_OBJECT: &str = "DXOPS_DEID_KEY_OBJECT";

/// Relative locations, as the pipeline definition names them.
pub mod paths {
    /// Processing input: raw records (CSV, JSON, JSON lines) as ingest wrote
    /// them, in any sub-folder.
    pub const RAW_INPUT: &str = "input/raw";
    /// Sharded ETL output, and the processing step's raw input when the
    /// pipeline shards: one `part-<host>.csv` per ETL instance.
    pub const CURATED_OUTPUT: &str = "output/curated";
    /// Sharded ETL output: one `ingest-<host>.json` per instance (what it
    /// read, malformed records by file and line).
    pub const ETL_REPORT_OUTPUT: &str = "output/etl";
    /// Processing input, when the pipeline shards: the ETL reports.
    pub const ETL_REPORT_INPUT: &str = "input/etl";
    /// Where SageMaker tells a processing container which host it is
    /// (`current_host`, e.g. `algo-2`, among `hosts`).
    pub const RESOURCE_CONFIG: &str = "/opt/ml/config/resourceconfig.json";
    /// Processing input in hash mode: the de-identification key, one
    /// object (`DEID_KEY_FILE`) that `dxops deploy` writes once to the
    /// artifacts bucket at `DEID_KEY_OBJECT` and never replaces, so that
    /// pseudonyms stay linkable across runs and match the gateway's.
    pub const DEID_KEY_INPUT: &str = "input/deid";
    pub const DEID_KEY_FILE: &str = "deid-key";
    pub const DEID_KEY_OBJECT: &str = "secrets/deid-key";
    /// Processing input: the rendered `process.json`.
    pub const CONFIG_INPUT: &str = "input/config";
    /// File name of the processing configuration.
    pub const CONFIG_FILE: &str = "process.json";
    /// File name of the training step's hyperparameters, under `input/config`.
    pub const HYPERPARAMETERS_FILE: &str = "hyperparameters.json";
    /// Training channels live under this folder, one sub-folder each.
    pub const CHANNELS: &str = "input/data";
    /// Processing outputs, one folder per split, each holding `data.csv`.
    pub const SPLIT_OUTPUTS: [&str; 3] = ["output/train", "output/validation", "output/test"];
    /// Processing output: the data-quality report `quality.json`.
    pub const QUALITY_OUTPUT: &str = "output/quality";
    /// File name of the data-quality report.
    pub const QUALITY_FILE: &str = "quality.json";
    /// Evaluation input and training output: the model.
    pub const MODEL: &str = "model";
    /// Evaluation input: the production model to compare against.
    pub const PRODUCTION_MODEL: &str = "production";
    /// Evaluation input: the test split.
    pub const TEST_INPUT: &str = "input/test";
    /// Evaluation output: `evaluation.json`, read by the pipeline's condition step.
    pub const EVALUATION_OUTPUT: &str = "evaluation";
    /// File name of the evaluation report.
    pub const EVALUATION_FILE: &str = "evaluation.json";
    /// Evaluation output when the model serves on Lambda: the function's
    /// code (the image's binary as `bootstrap`, the evaluated model under
    /// `model/`), which the promotion deploys once a person approves.
    pub const LAMBDA_PACKAGE_FILE: &str = "lambda.zip";
    /// Where a failed step leaves its reason.
    pub const FAILURE_FILE: &str = "output/failure";
    /// Training channels.
    pub const TRAIN_CHANNEL: &str = "train";
    pub const VALIDATION_CHANNEL: &str = "validation";
    /// Optional training channel holding an earlier `model.tar.gz` to warm-start from.
    pub const WARM_START_CHANNEL: &str = "warm_start";
    /// The object the retraining state machine writes, and passes as the
    /// `warm_start` channel, when the transfer source has no approved model
    /// yet: a channel holding only this file means "train from scratch".
    pub const NO_SOURCE_MARKER: &str = "no-source-model.txt";
    /// Live-quality job inputs: the endpoint's data capture and the
    /// confirmed labels (ground truth), and its output folder and report.
    pub const CAPTURE_INPUT: &str = "input/capture";
    pub const GROUND_TRUTH_INPUT: &str = "input/ground-truth";
    pub const LIVE_QUALITY_OUTPUT: &str = "output/live-quality";
    pub const LIVE_QUALITY_FILE: &str = "live_quality.json";
    /// Its key in the artifacts bucket.
    pub const NO_SOURCE_MARKER_KEY: &str = "transfer/no-source-model.txt";
    /// Deploy-bucket prefix of the gateway function's packages
    /// (`gateway/<sha256>.zip`), which `dxops gateway push` writes and the
    /// serving template's `GatewayCodeKey` names.
    pub const GATEWAY_PACKAGE_PREFIX: &str = "gateway/";
}

/// The three splits the processing step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitName {
    Train,
    Validation,
    Test,
}

impl SplitName {
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Validation, SplitName::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Validation => "validation",
            SplitName::Test => "test",
        }
    }
}

/// One step's view of the container file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Raw records the processing step reads.
    pub fn raw_input(&self) -> PathBuf {
        self.root.join(paths::RAW_INPUT)
    }

    /// One ETL instance's curated records.
    pub fn curated_part(&self, host: &str) -> PathBuf {
        self.root
            .join(paths::CURATED_OUTPUT)
            .join(format!("part-{host}.csv"))
    }

    /// One ETL instance's report.
    pub fn etl_report(&self, host: &str) -> PathBuf {
        self.root
            .join(paths::ETL_REPORT_OUTPUT)
            .join(format!("ingest-{host}.json"))
    }

    /// The ETL reports the processing step merges, when the pipeline shards.
    pub fn etl_report_input(&self) -> PathBuf {
        self.root.join(paths::ETL_REPORT_INPUT)
    }

    /// The de-identification key the processing step reads in hash mode.
    pub fn deid_key(&self) -> PathBuf {
        self.root
            .join(paths::DEID_KEY_INPUT)
            .join(paths::DEID_KEY_FILE)
    }

    /// The data contract (`process.json`).
    pub fn process_config(&self) -> PathBuf {
        self.root.join(paths::CONFIG_INPUT).join(paths::CONFIG_FILE)
    }

    /// The training step's hyperparameters (string values).
    pub fn hyperparameters(&self) -> PathBuf {
        self.root
            .join(paths::CONFIG_INPUT)
            .join(paths::HYPERPARAMETERS_FILE)
    }

    /// A training channel's folder.
    pub fn channel(&self, name: &str) -> PathBuf {
        self.root.join(paths::CHANNELS).join(name)
    }

    /// Where the processing step writes one split.
    pub fn split_output(&self, split: SplitName) -> PathBuf {
        self.root.join("output").join(split.as_str())
    }

    /// The data-quality report of the processing step.
    pub fn quality_report(&self) -> PathBuf {
        self.root
            .join(paths::QUALITY_OUTPUT)
            .join(paths::QUALITY_FILE)
    }

    /// What the ETL read: files, records, and malformed records by file and line.
    pub fn ingest_report(&self) -> PathBuf {
        self.root.join(paths::QUALITY_OUTPUT).join("ingest.json")
    }

    /// The model folder: training's output, evaluation's and serving's input.
    pub fn model_dir(&self) -> PathBuf {
        self.root.join(paths::MODEL)
    }

    /// The production model the evaluation compares against, when present.
    pub fn production_model(&self) -> PathBuf {
        self.root.join(paths::PRODUCTION_MODEL)
    }

    /// The test split the evaluation step reads.
    pub fn test_input(&self) -> PathBuf {
        self.root.join(paths::TEST_INPUT)
    }

    /// `evaluation.json`, read by the pipeline's condition step.
    pub fn evaluation_report(&self) -> PathBuf {
        self.root
            .join(paths::EVALUATION_OUTPUT)
            .join(paths::EVALUATION_FILE)
    }

    /// The Lambda package the evaluation step writes beside its report.
    pub fn lambda_package(&self) -> PathBuf {
        self.root
            .join(paths::EVALUATION_OUTPUT)
            .join(paths::LAMBDA_PACKAGE_FILE)
    }

    /// The drift report of the batch monitor.
    pub fn monitor_report(&self) -> PathBuf {
        self.root.join("output").join("monitor.json")
    }

    /// The live-quality report of the ground-truth join.
    pub fn live_quality_report(&self) -> PathBuf {
        self.root
            .join(paths::LIVE_QUALITY_OUTPUT)
            .join(paths::LIVE_QUALITY_FILE)
    }

    /// Where a failed step leaves its reason for SageMaker.
    pub fn failure(&self) -> PathBuf {
        self.root.join(paths::FAILURE_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_sagemaker_ones() {
        let l = Layout::new(PROCESSING_ROOT);
        assert_eq!(
            l.process_config(),
            Path::new("/opt/ml/processing/input/config/process.json")
        );
        assert_eq!(
            l.split_output(SplitName::Test),
            Path::new("/opt/ml/processing/output/test")
        );
        assert_eq!(
            l.evaluation_report(),
            Path::new("/opt/ml/processing/evaluation/evaluation.json")
        );
        let t = Layout::new(ML_ROOT);
        assert_eq!(
            t.channel(paths::WARM_START_CHANNEL),
            Path::new("/opt/ml/input/data/warm_start")
        );
        for (split, dir) in SplitName::ALL.iter().zip(paths::SPLIT_OUTPUTS) {
            assert_eq!(t.split_output(*split), t.root().join(dir));
        }
    }
}
