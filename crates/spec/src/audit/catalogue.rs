//! The control catalogue: every rule the audit applies, with the HIPAA Security
//! Rule sections (45 CFR Part 164) it serves.

use serde::Serialize;

/// How much a failing control matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One auditable control.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Control {
    /// Stable kebab-case id; waivers and reports refer to it.
    pub id: &'static str,
    /// The family it belongs to (encryption, transit, access, audit, ...).
    pub family: &'static str,
    pub severity: Severity,
    /// One line: why the control exists.
    pub rationale: &'static str,
    /// What is checked, and on which resource types.
    pub check: &'static str,
    /// 45 CFR sections the control serves.
    pub cfr: &'static [&'static str],
    /// Whether a spec may waive a failure of this control.
    pub waivable: bool,
}

const AT_REST: &[&str] = &["164.312(a)(2)(iv)", "164.312(c)(1)"];
const TRANSIT: &[&str] = &["164.312(e)(1)", "164.312(e)(2)(ii)"];
const ACCESS: &[&str] = &["164.312(a)(1)", "164.308(a)(4)(ii)(B)"];
const AUDIT: &[&str] = &["164.312(b)", "164.308(a)(1)(ii)(D)"];

macro_rules! control {
    ($id:literal, $family:literal, $sev:ident, $waivable:literal, $cfr:expr, $rationale:literal, $check:literal) => {
        Control {
            id: $id,
            family: $family,
            severity: Severity::$sev,
            rationale: $rationale,
            check: $check,
            cfr: $cfr,
            waivable: $waivable,
        }
    };
}

