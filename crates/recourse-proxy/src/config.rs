//! Command-line and file configuration of the proxy.
//!
//! Every option can be given on the command line or in a TOML file named by `--config`
//! (keys are the long option names with `_` for `-`); the command line wins.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! upstream = "http://127.0.0.1:9000"
//! cache = true
//! retry = true
//! follow_redirects = false
//! poll = false
//! max_body = "64MiB"
//! upstream_timeout = "30s"
//! metrics_listen = "127.0.0.1:9100"
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use http::Uri;
use serde::Deserialize;

use crate::forwarded::ForwardedHeaders;

/// The command line of `recourse-proxy`.
#[derive(Clone, Debug, Default, Parser)]
#[command(
    name = "recourse-proxy",
    version,
    about = "A reverse proxy built from the Recourse layers: a shared RFC 9111 cache, safe retries of 500/503, and optional redirect following and 202 polling.",
    after_help = "Every option may also be given in the --config TOML file (key: the option's long name with _ for -); the command line wins.\n\nSignals: SIGINT (Ctrl-C) or SIGTERM stop accepting connections, let in-flight requests finish for up to 10 s, then exit 0.\n\nLogs go to stdout: RUST_LOG sets the filter (default info), colours only when stdout is a terminal; one access line per request unless --no-access-log."
)]
pub struct Cli {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The upstream origin (and optional base path), e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// A TOML file with any of these options; the command line wins.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Turn the shared cache off (it is on by default).
    #[arg(long)]
    pub no_cache: bool,
    /// Total bytes the in-memory cache may hold [default: 256MiB].
    #[arg(long, value_name = "SIZE")]
    pub cache_max_bytes: Option<String>,
    /// Largest response body the cache stores; larger ones stream through [default: 8MiB].
    #[arg(long, value_name = "SIZE")]
    pub cache_entry_max_bytes: Option<String>,
    /// Where the cache lives: `memory` (default) or `redis://HOST:PORT/DB`.
    #[arg(long, value_name = "STORE")]
    pub cache_store: Option<String>,
    /// How stale a cached response may be to be served when the upstream cannot be reached
    /// (connection refused, closed or timed out; RFC 9111 §4.2.4); `0` turns it off
    /// [default: 1440m].
    #[arg(long, value_name = "DURATION")]
    pub cache_stale_if_unreachable: Option<String>,
    /// The targeted cache-control fields the cache obeys (RFC 9213), comma-separated, the
    /// first present and valid one wins; empty turns them off [default: CDN-Cache-Control].
    #[arg(long, value_name = "NAMES")]
    pub cache_targeted_fields: Option<String>,
    /// Turn retries of 500/503 off (on by default, idempotent requests only).
    #[arg(long)]
    pub no_retry: bool,
    /// Maximum retries per request [default: 2].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,
    /// Turn the upstream circuit breaker off (on by default: a 503 or 429 with
    /// `Retry-After` closes the upstream to every request until then, and failures open
    /// the circuit; refused requests get 503 with `Retry-After`).
    #[arg(long)]
    pub no_breaker: bool,
    /// Consecutive upstream failures that open the circuit; 0 turns this rule off
    /// [default: 5].
    #[arg(long, value_name = "N")]
    pub breaker_failures: Option<u32>,
    /// Failure ratio (0 to 1) over the last 30 s that opens the circuit [default: 0.5].
    #[arg(long, value_name = "RATIO")]
    pub breaker_failure_ratio: Option<f64>,
    /// Fewest requests in the window before the ratio is judged [default: 20].
    #[arg(long, value_name = "N")]
    pub breaker_min_requests: Option<u32>,
    /// How long the circuit stays open the first time (doubling while probes fail)
    /// [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub breaker_break: Option<String>,
    /// Follow redirects instead of passing them to the client (off by default).
    #[arg(long)]
    pub follow_redirects: bool,
    /// Poll 202 Accepted responses to completion instead of passing them on (off by default).
    #[arg(long)]
    pub poll: bool,
    /// Largest request body accepted; larger ones get 413 [default: 64MiB].
    #[arg(long, value_name = "SIZE")]
    pub max_body: Option<String>,
    /// Time limit for the upstream's response head, retries included [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub upstream_timeout: Option<String>,
    /// Log format: `text` or `json` [default: text]. Colours only when stdout is a terminal.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Time a client has to send a whole request header, from the moment the proxy starts
    /// waiting for it (like nginx's `client_header_timeout`) [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub header_read_timeout: Option<String>,
    /// A client connection with nothing read or written for this long, and no request
    /// waiting for the upstream, is closed (like nginx's `keepalive_timeout`) [default: 75s].
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Most client connections open at once; beyond it the proxy stops accepting until one
    /// closes (back-pressure: new connections wait in the kernel's backlog) [default: 4096].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Turn the access log off (one `info` line per request, on by default).
    #[arg(long)]
    pub no_access_log: bool,
    /// Trust only the CA certificates in this PEM file for `https://` upstreams, instead of
    /// the Mozilla roots (webpki-roots). SNI and certificate verification stay on.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// DANGEROUS: accept any certificate from an `https://` upstream (no verification at
    /// all: anyone on the path can read and change the traffic). Logs a warning at start.
    #[arg(long)]
    pub upstream_insecure_skip_verify: bool,
    /// Speak HTTP/2 to a cleartext `http://` upstream (prior knowledge, RFC 9113 §3.3); over
    /// `https://` HTTP/2 is used whenever the upstream offers `h2` by ALPN.
    #[arg(long)]
    pub upstream_http2: bool,
    /// Serve TLS on the listen address with this certificate chain (PEM); HTTP/2 and
    /// HTTP/1.1 by ALPN. Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How the upstream learns the client's address, scheme and host: `x-forwarded`
    /// (X-Forwarded-For/-Proto/-Host), `forwarded` (RFC 7239) or `off` [default: x-forwarded].
    #[arg(long, value_name = "STYLE")]
    pub forwarded_headers: Option<String>,
    /// Keep the forwarding fields clients send and append this hop (only behind a proxy
    /// that sets them); by default they are replaced.
    #[arg(long)]
    pub trust_forwarded: bool,
    /// Serve `GET /healthz` on this address, apart from the proxied port (off by default).
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Serve the metrics at `GET /metrics` on this address, in the Prometheus text format,
    /// apart from the proxied port (off by default; may be the --admin-listen address).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Worker threads: `1` runs everything on one thread (a current-thread runtime, the
    /// fastest on one core); `0` means one per CPU core [default: 0].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// The options of a TOML configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    upstream: Option<String>,
    cache: Option<bool>,
    cache_max_bytes: Option<String>,
    cache_entry_max_bytes: Option<String>,
    cache_store: Option<String>,
    cache_stale_if_unreachable: Option<String>,
    cache_targeted_fields: Option<String>,
    retry: Option<bool>,
    max_retries: Option<u32>,
    breaker: Option<bool>,
    breaker_failures: Option<u32>,
    breaker_failure_ratio: Option<f64>,
    breaker_min_requests: Option<u32>,
    breaker_break: Option<String>,
    follow_redirects: Option<bool>,
    poll: Option<bool>,
    max_body: Option<String>,
    upstream_timeout: Option<String>,
    log_format: Option<String>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
    access_log: Option<bool>,
    upstream_ca: Option<PathBuf>,
    upstream_insecure_skip_verify: Option<bool>,
    upstream_http2: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    forwarded_headers: Option<String>,
    trust_forwarded: Option<bool>,
    admin_listen: Option<String>,
    metrics_listen: Option<String>,
    threads: Option<usize>,
}

