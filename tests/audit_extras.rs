//! Resource types the reference stack does not use (notebook, monitoring,
//! Glue jobs and crawlers, custom domain): a hardened fixture passes, and one
//! change fails exactly the expected control.

use dxops_spec::audit::{AuditOptions, ControlStatus, TemplateInput, audit};
use serde_json::{Value, json};

const EXTRAS: &str = include_str!("fixtures/audit/extras/stack.yaml");

fn run(value: &Value) -> dxops_spec::audit::Report {
    let templates = vec![TemplateInput {
        stack: "extras".into(),
        path: None,
        text: serde_json::to_string(value).unwrap(),
    }];
    let options = AuditOptions {
        log_retention_days: 365,
        waivers: vec![],
        today: Some("2026-11-29".into()),
    };
    audit(&templates, &options).unwrap()
}

fn base() -> Value {
    dxops_spec::yaml::parse(EXTRAS).unwrap().value
}

#[test]
fn hardened_extras_pass() {
    let report = run(&base());
    assert_eq!(report.failing_controls(), Vec::<&str>::new());
    for id in [
        "sagemaker-notebook-hardening",
        "sagemaker-job-kms-encryption",
        "glue-kms-encryption",
        "apigateway-tls12",
        "data-classification-tag",
    ] {
        let c = report.controls.iter().find(|c| c.id == id).unwrap();
        assert_eq!(c.status, ControlStatus::Pass, "{id}");
    }
    // Not every control applies; those that do not are listed as such.
    let s3 = report
        .controls
        .iter()
        .find(|c| c.id == "s3-kms-encryption")
        .unwrap();
    assert_eq!(s3.status, ControlStatus::NotApplicable);
}

#[test]
fn each_change_fails_exactly_its_control() {
    let cases: &[(&str, &str, Option<Value>, &str)] = &[
        (
            "/Resources/Notebook/Properties/RootAccess",
            "root access",
            Some(json!("Enabled")),
            "sagemaker-notebook-hardening",
        ),
        (
            "/Resources/Notebook/Properties/DirectInternetAccess",
            "internet",
            Some(json!("Enabled")),
            "sagemaker-notebook-hardening",
        ),
        (
            "/Resources/Notebook/Properties/KmsKeyId",
            "notebook key",
            None,
            "sagemaker-notebook-hardening",
        ),
        (
            "/Resources/DriftSchedule/Properties/MonitoringScheduleConfig/MonitoringJobDefinition/MonitoringResources/ClusterConfig/VolumeKmsKeyId",
            "monitor volume key",
            None,
            "sagemaker-job-kms-encryption",
        ),
        (
            "/Resources/QualityJob/Properties/DataQualityJobOutputConfig/KmsKeyId",
            "quality output key",
            None,
            "sagemaker-job-kms-encryption",
        ),
        (
            "/Resources/GlueSecurity/Properties/EncryptionConfiguration/JobBookmarksEncryption",
            "bookmarks",
            None,
            "glue-kms-encryption",
        ),
        (
            "/Resources/FeatureJob/Properties/SecurityConfiguration",
            "job security",
            None,
            "glue-kms-encryption",
        ),
        (
            "/Resources/RawCrawler/Properties/CrawlerSecurityConfiguration",
            "crawler security",
            None,
            "glue-kms-encryption",
        ),
        (
            "/Resources/ApiDomain/Properties/SecurityPolicy",
            "domain TLS",
            Some(json!("TLS_1_0")),
            "apigateway-tls12",
        ),
        (
            "/Resources/Notebook/Properties/InstanceMetadataServiceConfiguration",
            "IMDSv1",
            None,
            "sagemaker-notebook-hardening",
        ),
        (
            "/Resources/QualityJob/Properties/NetworkConfig/EnableInterContainerTrafficEncryption",
            "quality job traffic",
            Some(json!(false)),
            "sagemaker-intercontainer-encryption",
        ),
        (
            "/Resources/DriftSchedule/Properties/MonitoringScheduleConfig/MonitoringJobDefinition/NetworkConfig/EnableInterContainerTrafficEncryption",
            "monitor traffic",
            None,
            "sagemaker-intercontainer-encryption",
        ),
        (
            "/Resources/FeatureJob/Properties/Tags",
            "job tags",
            Some(json!({"team": "data"})),
            "data-classification-tag",
        ),
    ];
    for (pointer, name, new, control) in cases {
        let mut v = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let obj = v
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{name}: no {parent}"));
        match new {
            Some(n) => {
                assert!(obj.insert(key.to_string(), n.clone()).is_some(), "{name}");
            }
            None => {
                assert!(obj.remove(key).is_some(), "{name}");
            }
        }
        let report = run(&v);
        assert_eq!(report.failing_controls(), [*control], "{name}");
        let failing = report
            .findings
            .iter()
            .find(|f| f.control == *control && f.status == dxops_spec::audit::Status::Fail)
            .unwrap();
        assert!(
            failing.pointer.starts_with(&format!(
                "/Resources/{}",
                pointer.split('/').nth(2).unwrap()
            )),
            "{name}: {}",
            failing.pointer
        );
    }
}

