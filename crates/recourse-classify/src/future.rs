//! [`ResponseFuture`]: waits for the response, reads a bounded body prefix when the
//! response carries body-level codes, and attaches the verdict.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http::response::Parts;
use http::{Extensions, HeaderMap, Response, StatusCode, header};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use recourse_core::Class;

use crate::base::Base;
use crate::body::{ClassifiedBody, Prefix, data_len};
use crate::codes::BodyCodes;
use crate::errors::Errors;
use crate::json;
use crate::kind::Kind;
use crate::outcome::{BodyFindings, Outcome};
use crate::policy::{Head, Policy};
use crate::table::StatusTable;

/// How many frames one poll reads before yielding to the executor.
const FRAMES_PER_POLL: usize = 64;

/// The fewest frames a prefix may hold, whatever the bound.
const MIN_PREFIX_FRAMES: usize = 64;

/// The bound allows one frame per this many bytes (on average) of the prefix.
const BYTES_PER_FRAME: usize = 256;

/// How many frames a prefix read under `limit` bytes may hold: `limit / 256`, at least 64
/// (256 frames for the default 64 KiB).
///
/// Each frame held costs more than its bytes: its slot, and for hyper's bodies the read
/// buffer its `Bytes` points into (a server that dribbles one byte per TCP segment makes
/// every 1-byte frame pin a buffer of several KiB). Counting bytes alone let such a body
/// hold hundreds of MiB for a 64 KiB bound; counting frames too keeps what one response
/// can hold to a small multiple of the bound. A JSON body split into more frames than
/// this is not inspected (the status decides), and still reaches the caller whole.
pub(crate) fn max_prefix_frames(limit: usize) -> usize {
    (limit / BYTES_PER_FRAME).max(MIN_PREFIX_FRAMES)
}

pin_project! {
    /// The future returned by [`Classify`](crate::Classify): the inner service's response
    /// with its verdict attached.
    ///
    /// # Panics
    ///
    /// Like most futures, it panics if polled again after it completed.
    pub struct ResponseFuture<F, B: Body, P = StatusTable> {
        #[pin]
        state: State<F, B>,
        policy: P,
        codes: Option<BodyCodes>,
        base: Base,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B: Body> {
        Call { #[pin] future: F },
        // Reading a body prefix; the response head waits in the box.
        Read { prefix: Option<Pin<Box<Prefix<B>>>>, limit: usize, kind: Kind },
        Done,
    }
}

/// How the prefix read ended.
enum ReadEnd {
    /// The whole body is buffered.
    Complete,
    /// The body is longer than the bound (or came in too many frames).
    Overflow,
    /// The body failed; the error waits in the prefix for the caller.
    Failed,
}

impl<F, B: Body, P> ResponseFuture<F, B, P> {
    pub(crate) fn new(future: F, policy: P, codes: Option<BodyCodes>, base: Base) -> Self {
        ResponseFuture {
            state: State::Call { future },
            policy,
            codes,
            base,
        }
    }
}

impl<F, B: Body, P> fmt::Debug for ResponseFuture<F, B, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Call { .. } => "waiting for the response",
            State::Read { .. } => "reading the body prefix",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("base", &self.base)
            .finish_non_exhaustive()
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
                    let mut res = match ready!(future.poll(cx)) {
                        Ok(res) => res,
                        Err(e) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(e));
                        }
                    };
                    let kind = this.policy.classify(&Head::new(
                        res.status(),
                        res.version(),
                        res.headers(),
                    ));
                    let limit = this
                        .codes
                        .as_ref()
                        .and_then(|codes| codes.lookup(res.status(), res.headers()))
                        .map(|lookup| lookup.limit)
                        .filter(|limit| {
                            // Nothing to read, or more than the bound by its declared length.
                            let body = res.body();
                            !body.is_end_stream()
                                && body.size_hint().lower()
                                    <= u64::try_from(*limit).unwrap_or(u64::MAX)
                        });
                    let Some(limit) = limit else {
                        this.state.set(State::Done);
                        attach(&mut res, kind, this.base);
                        return Poll::Ready(Ok(res.map(ClassifiedBody::new)));
                    };
                    let (parts, body) = res.into_parts();
                    this.state.set(State::Read {
                        prefix: Some(Box::pin(Prefix::new(body, parts))),
                        limit,
                        kind,
                    });
                }
                StateProj::Read {
                    prefix: slot,
                    limit,
                    kind,
                } => {
                    let Some(prefix) = slot.as_mut() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let end = ready!(poll_prefix(prefix.as_mut(), *limit, cx));
                    let (Some(mut prefix), mut kind) = (slot.take(), *kind) else {
                        panic!("ResponseFuture polled after completion");
                    };
                    this.state.set(State::Done);
                    let Some(mut parts) = prefix.as_mut().project().head.take() else {
                        panic!("ResponseFuture lost the response head");
                    };
                    let found = match end {
                        ReadEnd::Complete => {
                            *prefix.as_mut().project().done = true;
                            this.codes.as_ref().and_then(|codes| {
                                inspect(codes, &parts, &prefix.frames, prefix.buffered)
                            })
                        }
                        ReadEnd::Overflow | ReadEnd::Failed => None,
                    };
                    if let Some(code) = found.as_ref().and_then(|f| f.code) {
                        let head = Head::new(parts.status, parts.version, &parts.headers);
                        kind = this.policy.classify_code(&head, kind, code);
                    }
                    attach_found(&mut parts, kind, found, this.base);
                    return Poll::Ready(Ok(Response::from_parts(
                        parts,
                        ClassifiedBody::prefixed(prefix),
                    )));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

/// Buffers frames until the body ends, fails, or passes the bound.
fn poll_prefix<B: Body>(
    prefix: Pin<&mut Prefix<B>>,
    limit: usize,
    cx: &mut Context<'_>,
) -> Poll<ReadEnd> {
    let mut prefix = prefix.project();
    let bound = u64::try_from(limit).unwrap_or(u64::MAX);
    let max_frames = max_prefix_frames(limit);
    for _ in 0..FRAMES_PER_POLL {
        match ready!(prefix.body.as_mut().poll_frame(cx)) {
            None => return Poll::Ready(ReadEnd::Complete),
            Some(Err(e)) => {
                *prefix.error = Some(e);
                *prefix.done = true;
                return Poll::Ready(ReadEnd::Failed);
            }
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *prefix.buffered = prefix.buffered.saturating_add(data_len(data));
                }
                prefix.frames.push_back(frame);
                if *prefix.buffered > bound || prefix.frames.len() >= max_frames {
                    return Poll::Ready(ReadEnd::Overflow);
                }
            }
        }
    }
    // A long run of ready frames: let other tasks run, then carry on.
    cx.waker().wake_by_ref();
    Poll::Pending
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
        message: message.and_then(json::text_of),
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

