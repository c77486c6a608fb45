//! The [`Cache`] service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::CacheBody;
use crate::config::{Config, Mode};
use crate::flight::Flights;
use crate::future::ResponseFuture;
use crate::layer::CacheLayer;
use crate::store::{MemoryStore, Store};

/// What every clone of a cache shares.
pub(crate) struct Shared<St> {
    pub(crate) config: Config,
    pub(crate) store: St,
    pub(crate) flights: Arc<Flights>,
}

/// An RFC 9111 HTTP cache in front of the service `S`, storing responses in `St`.
///
/// Built by [`CacheLayer`]; see the [crate docs](crate) for what it does.
///
/// # Clone
///
/// A clone shares the store, the settings and the registry of in-flight requests (so
/// coalescing works across clones) and clones the inner service. Each call takes the inner
/// service that `poll_ready` made ready and leaves a clone in its place.
pub struct Cache<S, St = MemoryStore> {
    inner: S,
    shared: Arc<Shared<St>>,
}

impl<S> Cache<S> {
    /// A private cache with a default [`MemoryStore`] (64 MiB) around `inner`.
    pub fn new(inner: S) -> Self {
        CacheLayer::new().layer(inner)
    }

    /// A [`CacheLayer`] with the default settings.
    pub fn layer() -> CacheLayer {
        CacheLayer::new()
    }
}

impl<S, St> Cache<S, St> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<St>>) -> Self {
        Cache { inner, shared }
    }

    recourse_core::inner_service_accessors!();

    /// The store (set with [`CacheLayer::store`]).
    pub fn get_store(&self) -> &St {
        &self.shared.store
    }

    /// Private or shared mode (set with [`CacheLayer::mode`]).
    pub fn get_mode(&self) -> Mode {
        self.shared.config.mode
    }
}

impl<S: Clone, St> Clone for Cache<S, St> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, St: fmt::Debug> fmt::Debug for Cache<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .field("mode", &self.shared.config.mode)
            .field("store", &self.shared.store)
            .finish()
    }
}

impl<S, St, ReqBody, ResBody> Service<Request<ReqBody>> for Cache<S, St>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    St: Store,
    ReqBody: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
{
    type Response = Response<CacheBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, St, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(self.shared.clone(), inner, req)
    }
}
