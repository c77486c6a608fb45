//! [`OrEmpty`]: the caller's body, or no body at all on a request a layer makes of its own.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

pin_project_lite::pin_project! {
    /// The caller's request body, untouched, or no body at all: the body type of the
    /// requests a layer sends down to its inner service when some of them are its own.
    ///
    /// The poll layer's inner service receives the caller's body on the original request
    /// and an empty one on its status and result `GET`s (`PollRequestBody<B>` is this
    /// type); the redirect layer's receives the replayable caller's body, or an empty one
    /// on a hop that dropped the content, a 303 say (`RedirectBody<B>` is
    /// `OrEmpty<ReplayBody<B>>`).
    ///
    /// With it a layer needs nothing of the caller's body type: no `Default` (so
    /// `hyper::body::Incoming` or any streaming body goes through), no boxing, no copy. Its
    /// data and error types are the wrapped body's.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use bytes::Bytes;
    /// use http_body::Body as _;
    /// use http_body_util::{BodyExt, Full};
    /// use recourse_core::body::OrEmpty;
    ///
    /// let own = OrEmpty::<Full<Bytes>>::empty();
    /// assert!(own.is_empty() && own.is_end_stream());
    /// let callers = OrEmpty::new(Full::new(Bytes::from_static(b"abc")));
    /// assert_eq!(callers.collect().await.unwrap().to_bytes(), "abc");
    /// # }
    /// ```
    pub struct OrEmpty<B> {
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

impl<B> OrEmpty<B> {
    /// The caller's body, sent as it is.
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Caller { body },
        }
    }

    /// No body (a request a layer makes of its own).
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// Whether this is the [`empty`](Self::empty) body of a request a layer made of its
    /// own (not the caller's body, even an empty one).
    pub fn is_empty(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }

    /// The caller's body, unless this is a layer's own empty body.
    pub fn into_inner(self) -> Option<B> {
        match self.kind {
            Kind::Caller { body } => Some(body),
            Kind::Empty => None,
        }
    }
}

impl<B> Default for OrEmpty<B> {
    /// The [`empty`](Self::empty) body.
    fn default() -> Self {
        Self::empty()
    }
}

impl<B: Body> Body for OrEmpty<B> {
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

impl<B: fmt::Debug> fmt::Debug for OrEmpty<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Caller { body } => f.debug_tuple("OrEmpty").field(body).finish(),
            Kind::Empty => f.write_str("OrEmpty::Empty"),
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
        let empty = OrEmpty::<Full<Bytes>>::empty();
        assert!(empty.is_empty());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(format!("{empty:?}").contains("Empty"));
        assert_eq!(empty.collect().await.unwrap().to_bytes(), "");
        assert!(OrEmpty::<Full<Bytes>>::default().is_empty());

        let data = Bytes::from_static(b"abc");
        let ptr = data.as_ptr();
        let body = OrEmpty::new(Full::new(data));
        assert!(!body.is_empty());
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(format!("{body:?}").contains("OrEmpty"));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got.as_ptr(), ptr, "the caller's bytes, not a copy");
        assert!(OrEmpty::new(Full::new(Bytes::new())).into_inner().is_some());
        assert!(OrEmpty::<Full<Bytes>>::empty().into_inner().is_none());
    }
}
