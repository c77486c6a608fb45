//! [`ResponseFuture`]: one request through the breaker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use recourse_core::{Class, Deadline, clock, headers};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::error::{BreakerError, CircuitOpen, Overloaded};
use crate::info::BreakerInfo;
use crate::service::Breaker;
use crate::state::{Admit, Origin, Transition};

pin_project_lite::pin_project! {
    /// The response future of [`Breaker`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B, S::Future, S::Error>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, B, F, E> {
        // Sent; its outcome is recorded (`None`: a request without an origin, not
        // watched).
        Called {
            #[pin]
            fut: F,
            watch: Option<Watch>,
        },
        // Waiting for the origin's Retry-After to pass (boxed: only this path pays).
        Waiting {
            wait: Pin<Box<Waiting<S, B>>>,
        },
        // Refused at once.
        Refused {
            error: Option<BreakerError<E>>,
        },
    }
}

/// What the breaker needs to record a request's outcome: the origin's state (which holds
/// the settings), and for the rarer requests whether it holds a half-open probe slot
/// (given back if the request is dropped before its outcome) and how long it waited.
pub(crate) struct Watch {
    origin: Arc<Origin>,
    probe: bool,
    waited: Duration,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.probe {
            self.origin.release_probe();
        }
    }
}

pin_project_lite::pin_project! {
    /// A request waiting for its origin's `Retry-After` to pass.
    pub(crate) struct Waiting<S, B> {
        #[pin]
        sleep: Sleep,
        service: S,
        req: Option<Request<B>>,
        origin: Arc<Origin>,
        since: Instant,
        // The admission (whether as a probe), once the wait is over: the service must
        // then become ready. A probe slot taken here is given back by the `Watch` made
        // from it, or by `Drop` if the request never gets that far.
        admitted: Option<Watch>,
    }
}

fn refusal<E>(origin: &Origin, admit: Admit) -> Option<BreakerError<E>> {
    let reason = match admit {
        Admit::Overloaded(_) => "overloaded",
        Admit::Open(_) => "circuit_open",
        Admit::Go { .. } | Admit::Wait(_) => return None,
    };
    recourse_core::metric_with!(counter, recourse_core::observe::metric::BREAKER_REFUSALS, "reason" => reason; ["overloaded", "circuit_open"])
        .increment(1);
    match admit {
        Admit::Overloaded(until) => Some(BreakerError::from_overloaded(Overloaded {
            origin: origin.key().to_string(),
            until,
        })),
        Admit::Open(until) => Some(BreakerError::from_circuit_open(CircuitOpen {
            origin: origin.key().to_string(),
            until,
            state: origin.state(),
        })),
        Admit::Go { .. } | Admit::Wait(_) => None,
    }
}

impl<S, B, ResB> ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
{
    /// A request sent; its outcome is recorded with `origin` when there is one.
    #[inline]
    pub(crate) fn called(fut: S::Future, origin: Option<Arc<Origin>>) -> Self {
        Self {
            state: State::Called {
                fut,
                watch: origin.map(|origin| Watch {
                    origin,
                    probe: false,
                    waited: Duration::ZERO,
                }),
            },
        }
    }

    /// A request to an origin that is not simply open: the breaker decides (probe, wait
    /// or refusal).
    #[cold]
    #[inline(never)]
    pub(crate) fn admit(breaker: &mut Breaker<S>, req: Request<B>, origin: Arc<Origin>) -> Self {
        let state = match origin.admit(Deadline::of(&req)) {
            Admit::Go { probe } => State::Called {
                fut: breaker.inner.call(req),
                watch: Some(Watch {
                    origin,
                    probe,
                    waited: Duration::ZERO,
                }),
            },
            Admit::Wait(until) => {
                tracing::debug!(origin = %origin.key(), "breaker: waiting for the origin's Retry-After");
                // Take the service that was polled ready; keep a clone for the next caller.
                let clone = breaker.inner.clone();
                let service = std::mem::replace(&mut breaker.inner, clone);
                State::Waiting {
                    wait: Box::pin(Waiting {
                        sleep: tokio::time::sleep_until(until),
                        service,
                        req: Some(req),
                        origin,
                        since: Instant::now(),
                        admitted: None,
                    }),
                }
            }
            admit => State::Refused {
                error: refusal(&origin, admit),
            },
        };
        Self { state }
    }
}

impl<S, B, ResB> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Output = Result<Response<ResB>, BreakerError<S::Error>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        // The pass-through path stays small enough to be inlined into the caller; waits
        // and refusals are handled out of line.
        if let StateProj::Called { fut, watch } = state.as_mut().project() {
            return poll_called(fut, watch, cx);
        }
        poll_rare(state, cx)
    }
}

/// Polls a sent request, and records its outcome when it has one.
#[inline]
fn poll_called<F, ResB, E>(
    fut: Pin<&mut F>,
    watch: &mut Option<Watch>,
    cx: &mut Context<'_>,
) -> Poll<Result<Response<ResB>, BreakerError<E>>>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    // Converted first, then changed in place: the response is not moved again.
    let mut poll = fut.poll(cx).map_err(BreakerError::inner_error);
    if let (Poll::Ready(result), Some(watch)) = (&mut poll, watch) {
        watch.record(result);
    }
    poll
}

