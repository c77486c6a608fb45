//! [`ReplayBody`]: a request body that can be sent more than once.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use crate::BoxError;

// === NotReplayable ===

/// Why a [`ReplayBody`] cannot be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotReplayable {
    /// The streamed body grew past the buffering cap, so it was not kept.
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The body failed while an earlier attempt was reading it.
    Failed,
}

impl fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReplayable::TooLarge { limit } => write!(
                f,
                "the request body is larger than the replay buffer ({limit} bytes) and cannot be sent again"
            ),
            NotReplayable::Failed => f.write_str(
                "the request body failed during an earlier attempt and cannot be sent again",
            ),
        }
    }
}

impl std::error::Error for NotReplayable {}

// === ReplayError ===

/// The error type of a [`ReplayBody`].
pub struct ReplayError {
    kind: ErrorKind,
}

enum ErrorKind {
    Inner(BoxError),
    NotReplayable(NotReplayable),
}

impl ReplayError {
    fn inner(e: impl Into<BoxError>) -> Self {
        Self {
            kind: ErrorKind::Inner(e.into()),
        }
    }

    fn not_replayable(why: NotReplayable) -> Self {
        Self {
            kind: ErrorKind::NotReplayable(why),
        }
    }

    /// Whether this is an error of the wrapped body (as opposed to a refusal to replay).
    pub fn is_inner(&self) -> bool {
        matches!(self.kind, ErrorKind::Inner(_))
    }

    /// Why the body could not be replayed, when that is the error.
    pub fn not_replayable_reason(&self) -> Option<NotReplayable> {
        match self.kind {
            ErrorKind::NotReplayable(why) => Some(why),
            ErrorKind::Inner(_) => None,
        }
    }

    /// The wrapped body's error, if that is what this is.
    pub fn into_inner(self) -> Option<BoxError> {
        match self.kind {
            ErrorKind::Inner(e) => Some(e),
            ErrorKind::NotReplayable(_) => None,
        }
    }
}

impl fmt::Debug for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Inner(e) => f.debug_tuple("ReplayError::Inner").field(e).finish(),
            ErrorKind::NotReplayable(why) => f
                .debug_tuple("ReplayError::NotReplayable")
                .field(why)
                .finish(),
        }
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Inner(e) => write!(f, "request body error: {e}"),
            ErrorKind::NotReplayable(why) => fmt::Display::fmt(why, f),
        }
    }
}

impl std::error::Error for ReplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Inner(e) => Some(&**e),
            ErrorKind::NotReplayable(why) => Some(why),
        }
    }
}

// === ReplayBody ===

/// A request body that can be cloned and sent again; see the [module docs](crate::body).
///
/// # Clone
///
/// Use [`ReplayBody::try_clone`]: it is O(1) (an `Arc` or `Bytes` reference count) and
/// fails with a typed [`NotReplayable`] when the body cannot be sent again. All clones share
/// one buffer, filled by whichever clone is polled furthest.
pub struct ReplayBody<B> {
    kind: Kind<B>,
}

enum Kind<B> {
    Empty,
    Bytes { data: Bytes, sent: bool },
    Shared(SharedBody<B>),
}

struct SharedBody<B> {
    shared: Arc<Shared<B>>,
    /// Index of the next buffered chunk this clone yields.
    pos: usize,
    /// Bytes this clone has yielded.
    yielded: u64,
    trailers_sent: bool,
    ended: bool,
}

struct Shared<B> {
    state: Mutex<State<B>>,
    size_hint: SizeHint,
    limit: usize,
}

struct State<B> {
    chunks: Vec<Bytes>,
    buffered: usize,
    /// Bytes read from the inner body so far (buffered or not).
    read: u64,
    trailers: Option<HeaderMap>,
    /// `None` once the inner body ended or failed.
    body: Option<Pin<Box<B>>>,
    /// An error met while probing the body at construction, for the first reader.
    pending_error: Option<BoxError>,
    capped: bool,
    failed: bool,
    /// Clones waiting for the inner body while another clone polls it.
    waiters: Vec<Waker>,
}

