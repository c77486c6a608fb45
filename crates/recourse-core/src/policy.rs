//! [`And`] and [`Or`]: two policies combined, for every layer's policy trait.
//!
//! The types live here once; each layer implements its own `Policy` trait for them with
//! the same meaning, and offers `.and(..)` / `.or(..)` through its `PolicyExt`:
//!
//! - `And` says yes only when both say yes; the first "no" wins and the second policy is
//!   not asked.
//! - `Or` says yes when either says yes; the second policy is asked only when the first
//!   says no, and when both say no the second's answer is the result.
//!
//! A side effect that is not a decision (a redirect policy editing the next request's
//! headers, say) runs on both sides in both combinators.
//!
//! ```
//! use recourse_core::policy::And;
//!
//! let both = And::new("limit", "same origin");
//! assert_eq!(both.first(), &"limit");
//! assert_eq!(both.into_parts(), ("limit", "same origin"));
//! ```

macro_rules! combinator {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name<A, B> {
            first: A,
            second: B,
        }

        impl<A, B> $name<A, B> {
            /// Combines two policies.
            pub const fn new(first: A, second: B) -> Self {
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
    };
}

combinator! {
    /// Says yes only when both policies say yes; the first "no" wins and the second policy
    /// is not asked.
    And
}

combinator! {
    /// Says yes when either policy says yes; the second is asked only when the first says
    /// no, and when neither says yes the second's answer is the result.
    Or
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_reachable_by_name() {
        let mut or = Or::new(1, 2);
        *or.first_mut() += 10;
        *or.second_mut() += 20;
        assert_eq!((or.first(), or.second()), (&11, &22));
        assert_eq!(or.into_parts(), (11, 22));
        assert_eq!(And::<u8, u8>::default(), And::new(0, 0));
    }
}
