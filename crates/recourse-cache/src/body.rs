//! The response body of the cache layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

type Finish = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project! {
    /// The body of a response from [`Cache`](crate::Cache): either a stored body (a
    /// [`Bytes`] shared with the store, so serving it copies nothing) or the origin's body,
    /// passed through, and recorded for storage while it streams when the response is
    /// storable.
    ///
    /// Data frames are [`Bytes`]; the origin's frames are converted with
    /// [`Buf::copy_to_bytes`], which takes `Bytes` as they are. Every frame is passed on
    /// unchanged as soon as it arrives. While recording, large frames (8 KiB or more) are
    /// kept by reference (no copy), and smaller ones are copied into 16 KiB blocks, so a
    /// body that arrives in tiny frames (each a slice of a larger read buffer) holds
    /// about its own size, never one read buffer per frame. Past the store's per-entry
    /// limit, or on a trailer or an error, recording stops and the rest streams through.
    /// The entry is stored when the body ends, before the end is reported.
    pub struct CacheBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Stored { data: Option<Bytes> },
        Origin { #[pin] body: B },
        // Boxed: a miss allocates anyway, and this keeps every response small.
        Recording { #[pin] body: B, recorder: Box<Recorder> },
    }
}

/// Receives a recorded body and stores it.
pub(crate) trait Sink: Send + Sync + 'static {
    fn finish(self: Box<Self>, body: Bytes) -> Finish;
}

/// Frames at least this long are recorded by reference; shorter ones are copied.
const KEEP_MIN: usize = 8 * 1024;

/// Small frames are copied into blocks of about this size.
const BLOCK: usize = 16 * 1024;

pub(crate) struct Recorder {
    /// Recorded data before `small`: large frames and full blocks of small ones.
    chunks: Vec<Bytes>,
    /// Small frames copied since the last entry of `chunks`.
    small: BytesMut,
    len: usize,
    limit: usize,
    sink: Option<Box<dyn Sink>>,
    finishing: Option<Finishing>,
}

/// A pending store; if the body is dropped before it completes, it is handed to the
/// runtime so that the entry is still stored.
struct Finishing(Mutex<Option<Finish>>);

impl Drop for Finishing {
    fn drop(&mut self) {
        let slot = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(fut) = slot.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(fut);
        }
    }
}

impl Finishing {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let slot = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        match slot.as_mut() {
            Some(fut) => {
                ready!(fut.as_mut().poll(cx));
                *slot = None;
                Poll::Ready(())
            }
            None => Poll::Ready(()),
        }
    }
}

impl Recorder {
    pub(crate) fn new(limit: usize, sink: Box<dyn Sink>) -> Recorder {
        Recorder {
            chunks: Vec::new(),
            small: BytesMut::new(),
            len: 0,
            limit,
            sink: Some(sink),
            finishing: None,
        }
    }

    fn push(&mut self, chunk: &Bytes) {
        if self.sink.is_none() {
            return;
        }
        if self.len.saturating_add(chunk.len()) > self.limit {
            tracing::debug!(
                limit = self.limit,
                "response body over the store's limit: not stored"
            );
            self.abandon();
            return;
        }
        self.len += chunk.len();
        if chunk.len() >= KEEP_MIN {
            self.flush_small();
            self.chunks.push(chunk.clone());
        } else if !chunk.is_empty() {
            // A small frame may be a slice of a much larger buffer: keeping it would keep
            // the whole buffer alive.
            self.small.extend_from_slice(chunk);
            if self.small.len() >= BLOCK {
                self.flush_small();
            }
        }
    }

    fn flush_small(&mut self) {
        if !self.small.is_empty() {
            self.chunks.push(std::mem::take(&mut self.small).freeze());
        }
    }

    /// The recorded body, as one `Bytes`.
    fn take_body(&mut self) -> Bytes {
        if self.chunks.is_empty() {
            // Only small frames: one buffer, trimmed of its spare capacity.
            let small = std::mem::take(&mut self.small);
            return if small.len() == small.capacity() {
                small.freeze()
            } else {
                Bytes::copy_from_slice(&small)
            };
        }
        self.flush_small();
        concat(std::mem::take(&mut self.chunks), self.len)
    }

    fn abandon(&mut self) {
        self.sink = None;
        self.chunks = Vec::new();
        self.small = BytesMut::new();
    }

    /// Hands the complete body to the sink and drives the store.
    fn finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(sink) = self.sink.take() {
            let body = self.take_body();
            self.finishing = Some(Finishing(Mutex::new(Some(sink.finish(body)))));
        }
        match self.finishing.as_mut() {
            Some(f) => {
                ready!(f.poll(cx));
                self.finishing = None;
                Poll::Ready(())
            }
            None => Poll::Ready(()),
        }
    }

    fn is_idle(&self) -> bool {
        self.sink.is_none() && self.finishing.is_none()
    }
}

/// Joins recorded chunks: one chunk is taken as is, several are copied once into one
/// buffer (at store time, never per hit).
fn concat(mut chunks: Vec<Bytes>, len: usize) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut buf = BytesMut::with_capacity(len);
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
            }
            buf.freeze()
        }
    }
}

