//! A small HTTP/1.1 client for the loopback model server: keep-alive,
//! `Content-Length` bodies, nothing else. Only loopback addresses are
//! dialled.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

pub struct Response {
    pub status: u16,
    /// The server's `x-request-id`: the inference id feedback refers to.
    pub request_id: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        assert!(
            addr.ip().is_loopback(),
            "the local run only talks to loopback"
        );
        Client { addr, stream: None }
    }

    fn connect(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::new(s));
        }
        Ok(self.stream.as_mut().expect("just connected"))
    }

    /// Sends one request asking for JSON; reconnects once if a kept-alive
    /// connection was closed.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> std::io::Result<Response> {
        self.request_accepting(method, path, content_type, "application/json", body)
    }

    /// As [`Client::request`], with the answer's format as `accept` asks.
    pub fn request_accepting(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        accept: &str,
        body: &[u8],
    ) -> std::io::Result<Response> {
        match self.try_request(method, path, content_type, accept, body) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.stream = None;
                self.try_request(method, path, content_type, accept, body)
            }
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        accept: &str,
        body: &[u8],
    ) -> std::io::Result<Response> {
        let host = self.addr;
        let s = self.connect()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nAccept: {accept}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.get_mut().write_all(head.as_bytes())?;
        s.get_mut().write_all(body)?;
        let mut line = String::new();
        if s.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("malformed status line"))?;
        let mut length = 0usize;
        let mut close = false;
        let mut request_id = None;
        let mut content_type = None;
        loop {
            line.clear();
            s.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.parse().map_err(|_| std::io::Error::other("bad length"))?;
                } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                    close = true;
                } else if k.eq_ignore_ascii_case("x-request-id") {
                    request_id = Some(v.to_string());
                } else if k.eq_ignore_ascii_case("content-type") {
                    content_type = Some(v.to_string());
                }
            }
        }
        let mut body = vec![0; length];
        s.read_exact(&mut body)?;
        if close {
            self.stream = None;
        }
        Ok(Response {
            status,
            request_id,
            content_type,
            body,
        })
    }
}
