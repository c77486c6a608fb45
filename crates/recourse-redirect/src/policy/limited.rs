//! [`Limited`]: at most N redirects per request.

use super::{Action, Policy, RedirectAttempt};
use crate::extensions::NotFollowed;

/// Follows at most `max` redirects per request; the next one fails with
/// [`TooManyRedirects`](crate::TooManyRedirects) carrying the chain, or, with
/// [`return_last`](Self::return_last), returns that last 3xx response (with
/// [`NotFollowed::LimitReached`] in its extensions).
///
/// The count comes from the chain itself ([`RedirectAttempt::followed`]), so the policy holds no
/// mutable state. RFC 9110 §15.4 asks clients to guard against endless redirection; the
/// Fetch standard (§4.4, HTTP-redirect fetch) stops at 20. The default here is 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    max: u32,
    return_last: bool,
}

impl Limited {
    /// The default limit: 10 redirects.
    pub const DEFAULT_MAX: u32 = 10;

    /// At most `max` redirects (0 follows none).
    pub fn new(max: u32) -> Self {
        Self {
            max,
            return_last: false,
        }
    }

    /// At the limit, return the last 3xx response instead of failing.
    pub fn return_last(mut self, enable: bool) -> Self {
        self.return_last = enable;
        self
    }

    /// The limit.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Whether the last 3xx response is returned at the limit.
    pub fn returns_last(&self) -> bool {
        self.return_last
    }
}

impl Default for Limited {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX)
    }
}

impl Policy for Limited {
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action {
        // A chain longer than `u32::MAX` is past any limit.
        if u32::try_from(attempt.followed()).is_ok_and(|followed| followed < self.max) {
            Action::follow()
        } else if self.return_last {
            Action::stop_with(NotFollowed::LimitReached { limit: self.max })
        } else {
            Action::too_many_redirects(self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ActionKind;
    use super::super::test_support::Fixture;
    use super::*;

    #[test]
    fn counts_the_chain() {
        let mut p = Limited::new(2);
        for n in 0..2 {
            let fx = Fixture::new(302, "http://a/", "http://a/x").hops(n);
            assert!(p.redirect(&fx.attempt()).is_follow(), "hop {n}");
        }
        let fx = Fixture::new(302, "http://a/", "http://a/x").hops(2);
        assert!(matches!(
            p.redirect(&fx.attempt()).kind,
            ActionKind::TooMany { limit: 2 }
        ));
        let mut p = p.return_last(true);
        assert!(matches!(
            p.redirect(&fx.attempt()).kind,
            ActionKind::Stop(NotFollowed::LimitReached { limit: 2 })
        ));
        assert_eq!(Limited::default().max(), 10);
        let fx = Fixture::new(302, "http://a/", "http://a/x");
        assert!(Limited::new(0).redirect(&fx.attempt()).is_error());
    }
}
