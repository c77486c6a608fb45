//! [`Live`]: a request that must see the origin's current state.

/// Marks a request that must observe the origin's current state (a request extension).
///
/// The poll layer marks every status request with it: a job's status changes while the
/// stored copy does not, so a cache below must not answer it again and again from one
/// stored response. A cache that sees `Live` treats the request as if it carried
/// `Cache-Control: no-cache` (RFC 9111 §5.2.1.4): it may use what it stored, but only after
/// the origin confirmed it (a conditional request answered `304 Not Modified`), and it
/// never answers from a heuristically or explicitly fresh entry alone.
///
/// ```
/// use http::Request;
/// use recourse_core::Live;
///
/// let mut req = Request::new(());
/// assert!(!Live::is_set(&req));
/// Live.insert_into(&mut req);
/// assert!(Live::is_set(&req));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Live;

impl Live {
    /// Whether `req` is marked.
    pub fn is_set<B>(req: &http::Request<B>) -> bool {
        req.extensions().get::<Live>().is_some()
    }

    /// Marks `req`.
    pub fn insert_into<B>(self, req: &mut http::Request<B>) {
        req.extensions_mut().insert(self);
    }
}
