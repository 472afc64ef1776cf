//! What moto cannot show of the SageMaker side: executions that run, fail
//! or never end, their steps, the registry's answers to a decision, and
//! an endpoint shifting traffic, replayed in the shapes SageMaker answers.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::operation::describe_pipeline_execution::DescribePipelineExecutionOutput;
use aws_sdk_sagemaker::operation::list_pipeline_execution_steps::ListPipelineExecutionStepsOutput;
use aws_sdk_sagemaker::operation::start_pipeline_execution::StartPipelineExecutionOutput;
use aws_sdk_sagemaker::types::{PipelineExecutionStatus, PipelineExecutionStep, StepStatus};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use dxops_aws::DeployError;
use dxops_aws::pipeline::{Execution, Pipelines, Step, Watch};

const PIPELINE: &str = "disease-prediction-staging";
const ARN: &str = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/disease-prediction-staging/execution/k2x9q1w7e3r5";

pub fn mocked(rules: &[&Rule]) -> Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    Client::from_conf(
        aws_sdk_sagemaker::Config::builder()
            .with_test_defaults()
            .region(aws_sdk_sagemaker::config::Region::new("eu-west-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    )
}

/// An error as SageMaker's JSON protocol sends it.
pub fn sagemaker_error(code: &str, message: &str) -> HttpResponse {
    let body = format!("{{\"__type\":\"{code}\",\"Message\":\"{message}\"}}");
    HttpResponse::new(
        StatusCode::try_from(400).expect("status"),
        SdkBody::from(body),
    )
}

fn pipelines(client: Client) -> Pipelines {
    Pipelines::new(client, None).with_poll(Duration::from_millis(1))
}

fn execution(
    status: PipelineExecutionStatus,
    reason: Option<&str>,
) -> DescribePipelineExecutionOutput {
    DescribePipelineExecutionOutput::builder()
        .pipeline_execution_arn(ARN)
        .pipeline_execution_status(status)
        .set_failure_reason(reason.map(str::to_string))
        .build()
}

fn step(name: &str, status: StepStatus, reason: Option<&str>) -> PipelineExecutionStep {
    PipelineExecutionStep::builder()
        .step_name(name)
        .step_status(status)
        .set_failure_reason(reason.map(str::to_string))
        .build()
}

/// Every poll, as the CLI would see it.
#[derive(Default)]
struct Seen(Mutex<Vec<(String, Vec<String>)>>);

impl Watch for Seen {
    fn poll(&self, execution: &Execution, steps: &[Step], _elapsed: Duration) {
        self.0.lock().unwrap().push((
            execution.status.clone(),
            steps
                .iter()
                .map(|s| format!("{}:{}", s.name, s.status))
                .collect(),
        ));
    }
}

#[tokio::test]
async fn start_sends_the_parameters_and_returns_the_execution() {
    let start = mock!(Client::start_pipeline_execution)
        .match_requests(|r| {
            r.pipeline_name() == Some(PIPELINE)
                && r.pipeline_parameters().len() == 1
                && r.pipeline_parameters()[0].name() == Some("InputDataUri")
                && r.pipeline_parameters()[0].value() == Some("s3://raw/backfill/")
        })
        .then_output(|| {
            StartPipelineExecutionOutput::builder()
                .pipeline_execution_arn(ARN)
                .build()
        });
    let arn = pipelines(mocked(&[&start]))
        .start(
            PIPELINE,
            &[("InputDataUri".into(), "s3://raw/backfill/".into())],
            "test",
        )
        .await
        .unwrap();
    assert_eq!(arn, ARN);
}

#[tokio::test]
async fn a_pipeline_not_deployed_is_said_so() {
    let start = mock!(Client::start_pipeline_execution).then_http_response(|| {
        sagemaker_error(
            "ResourceNotFound",
            "Pipeline 'arn:aws:sagemaker:eu-west-1:123456789012:pipeline/disease-prediction-staging' does not exist.",
        )
    });
    let err = pipelines(mocked(&[&start]))
        .start(PIPELINE, &[], "test")
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::NotDeployed { .. }), "{err:?}");
    assert!(err.to_string().contains("dxops deploy"), "{err}");
}

