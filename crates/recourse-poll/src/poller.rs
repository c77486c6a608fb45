//! The polling state machine: wait, poll, read the body field, decide, fetch the result.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::header::LOCATION;
use http::response::Parts;
use http::{HeaderName, Request, Response, StatusCode, Uri};
use http_body::Body;
use recourse_core::backoff::FastRand;
use recourse_core::body::Drain;
use recourse_core::{Class, Deadline, History, Step, clock, headers};
use tokio::time::{Instant, Sleep};
use tower::util::Oneshot;
use tower_service::Service;

use crate::body::Prefix;
use crate::config::{Config, FinalState};
use crate::error::Downgrade;
use crate::service::Ctx;
use crate::{
    Credentials, Decision, JobStatus, Outcome, Policy, PollBody, PollError, PollInfo, PollProgress,
    PollTimeout, Resume, TimeoutReason,
};

/// How the original response starts a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Begin {
    /// A 202 (or what the policy's `start` accepted): poll its status URL.
    Poll,
    /// A 201 with `fetch_created`: fetch the created resource.
    Created,
}

/// The ready inner service and the captured request context.
pub(crate) struct Start<S, P> {
    pub(crate) svc: S,
    pub(crate) ctx: Ctx<P>,
}

/// A job that started, or the final output right away.
pub(crate) enum Begun<J, O> {
    Polling(J),
    Done(O),
}

type Output<ResBody, E> = Result<Response<PollBody<ResBody>>, PollError<E>>;

pin_project_lite::pin_project! {
    /// One job being polled.
    pub(crate) struct Poller<S, B, ResBody, P>
    where
        S: Service<Request<B>>,
        ResBody: Body,
    {
        #[pin]
        step: StepState<Oneshot<S, Request<B>>, ResBody>,
        // Fires at the earlier of the polling timeout and the request's deadline; polled
        // while a request or a body read is in flight.
        #[pin]
        limit: Option<Sleep>,
        job: Job<S, P>,
    }
}

pin_project_lite::pin_project! {
    #[project = StepProj]
    enum StepState<F, ResBody>
    where
        ResBody: Body,
    {
        // Waiting before the next poll, discarding the last response's body meanwhile so
        // that its connection can be reused.
        Wait {
            #[pin]
            sleep: Sleep,
            #[pin]
            drain: Option<Drain<PollBody<ResBody>>>,
        },
        // A poll or a result fetch in flight.
        Send {
            #[pin]
            future: F,
            purpose: Purpose,
        },
        // Reading the prefix of a 2xx status response's body to find the status field.
        // (`None` only for the instant between taking the response and leaving.)
        Read {
            read: Option<(Parts, Prefix<ResBody>)>,
        },
        Done,
    }
}

/// Why a request was sent.
#[derive(Clone, Debug)]
enum Purpose {
    Poll,
    Result(Uri),
}

/// The unpinned state of a job.
struct Job<S, P> {
    svc: S,
    ctx: Ctx<P>,
    status_url: Uri,
    initial_location: Option<Uri>,
    original_uri: Uri,
    polls: u32,
    /// Running responses so far, the initial 202 included: the backoff's attempt number.
    running: u32,
    started: Instant,
    /// Total time waited between polls.
    waited: Duration,
    /// The wait before the poll in flight.
    last_wait: Duration,
    last_status: Option<StatusCode>,
    limit_at: Option<(Instant, TimeoutReason)>,
    history: History,
    outcome: Outcome,
    field: Option<String>,
    rng: Option<FastRand>,
}

/// What to do after a response.
enum Next<ResBody: Body, E> {
    Wait(Duration, PollBody<ResBody>),
    Fetch(Uri),
    Finish(Output<ResBody, E>),
}

