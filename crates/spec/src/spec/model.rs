//! The pipeline spec as users write it.
//!
//! Every struct rejects unknown fields; the JSON Schema (`dxops schema`) is
//! derived from these types, so editors, `validate` and the deserializer
//! agree on one definition. Defaults are the secure, HIPAA-oriented choice:
//! a spec only ever has to say what differs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use dxops_contract::data::{
    Algorithm, Feature, IdentifierHandling, ImbalanceMethod, QualityRule, Split,
};
pub use dxops_contract::drift::DriftMethod;

/// A dxops pipeline: ingest → quality → training → gates → registry → serving → monitoring → retraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dxops pipeline spec")]
pub struct Spec {
    /// Spec format version. Only `1` exists.
    pub version: u32,
    /// Pipeline name: lowercase letters, digits and hyphens. Prefixes every AWS resource name.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]*$"), length(min = 1, max = 40))]
    pub name: String,
    /// AWS region, e.g. `eu-west-1`. An environment may override it.
    #[schemars(regex(pattern = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"))]
    pub region: String,
    /// Deployment environments (`staging`, `prod`, ...). Each may override any
    /// key of this spec (except `version`, `name` and `environments`) with a
    /// partial mapping of the same shape.
    #[schemars(length(min = 1, max = 32))]
    pub environments: BTreeMap<String, EnvironmentOverrides>,
    /// Tags applied to every resource that supports them: AWS's characters,
    /// and at most 47, as dxops adds three of its own to AWS's 50.
    #[serde(default)]
    #[schemars(length(max = 47))]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub compliance: Compliance,
    #[serde(default)]
    pub ingest: Ingest,
    pub data: Data,
    #[serde(default)]
    pub training: Training,
    #[serde(default)]
    pub gates: Gates,
    #[serde(default)]
    pub registry: Registry,
    #[serde(default)]
    pub serving: Serving,
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default)]
    pub retraining: Retraining,
}

/// A partial spec, deep-merged over the base for one environment. Its keys
/// are checked against the spec's own keys.
pub type EnvironmentOverrides = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compliance {
    /// The regulatory framework the audit maps controls to.
    #[serde(default)]
    pub framework: Framework,
    /// Days CloudWatch log groups keep their events (HIPAA documentation: six years = 2192).
    #[serde(default = "default_log_retention")]
    #[schemars(range(min = 1))]
    pub log_retention_days: u32,
    /// Value of the `data-classification` tag on every resource.
    #[serde(default = "default_classification")]
    pub data_classification: String,
    /// Region that holds encrypted replicas of every bucket (contingency plan,
    /// 164.308(a)(7)); its stack (`recovery.yaml`) deploys there first.
    /// Without it, `s3-replication` fails unless waived.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"))]
    pub recovery_region: Option<String>,
    /// Days objects in the data buckets are locked against deletion (S3 Object Lock, governance mode).
    #[serde(default = "default_object_lock_days")]
    #[schemars(range(min = 1, max = 36500))]
    pub object_lock_days: u32,
    /// Justified exceptions to audit controls.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub waivers: Vec<Waiver>,
}

impl Default for Compliance {
    fn default() -> Self {
        Compliance {
            framework: Framework::Hipaa,
            log_retention_days: default_log_retention(),
            data_classification: default_classification(),
            recovery_region: None,
            object_lock_days: default_object_lock_days(),
            waivers: Vec::new(),
        }
    }
}

fn default_log_retention() -> u32 {
    2192
}

fn default_object_lock_days() -> u32 {
    30
}

fn default_classification() -> String {
    "phi".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    #[default]
    Hipaa,
}

pub use crate::audit::Waiver;

/// How clinical records arrive in the raw S3 bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ingest {
    /// HTTPS API (API Gateway → Lambda → S3). `null` disables it.
    #[serde(default = "default_api")]
    pub api: Option<ApiIngest>,
    /// IoT Core topic rule writing device messages to S3. Off unless set.
    #[serde(default)]
    pub iot: Option<IotIngest>,
}

impl Default for Ingest {
    fn default() -> Self {
        Ingest {
            api: default_api(),
            iot: None,
        }
    }
}

