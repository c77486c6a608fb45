//! [`Classify`]: the service that attaches a verdict to every response.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use recourse_core::InlineUri;
use recourse_core::body::PeekBody;
use tower_service::Service;

use crate::codes::BodyCodes;
use crate::future::ResponseFuture;
use crate::layer::ClassifyLayer;
use crate::policy::Policy;
use crate::table::StatusTable;

/// Attaches a typed verdict to every response of the inner service: the coarse
/// [`Class`](recourse_core::Class) that the other layers read and the detailed
/// [`Outcome`](crate::Outcome). See the [crate docs](crate) for the table of verdicts.
///
/// Built with [`Classify::new`], [`Classify::with_policy`] or the [`ClassifyLayer`]; the
/// builder methods (body codes, `Location` resolution) are on the layer.
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
    /// Classifies the responses of `inner` with the response-code table and the default body
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

    recourse_core::inner_service_accessors!();
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for Classify<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    P: Policy + Clone,
{
    type Response = Response<PeekBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(always)]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let base = if self.resolve_locations {
            InlineUri::capture(req.uri())
        } else {
            InlineUri::none()
        };
        // One span per attempt on the wire (OpenTelemetry HTTP client conventions); a
        // disabled span when no subscriber listens: nothing is formatted or allocated.
        let span = attempt_span(&req);
        let observed = crate::future::Observed::new(span, req.method());
        let future = {
            let _entered = observed.span().enter();
            self.inner.call(req)
        };
        ResponseFuture::new(
            future,
            self.policy.clone(),
            self.codes.clone(),
            base,
            observed,
        )
    }
}

/// The span of one attempt: `recourse.attempt`, named `{method}` for OpenTelemetry.
/// Inlined, so that a disabled span (no subscriber) costs the callsite's checks only.
#[inline]
fn attempt_span<B>(req: &Request<B>) -> tracing::Span {
    let span = recourse_core::http_client_span!(
        "recourse.attempt",
        req,
        recourse.body_code = tracing::field::Empty,
        recourse.retry.reason = tracing::field::Empty,
        recourse.retry.wait_ms = tracing::field::Empty,
    );
    if !span.is_disabled() {
        record_resend(&span, req.extensions());
    }
    span
}

/// Records on an enabled attempt span which resend it is, and why.
#[inline(never)]
fn record_resend(span: &tracing::Span, extensions: &http::Extensions) {
    use recourse_core::observe::{attr, status_label};
    let resend = extensions
        .get::<recourse_core::Attempt>()
        .map_or(0, |a| a.0.saturating_sub(1));
    span.record(attr::HTTP_REQUEST_RESEND_COUNT, resend);
    if let Some(cause) = extensions.get::<recourse_core::Resend>() {
        let reason = cause.status.map_or("transport_error", status_label);
        span.record(attr::RETRY_REASON, reason);
        span.record(
            attr::RETRY_WAIT_MS,
            u64::try_from(cause.waited.as_millis()).unwrap_or(u64::MAX),
        );
    }
}