impl<S, B, ResBody, P> Poller<S, B, ResBody, P>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    B: Default,
    ResBody: Body,
    P: Policy,
{
    /// Starts a job from the response to the original request.
    ///
    /// Gives the response back (as the final output) when it names no status URL.
    pub(crate) fn begin(
        start: Start<S, P>,
        res: Response<ResBody>,
        begin: Begin,
    ) -> Begun<Self, Output<ResBody, S::Error>> {
        let Start { svc, ctx } = start;
        let original_uri = ctx.uri.to_uri();
        let (mut parts, body) = res.into_parts();
        let found = match begin {
            Begin::Poll => ctx
                .config
                .status_headers
                .iter()
                .find_map(|name| parts.headers.get(name).map(|value| (name, value))),
            Begin::Created => parts.headers.get(LOCATION).map(|value| (&LOCATION, value)),
        };
        let Some((header, value)) = found else {
            tracing::debug!(
                target: "recourse_poll",
                status = parts.status.as_u16(),
                "no status URL in the response: returned as is"
            );
            return Begun::Done(Ok(Response::from_parts(parts, PollBody::plain(body))));
        };
        let status_url = match headers::resolve_location(&original_uri, value) {
            Ok(resolved) => resolved.into_uri(),
            Err(error) => {
                return Begun::Done(Err(PollError::location(error, header.clone(), None)));
            }
        };
        let status_url = match follow(&ctx.config, &original_uri, status_url, header, None) {
            Ok(uri) => uri,
            Err(e) => return Begun::Done(Err(e)),
        };
        let initial_location = if *header == LOCATION {
            None
        } else {
            parts
                .headers
                .get(LOCATION)
                .and_then(|v| headers::resolve_location(&original_uri, v).ok())
                .map(|r| r.into_uri())
        };
        let history = parts.extensions.remove::<History>().unwrap_or_default();
        let mut job = Job::new(
            svc,
            ctx,
            status_url,
            initial_location,
            original_uri,
            history,
        );
        job.last_status = Some(parts.status);
        let limit = job.limit_at.map(|(at, _)| tokio::time::sleep_until(at));

        match begin {
            Begin::Created => {
                tracing::debug!(
                    target: "recourse_poll",
                    uri = %job.status_url,
                    "201 Created: fetching the created resource"
                );
                let uri = job.status_url.clone();
                let future = job.send(&uri);
                Begun::Polling(Self {
                    step: StepState::Send {
                        future,
                        purpose: Purpose::Result(uri),
                    },
                    limit,
                    job,
                })
            }
            Begin::Poll => {
                tracing::debug!(
                    target: "recourse_poll",
                    status = parts.status.as_u16(),
                    status_url = %job.status_url,
                    "job accepted: polling its status"
                );
                job.running = 1;
                let wait = job.next_wait(&parts.headers);
                if let Some(stop) = job.check_limits(wait) {
                    return Begun::Done(Err(PollError::timeout(stop)));
                }
                job.waiting(wait);
                let drain_limit = job.ctx.config.drain_limit;
                Begun::Polling(Self {
                    step: StepState::Wait {
                        sleep: tokio::time::sleep(wait),
                        drain: Some(Drain::new(
                            PollBody::plain(body),
                            drain_limit,
                            Duration::MAX,
                            None,
                        )),
                    },
                    limit,
                    job,
                })
            }
        }
    }

    /// Resumes polling the status URL a request names (see [`Resume`]).
    pub(crate) fn resume(start: Start<S, P>, resume: Resume) -> Self {
        let Start { svc, ctx } = start;
        let status_url = ctx.uri.to_uri();
        let original_uri = resume.original_uri.unwrap_or_else(|| status_url.clone());
        let mut job = Job::new(
            svc,
            ctx,
            status_url,
            resume.initial_location,
            original_uri,
            History::default(),
        );
        tracing::debug!(
            target: "recourse_poll",
            status_url = %job.status_url,
            "resuming a job: polling its status"
        );
        let limit = job.limit_at.map(|(at, _)| tokio::time::sleep_until(at));
        let uri = job.status_url.clone();
        job.polls = 1;
        let future = job.send(&uri);
        Self {
            step: StepState::Send {
                future,
                purpose: Purpose::Poll,
            },
            limit,
            job,
        }
    }
}