fn default_api() -> Option<ApiIngest> {
    Some(ApiIngest::default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiIngest {
    /// Caller authentication. Only IAM (SigV4) is offered: HIPAA 164.312(d).
    #[serde(default)]
    pub auth: ApiAuth,
    /// Steady-state request rate limit per second.
    #[serde(default = "default_throttle")]
    #[schemars(range(min = 1, max = 10000))]
    pub throttle_rps: u32,
}

impl Default for ApiIngest {
    fn default() -> Self {
        ApiIngest {
            auth: ApiAuth::Iam,
            throttle_rps: default_throttle(),
        }
    }
}

fn default_throttle() -> u32 {
    50
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApiAuth {
    #[default]
    Iam,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IotIngest {
    /// MQTT topic filter, e.g. `devices/+/vitals`.
    #[schemars(length(min = 1, max = 256))]
    pub topic: String,
}

/// The clinical data: what to predict, from what, and what must hold of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Column holding the diagnosis.
    pub label: String,
    /// Direct identifiers (names, record numbers, ZIP codes): never reach the model.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub identifiers: Vec<String>,
    /// Drop identifier columns, or replace them with a keyed hash.
    #[serde(default)]
    pub identifier_handling: IdentifierHandling,
    /// The model's input columns.
    #[schemars(length(min = 1, max = 1000))]
    pub features: Vec<Feature>,
    /// Data-quality rules (Glue Data Quality in AWS, `dxops-model process` locally).
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub quality: Vec<QualityRule>,
    /// Classes with at most this many samples are reported as rare (orphan) diseases.
    #[serde(default = "default_rare")]
    pub rare_class_max_samples: u32,
    /// Stratified hold-out shares for validation and test.
    #[serde(default)]
    pub split: Split,
    /// How many processing instances read the ingested records.
    #[serde(default, skip_serializing_if = "Etl::is_default")]
    pub etl: Etl,
}

fn default_rare() -> u32 {
    50
}

/// Reading the ingested records. With one instance the processing step
/// reads them itself; with more, an ETL step first spreads the objects over
/// that many instances (SageMaker's `ShardedByS3Key`), each keeping the
/// contract's columns, and the processing step then checks quality,
/// de-identifies and splits all records at once: uniqueness and a
/// stratified split of rare classes need every record in one place, and a
/// table of contract columns is small beside the many small objects ingest
/// writes. The result is the same table, split and model as with one
/// instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Etl {
    /// Processing instances of the ETL step (1: no separate step).
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 100))]
    pub instance_count: u32,
}

impl Default for Etl {
    fn default() -> Self {
        Etl { instance_count: 1 }
    }
}

impl Etl {
    fn is_default(&self) -> bool {
        *self == Etl::default()
    }

    /// Whether the pipeline has a separate, sharded ETL step.
    pub fn sharded(&self) -> bool {
        self.instance_count > 1
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Training {
    #[serde(default)]
    pub algorithm: Algorithm,
    #[serde(default)]
    pub imbalance: Imbalance,
    /// Warm start from an earlier model, for classes with few samples.
    #[serde(default)]
    pub transfer: Option<Transfer>,
    #[serde(default)]
    pub validation: Validation,
    /// SageMaker training instance type.
    #[serde(default = "default_training_instance")]
    #[schemars(regex(pattern = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"))]
    pub instance_type: String,
    /// Hard limit on one training job.
    #[serde(default = "default_max_runtime")]
    #[schemars(range(min = 1, max = 2880))]
    pub max_runtime_minutes: u32,
    /// EventBridge schedule of retraining: `rate(7 days)` or `cron(0 3 ? * MON *)`.
    #[serde(default = "default_training_schedule")]
    pub schedule: String,
    /// Further model hyperparameters, passed to `dxops-model train` as strings.
    #[serde(default)]
    pub hyperparameters: BTreeMap<String, String>,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            algorithm: Algorithm::default(),
            imbalance: Imbalance::default(),
            transfer: None,
            validation: Validation::default(),
            instance_type: default_training_instance(),
            max_runtime_minutes: default_max_runtime(),
            schedule: default_training_schedule(),
            hyperparameters: BTreeMap::new(),
        }
    }
}

fn default_training_instance() -> String {
    "ml.m5.xlarge".into()
}
fn default_max_runtime() -> u32 {
    120
}
fn default_training_schedule() -> String {
    "rate(7 days)".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Imbalance {
    #[serde(default)]
    pub method: ImbalanceMethod,
    /// Neighbours SMOTE interpolates between.
    #[serde(default = "default_k")]
    #[schemars(range(min = 1, max = 50))]
    pub k_neighbors: u32,
    /// Focal-loss focusing parameter.
    #[serde(default = "default_gamma")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub gamma: f64,
}

impl Default for Imbalance {
    fn default() -> Self {
        Imbalance {
            method: ImbalanceMethod::default(),
            k_neighbors: default_k(),
            gamma: default_gamma(),
        }
    }
}

fn default_k() -> u32 {
    5
}
fn default_gamma() -> f64 {
    2.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// Source model: `registry:<model package group>/latest` (the newest approved package).
    #[schemars(regex(pattern = r"^registry:[a-zA-Z0-9](-*[a-zA-Z0-9])*/latest$"))]
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// Cross-validation folds.
    #[serde(default = "default_folds")]
    #[schemars(range(min = 2, max = 20))]
    pub folds: u32,
    /// Keep class shares equal across folds (needed for rare classes).
    #[serde(default = "default_true")]
    pub stratified: bool,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            folds: default_folds(),
            stratified: true,
            seed: default_seed(),
        }
    }
}

