//! [`SetDeadlineLayer`]: one deadline for the whole request, set and enforced.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use recourse_core::Deadline;
use recourse_core::body::{Peek, PeekBody};
use recourse_core::observe::outcome;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use crate::observe::Logical;
use crate::report::{Pending, Report, Reporting};

/// Puts one [`Deadline`] on every request and fails the request with
/// [`DeadlineError::Elapsed`] when it passes.
///
/// Put it outermost: the layers below read the deadline from the request's extensions
/// and never start a wait (a retry's backoff, a poll interval, a redirect hop) that would
/// end past it, so that what comes back at the deadline is a typed outcome rather than a
/// cancelled wait. A request that already carries an earlier deadline keeps it.
#[derive(Clone, Debug)]
pub struct SetDeadlineLayer {
    timeout: Duration,
    reporting: Option<Reporting>,
}

impl SetDeadlineLayer {
    /// A deadline `timeout` after each request starts.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            reporting: None,
        }
    }

    /// Reports the requests whose final answer is a failure `reporting` asks for (see
    /// [`report`](crate::report)): outermost, this layer sees the answer after every
    /// retry, hop and poll.
    pub fn report(mut self, reporting: Reporting) -> Self {
        self.reporting = Some(reporting);
        self
    }
}

impl<S> Layer<S> for SetDeadlineLayer {
    type Service = SetDeadline<S>;

    fn layer(&self, inner: S) -> SetDeadline<S> {
        SetDeadline {
            inner,
            timeout: self.timeout,
            reporting: self.reporting.clone(),
        }
    }
}

/// The service of [`SetDeadlineLayer`].
#[derive(Clone, Debug)]
pub struct SetDeadline<S> {
    inner: S,
    timeout: Duration,
    reporting: Option<Reporting>,
}

impl<S> SetDeadline<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            reporting: None,
        }
    }

    /// A [`SetDeadlineLayer`] that gives every request `timeout`.
    pub fn layer(timeout: Duration) -> SetDeadlineLayer {
        SetDeadlineLayer::new(timeout)
    }

    recourse_core::inner_service_accessors!();
}

impl<S, B, RB> Service<Request<B>> for SetDeadline<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: 'static,
    RB: Body,
{
    type Response = Response<PeekBody<RB>>;
    type Error = DeadlineError<S::Error>;
    type Future = DeadlineFuture<S::Future, RB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(DeadlineError::Inner)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let at = tighten(&mut req, Deadline::after(self.timeout));
        // Outermost: the logical request's span, which every attempt's span nests in.
        let logical = Logical::start(&req);
        let pending = self
            .reporting
            .as_ref()
            .map(|r| Box::new(Pending::new(r, &req)));
        // The inner call runs in the span (entered only when someone listens), and its
        // future is written straight into the one this returns.
        let _entered = logical.enter();
        DeadlineFuture {
            inner: self.inner.call(req),
            timer: Timer::Unarmed { at },
            logical,
            pending,
            excerpt: None,
        }
    }
}

/// Puts `deadline` on `req` unless it carries an earlier one, and returns the one in
/// effect. A deadline already there is overwritten in place (nothing allocated).
fn tighten<B>(req: &mut Request<B>, deadline: Deadline) -> Instant {
    match req.extensions_mut().get_mut::<Deadline>() {
        Some(existing) => {
            *existing = Deadline::min(*existing, deadline);
            existing.instant()
        }
        None => {
            req.extensions_mut().insert(deadline);
            deadline.instant()
        }
    }
}