impl<S, B, ResBody, P> Future for Poller<S, B, ResBody, P>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    B: Default,
    ResBody: Body,
    P: Policy,
{
    type Output = Output<ResBody, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.step.as_mut().project() {
                StepProj::Wait { sleep, mut drain } => {
                    if let Some(d) = drain.as_mut().as_pin_mut()
                        && d.poll(cx).is_ready()
                    {
                        drain.set(None);
                    }
                    ready!(sleep.poll(cx));
                    let uri = this.job.status_url.clone();
                    this.job.polls += 1;
                    let future = this.job.send(&uri);
                    this.step.set(StepState::Send {
                        future,
                        purpose: Purpose::Poll,
                    });
                    continue;
                }
                StepProj::Send { future, purpose } => {
                    let result = match future.poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => {
                            ready!(poll_limit(this.limit.as_mut(), cx));
                            let in_flight = matches!(purpose, Purpose::Poll);
                            let stop = this.job.cut_off(in_flight);
                            this.step.set(StepState::Done);
                            return Poll::Ready(Err(PollError::timeout(stop)));
                        }
                    };
                    let res = match result {
                        Ok(res) => res,
                        Err(e) => {
                            this.step.set(StepState::Done);
                            let url = this.job.status_url.clone();
                            return Poll::Ready(Err(PollError::inner(e, Some(url))));
                        }
                    };
                    match purpose {
                        Purpose::Result(uri) => {
                            let uri = uri.clone();
                            Next::Finish(this.job.finish_result(res, uri))
                        }
                        Purpose::Poll => {
                            this.job.last_status = Some(res.status());
                            let read_body =
                                res.status().is_success() && this.job.ctx.config.field.is_some();
                            if read_body {
                                let (parts, body) = res.into_parts();
                                this.step.set(StepState::Read {
                                    read: Some((parts, Prefix::new(body))),
                                });
                                continue;
                            }
                            let (parts, body) = res.into_parts();
                            this.job.evaluate(parts, Seen::Plain(body))
                        }
                    }
                }
                StepProj::Read { read } => {
                    let limit = match &this.job.ctx.config.field {
                        Some(field) => field.byte_limit(),
                        None => 0,
                    };
                    let filled = match read.as_mut() {
                        Some((_, prefix)) => prefix.poll_fill(cx, limit),
                        None => Poll::Ready(()),
                    };
                    if filled.is_pending() {
                        ready!(poll_limit(this.limit.as_mut(), cx));
                        let stop = this.job.cut_off(false);
                        this.step.set(StepState::Done);
                        return Poll::Ready(Err(PollError::timeout(stop)));
                    }
                    match read.take() {
                        Some((parts, prefix)) => this.job.evaluate(parts, Seen::Prefixed(prefix)),
                        None => unreachable!("the read state is left as soon as it is taken"),
                    }
                }
                StepProj::Done => panic!("poll job polled after completion"),
            };
            match next {
                Next::Finish(output) => {
                    this.step.set(StepState::Done);
                    return Poll::Ready(output);
                }
                Next::Wait(wait, body) => {
                    let drain_limit = this.job.ctx.config.drain_limit;
                    this.job.waiting(wait);
                    this.step.set(StepState::Wait {
                        sleep: tokio::time::sleep(wait),
                        drain: Some(Drain::new(body, drain_limit, Duration::MAX, None)),
                    });
                }
                Next::Fetch(uri) => {
                    let future = this.job.send(&uri);
                    this.step.set(StepState::Send {
                        future,
                        purpose: Purpose::Result(uri),
                    });
                }
            }
        }
    }
}

/// Polls the limit timer; `Pending` when there is none.
fn poll_limit(limit: Pin<&mut Option<Sleep>>, cx: &mut Context<'_>) -> Poll<()> {
    match limit.as_pin_mut() {
        Some(sleep) => sleep.poll(cx),
        None => Poll::Pending,
    }
}

// === impl Job ===

impl<S, P> Job<S, P> {
    fn new(
        svc: S,
        ctx: Ctx<P>,
        status_url: Uri,
        initial_location: Option<Uri>,
        original_uri: Uri,
        history: History,
    ) -> Self {
        let started = Instant::now();
        let timeout = ctx.config.timeout.map(|d| {
            let at = started.checked_add(d).unwrap_or(far_future(started));
            (at, TimeoutReason::Timeout(d))
        });
        let deadline = ctx.deadline.map(|d| (d.instant(), TimeoutReason::Deadline));
        let limit_at = match (timeout, deadline) {
            (Some(t), Some(d)) => Some(if d.0 < t.0 { d } else { t }),
            (t, d) => t.or(d),
        };
        Self {
            svc,
            ctx,
            status_url,
            initial_location,
            original_uri,
            polls: 0,
            running: 0,
            started,
            waited: Duration::ZERO,
            last_wait: Duration::ZERO,
            last_status: None,
            limit_at,
            history,
            outcome: Outcome::Succeeded,
            field: None,
            rng: None,
        }
    }

    fn waiting(&mut self, wait: Duration) -> &mut Self {
        self.last_wait = wait;
        self.waited = self.waited.saturating_add(wait);
        self
    }