impl<B> State<B> {
    fn wake_waiters(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<B> ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    /// Wraps `body`, buffering at most `limit` bytes of it if it streams.
    ///
    /// An empty body is not allocated at all. Otherwise the body is polled once right away
    /// (with a no-op waker) to find out whether it is already entirely in memory; if it is,
    /// it is kept as one [`Bytes`] and never copied.
    pub fn new(body: B, limit: usize) -> Self {
        if body.is_end_stream() {
            return Self { kind: Kind::Empty };
        }
        let size_hint = body.size_hint();
        let mut body = Box::pin(body);
        let mut cx = Context::from_waker(Waker::noop());
        let mut state = State {
            chunks: Vec::new(),
            buffered: 0,
            read: 0,
            trailers: None,
            body: None,
            pending_error: None,
            capped: false,
            failed: false,
            waiters: Vec::new(),
        };
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(None) => return Self { kind: Kind::Empty },
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let bytes = data.copy_to_bytes(data.remaining());
                    if body.is_end_stream() {
                        return Self {
                            kind: Kind::Bytes {
                                data: bytes,
                                sent: false,
                            },
                        };
                    }
                    // Already in memory: kept whatever the cap, like the fast path.
                    state.read = bytes.len() as u64;
                    state.buffered = bytes.len();
                    if !bytes.is_empty() {
                        state.chunks.push(bytes);
                    }
                    state.body = Some(body);
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        state.trailers = Some(trailers);
                    }
                    if !body.is_end_stream() {
                        state.body = Some(body);
                    }
                }
            },
            Poll::Ready(Some(Err(e))) => {
                state.pending_error = Some(e.into());
            }
            Poll::Pending => state.body = Some(body),
        }
        Self {
            kind: Kind::Shared(SharedBody {
                shared: Arc::new(Shared {
                    state: Mutex::new(state),
                    size_hint,
                    limit,
                }),
                pos: 0,
                yielded: 0,
                trailers_sent: false,
                ended: false,
            }),
        }
    }
}

impl ReplayBody<never::Never> {
    /// A replayable body holding `data`; clones share it without copying.
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        if data.is_empty() {
            Self { kind: Kind::Empty }
        } else {
            Self {
                kind: Kind::Bytes { data, sent: false },
            }
        }
    }
}

impl<B> ReplayBody<B> {
    /// An empty body (no allocation), for requests that carry none, such as the GET a
    /// 303 turns a POST into, or a poll of a status URL.
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// Another copy of this body, to send again, from its first byte.
    ///
    /// # Errors
    ///
    /// [`NotReplayable`] when the body streamed past the cap or failed in an earlier
    /// attempt. The clone is never an empty or partial stand-in.
    pub fn try_clone(&self) -> Result<Self, NotReplayable> {
        let kind = match &self.kind {
            Kind::Empty => Kind::Empty,
            Kind::Bytes { data, .. } => Kind::Bytes {
                data: data.clone(),
                sent: false,
            },
            Kind::Shared(body) => {
                let state = lock(&body.shared.state);
                if state.capped {
                    return Err(NotReplayable::TooLarge {
                        limit: body.shared.limit,
                    });
                }
                if state.failed {
                    return Err(NotReplayable::Failed);
                }
                drop(state);
                Kind::Shared(SharedBody {
                    shared: Arc::clone(&body.shared),
                    pos: 0,
                    yielded: 0,
                    trailers_sent: false,
                    ended: false,
                })
            }
        };
        Ok(Self { kind })
    }

    /// Whether [`try_clone`](Self::try_clone) would succeed now.
    pub fn is_replayable(&self) -> bool {
        match &self.kind {
            Kind::Empty | Kind::Bytes { .. } => true,
            Kind::Shared(body) => {
                let state = lock(&body.shared.state);
                !state.capped && !state.failed
            }
        }
    }

    /// Whether the body was empty from the start (no allocation was made for it).
    pub fn is_empty_body(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = ReplayError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Bytes { data, sent } => {
                if *sent {
                    Poll::Ready(None)
                } else {
                    *sent = true;
                    Poll::Ready(Some(Ok(Frame::data(data.clone()))))
                }
            }
            Kind::Shared(body) => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Bytes { sent, .. } => *sent,
            Kind::Shared(body) => body.ended,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Bytes { data, sent } => {
                SizeHint::with_exact(if *sent { 0 } else { data.len() as u64 })
            }
            Kind::Shared(body) => {
                let orig = &body.shared.size_hint;
                if body.ended {
                    return SizeHint::with_exact(0);
                }
                match orig.exact() {
                    Some(n) => SizeHint::with_exact(n.saturating_sub(body.yielded)),
                    None => {
                        let mut hint = SizeHint::new();
                        hint.set_lower(orig.lower().saturating_sub(body.yielded));
                        if let Some(upper) = orig.upper() {
                            hint.set_upper(upper.saturating_sub(body.yielded));
                        }
                        hint
                    }
                }
            }
        }
    }
}

