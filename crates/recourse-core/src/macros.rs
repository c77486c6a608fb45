//! Macros the layer crates share.

/// Defines `get_ref`, `get_mut` and `into_inner` on a middleware whose inner service is
/// the field `inner`: the same three accessors, with the same docs, on every layer's
/// service.
///
/// ```
/// pub struct Wrapper<S> {
///     inner: S,
/// }
///
/// impl<S> Wrapper<S> {
///     recourse_core::inner_service_accessors!();
/// }
///
/// let mut w = Wrapper { inner: 1 };
/// *w.get_mut() += 1;
/// assert_eq!(*w.get_ref(), 2);
/// assert_eq!(w.into_inner(), 2);
/// ```
#[macro_export]
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Takes the inner service out, dropping the middleware.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}