fn default_folds() -> u32 {
    5
}
fn default_true() -> bool {
    true
}
fn default_seed() -> u64 {
    42
}

pub use dxops_contract::gates::{DropGate, Gates, MinGate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// `manual`: a person approves each model package (`dxops approve`).
    #[serde(default)]
    pub approval: Approval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    #[default]
    Manual,
    Automatic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Serving {
    #[serde(default)]
    pub target: ServingTarget,
    /// Endpoint instance type (target `endpoint`).
    #[serde(default = "default_serving_instance")]
    #[schemars(regex(pattern = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"))]
    pub instance_type: String,
    /// Endpoint instances (target `endpoint`); two or more spread over zones.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 100))]
    pub instance_count: u32,
    /// Memory and concurrency (target `serverless`).
    #[serde(default)]
    pub serverless: ServerlessConfig,
    /// Memory, timeout and concurrency of the function (target `lambda`).
    #[serde(default)]
    pub lambda: LambdaConfig,
    /// The Lambda function between the API and the endpoint (targets
    /// `endpoint` and `serverless`; on unless `enabled: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayConfig>,
    #[serde(default)]
    pub rollout: Rollout,
    #[serde(default)]
    pub data_capture: DataCapture,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            target: ServingTarget::default(),
            instance_type: default_serving_instance(),
            instance_count: 1,
            serverless: ServerlessConfig::default(),
            lambda: LambdaConfig::default(),
            gateway: None,
            rollout: Rollout::default(),
            data_capture: DataCapture::default(),
        }
    }
}

impl Serving {
    /// Whether requests pass the gateway function before the endpoint: on
    /// by default, since without it the API hands the endpoint (and its data
    /// capture) whatever a client sends, identifiers included. The `lambda`
    /// target's function reads requests itself.
    pub fn gateway_enabled(&self) -> bool {
        self.target != ServingTarget::Lambda && self.gateway.as_ref().is_none_or(|g| g.enabled)
    }

    /// The gateway's settings, defaults where the spec names none.
    pub fn gateway_config(&self) -> GatewayConfig {
        self.gateway.clone().unwrap_or_default()
    }
}

fn default_serving_instance() -> String {
    "ml.c6i.large".into()
}
fn default_one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServingTarget {
    /// A real-time SageMaker endpoint on dedicated instances.
    #[default]
    Endpoint,
    /// A SageMaker serverless endpoint (no canary rollout, no data capture).
    Serverless,
    /// `dxops-model` as an AWS Lambda function (`provided.al2023`), its
    /// versions shifted by CodeDeploy as `rollout` says (no data capture).
    Lambda,
}

/// The serving function (target `lambda`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LambdaConfig {
    #[serde(default = "default_lambda_memory")]
    #[schemars(range(min = 128, max = 10240))]
    pub memory_mb: u32,
    /// Longest invocation, in seconds.
    #[serde(default = "default_lambda_timeout")]
    #[schemars(range(min = 1, max = 900))]
    pub timeout_seconds: u32,
    /// Most environments at once; the function never takes more of the
    /// account's concurrency.
    #[serde(default = "default_lambda_reserved")]
    #[schemars(range(min = 1, max = 1000))]
    pub reserved_concurrency: u32,
    /// Environments kept initialised on the live alias (0: none, every
    /// scale-out is a cold start).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000))]
    pub provisioned_concurrency: u32,
}

impl Default for LambdaConfig {
    fn default() -> Self {
        LambdaConfig {
            memory_mb: default_lambda_memory(),
            timeout_seconds: default_lambda_timeout(),
            reserved_concurrency: default_lambda_reserved(),
            provisioned_concurrency: 0,
        }
    }
}

fn default_lambda_memory() -> u32 {
    1024
}
fn default_lambda_timeout() -> u32 {
    30
}
fn default_lambda_reserved() -> u32 {
    50
}

