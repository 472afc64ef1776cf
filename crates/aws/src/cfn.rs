//! CloudFormation through the SDK: change sets, their execution, stack
//! events, status, drift and deletion. Every call goes through [`Cfn`], one
//! client per region.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, ChangeAction, ChangeSetStatus, ChangeSetType, Parameter, ResourceAttribute,
    StackDriftDetectionStatus, TemplateStage,
};
use serde::Serialize;
use serde_json::Value;

use crate::diff::{self, Action, ChangeSetChange, Replacement};
use crate::error::{DeployError, classify};
use crate::templates::TemplateSource;

pub use crate::templates::TEMPLATE_BODY_LIMIT;

/// The two ways CloudFormation says a change set holds nothing.
pub fn is_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// What the deployer watches while a stack changes.
pub trait Progress {
    /// A stack event, in the order they happened.
    fn event(&self, stack: &str, event: &Event);
    /// Called on every poll while waiting.
    fn waiting(&self, _stack: &str, _status: &str, _elapsed: Duration) {}
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _stack: &str, _event: &Event) {}
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: String,
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    pub timestamp: Option<i64>,
}

impl Event {
    pub fn failed(&self) -> bool {
        self.status.ends_with("_FAILED")
            && !self
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("cancelled") || r.contains("canceled"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackInfo {
    pub stack_id: String,
    pub status: String,
    pub reason: Option<String>,
}

impl StackInfo {
    /// A stack CloudFormation only created to hold a change set: nothing deployed yet.
    pub fn is_review(&self) -> bool {
        self.status == "REVIEW_IN_PROGRESS"
    }
}

/// A change set waiting to be executed (or, for `diff`, deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stack_name: String,
    pub change_set_id: String,
    pub create: bool,
    pub changes: Vec<ChangeSetChange>,
}

/// The end of an execution or deletion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub stack_name: String,
    pub status: String,
    pub succeeded: bool,
    /// The first event that failed, when one did.
    pub first_failure: Option<Event>,
    pub events: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// `IN_SYNC`, `DRIFTED`, `UNKNOWN`, or `unavailable` with a reason.
    pub status: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retained {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
}

/// CloudFormation in one region.
#[derive(Clone)]
pub struct Cfn {
    client: Client,
    endpoint: Option<String>,
    poll: Duration,
}

/// Parameter values for a change set; `None` keeps the deployed value.
pub type Parameters = [(String, Option<String>)];

fn param_list(params: &Parameters) -> Vec<Parameter> {
    params
        .iter()
        .map(|(k, v)| match v {
            Some(v) => Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build(),
            None => Parameter::builder()
                .parameter_key(k)
                .use_previous_value(true)
                .build(),
        })
        .collect()
}

impl Cfn {
    pub fn new(client: Client, endpoint: Option<String>) -> Cfn {
        Cfn {
            client,
            endpoint,
            poll: Duration::from_secs(2),
        }
    }

    /// How often to poll change sets and stacks (tests poll fast).
    pub fn with_poll(mut self, poll: Duration) -> Cfn {
        self.poll = poll;
        self
    }

    fn err<E, R>(
        &self,
        operation: &'static str,
        stack: &str,
        e: aws_sdk_cloudformation::error::SdkError<E, R>,
    ) -> DeployError
    where
        E: aws_sdk_cloudformation::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        classify(operation, stack, self.endpoint.as_deref(), e)
    }

    /// The stack, or `None` when it does not exist.
    pub async fn stack(&self, name: &str) -> Result<Option<StackInfo>, DeployError> {
        match self.client.describe_stacks().stack_name(name).send().await {
            Ok(out) => Ok(out.stacks().first().map(|s| StackInfo {
                stack_id: s.stack_id().unwrap_or(name).to_string(),
                status: s
                    .stack_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: s.stack_status_reason().map(str::to_string),
            })),
            Err(e) => {
                let e = self.err("DescribeStacks", name, e);
                if e.is_missing_stack() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The template the stack was deployed with, parsed; `None` when the stack is not deployed.
    pub async fn deployed_template(&self, name: &str) -> Result<Option<Value>, DeployError> {
        match self.stack(name).await? {
            None => return Ok(None),
            Some(s) if s.is_review() => return Ok(None),
            Some(_) => {}
        }
        let out = self
            .client
            .get_template()
            .stack_name(name)
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .map_err(|e| self.err("GetTemplate", name, e))?;
        let body = out.template_body().unwrap_or_default();
        let value = dxops_spec::yaml::parse_value(body).map_err(|e| DeployError::Template {
            file: format!("deployed template of {name}"),
            message: e.to_string(),
        })?;
        Ok(Some(value))
    }

    /// Creates a change set for the stack and waits until CloudFormation has
    /// computed it; CloudFormation acts as `role_arn` when one is given.
    /// `Ok(None)` when it holds no changes (the change set is deleted again).
    /// A template over the inline limit comes by URL
    /// ([`crate::TemplateBucket::source`]).
    pub async fn plan(
        &self,
        stack_name: &str,
        template: &TemplateSource,
        params: &Parameters,
        role_arn: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<Plan>, DeployError> {
        let (body, url) = match template {
            TemplateSource::Body(body) => {
                if body.len() > TEMPLATE_BODY_LIMIT {
                    return Err(DeployError::NeedsTemplateBucket {
                        stack: stack_name.into(),
                        bytes: body.len(),
                    });
                }
                (Some(body.clone()), None)
            }
            TemplateSource::Url(up) => (None, Some(up.url.clone())),
        };
        let existing = self.stack(stack_name).await?;
        let create = match &existing {
            None => true,
            Some(s) if s.is_review() => true,
            Some(s)
                if s.status == "ROLLBACK_COMPLETE"
                    || s.status == "ROLLBACK_FAILED"
                    || s.status == "DELETE_FAILED"
                    || s.status.ends_with("_IN_PROGRESS") =>
            {
                return Err(DeployError::Unusable {
                    stack: stack_name.into(),
                    status: s.status.clone(),
                    reason: s.reason.clone(),
                });
            }
            Some(_) => false,
        };
        let name = change_set_name();
        let out = self
            .client
            .create_change_set()
            .stack_name(stack_name)
            .change_set_name(&name)
            .set_template_body(body)
            .set_template_url(url)
            .set_role_arn(role_arn.map(str::to_string))
            .set_parameters(Some(param_list(params)))
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .change_set_type(if create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .description("dxops deploy")
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                return match self.err("CreateChangeSet", stack_name, e) {
                    // the other way of saying "no changes": refused outright
                    DeployError::Api { message, .. } if is_no_changes(&message) => Ok(None),
                    e => Err(e),
                };
            }
        };
        let id = out.id().unwrap_or(&name).to_string();

        let started = Instant::now();
        loop {
            let described = self.describe_change_set(stack_name, &id).await?;
            match described.0 {
                Some(ChangeSetStatus::CreateComplete) => {
                    return Ok(Some(Plan {
                        stack_name: stack_name.into(),
                        change_set_id: id,
                        create,
                        changes: described.2,
                    }));
                }
                Some(ChangeSetStatus::Failed) => {
                    let reason = described.1.unwrap_or_default();
                    let plan = Plan {
                        stack_name: stack_name.into(),
                        change_set_id: id,
                        create,
                        changes: Vec::new(),
                    };
                    self.discard(&plan).await?;
                    if is_no_changes(&reason) {
                        return Ok(None);
                    }
                    return Err(DeployError::ChangeSetFailed {
                        stack: stack_name.into(),
                        reason,
                    });
                }
                _ => {}
            }
            if started.elapsed() > timeout {
                return Err(DeployError::Timeout {
                    stack: stack_name.into(),
                    seconds: timeout.as_secs(),
                    status: "change set CREATE_PENDING".into(),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn describe_change_set(
        &self,
        stack_name: &str,
        id: &str,
    ) -> Result<
        (
            Option<ChangeSetStatus>,
            Option<String>,
            Vec<ChangeSetChange>,
        ),
        DeployError,
    > {
        let mut changes = Vec::new();
        let mut token: Option<String> = None;
        let (status, reason) = loop {
            let out = self
                .client
                .describe_change_set()
                .change_set_name(id)
                .stack_name(stack_name)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| self.err("DescribeChangeSet", stack_name, e))?;
            for change in out.changes() {
                let Some(rc) = change.resource_change() else {
                    continue;
                };
                let action = match rc.action() {
                    Some(ChangeAction::Add) | Some(ChangeAction::Import) => Action::Add,
                    Some(ChangeAction::Remove) => Action::Remove,
                    _ => Action::Modify,
                };
                let replacement = rc.replacement().map(|r| match r.as_str() {
                    "True" => Replacement::True,
                    "Conditional" => Replacement::Conditional,
                    _ => Replacement::Never,
                });
                let mut attributes: Vec<String> = Vec::new();
                for detail in rc.details() {
                    let Some(target) = detail.target() else {
                        continue;
                    };
                    let attribute = match (target.attribute(), target.name()) {
                        (Some(ResourceAttribute::Properties), Some(name)) => {
                            format!("Properties.{name}")
                        }
                        (Some(a), _) => a.as_str().to_string(),
                        (None, Some(name)) => name.to_string(),
                        (None, None) => continue,
                    };
                    if !attributes.contains(&attribute) {
                        attributes.push(attribute);
                    }
                }
                changes.push(ChangeSetChange {
                    logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: rc.resource_type().unwrap_or_default().to_string(),
                    action,
                    replacement,
                    attributes,
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break (
                    out.status().cloned(),
                    out.status_reason().map(str::to_string),
                );
            }
        };
        Ok((status, reason, changes))
    }

    /// Deletes a change set that will not be executed, and the empty stack a
    /// CREATE change set made.
    pub async fn discard(&self, plan: &Plan) -> Result<(), DeployError> {
        self.client
            .delete_change_set()
            .change_set_name(&plan.change_set_id)
            .stack_name(&plan.stack_name)
            .send()
            .await
            .map_err(|e| self.err("DeleteChangeSet", &plan.stack_name, e))?;
        if plan.create
            && let Some(s) = self.stack(&plan.stack_name).await?
            && s.is_review()
        {
            self.client
                .delete_stack()
                .stack_name(&plan.stack_name)
                .send()
                .await
                .map_err(|e| self.err("DeleteStack", &plan.stack_name, e))?;
        }
        Ok(())
    }

    /// Event ids of the stack as they are now (so that following an
    /// operation shows only its own events).
    async fn seen_events(&self, stack: &str) -> Result<BTreeSet<String>, DeployError> {
        Ok(self
            .events(stack)
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect())
    }

    /// The stack's recent events, oldest first.
    pub async fn events(&self, stack: &str) -> Result<Vec<Event>, DeployError> {
        let out = self
            .client
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| self.err("DescribeStackEvents", stack, e))?;
        let mut events: Vec<Event> = out
            .stack_events()
            .iter()
            .map(|e| Event {
                id: e.event_id().unwrap_or_default().to_string(),
                logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                physical_id: e.physical_resource_id().map(str::to_string),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(str::to_string),
                timestamp: e.timestamp().map(|t| t.to_millis().unwrap_or(0)),
            })
            .collect();
        // CloudFormation lists newest first.
        events.reverse();
        events.sort_by_key(|e| e.timestamp.unwrap_or(0));
        Ok(events)
    }

    /// Executes a plan and follows the stack until it settles.
    pub async fn execute(
        &self,
        plan: &Plan,
        progress: &dyn Progress,
        timeout: Duration,
    ) -> Result<Outcome, DeployError> {
        let seen = self.seen_events(&plan.stack_name).await?;
        self.client
            .execute_change_set()
            .change_set_name(&plan.change_set_id)
            .stack_name(&plan.stack_name)
            .send()
            .await
            .map_err(|e| self.err("ExecuteChangeSet", &plan.stack_name, e))?;
        self.follow(&plan.stack_name, seen, progress, timeout).await
    }

    /// Polls events and status until the stack is no longer in progress.
    async fn follow(
        &self,
        stack_name: &str,
        mut seen: BTreeSet<String>,
        progress: &dyn Progress,
        timeout: Duration,
    ) -> Result<Outcome, DeployError> {
        let started = Instant::now();
        let mut first_failure: Option<Event> = None;
        let mut count = 0;
        loop {
            let info = self.stack(stack_name).await?;
            let status = info
                .as_ref()
                .map(|s| s.status.clone())
                .unwrap_or_else(|| "DELETE_COMPLETE".into());
            if info.is_some() {
                for event in self.events(stack_name).await? {
                    if seen.insert(event.id.clone()) {
                        count += 1;
                        if first_failure.is_none() && event.failed() {
                            first_failure = Some(event.clone());
                        }
                        progress.event(stack_name, &event);
                    }
                }
            }
            progress.waiting(stack_name, &status, started.elapsed());
            if !status.ends_with("_IN_PROGRESS") {
                let succeeded = matches!(
                    status.as_str(),
                    "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "DELETE_COMPLETE" | "IMPORT_COMPLETE"
                );
                return Ok(Outcome {
                    stack_name: stack_name.into(),
                    status,
                    succeeded,
                    first_failure,
                    events: count,
                });
            }
            if started.elapsed() > timeout {
                return Err(DeployError::Timeout {
                    stack: stack_name.into(),
                    seconds: timeout.as_secs(),
                    status,
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Resources of the deployed stack that its template retains on
    /// delete, with their physical ids.
    pub async fn retained(
        &self,
        stack_name: &str,
        template: &Value,
    ) -> Result<Vec<Retained>, DeployError> {
        let retained: Vec<(String, String)> = template
            .get("Resources")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, r)| {
                        r.get("DeletionPolicy").and_then(Value::as_str) == Some("Retain")
                    })
                    .map(|(id, r)| {
                        (
                            id.clone(),
                            r.get("Type")
                                .and_then(Value::as_str)
                                .unwrap_or("?")
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut physical = std::collections::BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_stack_resources()
                .stack_name(stack_name)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| self.err("ListStackResources", stack_name, e))?;
            for r in out.stack_resource_summaries() {
                if let (Some(l), Some(p)) = (r.logical_resource_id(), r.physical_resource_id()) {
                    physical.insert(l.to_string(), p.to_string());
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(retained
            .into_iter()
            .map(|(logical_id, resource_type)| Retained {
                physical_id: physical.get(&logical_id).cloned(),
                logical_id,
                resource_type,
            })
            .collect())
    }

    /// Deletes the stack and follows it until it is gone.
    pub async fn delete(
        &self,
        stack_name: &str,
        progress: &dyn Progress,
        timeout: Duration,
    ) -> Result<Outcome, DeployError> {
        let seen = self.seen_events(stack_name).await?;
        self.client
            .delete_stack()
            .stack_name(stack_name)
            .send()
            .await
            .map_err(|e| self.err("DeleteStack", stack_name, e))?;
        self.follow(stack_name, seen, progress, timeout).await
    }

    /// Runs drift detection; where the endpoint does not offer it, says so.
    pub async fn drift(&self, stack_name: &str, timeout: Duration) -> Result<Drift, DeployError> {
        let id = match self
            .client
            .detect_stack_drift()
            .stack_name(stack_name)
            .send()
            .await
        {
            Ok(out) => out
                .stack_drift_detection_id()
                .unwrap_or_default()
                .to_string(),
            Err(e) => {
                return match self.err("DetectStackDrift", stack_name, e) {
                    e @ (DeployError::Unreachable { .. }
                    | DeployError::Credentials { .. }
                    | DeployError::NoCredentials { .. }) => Err(e),
                    other => Ok(Drift {
                        status: "unavailable".into(),
                        reason: Some(other.to_string()),
                    }),
                };
            }
        };
        let started = Instant::now();
        loop {
            let out = self
                .client
                .describe_stack_drift_detection_status()
                .stack_drift_detection_id(&id)
                .send()
                .await
                .map_err(|e| self.err("DescribeStackDriftDetectionStatus", stack_name, e))?;
            match out.detection_status() {
                Some(StackDriftDetectionStatus::DetectionInProgress) => {}
                Some(StackDriftDetectionStatus::DetectionFailed) => {
                    return Ok(Drift {
                        status: out
                            .stack_drift_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_else(|| "UNKNOWN".into()),
                        reason: out.detection_status_reason().map(str::to_string),
                    });
                }
                _ => {
                    return Ok(Drift {
                        status: out
                            .stack_drift_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_else(|| "UNKNOWN".into()),
                        reason: None,
                    });
                }
            }
            if started.elapsed() > timeout {
                return Ok(Drift {
                    status: "UNKNOWN".into(),
                    reason: Some(format!(
                        "detection did not finish within {} s",
                        timeout.as_secs()
                    )),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// A change set name CloudFormation accepts, unique per run.
fn change_set_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("dxops-{now}-{}", std::process::id())
}

/// Merges a template comparison with what a change set says.
pub fn report(
    stack_name: &str,
    region: &str,
    deployed: Option<&Value>,
    rendered: &Value,
    plan: Option<&Plan>,
) -> diff::StackDiff {
    let mut d = diff::diff_templates(stack_name, region, deployed, rendered);
    if let Some(plan) = plan {
        d.merge_change_set(&plan.changes);
    }
    d
}
