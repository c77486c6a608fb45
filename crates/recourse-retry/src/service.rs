//! [`Retry`]: the service.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use recourse_core::BoxError;
use recourse_core::body::ReplayBody;
use recourse_core::{Attempt, History};
use tokio::time::Instant;
use tower_service::Service;

use crate::config::Config;
use crate::future::{Ctx, ResponseFuture, State, TryTimer};
use crate::layer::RetryLayer;
use crate::policy::{Policy, Standard};
use crate::timeout::{NoTryTimeout, TryTimeoutMode};

/// Resends requests whose attempt failed in a way worth retrying; see the
/// [crate docs](crate).
///
/// The inner service receives `Request<ReplayBody<B>>`: the caller's body wrapped so it
/// can be sent again. Configure it through [`RetryLayer`].
///
/// # Clone
///
/// Cloning is cheap: the inner service and the policy are cloned, the configuration and
/// the retry budget are shared through an `Arc`, so every clone draws on the same budget.
///
/// With [`RetryLayer::per_try_timeout`], `T` is [`TryTimeout`](crate::TryTimeout) and the
/// error is [`RetryError`](crate::RetryError); otherwise it is the inner service's error.
pub struct Retry<S, P = Standard, T = NoTryTimeout> {
    pub(crate) inner: S,
    pub(crate) policy: P,
    pub(crate) config: Arc<Config>,
    pub(crate) mode: PhantomData<fn() -> T>,
}

// === impl Retry ===

impl<S> Retry<S> {
    /// Wraps `inner` with the [`Standard`] policy and the default configuration.
    pub fn new(inner: S) -> Self {
        Self::with_policy(inner, Standard::new())
    }

    /// A [`RetryLayer`] with the [`Standard`] policy, to configure.
    pub fn layer() -> RetryLayer {
        RetryLayer::new()
    }
}

impl<S, P> Retry<S, P> {
    /// Wraps `inner` with `policy` and the default configuration.
    pub fn with_policy(inner: S, policy: P) -> Self {
        Self {
            inner,
            policy,
            config: Arc::new(Config::default()),
            mode: PhantomData,
        }
    }
}

impl<S, P, T> Retry<S, P, T> {
    /// The policy.
    pub fn get_policy(&self) -> &P {
        &self.policy
    }

    recourse_core::inner_service_accessors!();
}

impl<S: Clone, P: Clone, T> Clone for Retry<S, P, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            config: Arc::clone(&self.config),
            mode: PhantomData,
        }
    }
}

impl<S: fmt::Debug, P: fmt::Debug, T> fmt::Debug for Retry<S, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, P, T, ReqB, ResB> Service<Request<ReqB>> for Retry<S, P, T>
where
    S: Service<Request<ReplayBody<ReqB>>, Response = Response<ResB>> + Clone,
    S::Error: 'static,
    P: Policy<ResB, S::Error> + Clone,
    T: TryTimeoutMode<S::Error>,
    ReqB: Body,
    ReqB::Error: Into<BoxError>,
    ResB: Body,
{
    type Response = Response<ResB>;
    type Error = T::Error;
    type Future = ResponseFuture<S, P, ReqB, ResB, T>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(T::inner)
    }

    // Inlined so that the caller can build the future where it keeps it, instead of
    // copying it there (the future is the largest value of the pass-through path).
    #[inline(always)]
    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let config = &*self.config;
        let (mut parts, body) = req.into_parts();
        let partition = config.deposit(&parts.uri);
        config.inject_key(&mut parts);
        let idempotent = config.is_idempotent(&parts);
        let limit_at = match config.time_limit {
            Some(limit) => Instant::now().checked_add(limit),
            None => None,
        };
        let template = ReplayBody::new(body, config.replay_limit);
        // The template is never polled: each attempt sends a clone (O(1), no copy).
        let (first, template) = if template.is_empty_body() {
            (ReplayBody::empty(), Ok(template))
        } else {
            match template.try_clone() {
                Ok(first) => (first, Ok(template)),
                // A fresh body always clones; should it not, send it once and say why.
                Err(why) => (template, Err(why)),
            }
        };
        let timer = config
            .per_try_timeout
            .map(|timeout| TryTimer::new(timeout, &parts));
        // Call the service that was polled ready; keep a clone for the next caller.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let policy = self.policy.clone();
        let config = Arc::clone(&self.config);
        // The first attempt is a copy; the parts are kept for a resend. (The copy is
        // made right into the request sent, one move fewer than the other way round.)
        let mut req = Request::from_parts(parts.clone(), first);
        if config.tag_first_attempt {
            req.extensions_mut().insert(Attempt(1));
        }
        // Built in place: the future is the largest value of the pass-through path, and
        // each move of it is a copy.
        ResponseFuture {
            state: State::Called {
                fut: service.call(req),
            },
            ctx: Ctx {
                service,
                policy,
                config,
                parts,
                body: template,
                attempts: 1,
                idempotent,
                limit_at,
                history: History::default(),
                timeouts: 0,
                partition,
            },
            timer,
            mode: PhantomData,
        }
    }
}
