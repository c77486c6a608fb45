//! [`SameOriginOnly`]: never leave the origin.

use super::{Action, Policy, RedirectAttempt};
use crate::extensions::NotFollowed;

/// Follows only redirects to the same origin (scheme, host and port, RFC 6454 §4); a
/// redirect elsewhere is returned as it is, with [`NotFollowed::CrossOrigin`] in its
/// extensions.
///
/// Combine it with the standard policy to keep the limit:
/// `Standard::default().and(SameOriginOnly)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SameOriginOnly;

impl SameOriginOnly {
    /// The policy.
    pub fn new() -> Self {
        Self
    }
}

impl Policy for SameOriginOnly {
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action {
        if attempt.is_same_origin() {
            Action::follow()
        } else {
            Action::stop_with(NotFollowed::CrossOrigin)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ActionKind;
    use super::super::test_support::Fixture;
    use super::*;

    #[test]
    fn stops_at_the_origin_boundary() {
        let mut p = SameOriginOnly::new();
        let same = Fixture::new(302, "http://a.test/x", "http://A.test:80/y");
        assert!(p.redirect(&same.attempt()).is_follow());
        for to in ["https://a.test/x", "http://a.test:81/x", "http://b.test/x"] {
            let fx = Fixture::new(302, "http://a.test/x", to);
            assert!(matches!(
                p.redirect(&fx.attempt()).kind,
                ActionKind::Stop(NotFollowed::CrossOrigin)
            ));
        }
    }
}
