//! `dxops-gateway`: the Lambda function between API Gateway and the
//! SageMaker endpoint (serving targets `endpoint` and `serverless`).
//!
//! Per request: the proxy event is read as the serving function reads it
//! ([`dxops_ml::serve::lambda::ProxyRequest`]); the rows are checked against
//! the data contract packaged with the function and stripped of identifiers
//! ([`request`]); the endpoint is called with them under an inference id
//! ([`endpoint`]); and the answer is shaped for the client: the endpoint's
//! body, with the inference id (which ground truth refers to) and, when the
//! contract hashes identifiers, each row's pseudonyms.
//!
//! A sibling of `dxops-model`, not a mode of it: it links the AWS SDK
//! (SigV4, TLS) to call the endpoint, which the model image must not.
//! It logs one JSON line per request (ids, status, rows, latencies), never
//! a payload, and writes CloudWatch EMF for requests, rejections and
//! endpoint failures.

pub mod endpoint;
pub mod request;

use std::path::{Path, PathBuf};
use std::time::Instant;

use dxops_contract::data::{DataContract, IdentifierHandling};
use dxops_ml::serve::lambda::{ProxyRequest, proxy_response};
use dxops_ml::serve::output::OutputFormat;
use dxops_ml::serve::scoring::Rejection;
use serde_json::{Value, json};
use thiserror::Error;

pub use endpoint::{Answer, Failure};
pub use request::{Prepared, RequestSchema};

/// The data contract's file in the function package (the rendered
/// `process.json` of the environment).
pub const CONTRACT_FILE: &str = "process.json";
/// The endpoint the gateway calls.
pub const ENDPOINT_ENV: &str = dxops_contract::layout::ENV_GATEWAY_ENDPOINT;
pub use dxops_contract::layout::ENV_DEID_KEY_OBJECT;
/// The EMF namespace of the gateway's metrics.
pub const NAMESPACE_ENV: &str = "DXOPS_METRICS_NAMESPACE";

#[derive(Debug, Error)]
pub enum GatewayError {
    #[error("cannot read the data contract {path}: {source}")]
    ReadContract {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a data contract: {source}")]
    BadContract {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0} is not set: the gateway needs the name of the endpoint it calls")]
    NoEndpoint(&'static str),
    #[error(
        "the contract hashes identifiers but neither {0} nor {1} is set: the gateway needs the processing step's key"
    )]
    MissingKey(&'static str, &'static str),
    #[error("cannot read the de-identification key {uri}: {message}")]
    KeyObject { uri: String, message: String },
    #[error(transparent)]
    Environment(#[from] dxops_ml::serve::lambda::LambdaError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the Lambda runtime stopped: {0}")]
    Stopped(String),
}

/// The gateway as a Lambda function: `contract` is the packaged data
/// contract; the endpoint, the key (hash mode) and the metrics namespace
/// come from the environment Lambda (or `dxops run`) sets. Answers events
/// until the environment ends.
pub fn run(contract: &Path) -> Result<(), GatewayError> {
    dxops_ml::serve::lambda::check_environment()?;
    let contract = read_contract(contract)?;
    let endpoint = std::env::var(ENDPOINT_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(GatewayError::NoEndpoint(ENDPOINT_ENV))?;
    let key = std::env::var(dxops_ml::process::DEID_KEY_ENV)
        .ok()
        .filter(|k| !k.is_empty())
        .map(String::into_bytes);
    let key_object = std::env::var(ENV_DEID_KEY_OBJECT)
        .ok()
        .filter(|v| !v.is_empty());
    let namespace = std::env::var(NAMESPACE_ENV).unwrap_or_else(|_| "dxops".into());
    // One event at a time per environment: Lambda scales by environments.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(GatewayError::Runtime)?;
    runtime.block_on(async move {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        // Read once per cold start, and only in hash mode.
        let key = match (key, key_object) {
            (Some(k), _) => Some(k),
            (None, Some(uri)) if contract.identifier_handling == IdentifierHandling::Hash => {
                Some(read_key_object(&aws_sdk_s3::Client::new(&config), &uri).await?)
            }
            _ => None,
        };
        let gateway = std::sync::Arc::new(Gateway::new(&contract, endpoint, key, namespace)?);
        let client = std::sync::Arc::new(aws_sdk_sagemakerruntime::Client::new(&config));
        lambda_runtime::run(lambda_runtime::service_fn(
            move |event: lambda_runtime::LambdaEvent<Value>| {
                let (gateway, client) = (gateway.clone(), client.clone());
                async move {
                    Ok::<Value, std::convert::Infallible>(
                        gateway
                            .handle(&client, &event.payload, &event.context.request_id)
                            .await,
                    )
                }
            },
        ))
        .await
        .map_err(|e| GatewayError::Stopped(e.to_string()))
    })
}

/// The de-identification key from its object (`s3://bucket/key`, as the
/// serving template sets [`ENV_DEID_KEY_OBJECT`]), without surrounding
/// whitespace: the bytes the processing step hashes with.
pub async fn read_key_object(
    client: &aws_sdk_s3::Client,
    uri: &str,
) -> Result<Vec<u8>, GatewayError> {
    let failed = |message: String| GatewayError::KeyObject {
        uri: uri.to_string(),
        message,
    };
    let (bucket, key) = uri
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| failed("not an s3://bucket/key location".into()))?;
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            failed(match e.as_service_error() {
                Some(s) => s.to_string(),
                None => e.to_string(),
            })
        })?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?
        .into_bytes();
    let key = bytes.trim_ascii().to_vec();
    if key.is_empty() {
        return Err(failed("the object is empty".into()));
    }
    Ok(key)
}

