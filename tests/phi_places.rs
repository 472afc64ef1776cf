//! Every place the rendered stacks write or hold patient data is covered by a
//! control: for each one, taking its customer-managed key away makes the audit
//! fail exactly that control. The places are found by walking the committed
//! `stacks/` (the golden copy), not listed by hand, and every resource type
//! there must be either a PHI place below or named as holding none, so a new
//! kind of store cannot slip in unjudged.

use std::collections::BTreeSet;

use dxops_spec::audit::{AuditOptions, TemplateInput, audit, design_waivers};
use serde_json::Value;

/// The committed environments walked: the example spec (endpoint serving)
/// and the Lambda-serving one.
const TREES: [(&str, &str); 2] = [("disease-prediction", "staging"), ("chd-risk", "prod")];

/// Resource types that hold configuration, identities, routes or metadata,
/// never records, payloads or predictions.
const NO_PHI: &[(&str, &str)] = &[
    ("AWS::IAM::Role", "identity"),
    ("AWS::IAM::ManagedPolicy", "permissions"),
    ("AWS::KMS::Key", "the key itself"),
    ("AWS::KMS::Alias", "a name for a key"),
    ("AWS::S3::BucketPolicy", "permissions"),
    ("AWS::SQS::QueuePolicy", "permissions"),
    ("AWS::SNS::TopicPolicy", "permissions"),
    ("AWS::Lambda::Permission", "permissions"),
    ("AWS::EC2::VPC", "network"),
    ("AWS::EC2::Subnet", "network"),
    ("AWS::EC2::RouteTable", "network"),
    ("AWS::EC2::SubnetRouteTableAssociation", "network"),
    ("AWS::EC2::SecurityGroup", "network"),
    ("AWS::EC2::VPCEndpoint", "network"),
    ("AWS::EC2::FlowLog", "writes to a log group, judged there"),
    ("AWS::WAFv2::WebACL", "rules"),
    ("AWS::WAFv2::WebACLAssociation", "a link"),
    (
        "AWS::WAFv2::LoggingConfiguration",
        "writes to a log group, judged there",
    ),
    ("AWS::Events::Rule", "a schedule or an event pattern"),
    ("AWS::CloudWatch::Alarm", "metric thresholds"),
    ("AWS::CloudWatch::Dashboard", "metric widgets"),
    ("AWS::ApiGateway::RestApi", "routes"),
    ("AWS::ApiGateway::Resource", "routes"),
    ("AWS::ApiGateway::Method", "routes"),
    ("AWS::ApiGateway::Deployment", "a snapshot of routes"),
    ("AWS::ApiGateway::RequestValidator", "validation settings"),
    ("AWS::ApiGateway::Model", "a JSON schema of the request"),
    ("AWS::ApiGateway::ClientCertificate", "a certificate"),
    ("AWS::ApiGateway::Account", "the logging role"),
    (
        "AWS::IoT::TopicRule",
        "routes device messages to a bucket, judged there",
    ),
    (
        "AWS::Glue::Database",
        "catalogue metadata; the records stay in S3",
    ),
    (
        "AWS::Glue::Table",
        "column names and types; the records stay in S3",
    ),
    ("AWS::Glue::DataQualityRuleset", "rules"),
    ("AWS::SageMaker::ModelPackageGroup", "version metadata"),
    (
        "AWS::SageMaker::Model",
        "points at an artifact in a bucket, judged there",
    ),
    (
        "AWS::SageMaker::Endpoint",
        "runs an endpoint config, judged there",
    ),
    (
        "AWS::Lambda::Version",
        "a snapshot of a function, judged there",
    ),
    ("AWS::Lambda::Alias", "a name for a version"),
    ("AWS::CodeDeploy::Application", "a name"),
    (
        "AWS::CodeDeploy::DeploymentConfig",
        "traffic-shifting steps",
    ),
    ("AWS::CodeDeploy::DeploymentGroup", "alarms and a role"),
];

struct Stack {
    file: String,
    /// `<spec>/<env>`, the tree it was read from.
    tree: (&'static str, &'static str),
    name: String,
    value: Value,
}

fn rendered() -> Vec<Stack> {
    let mut stacks = Vec::new();
    for tree @ (spec, env) in TREES {
        let dir = format!("{}/../../stacks/{spec}/{env}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("stacks/ is committed")
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| f.ends_with(".yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            stacks.push(Stack {
                name: stack_name(tree, &file),
                tree,
                value: dxops_spec::yaml::parse(&text).expect("stack parses").value,
                file,
            });
        }
    }
    stacks
}

fn stack_name((spec, env): (&str, &str), file: &str) -> String {
    format!("{spec}-{env}-{}", file.trim_end_matches(".yaml"))
}

