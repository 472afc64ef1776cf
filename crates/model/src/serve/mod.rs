//! The inference server (`dxops-model serve`), following SageMaker's hosting
//! contract: `GET /ping`, `POST /invocations`, plus `GET /metrics`
//! (Prometheus) and `GET /execution-parameters` (batch transform).
//!
//! Logs are one JSON object per line on stderr holding only the request id,
//! method (from a fixed set), route, status, latency and row count — never a
//! payload, a feature value or other client text. Metrics go to stdout as
//! CloudWatch EMF (see [`metrics`]).
//!
//! Bounds, so that no client can exhaust memory or hold the server open:
//! a body is at most [`MAX_PAYLOAD_BYTES`] and [`wire::MAX_ROWS`] rows, a
//! response at most [`MAX_RESPONSE_BYTES`]; at most [`MAX_READING`] bodies
//! are held and [`ServeOptions::max_inflight`] invocations parsed and scored
//! at once (others wait, within the request timeout); at most
//! [`MAX_CONNECTIONS`] connections are open; headers (and the wait for the
//! next request on a kept-alive connection), bodies and whole invocations
//! have timeouts; after SIGTERM open connections get a deadline. The drift
//! window has a byte budget and keeps categories by id (see [`Window`]).
//!
//! [`wire::MAX_ROWS`]: crate::wire::MAX_ROWS

pub mod feedback;
pub mod lambda;
pub mod metrics;
pub mod output;
pub mod scoring;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::artifact::{Artifact, ArtifactError, RawValue};
use crate::baseline::Baseline;
use crate::drift::{self, DriftConfig, DriftError};
use metrics::Metrics;
use scoring::{Rejection, Scorer};

/// SageMaker's real-time payload limit (6 MB).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Largest response body; a batch whose predictions would not fit is
/// answered 413. (SageMaker itself relays at most 6 MB per real-time
/// response; this leaves room for batch transform.)
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_PORT: u16 = 8080;
pub const ENV_PORT: &str = "SAGEMAKER_BIND_TO_PORT";
pub const ENV_WINDOW: &str = "DXOPS_DRIFT_WINDOW";
pub const ENV_MIN_ROWS: &str = "DXOPS_DRIFT_MIN_ROWS";
pub const ENV_INTERVAL: &str = "DXOPS_METRICS_INTERVAL";
pub const ENV_THREADS: &str = "DXOPS_SERVE_THREADS";
pub const ENV_WINDOW_BYTES: &str = "DXOPS_DRIFT_WINDOW_BYTES";
pub const ENV_HEADER_TIMEOUT: &str = "DXOPS_HEADER_TIMEOUT";
pub const ENV_BODY_TIMEOUT: &str = "DXOPS_BODY_TIMEOUT";
pub const ENV_REQUEST_TIMEOUT: &str = "DXOPS_REQUEST_TIMEOUT";
pub const ENV_SHUTDOWN_DEADLINE: &str = "DXOPS_SHUTDOWN_DEADLINE";
/// Default byte budget of the drift window's stored rows.
pub const DEFAULT_WINDOW_BYTES: usize = 16 * 1024 * 1024;
/// Open connections beyond this wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 512;
/// Most invocations parsed and scored at once: each may hold up to 100,000
/// parsed rows and their response, and scoring is CPU-bound anyway.
pub const MAX_INFLIGHT: usize = 4;
/// Most request bodies read or held at once (6 MiB each). More than the
/// scoring slots, so that a few slow senders do not stall everyone.
pub const MAX_READING: usize = 16;
/// hyper's read buffer per connection (request line and headers must fit).
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Bodies up to this size are parsed and scored on the async worker;
/// larger ones on the blocking pool.
const INLINE_BYTES: usize = 8 * 1024;

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
    /// Byte budget of the drift window's stored rows.
    pub drift_window_bytes: usize,
    /// Invocations read, parsed and scored at once.
    pub max_inflight: usize,
    /// Time to send a request's headers, and the longest a kept-alive
    /// connection may sit idle before its next request.
    pub header_timeout: Duration,
    /// Time to send a request body once the server reads it.
    pub body_timeout: Duration,
    /// Time for a whole invocation, including the wait for a free slot.
    pub request_timeout: Duration,
    /// After SIGTERM, how long open connections may take to finish.
    pub shutdown_deadline: Duration,
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