/// Reads the data contract a function package holds.
pub fn read_contract(path: &Path) -> Result<DataContract, GatewayError> {
    let text = std::fs::read(path).map_err(|source| GatewayError::ReadContract {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| GatewayError::BadContract {
        path: path.to_path_buf(),
        source,
    })
}

/// The gateway of one endpoint.
pub struct Gateway {
    schema: RequestSchema,
    endpoint: String,
    namespace: String,
}

impl Gateway {
    /// `key` is the de-identification key (`DXOPS_DEID_KEY`), required when
    /// the contract hashes identifiers.
    pub fn new(
        contract: &DataContract,
        endpoint: impl Into<String>,
        key: Option<Vec<u8>>,
        namespace: impl Into<String>,
    ) -> Result<Gateway, GatewayError> {
        let key = key.filter(|k| !k.is_empty());
        if contract.identifier_handling == IdentifierHandling::Hash && key.is_none() {
            return Err(GatewayError::MissingKey(
                dxops_ml::process::DEID_KEY_ENV,
                ENV_DEID_KEY_OBJECT,
            ));
        }
        Ok(Gateway {
            schema: RequestSchema::new(contract, key),
            endpoint: endpoint.into(),
            namespace: namespace.into(),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One event: the proxy response, never an error, so a client's
    /// mistake or the endpoint's failure is answered, not retried.
    pub async fn handle(
        &self,
        client: &aws_sdk_sagemakerruntime::Client,
        event: &Value,
        request_id: &str,
    ) -> Value {
        let start = Instant::now();
        let mut endpoint_ms = None;
        let mut code = None;
        let outcome = match ProxyRequest::from_event(event) {
            Err(r) => Err(r),
            Ok(req) => {
                let id = endpoint::inference_id(req.request_id.as_deref().unwrap_or(request_id));
                match self.schema.prepare(
                    &req.body,
                    req.content_type.as_deref(),
                    req.accept.as_deref(),
                ) {
                    Err(r) => Err(r),
                    Ok(prepared) => {
                        let called = Instant::now();
                        let answer = endpoint::invoke(client, &self.endpoint, &prepared, &id).await;
                        endpoint_ms = Some(called.elapsed().as_secs_f64() * 1e3);
                        match answer {
                            Ok(answer) => shape(&answer, &prepared, &id)
                                .map(|body| (body, answer.content_type, prepared.rows, id)),
                            Err(f) => {
                                code = Some(f.code);
                                Err(f.rejection)
                            }
                        }
                    }
                }
            }
        };
        let (status, rows, response) = match outcome {
            Ok((body, content_type, rows, id)) => {
                let mut r = proxy_response(200, &content_type, body, request_id);
                r["headers"]["x-dxops-inference-id"] = Value::String(id);
                (200, rows, r)
            }
            Err(r) => (
                r.status,
                0,
                proxy_response(r.status, "application/json", r.body(), request_id),
            ),
        };
        let latency_ms = start.elapsed().as_secs_f64() * 1e3;
        let round = |ms: f64| (ms * 1e3).round() / 1e3;
        write_line(
            std::io::stderr(),
            &json!({
                "ts": now_ms(),
                "request_id": request_id,
                "route": "gateway",
                "status": status,
                "rows": rows,
                "latency_ms": round(latency_ms),
                "endpoint_ms": endpoint_ms.map(round),
                "endpoint_error": code,
            }),
        );
        let endpoint_failed = code.is_some() && status >= 429;
        write_line(
            std::io::stdout(),
            &self.emf(status, rows, latency_ms, endpoint_failed),
        );
        response
    }

    /// One EMF record per request, by endpoint.
    fn emf(&self, status: u16, rows: usize, latency_ms: f64, endpoint_failed: bool) -> Value {
        let flag = |b: bool| if b { 1 } else { 0 };
        json!({
            "_aws": {
                "Timestamp": now_ms(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["EndpointName"]],
                    "Metrics": [
                        {"Name": "GatewayRequests", "Unit": "Count"},
                        {"Name": "GatewayRejections", "Unit": "Count"},
                        {"Name": "GatewayEndpointFailures", "Unit": "Count"},
                        {"Name": "GatewayRows", "Unit": "Count"},
                        {"Name": "GatewayLatency", "Unit": "Milliseconds"},
                    ],
                }],
            },
            "EndpointName": self.endpoint,
            "GatewayRequests": 1,
            "GatewayRejections": flag((400..500).contains(&status) && !endpoint_failed),
            "GatewayEndpointFailures": flag(endpoint_failed),
            "GatewayRows": rows,
            "GatewayLatency": (latency_ms * 1e3).round() / 1e3,
        })
    }
}

/// The client's answer: a JSON body gets the inference id and, in hash
/// mode, each prediction's pseudonyms; other formats pass as they are
/// (the id is in the `x-dxops-inference-id` header).
fn shape(answer: &Answer, prepared: &Prepared, id: &str) -> Result<String, Rejection> {
    let text = || {
        String::from_utf8(answer.body.clone())
            .map_err(|_| Rejection::new(502, "the model's answer is not text"))
    };
    if prepared.output != OutputFormat::Json {
        return text();
    }
    let mut body: Value = serde_json::from_slice(&answer.body)
        .map_err(|_| Rejection::new(502, "the model's answer is not the JSON asked for"))?;
    let Some(object) = body.as_object_mut() else {
        return Err(Rejection::new(
            502,
            "the model's answer is not the JSON asked for",
        ));
    };
    object.insert("inference_id".into(), Value::String(id.to_string()));
    if let (Some(pseudonyms), Some(Value::Array(predictions))) =
        (&prepared.pseudonyms, object.get_mut("predictions"))
    {
        for (p, ids) in predictions.iter_mut().zip(pseudonyms) {
            if let Some(p) = p.as_object_mut() {
                p.insert("pseudonyms".into(), json!(ids));
            }
        }
    }
    Ok(body.to_string())
}

/// One line whole: request lines go to stderr, EMF to stdout, as the
/// serving function writes them.
fn write_line(mut to: impl std::io::Write, line: &Value) {
    let mut text = line.to_string();
    text.push('\n');
    let _ = to.write_all(text.as_bytes());
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The function's code: the gateway binary as `bootstrap` and the data
/// contract as `process.json`, in a deterministic zip (the same binary and
/// contract give the same bytes, so the same key). Returns the key it goes
/// under in the deploy bucket: `gateway/<sha256 of the zip>.zip`.
pub fn package(binary: &Path, contract: &[u8], out: &Path) -> Result<String, PackageError> {
    use dxops_ml::serve::lambda::{BOOTSTRAP, ZipEntry, write_zip};
    use sha2::{Digest, Sha256};

    let parsed: DataContract =
        serde_json::from_slice(contract).map_err(PackageError::BadContract)?;
    let exe = std::fs::read(binary).map_err(|source| PackageError::ReadBinary {
        path: binary.to_path_buf(),
        source,
    })?;
    // The contract as the gateway will read it, whatever its formatting.
    let contract = serde_json::to_vec_pretty(&parsed).map_err(PackageError::BadContract)?;
    write_zip(
        out,
        &[
            ZipEntry::executable(BOOTSTRAP, &exe),
            ZipEntry::file(CONTRACT_FILE, &contract),
        ],
    )?;
    let bytes = std::fs::read(out).map_err(|source| PackageError::ReadBinary {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(format!(
        "{}{}.zip",
        dxops_contract::layout::paths::GATEWAY_PACKAGE_PREFIX,
        hex::encode(Sha256::digest(&bytes))
    ))
}

#[derive(Debug, Error)]
pub enum PackageError {
    #[error("cannot read {path}: {source}")]
    ReadBinary {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the rendered process.json is not a data contract: {0}")]
    BadContract(serde_json::Error),
    #[error(transparent)]
    Write(#[from] dxops_ml::serve::lambda::LambdaError),
}
