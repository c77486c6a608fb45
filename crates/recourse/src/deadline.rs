//! [`SetDeadlineLayer`]: one deadline for the whole request, set and enforced.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use pin_project_lite::pin_project;
use recourse_core::Deadline;
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use crate::observe::Logical;
use crate::report::{Pending, Reporting};

/// Puts one [`Deadline`] on every request and fails the request with
/// [`DeadlineError::Elapsed`] when it passes.
///
/// Put it outermost: the layers below read the deadline from the request's extensions
/// and never start a wait (a retry's backoff, a poll interval, a redirect hop) that would
/// end past it, so that what comes back at the deadline is a typed outcome rather than a
/// cancelled wait. A request that already carries an earlier deadline keeps it.
#[derive(Clone, Debug)]
pub struct SetDeadlineLayer {
    timeout: Duration,
    reporting: Option<Reporting>,
}

impl SetDeadlineLayer {
    /// A deadline `timeout` after each request starts.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            reporting: None,
        }
    }

    /// Reports the requests whose final answer is a failure `reporting` asks for (see
    /// [`report`](crate::report)): outermost, this layer sees the answer after every
    /// retry, hop and poll.
    pub fn report(mut self, reporting: Reporting) -> Self {
        self.reporting = Some(reporting);
        self
    }
}

impl<S> Layer<S> for SetDeadlineLayer {
    type Service = SetDeadline<S>;

    fn layer(&self, inner: S) -> SetDeadline<S> {
        SetDeadline {
            inner,
            timeout: self.timeout,
            reporting: self.reporting.clone(),
        }
    }
}

/// The service of [`SetDeadlineLayer`].
#[derive(Clone, Debug)]
pub struct SetDeadline<S> {
    inner: S,
    timeout: Duration,
    reporting: Option<Reporting>,
}

impl<S> SetDeadline<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            reporting: None,
        }
    }

    /// A [`SetDeadlineLayer`] that gives every request `timeout`.
    pub fn layer(timeout: Duration) -> SetDeadlineLayer {
        SetDeadlineLayer::new(timeout)
    }

    recourse_core::inner_service_accessors!();
}

impl<S, B, RB> Service<Request<B>> for SetDeadline<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = DeadlineError<S::Error>;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(DeadlineError::Inner)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        Deadline::after(self.timeout).insert_into(&mut req);
        let deadline = Deadline::of(&req).map_or_else(
            || tokio::time::Instant::now() + self.timeout,
            |d| d.instant(),
        );
        // Outermost: the logical request's span, which every attempt's span nests in.
        let logical = Logical::start(&req);
        let pending = self.reporting.as_ref().map(|r| Pending::new(r, &req));
        let inner = {
            let _entered = logical.span.enter();
            self.inner.call(req)
        };
        DeadlineFuture {
            inner,
            sleep: tokio::time::sleep_until(deadline),
            logical,
            pending,
        }
    }
}

pin_project! {
    /// The response future of [`SetDeadline`].
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        logical: Logical,
        pending: Option<Pending>,
    }
}

impl<F> fmt::Debug for DeadlineFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, DeadlineError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let entered = this.logical.span.enter();
        let polled = this.inner.poll(cx);
        drop(entered);
        if let Poll::Ready(out) = polled {
            match &out {
                Ok(res) => {
                    this.logical.response(res);
                    if let Some(pending) = this.pending.take() {
                        pending.response(res);
                    }
                }
                Err(_) => {
                    this.logical.error(false);
                    if let Some(pending) = this.pending.take() {
                        pending.error(std::any::type_name::<E>().to_owned());
                    }
                }
            }
            return Poll::Ready(out.map_err(DeadlineError::Inner));
        }
        ready!(this.sleep.poll(cx));
        this.logical.error(true);
        if let Some(pending) = this.pending.take() {
            pending.error(DeadlineError::<std::convert::Infallible>::Elapsed.to_string());
        }
        Poll::Ready(Err(DeadlineError::Elapsed))
    }
}

/// The error of [`SetDeadline`]: the inner service's, or the deadline passing.
#[derive(Debug)]
pub enum DeadlineError<E> {
    /// The inner service failed.
    Inner(E),
    /// The deadline passed before a response arrived.
    Elapsed,
}

impl<E> DeadlineError<E> {
    /// Whether the deadline passed.
    pub fn is_elapsed(&self) -> bool {
        matches!(self, DeadlineError::Elapsed)
    }

    /// Whether the inner service failed.
    pub fn is_inner(&self) -> bool {
        matches!(self, DeadlineError::Inner(_))
    }

    /// The inner service's error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match self {
            DeadlineError::Inner(e) => Some(e),
            DeadlineError::Elapsed => None,
        }
    }

    /// The inner service's error, or this error back when it is not one.
    pub fn into_inner(self) -> Result<E, Self> {
        match self {
            DeadlineError::Inner(e) => Ok(e),
            elapsed @ DeadlineError::Elapsed => Err(elapsed),
        }
    }

    /// A boxed error: the inner service's own error (not wrapped again), or this one.
    pub fn into_box_error(self) -> recourse_core::BoxError
    where
        E: Into<recourse_core::BoxError>,
    {
        match self {
            DeadlineError::Inner(e) => e.into(),
            DeadlineError::Elapsed => Box::new(DeadlineError::<std::convert::Infallible>::Elapsed),
        }
    }
}

impl<E: fmt::Display> fmt::Display for DeadlineError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadlineError::Inner(e) => fmt::Display::fmt(e, f),
            DeadlineError::Elapsed => {
                f.write_str("the request's deadline passed before a response arrived")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for DeadlineError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeadlineError::Inner(e) => Some(e),
            DeadlineError::Elapsed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    #[tokio::test(start_paused = true)]
    async fn sets_and_enforces_the_deadline() {
        let svc = tower::service_fn(|req: Request<()>| async move {
            let remaining = Deadline::of(&req).unwrap().remaining();
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, Infallible>(Response::new(remaining))
        });
        let quick = SetDeadline::new(svc, Duration::from_secs(5));
        assert_eq!(
            quick
                .clone()
                .oneshot(Request::new(()))
                .await
                .unwrap()
                .into_body(),
            Duration::from_secs(5)
        );
        let slow = SetDeadline::new(quick.into_inner(), Duration::from_secs(2));
        let err = slow.oneshot(Request::new(())).await.unwrap_err();
        assert!(err.is_elapsed());
        assert!(err.to_string().contains("deadline"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_wins() {
        let svc = tower::service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(Response::new(Deadline::of(&req).unwrap().remaining()))
        });
        let mut req = Request::new(());
        Deadline::after(Duration::from_secs(1)).insert_into(&mut req);
        let got = SetDeadline::new(svc, Duration::from_secs(60))
            .oneshot(req)
            .await
            .unwrap()
            .into_body();
        assert_eq!(got, Duration::from_secs(1));
    }
}