#[tokio::test]
async fn wait_follows_steps_until_success() {
    let describe = mock!(Client::describe_pipeline_execution)
        .sequence()
        .output(|| execution(PipelineExecutionStatus::Executing, None))
        .output(|| execution(PipelineExecutionStatus::Executing, None))
        .output(|| execution(PipelineExecutionStatus::Succeeded, None))
        .build();
    let steps = mock!(Client::list_pipeline_execution_steps)
        .sequence()
        .output(|| {
            ListPipelineExecutionStepsOutput::builder()
                .pipeline_execution_steps(step("Process", StepStatus::Executing, None))
                .build()
        })
        .output(|| {
            ListPipelineExecutionStepsOutput::builder()
                .pipeline_execution_steps(step("Train", StepStatus::Executing, None))
                .pipeline_execution_steps(step("Process", StepStatus::Succeeded, None))
                .build()
        })
        .output(|| {
            ListPipelineExecutionStepsOutput::builder()
                .pipeline_execution_steps(step("Register", StepStatus::Succeeded, None))
                .pipeline_execution_steps(step("Train", StepStatus::Succeeded, None))
                .pipeline_execution_steps(step("Process", StepStatus::Succeeded, None))
                .build()
        })
        .build();
    let seen = Seen::default();
    let done = pipelines(mocked(&[&describe, &steps]))
        .wait(ARN, Duration::from_secs(30), &seen)
        .await
        .unwrap();
    assert!(done.succeeded(), "{done:?}");
    let polls = seen.0.into_inner().unwrap();
    assert_eq!(polls.len(), 3);
    assert_eq!(polls[1].1, ["Train:Executing", "Process:Succeeded"]);
}

#[tokio::test]
async fn a_failed_execution_carries_its_reason() {
    let describe = mock!(Client::describe_pipeline_execution).then_output(|| {
        execution(
            PipelineExecutionStatus::Failed,
            Some("Step failure: One or multiple steps failed."),
        )
    });
    let steps = mock!(Client::list_pipeline_execution_steps).then_output(|| {
        ListPipelineExecutionStepsOutput::builder()
            .pipeline_execution_steps(step(
                "Train",
                StepStatus::Failed,
                Some("AlgorithmError: out of memory"),
            ))
            .build()
    });
    let done = pipelines(mocked(&[&describe, &steps]))
        .wait(ARN, Duration::from_secs(30), &Seen::default())
        .await
        .unwrap();
    assert!(!done.succeeded());
    assert_eq!(done.status, "Failed");
    assert_eq!(
        done.failure_reason.as_deref(),
        Some("Step failure: One or multiple steps failed.")
    );
}

#[tokio::test]
async fn a_failure_without_a_reason_takes_the_failed_steps() {
    let describe = mock!(Client::describe_pipeline_execution)
        .then_output(|| execution(PipelineExecutionStatus::Failed, None));
    let steps = mock!(Client::list_pipeline_execution_steps).then_output(|| {
        ListPipelineExecutionStepsOutput::builder()
            .pipeline_execution_steps(step(
                "GatesNotMet",
                StepStatus::Failed,
                Some("A gate was not met; see the evaluation report of run k2x9q1w7e3r5"),
            ))
            .build()
    });
    let done = pipelines(mocked(&[&describe, &steps]))
        .wait(ARN, Duration::from_secs(30), &Seen::default())
        .await
        .unwrap();
    assert_eq!(
        done.failure_reason.as_deref(),
        Some("step GatesNotMet: A gate was not met; see the evaluation report of run k2x9q1w7e3r5")
    );
}

#[tokio::test]
async fn a_stopped_execution_is_finished_not_succeeded() {
    let describe = mock!(Client::describe_pipeline_execution)
        .then_output(|| execution(PipelineExecutionStatus::Stopped, None));
    let steps = mock!(Client::list_pipeline_execution_steps)
        .then_output(|| ListPipelineExecutionStepsOutput::builder().build());
    let done = pipelines(mocked(&[&describe, &steps]))
        .wait(ARN, Duration::from_secs(30), &Seen::default())
        .await
        .unwrap();
    assert!(done.finished() && !done.succeeded(), "{done:?}");
}

