//! The terminal-state decision: [`Policy`], [`Decision`], [`JobStatus`] and [`Standard`].
//!
//! After every poll the layer computes the *standard* decision from the status code (and
//! from the body field, when one is configured, see [`StatusField`](crate::StatusField)),
//! then asks the policy. [`Standard`] returns the standard decision; a closure can refine
//! it:
//!
//! ```
//! use recourse_poll::{Decision, JobStatus, AsyncPollLayer};
//!
//! // This service reports completion in a header instead of the status code.
//! let layer = AsyncPollLayer::new().policy(|job: &JobStatus<'_>| {
//!     match job.headers().get("x-job-state").map(|v| v.as_bytes()) {
//!         Some(b"done") => Decision::Succeeded,
//!         Some(b"error") => Decision::Failed,
//!         Some(_) => Decision::Running,
//!         None => job.standard(),
//!     }
//! });
//! # let _ = layer;
//! ```

use std::time::Duration;

use http::{HeaderMap, StatusCode, Uri};

/// What a poll's response says about the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decision {
    /// The job is still running: wait, then poll again.
    Running,
    /// The job finished successfully: the result is this response, or the resource the
    /// [`FinalState`](crate::FinalState) setting names.
    Succeeded,
    /// The job failed (or was canceled): this response is returned as the final one.
    Failed,
    /// The result is at this response's `Location`: fetch it with GET and return that
    /// (RFC 9110 §15.4.4, 303 See Other).
    SeeOther,
}

impl Decision {
    /// Whether polling stops here.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, Decision::Running)
    }
}

/// What the policy sees of one poll's response.
#[derive(Debug)]
pub struct JobStatus<'a> {
    pub(crate) poll: u32,
    pub(crate) status: StatusCode,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) status_url: &'a Uri,
    pub(crate) field: Option<&'a str>,
    pub(crate) body: &'a [u8],
    pub(crate) body_complete: bool,
    pub(crate) elapsed: Duration,
    pub(crate) standard: Decision,
}

impl<'a> JobStatus<'a> {
    /// The poll number (1 for the first poll of the status resource).
    pub fn poll(&self) -> u32 {
        self.poll
    }

    /// The status code of the poll's response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers of the poll's response.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The status URL that was polled.
    pub fn status_url(&self) -> &'a Uri {
        self.status_url
    }

    /// The value of the configured [`StatusField`](crate::StatusField) in the JSON body:
    /// a string as is, `true`/`false`, or a number's text. `None` when no field is
    /// configured, the response is not 2xx, the body is larger than the field's limit, is
    /// not JSON, or has no such field (or `null`).
    pub fn field(&self) -> Option<&'a str> {
        self.field
    }

    /// The prefix of the body that was read to find the field (at most the field's
    /// [peek limit](crate::StatusField::peek_limit) and a frame; empty when no field is
    /// configured or the response is not 2xx). See [`body_complete`](Self::body_complete).
    pub fn body_prefix(&self) -> &'a [u8] {
        self.body
    }

    /// Whether [`body_prefix`](Self::body_prefix) is the whole body.
    pub fn body_complete(&self) -> bool {
        self.body_complete
    }

    /// Time since polling started (the first 202 arrived).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The layer's own decision: by the body field when it is configured and decisive on a
    /// 2xx response, else by the status code (see [`Standard`]).
    pub fn standard(&self) -> Decision {
        self.standard
    }
}

/// Decides, after each poll, whether the job is still running, finished or failed; and
/// whether a response starts polling at all.
///
/// Closures `FnMut(&JobStatus<'_>) -> Decision + Clone` are policies (with the default
/// [`start`](Policy::start) and [`on_request`](Policy::on_request)).
///
/// # Clone
///
/// The policy is cloned for each request, so a policy with `&mut self` state sees only
/// one request's polls; share state across requests through an `Arc`.
pub trait Policy: Clone {
    /// Decides what a poll's response means.
    fn decide(&mut self, job: &JobStatus<'_>) -> Decision;

    /// Whether the response to the original request starts polling. The default: a
    /// `202 Accepted` (RFC 9110 §15.3.3). Polling starts only if the response also names a
    /// status URL in one of the configured headers.
    fn start(&mut self, status: StatusCode, headers: &HeaderMap) -> bool {
        let _ = headers;
        status == StatusCode::ACCEPTED
    }

    /// Adjusts the headers of each poll (and result fetch) request before it is sent,
    /// for example to add a request id or a freshly signed token. The default does
    /// nothing.
    fn on_request(&mut self, uri: &Uri, headers: &mut HeaderMap) {
        let _ = (uri, headers);
    }
}

impl<F> Policy for F
where
    F: FnMut(&JobStatus<'_>) -> Decision + Clone,
{
    fn decide(&mut self, job: &JobStatus<'_>) -> Decision {
        self(job)
    }
}

/// The default policy: the layer's standard decision.
///
/// By status code (RFC 9110 §15):
///
/// | Status | Decision |
/// |---|---|
/// | 202 | [`Running`](Decision::Running) |
/// | 303 | [`SeeOther`](Decision::SeeOther): fetch its `Location` as the result |
/// | other 2xx, 304 | [`Succeeded`](Decision::Succeeded) |
/// | 4xx, 5xx, other 1xx/3xx | [`Failed`](Decision::Failed): that response is returned |
///
/// The status code's meaning is read through [`recourse_core::Class::of`], so a verdict of
/// the classify layer below (for example an application failure in a 200's body) counts.
/// On 2xx responses a configured [`StatusField`](crate::StatusField) refines the decision
/// when its value is recognised. Put the retry layer below the poll layer to retry 5xx
/// polls, and the redirect layer to follow redirects of the status resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct Standard;

impl Policy for Standard {
    fn decide(&mut self, job: &JobStatus<'_>) -> Decision {
        job.standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> JobStatus<'a> {
        JobStatus {
            poll: 3,
            status: StatusCode::OK,
            headers,
            status_url: uri,
            field: Some("running"),
            body: &[],
            body_complete: true,
            elapsed: Duration::from_secs(2),
            standard: Decision::Running,
        }
    }

    #[test]
    fn closures_and_standard() {
        let headers = HeaderMap::new();
        let uri = Uri::from_static("http://a.test/jobs/1");
        let j = job(&headers, &uri);
        assert_eq!(Standard.decide(&j), Decision::Running);
        let mut always_done = |_: &JobStatus<'_>| Decision::Succeeded;
        assert_eq!(Policy::decide(&mut always_done, &j), Decision::Succeeded);
        assert!(Standard.start(StatusCode::ACCEPTED, &headers));
        assert!(!Standard.start(StatusCode::OK, &headers));
        assert!(!always_done.start(StatusCode::CREATED, &headers));
        assert_eq!(j.poll(), 3);
        assert_eq!(j.field(), Some("running"));
        assert_eq!(j.elapsed(), Duration::from_secs(2));
        assert!(Decision::Failed.is_terminal());
        assert!(!Decision::Running.is_terminal());
    }
}