/// The gateway function (`dxops-gateway`): it checks each request against
/// the data contract (a 4xx naming the row and field, never a value), drops
/// or hashes the identifiers `data.identifiers` lists, calls the endpoint,
/// and answers with the predictions and the inference id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// `false`: API Gateway calls the endpoint directly.
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_gateway_memory")]
    #[schemars(range(min = 128, max = 10240))]
    pub memory_mb: u32,
    /// Longest request, in seconds (API Gateway gives up after 29).
    #[serde(default = "default_gateway_timeout")]
    #[schemars(range(min = 1, max = 29))]
    pub timeout_seconds: u32,
    /// Most environments at once.
    #[serde(default = "default_lambda_reserved")]
    #[schemars(range(min = 1, max = 1000))]
    pub reserved_concurrency: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            enabled: true,
            memory_mb: default_gateway_memory(),
            timeout_seconds: default_gateway_timeout(),
            reserved_concurrency: default_lambda_reserved(),
        }
    }
}

fn default_gateway_memory() -> u32 {
    256
}
fn default_gateway_timeout() -> u32 {
    15
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerlessConfig {
    #[serde(default = "default_memory")]
    #[schemars(range(min = 1024, max = 6144))]
    pub memory_mb: u32,
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 200))]
    pub max_concurrency: u32,
}

impl Default for ServerlessConfig {
    fn default() -> Self {
        ServerlessConfig {
            memory_mb: default_memory(),
            max_concurrency: default_concurrency(),
        }
    }
}

fn default_memory() -> u32 {
    2048
}
fn default_concurrency() -> u32 {
    5
}

/// How a new model takes traffic: SageMaker deployment guardrails, rolled back on alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    #[serde(default)]
    pub strategy: RolloutStrategy,
    /// Share of capacity the canary gets (strategy `canary`).
    #[serde(default = "default_canary")]
    #[schemars(range(min = 1, max = 50))]
    pub canary_percent: u32,
    /// Share of capacity moved per step (strategy `linear`).
    #[serde(default = "default_linear_step")]
    #[schemars(range(min = 5, max = 50))]
    pub linear_step_percent: u32,
    /// Minutes each step waits, watching alarms, before going on.
    #[serde(default = "default_bake")]
    #[schemars(range(min = 0, max = 60))]
    pub bake_minutes: u32,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            strategy: RolloutStrategy::default(),
            canary_percent: default_canary(),
            linear_step_percent: default_linear_step(),
            bake_minutes: default_bake(),
        }
    }
}

fn default_canary() -> u32 {
    10
}
fn default_linear_step() -> u32 {
    20
}
fn default_bake() -> u32 {
    10
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStrategy {
    #[default]
    Canary,
    Linear,
    AllAtOnce,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataCapture {
    /// Share of requests captured (encrypted) for drift and quality monitoring; 0 turns capture off.
    #[serde(default = "default_capture")]
    #[schemars(range(min = 0, max = 100))]
    pub percent: u32,
}

impl Default for DataCapture {
    fn default() -> Self {
        DataCapture {
            percent: default_capture(),
        }
    }
}

fn default_capture() -> u32 {
    100
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Alarm when p99 model latency exceeds this many milliseconds.
    #[serde(default = "default_latency")]
    #[schemars(range(min = 1))]
    pub latency_p99_ms: u32,
    #[serde(default)]
    pub drift: Drift,
    #[serde(default)]
    pub quality: QualityFloor,
    #[serde(default)]
    pub alarms: Alarms,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            latency_p99_ms: default_latency(),
            drift: Drift::default(),
            quality: QualityFloor::default(),
            alarms: Alarms::default(),
        }
    }
}

fn default_latency() -> u32 {
    200
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// Statistic per feature. `auto`: KS or chi-squared for reference sets up
    /// to 1,000 rows, Wasserstein or Jensen-Shannon above.
    #[serde(default)]
    pub method: DriftMethod,
    /// Alarm threshold of the statistic (default per method; PSI 0.1).
    #[serde(default)]
    pub threshold: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct QualityFloor {
    /// Alarm when live macro-F1 (from ground truth fed back) falls below this, in [0, 1].
    #[serde(default)]
    pub min_macro_f1: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Alarms {
    /// Addresses subscribed to the alarm topic.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub email: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retraining {
    /// What starts a retraining run.
    #[serde(default = "default_triggers")]
    pub on: Vec<Trigger>,
    /// What happens to a model that passed the gates.
    #[serde(default)]
    pub deploy: DeployPolicy,
}

impl Default for Retraining {
    fn default() -> Self {
        Retraining {
            on: default_triggers(),
            deploy: DeployPolicy::default(),
        }
    }
}

fn default_triggers() -> Vec<Trigger> {
    vec![Trigger::Schedule, Trigger::Drift]
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `training.schedule`.
    Schedule,
    /// The drift alarm.
    Drift,
    /// The live quality alarm.
    Quality,
    /// New objects in the raw bucket.
    NewData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeployPolicy {
    /// Registered as pending; deployed once approved.
    #[default]
    AfterApproval,
    /// Registered and left for a separate deploy.
    Never,
}
