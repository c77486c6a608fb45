//! [`ServiceBuilderExt`]: one method per Recourse layer on tower's `ServiceBuilder`.

use std::time::Duration;

use tower::ServiceBuilder;
use tower::layer::util::Stack;

use crate::deadline::SetDeadlineLayer;

/// Adds one method per Recourse layer to [`ServiceBuilder`], each with the layer's
/// defaults (use `.layer(XxxLayer::new()...)` to configure one).
///
/// The method names avoid tower's own (`ServiceBuilder::retry` and `timeout` exist with
/// tower's features on).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use recourse::ServiceBuilderExt;
/// use tower::ServiceBuilder;
/// # let backend = tower::service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::<bytes::Bytes>::default()))
/// # });
///
/// let client = ServiceBuilder::new()
///     .deadline(Duration::from_secs(30))
///     .follow_redirects()
///     .retry_failures()
///     .classify()
///     .service(backend);
/// # let _ = client;
/// # }
/// ```
pub trait ServiceBuilderExt<L>: Sized {
    /// One [`Deadline`](crate::Deadline) for the whole request ([`SetDeadlineLayer`]).
    fn deadline(self, timeout: Duration) -> ServiceBuilder<Stack<SetDeadlineLayer, L>>;

    /// Classify every response ([`ClassifyLayer`](crate::classify::ClassifyLayer)).
    #[cfg(feature = "classify")]
    fn classify(self) -> ServiceBuilder<Stack<crate::classify::ClassifyLayer, L>>;

    /// Resubmit 500/503 later ([`RetryLayer`](crate::retry::RetryLayer)).
    #[cfg(feature = "retry")]
    fn retry_failures(self) -> ServiceBuilder<Stack<crate::retry::RetryLayer, L>>;

    /// Follow redirects ([`RedirectLayer`](crate::redirect::RedirectLayer)).
    #[cfg(feature = "redirect")]
    fn follow_redirects(self) -> ServiceBuilder<Stack<crate::redirect::RedirectLayer, L>>;

    /// A private in-memory HTTP cache ([`CacheLayer`](crate::cache::CacheLayer)).
    #[cfg(feature = "cache")]
    fn cache(self) -> ServiceBuilder<Stack<crate::cache::CacheLayer, L>>;

    /// Poll 202 Accepted to the finished result ([`AsyncPollLayer`](crate::poll::AsyncPollLayer)).
    #[cfg(feature = "poll")]
    fn poll_accepted(self) -> ServiceBuilder<Stack<crate::poll::AsyncPollLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn deadline(self, timeout: Duration) -> ServiceBuilder<Stack<SetDeadlineLayer, L>> {
        self.layer(SetDeadlineLayer::new(timeout))
    }

    #[cfg(feature = "classify")]
    fn classify(self) -> ServiceBuilder<Stack<crate::classify::ClassifyLayer, L>> {
        self.layer(crate::classify::ClassifyLayer::new())
    }

    #[cfg(feature = "retry")]
    fn retry_failures(self) -> ServiceBuilder<Stack<crate::retry::RetryLayer, L>> {
        self.layer(crate::retry::RetryLayer::new())
    }

    #[cfg(feature = "redirect")]
    fn follow_redirects(self) -> ServiceBuilder<Stack<crate::redirect::RedirectLayer, L>> {
        self.layer(crate::redirect::RedirectLayer::new())
    }

    #[cfg(feature = "cache")]
    fn cache(self) -> ServiceBuilder<Stack<crate::cache::CacheLayer, L>> {
        self.layer(crate::cache::CacheLayer::new())
    }

    #[cfg(feature = "poll")]
    fn poll_accepted(self) -> ServiceBuilder<Stack<crate::poll::AsyncPollLayer, L>> {
        self.layer(crate::poll::AsyncPollLayer::new())
    }
}
