//! [`And`] and [`Or`] (from [`recourse_core::policy`]) as redirect policies.

use http::HeaderMap;
use recourse_core::policy::{And, Or};

use super::{Action, Policy, RedirectAttempt};

/// Follows only when both policies follow; built by [`PolicyExt::and`](super::PolicyExt::and).
///
/// The first refusal wins and the second policy is not asked. When the redirect is
/// followed, both policies edit the next request's headers.
impl<A: Policy, B: Policy> Policy for And<A, B> {
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action {
        let first = self.first_mut().redirect(attempt);
        if first.is_follow() {
            self.second_mut().redirect(attempt)
        } else {
            first
        }
    }

    fn on_follow(&mut self, attempt: &RedirectAttempt<'_>, headers: &mut HeaderMap) {
        self.first_mut().on_follow(attempt, headers);
        self.second_mut().on_follow(attempt, headers);
    }
}

/// Follows when either policy follows; built by [`PolicyExt::or`](super::PolicyExt::or).
///
/// The second policy is asked only when the first does not follow, and when neither
/// follows its answer is the result. When the redirect is followed, both policies edit
/// the next request's headers (a header filter on either side always applies).
impl<A: Policy, B: Policy> Policy for Or<A, B> {
    fn redirect(&mut self, attempt: &RedirectAttempt<'_>) -> Action {
        let first = self.first_mut().redirect(attempt);
        if first.is_follow() {
            first
        } else {
            self.second_mut().redirect(attempt)
        }
    }

    fn on_follow(&mut self, attempt: &RedirectAttempt<'_>, headers: &mut HeaderMap) {
        self.first_mut().on_follow(attempt, headers);
        self.second_mut().on_follow(attempt, headers);
    }
}
