//! [`AsyncPoll`]: the service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use http_body::Body;
use recourse_core::Deadline;
use tower_service::Service;

use crate::config::Config;
use crate::future::ResponseFuture;
use crate::uri::RequestUri;
use crate::{Policy, PollBody, PollError, PollLayer, ProgressSender, Resume, Standard};

/// Turns a `202 Accepted` into the finished result: polls the status resource until the
/// job reaches a terminal state, and returns that.
///
/// Named `AsyncPoll` (an asynchronous-job poller), not `Poll`, so that it does not clash
/// with [`std::task::Poll`] in the code of services and futures.
///
/// See the [crate documentation](crate) for the behaviour and [`PollLayer`] for the
/// settings.
///
/// # Request bodies
///
/// Polls and result fetches are `GET` requests with an empty body, sent through the same
/// inner service as the original request, so they need a value of the request body type:
/// `B::default()`. Every body type of `http-body-util` (`Empty`, `Full`, `BoxBody`,
/// `UnsyncBoxBody`), `String` and `ReplayBody`-wrapping stacks qualify; this is the choice
/// tower-http's `FollowRedirect` made for the `GET` after a 303. A request template would
/// need a body that can be cloned, which arbitrary bodies cannot. For a body without a
/// `Default` (hyper's `Incoming` in a proxy), map it into `Either`/`BoxBody` first.
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
        PollLayer::new().layer_service(inner)
    }

    /// A [`PollLayer`] with the default settings.
    pub fn layer() -> PollLayer {
        PollLayer::new()
    }
}

impl<S, P> AsyncPoll<S, P> {
    /// Wraps `inner` with the default settings and the given policy.
    pub fn with_policy(inner: S, policy: P) -> Self
    where
        P: Policy,
    {
        PollLayer::with_policy(policy).layer_service(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<P: Clone> PollLayer<P> {
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
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    B: Default,
    ResBody: Body,
    P: Policy,
{
    type Response = Response<PollBody<ResBody>>;
    type Error = PollError<S::Error>;
    type Future = ResponseFuture<S, B, ResBody, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| PollError::inner(e, None))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some(resume) = req.extensions().get::<Resume>() {
            // The ready service is not called: it goes on to send the polls.
            let ctx = Ctx::capture(&req, self.config.clone(), self.policy.clone());
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            return ResponseFuture::resume(ready, ctx, resume.clone());
        }
        // The ready service sends the request; a clone, driven to readiness by `Oneshot`,
        // sends the polls if there are any.
        let ctx = Ctx::capture(&req, self.config.clone(), self.policy.clone());
        let future = self.inner.call(req);
        ResponseFuture::new(future, self.inner.clone(), ctx)
    }
}

/// What a request's polls need from the original request, captured before it is sent.
///
/// Nothing here allocates for a request without forwarded headers: the URI clone shares
/// its bytes and the extension lookups are reads. The first forwarded header (typically
/// `Authorization`) is kept inline; only further ones need a `Vec`.
pub(crate) struct Ctx<P> {
    pub(crate) config: Arc<Config>,
    pub(crate) policy: P,
    pub(crate) uri: RequestUri,
    pub(crate) forwarded: Forwarded,
    pub(crate) deadline: Option<Deadline>,
    pub(crate) progress: Option<ProgressSender>,
}

impl<P> Ctx<P> {
    #[inline]
    fn capture<B>(req: &Request<B>, config: Arc<Config>, policy: P) -> Self {
        let mut forwarded = Forwarded::default();
        let headers = req.headers();
        if !headers.is_empty() {
            // Without credentials, only the forwarded names (after the sensitive ones).
            let skip = match config.credentials {
                crate::Credentials::Never => config.sensitive_headers.len(),
                _ => 0,
            };
            let names = config.captured.get(skip..).unwrap_or_default();
            let lengths = config.captured_lengths;
            for (name, value) in headers {
                // Most fields are rejected by their name's length alone.
                if lengths & (1 << (name.as_str().len() & 63)) == 0 {
                    continue;
                }
                if let Some(index) = names.iter().position(|wanted| wanted == name) {
                    // `captured` holds at most `u16::MAX` names.
                    let index = u16::try_from(skip + index).unwrap_or(u16::MAX);
                    forwarded.push(index, value.clone());
                }
            }
        }
        let extensions = req.extensions();
        Self {
            uri: RequestUri::capture(req.uri()),
            forwarded,
            deadline: extensions.get::<Deadline>().copied(),
            progress: extensions.get::<ProgressSender>().cloned(),
            config,
            policy,
        }
    }
}

/// Header fields captured from the original request, by their index in
/// `Config::captured`, in order: the first inline, so that the common case (one
/// `Authorization`) needs no allocation.
#[derive(Default)]
pub(crate) struct Forwarded {
    first: Option<(u16, HeaderValue)>,
    rest: Vec<(u16, HeaderValue)>,
}

impl Forwarded {
    fn push(&mut self, index: u16, value: HeaderValue) {
        if self.first.is_none() {
            self.first = Some((index, value));
        } else {
            self.rest.push((index, value));
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &HeaderValue)> {
        self.first
            .iter()
            .chain(&self.rest)
            .map(|(index, value)| (*index, value))
    }
}

impl<P: std::fmt::Debug> std::fmt::Debug for Ctx<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("policy", &self.policy)
            .field("uri", &self.uri)
            .field(
                "forwarded",
                &self
                    .forwarded
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("deadline", &self.deadline)
            .finish()
    }
}