#[tokio::test]
async fn an_execution_that_never_ends_times_out_clearly() {
    let describe = mock!(Client::describe_pipeline_execution)
        .sequence()
        .output(|| execution(PipelineExecutionStatus::Executing, None))
        .repeatedly()
        .build();
    // an endpoint without ListPipelineExecutionSteps (moto): steps are skipped
    let steps = mock!(Client::list_pipeline_execution_steps).then_http_response(|| {
        sagemaker_error(
            "NotImplemented",
            "The list_pipeline_execution_steps action has not been implemented",
        )
    });
    let err = pipelines(mocked(&[&describe, &steps]))
        .wait(ARN, Duration::from_millis(30), &Seen::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeployError::PipelineTimeout { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("still Executing") && text.contains(ARN),
        "{text}"
    );
    assert_eq!(steps.num_calls(), 1, "steps asked once, then skipped");
}

#[tokio::test]
async fn rejected_credentials_fail_the_wait() {
    let describe = mock!(Client::describe_pipeline_execution).then_http_response(|| {
        sagemaker_error(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    });
    let err = pipelines(mocked(&[&describe]))
        .wait(ARN, Duration::from_secs(5), &Seen::default())
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::Credentials { .. }), "{err:?}");
}

mod registry {
    use super::*;
    use aws_sdk_sagemaker::operation::describe_model_package::DescribeModelPackageOutput;
    use aws_sdk_sagemaker::operation::list_model_packages::ListModelPackagesOutput;
    use aws_sdk_sagemaker::operation::update_model_package::UpdateModelPackageOutput;
    use aws_sdk_sagemaker::primitives::DateTime;
    use aws_sdk_sagemaker::types::{
        MetricsSource, ModelApprovalStatus, ModelMetrics, ModelPackageSummary, ModelQuality,
    };
    use dxops_aws::Identity;
    use dxops_aws::sagemaker::{Registry, Verdict, keys};

    const GROUP: &str = "disease-prediction-staging";
    const PACKAGE: &str =
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/disease-prediction-staging/2";
    const URI: &str = "s3://disease-prediction-staging-artifacts-123456789012/runs/p-1/evaluation/evaluation.json";

    fn clinician() -> Identity {
        Identity {
            account: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/Clinician/jane@example.org".into(),
        }
    }

    fn listed() -> ListModelPackagesOutput {
        let summary = |v: i32| {
            ModelPackageSummary::builder()
                .model_package_group_name(GROUP)
                .model_package_version(v)
                .model_package_arn(format!(
                    "arn:aws:sagemaker:eu-west-1:123456789012:model-package/{GROUP}/{v}"
                ))
                .model_approval_status(ModelApprovalStatus::PendingManualApproval)
                .creation_time(DateTime::from_secs(1_700_000_000 + i64::from(v)))
                .build()
        };
        ListModelPackagesOutput::builder()
            .model_package_summary_list(summary(1))
            .model_package_summary_list(summary(2))
            .build()
    }

