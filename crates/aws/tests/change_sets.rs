//! What moto cannot show (rollback events, replacements, drift, both ways
//! of "no changes", credential errors, a stack that never settles), replayed
//! with the SDK's mock client in the shapes real CloudFormation answers.

use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput;
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::primitives::DateTime;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ChangeType, Replacement, ResourceAttribute,
    ResourceChange, ResourceChangeDetail, ResourceStatus, ResourceTargetDefinition, Stack,
    StackDriftDetectionStatus, StackDriftStatus, StackEvent, StackStatus,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::json;

use dxops_aws::{Cfn, DeployError, Quiet, TemplateSource};

const STACK: &str = "disease-prediction-staging-data";

/// A client answering from `rules` (what `mock_client!` does, with the
/// test defaults of this SDK version).
fn mocked(rules: &[&Rule]) -> Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    Client::from_conf(
        aws_sdk_cloudformation::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_cloudformation::config::Region::new("eu-west-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    )
}

/// An error response as CloudFormation's query protocol sends it.
fn aws_error(code: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>5f4e1c2a-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    );
    HttpResponse::new(
        StatusCode::try_from(400).expect("status"),
        SdkBody::from(body),
    )
}

fn body() -> TemplateSource {
    TemplateSource::Body("Resources: {}".into())
}

fn cfn(client: Client) -> Cfn {
    Cfn::new(client, None).with_poll(Duration::from_millis(1))
}

fn stack(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name(STACK)
                .stack_id(format!(
                    "arn:aws:cloudformation:eu-west-1:123456789012:stack/{STACK}/1"
                ))
                .stack_status(status)
                .build(),
        )
        .build()
}

fn event(
    id: &str,
    logical: &str,
    rtype: &str,
    status: ResourceStatus,
    reason: &str,
    secs: i64,
) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_name(STACK)
        .logical_resource_id(logical)
        .resource_type(rtype)
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(DateTime::from_secs(secs))
        .build()
}

fn created_change_set() -> CreateChangeSetOutput {
    CreateChangeSetOutput::builder()
        .id("arn:aws:cloudformation:eu-west-1:123456789012:changeSet/dxops-1/abc")
        .stack_id("arn:aws:cloudformation:eu-west-1:123456789012:stack/x/1")
        .build()
}

#[tokio::test]
async fn failed_update_reports_first_failure_and_rollback() {
    let stacks = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateInProgress))
        .output(|| stack(StackStatus::UpdateRollbackInProgress))
        .output(|| stack(StackStatus::UpdateRollbackComplete))
        .repeatedly()
        .build();
    // newest first, as CloudFormation lists them
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| {
            DescribeStackEventsOutput::builder()
                .stack_events(event(
                    "old",
                    STACK,
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::CreateComplete,
                    "",
                    10,
                ))
                .build()
        })
        .output(|| {
            DescribeStackEventsOutput::builder()
                .stack_events(event(
                    "e5",
                    STACK,
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::UpdateRollbackComplete,
                    "",
                    26,
                ))
                .stack_events(event(
                    "e4",
                    "RawBucket",
                    "AWS::S3::Bucket",
                    ResourceStatus::UpdateComplete,
                    "",
                    25,
                ))
                .stack_events(event(
                    "e3",
                    "RawBucketPolicy",
                    "AWS::S3::BucketPolicy",
                    ResourceStatus::UpdateFailed,
                    "Resource update cancelled",
                    24,
                ))
                .stack_events(event(
                    "e2",
                    "RawBucket",
                    "AWS::S3::Bucket",
                    ResourceStatus::UpdateFailed,
                    "Bucket encryption cannot use a key that is pending deletion",
                    23,
                ))
                .stack_events(event(
                    "e1",
                    STACK,
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::UpdateInProgress,
                    "User Initiated",
                    20,
                ))
                .stack_events(event(
                    "old",
                    STACK,
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::CreateComplete,
                    "",
                    10,
                ))
                .build()
        })
        .repeatedly()
        .build();
    let execute =
        mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let client = mocked(&[&stacks, &events, &execute]);
    let plan = dxops_aws::Plan {
        stack_name: STACK.into(),
        change_set_id: "cs".into(),
        create: false,
        changes: Vec::new(),
    };
    let outcome = cfn(client)
        .execute(&plan, &Quiet, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(!outcome.succeeded);
    assert_eq!(outcome.status, "UPDATE_ROLLBACK_COMPLETE");
    let first = outcome.first_failure.unwrap();
    assert_eq!(first.logical_id, "RawBucket");
    assert!(first.reason.unwrap().contains("pending deletion"));
    assert_eq!(outcome.events, 5);
}

fn bucket_template(name: &str) -> serde_json::Value {
    json!({"Resources": {"RawBucket": {
        "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
        "Properties": {"BucketName": name}
    }}})
}