/// Positive seconds from `name`, else `default`.
fn env_seconds(name: &'static str, default: f64) -> Result<Duration, ServeError> {
    let secs: f64 = env_parse(name, "seconds")?.unwrap_or(default);
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(ServeError::BadEnv {
            name,
            value: secs.to_string(),
            expected: "positive seconds",
        });
    }
    Ok(Duration::from_secs_f64(secs))
}

impl ServeOptions {
    /// `port` flag, else `SAGEMAKER_BIND_TO_PORT`, else 8080; the rest from
    /// `DXOPS_*` variables with defaults (window 1,000 rows within 16 MiB,
    /// at least 100 rows before drift is evaluated, metrics every 60 s;
    /// timeouts: headers or idle 10 s, body 30 s, invocation 60 s,
    /// shutdown 10 s).
    pub fn resolve(
        ml_root: &Path,
        host: IpAddr,
        port: Option<u16>,
    ) -> Result<ServeOptions, ServeError> {
        let port = match port {
            Some(p) => p,
            None => env_parse(ENV_PORT, "a TCP port")?.unwrap_or(DEFAULT_PORT),
        };
        let interval = env_seconds(ENV_INTERVAL, 60.0)?;
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
            metrics_interval: interval,
            drift_window_bytes: env_parse(ENV_WINDOW_BYTES, "a byte count")?
                .unwrap_or(DEFAULT_WINDOW_BYTES),
            max_inflight: threads.clamp(1, MAX_INFLIGHT),
            threads,
            header_timeout: env_seconds(ENV_HEADER_TIMEOUT, 10.0)?,
            body_timeout: env_seconds(ENV_BODY_TIMEOUT, 30.0)?,
            request_timeout: env_seconds(ENV_REQUEST_TIMEOUT, 60.0)?,
            shutdown_deadline: env_seconds(ENV_SHUTDOWN_DEADLINE, 10.0)?,
        })
    }
}

/// One stored value of the drift window: fixed size, so the window's
/// memory is its capacity in cells, whatever clients send.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Missing,
    Number(f64),
    /// A category known to the baseline, by its index there.
    Known(u32),
    /// A category the baseline does not know: all count as one.
    Other,
}

/// How a feature's values are stored in the window.
#[derive(Debug, Default)]
struct Column {
    /// Baseline categories (categorical features), by index.
    names: Vec<String>,
    index: HashMap<String, u32>,
    /// Stands for every unknown category; differs from all known ones.
    other: String,
}

impl Column {
    fn new(categories: Option<&std::collections::BTreeMap<String, f64>>) -> Column {
        let names: Vec<String> = categories
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        let index: HashMap<String, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        let mut other = String::from("(other)");
        while index.contains_key(&other) {
            other.push('*');
        }
        Column {
            names,
            index,
            other,
        }
    }

    fn encode(&self, v: &RawValue) -> Cell {
        match v {
            RawValue::Missing => Cell::Missing,
            RawValue::Number(x) => Cell::Number(*x),
            RawValue::Text(t) => self.index.get(t).map_or(Cell::Other, |&i| Cell::Known(i)),
        }
    }

    fn decode(&self, c: Cell) -> RawValue {
        match c {
            Cell::Missing => RawValue::Missing,
            Cell::Number(x) => RawValue::Number(x),
            Cell::Known(i) => self
                .names
                .get(i as usize)
                .map_or(RawValue::Missing, |n| RawValue::Text(n.clone())),
            Cell::Other => RawValue::Text(self.other.clone()),
        }
    }
}

/// The most recent scored rows, for drift: a ring of `capacity × width`
/// cells, allocated once. Capacity is the configured row count, lowered to
/// fit the byte budget.
#[derive(Debug)]
struct Window {
    cells: Mutex<VecDeque<Cell>>,
    columns: Vec<Column>,
    capacity: usize,
}

