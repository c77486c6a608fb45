//! Extensions: [`PollInfo`] on the final response, [`Resume`] on a request that resumes
//! polling.

use std::time::Duration;

use http::{Request, Uri};

/// How the job ended, as far as the layer could tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PollOutcome {
    /// The job succeeded; the response is its result.
    Succeeded,
    /// The job failed (or was canceled); the response is the failed status response.
    Failed,
}

/// What the poll layer did for a response, as a response extension.
///
/// Present on every response that went through polling (and on a fetched 201 resource),
/// next to the [`History`](recourse_core::History) whose
/// [`Step::Polled`](recourse_core::Step::Polled) entries list each poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollInfo {
    pub(crate) status_url: Uri,
    pub(crate) polls: u32,
    pub(crate) waited: Duration,
    pub(crate) elapsed: Duration,
    pub(crate) outcome: PollOutcome,
    pub(crate) result_uri: Option<Uri>,
    pub(crate) field: Option<String>,
}

impl PollInfo {
    /// The poll information of a response, if it went through polling.
    pub fn of<B>(res: &http::Response<B>) -> Option<&PollInfo> {
        res.extensions().get::<PollInfo>()
    }

    /// The status URL that was polled (for a fetched 201, the created resource's URL).
    pub fn status_url(&self) -> &Uri {
        &self.status_url
    }

    /// How many polls were made.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// The total time spent waiting between polls.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The total time from the first 202 to the final response.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How the job ended.
    pub fn outcome(&self) -> PollOutcome {
        self.outcome
    }

    /// The URL of the result that was fetched after the job finished (a 303's
    /// `Location`, the [`FinalState`](crate::FinalState) resource, a 201's `Location`),
    /// if the response is that fetch's.
    pub fn result_uri(&self) -> Option<&Uri> {
        self.result_uri.as_ref()
    }

    /// The value of the [`StatusField`](crate::StatusField) in the last status response,
    /// if one was configured and found.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

/// A request extension that makes the poll layer resume polling a known status URL.
///
/// A request carrying it is not sent as is: its URI is taken as the status URL and polled
/// with `GET` (its headers are used as the original request's: credentials and forwarded
/// headers), with fresh limits, and the final result is returned as for the original
/// request. [`PollTimeout::resume_request`](crate::PollTimeout::resume_request) builds
/// one that also remembers the original request's URI and the initial `Location` (for
/// [`FinalState`](crate::FinalState)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use recourse_poll::{AsyncPollLayer, PollRequestBody, Resume};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// let backend = service_fn(|req: Request<PollRequestBody<Full<Bytes>>>| async move {
///     assert_eq!(req.uri().path(), "/jobs/7");
///     Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from("done")))
/// });
/// let client = ServiceBuilder::new().layer(AsyncPollLayer::new()).service(backend);
///
/// let resume = Resume::request("http://api.test/jobs/7".parse().unwrap(), Full::default());
/// let res = client.oneshot(resume).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    pub(crate) original_uri: Option<Uri>,
    pub(crate) initial_location: Option<Uri>,
}

impl Resume {
    /// A `GET` of `status_url` that resumes polling it. `body` is never sent (the polls
    /// are `GET`s without a body): any value of the stack's request body type.
    pub fn request<B>(status_url: Uri, body: B) -> Request<B> {
        let mut req = Request::new(body);
        *req.uri_mut() = status_url;
        Resume::default().insert_into(&mut req);
        req
    }

    /// Makes `req` a resume request: its URI is the status URL to poll.
    pub fn insert_into<B>(self, req: &mut Request<B>) {
        req.extensions_mut().insert(self);
    }

    /// The original request's URI, if known (for [`FinalState::OriginalUri`](crate::FinalState::OriginalUri)).
    pub fn original_uri(&self) -> Option<&Uri> {
        self.original_uri.as_ref()
    }

    /// The initial 202's `Location`, if known (for [`FinalState::InitialLocation`](crate::FinalState::InitialLocation)).
    pub fn initial_location(&self) -> Option<&Uri> {
        self.initial_location.as_ref()
    }
}
