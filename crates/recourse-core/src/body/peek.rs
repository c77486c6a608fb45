//! [`Peek`] and [`PeekBody`]: read a bounded prefix of a response body, then hand the whole
//! body on unchanged.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

/// What polling a body for its next frame gives.
type PolledFrame<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

/// The fewest frames a peek may hold, whatever its byte limit.
const MIN_FRAMES: usize = 64;

/// A peek may hold one frame per this many bytes of its limit (on average).
const BYTES_PER_FRAME: usize = 256;

/// Frames read in one `poll_peek` call before yielding to other tasks.
const FRAMES_PER_POLL: usize = 32;

/// How a [`Peek`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peeked {
    /// The whole body was read, within the limits.
    Complete,
    /// The body holds more than the byte limit (or arrived in more frames than the peek
    /// may hold); what was read is kept, the rest is still unread.
    Overflow,
    /// The body failed; its error is kept and handed on after the frames read.
    Failed,
}

/// A response body being read ahead, up to a limit, to look at its first bytes (a JSON
/// result code, a status field) without taking it from the caller.
///
/// One rule for every layer that peeks (classify's body codes, poll's status field):
///
/// - at most `limit` data bytes are looked at: a body over the limit is an
///   [`Overflow`](Peeked::Overflow), and the caller decides without it;
/// - at most `limit / 256` frames (and at least 64) are read: each held frame can pin a
///   whole read buffer of the connection, so a server that dribbles one byte per frame
///   cannot make a small limit hold megabytes, and one that sends empty frames (which are
///   dropped, not held) cannot keep the peek reading forever;
/// - frames are kept as they came (the same `Data` values, never copied) and
///   [`into_body`](Peek::into_body) hands them on in order, then any trailers or error,
///   then the rest of the body as it streams: the caller reads exactly what the server
///   sent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use recourse_core::body::{Peek, Peeked};
///
/// let mut peek = Peek::new(Full::new(Bytes::from_static(b"{\"code\":0}")), 1024);
/// assert_eq!(std::future::poll_fn(|cx| peek.poll_peek(cx)).await, Peeked::Complete);
/// assert_eq!(peek.bytes().as_deref(), Some(&b"{\"code\":0}"[..]));
///
/// // The caller still gets every byte.
/// let body = peek.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(body, "{\"code\":0}");
/// # }
/// ```
///
/// A `Peek` is one pointer: the body and what was read live in one allocation, made by
/// [`Peek::new`], so that a future or a [`PeekBody`] holding one stays small and a body
/// that is never peeked at costs nothing.
pub struct Peek<B: Body> {
    inner: Pin<Box<Inner<B>>>,
}

pin_project_lite::pin_project! {
    /// The state of a [`Peek`], behind its one pointer.
    struct Inner<B: Body> {
        #[pin]
        body: B,
        frames: VecDeque<Frame<B::Data>>,
        // Data bytes held in `frames`.
        buffered: u64,
        // Frames read, empty ones included (they are not held, but they count).
        seen: usize,
        error: Option<B::Error>,
        // The inner body ended or failed: never poll it again.
        done: bool,
        limit: usize,
    }
}

impl<B: Body> Peek<B> {
    /// Starts a peek at `body` that looks at no more than `limit` bytes.
    pub fn new(body: B, limit: usize) -> Self {
        let done = body.is_end_stream();
        Peek {
            inner: Box::pin(Inner {
                body,
                frames: VecDeque::new(),
                buffered: 0,
                seen: 0,
                error: None,
                done,
                limit,
            }),
        }
    }

    /// Reads ahead until the body ends, fails, or passes the limits.
    ///
    /// Call it until it is ready; calling it again after that returns the same answer.
    pub fn poll_peek(&mut self, cx: &mut Context<'_>) -> Poll<Peeked> {
        let mut this = self.inner.as_mut().project();
        let bound = u64::try_from(*this.limit).unwrap_or(u64::MAX);
        let max_frames = (*this.limit / BYTES_PER_FRAME).max(MIN_FRAMES);
        for _ in 0..FRAMES_PER_POLL {
            if this.error.is_some() {
                return Poll::Ready(Peeked::Failed);
            }
            if *this.buffered > bound || *this.seen >= max_frames {
                return Poll::Ready(Peeked::Overflow);
            }
            if *this.done || this.body.is_end_stream() {
                *this.done = true;
                return Poll::Ready(Peeked::Complete);
            }
            match ready!(this.body.as_mut().poll_frame(cx)) {
                None => *this.done = true,
                Some(Err(e)) => {
                    *this.error = Some(e);
                    *this.done = true;
                }
                Some(Ok(frame)) => {
                    *this.seen += 1;
                    if let Some(data) = frame.data_ref() {
                        if !data.has_remaining() {
                            continue;
                        }
                        *this.buffered = this.buffered.saturating_add(data_len(data));
                    }
                    this.frames.push_back(frame);
                }
            }
        }
        // A long run of ready frames: let other tasks run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Whether the whole body was read without an error.
    pub fn is_complete(&self) -> bool {
        self.inner.done && self.inner.error.is_none()
    }

    /// The data bytes read so far, as one slice: borrowed when they came in one piece (the
    /// usual case), copied into one buffer when they came in several. `None` when a data
    /// chunk cannot be read without consuming it (a `Buf` in more pieces than one vectored
    /// read returns; hyper's `Bytes` never is).
    pub fn bytes(&self) -> Option<Cow<'_, [u8]>> {
        let inner = &*self.inner;
        let mut data = inner.frames.iter().filter_map(Frame::data_ref);
        match (data.next(), data.next()) {
            (None, _) => Some(Cow::Borrowed(&[])),
            (Some(only), None) if only.chunk().len() == only.remaining() => {
                Some(Cow::Borrowed(only.chunk()))
            }
            _ => {
                let mut buf = Vec::with_capacity(usize::try_from(inner.buffered).unwrap_or(0));
                for data in inner.frames.iter().filter_map(Frame::data_ref) {
                    if !copy_buf(data, &mut buf) {
                        return None;
                    }
                }
                Some(Cow::Owned(buf))
            }
        }
    }

