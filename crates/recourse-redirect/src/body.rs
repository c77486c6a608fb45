//! [`RedirectBody`]: the request body the inner service receives.

use recourse_core::body::{OrEmpty, ReplayBody};

/// The body of each request the inner service receives from [`Redirect`](crate::Redirect):
/// the caller's body made replayable ([`ReplayBody`]), or no body at all on a hop that
/// dropped it (a 303, or a 301/302 that turned a POST into a GET).
///
/// It is core's [`OrEmpty`] around a [`ReplayBody`], the one body type every layer uses
/// for the requests it makes of its own: [`OrEmpty::new`] sends the replayable body,
/// [`OrEmpty::empty`] none, [`OrEmpty::is_empty`] tells a dropped body, and
/// [`OrEmpty::into_inner`] gives the replayable body back.
///
/// Build a `hyper_util` client for it:
/// `Client::builder(TokioExecutor::new()).build_http::<RedirectBody<Full<Bytes>>>()`.
pub type RedirectBody<B> = OrEmpty<ReplayBody<B>>;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body::Body as _;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn empty_and_replayed() {
        let empty = RedirectBody::<Full<Bytes>>::empty();
        assert!(empty.is_empty());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert_eq!(empty.collect().await.unwrap().to_bytes(), "");

        let body = RedirectBody::new(ReplayBody::new(Full::new(Bytes::from("abc")), 16));
        assert!(!body.is_empty());
        assert_eq!(body.size_hint().exact(), Some(3));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    }
}
