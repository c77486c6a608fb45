//! [`ResponseFuture`]: one request through the retry layer, attempt after attempt.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode, request};
use http_body::Body;
use recourse_core::body::{Drain, Drained, NotReplayable, ReplayBody};
use recourse_core::{Attempt, Deadline, History, Resend, Step, clock, headers};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::budget::RetryBudget;
use crate::config::{Config, as_dyn_error};
use crate::info::{RetryInfo, StopReason};
use crate::policy::{Attempted, Policy};
use crate::timeout::{NoTryTimeout, TryTimedOut, TryTimeoutMode};

pin_project_lite::pin_project! {
    /// The response future of [`Retry`](crate::Retry).
    ///
    /// It resolves to the first response (or error) the policy does not want retried, or
    /// to the last one when the layer stops (see [`RetryInfo`]). Dropping it cancels the
    /// attempt in flight and any wait.
    pub struct ResponseFuture<S, P, ReqB, ResB, T = NoTryTimeout>
    where
        S: Service<Request<ReplayBody<ReqB>>, Response = Response<ResB>>,
    {
        #[pin]
        pub(crate) state: State<S::Future, ResB, ReqB>,
        pub(crate) ctx: Ctx<S, P, ReqB>,
        // The per-try timer, when the layer has a per-try timeout (allocated once per
        // request, reset for each try).
        pub(crate) timer: Option<TryTimer>,
        pub(crate) mode: PhantomData<fn() -> T>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    pub(crate) enum State<F, ResB, ReqB> {
        // An attempt is in flight.
        Called {
            #[pin]
            fut: F,
        },
        // The failed response's body is being drained, so its connection can be reused.
        // (Boxed: only the retry path pays for it, and the future stays small.)
        // The next attempt's body rides along from state to state (it costs nothing:
        // the enum is as large as the inner future anyway).
        Draining {
            drain: Pin<Box<Drain<ResB>>>,
            // When the wait after the drain ends (`None`: no wait).
            resume_at: Option<Instant>,
            body: Option<ReplayBody<ReqB>>,
        },
        // Waiting before the next attempt.
        Waiting {
            sleep: Pin<Box<Sleep>>,
            body: Option<ReplayBody<ReqB>>,
        },
        // The wait is over: the service must become ready for the next attempt.
        Ready {
            body: Option<ReplayBody<ReqB>>,
        },
    }
}

/// The timer of the try in flight, and the time it was given (one allocation per
/// request, one pointer in the future).
pub(crate) struct TryTimer(Pin<Box<Timed>>);

pin_project_lite::pin_project! {
    struct Timed {
        #[pin]
        sleep: Sleep,
        given: Duration,
    }
}

impl TryTimer {
    /// A timer for the first try of a request.
    pub(crate) fn new(timeout: Duration, parts: &request::Parts) -> Self {
        let (end, given) = try_end(timeout, parts);
        Self(Box::pin(Timed {
            sleep: tokio::time::sleep_until(end),
            given,
        }))
    }

    /// Restarts the timer for the next try.
    fn reset(&mut self, timeout: Duration, parts: &request::Parts) {
        let (end, given) = try_end(timeout, parts);
        let timed = self.0.as_mut().project();
        timed.sleep.reset(end);
        *timed.given = given;
    }

    /// Waits for the end of the try; then, the time it was given.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Duration> {
        let timed = self.0.as_mut().project();
        ready!(timed.sleep.poll(cx));
        Poll::Ready(*timed.given)
    }
}

/// When a try must end: after the per-try timeout, or before the request's deadline when
/// less of it is left.
fn try_end(timeout: Duration, parts: &request::Parts) -> (Instant, Duration) {
    let given = match parts.extensions.get::<Deadline>() {
        Some(deadline) => timeout.min(deadline.remaining()),
        None => timeout,
    };
    let now = Instant::now();
    (now.checked_add(given).unwrap_or(now), given)
}