    /// The wait before the next poll: `Retry-After` (RFC 9110 §10.2.3) clamped to the
    /// maximum, else the backoff; never below the floor.
    fn next_wait(&mut self, headers: &http::HeaderMap) -> Duration {
        let config = &self.ctx.config;
        let wait = match headers::retry_after(headers, clock::system_now()) {
            Some(after) => after.min(config.max_retry_after),
            None => {
                let rng = self.rng.get_or_insert_with(FastRand::new);
                config.backoff.delay(self.running, rng)
            }
        };
        wait.max(config.min_interval)
    }

    /// The timeout to report if a wait of `wait` (or another poll) is not allowed.
    fn check_limits(&self, wait: Duration) -> Option<PollTimeout> {
        let max = self.ctx.config.max_polls;
        if self.polls >= max {
            return Some(self.stopped(TimeoutReason::MaxPolls(max), Some(wait), self.polls));
        }
        let (at, reason) = self.limit_at?;
        // A wait that ends at the limit (or past it) leaves no time for the poll itself.
        let ends = Instant::now().checked_add(wait);
        if ends.is_none_or(|ends| ends >= at) {
            return Some(self.stopped(reason, Some(wait), self.polls));
        }
        None
    }

    /// The timeout for a request in flight (or a body being read) cut off by the limit
    /// timer. `in_flight`: a poll whose response had not arrived.
    fn cut_off(&self, in_flight: bool) -> PollTimeout {
        let reason = match self.limit_at {
            Some((_, reason)) => reason,
            None => TimeoutReason::Deadline,
        };
        let completed = if in_flight {
            self.polls.saturating_sub(1)
        } else {
            self.polls
        };
        self.stopped(reason, None, completed)
    }

    fn stopped(
        &self,
        reason: TimeoutReason,
        next_wait: Option<Duration>,
        completed: u32,
    ) -> PollTimeout {
        tracing::warn!(
            target: "recourse_poll",
            status_url = %self.status_url,
            polls = completed,
            reason = %reason,
            "polling stopped before the job finished"
        );
        PollTimeout {
            reason,
            status_url: self.status_url.clone(),
            last_status: self.last_status,
            polls: completed,
            elapsed: self.started.elapsed(),
            next_wait,
            resume: Resume {
                original_uri: Some(self.original_uri.clone()),
                initial_location: self.initial_location.clone(),
            },
        }
    }
}

impl<S, P: Policy> Job<S, P> {
    /// A `GET` of `uri` with the forwarded headers (credentials only where allowed) and
    /// the effective deadline, through a clone of the inner service.
    fn send<B>(&mut self, uri: &Uri) -> Oneshot<S, Request<B>>
    where
        S: Service<Request<B>> + Clone,
        B: Default,
    {
        let mut req = Request::new(B::default());
        *req.uri_mut() = uri.clone();
        let config = &self.ctx.config;
        let credentials = match config.credentials {
            Credentials::Always => true,
            Credentials::Never => false,
            Credentials::SameOrigin => headers::same_origin(&self.original_uri, uri),
        };
        for (index, value) in self.ctx.forwarded.iter() {
            if let Some((name, sensitive)) = config.captured_name(index)
                && (credentials || !sensitive)
            {
                req.headers_mut().append(name.clone(), value.clone());
            }
        }
        if let Some((at, _)) = self.limit_at {
            Deadline::at(at).insert_into(&mut req);
        }
        self.ctx.policy.on_request(uri, req.headers_mut());
        Oneshot::new(self.svc.clone(), req)
    }

