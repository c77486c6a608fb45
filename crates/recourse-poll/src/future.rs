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
use crate::{Policy, PollError, PollRequestBody, Resume};

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
    ResBody: Body,
    P: Policy,
{
    type Output = Result<Response<PeekBody<ResBody>>, PollError<S::Error>>;

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
                            return Poll::Ready(done);
                        }
                    }
                }
                StateProj::Polling { job } => {
                    let output = ready!(job.as_mut().poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(output);
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
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