#[tokio::test]
async fn replacement_of_a_bucket_is_a_stateful_replacement() {
    let stacks = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
    let create = mock!(Client::create_change_set).then_output(created_change_set);
    let describe = mock!(Client::describe_change_set)
        .sequence()
        .output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreatePending)
                .build()
        })
        .output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateComplete)
                .changes(
                    Change::builder()
                        .r#type(ChangeType::Resource)
                        .resource_change(
                            ResourceChange::builder()
                                .action(ChangeAction::Modify)
                                .logical_resource_id("RawBucket")
                                .resource_type("AWS::S3::Bucket")
                                .replacement(Replacement::True)
                                .details(
                                    ResourceChangeDetail::builder()
                                        .target(
                                            ResourceTargetDefinition::builder()
                                                .attribute(ResourceAttribute::Properties)
                                                .name("BucketName")
                                                .build(),
                                        )
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    let client = mocked(&[&stacks, &create, &describe]);
    let plan = cfn(client)
        .plan(STACK, &body(), &[], None, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a plan");
    assert!(!plan.create);
    let old = bucket_template("raw");
    let new = bucket_template("raw-2");
    let report = dxops_aws::cfn::report(STACK, "eu-west-1", Some(&old), &new, Some(&plan));
    let replaced = report.stateful_replacements();
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].logical_id, "RawBucket");
    assert!(
        report
            .security
            .iter()
            .any(|s| s.logical_id == "RawBucket" && s.broadening)
    );
}

/// Plans against a change set that AWS marks FAILED with `reason`; returns
/// the plan's result and how often the failed change set was deleted.
async fn plan_with_failed_change_set(
    reason: &'static str,
) -> (Result<Option<dxops_aws::cfn::Plan>, DeployError>, usize) {
    let stacks = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
    let create = mock!(Client::create_change_set).then_output(created_change_set);
    let describe = mock!(Client::describe_change_set).then_output(move || {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason(reason)
            .build()
    });
    let delete =
        mock!(Client::delete_change_set).then_output(|| DeleteChangeSetOutput::builder().build());
    let client = mocked(&[&stacks, &create, &describe, &delete]);
    let plan = cfn(client)
        .plan(STACK, &body(), &[], None, Duration::from_secs(30))
        .await;
    (plan, delete.num_calls())
}

#[tokio::test]
async fn no_changes_as_a_failed_change_set() {
    let (plan, deleted) = plan_with_failed_change_set(
        "The submitted information didn't contain changes. Submit different information to create a change set.",
    )
    .await;
    assert!(plan.unwrap().is_none());
    assert_eq!(deleted, 1, "the failed change set is deleted");
}

#[tokio::test]
async fn no_changes_as_a_refused_change_set() {
    let stacks = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete));
    let create = mock!(Client::create_change_set)
        .then_http_response(|| aws_error("ValidationError", "No updates are to be performed."));
    let client = mocked(&[&stacks, &create]);
    let plan = cfn(client)
        .plan(STACK, &body(), &[], None, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(plan.is_none());
}

#[tokio::test]
async fn other_change_set_failures_are_errors() {
    let (plan, deleted) = plan_with_failed_change_set(
        "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template",
    )
    .await;
    let err = plan.unwrap_err();
    assert!(matches!(err, DeployError::ChangeSetFailed { .. }), "{err}");
    assert!(err.to_string().contains("Unresolved resource dependencies"));
    assert_eq!(deleted, 1, "the failed change set is deleted");
}

#[tokio::test]
async fn a_stack_that_never_settles_times_out() {
    let stacks = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateInProgress))
        .repeatedly()
        .build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| DescribeStackEventsOutput::builder().build())
        .repeatedly()
        .build();
    let execute =
        mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let client = mocked(&[&stacks, &events, &execute]);
    let plan = dxops_aws::Plan {
        stack_name: STACK.into(),
        change_set_id: "cs".into(),
        create: false,
        changes: Vec::new(),
    };
    let err = cfn(client)
        .execute(&plan, &Quiet, Duration::from_millis(30))
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("UPDATE_IN_PROGRESS"), "{err}");
}

#[tokio::test]
async fn drift_is_detected() {
    let detect = mock!(Client::detect_stack_drift).then_output(|| {
        DetectStackDriftOutput::builder()
            .stack_drift_detection_id("d-1")
            .build()
    });
    let status = mock!(Client::describe_stack_drift_detection_status)
        .sequence()
        .output(|| {
            DescribeStackDriftDetectionStatusOutput::builder()
                .stack_id("s")
                .stack_drift_detection_id("d-1")
                .detection_status(StackDriftDetectionStatus::DetectionInProgress)
                .timestamp(DateTime::from_secs(1))
                .build()
        })
        .output(|| {
            DescribeStackDriftDetectionStatusOutput::builder()
                .stack_id("s")
                .stack_drift_detection_id("d-1")
                .detection_status(StackDriftDetectionStatus::DetectionComplete)
                .stack_drift_status(StackDriftStatus::Drifted)
                .drifted_stack_resource_count(1)
                .timestamp(DateTime::from_secs(2))
                .build()
        })
        .repeatedly()
        .build();
    let client = mocked(&[&detect, &status]);
    let drift = cfn(client)
        .drift(STACK, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(drift.status, "DRIFTED");
}

#[tokio::test]
async fn rejected_credentials_are_named() {
    let stacks = mock!(Client::describe_stacks).then_http_response(|| {
        aws_error(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    });
    let client = mocked(&[&stacks]);
    let err = cfn(client).stack(STACK).await.unwrap_err();
    assert!(matches!(err, DeployError::Credentials { .. }), "{err}");
    assert!(err.to_string().contains("rejected the credentials"));
}

#[tokio::test]
async fn missing_stack_is_none() {
    let stacks = mock!(Client::describe_stacks).then_http_response(|| {
        aws_error(
            "ValidationError",
            &format!("Stack with id {STACK} does not exist"),
        )
    });
    let client = mocked(&[&stacks]);
    assert_eq!(cfn(client).stack(STACK).await.unwrap(), None);
}
