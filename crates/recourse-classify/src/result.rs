//! [`IntoResult`]: failure verdicts as errors, for callers who want `Result` semantics.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use recourse_core::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use crate::kind::Kind;
use crate::outcome::Outcome;

/// The default failure test of [`IntoResult`]: [`Class::is_failure`](recourse_core::Class::is_failure)
/// (application failures, client errors, server errors; not redirects, 304 or 202).
pub type IsFailure = fn(Kind) -> bool;

fn is_failure(kind: Kind) -> bool {
    kind.class().is_failure()
}

/// A [`Layer`] that wraps services in [`IntoResult`].
///
/// Usually stacked right outside the classify layer, with
/// [`ClassifyLayer::into_result`](crate::ClassifyLayer::into_result).
#[derive(Clone, Debug)]
pub struct IntoResultLayer<F = IsFailure> {
    when: F,
}

impl IntoResultLayer {
    /// Turns every failure verdict into an error.
    pub fn new() -> Self {
        IntoResultLayer { when: is_failure }
    }
}

impl Default for IntoResultLayer {
    fn default() -> Self {
        IntoResultLayer::new()
    }
}

impl<F> IntoResultLayer<F> {
    /// Turns the responses whose kind satisfies `when` into errors, instead of every
    /// failure.
    ///
    /// ```
    /// use recourse_classify::{IntoResultLayer, Kind};
    ///
    /// // Only server failures are errors; the caller handles 4xx and application codes.
    /// let layer = IntoResultLayer::new().when(|kind: Kind| {
    ///     matches!(kind, Kind::Retryable | Kind::ServerError)
    /// });
    /// # let _ = layer;
    /// ```
    pub fn when<G>(self, when: G) -> IntoResultLayer<G>
    where
        G: Fn(Kind) -> bool,
    {
        IntoResultLayer { when }
    }
}

impl<S, F: Clone> Layer<S> for IntoResultLayer<F> {
    type Service = IntoResult<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        IntoResult {
            inner,
            when: self.when.clone(),
        }
    }
}

/// Turns responses with a failure verdict into a [`ClassifiedError`] that holds a
/// [`Failure`] (the response, body included); the inner service's own errors become a
/// [`ClassifiedError`] that gives them back with [`ClassifiedError::into_inner`].
///
/// It reads the verdict with [`Outcome::kind_of`], so it belongs outside a
/// [`Classify`](crate::Classify) layer; without one, the standard meaning of the status
/// code decides. The [`Outcome`] is built only for failures.
///
/// # Clone
///
/// Cloning clones the inner service and the failure test.
#[derive(Clone, Debug)]
pub struct IntoResult<S, F = IsFailure> {
    inner: S,
    when: F,
}

impl<S> IntoResult<S> {
    /// Turns every failure verdict of `inner` into an error.
    pub fn new(inner: S) -> Self {
        IntoResult {
            inner,
            when: is_failure,
        }
    }

    /// An [`IntoResultLayer`] with the default failure test.
    pub fn layer() -> IntoResultLayer {
        IntoResultLayer::new()
    }
}

impl<S, F> IntoResult<S, F> {
    recourse_core::inner_service_accessors!();
}

impl<S, F, Req, B> Service<Req> for IntoResult<S, F>
where
    S: Service<Req, Response = Response<B>>,
    F: Fn(Kind) -> bool + Clone,
{
    type Response = Response<B>;
    type Error = ClassifiedError<S::Error, B>;
    type Future = IntoResultFuture<S::Future, F>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(ClassifiedError::from_inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        IntoResultFuture {
            future: self.inner.call(req),
            when: self.when.clone(),
        }
    }
}

pin_project! {
    /// The future of [`IntoResult`].
    pub struct IntoResultFuture<Fut, F> {
        #[pin]
        future: Fut,
        when: F,
    }
}

impl<Fut, F> fmt::Debug for IntoResultFuture<Fut, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoResultFuture").finish_non_exhaustive()
    }
}

impl<Fut, F, B, E> Future for IntoResultFuture<Fut, F>
where
    Fut: Future<Output = Result<Response<B>, E>>,
    F: Fn(Kind) -> bool,
{
    type Output = Result<Response<B>, ClassifiedError<E, B>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx)).map_err(ClassifiedError::from_inner)?;
        if (this.when)(Outcome::kind_of(&response)) {
            let outcome = Outcome::of(&response);
            return Poll::Ready(Err(ClassifiedError {
                kind: ErrorKind::Failure(Failure {
                    inner: Box::new((outcome, response)),
                }),
            }));
        }
        Poll::Ready(Ok(response))
    }
}

// === errors ===

