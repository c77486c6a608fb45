//! Deciding, hop by hop, whether to follow a redirect, and editing the next request.
//!
//! A [`Policy`] sees each redirect as a [`RedirectAttempt`] (status, from, to, methods, the chain
//! so far) and answers with an [`Action`]: follow, stop (the 3xx is returned, with a
//! [`NotFollowed`] reason), or fail with a typed error. Before a followed hop is sent,
//! [`Policy::on_follow`] may edit its headers; the layer carries the edited headers to
//! every later hop, so what a policy removed stays removed.
//!
//! Closures `FnMut(&RedirectAttempt<'_>) -> Action` are policies, and [`PolicyExt`] combines any
//! two with [`and`](PolicyExt::and) / [`or`](PolicyExt::or). The default,
//! [`Standard`], is [`Limited`] (10 hops, then [`TooManyRedirects`]) and
//! [`FilterCredentials`] and [`RefuseDowngrade`].
//!
//! A custom policy replaces the standard one entirely: combine it with
//! [`Standard`] to keep the limit, the credential filter and the downgrade refusal.
//!
//! ```
//! use http::StatusCode;
//! use recourse_redirect::policy::{Action, RedirectAttempt, PolicyExt, Standard, policy_fn};
//!
//! // Standard protections, and never follow a 301 to the `/legacy` tree.
//! let policy = Standard::default().and(policy_fn(|attempt: &RedirectAttempt<'_>| {
//!     if attempt.status() == StatusCode::MOVED_PERMANENTLY
//!         && attempt.location().path().starts_with("/legacy")
//!     {
//!         Action::stop()
//!     } else {
//!         Action::follow()
//!     }
//! }));
//! # let _ = recourse_redirect::RedirectLayer::with_policy(policy);
//! ```
//!
//! [`TooManyRedirects`]: crate::TooManyRedirects

use std::fmt;

use http::header::LOCATION;
use http::{HeaderMap, Method, StatusCode, Uri};
use recourse_core::BoxError;
use recourse_core::origin::{Downgrade, same_origin};

use crate::extensions::{Hop, NotFollowed};

mod combinators;
mod credentials;
mod downgrade;
mod limited;
mod same_origin;
mod standard;

pub use credentials::FilterCredentials;
pub use downgrade::RefuseDowngrade;
pub use limited::Limited;
pub use recourse_core::policy::{And, Or};
pub use same_origin::SameOriginOnly;
pub use standard::Standard;

/// Decides whether to follow each redirect of one request's chain.
///
/// # Clone
///
/// The layer clones its policy for every request, so a policy's fields are per-chain
/// state. Share state across requests (a global budget, a cache of allowed hosts) through
/// an `Arc`.
pub trait Policy {
    /// Called for each redirect whose `Location` resolved to an `http`/`https` URI.
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action;

    /// Called when the redirect will be followed, with the headers of the next request.
    /// Removals stay in effect for the rest of the chain. The default does nothing.
    fn on_follow(&mut self, attempt: &RedirectAttempt<'_>, headers: &mut HeaderMap) {
        let _ = (attempt, headers);
    }
}

