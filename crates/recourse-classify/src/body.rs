//! [`ClassifiedBody`]: the response body, unchanged, after classification.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a classified response: the inner body, byte for byte and frame for
    /// frame.
    ///
    /// When the classify layer did not read the body (the common case) this is the inner
    /// body itself, polled directly. When it read a prefix to find a body-level code, it
    /// yields the frames read (data and trailers, in order, without copying), then
    /// whatever error ended that read, then the rest of the inner body as it streams.
    pub struct ClassifiedBody<B: Body> {
        #[pin]
        state: State<B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<B: Body> {
        // The body was not read: pass everything through.
        Plain { #[pin] body: B },
        // A prefix was read (boxed, so the reader could hand it over without moving the
        // pinned inner body).
        Prefixed { prefix: Pin<Box<Prefix<B>>> },
    }
}

pin_project! {
    /// A body and the frames read from it so far; shared by the response future (while it
    /// reads) and [`ClassifiedBody`] (which replays them).
    pub(crate) struct Prefix<B: Body> {
        #[pin]
        pub(crate) body: B,
        pub(crate) frames: VecDeque<Frame<B::Data>>,
        // Data bytes still in `frames`, for `size_hint`.
        pub(crate) buffered: u64,
        pub(crate) error: Option<B::Error>,
        // The inner body returned `None` (or failed): never poll it again.
        pub(crate) done: bool,
        // The response head, held here while the future reads the prefix.
        pub(crate) head: Option<http::response::Parts>,
    }
}

impl<B: Body> Prefix<B> {
    pub(crate) fn new(body: B, head: http::response::Parts) -> Self {
        Prefix {
            body,
            frames: VecDeque::new(),
            buffered: 0,
            error: None,
            done: false,
            head: Some(head),
        }
    }
}

impl<B: Body> ClassifiedBody<B> {
    /// Wraps a body that was not read.
    pub fn new(body: B) -> Self {
        ClassifiedBody {
            state: State::Plain { body },
        }
    }

    /// A body whose first frames were already read.
    pub(crate) fn prefixed(prefix: Pin<Box<Prefix<B>>>) -> Self {
        ClassifiedBody {
            state: State::Prefixed { prefix },
        }
    }

    /// Whether the classify layer read a prefix of this body.
    pub fn was_inspected(&self) -> bool {
        matches!(self.state, State::Prefixed { .. })
    }
}

impl<B: Body + Default> Default for ClassifiedBody<B> {
    fn default() -> Self {
        ClassifiedBody::new(B::default())
    }
}

impl<B: Body> Body for ClassifiedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().state.project() {
            StateProj::Plain { body } => body.poll_frame(cx),
            StateProj::Prefixed { prefix } => {
                let prefix = prefix.as_mut().project();
                if let Some(frame) = prefix.frames.pop_front() {
                    if let Some(data) = frame.data_ref() {
                        *prefix.buffered = prefix.buffered.saturating_sub(data_len(data));
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(error) = prefix.error.take() {
                    *prefix.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                if *prefix.done {
                    return Poll::Ready(None);
                }
                let polled = prefix.body.poll_frame(cx);
                if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
                    *prefix.done = true;
                }
                polled
            }
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Plain { body } => body.is_end_stream(),
            State::Prefixed { prefix } => {
                prefix.frames.is_empty()
                    && prefix.error.is_none()
                    && (prefix.done || prefix.body.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Plain { body } => body.size_hint(),
            State::Prefixed { prefix } => {
                if prefix.done {
                    return SizeHint::with_exact(prefix.buffered);
                }
                let rest = prefix.body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(prefix.buffered));
                if let Some(upper) = rest.upper().and_then(|u| u.checked_add(prefix.buffered)) {
                    hint.set_upper(upper);
                }
                hint
            }
        }
    }
}

pub(crate) fn data_len<D: Buf>(data: &D) -> u64 {
    u64::try_from(data.remaining()).unwrap_or(u64::MAX)
}

impl<B: Body> fmt::Debug for ClassifiedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Plain { .. } => f.debug_struct("ClassifiedBody").finish_non_exhaustive(),
            State::Prefixed { prefix } => f
                .debug_struct("ClassifiedBody")
                .field("buffered_frames", &prefix.frames.len())
                .field("buffered_bytes", &prefix.buffered)
                .field("pending_error", &prefix.error.is_some())
                .field("inner_done", &prefix.done)
                .finish_non_exhaustive(),
        }
    }
}
