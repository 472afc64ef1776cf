//! `dxops-model lambda`: the same model behind the Lambda Runtime API, for
//! `serving.target: lambda` on the `provided.al2023` runtime.
//!
//! Each event is an HTTP request as API Gateway's REST proxy integration
//! (or an HTTP API, a function URL) delivers it: the body as CSV, JSON or
//! JSON lines by its `Content-Type`, base64 when `isBase64Encoded`. The
//! answer is the proxy response: `statusCode`, headers and the very body
//! `/invocations` answers, or the same JSON error with a 4xx status. A bad
//! request never fails the invocation, so the runtime never restarts for a
//! client's mistake.
//!
//! As the HTTP server does, it logs one JSON line per invocation holding the
//! request id, status, latency and row count, never a payload, and writes
//! CloudWatch EMF on stdout. Lambda may freeze an environment between
//! invocations or end it without notice, so request metrics go out after
//! every invocation; drift is evaluated over the environment's window at
//! most once per metrics interval.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use thiserror::Error;

use crate::artifact::Artifact;
use crate::drift;

use super::metrics::Metrics;
use super::scoring::{self, Rejection, Scorer};
use super::{MAX_PAYLOAD_BYTES, ServeOptions, Window, emit_metrics_of, log_line, now_ms};

/// Lambda's limit on a synchronous response; the proxy envelope and JSON
/// escaping of the body need some of it.
pub const MAX_LAMBDA_RESPONSE_BYTES: usize = 5 * 1024 * 1024;

/// What the runtime client needs from the environment Lambda sets up; it
/// would panic without them, so they are checked first.
pub const RUNTIME_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
];

/// The file name Lambda's `provided.al2023` runtime starts.
pub const BOOTSTRAP: &str = "bootstrap";

#[derive(Debug, Error)]
pub enum LambdaError {
    #[error("cannot read the binary {path} to package: {source}")]
    ReadBinary {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the Lambda package {path}: {source}")]
    WritePackage {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{0} is not set: a Lambda function runs inside AWS Lambda (or a local Runtime API such as `cargo lambda watch`), which sets it"
    )]
    NotInLambda(&'static str),
    #[error("AWS_LAMBDA_FUNCTION_MEMORY_SIZE `{0}` is not a number of megabytes")]
    BadMemorySize(String),
    #[error(transparent)]
    Serve(#[from] super::ServeError),
    #[error("the Lambda runtime stopped: {0}")]
    Runtime(String),
}

struct State {
    scorer: Scorer,
    metrics: Metrics,
    window: Window,
    opts: ServeOptions,
    last_drift: std::sync::Mutex<Instant>,
}

/// An HTTP request as a proxy event carries it.
#[derive(Debug, PartialEq)]
pub struct ProxyRequest {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// API Gateway's id of the request (`requestContext.requestId`).
    pub request_id: Option<String>,
}

/// Header values by lower-cased name, from `headers` and, where a name is
/// only there, the first of `multiValueHeaders`.
fn headers(event: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(multi) = event.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, v) in multi {
            if let Some(first) = v.as_array().and_then(|a| a.first()).and_then(Value::as_str) {
                out.insert(k.to_ascii_lowercase(), first.to_string());
            }
        }
    }
    if let Some(single) = event.get("headers").and_then(Value::as_object) {
        for (k, v) in single {
            if let Some(v) = v.as_str() {
                out.insert(k.to_ascii_lowercase(), v.to_string());
            }
        }
    }
    out
}