/// Where the cache keeps its entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheStore {
    /// In this process's memory.
    Memory,
    /// In Redis, shared by every proxy that names the same server.
    Redis(String),
}

/// The log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

/// The validated configuration of a proxy.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The upstream: scheme and authority, and a base path (no trailing slash) that every
    /// request path is appended to.
    pub upstream: Upstream,
    /// Whether the shared cache is on.
    pub cache: bool,
    /// Total bytes of the in-memory cache.
    pub cache_max_bytes: u64,
    /// Largest body the cache stores.
    pub cache_entry_max_bytes: u64,
    /// Where the cache lives.
    pub cache_store: CacheStore,
    /// How stale a cached response may be to be served when the upstream cannot be
    /// reached (zero: never).
    pub cache_stale_if_unreachable: Duration,
    /// The targeted cache-control fields the cache obeys (RFC 9213), first wins.
    pub cache_targeted_fields: Vec<http::HeaderName>,
    /// Whether retries are on.
    pub retry: bool,
    /// Maximum retries per request.
    pub max_retries: u32,
    /// Whether the upstream circuit breaker is on.
    pub breaker: bool,
    /// Consecutive failures that open the circuit (0: off).
    pub breaker_failures: u32,
    /// Failure ratio over the window that opens the circuit.
    pub breaker_failure_ratio: f64,
    /// Fewest requests in the window before the ratio is judged.
    pub breaker_min_requests: u32,
    /// The first break.
    pub breaker_break: Duration,
    /// Whether redirects are followed.
    pub follow_redirects: bool,
    /// Whether 202 responses are polled.
    pub poll: bool,
    /// Largest request body accepted.
    pub max_body: u64,
    /// Time limit for the upstream's response head.
    pub upstream_timeout: Duration,
    /// The log format.
    pub log_format: LogFormat,
    /// Time a client has to send a whole request header (HTTP/1).
    pub header_read_timeout: Duration,
    /// Time a client connection may stay without traffic and without a request in flight.
    pub idle_timeout: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Whether a line is logged per request.
    pub access_log: bool,
    /// A PEM file of the CA certificates trusted for `https://` upstreams (instead of the
    /// Mozilla roots).
    pub upstream_ca: Option<PathBuf>,
    /// Whether certificates of `https://` upstreams go unverified (dangerous).
    pub upstream_insecure_skip_verify: bool,
    /// Whether a cleartext upstream is spoken to in HTTP/2 (prior knowledge).
    pub upstream_http2: bool,
    /// The listener's certificate chain and private key (PEM files), for TLS on the
    /// listen address.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Which fields tell the upstream the client's address, scheme and host.
    pub forwarded_headers: ForwardedHeaders,
    /// Whether incoming forwarding fields are kept (and extended) rather than replaced.
    pub trust_forwarded: bool,
    /// The admin listener's address (`GET /healthz`), if any.
    pub admin_listen: Option<SocketAddr>,
    /// The metrics listener's address (`GET /metrics`, the Prometheus text format), if
    /// any. The binary installs a Prometheus recorder only when it is set.
    pub metrics_listen: Option<SocketAddr>,
    /// Worker threads of the binary's runtime (`1`: current-thread; `0`: one per core).
    pub threads: usize,
}

