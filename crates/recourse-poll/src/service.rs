//! [`AsyncPoll`]: the service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use recourse_core::body::PeekBody;
use tower_service::Service;

use crate::config::Config;
use crate::ctx::Ctx;
use crate::future::ResponseFuture;
use crate::{AsyncPollLayer, Policy, PollError, PollRequestBody, Resume, Standard};

/// Turns a `202 Accepted` into the finished result: polls the status resource until the
/// job reaches a terminal state, and returns that.
///
/// Named `AsyncPoll` (an asynchronous-job poller), not `Poll`, so that it does not clash
/// with [`std::task::Poll`] in the code of services and futures.
///
/// See the [crate documentation](crate) for the behaviour and [`AsyncPollLayer`] for the
/// settings.
///
/// # Request bodies
///
/// Polls and result fetches are `GET` requests without a body, sent through the same inner
/// service as the original request. So that they need nothing of the caller's body type
/// `B` (no `Default`, no boxing: `hyper::body::Incoming` and streaming bodies work), the
/// inner service receives a [`PollRequestBody<B>`]: the caller's body, untouched, on the
/// original request, and an empty body on the layer's own requests.
///
/// # Clone
///
/// Cloning is cheap: the settings are shared through an `Arc`; the inner service and the
/// policy are cloned. Each request clones the inner service once (the ready service
/// sends the original request, the clone the polls through
/// [`Oneshot`](tower::util::Oneshot), which waits for readiness).
#[derive(Clone, Debug)]
pub struct AsyncPoll<S, P = Standard> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
    pub(crate) policy: P,
}

impl<S> AsyncPoll<S> {
    /// Wraps `inner` with the default settings.
    pub fn new(inner: S) -> Self {
        AsyncPollLayer::new().layer_service(inner)
    }

    /// A [`AsyncPollLayer`] with the default settings.
    pub fn layer() -> AsyncPollLayer {
        AsyncPollLayer::new()
    }
}

impl<S, P> AsyncPoll<S, P> {
    /// Wraps `inner` with the default settings and the given policy.
    pub fn with_policy(inner: S, policy: P) -> Self
    where
        P: Policy,
    {
        AsyncPollLayer::with_policy(policy).layer_service(inner)
    }

    recourse_core::inner_service_accessors!();
}

impl<P: Clone> AsyncPollLayer<P> {
    fn layer_service<S>(&self, inner: S) -> AsyncPoll<S, P> {
        AsyncPoll {
            inner,
            config: self.config.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<S, B, ResBody, P> Service<Request<B>> for AsyncPoll<S, P>
where
    S: Service<Request<PollRequestBody<B>>, Response = Response<ResBody>> + Clone,
    S::Error: 'static,
    ResBody: Body,
    P: Policy,
{
    type Response = Response<PeekBody<ResBody>>;
    type Error = PollError<S::Error>;
    type Future = ResponseFuture<S, B, ResBody, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|e| {
            PollError::<S::Error>::register();
            PollError::from_inner(e, None)
        })
    }

    #[inline(always)]
    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some(resume) = req.extensions().get::<Resume>() {
            // The ready service is not called: it goes on to send the polls.
            // Its URI is the status URL (absolute or not: it is polled as it is).
            let ctx = Ctx::capture(&req, self.config.clone(), self.policy.clone());
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            let status_url = req.uri().clone();
            return ResponseFuture::resume(ready, ctx, resume.clone(), status_url);
        }
        // The ready service sends the request; a clone, driven to readiness by `Oneshot`,
        // sends the polls if there are any.
        // Inlined and built in one expression, so that the future is constructed where the
        // caller keeps it (no copy of it on the way out).
        let ctx = Ctx::capture(&req, self.config.clone(), self.policy.clone());
        ResponseFuture::new(
            self.inner.call(req.map(PollRequestBody::new)),
            self.inner.clone(),
            ctx,
        )
    }
}
