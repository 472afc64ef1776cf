//! The inference server (`dxops-model serve`), following SageMaker's hosting
//! contract: `GET /ping`, `POST /invocations`, plus `GET /metrics`
//! (Prometheus) and `GET /execution-parameters` (batch transform).
//!
//! Logs are one JSON object per line on stderr holding only the request id,
//! method, route, status, latency and row count — never a payload or a
//! feature value. Metrics go to stdout as CloudWatch EMF (see [`metrics`]).

pub mod metrics;
pub mod output;

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use thiserror::Error;

use crate::artifact::{Artifact, ArtifactError, RawValue};
use crate::drift::{self, DriftConfig, DriftError};
use crate::wire::{InputError, InputFormat, Schema};
use metrics::Metrics;
use output::{OutputFormat, Prediction};

/// SageMaker's real-time payload limit (6 MB).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
pub const DEFAULT_PORT: u16 = 8080;
pub const ENV_PORT: &str = "SAGEMAKER_BIND_TO_PORT";
pub const ENV_WINDOW: &str = "DXOPS_DRIFT_WINDOW";
pub const ENV_MIN_ROWS: &str = "DXOPS_DRIFT_MIN_ROWS";
pub const ENV_INTERVAL: &str = "DXOPS_METRICS_INTERVAL";
pub const ENV_THREADS: &str = "DXOPS_SERVE_THREADS";
/// Batches larger than this are scored on the blocking pool.
const INLINE_ROWS: usize = 32;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("loading the model: {0}")]
    Artifact(#[from] ArtifactError),
    #[error("drift configuration: {0}")]
    Drift(#[from] DriftError),
    #[error("environment variable {name}: `{value}` is not valid ({expected})")]
    BadEnv {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Server settings; [`ServeOptions::resolve`] fills them from flags and environment.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub model_dir: PathBuf,
    pub host: IpAddr,
    pub port: u16,
    pub drift: DriftConfig,
    pub drift_window: usize,
    pub drift_min_rows: usize,
    pub metrics_interval: Duration,
    pub threads: usize,
}

fn env_parse<T: std::str::FromStr>(
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>, ServeError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map(Some).map_err(|_| ServeError::BadEnv {
                name,
                value: v,
                expected,
            })
        }
        _ => Ok(None),
    }
}

impl ServeOptions {
    /// `port` flag, else `SAGEMAKER_BIND_TO_PORT`, else 8080; the rest from
    /// `DXOPS_*` variables with defaults (window 1,000 rows, at least 100
    /// rows before drift is evaluated, metrics every 60 s).
    pub fn resolve(
        ml_root: &Path,
        host: IpAddr,
        port: Option<u16>,
    ) -> Result<ServeOptions, ServeError> {
        let port = match port {
            Some(p) => p,
            None => env_parse(ENV_PORT, "a TCP port")?.unwrap_or(DEFAULT_PORT),
        };
        let interval: f64 = env_parse(ENV_INTERVAL, "seconds")?.unwrap_or(60.0);
        if !(interval.is_finite() && interval > 0.0) {
            return Err(ServeError::BadEnv {
                name: ENV_INTERVAL,
                value: interval.to_string(),
                expected: "positive seconds",
            });
        }
        let window: usize = env_parse(ENV_WINDOW, "a row count")?.unwrap_or(1000).max(1);
        let threads = env_parse(ENV_THREADS, "a thread count")?
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .max(1);
        Ok(ServeOptions {
            model_dir: ml_root.join("model"),
            host,
            port,
            drift: DriftConfig::from_env()?,
            drift_window: window,
            drift_min_rows: env_parse(ENV_MIN_ROWS, "a row count")?
                .unwrap_or(100)
                .clamp(1, window),
            metrics_interval: Duration::from_secs_f64(interval),
            threads,
        })
    }
}

/// The most recent scored rows, for drift.
#[derive(Debug)]
struct Window {
    rows: Mutex<VecDeque<Vec<RawValue>>>,
    capacity: usize,
}

impl Window {
    fn push(&self, rows: Vec<Vec<RawValue>>) {
        let Ok(mut w) = self.rows.lock() else { return };
        let skip = rows.len().saturating_sub(self.capacity);
        for r in rows.into_iter().skip(skip) {
            if w.len() == self.capacity {
                w.pop_front();
            }
            w.push_back(r);
        }
    }

    fn snapshot(&self, min_rows: usize) -> Option<Vec<Vec<RawValue>>> {
        let w = self.rows.lock().ok()?;
        (w.len() >= min_rows).then(|| w.iter().cloned().collect())
    }
}

struct AppState {
    artifact: Artifact,
    schema: Schema,
    ranges: Vec<Option<(f64, f64)>>,
    metrics: Metrics,
    window: Window,
    next_id: AtomicU64,
    id_prefix: String,
}

/// Rows scored by a request, passed from the handler to the log middleware.
#[derive(Clone, Copy)]
struct RowsScored(usize);

