//! The checks behind each control. Each check looks at the resources it
//! applies to and records one observation per judged item: a pass, or a
//! failure with the property path at fault.

use std::collections::BTreeSet;

use serde_json::Value;

use super::catalogue::{STAR_ONLY_ACTIONS, TAGGABLE_TYPES};
use super::template::{
    Resource, Template, actions, arn_text, cmk, get, is_false, is_true, items, principal_is_star,
    ref_target, statements, str_of,
};

/// One judgement of one control on one resource (or part of it).
#[derive(Debug, Clone)]
pub(crate) struct Observation {
    pub control: &'static str,
    pub logical_id: String,
    pub pointer: String,
    pub pass: bool,
    pub message: String,
    /// For findings inside an embedded JSON document (a pipeline definition
    /// body): the pointer within that document.
    pub inner: Option<String>,
}

struct Out<'t> {
    obs: Vec<Observation>,
    tpl: &'t Template<'t>,
}

impl Out<'_> {
    fn pass(
        &mut self,
        control: &'static str,
        r: &Resource,
        pointer: String,
        message: impl Into<String>,
    ) {
        self.record(control, r, pointer, true, message.into());
    }

    fn fail(
        &mut self,
        control: &'static str,
        r: &Resource,
        pointer: String,
        message: impl Into<String>,
    ) {
        self.record(control, r, pointer, false, message.into());
    }

    fn record(
        &mut self,
        control: &'static str,
        r: &Resource,
        pointer: String,
        pass: bool,
        message: String,
    ) {
        self.obs.push(Observation {
            control,
            logical_id: r.id.to_string(),
            pointer,
            pass,
            message,
            inner: None,
        });
    }

    /// Record a list of problems, or one pass when there are none.
    fn judge(
        &mut self,
        control: &'static str,
        r: &Resource,
        pass_ptr: String,
        pass_msg: &str,
        problems: Vec<(String, String)>,
    ) {
        if problems.is_empty() {
            self.pass(control, r, pass_ptr, pass_msg);
        } else {
            for (ptr, msg) in problems {
                self.fail(control, r, ptr, msg);
            }
        }
    }

    /// Pass/fail of a KMS reference at `path`.
    fn key(&mut self, control: &'static str, r: &Resource, path: &[&str]) {
        let ptr = r.ptr(path);
        match cmk(self.tpl, r.prop(path)) {
            Ok(()) => self.pass(
                control,
                r,
                ptr,
                format!("{} names a customer-managed key", path.join(".")),
            ),
            Err(e) => self.fail(control, r, ptr, format!("{}: {e}", path.join("."))),
        }
    }
}

/// Run every check on one template.
pub(crate) fn run(tpl: &Template) -> Vec<Observation> {
    let mut out = Out {
        obs: Vec::new(),
        tpl,
    };
    s3(&mut out);
    sagemaker(&mut out);
    simple_encryption(&mut out);
    kms(&mut out);
    apigateway(&mut out);
    iam(&mut out);
    role_per_job(&mut out);
    lambda(&mut out);
    retain(&mut out);
    tags(&mut out);
    out.obs
}

// ---------------------------------------------------------------- S3

const BUCKET: &str = "AWS::S3::Bucket";

fn s3(out: &mut Out) {
    let tpl = out.tpl;
    let buckets = tpl.of_type(BUCKET);
    // Buckets that receive other buckets' access logs.
    let log_targets: BTreeSet<String> = buckets
        .iter()
        .filter_map(|b| b.prop(&["LoggingConfiguration", "DestinationBucketName"]))
        .filter_map(|v| {
            ref_target(v)
                .map(String::from)
                .or_else(|| v.as_str().map(String::from))
        })
        .collect();
    for b in &buckets {
        // Encryption at rest.
        let rules = items(b.prop(&["BucketEncryption", "ServerSideEncryptionConfiguration"]));
        let mut enc_problem = Some("BucketEncryption has no aws:kms rule".to_string());
        for rule in rules {
            let def = rule
                .get("ServerSideEncryptionByDefault")
                .unwrap_or(&Value::Null);
            let alg = str_of(def.get("SSEAlgorithm")).unwrap_or("");
            if alg != "aws:kms" && alg != "aws:kms:dsse" {
                enc_problem = Some(format!("SSEAlgorithm is `{alg}`, not aws:kms"));
                continue;
            }
            match cmk(tpl, def.get("KMSMasterKeyID")) {
                Ok(()) => {
                    enc_problem = None;
                    break;
                }
                Err(e) => enc_problem = Some(format!("KMSMasterKeyID: {e}")),
            }
        }
        let ptr = b.ptr(&["BucketEncryption"]);
        match enc_problem {
            None => out.pass(
                "s3-kms-encryption",
                b,
                ptr,
                "encrypted with a customer-managed KMS key",
            ),
            Some(m) => out.fail("s3-kms-encryption", b, ptr, m),
        }

        // Public access block.
        let pab = b
            .prop(&["PublicAccessBlockConfiguration"])
            .unwrap_or(&Value::Null);
        let missing: Vec<&str> = [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ]
        .into_iter()
        .filter(|k| !is_true(pab.get(*k)))
        .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push((
                b.ptr(&["PublicAccessBlockConfiguration"]),
                format!("not true: {}", missing.join(", ")),
            ));
        }
        let enforced = items(b.prop(&["OwnershipControls", "Rules"]))
            .iter()
            .any(|r| str_of(r.get("ObjectOwnership")) == Some("BucketOwnerEnforced"));
        if !enforced {
            problems.push((b.ptr(&["OwnershipControls"]), "OwnershipControls ObjectOwnership is not BucketOwnerEnforced, so ACLs stay enabled".to_string()));
        }
        if let Some(acl) = str_of(b.prop(&["AccessControl"])) {
            if matches!(acl, "PublicRead" | "PublicReadWrite" | "AuthenticatedRead") {
                problems.push((
                    b.ptr(&["AccessControl"]),
                    format!("AccessControl {acl} grants access beyond the account"),
                ));
            }
        }
        out.judge(
            "s3-public-access-block",
            b,
            b.ptr(&["PublicAccessBlockConfiguration"]),
            "all four public access blocks are on, no public ACL",
            problems,
        );

        // Replication.
        replication(out, b);

        // Versioning and lifecycle.
        let mut problems = Vec::new();
        if str_of(b.prop(&["VersioningConfiguration", "Status"])) != Some("Enabled") {
            problems.push((
                b.ptr(&["VersioningConfiguration", "Status"]),
                "VersioningConfiguration Status is not Enabled".to_string(),
            ));
        }
        let lifecycle = items(b.prop(&["LifecycleConfiguration", "Rules"]))
            .iter()
            .any(|r| str_of(r.get("Status")) == Some("Enabled"));
        if !lifecycle {
            problems.push((
                b.ptr(&["LifecycleConfiguration"]),
                "no LifecycleConfiguration rule is Enabled".to_string(),
            ));
        }
        out.judge(
            "s3-versioning",
            b,
            b.ptr(&["VersioningConfiguration"]),
            "versioned, with a lifecycle for old versions",
            problems,
        );

        // Object lock.
        let mut problems = Vec::new();
        if !is_true(b.prop(&["ObjectLockEnabled"])) {
            problems.push((
                b.ptr(&["ObjectLockEnabled"]),
                "ObjectLockEnabled is not true".to_string(),
            ));
        }
        let lock = b.prop(&["ObjectLockConfiguration"]).unwrap_or(&Value::Null);
        if str_of(lock.get("ObjectLockEnabled")) != Some("Enabled")
            || get(lock, &["Rule", "DefaultRetention"]).is_none()
        {
            problems.push((
                b.ptr(&["ObjectLockConfiguration"]),
                "ObjectLockConfiguration is not Enabled with a DefaultRetention rule".to_string(),
            ));
        }
        out.judge(
            "s3-object-lock",
            b,
            b.ptr(&["ObjectLockConfiguration"]),
            "objects are write-once for the retention period",
            problems,
        );

        // Event notifications.
        let n = b
            .prop(&["NotificationConfiguration"])
            .unwrap_or(&Value::Null);
        let notifies = is_true(get(n, &["EventBridgeConfiguration", "EventBridgeEnabled"]))
            || [
                "TopicConfigurations",
                "QueueConfigurations",
                "LambdaConfigurations",
            ]
            .iter()
            .any(|k| !items(n.get(*k)).is_empty());
        let ptr = b.ptr(&["NotificationConfiguration"]);
        if notifies {
            out.pass(
                "s3-event-notifications",
                b,
                ptr,
                "object events are published",
            );
        } else {
            out.fail(
                "s3-event-notifications",
                b,
                ptr,
                "NotificationConfiguration publishes no events",
            );
        }

        // Access logging.
        let ptr = b.ptr(&["LoggingConfiguration"]);
        if b.prop(&["LoggingConfiguration", "DestinationBucketName"])
            .is_some()
        {
            out.pass(
                "s3-access-logging",
                b,
                ptr,
                "server access logs are delivered",
            );
        } else if log_targets.contains(b.id)
            || str_of(b.prop(&["BucketName"])).is_some_and(|n| log_targets.contains(n))
        {
            out.fail("s3-access-logging", b, ptr, "this is the access-log bucket; it has no LoggingConfiguration and must be waived in the spec");
        } else {
            out.fail(
                "s3-access-logging",
                b,
                ptr,
                "LoggingConfiguration with DestinationBucketName is missing",
            );
        }

        // TLS only.
        tls_only(out, b);
    }
}

