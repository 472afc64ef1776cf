//! Loopback HTTP/1.1 load generator for the serving benchmarks.
//!
//! Open loop (`--rate R`): request i is due at `start + i / R`; connection
//! threads take the next due request in order, wait for its due time, send
//! it and read the answer. Latency is measured from the due time, so a slow
//! answer that delays later requests is charged to them too (no coordinated
//! omission). Service time (from the actual send) is reported beside it.
//! Closed loop (`--rate 0`): every connection sends back to back, for the
//! maximum throughput.
//!
//! Only loopback targets are accepted, and every run is bounded by
//! `--requests` and `--max-seconds`. Prints one JSON object.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

struct Args {
    addr: SocketAddr,
    path: String,
    content_type: String,
    body: Vec<u8>,
    rate: f64,
    requests: u64,
    connections: usize,
    max_seconds: f64,
    rows_per_request: u64,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        addr: "127.0.0.1:8080".parse()?,
        path: "/invocations".into(),
        content_type: "text/csv".into(),
        body: Vec::new(),
        rate: 100.0,
        requests: 1000,
        connections: 8,
        max_seconds: 120.0,
        rows_per_request: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => a.addr = val()?.parse().context("--addr")?,
            "--path" => a.path = val()?,
            "--content-type" => a.content_type = val()?,
            "--body-file" => a.body = std::fs::read(val()?).context("--body-file")?,
            "--rate" => a.rate = val()?.parse().context("--rate")?,
            "--requests" => a.requests = val()?.parse().context("--requests")?,
            "--connections" => a.connections = val()?.parse().context("--connections")?,
            "--max-seconds" => a.max_seconds = val()?.parse().context("--max-seconds")?,
            "--rows-per-request" => {
                a.rows_per_request = val()?.parse().context("--rows-per-request")?
            }
            other => bail!("unknown flag {other}"),
        }
    }
    if !a.addr.ip().is_loopback() {
        bail!("only loopback targets are allowed, got {}", a.addr);
    }
    if a.body.is_empty() {
        bail!("--body-file is required");
    }
    if a.connections == 0 || a.requests == 0 || a.max_seconds.is_nan() || a.max_seconds <= 0.0 {
        bail!("--connections, --requests and --max-seconds must be positive");
    }
    Ok(a)
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Sends one request; returns the status code and whether the server
    /// asked to close the connection.
    fn call(&mut self, request: &[u8]) -> Result<(u16, bool)> {
        self.writer.write_all(request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .context("no status line")?
            .parse()?;
        let mut len = 0usize;
        let mut close = false;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("connection closed");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                } else if k.eq_ignore_ascii_case("connection")
                    && v.trim().eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body)?;
        Ok((status, close))
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn main() -> Result<()> {
    let a = Arc::new(parse_args()?);
    let mut request =
        format!("POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {}\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n", a.path, a.content_type, a.body.len())
            .into_bytes();
    request.extend_from_slice(&a.body);
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now() + Duration::from_millis(50);
    let deadline = start + Duration::from_secs_f64(a.max_seconds);
    let mut handles = Vec::new();
    for _ in 0..a.connections {
        let (a, request, next, stop) = (a.clone(), request.clone(), next.clone(), stop.clone());
        handles.push(std::thread::spawn(move || -> (Vec<u64>, Vec<u64>, u64) {
            let mut latencies = Vec::new();
            let mut service = Vec::new();
            let mut errors = 0u64;
            let mut conn = Conn::open(a.addr).ok();
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= a.requests {
                    break;
                }
                let due = if a.rate > 0.0 {
                    start + Duration::from_secs_f64(i as f64 / a.rate)
                } else {
                    Instant::now()
                };
                if due > deadline {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if Instant::now() > deadline {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                let sent = Instant::now();
                let (ok, reopen) = match conn.as_mut() {
                    Some(c) => match c.call(&request) {
                        Ok((status, close)) => (status == 200, close),
                        Err(_) => (false, true),
                    },
                    None => (false, true),
                };
                let done = Instant::now();
                if reopen {
                    conn = Conn::open(a.addr).ok();
                }
                if ok {
                    latencies.push(done.duration_since(due.min(sent)).as_micros() as u64);
                    service.push(done.duration_since(sent).as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (latencies, service, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut service = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, s, e) = h
            .join()
            .map_err(|_| anyhow::anyhow!("load thread panicked"))?;
        latencies.extend(l);
        service.extend(s);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    service.sort_unstable();
    let ok = latencies.len() as u64;
    let out = serde_json::json!({
        "target_rate": a.rate,
        "requests": a.requests,
        "connections": a.connections,
        "ok": ok,
        "errors": errors,
        "not_sent": a.requests.saturating_sub(ok + errors),
        "seconds": elapsed,
        "throughput_rps": ok as f64 / elapsed,
        "rows_per_second": (ok * a.rows_per_request) as f64 / elapsed,
        "latency_ms": {"p50": percentile(&latencies, 0.5), "p99": percentile(&latencies, 0.99), "p999": percentile(&latencies, 0.999), "max": percentile(&latencies, 1.0)},
        "service_ms": {"p50": percentile(&service, 0.5), "p99": percentile(&service, 0.99), "p999": percentile(&service, 0.999)},
    });
    println!("{out}");
    Ok(())
}