/// Polls a request that waits for its origin's `Retry-After`, or was refused.
#[cold]
#[inline(never)]
fn poll_rare<S, B, ResB>(
    mut state: Pin<&mut State<S, B, S::Future, S::Error>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Response<ResB>, BreakerError<S::Error>>>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    loop {
        match state.as_mut().project() {
            StateProj::Called { fut, watch } => return poll_called(fut, watch, cx),
            StateProj::Refused { error } => {
                let Some(error) = error.take() else {
                    unreachable!("breaker: a refusal polled after it was returned")
                };
                return Poll::Ready(Err(error));
            }
            StateProj::Waiting { wait } => {
                let mut w = wait.as_mut().project();
                if w.admitted.is_none() {
                    ready!(w.sleep.as_mut().poll(cx));
                    let deadline = w.req.as_ref().and_then(Deadline::of);
                    match w.origin.admit(deadline) {
                        Admit::Go { probe } => {
                            *w.admitted = Some(Watch {
                                origin: Arc::clone(w.origin),
                                probe,
                                waited: w.since.elapsed(),
                            });
                        }
                        Admit::Wait(until) => {
                            w.sleep.reset(until);
                            continue;
                        }
                        admit => {
                            let error = refusal(w.origin, admit);
                            state.set(State::Refused { error });
                            continue;
                        }
                    }
                }
                ready!(w.service.poll_ready(cx)).map_err(BreakerError::inner_error)?;
                let (Some(req), Some(mut watch)) = (w.req.take(), w.admitted.take()) else {
                    unreachable!("breaker: the waiting request was sent twice")
                };
                watch.waited = w.since.elapsed();
                let fut = w.service.call(req);
                state.set(State::Called {
                    fut,
                    watch: Some(watch),
                });
            }
        }
    }
}

/// Whether a response counts as a failure of its origin: the classify layer's verdict
/// when it left one, else the status code's, is retryable or a server error; or it is a
/// 429.
#[inline]
fn is_failure<B>(res: &Response<B>) -> bool {
    let status = res.status();
    let verdict = match res.extensions().get::<Class>() {
        Some(class) => matches!(class, Class::Retryable | Class::ServerError),
        None => status_is_failure(status),
    };
    verdict || status == StatusCode::TOO_MANY_REQUESTS
}

/// Whether `Class::from_status(status)` is retryable or a server error: every code from
/// 500 on (one comparison instead of the whole mapping; a test holds the two together).
#[inline]
pub(crate) fn status_is_failure(status: StatusCode) -> bool {
    status.as_u16() >= 500
}

impl Watch {
    /// Records the outcome with the origin's state, and says on the response what
    /// happened when there is anything to say. The common case (a success, not a probe,
    /// no wait) costs one atomic increment.
    #[inline]
    fn record<ResB, E>(&mut self, result: &mut Result<Response<ResB>, BreakerError<E>>) {
        if let Ok(res) = result
            && !is_failure(res)
            && !self.probe
            && self.waited.is_zero()
        {
            // The pass-through path.
            self.origin.success(false);
            return;
        }
        self.record_slow(result);
    }

    #[cold]
    #[inline(never)]
    fn record_slow<ResB, E>(&mut self, result: &mut Result<Response<ResB>, BreakerError<E>>) {
        // The outcome is recorded: a probe's slot is no longer the drop's to give back.
        let probe = std::mem::replace(&mut self.probe, false);
        let origin = &*self.origin;
        let transition = match &*result {
            Ok(res) => {
                let status = res.status();
                if is_failure(res) {
                    let config = origin.config();
                    let gates = (status == StatusCode::SERVICE_UNAVAILABLE && config.gate_on_503)
                        || (status == StatusCode::TOO_MANY_REQUESTS && config.gate_on_429);
                    let retry_after = if gates {
                        headers::retry_after(res.headers(), clock::system_now())
                    } else {
                        None
                    };
                    origin.failure(probe, retry_after)
                } else {
                    origin.success(probe)
                }
            }
            // A transport error: the origin did not answer.
            Err(_) => origin.failure(probe, None),
        };
        if let Ok(res) = result
            && (transition.is_some() || probe || !self.waited.is_zero())
        {
            res.extensions_mut()
                .insert(info(origin, transition, probe, self.waited));
        }
    }
}

fn info(
    origin: &Origin,
    transition: Option<Transition>,
    probe: bool,
    waited: Duration,
) -> BreakerInfo {
    BreakerInfo {
        state: transition.map_or_else(|| origin.state(), |t| t.to),
        previous: transition.map(|t| t.from),
        waited,
        probe,
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { watch: None, .. } => "Pass",
            State::Called { .. } => "Called",
            State::Waiting { .. } => "Waiting",
            State::Refused { .. } => "Refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