fn log_line(fields: serde_json::Value) {
    let mut line = fields.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn error_response(
    status: StatusCode,
    message: String,
    row: Option<usize>,
    column: Option<&str>,
) -> Response {
    let body = serde_json::json!({"error": message, "row": row, "column": column});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn input_error(e: &InputError) -> Response {
    error_response(StatusCode::BAD_REQUEST, e.to_string(), e.row(), e.column())
}

fn predict_error(e: &crate::artifact::PredictError) -> Response {
    use crate::artifact::PredictError;
    // The model's messages may quote the value; build our own without it.
    match e {
        PredictError::WrongWidth {
            row, got, expected, ..
        } => error_response(
            StatusCode::BAD_REQUEST,
            format!("row {row} has {got} values, the model expects {expected}"),
            Some(*row),
            None,
        ),
        PredictError::NotNumeric { row, column, .. } => error_response(
            StatusCode::BAD_REQUEST,
            format!("row {row}, column `{column}`: not a number"),
            Some(*row),
            Some(column),
        ),
        PredictError::NonFinite { row, column } => error_response(
            StatusCode::BAD_REQUEST,
            format!("row {row}, column `{column}`: NaN or infinite values are not accepted"),
            Some(*row),
            Some(column),
        ),
    }
}

fn score(
    state: &AppState,
    rows: &[Vec<RawValue>],
) -> Result<Vec<Prediction>, crate::artifact::PredictError> {
    let probabilities = state.artifact.predict_proba(rows)?;
    Ok(rows
        .iter()
        .zip(probabilities)
        .map(|(row, p)| {
            let class = p
                .iter()
                .enumerate()
                .fold(0, |best, (i, v)| if *v > p[best] { i } else { best });
            let out_of_range = row
                .iter()
                .zip(&state.ranges)
                .enumerate()
                .filter_map(|(j, (v, r))| match (v, r) {
                    (RawValue::Number(x), Some((lo, hi))) if x < lo || x > hi => Some(j),
                    _ => None,
                })
                .collect();
            Prediction {
                class,
                probabilities: p,
                out_of_range,
            }
        })
        .collect())
}

async fn invocations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let header_str = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    let Some(format) = header_str(header::CONTENT_TYPE).and_then(InputFormat::from_content_type)
    else {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be text/csv, application/json or application/jsonlines".into(),
            None,
            None,
        );
    };
    let Some(out) = OutputFormat::from_accept(header_str(header::ACCEPT)) else {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/json, application/jsonlines or text/csv".into(),
            None,
            None,
        );
    };
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("payload exceeds {MAX_PAYLOAD_BYTES} bytes"),
            None,
            None,
        )
    };
    let declared = header_str(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_PAYLOAD_BYTES as u64) {
        return too_large();
    }
    let bytes = match axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let limit = std::error::Error::source(&e).is_some_and(|s| {
                s.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
            }) || e.to_string().contains("length limit");
            if limit {
                return too_large();
            }
            return error_response(
                StatusCode::BAD_REQUEST,
                "could not read the request body".into(),
                None,
                None,
            );
        }
    };
    let rows = match state.schema.parse(&bytes, format) {
        Ok(r) => r,
        Err(e) => return input_error(&e),
    };
    let n = rows.len();
    let scored = if n <= INLINE_ROWS {
        let s = score(&state, &rows);
        s.map(|p| (p, rows))
    } else {
        let st = state.clone();
        match tokio::task::spawn_blocking(move || score(&st, &rows).map(|p| (p, rows))).await {
            Ok(r) => r,
            Err(_) => {
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "scoring failed".into(),
                    None,
                    None,
                );
            }
        }
    };
    let (predictions, rows) = match scored {
        Ok(x) => x,
        Err(e) => return predict_error(&e),
    };
    let classes: Vec<usize> = predictions.iter().map(|p| p.class).collect();
    state.metrics.record_predictions(&classes);
    state.window.push(rows);
    let text = output::render(
        out,
        &predictions,
        state.artifact.classes(),
        state.artifact.feature_names(),
    );
    let mut resp = ([(header::CONTENT_TYPE, out.content_type())], text).into_response();
    resp.extensions_mut().insert(RowsScored(n));
    resp
}

async fn ping() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"healthy\"}",
    )
        .into_response()
}

async fn prometheus(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.prometheus(),
    )
        .into_response()
}

