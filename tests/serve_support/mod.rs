//! Shared helpers for the serving and monitoring tests: a model trained by
//! the real binary on half of the vendored WDBC data, the other half as a
//! fresh sample of the same distribution, the real server on a free
//! loopback port, and a minimal HTTP/1.1 client.
#![allow(dead_code)]

pub use dxops_local::lambda as runtime_api;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dxops-model");

#[path = "wdbc.rs"]
mod wdbc;
pub use wdbc::{Data, split_data};

pub fn data() -> &'static Data {
    static D: OnceLock<Data> = OnceLock::new();
    D.get_or_init(|| split_data().1)
}

/// An ML root with `model/` trained on the even rows (cached across test binaries).
pub fn ml_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let root = base.join("serve-ml-root");
        if root.join("model/dxops-model.bin").is_file() {
            return root;
        }
        let staging = base.join(format!("serve-ml-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).unwrap();
        let csv = staging.join("train.csv");
        std::fs::write(&csv, split_data().0).unwrap();
        let out = Command::new(BIN)
            .args(["train", "--label", "label", "--data"])
            .arg(&csv)
            .arg("--ml-root")
            .arg(&staging)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "training failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Another test binary may have won the race; either copy is complete.
        if std::fs::rename(&staging, &root).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        root
    })
}

/// An ML root with a model trained on the even WDBC rows plus a text
/// feature `site` (last column; `north`, `south` or `east`).
pub fn categorical_ml_root(dir: &Path) -> PathBuf {
    let (train, _) = split_data();
    let mut csv = String::new();
    for (i, l) in train.lines().enumerate() {
        let site = if i == 0 {
            "site"
        } else {
            ["north", "south", "east"][i % 3]
        };
        csv.push_str(&format!("{l},{site}\n"));
    }
    let root = dir.join("categorical-ml");
    std::fs::create_dir_all(&root).unwrap();
    let data = root.join("train.csv");
    std::fs::write(&data, csv).unwrap();
    let out = Command::new(BIN)
        .args(["train", "--label", "label", "--data"])
        .arg(&data)
        .arg("--ml-root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "training failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

/// Shifted copy: every numeric cell × 1.5 + 1.
pub fn shifted(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    c.parse::<f64>()
                        .map(|x| format!("{}", x * 1.5 + 1.0))
                        .unwrap_or_else(|_| c.clone())
                })
                .collect()
        })
        .collect()
}

pub fn csv_body(rows: &[Vec<String>]) -> String {
    rows.iter().map(|r| r.join(",") + "\n").collect()
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

fn pump(
    stream: impl Read + Send + 'static,
    sink: Arc<Mutex<String>>,
    ready: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(tx) = &ready
                && line.contains("\"event\":\"listening\"")
            {
                let _ = tx.send(line.clone());
            }
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

impl Server {
    pub fn start(env: &[(&str, &str)]) -> Server {
        Server::start_at(ml_root(), env)
    }

    /// The server of the model under `root`.
    pub fn start_at(root: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(Command::new(BIN), root, env)
    }

    /// The server run by `cmd` (the binary or a wrapper such as `prlimit`
    /// whose arguments end with the binary).
    pub fn spawn(mut cmd: Command, root: &Path, env: &[(&str, &str)]) -> Server {
        cmd.args(["serve", "--host", "127.0.0.1", "--port", "0", "--ml-root"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("SAGEMAKER_BIND_TO_PORT")
            .env("DXOPS_SERVE_THREADS", "2");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        pump(child.stdout.take().unwrap(), stdout.clone(), None);
        pump(child.stderr.take().unwrap(), stderr.clone(), Some(tx));
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not start");
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        let addr: SocketAddr = v["address"].as_str().unwrap().parse().unwrap();
        Server {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.addr, method, path, headers, body)
    }

    pub fn post(&self, content_type: &str, accept: &str, body: &[u8]) -> Response {
        self.request(
            "POST",
            "/invocations",
            &[("Content-Type", content_type), ("Accept", accept)],
            body,
        )
    }

    pub fn ping(&self) -> u16 {
        self.request("GET", "/ping", &[], b"").status
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Let the pump threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn output(&self) -> String {
        format!(
            "{}{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `dxops-model lambda` on a model, polling a local Runtime API.
pub struct Function {
    pub child: Child,
    pub api: runtime_api::RuntimeApi,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    pub started: Instant,
}

impl Function {
    pub fn start_at(root: &Path, env: &[(&str, &str)]) -> Function {
        let mut cmd = Command::new(BIN);
        cmd.args(["lambda", "--ml-root"]).arg(root);
        Function::spawn(cmd, env)
    }

    /// The function started by `cmd`, with Lambda's environment and `env`.
    pub fn spawn(mut cmd: Command, env: &[(&str, &str)]) -> Function {
        let api = runtime_api::RuntimeApi::default();
        let addr = api.start().unwrap();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in runtime_api::function_environment(addr, "dxops-test") {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        pump(child.stdout.take().unwrap(), stdout.clone(), None);
        pump(child.stderr.take().unwrap(), stderr.clone(), None);
        Function {
            child,
            api,
            stdout,
            stderr,
            started,
        }
    }

    /// Sends one event and returns the function's response event.
    pub fn invoke(&self, id: &str, event: &serde_json::Value) -> serde_json::Value {
        match self.api.invoke(id, event, Duration::from_secs(60)) {
            Some(runtime_api::Outcome::Response(v)) => v,
            Some(runtime_api::Outcome::Error(e)) => panic!("invocation {id} failed: {e}"),
            None => panic!("no answer to {id} within 60 s"),
        }
    }

    pub fn output(&self) -> String {
        format!(
            "{}{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    request_within(addr, method, path, headers, body, 30)
}

/// As [`request`], waiting up to `secs` for the response.
pub fn request_within(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    secs: u64,
) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body; ignore write errors then.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Polls until `f` is true or `secs` pass.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// SageMaker's payload limit, as the server applies it.
pub const MAX_BODY: usize = 6 * 1024 * 1024;

/// `[{},{},…]` of at most `bytes` bytes: the cheapest rows to send.
pub fn empty_objects(bytes: usize) -> Vec<u8> {
    // `[` + n × `{}` + (n − 1) × `,` + `]` = 3n + 1 bytes.
    let n = (bytes - 1) / 3;
    let mut body = Vec::with_capacity(bytes);
    body.push(b'[');
    for i in 0..n {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{}");
    }
    body.push(b']');
    assert!(body.len() <= bytes);
    body
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
pub fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Reads from `s` until the peer closes or `secs` pass; returns what came
/// and whether the connection was closed.
pub fn read_until_closed(s: &mut TcpStream, secs: u64) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (out, true),
        }
    }
    (out, false)
}
