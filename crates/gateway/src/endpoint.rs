//! The call to the SageMaker endpoint (`InvokeEndpoint`), and what the
//! client is told when it fails.
//!
//! The model container's own 4xx answers (`ModelError` with the container's
//! status) are passed on as they are: the container names rows and columns,
//! never values. Everything else becomes a 5xx or 429 with a fixed message;
//! the SDK's error code goes to the log, never the client.

use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;

use dxops_ml::serve::scoring::Rejection;

use crate::request::Prepared;

/// SageMaker's limit on `InferenceId`.
pub const MAX_INFERENCE_ID: usize = 64;

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: Vec<u8>,
    pub content_type: String,
    /// The production variant that answered, when SageMaker says.
    pub variant: Option<String>,
}

/// A failed call: what the client is told, and the code for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub rejection: Rejection,
    pub code: String,
}

/// Sends the prepared rows to `endpoint` under `inference_id`, which data
/// capture records and ground truth refers to.
pub async fn invoke(
    client: &Client,
    endpoint: &str,
    prepared: &Prepared,
    inference_id: &str,
) -> Result<Answer, Failure> {
    let sent = client
        .invoke_endpoint()
        .endpoint_name(endpoint)
        .content_type("text/csv")
        .accept(prepared.output.content_type())
        .inference_id(inference_id)
        .body(Blob::new(prepared.csv.as_bytes()))
        .send()
        .await;
    match sent {
        Ok(out) => Ok(Answer {
            body: out.body.map(Blob::into_inner).unwrap_or_default(),
            content_type: out
                .content_type
                .unwrap_or_else(|| prepared.output.content_type().to_string()),
            variant: out.invoked_production_variant,
        }),
        Err(e) => Err(failure(&e)),
    }
}

fn failure<R>(e: &SdkError<InvokeEndpointError, R>) -> Failure {
    let fixed = |status: u16, message: &str, code: &str| Failure {
        rejection: Rejection::new(status, message),
        code: code.to_string(),
    };
    let Some(service) = e.as_service_error() else {
        return match e {
            SdkError::TimeoutError(_) => fixed(504, "the model did not answer in time", "Timeout"),
            _ => fixed(502, "the model could not be reached", "Dispatch"),
        };
    };
    let code = service
        .code()
        .unwrap_or(match service {
            InvokeEndpointError::ModelError(_) => "ModelError",
            InvokeEndpointError::ModelNotReadyException(_) => "ModelNotReadyException",
            InvokeEndpointError::ServiceUnavailable(_) => "ServiceUnavailable",
            InvokeEndpointError::InternalFailure(_) => "InternalFailure",
            InvokeEndpointError::InternalDependencyException(_) => "InternalDependencyException",
            InvokeEndpointError::ValidationError(_) => "ValidationError",
            _ => "Unknown",
        })
        .to_string();
    match service {
        InvokeEndpointError::ModelError(m) => {
            let status = m.original_status_code().unwrap_or(500);
            match (u16::try_from(status), m.original_message()) {
                (Ok(s @ 400..=499), Some(message)) => Failure {
                    rejection: container_rejection(s, message),
                    code,
                },
                _ => fixed(502, "the model failed to answer", &code),
            }
        }
        InvokeEndpointError::ModelNotReadyException(_)
        | InvokeEndpointError::ServiceUnavailable(_) => {
            fixed(503, "the model is not ready; retry shortly", &code)
        }
        _ if code == "ThrottlingException" => {
            fixed(429, "too many requests; retry with backoff", &code)
        }
        _ => fixed(502, "the model could not be called", &code),
    }
}

/// The container's JSON error (`error`, `row`, `column`), kept as it is.
fn container_rejection(status: u16, message: &str) -> Rejection {
    let parsed: Option<serde_json::Value> = serde_json::from_str(message).ok();
    let text = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    match text("error") {
        Some(error) => Rejection {
            status,
            message: error,
            row: parsed
                .as_ref()
                .and_then(|v| v.get("row"))
                .and_then(serde_json::Value::as_u64)
                .map(|r| r as usize),
            column: text("column"),
        },
        // Not the container's shape: say only that the model refused.
        None => Rejection::new(status, "the model refused the request"),
    }
}

/// An inference id SageMaker accepts: printable, no leading space, at
/// most 64 characters.
pub fn inference_id(candidate: &str) -> String {
    let cleaned: String = candidate
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(MAX_INFERENCE_ID)
        .collect();
    if cleaned.is_empty() {
        "dxops-gateway".to_string()
    } else {
        cleaned
    }
}
