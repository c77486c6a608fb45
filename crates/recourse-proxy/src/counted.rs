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

/// A client's request body: its data bytes go to
/// [`REQUEST_BODY_SIZE`](metrics::REQUEST_BODY_SIZE) once, at its end or when it is
/// dropped.
#[derive(Debug)]
pub(crate) struct RequestBody {
    inner: Incoming,
    bytes: u64,
    recorded: bool,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming) -> Self {
        Self {
            inner,
            bytes: 0,
            recorded: false,
        }
    }

    fn record(&mut self) {
        if !std::mem::replace(&mut self.recorded, true) {
            metrics::record_request_body(self.bytes);
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
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

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.record();
    }
}

/// A response on its way to the client: when its body ends (or is dropped: the client
/// went away), the request is counted in [`REQUESTS`](metrics::REQUESTS) and
/// [`REQUEST_DURATION`](metrics::REQUEST_DURATION), and the body's data bytes in
/// [`RESPONSE_BODY_SIZE`](metrics::RESPONSE_BODY_SIZE).
pub(crate) struct ResponseBody {
    inner: ProxyBody,
    bytes: u64,
    /// What to record, until it is recorded.
    pending: Option<Answered>,
}

/// The facts of an answered request, recorded when its response body ends.
struct Answered {
    method: usize,
    status: StatusCode,
    /// Running when a `metrics` recorder listened as the request arrived.
    watch: Stopwatch,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// `inner`, the body of a response with `status` to a request with the method at
    /// `method` (see [`metrics::method_index`]), timed by `watch` since it arrived.
    pub(crate) fn new(
        inner: ProxyBody,
        method: usize,
        status: StatusCode,
        watch: Stopwatch,
    ) -> Self {
        Self {
            inner,
            bytes: 0,
            pending: Some(Answered {
                method,
                status,
                watch,
            }),
        }
    }

    fn record(&mut self) {
        if let Some(answered) = self.pending.take() {
            metrics::record_request(
                answered.method,
                answered.status,
                answered.watch.elapsed(),
                self.bytes,
            );
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = recourse_core::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                // Recorded before the last frame is written, so that a client that has
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

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.record();
    }
}
