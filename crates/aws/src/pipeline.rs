//! The environment's SageMaker pipeline: start an execution, follow it to
//! its end, list the last ones.

use std::time::{Duration, Instant};

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::{Parameter, SortOrder, SortPipelineExecutionsBy};
use serde::Serialize;

use crate::error::{DeployError, classify};

/// One execution, as DescribePipelineExecution or ListPipelineExecutions give it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub arn: String,
    /// `Executing`, `Stopping`, `Stopped`, `Failed` or `Succeeded`.
    pub status: String,
    pub failure_reason: Option<String>,
    /// Seconds since the Unix epoch.
    pub started: Option<i64>,
    pub display_name: Option<String>,
}

impl Execution {
    /// Whether SageMaker is done with it.
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Failed" | "Stopped")
    }

    pub fn succeeded(&self) -> bool {
        self.status == "Succeeded"
    }
}

/// A step of an execution, where the endpoint lists them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub name: String,
    pub status: String,
    pub failure_reason: Option<String>,
}

/// What the caller watches while an execution runs.
pub trait Watch {
    /// Called on every poll.
    fn poll(&self, execution: &Execution, steps: &[Step], elapsed: Duration);
}

/// The pipeline's client, in the environment's region.
#[derive(Clone)]
pub struct Pipelines {
    client: Client,
    endpoint: Option<String>,
    poll: Duration,
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty() && *s != "None")
        .map(str::to_string)
}

impl Pipelines {
    pub fn new(client: Client, endpoint: Option<String>) -> Pipelines {
        Pipelines {
            client,
            endpoint,
            poll: Duration::from_secs(10),
        }
    }

    /// How often to poll an execution (tests poll fast).
    pub fn with_poll(mut self, poll: Duration) -> Pipelines {
        self.poll = poll;
        self
    }

    fn err<E, R>(
        &self,
        operation: &'static str,
        what: &str,
        e: aws_sdk_sagemaker::error::SdkError<E, R>,
    ) -> DeployError
    where
        E: aws_sdk_sagemaker::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        classify(operation, what, self.endpoint.as_deref(), e)
    }

    /// Starts an execution with these parameter values (the others keep
    /// the pipeline's defaults); returns its ARN. A pipeline that does not
    /// exist is [`DeployError::NotDeployed`].
    pub async fn start(
        &self,
        pipeline: &str,
        parameters: &[(String, String)],
        description: &str,
    ) -> Result<String, DeployError> {
        let params: Vec<Parameter> = parameters
            .iter()
            .map(|(k, v)| Parameter::builder().name(k).value(v).build())
            .collect();
        let out = self
            .client
            .start_pipeline_execution()
            .pipeline_name(pipeline)
            .set_pipeline_parameters((!params.is_empty()).then_some(params))
            .pipeline_execution_description(description)
            .send()
            .await
            .map_err(|e| match self.err("StartPipelineExecution", pipeline, e) {
                e if e.is_missing_resource() => DeployError::NotDeployed {
                    what: format!("pipeline {pipeline}"),
                },
                e => e,
            })?;
        Ok(out.pipeline_execution_arn().unwrap_or_default().to_string())
    }

    /// The execution as it is now.
    pub async fn describe(&self, arn: &str) -> Result<Execution, DeployError> {
        let out = self
            .client
            .describe_pipeline_execution()
            .pipeline_execution_arn(arn)
            .send()
            .await
            .map_err(|e| self.err("DescribePipelineExecution", arn, e))?;
        Ok(Execution {
            arn: out.pipeline_execution_arn().unwrap_or(arn).to_string(),
            status: out
                .pipeline_execution_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            failure_reason: nonempty(out.failure_reason()),
            started: out.creation_time().map(|t| t.secs()),
            display_name: nonempty(out.pipeline_execution_display_name()),
        })
    }

    /// The execution's steps, newest first as SageMaker lists them; `None`
    /// where the endpoint does not offer ListPipelineExecutionSteps.
    pub async fn steps(&self, arn: &str) -> Result<Option<Vec<Step>>, DeployError> {
        match self
            .client
            .list_pipeline_execution_steps()
            .pipeline_execution_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.pipeline_execution_steps()
                    .iter()
                    .map(|s| Step {
                        name: s.step_name().unwrap_or_default().to_string(),
                        status: s
                            .step_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        failure_reason: nonempty(s.failure_reason()),
                    })
                    .collect(),
            )),
            Err(e) => match self.err("ListPipelineExecutionSteps", arn, e) {
                e @ (DeployError::Unreachable { .. }
                | DeployError::Credentials { .. }
                | DeployError::NoCredentials { .. }) => Err(e),
                _ => Ok(None),
            },
        }
    }

    /// Polls the execution until it finishes (or `timeout` passes: then
    /// [`DeployError::PipelineTimeout`]; the execution keeps running).
    pub async fn wait(
        &self,
        arn: &str,
        timeout: Duration,
        watch: &dyn Watch,
    ) -> Result<Execution, DeployError> {
        let started = Instant::now();
        let mut list_steps = true;
        loop {
            let execution = self.describe(arn).await?;
            let mut steps = Vec::new();
            if list_steps {
                match self.steps(arn).await? {
                    Some(s) => steps = s,
                    None => list_steps = false,
                }
            }
            watch.poll(&execution, &steps, started.elapsed());
            if execution.finished() {
                // a failure's reason is often only on the step that failed
                let mut execution = execution;
                if execution.failure_reason.is_none()
                    && let Some(step) = steps.iter().find(|s| s.failure_reason.is_some())
                {
                    execution.failure_reason = Some(format!(
                        "step {}: {}",
                        step.name,
                        step.failure_reason.clone().unwrap_or_default()
                    ));
                }
                return Ok(execution);
            }
            if started.elapsed() >= timeout {
                return Err(DeployError::PipelineTimeout {
                    arn: arn.into(),
                    seconds: timeout.as_secs(),
                    status: execution.status,
                });
            }
            let left = timeout.saturating_sub(started.elapsed());
            tokio::time::sleep(self.poll.min(left.max(Duration::from_millis(1)))).await;
        }
    }

    /// The pipeline's last `n` executions, newest first; `None` when the
    /// pipeline does not exist (not deployed yet).
    pub async fn last(
        &self,
        pipeline: &str,
        n: i32,
    ) -> Result<Option<Vec<Execution>>, DeployError> {
        let out = self
            .client
            .list_pipeline_executions()
            .pipeline_name(pipeline)
            .sort_by(SortPipelineExecutionsBy::CreationTime)
            .sort_order(SortOrder::Descending)
            .max_results(n)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                return match self.err("ListPipelineExecutions", pipeline, e) {
                    e if e.is_missing_resource() => Ok(None),
                    e => Err(e),
                };
            }
        };
        let mut executions: Vec<Execution> = out
            .pipeline_execution_summaries()
            .iter()
            .map(|s| Execution {
                arn: s.pipeline_execution_arn().unwrap_or_default().to_string(),
                status: s
                    .pipeline_execution_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                failure_reason: nonempty(s.pipeline_execution_failure_reason()),
                started: s.start_time().map(|t| t.secs()),
                display_name: nonempty(s.pipeline_execution_display_name()),
            })
            .collect();
        // not every endpoint sorts
        executions.sort_by_key(|e| std::cmp::Reverse(e.started.unwrap_or(0)));
        executions.truncate(usize::try_from(n).unwrap_or(0));
        Ok(Some(executions))
    }
}