/// What a request needs to be sent again, and what the layer learned so far.
pub(crate) struct Ctx<S, P, B> {
    pub(crate) service: S,
    pub(crate) policy: P,
    pub(crate) config: Arc<Config>,
    /// The request as first sent (with an injected key, if any); never sent itself.
    pub(crate) parts: request::Parts,
    /// The never-polled template of the body (or why there is none).
    pub(crate) body: Result<ReplayBody<B>, NotReplayable>,
    /// Attempts sent so far.
    pub(crate) attempts: u32,
    /// The idempotency gate's verdict.
    pub(crate) idempotent: bool,
    /// When the layer's total time limit ends, if it has one.
    pub(crate) limit_at: Option<Instant>,
    /// Steps to put in front of the final response's history (no allocation until the
    /// first retry).
    pub(crate) history: History,
    /// Tries cancelled on the per-try timeout.
    pub(crate) timeouts: u32,
    /// The budget of the request's origin, when the layer has one per origin.
    pub(crate) partition: Option<Arc<RetryBudget>>,
}

enum Next<T, ResB, ReqB> {
    Return(T),
    Retry {
        wait: Duration,
        /// The failed response's body, to drain.
        failed: Option<ResB>,
        /// The body of the next attempt.
        body: ReplayBody<ReqB>,
    },
}

// === impl ResponseFuture ===

impl<S, P, ReqB, ResB, T> Future for ResponseFuture<S, P, ReqB, ResB, T>
where
    S: Service<Request<ReplayBody<ReqB>>, Response = Response<ResB>>,
    S::Error: 'static,
    P: Policy<ResB, S::Error>,
    T: TryTimeoutMode<S::Error>,
    ResB: Body,
{
    type Output = Result<Response<ResB>, T::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { fut } => {
                    let result = match fut.poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => {
                            let Some(timer) = this.timer.as_mut() else {
                                return Poll::Pending;
                            };
                            let given = ready!(timer.poll_end(cx));
                            // No response head in time: cancel the try (dropping its
                            // future drops its connection and the body being sent).
                            this.state.set(State::Ready { body: None });
                            match this.ctx.try_timed_out(given) {
                                Err(timed_out) => {
                                    let Some(error) = T::timed_out(timed_out) else {
                                        unreachable!("retry: a try timed out with no timer")
                                    };
                                    return Poll::Ready(Err(error));
                                }
                                Ok((wait, body)) => {
                                    this.state.set(wait_for(wait, Some(body)));
                                    continue;
                                }
                            }
                        }
                    };
                    let ctx = &mut *this.ctx;
                    let not_sent = match &result {
                        Err(e) => ctx.config.not_sent(e),
                        Ok(_) => false,
                    };
                    if !ctx.wants_retry(&result, not_sent) {
                        // The pass-through path: the response is returned untouched.
                        if ctx.attempts == 1 && ctx.timeouts == 0 {
                            return Poll::Ready(result.map_err(T::inner));
                        }
                        return Poll::Ready(ctx.finish(result, None).map_err(T::inner));
                    }
                    match ctx.retry_or_stop(result, not_sent) {
                        Next::Return(result) => return Poll::Ready(result.map_err(T::inner)),
                        Next::Retry { wait, failed, body } => {
                            this.state.set(ctx.after_failure(wait, failed, body));
                        }
                    }
                }
                StateProj::Draining {
                    drain,
                    resume_at,
                    body,
                } => {
                    let drained = ready!(drain.as_mut().poll(cx));
                    match drained {
                        Drained::Complete { bytes } => {
                            tracing::trace!(bytes, "retry: drained the failed response body");
                        }
                        Drained::TimedOut => {
                            tracing::debug!("retry: draining the failed response body timed out");
                        }
                        outcome => {
                            tracing::debug!(?outcome, "retry: failed response body not drained");
                        }
                    }
                    let body = body.take();
                    let state = match *resume_at {
                        Some(at) => wait_until(at, body),
                        None => State::Ready { body },
                    };
                    this.state.set(state);
                }
                StateProj::Waiting { sleep, body } => {
                    ready!(sleep.as_mut().poll(cx));
                    let body = body.take();
                    this.state.set(State::Ready { body });
                }
                StateProj::Ready { body } => {
                    let ctx = &mut *this.ctx;
                    ready!(ctx.service.poll_ready(cx)).map_err(T::inner)?;
                    let Some(body) = body.take() else {
                        // Every state carries the body from `decide` to here, and only
                        // this arm takes it, right before leaving the state.
                        unreachable!("retry: the next attempt's body was not carried")
                    };
                    let fut = ctx.resend(body);
                    if let (Some(timer), Some(timeout)) =
                        (this.timer.as_mut(), ctx.config.per_try_timeout)
                    {
                        timer.reset(timeout, &ctx.parts);
                    }
                    this.state.set(State::Called { fut });
                }
            }
        }
    }
}

