//! Which outcomes are worth another attempt: the [`Policy`] trait, the [`Standard`]
//! policy, [`Statuses`], and the [`PolicyExt`] combinators (building the [`And`] and
//! [`Or`] every layer shares, from [`recourse_core::policy`]).
//!
//! A policy only judges the outcome of an attempt. The layer itself enforces what must
//! hold whatever the policy says: a request that is not idempotent is resent only when
//! its error proves it never left, or when it carries an idempotency key or the caller
//! opted in; and the limits (retries, time, deadline, budget, body) always apply.
//!
//! Closures are policies:
//!
//! ```
//! use http::StatusCode;
//! use recourse_retry::policy::{Attempted, Policy, PolicyExt, Standard};
//!
//! // Retry what the standard policy retries, and 429 too.
//! let mut policy = Standard::new().or(|a: &Attempted<'_, (), std::io::Error>| {
//!     a.status() == Some(StatusCode::TOO_MANY_REQUESTS)
//! });
//! # let _ = &mut policy;
//! ```

use http::{Method, Response, StatusCode, Uri, request};
use recourse_core::Class;

pub use recourse_core::policy::{And, Or};

// === Attempted ===

/// One attempt's outcome, as a [`Policy`] sees it.
#[derive(Debug)]
pub struct Attempted<'a, B, E> {
    pub(crate) request: &'a request::Parts,
    pub(crate) result: Result<&'a Response<B>, &'a E>,
    pub(crate) attempt: u32,
    pub(crate) idempotent: bool,
    pub(crate) not_sent: bool,
}

impl<'a, B, E> Attempted<'a, B, E> {
    /// The request as the caller sent it (method, URI, headers, extensions).
    pub fn request(&self) -> &'a request::Parts {
        self.request
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        &self.request.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        &self.request.uri
    }

    /// Which attempt this was (1 for the first send).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The response or the error of this attempt.
    pub fn result(&self) -> Result<&'a Response<B>, &'a E> {
        self.result
    }

    /// The response, if the attempt got one.
    pub fn response(&self) -> Option<&'a Response<B>> {
        self.result.ok()
    }

    /// The error, if the attempt failed without a response.
    pub fn error(&self) -> Option<&'a E> {
        self.result.err()
    }

    /// The response status, if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.response().map(Response::status)
    }

    /// The response's [`Class`] (the classify layer's verdict, else the status's), if any.
    pub fn class(&self) -> Option<Class> {
        self.response().map(Class::of)
    }

    /// Whether the request may be resent whatever happened to it: its method is idempotent
    /// (RFC 9110 §9.2.2), it carries an idempotency key, or the caller opted in.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    /// Whether the attempt failed in a way that proves the request was never sent (the
    /// connection could not be established).
    pub fn was_not_sent(&self) -> bool {
        self.not_sent
    }
}

// === Policy ===

/// Decides whether an attempt's outcome is worth another attempt.
///
/// `B` is the response body type and `E` the inner service's error type. Implemented for
/// closures `FnMut(&Attempted<'_, B, E>) -> bool`.
///
/// # Clone
///
/// The layer clones the policy for each request (keep it small; put state shared across
/// requests behind an `Arc`). Each clone sees the attempts of one request, in order.
pub trait Policy<B, E> {
    /// `true` to send the request again (within the layer's limits).
    fn retry(&mut self, attempted: &Attempted<'_, B, E>) -> bool;
}

impl<F, B, E> Policy<B, E> for F
where
    F: FnMut(&Attempted<'_, B, E>) -> bool,
{
    fn retry(&mut self, attempted: &Attempted<'_, B, E>) -> bool {
        self(attempted)
    }
}

/// Combinators for policies: [`and`](Self::and) and [`or`](Self::or) build the shared
/// [`And`] and [`Or`] of [`recourse_core::policy`], which are retry policies here.
pub trait PolicyExt: Sized {
    /// Retries only when both policies say so (`other` is asked only if `self` agrees).
    fn and<Q>(self, other: Q) -> And<Self, Q> {
        And::new(self, other)
    }

    /// Retries when either policy says so (`other` is asked only if `self` declines).
    fn or<Q>(self, other: Q) -> Or<Self, Q> {
        Or::new(self, other)
    }
}

impl<T> PolicyExt for T {}

/// Both policies must agree; see [`PolicyExt::and`].
impl<A, Q, B, E> Policy<B, E> for And<A, Q>
where
    A: Policy<B, E>,
    Q: Policy<B, E>,
{
    fn retry(&mut self, attempted: &Attempted<'_, B, E>) -> bool {
        self.first_mut().retry(attempted) && self.second_mut().retry(attempted)
    }
}

/// Either policy suffices; see [`PolicyExt::or`].
impl<A, Q, B, E> Policy<B, E> for Or<A, Q>
where
    A: Policy<B, E>,
    Q: Policy<B, E>,
{
    fn retry(&mut self, attempted: &Attempted<'_, B, E>) -> bool {
        self.first_mut().retry(attempted) || self.second_mut().retry(attempted)
    }
}

// === Statuses ===

/// A set of status codes; as a policy, retries responses with one of them.
///
/// Holds the codes HTTP defines, 100..=599 (RFC 9110 §15: values outside that range are
/// invalid, though some software uses 600..=999 internally). Others are not added: a
/// response with such a code is never retried by status (a closure policy can).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Statuses {
    /// Bit `n - 100` set when status `n` is in the set.
    bits: [u64; 8],
}

impl Statuses {
    /// An empty set.
    pub const fn empty() -> Self {
        Self { bits: [0; 8] }
    }

