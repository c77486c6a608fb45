//! The upstream of `benches/proxy_vs_nginx.sh`: a minimal hyper HTTP/1.1 server on
//! 127.0.0.1 with keep-alive.
//!
//! - `GET /pass`: `200`, `Cache-Control: no-store` (what a proxy must pass through);
//! - `GET /cached`: `200`, `Cache-Control: public, max-age=3600` (what a proxy's cache
//!   serves);
//! - `GET /stats`: how many requests each of the two paths received (`pass=N cached=M`),
//!   so that the script can check that cache hits never reach the upstream;
//! - anything else: `404`.
//!
//! Both bodies are `--body-bytes` long (default 1024).
//!
//! ```text
//! cargo run --release --example bench_upstream -- --listen 127.0.0.1:8081 [--body-bytes 1024] [--threads 1]
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Debug)]
struct Options {
    listen: SocketAddr,
    body_bytes: usize,
    threads: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut listen = None;
    let mut body_bytes = 1024;
    let mut threads = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                let addr: SocketAddr = v
                    .parse()
                    .map_err(|e| format!("--listen {v:?}: not an address: {e}"))?;
                if !addr.ip().is_loopback() {
                    return Err(format!("--listen {addr}: only loopback addresses"));
                }
                listen = Some(addr);
            }
            "--body-bytes" => {
                let v = value("--body-bytes")?;
                body_bytes = v
                    .parse()
                    .map_err(|e| format!("--body-bytes {v:?}: not a size: {e}"))?;
            }
            "--threads" => {
                let v = value("--threads")?;
                threads = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--threads {v:?}: not a positive integer")),
                };
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Options {
        listen: listen.ok_or("--listen 127.0.0.1:PORT is required")?,
        body_bytes,
        threads,
    })
}

#[derive(Debug, Default)]
struct Counters {
    pass: AtomicU64,
    cached: AtomicU64,
}

fn respond(req: &Request<Incoming>, body: &Bytes, counters: &Counters) -> Response<Full<Bytes>> {
    let (cache_control, counter) = match req.uri().path() {
        "/pass" => ("no-store", &counters.pass),
        "/cached" => ("public, max-age=3600", &counters.cached),
        "/stats" => {
            let stats = format!(
                "pass={} cached={}\n",
                counters.pass.load(Ordering::Relaxed),
                counters.cached.load(Ordering::Relaxed)
            );
            let mut res = Response::new(Full::new(Bytes::from(stats)));
            res.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return res;
        }
        _ => {
            let mut res = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *res.status_mut() = StatusCode::NOT_FOUND;
            return res;
        }
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let mut res = Response::new(Full::new(body.clone()));
    let headers = res.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

async fn serve(options: Options) -> std::io::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    eprintln!("bench_upstream listening on {}", listener.local_addr()?);
    let body = Bytes::from(
        (0..options.body_bytes)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let counters = Arc::new(Counters::default());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("bench_upstream: accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let res = respond(&req, &body, &counters);
                async move { Ok::<_, Infallible>(res) }
            });
            // A client closing its connection mid-request is not worth a message here.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench_upstream: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_upstream: cannot start a runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_upstream: {e}");
            ExitCode::from(1)
        }
    }
}
