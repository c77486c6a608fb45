//! [`ResponseFuture`]: drives one request through its chain of redirects.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::{
    CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_LOCATION, CONTENT_TYPE, HOST,
    HeaderName, LOCATION, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use recourse_core::body::{Drain, NotReplayable, ReplayBody};
use recourse_core::headers::{LocationError, location_value, resolve_location_with_fragment};
use recourse_core::origin::{Downgrade, same_origin};
use recourse_core::{Deadline, FinalUri, History, Step};
use tower::util::Oneshot;
use tower_service::Service;

use crate::body::RedirectBody;
use crate::config::Config;
use crate::error::{DeadlineExpired, RedirectError, RedirectLoop, TooManyRedirects};
use crate::extensions::{Hop, NotFollowed, RedirectHistory};
use crate::head::Head;
use crate::policy::{ActionKind, Policy, RedirectAttempt};

/// The headers that describe a request's content; they go when the content goes (a 303,
/// or a 301/302 that turns POST into GET). The Fetch standard's request-body-header names
/// (§4.4 step 12: `Content-Encoding`, `Content-Language`, `Content-Location`,
/// `Content-Type`), and the framing headers of the body itself.
pub const PAYLOAD_HEADERS: [HeaderName; 6] = [
    CONTENT_TYPE,
    CONTENT_LENGTH,
    CONTENT_ENCODING,
    CONTENT_LANGUAGE,
    CONTENT_LOCATION,
    TRANSFER_ENCODING,
];

/// Whether `status` is one this layer follows (the Fetch standard's redirect statuses).
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Whether a redirect turns the request into a GET without a body (Fetch §4.4 step 12;
/// RFC 9110 §15.4.2, §15.4.3, §15.4.4). 307 and 308 never change the method (RFC 9110
/// §15.4.8, §15.4.9).
fn rewrites_to_get(status: StatusCode, method: &Method, keep_post: bool) -> bool {
    match status.as_u16() {
        301 | 302 => *method == Method::POST && !keep_post,
        303 => *method != Method::GET && *method != Method::HEAD,
        _ => false,
    }
}

/// The one `Location` value of a response, by the one rule of
/// [`location_value`]: identical repeated fields are one value, different ones are not
/// followed.
fn location(headers: &HeaderMap) -> Result<&HeaderValue, NotFollowed> {
    match location_value(headers, &LOCATION) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(NotFollowed::MissingLocation),
        Err(LocationError::Conflicting) => Err(NotFollowed::ConflictingLocations),
        Err(other) => Err(NotFollowed::Location(other)),
    }
}

fn has_userinfo(uri: &Uri) -> bool {
    uri.authority().is_some_and(|a| a.as_str().contains('@'))
}

/// Points an existing `Host` header at the new target (RFC 9110 §7.2), without userinfo.
fn update_host(headers: &mut HeaderMap, target: &Uri) {
    if !headers.contains_key(HOST) {
        return;
    }
    let value = target
        .authority()
        .map(|a| a.as_str().rsplit('@').next().unwrap_or(a.as_str()))
        .and_then(|a| HeaderValue::from_str(a).ok());
    match value {
        Some(value) => {
            headers.insert(HOST, value);
        }
        None => {
            headers.remove(HOST);
        }
    }
}

/// The future of a redirected request (boxed: it exists only once a redirect is followed).
type HopFuture<S, B> = Pin<Box<Oneshot<S, Request<RedirectBody<B>>>>>;

// === BodySource ===

/// Where the body of the next hop comes from.
pub(crate) enum BodySource<B> {
    /// The never-polled template; each hop sends a clone.
    Replay(ReplayBody<B>),
    /// The request has no body (it was empty from the start).
    Empty,
    /// A hop dropped the body (303, or POST to GET on 301/302); later hops send none.
    Dropped,
    /// The body could not even be cloned for the first request.
    Unavailable(NotReplayable),
}

// === Chain ===

