//! Streaming bodies for tests of the layers, and the response body the test server sends.
//!
//! Every body here has an unknown length and yields one frame per poll, as a body read
//! from the network does:
//!
//! - [`Frames`]: scripted frames (data, trailers, errors), then the end;
//! - [`ChannelBody`]: the data sent through a channel (see [`channel`]), ending when every
//!   sender is dropped;
//! - [`Stalled`]: nothing ever (or one chunk, then nothing ever);
//! - [`Endless`]: data forever, optionally counting what was read.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use http_body_util::BodyExt;
//! use recourse_testkit::body::{Frames, channel};
//!
//! let body = Frames::data(["one, ", "two"]);
//! assert_eq!(body.collect().await.unwrap().to_bytes(), "one, two");
//!
//! let (tx, body) = channel(2);
//! tokio::spawn(async move {
//!     for chunk in ["a", "b"] {
//!         tx.send(chunk.into()).await.unwrap();
//!     }
//! });
//! assert_eq!(body.collect().await.unwrap().to_bytes(), "ab");
//! # }
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::conn::HungGuard;

/// The error type of the bodies of this module (which never fail unless scripted to).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body yielding scripted frames, one per poll, then the end; its length is unknown.
///
/// The error type is [`BoxError`] for [`Frames::data`], and whatever the script holds
/// for [`Frames::new`].
#[derive(Debug)]
pub struct Frames<E = BoxError> {
    frames: VecDeque<Result<Frame<Bytes>, E>>,
}

impl Frames {
    /// A body yielding each chunk as one data frame, in order (empty chunks included).
    pub fn data<I>(chunks: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
    {
        Frames::new(chunks.into_iter().map(|c| Ok(Frame::data(c.into()))))
    }
}

impl<E> Frames<E> {
    /// A body yielding `frames` (data, trailers or errors) in order, then the end.
    pub fn new(frames: impl IntoIterator<Item = Result<Frame<Bytes>, E>>) -> Self {
        Frames {
            frames: frames.into_iter().collect(),
        }
    }
}

// The frames are never pinned: they are moved out as they are yielded.
impl<E> Unpin for Frames<E> {}

impl<E> Body for Frames<E> {
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        Poll::Ready(self.frames.pop_front())
    }
}

/// A channel-fed body and the sender that feeds it: each [`Bytes`] sent is one data
/// frame; the body ends once every sender is dropped. `capacity` is the channel's bound
/// (at least 1).
pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, ChannelBody { rx })
}

/// A channel-fed body whose sender gives whole frames and errors: each item sent is the
/// next frame (data or trailers) or the body's error; the body ends once every sender is
/// dropped. `capacity` is the channel's bound (at least 1).
pub fn frame_channel<E>(
    capacity: usize,
) -> (mpsc::Sender<Result<Frame<Bytes>, E>>, FrameChannelBody<E>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, FrameChannelBody { rx })
}

/// A streaming body fed frame by frame through a channel (see [`frame_channel`]).
#[derive(Debug)]
pub struct FrameChannelBody<E> {
    rx: mpsc::Receiver<Result<Frame<Bytes>, E>>,
}

impl<E> Body for FrameChannelBody<E> {
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        self.rx.poll_recv(cx)
    }
}

/// A streaming body fed through a channel (see [`channel`]): pending until a chunk is
/// sent, ended when every sender is dropped; its length is unknown.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// A body that never ends and never yields (or yields one chunk first, with
/// [`Stalled::after`]): a peer that stopped sending without closing.
#[derive(Debug, Default)]
pub struct Stalled {
    first: Option<Bytes>,
}

impl Stalled {
    /// A body that never yields anything.
    pub fn new() -> Self {
        Stalled { first: None }
    }

    /// A body that yields `chunk`, then nothing ever: a trickle that stopped.
    pub fn after(chunk: impl Into<Bytes>) -> Self {
        Stalled {
            first: Some(chunk.into()),
        }
    }
}

impl Body for Stalled {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Never woken again: a stalled peer sends nothing that would wake the reader.
        match self.first.take() {
            Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            None => Poll::Pending,
        }
    }
}

/// A body that never ends: [`Endless::CHUNK`] zero bytes at every poll, ready at once.
#[derive(Debug, Default)]
pub struct Endless {
    read: Option<Arc<AtomicU64>>,
}

impl Endless {
    /// The length of each chunk.
    pub const CHUNK: usize = 1024;

