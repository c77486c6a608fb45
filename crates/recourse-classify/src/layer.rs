//! [`ClassifyLayer`]: applies [`Classify`] to a service.

use tower_layer::{Layer, Stack};

use crate::codes::BodyCodes;
use crate::result::IntoResultLayer;
use crate::service::Classify;
use crate::table::StatusTable;

/// A [`Layer`] that wraps services in [`Classify`].
///
/// ```
/// use http::StatusCode;
/// use recourse_classify::{BodyCodes, ClassifyLayer, StatusTable};
///
/// let layer = ClassifyLayer::new()
///     .policy(StatusTable::new().retryable([
///         StatusCode::TOO_MANY_REQUESTS,
///         StatusCode::BAD_GATEWAY,
///         StatusCode::GATEWAY_TIMEOUT,
///     ]))
///     .body_codes(BodyCodes::new().peek_limit(16 * 1024).code_path("Response.Code"));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct ClassifyLayer<P = StatusTable> {
    policy: P,
    codes: Option<BodyCodes>,
    resolve_locations: bool,
}

impl ClassifyLayer {
    /// The response-code table and the default body codes.
    pub fn new() -> Self {
        ClassifyLayer::with_policy(StatusTable::new())
    }
}

impl Default for ClassifyLayer {
    fn default() -> Self {
        ClassifyLayer::new()
    }
}

impl<P> ClassifyLayer<P> {
    /// Classifies with `policy` (a [`StatusTable`], a closure, or any
    /// [`Policy`](crate::Policy)) and the default body codes.
    pub fn with_policy(policy: P) -> Self {
        ClassifyLayer {
            policy,
            codes: Some(BodyCodes::new()),
            resolve_locations: true,
        }
    }

    /// Replaces the policy.
    pub fn policy<Q>(self, policy: Q) -> ClassifyLayer<Q> {
        ClassifyLayer {
            policy,
            codes: self.codes,
            resolve_locations: self.resolve_locations,
        }
    }

    /// Where to look for body-level codes, and how much to read (see [`BodyCodes`]).
    pub fn body_codes(mut self, codes: BodyCodes) -> Self {
        self.codes = Some(codes);
        self
    }

    /// Never reads bodies: the verdict comes from the status and headers only, and every
    /// body passes through untouched.
    pub fn without_body_codes(mut self) -> Self {
        self.codes = None;
        self
    }

    /// Whether to resolve `Location` (201, 202, 3xx) against the request URI when that URI
    /// is absolute (default: yes). A response that carries a
    /// [`FinalUri`](recourse_core::FinalUri) (a redirect layer inside this one followed
    /// redirects to get it) resolves against that URI instead, the one that answered
    /// (RFC 9110 §10.2.2).
    ///
    /// Resolving needs the request URI when the response arrives. The service copies its
    /// text into the response future (inline, up to 94 bytes: no allocation and no
    /// reference counting; a longer URI is cloned), and parses it again only for a
    /// response that carries a `Location`. Turning this off saves that copy; an absolute
    /// `Location` still resolves on its own, and the raw value is always kept.
    pub fn resolve_locations(mut self, resolve: bool) -> Self {
        self.resolve_locations = resolve;
        self
    }

    /// This layer followed by [`IntoResultLayer`]: failure verdicts become
    /// [`ClassifiedError`](crate::ClassifiedError)s holding a
    /// [`Failure`](crate::Failure), with the response inside.
    pub fn into_result(self) -> Stack<Self, IntoResultLayer> {
        Stack::new(self, IntoResultLayer::new())
    }
}

impl<S, P: Clone> Layer<S> for ClassifyLayer<P> {
    type Service = Classify<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Classify::from_parts(
            inner,
            self.policy.clone(),
            self.codes.clone(),
            self.resolve_locations,
        )
    }
}