/// The options `dxops synth` audits with: the committed specs have no
/// waivers of their own, so the design waivers alone.
fn options(tree: (&'static str, &'static str)) -> AuditOptions {
    AuditOptions {
        log_retention_days: 2192,
        waivers: design_waivers(move |file| stack_name(tree, file), true),
        today: Some("2026-12-01".into()),
    }
}

fn failing(stack: &Stack, value: &Value) -> Vec<String> {
    let input = [TemplateInput {
        stack: stack.name.clone(),
        path: None,
        text: serde_json::to_string(value).unwrap(),
    }];
    let report = audit(&input, &options(stack.tree)).unwrap();
    report
        .failing_controls()
        .into_iter()
        .map(String::from)
        .collect()
}

/// One PHI place: where it is, what removing its key means, the control
/// that must catch it.
struct Place {
    what: String,
    mutated: Value,
    control: &'static str,
}

fn without(value: &Value, pointer: &str) -> Value {
    let mut v = value.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let removed = v
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(key));
    assert!(removed.is_some(), "nothing at {pointer}");
    v
}

/// Puts an edited embedded document back into a copy of its resource.
type PutBack = Box<dyn Fn(&Value) -> Value>;

/// The JSON document a resource holds as text at `pointer` (plain or the
/// template of an `Fn::Sub`), and a function that puts an edited one back.
fn embedded(resource: &Value, pointer: &str) -> (Value, PutBack) {
    let holder = resource.pointer(pointer).unwrap();
    let text_ptr = match holder {
        Value::String(_) => pointer.to_string(),
        Value::Object(o) => match o.get("Fn::Sub") {
            Some(Value::Array(_)) => format!("{pointer}/Fn::Sub/0"),
            _ => format!("{pointer}/Fn::Sub"),
        },
        _ => panic!("{pointer} holds no text"),
    };
    let doc = serde_json::from_str(resource.pointer(&text_ptr).unwrap().as_str().unwrap()).unwrap();
    let resource = resource.clone();
    let put = move |doc: &Value| {
        let mut r = resource.clone();
        *r.pointer_mut(&text_ptr).unwrap() = Value::String(doc.to_string());
        r
    };
    (doc, Box::new(put))
}

/// Where a job request (pipeline step `Arguments` or state machine task
/// `Parameters`) names the key of its volume and of its S3 output.
fn job_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "Processing" | "createProcessingJob" => &[
            "ProcessingResources/ClusterConfig/VolumeKmsKeyId",
            "ProcessingOutputConfig/KmsKeyId",
        ],
        "Training" | "createTrainingJob" => {
            &["ResourceConfig/VolumeKmsKeyId", "OutputDataConfig/KmsKeyId"]
        }
        "Transform" | "createTransformJob" => &[
            "TransformResources/VolumeKmsKeyId",
            "TransformOutput/KmsKeyId",
        ],
        _ => &[],
    }
}

/// Pipeline steps with their pointer, into condition branches.
fn pipeline_steps(steps: &Value, base: &str, out: &mut Vec<(String, String)>) {
    for (i, step) in steps.as_array().into_iter().flatten().enumerate() {
        let ptr = format!("{base}/{i}");
        for branch in ["IfSteps", "ElseSteps"] {
            if let Some(inner) = step.pointer(&format!("/Arguments/{branch}")) {
                pipeline_steps(inner, &format!("{ptr}/Arguments/{branch}"), out);
            }
        }
        let kind = step["Type"].as_str().unwrap_or("").to_string();
        out.push((format!("{ptr}/Arguments"), kind));
    }
}

