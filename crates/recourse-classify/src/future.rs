//! [`ResponseFuture`]: waits for the response, reads a bounded body prefix when the
//! response carries body-level codes, and attaches the verdict.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http::response::Parts;
use http::{Response, Uri, header};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use recourse_core::Class;

use crate::body::{ClassifiedBody, data_len};
use crate::codes::BodyCodes;
use crate::errors::Errors;
use crate::json;
use crate::kind::Kind;
use crate::outcome::{BodyFindings, Outcome};
use crate::policy::{Head, Policy};
use crate::table::StatusTable;

/// How many frames one poll reads before yielding to the executor.
const FRAMES_PER_POLL: usize = 64;

/// Empty frames tolerated on top of one frame per byte of the bound.
const EMPTY_FRAME_ALLOWANCE: usize = 1024;

pin_project! {
    /// The future returned by [`Classify`](crate::Classify): the inner service's response
    /// with its verdict attached.
    pub struct ResponseFuture<F, B: Body, P = StatusTable> {
        #[pin]
        state: State<F, B>,
        policy: P,
        codes: Option<BodyCodes>,
        base: Option<Uri>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B: Body> {
        Call { #[pin] future: F },
        Read { reader: Option<Box<Reader<B>>> },
        Done,
    }
}

/// A response whose body prefix is being read.
struct Reader<B: Body> {
    parts: Parts,
    body: Pin<Box<B>>,
    frames: VecDeque<Frame<B::Data>>,
    len: u64,
    limit: usize,
    kind: Kind,
}

/// How the prefix read ended.
enum ReadEnd<E> {
    /// The whole body is buffered.
    Complete,
    /// The body is longer than the bound (or came in too many frames).
    Overflow,
    /// The body failed; the error goes to the caller through the body.
    Failed(E),
}

impl<F, B: Body, P> ResponseFuture<F, B, P> {
    pub(crate) fn new(future: F, policy: P, codes: Option<BodyCodes>, base: Option<Uri>) -> Self {
        ResponseFuture {
            state: State::Call { future },
            policy,
            codes,
            base,
        }
    }
}

impl<F, B, E, P> Future for ResponseFuture<F, B, P>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    P: Policy,
{
    type Output = Result<Response<ClassifiedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Call { future } => {
                    let res = match ready!(future.poll(cx)) {
                        Ok(res) => res,
                        Err(e) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(e));
                        }
                    };
                    let (mut parts, body) = res.into_parts();
                    let kind = this.policy.classify(&Head::new(
                        parts.status,
                        parts.version,
                        &parts.headers,
                    ));
                    let limit = this
                        .codes
                        .as_ref()
                        .and_then(|codes| codes.lookup(parts.status, &parts.headers))
                        .map(|lookup| lookup.limit)
                        .filter(|limit| {
                            // Nothing to read, or more than the bound by its declared length.
                            !body.is_end_stream()
                                && body.size_hint().lower()
                                    <= u64::try_from(*limit).unwrap_or(u64::MAX)
                        });
                    let Some(limit) = limit else {
                        this.state.set(State::Done);
                        attach(&mut parts, kind, None, this.base.as_ref());
                        return Poll::Ready(Ok(Response::from_parts(
                            parts,
                            ClassifiedBody::new(body),
                        )));
                    };
                    this.state.set(State::Read {
                        reader: Some(Box::new(Reader {
                            parts,
                            body: Box::pin(body),
                            frames: VecDeque::new(),
                            len: 0,
                            limit,
                            kind,
                        })),
                    });
                }
                StateProj::Read { reader } => {
                    let Some(read) = reader.as_mut() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let end = ready!(read.poll_prefix(cx));
                    let Some(read) = reader.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    this.state.set(State::Done);
                    let Reader {
                        mut parts,
                        body,
                        frames,
                        len,
                        mut kind,
                        ..
                    } = *read;
                    let (error, done, found) = match end {
                        ReadEnd::Complete => {
                            let found = this
                                .codes
                                .as_ref()
                                .and_then(|codes| inspect(codes, &parts, &frames, len));
                            (None, true, found)
                        }
                        ReadEnd::Overflow => (None, false, None),
                        ReadEnd::Failed(e) => (Some(e), true, None),
                    };
                    if let Some(code) = found.as_ref().and_then(|f| f.code) {
                        let head = Head::new(parts.status, parts.version, &parts.headers);
                        kind = this.policy.classify_code(&head, kind, code);
                    }
                    attach(&mut parts, kind, found, this.base.as_ref());
                    let body = ClassifiedBody::prefixed(body, frames, len, error, done);
                    return Poll::Ready(Ok(Response::from_parts(parts, body)));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

impl<B: Body> Reader<B> {
    /// Buffers frames until the body ends, fails, or passes the bound.
    fn poll_prefix(&mut self, cx: &mut Context<'_>) -> Poll<ReadEnd<B::Error>> {
        let limit = u64::try_from(self.limit).unwrap_or(u64::MAX);
        let max_frames = self.limit.saturating_add(EMPTY_FRAME_ALLOWANCE);
        for _ in 0..FRAMES_PER_POLL {
            match ready!(self.body.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(ReadEnd::Complete),
                Some(Err(e)) => return Poll::Ready(ReadEnd::Failed(e)),
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.len = self.len.saturating_add(data_len(data));
                    }
                    self.frames.push_back(frame);
                    if self.len > limit || self.frames.len() > max_frames {
                        return Poll::Ready(ReadEnd::Overflow);
                    }
                }
            }
        }
        // A long run of ready frames: let other tasks run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Parses a complete body prefix and returns what it holds at the configured paths.
/// `None` when the body is not one well-formed JSON document.
fn inspect<D: Buf>(
    codes: &BodyCodes,
    parts: &Parts,
    frames: &VecDeque<Frame<D>>,
    len: u64,
) -> Option<BodyFindings> {
    let lookup = codes.lookup(parts.status, &parts.headers)?;
    let mut data = frames.iter().filter_map(Frame::data_ref);
    let copied;
    let bytes: &[u8] = match (data.next(), data.next()) {
        (None, _) => &[],
        // One contiguous chunk (the usual case): parse it in place.
        (Some(only), None) if only.chunk().len() == only.remaining() => only.chunk(),
        _ => {
            let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            for data in frames.iter().filter_map(Frame::data_ref) {
                if !copy_buf(data, &mut buf) {
                    return None;
                }
            }
            copied = buf;
            &copied
        }
    };
    let [code, message, errors] = json::scan(bytes, lookup.paths).ok()?;
    Some(BodyFindings {
        code: code.as_ref().and_then(json::code_of),
        message: message.as_ref().and_then(json::text_of),
        errors: errors.as_ref().map(Errors::from_json),
    })
}

/// Appends all of `data` to `buf` without consuming it. A `Buf` split in more pieces than
/// one vectored read returns cannot be read without advancing it; `false` then (the body
/// is not inspected). `Bytes`, the data of every hyper body, is a single piece.
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

/// Stores the verdict in the response extensions: only what [`Class::of`] and
/// [`Outcome::of`] cannot derive from the status and headers (see [`Outcome`]'s docs).
#[inline]
pub(crate) fn attach(
    parts: &mut Parts,
    kind: Kind,
    found: Option<BodyFindings>,
    base: Option<&Uri>,
) {
    let status = parts.status;
    let standard = Kind::standard(status);
    let class = kind.class();
    if class != standard.class() {
        parts.extensions.insert(class);
    } else if !parts.extensions.is_empty() {
        // A verdict from an inner classifier must not outlive this one.
        parts.extensions.remove::<Class>();
    }
    let store = kind != standard
        || (kind.has_errors() && found.as_ref().is_some_and(|f| f.errors.is_some()))
        || (kind.has_location() && base.is_some() && parts.headers.contains_key(header::LOCATION));
    if store {
        let outcome = Outcome::build(
            kind,
            status,
            &parts.headers,
            base,
            found.unwrap_or_default(),
        );
        parts.extensions.insert(outcome);
    } else if !parts.extensions.is_empty() {
        parts.extensions.remove::<Outcome>();
    }
}
