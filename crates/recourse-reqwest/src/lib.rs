//! Recourse around [`reqwest`]: the Recourse layers (deadline, poll, redirect, cache,
//! retry, classify) around a `reqwest::Client`, as Tower layers or as a reqwest-middleware
//! `Middleware`.
//!
//! - [`ReqwestService`]: a Tower `Service<http::Request<B>>` over a `reqwest::Client`, so
//!   every Recourse layer stacks on it. Request bodies are handed to reqwest without a
//!   copy (each frame's `Bytes` moves through, streamed bodies stay streamed); the
//!   response is reqwest's own body, which implements `http_body::Body`. The facade's
//!   `recourse::reqwest_client` (feature `reqwest`) puts the recommended stack around one.
//! - [`RecourseMiddleware`]: the layers (but the cache, see its docs) as a
//!   [`reqwest_middleware::Middleware`], added to a `ClientWithMiddleware` with one `.with(...)`.
//! - [`client_builder`]: a `reqwest::ClientBuilder` with reqwest's own redirect following
//!   and retries turned off, so that they do not conflict with Recourse's.
//! - [`not_sent`]: whether a reqwest error proves the request never reached the server, the
//!   retry layer's check for reqwest.
//!
//! Supported versions: reqwest 0.13 (tested with 0.13.5) and reqwest-middleware 0.5 (tested
//! with 0.5.2). reqwest is used with `default-features = false` and `http2`: this crate
//! builds no TLS of its own. Enable reqwest's TLS in your own `Cargo.toml` (for example
//! `reqwest = { version = "0.13", features = ["rustls"] }`), or this crate's `rustls`
//! feature, which does the same.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use recourse_redirect::RedirectLayer;
//! use recourse_reqwest::{ReqwestService, client_builder, not_sent};
//! use recourse_retry::RetryLayer;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # let server = recourse_testkit::Simulator::start().await;
//! # let url = server.uri("/barcode/old").to_string();
//! let client = ServiceBuilder::new()
//!     .layer(RedirectLayer::new())
//!     .layer(RetryLayer::new().not_sent_when(not_sent))
//!     .service(ReqwestService::new(client_builder().build()?));
//!
//! // A POST that the server answers with 307: resubmitted to `Location` with its body.
//! let req = http::Request::post(url)
//!     .header("content-type", "application/json")
//!     .body(Full::new(Bytes::from_static(br#"{"Data":"012345678905"}"#)))?;
//! let res = client.oneshot(req).await?;
//! assert_eq!(res.status(), 200);
//! let body = res.into_body().collect().await?.to_bytes();
//! assert_eq!(body, r#"{"Data":"012345678905"}"#);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Extensions;
use http_body::Body;
use recourse_classify::ClassifyLayer;
use recourse_core::{BoxError, Deadline};
use recourse_poll::AsyncPollLayer;
use recourse_redirect::RedirectLayer;
use recourse_retry::RetryLayer;
use reqwest_middleware::{Middleware, Next};
use tower_layer::Layer;
use tower_service::Service;

pub use reqwest;
pub use reqwest_middleware;

/// The default deadline of [`RecourseMiddleware`]: 60 seconds for the whole request, as
/// the facade's `recourse::DEFAULT_DEADLINE`.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// The future of [`ReqwestService`] (reqwest's own future is not nameable, so it is boxed).
pub type ReqwestFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<reqwest::Body>, reqwest::Error>> + Send>>;

/// A Tower `Service<http::Request<B>>` over a `reqwest::Client`.
///
/// The request becomes a `reqwest::Request` (its URI must be absolute); its body is handed
/// to reqwest with `reqwest::Body::wrap`, so no byte is copied: an in-memory body's `Bytes`
/// and a stream's frames go through as they are. The response is reqwest's, as an
/// `http::Response<reqwest::Body>` (reqwest's body implements `http_body::Body`).
///
/// Build the client with [`client_builder`]: reqwest follows redirects and retries HTTP/2
/// refusals by default, and a redirect followed inside reqwest is invisible to Recourse's
/// redirect layer (which replays bodies, keeps credentials on their origin and records
/// the hops), and reqwest's retries would multiply Recourse's.
#[derive(Clone, Debug)]
pub struct ReqwestService {
    client: reqwest::Client,
}

