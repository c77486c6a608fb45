//! [`Redirect`]: the middleware.

use std::mem;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use recourse_core::BoxError;
use recourse_core::body::ReplayBody;
use tower_service::Service;

use crate::body::RedirectBody;
use crate::config::Config;
use crate::error::RedirectError;
use crate::future::{BodySource, Chain, ResponseFuture};
use crate::head::Head;
use crate::layer::RedirectLayer;
use crate::policy::{Policy, Standard};

/// Follows redirects of the inner service's responses; see the [crate docs](crate).
///
/// Built by a [`RedirectLayer`], where its settings are made.
///
/// # Clone
///
/// Cloning the service clones the inner service and the policy. The policy is also cloned
/// for every request, so its fields hold one chain's state; share state across requests
/// through an `Arc` inside the policy.
#[derive(Clone, Debug)]
pub struct Redirect<S, P = Standard> {
    pub(crate) inner: S,
    pub(crate) policy: P,
    pub(crate) config: Config,
}

impl<S> Redirect<S> {
    /// Wraps `inner` with the [`Standard`] policy.
    pub fn new(inner: S) -> Self {
        Self::with_policy(inner, Standard::default())
    }

    /// A [`RedirectLayer`] with the [`Standard`] policy.
    pub fn layer() -> RedirectLayer {
        RedirectLayer::new()
    }
}

impl<S, P> Redirect<S, P> {
    /// Wraps `inner` with the given policy (which replaces [`Standard`] entirely; combine
    /// them with [`PolicyExt::and`](crate::policy::PolicyExt::and) to keep its
    /// protections).
    pub fn with_policy(inner: S, policy: P) -> Self {
        Self {
            inner,
            policy,
            config: Config::default(),
        }
    }

    /// The policy.
    pub fn get_policy(&self) -> &P {
        &self.policy
    }

    recourse_core::inner_service_accessors!();
}

impl<S, P, B, R> Service<Request<B>> for Redirect<S, P>
where
    S: Service<Request<RedirectBody<B>>, Response = Response<R>> + Clone,
    S::Error: 'static,
    P: Policy + Clone,
    B: Body,
    B::Error: Into<BoxError>,
    R: Body,
{
    type Response = Response<R>;
    type Error = RedirectError<S::Error>;
    type Future = ResponseFuture<S, B, P, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|e| {
            RedirectError::<S::Error>::register();
            RedirectError::from_inner(e, Vec::new())
        })
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The ready service serves this request; a clone takes its place (never call a
        // clone that was not polled ready). Later hops go through `Oneshot`.
        let clone = self.inner.clone();
        let mut svc = mem::replace(&mut self.inner, clone);
        // Kept to build the next hop; for a request without headers or extensions this
        // copy does not allocate.
        let head = Head::of(&req);
        // Empty bodies cost nothing; in-memory ones are held as `Bytes`; streams are
        // buffered lazily while the first request sends them. The body is swapped in
        // place (`map`), not through `into_parts`, which would copy the head twice.
        let mut source = BodySource::Empty;
        let replay_limit = self.config.replay_limit;
        let future = svc.call(req.map(|body| {
            if body.is_end_stream() {
                return RedirectBody::empty();
            }
            let template = ReplayBody::new(body, replay_limit);
            match template.try_clone() {
                Ok(first) => {
                    source = BodySource::Replay(template);
                    RedirectBody::new(first)
                }
                Err(why) => {
                    source = BodySource::Unavailable(why);
                    RedirectBody::new(template)
                }
            }
        }));
        // Built in one expression, so that it can be written in place.
        ResponseFuture::new(
            future,
            Chain::new(svc, self.policy.clone(), head, source, self.config),
        )
    }
}
