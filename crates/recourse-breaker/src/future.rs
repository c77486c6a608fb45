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
use crate::state::{Admit, Origin, Registry, Transition};

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
        // A request without an origin: not watched.
        Pass {
            #[pin]
            fut: F,
        },
        // Sent; its outcome is recorded.
        Called {
            #[pin]
            fut: F,
            watch: Watch,
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

/// What the breaker needs to record a request's outcome.
pub(crate) struct Watch {
    registry: Arc<Registry>,
    origin: Arc<Origin>,
    probe: Option<Probe>,
    waited: Duration,
}

/// A half-open probe slot, given back if the request is dropped before its outcome.
struct Probe {
    registry: Arc<Registry>,
    origin: Arc<Origin>,
    armed: bool,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.armed {
            self.registry.release_probe(&self.origin);
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
        registry: Arc<Registry>,
        origin: Arc<Origin>,
        since: Instant,
        // The admission, once the wait is over: the service must then become ready.
        probe: Option<Option<Probe>>,
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
    /// A request admitted and sent.
    #[inline]
    pub(crate) fn called(
        fut: S::Future,
        registry: &Arc<Registry>,
        origin: Arc<Origin>,
        probe: bool,
    ) -> Self {
        let probe = probe.then(|| Probe {
            registry: Arc::clone(registry),
            origin: Arc::clone(&origin),
            armed: true,
        });
        Self {
            state: State::Called {
                fut,
                watch: Watch {
                    registry: Arc::clone(registry),
                    origin,
                    probe,
                    waited: Duration::ZERO,
                },
            },
        }
    }

    pub(crate) fn pass(fut: S::Future) -> Self {
        Self {
            state: State::Pass { fut },
        }
    }

    #[inline]
    pub(crate) fn new(
        breaker: &mut Breaker<S>,
        req: Request<B>,
        origin: Arc<Origin>,
        admit: Admit,
    ) -> Self {
        let registry = &breaker.registry;
        let state = match admit {
            Admit::Go { probe } => {
                let fut = breaker.inner.call(req);
                return Self::called(fut, registry, origin, probe);
            }
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
                        registry: Arc::clone(registry),
                        origin,
                        since: Instant::now(),
                        probe: None,
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Pass { fut } => {
                    return fut.poll(cx).map_err(BreakerError::inner_error);
                }
                StateProj::Called { fut, watch } => {
                    let result = ready!(fut.poll(cx));
                    return Poll::Ready(watch.record(result));
                }
                StateProj::Refused { error } => {
                    let Some(error) = error.take() else {
                        unreachable!("breaker: a refusal polled after it was returned")
                    };
                    return Poll::Ready(Err(error));
                }
                StateProj::Waiting { wait } => {
                    let mut w = wait.as_mut().project();
                    let next = match w.probe {
                        Some(_) => None,
                        None => {
                            ready!(w.sleep.as_mut().poll(cx));
                            let deadline = w.req.as_ref().and_then(Deadline::of);
                            match w.registry.admit(w.origin, deadline) {
                                Admit::Go { probe } => {
                                    *w.probe = Some(probe.then(|| Probe {
                                        registry: Arc::clone(w.registry),
                                        origin: Arc::clone(w.origin),
                                        armed: true,
                                    }));
                                    None
                                }
                                Admit::Wait(until) => {
                                    w.sleep.reset(until);
                                    continue;
                                }
                                admit => Some(refusal(w.origin, admit)),
                            }
                        }
                    };
                    if let Some(error) = next {
                        this.state.set(State::Refused { error });
                        continue;
                    }
                    ready!(w.service.poll_ready(cx)).map_err(BreakerError::inner_error)?;
                    let (Some(req), Some(probe)) = (w.req.take(), w.probe.take()) else {
                        unreachable!("breaker: the waiting request was sent twice")
                    };
                    let fut = w.service.call(req);
                    let watch = Watch {
                        registry: Arc::clone(w.registry),
                        origin: Arc::clone(w.origin),
                        probe,
                        waited: w.since.elapsed(),
                    };
                    this.state.set(State::Called { fut, watch });
                }
            }
        }
    }
}

impl Watch {
    /// Records the outcome with the origin's state, and says what happened on the
    /// response when there is anything to say.
    fn record<ResB, E>(
        &mut self,
        result: Result<Response<ResB>, E>,
    ) -> Result<Response<ResB>, BreakerError<E>> {
        let probe = match self.probe.as_mut() {
            Some(p) => {
                p.armed = false;
                true
            }
            None => false,
        };
        let registry = &*self.registry;
        let origin = &*self.origin;
        let transition = match &result {
            Ok(res) => {
                let status = res.status();
                let failure = matches!(Class::of(res), Class::Retryable | Class::ServerError)
                    || status == StatusCode::TOO_MANY_REQUESTS;
                if failure {
                    let config = &registry.config;
                    let gates = (status == StatusCode::SERVICE_UNAVAILABLE && config.gate_on_503)
                        || (status == StatusCode::TOO_MANY_REQUESTS && config.gate_on_429);
                    let retry_after = if gates {
                        headers::retry_after(res.headers(), clock::system_now())
                    } else {
                        None
                    };
                    registry.failure(origin, probe, retry_after)
                } else {
                    registry.success(origin, probe)
                }
            }
            // A transport error: the origin did not answer.
            Err(_) => registry.failure(origin, probe, None),
        };
        match result {
            Ok(mut res) => {
                if transition.is_some() || probe || !self.waited.is_zero() {
                    res.extensions_mut()
                        .insert(info(origin, transition, probe, self.waited));
                }
                Ok(res)
            }
            Err(e) => Err(BreakerError::inner_error(e)),
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
            State::Pass { .. } => "Pass",
            State::Called { .. } => "Called",
            State::Waiting { .. } => "Waiting",
            State::Refused { .. } => "Refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
