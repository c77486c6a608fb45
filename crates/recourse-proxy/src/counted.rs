//! Bodies that count their bytes as the frames pass (no copy), for the proxy's metrics.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use recourse_core::observe::Stopwatch;

use crate::metrics;
use crate::proxy::ProxyBody;

/// What a [`Counted`] body records, once: at its end, at its first error, or when it is
/// dropped (the peer went away), with the data bytes that passed.
pub(crate) trait Tally {
    /// Records the facts and the body's data bytes.
    fn tally(self, bytes: u64);
}

/// A body that counts its data bytes as the frames pass and hands them on unchanged; its
/// [`Tally`] is recorded once.
pub(crate) struct Counted<B, T: Tally> {
    inner: B,
    bytes: u64,
    /// What to record, until it is recorded.
    pending: Option<T>,
}

impl<B, T: Tally> Counted<B, T> {
    fn new(inner: B, tally: T) -> Self {
        Self {
            inner,
            bytes: 0,
            pending: Some(tally),
        }
    }

    fn record(&mut self) {
        if let Some(tally) = self.pending.take() {
            tally.tally(self.bytes);
        }
    }
}

impl<B, T: Tally> std::fmt::Debug for Counted<B, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counted")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<B, T> Body for Counted<B, T>
where
    B: Body<Data = Bytes> + Unpin,
    T: Tally + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                // Recorded before the last frame is handed on, so that a client that has
                // read the whole response finds it counted.
                if this.inner.is_end_stream() {
                    this.record();
                }
            }
            Some(Err(_)) | None => this.record(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, T: Tally> Drop for Counted<B, T> {
    fn drop(&mut self) {
        self.record();
    }
}

/// A client's request body: its data bytes go to
/// [`REQUEST_BODY_SIZE`](metrics::REQUEST_BODY_SIZE).
pub(crate) type RequestBody = Counted<Incoming, RequestBytes>;

/// The tally of a client's request body.
pub(crate) struct RequestBytes;

impl Tally for RequestBytes {
    fn tally(self, bytes: u64) {
        metrics::record_request_body(bytes);
    }
}

/// `inner`, counted as a client's request body.
pub(crate) fn request_body(inner: Incoming) -> RequestBody {
    Counted::new(inner, RequestBytes)
}

/// A response on its way to the client: when its body ends (or is dropped: the client
/// went away), the request is counted in [`REQUESTS`](metrics::REQUESTS) and
/// [`REQUEST_DURATION`](metrics::REQUEST_DURATION), and the body's data bytes in
/// [`RESPONSE_BODY_SIZE`](metrics::RESPONSE_BODY_SIZE).
pub(crate) type ResponseBody = Counted<ProxyBody, Answered>;

/// The facts of an answered request, recorded when its response body ends.
pub(crate) struct Answered {
    method: usize,
    status: StatusCode,
    /// Running when a `metrics` recorder listened as the request arrived.
    watch: Stopwatch,
}

impl Tally for Answered {
    fn tally(self, bytes: u64) {
        metrics::record_request(self.method, self.status, self.watch.elapsed(), bytes);
    }
}

/// `inner`, the body of a response with `status` to a request with the method at
/// `method` (see [`metrics::method_index`]), timed by `watch` since it arrived.
pub(crate) fn response_body(
    inner: ProxyBody,
    method: usize,
    status: StatusCode,
    watch: Stopwatch,
) -> ResponseBody {
    Counted::new(
        inner,
        Answered {
            method,
            status,
            watch,
        },
    )
}
