//! [`PollBody`]: the body of the responses the layer returns.
//!
//! Usually the inner body itself (responses that did not start polling pass through
//! untouched, with no allocation). When the layer read a prefix of a status response's
//! body to find a [`StatusField`](crate::StatusField), the body replays the frames it read
//! (the same [`Bytes`], not copies), then continues with the rest of the inner body, so
//! the caller reads exactly what the server sent.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

pin_project_lite::pin_project! {
    /// The body of a response returned by [`AsyncPoll`](crate::AsyncPoll): the inner body,
    /// with the frames the layer read ahead replayed first.
    ///
    /// Its data is [`Bytes`]; the inner body's data chunks are converted with
    /// [`Buf::copy_to_bytes`], which for `Bytes` data (hyper, http-body-util) takes the
    /// chunk itself without copying.
    pub struct PollBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B>
    where
        B: Body,
    {
        Plain { #[pin] body: B },
        Prefixed { prefix: Prefix<B> },
    }
}

impl<B: Body> PollBody<B> {
    /// The inner body, passed through.
    pub(crate) fn plain(body: B) -> Self {
        Self {
            kind: Kind::Plain { body },
        }
    }

    /// A body whose prefix was read ahead.
    pub(crate) fn prefixed(prefix: Prefix<B>) -> Self {
        Self {
            kind: Kind::Prefixed { prefix },
        }
    }

    /// Whether the layer read part of this body ahead (to find a status field).
    pub fn is_prefixed(&self) -> bool {
        matches!(self.kind, Kind::Prefixed { .. })
    }
}

impl<B> Body for PollBody<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Plain { body } => body.poll_frame(cx).map(|frame| {
                frame.map(|result| {
                    result.map(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining())))
                })
            }),
            KindProj::Prefixed { prefix } => prefix.poll_replay(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Plain { body } => body.is_end_stream(),
            Kind::Prefixed { prefix } => prefix.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Plain { body } => body.size_hint(),
            Kind::Prefixed { prefix } => prefix.size_hint(),
        }
    }
}

impl<B> fmt::Debug for PollBody<B>
where
    B: Body + fmt::Debug,
    B::Error: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Plain { body } => f.debug_tuple("PollBody").field(body).finish(),
            Kind::Prefixed { prefix } => f.debug_tuple("PollBody").field(prefix).finish(),
        }
    }
}

// === impl Prefix ===

/// A body being read ahead up to a limit, then replayed: the frames read so far, the
/// trailers or error that ended it, and the rest of the body.
pub(crate) struct Prefix<B: Body> {
    chunks: VecDeque<Bytes>,
    /// Data bytes in `chunks` not yet replayed.
    buffered: usize,
    /// Data bytes read ahead in total.
    read: usize,
    trailers: Option<HeaderMap>,
    error: Option<B::Error>,
    /// The rest of the body; `None` once it ended (or failed).
    rest: Option<Pin<Box<B>>>,
}

impl<B: Body> Prefix<B> {
    pub(crate) fn new(body: B) -> Self {
        let ended = body.is_end_stream();
        Self {
            chunks: VecDeque::new(),
            buffered: 0,
            read: 0,
            trailers: None,
            error: None,
            rest: (!ended).then(|| Box::pin(body)),
        }
    }