fn replication(out: &mut Out, b: &Resource) {
    let base = ["ReplicationConfiguration"];
    let Some(cfg) = b.prop(&base) else {
        out.fail(
            "s3-replication",
            b,
            b.ptr(&base),
            "ReplicationConfiguration is missing",
        );
        return;
    };
    let mut problems = Vec::new();
    if cfg.get("Role").is_none() {
        problems.push((
            b.ptr(&[base[0], "Role"]),
            "ReplicationConfiguration has no Role".to_string(),
        ));
    }
    let enabled: Vec<&Value> = items(cfg.get("Rules"))
        .into_iter()
        .filter(|r| str_of(r.get("Status")) == Some("Enabled"))
        .collect();
    if enabled.is_empty() {
        problems.push((
            b.ptr(&[base[0], "Rules"]),
            "no replication rule is Enabled".to_string(),
        ));
    }
    let kms = items(b.prop(&["BucketEncryption", "ServerSideEncryptionConfiguration"]))
        .iter()
        .any(|r| {
            str_of(get(r, &["ServerSideEncryptionByDefault", "SSEAlgorithm"]))
                .is_some_and(|a| a.starts_with("aws:kms"))
        });
    let kms_replicated = enabled.iter().any(|r| {
        str_of(get(
            r,
            &[
                "SourceSelectionCriteria",
                "SseKmsEncryptedObjects",
                "Status",
            ],
        )) == Some("Enabled")
            && get(
                r,
                &["Destination", "EncryptionConfiguration", "ReplicaKmsKeyID"],
            )
            .is_some()
    });
    if kms && !enabled.is_empty() && !kms_replicated {
        problems.push((b.ptr(&[base[0], "Rules"]), "no enabled rule replicates SSE-KMS objects (SourceSelectionCriteria SseKmsEncryptedObjects and Destination EncryptionConfiguration ReplicaKmsKeyID)".to_string()));
    }
    out.judge(
        "s3-replication",
        b,
        b.ptr(&base),
        "replicated to a second bucket",
        problems,
    );
}

fn tls_only(out: &mut Out, b: &Resource) {
    let tpl = out.tpl;
    let name = str_of(b.prop(&["BucketName"]));
    let mut forms = vec![
        format!("${{{}.Arn}}", b.id),
        format!("arn:aws:s3:::${{{}}}", b.id),
        format!("arn:${{AWS::Partition}}:s3:::${{{}}}", b.id),
    ];
    if let Some(n) = name {
        forms.push(format!("arn:aws:s3:::{n}"));
        forms.push(format!("arn:${{AWS::Partition}}:s3:::{n}"));
    }
    let (mut bucket_covered, mut objects_covered) = (false, false);
    let mut policy_ptr: Option<String> = None;
    for p in tpl.of_type("AWS::S3::BucketPolicy") {
        let target = p.prop(&["Bucket"]);
        let ours = match target {
            Some(v) => ref_target(v) == Some(b.id) || (name.is_some() && v.as_str() == name),
            None => false,
        };
        if !ours {
            continue;
        }
        let doc_ptr = p.ptr(&["PolicyDocument"]);
        policy_ptr.get_or_insert(doc_ptr.clone());
        let Some(doc) = p.prop(&["PolicyDocument"]) else {
            continue;
        };
        for (_, stmt) in statements(doc, &doc_ptr) {
            let deny = str_of(stmt.get("Effect")) == Some("Deny");
            let all_actions = actions(stmt).iter().any(|a| *a == "s3:*" || *a == "*");
            let insecure = stmt
                .get("Condition")
                .and_then(|c| c.get("Bool"))
                .map(|b| is_false(b.get("aws:SecureTransport")))
                .unwrap_or(false);
            if !(deny && all_actions && insecure && principal_is_star(stmt.get("Principal"))) {
                continue;
            }
            for res in items(stmt.get("Resource")) {
                let Some(text) = arn_text(res) else { continue };
                if forms.contains(&text) {
                    bucket_covered = true;
                }
                if let Some(base) = text.strip_suffix("/*") {
                    if forms.iter().any(|f| f == base) {
                        objects_covered = true;
                    }
                }
            }
        }
    }
    let has_policy = policy_ptr.is_some();
    let ptr = policy_ptr.unwrap_or_else(|| b.ptr(&[]));
    match (has_policy, bucket_covered, objects_covered) {
        (_, true, true) => out.pass(
            "s3-tls-only",
            b,
            ptr,
            "the bucket policy denies requests without TLS",
        ),
        (false, _, _) => out.fail(
            "s3-tls-only",
            b,
            ptr,
            "no bucket policy denies aws:SecureTransport false for this bucket",
        ),
        (true, bc, _) => out.fail(
            "s3-tls-only",
            b,
            ptr,
            format!(
                "the TLS-only Deny does not cover {}",
                if bc {
                    "the bucket's objects (ARN/*)"
                } else {
                    "the bucket ARN"
                }
            ),
        ),
    }
}

// ---------------------------------------------------------------- SageMaker

