//! The polling state machine: wait, poll, read the body field, decide, fetch the result.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::header::LOCATION;
use http::response::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body;
use recourse_core::backoff::FastRand;
use recourse_core::body::{Drain, Peek, PeekBody, Peeked};
use recourse_core::headers::{self, LocationError, location_value};
use recourse_core::origin::{Downgrade, same_origin};
use recourse_core::{Class, Deadline, FinalUri, History, Live, Step, clock};
use tokio::time::{Instant, Sleep};
use tower::util::Oneshot;
use tower_service::Service;

use crate::config::{Config, FinalState};
use crate::ctx::Ctx;
use crate::error::{ProtocolViolation, ViolationKind};
use crate::field::Reading;
use crate::{
    Credentials, Decision, JobStatus, Policy, PollError, PollInfo, PollOutcome, PollProgress,
    PollRequestBody, PollTimeout, Resume, TimeoutReason,
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

type Output<ResBody, E> = Result<Response<PeekBody<ResBody>>, PollError<E>>;

pin_project_lite::pin_project! {
    /// One job being polled.
    pub(crate) struct Poller<S, B, ResBody, P>
    where
        S: Service<Request<PollRequestBody<B>>>,
        ResBody: Body,
    {
        #[pin]
        step: StepState<Oneshot<S, Request<PollRequestBody<B>>>, ResBody>,
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
            drain: Option<Drain<PeekBody<ResBody>>>,
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
            read: Option<(Parts, Peek<ResBody>)>,
        },
        Done,
    }
}

/// Why a request was sent.
#[derive(Clone, Debug)]
enum Purpose {
    Poll,
    /// A result fetch of the URI.
    Result(Uri),
}

/// A URI to request, and where the request is now: the URI that really answered the
/// response naming it ([`FinalUri`], else the URI that response was requested from). The
/// credential and downgrade rules apply from there.
#[derive(Clone, Debug)]
struct Target {
    uri: Uri,
    base: Uri,
}

/// The unpinned state of a job.
struct Job<S, P> {
    svc: S,
    ctx: Ctx<P>,
    status_url: Uri,
    /// Where the response that named the status URL really came from.
    status_base: Uri,
    /// The initial 202's `Location`, and where that 202 really came from.
    initial_location: Option<Target>,
    original_uri: Uri,
    /// The URI of the request the credentials came with (the original request, or the
    /// resume request): they are given for its origin only.
    credentials_at: Uri,
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
    outcome: PollOutcome,
    field: Option<String>,
    rng: Option<FastRand>,
}

/// What to do after a response.
enum Next<ResBody: Body, E> {
    Wait(Duration, PeekBody<ResBody>),
    Fetch(Target),
    Finish(Output<ResBody, E>),
}