    /// Reads ahead until the body ends, fails, or more than `limit` data bytes were read.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>, limit: usize) -> Poll<()> {
        loop {
            if self.read > limit {
                return Poll::Ready(());
            }
            let Some(rest) = self.rest.as_mut() else {
                return Poll::Ready(());
            };
            if rest.is_end_stream() {
                self.rest = None;
                return Poll::Ready(());
            }
            match ready!(rest.as_mut().poll_frame(cx)) {
                None => self.rest = None,
                Some(Err(e)) => {
                    self.error = Some(e);
                    self.rest = None;
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let bytes = data.copy_to_bytes(data.remaining());
                        if !bytes.is_empty() {
                            self.read = self.read.saturating_add(bytes.len());
                            self.buffered += bytes.len();
                            self.chunks.push_back(bytes);
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            match &mut self.trailers {
                                Some(existing) => existing.extend(trailers),
                                None => self.trailers = Some(trailers),
                            }
                        }
                    }
                },
            }
        }
    }

    /// Whether the whole body was read (it ended without an error).
    pub(crate) fn is_complete(&self) -> bool {
        self.rest.is_none() && self.error.is_none()
    }

    /// The data read ahead, in the frames it came in.
    pub(crate) fn chunks(&mut self) -> &[Bytes] {
        self.chunks.make_contiguous()
    }

    fn poll_replay(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            self.buffered -= chunk.len();
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(rest) = self.rest.as_mut() {
            let frame = ready!(rest.as_mut().poll_frame(cx));
            if frame.is_none() {
                self.rest = None;
            } else {
                return Poll::Ready(frame.map(|result| {
                    result.map(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining())))
                }));
            }
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
            && self.trailers.is_none()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(|rest| rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let buffered = self.buffered as u64;
        let mut hint = SizeHint::new();
        match &self.rest {
            None => hint.set_exact(buffered),
            Some(rest) => {
                let inner = rest.size_hint();
                hint.set_lower(inner.lower().saturating_add(buffered));
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper.saturating_add(buffered));
                }
            }
        }
        hint
    }
}

impl<B> fmt::Debug for Prefix<B>
where
    B: Body + fmt::Debug,
    B::Error: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefix")
            .field("chunks", &self.chunks.len())
            .field("buffered", &self.buffered)
            .field("trailers", &self.trailers.is_some())
            .field("error", &self.error)
            .field("rest", &self.rest)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use recourse_testkit::body::Frames;

    fn stream(frames: Vec<Result<Frame<Bytes>, &'static str>>) -> Frames<&'static str> {
        Frames::new(frames)
    }

    fn fill<B: Body>(prefix: &mut Prefix<B>, limit: usize) {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(prefix.poll_fill(&mut cx, limit).is_ready());
    }

    #[tokio::test]
    async fn plain_passes_through_without_copy() {
        let data = Bytes::from_static(b"hello");
        let ptr = data.as_ptr();
        let body = PollBody::plain(Full::new(data));
        assert!(!body.is_prefixed());
        assert_eq!(body.size_hint().exact(), Some(5));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got.as_ptr(), ptr);
    }

    #[tokio::test]
    async fn prefix_replays_the_same_bytes_then_the_rest() {
        let a = Bytes::from_static(b"{\"status\":");
        let b = Bytes::from_static(b"\"running\"}");
        let c = Bytes::from_static(b"tail");
        let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_ptr());
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", "1".parse().unwrap());
        let body = stream(vec![
            Ok(Frame::data(a)),
            Ok(Frame::data(b)),
            Ok(Frame::data(c)),
            Ok(Frame::trailers(trailers)),
        ]);
        let mut prefix = Prefix::new(body);
        fill(&mut prefix, 12);
        assert!(!prefix.is_complete(), "stopped after the limit");
        assert_eq!(prefix.chunks().len(), 2);
        let mut body = PollBody::prefixed(prefix);
        assert!(body.is_prefixed());
        let mut ptrs = Vec::new();
        let mut got_trailers = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap();
            match frame.into_data() {
                Ok(d) => ptrs.push(d.as_ptr()),
                Err(f) => got_trailers = f.into_trailers().ok(),
            }
        }
        assert_eq!(ptrs, [pa, pb, pc], "the very same chunks, in order");
        assert_eq!(got_trailers.unwrap()["x-t"], "1");
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn complete_prefix_keeps_trailers_and_errors() {
        let body = stream(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err("boom"),
        ]);
        let mut prefix = Prefix::new(body);
        fill(&mut prefix, 1024);
        assert!(!prefix.is_complete(), "an error is not a complete body");
        let mut body = PollBody::prefixed(prefix);
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "ab"
        );
        assert_eq!(body.frame().await.unwrap().unwrap_err(), "boom");
        assert!(body.frame().await.is_none());

        let full = Full::new(Bytes::from_static(b"{}"));
        let mut prefix: Prefix<Full<Bytes>> = Prefix::new(full);
        fill(&mut prefix, 1024);
        assert!(prefix.is_complete());
        let body = PollBody::prefixed(prefix);
        assert_eq!(body.size_hint().exact(), Some(2));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got, "{}");
    }
}
