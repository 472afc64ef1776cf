//! Templates over CloudFormation's inline limit: uploaded once to the deploy
//! bucket (content-addressed, SSE-KMS, owner checked) and passed by URL; the
//! failures a user meets, replayed in the shapes S3 answers them.

use std::time::Duration;

use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::ChangeSetStatus;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use dxops_aws::templates::{self, TEMPLATE_BODY_LIMIT};
use dxops_aws::{Cfn, DeployError, TemplateBucket, TemplateSource};

const STACK: &str = "disease-prediction-staging-ml";
const BUCKET: &str = "disease-prediction-staging-deploy-123456789012";
const ACCOUNT: &str = "123456789012";

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    interceptor
}

fn s3(rules: &[&Rule]) -> TemplateBucket {
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor(rules))
            .build(),
    );
    TemplateBucket::new(client, None, BUCKET, "eu-west-1", Some(ACCOUNT))
}

/// An error as S3's REST-XML protocol sends it.
fn s3_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
    );
    HttpResponse::new(
        StatusCode::try_from(status).expect("status"),
        SdkBody::from(body),
    )
}

/// HeadObject of an absent key: a 404 with no body.
fn not_found() -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(404).expect("status"), SdkBody::empty())
}

/// A rendered-size template: over the limit by a few bytes.
fn large() -> String {
    let mut body = String::from(
        "Resources:\n  Handle:\n    Type: AWS::CloudFormation::WaitConditionHandle\n    Metadata:\n      Padding: ",
    );
    while body.len() <= TEMPLATE_BODY_LIMIT + 16 {
        body.push('x');
    }
    body.push('\n');
    body
}

#[tokio::test]
async fn a_large_template_is_uploaded_once_encrypted_and_by_url() {
    let body = large();
    let key = templates::key(STACK, &body);
    let head = mock!(aws_sdk_s3::Client::head_object)
        .match_requests({
            let key = key.clone();
            move |r| {
                r.bucket() == Some(BUCKET)
                    && r.key() == Some(key.as_str())
                    && r.expected_bucket_owner() == Some(ACCOUNT)
            }
        })
        .then_http_response(not_found);
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests({
            let key = key.clone();
            move |r| {
                r.bucket() == Some(BUCKET)
                    && r.key() == Some(key.as_str())
                    && r.server_side_encryption() == Some(&ServerSideEncryption::AwsKms)
                    && r.bucket_key_enabled() == Some(true)
                    && r.expected_bucket_owner() == Some(ACCOUNT)
            }
        })
        .then_output(|| PutObjectOutput::builder().build());
    let bucket = s3(&[&head, &put]);
    let TemplateSource::Url(up) = bucket.source(STACK, &body).await.unwrap() else {
        panic!("a template over the limit goes by URL");
    };
    assert!(up.uploaded);
    assert_eq!(up.bytes, body.len());
    assert_eq!(
        up.url,
        format!("https://{BUCKET}.s3.eu-west-1.amazonaws.com/{key}")
    );
    assert_eq!((head.num_calls(), put.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_uploaded_template_is_not_uploaded_again() {
    let body = large();
    let head = mock!(aws_sdk_s3::Client::head_object)
        .then_output(|| HeadObjectOutput::builder().content_length(1).build());
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let bucket = s3(&[&head, &put]);
    let TemplateSource::Url(up) = bucket.source(STACK, &body).await.unwrap() else {
        panic!("by URL");
    };
    assert!(!up.uploaded);
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn a_small_template_stays_inline_and_touches_no_bucket() {
    let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(not_found);
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let bucket = s3(&[&head, &put]);
    let body = "x".repeat(TEMPLATE_BODY_LIMIT);
    assert_eq!(
        bucket.source(STACK, &body).await.unwrap(),
        TemplateSource::Body(body)
    );
    assert_eq!((head.num_calls(), put.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_refused_upload_names_the_stack_bucket_and_reason() {
    let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(not_found);
    let put = mock!(aws_sdk_s3::Client::put_object)
        .then_http_response(|| s3_error(403, "AccessDenied", "Access Denied"));
    let bucket = s3(&[&head, &put]);
    let err = bucket.source(STACK, &large()).await.unwrap_err();
    assert!(matches!(err, DeployError::Upload { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        STACK,
        &format!("s3://{BUCKET}/templates/{STACK}/"),
        "(AccessDenied)",
        "Access Denied",
        "dxops bootstrap",
    ] {
        assert!(text.contains(part), "{part} in: {text}");
    }
}

#[tokio::test]
async fn a_missing_bucket_is_an_upload_error() {
    // S3 answers HeadObject in a missing bucket with a bare 404 too
    let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(not_found);
    let put = mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
    });
    let bucket = s3(&[&head, &put]);
    let err = bucket.source(STACK, &large()).await.unwrap_err();
    assert!(err.to_string().contains("(NoSuchBucket)"), "{err}");
}

#[tokio::test]
async fn rejected_credentials_stay_a_credentials_error() {
    let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(|| {
        s3_error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    });
    let bucket = s3(&[&head]);
    let err = bucket.source(STACK, &large()).await.unwrap_err();
    assert!(matches!(err, DeployError::Credentials { .. }), "{err:?}");
}

#[tokio::test]
async fn a_change_set_gets_the_url_not_the_body() {
    let up = templates::Uploaded {
        bucket: BUCKET.into(),
        key: "templates/k".into(),
        url: format!("https://{BUCKET}.s3.eu-west-1.amazonaws.com/templates/k"),
        uploaded: true,
        bytes: TEMPLATE_BODY_LIMIT + 1,
    };
    let stacks = mock!(aws_sdk_cloudformation::Client::describe_stacks)
        .then_output(|| DescribeStacksOutput::builder().build());
    let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
        .match_requests({
            let url = up.url.clone();
            move |r| r.template_url() == Some(url.as_str()) && r.template_body().is_none()
        })
        .then_output(|| {
            CreateChangeSetOutput::builder()
                .id("arn:aws:cloudformation:eu-west-1:123456789012:changeSet/dxops-1/abc")
                .build()
        });
    let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .build()
    });
    let client = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_cloudformation::config::Region::new("eu-west-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor(&[&stacks, &create, &describe]))
            .build(),
    );
    let plan = Cfn::new(client, None)
        .with_poll(Duration::from_millis(1))
        .plan(
            STACK,
            &TemplateSource::Url(up),
            &[],
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap()
        .expect("a plan");
    assert!(plan.create);
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn a_large_body_is_never_sent_inline() {
    let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let client = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_cloudformation::config::Region::new("eu-west-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor(&[&create]))
            .build(),
    );
    let err = Cfn::new(client, None)
        .plan(
            STACK,
            &TemplateSource::Body(large()),
            &[],
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeployError::NeedsTemplateBucket { .. }),
        "{err}"
    );
    assert_eq!(create.num_calls(), 0);
}