pin_project! {
    /// The deadline's timer, armed only once the inner future is pending: a request
    /// answered on its first poll (a cache hit, an in-memory service) never creates or
    /// registers a `tokio::time::Sleep`.
    #[project = TimerProj]
    enum Timer {
        Unarmed { at: Instant },
        Armed { #[pin] sleep: Sleep },
    }
}

impl Timer {
    /// Polls the timer, arming it first if it is not yet.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let TimerProj::Unarmed { at } = self.as_mut().project() {
            let sleep = tokio::time::sleep_until(*at);
            self.set(Timer::Armed { sleep });
        }
        match self.project() {
            TimerProj::Armed { sleep } => sleep.poll(cx),
            // Armed just above.
            TimerProj::Unarmed { .. } => Poll::Pending,
        }
    }

    /// Brings the timer forward to `until` if that is earlier than when it fires.
    fn tighten(self: Pin<&mut Self>, until: Instant) {
        match self.project() {
            TimerProj::Unarmed { at } => *at = (*at).min(until),
            TimerProj::Armed { sleep } => {
                if until < sleep.deadline() {
                    sleep.reset(until);
                }
            }
        }
    }
}

/// A reported response whose body's first bytes are being read for the report.
///
/// The report is sent exactly once: by [`finish`](Self::finish), or, when the excerpt is
/// dropped before (the caller dropped the request's future while the body was being
/// read), by its `Drop`, with the bytes read so far.
struct Excerpt<B: Body> {
    /// The response, taken by `finish`.
    response: Option<(http::response::Parts, Peek<B>)>,
    /// The report and where it goes, taken when it is sent.
    unsent: Option<(Reporting, Report)>,
}

impl<B: Body> Excerpt<B> {
    fn new(res: Response<B>, limit: usize, reporting: Reporting, report: Report) -> Self {
        let (parts, body) = res.into_parts();
        Excerpt {
            response: Some((parts, Peek::new(body, limit))),
            unsent: Some((reporting, report)),
        }
    }

    /// Reads ahead; ready when the body ended, failed or passed the limit.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.response.as_mut() {
            Some((_, peek)) => peek.poll_peek(cx).map(drop),
            None => Poll::Ready(()),
        }
    }

    /// Sends the report (unless it was) with the bytes read so far.
    fn send(&mut self) {
        let Some((reporting, mut report)) = self.unsent.take() else {
            return;
        };
        let limit = reporting.excerpt_limit();
        let read = self
            .response
            .as_ref()
            .and_then(|(_, peek)| peek.bytes())
            .unwrap_or_default();
        report.excerpt = Some(Bytes::copy_from_slice(&read[..read.len().min(limit)]));
        reporting.send(report);
    }

    /// Sends the report with the bytes read, and gives the response back with its whole
    /// body: the frames read, then the rest.
    fn finish(&mut self) -> Option<Response<PeekBody<B>>> {
        self.send();
        let (parts, peek) = self.response.take()?;
        Some(Response::from_parts(parts, peek.into_body()))
    }
}

impl<B: Body> Drop for Excerpt<B> {
    fn drop(&mut self) {
        self.send();
    }
}

pin_project! {
    /// The response future of [`SetDeadline`].
    ///
    /// It keeps the inner future, the deadline's timer (armed only when the inner future
    /// is pending), the `recourse.request` span and two pointers, set only when a
    /// reporter is: what a report needs from the request, and a reported body's first
    /// bytes while they are read. Nothing else is moved with it.
    pub struct DeadlineFuture<F, B: Body> {
        #[pin]
        inner: F,
        #[pin]
        timer: Timer,
        logical: Logical,
        pending: Option<Box<Pending>>,
        excerpt: Option<Box<Excerpt<B>>>,
    }
}