impl<S, P, ReqB, ResB, T> fmt::Debug for ResponseFuture<S, P, ReqB, ResB, T>
where
    S: Service<Request<ReplayBody<ReqB>>, Response = Response<ResB>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "Called",
            State::Draining { .. } => "Draining",
            State::Waiting { .. } => "Waiting",
            State::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("method", &self.ctx.parts.method)
            .field("uri", &self.ctx.parts.uri)
            .field("attempts", &self.ctx.attempts)
            .finish_non_exhaustive()
    }
}

/// The state after a decision to retry: wait `wait`, or go on at once (without reading
/// the clock) when there is no wait.
fn wait_for<F, ResB, ReqB>(wait: Duration, body: Option<ReplayBody<ReqB>>) -> State<F, ResB, ReqB> {
    if wait.is_zero() {
        return State::Ready { body };
    }
    let now = Instant::now();
    wait_until(now.checked_add(wait).unwrap_or(now), body)
}

/// The state after a decision to retry: wait until `resume_at`, or go on at once.
fn wait_until<F, ResB, ReqB>(
    resume_at: Instant,
    body: Option<ReplayBody<ReqB>>,
) -> State<F, ResB, ReqB> {
    if resume_at <= Instant::now() {
        // No timer for a zero wait: a timer would round it up to the next millisecond.
        State::Ready { body }
    } else {
        State::Waiting {
            sleep: Box::pin(tokio::time::sleep_until(resume_at)),
            body,
        }
    }
}

// === impl Ctx ===

impl<S, P, B> Ctx<S, P, B> {
    /// The state after a failed attempt that will be retried: drain its body (so its
    /// connection can be reused), then wait.
    fn after_failure<F, ResB: Body>(
        &self,
        wait: Duration,
        failed: Option<ResB>,
        body: ReplayBody<B>,
    ) -> State<F, ResB, B> {
        let config = &*self.config;
        let body = Some(body);
        match failed {
            Some(failed) if config.drain_limit > 0 && !failed.is_end_stream() => {
                // Bounded in bytes, in time and by the deadline.
                let deadline = self.parts.extensions.get::<Deadline>().copied();
                let drain = Drain::new(failed, config.drain_limit, config.drain_timeout, deadline);
                // The wait counts from now, the drain included.
                let resume_at = (!wait.is_zero()).then(|| {
                    let now = Instant::now();
                    now.checked_add(wait).unwrap_or(now)
                });
                State::Draining {
                    drain: Box::pin(drain),
                    resume_at,
                    body,
                }
            }
            _ => wait_for(wait, body),
        }
    }

    /// Sends the next attempt: the kept request, tagged with its attempt number and why
    /// it is sent again.
    fn resend<ResB>(&mut self, body: ReplayBody<B>) -> S::Future
    where
        S: Service<Request<ReplayBody<B>>, Response = Response<ResB>>,
    {
        let mut parts = self.parts.clone();
        parts.extensions.insert(Attempt(self.attempts));
        // Why this is a resend, for the attempt's span (the last step is always the
        // `Retried` that led here).
        if let Some(&Step::Retried { status, waited, .. }) = self.history.steps().last() {
            parts.extensions.insert(Resend { status, waited });
        }
        self.service.call(Request::from_parts(parts, body))
    }

