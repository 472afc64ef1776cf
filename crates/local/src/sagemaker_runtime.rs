//! A local SageMaker Runtime: `InvokeEndpoint` (`POST
//! /endpoints/{name}/invocations`) in front of the real model server on
//! loopback, answering in the shapes SageMaker documents, so the AWS SDK
//! (`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`) and the gateway function call it
//! as they would call AWS:
//! - the container's 2xx answer passes with its `Content-Type` and the
//!   `x-Amzn-Invoked-Production-Variant` header;
//! - a container error becomes `ModelError` (HTTP 424) with
//!   `OriginalStatusCode` and `OriginalMessage` (the container's body);
//! - an endpoint that is not this one is a `ValidationError` (HTTP 400).
//!
//! The `X-Amzn-SageMaker-Inference-Id` of each call is kept beside the
//! container's own request id, so labels fed back by inference id reach
//! the server's live-quality metrics (SageMaker's data capture records the
//! same id).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use crate::http::Client;
use crate::serve::{Request, listen, respond};

/// The only variant a local endpoint has.
pub const VARIANT: &str = "AllTraffic";

#[derive(Clone)]
pub struct SageMakerRuntime {
    endpoint: String,
    model: SocketAddr,
    /// Inference id → the container's request id.
    ids: Arc<Mutex<HashMap<String, String>>>,
}

impl SageMakerRuntime {
    /// The endpoint `endpoint`, answered by the model server at `model`.
    pub fn new(endpoint: &str, model: SocketAddr) -> SageMakerRuntime {
        SageMakerRuntime {
            endpoint: endpoint.to_string(),
            model,
            ids: Arc::default(),
        }
    }

    /// Listens on a free loopback port; returns the URL for
    /// `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`.
    pub fn start(&self) -> std::io::Result<String> {
        let (runtime, model) = (self.clone(), self.model);
        let addr = listen(
            move || Client::new(model),
            move |client, out, req| runtime.route(out, client, &req),
        )?;
        Ok(format!("http://{addr}"))
    }

    /// The container's request id of the call made under `inference_id`.
    pub fn container_id(&self, inference_id: &str) -> Option<String> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(inference_id)
            .cloned()
    }

    fn route(&self, out: &mut TcpStream, model: &mut Client, req: &Request) {
        let json = |v: serde_json::Value| v.to_string().into_bytes();
        let error = |out: &mut TcpStream, status: &str, kind: &str, body: serde_json::Value| {
            respond(
                out,
                status,
                &[
                    ("Content-Type", "application/x-amz-json-1.1".into()),
                    ("x-amzn-ErrorType", kind.into()),
                ],
                &json(body),
            )
        };
        let name = req
            .path
            .strip_prefix("/endpoints/")
            .and_then(|p| p.strip_suffix("/invocations"));
        let Some(name) = name.filter(|_| req.method == "POST") else {
            return error(
                out,
                "404 Not Found",
                "UnknownOperationException",
                serde_json::json!({"message": "only InvokeEndpoint is served here"}),
            );
        };
        if name != self.endpoint {
            return error(
                out,
                "400 Bad Request",
                "ValidationError",
                serde_json::json!({"message": format!("Endpoint {name} of account 000000000000 not found.")}),
            );
        }
        let content_type = req
            .header("content-type")
            .unwrap_or("application/octet-stream");
        let accept = req.header("accept").unwrap_or("application/json");
        let answer =
            model.request_accepting("POST", "/invocations", content_type, accept, &req.body);
        let answer = match answer {
            Ok(a) => a,
            Err(_) => {
                return error(
                    out,
                    "503 Service Unavailable",
                    "ServiceUnavailable",
                    serde_json::json!({"message": "the model container is not answering"}),
                );
            }
        };
        if let (Some(inference_id), Some(container)) = (
            req.header("x-amzn-sagemaker-inference-id"),
            answer.request_id.clone(),
        ) {
            self.ids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(inference_id.to_string(), container);
        }
        if (200..300).contains(&answer.status) {
            respond(
                out,
                "200 OK",
                &[
                    (
                        "Content-Type",
                        answer.content_type.unwrap_or_else(|| accept.to_string()),
                    ),
                    ("x-Amzn-Invoked-Production-Variant", VARIANT.into()),
                ],
                &answer.body,
            );
        } else {
            let original = String::from_utf8_lossy(&answer.body).into_owned();
            error(
                out,
                "424 Failed Dependency",
                "ModelError",
                serde_json::json!({
                    "message": format!(
                        "Received {} error ({}) from primary",
                        if answer.status < 500 { "client" } else { "server" },
                        answer.status
                    ),
                    "OriginalStatusCode": answer.status,
                    "OriginalMessage": original,
                    "LogStreamArn": format!("arn:aws:logs:local:000000000000:log-group:/aws/sagemaker/Endpoints/{}", self.endpoint),
                }),
            );
        }
    }
}