impl ProxyRequest {
    /// The request an event carries, or the rejection its client is told.
    pub fn from_event(event: &Value) -> Result<ProxyRequest, Rejection> {
        if !event.is_object() || event.get("body").is_none() {
            return Err(Rejection::new(
                400,
                "expected an HTTP request event (API Gateway proxy, HTTP API or function URL) with a `body`",
            ));
        }
        let method = event
            .get("httpMethod")
            .or_else(|| event.pointer("/requestContext/http/method"))
            .and_then(Value::as_str);
        if method.is_some_and(|m| !m.eq_ignore_ascii_case("POST")) {
            return Err(Rejection::new(405, "invocations are POST requests"));
        }
        let text = match &event["body"] {
            Value::Null => "",
            Value::String(s) => s.as_str(),
            _ => return Err(Rejection::new(400, "the event's `body` must be a string")),
        };
        let base64 = event
            .get("isBase64Encoded")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let body = if base64 {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| Rejection::new(400, "the body is marked base64 but is not base64"))?
        } else {
            text.as_bytes().to_vec()
        };
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(Rejection::new(
                413,
                format!("payload exceeds {MAX_PAYLOAD_BYTES} bytes"),
            ));
        }
        let mut headers = headers(event);
        Ok(ProxyRequest {
            body,
            content_type: headers.remove("content-type"),
            accept: headers.remove("accept"),
            request_id: event
                .pointer("/requestContext/requestId")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// The proxy response API Gateway turns into the HTTP answer.
pub fn proxy_response(status: u16, content_type: &str, body: String, request_id: &str) -> Value {
    json!({
        "statusCode": status,
        "headers": {"Content-Type": content_type, "x-request-id": request_id},
        "body": body,
        "isBase64Encoded": false,
    })
}

/// One invocation: never an error, so that a client's mistake is answered
/// rather than counted as a function failure.
fn handle(state: &State, event: &Value, request_id: &str) -> Value {
    let start = Instant::now();
    let answered = ProxyRequest::from_event(event).and_then(|req| {
        let (format, out) = scoring::negotiate(req.content_type.as_deref(), req.accept.as_deref())?;
        let scored = state.scorer.answer(
            &req.body,
            format,
            out,
            &state.window,
            MAX_LAMBDA_RESPONSE_BYTES,
        )?;
        Ok((out, scored))
    });
    let (status, rows, response) = match answered {
        Ok((out, scored)) => {
            state.metrics.record_predictions(&scored.classes);
            state.window.push(&scored.window);
            let rows = scored.rows;
            (
                200,
                rows,
                proxy_response(200, out.content_type(), scored.text, request_id),
            )
        }
        Err(r) => (
            r.status,
            0,
            proxy_response(r.status, "application/json", r.body(), request_id),
        ),
    };
    let latency = start.elapsed().as_secs_f64();
    state.metrics.record_invocation(status, latency, rows);
    log_line(json!({
        "ts": now_ms(),
        "request_id": request_id,
        "route": "lambda",
        "status": status,
        "latency_ms": (latency * 1e6).round() / 1e3,
        "rows": rows,
    }));
    update_drift(state);
    emit_metrics_of(&state.metrics);
    response
}

/// Drift over the window, at most once per metrics interval.
fn update_drift(state: &State) {
    let Ok(mut last) = state.last_drift.lock() else {
        return;
    };
    if last.elapsed() < state.opts.metrics_interval {
        return;
    }
    let Some(rows) = state.window.snapshot(state.opts.drift_min_rows) else {
        return;
    };
    *last = Instant::now();
    match drift::compute(state.scorer.artifact().baseline(), &rows, &state.opts.drift) {
        Ok(report) => state.metrics.set_drift(report),
        Err(e) => log_line(
            json!({"ts": now_ms(), "level": "error", "event": "drift", "error": e.to_string()}),
        ),
    }
}

/// Whether this process runs where the runtime client can start.
pub fn check_environment() -> Result<(), LambdaError> {
    for name in RUNTIME_ENV {
        if std::env::var_os(name).is_none_or(|v| v.is_empty()) {
            return Err(LambdaError::NotInLambda(name));
        }
    }
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    if memory.trim().parse::<i32>().is_err() {
        return Err(LambdaError::BadMemorySize(memory));
    }
    Ok(())
}

/// Loads the model, then answers events from the Runtime API until Lambda
/// ends the environment.
pub fn run(opts: ServeOptions) -> Result<(), LambdaError> {
    check_environment()?;
    let mut opts = opts;
    let (artifact, metrics, window) = super::load(&mut opts)?;
    let state = Arc::new(State {
        scorer: Scorer::new(artifact),
        metrics,
        window,
        last_drift: std::sync::Mutex::new(Instant::now()),
        opts,
    });
    // One event at a time per environment: Lambda scales by environments.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(super::ServeError::from)?;
    runtime
        .block_on(lambda_runtime::run(service_fn(
            move |event: LambdaEvent<Value>| {
                let state = state.clone();
                async move {
                    Ok::<Value, Infallible>(handle(
                        &state,
                        &event.payload,
                        &event.context.request_id,
                    ))
                }
            },
        )))
        .map_err(|e| LambdaError::Runtime(e.to_string()))
}

/// The function's code as the `provided.al2023` runtime takes it: a zip
/// holding `binary` as `bootstrap` and the model as `model/dxops-model.bin`,
/// so that the function needs nothing at start but its own files (Lambda
/// unpacks it under `LAMBDA_TASK_ROOT`).
pub fn package(
    artifact: &Artifact,
    binary: &std::path::Path,
    out: &std::path::Path,
) -> Result<(), LambdaError> {
    let exe = std::fs::read(binary).map_err(|source| LambdaError::ReadBinary {
        path: binary.to_path_buf(),
        source,
    })?;
    let model = format!(
        "{}/{}",
        dxops_contract::layout::paths::MODEL,
        crate::artifact::FILE_NAME
    );
    write_zip(
        out,
        &[
            ZipEntry::executable(BOOTSTRAP, &exe),
            ZipEntry::file(&model, &artifact.to_bytes()),
        ],
    )
}

/// One file of a function package.
pub struct ZipEntry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub bytes: &'a [u8],
}

impl<'a> ZipEntry<'a> {
    pub fn executable(name: &'a str, bytes: &'a [u8]) -> ZipEntry<'a> {
        ZipEntry {
            name,
            mode: 0o755,
            bytes,
        }
    }

    pub fn file(name: &'a str, bytes: &'a [u8]) -> ZipEntry<'a> {
        ZipEntry {
            name,
            mode: 0o644,
            bytes,
        }
    }
}

