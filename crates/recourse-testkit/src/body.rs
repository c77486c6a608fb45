//! The response body the server sends: complete, chunked with gaps, or endless.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::conn::HungGuard;

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