impl ReqwestService {
    /// Wraps `client` (built with [`client_builder`], preferably).
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// The reqwest client.
    pub fn get_ref(&self) -> &reqwest::Client {
        &self.client
    }

    /// The reqwest client, by value.
    pub fn into_inner(self) -> reqwest::Client {
        self.client
    }
}

impl<B> Service<http::Request<B>> for ReqwestService
where
    B: Body + Send + Sync + 'static,
    B::Data: Into<bytes::Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = ReqwestFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let req = to_reqwest(req);
        let client = self.client.clone();
        Box::pin(async move {
            let res = client.execute(req?).await?;
            Ok(http::Response::from(res))
        })
    }
}

/// The request as reqwest's, its body wrapped without a copy.
fn to_reqwest<B>(req: http::Request<B>) -> Result<reqwest::Request, reqwest::Error>
where
    B: Body + Send + Sync + 'static,
    B::Data: Into<bytes::Bytes>,
    B::Error: Into<BoxError>,
{
    reqwest::Request::try_from(req.map(reqwest::Body::wrap))
}

/// A `reqwest::ClientBuilder` that leaves redirects and retries to Recourse: reqwest's
/// redirect policy is `none` and its retry policy `never` (reqwest 0.13 retries HTTP/2
/// refusals by default). Everything else is reqwest's default for the features enabled.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
}

/// Whether a reqwest error proves the request never reached the server, so that even a
/// POST without an idempotency key may be sent again: the connection could not be made
/// (`is_connect`), or the server refused the HTTP/2 stream before processing it
/// (`REFUSED_STREAM`, or a stream beyond a graceful `GOAWAY`: RFC 9113 §8.7).
///
/// `recourse::reqwest_client` and [`RecourseMiddleware`] give this check to their retry layer; give it to
/// your own with `RetryLayer::new().not_sent_when(recourse_reqwest::not_sent)`.
pub fn not_sent(error: &reqwest::Error) -> bool {
    error.is_connect() || recourse_retry::is_connect_error(error)
}

/// Recourse as a [`reqwest_middleware::Middleware`]: deadline, poll, redirect, retry and
/// classify (outermost first, as in the recommended stack) around the rest of the
/// middleware chain, added with one `.with(RecourseMiddleware::new())`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use recourse_reqwest::RecourseMiddleware;
/// use reqwest_middleware::ClientBuilder;
///
/// # let server = recourse_testkit::Simulator::start().await;
/// # let url = server.uri("/barcode/old").to_string();
/// let client = ClientBuilder::new(recourse_reqwest::client_builder().build()?)
///     .with(RecourseMiddleware::new())
///     .build();
/// let res = client.post(url).body("payload").send().await?;
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.text().await?, "payload");
/// # Ok(())
/// # }
/// ```
///
/// Middlewares added after it run once per attempt and hop (inside the retry and redirect
/// layers); those added before it run once per request.
///
/// **No cache here.** The cache layer serves and revalidates through a service it can keep
/// and clone beyond one request (`'static`), and reqwest-middleware hands a middleware the
/// rest of the chain only for the request at hand (`Next<'_>`). For the cache, use the Tower
/// stack around [`ReqwestService`] (`recourse::reqwest_client`).
///
/// Request bodies: reqwest-middleware passes a `reqwest::Request`; an in-memory body
/// (`.body("...")`, `.json(...)`) is replayed for a 307/308 or a retry without a copy, and
/// a streamed one (`Body::wrap_stream`) within the replay limit of each layer.
///
/// Errors of the layers themselves (too many redirects, a deadline passed, a poll timeout)
/// come back as `reqwest_middleware::Error::Middleware`; the chain's own errors unchanged.
#[derive(Clone, Debug)]
pub struct RecourseMiddleware {
    deadline: Duration,
    poll: AsyncPollLayer,
    redirect: RedirectLayer,
    retry: RetryLayer,
    classify: ClassifyLayer,
}

