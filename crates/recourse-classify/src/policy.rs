//! [`Policy`]: what decides the kind of a response.

use http::{HeaderMap, StatusCode, Version};

use crate::kind::Kind;

/// The head of a response, as a [`Policy`] sees it.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    status: StatusCode,
    version: Version,
    headers: &'a HeaderMap,
}

impl<'a> Head<'a> {
    /// A head from its parts (for calling a policy directly, in tests for example).
    pub fn new(status: StatusCode, version: Version, headers: &'a HeaderMap) -> Self {
        Head {
            status,
            version,
            headers,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The standard kind of the status ([`Kind::standard`]), for policies that change
    /// only a few cases.
    pub fn standard(&self) -> Kind {
        Kind::standard(self.status)
    }
}

/// Decides the [`Kind`] of each response; the classify layer builds the
/// [`Outcome`](crate::Outcome) from it.
///
/// [`StatusTable`](crate::StatusTable) is the default policy and covers remapping status
/// codes. Closures `FnMut(&Head<'_>) -> Kind` are policies too, for anything else:
///
/// ```
/// use http::StatusCode;
/// use recourse_classify::{ClassifyLayer, Head, Kind, StatusTable};
///
/// let table =
///     StatusTable::new().retryable([StatusCode::BAD_GATEWAY, StatusCode::GATEWAY_TIMEOUT]);
/// // A service that answers 418 while warming up: worth another try.
/// let layer = ClassifyLayer::with_policy(move |head: &Head<'_>| match head.status() {
///     StatusCode::IM_A_TEAPOT if head.headers().contains_key("x-warming-up") => Kind::Retryable,
///     status => table.kind(status),
/// });
/// # let _ = layer;
/// ```
///
/// # Clone
///
/// The service clones its policy into each request's future; keep policies cheap to
/// clone (shared state in an `Arc`).
pub trait Policy {
    /// The kind of a response, from its head.
    fn classify(&mut self, head: &Head<'_>) -> Kind;

    /// The kind of a response whose body carries the application code `code` (200 and
    /// `Response.Code` by default), given the kind [`classify`](Policy::classify) chose.
    ///
    /// The default keeps `kind` for code 0 and gives [`Kind::ApplicationFailure`] for any
    /// other code: in the response-code table, a `Response.Code` of 0 means the request was
    /// processed successfully, and any other code reports why it was not.
    fn classify_code(&mut self, head: &Head<'_>, kind: Kind, code: i64) -> Kind {
        let _ = head;
        if code == 0 {
            kind
        } else {
            Kind::ApplicationFailure
        }
    }
}

impl<F> Policy for F
where
    F: FnMut(&Head<'_>) -> Kind,
{
    fn classify(&mut self, head: &Head<'_>) -> Kind {
        self(head)
    }
}