/// Everything a chain of hops needs besides the in-flight future.
pub(crate) struct Chain<S, B, P> {
    svc: S,
    policy: P,
    /// Method, URI, headers and extensions of the request in flight; each hop edits them.
    head: Head,
    body: BodySource<B>,
    config: Config,
    /// What the followed hops left; `None` until the first redirect is followed. Boxed,
    /// like the states of later hops: the pass-through future stays small, and dropping
    /// it is one check.
    followed: Option<Box<Followed>>,
}

/// The state of a chain that followed at least one redirect.
#[derive(Default)]
struct Followed {
    /// Hops followed so far.
    hops: Vec<Hop>,
    /// The fragment the current target carries or inherited (RFC 9110 §10.2.2).
    fragment: Option<String>,
    /// The last discarded 3xx (bodiless), holding the history of every earlier hop.
    carried: Option<Response<()>>,
}

enum Next<R, B, E> {
    Return(Response<R>),
    Fail(RedirectError<E>),
    Follow {
        body: R,
        request: Request<RedirectBody<B>>,
    },
}

/// The hops of a chain's followed state (a function of the field alone, so that the
/// policy and the head can be borrowed mutably beside it).
fn hops(followed: &Option<Box<Followed>>) -> &[Hop] {
    followed.as_ref().map_or(&[], |followed| &followed.hops)
}

impl<S, B, P> Chain<S, B, P> {
    #[inline]
    pub(crate) fn new(svc: S, policy: P, head: Head, body: BodySource<B>, config: Config) -> Self {
        Self {
            svc,
            policy,
            head,
            body,
            config,
            followed: None,
        }
    }

    /// The hops followed so far, oldest first.
    fn hops(&self) -> &[Hop] {
        hops(&self.followed)
    }

    /// The hops followed so far, taken out for an error or the response's history.
    fn take_hops(&mut self) -> Vec<Hop> {
        self.followed
            .as_mut()
            .map(|followed| mem::take(&mut followed.hops))
            .unwrap_or_default()
    }

    /// The fragment the current target carries or inherited.
    fn fragment(&self) -> Option<&str> {
        self.followed.as_ref()?.fragment.as_deref()
    }

    /// The response that ends the chain, with the chain's extensions when any redirect
    /// was followed.
    fn finish<R>(&mut self, mut res: Response<R>) -> Response<R> {
        let Some(followed) = self.followed.as_deref_mut() else {
            return res;
        };
        if followed.hops.is_empty() {
            return res;
        }
        if let Some(mut earlier) = followed.carried.take() {
            History::carry(&mut earlier, &mut res);
        }
        res.extensions_mut().insert(RedirectHistory {
            hops: mem::take(&mut followed.hops),
        });
        FinalUri::new(self.head.uri.clone(), followed.fragment.take()).insert_into(&mut res);
        res
    }

    /// A 3xx returned as it is, saying why.
    fn unfollowed<R>(&mut self, mut res: Response<R>, reason: NotFollowed) -> Response<R> {
        tracing::debug!(
            status = res.status().as_u16(),
            uri = %self.head.uri,
            %reason,
            "redirect not followed"
        );
        recourse_core::metric_with!(
            counter,
            recourse_core::observe::metric::REDIRECTS_REFUSED,
            "reason" => not_followed_label(&reason); ["too_many", "downgrade", "policy", "loop", "missing_location", "conflicting_locations", "invalid_location", "credentials_in_location", "not_replayable", "cross_origin", "stopped"]
        )
        .increment(1);
        res.extensions_mut().insert(reason);
        self.finish(res)
    }

    /// The chain with the refused hop at its end, for the layer's errors.
    fn refused(&mut self, status: StatusCode, to: Uri, reason: &'static str) -> Vec<Hop> {
        recourse_core::metric_with!(counter, recourse_core::observe::metric::REDIRECTS_REFUSED, "reason" => reason; ["too_many", "downgrade", "policy", "loop", "missing_location", "conflicting_locations", "invalid_location", "credentials_in_location", "not_replayable", "cross_origin", "stopped"])
            .increment(1);
        let mut chain = self.take_hops();
        chain.push(Hop {
            status,
            method: self.head.method.clone(),
            from: self.head.uri.clone(),
            to,
        });
        chain
    }