impl Window {
    fn new(baseline: &Baseline, rows: usize, budget_bytes: usize) -> Window {
        let columns: Vec<Column> = baseline
            .features
            .iter()
            .map(|f| Column::new(f.categories.as_ref()))
            .collect();
        let row_bytes = columns.len().max(1) * std::mem::size_of::<Cell>();
        let capacity = rows.min(budget_bytes / row_bytes).max(1);
        Window {
            cells: Mutex::new(VecDeque::with_capacity(capacity * columns.len())),
            columns,
            capacity,
        }
    }

    fn width(&self) -> usize {
        self.columns.len()
    }

    /// The last `capacity` of `rows`, encoded (done before taking the lock).
    fn encode(&self, rows: &[Vec<RawValue>]) -> Vec<Cell> {
        let skip = rows.len().saturating_sub(self.capacity);
        rows[skip..]
            .iter()
            .filter(|r| r.len() == self.width())
            .flat_map(|r| r.iter().zip(&self.columns).map(|(v, c)| c.encode(v)))
            .collect()
    }

    fn push(&self, encoded: &[Cell]) {
        let w = self.width();
        if w == 0 {
            return;
        }
        let Ok(mut cells) = self.cells.lock() else {
            return;
        };
        let max = self.capacity * w;
        let incoming = encoded.len().min(max);
        let overflow = (cells.len() + incoming).saturating_sub(max);
        let drop_front = overflow.min(cells.len());
        cells.drain(..drop_front);
        cells.extend(&encoded[encoded.len() - incoming..]);
    }

    fn rows(&self) -> usize {
        let w = self.width().max(1);
        self.cells.lock().map(|c| c.len() / w).unwrap_or(0)
    }

    /// Bytes held by the stored rows.
    fn bytes(&self) -> usize {
        self.cells
            .lock()
            .map(|c| c.capacity() * std::mem::size_of::<Cell>())
            .unwrap_or(0)
    }

    fn snapshot(&self, min_rows: usize) -> Option<Vec<Vec<RawValue>>> {
        let cells = self.cells.lock().ok()?;
        let w = self.width().max(1);
        if cells.len() / w < min_rows {
            return None;
        }
        let flat: Vec<Cell> = cells.iter().copied().collect();
        drop(cells);
        Some(
            flat.chunks(w)
                .map(|r| {
                    r.iter()
                        .zip(&self.columns)
                        .map(|(c, col)| col.decode(*c))
                        .collect()
                })
                .collect(),
        )
    }
}

struct AppState {
    scorer: Scorer,
    feedback: feedback::Feedback,
    metrics: Metrics,
    window: Window,
    next_id: AtomicU64,
    id_prefix: String,
    /// Slots for bodies being read or waiting to be scored.
    reading: Arc<Semaphore>,
    /// Slots for invocations being parsed and scored.
    inflight: Arc<Semaphore>,
    body_timeout: Duration,
    request_timeout: Duration,
}

/// The request id the log middleware gives a request; invocations answer
/// with it as their inference id, which feedback refers to.
#[derive(Clone)]
struct InferenceId(String);

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

fn reject(r: Rejection) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        r.body(),
    )
        .into_response()
}

/// An error after which the rest of the request is not read: the
/// connection is closed rather than drained.
fn closing(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

async fn invocations(
    State(state): State<Arc<AppState>>,
    axum::Extension(InferenceId(id)): axum::Extension<InferenceId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = state.request_timeout;
    match tokio::time::timeout(limit, invoke(state, id, headers, body)).await {
        Ok(r) => r,
        Err(_) => closing(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the invocation did not finish within {} s",
                limit.as_secs_f64()
            ),
            None,
            None,
        )),
    }
}

