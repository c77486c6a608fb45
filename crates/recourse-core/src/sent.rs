//! Whether a failed request was sent: how a layer's error type tells the layers above it
//! that it refused a request before sending it (so that even a POST may be tried again),
//! without those layers knowing the type.
//!
//! A layer that refuses requests (the breaker's `Overloaded`, say) has a generic error type
//! (`BreakerError<E>`) that a layer above (retry) cannot name. The refusing layer registers
//! its error type once with [`register`], with a function that says whether an error
//! proves the request was not sent, or else hands over the inner error to look at next;
//! the layer above asks [`verdict`] about the errors it sees.
//!
//! ```
//! use std::any::Any;
//! use recourse_core::sent::{self, Sent};
//!
//! #[derive(Debug)]
//! enum MyError<E> { Refused, Inner(E) }
//!
//! sent::register::<MyError<std::io::Error>>(|e| match e {
//!     MyError::Refused => Sent::No,
//!     MyError::Inner(inner) => Sent::Inner(inner),
//! });
//! let refused: MyError<std::io::Error> = MyError::Refused;
//! assert!(matches!(sent::verdict(&refused), Sent::No));
//! let inner = MyError::Inner(std::io::Error::other("reset"));
//! let Sent::Inner(next) = sent::verdict(&inner) else { panic!() };
//! assert!(next.downcast_ref::<std::io::Error>().is_some());
//! assert!(matches!(sent::verdict(&"unregistered"), Sent::Unknown));
//! ```

use std::any::{Any, TypeId};
use std::sync::{PoisonError, RwLock};

/// What an error says about whether its request was sent.
#[derive(Debug)]
pub enum Sent<'a> {
    /// The request was not sent: it may be sent again, whatever its method.
    No,
    /// The request was not sent because a layer refused it, and this is why (the
    /// breaker's `Overloaded` or `CircuitOpen`, say): it may be sent again, whatever its
    /// method, and an observer can read the refusal without knowing the refusing layer's
    /// generic error type.
    Refused(&'a (dyn Any + 'static)),
    /// The error wraps another one (an inner service's), which may know.
    Inner(&'a (dyn Any + 'static)),
    /// Nothing is known (the type is not registered, or the error does not say).
    Unknown,
}

type Check = Box<dyn for<'a> Fn(&'a (dyn Any + 'static)) -> Sent<'a> + Send + Sync>;

static CHECKS: RwLock<Vec<(TypeId, Check)>> = RwLock::new(Vec::new());

/// Registers how errors of type `T` tell whether their request was sent. Registering a
/// type again keeps the first registration (cheap: a read lock when already there).
pub fn register<T: Any>(check: fn(&T) -> Sent<'_>) {
    let id = TypeId::of::<T>();
    if is_registered(id) {
        return;
    }
    let mut checks = CHECKS.write().unwrap_or_else(PoisonError::into_inner);
    if checks.iter().any(|(t, _)| *t == id) {
        return;
    }
    checks.push((
        id,
        Box::new(move |any| match any.downcast_ref::<T>() {
            Some(e) => check(e),
            None => Sent::Unknown,
        }),
    ));
}

fn is_registered(id: TypeId) -> bool {
    CHECKS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .any(|(t, _)| *t == id)
}

/// What a registered error type says about `error`; [`Sent::Unknown`] for other types.
pub fn verdict<'a>(error: &'a (dyn Any + 'static)) -> Sent<'a> {
    let id = error.type_id();
    let checks = CHECKS.read().unwrap_or_else(PoisonError::into_inner);
    match checks.iter().find(|(t, _)| *t == id) {
        Some((_, check)) => check(error),
        None => Sent::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Wrapper(Option<u8>);

    #[test]
    fn registered_types_answer_and_others_do_not() {
        register::<Wrapper>(|w| match &w.0 {
            None => Sent::No,
            Some(inner) => Sent::Inner(inner),
        });
        // A second registration is ignored.
        register::<Wrapper>(|_| Sent::Unknown);
        assert!(matches!(verdict(&Wrapper(None)), Sent::No));
        let w = Wrapper(Some(7));
        let Sent::Inner(inner) = verdict(&w) else {
            panic!("expected the inner error");
        };
        assert_eq!(inner.downcast_ref::<u8>(), Some(&7));
        assert!(matches!(verdict(&7u8), Sent::Unknown));
    }

    struct Refusing(&'static str);

    #[test]
    fn a_refusal_hands_over_why() {
        register::<Refusing>(|r| Sent::Refused(&r.0));
        let Sent::Refused(why) = verdict(&Refusing("overloaded")) else {
            panic!("expected the refusal");
        };
        assert_eq!(why.downcast_ref::<&str>(), Some(&"overloaded"));
    }
}