    /// Whether `method uri` was already requested in this chain.
    fn visited(&self, method: &Method, uri: &Uri) -> bool {
        (self.head.method == *method && self.head.uri == *uri)
            || self
                .hops()
                .iter()
                .any(|hop| hop.method == *method && hop.from == *uri)
    }

    /// The request's deadline: read from the head's extensions only once a redirect
    /// needs it, not on the pass-through path.
    fn deadline(&self) -> Option<Deadline> {
        self.head.extensions.get::<Deadline>().copied()
    }

    fn inner_error<E>(&mut self, error: E) -> RedirectError<E> {
        RedirectError::from_inner(error, self.take_hops())
    }
}

impl<S, B, P: Policy> Chain<S, B, P> {
    /// Decides what to do with a redirect response.
    fn on_redirect<R, E>(&mut self, res: Response<R>) -> Next<R, B, E> {
        let status = res.status();
        let resolved = match location(res.headers())
            .map(|value| resolve_location_with_fragment(&self.head.uri, self.fragment(), value))
        {
            Ok(Ok(resolved)) => resolved,
            Ok(Err(e)) => return Next::Return(self.unfollowed(res, NotFollowed::Location(e))),
            Err(reason) => return Next::Return(self.unfollowed(res, reason)),
        };
        let fragment = resolved.fragment().map(str::to_owned);
        let target = resolved.into_uri();
        let cross_origin = !same_origin(&self.head.uri, &target);
        if cross_origin && has_userinfo(&target) {
            return Next::Return(self.unfollowed(res, NotFollowed::CredentialsInLocation));
        }
        let rewrite = rewrites_to_get(status, &self.head.method, self.config.keep_post);
        let method = if rewrite {
            Method::GET
        } else {
            self.head.method.clone()
        };

        let action = self.policy.redirect(&RedirectAttempt {
            status,
            previous_method: &self.head.method,
            method: &method,
            previous: &self.head.uri,
            location: &target,
            chain: hops(&self.followed),
            response_headers: res.headers(),
        });
        match action.kind {
            ActionKind::Follow => {}
            ActionKind::Stop(reason) => return Next::Return(self.unfollowed(res, reason)),
            ActionKind::TooMany { limit } => {
                let chain = self.refused(status, target, "too_many");
                return Next::Fail(TooManyRedirects { limit, chain }.into());
            }
            ActionKind::Downgrade => {
                // The one downgrade rule (RFC 9110 §4.2.2); a policy that refuses a hop
                // that is not a downgrade gets a policy error saying so.
                let error = match Downgrade::check(&self.head.uri, &target, &LOCATION) {
                    Err(downgrade) => Ok(downgrade),
                    Ok(()) => Err("the policy refused as a downgrade a redirect that is not \
                                   from https to http"),
                };
                let chain = self.refused(status, target, "downgrade");
                return Next::Fail(match error {
                    Ok(downgrade) => RedirectError::downgrade_refused(downgrade, chain),
                    Err(message) => RedirectError::policy(message.into(), chain),
                });
            }
            ActionKind::Error(e) => {
                let chain = self.refused(status, target, "policy");
                return Next::Fail(RedirectError::policy(e, chain));
            }
        }
        if self.config.detect_loops && self.visited(&method, &target) {
            let uri = target.clone();
            let chain = self.refused(status, target, "loop");
            return Next::Fail(RedirectLoop { method, uri, chain }.into());
        }
        let next_body = if rewrite {
            RedirectBody::empty()
        } else {
            match &self.body {
                BodySource::Replay(template) => match template.try_clone() {
                    Ok(body) => RedirectBody::new(body),
                    Err(why) => {
                        return Next::Return(
                            self.unfollowed(res, NotFollowed::BodyNotReplayable(why)),
                        );
                    }
                },
                BodySource::Dropped | BodySource::Empty => RedirectBody::empty(),
                BodySource::Unavailable(why) => {
                    let why = *why;
                    return Next::Return(self.unfollowed(res, NotFollowed::BodyNotReplayable(why)));
                }
            }
        };

        // From here on the redirect is followed.
        self.policy.on_follow(
            &RedirectAttempt {
                status,
                previous_method: &self.head.method,
                method: &method,
                previous: &self.head.uri,
                location: &target,
                chain: hops(&self.followed),
                response_headers: res.headers(),
            },
            self.head.headers.get_or_insert_with(HeaderMap::new),
        );
        let headers = self.head.headers.get_or_insert_with(HeaderMap::new);
        if rewrite {
            self.body = BodySource::Dropped;
            for name in &PAYLOAD_HEADERS {
                headers.remove(name);
            }
        }
        if cross_origin {
            update_host(headers, &target);
        }
        tracing::debug!(
            status = status.as_u16(),
            from = %self.head.uri,
            to = %target,
            %method,
            "following redirect"
        );
        let from = mem::replace(&mut self.head.uri, target.clone());
        let previous_method = mem::replace(&mut self.head.method, method);
        let followed = self.followed.get_or_insert_default();
        followed.fragment = fragment;
        followed.hops.push(Hop {
            status,
            method: previous_method,
            from: from.clone(),
            to: target.clone(),
        });

        // Carry the history of the discarded 3xx (and of the hops before it) forward.
        let (parts, body) = res.into_parts();
        let mut discarded = Response::from_parts(parts, ());
        if let Some(mut earlier) = followed.carried.take() {
            History::carry(&mut earlier, &mut discarded);
        }
        History::record(
            &mut discarded,
            Step::Redirected {
                status,
                from,
                to: target,
            },
        );
        followed.carried = Some(discarded);

        Next::Follow {
            body,
            request: self.head.request(next_body),
        }
    }
}