/// The upstream origin a proxy forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    base_path: String,
}

impl Upstream {
    /// Parses an upstream URL: `http://host[:port][/base/path]` or `https://...`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Upstream`] when it is not an absolute `http` or `https` URL with a host and no
    /// query or fragment.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::Upstream {
            value: text.to_owned(),
            why: why.to_owned(),
        };
        let uri: Uri = text
            .trim()
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| bad("it has no scheme (use http://host:port)"))?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(bad("only http:// and https:// upstreams are supported"));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| bad("it has no host"))?;
        if authority.host().is_empty() {
            return Err(bad("it has no host"));
        }
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the upstream URL are not supported"));
        }
        if uri.query().is_some() {
            return Err(bad("it must not have a query"));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            scheme,
            authority,
            base_path,
        })
    }

    /// The upstream's authority (`host:port`), used as the forwarded `Host`.
    pub fn authority(&self) -> &http::uri::Authority {
        &self.authority
    }

    /// The upstream URI for a request's path and query.
    ///
    /// # Errors
    ///
    /// An [`http::Error`] if the result is not a valid URI.
    pub fn uri_for(
        &self,
        path_and_query: Option<&http::uri::PathAndQuery>,
    ) -> Result<Uri, http::Error> {
        if self.base_path.is_empty()
            && let Some(pq) = path_and_query
        {
            // The request's own path and query, shared: no copy, no parse.
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(self.scheme.clone());
            parts.authority = Some(self.authority.clone());
            parts.path_and_query = Some(pq.clone());
            return Uri::from_parts(parts).map_err(http::Error::from);
        }
        let pq = path_and_query.map_or("/", |pq| pq.as_str());
        let joined;
        let pq = if self.base_path.is_empty() {
            pq
        } else {
            joined = format!("{}{}", self.base_path, pq);
            &joined
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.base_path)
    }
}

