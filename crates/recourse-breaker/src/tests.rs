//! Unit tests on a `service_fn` backend whose answer each request's query names
//! (`?status=503&retry_after=30&delay_ms=10&error=1`), with paused time.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, Uri};
use recourse_core::{BoxError, Class, Deadline};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::{BreakerError, BreakerInfo, BreakerLayer, BreakerState};

#[derive(Clone, Default)]
struct Backend {
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl Backend {
    fn calls(&self, host: &str) -> usize {
        self.calls.lock().unwrap().get(host).copied().unwrap_or(0)
    }

    fn service(
        &self,
    ) -> impl Service<Request<()>, Response = Response<()>, Error = BoxError> + Clone + use<> {
        let calls = self.calls.clone();
        service_fn(move |req: Request<()>| {
            let calls = calls.clone();
            async move {
                let host = req.uri().host().unwrap_or("").to_owned();
                *calls.lock().unwrap().entry(host).or_default() += 1;
                let query = req.uri().query().unwrap_or("").to_owned();
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .map(str::to_owned)
                };
                if let Some(ms) = param("delay_ms") {
                    tokio::time::sleep(Duration::from_millis(ms.parse()?)).await;
                }
                if param("error").is_some() {
                    return Err(io::Error::from(io::ErrorKind::ConnectionReset).into());
                }
                let mut res = Response::builder().status(
                    param("status")
                        .map(|s| s.parse::<u16>())
                        .transpose()?
                        .unwrap_or(200),
                );
                if let Some(ra) = param("retry_after") {
                    res = res.header("retry-after", ra);
                }
                if let Some(class) = param("class") {
                    let class = match class.as_str() {
                        "server_error" => Class::ServerError,
                        _ => Class::Success,
                    };
                    res = res.extension(class);
                }
                Ok(res.body(())?)
            }
        })
    }
}