async fn invoke(state: Arc<AppState>, id: String, headers: HeaderMap, body: Body) -> Response {
    let header_str = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    let (format, out) =
        match scoring::negotiate(header_str(header::CONTENT_TYPE), header_str(header::ACCEPT)) {
            Ok(f) => f,
            Err(r) => return reject(r),
        };
    let too_large = || {
        closing(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("payload exceeds {MAX_PAYLOAD_BYTES} bytes"),
            None,
            None,
        ))
    };
    let declared = header_str(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_PAYLOAD_BYTES as u64) {
        return too_large();
    }
    // A reading slot is taken before the body is read and held to the end,
    // so at most MAX_READING bodies are in memory; waiting requests hold
    // none. Slots travel with the work and are released when scoring ends,
    // even if the client has gone.
    let Ok(reading) = state.reading.clone().acquire_owned().await else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down".into(),
            None,
            None,
        );
    };
    let read = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES);
    let bytes = match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let limit = std::error::Error::source(&e).is_some_and(|s| {
                s.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
            }) || e.to_string().contains("length limit");
            if limit {
                return too_large();
            }
            return closing(error_response(
                StatusCode::BAD_REQUEST,
                "could not read the request body".into(),
                None,
                None,
            ));
        }
        Err(_) => {
            return closing(error_response(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs_f64()
                ),
                None,
                None,
            ));
        }
    };
    let Ok(scoring) = state.inflight.clone().acquire_owned().await else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down".into(),
            None,
            None,
        );
    };
    let permit = (reading, scoring);
    let result = if bytes.len() <= INLINE_BYTES {
        let r = state
            .scorer
            .answer(&bytes, format, out, &state.window, MAX_RESPONSE_BYTES);
        drop(permit);
        r
    } else {
        let st = state.clone();
        let work = tokio::task::spawn_blocking(move || {
            let r = st
                .scorer
                .answer(&bytes, format, out, &st.window, MAX_RESPONSE_BYTES);
            drop(permit);
            r
        });
        match work.await {
            Ok(r) => r,
            Err(_) => Err(Rejection::new(500, "scoring failed")),
        }
    };
    let scored = match result {
        Ok(s) => s,
        Err(r) => return reject(r),
    };
    state.metrics.record_predictions(&scored.classes);
    state.feedback.predicted(&id, &scored.classes);
    state.window.push(&scored.window);
    let mut resp = ([(header::CONTENT_TYPE, out.content_type())], scored.text).into_response();
    resp.extensions_mut().insert(RowsScored(scored.rows));
    resp
}

/// `POST /feedback`: confirmed labels for served rows (see [`feedback`]).
async fn feedback_handler(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let read = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES);
    let bytes = match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return closing(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("feedback is read up to {MAX_PAYLOAD_BYTES} bytes per request"),
                None,
                None,
            ));
        }
        Err(_) => {
            return closing(error_response(
                StatusCode::REQUEST_TIMEOUT,
                "the feedback body did not arrive in time".into(),
                None,
                None,
            ));
        }
    };
    let st = state.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let j = st.feedback.join(&bytes);
        st.metrics.set_live(st.feedback.live());
        j
    })
    .await
    .unwrap_or_default();
    let body = serde_json::to_string(&joined).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
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
    let mut text = state.metrics.prometheus();
    let w = &state.window;
    let _ = write!(
        text,
        "# HELP dxops_drift_window_held_rows Rows held for the next drift evaluation.\n\
         # TYPE dxops_drift_window_held_rows gauge\n\
         dxops_drift_window_held_rows {}\n\
         # HELP dxops_drift_window_bytes Bytes held by the drift window's rows.\n\
         # TYPE dxops_drift_window_bytes gauge\n\
         dxops_drift_window_bytes {}\n",
        w.rows(),
        w.bytes()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
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

/// A method as logged: a fixed name, never the client's string.
fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Logs each request (never its content) and counts `/invocations` metrics.
async fn observe(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = format!(
        "{}-{:08x}",
        state.id_prefix,
        state.next_id.fetch_add(1, Ordering::Relaxed)
    );
    req.extensions_mut().insert(InferenceId(id.clone()));
    // Only known routes are logged by name; anything else (which could carry
    // data in its path) is logged as "other".
    let route: &'static str = match req.uri().path() {
        "/ping" => "/ping",
        "/invocations" => "/invocations",
        "/feedback" => "/feedback",
        "/metrics" => "/metrics",
        "/execution-parameters" => "/execution-parameters",
        _ => "other",
    };
    let method = method_name(req.method());
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
    emit_metrics_of(&state.metrics);
}

