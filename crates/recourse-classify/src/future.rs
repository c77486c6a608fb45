//! [`ResponseFuture`]: waits for the response, peeks at a bounded body prefix when the
//! response carries body-level codes, and attaches the verdict.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::response::Parts;
use http::{Extensions, HeaderMap, Response, StatusCode, header};
use http_body::Body;
use pin_project_lite::pin_project;
use recourse_core::body::{Peek, PeekBody, Peeked};
use recourse_core::observe::{Stopwatch, attr, class_label, method_label};
use recourse_core::{Class, FinalUri, InlineUri, json};

use crate::codes::BodyCodes;
use crate::errors::Errors;
use crate::kind::Kind;
use crate::outcome::{BodyFindings, Outcome};
use crate::policy::{Head, Policy};
use crate::table::StatusTable;

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
        base: InlineUri,
        observed: Observed,
    }
}

/// The attempt's span and what its duration histogram needs. When nobody listens (no
/// subscriber: a disabled span; no recorder: a stopwatch that never read the clock),
/// finishing the attempt costs two checks.
pub(crate) struct Observed {
    span: tracing::Span,
    /// Running only when a `metrics` recorder listened as the attempt started.
    stopwatch: Stopwatch,
    /// The method's label; read only when the stopwatch runs.
    method: &'static str,
}

impl Observed {
    /// Opens the observation of an attempt: reads the clock only when a recorder listens.
    #[inline]
    pub(crate) fn new(span: tracing::Span, method: &http::Method) -> Self {
        let stopwatch = Stopwatch::start();
        Observed {
            span,
            stopwatch,
            method: if stopwatch.is_running() {
                method_label(method)
            } else {
                ""
            },
        }
    }

    /// The attempt's span.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Records the attempt's answer on its span and, when a recorder listened as it
    /// started, in the duration histogram (an attempt that started before a recorder was
    /// installed is not in the histogram).
    #[inline]
    fn finish(
        &self,
        status: Option<StatusCode>,
        extensions: Option<&Extensions>,
        error: Option<&'static str>,
    ) {
        if self.stopwatch.is_running() || !self.span.is_disabled() {
            self.record(status, extensions, error);
        }
    }