    /// Whether the policy wants this outcome retried.
    #[inline]
    fn wants_retry<ResB, E>(&mut self, result: &Result<Response<ResB>, E>, not_sent: bool) -> bool
    where
        P: Policy<ResB, E>,
    {
        self.policy.retry(&Attempted {
            request: &self.parts,
            result: result.as_ref(),
            attempt: self.attempts,
            idempotent: self.idempotent,
            not_sent,
        })
    }

    /// For an outcome the policy wants retried: retry after a wait, or return it with
    /// the reason the layer stopped.
    fn retry_or_stop<ResB, E>(
        &mut self,
        result: Result<Response<ResB>, E>,
        not_sent: bool,
    ) -> Next<Result<Response<ResB>, E>, ResB, B>
    where
        E: 'static,
    {
        // RFC 9110 §10.2.3: Retry-After, in seconds or as an HTTP-date, on 503 and 3xx
        // (and 429, RFC 6585 §4).
        // (The wall clock is read only when there is a field to read.)
        let retry_after = match &result {
            Ok(res) if res.headers().contains_key(RETRY_AFTER) => {
                headers::retry_after(res.headers(), clock::system_now())
            }
            _ => None,
        };
        let (wait, body) = match self.check(retry_after, not_sent) {
            Ok(go) => go,
            Err(stop) => return Next::Return(self.finish(result, Some(stop))),
        };
        let status = result.as_ref().ok().map(Response::status);
        let failed = match result {
            Ok(mut res) => {
                // Keep what inner layers recorded on the discarded response.
                if let Some(history) = res.extensions_mut().remove::<History>() {
                    for step in history.steps() {
                        self.history.push(step.clone());
                    }
                }
                Some(res.into_body())
            }
            Err(_) => None,
        };
        self.attempts += 1;
        self.history.push(Step::Retried {
            attempt: self.attempts,
            status,
            waited: wait,
        });
        tracing::debug!(
            method = %self.parts.method,
            uri = %self.parts.uri,
            attempt = self.attempts,
            status = status.map_or(0, |s| s.as_u16()),
            ?wait,
            recourse.retry.reason = status.map_or("transport_error", recourse_core::observe::status_label),
            recourse.retry.wait_ms = wait.as_millis() as u64,
            "retrying"
        );
        Next::Retry { wait, failed, body }
    }

    /// The limits, in order; on success, the wait and the next attempt's body.
    fn check(
        &self,
        retry_after: Option<Duration>,
        not_sent: bool,
    ) -> Result<(Duration, ReplayBody<B>), StopReason> {
        let config = &*self.config;
        if !self.idempotent && !not_sent {
            return Err(StopReason::NotIdempotent);
        }
        let retry = self.attempts; // the number of the retry about to be made
        if retry > config.max_retries {
            return Err(StopReason::MaxRetries {
                max: config.max_retries,
            });
        }
        let body = match &self.body {
            Ok(template) => template.try_clone(),
            Err(why) => Err(*why),
        }
        .map_err(StopReason::NotReplayable)?;
        // Retry-After is clamped, since a server may ask for anything.
        let wait = match retry_after {
            Some(wait) => wait.min(config.max_retry_after),
            None => config.backoff_delay(retry),
        };
        if let Some(deadline) = self.parts.extensions.get::<Deadline>()
            && !deadline.allows(wait)
        {
            return Err(StopReason::Deadline {
                wait,
                remaining: deadline.remaining(),
            });
        }
        if let (Some(at), Some(limit)) = (self.limit_at, config.time_limit) {
            let fits = Instant::now()
                .checked_add(wait)
                .is_some_and(|end| end <= at);
            if !fits {
                return Err(StopReason::TimeLimit { wait, limit });
            }
        }
        let granted = match (&self.partition, &config.budget) {
            (Some(partition), _) => partition.withdraw(),
            (None, Some(budget)) => budget.withdraw(),
            (None, None) => true,
        };
        if !granted {
            return Err(StopReason::Budget);
        }
        Ok((wait, body))
    }