impl RecourseMiddleware {
    /// Every layer with its defaults and a 60 s deadline, the retry layer knowing the
    /// "not sent" errors of reqwest and of reqwest-middleware's chain.
    pub fn new() -> Self {
        Self {
            deadline: DEFAULT_DEADLINE,
            poll: AsyncPollLayer::new(),
            redirect: RedirectLayer::new(),
            retry: RetryLayer::new().not_sent_when(middleware_not_sent),
            classify: ClassifyLayer::new(),
        }
    }

    /// Sets the deadline of the whole request.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Replaces the poll layer.
    pub fn poll(mut self, poll: AsyncPollLayer) -> Self {
        self.poll = poll;
        self
    }

    /// Replaces the redirect layer.
    pub fn redirect(mut self, redirect: RedirectLayer) -> Self {
        self.redirect = redirect;
        self
    }

    /// Replaces the retry layer. Give it `.not_sent_when(recourse_reqwest::middleware_not_sent)`
    /// to keep retrying requests that never left.
    pub fn retry(mut self, retry: RetryLayer) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the classify layer.
    pub fn classify(mut self, classify: ClassifyLayer) -> Self {
        self.classify = classify;
        self
    }
}

impl Default for RecourseMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

/// [`not_sent`] for the errors of a reqwest-middleware chain.
pub fn middleware_not_sent(error: &reqwest_middleware::Error) -> bool {
    match error {
        reqwest_middleware::Error::Reqwest(e) => not_sent(e),
        reqwest_middleware::Error::Middleware(e) => {
            recourse_retry::is_connect_error(AsRef::<dyn std::error::Error>::as_ref(e))
        }
    }
}

#[async_trait::async_trait]
impl Middleware for RecourseMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let mut req = http::Request::<reqwest::Body>::try_from(req)?;
        // One deadline for the whole request, that every layer below honours: what the
        // facade's `SetDeadline` does (this crate cannot use it: the facade depends on it).
        let ours = Deadline::after(self.deadline);
        let deadline = Deadline::of(&req).map_or(ours, |theirs| theirs.min(ours));
        deadline.insert_into(&mut req);
        let stack = self
            .poll
            .layer(
                self.redirect
                    .layer(self.retry.layer(self.classify.layer(NextService {
                        next,
                        extensions: extensions.clone(),
                    }))),
            );
        let oneshot = tower::ServiceExt::oneshot(stack, req);
        let res = tokio::time::timeout_at(deadline.instant(), oneshot)
            .await
            .map_err(|_| reqwest_middleware::Error::middleware(DeadlineElapsed))?
            .map_err(|e| from_box_error(e.into_box_error()))?;
        Ok(reqwest::Response::from(res.map(reqwest::Body::wrap)))
    }
}

/// The error of [`RecourseMiddleware`] when the request's deadline passed before a
/// response arrived (inside `reqwest_middleware::Error::Middleware`).
#[derive(Debug)]
pub struct DeadlineElapsed;

impl fmt::Display for DeadlineElapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request's deadline passed before a response arrived")
    }
}

impl std::error::Error for DeadlineElapsed {}

/// A layer error as reqwest-middleware's: the chain's own error as it was, else `Middleware`.
fn from_box_error(error: BoxError) -> reqwest_middleware::Error {
    match error.downcast::<reqwest_middleware::Error>() {
        Ok(e) => *e,
        Err(e) => match e.downcast::<reqwest::Error>() {
            Ok(e) => reqwest_middleware::Error::Reqwest(*e),
            Err(e) => reqwest_middleware::Error::middleware(LayerError(e)),
        },
    }
}

/// An error of a Recourse layer, inside `reqwest_middleware::Error::Middleware`.
struct LayerError(BoxError);

impl fmt::Debug for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for LayerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The rest of a reqwest-middleware chain as a Tower service, for the layers.
#[derive(Clone)]
struct NextService<'a> {
    next: Next<'a>,
    extensions: Extensions,
}

impl<'a, B> Service<http::Request<B>> for NextService<'a>
where
    B: Body + Send + Sync + 'static,
    B::Data: Into<bytes::Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest_middleware::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'a>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let next = self.next.clone();
        let mut extensions = self.extensions.clone();
        let req = to_reqwest(req);
        Box::pin(async move {
            let res = next.run(req?, &mut extensions).await?;
            Ok(http::Response::from(res))
        })
    }
}