/// Every place in one stack, each with its key taken away.
fn places(stack: &Stack) -> Vec<Place> {
    let mut out = Vec::new();
    let resources = stack.value["Resources"].as_object().unwrap();
    for (id, r) in resources {
        let ty = r["Type"].as_str().unwrap();
        let at = |p: &str| format!("/Resources/{id}/Properties/{p}");
        let mut place = |what: &str, mutated: Value, control: &'static str| {
            out.push(Place {
                what: format!("{}: {id} ({ty}): {what}", stack.file),
                mutated,
                control,
            })
        };
        let v = &stack.value;
        match ty {
            "AWS::S3::Bucket" => place(
                "objects at rest",
                without(v, &at("BucketEncryption")),
                "s3-kms-encryption",
            ),
            "AWS::Logs::LogGroup" => place(
                "log events",
                without(v, &at("KmsKeyId")),
                "logs-kms-encryption",
            ),
            "AWS::SQS::Queue" => place(
                "queued records",
                without(v, &at("KmsMasterKeyId")),
                "sqs-kms-encryption",
            ),
            "AWS::SNS::Topic" => place(
                "notifications",
                without(v, &at("KmsMasterKeyId")),
                "sns-kms-encryption",
            ),
            "AWS::Lambda::Function" => place(
                "environment",
                without(v, &at("KmsKeyArn")),
                "lambda-env-kms-encryption",
            ),
            "AWS::SageMaker::EndpointConfig" => {
                place(
                    "instance storage",
                    without(v, &at("KmsKeyId")),
                    "sagemaker-endpoint-kms-encryption",
                );
                if r.pointer("/Properties/DataCaptureConfig").is_some() {
                    place(
                        "captured requests and responses",
                        without(v, &at("DataCaptureConfig/KmsKeyId")),
                        "sagemaker-endpoint-kms-encryption",
                    );
                }
            }
            "AWS::ApiGateway::Stage" => {
                let settings = r["Properties"]["MethodSettings"].as_array();
                for (i, s) in settings.into_iter().flatten().enumerate() {
                    if s["CachingEnabled"] == Value::Bool(true) {
                        let mut m = v.clone();
                        *m.pointer_mut(&at(&format!("MethodSettings/{i}/CacheDataEncrypted")))
                            .unwrap() = Value::Bool(false);
                        place("cached responses", m, "apigateway-cache-encryption");
                    }
                }
            }
            "AWS::StepFunctions::StateMachine" => {
                place(
                    "execution history",
                    without(v, &at("EncryptionConfiguration")),
                    "stepfunctions-kms-encryption",
                );
                let (doc, put) = embedded(r, "/Properties/DefinitionString");
                for (name, state) in doc["States"].as_object().unwrap() {
                    let resource = state["Resource"].as_str().unwrap_or("");
                    let Some((_, action)) = resource.rsplit_once("sagemaker:") else {
                        continue;
                    };
                    for key in job_keys(action.split('.').next().unwrap()) {
                        let edited = without(&doc, &format!("/States/{name}/Parameters/{key}"));
                        let mut m = v.clone();
                        m["Resources"][id.as_str()] = put(&edited);
                        place(
                            &format!("job started by state {name}: {key}"),
                            m,
                            "sagemaker-job-kms-encryption",
                        );
                    }
                }
            }
            "AWS::SageMaker::Pipeline" => {
                let (doc, put) =
                    embedded(r, "/Properties/PipelineDefinition/PipelineDefinitionBody");
                let mut steps = Vec::new();
                pipeline_steps(&doc["Steps"], "/Steps", &mut steps);
                for (args, kind) in steps {
                    for key in job_keys(&kind) {
                        let edited = without(&doc, &format!("{args}/{key}"));
                        let mut m = v.clone();
                        m["Resources"][id.as_str()] = put(&edited);
                        place(
                            &format!("pipeline step {args}: {key}"),
                            m,
                            "sagemaker-job-kms-encryption",
                        );
                    }
                }
            }
            _ => assert!(
                NO_PHI.iter().any(|(t, _)| *t == ty),
                "{}: {id} is a {ty}: add it to the PHI places with its control, \
                 or to NO_PHI with the reason it holds no patient data",
                stack.file
            ),
        }
    }
    out
}

#[test]
fn the_rendered_stacks_pass_before_any_mutation() {
    for stack in rendered() {
        assert_eq!(
            failing(&stack, &stack.value),
            Vec::<String>::new(),
            "{}",
            stack.name
        );
    }
}

#[test]
fn removing_the_key_of_any_phi_place_fails_its_control() {
    let mut wrong = Vec::new();
    let mut kinds = BTreeSet::new();
    let mut count = 0;
    for stack in rendered() {
        for p in places(&stack) {
            count += 1;
            kinds.insert(p.control);
            let got = failing(&stack, &p.mutated);
            if got != [p.control] {
                wrong.push(format!("{}: expected [{}], got {got:?}", p.what, p.control));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // The walk found the places the issue names: records, capture, job
    // outputs, logs, queues, topics, caches, workflow state.
    for control in [
        "s3-kms-encryption",
        "logs-kms-encryption",
        "sqs-kms-encryption",
        "sns-kms-encryption",
        "lambda-env-kms-encryption",
        "sagemaker-endpoint-kms-encryption",
        "sagemaker-job-kms-encryption",
        "apigateway-cache-encryption",
        "stepfunctions-kms-encryption",
    ] {
        assert!(kinds.contains(control), "no PHI place judged by {control}");
    }
    assert!(count >= 40, "only {count} places found");
}

/// The two places the audit did not judge before: the data-capture key of an
/// endpoint config and the jobs a state machine starts on its own.
#[test]
fn data_capture_and_state_machine_jobs_are_judged() {
    let stacks = rendered();
    let serving = stacks
        .iter()
        .find(|s| s.file == "serving.yaml" && s.tree.0 == "disease-prediction")
        .unwrap();
    let whats: Vec<String> = places(serving).into_iter().map(|p| p.what).collect();
    assert!(
        whats.iter().any(|w| w.contains("captured requests")),
        "{whats:#?}"
    );
    assert!(
        whats
            .iter()
            .any(|w| w.contains("job started by state") && w.contains("ProcessingOutputConfig")),
        "{whats:#?}"
    );
}
