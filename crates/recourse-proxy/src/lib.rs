//! `recourse-proxy`: a reverse proxy built from the Recourse layers.
//!
//! The proxy accepts HTTP/1.1 and HTTP/2 on a listen address and forwards every request to
//! one upstream through the layer stack its switches select:
//!
//! | layer | default | what it does in a proxy |
//! |---|---|---|
//! | cache (shared mode) | on | answers fresh hits without an upstream request, revalidates stale ones; in memory, or in Redis with `--cache-store redis://HOST:PORT/DB` so several proxies share it |
//! | retry | on | resends idempotent requests that got 500/503 or failed to connect |
//! | redirect | off | follows 3xx itself (a reverse proxy normally passes them on) |
//! | poll | off | polls a 202's `Location` to completion (normally passed on) |
//!
//! The upstream may be `http://` or `https://` (rustls: the Mozilla roots, or a private CA
//! with `--upstream-ca`; SNI and verification always on unless
//! `--upstream-insecure-skip-verify`), spoken to in HTTP/2 when ALPN agrees `h2` (or by
//! prior knowledge over cleartext, `--upstream-http2`). The listener may serve TLS
//! (`--tls-cert`/`--tls-key`, h2 and http/1.1 by ALPN). Every response is in the client's
//! protocol version (RFC 9110 §6.2), whatever the upstream spoke. Slow clients are cut off:
//! a header read timeout (60 s), an idle timeout (75 s) and a connection limit (4096) with
//! back-pressure. The upstream learns the client's address, scheme and host from
//! `X-Forwarded-For`/`-Proto`/`-Host` or RFC 7239 `Forwarded` ([`ForwardedHeaders`]);
//! values clients send are replaced unless `--trust-forwarded`. `--admin-listen` serves
//! `GET /healthz` on a port of its own.
//!
//! `--metrics-listen ADDR` (off by default) serves `GET /metrics` on a port of its own,
//! never the proxied one: the Prometheus text exposition format of the layers' metrics
//! (outcomes, retries, cache results, breaker refusals, upstream request durations, ...)
//! and the proxy's own (connections, requests by method and status, upstream errors by
//! kind, body bytes, request duration), listed in [`metrics`]. Only then does the binary
//! install a Prometheus recorder ([`metrics::Prometheus`]); a program embedding the proxy
//! keeps its own recorder and can hand one to [`Proxy::with_metrics`]. The access log
//! lines carry the fields of the `recourse.request` span (`http.request.method`,
//! `url.full` without the query, `server.address`, `server.port`,
//! `http.response.status_code`, `error.type`, `recourse.cache.status`,
//! `http.request.resend_count`) and `client.address`.
//!
//! On the way it removes hop-by-hop headers (RFC 9110 §7.6.1, including those named in
//! `Connection`, by the list of [`recourse_core::hop`]) and the `Proxy-Authorization` /
//! `Proxy-Authenticate` fields it consumes itself, appends `Via` (RFC 9110 §7.6.3), sets `Host` for the upstream, streams
//! bodies both ways, refuses request bodies over a limit with 413, and answers 504 when
//! the upstream does not answer in time and 502 when it cannot be reached.
//!
//! ```no_run
//! use recourse_proxy::{Config, Proxy, Upstream};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let config = Config::for_upstream(Upstream::parse("http://127.0.0.1:9000")?);
//! let proxy = Proxy::new(config)?;
//! let listener = proxy.bind().await?;
//! proxy.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

mod admin;
mod config;
mod conn;
mod counted;
mod forwarded;
mod hop;
pub mod metrics;
mod proxy;
mod stack;
mod tls;

pub use config::{CacheStore, Cli, Config, ConfigError, LogFormat, Upstream};
pub use forwarded::ForwardedHeaders;
pub use proxy::{Proxy, ProxyBody, UpstreamService, upstream_client};
