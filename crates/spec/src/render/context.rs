//! The typed values templates see. Everything a template needs is computed
//! here, so templates hold shape, not logic.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::RenderError;
use super::escape::{dqdl_string, iot_sql, sub_literal};
use crate::spec::Environment;
use crate::spec::model::{
    Approval, DeployPolicy, DriftMethod, RolloutStrategy, ServingTarget, Spec, Trigger,
};
use crate::spec::names::Names;
use dxops_contract::data::{
    DataContract, Feature, FeatureType, IdentifierHandling, QualityRule, QualityRuleKind,
};
use dxops_contract::layout::paths;

/// The processing step's configuration (`process.json`).
pub fn data_contract(spec: &Spec) -> DataContract {
    let d = &spec.data;
    DataContract {
        label: d.label.clone(),
        identifiers: d.identifiers.clone(),
        identifier_handling: d.identifier_handling,
        features: d.features.clone(),
        quality: d.quality.clone(),
        rare_class_max_samples: d.rare_class_max_samples,
        split: d.split,
    }
}

/// The CloudFormation stack name of a template file.
pub fn stack_name(env: &Environment, file: &str) -> String {
    format!("{}-{}", env.names.prefix, file.trim_end_matches(".yaml"))
}

/// The rule a feature's declaration implies, where DQDL can state it: a
/// numeric feature's plausible range, a categorical feature's values.
fn declared_rule(f: &Feature) -> Option<QualityRule> {
    let rule = |rule, values| QualityRule {
        rule,
        column: Some(f.name.clone()),
        min: f.min,
        max: f.max,
        values,
    };
    match f.kind {
        FeatureType::Numeric if f.min.is_some() || f.max.is_some() => {
            Some(rule(QualityRuleKind::Range, None))
        }
        FeatureType::Categorical if f.values.is_some() => {
            Some(rule(QualityRuleKind::AllowedValues, f.values.clone()))
        }
        _ => None,
    }
}

/// A spec value in a DQDL string literal.
fn dqdl(value: &str) -> Result<String, RenderError> {
    dqdl_string(value).ok_or(RenderError::Unquotable {
        what: "a quality rule's column or value",
        destination: "a DQDL string",
    })
}

/// One DQDL rule per quality rule (Glue Data Quality Definition Language).
fn dqdl_rule(rule: &QualityRule) -> Result<String, RenderError> {
    let column = dqdl(rule.column.as_deref().unwrap_or_default())?;
    let bounds = |subject: &str| match (rule.min, rule.max) {
        (Some(lo), Some(hi)) => format!("({subject} >= {lo}) and ({subject} <= {hi})"),
        (Some(lo), None) => format!("{subject} >= {lo}"),
        (None, Some(hi)) => format!("{subject} <= {hi}"),
        (None, None) => unreachable!("validation requires a bound"),
    };
    Ok(match rule.rule {
        QualityRuleKind::Completeness => {
            format!("Completeness {column} >= {}", rule.min.unwrap_or(1.0))
        }
        QualityRuleKind::Uniqueness => format!("IsUnique {column}"),
        QualityRuleKind::Range => bounds(&format!("ColumnValues {column}")),
        QualityRuleKind::AllowedValues => {
            let values: Vec<String> = rule
                .values
                .iter()
                .flatten()
                .map(|v| dqdl(v))
                .collect::<Result<_, _>>()?;
            format!("ColumnValues {column} in [{}]", values.join(", "))
        }
        QualityRuleKind::RowCount => bounds("RowCount"),
    })
}

/// The drift threshold the server applies: the spec's, else Evidently's
/// default for the named statistic. `auto` picks a statistic per feature, so
/// it has no single threshold unless the spec sets one.
fn drift_threshold(method: DriftMethod, explicit: Option<f64>) -> Option<f64> {
    explicit.or((method != DriftMethod::Auto).then(|| method.default_threshold()))
}

