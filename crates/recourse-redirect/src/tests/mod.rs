//! Behaviour of [`Redirect`] against in-memory `service_fn` backends, by topic; the
//! shared helpers (a recording backend, requests, redirects) are here.

mod bodies;
mod inner;
mod limits;
mod location;
mod methods;
mod policy;
mod security;
mod time;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_LOCATION,
    CONTENT_TYPE, COOKIE, HOST, LOCATION, PROXY_AUTHORIZATION,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use recourse_core::body::NotReplayable;
use recourse_core::headers::LocationError;
use recourse_core::{BoxError, Deadline, History, Step};
use recourse_testkit::body::{Frames, Stalled};
use tower::{Layer, Service, ServiceExt};

use crate::policy::{Action, FilterCredentials, Limited, PolicyExt, SameOriginOnly, policy_fn};
use crate::{FinalUri, NotFollowed, RedirectHistory};
use crate::{Redirect, RedirectBody, RedirectLayer};

type ResBody = BoxBody<Bytes, BoxError>;

/// A request as the backend saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    deadline: Option<Deadline>,
}

type Log = Arc<Mutex<Vec<Seen>>>;
type Route = Arc<dyn Fn(&Seen) -> Result<Response<ResBody>, BoxError> + Send + Sync>;

fn full(text: &'static str) -> ResBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}

fn ok(text: &'static str) -> Result<Response<ResBody>, BoxError> {
    Ok(Response::new(full(text)))
}

fn redirect(status: u16, location: &str) -> Result<Response<ResBody>, BoxError> {
    Ok(Response::builder()
        .status(status)
        .header(LOCATION, location)
        .body(full("moved"))?)
}

/// A backend that records every request (body read completely) and answers by `route`.
fn backend<B>(
    route: impl Fn(&Seen) -> Result<Response<ResBody>, BoxError> + Send + Sync + 'static,
) -> (
    impl Service<Request<RedirectBody<B>>, Response = Response<ResBody>, Error = BoxError, Future: Send>
    + Clone,
    Log,
)
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let log = Log::default();
    let route: Route = Arc::new(route);
    let recorded = log.clone();
    let svc = tower::service_fn(move |req: Request<RedirectBody<B>>| {
        let log = recorded.clone();
        let route = route.clone();
        async move {
            let deadline = Deadline::of(&req);
            let (parts, body) = req.into_parts();
            let body = body.collect().await?.to_bytes();
            let seen = Seen {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
                deadline,
            };
            let res = route(&seen);
            log.lock().unwrap().push(seen);
            res
        }
    });
    (svc, log)
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

fn post(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(CONTENT_LENGTH, body.len())
        .header(CONTENT_LANGUAGE, "en")
        .header(CONTENT_ENCODING, "identity")
        .header(CONTENT_LOCATION, "/form")
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

async fn text(res: Response<ResBody>) -> String {
    String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned()
}
