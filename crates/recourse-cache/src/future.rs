//! The [`ResponseFuture`] of [`Cache`](crate::Cache): lookup, decision, forwarding,
//! storing.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::Buf;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body::Body;
use pin_project_lite::pin_project;
use recourse_core::clock::system_now;
use recourse_core::{Deadline, History, Live, Step};
use tokio::time::Instant;
use tower::util::Oneshot;
use tower_service::Service;

use crate::age;
use crate::body::CacheBody;
use crate::conditional::{self, Preconditions};
use crate::directives::{RequestDirectives, ResponseDirectives};
use crate::entry::{self, Entry, EntryParts};
use crate::flight::{FlightGuard, Join};
use crate::invalidation;
use crate::key::CacheKey;
use crate::range;
use crate::record;
use crate::refresh::Refresh;
use crate::semantics::{self, Exchange};
use crate::service::Shared;
use crate::status::{self, CacheOutcome, Fwd, StatusInfo};
use crate::store::{Store, Variants};

pin_project! {
    /// The response future of [`Cache`](crate::Cache).
    pub struct ResponseFuture<S, St, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        St: Store,
    {
        #[pin]
        state: State<
            Oneshot<S, Request<ReqBody>>,
            St::GetFuture,
            St::PutFuture,
            St::RemoveFuture,
            Request<ReqBody>,
        >,
        ctx: Ctx<S, St, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, G, P, R, Q> {
        // Reading the store. The request waits here (not in the context) so that the
        // future stays small: it moves into the origin call when forwarded.
        Lookup { #[pin] get: G, req: Option<Q> },
        // Waiting for a coalesced request in flight.
        Wait { wait: Pin<Box<dyn Future<Output = ()> + Send>>, req: Option<Q> },
        // The origin request.
        Forward { #[pin] call: F },
        // Storing an entry updated by a 304, then answering.
        Update { #[pin] put: P },
        // Invalidating, then answering.
        Invalidate { #[pin] remove: R },
        Done,
    }
}

/// What the request asks of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// GET: look up, serve or forward, store.
    Lookup,
    /// Passed through untouched.
    Bypass(Fwd),
    /// An unsafe method: forwarded, then the target is invalidated (RFC 9111 §4.4).
    Invalidate,
}

struct Ctx<S, St, ReqBody, ResBody> {
    _request: PhantomData<fn(ReqBody)>,
    /// A HEAD request: served from a stored GET response, never stored itself.
    head: bool,
    /// A GET with `Range`: answered from a fresh complete stored response when it asks
    /// for one satisfiable byte range, else forwarded untouched (RFC 9111 §3.4).
    range: bool,
    shared: Arc<Shared<St>>,
    svc: Option<S>,
    flow: Flow,
    key: Option<CacheKey>,
    directives: RequestDirectives,
    preconditions: Preconditions,
    /// The request as forwarded, for storing its response.
    sent: Option<Box<Sent>>,
    /// The stored response being validated (or served if the origin fails).
    stale: Option<Arc<Entry>>,
    /// Whether the forwarded request carries the stored response's validators.
    revalidating: bool,
    waited: bool,
    guard: Option<FlightGuard>,
    info: StatusInfo,
    /// The response to send once store operations end.
    pending: Option<Box<Response<CacheBody<ResBody>>>>,
    removals: Vec<CacheKey>,
}

/// What the cache remembers of a forwarded request.
struct Sent {
    /// The target of an unsafe method, for invalidation (RFC 9111 §4.4).
    uri: Option<Uri>,
    headers: HeaderMap,
    /// When the request was sent, on tokio's clock (cheaper to read than the wall clock,
    /// which is read only when a response is stored).
    at: Instant,
    /// A POST (whose response may be stored for later GETs, RFC 9110 §9.3.3), and whether
    /// it carried `Authorization` (RFC 9111 §3.5); its other fields are not kept.
    post: Option<bool>,
}

impl Sent {
    /// The wall-clock time at which the request was sent (`request_time` of RFC 9111
    /// §4.2.3), given the wall-clock time `now`.
    fn request_time(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(self.at.elapsed()).unwrap_or(now)
    }

    /// The exchange whose response arrived at `now`, for storing it.
    fn exchange(&self, now: SystemTime) -> Exchange<'_> {
        Exchange {
            method: &Method::GET,
            request: &self.headers,
            request_time: self.request_time(now),
            response_time: now,
        }
    }
}

type Output<ResBody, E> = Result<Response<CacheBody<ResBody>>, E>;

enum Next<F, G, P, R, Q, ResBody, E> {
    Ready(Output<ResBody, E>),
    State(State<F, G, P, R, Q>),
}

type StateOf<S, St, ReqBody> = State<
    Oneshot<S, Request<ReqBody>>,
    <St as Store>::GetFuture,
    <St as Store>::PutFuture,
    <St as Store>::RemoveFuture,
    Request<ReqBody>,
>;

type NextOf<S, St, ReqBody, ResBody> = Next<
    Oneshot<S, Request<ReqBody>>,
    <St as Store>::GetFuture,
    <St as Store>::PutFuture,
    <St as Store>::RemoveFuture,
    Request<ReqBody>,
    ResBody,
    <S as Service<Request<ReqBody>>>::Error,
>;

// === impl ResponseFuture ===

impl<S, St, ReqBody, ResBody> ResponseFuture<S, St, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    St: Store,
    ReqBody: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
{
    pub(crate) fn new(shared: Arc<Shared<St>>, svc: S, req: Request<ReqBody>) -> Self {
        // HEAD can be answered from a stored GET response (RFC 9111 §4: the stored
        // response's method allows it), but its own responses are never stored.
        let head = req.method() == Method::HEAD;
        // RFC 9110 §14.2: Range is ignored for any method but GET.
        let range = req.method() == Method::GET && req.headers().contains_key(header::RANGE);
        let mut flow = match *req.method() {
            Method::GET | Method::HEAD => Flow::Lookup,
            Method::OPTIONS | Method::TRACE | Method::CONNECT => Flow::Bypass(Fwd::Method),
            _ => Flow::Invalidate,
        };
        let mut key = None;
        let mut directives = RequestDirectives::default();
        let mut preconditions = Preconditions::None;
        match flow {
            Flow::Lookup => {
                preconditions = Preconditions::of(req.headers());
                key = CacheKey::from_request(&req);
                if key.is_none() || preconditions == Preconditions::Origin {
                    flow = Flow::Bypass(Fwd::Bypass);
                } else {
                    directives = RequestDirectives::parse(req.headers());
                    // A request that must see the origin's current state (a poll's status
                    // request) is a request with `no-cache` (RFC 9111 §5.2.1.4): a stored
                    // response, fresh or not, is used only once the origin confirmed it
                    // (a 304 to our validators). Directives make it uncoalescable too, so
                    // it never waits for an origin answer that began before it arrived.
                    if Live::is_set(&req) {
                        directives.no_cache = true;
                    }
                }
            }
            Flow::Invalidate => key = CacheKey::from_request(&req),
            Flow::Bypass(_) => {}
        }
        let mut ctx = Ctx {
            _request: PhantomData,
            head,
            range,
            shared,
            svc: Some(svc),
            flow,
            key,
            directives,
            preconditions,
            sent: None,
            stale: None,
            revalidating: false,
            waited: false,
            guard: None,
            info: StatusInfo::default(),
            pending: None,
            removals: Vec::new(),
        };
        let state = match (&ctx.flow, &ctx.key) {
            (Flow::Lookup, Some(key)) => State::Lookup {
                get: ctx.shared.store.get(key),
                req: Some(req),
            },
            _ => ctx.forward(req),
        };
        ResponseFuture { state, ctx }
    }
}

impl<S, St, ReqBody, ResBody> Future for ResponseFuture<S, St, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    St: Store,
    ReqBody: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
{
    type Output = Result<Response<CacheBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Lookup { get, req } => {
                    let found = match ready!(get.poll(cx)) {
                        Ok(found) => found,
                        Err(error) => {
                            tracing::warn!(%error, "cache store lookup failed; going to the origin");
                            None
                        }
                    };
                    this.ctx.on_lookup(found, req)
                }
                StateProj::Wait { wait, req } => {
                    ready!(wait.as_mut().poll(cx));
                    this.ctx.waited = true;
                    this.ctx.info.collapsed = true;
                    match (&this.ctx.key, req.take()) {
                        (Some(key), req) => Next::State(State::Lookup {
                            get: this.ctx.shared.store.get(key),
                            req,
                        }),
                        (None, Some(req)) => Next::State(this.ctx.forward(req)),
                        (None, None) => unreachable!("recourse_cache: no request to forward"),
                    }
                }
                StateProj::Forward { call } => {
                    let result = ready!(call.poll(cx));
                    this.ctx.on_response(result)
                }
                StateProj::Update { put } => {
                    if let Err(error) = ready!(put.poll(cx)) {
                        tracing::warn!(%error, "cache store failed to update a revalidated response");
                    }
                    this.ctx.guard = None;
                    this.ctx.respond_pending()
                }
                StateProj::Invalidate { remove } => {
                    if let Err(error) = ready!(remove.poll(cx)) {
                        tracing::warn!(%error, "cache store failed to invalidate");
                    }
                    this.ctx.next_removal()
                }
                StateProj::Done => panic!("recourse_cache::ResponseFuture polled after completion"),
            };
            match next {
                Next::Ready(out) => {
                    this.state.set(State::Done);
                    return Poll::Ready(out);
                }
                Next::State(state) => this.state.set(state),
            }
        }
    }
}

