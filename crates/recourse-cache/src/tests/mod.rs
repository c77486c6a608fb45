//! Behaviour tests of the whole layer against `tower::service_fn` origins, with paused
//! time. Each file covers one part of RFC 9111 / RFC 5861.

mod coalesce;
mod conditional;
mod cookies;
mod directives;
mod freshness;
mod invalidation;
mod live;
mod range;
mod stale;
mod store;
mod targeted;
mod vary;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};

use crate::{Cache, CacheBody, CacheLayer, CacheOutcome, Store};

pub(crate) type Reply = Result<Response<Full<Bytes>>, io::Error>;
type Handler = Arc<dyn Fn(&Request<()>, usize) -> Reply + Send + Sync>;

/// A scripted origin that records what it receives.
#[derive(Clone)]
pub(crate) struct Origin {
    handler: Arc<Mutex<Handler>>,
    delay: Arc<Mutex<Duration>>,
    seen: Arc<Mutex<Vec<(http::Method, http::Uri, HeaderMap)>>>,
}

impl Origin {
    pub(crate) fn new(f: impl Fn(&Request<()>, usize) -> Reply + Send + Sync + 'static) -> Self {
        Origin {
            handler: Arc::new(Mutex::new(Arc::new(f))),
            delay: Arc::default(),
            seen: Arc::default(),
        }
    }

    /// An origin answering every request with the same fields and body.
    pub(crate) fn fixed(headers: &[(&str, &str)], body: &'static str) -> Self {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Origin::new(move |_, _| Ok(response(200, &headers, body)))
    }

    /// A resource last modified at `lm` (an HTTP date): a 304 to a matching
    /// `If-Modified-Since`, else a 200 with `Last-Modified` and `headers`.
    pub(crate) fn last_modified(lm: &str, headers: &[(&str, &str)], body: &'static str) -> Self {
        let lm = lm.to_owned();
        let mut fields = vec![("last-modified".to_owned(), lm.clone())];
        fields.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Origin::new(move |req, _| {
            if req
                .headers()
                .get("if-modified-since")
                .is_some_and(|v| v == lm.as_str())
            {
                not_modified(&[("last-modified", &lm)])
            } else {
                Ok(response(200, &fields, body))
            }
        })
    }

    pub(crate) fn set(&self, f: impl Fn(&Request<()>, usize) -> Reply + Send + Sync + 'static) {
        *self.handler.lock().unwrap() = Arc::new(f);
    }

    pub(crate) fn delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }

    pub(crate) fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The header fields of the last request received.
    pub(crate) fn last(&self) -> HeaderMap {
        self.seen
            .lock()
            .unwrap()
            .last()
            .expect("a request")
            .2
            .clone()
    }

    pub(crate) fn methods(&self) -> Vec<http::Method> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.0.clone())
            .collect()
    }

    pub(crate) fn service(&self) -> BoxedOrigin {
        let origin = self.clone();
        BoxedOrigin::new(tower::service_fn(move |req: Request<()>| {
            let origin = origin.clone();
            async move {
                let n = {
                    let mut seen = origin.seen.lock().unwrap();
                    seen.push((
                        req.method().clone(),
                        req.uri().clone(),
                        req.headers().clone(),
                    ));
                    seen.len()
                };
                let delay = *origin.delay.lock().unwrap();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let handler = origin.handler.lock().unwrap().clone();
                handler(&req, n)
            }
        }))
    }

    pub(crate) fn cache(&self) -> TestCache {
        self.cache_with(CacheLayer::new())
    }

    pub(crate) fn cache_with<St: Store>(&self, layer: CacheLayer<St>) -> TestCache<St> {
        TestCache {
            inner: layer.layer(self.service()),
        }
    }
}

/// A cache around an origin, with helpers.
pub(crate) struct TestCache<St = crate::MemoryStore> {
    inner: Cache<BoxedOrigin, St>,
}

pub(crate) type BoxedOrigin =
    tower::util::BoxCloneSyncService<Request<()>, Response<Full<Bytes>>, io::Error>;

impl<St: Store> TestCache<St> {
    pub(crate) async fn send(
        &self,
        req: Request<()>,
    ) -> Result<Response<CacheBody<Full<Bytes>>>, io::Error> {
        self.inner.clone().oneshot(req).await
    }

    /// Sends and collects the body.
    pub(crate) async fn fetch(&self, req: Request<()>) -> Fetched {
        let res = self.send(req).await.expect("the cache answers");
        let outcome = CacheOutcome::of(&res);
        let history = recourse_core::History::of(&res).cloned();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Fetched {
            status: parts.status,
            headers: parts.headers,
            body,
            outcome,
            history,
        }
    }

    pub(crate) async fn get(&self, uri: &str) -> Fetched {
        self.fetch(get(uri)).await
    }

    pub(crate) fn get_store(&self) -> &St {
        self.inner.get_store()
    }
}

impl<St> Clone for TestCache<St> {
    fn clone(&self) -> Self {
        TestCache {
            inner: self.inner.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) outcome: Option<CacheOutcome>,
    pub(crate) history: Option<recourse_core::History>,
}

impl Fetched {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn age(&self) -> Option<u64> {
        self.header("age").and_then(|v| v.parse().ok())
    }
}

pub(crate) fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

pub(crate) fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

pub(crate) fn response<K: AsRef<str>, V: AsRef<str>>(
    status: u16,
    headers: &[(K, V)],
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(k.as_ref(), v.as_ref());
    }
    b.body(Full::new(body.into())).unwrap()
}

pub(crate) fn not_modified(headers: &[(&str, &str)]) -> Reply {
    Ok(response(304, headers, ""))
}

pub(crate) fn date_now() -> String {
    httpdate::fmt_http_date(recourse_core::clock::system_now())
}

pub(crate) fn date_in(offset: i64) -> String {
    let now = recourse_core::clock::system_now();
    let t = if offset >= 0 {
        now + Duration::from_secs(offset as u64)
    } else {
        now - Duration::from_secs((-offset) as u64)
    };
    httpdate::fmt_http_date(t)
}

pub(crate) async fn advance(secs: u64) {
    tokio::time::advance(Duration::from_secs(secs)).await;
}

/// Lets spawned tasks run.
pub(crate) async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Compile-time checks: bodies are `Send + Sync` (so they can be boxed into
/// `BoxBody`), futures are `Send` (so they can be spawned), caches are `Send + Sync`.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<CacheBody<Full<Bytes>>>();
    send::<crate::ResponseFuture<BoxedOrigin, crate::MemoryStore, (), Full<Bytes>>>();
    send_sync::<Cache<BoxedOrigin>>();
    send_sync::<CacheLayer>();
};