/// The whole template context of one environment.
pub fn build(env: &Environment) -> Result<Map<String, Value>, RenderError> {
    let spec = &env.spec;
    let names = &env.names;
    let mut tags: BTreeMap<String, String> = spec.tags.clone();
    tags.insert(
        "data-classification".into(),
        spec.compliance.data_classification.clone(),
    );
    tags.insert("dxops:pipeline".into(), spec.name.clone());
    tags.insert("dxops:environment".into(), env.env.clone());
    let tag_list: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();

    // The label must be present in every row, whatever the spec's own rules
    // say, and every feature within what its declaration allows, as the
    // processing step checks.
    let dqdl_rules: Vec<String> =
        std::iter::once(Ok(format!("IsComplete {}", dqdl(&spec.data.label)?)))
            .chain(spec.data.quality.iter().map(dqdl_rule))
            .chain(
                spec.data
                    .features
                    .iter()
                    .filter_map(declared_rule)
                    .map(|r| dqdl_rule(&r)),
            )
            .collect::<Result<_, _>>()?;
    let iot_sql = match &spec.ingest.iot {
        Some(iot) => iot_sql(&iot.topic).ok_or(RenderError::Unquotable {
            what: "the IoT topic filter",
            destination: "an IoT SQL statement",
        })?,
        None => String::new(),
    };
    // `pipeline.json` is the body of an `Fn::Sub`: what the spec says is literal there.
    let hyperparameters: BTreeMap<&String, String> = env
        .hyperparameters
        .iter()
        .map(|(k, v)| (k, sub_literal(v)))
        .collect();
    let dqdl_ruleset = format!("Rules = [\n    {}\n]", dqdl_rules.join(",\n    "));
    let triggers: Vec<&str> = spec
        .retraining
        .on
        .iter()
        .map(|t| match t {
            Trigger::Schedule => "schedule",
            Trigger::Drift => "drift",
            Trigger::Quality => "quality",
            Trigger::NewData => "new_data",
        })
        .collect();
    let roles: Map<String, Value> = names
        .roles
        .iter()
        .map(|(job, role)| (job.clone(), Value::String(role.clone())))
        .collect();
    let s = &spec.serving;
    let capture = s.target == ServingTarget::Endpoint && s.data_capture.percent > 0;

    let lambda = s.target == ServingTarget::Lambda;
    let dashboard = if lambda {
        lambda_dashboard(
            &names.serving_function,
            &names.serving_alias,
            &names.endpoint,
            spec.monitoring.latency_p99_ms,
        )
    } else {
        dashboard(&names.endpoint, spec.monitoring.latency_p99_ms)
    };
    // The Glue table over the ingested records: the data contract's columns
    // (identifiers, label, features), as JSON objects under `incoming/`.
    let mut columns: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let column = |name: &str, kind: &str| json!({"Name": name.to_ascii_lowercase(), "Type": kind});
    for id in &spec.data.identifiers {
        if seen.insert(id.to_ascii_lowercase()) {
            columns.push(column(id, "string"));
        }
    }
    if seen.insert(spec.data.label.to_ascii_lowercase()) {
        columns.push(column(&spec.data.label, "string"));
    }
    for f in &spec.data.features {
        let kind = match f.kind {
            FeatureType::Numeric => "double",
            // 0/1 or true/false as the records hold them; categories as text.
            FeatureType::Boolean | FeatureType::Categorical => "string",
        };
        if seen.insert(f.name.to_ascii_lowercase()) {
            columns.push(column(&f.name, kind));
        }
    }
    // The warm-start source: the group's newest approved package, looked up
    // by the retraining state machine; the marker stands in when there is none.
    let transfer = spec.training.transfer.as_ref().map(|t| {
        let group = t
            .from
            .trim_start_matches("registry:")
            .trim_end_matches("/latest");
        json!({
            "group": group,
            "source_bucket": Names::artifacts_bucket_of_group(group),
            "marker_key": paths::NO_SOURCE_MARKER_KEY,
        })
    });
    // The scheduled ground-truth join, where there is a capture to join to
    // and a quality floor whose alarm watches the result.
    let live_quality = (capture && spec.monitoring.quality.min_macro_f1.is_some()).then(|| {
        json!({
            "capture_prefix": names.capture_prefix,
            "ground_truth_prefix": names.ground_truth_prefix,
            "report_prefix": names.live_quality_prefix,
            "job_prefix": names.live_quality_job,
            "instance_type": spec.training.instance_type,
            "paths": {
                "capture": paths::CAPTURE_INPUT,
                "ground_truth": paths::GROUND_TRUTH_INPUT,
                "model": paths::MODEL,
                "report_dir": paths::LIVE_QUALITY_OUTPUT,
                "report_file": paths::LIVE_QUALITY_FILE,
                "report": format!("{}/{}", paths::LIVE_QUALITY_OUTPUT, paths::LIVE_QUALITY_FILE),
            },
        })
    });
    let value = json!({
        "dashboard": dashboard,
        "replica_arn": spec.compliance.recovery_region.as_ref().map(|_| format!("arn:${{AWS::Partition}}:s3:::{}-${{AWS::AccountId}}", names.bucket_replica)).unwrap_or_default(),
        "replica_key_arns": spec.compliance.recovery_region.as_ref().map(|r| format!("arn:${{AWS::Partition}}:kms:{r}:${{AWS::AccountId}}:key/*")).unwrap_or_default(),
        "replica_alias": format!("alias/{}-replica", names.prefix),
        "replica_key": spec.compliance.recovery_region.as_ref().map(|r| format!("arn:${{AWS::Partition}}:kms:{r}:${{AWS::AccountId}}:alias/{}-replica", names.prefix)).unwrap_or_default(),
        "name": spec.name,
        "env": env.env,
        "region": spec.region,
        "names": names,
        "roles": roles,
        "stacks": {
            "data": stack_name(env, "data.yaml"),
            "ingest": stack_name(env, "ingest.yaml"),
            "ml": stack_name(env, "ml.yaml"),
            "serving": stack_name(env, "serving.yaml"),
        },
        "tags": tag_list,
        "spec": spec,
        "log_retention_days": spec.compliance.log_retention_days,
        "dqdl_ruleset": dqdl_ruleset,
        "hyperparameters": hyperparameters,
        "iot_sql": iot_sql,
        "gates": spec.gates.conditions(),
        // A sharded ETL step before Process, when more than one instance reads.
        "etl_instances": spec.data.etl.sharded().then_some(spec.data.etl.instance_count),
        "approval_status": match spec.registry.approval {
            Approval::Manual => "PendingManualApproval",
            Approval::Automatic => "Approved",
        },
        "serverless": s.target == ServingTarget::Serverless,
        "lambda": lambda,
        // In hash mode, the key's object in the artifacts bucket: the
        // processing step mounts it, the gateway reads it at cold start.
        "deid_key_object": (spec.data.identifier_handling == IdentifierHandling::Hash)
            .then_some(dxops_contract::layout::paths::DEID_KEY_OBJECT),
        // The gateway function in front of the endpoint.
        "gateway": s.gateway_enabled().then(|| {
            let g = s.gateway_config();
            json!({
                "memory_mb": g.memory_mb,
                "timeout_seconds": g.timeout_seconds,
                "reserved_concurrency": g.reserved_concurrency,
            })
        }),
        // CodeDeploy waits whole minutes between shifts, at least one.
        "lambda_interval_minutes": s.rollout.bake_minutes.max(1),
        // The evaluation step writes the function's code beside its report;
        // the promotion deploys it once a person approves the package.
        "lambda_package": {
            "env": dxops_contract::layout::ENV_LAMBDA_PACKAGE,
            "file": paths::LAMBDA_PACKAGE_FILE,
        },
        "rollout": match s.rollout.strategy {
            RolloutStrategy::Canary => "canary",
            RolloutStrategy::Linear => "linear",
            RolloutStrategy::AllAtOnce => "all_at_once",
        },
        "capture": capture,
        "drift_method": spec.monitoring.drift.method.as_str(),
        "drift_threshold": drift_threshold(spec.monitoring.drift.method, spec.monitoring.drift.threshold),
        "triggers": triggers,
        "transfer": transfer,
        "records_columns": columns,
        "live_quality": live_quality,
        // An approved package reaches the endpoint through the rendered
        // promotion loop, unless the spec leaves deploys to a person.
        "promote": spec.retraining.deploy == DeployPolicy::AfterApproval,
        "training_max_runtime_seconds": spec.training.max_runtime_minutes * 60,
    });
    match value {
        Value::Object(map) => Ok(map),
        _ => unreachable!("context is an object"),
    }
}

