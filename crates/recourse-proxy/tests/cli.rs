//! The binary's start-up errors: a clear message and a non-zero exit.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recourse-proxy"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs")
}

#[test]
fn bad_upstream_url_exits_2_with_a_message() {
    let out = run(&["--listen", "127.0.0.1:0", "--upstream", "ftp://nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad upstream URL `ftp://nowhere`"), "{err}");
    let out = run(&["--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--upstream"));
}

#[test]
fn port_in_use_exits_1_with_a_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["--listen", &addr, "--upstream", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn help_names_flags_defaults_and_signals() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--header-read-timeout",
        "[default: 60s]",
        "--idle-timeout",
        "--max-connections",
        "--upstream-ca",
        "--upstream-insecure-skip-verify",
        "--upstream-http2",
        "--tls-cert",
        "--forwarded-headers",
        "--trust-forwarded",
        "--admin-listen",
        "--metrics-listen",
        "--no-access-log",
        "--threads",
        "SIGTERM",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn healthz_on_the_admin_listener_and_plain_logs() {
    use std::io::{BufRead, BufReader, Read, Write};
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_recourse-proxy"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &format!("http://{}", upstream.local_addr().unwrap()),
            "--admin-listen",
            &admin.to_string(),
            "--threads",
            "1",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Bounded: the start-up lines come first.
    let mut seen = String::new();
    for _ in 0..10 {
        let line = lines.next().unwrap().unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("recourse-proxy started") {
            break;
        }
    }
    assert!(seen.contains("admin listener started"), "{seen}");
    assert!(
        !seen.contains('\u{1b}'),
        "ANSI codes in a piped log: {seen:?}"
    );
    let mut s = std::net::TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut res = String::new();
    s.read_to_string(&mut res).unwrap();
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(res.ends_with("ok\n"), "{res}");
    // Without --metrics-listen, no recorder: the admin port has no /metrics.
    let res = raw_get(admin, "/metrics");
    assert!(res.starts_with("HTTP/1.1 404"), "{res}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A `GET path` over a fresh connection, the whole answer as text.
fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut res = String::new();
    s.read_to_string(&mut res).unwrap();
    res
}

/// A port free a moment ago.
fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn metrics_listen_serves_prometheus_text_that_a_parser_reads() {
    use std::io::{BufRead, BufReader};
    // An upstream that refuses connections: the request below gets 502.
    let upstream = free_addr();
    let (listen, metrics) = (free_addr(), free_addr());
    let mut child = Command::new(env!("CARGO_BIN_EXE_recourse-proxy"))
        .args([
            "--listen",
            &listen.to_string(),
            "--upstream",
            &format!("http://{upstream}"),
            "--no-retry",
            "--metrics-listen",
            &metrics.to_string(),
            "--threads",
            "1",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    // Bounded: the start-up lines come first.
    for _ in 0..10 {
        let line = lines.next().unwrap().unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("recourse-proxy started") {
            break;
        }
    }
    assert!(seen.contains("metrics listener started"), "{seen}");
    let res = raw_get(listen, "/a?b=c");
    assert!(res.starts_with("HTTP/1.1 502"), "{res}");
    // The proxied port forwards /metrics upstream (here: 502), never serves metrics.
    assert!(raw_get(listen, "/metrics").starts_with("HTTP/1.1 502"));
    let res = raw_get(metrics, "/metrics");
    let _ = child.kill();
    let _ = child.wait();
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(
        res.contains("content-type: text/plain; version=0.0.4"),
        "{res}"
    );
    let body = &res[res.find("\r\n\r\n").unwrap() + 4..];
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let count = |name: &str, label: (&str, &str)| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => panic!("{name} is not a counter"),
            })
            .sum()
    };
    assert_eq!(
        count(
            "recourse_proxy_requests_total",
            ("http_response_status_code", "502")
        ),
        2.0,
        "{body}"
    );
    assert_eq!(
        count(
            "recourse_proxy_upstream_errors_total",
            ("error_type", "connect")
        ),
        2.0,
        "{body}"
    );
    assert!(
        scrape.docs.contains_key("recourse_proxy_requests_total"),
        "HELP lines: {:?}",
        scrape.docs
    );
}
