//! [`Breaker`]: the service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme};
use http::{Request, Response};
use recourse_core::Deadline;
use recourse_core::sent;
use tower_service::Service;

use crate::error::BreakerError;
use crate::future::ResponseFuture;
use crate::layer::BreakerLayer;
use crate::state::{Admit, Origin, Registry, View};

/// Refuses or holds requests to an origin that asked for a pause or keeps failing; see
/// the [crate docs](crate). Built by [`BreakerLayer`].
///
/// # Clone
///
/// Clones share the state of every origin with the layer and its other services.
pub struct Breaker<S> {
    pub(crate) inner: S,
    pub(crate) registry: Arc<Registry>,
    /// The origin of the last request, so that a client talking to one origin skips the
    /// registry lookup.
    pub(crate) last: Option<Last>,
    /// Whether this service's error type was registered with `recourse_core::sent`.
    pub(crate) registered: bool,
}

/// The last request's scheme and authority, and the state of their origin.
#[derive(Clone)]
pub(crate) struct Last {
    scheme: Scheme,
    authority: Authority,
    origin: Arc<Origin>,
}

impl<S> Breaker<S> {
    /// Wraps `inner` with the default settings (and a state of its own).
    pub fn new(inner: S) -> Self {
        tower_layer::Layer::layer(&BreakerLayer::new(), inner)
    }

    /// A [`BreakerLayer`] with the default settings, to configure.
    pub fn layer() -> BreakerLayer {
        BreakerLayer::new()
    }

    recourse_core::inner_service_accessors!();
}

impl<S: Clone> Clone for Breaker<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            registry: Arc::clone(&self.registry),
            last: self.last.clone(),
            registered: self.registered,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Breaker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("inner", &self.inner)
            .field("registry", &self.registry)
            .finish()
    }
}

impl<S, B, ResB> Service<Request<B>> for Breaker<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: 'static,
{
    type Response = Response<ResB>;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::inner_error)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !self.registered {
            // So that a retry layer above knows a refusal was not sent.
            sent::register::<BreakerError<S::Error>>(BreakerError::sent);
            self.registered = true;
        }
        // The origin of the last request, when this one has the same scheme and authority
        // (compared as written, ASCII-case-insensitively): no parsing, no lookup.
        let cached = match (&self.last, req.uri().authority()) {
            (Some(last), Some(authority))
                if last.authority == *authority
                    && req.uri().scheme() == Some(&last.scheme)
                    && last.origin.is_current() =>
            {
                Some(Arc::clone(&last.origin))
            }
            _ => None,
        };
        let origin = match cached {
            Some(origin) => origin,
            None => {
                let Some(view) = View::of(req.uri()) else {
                    // No origin (a relative URI): nothing to keep state for.
                    return ResponseFuture::pass(self.inner.call(req));
                };
                let origin = self.registry.origin(&view);
                if let (Some(scheme), Some(authority)) = (req.uri().scheme(), req.uri().authority())
                {
                    self.last = Some(Last {
                        scheme: scheme.clone(),
                        authority: authority.clone(),
                        origin: Arc::clone(&origin),
                    });
                }
                origin
            }
        };
        match self.registry.admit(&origin, Deadline::of(&req)) {
            // The pass-through path: the request goes straight to the inner service.
            Admit::Go { probe } => {
                let fut = self.inner.call(req);
                ResponseFuture::called(fut, &self.registry, origin, probe)
            }
            admit => ResponseFuture::new(self, req, origin, admit),
        }
    }
}