    /// Decides what a poll's response means, records it, and says what to do next.
    fn evaluate<ResBody: Body, E>(
        &mut self,
        mut parts: Parts,
        mut seen: Seen<ResBody>,
    ) -> Next<ResBody, E> {
        let status = parts.status;
        let elapsed = self.started.elapsed();
        let (by_field, text, complete, chunks): (_, _, _, &[bytes::Bytes]) = match &mut seen {
            Seen::Plain(_) => (None, None, false, &[]),
            Seen::Prefixed(prefix) => {
                let complete = prefix.is_complete();
                let (decision, text) = match &self.ctx.config.field {
                    Some(field) if complete => field.evaluate(prefix.chunks()),
                    _ => (None, None),
                };
                (decision, text, complete, prefix.chunks())
            }
        };
        let standard = standard_decision(&parts, by_field);
        let decision = self.ctx.policy.decide(&JobStatus {
            poll: self.polls,
            status,
            headers: &parts.headers,
            status_url: &self.status_url,
            field: text.as_deref(),
            body: chunks,
            body_complete: complete,
            elapsed,
            standard,
        });
        let body = match seen {
            Seen::Plain(body) => PollBody::plain(body),
            Seen::Prefixed(prefix) => PollBody::prefixed(prefix),
        };
        self.last_status = Some(status);
        if let Some(own) = parts.extensions.remove::<History>() {
            for step in own.steps() {
                self.history.push(step.clone());
            }
        }
        self.history.push(Step::Polled {
            poll: self.polls,
            uri: self.status_url.clone(),
            status,
            waited: self.last_wait,
        });
        tracing::debug!(
            target: "recourse_poll",
            poll = self.polls,
            status_url = %self.status_url,
            status = status.as_u16(),
            field = text.as_deref(),
            decision = ?decision,
            waited = ?self.last_wait,
            "polled the job's status"
        );
        self.field = text;

        match decision {
            Decision::Running => {
                self.running = self.running.saturating_add(1);
                // A 202 names the status monitor (RFC 9110 §15.3.3); the `Location` of
                // another running response (say a 200 with a running body) may name the
                // future result, which must not be polled.
                let moved = match status {
                    StatusCode::ACCEPTED => self.moved_status_url(&parts),
                    _ => None,
                };
                if let Some(next) = moved {
                    match next {
                        Ok(uri) => self.status_url = uri,
                        Err(e) => return Next::Finish(Err(e)),
                    }
                }
                let wait = self.next_wait(&parts.headers);
                let stop = self.check_limits(wait);
                self.progress(status, decision, elapsed, stop.is_none().then_some(wait));
                match stop {
                    Some(stop) => Next::Finish(Err(PollError::timeout(stop))),
                    None => Next::Wait(wait, body),
                }
            }
            Decision::Failed => {
                self.progress(status, decision, elapsed, None);
                self.outcome = Outcome::Failed;
                Next::Finish(Ok(self.finish(parts, body, None)))
            }
            Decision::SeeOther => {
                self.progress(status, decision, elapsed, None);
                match parts.headers.get(LOCATION) {
                    Some(value) => match headers::resolve_location(&self.status_url, value) {
                        Ok(r) => match self.follow(&self.status_url, r.into_uri(), &LOCATION) {
                            Ok(uri) => Next::Fetch(uri),
                            Err(e) => Next::Finish(Err(e)),
                        },
                        Err(e) => Next::Finish(Err(self.location_error(e))),
                    },
                    None => Next::Finish(Err(self.location_error(headers::LocationError::Empty))),
                }
            }
            Decision::Succeeded => {
                self.progress(status, decision, elapsed, None);
                let target = match self.ctx.config.final_state {
                    FinalState::StatusResource => None,
                    FinalState::StatusLocation => match parts.headers.get(LOCATION) {
                        Some(value) => match headers::resolve_location(&self.status_url, value) {
                            Ok(r) => Some((&self.status_url, r.into_uri())),
                            Err(e) => return Next::Finish(Err(self.location_error(e))),
                        },
                        None => None,
                    },
                    // Named by the original 202, the response to the original request.
                    FinalState::InitialLocation => self
                        .initial_location
                        .clone()
                        .map(|uri| (&self.original_uri, uri)),
                    FinalState::OriginalUri => {
                        Some((&self.original_uri, self.original_uri.clone()))
                    }
                };
                match target {
                    Some((from, uri)) => match self.follow(from, uri, &LOCATION) {
                        Ok(uri) => Next::Fetch(uri),
                        Err(e) => Next::Finish(Err(e)),
                    },
                    None => Next::Finish(Ok(self.finish(parts, body, None))),
                }
            }
        }
    }

    /// A running response that names a status URL moves polling there.
    fn moved_status_url<E>(&self, parts: &Parts) -> Option<Result<Uri, PollError<E>>> {
        let (header, value) = self
            .ctx
            .config
            .status_headers
            .iter()
            .find_map(|name| parts.headers.get(name).map(|v| (name, v)))?;
        let next = match headers::resolve_location(&self.status_url, value) {
            Ok(r) => r.into_uri(),
            Err(e) => {
                let status_url = Some(self.status_url.clone());
                return Some(Err(PollError::location(e, header.clone(), status_url)));
            }
        };
        Some(self.follow(&self.status_url, next, header))
    }