fn req(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

fn with_deadline(uri: &str, d: Duration) -> Request<()> {
    let mut r = req(uri);
    Deadline::after(d).insert_into(&mut r);
    r
}

async fn send<S>(svc: &S, r: Request<()>) -> Result<Response<()>, BreakerError<BoxError>>
where
    S: Service<Request<()>, Response = Response<()>, Error = BreakerError<BoxError>> + Clone,
{
    svc.clone().oneshot(r).await
}

const SEC: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_retry_after_closes_the_origin_and_requests_wait_within_their_deadline() {
    let backend = Backend::default();
    let layer = BreakerLayer::new();
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    let res = send(&svc, req("http://a.test/?status=503&retry_after=30"))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let until = handle
        .gated_until(&Uri::from_static("http://A.test:80/x"))
        .unwrap();
    assert_eq!(until - Instant::now(), 30 * SEC);

    // Fits in its deadline: waits, then goes.
    let start = Instant::now();
    let res = send(&svc, with_deadline("http://a.test/", 60 * SEC))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(start.elapsed(), 30 * SEC);
    let info = BreakerInfo::of(&res).unwrap();
    assert_eq!(info.waited(), 30 * SEC);
    assert_eq!(info.state(), BreakerState::Closed);
    assert_eq!(backend.calls("a.test"), 2);
    assert_eq!(
        handle.gated_until(&Uri::from_static("http://a.test/")),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_wait_fails_fast_with_the_time() {
    let backend = Backend::default();
    let svc = BreakerLayer::new().layer(backend.service());
    send(&svc, req("http://a.test/?status=503&retry_after=30"))
        .await
        .unwrap();
    let start = Instant::now();
    let err = send(&svc, with_deadline("http://a.test/", 10 * SEC))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "failed fast");
    assert!(err.is_overloaded() && err.is_refused() && !err.is_inner());
    let o = err.overloaded().unwrap();
    assert_eq!(o.origin(), "http://a.test:80");
    assert_eq!(o.until() - Instant::now(), 30 * SEC);
    assert_eq!(err.retry_after(), Some(30 * SEC));
    assert!(err.to_string().contains("http://a.test:80"), "{err}");
    assert_eq!(backend.calls("a.test"), 1, "never sent");
    let boxed = err.into_box_error();
    assert!(boxed.downcast_ref::<crate::Overloaded>().is_some());

    // With wait(false), even a request without a deadline fails fast.
    let svc = BreakerLayer::new().wait(false).layer(backend.service());
    send(&svc, req("http://b.test/?status=503&retry_after=5"))
        .await
        .unwrap();
    assert!(
        send(&svc, req("http://b.test/"))
            .await
            .unwrap_err()
            .is_overloaded()
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_clamped_and_429_gates_only_when_configured() {
    let backend = Backend::default();
    let layer = BreakerLayer::new().max_retry_after(60 * SEC);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    send(
        &svc,
        req("http://a.test/?status=503&retry_after=1000000000000"),
    )
    .await
    .unwrap();
    let until = handle
        .gated_until(&Uri::from_static("http://a.test/"))
        .unwrap();
    assert_eq!(until - Instant::now(), 60 * SEC);

    send(&svc, req("http://b.test/?status=429&retry_after=7"))
        .await
        .unwrap();
    assert!(
        handle
            .gated_until(&Uri::from_static("http://b.test/"))
            .is_some()
    );

    let layer = BreakerLayer::new().gate_on_429(false);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    send(&svc, req("http://c.test/?status=429&retry_after=7"))
        .await
        .unwrap();
    assert!(
        handle
            .gated_until(&Uri::from_static("http://c.test/"))
            .is_none()
    );
    // A garbage Retry-After does not gate.
    send(&svc, req("http://d.test/?status=503&retry_after=soon"))
        .await
        .unwrap();
    assert!(
        handle
            .gated_until(&Uri::from_static("http://d.test/"))
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_the_circuit_and_a_probe_closes_it() {
    let backend = Backend::default();
    let layer = BreakerLayer::new();
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    let uri = Uri::from_static("http://a.test/");
    for n in 1..=5 {
        let res = send(&svc, req("http://a.test/?status=500")).await.unwrap();
        let info = BreakerInfo::of(&res).copied();
        if n < 5 {
            assert!(info.is_none(), "no transition yet at {n}");
        } else {
            let info = info.unwrap();
            assert_eq!(info.state(), BreakerState::Open);
            assert_eq!(info.transitioned_from(), Some(BreakerState::Closed));
        }
    }
    assert_eq!(handle.state(&uri), Some(BreakerState::Open));
    let err = send(&svc, req("http://a.test/")).await.unwrap_err();
    let open = err.circuit_open().unwrap();
    assert_eq!(open.until().unwrap() - Instant::now(), 5 * SEC);
    assert_eq!(open.state(), BreakerState::Open);
    assert_eq!(backend.calls("a.test"), 5, "refused requests are not sent");

    tokio::time::advance(5 * SEC).await;
    let res = send(&svc, req("http://a.test/")).await.unwrap();
    let info = BreakerInfo::of(&res).unwrap();
    assert!(info.was_probe());
    assert_eq!(info.state(), BreakerState::Closed);
    assert_eq!(info.transitioned_from(), Some(BreakerState::HalfOpen));
    assert_eq!(handle.state(&uri), Some(BreakerState::Closed));
    assert_eq!(backend.calls("a.test"), 6);
}

#[tokio::test(start_paused = true)]
async fn failed_probes_double_the_break_up_to_the_maximum() {
    let backend = Backend::default();
    let layer = BreakerLayer::new()
        .consecutive_failures(1)
        .max_break_duration(15 * SEC);
    let svc = layer.layer(backend.service());
    send(&svc, req("http://a.test/?status=503")).await.unwrap();
    let mut breaks = Vec::new();
    for _ in 0..4 {
        let err = send(&svc, req("http://a.test/")).await.unwrap_err();
        let wait = err.retry_after().unwrap();
        breaks.push(wait);
        tokio::time::advance(wait).await;
        // The probe fails.
        let res = send(&svc, req("http://a.test/?status=503")).await.unwrap();
        assert!(BreakerInfo::of(&res).unwrap().was_probe());
        assert_eq!(BreakerInfo::of(&res).unwrap().state(), BreakerState::Open);
    }
    assert_eq!(breaks, [5 * SEC, 10 * SEC, 15 * SEC, 15 * SEC]);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_a_bounded_number_of_probes_through() {
    let backend = Backend::default();
    let layer = BreakerLayer::new().consecutive_failures(1).probes(2);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    send(&svc, req("http://a.test/?status=500")).await.unwrap();
    tokio::time::advance(5 * SEC).await;
    // Admission happens in `call`: both probes are let through before either answers.
    let p1 = call(&svc, "http://a.test/?delay_ms=1000").await;
    let p2 = call(&svc, "http://a.test/?delay_ms=1000").await;
    let err = send(&svc, req("http://a.test/")).await.unwrap_err();
    let open = err.circuit_open().unwrap();
    assert_eq!((open.state(), open.until()), (BreakerState::HalfOpen, None));
    assert_eq!(
        handle.state(&Uri::from_static("http://a.test/")),
        Some(BreakerState::HalfOpen)
    );
    let (r1, r2) = tokio::join!(p1, p2);
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    // The first to answer leaves it half-open; the second success closes it.
    let mut states = [&r1, &r2].map(|r| BreakerInfo::of(r).unwrap().state());
    states.sort_by_key(|s| *s == BreakerState::Closed);
    assert_eq!(states, [BreakerState::HalfOpen, BreakerState::Closed]);
    assert_eq!(backend.calls("a.test"), 3);

    // A probe that is dropped before its outcome gives its slot back.
    send(&svc, req("http://a.test/?status=500")).await.unwrap();
    tokio::time::advance(5 * SEC).await;
    drop(call(&svc, "http://a.test/?delay_ms=1000").await);
    drop(call(&svc, "http://a.test/?delay_ms=1000").await);
    let res = send(&svc, req("http://a.test/")).await.unwrap();
    assert!(BreakerInfo::of(&res).unwrap().was_probe());
}

/// The future of a request already admitted (or refused) by the breaker.
async fn call<S>(svc: &S, uri: &str) -> S::Future
where
    S: Service<Request<()>, Response = Response<()>, Error = BreakerError<BoxError>> + Clone,
{
    let mut svc = svc.clone();
    svc.ready().await.unwrap().call(req(uri))
}

#[tokio::test(start_paused = true)]
async fn the_failure_ratio_over_the_window_opens_the_circuit() {
    let backend = Backend::default();
    let layer = BreakerLayer::new()
        .consecutive_failures(0)
        .minimum_throughput(20)
        .failure_ratio(0.5);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    let uri = Uri::from_static("http://a.test/");
    // Half of the requests fail, alternately: never 2 in a row.
    for n in 0..19 {
        let target = if n % 2 == 0 {
            "http://a.test/?status=500"
        } else {
            "http://a.test/"
        };
        send(&svc, req(target)).await.unwrap();
    }
    assert_eq!(
        handle.state(&uri),
        Some(BreakerState::Closed),
        "under the minimum throughput"
    );
    send(&svc, req("http://a.test/")).await.unwrap();
    assert_eq!(
        handle.state(&uri),
        Some(BreakerState::Closed),
        "judged on failures"
    );
    send(&svc, req("http://a.test/?status=500")).await.unwrap();
    assert_eq!(
        handle.state(&uri),
        Some(BreakerState::Open),
        "11 of 21 failed"
    );
    assert!(
        send(&svc, req("http://a.test/"))
            .await
            .unwrap_err()
            .is_circuit_open()
    );
}

#[tokio::test(start_paused = true)]
async fn failures_leave_the_sampling_window() {
    let backend = Backend::default();
    let layer = BreakerLayer::new()
        .consecutive_failures(0)
        .minimum_throughput(4)
        .failure_ratio(0.5)
        .sampling_duration(10 * SEC);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    let uri = Uri::from_static("http://a.test/");
    for _ in 0..3 {
        send(&svc, req("http://a.test/?status=500")).await.unwrap();
    }
    tokio::time::advance(11 * SEC).await;
    send(&svc, req("http://a.test/")).await.unwrap();
    send(&svc, req("http://a.test/?status=500")).await.unwrap();
    // Counting the old failures, 4 of 5 failed; in the window, 1 of 2: closed.
    assert_eq!(handle.state(&uri), Some(BreakerState::Closed));
    send(&svc, req("http://a.test/?status=500")).await.unwrap();
    assert_eq!(
        handle.state(&uri),
        Some(BreakerState::Closed),
        "2 of 3: under the throughput"
    );
    send(&svc, req("http://a.test/?status=500")).await.unwrap();
    assert_eq!(
        handle.state(&uri),
        Some(BreakerState::Open),
        "3 of 4 in the window"
    );
}

#[tokio::test(start_paused = true)]
async fn the_verdict_and_transport_errors_decide() {
    let backend = Backend::default();
    let layer = BreakerLayer::new().consecutive_failures(2);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    // A classified 200 that is a server error counts; a 503 classified as success does not.
    send(&svc, req("http://a.test/?class=server_error"))
        .await
        .unwrap();
    send(&svc, req("http://a.test/?status=503&class=success"))
        .await
        .unwrap();
    send(&svc, req("http://a.test/?class=server_error"))
        .await
        .unwrap();
    assert_eq!(
        handle.state(&Uri::from_static("http://a.test/")),
        Some(BreakerState::Closed)
    );
    // 4xx are the client's: they do not count.
    for _ in 0..3 {
        send(&svc, req("http://b.test/?status=404")).await.unwrap();
    }
    assert_eq!(
        handle.state(&Uri::from_static("http://b.test/")),
        Some(BreakerState::Closed)
    );
    // Transport errors count, and come back by value.
    for _ in 0..2 {
        let err = send(&svc, req("http://c.test/?error=1")).await.unwrap_err();
        assert!(err.is_inner());
        let inner = err.into_inner().unwrap();
        assert!(inner.downcast_ref::<io::Error>().is_some());
    }
    assert_eq!(
        handle.state(&Uri::from_static("http://c.test/")),
        Some(BreakerState::Open)
    );
}

#[tokio::test(start_paused = true)]
async fn without_circuit_breaking_only_retry_after_refuses() {
    let backend = Backend::default();
    let layer = BreakerLayer::new().circuit_breaking(false).wait(false);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    for _ in 0..50 {
        send(&svc, req("http://a.test/?status=500")).await.unwrap();
    }
    assert_eq!(
        handle.state(&Uri::from_static("http://a.test/")),
        Some(BreakerState::Closed)
    );
    send(&svc, req("http://a.test/?status=503&retry_after=3"))
        .await
        .unwrap();
    assert!(
        send(&svc, req("http://a.test/"))
            .await
            .unwrap_err()
            .is_overloaded()
    );
    tokio::time::advance(3 * SEC).await;
    assert_eq!(
        send(&svc, req("http://a.test/")).await.unwrap().status(),
        200
    );
    assert_eq!(backend.calls("a.test"), 52);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_origin_is_never_affected() {
    let backend = Backend::default();
    let svc = BreakerLayer::new().layer(backend.service());
    for _ in 0..5 {
        send(&svc, req("http://sick.test/?status=500"))
            .await
            .unwrap();
    }
    send(
        &svc,
        req("http://sick.test:8080/?status=503&retry_after=30"),
    )
    .await
    .unwrap();
    assert!(
        send(&svc, req("http://sick.test/"))
            .await
            .unwrap_err()
            .is_circuit_open()
    );
    for _ in 0..50 {
        let res = send(&svc, req("http://healthy.test/")).await.unwrap();
        assert!(BreakerInfo::of(&res).is_none());
    }
    // Another port and another scheme are other origins.
    assert_eq!(
        send(&svc, req("https://sick.test/"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(backend.calls("healthy.test"), 50);
}

#[tokio::test(start_paused = true)]
async fn the_handle_resets_an_origin_and_relative_uris_pass_through() {
    let backend = Backend::default();
    let layer = BreakerLayer::new().consecutive_failures(1);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    send(&svc, req("http://a.test/?status=500")).await.unwrap();
    let uri = Uri::from_static("http://a.test/");
    assert_eq!(handle.state(&uri), Some(BreakerState::Open));
    assert!(handle.reset(&uri));
    assert!(!handle.reset(&uri));
    assert_eq!(handle.state(&uri), None);
    assert_eq!(
        send(&svc, req("http://a.test/")).await.unwrap().status(),
        200
    );
    assert_eq!(handle.state(&uri), Some(BreakerState::Closed));
    handle.reset_all();
    assert_eq!(handle.origins(), 0);
    // No origin: never refused, never counted.
    for _ in 0..3 {
        send(&svc, req("/relative?status=500")).await.unwrap();
    }
    assert_eq!(handle.origins(), 0);
    assert_eq!(handle.state(&Uri::from_static("/relative")), None);
}

#[tokio::test(start_paused = true)]
async fn memory_stays_bounded_with_100000_origins() {
    let layer = BreakerLayer::new().max_origins(1000);
    let handle = layer.handle();
    let mut svc = layer.layer(service_fn(|_req: Request<()>| async {
        Ok::<_, BoxError>(Response::new(()))
    }));
    for n in 0..100_000u32 {
        let uri = format!("http://h{n}.test/");
        svc.ready().await.unwrap().call(req(&uri)).await.unwrap();
        assert!(handle.origins() <= 1000);
    }
    assert_eq!(handle.origins(), 1000);
    assert_eq!(
        handle.state(&Uri::from_static("http://h99999.test/")),
        Some(BreakerState::Closed)
    );
    assert_eq!(
        handle.state(&Uri::from_static("http://h0.test/")),
        None,
        "forgotten"
    );
}

#[tokio::test(start_paused = true)]
async fn eviction_keeps_origins_that_are_open() {
    let backend = Backend::default();
    let layer = BreakerLayer::new().max_origins(4).consecutive_failures(1);
    let handle = layer.handle();
    let svc = layer.layer(backend.service());
    send(&svc, req("http://sick.test/?status=500"))
        .await
        .unwrap();
    for n in 0..20 {
        send(&svc, req(&format!("http://h{n}.test/")))
            .await
            .unwrap();
    }
    assert_eq!(handle.origins(), 4);
    assert_eq!(
        handle.state(&Uri::from_static("http://sick.test/")),
        Some(BreakerState::Open)
    );
}

#[test]
fn layer_getters_and_debug() {
    let layer = BreakerLayer::new()
        .consecutive_failures(7)
        .failure_ratio(0.25)
        .break_duration(3 * SEC);
    assert_eq!(layer.get_consecutive_failures(), 7);
    assert_eq!(layer.get_failure_ratio(), 0.25);
    assert_eq!(layer.get_break_duration(), 3 * SEC);
    assert!(format!("{layer:?}").contains("BreakerLayer"));
    assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
}

#[tokio::test(start_paused = true)]
async fn one_origin_however_written_and_no_other_shares_its_state() {
    use std::error::Error as _;

    let backend = Backend::default();
    let layer = BreakerLayer::new().wait(false);
    let handle = layer.handle();
    // One service, called again and again: it remembers the last origin as written.
    let mut svc = layer.layer(backend.service());
    let mut call = async |uri: &str| svc.ready().await.unwrap().call(req(uri)).await;

    let res = call("http://API.example/x?status=503&retry_after=30").await;
    assert_eq!(res.unwrap().status(), 503);
    // The same origin written other ways: refused, never sent.
    for uri in [
        "http://API.example/y",
        "http://api.example:80/y",
        "HTTP://api.EXAMPLE/z",
    ] {
        let err = call(uri).await.unwrap_err();
        assert!(err.is_overloaded(), "{uri}: {err:?}");
        assert_eq!(err.overloaded().unwrap().origin(), "http://api.example:80");
    }
    assert_eq!(
        backend.calls("API.example") + backend.calls("api.example"),
        1
    );
    // The same authority under another scheme, or another port: other origins.
    for uri in [
        "https://api.example/",
        "http://api.example/",
        "http://api.example:8080/",
        "https://api.example/",
    ] {
        let res = call(uri).await;
        let expect_ok = uri != "http://api.example/";
        assert_eq!(res.is_ok(), expect_ok, "{uri}: {res:?}");
    }
    assert_eq!(backend.calls("api.example"), 3);
    assert_eq!(handle.origins(), 3);

    // A refusal is the error's source, as its own type (an inner error type that is an
    // `Error` itself).
    let mut svc = BreakerLayer::new()
        .wait(false)
        .layer(service_fn(|_req: Request<()>| async {
            let res = Response::builder().status(503).header("retry-after", "5");
            Ok::<_, io::Error>(res.body(()).unwrap())
        }));
    let mut call = async |uri: &str| svc.ready().await.unwrap().call(req(uri)).await;
    assert_eq!(call("http://b.test/").await.unwrap().status(), 503);
    let err = call("http://b.test/").await.unwrap_err();
    let source = err.source().expect("the refusal");
    assert!(
        source.downcast_ref::<crate::Overloaded>().is_some(),
        "{source:?}"
    );
}

#[test]
fn the_status_shortcut_agrees_with_the_status_verdict() {
    for code in 100..=999 {
        let status = http::StatusCode::from_u16(code).unwrap();
        let verdict = matches!(
            Class::from_status(status),
            Class::Retryable | Class::ServerError
        );
        assert_eq!(crate::future::status_is_failure(status), verdict, "{code}");
    }
}