impl<S, St, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, St, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    St: Store,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("flow", &self.ctx.flow)
            .field("key", &self.ctx.key)
            .finish()
    }
}

// === impl Ctx ===

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl<S, St, ReqBody, ResBody> Ctx<S, St, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    St: Store,
    ReqBody: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
{
    fn is_shared(&self) -> bool {
        self.shared.config.mode.is_shared()
    }

    fn take_sent(&mut self) -> Box<Sent> {
        match self.sent.take() {
            Some(sent) => sent,
            None => unreachable!("recourse_cache: a forwarded lookup remembers its request"),
        }
    }

    /// The stored response's directives for this cache: a targeted field's (RFC 9213)
    /// when it has one, re-read only then (never on a plain hit).
    fn entry_directives<'e>(&self, entry: &'e Entry) -> Cow<'e, ResponseDirectives> {
        let config = &self.shared.config;
        if config.has_targeted(entry.headers()) {
            Cow::Owned(config.response_directives(entry.headers()))
        } else {
            Cow::Borrowed(entry.directives())
        }
    }

    /// Decides what to do with what the store holds (RFC 9111 §4).
    fn on_lookup(
        &mut self,
        found: Option<Variants>,
        req: &mut Option<Request<ReqBody>>,
    ) -> NextOf<S, St, ReqBody, ResBody> {
        let variants = found.unwrap_or_default();
        let Some(request) = req.as_ref() else {
            unreachable!("recourse_cache: the request waits in the lookup state")
        };
        let selected = entry::select(variants.entries(), request.headers()).cloned();
        let Some(entry) = selected else {
            self.info.fwd = Some(if variants.is_empty() {
                Fwd::UriMiss
            } else {
                Fwd::VaryMiss
            });
            if self.directives.only_if_cached {
                return Next::Ready(Ok(self.only_if_cached()));
            }
            if self.range {
                return self.forward_range(req);
            }
            return self.forward_coalesced(req);
        };
        let not_modified = self.preconditions == Preconditions::Cache
            && conditional::not_modified(request.headers(), &entry);

        // The clock is read only when a stored response was selected.
        let now = system_now();
        let d = self.directives;
        let age = entry.age(now);
        let lifetime = entry.freshness_lifetime();
        let fresh = lifetime > age;
        // RFC 9111 §5.2.1: request max-age (a stored response older than that is not
        // acceptable; max-age=0 always validates), min-fresh, no-cache.
        let age_ok = d.max_age.is_none_or(|max| age < secs(max));
        if fresh
            && age_ok
            && !d.no_cache
            && d.min_fresh.is_none_or(|min| lifetime - age >= secs(min))
        {
            if self.range && !not_modified {
                return match self.serve_range(&entry, age, request) {
                    Some(res) => Next::Ready(Ok(res)),
                    None => {
                        self.info.fwd = Some(Fwd::Request);
                        self.forward_range(req)
                    }
                };
            }
            return Next::Ready(Ok(self.serve(&entry, age, CacheOutcome::Hit, not_modified)));
        }
        if self.range {
            self.info.fwd = Some(if fresh { Fwd::Request } else { Fwd::Stale });
            return self.forward_range(req);
        }

        if !fresh
            && age_ok
            && !d.no_cache
            && d.min_fresh.is_none()
            && self.entry_directives(&entry).allows_stale(self.is_shared())
        {
            let staleness = age - lifetime;
            // RFC 9111 §5.2.1.2: max-stale.
            if d.max_stale
                .is_some_and(|max| max.is_none_or(|max| staleness <= secs(max)))
            {
                return Next::Ready(Ok(self.serve(
                    &entry,
                    age,
                    CacheOutcome::Stale,
                    not_modified,
                )));
            }
            // RFC 5861 §3: stale-while-revalidate.
            if self.shared.config.stale_while_revalidate
                && self
                    .entry_directives(&entry)
                    .stale_while_revalidate
                    .is_some_and(|window| staleness <= secs(window))
                && tokio::runtime::Handle::try_current().is_ok()
            {
                let res = self.serve(&entry, age, CacheOutcome::Stale, not_modified);
                if let Some(request) = req.take() {
                    self.refresh_in_background(entry, request);
                }
                return Next::Ready(Ok(res));
            }
        }

        if self.directives.only_if_cached {
            return Next::Ready(Ok(self.only_if_cached()));
        }
        self.info.fwd = Some(if fresh { Fwd::Request } else { Fwd::Stale });
        // For a HEAD request: the stored GET response its 200 updates or invalidates
        // (RFC 9111 §4.3.5).
        self.stale = Some(entry);
        self.forward_coalesced(req)
    }

    /// Forwards a range request the cache cannot answer, `Range` untouched, and passes its
    /// response on unstored (a 206 is partial; RFC 9111 §3.4).
    fn forward_range(
        &mut self,
        req: &mut Option<Request<ReqBody>>,
    ) -> NextOf<S, St, ReqBody, ResBody> {
        self.flow = Flow::Bypass(self.info.fwd.unwrap_or(Fwd::Request));
        match req.take() {
            Some(req) => Next::State(self.forward(req)),
            None => unreachable!("recourse_cache: request forwarded twice"),
        }
    }

    /// A 206 for the one byte range `request` asks of a fresh, complete stored 200
    /// response (RFC 9110 §14.2, §15.3.7): the stored fields, `Content-Range`, the
    /// `Content-Length` of the part, and a slice of the stored body (no copy). `None` when
    /// the range is not one satisfiable byte range.
    fn serve_range(
        &mut self,
        entry: &Entry,
        age: Duration,
        request: &Request<ReqBody>,
    ) -> Option<Response<CacheBody<ResBody>>> {
        if entry.status() != StatusCode::OK {
            return None;
        }
        let body = entry.body();
        let (first, last) = range::single(request.headers().get(header::RANGE)?, body.len())?;
        let mut res = self.serve(entry, age, CacheOutcome::Hit, false);
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        *res.body_mut() = CacheBody::stored(body.slice(first..=last));
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_RANGE,
            range::content_range(first, last, body.len()),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(last - first + 1));
        Some(res)
    }

    /// Forwards, first joining the flight for the key when coalescing applies.
    fn forward_coalesced(
        &mut self,
        req: &mut Option<Request<ReqBody>>,
    ) -> NextOf<S, St, ReqBody, ResBody> {
        let coalescable = self.shared.config.coalesce
            && !self.head
            && !self.waited
            && self.directives.is_empty()
            && self.preconditions == Preconditions::None
            // Waiting is bounded with tokio's timer.
            && tokio::runtime::Handle::try_current().is_ok();
        if coalescable && let Some(key) = &self.key {
            match self
                .shared
                .flights
                .join(key, self.shared.config.coalesce_timeout)
            {
                Join::Leader(guard) => self.guard = Some(guard),
                Join::Follower(flight) => {
                    return Next::State(State::Wait {
                        wait: flight.wait(self.shared.config.coalesce_timeout),
                        req: req.take(),
                    });
                }
                Join::Pass => {}
            }
        }
        match req.take() {
            Some(req) => Next::State(self.forward(req)),
            None => unreachable!("recourse_cache: request forwarded twice"),
        }
    }

    /// Sends the request to the origin, with the stored validators when revalidating
    /// (RFC 9111 §4.3.1).
    fn forward(&mut self, mut req: Request<ReqBody>) -> StateOf<S, St, ReqBody> {
        let Some(svc) = self.svc.take() else {
            // Present until the one forward of this future.
            unreachable!("recourse_cache: request forwarded twice")
        };
        match self.flow {
            Flow::Lookup => {
                self.sent = Some(Box::new(Sent {
                    uri: None,
                    headers: req.headers().clone(),
                    at: Instant::now(),
                    post: None,
                }));
                if let Some(entry) = &self.stale
                    && self.preconditions == Preconditions::None
                    && !self.head
                {
                    self.revalidating = conditional::add_validators(req.headers_mut(), entry);
                }
            }
            Flow::Invalidate => {
                let post = req.method() == Method::POST;
                self.sent = Some(Box::new(Sent {
                    uri: Some(req.uri().clone()),
                    headers: HeaderMap::new(),
                    at: Instant::now(),
                    post: post.then(|| req.headers().contains_key(header::AUTHORIZATION)),
                }));
            }
            Flow::Bypass(_) => {}
        }
        State::Forward {
            call: Oneshot::new(svc, req),
        }
    }

    /// Serves a stored response, or a 304 when the caller's own validators match it
    /// (RFC 9111 §4.3.2). The body is a clone of the stored `Bytes`.
    fn serve(
        &mut self,
        entry: &Entry,
        age: Duration,
        outcome: CacheOutcome,
        not_modified: bool,
    ) -> Response<CacheBody<ResBody>> {
        let mut res = if not_modified {
            let mut res = Response::new(CacheBody::empty());
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            *res.headers_mut() = conditional::not_modified_headers(entry);
            res
        } else {
            let body = if self.head {
                CacheBody::empty()
            } else {
                CacheBody::stored(entry.body().clone())
            };
            let mut res = Response::new(body);
            *res.status_mut() = entry.status();
            // The stored fields with an `Age` placeholder: replacing it below does not
            // grow the map.
            *res.headers_mut() = entry.served_headers().clone();
            // A shared cache never stores cookie fields; an entry that has them came from
            // elsewhere (a private cache sharing the store, an older version): they are
            // another user's, never served (RFC 9111 §7.3).
            if entry.sets_cookie() && self.is_shared() {
                semantics::strip_cookie_setters(res.headers_mut());
            }
            res
        };
        // RFC 9111 §4: a response served from storage carries its current Age (§5.1).
        res.headers_mut()
            .insert(header::AGE, age::age_value(age.as_secs()));
        // RFC 9211 §2.1: `hit` when the response came from storage without a forward.
        self.info.hit = outcome == CacheOutcome::Hit
            || (outcome == CacheOutcome::Stale && self.info.fwd.is_none());
        if self.shared.config.cache_status.is_some() {
            // Only `Cache-Status` shows it.
            self.info.ttl = Some(status::ttl(entry, age));
        }
        self.decorate(&mut res, outcome);
        res
    }

    /// RFC 9111 §5.2.1.7: nothing acceptable is stored and the request may not go to the
    /// origin.
    fn only_if_cached(&mut self) -> Response<CacheBody<ResBody>> {
        let mut res = Response::new(CacheBody::empty());
        *res.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        self.info.fwd = None;
        self.info.detail = Some("only-if-cached");
        self.decorate(&mut res, CacheOutcome::Miss);
        res
    }

    fn decorate<B>(&mut self, res: &mut Response<B>, outcome: CacheOutcome) {
        res.extensions_mut().insert(outcome);
        if self.revalidating
            && let Some(status) = self.info.fwd_status
        {
            History::record(res, Step::Revalidated { status });
        }
        if let Some(name) = &self.shared.config.cache_status {
            self.info.append_to(name, res);
        }
    }

    /// Passes an origin response on.
    fn origin(
        &mut self,
        res: Response<ResBody>,
        body: impl FnOnce(ResBody) -> CacheBody<ResBody>,
        outcome: CacheOutcome,
    ) -> Response<CacheBody<ResBody>> {
        let mut res = res.map(body);
        self.decorate(&mut res, outcome);
        res
    }

    /// Starts a background revalidation of `entry` with the caller's request, unless one
    /// is already running for the key.
    fn refresh_in_background(&mut self, entry: Arc<Entry>, mut request: Request<ReqBody>) {
        let Some(key) = self.key.clone() else { return };
        let config = &self.shared.config;
        // Bounded by the refresh timeout and the caller's deadline: a refresh that never
        // ends would hold the key's flight, and every request needing the origin would
        // wait for it.
        let timeout = match Deadline::of(&request) {
            Some(deadline) => deadline.remaining().min(config.refresh_timeout),
            None => config.refresh_timeout,
        };
        if timeout.is_zero() {
            return;
        }
        let Some(guard) = self.shared.flights.try_lead(&key, config.coalesce_timeout) else {
            return;
        };
        let Some(svc) = self.svc.take() else {
            return;
        };
        let headers = request.headers_mut();
        headers.remove(header::IF_NONE_MATCH);
        headers.remove(header::IF_MODIFIED_SINCE);
        conditional::add_validators(headers, &entry);
        Refresh {
            shared: self.shared.clone(),
            svc,
            request,
            key,
            entry,
            guard,
            no_store: self.directives.no_store,
            timeout,
        }
        .spawn();
    }

    /// Whether the caller's own validators, as sent, match `entry` (RFC 9111 §4.3.2).
    fn sent_not_modified(&self, entry: &Entry) -> bool {
        self.preconditions == Preconditions::Cache
            && self
                .sent
                .as_deref()
                .is_some_and(|sent| conditional::not_modified(&sent.headers, entry))
    }

    /// The stored response to serve when the origin failed, if stale-if-error allows
    /// (RFC 5861 §4), or, when the origin could not be reached at all (`unreachable`: a
    /// transport error), the layer's `stale_if_unreachable` window (RFC 9111 §4.2.4: a
    /// disconnected cache may serve stale). Never when the response forbids serving stale.
    fn stale_if_error(&self, now: SystemTime, unreachable: bool) -> Option<Arc<Entry>> {
        let entry = self.stale.as_ref()?;
        let directives = self.entry_directives(entry);
        if self.directives.no_cache || !directives.allows_stale(self.is_shared()) {
            return None;
        }
        let window = [
            directives.stale_if_error.map(secs),
            self.directives.stale_if_error.map(secs),
            Some(self.shared.config.stale_if_error).filter(|w| !w.is_zero()),
            Some(self.shared.config.stale_if_unreachable).filter(|w| unreachable && !w.is_zero()),
        ]
        .into_iter()
        .flatten()
        .max()?;
        (entry.staleness(now) <= window).then(|| entry.clone())
    }

    fn on_response(
        &mut self,
        result: Result<Response<ResBody>, S::Error>,
    ) -> NextOf<S, St, ReqBody, ResBody> {
        let res = match result {
            Ok(res) => res,
            Err(error) => {
                let now = system_now();
                if let Some(entry) = self.stale_if_error(now, true) {
                    tracing::debug!("origin unreachable; serving a stale response");
                    self.guard = None;
                    // RFC 9211 §2.8: why the stale response was served.
                    self.info.detail = Some("origin-unreachable");
                    let not_modified = self.sent_not_modified(&entry);
                    return Next::Ready(Ok(self.serve(
                        &entry,
                        entry.age(now),
                        CacheOutcome::Stale,
                        not_modified,
                    )));
                }
                return Next::Ready(Err(error));
            }
        };
        match self.flow {
            Flow::Bypass(fwd) => {
                self.info.fwd = Some(fwd);
                Next::Ready(Ok(self.origin(
                    res,
                    CacheBody::origin,
                    CacheOutcome::Bypass,
                )))
            }
            Flow::Invalidate => self.invalidate(res),
            Flow::Lookup => self.on_origin_response(res),
        }
    }

    fn on_origin_response(&mut self, res: Response<ResBody>) -> NextOf<S, St, ReqBody, ResBody> {
        let status = res.status();
        self.info.fwd_status = Some(status);
        if self.head {
            if status == StatusCode::OK
                && let Some(entry) = self.stale.take()
            {
                return self.on_head_response(res, &entry);
            }
            return Next::Ready(Ok(self.origin(res, CacheBody::origin, CacheOutcome::Miss)));
        }
        // The clock is read only when a time is needed: a stale response to fall back on,
        // a 304 to merge, or a response to store.
        let checked = if status == StatusCode::NOT_MODIFIED {
            None
        } else {
            let checked = semantics::check(
                &self.shared.config,
                status,
                res.headers(),
                self.directives.no_store,
            );
            if self.stale.is_none()
                && let Err(reason) = checked
            {
                tracing::trace!(?reason, "response not stored");
                if let Some(guard) = self.guard.take() {
                    guard.uncacheable(self.shared.config.pass_ttl);
                }
                return Next::Ready(Ok(self.origin(res, CacheBody::origin, CacheOutcome::Miss)));
            }
            Some(checked)
        };
        let now = system_now();
        if status.is_server_error()
            && let Some(entry) = self.stale_if_error(now, false)
        {
            tracing::debug!(%status, "origin failed; serving a stale response (stale-if-error)");
            self.guard = None;
            self.info.detail = Some("stale-if-error");
            let not_modified = self.sent_not_modified(&entry);
            return Next::Ready(Ok(self.serve(
                &entry,
                entry.age(now),
                CacheOutcome::Stale,
                not_modified,
            )));
        }
        let sent = self.take_sent();
        let ex = sent.exchange(now);

        let Some(checked) = checked else {
            return self.on_not_modified(res, &ex);
        };

        let config = &self.shared.config;
        let store = &self.shared.store;
        let limit = store.max_entry_size();
        let prepared =
            checked.and_then(|c| semantics::build(config, &ex, status, res.headers(), c));
        match (prepared, &self.key) {
            (Ok(parts), Some(key)) if limit > 0 && !record::declared_too_large(&res, limit) => {
                let recorder = record::recorder(store, key, parts, self.guard.take());
                self.info.stored = true;
                Next::Ready(Ok(self.origin(
                    res,
                    |body| CacheBody::recording(body, recorder),
                    CacheOutcome::Miss,
                )))
            }
            (prepared, _) => {
                if let Err(reason) = prepared {
                    tracing::trace!(?reason, "response not stored");
                }
                if let Some(guard) = self.guard.take() {
                    guard.uncacheable(self.shared.config.pass_ttl);
                }
                let response = self.origin(res, CacheBody::origin, CacheOutcome::Miss);
                if self.stale.is_some() && !status.is_server_error() {
                    // RFC 9111 §4.3.3: a full response to a validation request supersedes
                    // the stored one. It may not be stored (`no-store`, too large, ...),
                    // so the stored response goes: it must not be served (stale) again.
                    return self.store_then_respond(None, response);
                }
                Next::Ready(Ok(response))
            }
        }
    }

    /// A 200 to a HEAD request with a stored GET response (RFC 9111 §4.3.5): when its
    /// `ETag`, `Last-Modified` and `Content-Length` agree with the stored ones, the stored
    /// fields are updated as from a 304 (`Content-Length` excepted) and the freshness
    /// recomputed, so a fresh HEAD response refreshes the stored GET response; when they
    /// differ, the stored response is invalidated.
    fn on_head_response(
        &mut self,
        res: Response<ResBody>,
        entry: &Entry,
    ) -> NextOf<S, St, ReqBody, ResBody> {
        let sent = self.take_sent();
        let ex = sent.exchange(system_now());
        let updated = conditional::head_agrees(res.headers(), entry)
            .then(|| {
                record::revalidated(
                    &self.shared.config,
                    &ex,
                    self.directives.no_store,
                    entry,
                    res.headers(),
                )
                .ok()
            })
            .flatten()
            .map(Arc::new);
        let response = self.origin(res, CacheBody::origin, CacheOutcome::Miss);
        self.store_then_respond(updated, response)
    }

    /// A 304 from the origin (RFC 9111 §4.3.3, §4.3.4).
    fn on_not_modified(
        &mut self,
        res: Response<ResBody>,
        ex: &Exchange<'_>,
    ) -> NextOf<S, St, ReqBody, ResBody> {
        let Some(entry) = self.stale.clone() else {
            // The caller's own conditional request, with nothing stored: pass it on.
            return Next::Ready(Ok(self.origin(res, CacheBody::origin, CacheOutcome::Miss)));
        };
        let selected = conditional::selects(&res, &entry);
        if !self.revalidating {
            // The caller's own conditional request: pass the 304 on, and freshen the
            // stored response when the 304 is about it.
            if !selected {
                return Next::Ready(Ok(self.origin(res, CacheBody::origin, CacheOutcome::Miss)));
            }
            let updated = record::revalidated(
                &self.shared.config,
                ex,
                self.directives.no_store,
                &entry,
                res.headers(),
            )
            .ok()
            .map(Arc::new);
            let response = self.origin(res, CacheBody::origin, CacheOutcome::Revalidated);
            return self.store_then_respond(updated, response);
        }
        if !selected {
            // RFC 9111 §4.3.4: a 304 for another representation must not update the
            // stored one; the origin still said "not modified" to our validators, so the
            // stored response is served as it is.
            tracing::debug!("304 does not select the stored response; serving it without update");
            return Next::Ready(Ok(self.serve(
                &entry,
                entry.age(ex.response_time),
                CacheOutcome::Revalidated,
                false,
            )));
        }
        match record::revalidated(
            &self.shared.config,
            ex,
            self.directives.no_store,
            &entry,
            res.headers(),
        ) {
            Ok(updated) => {
                let updated = Arc::new(updated);
                let mut response = self.serve(
                    &updated,
                    updated.age(ex.response_time),
                    CacheOutcome::Revalidated,
                    false,
                );
                if self.is_shared() && semantics::sets_cookie(res.headers()) {
                    // The 304 answered this user's request: its cookies are theirs (and
                    // were not stored).
                    semantics::own_cookies(response.headers_mut(), res.headers());
                }
                self.store_then_respond(Some(updated), response)
            }
            Err(merged) => {
                // The updated response may not be stored: serve it once, drop the old.
                let mut response = Response::new(CacheBody::stored(entry.body().clone()));
                *response.status_mut() = entry.status();
                *response.headers_mut() = merged;
                response.headers_mut().remove(header::AGE);
                if self.is_shared() {
                    semantics::own_cookies(response.headers_mut(), res.headers());
                }
                self.decorate(&mut response, CacheOutcome::Revalidated);
                self.store_then_respond(None, response)
            }
        }
    }

    /// Stores the updated entry (or, with `None`, removes the old one), then answers with
    /// `response`.
    fn store_then_respond(
        &mut self,
        updated: Option<Arc<Entry>>,
        response: Response<CacheBody<ResBody>>,
    ) -> NextOf<S, St, ReqBody, ResBody> {
        let Some(key) = &self.key else {
            return Next::Ready(Ok(response));
        };
        self.pending = Some(Box::new(response));
        match updated {
            Some(entry) => Next::State(State::Update {
                put: self.shared.store.put(key, entry),
            }),
            None => Next::State(State::Invalidate {
                remove: self.shared.store.remove(key),
            }),
        }
    }

    fn respond_pending(&mut self) -> NextOf<S, St, ReqBody, ResBody> {
        match self.pending.take() {
            Some(res) => Next::Ready(Ok(*res)),
            None => unreachable!("recourse_cache: no response pending"),
        }
    }

    /// RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target
    /// URI and the same-origin `Location` and `Content-Location` URIs.
    fn invalidate(&mut self, res: Response<ResBody>) -> NextOf<S, St, ReqBody, ResBody> {
        self.info.fwd = Some(Fwd::Method);
        let status = res.status();
        let (Some(key), true) = (&self.key, status.is_success() || status.is_redirection()) else {
            return Next::Ready(Ok(self.origin(
                res,
                CacheBody::origin,
                CacheOutcome::Bypass,
            )));
        };
        let sent = self.sent.take();
        let (mut removals, self_located) =
            invalidation::targets(key, sent.as_ref().and_then(|sent| sent.uri.clone()), &res);
        let stored = match sent {
            Some(sent) if self_located && status.is_success() => sent
                .post
                .and_then(|auth| self.post_entry(&sent, auth, &res)),
            _ => None,
        };
        let response = match (stored, self.key.clone()) {
            (Some(parts), Some(key)) => {
                let recorder = record::recorder(&self.shared.store, &key, parts, None);
                self.info.stored = true;
                self.origin(
                    res,
                    |body| CacheBody::recording(body, recorder),
                    CacheOutcome::Bypass,
                )
            }
            _ => self.origin(res, CacheBody::origin, CacheOutcome::Bypass),
        };
        self.pending = Some(Box::new(response));
        removals.reverse();
        self.removals = removals;
        self.next_removal()
    }

    /// The entry for a POST response that may answer later GETs (RFC 9111 §4.2.1, RFC 9110
    /// §9.3.3): explicit freshness, a `Content-Location` equal to the request URI (checked
    /// by the caller), no `Vary` (the request's fields are not kept to select it), storable
    /// as the response to a GET would be. Stored once its body has been read, after the
    /// invalidation of the URI.
    fn post_entry(
        &self,
        sent: &Sent,
        authorization: bool,
        res: &Response<ResBody>,
    ) -> Option<EntryParts> {
        let config = &self.shared.config;
        let headers = res.headers();
        let d = config.response_directives(headers);
        let explicit = d.max_age.is_some()
            || (self.is_shared() && d.s_maxage.is_some())
            || headers.contains_key(header::EXPIRES);
        if !explicit
            || headers.contains_key(header::VARY)
            || self.shared.store.max_entry_size() == 0
        {
            return None;
        }
        let mut request = HeaderMap::new();
        if authorization {
            // Only its presence counts (RFC 9111 §3.5).
            request.insert(header::AUTHORIZATION, HeaderValue::from_static("present"));
        }
        let now = system_now();
        let ex = Exchange {
            method: &Method::GET,
            request: &request,
            request_time: sent.request_time(now),
            response_time: now,
        };
        semantics::prepare(config, &ex, res.status(), headers, false).ok()
    }

    fn next_removal(&mut self) -> NextOf<S, St, ReqBody, ResBody> {
        match self.removals.pop() {
            Some(key) => Next::State(State::Invalidate {
                remove: self.shared.store.remove(&key),
            }),
            None => self.respond_pending(),
        }
    }
}