    /// The body to hand on: the frames read, then any error, then the rest of the body.
    pub fn into_body(self) -> PeekBody<B> {
        PeekBody {
            kind: Kind::Peeked { peek: self },
        }
    }

    fn poll_replay(&mut self, cx: &mut Context<'_>) -> PolledFrame<B> {
        let this = self.inner.as_mut().project();
        if let Some(frame) = this.frames.pop_front() {
            if let Some(data) = frame.data_ref() {
                *this.buffered = this.buffered.saturating_sub(data_len(data));
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(error) = this.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        let polled = this.body.poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            *this.done = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let inner = &*self.inner;
        inner.frames.is_empty()
            && inner.error.is_none()
            && (inner.done || inner.body.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let inner = &*self.inner;
        if inner.done {
            return SizeHint::with_exact(inner.buffered);
        }
        let rest = inner.body.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(inner.buffered));
        if let Some(upper) = rest.upper().and_then(|u| u.checked_add(inner.buffered)) {
            hint.set_upper(upper);
        }
        hint
    }
}

impl<B: Body> fmt::Debug for Peek<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Peek")
            .field("frames", &inner.frames.len())
            .field("buffered", &inner.buffered)
            .field("error", &inner.error.is_some())
            .field("done", &inner.done)
            .field("limit", &inner.limit)
            .finish_non_exhaustive()
    }
}

fn data_len<D: Buf>(data: &D) -> u64 {
    u64::try_from(data.remaining()).unwrap_or(u64::MAX)
}

/// Appends all of `data` to `buf` without consuming it; `false` when that cannot be done.
fn copy_buf<D: Buf>(data: &D, buf: &mut Vec<u8>) -> bool {
    if data.chunk().len() == data.remaining() {
        buf.extend_from_slice(data.chunk());
        return true;
    }
    let mut slices = [std::io::IoSlice::new(&[]); 64];
    let n = data.chunks_vectored(&mut slices);
    let mut copied = 0;
    for slice in &slices[..n] {
        buf.extend_from_slice(slice);
        copied += slice.len();
    }
    copied == data.remaining()
}

// === PeekBody ===

pin_project_lite::pin_project! {
    /// A response body that a layer may have peeked at: the inner body, byte for byte and
    /// frame for frame.
    ///
    /// When nothing was peeked (the common case) it is the inner body itself, polled
    /// directly, at no cost, and one word larger at most (a [`Peek`] is one pointer). When a [`Peek`] read a prefix, it yields the frames read (the
    /// same values, not copies), then the error that ended the read if any, then the rest
    /// of the inner body as it streams.
    pub struct PeekBody<B: Body> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B: Body> {
        Plain { #[pin] body: B },
        Peeked { peek: Peek<B> },
    }
}

impl<B: Body> PeekBody<B> {
    /// The inner body, not peeked at.
    pub fn new(body: B) -> Self {
        PeekBody {
            kind: Kind::Plain { body },
        }
    }

    /// Whether a layer read a prefix of this body.
    pub fn is_peeked(&self) -> bool {
        matches!(self.kind, Kind::Peeked { .. })
    }
}

impl<B: Body> From<Peek<B>> for PeekBody<B> {
    fn from(peek: Peek<B>) -> Self {
        peek.into_body()
    }
}

impl<B: Body + Default> Default for PeekBody<B> {
    fn default() -> Self {
        PeekBody::new(B::default())
    }
}

impl<B: Body> Body for PeekBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Plain { body } => body.poll_frame(cx),
            KindProj::Peeked { peek } => peek.poll_replay(cx),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Plain { body } => body.is_end_stream(),
            Kind::Peeked { peek } => peek.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Plain { body } => body.size_hint(),
            Kind::Peeked { peek } => peek.size_hint(),
        }
    }
}