fn sagemaker(out: &mut Out) {
    let tpl = out.tpl;
    for ec in tpl.of_type("AWS::SageMaker::EndpointConfig") {
        out.key("sagemaker-endpoint-kms-encryption", &ec, &["KmsKeyId"]);
    }
    for m in tpl.of_type("AWS::SageMaker::Model") {
        let ptr = m.ptr(&["EnableNetworkIsolation"]);
        if is_true(m.prop(&["EnableNetworkIsolation"])) {
            out.pass(
                "sagemaker-network-isolation",
                &m,
                ptr,
                "network isolation is enabled",
            );
        } else {
            out.fail(
                "sagemaker-network-isolation",
                &m,
                ptr,
                "EnableNetworkIsolation is not true",
            );
        }
        vpc_config(
            out,
            &m,
            &["VpcConfig"],
            m.prop(&["VpcConfig"]),
            "Subnets",
            "VpcConfig",
        );
    }
    for n in tpl.of_type("AWS::SageMaker::NotebookInstance") {
        let mut problems = Vec::new();
        for (k, want) in [
            ("RootAccess", "Disabled"),
            ("DirectInternetAccess", "Disabled"),
        ] {
            if str_of(n.prop(&[k])) != Some(want) {
                problems.push((n.ptr(&[k]), format!("{k} is not {want}")));
            }
        }
        if n.prop(&["SubnetId"]).is_none() {
            problems.push((n.ptr(&["SubnetId"]), "SubnetId is not set".into()));
        }
        let imds = [
            "InstanceMetadataServiceConfiguration",
            "MinimumInstanceMetadataServiceVersion",
        ];
        let v2 = n
            .prop(&imds)
            .is_some_and(|v| v.as_str() == Some("2") || v.as_u64() == Some(2));
        if !v2 {
            problems.push((
                n.ptr(&imds),
                "instance metadata service v1 is allowed; require version 2".into(),
            ));
        }
        if let Err(e) = cmk(tpl, n.prop(&["KmsKeyId"])) {
            problems.push((n.ptr(&["KmsKeyId"]), format!("KmsKeyId: {e}")));
        }
        out.judge(
            "sagemaker-notebook-hardening",
            &n,
            n.ptr(&[]),
            "no root, no direct internet, in a subnet, encrypted",
            problems,
        );
    }
    // Endpoint alarms.
    let alarms = tpl.of_type("AWS::CloudWatch::Alarm");
    for e in tpl.of_type("AWS::SageMaker::Endpoint") {
        let name = str_of(e.prop(&["EndpointName"]));
        let targets = |v: &Value| -> bool {
            if let Some(a) = v.get("Fn::GetAtt").and_then(Value::as_array) {
                return a.first().and_then(Value::as_str) == Some(e.id)
                    && a.get(1).and_then(Value::as_str) == Some("EndpointName");
            }
            if let Some(s) = v.get("Fn::GetAtt").and_then(Value::as_str) {
                return s == format!("{}.EndpointName", e.id);
            }
            name.is_some() && v.as_str() == name
        };
        let found = alarms.iter().find(|a| {
            let mut dims: Vec<&Value> = items(a.prop(&["Dimensions"]));
            for m in items(a.prop(&["Metrics"])) {
                dims.extend(items(get(m, &["MetricStat", "Metric", "Dimensions"])));
            }
            dims.iter().any(|d| {
                str_of(d.get("Name")) == Some("EndpointName") && d.get("Value").is_some_and(targets)
            })
        });
        let ptr = e.ptr(&[]);
        match found {
            Some(a) => out.pass(
                "sagemaker-endpoint-alarm",
                &e,
                ptr,
                format!("alarm `{}` watches this endpoint", a.id),
            ),
            None => out.fail(
                "sagemaker-endpoint-alarm",
                &e,
                ptr,
                "no CloudWatch alarm has dimension EndpointName referencing this endpoint",
            ),
        }
    }
    for a in &alarms {
        let mut problems = Vec::new();
        if is_false(a.prop(&["ActionsEnabled"])) {
            problems.push((
                a.ptr(&["ActionsEnabled"]),
                "ActionsEnabled is false".to_string(),
            ));
        }
        for k in ["AlarmActions", "InsufficientDataActions"] {
            if items(a.prop(&[k])).is_empty() {
                problems.push((a.ptr(&[k]), format!("{k} is empty")));
            }
        }
        out.judge(
            "alarm-actions",
            a,
            a.ptr(&["AlarmActions"]),
            "notifies when it fires",
            problems,
        );
    }
    // Monitoring schedules and job definitions.
    for s in tpl.of_type("AWS::SageMaker::MonitoringSchedule") {
        let base = ["MonitoringScheduleConfig", "MonitoringJobDefinition"];
        if s.prop(&base).is_none() {
            continue; // refers to a separate job definition, judged on its own
        }
        let vol = [
            base[0],
            base[1],
            "MonitoringResources",
            "ClusterConfig",
            "VolumeKmsKeyId",
        ];
        let outk = [base[0], base[1], "MonitoringOutputConfig", "KmsKeyId"];
        let mut problems = Vec::new();
        for path in [&vol[..], &outk[..]] {
            if let Err(e) = cmk(tpl, s.prop(path)) {
                problems.push((s.ptr(path), format!("{}: {e}", path[2..].join("."))));
            }
        }
        out.judge(
            "sagemaker-job-kms-encryption",
            &s,
            s.ptr(&base),
            "volume and output keys are customer-managed",
            problems,
        );
        intercontainer(
            out,
            &s,
            &[
                "MonitoringScheduleConfig",
                "MonitoringJobDefinition",
                "NetworkConfig",
            ],
        );
    }
    for (ty, output) in [
        (
            "AWS::SageMaker::DataQualityJobDefinition",
            "DataQualityJobOutputConfig",
        ),
        (
            "AWS::SageMaker::ModelQualityJobDefinition",
            "ModelQualityJobOutputConfig",
        ),
        (
            "AWS::SageMaker::ModelBiasJobDefinition",
            "ModelBiasJobOutputConfig",
        ),
        (
            "AWS::SageMaker::ModelExplainabilityJobDefinition",
            "ModelExplainabilityJobOutputConfig",
        ),
    ] {
        for d in tpl.of_type(ty) {
            let mut problems = Vec::new();
            for path in [
                &["JobResources", "ClusterConfig", "VolumeKmsKeyId"][..],
                &[output, "KmsKeyId"][..],
            ] {
                if let Err(e) = cmk(tpl, d.prop(path)) {
                    problems.push((d.ptr(path), format!("{}: {e}", path.join("."))));
                }
            }
            out.judge(
                "sagemaker-job-kms-encryption",
                &d,
                d.ptr(&[]),
                "volume and output keys are customer-managed",
                problems,
            );
            intercontainer(out, &d, &["NetworkConfig"]);
        }
    }
    for p in tpl.of_type("AWS::SageMaker::Pipeline") {
        pipeline(out, &p);
    }
}

/// Inter-container traffic encryption of a monitoring job's network config.
fn intercontainer(out: &mut Out, r: &Resource, network: &[&str]) {
    let mut path = network.to_vec();
    path.push("EnableInterContainerTrafficEncryption");
    let ptr = r.ptr(&path);
    if is_true(r.prop(&path)) {
        out.pass(
            "sagemaker-intercontainer-encryption",
            r,
            ptr,
            "traffic between job instances is encrypted",
        );
    } else {
        out.fail(
            "sagemaker-intercontainer-encryption",
            r,
            ptr,
            format!("{} is not true", path.join(".")),
        );
    }
}

