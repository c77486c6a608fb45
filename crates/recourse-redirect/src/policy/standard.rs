//! [`Standard`]: the default policy, a limit, the credential filter and the downgrade
//! refusal.

use http::HeaderMap;
use http::header::HeaderName;

use super::{Action, FilterCredentials, Limited, Policy, RedirectAttempt, RefuseDowngrade};

/// The standard policy: at most 10 redirects, then a
/// [`TooManyRedirects`](crate::TooManyRedirects) error ([`Limited`]); credentials removed
/// when the origin changes ([`FilterCredentials`]); `https` to `http` refused
/// ([`RefuseDowngrade`], RFC 9110 §4.2.2).
///
/// Each part has a builder method, so that nothing reaches into a combination:
///
/// ```
/// use http::HeaderName;
/// use recourse_redirect::policy::Standard;
///
/// let policy = Standard::new()
///     .max_redirects(5)
///     .return_last_redirect(true)
///     .remove_on_origin_change(HeaderName::from_static("x-api-key"));
/// assert_eq!(policy.get_limited().max(), 5);
/// assert_eq!(policy.get_filter_credentials().extra_headers().len(), 1);
/// assert!(!policy.allows_downgrade());
/// ```
///
/// A hop is asked of the limit first, then of the downgrade refusal; the first refusal
/// wins. When it is followed, the credential filter edits the next request's headers.
#[derive(Clone, Debug, Default)]
pub struct Standard {
    limited: Limited,
    credentials: FilterCredentials,
    allow_downgrade: bool,
}

impl Standard {
    /// 10 redirects, credentials filtered on a change of origin, downgrades refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follow at most `max` redirects per request (10 by default); the next one fails
    /// with [`TooManyRedirects`](crate::TooManyRedirects), or comes back as it is with
    /// [`return_last_redirect`](Self::return_last_redirect).
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.limited = Limited::new(max).return_last(self.limited.returns_last());
        self
    }

    /// At the limit, return the last 3xx response (with
    /// [`NotFollowed::LimitReached`](crate::NotFollowed::LimitReached) in its extensions)
    /// instead of failing with [`TooManyRedirects`](crate::TooManyRedirects).
    pub fn return_last_redirect(mut self, enable: bool) -> Self {
        self.limited = self.limited.return_last(enable);
        self
    }

    /// Replaces the limit part as a whole.
    pub fn limited(mut self, limited: Limited) -> Self {
        self.limited = limited;
        self
    }

    /// Also remove `name` from requests when a redirect changes the origin, besides
    /// `Authorization`, `Cookie` and `Proxy-Authorization`
    /// ([`FilterCredentials::also_remove`]).
    pub fn remove_on_origin_change(mut self, name: HeaderName) -> Self {
        self.credentials = std::mem::take(&mut self.credentials).also_remove(name);
        self
    }

    /// Replaces the credential filter as a whole.
    pub fn filter_credentials(mut self, filter: FilterCredentials) -> Self {
        self.credentials = filter;
        self
    }

    /// Follow redirects from `https` to `http` too (off by default: such a hop fails with
    /// a [`Downgrade`](crate::Downgrade) error, since the request would then travel in
    /// clear text; RFC 9110 §4.2.2, the Fetch standard's mixed-content rule).
    pub fn allow_downgrade(mut self, allow: bool) -> Self {
        self.allow_downgrade = allow;
        self
    }

    /// The limit part.
    pub fn get_limited(&self) -> &Limited {
        &self.limited
    }

    /// The credential filter.
    pub fn get_filter_credentials(&self) -> &FilterCredentials {
        &self.credentials
    }

    /// Whether redirects from `https` to `http` are followed.
    pub fn allows_downgrade(&self) -> bool {
        self.allow_downgrade
    }
}

impl Policy for Standard {
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action {
        let limit = self.limited.redirect(attempt);
        if !limit.is_follow() {
            return limit;
        }
        let credentials = self.credentials.redirect(attempt);
        if !credentials.is_follow() || self.allow_downgrade {
            return credentials;
        }
        RefuseDowngrade.redirect(attempt)
    }

    fn on_follow(&mut self, attempt: &RedirectAttempt<'_>, headers: &mut HeaderMap) {
        self.limited.on_follow(attempt, headers);
        self.credentials.on_follow(attempt, headers);
    }
}

#[cfg(test)]
mod tests {
    use super::super::ActionKind;
    use super::super::test_support::Fixture;
    use super::*;

    #[test]
    fn parts_have_builders() {
        let down = Fixture::new(302, "https://a.test/x", "http://a.test/y");
        let mut allowing = Standard::new().allow_downgrade(true);
        assert!(allowing.allows_downgrade());
        assert!(allowing.redirect(&down.attempt()).is_follow());
        assert!(matches!(
            Standard::new().redirect(&down.attempt()).kind,
            ActionKind::Downgrade
        ));

        let mut two = Standard::new().max_redirects(2).return_last_redirect(true);
        assert_eq!(two.get_limited().max(), 2);
        let many = Fixture::new(302, "https://a.test/x", "https://a.test/y").hops(2);
        assert!(two.redirect(&many.attempt()).is_stop());
        let two = two.limited(Limited::new(3));
        assert!(!two.get_limited().returns_last());

        let filtered = Standard::new()
            .filter_credentials(FilterCredentials::new().on_every_redirect(true))
            .remove_on_origin_change(HeaderName::from_static("x-a"));
        assert_eq!(filtered.get_filter_credentials().extra_headers().len(), 1);
    }
}
