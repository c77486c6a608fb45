//! [`Breaker`]: the service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use recourse_core::sent;
use tower_service::Service;

use crate::error::BreakerError;
use crate::future::ResponseFuture;
use crate::layer::BreakerLayer;
use crate::state::{Origin, Registry, View};

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

    #[inline]
    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !self.registered {
            // So that a retry layer above knows a refusal was not sent.
            sent::register::<BreakerError<S::Error>>(BreakerError::sent);
            self.registered = true;
        }
        // The origin of the last request, when this one has the same scheme and authority
        // written the same way: no parsing, no lookup.
        let origin = match &self.last {
            Some(last) if last.matches(req.uri()) => Arc::clone(&last.origin),
            _ => match self.lookup(req.uri()) {
                Some(origin) => origin,
                // No origin (a relative URI): nothing to keep state for.
                None => return ResponseFuture::called(self.inner.call(req), None),
            },
        };
        if origin.is_open_door() {
            // The pass-through path: the request goes straight to the inner service.
            return ResponseFuture::called(self.inner.call(req), Some(origin));
        }
        ResponseFuture::admit(self, req, origin)
    }
}

impl Last {
    /// Whether `uri` has this scheme and authority, byte for byte (a URI written another
    /// way, `HTTP://Example.com` say, is looked up in the registry), and the origin's
    /// state is still the registry's.
    #[inline]
    fn matches(&self, uri: &Uri) -> bool {
        match (uri.authority(), uri.scheme_str()) {
            (Some(authority), Some(scheme)) => {
                same_text(authority.as_str(), self.authority.as_str())
                    && same_text(scheme, self.scheme.as_str())
                    && self.origin.is_current()
            }
            _ => false,
        }
    }
}

/// Whether two strings are equal byte for byte; at once when they are the same memory
/// (a URI cloned from another, or made from the same static text, shares its bytes).
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

impl<S> Breaker<S> {
    /// The state of `uri`'s origin from the registry (created if new), remembered as the
    /// last; `None` for a URI without an origin.
    #[cold]
    #[inline(never)]
    fn lookup(&mut self, uri: &Uri) -> Option<Arc<Origin>> {
        let view = View::of(uri)?;
        let origin = self.registry.origin(&view);
        if let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) {
            self.last = Some(Last {
                scheme: scheme.clone(),
                authority: authority.clone(),
                origin: Arc::clone(&origin),
            });
        }
        Some(origin)
    }
}