/// Writes a function package. Deterministic: entries in the order given,
/// fixed times and modes, so the same files give the same bytes.
pub fn write_zip(out: &std::path::Path, entries: &[ZipEntry<'_>]) -> Result<(), LambdaError> {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;

    let write_err = |source: std::io::Error| LambdaError::WritePackage {
        path: out.to_path_buf(),
        source,
    };
    let zip_err = |e: zip::result::ZipError| write_err(std::io::Error::other(e));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let file = std::fs::File::create(out).map_err(write_err)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    for e in entries {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(e.mode);
        zip.start_file(e.name, options).map_err(zip_err)?;
        zip.write_all(e.bytes).map_err(write_err)?;
    }
    let mut inner = zip.finish().map_err(zip_err)?;
    inner.flush().map_err(write_err)?;
    Ok(())
}

/// Where a packaged function finds its model: beside `bootstrap`, under
/// `LAMBDA_TASK_ROOT` (which Lambda sets), else the folder of the binary.
pub fn task_root() -> Option<std::path::PathBuf> {
    std::env::var_os("LAMBDA_TASK_ROOT")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(event: Value) -> Result<ProxyRequest, Rejection> {
        ProxyRequest::from_event(&event)
    }

    #[test]
    fn reads_rest_proxy_events() {
        let r = request(json!({
            "httpMethod": "POST",
            "headers": {"content-type": "text/csv", "Accept": "application/json"},
            "body": "1,2\n",
            "isBase64Encoded": false,
        }))
        .unwrap();
        assert_eq!(r.body, b"1,2\n");
        assert_eq!(r.content_type.as_deref(), Some("text/csv"));
        assert_eq!(r.accept.as_deref(), Some("application/json"));
    }

    #[test]
    fn decodes_base64_bodies_and_multi_value_headers() {
        let r = request(json!({
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "headers": null,
            "body": "eyJhIjoxfQ==",
            "isBase64Encoded": true,
        }))
        .unwrap();
        assert_eq!(r.body, br#"{"a":1}"#);
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn rejects_what_is_not_an_invocation() {
        assert_eq!(request(json!({"instances": []})).unwrap_err().status, 400);
        assert_eq!(request(json!([1, 2])).unwrap_err().status, 400);
        assert_eq!(
            request(json!({"httpMethod": "GET", "body": null}))
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            request(json!({"body": "!!", "isBase64Encoded": true}))
                .unwrap_err()
                .status,
            400
        );
        let big = "x".repeat(MAX_PAYLOAD_BYTES + 1);
        assert_eq!(request(json!({"body": big})).unwrap_err().status, 413);
    }
}
