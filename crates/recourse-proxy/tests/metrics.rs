//! `GET /metrics` on the metrics listener, scraped over loopback and read with a real
//! parser of the Prometheus text format after a scripted mix of cache hits and misses, a
//! retry, a 404, a POST with a body and upstream errors.
//!
//! The recorder is process-wide: this binary holds this one test, which installs it.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use common::{RunningProxy, config_for, start_proxy};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prometheus_parse::{Scrape, Value};
use recourse_proxy::metrics::Prometheus;
use recourse_proxy::{Config, Proxy, Upstream};
use recourse_testkit::{Reply, TestServer};
use tokio::sync::oneshot;

/// A client that opens a connection per request (no idle connection is kept), so that
/// the proxy's connection count is the number of requests.
fn one_connection_per_request() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

/// What the client saw of one request.
struct Seen {
    status: StatusCode,
    body: Bytes,
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    uri: http::Uri,
    body: &'static str,
) -> Seen {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Seen { status, body }
}

/// The metrics listener of `proxy`, served until the returned sender is dropped.
async fn serve_metrics(proxy: &Proxy) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let listener = proxy.bind_metrics().await.unwrap().expect("configured");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let proxy = proxy.clone();
    tokio::spawn(async move {
        let _ = proxy
            .serve_admin(listener, async move {
                let _ = stopped.await;
            })
            .await;
    });
    (addr, stop)
}

/// A sample's labels.
type Labels = HashMap<String, String>;

/// The scrape's samples, by name, as (labels, value) pairs.
struct Samples(HashMap<String, Vec<(Labels, Value)>>);

impl Samples {
    fn parse(text: &str) -> Samples {
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let mut by_name: HashMap<String, Vec<_>> = HashMap::new();
        for sample in scrape.samples {
            let labels = sample
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            by_name
                .entry(sample.metric)
                .or_default()
                .push((labels, sample.value));
        }
        Samples(by_name)
    }

