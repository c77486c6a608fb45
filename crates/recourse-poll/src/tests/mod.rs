//! Behaviour tests of the whole layer on a scripted `service_fn` backend, with paused time,
//! by topic; the scripted backend and the helpers are here.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use recourse_core::limits::DEFAULT_PEEK_LIMIT;
use recourse_core::{Class, Deadline, FinalUri, History, Live, Step};
use tokio::time::Instant;
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};

use crate::error::ViolationKind;
use crate::{
    AsyncPoll, AsyncPollLayer, Credentials, Decision, FinalState, JobStatus, PeekBody, PollError,
    PollInfo, PollOutcome, PollProgress, PollRequestBody, ProgressSender, StatusField,
    TimeoutReason,
};

mod composition;
mod credentials;
mod downgrade;
mod errors;
mod limits;
mod results;
mod status_monitors;
mod timing;

// === scripted backend ===

/// One scripted reply.
#[derive(Clone, Debug)]
struct R {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    delay: Option<Duration>,
    fail: bool,
    extension: Option<Class>,
    history: Option<Step>,
    /// A `FinalUri` as a redirect layer below would insert it.
    final_uri: Option<&'static str>,
}

fn r(status: u16) -> R {
    R {
        status,
        headers: Vec::new(),
        body: Bytes::new(),
        delay: None,
        fail: false,
        extension: None,
        history: None,
        final_uri: None,
    }
}

impl R {
    fn h(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Bytes::from(body.into());
        self
    }
    fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
    fn fail() -> Self {
        let mut reply = r(500);
        reply.fail = true;
        reply
    }
    fn class(mut self, class: Class) -> Self {
        self.extension = Some(class);
        self
    }
    fn step(mut self, step: Step) -> Self {
        self.history = Some(step);
        self
    }
    /// The response really came from `uri` (a redirect layer below followed redirects).
    fn final_uri(mut self, uri: &'static str) -> Self {
        self.final_uri = Some(uri);
        self
    }
}

/// A request as the backend saw it.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    deadline: Option<Deadline>,
    body_empty: bool,
    live: bool,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<R>>,
    last: HashMap<String, R>,
    seen: Vec<Seen>,
}

#[derive(Clone, Default)]
struct Backend(Arc<Mutex<State>>);

impl Backend {
    fn new() -> Self {
        Self::default()
    }

    /// Replies to `path` (no query) in order; the last one repeats.
    fn script(&self, path: &str, replies: impl IntoIterator<Item = R>) -> &Self {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .scripts
            .insert(path.to_owned(), replies.into_iter().collect());
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .clone()
    }

    fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.uri.path() == path)
            .collect()
    }

    fn answer(&self, req: &Request<PollRequestBody<Full<Bytes>>>) -> R {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.seen.push(Seen {
            at: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
            deadline: Deadline::of(req),
            body_empty: http_body::Body::is_end_stream(req.body()),
            live: Live::is_set(req),
        });
        let path = req.uri().path().to_owned();
        let next = state.scripts.get_mut(&path).and_then(VecDeque::pop_front);
        match next {
            Some(reply) => {
                state.last.insert(path, reply.clone());
                reply
            }
            None => state.last.get(&path).cloned().unwrap_or_else(|| r(404)),
        }
    }

    fn service(&self) -> impl BackendService + use<> {
        backend_service(self.clone())
    }
}

/// What [`Backend::service`] returns.
trait BackendService:
    Service<
        Request<PollRequestBody<Full<Bytes>>>,
        Response = Response<Full<Bytes>>,
        Error = BoxError,
        Future: Send,
    > + Clone
    + Send
{
}

impl<S> BackendService for S where
    S: Service<
            Request<PollRequestBody<Full<Bytes>>>,
            Response = Response<Full<Bytes>>,
            Error = BoxError,
            Future: Send,
        > + Clone
        + Send
{
}

fn backend_service(backend: Backend) -> impl BackendService {
    {
        service_fn(move |req: Request<PollRequestBody<Full<Bytes>>>| {
            let reply = backend.answer(&req);
            async move {
                if let Some(d) = reply.delay {
                    tokio::time::sleep(d).await;
                }
                if reply.fail {
                    return Err::<_, BoxError>("connection reset".into());
                }
                let mut res = Response::new(Full::new(reply.body));
                *res.status_mut() = StatusCode::from_u16(reply.status)?;
                for (name, value) in reply.headers {
                    res.headers_mut().append(name, value.parse()?);
                }
                if let Some(class) = reply.extension {
                    res.extensions_mut().insert(class);
                }
                if let Some(step) = reply.history {
                    History::record(&mut res, step);
                }
                if let Some(uri) = reply.final_uri {
                    FinalUri::new(uri.parse()?, None).insert_into(&mut res);
                }
                Ok(res)
            }
        })
    }
}

fn post(uri: &str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::from("payload"))
        .expect("static request")
}

/// Sends `POST uri` through `layer` around `backend`.
async fn send<P: crate::Policy>(
    layer: AsyncPollLayer<P>,
    backend: &Backend,
    uri: &str,
) -> Result<Response<PeekBody<Full<Bytes>>>, PollError<BoxError>> {
    layer.layer(backend.service()).oneshot(post(uri)).await
}

fn accepted(location: &str) -> R {
    r(202).h("location", location)
}

async fn text(res: Response<PeekBody<Full<Bytes>>>) -> String {
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Gaps between consecutive requests to `path`, and from `t0` to the first.
fn gaps(backend: &Backend, path: &str, t0: Instant) -> Vec<Duration> {
    gaps_after(backend, path, 0, t0)
}

/// Like [`gaps`], skipping the first `skip` requests to `path`.
fn gaps_after(backend: &Backend, path: &str, skip: usize, t0: Instant) -> Vec<Duration> {
    let mut last = t0;
    backend.seen_at(path)[skip..]
        .iter()
        .map(|s| {
            let gap = s.at - last;
            last = s.at;
            gap
        })
        .collect()
}

fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs(*s)).collect()
}
