//! [`RedirectBody`]: the request body the inner service receives.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use recourse_core::BoxError;
use recourse_core::body::{ReplayBody, ReplayError};

/// The body of each request the inner service receives from [`Redirect`](crate::Redirect):
/// the caller's body made replayable ([`ReplayBody`]), or no body at all on a hop that
/// dropped it (a 303, or a 301/302 that turned a POST into a GET).
///
/// Build a `hyper_util` client for it:
/// `Client::builder(TokioExecutor::new()).build_http::<RedirectBody<Full<Bytes>>>()`.
pub struct RedirectBody<B> {
    inner: Option<ReplayBody<B>>,
}

impl<B> RedirectBody<B> {
    /// A body with no bytes (the request has no content).
    pub fn empty() -> Self {
        Self { inner: None }
    }

    /// Sends `body`.
    pub fn replay(body: ReplayBody<B>) -> Self {
        Self { inner: Some(body) }
    }

    /// Whether this is the [`empty`](Self::empty) body of a hop that dropped the content.
    pub fn is_dropped(&self) -> bool {
        self.inner.is_none()
    }

    /// The replayable body, unless the content was dropped.
    pub fn into_replay(self) -> Option<ReplayBody<B>> {
        self.inner
    }
}

impl<B> From<ReplayBody<B>> for RedirectBody<B> {
    fn from(body: ReplayBody<B>) -> Self {
        Self::replay(body)
    }
}

impl<B> Default for RedirectBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> Body for RedirectBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = ReplayError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ReplayError>>> {
        // `ReplayBody` is `Unpin` whatever `B` is (it holds `B` behind an `Arc`).
        match &mut self.get_mut().inner {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(body) => body.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}

impl<B> fmt::Debug for RedirectBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Some(body) => f.debug_tuple("RedirectBody").field(body).finish(),
            None => f.write_str("RedirectBody::Empty"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn empty_and_replayed() {
        let empty = RedirectBody::<Full<Bytes>>::empty();
        assert!(empty.is_dropped());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert_eq!(empty.collect().await.unwrap().to_bytes(), "");

        let body = RedirectBody::from(ReplayBody::new(Full::new(Bytes::from("abc")), 16));
        assert!(!body.is_dropped());
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(format!("{body:?}").contains("RedirectBody"));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    }
}