impl<B> SharedBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ReplayError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let mut state = lock(&self.shared.state);
        // Behind the furthest reader: replay from the buffer.
        if self.yielded < state.read || self.pos < state.chunks.len() {
            if state.capped {
                self.ended = true;
                return Poll::Ready(Some(Err(ReplayError::not_replayable(
                    NotReplayable::TooLarge {
                        limit: self.shared.limit,
                    },
                ))));
            }
            if let Some(chunk) = state.chunks.get(self.pos).cloned() {
                self.pos += 1;
                self.yielded += chunk.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
        }
        if let Some(e) = state.pending_error.take() {
            state.failed = true;
            self.ended = true;
            return Poll::Ready(Some(Err(ReplayError::inner(e))));
        }
        if state.failed {
            self.ended = true;
            return Poll::Ready(Some(Err(ReplayError::not_replayable(
                NotReplayable::Failed,
            ))));
        }
        let Some(inner) = state.body.as_mut() else {
            // The inner body has ended: replay the trailers, then end.
            if !self.trailers_sent {
                self.trailers_sent = true;
                if let Some(trailers) = state.trailers.clone() {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            }
            self.ended = true;
            return Poll::Ready(None);
        };
        // At the frontier: read the inner body.
        match inner.as_mut().poll_frame(cx) {
            Poll::Pending => {
                if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    state.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
            Poll::Ready(None) => {
                state.body = None;
                state.wake_waiters();
                drop(state);
                self.poll_frame(cx)
            }
            Poll::Ready(Some(Err(e))) => {
                state.body = None;
                state.failed = true;
                state.wake_waiters();
                self.ended = true;
                Poll::Ready(Some(Err(ReplayError::inner(e))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                state.wake_waiters();
                match frame.into_data() {
                    Ok(mut data) => {
                        let bytes = data.copy_to_bytes(data.remaining());
                        let len = bytes.len();
                        state.read += len as u64;
                        self.yielded += len as u64;
                        if !state.capped && len > 0 {
                            if state.buffered.saturating_add(len) > self.shared.limit {
                                state.capped = true;
                                state.chunks = Vec::new();
                                state.buffered = 0;
                            } else {
                                state.buffered += len;
                                state.chunks.push(bytes.clone());
                            }
                        }
                        self.pos = state.chunks.len();
                        Poll::Ready(Some(Ok(Frame::data(bytes))))
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => {
                            state.trailers = Some(trailers.clone());
                            self.trailers_sent = true;
                            Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                        }
                        // http-body 1 frames are data or trailers; anything else is skipped.
                        Err(_) => {
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                    },
                }
            }
        }
    }
}

impl<B> Drop for SharedBody<B> {
    fn drop(&mut self) {
        // If this clone was the one registered with the inner body, let a waiting clone
        // take over the polling.
        let mut state = lock(&self.shared.state);
        for w in state.waiters.drain(..) {
            w.wake();
        }
    }
}

impl<B> Default for ReplayBody<B> {
    /// An empty body; see [`ReplayBody::empty`].
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("ReplayBody::Empty"),
            Kind::Bytes { data, sent } => f
                .debug_struct("ReplayBody::Bytes")
                .field("len", &data.len())
                .field("sent", sent)
                .finish(),
            Kind::Shared(body) => f
                .debug_struct("ReplayBody::Shared")
                .field("limit", &body.shared.limit)
                .field("yielded", &body.yielded)
                .finish_non_exhaustive(),
        }
    }
}

/// The body type of [`ReplayBody::from_bytes`]: a body that is never constructed.
mod never {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::{Body, Frame};

    /// A body type with no values, standing in where a [`ReplayBody`](super::ReplayBody)
    /// holds only bytes.
    #[derive(Debug, Clone, Copy)]
    pub enum Never {}

    impl Body for Never {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            match *self {}
        }
    }
}

pub use never::Never;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty, Full};
    use recourse_testkit::body::{FrameChannelBody, frame_channel};
    use tokio::sync::mpsc;

    type Rx = FrameChannelBody<std::io::Error>;

    fn channel() -> (mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>, Rx) {
        frame_channel(16)
    }

    async fn collect<B>(body: ReplayBody<B>) -> Result<(Bytes, Option<HeaderMap>), ReplayError>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let collected = body.collect().await?;
        let trailers = collected.trailers().cloned();
        Ok((collected.to_bytes(), trailers))
    }

    #[tokio::test]
    async fn empty_body_is_free_and_replays() {
        let body = ReplayBody::new(Empty::<Bytes>::new(), 10);
        assert!(body.is_empty_body());
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        let clone = body.try_clone().unwrap();
        assert_eq!(collect(body).await.unwrap().0, "");
        assert_eq!(collect(clone).await.unwrap().0, "");
    }

    #[tokio::test]
    async fn empty_for_any_body_type() {
        let body: ReplayBody<Rx> = ReplayBody::default();
        assert!(body.is_empty_body());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert_eq!(collect(body.try_clone().unwrap()).await.unwrap().0, "");
    }

    #[tokio::test]
    async fn in_memory_body_clones_without_copying() {
        let data = Bytes::from(vec![7u8; 1024 * 1024]);
        let ptr = data.as_ptr();
        // The cap is far below the size: bodies already in memory are not subject to it.
        let body = ReplayBody::new(Full::new(data), 1024);
        assert!(body.is_replayable());
        assert_eq!(body.size_hint().exact(), Some(1024 * 1024));
        for _ in 0..3 {
            let mut clone = body.try_clone().unwrap();
            let frame = clone.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(frame.len(), 1024 * 1024);
            assert_eq!(
                frame.as_ptr(),
                ptr,
                "the clone must share the original memory"
            );
            assert!(clone.frame().await.is_none());
        }
        let own = ReplayBody::from_bytes(Bytes::from_static(b"abc"));
        assert_eq!(collect(own.try_clone().unwrap()).await.unwrap().0, "abc");
    }

    #[tokio::test]
    async fn streamed_body_replays_with_trailers() {
        let (tx, rx) = channel();
        let body = ReplayBody::new(rx, 1024);
        let first = body.try_clone().unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        tx.send(Ok(Frame::data(Bytes::from_static(b"hello "))))
            .await
            .unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"world"))))
            .await
            .unwrap();
        tx.send(Ok(Frame::trailers(trailers.clone())))
            .await
            .unwrap();
        drop(tx);
        let (bytes, t) = collect(first).await.unwrap();
        assert_eq!(bytes, "hello world");
        assert_eq!(t.as_ref(), Some(&trailers));
        for _ in 0..2 {
            let again = body.try_clone().unwrap();
            assert_eq!(again.size_hint().exact(), None);
            let (bytes, t) = collect(again).await.unwrap();
            assert_eq!(bytes, "hello world");
            assert_eq!(t.as_ref(), Some(&trailers));
        }
    }

    #[tokio::test]
    async fn clone_continues_after_a_partial_attempt() {
        let (tx, rx) = channel();
        let body = ReplayBody::new(rx, 1024);
        let mut first = body.try_clone().unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"part one, "))))
            .await
            .unwrap();
        let got = first.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(got, "part one, ");
        drop(first); // the connection failed halfway
        let second = body.try_clone().unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"part two"))))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(collect(second).await.unwrap().0, "part one, part two");
    }

    #[tokio::test]
    async fn over_the_cap_is_refused_never_partial() {
        let (tx, rx) = channel();
        let body = ReplayBody::new(rx, 8);
        let early_clone = body.try_clone().unwrap();
        let first = body.try_clone().unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"12345"))))
            .await
            .unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"67890"))))
            .await
            .unwrap();
        drop(tx);
        // The attempt that streams it is not harmed.
        assert_eq!(collect(first).await.unwrap().0, "1234567890");
        assert!(!body.is_replayable());
        assert_eq!(
            body.try_clone().unwrap_err(),
            NotReplayable::TooLarge { limit: 8 }
        );
        // A clone taken before the cap was known fails instead of sending part of the body.
        let err = collect(early_clone).await.unwrap_err();
        assert_eq!(
            err.not_replayable_reason(),
            Some(NotReplayable::TooLarge { limit: 8 })
        );
        assert!(err.to_string().contains("larger than the replay buffer"));
    }

    #[tokio::test]
    async fn inner_errors_pass_on_and_block_replay() {
        let (tx, rx) = channel();
        let body = ReplayBody::new(rx, 1024);
        let first = body.try_clone().unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"ok"))))
            .await
            .unwrap();
        tx.send(Err(std::io::Error::other("disk on fire")))
            .await
            .unwrap();
        drop(tx);
        let err = collect(first).await.unwrap_err();
        assert!(err.is_inner());
        assert!(err.to_string().contains("disk on fire"));
        assert_eq!(body.try_clone().unwrap_err(), NotReplayable::Failed);
    }

    #[tokio::test]
    async fn error_on_first_poll_is_not_lost() {
        struct Broken;
        impl Body for Broken {
            type Data = Bytes;
            type Error = std::io::Error;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
                Poll::Ready(Some(Err(std::io::Error::other("broken from the start"))))
            }
        }
        let body = ReplayBody::new(Broken, 1024);
        let first = body.try_clone().unwrap();
        let err = collect(first).await.unwrap_err();
        assert!(err.to_string().contains("broken from the start"));
        assert!(!body.is_replayable());
    }

    #[tokio::test]
    async fn exact_size_hint_survives_replay() {
        let body = ReplayBody::new(Full::new(Bytes::from_static(b"0123456789")), 4);
        let clone = body.try_clone().unwrap();
        assert_eq!(clone.size_hint().exact(), Some(10));
        let s = String::from("text body");
        let body = ReplayBody::new(Full::new(Bytes::from(s)), 4);
        assert_eq!(collect(body).await.unwrap().0, "text body");
    }
}