/// Every control, in report order.
pub const CONTROLS: &[Control] = &[
    control!(
        "s3-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "PHI in S3 must be encrypted with a key the organisation controls and can audit.",
        "AWS::S3::Bucket: BucketEncryption has a rule with SSEAlgorithm aws:kms (or aws:kms:dsse) and a customer-managed KMSMasterKeyID."
    ),
    control!(
        "sagemaker-job-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Training, processing, transform and monitoring jobs write PHI to volumes and S3 outputs that must be encrypted with a customer-managed key.",
        "AWS::SageMaker::Pipeline PipelineDefinitionBody steps (Processing, Training, Transform): volume and output KmsKeyId set; AWS::SageMaker::MonitoringSchedule and *JobDefinition: VolumeKmsKeyId and output KmsKeyId set."
    ),
    control!(
        "sagemaker-endpoint-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Endpoint instance storage may hold inference payloads and must use a customer-managed key.",
        "AWS::SageMaker::EndpointConfig: KmsKeyId references a customer-managed key."
    ),
    control!(
        "logs-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Logs can capture PHI (payloads, errors) and must be encrypted with a customer-managed key.",
        "AWS::Logs::LogGroup: KmsKeyId references a customer-managed key."
    ),
    control!(
        "sns-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Notification messages can carry PHI and must be encrypted at rest with a customer-managed key.",
        "AWS::SNS::Topic: KmsMasterKeyId references a customer-managed key (not alias/aws/sns)."
    ),
    control!(
        "sqs-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Queued messages can carry PHI and must be encrypted at rest with a customer-managed key.",
        "AWS::SQS::Queue: KmsMasterKeyId references a customer-managed key (not alias/aws/sqs)."
    ),
    control!(
        "stepfunctions-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "State machine execution history holds step inputs and outputs, which may contain PHI.",
        "AWS::StepFunctions::StateMachine: EncryptionConfiguration Type CUSTOMER_MANAGED_KMS_KEY with a KmsKeyId."
    ),
    control!(
        "glue-kms-encryption",
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Glue jobs write data, logs and bookmarks that must be encrypted with a customer-managed key.",
        "AWS::Glue::SecurityConfiguration: S3 SSE-KMS, CloudWatch SSE-KMS and job bookmarks CSE-KMS, each with a KmsKeyArn; AWS::Glue::Job and AWS::Glue::Crawler name a SecurityConfiguration (CrawlerSecurityConfiguration)."
    ),
    control!(
        "lambda-env-kms-encryption",
        "encryption-at-rest",
        Medium,
        true,
        AT_REST,
        "Function environment variables can hold configuration secrets and must be encrypted with a customer-managed key.",
        "AWS::Lambda::Function with Environment variables: KmsKeyArn references a customer-managed key."
    ),
    control!(
        "apigateway-cache-encryption",
        "encryption-at-rest",
        High,
        true,
        AT_REST,
        "Cached API responses may hold PHI and must be encrypted at rest.",
        "AWS::ApiGateway::Stage: CacheClusterEnabled is true and MethodSettings has an entry for \"/*\" \"*\" with CachingEnabled and CacheDataEncrypted true; every MethodSettings entry that enables caching encrypts it."
    ),
    control!(
        "kms-key-rotation",
        "key-management",
        Medium,
        true,
        &["164.312(a)(2)(iv)"],
        "Rotating key material limits how much data one key version protects.",
        "AWS::KMS::Key (symmetric): EnableKeyRotation is true."
    ),
    control!(
        "kms-key-policy-no-wildcard-principal",
        "key-management",
        High,
        true,
        &["164.312(a)(1)", "164.312(a)(2)(iv)"],
        "A key policy that lets anyone use the key defeats encryption as an access control.",
        "AWS::KMS::Key KeyPolicy: no Allow statement with Principal \"*\" or {AWS: \"*\"} unless it has a Condition."
    ),
    control!(
        "s3-tls-only",
        "transmission-security",
        High,
        false,
        TRANSIT,
        "PHI must never cross the network unencrypted; S3 accepts plain HTTP unless a policy denies it.",
        "AWS::S3::Bucket: an AWS::S3::BucketPolicy on the bucket has a Deny for all principals with Condition Bool aws:SecureTransport false, covering the bucket ARN and its objects (ARN/*)."
    ),
    control!(
        "apigateway-tls12",
        "transmission-security",
        High,
        false,
        TRANSIT,
        "Clients must negotiate TLS 1.2 or later; older protocol versions have known weaknesses.",
        "AWS::ApiGateway::RestApi: SecurityPolicy is TLS_1_2 or a SecurityPolicy_TLS12*/TLS13* policy, and EndpointConfiguration Types is REGIONAL or PRIVATE; AWS::ApiGateway::DomainName(V2): SecurityPolicy likewise."
    ),
    control!(
        "sagemaker-intercontainer-encryption",
        "transmission-security",
        High,
        false,
        TRANSIT,
        "Distributed training exchanges data between instances; that traffic must be encrypted.",
        "AWS::SageMaker::Pipeline training steps: EnableInterContainerTrafficEncryption is true; AWS::SageMaker::MonitoringSchedule (inline job) and *JobDefinition: NetworkConfig EnableInterContainerTrafficEncryption is true."
    ),
    control!(
        "s3-public-access-block",
        "access-control",
        High,
        false,
        ACCESS,
        "A bucket holding PHI must never become public through an ACL or bucket policy.",
        "AWS::S3::Bucket: PublicAccessBlockConfiguration has BlockPublicAcls, BlockPublicPolicy, IgnorePublicAcls and RestrictPublicBuckets all true; OwnershipControls ObjectOwnership is BucketOwnerEnforced (ACLs disabled); AccessControl is not PublicRead, PublicReadWrite or AuthenticatedRead."
    ),
    control!(
        "apigateway-client-certificate",
        "transmission-security",
        Medium,
        true,
        &["164.312(e)(1)", "164.312(d)"],
        "Back ends must be able to verify that requests come from API Gateway.",
        "AWS::ApiGateway::Stage: ClientCertificateId is set."
    ),
    control!(
        "apigateway-waf",
        "access-control",
        Medium,
        true,
        &["164.312(a)(1)", "164.308(a)(1)(ii)(B)"],
        "A web application firewall filters malicious requests before they reach PHI, and its decisions must be logged.",
        "AWS::ApiGateway::Stage: an AWS::WAFv2::WebACLAssociation whose ResourceArn names the stage; AWS::WAFv2::WebACL: an AWS::WAFv2::LoggingConfiguration refers to it."
    ),
    control!(
        "apigateway-method-authorization",
        "access-control",
        High,
        true,
        &["164.312(a)(1)", "164.312(d)"],
        "Every API call must be made by an authenticated, authorised caller.",
        "AWS::ApiGateway::Method: AuthorizationType is set and not NONE (AWS_IAM, COGNITO_USER_POOLS or CUSTOM)."
    ),
    control!(
        "lambda-permission-scoped",
        "access-control",
        High,
        true,
        &["164.312(a)(1)"],
        "A function must only be invocable by the caller it was built for.",
        "AWS::Lambda::Permission: Principal is not \"*\", and a service principal is limited by SourceArn or SourceAccount."
    ),
    control!(
        "iam-no-wildcard-action",
        "access-control",
        High,
        true,
        ACCESS,
        "Least privilege: a role may only do what its job needs.",
        "IAM policies (AWS::IAM::Role Policies, AWS::IAM::Policy, AWS::IAM::ManagedPolicy): no Allow with Action \"*\", \"service:*\" or NotAction."
    ),
    control!(
        "iam-no-wildcard-resource",
        "access-control",
        Medium,
        true,
        ACCESS,
        "Least privilege: a permission must name the resources it applies to.",
        "IAM policies: no Allow with Resource \"*\" or NotResource, except for actions that only support \"*\" (see the list in the docs), and those need a Condition."
    ),
    control!(
        "iam-no-admin-access",
        "access-control",
        High,
        true,
        ACCESS,
        "No workload role may hold administrator rights.",
        "AWS::IAM::Role/Group/User ManagedPolicyArns: no AdministratorAccess; no Allow of \"*\" / \"*:*\" on Resource \"*\"."
    ),
    control!(
        "iam-no-inline-policy",
        "access-control",
        Low,
        true,
        &["164.312(a)(1)", "164.308(a)(4)(ii)(B)"],
        "Managed policies are versioned and reviewable on their own; inline policies hide in roles.",
        "AWS::IAM::Role/User/Group: no Policies property (attach AWS::IAM::ManagedPolicy instead); no AWS::IAM::Policy resources."
    ),
    control!(
        "iam-role-single-service",
        "access-control",
        Medium,
        true,
        ACCESS,
        "One role per job keeps each job's permissions separate and its activity attributable.",
        "AWS::IAM::Role AssumeRolePolicyDocument: the Allow statements trust exactly one Service principal."
    ),
    control!(
        "iam-role-per-job",
        "access-control",
        Medium,
        true,
        &["164.312(a)(1)", "164.308(a)(4)(ii)(B)", "164.312(b)"],
        "A role shared by two jobs gives each the other's permissions and blurs the audit trail.",
        "AWS::IAM::Role: referenced as the execution role of at most one job: Lambda Role, state machine, SageMaker model, pipeline and each pipeline step, notebook, monitoring schedule and job definitions, Glue job and crawler, S3 replication."
    ),
    control!(
        "iam-trust-scoped",
        "access-control",
        High,
        true,
        &["164.312(a)(1)", "164.312(d)"],
        "A role must only be assumable by the service that runs the job.",
        "AWS::IAM::Role AssumeRolePolicyDocument: only Service principals; no Principal \"*\", no account root, no other AWS or federated principal, no NotPrincipal."
    ),
    control!(
        "s3-access-logging",
        "audit-controls",
        Medium,
        true,
        AUDIT,
        "Object-level access to PHI must leave an audit trail.",
        "AWS::S3::Bucket: LoggingConfiguration names a DestinationBucketName. The access-log bucket itself fails and must be waived by the spec."
    ),
    control!(
        "apigateway-access-logging",
        "audit-controls",
        Medium,
        true,
        AUDIT,
        "Every API request must be recorded with caller identity.",
        "AWS::ApiGateway::Stage: AccessLogSetting with DestinationArn and Format; MethodSettings for \"/*\" \"*\" with LoggingLevel ERROR or INFO; TracingEnabled true."
    ),
    control!(
        "s3-event-notifications",
        "audit-controls",
        Low,
        true,
        &["164.312(b)"],
        "Changes to PHI objects must be observable by monitoring and response tooling.",
        "AWS::S3::Bucket: NotificationConfiguration sends events (EventBridgeConfiguration EventBridgeEnabled, or a topic, queue or Lambda configuration)."
    ),
    control!(
        "stepfunctions-logging",
        "audit-controls",
        Medium,
        true,
        AUDIT,
        "Pipeline orchestration must leave a record of every execution.",
        "AWS::StepFunctions::StateMachine: LoggingConfiguration Level ALL or ERROR with a CloudWatch Logs log group destination."
    ),
    control!(
        "log-retention",
        "audit-controls",
        Medium,
        true,
        &["164.312(b)", "164.316(b)(2)(i)"],
        "Audit records must be kept as long as the organisation's retention policy requires.",
        "AWS::Logs::LogGroup: RetentionInDays set and at least the spec's log_retention_days."
    ),
    control!(
        "s3-replication",
        "availability",
        Medium,
        true,
        &["164.308(a)(7)(ii)(A)", "164.312(c)(1)"],
        "A second copy of PHI in another location is the data backup plan for a lost bucket or region.",
        "AWS::S3::Bucket: ReplicationConfiguration with a Role and an Enabled rule; for KMS-encrypted buckets the rule replicates SSE-KMS objects (SourceSelectionCriteria) and sets Destination EncryptionConfiguration ReplicaKmsKeyID."
    ),
    control!(
        "s3-object-lock",
        "integrity",
        Medium,
        true,
        &["164.312(c)(1)", "164.312(c)(2)"],
        "Write-once retention protects PHI and models from alteration or deletion, even by privileged users.",
        "AWS::S3::Bucket: ObjectLockEnabled true and ObjectLockConfiguration with ObjectLockEnabled Enabled and a DefaultRetention rule."
    ),
    control!(
        "s3-versioning",
        "integrity",
        Medium,
        true,
        &["164.312(c)(1)", "164.308(a)(7)"],
        "Versioning protects PHI against improper alteration or deletion and allows recovery.",
        "AWS::S3::Bucket: VersioningConfiguration Status Enabled, and a LifecycleConfiguration with an Enabled rule (so old versions are managed, not kept or lost by accident)."
    ),
    control!(
        "data-store-retain",
        "integrity",
        High,
        true,
        &["164.312(c)(1)", "164.308(a)(7)"],
        "Deleting or replacing a stack must never destroy PHI, keys or audit logs.",
        "AWS::S3::Bucket, AWS::KMS::Key, AWS::Logs::LogGroup, AWS::SageMaker::ModelPackageGroup: DeletionPolicy and UpdateReplacePolicy are Retain."
    ),
    control!(
        "sagemaker-endpoint-alarm",
        "availability",
        Medium,
        true,
        &["164.308(a)(1)(ii)(D)", "164.308(a)(7)"],
        "Endpoint failures must be noticed and acted upon.",
        "AWS::SageMaker::Endpoint: an AWS::CloudWatch::Alarm with dimension EndpointName referencing it (GetAtt EndpointName or its literal name)."
    ),
    control!(
        "alarm-actions",
        "availability",
        Medium,
        true,
        &["164.312(b)", "164.308(a)(1)(ii)(D)"],
        "An alarm nobody is told about protects nothing.",
        "AWS::CloudWatch::Alarm: ActionsEnabled is not false, AlarmActions and InsufficientDataActions each have at least one entry."
    ),
    control!(
        "sagemaker-network-isolation",
        "isolation",
        High,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Containers handling PHI must not be able to send it anywhere on their own.",
        "AWS::SageMaker::Model EnableNetworkIsolation true; pipeline training steps EnableNetworkIsolation true; processing steps NetworkConfig.EnableNetworkIsolation true."
    ),
    control!(
        "sagemaker-vpc",
        "isolation",
        High,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Model containers and jobs must run inside the hospital's VPC.",
        "AWS::SageMaker::Model VpcConfig; pipeline training steps VpcConfig; processing steps NetworkConfig.VpcConfig (each with Subnets and SecurityGroupIds)."
    ),
    control!(
        "sagemaker-notebook-hardening",
        "isolation",
        High,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Notebooks must not give users root or a direct path to the internet.",
        "AWS::SageMaker::NotebookInstance: RootAccess Disabled, DirectInternetAccess Disabled, SubnetId set, KmsKeyId set, InstanceMetadataServiceConfiguration MinimumInstanceMetadataServiceVersion 2."
    ),
    control!(
        "lambda-in-vpc",
        "isolation",
        Medium,
        true,
        &["164.312(a)(1)", "164.312(e)(1)"],
        "Functions touching PHI must run inside the VPC so their traffic stays private.",
        "AWS::Lambda::Function: VpcConfig with SubnetIds and SecurityGroupIds."
    ),
    control!(
        "lambda-resilience",
        "availability",
        Low,
        true,
        &["164.308(a)(7)"],
        "A function must not drop failed events nor starve others of concurrency.",
        "AWS::Lambda::Function: DeadLetterConfig TargetArn and ReservedConcurrentExecutions set."
    ),
    control!(
        "data-classification-tag",
        "governance",
        Low,
        true,
        &["164.308(a)(1)(ii)(A)", "164.310(d)(1)"],
        "Knowing which resources hold PHI is the basis of risk analysis and media controls.",
        "Every resource of a taggable type (see the list in the docs) has a tag with key data-classification."
    ),
    control!(
        "waiver-valid",
        "governance",
        High,
        false,
        &["164.308(a)(1)(ii)(B)", "164.308(a)(8)"],
        "Accepted risks must be reviewed; an expired waiver no longer excuses a failure.",
        "Each waiver in the spec is not expired on the audit date."
    ),
];