fn vpc_config(
    out: &mut Out,
    r: &Resource,
    path: &[&str],
    cfg: Option<&Value>,
    subnets: &str,
    what: &str,
) {
    let ptr = r.ptr(path);
    let ok = cfg
        .map(|c| {
            c.get(subnets)
                .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                && c.get("SecurityGroupIds")
                    .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
        })
        .unwrap_or(false);
    if ok {
        out.pass(
            "sagemaker-vpc",
            r,
            ptr,
            format!("{what} has subnets and security groups"),
        );
    } else {
        out.fail(
            "sagemaker-vpc",
            r,
            ptr,
            format!("{what} with {subnets} and SecurityGroupIds is missing"),
        );
    }
}

/// Where each role is used as an execution role: role logical id → users.
fn role_users(tpl: &Template) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut users: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut add = |v: Option<&Value>, user: String| {
        let id = v.and_then(|v| {
            ref_target(v).map(String::from).or_else(|| {
                let t = v.as_str()?;
                let inner = t.strip_prefix("${")?.strip_suffix('}')?;
                Some(inner.split('.').next().unwrap_or(inner).to_string())
            })
        });
        if let Some(id) = id {
            users.entry(id).or_default().push(user);
        }
    };
    const ROLE_PROPERTIES: &[(&str, &[&str])] = &[
        ("AWS::Lambda::Function", &["Role"]),
        ("AWS::StepFunctions::StateMachine", &["RoleArn"]),
        ("AWS::SageMaker::Model", &["ExecutionRoleArn"]),
        ("AWS::SageMaker::Pipeline", &["RoleArn"]),
        ("AWS::SageMaker::NotebookInstance", &["RoleArn"]),
        (
            "AWS::SageMaker::MonitoringSchedule",
            &[
                "MonitoringScheduleConfig",
                "MonitoringJobDefinition",
                "RoleArn",
            ],
        ),
        ("AWS::SageMaker::DataQualityJobDefinition", &["RoleArn"]),
        ("AWS::SageMaker::ModelQualityJobDefinition", &["RoleArn"]),
        ("AWS::SageMaker::ModelBiasJobDefinition", &["RoleArn"]),
        (
            "AWS::SageMaker::ModelExplainabilityJobDefinition",
            &["RoleArn"],
        ),
        ("AWS::Glue::Job", &["Role"]),
        ("AWS::Glue::Crawler", &["Role"]),
        ("AWS::S3::Bucket", &["ReplicationConfiguration", "Role"]),
    ];
    for r in tpl.resources() {
        for (ty, path) in ROLE_PROPERTIES {
            if r.ty == *ty {
                add(r.prop(path), format!("{} ({})", r.id, path.join(".")));
            }
        }
        if r.ty == "AWS::SageMaker::Pipeline" {
            if let Ok(def) = pipeline_body(&r) {
                let mut steps = Vec::new();
                if let Some(s) = def.get("Steps") {
                    collect_steps(s, "/Steps", &mut steps);
                }
                steps.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, step) in steps {
                    let name = str_of(step.get("Name")).unwrap_or("?");
                    let role = get(step, &["Arguments", "RoleArn"])
                        .or_else(|| get(step, &["Arguments", "TrainingJobDefinition", "RoleArn"]));
                    add(role, format!("{} step `{name}`", r.id));
                }
            }
        }
    }
    users
}

fn role_per_job(out: &mut Out) {
    let users = role_users(out.tpl);
    for r in out.tpl.of_type("AWS::IAM::Role") {
        let used = users.get(r.id).map(Vec::as_slice).unwrap_or(&[]);
        let ptr = r.ptr(&[]);
        if used.len() <= 1 {
            let by = used
                .first()
                .map(String::as_str)
                .unwrap_or("no job in this template");
            out.pass("iam-role-per-job", &r, ptr, format!("used by {by}"));
        } else {
            out.fail(
                "iam-role-per-job",
                &r,
                ptr,
                format!("shared by {} jobs: {}", used.len(), used.join(", ")),
            );
        }
    }
}

/// The pipeline definition JSON, or why it cannot be read.
fn pipeline_body(p: &Resource) -> Result<Value, String> {
    let def = p
        .prop(&["PipelineDefinition"])
        .ok_or("PipelineDefinition is missing")?;
    let body = def.get("PipelineDefinitionBody").ok_or(
        "the definition is not inline (PipelineDefinitionS3Location); inline it as PipelineDefinitionBody so it can be audited",
    )?;
    let text = match body {
        Value::String(s) => s.as_str(),
        Value::Object(o) => match o.get("Fn::Sub") {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Array(a)) => a
                .first()
                .and_then(Value::as_str)
                .ok_or("Fn::Sub has no template string")?,
            _ => return Err("PipelineDefinitionBody is neither a string nor Fn::Sub".into()),
        },
        _ => return Err("PipelineDefinitionBody is not a string".into()),
    };
    serde_json::from_str(text).map_err(|e| format!("PipelineDefinitionBody is not valid JSON: {e}"))
}

/// Steps with their pointer inside the definition, descending into
/// condition steps.
fn collect_steps<'v>(steps: &'v Value, base: &str, out: &mut Vec<(String, &'v Value)>) {
    for (i, step) in steps.as_array().into_iter().flatten().enumerate() {
        let ptr = format!("{base}/{i}");
        for branch in ["IfSteps", "ElseSteps"] {
            if let Some(inner) = get(step, &["Arguments", branch]) {
                collect_steps(inner, &format!("{ptr}/Arguments/{branch}"), out);
            }
        }
        out.push((ptr, step));
    }
}

fn pipeline(out: &mut Out, p: &Resource) {
    let body_ptr = p.ptr(&["PipelineDefinition", "PipelineDefinitionBody"]);
    let def = match pipeline_body(p) {
        Ok(d) => d,
        Err(e) => {
            out.fail(
                "sagemaker-job-kms-encryption",
                p,
                body_ptr,
                format!("cannot judge the pipeline's jobs: {e}"),
            );
            return;
        }
    };
    let mut steps = Vec::new();
    if let Some(s) = def.get("Steps") {
        collect_steps(s, "/Steps", &mut steps);
    }
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    for (sp, step) in steps {
        let start = out.obs.len();
        judge_step(out, p, &body_ptr, &sp, step);
        for o in &mut out.obs[start..] {
            o.inner = Some(sp.clone());
        }
    }
}