/// EMF lines on stdout for the interval since the last call.
fn emit_metrics_of(metrics: &Metrics) {
    let lines = metrics.emf_lines(now_ms());
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
    let result = tokio::task::spawn_blocking(move || {
        drift::compute(st.scorer.artifact.baseline(), &rows, &cfg)
    })
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
        .route("/feedback", post(feedback_handler))
        .route("/metrics", get(prometheus))
        .route("/execution-parameters", get(execution_parameters))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Accepts connections until `shutdown` resolves, then lets open ones
/// finish for up to `deadline` and closes the rest.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    deadline: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper starts this timer whenever it waits for a request head, so it
    // also closes kept-alive connections left idle.
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(READ_BUFFER_BYTES)
        .keep_alive(true);
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let mut conns = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept(), if conns.len() < MAX_CONNECTIONS => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // Out of descriptors and the like: back off briefly.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let conn = http.serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(app.clone()),
                );
                let mut close = close_rx.clone();
                conns.spawn(async move {
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = close.changed() => {}
                    }
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                });
            }
        }
    }
    drop(listener);
    drop(close_tx);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, drain).await.is_err() {
        log_line(serde_json::json!({
            "ts": now_ms(),
            "event": "shutdown_deadline",
            "closed_connections": conns.len(),
        }));
        conns.abort_all();
    }
}

/// What both front doors load at start: the model, its metrics and its
/// drift window (whose capacity bounds `drift_min_rows`); logged once.
fn load(opts: &mut ServeOptions) -> Result<(Artifact, Metrics, Window), ServeError> {
    let started = Instant::now();
    let artifact = Artifact::load(&opts.model_dir)?;
    let metrics = Metrics::from_env(artifact.classes().to_vec());
    let window = Window::new(
        artifact.baseline(),
        opts.drift_window,
        opts.drift_window_bytes,
    );
    opts.drift_min_rows = opts.drift_min_rows.clamp(1, window.capacity);
    log_line(serde_json::json!({
        "ts": now_ms(),
        "event": "model_loaded",
        "model_sha256": artifact.checksum(),
        "features": artifact.feature_names().len(),
        "classes": artifact.classes().len(),
        "drift_window_rows": window.capacity,
        "load_ms": started.elapsed().as_secs_f64() * 1e3,
    }));
    Ok((artifact, metrics, window))
}