    /// The value of the counter or gauge `name` with exactly `labels`, if present.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0.get(name)?.iter().find_map(|(l, v)| {
            (*l == want).then_some(match v {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(_) | Value::Summary(_) => f64::NAN,
            })
        })
    }

    /// A counter's value with exactly `labels`; panics when it is absent or not a counter.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let samples = self.0.get(name).unwrap_or_else(|| panic!("no {name}"));
        assert!(
            samples.iter().all(|(_, v)| matches!(v, Value::Counter(_))),
            "{name} is not typed as a counter"
        );
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name} with {labels:?}"))
    }

    /// The sum over every label set of a counter, untyped or gauge sample named `name`.
    fn sum(&self, name: &str) -> f64 {
        self.0.get(name).map_or(0.0, |samples| {
            samples
                .iter()
                .map(|(_, v)| match v {
                    Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                    _ => 0.0,
                })
                .sum()
        })
    }

    /// The buckets of the histogram `name` with exactly `labels`: (upper bound, count).
    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let want: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let samples = self.0.get(name).unwrap_or_else(|| panic!("no {name}"));
        samples
            .iter()
            .find_map(|(l, v)| match v {
                Value::Histogram(buckets) if *l == want => {
                    Some(buckets.iter().map(|b| (b.less_than, b.count)).collect())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no histogram {name} with {labels:?}"))
    }
}

async fn scrape(addr: std::net::SocketAddr) -> (http::HeaderMap, String) {
    let client = one_connection_per_request();
    let uri: http::Uri = format!("http://{addr}/metrics").parse().unwrap();
    let res = client.get(uri).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_mix_is_counted_in_the_scrape() {
    let prometheus = Prometheus::install().expect("the only recorder of this binary");

    let upstream = TestServer::start().await;
    upstream.fallback(
        "/cached",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("cached body"),
    );
    upstream.script(
        "/flaky",
        [
            Reply::status(503).header("retry-after", "0"),
            Reply::ok().body("second time"),
        ],
    );
    upstream.fallback("/missing", Reply::status(404).body("no such page"));
    upstream.fallback("/echo", Reply::echo());
    upstream.fallback("/metrics", Reply::ok().body("the upstream's own /metrics"));
    upstream.fallback("/reset", Reply::reset());

    let mut config = config_for(&upstream);
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let proxy = Proxy::new(config).unwrap().with_metrics(prometheus.clone());
    let (metrics_addr, _stop_metrics) = serve_metrics(&proxy).await;
    let running: RunningProxy = start_proxy(proxy).await;

    // An upstream that refuses connections, behind a proxy without retries or cache.
    let dead = recourse_testkit::refused_uri();
    let mut config = Config::for_upstream(
        Upstream::parse(&format!("http://{}", dead.authority().unwrap())).unwrap(),
    );
    config.retry = false;
    config.cache = false;
    let down = start_proxy(Proxy::new(config).unwrap()).await;

    let client = one_connection_per_request();
    let mut seen = Vec::new();
    for (method, path) in [
        (Method::GET, "/cached"),  // cache miss
        (Method::GET, "/cached"),  // cache hit: no upstream request
        (Method::GET, "/flaky"),   // 503, retried, then 200
        (Method::GET, "/missing"), // 404
        (Method::POST, "/echo"),   // cache bypass, body both ways
        (Method::GET, "/metrics"), // the proxied port forwards /metrics upstream
        (Method::GET, "/reset"),   // the upstream resets, every try: 502
    ] {
        let body = if method == Method::POST {
            "hello proxy"
        } else {
            ""
        };
        seen.push(send(&client, method, running.uri(path), body).await);
    }
    seen.push(send(&client, Method::GET, down.uri("/down"), "").await);

    let statuses: Vec<u16> = seen.iter().map(|s| s.status.as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 200, 200, 502, 502]);
    assert_eq!(seen[1].body, "cached body");
    assert_eq!(seen[2].body, "second time");
    assert_eq!(seen[4].body, "hello proxy");
    assert_eq!(
        seen[5].body, "the upstream's own /metrics",
        "the proxied port must not expose the metrics"
    );
    assert_eq!(upstream.count("/metrics"), 1);
    assert_eq!(upstream.count("/cached"), 1);
    assert_eq!(upstream.count("/flaky"), 2);
    let resets = upstream.count("/reset");
    assert_eq!(
        resets, 3,
        "the reset GET is tried 1 + max_retries (2) times"
    );
    let sent_bytes: usize = seen.iter().map(|s| s.body.len()).sum();

    // Both proxies stop: each returns once its connections closed and left the gauge
    // (bounded by the proxy's shutdown grace, and here by a timeout), so one scrape
    // afterwards sees every request and no open connection.
    let stopped = async {
        running.stop().await;
        down.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the proxies stop once their connections closed");
    let (headers, text) = scrape(metrics_addr).await;
    assert_eq!(
        headers[http::header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let m = Samples::parse(&text);
    let get = ("http_request_method", "GET");
    let code = |c| ("http_response_status_code", c);

    // The proxy's own: requests by method and status, connections, errors, bytes.
    let requests = "recourse_proxy_requests_total";
    assert_eq!(m.counter(requests, &[get, code("200")]), 4.0, "{text}");
    assert_eq!(m.counter(requests, &[get, code("404")]), 1.0);
    assert_eq!(m.counter(requests, &[get, code("502")]), 2.0);
    assert_eq!(
        m.counter(requests, &[("http_request_method", "POST"), code("200")]),
        1.0
    );
    assert_eq!(m.sum(requests), 8.0);
    assert_eq!(m.counter("recourse_proxy_connections_total", &[]), 8.0);
    assert_eq!(m.value("recourse_proxy_connections_open", &[]), Some(0.0));
    let errors = "recourse_proxy_upstream_errors_total";
    assert_eq!(m.counter(errors, &[("error_type", "closed")]), 1.0);
    assert_eq!(m.counter(errors, &[("error_type", "connect")]), 1.0);
    assert_eq!(m.sum(errors), 2.0);
    assert_eq!(
        m.counter("recourse_proxy_request_body_size_bytes_total", &[]),
        "hello proxy".len() as f64
    );
    assert_eq!(
        m.counter("recourse_proxy_response_body_size_bytes_total", &[]),
        sent_bytes as f64
    );
    let duration = m.histogram(
        "recourse_proxy_request_duration_seconds",
        &[get, code("200")],
    );
    let bounds: Vec<f64> = duration.iter().map(|(le, _)| *le).collect();
    assert_eq!(bounds[..14], recourse_proxy::metrics::DURATION_BUCKETS);
    assert_eq!(duration.last().unwrap(), &(f64::INFINITY, 4.0));
    assert_eq!(
        m.sum("recourse_proxy_request_duration_seconds_count"),
        8.0,
        "one duration per request"
    );

    // The layers' metrics, through the same recorder.
    let cache = "recourse_cache_results_total";
    assert_eq!(m.counter(cache, &[("status", "hit")]), 1.0);
    // The first /cached, /flaky, /missing and /metrics; the POST bypasses the cache.
    assert_eq!(m.counter(cache, &[("status", "miss")]), 4.0);
    assert_eq!(m.counter(cache, &[("status", "bypass")]), 1.0);
    assert_eq!(
        m.sum(cache),
        6.0,
        "the reset ended in an error: no answer to count"
    );
    assert_eq!(
        m.counter("recourse_retries_total", &[("reason", "503")]),
        1.0
    );
    assert_eq!(
        m.counter(
            "recourse_retries_refused_total",
            &[("reason", "max_retries")]
        ),
        1.0,
        "the reset, once its retries ran out"
    );
    let outcomes = "recourse_requests_total";
    assert_eq!(m.counter(outcomes, &[("outcome", "success")]), 5.0);
    assert_eq!(m.counter(outcomes, &[("outcome", "client_error")]), 1.0);
    assert_eq!(m.counter(outcomes, &[("outcome", "transport_error")]), 2.0);
    assert_eq!(m.value("recourse_requests_in_flight", &[]), Some(0.0));
    // Every request on the wire is timed: /cached once, /flaky twice, /missing, /echo,
    // /metrics, the three tries of /reset and the refused connection.
    assert_eq!(
        m.sum("http_client_request_duration_seconds_count"),
        (1 + 2 + 1 + 1 + 1 + resets + 1) as f64
    );
    let failed_tries = m.histogram(
        "http_client_request_duration_seconds",
        &[get, ("recourse_class", "none")],
    );
    assert_eq!(
        failed_tries.last().unwrap().1,
        (resets + 1) as f64,
        "the resets and the refused connection"
    );
    let retried = m.histogram(
        "http_client_request_duration_seconds",
        &[get, ("recourse_class", "retryable")],
    );
    assert_eq!(retried.last().unwrap().1, 1.0, "the 503");
}