impl<S, B, ResBody, P> Poller<S, B, ResBody, P>
where
    S: Service<Request<PollRequestBody<B>>, Response = Response<ResBody>> + Clone,
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
        // Not absolute (or not parsed back): nothing resolves against it, a typed error.
        let original_uri = ctx.uri.to_uri().unwrap_or_default();
        let (mut parts, body) = res.into_parts();
        let found = match begin {
            Begin::Poll => first_status_header(&parts.headers, &ctx.config.status_headers),
            Begin::Created => location_value(&parts.headers, &LOCATION)
                .map(|value| value.map(|value| (&LOCATION, value)))
                .map_err(|e| (&LOCATION, e)),
        };
        let found = match found {
            Ok(found) => found,
            Err((header, error)) => {
                return Begun::Done(Err(PollError::from_location(error, header.clone(), None)));
            }
        };
        let Some((header, value)) = found else {
            tracing::debug!(
                target: "recourse_poll",
                status = parts.status.as_u16(),
                "no status URL in the response: returned as is"
            );
            return Begun::Done(Ok(Response::from_parts(parts, PeekBody::new(body))));
        };
        // A relative reference resolves against the URI that answered (RFC 9110 §10.2.2):
        // after redirects below this layer, not the URI first asked for.
        let base = match parts.extensions.get::<FinalUri>() {
            Some(last) => last.uri().clone(),
            None => original_uri.clone(),
        };
        let status_url = match headers::resolve_location(&base, value) {
            Ok(resolved) => resolved.into_uri(),
            Err(error) => {
                return Begun::Done(Err(PollError::from_location(error, header.clone(), None)));
            }
        };
        let status_url = match follow(&ctx.config, &base, status_url, header, None) {
            Ok(uri) => uri,
            Err(e) => return Begun::Done(Err(e)),
        };
        let initial_location = if *header == LOCATION {
            None
        } else {
            // Only for `FinalState::InitialLocation`: one that cannot be read or resolved
            // is as good as none.
            location_value(&parts.headers, &LOCATION)
                .ok()
                .flatten()
                .and_then(|v| headers::resolve_location(&base, v).ok())
                .map(|r| Target {
                    uri: r.into_uri(),
                    base: base.clone(),
                })
        };
        let history = parts.extensions.remove::<History>().unwrap_or_default();
        let credentials_at = original_uri.clone();
        let mut job = Job::new(
            svc,
            ctx,
            Target {
                uri: status_url,
                base,
            },
            initial_location,
            original_uri,
            credentials_at,
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
                let target = Target {
                    uri: job.status_url.clone(),
                    base: job.status_base.clone(),
                };
                let future = job.send(&target, false);
                Begun::Polling(Self {
                    step: StepState::Send {
                        future,
                        purpose: Purpose::Result(target.uri),
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
                    return Begun::Done(Err(PollError::from_timeout(stop)));
                }
                job.waiting(wait);
                let drain = job.drain(PeekBody::new(body));
                Begun::Polling(Self {
                    step: StepState::Wait {
                        sleep: tokio::time::sleep(wait),
                        drain: Some(drain),
                    },
                    limit,
                    job,
                })
            }
        }
    }

    /// Resumes polling `status_url`, the resume request's URI (see [`Resume`]).
    pub(crate) fn resume(start: Start<S, P>, resume: Resume, status_url: Uri) -> Self {
        let Start { svc, ctx } = start;
        let original_uri = resume.original_uri.unwrap_or_else(|| status_url.clone());
        // The resume request's headers stand in for the original request's: its
        // credentials are given for the status URL it names.
        let initial_location = resume.initial_location.map(|uri| Target {
            uri,
            base: original_uri.clone(),
        });
        let mut job = Job::new(
            svc,
            ctx,
            Target {
                uri: status_url.clone(),
                base: status_url.clone(),
            },
            initial_location,
            original_uri,
            status_url,
            History::default(),
        );
        tracing::debug!(
            target: "recourse_poll",
            status_url = %job.status_url,
            "resuming a job: polling its status"
        );
        let limit = job.limit_at.map(|(at, _)| tokio::time::sleep_until(at));
        job.polls = 1;
        let future = job.send_poll();
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
    S: Service<Request<PollRequestBody<B>>, Response = Response<ResBody>> + Clone,
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
                    this.job.polls += 1;
                    let future = this.job.send_poll();
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
                            return Poll::Ready(Err(PollError::from_timeout(stop)));
                        }
                    };
                    let res = match result {
                        Ok(res) => res,
                        Err(e) => {
                            this.step.set(StepState::Done);
                            let url = this.job.status_url.clone();
                            return Poll::Ready(Err(PollError::from_inner(e, Some(url))));
                        }
                    };
                    match purpose {
                        Purpose::Result(uri) => {
                            let uri = uri.clone();
                            Next::Finish(this.job.finish_result(res, uri))
                        }
                        Purpose::Poll => {
                            this.job.last_status = Some(res.status());
                            if let Some(result) = followed_see_other(&res) {
                                // A redirect layer below already followed the status
                                // monitor's 303 to the result: this is the result.
                                Next::Finish(this.job.see_other_result(res, result))
                            } else {
                                let read_body = res.status().is_success()
                                    && this.job.ctx.config.field.is_some();
                                if let (true, Some(field)) = (read_body, &this.job.ctx.config.field)
                                {
                                    let (parts, body) = res.into_parts();
                                    let peek = Peek::new(body, field.get_peek_limit());
                                    this.step.set(StepState::Read {
                                        read: Some((parts, peek)),
                                    });
                                    continue;
                                }
                                let (parts, body) = res.into_parts();
                                this.job.evaluate(parts, Seen::Plain(body))
                            }
                        }
                    }
                }
                StepProj::Read { read } => {
                    let peeked = match read.as_mut() {
                        Some((_, peek)) => peek.poll_peek(cx),
                        None => Poll::Ready(Peeked::Failed),
                    };
                    let Poll::Ready(peeked) = peeked else {
                        ready!(poll_limit(this.limit.as_mut(), cx));
                        let stop = this.job.cut_off(false);
                        this.step.set(StepState::Done);
                        return Poll::Ready(Err(PollError::from_timeout(stop)));
                    };
                    match read.take() {
                        Some((parts, peek)) => this.job.evaluate(parts, Seen::Peeked(peek, peeked)),
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
                    this.job.waiting(wait);
                    let drain = this.job.drain(body);
                    this.step.set(StepState::Wait {
                        sleep: tokio::time::sleep(wait),
                        drain: Some(drain),
                    });
                }
                Next::Fetch(target) => {
                    let future = this.job.send(&target, false);
                    this.step.set(StepState::Send {
                        future,
                        purpose: Purpose::Result(target.uri),
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
        status: Target,
        initial_location: Option<Target>,
        original_uri: Uri,
        credentials_at: Uri,
        history: History,
    ) -> Self {
        let started = Instant::now();
        let timeout = ctx.config.time_limit.map(|d| {
            let at = started.checked_add(d).unwrap_or(far_future(started));
            (at, TimeoutReason::TimeLimit(d))
        });
        let deadline = ctx.deadline.map(|d| (d.instant(), TimeoutReason::Deadline));
        let limit_at = match (timeout, deadline) {
            (Some(t), Some(d)) => Some(if d.0 < t.0 { d } else { t }),
            (t, d) => t.or(d),
        };
        Self {
            svc,
            ctx,
            status_url: status.uri,
            status_base: status.base,
            initial_location,
            original_uri,
            credentials_at,
            polls: 0,
            running: 0,
            started,
            waited: Duration::ZERO,
            last_wait: Duration::ZERO,
            last_status: None,
            limit_at,
            history,
            outcome: PollOutcome::Succeeded,
            field: None,
            rng: None,
        }
    }

    /// Discards a response's body so that its connection can be reused: bounded by the
    /// drain limit, the drain timeout and the polling limit (the wait is usually longer
    /// than the drain; when it ends first, the drain is dropped with it).
    fn drain<Bd>(&self, body: Bd) -> Drain<Bd> {
        let config = &self.ctx.config;
        let deadline = self.limit_at.map(|(at, _)| Deadline::at(at));
        Drain::new(body, config.drain_limit, config.drain_timeout, deadline)
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
                initial_location: self.initial_location.as_ref().map(|t| t.uri.clone()),
            },
        }
    }
}

