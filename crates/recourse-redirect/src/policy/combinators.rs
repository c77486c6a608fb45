//! [`And`] and [`Or`]: two policies combined.

use http::HeaderMap;

use super::{Action, Attempt, Policy};

/// Follows only when both policies follow; built by [`PolicyExt::and`](super::PolicyExt::and).
///
/// The first refusal wins and the second policy is not asked. When the redirect is
/// followed, both policies edit the next request's headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct And<A, B> {
    pub(crate) first: A,
    pub(crate) second: B,
}

impl<A, B> And<A, B> {
    /// Combines two policies.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The first policy.
    pub fn first(&self) -> &A {
        &self.first
    }

    /// The second policy.
    pub fn second(&self) -> &B {
        &self.second
    }

    /// The first policy, mutably.
    pub fn first_mut(&mut self) -> &mut A {
        &mut self.first
    }

    /// The second policy, mutably.
    pub fn second_mut(&mut self) -> &mut B {
        &mut self.second
    }

    /// Splits the combination.
    pub fn into_parts(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A: Policy, B: Policy> Policy for And<A, B> {
    fn redirect(&mut self, attempt: &Attempt<'_>) -> Action {
        let first = self.first.redirect(attempt);
        if first.is_follow() {
            self.second.redirect(attempt)
        } else {
            first
        }
    }

    fn on_follow(&mut self, attempt: &Attempt<'_>, headers: &mut HeaderMap) {
        self.first.on_follow(attempt, headers);
        self.second.on_follow(attempt, headers);
    }
}

/// Follows when either policy follows; built by [`PolicyExt::or`](super::PolicyExt::or).
///
/// The second policy is asked only when the first does not follow, and when neither
/// follows its answer is the result. When the redirect is followed, both policies edit
/// the next request's headers (a header filter on either side always applies).
#[derive(Clone, Copy, Debug, Default)]
pub struct Or<A, B> {
    pub(crate) first: A,
    pub(crate) second: B,
}

impl<A, B> Or<A, B> {
    /// Combines two policies.
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// Splits the combination.
    pub fn into_parts(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A: Policy, B: Policy> Policy for Or<A, B> {
    fn redirect(&mut self, attempt: &Attempt<'_>) -> Action {
        let first = self.first.redirect(attempt);
        if first.is_follow() {
            first
        } else {
            self.second.redirect(attempt)
        }
    }

    fn on_follow(&mut self, attempt: &Attempt<'_>, headers: &mut HeaderMap) {
        self.first.on_follow(attempt, headers);
        self.second.on_follow(attempt, headers);
    }
}
