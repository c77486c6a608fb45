//! Unit tests of the retry service on `tower::service_fn` backends, with paused time, by
//! topic; the scripted backend and the shared helpers are here.

mod bodies;
mod budget;
mod errors;
mod outcome;
mod requests;
mod responses;
mod timeouts;
mod when;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use recourse_core::backoff::{Backoff, FastRand};
use recourse_core::body::{NotReplayable, ReplayBody};
use recourse_core::{Attempt, BoxError, Class, Deadline, History, Step, clock};
use recourse_testkit::body::{Endless, Stalled, channel};
use tokio::time::Instant;
use tower::{Service, ServiceExt, service_fn};

use crate::policy::{Attempted, Policy};
use crate::{Idempotent, RetryBudget, RetryInfo, RetryLayer, StopReason};

// === A scripted backend ===

/// What the backend answers, one per attempt.
#[derive(Clone)]
enum Reply {
    Status(u16, Vec<(&'static str, String)>),
    Error(io::ErrorKind),
}

fn status(code: u16) -> Reply {
    Reply::Status(code, Vec::new())
}

fn with_header(code: u16, name: &'static str, value: impl Into<String>) -> Reply {
    Reply::Status(code, vec![(name, value.into())])
}

/// One request as the backend saw it.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    method: Method,
    headers: HeaderMap,
    attempt: Option<u32>,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Backend {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Backend {
    fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self {
            replies: Arc::new(Mutex::new(replies.into_iter().collect())),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The gaps between consecutive attempts.
    fn gaps(&self) -> Vec<Duration> {
        let seen = self.seen();
        seen.windows(2).map(|w| w[1].at - w[0].at).collect()
    }

    /// A service answering with the script; the last reply repeats.
    fn service<B>(
        &self,
    ) -> impl Service<Request<ReplayBody<B>>, Response = Response<Full<Bytes>>, Error = BoxError>
    + Clone
    + Send
    + use<B>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let this = self.clone();
        service_fn(move |req: Request<ReplayBody<B>>| {
            let this = this.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await?.to_bytes();
                this.seen.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    method: parts.method,
                    headers: parts.headers,
                    attempt: parts.extensions.get::<Attempt>().map(|a| a.0),
                    body,
                });
                let reply = {
                    let mut replies = this.replies.lock().unwrap();
                    if replies.len() > 1 {
                        replies.pop_front()
                    } else {
                        replies.front().cloned()
                    }
                };
                match reply.unwrap_or(status(200)) {
                    Reply::Status(code, headers) => {
                        let mut res = Response::builder().status(code);
                        for (name, value) in headers {
                            res = res.header(name, value);
                        }
                        Ok(res.body(Full::new(Bytes::from_static(b"reply body")))?)
                    }
                    Reply::Error(kind) => Err(BoxError::from(io::Error::from(kind))),
                }
            }
        })
    }
}

/// A layer with exact delays: no jitter draw below the ceiling.
fn exact() -> RetryLayer {
    RetryLayer::new().random_source(|| 1.0)
}

fn get() -> Request<Empty<Bytes>> {
    Request::get("http://example.com/r")
        .body(Empty::new())
        .unwrap()
}

fn post(body: &'static str) -> Request<Full<Bytes>> {
    Request::post("http://example.com/charge")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn send<P, B>(
    layer: &RetryLayer<P>,
    backend: &Backend,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, BoxError>
where
    P: Policy<Full<Bytes>, BoxError> + Clone,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    tower::Layer::layer(layer, backend.service::<B>())
        .oneshot(req)
        .await
}

fn info<B>(res: &Response<B>) -> RetryInfo {
    *RetryInfo::of(res).expect("RetryInfo")
}

fn retried_steps<B>(res: &Response<B>) -> Vec<(u32, Option<u16>, Duration)> {
    History::of(res)
        .map(|h| {
            h.steps()
                .iter()
                .filter_map(|s| match s {
                    Step::Retried {
                        attempt,
                        status,
                        waited,
                    } => Some((*attempt, status.map(|s| s.as_u16()), *waited)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

const MS: Duration = Duration::from_millis(1);

fn ceil_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_nanos().div_ceil(1_000_000) as u64)
}
