//! What can go wrong talking to AWS, in words a person can act on.

use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::StacksError;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Stacks(#[from] StacksError),
    #[error("the system's random number generator failed; no key was written")]
    Random,
    #[error("cannot reach the AWS endpoint{}: {message}", endpoint_note(.endpoint))]
    Unreachable {
        endpoint: Option<String>,
        message: String,
    },
    #[error(
        "no AWS credentials: {message}\nhint: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials { message: String },
    #[error(
        "AWS rejected the credentials ({code}): {message}\nhint: check AWS_PROFILE / AWS_ACCESS_KEY_ID, or refresh an expired session"
    )]
    Credentials { code: String, message: String },
    #[error("{operation} for {stack} failed{}: {message}", code_note(.code))]
    Api {
        operation: &'static str,
        stack: String,
        code: Option<String>,
        message: String,
    },
    #[error(
        "{stack} did not settle within {seconds} s (last status {status}); it is still changing in AWS: see `dxops status`"
    )]
    Timeout {
        stack: String,
        seconds: u64,
        status: String,
    },
    #[error(
        "stack {stack} needs the parameter `{name}`: pass --parameter {name}=VALUE (a deployed stack keeps the value it has when none is given; this one has none)"
    )]
    MissingParameter { stack: String, name: String },
    #[error("{file}: {message}")]
    Template { file: String, message: String },
    #[error(
        "stack {stack} is in {status} and cannot be updated{}",
        reason_note(.reason)
    )]
    Unusable {
        stack: String,
        status: String,
        reason: Option<String>,
    },
    #[error("change set for {stack} failed: {reason}")]
    ChangeSetFailed { stack: String, reason: String },
    #[error("{group} has no version {version}{}", known_note(.known))]
    UnknownVersion {
        group: String,
        version: u32,
        known: Vec<u32>,
    },
    #[error(
        "{group} v{version} is already {status}{decided}; a version is decided once\nhint: a pipeline run that passes the gates registers a new version, which gets its own decision"
    )]
    AlreadyDecided {
        group: String,
        version: u32,
        status: String,
        /// ` by <who> at <when> (<reason>)`, as far as the package records it.
        decided: String,
    },
    #[error("--reason: {message}")]
    BadReason { message: String },
    #[error("{what} does not exist yet\nhint: deploy the environment first (`dxops deploy`)")]
    NotDeployed { what: String },
    #[error(
        "{arn} is still {status} after {seconds} s; it keeps running in SageMaker: `dxops status` shows it, and `aws sagemaker stop-pipeline-execution --pipeline-execution-arn {arn}` stops it"
    )]
    PipelineTimeout {
        arn: String,
        seconds: u64,
        status: String,
    },
    #[error(
        "the template of {stack} has {bytes} bytes, over CloudFormation's inline limit of 51,200: it goes through the deploy bucket, which the environment does not have yet\nhint: run `dxops bootstrap` for the environment first"
    )]
    NeedsTemplateBucket { stack: String, bytes: usize },
    #[error(
        "cannot upload the template of {stack} ({bytes} bytes, over CloudFormation's inline limit of 51,200) to {location}{}: {message}\nhint: the deploy bucket comes from `dxops bootstrap`; check that it exists and that you may write to it",
        code_note(.code)
    )]
    Upload {
        stack: String,
        /// `s3://bucket/key`
        location: String,
        bytes: usize,
        code: Option<String>,
        message: String,
    },
}

fn endpoint_note(endpoint: &Option<String>) -> String {
    endpoint
        .as_deref()
        .map(|e| format!(" {e}"))
        .unwrap_or_default()
}

fn code_note(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

fn known_note(known: &[u32]) -> String {
    if known.is_empty() {
        " (it has no versions yet: the pipeline registers one when a run passes its gates)".into()
    } else {
        format!(
            " (it has: {})",
            known
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn reason_note(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

/// Error codes AWS answers for keys it does not accept.
const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "AuthFailure",
];

/// Turns an SDK error into a [`DeployError`], telling network, credential
/// and service problems apart.
pub(crate) fn classify<E, R>(
    operation: &'static str,
    stack: &str,
    endpoint: Option<&str>,
    err: SdkError<E, R>,
) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let text = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().map(str::to_string);
            let message = e.message().unwrap_or(&text).to_string();
            match code {
                Some(code) if CREDENTIAL_CODES.contains(&code.as_str()) => {
                    DeployError::Credentials { code, message }
                }
                code => DeployError::Api {
                    operation,
                    stack: stack.into(),
                    code,
                    message,
                },
            }
        }
        _ if text.contains("credentials") || text.contains("no providers in chain") => {
            DeployError::NoCredentials { message: text }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => DeployError::Unreachable {
            endpoint: endpoint.map(str::to_string),
            message: text,
        },
        _ => DeployError::Api {
            operation,
            stack: stack.into(),
            code: None,
            message: text,
        },
    }
}

impl DeployError {
    /// SageMaker's answer for a group, pipeline or endpoint that does not
    /// exist (not deployed yet).
    pub(crate) fn is_missing_resource(&self) -> bool {
        matches!(self, DeployError::Api { code: Some(c), message, .. }
            if c == "ResourceNotFound"
                || (c == "ValidationException"
                    && (message.contains("does not exist")
                        || message.contains("not found")
                        || message.contains("Could not find"))))
    }

    /// CloudFormation's answer for a stack that does not exist.
    pub(crate) fn is_missing_stack(&self) -> bool {
        matches!(self, DeployError::Api { code: Some(c), message, .. }
            if c == "ValidationError" && message.contains("does not exist"))
    }
}