    /// The set of these statuses.
    pub fn new(statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        Self::empty().with(statuses)
    }

    fn index(status: StatusCode) -> Option<(usize, u64)> {
        let n = usize::from(status.as_u16()).checked_sub(100)?;
        (n < 500).then(|| (n / 64, 1 << (n % 64)))
    }

    /// Adds statuses to the set (those in 100..=599).
    pub fn with(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        for status in statuses {
            if let Some((word, bit)) = Self::index(status) {
                self.bits[word] |= bit;
            }
        }
        self
    }

    /// Whether `status` is in the set.
    #[inline]
    pub fn contains(&self, status: StatusCode) -> bool {
        Self::index(status).is_some_and(|(word, bit)| self.bits[word] & bit != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// The statuses in the set, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = StatusCode> + '_ {
        (100u16..=599)
            .filter_map(|n| StatusCode::from_u16(n).ok())
            .filter(|s| self.contains(*s))
    }
}

impl std::fmt::Debug for Statuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|s| s.as_u16()))
            .finish()
    }
}

impl<B, E> Policy<B, E> for Statuses {
    fn retry(&mut self, attempted: &Attempted<'_, B, E>) -> bool {
        attempted.status().is_some_and(|s| self.contains(s))
    }
}

// === Standard ===

/// The default policy: retry a response whose [`Class`] is [`Class::Retryable`] (the
/// classify layer's verdict when it ran, else 500 and 503: RFC 9110 §15.6.1 and
/// §15.6.4, and the source table's "resubmit later"), a response whose status is in an
/// extra set ([`Standard::retry_on`], e.g. 429, 502, 504), and transport errors.
///
/// Transport errors are retried for idempotent requests; for the others, the layer lets
/// through only errors that prove the request was never sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standard {
    extra: Statuses,
    errors: bool,
}

impl Default for Standard {
    fn default() -> Self {
        Self::new()
    }
}

impl Standard {
    /// Retryable classes and transport errors; no extra statuses.
    pub const fn new() -> Self {
        Self {
            extra: Statuses::empty(),
            errors: true,
        }
    }

    /// Also retries these statuses (for example 429, 502 and 504), whatever their class.
    pub fn retry_on(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.extra = self.extra.with(statuses);
        self
    }

    /// Whether transport errors are retried (default `true`).
    pub fn retry_errors(mut self, retry: bool) -> Self {
        self.errors = retry;
        self
    }

    /// The extra statuses.
    pub fn extra_statuses(&self) -> &Statuses {
        &self.extra
    }
}

impl<B, E> Policy<B, E> for Standard {
    #[inline]
    fn retry(&mut self, attempted: &Attempted<'_, B, E>) -> bool {
        match attempted.result {
            Ok(res) => Class::of(res).is_retryable() || self.extra.contains(res.status()),
            Err(_) => self.errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> request::Parts {
        http::Request::get("http://a/")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn check<P: Policy<(), ()>>(mut p: P, status: u16, class: Option<Class>) -> bool {
        let parts = parts();
        let mut res = Response::builder().status(status).body(()).unwrap();
        if let Some(c) = class {
            res.extensions_mut().insert(c);
        }
        p.retry(&Attempted {
            request: &parts,
            result: Ok(&res),
            attempt: 1,
            idempotent: true,
            not_sent: false,
        })
    }

    fn check_err<P: Policy<(), ()>>(mut p: P) -> bool {
        let parts = parts();
        p.retry(&Attempted {
            request: &parts,
            result: Err(&()),
            attempt: 1,
            idempotent: true,
            not_sent: false,
        })
    }

    #[test]
    fn standard_follows_the_class() {
        let s = Standard::new();
        assert!(check(s, 500, None));
        assert!(check(s, 503, None));
        for code in [200, 202, 304, 400, 404, 429, 501, 502, 504] {
            assert!(!check(s, code, None), "{code}");
        }
        // The classify layer's verdict wins over the status.
        assert!(!check(s, 503, Some(Class::ServerError)));
        assert!(check(s, 200, Some(Class::Retryable)));
        assert!(check_err(s));
        assert!(!check_err(s.retry_errors(false)));
    }

    #[test]
    fn extra_statuses() {
        let s = Standard::new().retry_on([
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_GATEWAY,
            StatusCode::GATEWAY_TIMEOUT,
        ]);
        for code in [429, 502, 504, 500, 503] {
            assert!(check(s, code, None), "{code}");
        }
        assert!(!check(s, 501, None));
        assert_eq!(format!("{:?}", s.extra_statuses()), "{429, 502, 504}");
        let code = |n| StatusCode::from_u16(n).unwrap();
        let set = Statuses::new([code(100), code(599), code(999)]);
        assert!(set.contains(code(100)) && set.contains(code(599)));
        assert!(!set.contains(code(999)), "outside HTTP's range: not kept");
        assert!(!set.contains(code(101)));
        assert_eq!(set.iter().count(), 2);
        assert!(!set.is_empty() && Statuses::empty().is_empty());
    }

    #[test]
    fn combinators_and_closures() {
        let only_first = |a: &Attempted<'_, (), ()>| a.attempt() == 1;
        assert!(check(Standard::new().and(only_first), 503, None));
        assert!(!check(
            Standard::new().and(|_: &Attempted<'_, (), ()>| false),
            503,
            None
        ));
        let on_404 = Statuses::new([StatusCode::NOT_FOUND]);
        assert!(check(Standard::new().or(on_404), 404, None));
        assert!(!check(Standard::new().or(on_404), 400, None));
        assert!(!check_err(Statuses::new([StatusCode::NOT_FOUND])));
    }
}
