//! Other stores of PHI: SNS topics, SQS queues, Step Functions state
//! machines and Glue jobs.

use serde_json::Value;

use crate::audit::catalogue::{AT_REST, AUDIT, Control, ControlId, TRANSIT, control_entry};
use crate::audit::template::{
    Resource, arn_text, cmk, denies_insecure_transport, get, items, ref_target, statements, str_of,
};

use super::Out;

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        SnsKmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Notification messages can carry PHI and must be encrypted at rest with a customer-managed key.",
        "AWS::SNS::Topic: KmsMasterKeyId references a customer-managed key (not alias/aws/sns)."
    ),
    control_entry!(
        SqsKmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Queued messages can carry PHI and must be encrypted at rest with a customer-managed key.",
        "AWS::SQS::Queue: KmsMasterKeyId references a customer-managed key (not alias/aws/sqs)."
    ),
    control_entry!(
        SqsTlsOnly,
        "transmission-security",
        High,
        false,
        TRANSIT,
        "Queued messages can carry PHI; a queue must refuse every request made without TLS.",
        "AWS::SQS::Queue: an AWS::SQS::QueuePolicy naming the queue has a Deny for all principals on sqs:* with Condition Bool aws:SecureTransport false, covering the queue's ARN."
    ),
    control_entry!(
        StepFunctionsKmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "State machine execution history holds step inputs and outputs, which may contain PHI.",
        "AWS::StepFunctions::StateMachine: EncryptionConfiguration Type CUSTOMER_MANAGED_KMS_KEY with a KmsKeyId."
    ),
    control_entry!(
        GlueKmsEncryption,
        "encryption-at-rest",
        High,
        false,
        AT_REST,
        "Glue jobs write data, logs and bookmarks that must be encrypted with a customer-managed key.",
        "AWS::Glue::SecurityConfiguration: S3 SSE-KMS, CloudWatch SSE-KMS and job bookmarks CSE-KMS, each with a KmsKeyArn; AWS::Glue::Job and AWS::Glue::Crawler name a SecurityConfiguration (CrawlerSecurityConfiguration)."
    ),
    control_entry!(
        StepFunctionsLogging,
        "audit-controls",
        Medium,
        true,
        AUDIT,
        "Pipeline orchestration must leave a record of every execution.",
        "AWS::StepFunctions::StateMachine: LoggingConfiguration Level ALL or ERROR with a CloudWatch Logs log group destination."
    ),
];

/// SNS, SQS, Step Functions and Glue.
pub(super) fn check(out: &mut Out) {
    let tpl = out.tpl;
    for t in tpl.of_type("AWS::SNS::Topic") {
        out.key(ControlId::SnsKmsEncryption, &t, &["KmsMasterKeyId"]);
    }
    for q in tpl.of_type("AWS::SQS::Queue") {
        out.key(ControlId::SqsKmsEncryption, &q, &["KmsMasterKeyId"]);
        queue_tls_only(out, &q);
    }
    for sm in tpl.of_type("AWS::StepFunctions::StateMachine") {
        let ptr = sm.ptr(&["EncryptionConfiguration"]);
        if str_of(sm.prop(&["EncryptionConfiguration", "Type"])) != Some("CUSTOMER_MANAGED_KMS_KEY")
        {
            out.fail(
                ControlId::StepFunctionsKmsEncryption,
                &sm,
                ptr,
                "EncryptionConfiguration Type is not CUSTOMER_MANAGED_KMS_KEY",
            );
        } else {
            out.key(
                ControlId::StepFunctionsKmsEncryption,
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
                ControlId::StepFunctionsLogging,
                &sm,
                ptr,
                "executions are logged to CloudWatch Logs",
            ),
            (Some("ALL") | Some("ERROR"), false) => out.fail(
                ControlId::StepFunctionsLogging,
                &sm,
                ptr,
                "LoggingConfiguration has no log group destination",
            ),
            (l, _) => out.fail(
                ControlId::StepFunctionsLogging,
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
            ControlId::GlueKmsEncryption,
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
                out.pass(
                    ControlId::GlueKmsEncryption,
                    &j,
                    ptr,
                    format!("{key} is set"),
                );
            } else {
                out.fail(
                    ControlId::GlueKmsEncryption,
                    &j,
                    ptr,
                    format!("{key} is not set, so data is written unencrypted"),
                );
            }
        }
    }
}

/// The queue's policy refuses requests without TLS.
fn queue_tls_only(out: &mut Out, q: &Resource) {
    let arn = format!("${{{}.Arn}}", q.id);
    let mut policy_ptr = None;
    let mut covered = false;
    for p in out.tpl.of_type("AWS::SQS::QueuePolicy") {
        let names_queue = items(p.prop(&["Queues"]))
            .into_iter()
            .any(|v| ref_target(v) == Some(q.id));
        if !names_queue {
            continue;
        }
        let doc_ptr = p.ptr(&["PolicyDocument"]);
        policy_ptr.get_or_insert(doc_ptr.clone());
        let Some(doc) = p.prop(&["PolicyDocument"]) else {
            continue;
        };
        covered |= statements(doc, &doc_ptr).into_iter().any(|(_, stmt)| {
            denies_insecure_transport(stmt, "sqs")
                && items(stmt.get("Resource"))
                    .into_iter()
                    .filter_map(arn_text)
                    .any(|r| r == arn || r == "*")
        });
    }
    let ptr = policy_ptr.clone().unwrap_or_else(|| q.ptr(&[]));
    match (policy_ptr, covered) {
        (_, true) => out.pass(
            ControlId::SqsTlsOnly,
            q,
            ptr,
            "the queue policy denies requests without TLS",
        ),
        (None, false) => out.fail(
            ControlId::SqsTlsOnly,
            q,
            ptr,
            "no queue policy names this queue, so requests without TLS are not refused",
        ),
        (Some(_), false) => out.fail(
            ControlId::SqsTlsOnly,
            q,
            ptr,
            "the queue policy has no Deny of sqs:* for aws:SecureTransport false on the queue's ARN",
        ),
    }
}
