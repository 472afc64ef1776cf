//! Stack-wide rules: data stores survive stack deletion, and every
//! taggable resource carries its data classification.

use serde_json::Value;

use crate::audit::catalogue::{Control, ControlId, control_entry};
use crate::audit::template::str_of;

use super::{Out, s3};

/// Catalogue entries of the controls checked here.
pub(in crate::audit) const CONTROLS: &[Control] = &[
    control_entry!(
        DataStoreRetain,
        "integrity",
        High,
        true,
        &["164.312(c)(1)", "164.308(a)(7)"],
        "Deleting or replacing a stack must never destroy PHI, keys or audit logs.",
        "AWS::S3::Bucket, AWS::KMS::Key, AWS::Logs::LogGroup, AWS::SageMaker::ModelPackageGroup: DeletionPolicy and UpdateReplacePolicy are Retain."
    ),
    control_entry!(
        DataClassificationTag,
        "governance",
        Low,
        true,
        &["164.308(a)(1)(ii)(A)", "164.310(d)(1)"],
        "Knowing which resources hold PHI is the basis of risk analysis and media controls.",
        "Every resource of a taggable type (see the list in the docs) has a tag with key data-classification."
    ),
];

/// Retention of data stores and the classification tag.
pub(super) fn check(out: &mut Out) {
    retain(out);
    tags(out);
}

const DATA_STORES: &[&str] = &[
    s3::BUCKET,
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
            ControlId::DataStoreRetain,
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
                    ControlId::DataClassificationTag,
                    &r,
                    ptr,
                    format!("data-classification = {shown}"),
                );
            }
            _ => out.fail(
                ControlId::DataClassificationTag,
                &r,
                ptr,
                format!("no `{CLASSIFICATION}` tag"),
            ),
        }
    }
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