#[test]
fn pipeline_definition_in_s3_cannot_be_judged() {
    let v = json!({"Resources": {"P": {"Type": "AWS::SageMaker::Pipeline", "Properties": {
        "PipelineName": "p", "RoleArn": "arn:aws:iam::123456789012:role/p",
        "PipelineDefinition": {"PipelineDefinitionS3Location": {"Bucket": "b", "Key": "k"}},
        "Tags": [{"Key": "data-classification", "Value": "phi"}]}}}});
    let report = run(&v);
    assert_eq!(report.failing_controls(), ["sagemaker-job-kms-encryption"]);
    let f = &report
        .findings
        .iter()
        .find(|f| f.control == "sagemaker-job-kms-encryption")
        .unwrap();
    assert!(f.message.contains("not inline"), "{}", f.message);
}

#[test]
fn condition_steps_are_searched() {
    let body = json!({"Version": "2020-12-01", "Steps": [{"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [], "ElseSteps": [],
        "IfSteps": [{"Name": "Retrain", "Type": "Training", "Arguments": {
            "ResourceConfig": {"VolumeKmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/abc"},
            "OutputDataConfig": {"KmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/abc"},
            "EnableNetworkIsolation": true,
            "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}}}]}}]});
    let v = json!({"Resources": {"P": {"Type": "AWS::SageMaker::Pipeline", "Properties": {
        "PipelineName": "p", "RoleArn": "arn:aws:iam::123456789012:role/p",
        "PipelineDefinition": {"PipelineDefinitionBody": body.to_string()},
        "Tags": [{"Key": "data-classification", "Value": "phi"}]}}}});
    let report = run(&v);
    assert_eq!(
        report.failing_controls(),
        ["sagemaker-intercontainer-encryption"]
    );
    let f = report
        .findings
        .iter()
        .find(|f| f.control == "sagemaker-intercontainer-encryption")
        .unwrap();
    assert!(
        f.message.contains(
            "/Steps/0/Arguments/IfSteps/0/Arguments/EnableInterContainerTrafficEncryption"
        ),
        "{}",
        f.message
    );
}

#[test]
fn access_log_bucket_named_literally_is_recognised() {
    let v = json!({"Resources": {
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "hospital-access-logs"}},
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"LoggingConfiguration": {"DestinationBucketName": "hospital-access-logs"}}}
    }});
    let report = run(&v);
    let f = report
        .findings
        .iter()
        .find(|f| f.control == "s3-access-logging" && f.logical_id == "Logs")
        .unwrap();
    assert!(f.message.contains("access-log bucket"), "{}", f.message);
    let data = report
        .findings
        .iter()
        .find(|f| f.control == "s3-access-logging" && f.logical_id == "Data")
        .unwrap();
    assert_eq!(data.status, dxops_spec::audit::Status::Pass);
}
