//! [`ResponseFuture`]: the original request, then (boxed, only when a job started) the
//! polling.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use crate::poller::{Begin, Begun, Poller, Start};
use recourse_core::body::PeekBody;

use crate::ctx::Ctx;
use crate::{Policy, PollError, PollInfo, PollOutcome, PollRequestBody, Resume, TimeoutReason};
use recourse_core::observe::{metric, poll_outcome};

pin_project_lite::pin_project! {
    /// The response future of [`AsyncPoll`](crate::AsyncPoll).
    ///
    /// While the original request is in flight it is the inner future plus what polling
    /// would need; a response that does not start a job passes through with no allocation.
    /// Polling itself runs in a boxed state machine. Dropping the future stops polling at
    /// once: no further request is sent.
    ///
    /// # Panics
    ///
    /// Polling it again after it returned `Ready` panics, as for most futures.
    pub struct ResponseFuture<S, B, ResBody, P>
    where
        S: Service<Request<PollRequestBody<B>>>,
        ResBody: Body,
    {
        #[pin]
        state: State<S::Future, Pin<Box<Poller<S, B, ResBody, P>>>>,
        start: Option<(S, Ctx<P>)>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, J> {
        Initial { #[pin] future: F },
        Polling { job: J },
        Done,
    }
}

impl<S, B, ResBody, P> ResponseFuture<S, B, ResBody, P>
where
    S: Service<Request<PollRequestBody<B>>>,
    ResBody: Body,
{
    #[inline]
    pub(crate) fn new(future: S::Future, svc: S, ctx: Ctx<P>) -> Self {
        Self {
            state: State::Initial { future },
            start: Some((svc, ctx)),
        }
    }

    pub(crate) fn resume(svc: S, ctx: Ctx<P>, resume: Resume, status_url: http::Uri) -> Self
    where
        S: Service<Request<PollRequestBody<B>>, Response = Response<ResBody>> + Clone,
        P: Policy,
    {
        let job = Poller::resume(Start { svc, ctx }, resume, status_url);
        Self {
            state: State::Polling { job: Box::pin(job) },
            start: None,
        }
    }
}

impl<S, B, ResBody, P> Future for ResponseFuture<S, B, ResBody, P>
where
    S: Service<Request<PollRequestBody<B>>, Response = Response<ResBody>> + Clone,
    S::Error: 'static,
    ResBody: Body,
    P: Policy,
{
    type Output = Result<Response<PeekBody<ResBody>>, PollError<S::Error>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Initial { future } => {
                    let result = ready!(future.poll(cx));
                    let res = match result {
                        Ok(res) => res,
                        Err(e) => {
                            this.state.set(State::Done);
                            PollError::<S::Error>::register();
                            return Poll::Ready(Err(PollError::from_inner(e, None)));
                        }
                    };
                    let begin = match this.start.as_mut() {
                        Some((_, ctx)) => begin_kind(ctx, res.status(), res.headers()),
                        None => None,
                    };
                    // Pass-through: leave the captured context where it is (taking it out
                    // would copy it); it is dropped with the future.
                    let Some(begin) = begin else {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(res.map(PeekBody::new)));
                    };
                    let Some((svc, ctx)) = this.start.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(res.map(PeekBody::new)));
                    };
                    match Poller::begin(Start { svc, ctx }, res, begin) {
                        Begun::Polling(job) => {
                            this.state.set(State::Polling { job: Box::pin(job) })
                        }
                        Begun::Done(done) => {
                            this.state.set(State::Done);
                            // An error here ends a job that started (a 202 or 201 whose
                            // status URL cannot be followed, a first wait past the limits);
                            // `Ok` is a response that named no status URL: no job.
                            if done.is_err() {
                                return Poll::Ready(job_ended(done));
                            }
                            return Poll::Ready(done);
                        }
                    }
                }
                StateProj::Polling { job } => {
                    let output = ready!(job.as_mut().poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(job_ended(output));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

/// A poll job's end: counts it in `recourse.poll.outcomes` (once per job) and, for an
/// error, registers the error type with [`recourse_core::sent`] before it leaves the layer.
fn job_ended<B, E: 'static>(
    output: Result<Response<B>, PollError<E>>,
) -> Result<Response<B>, PollError<E>> {
    if output.is_err() {
        PollError::<E>::register();
    }
    let label = outcome_label(&output);
    recourse_core::metric_with!(counter, metric::POLL_OUTCOMES, "outcome" => label; ["succeeded", "failed", "time_limit", "max_polls", "deadline", "protocol_violation", "location", "error"])
        .increment(1);
    output
}

/// The `outcome` label of a finished job (see [`recourse_core::observe::poll_outcome`]).
fn outcome_label<B, E>(output: &Result<Response<B>, PollError<E>>) -> &'static str {
    match output {
        Ok(res) => match PollInfo::of(res).map(PollInfo::outcome) {
            Some(PollOutcome::Failed) => poll_outcome::FAILED,
            _ => poll_outcome::SUCCEEDED,
        },
        Err(e) => {
            if let Some(timeout) = e.timeout() {
                match timeout.reason() {
                    TimeoutReason::TimeLimit(_) => poll_outcome::TIME_LIMIT,
                    TimeoutReason::MaxPolls(_) => poll_outcome::MAX_POLLS,
                    _ => poll_outcome::DEADLINE,
                }
            } else if e.is_protocol_violation() {
                poll_outcome::PROTOCOL_VIOLATION
            } else if e.is_location() || e.is_downgrade() {
                poll_outcome::LOCATION
            } else {
                poll_outcome::ERROR
            }
        }
    }
}

/// Whether (and how) the response to the original request starts polling.
#[inline]
fn begin_kind<P: Policy>(
    ctx: &mut Ctx<P>,
    status: StatusCode,
    headers: &http::HeaderMap,
) -> Option<Begin> {
    if ctx.policy.start(status, headers) {
        Some(Begin::Poll)
    } else if status == StatusCode::CREATED && ctx.config.fetch_created {
        Some(Begin::Created)
    } else {
        None
    }
}

impl<S, B, ResBody, P> fmt::Debug for ResponseFuture<S, B, ResBody, P>
where
    S: Service<Request<PollRequestBody<B>>>,
    ResBody: Body,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Initial { .. } => "request in flight",
            State::Polling { .. } => "polling",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
