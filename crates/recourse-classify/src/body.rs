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
        // A prefix was read; the inner body is boxed so the reader could move it.
        Prefixed {
            body: Pin<Box<B>>,
            frames: VecDeque<Frame<B::Data>>,
            // Data bytes still in `frames`, for `size_hint`.
            buffered: u64,
            error: Option<B::Error>,
            // The inner body returned `None` (or failed): never poll it again.
            done: bool,
        },
    }
}

impl<B: Body> ClassifiedBody<B> {
    /// Wraps a body that was not read.
    pub fn new(body: B) -> Self {
        ClassifiedBody {
            state: State::Plain { body },
        }
    }

    /// A body whose first frames were already read from `body`.
    pub(crate) fn prefixed(
        body: Pin<Box<B>>,
        frames: VecDeque<Frame<B::Data>>,
        buffered: u64,
        error: Option<B::Error>,
        done: bool,
    ) -> Self {
        ClassifiedBody {
            state: State::Prefixed {
                body,
                frames,
                buffered,
                error,
                done,
            },
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
            StateProj::Prefixed {
                body,
                frames,
                buffered,
                error,
                done,
            } => {
                if let Some(frame) = frames.pop_front() {
                    if let Some(data) = frame.data_ref() {
                        *buffered = buffered.saturating_sub(data_len(data));
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(error) = error.take() {
                    *done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                if *done {
                    return Poll::Ready(None);
                }
                let polled = body.as_mut().poll_frame(cx);
                match &polled {
                    Poll::Ready(None) | Poll::Ready(Some(Err(_))) => *done = true,
                    _ => {}
                }
                polled
            }
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Plain { body } => body.is_end_stream(),
            State::Prefixed {
                body,
                frames,
                error,
                done,
                ..
            } => frames.is_empty() && error.is_none() && (*done || body.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Plain { body } => body.size_hint(),
            State::Prefixed {
                body,
                buffered,
                done,
                ..
            } => {
                if *done {
                    return SizeHint::with_exact(*buffered);
                }
                let rest = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(*buffered));
                if let Some(upper) = rest.upper().and_then(|u| u.checked_add(*buffered)) {
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
            State::Prefixed {
                frames,
                buffered,
                error,
                done,
                ..
            } => f
                .debug_struct("ClassifiedBody")
                .field("buffered_frames", &frames.len())
                .field("buffered_bytes", buffered)
                .field("pending_error", &error.is_some())
                .field("inner_done", done)
                .finish_non_exhaustive(),
        }
    }
}