fn judge_step(out: &mut Out, p: &Resource, body_ptr: &str, sp: &str, step: &Value) {
    let tpl = out.tpl;
    let body_ptr = body_ptr.to_string();
    let key_ok = |v: Option<&Value>| cmk(tpl, v);
    let name = str_of(step.get("Name")).unwrap_or("?");
    let ty = str_of(step.get("Type")).unwrap_or("");
    let args = step.get("Arguments").unwrap_or(&Value::Null);
    let (args, ap) = if ty == "Tuning" {
        (
            args.get("TrainingJobDefinition").unwrap_or(&Value::Null),
            format!("{sp}/Arguments/TrainingJobDefinition"),
        )
    } else {
        (args, format!("{sp}/Arguments"))
    };
    let label = |path: &str| format!("step `{name}` ({ty}) {ap}/{path}");
    let mut enc = Vec::new();
    let key_paths: &[&[&str]] = match ty {
        "Processing" => &[
            &["ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"],
            &["ProcessingOutputConfig", "KmsKeyId"],
        ],
        "Training" | "Tuning" => &[
            &["ResourceConfig", "VolumeKmsKeyId"],
            &["OutputDataConfig", "KmsKeyId"],
        ],
        "Transform" => &[
            &["TransformResources", "VolumeKmsKeyId"],
            &["TransformOutput", "KmsKeyId"],
        ],
        _ => &[],
    };
    if key_paths.is_empty() {
        return;
    }
    for path in key_paths {
        if let Err(e) = key_ok(get(args, path)) {
            enc.push((body_ptr.clone(), format!("{}: {e}", label(&path.join("/")))));
        }
    }
    let pass_msg = format!("step `{name}` ({ty}): volume and output keys are customer-managed");
    out.judge(
        "sagemaker-job-kms-encryption",
        p,
        body_ptr.clone(),
        &pass_msg,
        enc,
    );
    match ty {
        "Training" | "Tuning" => {
            let checks = [
                (
                    "sagemaker-intercontainer-encryption",
                    "EnableInterContainerTrafficEncryption",
                ),
                ("sagemaker-network-isolation", "EnableNetworkIsolation"),
            ];
            for (control, key) in checks {
                if is_true(args.get(key)) {
                    out.pass(
                        control,
                        p,
                        body_ptr.clone(),
                        format!("step `{name}` ({ty}): {key} is true"),
                    );
                } else {
                    out.fail(
                        control,
                        p,
                        body_ptr.clone(),
                        format!("{} is not true", label(key)),
                    );
                }
            }
            step_vpc(
                out,
                p,
                &body_ptr,
                args.get("VpcConfig"),
                &label("VpcConfig"),
                name,
                ty,
            );
        }
        "Processing" => {
            let nc = args.get("NetworkConfig").unwrap_or(&Value::Null);
            if is_true(nc.get("EnableNetworkIsolation")) {
                out.pass(
                    "sagemaker-network-isolation",
                    p,
                    body_ptr.clone(),
                    format!("step `{name}` ({ty}): network isolation is enabled"),
                );
            } else {
                out.fail(
                    "sagemaker-network-isolation",
                    p,
                    body_ptr.clone(),
                    format!(
                        "{} is not true",
                        label("NetworkConfig/EnableNetworkIsolation")
                    ),
                );
            }
            step_vpc(
                out,
                p,
                &body_ptr,
                nc.get("VpcConfig"),
                &label("NetworkConfig/VpcConfig"),
                name,
                ty,
            );
        }
        _ => {}
    }
}

fn step_vpc(
    out: &mut Out,
    p: &Resource,
    ptr: &str,
    cfg: Option<&Value>,
    label: &str,
    name: &str,
    ty: &str,
) {
    let nonempty = |v: Option<&Value>| {
        v.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
            || v.is_some_and(|v| v.is_object() || v.is_string())
    };
    let ok = cfg.is_some_and(|c| nonempty(c.get("Subnets")) && nonempty(c.get("SecurityGroupIds")));
    if ok {
        out.pass(
            "sagemaker-vpc",
            p,
            ptr.to_string(),
            format!("step `{name}` ({ty}) runs in a VPC"),
        );
    } else {
        out.fail(
            "sagemaker-vpc",
            p,
            ptr.to_string(),
            format!("{label} with Subnets and SecurityGroupIds is missing"),
        );
    }
}

// ---------------------------------------------------------------- other stores

