//! [`PollRequestBody`]: the request body the inner service receives.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

pin_project_lite::pin_project! {
    /// The body of each request the inner service receives from
    /// [`AsyncPoll`](crate::AsyncPoll): the caller's body, untouched, on the original
    /// request; no body at all on the requests the layer makes of its own (the status
    /// `GET`s, the result `GET`, the polls of a resumed job).
    ///
    /// With it the layer needs nothing of the caller's body type: no `Default` (so
    /// `hyper::body::Incoming` or any streaming body goes through), no boxing, no copy.
    /// Its data and error types are the caller's body's. Build a `hyper_util` client for
    /// it: `Client::builder(TokioExecutor::new()).build_http::<PollRequestBody<Full<Bytes>>>()`.
    pub struct PollRequestBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Caller { #[pin] body: B },
        Empty,
    }
}

impl<B> PollRequestBody<B> {
    /// The caller's body, sent as it is.
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Caller { body },
        }
    }

    /// No body (a request the layer makes of its own).
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// Whether this is the [`empty`](Self::empty) body of a request the layer made of its
    /// own (not the caller's body, even an empty one).
    pub fn is_empty(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }

    /// The caller's body, unless this is the layer's own empty body.
    pub fn into_inner(self) -> Option<B> {
        match self.kind {
            Kind::Caller { body } => Some(body),
            Kind::Empty => None,
        }
    }
}

impl<B> Default for PollRequestBody<B> {
    /// The [`empty`](Self::empty) body.
    fn default() -> Self {
        Self::empty()
    }
}

impl<B: Body> Body for PollRequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Caller { body } => body.poll_frame(cx),
            KindProj::Empty => Poll::Ready(None),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Caller { body } => body.is_end_stream(),
            Kind::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Caller { body } => body.size_hint(),
            Kind::Empty => SizeHint::with_exact(0),
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for PollRequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Caller { body } => f.debug_tuple("PollRequestBody").field(body).finish(),
            Kind::Empty => f.write_str("PollRequestBody::Empty"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn caller_body_and_empty() {
        let empty = PollRequestBody::<Full<Bytes>>::empty();
        assert!(empty.is_empty());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(format!("{empty:?}").contains("Empty"));
        assert_eq!(empty.collect().await.unwrap().to_bytes(), "");
        assert!(PollRequestBody::<Full<Bytes>>::default().is_empty());

        let data = Bytes::from_static(b"abc");
        let ptr = data.as_ptr();
        let body = PollRequestBody::new(Full::new(data));
        assert!(!body.is_empty());
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(format!("{body:?}").contains("PollRequestBody"));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got.as_ptr(), ptr, "the caller's bytes, not a copy");
        assert!(
            PollRequestBody::new(Full::new(Bytes::new()))
                .into_inner()
                .is_some()
        );
        assert!(
            PollRequestBody::<Full<Bytes>>::empty()
                .into_inner()
                .is_none()
        );
    }
}
