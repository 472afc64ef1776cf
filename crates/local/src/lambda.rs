//! A local implementation of the AWS Lambda Runtime API (version
//! 2018-06-01, as documented in the Lambda developer guide, "Using the
//! Lambda runtime API for custom runtimes"), enough to drive a custom
//! runtime the way Lambda does: `GET /runtime/invocation/next` long-polls
//! for the next event and names it by the `Lambda-Runtime-Aws-Request-Id`
//! header; the function answers with `POST /runtime/invocation/{id}/response`
//! or `/error`, or reports a failed start with `POST /runtime/init/error`.
//!
//! `dxops run` serves a Lambda-serving spec through it, and the tests of
//! `dxops-model lambda` drive the function with it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};

use crate::serve::{Request, listen, respond};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the function posted back for one event.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(serde_json::Value),
    Error(String),
}

#[derive(Default)]
struct Shared {
    queue: Vec<(String, String)>,
    outcomes: HashMap<String, Outcome>,
    init_errors: Vec<String>,
    /// When the function first asked for an event.
    first_poll: Option<Instant>,
}

#[derive(Clone, Default)]
pub struct RuntimeApi {
    shared: Arc<(Mutex<Shared>, Condvar)>,
}

impl RuntimeApi {
    /// Listens on a free loopback port; returns the value for
    /// `AWS_LAMBDA_RUNTIME_API`.
    pub fn start(&self) -> std::io::Result<SocketAddr> {
        let api = self.clone();
        listen(|| (), move |_, out, req| api.route(out, req))
    }

    fn route(&self, out: &mut TcpStream, req: Request) {
        let path = req.path.trim_start_matches("/2018-06-01/runtime");
        let (lock, ready) = &*self.shared;
        match (req.method.as_str(), path) {
            ("GET", "/invocation/next") => {
                let mut s = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                s.first_poll.get_or_insert_with(Instant::now);
                while s.queue.is_empty() {
                    s = ready
                        .wait(s)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                let (id, event) = s.queue.remove(0);
                drop(s);
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
                    + 30_000;
                respond(
                    out,
                    "200 OK",
                    &[
                        ("Content-Type", "application/json".into()),
                        ("Lambda-Runtime-Aws-Request-Id", id),
                        ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                        (
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:local:000000000000:function:dxops-local".into(),
                        ),
                        (
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000".into(),
                        ),
                    ],
                    event.as_bytes(),
                );
            }
            ("POST", "/init/error") => {
                lock.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .init_errors
                    .push(String::from_utf8_lossy(&req.body).into_owned());
                ready.notify_all();
                respond(out, "202 Accepted", &[], b"{}");
            }
            ("POST", p) if p.starts_with("/invocation/") => {
                let rest = &p["/invocation/".len()..];
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                let outcome = match kind {
                    "response" => Outcome::Response(
                        serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null),
                    ),
                    _ => Outcome::Error(String::from_utf8_lossy(&req.body).into_owned()),
                };
                lock.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .outcomes
                    .insert(id.to_string(), outcome);
                ready.notify_all();
                respond(out, "202 Accepted", &[], b"{}");
            }
            _ => respond(out, "404 Not Found", &[], b"{}"),
        }
    }

    /// Queues `event` under `id`.
    pub fn send(&self, id: &str, event: &serde_json::Value) {
        let (lock, ready) = &*self.shared;
        lock.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .queue
            .push((id.to_string(), event.to_string()));
        ready.notify_all();
    }

    /// Waits for the function's answer to `id`, at most `timeout`.
    pub fn outcome(&self, id: &str, timeout: Duration) -> Option<Outcome> {
        let (lock, ready) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut s = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(o) = s.outcomes.get(id) {
                return Some(o.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            s = ready
                .wait_timeout(s, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Sends one event and waits up to `timeout` for its answer.
    pub fn invoke(
        &self,
        id: &str,
        event: &serde_json::Value,
        timeout: Duration,
    ) -> Option<Outcome> {
        self.send(id, event);
        self.outcome(id, timeout)
    }

    pub fn init_errors(&self) -> Vec<String> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .init_errors
            .clone()
    }

    /// When the function first asked for an event: it is ready.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first_poll
    }
}

/// What Lambda sets in a function's environment, pointed at `api`.
pub fn function_environment(api: SocketAddr, function: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
    ]
}