impl<F> Policy for F
where
    F: FnMut(&RedirectAttempt<'_>) -> Action,
{
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action {
        self(attempt)
    }
}

/// Helps closures infer their argument type: `policy_fn(|a| ...)` instead of
/// `|a: &RedirectAttempt<'_>| ...`.
pub fn policy_fn<F>(f: F) -> F
where
    F: FnMut(&RedirectAttempt<'_>) -> Action,
{
    f
}

/// Combinators for every [`Policy`], closures included.
pub trait PolicyExt: Policy + Sized {
    /// Follows only if both `self` and `other` follow; otherwise the first refusal wins
    /// (`other` is not asked when `self` refuses). Both edit the next request's headers.
    fn and<Q: Policy>(self, other: Q) -> And<Self, Q> {
        And::new(self, other)
    }

    /// Follows if either `self` or `other` follows; when neither does, `other`'s answer
    /// wins. Both edit the next request's headers.
    fn or<Q: Policy>(self, other: Q) -> Or<Self, Q> {
        Or::new(self, other)
    }
}

impl<P: Policy> PolicyExt for P {}

// === RedirectAttempt ===

/// One redirect, as a [`Policy`] sees it.
#[derive(Debug)]
pub struct RedirectAttempt<'a> {
    pub(crate) status: StatusCode,
    pub(crate) previous_method: &'a Method,
    pub(crate) method: &'a Method,
    pub(crate) previous: &'a Uri,
    pub(crate) location: &'a Uri,
    pub(crate) chain: &'a [Hop],
    pub(crate) response_headers: &'a HeaderMap,
}

impl<'a> RedirectAttempt<'a> {
    /// The redirect status (301, 302, 303, 307 or 308).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The URI of the request that was redirected.
    pub fn previous(&self) -> &'a Uri {
        self.previous
    }

    /// The method of the request that was redirected.
    pub fn previous_method(&self) -> &'a Method {
        self.previous_method
    }

    /// The resolved target (absolute, `http` or `https`, without fragment).
    pub fn location(&self) -> &'a Uri {
        self.location
    }

    /// The method the next request will use (GET after a 303, or after a 301/302 of a
    /// POST; the same method otherwise).
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// How many redirects were already followed in this chain (0 for the first one).
    pub fn followed(&self) -> usize {
        self.chain.len()
    }

    /// The redirects already followed, oldest first.
    pub fn chain(&self) -> &'a [Hop] {
        self.chain
    }

    /// The headers of the 3xx response.
    pub fn response_headers(&self) -> &'a HeaderMap {
        self.response_headers
    }

    /// Whether the target has the same origin (scheme, host, port) as the redirected
    /// request ([`recourse_core::origin::same_origin`], RFC 6454 §4).
    pub fn is_same_origin(&self) -> bool {
        same_origin(self.previous, self.location)
    }

    /// Whether this redirect goes from `https` to `http`
    /// ([`recourse_core::origin::Downgrade::check`]).
    pub fn is_downgrade(&self) -> bool {
        Downgrade::check(self.previous, self.location, &LOCATION).is_err()
    }
}

// === Action ===

/// What a [`Policy`] decided about one redirect.
pub struct Action {
    pub(crate) kind: ActionKind,
}

pub(crate) enum ActionKind {
    Follow,
    Stop(NotFollowed),
    TooMany { limit: u32 },
    Downgrade,
    Error(BoxError),
}

impl Action {
    /// Follow the redirect.
    pub fn follow() -> Self {
        Self {
            kind: ActionKind::Follow,
        }
    }

    /// Do not follow: return the 3xx response, with [`NotFollowed::Stopped`] in its
    /// extensions.
    pub fn stop() -> Self {
        Self::stop_with(NotFollowed::Stopped)
    }

    /// Do not follow: return the 3xx response with this reason in its extensions.
    pub fn stop_with(reason: NotFollowed) -> Self {
        Self {
            kind: ActionKind::Stop(reason),
        }
    }

    /// Fail with [`TooManyRedirects`](crate::TooManyRedirects), carrying the chain.
    pub fn too_many_redirects(limit: u32) -> Self {
        Self {
            kind: ActionKind::TooMany { limit },
        }
    }

    /// Fail with a [`Downgrade`] error, carrying the chain
    /// ([`RedirectError::is_downgrade`](crate::RedirectError::is_downgrade)). The layer
    /// checks the hop itself: when it does not go from `https` to `http`, the refusal is
    /// reported as a policy error instead
    /// ([`RedirectError::is_policy_error`](crate::RedirectError::is_policy_error)).
    pub fn refuse_downgrade() -> Self {
        Self {
            kind: ActionKind::Downgrade,
        }
    }

    /// Fail with a custom error (see [`RedirectError::policy_error`](crate::RedirectError::policy_error)).
    pub fn error(error: impl Into<BoxError>) -> Self {
        Self {
            kind: ActionKind::Error(error.into()),
        }
    }

    /// Whether this says to follow.
    pub fn is_follow(&self) -> bool {
        matches!(self.kind, ActionKind::Follow)
    }

    /// Whether this says to return the 3xx response.
    pub fn is_stop(&self) -> bool {
        matches!(self.kind, ActionKind::Stop(_))
    }