async fn execution_parameters() -> Response {
    let body = serde_json::json!({
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": MAX_PAYLOAD_BYTES / (1024 * 1024),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such route".into(), None, None)
}

/// Logs each request (never its content) and counts `/invocations` metrics.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = format!(
        "{}-{:08x}",
        state.id_prefix,
        state.next_id.fetch_add(1, Ordering::Relaxed)
    );
    // Only known routes are logged by name; anything else (which could carry
    // data in its path) is logged as "other".
    let route: &'static str = match req.uri().path() {
        "/ping" => "/ping",
        "/invocations" => "/invocations",
        "/metrics" => "/metrics",
        "/execution-parameters" => "/execution-parameters",
        _ => "other",
    };
    let method = req.method().as_str().to_string();
    let mut resp = next.run(req).await;
    let latency = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    let rows = resp
        .extensions()
        .get::<RowsScored>()
        .map(|r| r.0)
        .unwrap_or(0);
    if route == "/invocations" {
        state.metrics.record_invocation(status, latency, rows);
    }
    log_line(serde_json::json!({
        "ts": now_ms(),
        "request_id": id,
        "method": method,
        "route": route,
        "status": status,
        "latency_ms": (latency * 1e6).round() / 1e3,
        "rows": rows,
    }));
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn emit_metrics(state: &AppState) {
    let lines = state.metrics.emf_lines(now_ms());
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

async fn metrics_loop(state: Arc<AppState>, opts: ServeOptions) {
    let mut tick = tokio::time::interval(opts.metrics_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        update_drift(&state, &opts).await;
        emit_metrics(&state);
    }
}

async fn update_drift(state: &Arc<AppState>, opts: &ServeOptions) {
    let Some(rows) = state.window.snapshot(opts.drift_min_rows) else {
        return;
    };
    let st = state.clone();
    let cfg = opts.drift;
    let result =
        tokio::task::spawn_blocking(move || drift::compute(st.artifact.baseline(), &rows, &cfg))
            .await;
    match result {
        Ok(Ok(report)) => state.metrics.set_drift(report),
        Ok(Err(e)) => log_line(
            serde_json::json!({"ts": now_ms(), "level": "error", "event": "drift", "error": e.to_string()}),
        ),
        Err(_) => log_line(
            serde_json::json!({"ts": now_ms(), "level": "error", "event": "drift", "error": "drift task failed"}),
        ),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    log_line(serde_json::json!({"ts": now_ms(), "event": "shutdown", "reason": "signal"}));
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
        .route("/metrics", get(prometheus))
        .route("/execution-parameters", get(execution_parameters))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Loads the model, serves until SIGTERM or SIGINT, then drains open
/// requests, evaluates drift and flushes metrics once more.
pub fn run(opts: ServeOptions) -> Result<(), ServeError> {
    let started = Instant::now();
    let artifact = Artifact::load(&opts.model_dir)?;
    let schema = Schema::new(artifact.feature_names(), artifact.feature_types());
    let ranges = artifact
        .feature_names()
        .iter()
        .map(|f| artifact.training_range(f))
        .collect();
    let metrics = Metrics::from_env(artifact.classes().to_vec());
    log_line(serde_json::json!({
        "ts": now_ms(),
        "event": "model_loaded",
        "model_sha256": artifact.checksum(),
        "features": artifact.feature_names().len(),
        "classes": artifact.classes().len(),
        "load_ms": started.elapsed().as_secs_f64() * 1e3,
    }));
    let state = Arc::new(AppState {
        schema,
        ranges,
        metrics,
        window: Window {
            rows: Mutex::new(VecDeque::with_capacity(opts.drift_window)),
            capacity: opts.drift_window,
        },
        next_id: AtomicU64::new(0),
        id_prefix: format!("{:x}", now_ms()),
        artifact,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(opts.host, opts.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener.local_addr()?;
        log_line(
            serde_json::json!({"ts": now_ms(), "event": "listening", "address": local.to_string()}),
        );
        let ticker = tokio::spawn(metrics_loop(state.clone(), opts.clone()));
        axum::serve(listener, router(state.clone()))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        ticker.abort();
        update_drift(&state, &opts).await;
        emit_metrics(&state);
        log_line(serde_json::json!({"ts": now_ms(), "event": "stopped"}));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(from: usize, n: usize) -> Vec<Vec<RawValue>> {
        (from..from + n)
            .map(|i| vec![RawValue::Number(i as f64)])
            .collect()
    }

    #[test]
    fn window_keeps_the_most_recent_rows() {
        let w = Window {
            rows: Mutex::new(VecDeque::new()),
            capacity: 5,
        };
        w.push(rows(0, 3));
        assert!(w.snapshot(4).is_none());
        assert_eq!(w.snapshot(3).unwrap(), rows(0, 3));
        w.push(rows(3, 4));
        assert_eq!(w.snapshot(1).unwrap(), rows(2, 5));
        // A batch larger than the window keeps only its tail.
        w.push(rows(100, 12));
        assert_eq!(w.snapshot(5).unwrap(), rows(107, 5));
    }

    #[test]
    fn options_from_flags_and_environment() {
        let o = ServeOptions::resolve(
            Path::new("/opt/ml"),
            IpAddr::from([127, 0, 0, 1]),
            Some(9000),
        )
        .unwrap();
        assert_eq!(
            (o.port, o.model_dir.as_path()),
            (9000, Path::new("/opt/ml/model"))
        );
        assert!(o.drift_min_rows <= o.drift_window);
    }
}
