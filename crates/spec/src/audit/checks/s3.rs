//! S3 buckets: encryption, public access, TLS, logging, replication,
//! versioning, object lock and event notifications.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::audit::catalogue::{ACCESS, AT_REST, AUDIT, Control, ControlId, TRANSIT, control_entry};
use crate::audit::template::{
    Resource, arn_text, cmk, denies_insecure_transport, get, is_true, items, ref_target,
    statements, str_of,
};

use super::Out;

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        S3KmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "PHI in S3 must be encrypted with a key the organisation controls and can audit.",
        "AWS::S3::Bucket: BucketEncryption has a rule with SSEAlgorithm aws:kms (or aws:kms:dsse) and a customer-managed KMSMasterKeyID."
    ),
    control_entry!(
        S3TlsOnly,
        "transmission-security",
        High,
        false,
        TRANSIT,
        "PHI must never cross the network unencrypted; S3 accepts plain HTTP unless a policy denies it.",
        "AWS::S3::Bucket: an AWS::S3::BucketPolicy on the bucket has a Deny for all principals with Condition Bool aws:SecureTransport false, covering the bucket ARN and its objects (ARN/*)."
    ),
    control_entry!(
        S3PublicAccessBlock,
        "access-control",
        High,
        false,
        ACCESS,
        "A bucket holding PHI must never become public through an ACL or bucket policy.",
        "AWS::S3::Bucket: PublicAccessBlockConfiguration has BlockPublicAcls, BlockPublicPolicy, IgnorePublicAcls and RestrictPublicBuckets all true; OwnershipControls ObjectOwnership is BucketOwnerEnforced (ACLs disabled); AccessControl is not PublicRead, PublicReadWrite or AuthenticatedRead."
    ),
    control_entry!(
        S3AccessLogging,
        "audit-controls",
        Medium,
        true,
        AUDIT,
        "Object-level access to PHI must leave an audit trail.",
        "AWS::S3::Bucket: LoggingConfiguration names a DestinationBucketName. The access-log bucket itself fails and must be waived by the spec."
    ),
    control_entry!(
        S3EventNotifications,
        "audit-controls",
        Low,
        true,
        &["164.312(b)"],
        "Changes to PHI objects must be observable by monitoring and response tooling.",
        "AWS::S3::Bucket: NotificationConfiguration sends events (EventBridgeConfiguration EventBridgeEnabled, or a topic, queue or Lambda configuration)."
    ),
    control_entry!(
        S3Replication,
        "availability",
        Medium,
        true,
        &["164.308(a)(7)(ii)(A)", "164.312(c)(1)"],
        "A second copy of PHI in another location is the data backup plan for a lost bucket or region.",
        "AWS::S3::Bucket: ReplicationConfiguration with a Role and an Enabled rule; for KMS-encrypted buckets the rule replicates SSE-KMS objects (SourceSelectionCriteria) and sets Destination EncryptionConfiguration ReplicaKmsKeyID."
    ),
    control_entry!(
        S3ObjectLock,
        "integrity",
        Medium,
        true,
        &["164.312(c)(1)", "164.312(c)(2)"],
        "Write-once retention protects PHI and models from alteration or deletion, even by privileged users.",
        "AWS::S3::Bucket: ObjectLockEnabled true and ObjectLockConfiguration with ObjectLockEnabled Enabled and a DefaultRetention rule."
    ),
    control_entry!(
        S3Versioning,
        "integrity",
        Medium,
        true,
        &["164.312(c)(1)", "164.308(a)(7)"],
        "Versioning protects PHI against improper alteration or deletion and allows recovery.",
        "AWS::S3::Bucket: VersioningConfiguration Status Enabled, and a LifecycleConfiguration with an Enabled rule (so old versions are managed, not kept or lost by accident)."
    ),
];

pub(super) const BUCKET: &str = "AWS::S3::Bucket";

/// Every S3 control, bucket by bucket.
pub(super) fn check(out: &mut Out) {
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
                ControlId::S3KmsEncryption,
                b,
                ptr,
                "encrypted with a customer-managed KMS key",
            ),
            Some(m) => out.fail(ControlId::S3KmsEncryption, b, ptr, m),
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
            ControlId::S3PublicAccessBlock,
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
            ControlId::S3Versioning,
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
            ControlId::S3ObjectLock,
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
                ControlId::S3EventNotifications,
                b,
                ptr,
                "object events are published",
            );
        } else {
            out.fail(
                ControlId::S3EventNotifications,
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
                ControlId::S3AccessLogging,
                b,
                ptr,
                "server access logs are delivered",
            );
        } else if log_targets.contains(b.id)
            || str_of(b.prop(&["BucketName"])).is_some_and(|n| log_targets.contains(n))
        {
            out.fail(ControlId::S3AccessLogging, b, ptr, "this is the access-log bucket; it has no LoggingConfiguration and must be waived in the spec");
        } else {
            out.fail(
                ControlId::S3AccessLogging,
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
            ControlId::S3Replication,
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
        ControlId::S3Replication,
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
            if !denies_insecure_transport(stmt, "s3") {
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
            ControlId::S3TlsOnly,
            b,
            ptr,
            "the bucket policy denies requests without TLS",
        ),
        (false, _, _) => out.fail(
            ControlId::S3TlsOnly,
            b,
            ptr,
            "no bucket policy denies aws:SecureTransport false for this bucket",
        ),
        (true, bc, _) => out.fail(
            ControlId::S3TlsOnly,
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