/// One metric widget of a dashboard.
fn widget(x: u32, y: u32, title: &str, metrics: Vec<Value>, annotations: Value) -> Value {
    json!({
        "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
        "properties": {"title": title, "region": "${AWS::Region}", "view": "timeSeries", "metrics": metrics, "annotations": annotations}
    })
}

/// The dashboard of a function behind its alias: Lambda's own metrics, and
/// drift and quality from the function's EMF (its `Endpoint` dimension is
/// the environment's serving name, as on an endpoint).
fn lambda_dashboard(function: &str, alias: &str, endpoint: &str, latency_p99_ms: u32) -> String {
    let resource = format!("{function}:{alias}");
    let lambda = |metric: &str, stat: &str| json!(["AWS/Lambda", metric, "FunctionName", function, "Resource", resource, {"stat": stat}]);
    let dxops =
        |metric: &str, stat: &str| json!(["dxops", metric, "Endpoint", endpoint, {"stat": stat}]);
    let body = json!({
        "widgets": [
            widget(0, 0, "Function duration (milliseconds)", vec![lambda("Duration", "p50"), lambda("Duration", "p99")],
                json!({"horizontal": [{"label": "p99 alarm", "value": latency_p99_ms}]})),
            widget(12, 0, "Invocations, errors and throttles", vec![lambda("Invocations", "Sum"), lambda("Errors", "Sum"), lambda("Throttles", "Sum"), dxops("Errors4xx", "Sum")], json!({})),
            widget(0, 6, "Drift: share of drifted features", vec![dxops("DriftShare", "Maximum")], json!({"horizontal": [{"label": "alarm", "value": 0.5}]})),
            widget(12, 6, "Cold starts and predicted rows", vec![lambda("ProvisionedConcurrencySpilloverInvocations", "Sum"), dxops("Rows", "Sum")], json!({})),
        ]
    });
    serde_json::to_string(&body).expect("json")
}