    /// Whether this says to fail.
    pub fn is_error(&self) -> bool {
        matches!(
            self.kind,
            ActionKind::TooMany { .. } | ActionKind::Downgrade | ActionKind::Error(_)
        )
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ActionKind::Follow => f.write_str("Action::Follow"),
            ActionKind::Stop(reason) => f.debug_tuple("Action::Stop").field(reason).finish(),
            ActionKind::TooMany { limit } => f
                .debug_struct("Action::TooManyRedirects")
                .field("limit", limit)
                .finish(),
            ActionKind::Downgrade => f.write_str("Action::RefuseDowngrade"),
            ActionKind::Error(e) => f.debug_tuple("Action::Error").field(e).finish(),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Owns what a [`RedirectAttempt`] borrows, for policy unit tests.
    pub(crate) struct Fixture {
        pub(crate) status: StatusCode,
        pub(crate) previous_method: Method,
        pub(crate) method: Method,
        pub(crate) previous: Uri,
        pub(crate) location: Uri,
        pub(crate) chain: Vec<Hop>,
        pub(crate) headers: HeaderMap,
    }

    impl Fixture {
        pub(crate) fn new(status: u16, previous: &'static str, location: &'static str) -> Self {
            Self {
                status: StatusCode::from_u16(status).unwrap(),
                previous_method: Method::GET,
                method: Method::GET,
                previous: Uri::from_static(previous),
                location: Uri::from_static(location),
                chain: Vec::new(),
                headers: HeaderMap::new(),
            }
        }

        pub(crate) fn hops(mut self, n: usize) -> Self {
            self.chain = (0..n)
                .map(|_| Hop {
                    status: self.status,
                    method: Method::GET,
                    from: self.previous.clone(),
                    to: self.location.clone(),
                })
                .collect();
            self
        }

        pub(crate) fn attempt(&self) -> RedirectAttempt<'_> {
            RedirectAttempt {
                status: self.status,
                previous_method: &self.previous_method,
                method: &self.method,
                previous: &self.previous,
                location: &self.location,
                chain: &self.chain,
                response_headers: &self.headers,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::Fixture;
    use super::*;

    #[test]
    fn closures_are_policies_and_combine() {
        let fx = Fixture::new(302, "http://a.test/x", "http://a.test/y");
        let mut stop = policy_fn(|_| Action::stop());
        assert!(stop.redirect(&fx.attempt()).is_stop());

        let mut both = policy_fn(|_| Action::follow()).and(policy_fn(|_| Action::stop()));
        assert!(both.redirect(&fx.attempt()).is_stop());

        let mut either = policy_fn(|_| Action::stop()).or(policy_fn(|_| Action::follow()));
        assert!(either.redirect(&fx.attempt()).is_follow());

        let mut neither =
            policy_fn(|_| Action::stop()).or(policy_fn(|_| Action::error("custom refusal")));
        let action = neither.redirect(&fx.attempt());
        assert!(action.is_error());
        assert!(format!("{action:?}").contains("custom refusal"));
    }

    #[test]
    fn and_short_circuits() {
        let fx = Fixture::new(302, "http://a.test/x", "http://a.test/y");
        let mut asked = 0;
        {
            let mut p = policy_fn(|_| Action::stop()).and(policy_fn(|_| {
                asked += 1;
                Action::follow()
            }));
            assert!(p.redirect(&fx.attempt()).is_stop());
        }
        assert_eq!(asked, 0);
    }

    #[test]
    fn attempt_accessors() {
        let fx = Fixture::new(307, "https://a.test/x", "http://a.test/y").hops(2);
        let a = fx.attempt();
        assert_eq!(a.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(a.followed(), 2);
        assert!(a.is_downgrade());
        assert!(!a.is_same_origin());
        assert_eq!(a.location(), "http://a.test/y");
        assert_eq!(a.previous(), "https://a.test/x");
        assert_eq!(a.method(), Method::GET);
        assert_eq!(a.previous_method(), Method::GET);
        assert_eq!(a.chain().len(), 2);
        assert!(a.response_headers().is_empty());
    }

    #[test]
    fn standard_is_limit_filter_and_downgrade() {
        let mut standard = Standard::default();
        let ok = Fixture::new(302, "https://a.test/x", "https://b.test/y");
        assert!(standard.redirect(&ok.attempt()).is_follow());
        let down = Fixture::new(302, "https://a.test/x", "http://a.test/y");
        assert!(matches!(
            standard.redirect(&down.attempt()).kind,
            ActionKind::Downgrade
        ));
        let many = Fixture::new(302, "https://a.test/x", "https://a.test/y").hops(10);
        assert!(matches!(
            standard.redirect(&many.attempt()).kind,
            ActionKind::TooMany { limit: 10 }
        ));
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "Bearer t".parse().unwrap());
        standard.on_follow(&ok.attempt(), &mut headers);
        assert!(headers.is_empty());
    }
}
