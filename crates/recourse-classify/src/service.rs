//! [`Classify`]: the service that attaches a verdict to every response.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::base::Base;
use crate::body::ClassifiedBody;
use crate::codes::BodyCodes;
use crate::future::ResponseFuture;
use crate::layer::ClassifyLayer;
use crate::policy::Policy;
use crate::table::StatusTable;

/// Attaches a typed verdict to every response of the inner service: the coarse
/// [`Class`](recourse_core::Class) that the other layers read and the detailed
/// [`Outcome`](crate::Outcome). See the [crate docs](crate) for the table of verdicts.
///
/// Built with [`Classify::new`], [`Classify::with_policy`] or the [`ClassifyLayer`].
///
/// # Clone
///
/// Cloning clones the inner service and the policy; the default [`StatusTable`] and
/// [`BodyCodes`] hold nothing, and customized ones share their configuration in an `Arc`.
#[derive(Clone, Debug)]
pub struct Classify<S, P = StatusTable> {
    inner: S,
    policy: P,
    codes: Option<BodyCodes>,
    resolve_locations: bool,
}

// === impl Classify ===

impl<S> Classify<S> {
    /// Classifies the responses of `inner` with the source table and the default body
    /// codes.
    pub fn new(inner: S) -> Self {
        Classify::with_policy(inner, StatusTable::new())
    }

    /// A [`ClassifyLayer`] with the defaults.
    pub fn layer() -> ClassifyLayer {
        ClassifyLayer::new()
    }
}

impl<S, P> Classify<S, P> {
    /// Classifies the responses of `inner` with `policy` and the default body codes.
    pub fn with_policy(inner: S, policy: P) -> Self {
        Classify {
            inner,
            policy,
            codes: Some(BodyCodes::new()),
            resolve_locations: true,
        }
    }

    pub(crate) fn from_parts(
        inner: S,
        policy: P,
        codes: Option<BodyCodes>,
        resolve_locations: bool,
    ) -> Self {
        Classify {
            inner,
            policy,
            codes,
            resolve_locations,
        }
    }

    /// Replaces the policy.
    pub fn policy<Q>(self, policy: Q) -> Classify<S, Q> {
        Classify {
            inner: self.inner,
            policy,
            codes: self.codes,
            resolve_locations: self.resolve_locations,
        }
    }

    /// Where to look for body-level codes (see [`BodyCodes`]).
    pub fn body_codes(mut self, codes: BodyCodes) -> Self {
        self.codes = Some(codes);
        self
    }

    /// Never reads bodies: status and headers only.
    pub fn without_body_codes(mut self) -> Self {
        self.codes = None;
        self
    }

    /// Whether to resolve `Location` against the request URI (default: yes); see
    /// [`ClassifyLayer::resolve_locations`].
    pub fn resolve_locations(mut self, resolve: bool) -> Self {
        self.resolve_locations = resolve;
        self
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Takes the inner service out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for Classify<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    P: Policy + Clone,
{
    type Response = Response<ClassifiedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let base = if self.resolve_locations {
            Base::capture(req.uri())
        } else {
            Base::None
        };
        ResponseFuture::new(
            self.inner.call(req),
            self.policy.clone(),
            self.codes.clone(),
            base,
        )
    }
}