/// Stores the verdict of a response whose body was not read: only what [`Class::of`] and
/// [`Outcome::of`] cannot derive from the status and headers (see [`Outcome`]'s docs).
#[inline]
fn attach<B>(res: &mut Response<B>, kind: Kind, base: &Base) {
    let standard = Kind::standard(res.status());
    // The common case: the standard verdict and nothing to resolve. Nothing to store, and
    // nothing to allocate.
    if kind == standard && !(kind.has_location() && base.is_some()) {
        let extensions = res.extensions_mut();
        if !extensions.is_empty() {
            // A verdict from an inner classifier must not outlive this one.
            extensions.remove::<Class>();
            extensions.remove::<Outcome>();
        }
        return;
    }
    let (class, outcome) = verdict(
        res.status(),
        res.headers(),
        kind,
        standard,
        BodyFindings::default(),
        base,
    );
    store(res.extensions_mut(), class, outcome);
}

/// Stores the verdict of a response whose body prefix was read.
fn attach_found(parts: &mut Parts, kind: Kind, found: Option<BodyFindings>, base: &Base) {
    let standard = Kind::standard(parts.status);
    let found = match found {
        Some(found) => found,
        None if kind == standard && !(kind.has_location() && base.is_some()) => {
            store(&mut parts.extensions, None, None);
            return;
        }
        None => BodyFindings::default(),
    };
    let (class, outcome) = verdict(parts.status, &parts.headers, kind, standard, found, base);
    store(&mut parts.extensions, class, outcome);
}

/// What to store: the class when it is not the status's standard one, the outcome when it
/// cannot be derived again from the status and headers.
#[inline(never)]
fn verdict(
    status: StatusCode,
    headers: &HeaderMap,
    kind: Kind,
    standard: Kind,
    found: BodyFindings,
    base: &Base,
) -> (Option<Class>, Option<Outcome>) {
    let class = kind.class();
    let class = (class != standard.class()).then_some(class);
    let keep = kind != standard
        || (kind.has_errors() && found.errors.is_some())
        || (kind.has_location() && base.is_some() && headers.contains_key(&header::LOCATION));
    let outcome = keep.then(|| {
        let base = if kind.has_location() {
            base.to_uri()
        } else {
            None
        };
        Outcome::build(kind, status, headers, base.as_ref(), found)
    });
    (class, outcome)
}

/// Stores (or clears, so that a verdict from an inner classifier cannot outlive this one)
/// the class and the outcome.
fn store(extensions: &mut Extensions, class: Option<Class>, outcome: Option<Outcome>) {
    match class {
        Some(class) => {
            extensions.insert(class);
        }
        None if !extensions.is_empty() => {
            extensions.remove::<Class>();
        }
        None => {}
    }
    match outcome {
        Some(outcome) => {
            extensions.insert(outcome);
        }
        None if !extensions.is_empty() => {
            extensions.remove::<Outcome>();
        }
        None => {}
    }
}