/// The control with this id.
pub fn control(id: &str) -> Option<&'static Control> {
    CONTROLS.iter().find(|c| c.id == id)
}

/// Resource types that accept `Tags` and are therefore checked by
/// `data-classification-tag`.
pub const TAGGABLE_TYPES: &[&str] = &[
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::ClientCertificate",
    "AWS::ApiGateway::DomainName",
    "AWS::ApiGateway::DomainNameV2",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::UsagePlan",
    "AWS::CloudWatch::Alarm",
    "AWS::Glue::Crawler",
    "AWS::Glue::DataQualityRuleset",
    "AWS::Glue::Job",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SageMaker::DataQualityJobDefinition",
    "AWS::SageMaker::Endpoint",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Model",
    "AWS::SageMaker::ModelBiasJobDefinition",
    "AWS::SageMaker::ModelExplainabilityJobDefinition",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::SageMaker::ModelQualityJobDefinition",
    "AWS::SageMaker::MonitoringSchedule",
    "AWS::SageMaker::NotebookInstance",
    "AWS::SageMaker::Pipeline",
    "AWS::StepFunctions::StateMachine",
    "AWS::WAFv2::WebACL",
];

/// IAM actions that do not support resource-level permissions, so their
/// statements must use `Resource: "*"`; such statements need a `Condition`.
pub const STAR_ONLY_ACTIONS: &[&str] = &[
    "cloudwatch:PutMetricData",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
];

