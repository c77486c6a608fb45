//! A real `redis-server` for the tests: started on a free port on 127.0.0.1, without
//! persistence, killed when dropped.
//!
//! Without `redis-server` on the `PATH`, [`RedisServer::start`] says so loudly and returns
//! `None` (the test returns early), except under `CI=true`, where it panics: CI must run
//! these tests.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
}

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
    if in_ci() {
        panic!(
            "redis-server is not installed, and CI=true: the Redis store tests must run \
             (.ci/run installs it with apt-get)"
        );
    }
    // Straight to the process's stderr: the test harness captures `eprintln!`.
    let bang = "!".repeat(78);
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{bang}\n!!! SKIPPED: redis-server is not on the PATH, so this Redis store test\n\
         !!! did not run. Install it (apt-get install redis-server) to run it.\n{bang}\n"
    );
    false
}

/// A free port outside the ephemeral range, so that no client socket or `bind(0)` of
/// another test takes it between a kill and a restart.
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
    pub(crate) async fn start() -> Option<RedisServer> {
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

    /// A server that is not running, on a free port (Redis down at start); [`restart`]
    /// starts it.
    ///
    /// [`restart`]: RedisServer::restart
    pub(crate) fn not_started() -> Option<RedisServer> {
        if !available() {
            return None;
        }
        Some(RedisServer {
            child: None,
            port: free_port(),
        })
    }

    pub(crate) fn url(&self) -> String {
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

    /// Whether the server answers `PING`, trying for at most five seconds.
    async fn wait_ready(&self) -> bool {
        for _ in 0..100 {
            if let Ok(Ok(mut c)) =
                tokio::time::timeout(Duration::from_millis(500), self.try_connection()).await
                && let Ok(Ok(pong)) = tokio::time::timeout(
                    Duration::from_millis(500),
                    redis::cmd("PING").query_async::<String>(&mut c),
                )
                .await
                && pong == "PONG"
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    async fn try_connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    /// A connection of the test's own, to look at and tamper with what the store wrote.
    pub(crate) async fn connection(&self) -> MultiplexedConnection {
        self.try_connection()
            .await
            .expect("connect to redis-server")
    }

    /// Kills the server (SIGKILL): everything it held is lost.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.spawn();
        assert!(self.wait_ready().await, "redis-server did not restart");
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
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