/// A configuration that cannot be used, with the reason.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// No upstream was given.
    MissingUpstream,
    /// The upstream URL is unusable.
    Upstream {
        /// The value given.
        value: String,
        /// Why it is unusable.
        why: String,
    },
    /// An option has a value that does not parse.
    Invalid {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The configuration file could not be read or parsed.
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingUpstream => {
                f.write_str("no upstream given: pass --upstream http://HOST:PORT")
            }
            ConfigError::Upstream { value, why } => write!(f, "bad upstream URL `{value}`: {why}"),
            ConfigError::Invalid {
                option,
                value,
                expected,
            } => {
                write!(f, "bad value `{value}` for --{option}: expected {expected}")
            }
            ConfigError::File { path, why } => {
                write!(f, "cannot use config file {}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// A configuration with the defaults and the given upstream, listening on
    /// `127.0.0.1:0` (for tests and embedding).
    pub fn for_upstream(upstream: Upstream) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream,
            cache: true,
            cache_max_bytes: 256 * 1024 * 1024,
            cache_entry_max_bytes: 8 * 1024 * 1024,
            cache_store: CacheStore::Memory,
            cache_stale_if_unreachable: Duration::from_secs(24 * 60 * 60),
            cache_targeted_fields: vec![http::HeaderName::from_static("cdn-cache-control")],
            retry: true,
            max_retries: 2,
            breaker: true,
            breaker_failures: 5,
            breaker_failure_ratio: 0.5,
            breaker_min_requests: 20,
            breaker_break: Duration::from_secs(5),
            follow_redirects: false,
            poll: false,
            max_body: 64 * 1024 * 1024,
            upstream_timeout: Duration::from_secs(30),
            log_format: LogFormat::Text,
            header_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            max_connections: 4096,
            access_log: true,
            upstream_ca: None,
            upstream_insecure_skip_verify: false,
            upstream_http2: false,
            tls: None,
            forwarded_headers: ForwardedHeaders::XForwarded,
            trust_forwarded: false,
            admin_listen: None,
            metrics_listen: None,
            threads: 0,
        }
    }

    /// Resolves the command line (and the file it names) into a configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the option at fault.
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::File {
                    path: path.clone(),
                    why: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let upstream = cli
            .upstream
            .clone()
            .or(file.upstream)
            .ok_or(ConfigError::MissingUpstream)?;
        let mut config = Config::for_upstream(Upstream::parse(&upstream)?);
        config.listen = match cli.listen.clone().or(file.listen) {
            Some(addr) => addr.trim().parse().map_err(|_| ConfigError::Invalid {
                option: "listen",
                value: addr,
                expected: "an IP address and port such as 127.0.0.1:8080",
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        config.cache = !cli.no_cache && file.cache.unwrap_or(true);
        config.retry = !cli.no_retry && file.retry.unwrap_or(true);
        config.follow_redirects = cli.follow_redirects || file.follow_redirects.unwrap_or(false);
        config.access_log = !cli.no_access_log && file.access_log.unwrap_or(true);
        config.upstream_ca = cli.upstream_ca.clone().or(file.upstream_ca);
        config.upstream_insecure_skip_verify = cli.upstream_insecure_skip_verify
            || file.upstream_insecure_skip_verify.unwrap_or(false);
        config.upstream_http2 = cli.upstream_http2 || file.upstream_http2.unwrap_or(false);
        config.tls = match (
            cli.tls_cert.clone().or(file.tls_cert),
            cli.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (cert, _) => {
                return Err(ConfigError::Invalid {
                    option: if cert.is_some() {
                        "tls-key"
                    } else {
                        "tls-cert"
                    },
                    value: String::new(),
                    expected: "both --tls-cert and --tls-key",
                });
            }
        };
        if let Some(addr) = cli.admin_listen.clone().or(file.admin_listen) {
            config.admin_listen = Some(addr.trim().parse().map_err(|_| ConfigError::Invalid {
                option: "admin-listen",
                value: addr,
                expected: "an IP address and port such as 127.0.0.1:9901",
            })?);
        }
        if let Some(addr) = cli.metrics_listen.clone().or(file.metrics_listen) {
            config.metrics_listen =
                Some(addr.trim().parse().map_err(|_| ConfigError::Invalid {
                    option: "metrics-listen",
                    value: addr,
                    expected: "an IP address and port such as 127.0.0.1:9100",
                })?);
        }
        if let Some(n) = cli.threads.or(file.threads) {
            config.threads = n;
        }
        config.trust_forwarded = cli.trust_forwarded || file.trust_forwarded.unwrap_or(false);
        if let Some(v) = cli.forwarded_headers.clone().or(file.forwarded_headers) {
            config.forwarded_headers = match v.trim() {
                "x-forwarded" => ForwardedHeaders::XForwarded,
                "forwarded" => ForwardedHeaders::Rfc7239,
                "off" => ForwardedHeaders::Off,
                _ => {
                    return Err(ConfigError::Invalid {
                        option: "forwarded-headers",
                        value: v,
                        expected: "`x-forwarded`, `forwarded` or `off`",
                    });
                }
            };
        }
        config.poll = cli.poll || file.poll.unwrap_or(false);
        if let Some(n) = cli.max_retries.or(file.max_retries) {
            config.max_retries = n;
        }
        config.breaker = !cli.no_breaker && file.breaker.unwrap_or(true);
        if let Some(n) = cli.breaker_failures.or(file.breaker_failures) {
            config.breaker_failures = n;
        }
        if let Some(r) = cli.breaker_failure_ratio.or(file.breaker_failure_ratio) {
            if !(0.0..=1.0).contains(&r) {
                return Err(ConfigError::Invalid {
                    option: "breaker-failure-ratio",
                    value: r.to_string(),
                    expected: "a ratio from 0 to 1, such as 0.5",
                });
            }
            config.breaker_failure_ratio = r;
        }
        if let Some(n) = cli.breaker_min_requests.or(file.breaker_min_requests) {
            config.breaker_min_requests = n;
        }
        if let Some(v) = cli.breaker_break.clone().or(file.breaker_break) {
            config.breaker_break = parse_duration("breaker-break", &v)?;
        }
        if let Some(v) = cli.cache_max_bytes.clone().or(file.cache_max_bytes) {
            config.cache_max_bytes = parse_size("cache-max-bytes", &v)?;
        }
        if let Some(v) = cli
            .cache_entry_max_bytes
            .clone()
            .or(file.cache_entry_max_bytes)
        {
            config.cache_entry_max_bytes = parse_size("cache-entry-max-bytes", &v)?;
        }
        if let Some(v) = cli.max_body.clone().or(file.max_body) {
            config.max_body = parse_size("max-body", &v)?;
        }
        if let Some(v) = cli.upstream_timeout.clone().or(file.upstream_timeout) {
            config.upstream_timeout = parse_duration("upstream-timeout", &v)?;
        }
        if let Some(v) = cli.cache_store.clone().or(file.cache_store) {
            config.cache_store = match v.trim() {
                "memory" => CacheStore::Memory,
                s if s.starts_with("redis://") => CacheStore::Redis(s.to_owned()),
                _ => {
                    return Err(ConfigError::Invalid {
                        option: "cache-store",
                        value: v,
                        expected: "`memory` or redis://HOST:PORT/DB",
                    });
                }
            };
        }
        if let Some(v) = cli
            .cache_stale_if_unreachable
            .clone()
            .or(file.cache_stale_if_unreachable)
        {
            config.cache_stale_if_unreachable = match v.trim() {
                "0" | "off" => Duration::ZERO,
                _ => parse_duration("cache-stale-if-unreachable", &v)?,
            };
        }
        if let Some(v) = cli
            .cache_targeted_fields
            .clone()
            .or(file.cache_targeted_fields)
        {
            config.cache_targeted_fields = v
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        ConfigError::Invalid {
                            option: "cache-targeted-fields",
                            value: v.clone(),
                            expected: "comma-separated field names such as CDN-Cache-Control",
                        }
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = cli.header_read_timeout.clone().or(file.header_read_timeout) {
            config.header_read_timeout = parse_duration("header-read-timeout", &v)?;
        }
        if let Some(v) = cli.idle_timeout.clone().or(file.idle_timeout) {
            config.idle_timeout = parse_duration("idle-timeout", &v)?;
        }
        if let Some(n) = cli.max_connections.or(file.max_connections) {
            if n == 0 {
                return Err(ConfigError::Invalid {
                    option: "max-connections",
                    value: n.to_string(),
                    expected: "a number of connections above 0",
                });
            }
            config.max_connections = n;
        }
        if let Some(v) = cli.log_format.clone().or(file.log_format) {
            config.log_format = match v.trim() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Invalid {
                        option: "log-format",
                        value: v,
                        expected: "`text` or `json`",
                    });
                }
            };
        }
        Ok(config)
    }
}

/// Parses a size: a number of bytes, optionally with a suffix `KiB`, `MiB`, `GiB`,
/// `KB`, `MB`, `GB` (or just `K`, `M`, `G`, binary).
fn parse_size(option: &'static str, text: &str) -> Result<u64, ConfigError> {
    let invalid = || ConfigError::Invalid {
        option,
        value: text.to_owned(),
        expected: "a size such as 65536, 64KiB or 10MiB",
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| invalid())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(invalid()),
    };
    n.checked_mul(mult).ok_or_else(invalid)
}