impl<F, B: Body> fmt::Debug for DeadlineFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for DeadlineFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    E: 'static,
{
    type Output = Result<Response<PeekBody<B>>, DeadlineError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.excerpt.is_some() {
            return poll_excerpt(this.excerpt, this.timer, cx).map(Ok);
        }
        let entered = this.logical.span.enter();
        let polled = this.inner.poll(cx);
        drop(entered);
        if let Poll::Ready(out) = polled {
            let res = match out {
                Ok(res) => res,
                Err(e) => {
                    let failure = crate::observe::failure(&e);
                    this.logical.error(failure.outcome);
                    if let Some(pending) = this.pending.take() {
                        pending.error(failure, || std::any::type_name::<E>().to_owned());
                    }
                    return Poll::Ready(Err(DeadlineError::Inner(e)));
                }
            };
            this.logical.response(&res);
            let Some((reporting, report)) = this.pending.take().and_then(|p| p.response(&res))
            else {
                return Poll::Ready(Ok(res.map(PeekBody::new)));
            };
            let limit = reporting.excerpt_limit();
            if limit == 0 {
                reporting.send(report);
                return Poll::Ready(Ok(res.map(PeekBody::new)));
            }
            // Hold the response back no longer than the wait (nor the deadline): the
            // timer has nothing else to time any more. A wait too long to add to the
            // clock leaves the deadline alone.
            if let Some(until) = Instant::now().checked_add(reporting.excerpt_wait_limit()) {
                this.timer.as_mut().tighten(until);
            }
            *this.excerpt = Some(Box::new(Excerpt::new(res, limit, reporting, report)));
            return poll_excerpt(this.excerpt, this.timer, cx).map(Ok);
        }
        ready!(this.timer.poll(cx));
        this.logical.error(outcome::DEADLINE);
        if let Some(pending) = this.pending.take() {
            let failure = crate::observe::Failure {
                outcome: outcome::DEADLINE,
                refusal: None,
            };
            pending.error(failure, || {
                DeadlineError::<std::convert::Infallible>::Elapsed.to_string()
            });
        }
        Poll::Ready(Err(DeadlineError::Elapsed))
    }
}

/// Reads a reported failure's first bytes until the timer fires (the excerpt's wait, or
/// the deadline if earlier; the report then keeps what was read), then reports it and
/// gives the response back.
fn poll_excerpt<B: Body>(
    excerpt: &mut Option<Box<Excerpt<B>>>,
    timer: Pin<&mut Timer>,
    cx: &mut Context<'_>,
) -> Poll<Response<PeekBody<B>>> {
    let Some(reading) = excerpt.as_mut() else {
        // Only called with an excerpt in progress.
        return Poll::Pending;
    };
    if reading.poll_read(cx).is_pending() && timer.poll(cx).is_pending() {
        return Poll::Pending;
    }
    match excerpt.take().and_then(|mut done| done.finish()) {
        Some(res) => Poll::Ready(res),
        // `finish` is called once, on the excerpt that holds the response.
        None => Poll::Pending,
    }
}

/// The error of [`SetDeadline`]: the inner service's, or the deadline passing.
#[derive(Debug)]
pub enum DeadlineError<E> {
    /// The inner service failed.
    Inner(E),
    /// The deadline passed before a response arrived.
    Elapsed,
}

impl<E> DeadlineError<E> {
    /// Whether the deadline passed.
    pub fn is_elapsed(&self) -> bool {
        matches!(self, DeadlineError::Elapsed)
    }

    /// Whether the inner service failed.
    pub fn is_inner(&self) -> bool {
        matches!(self, DeadlineError::Inner(_))
    }

    /// The inner service's error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match self {
            DeadlineError::Inner(e) => Some(e),
            DeadlineError::Elapsed => None,
        }
    }

    /// The inner service's error, or this error back when it is not one.
    pub fn into_inner(self) -> Result<E, Self> {
        match self {
            DeadlineError::Inner(e) => Ok(e),
            elapsed @ DeadlineError::Elapsed => Err(elapsed),
        }
    }

    /// A boxed error: the inner service's own error (not wrapped again), or this one.
    pub fn into_box_error(self) -> recourse_core::BoxError
    where
        E: Into<recourse_core::BoxError>,
    {
        match self {
            DeadlineError::Inner(e) => e.into(),
            DeadlineError::Elapsed => Box::new(DeadlineError::<std::convert::Infallible>::Elapsed),
        }
    }
}