impl<S, P: Policy> Job<S, P> {
    /// A poll of the status URL: see [`send`](Self::send).
    fn send_poll<B>(&mut self) -> Oneshot<S, Request<PollRequestBody<B>>>
    where
        S: Service<Request<PollRequestBody<B>>> + Clone,
    {
        let target = Target {
            uri: self.status_url.clone(),
            base: self.status_base.clone(),
        };
        self.send(&target, true)
    }

    /// A `GET` of `target` without a body, with the forwarded headers (credentials only
    /// where allowed) and the effective deadline, through a clone of the inner service.
    /// `live`: a status poll, marked [`Live`] so that a cache below answers it only with
    /// what the origin confirms now (a result fetch may be answered from a cache).
    ///
    /// With [`Credentials::SameOrigin`] the credentials go along only while the request
    /// is still at the origin they were given for (the response naming the URL came from
    /// there, so no redirect below took the request elsewhere and dropped them) and the
    /// URL is on that origin too (RFC 6454 §4; the Fetch standard never restores
    /// credentials a redirect removed).
    fn send<B>(&mut self, target: &Target, live: bool) -> Oneshot<S, Request<PollRequestBody<B>>>
    where
        S: Service<Request<PollRequestBody<B>>> + Clone,
    {
        let uri = &target.uri;
        let mut req = Request::new(PollRequestBody::empty());
        *req.uri_mut() = uri.clone();
        if live {
            Live.insert_into(&mut req);
        }
        let config = &self.ctx.config;
        let credentials = match config.credentials {
            Credentials::Always => true,
            Credentials::Never => false,
            Credentials::SameOrigin => {
                same_origin(&self.credentials_at, &target.base) && same_origin(&target.base, uri)
            }
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
        seen: Seen<ResBody>,
    ) -> Next<ResBody, E> {
        let status = parts.status;
        let elapsed = self.started.elapsed();
        let (reading, complete, prefix) = match &seen {
            Seen::Plain(_) => (None, false, None),
            Seen::Peeked(peek, peeked) => {
                let prefix = peek.bytes();
                let reading = self
                    .ctx
                    .config
                    .field
                    .as_ref()
                    .map(|field| match (peeked, &prefix) {
                        (Peeked::Complete, Some(bytes)) => field.evaluate(bytes),
                        (Peeked::Complete, None) => Reading::undecided(ViolationKind::NotJson),
                        (Peeked::Overflow, _) => {
                            Reading::undecided(ViolationKind::TooLarge(field.get_peek_limit()))
                        }
                        (_, _) => Reading::undecided(ViolationKind::BodyFailed),
                    });
                (reading, peek.is_complete(), prefix)
            }
        };
        let (by_field, text, result) = match reading {
            Some(Reading {
                decision,
                text,
                result,
            }) => match decision {
                Ok(decision) => (Some(decision), text, result),
                // A 202 says "still running" by itself (RFC 9110 §15.3.3), the classify
                // layer's verdict may say "failed"; a response that would be taken for
                // the job's success needs the field to tell a finished job from a status
                // document or an error page.
                Err(kind)
                    if self.is_strict()
                        && standard_decision(&parts, None) == Decision::Succeeded =>
                {
                    return Next::Finish(Err(self.violation(status, kind)));
                }
                Err(_) => (None, text, None),
            },
            None => (None, None, None),
        };
        let standard = standard_decision(&parts, by_field);
        let decision = self.ctx.policy.decide(&JobStatus {
            poll: self.polls,
            status,
            headers: &parts.headers,
            status_url: &self.status_url,
            field: text.as_deref(),
            body: prefix.as_deref().unwrap_or_default(),
            body_complete: complete,
            elapsed,
            standard,
        });
        drop(prefix);
        let body = match seen {
            Seen::Plain(body) => PeekBody::new(body),
            Seen::Peeked(peek, _) => peek.into_body(),
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
        // Where the status response really came from: a relative URL in it resolves
        // against that (RFC 9110 §10.2.2), and the request is there now.
        let here = match parts.extensions.get::<FinalUri>() {
            Some(last) => last.uri().clone(),
            None => self.status_url.clone(),
        };

        match decision {
            Decision::Running => {
                self.running = self.running.saturating_add(1);
                // A 202 names the status monitor (RFC 9110 §15.3.3); the `Location` of
                // another running response (say a 200 with a running body) may name the
                // future result, which must not be polled.
                let moved = match status {
                    StatusCode::ACCEPTED => self.moved_status_url(&parts, &here),
                    _ => None,
                };
                if let Some(next) = moved {
                    match next {
                        Ok(uri) => {
                            self.status_url = uri;
                            self.status_base = here;
                        }
                        Err(e) => return Next::Finish(Err(e)),
                    }
                }
                let wait = self.next_wait(&parts.headers);
                let stop = self.check_limits(wait);
                self.progress(status, decision, elapsed, stop.is_none().then_some(wait));
                match stop {
                    Some(stop) => Next::Finish(Err(PollError::from_timeout(stop))),
                    None => Next::Wait(wait, body),
                }
            }
            Decision::Failed => {
                self.progress(status, decision, elapsed, None);
                self.outcome = PollOutcome::Failed;
                Next::Finish(Ok(self.finish(parts, body, None)))
            }
            Decision::SeeOther => {
                self.progress(status, decision, elapsed, None);
                match location_value(&parts.headers, &LOCATION) {
                    Ok(Some(value)) => match headers::resolve_location(&here, value) {
                        Ok(r) => match self.follow(&here, r.into_uri(), &LOCATION) {
                            Ok(uri) => Next::Fetch(Target { uri, base: here }),
                            Err(e) => Next::Finish(Err(e)),
                        },
                        Err(e) => Next::Finish(Err(self.location_error(e))),
                    },
                    Ok(None) => Next::Finish(Err(self.location_error(LocationError::Empty))),
                    Err(e) => Next::Finish(Err(self.location_error(e))),
                }
            }
            Decision::Succeeded => {
                self.progress(status, decision, elapsed, None);
                if let Some(url) = result {
                    // The result URL from the body, in place of the `FinalState` resource.
                    return match self.body_result(&here, &url) {
                        Ok(uri) => Next::Fetch(Target { uri, base: here }),
                        Err(e) => Next::Finish(Err(e)),
                    };
                }
                let target = match self.ctx.config.final_state {
                    FinalState::StatusResource => None,
                    FinalState::StatusLocation => match location_value(&parts.headers, &LOCATION) {
                        Ok(Some(value)) => match headers::resolve_location(&here, value) {
                            Ok(r) => Some(Target {
                                uri: r.into_uri(),
                                base: here,
                            }),
                            Err(e) => return Next::Finish(Err(self.location_error(e))),
                        },
                        Ok(None) => None,
                        Err(e) => return Next::Finish(Err(self.location_error(e))),
                    },
                    // Named by the original 202, the response to the original request.
                    FinalState::InitialLocation => self.initial_location.clone(),
                    FinalState::OriginalUri => Some(Target {
                        uri: self.original_uri.clone(),
                        base: self.original_uri.clone(),
                    }),
                };
                match target {
                    Some(Target { uri, base }) => match self.follow(&base, uri, &LOCATION) {
                        Ok(uri) => Next::Fetch(Target { uri, base }),
                        Err(e) => Next::Finish(Err(e)),
                    },
                    None => Next::Finish(Ok(self.finish(parts, body, None))),
                }
            }
        }
    }

    /// A running response that names a status URL moves polling there. `here`: where the
    /// response really came from.
    fn moved_status_url<E>(&self, parts: &Parts, here: &Uri) -> Option<Result<Uri, PollError<E>>> {
        let (header, value) =
            match first_status_header(&parts.headers, &self.ctx.config.status_headers) {
                Ok(found) => found?,
                Err((header, e)) => {
                    let status_url = Some(self.status_url.clone());
                    return Some(Err(PollError::from_location(e, header.clone(), status_url)));
                }
            };
        let next = match headers::resolve_location(here, value) {
            Ok(r) => r.into_uri(),
            Err(e) => {
                let status_url = Some(self.status_url.clone());
                return Some(Err(PollError::from_location(e, header.clone(), status_url)));
            }
        };
        Some(self.follow(here, next, header))
    }

    /// `to`, named in `header` of the response to `from`, unless that is a refused
    /// downgrade (see [`follow`]).
    fn follow<E>(&self, from: &Uri, to: Uri, header: &HeaderName) -> Result<Uri, PollError<E>> {
        follow(&self.ctx.config, from, to, header, Some(&self.status_url))
    }

    fn location_error<E>(&self, error: LocationError) -> PollError<E> {
        PollError::from_location(error, LOCATION, Some(self.status_url.clone()))
    }

    /// Whether a status response whose body does not decide is a protocol violation.
    fn is_strict(&self) -> bool {
        self.ctx
            .config
            .field
            .as_ref()
            .is_some_and(|f| f.is_strict())
    }

    fn violation<E>(&self, status: StatusCode, kind: ViolationKind) -> PollError<E> {
        let field = match &self.ctx.config.field {
            Some(field) => field.get_path().clone(),
            None => recourse_core::json::JsonPath::from(""),
        };
        tracing::warn!(
            target: "recourse_poll",
            status_url = %self.status_url,
            status = status.as_u16(),
            field = %field,
            why = %kind,
            "the status response does not say the job's state: protocol violation"
        );
        PollError::protocol(ProtocolViolation {
            status_url: self.status_url.clone(),
            status,
            field,
            kind,
        })
    }

    /// The result URL named by the status body's result field, resolved against `here`
    /// (where the status response came from) like a `Location`. For the error reports,
    /// the field's path stands in for a header name.
    fn body_result<E>(&self, here: &Uri, url: &str) -> Result<Uri, PollError<E>> {
        let name = self
            .ctx
            .config
            .field
            .as_ref()
            .and_then(|f| f.get_result_field())
            .and_then(|path| HeaderName::try_from(path.to_string().to_ascii_lowercase()).ok())
            .unwrap_or(LOCATION);
        let resolved = HeaderValue::try_from(url)
            .map_err(|e| LocationError::Invalid(e.to_string()))
            .and_then(|value| headers::resolve_location(here, &value));
        match resolved {
            Ok(r) => self.follow(here, r.into_uri(), &name),
            Err(e) => Err(PollError::from_location(
                e,
                name,
                Some(self.status_url.clone()),
            )),
        }
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

    /// A poll whose response is the job's result, reached through a 303 that a redirect
    /// layer below followed (RFC 9110 §15.4.4: the status monitor points at the result):
    /// recorded as a poll that succeeded, and returned as the result.
    fn see_other_result<ResBody: Body, E>(
        &mut self,
        res: Response<ResBody>,
        result: Uri,
    ) -> Output<ResBody, E> {
        self.history.push(Step::Polled {
            poll: self.polls,
            uri: self.status_url.clone(),
            status: StatusCode::SEE_OTHER,
            waited: self.last_wait,
        });
        self.progress(
            StatusCode::SEE_OTHER,
            Decision::SeeOther,
            self.started.elapsed(),
            None,
        );
        self.finish_result(res, result)
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
        Ok(self.finish(parts, PeekBody::new(body), Some(uri)))
    }

    fn finish<ResBody: Body>(
        &mut self,
        mut parts: Parts,
        body: PeekBody<ResBody>,
        result_uri: Option<Uri>,
    ) -> Response<PeekBody<ResBody>> {
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
    Peeked(Peek<B>, Peeked),
}

/// The first of the status headers present in `headers`, read by the one rule for
/// `Location` ([`location_value`]: repeats with different values are an error).
#[allow(clippy::type_complexity)]
fn first_status_header<'h, 'n>(
    headers: &'h HeaderMap,
    names: &'n [HeaderName],
) -> Result<Option<(&'n HeaderName, &'h HeaderValue)>, (&'n HeaderName, LocationError)> {
    for name in names {
        match location_value(headers, name) {
            Ok(Some(value)) => return Ok(Some((name, value))),
            Ok(None) => {}
            Err(e) => return Err((name, e)),
        }
    }
    Ok(None)
}

/// Where a status response came from when a redirect layer below followed a `303 See
/// Other` to get it (its [`History`] holds the hop): the job's result, not a status
/// document. `None` for a response of the status URL itself (or one that merely moved,
/// with 301/302/307/308).
fn followed_see_other<B>(res: &Response<B>) -> Option<Uri> {
    let history = History::of(res)?;
    let see_other = history.steps().iter().any(
        |step| matches!(step, Step::Redirected { status, .. } if *status == StatusCode::SEE_OTHER),
    );
    if !see_other {
        return None;
    }
    FinalUri::of(res).map(|last| last.uri().clone())
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

/// `to`, named in `header` of the response that came from `from` (where the request is
/// now), or a [`Downgrade`] error when `from` is `https` and `to` is `http` and downgrades
/// are not allowed: a job started over a secured connection is never continued in clear
/// text (RFC 9110 §4.2.2; the Fetch standard's mixed-content rule). `status_url`: the
/// status URL being polled, if any.
fn follow<E>(
    config: &Config,
    from: &Uri,
    to: Uri,
    header: &HeaderName,
    status_url: Option<&Uri>,
) -> Result<Uri, PollError<E>> {
    if config.allow_downgrade {
        return Ok(to);
    }
    match Downgrade::check(from, &to, header) {
        Ok(()) => Ok(to),
        Err(downgrade) => {
            tracing::warn!(
                target: "recourse_poll",
                from = %from,
                to = %to,
                header = %header,
                "refused to follow a URL from https to http"
            );
            Err(PollError::refused(downgrade, status_url.cloned()))
        }
    }
}

/// About thirty years after `now`: "never", without overflowing.
fn far_future(now: Instant) -> Instant {
    now.checked_add(Duration::from_secs(30 * 365 * 24 * 3600))
        .unwrap_or(now)
}
