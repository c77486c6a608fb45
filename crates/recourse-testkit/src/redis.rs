//! A real `redis-server` for the tests: started on a free port on 127.0.0.1, without
//! persistence, killed when dropped.
//!
//! Without `redis-server` on the `PATH`, [`RedisServer::start`] and
//! [`RedisServer::not_started`] say so loudly on stderr and return `None` (the test
//! returns early), except under `CI=true` (or `CI=1`), where they panic: CI must run
//! these tests.
//!
//! Readiness is checked with a raw `PING` over TCP, so this module needs no Redis client;
//! `RedisServer::connection` (feature `redis`) gives a `redis` crate connection for a
//! test that looks at or tampers with what was stored.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use recourse_testkit::redis::RedisServer;
//!
//! let Some(redis) = RedisServer::start().await else {
//!     return; // not installed, and not in CI: skipped, loudly
//! };
//! let url = redis.url(); // "redis://127.0.0.1:PORT/0"
//! # drop(url);
//! # }
//! ```

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `redis-server` child process on a free port of 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

/// Whether this runs under CI (`CI=true` or `CI=1`), where a missing `redis-server` fails
/// the test instead of skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `redis-server` is installed; if not, says so loudly, or panics under CI.
fn available() -> bool {
    if installed() {
        return true;
    }
    assert!(
        !in_ci(),
        "redis-server is not installed, and CI=true: the Redis tests must run \
         (.ci/run installs it with apt-get)"
    );
    // Straight to the process's stderr: the test harness captures `eprintln!`.
    let bang = "!".repeat(78);
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{bang}\n!!! SKIPPED: redis-server is not on the PATH, so this Redis test\n\
         !!! did not run. Install it (apt-get install redis-server) to run it.\n{bang}\n"
    );
    false
}

/// A free port outside the ephemeral range, so that no client socket or `bind(0)` of
/// another test takes it between a kill and a restart; random, so that parallel tests
/// differ.
fn free_port() -> u16 {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    let mut seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    };
    for _ in 0..200 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 20_000 + (seed >> 33) as u16 % 12_000;
        if (ephemeral.0..=ephemeral.1).contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl RedisServer {
    /// Starts a server, or returns `None` (after a loud message) when `redis-server` is
    /// not installed outside CI.
    ///
    /// # Panics
    ///
    /// Panics when `redis-server` is missing under CI, or does not answer `PING` after
    /// five tries on five free ports.
    pub async fn start() -> Option<RedisServer> {
        if !available() {
            return None;
        }
        // A free port can be taken between the probe and the spawn: try a few.
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
            };
            server.spawn();
            if server.wait_ready().await {
                return Some(server);
            }
        }
        panic!("redis-server did not start on 127.0.0.1");
    }

    /// A server that is not running, on a free port (Redis down at start);
    /// [`restart`](RedisServer::restart) starts it. `None` (after a loud message) when
    /// `redis-server` is not installed outside CI.
    ///
    /// # Panics
    ///
    /// Panics when `redis-server` is missing under CI.
    pub fn not_started() -> Option<RedisServer> {
        if !available() {
            return None;
        }
        Some(RedisServer {
            child: None,
            port: free_port(),
        })
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database 0: `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
    }

    /// Whether the server answers `PING`, trying for at most about five seconds.
    async fn wait_ready(&self) -> bool {
        for _ in 0..100 {
            if self.answers_ping().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// `PING` over a raw socket (RESP): whether `+PONG` comes back within half a second.
    async fn answers_ping(&self) -> bool {
        let ping = async {
            let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
                .await
                .ok()?;
            stream.write_all(b"PING\r\n").await.ok()?;
            let mut reply = [0u8; 7];
            stream.read_exact(&mut reply).await.ok()?;
            Some(&reply == b"+PONG\r\n")
        };
        matches!(
            tokio::time::timeout(Duration::from_millis(500), ping).await,
            Ok(Some(true))
        )
    }

    /// The number of keys in the server's database (`DBSIZE` over a raw socket), or `None`
    /// when it does not answer within half a second.
    pub async fn key_count(&self) -> Option<u64> {
        let dbsize = async {
            let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
                .await
                .ok()?;
            stream.write_all(b"DBSIZE\r\n").await.ok()?;
            // The reply is an integer: `:<n>\r\n`.
            let mut reply = Vec::with_capacity(24);
            let mut byte = [0u8; 1];
            while !reply.ends_with(b"\r\n") && reply.len() < 24 {
                stream.read_exact(&mut byte).await.ok()?;
                reply.push(byte[0]);
            }
            let text = std::str::from_utf8(reply.strip_prefix(b":")?).ok()?;
            text.trim_end().parse().ok()
        };
        tokio::time::timeout(Duration::from_millis(500), dbsize)
            .await
            .ok()
            .flatten()
    }

    /// Waits until the database holds at least `keys` keys: a store's write can land a
    /// moment after the response that caused it was delivered. Checks every 10 ms for at
    /// most five seconds; returns whether the keys arrived.
    pub async fn wait_for_keys(&self, keys: u64) -> bool {
        for _ in 0..500 {
            if self.key_count().await.is_some_and(|n| n >= keys) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// A connection of the test's own, to look at and tamper with what was stored.
    ///
    /// # Panics
    ///
    /// Panics if the server cannot be connected to.
    #[cfg(feature = "redis")]
    pub async fn connection(&self) -> ::redis::aio::MultiplexedConnection {
        let connect = async {
            ::redis::Client::open(self.url())?
                .get_multiplexed_async_connection()
                .await
        };
        connect.await.expect("connect to redis-server")
    }

    /// Kills the server (SIGKILL): everything it held is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty (or for the first time, after
    /// [`not_started`](RedisServer::not_started)), and waits until it answers `PING`.
    ///
    /// # Panics
    ///
    /// Panics if it does not answer within about five seconds.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        assert!(
            self.wait_ready().await,
            "redis-server did not answer PING on port {}",
            self.port
        );
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running server").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is answered.
    ///
    /// # Panics
    ///
    /// Panics if the server is not running or the signal cannot be sent.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    ///
    /// # Panics
    ///
    /// Panics if the server is not running or the signal cannot be sent.
    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