    /// A try had no response head within `given`: retry after a wait, or stop with the
    /// typed error. The policy is not asked (there is no response or error to show it);
    /// the request may have reached the server, so only the idempotency gate lets it be
    /// resent.
    fn try_timed_out(&mut self, given: Duration) -> Result<(Duration, ReplayBody<B>), TryTimedOut> {
        self.timeouts += 1;
        self.history.push(Step::TryTimedOut {
            attempt: self.attempts,
            after: given,
        });
        tracing::debug!(
            method = %self.parts.method,
            uri = %self.parts.uri,
            attempt = self.attempts,
            after = ?given,
            "retry: the try had no response in time and was cancelled"
        );
        match self.check(None, false) {
            Ok((wait, body)) => {
                self.attempts += 1;
                self.history.push(Step::Retried {
                    attempt: self.attempts,
                    status: None,
                    waited: wait,
                });
                Ok((wait, body))
            }
            Err(stop) => {
                tracing::warn!(
                    method = %self.parts.method,
                    uri = %self.parts.uri,
                    attempts = self.attempts,
                    after = ?given,
                    reason = %stop,
                    "request timed out and was not retried further"
                );
                Err(TryTimedOut {
                    attempts: self.attempts,
                    after: given,
                    stopped: stop,
                })
            }
        }
    }

    /// The final outcome, with the retry information attached when there is any.
    fn finish<ResB, E: 'static>(
        &mut self,
        result: Result<Response<ResB>, E>,
        stop: Option<StopReason>,
    ) -> Result<Response<ResB>, E> {
        if let Some(stop) = stop {
            recourse_core::metric_with!(
                counter,
                recourse_core::observe::metric::RETRIES_REFUSED,
                "reason" => stop_label(&stop);
                ["max_retries", "budget", "deadline", "time_limit", "not_idempotent", "not_replayable"]
            )
            .increment(1);
            self.report(&result, stop);
        }
        match result {
            Ok(mut res) => {
                if self.attempts > 1 || stop.is_some() || self.timeouts > 0 {
                    if !self.history.steps().is_empty() {
                        let mut history = std::mem::take(&mut self.history);
                        if let Some(later) = res.extensions_mut().remove::<History>() {
                            for step in later.steps() {
                                history.push(step.clone());
                            }
                        }
                        res.extensions_mut().insert(history);
                    }
                    res.extensions_mut().insert(RetryInfo {
                        attempts: self.attempts,
                        stopped: stop,
                        timeouts: self.timeouts,
                    });
                }
                Ok(res)
            }
            Err(e) => Err(e),
        }
    }

    /// The warning the source table asks for when a failure is given up on.
    fn report<ResB, E: 'static>(&self, result: &Result<Response<ResB>, E>, stop: StopReason) {
        let name = &self.config.request_id_header;
        let request_id = self
            .parts
            .headers
            .get(name)
            .or_else(|| result.as_ref().ok().and_then(|r| r.headers().get(name)))
            .map(|v| v.to_str().unwrap_or("(not visible ASCII)"))
            .unwrap_or("-");
        let last = Last(
            result
                .as_ref()
                .map(Response::status)
                .map_err(|e| as_dyn_error(e)),
        );
        tracing::warn!(
            method = %self.parts.method,
            uri = %self.parts.uri,
            attempts = self.attempts,
            last = %last,
            request_id,
            reason = %stop,
            "request failed and was not retried further"
        );
    }
}

/// The bounded `reason` label of a refused retry.
fn stop_label(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::MaxRetries { .. } => "max_retries",
        StopReason::Budget => "budget",
        StopReason::Deadline { .. } => "deadline",
        StopReason::TimeLimit { .. } => "time_limit",
        StopReason::NotIdempotent => "not_idempotent",
        StopReason::NotReplayable(_) => "not_replayable",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// The last outcome, for the warning.
struct Last<'a>(Result<StatusCode, Option<&'a (dyn std::error::Error + 'static)>>);

impl fmt::Display for Last<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(status) => write!(f, "{status}"),
            Err(Some(e)) => write!(f, "error: {e}"),
            Err(None) => f.write_str("error"),
        }
    }
}
