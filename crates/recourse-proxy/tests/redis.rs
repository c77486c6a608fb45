//! `--cache-store redis://...`: proxies sharing one cache in a real `redis-server`, started
//! by each test on a free port on 127.0.0.1 and killed after.
//!
//! Without `redis-server` on the `PATH` these tests say so loudly and return, except under
//! `CI=true`, where they fail. They run on real time (Redis is a real socket).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{client, config_for, start};
use http_body_util::BodyExt;
use recourse_proxy::{CacheStore, Proxy};
use recourse_testkit::{Reply, TestServer};

/// A `redis-server` child process, killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    /// A server on a free port, not started yet (`None`, loudly, when not installed).
    fn on_free_port() -> Option<Redis> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
            assert!(
                !ci,
                "redis-server is not installed, and CI=true: the Redis tests must run"
            );
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            let bang = "!".repeat(78);
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n{bang}\n!!! SKIPPED: redis-server is not on the PATH, so this proxy Redis \
                 test\n!!! did not run. Install it (apt-get install redis-server) to run it.\n\
                 {bang}\n"
            );
            return None;
        }
        Some(Redis {
            child: None,
            port: free_port(),
        })
    }

    /// A running server.
    async fn start() -> Option<Redis> {
        let mut redis = Redis::on_free_port()?;
        redis.run().await;
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn run(&mut self) {
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
        for _ in 0..100 {
            if self.answers_ping().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not answer PING on port {}", self.port);
    }

    /// PING over a raw socket (RESP): whether `+PONG` comes back within half a second.
    async fn answers_ping(&self) -> bool {
        let port = self.port;
        let ping = move || -> std::io::Result<bool> {
            let timeout = Duration::from_millis(500);
            let addr = (Ipv4Addr::LOCALHOST, port).into();
            let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.write_all(b"PING\r\n")?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf)?;
            Ok(&buf == b"+PONG\r\n")
        };
        matches!(tokio::task::spawn_blocking(ping).await, Ok(Ok(true)))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free port below the ephemeral range (32768 and up on Linux), so that no client
/// socket takes it before the server starts; random, so that parallel tests differ.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let start = h.finish();
    for i in 0..12_000u64 {
        let port = 20_000 + (start.wrapping_add(i.wrapping_mul(7919)) % 12_000) as u16;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    l.local_addr().expect("an address").port()
}

async fn get_body(
    client: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    uri: http::Uri,
) -> String {
    let res = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .expect("the proxy answers")
        .expect("a response");
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.expect("a body").to_bytes();
    String::from_utf8(body.to_vec()).expect("UTF-8")
}

#[tokio::test]
async fn two_proxies_on_one_redis_share_the_cache() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let upstream = TestServer::start().await;
    for path in ["/a", "/b"] {
        upstream.fallback(
            path,
            Reply::ok()
                .header("cache-control", "max-age=60")
                .body(format!("shared {path}")),
        );
    }
    let mut config = config_for(&upstream);
    config.cache_store = CacheStore::Redis(redis.url());
    let first = start(config.clone()).await;
    let second = start(config).await;
    let client = client();

    assert_eq!(get_body(&client, first.uri("/a")).await, "shared /a");
    assert_eq!(get_body(&client, second.uri("/a")).await, "shared /a");
    assert_eq!(get_body(&client, second.uri("/b")).await, "shared /b");
    assert_eq!(get_body(&client, first.uri("/b")).await, "shared /b");
    assert_eq!(
        (upstream.count("/a"), upstream.count("/b")),
        (1, 1),
        "a response stored through one proxy is a hit through the other"
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_proxy_starts_and_serves_while_redis_is_down() {
    let Some(mut redis) = Redis::on_free_port() else {
        return;
    };
    let upstream = TestServer::start().await;
    upstream.fallback(
        "/doc",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("document"),
    );
    let mut config = config_for(&upstream);
    config.cache_store = CacheStore::Redis(redis.url());
    let proxy = start(config).await;
    let client = client();
    for _ in 0..2 {
        assert_eq!(get_body(&client, proxy.uri("/doc")).await, "document");
    }
    assert_eq!(
        upstream.count("/doc"),
        2,
        "no Redis: every request goes upstream"
    );

    // Redis comes up: the cache starts working, with no restart of the proxy.
    redis.run().await;
    let mut hit = false;
    for _ in 0..100 {
        let before = upstream.count("/doc");
        assert_eq!(get_body(&client, proxy.uri("/doc")).await, "document");
        if upstream.count("/doc") == before {
            hit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hit, "the proxy's cache recovers once Redis answers");
    proxy.stop().await;
}

#[test]
fn a_bad_redis_url_is_a_start_up_error() {
    let upstream = recourse_proxy::Upstream::parse("http://127.0.0.1:9").unwrap();
    let mut config = recourse_proxy::Config::for_upstream(upstream);
    config.cache_store = CacheStore::Redis("redis://127.0.0.1:99999/0".into());
    let Err(err) = Proxy::new(config) else {
        panic!("a bad Redis URL must be refused at start-up");
    };
    assert!(err.to_string().contains("invalid Redis URL"), "{err}");
}