    /// `to`, named in `header` of the response to `from`, unless that is a refused
    /// downgrade (see [`follow`]).
    fn follow<E>(&self, from: &Uri, to: Uri, header: &HeaderName) -> Result<Uri, PollError<E>> {
        follow(&self.ctx.config, from, to, header, Some(&self.status_url))
    }

    fn location_error<E>(&self, error: headers::LocationError) -> PollError<E> {
        PollError::location(error, LOCATION, Some(self.status_url.clone()))
    }

    fn progress(
        &self,
        status: StatusCode,
        decision: Decision,
        elapsed: Duration,
        next_wait: Option<Duration>,
    ) {
        let callback = self.ctx.config.on_progress.as_ref();
        let sender = self.ctx.progress.as_ref();
        if callback.is_none() && sender.is_none() {
            return;
        }
        let progress = PollProgress {
            poll: self.polls,
            status_url: self.status_url.clone(),
            status,
            decision,
            field: self.field.clone(),
            waited: self.last_wait,
            elapsed,
            next_wait,
        };
        if let Some(callback) = callback {
            callback(&progress);
        }
        if let Some(sender) = sender {
            sender.send(&progress);
        }
    }

    /// The response of a result fetch is the final response.
    fn finish_result<ResBody: Body, E>(
        &mut self,
        res: Response<ResBody>,
        uri: Uri,
    ) -> Output<ResBody, E> {
        let (mut parts, body) = res.into_parts();
        if let Some(own) = parts.extensions.remove::<History>() {
            for step in own.steps() {
                self.history.push(step.clone());
            }
        }
        tracing::debug!(
            target: "recourse_poll",
            uri = %uri,
            status = parts.status.as_u16(),
            "fetched the job's result"
        );
        Ok(self.finish(parts, PollBody::plain(body), Some(uri)))
    }

    fn finish<ResBody: Body>(
        &mut self,
        mut parts: Parts,
        body: PollBody<ResBody>,
        result_uri: Option<Uri>,
    ) -> Response<PollBody<ResBody>> {
        let history = std::mem::take(&mut self.history);
        if !history.steps().is_empty() {
            parts.extensions.insert(history);
        }
        parts.extensions.insert(PollInfo {
            status_url: self.status_url.clone(),
            polls: self.polls,
            waited: self.waited,
            elapsed: self.started.elapsed(),
            outcome: self.outcome,
            result_uri,
            field: self.field.take(),
        });
        Response::from_parts(parts, body)
    }
}

/// A poll response's body: untouched, or with a prefix read ahead.
enum Seen<B: Body> {
    Plain(B),
    Prefixed(Prefix<B>),
}

/// The standard decision (see [`Standard`](crate::Standard)).
fn standard_decision(parts: &Parts, by_field: Option<Decision>) -> Decision {
    let status = parts.status;
    if status == StatusCode::SEE_OTHER {
        return Decision::SeeOther;
    }
    if let (true, Some(decision)) = (status.is_success(), by_field) {
        return decision;
    }
    let class = match parts.extensions.get::<Class>() {
        Some(class) => *class,
        None => Class::from_status(status),
    };
    match class {
        Class::Pending => Decision::Running,
        Class::Success | Class::NotModified => Decision::Succeeded,
        _ => Decision::Failed,
    }
}

/// `to`, named in `header` of the response to `from`, or a [`Downgrade`] error when
/// `from` is `https` and `to` is `http` and downgrades are not allowed: a job started over
/// a secured connection is never continued in clear text (RFC 9110 §4.2.2; the Fetch
/// standard's mixed-content rule). `status_url`: the status URL being polled, if any.
fn follow<E>(
    config: &Config,
    from: &Uri,
    to: Uri,
    header: &HeaderName,
    status_url: Option<&Uri>,
) -> Result<Uri, PollError<E>> {
    let is = |uri: &Uri, scheme: &str| {
        uri.scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    };
    if config.allow_downgrade || !is(from, "https") || !is(&to, "http") {
        return Ok(to);
    }
    tracing::warn!(
        target: "recourse_poll",
        from = %from,
        to = %to,
        header = %header,
        "refused to follow a URL from https to http"
    );
    Err(PollError::downgrade(Downgrade {
        from: from.clone(),
        to,
        header: header.clone(),
        status_url: status_url.cloned(),
    }))
}

/// About thirty years after `now`: "never", without overflowing.
fn far_future(now: Instant) -> Instant {
    now.checked_add(Duration::from_secs(30 * 365 * 24 * 3600))
        .unwrap_or(now)
}