/// The CloudWatch dashboard body: what operators watch (`${AWS::Region}` is filled by `Fn::Sub`).
fn dashboard(endpoint: &str, latency_p99_ms: u32) -> String {
    let sagemaker = |metric: &str, stat: &str| json!(["AWS/SageMaker", metric, "EndpointName", endpoint, "VariantName", "AllTraffic", {"stat": stat}]);
    let dxops =
        |metric: &str, stat: &str| json!(["dxops", metric, "Endpoint", endpoint, {"stat": stat}]);
    let body = json!({
        "widgets": [
            widget(0, 0, "Model latency (microseconds)", vec![sagemaker("ModelLatency", "p50"), sagemaker("ModelLatency", "p99")],
                json!({"horizontal": [{"label": "p99 alarm", "value": latency_p99_ms * 1000}]})),
            widget(12, 0, "Invocations and errors", vec![sagemaker("Invocations", "Sum"), sagemaker("Invocation4XXErrors", "Sum"), sagemaker("Invocation5XXErrors", "Sum")], json!({})),
            widget(0, 6, "Drift: share of drifted features", vec![dxops("DriftShare", "Maximum")], json!({"horizontal": [{"label": "alarm", "value": 0.5}]})),
            widget(12, 6, "Live quality and predicted classes", vec![dxops("LiveMacroF1", "Minimum"), dxops("Rows", "Sum")], json!({})),
        ]
    });
    serde_json::to_string(&body).expect("json")
}