/// The error of [`IntoResult`]: a response whose verdict is a failure, or the inner
/// service's own error.
///
/// It has the shape of every Recourse layer error: `is_*()` for each kind, an accessor for
/// the kind that carries data ([`failure`](Self::failure)), the inner service's error back
/// by value with [`into_inner`](Self::into_inner), and [`into_box_error`](Self::into_box_error)
/// for stacks whose errors are boxed.
pub struct ClassifiedError<E, B> {
    kind: ErrorKind<E, B>,
}

enum ErrorKind<E, B> {
    /// The service answered, and the answer is a failure.
    Failure(Failure<B>),
    /// The inner service failed (connection refused, timeout, ...).
    Inner(E),
}

impl<E, B> ClassifiedError<E, B> {
    fn from_inner(error: E) -> Self {
        ClassifiedError {
            kind: ErrorKind::Inner(error),
        }
    }

    /// Whether the service answered with a failure.
    pub fn is_failure(&self) -> bool {
        matches!(self.kind, ErrorKind::Failure(_))
    }

    /// Whether the inner service failed (connection refused, timeout, ...).
    pub fn is_inner(&self) -> bool {
        matches!(self.kind, ErrorKind::Inner(_))
    }

    /// The failed response, if the service answered.
    pub fn failure(&self) -> Option<&Failure<B>> {
        match &self.kind {
            ErrorKind::Failure(failure) => Some(failure),
            ErrorKind::Inner(_) => None,
        }
    }

    /// The verdict, if the service answered.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.failure().map(Failure::outcome)
    }

    /// Takes the failed response out, or gives `self` back if the inner service failed.
    ///
    /// # Errors
    ///
    /// `Err(self)` when this is the inner service's error.
    pub fn into_failure(self) -> Result<Failure<B>, Self> {
        match self.kind {
            ErrorKind::Failure(failure) => Ok(failure),
            kind => Err(ClassifiedError { kind }),
        }
    }

    /// Takes the inner service's error out, or gives `self` back if the service answered
    /// with a failure.
    ///
    /// # Errors
    ///
    /// `Err(self)` when this is a failed response.
    pub fn into_inner(self) -> Result<E, Self> {
        match self.kind {
            ErrorKind::Inner(error) => Ok(error),
            kind => Err(ClassifiedError { kind }),
        }
    }
}

impl<E, B> ClassifiedError<E, B>
where
    E: Into<BoxError>,
    B: Send + Sync + 'static,
{
    /// Converts into a boxed error, for stacks whose errors are boxed (a `Box<dyn Error>`
    /// is not itself an `Error`, so `?` cannot do this): the inner error comes out as it
    /// is, not wrapped twice; a failed response is boxed as its [`Failure`].
    pub fn into_box_error(self) -> BoxError {
        match self.kind {
            ErrorKind::Inner(error) => error.into(),
            ErrorKind::Failure(failure) => Box::new(failure),
        }
    }
}

impl<E: fmt::Debug, B> fmt::Debug for ClassifiedError<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Failure(failure) => f.debug_tuple("Failure").field(failure).finish(),
            ErrorKind::Inner(e) => f.debug_tuple("Inner").field(e).finish(),
        }
    }
}

impl<E: fmt::Display, B> fmt::Display for ClassifiedError<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Failure(failure) => fmt::Display::fmt(failure, f),
            ErrorKind::Inner(e) => write!(f, "the service failed: {e}"),
        }
    }
}

impl<E, B> std::error::Error for ClassifiedError<E, B>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Failure(_) => None,
            ErrorKind::Inner(e) => Some(e),
        }
    }
}

/// A response whose verdict is a failure, kept whole (head, extensions and unread body).
pub struct Failure<B> {
    // Boxed: a response is a few hundred bytes, and errors travel by value.
    inner: Box<(Outcome, Response<B>)>,
}

impl<B> Failure<B> {
    /// The verdict.
    pub fn outcome(&self) -> &Outcome {
        &self.inner.0
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.1.status()
    }

    /// The response.
    pub fn response(&self) -> &Response<B> {
        &self.inner.1
    }

    /// The response, mutably.
    pub fn response_mut(&mut self) -> &mut Response<B> {
        &mut self.inner.1
    }

    /// Takes the response out.
    pub fn into_response(self) -> Response<B> {
        self.inner.1
    }

    /// Takes the verdict and the response out.
    pub fn into_parts(self) -> (Outcome, Response<B>) {
        let (outcome, response) = *self.inner;
        (outcome, response)
    }
}

impl<B> fmt::Debug for Failure<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("status", &self.inner.1.status())
            .field("outcome", &self.inner.0)
            .finish_non_exhaustive()
    }
}

impl<B> fmt::Display for Failure<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request failed with status {}: {}",
            self.inner.1.status(),
            self.inner.0
        )
    }
}

impl<B> std::error::Error for Failure<B> {}