impl<E: fmt::Display> fmt::Display for DeadlineError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadlineError::Inner(e) => fmt::Display::fmt(e, f),
            DeadlineError::Elapsed => {
                f.write_str("the request's deadline passed before a response arrived")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for DeadlineError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeadlineError::Inner(e) => Some(e),
            DeadlineError::Elapsed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    /// A response that carries `remaining` in its extensions.
    fn answer(remaining: Duration) -> Response<http_body_util::Empty<Bytes>> {
        let mut res = Response::new(http_body_util::Empty::new());
        res.extensions_mut().insert(remaining);
        res
    }

    #[tokio::test(start_paused = true)]
    async fn sets_and_enforces_the_deadline() {
        let svc = tower::service_fn(|req: Request<()>| async move {
            let remaining = Deadline::of(&req).unwrap().remaining();
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, Infallible>(answer(remaining))
        });
        let quick = SetDeadline::new(svc, Duration::from_secs(5));
        let res = quick.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(
            res.extensions().get::<Duration>(),
            Some(&Duration::from_secs(5))
        );
        let slow = SetDeadline::new(quick.into_inner(), Duration::from_secs(2));
        let err = slow.oneshot(Request::new(())).await.unwrap_err();
        assert!(err.is_elapsed());
        assert!(err.to_string().contains("deadline"));
    }

    /// The gauge and counter values recorded since the last snapshot, by name.
    fn recorded(
        snapshotter: &metrics_util::debugging::Snapshotter,
    ) -> std::collections::BTreeMap<String, f64> {
        use metrics_util::debugging::DebugValue;
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let value = match value {
                    DebugValue::Counter(n) => n as f64,
                    DebugValue::Gauge(v) => v.into_inner(),
                    DebugValue::Histogram(v) => v.len() as f64,
                };
                (key.key().name().to_owned(), value)
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_only_while_a_recorder_listens() {
        let svc = tower::service_fn(|_req: Request<()>| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Infallible>(answer(Duration::ZERO))
        });
        let svc = SetDeadline::new(svc, Duration::from_secs(5));
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();

        // Started before the recorder: not in the gauge (it never goes below zero), but
        // its end is counted by the recorder listening then.
        let mut early = std::pin::pin!(svc.clone().oneshot(Request::new(())));
        assert!(futures_poll(early.as_mut()).is_pending());
        let _guard = metrics::set_default_local_recorder(&recorder);
        early.await.unwrap();
        let got = recorded(&snapshotter);
        assert_eq!(got.get("recourse.requests.in_flight"), None, "{got:?}");
        assert_eq!(got.get("recourse.requests"), Some(&1.0), "{got:?}");

        // Started while it listens: 1 in flight until the answer, then 0.
        let mut late = std::pin::pin!(svc.oneshot(Request::new(())));
        assert!(futures_poll(late.as_mut()).is_pending());
        assert_eq!(
            recorded(&snapshotter).get("recourse.requests.in_flight"),
            Some(&1.0)
        );
        late.await.unwrap();
        // (Each snapshot holds what changed since the last one: back to 0 is -1.)
        let got = recorded(&snapshotter);
        assert_eq!(
            got.get("recourse.requests.in_flight"),
            Some(&-1.0),
            "{got:?}"
        );
        assert_eq!(got.get("recourse.requests"), Some(&1.0), "{got:?}");
    }

    /// Polls `fut` once with a waker that does nothing.
    fn futures_poll<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_wins() {
        let svc = tower::service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(answer(Deadline::of(&req).unwrap().remaining()))
        });
        let mut req = Request::new(());
        Deadline::after(Duration::from_secs(1)).insert_into(&mut req);
        let res = SetDeadline::new(svc, Duration::from_secs(60))
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(
            res.extensions().get::<Duration>(),
            Some(&Duration::from_secs(1))
        );
    }
}
