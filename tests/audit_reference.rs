//! The hardened reference stack passes every control; removing or mutating one
//! property makes exactly the expected control fail.

use dxops_spec::audit::{
    AuditOptions, ControlStatus, Format, Status, TemplateInput, Waiver, WaiverError, audit,
    check_waiver, exit_code,
};
use serde_json::{Value, json};

const REFERENCE: &str = include_str!("fixtures/audit/reference/stack.yaml");
const TODAY: &str = "2026-11-29";

fn access_log_waiver() -> Waiver {
    Waiver {
        rule: "s3-access-logging".into(),
        resource: "AccessLogBucket".into(),
        reason: "Receives the server access logs of the data bucket; logging it would loop.".into(),
        owner: "platform-security".into(),
        expires: "2027-06-30".into(),
    }
}

fn log_bucket_waivers() -> Vec<Waiver> {
    vec![
        access_log_waiver(),
        Waiver {
            rule: "s3-replication".into(),
            resource: "AccessLogBucket".into(),
            reason: "Access logs stay in the primary region; the data bucket is replicated.".into(),
            owner: "platform-security".into(),
            expires: "2027-06-30".into(),
        },
        Waiver {
            rule: "s3-object-lock".into(),
            resource: "AccessLogBucket".into(),
            reason: "S3 cannot deliver server access logs to a bucket with default object-lock retention.".into(),
            owner: "platform-security".into(),
            expires: "2027-06-30".into(),
        },
    ]
}

fn options(waivers: Vec<Waiver>) -> AuditOptions {
    AuditOptions {
        log_retention_days: 365,
        waivers,
        today: Some(TODAY.into()),
    }
}

/// `waivers` plus the access-log bucket's standing waivers other than the
/// access-logging one, so the tests below are about that waiver alone.
fn with_standing_waivers(mut waivers: Vec<Waiver>) -> AuditOptions {
    waivers.extend(log_bucket_waivers().into_iter().skip(1));
    options(waivers)
}

fn reference_value() -> Value {
    dxops_spec::yaml::parse(REFERENCE)
        .expect("reference parses")
        .value
}

fn input(value: &Value) -> Vec<TemplateInput> {
    vec![TemplateInput {
        stack: "dxops-reference".into(),
        path: None,
        text: serde_json::to_string_pretty(value).unwrap(),
    }]
}

#[test]
fn reference_passes_every_applicable_control() {
    let templates = vec![TemplateInput {
        stack: "dxops-reference".into(),
        path: Some("tests/fixtures/audit/reference/stack.yaml".into()),
        text: REFERENCE.into(),
    }];
    let report = audit(&templates, &options(log_bucket_waivers())).unwrap();
    assert_eq!(
        report.failing_controls(),
        Vec::<&str>::new(),
        "{}",
        report.render(Format::Human)
    );
    assert_eq!(report.exit_code(), 0);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    for c in &report.controls {
        let expected = match c.id.as_str() {
            // Judged on the committed Lambda-serving stack (tests/lambda_serving.rs).
            "sagemaker-notebook-hardening" | "lambda-alias-rollback" => {
                ControlStatus::NotApplicable
            }
            "s3-access-logging" | "s3-replication" | "s3-object-lock" => ControlStatus::Waived,
            _ => ControlStatus::Pass,
        };
        assert_eq!(c.status, expected, "control {}", c.id);
    }
    let waived: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Waived)
        .collect();
    let waived_controls: std::collections::BTreeSet<&str> =
        waived.iter().map(|f| f.control.as_str()).collect();
    assert_eq!(
        waived_controls.into_iter().collect::<Vec<_>>(),
        ["s3-access-logging", "s3-object-lock", "s3-replication"]
    );
    assert!(waived.iter().all(|f| f.logical_id == "AccessLogBucket"));
    // Findings from a YAML file carry its line and column.
    let key = report
        .findings
        .iter()
        .find(|f| f.control == "kms-key-rotation")
        .unwrap();
    let line = REFERENCE
        .lines()
        .position(|l| l.contains("EnableKeyRotation"))
        .unwrap()
        + 1;
    assert_eq!(key.line, Some(line));
    assert_eq!(key.col, Some(7));
    // Findings inside the pipeline definition point at their step in the file.
    let train = report
        .findings
        .iter()
        .find(|f| f.control == "sagemaker-intercontainer-encryption")
        .unwrap();
    let name_line = REFERENCE
        .lines()
        .position(|l| l.contains(r#""Name": "Train","#))
        .unwrap()
        + 1;
    let brace_col = REFERENCE
        .lines()
        .nth(name_line - 2)
        .unwrap()
        .find('{')
        .unwrap()
        + 1;
    assert_eq!(
        (train.line, train.col),
        (Some(name_line - 1), Some(brace_col))
    );
}

fn at<'a>(v: &'a mut Value, pointer: &str) -> &'a mut Value {
    v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the reference"))
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let removed = match at(v, parent) {
        Value::Object(m) => m.remove(key),
        Value::Array(a) => Some(a.remove(key.parse().unwrap())),
        _ => None,
    };
    assert!(removed.is_some(), "nothing at {pointer}");
}