    /// An endless body.
    pub fn new() -> Self {
        Endless { read: None }
    }

    /// An endless body that adds the length of every chunk it yields to `read` (which
    /// several bodies may share).
    pub fn counting(read: Arc<AtomicU64>) -> Self {
        Endless { read: Some(read) }
    }
}

impl Body for Endless {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        static ZEROS: [u8; Endless::CHUNK] = [0; Endless::CHUNK];
        if let Some(read) = &self.read {
            read.fetch_add(Endless::CHUNK as u64, Ordering::SeqCst);
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS)))))
    }
}

/// A response body of the test server.
pub(crate) struct ReplyBody {
    kind: Kind,
    /// Sent after the data, if any.
    trailers: Option<HeaderMap>,
}

enum Kind {
    Full(Option<Bytes>),
    Chunks {
        /// Remaining chunks, in reverse order (popped from the end).
        rev: Vec<Bytes>,
        gap: Duration,
        first: bool,
        sleep: Option<Pin<Box<Sleep>>>,
    },
    Endless {
        chunk: Bytes,
        gap: Duration,
        first: bool,
        sleep: Option<Pin<Box<Sleep>>>,
        /// Marks the connection as hung while the body streams, so that shutdown does not
        /// wait for it.
        _hung: HungGuard,
    },
}

impl ReplyBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
            trailers: None,
        }
    }

    pub(crate) fn chunks(chunks: Vec<Bytes>, gap: Duration) -> Self {
        let mut rev = chunks;
        rev.retain(|c| !c.is_empty());
        rev.reverse();
        Self {
            kind: Kind::Chunks {
                rev,
                gap,
                first: true,
                sleep: None,
            },
            trailers: None,
        }
    }

    pub(crate) fn endless(chunk: Bytes, gap: Duration, hung: HungGuard) -> Self {
        Self {
            kind: Kind::Endless {
                chunk,
                gap,
                first: true,
                sleep: None,
                _hung: hung,
            },
            trailers: None,
        }
    }

    /// Sends `trailers` after the data (an empty map sends none).
    pub(crate) fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.trailers = (!trailers.is_empty()).then_some(trailers);
        self
    }
}

/// Waits `gap` unless this is the first chunk or the gap is zero.
fn poll_gap(
    cx: &mut Context<'_>,
    first: &mut bool,
    gap: Duration,
    sleep: &mut Option<Pin<Box<Sleep>>>,
) -> Poll<()> {
    if std::mem::take(first) || gap.is_zero() {
        return Poll::Ready(());
    }
    let timer = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(gap)));
    ready!(timer.as_mut().poll(cx));
    *sleep = None;
    Poll::Ready(())
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let data = ready!(Self::poll_data(&mut this.kind, cx));
        Poll::Ready(match data {
            Some(data) => Some(Ok(Frame::data(data))),
            None => this.trailers.take().map(|t| Ok(Frame::trailers(t))),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.trailers.is_none()
            && match &self.kind {
                Kind::Full(data) => data.is_none(),
                Kind::Chunks { rev, .. } => rev.is_empty(),
                Kind::Endless { .. } => false,
            }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            // Trailers need the chunked coding in HTTP/1.1: no declared length then.
            Kind::Full(data) if self.trailers.is_none() => {
                SizeHint::with_exact(data.as_ref().map_or(0, |b| b.len() as u64))
            }
            _ => SizeHint::default(),
        }
    }
}

impl ReplyBody {
    fn poll_data(kind: &mut Kind, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match kind {
            Kind::Full(data) => Poll::Ready(data.take()),
            Kind::Chunks {
                rev,
                gap,
                first,
                sleep,
            } => {
                if rev.is_empty() {
                    return Poll::Ready(None);
                }
                ready!(poll_gap(cx, first, *gap, sleep));
                Poll::Ready(rev.pop())
            }
            Kind::Endless {
                chunk,
                gap,
                first,
                sleep,
                ..
            } => {
                ready!(poll_gap(cx, first, *gap, sleep));
                Poll::Ready(Some(chunk.clone()))
            }
        }
    }
}

impl std::fmt::Debug for ReplyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Full(_) => "full",
            Kind::Chunks { .. } => "chunked",
            Kind::Endless { .. } => "endless",
        };
        f.debug_struct("ReplyBody").field("kind", &kind).finish()
    }
}
