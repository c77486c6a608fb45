//! The admin listener (`--admin-listen ADDR`) and the metrics listener
//! (`--metrics-listen ADDR`), both off by default: ports apart from the proxied one, for
//! the operator's requests only. Both serve the same routes.
//!
//! Routes, all answered by [`route`]:
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` (and `HEAD`) | `200 ok` while the proxy serves |
//! | `GET /metrics` (and `HEAD`) | the Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`) when metrics are on, else `404` |
//! | another method on these paths | `405` with `Allow: GET, HEAD` (RFC 9110 §15.5.6) |
//! | anything else | `404` |
//!
//! To add a route, add an arm to [`route`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::metrics::{Prometheus, UPKEEP_INTERVAL};

/// The content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The admin routes: the response to one admin request. `/metrics` is served when
/// `metrics` is given.
pub(crate) fn route<B>(req: &Request<B>, metrics: Option<&Prometheus>) -> Response<Full<Bytes>> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    match (req.uri().path(), metrics) {
        ("/healthz", _) if read => text(StatusCode::OK, "ok\n"),
        ("/metrics", Some(metrics)) if read => {
            let mut res = text(StatusCode::OK, "");
            *res.body_mut() = Full::new(Bytes::from(metrics.render()));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(PROMETHEUS_TEXT),
            );
            res
        }
        ("/healthz", _) | ("/metrics", Some(_)) => {
            let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            res.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            res
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// Serves the admin routes on `listener` until `shutdown` completes; with `metrics`, also
/// drains its histogram samples every [`UPKEEP_INTERVAL`] so that memory stays bounded
/// between scrapes.
pub(crate) async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    metrics: Option<Prometheus>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    tokio::pin!(shutdown);
    let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
    upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (stream, _) = tokio::select! {
            _ = upkeep.tick(), if metrics.is_some() => {
                if let Some(metrics) = &metrics {
                    metrics.run_upkeep();
                }
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let res = route(&req, metrics.as_ref());
            async move { Ok::<_, Infallible>(res) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
    }

    #[test]
    fn routes_with_and_without_metrics() {
        let (prometheus, _recorder) = Prometheus::build();
        let on = Some(&prometheus);
        let res = route(&get(Method::GET, "/metrics"), on);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROMETHEUS_TEXT);
        assert_eq!(route(&get(Method::HEAD, "/metrics"), on).status(), 200);
        let res = route(&get(Method::POST, "/metrics"), on);
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(route(&get(Method::GET, "/metrics"), None).status(), 404);
        assert_eq!(route(&get(Method::GET, "/metrics/x"), on).status(), 404);
        assert_eq!(route(&get(Method::GET, "/healthz"), None).status(), 200);
        assert_eq!(route(&get(Method::DELETE, "/healthz"), on).status(), 405);
        assert_eq!(route(&get(Method::GET, "/"), on).status(), 404);
    }
}