/// Controls a waiver may never name: customer-managed encryption at rest of
/// data stores, TLS in transit and S3 public access.
pub fn never_waivable() -> impl Iterator<Item = &'static Control> {
    CONTROLS.iter().filter(|c| !c.waivable)
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The `docs/controls.md` text, generated from the catalogue.
pub fn controls_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Audit controls\n\n");
    out.push_str(
        "<!-- Generated from src/audit/catalogue.rs; a test keeps this file in step. -->\n\n",
    );
    out.push_str(
        "`dxops audit` judges rendered CloudFormation templates against these controls. \
         Sections refer to the HIPAA Security Rule, 45 CFR Part 164. A waiver \
         (`compliance.waivers` in the spec) may excuse a failure only where *Waivable* is yes.\n\n",
    );
    out.push_str("| Id | Family | Severity | Waivable | 45 CFR | Rationale | Check |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for c in CONTROLS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            c.id,
            c.family,
            c.severity.as_str(),
            if c.waivable { "yes" } else { "no" },
            c.cfr.join(", "),
            escape_cell(c.rationale),
            escape_cell(c.check),
        ));
    }
    out.push_str("\n## Taggable resource types\n\n");
    out.push_str("`data-classification-tag` applies to these types:\n\n");
    for t in TAGGABLE_TYPES {
        out.push_str(&format!("- `{t}`\n"));
    }
    out.push_str("\n## Actions that only support `Resource: \"*\"`\n\n");
    out.push_str(
        "`iam-no-wildcard-resource` accepts `Resource: \"*\"` only when every action of the \
         statement is in this list and the statement has a `Condition`:\n\n",
    );
    for a in STAR_ONLY_ACTIONS {
        out.push_str(&format!("- `{a}`\n"));
    }
    out.push_str("\n## Waivers\n\n");
    out.push_str(
        "A waiver names a control (`rule`), a resource (`resource`: a logical id, or \
         `stack/LogicalId` to restrict it to one stack), a `reason`, an `owner` and an \
         `expires` date (YYYY-MM-DD). A waiver past its expiry date no longer applies and is \
         reported under `waiver-valid`; a waiver that matches no failure is reported as a \
         warning. These controls can never be waived: ",
    );
    let ids: Vec<String> = never_waivable().map(|c| format!("`{}`", c.id)).collect();
    out.push_str(&ids.join(", "));
    out.push_str(".\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_cfr_section(s: &str) -> bool {
        // 164.3xx followed by one or more parenthesised parts: (a), (1), (ii), (A).
        let Some(rest) = s.strip_prefix("164.3") else {
            return false;
        };
        let (num, parts) = rest.split_at(rest.find('(').unwrap_or(rest.len()));
        if num.len() != 2 || !num.bytes().all(|b| b.is_ascii_digit()) || parts.is_empty() {
            return false;
        }
        parts.split_inclusive(')').all(|p| {
            p.starts_with('(')
                && p.ends_with(')')
                && p.len() > 2
                && p[1..p.len() - 1].bytes().all(|b| b.is_ascii_alphanumeric())
        })
    }

    #[test]
    fn ids_are_unique_kebab_case_and_sections_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CONTROLS {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.split('-').all(|w| !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{} is not kebab-case",
                c.id
            );
            assert!(!c.cfr.is_empty(), "{} serves no section", c.id);
            for s in c.cfr {
                assert!(is_cfr_section(s), "{}: bad section {s}", c.id);
            }
            assert!(
                !c.rationale.contains('\n') && c.rationale.ends_with('.'),
                "{}",
                c.id
            );
        }
        assert!(!is_cfr_section("164.312"));
        assert!(!is_cfr_section("164.312(a"));
    }

    #[test]
    fn never_waivable_set_is_encryption_transit_and_public_access() {
        let fixed: Vec<&str> = never_waivable().map(|c| c.id).collect();
        for id in [
            "s3-kms-encryption",
            "s3-tls-only",
            "s3-public-access-block",
            "apigateway-tls12",
            "sagemaker-intercontainer-encryption",
        ] {
            assert!(fixed.contains(&id), "{id}");
        }
        for c in never_waivable() {
            assert!(
                matches!(
                    c.family,
                    "encryption-at-rest"
                        | "transmission-security"
                        | "access-control"
                        | "governance"
                ),
                "{} ({})",
                c.id,
                c.family
            );
        }
        assert!(control("s3-access-logging").is_some_and(|c| c.waivable));
    }

    #[test]
    fn lists_are_sorted_for_stable_docs() {
        assert!(TAGGABLE_TYPES.windows(2).all(|w| w[0] < w[1]));
        let mut actions = STAR_ONLY_ACTIONS.to_vec();
        actions.sort();
        assert_eq!(actions, STAR_ONLY_ACTIONS);
    }
}