    fn described(status: ModelApprovalStatus) -> DescribeModelPackageOutput {
        DescribeModelPackageOutput::builder()
            .model_package_arn(PACKAGE)
            .model_package_group_name(GROUP)
            .model_package_version(2)
            .model_approval_status(status)
            .model_metrics(
                ModelMetrics::builder()
                    .model_quality(
                        ModelQuality::builder()
                            .statistics(
                                MetricsSource::builder()
                                    .content_type("application/json")
                                    .s3_uri(URI)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .customer_metadata_properties("team", "clinical-ai")
            .build()
    }

    fn s3_denied() -> aws_sdk_s3::Client {
        let get = mock!(aws_sdk_s3::Client::get_object).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(403).expect("status"),
                SdkBody::from(
                    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                ),
            )
        });
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .with_test_defaults()
                .region(aws_sdk_s3::config::Region::new("eu-west-1"))
                .http_client(create_mock_http_client())
                .interceptor(MockResponseInterceptor::new().with_rule(&get))
                .build(),
        )
    }

    #[tokio::test]
    async fn a_decision_keeps_the_packages_metadata_and_records_the_evaluation_uri() {
        let list = mock!(Client::list_model_packages)
            .match_requests(|r| r.model_package_group_name() == Some(GROUP))
            .then_output(listed);
        let describe = mock!(Client::describe_model_package)
            .sequence()
            .output(|| described(ModelApprovalStatus::PendingManualApproval))
            .output(|| described(ModelApprovalStatus::Rejected))
            .build();
        let update = mock!(Client::update_model_package)
            .match_requests(|r| {
                let m = r
                    .customer_metadata_properties()
                    .cloned()
                    .unwrap_or_default();
                r.model_package_arn() == Some(PACKAGE)
                    && r.model_approval_status() == Some(&ModelApprovalStatus::Rejected)
                    && r.approval_description() == Some("recall on lupus too low (0.21)")
                    // what was there stays: UpdateModelPackage may replace the map
                    && m.get("team").map(String::as_str) == Some("clinical-ai")
                    && m.get(keys::DECIDED_BY).map(String::as_str)
                        == Some("arn:aws:sts::123456789012:assumed-role/Clinician/jane@example.org")
                    && m.get(keys::REASON).map(String::as_str)
                        == Some("recall on lupus too low _0.21_")
                    && m.get(keys::EVALUATION_URI).map(String::as_str) == Some(URI)
                    && !m.contains_key(keys::EVALUATION_SHA256)
            })
            .then_output(|| {
                UpdateModelPackageOutput::builder()
                    .model_package_arn(PACKAGE)
                    .build()
            });
        let registry = Registry::new(
            mocked(&[&list, &describe, &update]),
            Some(s3_denied()),
            None,
        );
        let decided = registry
            .decide(
                GROUP,
                2,
                Verdict::Rejected,
                "recall on lupus too low (0.21)",
                &clinician(),
                "2026-12-02T14:05:00Z",
            )
            .await
            .unwrap();
        assert_eq!(update.num_calls(), 1);
        assert_eq!(decided.package.status, "Rejected");
        // the evaluation could not be read: said, and its URI is still recorded
        assert_eq!(decided.evaluation.uri.as_deref(), Some(URI));
        assert!(
            decided
                .evaluation
                .unread
                .as_deref()
                .is_some_and(|w| w.contains("AccessDenied")),
            "{:?}",
            decided.evaluation
        );
    }

    #[tokio::test]
    async fn a_decided_version_is_refused_without_an_update() {
        let list = mock!(Client::list_model_packages).then_output(listed);
        let describe = mock!(Client::describe_model_package).then_output(|| {
            let mut d = described(ModelApprovalStatus::Approved);
            d.approval_description = Some("first model".into());
            d.customer_metadata_properties
                .get_or_insert_with(Default::default)
                .insert(
                    keys::DECIDED_BY.into(),
                    "arn:aws:sts::123456789012:user/lead".into(),
                );
            d
        });
        let update = mock!(Client::update_model_package)
            .then_output(|| UpdateModelPackageOutput::builder().build());
        let registry = Registry::new(mocked(&[&list, &describe, &update]), None, None);
        let err = registry
            .decide(GROUP, 2, Verdict::Approved, "again", &clinician(), "t")
            .await
            .unwrap_err();
        assert!(matches!(err, DeployError::AlreadyDecided { .. }), "{err:?}");
        assert!(
            err.to_string().contains(
                "v2 is already Approved by arn:aws:sts::123456789012:user/lead (first model)"
            ),
            "{err}"
        );
        assert_eq!(update.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_caller_without_the_permission_gets_sagemakers_words() {
        let list = mock!(Client::list_model_packages).then_output(listed);
        let describe = mock!(Client::describe_model_package)
            .then_output(|| described(ModelApprovalStatus::PendingManualApproval));
        let update = mock!(Client::update_model_package).then_http_response(|| {
            sagemaker_error(
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/Clinician/jane is not authorized to perform: sagemaker:UpdateModelPackage",
            )
        });
        let registry = Registry::new(mocked(&[&list, &describe, &update]), None, None);
        let err = registry
            .decide(GROUP, 2, Verdict::Approved, "ok", &clinician(), "t")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("UpdateModelPackage")
                && text.contains("(AccessDeniedException)")
                && text.contains("not authorized"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_unknown_version_lists_the_known_ones_and_a_missing_group_is_none() {
        let list = mock!(Client::list_model_packages).then_output(listed);
        let group = mock!(Client::describe_model_package_group).then_http_response(|| {
            sagemaker_error(
                "ValidationException",
                "ModelPackageGroup arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/disease-prediction-staging does not exist.",
            )
        });
        let registry = Registry::new(mocked(&[&list, &group]), None, None);
        let err = registry.package(GROUP, 7).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "disease-prediction-staging has no version 7 (it has: 1, 2)"
        );
        assert_eq!(registry.group(GROUP).await.unwrap(), None);
    }
}

mod endpoint {
    use super::*;
    use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
    use aws_sdk_sagemaker::operation::describe_endpoint_config::DescribeEndpointConfigOutput;
    use aws_sdk_sagemaker::operation::describe_model::DescribeModelOutput;
    use aws_sdk_sagemaker::primitives::DateTime;
    use aws_sdk_sagemaker::types::{
        ContainerDefinition, EndpointStatus, ProductionVariant, ProductionVariantSummary,
    };

    #[tokio::test]
    async fn a_canary_shows_both_variants_weights() {
        // blue/green canary: the new fleet takes 10% while it bakes
        let describe = mock!(Client::describe_endpoint).then_output(|| {
            let variant = |name: &str, current: f32, desired: f32| {
                ProductionVariantSummary::builder()
                    .variant_name(name)
                    .current_weight(current)
                    .desired_weight(desired)
                    .current_instance_count(2)
                    .desired_instance_count(2)
                    .build()
            };
            DescribeEndpointOutput::builder()
                .endpoint_name(PIPELINE)
                .endpoint_arn(
                    "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/disease-prediction-staging",
                )
                .endpoint_config_name("disease-prediction-staging-2")
                .endpoint_status(EndpointStatus::Updating)
                .production_variants(variant("AllTraffic", 9.0, 0.0))
                .production_variants(variant("AllTraffic-green", 1.0, 10.0))
                .creation_time(DateTime::from_secs(1))
                .last_modified_time(DateTime::from_secs(2))
                .build()
        });
        // each fleet's model, and the model data it serves
        let config = mock!(Client::describe_endpoint_config)
            .match_requests(|r| r.endpoint_config_name() == Some("disease-prediction-staging-2"))
            .then_output(|| {
                let variant = |name: &str, model: &str| {
                    ProductionVariant::builder()
                        .variant_name(name)
                        .model_name(model)
                        .build()
                };
                DescribeEndpointConfigOutput::builder()
                    .endpoint_config_name("disease-prediction-staging-2")
                    .production_variants(variant("AllTraffic", "model-v1"))
                    .production_variants(variant("AllTraffic-green", "model-v2"))
                    .build()
            });
        let model = |name: &'static str, data: &'static str| {
            mock!(Client::describe_model)
                .match_requests(move |r| r.model_name() == Some(name))
                .then_output(move || {
                    DescribeModelOutput::builder()
                        .model_name(name)
                        .primary_container(
                            ContainerDefinition::builder().model_data_url(data).build(),
                        )
                        .build()
                })
        };
        let (v1, v2) = (
            model("model-v1", "s3://artifacts/runs/r1/model/model.tar.gz"),
            model("model-v2", "s3://artifacts/runs/r2/model/model.tar.gz"),
        );
        let e =
            dxops_aws::serving::describe(&mocked(&[&describe, &config, &v1, &v2]), None, PIPELINE)
                .await
                .unwrap()
                .expect("deployed");
        assert_eq!(e.status, "Updating");
        assert_eq!(e.shares(), Some(vec![0.9, 0.1]));
        assert_eq!(e.variants[1].desired_weight, Some(10.0));
        assert_eq!(e.variants[0].model.as_deref(), Some("model-v1"));
        assert_eq!(
            e.variants[1].model_data.as_deref(),
            Some("s3://artifacts/runs/r2/model/model.tar.gz")
        );
    }

    #[tokio::test]
    async fn an_unreadable_config_leaves_the_models_out() {
        let describe = mock!(Client::describe_endpoint).then_output(|| {
            DescribeEndpointOutput::builder()
                .endpoint_name(PIPELINE)
                .endpoint_config_name("disease-prediction-staging-3")
                .endpoint_status(EndpointStatus::InService)
                .production_variants(
                    ProductionVariantSummary::builder()
                        .variant_name("AllTraffic")
                        .current_weight(1.0)
                        .build(),
                )
                .build()
        });
        let config = mock!(Client::describe_endpoint_config).then_http_response(|| {
            sagemaker_error(
                "AccessDeniedException",
                "not authorized to DescribeEndpointConfig",
            )
        });
        let e = dxops_aws::serving::describe(&mocked(&[&describe, &config]), None, PIPELINE)
            .await
            .unwrap()
            .expect("deployed");
        assert_eq!(e.status, "InService");
        assert_eq!(e.variants[0].model, None);
        assert_eq!(e.variants[0].model_data, None);
    }

    #[tokio::test]
    async fn a_missing_endpoint_is_none() {
        let describe = mock!(Client::describe_endpoint).then_http_response(|| {
            sagemaker_error(
                "ValidationException",
                "Could not find endpoint \\\"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/disease-prediction-staging\\\".",
            )
        });
        let e = dxops_aws::serving::describe(&mocked(&[&describe]), None, PIPELINE)
            .await
            .unwrap();
        assert_eq!(e, None);
    }
}

mod executions {
    use super::*;
    use aws_sdk_sagemaker::operation::list_pipeline_executions::ListPipelineExecutionsOutput;
    use aws_sdk_sagemaker::primitives::DateTime;
    use aws_sdk_sagemaker::types::PipelineExecutionSummary;

    #[tokio::test]
    async fn the_last_executions_come_newest_first_with_their_reasons() {
        let list = mock!(Client::list_pipeline_executions)
            .match_requests(|r| r.pipeline_name() == Some(PIPELINE) && r.max_results() == Some(2))
            .then_output(|| {
                let run =
                    |id: &str, secs: i64, status: PipelineExecutionStatus, reason: Option<&str>| {
                        PipelineExecutionSummary::builder()
                            .pipeline_execution_arn(format!("{PIPELINE}/execution/{id}"))
                            .start_time(DateTime::from_secs(secs))
                            .pipeline_execution_status(status)
                            .set_pipeline_execution_failure_reason(reason.map(str::to_string))
                            .build()
                    };
                ListPipelineExecutionsOutput::builder()
                    .pipeline_execution_summaries(run(
                        "a",
                        10,
                        PipelineExecutionStatus::Succeeded,
                        None,
                    ))
                    .pipeline_execution_summaries(run(
                        "b",
                        20,
                        PipelineExecutionStatus::Failed,
                        Some("Step failure: One or multiple steps failed."),
                    ))
                    .build()
            });
        let runs = pipelines(mocked(&[&list]))
            .last(PIPELINE, 2)
            .await
            .unwrap()
            .expect("deployed");
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].status, "Failed");
        assert_eq!(
            runs[0].failure_reason.as_deref(),
            Some("Step failure: One or multiple steps failed.")
        );
        assert_eq!(runs[1].status, "Succeeded");
    }

    #[tokio::test]
    async fn a_missing_pipeline_is_none() {
        let list = mock!(Client::list_pipeline_executions).then_http_response(|| {
            sagemaker_error(
                "ResourceNotFound",
                "Pipeline arn:aws:sagemaker:eu-west-1:123456789012:pipeline/disease-prediction-staging does not exist.",
            )
        });
        assert_eq!(
            pipelines(mocked(&[&list])).last(PIPELINE, 5).await.unwrap(),
            None
        );
    }
}
