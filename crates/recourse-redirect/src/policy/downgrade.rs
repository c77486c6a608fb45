//! [`RefuseDowngrade`]: no redirect from `https` to `http`.

use super::{Action, Policy, RedirectAttempt};

/// Refuses redirects from `https` to `http` with a [`Downgrade`](crate::Downgrade) error:
/// following one would send the request (and its body, for 307/308) in clear text, where
/// anyone on the path can read and alter it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefuseDowngrade;

impl RefuseDowngrade {
    /// The policy.
    pub fn new() -> Self {
        Self
    }
}

impl Policy for RefuseDowngrade {
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action {
        if attempt.is_downgrade() {
            Action::refuse_downgrade()
        } else {
            Action::follow()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::Fixture;
    use super::*;

    #[test]
    fn refuses_only_https_to_http() {
        let mut p = RefuseDowngrade::new();
        for (from, to, follow) in [
            ("https://a/", "http://a/", false),
            ("https://a/", "http://b/", false),
            ("https://a/", "https://b/", true),
            ("http://a/", "https://a/", true),
            ("http://a/", "http://b/", true),
        ] {
            let fx = Fixture::new(307, from, to);
            assert_eq!(
                p.redirect(&fx.attempt()).is_follow(),
                follow,
                "{from} -> {to}"
            );
        }
    }
}