impl<B: Body> fmt::Debug for PeekBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Plain { .. } => f.debug_struct("PeekBody").finish_non_exhaustive(),
            Kind::Peeked { peek } => f.debug_tuple("PeekBody").field(peek).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;
    use http_body_util::{BodyExt, Full};

    use recourse_testkit::body::Frames;

    fn frames(frames: Vec<Result<Frame<Bytes>, &'static str>>) -> Frames<&'static str> {
        Frames::new(frames)
    }

    async fn peek<B: Body>(peek: &mut Peek<B>) -> Peeked {
        std::future::poll_fn(|cx| peek.poll_peek(cx)).await
    }

    #[tokio::test]
    async fn plain_passes_through_without_copy() {
        let data = Bytes::from_static(b"hello");
        let ptr = data.as_ptr();
        let body = PeekBody::new(Full::new(data));
        assert!(!body.is_peeked());
        assert_eq!(body.size_hint().exact(), Some(5));
        assert_eq!(body.collect().await.unwrap().to_bytes().as_ptr(), ptr);
    }

    #[tokio::test]
    async fn replays_the_same_chunks_then_the_rest_and_trailers() {
        let a = Bytes::from_static(b"{\"status\":");
        let b = Bytes::from_static(b"\"running\"}");
        let c = Bytes::from_static(b"tail");
        let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_ptr());
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", "1".parse().unwrap());
        let body = frames(vec![
            Ok(Frame::data(a)),
            Ok(Frame::data(b)),
            Ok(Frame::data(c)),
            Ok(Frame::trailers(trailers)),
        ]);
        let mut p = Peek::new(body, 12);
        assert_eq!(peek(&mut p).await, Peeked::Overflow);
        assert!(!p.is_complete());
        assert_eq!(p.bytes().unwrap().as_ref(), b"{\"status\":\"running\"}");
        let mut body = p.into_body();
        assert!(body.is_peeked());
        let (mut ptrs, mut got) = (Vec::new(), None);
        while let Some(frame) = body.frame().await {
            match frame.unwrap().into_data() {
                Ok(d) => ptrs.push(d.as_ptr()),
                Err(f) => got = f.into_trailers().ok(),
            }
        }
        assert_eq!(ptrs, [pa, pb, pc], "the very same chunks, in order");
        assert_eq!(got.unwrap()["x-t"], "1");
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn an_error_is_kept_and_handed_on_after_the_data() {
        let body = frames(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err("boom"),
        ]);
        let mut p = Peek::new(body, 1024);
        assert_eq!(peek(&mut p).await, Peeked::Failed);
        assert!(!p.is_complete());
        let mut body = p.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        assert_eq!(body.frame().await.unwrap().unwrap_err(), "boom");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn complete_body_has_an_exact_size() {
        let mut p = Peek::new(Full::new(Bytes::from_static(b"{}")), 1024);
        assert_eq!(peek(&mut p).await, Peeked::Complete);
        assert!(p.is_complete());
        assert!(matches!(p.bytes(), Some(Cow::Borrowed(b"{}"))));
        let body = p.into_body();
        assert_eq!(body.size_hint().exact(), Some(2));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "{}");
    }

    #[tokio::test]
    async fn dribbled_frames_are_bounded_by_count() {
        let dribble = (0..1000)
            .map(|_| Ok(Frame::data(Bytes::from_static(b"x"))))
            .collect();
        let mut p = Peek::new(frames(dribble), 1024);
        assert_eq!(peek(&mut p).await, Peeked::Overflow);
        assert_eq!(p.inner.frames.len(), MIN_FRAMES, "1 KiB may hold 64 frames");
        // Nothing is lost: every byte still reaches the caller.
        let all = p.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), 1000);
    }

    #[tokio::test]
    async fn empty_frames_count_toward_the_frame_bound() {
        let mut script: Vec<_> = (0..5000).map(|_| Ok(Frame::data(Bytes::new()))).collect();
        script.push(Ok(Frame::data(Bytes::from_static(b"{}"))));
        let mut p = Peek::new(frames(script), 100);
        assert_eq!(peek(&mut p).await, Peeked::Overflow);
        assert!(p.inner.frames.is_empty(), "empty frames are not held");
        let all = p.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(all, "{}", "the rest still reaches the caller");
    }

    #[test]
    fn a_peek_is_one_pointer_and_a_plain_body_grows_by_a_word_at_most() {
        use std::mem::size_of;
        type Full32 = Full<Bytes>;
        let word = size_of::<usize>();
        assert_eq!(size_of::<Peek<Full32>>(), word);
        assert!(size_of::<PeekBody<Full32>>() <= size_of::<Full32>() + word);
        // Layers that each wrap the body (classify, poll, the deadline) add a word each.
        assert!(size_of::<PeekBody<PeekBody<Full32>>>() <= size_of::<Full32>() + 2 * word);
        assert!(
            size_of::<http::Response<PeekBody<Full32>>>()
                <= size_of::<http::Response<Full32>>() + word
        );
        // An error type held only while peeking does not grow the plain body either.
        type Boxed = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;
        assert!(size_of::<PeekBody<Boxed>>() <= size_of::<Boxed>() + word);
    }

    #[tokio::test]
    async fn empty_body_is_complete_at_once() {
        let mut p = Peek::new(http_body_util::Empty::<Bytes>::new(), 10);
        assert_eq!(peek(&mut p).await, Peeked::Complete);
        assert_eq!(p.bytes().unwrap().as_ref(), b"");
    }
}
