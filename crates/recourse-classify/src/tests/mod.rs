//! Unit tests of the layer on `tower::service_fn` backends, by topic; the shared
//! helpers (a scriptable body, replies, one-request backends) are here.

mod body;
mod config;
mod result;
mod rows;
mod service;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use recourse_core::Class;
use tower::{Layer, Service, ServiceExt};

use crate::{
    ApiError, BodyCodes, ClassifiedError, Classify, ClassifyLayer, Errors, Head, IntoResultLayer,
    Kind, Outcome, PeekBody, Policy, StatusTable,
};

// === a scriptable body ===

#[derive(Debug, Clone, PartialEq, Eq)]
struct TestError(&'static str);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "test body error: {}", self.0)
    }
}

impl std::error::Error for TestError {}

#[derive(Clone, Debug)]
enum Item {
    Data(Bytes),
    Trailers(HeaderMap),
    Error(&'static str),
}

/// A body that yields scripted frames, optionally with a `Pending` before each one, and
/// counts its polls.
#[derive(Debug)]
struct TestBody {
    items: VecDeque<Item>,
    polls: Arc<AtomicUsize>,
    pending_first: bool,
    ready_next: bool,
    hint: Option<u64>,
}

impl TestBody {
    fn new(items: impl IntoIterator<Item = Item>) -> Self {
        TestBody {
            items: items.into_iter().collect(),
            polls: Arc::new(AtomicUsize::new(0)),
            pending_first: false,
            ready_next: false,
            hint: None,
        }
    }

    fn chunks(text: &str, size: usize) -> Self {
        TestBody::new(
            text.as_bytes()
                .chunks(size)
                .map(|c| Item::Data(Bytes::copy_from_slice(c))),
        )
    }

    fn with_pending(mut self) -> Self {
        self.pending_first = true;
        self
    }

    fn with_hint(mut self, exact: u64) -> Self {
        self.hint = Some(exact);
        self
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = TestError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TestError>>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.pending_first && !self.ready_next {
            self.ready_next = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready_next = false;
        Poll::Ready(self.items.pop_front().map(|item| match item {
            Item::Data(data) => Ok(Frame::data(data)),
            Item::Trailers(trailers) => Ok(Frame::trailers(trailers)),
            Item::Error(e) => Err(TestError(e)),
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.items.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.hint {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

// === helpers ===

const JSON: &str = "application/json";

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *res.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        res.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    res
}

/// Sends one request to a backend that answers `res`, through `layer`.
async fn classify_with<B, P>(
    layer: ClassifyLayer<P>,
    uri: &str,
    res: Response<B>,
) -> Response<PeekBody<B>>
where
    B: Body + Send + 'static,
    P: Policy + Clone,
{
    let res = std::sync::Mutex::new(Some(res));
    let backend = tower::service_fn(move |_req: Request<()>| {
        let res = res.lock().unwrap().take().expect("one request");
        async move { Ok::<_, Infallible>(res) }
    });
    let req = Request::builder().uri(uri).body(()).unwrap();
    layer.layer(backend).oneshot(req).await.unwrap()
}

async fn classify<B: Body + Send + 'static>(res: Response<B>) -> Response<PeekBody<B>> {
    classify_with(
        ClassifyLayer::new(),
        "http://api.test/barcode/v1/items?x=1",
        res,
    )
    .await
}

async fn text<B>(res: Response<B>) -> String
where
    B: Body,
    B::Error: fmt::Debug,
{
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A 200 with a JSON `Content-Type` and `body`.
fn json_response<B>(body: B) -> Response<B> {
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    res
}

fn s(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

const OK_BODY: &str = r#"{"Response":{"Code":0,"Message":"OK"},"Barcode":"0123456789012"}"#;
const APP_ERROR_BODY: &str =
    r#"{"Response":{"Code":7,"Message":"Unsupported symbology: QR"},"Barcode":null}"#;
const BAD_BODY: &str = r#"{"Response":{"Code":400,"Message":"Bad Request"},"Errors":[{"Code":"E101","Message":"Data must be 12 or 13 digits","Field":"Data"},{"Code":"E102","Message":"Symbology is required","Field":"Symbology"}]}"#;