    /// [`finish`](Observed::finish) when someone listens.
    #[inline(never)]
    fn record(
        &self,
        status: Option<StatusCode>,
        extensions: Option<&Extensions>,
        error: Option<&'static str>,
    ) {
        let elapsed = self.stopwatch.elapsed();
        let class = match (status, extensions) {
            (Some(status), Some(ext)) => Some(
                ext.get::<Class>()
                    .copied()
                    .unwrap_or(Class::from_status(status)),
            ),
            _ => None,
        };
        let class_label = class.map_or("none", class_label);
        if let Some(elapsed) = elapsed {
            recourse_core::observe::record_attempt_duration(self.method, class_label, elapsed);
        }
        if self.span.is_disabled() {
            return;
        }
        let span = &self.span;
        if let Some(status) = status {
            span.record(attr::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
            if status.as_u16() >= 400 {
                span.record(attr::ERROR_TYPE, status.as_str());
            }
        }
        if let Some(error) = error {
            span.record(attr::ERROR_TYPE, error);
        }
        span.record(attr::CLASS, class_label);
        if let Some(Outcome::ApplicationFailure { code, .. }) =
            extensions.and_then(|e| e.get::<Outcome>())
        {
            span.record(attr::BODY_CODE, *code);
        }
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateOwn]
    enum State<F, B: Body> {
        Call { #[pin] future: F },
        // Peeking at the body (core's bounded read-ahead); the response head waits with
        // it. Boxed together, so that this state costs the future no more than a pointer:
        // every response moves the future, only JSON responses on a code status peek.
        Peek { peeking: Box<(Peek<B>, Parts)>, kind: Kind },
        Done,
    }
}

impl<F, B: Body, P> ResponseFuture<F, B, P> {
    #[inline]
    pub(crate) fn new(
        future: F,
        policy: P,
        codes: Option<BodyCodes>,
        base: InlineUri,
        observed: Observed,
    ) -> Self {
        ResponseFuture {
            state: State::Call { future },
            policy,
            codes,
            base,
            observed,
        }
    }
}

impl<F, B: Body, P> fmt::Debug for ResponseFuture<F, B, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Call { .. } => "waiting for the response",
            State::Peek { .. } => "peeking at the body",
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
    type Output = Result<Response<PeekBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.observed.span.enter();
        loop {
            match this.state.as_mut().project() {
                StateProj::Call { future } => {
                    let mut res = match ready!(future.poll(cx)) {
                        Ok(res) => res,
                        Err(e) => {
                            this.state.set(State::Done);
                            this.observed
                                .finish(None, None, Some(std::any::type_name::<E>()));
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
                        this.observed
                            .finish(Some(res.status()), Some(res.extensions()), None);
                        return Poll::Ready(Ok(res.map(PeekBody::new)));
                    };
                    let (head, body) = res.into_parts();
                    this.state.set(State::Peek {
                        peeking: Box::new((Peek::new(body, limit), head)),
                        kind,
                    });
                }
                StateProj::Peek { peeking, .. } => {
                    let end = ready!(peeking.0.poll_peek(cx));
                    let StateOwn::Peek { peeking, mut kind } =
                        this.state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("the state was Peek");
                    };
                    let (peek, mut parts) = *peeking;
                    let found = match end {
                        Peeked::Complete => this
                            .codes
                            .as_ref()
                            .and_then(|codes| inspect(codes, &parts, &peek)),
                        // Over the bound (in bytes or frames), or the body failed: the
                        // status decides, and the caller gets the error through the body.
                        _ => None,
                    };
                    if let Some(code) = found.as_ref().and_then(|f| f.code) {
                        let head = Head::new(parts.status, parts.version, &parts.headers);
                        kind = this.policy.classify_code(&head, kind, code);
                    }
                    attach_found(&mut parts, kind, found, this.base);
                    this.observed
                        .finish(Some(parts.status), Some(&parts.extensions), None);
                    return Poll::Ready(Ok(Response::from_parts(parts, peek.into_body())));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

/// Parses a complete body and returns what it holds at the configured paths. `None` when
/// the body is not one well-formed JSON document.
fn inspect<B: Body>(codes: &BodyCodes, parts: &Parts, peek: &Peek<B>) -> Option<BodyFindings> {
    let lookup = codes.lookup(parts.status, &parts.headers)?;
    let bytes = peek.bytes()?;
    let [code, message, errors] = json::scan(&bytes, lookup.paths).ok()?;
    Some(BodyFindings {
        code: code.as_ref().and_then(json::code_of),
        message: message.and_then(json::text_of),
        errors: errors.as_ref().map(Errors::from_json),
    })
}

/// Stores the verdict of a response whose body was not read: only what [`Class::of`] and
/// [`Outcome::of`] cannot derive from the status and headers (see [`Outcome`]'s docs).
#[inline]
fn attach<B>(res: &mut Response<B>, kind: Kind, base: &InlineUri) {
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
        res.extensions(),
        kind,
        standard,
        BodyFindings::default(),
        base,
    );
    store(res.extensions_mut(), class, outcome);
}

/// Stores the verdict of a response whose body prefix was read.
fn attach_found(parts: &mut Parts, kind: Kind, found: Option<BodyFindings>, base: &InlineUri) {
    let standard = Kind::standard(parts.status);
    let found = match found {
        Some(found) => found,
        None if kind == standard && !(kind.has_location() && base.is_some()) => {
            store(&mut parts.extensions, None, None);
            return;
        }
        None => BodyFindings::default(),
    };
    let (class, outcome) = verdict(
        parts.status,
        &parts.headers,
        &parts.extensions,
        kind,
        standard,
        found,
        base,
    );
    store(&mut parts.extensions, class, outcome);
}

/// What to store: the class when it is not the status's standard one, the outcome when it
/// cannot be derived again from the status and headers.
#[inline(never)]
fn verdict(
    status: StatusCode,
    headers: &HeaderMap,
    extensions: &Extensions,
    kind: Kind,
    standard: Kind,
    found: BodyFindings,
    base: &InlineUri,
) -> (Option<Class>, Option<Outcome>) {
    let class = kind.class();
    let class = (class != standard.class()).then_some(class);
    let keep = kind != standard
        || (kind.has_errors() && found.errors.is_some())
        || (kind.has_location() && base.is_some() && headers.contains_key(&header::LOCATION));
    let outcome = keep.then(|| {
        // A `Location` is relative to the URI that answered (RFC 9110 §10.2.2): the
        // `FinalUri` a redirect layer inside this one recorded, else the request URI.
        let base = if kind.has_location() && base.is_some() {
            match extensions.get::<FinalUri>() {
                Some(answered) => Some(answered.uri().clone()),
                None => base.to_uri(),
            }
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