/// Loads the model, serves until SIGTERM or SIGINT, then drains open
/// requests (within the shutdown deadline), evaluates drift and flushes
/// metrics once more.
pub fn run(opts: ServeOptions) -> Result<(), ServeError> {
    let mut opts = opts;
    let (artifact, metrics, window) = load(&mut opts)?;
    let state = Arc::new(AppState {
        feedback: feedback::Feedback::new(artifact.classes().to_vec()),
        metrics,
        window,
        next_id: AtomicU64::new(0),
        id_prefix: format!("{:x}", now_ms()),
        reading: Arc::new(Semaphore::new(MAX_READING)),
        inflight: Arc::new(Semaphore::new(opts.max_inflight)),
        body_timeout: opts.body_timeout,
        request_timeout: opts.request_timeout,
        scorer: Scorer::new(artifact),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        // Scoring and drift are the only blocking work, and the inflight
        // slots bound the former.
        .max_blocking_threads(opts.max_inflight + 2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let addr = SocketAddr::new(opts.host, opts.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener.local_addr()?;
        log_line(
            serde_json::json!({"ts": now_ms(), "event": "listening", "address": local.to_string()}),
        );
        let ticker = tokio::spawn(metrics_loop(state.clone(), opts.clone()));
        serve_connections(
            listener,
            router(state.clone()),
            opts.header_timeout,
            opts.shutdown_deadline,
            shutdown_signal(),
        )
        .await;
        ticker.abort();
        // Drift waits for a blocking thread; it must not hold up the exit.
        let _ = tokio::time::timeout(Duration::from_secs(5), update_drift(&state, &opts)).await;
        emit_metrics(&state);
        log_line(serde_json::json!({"ts": now_ms(), "event": "stopped"}));
        Ok(())
    });
    // Scoring still running for a closed connection is abandoned.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::baseline::FeatureBaseline;
    use dxops_contract::data::FeatureType;

    fn baseline(kinds: &[FeatureType]) -> Baseline {
        Baseline {
            rows: 10,
            predicted_class_distribution: Default::default(),
            features: kinds
                .iter()
                .enumerate()
                .map(|(i, k)| FeatureBaseline {
                    name: format!("f{i}"),
                    kind: *k,
                    missing_fraction: 0.0,
                    numeric: None,
                    categories: (*k == FeatureType::Categorical).then(|| {
                        [("A".to_string(), 0.5), ("B".to_string(), 0.5)]
                            .into_iter()
                            .collect()
                    }),
                })
                .collect(),
        }
    }

    fn rows(from: usize, n: usize) -> Vec<Vec<RawValue>> {
        (from..from + n)
            .map(|i| vec![RawValue::Number(i as f64)])
            .collect()
    }

    fn window(rows: usize, bytes: usize) -> Window {
        Window::new(&baseline(&[FeatureType::Numeric]), rows, bytes)
    }

    fn push(w: &Window, rows: &[Vec<RawValue>]) {
        w.push(&w.encode(rows));
    }

    #[test]
    fn window_keeps_the_most_recent_rows() {
        let w = window(5, DEFAULT_WINDOW_BYTES);
        push(&w, &rows(0, 3));
        assert!(w.snapshot(4).is_none());
        assert_eq!(w.snapshot(3).unwrap(), rows(0, 3));
        push(&w, &rows(3, 4));
        assert_eq!(w.snapshot(1).unwrap(), rows(2, 5));
        // A batch larger than the window keeps only its tail.
        push(&w, &rows(100, 12));
        assert_eq!(w.snapshot(5).unwrap(), rows(107, 5));
        assert_eq!(w.rows(), 5);
    }

    #[test]
    fn window_fits_its_byte_budget() {
        // 1,000 rows asked for, room for 10.
        let w = window(1000, 10 * std::mem::size_of::<Cell>());
        assert_eq!(w.capacity, 10);
        push(&w, &rows(0, 50));
        assert_eq!(w.snapshot(1).unwrap(), rows(40, 10));
        assert!(w.bytes() <= 16 * std::mem::size_of::<Cell>());
    }

    #[test]
    fn window_keeps_only_known_categories() {
        let b = baseline(&[FeatureType::Categorical, FeatureType::Numeric]);
        let w = Window::new(&b, 100, DEFAULT_WINDOW_BYTES);
        let big = "XMARKERX".repeat(100_000);
        let batch: Vec<Vec<RawValue>> = (0..100)
            .map(|i| {
                let v = match i % 3 {
                    0 => RawValue::Text("A".into()),
                    1 => RawValue::Text(format!("{big}{i}")),
                    _ => RawValue::Missing,
                };
                vec![v, RawValue::Number(i as f64)]
            })
            .collect();
        push(&w, &batch);
        // Whatever the clients sent, the window holds its fixed-size cells.
        assert!(w.bytes() <= 100 * 2 * std::mem::size_of::<Cell>() * 2);
        let snap = w.snapshot(100).unwrap();
        assert_eq!(snap[0][0], RawValue::Text("A".into()));
        let other = &snap[1][0];
        assert!(
            matches!(other, RawValue::Text(t) if t != "A" && t != "B" && !t.contains("XMARKERX"))
        );
        assert_eq!(snap[2][0], RawValue::Missing);
        assert_eq!(snap[1][1], RawValue::Number(1.0));
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
