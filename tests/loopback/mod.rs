//! A server program for one test on a free loopback port: waited for until
//! it accepts connections, killed (by its pid) when dropped. moto and
//! `docker-registry` are started this way.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct Listening {
    child: Child,
    pub port: u16,
}

impl Listening {
    /// Spawns `cmd`, already told to listen on `port`, and waits until it
    /// does; `what` names it in the failure (with how to install it).
    pub fn spawn(mut cmd: Command, port: u16, what: &str, within: Duration) -> Listening {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{what} runs: {e}"));
        let server = Listening { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < within,
                "{what} did not listen on {port} within {} s",
                within.as_secs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