impl<B> CacheBody<B> {
    pub(crate) fn stored(data: Bytes) -> Self {
        CacheBody {
            kind: Kind::Stored {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    pub(crate) fn empty() -> Self {
        CacheBody {
            kind: Kind::Stored { data: None },
        }
    }

    pub(crate) fn origin(body: B) -> Self {
        CacheBody {
            kind: Kind::Origin { body },
        }
    }

    pub(crate) fn recording(body: B, recorder: Recorder) -> Self {
        CacheBody {
            kind: Kind::Recording {
                body,
                recorder: Box::new(recorder),
            },
        }
    }

    /// Whether a body being recorded still needs to be read for its entry to be stored.
    pub(crate) fn is_recording(&self) -> bool {
        matches!(&self.kind, Kind::Recording { recorder, .. } if !recorder.is_idle())
    }

    /// Whether this body was served from the cache's storage.
    pub fn is_stored(&self) -> bool {
        matches!(self.kind, Kind::Stored { .. })
    }
}

fn to_bytes<D: Buf>(mut data: D) -> Bytes {
    data.copy_to_bytes(data.remaining())
}

impl<B> Body for CacheBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Stored { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Origin { body } => match ready!(body.poll_frame(cx)) {
                Some(Ok(frame)) => Poll::Ready(Some(Ok(frame.map_data(to_bytes)))),
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            },
            KindProj::Recording { mut body, recorder } => {
                if recorder.finishing.is_some() {
                    ready!(recorder.finish(cx));
                    return Poll::Ready(None);
                }
                match ready!(body.as_mut().poll_frame(cx)) {
                    None => {
                        ready!(recorder.finish(cx));
                        Poll::Ready(None)
                    }
                    Some(Err(e)) => {
                        recorder.abandon();
                        Poll::Ready(Some(Err(e)))
                    }
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => {
                            let bytes = to_bytes(data);
                            recorder.push(&bytes);
                            if recorder.sink.is_some() && body.is_end_stream() {
                                // The consumer may stop polling now; store at once. If the
                                // store is still pending, the next poll finishes it.
                                let _ = recorder.finish(cx);
                            }
                            Poll::Ready(Some(Ok(Frame::data(bytes))))
                        }
                        Err(frame) => {
                            // Trailers are not stored; a response that has them is not
                            // stored either.
                            recorder.abandon();
                            Poll::Ready(Some(Ok(frame.map_data(to_bytes))))
                        }
                    },
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stored { data } => data.is_none(),
            Kind::Origin { body } => body.is_end_stream(),
            Kind::Recording { body, recorder } => recorder.is_idle() && body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stored { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Origin { body } | Kind::Recording { body, .. } => body.size_hint(),
        }
    }
}

impl<B> fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Stored { data } => f
                .debug_struct("CacheBody::Stored")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Origin { .. } => f.write_str("CacheBody::Origin"),
            Kind::Recording { recorder, .. } => f
                .debug_struct("CacheBody::Recording")
                .field("recorded", &recorder.len)
                .field("limit", &recorder.limit)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use recourse_testkit::body::Frames;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::oneshot;

    struct Capture(oneshot::Sender<Bytes>);

    impl Sink for Capture {
        fn finish(self: Box<Self>, body: Bytes) -> Finish {
            let _ = self.0.send(body);
            Box::pin(std::future::ready(()))
        }
    }

    fn chunks(parts: &[&'static str]) -> Frames {
        Frames::data(parts.iter().copied())
    }

    #[tokio::test]
    async fn records_while_streaming() {
        let (tx, rx) = oneshot::channel();
        let body = CacheBody::recording(
            chunks(&["ab", "cd", "e"]),
            Recorder::new(100, Box::new(Capture(tx))),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(out, "abcde");
        assert_eq!(rx.await.unwrap(), "abcde");
    }

    #[tokio::test]
    async fn single_chunk_is_not_copied() {
        let (tx, rx) = oneshot::channel();
        let data = Bytes::from(vec![7u8; 64 * 1024]);
        let ptr = data.as_ptr();
        let body = CacheBody::recording(
            Full::new(data),
            Recorder::new(1 << 20, Box::new(Capture(tx))),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(rx.await.unwrap().as_ptr(), ptr);
    }

    #[tokio::test]
    async fn tiny_frames_do_not_pin_their_buffers() {
        // Each 1-byte frame is a slice of its own 16 KiB buffer, as hyper gives a body
        // dribbled byte by byte. The client gets each frame as it is, at once; the
        // recorder copies them, so no buffer stays alive once the client drops its frame.
        const FRAMES: usize = 1000;
        let buffers: Vec<Bytes> = (0..FRAMES)
            .map(|i| Bytes::from(vec![(i % 251) as u8; 16 * 1024]))
            .collect();
        let expected: Vec<u8> = buffers.iter().map(|b| b[0]).collect();
        let (tx, rx) = oneshot::channel();
        let mut body = CacheBody::recording(
            Frames::data(buffers.iter().map(|b| b.slice(0..1))),
            Recorder::new(1 << 20, Box::new(Capture(tx))),
        );
        for buffer in &buffers {
            let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(frame.len(), 1);
            assert_eq!(
                frame.as_ptr(),
                buffer.as_ptr(),
                "the frame is passed on as is"
            );
            drop(frame);
            assert!(
                buffer.is_unique(),
                "the recorder keeps a slice of the buffer"
            );
        }
        assert!(body.frame().await.is_none());
        assert_eq!(rx.await.unwrap(), expected);
    }

    #[test]
    fn small_frames_are_kept_in_few_blocks() {
        struct Discard;
        impl Sink for Discard {
            fn finish(self: Box<Self>, _body: Bytes) -> Finish {
                Box::pin(std::future::ready(()))
            }
        }
        let mut recorder = Recorder::new(1 << 20, Box::new(Discard));
        for i in 0..40_000u32 {
            let buffer = Bytes::from(vec![i as u8; 4096]);
            recorder.push(&buffer.slice(0..1));
        }
        let held = recorder.chunks.len() + usize::from(!recorder.small.is_empty());
        assert!(held <= 40_000 / BLOCK + 1, "{held} chunks");
        let capacity: usize =
            recorder.chunks.iter().map(Bytes::len).sum::<usize>() + recorder.small.capacity();
        assert!(capacity <= 2 * 40_000, "{capacity} bytes held");
        let body = recorder.take_body();
        assert_eq!(body.len(), 40_000);
        assert!(body.iter().enumerate().all(|(i, b)| *b == i as u8));
    }

    #[tokio::test]
    async fn small_and_large_frames_keep_their_order() {
        let (tx, rx) = oneshot::channel();
        let large = Bytes::from(vec![b'x'; KEEP_MIN]);
        let frames = vec![
            Bytes::from_static(b"ab"),
            large.clone(),
            Bytes::from_static(b"c"),
            large.clone(),
        ];
        let expected: Vec<u8> = frames.iter().flatten().copied().collect();
        let body = CacheBody::recording(
            Frames::data(frames),
            Recorder::new(1 << 20, Box::new(Capture(tx))),
        );
        assert_eq!(body.collect().await.unwrap().to_bytes(), expected);
        assert_eq!(rx.await.unwrap(), expected);
    }

    #[tokio::test]
    async fn over_the_limit_streams_through_unrecorded() {
        let (tx, rx) = oneshot::channel();
        let body = CacheBody::recording(
            chunks(&["abc", "def", "ghi"]),
            Recorder::new(5, Box::new(Capture(tx))),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(out, "abcdefghi");
        assert!(rx.await.is_err(), "sink dropped without a body");
    }

    #[tokio::test]
    async fn end_of_stream_stores_without_a_final_poll() {
        // A consumer that stops as soon as is_end_stream() says so still gets the
        // entry stored, because the last data frame triggers the store.
        let (tx, rx) = oneshot::channel();
        let mut body = CacheBody::recording(
            Full::new(Bytes::from_static(b"xyz")),
            Recorder::new(100, Box::new(Capture(tx))),
        );
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "xyz");
        assert!(body.is_end_stream());
        assert_eq!(rx.await.unwrap(), "xyz");
    }

    #[tokio::test]
    async fn pending_store_delays_the_end_and_survives_drop() {
        struct Slow(Arc<AtomicUsize>, oneshot::Receiver<()>);
        impl Sink for Slow {
            fn finish(self: Box<Self>, _body: Bytes) -> Finish {
                let this = *self;
                Box::pin(async move {
                    let _ = this.1.await;
                    this.0.fetch_add(1, Ordering::SeqCst);
                })
            }
        }
        let stored = Arc::new(AtomicUsize::new(0));
        let (go, wait) = oneshot::channel();
        let mut body = CacheBody::recording(
            Full::new(Bytes::from_static(b"x")),
            Recorder::new(100, Box::new(Slow(stored.clone(), wait))),
        );
        let _ = body.frame().await.unwrap().unwrap();
        assert!(!body.is_end_stream(), "the store is still pending");
        drop(body);
        go.send(()).unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(stored.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stored_and_origin_bodies() {
        let stored: CacheBody<Full<Bytes>> = CacheBody::stored(Bytes::from_static(b"hi"));
        assert!(stored.is_stored());
        assert_eq!(stored.size_hint().exact(), Some(2));
        assert_eq!(stored.collect().await.unwrap().to_bytes(), "hi");
        let empty: CacheBody<Full<Bytes>> = CacheBody::empty();
        assert!(empty.is_end_stream());
        let origin = CacheBody::origin(Full::new(Bytes::from_static(b"o")));
        assert!(!origin.is_stored());
        assert_eq!(origin.size_hint().exact(), Some(1));
        assert!(format!("{origin:?}").contains("Origin"));
        assert_eq!(origin.collect().await.unwrap().to_bytes(), "o");
    }
}