/// Parses a duration: `500ms`, `30s`, `2m`, or a plain number of seconds.
fn parse_duration(option: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let invalid = || ConfigError::Invalid {
        option,
        value: text.to_owned(),
        expected: "a duration such as 500ms, 30s or 2m",
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| invalid())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(invalid)?),
        _ => return Err(invalid()),
    };
    if d.is_zero() {
        return Err(invalid());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["recourse-proxy"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn defaults() {
        let c = Config::from_cli(&cli(&["--upstream", "http://127.0.0.1:9000"])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert!(c.cache && c.retry && !c.follow_redirects && !c.poll);
        assert_eq!(c.cache_store, CacheStore::Memory);
        assert_eq!(c.upstream.to_string(), "http://127.0.0.1:9000");
    }

    #[test]
    fn switches_and_values() {
        let c = Config::from_cli(&cli(&[
            "--upstream",
            "http://127.0.0.1:9000/api/",
            "--no-cache",
            "--no-retry",
            "--follow-redirects",
            "--poll",
            "--max-body",
            "10MiB",
            "--upstream-timeout",
            "500ms",
            "--listen",
            "127.0.0.1:0",
            "--cache-store",
            "redis://127.0.0.1:6379/0",
        ]))
        .unwrap();
        assert!(!c.cache && !c.retry && c.follow_redirects && c.poll);
        assert_eq!(c.max_body, 10 << 20);
        assert_eq!(c.upstream_timeout, Duration::from_millis(500));
        assert_eq!(
            c.cache_store,
            CacheStore::Redis("redis://127.0.0.1:6379/0".into())
        );
        let uri = c
            .upstream
            .uri_for(Some(&"/x?y=1".parse().unwrap()))
            .unwrap();
        assert_eq!(uri, "http://127.0.0.1:9000/api/x?y=1");
    }

    #[test]
    fn breaker_switch_and_thresholds() {
        let c = Config::from_cli(&cli(&["--upstream", "http://h:1"])).unwrap();
        assert!(c.breaker, "on by default");
        assert_eq!(
            (
                c.breaker_failures,
                c.breaker_failure_ratio,
                c.breaker_min_requests
            ),
            (5, 0.5, 20)
        );
        assert_eq!(c.breaker_break, Duration::from_secs(5));
        let c = Config::from_cli(&cli(&[
            "--upstream",
            "http://h:1",
            "--breaker-failures",
            "2",
            "--breaker-failure-ratio",
            "0.25",
            "--breaker-min-requests",
            "8",
            "--breaker-break",
            "10s",
        ]))
        .unwrap();
        assert_eq!(
            (
                c.breaker_failures,
                c.breaker_failure_ratio,
                c.breaker_min_requests
            ),
            (2, 0.25, 8)
        );
        assert_eq!(c.breaker_break, Duration::from_secs(10));
        let c = Config::from_cli(&cli(&["--upstream", "http://h:1", "--no-breaker"])).unwrap();
        assert!(!c.breaker);
        let err = Config::from_cli(&cli(&[
            "--upstream",
            "http://h:1",
            "--breaker-failure-ratio",
            "1.5",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("--breaker-failure-ratio"), "{err}");
    }

    #[test]
    fn bad_upstreams_are_typed() {
        for bad in [
            "",
            "127.0.0.1:9000",
            "http://user:pw@h/",
            "http://h/?q=1",
            "ftp://h/",
        ] {
            let err = Config::from_cli(&cli(&["--upstream", bad])).unwrap_err();
            assert!(err.to_string().contains("upstream"), "{bad}: {err}");
        }
        assert!(matches!(
            Config::from_cli(&cli(&[])).unwrap_err(),
            ConfigError::MissingUpstream
        ));
    }

    #[test]
    fn bad_values_name_the_option() {
        let err = Config::from_cli(&cli(&["--upstream", "http://h:1", "--max-body", "lots"]))
            .unwrap_err();
        assert!(err.to_string().contains("--max-body"));
        let err = Config::from_cli(&cli(&["--upstream", "http://h:1", "--listen", "nowhere"]))
            .unwrap_err();
        assert!(err.to_string().contains("--listen"));
        let err = Config::from_cli(&cli(&[
            "--upstream",
            "http://h:1",
            "--upstream-timeout",
            "0s",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("--upstream-timeout"));
        assert!(parse_size("x", "99999999999999999999G").is_err());
    }

    #[test]
    fn file_then_cli() {
        let dir = std::env::temp_dir().join(format!("recourse-proxy-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("proxy.toml");
        std::fs::write(
            &path,
            "upstream = \"http://127.0.0.1:7000\"\ncache = false\nmax_body = \"1KiB\"\n",
        )
        .unwrap();
        let c = Config::from_cli(&cli(&[
            "--config",
            path.to_str().unwrap(),
            "--max-body",
            "2KiB",
        ]))
        .unwrap();
        assert_eq!(c.upstream.to_string(), "http://127.0.0.1:7000");
        assert!(!c.cache);
        assert_eq!(c.max_body, 2048);
        std::fs::write(&path, "upstream = \"http://h:1\"\nbogus = 1\n").unwrap();
        let err = Config::from_cli(&cli(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn metrics_listen_is_off_by_default_and_read_from_both_places() {
        let c = Config::from_cli(&cli(&["--upstream", "http://h:1"])).unwrap();
        assert_eq!(c.metrics_listen, None);
        let c = Config::from_cli(&cli(&[
            "--upstream",
            "http://h:1",
            "--metrics-listen",
            "127.0.0.1:9100",
        ]))
        .unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        let err = Config::from_cli(&cli(&[
            "--upstream",
            "http://h:1",
            "--metrics-listen",
            "9100",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("--metrics-listen"), "{err}");
        let dir =
            std::env::temp_dir().join(format!("recourse-proxy-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("proxy.toml");
        std::fs::write(
            &path,
            "upstream = \"http://h:1\"\nmetrics_listen = \"127.0.0.1:9101\"\n",
        )
        .unwrap();
        let c = Config::from_cli(&cli(&["--config", path.to_str().unwrap()])).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9101".parse().unwrap()));
    }

    #[test]
    fn cache_stale_if_unreachable_and_targeted_fields() {
        let c = Config::from_cli(&cli(&["--upstream", "http://h:1"])).unwrap();
        assert_eq!(c.cache_stale_if_unreachable, Duration::from_secs(86_400));
        assert_eq!(c.cache_targeted_fields, ["cdn-cache-control"]);
        let c = Config::from_cli(&cli(&[
            "--upstream",
            "http://h:1",
            "--cache-stale-if-unreachable",
            "0",
            "--cache-targeted-fields",
            "Recourse-Cache-Control, CDN-Cache-Control",
        ]))
        .unwrap();
        assert!(c.cache_stale_if_unreachable.is_zero());
        assert_eq!(
            c.cache_targeted_fields,
            ["recourse-cache-control", "cdn-cache-control"]
        );
        let c = Config::from_cli(&cli(&[
            "--upstream",
            "http://h:1",
            "--cache-stale-if-unreachable",
            "5m",
            "--cache-targeted-fields",
            "",
        ]))
        .unwrap();
        assert_eq!(c.cache_stale_if_unreachable, Duration::from_secs(300));
        assert!(c.cache_targeted_fields.is_empty());
        for (option, bad) in [
            ("--cache-stale-if-unreachable", "soon"),
            ("--cache-targeted-fields", "a b"),
        ] {
            let err =
                Config::from_cli(&cli(&["--upstream", "http://h:1", option, bad])).unwrap_err();
            assert!(err.to_string().contains(&option[2..]), "{err}");
        }
    }
}