impl<S, B, P> Chain<S, B, P>
where
    S: Service<Request<RedirectBody<B>>> + Clone,
{
    /// Starts the next hop, unless the deadline has passed.
    fn start_hop(
        &mut self,
        request: Request<RedirectBody<B>>,
    ) -> Result<HopFuture<S, B>, RedirectError<S::Error>> {
        if self.deadline().is_some_and(|d| d.is_expired()) {
            tracing::debug!(next = %self.head.uri, "deadline expired between redirects");
            let chain = self.take_hops();
            return Err(DeadlineExpired { chain }.into());
        }
        Ok(Box::pin(Oneshot::new(self.svc.clone(), request)))
    }
}

// === ResponseFuture ===

pin_project_lite::pin_project! {
    /// The states after the first are boxed: they exist only once a redirect is followed,
    /// and keeping them out of line keeps the pass-through future small.
    #[project = StateProj]
    enum State<F, H, D> {
        // The first request, sent with the service that was polled ready.
        First { #[pin] future: F },
        // A redirected request, through a clone of the service.
        Hop { future: H },
        // Discarding the 3xx body before sending the next request.
        Draining { drain: Pin<Box<D>> },
    }
}

pin_project_lite::pin_project! {
    /// Discarding a 3xx body (bounded in bytes and time), then sending `next`.
    struct Draining<R, B> {
        #[pin]
        drain: Drain<R>,
        next: Request<RedirectBody<B>>,
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Redirect`](crate::Redirect).
    pub struct ResponseFuture<S, B, P, R>
    where
        S: Service<Request<RedirectBody<B>>>,
    {
        #[pin]
        state: State<S::Future, HopFuture<S, B>, Draining<R, B>>,
        chain: Chain<S, B, P>,
    }
}

impl<S, B, P, R> ResponseFuture<S, B, P, R>
where
    S: Service<Request<RedirectBody<B>>>,
{
    #[inline]
    pub(crate) fn new(future: S::Future, chain: Chain<S, B, P>) -> Self {
        Self {
            state: State::First { future },
            chain,
        }
    }
}

impl<S, B, P, R> Future for ResponseFuture<S, B, P, R>
where
    S: Service<Request<RedirectBody<B>>, Response = Response<R>> + Clone,
    S::Error: 'static,
    P: Policy,
    R: Body,
{
    type Output = Result<Response<R>, RedirectError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = self.poll_chain(cx);
        if let Poll::Ready(Err(_)) = &polled {
            // Before the error leaves the layer: the layers and the observer above can
            // look through it (`recourse_core::sent`).
            RedirectError::<S::Error>::register();
        }
        polled
    }
}

impl<S, B, P, R> ResponseFuture<S, B, P, R>
where
    S: Service<Request<RedirectBody<B>>, Response = Response<R>> + Clone,
    P: Policy,
    R: Body,
{
    fn poll_chain(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<R>, RedirectError<S::Error>>> {
        let mut this = self.project();
        loop {
            let res = match this.state.as_mut().project() {
                StateProj::First { future } => match ready!(future.poll(cx)) {
                    // The pass-through path: nothing to record, nothing inserted.
                    Ok(res) if !is_redirect(res.status()) => return Poll::Ready(Ok(res)),
                    Ok(res) => res,
                    Err(e) => return Poll::Ready(Err(this.chain.inner_error(e))),
                },
                StateProj::Hop { future } => match ready!(future.as_mut().poll(cx)) {
                    Ok(res) if !is_redirect(res.status()) => {
                        return Poll::Ready(Ok(this.chain.finish(res)));
                    }
                    Ok(res) => res,
                    Err(e) => return Poll::Ready(Err(this.chain.inner_error(e))),
                },
                StateProj::Draining { drain } => {
                    let draining = drain.as_mut().project();
                    let outcome = ready!(draining.drain.poll(cx));
                    tracing::trace!(?outcome, "drained redirect body");
                    // The state is left right away: the placeholder is never sent.
                    let request = mem::replace(draining.next, Request::new(RedirectBody::empty()));
                    match this.chain.start_hop(request) {
                        Ok(future) => this.state.set(State::Hop { future }),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                    continue;
                }
            };
            match this.chain.on_redirect(res) {
                Next::Return(res) => return Poll::Ready(Ok(res)),
                Next::Fail(e) => return Poll::Ready(Err(e)),
                Next::Follow { body, request } => {
                    let config = this.chain.config;
                    if config.drain_limit == 0 || body.is_end_stream() {
                        drop(body);
                        match this.chain.start_hop(request) {
                            Ok(future) => this.state.set(State::Hop { future }),
                            Err(e) => return Poll::Ready(Err(e)),
                        }
                    } else {
                        // Bounded in bytes, in time and by the request's deadline.
                        let drain = Drain::new(
                            body,
                            config.drain_limit,
                            config.drain_timeout,
                            this.chain.deadline(),
                        );
                        this.state.set(State::Draining {
                            drain: Box::pin(Draining {
                                drain,
                                next: request,
                            }),
                        });
                    }
                }
            }
        }
    }
}

impl<S, B, P, R> fmt::Debug for ResponseFuture<S, B, P, R>
where
    S: Service<Request<RedirectBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::First { .. } => "First",
            State::Hop { .. } => "Hop",
            State::Draining { .. } => "Draining",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("uri", &self.chain.head.uri)
            .field("hops", &self.chain.hops())
            .finish_non_exhaustive()
    }
}

/// The bounded `reason` label of a redirect returned unfollowed.
fn not_followed_label(reason: &NotFollowed) -> &'static str {
    match reason {
        NotFollowed::MissingLocation => "missing_location",
        NotFollowed::ConflictingLocations => "conflicting_locations",
        NotFollowed::Location(_) => "invalid_location",
        NotFollowed::CredentialsInLocation => "credentials_in_location",
        NotFollowed::BodyNotReplayable(_) => "not_replayable",
        NotFollowed::LimitReached { .. } => "too_many",
        NotFollowed::CrossOrigin => "cross_origin",
        NotFollowed::Stopped => "stopped",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}