fn simple_encryption(out: &mut Out) {
    let tpl = out.tpl;
    for g in tpl.of_type("AWS::Logs::LogGroup") {
        out.key("logs-kms-encryption", &g, &["KmsKeyId"]);
    }
    for t in tpl.of_type("AWS::SNS::Topic") {
        out.key("sns-kms-encryption", &t, &["KmsMasterKeyId"]);
    }
    for q in tpl.of_type("AWS::SQS::Queue") {
        out.key("sqs-kms-encryption", &q, &["KmsMasterKeyId"]);
    }
    for sm in tpl.of_type("AWS::StepFunctions::StateMachine") {
        let ptr = sm.ptr(&["EncryptionConfiguration"]);
        if str_of(sm.prop(&["EncryptionConfiguration", "Type"])) != Some("CUSTOMER_MANAGED_KMS_KEY")
        {
            out.fail(
                "stepfunctions-kms-encryption",
                &sm,
                ptr,
                "EncryptionConfiguration Type is not CUSTOMER_MANAGED_KMS_KEY",
            );
        } else {
            out.key(
                "stepfunctions-kms-encryption",
                &sm,
                &["EncryptionConfiguration", "KmsKeyId"],
            );
        }
        // Logging.
        let level = str_of(sm.prop(&["LoggingConfiguration", "Level"]));
        let dest = items(sm.prop(&["LoggingConfiguration", "Destinations"]))
            .iter()
            .any(|d| get(d, &["CloudWatchLogsLogGroup", "LogGroupArn"]).is_some());
        let ptr = sm.ptr(&["LoggingConfiguration"]);
        match (level, dest) {
            (Some("ALL") | Some("ERROR"), true) => out.pass(
                "stepfunctions-logging",
                &sm,
                ptr,
                "executions are logged to CloudWatch Logs",
            ),
            (Some("ALL") | Some("ERROR"), false) => out.fail(
                "stepfunctions-logging",
                &sm,
                ptr,
                "LoggingConfiguration has no log group destination",
            ),
            (l, _) => out.fail(
                "stepfunctions-logging",
                &sm,
                ptr,
                format!(
                    "LoggingConfiguration Level is {}, not ALL or ERROR",
                    l.unwrap_or("unset")
                ),
            ),
        }
    }
    for sc in tpl.of_type("AWS::Glue::SecurityConfiguration") {
        let base = ["EncryptionConfiguration"];
        let mut problems = Vec::new();
        let s3 = items(sc.prop(&[base[0], "S3Encryptions"]));
        let s3_ok = !s3.is_empty()
            && s3.iter().all(|e| {
                str_of(e.get("S3EncryptionMode")) == Some("SSE-KMS")
                    && cmk(tpl, e.get("KmsKeyArn")).is_ok()
            });
        if !s3_ok {
            problems.push((
                sc.ptr(&[base[0], "S3Encryptions"]),
                "S3Encryptions is not SSE-KMS with a customer-managed KmsKeyArn".to_string(),
            ));
        }
        for (k, mode_key, mode) in [
            (
                "CloudWatchEncryption",
                "CloudWatchEncryptionMode",
                "SSE-KMS",
            ),
            (
                "JobBookmarksEncryption",
                "JobBookmarksEncryptionMode",
                "CSE-KMS",
            ),
        ] {
            let e = sc.prop(&[base[0], k]).unwrap_or(&Value::Null);
            if str_of(e.get(mode_key)) != Some(mode) || cmk(tpl, e.get("KmsKeyArn")).is_err() {
                problems.push((
                    sc.ptr(&[base[0], k]),
                    format!("{k} is not {mode} with a customer-managed KmsKeyArn"),
                ));
            }
        }
        out.judge(
            "glue-kms-encryption",
            &sc,
            sc.ptr(&base),
            "S3, CloudWatch and bookmarks are KMS-encrypted",
            problems,
        );
    }
    for (ty, key) in [
        ("AWS::Glue::Job", "SecurityConfiguration"),
        ("AWS::Glue::Crawler", "CrawlerSecurityConfiguration"),
    ] {
        for j in tpl.of_type(ty) {
            let ptr = j.ptr(&[key]);
            if j.prop(&[key]).is_some() {
                out.pass("glue-kms-encryption", &j, ptr, format!("{key} is set"));
            } else {
                out.fail(
                    "glue-kms-encryption",
                    &j,
                    ptr,
                    format!("{key} is not set, so data is written unencrypted"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------- KMS

fn kms(out: &mut Out) {
    for k in out.tpl.of_type("AWS::KMS::Key") {
        let spec = str_of(k.prop(&["KeySpec"])).unwrap_or("SYMMETRIC_DEFAULT");
        if spec == "SYMMETRIC_DEFAULT" {
            let ptr = k.ptr(&["EnableKeyRotation"]);
            if is_true(k.prop(&["EnableKeyRotation"])) {
                out.pass("kms-key-rotation", &k, ptr, "automatic rotation is enabled");
            } else {
                out.fail("kms-key-rotation", &k, ptr, "EnableKeyRotation is not true");
            }
        }
        let doc_ptr = k.ptr(&["KeyPolicy"]);
        let mut problems = Vec::new();
        if let Some(doc) = k.prop(&["KeyPolicy"]) {
            for (ptr, stmt) in statements(doc, &doc_ptr) {
                if str_of(stmt.get("Effect")) == Some("Allow")
                    && principal_is_star(stmt.get("Principal"))
                    && stmt.get("Condition").is_none()
                {
                    problems.push((
                        format!("{ptr}/Principal"),
                        "allows any principal without a Condition".into(),
                    ));
                }
            }
        }
        out.judge(
            "kms-key-policy-no-wildcard-principal",
            &k,
            doc_ptr,
            "no unconditioned wildcard principal",
            problems,
        );
    }
}

// ---------------------------------------------------------------- API Gateway

fn tls12_policy(p: &str) -> bool {
    p == "TLS_1_2" || p.starts_with("SecurityPolicy_TLS12") || p.starts_with("SecurityPolicy_TLS13")
}

fn apigateway(out: &mut Out) {
    let tpl = out.tpl;
    waf(out);
    for api in tpl.of_type("AWS::ApiGateway::RestApi") {
        let mut problems = Vec::new();
        match str_of(api.prop(&["SecurityPolicy"])) {
            Some(p) if tls12_policy(p) => {}
            Some(p) => problems.push((
                api.ptr(&["SecurityPolicy"]),
                format!("SecurityPolicy `{p}` allows TLS below 1.2"),
            )),
            None => problems.push((
                api.ptr(&["SecurityPolicy"]),
                "SecurityPolicy is not set (TLS_1_2 or a SecurityPolicy_TLS13_* policy)".into(),
            )),
        }
        let types: Vec<&str> = items(api.prop(&["EndpointConfiguration", "Types"]))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        if types.is_empty() || types.iter().any(|t| *t != "REGIONAL" && *t != "PRIVATE") {
            problems.push((
                api.ptr(&["EndpointConfiguration", "Types"]),
                "EndpointConfiguration Types must be REGIONAL or PRIVATE".into(),
            ));
        }
        out.judge(
            "apigateway-tls12",
            &api,
            api.ptr(&["SecurityPolicy"]),
            "TLS 1.2 or later on a regional or private endpoint",
            problems,
        );
    }
    for ty in [
        "AWS::ApiGateway::DomainName",
        "AWS::ApiGateway::DomainNameV2",
    ] {
        for d in tpl.of_type(ty) {
            let ptr = d.ptr(&["SecurityPolicy"]);
            match str_of(d.prop(&["SecurityPolicy"])) {
                Some(p) if tls12_policy(p) => out.pass(
                    "apigateway-tls12",
                    &d,
                    ptr,
                    format!("SecurityPolicy is {p}"),
                ),
                other => out.fail(
                    "apigateway-tls12",
                    &d,
                    ptr,
                    format!(
                        "SecurityPolicy is {}, not TLS 1.2 or later",
                        other.unwrap_or("unset")
                    ),
                ),
            }
        }
    }
    for m in tpl.of_type("AWS::ApiGateway::Method") {
        let ptr = m.ptr(&["AuthorizationType"]);
        match str_of(m.prop(&["AuthorizationType"])) {
            Some(t) if !t.eq_ignore_ascii_case("NONE") => out.pass(
                "apigateway-method-authorization",
                &m,
                ptr,
                format!("AuthorizationType is {t}"),
            ),
            _ => out.fail(
                "apigateway-method-authorization",
                &m,
                ptr,
                "AuthorizationType is NONE or unset",
            ),
        }
    }
    for s in tpl.of_type("AWS::ApiGateway::Stage") {
        let mut problems = Vec::new();
        if s.prop(&["AccessLogSetting", "DestinationArn"]).is_none()
            || s.prop(&["AccessLogSetting", "Format"]).is_none()
        {
            problems.push((
                s.ptr(&["AccessLogSetting"]),
                "AccessLogSetting with DestinationArn and Format is missing".to_string(),
            ));
        }
        let exec = items(s.prop(&["MethodSettings"])).iter().any(|m| {
            str_of(m.get("ResourcePath")) == Some("/*")
                && str_of(m.get("HttpMethod")) == Some("*")
                && matches!(str_of(m.get("LoggingLevel")), Some("ERROR") | Some("INFO"))
        });
        if !exec {
            problems.push((
                s.ptr(&["MethodSettings"]),
                "no MethodSettings entry for /* * with LoggingLevel ERROR or INFO".to_string(),
            ));
        }
        if !is_true(s.prop(&["TracingEnabled"])) {
            problems.push((
                s.ptr(&["TracingEnabled"]),
                "TracingEnabled is not true".to_string(),
            ));
        }
        out.judge(
            "apigateway-access-logging",
            &s,
            s.ptr(&["AccessLogSetting"]),
            "access logs, execution logs and tracing are on",
            problems,
        );

        let ptr = s.ptr(&["ClientCertificateId"]);
        if s.prop(&["ClientCertificateId"]).is_some() {
            out.pass(
                "apigateway-client-certificate",
                &s,
                ptr,
                "back ends can authenticate API Gateway",
            );
        } else {
            out.fail(
                "apigateway-client-certificate",
                &s,
                ptr,
                "ClientCertificateId is not set",
            );
        }

        let mut problems = Vec::new();
        if !is_true(s.prop(&["CacheClusterEnabled"])) {
            problems.push((
                s.ptr(&["CacheClusterEnabled"]),
                "CacheClusterEnabled is not true".to_string(),
            ));
        }
        let settings = items(s.prop(&["MethodSettings"]));
        let all = settings.iter().any(|m| {
            str_of(m.get("ResourcePath")) == Some("/*")
                && str_of(m.get("HttpMethod")) == Some("*")
                && is_true(m.get("CachingEnabled"))
                && is_true(m.get("CacheDataEncrypted"))
        });
        if !all {
            problems.push((
                s.ptr(&["MethodSettings"]),
                "no MethodSettings entry for /* * with CachingEnabled and CacheDataEncrypted true"
                    .to_string(),
            ));
        }
        for (i, m) in settings.iter().enumerate() {
            if is_true(m.get("CachingEnabled")) && !is_true(m.get("CacheDataEncrypted")) {
                problems.push((
                    format!("{}/{i}/CacheDataEncrypted", s.ptr(&["MethodSettings"])),
                    "caching is enabled without CacheDataEncrypted".to_string(),
                ));
            }
        }
        out.judge(
            "apigateway-cache-encryption",
            &s,
            s.ptr(&["MethodSettings"]),
            "the stage cache is encrypted",
            problems,
        );
    }
}

fn waf(out: &mut Out) {
    let tpl = out.tpl;
    let associations: Vec<String> = tpl
        .of_type("AWS::WAFv2::WebACLAssociation")
        .iter()
        .filter_map(|a| a.prop(&["ResourceArn"]))
        .filter_map(|v| {
            ref_target(v)
                .map(|t| format!("${{{t}}}"))
                .or_else(|| arn_text(v))
        })
        .collect();
    for s in tpl.of_type("AWS::ApiGateway::Stage") {
        let api = s.prop(&["RestApiId"]).and_then(ref_target);
        let name = str_of(s.prop(&["StageName"]));
        let covered = associations.iter().any(|arn| {
            arn == &format!("${{{}}}", s.id)
                || arn.ends_with(&format!("/stages/${{{}}}", s.id))
                || match (api, name) {
                    (Some(api), Some(name)) => {
                        arn.ends_with(&format!("/restapis/${{{api}}}/stages/{name}"))
                    }
                    _ => false,
                }
        });
        let ptr = s.ptr(&[]);
        if covered {
            out.pass(
                "apigateway-waf",
                &s,
                ptr,
                "a web ACL is associated with the stage",
            );
        } else {
            out.fail(
                "apigateway-waf",
                &s,
                ptr,
                "no AWS::WAFv2::WebACLAssociation names this stage",
            );
        }
    }
    let logged: Vec<&str> = tpl
        .of_type("AWS::WAFv2::LoggingConfiguration")
        .iter()
        .filter_map(|l| l.prop(&["ResourceArn"]).and_then(ref_target))
        .collect();
    for acl in tpl.of_type("AWS::WAFv2::WebACL") {
        let ptr = acl.ptr(&[]);
        if logged.contains(&acl.id) {
            out.pass(
                "apigateway-waf",
                &acl,
                ptr,
                "the web ACL's decisions are logged",
            );
        } else {
            out.fail(
                "apigateway-waf",
                &acl,
                ptr,
                "no AWS::WAFv2::LoggingConfiguration refers to this web ACL",
            );
        }
    }
}

// ---------------------------------------------------------------- IAM

fn iam(out: &mut Out) {
    let tpl = out.tpl;
    for r in tpl.resources() {
        let mut docs: Vec<(String, &Value)> = Vec::new();
        match r.ty {
            "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
                let policies = items(r.prop(&["Policies"]));
                for (i, p) in policies.iter().enumerate() {
                    if let Some(d) = p.get("PolicyDocument") {
                        docs.push((format!("{}/{i}/PolicyDocument", r.ptr(&["Policies"])), d));
                    }
                }
                let ptr = r.ptr(&["Policies"]);
                if policies.is_empty() {
                    out.pass("iam-no-inline-policy", &r, r.ptr(&[]), "no inline policies");
                } else {
                    out.fail(
                        "iam-no-inline-policy",
                        &r,
                        ptr,
                        "has inline Policies; use AWS::IAM::ManagedPolicy",
                    );
                }
            }
            "AWS::IAM::Policy" => {
                out.fail(
                    "iam-no-inline-policy",
                    &r,
                    r.ptr(&[]),
                    "AWS::IAM::Policy is an inline policy; use AWS::IAM::ManagedPolicy",
                );
                if let Some(d) = r.prop(&["PolicyDocument"]) {
                    docs.push((r.ptr(&["PolicyDocument"]), d));
                }
            }
            "AWS::IAM::ManagedPolicy" => {
                if let Some(d) = r.prop(&["PolicyDocument"]) {
                    docs.push((r.ptr(&["PolicyDocument"]), d));
                }
            }
            _ => continue,
        }
        let (mut act, mut res, mut admin) = (Vec::new(), Vec::new(), Vec::new());
        for (dp, doc) in &docs {
            for (sp, stmt) in statements(doc, dp) {
                if str_of(stmt.get("Effect")) != Some("Allow") {
                    continue;
                }
                let acts = actions(stmt);
                let wild: Vec<&&str> = acts
                    .iter()
                    .filter(|a| **a == "*" || a.ends_with(":*"))
                    .collect();
                if stmt.get("NotAction").is_some() {
                    act.push((
                        format!("{sp}/NotAction"),
                        "Allow with NotAction grants everything else".to_string(),
                    ));
                }
                if !wild.is_empty() {
                    let names: Vec<&str> = wild.iter().map(|a| **a).collect();
                    act.push((
                        format!("{sp}/Action"),
                        format!("wildcard action {}", names.join(", ")),
                    ));
                }
                let star_res = items(stmt.get("Resource"))
                    .iter()
                    .any(|v| v.as_str() == Some("*"));
                if stmt.get("NotResource").is_some() {
                    res.push((
                        format!("{sp}/NotResource"),
                        "Allow with NotResource applies to everything else".to_string(),
                    ));
                }
                if star_res {
                    let star_only =
                        !acts.is_empty() && acts.iter().all(|a| STAR_ONLY_ACTIONS.contains(a));
                    if !star_only {
                        res.push((
                            format!("{sp}/Resource"),
                            "Resource \"*\" for actions that support resource-level permissions"
                                .to_string(),
                        ));
                    } else if stmt.get("Condition").is_none() {
                        res.push((
                            format!("{sp}/Condition"),
                            "Resource \"*\" (allowed for these actions) needs a Condition"
                                .to_string(),
                        ));
                    }
                    if acts.iter().any(|a| *a == "*" || *a == "*:*") {
                        admin.push((
                            format!("{sp}/Action"),
                            "grants every action on every resource".to_string(),
                        ));
                    }
                }
            }
        }
        for (i, arn) in items(r.prop(&["ManagedPolicyArns"])).iter().enumerate() {
            if arn_text(arn).is_some_and(|t| t.ends_with("policy/AdministratorAccess")) {
                admin.push((
                    format!("{}/{i}", r.ptr(&["ManagedPolicyArns"])),
                    "AdministratorAccess is attached".to_string(),
                ));
            }
        }
        let whole = r.ptr(&[]);
        if !docs.is_empty() {
            out.judge(
                "iam-no-wildcard-action",
                &r,
                whole.clone(),
                "actions are named",
                act,
            );
            out.judge(
                "iam-no-wildcard-resource",
                &r,
                whole.clone(),
                "resources are named",
                res,
            );
        }
        if r.ty != "AWS::IAM::ManagedPolicy" && r.ty != "AWS::IAM::Policy" || !admin.is_empty() {
            out.judge(
                "iam-no-admin-access",
                &r,
                whole.clone(),
                "no administrator access",
                admin,
            );
        }
        if r.ty == "AWS::IAM::Role" {
            trust(out, &r);
        }
    }
}

fn is_root_principal(v: &Value) -> bool {
    let Some(t) = arn_text(v) else { return false };
    t.ends_with(":root")
        || (t.len() == 12 && t.bytes().all(|c| c.is_ascii_digit()))
        || t == "${AWS::AccountId}"
}

fn trust(out: &mut Out, r: &Resource) {
    let doc_ptr = r.ptr(&["AssumeRolePolicyDocument"]);
    let Some(doc) = r.prop(&["AssumeRolePolicyDocument"]) else {
        out.fail(
            "iam-role-single-service",
            r,
            doc_ptr,
            "AssumeRolePolicyDocument is missing",
        );
        return;
    };
    let mut services = BTreeSet::new();
    let mut problems = Vec::new();
    for (sp, stmt) in statements(doc, &doc_ptr) {
        if str_of(stmt.get("Effect")) != Some("Allow") {
            continue;
        }
        let principal = stmt.get("Principal");
        if principal_is_star(principal) {
            problems.push((
                format!("{sp}/Principal"),
                "trusts any principal".to_string(),
            ));
        }
        if let Some(Value::Object(m)) = principal {
            for (kind, vals) in m {
                for v in items(Some(vals)) {
                    let text = arn_text(v).unwrap_or_default();
                    if kind == "Service" {
                        services.insert(text);
                    } else if kind == "AWS" && text == "*" {
                        // reported above as "any principal"
                    } else if kind == "AWS" && is_root_principal(v) {
                        problems.push((
                            format!("{sp}/Principal/AWS"),
                            "trusts a whole account (root)".to_string(),
                        ));
                    } else {
                        problems.push((
                            format!("{sp}/Principal/{kind}"),
                            format!("trusts {kind} principal `{text}`, not only a service"),
                        ));
                    }
                }
            }
        }
        if stmt.get("NotPrincipal").is_some() {
            problems.push((
                format!("{sp}/NotPrincipal"),
                "Allow with NotPrincipal trusts everyone else".to_string(),
            ));
        }
    }
    out.judge(
        "iam-trust-scoped",
        r,
        doc_ptr.clone(),
        "trust is scoped to a service",
        problems,
    );
    if services.len() == 1 {
        let s = services.iter().next().cloned().unwrap_or_default();
        out.pass(
            "iam-role-single-service",
            r,
            doc_ptr,
            format!("trusted by {s} only"),
        );
    } else {
        let list: Vec<String> = services.into_iter().collect();
        out.fail(
            "iam-role-single-service",
            r,
            doc_ptr,
            format!(
                "trusted by {} service principals ({}); one role per job, one service per role",
                list.len(),
                list.join(", ")
            ),
        );
    }
}

// ---------------------------------------------------------------- logs, Lambda

/// `log-retention` needs the spec's minimum, so it is run separately.
pub(crate) fn retention(tpl: &Template, min_days: u32) -> Vec<Observation> {
    let mut out = Out {
        obs: Vec::new(),
        tpl,
    };
    for g in tpl.of_type("AWS::Logs::LogGroup") {
        let v = g.prop(&["RetentionInDays"]);
        let days = v.and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        let ptr = g.ptr(&["RetentionInDays"]);
        match days {
            Some(d) if d >= u64::from(min_days) => out.pass(
                "log-retention",
                &g,
                ptr,
                format!("kept {d} days (at least {min_days})"),
            ),
            Some(d) => out.fail(
                "log-retention",
                &g,
                ptr,
                format!("kept {d} days, fewer than the required {min_days}"),
            ),
            None => out.fail(
                "log-retention",
                &g,
                ptr,
                "RetentionInDays is not set to a number of days",
            ),
        }
    }
    out.obs
}

fn lambda(out: &mut Out) {
    for p in out.tpl.of_type("AWS::Lambda::Permission") {
        let principal = p
            .prop(&["Principal"])
            .and_then(arn_text)
            .unwrap_or_default();
        let ptr = p.ptr(&["Principal"]);
        let scoped = p.prop(&["SourceArn"]).is_some() || p.prop(&["SourceAccount"]).is_some();
        if principal == "*" {
            out.fail(
                "lambda-permission-scoped",
                &p,
                ptr,
                "Principal \"*\" lets anyone invoke the function",
            );
        } else if principal.ends_with(".amazonaws.com") && !scoped {
            out.fail(
                "lambda-permission-scoped",
                &p,
                ptr,
                format!(
                    "service principal {principal} is not limited by SourceArn or SourceAccount"
                ),
            );
        } else {
            out.pass(
                "lambda-permission-scoped",
                &p,
                ptr,
                format!("only {principal} may invoke"),
            );
        }
    }
    for f in out.tpl.of_type("AWS::Lambda::Function") {
        let vars = f.prop(&["Environment", "Variables"]);
        let has_vars = vars.is_some_and(|v| v.as_object().is_none_or(|m| !m.is_empty()));
        if has_vars {
            out.key("lambda-env-kms-encryption", &f, &["KmsKeyArn"]);
        }
        let subnets = f
            .prop(&["VpcConfig", "SubnetIds"])
            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()));
        let sgs = f
            .prop(&["VpcConfig", "SecurityGroupIds"])
            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()));
        let ptr = f.ptr(&["VpcConfig"]);
        if subnets && sgs {
            out.pass("lambda-in-vpc", &f, ptr, "runs in a VPC");
        } else {
            out.fail(
                "lambda-in-vpc",
                &f,
                ptr,
                "VpcConfig with SubnetIds and SecurityGroupIds is missing",
            );
        }
        let mut problems = Vec::new();
        if f.prop(&["DeadLetterConfig", "TargetArn"]).is_none() {
            problems.push((
                f.ptr(&["DeadLetterConfig"]),
                "DeadLetterConfig TargetArn is not set".to_string(),
            ));
        }
        if f.prop(&["ReservedConcurrentExecutions"]).is_none() {
            problems.push((
                f.ptr(&["ReservedConcurrentExecutions"]),
                "ReservedConcurrentExecutions is not set".to_string(),
            ));
        }
        out.judge(
            "lambda-resilience",
            &f,
            f.ptr(&[]),
            "has a dead-letter queue and reserved concurrency",
            problems,
        );
    }
}

// ---------------------------------------------------------------- retain, tags

const DATA_STORES: &[&str] = &[
    BUCKET,
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::SageMaker::ModelPackageGroup",
];

fn retain(out: &mut Out) {
    for r in out.tpl.resources() {
        if !DATA_STORES.contains(&r.ty) {
            continue;
        }
        let mut problems = Vec::new();
        for attr in ["DeletionPolicy", "UpdateReplacePolicy"] {
            if str_of(r.body.get(attr)) != Some("Retain") {
                problems.push((r.attr_ptr(attr), format!("{attr} is not Retain")));
            }
        }
        out.judge(
            "data-store-retain",
            &r,
            r.ptr(&[]),
            "kept on stack deletion and replacement",
            problems,
        );
    }
}

const CLASSIFICATION: &str = "data-classification";

fn tags(out: &mut Out) {
    for r in out.tpl.resources() {
        if !TAGGABLE_TYPES.contains(&r.ty) {
            continue;
        }
        let tags = r.prop(&["Tags"]);
        let value = match tags {
            Some(Value::Array(a)) => a
                .iter()
                .find(|t| str_of(t.get("Key")) == Some(CLASSIFICATION))
                .and_then(|t| t.get("Value")),
            Some(Value::Object(m)) => m.get(CLASSIFICATION),
            _ => None,
        };
        let ptr = r.ptr(&["Tags"]);
        match value {
            Some(v) if v.as_str().is_none_or(|s| !s.trim().is_empty()) => {
                let shown = v
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string());
                out.pass(
                    "data-classification-tag",
                    &r,
                    ptr,
                    format!("data-classification = {shown}"),
                );
            }
            _ => out.fail(
                "data-classification-tag",
                &r,
                ptr,
                format!("no `{CLASSIFICATION}` tag"),
            ),
        }
    }
}