/// Set a value, adding the last key when the parent object lacks it.
fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match at(v, parent) {
        Value::Object(m) => {
            m.insert(key.to_string(), new);
        }
        _ => *at(v, pointer) = new,
    }
}

fn push(v: &mut Value, pointer: &str, new: Value) {
    at(v, pointer).as_array_mut().expect("an array").push(new);
}

const BODY: &str =
    "/Resources/TrainingPipeline/Properties/PipelineDefinition/PipelineDefinitionBody/Fn::Sub/0";

/// Replace exactly one occurrence of `from` in the pipeline definition body.
fn edit_body(v: &mut Value, from: &str, to: &str) {
    let body = at(v, BODY);
    let text = body.as_str().unwrap().to_string();
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` must occur once in the body"
    );
    *body = Value::String(text.replacen(from, to, 1));
}

type Mutation = fn(&mut Value);

const MUTATIONS: &[(&str, Mutation, &str)] = &[
    (
        "bucket encryption removed",
        |v| remove(v, "/Resources/DataBucket/Properties/BucketEncryption"),
        "s3-kms-encryption",
    ),
    (
        "bucket encrypted with S3-managed keys",
        |v| {
            set(
                v,
                "/Resources/DataBucket/Properties/BucketEncryption/ServerSideEncryptionConfiguration/0/ServerSideEncryptionByDefault",
                json!({"SSEAlgorithm": "AES256"}),
            )
        },
        "s3-kms-encryption",
    ),
    (
        "bucket key is an AWS-managed alias",
        |v| {
            set(
                v,
                "/Resources/DataBucket/Properties/BucketEncryption/ServerSideEncryptionConfiguration/0/ServerSideEncryptionByDefault/KMSMasterKeyID",
                json!("alias/aws/s3"),
            )
        },
        "s3-kms-encryption",
    ),
    (
        "key rotation off",
        |v| {
            set(
                v,
                "/Resources/DataKey/Properties/EnableKeyRotation",
                json!(false),
            )
        },
        "kms-key-rotation",
    ),
    (
        "key policy open to anyone",
        |v| {
            push(
                v,
                "/Resources/DataKey/Properties/KeyPolicy/Statement",
                json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}),
            )
        },
        "kms-key-policy-no-wildcard-principal",
    ),
    (
        "public policy not blocked",
        |v| {
            set(
                v,
                "/Resources/DataBucket/Properties/PublicAccessBlockConfiguration/BlockPublicPolicy",
                json!(false),
            )
        },
        "s3-public-access-block",
    ),
    (
        "public access block removed",
        |v| {
            remove(
                v,
                "/Resources/AccessLogBucket/Properties/PublicAccessBlockConfiguration",
            )
        },
        "s3-public-access-block",
    ),
    (
        "TLS deny misses objects",
        |v| {
            remove(
                v,
                "/Resources/DataBucketPolicy/Properties/PolicyDocument/Statement/0/Resource/1",
            )
        },
        "s3-tls-only",
    ),
    (
        "bucket policy removed",
        |v| remove(v, "/Resources/DataBucketPolicy"),
        "s3-tls-only",
    ),
    (
        "TLS deny is an allow",
        |v| {
            set(
                v,
                "/Resources/DataBucketPolicy/Properties/PolicyDocument/Statement/0/Effect",
                json!("Allow"),
            )
        },
        "s3-tls-only",
    ),
    (
        "queue policy removed",
        |v| remove(v, "/Resources/DeadLetterQueuePolicy"),
        "sqs-tls-only",
    ),
    (
        "queue TLS deny limited to one action",
        |v| {
            set(
                v,
                "/Resources/DeadLetterQueuePolicy/Properties/PolicyDocument/Statement/0/Action",
                json!("sqs:SendMessage"),
            )
        },
        "sqs-tls-only",
    ),
    (
        "queue TLS deny on another queue",
        |v| {
            set(
                v,
                "/Resources/DeadLetterQueuePolicy/Properties/PolicyDocument/Statement/0/Resource",
                json!("arn:aws:sqs:eu-west-1:111122223333:other"),
            )
        },
        "sqs-tls-only",
    ),
    (
        "method without a request validator",
        |v| remove(v, "/Resources/PredictMethod/Properties/RequestValidatorId"),
        "apigateway-request-validation",
    ),
    (
        "API straight to the endpoint, past any gateway",
        |v| {
            set(
                v,
                "/Resources/PredictMethod/Properties/Integration/Uri",
                json!({"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:runtime.sagemaker:path//endpoints/predict/invocations"}),
            )
        },
        "apigateway-model-behind-gateway",
    ),
    (
        "validator checks parameters only",
        |v| {
            set(
                v,
                "/Resources/PredictRequestValidator/Properties/ValidateRequestBody",
                json!(false),
            )
        },
        "apigateway-request-validation",
    ),
    (
        "versioning suspended",
        |v| {
            set(
                v,
                "/Resources/DataBucket/Properties/VersioningConfiguration/Status",
                json!("Suspended"),
            )
        },
        "s3-versioning",
    ),
    (
        "data bucket access logging removed",
        |v| remove(v, "/Resources/DataBucket/Properties/LoggingConfiguration"),
        "s3-access-logging",
    ),
    (
        "bucket deletable",
        |v| set(v, "/Resources/DataBucket/DeletionPolicy", json!("Delete")),
        "data-store-retain",
    ),
    (
        "model registry replaceable",
        |v| remove(v, "/Resources/ModelPackageGroup/UpdateReplacePolicy"),
        "data-store-retain",
    ),
    (
        "key deletable",
        |v| remove(v, "/Resources/DataKey/DeletionPolicy"),
        "data-store-retain",
    ),
    (
        "log group key removed",
        |v| remove(v, "/Resources/PipelineLogGroup/Properties/KmsKeyId"),
        "logs-kms-encryption",
    ),
    (
        "log retention too short",
        |v| {
            set(
                v,
                "/Resources/ApiAccessLogGroup/Properties/RetentionInDays",
                json!(30),
            )
        },
        "log-retention",
    ),
    (
        "log retention unset",
        |v| remove(v, "/Resources/FunctionLogGroup/Properties/RetentionInDays"),
        "log-retention",
    ),
    (
        "topic key AWS-managed",
        |v| {
            set(
                v,
                "/Resources/AlarmTopic/Properties/KmsMasterKeyId",
                json!("alias/aws/sns"),
            )
        },
        "sns-kms-encryption",
    ),
    (
        "queue key removed",
        |v| remove(v, "/Resources/DeadLetterQueue/Properties/KmsMasterKeyId"),
        "sqs-kms-encryption",
    ),
    (
        "state machine AWS-owned key",
        |v| {
            set(
                v,
                "/Resources/Orchestrator/Properties/EncryptionConfiguration",
                json!({"Type": "AWS_OWNED_KEY"}),
            )
        },
        "stepfunctions-kms-encryption",
    ),
    (
        "state machine logging off",
        |v| {
            set(
                v,
                "/Resources/Orchestrator/Properties/LoggingConfiguration/Level",
                json!("OFF"),
            )
        },
        "stepfunctions-logging",
    ),
    (
        "state machine logs nowhere",
        |v| {
            remove(
                v,
                "/Resources/Orchestrator/Properties/LoggingConfiguration/Destinations",
            )
        },
        "stepfunctions-logging",
    ),
    (
        "glue CloudWatch logs unencrypted",
        |v| {
            set(
                v,
                "/Resources/GlueSecurity/Properties/EncryptionConfiguration/CloudWatchEncryption",
                json!({"CloudWatchEncryptionMode": "DISABLED"}),
            )
        },
        "glue-kms-encryption",
    ),
    (
        "function environment key removed",
        |v| remove(v, "/Resources/PredictFunction/Properties/KmsKeyArn"),
        "lambda-env-kms-encryption",
    ),
    (
        "function outside the VPC",
        |v| remove(v, "/Resources/PredictFunction/Properties/VpcConfig"),
        "lambda-in-vpc",
    ),
    (
        "function without dead-letter queue",
        |v| remove(v, "/Resources/PredictFunction/Properties/DeadLetterConfig"),
        "lambda-resilience",
    ),
    (
        "endpoint config key removed",
        |v| remove(v, "/Resources/EndpointConfig/Properties/KmsKeyId"),
        "sagemaker-endpoint-kms-encryption",
    ),
    (
        "endpoint config key is a topic",
        |v| {
            set(
                v,
                "/Resources/EndpointConfig/Properties/KmsKeyId",
                json!({"Ref": "AlarmTopic"}),
            )
        },
        "sagemaker-endpoint-kms-encryption",
    ),
    (
        "model network isolation off",
        |v| {
            set(
                v,
                "/Resources/Model/Properties/EnableNetworkIsolation",
                json!(false),
            )
        },
        "sagemaker-network-isolation",
    ),
    (
        "model outside the VPC",
        |v| remove(v, "/Resources/Model/Properties/VpcConfig"),
        "sagemaker-vpc",
    ),
    (
        "endpoint alarm removed",
        |v| remove(v, "/Resources/EndpointErrorAlarm"),
        "sagemaker-endpoint-alarm",
    ),
    (
        "endpoint alarm without actions",
        |v| remove(v, "/Resources/EndpointErrorAlarm/Properties/AlarmActions"),
        "alarm-actions",
    ),
    (
        "alarm without insufficient-data actions",
        |v| {
            remove(
                v,
                "/Resources/EndpointErrorAlarm/Properties/InsufficientDataActions",
            )
        },
        "alarm-actions",
    ),
    (
        "stage without web ACL",
        |v| remove(v, "/Resources/ApiFirewallAssociation"),
        "apigateway-waf",
    ),
    (
        "web ACL not logged",
        |v| remove(v, "/Resources/ApiFirewallLogging"),
        "apigateway-waf",
    ),
    (
        "object lock removed",
        |v| {
            remove(
                v,
                "/Resources/DataBucket/Properties/ObjectLockConfiguration",
            )
        },
        "s3-object-lock",
    ),
    (
        "event notifications removed",
        |v| {
            remove(
                v,
                "/Resources/DataBucket/Properties/NotificationConfiguration",
            )
        },
        "s3-event-notifications",
    ),
    (
        "lifecycle removed",
        |v| {
            remove(
                v,
                "/Resources/AccessLogBucket/Properties/LifecycleConfiguration",
            )
        },
        "s3-versioning",
    ),
    (
        "ACLs enabled",
        |v| remove(v, "/Resources/DataBucket/Properties/OwnershipControls"),
        "s3-public-access-block",
    ),
    (
        "alarm actions disabled",
        |v| {
            set(
                v,
                "/Resources/EndpointErrorAlarm/Properties/ActionsEnabled",
                json!(false),
            )
        },
        "alarm-actions",
    ),
    (
        "replication removed",
        |v| {
            remove(
                v,
                "/Resources/DataBucket/Properties/ReplicationConfiguration",
            )
        },
        "s3-replication",
    ),
    (
        "replication skips KMS objects",
        |v| {
            remove(
                v,
                "/Resources/DataBucket/Properties/ReplicationConfiguration/Rules/0/SourceSelectionCriteria",
            )
        },
        "s3-replication",
    ),
    (
        "public-read ACL",
        |v| {
            set(
                v,
                "/Resources/DataBucket/Properties/AccessControl",
                json!("PublicRead"),
            )
        },
        "s3-public-access-block",
    ),
    (
        "stage cache unencrypted",
        |v| {
            set(
                v,
                "/Resources/ApiStage/Properties/MethodSettings/0/CacheDataEncrypted",
                json!(false),
            )
        },
        "apigateway-cache-encryption",
    ),
    (
        "stage cache cluster off",
        |v| remove(v, "/Resources/ApiStage/Properties/CacheClusterEnabled"),
        "apigateway-cache-encryption",
    ),
    (
        "stage without client certificate",
        |v| remove(v, "/Resources/ApiStage/Properties/ClientCertificateId"),
        "apigateway-client-certificate",
    ),
    (
        "stage without tracing",
        |v| {
            set(
                v,
                "/Resources/ApiStage/Properties/TracingEnabled",
                json!(false),
            )
        },
        "apigateway-access-logging",
    ),
    (
        "function invocable by anyone",
        |v| {
            set(
                v,
                "/Resources/ApiInvokePermission/Properties/Principal",
                json!("*"),
            )
        },
        "lambda-permission-scoped",
    ),
    (
        "service permission without source",
        |v| remove(v, "/Resources/ApiInvokePermission/Properties/SourceArn"),
        "lambda-permission-scoped",
    ),
    (
        "training volume key removed",
        |v| {
            edit_body(
                v,
                r#", "VolumeSizeInGB": 30, "VolumeKmsKeyId": "${DataKey.Arn}"}},"#,
                r#", "VolumeSizeInGB": 30}},"#,
            )
        },
        "sagemaker-job-kms-encryption",
    ),
    (
        "processing output key AWS-managed",
        |v| {
            edit_body(
                v,
                r#""ProcessingOutputConfig": {"KmsKeyId": "${DataKey.Arn}""#,
                r#""ProcessingOutputConfig": {"KmsKeyId": "alias/aws/s3""#,
            )
        },
        "sagemaker-job-kms-encryption",
    ),
    (
        "pipeline body unreadable",
        |v| {
            edit_body(
                v,
                r#""Version": "2020-12-01","#,
                r#""Version": "2020-12-01""#,
            )
        },
        "sagemaker-job-kms-encryption",
    ),
    (
        "training traffic unencrypted",
        |v| {
            edit_body(
                v,
                "\"EnableInterContainerTrafficEncryption\": true,\n",
                "\"EnableInterContainerTrafficEncryption\": false,\n",
            )
        },
        "sagemaker-intercontainer-encryption",
    ),
    (
        "training network isolation off",
        |v| {
            edit_body(
                v,
                r#""EnableNetworkIsolation": true,
"#,
                r#""EnableNetworkIsolation": false,
"#,
            )
        },
        "sagemaker-network-isolation",
    ),
    (
        "processing network isolation off",
        |v| {
            edit_body(
                v,
                r#""EnableNetworkIsolation": true, "VpcConfig""#,
                r#""EnableNetworkIsolation": false, "VpcConfig""#,
            )
        },
        "sagemaker-network-isolation",
    ),
    (
        "processing outside the VPC",
        |v| {
            edit_body(
                v,
                r#", "VpcConfig": {"Subnets": ["${Subnets}"], "SecurityGroupIds": ["${Groups}"]}},"#,
                "},",
            )
        },
        "sagemaker-vpc",
    ),
    (
        "API allows old TLS",
        |v| {
            set(
                v,
                "/Resources/PredictApi/Properties/SecurityPolicy",
                json!("TLS_1_0"),
            )
        },
        "apigateway-tls12",
    ),
    (
        "API is edge-optimised",
        |v| {
            set(
                v,
                "/Resources/PredictApi/Properties/EndpointConfiguration/Types",
                json!(["EDGE"]),
            )
        },
        "apigateway-tls12",
    ),
    (
        "method unauthenticated",
        |v| {
            set(
                v,
                "/Resources/PredictMethod/Properties/AuthorizationType",
                json!("NONE"),
            )
        },
        "apigateway-method-authorization",
    ),
    (
        "stage access logs removed",
        |v| remove(v, "/Resources/ApiStage/Properties/AccessLogSetting"),
        "apigateway-access-logging",
    ),
    (
        "stage execution logs off",
        |v| {
            set(
                v,
                "/Resources/ApiStage/Properties/MethodSettings/0/LoggingLevel",
                json!("OFF"),
            )
        },
        "apigateway-access-logging",
    ),
    (
        "service wildcard action",
        |v| {
            push(
                v,
                "/Resources/SageMakerJobPolicy/Properties/PolicyDocument/Statement",
                json!({"Effect": "Allow", "Action": "s3:*", "Resource": {"Fn::GetAtt": ["DataBucket", "Arn"]}}),
            )
        },
        "iam-no-wildcard-action",
    ),
    (
        "wildcard resource",
        |v| {
            push(
                v,
                "/Resources/FunctionPolicy/Properties/PolicyDocument/Statement",
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            )
        },
        "iam-no-wildcard-resource",
    ),
    (
        "star-only action without condition",
        |v| {
            remove(
                v,
                "/Resources/StateMachinePolicy/Properties/PolicyDocument/Statement/2/Condition",
            )
        },
        "iam-no-wildcard-resource",
    ),
    (
        "administrator attached",
        |v| {
            push(
                v,
                "/Resources/ProcessingRole/Properties/ManagedPolicyArns",
                json!("arn:aws:iam::aws:policy/AdministratorAccess"),
            )
        },
        "iam-no-admin-access",
    ),
    (
        "inline policy",
        |v| {
            set(
                v,
                "/Resources/TrainingRole/Properties/Policies",
                json!([{"PolicyName": "extra", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:DescribeTrainingJob", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:training-job/*"}}]}}]),
            )
        },
        "iam-no-inline-policy",
    ),
    (
        "training step runs as the processing role",
        |v| {
            edit_body(
                v,
                r#""RoleArn": "${TrainingRole.Arn}""#,
                r#""RoleArn": "${ProcessingRole.Arn}""#,
            )
        },
        "iam-role-per-job",
    ),
    (
        "function runs as the model role",
        |v| {
            set(
                v,
                "/Resources/PredictFunction/Properties/Role",
                json!({"Fn::GetAtt": ["ModelRole", "Arn"]}),
            )
        },
        "iam-role-per-job",
    ),
    (
        "role shared by two services",
        |v| {
            set(
                v,
                "/Resources/TrainingRole/Properties/AssumeRolePolicyDocument/Statement/0/Principal/Service",
                json!(["sagemaker.amazonaws.com", "lambda.amazonaws.com"]),
            )
        },
        "iam-role-single-service",
    ),
    (
        "role trusts the account root",
        |v| {
            push(
                v,
                "/Resources/ModelRole/Properties/AssumeRolePolicyDocument/Statement",
                json!({"Effect": "Allow", "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}, "Action": "sts:AssumeRole"}),
            )
        },
        "iam-trust-scoped",
    ),
    (
        "role trusts anyone",
        |v| {
            push(
                v,
                "/Resources/FunctionRole/Properties/AssumeRolePolicyDocument/Statement",
                json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
            )
        },
        "iam-trust-scoped",
    ),
    (
        "bucket classification tag removed",
        |v| remove(v, "/Resources/DataBucket/Properties/Tags"),
        "data-classification-tag",
    ),
    (
        "function on an older runtime",
        |v| {
            set(
                v,
                "/Resources/PredictFunction/Properties/Runtime",
                json!("python3.12"),
            )
        },
        "lambda-runtime-current",
    ),
    (
        "function on a retired family",
        |v| {
            set(
                v,
                "/Resources/PredictFunction/Properties/Runtime",
                json!("go1.x"),
            )
        },
        "lambda-runtime-current",
    ),
    (
        "ruleset classification tag removed",
        |v| {
            remove(
                v,
                "/Resources/FeatureRuleset/Properties/Tags/data-classification",
            )
        },
        "data-classification-tag",
    ),
];

#[test]
fn each_mutation_fails_exactly_its_control() {
    let mut wrong = Vec::new();
    for (name, mutate, control) in MUTATIONS {
        let mut v = reference_value();
        mutate(&mut v);
        let report = audit(&input(&v), &options(log_bucket_waivers())).unwrap();
        let failing = report.failing_controls();
        if failing != [*control] {
            wrong.push(format!("{name}: expected [{control}], got {failing:?}"));
        }
        assert_eq!(report.exit_code(), 2, "{name}");
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn every_control_is_exercised_by_a_mutation_or_its_own_fixture() {
    let mut covered: Vec<&str> = MUTATIONS.iter().map(|m| m.2).collect();
    // lambda-alias-rollback: its failing cases are in tests/lambda_serving.rs.
    covered.extend([
        "sagemaker-notebook-hardening",
        "waiver-valid",
        "lambda-alias-rollback",
    ]);
    for c in dxops_spec::audit::CONTROLS {
        assert!(covered.contains(&c.id), "no failing case for {}", c.id);
    }
}

// ---------------------------------------------------------------- waivers

#[test]
fn access_log_bucket_fails_without_its_waiver() {
    let report = audit(&input(&reference_value()), &with_standing_waivers(vec![])).unwrap();
    assert_eq!(report.failing_controls(), ["s3-access-logging"]);
    let f = report
        .findings
        .iter()
        .find(|f| f.status == Status::Fail)
        .unwrap();
    assert_eq!(f.logical_id, "AccessLogBucket");
    assert!(f.message.contains("access-log bucket"), "{}", f.message);
}

#[test]
fn expired_waiver_is_a_finding_and_no_longer_excuses() {
    let mut w = access_log_waiver();
    w.expires = "2026-11-28".into();
    let report = audit(&input(&reference_value()), &with_standing_waivers(vec![w])).unwrap();
    assert_eq!(
        report.failing_controls(),
        ["s3-access-logging", "waiver-valid"]
    );
    assert_eq!(report.exit_code(), 2);
    assert!(report.warnings.is_empty());
    // The last day of a waiver still counts.
    let mut w = access_log_waiver();
    w.expires = TODAY.into();
    let report = audit(&input(&reference_value()), &with_standing_waivers(vec![w])).unwrap();
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn unused_waiver_is_a_warning() {
    let unused = Waiver {
        rule: "s3-versioning".into(),
        resource: "DataBucket".into(),
        reason: "migration".into(),
        owner: "data-team".into(),
        expires: "2027-01-31".into(),
    };
    let report = audit(
        &input(&reference_value()),
        &with_standing_waivers(vec![access_log_waiver(), unused]),
    )
    .unwrap();
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.warnings.len(), 1);
    assert!(
        report.warnings[0].contains("s3-versioning on DataBucket"),
        "{:?}",
        report.warnings
    );
}

#[test]
fn waiver_scoped_to_another_stack_does_not_apply() {
    let mut w = access_log_waiver();
    w.resource = "other-stack/AccessLogBucket".into();
    let report = audit(
        &input(&reference_value()),
        &with_standing_waivers(vec![w.clone()]),
    )
    .unwrap();
    assert_eq!(report.failing_controls(), ["s3-access-logging"]);
    w.resource = "dxops-reference/AccessLogBucket".into();
    let report = audit(&input(&reference_value()), &with_standing_waivers(vec![w])).unwrap();
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn never_waivable_controls_are_refused() {
    for rule in [
        "s3-kms-encryption",
        "s3-tls-only",
        "s3-public-access-block",
        "logs-kms-encryption",
        "sagemaker-intercontainer-encryption",
        "apigateway-tls12",
    ] {
        let mut w = access_log_waiver();
        w.rule = rule.into();
        assert_eq!(
            check_waiver(&w),
            Err(WaiverError::NotWaivable { rule: rule.into() })
        );
        let result = audit(&input(&reference_value()), &options(vec![w]));
        assert!(result.is_err());
        assert_eq!(exit_code(&result), 1);
    }
}

#[test]
fn unknown_rule_suggests_the_closest_control() {
    let mut w = access_log_waiver();
    w.rule = "s3-acces-loging".into();
    match check_waiver(&w) {
        Err(e @ WaiverError::UnknownRule { .. }) => {
            assert_eq!(
                e,
                WaiverError::UnknownRule {
                    rule: w.rule.clone(),
                    suggestion: Some("s3-access-logging".into())
                }
            );
            assert!(e.to_string().contains("did you mean `s3-access-logging`"));
        }
        other => panic!("{other:?}"),
    }
    w.rule = "completely-unrelated".into();
    assert!(matches!(
        check_waiver(&w),
        Err(WaiverError::UnknownRule {
            suggestion: None,
            ..
        })
    ));
}

#[test]
fn waiver_dates_are_validated() {
    for bad in [
        "2026-02-29",
        "2026-13-01",
        "2026-1-01",
        "20260101",
        "2026-04-31",
        "2026-00-10",
        "２０２６-01-01",
        "",
    ] {
        let mut w = access_log_waiver();
        w.expires = bad.into();
        assert_eq!(
            check_waiver(&w),
            Err(WaiverError::BadDate { value: bad.into() }),
            "{bad}"
        );
    }
    for good in ["2024-02-29", "2000-02-29", "2026-12-31"] {
        let mut w = access_log_waiver();
        w.expires = good.into();
        assert_eq!(check_waiver(&w), Ok(()), "{good}");
    }
    let mut w = access_log_waiver();
    w.owner = " ".into();
    assert_eq!(check_waiver(&w), Err(WaiverError::Empty { field: "owner" }));
    let bad_today = AuditOptions {
        today: Some("29/11/2026".into()),
        ..options(vec![])
    };
    assert!(audit(&input(&reference_value()), &bad_today).is_err());
}

#[test]
fn waiver_rejects_unknown_fields_and_documents_its_schema() {
    let ok: Waiver = serde_json::from_value(json!({"rule": "s3-access-logging", "resource": "AccessLogBucket", "reason": "r", "owner": "o", "expires": "2027-01-01"})).unwrap();
    assert_eq!(ok.rule, "s3-access-logging");
    let err = serde_json::from_value::<Waiver>(
        json!({"rule": "s3-access-logging", "resource": "B", "reason": "r", "owner": "o", "expires": "2027-01-01", "approved": true}),
    );
    assert!(err.unwrap_err().to_string().contains("unknown field"));
    let schema = serde_json::to_value(schemars::schema_for!(Waiver)).unwrap();
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["required"].as_array().unwrap().len(), 5);
    assert!(schema["properties"]["expires"]["pattern"].is_string());
}
